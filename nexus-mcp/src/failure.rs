//! Why a tool call did not answer, as one value: its text is the tool
//! error the model reads (one line, its code first), its code is the audit
//! line's. Nothing reads a failure's text back.

use std::fmt;
use std::time::Duration;

use nexus_sdk::{ErrorKind, NexusError};

use crate::answer::said;

/// The codes of this server's own refusals; the SDK's are `nexus_sdk::code`.
pub(crate) const READ_ONLY: &str = "read_only";
/// A `provider` this server does not offer.
pub(crate) const PROVIDER_NOT_OFFERED: &str = "provider_not_offered";
/// A provider the user must connect, and cannot be sent to connect now.
pub(crate) const CONNECTION_REQUIRED: &str = "connection_required";
/// The user declined or cancelled connecting.
pub(crate) const CONNECTION_DECLINED: &str = "connection_declined";

/// Why a call did not answer.
#[derive(Clone, Debug)]
pub(crate) enum Failure {
    /// This server refuses the call, with a code (its own, or the SDK's
    /// `invalid_input` and `invalid_response`) and why.
    Refused { code: &'static str, message: String },
    /// The SDK's error.
    Sdk(NexusError),
    /// The SDK's error from asking the Gateway itself (its listing, a
    /// token): one that is not about what was asked (the Gateway not
    /// reached, not read, not in time, refusing this server's key or
    /// failing) is the credential service's, whatever its form.
    Gateway(NexusError),
    /// The SDK says the provider is not connected, and this server will not
    /// send the user to connect it: the SDK's words (what is true of the
    /// pair), then the next step, the user's or (stdio) the operator's `command`.
    Unconnected {
        error: NexusError,
        command: Option<String>,
    },
    /// The user declined or cancelled connecting (they are not asked again
    /// for a minute).
    Declined(String),
    /// The client cancelled the call.
    Cancelled,
    /// The server is stopping: it started no call, or stopped waiting for
    /// this one after the grace it gives (`Some`).
    Stopping(Option<Duration>),
}

impl Failure {
    /// A refusal of this server's, with `code`.
    pub(crate) fn refused(code: &'static str, message: impl Into<String>) -> Failure {
        Failure::Refused {
            code,
            message: message.into(),
        }
    }

    /// Whether only the server's operator can mend it: the library blames
    /// `NEXUS_GATEWAY_URL` or `NEXUS_API_KEY`; or the Gateway refused this
    /// server's key (401, 403), failed (5xx) or answered what cannot be
    /// read. Asked for itself, every failure of the Gateway's is, but an
    /// answer about what was asked (400, 404, 409, 410): a form no list
    /// names (not reached, not in time, its rate limit on this server's
    /// key, a status no contract gives) included. A provider's own answers
    /// never come as errors.
    pub(crate) fn operator_only(&self) -> bool {
        let blamed =
            |e: &NexusError| matches!(e.setting, Some("NEXUS_GATEWAY_URL" | "NEXUS_API_KEY"));
        let about_the_ask = [
            ErrorKind::InvalidInput,
            ErrorKind::NotFound,
            ErrorKind::Conflict,
            ErrorKind::Gone,
        ];
        let operators = [
            ErrorKind::Unauthorized,
            ErrorKind::Forbidden,
            ErrorKind::Server,
            ErrorKind::InvalidResponse,
        ];
        match self {
            Failure::Sdk(error) => blamed(error) || operators.contains(&error.kind()),
            Failure::Gateway(error) => blamed(error) || !about_the_ask.contains(&error.kind()),
            _ => false,
        }
    }

    /// What `serve` tells the model of a failure only the operator can
    /// mend ([`operator_only`](Self::operator_only)): that this server
    /// cannot reach its credential service; the detail (the Gateway's URL,
    /// the variable to set) goes to the operator's log, with `who`.
    pub(crate) fn for_the_model(&self, who: &str) -> Failure {
        log::warn!(target: "nexus_mcp", "who={who}: this server cannot reach its credential service: {self}");
        Failure::refused(
            "credential_service_unavailable",
            "this server cannot reach its credential service right now; its operator has the \
             detail in the server's log",
        )
    }

    /// The code the audit line names.
    pub(crate) fn code(&self) -> &str {
        match self {
            Failure::Refused { code, .. } => code,
            Failure::Sdk(error) | Failure::Gateway(error) | Failure::Unconnected { error, .. } => {
                &error.code
            }
            Failure::Declined(_) => CONNECTION_DECLINED,
            Failure::Cancelled => "cancelled",
            Failure::Stopping(_) => "stopping",
        }
    }
}

impl From<NexusError> for Failure {
    fn from(error: NexusError) -> Self {
        Failure::Sdk(error)
    }
}

/// The tool error, as the model reads it.
impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Refused { code, message } => write!(f, "{code}: {message}"),
            Failure::Sdk(error) | Failure::Gateway(error) => f.write_str(&said(error)),
            Failure::Unconnected {
                error,
                command: Some(command),
            } => write!(
                f,
                "{}; the user must connect it (this server cannot send them), or the person \
                 running this server can ({command})",
                said(error)
            ),
            Failure::Unconnected { error, .. } => write!(
                f,
                "{}; its user must connect it in Nexus (this server cannot send them yet)",
                said(error)
            ),
            Failure::Declined(message) => write!(f, "{CONNECTION_DECLINED}: {message}"),
            Failure::Cancelled => f.write_str("cancelled: the client cancelled this call"),
            Failure::Stopping(None) => {
                f.write_str("stopping: nexus-mcp is shutting down and starts no new call")
            }
            Failure::Stopping(Some(grace)) => write!(
                f,
                "stopping: nexus-mcp is shutting down and stopped waiting for this call after \
                 {} s; the request may still have reached the API",
                grace.as_secs()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_asking_the_gateway_itself_is_the_operators_whatever_its_form() {
        let error = |code: &str, status: Option<u16>| {
            let mut error = NexusError::new(code, "the Nexus Gateway at http://10.0.0.7 …");
            error.status_code = status;
            error
        };
        let (timeout, cut) = (error("timeout", None), error("request_failed", None));
        for form in [&timeout, &cut] {
            assert!(Failure::Gateway(form.clone()).operator_only(), "{form}");
            assert!(
                !Failure::Sdk(form.clone()).operator_only(),
                "the API's: {form}"
            );
        }
        let operators = [
            error("invalid_response", None),
            error("http_502", Some(502)),
        ];
        // Forms no list names, asked for itself: the Gateway's.
        for form in [error("http_429", Some(429)), error("http_418", Some(418))] {
            assert!(Failure::Gateway(form).operator_only());
        }
        for form in operators {
            assert!(Failure::Sdk(form.clone()).operator_only(), "{form}");
            assert!(Failure::Gateway(form).operator_only());
        }
        let asked = [
            error("invalid_input", None),
            error("connection_not_found", Some(404)),
        ];
        for form in asked {
            assert!(!Failure::Gateway(form.clone()).operator_only(), "{form}");
        }
    }

    #[test]
    fn every_failure_says_its_code_first_and_on_one_line() {
        let sdk = NexusError::new("connection_not_found", "no `github` in `ws-1`");
        let failures = [
            Failure::refused(READ_ONLY, "this server sends GET and HEAD only"),
            Failure::Sdk(sdk.clone()),
            Failure::Gateway(sdk.clone()),
            Failure::Unconnected {
                error: sdk,
                command: Some("nexus connect ws-1 github".into()),
            },
            Failure::Declined("the user declined".into()),
            Failure::Cancelled,
            Failure::Stopping(None),
            Failure::Stopping(Some(Duration::from_secs(3))),
        ];
        for failure in failures {
            let text = failure.to_string();
            let code = failure.code();
            assert!(text.starts_with(&format!("{code}: ")), "{code}: {text}");
            assert!(!text.contains('\n'), "{text}");
        }
    }
}
