//! The shared conformance vectors (copied into tests/data), served by the
//! FakeGateway and resolved over HTTP.

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use common::client;
use nexus_gateway_fake::{FakeGateway, FakeProvider};
use serde_json::{Value, json};

fn epoch(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH).unwrap().as_secs_f64()
}

/// Checks `expires_at` against a vector's `expect`: epoch seconds, or
/// "default" (five minutes after the response, a few seconds of slack).
fn assert_expiry(
    got: SystemTime,
    expect: &Value,
    before: SystemTime,
    after: SystemTime,
    what: &str,
) {
    match expect {
        Value::String(s) if s == "default" => {
            let low = epoch(before) + 300.0 - 2.0;
            let high = epoch(after) + 300.0 + 2.0;
            assert!(
                (low..=high).contains(&epoch(got)),
                "{what}: {} not in {low}..{high}",
                epoch(got)
            );
        }
        expected => {
            let expected = expected.as_f64().unwrap();
            assert!(
                (epoch(got) - expected).abs() < 1e-3,
                "{what}: {} != {expected}",
                epoch(got)
            );
        }
    }
}

#[test]
fn resolve_vectors() {
    let vectors: Value = serde_json::from_str(include_str!("data/resolve.json")).unwrap();
    let gateway = FakeGateway::start();
    let client = client(&gateway);
    for case in vectors["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        gateway.add_provider("ws", "p", FakeProvider::raw(case["response"].clone()));
        let before = SystemTime::now();
        let result = client.resolve_token("ws", "p");
        let after = SystemTime::now();
        if let Some(code) = case.get("expect_error") {
            let err = result.expect_err(name);
            // Without the `signing` feature the signing strategies are
            // unsupported before their config is read.
            let code = if name.contains("(feature signing)") && !cfg!(feature = "signing") {
                "unsupported_strategy"
            } else {
                code.as_str().unwrap()
            };
            assert_eq!(err.code, code, "{name}");
            continue;
        }
        let token = result.unwrap_or_else(|e| panic!("{name}: {e}"));
        let expect = &case["expect"];
        assert_eq!(
            token.access_token(),
            expect["access_token"].as_str().unwrap(),
            "{name}"
        );
        match expect["header_name"].as_str() {
            Some(header) => {
                assert_eq!(token.header_name(), header, "{name}");
                assert_eq!(
                    token.value_prefix(),
                    expect["value_prefix"].as_str().unwrap(),
                    "{name}"
                );
                assert_eq!(token.query_param(), None, "{name}");
            }
            None => assert_eq!(
                token.query_param(),
                expect["query_param"].as_str(),
                "{name}"
            ),
        }
        if let Some(token_type) = expect.get("token_type") {
            assert_eq!(token.token_type(), token_type.as_str().unwrap(), "{name}");
        }
        assert_expiry(
            token.expires_at(),
            &expect["expires_at"],
            before,
            after,
            name,
        );
    }
}

#[test]
fn expires_at_vectors() {
    let vectors: Value = serde_json::from_str(include_str!("data/expires_at.json")).unwrap();
    let gateway = FakeGateway::start();
    let client = client(&gateway);
    for case in vectors["cases"].as_array().unwrap() {
        let body = json!({"credentials": {"access_token": "t", "expires_at": case["expires_at"]}});
        gateway.add_provider("ws", "p", FakeProvider::raw(body));
        let before = SystemTime::now();
        let token = client.resolve_token("ws", "p").unwrap();
        let after = SystemTime::now();
        assert_expiry(
            token.expires_at(),
            &case["expect"],
            before,
            after,
            &case["expires_at"].to_string(),
        );
    }
}

#[test]
fn the_vectors_are_all_here() {
    // Guards against a copy that lost cases.
    let count = |s: &str| {
        serde_json::from_str::<Value>(s).unwrap()["cases"]
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(count(include_str!("data/resolve.json")), 21);
    assert_eq!(count(include_str!("data/expires_at.json")), 19);
    assert_eq!(count(include_str!("data/errors.json")), 6);
}
