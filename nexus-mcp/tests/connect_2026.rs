//! Connect on first use on MCP 2026-07-28, driven by the official MCP Python
//! client's `mcp.Client` in its default mode (`server/discover`, no
//! `initialize`): a call that needs the user answers `input_required` with
//! one URL-mode elicitation and a sealed `requestState`, and the retry that
//! carries the user's answer is held until the connection is active. Also,
//! in both eras, a call its client cancels while it is held for the user.
//!
//! They need the client (`pip install mcp==2.3.0`, its Python named by
//! `NEXUS_MCP_PYTHON`), so plain `cargo test` lists them as ignored; CI
//! runs them.

mod common;

use common::clients::{drive, drive_node, fetches, no_consent_url_for_the_model};
use common::gateway;
use nexus_gateway_fake::Route;
use serde_json::Value;

#[test]
#[ignore = "needs the official MCP Python client: NEXUS_MCP_PYTHON"]
fn first_use_on_2026_requests_one_connection_for_four_calls_and_each_succeeds() {
    let (gateway, api) = gateway();
    let url = format!("{}/user", api.url());
    let args = ["--connect", "github=repo,read:user"];
    let (summary, stderr) = drive(&gateway, ("connect.py", "2026"), "accept", &url, &args);
    assert_eq!(summary["version"], "2026-07-28", "the default client's era");
    for result in fetches(&summary) {
        assert_eq!(result["is_error"], false, "{result}");
        assert_eq!(result["structured"]["status"], 200, "{result}");
    }
    assert_eq!(
        gateway.requests(Route::RequestConnection),
        1,
        "one connection: {stderr}"
    );
    let asked = summary["asked"].as_array().unwrap();
    assert!(!asked.is_empty(), "{summary}");
    for one in asked {
        assert_eq!(one["mode"], "url");
        let message = one["message"].as_str().unwrap();
        assert!(
            message.contains("github") && message.contains("ws-new"),
            "{message}"
        );
        assert!(
            !message.contains("http"),
            "the message holds no URL: {message}"
        );
        assert_eq!(
            one["url"], asked[0]["url"],
            "every call is sent to the one consent page"
        );
    }
    let requested = gateway.last_request_to(Route::RequestConnection).unwrap();
    let body: Value = serde_json::from_slice(&requested.body).unwrap();
    assert_eq!(body["scopes"], serde_json::json!(["repo", "read:user"]));
    assert!(
        stderr.contains("client=\"mcp\""),
        "the client named from the request: {stderr}"
    );
    assert!(stderr.contains("input required"), "{stderr}");
    no_consent_url_for_the_model(&summary);
}

#[test]
#[ignore = "needs the official MCP Python client: NEXUS_MCP_PYTHON"]
fn on_2026_a_user_who_declines_is_not_asked_again_and_nothing_is_sent() {
    let (gateway, api) = gateway();
    let url = format!("{}/user", api.url());
    let (summary, _) = drive(
        &gateway,
        ("connect.py", "2026"),
        "decline",
        &url,
        &["--connect", "github"],
    );
    for result in fetches(&summary) {
        assert_eq!(result["is_error"], true, "{result}");
        assert!(
            result["text"].as_str().unwrap().contains("declined"),
            "{result}"
        );
    }
    let asked = summary["asked"].as_array().unwrap().len();
    assert!(
        (1..=4).contains(&asked),
        "the fifth call is not asked: {summary}"
    );
    assert_eq!(gateway.requests(Route::RequestConnection), 1);
    assert_eq!(api.requests().len(), 0, "nothing was sent");
    no_consent_url_for_the_model(&summary);
}

#[test]
#[ignore = "needs the official MCP Python client: NEXUS_MCP_PYTHON"]
fn on_2026_a_client_without_url_elicitation_or_a_provider_not_offered_is_told_so() {
    let (gateway, api) = gateway();
    let url = format!("{}/user", api.url());
    let (summary, _) = drive(
        &gateway,
        ("connect.py", "2026"),
        "none",
        &url,
        &["--connect", "github"],
    );
    for result in fetches(&summary) {
        let text = result["text"].as_str().unwrap();
        assert!(
            text.contains("not connected for workspace `ws-new`"),
            "{text}"
        );
        assert!(text.contains("nexus connect ws-new github"), "{text}");
    }
    let (summary, _) = drive(
        &gateway,
        ("connect.py", "2026"),
        "accept",
        &url,
        &["--connect", "stripe"],
    );
    for result in fetches(&summary) {
        assert!(
            result["text"]
                .as_str()
                .unwrap()
                .starts_with("connection_not_found"),
            "{result}"
        );
        let text = result["text"].as_str().unwrap();
        assert!(
            text.contains("the user must connect it"),
            "the model's next step: {text}"
        );
        assert!(
            text.contains("(nexus connect ws-new github)"),
            "the operator's: {text}"
        );
        assert!(
            !text.contains("wait_for_active"),
            "no library call for a model: {text}"
        );
    }
    assert_eq!(summary["asked"].as_array().unwrap().len(), 0, "{summary}");
    assert_eq!(gateway.requests(Route::RequestConnection), 0);
}

#[test]
#[ignore = "needs the official MCP Python client: NEXUS_MCP_PYTHON"]
fn a_tampered_or_foreign_request_state_never_gets_the_apis_answer() {
    let (gateway, api) = gateway();
    let url = format!("{}/user", api.url());
    let (summary, _) = drive(
        &gateway,
        ("rounds.py", "2026"),
        "tampered",
        &url,
        &["--connect", "github"],
    );
    let rounds = summary["rounds"].as_array().unwrap();
    for refused in &rounds[..3] {
        assert_eq!(refused["is_error"], true, "{refused}");
        let text = refused["text"].as_str().unwrap();
        assert!(
            text.starts_with("invalid_input: invalid or expired requestState"),
            "{text}"
        );
    }
    assert_eq!(
        rounds[3]["is_error"], false,
        "the state as sealed: {}",
        rounds[3]
    );
    assert_eq!(
        api.requests().len(),
        1,
        "only the true retry reached the API"
    );
    assert_eq!(
        gateway.requests(Route::RequestConnection),
        1,
        "never a second connection"
    );
}

#[test]
#[ignore = "needs the official MCP Python client: NEXUS_MCP_PYTHON"]
fn a_retry_refused_for_its_own_fault_leaves_the_flow_as_it_was() {
    let (gateway, api) = gateway();
    let url = format!("{}/user", api.url());
    let args = ["--connect", "github"];
    let (summary, stderr) = drive(&gateway, ("rounds.py", "2026"), "malformed", &url, &args);
    let rounds = summary["rounds"].as_array().unwrap();
    for refused in &rounds[..2] {
        assert_eq!(refused["is_error"], true, "{refused}");
        assert!(
            refused["text"].as_str().unwrap().contains("no answer"),
            "{refused}"
        );
    }
    assert_eq!(
        rounds[2]["is_error"], false,
        "the true retry: {}",
        rounds[2]
    );
    assert_eq!(
        summary["same_page"], true,
        "a new call is sent to the same page: {summary}"
    );
    assert_eq!(
        gateway.requests(Route::RequestConnection),
        1,
        "never a second connection: {stderr}"
    );
}

/// A call held for the user and cancelled by its client ends there: in
/// 2025 its prompt is cancelled (the host dismisses it), the next call is
/// offered the flow at once, and the cancelled write is never sent.
fn a_cancelled_call_drops_its_flow(era: &str) {
    let (gateway, api) = gateway();
    let url = format!("{}/user", api.url());
    let args = ["--connect", "github", "--allow-write"];
    let (summary, stderr) = drive(&gateway, ("rounds.py", era), "cancel", &url, &args);
    assert_eq!(summary["second"]["is_error"], false, "{summary}\n{stderr}");
    if era == "2025" {
        assert_eq!(
            summary["dismissed"], 1,
            "the server cancelled its prompt: {summary}"
        );
    }
    assert!(
        stderr.contains("DELETE") && stderr.contains("cancelled by the client"),
        "{stderr}"
    );
    let methods: Vec<String> = api.requests().iter().map(|r| r.method.clone()).collect();
    assert_eq!(
        methods,
        ["GET"],
        "the cancelled DELETE never reached the API"
    );
    assert_eq!(
        gateway.requests(Route::RequestConnection),
        1,
        "the pending connection reused"
    );
}

#[test]
#[ignore = "needs the official MCP Python client: NEXUS_MCP_PYTHON"]
fn on_2025_a_call_cancelled_while_held_cancels_its_prompt_and_frees_the_provider() {
    a_cancelled_call_drops_its_flow("2025");
}

#[test]
#[ignore = "needs the official MCP Python client: NEXUS_MCP_PYTHON"]
fn on_2026_a_retry_cancelled_while_held_frees_the_provider() {
    a_cancelled_call_drops_its_flow("2026");
}

#[test]
#[ignore = "needs the official MCP Python client: NEXUS_MCP_PYTHON"]
fn a_connect_name_is_found_as_the_gateway_finds_names_and_sent_as_listed() {
    let (gateway, api) = gateway();
    let url = format!("{}/user", api.url());
    let args = ["--connect", "GitHub=repo", "--connect", "GitHub=admin"];
    let (summary, _) = drive(&gateway, ("connect.py", "2026"), "accept", &url, &args);
    assert!(
        fetches(&summary).iter().all(|r| r["is_error"] == false),
        "{summary}"
    );
    let requested = gateway.last_request_to(Route::RequestConnection).unwrap();
    let body: Value = serde_json::from_slice(&requested.body).unwrap();
    assert_eq!(body["provider_name"], "github", "the listed name");
    assert_eq!(
        body["scopes"],
        serde_json::json!(["repo", "admin"]),
        "no scope dropped"
    );
}

#[test]
#[ignore = "needs the official MCP Python client: NEXUS_MCP_PYTHON"]
fn on_2025_a_prompt_left_open_past_the_wait_says_the_user_did_not_answer() {
    let (gateway, api) = gateway();
    let url = format!("{}/user", api.url());
    let args = ["--connect", "github", "--connect-wait", "1"];
    let (summary, stderr) = drive(&gateway, ("rounds.py", "2025"), "ignore", &url, &args);
    let text = summary["result"]["text"].as_str().unwrap();
    assert_eq!(summary["result"]["is_error"], true, "{summary}");
    assert!(
        text.contains("the user did not answer the request to connect `github`"),
        "{text}"
    );
    assert!(text.contains("within 1s (--connect-wait)"), "{text}");
    assert!(!text.contains("could not ask"), "{text}");
    assert!(
        stderr.contains("WARN nexus_mcp: connect provider=\"github\""),
        "{stderr}"
    );
}

/// The official TypeScript v2 client's summary in `era` (its default mode,
/// `legacy`, for 2025; `auto` for 2026).
fn typescript_v2(era: &str) {
    let (gateway, api) = gateway();
    let (summary, err) = drive_node("connect_v2.mjs", era, &gateway, &api.url());
    let expected = if era == "2026" {
        "2026-07-28"
    } else {
        "2025-11-25"
    };
    assert_eq!(summary["version"], expected);
    for result in summary["results"].as_array().unwrap() {
        assert_eq!(result["is_error"], false, "{result}");
        assert!(!result.to_string().contains("/fake/authorize"), "{result}");
    }
    assert_eq!(summary["asked"][0]["mode"], "url");
    assert_eq!(gateway.requests(Route::RequestConnection), 1);
    assert!(err.contains("client=\"nexus-mcp-connect-v2\""), "{err}");
}

#[test]
#[ignore = "needs the official MCP clients: npm ci --prefix nexus-mcp/tests/clients"]
fn the_typescript_v2_client_connects_on_first_use_in_its_default_mode() {
    typescript_v2("2025");
}

#[test]
#[ignore = "needs the official MCP clients: npm ci --prefix nexus-mcp/tests/clients"]
fn the_typescript_v2_client_connects_on_first_use_on_2026() {
    typescript_v2("2026");
}

#[test]
#[ignore = "needs the official MCP Python client: NEXUS_MCP_PYTHON"]
fn on_2026_a_revoked_connection_is_connected_again() {
    let (gateway, api) = gateway();
    let old = "3f1b2c4d-0000-4000-8000-0000000000bb";
    let revoked =
        nexus_gateway_fake::FakeConnection::active("github", "gho_old").workspace("ws-new");
    gateway.add_connection(old, revoked);
    gateway.set_status(old, "revoked");
    let url = format!("{}/user", api.url());
    let (summary, _) = drive(
        &gateway,
        ("connect.py", "2026"),
        "accept",
        &url,
        &["--connect", "github"],
    );
    assert!(
        fetches(&summary).iter().all(|r| r["is_error"] == false),
        "{summary}"
    );
    assert_eq!(gateway.requests(Route::RequestConnection), 1);
    let bearer = api
        .last_request()
        .unwrap()
        .header("authorization")
        .unwrap_or_default()
        .to_owned();
    assert!(
        bearer.starts_with("Bearer fake-github-token-"),
        "the new connection's token: {bearer}"
    );
    no_consent_url_for_the_model(&summary);
}
