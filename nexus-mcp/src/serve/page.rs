//! What every page of `serve` is made of: a plain page of this server's
//! own words, text escaped for HTML, a cookie read from a request, and a
//! random value for a form's or a code's id. No step of a flow is here:
//! the connect page, the sign-in and the authorization server all read it.

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::{SecureRandom, SystemRandom};

/// A plain page saying `text`: this server's own words, never a request's
/// (`'static`: no one else's text reaches the page unescaped).
pub(crate) fn page(status: StatusCode, text: &'static str) -> Response {
    let html = format!("<!doctype html><meta charset=utf-8><title>nexus-mcp</title><p>{text}</p>");
    (status, Html(html)).into_response()
}

/// `text` for an HTML page: `&`, `<`, `>`, `"` and `'` written as
/// references.
pub(crate) fn escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The value of the cookie `name`.
pub(crate) fn cookie_named(headers: &HeaderMap, name: &str) -> Option<String> {
    let values = headers.get_all(header::COOKIE).iter();
    let pairs = values
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'));
    let found = pairs
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name);
    found.map(|(_, value)| value.to_owned())
}

/// 16 random bytes, base64url; none when the system has no randomness.
pub(crate) fn random() -> Option<String> {
    let mut bytes = [0u8; 16];
    SystemRandom::new().fill(&mut bytes).ok()?;
    Some(URL_SAFE_NO_PAD.encode(bytes))
}
