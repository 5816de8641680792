//! [`NexusError`], the one error type of the crate, and [`ErrorKind`] to
//! `match` on it.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;

use serde_json::Value;

/// The longest error-body text kept as a message, in bytes.
const MAX_MESSAGE_BYTES: usize = 512;

/// An error from the Gateway, from the transport, or from the SDK's own checks.
///
/// `code` is the machine-readable part: the Gateway's own code
/// (`connection_not_found`, `provider_ambiguous`, …), `http_<status>` when
/// the Gateway sent none, or one of the SDK's codes (`invalid_input`,
/// `request_failed`, `timeout`, `max_retries_exceeded`, `invalid_response`,
/// `invalid_credentials`, `unsupported_strategy`). [`kind`](Self::kind)
/// folds status and code into an enum for `match`.
///
/// Messages never hold a token, an api key or a credential value.
///
/// ```
/// use nexus_sdk::{ErrorKind, NexusClient, NexusClientOptions};
///
/// let client = NexusClient::new(NexusClientOptions::new("http://127.0.0.1:9")).unwrap();
/// let err = client.check_connection("  ").unwrap_err();
/// assert_eq!(err.code, "invalid_input");
/// assert_eq!(err.kind(), ErrorKind::InvalidInput);
/// assert!(err.to_string().starts_with("invalid_input: "));
/// ```
#[derive(Debug, Clone)]
pub struct NexusError {
    /// Machine-readable code: the Gateway's, `http_<status>`, or the SDK's.
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
    /// The HTTP status the Gateway answered with, when there was an answer.
    pub status_code: Option<u16>,
    source: Option<Arc<dyn StdError + Send + Sync + 'static>>,
}

/// What went wrong, in a form to `match` on.
///
/// Derived from [`NexusError::status_code`] and [`NexusError::code`]; new
/// kinds may be added, so keep a `_` arm.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The caller passed something unusable (blank id, bad URL, bad header), or the Gateway answered 400.
    InvalidInput,
    /// 401: the api key is missing or wrong.
    Unauthorized,
    /// 403.
    Forbidden,
    /// 404: no such connection, provider or token.
    NotFound,
    /// 409: for example `provider_ambiguous` or `attention_required`.
    Conflict,
    /// 410: the connection was revoked.
    Gone,
    /// 429.
    RateLimited,
    /// 5xx from the Gateway.
    Server,
    /// A request ran past the client's timeout, or `wait_for_active` ran out of time.
    Timeout,
    /// The request could not be carried: refused, DNS, TLS, reset.
    Connect,
    /// The Gateway answered 2xx with something the SDK cannot use.
    InvalidResponse,
    /// Anything else.
    Other,
}

impl NexusError {
    /// An error with a code and a message, and no HTTP status.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        NexusError {
            code: code.into(),
            message: message.into(),
            status_code: None,
            source: None,
        }
    }

    /// The same error carrying the HTTP status it came with.
    pub(crate) fn with_status(mut self, status: u16) -> Self {
        self.status_code = Some(status);
        self
    }

    /// The same error with an underlying cause, returned by `source()`.
    pub(crate) fn with_source(mut self, source: impl StdError + Send + Sync + 'static) -> Self {
        self.source = Some(Arc::new(source));
        self
    }

    pub(crate) fn invalid_input(message: impl Into<String>) -> Self {
        NexusError::new("invalid_input", message)
    }

    pub(crate) fn invalid_response(message: impl Into<String>) -> Self {
        NexusError::new("invalid_response", message)
    }

    /// The error for a non-2xx Gateway answer, following the body rules of
    /// the wire contract (see [`parse_error_body`]).
    pub(crate) fn from_gateway(status: u16, body: &[u8]) -> Self {
        let (code, message) = parse_error_body(status, body);
        NexusError::new(code, message).with_status(status)
    }

    /// What kind of failure this is, from the status and the code.
    pub fn kind(&self) -> ErrorKind {
        match self.code.as_str() {
            "invalid_input" => return ErrorKind::InvalidInput,
            "timeout" => return ErrorKind::Timeout,
            "request_failed" => return ErrorKind::Connect,
            "invalid_response" | "invalid_credentials" => return ErrorKind::InvalidResponse,
            _ => {}
        }
        match self.status_code {
            Some(400) => ErrorKind::InvalidInput,
            Some(401) => ErrorKind::Unauthorized,
            Some(403) => ErrorKind::Forbidden,
            Some(404) => ErrorKind::NotFound,
            Some(409) => ErrorKind::Conflict,
            Some(410) => ErrorKind::Gone,
            Some(429) => ErrorKind::RateLimited,
            Some(500..=599) => ErrorKind::Server,
            _ => ErrorKind::Other,
        }
    }
}

impl fmt::Display for NexusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl StdError for NexusError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}

/// The `(code, message)` of a non-2xx Gateway answer.
///
/// code = `error`, else `code`, else `http_<status>`; message = `message`,
/// else `detail`, else the body text (cut to 512 bytes), else the status
/// reason. Accepts every body the Gateway sends: either JSON shape, JSON
/// that is not an object, plain text and no body at all.
pub(crate) fn parse_error_body(status: u16, body: &[u8]) -> (String, String) {
    let json: Option<Value> = serde_json::from_slice(body).ok();
    let field = |name: &str| -> Option<String> {
        let value = json.as_ref()?.get(name)?.as_str()?.trim();
        (!value.is_empty()).then(|| value.to_owned())
    };
    let code = field("error")
        .or_else(|| field("code"))
        .unwrap_or_else(|| format!("http_{status}"));
    let message = field("message")
        .or_else(|| field("detail"))
        .or_else(|| body_text(body))
        .unwrap_or_else(|| status_reason(status));
    (code, message)
}

/// The body as trimmed text, cut to [`MAX_MESSAGE_BYTES`] on a character
/// boundary, or `None` when it is blank.
fn body_text(body: &[u8]) -> Option<String> {
    let head = &body[..body.len().min(MAX_MESSAGE_BYTES)];
    let text = String::from_utf8_lossy(head);
    // Invalid bytes grow into 3-byte U+FFFD: cut again, on a char boundary.
    let mut end = text.len().min(MAX_MESSAGE_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let text = text[..end].trim_end_matches('\u{FFFD}').trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// "Not Found" for 404, "HTTP 599" for a status with no reason phrase.
fn status_reason(status: u16) -> String {
    ureq::http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .map_or_else(|| format!("HTTP {status}"), str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_five_body_shapes() {
        let cases: [(u16, &[u8], &str, &str); 6] = [
            (
                404,
                br#"{"error":"connection_not_found","message":"no such"}"#,
                "connection_not_found",
                "no such",
            ),
            (
                410,
                br#"{"code":"connection_revoked","message":"gone"}"#,
                "connection_revoked",
                "gone",
            ),
            (
                409,
                br#"{"error":"attention_required","detail":"re-consent"}"#,
                "attention_required",
                "re-consent",
            ),
            (
                429,
                b"rate limit exceeded\n",
                "http_429",
                "rate limit exceeded",
            ),
            (503, b"", "http_503", "Service Unavailable"),
            (599, b"  ", "http_599", "HTTP 599"),
        ];
        for (status, body, code, message) in cases {
            assert_eq!(
                parse_error_body(status, body),
                (code.to_owned(), message.to_owned())
            );
        }
    }

    #[test]
    fn non_string_fields_are_ignored() {
        let (code, message) = parse_error_body(500, br#"{"error":7,"message":["x"]}"#);
        assert_eq!(code, "http_500");
        assert_eq!(message, r#"{"error":7,"message":["x"]}"#);
    }

    #[test]
    fn long_text_is_cut_on_a_char_boundary() {
        let body = "é".repeat(400); // 800 bytes, 2 per char
        let (_, message) = parse_error_body(502, body.as_bytes());
        assert_eq!(message.len(), 512);
        assert!(message.chars().all(|c| c == 'é'));
        let odd = format!("x{}", "é".repeat(400)); // the cut falls inside a char
        let (_, message) = parse_error_body(502, odd.as_bytes());
        assert_eq!(message.len(), 511);
    }

    #[test]
    fn invalid_utf8_cannot_grow_the_message_past_the_cut() {
        // Found by the property tests: each invalid byte became 3 bytes of U+FFFD.
        let mut body = vec![b'x'];
        body.extend([0x80; 600]);
        let (_, message) = parse_error_body(500, &body);
        assert!(message.len() <= 512, "{} bytes", message.len());
        assert_eq!(message, "x", "trailing replacement characters are dropped");
        let (_, message) = parse_error_body(500, &[0x80; 600]);
        assert_eq!(
            message, "Internal Server Error",
            "nothing readable: the reason phrase"
        );
    }

    #[test]
    fn kind_from_status_and_code() {
        let gw = |status, code: &str| NexusError::new(code, "m").with_status(status).kind();
        assert_eq!(gw(401, "unauthorized"), ErrorKind::Unauthorized);
        assert_eq!(gw(403, "http_403"), ErrorKind::Forbidden);
        assert_eq!(gw(404, "token_not_found"), ErrorKind::NotFound);
        assert_eq!(gw(409, "provider_ambiguous"), ErrorKind::Conflict);
        assert_eq!(gw(410, "connection_revoked"), ErrorKind::Gone);
        assert_eq!(gw(429, "max_retries_exceeded"), ErrorKind::RateLimited);
        assert_eq!(gw(502, "broker_error"), ErrorKind::Server);
        assert_eq!(gw(400, "missing_fields"), ErrorKind::InvalidInput);
        assert_eq!(gw(200, "invalid_response"), ErrorKind::InvalidResponse);
        assert_eq!(NexusError::new("timeout", "m").kind(), ErrorKind::Timeout);
        assert_eq!(
            NexusError::new("request_failed", "m").kind(),
            ErrorKind::Connect
        );
        assert_eq!(
            NexusError::new("unsupported_strategy", "m").kind(),
            ErrorKind::Other
        );
    }

    #[test]
    fn display_and_source() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let err = NexusError::new("request_failed", "could not connect").with_source(io);
        assert_eq!(err.to_string(), "request_failed: could not connect");
        assert_eq!(err.source().map(|s| s.to_string()), Some("refused".into()));
    }
}
