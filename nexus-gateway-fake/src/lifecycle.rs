//! The fake Gateway's connection lifecycle routes: request-connection, the
//! consent page, check-connection, token, refresh and revoke, answering as
//! the real Gateway and its Broker do.

use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use crate::broker::reserialise;
use crate::provider::FakeConnection;
use crate::reply::{Route, bare, error_reply, json_reply};
use crate::request::{RecordedRequest, is_uuid};
use crate::server::Reply;
use crate::state::State;
use crate::time::rfc3339;
use nexus_sdk::ConnectionStatus;

pub(crate) fn request_connection(state: &mut State, request: &RecordedRequest) -> Reply {
    let Ok(body) = serde_json::from_slice::<Value>(&request.body) else {
        return error_reply(400, "invalid_json", "body is not JSON");
    };
    let field = |k: &str| body.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    let (user_id, provider_name, return_url) = (
        field("user_id"),
        field("provider_name"),
        field("return_url"),
    );
    if user_id.is_empty() || provider_name.is_empty() || return_url.is_empty() {
        return error_reply(
            400,
            "missing_fields",
            "user_id, provider_name and return_url are required",
        );
    }
    match profiles(state, &provider_name) {
        0 => return error_reply(404, "provider_not_found", "provider not found"),
        1 => {}
        _ => {
            let message = "provider name matches several providers";
            return error_reply(409, "provider_ambiguous", message);
        }
    }
    let refused = state
        .refused_return_urls
        .iter()
        .any(|prefix| return_url.starts_with(prefix.as_str()));
    if refused {
        let answer = json!({"error": "broker_error", "message": "broker returned status 400",
                            "status": 400});
        return json_reply(502, &answer);
    }
    state.next_id += 1;
    let serial = state.next_id;
    let connection_id = format!("00000000-0000-4000-8000-{serial:012x}");
    // The connection is to the profile found, under the name it is listed by.
    let listed = profile_name(state, &provider_name).unwrap_or(provider_name.clone());
    let token = format!("fake-{listed}-token-{serial}");
    let connection = FakeConnection::pending(&listed, &token, None).workspace(&user_id);
    state.connections.insert(connection_id.clone(), connection);
    let host = request.header("host").unwrap_or("127.0.0.1");
    let state_param = format!("state-{serial}");
    json_reply(
        200,
        &json!({
            "authUrl": format!("http://{host}/fake/authorize?connection_id={connection_id}&state={state_param}"),
            "connection_id": connection_id,
            "state": state_param,
            "scopes": body.get("scopes").cloned().unwrap_or(Value::Null),
            "provider_id": format!("fake-{provider_name}"),
        }),
    )
}

/// How many provider profiles the Broker holds under `name`, matched as
/// the Gateway matches names, without regard to case: those registered,
/// and one for each other name served by `/v1/resolve`.
fn profiles(state: &State, name: &str) -> usize {
    let same = |other: &str| other.eq_ignore_ascii_case(name);
    let registered: usize = state
        .registry
        .iter()
        .filter(|(n, _)| same(n))
        .map(|(_, c)| c)
        .sum();
    let mut served: Vec<&str> = state
        .providers
        .values()
        .flat_map(|m| m.keys())
        .map(String::as_str)
        .collect();
    served.sort_unstable();
    served.dedup();
    let unregistered = served
        .iter()
        .filter(|p| same(p) && !state.registry.contains_key(**p));
    registered + unregistered.count()
}

/// The name of the one provider profile `name` finds without regard to case.
fn profile_name(state: &State, name: &str) -> Option<String> {
    let registered = state.registry.keys();
    let served = state.providers.values().flat_map(|m| m.keys());
    let found = registered
        .chain(served)
        .find(|n| n.eq_ignore_ascii_case(name));
    found.cloned()
}

/// The consent page: visiting `auth_url` makes the connection active, and
/// the workspace's older active connections to that provider `superseded`
/// (as the Broker marks them when a consent completes).
pub(crate) fn authorize(state: &mut State, request: &RecordedRequest) -> Reply {
    let id = request.query_param("connection_id").unwrap_or_default();
    let pair = state
        .connections
        .get(&id)
        .map(|c| (c.workspace_id.clone(), c.provider_name.clone()));
    if let Some((Some(workspace), provider)) = pair {
        let older = state.connections.values_mut().filter(|c| {
            c.workspace_id.as_deref() == Some(workspace.as_str())
                && c.provider_name == provider
                && c.status == ConnectionStatus::Active
        });
        for connection in older {
            connection.status = ConnectionStatus::Other("superseded".into());
        }
    }
    match state.connections.get_mut(&id) {
        Some(connection) => {
            connection.status = ConnectionStatus::Active;
            connection.pending_polls = None;
            state.consented.push(id);
            Reply::Answer {
                status: 200,
                headers: vec![("Content-Type".into(), "text/plain".into())],
                body: b"Connected. You can close this window.".to_vec(),
            }
        }
        None => error_reply(404, "connection_not_found", "no such connection"),
    }
}

/// `GET /v1/check-connection/{id}`: the real Gateway probes the Broker's
/// token route, `active` on a 200 and `failed` on any 4xx, so only an
/// active connection reads as anything but `failed`.
fn check(state: &mut State, id: &str) -> Reply {
    let report = state.report_status;
    let now = state
        .connections
        .get_mut(id)
        .filter(|_| is_uuid(id) || report)
        .map(|connection| connection.poll().clone());
    let undecryptable = state.connections.get(id).is_some_and(|c| c.undecryptable);
    let status = match now {
        // The Gateway's probe of the Broker's token route met a 5xx.
        Some(_) if undecryptable => "pending".into(),
        Some(status) if report => status.as_str().to_owned(),
        None if report => {
            return error_reply(404, "connection_not_found", "no such connection");
        }
        Some(ConnectionStatus::Active) => "active".into(),
        _ => "failed".into(),
    };
    json_reply(200, &json!({"status": status}))
}

/// The Broker's error, forwarded with its body or, when the fake plays a
/// Gateway older than 0.4.0, as the bare status.
fn broker_error(state: &State, status: u16, code: &str, message: &str) -> Reply {
    if state.bodyless_errors {
        return bare(status);
    }
    error_reply(status, code, message)
}

/// The Broker's refusal of an id that is not a UUID.
fn not_a_uuid(state: &State) -> Reply {
    let message = "connection id must be a UUID";
    broker_error(state, 400, "invalid_connection_id", message)
}

pub(crate) fn connection_route(state: &mut State, route: Route, id: &str) -> Reply {
    if route == Route::CheckConnection {
        return check(state, id);
    }
    if !is_uuid(id) {
        return not_a_uuid(state);
    }
    let Some(connection) = state.connections.get(id) else {
        return broker_error(state, 404, "connection_not_found", "connection not found");
    };
    let refusal = match &connection.status {
        ConnectionStatus::Active => None,
        ConnectionStatus::Revoked => Some((410, "connection_revoked", "connection revoked")),
        ConnectionStatus::Other(s) if s == "attention" => {
            Some((409, "attention_required", "the user must reconnect"))
        }
        _ => Some((400, "connection_not_active", "connection is not active")),
    };
    if let Some((status, code, message)) = refusal {
        return broker_error(state, status, code, message);
    }
    if connection.undecryptable {
        return broker_error(
            state,
            500,
            "decrypt_failed",
            "stored token cannot be decrypted",
        );
    }
    if route == Route::Refresh && connection.static_credential {
        let message = "the connection's credential is static; only OAuth2 tokens refresh";
        return broker_error(state, 400, "refresh_not_supported", message);
    }
    match route {
        Route::Token => match reserialise(token_object(connection)) {
            Ok(answer) => json_reply(200, &answer),
            Err(reply) => reply,
        },
        Route::Refresh => refresh(state, id),
        _ => error_reply(404, "not_found", "no such route"),
    }
}

/// `POST /v1/refresh/{id}`: a new token, answered as the three fields the
/// Gateway re-serialises from the provider's answer.
fn refresh(state: &mut State, id: &str) -> Reply {
    let Some(connection) = state.connections.get_mut(id) else {
        return error_reply(404, "connection_not_found", "connection not found");
    };
    connection.access_token = rotate(&connection.access_token);
    json_reply(
        200,
        &json!({"access_token": connection.access_token,
                "refresh_token": format!("{}-refresh", connection.access_token),
                "token_type": "bearer"}),
    )
}

/// `DELETE /v1/connections/{id}`: 404 when `workspace_id` is given and does
/// not own the connection; idempotent otherwise.
pub(crate) fn revoke(state: &mut State, id: &str, workspace_id: Option<String>) -> Reply {
    let owned = |c: &FakeConnection| {
        workspace_id
            .as_ref()
            .is_none_or(|ws| c.workspace_id.as_ref() == Some(ws))
    };
    let Some(connection) = state.connections.get_mut(id).filter(|c| owned(c)) else {
        return broker_error(state, 404, "connection_not_found", "connection not found");
    };
    let already_revoked = connection.status == ConnectionStatus::Revoked;
    connection.status = ConnectionStatus::Revoked;
    let error = connection.provider_revocation_error.clone();
    json_reply(
        200,
        &json!({
            "connection_id": id,
            "provider_name": connection.provider_name,
            "status": "revoked",
            "revoked_at": rfc3339(SystemTime::now()),
            "already_revoked": already_revoked,
            "token_deleted": !already_revoked,
            "sessions_closed": 0,
            "provider_revoked": !already_revoked && error.is_none(),
            "provider_revocation_error": error,
        }),
    )
}

fn token_object(connection: &FakeConnection) -> Value {
    let expires_at = rfc3339(SystemTime::now() + Duration::from_secs(3600));
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

/// `tok` → `tok-r1`, `tok-r1` → `tok-r2`.
fn rotate(token: &str) -> String {
    match token.rsplit_once("-r") {
        Some((base, n)) if n.parse::<u32>().is_ok() => {
            format!("{base}-r{}", n.parse::<u32>().unwrap_or(0) + 1)
        }
        _ => format!("{token}-r1"),
    }
}
