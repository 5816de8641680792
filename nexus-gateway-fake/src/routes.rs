//! The fake Gateway's request handling: faults first, then the api key
//! check, the rate limiter and the Broker's state, then one function per
//! route. The answers follow the real Gateway as measured (see the crate's
//! `docs/testing.md`).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use parking_lot::Mutex;
use serde_json::{Value, json};

use crate::broker::{Broker, BrokerAnswer, RateLimit, broker_down, reserialise, through_gateway};
use crate::clock::TestClock;
use crate::control;
use crate::fault::{Fault, fault_reply};
use crate::hold::{Hold, Holds};
use crate::lifecycle;
use crate::lifecycle::is_uuid;
use crate::provider::{FakeConnection, FakeProvider};
use crate::request::{RecordedRequest, percent_decode};
use crate::server::Reply;

/// The Gateway's own wait for its Broker before it answers 502.
pub(crate) const GATEWAY_BROKER_TIMEOUT: Duration = Duration::from_secs(30);

/// What a fake Gateway holds: its scripted behaviour, what it received, and
/// the connections and providers it serves.
pub(crate) struct State {
    pub(crate) api_key: Option<String>,
    pub(crate) latency: Duration,
    pub(crate) faults: VecDeque<(Option<Route>, Fault)>,
    /// Every n-th request to the route meets the fault.
    pub(crate) periodic: HashMap<Route, (usize, Fault)>,
    pub(crate) counts: HashMap<Route, usize>,
    pub(crate) resolves: HashMap<(String, String), usize>,
    /// Resolve answers served per pair (faulted requests not counted).
    pub(crate) served: HashMap<(String, String), usize>,
    pub(crate) last: Option<RecordedRequest>,
    pub(crate) last_by_route: HashMap<Route, RecordedRequest>,
    pub(crate) connections: HashMap<String, FakeConnection>,
    pub(crate) providers: HashMap<(String, String), FakeProvider>,
    /// Provider profiles by name: how many the Broker holds under that name.
    pub(crate) registry: HashMap<String, usize>,
    /// `return_url` prefixes the Broker refuses.
    pub(crate) refused_return_urls: Vec<String>,
    pub(crate) next_id: u64,
    /// `check-connection` reports each connection's own status (not the real Gateway).
    pub(crate) report_status: bool,
    /// Token, refresh and revoke errors carry no body (Gateways before 0.4.0).
    pub(crate) bodyless_errors: bool,
    pub(crate) broker: Broker,
    /// What the Broker answers on a route, scripted: beats `broker`.
    pub(crate) broker_script: HashMap<Route, BrokerAnswer>,
    pub(crate) broker_timeout: Duration,
    pub(crate) rate_limit: Option<RateLimit>,
    pub(crate) holds: Arc<Holds>,
    /// Every request received, oldest first, up to [`LOG_LIMIT`].
    pub(crate) log: VecDeque<RecordedRequest>,
    /// Holds taken through the control API, until `/_fake/release`.
    pub(crate) control_holds: Vec<Hold>,
    /// The clock expiries are counted on: a test's, else the system's.
    pub(crate) clock: Option<TestClock>,
}

/// The most requests the log keeps.
const LOG_LIMIT: usize = 10_000;

impl Default for State {
    fn default() -> Self {
        State {
            api_key: None,
            latency: Duration::ZERO,
            faults: VecDeque::new(),
            periodic: HashMap::new(),
            counts: HashMap::new(),
            resolves: HashMap::new(),
            served: HashMap::new(),
            last: None,
            last_by_route: HashMap::new(),
            connections: HashMap::new(),
            providers: HashMap::new(),
            registry: HashMap::new(),
            refused_return_urls: Vec::new(),
            next_id: 0,
            report_status: false,
            bodyless_errors: false,
            broker: Broker::Healthy,
            broker_script: HashMap::new(),
            broker_timeout: GATEWAY_BROKER_TIMEOUT,
            rate_limit: None,
            holds: Arc::default(),
            log: VecDeque::new(),
            control_holds: Vec::new(),
            clock: None,
        }
    }
}

/// A Gateway route, for counting requests and aiming faults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    /// `GET /health`
    Health,
    /// `POST /v1/request-connection`
    RequestConnection,
    /// `GET /v1/check-connection/{id}`
    CheckConnection,
    /// `GET /v1/token/{id}`
    Token,
    /// `POST /v1/refresh/{id}`
    Refresh,
    /// `DELETE /v1/connections/{id}`
    Revoke,
    /// `GET /v1/resolve`
    Resolve,
    /// `GET /v1/providers/metadata`
    ProvidersMetadata,
    /// `GET /fake/authorize`: the fake consent page behind `auth_url`.
    Authorize,
    /// Anything else: 404 for an unknown path, 405 for a known path with
    /// another method.
    Unknown,
}

impl Route {
    /// The route a path names, its id, and the method it takes.
    fn of_path(path: &str) -> Option<(Route, &'static str, Option<String>)> {
        let id = |prefix: &str| path.strip_prefix(prefix).map(|s| percent_decode(s, false));
        Some(match path {
            "/health" => (Route::Health, "GET", None),
            "/v1/resolve" => (Route::Resolve, "GET", None),
            "/v1/providers/metadata" => (Route::ProvidersMetadata, "GET", None),
            "/fake/authorize" => (Route::Authorize, "GET", None),
            "/v1/request-connection" => (Route::RequestConnection, "POST", None),
            p if p.starts_with("/v1/check-connection/") => {
                (Route::CheckConnection, "GET", id("/v1/check-connection/"))
            }
            p if p.starts_with("/v1/token/") => (Route::Token, "GET", id("/v1/token/")),
            p if p.starts_with("/v1/refresh/") => (Route::Refresh, "POST", id("/v1/refresh/")),
            p if p.starts_with("/v1/connections/") => {
                (Route::Revoke, "DELETE", id("/v1/connections/"))
            }
            _ => return None,
        })
    }
}

/// A JSON answer, encoded as Go's `encoding/json` does (`<`, `>` and `&`
/// escaped, so an `authUrl`'s `&` arrives as `\u0026`).
pub(crate) fn json_reply(status: u16, body: &Value) -> Reply {
    let text = body
        .to_string()
        .replace('&', "\\u0026")
        .replace('<', "\\u003c")
        .replace('>', "\\u003e");
    Reply::Answer {
        status,
        headers: vec![("Content-Type".into(), "application/json".into())],
        body: text.into_bytes(),
    }
}

/// The Gateway's own JSON error.
pub(crate) fn error_reply(status: u16, code: &str, message: &str) -> Reply {
    json_reply(status, &json!({"error": code, "message": message}))
}

/// A plain-text answer (the router's 404, check-connection's 502, the rate limiter).
pub(crate) fn text_reply(status: u16, text: &str) -> Reply {
    Reply::Answer {
        status,
        headers: vec![("Content-Type".into(), "text/plain; charset=utf-8".into())],
        body: text.as_bytes().to_vec(),
    }
}

pub(crate) fn handle(state: &Mutex<State>, request: RecordedRequest) -> Reply {
    if request.path.starts_with(control::PREFIX) {
        return control::handle(state, &request);
    }
    let known = Route::of_path(&request.path);
    let (route, id) = match &known {
        Some((route, method, id)) if *method == request.method => (*route, id.clone()),
        _ => (Route::Unknown, None),
    };
    let (fault, latency) = record(&mut state.lock(), route, &request);
    if !latency.is_zero() {
        thread::sleep(latency);
    }
    let holds = Arc::clone(&state.lock().holds);
    holds.wait(Some(route));
    if let Some(reply) = fault.and_then(fault_reply) {
        return reply;
    }
    let mut guard = state.lock();
    if let Some(key) = &guard.api_key {
        let exempt = matches!(route, Route::Health | Route::Authorize);
        if !exempt && request.header("x-api-key") != Some(key.as_str()) {
            return error_reply(401, "unauthorized", "missing or invalid API key");
        }
    }
    if let Some(reply) = rate_limited(&mut guard, route, &request) {
        return reply;
    }
    // The Gateway checks a revoke's id itself, before any Broker call.
    if route == Route::Revoke && !id.as_deref().is_some_and(is_uuid) {
        return error_reply(400, "invalid_connection_id", "connection_id must be a UUID");
    }
    let broker = guard.broker;
    if broker == Broker::Hung && uses_broker(route) {
        let wait = guard.broker_timeout;
        drop(guard);
        thread::sleep(wait);
        guard = state.lock();
    }
    match (route, id) {
        (Route::Unknown, _) if known.is_some() => Reply::Answer {
            status: 405,
            headers: Vec::new(),
            body: Vec::new(),
        },
        (Route::Unknown, _) => text_reply(404, "404 page not found"),
        (Route::Health, _) => json_reply(200, &json!({"status": "healthy"})),
        (Route::Authorize, _) => lifecycle::authorize(&mut guard, &request),
        (Route::ProvidersMetadata, _) => providers_metadata(&guard),
        (route, _) if guard.broker_script.contains_key(&route) => {
            let answer = &guard.broker_script[&route];
            through_gateway(route, answer, guard.bodyless_errors)
                .unwrap_or_else(|| text_reply(404, "404 page not found"))
        }
        (route, _) if broker != Broker::Healthy => {
            broker_down(route, broker, guard.bodyless_errors)
        }
        (Route::RequestConnection, _) => lifecycle::request_connection(&mut guard, &request),
        (Route::Resolve, _) => resolve(&mut guard, &request),
        (Route::Revoke, id) => {
            let workspace_id = request.query_param("workspace_id");
            lifecycle::revoke(&mut guard, &id.unwrap_or_default(), workspace_id)
        }
        (route, id) => lifecycle::connection_route(&mut guard, route, &id.unwrap_or_default()),
    }
}

/// Whether the Gateway asks the Broker to answer this route.
fn uses_broker(route: Route) -> bool {
    !matches!(
        route,
        Route::Health | Route::Authorize | Route::ProvidersMetadata | Route::Unknown
    )
}

/// Counts and records the request; returns the fault it meets and the latency.
fn record(state: &mut State, route: Route, request: &RecordedRequest) -> (Option<Fault>, Duration) {
    *state.counts.entry(route).or_default() += 1;
    if route == Route::Resolve {
        let key = (
            request.query_param("workspace_id").unwrap_or_default(),
            request.query_param("provider_name").unwrap_or_default(),
        );
        *state.resolves.entry(key).or_default() += 1;
    }
    if state.log.len() == LOG_LIMIT {
        state.log.pop_front();
    }
    state.log.push_back(request.clone());
    state.last = Some(request.clone());
    state.last_by_route.insert(route, request.clone());
    let position = state
        .faults
        .iter()
        .position(|(r, _)| r.is_none_or(|r| r == route));
    let queued = position
        .and_then(|i| state.faults.remove(i))
        .map(|(_, f)| f);
    let count = state.counts.get(&route).copied().unwrap_or(0);
    let periodic = state
        .periodic
        .get(&route)
        .filter(|(n, _)| count % n == 1 % n)
        .map(|(_, f)| f.clone());
    (queued.or(periodic), state.latency)
}

/// The rate limiter's 429, when the request's window is full: `/v1/resolve`
/// per `workspace_id`; token, refresh and request-connection per client
/// (every caller of a loopback fake is the same client).
fn rate_limited(state: &mut State, route: Route, request: &RecordedRequest) -> Option<Reply> {
    let limit = state.rate_limit.as_mut()?;
    let key = match route {
        Route::Resolve => format!(
            "workspace {}",
            request.query_param("workspace_id").unwrap_or_default()
        ),
        Route::Token | Route::Refresh | Route::RequestConnection => "client".to_owned(),
        _ => return None,
    };
    let retry_after = limit.admit(key, Instant::now())?;
    Some(Reply::Answer {
        status: 429,
        headers: vec![
            ("Content-Type".into(), "text/plain; charset=utf-8".into()),
            ("Retry-After".into(), retry_after.to_string()),
        ],
        body: b"rate limit exceeded\n".to_vec(),
    })
}

fn resolve(state: &mut State, request: &RecordedRequest) -> Reply {
    let workspace = request.query_param("workspace_id").unwrap_or_default();
    let provider = request.query_param("provider_name").unwrap_or_default();
    if workspace.is_empty() || provider.is_empty() {
        return error_reply(
            400,
            "missing_fields",
            "workspace_id and provider_name are required",
        );
    }
    // Provider names match without regard to case, as the Gateway's do.
    let mut matching = state
        .providers
        .keys()
        .filter(|(ws, p)| *ws == workspace && p.eq_ignore_ascii_case(&provider));
    let key = match (matching.next(), matching.next()) {
        (Some(_), Some(_))
            if !state
                .providers
                .contains_key(&(workspace.clone(), provider.clone())) =>
        {
            return error_reply(
                409,
                "provider_ambiguous",
                "provider name matches several providers",
            );
        }
        (Some(_), Some(_)) => (workspace, provider),
        (Some(key), None) => key.clone(),
        (None, _) => {
            let message = "no connection for that workspace and provider";
            return error_reply(404, "connection_not_found", message);
        }
    };
    let Some(fake) = state.providers.get(&key) else {
        return error_reply(
            404,
            "connection_not_found",
            "no connection for that workspace and provider",
        );
    };
    let answer = {
        let serial = state.served.entry(key.clone()).or_default();
        *serial += 1;
        let now = state
            .clock
            .as_ref()
            .map_or_else(SystemTime::now, TestClock::now);
        fake.answer(*serial, now)
    };
    match reserialise(answer) {
        Ok(answer) => json_reply(200, &answer),
        Err(reply) => reply,
    }
}

/// Every registered provider once, grouped by auth type, as the Gateway
/// lists them (the metadata is per provider, not per workspace).
fn providers_metadata(state: &State) -> Reply {
    let mut groups = serde_json::Map::new();
    for ((_, name), provider) in &state.providers {
        let (group, entry) = provider.metadata(name);
        let group = groups.entry(group).or_insert_with(|| json!({}));
        if let Some(group) = group.as_object_mut() {
            group.entry(name.clone()).or_insert(entry);
        }
    }
    json_reply(200, &Value::Object(groups))
}
