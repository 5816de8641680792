//! The `nexus_fetch` example CLI, run as a process against the FakeGateway.

mod common;

use std::process::{Command, Output};

use nexus_gateway_fake::{FakeGateway, FakeProvider, FakeReply, FakeUpstream};

fn nexus_fetch(gateway: Option<&FakeGateway>, args: &[&str]) -> Output {
    let mut command = Command::new(common::example_binary("nexus_fetch"));
    command
        .args(args)
        .env_remove("NEXUS_WORKSPACE_ID")
        .env_remove("NEXUS_PROVIDER")
        .env_remove("NEXUS_API_KEY");
    match gateway {
        // A trailing slash, as people write base URLs.
        Some(gateway) => command.env("NEXUS_GATEWAY_URL", format!("{}/", gateway.url())),
        None => command.env_remove("NEXUS_GATEWAY_URL"),
    };
    command.output().expect("run nexus_fetch")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A Gateway whose `github` provider's API is the fake upstream: the
/// default credential scope allows exactly that origin.
fn setup() -> (FakeGateway, FakeUpstream) {
    let (gateway, upstream) = (FakeGateway::start(), FakeUpstream::start());
    let github = FakeProvider::oauth2("gho_cli").api_base_url(&upstream.url());
    gateway.add_provider("ws-1", "github", github);
    (gateway, upstream)
}

#[test]
fn get_writes_the_body_to_stdout_and_the_status_to_stderr() {
    let (gateway, upstream) = setup();
    let url = format!("{}/user", upstream.url());
    let out = nexus_fetch(
        Some(&gateway),
        &["--workspace", "ws-1", "--provider", "github", &url],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        r#"{"method":"GET","ok":true,"path":"/user"}"#
    );
    assert_eq!(text(&out.stderr).trim(), "HTTP 200 OK");
    assert_eq!(
        upstream.last_request().unwrap().header("authorization"),
        Some("Bearer gho_cli")
    );
}

#[test]
fn method_headers_and_data() {
    let (gateway, upstream) = setup();
    let url = upstream.url();
    let out = nexus_fetch(
        Some(&gateway),
        &[
            "-w", "ws-1", "-p", "github", "-X", "PUT", "-H", "X-One: 1", "-H", "X-Two:2", "-d",
            "hello", &url,
        ],
    );
    assert_eq!(out.status.code(), Some(0));
    let sent = upstream.last_request().unwrap();
    assert_eq!(
        (sent.method.as_str(), sent.body.as_slice()),
        ("PUT", &b"hello"[..])
    );
    assert_eq!(
        (sent.header("x-one"), sent.header("x-two")),
        (Some("1"), Some("2"))
    );

    let file = std::env::temp_dir().join(format!("nexus-fetch-body-{}", std::process::id()));
    std::fs::write(&file, b"from a file").unwrap();
    let data = format!("@{}", file.display());
    let out = nexus_fetch(
        Some(&gateway),
        &["-w", "ws-1", "-p", "github", "-d", &data, &url],
    );
    let _ = std::fs::remove_file(&file);
    assert_eq!(out.status.code(), Some(0));
    let sent = upstream.last_request().unwrap();
    assert_eq!(
        (sent.method.as_str(), sent.body.as_slice()),
        ("POST", &b"from a file"[..]),
        "-d means POST"
    );
}

#[test]
fn include_writes_the_head_first() {
    let (gateway, upstream) = setup();
    let out = nexus_fetch(
        Some(&gateway),
        &["-w", "ws-1", "-p", "github", "-i", &upstream.url()],
    );
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with("HTTP 200 OK\r\n"), "{stdout}");
    assert!(
        stdout
            .to_ascii_lowercase()
            .contains("content-type: application/json\r\n"),
        "{stdout}"
    );
    assert!(
        stdout.ends_with("\r\n\r\n{\"method\":\"GET\",\"ok\":true,\"path\":\"/\"}"),
        "{stdout}"
    );
}

#[test]
fn a_non_2xx_answer_exits_1_with_its_body() {
    let (gateway, upstream) = setup();
    upstream.set_reply("/missing", FakeReply::new(404).body("not here"));
    let out = nexus_fetch(
        Some(&gateway),
        &[
            "-w",
            "ws-1",
            "-p",
            "github",
            &format!("{}/missing", upstream.url()),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), "not here");
    assert_eq!(text(&out.stderr).trim(), "HTTP 404 Not Found");
}

#[test]
fn failures_exit_1_with_the_error() {
    let (gateway, _) = setup();
    let refused = common::refused_url();
    let down = FakeProvider::oauth2("gho_down").api_base_url(&refused);
    gateway.add_provider("ws-1", "down", down);
    let out = nexus_fetch(Some(&gateway), &["-w", "ws-1", "-p", "down", &refused]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(
        text(&out.stderr).starts_with("nexus_fetch: request_failed: "),
        "{}",
        text(&out.stderr)
    );
    let out = nexus_fetch(
        Some(&gateway),
        &["-w", "ws-1", "-p", "gitlab", "http://127.0.0.1:1/"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("provider_not_listed"),
        "{}",
        text(&out.stderr)
    );
    // Outside the provider's API origin: refused, nothing sent.
    let out = nexus_fetch(
        Some(&gateway),
        &["-w", "ws-1", "-p", "github", "http://127.0.0.1:1/"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("origin_not_allowed"));
}

#[test]
fn usage_errors_exit_2() {
    let (gateway, upstream) = setup();
    let url = upstream.url();
    for args in [
        vec![],
        vec!["--provider", "github", url.as_str()],
        vec!["--workspace", "ws-1", url.as_str()],
        vec!["-w", "ws-1", "-p", "github"],
        vec!["-w", "ws-1", "-p", "github", "--bogus", url.as_str()],
        vec!["-w", "ws-1", "-p", "github", "-H", "no colon", url.as_str()],
        vec!["-w", "ws-1", "-p", "github", url.as_str(), url.as_str()],
        vec!["-w", "ws-1", "-p", "github", "-X"],
        vec!["-w", "ws-1", "-p", "github", "not a url"],
        vec![
            "-w",
            "ws-1",
            "-p",
            "github",
            "-X",
            "BAD METHOD",
            url.as_str(),
        ],
    ] {
        let out = nexus_fetch(Some(&gateway), &args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(out.stdout.is_empty(), "{args:?}");
        assert!(text(&out.stderr).starts_with("nexus_fetch: "), "{args:?}");
    }
    assert_eq!(upstream.request_count(), 0);
    let out = nexus_fetch(None, &["-w", "ws-1", "-p", "github", &url]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("NEXUS_GATEWAY_URL"));
    let help = nexus_fetch(None, &["--help"]);
    assert_eq!(help.status.code(), Some(0));
    assert!(text(&help.stdout).starts_with("usage: nexus_fetch"));
}

/// The fake Gateway's program (`cargo run -p nexus-gateway-fake`) in a
/// process of its own, and `nexus_fetch`
/// against it, as `benches/process_cost.sh` and the docs run them: its
/// upstream must be the provider's API under the default credential scope.
#[test]
fn nexus_fetch_works_against_the_fake_gateway_program() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let mut server = Command::new(common::fake_gateway_binary())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start nexus-gateway-fake");
    let mut lines = BufReader::new(server.stdout.take().expect("stdout")).lines();
    let mut value = |name: &str| {
        let line = lines.next().expect("a line").expect("text");
        line.strip_prefix(&format!("{name}="))
            .expect(name)
            .to_owned()
    };
    let (gateway_url, upstream_url) = (value("NEXUS_GATEWAY_URL"), value("UPSTREAM_URL"));
    let out = Command::new(common::example_binary("nexus_fetch"))
        .args([
            "-w",
            "ws-demo",
            "-p",
            "github",
            &format!("{upstream_url}/user"),
        ])
        .env("NEXUS_GATEWAY_URL", gateway_url)
        .env_remove("NEXUS_CREDENTIAL_SCOPE")
        .env_remove("NEXUS_ALLOWED_ORIGINS")
        .output()
        .expect("run nexus_fetch");
    let _ = server.kill();
    let _ = server.wait();
    assert!(out.status.success(), "{}", text(&out.stderr));
}
