//! `POST /global-token-revocation`: the identity provider switches a person
//! off (draft-parecki-oauth-global-token-revocation; Okta's Universal
//! Logout). The request is authenticated by a JWT the provider signs with
//! the keys it signs ID tokens with (`--issuer`'s published keys), sent as
//! a bearer token: [`jws`]'s one check, `iss` the issuer, `aud` this
//! server's issuer identifier or this endpoint's URL (alone), a life of at
//! most five minutes, its `jti` taken once across replicas while the store
//! remembers it. Its body names the person as a subject identifier
//! ([`People::person`](super::subject::People::person)). Answered as the
//! draft says, in OAuth's body: 204 once the person is revoked (the same
//! revocation `serve revoke --person` writes, in the same step as the `jti`
//! is taken), 400, 401, 404; 503 while the store does not answer, nothing
//! done, so that the provider's retry takes effect, whatever the store lost
//! meanwhile. Served with `--store` alone.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use super::Receivers;
use super::subject::{self, Outcome, Unnamed};
use crate::serve::jws::{self, Kind};
use crate::serve::oauth::front::GLOBAL_REVOCATION;
use crate::serve::refusal::{ErrorCode, OAuthError};
use crate::serve::revoked::Revoked;

/// The channel's word in the log and the counter.
const CHANNEL: &str = "global_token_revocation";

/// The longest a request's JWT may live (the draft advises five minutes).
const LONGEST_LIFE: Duration = Duration::from_secs(300);

/// Why a request is refused, as the draft answers each.
#[derive(Debug)]
enum Refused {
    /// Not authenticated, or a replay: 401 `invalid_token` (the provider
    /// does not send it again).
    Unauthorized(String),
    /// Malformed, or naming a person in a way this server cannot read: 400.
    Malformed(String),
    /// A person not of this server: 404.
    Unknown(String),
    /// The store or the issuer's keys do not answer now: nothing was done
    /// (503; the provider sends it again).
    Unavailable(String),
}

impl Refused {
    /// What the line and the counter say of it.
    fn outcome(&self) -> Outcome {
        match self {
            Refused::Unknown(_) => Outcome::Unknown,
            Refused::Unavailable(_) => Outcome::Unavailable,
            Refused::Unauthorized(_) | Refused::Malformed(_) => Outcome::Refused,
        }
    }

    /// Its answer, saying `why`: OAuth's body, with the challenge a 401
    /// carries and the wait a 503 asks.
    fn answered(&self, why: String) -> Response {
        let (status, code) = match self {
            Refused::Unauthorized(_) => (StatusCode::UNAUTHORIZED, ErrorCode::InvalidToken),
            Refused::Malformed(_) => (StatusCode::BAD_REQUEST, ErrorCode::InvalidRequest),
            Refused::Unknown(_) => (StatusCode::NOT_FOUND, ErrorCode::InvalidRequest),
            Refused::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::TemporarilyUnavailable,
            ),
        };
        let mut response = OAuthError::new(status, code, why).into_response();
        let added = match status {
            StatusCode::UNAUTHORIZED => Some((
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer error=\"invalid_token\""),
            )),
            StatusCode::SERVICE_UNAVAILABLE => {
                Some((header::RETRY_AFTER, HeaderValue::from_static("5")))
            }
            _ => None,
        };
        response.headers_mut().extend(added);
        response
    }
}

/// `POST /global-token-revocation` with the JSON `body`: 204 revoked, or
/// the draft's error status with `{"error", "error_description"}`.
pub(crate) async fn revoke(
    State(here): State<Arc<Receivers>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let mut who = None;
    let answer = revoked(&here, &headers, &body, &mut who).await;
    let (outcome, why) = match &answer {
        Ok(()) => (
            Outcome::Revoked,
            "the provider said so (Global Token Revocation)",
        ),
        Err(refused) => (refused.outcome(), refused.why()),
    };
    // Whatever the request echoes, its bearer JWT is written nowhere.
    let bearer = crate::serve::refusal::bearer(&headers).unwrap_or_default();
    let why = subject::withheld(why, &[bearer]);
    subject::said((CHANNEL, "logout"), who.as_ref(), outcome, &why);
    match answer {
        Ok(()) => (
            StatusCode::NO_CONTENT,
            [(header::CACHE_CONTROL, "no-store")],
        )
            .into_response(),
        Err(refused) => refused.answered(why),
    }
}

impl Refused {
    /// Why, for the line.
    fn why(&self) -> &str {
        match self {
            Refused::Unauthorized(why)
            | Refused::Malformed(why)
            | Refused::Unknown(why)
            | Refused::Unavailable(why) => why,
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
    let token = crate::serve::refusal::bearer(headers).map_err(|_| {
        let why = "the request is authenticated by a JWT the provider signs, as a bearer token";
        Refused::Unauthorized(why.into())
    })?;
    let verified = authenticated(here, token).await?;
    let asked: Value = serde_json::from_slice(body).map_err(|_| {
        Refused::Malformed("the body is JSON: {\"sub_id\": {\"format\": …}}".into())
    })?;
    let sub_id = asked
        .get("sub_id")
        .ok_or_else(|| Refused::Malformed("the body names sub_id".into()))?;
    let person = here
        .people
        .person(sub_id)
        .map_err(|unnamed| match unnamed {
            Unnamed::Unreadable(why) => Refused::Malformed(why),
            Unnamed::Stranger(why) => Refused::Unknown(why),
        })?;
    let person = Revoked::person(&person).ok_or_else(|| Refused::Malformed("no person".into()))?;
    *who = Some(person.clone());
    let jti = verified.claims.get("jti").and_then(Value::as_str);
    let jti = jti.unwrap_or_default();
    let key = crate::principal::sha256_hex(&[CHANNEL.as_bytes(), b"\0", jti.as_bytes()]);
    let down = |crate::serve::store::Down(why)| {
        log::warn!(target: "nexus_mcp", "a Global Token Revocation waits: the store does not answer ({why})");
        Refused::Unavailable(
            "the store does not answer: nothing was revoked; try again shortly".into(),
        )
    };
    let Revoked::Person(digits) = &person else {
        return Err(Refused::Malformed("no person".into()));
    };
    let seen = here.store.seen(digits).await.map_err(down)?;
    let as_of = subject::as_of(&verified.claims, crate::serve::store::now_ms());
    match here
        .store
        .signal(&key, verified.lives, Some((person, as_of)))
        .await
        .map_err(down)?
    {
        false => Err(Refused::Unauthorized(
            "its jti was presented before: the person was revoked then".into(),
        )),
        // Revoked all the same: a sign-in from before this server said so
        // to the store is revoked too.
        true if !seen => Err(Refused::Unknown(format!(
            "no sign-in of this subject is known here lately (an unknown subject): revoked all \
             the same; if they do sign in here, the subject is not the one their --subject-claim \
             {} carries",
            here.people.claim
        ))),
        true => Ok(()),
    }
}

/// The request's JWT `token` verified as the provider's: signed with a key
/// `--issuer` publishes, for this server alone, short-lived; or 401 (503
/// while the issuer's keys cannot be read).
async fn authenticated(here: &Receivers, token: &str) -> Result<jws::Verified, Refused> {
    let unauthorized = |why: &str| Refused::Unauthorized(format!("the request's JWT {why}"));
    let endpoint = format!("{}{GLOBAL_REVOCATION}", here.origin);
    let audiences = [here.origin.as_str(), endpoint.as_str()];
    let issuer = here.people.issuer.as_str();
    let kind = Kind {
        types: &["jwt"],
        untyped: true,
        issuer,
        audiences: &audiences,
        sole_audience: true,
        subject: None,
        required: &["sub", "iat", "jti"],
        longest: Some(LONGEST_LIFE),
        without_exp: false,
    };
    if claimed_issuer(token) != Some(issuer.to_owned()) {
        return Err(unauthorized("is not --issuer's (iss)"));
    }
    let verify = jws::verify(token, &kind, jws::Keys::Issuer(&here.issuer)).await;
    verify
        .map(|(_, verified)| verified)
        .map_err(|rejected| match rejected {
            jws::Rejected::KeysUnavailable(why) => {
                log::warn!(target: "nexus_mcp", "a Global Token Revocation waits: {why}");
                Refused::Unavailable(
                    "the issuer's keys cannot be read now: try again shortly".into(),
                )
            }
            other => unauthorized(other.clause()),
        })
}

/// The `iss` `token` claims, read before any key is fetched.
fn claimed_issuer(token: &str) -> Option<String> {
    let claimed = jsonwebtoken::dangerous::insecure_decode_claims::<Map<String, Value>>(token);
    Some(claimed.ok()?.get("iss")?.as_str()?.to_owned())
}
