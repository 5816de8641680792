//! `nexus` hands a command only what was asked, shows a server's text
//! without obeying it, and its exit statuses and messages tell the truth:
//! the AWS variables `exec` leaves out, `--env` names, a command that
//! cannot be run, escaped server text on one line, `status`'s exit status,
//! and errors that name the flag or variable a setting came from.

mod common;

use common::{gateway, nexus, run};
use nexus_gateway_fake::{FakeGateway, Fault, Route};

/// `exec ws <provider> [args] -- sh -c <script>`.
fn exec(
    gateway: &FakeGateway,
    provider: &str,
    args: &[&str],
    script: &str,
) -> (i32, String, String) {
    let mut command = nexus(gateway);
    command.args(["exec", "ws", provider]).args(args);
    command.args(["--", "sh", "-c", script]);
    run(&mut command)
}

#[test]
fn exec_of_an_aws_credential_removes_the_credential_variables_it_does_not_set() {
    let gateway = gateway();
    let mut command = nexus(&gateway);
    // Only the variables this test sets: the machine may have its own.
    for (name, _) in std::env::vars().filter(|(n, _)| n.starts_with("AWS_")) {
        command.env_remove(name);
    }
    for name in [
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_CREDENTIAL_EXPIRATION",
    ] {
        command.env(name, "another-roles");
    }
    command
        .env("AWS_ACCESS_KEY_ID", "AKIDOLD")
        .env("AWS_SECRET_ACCESS_KEY", "old");
    let script = "env | grep '^AWS_' | sort";
    command.args(["exec", "ws", "s3", "--", "sh", "-c", script]);
    let (code, out, err) = run(&mut command);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "AWS_ACCESS_KEY_ID=AKIDCLI\nAWS_DEFAULT_REGION=eu-west-1\nAWS_REGION=eu-west-1\n\
         AWS_SECRET_ACCESS_KEY=aws_secret_cli\n"
    );
    // A session token the credential has is set under both names.
    let gateway = FakeGateway::start();
    let session = nexus_gateway_fake::FakeProvider::aws_sigv4("AKID2", "s2", "us-west-2", "sts")
        .credential("session_token", "sess_new");
    gateway.add_provider("ws", "aws", session);
    let (_, out, _) = exec(
        &gateway,
        "aws",
        &[],
        "echo \"$AWS_SESSION_TOKEN|$AWS_SECURITY_TOKEN\"",
    );
    assert_eq!(out, "sess_new|sess_new\n");
}

#[test]
fn an_env_name_that_is_no_variable_name_is_a_usage_error_and_nothing_runs() {
    let gateway = gateway();
    let marker = std::env::temp_dir().join(format!("nexus-env-ran-{}", std::process::id()));
    let script = format!("touch {}", marker.display());
    for bad in [
        "GH_TOKEN=x",
        "",
        "A\u{0}B",
        "GH TOKEN",
        "1TOKEN",
        "TOKEN-X",
        "t\u{e9}",
    ] {
        if bad.contains('\0') {
            continue; // an argument cannot hold NUL; the parser's own test covers it
        }
        let (code, out, err) = exec(&gateway, "github", &["--env", bad], &script);
        assert_eq!((code, out.as_str()), (2, ""), "{bad:?}: {err}");
        assert!(
            err.contains("--env") && err.contains("not a variable name"),
            "{err}"
        );
        assert!(!marker.exists(), "the command ran for {bad:?}");
    }
    assert_eq!(
        gateway.resolves("ws", "github"),
        0,
        "nothing was resolved either"
    );
}

#[test]
fn a_command_that_cannot_be_found_or_run_exits_127_or_126() {
    let gateway = gateway();
    let mut command = nexus(&gateway);
    command.args(["exec", "ws", "github", "--", "no-such-command-nexus-test"]);
    let (code, out, err) = run(&mut command);
    assert_eq!((code, out.as_str()), (127, ""));
    assert_eq!(
        err,
        "nexus: exec: no-such-command-nexus-test: command not found\n"
    );
    let file = std::env::temp_dir().join(format!("nexus-not-executable-{}", std::process::id()));
    std::fs::write(&file, "#!/bin/sh\necho ran\n").unwrap();
    let mut command = nexus(&gateway);
    command.args(["exec", "ws", "github", "--"]).arg(&file);
    let (code, out, err) = run(&mut command);
    std::fs::remove_file(&file).unwrap();
    assert_eq!((code, out.as_str()), (126, ""), "{err}");
    assert!(
        err.ends_with(": permission denied\n") && err.lines().count() == 1,
        "{err}"
    );
}

#[test]
fn a_servers_text_is_one_escaped_line() {
    let gateway = gateway();
    let forged = r#"{"error":"connection_not_found","message":"no such thing\nINFO nexus_sdk: Using cached token \u001b[2J\u001b]0;owned\u0007"}"#;
    gateway.push_fault_for(
        Route::Resolve,
        Fault::body(404, Some("application/json"), forged),
    );
    let (code, out, err) = run(nexus(&gateway).args(["token", "ws", "github"]));
    assert_eq!((code, out.as_str()), (1, ""));
    assert_eq!(err.lines().count(), 1, "{err:?}");
    assert!(
        err.starts_with("nexus: connection_not_found: no such thing\\nINFO"),
        "{err:?}"
    );
    assert!(!err.contains('\u{1b}') && !err.contains('\u{7}'), "{err:?}");
}

#[test]
fn connect_shows_only_an_http_url_and_escapes_it() {
    let gateway = gateway();
    gateway.register_provider("github");
    for auth_url in [
        "javascript:alert(1)",
        "\u{1b}]52;c;cHduZWQ=\u{7}https://x.example/",
    ] {
        let body = serde_json::json!({"authUrl": auth_url, "connection_id": "c-1", "state": "s"});
        let body = body.to_string();
        gateway.push_fault_for(
            Route::RequestConnection,
            Fault::body(200, Some("application/json"), &body),
        );
        let (code, out, err) =
            run(nexus(&gateway).args(["connect", "ws", "github", "--wait", "1"]));
        assert_eq!((code, out.as_str()), (1, ""), "{auth_url:?}");
        assert!(
            !err.contains('\u{1b}') && !err.contains("javascript"),
            "{err:?}"
        );
        assert!(err.contains("authUrl is not an http(s) URL"), "{err}");
    }
}

#[test]
fn connect_that_gives_up_names_wait() {
    let gateway = gateway();
    gateway.register_provider("github");
    let (code, out, err) = run(nexus(&gateway).args(["connect", "ws", "github", "--wait", "1"]));
    assert_eq!((code, out.as_str()), (1, ""));
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("nexus: timeout: no consent within 1s (--wait)"),
        "{err}"
    );
}

#[test]
fn status_exits_3_unless_the_connection_is_active() {
    let gateway = gateway();
    let unknown = "3f1b2c4d-0000-4000-8000-0000000000ff";
    let (code, out, err) = run(nexus(&gateway).args(["status", unknown]));
    assert_eq!((code, out.as_str(), err.as_str()), (3, "failed\n", ""));
    // An id that is no UUID is refused before the Gateway is asked.
    for bad in [
        "conn_123",
        "3f1b2c4d00004000800000000000000c",
        "3f1b2c4d-0000-4000-8000-00000000000g",
        "",
    ] {
        for sub in ["status", "revoke"] {
            let (code, out, err) = run(nexus(&gateway).args([sub, bad]));
            assert_eq!((code, out.as_str()), (2, ""), "{sub} {bad:?}: {err}");
            assert!(
                err.contains("is not a connection id"),
                "{sub} {bad:?}: {err}"
            );
        }
    }
    gateway.push_fault_for(
        Route::CheckConnection,
        Fault::body(
            200,
            Some("application/json"),
            r#"{"status":"odd\u001b[2J"}"#,
        ),
    );
    let (code, out, _) = run(nexus(&gateway).args(["status", unknown]));
    assert_eq!((code, out.as_str()), (3, "odd\\u{1b}[2J\n"));
}

#[test]
fn errors_name_the_flag_or_the_variable_a_setting_came_from() {
    let gateway = gateway();
    let dead = FakeGateway::start().url(); // dropped: nothing listens there now
    let (code, _, err) =
        run(nexus(&gateway).args(["--gateway-url", &dead, "token", "ws", "github"]));
    assert_eq!(code, 1);
    assert!(err.trim_end().ends_with("check --gateway-url"), "{err}");
    assert!(!err.contains("NEXUS_GATEWAY_URL"), "{err}");
    let (_, _, err) = run(nexus(&gateway)
        .env("NEXUS_GATEWAY_URL", &dead)
        .args(["token", "ws", "github"]));
    assert!(err.trim_end().ends_with("check NEXUS_GATEWAY_URL"), "{err}");
    let (_, _, err) =
        run(nexus(&gateway).args(["--gateway-url", "ftp://x", "token", "ws", "github"]));
    assert!(
        err.starts_with("nexus: invalid_input: --gateway-url must be"),
        "{err}"
    );
    let (code, _, err) = run(nexus(&gateway)
        .env_remove("NEXUS_GATEWAY_URL")
        .args(["token", "ws", "github"]));
    assert_eq!(code, 1);
    assert!(
        err.contains("NEXUS_GATEWAY_URL") && err.contains("--gateway-url"),
        "{err}"
    );
    for zero in ["0", "0s", "0ms"] {
        let (code, out, err) =
            run(nexus(&gateway).args(["--timeout", zero, "token", "ws", "github"]));
        assert_eq!((code, out.as_str()), (2, ""), "{zero}");
        assert!(
            err.contains("--timeout") && !err.contains("NexusClientOptions"),
            "{err}"
        );
    }
}

#[test]
fn the_flags_override_the_librarys_reading_of_the_environment() {
    let gateway = gateway();
    let other = FakeGateway::start();
    // The URL flag beats the variable; the scope still comes from the environment.
    let mut command = nexus(&other);
    command.env("NEXUS_CREDENTIAL_SCOPE", "everywhere").args([
        "--gateway-url",
        &gateway.url(),
        "token",
        "ws",
        "github",
    ]);
    let (code, _, err) = run(&mut command);
    assert_eq!(code, 1);
    assert!(err.contains("NEXUS_CREDENTIAL_SCOPE"), "{err}");
    let (code, out, _) =
        run(nexus(&other).args(["--gateway-url", &gateway.url(), "token", "ws", "github"]));
    assert_eq!((code, out.as_str()), (0, "gho_cli\n"));
    assert_eq!(other.total_requests(), 0);
}

/// A credential the Gateway hands out already expired is never handed on:
/// `token` and `exec` fail in one line naming the provider, the workspace,
/// when it expired and what to do; `git-credential` answers nothing, and
/// says why on stderr.
#[test]
fn an_expired_credential_is_named_and_never_handed_on() {
    let gateway = nexus_gateway_fake::FakeGateway::start();
    for (provider, ago) in [("linear", 1), ("github", 86_400 * 400)] {
        let stale = nexus_gateway_fake::FakeProvider::oauth2("tok_stale_value")
            .expired(std::time::Duration::from_secs(ago));
        gateway.add_provider("ws-7", provider, stale);
        let runs = [
            run(nexus(&gateway).args(["token", "ws-7", provider])),
            run(nexus(&gateway).args(["exec", "ws-7", provider, "--", "true"])),
        ];
        for (code, out, err) in runs {
            assert_eq!((code, out.as_str()), (1, ""), "{provider}: {err}");
            assert_eq!(err.lines().count(), 1, "one line: {err}");
            for part in ["expired", provider, "ws-7", "nexus connect ws-7"] {
                assert!(err.contains(part), "{provider}: {part:?} in {err}");
            }
            assert!(!err.contains("tok_stale_value"), "{err}");
        }
        let mut git = nexus(&gateway);
        git.args([
            "git-credential",
            "--workspace",
            "ws-7",
            "--provider",
            provider,
        ])
        .args(["--host", "example.com", "get"]);
        let (code, out, err) =
            common::run_with_input(&mut git, "protocol=https\nhost=example.com\n\n");
        assert_eq!((code, out.as_str()), (0, ""), "no answer for git: {err}");
        assert!(
            err.contains("expired") && err.contains("nexus connect ws-7"),
            "git is told why: {err}"
        );
    }
}

/// git is told to drop the token when the library would stop using it: its
/// expiry less the cache's buffer.
#[test]
fn git_is_told_the_instant_the_library_stops_using_the_token() {
    let gateway = nexus_gateway_fake::FakeGateway::start();
    for (provider, lifetime) in [
        ("github", 600),
        ("gitlab", 3600),
        ("gitea", 45),
        ("short", 10),
    ] {
        let token = nexus_gateway_fake::FakeProvider::oauth2("gho_git")
            .api_base_url("https://git.example")
            .expires_in(std::time::Duration::from_secs(lifetime));
        gateway.add_provider("ws-8", provider, token);
        let before = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let mut git = nexus(&gateway);
        git.args([
            "git-credential",
            "--workspace",
            "ws-8",
            "--provider",
            provider,
            "get",
        ]);
        let (_, out, err) =
            common::run_with_input(&mut git, "protocol=https\nhost=git.example\n\n");
        let told: u64 = out
            .lines()
            .find_map(|l| l.strip_prefix("password_expiry_utc="))
            .unwrap_or_else(|| panic!("{provider}: no expiry in {out:?}: {err}"))
            .parse()
            .unwrap();
        // A token shorter than the buffer: its own expiry.
        let buffer = nexus_sdk::DEFAULT_BUFFER.as_secs();
        let expected = before
            + if lifetime > buffer {
                lifetime - buffer
            } else {
                lifetime
            };
        assert!(
            (expected..=expected + 60).contains(&told),
            "{provider}: expiry less the 30 s buffer, about {expected}, got {told}"
        );
    }
}

/// The README's placeholder api key is refused before anything is sent,
/// naming the setting as the user gave it.
#[test]
fn a_placeholder_api_key_names_the_setting_as_given() {
    let gateway = gateway();
    let (code, out, err) = run(nexus(&gateway)
        .env("NEXUS_API_KEY", "…")
        .args(["token", "ws", "github"]));
    assert_eq!((code, out.as_str()), (1, ""), "{err}");
    assert!(
        err.contains("NEXUS_API_KEY") && err.lines().count() == 1,
        "{err}"
    );
    let (code, _, err) = run(nexus(&gateway).args(["--api-key", "nx…", "token", "ws", "github"]));
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("--api-key") && !err.contains("NEXUS_API_KEY (the"),
        "{err}"
    );
    assert_eq!(gateway.resolves("ws", "github"), 0, "nothing was sent");
}

/// `--timeout` and `NEXUS_TIMEOUT` are one setting, read by the library's
/// one reader: the same forms, the same refusals, named as given.
#[test]
fn the_timeout_flag_and_variable_read_alike() {
    let gateway = gateway();
    let (_, help, _) = run(nexus(&gateway).env_remove("NEXUS_TIMEOUT").arg("--help"));
    assert!(help.contains("[env: NEXUS_TIMEOUT"), "{help}");
    for good in ["30", "30s", "2.5s", "1500ms"] {
        let (code, out, err) =
            run(nexus(&gateway).args(["--timeout", good, "token", "ws", "github"]));
        assert_eq!(
            (code, out.trim()),
            (0, "gho_cli"),
            "--timeout {good}: {err}"
        );
        let (code, out, err) = run(nexus(&gateway)
            .env("NEXUS_TIMEOUT", good)
            .args(["token", "ws", "github"]));
        assert_eq!(
            (code, out.trim()),
            (0, "gho_cli"),
            "NEXUS_TIMEOUT={good}: {err}"
        );
    }
    for bad in ["soon", "0", "5m"] {
        let (code, _, err) = run(nexus(&gateway)
            .env("NEXUS_TIMEOUT", bad)
            .args(["token", "ws", "github"]));
        assert_eq!(code, 2, "NEXUS_TIMEOUT={bad}: {err}");
        assert!(
            err.contains("NEXUS_TIMEOUT") && !err.contains("--timeout"),
            "{err}"
        );
        let (code, _, err) = run(nexus(&gateway).args(["--timeout", bad, "token", "ws", "github"]));
        assert_eq!(code, 2, "--timeout {bad}: {err}");
        assert!(err.contains("--timeout"), "{err}");
    }
}

#[test]
fn connect_wait_reads_durations_as_the_timeout_does() {
    let gateway = gateway();
    for bad in ["soon", "0", "5m"] {
        let (code, out, err) =
            run(nexus(&gateway).args(["connect", "ws", "github", "--wait", bad]));
        assert_eq!((code, out.as_str()), (2, ""), "--wait {bad}: {err}");
        assert!(
            err.contains("--wait") && err.contains("30, 30s, 2.5s or 500ms"),
            "{err}"
        );
    }
}
