//! RFC 8693's token exchange for an ID-JAG, as Okta documents it for Cross
//! App Access: a requesting client (authenticated at `/token`) presents a
//! person's ID token the issuer gave it (its `aud` that client) and the
//! audience it wants to reach (an MCP server's authorization server); the
//! administrator let that client reach that audience as a client of its
//! there ([`FakeIssuer::let_reach`](super::FakeIssuer::let_reach), `POST
//! /_fake/cross-app`); the answer is an ID-JAG of five minutes
//! (`issued_token_type` `…:id-jag`, `token_type` `N_A`).

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use super::{FakeToken, Shape, State, answer, refused, sign};
use crate::server::Reply;

/// The grant type of RFC 8693.
pub(super) const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// The token type an ID-JAG is asked and issued as.
const ID_JAG: &str = "urn:ietf:params:oauth:token-type:id-jag";
/// The token type of the subject token: an ID token.
const ID_TOKEN: &str = "urn:ietf:params:oauth:token-type:id_token";

/// The ID-JAG `form` earns its (authenticated) client, or the refusal.
pub(super) fn exchanged(state: &mut State, url: &str, form: &HashMap<String, String>) -> Reply {
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
    if !matches!(state.shape, Shape::Plain | Shape::OktaOrg) {
        return refused("unsupported_grant_type", "this provider issues no ID-JAG");
    }
    if field("requested_token_type") != ID_JAG || field("subject_token_type") != ID_TOKEN {
        let why = "requested_token_type is …:id-jag and subject_token_type …:id_token";
        return refused("invalid_request", why);
    }
    let client = field("client_id");
    let subject = subject_of(state, url, field("subject_token"), client);
    let Some((person, claims)) = subject else {
        return refused(
            "invalid_grant",
            "the subject token is no ID token of ours for this client",
        );
    };
    let reach = (client.to_owned(), field("audience").to_owned());
    let Some(there) = state.cross_app.get(&reach).cloned() else {
        return refused("invalid_target", "this client may not reach that audience");
    };
    state.serial += 1;
    let scope = field("scope");
    let mut token = FakeToken::new(&person)
        .typ("oauth-id-jag+jwt")
        .audience(&reach.1)
        .expires_in(300)
        .claim("client_id", json!(there))
        .claim("jti", json!(format!("id-jag-{}", state.serial)));
    if !scope.is_empty() {
        token = token.claim("scope", json!(scope));
    }
    if !field("resource").is_empty() {
        token = token.claim("resource", json!(field("resource")));
    }
    let released = state.shape.released(&claims, "openid email groups", None);
    let token = released
        .into_iter()
        .fold(token, |t, (name, v)| t.claim(&name, v));
    let mut issued = json!({
        "access_token": sign(&token, state.signer, url),
        "issued_token_type": ID_JAG,
        "token_type": "N_A",
        "expires_in": 300,
    });
    if !scope.is_empty() {
        issued["scope"] = json!(scope);
    }
    answer(200, &issued)
}

/// The person an ID token of this issuer (`url`) for `client`, not
/// expired, names, and their claims; none for any other.
fn subject_of(
    state: &State,
    url: &str,
    token: &str,
    client: &str,
) -> Option<(String, Map<String, Value>)> {
    let claims = jsonwebtoken::dangerous::insecure_decode_claims::<Map<String, Value>>(token);
    let claims = claims.ok()?;
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    let now = jsonwebtoken::get_current_timestamp();
    let fresh = claims
        .get("exp")
        .and_then(Value::as_u64)
        .is_some_and(|exp| exp > now);
    let ours = text("iss") == Some(url) && text("aud") == Some(client) && fresh;
    let person = text("sub").filter(|_| ours)?.to_owned();
    let theirs = state.people.get(&person).cloned().unwrap_or_default();
    Some((person, theirs))
}
