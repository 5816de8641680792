//! What bounds one call: [`Budget`], its deadline. One budget covers the
//! whole call: resolve, retries, tries, redirects and the re-resolve after a
//! 401.

use std::time::{Duration, Instant};

use crate::error::{Limit, NexusError};

/// The settings a `timeout` error blames, by what they bound: a request or
/// a Gateway call (`NEXUS_TIMEOUT`, the one a host's user can set; in code
/// `NexusClientOptions::timeout`), one authenticated fetch.
pub(crate) const CLIENT_TIMEOUT: &str = crate::setting::NEXUS_TIMEOUT;
pub(crate) const FETCH_TIMEOUT: &str = "FetchOptions::timeout";

impl Limit {
    /// `after`, as the client's timeout (`NEXUS_TIMEOUT`) sets it.
    pub(crate) fn client(after: Duration) -> Limit {
        let setting = CLIENT_TIMEOUT;
        Limit { after, setting }
    }
}

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
        return Err(NexusError::invalid_input(why).blaming(setting));
    }
    Ok(())
}

/// One call's deadline.
#[derive(Clone, Debug)]
pub(crate) struct Budget {
    /// When the call started.
    started: Instant,
    /// When the call's time is up, if it has a limit that an `Instant` can hold.
    pub(crate) deadline: Option<Instant>,
    /// The limit it ends at, and the setting that sets it, for the error
    /// that names it.
    pub(crate) limit: Limit,
}

impl Budget {
    /// A budget of `limit` from now.
    pub(crate) fn new(limit: Limit) -> Budget {
        let started = Instant::now();
        let deadline = started.checked_add(limit.after);
        Budget {
            started,
            deadline,
            limit,
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
                limit: Limit::client(timeout),
                ..self.clone()
            },
            _ => self.clone(),
        }
    }

    /// The time left, if the call has a deadline.
    pub(crate) fn left(&self) -> Option<Duration> {
        let deadline = self.deadline?;
        Some(deadline.saturating_duration_since(Instant::now()))
    }

    /// The deadline of one request that may take `step` (the client's
    /// `timeout`) at most, and the limit that sets it: the call's, when it
    /// ends sooner, else the request's own.
    pub(crate) fn within(&self, step: Duration) -> (Option<Instant>, Limit) {
        match (self.left(), Instant::now().checked_add(step)) {
            (Some(left), _) if left < step => (self.deadline, self.limit),
            (_, own) => (own.or(self.deadline), Limit::client(step)),
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
        let limit = self.limit;
        NexusError::timeout(format!(
            "the call's time limit of {:?} ran out (set by {})",
            limit.after, limit.setting
        ))
        .blaming(limit.setting)
    }
}

/// A budget of `after` for a test.
#[cfg(test)]
pub(crate) fn test_budget(after: Duration) -> Budget {
    let setting = "test";
    Budget::new(Limit { after, setting })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wait_longer_than_the_time_left_fails_at_once_and_names_the_setting() {
        let budget = Budget::new(Limit {
            after: Duration::from_millis(50),
            setting: FETCH_TIMEOUT,
        });
        let err = budget.sleep(Duration::from_secs(3600)).unwrap_err();
        assert_eq!(err.code, "timeout");
        assert!(err.message.contains("FetchOptions::timeout"), "{err}");
        let (step, limit) = budget.within(Duration::from_secs(3600));
        assert!(step.unwrap() <= Instant::now() + Duration::from_millis(50));
        assert_eq!(
            limit,
            Limit {
                after: Duration::from_millis(50),
                setting: FETCH_TIMEOUT
            }
        );
        let (_, limit) = test_budget(Duration::from_secs(60)).within(Duration::from_secs(1));
        let own = Limit {
            after: Duration::from_secs(1),
            setting: CLIENT_TIMEOUT,
        };
        assert_eq!(limit, own, "the request's own");
    }

    #[test]
    fn a_part_ends_no_later_than_its_share_of_the_time_left() {
        let budget = test_budget(Duration::from_secs(60));
        let half = budget.part(2);
        assert!(half.left().unwrap() <= Duration::from_secs(30));
        assert!(half.deadline < budget.deadline);
        assert_eq!(
            half.limit, budget.limit,
            "the limit it names stays the call's"
        );
    }
}
