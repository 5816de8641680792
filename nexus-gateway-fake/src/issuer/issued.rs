//! The tokens a grant earns, in the provider's shape the issuer takes: an
//! access token and, with `openid`, an ID token carrying the login's nonce
//! and the person's claims as the provider releases them. Both a code and
//! a refresh token earn them so ([`super::oauth`], [`super::refresh`]).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{FakeToken, Grant, KEYS, Shape, State, entra, sign};

/// The tokens `grant` earns (for `resource`): an access token in the
/// shape's form and, with `openid`, an ID token carrying the login's nonce.
pub(super) fn issued(state: &State, url: &str, grant: &Grant, resource: Option<&str>) -> Value {
    let scope = grant.scope.as_deref().unwrap_or_default();
    let mut token = FakeToken::new(&grant.subject);
    if let Some(resource) = resource {
        token = token.audience(resource);
    }
    if let Some(scope) = &grant.scope {
        token = token.claim("scope", json!(scope));
    }
    // The person's claims, as the provider releases them for `scope`.
    let released = (state.shape).released(&grant.claims, scope, state.groups_filter.as_deref());
    let theirs = |token: FakeToken| {
        (released.iter()).fold(token, |token, (name, value)| {
            token.claim(name, value.clone())
        })
    };
    let token = theirs(token);
    let access = match &state.shape {
        Shape::Plain => sign(&token, state.signer, url),
        Shape::Entra(tenant) => sign(
            &theirs(entra::access_token(&grant.subject, scope, tenant)),
            state.signer,
            url,
        ),
        // For Okta's own APIs: signed with a key it does not publish.
        Shape::OktaOrg => sign(&token, KEYS[3].0, url),
        Shape::Google => format!(
            "ya29.{}",
            URL_SAFE_NO_PAD.encode(Sha256::digest(state.serial.to_be_bytes()))
        ),
    };
    let mut issued = json!({"access_token": access, "token_type": "Bearer", "expires_in": 3600});
    // OpenID Connect: an ID token for the client, with the login's nonce.
    if scope.split(' ').any(|s| s == "openid") {
        let mut id = theirs(state.shape.id_token(&grant.subject, &grant.client, scope));
        if let Some(nonce) = &grant.nonce {
            id = id.claim("nonce", json!(nonce));
        }
        if let Some(auth_time) = grant.auth_time {
            id = id.claim("auth_time", json!(auth_time));
        }
        issued["id_token"] = json!(sign(&id, state.signer, url));
    }
    if let Some(scope) = &grant.scope {
        issued["scope"] = json!(scope);
    }
    issued
}
