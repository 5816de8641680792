//! `POST /revoke` (RFC 7009): a host says it is done with a token. A
//! refresh token or an access token `serve` issued ends its sign-in's
//! family (every refresh and access token it gave) on every replica,
//! through the store's list of revocations ([`crate::serve::store`]).
//! The host names itself with `client_id` (a public client), or
//! authenticates (a confidential one, [`super::authn`]); a token
//! issued to another client, or one that does not open, is left as it is
//! and answered 200 as a revoked one is (RFC 7009 §2.2), so that nobody
//! learns whose a token is by asking.

use std::sync::Arc;

use axum::extract::State;
use axum::extract::rejection::FormRejection;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::authn;
use super::front::Front;
use crate::keys::Sealing;
use crate::serve::grant::{Access, Refresh, client_mark};
use crate::serve::refusal::{ErrorCode, OAuthError};
use crate::serve::revoked::Revoked;
use crate::serve::store::Down;

/// A revocation request's form (RFC 7009 §2.1): the fields read. The
/// `token_type_hint` is read and need not be followed: both kinds are tried.
#[derive(Deserialize)]
pub(crate) struct Asked {
    token: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    client_assertion_type: Option<String>,
    client_assertion: Option<String>,
}

/// `POST /revoke`: 200 once the token is revoked or was none of the
/// client's to revoke; 400 for a malformed form or one without a token,
/// 401 for a client that names or proves none of itself; 503 while the
/// store does not answer (RFC 7009 §2.2.1), never a revocation said done
/// that is not.
pub(crate) async fn revoke(
    State(front): State<Arc<Front>>,
    headers: axum::http::HeaderMap,
    asked: Result<axum::Form<Asked>, FormRejection>,
) -> Response {
    let basic = headers.get(header::AUTHORIZATION);
    let basic = basic.and_then(|value| value.to_str().ok());
    let answer = match OAuthError::form(asked) {
        Ok(asked) => revoked(&front, basic, asked).await,
        Err(refused) => Err(refused),
    };
    let outcome = match &answer {
        Ok(done) => done,
        Err(refused) => refused.code.as_str(),
    };
    crate::metrics::oauth("revocation", outcome);
    match answer {
        Ok(_) => (StatusCode::OK, [(header::CACHE_CONTROL, "no-store")]).into_response(),
        Err(refused) => {
            log::info!(target: "nexus_mcp", "revocation refused ({}): {}", refused.code, refused.why);
            refused.into_response()
        }
    }
}

/// What `asked` revoked, as the metrics count it (`ok`, or `not_revoked`
/// for a token that does not open or is another client's), or why not.
async fn revoked(
    front: &Front,
    basic: Option<&str>,
    asked: Asked,
) -> Result<&'static str, OAuthError> {
    let missing = |why| OAuthError::bad(ErrorCode::InvalidRequest, why);
    let token = asked.token.ok_or(missing("no token"))?;
    let named = authn::Named {
        id: asked.client_id,
        secret: asked.client_secret,
        assertion: asked.client_assertion_type.zip(asked.client_assertion),
    };
    let client = authn::asker(front, basic, named).await?.id;
    let keys = front.keys.now();
    let seals = &keys.oauth;
    let opened = match Sealing::opened::<Refresh>(&seals.refresh, &token) {
        Ok(refresh) => Some((refresh.grant.client, Some(refresh.family))),
        Err(_) => Sealing::opened::<Access>(&seals.access, &token)
            .ok()
            .map(|access| (access.grant.client, access.family)),
    };
    let Some((owner, family)) = opened else {
        return Ok("not_revoked");
    };
    if owner != client_mark(&client) {
        log::info!(target: "nexus_mcp", "revocation: a token of another client was presented (client={}); nothing revoked", &owner[..12]);
        return Ok("not_revoked");
    }
    let unavailable = |why: &'static str| {
        OAuthError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::TemporarilyUnavailable,
            why,
        )
    };
    // RFC 7009 §2.2: 200 says revoked; a valid token this cannot revoke
    // is never said to be.
    let Some(family) = family else {
        log::warn!(target: "nexus_mcp", "revocation: an access token from a sign-in with no family (the store did not answer then) cannot be revoked alone: it ends within its hour; `serve revoke --person` ends it now");
        return Err(unavailable(
            "this access token was issued while the store did not answer, and cannot be \
             revoked alone: it ends within its hour",
        ));
    };
    let unavailable = |Down(why)| {
        log::warn!(target: "nexus_mcp", "revocation waits: the store does not answer ({why})");
        unavailable("the store that keeps revocations does not answer: try again shortly")
    };
    front
        .store
        .revoke(Revoked::Family(family))
        .await
        .map_err(unavailable)?;
    log::info!(target: "nexus_mcp", "revocation: a sign-in's tokens revoked (client={}) on every replica", &owner[..12]);
    Ok("ok")
}
