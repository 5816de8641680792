//! `GET /userinfo` (OpenID Connect Core §5.3) in the shapes whose metadata
//! lists it (Okta's org server, Google): the person an access token the
//! issuer issued names, with their claims as they are now, released for
//! the token's scope as the provider releases an ID token's. And what a
//! provider that renews a sign-in without an ID token (which OpenID
//! Connect allows, §12.2) answers a refresh: no `id_token`.

use serde_json::{Value, json};

use super::{Grant, Shape, State, answer};
use crate::RecordedRequest;
use crate::server::Reply;

/// The access token `issued` holds, remembered as `grant`'s person and
/// scope for `/userinfo`.
pub(super) fn remembered(state: &mut State, issued: &Value, grant: &Grant) {
    if let Some(token) = issued["access_token"].as_str() {
        let scope = grant.scope.clone().unwrap_or_default();
        state
            .access
            .insert(token.to_owned(), (grant.subject.clone(), scope));
    }
}

/// `/userinfo`'s answer to `request`: the person its bearer token names,
/// `sub` and their claims released for its scope; 401 for a token the
/// issuer did not issue, and 404 in a shape that lists no such endpoint.
pub(super) fn answered(state: &State, request: &RecordedRequest) -> Reply {
    if !matches!(state.shape, Shape::OktaOrg | Shape::Google) {
        return answer(404, &json!({"error": "not_found"}));
    }
    let bearer = request
        .header("authorization")
        .and_then(|h| h.strip_prefix("Bearer "));
    let Some((subject, scope)) = bearer.and_then(|token| state.access.get(token)) else {
        return answer(401, &json!({"error": "invalid_token"}));
    };
    let now = state.people.get(subject).cloned().unwrap_or_default();
    let released = state
        .shape
        .released(&now, scope, state.groups_filter.as_deref());
    let mut claims = json!({"sub": subject});
    for (name, value) in released {
        claims[name] = value;
    }
    answer(200, &claims)
}
