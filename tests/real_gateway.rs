//! The Gateway as it was measured, end to end: the FakeGateway answers as
//! the real one does, and the SDK follows the rules written for it (the
//! wire contract's "The real Gateway, measured", items 1–9).

mod common;

use std::io::Read;
use std::time::{Duration, Instant};

use common::{C, client, client_with, fast_retries};
use nexus_gateway_fake::{Broker, FakeConnection, FakeGateway, FakeProvider, RateLimits, Route};
use nexus_sdk::{
    DEFAULT_TIMEOUT, ErrorKind, NexusClientOptions, RequestConnectionInput, TokenCache, code,
};
use serde_json::json;

fn input(provider: &str) -> RequestConnectionInput {
    RequestConnectionInput::new("user-42", provider).return_url("https://app.example/done")
}

/// A raw GET to the fake, for what the SDK does not expose: (status,
/// content type, body).
fn raw(gateway: &FakeGateway, method: &str, path: &str) -> (u16, Option<String>, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let url = format!("{}{path}", gateway.url());
    let request = ureq::http::Request::builder()
        .method(method)
        .uri(url)
        .body(())
        .unwrap();
    let mut response = agent.run(request).unwrap();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    let mut body = String::new();
    response
        .body_mut()
        .as_reader()
        .read_to_string(&mut body)
        .unwrap();
    (response.status().as_u16(), content_type, body)
}

#[test]
fn the_default_timeout_outlasts_the_gateways_broker_timeout() {
    assert_eq!(DEFAULT_TIMEOUT, Duration::from_secs(35));
    assert_eq!(NexusClientOptions::new("http://x").timeout, DEFAULT_TIMEOUT);
}

#[test]
fn request_connection_needs_a_known_unambiguous_provider() {
    let gateway = FakeGateway::start();
    let client = client(&gateway);
    let err = client.request_connection(&input("github")).unwrap_err();
    assert_eq!(
        (err.code.as_str(), err.kind()),
        ("provider_not_found", ErrorKind::NotFound)
    );
    gateway.register_provider("github");
    client.request_connection(&input("github")).unwrap();
    gateway.register_provider("github");
    let err = client.request_connection(&input("github")).unwrap_err();
    assert_eq!(
        (err.code.as_str(), err.kind()),
        ("provider_ambiguous", ErrorKind::Conflict)
    );
    // A provider served by /v1/resolve is known too.
    gateway.add_provider("ws", "slack", FakeProvider::oauth2("t"));
    client.request_connection(&input("slack")).unwrap();
}

#[test]
fn an_empty_return_url_is_refused_before_any_io() {
    let gateway = FakeGateway::start();
    gateway.register_provider("github");
    for blank in ["", "  "] {
        let err = client(&gateway)
            .request_connection(&input("github").return_url(blank))
            .unwrap_err();
        assert_eq!(err.code, code::INVALID_INPUT);
        assert!(err.message.contains("return_url"), "{}", err.message);
    }
    assert_eq!(gateway.total_requests(), 0);
}

#[test]
fn a_broker_refusal_is_the_gateways_error_and_not_retried() {
    let gateway = FakeGateway::start();
    gateway.register_provider("github");
    gateway.refuse_return_url("https://evil.example");
    let client = client_with(&gateway, |o| o.retry_policy = fast_retries(3));
    let err = client
        .request_connection(&input("github").return_url("https://evil.example/x"))
        .unwrap_err();
    assert_eq!(
        (err.code.as_str(), err.status_code),
        ("broker_error", Some(502))
    );
    assert_eq!(gateway.requests(Route::RequestConnection), 1, "no retry");
    // A Broker that fails (5xx) behind request-connection is a 502
    // `broker_error` with `"status":500`: retried as every 502 is.
    gateway.set_broker(Broker::Failing);
    let err = client
        .request_connection(&input("github").return_url("https://app.example/x"))
        .unwrap_err();
    assert_eq!(err.code, code::MAX_RETRIES_EXCEEDED);
    assert_eq!(gateway.requests(Route::RequestConnection), 5);
    // Behind resolve, the Broker's 500 passes through: not a 502, not retried.
    let err = client.resolve_token("ws", "github").unwrap_err();
    assert_eq!(
        (err.code.as_str(), err.status_code),
        ("internal_error", Some(500))
    );
    assert_eq!(gateway.requests(Route::Resolve), 1);
}

#[test]
fn check_connection_while_the_broker_is_down() {
    let gateway = FakeGateway::start();
    gateway.add_connection(C, FakeConnection::pending("github", "t", None));
    let client = client(&gateway);
    gateway.set_broker(Broker::Failing);
    assert_eq!(
        client.check_connection(C).unwrap(),
        nexus_sdk::ConnectionStatus::Pending,
        "a Broker 5xx reads pending"
    );
    gateway.set_broker(Broker::Unreachable);
    let err = client.check_connection(C).unwrap_err();
    assert_eq!(
        (err.status_code, err.kind()),
        (Some(502), ErrorKind::Server)
    );
    let (status, content_type, _) = raw(&gateway, "GET", &format!("/v1/check-connection/{C}"));
    assert_eq!(status, 502);
    assert!(content_type.unwrap_or_default().starts_with("text/plain"));
}

#[test]
fn a_hung_broker_is_a_502_after_the_gateways_broker_timeout() {
    let gateway = FakeGateway::start();
    gateway.add_provider("ws", "github", FakeProvider::oauth2("t"));
    gateway.set_broker(Broker::Hung);
    gateway.set_broker_timeout(Duration::from_millis(50));
    let started = Instant::now();
    let err = client(&gateway).resolve_token("ws", "github").unwrap_err();
    assert!(started.elapsed() >= Duration::from_millis(50));
    assert_eq!(err.status_code, Some(502));
    let source = std::error::Error::source(&err).map(ToString::to_string);
    assert!(
        source.unwrap_or_default().starts_with("broker_unavailable"),
        "{err}"
    );
}

#[test]
fn whole_second_retry_after_is_a_floor() {
    let gateway = FakeGateway::start();
    gateway.add_provider("ws", "github", FakeProvider::oauth2("t"));
    // One resolve a (one-second) minute per workspace.
    let minute = Duration::from_secs(1);
    let limits = RateLimits {
        enabled: true,
        resolve_rpm: 1,
        minute,
        ..RateLimits::default()
    };
    gateway.set_rate_limits(limits);
    let policy = fast_retries(1).retry_on_429(true);
    let client = client_with(&gateway, |o| o.retry_policy = policy);
    client.resolve_token("ws", "github").unwrap();
    // Less than a second is left: the Gateway says `Retry-After: 0`, and
    // a retry after 1 s is let through.
    let started = Instant::now();
    client.resolve_token("ws", "github").unwrap();
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(gateway.requests(Route::Resolve), 3);
    // Another workspace has its own bucket.
    gateway.add_provider("ws-2", "github", FakeProvider::oauth2("t"));
    let no_retry = common::client(&gateway);
    no_retry.resolve_token("ws-2", "github").unwrap();
    let err = no_retry.resolve_token("ws-2", "github").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RateLimited);
}

#[test]
fn rate_limit_answers_are_plain_text_with_a_whole_second_retry_after() {
    let gateway = FakeGateway::start();
    gateway.add_connection(C, FakeConnection::active("github", "t"));
    let limits = RateLimits {
        enabled: true,
        token_rpm: 1,
        ..RateLimits::default()
    };
    gateway.set_rate_limits(limits);
    let path = format!("/v1/token/{C}");
    assert_eq!(raw(&gateway, "GET", &path).0, 200);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let response = agent
        .get(format!("{}{path}", gateway.url()))
        .call()
        .unwrap();
    assert_eq!(response.status().as_u16(), 429);
    let header = |name: &str| response.headers()[name].to_str().unwrap().to_owned();
    assert_eq!(header("content-type"), "text/plain; charset=utf-8");
    assert_eq!(header("x-content-type-options"), "nosniff");
    let retry_after: u64 = header("retry-after").parse().unwrap();
    assert!((58..=59).contains(&retry_after), "{retry_after}");
    let body = response.into_body().read_to_string().unwrap();
    assert_eq!(body, "Too Many Requests\n");
    // Refresh is a bucket of its own (from the same figure); check is not limited.
    client(&gateway).refresh_connection(C).unwrap();
    let err = client(&gateway).refresh_connection(C).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RateLimited);
    client(&gateway).check_connection(C).unwrap();
}

#[test]
fn token_answers_are_reserialised() {
    let gateway = FakeGateway::start();
    let body = json!({"access_token": "t1", "api_base_url": "https://api.example",
                      "provider": "x", "credentials": {"access_token": "t1", "kept": 1}});
    gateway.add_provider("ws", "typed", FakeProvider::raw(body));
    let bad_expiry =
        json!({"access_token": "t", "expiry": "tomorrow", "credentials": {"access_token": "t"}});
    gateway.add_provider("ws", "bad", FakeProvider::raw(bad_expiry));
    let client = client(&gateway);
    client.resolve_token("ws", "typed").unwrap();
    let (_, _, answer) = raw(
        &gateway,
        "GET",
        "/v1/resolve?workspace_id=ws&provider_name=typed",
    );
    let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(
        answer,
        json!({"access_token": "t1", "credentials": {"access_token": "t1", "kept": 1}})
    );
    let err = client.resolve_token("ws", "bad").unwrap_err();
    assert_eq!(err.status_code, Some(502));
    let cache = TokenCache::new();
    assert!(client.get_cached_token(&cache, "ws", "bad").is_err());
    assert!(cache.is_empty());
}

#[test]
fn small_things_as_the_gateway_answers_them() {
    let gateway = FakeGateway::start();
    gateway.register_provider("github");
    let (status, _, body) = raw(&gateway, "GET", "/health");
    assert_eq!((status, body.as_str()), (200, r#"{"status":"healthy"}"#));
    let (status, content_type, body) = raw(&gateway, "GET", "/v1/nowhere");
    assert_eq!((status, body.as_str()), (404, "404 page not found"));
    assert!(content_type.unwrap_or_default().starts_with("text/plain"));
    let (status, _, body) = raw(&gateway, "POST", "/v1/resolve");
    assert_eq!((status, body.as_str()), (405, ""));
    // `&` in authUrl arrives as \u0026, and reads back as `&`.
    let started = client(&gateway)
        .request_connection(&input("github"))
        .unwrap();
    assert!(started.auth_url.contains('&'), "{}", started.auth_url);
    let sent = gateway.last_request_to(Route::RequestConnection).unwrap();
    assert_eq!(sent.path, "/v1/request-connection");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let answer = agent
        .post(format!("{}/v1/request-connection", gateway.url()))
        .send(r#"{"user_id":"u","provider_name":"github","return_url":"https://a/"}"#)
        .unwrap()
        .into_body()
        .read_to_string()
        .unwrap();
    assert!(answer.contains("\\u0026"), "{answer}");
}

const ID: &str = "6a1f3c2e-9b8d-4e7f-a012-3b4c5d6e7f80";

#[test]
fn a_connection_id_that_is_not_a_uuid_is_a_bare_400_on_the_broker_routes_when_bodyless() {
    let gateway = FakeGateway::start();
    gateway.bodyless_errors(true);
    for (method, path) in [
        ("GET", "/v1/token/conn-1"),
        ("POST", "/v1/refresh/not%20a%20uuid"),
    ] {
        assert_eq!(
            raw(&gateway, method, path),
            (400, None, String::new()),
            "{path}"
        );
    }
    // Revoke's id is checked by the Gateway itself: JSON, bodyless or not.
    let revoke = raw(&gateway, "DELETE", "/v1/connections/12345");
    let json = r#"{"error":"invalid_connection_id","message":"connection_id must be a UUID"}"#;
    assert_eq!(
        revoke,
        (400, Some("application/json".to_owned()), json.to_owned())
    );
    let err = client(&gateway)
        .get_token_by_connection_id("conn-1")
        .unwrap_err();
    assert_eq!(
        (err.code.as_str(), err.kind()),
        ("http_400", ErrorKind::InvalidInput)
    );
    // With the Broker's body forwarded (Nexus 0.4.0), the code is named.
    gateway.bodyless_errors(false);
    let err = client(&gateway)
        .get_token_by_connection_id("conn-1")
        .unwrap_err();
    assert_eq!(err.code, "invalid_connection_id");
}

#[test]
fn refreshing_a_static_credential_is_a_400_not_a_new_token() {
    let gateway = FakeGateway::start();
    gateway.add_connection(
        ID,
        FakeConnection::active("stripe", "sk_live_x").static_credential(),
    );
    let err = client(&gateway).refresh_connection(ID).unwrap_err();
    assert_eq!(
        (err.status_code, err.kind()),
        (Some(400), ErrorKind::InvalidInput)
    );
    assert_eq!(err.code, "refresh_not_supported");
    gateway.bodyless_errors(true);
    let err = client(&gateway).refresh_connection(ID).unwrap_err();
    assert_eq!(err.code, "http_400");
    // The stored key is unchanged, and still served.
    let token = client(&gateway).get_token_by_connection_id(ID).unwrap();
    assert_eq!(token.access_token, "sk_live_x");
}

#[test]
fn an_undecryptable_token_is_a_bare_500_and_check_connection_says_pending() {
    let gateway = FakeGateway::start();
    gateway.bodyless_errors(true);
    gateway.add_connection(
        ID,
        FakeConnection::active("github", "gho_x").undecryptable(),
    );
    assert_eq!(
        raw(&gateway, "GET", &format!("/v1/token/{ID}")),
        (500, None, String::new())
    );
    let err = client(&gateway).get_token_by_connection_id(ID).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Server);
    let status = client(&gateway).check_connection(ID).unwrap();
    assert_eq!(status, nexus_sdk::ConnectionStatus::Pending);
}

#[test]
#[should_panic(expected = "is not a UUID")]
fn the_fake_refuses_a_connection_id_its_routes_would_refuse() {
    FakeGateway::start().add_connection("conn-1", FakeConnection::active("github", "gho_x"));
}
