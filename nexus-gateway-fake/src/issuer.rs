//! A fake OAuth 2.1 authorization server, for tests of a resource server
//! (`nexus-mcp serve`) and of the clients that reach one: its metadata
//! (RFC 8414 and OpenID discovery), a JWKS of an EC and an RSA key that a
//! test can rotate, dynamic client registration (RFC 7591), `/authorize`
//! that approves the person the test names (PKCE S256 required, the
//! `resource` of RFC 8707 carried into the token's audience, `iss` in the
//! redirect as RFC 9207 says), `/token`, and tokens of any shape a test
//! wants, valid or not. Its keys are test keys, public in this crate's
//! source: never trust them anywhere else.

use std::collections::HashMap;
use std::io::{Error, ErrorKind};
use std::sync::Arc;

use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use parking_lot::Mutex;
use serde_json::{Map, Value, json};

use crate::hold::Holds;
use crate::request::RecordedRequest;

mod entra;
mod exchange;
mod introspect;
mod issued;
mod mint;
mod oauth;
mod refresh;
mod register;
mod shape;
mod signals;
mod userinfo;
use crate::server::{HttpServer, Reply};
use shape::Shape;

/// The signing keys: a key id, its algorithm and its DER (PKCS #8 for the
/// EC keys, PKCS #1 for the RSA ones). The first two are published from the
/// start; [`FakeIssuer::rotate`] publishes the other two and signs with them.
const KEYS: [(&str, Algorithm, &[u8]); 4] = [
    ("ec-1", Algorithm::ES256, include_bytes!("keys/ec1.der")),
    ("rsa-1", Algorithm::RS256, include_bytes!("keys/rsa1.der")),
    ("ec-2", Algorithm::ES256, include_bytes!("keys/ec2.der")),
    ("rsa-2", Algorithm::RS256, include_bytes!("keys/rsa2.der")),
];

/// A fake authorization server on `127.0.0.1`, whose issuer is its URL.
/// Stops when dropped.
///
/// ```
/// use nexus_gateway_fake::{FakeIssuer, FakeToken};
///
/// let issuer = FakeIssuer::start();
/// let token = issuer.mint(&FakeToken::new("alice").audience("https://mcp.example.com/mcp"));
/// assert_eq!(token.split('.').count(), 3);
/// issuer.rotate(); // ec-2 and rsa-2 published, ec-2 signs
/// ```
pub struct FakeIssuer {
    state: Arc<Mutex<State>>,
    /// Questions at `/introspect` held until the test lets them go.
    holds: Arc<Holds>,
    server: HttpServer,
    /// The issuer's path after the server's origin (Entra's `/TENANT/v2.0`).
    path: String,
}

#[derive(Default)]
struct State {
    /// How many of [`KEYS`] are published (2, or 4 after a rotation).
    published: usize,
    /// The key that signs a token naming none.
    signer: &'static str,
    /// Whether the metadata and the JWKS answer 503.
    down: bool,
    /// How many times the JWKS was fetched.
    jwks_fetches: usize,
    /// How many times the metadata or the JWKS was asked for, answered or not.
    asked: usize,
    /// The JWKS answer's `Cache-Control: max-age`, if any.
    max_age: Option<u64>,
    /// The provider whose published shape it takes ([`shape`]).
    shape: Shape,
    /// Each opaque token minted, and the claims `/introspect` tells of it.
    opaque: HashMap<String, Value>,
    /// How many times `/introspect` was asked.
    introspections: usize,
    /// The `error_description` `/introspect` refuses every question with, if set.
    introspection_error: Option<String>,
    /// Who `/authorize` approves.
    person: String,
    /// The claims of theirs each token issued to them carries
    /// ([`FakeIssuer::approve_as_with_claims`]).
    claims: Map<String, Value>,
    /// The refusal `/authorize` sends the browser back with instead, if
    /// any ([`FakeIssuer::refuse_as`]): its `error` and `error_description`.
    refusal: Option<(String, String)>,
    /// Each registered client's redirect URIs.
    clients: HashMap<String, Vec<String>>,
    /// Each confidential client's secret.
    secrets: HashMap<String, String>,
    /// Each code not yet exchanged: the grant it stands for.
    codes: HashMap<String, Grant>,
    /// Each refresh token not yet used: the grant it renews.
    refreshes: HashMap<String, Grant>,
    /// Each person's claims as last approved ([`FakeIssuer::approve_as_with_claims`]):
    /// what a refresh writes in their new ID token.
    people: HashMap<String, Map<String, Value>>,
    /// The people disabled ([`FakeIssuer::disable`]): no refresh for them.
    disabled: std::collections::HashSet<String>,
    /// The clients given no refresh token ([`FakeIssuer::no_refresh_tokens`]).
    unrefreshed: std::collections::HashSet<String>,
    /// Okta's app groups claim filter ([`FakeIssuer::okta_groups_filter`]):
    /// the groups an ID token carries start with it; none without one.
    groups_filter: Option<String>,
    /// Each access token issued: its person and scope, for `/userinfo`.
    access: HashMap<String, (String, String)>,
    /// A refresh answered without an ID token ([`FakeIssuer::renew_without_id_token`]).
    renew_bare: bool,
    /// What each (requesting client, audience) may reach as, by an
    /// ID-JAG: the client id it has there ([`FakeIssuer::let_reach`]).
    cross_app: HashMap<(String, String), String>,
    /// A number for each client and code.
    serial: u64,
    /// The Shared Signals streams receivers made here.
    streams: Vec<signals::Stream>,
}

impl State {
    /// Publishes every key, and signs with the next one of its kind.
    fn rotate(&mut self) {
        self.published = KEYS.len();
        self.signer = KEYS[if self.signer == KEYS[1].0 { 3 } else { 2 }].0;
    }
}

/// What an authorization code stands for.
struct Grant {
    client: String,
    redirect_uri: String,
    challenge: String,
    resource: Option<String>,
    scope: Option<String>,
    subject: String,
    /// The person's own claims, carried into each token.
    claims: Map<String, Value>,
    nonce: Option<String>,
    /// Whether it earns a refresh token (`offline_access`; Google's
    /// `access_type=offline`).
    offline: bool,
    /// When the person signed in, where the login asked `max_age` (OpenID
    /// Connect Core §3.1.2.1: its ID tokens then carry `auth_time`): the
    /// fake signs them in again then, so it is the login's own time.
    auth_time: Option<u64>,
}

impl std::fmt::Debug for FakeIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeIssuer")
            .field("url", &self.server.url())
            .finish_non_exhaustive()
    }
}

impl FakeIssuer {
    /// Starts a fake issuer on a free loopback port.
    ///
    /// # Panics
    ///
    /// When no loopback port can be bound; use [`start_on`](Self::start_on) to handle that.
    pub fn start() -> FakeIssuer {
        FakeIssuer::start_on("127.0.0.1:0")
            .unwrap_or_else(|e| panic!("FakeIssuer could not listen on 127.0.0.1: {e}"))
    }

    /// Starts a fake issuer on `address` (`host:port`; port 0 for any free
    /// one), a loopback address only: it mints a valid token for anyone
    /// who asks (`/_fake/mint`), so beyond loopback it must be asked for
    /// by name ([`start_minting_for_anyone_on`](Self::start_minting_for_anyone_on)).
    ///
    /// # Errors
    ///
    /// `PermissionDenied` when `address` is not a loopback one; the I/O
    /// error of binding it.
    pub fn start_on(address: &str) -> std::io::Result<FakeIssuer> {
        loopback_only(address)?;
        FakeIssuer::start_minting_for_anyone_on(address)
    }

    /// Starts a fake issuer on any `address`, beyond loopback too, where
    /// whoever reaches it can mint a token this issuer signs.
    ///
    /// # Errors
    ///
    /// The I/O error of binding `address`.
    pub fn start_minting_for_anyone_on(address: &str) -> std::io::Result<FakeIssuer> {
        FakeIssuer::shaped(address, "", Shape::Plain)
    }

    /// Starts a fake issuer shaped as Entra ID's v2 endpoint for `tenant`, as
    /// Microsoft documents it: its issuer `ORIGIN/TENANT/v2.0`, every
    /// endpoint under it, its metadata only at
    /// `/.well-known/openid-configuration` (RFC 8414's path answers 404)
    /// and as Entra's says: no registration endpoint (`/register` answers
    /// 404), no PKCE advertised, no introspection, OpenID's own scopes
    /// alone, RS256. `/authorize` refuses a `resource` (AADSTS9010010). The
    /// person [`approve_as`](Self::approve_as) names is their `oid`: an ID
    /// token's `sub` is pairwise, and its `oid` there only when `profile`
    /// was asked; the access token for `api://<app>/name` has the app as
    /// its audience and `name` in `scp`, and one for a login alone is
    /// Microsoft Graph's. Tokens of other shapes are the test's to mint
    /// (`aud` the client id, `oid`, `tid`, `scp`, `typ: JWT`). The v1
    /// endpoint's metadata answers at `ORIGIN/TENANT/.well-known/openid-configuration`,
    /// naming its issuer `https://sts.windows.net/TENANT/`, as Entra's does.
    ///
    /// # Panics
    ///
    /// When no loopback port can be bound.
    pub fn start_entra(tenant: &str) -> FakeIssuer {
        FakeIssuer::start_entra_on("127.0.0.1:0", tenant)
            .unwrap_or_else(|e| panic!("FakeIssuer could not listen on 127.0.0.1: {e}"))
    }

    /// [`start_entra`](Self::start_entra) on `address`, a loopback one only
    /// (as [`start_on`](Self::start_on)).
    ///
    /// # Errors
    ///
    /// `PermissionDenied` when `address` is not a loopback one; the I/O
    /// error of binding it.
    pub fn start_entra_on(address: &str, tenant: &str) -> std::io::Result<FakeIssuer> {
        loopback_only(address)?;
        let path = format!("/{tenant}/v2.0");
        FakeIssuer::shaped(address, &path, Shape::Entra(tenant.to_owned()))
    }

    /// Starts a fake issuer shaped as Okta's org authorization server, as
    /// Okta documents it: its metadata at both paths, a registration
    /// endpoint that refuses a host (it needs an administrator's API token),
    /// and access tokens signed with a key it does not publish (they are
    /// for Okta's own APIs: no third party can check one). Its ID tokens
    /// name the person by `sub`.
    ///
    /// # Panics
    ///
    /// When no loopback port can be bound.
    pub fn start_okta_org() -> FakeIssuer {
        FakeIssuer::start_okta_org_on("127.0.0.1:0")
            .unwrap_or_else(|e| panic!("FakeIssuer could not listen on 127.0.0.1: {e}"))
    }

    /// [`start_okta_org`](Self::start_okta_org) on `address`, a loopback
    /// one only (as [`start_on`](Self::start_on)).
    ///
    /// # Errors
    ///
    /// `PermissionDenied` when `address` is not a loopback one; the I/O
    /// error of binding it.
    pub fn start_okta_org_on(address: &str) -> std::io::Result<FakeIssuer> {
        loopback_only(address)?;
        FakeIssuer::shaped(address, "", Shape::OktaOrg)
    }

    /// Starts a fake issuer shaped as Google's, as Google documents it: its
    /// metadata at the OpenID path only, no registration (`/register`
    /// answers 404), no introspection, opaque access tokens; its ID token
    /// names the person by `sub`, with their `email`.
    ///
    /// # Panics
    ///
    /// When no loopback port can be bound.
    pub fn start_google() -> FakeIssuer {
        FakeIssuer::start_google_on("127.0.0.1:0")
            .unwrap_or_else(|e| panic!("FakeIssuer could not listen on 127.0.0.1: {e}"))
    }

    /// [`start_google`](Self::start_google) on `address`, a loopback one
    /// only (as [`start_on`](Self::start_on)).
    ///
    /// # Errors
    ///
    /// `PermissionDenied` when `address` is not a loopback one; the I/O
    /// error of binding it.
    pub fn start_google_on(address: &str) -> std::io::Result<FakeIssuer> {
        loopback_only(address)?;
        FakeIssuer::shaped(address, "", Shape::Google)
    }

    /// A fake issuer on `address` whose URL has `path` after its origin,
    /// in the provider's `shape`.
    fn shaped(address: &str, path: &str, shape: Shape) -> std::io::Result<FakeIssuer> {
        let state = Arc::new(Mutex::new(State {
            published: 2,
            // Entra, Okta and Google sign with RSA keys alone.
            signer: KEYS[usize::from(shape != Shape::Plain)].0,
            person: "alice".to_owned(),
            shape,
            ..State::default()
        }));
        let url = Arc::new(Mutex::new(String::new()));
        let (handler_state, handler_url) = (Arc::clone(&state), Arc::clone(&url));
        let holds = Arc::new(Holds::default());
        let handler_holds = Arc::clone(&holds);
        let prefix = path.to_owned();
        let handler = Arc::new(move |mut request: RecordedRequest| {
            let url = handler_url.lock().clone();
            if let Some(v1) = handler_state.lock().shape.v1_metadata(&url, &request.path) {
                return answer(200, &v1);
            }
            // Every endpoint is under the issuer's path.
            match request.path.strip_prefix(prefix.as_str()) {
                Some(rest) => request.path = rest.to_owned(),
                None => return answer(404, &json!({"error": "not_found"})),
            }
            if (request.method.as_str(), request.path.as_str()) == ("POST", "/introspect") {
                handler_state.lock().introspections += 1;
                handler_holds.wait(None);
            }
            let reply = handle(&handler_state, &url, &request);
            let reply = reply.or_else(|| signals::signals(&handler_state, &url, &request));
            reply.unwrap_or_else(|| oauth::oauth(&handler_state, &url, &request))
        });
        let server = HttpServer::start_on(address, handler)?;
        *url.lock() = format!("{}{path}", server.url());
        let path = path.to_owned();
        Ok(FakeIssuer {
            state,
            holds,
            server,
            path,
        })
    }

    /// Registers the client `client_id` with `redirect_uri`, as an operator
    /// registers a server's login client (public; a secret sent is ignored).
    pub fn add_client(&self, client_id: &str, redirect_uri: &str) {
        let mut state = self.state.lock();
        state
            .clients
            .insert(client_id.to_owned(), vec![redirect_uri.to_owned()]);
    }

    /// Registers the confidential client `client_id` with `redirect_uri`
    /// and `secret`: its codes are exchanged only with that secret (HTTP
    /// Basic, or `client_secret` in the form); anything else is
    /// `invalid_client` (401).
    pub fn add_confidential_client(&self, client_id: &str, redirect_uri: &str, secret: &str) {
        self.add_client(client_id, redirect_uri);
        let mut state = self.state.lock();
        state
            .secrets
            .insert(client_id.to_owned(), secret.to_owned());
    }

    /// Lets the client `requesting` exchange a person's ID token for an
    /// ID-JAG naming `audience` (an MCP server's authorization server), as
    /// its client `client_id` there: the administrator's Cross App Access
    /// step (RFC 8693 at `/token`, as Okta documents it).
    pub fn let_reach(&self, requesting: &str, audience: &str, client_id: &str) {
        let reach = (requesting.to_owned(), audience.to_owned());
        self.state
            .lock()
            .cross_app
            .insert(reach, client_id.to_owned());
    }

    /// `/authorize` approves `subject` from now on (`alice` by default), as
    /// if that person had logged in and consented.
    pub fn approve_as(&self, subject: &str) {
        self.approve_as_with_claims(subject, Map::new());
    }

    /// `/authorize` approves `subject` from now on, and each token issued
    /// to them carries `claims` too (the access token unless it is opaque,
    /// and the ID token): a person's groups as a provider sends them.
    ///
    /// ```
    /// use nexus_gateway_fake::FakeIssuer;
    /// use serde_json::json;
    ///
    /// let issuer = FakeIssuer::start();
    /// let roles = json!({"roles": ["platform"]});
    /// let keycloak = serde_json::Map::from_iter([("realm_access".to_owned(), roles)]);
    /// issuer.approve_as_with_claims("alice", keycloak);
    /// ```
    pub fn approve_as_with_claims(&self, subject: &str, claims: Map<String, Value>) {
        let mut state = self.state.lock();
        state.person = subject.to_owned();
        state.people.insert(subject.to_owned(), claims.clone());
        state.claims = claims;
        state.refusal = None;
    }

    /// Disables `subject`, as an administrator does at the provider: their
    /// refresh tokens are refused from now on (`invalid_grant`), as Entra ID
    /// (AADSTS50057), Okta and Google refuse a disabled or deleted person's.
    /// (`POST /_fake/disable {"sub": …}` does the same.)
    ///
    /// A person's claims change the same way: approved again with other
    /// claims, their next refresh's ID token carries those.
    pub fn disable(&self, subject: &str) {
        self.state.lock().disabled.insert(subject.to_owned());
    }

    /// Sets the app's groups claim filter, as an Okta administrator does
    /// (Sign On, OpenID Connect ID Token, Groups claim filter, "Starts
    /// with" `prefix`; `""` matches any): in the Okta shape, an ID token
    /// carries a person's `groups` only when the sign-in asked the `groups`
    /// scope and a filter is set, and then only those it matches. The
    /// Google shape never writes `groups`.
    pub fn okta_groups_filter(&self, prefix: &str) {
        self.state.lock().groups_filter = Some(prefix.to_owned());
    }

    /// Renews sign-ins without an ID token from now on, as OpenID Connect
    /// lets a provider (Core §12.2): a refresh answers an access token
    /// (and a refresh token) alone. In the shapes that list `/userinfo`
    /// (Okta's, Google's), it answers the person as they are now.
    pub fn renew_without_id_token(&self) {
        self.state.lock().renew_bare = true;
    }

    /// Gives `client_id`'s sign-ins no refresh token, even when they ask
    /// for one, as Okta gives none to an application without the Refresh
    /// Token grant.
    pub fn no_refresh_tokens(&self, client_id: &str) {
        self.state.lock().unrefreshed.insert(client_id.to_owned());
    }

    /// `/authorize` refuses from now on, until a person is approved again:
    /// the browser is sent back to the client's redirect URI with `error`,
    /// `error_description`, the `state` and the issuer, as a provider sends
    /// back a person it will not let in (Okta's `access_denied`, "User is
    /// not assigned to the client application"; Entra ID's AADSTS codes).
    ///
    /// ```
    /// use nexus_gateway_fake::FakeIssuer;
    ///
    /// let issuer = FakeIssuer::start_okta_org();
    /// issuer.refuse_as("access_denied", "User is not assigned to the client application");
    /// ```
    pub fn refuse_as(&self, error: &str, description: &str) {
        let mut state = self.state.lock();
        state.refusal = Some((error.to_owned(), description.to_owned()));
    }

    /// The issuer: `http://127.0.0.1:<port>`, as tokens name it (`iss`).
    pub fn url(&self) -> String {
        format!("{}{}", self.server.url(), self.path)
    }

    /// The Shared Signals streams receivers made here (`serve ssf
    /// connect`), each as its configuration.
    pub fn ssf_streams(&self) -> Vec<Value> {
        let state = self.state.lock();
        state.streams.iter().map(signals::Stream::config).collect()
    }

    /// A Security Event Token of `event` (its URI) about `sub_id` (RFC
    /// 9493), signed by this issuer, sent to every stream: pushed (each
    /// receiver's `{"stream_id", "status", "body"}`) or queued for a poll
    /// (`{"stream_id", "queued": jti}`).
    pub fn ssf_emit(&self, event: &str, sub_id: Value) -> Vec<Value> {
        let events = json!({ event: {} });
        signals::emitted(&self.state, &self.url(), (events, sub_id), None)
    }

    /// A Global Token Revocation for `sub_id` sent to `endpoint`, its JWT
    /// signed as Okta signs it: what the endpoint answered (0: nothing).
    pub fn global_logout(&self, endpoint: &str, sub_id: Value) -> (u16, String) {
        let asked = json!({"endpoint": endpoint, "sub_id": sub_id});
        signals::logged_out(&self.state, &self.url(), &asked)
    }

    /// `token`, signed as it asks (by default with the signing key, `ec-1`
    /// until a rotation), as a compact JWS.
    ///
    /// # Panics
    ///
    /// When the token names a key this issuer does not have.
    pub fn mint(&self, token: &FakeToken) -> String {
        let signer = self.state.lock().signer;
        sign(token, token.key.as_deref().unwrap_or(signer), &self.url())
    }

    /// Publishes the second pair of keys (`ec-2`, `rsa-2`) beside the first,
    /// and signs with `ec-2` from now on: a key rotation as issuers do it.
    pub fn rotate(&self) {
        self.state.lock().rotate();
    }

    /// Makes the metadata and the JWKS answer 503 (`true`) or answer again.
    pub fn set_down(&self, down: bool) {
        self.state.lock().down = down;
    }

    /// How many times the metadata or the JWKS was asked for, answered or
    /// not (while [`set_down`](Self::set_down) too).
    pub fn requests(&self) -> usize {
        self.state.lock().asked
    }

    /// Has the JWKS answer say `Cache-Control: max-age=SECONDS` (`None`:
    /// say nothing, as by default).
    pub fn set_max_age(&self, seconds: Option<u64>) {
        self.state.lock().max_age = seconds;
    }

    /// How many times the JWKS was fetched.
    pub fn jwks_fetches(&self) -> usize {
        self.state.lock().jwks_fetches
    }
}

/// A token to mint: a subject, and whatever a test wants beside it. By
/// default it is valid for an hour from now, for the audience given, from
/// this issuer, signed by its current key.
#[derive(Debug, Clone, Default)]
pub struct FakeToken {
    subject: String,
    audience: Option<String>,
    issuer: Option<String>,
    expires_in: Option<i64>,
    not_before_in: Option<i64>,
    key: Option<String>,
    jku: Option<String>,
    typ: Option<String>,
    critical: Option<Vec<String>>,
    /// A `nonce` in the JOSE header, as Microsoft Graph's tokens carry.
    header_nonce: Option<String>,
    claims: Map<String, Value>,
    /// No `exp` (a Security Event Token carries none).
    without_expiry: bool,
}

impl FakeToken {
    /// A token for `subject` (`sub`).
    pub fn new(subject: &str) -> FakeToken {
        FakeToken {
            subject: subject.to_owned(),
            ..FakeToken::default()
        }
    }

    /// `aud`: the resource it is for.
    #[must_use]
    pub fn audience(mut self, audience: &str) -> FakeToken {
        self.audience = Some(audience.to_owned());
        self
    }

    /// `iss`, in place of the issuer's own URL.
    #[must_use]
    pub fn issuer(mut self, issuer: &str) -> FakeToken {
        self.issuer = Some(issuer.to_owned());
        self
    }

    /// `exp`, this many seconds from now (negative: already expired).
    #[must_use]
    pub fn expires_in(mut self, seconds: i64) -> FakeToken {
        self.expires_in = Some(seconds);
        self
    }

    /// `nbf`, this many seconds from now (positive: not yet valid).
    #[must_use]
    pub fn not_before_in(mut self, seconds: i64) -> FakeToken {
        self.not_before_in = Some(seconds);
        self
    }

    /// Signed by key `kid` (`ec-1`, `rsa-1`, `ec-2`, `rsa-2`), published or not.
    #[must_use]
    pub fn key(mut self, kid: &str) -> FakeToken {
        self.key = Some(kid.to_owned());
        self
    }

    /// A `jku` and an `x5u` header naming `url`: a verifier must never fetch it.
    #[must_use]
    pub fn jku(mut self, url: &str) -> FakeToken {
        self.jku = Some(url.to_owned());
        self
    }

    /// The JOSE header's `typ` (`JWT` by default; RFC 9068's access tokens
    /// say `at+jwt`, and ID tokens of some issuers say other things).
    #[must_use]
    pub fn typ(mut self, typ: &str) -> FakeToken {
        self.typ = Some(typ.to_owned());
        self
    }

    /// A `crit` header naming `extensions`, which a verifier that does not
    /// understand them must refuse (RFC 7515 §4.1.11).
    #[must_use]
    pub fn critical(mut self, extensions: &[&str]) -> FakeToken {
        self.critical = Some(extensions.iter().map(|e| (*e).to_owned()).collect());
        self
    }

    /// No `exp` claim, as a Security Event Token (RFC 8417) carries none.
    pub fn without_expiry(mut self) -> FakeToken {
        self.without_expiry = true;
        self
    }

    /// Any other claim (`scope`, a workspace claim …), replacing the default.
    #[must_use]
    pub fn claim(mut self, name: &str, value: Value) -> FakeToken {
        self.claims.insert(name.to_owned(), value);
        self
    }

    /// The claims, from `issuer` unless it says otherwise.
    fn claims(&self, issuer: &str) -> Value {
        let now = i64::try_from(jsonwebtoken::get_current_timestamp()).unwrap_or(i64::MAX);
        let mut claims = Map::new();
        claims.insert(
            "iss".into(),
            json!(self.issuer.as_deref().unwrap_or(issuer)),
        );
        if !self.subject.is_empty() {
            claims.insert("sub".into(), json!(self.subject));
        }
        if let Some(audience) = &self.audience {
            claims.insert("aud".into(), json!(audience));
        }
        claims.insert("iat".into(), json!(now));
        if !self.without_expiry {
            claims.insert("exp".into(), json!(now + self.expires_in.unwrap_or(3600)));
        }
        if let Some(nbf) = self.not_before_in {
            claims.insert("nbf".into(), json!(now + nbf));
        }
        claims.extend(self.claims.clone());
        Value::Object(claims)
    }
}

/// `token` from `issuer`, signed with key `kid`, as a compact JWS.
fn sign(token: &FakeToken, kid: &str, issuer: &str) -> String {
    let (_, alg, der) = KEYS
        .iter()
        .find(|(id, _, _)| *id == kid)
        .unwrap_or_else(|| panic!("FakeIssuer has no key {kid:?}"));
    let mut header = Header::new(*alg);
    header.kid = Some(kid.to_owned());
    header.jku = token.jku.clone();
    header.x5u = token.jku.clone();
    if let Some(typ) = &token.typ {
        header.typ = Some(typ.clone());
    }
    header.crit = token.critical.clone();
    header.nonce = token.header_nonce.clone();
    let signed = jsonwebtoken::encode(&header, &token.claims(issuer), &key_of(*alg, der));
    signed.unwrap_or_else(|e| panic!("FakeIssuer could not sign with {kid}: {e}"))
}

/// A key of [`KEYS`] as the JWT crate signs with it.
fn key_of(alg: Algorithm, der: &[u8]) -> EncodingKey {
    match alg {
        Algorithm::ES256 => EncodingKey::from_ec_der(der),
        _ => EncodingKey::from_rsa_der(der),
    }
}

/// The public JWK of a key, with its id and algorithm.
fn jwk(kid: &str, alg: Algorithm, der: &[u8]) -> Jwk {
    let mut jwk = Jwk::from_encoding_key(&key_of(alg, der), alg)
        .unwrap_or_else(|e| panic!("the test key {kid} does not read: {e}"));
    jwk.common.key_id = Some(kid.to_owned());
    jwk
}

/// The metadata and the JWKS; `None` for the OAuth endpoints.
fn handle(state: &Mutex<State>, url: &str, request: &RecordedRequest) -> Option<Reply> {
    let mut state = state.lock();
    let path = request.path.as_str();
    if path == "/jwks" || path.starts_with("/.well-known/") {
        state.asked += 1;
    }
    let body = match path {
        _ if state.down => {
            return Some(answer(503, &json!({"error": "temporarily_unavailable"})));
        }
        "/.well-known/oauth-authorization-server" if !state.shape.at_rfc8414() => return None,
        "/.well-known/oauth-authorization-server" | "/.well-known/openid-configuration"
            if state.shape != Shape::Plain =>
        {
            state.shape.metadata(url).unwrap_or_default()
        }
        "/.well-known/oauth-authorization-server" | "/.well-known/openid-configuration" => json!({
            "issuer": url,
            "jwks_uri": format!("{url}/jwks"),
            "authorization_endpoint": format!("{url}/authorize"),
            "token_endpoint": format!("{url}/token"),
            "registration_endpoint": format!("{url}/register"),
            "introspection_endpoint": format!("{url}/introspect"),
            "introspection_endpoint_auth_methods_supported": ["client_secret_basic"],
            "grant_types_supported": ["authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:token-exchange"],
            // RFC 8693 for ID-JAGs (`exchange`), as the identity-assertion draft says it.
            "identity_chaining_requested_token_types_supported": ["urn:ietf:params:oauth:token-type:id-jag"],
            // OpenID's own scopes only, as Entra ID and many issuers list them.
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "token_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
            "authorization_response_iss_parameter_supported": true,
            "response_types_supported": ["code"],
            "code_challenge_methods_supported": ["S256"],
            "id_token_signing_alg_values_supported": ["ES256", "RS256"],
            "subject_types_supported": ["public"],
        }),
        "/jwks" => {
            state.jwks_fetches += 1;
            let keys = KEYS[..state.published]
                .iter()
                .map(|(kid, alg, der)| jwk(kid, *alg, der))
                .collect();
            let mut reply = answer(
                200,
                &serde_json::to_value(JwkSet { keys }).unwrap_or_default(),
            );
            if let (Some(age), Reply::Answer { headers, .. }) = (state.max_age, &mut reply) {
                headers.push(("Cache-Control".into(), format!("max-age={age}")));
            }
            return Some(reply);
        }
        _ => return None,
    };
    Some(answer(200, &body))
}

/// A 400 with an OAuth error.
fn refused(error: &str, why: &str) -> Reply {
    answer(400, &json!({"error": error, "error_description": why}))
}

/// `PermissionDenied` unless `address` is a loopback one: whoever reaches
/// the issuer can mint a token it signs.
fn loopback_only(address: &str) -> std::io::Result<()> {
    let mut resolved = std::net::ToSocketAddrs::to_socket_addrs(address)?;
    if resolved.all(|at| at.ip().is_loopback()) {
        return Ok(());
    }
    let why = format!(
        "the fake issuer mints tokens for anyone: it listens on loopback only, not on \
         {address} (start_minting_for_anyone_on, or the program's \
         --issuer-mints-for-anyone, to reach it from elsewhere)"
    );
    Err(Error::new(ErrorKind::PermissionDenied, why))
}

fn answer(status: u16, body: &Value) -> Reply {
    Reply::Answer {
        status,
        headers: vec![("Content-Type".into(), "application/json".into())],
        body: body.to_string().into_bytes(),
    }
}
