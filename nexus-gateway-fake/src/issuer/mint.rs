//! `POST /_fake/mint`: tokens of any shape for tests in any language, as
//! [`FakeIssuer::mint`](super::FakeIssuer::mint) and
//! [`FakeIssuer::mint_opaque`](super::FakeIssuer::mint_opaque) are for Rust's.

use serde_json::Value;

use super::{FakeToken, KEYS, State, introspect, refused, sign};
use crate::server::Reply;

/// The token a JSON body asks for (`sub`, and any of `aud`, `iss`,
/// `expires_in`, `not_before_in`, `kid`, `typ`, `crit`, `claims`), as text;
/// with `"opaque": true`, an opaque token that `/introspect` tells.
pub(super) fn asked(state: &mut State, url: &str, body: &[u8]) -> Reply {
    let asked: Value = serde_json::from_slice(body).unwrap_or_default();
    let Some(subject) = asked["sub"].as_str() else {
        return refused("invalid_request", "a JSON object with at least `sub`");
    };
    let kid = asked["kid"].as_str().unwrap_or(state.signer);
    if !KEYS.iter().any(|(id, _, _)| *id == kid) {
        return refused("invalid_request", "kid is one of ec-1, rsa-1, ec-2, rsa-2");
    }
    let texts = |name: &str| -> Option<Vec<String>> {
        let listed = asked[name].as_array()?.iter();
        Some(
            listed
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
        )
    };
    let mut token = FakeToken::new(subject);
    token.audience = asked["aud"].as_str().map(str::to_owned);
    token.issuer = asked["iss"].as_str().map(str::to_owned);
    token.expires_in = asked["expires_in"].as_i64();
    token.not_before_in = asked["not_before_in"].as_i64();
    token.typ = asked["typ"].as_str().map(str::to_owned);
    token.critical = texts("crit");
    token.claims = asked["claims"].as_object().cloned().unwrap_or_default();
    let minted = if asked["opaque"] == true {
        introspect::keep(state, token.claims(url))
    } else {
        sign(&token, kid, url)
    };
    Reply::Answer {
        status: 200,
        headers: vec![("Content-Type".into(), "text/plain".into())],
        body: minted.into_bytes(),
    }
}
