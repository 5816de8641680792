//! The [`TokenCache`](crate::TokenCache)'s storage: one flat map from the
//! (workspace, provider) pair to a slot in a dense `Vec`, which a cursor
//! sweeps a few slots at a time so that expired entries are purged as the
//! cache is used (amortised O(1), never a pass over the whole table).
//!
//! A pair is one allocation: its key bytes, shared by the map and its slot.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::token::CachedToken;

/// A `HashMap` with [`FxHasher`].
pub(crate) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// The multiply-rotate hash rustc uses for its own tables (rustc-hash 2).
///
/// SipHash, std's default, was about a fifth of the instructions of a
/// cache hit (`benches/cache.rs`). Its resistance to collision flooding
/// buys little here: the token map holds pairs the application's own
/// clients resolved or stored, and a flight lives only while its resolve does.
#[derive(Default, Clone, Copy)]
pub(crate) struct FxHasher {
    hash: u64,
}

impl FxHasher {
    const SEED: u64 = 0xf135_7aea_2e62_a9c5;

    fn add(&mut self, word: u64) {
        self.hash = self.hash.wrapping_add(word).wrapping_mul(Self::SEED);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word) ^ ((rest.len() as u64) << 56));
        }
    }

    fn write_u8(&mut self, byte: u8) {
        self.add(u64::from(byte));
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    fn finish(&self) -> u64 {
        // The multiply leaves the low bits weak; the table indexes with them.
        self.hash.rotate_left(26)
    }
}

/// Milliseconds since the Unix epoch; 0 for any earlier time.
pub(crate) type Millis = u64;

/// `t` in [`Millis`].
pub(crate) fn millis(t: SystemTime) -> Millis {
    // u64 arithmetic: `Duration::as_millis` goes through u128.
    t.duration_since(UNIX_EPOCH).map_or(0, |d| {
        d.as_secs()
            .saturating_mul(1000)
            .saturating_add(u64::from(d.subsec_millis()))
    })
}

/// An entry in the index: the entry itself, hashed and compared by its key
/// bytes (the owning client's id, 8 bytes; the workspace's length, 4 bytes;
/// the workspace; the provider), which it carries in its own allocation. So
/// `("a:b", "c")` and `("a", "b:c")` differ, and so do two clients' entries
/// for one pair, and a pair costs no allocation of its own for its key.
#[derive(Clone)]
struct Key(CachedToken);

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // As `[u8]` hashes, so that a lookup by key bytes finds it.
        self.0.key().hash(state);
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.0.key() == other.0.key()
    }
}

impl Eq for Key {}

impl Borrow<[u8]> for Key {
    fn borrow(&self) -> &[u8] {
        self.0.key()
    }
}

/// Calls `f` with the pair's key bytes, built on the stack when short.
fn with_key<R>(owner: Owner, workspace_id: &str, provider: &str, f: impl FnOnce(&[u8]) -> R) -> R {
    const STACK: usize = 136;
    let len = 12 + workspace_id.len() + provider.len();
    let fill = |buf: &mut [u8]| {
        let ws_len = u32::try_from(workspace_id.len()).unwrap_or(u32::MAX);
        buf[..8].copy_from_slice(&owner.to_le_bytes());
        buf[8..12].copy_from_slice(&ws_len.to_le_bytes());
        buf[12..12 + workspace_id.len()].copy_from_slice(workspace_id.as_bytes());
        buf[12 + workspace_id.len()..].copy_from_slice(provider.as_bytes());
    };
    if len <= STACK {
        let mut buf = [0u8; STACK];
        fill(&mut buf[..len]);
        f(&buf[..len])
    } else {
        let mut buf = vec![0u8; len];
        fill(&mut buf);
        f(&buf)
    }
}

/// Whose entry a slot is: a client's id, or [`ANYONE`].
pub(crate) type Owner = u64;

/// The owner of an entry stored through the public `TokenCache::set`: every
/// client may use it.
pub(crate) const ANYONE: Owner = 0;

/// A stored entry and when it is due: renewed from `refresh_at`, no longer
/// handed out after `evict_at` (the times the entry carries).
pub(crate) struct Slot<'a> {
    pub(crate) token: &'a CachedToken,
    pub(crate) refresh_at: Millis,
    pub(crate) evict_at: Millis,
}

impl<'a> Slot<'a> {
    fn of(token: &'a CachedToken) -> Slot<'a> {
        let (refresh_at, evict_at) = token.due();
        Slot {
            token,
            refresh_at,
            evict_at,
        }
    }

    pub(crate) fn is_live(&self, now: Millis) -> bool {
        now <= self.evict_at
    }

    /// Whether it may be handed out: live, and no upstream refused it.
    pub(crate) fn is_usable(&self, now: Millis) -> bool {
        self.is_live(now) && !self.token.is_rejected()
    }

    /// Whether it may be handed out with no renewal due.
    pub(crate) fn is_fresh(&self, now: Millis) -> bool {
        now <= self.refresh_at && !self.token.is_rejected()
    }
}

/// A `HashSet` with [`FxHasher`].
type FastSet<K> = std::collections::HashSet<K, BuildHasherDefault<FxHasher>>;

/// The pairs' slots and the sweep's position.
pub(crate) struct Table {
    /// The entries by key; each knows its place in `slots`.
    index: FastSet<Key>,
    /// The entries, dense, for the sweep.
    slots: Vec<CachedToken>,
    cursor: usize,
    /// No slot is due for eviction before this (it may be earlier than the
    /// true minimum, never later): a read sweeps only once it has passed.
    earliest: Millis,
    /// The least `evict_at` seen since the cursor last wrapped.
    cycle_min: Millis,
    /// Every owner but [`ANYONE`] that ever stored here (one per client
    /// sharing the cache: a handful), for the owner-blind public calls.
    owners: Vec<Owner>,
}

impl Default for Table {
    fn default() -> Self {
        Table {
            index: FastSet::default(),
            slots: Vec::new(),
            cursor: 0,
            earliest: Millis::MAX,
            cycle_min: Millis::MAX,
            owners: Vec::new(),
        }
    }
}

impl Table {
    /// No slot needs purging before this instant.
    pub(crate) fn earliest(&self) -> Millis {
        self.earliest
    }

    pub(crate) fn get(&self, owner: Owner, workspace_id: &str, provider: &str) -> Option<Slot<'_>> {
        let entry = with_key(owner, workspace_id, provider, |key| self.index.get(key))?;
        Some(Slot::of(&entry.0))
    }

    /// [`ANYONE`] first, then every client that ever stored here.
    pub(crate) fn owners(&self) -> impl Iterator<Item = Owner> + '_ {
        std::iter::once(ANYONE).chain(self.clients())
    }

    /// Every client that ever stored here.
    pub(crate) fn clients(&self) -> impl Iterator<Item = Owner> + '_ {
        self.owners.iter().copied()
    }

    /// When no client stored here: the pair's token if it is still
    /// usable (before its eviction instant, not refused), and that instant.
    pub(crate) fn usable_alone(
        &self,
        workspace_id: &str,
        provider: &str,
        now: Millis,
    ) -> Option<(CachedToken, Millis)> {
        if !self.owners.is_empty() {
            return None;
        }
        let slot = self.get(ANYONE, workspace_id, provider)?;
        slot.is_usable(now)
            .then(|| (slot.token.clone(), slot.evict_at))
    }

    /// `owner`'s token for the pair if it is before its refresh window and
    /// no upstream refused it: the hit, in one probe.
    pub(crate) fn fresh(
        &self,
        owner: Owner,
        workspace_id: &str,
        provider: &str,
        now: Millis,
    ) -> Option<(CachedToken, Millis)> {
        let slot = self.get(owner, workspace_id, provider)?;
        slot.is_fresh(now)
            .then(|| (slot.token.clone(), slot.refresh_at))
    }

    /// Stores `token` as the pair's entry, replacing any other; the entry
    /// stored (the token, with its key and due times).
    pub(crate) fn insert(
        &mut self,
        owner: Owner,
        workspace_id: &str,
        provider: &str,
        token: &CachedToken,
        refresh_at: Millis,
        evict_at: Millis,
    ) -> CachedToken {
        self.earliest = self.earliest.min(evict_at);
        self.cycle_min = self.cycle_min.min(evict_at);
        if owner != ANYONE && !self.owners.contains(&owner) {
            self.owners.push(owner);
        }
        let entry = with_key(owner, workspace_id, provider, |key| {
            token.keyed(key, (refresh_at, evict_at))
        });
        match self.index.replace(Key(entry.clone())) {
            Some(Key(old)) => {
                let at = old.position();
                entry.set_position(at);
                self.slots[at] = entry.clone();
            }
            None => {
                entry.set_position(self.slots.len());
                self.slots.push(entry.clone());
            }
        }
        entry
    }

    /// Removes the pair's slot if `matches` says so; whether it did.
    pub(crate) fn remove_if(
        &mut self,
        owner: Owner,
        workspace_id: &str,
        provider: &str,
        matches: impl FnOnce(&Slot) -> bool,
    ) -> bool {
        let found = with_key(owner, workspace_id, provider, |key| {
            self.index.get(key).map(|entry| entry.0.position())
        });
        match found {
            Some(at) if matches(&Slot::of(&self.slots[at])) => {
                self.remove_at(at);
                true
            }
            _ => false,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// Looks at up to `budget` slots from the cursor and removes those past
    /// their eviction instant.
    pub(crate) fn sweep(&mut self, budget: usize, now: Millis) {
        for _ in 0..budget.min(self.slots.len()) {
            if self.cursor >= self.slots.len() {
                // A whole pass is done: what it saw is the true minimum.
                self.cursor = 0;
                self.earliest = self.cycle_min;
                self.cycle_min = Millis::MAX;
            }
            let slot = Slot::of(&self.slots[self.cursor]);
            if slot.is_live(now) {
                self.cycle_min = self.cycle_min.min(slot.evict_at);
                self.cursor += 1;
            } else {
                // The last slot moves here: the cursor looks at it next.
                self.remove_at(self.cursor);
            }
        }
        if self.slots.is_empty() {
            (self.earliest, self.cycle_min) = (Millis::MAX, Millis::MAX);
        }
        if self.slots.capacity() > 64 && self.slots.len() < self.slots.capacity() / 4 {
            self.slots.shrink_to(self.slots.len() * 2);
            self.index.shrink_to(self.slots.len() * 2);
        }
    }

    fn remove_at(&mut self, at: usize) {
        let removed = self.slots.swap_remove(at);
        self.index.remove(removed.key());
        if let Some(moved) = self.slots.get(at) {
            moved.set_position(at);
            // Moved behind the cursor, it is not seen again this pass: its
            // eviction instant must still count, or `earliest` would pass it
            // by and reads would never sweep it.
            if at < self.cursor {
                self.cycle_min = self.cycle_min.min(moved.due().1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn token() -> CachedToken {
        CachedToken::bearer("t", UNIX_EPOCH + Duration::from_secs(1))
    }

    #[test]
    fn pairs_are_keys_and_removal_keeps_the_rest_reachable() {
        let mut table = Table::default();
        for i in 0..100 {
            table.insert(ANYONE, &format!("w{i}"), "p", &token(), 0, i);
        }
        table.insert(ANYONE, "a:b", "c", &token(), 0, 1);
        table.insert(ANYONE, "a", "b:c", &token(), 0, 2);
        assert_eq!(table.get(ANYONE, "a:b", "c").unwrap().evict_at, 1);
        assert_eq!(table.get(ANYONE, "a", "b:c").unwrap().evict_at, 2);
        assert!(table.remove_if(ANYONE, "w3", "p", |_| true));
        assert!(!table.remove_if(ANYONE, "w3", "p", |_| true));
        for i in (0..100).filter(|i| *i != 3) {
            assert_eq!(
                table.get(ANYONE, &format!("w{i}"), "p").unwrap().evict_at,
                i
            );
        }
        let long = "x".repeat(300);
        table.insert(ANYONE, &long, &long, &token(), 0, 7);
        assert_eq!(table.get(ANYONE, &long, &long).unwrap().evict_at, 7);
        assert_eq!(table.len(), 102);
    }

    #[test]
    fn owners_keep_separate_entries_for_one_pair() {
        let mut table = Table::default();
        table.insert(ANYONE, "w", "p", &token(), 0, 1);
        table.insert(7, "w", "p", &token(), 0, 2);
        table.insert(9, "w", "p", &token(), 0, 3);
        table.insert(7, "w", "p", &token(), 0, 4);
        assert_eq!(table.len(), 3);
        assert_eq!(table.get(7, "w", "p").unwrap().evict_at, 4);
        assert_eq!(table.get(9, "w", "p").unwrap().evict_at, 3);
        assert_eq!(table.get(ANYONE, "w", "p").unwrap().evict_at, 1);
        assert!(table.get(8, "w", "p").is_none());
        assert_eq!(table.owners().collect::<Vec<_>>(), [ANYONE, 7, 9]);
        assert!(table.remove_if(7, "w", "p", |_| true));
        assert!(table.get(9, "w", "p").is_some());
    }

    #[test]
    fn the_sweep_purges_a_few_at_a_time_and_wraps() {
        let mut table = Table::default();
        for i in 0..1000u64 {
            // Even slots expire at 10, odd ones live on.
            let evict = if i % 2 == 0 { 10 } else { 1_000 };
            table.insert(ANYONE, &format!("w{i}"), "p", &token(), 0, evict);
        }
        table.sweep(100, 50);
        assert!(table.len() < 1000 && table.len() > 900, "a bounded step");
        for _ in 0..30 {
            table.sweep(100, 50);
        }
        assert_eq!(table.len(), 500);
        for i in (1..1000).step_by(2) {
            assert!(table.get(ANYONE, &format!("w{i}"), "p").is_some());
        }
    }

    #[test]
    fn a_slot_moved_behind_the_cursor_still_counts_for_earliest() {
        let mut table = Table::default();
        for i in 0..10u64 {
            table.insert(ANYONE, &format!("w{i}"), "p", &token(), 0, 1_000);
        }
        // The last slot expires early.
        table.insert(ANYONE, "soon", "p", &token(), 0, 20);
        // A first full pass at time 0, then part of a second: the cursor
        // is past slot 0 and `earliest` is the true minimum, 20.
        table.sweep(11, 0);
        table.sweep(3, 0);
        assert_eq!(table.earliest(), 20);
        // Deleting slot 0 moves `soon` behind the cursor.
        assert!(table.remove_if(ANYONE, "w0", "p", |_| true));
        // The pass ends: `earliest` must not pass `soon` by.
        table.sweep(20, 0);
        assert!(table.earliest() <= 20, "earliest {}", table.earliest());
        // After it expires, sweeping purges it.
        for _ in 0..3 {
            table.sweep(20, 30);
        }
        assert!(table.get(ANYONE, "soon", "p").is_none());
    }
}
