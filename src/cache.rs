//! [`TokenCache`]: access tokens per (workspace, provider), evicted a
//! buffer before they expire, with single-flight resolution of misses.

use std::cell::RefCell;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use parking_lot::{Mutex, RwLock};

use crate::clock::Clock;
use crate::error::NexusError;
use crate::flight::Flight;
use crate::memo;
use crate::table::{ANYONE, FastMap, FxHasher, Millis, Owner, Table, millis};
use crate::token::CachedToken;

/// Tokens for (workspace, provider) pairs (Python `TokenCache`).
///
/// `get` drops and misses a token once `now > expires_at - buffer`, so a
/// token is never handed out in the last `buffer` (30 s by default) of its
/// life. Share it by reference or in an `Arc`. Keys are the pair itself:
/// `("a:b", "c")` and `("a", "b:c")` are different entries.
///
/// A token a [`NexusClient`](crate::NexusClient) resolved belongs to that
/// client (its Gateway URL and api key): a cache shared by clients of two
/// Gateways, or of one Gateway with two api keys, never hands one client's
/// token to the other; each keeps its own entry for the pair. A token
/// stored with [`set`](TokenCache::set) is for every client. `get`,
/// `delete` and `len` see every entry, whoever it belongs to.
///
/// A hit takes a shared read lock for a lookup and one reference count
/// (a [`CachedToken`] is one shared allocation): no string is copied. No
/// lock is ever held across network I/O.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use nexus_sdk::{CachedToken, TokenCache};
///
/// let cache = TokenCache::new();
/// let token = CachedToken::bearer("t", SystemTime::now() + Duration::from_secs(3600));
/// cache.set("ws-1", "github", token.clone());
/// assert_eq!(cache.get("ws-1", "github"), Some(token));
/// assert_eq!(cache.get("ws-1", "google"), None);
/// cache.delete("ws-1", "github");
/// assert_eq!(cache.get("ws-1", "github"), None);
/// ```
pub struct TokenCache {
    buffer: Duration,
    /// One slot per pair, looked up without allocating, in [`SHARDS`]
    /// tables by pair: readers of different pairs take different locks.
    shards: Box<[Shard]>,
    /// What every read reads and only writers write, on a cache line of its
    /// own: away from the lock word, which every reader writes.
    read_mostly: ReadMostly,
    /// Reads since the last sweep step, counted only once some entry may
    /// have expired (so a hit on a cache with nothing to purge touches no
    /// shared counter), across every thread.
    reads: AtomicU32,
    /// Resolves under way, one per key.
    flights: Mutex<Flights>,
}

/// The fields every read reads, padded to their own cache lines (128 bytes:
/// x86 prefetches lines in pairs).
#[repr(align(128))]
struct ReadMostly {
    /// The least of the shards' `earliest`: no entry is due before it.
    earliest: AtomicU64,
    /// Bumped by every change of `tokens`: a thread's hot-key copy is used
    /// only under the generation it was checked at.
    generation: AtomicU64,
    /// Unique in the process: which cache a thread's hot-key copy is of.
    id: u64,
    clock: Clock,
}

/// The tables a cache is split into.
const SHARDS: usize = 16;

/// One table and its lock, on cache lines of their own: a reader writes
/// the lock word, and only readers of pairs in this shard share it.
#[repr(align(128))]
struct Shard {
    table: RwLock<Table>,
    /// The table's [`earliest`](Table::earliest), read without its lock.
    earliest: AtomicU64,
}

impl Default for Shard {
    fn default() -> Self {
        Shard {
            table: RwLock::new(Table::default()),
            earliest: AtomicU64::new(Millis::MAX),
        }
    }
}

/// Who a thread's hot-key copy is kept for when `TokenCache::get` read it:
/// no client (their ids stop short of it).
const ANY_READER: Owner = Owner::MAX;

/// The next cache's id.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// When a stored token is due, in [`Millis`]: renewed from the first,
/// no longer handed out after the second.
///
/// The refresh window is a tenth of the token's usable life (from `now` to
/// `expires_at - buffer`), clamped to 10 s … 5 min, and never more than half
/// that life, so a short-lived token is not renewed all the time.
pub(crate) fn due_times(
    expires_at: SystemTime,
    buffer: Duration,
    now: SystemTime,
) -> (Millis, Millis) {
    let evict_at = expires_at.checked_sub(buffer).map_or(0, millis);
    let usable = evict_at.saturating_sub(millis(now));
    let window = (usable / 10).clamp(10_000, 300_000).min(usable / 2);
    (evict_at - window, evict_at)
}

/// A flight's key: the resolving client, the workspace, the provider.
type FlightKey = (Owner, String, String);

/// The resolves under way, one per client and (workspace, provider).
type Flights = FastMap<FlightKey, Arc<Flight<CachedToken>>>;

/// Whose entries a lookup may return.
#[derive(Clone, Copy)]
enum Whose {
    /// The client's own, then those stored for anyone.
    Client(Owner),
    /// Anybody's (the public calls).
    Any,
}

impl Whose {
    /// The owners to look under, in order.
    fn owners(self, table: &Table) -> impl Iterator<Item = Owner> + '_ {
        // A client: its own entry, then anyone's. Any: the clients' entries
        // first (the common case), then anyone's.
        let (first, clients) = match self {
            Whose::Client(ANYONE) => (None, 0),
            Whose::Client(owner) => (Some(owner), 0),
            Whose::Any => (None, usize::MAX),
        };
        first
            .into_iter()
            .chain(table.clients().take(clients))
            .chain(std::iter::once(ANYONE))
    }
}

/// What the cache holds for a pair, for `get_cached_token`.
pub(crate) enum Lookup {
    /// A token well before its refresh window.
    Fresh(CachedToken),
    /// A token in its refresh window: still valid, due for renewal.
    Renew(CachedToken),
    /// Nothing usable.
    Miss,
}

/// Every this many cache reads on a thread, one sweep step (if the lock is
/// free at once), so memory follows the live set under a read-only load too.
const READS_PER_SWEEP: u32 = 16;
/// Slots a sweep step looks at: on every store, and every `READS_PER_SWEEP` reads.
const SWEEP_STEP: usize = 16;

thread_local! {
    /// The (cache, owner, workspace, provider) keys this thread is resolving
    /// now, to refuse a call that would wait for itself.
    static RESOLVING: RefCell<Vec<(usize, FlightKey)>> = const { RefCell::new(Vec::new()) };
}

/// The owner id of a client's cache entries: a hash of its Gateway URL and
/// api key (so clients built alike share entries, and clones do), never
/// [`ANYONE`]. SipHash with fixed keys: stable within a process and, unlike
/// a multiply-rotate hash, hard to make two configurations collide on.
pub(crate) fn owner_of(gateway_url: &str, api_key: &str) -> Owner {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (gateway_url, api_key).hash(&mut hasher);
    hasher.finish().clamp(ANYONE + 1, ANY_READER - 1)
}

impl TokenCache {
    /// An empty cache with a 30 s eviction buffer.
    pub fn new() -> Self {
        TokenCache::with_buffer(Duration::from_secs(30))
    }

    /// An empty cache that evicts tokens `buffer` before they expire
    /// (Python `TokenCache(buffer_seconds=…)`).
    pub fn with_buffer(buffer: Duration) -> Self {
        TokenCache::with_system_or(buffer, Clock::default())
    }

    /// An empty cache that evicts tokens `buffer` before they expire and
    /// reads the time from `now` instead of the system clock: what a test
    /// moves forward to see expiry, renewal and purge without sleeping
    /// (`nexus_gateway_fake::TestClock` is one).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use std::time::{Duration, SystemTime};
    /// use nexus_sdk::{CachedToken, TokenCache};
    ///
    /// let start = SystemTime::now();
    /// let elapsed = Arc::new(AtomicU64::new(0));
    /// let seen = Arc::clone(&elapsed);
    /// let cache = TokenCache::with_clock(Duration::from_secs(30), move || {
    ///     start + Duration::from_secs(seen.load(Ordering::Relaxed))
    /// });
    /// cache.set("ws", "github", CachedToken::bearer("t", start + Duration::from_secs(60)));
    /// assert!(cache.get("ws", "github").is_some());
    /// elapsed.store(31, Ordering::Relaxed); // inside the 30 s buffer now
    /// assert!(cache.get("ws", "github").is_none());
    /// ```
    pub fn with_clock(
        buffer: Duration,
        now: impl Fn() -> SystemTime + Send + Sync + 'static,
    ) -> Self {
        TokenCache::with_system_or(buffer, Clock::from_fn(now))
    }

    fn with_system_or(buffer: Duration, clock: Clock) -> Self {
        TokenCache {
            buffer,
            shards: (0..SHARDS).map(|_| Shard::default()).collect(),
            read_mostly: ReadMostly {
                earliest: AtomicU64::new(Millis::MAX),
                generation: AtomicU64::new(0),
                id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
                clock,
            },
            reads: AtomicU32::new(0),
            flights: Mutex::new(FastMap::default()),
        }
    }

    /// The cached token, unless it is missing or within the buffer of its
    /// expiry (then it is dropped).
    pub fn get(&self, workspace_id: &str, provider: &str) -> Option<CachedToken> {
        let now = millis(self.read_mostly.clock.now());
        // In a cache no client fills: anyone's entry, usable to its eviction.
        let probe = |t: &Table| t.usable_alone(workspace_id, provider, now);
        if let Some(token) = self.hit(ANY_READER, (workspace_id, provider), now, probe) {
            return Some(token);
        }
        match self.look(Whose::Any, workspace_id, provider, now) {
            Lookup::Fresh(token) | Lookup::Renew(token) => Some(token),
            Lookup::Miss => None,
        }
    }

    /// The token `owner` may use for the pair (its own, else one stored for
    /// anyone) and whether it is due for renewal.
    pub(crate) fn lookup(&self, owner: Owner, workspace_id: &str, provider: &str) -> Lookup {
        let now = millis(self.read_mostly.clock.now());
        // The client's own entry, before its refresh window.
        let probe = |t: &Table| t.fresh(owner, workspace_id, provider, now);
        if let Some(token) = self.hit(owner, (workspace_id, provider), now, probe) {
            return Lookup::Fresh(token);
        }
        self.look(Whose::Client(owner), workspace_id, provider, now)
    }

    /// The hit path, for `reader` (a client, or [`ANY_READER`]): the
    /// thread's copy of a hot key while the cache is unchanged, else one
    /// `probe` of the pair's shard, which answers a token and the instant
    /// it may be used until (then noted for the thread's copy).
    fn hit(
        &self,
        reader: Owner,
        pair: (&str, &str),
        now: Millis,
        probe: impl FnOnce(&Table) -> Option<(CachedToken, Millis)>,
    ) -> Option<CachedToken> {
        self.maybe_sweep(now);
        let (id, generation) = (self.read_mostly.id, &self.read_mostly.generation);
        if let Some(token) = memo::hit(id, generation.load(Ordering::Acquire), reader, pair, now) {
            return Some(token);
        }
        let tokens = self.shard(pair.0, pair.1).table.read();
        let (token, until) = probe(&tokens)?;
        // Stable while the read lock is held: writers bump it under theirs.
        memo::note(
            id,
            generation.load(Ordering::Acquire),
            reader,
            pair,
            &token,
            until,
        );
        Some(token)
    }

    /// The first usable token under `whose` owners; tokens past their
    /// eviction instant, or rejected by an upstream, are dropped.
    fn look(&self, whose: Whose, workspace_id: &str, provider: &str, now: Millis) -> Lookup {
        let mut stale = false;
        let shard = self.shard(workspace_id, provider);
        {
            let tokens = shard.table.read();
            for owner in whose.owners(&tokens) {
                match tokens.get(owner, workspace_id, provider) {
                    // Cloned under the shared lock: it blocks no other reader.
                    Some(slot) if slot.is_fresh(now) => return Lookup::Fresh(slot.token.clone()),
                    Some(slot) if slot.is_usable(now) => {
                        return Lookup::Renew(slot.token.clone());
                    }
                    Some(_) => stale = true,
                    None => {}
                }
            }
        }
        if stale {
            // Another thread may have stored a fresh token since the read.
            let mut tokens = self.write(shard);
            let owners: Vec<Owner> = whose.owners(&tokens).collect();
            for owner in owners {
                tokens.remove_if(owner, workspace_id, provider, |slot| !slot.is_usable(now));
            }
        }
        Lookup::Miss
    }

    /// Once some entry may have expired: one sweep step every
    /// [`READS_PER_SWEEP`] reads of the cache, whichever threads make them
    /// (a thread-per-call server reads a few times per thread), only if the
    /// write lock is free at once, so a read never waits for it.
    fn maybe_sweep(&self, now: Millis) {
        if now <= self.read_mostly.earliest.load(Ordering::Relaxed) {
            return;
        }
        let reads = self.reads.fetch_add(1, Ordering::Relaxed);
        if reads % READS_PER_SWEEP != 0 {
            return;
        }
        // The next shard with something due, taking turns.
        let first = (reads / READS_PER_SWEEP) as usize;
        let due = (0..SHARDS)
            .map(|i| &self.shards[(first + i) % SHARDS])
            .find(|shard| now > shard.earliest.load(Ordering::Relaxed));
        if let Some(shard) = due {
            if let Some(mut tokens) = shard.table.try_write() {
                self.read_mostly.generation.fetch_add(1, Ordering::Release);
                tokens.sweep(SWEEP_STEP, now);
                self.settle(shard, &tokens);
            }
        }
    }

    /// The pair's shard.
    fn shard(&self, workspace_id: &str, provider: &str) -> &Shard {
        use std::hash::Hasher;
        let mut hasher = FxHasher::default();
        hasher.write(workspace_id.as_bytes());
        hasher.write_u8(0xff);
        hasher.write(provider.as_bytes());
        &self.shards[hasher.finish() as usize % SHARDS]
    }

    /// A shard's table, to change: the generation moves on with it.
    fn write<'a>(&self, shard: &'a Shard) -> parking_lot::RwLockWriteGuard<'a, Table> {
        let tokens = shard.table.write();
        self.read_mostly.generation.fetch_add(1, Ordering::Release);
        tokens
    }

    /// After a change of `shard`'s table: its `earliest`, and the cache's.
    fn settle(&self, shard: &Shard, table: &Table) {
        shard.earliest.store(table.earliest(), Ordering::Relaxed);
        let least = self
            .shards
            .iter()
            .map(|s| s.earliest.load(Ordering::Relaxed))
            .min()
            .unwrap_or(Millis::MAX);
        self.read_mostly.earliest.store(least, Ordering::Relaxed);
    }

    /// Stores `token` for the pair, for every client, replacing the one
    /// stored for every client before.
    pub fn set(&self, workspace_id: &str, provider: &str, token: CachedToken) {
        self.store(ANYONE, workspace_id, provider, token);
    }

    /// Stores `token` as `owner`'s entry for the pair; the entry stored.
    fn store(
        &self,
        owner: Owner,
        workspace_id: &str,
        provider: &str,
        token: CachedToken,
    ) -> CachedToken {
        let now = self.read_mostly.clock.now();
        let (refresh_at, evict_at) = due_times(token.expires_at(), self.buffer, now);
        let shard = self.shard(workspace_id, provider);
        let mut tokens = self.write(shard);
        tokens.sweep(SWEEP_STEP, millis(now));
        let entry = tokens.insert(owner, workspace_id, provider, &token, refresh_at, evict_at);
        self.settle(shard, &tokens);
        entry
    }

    /// Forgets the pair's tokens, every client's. Resolves of the pair
    /// already under way are returned to their callers but not stored.
    pub fn delete(&self, workspace_id: &str, provider: &str) {
        {
            // The flights under way are detached: their callers get their
            // result, which is not stored, and a caller arriving from now on
            // starts a new one, never getting a token asked for before the
            // clear. Flights are few (one per resolve under way).
            let mut flights = self.flights.lock();
            flights.retain(|(_, ws, p), flight| {
                let hit = ws == workspace_id && p == provider;
                if hit {
                    flight.detach();
                }
                !hit
            });
        }
        let mut tokens = self.write(self.shard(workspace_id, provider));
        let owners: Vec<Owner> = tokens.owners().collect();
        for owner in owners {
            tokens.remove_if(owner, workspace_id, provider, |_| true);
        }
    }

    /// How many tokens are stored, fresh or not yet purged: expired ones
    /// are purged a few at a time as the cache is used.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.table.read().len()).sum()
    }

    /// Whether no token is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets the pair's token only if it is still the entry `token` came
    /// from (not merely the same text), so that many threads meeting the same
    /// rejected token drop it once. Returns whether it was dropped.
    pub(crate) fn delete_entry(
        &self,
        owner: Owner,
        workspace_id: &str,
        provider: &str,
        token: &CachedToken,
    ) -> bool {
        let mut tokens = self.write(self.shard(workspace_id, provider));
        let owners: Vec<Owner> = Whose::Client(owner).owners(&tokens).collect();
        owners.into_iter().any(|owner| {
            tokens.remove_if(owner, workspace_id, provider, |slot| {
                slot.token.same_entry(token)
            })
        })
    }

    /// The miss path: the first caller for a key runs `resolve` (after one
    /// more look in the cache) and stores a fresh result, unless the pair was
    /// deleted meanwhile; callers that arrive meanwhile wait up to `budget`
    /// and share its result, error included. Errors are not stored: the next
    /// miss resolves again. Other keys never wait. A call for the pair from
    /// inside its own resolve fails at once rather than wait for itself.
    ///
    /// With `current` (a token in its refresh window) nobody waits: a caller
    /// that finds a resolve under way gets `current` at once, and the one
    /// that resolves gets `current` back if its resolve fails.
    pub(crate) fn resolve_once(
        &self,
        owner: Owner,
        workspace_id: &str,
        provider: &str,
        budget: Duration,
        current: Option<CachedToken>,
        resolve: impl FnOnce() -> Result<CachedToken, NexusError>,
    ) -> Result<CachedToken, NexusError> {
        let key = (owner, workspace_id.to_owned(), provider.to_owned());
        let (flight, leader) = {
            let mut flights = self.flights.lock();
            match flights.get(&key) {
                Some(flight) => (Arc::clone(flight), false),
                None => {
                    let flight = Arc::new(Flight::default());
                    flights.insert(key.clone(), Arc::clone(&flight));
                    (flight, true)
                }
            }
        };
        if !leader {
            if let Some(current) = current {
                return Ok(current);
            }
            if self.resolving_here(&key) {
                return Err(NexusError::request_failed(
                    "the token was asked for from inside its own resolve (a logger or hook \
                     that uses the same credential?): it would wait for itself",
                ));
            }
            return flight.wait(budget);
        }
        // Ends the flight even if `resolve` panics, so no waiter is left hanging.
        let mut landing = Landing {
            cache: self,
            key,
            flight,
            result: None,
            resolved: false,
            landed: false,
        };
        let renewing = current.is_some();
        let result = match self.lookup(owner, workspace_id, provider) {
            // Stored by a flight that landed between our look and this one: no resolve.
            Lookup::Fresh(token) => Ok(token),
            Lookup::Renew(token) if !renewing => Ok(token),
            Lookup::Renew(_) | Lookup::Miss => {
                landing.mark_resolving(true);
                let result = resolve();
                landing.mark_resolving(false);
                landing.resolved = true;
                result
            }
        };
        landing.result = Some(result);
        // The stored entry, when one was stored: what every caller gets.
        let result = landing.finish();
        match (result, current) {
            (Err(e), Some(current)) => {
                log::warn!(
                    target: crate::LOG_TARGET,
                    "Early renewal failed ({}); keeping the current token until its buffer",
                    e.code
                );
                Ok(current)
            }
            (result, _) => result,
        }
    }

    fn resolving_here(&self, key: &FlightKey) -> bool {
        let id = self as *const TokenCache as usize;
        RESOLVING.with(|r| r.borrow().iter().any(|(c, k)| *c == id && k == key))
    }
}

/// Publishes a flight's result to its waiters, stores a token unless the
/// pair was deleted meanwhile, and retires the flight.
struct Landing<'a> {
    cache: &'a TokenCache,
    key: FlightKey,
    flight: Arc<Flight<CachedToken>>,
    result: Option<Result<CachedToken, NexusError>>,
    /// The result came from `resolve` (and so is stored), not from the cache.
    resolved: bool,
    /// `finish` ran: the flight has landed.
    landed: bool,
}

impl Landing<'_> {
    fn mark_resolving(&self, on: bool) {
        let entry = (self.cache as *const TokenCache as usize, self.key.clone());
        RESOLVING.with(|r| {
            let mut r = r.borrow_mut();
            match on {
                true => r.push(entry),
                false => r.retain(|e| *e != entry),
            }
        });
    }
}

impl Landing<'_> {
    /// Retires the flight, stores a resolved token (unless the pair was
    /// deleted meanwhile), and lands the result, the stored entry in place
    /// of the token, for the waiters; the same result for the leader.
    fn finish(&mut self) -> Result<CachedToken, NexusError> {
        self.landed = true;
        let mut result = self.result.take().unwrap_or_else(|| {
            Err(NexusError::request_failed(
                "the resolve this call was waiting for panicked",
            ))
        });
        // Retire the flight first: a caller arriving from now on finds the
        // stored token, or (after an error) starts a new flight. Storing
        // under the flights lock orders it against a concurrent `delete`.
        {
            let mut flights = self.cache.flights.lock();
            // Only this flight: after a clear the key may name a newer one.
            if flights
                .get(&self.key)
                .is_some_and(|f| Arc::ptr_eq(f, &self.flight))
            {
                flights.remove(&self.key);
            }
            if let (true, Ok(token)) = (self.resolved, &result) {
                if !self.flight.is_detached() {
                    let (owner, ws, p) = &self.key;
                    result = Ok(self.cache.store(*owner, ws, p, token.clone()));
                }
            }
        }
        self.flight.land(result.clone());
        result
    }
}

impl Drop for Landing<'_> {
    /// A resolve that panicked: its waiters are released with an error.
    fn drop(&mut self) {
        if !self.landed {
            self.mark_resolving(false);
            let _ = self.finish();
        }
    }
}

impl Default for TokenCache {
    fn default() -> Self {
        TokenCache::new()
    }
}

impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCache")
            .field("buffer", &self.buffer)
            .field("tokens", &self.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client id for the tests.
    const ME: Owner = 7;
    use std::sync::Barrier;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::thread;

    fn token(value: &str, lifetime: Duration) -> CachedToken {
        CachedToken::bearer(value, SystemTime::now() + lifetime)
    }

    const BUDGET: Duration = Duration::from_secs(30);

    #[test]
    fn the_refresh_window_is_a_tenth_clamped_and_at_most_half() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let window = |life: u64, buffer: u64| {
            let (refresh, evict) = due_times(
                now + Duration::from_secs(life),
                Duration::from_secs(buffer),
                now,
            );
            Duration::from_millis(evict - refresh)
        };
        let s = Duration::from_secs;
        assert_eq!(
            window(3_630, 30),
            s(300),
            "an hour's tenth, capped at 5 min"
        );
        assert_eq!(window(1_030, 30), s(100), "a tenth");
        assert_eq!(window(90, 30), s(10), "at least 10 s");
        assert_eq!(
            window(46, 30),
            s(8),
            "but never more than half the usable life"
        );
        assert_eq!(window(20, 30), s(0), "already inside the buffer: no window");
    }

    #[test]
    fn keys_are_pairs_not_joined_strings() {
        let cache = TokenCache::new();
        cache.set("a:b", "c", token("one", Duration::from_secs(600)));
        cache.set("a", "b:c", token("two", Duration::from_secs(600)));
        assert_eq!(cache.get("a:b", "c").unwrap().access_token(), "one");
        assert_eq!(cache.get("a", "b:c").unwrap().access_token(), "two");
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn buffer_edges() {
        let cache = TokenCache::new();
        cache.set("w", "p", token("t", Duration::from_secs(31)));
        assert!(
            cache.get("w", "p").is_some(),
            "31 s left is outside the 30 s buffer"
        );
        cache.set("w", "p", token("t", Duration::from_secs(29)));
        assert!(cache.get("w", "p").is_none(), "29 s left is inside it");
        assert!(cache.is_empty(), "a stale token is dropped on read");

        let tight = TokenCache::with_buffer(Duration::ZERO);
        tight.set("w", "p", token("t", Duration::from_secs(1)));
        assert!(tight.get("w", "p").is_some());
        let far_past = CachedToken::bearer("t", SystemTime::UNIX_EPOCH);
        cache.set("w", "p", far_past);
        assert!(cache.get("w", "p").is_none());
    }

    #[test]
    fn delete_entry_only_drops_that_entry() {
        let cache = TokenCache::new();
        let old = token("same", Duration::from_secs(600));
        cache.set("w", "p", token("same", Duration::from_secs(600)));
        assert!(
            !cache.delete_entry(ME, "w", "p", &old),
            "same text, another entry"
        );
        let stored = cache.get("w", "p").unwrap();
        assert!(cache.delete_entry(ME, "w", "p", &stored));
        assert!(cache.get("w", "p").is_none());
        assert!(!cache.delete_entry(ME, "w", "p", &stored));
    }

    #[test]
    fn a_clear_wins_over_a_resolve_in_flight() {
        let cache = TokenCache::new();
        let started = Barrier::new(2);
        let cleared = Barrier::new(2);
        thread::scope(|s| {
            let leader = s.spawn(|| {
                cache.resolve_once(ME, "w", "p", BUDGET, None, || {
                    started.wait();
                    cleared.wait();
                    Ok(token("old", Duration::from_secs(600)))
                })
            });
            started.wait();
            cache.delete("w", "p");
            cleared.wait();
            let got = leader.join().unwrap().unwrap();
            assert_eq!(got.access_token(), "old", "its callers get the result");
        });
        assert!(cache.get("w", "p").is_none(), "but it is not stored");
    }

    #[test]
    fn a_waiter_is_bounded_by_its_own_budget() {
        let cache = TokenCache::new();
        let started = Barrier::new(2);
        let (waiter_done, done) = std::sync::mpsc::channel();
        thread::scope(|s| {
            // The resolve lasts until the waiter has given up: the waiter can
            // only return through its own 50 ms budget, however slow the machine.
            let (cache_ref, started_ref) = (&cache, &started);
            let leader = s.spawn(move || {
                cache_ref.resolve_once(ME, "w", "p", BUDGET, None, || {
                    started_ref.wait();
                    let released = done.recv_timeout(Duration::from_secs(30)).is_ok();
                    assert!(released, "the waiter never gave up");
                    Ok(token("slow", Duration::from_secs(600)))
                })
            });
            started.wait();
            let err = cache
                .resolve_once(
                    ME,
                    "w",
                    "p",
                    Duration::from_millis(50),
                    None,
                    || unreachable!(),
                )
                .unwrap_err();
            assert_eq!(err.code, "timeout");
            waiter_done.send(()).unwrap();
            assert_eq!(leader.join().unwrap().unwrap().access_token(), "slow");
        });
    }

    #[test]
    fn a_reentrant_call_fails_at_once() {
        let cache = TokenCache::new();
        let inner = cache.resolve_once(ME, "w", "p", BUDGET, None, || {
            let nested = cache.resolve_once(ME, "w", "p", BUDGET, None, || unreachable!());
            assert_eq!(nested.unwrap_err().code, "request_failed");
            // Another pair from inside a resolve is fine.
            cache.resolve_once(ME, "w", "other", BUDGET, None, || {
                Ok(token("o", Duration::from_secs(600)))
            })
        });
        assert_eq!(inner.unwrap().access_token(), "o");
        assert_eq!(cache.get("w", "p").unwrap().access_token(), "o");
    }

    #[test]
    fn concurrent_misses_resolve_once() {
        let cache = TokenCache::new();
        let calls = AtomicUsize::new(0);
        let barrier = Barrier::new(16);
        thread::scope(|s| {
            for _ in 0..16 {
                s.spawn(|| {
                    barrier.wait();
                    let got = cache.resolve_once(ME, "w", "p", BUDGET, None, || {
                        calls.fetch_add(1, Ordering::SeqCst);
                        thread::sleep(Duration::from_millis(100));
                        Ok(token("t", Duration::from_secs(600)))
                    });
                    assert_eq!(got.unwrap().access_token(), "t");
                });
            }
        });
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn errors_are_shared_but_not_stored() {
        let cache = TokenCache::new();
        let err = cache
            .resolve_once(ME, "w", "p", BUDGET, None, || {
                Err(NexusError::new("http_503", "down"))
            })
            .unwrap_err();
        assert_eq!(err.code, "http_503");
        assert!(cache.get("w", "p").is_none());
        let ok = cache.resolve_once(ME, "w", "p", BUDGET, None, || {
            Ok(token("t", Duration::from_secs(600)))
        });
        assert_eq!(ok.unwrap().access_token(), "t");
    }

    #[test]
    fn a_panicking_resolve_releases_its_waiters() {
        let cache = TokenCache::new();
        let started = Barrier::new(2);
        thread::scope(|s| {
            let leader = s.spawn(|| {
                cache.resolve_once(ME, "w", "p", BUDGET, None, || {
                    started.wait();
                    thread::sleep(Duration::from_millis(100));
                    panic!("resolver bug");
                })
            });
            started.wait();
            let waiter = cache.resolve_once(ME, "w", "p", BUDGET, None, || {
                Ok(token("unused", Duration::from_secs(600)))
            });
            assert!(leader.join().is_err());
            // Either it joined the panicking flight, or it arrived after and resolved itself.
            match waiter {
                Err(e) => assert_eq!(e.code, "request_failed"),
                Ok(t) => assert_eq!(t.access_token(), "unused"),
            }
        });
        assert!(cache.flights.lock().is_empty());
    }

    #[test]
    fn debug_shows_no_token() {
        let cache = TokenCache::new();
        cache.set("w", "p", token("secret-token", Duration::from_secs(600)));
        assert!(!format!("{cache:?}").contains("secret-token"));
    }
}
