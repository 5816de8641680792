//! [`TestClock`]: a wall clock a test moves forward, for caches whose
//! expiry, rotation and purge are tested without sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use nexus_sdk::TokenCache;

/// A clock that runs with the system clock, plus whatever a test has
/// [`advance`](Self::advance)d it by; a [`TokenCache`] built from it reads
/// its time there (the AWS SDK's `TimeSource`, for this crate's cache).
///
/// ```
/// use std::time::Duration;
/// use nexus_sdk::CachedToken;
/// use nexus_gateway_fake::TestClock;
///
/// let clock = TestClock::new();
/// let cache = clock.token_cache(Duration::from_secs(30));
/// cache.set("ws", "github", CachedToken::bearer("t", clock.now() + Duration::from_secs(60)));
/// assert!(cache.get("ws", "github").is_some());
/// clock.advance(Duration::from_secs(31)); // inside the 30 s buffer now
/// assert!(cache.get("ws", "github").is_none());
/// ```
#[derive(Clone, Debug, Default)]
pub struct TestClock {
    offset_ms: Arc<AtomicU64>,
    /// Set: the clock is stopped there, and moves only when advanced.
    stopped_at: Option<SystemTime>,
}

impl TestClock {
    /// A clock at the system time.
    pub fn new() -> TestClock {
        TestClock::default()
    }

    /// A clock stopped at the system time now: it moves only when
    /// [`advance`](Self::advance)d, so a test reads exact figures (a
    /// `Retry-After`, a token's remaining life) whatever the machine's pace.
    pub fn stopped() -> TestClock {
        let stopped_at = Some(SystemTime::now());
        TestClock {
            stopped_at,
            ..TestClock::default()
        }
    }

    /// Moves the clock forward by `by` (whole milliseconds), for every
    /// cache built from it.
    pub fn advance(&self, by: Duration) {
        let ms = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.offset_ms.fetch_add(ms, Ordering::Relaxed);
    }

    /// The time this clock reads now.
    pub fn now(&self) -> SystemTime {
        let start = self.stopped_at.unwrap_or_else(SystemTime::now);
        start + Duration::from_millis(self.offset_ms.load(Ordering::Relaxed))
    }

    /// An empty [`TokenCache`] with this eviction `buffer` that reads its
    /// time from this clock.
    pub fn token_cache(&self, buffer: Duration) -> TokenCache {
        let clock = self.clone();
        TokenCache::with_clock(buffer, move || clock.now())
    }
}
