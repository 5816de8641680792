//! Where the fake used to differ from the recorded real Gateway (#36): each
//! answer here is the real one's, over raw HTTP, and each test failed on
//! 0.4's fake. Hostile input never takes the fake down.

mod common;

use nexus_gateway_fake::{Broker, BrokerAnswer, FakeConnection, FakeGateway, FakeProvider, Route};
use nexus_sdk::{NexusClient, NexusClientOptions};
use serde_json::{Value, json};

fn raw(gateway: &FakeGateway, head: &str, body: &[u8]) -> (u16, String, String) {
    common::raw(&gateway.url(), head, body)
}

fn get(gateway: &FakeGateway, path: &str) -> (u16, String, String) {
    common::get(&gateway.url(), path)
}

fn resolve(gateway: &FakeGateway) -> (u16, String, String) {
    get(gateway, "/v1/resolve?workspace_id=ws&provider_name=github")
}

#[test]
fn a_revoke_with_an_id_that_is_not_a_uuid_is_the_gateways_json_400_even_when_bodyless() {
    let gateway = FakeGateway::start();
    for bodyless in [false, true] {
        gateway.bodyless_errors(bodyless);
        let head =
            "DELETE /v1/connections/12345 HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n";
        let (status, headers, body) = raw(&gateway, head, b"");
        assert_eq!(status, 400);
        assert!(
            headers.to_ascii_lowercase().contains("application/json"),
            "{headers}"
        );
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            body,
            json!({"error": "invalid_connection_id", "message": "connection_id must be a UUID"})
        );
    }
}

#[test]
fn a_failing_broker_on_resolve_passes_its_status_and_body_through() {
    let gateway = FakeGateway::start();
    gateway.add_provider("ws", "github", FakeProvider::oauth2("gho_x"));
    let decrypt = json!({"error": "decrypt_failed", "message": "stored token cannot be decrypted"});
    gateway.script_broker(Route::Resolve, BrokerAnswer::json(500, &decrypt));
    let (status, _, body) = resolve(&gateway);
    assert_eq!(
        (status, serde_json::from_str::<Value>(&body).unwrap()),
        (500, decrypt)
    );
    let down = json!({"error": "unavailable", "message": "maintenance"});
    gateway.script_broker(Route::Resolve, BrokerAnswer::json(503, &down));
    let (status, _, body) = resolve(&gateway);
    assert_eq!(
        (status, serde_json::from_str::<Value>(&body).unwrap()),
        (503, down)
    );
    // The Broker state's failure is the same pass-through.
    gateway.clear_broker_script();
    gateway.set_broker(Broker::Failing);
    assert_eq!(resolve(&gateway).0, 500);
}

#[test]
fn a_broker_200_that_is_not_json_or_a_204_is_502_broker_unexpected_status() {
    let gateway = FakeGateway::start();
    for (answer, seen) in [
        (
            BrokerAnswer::body(200, Some("text/html"), "<h1>maintenance</h1>"),
            "unexpected status 200",
        ),
        (BrokerAnswer::status(204), "unexpected status 204"),
    ] {
        gateway.script_broker(Route::Resolve, answer);
        let (status, _, body) = resolve(&gateway);
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(status, 502);
        assert_eq!(body["error"], "broker_unexpected_status");
        assert_eq!(body["message"], seen);
    }
}

#[test]
fn a_broker_200_with_a_json_body_not_labelled_json_is_502_broker_unexpected_status() {
    let gateway = FakeGateway::start();
    let token = r#"{"access_token":"gho_x","credentials":{"access_token":"gho_x"}}"#;
    for content_type in [Some("text/plain"), Some("text/plain; charset=utf-8"), None] {
        let answer = BrokerAnswer::body(200, content_type, token);
        gateway.script_broker(Route::Resolve, answer);
        let (status, _, body) = resolve(&gateway);
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(status, 502, "{content_type:?}");
        let expected =
            json!({"error": "broker_unexpected_status", "message": "unexpected status 200"});
        assert_eq!(body, expected, "{content_type:?}");
    }
    // Labelled JSON, in any of its spellings, it is the token.
    for content_type in [
        "application/json",
        "application/json; charset=utf-8",
        "application/problem+json",
    ] {
        gateway.script_broker(
            Route::Resolve,
            BrokerAnswer::body(200, Some(content_type), token),
        );
        assert_eq!(resolve(&gateway).0, 200, "{content_type}");
    }
    // What an SDK makes of it: the Gateway's 502, retried, then named.
    gateway.script_broker(
        Route::Resolve,
        BrokerAnswer::body(200, Some("text/plain"), token),
    );
    let client = NexusClient::new(NexusClientOptions::new(gateway.url())).unwrap();
    let err = client.resolve_token("ws", "github").unwrap_err();
    assert_eq!(err.status_code, Some(502));
    assert!(
        err.to_string().contains("broker_unexpected_status"),
        "{err}"
    );
}

#[test]
fn request_connection_finds_a_name_without_regard_to_case_and_resolve_exactly() {
    let gateway = FakeGateway::start();
    gateway.register_provider("twin");
    gateway.register_provider("Twin");
    let post = |provider: &str| {
        let body = json!({"user_id": "u", "provider_name": provider, "return_url": "https://a/"})
            .to_string();
        let head = format!(
            "POST /v1/request-connection HTTP/1.1\r\nHost: {{host}}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        raw(&gateway, &head, body.as_bytes())
    };
    let (status, _, body) = post("TWIN");
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("provider_ambiguous"));
    gateway.register_provider("solo");
    assert_eq!(post("SOLO").0, 200);
    // Resolve matches the name exactly, as the Broker's query does.
    gateway.add_provider("ws", "GitHub", FakeProvider::oauth2("gho_case"));
    let (status, _, body) = resolve(&gateway);
    assert_eq!(status, 404, "`github` does not find `GitHub`: {body}");
    assert!(body.contains("connection_not_found"), "{body}");
    gateway.add_provider("ws", "github", FakeProvider::oauth2("gho_exact"));
    let (status, _, body) = resolve(&gateway);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("gho_exact"), "{body}");
}

#[test]
fn a_failing_brokers_token_refresh_and_revoke_answers_are_bare_when_bodyless() {
    let gateway = FakeGateway::start();
    let id = "6a1f3c2e-9b8d-4e7f-a012-3b4c5d6e7f80";
    gateway.add_connection(id, FakeConnection::active("github", "t"));
    gateway.set_broker(Broker::Failing);
    gateway.bodyless_errors(true);
    for (method, path) in [
        ("GET", format!("/v1/token/{id}")),
        ("POST", format!("/v1/refresh/{id}")),
        ("DELETE", format!("/v1/connections/{id}")),
    ] {
        let length = if method == "POST" {
            "Content-Length: 0\r\n"
        } else {
            ""
        };
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {{host}}\r\n{length}Connection: close\r\n\r\n"
        );
        let (status, _, body) = raw(&gateway, &head, b"");
        assert_eq!((status, body.as_str()), (500, ""), "{method} {path}");
    }
}

#[test]
fn an_oauth2_resolve_carries_the_brokers_top_level_fields() {
    let gateway = FakeGateway::start();
    gateway.add_provider("ws", "github", FakeProvider::oauth2("gho_top"));
    let (status, _, body) = resolve(&gateway);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status, 200);
    assert_eq!(body["access_token"], "gho_top");
    assert_eq!(body["token_type"], "bearer");
    let expiry = body["expiry"]
        .as_str()
        .expect("an RFC 3339 expiry at the top level");
    assert_eq!(Some(expiry), body["credentials"]["expires_at"].as_str());
}

#[test]
fn an_overflowing_chunk_size_is_refused_at_once_and_the_fake_keeps_serving() {
    let gateway = FakeGateway::start();
    let head = "POST /v1/request-connection HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    for size in ["FFFFFFFFFFFFFFFF", "FFFFFFFFFFFFFFF0", "4000001"] {
        let body = format!("1\r\na\r\n{size}\r\n");
        let (status, _, _) = raw(&gateway, head, body.as_bytes());
        assert!((400..500).contains(&status), "{size}: {status}");
    }
    assert_eq!(get(&gateway, "/health").0, 200, "still serving");
}
