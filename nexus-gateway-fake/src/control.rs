//! The control API: what the library's methods do, over HTTP under
//! `/_fake/`, a path the real Gateway never uses, so that a test in any
//! language can script the fake program. Also the seed format those calls
//! and the program's `--seed FILE` share (see the crate's README).

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::{Value, json};

use crate::broker::{Broker, BrokerAnswer, RateLimit};
use crate::fault::Fault;
use crate::hold::Holds;
use crate::lifecycle::is_uuid;
use crate::provider::{FakeConnection, FakeProvider};
use crate::request::RecordedRequest;
use crate::routes::{Route, State, error_reply, json_reply};
use crate::server::Reply;

/// The path every control call starts with.
pub(crate) const PREFIX: &str = "/_fake/";

/// A control call: what it changed (`{"ok":true}`), what it read, or 400
/// with what was wrong.
pub(crate) fn handle(state: &Mutex<State>, request: &RecordedRequest) -> Reply {
    let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
    let what = request.path[PREFIX.len()..].to_owned();
    let answer: Result<(), String> = match (request.method.as_str(), what.as_str()) {
        ("GET", "requests") => return json_reply(200, &requests(&state.lock())),
        ("POST", "reset") => reset(&mut state.lock()),
        ("POST", "seed") => seed(&mut state.lock(), &body),
        ("POST", "providers") => seed(&mut state.lock(), &json!({"providers": [body]})),
        ("DELETE", "providers") => {
            let (ws, name) = (
                request.query_param("workspace"),
                request.query_param("name"),
            );
            let key = (ws.unwrap_or_default(), name.unwrap_or_default());
            state
                .lock()
                .providers
                .remove(&key)
                .map(drop)
                .ok_or("no such provider".into())
        }
        ("POST", "connections") => seed(&mut state.lock(), &json!({"connections": [body]})),
        ("POST", path) if path.starts_with("connections/") && path.ends_with("/status") => {
            let id = &path["connections/".len()..path.len() - "/status".len()];
            set_status(&mut state.lock(), id, &body)
        }
        ("POST", "broker") => broker(&mut state.lock(), &body),
        ("POST", "faults") => faults(&mut state.lock(), &body),
        ("POST", "rate-limit") => rate_limit(&mut state.lock(), &body),
        ("POST", "latency") => {
            let ms = body["ms"]
                .as_u64()
                .ok_or("`ms` is a number of milliseconds".to_owned());
            ms.map(|ms| state.lock().latency = Duration::from_millis(ms))
        }
        ("POST", "hold") => hold(state, &body),
        ("POST", "release") => {
            state.lock().control_holds.clear();
            Ok(())
        }
        _ => Err(format!(
            "no control call {} {}{what}",
            request.method, PREFIX
        )),
    };
    match answer {
        Ok(()) => json_reply(200, &json!({"ok": true})),
        Err(why) => error_reply(400, "bad_control_call", &why),
    }
}

/// Everything the Gateway received, oldest first (up to the last 10,000).
fn requests(state: &State) -> Value {
    let one = |r: &RecordedRequest| {
        json!({"method": r.method, "path": r.path, "query": r.query, "headers": r.headers,
               "body": String::from_utf8_lossy(&r.body)})
    };
    Value::Array(state.log.iter().map(one).collect())
}

/// Back to a new fake's state; holds are let go, the api key forgotten.
fn reset(state: &mut State) -> Result<(), String> {
    let holds = Arc::clone(&state.holds);
    *state = State::default();
    state.holds = holds;
    Ok(())
}

/// Adds (or replaces) the seed's providers and connections.
pub(crate) fn seed(state: &mut State, seed: &Value) -> Result<(), String> {
    let list = |key: &str| {
        seed.get(key)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    for entry in list("providers") {
        let text = |key: &str| text(&entry, key);
        let (workspace, name) = (text("workspace"), text("name"));
        if workspace.is_empty() || name.is_empty() {
            return Err("a provider needs a `workspace` and a `name`".into());
        }
        state.providers.insert((workspace, name), provider(&entry)?);
    }
    for entry in list("connections") {
        let text = |key: &str| text(&entry, key);
        let id = text("id");
        if !is_uuid(&id) {
            return Err(format!(
                "connection id `{id}` is not a UUID, as the Gateway requires"
            ));
        }
        let mut connection = FakeConnection::active(&text("provider"), &text("token"));
        if let Some(status) = entry.get("status").and_then(Value::as_str) {
            connection.status = status.into();
        }
        if let Some(workspace) = entry.get("workspace").and_then(Value::as_str) {
            connection = connection.workspace(workspace);
        }
        state.connections.insert(id, connection);
    }
    Ok(())
}

/// `entry[key]` as text, `""` when it is absent or not a string.
fn text(entry: &Value, key: &str) -> String {
    entry
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned()
}

/// A provider of the seed format: its `strategy` and that strategy's fields.
fn provider(entry: &Value) -> Result<FakeProvider, String> {
    let text = |key: &str| entry.get(key).and_then(Value::as_str);
    let need = |key: &str| text(key).ok_or(format!("this strategy needs `{key}`"));
    let strategy = text("strategy").unwrap_or("oauth2");
    let mut provider = match strategy {
        "oauth2" => FakeProvider::oauth2(need("token")?),
        "header" => {
            FakeProvider::header(need("header_name")?, text("value_prefix"), need("api_key")?)
        }
        "basic_auth" => FakeProvider::basic_auth(need("username")?, need("password")?),
        "query_param" => FakeProvider::query_param(need("param_name")?, need("api_key")?),
        "hmac_payload" => FakeProvider::hmac_payload(need("header_name")?, need("secret")?),
        "aws_sigv4" => FakeProvider::aws_sigv4(
            need("access_key")?,
            need("secret_key")?,
            text("region").unwrap_or("us-east-1"),
            need("service")?,
        ),
        other => return Err(format!("unknown strategy `{other}`")),
    };
    if let Some(url) = text("api_base_url") {
        provider = provider.api_base_url(url);
    }
    if let Some(seconds) = entry.get("expires_in").and_then(Value::as_u64) {
        provider = provider.expires_in(Duration::from_secs(seconds));
    }
    if entry.get("rotating").and_then(Value::as_bool) == Some(true) {
        provider = provider.rotating();
    }
    Ok(provider)
}

fn set_status(state: &mut State, id: &str, body: &Value) -> Result<(), String> {
    let status = body["status"].as_str().ok_or("`status` is a string")?;
    let connection = state
        .connections
        .get_mut(id)
        .ok_or(format!("no connection `{id}`"))?;
    connection.status = status.into();
    connection.pending_polls = None;
    Ok(())
}

/// The Broker's state (`{"state": "failing"}`), or one route's scripted
/// answer (`{"route": "resolve", "status": 500, "content_type": …, "body": …}`),
/// or `{"clear": true}` to forget the scripts.
fn broker(state: &mut State, body: &Value) -> Result<(), String> {
    if body["clear"].as_bool() == Some(true) {
        state.broker_script.clear();
        return Ok(());
    }
    if let Some(name) = body["state"].as_str() {
        state.broker = match name {
            "healthy" => Broker::Healthy,
            "failing" => Broker::Failing,
            "unreachable" => Broker::Unreachable,
            "hung" => Broker::Hung,
            other => return Err(format!("unknown Broker state `{other}`")),
        };
        return Ok(());
    }
    let route = route(&body["route"])?.ok_or("a scripted answer needs a `route`")?;
    let status = body["status"]
        .as_u64()
        .and_then(|s| u16::try_from(s).ok())
        .ok_or("`status`")?;
    let text = body["body"].as_str().unwrap_or("");
    let answer = BrokerAnswer::body(status, body["content_type"].as_str(), text);
    state.broker_script.insert(route, answer);
    Ok(())
}

/// `count` faults (default 1) for a route, or any route.
fn faults(state: &mut State, body: &Value) -> Result<(), String> {
    let route = route(&body["route"])?;
    let status = body["status"]
        .as_u64()
        .and_then(|s| u16::try_from(s).ok())
        .ok_or("`status`")?;
    let fault = match body["body"].as_str() {
        Some(text) => Fault::body(status, body["content_type"].as_str(), text),
        None => Fault::status(status),
    };
    for _ in 0..body["count"].as_u64().unwrap_or(1) {
        state.faults.push_back((route, fault.clone()));
    }
    Ok(())
}

fn rate_limit(state: &mut State, body: &Value) -> Result<(), String> {
    let limit = body["limit"]
        .as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .ok_or("`limit`")?;
    let window = Duration::from_millis(body["window_ms"].as_u64().ok_or("`window_ms`")?);
    state.rate_limit = (limit > 0).then(|| RateLimit::new(limit, window));
    Ok(())
}

/// Holds the next request to the route, until `/_fake/release`.
fn hold(state: &Mutex<State>, body: &Value) -> Result<(), String> {
    let route = route(&body["route"])?;
    let holds = Arc::clone(&state.lock().holds);
    let hold = Holds::hold(&holds, route);
    state.lock().control_holds.push(hold);
    Ok(())
}

/// A route by its control name, `null` for any route.
fn route(name: &Value) -> Result<Option<Route>, String> {
    let Some(name) = name.as_str() else {
        return Ok(None);
    };
    Ok(Some(match name {
        "health" => Route::Health,
        "request-connection" => Route::RequestConnection,
        "check-connection" => Route::CheckConnection,
        "token" => Route::Token,
        "refresh" => Route::Refresh,
        "revoke" => Route::Revoke,
        "resolve" => Route::Resolve,
        "providers-metadata" => Route::ProvidersMetadata,
        other => return Err(format!("unknown route `{other}`")),
    }))
}
