//! [`TokenCache`]: access tokens per (workspace, provider), evicted a
//! buffer before they expire: one map behind one mutex, with single-flight
//! resolution of misses and renewal in each token's refresh window.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;

use crate::error::NexusError;
use crate::flight::{Call, SingleFlight};
use crate::token::CachedToken;

/// Whose token an entry is: [`ANYONE`] for one stored with
/// [`TokenCache::set`], else the client (its Gateway URL and api key) that
/// resolved it.
pub(crate) type Owner = u64;

/// The owner of the tokens an application stores itself: usable by every client.
pub(crate) const ANYONE: Owner = 0;

/// Renewals one token may cost: its resolve and at most these two more
/// Gateway calls, however often it is used.
const MAX_RENEWALS: u8 = 2;

/// A purge scans the map at most once per this many uses, or once per as
/// many uses as the map holds entries, whichever is more.
const USES_PER_PURGE: usize = 64;

/// Tokens for (workspace, provider) pairs (Python `TokenCache`).
///
/// `get` drops and misses a token once `now > expires_at - buffer`, so a
/// token is never handed out in the last `buffer` (30 s by default) of its
/// life. Share it by reference or in an `Arc`: it is one map behind one
/// `parking_lot` mutex, never held across network I/O. Keys are the pair
/// itself: `("a:b", "c")` and `("a", "b:c")` are different entries.
///
/// What [`set`](Self::set) stores is what the next [`get`](Self::get)
/// returns, and what every client then uses; a resolve already under way
/// for the pair does not overwrite it when it lands. A token a
/// [`NexusClient`](crate::NexusClient) resolved belongs to that client (its
/// Gateway URL and api key): a client of another Gateway, or with another
/// api key, never gets it and keeps its own entry for the pair. `get`,
/// `delete` and `len` see every entry, whoever it belongs to.
///
/// Entries past their eviction instant are purged as the cache is used,
/// once per as many uses as it holds entries (at least 64), so its memory
/// follows the live set and no store or read pays for the whole map.
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
    /// The wall clock: the system's, or a test's.
    clock: Option<Arc<dyn Fn() -> SystemTime + Send + Sync>>,
    map: Mutex<Map>,
    /// Resolves under way, one lock per (owner, workspace, provider); each
    /// lands a token and whether it was resolved (and so is to be stored).
    flights: SingleFlight<(Owner, String, String), (CachedToken, bool)>,
}

/// The entries, and what the purge needs to stay cheap.
struct Map {
    /// Workspace → its entries (a few providers, a few owners each).
    entries: HashMap<Box<str>, Vec<Entry>>,
    /// How many entries `entries` holds.
    len: usize,
    /// Reads and stores since the last purge.
    uses: usize,
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
    /// Renewals tried that brought no fresher token.
    renewals: u8,
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

/// When a token whose renewals failed or brought nothing fresher
/// `renewals` times is renewed next: at half the time it has left, and
/// never after the last.
fn retry_at(renewals: u8, evict_at: SystemTime, now: SystemTime) -> SystemTime {
    let left = evict_at.duration_since(now).unwrap_or_default();
    match renewals < MAX_RENEWALS {
        true => now + left / 2,
        false => evict_at + Duration::from_nanos(1),
    }
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
        TokenCache {
            buffer,
            clock: None,
            map: Mutex::new(Map {
                entries: HashMap::new(),
                len: 0,
                uses: 0,
            }),
            flights: SingleFlight::default(),
        }
    }

    /// An empty cache that evicts tokens `buffer` before they expire and
    /// reads the time from `now` instead of the system clock: what a test
    /// moves forward to see expiry, renewal and purge without sleeping
    /// (`nexus_gateway_fake::TestClock` is one). A client using this cache
    /// reads the age of the provider listing from it too.
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
        TokenCache {
            clock: Some(Arc::new(now)),
            ..TokenCache::with_buffer(buffer)
        }
    }

    /// The time now, on the cache's clock.
    pub(crate) fn now(&self) -> SystemTime {
        self.clock
            .as_ref()
            .map_or_else(SystemTime::now, |now| now())
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
        let now = self.now();
        let may_use = |e: &Entry| {
            &*e.provider == provider && owner.is_none_or(|o| e.owner == o || e.owner == ANYONE)
        };
        let mut map = self.map.lock();
        map.used(now);
        let (mut stale, mut lookup) = (false, Lookup::Miss);
        let found = map.entries.get(workspace_id).into_iter().flatten();
        for e in found.rev().filter(|e| may_use(e)) {
            if !e.is_usable(now) {
                stale = true;
                continue;
            }
            lookup = match now < e.refresh_at {
                true => Lookup::Fresh(e.token.clone()),
                false => Lookup::Renew(e.token.clone()),
            };
            break;
        }
        if stale {
            map.remove(workspace_id, |e| may_use(e) && !e.is_usable(now));
        }
        lookup
    }

    /// Stores `token` for the pair, for every client: it replaces every
    /// entry of the pair, whoever resolved it, and a resolve of the pair
    /// under way when it is stored does not overwrite it.
    pub fn set(&self, workspace_id: &str, provider: &str, token: CachedToken) {
        self.detach(workspace_id, provider, || {
            self.store(ANYONE, workspace_id, provider, token, 0);
        });
    }

    /// Stores `token` as `owner`'s entry for the pair (an application's
    /// token replaces every owner's), with `renewals` renewals of its
    /// predecessor that brought nothing fresher already made.
    fn store(
        &self,
        owner: Owner,
        workspace_id: &str,
        provider: &str,
        token: CachedToken,
        renewals: u8,
    ) {
        let now = self.now();
        let (mut refresh_at, evict_at) = due_times(token.expires_at(), self.buffer, now);
        if renewals > 0 {
            refresh_at = retry_at(renewals, evict_at, now);
        }
        let mut map = self.map.lock();
        map.used(now);
        map.remove(workspace_id, |e| {
            &*e.provider == provider && (owner == ANYONE || e.owner == owner || e.owner == ANYONE)
        });
        // Most workspaces hold one provider's token: no room kept for more.
        let list = map
            .entries
            .entry(workspace_id.into())
            .or_insert_with(|| Vec::with_capacity(1));
        list.push(Entry {
            provider: provider.into(),
            owner,
            token,
            refresh_at,
            evict_at,
            renewals,
        });
        map.len += 1;
    }

    /// A renewal of `current` failed: its entry, if still there, counts it.
    fn renewal_failed(&self, workspace_id: &str, current: &CachedToken) -> u8 {
        let now = self.now();
        let mut map = self.map.lock();
        let list = map.entries.get_mut(workspace_id).into_iter().flatten();
        let mut renewals = 1;
        for entry in list.filter(|e| e.token.same_entry(current)) {
            entry.renewals = entry.renewals.saturating_add(1);
            entry.refresh_at = retry_at(entry.renewals, entry.evict_at, now);
            renewals = entry.renewals;
        }
        renewals
    }

    /// Forgets the pair's tokens, every client's. Resolves of the pair
    /// already under way are returned to their callers but not stored.
    pub fn delete(&self, workspace_id: &str, provider: &str) {
        self.detach(workspace_id, provider, || {
            let mut map = self.map.lock();
            map.remove(workspace_id, |e| &*e.provider == provider);
        });
    }

    /// Runs `then` with every resolve of the pair under way, every
    /// client's, detached: none of them is stored, before or after `then`.
    fn detach(&self, workspace_id: &str, provider: &str, then: impl FnOnce()) {
        let matches = |(_, ws, p): &(Owner, String, String)| ws == workspace_id && p == provider;
        self.flights.detach_where(matches, then);
    }

    /// How many tokens are stored, fresh or not yet purged.
    pub fn len(&self) -> usize {
        self.map.lock().len
    }

    /// Whether no token is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets the pair's token only if it is still the entry `token` came
    /// from (not merely the same text), so that many threads meeting the
    /// same rejected token drop it once.
    pub(crate) fn delete_entry(
        &self,
        owner: Owner,
        workspace_id: &str,
        provider: &str,
        token: &CachedToken,
    ) {
        let mine = |e: &Entry| e.owner == owner || e.owner == ANYONE;
        self.map.lock().remove(workspace_id, |e| {
            &*e.provider == provider && mine(e) && e.token.same_entry(token)
        });
    }

    /// The miss path, and the renewal: the first caller for the key runs
    /// `resolve` (after one more look in the cache) and stores what it
    /// gets, unless the pair was deleted or set meanwhile; callers that
    /// arrive meanwhile wait (up to `call.wait`) and share its result,
    /// errors included. Errors are not stored.
    ///
    /// With a `current` token (in its refresh window) nobody waits: a
    /// caller that finds a resolve under way keeps the current token, and
    /// the one that renews gets it back if its renewal fails; a renewal
    /// that fails or brings nothing fresher counts against the token's
    /// [`MAX_RENEWALS`].
    pub(crate) fn resolve_once(
        &self,
        owner: Owner,
        workspace_id: &str,
        provider: &str,
        call: Call<CachedToken>,
        resolve: impl FnOnce() -> Result<CachedToken, NexusError>,
    ) -> Result<CachedToken, NexusError> {
        let key = (owner, workspace_id.to_owned(), provider.to_owned());
        let current = call.current;
        let load = || match (self.lookup(Some(owner), workspace_id, provider), &current) {
            // Stored by a resolve that landed between our look and this one.
            (Lookup::Fresh(token), _) | (Lookup::Renew(token), None) => Ok((token, false)),
            (_, Some(current)) => resolve().map(|t| (t, true)).inspect_err(|e| {
                log::warn!(
                    target: crate::redact::LOG_TARGET,
                    "Early renewal failed ({}); keeping the current token",
                    e.code
                );
                self.renewal_failed(workspace_id, current);
            }),
            (Lookup::Miss, None) => resolve().map(|t| (t, true)),
        };
        let keep = |(token, resolved): (CachedToken, bool)| {
            if resolved {
                // A renewal that brought nothing fresher counts as one that failed.
                let renewals = match &current {
                    Some(c) if token.expires_at() <= c.expires_at() => {
                        self.renewal_failed(workspace_id, c)
                    }
                    _ => 0,
                };
                self.store(owner, workspace_id, provider, token.clone(), renewals);
            }
            (token, resolved)
        };
        let call = Call {
            wait: call.wait,
            current: current.clone().map(|token| (token, false)),
            deadline: call.deadline,
        };
        match (self.flights.run(&key, call, load, keep), current) {
            (Ok((token, _)), _) => Ok(token),
            (Err(_), Some(current)) => Ok(current),
            (Err(e), None) => Err(e),
        }
    }
}

impl Map {
    /// Counts a use, and purges once as many uses as the map holds entries
    /// (at least [`USES_PER_PURGE`]) were made since the last purge: a
    /// purge's cost is spread over the uses that grew the map.
    fn used(&mut self, now: SystemTime) {
        self.uses += 1;
        if self.uses < self.len.max(USES_PER_PURGE) {
            return;
        }
        self.uses = 0;
        self.entries.retain(|_, list| {
            list.retain(|e| e.evict_at >= now);
            !list.is_empty()
        });
        self.len = self.entries.values().map(Vec::len).sum();
    }

    /// Removes the workspace's entries that match.
    fn remove(&mut self, workspace_id: &str, matches: impl Fn(&Entry) -> bool) {
        let Some(list) = self.entries.get_mut(workspace_id) else {
            return;
        };
        let before = list.len();
        list.retain(|e| !matches(e));
        self.len -= before - list.len();
        if list.is_empty() {
            self.entries.remove(workspace_id);
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
    use std::sync::Barrier;
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
    use std::thread;

    /// Two clients' owner ids.
    const ME: Owner = 7;
    const OTHER: Owner = 8;

    /// What a caller brings to a resolve: 30 s to wait, no deadline.
    fn join(current: Option<CachedToken>) -> Call<CachedToken> {
        Call {
            wait: Duration::from_secs(30),
            current,
            deadline: None,
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
        cache.delete_entry(ME, "w", "p", &old);
        let stored = cache.get("w", "p").expect("same text, another entry: kept");
        cache.delete_entry(ME, "w", "p", &stored);
        assert!(cache.get("w", "p").is_none());
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

    /// The token due for renewal at the test clock's `at` seconds.
    fn due(cache: &TokenCache, offset: &AtomicU64, at: u64) -> Option<CachedToken> {
        offset.store(at, Ordering::Relaxed);
        match cache.lookup(Some(ME), "w", "p") {
            Lookup::Renew(t) => Some(t),
            _ => None,
        }
    }

    #[test]
    fn a_failed_renewal_keeps_the_token_and_is_tried_at_most_twice() {
        let (cache, offset, start) = on_test_clock();
        let old = CachedToken::bearer("old", start + Duration::from_secs(3630));
        cache.set("w", "p", old);
        assert!(due(&cache, &offset, 3_000).is_none(), "before the window");
        let calls = AtomicUsize::new(0);
        let fail = || {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(NexusError::new("http_503", "down"))
        };
        let current = due(&cache, &offset, 3_400).expect("in the last 5 minutes before the buffer");
        let kept = cache.resolve_once(ME, "w", "p", join(Some(current)), fail);
        assert_eq!(kept.unwrap().access_token(), "old");
        // Not again at once: at half the 200 s left.
        assert!(due(&cache, &offset, 3_401).is_none());
        assert!(due(&cache, &offset, 3_499).is_none());
        let current = due(&cache, &offset, 3_500).expect("one more try at half the time left");
        cache
            .resolve_once(ME, "w", "p", join(Some(current)), fail)
            .unwrap();
        for at in [3_501, 3_550, 3_599, 3_600] {
            assert!(
                due(&cache, &offset, at).is_none(),
                "never a third time ({at})"
            );
            assert_eq!(cache.get("w", "p").unwrap().access_token(), "old");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_renewal_that_brings_nothing_fresher_costs_at_most_two_calls() {
        let (cache, offset, start) = on_test_clock();
        let expires = start + Duration::from_secs(3630);
        cache.set("w", "p", CachedToken::bearer("same", expires));
        let calls = AtomicUsize::new(0);
        // Used once a second through the whole window: the Gateway answers
        // the same expiry each time.
        for at in 3_300..=3_600 {
            if let Some(current) = due(&cache, &offset, at) {
                let same = || {
                    calls.fetch_add(1, Ordering::SeqCst);
                    Ok(CachedToken::bearer("same", expires))
                };
                cache
                    .resolve_once(ME, "w", "p", join(Some(current)), same)
                    .unwrap();
            }
        }
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_fresher_renewal_starts_the_tokens_life_again() {
        let (cache, offset, start) = on_test_clock();
        cache.set(
            "w",
            "p",
            CachedToken::bearer("old", start + Duration::from_secs(3630)),
        );
        let current = due(&cache, &offset, 3_400).unwrap();
        let fresh = || {
            Ok(CachedToken::bearer(
                "new",
                start + Duration::from_secs(7230),
            ))
        };
        cache
            .resolve_once(ME, "w", "p", join(Some(current)), fresh)
            .unwrap();
        assert!(due(&cache, &offset, 3_401).is_none());
        assert!(
            due(&cache, &offset, 7_000).is_some(),
            "the new token's own window"
        );
    }

    #[test]
    fn set_wins_over_a_resolve_in_flight() {
        let cache = TokenCache::new();
        let (started, stored) = (Barrier::new(2), Barrier::new(2));
        thread::scope(|s| {
            let leader = s.spawn(|| {
                cache.resolve_once(ME, "w", "p", join(None), || {
                    started.wait();
                    stored.wait();
                    Ok(token("older", Duration::from_secs(600)))
                })
            });
            started.wait();
            cache.set("w", "p", token("mine", Duration::from_secs(600)));
            stored.wait();
            assert_eq!(leader.join().unwrap().unwrap().access_token(), "older");
        });
        assert_eq!(cache.get("w", "p").unwrap().access_token(), "mine");
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn stale_tokens_stored_one_after_another_are_purged_in_bounded_batches() {
        let (cache, offset, start) = on_test_clock();
        offset.store(1_000, Ordering::Relaxed);
        // Stale on arrival: inside the 30 s buffer.
        let stale = CachedToken::bearer("t", start + Duration::from_secs(1_010));
        let mut most = 0;
        for i in 0..10_000 {
            cache.set(&format!("w{i}"), "p", stale.clone());
            most = most.max(cache.len());
        }
        assert!(
            most <= 2 * USES_PER_PURGE,
            "held {most} stale entries at once"
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
        for _ in 0..USES_PER_PURGE {
            assert!(cache.get("w95", "p").is_some());
        }
        assert_eq!(cache.len(), 10);
        assert_eq!(
            cache.map.lock().entries.len(),
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
