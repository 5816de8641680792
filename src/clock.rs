//! The wall clock the token cache reads: the system's, or one a test moves
//! forward ([`TestClock`](crate::testing::TestClock), feature `testing`), so
//! that expiry, rotation and purge can be tested without sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

/// The system clock, plus an offset a test may advance.
#[derive(Clone, Debug, Default)]
pub(crate) struct Clock {
    /// Milliseconds added to the system time; `None` for the plain system clock.
    offset: Option<Arc<AtomicU64>>,
}

impl Clock {
    /// A clock that reads the system time plus `offset`, shared with its owner.
    #[cfg(feature = "testing")]
    pub(crate) fn offset_by(offset: Arc<AtomicU64>) -> Clock {
        Clock {
            offset: Some(offset),
        }
    }

    /// The time now.
    pub(crate) fn now(&self) -> SystemTime {
        let now = SystemTime::now();
        match &self.offset {
            None => now,
            Some(offset) => now + Duration::from_millis(offset.load(Ordering::Relaxed)),
        }
    }
}
