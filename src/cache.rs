//! [`TokenCache`]: access tokens per (workspace, provider), evicted a
//! buffer before they expire: one map behind one mutex. The token path has
//! its home here: [`TokenCache::token`] looks a key up once, answers a
//! fresh hit, and otherwise runs the single flight with the renewal rule.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;

use crate::budget::Budget;
use crate::error::{NexusError, require};
use crate::flight::{Landing, SingleFlight, Wait};
use crate::redact::{BUFFER_TARGET, LOG_TARGET, escape};
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

/// A purge scans the map once per as many uses as it held entries after
/// the last purge, and at least this many.
const USES_PER_PURGE: usize = 64;

/// A (workspace, provider) pair and the client asking for it: checked once,
/// where a public call enters, and then the one way the token path names it.
#[derive(Clone, Copy)]
pub(crate) struct Key<'a> {
    pub(crate) owner: Owner,
    pub(crate) workspace: &'a str,
    pub(crate) provider: &'a str,
}

/// A key as the single flight holds it.
type Flight = (Owner, Box<str>, Box<str>);

/// `workspace=… provider=…`, escaped, as log lines name a key.
impl std::fmt::Display for Key<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (ws, p) = (escape(self.workspace), escape(self.provider));
        write!(f, "workspace={ws} provider={p}")
    }
}

impl<'a> Key<'a> {
    /// The key, or `invalid_input` for a blank workspace or provider.
    pub(crate) fn new(
        owner: Owner,
        workspace: &'a str,
        provider: &'a str,
    ) -> Result<Self, NexusError> {
        require("workspace_id", workspace)?;
        require("provider", provider)?;
        let key = Key::for_anyone(workspace, provider);
        Ok(Key { owner, ..key })
    }

    /// The pair as the public calls name it: any owner's.
    fn for_anyone(workspace: &'a str, provider: &'a str) -> Self {
        Key {
            owner: ANYONE,
            workspace,
            provider,
        }
    }

    fn flight_key(&self) -> Flight {
        (self.owner, self.workspace.into(), self.provider.into())
    }
}

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
/// once per as many uses (reads or stores) as it held entries after the
/// last purge (at least 64), so its memory follows the live set whatever
/// the workload, and no store or read pays for the whole map.
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
    /// Resolves under way, one lock per key.
    flights: SingleFlight<Flight, CachedToken>,
    /// The keys whose tokens were too short-lived to keep, said once each.
    too_short: Mutex<HashSet<Flight>>,
}

/// The entries, and what the purge needs to stay cheap.
#[derive(Default)]
struct Map {
    /// Workspace → its entries (a few providers, a few owners each).
    entries: BTreeMap<Box<str>, Vec<Entry>>,
    /// How many entries `entries` holds.
    len: usize,
    /// Reads and stores since the last purge, and how many the next waits
    /// for (at least [`USES_PER_PURGE`]).
    uses: usize,
    purge_at: usize,
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
    /// Renewals tried that failed or brought no fresher token.
    renewals: u8,
}

impl Entry {
    /// Whether the key may use it: its owner's, or stored for anyone; any
    /// owner's for a key of [`ANYONE`] (what the public calls see).
    fn is_for(&self, key: &Key<'_>) -> bool {
        let owner = self.owner == key.owner || self.owner == ANYONE || key.owner == ANYONE;
        &*self.provider == key.provider && owner
    }
}

/// What the cache holds for a key.
enum Lookup {
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
fn due_times(
    expires_at: SystemTime,
    buffer: Duration,
    now: SystemTime,
) -> (SystemTime, SystemTime) {
    let evict_at = evict_at(expires_at, buffer);
    let usable = evict_at.duration_since(now).unwrap_or_default();
    let window = (usable / 10)
        .clamp(Duration::from_secs(10), Duration::from_secs(300))
        .min(usable / 2);
    (evict_at - window, evict_at)
}

/// The last instant a token expiring at `expires_at` is handed out.
fn evict_at(expires_at: SystemTime, buffer: Duration) -> SystemTime {
    expires_at.checked_sub(buffer).unwrap_or(UNIX_EPOCH)
}

/// Whether `token`, handed out until `evict_at`, may be handed out `now`:
/// the one rule, for a lookup, a renewal and the purge.
fn usable(token: &CachedToken, evict_at: SystemTime, now: SystemTime) -> bool {
    now <= evict_at && !token.is_rejected()
}

/// When a token whose renewals failed or brought nothing fresher
/// `renewals` times is renewed next: at half the time it has left, and
/// never after the last.
fn retry_at(renewals: u8, evict_at: SystemTime, now: SystemTime) -> SystemTime {
    let left = evict_at.duration_since(now).unwrap_or_default();
    if renewals < MAX_RENEWALS {
        now + left / 2
    } else {
        evict_at + Duration::from_nanos(1)
    }
}

/// The owner id of a client's cache entries: a hash of its Gateway URL and
/// api key (so clients built alike share entries, and clones do), never
/// [`ANYONE`]. SipHash with fixed keys: stable within a process and hard to
/// make two configurations collide on.
pub(crate) fn owner_of(gateway_url: &str, api_key: &str) -> Owner {
    use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
    let hash = BuildHasherDefault::<DefaultHasher>::default().hash_one((gateway_url, api_key));
    hash.max(ANYONE + 1)
}

/// The eviction buffer of [`TokenCache::new`]: a token is not handed out
/// in the last 30 s before it expires.
pub const DEFAULT_BUFFER: Duration = Duration::from_secs(30);

impl TokenCache {
    /// An empty cache with a 30 s eviction buffer ([`DEFAULT_BUFFER`]).
    pub fn new() -> Self {
        TokenCache::with_buffer(DEFAULT_BUFFER)
    }

    /// An empty cache that evicts tokens `buffer` before they expire
    /// (Python `TokenCache(buffer_seconds=…)`).
    pub fn with_buffer(buffer: Duration) -> Self {
        TokenCache {
            buffer,
            clock: None,
            map: Mutex::default(),
            flights: SingleFlight::default(),
            too_short: Mutex::default(),
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
        let clock = self.clock.as_ref();
        clock.map_or_else(SystemTime::now, |now| now())
    }

    /// The pair's token, unless it is missing or within the buffer of its
    /// expiry (then it is dropped): the one stored last, by
    /// [`set`](Self::set) or by a client's resolve.
    pub fn get(&self, workspace_id: &str, provider: &str) -> Option<CachedToken> {
        match self.find(&Key::for_anyone(workspace_id, provider)) {
            Lookup::Fresh(token) | Lookup::Renew(token) => Some(token),
            Lookup::Miss => None,
        }
    }

    /// The key's token: a fresh hit at once; otherwise one `resolve` for
    /// every concurrent caller (within `budget`, made only now), stored
    /// unless the pair was set or deleted meanwhile or the token arrived
    /// inside its buffer. Errors are shared, never stored.
    ///
    /// In its refresh window a token is renewed by one caller, within half
    /// the time that caller has left, while everyone else keeps it; a
    /// renewal that fails or brings no fresher token is not stored, counts
    /// against the token's [`MAX_RENEWALS`], and its caller keeps the
    /// current token, unless that stopped being usable meanwhile: then it
    /// resolves with the time it has left.
    pub(crate) fn token(
        &self,
        key: Key<'_>,
        budget: impl FnOnce() -> Budget,
        resolve: impl Fn(&Budget) -> Result<CachedToken, NexusError>,
    ) -> Result<CachedToken, NexusError> {
        let (budget, current) = match self.find(&key) {
            Lookup::Fresh(token) => {
                log::debug!(target: LOG_TARGET, "Using cached token for {key}");
                return Ok(token);
            }
            Lookup::Renew(token) => (budget(), token),
            Lookup::Miss => return self.load(key, &budget(), &resolve),
        };
        if let Some(token) = self.renew(key, &budget, current, &resolve) {
            return Ok(token);
        }
        self.load(key, &budget, &resolve).map_err(|mut e| {
            e.message
                .push_str("; the cached token expired while it was renewed");
            e
        })
    }

    /// The key's token if it is fresh (not yet in its refresh window).
    pub(crate) fn fresh(&self, key: Key<'_>) -> Option<CachedToken> {
        match self.find(&key) {
            Lookup::Fresh(token) => Some(token),
            Lookup::Renew(_) | Lookup::Miss => None,
        }
    }

    /// What the map holds for `key` (the last stored that the key may
    /// use). Entries past their eviction instant, or rejected by an
    /// upstream, are dropped.
    fn find(&self, key: &Key<'_>) -> Lookup {
        let now = self.now();
        let mut map = self.map.lock();
        map.used(now);
        let (mut lookup, mut stale) = (Lookup::Miss, false);
        let mine = map.entries.get(key.workspace).into_iter().flatten().rev();
        for e in mine.filter(|e| e.is_for(key)) {
            if !usable(&e.token, e.evict_at, now) {
                stale = true;
            } else if now < e.refresh_at {
                lookup = Lookup::Fresh(e.token.clone());
                break;
            } else {
                lookup = Lookup::Renew(e.token.clone());
                break;
            }
        }
        if stale {
            map.remove(key.workspace, |e| {
                e.is_for(key) && !usable(&e.token, e.evict_at, now)
            });
        }
        lookup
    }

    /// The miss path: one resolve for every caller of the key, unless the
    /// caller finds a token when it looks again inside the flight (another
    /// caller's resolve landed since its first look).
    fn load(
        &self,
        key: Key<'_>,
        budget: &Budget,
        resolve: &impl Fn(&Budget) -> Result<CachedToken, NexusError>,
    ) -> Result<CachedToken, NexusError> {
        let load = || match self.find(&key) {
            Lookup::Fresh(token) | Lookup::Renew(token) => Ok(token),
            Lookup::Miss => resolve(budget),
        };
        let keep = |result: Result<CachedToken, NexusError>| {
            match result.as_ref() {
                Ok(token) if self.is_usable(token) => self.store(key, token.clone()),
                Ok(token) => self.too_short_to_keep(key, token),
                Err(_) => {}
            }
            Landing::All(result)
        };
        self.flights
            .run(&key.flight_key(), budget, Wait::Budget, load, keep)
    }

    /// Says once per key that its token, still valid, is handed out but not
    /// kept: it expires within the buffer, so every call resolves again.
    fn too_short_to_keep(&self, key: Key<'_>, token: &CachedToken) {
        let Ok(lifetime) = token.expires_at().duration_since(self.now()) else {
            return; // Expired already: the resolve said so.
        };
        if self.too_short.lock().insert(key.flight_key()) {
            log::warn!(target: BUFFER_TARGET, "The token for {key} expires in {}s, within the cache's {}s buffer: it is handed out but not kept, so each call resolves again; a shorter buffer (TokenCache::with_buffer) keeps it", lifetime.as_secs(), self.buffer.as_secs());
        }
    }

    /// Renews `current` within half of `budget`; `None` when the renewal
    /// brought nothing fresher and `current` stopped being usable meanwhile.
    /// Inside the flight it looks again: a token that is fresh there (a
    /// renewal landed, or one recorded as failed pushed the next renewal
    /// later) is the answer, so no two callers renew one token in a row.
    fn renew(
        &self,
        key: Key<'_>,
        budget: &Budget,
        current: CachedToken,
        resolve: &impl Fn(&Budget) -> Result<CachedToken, NexusError>,
    ) -> Option<CachedToken> {
        let half = budget.part(2);
        let load = || {
            if let Lookup::Fresh(token) = self.find(&key) {
                return Ok(token);
            }
            resolve(&half).inspect_err(|e| {
                log::warn!(target: LOG_TARGET, "Early renewal failed ({}); keeping the current token", escape(&e.code));
                self.renewal_failed(key, &current);
            })
        };
        let keep = |result: Result<CachedToken, NexusError>| match result {
            // Looked again and found the current token, its renewal put off.
            Ok(token) if token.same_entry(&current) => Landing::Loader(Ok(token)),
            Ok(token) if self.is_fresher(&token, &current) => {
                self.store(key, token.clone());
                Landing::All(Ok(token))
            }
            other => {
                if other.is_ok() {
                    log::warn!(target: LOG_TARGET, "Early renewal brought no fresher token; keeping the current one");
                    self.renewal_failed(key, &current);
                }
                Landing::Loader(other)
            }
        };
        match self
            .flights
            .run(&key.flight_key(), &half, Wait::Never, load, keep)
        {
            Ok(token) if self.is_fresher(&token, &current) => Some(token),
            _ => self.is_usable(&current).then_some(current),
        }
    }

    /// Whether `token` may be handed out now: before its buffer, and not
    /// rejected by an upstream.
    fn is_usable(&self, token: &CachedToken) -> bool {
        usable(token, evict_at(token.expires_at(), self.buffer), self.now())
    }

    /// Whether `token` may replace `current`: it expires later, and is usable.
    fn is_fresher(&self, token: &CachedToken, current: &CachedToken) -> bool {
        token.expires_at() > current.expires_at() && self.is_usable(token)
    }

    /// Stores `token` for the pair, for every client: it replaces every
    /// entry of the pair, whoever resolved it, and a resolve of the pair
    /// under way when it is stored does not overwrite it.
    pub fn set(&self, workspace_id: &str, provider: &str, token: CachedToken) {
        let any = Key::for_anyone(workspace_id, provider);
        self.detach(any, || self.store(any, token));
    }

    /// Stores `token` as the key owner's entry (an application's token
    /// replaces every owner's), unless it is that entry already.
    fn store(&self, key: Key<'_>, token: CachedToken) {
        let now = self.now();
        let (refresh_at, evict_at) = due_times(token.expires_at(), self.buffer, now);
        let mut map = self.map.lock();
        map.used(now);
        let mut mine = map.entries.get(key.workspace).into_iter().flatten();
        if mine.any(|e| e.is_for(&key) && e.token.same_entry(&token)) {
            return;
        }
        map.remove(key.workspace, |e| e.is_for(&key));
        // Most workspaces hold one provider's token: no room kept for more.
        let list = map
            .entries
            .entry(key.workspace.into())
            .or_insert_with(|| Vec::with_capacity(1));
        list.push(Entry {
            provider: key.provider.into(),
            owner: key.owner,
            token,
            refresh_at,
            evict_at,
            renewals: 0,
        });
        map.len += 1;
    }

    /// A renewal of `current` failed or brought nothing fresher: its entry,
    /// if still there, counts it and is renewed again later, or never.
    fn renewal_failed(&self, key: Key<'_>, current: &CachedToken) {
        let now = self.now();
        let mut map = self.map.lock();
        let list = map.entries.get_mut(key.workspace).into_iter().flatten();
        for entry in list.filter(|e| e.token.same_entry(current)) {
            entry.renewals = entry.renewals.saturating_add(1);
            entry.refresh_at = retry_at(entry.renewals, entry.evict_at, now);
        }
    }

    /// Forgets the pair's tokens, every client's. Resolves of the pair
    /// already under way are returned to their callers but not stored.
    pub fn delete(&self, workspace_id: &str, provider: &str) {
        let any = Key::for_anyone(workspace_id, provider);
        self.detach(any, || {
            self.map.lock().remove(workspace_id, |e| e.is_for(&any))
        });
    }

    /// Runs `then` with every resolve of the key's pair under way, every
    /// client's, detached: none of them is stored, before or after `then`.
    fn detach(&self, key: Key<'_>, then: impl FnOnce()) {
        let matches = |(_, ws, p): &Flight| **ws == *key.workspace && **p == *key.provider;
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

    /// Forgets the key's token only if it is still the entry `token` came
    /// from (not merely the same text), so that many threads meeting the
    /// same rejected token drop it once.
    pub(crate) fn delete_entry(&self, key: Key<'_>, token: &CachedToken) {
        self.map.lock().remove(key.workspace, |e| {
            e.is_for(&key) && e.token.same_entry(token)
        });
    }
}

impl Map {
    /// Counts a use, and purges once as many uses were made since the last
    /// purge as it left entries (at least [`USES_PER_PURGE`]): a purge's
    /// cost is spread over the uses since the last, whether they read or
    /// stored new pairs.
    fn used(&mut self, now: SystemTime) {
        self.uses += 1;
        if self.uses < self.purge_at.max(USES_PER_PURGE) {
            return;
        }
        self.entries.retain(|_, list| {
            list.retain(|e| usable(&e.token, e.evict_at, now));
            !list.is_empty()
        });
        self.len = self.entries.values().map(Vec::len).sum();
        (self.uses, self.purge_at) = (0, self.len);
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

    fn key(owner: Owner) -> Key<'static> {
        Key::new(owner, "w", "p").unwrap()
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

    /// `owner`'s token through the cache, `resolve` answering a miss or a
    /// renewal; the caller has 30 s.
    fn through(
        cache: &TokenCache,
        owner: Owner,
        resolve: impl Fn() -> Result<CachedToken, NexusError>,
    ) -> Result<CachedToken, NexusError> {
        let budget = || crate::budget::test_budget(Duration::from_secs(30));
        cache.token(key(owner), budget, |_| resolve())
    }

    fn resolve(cache: &TokenCache, owner: Owner, value: &str) -> CachedToken {
        through(cache, owner, || Ok(token(value, Duration::from_secs(3600)))).unwrap()
    }

    /// What `owner` finds for the pair, as a fresh hit's text.
    fn fresh(cache: &TokenCache, owner: Owner) -> Option<String> {
        cache.fresh(key(owner)).map(|t| t.access_token().to_owned())
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
        assert_eq!(Key::new(ME, " ", "p").err().unwrap().code, "invalid_input");
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
            let found = cache
                .fresh(key(owner))
                .expect("the stored token is every client's");
            assert!(found.same_entry(&mine));
        }
        assert_eq!(cache.len(), 1, "it replaced the client's entry");
    }

    #[test]
    fn a_resolved_token_is_only_its_clients() {
        let cache = TokenCache::new();
        resolve(&cache, ME, "gateway-a");
        assert_eq!(fresh(&cache, OTHER), None);
        resolve(&cache, OTHER, "gateway-b");
        assert_eq!(
            (fresh(&cache, ME), fresh(&cache, OTHER)),
            (Some("gateway-a".into()), Some("gateway-b".into()))
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
        cache.delete_entry(key(ME), &old);
        let stored = cache.get("w", "p").expect("same text, another entry: kept");
        cache.delete_entry(key(ME), &stored);
        assert!(cache.get("w", "p").is_none());
    }

    #[test]
    fn a_clear_wins_over_a_resolve_in_flight() {
        let cache = TokenCache::new();
        let (started, cleared) = (Barrier::new(2), Barrier::new(2));
        thread::scope(|s| {
            let leader = s.spawn(|| {
                through(&cache, ME, || {
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
    fn a_token_that_arrives_inside_its_buffer_goes_to_its_callers_only() {
        let cache = TokenCache::new();
        let calls = AtomicUsize::new(0);
        for _ in 0..3 {
            let short = through(&cache, ME, || {
                calls.fetch_add(1, Ordering::SeqCst);
                Ok(token("short", Duration::from_secs(20)))
            });
            assert_eq!(short.unwrap().access_token(), "short");
        }
        assert!(cache.is_empty(), "never stored");
        assert_eq!(calls.into_inner(), 3, "each use resolves again");
    }

    /// Moves the test clock to `at` seconds; whether the token is due for renewal there.
    fn due(cache: &TokenCache, offset: &AtomicU64, at: u64) -> bool {
        offset.store(at, Ordering::Relaxed);
        matches!(cache.find(&key(ME)), Lookup::Renew(_))
    }

    #[test]
    fn a_failed_renewal_keeps_the_token_and_is_tried_at_most_twice() {
        let (cache, offset, start) = on_test_clock();
        let old = CachedToken::bearer("old", start + Duration::from_secs(3630));
        cache.set("w", "p", old);
        assert!(!due(&cache, &offset, 3_000), "before the window");
        let calls = AtomicUsize::new(0);
        let fail = || {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(NexusError::new("http_503", "down"))
        };
        assert!(
            due(&cache, &offset, 3_400),
            "in the last 5 minutes before the buffer"
        );
        assert_eq!(through(&cache, ME, fail).unwrap().access_token(), "old");
        // Not again at once: at half the 200 s left.
        assert!(!due(&cache, &offset, 3_401));
        assert!(!due(&cache, &offset, 3_499));
        assert!(
            due(&cache, &offset, 3_500),
            "one more try at half the time left"
        );
        through(&cache, ME, fail).unwrap();
        for at in [3_501, 3_550, 3_599, 3_600] {
            assert!(!due(&cache, &offset, at), "never a third time ({at})");
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
            offset.store(at, Ordering::Relaxed);
            let same = || {
                calls.fetch_add(1, Ordering::SeqCst);
                Ok(CachedToken::bearer("same", expires))
            };
            through(&cache, ME, same).unwrap();
        }
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_renewal_never_replaces_the_current_token_with_a_worse_one() {
        let (cache, offset, start) = on_test_clock();
        let current = CachedToken::bearer("current", start + Duration::from_secs(3630));
        offset.store(3_500, Ordering::Relaxed); // valid 130 s more, in its window
        for worse in [
            start + Duration::from_secs(3_430), // expired 70 s ago
            start + Duration::from_secs(3_520), // inside its 30 s buffer
            start + Duration::from_secs(3_630), // the same expiry
        ] {
            cache.set("w", "p", current.clone());
            let got = through(&cache, ME, || Ok(CachedToken::bearer("worse", worse)));
            assert!(
                got.unwrap().same_entry(&current),
                "the current token goes on"
            );
            assert!(
                cache.get("w", "p").unwrap().same_entry(&current),
                "and stays"
            );
        }
    }

    #[test]
    fn a_token_that_expires_while_its_renewal_runs_is_never_handed_out() {
        let (cache, offset, start) = on_test_clock();
        let current = CachedToken::bearer("current", start + Duration::from_secs(100));
        cache.set("w", "p", current);
        offset.store(65, Ordering::Relaxed); // in its window: 5 s before the buffer
        let calls = AtomicUsize::new(0);
        let got = through(&cache, ME, || {
            // The first call (the renewal) outlives the token, and fails.
            if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                offset.store(80, Ordering::Relaxed);
                return Err(NexusError::timeout("held at the Gateway"));
            }
            Ok(CachedToken::bearer(
                "next",
                start + Duration::from_secs(3700),
            ))
        });
        assert_eq!(
            got.unwrap().access_token(),
            "next",
            "resolved with the time left"
        );
        assert_eq!(calls.into_inner(), 2);
        // And with no time left, an error that says so.
        let (cache, offset, start) = on_test_clock();
        cache.set(
            "w",
            "p",
            CachedToken::bearer("current", start + Duration::from_secs(100)),
        );
        offset.store(65, Ordering::Relaxed);
        let err = through(&cache, ME, || {
            offset.store(80, Ordering::Relaxed);
            Err(NexusError::timeout("held at the Gateway"))
        })
        .unwrap_err();
        assert_eq!(err.code, "timeout");
        // The cause first, what it cost after it.
        let said = "held at the Gateway; the cached token expired while it was renewed";
        assert_eq!(err.message, said, "{err}");
    }

    /// Two hours and thirty seconds: a renewed token's expiry from the start.
    const HOURS_2: Duration = Duration::from_secs(7230);

    /// A cache holding `old` (an hour of life) at a test clock moved into
    /// its refresh window; the clock's offset and its start.
    fn due_for_renewal() -> (TokenCache, Arc<AtomicU64>, SystemTime) {
        let (cache, offset, start) = on_test_clock();
        let old = CachedToken::bearer("old", start + Duration::from_secs(3630));
        cache.set("w", "p", old);
        offset.store(3_400, Ordering::Relaxed);
        (cache, offset, start)
    }

    #[test]
    fn a_renewal_that_lands_while_another_caller_looks_is_shared_not_repeated() {
        let (cache, _, start) = due_for_renewal();
        // This caller looks (the token is due), and before it renews another
        // caller's renewal lands in a lock of its own.
        let Lookup::Renew(current) = cache.find(&key(ME)) else {
            panic!("due for renewal")
        };
        let fresh = || Ok(CachedToken::bearer("new", start + HOURS_2));
        through(&cache, ME, fresh).unwrap();
        let budget = crate::budget::test_budget(Duration::from_secs(30));
        let never = |_: &Budget| -> Result<CachedToken, NexusError> { panic!("a second renewal") };
        let got = cache.renew(key(ME), &budget, current, &never).unwrap();
        assert_eq!(got.access_token(), "new");
    }

    #[test]
    fn a_renewal_recorded_as_failed_while_another_caller_looked_is_not_repeated() {
        let (cache, _, _) = due_for_renewal();
        // This caller looks (the token is due); before it renews, another
        // caller's renewal fails and is recorded (the next put off).
        let Lookup::Renew(current) = cache.find(&key(ME)) else {
            panic!("due for renewal")
        };
        let failing = || Err(NexusError::request_failed("down"));
        assert_eq!(through(&cache, ME, failing).unwrap().access_token(), "old");
        let budget = crate::budget::test_budget(Duration::from_secs(30));
        let never = |_: &Budget| -> Result<CachedToken, NexusError> { panic!("a second renewal") };
        let got = cache.renew(key(ME), &budget, current, &never).unwrap();
        assert_eq!(
            got.access_token(),
            "old",
            "the current token, no Gateway call"
        );
    }

    #[test]
    fn a_fresher_renewal_starts_the_tokens_life_again() {
        let (cache, offset, start) = due_for_renewal();
        let fresh = || Ok(CachedToken::bearer("new", start + HOURS_2));
        assert_eq!(through(&cache, ME, fresh).unwrap().access_token(), "new");
        assert!(!due(&cache, &offset, 3_401));
        assert!(due(&cache, &offset, 7_000), "the new token's own window");
    }

    #[test]
    fn set_wins_over_a_resolve_in_flight() {
        let cache = TokenCache::new();
        let (started, stored) = (Barrier::new(2), Barrier::new(2));
        thread::scope(|s| {
            let leader = s.spawn(|| {
                through(&cache, ME, || {
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
    fn memory_follows_the_live_set_when_every_use_stores_a_new_pair() {
        let (cache, offset, start) = on_test_clock();
        let store = |from: usize, to: usize, at: u64| {
            for i in from..to {
                let expires = start + Duration::from_secs(at + 60);
                cache.set(&format!("w{i}"), "p", CachedToken::bearer("t", expires));
            }
        };
        store(0, 10_000, 0);
        offset.store(120, Ordering::Relaxed); // all 10,000 expired
        store(10_000, 30_000, 120);
        assert!(
            cache.len() <= 20_000,
            "{} entries for 20,000 live",
            cache.len()
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
        for _ in 0..100 {
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
