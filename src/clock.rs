//! The wall clock the token cache reads: the system's, or one a test moves
//! forward ([`TokenCache::with_clock`](crate::TokenCache::with_clock)), so
//! that expiry, rotation and purge can be tested without sleeping.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

/// The system clock, or a function that tells the time.
#[derive(Clone, Default)]
pub(crate) struct Clock(Option<Arc<dyn Fn() -> SystemTime + Send + Sync>>);

impl Clock {
    /// A clock that reads the time from `now`.
    pub(crate) fn from_fn(now: impl Fn() -> SystemTime + Send + Sync + 'static) -> Clock {
        Clock(Some(Arc::new(now)))
    }

    /// The time now.
    pub(crate) fn now(&self) -> SystemTime {
        match &self.0 {
            None => SystemTime::now(),
            Some(now) => now(),
        }
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "Clock(custom)"
        } else {
            "Clock(system)"
        })
    }
}
