//! The fake Gateway's request handling: faults first, then the api key
//! check, the rate limiter and the Broker's state, then one function per
//! route. The answers follow the real Gateway as measured (see the crate's
//! `docs/testing.md`).

use std::sync::Arc;
use std::thread;
use std::time::{Duration, UNIX_EPOCH};

use parking_lot::Mutex;
use serde_json::{Value, json};

use crate::broker::{Broker, broker_down, reserialise, through_gateway};
use crate::control;
use crate::fault::{Fault, fault_reply};
use crate::lifecycle;
use crate::provider::FakeProvider;
use crate::reply::{Route, bare, error_reply, json_reply, text_reply};
use crate::request::{RecordedRequest, is_uuid};
use crate::server::Reply;
use crate::state::{GATEWAY_BROKER_TIMEOUT, State};

pub(crate) fn handle(state: &Mutex<State>, request: RecordedRequest) -> Reply {
    if request.path.starts_with(control::PREFIX) {
        return control::handle(state, &request);
    }
    // A collector's route, beside the Gateway's (never counted as one).
    #[cfg(feature = "otlp")]
    if request.method == "POST" && request.path == crate::otlp::PATH {
        return crate::otlp::receive(state, &request);
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
    let now = guard.now().duration_since(UNIX_EPOCH).unwrap_or_default();
    if let Some(reply) = guard.limiter.check(&request, now) {
        return reply;
    }
    // The Gateway checks a revoke's id itself, before any Broker call.
    if route == Route::Revoke && !id.as_deref().is_some_and(is_uuid) {
        return error_reply(400, "invalid_connection_id", "connection_id must be a UUID");
    }
    let broker = guard.broker;
    if broker == Broker::Hung && uses_broker(route) {
        let wait = guard.broker_timeout.unwrap_or(GATEWAY_BROKER_TIMEOUT);
        drop(guard);
        thread::sleep(wait);
        guard = state.lock();
    }
    match (route, id) {
        (Route::Unknown, _) if known.is_some() => bare(405),
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
    state.log(request);
    state.last = Some(request.clone());
    state.last_by_route.insert(route, request.clone());
    let count = state.counts.get(&route).copied().unwrap_or(0);
    let periodic = state
        .periodic
        .get(&route)
        .filter(|(n, _)| count % n == 1 % n)
        .map(|(_, f)| f.clone());
    (state.queued_fault(route).or(periodic), state.latency)
}

fn resolve(state: &mut State, request: &RecordedRequest) -> Reply {
    let workspace = request.query_param("workspace_id").unwrap_or_default();
    let provider = request.query_param("provider_name").unwrap_or_default();
    if workspace.is_empty() || provider.is_empty() {
        let message = "workspace_id and provider_name are required";
        return error_reply(400, "missing_fields", message);
    }
    let not_found = || {
        let message = "no connection for that workspace and provider";
        error_reply(404, "connection_not_found", message)
    };
    // The workspace's latest active connection to exactly this provider
    // (one its user consented to), else the token the fake was seeded with.
    if let Some(token) = state.latest_active(&workspace, &provider) {
        let answer = FakeProvider::oauth2(token).answer(1, state.now());
        return match reserialise(answer) {
            Ok(answer) => json_reply(200, &answer),
            Err(reply) => reply,
        };
    }
    let Some(providers) = state.providers.get(&workspace) else {
        return not_found();
    };
    // The name matches exactly, as the Broker's query does (`provider name
    // = P`): `GitHub` does not find `github`.
    let Some((name, fake)) = providers.get_key_value(&provider) else {
        return not_found();
    };
    let now = state.now();
    let serial = state.served.entry((workspace, name.clone())).or_default();
    *serial += 1;
    match reserialise(fake.answer(*serial, now)) {
        Ok(answer) => json_reply(200, &answer),
        Err(reply) => reply,
    }
}

/// Every registered provider once, grouped by auth type, as the Gateway
/// lists them (the metadata is per provider, not per workspace).
fn providers_metadata(state: &State) -> Reply {
    let mut groups = serde_json::Map::new();
    for (name, provider) in state.providers.values().flatten() {
        let (group, entry) = provider.metadata(name);
        let group = groups.entry(group).or_insert_with(|| json!({}));
        if let Some(group) = group.as_object_mut() {
            group.entry(name.clone()).or_insert(entry);
        }
    }
    // A profile registered with the Broker alone is listed too, with no API.
    for name in state.registry.keys() {
        if groups.values().any(|g| g.get(name).is_some()) {
            continue;
        }
        let group = groups.entry("oauth2").or_insert_with(|| json!({}));
        if let Some(group) = group.as_object_mut() {
            let entry = json!({"id": format!("fake-{name}"), "api_base_url": null, "scopes": [],
                               "description": "", "category": "fake"});
            group.insert(name.clone(), entry);
        }
    }
    json_reply(200, &Value::Object(groups))
}
