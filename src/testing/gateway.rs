//! [`FakeGateway`]: the Gateway's whole HTTP contract, in process, on loopback.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use serde_json::{Map, Value, json};

use super::server::{HttpServer, RecordedRequest, Reply, percent_decode};
use crate::date::{format_http_date, format_rfc3339};

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
    /// `GET /fake/authorize`: the fake consent page behind `auth_url`.
    Authorize,
    /// Anything else (answered 404).
    Unknown,
}

impl Route {
    fn of(method: &str, path: &str) -> (Route, Option<String>) {
        let id = |prefix: &str| path.strip_prefix(prefix).map(|s| percent_decode(s, false));
        match method {
            "GET" if path == "/health" => (Route::Health, None),
            "GET" if path == "/v1/resolve" => (Route::Resolve, None),
            "GET" if path == "/fake/authorize" => (Route::Authorize, None),
            "POST" if path == "/v1/request-connection" => (Route::RequestConnection, None),
            "GET" if path.starts_with("/v1/check-connection/") => {
                (Route::CheckConnection, id("/v1/check-connection/"))
            }
            "GET" if path.starts_with("/v1/token/") => (Route::Token, id("/v1/token/")),
            "POST" if path.starts_with("/v1/refresh/") => (Route::Refresh, id("/v1/refresh/")),
            "DELETE" if path.starts_with("/v1/connections/") => {
                (Route::Revoke, id("/v1/connections/"))
            }
            _ => (Route::Unknown, None),
        }
    }
}

/// A misbehaviour to script with [`FakeGateway::push_fault`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Answer this status and body instead of the real answer.
    Status {
        /// The HTTP status.
        status: u16,
        /// `Content-Type`, if any.
        content_type: Option<String>,
        /// The body, possibly empty.
        body: String,
        /// A `Retry-After` header value, if any.
        retry_after: Option<String>,
    },
    /// Wait this long, then answer normally.
    Delay(Duration),
    /// Close the connection without answering.
    Close,
    /// Accept the request and never answer.
    Hang,
    /// Answer 200 with a body that is not JSON.
    NotJson,
    /// Answer 200 with a JSON body of this many bytes.
    Oversized(usize),
    /// Answer 200 with a `Content-Length` of 1000, send 10 bytes, then stall.
    StalledBody,
    /// Answer 200 with a `Content-Length` of 1000, send 10 bytes, then close.
    TruncatedBody,
    /// Answer bytes that are not HTTP, then close.
    Garbage,
}

impl Fault {
    /// A JSON error answer `{"error":"injected_fault", …}` with this status.
    pub fn status(status: u16) -> Fault {
        Fault::Status {
            status,
            content_type: Some("application/json".into()),
            body: format!(r#"{{"error":"injected_fault","message":"injected HTTP {status}"}}"#),
            retry_after: None,
        }
    }

    /// An answer with exactly this status, content type and body.
    pub fn body(status: u16, content_type: Option<&str>, body: &str) -> Fault {
        Fault::Status {
            status,
            content_type: content_type.map(str::to_owned),
            body: body.to_owned(),
            retry_after: None,
        }
    }

    /// The same status fault with a `Retry-After` header naming the
    /// instant `at` as an HTTP date.
    pub fn with_retry_after_date(self, at: SystemTime) -> Fault {
        let secs = match at.duration_since(UNIX_EPOCH) {
            Ok(after) => after.as_secs() as i64,
            Err(before) => -(before.duration().as_secs() as i64),
        };
        self.with_retry_after(&format_http_date(secs))
    }

    /// The same status fault with a `Retry-After` header.
    pub fn with_retry_after(self, value: &str) -> Fault {
        match self {
            Fault::Status {
                status,
                content_type,
                body,
                ..
            } => Fault::Status {
                status,
                content_type,
                body,
                retry_after: Some(value.to_owned()),
            },
            other => other,
        }
    }
}

/// A connection for the lifecycle endpoints (check, token, refresh, revoke).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeConnection {
    /// `pending`, `active`, `failed`, `revoked`, …
    pub status: String,
    /// The provider it connects to.
    pub provider_name: String,
    /// The token `/v1/token/{id}` returns; `/v1/refresh/{id}` rotates it.
    pub access_token: String,
    /// While `pending`: answer `check-connection` with `pending` this many
    /// more times, then turn `active`; `u32::MAX` stays pending.
    pub pending_polls: u32,
    /// Set: revocation at the provider fails with this message.
    pub provider_revocation_error: Option<String>,
}

impl FakeConnection {
    /// An active connection holding `access_token`.
    pub fn active(provider_name: &str, access_token: &str) -> FakeConnection {
        FakeConnection {
            status: "active".into(),
            provider_name: provider_name.into(),
            access_token: access_token.into(),
            pending_polls: 0,
            provider_revocation_error: None,
        }
    }

    /// A pending connection that turns active after `polls` checks.
    pub fn pending(provider_name: &str, access_token: &str, polls: u32) -> FakeConnection {
        FakeConnection {
            status: "pending".into(),
            pending_polls: polls,
            ..FakeConnection::active(provider_name, access_token)
        }
    }
}

/// What `/v1/resolve` answers for one (workspace, provider).
#[derive(Debug, Clone, PartialEq)]
pub struct FakeProvider {
    strategy: Option<Value>,
    credentials: Map<String, Value>,
    /// The credential key holding the token that `rotating` changes.
    token_field: String,
    /// OAuth2 answers copy the credential keys to the top level.
    copy_to_top: bool,
    expires_in: Option<Duration>,
    rotating: bool,
    raw: Option<Value>,
}

impl FakeProvider {
    /// OAuth2 with a `bearer` token that lives an hour.
    pub fn oauth2(access_token: &str) -> FakeProvider {
        let mut credentials = Map::new();
        credentials.insert("access_token".into(), access_token.into());
        credentials.insert("token_type".into(), "bearer".into());
        FakeProvider {
            strategy: Some(json!({"type": "oauth2"})),
            credentials,
            token_field: "access_token".into(),
            copy_to_top: true,
            expires_in: Some(Duration::from_secs(3600)),
            rotating: false,
            raw: None,
        }
    }

    /// An api key sent in `header_name`, after `value_prefix` when given.
    pub fn header(header_name: &str, value_prefix: Option<&str>, api_key: &str) -> FakeProvider {
        let mut config = json!({"header_name": header_name, "credential_field": "api_key"});
        if let Some(prefix) = value_prefix {
            config["value_prefix"] = prefix.into();
        }
        FakeProvider::keyed(
            json!({"type": "header", "config": config}),
            "api_key",
            api_key,
        )
    }

    /// HTTP Basic credentials.
    pub fn basic_auth(username: &str, password: &str) -> FakeProvider {
        let mut provider = FakeProvider::keyed(json!({"type": "basic_auth"}), "username", username);
        provider
            .credentials
            .insert("password".into(), password.into());
        provider
    }

    /// An api key sent as the query parameter `param_name`.
    pub fn query_param(param_name: &str, api_key: &str) -> FakeProvider {
        let strategy = json!({"type": "query_param",
                              "config": {"param_name": param_name, "credential_field": "api_key"}});
        FakeProvider::keyed(strategy, "api_key", api_key)
    }

    /// Answers exactly `body` (with no expiry added), for contract tests.
    pub fn raw(body: Value) -> FakeProvider {
        FakeProvider {
            raw: Some(body),
            ..FakeProvider::oauth2("")
        }
    }

    fn keyed(strategy: Value, field: &str, value: &str) -> FakeProvider {
        let mut credentials = Map::new();
        credentials.insert(field.into(), value.into());
        FakeProvider {
            strategy: Some(strategy),
            credentials,
            token_field: field.into(),
            copy_to_top: false,
            expires_in: None,
            rotating: false,
            raw: None,
        }
    }

    /// The token expires this long after each resolve.
    pub fn expires_in(mut self, lifetime: Duration) -> FakeProvider {
        self.expires_in = Some(lifetime);
        self
    }

    /// The answer carries no expiry at all.
    pub fn no_expiry(mut self) -> FakeProvider {
        self.expires_in = None;
        self
    }

    /// The `n`-th token served for the pair (from 1; faulted requests do not
    /// count) is the token with `-n` appended.
    pub fn rotating(mut self) -> FakeProvider {
        self.rotating = true;
        self
    }

    fn answer(&self, serial: usize) -> Value {
        if let Some(raw) = &self.raw {
            return raw.clone();
        }
        let mut credentials = self.credentials.clone();
        if self.rotating {
            if let Some(Value::String(token)) = credentials.get_mut(&self.token_field) {
                token.push_str(&format!("-{serial}"));
            }
        }
        if let Some(lifetime) = self.expires_in {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            let at = (now + lifetime).as_secs() as i64;
            credentials.insert("expires_at".into(), format_rfc3339(at).into());
            credentials.insert("expired".into(), false.into());
        }
        let mut body = Map::new();
        if self.copy_to_top {
            for key in ["access_token", "token_type"] {
                if let Some(v) = credentials.get(key) {
                    body.insert(key.into(), v.clone());
                }
            }
        }
        if let Some(strategy) = &self.strategy {
            body.insert("strategy".into(), strategy.clone());
        }
        body.insert("credentials".into(), Value::Object(credentials));
        Value::Object(body)
    }
}

#[derive(Default)]
struct State {
    api_key: Option<String>,
    latency: Duration,
    faults: VecDeque<(Option<Route>, Fault)>,
    /// Every n-th request to the route meets the fault.
    periodic: HashMap<Route, (usize, Fault)>,
    counts: HashMap<Route, usize>,
    resolves: HashMap<(String, String), usize>,
    /// Resolve answers served per pair (faulted requests not counted).
    served: HashMap<(String, String), usize>,
    last: Option<RecordedRequest>,
    last_by_route: HashMap<Route, RecordedRequest>,
    connections: HashMap<String, FakeConnection>,
    providers: HashMap<(String, String), FakeProvider>,
    next_id: u64,
}

/// A fake Nexus Gateway: a real HTTP server on `127.0.0.1`, in process,
/// speaking the whole Gateway contract. Stops when dropped.
///
/// Register connections and providers, script faults, then assert on what
/// the Gateway received:
///
/// ```
/// use nexus_sdk::testing::{FakeConnection, FakeGateway, Fault, Route};
/// use nexus_sdk::{ConnectionStatus, NexusClient, NexusClientOptions, RetryPolicy};
///
/// let gateway = FakeGateway::start();
/// gateway.add_connection("c-1", FakeConnection::active("github", "gho_x"));
/// gateway.push_fault(Fault::status(503));
///
/// let client = NexusClient::new(NexusClientOptions {
///     retry_policy: RetryPolicy { retries: 1, ..RetryPolicy::default() },
///     ..NexusClientOptions::new(gateway.url())
/// })?;
/// assert_eq!(client.check_connection("c-1")?, ConnectionStatus::Active);
/// assert_eq!(gateway.requests(Route::CheckConnection), 2);
/// # Ok::<(), nexus_sdk::NexusError>(())
/// ```
pub struct FakeGateway {
    state: Arc<Mutex<State>>,
    server: HttpServer,
}

impl std::fmt::Debug for FakeGateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeGateway")
            .field("url", &self.server.url())
            .finish_non_exhaustive()
    }
}

impl FakeGateway {
    /// Starts a fake Gateway on a free loopback port.
    ///
    /// # Panics
    ///
    /// When no loopback port can be bound; use [`try_start`](Self::try_start) to handle that.
    pub fn start() -> FakeGateway {
        match FakeGateway::try_start() {
            Ok(gateway) => gateway,
            Err(e) => panic!("FakeGateway could not listen on 127.0.0.1: {e}"),
        }
    }

    /// Starts a fake Gateway, or says why it could not listen.
    pub fn try_start() -> std::io::Result<FakeGateway> {
        let state = Arc::new(Mutex::new(State::default()));
        let handler_state = Arc::clone(&state);
        let server = HttpServer::start(Arc::new(move |request| handle(&handler_state, request)))?;
        Ok(FakeGateway { state, server })
    }

    /// The base URL, `http://127.0.0.1:<port>`, for `NexusClientOptions::new`.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// TCP connections accepted so far: with keep-alive, far fewer than requests.
    pub fn connections(&self) -> usize {
        self.server.connections()
    }

    /// From now on, answer 401 unless `X-API-Key` is `key` (`/health` excepted).
    pub fn require_api_key(&self, key: &str) {
        self.state.lock().api_key = Some(key.to_owned());
    }

    /// Wait this long before every answer.
    pub fn set_latency(&self, latency: Duration) {
        self.state.lock().latency = latency;
    }

    /// The next request, on any route, meets `fault`. Faults queue up.
    pub fn push_fault(&self, fault: Fault) {
        self.state.lock().faults.push_back((None, fault));
    }

    /// The next `n` requests, on any route, meet `fault`.
    pub fn push_faults(&self, n: usize, fault: Fault) {
        let mut state = self.state.lock();
        for _ in 0..n {
            state.faults.push_back((None, fault.clone()));
        }
    }

    /// The next request to `route` meets `fault`.
    pub fn push_fault_for(&self, route: Route, fault: Fault) {
        self.state.lock().faults.push_back((Some(route), fault));
    }

    /// From now on, one request in `n` to `route` meets `fault`: the 1st,
    /// the `(n+1)`-th, the `(2n+1)`-th… counting every request the route has
    /// received, so that even a short test meets the fault. `n == 0` stops
    /// it. Queued faults still come first.
    pub fn fail_every(&self, route: Route, n: usize, fault: Fault) {
        let mut state = self.state.lock();
        if n == 0 {
            state.periodic.remove(&route);
        } else {
            state.periodic.insert(route, (n, fault));
        }
    }

    /// Forgets faults not yet met, periodic ones included.
    pub fn clear_faults(&self) {
        let mut state = self.state.lock();
        state.faults.clear();
        state.periodic.clear();
    }

    /// Registers (or replaces) a connection for the lifecycle endpoints.
    pub fn add_connection(&self, connection_id: &str, connection: FakeConnection) {
        self.state
            .lock()
            .connections
            .insert(connection_id.to_owned(), connection);
    }

    /// The connection as the fake holds it now.
    pub fn connection(&self, connection_id: &str) -> Option<FakeConnection> {
        self.state.lock().connections.get(connection_id).cloned()
    }

    /// Sets a connection's status (`active`, `failed`, …), which then stays
    /// until changed; false when the connection is unknown.
    pub fn set_status(&self, connection_id: &str, status: &str) -> bool {
        let mut state = self.state.lock();
        match state.connections.get_mut(connection_id) {
            Some(connection) => {
                connection.status = status.to_owned();
                connection.pending_polls = u32::MAX; // stays as set
                true
            }
            None => false,
        }
    }

    /// Registers (or replaces) what `/v1/resolve` answers for the pair.
    pub fn add_provider(&self, workspace_id: &str, provider_name: &str, provider: FakeProvider) {
        self.state.lock().providers.insert(
            (workspace_id.to_owned(), provider_name.to_owned()),
            provider,
        );
    }

    /// Removes the pair: `/v1/resolve` answers 404 for it from now on.
    pub fn remove_provider(&self, workspace_id: &str, provider_name: &str) {
        self.state
            .lock()
            .providers
            .remove(&(workspace_id.to_owned(), provider_name.to_owned()));
    }

    /// Requests received on `route`, faulted ones included.
    pub fn requests(&self, route: Route) -> usize {
        self.state.lock().counts.get(&route).copied().unwrap_or(0)
    }

    /// Requests received on every route.
    pub fn total_requests(&self) -> usize {
        self.state.lock().counts.values().sum()
    }

    /// Resolves received for one (workspace, provider), faulted ones included.
    pub fn resolves(&self, workspace_id: &str, provider_name: &str) -> usize {
        let key = (workspace_id.to_owned(), provider_name.to_owned());
        self.state.lock().resolves.get(&key).copied().unwrap_or(0)
    }

    /// The last request received, on any route.
    pub fn last_request(&self) -> Option<RecordedRequest> {
        self.state.lock().last.clone()
    }

    /// The last request received on `route`.
    pub fn last_request_to(&self, route: Route) -> Option<RecordedRequest> {
        self.state.lock().last_by_route.get(&route).cloned()
    }
}

fn json_reply(status: u16, body: &Value) -> Reply {
    Reply::Answer {
        status,
        headers: vec![("Content-Type".into(), "application/json".into())],
        body: body.to_string().into_bytes(),
    }
}

fn error_reply(status: u16, code: &str, message: &str) -> Reply {
    json_reply(status, &json!({"error": code, "message": message}))
}

/// The reply a fault makes, or `None` for a delay (which has slept, and
/// lets the real answer follow).
fn fault_reply(fault: Fault) -> Option<Reply> {
    let json_200 = |body: Vec<u8>| Reply::Answer {
        status: 200,
        headers: vec![("Content-Type".into(), "application/json".into())],
        body,
    };
    Some(match fault {
        Fault::Status {
            status,
            content_type,
            body,
            retry_after,
        } => {
            let mut headers = Vec::new();
            if let Some(content_type) = content_type {
                headers.push(("Content-Type".into(), content_type));
            }
            if let Some(retry_after) = retry_after {
                headers.push(("Retry-After".into(), retry_after));
            }
            Reply::Answer {
                status,
                headers,
                body: body.into_bytes(),
            }
        }
        Fault::Delay(delay) => {
            thread::sleep(delay);
            return None;
        }
        Fault::Close => Reply::Close,
        Fault::Hang => Reply::Hang,
        Fault::NotJson => Reply::Answer {
            status: 200,
            headers: vec![("Content-Type".into(), "text/html".into())],
            body: b"<html>not json</html>".to_vec(),
        },
        Fault::Oversized(size) => {
            let pad = "x".repeat(size.saturating_sub(10));
            json_200(format!(r#"{{"pad":"{pad}"}}"#).into_bytes())
        }
        Fault::StalledBody | Fault::TruncatedBody => Reply::Partial {
            content_length: 1000,
            sent: br#"{"status":"#.to_vec(),
            stall: fault == Fault::StalledBody,
        },
        Fault::Garbage => {
            Reply::Raw(b"SSH-2.0-OpenSSH_9.6\r\n\x00\x01\x02garbage\r\n\r\n".to_vec())
        }
    })
}

fn handle(state: &Mutex<State>, request: RecordedRequest) -> Reply {
    let (route, id) = Route::of(&request.method, &request.path);
    let (fault, latency) = {
        let mut state = state.lock();
        *state.counts.entry(route).or_default() += 1;
        if route == Route::Resolve {
            let key = (
                request.query_param("workspace_id").unwrap_or_default(),
                request.query_param("provider_name").unwrap_or_default(),
            );
            *state.resolves.entry(key).or_default() += 1;
        }
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
    };
    if !latency.is_zero() {
        thread::sleep(latency);
    }
    if let Some(reply) = fault.and_then(fault_reply) {
        return reply;
    }
    let mut state = state.lock();
    if let Some(key) = &state.api_key {
        let exempt = matches!(route, Route::Health | Route::Authorize);
        if !exempt && request.header("x-api-key") != Some(key.as_str()) {
            return error_reply(401, "unauthorized", "missing or invalid API key");
        }
    }
    match (route, id) {
        (Route::Health, _) => json_reply(200, &json!({"status": "ok"})),
        (Route::RequestConnection, _) => request_connection(&mut state, &request),
        (Route::Authorize, _) => authorize(&mut state, &request),
        (Route::Resolve, _) => resolve(&mut state, &request),
        (Route::Unknown, _) | (_, None) => error_reply(404, "not_found", "no such route"),
        (route, Some(id)) => connection_route(&mut state, route, &id),
    }
}

fn request_connection(state: &mut State, request: &RecordedRequest) -> Reply {
    let Ok(body) = serde_json::from_slice::<Value>(&request.body) else {
        return error_reply(400, "invalid_json", "body is not JSON");
    };
    let field = |k: &str| body.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    let (user_id, provider_name) = (field("user_id"), field("provider_name"));
    if user_id.is_empty() || provider_name.is_empty() {
        return error_reply(
            400,
            "missing_fields",
            "user_id and provider_name are required",
        );
    }
    state.next_id += 1;
    let serial = state.next_id;
    let connection_id = format!("00000000-0000-4000-8000-{serial:012x}");
    let token = format!("fake-{provider_name}-token-{serial}");
    state.connections.insert(
        connection_id.clone(),
        FakeConnection::pending(&provider_name, &token, u32::MAX),
    );
    let host = request.header("host").unwrap_or("127.0.0.1");
    let state_param = format!("state-{serial}");
    json_reply(
        200,
        &json!({
            "authUrl": format!("http://{host}/fake/authorize?connection_id={connection_id}&state={state_param}"),
            "connection_id": connection_id,
            "state": state_param,
            "scopes": body.get("scopes").cloned().unwrap_or(Value::Null),
            "provider_id": "",
        }),
    )
}

/// The consent page: visiting `auth_url` makes the connection active.
fn authorize(state: &mut State, request: &RecordedRequest) -> Reply {
    let id = request.query_param("connection_id").unwrap_or_default();
    match state.connections.get_mut(&id) {
        Some(connection) => {
            connection.status = "active".into();
            connection.pending_polls = 0;
            Reply::Answer {
                status: 200,
                headers: vec![("Content-Type".into(), "text/plain".into())],
                body: b"Connected. You can close this window.".to_vec(),
            }
        }
        None => error_reply(404, "connection_not_found", "no such connection"),
    }
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
    let key = (workspace, provider);
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
        fake.answer(*serial)
    };
    json_reply(200, &answer)
}

fn token_object(connection: &FakeConnection) -> Value {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let expires_at = format_rfc3339(now.as_secs() as i64 + 3600);
    json!({
        "access_token": connection.access_token,
        "token_type": "bearer",
        "expiry": expires_at,
        "strategy": {"type": "oauth2"},
        "credentials": {
            "access_token": connection.access_token,
            "token_type": "bearer",
            "expires_in": 3600,
            "scope": "repo",
            "expires_at": expires_at,
            "expired": false,
        },
    })
}

fn connection_route(state: &mut State, route: Route, id: &str) -> Reply {
    let Some(connection) = state.connections.get_mut(id) else {
        return error_reply(404, "connection_not_found", "no such connection");
    };
    match route {
        Route::CheckConnection => {
            if connection.status == "pending" && connection.pending_polls != u32::MAX {
                if connection.pending_polls == 0 {
                    connection.status = "active".into();
                } else {
                    connection.pending_polls -= 1;
                }
            }
            json_reply(200, &json!({"status": connection.status}))
        }
        Route::Token | Route::Refresh if connection.status == "revoked" => {
            error_reply(410, "connection_revoked", "Connection has been revoked.")
        }
        Route::Token | Route::Refresh if connection.status != "active" => {
            error_reply(400, "connection_not_active", "connection is not active")
        }
        Route::Token => json_reply(200, &token_object(connection)),
        Route::Refresh => {
            connection.access_token = rotate(&connection.access_token);
            json_reply(200, &token_object(connection))
        }
        Route::Revoke => {
            let already_revoked = connection.status == "revoked";
            connection.status = "revoked".into();
            let error = connection.provider_revocation_error.clone();
            json_reply(
                200,
                &json!({
                    "connection_id": id,
                    "provider_name": connection.provider_name,
                    "status": "revoked",
                    "revoked_at": format_rfc3339(
                        SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() as i64),
                    "already_revoked": already_revoked,
                    "token_deleted": !already_revoked,
                    "sessions_closed": 0,
                    "provider_revoked": !already_revoked && error.is_none(),
                    "provider_revocation_error": error,
                }),
            )
        }
        _ => error_reply(404, "not_found", "no such route"),
    }
}

/// `tok` → `tok-r1`, `tok-r1` → `tok-r2`.
fn rotate(token: &str) -> String {
    match token.rsplit_once("-r") {
        Some((base, n)) if n.parse::<u32>().is_ok() => {
            format!("{base}-r{}", n.parse::<u32>().unwrap_or(0) + 1)
        }
        _ => format!("{token}-r1"),
    }
}
