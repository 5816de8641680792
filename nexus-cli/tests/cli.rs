//! The built `nexus` binary against the fake Gateway: every subcommand, its
//! exit status and its streams; `exec` with the child's status and
//! environment; a real `git` asking the helper; mistakes with nothing on
//! stdout and no secret on stderr.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

use common::{API_KEY, gateway, nexus, run};
use nexus_gateway_fake::FakeGateway;

#[test]
fn token_prints_the_value_the_header_or_json_and_nothing_else() {
    let gateway = gateway();
    let token = |provider: &str, format: &str| {
        run(nexus(&gateway).args(["token", "ws", provider, "--format", format]))
    };
    assert_eq!(
        token("github", "value"),
        (0, "gho_cli\n".into(), String::new())
    );
    assert_eq!(
        token("github", "header").1,
        "Authorization: Bearer gho_cli\n"
    );
    assert_eq!(token("stripe", "header").1, "X-Api-Key: sk_cli\n");
    assert_eq!(
        token("jira", "header").1,
        "Authorization: Basic YW5uOnB3OmNsaQ==\n"
    );
    assert_eq!(token("maps", "value").1, "qk_cli\n");
    let (code, json, _) = token("github", "json");
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(code, 0);
    assert_eq!(json["strategy"], "oauth2");
    assert_eq!(
        (json["header_name"].as_str(), json["value_prefix"].as_str()),
        (Some("Authorization"), Some("Bearer "))
    );
    assert_eq!(json["value"], "gho_cli");
    assert!(json["expires_at"].as_u64().is_some());
    // A strategy that signs each request has no value: it says so and points at exec.
    for provider in ["s3", "hook"] {
        let (code, out, err) = token(provider, "value");
        assert_eq!((code, out.as_str()), (1, ""), "{provider}");
        assert!(
            err.contains("nexus exec") && err.lines().count() == 1,
            "{err}"
        );
        assert!(
            !err.contains("aws_secret_cli") && !err.contains("hmac_cli"),
            "{err}"
        );
    }
}

#[test]
fn exec_hands_the_command_the_credential_and_its_status_comes_back() {
    let gateway = gateway();
    let exec = |args: &[&str], script: &str| {
        let mut command = nexus(&gateway);
        command
            .arg("exec")
            .args(args)
            .args(["--", "sh", "-c", script]);
        run(&mut command)
    };
    let (code, out, _) = exec(
        &["ws", "github"],
        "echo \"$NEXUS_TOKEN|${NEXUS_API_KEY-unset}\"; exit 7",
    );
    assert_eq!(
        (code, out.as_str()),
        (7, "gho_cli|unset\n"),
        "the api key never reaches the child"
    );
    let (_, out, _) = exec(
        &["ws", "github", "--env", "GH_TOKEN", "--env", "GITHUB_TOKEN"],
        "echo $GH_TOKEN $GITHUB_TOKEN ${NEXUS_TOKEN-none}",
    );
    assert_eq!(out, "gho_cli gho_cli none\n");
    let (_, out, _) = exec(&["ws", "jira"], "echo \"$NEXUS_USERNAME|$NEXUS_PASSWORD\"");
    assert_eq!(out, "ann|pw:cli\n");
    let (_, out, _) = exec(
        &["ws", "s3"],
        "echo \"$AWS_ACCESS_KEY_ID|$AWS_SECRET_ACCESS_KEY|$AWS_REGION|${AWS_SESSION_TOKEN-none}\"",
    );
    assert_eq!(out, "AKIDCLI|aws_secret_cli|eu-west-1|none\n");
    // Killed by a signal: the status a shell reports, 128 + the signal.
    let (code, _, _) = exec(&["ws", "github"], "kill -TERM $$");
    assert_eq!(code, 128 + 15);
    // The child's stdin is the command's own.
    let mut command = nexus(&gateway);
    let mut child = command
        .args([
            "exec",
            "ws",
            "github",
            "--",
            "sh",
            "-c",
            "read line; echo got:$line",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"hello\n").unwrap();
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(out, "got:hello\n");
}

#[test]
fn git_asks_the_helper_through_credential_fill_and_gets_the_token() {
    let gateway = gateway();
    let helper = format!(
        "!{} git-credential --workspace ws --provider github",
        env!("CARGO_BIN_EXE_nexus")
    );
    let mut git = Command::new("git");
    git.args(["-c", "credential.helper=", "-c"])
        .arg(format!("credential.https://github.com.helper={helper}"))
        .args(["credential", "fill"])
        .env("NEXUS_GATEWAY_URL", gateway.url())
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("HOME", std::env::temp_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = git.spawn().expect("git is installed");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"protocol=https\nhost=github.com\n\n")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let out = String::from_utf8(output.stdout).unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(out.contains("username=x-access-token\n"), "{out}");
    assert!(out.contains("password=gho_cli\n"), "{out}");
    // store and erase are accepted, and answer nothing.
    for operation in ["store", "erase"] {
        let mut command = nexus(&gateway);
        command.args([
            "git-credential",
            "--workspace",
            "ws",
            "--provider",
            "github",
            operation,
        ]);
        command.stdin(Stdio::piped()).stdout(Stdio::piped());
        let mut child = command.spawn().unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"protocol=https\nhost=github.com\nusername=x\npassword=y\n\n")
            .unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success() && output.stdout.is_empty(),
            "{operation}"
        );
    }
}

/// `GET` of a URL on loopback, its body ignored: the consent page.
fn visit(url: &str) {
    let rest = url.trim_start_matches("http://");
    let (authority, path) = rest.split_at(rest.find('/').unwrap());
    let mut stream = TcpStream::connect(authority).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[test]
fn connect_shows_the_url_waits_for_consent_and_prints_the_id_then_status_and_revoke() {
    let gateway = gateway();
    gateway.register_provider("github");
    let mut child = nexus(&gateway)
        .args(["connect", "ws", "github", "--scope", "repo"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let url = loop {
        let mut line = String::new();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "no URL shown");
        if let Some(url) = line.trim().strip_prefix("http://") {
            break format!("http://{url}");
        }
    };
    visit(&url);
    let mut id = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut id)
        .unwrap();
    assert!(child.wait().unwrap().success());
    let id = id.trim().to_owned();
    assert_eq!(id.len(), 36, "a connection id alone on stdout: {id:?}");
    assert_eq!(
        run(nexus(&gateway).args(["status", &id])),
        (0, "active\n".into(), String::new())
    );
    assert_eq!(run(nexus(&gateway).args(["revoke", &id])).1, "revoked\n");
    assert_eq!(
        run(nexus(&gateway).args(["revoke", &id])).1,
        "already revoked\n"
    );
}

#[test]
fn mistakes_leave_stdout_empty_and_stderr_free_of_secrets() {
    let gateway = gateway();
    // A usage mistake: 2, as git and gh do.
    let (code, out, err) = run(nexus(&gateway).args(["tokn", "ws", "github"]));
    assert_eq!((code, out.as_str()), (2, ""));
    assert!(err.contains("token"), "a suggestion: {err}");
    // An unknown provider: 1, one line with the code.
    let (code, out, err) = run(nexus(&gateway).args(["token", "ws", "gitlab"]));
    assert_eq!((code, out.as_str()), (1, ""));
    assert!(
        err.starts_with("nexus: connection_not_found: "),
        "the library's code: {err}"
    );
    assert!(
        err.contains("no provider `gitlab`") && err.lines().count() == 1,
        "{err}"
    );
    // A dead Gateway.
    let dead = FakeGateway::start();
    let url = dead.url();
    drop(dead);
    let (code, out, err) =
        run(nexus(&gateway).args(["--gateway-url", &url, "token", "ws", "github"]));
    assert_eq!((code, out.as_str()), (1, ""));
    assert!(
        err.starts_with("nexus: request_failed: could not reach the Nexus Gateway"),
        "{err}"
    );
    assert!(!err.contains(API_KEY));
    // An api key as a flag works, with a warning that it shows in the process list.
    let (code, out, err) =
        run(nexus(&gateway).args(["--api-key", "nx_flag_key", "token", "ws", "github"]));
    assert_eq!((code, out.as_str()), (0, "gho_cli\n"));
    assert!(
        err.contains("process list") && !err.contains("nx_flag_key"),
        "{err}"
    );
    // Help on every subcommand, and a version.
    for sub in [
        "token",
        "exec",
        "git-credential",
        "connect",
        "status",
        "revoke",
    ] {
        let (code, out, _) = run(nexus(&gateway).args([sub, "--help"]));
        assert_eq!(code, 0, "{sub}");
        assert!(out.contains("Usage: nexus"), "{sub}: {out}");
    }
    assert!(
        run(nexus(&gateway).arg("--version"))
            .1
            .starts_with(concat!("nexus ", env!("CARGO_PKG_VERSION")))
    );
}

#[test]
fn a_pair_without_a_connection_is_told_the_command_that_connects_it() {
    let gateway = gateway();
    // The Gateway lists github; workspace ws-typo has no connection to it.
    let (code, out, err) = run(nexus(&gateway).args(["token", "ws-typo", "github"]));
    assert_eq!((code, out.as_str()), (1, ""));
    assert!(
        err.contains(
            "no active connection to `github` for this workspace; if the workspace is right"
        ),
        "what is true, from the library: {err}"
    );
    assert!(
        err.trim_end().ends_with("(nexus connect ws-typo github)"),
        "{err}"
    );
    assert!(
        !err.contains("wait_for_active"),
        "no library call for a shell user: {err}"
    );
}

#[test]
#[cfg(unix)]
fn a_variable_read_for_a_flag_that_is_not_utf8_is_refused_naming_it() {
    use std::os::unix::ffi::OsStringExt;
    let gateway = gateway();
    let not_utf8 = std::ffi::OsString::from_vec(b"3\xffs-secret-value".to_vec());
    for name in ["NEXUS_GATEWAY_URL", "NEXUS_API_KEY", "NEXUS_TIMEOUT"] {
        let mut command = nexus(&gateway);
        command.env(name, &not_utf8).args(["token", "ws", "github"]);
        let (code, out, err) = run(&mut command);
        assert_eq!((code, out.as_str()), (2, ""), "{name}: {err}");
        assert!(err.contains(name) && err.contains("UTF-8"), "{name}: {err}");
        assert!(!err.contains("secret-value"), "never the value: {err}");
    }
}

#[test]
#[cfg(unix)]
fn a_variable_it_cannot_read_is_refused_naming_it_never_taken_as_unset() {
    use std::os::unix::ffi::OsStringExt;
    let gateway = gateway();
    let not_utf8 = std::ffi::OsString::from_vec(b"github=https://\xff.example".to_vec());
    for name in [
        "NEXUS_CREDENTIAL_SCOPE",
        "NEXUS_ALLOWED_ORIGINS",
        "NEXUS_RETRIES",
        "NEXUS_RETRY_ON_429",
    ] {
        let mut command = nexus(&gateway);
        command.env(name, &not_utf8).args(["token", "ws", "github"]);
        let (code, out, err) = run(&mut command);
        assert_eq!(
            (code, out.as_str()),
            (1, ""),
            "{name}: no token printed: {err}"
        );
        assert!(err.contains(name) && err.contains("UTF-8"), "{name}: {err}");
    }
}
