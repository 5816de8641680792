//! The fake Gateway's request handling: faults first, then the api key
//! check, then one function per route.

use std::collections::{HashMap, VecDeque};
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use serde_json::{Value, json};

use super::fault::Fault;
use super::fault::fault_reply;
use super::provider::{FakeConnection, FakeProvider};
use super::request::{RecordedRequest, percent_decode};
use super::server::Reply;
use crate::ConnectionStatus;
use crate::date::format_rfc3339;

/// What a fake Gateway holds: its scripted behaviour, what it received, and
/// the connections and providers it serves.
#[derive(Default)]
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
    pub(crate) next_id: u64,
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
    /// Anything else (answered 404).
    Unknown,
}

impl Route {
    pub(crate) fn of(method: &str, path: &str) -> (Route, Option<String>) {
        let id = |prefix: &str| path.strip_prefix(prefix).map(|s| percent_decode(s, false));
        match method {
            "GET" if path == "/health" => (Route::Health, None),
            "GET" if path == "/v1/resolve" => (Route::Resolve, None),
            "GET" if path == "/v1/providers/metadata" => (Route::ProvidersMetadata, None),
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

pub(crate) fn handle(state: &Mutex<State>, request: RecordedRequest) -> Reply {
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
        (Route::ProvidersMetadata, _) => providers_metadata(&state),
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
        FakeConnection::pending(&provider_name, &token, None),
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
            connection.status = ConnectionStatus::Active;
            connection.pending_polls = None;
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
        Route::CheckConnection => json_reply(200, &json!({"status": connection.poll().as_str()})),
        Route::Token | Route::Refresh if connection.status == ConnectionStatus::Revoked => {
            error_reply(410, "connection_revoked", "Connection has been revoked.")
        }
        Route::Token | Route::Refresh if connection.status != ConnectionStatus::Active => {
            error_reply(400, "connection_not_active", "connection is not active")
        }
        Route::Token => json_reply(200, &token_object(connection)),
        Route::Refresh => {
            connection.access_token = rotate(&connection.access_token);
            json_reply(200, &token_object(connection))
        }
        Route::Revoke => {
            let already_revoked = connection.status == ConnectionStatus::Revoked;
            connection.status = ConnectionStatus::Revoked;
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
