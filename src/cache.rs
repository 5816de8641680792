//! [`TokenCache`]: access tokens per (workspace, provider), evicted a
//! buffer before they expire, with single-flight resolution of misses.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use parking_lot::{Condvar, Mutex, RwLock};

use crate::error::NexusError;
use crate::token::CachedToken;

/// Tokens for (workspace, provider) pairs (Python `TokenCache`).
///
/// `get` drops and misses a token once `now > expires_at - buffer`, so a
/// token is never handed out in the last `buffer` (30 s by default) of its
/// life. Share it by reference or in an `Arc`. Keys are the pair itself:
/// `("a:b", "c")` and `("a", "b:c")` are different entries.
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
    /// workspace → provider → entry: looked up by `&str` without allocating.
    tokens: RwLock<FastMap<String, FastMap<String, Entry>>>,
    /// Resolves under way, one per key.
    flights: Mutex<FastMap<(String, String), Arc<Flight>>>,
}

/// A `HashMap` with [`FxHasher`].
type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// The multiply-rotate hash rustc uses for its own tables (rustc-hash 2).
///
/// SipHash, std's default, was about a fifth of the instructions of a
/// cache hit (`benches/cache.rs`). Its resistance to collision flooding
/// buys nothing here: the token map only holds pairs the Gateway resolved,
/// and a flight lives only while its resolve does.
#[derive(Default, Clone, Copy)]
struct FxHasher {
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

/// A stored token and the instant it stops being handed out.
struct Entry {
    token: CachedToken,
    /// `expires_at - buffer`; `None` when that is before the epoch (always stale).
    evict_at: Option<SystemTime>,
}

impl Entry {
    fn is_fresh(&self, now: SystemTime) -> bool {
        self.evict_at.is_some_and(|at| now <= at)
    }
}

/// One resolve under way; waiters block on `done` until `result` is set.
#[derive(Default)]
struct Flight {
    result: Mutex<Option<Result<CachedToken, NexusError>>>,
    done: Condvar,
    /// Set by a `delete` of the pair: the result is returned, not stored.
    cleared: AtomicBool,
}

thread_local! {
    /// The (cache, workspace, provider) keys this thread is resolving now,
    /// to refuse a call that would wait for itself.
    static RESOLVING: RefCell<Vec<(usize, String, String)>> = const { RefCell::new(Vec::new()) };
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
            tokens: RwLock::new(FastMap::default()),
            flights: Mutex::new(FastMap::default()),
        }
    }

    /// The cached token, unless it is missing or within the buffer of its
    /// expiry (then it is dropped).
    pub fn get(&self, workspace_id: &str, provider: &str) -> Option<CachedToken> {
        let now = SystemTime::now();
        let stale = {
            let tokens = self.tokens.read();
            match tokens.get(workspace_id).and_then(|m| m.get(provider)) {
                // Cloned under the shared lock: it blocks no other reader.
                Some(entry) if entry.is_fresh(now) => return Some(entry.token.clone()),
                Some(_) => true,
                None => false,
            }
        };
        if stale {
            // Another thread may have stored a fresh token since the read.
            self.remove_where(workspace_id, provider, |entry| !entry.is_fresh(now));
        }
        None
    }

    /// Stores `token` for the pair, replacing any other.
    pub fn set(&self, workspace_id: &str, provider: &str, token: CachedToken) {
        let entry = Entry {
            evict_at: token.expires_at().checked_sub(self.buffer),
            token,
        };
        self.tokens
            .write()
            .entry(workspace_id.to_owned())
            .or_default()
            .insert(provider.to_owned(), entry);
    }

    /// Forgets the pair's token. A resolve of the pair already under way
    /// is returned to its callers but not stored.
    pub fn delete(&self, workspace_id: &str, provider: &str) {
        {
            let flights = self.flights.lock();
            let key = (workspace_id.to_owned(), provider.to_owned());
            if let Some(flight) = flights.get(&key) {
                flight.cleared.store(true, Ordering::SeqCst);
            }
        }
        self.remove_where(workspace_id, provider, |_| true);
    }

    /// How many tokens are stored, fresh or not.
    pub fn len(&self) -> usize {
        self.tokens.read().values().map(HashMap::len).sum()
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
        workspace_id: &str,
        provider: &str,
        token: &CachedToken,
    ) -> bool {
        self.remove_where(workspace_id, provider, |entry| {
            entry.token.same_entry(token)
        })
    }

    fn remove_where(
        &self,
        workspace_id: &str,
        provider: &str,
        matches: impl Fn(&Entry) -> bool,
    ) -> bool {
        let mut tokens = self.tokens.write();
        let Some(by_provider) = tokens.get_mut(workspace_id) else {
            return false;
        };
        if !by_provider.get(provider).is_some_and(matches) {
            return false;
        }
        by_provider.remove(provider);
        if by_provider.is_empty() {
            tokens.remove(workspace_id);
        }
        true
    }

    /// The miss path: the first caller for a key runs `resolve` (after one
    /// more look in the cache) and stores a fresh result, unless the pair was
    /// deleted meanwhile; callers that arrive meanwhile wait up to `budget`
    /// and share its result, error included. Errors are not stored: the next
    /// miss resolves again. Other keys never wait. A call for the pair from
    /// inside its own resolve fails at once rather than wait for itself.
    pub(crate) fn resolve_once(
        &self,
        workspace_id: &str,
        provider: &str,
        budget: Duration,
        resolve: impl FnOnce() -> Result<CachedToken, NexusError>,
    ) -> Result<CachedToken, NexusError> {
        let key = (workspace_id.to_owned(), provider.to_owned());
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
        };
        let result = match self.get(workspace_id, provider) {
            // Stored by a flight that landed between our miss and this one: no resolve.
            Some(token) => Ok(token),
            None => {
                landing.mark_resolving(true);
                let result = resolve();
                landing.mark_resolving(false);
                landing.resolved = true;
                result
            }
        };
        landing.result = Some(result.clone());
        result
    }

    fn resolving_here(&self, key: &(String, String)) -> bool {
        let id = self as *const TokenCache as usize;
        RESOLVING.with(|r| {
            r.borrow()
                .iter()
                .any(|(c, w, p)| *c == id && *w == key.0 && *p == key.1)
        })
    }
}

impl Flight {
    fn wait(&self, budget: Duration) -> Result<CachedToken, NexusError> {
        let deadline = Instant::now().checked_add(budget);
        let mut result = self.result.lock();
        loop {
            if let Some(result) = result.as_ref() {
                return result.clone();
            }
            match deadline {
                Some(deadline) => {
                    if self.done.wait_until(&mut result, deadline).timed_out() && result.is_none() {
                        return Err(NexusError::timeout(format!(
                            "waited {budget:?} for another caller's resolve of this pair"
                        )));
                    }
                }
                None => self.done.wait(&mut result),
            }
        }
    }
}

/// Publishes a flight's result to its waiters, stores a token unless the
/// pair was deleted meanwhile, and retires the flight.
struct Landing<'a> {
    cache: &'a TokenCache,
    key: (String, String),
    flight: Arc<Flight>,
    result: Option<Result<CachedToken, NexusError>>,
    /// The result came from `resolve` (and so is stored), not from the cache.
    resolved: bool,
}

impl Landing<'_> {
    fn mark_resolving(&self, on: bool) {
        let entry = (
            self.cache as *const TokenCache as usize,
            self.key.0.clone(),
            self.key.1.clone(),
        );
        RESOLVING.with(|r| {
            let mut r = r.borrow_mut();
            match on {
                true => r.push(entry),
                false => r.retain(|e| *e != entry),
            }
        });
    }
}

impl Drop for Landing<'_> {
    fn drop(&mut self) {
        // Retire the flight first: a caller arriving from now on finds the
        // stored token, or (after an error) starts a new flight. Storing
        // under the flights lock orders it against a concurrent `delete`.
        {
            let mut flights = self.cache.flights.lock();
            flights.remove(&self.key);
            if let (true, Some(Ok(token))) = (self.resolved, &self.result) {
                if !self.flight.cleared.load(Ordering::SeqCst) {
                    self.cache.set(&self.key.0, &self.key.1, token.clone());
                }
            }
        }
        if self.result.is_none() {
            self.mark_resolving(false);
        }
        let result = self.result.take().unwrap_or_else(|| {
            Err(NexusError::request_failed(
                "the resolve this call was waiting for panicked",
            ))
        });
        *self.flight.result.lock() = Some(result);
        self.flight.done.notify_all();
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
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::thread;

    fn token(value: &str, lifetime: Duration) -> CachedToken {
        CachedToken::bearer(value, SystemTime::now() + lifetime)
    }

    const BUDGET: Duration = Duration::from_secs(30);

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
            !cache.delete_entry("w", "p", &old),
            "same text, another entry"
        );
        let stored = cache.get("w", "p").unwrap();
        assert!(cache.delete_entry("w", "p", &stored));
        assert!(cache.get("w", "p").is_none());
        assert!(!cache.delete_entry("w", "p", &stored));
    }

    #[test]
    fn a_clear_wins_over_a_resolve_in_flight() {
        let cache = TokenCache::new();
        let started = Barrier::new(2);
        let cleared = Barrier::new(2);
        thread::scope(|s| {
            let leader = s.spawn(|| {
                cache.resolve_once("w", "p", BUDGET, || {
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
        thread::scope(|s| {
            s.spawn(|| {
                cache.resolve_once("w", "p", BUDGET, || {
                    started.wait();
                    thread::sleep(Duration::from_millis(600));
                    Ok(token("slow", Duration::from_secs(600)))
                })
            });
            started.wait();
            let begun = Instant::now();
            let err = cache
                .resolve_once("w", "p", Duration::from_millis(50), || unreachable!())
                .unwrap_err();
            assert_eq!(err.code, "timeout");
            assert!(
                begun.elapsed() < Duration::from_millis(500),
                "{:?}",
                begun.elapsed()
            );
        });
    }

    #[test]
    fn a_reentrant_call_fails_at_once() {
        let cache = TokenCache::new();
        let inner = cache.resolve_once("w", "p", BUDGET, || {
            let nested = cache.resolve_once("w", "p", BUDGET, || unreachable!());
            assert_eq!(nested.unwrap_err().code, "request_failed");
            // Another pair from inside a resolve is fine.
            cache.resolve_once("w", "other", BUDGET, || {
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
                    let got = cache.resolve_once("w", "p", BUDGET, || {
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
            .resolve_once("w", "p", BUDGET, || {
                Err(NexusError::new("http_503", "down"))
            })
            .unwrap_err();
        assert_eq!(err.code, "http_503");
        assert!(cache.get("w", "p").is_none());
        let ok = cache.resolve_once("w", "p", BUDGET, || {
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
                cache.resolve_once("w", "p", BUDGET, || {
                    started.wait();
                    thread::sleep(Duration::from_millis(100));
                    panic!("resolver bug");
                })
            });
            started.wait();
            let waiter = cache.resolve_once("w", "p", BUDGET, || {
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
