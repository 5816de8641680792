//! The control API: what the library's methods do, over HTTP under
//! `/_fake/`, a path the real Gateway never uses, so that a test in any
//! language can script the fake program (see the crate's README). Whatever
//! a call cannot do is a 400 saying why; none takes the fake down.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::{Value, json};

use crate::broker::{Broker, BrokerAnswer};
use crate::fault::Fault;
use crate::hold::Holds;
use crate::limiter::{FIGURES, Limiter, RateLimits};
use crate::provider::known_status;
use crate::reply::{Route, error_reply, json_reply};
use crate::request::RecordedRequest;
use crate::seed::seed;
use crate::server::Reply;
use crate::state::State;

/// The path every control call starts with.
pub(crate) const PREFIX: &str = "/_fake/";

/// A control call: what it changed (`{"ok":true}`), what it read, or 400
/// with what was wrong.
pub(crate) fn handle(state: &Mutex<State>, request: &RecordedRequest) -> Reply {
    let what = &request.path[PREFIX.len()..];
    let answer = match (request.method.as_str(), what) {
        ("GET", "requests") => return json_reply(200, &requests(&state.lock())),
        ("GET", "spans") => return json_reply(200, &Value::Array(state.lock().spans.clone())),
        ("POST", "reset") => {
            state.lock().reset();
            Ok(())
        }
        ("POST", "release") => {
            state.lock().control_holds.clear();
            Ok(())
        }
        ("DELETE", "providers") => remove_provider(&mut state.lock(), request),
        (method, what) if !takes_a_body(method, what) => {
            let what: String = what.chars().take(64).collect();
            Err(format!(
                "no control call {method} {PREFIX}{}; the calls are: {}",
                what.escape_debug(),
                CALLS.join(", ")
            ))
        }
        (method, what) => body(request).and_then(|body| change(state, method, what, &body)),
    };
    match answer {
        Ok(()) => json_reply(200, &json!({"ok": true})),
        Err(why) => error_reply(400, "bad_control_call", &why),
    }
}

/// Every control call, as its error for an unknown one names them.
const CALLS: [&str; 14] = [
    "GET requests",
    "POST reset",
    "POST release",
    "DELETE providers",
    "POST seed",
    "POST providers",
    "POST connections",
    "POST connections/{id}/status",
    "POST broker",
    "POST faults",
    "POST rate-limits",
    "POST latency",
    "POST hold",
    "(each under /_fake/)",
];

/// Whether `method what` is one of the calls that take a JSON body: looked
/// up before the body is read.
fn takes_a_body(method: &str, what: &str) -> bool {
    let named = [
        "seed",
        "providers",
        "connections",
        "broker",
        "faults",
        "rate-limits",
        "latency",
        "hold",
    ];
    let status = what.starts_with("connections/") && what.ends_with("/status");
    method == "POST" && (named.contains(&what) || status)
}

/// The calls that take a JSON body.
fn change(state: &Mutex<State>, method: &str, what: &str, body: &Value) -> Result<(), String> {
    match (method, what) {
        ("POST", "seed") => seed(&mut state.lock(), body),
        ("POST", "providers") => seed(&mut state.lock(), &json!({"providers": [body]})),
        ("POST", "connections") => seed(&mut state.lock(), &json!({"connections": [body]})),
        ("POST", path) if path.starts_with("connections/") => {
            let id = path
                .strip_prefix("connections/")
                .and_then(|p| p.strip_suffix("/status"));
            let id = id.filter(|id| !id.is_empty() && !id.contains('/'));
            let id = id.ok_or("which connection? POST /_fake/connections/{id}/status")?;
            set_status(&mut state.lock(), id, body)
        }
        ("POST", "broker") => broker(&mut state.lock(), body),
        ("POST", "faults") => faults(&mut state.lock(), body),
        ("POST", "rate-limits") => rate_limits(&mut state.lock(), body),
        ("POST", "latency") => {
            let ms = body["ms"].as_u64();
            let ms = ms.ok_or("`ms` is a whole number of milliseconds")?;
            state.lock().latency = Duration::from_millis(ms);
            Ok(())
        }
        ("POST", "hold") => hold(state, body),
        _ => {
            let what: String = what.chars().take(64).collect();
            Err(format!("no control call {method} {PREFIX}{what}"))
        }
    }
}

/// The request's body as JSON, or why it is not.
fn body(request: &RecordedRequest) -> Result<Value, String> {
    serde_json::from_slice(&request.body).map_err(|e| format!("the body is not JSON: {e}"))
}

/// Everything the Gateway received, oldest first (up to the last 10,000).
fn requests(state: &State) -> Value {
    let one = |r: &RecordedRequest| {
        json!({"method": r.method, "path": r.path, "query": r.query, "headers": r.headers,
               "body": String::from_utf8_lossy(&r.body)})
    };
    Value::Array(state.log.iter().map(one).collect())
}

/// `DELETE /_fake/providers?workspace=W&name=P`.
fn remove_provider(state: &mut State, request: &RecordedRequest) -> Result<(), String> {
    let workspace = request.query_param("workspace").unwrap_or_default();
    let name = request.query_param("name").unwrap_or_default();
    let providers = state.providers.get_mut(&workspace);
    providers
        .and_then(|providers| providers.remove(&name))
        .map(drop)
        .ok_or_else(|| "no such provider (query: workspace=W&name=P)".into())
}

fn set_status(state: &mut State, id: &str, body: &Value) -> Result<(), String> {
    let status = body["status"].as_str().ok_or("`status` is a string")?;
    let status = known_status("`status`", status)?;
    let connection = state
        .connections
        .get_mut(id)
        .ok_or(format!("no connection `{id}`"))?;
    connection.status = status;
    connection.pending_polls = None;
    Ok(())
}

/// The Broker's state (`{"state": "failing"}`), or one route's scripted
/// answer (`{"route": "resolve", "status": 500, "content_type": …, "body": …}`),
/// or `{"clear": true}` to forget the scripts.
fn broker(state: &mut State, body: &Value) -> Result<(), String> {
    if body["clear"].as_bool() == Some(true) {
        if body.get("state").is_some() || body.get("route").is_some() {
            return Err(
                "`clear` forgets the scripted answers and takes nothing else: send \
                        `state` or a `route` in a call of its own"
                    .into(),
            );
        }
        state.broker_script.clear();
        return Ok(());
    }
    if let Some(name) = body["state"].as_str() {
        state.broker = match name {
            "healthy" => Broker::Healthy,
            "failing" => Broker::Failing,
            "unreachable" => Broker::Unreachable,
            "hung" => Broker::Hung,
            other => {
                let other: String = other.chars().take(64).collect();
                let known = "healthy, failing, unreachable, hung";
                return Err(format!("unknown Broker state {other:?} (known: {known})"));
            }
        };
        return Ok(());
    }
    let route = route(&body["route"])?.ok_or("a scripted answer needs a `route`")?;
    let text = body["body"].as_str().unwrap_or("");
    let answer = BrokerAnswer::body(status(body)?, body["content_type"].as_str(), text);
    state.broker_script.insert(route, answer);
    Ok(())
}

/// `count` faults (default 1) for a route, or any route.
fn faults(state: &mut State, body: &Value) -> Result<(), String> {
    let route = route(&body["route"])?;
    let status = status(body)?;
    let fault = match body["body"].as_str() {
        Some(text) => Fault::body(status, body["content_type"].as_str(), text),
        None => Fault::status(status),
    };
    let count = body.get("count").map_or(Some(1), Value::as_u64);
    let count = count.filter(|n| *n > 0);
    let count = count.ok_or("`count` is a whole number of requests, at least 1")?;
    state.queue_fault(route, fault, count);
    Ok(())
}

/// `status`: what an answer's status line can carry.
fn status(body: &Value) -> Result<u16, String> {
    let status = body["status"].as_u64().and_then(|s| u16::try_from(s).ok());
    let status = status.filter(|s| (200..=599).contains(s));
    status.ok_or_else(|| "`status` is an HTTP status from 200 to 599".into())
}

/// The real limiter's settings, by the Gateway's names in lower case:
/// `enabled` (required), the `…_rpm` figures (each left out keeps its
/// default) and `minute_ms`. Buckets start full again.
fn rate_limits(state: &mut State, body: &Value) -> Result<(), String> {
    let object = body.as_object().ok_or("the body is a JSON object")?;
    let mut limits = RateLimits::default();
    for (key, value) in object {
        let figure = value.as_i64();
        match key.as_str() {
            "enabled" => limits.enabled = value.as_bool().ok_or("`enabled` is true or false")?,
            "minute_ms" => {
                let ms = value.as_u64().filter(|ms| *ms > 0);
                let ms = ms.ok_or("`minute_ms` is a whole number of milliseconds, at least 1")?;
                limits.minute = Duration::from_millis(ms);
            }
            name if FIGURES.contains(&name) => {
                let figure = figure.ok_or(format!("`{name}` is a whole number a minute"))?;
                limits.set(name, figure);
            }
            other => {
                let other: String = other.chars().take(64).collect();
                let known = FIGURES.join(", ");
                return Err(format!(
                    "unknown key {other:?} (it takes: enabled, {known}, minute_ms)"
                ));
            }
        }
    }
    if !object.contains_key("enabled") {
        return Err("`enabled` is required: true or false".into());
    }
    state.limiter = Limiter::new(limits);
    Ok(())
}

/// Holds the next request to the route, until `/_fake/release`.
fn hold(state: &Mutex<State>, body: &Value) -> Result<(), String> {
    let route = route(&body["route"])?;
    let bound = match body.get("seconds") {
        None => None,
        Some(seconds) => {
            let seconds = seconds.as_f64().filter(|s| *s > 0.0 && *s <= 3600.0);
            let why = "`seconds` is how long the hold may keep its request, from 0 to 3600";
            Some(Duration::from_secs_f64(seconds.ok_or(why)?))
        }
    };
    let holds = Arc::clone(&state.lock().holds);
    let hold = Holds::hold(&holds, route, bound);
    state.lock().control_holds.push(Arc::new(hold));
    Ok(())
}

/// A route by its control name, `null` for any route.
fn route(name: &Value) -> Result<Option<Route>, String> {
    let Some(name) = name.as_str() else {
        return Ok(None);
    };
    let route = Route::named(name).ok_or_else(|| {
        let name: String = name.chars().take(64).collect();
        format!("unknown route {name:?} (known: {})", Route::NAMES)
    })?;
    Ok(Some(route))
}
