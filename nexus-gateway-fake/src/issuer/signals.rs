//! The fake issuer as a transmitter of the three signals a provider sends
//! to switch a person off, driven by the control API so that a team tests
//! its set-up as it tests sign-in:
//!
//! - Shared Signals (OpenID SSF 1.0): `/.well-known/ssf-configuration`,
//!   streams made and listed at `/ssf/stream` (any bearer token), push
//!   (RFC 8935: the SET posted to the stream's `endpoint_url` with its
//!   `authorization_header`) or poll (RFC 8936: `/ssf/poll/{id}`, acks and
//!   `setErrs` kept), the verification event at `/ssf/verify`; `POST
//!   /_fake/ssf/emit` sends an event (`{"event", "sub_id"}`) to every stream;
//! - Global Token Revocation: `POST /_fake/logout` (`{"endpoint", "sub_id"}`)
//!   signs the request's JWT as Okta does and sends it;
//! - SCIM: `POST /_fake/scim` (`{"tenant", "token", "method", "path",
//!   "body"}`) sends one request as a provisioning service does.
//!
//! Each sender answers `{"status", "body"}` (or, for an event, one per
//! push stream), the receiver's words as it gave them.

use std::time::Duration;

use parking_lot::Mutex;
use serde_json::{Map, Value, json};

use super::{FakeToken, State, answer, refused, sign};
use crate::request::RecordedRequest;
use crate::server::Reply;

/// A stream a receiver made: its id, its configuration as answered, and
/// the SETs queued for polling, with the errors the receiver told.
#[derive(Clone, Default)]
pub(super) struct Stream {
    id: String,
    config: Value,
    queued: Vec<(String, String)>,
    told: Map<String, Value>,
}

impl Stream {
    /// Its configuration, as the transmitter answered it.
    pub(super) fn config(&self) -> Value {
        self.config.clone()
    }
}

/// The SSF and signal routes; `None` for the others.
pub(super) fn signals(state: &Mutex<State>, url: &str, request: &RecordedRequest) -> Option<Reply> {
    let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
    let bearer = request.header("Authorization").is_some_and(|v| v.len() > 7);
    let path = request.path.as_str();
    Some(match (request.method.as_str(), path) {
        ("GET", "/.well-known/ssf-configuration") => answer(200, &configuration(url)),
        _ if path.starts_with("/ssf/") && !bearer => {
            answer(401, &json!({"error": "invalid_token"}))
        }
        ("POST", "/ssf/stream") => made(&mut state.lock(), url, body),
        ("GET", "/ssf/stream") => {
            let streams: Vec<Value> = state
                .lock()
                .streams
                .iter()
                .map(|s| s.config.clone())
                .collect();
            answer(200, &Value::Array(streams))
        }
        ("POST", "/ssf/verify") => {
            let id = body["stream_id"].as_str().unwrap_or_default().to_owned();
            let event = "https://schemas.openid.net/secevent/ssf/event-type/verification";
            let events = json!({ event: {"state": body["state"]} });
            emitted(state, url, (events, Value::Null), Some(&id));
            Reply::Answer {
                status: 204,
                headers: Vec::new(),
                body: Vec::new(),
            }
        }
        ("POST", _) if path.starts_with("/ssf/poll/") => {
            polled(&mut state.lock(), &path[10..], &body)
        }
        ("POST", "/_fake/ssf/emit") => {
            let events = json!({ body["event"].as_str().unwrap_or_default(): {} });
            let delivered = emitted(state, url, (events, body["sub_id"].clone()), None);
            answer(200, &json!({"delivered": delivered}))
        }
        ("POST", "/_fake/logout") => logout(state, url, &body),
        ("POST", "/_fake/scim") => scim(&body),
        _ => return None,
    })
}

/// The transmitter's configuration (SSF 1.0 §7.1).
fn configuration(url: &str) -> Value {
    json!({
        "spec_version": "1_0",
        "issuer": url,
        "jwks_uri": format!("{url}/jwks"),
        "configuration_endpoint": format!("{url}/ssf/stream"),
        "verification_endpoint": format!("{url}/ssf/verify"),
        "delivery_methods_supported": ["urn:ietf:rfc:8935", "urn:ietf:rfc:8936"],
    })
}

/// A stream made as `asked`: its configuration, a poll stream given its
/// endpoint here, the audience the receiver's origin (push) or `aud`.
fn made(state: &mut State, url: &str, asked: Value) -> Reply {
    let mut delivery = asked["delivery"].clone();
    let push = delivery["method"] == "urn:ietf:rfc:8935";
    if !push && delivery["method"] != "urn:ietf:rfc:8936" {
        return refused(
            "invalid_request",
            "delivery.method is urn:ietf:rfc:8935 or 8936",
        );
    }
    state.serial += 1;
    let id = format!("stream-{}", state.serial);
    if !push {
        delivery["endpoint_url"] = json!(format!("{url}/ssf/poll/{id}"));
    }
    let config = json!({
        "stream_id": id,
        "iss": url,
        "aud": asked.get("aud").cloned().unwrap_or(Value::Null),
        "delivery": delivery,
        "events_supported": asked["events_requested"],
        "events_requested": asked["events_requested"],
        "events_delivered": asked["events_requested"],
        "description": asked["description"],
    });
    let stream = Stream {
        id,
        config: config.clone(),
        ..Stream::default()
    };
    state.streams.push(stream);
    answer(201, &config)
}

/// A poll at stream `id`: what `asked` acknowledges dropped, what it says
/// was refused kept, and the SETs left answered.
fn polled(state: &mut State, id: &str, asked: &Value) -> Reply {
    let Some(stream) = state.streams.iter_mut().find(|s| s.id == id) else {
        return answer(404, &json!({"error": "no such stream"}));
    };
    let acks: Vec<&str> = asked["ack"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let errors = asked["setErrs"].as_object().cloned().unwrap_or_default();
    let told: Vec<String> = errors.keys().cloned().collect();
    stream
        .queued
        .retain(|(jti, _)| !acks.contains(&jti.as_str()) && !told.contains(jti));
    stream.told.extend(errors);
    let most = asked["maxEvents"].as_u64().unwrap_or(10) as usize;
    let sets: Map<String, Value> = stream
        .queued
        .iter()
        .take(most)
        .map(|(jti, set)| (jti.clone(), json!(set)))
        .collect();
    let more = stream.queued.len() > most;
    answer(200, &json!({"sets": sets, "moreAvailable": more}))
}

/// A SET of `events` about `sub_id` (none: null) to every stream (or the one `only`
/// names): queued for a poll stream, pushed to a push stream, what each
/// push's receiver answered.
pub(super) fn emitted(
    state: &Mutex<State>,
    url: &str,
    (events, sub_id): (Value, Value),
    only: Option<&str>,
) -> Vec<Value> {
    let (streams, signer) = {
        let state = state.lock();
        (state.streams.clone(), state.signer)
    };
    let mut delivered = Vec::new();
    for stream in streams.iter().filter(|s| only.is_none_or(|id| id == s.id)) {
        let endpoint = stream.config["delivery"]["endpoint_url"]
            .as_str()
            .unwrap_or_default();
        let aud = match &stream.config["aud"] {
            Value::Null => origin_of(endpoint),
            aud => aud.clone(),
        };
        let jti = format!("set-{}-{}", stream.id, unique());
        let mut token = FakeToken::new("")
            .typ("secevent+jwt")
            .claim("jti", json!(jti));
        token.claims.insert("aud".into(), aud);
        token.claims.insert("events".into(), events.clone());
        if !sub_id.is_null() {
            token.claims.insert("sub_id".into(), sub_id.clone());
        }
        token.without_expiry = true;
        let set = sign(&token, signer, url);
        if stream.config["delivery"]["method"] == "urn:ietf:rfc:8936" {
            let mut state = state.lock();
            if let Some(kept) = state.streams.iter_mut().find(|s| s.id == stream.id) {
                kept.queued.push((jti.clone(), set));
            }
            delivered.push(json!({"stream_id": stream.id, "queued": jti}));
            continue;
        }
        let authorization = stream.config["delivery"]["authorization_header"]
            .as_str()
            .unwrap_or_default();
        let headers = [
            ("Authorization", authorization),
            ("Content-Type", "application/secevent+jwt"),
        ];
        let (status, body) = sent(("POST", endpoint), &headers, set);
        delivered.push(json!({"stream_id": stream.id, "status": status, "body": body}));
    }
    delivered
}

/// A Global Token Revocation sent to `asked.endpoint` for `asked.sub_id`,
/// authenticated by a JWT signed as Okta signs it (`aud` the endpoint's
/// origin, or `asked.aud`).
pub(super) fn logout(state: &Mutex<State>, url: &str, asked: &Value) -> Reply {
    let (status, body) = logged_out(state, url, asked);
    answer(200, &json!({"status": status, "body": body}))
}

/// [`logout`]'s request sent: what the endpoint answered.
pub(super) fn logged_out(state: &Mutex<State>, url: &str, asked: &Value) -> (u16, String) {
    let Some(endpoint) = asked["endpoint"].as_str() else {
        return (
            0,
            "{\"endpoint\": …, \"sub_id\": …} names where to send it".to_owned(),
        );
    };
    let aud = asked
        .get("aud")
        .cloned()
        .unwrap_or_else(|| origin_of(endpoint));
    let signer = state.lock().signer;
    let jti = format!("logout-{}", unique());
    let mut token = FakeToken::new("fake-universal-logout")
        .expires_in(300)
        .claim("jti", json!(jti));
    token.claims.insert("aud".into(), aud);
    let jwt = sign(&token, signer, url);
    let bearer = format!("Bearer {jwt}");
    let headers = [
        ("Authorization", bearer.as_str()),
        ("Content-Type", "application/json"),
    ];
    let body = json!({"sub_id": asked["sub_id"]}).to_string();
    sent(("POST", endpoint), &headers, body)
}

/// One SCIM request, as a provisioning service sends it.
fn scim(asked: &Value) -> Reply {
    let (Some(tenant), Some(token)) = (asked["tenant"].as_str(), asked["token"].as_str()) else {
        return refused(
            "invalid_request",
            "{\"tenant\", \"token\", \"method\", \"path\", \"body\"}",
        );
    };
    let method = asked["method"].as_str().unwrap_or("GET");
    let url = format!("{tenant}{}", asked["path"].as_str().unwrap_or("/Users"));
    let bearer = format!("Bearer {token}");
    let headers = [
        ("Authorization", bearer.as_str()),
        ("Content-Type", "application/scim+json"),
    ];
    let body = match &asked["body"] {
        Value::Null => String::new(),
        body => body.to_string(),
    };
    let (status, body) = sent((method, &url), &headers, body);
    answer(200, &json!({"status": status, "body": body}))
}

/// What `method url` with `headers` and `body` (none when empty) answered:
/// its status (0 when nothing answered) and its body as text.
fn sent((method, url): (&str, &str), headers: &[(&str, &str)], body: String) -> (u16, String) {
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build();
    let agent: ureq::Agent = config.into();
    let mut request = ureq::http::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let answered = match body.is_empty() {
        true => request.body(()).map(|r| agent.run(r)),
        false => request.body(body).map(|r| agent.run(r)),
    };
    match answered {
        Ok(Ok(mut answer)) => {
            let status = answer.status().as_u16();
            (
                status,
                answer.body_mut().read_to_string().unwrap_or_default(),
            )
        }
        _ => (0, String::new()),
    }
}

/// The origin of `url` (its scheme, host and port), as a receiver's
/// issuer identifier is.
fn origin_of(url: &str) -> Value {
    let after = url.find("://").map_or(0, |i| i + 3);
    let end = url[after..].find('/').map_or(url.len(), |i| after + i);
    json!(url[..end])
}

/// A number no other call of this process has had.
fn unique() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}
