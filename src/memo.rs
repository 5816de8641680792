//! A thread's hot key: once a thread hits one pair twice in a row, it keeps
//! a private copy of that entry (see `CachedToken::private_copy`), and its
//! next hits on the pair are answered from the copy while the cache has not
//! changed since. Such a hit takes no lock and counts no shared reference,
//! so one hot key shared by many threads scales with the cores instead of
//! queuing on one cache line.
//!
//! Any change to a cache bumps its generation; a copy is used only under
//! the generation it was checked at, before its refresh window, and while
//! no upstream refused its entry. A copy made for a cache that is gone is
//! never used again: caches have process-unique ids.

use std::cell::RefCell;

use crate::table::{Millis, Owner};
use crate::token::CachedToken;

/// The pair a thread keeps a copy for.
struct Kept {
    cache: u64,
    generation: u64,
    owner: Owner,
    workspace_id: Box<str>,
    provider: Box<str>,
    copy: CachedToken,
    /// Used until this instant: the refresh window for a client, the
    /// eviction instant for `TokenCache::get`.
    refresh_at: Millis,
}

/// A thread's memo: the last entry it hit (its address, to spot a second
/// hit in a row without hashing or allocating) and the copy it keeps.
#[derive(Default)]
struct Memo {
    last: usize,
    kept: Option<Kept>,
}

thread_local! {
    static MEMO: RefCell<Memo> = RefCell::default();
}

/// The thread's copy for the pair, if it is still the cache's fresh entry.
pub(crate) fn hit(
    cache: u64,
    generation: u64,
    owner: Owner,
    (workspace_id, provider): (&str, &str),
    now: Millis,
) -> Option<CachedToken> {
    MEMO.with(|memo| {
        let memo = memo.borrow();
        let kept = memo.kept.as_ref()?;
        let same = kept.cache == cache
            && kept.owner == owner
            && kept.generation == generation
            && *kept.workspace_id == *workspace_id
            && *kept.provider == *provider;
        (same && now <= kept.refresh_at && !kept.copy.is_rejected()).then(|| kept.copy.clone())
    })
}

/// A fresh hit of `token`, the cache's entry for the pair at `generation`:
/// the copy kept for the pair is brought up to date, or made on a second
/// hit in a row. Allocates only to make a copy.
pub(crate) fn note(
    cache: u64,
    generation: u64,
    owner: Owner,
    (workspace_id, provider): (&str, &str),
    token: &CachedToken,
    refresh_at: Millis,
) {
    MEMO.with(|memo| {
        let mut memo = memo.borrow_mut();
        if let Some(kept) = memo.kept.as_mut() {
            let same_pair = kept.cache == cache
                && kept.owner == owner
                && *kept.workspace_id == *workspace_id
                && *kept.provider == *provider;
            if same_pair && kept.copy.same_entry(token) {
                (kept.generation, kept.refresh_at) = (generation, refresh_at);
                return;
            }
        }
        // A second hit in a row on this very entry makes the copy. (An
        // address reused by a newer entry can only make a copy early.)
        let entry = token.entry_address();
        if memo.last != entry {
            memo.last = entry;
            return;
        }
        memo.kept = Some(Kept {
            cache,
            generation,
            owner,
            workspace_id: workspace_id.into(),
            provider: provider.into(),
            copy: token.private_copy(),
            refresh_at,
        });
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime};

    fn token() -> CachedToken {
        CachedToken::bearer("t", SystemTime::now() + Duration::from_secs(60))
    }

    #[test]
    fn a_copy_is_made_on_the_second_hit_in_a_row_and_used_only_while_valid() {
        let entry = token();
        let pair = ("ws", "p");
        note(1, 5, 7, pair, &entry, 100);
        assert!(hit(1, 5, 7, pair, 50).is_none(), "one hit makes no copy");
        note(1, 5, 7, pair, &entry, 100);
        let copy = hit(1, 5, 7, pair, 50).expect("a copy after two hits");
        assert!(copy.same_entry(&entry) && copy == entry);
        assert!(hit(1, 6, 7, pair, 50).is_none(), "the cache changed");
        assert!(hit(2, 5, 7, pair, 50).is_none(), "another cache");
        assert!(hit(1, 5, 8, pair, 50).is_none(), "another client");
        assert!(hit(1, 5, 7, ("ws", "q"), 50).is_none(), "another pair");
        assert!(hit(1, 5, 7, pair, 101).is_none(), "in its refresh window");
        // Refused through the copy: the entry is refused, and the copy unused.
        copy.reject();
        assert!(entry.is_rejected());
        assert!(hit(1, 5, 7, pair, 50).is_none());
    }

    #[test]
    fn a_checked_entry_updates_the_copy_without_a_new_one() {
        let entry = token();
        let pair = ("ws", "p");
        note(3, 1, 7, pair, &entry, 100);
        note(3, 1, 7, pair, &entry, 100);
        let first = hit(3, 1, 7, pair, 50).unwrap();
        note(3, 2, 7, pair, &entry, 200);
        let again = hit(3, 2, 7, pair, 150).unwrap();
        assert!(again.same_entry(&first));
        // A new entry for the pair replaces the copy on its second hit.
        let newer = token();
        note(3, 3, 7, pair, &newer, 100);
        note(3, 3, 7, pair, &newer, 100);
        assert!(hit(3, 3, 7, pair, 50).unwrap().same_entry(&newer));
    }
}
