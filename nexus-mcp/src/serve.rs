//! `nexus-mcp serve`: MCP over Streamable HTTP for many people, each acting
//! for their own workspace, as stateless replicas behind any load balancer.
//! rmcp serves the protocol (every version it negotiates, with no session
//! a replica must remember); in front of it, every request's bearer token
//! is checked ([`bearer`]) and the person it names rides in the
//! request's extensions to the handler, beside its [`Handshake`](crate::handshake::Handshake). Beside
//! it: the protected-resource metadata (RFC 9728), `/healthz` (liveness)
//! and `/readyz` (readiness).

//!
//! The wing's rooms:
//! - [`args`]: the flags, checked into the [`Site`] and the [`Gate`];
//!   [`actions`]: the operator's commands as the command line names them
//!   (`serve revoke`, `serve sessions`, `serve client add` …), which
//!   [`command`] does;
//! - [`admit`]: who may sign in (`--allow-sign-in`);
//! - [`store`]: what replicas share, refresh-token families (`--store`);
//! - [`revoked`]: what is revoked, as each replica holds it;
//! - [`signals`]: the identity provider switching a person off (Global
//!   Token Revocation, Shared Signals, SCIM), a folder of its own, its map
//!   in `signals.rs`;
//! - [`door`]: what every MCP request passes first (`Host`, `Origin`, the
//!   bearer check, the deny list);
//! - [`direct`]: the stateless 2026-07-28 `tools/call` answered without
//!   rmcp's service (the one place this project answers JSON-RPC itself);
//! - [`jws`]: one check for every signed token it reads, each kind's
//!   differences named;
//! - [`bearer`]: the OAuth resource server: a token checked, its person;
//! - [`boundary`]: a bounded agent's calls held to its token's scopes at
//!   the door (403 `insufficient_scope`, for a host to step up);
//! - [`remembered`]: the tokens it verified lately, by their hash;
//! - [`issuer`]: the issuer's metadata and keys, read once for everyone;
//! - [`introspect`]: opaque tokens, asked about at the issuer;
//! - [`deny`]: `--deny-file`'s people;
//! - [`login`]: the connect page, and the sign-in's one callback;
//! - [`approve`]: the approval page, where a call a policy asks is
//!   approved or denied;
//! - [`signin`]: the sign-in at the issuer, knowing neither flow it serves;
//! - [`reads`]: what a sign-in reads of the person, and the scopes it asks;
//! - [`grant`]: what the hosts' authorization server grants (a code, an
//!   access token, a refresh token), which the bearer check opens too;
//! - [`oauth`]: the hosts' authorization server (`--oauth-proxy`), a
//!   folder of its own, its map in `oauth.rs`;
//! - [`page`]: a plain page, escaping, a cookie read, a random value;
//! - [`refusal`]: one OAuth refusal in JSON, as every endpoint answers it;
//! - [`seen`]: every HTTP request's id (on its refusal and its lines) and,
//!   traced, each sign-in and authorization step's span;
//! - [`ready`]: readiness, `/readyz`;
//! - [`check`](mod@check): `serve --check`;
//! - [`command`]: `serve revoke`, for the operator;
//! - [`told`]: what a refusal tells the operator, once per reason a while;
//! - [`closing`]: a listener that closes at SIGTERM, a body read whole.
//!
//! This file holds [`run`], which builds the router from them and serves
//! until SIGTERM, and the rereading at SIGHUP.

mod actions;
mod admit;
mod approve;
mod args;
mod bearer;
mod boundary;
pub(crate) mod check;
mod closing;
pub(crate) mod command;
mod deny;
mod direct;
mod door;
pub(crate) mod grant;
mod introspect;
mod issuer;
pub(crate) mod jws;
mod login;
mod oauth;
mod page;
pub(crate) mod reads;
mod ready;
mod refusal;
mod remembered;
mod revoked;
mod seen;
mod signals;
pub(crate) mod signin;
mod store;
mod told;

pub(crate) use self::args::{ServeArgs, Site, Wing};

use std::sync::Arc;

use axum::Router;
use axum::middleware;
use axum::routing::get;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};

use self::args::Page;
pub(crate) use self::bearer::{Gate, Hosts};
use self::door::{Door, guard};
use self::ready::Readiness;
use crate::keys::{HeldKeys, Keys};
use crate::server::NexusServer;

/// `serve --check`: one line per failing check on stderr (`unread`, the
/// keyring's and the policy file's, first), and whether all passed.
pub(crate) async fn check(wing: Wing, server: &NexusServer, unread: Vec<String>) -> bool {
    let Wing {
        site,
        gate,
        login_client: login,
        ..
    } = wing;
    let gate = &gate;
    let mut failed = unread;
    let store = match &gate.hosts {
        Hosts::Proxy(front) => Some(&*front.store),
        Hosts::Issuer => None,
    };
    let signs_in = login.is_some();
    let (failures, mut notes) = check::failures(gate, login, server, store).await;
    failed.extend(failures);
    failed.extend(check::clients_open(&gate.hosts, &site.check_client_ids));
    notes.extend(site.admission.notes());
    failed.extend(check::anyone_signs_in(
        gate.issuer.url(),
        signs_in,
        &site.admission,
    ));
    for line in failed.iter().chain(&notes) {
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
    gate: Arc<Gate>,
    keys: Arc<HeldKeys>,
    policy: Option<Arc<crate::policy::Held>>,
}

/// At each SIGHUP, the deny list, the keyring and `--policy` read again; one that
/// cannot be read leaves what is held, and says why. The keys are swapped
/// whole: a step under way keeps the keys it began with; what the old
/// keys sealed opens while the new ring holds them.
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
                log::info!(target: "nexus_mcp", "SIGHUP: the deny list names {count} people and clients");
                // What it withdraws holds at the next call, not in 30 s.
                reread.gate.forget();
            }
            Some(Err(why)) => log::warn!(target: "nexus_mcp", "SIGHUP: {why}; the list held stays"),
            None => {}
        }
        match Keys::read() {
            Ok(keys) => {
                let kids = keys.kids.clone();
                reread.keys.swap(keys);
                log::info!(target: "nexus_mcp", "SIGHUP: the keyring holds {kids}");
            }
            Err(why) => log::warn!(target: "nexus_mcp", "SIGHUP: {why}; the keyring held stays"),
        }
        match reread.policy.as_ref().map(|held| held.reread()) {
            Some(Ok(count)) => {
                log::info!(target: "nexus_mcp", "SIGHUP: --policy holds {count} policies")
            }
            Some(Err(why)) => {
                log::warn!(target: "nexus_mcp", "SIGHUP: {}; the policies held stay", nexus_sdk::one_line(&why))
            }
            None => {}
        }
    }
}

/// How long a connection taken just before SIGTERM has to send its request
/// before idle connections are closed.
const SETTLE: std::time::Duration = std::time::Duration::from_millis(500);

/// Serves until SIGTERM, then takes no new connection, answers the calls
/// under way and stops.
pub(crate) async fn run(
    wing: Wing,
    server: NexusServer,
    keys: Arc<HeldKeys>,
) -> Result<(), String> {
    let Wing {
        site, gate, page, ..
    } = wing;
    let gate = Arc::new(gate);
    let calls = server.calls();
    if site.metrics_listen.is_some() {
        crate::metrics::enable();
    }
    warm(&gate).await;
    let rereads = Reread {
        deny: Arc::clone(&site.deny),
        gate: Arc::clone(&gate),
        keys,
        policy: server.policy(),
    };
    tokio::spawn(reread_at_sighup(rereads));
    let front = match &gate.hosts {
        Hosts::Proxy(front) => Some(Arc::clone(front)),
        Hosts::Issuer => None,
    };
    if let Some(front) = &front {
        let keep = front.sign_in_life.max(grant::ACCESS_LIFE);
        let served = store::Served {
            issuer: gate.issuer.url().to_owned(),
            subject_claim: gate.subject_claim.clone(),
        };
        // Read once before listening: a replica knows what is revoked, and
        // since when the store remembers, before it checks its first token.
        if front.store.read(keep).await.is_err() {
            log::warn!(target: "nexus_mcp", "the store does not answer at the start: until it does, this replica refuses every token it issued and is not ready (/readyz)");
        }
        tokio::spawn(Arc::clone(&front.store).watch(keep, served));
    }
    let receivers = front
        .as_deref()
        .map(|f| Arc::new(signals::Receivers::of(f)));
    if let Some(receivers) = &receivers {
        signals::polled(receivers);
    }
    let direct = direct::on()?;
    let router = router(&site, gate.clone(), (server, direct), page)
        .merge(front.clone().map(oauth::routes).unwrap_or_default())
        .merge(receivers.map(signals::routes).unwrap_or_default())
        .layer(middleware::from_fn(seen::seen));
    let listener = tokio::net::TcpListener::bind(&site.listen)
        .await
        .map_err(|e| format!("--listen {}: {e}", site.listen))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    if let Some(address) = &site.metrics_listen {
        serve_metrics(address).await?;
    }
    log::info!(target: "nexus_mcp", "listening on {bound}: MCP at {}", gate.resource);
    if front.is_some() {
        let login = site.login_client_id.as_deref().unwrap_or_default();
        log::info!(target: "nexus_mcp", "--oauth-proxy: the hosts' authorization server is {origin}; people sign in at {} with the login client {login:?}, whose redirect URI registered there is {origin}/connect/callback; a sign-in holds {} h (--sign-in-life); {}", gate.issuer, site.sign_in_life.as_secs() / 3600, site.store.said(), origin = site.origin);
        if let Some(front) = &front {
            log::info!(target: "nexus_mcp", "{}", front.values());
        }
        let under = site
            .path
            .trim_end_matches('/')
            .rsplit_once('/')
            .map(|(under, _)| under);
        if let Some(under) = under.filter(|under| !under.is_empty()) {
            log::warn!(target: "nexus_mcp", "--oauth-proxy: MCP is at {under}/…, but the authorization server's endpoints (/.well-known/oauth-authorization-server, /authorize, /token, /revoke, /register, /connect/…) take the root of {}: a second serve --oauth-proxy on this origin would answer at the same paths; give each deployment a host of its own", site.origin);
        }
    }
    let (close, closed) = tokio::sync::watch::channel(false);
    let listener = closing::Closing::new(listener, closed).map_err(|e| e.to_string())?;
    axum::serve(listener, router)
        .with_graceful_shutdown(stopping(close, calls))
        .await
        .map_err(|e| format!("the HTTP server stopped: {e}"))
}

/// `/metrics` served at `address` (`--metrics-listen`), and a warning
/// where it is not a loopback address.
async fn serve_metrics(address: &str) -> Result<(), String> {
    let metrics = tokio::net::TcpListener::bind(address).await;
    let metrics = metrics.map_err(|e| format!("--metrics-listen {address}: {e}"))?;
    let at = metrics.local_addr().map_err(|e| e.to_string())?;
    log::info!(target: "nexus_mcp", "metrics at http://{at}/metrics");
    if !at.ip().is_loopback() {
        log::warn!(target: "nexus_mcp", "--metrics-listen {at} is not a loopback address, and /metrics asks no token: anyone who reaches it reads this server's counts; listen where only the scraper reaches");
    }
    tokio::spawn(crate::metrics::serve(metrics));
    Ok(())
}

/// The issuer's metadata and keys read at start, and what the operator
/// should know of them: how many keys, a `--scope` it does not list, or
/// why they cannot be read (every call answers 503 until they can).
async fn warm(gate: &Gate) {
    match gate.issuer.warm().await {
        Ok(keys) => {
            log::info!(target: "nexus_mcp", "the issuer {} publishes {keys} keys", gate.issuer);
            let metadata = gate.issuer.metadata().unwrap_or_default();
            // Behind --oauth-proxy, serve grants its --scope itself.
            let proxy = matches!(gate.hosts, Hosts::Proxy(_));
            let asked = if proxy { &[][..] } else { &gate.scopes[..] };
            for line in check::scopes_not_offered(asked, &metadata) {
                log::warn!(target: "nexus_mcp", "{line}: a note, not a refusal (some issuers list only OpenID scopes); a token without it is refused 403");
            }
        }
        Err(why) => log::warn!(target: "nexus_mcp", "{why}: every call answers 503 until it can"),
    }
}

/// The routes: MCP at the public URL's path behind the [`Door`] (its
/// stateless 2026-07-28 `tools/call` answered [`direct`]ly when `direct`),
/// `/healthz`, `/readyz`, the protected-resource metadata at both its
/// homes, and the connect page's when there is one.
fn router(
    site: &Site,
    gate: Arc<Gate>,
    (server, direct): (NexusServer, bool),
    page: Option<Page>,
) -> Router {
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_allowed_hosts(site.hosts.clone())
        .with_allowed_origins(site.origins.clone())
        .enforce_origin_validation()
        .with_max_request_body_bytes(door::MAX_BODY);
    let sessions = Arc::new(NeverSessionManager::default());
    let store = match &gate.hosts {
        Hosts::Proxy(front) => Some(Arc::clone(&front.store)),
        Hosts::Issuer => None,
    };
    let ready = Readiness::new(Arc::clone(&gate.issuer), server.clone(), store);
    let ready = Arc::new(ready);
    let answers = Arc::new(direct::Answers {
        server: server.clone(),
        hosts: site.hosts.clone(),
    });
    let mcp = StreamableHttpService::new(move || Ok(server.clone()), sessions, config);
    let door = Arc::new(Door::new(Arc::clone(&gate), site));
    let metadata = move || async move { axum::Json(gate.metadata()) };
    // The metadata's path-inserted home (RFC 9728 §3.1): `/mcp` → `/.well-known/…/mcp`.
    let path = site.path.trim_end_matches('/');
    let mut router = Router::new().route_service(&site.path, mcp);
    if direct {
        router = router.route_layer(middleware::from_fn_with_state(answers, direct::direct));
    }
    let router = router
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
    let Some(page) = page else {
        return router;
    };
    let approving = approve::Approving {
        login: Arc::clone(&page.1),
        approvals: Arc::clone(&site.approvals),
        origin: site.origin.clone(),
    };
    (router.merge(login::routes(page))).merge(approve::routes(Arc::new(approving)))
}

/// Resolves at SIGTERM once the calls under way are answered: the listener
/// takes what the kernel queued and closes (`close`: a new connection is
/// refused, and a load balancer passes it to another replica); what was
/// accepted is answered as usual. After [`SETTLE`] (for a connection just
/// taken to send its request), the calls under way have `GRACE`, a call
/// still held then (a wait for consent) `GRACE` more before it is answered
/// as abandoned.
async fn stopping(close: tokio::sync::watch::Sender<bool>, calls: crate::calls::Calls) {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
    if let Ok(terminate) = terminate.as_mut() {
        terminate.recv().await;
    }
    log::info!(target: "nexus_mcp", "SIGTERM: no new connection; answering the calls under way, then stopping");
    close.send_replace(true);
    tokio::time::sleep(SETTLE).await;
    let _ = tokio::time::timeout(crate::calls::GRACE, calls.finished()).await;
    calls.stop();
    calls.finished().await;
}
