//! Failed Gateway answers: the error-body conformance vectors, retries,
//! `Retry-After`, transport failures, timeouts and unusable 2xx bodies.

use crate::common;

use std::time::{Duration, Instant};

use common::{client, client_with, fast_retries, refused_url};
use nexus_gateway_fake::{FakeConnection, FakeGateway, Fault, Route};
use nexus_sdk::{ErrorKind, NexusClient, NexusClientOptions, RetryPolicy};
use serde_json::Value;

fn gateway_with_connection() -> FakeGateway {
    let gateway = FakeGateway::start();
    gateway.add_connection(common::C, FakeConnection::active("github", "t"));
    gateway
}

#[test]
fn error_body_conformance_vectors() {
    let vectors: Value = serde_json::from_str(include_str!("../data/errors.json")).unwrap();
    let gateway = gateway_with_connection();
    let client = client(&gateway);
    for case in vectors["cases"].as_array().unwrap() {
        let status = case["status"].as_u64().unwrap() as u16;
        let body = case["body"].as_str().unwrap();
        gateway.push_fault(Fault::body(status, case["content_type"].as_str(), body));
        let err = client.check_connection(common::C).unwrap_err();
        assert_eq!(err.code, case["code"].as_str().unwrap(), "{case}");
        assert_eq!(err.status_code, Some(status));
        match case["message"].as_str() {
            Some(message) => assert_eq!(err.message, message, "{case}"),
            None => assert!(!err.message.trim().is_empty(), "{case}"),
        }
    }
    assert_eq!(
        gateway.requests(Route::CheckConnection),
        vectors["cases"].as_array().unwrap().len()
    );
}

#[test]
fn retries_502_503_504_then_succeeds() {
    for status in [502, 503, 504] {
        let gateway = gateway_with_connection();
        gateway.push_faults(2, Fault::status(status));
        let client = client_with(&gateway, |o| o.retry_policy = fast_retries(2));
        assert!(client.check_connection(common::C).is_ok(), "{status}");
        assert_eq!(gateway.requests(Route::CheckConnection), 3, "{status}");
    }
}

#[test]
fn client_errors_are_not_retried() {
    for status in [400, 401, 403, 404, 409, 410, 500] {
        let gateway = gateway_with_connection();
        gateway.push_fault(Fault::status(status));
        let client = client_with(&gateway, |o| o.retry_policy = fast_retries(3));
        let err = client.check_connection(common::C).unwrap_err();
        assert_eq!(
            (err.code.as_str(), err.status_code),
            ("injected_fault", Some(status))
        );
        assert_eq!(gateway.requests(Route::CheckConnection), 1, "{status}");
    }
}

#[test]
fn rate_limit_is_retried_only_when_asked() {
    let gateway = gateway_with_connection();
    gateway.push_fault(Fault::body(429, Some("text/plain"), "rate limit exceeded"));
    let err = client_with(&gateway, |o| o.retry_policy = fast_retries(2))
        .check_connection(common::C)
        .unwrap_err();
    assert_eq!(
        (err.code.as_str(), err.kind()),
        ("http_429", ErrorKind::RateLimited)
    );
    let said = format!(
        "the Nexus Gateway at {} answered HTTP 429: rate limit exceeded; its rate limit \
         refused GET /v1/check-connection/{} (it counts this route's calls per client address) \
         and it did not say how long to wait: RetryPolicy::retry_on_429 waits it out",
        gateway.url(),
        common::C
    );
    assert_eq!(err.message, said, "the server's words, then what to do");
    assert_eq!(err.retry_after(), None, "no Retry-After, no wait to give");
    assert_eq!(gateway.requests(Route::CheckConnection), 1);

    gateway.push_fault(Fault::body(429, Some("text/plain"), "rate limit exceeded"));
    let policy = fast_retries(2).retry_on_429(true);
    client_with(&gateway, |o| o.retry_policy = policy)
        .check_connection(common::C)
        .unwrap();
    assert_eq!(gateway.requests(Route::CheckConnection), 3);
}

#[test]
fn retry_after_seconds_replaces_the_backoff() {
    let gateway = gateway_with_connection();
    gateway.push_fault(Fault::status(503).with_retry_after("1"));
    let client = client_with(&gateway, |o| o.retry_policy = fast_retries(1));
    let started = Instant::now();
    client.check_connection(common::C).unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn retry_after_date_in_the_past_means_now() {
    // A backoff of at least 12 s (60 s × 0.2) would be used without the header.
    let slow = RetryPolicy::default()
        .retries(1)
        .min_delay(Duration::from_secs(60))
        .max_delay(Duration::from_secs(60));
    let gateway = gateway_with_connection();
    let past = "Sun, 06 Nov 1994 08:49:37 GMT";
    gateway.push_fault(Fault::status(503).with_retry_after(past));
    let client = client_with(&gateway, |o| {
        o.retry_policy = slow;
        o.timeout = Duration::from_secs(30);
    });
    let started = Instant::now();
    client.check_connection(common::C).unwrap();
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(10),
        "a date in the past waits nothing (a backoff would wait 12 s or more): took {took:?}"
    );
}

#[test]
fn out_of_retries_is_max_retries_exceeded() {
    let gateway = gateway_with_connection();
    gateway.push_faults(
        3,
        Fault::body(
            503,
            Some("application/json"),
            r#"{"error":"broker_unavailable"}"#,
        ),
    );
    let err = client_with(&gateway, |o| o.retry_policy = fast_retries(2))
        .check_connection(common::C)
        .unwrap_err();
    assert_eq!(err.code, "max_retries_exceeded");
    assert_eq!(
        (err.status_code, err.kind()),
        (Some(503), ErrorKind::Server)
    );
    assert!(
        err.message.contains("broker_unavailable"),
        "{}",
        err.message
    );
    assert_eq!(gateway.requests(Route::CheckConnection), 3);

    // Without retries too (Python's rule); the Gateway's error is the source.
    gateway.push_fault(Fault::body(
        503,
        Some("application/json"),
        r#"{"error":"broker_unavailable"}"#,
    ));
    let err = client(&gateway).check_connection(common::C).unwrap_err();
    assert_eq!(
        (err.code.as_str(), err.status_code),
        ("max_retries_exceeded", Some(503))
    );
    let source = std::error::Error::source(&err).map(ToString::to_string);
    assert!(source.is_some_and(|s| s.starts_with("broker_unavailable")));
}

#[test]
fn connection_refused_is_request_failed_and_retried() {
    common::capture_logs();
    let url = refused_url();
    let client =
        NexusClient::new(NexusClientOptions::new(&url).retry_policy(fast_retries(2))).unwrap();
    let err = client.check_connection("refused-probe").unwrap_err();
    assert_eq!(
        (err.code.as_str(), err.kind()),
        ("request_failed", ErrorKind::Connect)
    );
    assert_eq!(err.status_code, None);
    assert!(
        std::error::Error::source(&err).is_some(),
        "keeps the I/O cause"
    );
    // The server and its origin, and what to check; never the path (ids).
    let origin = url.trim_end_matches('/');
    assert!(err.message.contains(origin), "{err}");
    assert!(err.message.contains("Nexus Gateway") && err.message.contains("NEXUS_GATEWAY_URL"));
    assert!(!err.message.contains("refused-probe"), "{err}");
    // Three attempts, each logged: the request provably never left, so it was retried.
    let attempts = common::log_lines_with("nexus_sdk: Attempt");
    let attempts: Vec<_> = attempts
        .iter()
        .filter(|l| l.contains("refused-probe"))
        .collect();
    assert_eq!(attempts.len(), 3, "{attempts:?}");
    assert!(attempts[2].contains("Attempt 3/3"), "{attempts:?}");
}

#[test]
fn a_gateway_that_never_answers_times_out() {
    let gateway = gateway_with_connection();
    gateway.push_fault(Fault::Hang);
    let timeout = Duration::from_millis(500);
    let client = client_with(&gateway, |o| {
        o.timeout = timeout;
        o.retry_policy = fast_retries(3);
    });
    let started = Instant::now();
    let err = client.check_connection(common::C).unwrap_err();
    let took = started.elapsed();
    assert_eq!(
        (err.code.as_str(), err.kind()),
        ("timeout", ErrorKind::Timeout)
    );
    assert!(
        took >= timeout && took < timeout + Duration::from_secs(2),
        "{took:?}"
    );
    assert_eq!(
        gateway.requests(Route::CheckConnection),
        1,
        "a sent request is not retried"
    );
}

#[test]
fn a_stalled_body_times_out() {
    let gateway = gateway_with_connection();
    gateway.push_fault(Fault::StalledBody);
    let client = client_with(&gateway, |o| o.timeout = Duration::from_millis(500));
    let started = Instant::now();
    let err = client.check_connection(common::C).unwrap_err();
    assert_eq!(err.code, "timeout");
    assert!(started.elapsed() < Duration::from_millis(2500));
}

#[test]
fn a_closed_or_cut_answer_is_request_failed() {
    for fault in [Fault::Close, Fault::TruncatedBody, Fault::Garbage] {
        let gateway = gateway_with_connection();
        gateway.push_fault(fault.clone());
        let err = client(&gateway).check_connection(common::C).unwrap_err();
        assert_eq!(err.code, "request_failed", "{fault:?}: {err}");
    }
}

#[test]
fn unusable_2xx_bodies_are_invalid_response() {
    let gateway = gateway_with_connection();
    let client = client(&gateway);
    let faults = [
        Fault::body(200, Some("application/json"), "{}"),
        Fault::body(200, Some("application/json"), r#"{"status":7}"#),
        Fault::body(200, Some("application/json"), "[1,2,3]"),
        Fault::body(200, None, ""),
        Fault::body(200, Some("application/json"), "{\"status\":\"act\u{FFFD}"),
        Fault::NotJson,
        Fault::Oversized(3 << 20),
    ];
    for fault in faults {
        gateway.push_fault(fault.clone());
        let err = client.check_connection(common::C).unwrap_err();
        assert_eq!(
            (err.code.as_str(), err.kind()),
            ("invalid_response", ErrorKind::InvalidResponse),
            "{fault:?}"
        );
    }
    for fault in [Fault::body(200, None, "{}"), Fault::NotJson] {
        gateway.push_fault(fault);
        assert_eq!(
            client
                .request_connection(&Default::default())
                .unwrap_err()
                .code,
            "invalid_input"
        );
    }
    gateway.push_fault(Fault::body(
        200,
        Some("application/json"),
        r#"{"connection_id":"c"}"#,
    ));
    let input = nexus_sdk::RequestConnectionInput::new("u", "github").return_url("https://a/");
    let err = client.request_connection(&input).unwrap_err();
    assert_eq!(err.code, "invalid_response");
    assert!(err.message.contains("authUrl"), "{}", err.message);
}

#[test]
fn a_body_just_under_the_cap_is_read() {
    let gateway = gateway_with_connection();
    gateway.push_fault(Fault::Oversized((1 << 20) - 100));
    let err = client(&gateway).check_connection(common::C).unwrap_err();
    // Read whole (it parses as JSON) but has no `status`.
    assert_eq!(err.code, "invalid_response");
    assert!(err.message.contains("status"), "{}", err.message);
}

#[test]
fn delay_then_answer() {
    let gateway = gateway_with_connection();
    gateway.push_fault(Fault::Delay(Duration::from_millis(100)));
    let started = Instant::now();
    client(&gateway).check_connection(common::C).unwrap();
    assert!(started.elapsed() >= Duration::from_millis(100));
}

#[test]
fn fail_every_fails_one_request_in_n_starting_with_the_first() {
    let gateway = gateway_with_connection();
    gateway.fail_every(Route::CheckConnection, 3, Fault::status(503));
    let client = client(&gateway);
    let outcomes: Vec<bool> = (0..7)
        .map(|_| client.check_connection(common::C).is_ok())
        .collect();
    assert_eq!(outcomes, [false, true, true, false, true, true, false]);
    gateway.fail_every(Route::CheckConnection, 0, Fault::status(503));
    assert!(client.check_connection(common::C).is_ok());
}
