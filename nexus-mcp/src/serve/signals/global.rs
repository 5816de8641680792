//! `POST /global-token-revocation`: the identity provider switches a person
//! off (draft-parecki-oauth-global-token-revocation; Okta's Universal
//! Logout). The request is authenticated by a JWT the provider signs with
//! the keys it signs ID tokens with (`--issuer`'s published keys), sent as
//! a bearer token: [`jws`]'s one check, `iss` the issuer, `aud` this
//! server's issuer identifier or this endpoint's URL (alone), a life of at
//! most five minutes, its `jti` spent once across replicas. Its body names
//! the person as a subject identifier ([`subject::person`]). Answered as the
//! draft says: 204 once the person is revoked (the same revocation `serve
//! revoke --person` writes, in the same step as the `jti` is spent), 400,
//! 401, 404; 503 while the store does not answer, nothing done, so that the
//! provider's retry takes effect. Served with `--store` alone.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jsonwebtoken::DecodingKey;
use serde_json::{Map, Value, json};

use super::Receivers;
use super::subject::{self, Outcome, Unnamed};
use crate::serve::issuer::Missing;
use crate::serve::jws::{self, Kind};
use crate::serve::oauth::front::GLOBAL_REVOCATION;
use crate::serve::revoked::Revoked;

/// The channel's word in the log and the counter.
const CHANNEL: &str = "global_token_revocation";

/// The longest a request's JWT may live (the draft advises five minutes).
const LONGEST_LIFE: Duration = Duration::from_secs(300);

/// A refusal: its status, its word, why.
struct Refused(StatusCode, &'static str, String);

/// `POST /global-token-revocation` with the JSON `body`: 204 revoked, or
/// the draft's error status with `{"error", "error_description"}`.
pub(crate) async fn revoke(
    State(here): State<Arc<Receivers>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let mut who = None;
    let answer = revoked(&here, &headers, &body, &mut who).await;
    let outcome = match &answer {
        Ok(()) => Outcome::Revoked,
        Err(Refused(StatusCode::NOT_FOUND, ..)) => Outcome::Unknown,
        Err(Refused(StatusCode::SERVICE_UNAVAILABLE, ..)) => Outcome::Unavailable,
        Err(_) => Outcome::Refused,
    };
    let why = match &answer {
        Ok(()) => "the provider said so (Global Token Revocation)",
        Err(Refused(_, _, why)) => why.as_str(),
    };
    subject::said((CHANNEL, "logout"), who.as_ref(), outcome, why);
    match answer {
        Ok(()) => (
            StatusCode::NO_CONTENT,
            [(header::CACHE_CONTROL, "no-store")],
        )
            .into_response(),
        Err(Refused(status, error, why)) => {
            let body = json!({"error": error, "error_description": why});
            let no_store = [(header::CACHE_CONTROL, "no-store")];
            let mut response = (status, no_store, axum::Json(body)).into_response();
            if status == StatusCode::UNAUTHORIZED {
                let challenge = "Bearer error=\"invalid_token\"";
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    header::HeaderValue::from_static(challenge),
                );
            } else if status == StatusCode::SERVICE_UNAVAILABLE {
                let again = header::HeaderValue::from_static("5");
                response.headers_mut().insert(header::RETRY_AFTER, again);
            }
            response
        }
    }
}

/// The person `body` names revoked, the request authenticated by its
/// bearer JWT (`who` set once the person is read); or why not.
async fn revoked(
    here: &Receivers,
    headers: &HeaderMap,
    body: &[u8],
    who: &mut Option<Revoked>,
) -> Result<(), Refused> {
    let unauthorized = |why: String| Refused(StatusCode::UNAUTHORIZED, "invalid_token", why);
    let token = crate::serve::refusal::bearer(headers).map_err(|_| {
        unauthorized(
            "the request is authenticated by a JWT the provider signs, as a bearer token".into(),
        )
    })?;
    let verified = authenticated(here, token).await?;
    let bad = |why: String| Refused(StatusCode::BAD_REQUEST, "invalid_request", why);
    let asked: Value = serde_json::from_slice(body)
        .map_err(|_| bad("the body is JSON: {\"sub_id\": {\"format\": …}}".into()))?;
    let sub_id = asked
        .get("sub_id")
        .ok_or_else(|| bad("the body names sub_id".into()))?;
    let served = (here.people.issuer.as_str(), here.people.claim.as_str());
    let person = subject::person(sub_id, served).map_err(|unnamed| match unnamed {
        Unnamed::Unreadable(why) => bad(why),
        Unnamed::Stranger(why) => Refused(StatusCode::NOT_FOUND, "unknown_subject", why),
    })?;
    let person = Revoked::person(&person).ok_or_else(|| bad("no person".into()))?;
    *who = Some(person.clone());
    let jti = verified
        .claims
        .get("jti")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let key = crate::principal::sha256_hex(&[CHANNEL.as_bytes(), b"\0", jti.as_bytes()]);
    let spent = (verified.from, verified.lives);
    match here.store.spend_revoking(&key, spent, person).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(unauthorized(
            "its jti was presented before (or may have been, in what the store lost)".into(),
        )),
        Err(crate::serve::store::Down(why)) => {
            log::warn!(target: "nexus_mcp", "a Global Token Revocation waits: the store does not answer ({why})");
            Err(Refused(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "the store does not answer: nothing was revoked; try again shortly".into(),
            ))
        }
    }
}

/// The request's JWT `token` verified as the provider's: signed with a key
/// `--issuer` publishes, for this server alone, short-lived; or 401 (503
/// while the issuer's keys cannot be read).
async fn authenticated(here: &Receivers, token: &str) -> Result<jws::Verified, Refused> {
    let unauthorized = |why: String| Refused(StatusCode::UNAUTHORIZED, "invalid_token", why);
    let endpoint = format!("{}{GLOBAL_REVOCATION}", here.origin);
    let audiences = [here.origin.as_str(), endpoint.as_str()];
    let kind = Kind {
        types: &["jwt"],
        untyped: true,
        issuer: &here.people.issuer,
        audiences: &audiences,
        sole_audience: true,
        subject: None,
        required: &["sub", "iat", "jti"],
        longest: Some(LONGEST_LIFE),
        without_exp: false,
    };
    let refused = |jws::Refused(why)| unauthorized(format!("the request's JWT {why}"));
    let header = jws::header(token, &kind).map_err(refused)?;
    let claimed = jsonwebtoken::dangerous::insecure_decode_claims::<Map<String, Value>>(token);
    let claimed = claimed.map_err(|_| unauthorized("the request's JWT does not read".into()))?;
    if claimed.get("iss").and_then(Value::as_str) != Some(here.people.issuer.as_str()) {
        return Err(unauthorized(
            "the request's JWT is not --issuer's (iss)".into(),
        ));
    }
    let kid = header
        .kid
        .clone()
        .ok_or_else(|| unauthorized("the request's JWT names no key (kid)".into()))?;
    let jwk = match here.issuer.key(&kid).await {
        Ok(jwk) => jwk,
        Err(Missing::Unknown) => {
            return Err(unauthorized(
                "the request's JWT is signed with a key the issuer does not publish".into(),
            ));
        }
        Err(Missing::Unreadable(why)) => {
            log::warn!(target: "nexus_mcp", "a Global Token Revocation waits: {why}");
            return Err(Refused(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "the issuer's keys cannot be read now: try again shortly".into(),
            ));
        }
    };
    let key = DecodingKey::from_jwk(&jwk)
        .map_err(|_| unauthorized("the issuer's key does not read".into()))?;
    let now = jsonwebtoken::get_current_timestamp();
    jws::verified(token, &header, &key, (&kind, now)).map_err(refused)
}
