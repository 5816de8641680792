//! The Gateway's rate limit: a 429 is waited out within the client's
//! `timeout` measured from the call's start (`RetryPolicy::retry_on_429`),
//! never counted against `retries`; a wait that cannot fit returns the 429
//! at once; one reader of `Retry-After` (seconds or HTTP date, any value).

use std::time::{Duration, Instant, SystemTime};

use crate::common::{C, client_with, fast_retries};
use nexus_gateway_fake::{FakeConnection, FakeGateway, Fault, Route};
use nexus_sdk::{ErrorKind, NexusClient, code};

fn gateway() -> FakeGateway {
    let gateway = FakeGateway::start();
    gateway.add_connection(C, FakeConnection::active("github", "t"));
    gateway
}

/// A client that waits out 429s, with `retries` and this `timeout`.
fn waiting(gateway: &FakeGateway, retries: u32, timeout: Duration) -> NexusClient {
    client_with(gateway, |o| {
        o.retry_policy = fast_retries(retries).retry_on_429(true);
        o.timeout = timeout;
    })
}

fn refusal(retry_after: &str) -> Fault {
    Fault::body(
        429,
        Some("text/plain; charset=utf-8"),
        "Too Many Requests\n",
    )
    .with_retry_after(retry_after)
}

#[test]
fn a_429_is_waited_out_and_not_counted_against_retries() {
    let gateway = gateway();
    gateway.push_fault(refusal("0"));
    let status = waiting(&gateway, 0, Duration::from_secs(5)).check_connection(C);
    assert!(
        status.is_ok(),
        "retries(0) still waits out a 429: {status:?}"
    );
    assert_eq!(
        gateway.requests(Route::CheckConnection),
        2,
        "one refusal, one try after it"
    );

    // 503, 429, 503 with retries(1): the 429 takes no retry, so the third
    // answer is the last attempt's.
    let gateway = self::gateway();
    gateway.push_fault(Fault::status(503));
    gateway.push_fault(refusal("0"));
    gateway.push_fault(Fault::status(503));
    let err = waiting(&gateway, 1, Duration::from_secs(5))
        .check_connection(C)
        .unwrap_err();
    assert_eq!(
        (err.code.as_str(), gateway.requests(Route::CheckConnection)),
        (code::MAX_RETRIES_EXCEEDED, 3),
        "two attempts for the 503s, and the 429 between them uncounted: {err}"
    );
}

#[test]
fn a_wait_that_cannot_fit_returns_the_429_at_once_naming_the_wait_and_the_time_left() {
    for (asked, needs) in [("9", 10), ("  30 ", 31), ("3600", 3601)] {
        let gateway = gateway();
        gateway.push_faults(5, refusal(asked));
        let started = Instant::now();
        let err = waiting(&gateway, 3, Duration::from_secs(5))
            .check_connection(C)
            .unwrap_err();
        let took = started.elapsed();
        assert_eq!(
            (err.code.as_str(), err.kind(), err.status_code),
            ("http_429", ErrorKind::RateLimited, Some(429)),
            "{asked}: the 429 itself, not max_retries_exceeded: {err}"
        );
        assert_eq!(
            gateway.requests(Route::CheckConnection),
            1,
            "{asked}: no wait begun"
        );
        let wanted = asked.trim().parse::<u64>().unwrap() + 1;
        assert_eq!(
            err.retry_after(),
            Some(Duration::from_secs(wanted)),
            "{asked}"
        );
        let said = format!("the next try must wait {needs} s");
        assert!(
            err.message.contains(&said),
            "{asked}: expected {said:?} in {err}"
        );
        assert!(
            err.message
                .contains("s left of the call's 5s limit (set by NEXUS_TIMEOUT"),
            "{asked}: the time left and the setting: {err}"
        );
        assert!(
            took < Duration::from_secs(5),
            "{asked}: no wait was begun, took {took:?}"
        );
    }
}

#[test]
fn the_attempt_after_a_wait_gets_only_the_time_left() {
    // A refusal asking for 3 s (a wait of 4 to 8 s), then a Gateway that
    // never answers: the call ends at its 10 s, not 10 s after the wait.
    let gateway = gateway();
    gateway.push_fault(refusal("3"));
    gateway.push_fault(Fault::Hang);
    let started = Instant::now();
    let err = waiting(&gateway, 0, Duration::from_secs(10))
        .check_connection(C)
        .unwrap_err();
    let took = started.elapsed();
    assert_eq!(err.code, code::TIMEOUT, "{err}");
    assert!(
        took < Duration::from_secs(13),
        "the call's 10 s bound the try after a wait of 4 s or more; it took {took:?}"
    );
    assert_eq!(gateway.requests(Route::CheckConnection), 2);
}

#[test]
fn retry_after_reads_both_forms_and_any_value() {
    let at = SystemTime::now() + Duration::from_secs(40);
    let huge = "99999999999999999999999999999999";
    let cases = [
        (
            Fault::body(429, None, "").with_retry_after_date(at),
            38..=40,
        ),
        (refusal("7"), 8..=8),
        (refusal(huge), u64::MAX..=u64::MAX),
    ];
    for (fault, range) in cases {
        for retry_on_429 in [false, true] {
            let gateway = gateway();
            gateway.push_faults(2, fault.clone());
            let policy = fast_retries(0).retry_on_429(retry_on_429);
            let client = client_with(&gateway, |o| o.retry_policy = policy);
            let err = client.check_connection(C).unwrap_err();
            let wait = err.retry_after().map(|w| w.as_secs());
            assert!(
                wait.is_some_and(|w| range.contains(&w)),
                "{fault:?} (retry_on_429 {retry_on_429}): a wait in {range:?}, got {wait:?}: {err}"
            );
            assert!(
                err.message.contains("the next try must wait"),
                "{fault:?}: the message says the wait: {err}"
            );
        }
    }
    // No Retry-After at all: the wait is unknown, and the message says so.
    let gateway = gateway();
    gateway.push_fault(Fault::body(429, None, "slow down"));
    let err = client_with(&gateway, |_| {})
        .check_connection(C)
        .unwrap_err();
    assert_eq!(err.retry_after(), None);
    assert!(
        err.message.contains("it did not say how long to wait"),
        "{err}"
    );
}
