//! Shared Signals (OpenID SSF 1.0, CAEP 1.0, RISC 1.0): the identity
//! provider's Security Event Tokens (RFC 8417), pushed to `POST /ssf/events`
//! (RFC 8935) or polled from the transmitter (RFC 8936), from the
//! transmitters `--ssf-transmitter` names (their `ssf-configuration` gives
//! their issuer and keys). A SET is checked by [`jws`]'s one rule: typed
//! `secevent+jwt`, signed with its transmitter's key, `iss` the transmitter,
//! `aud` this server's issuer identifier (or its MCP URL), issued within
//! [`WINDOW`], its `jti` taken once across replicas while the store
//! remembers it, and kept as long as the SET may be used. CAEP
//! `session-revoked` and RISC `account-disabled` and `account-purged`
//! revoke the person it names (its `sub_id`, or the events' one subject;
//! the revocation `serve revoke --person` writes, in the same store step as
//! its `jti`); CAEP `credential-change` too where the operator says
//! (`--ssf-credential-change-revokes`); the stream's verification event is
//! answered; anything else is logged, counted and left. Refusals are RFC
//! 8935's: 400 with `{"err", "description"}` (401 `authentication_failed`
//! for a push without the authorization `serve ssf connect` gave), 503
//! while the store does not answer, nothing done, so the retry holds,
//! whatever the store lost meanwhile.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::Receivers;
use super::subject::{self, Outcome};
use crate::keys::Sealing;
use crate::serve::issuer::Issuer;
use crate::serve::jws::{self, Kind};
use crate::serve::revoked::Revoked;

/// Where pushed SETs are received.
pub(crate) const EVENTS: &str = "/ssf/events";

/// The channel's word in the log and the counter.
const CHANNEL: &str = "shared_signals";

/// The delivery methods (RFC 8935 push, RFC 8936 poll), as SSF names them.
pub(crate) const PUSH: &str = "urn:ietf:rfc:8935";
pub(crate) const POLL: &str = "urn:ietf:rfc:8936";

/// How long after its `iat` a SET is taken.
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

/// RFC 8935 §2.3's error codes, which RFC 8936 §2.4's `setErrs` use too.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum SetError {
    /// The SET is malformed, or asks what this server cannot read.
    InvalidRequest,
    /// Its signature does not verify with a key its transmitter publishes.
    InvalidKey,
    /// Its `iss` is no transmitter of this server's.
    InvalidIssuer,
    /// Its `aud` is not this server.
    InvalidAudience,
    /// The push does not carry the authorization this server gave.
    AuthenticationFailed,
}

impl SetError {
    /// The code as RFC 8935 spells it.
    fn as_str(self) -> &'static str {
        match self {
            SetError::InvalidRequest => "invalid_request",
            SetError::InvalidKey => "invalid_key",
            SetError::InvalidIssuer => "invalid_issuer",
            SetError::InvalidAudience => "invalid_audience",
            SetError::AuthenticationFailed => "authentication_failed",
        }
    }
}

/// Why a SET is not taken.
#[derive(Debug)]
pub(crate) enum Refused {
    /// RFC 8935's refusal, and why: the transmitter does not send it again.
    Set(SetError, String),
    /// Taken before (its `jti`), on this replica or another: its revocation
    /// was written then.
    TakenBefore,
    /// Not to be had now (the store, the transmitter's keys): nothing was
    /// done, and the transmitter sends it again.
    Unavailable(String),
}

impl Refused {
    /// A 400 of `err`.
    fn bad(err: SetError, why: impl Into<String>) -> Refused {
        Refused::Set(err, why.into())
    }

    /// RFC 8936's `setErrs` member for a refusal the transmitter is told
    /// of; none for one it is not (taken before, or to come again).
    pub(crate) fn as_error(&self) -> Option<Value> {
        match self {
            Refused::Set(err, why) => Some(json!({"err": err.as_str(), "description": why})),
            Refused::TakenBefore | Refused::Unavailable(_) => None,
        }
    }

    /// Why, for the line.
    fn why(&self) -> &str {
        match self {
            Refused::Set(_, why) | Refused::Unavailable(why) => why,
            Refused::TakenBefore => TAKEN_BEFORE,
        }
    }

    /// What the line and the counter say of it.
    fn outcome(&self) -> Outcome {
        match self {
            Refused::Unavailable(_) => Outcome::Unavailable,
            Refused::Set(..) | Refused::TakenBefore => Outcome::Refused,
        }
    }

    /// Its answer to a push, none of `secrets` in it.
    fn answered(self, secrets: &[&str]) -> Response {
        let (status, err, why) = match self {
            Refused::Set(SetError::AuthenticationFailed, why) => {
                (StatusCode::UNAUTHORIZED, "authentication_failed", why)
            }
            Refused::Set(err, why) => (StatusCode::BAD_REQUEST, err.as_str(), why),
            Refused::TakenBefore => (
                StatusCode::BAD_REQUEST,
                "invalid_request",
                TAKEN_BEFORE.into(),
            ),
            Refused::Unavailable(why) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                why,
            ),
        };
        let why = subject::withheld(&why, secrets);
        let body = json!({"err": err, "description": why});
        (
            status,
            [(header::CACHE_CONTROL, "no-store")],
            axum::Json(body),
        )
            .into_response()
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
    let set = std::str::from_utf8(&body).map(str::trim);
    // Whatever the SET echoes, the push's authorization and the token this
    // server polls with are written nowhere.
    let bearer = crate::serve::refusal::bearer(&headers).unwrap_or_default();
    let secrets = [
        bearer,
        here.signals.ssf_token.as_deref().unwrap_or_default(),
    ];
    let taken = match (pushed_by_transmitter(&here, &headers), set) {
        (Ok(()), Ok(set)) => taken(&here, set, &secrets).await,
        (Ok(()), Err(_)) => {
            let refused = Refused::bad(SetError::InvalidRequest, "the body is a SET (a JWS)");
            subject::said((CHANNEL, "unread"), None, Outcome::Refused, refused.why());
            Err(refused)
        }
        (Err(refused), _) => {
            subject::said((CHANNEL, "unread"), None, Outcome::Refused, refused.why());
            Err(refused)
        }
    };
    match taken {
        Ok(()) => StatusCode::ACCEPTED.into_response(),
        Err(refused) => refused.answered(&secrets),
    }
}

/// The push authenticated by the authorization header `serve ssf connect`
/// gave the transmitter for this server, or 401 `authentication_failed`.
fn pushed_by_transmitter(here: &Receivers, headers: &HeaderMap) -> Result<(), Refused> {
    let token = crate::serve::refusal::bearer(headers).ok();
    let opened = token.map(|token| Sealing::opened::<PushToken>(&here.keys.now().oauth.ssf, token));
    match opened {
        Some(Ok(sealed)) if sealed.ssf_for == here.origin => Ok(()),
        _ => Err(Refused::bad(
            SetError::AuthenticationFailed,
            "the push carries the authorization header `nexus-mcp serve ssf connect` gave the \
             transmitter",
        )),
    }
}

/// The SET `set` checked and taken: its person revoked where an event asks,
/// its `jti` taken once; or why not. Each SET leaves one line and count,
/// none of `secrets` in it.
pub(crate) async fn taken(here: &Receivers, set: &str, secrets: &[&str]) -> Result<(), Refused> {
    // The line names what the SET claims, checked or not: words this
    // server knows, never the transmitter's text.
    let claimed = jsonwebtoken::dangerous::insecure_decode_claims::<Map<String, Value>>(set);
    let claimed = claimed.unwrap_or_default();
    let (_, event, _) = asked(&claimed, here.signals.credential_change_revokes);
    let refused = |refused: Refused, who: Option<&Revoked>| {
        let why = subject::withheld(refused.why(), secrets);
        subject::said((CHANNEL, event), who, refused.outcome(), &why);
        refused
    };
    let (transmitter, verified) = verified(here, set).await.map_err(|r| refused(r, None))?;
    let claims = &verified.claims;
    let (asks, event, named) = asked(claims, here.signals.credential_change_revokes);
    let named = named.map_err(|r| refused(r, None))?;
    let who = named.map(|subject| person(here, subject));
    let who = match (asks, who) {
        (Asks::Revoke, None) => {
            let why = "the SET names no subject (sub_id)";
            return Err(refused(Refused::bad(SetError::InvalidRequest, why), None));
        }
        (Asks::Revoke, Some(Err(unread))) => return Err(refused(unread, None)),
        (_, who) => who.and_then(Result::ok),
    };
    let jti = claims.get("jti").and_then(Value::as_str);
    let key = crate::principal::sha256_hex(&[
        CHANNEL.as_bytes(),
        b"\0",
        transmitter.url().as_bytes(),
        b"\0",
        jti.unwrap_or_default().as_bytes(),
    ]);
    let as_of = subject::as_of(claims, crate::serve::store::now_ms());
    let revoking = who
        .clone()
        .filter(|_| asks == Asks::Revoke)
        .map(|who| (who, as_of));
    let first = here.store.signal(&key, verified.lives, revoking).await;
    let line = (CHANNEL, event);
    match (first, asks) {
        (Ok(true), Asks::Revoke) => {
            subject::said(
                line,
                who.as_ref(),
                Outcome::Revoked,
                "the transmitter said so",
            );
        }
        (Ok(true), Asks::Verify) => {
            subject::said(line, who.as_ref(), Outcome::Left, "the stream is verified");
        }
        (Ok(true), Asks::Nothing) => {
            let why = "an event this server does not act on";
            subject::said(line, who.as_ref(), Outcome::Left, why);
        }
        (Ok(false), _) => return Err(refused(Refused::TakenBefore, who.as_ref())),
        (Err(_), _) => {
            let why = "the store does not answer: nothing was done";
            return Err(refused(Refused::Unavailable(why.into()), who.as_ref()));
        }
    }
    Ok(())
}

/// The SET `set`'s transmitter and verified claims; or RFC 8935's refusal.
async fn verified<'a>(
    here: &'a Receivers,
    set: &str,
) -> Result<(&'a Issuer, jws::Verified), Refused> {
    let said = jsonwebtoken::dangerous::insecure_decode_claims::<Map<String, Value>>(set);
    let said = said.map_err(|_| Refused::bad(SetError::InvalidRequest, "the SET does not read"))?;
    let iss = said.get("iss").and_then(Value::as_str).unwrap_or_default();
    let transmitter = here.signals.transmitters.iter().find(|t| t.url() == iss);
    let transmitter = transmitter.ok_or_else(|| {
        let shown = crate::answer::quoted(iss, 256);
        Refused::bad(
            SetError::InvalidIssuer,
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
            SetError::InvalidAudience,
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
    let verify = jws::verify(set, &kind, jws::Keys::Issuer(transmitter)).await;
    let (_, verified) = verify.map_err(|rejected| match rejected {
        jws::Rejected::KeysUnavailable(why) => {
            log::warn!(target: "nexus_mcp", "a SET waits: {why}");
            Refused::Unavailable("the transmitter's keys cannot be read now".to_owned())
        }
        jws::Rejected::Unsigned | jws::Rejected::NoSuchKey => Refused::bad(
            SetError::InvalidKey,
            format!("the SET {}", rejected.clause()),
        ),
        jws::Rejected::Refused(_) => Refused::bad(
            SetError::InvalidRequest,
            format!("the SET {}", rejected.clause()),
        ),
    })?;
    Ok((transmitter, verified))
}

/// What the events of `claims` ask, the event's word for the line and the
/// counter (an event of none of [`REQUESTED`] is `other`), and the subject
/// that event names: to revoke when any event revokes (`credential-change`
/// when `credentials` says so), to answer a verification, or nothing. The
/// subject is the SET's `sub_id` (SSF 1.0 §3.1), or without one its events'
/// `subject` (CAEP's drafts; a complex subject by its `user`), which must
/// be one: events about different subjects in one SET are refused (RFC
/// 8417 §2.2).
fn asked(
    claims: &Map<String, Value>,
    credentials: bool,
) -> (Asks, &'static str, Result<Option<&Value>, Refused>) {
    let events = claims.get("events").and_then(Value::as_object);
    let mut found = (Asks::Nothing, "other");
    let rank = |asks: Asks| {
        [Asks::Nothing, Asks::Verify, Asks::Revoke]
            .iter()
            .position(|a| *a == asks)
    };
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
        if rank(asks) > rank(found.0) || found.1 == "other" {
            found = (asks, word);
        }
    }
    let subject = match claims.get("sub_id") {
        Some(primary) => Ok(Some(user(primary))),
        None => {
            let each = events.into_iter().flat_map(|e| e.values());
            let mut subjects = each.filter_map(|event| event.get("subject")).map(user);
            let first = subjects.next();
            match subjects.any(|other| Some(other) != first) {
                true => Err(Refused::bad(
                    SetError::InvalidRequest,
                    "the SET's events name different subjects and it has no sub_id: one SET \
                     is one subject's (RFC 8417 §2.2)",
                )),
                false => Ok(first),
            }
        }
    };
    (found.0, found.1, subject)
}

/// A complex subject's person (CAEP's drafts: `{"user": …}`), or the
/// subject itself.
fn user(subject: &Value) -> &Value {
    let complex = subject.get("format").is_none();
    subject.get("user").filter(|_| complex).unwrap_or(subject)
}

/// The person `subject` names, as the list names them; or RFC 8935's
/// refusal.
fn person(here: &Receivers, subject: &Value) -> Result<Revoked, Refused> {
    let hash = here
        .people
        .person(subject)
        .map_err(|unnamed| match unnamed {
            subject::Unnamed::Unreadable(why) | subject::Unnamed::Stranger(why) => {
                Refused::bad(SetError::InvalidRequest, why)
            }
        })?;
    Revoked::person(&hash).ok_or_else(|| Refused::bad(SetError::InvalidRequest, "no person"))
}
