//! `--connect` as an operator writes it: a name the Gateway does not list
//! is said at start, the start line says what the user may connect, and a
//! value that names no scope is refused before anything starts.

mod common;

use common::{Session, gateway, server};

#[test]
fn a_connect_name_the_gateway_does_not_list_is_said_at_start() {
    let (gateway, _api) = gateway();
    let session = Session::start_with(&gateway, &["--connect", "githb"], &[]);
    let line = session.stderr_line("no such provider");
    assert!(
        line.contains("--connect githb: the Gateway lists no such provider"),
        "{line}"
    );
    assert!(line.contains("it lists: github, stripe"), "{line}");
    let started = session.stderr_line("serving workspace");
    assert!(
        started.contains("the user may connect githb from the host"),
        "{started}"
    );
}

#[test]
fn a_server_without_connect_says_so_in_its_start_line() {
    let (gateway, _api) = gateway();
    let session = Session::start_with(&gateway, &[], &[]);
    let started = session.stderr_line("serving workspace");
    assert!(
        started.contains("no connect on first use (--connect)"),
        "{started}"
    );
}

#[test]
fn a_connect_value_without_a_scope_after_its_equals_or_a_comma_is_refused() {
    let (gateway, _api) = gateway();
    for value in [
        "github=",
        "github=,",
        "github=repo read:org",
        "github=repo,",
    ] {
        let output = server(&gateway, &["--connect", value]).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{value}");
        let err = String::from_utf8_lossy(&output.stderr);
        assert!(
            err.contains("--connect") && err.contains("is not a scope"),
            "{value}: {err}"
        );
    }
}

#[test]
fn duration_flags_read_as_the_library_reads_nexus_timeout() {
    let (gateway, _api) = gateway();
    let args = [
        "--connect-wait",
        "2.5s",
        "--token-buffer",
        "500ms",
        "--timeout",
        "1.5s",
    ];
    let session = Session::start_with(&gateway, &args, &[]);
    let started = session.stderr_line("serving workspace");
    assert!(started.contains("timeout 1.5s"), "{started}");
    for (flag, value) in [
        ("--connect-wait", "0"),
        ("--token-buffer", "2.5x"),
        ("--connect-wait", "soon"),
    ] {
        let output = server(&gateway, &[flag, value]).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{flag} {value}");
        let err = String::from_utf8_lossy(&output.stderr);
        assert!(
            err.contains(flag) && err.contains("30, 30s, 2.5s or 500ms"),
            "{err}"
        );
    }
}
