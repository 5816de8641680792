//! One OAuth refusal, as every endpoint of `serve` answers it in JSON: its
//! error code, why (for the client's developer), and its status (RFC 6749
//! §5.2 at the token endpoint, RFC 7591 §3.2.2 at registration, RFC 6750
//! §3 in front of MCP, whose challenge header the bearer check adds). The
//! body `{"error", "error_description"}` is written here alone, never
//! cached. An authorization request's refusal, told on a page or at the
//! host's redirect, is [`super::oauth`]'s own.

use std::borrow::Cow;

use axum::Json;
use axum::extract::rejection::FormRejection;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// The error codes `serve` answers with, each where the protocol defines
/// it: one type, so that a misspelt code does not compile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorCode {
    /// The request lacks a parameter, repeats one, or is malformed (RFC
    /// 6749 §4.1.2.1, §5.2; RFC 6750 §3.1).
    InvalidRequest,
    /// The client could not be authenticated: 401, with a Basic
    /// challenge (RFC 6749 §5.2).
    InvalidClient,
    /// The client may not use this grant (RFC 6749 §5.2).
    UnauthorizedClient,
    /// The grant (a code, a refresh token, an assertion) is invalid,
    /// expired, revoked, or was issued to another client (RFC 6749 §5.2).
    InvalidGrant,
    /// The grant type is not one this server supports (RFC 6749 §5.2).
    UnsupportedGrantType,
    /// The scope asked is invalid, unknown, or exceeds what was granted
    /// (RFC 6749 §4.1.2.1, §5.2).
    InvalidScope,
    /// The response type is not one this server supports (RFC 6749 §4.1.2.1).
    UnsupportedResponseType,
    /// The resource asked is not this server's (RFC 8707 §2).
    InvalidTarget,
    /// The person or the operator refused (RFC 6749 §4.1.2.1).
    AccessDenied,
    /// The server met an error it could not help (RFC 6749 §4.1.2.1).
    ServerError,
    /// The server cannot answer for a while: the store does not (RFC 6749
    /// §4.1.2.1).
    TemporarilyUnavailable,
    /// A registration's metadata is invalid (RFC 7591 §3.2.2).
    InvalidClientMetadata,
    /// A registration's redirect URI is invalid (RFC 7591 §3.2.2).
    InvalidRedirectUri,
    /// The access token is expired, revoked, malformed or not this
    /// server's (RFC 6750 §3.1).
    InvalidToken,
    /// The access token lacks a scope the request needs (RFC 6750 §3.1).
    InsufficientScope,
    /// No token was given: the body's word, where RFC 6750 §3.1 puts no
    /// code in the challenge.
    Unauthorized,
    /// A device's person has not answered yet (RFC 8628 §3.5).
    AuthorizationPending,
    /// A device polled faster than its interval (RFC 8628 §3.5).
    SlowDown,
    /// A device code has expired (RFC 8628 §3.5).
    ExpiredToken,
}

impl ErrorCode {
    /// The code as the protocol spells it, for bodies, redirects, the log
    /// and the metrics.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::UnauthorizedClient => "unauthorized_client",
            ErrorCode::InvalidGrant => "invalid_grant",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCode::InvalidScope => "invalid_scope",
            ErrorCode::UnsupportedResponseType => "unsupported_response_type",
            ErrorCode::InvalidTarget => "invalid_target",
            ErrorCode::AccessDenied => "access_denied",
            ErrorCode::ServerError => "server_error",
            ErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
            ErrorCode::InvalidClientMetadata => "invalid_client_metadata",
            ErrorCode::InvalidRedirectUri => "invalid_redirect_uri",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::InsufficientScope => "insufficient_scope",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::AuthorizationPending => "authorization_pending",
            ErrorCode::SlowDown => "slow_down",
            ErrorCode::ExpiredToken => "expired_token",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An OAuth refusal: its status, its error code, and why.
#[derive(Debug, PartialEq)]
pub(crate) struct OAuthError {
    pub(crate) status: StatusCode,
    pub(crate) code: ErrorCode,
    pub(crate) why: Cow<'static, str>,
}

impl OAuthError {
    /// A refusal with `status`.
    pub(crate) fn new(
        status: StatusCode,
        code: ErrorCode,
        why: impl Into<Cow<'static, str>>,
    ) -> OAuthError {
        let why = why.into();
        OAuthError { status, code, why }
    }

    /// A refusal of the request (400).
    pub(crate) fn bad(code: ErrorCode, why: impl Into<Cow<'static, str>>) -> OAuthError {
        OAuthError::new(StatusCode::BAD_REQUEST, code, why)
    }

    /// A form's fields, or the one refusal of a malformed one at every
    /// endpoint that reads a form (RFC 6749 §3.1, §5.2): 400
    /// `invalid_request`, whether its body is not a form, gives a parameter
    /// twice, lacks one the endpoint needs or weighs too much.
    pub(crate) fn form<T>(asked: Result<axum::Form<T>, FormRejection>) -> Result<T, OAuthError> {
        asked.map(|axum::Form(asked)| asked).map_err(|_| {
            let why = "the body is a form (application/x-www-form-urlencoded), each of its \
                       parameters given once";
            OAuthError::bad(ErrorCode::InvalidRequest, why)
        })
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        // The id a person quotes ends the words, as a tool error's does.
        let why = match crate::telemetry::answering() {
            Some(id) => format!("{} (id {id})", self.why),
            None => self.why.into_owned(),
        };
        let body = json!({"error": self.code.as_str(), "error_description": why});
        let no_store = [(header::CACHE_CONTROL, "no-store")];
        let mut response = (self.status, no_store, Json(body)).into_response();
        if self.code == ErrorCode::InvalidClient {
            let basic = header::HeaderValue::from_static("Basic realm=\"nexus-mcp\"");
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, basic);
        }
        response
    }
}

/// Why a request's `Authorization` header gives no bearer token.
#[derive(Debug, PartialEq)]
pub(crate) enum NoBearer {
    /// It has none.
    Absent,
    /// It has one that is not `Bearer <token>`, or more than one: why.
    Malformed(&'static str),
}

/// The token of the request's one `Authorization: Bearer` header (RFC
/// 6750 §2.1): every endpoint that takes one reads it here (MCP's, and
/// the provider's signals).
///
/// # Errors
/// Why there is none: absent, or malformed.
pub(crate) fn bearer(headers: &axum::http::HeaderMap) -> Result<&str, NoBearer> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let value = values.next().ok_or(NoBearer::Absent)?;
    if values.next().is_some() {
        return Err(NoBearer::Malformed("more than one Authorization header"));
    }
    let value = (value.to_str())
        .map_err(|_| NoBearer::Malformed("the Authorization header is not text"))?;
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(token.trim())
        }
        _ => Err(NoBearer::Malformed(
            "the Authorization header is not `Bearer <token>`",
        )),
    }
}
/// 503 `temporarily_unavailable` while `revocations` are yet to be read:
/// the store is what refuses, not a revocation.
pub(crate) fn unread(revocations: &crate::serve::revoked::Revocations) -> Result<(), OAuthError> {
    match revocations.unread_said() {
        Some(why) => Err(OAuthError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::TemporarilyUnavailable,
            why,
        )),
        None => Ok(()),
    }
}
