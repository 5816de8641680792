//! [`TokenCache`]: access tokens per (workspace, provider), evicted a
//! buffer before they expire: one map behind one lock, with single-flight
//! resolution of misses.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::RwLock;

use crate::clock::Clock;
use crate::error::NexusError;
use crate::flight::{Call, SingleFlight};
use crate::token::CachedToken;

/// Whose token an entry is: [`ANYONE`] for one stored with
/// [`TokenCache::set`], else the client (its Gateway URL and api key) that
/// resolved it.
pub(crate) type Owner = u64;

/// The owner of the tokens an application stores itself: usable by every client.
pub(crate) const ANYONE: Owner = 0;

/// Tokens for (workspace, provider) pairs (Python `TokenCache`).
///
/// `get` drops and misses a token once `now > expires_at - buffer`, so a
/// token is never handed out in the last `buffer` (30 s by default) of its
/// life. Share it by reference or in an `Arc`: it is one map behind one
/// `parking_lot` read-write lock, never held across network I/O. Keys are
/// the pair itself: `("a:b", "c")` and `("a", "b:c")` are different entries.
///
/// What [`set`](Self::set) stores is what the next [`get`](Self::get)
/// returns, and what every client then uses. A token a
/// [`NexusClient`](crate::NexusClient) resolved belongs to that client (its
/// Gateway URL and api key): a client of another Gateway, or with another
/// api key, never gets it and keeps its own entry for the pair. `get`,
/// `delete` and `len` see every entry, whoever it belongs to.
///
/// Entries past their eviction instant are purged as the cache is used (on
/// every store, and every few reads), so its memory follows the live set.
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
    clock: Clock,
    /// Workspace → its entries (a few providers, a few owners each).
    entries: RwLock<HashMap<Box<str>, Vec<Entry>>>,
    /// No entry is due for eviction before this instant (ms since the epoch).
    earliest: AtomicU64,
    /// Reads since the last purge attempt, across every thread.
    reads: AtomicU32,
    /// Resolves under way, one per (owner, workspace, provider); each lands
    /// a token and whether it was resolved (and so is to be stored).
    flights: SingleFlight<(Owner, String, String), (CachedToken, bool)>,
}

/// One stored token.
struct Entry {
    provider: Box<str>,
    owner: Owner,
    token: CachedToken,
    /// Renewed by the next caller from this instant on…
    refresh_at: SystemTime,
    /// …and no longer handed out after this one.
    evict_at: SystemTime,
}

impl Entry {
    fn is_usable(&self, now: SystemTime) -> bool {
        now <= self.evict_at && !self.token.is_rejected()
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

/// One purge attempt every this many reads, once something may be due.
const READS_PER_PURGE: u32 = 64;

/// When a stored token is due: renewed from the first instant, no longer
/// handed out after the second.
///
/// The refresh window is a tenth of the token's usable life (from `now` to
/// `expires_at - buffer`), clamped to 10 s … 5 min, and never more than half
/// that life, so a short-lived token is not renewed all the time.
pub(crate) fn due_times(
    expires_at: SystemTime,
    buffer: Duration,
    now: SystemTime,
) -> (SystemTime, SystemTime) {
    let evict_at = expires_at.checked_sub(buffer).unwrap_or(UNIX_EPOCH);
    let usable = evict_at.duration_since(now).unwrap_or_default();
    let window = (usable / 10)
        .clamp(Duration::from_secs(10), Duration::from_secs(300))
        .min(usable / 2);
    (evict_at - window, evict_at)
}

/// `t` in milliseconds since the epoch (0 before it).
fn millis(t: SystemTime) -> u64 {
    let ms = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis();
    u64::try_from(ms).unwrap_or(u64::MAX)
}

/// The owner id of a client's cache entries: a hash of its Gateway URL and
/// api key (so clients built alike share entries, and clones do), never
/// [`ANYONE`]. SipHash with fixed keys: stable within a process and hard to
/// make two configurations collide on.
pub(crate) fn owner_of(gateway_url: &str, api_key: &str) -> Owner {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (gateway_url, api_key).hash(&mut hasher);
    hasher.finish().max(ANYONE + 1)
}

impl TokenCache {
    /// An empty cache with a 30 s eviction buffer.
    pub fn new() -> Self {
        TokenCache::with_buffer(Duration::from_secs(30))
    }

    /// An empty cache that evicts tokens `buffer` before they expire
    /// (Python `TokenCache(buffer_seconds=…)`).
    pub fn with_buffer(buffer: Duration) -> Self {
        TokenCache::on_clock(buffer, Clock::default())
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
        TokenCache::on_clock(buffer, Clock::from_fn(now))
    }

    fn on_clock(buffer: Duration, clock: Clock) -> Self {
        TokenCache {
            buffer,
            clock,
            entries: RwLock::new(HashMap::new()),
            earliest: AtomicU64::new(u64::MAX),
            reads: AtomicU32::new(0),
            flights: SingleFlight::default(),
        }
    }

    /// The pair's token, unless it is missing or within the buffer of its
    /// expiry (then it is dropped): the one stored last, by
    /// [`set`](Self::set) or by a client's resolve.
    pub fn get(&self, workspace_id: &str, provider: &str) -> Option<CachedToken> {
        match self.lookup(None, workspace_id, provider) {
            Lookup::Fresh(token) | Lookup::Renew(token) => Some(token),
            Lookup::Miss => None,
        }
    }

    /// The token `owner` may use for the pair (its own, or one stored for
    /// anyone, whichever was stored last; any owner's, for `None`) and
    /// whether it is due for renewal. Entries past their eviction instant,
    /// or rejected by an upstream, are dropped.
    pub(crate) fn lookup(
        &self,
        owner: Option<Owner>,
        workspace_id: &str,
        provider: &str,
    ) -> Lookup {
        let now = self.clock.now();
        self.maybe_purge(now);
        let may_use = |e: &Entry| {
            &*e.provider == provider && owner.is_none_or(|o| e.owner == o || e.owner == ANYONE)
        };
        let mut stale = false;
        {
            let entries = self.entries.read();
            let found = entries.get(workspace_id).into_iter().flatten();
            for entry in found.rev().filter(|e| may_use(e)) {
                if !entry.is_usable(now) {
                    stale = true;
                } else if now < entry.refresh_at {
                    return Lookup::Fresh(entry.token.clone());
                } else {
                    return Lookup::Renew(entry.token.clone());
                }
            }
        }
        if stale {
            self.remove(workspace_id, |e| may_use(e) && !e.is_usable(now));
        }
        Lookup::Miss
    }

    /// Stores `token` for the pair, for every client: it replaces every
    /// entry of the pair, whoever resolved it.
    pub fn set(&self, workspace_id: &str, provider: &str, token: CachedToken) {
        self.store(ANYONE, workspace_id, provider, token);
    }

    /// Stores `token` as `owner`'s entry for the pair (an application's
    /// token replaces every owner's).
    fn store(&self, owner: Owner, workspace_id: &str, provider: &str, token: CachedToken) {
        let now = self.clock.now();
        let (refresh_at, evict_at) = due_times(token.expires_at(), self.buffer, now);
        let mut entries = self.entries.write();
        // Most workspaces hold one provider's token: no room kept for more.
        let list = entries
            .entry(workspace_id.into())
            .or_insert_with(|| Vec::with_capacity(1));
        list.retain(|e| &*e.provider != provider || (owner != ANYONE && e.owner != owner));
        list.push(Entry {
            provider: provider.into(),
            owner,
            token,
            refresh_at,
            evict_at,
        });
        self.earliest.fetch_min(millis(evict_at), Ordering::Relaxed);
        Self::purge(&mut entries, &self.earliest, now);
    }

    /// Forgets the pair's tokens, every client's. Resolves of the pair
    /// already under way are returned to their callers but not stored.
    pub fn delete(&self, workspace_id: &str, provider: &str) {
        self.flights
            .detach_where(|(_, ws, p)| ws == workspace_id && p == provider);
        self.remove(workspace_id, |e| &*e.provider == provider);
    }

    /// How many tokens are stored, fresh or not yet purged.
    pub fn len(&self) -> usize {
        self.entries.read().values().map(Vec::len).sum()
    }

    /// Whether no token is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets the pair's token only if it is still the entry `token` came
    /// from (not merely the same text), so that many threads meeting the
    /// same rejected token drop it once. Returns whether it was dropped.
    pub(crate) fn delete_entry(
        &self,
        owner: Owner,
        workspace_id: &str,
        provider: &str,
        token: &CachedToken,
    ) -> bool {
        let mine = |e: &Entry| e.owner == owner || e.owner == ANYONE;
        self.remove(workspace_id, |e| {
            &*e.provider == provider && mine(e) && e.token.same_entry(token)
        }) > 0
    }

    /// Removes the workspace's entries that match; how many.
    fn remove(&self, workspace_id: &str, matches: impl Fn(&Entry) -> bool) -> usize {
        let mut entries = self.entries.write();
        let Some(list) = entries.get_mut(workspace_id) else {
            return 0;
        };
        let before = list.len();
        list.retain(|e| !matches(e));
        let removed = before - list.len();
        if list.is_empty() {
            entries.remove(workspace_id);
        }
        removed
    }

    /// Every [`READS_PER_PURGE`] reads once some entry may be due, a purge,
    /// if the write lock is free at once: a read never waits for it.
    fn maybe_purge(&self, now: SystemTime) {
        if millis(now) <= self.earliest.load(Ordering::Relaxed)
            || self.reads.fetch_add(1, Ordering::Relaxed) % READS_PER_PURGE != 0
        {
            return;
        }
        if let Some(mut entries) = self.entries.try_write() {
            Self::purge(&mut entries, &self.earliest, now);
        }
    }

    /// Drops every entry past its eviction instant, once one may be.
    fn purge(entries: &mut HashMap<Box<str>, Vec<Entry>>, earliest: &AtomicU64, now: SystemTime) {
        if millis(now) <= earliest.load(Ordering::Relaxed) {
            return;
        }
        let mut next = u64::MAX;
        entries.retain(|_, list| {
            list.retain(|e| e.evict_at >= now);
            for e in list.iter() {
                next = next.min(millis(e.evict_at));
            }
            !list.is_empty()
        });
        earliest.store(next, Ordering::Relaxed);
    }

    /// The miss path: the first caller for the key runs `resolve` (after one
    /// more look in the cache) and stores a fresh result, unless the pair was
    /// deleted meanwhile; callers that arrive meanwhile wait (up to their
    /// budget) and share its result, error included. Errors are not
    /// stored. A resolve whose caller was abandoned is taken over by a
    /// waiter.
    ///
    /// With a current token (in its refresh window) nobody waits: a
    /// caller that finds a resolve under way gets it at once, and the one
    /// that resolves gets it back if its resolve fails.
    pub(crate) fn resolve_once(
        &self,
        owner: Owner,
        workspace_id: &str,
        provider: &str,
        join: Call<'_, CachedToken>,
        resolve: impl Fn() -> Result<CachedToken, NexusError>,
    ) -> Result<CachedToken, NexusError> {
        let key = (owner, workspace_id.to_owned(), provider.to_owned());
        let current = join.current;
        let load = || match self.lookup(Some(owner), workspace_id, provider) {
            // Stored by a flight that landed between our look and this one.
            Lookup::Fresh(token) => Ok((token, false)),
            Lookup::Renew(token) if current.is_none() => Ok((token, false)),
            Lookup::Renew(_) | Lookup::Miss => resolve().map(|token| (token, true)),
        };
        let keep = |(token, resolved): (CachedToken, bool)| {
            if resolved {
                self.store(owner, workspace_id, provider, token.clone());
            }
            (token, resolved)
        };
        let call = Call {
            budget: join.budget,
            current: current.clone().map(|token| (token, false)),
            abandoned: join.abandoned,
        };
        let result = self
            .flights
            .run(&key, call, load, keep)
            .map(|(token, _)| token);
        match (result, current) {
            (Err(e), Some(current)) => {
                log::warn!(
                    target: crate::redact::LOG_TARGET,
                    "Early renewal failed ({}); keeping the current token until its buffer",
                    e.code
                );
                Ok(current)
            }
            (result, _) => result,
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
    use std::sync::Arc;
    use std::sync::Barrier;
    use std::thread;

    /// Two clients' owner ids.
    const ME: Owner = 7;
    const OTHER: Owner = 8;

    /// What a caller brings to a resolve: 30 s to wait, never abandoned.
    fn join(current: Option<CachedToken>) -> Call<'static, CachedToken> {
        fn never() -> bool {
            false
        }
        Call {
            budget: Duration::from_secs(30),
            current,
            abandoned: &never,
        }
    }

    fn token(value: &str, lifetime: Duration) -> CachedToken {
        CachedToken::bearer(value, SystemTime::now() + lifetime)
    }

    /// A cache on a clock the test moves, and the clock's offset in seconds.
    fn on_test_clock() -> (TokenCache, Arc<AtomicU64>, SystemTime) {
        let start = SystemTime::now();
        let offset = Arc::new(AtomicU64::new(0));
        let seen = Arc::clone(&offset);
        let cache = TokenCache::with_clock(Duration::from_secs(30), move || {
            start + Duration::from_secs(seen.load(Ordering::Relaxed))
        });
        (cache, offset, start)
    }

    fn resolve(cache: &TokenCache, owner: Owner, value: &str) -> CachedToken {
        let (value, life) = (value.to_owned(), Duration::from_secs(3600));
        cache
            .resolve_once(owner, "w", "p", join(None), || Ok(token(&value, life)))
            .unwrap()
    }

    #[test]
    fn the_refresh_window_is_a_tenth_clamped_and_at_most_half() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let window = |life: u64, buffer: u64| {
            let expires = now + Duration::from_secs(life);
            let (refresh, evict) = due_times(expires, Duration::from_secs(buffer), now);
            evict.duration_since(refresh).unwrap()
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
        cache.set("w", "p", CachedToken::bearer("t", UNIX_EPOCH));
        assert!(cache.get("w", "p").is_none());
    }

    #[test]
    fn what_set_stores_is_what_the_next_get_returns_for_everyone() {
        let cache = TokenCache::new();
        assert_eq!(resolve(&cache, ME, "resolved").access_token(), "resolved");
        let mine = token("mine", Duration::from_secs(600));
        cache.set("w", "p", mine.clone());
        assert!(cache.get("w", "p").unwrap().same_entry(&mine));
        for owner in [ME, OTHER] {
            match cache.lookup(Some(owner), "w", "p") {
                Lookup::Fresh(t) => assert!(t.same_entry(&mine)),
                _ => panic!("the stored token is every client's"),
            }
        }
        assert_eq!(cache.len(), 1, "it replaced the client's entry");
    }

    #[test]
    fn a_resolved_token_is_only_its_clients() {
        let cache = TokenCache::new();
        resolve(&cache, ME, "gateway-a");
        assert!(matches!(cache.lookup(Some(OTHER), "w", "p"), Lookup::Miss));
        resolve(&cache, OTHER, "gateway-b");
        let seen = |owner| match cache.lookup(Some(owner), "w", "p") {
            Lookup::Fresh(t) => t.access_token().to_owned(),
            _ => String::new(),
        };
        assert_eq!(
            (seen(ME), seen(OTHER)),
            ("gateway-a".into(), "gateway-b".into())
        );
        assert_eq!(
            cache.get("w", "p").unwrap().access_token(),
            "gateway-b",
            "the last stored"
        );
        cache.delete("w", "p");
        assert!(cache.is_empty(), "delete forgets every client's");
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
        let (started, cleared) = (Barrier::new(2), Barrier::new(2));
        thread::scope(|s| {
            let leader = s.spawn(|| {
                cache.resolve_once(ME, "w", "p", join(None), || {
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
    fn a_token_in_its_refresh_window_is_renewed_and_kept_if_renewal_fails() {
        let (cache, offset, start) = on_test_clock();
        cache.set(
            "w",
            "p",
            CachedToken::bearer("old", start + Duration::from_secs(3630)),
        );
        offset.store(3_400, Ordering::Relaxed); // inside the last 5 minutes before the buffer
        let current = match cache.lookup(Some(ME), "w", "p") {
            Lookup::Renew(t) => t,
            _ => panic!("due for renewal"),
        };
        let fail = || Err(NexusError::new("http_503", "down"));
        let kept = cache.resolve_once(ME, "w", "p", join(Some(current)), fail);
        assert_eq!(kept.unwrap().access_token(), "old");
        assert!(
            matches!(cache.lookup(Some(ME), "w", "p"), Lookup::Renew(_)),
            "still due"
        );
    }

    #[test]
    fn memory_follows_the_live_set() {
        let (cache, offset, start) = on_test_clock();
        for i in 0..100 {
            let life = Duration::from_secs(if i < 90 { 60 } else { 3600 });
            cache.set(
                &format!("w{i}"),
                "p",
                CachedToken::bearer("t", start + life),
            );
        }
        assert_eq!(cache.len(), 100);
        offset.store(120, Ordering::Relaxed);
        // Reads of other pairs purge the expired ones: nobody reads them again.
        for _ in 0..READS_PER_PURGE {
            assert!(cache.get("w95", "p").is_some());
        }
        assert_eq!(cache.len(), 10);
        assert_eq!(
            cache.entries.read().len(),
            10,
            "no empty workspace left behind"
        );
    }

    #[test]
    fn debug_shows_no_token() {
        let cache = TokenCache::new();
        cache.set("w", "p", token("secret-token", Duration::from_secs(600)));
        assert!(!format!("{cache:?}").contains("secret-token"));
    }
}
