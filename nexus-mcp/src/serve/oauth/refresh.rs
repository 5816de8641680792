//! A refresh token at `/token` (RFC 6749 §6, OAuth 2.1 §4.3.1): opened
//! for its client within its sign-in's life, renewed at the issuer where
//! the issuer gave the sign-in a refresh token of its own (the person read
//! again), and checked or moved on in its family in the store every replica
//! shares, a replay revoking the family (RFC 9700 §4.14.2).

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;

use super::front::Front;
use crate::keys::OauthSeals;
use crate::serve::grant::{REVOKED, Refresh, opened};
use crate::serve::refusal::{ErrorCode, OAuthError};
use crate::serve::revoked::Revoked;
use crate::serve::signin::{self, NotSignedIn};
use crate::serve::store::{Down, Rotated, Step};

/// What the refresh token `token` carries, when it was issued to `client`
/// and its sign-in has not ended at `now`; or why not.
pub(super) fn opened_refresh(
    seals: &OauthSeals,
    token: &str,
    client: &str,
    now: u64,
) -> Result<Refresh, OAuthError> {
    let refresh: Refresh = opened(&seals.refresh, token)?;
    if client != refresh.grant.client {
        return Err(OAuthError::bad(
            ErrorCode::InvalidGrant,
            "the refresh token was issued to another client",
        ));
    }
    if refresh.ends <= now {
        let why = "the sign-in has ended (--sign-in-life): the person signs in again";
        return Err(OAuthError::bad(ErrorCode::InvalidGrant, why));
    }
    Ok(refresh)
}

/// `refresh` renewed at the issuer, when the issuer gave its sign-in a
/// refresh token: the person read again from the issuer's new ID token, or
/// its userinfo endpoint when it renews without one (their groups, claims
/// and workspace; who `--allow-sign-in` lets in is
/// held after), so that a person the issuer disabled or regrouped is out
/// or decided anew within an access token's life. Renewed before the
/// family moves on, so that an issuer that does not answer leaves the
/// host's refresh token unspent.
pub(super) async fn renewed(front: &Front, refresh: Refresh) -> Result<Refresh, OAuthError> {
    let Some(upstream) = refresh.upstream.clone() else {
        return Ok(refresh);
    };
    let Refresh { mut grant, .. } = refresh.clone();
    match signin::renewed(Arc::clone(&front.login), upstream).await {
        Ok((person, next)) => {
            if person.subject != grant.person {
                let why = "the issuer renewed the sign-in for another person";
                return Err(OAuthError::bad(ErrorCode::InvalidGrant, why));
            }
            grant.workspace = person.workspace;
            grant.attributes = person.attributes;
            grant.admitted = person.admitted;
            let upstream = next.or(refresh.upstream);
            Ok(Refresh {
                grant,
                upstream,
                ..refresh
            })
        }
        Err(NotSignedIn::Person(why) | NotSignedIn::Barred(why)) => {
            log::warn!(target: "nexus_mcp", "a refresh refused: the issuer no longer renews the sign-in ({why}); the person signs in again");
            let why = "the issuer no longer renews this sign-in: the person signs in again";
            Err(OAuthError::bad(ErrorCode::InvalidGrant, why))
        }
        Err(NotSignedIn::Operator(why)) => {
            log::error!(target: "nexus_mcp", "a refresh waits: the sign-in cannot be renewed at the issuer: {why}");
            Err(OAuthError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::TemporarilyUnavailable,
                "the issuer cannot renew the sign-in now: try again shortly",
            ))
        }
        Err(NotSignedIn::Stopped) => Err(OAuthError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::TemporarilyUnavailable,
            "the issuer did not renew the sign-in now: try again shortly",
        )),
    }
}

/// `refresh` checked (or moved on, `step`) in its family, or why not: a replay revokes the
/// family (said in the log), and a store that does not answer refuses the
/// refresh for a while, never accepting it unchecked.
pub(super) async fn rotated(
    front: &Front,
    refresh: Refresh,
    step: Step,
) -> Result<Refresh, OAuthError> {
    let now = jsonwebtoken::get_current_timestamp();
    let left = Duration::from_secs(refresh.ends.saturating_sub(now));
    let at = (refresh.generation, left);
    let revoked = || OAuthError::bad(ErrorCode::InvalidGrant, REVOKED);
    let client = Revoked::client(&refresh.grant.client).ok_or_else(revoked)?;
    let mut members = front.named(&refresh.grant.person).members();
    members.push(client.member());
    let whose = (members, refresh.grant.granted);
    match front
        .store
        .rotate(&refresh.family, at, (step, &whose))
        .await
    {
        Ok(Rotated::Next(generation)) => Ok(Refresh {
            generation,
            ..refresh
        }),
        Ok(Rotated::Revoked) => {
            let client = &refresh.grant.client[..12];
            log::warn!(target: "nexus_mcp", "a refresh token was used after it was replaced (client={client}): its sign-in's every token is revoked; the person signs in again");
            // Its access tokens too, on every replica (RFC 9700 §4.14.2).
            let family = Revoked::Family(refresh.family.clone());
            if let Err(Down(why)) = front.store.revoke(family).await {
                log::warn!(target: "nexus_mcp", "the store does not answer ({why}): a reused refresh token's access tokens end within their hour");
            }
            Err(OAuthError::bad(
                ErrorCode::InvalidGrant,
                "this refresh token's sign-in was revoked: a refresh token was used twice",
            ))
        }
        Ok(Rotated::Withdrawn) => Err(OAuthError::bad(ErrorCode::InvalidGrant, REVOKED)),
        Ok(Rotated::Unknown) => Err(OAuthError::bad(
            ErrorCode::InvalidGrant,
            "this refresh token's sign-in is not known to the store: the person signs in again",
        )),
        Err(Down(why)) => {
            log::warn!(target: "nexus_mcp", "the store does not answer ({why}): a refresh is refused for a while");
            Err(OAuthError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::TemporarilyUnavailable,
                "the store that detects refresh-token reuse does not answer: try again shortly",
            ))
        }
    }
}
