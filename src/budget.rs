//! What bounds one call: [`Budget`], its deadline. One budget covers the
//! whole call: resolve, retries, tries, redirects and the re-resolve after a
//! 401.

use std::time::{Duration, Instant};

use crate::error::{NexusError, named};

/// The settings a `timeout` error names, by what they bound: one request,
/// a Gateway call with its retries, one authenticated fetch. Each starts
/// with the name the error blames as its `setting` (see [`named`]): the
/// first two `NEXUS_TIMEOUT`, the one a host's user can set.
pub(crate) const CLIENT_TIMEOUT: &str = "NEXUS_TIMEOUT (NexusClientOptions::timeout)";
pub(crate) const CALL_TIMEOUT: &str =
    "NEXUS_TIMEOUT (NexusClientOptions::timeout) and the retry policy";
pub(crate) const FETCH_TIMEOUT: &str = "FetchOptions::timeout";

/// Refuses a zero timeout, or one too long to add to an `Instant` (`times`
/// over, for a call that may spend it several times), naming the setting.
pub(crate) fn check_timeout(
    timeout: Duration,
    times: u32,
    setting: &'static str,
) -> Result<(), NexusError> {
    let later = Instant::now().checked_add(timeout.saturating_mul(times));
    if timeout.is_zero() || later.is_none() {
        let why = format!("{setting} must be more than zero and small enough to add to an Instant");
        return Err(NexusError::invalid_input(why).blaming(named(setting)));
    }
    Ok(())
}

/// One call's deadline.
#[derive(Clone, Debug)]
pub(crate) struct Budget {
    /// When the call started.
    started: Instant,
    deadline: Option<Instant>,
    timeout: Duration,
    /// The setting that gave the timeout, for the error that names it.
    setting: &'static str,
}

impl Budget {
    /// A budget of `timeout` from now, set by `setting`.
    pub(crate) fn new(timeout: Duration, setting: &'static str) -> Budget {
        let started = Instant::now();
        Budget {
            started,
            deadline: started.checked_add(timeout),
            timeout,
            setting,
        }
    }

    /// This budget, ending at `part` of the time it has left: what a
    /// renewal may spend of the call that started it.
    pub(crate) fn part(&self, part: u32) -> Budget {
        let left = self.left().map(|left| left / part.max(1));
        Budget {
            deadline: left.and_then(|left| Instant::now().checked_add(left)),
            ..self.clone()
        }
    }

    /// This budget, ending no later than `timeout` (the client's) after the
    /// call's start: what waits at the Gateway's rate limit, and the
    /// attempts after them, may spend.
    pub(crate) fn capped(&self, timeout: Duration) -> Budget {
        match self.started.checked_add(timeout) {
            Some(cap) if self.deadline.is_none_or(|deadline| cap <= deadline) => Budget {
                deadline: Some(cap),
                timeout,
                setting: CLIENT_TIMEOUT,
                ..self.clone()
            },
            _ => self.clone(),
        }
    }

    /// The limit this budget ends at, and the setting that sets it.
    pub(crate) fn limit(&self) -> (Duration, &'static str) {
        (self.timeout, self.setting)
    }

    /// The deadline, if the call has one.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// The time left, if the call has a deadline.
    pub(crate) fn left(&self) -> Option<Duration> {
        let deadline = self.deadline?;
        Some(deadline.saturating_duration_since(Instant::now()))
    }

    /// The deadline of one request that may take `step` (the client's
    /// `timeout`) at most, and the limit that sets it: the call's, when it
    /// ends sooner, else the request's own.
    pub(crate) fn within(&self, step: Duration) -> (Option<Instant>, (Duration, &'static str)) {
        match (self.left(), Instant::now().checked_add(step)) {
            (Some(left), _) if left < step => (self.deadline, self.limit()),
            (_, own) => (own.or(self.deadline), (step, CLIENT_TIMEOUT)),
        }
    }

    /// Fails if the call's time is up.
    pub(crate) fn check(&self) -> Result<(), NexusError> {
        if self.left().is_some_and(|left| left.is_zero()) {
            return Err(self.timed_out());
        }
        Ok(())
    }

    /// Waits `duration` before a retry or a poll; fails at once when the
    /// call's time would run out first (the retry could not finish).
    pub(crate) fn sleep(&self, duration: Duration) -> Result<(), NexusError> {
        if self.left().is_some_and(|left| left <= duration) {
            return Err(self.timed_out());
        }
        std::thread::sleep(duration);
        Ok(())
    }

    /// The `timeout` error of this call: the limit and the setting that set it.
    fn timed_out(&self) -> NexusError {
        let (limit, setting) = self.limit();
        NexusError::timeout(format!(
            "the call's time limit of {limit:?} ran out (set by {setting})"
        ))
        .blaming(named(setting))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wait_longer_than_the_time_left_fails_at_once_and_names_the_setting() {
        let budget = Budget::new(Duration::from_millis(50), "FetchOptions::timeout");
        let err = budget.sleep(Duration::from_secs(3600)).unwrap_err();
        assert_eq!(err.code, "timeout");
        assert!(err.message.contains("FetchOptions::timeout"), "{err}");
        let (step, limit) = budget.within(Duration::from_secs(3600));
        assert!(step.unwrap() <= Instant::now() + Duration::from_millis(50));
        assert_eq!(limit, (Duration::from_millis(50), "FetchOptions::timeout"));
        let (_, limit) = Budget::new(Duration::from_secs(60), "x").within(Duration::from_secs(1));
        assert_eq!(
            limit,
            (Duration::from_secs(1), CLIENT_TIMEOUT),
            "the request's own"
        );
    }

    #[test]
    fn a_part_ends_no_later_than_its_share_of_the_time_left() {
        let budget = Budget::new(Duration::from_secs(60), "test");
        let half = budget.part(2);
        assert!(half.left().unwrap() <= Duration::from_secs(30));
        assert!(half.deadline < budget.deadline);
        assert_eq!(
            (half.timeout, half.setting),
            (budget.timeout, budget.setting)
        );
    }
}
