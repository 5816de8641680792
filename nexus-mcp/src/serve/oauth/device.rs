//! The device authorization grant (RFC 8628), for a headless agent (a
//! nightly job, a CLI on a server): a confidential client registered for
//! it (`serve client add --grant device-code`) asks at
//! `/device_authorization` and is given a device code and a user code; the
//! person opens `/device` (any replica), types the code, signs in afresh at
//! the issuer, and sees the agent, the scopes and how long it will act
//! ([`super::consent`]'s page, for a device); their answer waits, once,
//! where every replica takes it ([`Front::devices`]), and the agent's poll
//! at `/token` gets a token that acts for that person within that boundary
//! and for the agent's session life alone (its refresh family ends then).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::FormRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::authn;
use super::consent::{self, Pending};
use super::front::Front;
use crate::keys::Sealing;
use crate::serve::grant::{Code, DEVICE_ENTRIES, DEVICE_LIFE, GrantType, client_mark};
use crate::serve::page::{escaped, from_origin, page, random};
use crate::serve::refusal::{ErrorCode, OAuthError};

/// How often the agent may poll (seconds; RFC 8628 §3.2's `interval`).
const INTERVAL: u64 = 5;
/// The letters a user code is made of: no vowel, no letter read as
/// another (RFC 8628 §6.1); 8 of them, 20^8 codes.
const LETTERS: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
/// What the person's answer is kept as, where it is a refusal.
const DENIED: &str = "denied";
/// What it is kept as once the agent took its code.
const SPENT: &str = "spent";

/// What the device code carries, sealed: the authorization's id and its
/// client's mark.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeviceCode {
    device: String,
    client: String,
}

/// A device authorization's form (RFC 8628 §3.1), and its client's.
#[derive(Deserialize)]
pub(crate) struct Asked {
    scope: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    client_assertion_type: Option<String>,
    client_assertion: Option<String>,
}

/// `POST /device_authorization`: a device code, a user code and where the
/// person goes (200), or the refusal (400, 401).
pub(crate) async fn authorization(
    State(front): State<Arc<Front>>,
    headers: HeaderMap,
    asked: Result<axum::Form<Asked>, FormRejection>,
) -> Response {
    let asked = match OAuthError::form(asked) {
        Ok(asked) => asked,
        Err(refused) => return refused.into_response(),
    };
    match authorized(&front, &headers, asked).await {
        Ok(answer) => {
            let no_store = [(header::CACHE_CONTROL, "no-store")];
            (StatusCode::OK, no_store, axum::Json(answer)).into_response()
        }
        Err(refused) => {
            log::info!(target: "nexus_mcp", "a device authorization refused ({}): {}", refused.code, refused.why);
            refused.into_response()
        }
    }
}

/// The codes `asked` earns, or why not.
async fn authorized(
    front: &Front,
    headers: &HeaderMap,
    asked: Asked,
) -> Result<serde_json::Value, OAuthError> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let named = authn::Named {
        id: asked.client_id,
        secret: asked.client_secret,
        assertion: asked.client_assertion_type.zip(asked.client_assertion),
    };
    let asker = authn::asker(front, basic, named).await?;
    let word = GrantType::DeviceCode.as_str();
    let client = front.client(&asker.id).ok().filter(|_| asker.confidential);
    let Some(client) = client.filter(|c| c.grants.iter().any(|g| g == word)) else {
        let why = "the device grant is for a client registered for it (serve client add --grant \
                   device-code), authenticated";
        return Err(OAuthError::bad(ErrorCode::UnauthorizedClient, why));
    };
    let asked = asked
        .scope
        .as_deref()
        .map(crate::agents::boundary)
        .transpose();
    let asked = asked.map_err(|why| OAuthError::bad(ErrorCode::InvalidScope, why))?;
    let boundary = client.scopes.as_deref();
    let scopes = crate::agents::granted(&asked.unwrap_or_default(), &front.scopes, boundary);
    let scopes = scopes.map_err(|why| OAuthError::bad(ErrorCode::InvalidScope, why))?;
    let unavailable = || {
        OAuthError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::TemporarilyUnavailable,
            "the store that keeps device authorizations does not answer: try again shortly",
        )
    };
    let (device, user) = random().zip(user_code()).ok_or_else(unavailable)?;
    let mark = client_mark(&asker.id);
    let pending = consent::for_device(&device, &mark, &client, scopes, &front.resource);
    let keys = front.keys.now();
    let sealed = Sealing::named(&keys.oauth.pending, &pending, DEVICE_LIFE);
    let put = front
        .devices
        .put(&user_key(&user), sealed, DEVICE_LIFE)
        .await;
    put.map_err(|why| {
        log::warn!(target: "nexus_mcp", "the store does not answer ({why}): a device authorization refused");
        unavailable()
    })?;
    let code = DeviceCode {
        device,
        client: mark,
    };
    let shown = format!("{}-{}", &user[..4], &user[4..]);
    let at = format!("{}/device", front.origin);
    Ok(json!({
        "device_code": Sealing::named(&keys.oauth.pending, &code, DEVICE_LIFE),
        "user_code": shown,
        "verification_uri": at,
        "verification_uri_complete": format!("{at}?user_code={shown}"),
        "expires_in": DEVICE_LIFE.as_secs(),
        "interval": INTERVAL,
    }))
}

/// A user code: 8 of [`LETTERS`], drawn without bias; none when the system
/// gives no randomness.
fn user_code() -> Option<String> {
    let mut code = String::with_capacity(8);
    while code.len() < 8 {
        let mut byte = [0u8; 1];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut byte).ok()?;
        // 240 is the largest multiple of 20 a byte holds: above it, drawn again.
        if byte[0] < 240 {
            code.push(char::from(LETTERS[usize::from(byte[0] % 20)]));
        }
    }
    Some(code)
}

/// Where a user code's authorization waits.
fn user_key(code: &str) -> String {
    format!("device-user:{code}")
}

/// Where a device's answer waits.
fn answer_key(device: &str) -> String {
    format!("device:{device}")
}

/// A user code as a person types it: in any case, with or without its
/// dash and spaces; none for what cannot be one.
fn typed(text: &str) -> Option<String> {
    let code: String = (text.chars())
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let letters = code.len() == 8 && code.bytes().all(|b| LETTERS.contains(&b));
    letters.then_some(code)
}

/// The verification page's query or form: the user code, if given.
#[derive(Deserialize)]
pub(crate) struct Typed {
    user_code: Option<String>,
}

/// `GET /device`: the page where the person types the code (given in the
/// link, it is filled in), never framed.
pub(crate) async fn verification(Query(typed): Query<Typed>) -> Response {
    let code = escaped(&typed.user_code.unwrap_or_default());
    let html = format!(
        "<!doctype html><meta charset=utf-8><title>nexus-mcp: connect an agent</title>\
         <p>Type the code your agent shows. If someone sent you this code or link, stop: \
         whoever started it would act as you.</p>\
         <form method=post action=/device><input name=user_code value=\"{code}\" \
         autocomplete=off><button type=submit>Next</button></form>"
    );
    let headers = [
        (header::CONTENT_SECURITY_POLICY, "frame-ancestors 'none'"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::CACHE_CONTROL, "no-store"),
    ];
    (StatusCode::OK, headers, Html(html)).into_response()
}

/// `POST /device`: the user code taken (once: a second typing finds
/// nothing), and the person sent to sign in afresh; or what the page says.
pub(crate) async fn verified(
    State(front): State<Arc<Front>>,
    headers: HeaderMap,
    form: Result<axum::Form<Typed>, FormRejection>,
) -> Response {
    const UNKNOWN: &str = "This code is not one waiting here, or it has expired. Check the code \
                           your agent shows, or start it again.";
    if from_origin(&headers, &front.origin).is_err() {
        return page(
            StatusCode::FORBIDDEN,
            "This form was not sent from this server's page.",
        );
    }
    if front.entries.refusal("device-entry").await.is_some() {
        crate::metrics::oauth("device", "entries_past_limit");
        log::warn!(target: "nexus_mcp", "a user code refused unread: more than {DEVICE_ENTRIES} were typed at /device in the last minute");
        let why = "Too many codes were typed here in the last minute. Try again in a minute.";
        return page(StatusCode::TOO_MANY_REQUESTS, why);
    }
    let given = form.ok().and_then(|form| form.0.user_code);
    let Some(code) = given.as_deref().and_then(typed) else {
        return page(StatusCode::BAD_REQUEST, UNKNOWN);
    };
    let sealed = match front.devices.take(&user_key(&code)).await {
        Ok(Some(sealed)) => sealed,
        Ok(None) => {
            crate::metrics::oauth("device", "unknown");
            return page(StatusCode::BAD_REQUEST, UNKNOWN);
        }
        Err(why) => {
            log::warn!(target: "nexus_mcp", "the store does not answer ({why}): a device code waits");
            let why = "This server cannot read the code now. Try again shortly.";
            return page(StatusCode::SERVICE_UNAVAILABLE, why);
        }
    };
    let keys = front.keys.now();
    let Ok(pending) = Sealing::opened::<Pending>(&keys.oauth.pending, &sealed) else {
        return page(StatusCode::BAD_REQUEST, UNKNOWN);
    };
    consent::sign_in(&front, &keys, pending).await
}

/// `POST /device/answer`: a device's person answered on its page (checked
/// as every consent form is), signed in afresh: allowed, the code of their
/// grant waits for the agent's poll; refused, the refusal does; either way
/// the page says what happens next.
pub(crate) async fn answer(
    State(front): State<Arc<Front>>,
    headers: HeaderMap,
    form: Result<axum::Form<consent::Consented>, FormRejection>,
) -> Response {
    let (mut pending, form) = match consent::checked(&front, &headers, form) {
        Ok(checked) => checked,
        Err(refused) => return *refused,
    };
    let (Some(device), Some(signed_in)) = (pending.device.take(), pending.signed_in.take()) else {
        return page(StatusCode::BAD_REQUEST, "Type your agent's code again.");
    };
    let now = jsonwebtoken::get_current_timestamp();
    if !crate::serve::approve::fresh(&signed_in, now) {
        let why = "Allowing an agent needs a sign-in of the last five minutes, and your \
                   organisation's sign-in did not say it was one. Type the code again.";
        return page(StatusCode::FORBIDDEN, why);
    }
    let allowed = form.answer.as_deref() != Some("deny");
    let keys = front.keys.now();
    let code = allowed.then(|| {
        let code = Code {
            id: random()?,
            redirect_uri: String::new(),
            challenge: String::new(),
            upstream: signed_in.upstream.clone(),
            grant: consent::granted(pending, signed_in),
        };
        Some(Sealing::named(&keys.oauth.codes, &code, DEVICE_LIFE))
    });
    let answer = code.flatten().unwrap_or_else(|| DENIED.to_owned());
    crate::metrics::oauth("device", if allowed { "allowed" } else { "refused" });
    match front
        .devices
        .put(&answer_key(&device), answer, DEVICE_LIFE)
        .await
    {
        Ok(()) if allowed => page(
            StatusCode::OK,
            "Allowed. The agent goes on by itself; you may close this page.",
        ),
        Ok(()) => page(StatusCode::OK, "Refused. The agent is told."),
        Err(why) => {
            log::warn!(target: "nexus_mcp", "the store does not answer ({why}): a device's answer is lost");
            let why = "This server cannot keep your answer now. Type the code again shortly.";
            page(StatusCode::SERVICE_UNAVAILABLE, why)
        }
    }
}

/// The code a device's person approved (sealed), once, for the client `asker_id`
/// polling with `device_code`; or why not yet (RFC 8628 §3.5:
/// `authorization_pending`, `slow_down`, `access_denied`,
/// `expired_token`).
///
/// # Errors
///
/// Those codes, `invalid_grant` for a device code of another client, and
/// 503 while the store does not answer.
pub(crate) async fn polled(
    front: &Front,
    asker_id: &str,
    device_code: &str,
) -> Result<String, OAuthError> {
    let keys = front.keys.now();
    let Ok(device) = Sealing::opened::<DeviceCode>(&keys.oauth.pending, device_code) else {
        let why = "the device code has expired, or was not issued here: start again";
        return Err(OAuthError::bad(ErrorCode::ExpiredToken, why));
    };
    if device.client != client_mark(asker_id) {
        let why = "the device code was issued to another client";
        return Err(OAuthError::bad(ErrorCode::InvalidGrant, why));
    }
    let down = |why: String| {
        log::warn!(target: "nexus_mcp", "the store does not answer ({why}): a device's poll waits");
        OAuthError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::TemporarilyUnavailable,
            "the store that keeps device authorizations does not answer: try again shortly",
        )
    };
    let now = crate::serve::store::now_ms();
    let slot = now / (INTERVAL * 1000);
    let key = crate::principal::sha256_hex(&[
        b"device-poll\0",
        device.device.as_bytes(),
        &slot.to_be_bytes(),
    ]);
    let interval = Duration::from_secs(INTERVAL);
    if !front
        .store
        .spend(&key, (now, interval))
        .await
        .map_err(|d| down(d.0))?
    {
        let why = "polled again within the interval: wait 5 s more between polls";
        return Err(OAuthError::bad(ErrorCode::SlowDown, why));
    }
    match front
        .devices
        .take(&answer_key(&device.device))
        .await
        .map_err(down)?
    {
        None => Err(OAuthError::bad(
            ErrorCode::AuthorizationPending,
            "the person has not answered yet",
        )),
        Some(answer) if answer == DENIED => Err(OAuthError::bad(
            ErrorCode::AccessDenied,
            "the person refused this agent",
        )),
        Some(answer) if answer == SPENT => Err(OAuthError::bad(
            ErrorCode::InvalidGrant,
            "the device code was redeemed already",
        )),
        Some(sealed) => {
            // Its next poll is told the code is spent, not pending.
            let key = answer_key(&device.device);
            let spent = front.devices.put(&key, SPENT.to_owned(), DEVICE_LIFE);
            spent.await.map_err(down)?;
            Ok(sealed)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_code_is_eight_unmistakable_letters_and_read_as_typed() {
        let code = user_code().unwrap();
        assert_eq!(code.len(), 8);
        assert_eq!(typed(&code), Some(code.clone()));
        let shown = format!("{}-{}", &code[..4], &code[4..]).to_lowercase();
        assert_eq!(typed(&shown), Some(code.clone()), "the dash and any case");
        for wrong in [
            "",
            "BCDF-GHJ",
            "BCDF-GHJKL",
            "ABCD-EFGH",
            "BCDF-GHJ1",
            "BCDFGHJ\u{212A}",
        ] {
            assert_eq!(typed(wrong), None, "{wrong:?}");
        }
    }
}
