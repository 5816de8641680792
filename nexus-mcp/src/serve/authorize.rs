//! The authorization endpoint of the hosts' authorization server
//! (`--oauth-proxy`, #87, in progress): a host's request read and checked
//! (OAuth 2.1 §4.1.1, RFC 7636, RFC 8707, RFC 8252 §7.3). What cannot be
//! trusted to redirect (an unknown client, a redirect URI it did not
//! register) is told on this server's own page, never redirected to; the
//! rest is told to the host at its redirect URI, with `state` and `iss`
//! (RFC 9207). Then the person consents on this server's page and signs in
//! at the issuer; the host gets a code of this server's.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};

use super::front::{Client, Front};
use super::login::page;
use super::token::{CODE_LIFE, Code, Grant};
use crate::keys::{Keys, Sealing};

/// The most a `state` may weigh (a host's opaque value, returned as given).
const LONGEST_STATE: usize = 1024;

/// An authorization request's query: the parameters this server reads.
#[derive(Deserialize, Default)]
pub(crate) struct Asked {
    response_type: Option<String>,
    client_id: Option<String>,
    redirect_uri: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    state: Option<String>,
    scope: Option<String>,
    resource: Option<String>,
}

/// An authorization request, checked: what the consent page shows and the
/// code will be bound to.
#[derive(Debug, PartialEq)]
pub(crate) struct Authorization {
    pub(crate) client: Client,
    pub(crate) client_id: String,
    /// Where the code goes: the registered URI as the request wrote it.
    pub(crate) redirect_uri: String,
    /// PKCE's S256 challenge.
    pub(crate) challenge: String,
    pub(crate) state: Option<String>,
    pub(crate) scopes: Vec<String>,
}

/// Why an authorization request is refused, and where that is said.
#[derive(Debug, PartialEq)]
pub(crate) enum Refused {
    /// On this server's page: the redirect URI cannot be trusted.
    Page(&'static str),
    /// At the host's redirect URI (RFC 6749 §4.1.2.1): the error code, why,
    /// and the host's `state`.
    Redirect {
        redirect_uri: String,
        error: &'static str,
        why: String,
        state: Option<String>,
    },
}

/// Whether `asked` is `registered` as OAuth compares redirect URIs: the
/// same string, save a loopback one's port (RFC 8252 §7.3).
fn same_redirect(registered: &str, asked: &str) -> bool {
    if registered == asked {
        return true;
    }
    let (Ok(mut registered), Ok(mut asked)) = (url::Url::parse(registered), url::Url::parse(asked))
    else {
        return false;
    };
    let loopback = |u: &url::Url| {
        u.scheme() == "http" && matches!(u.host_str(), Some("127.0.0.1" | "[::1]" | "localhost"))
    };
    if !loopback(&registered) || !loopback(&asked) {
        return false;
    }
    let ports = (registered.set_port(None), asked.set_port(None));
    ports.0.is_ok() && ports.1.is_ok() && registered == asked
}

/// The client `id` names and the redirect `uri` it registered (the one it
/// registered, when it names none and registered one), or why not: what
/// this server's page says, for nothing here can be redirected to.
fn trusted(
    front: &Front,
    id: Option<String>,
    uri: Option<String>,
) -> Result<(String, Client, String), Refused> {
    let id = id.ok_or(Refused::Page("the request names no client_id"))?;
    let client = front.client(&id).ok_or(Refused::Page(
        "this client is not registered here (or its registration has expired): the \
         application registers again",
    ))?;
    let uri = match uri {
        Some(uri) if client.redirect_uris.iter().any(|r| same_redirect(r, &uri)) => uri,
        Some(_) => {
            let why = "the redirect_uri is not one this client registered";
            return Err(Refused::Page(why));
        }
        None if client.redirect_uris.len() == 1 => client.redirect_uris[0].clone(),
        None => return Err(Refused::Page("the request names no redirect_uri")),
    };
    Ok((id, client, uri))
}

/// `asked` checked against `front` (its clients, scopes and `resource`,
/// the MCP endpoint's URL), or why it is refused.
pub(crate) fn checked(
    front: &Front,
    resource: &str,
    asked: Asked,
) -> Result<Authorization, Refused> {
    let (id, client, redirect_uri) = trusted(front, asked.client_id, asked.redirect_uri)?;
    let state = asked.state.filter(|s| s.len() <= LONGEST_STATE);
    let refused = |error: &'static str, why: &str| Refused::Redirect {
        redirect_uri: redirect_uri.clone(),
        error,
        why: why.to_owned(),
        state: state.clone(),
    };
    if asked.response_type.as_deref() != Some("code") {
        return Err(refused(
            "unsupported_response_type",
            "response_type is code",
        ));
    }
    let challenge = asked.code_challenge.filter(|c| {
        c.len() == 43
            && c.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    });
    let Some(challenge) =
        challenge.filter(|_| asked.code_challenge_method.as_deref() == Some("S256"))
    else {
        return Err(refused(
            "invalid_request",
            "PKCE is required: code_challenge_method S256 and its code_challenge",
        ));
    };
    if asked
        .resource
        .is_some_and(|r| r.trim_end_matches('/') != resource)
    {
        return Err(refused(
            "invalid_target",
            "resource is this MCP server's URL",
        ));
    }
    let scopes: Vec<String> = asked
        .scope
        .unwrap_or_default()
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if scopes.iter().any(|s| !front.scopes.contains(s)) {
        return Err(refused(
            "invalid_scope",
            "a scope this server does not grant was asked",
        ));
    }
    let scopes = if scopes.is_empty() {
        front.scopes.clone()
    } else {
        scopes
    };
    Ok(Authorization {
        client,
        client_id: id,
        redirect_uri,
        challenge,
        state,
        scopes,
    })
}

impl Refused {
    /// Where the host is sent with the error (RFC 6749 §4.1.2.1, RFC 9207's
    /// `iss`), its query written by the URL crate.
    fn location(
        redirect_uri: &str,
        error: &str,
        why: &str,
        state: Option<&str>,
        iss: &str,
    ) -> Option<String> {
        let mut url = url::Url::parse(redirect_uri).ok()?;
        url.query_pairs_mut()
            .append_pair("error", error)
            .append_pair("error_description", why)
            .extend_pairs(state.map(|state| ("state", state)))
            .append_pair("iss", iss);
        Some(url.into())
    }

    /// The answer this refusal is: this server's page, or the host's
    /// redirect with the error.
    fn answer(self, iss: &str) -> axum::response::Response {
        use axum::response::IntoResponse;
        let outcome = match &self {
            Refused::Page(_) => "refused_on_page",
            Refused::Redirect { error, .. } => error,
        };
        crate::metrics::oauth("authorization", outcome);
        match self {
            Refused::Page(why) => {
                log::info!(target: "nexus_mcp", "authorization refused on the page: {why}");
                super::login::page(axum::http::StatusCode::BAD_REQUEST, why)
            }
            Refused::Redirect {
                redirect_uri,
                error,
                why,
                state,
            } => {
                log::info!(target: "nexus_mcp", "authorization refused ({error}): {why}");
                let location = Refused::location(&redirect_uri, error, &why, state.as_deref(), iss);
                let location = location.unwrap_or(redirect_uri);
                axum::response::Redirect::to(&location).into_response()
            }
        }
    }
}

/// An authorization the person is asked to consent to, then signs in for:
/// what the consent form and the login's cookie carry (sealed).
#[derive(Serialize, Deserialize)]
pub(crate) struct Pending {
    client: String,
    redirect_uri: String,
    challenge: String,
    state: Option<String>,
    scopes: Vec<String>,
    resource: String,
    /// The browser the consent page was shown to: its cookie's value.
    browser: String,
}

/// The cookie that binds a consent form to the browser it was shown to.
const CONSENT_COOKIE: &str = "nexus_consent";

/// How long a consent page may wait for its answer.
const CONSENT_TIME: Duration = Duration::from_secs(600);

/// `GET /authorize`: a host's request checked, then the person asked to
/// consent to this client on this server's own page (MCP's confused
/// deputy: one login client at the issuer serves every host); refused on
/// this server's page or at the host's redirect.
pub(crate) async fn authorize(
    State(front): State<Arc<Front>>,
    Query(asked): Query<Asked>,
) -> Response {
    let asked = match checked(&front, &front.resource, asked) {
        Err(refused) => return refused.answer(&front.origin),
        Ok(asked) => asked,
    };
    let mut browser = [0u8; 16];
    if SystemRandom::new().fill(&mut browser).is_err() {
        return page(StatusCode::INTERNAL_SERVER_ERROR, "Try again.");
    }
    let browser = URL_SAFE_NO_PAD.encode(browser);
    let redirect_host = url::Url::parse(&asked.redirect_uri).ok();
    let redirect_host = redirect_host.map(|u| u.host_str().unwrap_or(u.scheme()).to_owned());
    let pending = Pending {
        client: super::token::client_mark(&asked.client_id),
        redirect_uri: asked.redirect_uri,
        challenge: asked.challenge,
        state: asked.state,
        scopes: asked.scopes,
        resource: front.resource.clone(),
        browser: browser.clone(),
    };
    let sealed = Sealing::named(&front.keys.now().oauth.pending, &pending, CONSENT_TIME);
    let name = escaped(if asked.client.name.is_empty() {
        "An application"
    } else {
        &asked.client.name
    });
    let html = format!(
        "<!doctype html><meta charset=utf-8><title>nexus-mcp: allow access</title>\
         <p><b>{name}</b>, which returns to <b>{host}</b>, asks to use this server as you \
         ({scopes}). Allow it only if you started this from that application.</p>\
         <form method=post action=/authorize><input type=hidden name=pending value=\"{sealed}\">\
         <button type=submit>Allow</button></form>",
        host = escaped(&redirect_host.unwrap_or_default()),
        scopes = escaped(&pending.scopes.join(" ")),
    );
    let secure = if front.origin.starts_with("https:") {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{CONSENT_COOKIE}={browser}; Path=/authorize; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
        CONSENT_TIME.as_secs()
    );
    let headers = [
        (header::SET_COOKIE, cookie),
        (
            header::CONTENT_SECURITY_POLICY,
            "frame-ancestors 'none'".to_owned(),
        ),
        (header::X_FRAME_OPTIONS, "DENY".to_owned()),
        (header::CACHE_CONTROL, "no-store".to_owned()),
    ];
    crate::metrics::oauth("consent", "shown");
    (StatusCode::OK, headers, Html(html)).into_response()
}

/// The consent form's answer.
#[derive(Deserialize)]
pub(crate) struct Consented {
    pending: String,
}

/// `POST /authorize`: the person allowed it, in the browser the page was
/// shown to; the browser is sent to sign in at the issuer.
pub(crate) async fn consented(
    State(front): State<Arc<Front>>,
    headers: axum::http::HeaderMap,
    axum::Form(form): axum::Form<Consented>,
) -> Response {
    let pending: Option<Pending> =
        Sealing::opened(&front.keys.now().oauth.pending, &form.pending).ok();
    let browser = super::login::cookie_named(&headers, CONSENT_COOKIE);
    let Some(pending) = pending.filter(|p| browser.as_deref() == Some(p.browser.as_str())) else {
        log::info!(target: "nexus_mcp", "authorization refused: a consent that is not this browser's, or expired");
        crate::metrics::oauth("consent", "refused");
        return page(
            StatusCode::BAD_REQUEST,
            "This page has expired. Go back to the application and start again.",
        );
    };
    crate::metrics::oauth("consent", "allowed");
    match &front.login {
        Some(login) => super::login::begin(Arc::clone(login), String::new(), Some(pending)).await,
        None => page(
            StatusCode::SERVICE_UNAVAILABLE,
            "This server cannot sign you in.",
        ),
    }
}

/// The host's redirect after the person signed in at the issuer: a code
/// of this server's, or why not (at the host's redirect).
pub(crate) fn signed_in(keys: &Keys, pending: Pending, logged: super::login::LoggedIn) -> Response {
    // This authorization server's issuer: the resource's origin.
    let iss = url::Url::parse(&pending.resource).map(|u| u.origin().ascii_serialization());
    let iss = iss.unwrap_or_default();
    let refused = |error: &'static str, why: &str| Refused::Redirect {
        redirect_uri: pending.redirect_uri.clone(),
        error,
        why: why.to_owned(),
        state: pending.state.clone(),
    };
    let subject = match logged {
        Ok(Ok((_, subject))) => subject,
        Ok(Err((_, why))) => {
            log::warn!(target: "nexus_mcp", "authorization: the sign-in did not complete: {}", nexus_sdk::one_line(&why));
            return refused(
                "access_denied",
                "the sign-in at the issuer did not complete",
            )
            .answer(&iss);
        }
        Err(_) => return refused("server_error", "the sign-in failed").answer(&iss),
    };
    let mut id = [0u8; 16];
    if SystemRandom::new().fill(&mut id).is_err() {
        return refused("server_error", "try again").answer(&iss);
    }
    let grant = Grant {
        person: subject,
        client: pending.client,
        scopes: pending.scopes,
        resource: pending.resource,
    };
    let code = Code {
        grant,
        redirect_uri: pending.redirect_uri.clone(),
        challenge: pending.challenge,
        id: URL_SAFE_NO_PAD.encode(id),
    };
    let code = Sealing::named(&keys.oauth.codes, &code, CODE_LIFE);
    let Ok(mut to) = url::Url::parse(&pending.redirect_uri) else {
        return page(
            StatusCode::BAD_REQUEST,
            "The application's address is not valid.",
        );
    };
    to.query_pairs_mut()
        .append_pair("code", &code)
        .extend_pairs(pending.state.map(|state| ("state", state)))
        .append_pair("iss", &iss);
    crate::metrics::oauth("authorization", "ok");
    Redirect::to(to.as_str()).into_response()
}

/// `text` for an HTML page: `&`, `<`, `>`, `"` and `'` written as
/// references.
fn escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{HeldKeys, Keys};

    const RESOURCE: &str = "https://mcp.example.com/mcp";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn front() -> Front {
        let ring = crate::state::Keyring::parse("default:a-sealing-key-of-at-least-32-bytes!!");
        let keys = Keys::new(&ring.unwrap()).unwrap();
        let keys = std::sync::Arc::new(HeldKeys::new(keys));
        let origin = "https://mcp.example.com".to_owned();
        Front {
            origin,
            scopes: vec!["mcp.tools".into()],
            resource: RESOURCE.to_owned(),
            keys,
            redeemed: Default::default(),
            login: None,
            issuer: "https://login.example".into(),
            deny: std::sync::Arc::new(
                crate::serve::deny::DenyList::read(None, "https://login.example").unwrap(),
            ),
        }
    }

    fn client(front: &Front, uris: &[&str]) -> String {
        let uris = uris.iter().map(|u| u.to_string()).collect();
        front.client_id(&Client {
            name: "Host".into(),
            redirect_uris: uris,
            native: true,
        })
    }

    fn asked(id: &str, redirect: Option<&str>) -> Asked {
        Asked {
            response_type: Some("code".into()),
            client_id: Some(id.into()),
            redirect_uri: redirect.map(str::to_owned),
            code_challenge: Some(CHALLENGE.into()),
            code_challenge_method: Some("S256".into()),
            state: Some("xyz".into()),
            scope: None,
            resource: Some(RESOURCE.into()),
        }
    }

    #[test]
    fn a_host_asking_as_it_registered_is_authorized_a_loopback_redirect_on_any_port() {
        let front = front();
        let id = client(
            &front,
            &["http://127.0.0.1:1000/callback", "https://h.example/cb"],
        );
        let ok = checked(
            &front,
            RESOURCE,
            asked(&id, Some("http://127.0.0.1:53412/callback")),
        );
        let ok = ok.unwrap();
        assert_eq!(ok.redirect_uri, "http://127.0.0.1:53412/callback");
        assert_eq!(ok.scopes, ["mcp.tools"]);
        assert_eq!(ok.challenge, CHALLENGE);
        assert!(checked(&front, RESOURCE, asked(&id, Some("https://h.example/cb"))).is_ok());
        let only = client(&front, &["https://h.example/cb"]);
        let implied = checked(&front, RESOURCE, asked(&only, None)).unwrap();
        assert_eq!(implied.redirect_uri, "https://h.example/cb");
    }

    #[test]
    fn an_unknown_client_or_redirect_is_told_on_this_servers_page_never_redirected_to() {
        let front = front();
        let id = client(&front, &["https://h.example/cb", "http://127.0.0.1:1/cb"]);
        for redirect in [
            "https://h.example/cb/",
            "https://h.example/cb?x=1",
            "https://evil.example/cb",
            "http://127.0.0.1:1/other",
            "http://127.0.0.2:1/cb",
            "https://127.0.0.1:1/cb",
        ] {
            let refused = checked(&front, RESOURCE, asked(&id, Some(redirect)));
            assert!(matches!(refused, Err(Refused::Page(_))), "{redirect}");
        }
        assert!(matches!(
            checked(&front, RESOURCE, asked(&id, None)),
            Err(Refused::Page(_))
        ));
        for id in ["", "not-a-client", &id.replace('.', "")] {
            let refused = checked(&front, RESOURCE, asked(id, Some("https://h.example/cb")));
            assert!(matches!(refused, Err(Refused::Page(_))), "{id}");
        }
    }

    #[test]
    fn a_request_without_pkce_s256_or_for_another_resource_is_told_at_the_hosts_redirect() {
        let front = front();
        let id = client(&front, &["https://h.example/cb"]);
        type Change = fn(&mut Asked);
        let cases: [(Change, &str); 7] = [
            (|a| a.code_challenge = None, "invalid_request"),
            (|a| a.code_challenge_method = None, "invalid_request"),
            (
                |a| a.code_challenge_method = Some("plain".into()),
                "invalid_request",
            ),
            (
                |a| a.code_challenge = Some("short".into()),
                "invalid_request",
            ),
            (
                |a| a.response_type = Some("token".into()),
                "unsupported_response_type",
            ),
            (
                |a| a.resource = Some("https://other.example/mcp".into()),
                "invalid_target",
            ),
            (
                |a| a.scope = Some("mcp.tools admin".into()),
                "invalid_scope",
            ),
        ];
        for (change, error) in cases {
            let mut request = asked(&id, Some("https://h.example/cb"));
            change(&mut request);
            match checked(&front, RESOURCE, request) {
                Err(Refused::Redirect {
                    redirect_uri,
                    error: said,
                    state,
                    ..
                }) => {
                    assert_eq!(
                        (redirect_uri.as_str(), said, state.as_deref()),
                        ("https://h.example/cb", error, Some("xyz"))
                    );
                }
                other => panic!("{error}: {other:?}"),
            }
        }
    }
}
