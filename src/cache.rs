//! [`TokenCache`]: access tokens per (workspace, provider), evicted a
//! buffer before they expire, with single-flight resolution of misses.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use parking_lot::{Condvar, Mutex, RwLock};

use crate::error::NexusError;
use crate::types::CachedToken;

/// Tokens for (workspace, provider) pairs (Python `TokenCache`).
///
/// `get` drops and misses a token once `now > expires_at - buffer`, so a
/// token is never handed out in the last `buffer` (30 s by default) of its
/// life. Share it by reference or in an `Arc`. Keys are the pair itself:
/// `("a:b", "c")` and `("a", "b:c")` are different entries.
///
/// Hits take a shared read lock only as long as a lookup and a reference
/// count take; the returned copy is made after it is released. No lock is
/// ever held across network I/O.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use nexus_sdk::{CachedToken, TokenCache};
///
/// let cache = TokenCache::new();
/// let token = CachedToken {
///     access_token: "t".into(),
///     token_type: "Bearer".into(),
///     expires_at: SystemTime::now() + Duration::from_secs(3600),
///     header_name: "Authorization".into(),
///     value_prefix: "Bearer ".into(),
///     query_param: None,
/// };
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
            evict_at: token.expires_at.checked_sub(self.buffer),
            token,
        };
        self.tokens
            .write()
            .entry(workspace_id.to_owned())
            .or_default()
            .insert(provider.to_owned(), entry);
    }

    /// Forgets the pair's token.
    pub fn delete(&self, workspace_id: &str, provider: &str) {
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

    /// Forgets the pair's token only if it is still `access_token`, so that
    /// many threads meeting the same rejected token drop it once. Returns
    /// whether it was dropped.
    pub(crate) fn delete_if_token(
        &self,
        workspace_id: &str,
        provider: &str,
        access_token: &str,
    ) -> bool {
        self.remove_where(workspace_id, provider, |entry| {
            entry.token.access_token == access_token
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
    /// more look in the cache) and stores a fresh result; callers that
    /// arrive meanwhile wait and share its result, error included. Errors
    /// are not stored: the next miss resolves again. Other keys never wait.
    pub(crate) fn resolve_once(
        &self,
        workspace_id: &str,
        provider: &str,
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
            return flight.wait();
        }
        // Ends the flight even if `resolve` panics, so no waiter is left hanging.
        let mut landing = Landing {
            cache: self,
            key,
            flight,
            result: None,
        };
        let result = match self.get(workspace_id, provider) {
            Some(token) => Ok(token),
            None => {
                let result = resolve();
                if let Ok(token) = &result {
                    self.set(workspace_id, provider, token.clone());
                }
                result
            }
        };
        landing.result = Some(result.clone());
        result
    }
}

impl Flight {
    fn wait(&self) -> Result<CachedToken, NexusError> {
        let mut result = self.result.lock();
        loop {
            if let Some(result) = result.as_ref() {
                return result.clone();
            }
            self.done.wait(&mut result);
        }
    }
}

/// Publishes a flight's result to its waiters and retires the flight.
struct Landing<'a> {
    cache: &'a TokenCache,
    key: (String, String),
    flight: Arc<Flight>,
    result: Option<Result<CachedToken, NexusError>>,
}

impl Drop for Landing<'_> {
    fn drop(&mut self) {
        // Retire the flight first: a caller arriving from now on finds the
        // stored token, or (after an error) starts a new flight.
        self.cache.flights.lock().remove(&self.key);
        let result = self.result.take().unwrap_or_else(|| {
            Err(NexusError::new(
                "request_failed",
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
        CachedToken {
            access_token: value.into(),
            token_type: "Bearer".into(),
            expires_at: SystemTime::now() + lifetime,
            header_name: "Authorization".into(),
            value_prefix: "Bearer ".into(),
            query_param: None,
        }
    }

    #[test]
    fn keys_are_pairs_not_joined_strings() {
        let cache = TokenCache::new();
        cache.set("a:b", "c", token("one", Duration::from_secs(600)));
        cache.set("a", "b:c", token("two", Duration::from_secs(600)));
        assert_eq!(cache.get("a:b", "c").unwrap().access_token, "one");
        assert_eq!(cache.get("a", "b:c").unwrap().access_token, "two");
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
        let far_past = CachedToken {
            expires_at: SystemTime::UNIX_EPOCH,
            ..token("t", Duration::ZERO)
        };
        cache.set("w", "p", far_past);
        assert!(cache.get("w", "p").is_none());
    }

    #[test]
    fn delete_if_token_only_drops_that_token() {
        let cache = TokenCache::new();
        cache.set("w", "p", token("new", Duration::from_secs(600)));
        assert!(!cache.delete_if_token("w", "p", "old"));
        assert_eq!(cache.get("w", "p").unwrap().access_token, "new");
        assert!(cache.delete_if_token("w", "p", "new"));
        assert!(cache.get("w", "p").is_none());
        assert!(!cache.delete_if_token("w", "p", "new"));
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
                    let got = cache.resolve_once("w", "p", || {
                        calls.fetch_add(1, Ordering::SeqCst);
                        thread::sleep(Duration::from_millis(100));
                        Ok(token("t", Duration::from_secs(600)))
                    });
                    assert_eq!(got.unwrap().access_token, "t");
                });
            }
        });
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn errors_are_shared_but_not_stored() {
        let cache = TokenCache::new();
        let err = cache
            .resolve_once("w", "p", || Err(NexusError::new("http_503", "down")))
            .unwrap_err();
        assert_eq!(err.code, "http_503");
        assert!(cache.get("w", "p").is_none());
        let ok = cache.resolve_once("w", "p", || Ok(token("t", Duration::from_secs(600))));
        assert_eq!(ok.unwrap().access_token, "t");
    }

    #[test]
    fn a_panicking_resolve_releases_its_waiters() {
        let cache = TokenCache::new();
        let started = Barrier::new(2);
        thread::scope(|s| {
            let leader = s.spawn(|| {
                cache.resolve_once("w", "p", || {
                    started.wait();
                    thread::sleep(Duration::from_millis(100));
                    panic!("resolver bug");
                })
            });
            started.wait();
            let waiter =
                cache.resolve_once("w", "p", || Ok(token("unused", Duration::from_secs(600))));
            assert!(leader.join().is_err());
            // Either it joined the panicking flight, or it arrived after and resolved itself.
            match waiter {
                Err(e) => assert_eq!(e.code, "request_failed"),
                Ok(t) => assert_eq!(t.access_token, "unused"),
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
