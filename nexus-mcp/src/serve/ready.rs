//! `/readyz`: whether this replica can serve a call now, for a load
//! balancer or an orchestrator to send it traffic: the issuer's keys held
//! (fetched within their limits when they are not), and the Gateway
//! answering with this server's key. `/healthz` stays liveness: the
//! process answers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;

use super::jwks::Jwks;
use crate::server::NexusServer;

/// How long an answer stands: probes, however many, ask the Gateway at
/// most once in this time.
const RECALLED: Duration = Duration::from_secs(5);

/// What `/readyz` asks, and its last answer.
pub(crate) struct Readiness {
    jwks: Arc<Jwks>,
    server: NexusServer,
    last: tokio::sync::Mutex<Option<(Instant, Result<(), String>)>>,
}

impl Readiness {
    pub(crate) fn new(jwks: Arc<Jwks>, server: NexusServer) -> Readiness {
        let last = tokio::sync::Mutex::new(None);
        Readiness { jwks, server, last }
    }

    /// Ready, or why not: the first thing missing, named.
    async fn ask(&self) -> Result<(), String> {
        let mut last = self.last.lock().await;
        if let Some((_, answer)) = last.as_ref().filter(|(at, _)| at.elapsed() < RECALLED) {
            return answer.clone();
        }
        let answer = match self.jwks.held_or_fetched().await {
            Err(why) => Err(why),
            Ok(()) => self.server.gateway_answers().await,
        };
        *last = Some((Instant::now(), answer.clone()));
        answer
    }
}

/// `GET /readyz`: 200 `ready`, or 503 with why not.
pub(crate) async fn readyz(State(ready): State<Arc<Readiness>>) -> (StatusCode, String) {
    match ready.ask().await {
        Ok(()) => (StatusCode::OK, "ready".to_owned()),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {why}")),
    }
}
