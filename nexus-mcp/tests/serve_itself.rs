//! An agent acting as itself (#127, 5): a confidential client registered
//! with a workspace of its own (`serve client add --workspace W`) gets a
//! token by `client_credentials` (RFC 6749 §4.4), driven from a plain HTTP
//! client as a headless agent drives it: no person, no refresh token; its
//! calls act in W, are decided for the principal `Agent::"MARK"` (a policy
//! on agents reaches it and no person), named in its own line, held to its
//! own rate, and, with three replicas and a real Redis, revoked as any
//! client is. Every other client is refused with the RFC's code.

mod common;

use common::front::{
    called, called_beside, client_add, fetched, mark, operated, proxy, registered, replica,
    signed_in_by, stored, token_as, tokens_for, with_providers,
};
use common::served::{policy_file, wait_until};
use nexus_gateway_fake::FakeProvider;
use serde_json::{Value, json};

/// Agents read; people do anything.
const AGENTS_READ: &str = r#"permit (principal, action, resource);
@id("agents read")
forbid (principal is Agent, action == Action::"call", resource)
  when { context.method != "GET" };
"#;

/// A confidential client `name` made at `origin` with `args`: its id and
/// secret.
fn agent(origin: &str, args: &[&str]) -> (String, String) {
    let made = client_add(origin, args);
    let text = |field: &str| made[field].as_str().expect(field).to_owned();
    (text("client_id"), text("client_secret"))
}

/// What `/token` at `origin` answers `client` asking as itself, with `more`.
fn as_itself(origin: &str, client: (&str, &str), more: &[(&str, &str)]) -> (u16, Value) {
    let form = [&[("grant_type", "client_credentials")][..], more].concat();
    token_as(origin, client, &form)
}

#[test]
fn an_agent_acts_as_itself_in_its_own_workspace_as_its_own_principal_at_its_own_rate() {
    let (issuer, gateway, api) = with_providers("alice", &["github"]);
    let own = FakeProvider::oauth2("gho_reports").api_base_url(&api.url());
    gateway.add_provider("reports-ws", "github", own);
    let (_dir, file) = policy_file(AGENTS_READ);
    let args = [
        "--allow-write",
        "--scope",
        "mcp.tools",
        "--policy",
        &file,
        "--person-rate",
        "4",
    ];
    let (served, origin) = proxy(&issuer, &gateway, &args);
    let registration = client_add(
        &origin,
        &[
            "--name",
            "Reporter",
            "--workspace",
            "reports-ws",
            "--scope",
            "github:write",
        ],
    );
    let grants = registration["grant_types"].to_string();
    assert!(grants.contains("client_credentials"), "{registration}");
    let text = |field: &str| registration[field].as_str().unwrap().to_owned();
    let (id, secret) = (text("client_id"), text("client_secret"));
    let reporter = (id.as_str(), secret.as_str());
    let (status, tokens) = as_itself(&origin, reporter, &[]);
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["scope"], "mcp.tools github:write", "{tokens}");
    assert!(tokens.get("refresh_token").is_none(), "{tokens}");
    let access = tokens["access_token"].as_str().unwrap();
    // It reads in its own workspace; the line names it, and no person.
    let url = format!("{}/repos/acme/x", api.url());
    let resolves = gateway.resolves("reports-ws", "github");
    let (status, _, answer) = fetched(&served, access, json!({"provider": "github", "url": url}));
    assert!(
        status == 200 && answer["result"]["isError"] == false,
        "{answer}"
    );
    assert_eq!(gateway.resolves("reports-ws", "github"), resolves + 1);
    let opening = format!("agent=\"Reporter\" oauth_client={}", &mark(&id)[..12]);
    let line = served.said_once(|said| said.contains(&opening) && said.contains("-> 200"));
    assert!(line.contains(&opening), "{line}");
    // A policy on agents reaches it: its write is denied, within its boundary.
    let post = json!({"provider": "github", "url": url, "method": "POST"});
    let (_, _, answer) = fetched(&served, access, post.clone());
    assert!(answer.to_string().contains("policy_denied"), "{answer}");
    let line = served.said_once(|said| said.contains("agents read"));
    assert!(line.contains(&opening), "{line}");
    // … and no person: Alice, through a host, writes.
    let host = registered(&served, "Host", None);
    issuer.approve_as("alice");
    let said = signed_in_by(&origin, &host);
    let alice = tokens_for(&origin, &host, &said["code"]);
    let alice_access = alice["access_token"].as_str().unwrap();
    let (_, _, answer) = fetched(&served, alice_access, post);
    assert_eq!(answer["result"]["isError"], false, "{answer}");
    // Its own rate (4 a minute): two more, then refused; Alice's stays hers.
    assert_eq!(called(&served, &tokens), 200);
    assert_eq!(called(&served, &tokens), 200);
    let (_, answer) = served.call(access, "list_providers", json!({}));
    let refused = answer["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default();
    assert!(refused.starts_with("rate_limited"), "{answer}");
    assert_eq!(called(&served, &alice), 200);
    // Every other client refused: one with no workspace, a public one; a
    // scope beyond its boundary.
    let plain = agent(&origin, &["--name", "Plain"]);
    let answer = as_itself(&origin, (&plain.0, &plain.1), &[]);
    assert_eq!(
        (answer.0, answer.1["error"].as_str()),
        (400, Some("unauthorized_client"))
    );
    let public = common::front::token_answer(
        &origin,
        &[("grant_type", "client_credentials"), ("client_id", &host)],
    );
    assert_eq!(public.1["error"], "unauthorized_client", "{}", public.1);
    let wider = as_itself(&origin, reporter, &[("scope", "stripe:read")]);
    assert_eq!(wider.1["error"], "invalid_scope", "{}", wider.1);
    // policy explain decides for the agent as itself.
    let explain = std::process::Command::new(env!("CARGO_BIN_EXE_nexus-mcp"))
        .args([
            "--provider",
            "github",
            "policy",
            "explain",
            "--policy",
            &file,
            "--itself",
        ])
        .args(["--agent", "Reporter", "--agent-id", &mark(&id)[..12]])
        .args([
            "--url",
            "https://api.github.com/repos/a/b/issues",
            "--method",
            "POST",
        ])
        .output()
        .expect("nexus-mcp");
    let said = String::from_utf8_lossy(&explain.stdout);
    assert_eq!(explain.status.code(), Some(1), "{said}");
    assert!(said.contains("agents read"), "{said}");
}

#[test]
#[ignore = "needs redis-server from the distribution (NEXUS_REDIS; .ci/run installs it)"]
fn an_agent_as_itself_is_revoked_as_any_client_on_every_replica() {
    let (_redis, issuer, gateway, store) = stored();
    gateway.add_provider("reports-ws", "github", FakeProvider::oauth2("gho_reports"));
    let args = ["--store", store.as_str()];
    let (one, origin) = common::front::proxy(&issuer, &gateway, &args);
    let (two, _) = replica(&issuer, &gateway, &origin, &args);
    let (three, three_origin) = replica(&issuer, &gateway, &origin, &args);
    let itself = ["--name", "Reporter", "--workspace", "reports-ws"];
    let (id, secret) = agent(&origin, &itself);
    let (status, tokens) = as_itself(&three_origin, (&id, &secret), &[]);
    assert_eq!(status, 200, "{tokens}");
    let everywhere = |status: u16| {
        called(&one, &tokens) == status
            && called_beside(&two, &origin, &tokens) == status
            && called_beside(&three, &origin, &tokens) == status
    };
    assert!(everywhere(200));
    let said = operated(
        &["revoke", "--client", &mark(&id)[..12], "--store", &store],
        &[],
    );
    assert!(said.contains("client="), "{said}");
    wait_until(|| everywhere(401));
}
