//! `nexus-mcp` under the official MCP clients: the TypeScript SDK's client
//! (`tests/clients/drive.mjs`) and the Inspector CLI, both started as a
//! host starts a server, against the in-process fake Gateway.
//!
//! They need Node and the clients installed, so plain `cargo test` lists
//! them as ignored; CI runs them. To run them:
//!
//! ```text
//! npm ci --prefix nexus-mcp/tests/clients
//! cargo test -p nexus-mcp -- --include-ignored
//! ```

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::gateway;
use nexus_gateway_fake::FakeUpstream;
use serde_json::{Value, json};

fn clients() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients");
    assert!(
        dir.join("node_modules/@modelcontextprotocol/sdk").is_dir(),
        "the official clients are not installed: npm ci --prefix nexus-mcp/tests/clients"
    );
    dir
}

/// Runs `command`, which must succeed: its stdout.
fn run(command: &mut Command) -> String {
    let output = command.output().expect("node runs");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr),
    );
    assert!(
        output.status.success(),
        "{command:?} failed:\n{stdout}\n{stderr}"
    );
    stdout
}

#[test]
#[ignore = "needs the official MCP clients: npm ci --prefix nexus-mcp/tests/clients"]
fn the_official_typescript_client_drives_every_promise() {
    let (gateway, api) = gateway();
    let outside = FakeUpstream::start();
    let binary = env!("CARGO_BIN_EXE_nexus-mcp");
    let script = clients().join("drive.mjs");
    let mut node = Command::new("node");
    node.arg(script)
        .args([binary, &gateway.url(), &api.url(), &outside.url()]);
    let summary: Value = serde_json::from_str(run(&mut node).trim()).expect("the client's summary");
    assert_eq!(summary["server"]["name"], "nexus-mcp");
    assert_eq!(
        summary["errors"],
        json!([]),
        "the client saw no stray output"
    );
    let tools = summary["tools"].as_array().unwrap();
    assert_eq!(tools[0]["name"], "authenticated_fetch");
    assert_eq!(tools[0]["annotations"]["readOnlyHint"], true);
    assert_eq!(tools[1]["name"], "list_providers");
    assert!(tools.iter().all(|t| t["output"] == true));
    assert_eq!(summary["providers"], json!(["github", "stripe"]));
    let inside = &summary["inside"];
    assert_eq!(inside["isError"], false);
    assert!(inside["text"].as_str().unwrap().starts_with("HTTP 200 OK"));
    assert_eq!(inside["structured"]["status"], 200);
    let sent = api
        .requests()
        .into_iter()
        .next()
        .expect("the API got the GET");
    assert_eq!(sent.header("authorization"), Some("Bearer gho_mcp_secret"));
    assert_eq!(sent.header("accept"), Some("application/json"));
    assert!(
        !summary.to_string().contains("gho_mcp_secret"),
        "no credential reached the client"
    );
    assert_eq!(summary["elsewhere"]["isError"], true);
    assert!(
        summary["elsewhere"]["text"]
            .as_str()
            .unwrap()
            .starts_with("origin_not_allowed: ")
    );
    assert_eq!(outside.connections(), 0, "nothing reached the other origin");
    assert_eq!(summary["post"]["isError"], true);
    assert!(
        summary["post"]["text"]
            .as_str()
            .unwrap()
            .starts_with("read_only: ")
    );
    assert_eq!(summary["bad"]["isError"], true);
    assert!(
        summary["bad"]["text"]
            .as_str()
            .unwrap()
            .starts_with("invalid_input: ")
    );
    assert_eq!(summary["write_annotations"]["readOnlyHint"], false);
    assert_eq!(summary["write_annotations"]["destructiveHint"], true);
    assert_eq!(summary["posted"], json!({"isError": false, "status": 200}));
    assert!(
        summary["other"]["text"]
            .as_str()
            .unwrap()
            .starts_with("provider_not_offered: ")
    );
    let methods: Vec<String> = api.requests().iter().map(|r| r.method.clone()).collect();
    assert_eq!(methods, ["GET", "POST"], "the read-only POST sent nothing");
}

/// The Inspector CLI (`@modelcontextprotocol/inspector-cli`), run from its
/// build folder (where it finds its own package.json), with these arguments
/// after the server's command.
fn inspector(gateway: &str, arguments: &[&str]) -> Value {
    let build = clients().join("node_modules/@modelcontextprotocol/inspector-cli/build");
    let mut node = Command::new("node");
    node.current_dir(&build).arg("cli.js").arg("--cli");
    node.args([
        "-e",
        &format!("NEXUS_GATEWAY_URL={gateway}"),
        "-e",
        "NEXUS_WORKSPACE_ID=ws-1",
    ]);
    node.arg(env!("CARGO_BIN_EXE_nexus-mcp")).args(arguments);
    let stdout = run(&mut node);
    let json = &stdout[stdout.find('{').expect("a JSON answer")..];
    serde_json::from_str(json).expect("the Inspector's JSON")
}

#[test]
#[ignore = "needs the official MCP clients: npm ci --prefix nexus-mcp/tests/clients"]
fn the_inspector_cli_lists_and_calls_its_tools() {
    let (gateway, api) = gateway();
    let listed = inspector(&gateway.url(), &["--method", "tools/list"]);
    let names: Vec<&str> = listed["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["authenticated_fetch", "list_providers"]);
    let url = format!("url={}/user", api.url());
    let call = [
        "--method",
        "tools/call",
        "--tool-name",
        "authenticated_fetch",
    ];
    let args = ["--tool-arg", "provider=github", "--tool-arg", &url];
    let called = inspector(&gateway.url(), &[&call[..], &args[..]].concat());
    assert_ne!(called["isError"], true, "{called}");
    assert_eq!(called["structuredContent"]["status"], 200, "{called}");
    let sent = api.last_request().expect("the API got the request");
    assert_eq!(sent.header("authorization"), Some("Bearer gho_mcp_secret"));
}
