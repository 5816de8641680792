//! The connection lifecycle against the FakeGateway: request, check, wait,
//! token, refresh, revoke, health; input checks; what goes on the wire.

mod common;

use std::time::{Duration, Instant};

use common::{client, client_with};
use nexus_sdk::testing::{FakeConnection, FakeGateway, Fault, Route};
use nexus_sdk::{ConnectionStatus, ErrorKind, RequestConnectionInput, RevokeOptions};
use serde_json::{Value, json};

fn github_input() -> RequestConnectionInput {
    RequestConnectionInput::new("user-42", "github")
        .scopes(["repo", "read:user"])
        .return_url("https://app.example/done")
}

#[test]
fn request_connection_parses_auth_url_and_connection_id() {
    let gateway = FakeGateway::start();
    let started = client(&gateway)
        .request_connection(&github_input())
        .unwrap();

    assert!(
        started.auth_url.starts_with(&gateway.url()),
        "{}",
        started.auth_url
    );
    assert!(started.auth_url.contains(&started.connection_id));
    assert!(started.state.is_some());
    assert_eq!(
        started.scopes,
        Some(vec!["repo".to_owned(), "read:user".to_owned()])
    );
    assert_eq!(
        started.provider_id, None,
        "an empty provider_id reads as None"
    );

    let sent = gateway.last_request_to(Route::RequestConnection).unwrap();
    assert_eq!(sent.method, "POST");
    assert_eq!(sent.header("content-type"), Some("application/json"));
    assert_eq!(sent.header("accept"), Some("application/json"));
    assert!(
        sent.header("user-agent")
            .unwrap()
            .starts_with("nexus-gateway-sdk/")
    );
    let body: Value = serde_json::from_slice(&sent.body).unwrap();
    assert_eq!(
        body,
        json!({"user_id": "user-42", "provider_name": "github",
               "scopes": ["repo", "read:user"], "return_url": "https://app.example/done"})
    );
}

#[test]
fn request_connection_sends_metadata_when_set() {
    let gateway = FakeGateway::start();
    let input = github_input().metadata(json!({"team": "core"}).as_object().unwrap().clone());
    client(&gateway).request_connection(&input).unwrap();
    let sent = gateway.last_request_to(Route::RequestConnection).unwrap();
    let body: Value = serde_json::from_slice(&sent.body).unwrap();
    assert_eq!(body["metadata"], json!({"team": "core"}));
}

#[test]
fn standard_app_flow_end_to_end() {
    let gateway = FakeGateway::start();
    let client = client(&gateway);
    let started = client.request_connection(&github_input()).unwrap();
    assert_eq!(
        client.check_connection(&started.connection_id).unwrap(),
        ConnectionStatus::Pending
    );
    // The user consents: the fake's auth_url marks the connection active.
    let consent = ureq::get(&started.auth_url).call().unwrap();
    assert_eq!(consent.status(), 200);
    let status = client
        .wait_for_active_with(
            &started.connection_id,
            Duration::from_millis(10),
            Duration::from_secs(5),
        )
        .unwrap();
    assert_eq!(status, ConnectionStatus::Active);
    let token = client
        .get_token_by_connection_id(&started.connection_id)
        .unwrap();
    assert_eq!(token.access_token, "fake-github-token-1");
    assert_eq!(token.token_type.as_deref(), Some("bearer"));
    assert_eq!(token.expires_in, Some(3600));
    assert!(token.expires_at.is_some());
}

#[test]
fn check_connection_reads_every_status() {
    let gateway = FakeGateway::start();
    let client = client(&gateway);
    for (status, expected) in [
        ("active", ConnectionStatus::Active),
        ("pending", ConnectionStatus::Pending),
        ("failed", ConnectionStatus::Failed),
        ("revoked", ConnectionStatus::Revoked),
        ("paused", ConnectionStatus::Other("paused".into())),
    ] {
        gateway.add_connection("c", FakeConnection::active("github", "t"));
        gateway.set_status("c", status);
        assert_eq!(client.check_connection("c").unwrap(), expected);
    }
    let sent = gateway.last_request_to(Route::CheckConnection).unwrap();
    assert_eq!(
        (sent.method.as_str(), sent.path.as_str()),
        ("GET", "/v1/check-connection/c")
    );
}

#[test]
fn ids_are_one_encoded_path_segment() {
    let gateway = FakeGateway::start();
    let client = client(&gateway);
    for (id, wire) in [
        ("a/b", "a%2Fb"),
        ("../x", "..%2Fx"),
        ("with space", "with%20space"),
        ("café-ü", "caf%C3%A9-%C3%BC"),
        ("q?x=1#f", "q%3Fx%3D1%23f"),
    ] {
        gateway.add_connection(id, FakeConnection::active("github", "t"));
        assert_eq!(
            client.check_connection(id).unwrap(),
            ConnectionStatus::Active,
            "{id}"
        );
        let sent = gateway.last_request_to(Route::CheckConnection).unwrap();
        assert_eq!(sent.path, format!("/v1/check-connection/{wire}"));
        client.get_token_by_connection_id(id).unwrap();
        assert_eq!(
            gateway.last_request_to(Route::Token).unwrap().path,
            format!("/v1/token/{wire}")
        );
    }
}

#[test]
fn blank_ids_are_refused_before_any_io() {
    let gateway = FakeGateway::start();
    let client = client(&gateway);
    for blank in ["", " ", "\t\n"] {
        let errors = [
            client.check_connection(blank).unwrap_err(),
            client.wait_for_active(blank).unwrap_err(),
            client.get_token_by_connection_id(blank).unwrap_err(),
            client.refresh_connection(blank).unwrap_err(),
            client
                .revoke_connection(blank, &RevokeOptions::default())
                .unwrap_err(),
            client
                .request_connection(&RequestConnectionInput::new(blank, "github"))
                .unwrap_err(),
            client
                .request_connection(&RequestConnectionInput::new("user-42", blank))
                .unwrap_err(),
        ];
        for err in errors {
            assert_eq!(err.code, "invalid_input");
            assert_eq!(err.kind(), ErrorKind::InvalidInput);
            assert_eq!(err.status_code, None);
        }
    }
    assert_eq!(gateway.total_requests(), 0);
}

#[test]
fn revoke_sends_the_query_and_reports_a_provider_failure() {
    let gateway = FakeGateway::start();
    gateway.add_connection(
        "c-1",
        FakeConnection::active("google", "t")
            .provider_revocation_error("provider does not advertise a revocation endpoint"),
    );
    let client = client(&gateway);
    let options = RevokeOptions::default()
        .workspace_id("ws 1")
        .reason("user_request&more");
    let result = client.revoke_connection("c-1", &options).unwrap();
    let sent = gateway.last_request_to(Route::Revoke).unwrap();
    assert_eq!(
        (sent.method.as_str(), sent.path.as_str()),
        ("DELETE", "/v1/connections/c-1")
    );
    assert_eq!(sent.query, "workspace_id=ws+1&reason=user_request%26more");
    assert_eq!(result.status, "revoked");
    assert_eq!(result.connection_id.as_deref(), Some("c-1"));
    assert_eq!(result.provider_name.as_deref(), Some("google"));
    assert!(result.token_deleted && !result.already_revoked && !result.provider_revoked);
    assert_eq!(
        result.provider_revocation_error.as_deref(),
        Some("provider does not advertise a revocation endpoint")
    );

    // Idempotent: the second call says it was already revoked.
    let again = client
        .revoke_connection("c-1", &RevokeOptions::default())
        .unwrap();
    assert!(again.already_revoked);
    assert_eq!(gateway.last_request_to(Route::Revoke).unwrap().query, "");
}

#[test]
fn refresh_rotates_the_token() {
    let gateway = FakeGateway::start();
    gateway.add_connection("c", FakeConnection::active("github", "gho_a"));
    let client = client(&gateway);
    let refreshed = client.refresh_connection("c").unwrap();
    assert_eq!(refreshed.access_token, "gho_a-r1");
    let sent = gateway.last_request_to(Route::Refresh).unwrap();
    assert_eq!((sent.method.as_str(), sent.body.len()), ("POST", 0));
    assert_eq!(
        sent.header("content-type"),
        None,
        "no body, no content type"
    );
    assert_eq!(
        client.get_token_by_connection_id("c").unwrap().access_token,
        "gho_a-r1"
    );
}

#[test]
fn token_of_a_revoked_connection_is_gone() {
    let gateway = FakeGateway::start();
    gateway.add_connection("c", FakeConnection::active("github", "t"));
    gateway.set_status("c", "revoked");
    let err = client(&gateway)
        .get_token_by_connection_id("c")
        .unwrap_err();
    assert_eq!(
        (err.code.as_str(), err.status_code),
        ("connection_revoked", Some(410))
    );
    assert_eq!(err.kind(), ErrorKind::Gone);
    let err = client(&gateway)
        .get_token_by_connection_id("nope")
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
}

#[test]
fn health() {
    let gateway = FakeGateway::start();
    client(&gateway).health().unwrap();
    gateway.push_fault(Fault::body(503, Some("text/plain"), "draining"));
    let err = client(&gateway).health().unwrap_err();
    assert_eq!(
        (err.code.as_str(), err.status_code),
        ("max_retries_exceeded", Some(503))
    );
    assert!(
        err.message.contains("http_503: draining"),
        "{}",
        err.message
    );
    gateway.push_fault(Fault::body(500, Some("text/plain"), "broken"));
    let err = client(&gateway).health().unwrap_err();
    assert_eq!(
        (err.code.as_str(), err.message.as_str()),
        ("http_500", "broken")
    );
}

#[test]
fn api_key_is_sent_when_set_and_absent_when_not() {
    let gateway = FakeGateway::start();
    gateway.add_connection("c", FakeConnection::active("github", "t"));
    client(&gateway).check_connection("c").unwrap();
    assert_eq!(gateway.last_request().unwrap().header("x-api-key"), None);

    gateway.require_api_key("nx_key_1");
    let err = client(&gateway).check_connection("c").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized);
    let keyed = client_with(&gateway, |o| o.api_key = "nx_key_1".into());
    keyed.check_connection("c").unwrap();
    assert_eq!(
        gateway.last_request().unwrap().header("x-api-key"),
        Some("nx_key_1")
    );
}

#[test]
fn wait_for_active_reaches_active() {
    let gateway = FakeGateway::start();
    gateway.add_connection("c", FakeConnection::pending("github", "t", Some(3)));
    let status = client(&gateway)
        .wait_for_active_with("c", Duration::from_millis(5), Duration::from_secs(5))
        .unwrap();
    assert_eq!(status, ConnectionStatus::Active);
    assert_eq!(gateway.requests(Route::CheckConnection), 4);
}

#[test]
fn wait_for_active_returns_failed_and_revoked() {
    let gateway = FakeGateway::start();
    let client = client(&gateway);
    for terminal in ["failed", "revoked"] {
        gateway.add_connection("c", FakeConnection::active("github", "t"));
        gateway.set_status("c", terminal);
        let status = client
            .wait_for_active_with("c", Duration::from_secs(60), Duration::from_secs(60))
            .unwrap();
        assert_eq!(status.as_str(), terminal);
    }
}

#[test]
fn wait_for_active_times_out() {
    let gateway = FakeGateway::start();
    gateway.add_connection("c", FakeConnection::pending("github", "t", None));
    let started = Instant::now();
    let err = client(&gateway)
        .wait_for_active_with("c", Duration::from_millis(20), Duration::from_millis(200))
        .unwrap_err();
    assert_eq!(
        (err.code.as_str(), err.kind()),
        ("timeout", ErrorKind::Timeout)
    );
    assert!(err.message.contains("pending"), "{}", err.message);
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert!(gateway.requests(Route::CheckConnection) >= 2);
}

#[test]
fn wait_for_active_checks_once_even_with_no_time() {
    let gateway = FakeGateway::start();
    gateway.add_connection("c", FakeConnection::active("github", "t"));
    let status = client(&gateway)
        .wait_for_active_with("c", Duration::from_secs(1), Duration::ZERO)
        .unwrap();
    assert_eq!(status, ConnectionStatus::Active);
}

#[test]
fn debug_hides_tokens() {
    let gateway = FakeGateway::start();
    gateway.add_connection("c", FakeConnection::active("github", "gho_very_secret"));
    let token = client(&gateway).get_token_by_connection_id("c").unwrap();
    assert_eq!(token.access_token, "gho_very_secret");
    let debug = format!("{token:?}");
    assert!(!debug.contains("gho_very_secret"), "{debug}");
}
