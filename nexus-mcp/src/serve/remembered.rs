//! The tokens the bearer check verified lately, by their SHA-256 (never the
//! token itself): until when each holds without a check made again, and the
//! person an opaque token's issuer told of. A JWS's person is read again
//! from its own claims at each call (the same bytes, by their hash, whose
//! signature was checked), so that a person costs 36 bytes here, not a copy
//! of them, but for the [`HOT`] people who called last, held whole so that
//! their calls read nothing again. B-trees: they grow by nodes, never by
//! doubling.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use crate::principal::Principal;

/// The most tokens kept verified at once.
const REMEMBERED: usize = 10_000;

/// The people held whole: those of the tokens last verified or recalled.
const HOT: usize = 256;

/// The tokens verified lately, as of the revocations' `seen`-th change: a
/// change forgets them all, so that none revoked since is recalled.
pub(crate) struct Remembered {
    /// Each token's hash, and until when it holds without a check made
    /// again: whole seconds after `since`, rounded down.
    tokens: BTreeMap<[u8; 32], u32>,
    /// The person an opaque token's issuer told of, for each among them.
    told: BTreeMap<[u8; 32], Principal>,
    /// The person a JWS among them names, for at most [`HOT`] of them.
    hot: HashMap<[u8; 32], Principal>,
    since: Instant,
    seen: u64,
}

impl Default for Remembered {
    fn default() -> Remembered {
        let (tokens, told, hot) = (BTreeMap::new(), BTreeMap::new(), HashMap::new());
        let (since, seen) = (Instant::now(), 0);
        Remembered {
            tokens,
            told,
            hot,
            since,
            seen,
        }
    }
}

impl Remembered {
    /// Forgets every token when the revocations' count of changes is no
    /// longer the one they were remembered under.
    pub(crate) fn as_of(&mut self, changes: u64) {
        if self.seen != changes {
            *self = Remembered {
                seen: changes,
                ..Remembered::default()
            };
        }
    }

    /// `Some` when the token hashed to `digest` was verified and that still
    /// holds, with the person it names when held (its issuer told of it, or
    /// it is hot); none for a JWS whose claims must be read again.
    pub(crate) fn recall(&self, digest: &[u8; 32]) -> Option<Option<&Principal>> {
        let until = *self.tokens.get(digest)?;
        let holds = self.since.elapsed().as_secs() < u64::from(until);
        holds.then(|| self.told.get(digest).or_else(|| self.hot.get(digest)))
    }

    /// Holds the person a verified JWS names whole, in place of one of the
    /// [`HOT`] held longest or at random.
    pub(crate) fn heat(&mut self, digest: [u8; 32], person: Principal) {
        let full = self.hot.len() >= HOT && !self.hot.contains_key(&digest);
        if let Some(cooled) = self.hot.keys().next().copied().filter(|_| full) {
            self.hot.remove(&cooled);
        }
        self.hot.insert(digest, person);
    }

    /// Keeps a token verified for `left` (and the person its issuer `told`
    /// of); at [`REMEMBERED`] tokens, the stale ones go first, then all.
    pub(crate) fn keep(&mut self, digest: [u8; 32], told: Option<Principal>, left: Duration) {
        let now = self.since.elapsed();
        if self.tokens.len() >= REMEMBERED {
            let at = now.as_secs();
            self.tokens.retain(|_, until| u64::from(*until) > at);
            if self.tokens.len() >= REMEMBERED {
                self.tokens.clear();
            }
            let tokens = &self.tokens;
            self.told.retain(|digest, _| tokens.contains_key(digest));
        }
        let until = u32::try_from((now + left).as_secs()).unwrap_or(u32::MAX);
        self.tokens.insert(digest, until);
        self.told.extend(told.map(|told| (digest, told)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn someone() -> Principal {
        Principal::person_in("ws".into(), [1; 32], "alice", Default::default())
    }

    #[test]
    fn a_token_is_recalled_until_its_time_and_an_opaque_ones_person_with_it() {
        let mut remembered = Remembered::default();
        remembered.keep([1; 32], None, Duration::from_secs(30));
        remembered.keep([2; 32], Some(someone()), Duration::from_secs(30));
        remembered.keep([3; 32], None, Duration::ZERO);
        assert_eq!(remembered.recall(&[1; 32]), Some(None));
        assert_eq!(remembered.recall(&[2; 32]), Some(Some(&someone())));
        assert_eq!(
            remembered.recall(&[3; 32]),
            None,
            "a time under a second holds none"
        );
        assert_eq!(remembered.recall(&[4; 32]), None);
        remembered.heat([1; 32], someone());
        assert_eq!(
            remembered.recall(&[1; 32]),
            Some(Some(&someone())),
            "held whole"
        );
        remembered.as_of(1);
        assert_eq!(
            remembered.recall(&[1; 32]),
            None,
            "a revocation forgets them all"
        );
    }

    #[test]
    fn at_most_so_many_are_held_and_no_person_outlives_its_token() {
        let mut remembered = Remembered::default();
        for n in 0..=REMEMBERED {
            let digest: [u8; 32] = std::array::from_fn(|i| (n >> (8 * (i % 4))) as u8);
            remembered.keep(digest, Some(someone()), Duration::from_secs(30));
        }
        assert!(remembered.tokens.len() <= REMEMBERED);
        assert!(
            remembered
                .told
                .keys()
                .all(|d| remembered.tokens.contains_key(d))
        );
        for n in 0..HOT + 10 {
            let digest: [u8; 32] = std::array::from_fn(|i| (n >> (8 * (i % 2))) as u8 ^ 7);
            remembered.heat(digest, someone());
        }
        assert_eq!(remembered.hot.len(), HOT);
    }
}
