//! What `nexus-mcp serve` (the built program) tells its operator of its
//! own configuration: `--check` says every failing check, one line each,
//! whatever failed first; the start notes a `--scope` the issuer does not
//! list, and a metrics listener anyone may reach.

mod common;

use common::served::{Served, command, free_port};
use nexus_gateway_fake::{FakeGateway, FakeIssuer};

#[test]
fn check_says_every_failing_check_a_short_keyring_hiding_none() {
    let (issuer, gateway) = (FakeIssuer::start(), FakeGateway::start());
    gateway.require_api_key("sk_right");
    let args = ["--scope", "files.read", "--check"];
    let out = command(&gateway, &issuer.url(), free_port(), &args)
        .env("NEXUS_MCP_STATE_KEY", "short")
        .env("NEXUS_API_KEY", "sk_wrong")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{said}");
    let lines: Vec<&str> = said.lines().filter(|l| l.contains("--check:")).collect();
    assert_eq!(lines.len(), 3, "{said}");
    assert!(lines[0].contains("NEXUS_MCP_STATE_KEY"), "{said}");
    assert!(lines[1].contains("--scope files.read"), "{said}");
    assert!(lines[2].contains("NEXUS_API_KEY"), "{said}");
    assert!(
        !said.contains("short") && !said.contains("sk_wrong"),
        "{said}"
    );
}

#[test]
fn the_start_notes_a_scope_the_issuer_does_not_list_and_metrics_anyone_may_reach() {
    let (issuer, gateway) = (FakeIssuer::start(), FakeGateway::start());
    let metrics = format!("0.0.0.0:{}", free_port());
    let args = ["--scope", "files.read", "--metrics-listen", &metrics];
    let served = Served::start(&gateway, &issuer, &args);
    let said = served.said_once(|said| said.contains("is not a loopback address"));
    let noted: Vec<&str> = said.lines().filter(|l| l.contains("files.read")).collect();
    assert_eq!(noted.len(), 1, "said once: {said}");
    assert!(
        noted[0].starts_with("WARN") && noted[0].contains("a note"),
        "{said}"
    );
    // On loopback, or with the scope listed, nothing is said.
    let metrics = format!("127.0.0.1:{}", free_port());
    let args = ["--scope", "profile", "--metrics-listen", &metrics];
    let served = Served::start(&gateway, &issuer, &args);
    let said = served.said_once(|said| said.contains("metrics at"));
    assert!(
        !said.contains("loopback") && !said.contains("a note"),
        "{said}"
    );
}
