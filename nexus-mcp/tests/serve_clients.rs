//! `nexus-mcp serve` reached by the official MCP clients (Python, and
//! TypeScript v2) over Streamable HTTP with their OAuth client providers,
//! in both eras: the 401,
//! the metadata, registration, PKCE, the token, then calls that act for
//! the person the issuer logged in, with that person's credential only;
//! with `--account`, as the account each call names.

mod common;

use common::served::{Served, workspace_of};
use nexus_gateway_fake::{FakeGateway, FakeIssuer, FakeProvider, FakeUpstream};
use serde_json::json;

fn two_people_through_oauth(client: &str, era: &str, version: &str) {
    let issuer = FakeIssuer::start();
    let (gateway, api) = (FakeGateway::start(), FakeUpstream::start());
    for (person, credential) in [("alice", "gho_alice_secret"), ("bob", "gho_bob_secret")] {
        let github = FakeProvider::oauth2(credential).api_base_url(&api.url());
        gateway.add_provider(&workspace_of(&issuer.url(), person), "github", github);
    }
    let served = Served::start(&gateway, &issuer, &[]);
    for (person, credential) in [("alice", "gho_alice_secret"), ("bob", "gho_bob_secret")] {
        issuer.approve_as(person);
        let summary = match client {
            "python" => served.reach(&api.url(), era),
            _ => served.reach_v2(&api.url(), era),
        };
        assert_eq!(summary["version"], version, "{summary}");
        let listed = summary["results"][0]["text"].as_str().unwrap_or_default();
        assert!(listed.contains("github"), "{summary}");
        common::served::answered_with(&summary, &api, credential);
    }
}

#[test]
#[ignore = "needs the official MCP Python client: NEXUS_MCP_PYTHON"]
fn the_official_python_client_on_2026_logs_in_and_acts_for_each_person() {
    two_people_through_oauth("python", "2026", "2026-07-28");
}

#[test]
#[ignore = "needs the official MCP Python client: NEXUS_MCP_PYTHON"]
fn the_official_python_client_on_2025_logs_in_and_acts_for_each_person() {
    two_people_through_oauth("python", "2025", "2025-11-25");
}

#[test]
#[ignore = "needs the official MCP clients: npm ci --prefix nexus-mcp/tests/clients"]
fn the_official_typescript_v2_client_on_2026_logs_in_and_acts_for_each_person() {
    two_people_through_oauth("typescript", "2026", "2026-07-28");
}

#[test]
#[ignore = "needs the official MCP clients: npm ci --prefix nexus-mcp/tests/clients"]
fn the_official_typescript_v2_client_on_2025_logs_in_and_acts_for_each_person() {
    two_people_through_oauth("typescript", "2025", "2025-11-25");
}

/// `--account work --account home`: the official clients see `account` as a
/// required enum of the two labels in both tools; each call acts as the
/// account it names, with that account's credential only; a call without
/// one, or naming another, is refused before anything is sent; no result
/// names the person's workspace.
fn two_accounts_through_oauth(client: &str, era: &str) {
    let (issuer, gateway, api) = (
        FakeIssuer::start(),
        FakeGateway::start(),
        FakeUpstream::start(),
    );
    let (alice, served) = Served::with_two_accounts(&issuer, &gateway, &api);
    issuer.approve_as("alice");
    let user = format!("{}/user", api.url());
    let fetch = |account: Option<&str>| {
        let mut arguments = json!({"provider": "github", "url": user});
        if let Some(label) = account {
            arguments["account"] = json!(label);
        }
        json!({"name": "authenticated_fetch", "arguments": arguments})
    };
    let calls = json!([
        fetch(Some("work")),
        fetch(Some("home")),
        fetch(None),
        fetch(Some("office"))
    ]);
    let calls = calls.to_string();
    let env = [("NEXUS_MCP_CALLS", calls.as_str())];
    let summary = match client {
        "python" => served.reach_with_env(&api.url(), era, &env),
        _ => served.reach_v2_with_env(&api.url(), era, &env),
    };
    for tool in ["authenticated_fetch", "list_providers"] {
        let schema = &summary["tools"][tool];
        let account = &schema["properties"]["account"];
        assert_eq!(account["enum"], json!(["work", "home"]), "{summary}");
        let required = schema["required"].as_array().unwrap();
        assert!(required.contains(&json!("account")), "{summary}");
    }
    let results = summary["results"].as_array().unwrap();
    let failed: Vec<bool> = results.iter().map(|r| r["is_error"] == true).collect();
    assert_eq!(failed, [false, false, true, true], "{summary}");
    let said = |i: usize| results[i]["text"].as_str().unwrap();
    assert!(said(2).contains("`account` is required"), "{summary}");
    assert!(said(3).contains("one of work, home"), "{summary}");
    let sent: Vec<Option<String>> = (api.requests().iter())
        .map(|r| r.header("authorization").map(str::to_owned))
        .collect();
    let sent: Vec<Option<&str>> = sent.iter().map(Option::as_deref).collect();
    assert_eq!(
        sent,
        [Some("Bearer gho_alice_work"), Some("Bearer gho_alice_home")]
    );
    assert!(!summary.to_string().contains(&alice), "{summary}");
}

#[test]
#[ignore = "needs the official MCP Python client: NEXUS_MCP_PYTHON"]
fn the_official_python_client_acts_as_the_account_it_names() {
    two_accounts_through_oauth("python", "2026");
    two_accounts_through_oauth("python", "2025");
}

#[test]
#[ignore = "needs the official MCP clients: npm ci --prefix nexus-mcp/tests/clients"]
fn the_official_typescript_v2_client_acts_as_the_account_it_names() {
    two_accounts_through_oauth("typescript", "2026");
    two_accounts_through_oauth("typescript", "2025");
}
