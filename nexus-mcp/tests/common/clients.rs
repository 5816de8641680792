//! Driving the built `nexus-mcp` with the official MCP clients' scripts in
//! `tests/clients/`, and what every connect test checks of their summaries.

use std::path::Path;
use std::process::Command;

use nexus_gateway_fake::FakeGateway;
use serde_json::Value;

const NEEDS: &str = "needs the official MCP Python client: NEXUS_MCP_PYTHON";

/// What `script` (in `tests/clients/`) printed for `scenario` against
/// `nexus-mcp args` in `era`, and what the server said on stderr.
pub fn drive(
    gateway: &FakeGateway,
    (script, era): (&str, &str),
    scenario: &str,
    url: &str,
    args: &[&str],
) -> (Value, String) {
    let python = std::env::var("NEXUS_MCP_PYTHON").expect(NEEDS);
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/clients")
        .join(script);
    let output = Command::new(python)
        .arg(script)
        .args([
            env!("CARGO_BIN_EXE_nexus-mcp"),
            &gateway.url(),
            scenario,
            url,
        ])
        .args(args)
        .env("NEXUS_MCP_ERA", era)
        .output()
        .expect("python runs");
    let (out, err) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    );
    assert!(
        output.status.success(),
        "{scenario}: the client failed:\n{out}\n{err}"
    );
    let summary = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    (summary, err)
}

/// What the official TypeScript client's `script` (in `tests/clients/`)
/// printed against `nexus-mcp --connect github` in `era` (`NEXUS_MCP_ERA`,
/// read by the scripts that speak both), and what the server said on stderr.
pub fn drive_node(script: &str, era: &str, gateway: &FakeGateway, api: &str) -> (Value, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/clients")
        .join(script);
    let output = Command::new("node")
        .arg(script)
        .args([
            env!("CARGO_BIN_EXE_nexus-mcp"),
            &gateway.url(),
            api,
            "--connect",
            "github",
        ])
        .env("NEXUS_MCP_ERA", era)
        .output()
        .expect("node runs");
    let (out, err) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    );
    assert!(output.status.success(), "the client failed:\n{out}\n{err}");
    let summary = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"));
    (summary, err)
}

/// The five fetches' results of `connect.py` (the sixth is list_providers).
pub fn fetches(summary: &Value) -> &[Value] {
    &summary["results"].as_array().expect("results")[..5]
}

/// Nothing the model reads holds the consent page's address.
pub fn no_consent_url_for_the_model(summary: &Value) {
    for result in summary["results"].as_array().into_iter().flatten() {
        let said = result.to_string();
        assert!(
            !said.contains("/fake/authorize"),
            "the model read the consent URL: {said}"
        );
        assert!(!said.contains("connection_id="), "{said}");
    }
}
