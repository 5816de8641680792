//! `nexus-mcp serve`: MCP over Streamable HTTP for many people, each acting
//! for their own workspace, as stateless replicas behind any load balancer.
//! rmcp serves the protocol (every version it negotiates, with no session
//! a replica must remember); in front of it, every request's bearer token
//! is checked ([`bearer`]) and the person it names rides in the
//! request's extensions to the handler, beside its [`Handshake`]. Beside
//! it: the protected-resource metadata (RFC 9728), `/healthz` (liveness)
//! and `/readyz` (readiness).

mod bearer;
pub(crate) mod check;
mod closing;
mod deny;
mod http;
mod introspect;
mod issuer;
pub(crate) mod login;
mod ready;
mod told;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};

use self::bearer::Gate;
use self::introspect::Introspection;
use self::issuer::Issuer;
use self::login::Login;
use self::ready::Readiness;
use self::told::Told;
use crate::handshake::{Handshake, SESSION_ID};
use crate::server::NexusServer;
use crate::state::Keyring;

/// The most an MCP request's body may weigh (413).
const MAX_BODY: usize = 1 << 20;

/// `nexus-mcp serve`'s own flags.
#[derive(clap::Args)]
pub(crate) struct ServeArgs {
    /// Where to listen: ADDRESS:PORT (127.0.0.1:8080, 0.0.0.0:8080).
    #[arg(long, value_name = "ADDR")]
    listen: String,
    /// This server's URL as clients reach it, the audience its tokens name:
    /// `https://mcp.example.com/mcp` (MCP is served at its path).
    #[arg(long, value_name = "URL")]
    public_url: String,
    /// The OAuth authorization server whose tokens this server accepts, as
    /// its tokens name it (iss).
    #[arg(long, value_name = "URL")]
    issuer: String,
    /// An audience a token may name besides the public URL (repeat for
    /// more): the application's client id or `api://…` an issuer such as
    /// Entra ID puts in `aud`. A token that names only such an audience must
    /// show it is an access token (typed `at+jwt`, or carrying its scope).
    #[arg(long = "audience", value_name = "AUD")]
    audiences: Vec<String>,
    /// The claim that names the person, in access tokens and the connect
    /// page's ID token alike (`oid` for Entra ID, `uid` for Okta's custom
    /// authorization servers); a token without it, or with a blank one, is
    /// refused.
    #[arg(long, value_name = "NAME", default_value = "sub")]
    subject_claim: String,
    /// A scope every token must carry (repeat for more).
    #[arg(long = "scope", value_name = "S")]
    scopes: Vec<String>,
    /// The token claim naming the workspace (a team or tenant id); by
    /// default each person's own, derived from the issuer and subject.
    #[arg(long, value_name = "NAME")]
    workspace_claim: Option<String>,
    /// What every workspace id starts with.
    #[arg(long, value_name = "P", default_value = "")]
    workspace_prefix: String,
    /// A browser origin that may call this server, besides the public
    /// URL's own (repeat for more): `https://app.example.com`
    #[arg(long = "allowed-origin", value_name = "ORIGIN")]
    allowed_origins: Vec<String>,
    /// The connect page's client at the issuer (its secret in
    /// NEXUS_MCP_LOGIN_CLIENT_SECRET, for a confidential one): needed by
    /// --connect, whose links only the person asked can use.
    #[arg(long, value_name = "ID")]
    login_client_id: Option<String>,
    /// The client that asks the issuer's introspection endpoint about an
    /// opaque access token (RFC 7662; its secret in
    /// NEXUS_MCP_INTROSPECTION_CLIENT_SECRET). Without it, a token that is
    /// not a JWT is refused.
    #[arg(long, value_name = "ID")]
    introspection_client_id: Option<String>,
    /// Check the configuration and serve nothing: the keyring, the issuer's
    /// metadata and keys (its issuer equal to --issuer), --scope among the
    /// scopes it offers, the login and introspection clients accepted by it,
    /// the Gateway answering NEXUS_API_KEY. Exit 0, or 2 with a line per
    /// failing check naming the flag or variable
    #[arg(long)]
    pub(crate) check: bool,
    /// People refused (403) from the moment this replica reads the file, at
    /// start and at SIGHUP: one a line, the `who=` the log shows or `ISSUER
    /// SUBJECT`
    #[arg(long, value_name = "PATH")]
    deny_file: Option<String>,
    /// At most N tool calls a minute per person (keyed on the verified
    /// person, never the address); past it, a tool error naming the wait
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) person_rate: Option<u32>,
    /// Serve Prometheus's scrape at /metrics on this address (no token:
    /// where only the scraper reaches): ADDRESS:PORT
    #[arg(long, value_name = "ADDR")]
    metrics_listen: Option<String>,
}

impl ServeArgs {
    /// The site and the resource server these flags set up (with the
    /// introspection client's `secret`, read from its variable), or what is
    /// wrong with them, naming the flag.
    pub(crate) fn checked(self, secret: Option<String>) -> Result<(Site, Gate), String> {
        let public = https_or_loopback("--public-url", &self.public_url)?;
        https_or_loopback("--issuer", &self.issuer)?;
        let path = public.path().trim_end_matches('/').to_owned();
        if path.is_empty() {
            return Err(format!(
                "--public-url {:?}: the URL MCP is served at, its path included \
                 (https://mcp.example.com/mcp), not only an origin",
                self.public_url
            ));
        }
        let origin = public.origin().ascii_serialization();
        let resource = format!("{origin}{path}");
        let host = public.host_str().unwrap_or_default().to_owned();
        let mut hosts = vec![host.clone()];
        if let Some(port) = public.port() {
            hosts.push(format!("{host}:{port}"));
        }
        let mut origins = vec![origin.clone()];
        for given in self.allowed_origins {
            origins.push(allowed_origin(&given)?);
        }
        if let Some(bad) = self
            .scopes
            .iter()
            .find(|s| s.is_empty() || s.contains([' ', '"']))
        {
            return Err(format!("--scope {bad:?}: a scope is one word"));
        }
        if self.scopes.iter().any(|s| s == "offline_access") {
            return Err(
                "--scope offline_access: a refresh token is the client's to ask for, \
                        never a resource's to require (MCP's authorization rules)"
                    .to_owned(),
            );
        }
        let claim = self.workspace_claim.filter(|c| !c.trim().is_empty());
        let asking = self
            .introspection_client_id
            .filter(|id| !id.trim().is_empty());
        let introspection = match (asking, secret) {
            (Some(id), Some(secret)) => Some(Introspection::new(&id, &secret)),
            (Some(_), None) => {
                return Err("--introspection-client-id needs its secret in \
                            NEXUS_MCP_INTROSPECTION_CLIENT_SECRET"
                    .to_owned());
            }
            (None, _) => None,
        };
        if let Some(bad) = self.audiences.iter().find(|a| a.trim().is_empty()) {
            return Err(format!("--audience {bad:?}: an audience is not blank"));
        }
        if self.subject_claim.trim().is_empty() {
            return Err("--subject-claim names a claim (sub, oid, uid …)".to_owned());
        }
        let deny = Arc::new(deny::DenyList::read(self.deny_file, &self.issuer)?);
        let site = Site {
            deny,
            metrics_listen: self.metrics_listen,
            listen: self.listen,
            path,
            public: public.clone(),
            hosts,
            origins,
            origin,
            login_client_id: self.login_client_id.filter(|id| !id.trim().is_empty()),
        };
        let gate = Gate {
            issuer: Arc::new(Issuer::new(&self.issuer)),
            resource,
            audiences: self.audiences,
            subject_claim: self.subject_claim,
            scopes: self.scopes,
            claim,
            prefix: self.workspace_prefix,
            verified: Default::default(),
            introspection,
        };
        Ok((site, gate))
    }
}

impl Door {
    /// `Ok` when `headers` name this site: the `Host` is the public URL's
    /// authority (a port absent is the scheme's default), and an `Origin`,
    /// when sent, is allowed, its port included; else why not, with what
    /// was expected.
    fn site(&self, headers: &axum::http::HeaderMap) -> Result<(), (&'static str, String)> {
        let text = |name| {
            headers
                .get(name)
                .map(|v| v.to_str().unwrap_or("(not text)"))
        };
        let host = text(axum::http::header::HOST).unwrap_or("");
        let as_url = url::Url::parse(&format!("{}://{host}/", self.public.scheme()));
        let ours = as_url.is_ok_and(|u| u.origin() == self.public.origin() && u.path() == "/");
        if !ours || host.contains('@') {
            let expected = self.public.origin().ascii_serialization();
            return Err((
                "host",
                format!(
                    "Host {host:?} is not this server's ({expected}, from --public-url): a proxy \
                 in front must pass the Host it was asked for (nginx: proxy_set_header Host \
                 $http_host)"
                ),
            ));
        }
        let Some(origin) = text(axum::http::header::ORIGIN) else {
            return Ok(());
        };
        let parsed = url::Url::parse(origin).map(|u| u.origin());
        if parsed.is_ok_and(|o| self.origins.contains(&o)) {
            return Ok(());
        }
        let allowed: Vec<String> = (self.origins.iter())
            .map(|o| o.ascii_serialization())
            .collect();
        Err((
            "origin",
            format!(
                "Origin {origin:?} is not allowed (allowed: {}; more with --allowed-origin)",
                allowed.join(", ")
            ),
        ))
    }

    /// Says once, as a configuration error, that a proxy in front speaks
    /// https (`X-Forwarded-Proto`, `Forwarded: proto=`) while the public URL
    /// is http: clients are then told an http URL they never reach.
    fn proxied(&self, headers: &axum::http::HeaderMap) {
        if self.public.scheme() != "http" || self.said_https.load(Ordering::Relaxed) {
            return;
        }
        let text = |name| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
        };
        let forwarded = text("forwarded").to_ascii_lowercase();
        let https = text("x-forwarded-proto").eq_ignore_ascii_case("https")
            || forwarded
                .split([';', ','])
                .any(|p| p.trim() == "proto=https");
        if https && !self.said_https.swap(true, Ordering::Relaxed) {
            let public = self.public.as_str();
            log::error!(target: "nexus_mcp", "configuration: a proxy in front says the request came over https, but --public-url is {public}: the metadata names that http URL to clients, and tokens must name it; set --public-url to the https URL clients use");
        }
    }

    /// A request refused before MCP (`status`), said in the log with what it
    /// said of itself and counted; the status, to answer it with.
    fn before_mcp(&self, status: StatusCode, said: &str) -> StatusCode {
        let line = format!("refused a request ({status}) before MCP: {said}");
        self.told.warn(status.as_str(), &line);
        crate::metrics::refused(&format!("http_{}", status.as_u16()));
        status
    }

    /// Tells the operator why a token was refused (a missing one is every
    /// client's first step, not a refusal worth a line).
    fn tell(&self, refusal: &bearer::Refusal, headers: &axum::http::HeaderMap) {
        let gate = &self.gate;
        let code = refusal.code();
        let (reason, status) = match refusal {
            bearer::Refusal::NoToken => return crate::metrics::refused(code),
            bearer::Refusal::InvalidRequest(why) | bearer::Refusal::InvalidToken(why) => {
                (why.as_str(), 401)
            }
            bearer::Refusal::InsufficientScope(why) => (why.as_str(), 403),
            bearer::Refusal::Unavailable(why) => (why.as_str(), 503),
            bearer::Refusal::HeadersTooLarge => ("headers too large", 431),
        };
        crate::metrics::refused(code);
        let token = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' ').map(|(_, t)| t.trim()));
        let facts = match token {
            Some(token) if status == 401 || status == 403 => {
                let audiences: Vec<&str> = std::iter::once(gate.resource.as_str())
                    .chain(gate.audiences.iter().map(String::as_str))
                    .collect();
                let now = jsonwebtoken::get_current_timestamp();
                format!(
                    ": {}",
                    told::token_facts(token, gate.issuer.url(), &audiences, now)
                )
            }
            _ => String::new(),
        };
        let line = format!("refused a token ({status}, {reason}){facts}");
        self.told.warn(reason, &line);
    }
}

/// `url`, when it is https, or http on a loopback host; no query, no fragment.
fn https_or_loopback(flag: &str, url: &str) -> Result<url::Url, String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("{flag} {url:?}: {e}"))?;
    let loopback = match parsed.host() {
        Some(url::Host::Domain(name)) => name == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match parsed.scheme() {
        "https" | "http" if parsed.query().is_some() || parsed.fragment().is_some() => Err(
            format!("{flag} {url:?}: a URL with no query and no fragment"),
        ),
        "https" => Ok(parsed),
        "http" if loopback => Ok(parsed),
        _ => Err(format!(
            "{flag} {url:?}: https, or http only on a loopback host (tokens and consent would \
             cross the network in the clear)"
        )),
    }
}

/// An `--allowed-origin`: a scheme and a host (and a port), never a
/// pattern that lets any site in.
fn allowed_origin(given: &str) -> Result<String, String> {
    let refused = || {
        format!(
            "--allowed-origin {given:?}: an origin such as https://app.example.com; a wildcard \
             or `null` would let any site call this server with its users' browsers"
        )
    };
    let parsed = url::Url::parse(given).map_err(|_| refused())?;
    let origin = parsed.origin();
    let whole = parsed.path() == "/" && parsed.query().is_none() && parsed.fragment().is_none();
    if !origin.is_tuple() || !whole || given.contains('*') {
        return Err(refused());
    }
    Ok(origin.ascii_serialization())
}

/// Where `serve` listens and who it is.
pub(crate) struct Site {
    /// `--listen`.
    pub(crate) listen: String,
    /// `--public-url`'s path, where MCP is served (`/mcp`).
    pub(crate) path: String,
    /// `--public-url`, whose authority (its port included) a `Host` names.
    pub(crate) public: url::Url,
    /// The `Host` values a request may carry (the public URL's authority).
    pub(crate) hosts: Vec<String>,
    /// The browser origins a request may come from (`--allowed-origin`, and
    /// the public URL's own).
    pub(crate) origins: Vec<String>,
    /// The public URL's origin, where the connect page is.
    pub(crate) origin: String,
    /// `--login-client-id`.
    pub(crate) login_client_id: Option<String>,
    /// `--deny-file`'s people.
    deny: Arc<deny::DenyList>,
    /// `--metrics-listen`.
    metrics_listen: Option<String>,
}

/// `serve --check`: one line per failing check on stderr (`unread`, the
/// keyring's, first), and whether all passed.
pub(crate) async fn check(
    gate: &Gate,
    login: Option<check::LoginClient>,
    server: &NexusServer,
    unread: Option<String>,
) -> bool {
    let mut failed: Vec<String> = unread.into_iter().collect();
    failed.extend(check::failures(gate, login, server).await);
    for line in &failed {
        eprintln!("nexus-mcp serve --check: {line}");
    }
    if failed.is_empty() {
        eprintln!("nexus-mcp serve --check: the configuration holds");
    }
    failed.is_empty()
}

/// What SIGHUP reads again: the deny list and the keyring (from their
/// files), and who holds them.
struct Reread {
    deny: Arc<deny::DenyList>,
    server: NexusServer,
    login: Option<Arc<Login>>,
    keyring: fn() -> Result<Keyring, String>,
}

/// At each SIGHUP, the deny list and the keyring read again; one that
/// cannot be read leaves what is held, and says why. Calls under way keep
/// the keys they began with; what the old keys sealed opens while the new
/// ring holds them.
async fn reread_at_sighup(reread: Reread) {
    let hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup());
    let Ok(mut hangup) = hangup else {
        return;
    };
    while hangup.recv().await.is_some() {
        match reread.deny.reload() {
            Some(Ok((count, skipped))) => {
                for line in skipped {
                    log::warn!(target: "nexus_mcp", "SIGHUP: {line}; skipped");
                }
                log::info!(target: "nexus_mcp", "SIGHUP: the deny list names {count} people")
            }
            Some(Err(why)) => log::warn!(target: "nexus_mcp", "SIGHUP: {why}; the list held stays"),
            None => {}
        }
        let ring = (reread.keyring)().and_then(|ring| reread.server.rekey(&ring).map(|()| ring));
        match ring {
            Ok(ring) => {
                if let Some(login) = &reread.login {
                    login.rekey(ring.entries());
                }
                log::info!(target: "nexus_mcp", "SIGHUP: the keyring holds {}", ring.kids());
            }
            Err(why) => log::warn!(target: "nexus_mcp", "SIGHUP: {why}; the keyring held stays"),
        }
    }
}

/// How long a connection taken just before SIGTERM has to send its request
/// before idle connections are closed.
const SETTLE: std::time::Duration = std::time::Duration::from_millis(500);

/// Serves until SIGTERM, then takes no new connection, answers the calls
/// under way and stops.
pub(crate) async fn run(
    site: Site,
    gate: Arc<Gate>,
    server: NexusServer,
    login: Option<Arc<Login>>,
    keyring: fn() -> Result<Keyring, String>,
) -> Result<(), String> {
    let calls = server.calls();
    if site.metrics_listen.is_some() {
        crate::metrics::enable();
    }
    match gate.issuer.warm().await {
        Ok(keys) => {
            log::info!(target: "nexus_mcp", "the issuer {} publishes {keys} keys", gate.issuer);
            let metadata = gate.issuer.metadata().unwrap_or_default();
            for line in check::scopes_not_offered(&gate.scopes, &metadata) {
                log::warn!(target: "nexus_mcp", "{line}: a note, not a refusal (some issuers list only OpenID scopes); a token without it is refused 403");
            }
        }
        Err(why) => log::warn!(target: "nexus_mcp", "{why}: every call answers 503 until it can"),
    }
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_allowed_hosts(site.hosts.clone())
        .with_allowed_origins(site.origins.clone())
        .enforce_origin_validation()
        .with_max_request_body_bytes(MAX_BODY);
    let sessions = Arc::new(NeverSessionManager::default());
    let ready = Arc::new(Readiness::new(Arc::clone(&gate.issuer), server.clone()));
    let rereads = Reread {
        deny: Arc::clone(&site.deny),
        server: server.clone(),
        login: login.clone(),
        keyring,
    };
    let mcp = StreamableHttpService::new(move || Ok(server.clone()), sessions, config);
    let metadata = {
        let gate = Arc::clone(&gate);
        move || async move { axum::Json(gate.metadata()) }
    };
    // The metadata's path-inserted home (RFC 9728 §3.1): `/mcp` → `/.well-known/…/mcp`.
    let path = site.path.trim_end_matches('/').to_owned();
    let door = Arc::new(Door {
        gate: Arc::clone(&gate),
        origins: (site.origins.iter())
            .filter_map(|o| url::Url::parse(o).ok().map(|u| u.origin()))
            .collect(),
        public: site.public.clone(),
        told: Told::default(),
        deny: Arc::clone(&site.deny),
        said_https: Default::default(),
    });
    tokio::spawn(reread_at_sighup(rereads));
    let router = Router::new()
        .route_service(&site.path, mcp)
        .route_layer(middleware::from_fn_with_state(door, guard))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready::readyz).with_state(ready))
        .route(
            "/.well-known/oauth-protected-resource",
            get(metadata.clone()),
        )
        .route(
            &format!("/.well-known/oauth-protected-resource{path}"),
            get(metadata),
        );
    let router = match login {
        Some(login) => router.merge(Login::routes(login)),
        None => router,
    };
    let listener = tokio::net::TcpListener::bind(&site.listen)
        .await
        .map_err(|e| format!("--listen {}: {e}", site.listen))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    if let Some(address) = &site.metrics_listen {
        let metrics = tokio::net::TcpListener::bind(address).await;
        let metrics = metrics.map_err(|e| format!("--metrics-listen {address}: {e}"))?;
        let at = metrics.local_addr().map_err(|e| e.to_string())?;
        log::info!(target: "nexus_mcp", "metrics at http://{at}/metrics");
        if !at.ip().is_loopback() {
            log::warn!(target: "nexus_mcp", "--metrics-listen {at} is not a loopback address, and /metrics asks no token: anyone who reaches it reads this server's counts; listen where only the scraper reaches");
        }
        tokio::spawn(crate::metrics::serve(metrics));
    }
    log::info!(target: "nexus_mcp", "listening on {bound}: MCP at {}", gate.resource);
    // SIGTERM: the listener takes what the kernel queued and closes (a new
    // connection is refused, and a load balancer passes it to another
    // replica); what was accepted is answered as usual. After SETTLE (for a
    // connection just taken to send its request), the calls under way have
    // GRACE, a call still held then (a wait for consent) GRACE more before
    // it is answered as abandoned, and the server stops.
    let (close, closed) = tokio::sync::watch::channel(false);
    let listener = closing::Closing::new(listener, closed).map_err(|e| e.to_string())?;
    let stopping = async move {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
        if let Ok(terminate) = terminate.as_mut() {
            terminate.recv().await;
        }
        log::info!(target: "nexus_mcp", "SIGTERM: no new connection; answering the calls under way, then stopping");
        close.send_replace(true);
        tokio::time::sleep(SETTLE).await;
        let _ = tokio::time::timeout(crate::calls::GRACE, calls.finished()).await;
        calls.stop();
        calls.finished().await;
    };
    axum::serve(listener, router)
        .with_graceful_shutdown(stopping)
        .await
        .map_err(|e| format!("the HTTP server stopped: {e}"))
}

/// What stands before rmcp: the site's `Host` and `Origin` rules, the
/// bearer check, and what their refusals tell the operator.
struct Door {
    gate: Arc<Gate>,
    public: url::Url,
    origins: Vec<url::Origin>,
    told: Told,
    deny: Arc<deny::DenyList>,
    /// Whether a proxy's `https` beside an `http` public URL was said.
    said_https: std::sync::atomic::AtomicBool,
}

/// Every MCP request passes here first: read whole (no answer then closes
/// its connection), a `Host` naming the public URL's authority (its port
/// included) and an allowed `Origin` if any, then no verified person, no
/// rmcp. A 2025 client's `initialize` is answered with the session id its
/// [`Handshake`] gives, if any; no session is kept.
async fn guard(State(door): State<Arc<Door>>, request: Request, next: Next) -> Response {
    let said = told::asked(request.headers());
    let mut request = match closing::read_whole(request, MAX_BODY).await {
        Ok(request) => request,
        Err(status) => return door.before_mcp(status, &said).into_response(),
    };
    door.proxied(request.headers());
    if let Err((reason, why)) = door.site(request.headers()) {
        crate::metrics::refused(reason);
        door.told.warn(reason, &format!("refused a request: {why}"));
        return (StatusCode::FORBIDDEN, why).into_response();
    }
    let gate = &door.gate;
    let admitted = gate.admit(request.headers(), request.uri().query()).await;
    let principal = match admitted {
        Ok(principal) => principal,
        Err(refusal) => {
            door.tell(&refusal, request.headers());
            return gate.answer(refusal).into_response();
        }
    };
    if principal
        .person()
        .is_some_and(|person| door.deny.denies(person))
    {
        crate::metrics::refused("denied");
        let who = principal.who().unwrap_or_default();
        door.told.warn(
            &format!("denied {who}"),
            &format!("refused who={who}: --deny-file names them"),
        );
        let why = "this server's operator has denied this person access";
        let body = serde_json::json!({"error": "access_denied", "error_description": why});
        return (StatusCode::FORBIDDEN, axum::Json(body)).into_response();
    }
    if request.method() == Method::DELETE {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    let handshake = Handshake::default();
    request.extensions_mut().insert(principal);
    request.extensions_mut().insert(handshake.clone());
    let mut response = next.run(request).await;
    if response.status().is_client_error() {
        // rmcp's own refusals (a version or header the body disagrees with,
        // a body that is no JSON-RPC): said with what was sent.
        door.before_mcp(response.status(), &said);
    }
    if let Some(id) = handshake.session_id() {
        response.headers_mut().insert(SESSION_ID, id);
    }
    response
}
