//! The consent of `--oauth-proxy` (#87): MCP's confused
//! deputy (one login client at the issuer serves every host) answered on
//! this server's own page, naming the application and where it returns,
//! before the person is sent to sign in; the page's form bound to the
//! browser it was shown to, the page never framed. A consent is remembered
//! per application and person in a sealed `__Host-` cookie: a browser that
//! remembers one for the application signs in first, and the page is shown
//! after the sign-in when the person is not one who consented. Then the
//! host gets a code of this server's.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};

use super::front::Front;
use super::refused::Refused;
use crate::keys::{KEYS_DIFFER, Keys, Sealing};
use crate::principal::person;
use crate::serve::grant::{CODE_LIFE, Code, Grant};
use crate::serve::page::{cookie, escaped, from_origin, neutralised, page, random, set_cookie};
use crate::serve::refusal::ErrorCode;
use crate::serve::signin::{LoggedIn, NotSignedIn, Refusal, SignedIn, Then, begin};

/// The cookie that binds a consent form to the browser it was shown to.
const BROWSER_COOKIE: &str = "nexus_consent";
/// The cookie that remembers consents: (application, person) pairs.
const REMEMBERED_COOKIE: &str = "nexus_consented";
/// How long a consent page may wait for its answer.
const CONSENT_TIME: Duration = Duration::from_secs(600);
/// How long a consent is remembered.
const REMEMBERED_FOR: Duration = Duration::from_secs(90 * 24 * 3600);
/// The most consents a browser remembers (the latest kept).
const MOST_REMEMBERED: usize = 16;

/// An authorization on its way: what the consent form and the login's
/// cookie carry (sealed).
#[derive(Serialize, Deserialize)]
pub(crate) struct Pending {
    /// The application's mark (SHA-256 of its id), and its name.
    pub(super) client: String,
    pub(super) name: String,
    pub(super) redirect_uri: String,
    pub(super) challenge: String,
    pub(super) state: Option<String>,
    pub(super) scopes: Vec<String>,
    /// Whether its client registered a boundary: `scopes` bound the agent.
    #[serde(default)]
    pub(super) bounded: bool,
    /// How its client was registered ([`crate::agents::REGISTERED`]).
    #[serde(default)]
    pub(super) registered: String,
    /// How long the grant lives, where its client registered it (seconds).
    #[serde(default)]
    pub(super) session_life: Option<u64>,
    pub(super) resource: String,
    /// The browser the consent page was shown to: its cookie's value.
    #[serde(default)]
    pub(super) browser: String,
    /// Whether the person allowed it on the page, in this flow.
    #[serde(default)]
    pub(super) consented: bool,
    /// Who signed in, when the page is shown after the sign-in.
    #[serde(default)]
    pub(super) signed_in: Option<SignedIn>,
    /// A device authorization's id (RFC 8628, [`super::device`]): the
    /// person signs in afresh, the page is always shown, and the answer
    /// waits for the agent's poll instead of a redirect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) device: Option<String>,
}

/// The pending authorization of the device `device`, for the client
/// `client` (its `mark`) granted `scopes`, at the MCP endpoint `resource`.
pub(super) fn for_device(
    device: &str,
    mark: &str,
    client: &super::client::Client,
    scopes: Vec<String>,
    resource: &str,
) -> Pending {
    Pending {
        client: mark.to_owned(),
        name: client.name.clone(),
        redirect_uri: String::new(),
        challenge: String::new(),
        state: None,
        scopes,
        bounded: client.scopes.is_some(),
        registered: crate::agents::REGISTERED[0].to_owned(),
        session_life: client.session_life,
        resource: resource.to_owned(),
        browser: String::new(),
        consented: false,
        signed_in: None,
        device: Some(device.to_owned()),
    }
}

/// The consents this browser remembers: (application mark, person) pairs.
pub(crate) fn remembered(keys: &Keys, headers: &HeaderMap) -> Vec<(String, String)> {
    // Two of the name remember nothing: the page is shown.
    let sealed = cookie(headers, REMEMBERED_COOKIE).ok().flatten();
    let opened = sealed.and_then(|s| Sealing::opened(&keys.oauth.consents, &s).ok());
    opened.unwrap_or_default()
}

/// The consent page for `pending`, its form bound to this browser by a
/// cookie.
pub(crate) fn page_for(keys: &Keys, mut pending: Pending) -> Response {
    let Some(browser) = random() else {
        return page(StatusCode::INTERNAL_SERVER_ERROR, "Try again.");
    };
    pending.browser = browser.clone();
    let redirect = url::Url::parse(&pending.redirect_uri).ok();
    let host = redirect.as_ref().map(returns_to).unwrap_or_default();
    let named = if pending.name.is_empty() {
        "An application"
    } else {
        &pending.name
    };
    let (name, host) = (escaped(&neutralised(named)), escaped(&host));
    let scopes = escaped(&pending.scopes.join(" "));
    let sealed = Sealing::named(&keys.oauth.pending, &pending, CONSENT_TIME);
    let html = match &pending.device {
        Some(_) => device_page(&pending, &name, &scopes, &sealed),
        None => format!(
            "<!doctype html><meta charset=utf-8><title>nexus-mcp: allow access</title>\
             <p><b>{name}</b>, which returns to <b>{host}</b>, asks to use this server as you \
             ({scopes}). Allow it only if you started this from that application.</p>\
             <form method=post action=/authorize><input type=hidden name=pending value=\"{sealed}\">\
             <button type=submit>Allow</button></form>"
        ),
    };
    let headers = [
        (
            header::SET_COOKIE,
            set_cookie(BROWSER_COOKIE, &browser, CONSENT_TIME),
        ),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("frame-ancestors 'none'"),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
    ];
    crate::metrics::oauth("consent", "shown");
    (StatusCode::OK, headers, Html(html)).into_response()
}

/// The consent page of a device's `pending` (its agent's escaped `name`
/// and `scopes`, the form's `sealed` request): the agent, the scopes, how
/// long it will act, and a choice to refuse it (RFC 8628 §5.4).
fn device_page(pending: &Pending, name: &str, scopes: &str, sealed: &str) -> String {
    let life = pending.session_life.map_or_else(
        || "until this server's sign-in life ends".to_owned(),
        |seconds| format!("for {} hours", seconds.div_ceil(3600)),
    );
    format!(
        "<!doctype html><meta charset=utf-8><title>nexus-mcp: allow an agent</title>\
         <p>The agent <b>{name}</b> asks to act as you ({scopes}), {life}, from a device \
         you started it on. Allow it only if you started it yourself and its code matches.</p>\
         <form method=post action=/device/answer><input type=hidden name=pending \
         value=\"{sealed}\"><button type=submit>Allow</button> \
         <button type=submit name=answer value=deny>\
         Refuse</button></form>"
    )
}

/// Where a redirect returns, as the consent page names it: an https one's
/// host; any other with its scheme (`http://127.0.0.1`, `cursor://…`,
/// `com.example.app:`), so that `x-evil://claude.ai` never reads as
/// claude.ai.
fn returns_to(redirect: &url::Url) -> String {
    match (redirect.scheme(), redirect.host_str()) {
        ("https", Some(host)) => host.to_owned(),
        (scheme, Some(host)) => format!("{scheme}://{host}"),
        (scheme, None) => format!("{scheme}:"),
    }
}

/// The consent form's answer.
#[derive(Deserialize)]
pub(crate) struct Consented {
    pending: String,
    /// `deny` where the person refused (a device's page offers it).
    pub(super) answer: Option<String>,
}

/// `POST /authorize`: the person allowed it, on this server's own page, in
/// the browser the page was shown to; then they sign in at the issuer, or,
/// signed in already, the host gets its code.
pub(crate) async fn consented(
    State(front): State<Arc<Front>>,
    headers: HeaderMap,
    form: Result<axum::Form<Consented>, axum::extract::rejection::FormRejection>,
) -> Response {
    let (mut pending, keys) = match checked(&front, &headers, form) {
        Ok((pending, _)) if pending.device.is_some() => {
            return page(StatusCode::BAD_REQUEST, "Answer on the agent's own page.");
        }
        Ok((pending, _)) => (pending, front.keys.now()),
        Err(refused) => return *refused,
    };
    crate::metrics::oauth("consent", "allowed");
    pending.consented = true;
    if let Some(signed_in) = pending.signed_in.take() {
        return issued(&keys, pending, signed_in, &headers);
    }
    sign_in(&front, &keys, pending).await
}

/// A consent page's answer `form`, checked: read, sent from this server's
/// own page, its request opened and bound to this browser; its request
/// and the answer, or the page that says why not.
pub(super) fn checked(
    front: &Front,
    headers: &HeaderMap,
    form: Result<axum::Form<Consented>, axum::extract::rejection::FormRejection>,
) -> Result<(Pending, Consented), Box<Response>> {
    let Ok(axum::Form(form)) = form else {
        let why = "This form could not be read. Go back to the application and start again.";
        return Err(Box::new(page(StatusCode::BAD_REQUEST, why)));
    };
    if let Err(from) = from_origin(headers, &front.origin) {
        log::warn!(target: "nexus_mcp", "authorization refused: a consent form sent from another origin ({from}) than this server's ({})", front.origin);
        crate::metrics::oauth("consent", "refused");
        let why = "This form was not sent from this server's own page. Go back to the \
                   application and start again.";
        return Err(Box::new(page(StatusCode::FORBIDDEN, why)));
    }
    let keys = front.keys.now();
    const EXPIRED: &str = "This page has expired. Go back to the application and start again.";
    let pending = opened(&keys, &form.pending, "a consent form", EXPIRED)
        .map_err(|told| Box::new(page(StatusCode::BAD_REQUEST, told)))?;
    let browser = cookie(headers, BROWSER_COOKIE).map_err(|twice| {
        log::info!(target: "nexus_mcp", "authorization refused: a consent form with two cookies of one name");
        crate::metrics::oauth("consent", "refused");
        Box::new(page(StatusCode::BAD_REQUEST, twice))
    })?;
    if browser.as_deref() != Some(pending.browser.as_str()) {
        log::info!(target: "nexus_mcp", "authorization refused: a consent that is not this browser's, or expired");
        crate::metrics::oauth("consent", "refused");
        return Err(Box::new(page(StatusCode::BAD_REQUEST, EXPIRED)));
    }
    Ok((pending, form))
}

/// What a person who `signed_in` grants `pending`'s agent.
pub(super) fn granted(pending: Pending, signed_in: SignedIn) -> Grant {
    Grant {
        person: signed_in.subject,
        workspace: signed_in.workspace,
        attributes: signed_in.attributes,
        admitted: signed_in.admitted,
        agent: Some(crate::agents::Agent {
            name: pending.name.clone(),
            boundary: pending.bounded.then(|| pending.scopes.clone()),
            scopes: pending.scopes.clone(),
            registered: pending.registered.clone(),
            session_life: pending.session_life,
            through: Vec::new(),
        }),
        client: pending.client,
        scopes: pending.scopes,
        resource: pending.resource,
        granted: crate::serve::store::now_ms(),
        act: None,
        itself: false,
    }
}

/// What a person reads of a sign-in's request that has expired.
const LOGIN_EXPIRED: &str = "This login has expired. Open the link again.";

/// The pending request `sealed` (`what`: a consent form's, or one carried
/// through the sign-in), or what the person's page says instead: keys that
/// differ between replicas named as such (and in the log), else `expired`.
fn opened(
    keys: &Keys,
    sealed: &str,
    what: &str,
    expired: &'static str,
) -> Result<Pending, &'static str> {
    let opened = Sealing::opened::<Pending>(&keys.oauth.pending, sealed);
    opened.map_err(|unopened| match unopened.keys_differ(what) {
        Some(line) => {
            log::warn!(target: "nexus_mcp", "authorization: {line}");
            KEYS_DIFFER
        }
        None => expired,
    })
}

/// The person sent to sign in at the issuer, `pending` carried through
/// the sign-in sealed.
pub(super) async fn sign_in(front: &Front, keys: &Keys, pending: Pending) -> Response {
    let fresh = pending.device.is_some();
    let pending = Sealing::named(&keys.oauth.pending, &pending, CONSENT_TIME);
    begin(Arc::clone(&front.login), Then::Authorize { pending, fresh }).await
}

/// After the person signed in at the issuer: the host's code when they
/// consented in this flow or this browser remembers their consent to the
/// application; else the consent page, for them; or why not (at the host's
/// redirect).
pub(crate) fn signed_in(
    keys: &Keys,
    pending: &str,
    logged: LoggedIn,
    headers: &HeaderMap,
) -> Response {
    let pending = match opened(keys, pending, "a sign-in's request", LOGIN_EXPIRED) {
        Ok(pending) => pending,
        Err(told) => return page(StatusCode::BAD_REQUEST, told),
    };
    let signed_in = match logged {
        Ok(signed_in) => signed_in,
        Err(why) if pending.device.is_some() => {
            let why = nexus_sdk::one_line(&format!("{why:?}"));
            log::warn!(target: "nexus_mcp", "a device's sign-in did not complete: {why}");
            crate::metrics::oauth("device", "not_signed_in");
            let why = "The sign-in did not complete. Type your agent's code again.";
            return page(StatusCode::FORBIDDEN, why);
        }
        Err(NotSignedIn::Person(why)) => {
            log::warn!(target: "nexus_mcp", "authorization: the sign-in did not complete: {}", nexus_sdk::one_line(&why));
            let told = "the sign-in at the issuer did not complete";
            return redirect_refusal(&pending, ErrorCode::AccessDenied, told)
                .answer(&iss(&pending));
        }
        Err(NotSignedIn::Operator(why)) => {
            log::error!(target: "nexus_mcp", "authorization: no sign-in can complete: {}", nexus_sdk::one_line(&why));
            let told = "this server's sign-in is not set up as its issuer expects: ask this server's operator";
            return redirect_refusal(&pending, ErrorCode::ServerError, told).answer(&iss(&pending));
        }
        Err(NotSignedIn::Barred(why)) => {
            log::warn!(target: "nexus_mcp", "authorization refused: {why}");
            crate::metrics::oauth("authorization", "barred");
            let text = "This server lets in only the accounts its operator allows, and this \
                        account is not one of them. Sign in with your organisation's account.";
            let told = "the person is not one this server lets in (--allow-sign-in)";
            return sent_back(&pending, text, "", told);
        }
        Err(NotSignedIn::Stopped) => {
            return redirect_refusal(&pending, ErrorCode::ServerError, "the sign-in failed")
                .answer(&iss(&pending));
        }
    };
    let who = person(&signed_in.issuer, &signed_in.subject);
    let known = remembered(keys, headers).contains(&(pending.client.clone(), who));
    // A device's person sees its agent every time, whatever was remembered.
    if (pending.consented || known) && pending.device.is_none() {
        return issued(keys, pending, signed_in, headers);
    }
    let pending = Pending {
        signed_in: Some(signed_in),
        ..pending
    };
    page_for(keys, pending)
}

/// The issuer refused the person's sign-in: this server's page says so in
/// the issuer's words, and sends the browser back to the host with
/// `access_denied`: the person allowed this host, so its redirect may be
/// followed.
pub(crate) fn refused_by_issuer(keys: &Keys, pending: &str, refusal: &Refusal) -> Response {
    let pending = match opened(keys, pending, "a sign-in's request", LOGIN_EXPIRED) {
        Ok(pending) => pending,
        Err(told) => return page(StatusCode::BAD_REQUEST, told),
    };
    crate::metrics::oauth("authorization", ErrorCode::AccessDenied.as_str());
    if pending.device.is_some() {
        let text = "Your organisation's sign-in refused this sign-in. It said:";
        return crate::serve::page::page_detailed(StatusCode::FORBIDDEN, text, &refusal.said());
    }
    let why = format!("the issuer refused the sign-in: {}", refusal.said());
    let text = "Your organisation's sign-in refused this sign-in. It said:";
    sent_back(&pending, text, &refusal.said(), &why)
}

/// A sign-in refused, after the person allowed the host: this server's
/// page says `text` (and `detail`, escaped), and sends the browser back to
/// the host (a link, and a refresh a few seconds on) with `access_denied`
/// and `why`, its `state` and `iss`.
fn sent_back(pending: &Pending, text: &'static str, detail: &str, why: &str) -> Response {
    let iss = iss(pending);
    let state = pending.state.as_deref();
    let back = Refused::location(
        &pending.redirect_uri,
        ErrorCode::AccessDenied,
        why,
        state,
        &iss,
    );
    let back = escaped(&back.unwrap_or_default());
    let detail = if detail.is_empty() {
        String::new()
    } else {
        format!("<p><code>{}</code></p>", escaped(detail))
    };
    let html = format!(
        "<!doctype html><meta charset=utf-8><meta http-equiv=refresh content=\"5;url={back}\">\
         <title>nexus-mcp: sign-in refused</title><p>{text}</p>{detail}\
         <p>The application is told. <a href=\"{back}\">Back to the application</a></p>"
    );
    (StatusCode::FORBIDDEN, Html(html)).into_response()
}

/// This authorization server's issuer: the MCP endpoint's origin.
fn iss(pending: &Pending) -> String {
    crate::addresses::origin_of(&pending.resource).unwrap_or_default()
}

/// An error told at the host's redirect, with its state.
fn redirect_refusal(pending: &Pending, error: ErrorCode, why: &str) -> Refused {
    Refused::Redirect {
        redirect_uri: pending.redirect_uri.clone(),
        error,
        why: why.to_owned(),
        state: pending.state.clone(),
    }
}

/// The host sent its code, the consent remembered for this application and
/// person in this browser.
fn issued(keys: &Keys, pending: Pending, signed_in: SignedIn, headers: &HeaderMap) -> Response {
    let origin = iss(&pending);
    let Some(id) = random() else {
        return redirect_refusal(&pending, ErrorCode::ServerError, "try again").answer(&origin);
    };
    let mut consents = remembered(keys, headers);
    let pair = (
        pending.client.clone(),
        person(&signed_in.issuer, &signed_in.subject),
    );
    consents.retain(|known| *known != pair);
    consents.push(pair);
    let drop = consents.len().saturating_sub(MOST_REMEMBERED);
    consents.drain(..drop);
    let upstream = signed_in.upstream.clone();
    let redirect_uri = pending.redirect_uri.clone();
    let (state, challenge) = (pending.state.clone(), pending.challenge.clone());
    let grant = granted(pending, signed_in);
    let code = Code {
        grant,
        redirect_uri: redirect_uri.clone(),
        challenge,
        id,
        upstream,
    };
    let code = Sealing::named(&keys.oauth.codes, &code, CODE_LIFE);
    let Ok(mut to) = url::Url::parse(&redirect_uri) else {
        return page(
            StatusCode::BAD_REQUEST,
            "The application's address is not valid.",
        );
    };
    to.query_pairs_mut()
        .append_pair("code", &code)
        .extend_pairs(state.map(|state| ("state", state)))
        .append_pair("iss", &origin);
    crate::metrics::oauth("authorization", "ok");
    let consents = Sealing::named(&keys.oauth.consents, &consents, REMEMBERED_FOR);
    let cookie = set_cookie(REMEMBERED_COOKIE, &consents, REMEMBERED_FOR);
    ([(header::SET_COOKIE, cookie)], Redirect::to(to.as_str())).into_response()
}
