//! `nexus` at the Gateway's rate limit and at its edges: a 429 is waited
//! out within `--timeout` (at least its `Retry-After`, backing off, with
//! jitter), or refused at once saying how long it asked and which setting
//! would have waited; a fleet of processes beyond the burst all succeed
//! with a bounded number of resolves; git's `protocol` in any case; a
//! provider the Gateway does not list named with those it does; `--host`
//! as `host[:port]` only.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{gateway, nexus, run, run_with_input};
use nexus_gateway_fake::{FakeGateway, RateLimits, Route};

fn token(gateway: &FakeGateway, args: &[&str]) -> Command {
    let mut command = nexus(gateway);
    command.args(["token", "ws", "github"]).args(args);
    command
}

fn limits(resolve_rpm: i64, minute: Duration) -> RateLimits {
    RateLimits {
        enabled: true,
        resolve_rpm,
        minute,
        ..RateLimits::default()
    }
}

#[test]
fn a_429_is_waited_out_within_the_timeout_or_refused_at_once_saying_so() {
    let gateway = gateway();
    // A burst of one, then one a second: a minute shortened to 1 s, so the
    // wait is a second or two here.
    gateway.set_rate_limits(limits(1, Duration::from_secs(1)));
    for _ in 0..3 {
        let (code, out, err) = run(&mut token(&gateway, &[]));
        assert_eq!((code, out.trim()), (0, "gho_cli"), "{err}");
    }
    // One every 10 minutes: longer than a 2 s --timeout leaves. Refused at once.
    gateway.set_rate_limits(limits(1, Duration::from_secs(600)));
    let (code, _, _) = run(&mut token(&gateway, &[]));
    assert_eq!(code, 0, "the burst");
    let before = gateway.requests(Route::Resolve);
    let (code, out, err) = run(&mut token(&gateway, &["--timeout", "2s"]));
    assert_eq!(code, 1, "{err}");
    assert!(out.is_empty());
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(
        err.contains("rate limit") && err.contains("asked to wait"),
        "{err}"
    );
    assert!(
        err.contains("--timeout"),
        "the setting that would have waited: {err}"
    );
    assert_eq!(
        gateway.requests(Route::Resolve),
        before + 1,
        "not retried in vain"
    );
}

#[test]
fn a_fleet_beyond_the_burst_all_succeed_with_bounded_resolves() {
    let gateway = gateway();
    // The Gateway's default limits: a burst of 60 resolves, then one a second.
    gateway.set_rate_limits(RateLimits {
        enabled: true,
        ..RateLimits::default()
    });
    let (fleet, started) = (70, std::time::Instant::now());
    let children: Vec<_> = (0..fleet)
        .map(|_| {
            let mut command = token(&gateway, &[]);
            command.stdout(Stdio::piped()).stderr(Stdio::piped());
            command.spawn().unwrap()
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{err}");
        assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "gho_cli");
    }
    let resolves = gateway.requests(Route::Resolve);
    // The figure docs/fleet.md gives (shown with --nocapture).
    eprintln!(
        "fleet: {fleet} processes, {resolves} resolves, {:?}",
        started.elapsed()
    );
    assert!(resolves >= fleet, "{resolves}");
    assert!(
        resolves <= 2 * fleet,
        "no retry storm: {resolves} resolves for {fleet} processes"
    );
}

fn git_get(
    gateway: &FakeGateway,
    provider: &str,
    args: &[&str],
    input: &str,
) -> (i32, String, String) {
    let mut command = nexus(gateway);
    command.args([
        "git-credential",
        "--workspace",
        "ws",
        "--provider",
        provider,
    ]);
    command.args(args).arg("get");
    run_with_input(&mut command, input)
}

#[test]
fn git_protocol_is_compared_without_regard_to_case() {
    let gateway = gateway();
    let (_, out, err) = git_get(
        &gateway,
        "github",
        &[],
        "protocol=HTTP\nhost=github.com\n\n",
    );
    assert!(out.is_empty(), "plain http to a remote host: {out}");
    assert!(err.contains("only over https"), "{err}");
    let (_, out, err) = git_get(
        &gateway,
        "github",
        &[],
        "protocol=HTTPS\nhost=github.com\n\n",
    );
    assert!(out.contains("password=gho_cli"), "{err}");
    assert_eq!(gateway.requests(Route::Resolve), 1);
}

#[test]
fn a_provider_the_gateway_does_not_list_is_named_with_those_it_does() {
    let gateway = gateway();
    let (code, out, err) = git_get(
        &gateway,
        "githb",
        &[],
        "protocol=https\nhost=github.com\n\n",
    );
    assert_eq!(code, 0);
    assert!(out.is_empty());
    assert!(
        err.contains("the Gateway lists no provider `githb`"),
        "{err}"
    );
    assert!(err.contains("github") && !err.contains("--host"), "{err}");
    let (_, out, err) = git_get(
        &gateway,
        "GitHub",
        &[],
        "protocol=https\nhost=github.com\n\n",
    );
    assert!(
        out.contains("password=gho_cli"),
        "found as the Gateway finds it: {err}"
    );
}

#[test]
fn host_takes_host_or_host_and_port_only() {
    let gateway = gateway();
    for (bad, says) in [
        ("https://github.com", "is a URL"),
        ("github.com/org", "has a path"),
        ("bob@github.com", "has a user name"),
        ("github.com:x", "is not a host name"),
    ] {
        let (code, out, err) = git_get(&gateway, "github", &["--host", bad], "");
        assert_eq!(code, 2, "{bad}: {err}");
        assert!(out.is_empty());
        assert!(err.contains(says), "{bad}: {err}");
    }
}
