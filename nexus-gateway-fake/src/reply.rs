//! The fake Gateway's vocabulary: its routes, and the answers it writes
//! (JSON as Go encodes it, plain text, a bare status). A leaf: every other
//! module of the Gateway speaks it, and it imports none of them.

use serde_json::{Value, json};

use crate::request::percent_decode;
use crate::server::Reply;

/// A Gateway route, for counting requests and aiming faults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    /// `GET /health`
    Health,
    /// `POST /v1/request-connection`
    RequestConnection,
    /// `GET /v1/check-connection/{id}`
    CheckConnection,
    /// `GET /v1/token/{id}`
    Token,
    /// `POST /v1/refresh/{id}`
    Refresh,
    /// `DELETE /v1/connections/{id}`
    Revoke,
    /// `GET /v1/resolve`
    Resolve,
    /// `GET /v1/providers/metadata`
    ProvidersMetadata,
    /// `GET /fake/authorize`: the fake consent page behind `auth_url`.
    Authorize,
    /// Anything else: 404 for an unknown path, 405 for a known path with
    /// another method.
    Unknown,
}

impl Route {
    /// The route a path names, its id, and the method it takes.
    pub(crate) fn of_path(path: &str) -> Option<(Route, &'static str, Option<String>)> {
        let id = |prefix: &str| path.strip_prefix(prefix).map(|s| percent_decode(s, false));
        Some(match path {
            "/health" => (Route::Health, "GET", None),
            "/v1/resolve" => (Route::Resolve, "GET", None),
            "/v1/providers/metadata" => (Route::ProvidersMetadata, "GET", None),
            "/fake/authorize" => (Route::Authorize, "GET", None),
            "/v1/request-connection" => (Route::RequestConnection, "POST", None),
            p if p.starts_with("/v1/check-connection/") => {
                (Route::CheckConnection, "GET", id("/v1/check-connection/"))
            }
            p if p.starts_with("/v1/token/") => (Route::Token, "GET", id("/v1/token/")),
            p if p.starts_with("/v1/refresh/") => (Route::Refresh, "POST", id("/v1/refresh/")),
            p if p.starts_with("/v1/connections/") => {
                (Route::Revoke, "DELETE", id("/v1/connections/"))
            }
            _ => return None,
        })
    }

    /// The route by its control-API name (`resolve`, `check-connection`, …).
    /// Every route's control name, as an error for an unknown one lists them.
    pub(crate) const NAMES: &'static str = "health, request-connection, check-connection, token, \
                                            refresh, revoke, resolve, providers-metadata";

    pub(crate) fn named(name: &str) -> Option<Route> {
        Some(match name {
            "health" => Route::Health,
            "request-connection" => Route::RequestConnection,
            "check-connection" => Route::CheckConnection,
            "token" => Route::Token,
            "refresh" => Route::Refresh,
            "revoke" => Route::Revoke,
            "resolve" => Route::Resolve,
            "providers-metadata" => Route::ProvidersMetadata,
            _ => return None,
        })
    }
}

/// A JSON answer, encoded as Go's `encoding/json` does (`<`, `>` and `&`
/// escaped, so an `authUrl`'s `&` arrives as `\u0026`).
pub(crate) fn json_reply(status: u16, body: &Value) -> Reply {
    let text = body
        .to_string()
        .replace('&', "\\u0026")
        .replace('<', "\\u003c")
        .replace('>', "\\u003e");
    let headers = vec![("Content-Type".into(), "application/json".into())];
    let body = text.into_bytes();
    Reply::Answer {
        status,
        headers,
        body,
    }
}

/// The Gateway's own JSON error.
pub(crate) fn error_reply(status: u16, code: &str, message: &str) -> Reply {
    json_reply(status, &json!({"error": code, "message": message}))
}

/// A plain-text answer (the router's 404, check-connection's 502).
pub(crate) fn text_reply(status: u16, text: &str) -> Reply {
    let headers = vec![("Content-Type".into(), "text/plain; charset=utf-8".into())];
    let body = text.as_bytes().to_vec();
    Reply::Answer {
        status,
        headers,
        body,
    }
}

/// A status with no body (a 405, a bodyless Gateway's forwarded error).
pub(crate) fn bare(status: u16) -> Reply {
    let (headers, body) = (Vec::new(), Vec::new());
    Reply::Answer {
        status,
        headers,
        body,
    }
}
