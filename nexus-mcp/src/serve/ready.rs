//! `/readyz`: whether this replica can serve a call now, for a load
//! balancer or an orchestrator to send it traffic: the issuer's keys held
//! (fetched within their limits when they are not), and the Gateway
//! answering with this server's key, and with `--oauth-proxy --store` the
//! store read once since the start (until then this replica knows nothing
//! revoked, and refuses every token it would check against the list).
//! `/healthz` stays liveness: the process answers. The answer names only
//! which is missing (`store`, `issuer` or `gateway`): the port is public, and why (the Gateway's internal URL, the
//! setting to mend) is the operator's, in the log.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;

use super::issuer::Issuer;
use super::store::Store;
use crate::server::NexusServer;

/// How long an answer stands: probes, however many, ask the Gateway at
/// most once in this time.
const RECALLED: Duration = Duration::from_secs(5);

/// What `/readyz` asks, and its last answer.
pub(crate) struct Readiness {
    jwks: Arc<Issuer>,
    server: NexusServer,
    store: Option<Arc<Store>>,
    last: tokio::sync::Mutex<Option<(Instant, Result<(), &'static str>)>>,
}

impl Readiness {
    /// Readiness asking `jwks`, `server`'s Gateway, and the `store` the
    /// proxy's tokens are checked against, if any.
    pub(crate) fn new(
        jwks: Arc<Issuer>,
        server: NexusServer,
        store: Option<Arc<Store>>,
    ) -> Readiness {
        let last = tokio::sync::Mutex::new(None);
        Readiness {
            jwks,
            server,
            store,
            last,
        }
    }

    /// Ready, or which is missing (`store`, `issuer` or `gateway`), the
    /// first one; why is said in the log each time it is asked anew.
    async fn ask(&self) -> Result<(), &'static str> {
        if self.store.as_ref().is_some_and(|store| !store.known()) {
            log::warn!(target: "nexus_mcp", "/readyz: not ready (store): the store has not been read since this replica started, so it knows nothing revoked yet");
            return Err("store");
        }
        let mut last = self.last.lock().await;
        if let Some((_, answer)) = last.as_ref().filter(|(at, _)| at.elapsed() < RECALLED) {
            return *answer;
        }
        let answer = match self.jwks.held_or_fetched().await {
            Err(why) => Err(("issuer", why)),
            Ok(()) => (self.server.gateway_answers().await)
                .map(drop)
                .map_err(|why| ("gateway", why)),
        };
        let answer = answer.map_err(|(which, why)| {
            log::warn!(target: "nexus_mcp", "/readyz: not ready ({which}): {why}");
            which
        });
        *last = Some((Instant::now(), answer));
        answer
    }
}

/// `GET /readyz`: 200 `ready`, or 503 `not ready: store`, `not ready: issuer`
/// or `not ready: gateway`.
pub(crate) async fn readyz(State(ready): State<Arc<Readiness>>) -> (StatusCode, String) {
    match ready.ask().await {
        Ok(()) => (StatusCode::OK, "ready".to_owned()),
        Err(which) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {which}"),
        ),
    }
}
