//! The sign-in at the issuer, for whichever flow needs one: the connect
//! page's link ([`Then::Connect`]) or a host's authorization behind
//! `--oauth-proxy` ([`Then::Authorize`]). It logs the browser in with the
//! OpenID Connect crate's authorization code flow (PKCE, `state`, `nonce`,
//! the ID token checked as the crate checks it) and says who signed in; it
//! knows neither flow, each of which seals what it carries. The flow's
//! state rides in a sealed `HttpOnly`, `SameSite=Lax` cookie: any replica
//! serves any step, and nothing is kept server-side.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreErrorResponseType, CoreGenderClaim, CoreIdToken,
    CoreJsonWebKeySet, CoreProviderMetadata,
};
use openidconnect::{
    AccessToken, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet,
    EndpointNotSet, EndpointSet, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, RefreshToken, RequestTokenError, TokenResponse, UserInfoClaims, UserInfoError,
};
use serde::{Deserialize, Serialize};

use crate::policy::Attributes;
use serde_json::{Map, Value};

use super::issuer::{Issuer, Missing};
use super::jws;
use super::page::{cookie, page, set_cookie};
use super::reads::Reads;
use crate::http;
use crate::keys::{HeldKeys, KEYS_DIFFER, Sealing};

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

/// What a sign-in is for, and what its flow carries through it (sealed by
/// that flow): what comes once the person has signed in.
#[derive(Serialize, Deserialize)]
pub(crate) enum Then {
    /// The connect page's link: its ticket.
    Connect { ticket: String },
    /// A host's authorization (`--oauth-proxy`): its consent's pending
    /// request, sealed, and whether the sign-in must be fresh (a device's:
    /// the person signs in afresh to let an agent act for them).
    Authorize {
        pending: String,
        #[serde(default)]
        fresh: bool,
    },
    /// The approval page's link ([`super::approve`]): the call it carries,
    /// sealed, and whether the sign-in must be fresh (`max_age`: the
    /// person who asked approves their own call).
    Approve { ticket: String, fresh: bool },
}

/// How recent a sign-in must be to approve one's own call (`max_age`).
pub(crate) const FRESH: Duration = Duration::from_secs(300);

/// A login under way, in its cookie: what it is for, and the login's own
/// checks.
#[derive(Serialize, Deserialize)]
struct LoginCookie {
    then: Then,
    state: String,
    nonce: String,
    verifier: String,
}

/// The connect page: the server's login client at the issuer.
pub(crate) struct SignIn {
    client_id: String,
    secret: Option<String>,
    /// Where its callback is: the public URL's origin.
    origin: String,
    /// The keys its cookies are sealed with (the first seals, any opens).
    keys: Arc<HeldKeys>,
    /// The issuer, its metadata and keys read once for the bearer check and
    /// here alike: a rotation at the issuer is seen by both at once.
    pub(crate) issuer: Arc<Issuer>,
    /// What a sign-in reads of the person, and who may sign in: a sign-in
    /// for a host carries it into the tokens this server issues.
    pub(crate) reads: Reads,
    agent: ureq::Agent,
    /// The operator's lines about refused links, one per reason at most
    /// every few seconds.
    pub(crate) told: super::told::Told,
}

impl SignIn {
    /// The sign-in at `issuer` as `client_id` (with `secret`, a
    /// confidential client), its callback at `origin`, its cookies sealed
    /// with `keys` (the first seals, any opens); it knows neither flow it
    /// serves, nor the connect page's links.
    pub(crate) fn new(
        issuer: Arc<Issuer>,
        (client_id, secret): (&str, Option<String>),
        (origin, keys): (String, Arc<HeldKeys>),
        reads: Reads,
    ) -> SignIn {
        SignIn {
            issuer,
            client_id: client_id.to_owned(),
            secret,
            origin,
            keys,
            reads,
            agent: http::agent(Duration::from_secs(10)),
            told: Default::default(),
        }
    }

    /// The keys its cookies are sealed with now.
    pub(crate) fn keys(&self) -> Arc<crate::keys::Keys> {
        self.keys.now()
    }

    /// The ID token the issuer gives for `code` (and PKCE's `verifier`),
    /// not yet checked; else why not, and whose it is to mend (the
    /// operator's: the issuer unreadable, or refusing this server's client).
    fn exchange(
        &self,
        code: String,
        verifier: PkceCodeVerifier,
    ) -> Result<(CoreIdToken, Option<Upstream>), NotSignedIn> {
        let client = self.client().map_err(NotSignedIn::Operator)?;
        let http = |request| http::call(&self.agent, request);
        let exchange = client.exchange_code(AuthorizationCode::new(code));
        let exchange = exchange.map_err(|e| NotSignedIn::Operator(e.to_string()))?;
        let tokens = exchange.set_pkce_verifier(verifier).request(&http);
        let tokens = tokens.map_err(|e| match e {
            RequestTokenError::ServerResponse(answer)
                if *answer.error() == CoreErrorResponseType::InvalidClient =>
            {
                let id = &self.client_id;
                NotSignedIn::Operator(format!("the issuer refuses the login client {id:?} (invalid_client): check --login-client-id and NEXUS_MCP_LOGIN_CLIENT_SECRET"))
            }
            e => NotSignedIn::Person(format!("the code exchange: {e}")),
        })?;
        let id_token = tokens.id_token().ok_or(NotSignedIn::Person(
            "the issuer sent no ID token".to_owned(),
        ))?;
        let upstream = tokens.refresh_token().map(|t| Upstream(t.secret().clone()));
        Ok((id_token.clone(), upstream))
    }

    /// What the issuer answers the refresh token `upstream`: its new ID
    /// token (if it sends one) and refresh token (if it rotates it); else
    /// why not: its refusal is the person's (disabled, removed, the token
    /// revoked: they sign in again), `invalid_client` the operator's, and
    /// no answer is for a while (`Stopped`).
    fn renewal(&self, upstream: &Upstream) -> Result<Renewal, NotSignedIn> {
        let client = self.client().map_err(NotSignedIn::Operator)?;
        let http = |request| http::call(&self.agent, request);
        let token = RefreshToken::new(upstream.0.clone());
        let asked = client.exchange_refresh_token(&token);
        let asked = asked.map_err(|e| NotSignedIn::Operator(e.to_string()))?;
        let tokens = asked.request(&http).map_err(|e| match e {
            RequestTokenError::ServerResponse(answer)
                if *answer.error() == CoreErrorResponseType::InvalidClient =>
            {
                NotSignedIn::Operator(format!(
                    "the issuer refuses the login client {:?} (invalid_client)",
                    self.client_id
                ))
            }
            RequestTokenError::ServerResponse(answer) => {
                let said = answer
                    .error_description()
                    .map_or(String::new(), |d| format!(": {d}"));
                NotSignedIn::Person(nexus_sdk::one_line(&format!("{}{said}", answer.error())))
            }
            e => {
                log::warn!(target: "nexus_mcp", "the issuer did not renew a sign-in: {e}");
                NotSignedIn::Stopped
            }
        })?;
        Ok(Renewal {
            id_token: tokens.id_token().cloned(),
            next: tokens.refresh_token().map(|t| Upstream(t.secret().clone())),
            access: tokens.access_token().clone(),
        })
    }

    /// The person the issuer's userinfo endpoint names for `access` (a
    /// renewal's access token), every claim it sends read as an ID token's
    /// are; why not: none listed (the person signs in again: nothing says
    /// who they are now), the endpoint's refusal (theirs), or no answer.
    fn user_info(&self, access: AccessToken) -> Result<SignedIn, NotSignedIn> {
        let client = self.client().map_err(NotSignedIn::Operator)?;
        let Ok(asked) = client.user_info(access, None) else {
            return Err(NotSignedIn::Person(NO_USERINFO.to_owned()));
        };
        let http = |request| http::call(&self.agent, request);
        let answered: Result<UserInfoClaims<AllClaims, CoreGenderClaim>, _> = asked.request(&http);
        let claims = answered.map_err(|e| match e {
            UserInfoError::Request(e) => {
                log::warn!(target: "nexus_mcp", "the issuer's userinfo endpoint did not answer: {e}");
                NotSignedIn::Stopped
            }
            UserInfoError::Response(status, _, _) if status.is_client_error() => {
                NotSignedIn::Person(format!("its userinfo endpoint answered {status}"))
            }
            e => NotSignedIn::Operator(format!("the issuer's userinfo answer: {e}")),
        })?;
        let others = serde_json::to_value(&claims).ok();
        let others = others
            .and_then(|v| v.as_object().cloned())
            .unwrap_or_default();
        let sub = claims.standard_claims().subject().to_string();
        read_person(&self.reads, self.issuer.url().to_owned(), &sub, &others)
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
        let redirect = RedirectUrl::new(format!("{}/connect/callback", self.origin));
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

/// The browser sent to the issuer to log in, for what comes `then`, the
/// login's state in a sealed cookie.
pub(crate) async fn begin(login: Arc<SignIn>, then: Then) -> Response {
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
        // The scopes the claims read need, `offline_access` among them
        // where listed; else, to stay signed in where the issuer has a
        // refresh grant, Google's `access_type=offline` (a parameter other
        // issuers ignore).
        let metadata = login.issuer.metadata().unwrap_or_default();
        for scope in login.reads.scopes(&metadata) {
            asked = asked.add_scope(openidconnect::Scope::new(scope));
        }
        if let Some(Stay::AccessType) = stays(&metadata) {
            asked = asked.add_extra_param("access_type", "offline");
        }
        if let Then::Approve { fresh: true, .. } | Then::Authorize { fresh: true, .. } = &then {
            asked = asked.add_extra_param("max_age", FRESH.as_secs().to_string());
        }
        let (url, state, nonce) = asked.set_pkce_challenge(challenge).url();
        let pending = LoginCookie {
            then,
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            verifier: verifier.secret().clone(),
        };
        let keys = login.keys();
        let cookie = Sealing::named(&keys.cookies, &pending, LOGIN_TIME);
        Ok::<_, String>((url.to_string(), cookie))
    })
    .await;
    match begun {
        Ok(Ok((url, sealed))) => {
            let cookie = set_cookie(COOKIE, &sealed, LOGIN_TIME);
            ([(header::SET_COOKIE, cookie)], Redirect::to(&url)).into_response()
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

/// The issuer's answer to the login: a code, or its refusal (RFC 6749
/// §4.1.2.1), with the login's `state`.
#[derive(Deserialize)]
pub(crate) struct Answered {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// The issuer's refusal of a sign-in, in its own words: its error code and
/// description (one line each, bounded; escaped wherever they are shown).
pub(crate) struct Refusal {
    pub(crate) error: String,
    pub(crate) description: String,
}

impl Refusal {
    /// The refusal as one line: the issuer's code and words.
    pub(crate) fn said(&self) -> String {
        if self.description.is_empty() {
            self.error.clone()
        } else {
            format!("{}: {}", self.error, self.description)
        }
    }

    /// What an administrator changes at the provider for this refusal.
    pub(crate) fn remedy(&self) -> &'static str {
        match self.error.as_str() {
            "access_denied" | "unauthorized_client" => {
                "the provider does not let this person use the login client: an administrator \
                 assigns them to the application there (Okta: the app's Assignments; Entra ID: \
                 Enterprise applications, Users and groups; Google: the OAuth consent screen's \
                 users), or its sign-on policy admits them"
            }
            "interaction_required" | "login_required" | "consent_required" => {
                "the provider wants the person to do more (sign in, consent, a second factor): \
                 they open the link again and finish there"
            }
            _ => "the provider's own words say what to change there",
        }
    }
}

/// The most of the issuer's words a refusal keeps.
const MOST_SAID: usize = 300;

/// A login the issuer answered: its code, and the login's PKCE verifier
/// and nonce.
pub(crate) struct Returned {
    code: String,
    nonce: String,
    verifier: String,
}

/// At the callback: what the login was for and what the issuer returned,
/// when the browser's cookie holds a login under way whose `state` is the
/// answer's; else what the person's page says.
pub(crate) fn returned(
    login: &SignIn,
    answered: Answered,
    headers: &HeaderMap,
) -> Result<(Then, Result<Returned, Refusal>), &'static str> {
    let Some(sealed) = cookie(headers, COOKIE)? else {
        return Err("This login has expired. Open the link again.");
    };
    let cookie = match Sealing::opened::<LoginCookie>(&login.keys().cookies, &sealed) {
        Ok(cookie) => cookie,
        Err(unopened) => {
            if let Some(line) = unopened.keys_differ("a sign-in's cookie") {
                login
                    .told
                    .warn("a cookie sealed under keys held otherwise", &line);
                return Err(KEYS_DIFFER);
            }
            return Err("This login has expired. Open the link again.");
        }
    };
    let same_state = answered.state.as_deref() == Some(cookie.state.as_str());
    if let (Some(error), true) = (answered.error, same_state) {
        let bounded = |text: &str| nexus_sdk::one_line(text).chars().take(MOST_SAID).collect();
        let description = answered.error_description.unwrap_or_default();
        let refusal = Refusal {
            error: bounded(&error),
            description: bounded(&description),
        };
        return Ok((cookie.then, Err(refusal)));
    }
    let (Some(code), true) = (answered.code, same_state) else {
        return Err("This login was not the one this page began.");
    };
    let LoginCookie {
        then,
        nonce,
        verifier,
        ..
    } = cookie;
    Ok((
        then,
        Ok(Returned {
            code,
            nonce,
            verifier,
        }),
    ))
}

/// Why a sign-in did not complete, and whose it is to mend.
#[derive(Debug)]
pub(crate) enum NotSignedIn {
    /// The person's: a step failed; they start again.
    Person(String),
    /// The operator's: the issuer or the login client is not as this
    /// server expects.
    Operator(String),
    /// `--allow-sign-in` lets this person in by none of their claims.
    Barred(String),
    /// The sign-in's task stopped, or the issuer did not answer: for a
    /// while.
    Stopped,
}

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
    /// The claims `--allow-sign-in` read, held again at each refresh.
    #[serde(default)]
    pub(crate) admitted: Map<String, Value>,
    /// The issuer's refresh token for this sign-in, if it gave one.
    #[serde(default)]
    pub(crate) upstream: Option<Upstream>,
    /// When the person signed in at the issuer (`auth_time`), if it says.
    #[serde(default)]
    pub(crate) auth_time: Option<u64>,
}

/// The issuer's refresh token for a sign-in: kept only sealed inside this
/// server's own code and refresh token, never shown (its `Debug` says
/// nothing of it), never sent to a host in the clear.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Upstream(String);

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Upstream(…)")
    }
}

/// How an issuer is asked to let a sign-in stay.
enum Stay {
    /// The `offline_access` scope, which it lists.
    Scope,
    /// Google's `access_type=offline`: it has a refresh grant, no scope
    /// for it.
    AccessType,
}

/// How the issuer whose `metadata` this is is asked to let a sign-in
/// stay, if it can be.
fn stays(metadata: &Value) -> Option<Stay> {
    let lists = |field: &str, value: &str| {
        (metadata[field].as_array().into_iter().flatten()).any(|listed| listed == value)
    };
    match (
        lists("scopes_supported", "offline_access"),
        lists("grant_types_supported", "refresh_token"),
    ) {
        (true, _) => Some(Stay::Scope),
        (false, true) => Some(Stay::AccessType),
        (false, false) => None,
    }
}

/// Who a login signed in, or why not.
pub(crate) type LoggedIn = Result<SignedIn, NotSignedIn>;

/// The issuer and subject the code logs in, its ID token checked by the
/// OpenID Connect crate (signature, issuer, audience, nonce, expiry) with
/// the key it names as the bearer check holds it (fetched again, at most
/// once per 30 s, when the issuer rotated), and the person let in by
/// `--allow-sign-in`.
pub(crate) async fn finish(login: Arc<SignIn>, returned: Returned) -> LoggedIn {
    let Returned {
        code,
        nonce,
        verifier,
    } = returned;
    let _ = login.issuer.held_or_fetched().await;
    let exchanging = Arc::clone(&login);
    let verifier = PkceCodeVerifier::new(verifier);
    let exchanged = tokio::task::spawn_blocking(move || exchanging.exchange(code, verifier));
    let (id_token, upstream) = exchanged.await.map_err(|_| NotSignedIn::Stopped)??;
    let (read, others) = person_in(&login, &id_token, Some(Nonce::new(nonce))).await?;
    login
        .reads
        .admission
        .admits(&others)
        .map_err(NotSignedIn::Barred)?;
    Ok(SignedIn { upstream, ..read })
}

/// What the issuer answered a refresh: its ID token if it sent one, its
/// next refresh token if it rotated it, and the access token it issued.
struct Renewal {
    id_token: Option<CoreIdToken>,
    next: Option<Upstream>,
    access: AccessToken,
}

/// Every claim a userinfo answer carries besides OpenID's standard ones
/// (`groups`, `hd`, a custom claim), read as an ID token's are.
#[derive(Debug, Deserialize, Serialize)]
struct AllClaims {
    #[serde(flatten)]
    rest: Map<String, Value>,
}

impl openidconnect::AdditionalClaims for AllClaims {}

/// Why a renewal without an ID token ends the sign-in where the issuer
/// lists no userinfo endpoint.
const NO_USERINFO: &str = "the issuer renewed the sign-in without an ID token and lists no \
                           userinfo endpoint to say who the person is now";

/// The sign-in renewed at the issuer with its refresh token `upstream`:
/// the person as the issuer says they are now (its new ID token, or,
/// renewed without one as OpenID Connect allows, its userinfo endpoint:
/// never the claims of the first sign-in kept for its whole life), and its
/// next refresh token (none when it keeps the one it had); or why not
/// ([`SignIn::renewal`], [`SignIn::user_info`]).
pub(crate) async fn renewed(
    login: Arc<SignIn>,
    upstream: Upstream,
) -> Result<(SignedIn, Option<Upstream>), NotSignedIn> {
    let _ = login.issuer.held_or_fetched().await;
    let asking = Arc::clone(&login);
    let answered = tokio::task::spawn_blocking(move || asking.renewal(&upstream));
    let renewal = answered.await.map_err(|_| NotSignedIn::Stopped)??;
    let read = match renewal.id_token {
        Some(id_token) => person_in(&login, &id_token, None).await?.0,
        None => {
            let access = renewal.access;
            let asked = tokio::task::spawn_blocking(move || login.user_info(access));
            asked.await.map_err(|_| NotSignedIn::Stopped)??
        }
    };
    Ok((read, renewal.next))
}

/// Who `id_token` names, checked by the OpenID Connect crate (signature,
/// issuer, audience, expiry, and `nonce` when the login set one: a renewed
/// ID token carries none to check) with the key it names as the bearer
/// check holds it; and all its claims.
async fn person_in(
    login: &SignIn,
    id_token: &CoreIdToken,
    nonce: Option<Nonce>,
) -> Result<(SignedIn, Map<String, Value>), NotSignedIn> {
    let jwt = serde_json::to_value(id_token).ok();
    let jwt = jwt
        .as_ref()
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default();
    // The rule every signed token is held to (its header, and its times
    // below); the signature, issuer, audience and nonce are the OpenID
    // Connect crate's.
    let refused = |why: jws::Refused| NotSignedIn::Person(format!("the ID token {}", why.0));
    let kind = jws::Kind {
        types: &["jwt"],
        untyped: true,
        issuer: login.issuer.url(),
        audiences: &[],
        sole_audience: false,
        subject: None,
        required: &[],
        longest: None,
        without_exp: false,
    };
    let kid = jws::header(jwt, &kind).map_err(refused)?.kid;
    if let Err(Missing::Unreadable(why)) =
        login.issuer.key(kid.as_deref().unwrap_or_default()).await
    {
        return Err(NotSignedIn::Operator(why));
    }
    let client = login.client().map_err(NotSignedIn::Operator)?;
    let verifier = client.id_token_verifier();
    let claims = match &nonce {
        Some(nonce) => id_token.claims(&verifier, nonce),
        None => id_token.claims(&verifier, |_: Option<&Nonce>| Ok(())),
    };
    let claims = claims.map_err(|e| NotSignedIn::Person(format!("the ID token: {e}")))?;
    // Its signature checked above, the token's other claims are read as
    // they are: the person's claim, as the bearer check reads it.
    let others = jsonwebtoken::dangerous::insecure_decode_claims::<Map<String, Value>>(jwt);
    let others = others.unwrap_or_default();
    jws::times(&others, None, jsonwebtoken::get_current_timestamp()).map_err(refused)?;
    let sub = claims.subject().to_string();
    let read = read_person(&login.reads, claims.issuer().to_string(), &sub, &others)?;
    if let Some(line) = login.reads.no_groups(&others) {
        login.told.warn("a sign-in without groups", &line);
    }
    Ok((read, others))
}

/// Who the ID token of `issuer` names (its `sub`, and its `others`
/// claims), as `reads` reads them; or why it names no one.
pub(crate) fn read_person(
    reads: &Reads,
    issuer: String,
    sub: &str,
    others: &Map<String, Value>,
) -> Result<SignedIn, NotSignedIn> {
    let name = reads.subject_claim.as_str();
    let text = |name: &str| others.get(name)?.as_str().filter(|s| !s.trim().is_empty());
    let subject = match name {
        "sub" => Some(sub),
        _ => text(name),
    };
    let Some(subject) = subject.filter(|s| !s.trim().is_empty()) else {
        return Err(NotSignedIn::Operator(super::reads::lacking(name)));
    };
    let workspace = reads.workspace_claim.as_deref().and_then(text);
    Ok(SignedIn {
        issuer,
        subject: subject.to_owned(),
        workspace: workspace.map(str::to_owned),
        attributes: reads.policy_claims.read(others),
        admitted: reads.admission.kept(others),
        auth_time: others.get("auth_time").and_then(Value::as_u64),
        upstream: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_sign_in_asks_to_stay_as_each_issuer_is_asked() {
        let entra = json!({"scopes_supported": ["openid", "offline_access"]});
        assert!(matches!(stays(&entra), Some(Stay::Scope)));
        let google = json!({
            "scopes_supported": ["openid", "email", "profile"],
            "grant_types_supported": ["authorization_code", "refresh_token"]
        });
        assert!(matches!(stays(&google), Some(Stay::AccessType)));
        let neither = json!({"scopes_supported": ["openid"], "grant_types_supported": ["authorization_code"]});
        assert!(stays(&neither).is_none());
        assert!(stays(&Value::Null).is_none());
    }

    #[test]
    fn the_issuers_refresh_token_is_never_shown() {
        let upstream = Upstream("rt-secret-value".to_owned());
        assert_eq!(format!("{upstream:?}"), "Upstream(…)");
        let signed = SignedIn {
            issuer: "https://login.example".into(),
            subject: "alice".into(),
            workspace: None,
            attributes: Default::default(),
            admitted: Map::new(),
            upstream: Some(upstream),
            auth_time: None,
        };
        assert!(!format!("{signed:?}").contains("rt-secret"));
    }
}
