//! [`FetchResponse`]: an upstream answer, read whole (up to the size cap).

use std::fmt;

use ureq::http::{HeaderMap, Response, StatusCode};

use crate::error::NexusError;
use crate::token::CachedToken;

/// Response headers: case-insensitive names, repeated headers kept.
pub type Headers = HeaderMap;

/// An upstream answer: status, headers and the whole body (at most the
/// client's `max_upstream_body`). Any status is an answer, not an error;
/// [`error_for_status`](FetchResponse::error_for_status) makes a 4xx or 5xx
/// one.
///
/// Python returns `(status_code, headers, body)`: the fields are that
/// triple, `.0`, `.1` and `.2` as before 0.3, and
/// [`into_parts`](FetchResponse::into_parts) gives it as a tuple.
///
/// ```
/// # use nexus_gateway_fake::{FakeGateway, FakeProvider, FakeUpstream};
/// # use nexus_sdk::{CredentialScope, NexusClient, NexusClientOptions, TokenCache};
/// # let (gateway, upstream) = (FakeGateway::start(), FakeUpstream::start());
/// # gateway.add_provider("ws-1", "github", FakeProvider::oauth2("gho_x").api_base_url(&upstream.url()));
/// # let client = NexusClient::new(NexusClientOptions::new(gateway.url()))?;
/// # let cache = TokenCache::new();
/// # let url = format!("{}/user", upstream.url());
/// let answer = client
///     .authenticated_fetch(&cache, "ws-1", "github", &url, Default::default())?
///     .error_for_status()?;
/// assert_eq!(answer.status(), 200);
/// let text = answer.text()?;
/// let (status, headers, body) = answer.into_parts();
/// # let _ = (text, status, headers, body);
/// # Ok::<(), nexus_sdk::NexusError>(())
/// ```
#[derive(Clone)]
pub struct FetchResponse(
    /// The HTTP status.
    pub u16,
    /// The headers.
    pub Headers,
    /// The body.
    pub Vec<u8>,
    /// The credential the request carried, redacted from an error's excerpt.
    Sent,
);

/// The credential a request carried, if the crate sent it.
#[derive(Clone, Default)]
struct Sent(Option<CachedToken>);

impl PartialEq for FetchResponse {
    fn eq(&self, other: &Self) -> bool {
        (self.0, &self.1, &self.2) == (other.0, &other.1, &other.2)
    }
}

impl Eq for FetchResponse {}

/// The most of a body an `upstream_status` error's message quotes.
const EXCERPT_BYTES: usize = 200;

impl FetchResponse {
    /// An answer with these parts: for your own fakes and wrappers.
    pub fn new(status: u16, headers: Headers, body: Vec<u8>) -> Self {
        FetchResponse(status, headers, body, Sent::default())
    }

    /// The answer to a request that carried `token`.
    pub(crate) fn carrying(mut self, token: &CachedToken) -> Self {
        self.3 = Sent(Some(token.clone()));
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.0
    }

    /// The headers.
    pub fn headers(&self) -> &Headers {
        &self.1
    }

    /// The body's bytes.
    pub fn body(&self) -> &[u8] {
        &self.2
    }

    /// The body as UTF-8 text.
    ///
    /// # Errors
    ///
    /// `invalid_response` when the body is not UTF-8.
    pub fn text(&self) -> Result<String, NexusError> {
        String::from_utf8(self.2.clone())
            .map_err(|_| NexusError::invalid_response("the upstream body is not UTF-8 text"))
    }

    /// The body, parsed as JSON into `T`.
    ///
    /// # Errors
    ///
    /// `invalid_response` when the body is not JSON of that shape.
    #[cfg(feature = "serde")]
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, NexusError> {
        serde_json::from_slice(&self.2).map_err(|e| {
            // The error's position and category, never the body's text.
            NexusError::invalid_response(format!(
                "the upstream body is not the JSON expected ({:?} at line {} column {})",
                e.classify(),
                e.line(),
                e.column()
            ))
        })
    }

    /// The answer itself when its status is below 400.
    ///
    /// # Errors
    ///
    /// For a 4xx or 5xx: code `upstream_status`, `status_code` set, and a
    /// message with the status and the start of the body (control
    /// characters escaped), with the credential the request carried, should
    /// the upstream echo it, replaced by `<redacted>`.
    pub fn error_for_status(self) -> Result<Self, NexusError> {
        if self.0 < 400 {
            return Ok(self);
        }
        let reason = StatusCode::from_u16(self.0)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("");
        let secrets = self.3.0.as_ref().map_or(["", ""], CachedToken::secrets);
        let text = crate::redact::redact(&String::from_utf8_lossy(&self.2), &secrets);
        let mut cut = text.len().min(EXCERPT_BYTES);
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        let excerpt = crate::redact::escape(text[..cut].trim());
        let more = if cut < text.len() { "…" } else { "" };
        Err(NexusError::upstream_status(
            self.0,
            format!("upstream answered {} {reason}: {excerpt}{more}", self.0),
        ))
    }

    /// `(status, headers, body)`, as Python returns `(status_code, headers, body)`.
    pub fn into_parts(self) -> (u16, Headers, Vec<u8>) {
        (self.0, self.1, self.2)
    }

    /// The body, without the rest.
    pub fn into_body(self) -> Vec<u8> {
        self.2
    }
}

impl From<FetchResponse> for (u16, Headers, Vec<u8>) {
    fn from(answer: FetchResponse) -> Self {
        answer.into_parts()
    }
}

impl From<FetchResponse> for Response<Vec<u8>> {
    fn from(answer: FetchResponse) -> Self {
        let (status, headers, body) = answer.into_parts();
        let mut response = Response::new(body);
        *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
        *response.headers_mut() = headers;
        response
    }
}

impl fmt::Debug for FetchResponse {
    /// The status, the header names and the body's length: values and body
    /// may hold secrets (a `Set-Cookie`, an echoed credential).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.1.keys().map(|n| n.as_str()).collect();
        f.debug_struct("FetchResponse")
            .field("status", &self.0)
            .field("headers", &names)
            .field("body", &format_args!("{} bytes", self.2.len()))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &str) -> FetchResponse {
        FetchResponse::new(status, Headers::new(), body.as_bytes().to_vec())
    }

    #[test]
    fn error_for_status_keeps_success_and_quotes_a_short_excerpt() {
        assert!(answer(204, "").error_for_status().is_ok());
        assert!(answer(399, "").error_for_status().is_ok());
        let err = answer(404, "not here\r\nX-Forged: 1")
            .error_for_status()
            .unwrap_err();
        assert_eq!(
            (err.code.as_str(), err.status_code),
            (crate::code::UPSTREAM_STATUS, Some(404))
        );
        assert!(
            err.message
                .contains("404 Not Found: not here\\r\\nX-Forged"),
            "{err}"
        );
        let long = "é".repeat(300);
        let err = answer(500, &long).error_for_status().unwrap_err();
        assert!(
            err.message.ends_with('…') && err.message.len() < 300,
            "{err}"
        );
        assert_eq!(err.kind(), crate::ErrorKind::Upstream);
    }

    #[test]
    fn the_python_triple_stays_as_fields() {
        let answer = answer(201, "made");
        assert_eq!((answer.0, answer.2.as_slice()), (201, &b"made"[..]));
        assert!(answer.1.is_empty());
        let FetchResponse(status, _headers, body, ..) = answer;
        assert_eq!((status, body), (201, b"made".to_vec()));
    }

    #[test]
    fn text_parts_and_debug() {
        assert_eq!(answer(200, "hi").text().unwrap(), "hi");
        let bad = FetchResponse::new(200, Headers::new(), vec![0xff]);
        assert_eq!(bad.text().unwrap_err().code, "invalid_response");
        let mut headers = Headers::new();
        headers.insert("set-cookie", "session=secret".parse().unwrap());
        let with = FetchResponse::new(200, headers, b"secret body".to_vec());
        let debug = format!("{with:?}");
        assert!(
            !debug.contains("secret") && debug.contains("set-cookie"),
            "{debug}"
        );
        let response: Response<Vec<u8>> = with.clone().into();
        assert_eq!(response.status(), 200);
        assert_eq!(response.body(), b"secret body");
        let (status, _, body) = with.into_parts();
        assert_eq!((status, body.len()), (200, 11));
    }
}
