//! End to end: the stdio MCP server example under the official MCP Python
//! client (`mcp` 2.3.0), against the FakeGateway and a FakeUpstream.
//!
//! Needs a Python with `mcp` installed, so plain `cargo test` lists it as
//! ignored (with the reason in the summary). `NEXUS_MCP_PYTHON` names the
//! Python (else `python3` is tried); without `mcp` there the test fails, so a
//! run that asked for it (CI does) cannot skip it silently. To run it:
//!
//! ```text
//! python3 -m venv target/mcp-venv && target/mcp-venv/bin/pip install mcp==2.3.0
//! NEXUS_MCP_PYTHON=target/mcp-venv/bin/python cargo test --test mcp_e2e -- --ignored
//! ```

mod common;

use std::process::Command;

use nexus_gateway_fake::{FakeGateway, FakeProvider, FakeUpstream, Route};
use serde_json::Value;

fn python_with_mcp() -> Option<String> {
    let python = std::env::var("NEXUS_MCP_PYTHON").unwrap_or_else(|_| "python3".into());
    let found = Command::new(&python)
        .args(["-c", "import mcp.client.stdio"])
        .output()
        .is_ok_and(|o| o.status.success());
    found.then_some(python)
}

#[test]
#[ignore = "needs the official MCP Python client: see tests/mcp_e2e.rs, run with -- --ignored"]
fn official_mcp_client_drives_the_stdio_server() {
    let python = python_with_mcp().expect(
        "the MCP Python client is not installed: set NEXUS_MCP_PYTHON (see tests/mcp_e2e.rs)",
    );
    let upstream = FakeUpstream::start();
    let outside = FakeUpstream::start();
    let gateway = FakeGateway::start();
    gateway.add_provider(
        "ws-e2e",
        "github",
        FakeProvider::oauth2("gho_e2e_secret").api_base_url(&upstream.url()),
    );
    let stdout_copy =
        std::env::temp_dir().join(format!("nexus-mcp-stdout-{}.jsonl", std::process::id()));
    let output = Command::new(&python)
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/mcp_client.py"))
        .arg(common::example_binary("mcp_stdio_server"))
        .arg(gateway.url())
        .arg(upstream.url())
        .arg(&stdout_copy)
        .arg(outside.url())
        .output()
        .expect("run the MCP client");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "MCP client failed:\n{stderr}");

    let summary: Value = serde_json::from_slice(&output.stdout).expect("the client's summary");
    assert_eq!(summary["server_name"], "nexus-fetch");
    assert_eq!(summary["tools"], serde_json::json!(["authenticated_fetch"]));
    assert_eq!(summary["required"], serde_json::json!(["provider", "url"]));
    assert_eq!(summary["is_error"], false);
    let text = summary["text"].as_str().unwrap();
    assert!(text.starts_with("HTTP 200 OK"), "{text}");
    assert!(
        text.contains(r#""path":"/user/repos""#),
        "the tool result holds the upstream body: {text}"
    );
    // A URL outside the credential scope: refused, and never contacted.
    assert_eq!(summary["failure_is_error"], true);
    let refused = summary["failure_text"].as_str().unwrap();
    assert!(refused.contains("origin_not_allowed"), "{refused}");
    assert_eq!(
        outside.connections(),
        0,
        "the outside origin got no connection"
    );

    // The upstream got the credential; the resolve went to the Gateway once.
    let sent = upstream.last_request().unwrap();
    assert_eq!(sent.header("authorization"), Some("Bearer gho_e2e_secret"));
    assert_eq!(sent.header("x-e2e"), Some("1"));
    assert_eq!(gateway.requests(Route::Resolve), 1);

    // Every line the server wrote to stdout is JSON-RPC 2.0; no secret anywhere.
    let written = std::fs::read_to_string(&stdout_copy).expect("the stdout copy");
    let _ = std::fs::remove_file(&stdout_copy);
    let lines: Vec<&str> = written.lines().collect();
    assert!(
        lines.len() >= 5,
        "initialize, ping, tools/list and two calls: {lines:?}"
    );
    for line in &lines {
        let message: Value =
            serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON on stdout: {line:?}"));
        assert_eq!(message["jsonrpc"], "2.0", "{line}");
        assert!(
            message.get("result").is_some() || message.get("error").is_some(),
            "{line}"
        );
    }
    assert!(!written.contains("gho_e2e_secret"));
    assert!(
        !stderr.contains("gho_e2e_secret"),
        "the server's log lines hold no token"
    );
}
