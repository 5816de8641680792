//! The fake issuer's refresh tokens, as providers issue them: one only for
//! a sign-in that asked to stay (`offline_access`; Google's
//! `access_type=offline`), rotated at each use, refused for a person an
//! administrator disabled (`invalid_grant`), and answering with an ID
//! token that carries the person's claims as they are now.

use std::collections::HashMap;

use serde_json::json;

use super::issued::issued;
use super::{Grant, Shape, State, answer, refused};
use crate::server::Reply;

/// Whether an authorization request asks for a refresh token, as `shape`
/// reads one.
pub(super) fn offline(shape: &Shape, form: &HashMap<String, String>) -> bool {
    let scope = form.get("scope").map(String::as_str).unwrap_or_default();
    match shape {
        Shape::Google => form.get("access_type").is_some_and(|t| t == "offline"),
        _ => scope.split(' ').any(|s| s == "offline_access"),
    }
}

/// A new refresh token for `grant`, kept until it is used.
pub(super) fn kept(state: &mut State, grant: &Grant) -> String {
    state.serial += 1;
    let token = format!("rt-{}", state.serial);
    let kept = Grant {
        client: grant.client.clone(),
        redirect_uri: grant.redirect_uri.clone(),
        challenge: String::new(),
        resource: grant.resource.clone(),
        scope: grant.scope.clone(),
        subject: grant.subject.clone(),
        claims: grant.claims.clone(),
        nonce: None,
        offline: true,
        auth_time: grant.auth_time,
    };
    state.refreshes.insert(token.clone(), kept);
    token
}

/// `/token` with a refresh token: used once, by its client, for the
/// person as they are now (their claims as last approved); refused once
/// they are disabled.
pub(super) fn refreshed(state: &mut State, url: &str, form: &HashMap<String, String>) -> Reply {
    let field = |name: &str| form.get(name).cloned().unwrap_or_default();
    let Some(mut grant) = state.refreshes.remove(&field("refresh_token")) else {
        return refused("invalid_grant", "an unknown or used refresh token");
    };
    if grant.client != field("client_id") {
        return refused(
            "invalid_grant",
            "the refresh token was issued to another client",
        );
    }
    if state.disabled.contains(&grant.subject) {
        return refused(
            "invalid_grant",
            "AADSTS50057: The user account is disabled.",
        );
    }
    if let Some(now) = state.people.get(&grant.subject) {
        grant.claims = now.clone();
    }
    let mut issued = issued(state, url, &grant, grant.resource.as_deref());
    if state.renew_bare {
        issued
            .as_object_mut()
            .map(|fields| fields.remove("id_token"));
    }
    super::userinfo::remembered(state, &issued, &grant);
    issued["refresh_token"] = json!(kept(state, &grant));
    answer(200, &issued)
}
