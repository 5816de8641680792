//! `serve`'s connect page: a link to the server itself, `/connect/<ticket>`,
//! that only the person who was asked can use. The ticket (sealed: see
//! [`crate::ticket`]) holds who was asked and the Gateway's consent URL.
//! Opening it logs the browser in at the issuer with the OpenID Connect
//! crate's authorization code flow (PKCE, `state`, `nonce`, the ID token
//! checked as the crate checks it); only when the login's issuer and
//! subject are the ticket's is the browser sent on to consent. The flow's
//! state rides in a sealed `HttpOnly`, `SameSite=Lax` cookie: any replica
//! serves any step, and nothing is kept server-side.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreErrorResponseType, CoreIdToken, CoreJsonWebKeySet,
    CoreProviderMetadata,
};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet,
    EndpointSet, Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError,
    TokenResponse,
};
use serde::{Deserialize, Serialize};

use crate::policy::Attributes;
use crate::principal::PolicyClaims;
use serde_json::{Map, Value};

use super::http;
use super::issuer::{Issuer, Missing};
use crate::keys::Unopened;
use crate::keys::opened;
use crate::principal::person;
use crate::ticket::Links;

/// The cookie that carries a login under way.
const COOKIE: &str = "nexus_connect";
/// How long a login may take, from the link to the callback.
const LOGIN_TIME: Duration = Duration::from_secs(600);

/// The client discovery makes: an authorization endpoint, a token endpoint
/// and a user-info one if the metadata names them.
type Discovered = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// A login under way, in its cookie: for a connect link's ticket, or for a
/// host's authorization (`--oauth-proxy`).
#[derive(Serialize, Deserialize)]
struct LoginCookie {
    ticket: String,
    #[serde(default)]
    host: Option<super::consent::Pending>,
    state: String,
    nonce: String,
    verifier: String,
}

/// The connect page: the server's login client at the issuer.
pub(crate) struct Login {
    client_id: String,
    secret: Option<String>,
    /// The page's links, and the seals of their tickets.
    links: Arc<Links>,
    /// The issuer, its metadata and keys read once for the bearer check and
    /// here alike: a rotation at the issuer is seen by both at once.
    issuer: Arc<Issuer>,
    /// The claim that names the person (`--subject-claim`), as the bearer
    /// check reads it from access tokens.
    subject_claim: String,
    /// The claim that names the workspace (`--workspace-claim`), and those
    /// `--policy` reads (`--group-claim`, `--policy-claim`), which a sign-in
    /// for a host carries into the tokens this server issues.
    workspace_claim: Option<String>,
    policy_claims: PolicyClaims,
    agent: ureq::Agent,
    /// The operator's lines about refused links, one per reason at most
    /// every few seconds.
    told: super::told::Told,
}

impl Login {
    /// The connect page of `links`, logging in at `issuer` as `client_id`
    /// (with `secret`, a confidential client), its cookies sealed with the
    /// keys its links hold (the first seals, any opens).
    pub(crate) fn new(
        issuer: Arc<Issuer>,
        client_id: &str,
        secret: Option<String>,
        links: Arc<Links>,
        (subject_claim, workspace_claim, policy_claims): (&str, Option<&str>, &PolicyClaims),
    ) -> Login {
        Login {
            issuer,
            client_id: client_id.to_owned(),
            secret,
            links,
            subject_claim: subject_claim.to_owned(),
            workspace_claim: workspace_claim.map(str::to_owned),
            policy_claims: policy_claims.clone(),
            agent: http::agent(Duration::from_secs(10)),
            told: Default::default(),
        }
    }

    /// The routes of the connect page.
    pub(crate) fn routes(login: Arc<Login>) -> Router {
        Router::new()
            .route("/connect/done", get(done))
            .route("/connect/callback", get(callback))
            .route("/connect/{ticket}", get(start))
            .with_state(login)
    }

    /// The ID token the issuer gives for `code` (and PKCE's `verifier`),
    /// not yet checked; else why not, and whether only the operator can
    /// mend it (the issuer unreadable, or refusing this server's client).
    fn exchange(&self, code: String, verifier: PkceCodeVerifier) -> Result<CoreIdToken, NotIn> {
        let client = self.client().map_err(|why| (true, why))?;
        let http = |request| http::call(&self.agent, request);
        let exchange = client.exchange_code(AuthorizationCode::new(code));
        let exchange = exchange.map_err(|e| (true, e.to_string()))?;
        let tokens = exchange.set_pkce_verifier(verifier).request(&http);
        let tokens = tokens.map_err(|e| match e {
            RequestTokenError::ServerResponse(answer)
                if *answer.error() == CoreErrorResponseType::InvalidClient =>
            {
                let id = &self.client_id;
                (true, format!("the issuer refuses the login client {id:?} (invalid_client): check --login-client-id and NEXUS_MCP_LOGIN_CLIENT_SECRET"))
            }
            e => (false, format!("the code exchange: {e}")),
        })?;
        let id_token = tokens
            .id_token()
            .ok_or((false, "the issuer sent no ID token".to_owned()))?;
        Ok(id_token.clone())
    }

    /// The OpenID Connect client, from the issuer's metadata as the bearer
    /// check read it (never discovered a second time).
    fn client(&self) -> Result<Discovered, String> {
        let metadata = self.issuer.metadata().ok_or_else(|| {
            format!(
                "the metadata of the issuer {} could not be read",
                self.issuer
            )
        })?;
        let metadata: CoreProviderMetadata = serde_json::from_value(metadata)
            .map_err(|e| format!("the issuer's metadata is not OpenID Connect's: {e}"))?;
        let redirect = RedirectUrl::new(format!("{}/connect/callback", self.links.origin));
        let redirect = redirect.map_err(|e| e.to_string())?;
        let secret = self.secret.clone().map(ClientSecret::new);
        // The endpoints from discovery; the keys as the bearer check holds them.
        let keys = self
            .issuer
            .set()
            .and_then(|set| serde_json::to_value(set).ok());
        let keys = keys.and_then(|keys| serde_json::from_value::<CoreJsonWebKeySet>(keys).ok());
        let metadata = match keys {
            Some(keys) => metadata.set_jwks(keys),
            None => metadata,
        };
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.client_id.clone()),
            secret,
        )
        .set_redirect_uri(redirect);
        Ok(client)
    }
}

/// `GET /connect/<ticket>`: a valid ticket starts the login.
async fn start(State(login): State<Arc<Login>>, Path(ticket): Path<String>) -> Response {
    if let Err(unopened) = login.links.ticket(&ticket) {
        return refused_link(&login, unopened);
    }
    begin(login, ticket, None).await
}

/// The browser sent to the issuer to log in, for `ticket` or for a host's
/// authorization (`host`), the login's state in a sealed cookie.
pub(crate) async fn begin(
    login: Arc<Login>,
    ticket: String,
    host: Option<super::consent::Pending>,
) -> Response {
    // The issuer's metadata, fetched within its limits when none is held
    // (the client below says why not).
    let _ = login.issuer.held_or_fetched().await;
    let begun = tokio::task::spawn_blocking(move || {
        let client = login.client()?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut asked = client.authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        );
        // A claim other than `sub` (Entra's `oid`) is in an ID token only
        // when `profile` is asked.
        if login.subject_claim != "sub" {
            asked = asked.add_scope(openidconnect::Scope::new("profile".to_owned()));
        }
        let (url, state, nonce) = asked.set_pkce_challenge(challenge).url();
        let pending = LoginCookie {
            ticket,
            host,
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            verifier: verifier.secret().clone(),
        };
        let keys = login.links.keys();
        let cookie = (keys.cookies.first()).map(|seal| seal.seal(&pending, LOGIN_TIME));
        let cookie = cookie.unwrap_or_default();
        Ok::<_, String>((
            url.to_string(),
            cookie,
            login.links.origin.starts_with("https:"),
        ))
    })
    .await;
    match begun {
        Ok(Ok((url, cookie, secure))) => {
            let secure = if secure { "; Secure" } else { "" };
            let cookie = format!(
                "{COOKIE}={cookie}; Path=/connect; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
                LOGIN_TIME.as_secs()
            );
            let mut response = Redirect::to(&url).into_response();
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                response.headers_mut().append(header::SET_COOKIE, value);
            }
            response
        }
        Ok(Err(why)) => {
            log::warn!(target: "nexus_mcp", "the connect page cannot log in at the issuer: {why}");
            page(
                StatusCode::SERVICE_UNAVAILABLE,
                "The login is not available now. Try again later.",
            )
        }
        Err(_) => page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The login failed. Try again.",
        ),
    }
}

/// A link that does not open, as the person reads it (400, and what to do)
/// and as the operator does (why, at most once per reason a while).
fn refused_link(login: &Login, unopened: Unopened) -> Response {
    match unopened {
        Unopened::Invalid => {
            let line = "connect page: refused a link that has expired, was changed, or was never \
                        one of this server's";
            login.told.warn("invalid link", line);
            let why =
                "This link is not valid: it has expired, or was changed. Ask your host again.";
            page(StatusCode::BAD_REQUEST, why)
        }
        Unopened::Differs { kid } => {
            let line = format!(
                "refused a connect link sealed under key id {kid:?}: the replicas' keys under id {kid:?} differ; give every replica the same keyring"
            );
            login
                .told
                .warn("link sealed under a key held otherwise", &line);
            let why = "This link was made by another server of this service, whose key differs \
                       from this one's. Ask your host again; if this repeats, tell the server's \
                       operator.";
            page(StatusCode::BAD_REQUEST, why)
        }
        Unopened::Foreign { kid, held } => {
            let line = format!(
                "refused a connect link sealed under key id {kid:?}, which this replica's keyring ({held}) lacks: the replicas' keyrings differ"
            );
            login.told.warn("link sealed under a key not held", &line);
            let why = "This link was made by another server of this service, whose keys this one \
                       does not hold. Ask your host again; if it happens again, tell whoever runs \
                       this server (its log says which key is missing).";
            page(StatusCode::BAD_REQUEST, why)
        }
    }
}

/// The issuer's answer to the login.
#[derive(Deserialize)]
struct Answered {
    code: Option<String>,
    state: Option<String>,
}

/// `GET /connect/callback`: the login's person, checked against the ticket's.
async fn callback(
    State(login): State<Arc<Login>>,
    Query(answered): Query<Answered>,
    headers: HeaderMap,
) -> Response {
    let cookie =
        cookie(&headers).and_then(|c| opened::<LoginCookie>(&login.links.keys().cookies, &c));
    let Some(mut pending) = cookie else {
        return page(
            StatusCode::BAD_REQUEST,
            "This login has expired. Open the link again.",
        );
    };
    let same_state = answered.state.as_deref() == Some(pending.state.as_str());
    let (Some(code), true) = (answered.code, same_state) else {
        return page(
            StatusCode::BAD_REQUEST,
            "This login was not the one this page began.",
        );
    };
    if let Some(host) = pending.host.take() {
        let signed_in = logged_in(Arc::clone(&login), code, pending).await;
        return super::consent::signed_in(&login.links.keys(), host, signed_in, &headers);
    }
    let Ok(ticket) = login.links.ticket(&pending.ticket) else {
        return page(
            StatusCode::BAD_REQUEST,
            "This link has expired. Ask your host again.",
        );
    };
    let logged = logged_in(Arc::clone(&login), code, pending).await;
    let logged = logged.map(|l| l.map(|signed| person(&signed.issuer, &signed.subject)));
    match logged {
        Ok(Ok(person)) if person == ticket.person => {
            let to = [(header::LOCATION, ticket.consent)];
            (StatusCode::FOUND, to).into_response()
        }
        Ok(Ok(_)) => {
            // Entra ID's `sub` is pairwise, one per application: the API's
            // access token and the login client's ID token differ. Its
            // metadata, alone among issuers', names a cloud instance.
            let metadata = login.issuer.metadata().unwrap_or_default();
            let entra = metadata.get("cloud_instance_name").is_some();
            let hint = match entra && login.subject_claim == "sub" {
                true => {
                    "; with Entra ID, --subject-claim oid names the person alike in both tokens (its sub is one per application)"
                }
                false => "",
            };
            log::warn!(target: "nexus_mcp", "connect page: a link made for another person was opened (provider {:?}){hint}; nothing was redirected", ticket.provider);
            page(
                StatusCode::FORBIDDEN,
                "This link was made for another account. Sign in as the person it was sent to, \
                 or ask your host for your own.",
            )
        }
        Ok(Err((false, why))) => {
            log::warn!(target: "nexus_mcp", "connect page: the login did not complete: {why}");
            page(
                StatusCode::BAD_REQUEST,
                "The login did not complete. Open the link again.",
            )
        }
        Ok(Err((true, why))) => {
            log::error!(target: "nexus_mcp", "connect page: no login can complete: {why}");
            page(
                StatusCode::SERVICE_UNAVAILABLE,
                "This server cannot sign you in right now: its sign-in is not set up as the \
                 issuer expects. Tell whoever runs this server; opening the link again will \
                 not help.",
            )
        }
        Err(_) => page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The login failed. Try again.",
        ),
    }
}

/// Why a login did not complete, and whether only the operator can mend it.
pub(crate) type NotIn = (bool, String);

/// Who a login signed in: the issuer, the person's claim (`--subject-claim`)
/// and, with `--workspace-claim`, its value in the ID token.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct SignedIn {
    pub(crate) issuer: String,
    pub(crate) subject: String,
    #[serde(default)]
    pub(crate) workspace: Option<String>,
    /// What `--policy` reads of the person in the ID token.
    #[serde(default)]
    pub(crate) attributes: Attributes,
}

/// Who a login signed in, or why not; `Err` when the exchange could not
/// run at all.
pub(crate) type LoggedIn = Result<Result<SignedIn, NotIn>, tokio::task::JoinError>;

/// The issuer and subject the code logs in, its ID token checked by the
/// OpenID Connect crate (signature, issuer, audience, nonce, expiry) with
/// the key it names as the bearer check holds it (fetched again, at most
/// once per 30 s, when the issuer rotated).
async fn logged_in(login: Arc<Login>, code: String, pending: LoginCookie) -> LoggedIn {
    let _ = login.issuer.held_or_fetched().await;
    let exchanging = Arc::clone(&login);
    let verifier = PkceCodeVerifier::new(pending.verifier.clone());
    let id_token = tokio::task::spawn_blocking(move || exchanging.exchange(code, verifier));
    let id_token = match id_token.await? {
        Ok(id_token) => id_token,
        Err(why) => return Ok(Err(why)),
    };
    let jwt = serde_json::to_value(&id_token).ok();
    let jwt = jwt
        .as_ref()
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default();
    let kid = jsonwebtoken::decode_header(jwt)
        .ok()
        .and_then(|header| header.kid);
    match login.issuer.key(kid.as_deref().unwrap_or_default()).await {
        Err(Missing::Unreadable(why)) => return Ok(Err((true, why))),
        Err(Missing::Unknown) | Ok(_) => {}
    }
    let checked = login.client().map_err(|why| (true, why)).and_then(|client| {
        let nonce = Nonce::new(pending.nonce.clone());
        let claims = id_token.claims(&client.id_token_verifier(), &nonce);
        let claims = claims.map_err(|e| (false, format!("the ID token: {e}")))?;
        let name = login.subject_claim.as_str();
        // Its signature checked above, the token's other claims are read as
        // they are: the person's claim, as the bearer check reads it.
        let others = jsonwebtoken::dangerous::insecure_decode_claims::<Map<String, Value>>(jwt);
        let others = others.unwrap_or_default();
        let text = |name: &str| others.get(name)?.as_str().filter(|s| !s.trim().is_empty());
        let subject = match name {
            "sub" => Some(claims.subject().to_string()),
            _ => text(name).map(str::to_owned),
        };
        let workspace = login.workspace_claim.as_deref().and_then(text);
        let Some(subject) = subject.filter(|s| !s.trim().is_empty()) else {
            return Err((true, format!("the ID token names no person: its `{name}` claim is missing or blank; --subject-claim must name a claim the issuer writes in ID tokens too (Entra ID: `oid`, written when `profile` is asked, as this server asks; Okta: a `uid` claim added to ID tokens)")));
        };
        let (issuer, workspace) = (claims.issuer().to_string(), workspace.map(str::to_owned));
        let attributes = login.policy_claims.read(&others);
        Ok(SignedIn {
            issuer,
            subject,
            workspace,
            attributes,
        })
    });
    Ok(checked)
}

/// `GET /connect/done`: where the Gateway sends the browser after consent.
async fn done() -> Response {
    page(
        StatusCode::OK,
        "The connection is made. You can close this page and go back to your host: the \
         request carries on.",
    )
}

/// The login cookie's value.
fn cookie(headers: &HeaderMap) -> Option<String> {
    cookie_named(headers, COOKIE)
}

/// The value of the cookie `name`.
pub(crate) fn cookie_named(headers: &HeaderMap, name: &str) -> Option<String> {
    let values = headers.get_all(header::COOKIE).iter();
    let pairs = values
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'));
    let found = pairs
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name);
    found.map(|(_, value)| value.to_owned())
}

/// A plain page saying `text`: this server's own words, never a request's
/// (`'static`: no one else's text reaches the page unescaped).
pub(crate) fn page(status: StatusCode, text: &'static str) -> Response {
    let html = format!("<!doctype html><meta charset=utf-8><title>nexus-mcp</title><p>{text}</p>");
    (status, Html(html)).into_response()
}
