//! Shared Signals (OpenID SSF 1.0, CAEP 1.0, RISC 1.0): the identity
//! provider's Security Event Tokens (RFC 8417), pushed to `POST /ssf/events`
//! (RFC 8935) or polled from the transmitter (RFC 8936), from the
//! transmitters `--ssf-transmitter` names (their `ssf-configuration` gives
//! their issuer and keys). A SET is checked by [`jws`]'s one rule: typed
//! `secevent+jwt`, signed with its transmitter's key, `iss` the transmitter,
//! `aud` this server's issuer identifier (or its MCP URL), issued within
//! [`WINDOW`], its `jti` taken once across replicas. CAEP `session-revoked`
//! and RISC `account-disabled` and `account-purged` revoke the person it
//! names (the revocation `serve revoke --person` writes, in the same store
//! step as its `jti`); CAEP `credential-change` too where the operator says
//! (`--ssf-credential-change-revokes`); the stream's verification event is
//! answered; anything else is logged, counted and left. Refusals are RFC
//! 8935's: 400 with `{"err", "description"}` (401 `authentication_failed`
//! for a push without the authorization `serve ssf connect` gave), 503
//! while the store does not answer, nothing done, so the retry holds.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jsonwebtoken::DecodingKey;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::Receivers;
use super::subject::{self, Outcome, Unnamed};
use crate::keys::Sealing;
use crate::serve::issuer::{Issuer, Missing};
use crate::serve::jws::{self, Kind};
use crate::serve::revoked::Revoked;

/// Where pushed SETs are received.
pub(crate) const EVENTS: &str = "/ssf/events";

/// The channel's word in the log and the counter.
const CHANNEL: &str = "shared_signals";

/// The delivery methods (RFC 8935 push, RFC 8936 poll), as SSF names them.
pub(crate) const PUSH: &str = "urn:ietf:rfc:8935";
pub(crate) const POLL: &str = "urn:ietf:rfc:8936";

/// How long after its `iat` a SET is taken (and its `jti` held).
const WINDOW: Duration = Duration::from_secs(15 * 60);

/// The events a stream asks for: those that revoke, and the verification.
pub(crate) const REQUESTED: [&str; 5] = [
    "https://schemas.openid.net/secevent/caep/event-type/session-revoked",
    "https://schemas.openid.net/secevent/caep/event-type/credential-change",
    "https://schemas.openid.net/secevent/risc/event-type/account-disabled",
    "https://schemas.openid.net/secevent/risc/event-type/account-purged",
    "https://schemas.openid.net/secevent/ssf/event-type/verification",
];

/// What the authorization header `serve ssf connect` gives a transmitter
/// seals: the origin of the server it is for.
#[derive(Serialize, Deserialize)]
pub(crate) struct PushToken {
    pub(crate) ssf_for: String,
}

/// A refusal: its status, its RFC 8935 `err`, and why.
#[derive(Debug)]
pub(crate) struct Refused(StatusCode, &'static str, String);

impl Refused {
    /// A 400 of `err`.
    fn bad(err: &'static str, why: impl Into<String>) -> Refused {
        Refused(StatusCode::BAD_REQUEST, err, why.into())
    }

    /// Whether the transmitter should send it again (the store or the
    /// transmitter's keys could not be had now).
    pub(crate) fn again(&self) -> bool {
        self.0 == StatusCode::SERVICE_UNAVAILABLE
    }

    /// Whether it refuses a SET taken before (on this replica or another).
    pub(crate) fn taken_before(&self) -> bool {
        self.2 == TAKEN_BEFORE
    }

    /// RFC 8936's `setErrs` member for it.
    pub(crate) fn as_error(&self) -> Value {
        json!({"err": self.1, "description": self.2})
    }
}

/// Why a SET taken before is refused.
const TAKEN_BEFORE: &str = "the SET was taken before (jti)";

/// What a SET asks of this server.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Asks {
    /// The person it names is out.
    Revoke,
    /// The stream's verification: answered, nothing else.
    Verify,
    /// Nothing this server does: logged, counted, left.
    Nothing,
}

/// `POST /ssf/events`: 202 once the SET is taken, or RFC 8935's refusal.
pub(crate) async fn receive(
    State(here): State<Arc<Receivers>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let taken = match pushed_by_transmitter(&here, &headers) {
        Ok(()) => match std::str::from_utf8(&body) {
            Ok(set) => taken(&here, set.trim()).await,
            Err(_) => Err(Refused::bad("invalid_request", "the body is a SET (a JWS)")),
        },
        Err(refused) => Err(refused),
    };
    match taken {
        Ok(()) => StatusCode::ACCEPTED.into_response(),
        Err(Refused(status, err, why)) => {
            let body = json!({"err": err, "description": why});
            (
                status,
                [(header::CACHE_CONTROL, "no-store")],
                axum::Json(body),
            )
                .into_response()
        }
    }
}

/// The push authenticated by the authorization header `serve ssf connect`
/// gave the transmitter for this server, or 401 `authentication_failed`.
fn pushed_by_transmitter(here: &Receivers, headers: &HeaderMap) -> Result<(), Refused> {
    let token = crate::serve::refusal::bearer(headers).ok();
    let opened = token.map(|token| Sealing::opened::<PushToken>(&here.keys.now().oauth.ssf, token));
    match opened {
        Some(Ok(sealed)) if sealed.ssf_for == here.origin => Ok(()),
        _ => Err(Refused(
            StatusCode::UNAUTHORIZED,
            "authentication_failed",
            "the push carries the authorization header `nexus-mcp serve ssf connect` gave the \
             transmitter"
                .into(),
        )),
    }
}

/// The SET `set` checked and taken: its person revoked where an event asks,
/// its `jti` spent once; or why not.
pub(crate) async fn taken(here: &Receivers, set: &str) -> Result<(), Refused> {
    let (transmitter, claims) = verified(here, set).await?;
    let (asks, event) = asked(&claims, here.signals.credential_change_revokes);
    let channel = (CHANNEL, event);
    let jti = claims
        .get("jti")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let key = crate::principal::sha256_hex(&[
        CHANNEL.as_bytes(),
        b"\0",
        transmitter.url().as_bytes(),
        b"\0",
        jti.as_bytes(),
    ]);
    let who = match asks {
        Asks::Revoke => Some(person(here, &claims).inspect_err(|refused| {
            subject::said(channel, None, Outcome::Refused, &refused.2);
        })?),
        _ => None,
    };
    let spent = (jws::usable_from(&claims, Some(WINDOW)), WINDOW);
    let first = match &who {
        Some(who) => here.store.spend_revoking(&key, spent, who.clone()).await,
        None => here.store.spend(&key, spent).await,
    };
    let (outcome, why) = match (first, asks) {
        (Ok(true), Asks::Revoke) => (Outcome::Revoked, "the transmitter said so"),
        (Ok(true), Asks::Verify) => (Outcome::Left, "the stream is verified"),
        (Ok(true), Asks::Nothing) => (Outcome::Left, "an event this server does not act on"),
        (Ok(false), _) => (Outcome::Refused, "its jti was taken before"),
        (Err(_), _) => (
            Outcome::Unavailable,
            "the store does not answer: nothing was done",
        ),
    };
    subject::said(channel, who.as_ref(), outcome, why);
    match outcome {
        Outcome::Refused => Err(Refused::bad("invalid_request", TAKEN_BEFORE)),
        Outcome::Unavailable => Err(Refused(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            why.into(),
        )),
        _ => Ok(()),
    }
}

/// The SET `set`'s transmitter and claims, checked; or RFC 8935's refusal.
async fn verified<'a>(
    here: &'a Receivers,
    set: &str,
) -> Result<(&'a Issuer, Map<String, Value>), Refused> {
    let said = jsonwebtoken::dangerous::insecure_decode_claims::<Map<String, Value>>(set);
    let said = said.map_err(|_| Refused::bad("invalid_request", "the SET does not read"))?;
    let iss = said.get("iss").and_then(Value::as_str).unwrap_or_default();
    let transmitter = here.signals.transmitters.iter().find(|t| t.url() == iss);
    let transmitter = transmitter.ok_or_else(|| {
        let shown = crate::answer::quoted(iss, 256);
        Refused::bad(
            "invalid_issuer",
            format!("iss {shown} is no --ssf-transmitter"),
        )
    })?;
    let audiences = [here.origin.as_str(), here.resource.as_str()];
    let aud = said.get("aud");
    let named = |aud: &Value| aud.as_str().is_some_and(|aud| audiences.contains(&aud));
    let addressed = aud
        .is_some_and(|aud| named(aud) || aud.as_array().is_some_and(|all| all.iter().any(named)));
    if !addressed {
        return Err(Refused::bad(
            "invalid_audience",
            format!("aud names not this server ({})", here.origin),
        ));
    }
    let kind = Kind {
        types: &["secevent+jwt"],
        untyped: false,
        issuer: iss,
        audiences: &audiences,
        sole_audience: false,
        subject: None,
        required: &["iat", "jti", "events"],
        longest: Some(WINDOW),
        without_exp: true,
    };
    let refused = |jws::Refused(why)| {
        let err = if why == jws::UNSIGNED {
            "invalid_key"
        } else {
            "invalid_request"
        };
        Refused::bad(err, format!("the SET {why}"))
    };
    let header = jws::header(set, &kind).map_err(refused)?;
    let kid = header.kid.clone().unwrap_or_default();
    let jwk = match transmitter.key(&kid).await {
        Ok(jwk) => jwk,
        Err(Missing::Unknown) => {
            return Err(Refused::bad(
                "invalid_key",
                "signed with a key the transmitter does not publish",
            ));
        }
        Err(Missing::Unreadable(why)) => {
            log::warn!(target: "nexus_mcp", "a SET waits: {why}");
            let why = "the transmitter's keys cannot be read now".to_owned();
            return Err(Refused(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                why,
            ));
        }
    };
    let key = DecodingKey::from_jwk(&jwk)
        .map_err(|_| Refused::bad("invalid_key", "the transmitter's key does not read"))?;
    let now = jsonwebtoken::get_current_timestamp();
    let verified = jws::verified(set, &header, &key, (&kind, now)).map_err(refused)?;
    Ok((transmitter, verified.claims))
}

/// What the events of `claims` ask, and the event's word for the log and
/// the counter: to revoke when any event revokes (`credential-change` when
/// `credentials` says so), to answer a verification, or nothing (an event
/// of none of [`REQUESTED`] is `other`).
fn asked(claims: &Map<String, Value>, credentials: bool) -> (Asks, &'static str) {
    let events = claims.get("events").and_then(Value::as_object);
    let mut found = (Asks::Nothing, "other");
    for uri in events.into_iter().flat_map(|events| events.keys()) {
        let Some(word) = REQUESTED.iter().find(|known| *known == uri) else {
            continue;
        };
        let word = word.rsplit('/').next().unwrap_or_default();
        let asks = match word {
            "verification" => Asks::Verify,
            "credential-change" if !credentials => Asks::Nothing,
            _ => Asks::Revoke,
        };
        let rank = |asks: Asks| {
            [Asks::Nothing, Asks::Verify, Asks::Revoke]
                .iter()
                .position(|a| *a == asks)
        };
        if rank(asks) > rank(found.0) || found.1 == "other" {
            found = (asks, word);
        }
    }
    found
}

/// The person a revoking SET names: its `sub_id` (SSF 1.0), or its event's
/// `subject` (CAEP's earlier drafts), a complex subject by its `user`.
fn person(here: &Receivers, claims: &Map<String, Value>) -> Result<Revoked, Refused> {
    let in_event = || {
        let events = claims.get("events")?.as_object()?;
        events.values().find_map(|event| event.get("subject"))
    };
    let subject = claims.get("sub_id").or_else(in_event);
    let subject = subject.map(|s| {
        s.get("user")
            .filter(|_| s.get("format").is_none())
            .unwrap_or(s)
    });
    let subject = subject
        .ok_or_else(|| Refused::bad("invalid_request", "the SET names no subject (sub_id)"))?;
    let served = (here.people.issuer.as_str(), here.people.claim.as_str());
    let hash = subject::person(subject, served).map_err(|unnamed| match unnamed {
        Unnamed::Unreadable(why) | Unnamed::Stranger(why) => Refused::bad("invalid_request", why),
    })?;
    Revoked::person(&hash).ok_or_else(|| Refused::bad("invalid_request", "no person"))
}
