//! One OAuth refusal, as every endpoint of `serve` answers it in JSON: its
//! error code, why (for the client's developer), and its status (RFC 6749
//! §5.2 at the token endpoint, RFC 7591 §3.2.2 at registration, RFC 6750
//! §3 in front of MCP, whose challenge header the bearer check adds). The
//! body `{"error", "error_description"}` is written here alone, never
//! cached. An authorization request's refusal, told on a page or at the
//! host's redirect, is [`super::oauth`]'s own.

use std::borrow::Cow;

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An OAuth refusal: its status, its error code, and why.
#[derive(Debug, PartialEq)]
pub(crate) struct OAuthError {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) why: Cow<'static, str>,
}

impl OAuthError {
    /// A refusal with `status`.
    pub(crate) fn new(
        status: StatusCode,
        code: &'static str,
        why: impl Into<Cow<'static, str>>,
    ) -> OAuthError {
        let why = why.into();
        OAuthError { status, code, why }
    }

    /// A refusal of the request (400).
    pub(crate) fn bad(code: &'static str, why: impl Into<Cow<'static, str>>) -> OAuthError {
        OAuthError::new(StatusCode::BAD_REQUEST, code, why)
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = json!({"error": self.code, "error_description": self.why});
        let no_store = [(header::CACHE_CONTROL, "no-store")];
        (self.status, no_store, Json(body)).into_response()
    }
}
