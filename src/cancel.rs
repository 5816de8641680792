//! Stopping an abandoned call at its next step. The async face
//! (`AsyncNexusClient`, feature `tokio`) runs each call on a blocking thread
//! with a [`Cancel`] installed; dropping the call's future cancels it, and
//! the core stops where it can: before a Gateway call or retry, before each
//! upstream hop, in the waits between retries and between polls. A request
//! already on the wire runs to its answer or its timeout.
//!
//! A blocking call has no `Cancel` installed: every check passes and every
//! wait is a plain sleep.

use std::cell::RefCell;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::error::NexusError;

/// A call's cancellation flag, with a wake-up for the waits.
#[derive(Default)]
pub(crate) struct Cancel {
    cancelled: Mutex<bool>,
    wake: Condvar,
}

// Cancelled only by the async face's dropped futures.
#[cfg_attr(not(feature = "tokio"), allow(dead_code))]
impl Cancel {
    /// Cancels the call: its next step fails, its wait ends now.
    pub(crate) fn cancel(&self) {
        *self.cancelled.lock() = true;
        self.wake.notify_all();
    }
}

thread_local! {
    /// The cancellation of the call this thread runs for the async face.
    static CURRENT: RefCell<Option<Arc<Cancel>>> = const { RefCell::new(None) };
}

/// Runs `f` with `cancel` as this thread's cancellation.
#[cfg_attr(not(feature = "tokio"), allow(dead_code))]
pub(crate) fn with_cancel<R>(cancel: Arc<Cancel>, f: impl FnOnce() -> R) -> R {
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            CURRENT.with(|c| c.borrow_mut().take());
        }
    }
    CURRENT.with(|c| *c.borrow_mut() = Some(cancel));
    let _reset = Reset;
    f()
}

/// Whether this thread runs a call for the async face.
#[cfg_attr(not(feature = "tokio"), allow(dead_code))]
pub(crate) fn is_offloaded() -> bool {
    CURRENT.with(|c| c.borrow().is_some())
}

fn current() -> Option<Arc<Cancel>> {
    CURRENT.with(|c| c.borrow().clone())
}

/// The error of a step that found its call cancelled. Nobody sees it: the
/// future that would have returned it was dropped.
fn cancelled() -> NexusError {
    NexusError::request_failed("the call was abandoned (its future was dropped)")
}

/// With the `tokio` feature, one warning per process when blocking I/O
/// starts inside a tokio runtime on a thread the async face did not give
/// it: an async task calling the blocking client stalls its runtime thread.
pub(crate) fn warn_if_on_runtime() {
    #[cfg(feature = "tokio")]
    {
        use std::sync::atomic::{AtomicBool, Ordering};
        static WARNED: AtomicBool = AtomicBool::new(false);
        if !is_offloaded()
            && tokio::runtime::Handle::try_current().is_ok()
            && !WARNED.swap(true, Ordering::Relaxed)
        {
            log::warn!(
                target: crate::LOG_TARGET,
                "NexusClient (blocking) called inside a tokio runtime: on an async task this \
                 stalls the runtime's thread for the whole request. Use nexus_sdk::AsyncNexusClient \
                 (or tokio::task::spawn_blocking, where this warning is a false alarm)"
            );
        }
    }
}

/// Fails if this thread's call was cancelled.
pub(crate) fn check() -> Result<(), NexusError> {
    match current() {
        Some(cancel) if *cancel.cancelled.lock() => Err(cancelled()),
        _ => Ok(()),
    }
}

/// Waits `duration`, or less if this thread's call is cancelled meanwhile
/// (then fails).
pub(crate) fn sleep(duration: Duration) -> Result<(), NexusError> {
    let Some(cancel) = current() else {
        std::thread::sleep(duration);
        return Ok(());
    };
    let until = Instant::now().checked_add(duration);
    let mut flag = cancel.cancelled.lock();
    while !*flag {
        match until {
            Some(until) if Instant::now() < until => {
                cancel.wake.wait_until(&mut flag, until);
            }
            Some(_) => return Ok(()),
            None => cancel.wake.wait(&mut flag),
        }
    }
    Err(cancelled())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_cancel_checks_pass_and_sleeps_sleep() {
        assert!(check().is_ok());
        assert!(sleep(Duration::from_millis(1)).is_ok());
        assert!(!is_offloaded());
    }

    #[test]
    fn a_cancel_ends_a_wait_and_fails_the_next_step() {
        let cancel = Arc::new(Cancel::default());
        let other = Arc::clone(&cancel);
        let waiter = std::thread::spawn(move || {
            with_cancel(other, || {
                assert!(is_offloaded());
                // An hour, ended by the cancel below (or at once if it came first).
                let slept = sleep(Duration::from_secs(3600));
                (slept.is_err(), check().is_err())
            })
        });
        cancel.cancel();
        assert_eq!(waiter.join().unwrap(), (true, true));
        assert!(!is_offloaded(), "reset after the call");
    }
}
