//! Connect on first use, driven by the official MCP Python client
//! (`tests/clients/connect.py`, whose elicitation callback opens the consent
//! URL as a user's browser would): first use connects and the call succeeds;
//! four concurrent calls start one connection; a user who declines; a
//! client without URL elicitation; a provider `--connect` does not name; a
//! revoked connection and one needing attention connected again; the
//! consent URL in no tool result.
//!
//! They need the client (`pip install mcp==2.3.0`, its Python named by
//! `NEXUS_MCP_PYTHON`), so plain `cargo test` lists them as ignored; CI
//! runs them.

mod common;

use common::clients::{self, drive_node, fetches, no_consent_url_for_the_model};
use common::gateway;
use nexus_gateway_fake::{FakeConnection, FakeGateway, Fault, Route};
use serde_json::Value;

/// The Python client's summary of `scenario` against `nexus-mcp args`
/// (MCP 2025-11-25, `ClientSession` after `initialize`).
fn drive(gateway: &FakeGateway, scenario: &str, url: &str, args: &[&str]) -> Value {
    clients::drive(gateway, ("connect.py", "2025"), scenario, url, args).0
}

fn results(summary: &Value) -> &[Value] {
    summary["results"].as_array().expect("results")
}

#[test]
#[ignore = "needs the official MCP Python client: NEXUS_MCP_PYTHON"]
fn first_use_connects_once_for_four_calls_and_every_call_succeeds() {
    let (gateway, api) = gateway();
    let url = format!("{}/user", api.url());
    let summary = drive(
        &gateway,
        "accept",
        &url,
        &["--connect", "github=repo,read:user"],
    );
    for result in fetches(&summary) {
        assert_eq!(result["is_error"], false, "{result}");
        assert_eq!(result["structured"]["status"], 200, "{result}");
    }
    let asked = summary["asked"].as_array().unwrap();
    assert_eq!(
        asked.len(),
        1,
        "one consent for four concurrent calls: {summary}"
    );
    assert_eq!(asked[0]["mode"], "url");
    let message = asked[0]["message"].as_str().unwrap();
    assert!(
        message.contains("github") && message.contains("ws-new"),
        "{message}"
    );
    assert!(
        !message.contains("http"),
        "the message holds no URL: {message}"
    );
    assert!(
        asked[0]["url"].as_str().unwrap().starts_with("http://"),
        "{summary}"
    );
    assert_eq!(gateway.requests(Route::RequestConnection), 1);
    let requested = gateway.last_request_to(Route::RequestConnection).unwrap();
    let body: Value = serde_json::from_slice(&requested.body).unwrap();
    assert_eq!(body["user_id"], "ws-new", "the workspace is the user");
    assert_eq!(body["scopes"], serde_json::json!(["repo", "read:user"]));
    assert_eq!(body["return_url"], "http://localhost/nexus/connected");
    let sent = api.last_request().unwrap();
    let bearer = sent.header("authorization").unwrap_or_default();
    assert!(
        bearer.starts_with("Bearer fake-github-token-"),
        "the new connection's token: {bearer}"
    );
    no_consent_url_for_the_model(&summary);
}

#[test]
#[ignore = "needs the official MCP Python client: NEXUS_MCP_PYTHON"]
fn a_user_who_declines_is_not_asked_again_within_a_minute() {
    let (gateway, api) = gateway();
    let summary = drive(
        &gateway,
        "decline",
        &format!("{}/user", api.url()),
        &["--connect", "github"],
    );
    for result in fetches(&summary) {
        assert_eq!(result["is_error"], true, "{result}");
        assert!(
            result["text"].as_str().unwrap().contains("declined"),
            "{result}"
        );
    }
    assert_eq!(summary["asked"].as_array().unwrap().len(), 1, "{summary}");
    assert_eq!(api.requests().len(), 0, "nothing was sent");
    no_consent_url_for_the_model(&summary);
}

#[test]
#[ignore = "needs the official MCP Python client: NEXUS_MCP_PYTHON"]
fn a_client_without_url_elicitation_is_told_who_can_connect_it() {
    let (gateway, api) = gateway();
    let summary = drive(
        &gateway,
        "none",
        &format!("{}/user", api.url()),
        &["--connect", "github"],
    );
    for result in fetches(&summary) {
        assert_eq!(result["is_error"], true, "{result}");
        let text = result["text"].as_str().unwrap();
        assert!(
            text.contains("not connected for workspace `ws-new`"),
            "{text}"
        );
        assert!(text.contains("nexus connect ws-new github"), "{text}");
    }
    assert_eq!(gateway.requests(Route::RequestConnection), 0);
}

#[test]
#[ignore = "needs the official MCP Python client: NEXUS_MCP_PYTHON"]
fn a_provider_connect_does_not_name_is_never_connected_by_the_model() {
    let (gateway, api) = gateway();
    let url = format!("{}/user", api.url());
    for args in [&["--connect", "stripe"][..], &[]] {
        let summary = drive(&gateway, "accept", &url, args);
        for result in fetches(&summary) {
            assert_eq!(result["is_error"], true, "{args:?}: {result}");
            assert!(
                result["text"]
                    .as_str()
                    .unwrap()
                    .starts_with("connection_not_found"),
                "{result}"
            );
        }
        assert_eq!(
            summary["asked"].as_array().unwrap().len(),
            0,
            "{args:?}: {summary}"
        );
    }
    assert_eq!(gateway.requests(Route::RequestConnection), 0);
}

#[test]
#[ignore = "needs the official MCP Python client: NEXUS_MCP_PYTHON"]
fn a_revoked_connection_and_one_needing_attention_are_connected_again() {
    let (gateway, api) = gateway();
    let url = format!("{}/user", api.url());
    let old = "3f1b2c4d-0000-4000-8000-0000000000aa";
    gateway.add_connection(
        old,
        FakeConnection::active("github", "gho_old").workspace("ws-new"),
    );
    gateway.set_status(old, "revoked");
    let summary = drive(&gateway, "accept", &url, &["--connect", "github"]);
    assert!(
        fetches(&summary).iter().all(|r| r["is_error"] == false),
        "{summary}"
    );
    assert_eq!(summary["asked"].as_array().unwrap().len(), 1);
    // Now active, but its token cannot be used: the Broker answers 409 once.
    let attention = r#"{"error":"attention_required","detail":"the user must reconnect"}"#;
    gateway.push_fault_for(
        Route::Resolve,
        Fault::body(409, Some("application/json"), attention),
    );
    let summary = drive(&gateway, "accept", &url, &["--connect", "github"]);
    assert!(
        fetches(&summary).iter().all(|r| r["is_error"] == false),
        "{summary}"
    );
    assert_eq!(summary["asked"].as_array().unwrap().len(), 1, "{summary}");
    assert_eq!(gateway.requests(Route::RequestConnection), 2);
    no_consent_url_for_the_model(&summary);
}

#[test]
#[ignore = "needs the official MCP clients: npm ci --prefix nexus-mcp/tests/clients"]
fn the_official_typescript_client_connects_on_first_use_too() {
    let (gateway, api) = gateway();
    let (summary, _) = drive_node("connect.mjs", "", &gateway, &api.url());
    for result in results(&summary) {
        assert_eq!(result["is_error"], false, "{result}");
        assert!(!result.to_string().contains("/fake/authorize"), "{result}");
    }
    let asked = summary["asked"].as_array().unwrap();
    assert_eq!(asked.len(), 1, "{summary}");
    assert_eq!(asked[0]["mode"], "url");
    assert_eq!(gateway.requests(Route::RequestConnection), 1);
}
