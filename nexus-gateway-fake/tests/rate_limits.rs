//! The real Gateway's rate limiter (the shared contract's "The real
//! Gateway, measured", item 4): off unless enabled; per route bucket and
//! per workspace or client address; GCRA, a burst of n then one every
//! minute / n; refusals not counted, failures counted; the refusal byte for
//! byte. Time is a stopped `TestClock`'s: nothing here waits, and every
//! figure is exact whatever the machine's pace.

mod common;

use std::time::Duration;

use common::{Program, get, get_with, header, send};
use nexus_gateway_fake::{FakeConnection, FakeGateway, FakeProvider, RateLimits, TestClock};

const C: &str = "6a1f3c2e-9b8d-4e7f-a012-3b4c5d6e7f80";

fn limited(limits: RateLimits) -> (FakeGateway, TestClock) {
    let (gateway, clock) = (FakeGateway::start(), TestClock::stopped());
    gateway.use_clock(&clock);
    gateway.add_provider("ws-1", "github", FakeProvider::oauth2("gho_x"));
    gateway.add_provider("ws-2", "github", FakeProvider::oauth2("gho_y"));
    gateway.add_connection(C, FakeConnection::active("github", "t"));
    gateway.set_rate_limits(RateLimits {
        enabled: true,
        ..limits
    });
    (gateway, clock)
}

fn resolve(gateway: &FakeGateway, workspace: &str) -> (u16, String, String) {
    let path = format!("/v1/resolve?workspace_id={workspace}&provider_name=github");
    get(&gateway.url(), &path)
}

/// The statuses of `n` requests made by `call`.
fn statuses(n: usize, call: impl Fn() -> (u16, String, String)) -> Vec<u16> {
    (0..n).map(|_| call().0).collect()
}

#[test]
fn a_burst_of_n_then_one_every_minute_over_n_with_the_gateways_refusal() {
    let limits = RateLimits {
        resolve_rpm: 6,
        ..RateLimits::default()
    };
    let (gateway, clock) = limited(limits);
    assert_eq!(statuses(6, || resolve(&gateway, "ws-1")), [200; 6]);
    let (status, head, body) = resolve(&gateway, "ws-1");
    assert_eq!(status, 429);
    assert!(
        head.starts_with("HTTP/1.1 429 Too Many Requests\r\n"),
        "{head}"
    );
    let content_type = header(&head, "content-type");
    assert_eq!(content_type.as_deref(), Some("text/plain; charset=utf-8"));
    let nosniff = header(&head, "x-content-type-options");
    assert_eq!(nosniff.as_deref(), Some("nosniff"));
    assert_eq!(header(&head, "retry-after").as_deref(), Some("10"));
    assert_eq!(body, "Too Many Requests\n");
    // Another workspace has its own bucket.
    assert_eq!(resolve(&gateway, "ws-2").0, 200);
    // A whole-second Retry-After is rounded down, and refusals are not
    // counted: 9.5 s on, one more is still half a second early.
    clock.advance(Duration::from_millis(9_500));
    let (status, head, _) = resolve(&gateway, "ws-1");
    assert_eq!(
        (status, header(&head, "retry-after")),
        (429, Some("0".into()))
    );
    clock.advance(Duration::from_millis(500));
    assert_eq!(statuses(2, || resolve(&gateway, "ws-1")), [200, 429]);
    // A quiet minute fills the bucket again.
    clock.advance(Duration::from_secs(70));
    assert_eq!(
        statuses(7, || resolve(&gateway, "ws-1")),
        [200, 200, 200, 200, 200, 200, 429]
    );
}

#[test]
fn each_limited_route_has_the_real_default_and_the_others_are_never_limited() {
    let (gateway, _clock) = limited(RateLimits::default());
    let url = gateway.url();
    let token = format!("/v1/token/{C}");
    let refresh = format!("/v1/refresh/{C}");
    // Failed requests count: request-connection without a body is a 400.
    let request_connection = || send(&url, "POST", "/v1/request-connection", "{}");
    let mut expected = vec![400; 10];
    expected.push(429);
    assert_eq!(statuses(11, request_connection), expected);
    // Both callback routes, any method, in one bucket of 20; 404s counted.
    let mut callbacks = statuses(10, || get(&url, "/v1/callback?state=s"));
    callbacks.extend(statuses(10, || send(&url, "POST", "/auth/callback", "{}")));
    callbacks.push(get(&url, "/auth/callback").0);
    assert_eq!(callbacks[..20], [404; 20]);
    assert_eq!(callbacks[20], 429);
    // Token reads and refreshes: 60 each, in buckets of their own.
    assert_eq!(statuses(61, || get(&url, &token))[59..], [200, 429]);
    assert_eq!(
        statuses(61, || send(&url, "POST", &refresh, ""))[59..],
        [200, 429]
    );
    assert_eq!(statuses(61, || resolve(&gateway, "ws-1"))[59..], [200, 429]);
    for path in [
        format!("/v1/check-connection/{C}"),
        "/v1/providers/metadata".into(),
        "/health".into(),
    ] {
        assert_eq!(statuses(100, || get(&url, &path)), [200; 100], "{path}");
    }
    let revoke = || send(&url, "DELETE", &format!("/v1/connections/{C}"), "");
    assert_eq!(statuses(100, revoke), [200; 100]);
}

#[test]
fn a_bucket_is_per_workspace_else_per_client_address() {
    let limits = RateLimits {
        token_rpm: 1,
        resolve_rpm: 1,
        ..RateLimits::default()
    };
    let (gateway, _clock) = limited(limits);
    let url = gateway.url();
    let token = format!("/v1/token/{C}");
    let as_from = |headers: &str| get_with(&url, &token, headers).0;
    // The client address: X-Real-IP, else the first X-Forwarded-For entry,
    // else the peer (this test's loopback address).
    assert_eq!(as_from("X-Real-IP: 10.0.0.1\r\n"), 200);
    assert_eq!(as_from("X-Real-IP: 10.0.0.1\r\n"), 429);
    assert_eq!(as_from("X-Forwarded-For: 10.0.0.1, 10.9.9.9\r\n"), 429);
    assert_eq!(as_from("X-Forwarded-For: 10.0.0.2, 10.0.0.1\r\n"), 200);
    assert_eq!(as_from(""), 200);
    assert_eq!(as_from(""), 429, "the peer's bucket");
    // A workspace beats the address: X-Workspace-Id, else workspace_id.
    assert_eq!(as_from("X-Workspace-Id: ws-9\r\n"), 200);
    assert_eq!(get(&url, &format!("{token}?workspace_id=ws-8")).0, 200);
    assert_eq!(get(&url, &format!("{token}?workspace_id=ws-9")).0, 429);
    // A resolve is counted by its workspace even when another header
    // names a client address.
    assert_eq!(resolve(&gateway, "ws-1").0, 200);
    let head = "X-Real-IP: 10.7.7.7\r\n";
    let path = "/v1/resolve?workspace_id=ws-1&provider_name=github";
    assert_eq!(get_with(&url, path, head).0, 429);
    let path = "/v1/resolve?workspace_id=ws-1&provider_name=github";
    assert_eq!(get_with(&url, path, "X-Workspace-Id: ws-2\r\n").0, 200);
}

#[test]
fn off_unless_enabled_and_a_figure_of_zero_or_less_leaves_its_route_alone() {
    let gateway = FakeGateway::start();
    gateway.add_provider("ws-1", "github", FakeProvider::oauth2("gho_x"));
    let figures_without_enabling = RateLimits {
        resolve_rpm: 1,
        ..RateLimits::default()
    };
    gateway.set_rate_limits(figures_without_enabling);
    assert_eq!(statuses(70, || resolve(&gateway, "ws-1")), [200; 70]);
    for figure in [0, -5] {
        let limits = RateLimits {
            enabled: true,
            resolve_rpm: figure,
            ..RateLimits::default()
        };
        gateway.set_rate_limits(limits);
        assert_eq!(
            statuses(70, || resolve(&gateway, "ws-1")),
            [200; 70],
            "{figure}"
        );
    }
}

#[test]
fn the_program_reads_the_gateways_variables_and_its_control_call() {
    let env = [
        ("RATE_LIMIT_ENABLED", "true"),
        ("RATE_LIMIT_RESOLVE_RPM", "6"),
    ];
    let program = Program::start(&[], &env);
    let url = &program.gateway;
    let path = "/v1/resolve?workspace_id=ws-demo&provider_name=github";
    let seven = statuses(7, || get(url, path));
    assert_eq!(seven, [200, 200, 200, 200, 200, 200, 429]);
    // At run time: the same names in lower case; a shortened minute.
    let call = |body: &str| send(url, "POST", "/_fake/rate-limits", body);
    let (status, _, body) = call(r#"{"enabled": true, "resolve_rpm": 2, "minute_ms": 600000}"#);
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        statuses(3, || get(url, path)),
        [200, 200, 429],
        "buckets start full"
    );
    let (_, head, _) = get(url, path);
    let retry_after: u64 = header(&head, "retry-after").unwrap().parse().unwrap();
    assert!((240..300).contains(&retry_after), "one every 300 s: {head}");
    for (wrong, says) in [
        (
            r#"{"enabled": true, "resolve_rmp": 2}"#,
            r#"unknown key \"resolve_rmp\""#,
        ),
        (r#"{"resolve_rpm": 2}"#, "`enabled` is required"),
        (r#"{"enabled": "yes"}"#, "`enabled` is true or false"),
        (
            r#"{"enabled": true, "token_rpm": 1.5}"#,
            "`token_rpm` is a whole number",
        ),
        (
            r#"{"enabled": true, "minute_ms": 0}"#,
            "`minute_ms` is a whole number",
        ),
        ("enabled=true", "the body is not JSON"),
    ] {
        let (status, _, body) = call(wrong);
        assert_eq!(status, 400, "{wrong}");
        assert!(body.contains(says), "{wrong}: {body}");
    }
    // Reset returns to the limits the program started with.
    assert_eq!(send(url, "POST", "/_fake/reset", "").0, 200);
    assert_eq!(statuses(7, || get(url, path))[5..], [200, 429]);
}

#[test]
fn a_variable_it_cannot_read_is_a_usage_error_naming_it() {
    for (name, value) in [
        ("RATE_LIMIT_RESOLVE_RPM", "six-s3cret"),
        ("RATE_LIMIT_TOKEN_RPM", "1e3"),
    ] {
        // With the limiter on, as the Gateway reads a figure only then.
        let env = [("RATE_LIMIT_ENABLED", "true"), (name, value)];
        let (code, stderr) = common::refused(&[], &env);
        assert_eq!(code, Some(2), "{name}: {stderr}");
        assert!(stderr.contains(name), "{stderr}");
        assert!(
            !stderr.contains(value),
            "the value is not repeated: {stderr}"
        );
    }
}

#[test]
fn a_variable_the_gateway_would_ignore_is_refused_loudly() {
    // The Gateway turns its limiter on for exactly `true` and reads anything
    // else as off, in silence; the fake refuses to start instead, saying why.
    let cases: [&[(&str, &str)]; 3] = [
        &[("RATE_LIMIT_ENABLED", "1"), ("RATE_LIMIT_RESOLVE_RPM", "1")],
        &[("RATE_LIMIT_ENABLED", "TRUE")],
        &[("RATE_LIMIT_ENABLED", "yes")],
    ];
    for env in cases {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_nexus-gateway-fake"))
            .envs(env.iter().copied())
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{env:?}: it started");
        assert!(err.contains("RATE_LIMIT_ENABLED"), "{env:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{env:?}: one line: {err}");
    }
}

#[test]
fn a_figure_the_gateway_ignores_while_its_limiter_is_off_is_a_warning() {
    // The Gateway reads these as meant (no limit): the fake starts, serves
    // with no limit, and says once why the figure does nothing.
    let cases: [&[(&str, &str)]; 3] = [
        &[("RATE_LIMIT_RESOLVE_RPM", "1")],
        &[
            ("RATE_LIMIT_ENABLED", "false"),
            ("RATE_LIMIT_TOKEN_RPM", "5"),
        ],
        &[("RATE_LIMIT_CALLBACK_RPM", "0")],
    ];
    for env in cases {
        let program = Program::start(&[], env);
        let path = "/v1/resolve?workspace_id=ws&provider=github";
        let statuses = statuses(3, || get(&program.gateway, path));
        assert!(
            !statuses.contains(&429),
            "{env:?}: no limit applies: {statuses:?}"
        );
        let stderr = program.stop();
        let (variable, _) = env.last().unwrap();
        let warning = stderr
            .lines()
            .find(|l| l.contains("warning:") && l.contains(variable));
        assert!(
            warning.is_some_and(|w| w.contains("RATE_LIMIT_ENABLED")),
            "{env:?}: {stderr}"
        );
    }
}

#[test]
fn an_unknown_control_call_is_named_before_its_body_is_read() {
    let program = Program::start(&[], &[]);
    let (status, _, body) = send(&program.gateway, "POST", "/_fake/no-such-call", "");
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("no control call POST /_fake/no-such-call"),
        "{body}"
    );
    assert!(!body.contains("not JSON"), "looked up first: {body}");
    assert!(
        body.contains("POST rate-limits"),
        "the calls it knows: {body}"
    );
    program.stop();
}
