//! The systemd unit under `dist/`, as systemd reads it: `systemd-analyze
//! verify` finds nothing wrong with it (its program the one built here),
//! and `systemd-analyze security` rates its exposure below 5 (of 10). The
//! Entra ID settings beside it, run as written against the fake issuer in
//! Entra's shape: `serve --check` holds, and an Entra token carrying the
//! scope short in `scp` is served.

use std::path::Path;
use std::process::Command;

/// The unit, its program the one this test built, in a directory of its
/// own (removed when the directory is dropped).
fn unit_here() -> (tempfile::TempDir, std::path::PathBuf) {
    let unit = Path::new(env!("CARGO_MANIFEST_DIR")).join("dist/nexus-mcp.service");
    let text = std::fs::read_to_string(unit).expect("the unit");
    assert!(
        text.contains("ExecStartPre=/usr/local/bin/nexus-mcp serve --check"),
        "{text}"
    );
    assert!(
        text.contains("ExecReload=/bin/kill -HUP $MAINPID"),
        "{text}"
    );
    let text = text.replace("/usr/local/bin/nexus-mcp", env!("CARGO_BIN_EXE_nexus-mcp"));
    let dir = tempfile::Builder::new().prefix("nexus-mcp-unit-").tempdir();
    let dir = dir.expect("a directory");
    let path = dir.path().join("nexus-mcp.service");
    std::fs::write(&path, text).expect("the unit, written");
    (dir, path)
}

#[test]
#[ignore = "needs systemd-analyze (.ci/run installs systemd)"]
fn the_unit_verifies_and_its_exposure_is_below_five() {
    let (_dir, unit) = unit_here();
    let verified = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&unit)
        .output()
        .expect("systemd-analyze runs");
    let said = String::from_utf8_lossy(&verified.stderr);
    assert!(verified.status.success(), "{said}");
    assert!(
        !said.contains("nexus-mcp.service"),
        "a complaint about the unit: {said}"
    );
    let rated = Command::new("systemd-analyze")
        .args(["security", "--offline=true"])
        .arg(&unit)
        .output()
        .expect("systemd-analyze runs");
    let said = String::from_utf8_lossy(&rated.stdout);
    let overall = said
        .lines()
        .find_map(|l| {
            l.split("Overall exposure level for nexus-mcp.service:")
                .nth(1)
        })
        .unwrap_or_else(|| panic!("no overall exposure: {said}"));
    let level: f64 = overall.split_whitespace().next().unwrap().parse().unwrap();
    assert!(level < 5.0, "exposure {level}: {said}");
}

/// `dist/serve-entra.env`'s arguments, its placeholders and example hosts
/// replaced by the fake issuer's (Entra's shape), this test's ports and
/// the login client `login`.
fn entra_args(issuer: &str, port: u16, metrics: u16) -> Vec<String> {
    let env = Path::new(env!("CARGO_MANIFEST_DIR")).join("dist/serve-entra.env");
    let text = std::fs::read_to_string(env).expect("the Entra settings");
    let args = text
        .lines()
        .find_map(|l| l.strip_prefix("NEXUS_MCP_SERVE_ARGS="));
    let args = args
        .expect("NEXUS_MCP_SERVE_ARGS")
        .replace("TENANT_ID", "t-1");
    let args = args.replace("https://login.microsoftonline.com/t-1/v2.0", issuer);
    let args = args
        .replace("API_CLIENT_ID", "0b7f3b43")
        .replace("LOGIN_CLIENT_ID", "login");
    let args = args.replace(
        "https://mcp.example.com",
        &format!("http://127.0.0.1:{port}"),
    );
    let args = args.replace("127.0.0.1:8080", &format!("127.0.0.1:{port}"));
    let args = args.replace("127.0.0.1:9464", &format!("127.0.0.1:{metrics}"));
    args.split(' ').map(str::to_owned).collect()
}

#[test]
fn the_entra_settings_hold_as_written_and_serve_an_entra_token() {
    use nexus_gateway_fake::{FakeGateway, FakeIssuer, FakeToken};
    let issuer = FakeIssuer::start_entra("t-1");
    let gateway = FakeGateway::start();
    let free = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    let (port, metrics) = (free(), free());
    issuer.add_confidential_client(
        "login",
        &format!("http://127.0.0.1:{port}/connect/callback"),
        "s3cret",
    );
    let args = entra_args(&issuer.url(), port, metrics);
    let run = |more: &[&str]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_nexus-mcp"));
        command.arg("serve").args(&args).args(more);
        command
            .env("NEXUS_GATEWAY_URL", gateway.url())
            .env("NEXUS_API_KEY", "sk_test");
        command.env(
            "NEXUS_MCP_STATE_KEY",
            "a-sealing-key-of-at-least-32-bytes!!",
        );
        command
            .env("NEXUS_MCP_LOGIN_CLIENT_SECRET", "s3cret")
            .env_remove("NEXUS_WORKSPACE_ID");
        command
    };
    let checked = run(&["--check"]).output().expect("serve --check");
    let said = String::from_utf8_lossy(&checked.stderr);
    assert!(
        checked.status.success() && said.contains("the configuration holds"),
        "{said}"
    );
    let mut served = run(&[])
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("serve");
    let health = format!("http://127.0.0.1:{port}/healthz");
    let started = std::time::Instant::now();
    while ureq::get(&health).call().is_err() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "serve never listened"
        );
        std::thread::yield_now();
    }
    let token = FakeToken::new("pairwise").audience("0b7f3b43").typ("JWT");
    let token = token
        .claim("oid", serde_json::json!("alice"))
        .claim("scp", serde_json::json!("mcp.tools"));
    let list = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "list_providers", "arguments": {}}});
    let answer = ureq::post(format!("http://127.0.0.1:{port}/mcp"))
        .header("Authorization", &format!("Bearer {}", issuer.mint(&token)))
        .header("Accept", "application/json, text/event-stream")
        .header("MCP-Protocol-Version", "2025-11-25")
        .header("Content-Type", "application/json")
        .send(list.to_string());
    let _ = served.kill();
    let _ = served.wait();
    assert_eq!(answer.expect("served").status(), 200);
}
