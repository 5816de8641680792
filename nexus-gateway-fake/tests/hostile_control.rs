//! Hostile input never takes the program down: a control call it cannot
//! serve is a 400 naming what is wrong, a bad argument is a usage error
//! that does not repeat its value, and the program keeps serving;
//! listening beyond loopback is said on stderr.

mod common;

use std::ffi::OsString;
use std::time::{Duration, Instant};

use common::{Program, get, send};

#[test]
fn control_calls_it_cannot_serve_are_400s_and_it_keeps_serving() {
    let program = Program::start(&[], &[]);
    let url = &program.gateway;
    for (method, path, body, says) in [
        (
            "POST",
            "/_fake/connections/status",
            r#"{"status":"active"}"#,
            "which connection?",
        ),
        (
            "POST",
            "/_fake/connections//status",
            r#"{"status":"active"}"#,
            "which connection?",
        ),
        (
            "POST",
            "/_fake/faults",
            r#"{"status":503,"count":0}"#,
            "`count` is a whole number",
        ),
        (
            "POST",
            "/_fake/faults",
            r#"{"status":503,"count":-1}"#,
            "`count` is a whole number",
        ),
        (
            "POST",
            "/_fake/faults",
            r#"{"status":1000}"#,
            "`status` is an HTTP status",
        ),
        (
            "POST",
            "/_fake/faults",
            r#"{"status":99}"#,
            "`status` is an HTTP status",
        ),
        (
            "POST",
            "/_fake/broker",
            r#"{"route":"resolve","status":70000}"#,
            "`status` is an HTTP status",
        ),
        (
            "POST",
            "/_fake/faults",
            r#"{"route":"nowhere","status":500}"#,
            r#"unknown route \"nowhere\""#,
        ),
        (
            "POST",
            "/_fake/latency",
            r#"{"ms":"soon"}"#,
            "`ms` is a whole number",
        ),
        ("POST", "/_fake/hold", "{", "the body is not JSON"),
        ("DELETE", "/_fake/providers", "", "no such provider"),
        (
            "PUT",
            "/_fake/whatever",
            "{}",
            "no control call PUT /_fake/whatever",
        ),
    ] {
        let started = Instant::now();
        let (status, _, answer) = send(url, method, path, body);
        assert_eq!(status, 400, "{method} {path} {body}: {answer}");
        assert!(answer.contains(says), "{method} {path} {body}: {answer}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "answered at once"
        );
    }
    assert_eq!(get(url, "/health").0, 200, "still serving");
}

#[test]
fn a_huge_fault_count_is_kept_as_a_number_not_queued_as_copies() {
    let program = Program::start(&[], &[]);
    let url = &program.gateway;
    let huge = r#"{"route":"resolve","status":503,"count":18000000000000000000}"#;
    assert_eq!(send(url, "POST", "/_fake/faults", huge).0, 200);
    assert_eq!(get(url, "/health").0, 200, "every other route answers");
    let resolve = "/v1/resolve?workspace_id=ws-demo&provider_name=github";
    for _ in 0..3 {
        assert_eq!(get(url, resolve).0, 503);
    }
    assert_eq!(send(url, "POST", "/_fake/reset", "").0, 200);
    assert_eq!(get(url, resolve).0, 200);
}

#[test]
fn a_bad_argument_is_a_usage_error_that_does_not_repeat_its_value() {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStringExt;
        let bytes = b"gho_s3cret\xff".to_vec();
        let args = [OsString::from("--token"), OsString::from_vec(bytes)];
        let (code, stderr) = common::refused(&args, &[]);
        assert_eq!(code, Some(2), "{stderr}");
        assert!(stderr.contains("argument 2 is not valid UTF-8"), "{stderr}");
        assert!(
            !stderr.contains("s3cret") && !stderr.contains("panicked"),
            "{stderr}"
        );
    }
    for (args, says) in [
        (vec!["gho_s3cret"], "unexpected argument"),
        (vec!["--token=gho_s3cret"], "unexpected argument"),
        (
            vec!["--port", "s3cret"],
            "--port is a number from 0 to 65535",
        ),
        (vec!["--tokn", "gho_s3cret"], "unknown flag `--tokn`"),
        (vec!["--token"], "--token needs a value"),
    ] {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        let (code, stderr) = common::refused(&args, &[]);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(!stderr.contains("s3cret"), "{args:?}: {stderr}");
    }
}

#[test]
fn listening_beyond_loopback_is_said_on_stderr() {
    let loopback = Program::start(&[], &[]);
    assert!(!loopback.stop().contains("warning"));
    let everywhere = Program::start(&["--host", "0.0.0.0"], &[]);
    let stderr = everywhere.stop();
    assert!(
        stderr.contains("warning: listening beyond loopback"),
        "{stderr}"
    );
    assert!(stderr.contains("X-API-Key"), "{stderr}");
}
