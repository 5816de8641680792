//! [`WaitOptions`] and the polling rule of `wait_for_active`, written
//! against two calls (check the status, probe the token route) so that it
//! knows no HTTP.
//!
//! The Gateway's `check-connection` cannot say "pending": it answers
//! `failed` for every connection that is not active, including one whose
//! user has not consented yet. So a `failed` answer alone does not end the
//! wait; the token route tells a connection that is gone (404, 409, 410,
//! 400 `invalid_connection_id`) from one that is not active yet.

use std::time::{Duration, Instant};

use crate::code;
use crate::connection::ConnectionStatus;
use crate::error::{ErrorKind, NexusError};
use crate::redact::quote;

/// How often [`NexusClient::wait_for_active`](crate::NexusClient::wait_for_active) polls.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(1500);
/// How long [`NexusClient::wait_for_active`](crate::NexusClient::wait_for_active) waits.
pub const DEFAULT_WAIT_TIMEOUT: Duration = Duration::from_secs(300);

/// How [`NexusClient::wait_for_active_with_options`](crate::NexusClient::wait_for_active_with_options)
/// polls a connection.
///
/// ```
/// use std::time::Duration;
/// use nexus_sdk::WaitOptions;
///
/// let options = WaitOptions::default()
///     .interval(Duration::from_secs(2))
///     .timeout(Duration::from_secs(120));
/// assert!(!options.stop_on_failed);
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitOptions {
    /// Time between two checks. Default 1.5 s.
    pub interval: Duration,
    /// How long to wait in all. Default 300 s; one too large to add to an
    /// `Instant` means no deadline.
    pub timeout: Duration,
    /// Return at the first `failed` status, as Python's SDK does. Off by
    /// default: the Nexus Gateway answers `failed` for a connection whose
    /// user has not consented yet, so only a Gateway that reports `pending`
    /// can be waited on this way.
    pub stop_on_failed: bool,
}

impl Default for WaitOptions {
    fn default() -> Self {
        WaitOptions {
            interval: DEFAULT_POLL_INTERVAL,
            timeout: DEFAULT_WAIT_TIMEOUT,
            stop_on_failed: false,
        }
    }
}

impl WaitOptions {
    /// Time between two checks.
    #[must_use]
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// How long to wait in all.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Return at the first `failed` status (Python's rule).
    #[must_use]
    pub fn stop_on_failed(mut self, yes: bool) -> Self {
        self.stop_on_failed = yes;
        self
    }
}

/// What one poll learned.
enum Poll {
    /// The wait is over with this status.
    Done(ConnectionStatus),
    /// Not yet; the text says what was seen, for the timeout's message.
    NotYet(String),
    /// Not yet: the Gateway could not answer (down, 5xx, 429, slow). Its
    /// error's message leads the timeout's: the cause is what to act on.
    Unanswered(String),
}

/// Polls until the connection is active, known to be gone, or the deadline
/// passes. `check` asks `check-connection`; `probe` asks the token route,
/// `Ok` meaning a token was served (the connection is active).
pub(crate) fn wait_for_active(
    options: &WaitOptions,
    connection_id: &str,
    check: impl Fn() -> Result<ConnectionStatus, NexusError>,
    probe: impl Fn() -> Result<(), NexusError>,
) -> Result<ConnectionStatus, NexusError> {
    let deadline = Instant::now().checked_add(options.timeout);
    loop {
        let after = options.timeout;
        let timed_out = match poll(options, connection_id, &check, &probe)? {
            Poll::Done(status) => return Ok(status),
            Poll::NotYet(seen) => {
                format!("connection not active after {after:?}; last seen: {seen}")
            }
            Poll::Unanswered(cause) => {
                format!("{cause}; so the connection was not seen active within {after:?}")
            }
        };
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if left.is_some_and(|l| l.is_zero()) {
            return Err(NexusError::timeout(timed_out));
        }
        std::thread::sleep(left.map_or(options.interval, |l| options.interval.min(l)));
    }
}

fn poll(
    options: &WaitOptions,
    connection_id: &str,
    check: impl Fn() -> Result<ConnectionStatus, NexusError>,
    probe: impl Fn() -> Result<(), NexusError>,
) -> Result<Poll, NexusError> {
    let status = match check() {
        Ok(status) => status,
        Err(e) if is_transient(&e) => return Ok(Poll::Unanswered(e.message)),
        Err(e) => return Err(e),
    };
    Ok(match status {
        ConnectionStatus::Active | ConnectionStatus::Revoked => Poll::Done(status),
        ConnectionStatus::Failed if options.stop_on_failed => Poll::Done(status),
        ConnectionStatus::Failed => match probe() {
            Ok(()) => Poll::Done(ConnectionStatus::Active),
            Err(e) => match gone_as(&e, connection_id) {
                Some(status) => Poll::Done(status),
                None if e.kind() == ErrorKind::InvalidInput || is_transient(&e) => {
                    Poll::NotYet(format!("failed ({e})"))
                }
                None => return Err(e),
            },
        },
        other => Poll::NotYet(quote(other.as_str())),
    })
}

/// The status a token-route error proves final: `revoked` for 410,
/// `failed` for 404, 409 and 400 `invalid_connection_id` (or a bare 400 for
/// an id that is not a UUID); `None` when the
/// connection may still become active (400 `connection_not_active`, a
/// bodyless 400, a server error).
fn gone_as(error: &NexusError, connection_id: &str) -> Option<ConnectionStatus> {
    match error.status_code? {
        410 => Some(ConnectionStatus::Revoked),
        404 | 409 => Some(ConnectionStatus::Failed),
        400 if error.code == code::INVALID_CONNECTION_ID => Some(ConnectionStatus::Failed),
        // A Gateway before 0.4.0 sends the bare status: for an id that is
        // not a UUID, its 400 is the id's refusal, which no wait can change.
        400 if error.code == "http_400" && !is_uuid(connection_id) => {
            Some(ConnectionStatus::Failed)
        }
        _ => None,
    }
}

/// The form of the Gateway's connection ids: `8-4-4-4-12` hex digits.
fn is_uuid(id: &str) -> bool {
    let lengths = id.split('-').map(str::len);
    lengths.eq([8, 4, 4, 4, 12]) && id.bytes().all(|b| b == b'-' || b.is_ascii_hexdigit())
}

/// An error that a later poll may not meet: a 5xx, a 429, a timeout or a
/// connection that could not be made.
fn is_transient(error: &NexusError) -> bool {
    matches!(
        error.kind(),
        ErrorKind::Server | ErrorKind::RateLimited | ErrorKind::Timeout | ErrorKind::Connect
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn gateway_error(status: u16, code: &str) -> NexusError {
        let body = format!(r#"{{"error":"{code}","message":"m"}}"#);
        NexusError::from_gateway(status, body.as_bytes(), &[])
    }

    fn quick() -> WaitOptions {
        WaitOptions::default()
            .interval(Duration::ZERO)
            .timeout(Duration::from_secs(3600))
    }

    #[test]
    fn failed_alone_does_not_end_the_wait() {
        let checks = Cell::new(0);
        let status = wait_for_active(
            &quick(),
            "3f1b2c4d-0000-4000-8000-00000000000c",
            || {
                checks.set(checks.get() + 1);
                Ok(if checks.get() < 4 {
                    ConnectionStatus::Failed
                } else {
                    ConnectionStatus::Active
                })
            },
            || Err(gateway_error(400, "connection_not_active")),
        );
        assert_eq!(status.unwrap(), ConnectionStatus::Active);
        assert_eq!(checks.get(), 4);
    }

    #[test]
    fn a_gone_connection_ends_the_wait() {
        for (status, code, expected) in [
            (404, "connection_not_found", ConnectionStatus::Failed),
            (409, "attention_required", ConnectionStatus::Failed),
            (410, "connection_revoked", ConnectionStatus::Revoked),
            (400, code::INVALID_CONNECTION_ID, ConnectionStatus::Failed),
            (404, "http_404", ConnectionStatus::Failed),
            (410, "http_410", ConnectionStatus::Revoked),
        ] {
            let got = wait_for_active(
                &quick(),
                "3f1b2c4d-0000-4000-8000-00000000000c",
                || Ok(ConnectionStatus::Failed),
                || Err(gateway_error(status, code)),
            );
            assert_eq!(got.unwrap(), expected, "{status} {code}");
        }
    }

    #[test]
    fn a_token_served_means_active() {
        let got = wait_for_active(
            &quick(),
            "3f1b2c4d-0000-4000-8000-00000000000c",
            || Ok(ConnectionStatus::Failed),
            || Ok(()),
        );
        assert_eq!(got.unwrap(), ConnectionStatus::Active);
    }

    #[test]
    fn stop_on_failed_is_pythons_rule() {
        let probed = Cell::new(false);
        let got = wait_for_active(
            &quick().stop_on_failed(true),
            "3f1b2c4d-0000-4000-8000-00000000000c",
            || Ok(ConnectionStatus::Failed),
            || {
                probed.set(true);
                Ok(())
            },
        );
        assert_eq!(got.unwrap(), ConnectionStatus::Failed);
        assert!(!probed.get());
    }

    #[test]
    fn transient_errors_keep_polling_and_others_end_it() {
        let checks = Cell::new(0);
        let got = wait_for_active(
            &quick(),
            "3f1b2c4d-0000-4000-8000-00000000000c",
            || {
                checks.set(checks.get() + 1);
                match checks.get() {
                    1 => Err(NexusError::from_gateway(502, b"broker down", &[])),
                    2 => Err(gateway_error(429, "http_429")),
                    _ => Ok(ConnectionStatus::Active),
                }
            },
            || Ok(()),
        );
        assert_eq!(got.unwrap(), ConnectionStatus::Active);
        let err = wait_for_active(
            &quick(),
            "3f1b2c4d-0000-4000-8000-00000000000c",
            || Err(gateway_error(401, "unauthorized")),
            || Ok(()),
        )
        .unwrap_err();
        assert_eq!(err.code, "unauthorized");
    }

    #[test]
    fn the_deadline_names_what_was_last_seen() {
        let options = WaitOptions::default()
            .interval(Duration::ZERO)
            .timeout(Duration::ZERO);
        let err = wait_for_active(
            &options,
            "3f1b2c4d-0000-4000-8000-00000000000c",
            || Ok(ConnectionStatus::Failed),
            || Err(gateway_error(400, "connection_not_active")),
        )
        .unwrap_err();
        assert_eq!(err.code, code::TIMEOUT);
        assert!(err.message.contains("failed"), "{}", err.message);
        let err = wait_for_active(&options, "c", || Ok(ConnectionStatus::Pending), || Ok(()))
            .unwrap_err();
        assert!(err.message.contains("pending"), "{}", err.message);
    }
}
