//! [`Flight`]: one piece of work under way (a resolve, a metadata read)
//! whose result every caller that waited for it shares, errors included.
//! Used by the token cache and by the credential scope's metadata cache.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::error::NexusError;

/// One piece of work under way; waiters block until its result lands.
pub(crate) struct Flight<T> {
    result: Mutex<Option<Result<T, NexusError>>>,
    done: Condvar,
    /// Set when the work was invalidated meanwhile (a `delete`): its result
    /// goes to its callers but is not kept.
    detached: AtomicBool,
}

impl<T> std::fmt::Debug for Flight<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Flight")
            .field("landed", &self.result.lock().is_some())
            .finish_non_exhaustive()
    }
}

impl<T> Default for Flight<T> {
    fn default() -> Self {
        Flight {
            result: Mutex::new(None),
            done: Condvar::new(),
            detached: AtomicBool::new(false),
        }
    }
}

impl<T: Clone> Flight<T> {
    /// The result, once it lands; `timeout` if that takes longer than
    /// `budget` (the waiter's own call could take no longer).
    pub(crate) fn wait(&self, budget: Duration) -> Result<T, NexusError> {
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
                            "waited {budget:?} for another caller's call to the Gateway"
                        )));
                    }
                }
                None => self.done.wait(&mut result),
            }
        }
    }

    /// Publishes the result to every waiter.
    pub(crate) fn land(&self, result: Result<T, NexusError>) {
        *self.result.lock() = Some(result);
        self.done.notify_all();
    }

    /// Publishes `result` unless a result has landed already.
    pub(crate) fn land_if_empty(&self, result: Result<T, NexusError>) {
        let mut slot = self.result.lock();
        if slot.is_none() {
            *slot = Some(result);
            self.done.notify_all();
        }
    }

    /// Marks the work invalidated: its result is not to be kept.
    pub(crate) fn detach(&self) {
        self.detached.store(true, Ordering::SeqCst);
    }

    /// Whether the work was invalidated.
    pub(crate) fn is_detached(&self) -> bool {
        self.detached.load(Ordering::SeqCst)
    }
}
