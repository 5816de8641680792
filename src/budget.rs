//! What bounds one call: [`Budget`], its deadline (one budget for the whole
//! call: resolve, retries, tries, redirects and the re-resolve after a 401)
//! and its [`Cancel`].
//!
//! The async face (`AsyncNexusClient`, feature `tokio`) runs each call on a
//! blocking thread with a client that carries a `Cancel`; dropping the
//! call's future cancels it, and the call stops where it can: before a
//! Gateway call or retry, before each upstream hop, in the waits between
//! retries and between polls. A request already on the wire runs to its
//! answer or its timeout. A blocking call's `Cancel` is never set.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::error::NexusError;

/// Refuses a zero timeout, or one too long to add to an `Instant` (`times`
/// over, for a call that may spend it several times), naming the setting.
pub(crate) fn check_timeout(
    timeout: Duration,
    times: u32,
    setting: &str,
) -> Result<(), NexusError> {
    if timeout.is_zero()
        || Instant::now()
            .checked_add(timeout.saturating_mul(times))
            .is_none()
    {
        return Err(NexusError::invalid_input(format!(
            "{setting} must be more than zero and small enough to add to an Instant"
        )));
    }
    Ok(())
}

/// A call's cancellation: unarmed for the blocking client (every check
/// passes, every wait is a plain sleep), armed by the async face.
#[derive(Clone, Default)]
pub(crate) struct Cancel(Option<Arc<Flag>>);

#[derive(Default)]
struct Flag {
    cancelled: Mutex<bool>,
    wake: Condvar,
}

impl Cancel {
    /// A cancellation the async face can set.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn armed() -> Cancel {
        Cancel(Some(Arc::default()))
    }

    /// Cancels the call: its next step fails, its wait ends now.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn cancel(&self) {
        if let Some(flag) = &self.0 {
            *flag.cancelled.lock() = true;
            flag.wake.notify_all();
        }
    }

    /// Whether the call was cancelled.
    pub(crate) fn is_cancelled(&self) -> bool {
        self.0.as_ref().is_some_and(|flag| *flag.cancelled.lock())
    }

    /// Whether the async face runs this call (off its runtime's threads).
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn is_armed(&self) -> bool {
        self.0.is_some()
    }

    /// Waits `duration`, or less if the call is cancelled meanwhile (then fails).
    pub(crate) fn sleep(&self, duration: Duration) -> Result<(), NexusError> {
        let Some(flag) = &self.0 else {
            std::thread::sleep(duration);
            return Ok(());
        };
        let until = Instant::now().checked_add(duration);
        let mut cancelled = flag.cancelled.lock();
        while !*cancelled {
            match until {
                Some(until) if Instant::now() < until => {
                    flag.wake.wait_until(&mut cancelled, until);
                }
                Some(_) => return Ok(()),
                None => flag.wake.wait(&mut cancelled),
            }
        }
        Err(cancelled_error())
    }
}

/// The error of a step that found its call cancelled. Nobody sees it: the
/// future that would have returned it was dropped.
fn cancelled_error() -> NexusError {
    NexusError::request_failed("the call was abandoned (its future was dropped)")
}

/// One call's deadline and cancellation.
#[derive(Clone)]
pub(crate) struct Budget {
    deadline: Option<Instant>,
    timeout: Duration,
    /// The setting that gave the timeout, for the error that names it.
    setting: &'static str,
    cancel: Cancel,
}

impl Budget {
    /// A budget of `timeout` from now, set by `setting`.
    pub(crate) fn new(timeout: Duration, setting: &'static str, cancel: &Cancel) -> Budget {
        Budget {
            deadline: Instant::now().checked_add(timeout),
            timeout,
            setting,
            cancel: cancel.clone(),
        }
    }

    /// The call's cancellation.
    pub(crate) fn cancel(&self) -> &Cancel {
        &self.cancel
    }

    /// The time left, if the call has a deadline.
    pub(crate) fn left(&self) -> Option<Duration> {
        let deadline = self.deadline?;
        Some(deadline.saturating_duration_since(Instant::now()))
    }

    /// The deadline of one step that may take `step` at most: the sooner of
    /// the two.
    pub(crate) fn deadline_within(&self, step: Duration) -> Option<Instant> {
        let own = Instant::now().checked_add(step);
        match (own, self.deadline) {
            (Some(own), Some(deadline)) => Some(own.min(deadline)),
            (own, deadline) => own.or(deadline),
        }
    }

    /// Fails if the call was cancelled or its time is up.
    pub(crate) fn check(&self) -> Result<(), NexusError> {
        if self.cancel.is_cancelled() {
            return Err(cancelled_error());
        }
        if self.left().is_some_and(|left| left.is_zero()) {
            return Err(self.timed_out());
        }
        Ok(())
    }

    /// Waits `duration` before a retry or a poll; fails at once when the
    /// call's time would run out first (the retry could not finish), or when
    /// the call is cancelled meanwhile.
    pub(crate) fn sleep(&self, duration: Duration) -> Result<(), NexusError> {
        if self.left().is_some_and(|left| left <= duration) {
            return Err(self.timed_out());
        }
        self.cancel.sleep(duration)
    }

    /// The call's limit and the setting that set it.
    pub(crate) fn limit(&self) -> (Duration, &'static str) {
        (self.timeout, self.setting)
    }

    /// The `timeout` error of this call: the limit and the setting that set it.
    pub(crate) fn timed_out(&self) -> NexusError {
        NexusError::timeout(format!(
            "the call's time limit of {:?} ran out (set by {})",
            self.timeout, self.setting
        ))
    }
}

/// With the `tokio` feature, one warning per process when blocking I/O
/// starts inside a tokio runtime on a thread the async face did not give
/// it: an async task calling the blocking client stalls its runtime thread.
pub(crate) fn warn_if_on_runtime(cancel: &Cancel) {
    #[cfg(feature = "tokio")]
    {
        use std::sync::atomic::{AtomicBool, Ordering};
        static WARNED: AtomicBool = AtomicBool::new(false);
        if !cancel.is_armed()
            && tokio::runtime::Handle::try_current().is_ok()
            && !WARNED.swap(true, Ordering::Relaxed)
        {
            log::warn!(
                target: crate::redact::LOG_TARGET,
                "NexusClient (blocking) called inside a tokio runtime: on an async task this \
                 stalls the runtime's thread for the whole request. Use nexus_sdk::AsyncNexusClient \
                 (or tokio::task::spawn_blocking, where this warning is a false alarm)"
            );
        }
    }
    #[cfg(not(feature = "tokio"))]
    let _ = cancel;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unarmed_cancel_passes_and_sleeps() {
        let budget = Budget::new(Duration::from_secs(60), "test", &Cancel::default());
        assert!(budget.check().is_ok());
        assert!(budget.sleep(Duration::from_millis(1)).is_ok());
        assert!(!Cancel::default().is_armed());
    }

    #[test]
    fn a_cancel_ends_a_wait_and_fails_the_next_step() {
        let cancel = Cancel::armed();
        let budget = Budget::new(Duration::from_secs(7200), "test", &cancel);
        let waiter = std::thread::spawn(move || {
            // An hour, ended by the cancel below (or at once if it came first).
            let slept = budget.sleep(Duration::from_secs(3600));
            (slept.is_err(), budget.check().is_err())
        });
        cancel.cancel();
        assert_eq!(waiter.join().unwrap(), (true, true));
    }

    #[test]
    fn a_wait_longer_than_the_time_left_fails_at_once_and_names_the_setting() {
        let budget = Budget::new(
            Duration::from_millis(50),
            "FetchOptions::timeout",
            &Cancel::default(),
        );
        let err = budget.sleep(Duration::from_secs(3600)).unwrap_err();
        assert_eq!(err.code, "timeout");
        assert!(err.message.contains("FetchOptions::timeout"), "{err}");
        let step = budget.deadline_within(Duration::from_secs(3600)).unwrap();
        assert!(step <= Instant::now() + Duration::from_millis(50));
    }
}
