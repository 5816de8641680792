//! Where the crate meets the rest of the ecosystem: the answer's helpers,
//! per-request options, the credential on a request built elsewhere, and a
//! ureq agent that carries it.
#![cfg(feature = "testing")]

mod common;

use std::time::Duration;

use common::client;
use nexus_sdk::testing::{FakeGateway, FakeProvider, FakeReply, FakeUpstream};
use nexus_sdk::{ErrorKind, FetchOptions, NexusClient, TokenCache, code};

/// A Gateway whose `github` token is `gho_eco`, an upstream, and a client
/// whose scope allows it.
fn setup() -> (FakeGateway, FakeUpstream, NexusClient) {
    let (gateway, upstream) = (FakeGateway::start(), FakeUpstream::start());
    gateway.add_provider(
        "ws",
        "github",
        FakeProvider::oauth2("gho_eco").api_base_url(&upstream.url()),
    );
    let client = client(&gateway);
    (gateway, upstream, client)
}

#[test]
fn error_for_status_names_the_status_and_redacts_an_echoed_credential() {
    let (_gateway, upstream, client) = setup();
    upstream.set_reply(
        "/echo",
        FakeReply::new(403).body("denied for Authorization: Bearer gho_eco"),
    );
    let answer = client
        .authenticated_fetch(
            &TokenCache::new(),
            "ws",
            "github",
            &format!("{}/echo", upstream.url()),
            FetchOptions::default(),
        )
        .unwrap();
    assert_eq!(answer.status(), 403);
    assert!(
        answer.text().unwrap().contains("gho_eco"),
        "the body is the upstream's"
    );
    let err = answer.error_for_status().unwrap_err();
    assert_eq!(
        (err.code.as_str(), err.status_code, err.kind()),
        (code::UPSTREAM_STATUS, Some(403), ErrorKind::Upstream)
    );
    assert!(!err.message.contains("gho_eco"), "{err}");
    assert!(
        err.message.contains("403") && err.message.contains("<redacted>"),
        "{err}"
    );
}

#[test]
fn query_pairs_are_appended_form_encoded() {
    let (_gateway, upstream, client) = setup();
    let options = FetchOptions::default()
        .query("q", "a b&c=d")
        .query("page", "2");
    client
        .authenticated_fetch(
            &TokenCache::new(),
            "ws",
            "github",
            &format!("{}/search?sort=new", upstream.url()),
            options,
        )
        .unwrap();
    let sent = upstream.last_request().unwrap();
    assert_eq!(sent.query, "sort=new&q=a+b%26c%3Dd&page=2");
}

#[test]
fn a_request_timeout_bounds_that_request_only() {
    let (_gateway, upstream, client) = setup();
    upstream.set_latency(Duration::from_secs(5));
    let cache = TokenCache::new();
    let url = upstream.url();
    let short = FetchOptions::default().timeout(Duration::from_millis(300));
    let err = client
        .authenticated_fetch(&cache, "ws", "github", &url, short)
        .unwrap_err();
    assert_eq!(err.code, code::TIMEOUT, "{err}");
    for bad in [Duration::ZERO, Duration::MAX] {
        let err = client
            .authenticated_fetch(
                &cache,
                "ws",
                "github",
                &url,
                FetchOptions::default().timeout(bad),
            )
            .unwrap_err();
        assert_eq!(err.code, code::INVALID_INPUT, "{bad:?}");
    }
}

#[cfg(feature = "serde")]
#[test]
fn a_json_body_is_sent_with_its_type() {
    let (_gateway, upstream, client) = setup();
    let options = FetchOptions::default()
        .header("Content-Type", "text/plain")
        .json(&serde_json::json!({"title": "hi", "n": 1}));
    client
        .authenticated_fetch(&TokenCache::new(), "ws", "github", &upstream.url(), options)
        .unwrap();
    let sent = upstream.last_request().unwrap();
    assert_eq!(sent.header("content-type"), Some("application/json"));
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&sent.body).unwrap(),
        serde_json::json!({"title": "hi", "n": 1})
    );
    let mut unwritable = std::collections::HashMap::new();
    unwritable.insert((1, 2), 3);
    let err = client
        .authenticated_fetch(
            &TokenCache::new(),
            "ws",
            "github",
            &upstream.url(),
            FetchOptions::default().json(&unwritable),
        )
        .unwrap_err();
    assert_eq!(err.code, code::INVALID_INPUT);
}

#[cfg(feature = "serde")]
#[test]
fn json_reads_the_body_and_never_quotes_it_in_an_error() {
    let (_gateway, upstream, client) = setup();
    upstream.set_reply("/user", FakeReply::new(200).body(r#"{"login":"octo"}"#));
    upstream.set_reply("/bad", FakeReply::new(200).body("secret-ish text"));
    let fetch = |path: &str| {
        client
            .authenticated_fetch(
                &TokenCache::new(),
                "ws",
                "github",
                &format!("{}{path}", upstream.url()),
                FetchOptions::default(),
            )
            .unwrap()
    };
    let user: serde_json::Value = fetch("/user").json().unwrap();
    assert_eq!(user["login"], "octo");
    let err = fetch("/bad").json::<serde_json::Value>().unwrap_err();
    assert_eq!(err.code, code::INVALID_RESPONSE);
    assert!(!err.message.contains("secret"), "{err}");
}
