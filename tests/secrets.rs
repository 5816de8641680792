//! No secret in any log line, error, `Debug` or `Display`: both flows run,
//! failures included, with every log record captured.
//!
//! Twice: first with the `ureq` targets at DEBUG (the README's advice for
//! logs that are kept), where no line of any crate may hold a secret; then
//! with everything at TRACE, where this crate's lines still hold none, and
//! only ureq's may (it logs URLs with their query and dumps wire bytes
//! when its TRACE is on, as the README warns).

mod common;

use std::time::Duration;

use std::sync::atomic::Ordering;

use common::{UREQ_AT_DEBUG, capture_logs, logs};
use nexus_gateway_fake::{FakeConnection, FakeGateway, FakeProvider, FakeUpstream, Fault, Route};
use nexus_sdk::{
    FetchOptions, NexusClient, NexusClientOptions, NexusError, RequestConnectionInput, RetryPolicy,
    RevokeOptions, TokenCache,
};
use serde_json::json;

const API_KEY: &str = "nx_secret_api_key_0001";
const SECRETS: [&str; 11] = [
    API_KEY,
    "gho_secret_oauth_0002",
    "k_secret_header_0003",
    "pw_secret_basic_0004",
    "q_secret_query_0005",
    "conn_secret_token_0006",
    "caller_secret_cookie_0007",
    "bad_secret_token_0008",
    "hmac_secret_0009",
    "aws_secret_key_0010",
    "aws_session_token_0011",
];

fn assert_clean(what: &str, text: &str) {
    for secret in SECRETS {
        assert!(!text.contains(secret), "{what} holds {secret}: {text}");
    }
}

/// Both flows and their failures; returns every `Debug`/`Display` it made.
fn run_everything() -> Vec<String> {
    let gateway = FakeGateway::start();
    gateway.require_api_key(API_KEY);
    gateway.add_connection(
        common::C,
        FakeConnection::pending("github", "conn_secret_token_0006", Some(1)),
    );
    gateway.add_provider(
        "ws",
        "github",
        FakeProvider::oauth2("gho_secret_oauth_0002").rotating(),
    );
    gateway.add_provider(
        "ws",
        "keyed",
        FakeProvider::header("X-API-Key", None, "k_secret_header_0003").no_expiry(),
    );
    gateway.add_provider(
        "ws",
        "basic",
        FakeProvider::basic_auth("alice", "pw_secret_basic_0004"),
    );
    gateway.add_provider(
        "ws",
        "query",
        FakeProvider::query_param("key", "q_secret_query_0005"),
    );
    gateway.add_provider(
        "ws",
        "bad",
        FakeProvider::raw(json!({"credentials": {"access_token": "bad_secret_token_0008\r\n"}})),
    );
    gateway.add_provider("ws", "soon", FakeProvider::raw(json!({"credentials": {"access_token": "gho_secret_oauth_0002", "expires_at": "later"}})));
    gateway.add_provider(
        "ws",
        "hmac",
        FakeProvider::hmac_payload("X-Signature", "hmac_secret_0009"),
    );
    gateway.add_provider(
        "ws",
        "aws",
        FakeProvider::aws_sigv4("AKID", "aws_secret_key_0010", "us-east-1", "s3")
            .credential("session_token", "aws_session_token_0011")
            .expires_in(Duration::from_secs(3600)),
    );
    let upstream = FakeUpstream::start();
    upstream.reject_token("gho_secret_oauth_0002-1");
    let options = NexusClientOptions::new(gateway.url())
        .api_key(API_KEY)
        .credential_scope(nexus_sdk::CredentialScope::anywhere())
        .timeout(Duration::from_millis(800))
        .retry_policy(
            RetryPolicy::default()
                .retries(1)
                .min_delay(Duration::from_millis(1)),
        );
    let mut seen: Vec<String> = vec![format!("{options:?}")];
    let client = NexusClient::new(options).unwrap();
    let cache = std::sync::Arc::new(TokenCache::new());
    let mut errors: Vec<NexusError> = Vec::new();

    // The standard-app flow, with a retried 503 on the way.
    gateway.push_fault_for(Route::RequestConnection, Fault::status(503));
    let started = client
        .request_connection(
            &RequestConnectionInput::new("u", "github").return_url("https://app.example/done"),
        )
        .unwrap();
    seen.push(format!("{started:?}"));
    client
        .wait_for_active_with_options(
            common::C,
            &nexus_sdk::WaitOptions::default()
                .interval(Duration::from_millis(5))
                .timeout(Duration::from_secs(5)),
        )
        .unwrap();
    let token = client.get_token_by_connection_id(common::C).unwrap();
    seen.push(format!("{token:?}"));
    seen.push(format!(
        "{:?}",
        client.refresh_connection(common::C).unwrap()
    ));
    seen.push(format!(
        "{:?}",
        client
            .revoke_connection(common::C, &RevokeOptions::default())
            .unwrap()
    ));

    // The MCP path: every strategy, a 401 re-resolve, a fetcher.
    let signing: &[&str] = if cfg!(feature = "signing") {
        &["hmac", "aws"]
    } else {
        &[]
    };
    for provider in ["github", "keyed", "basic", "query", "soon"]
        .iter()
        .chain(signing)
        .copied()
    {
        let options = FetchOptions::default().header("Cookie", "caller_secret_cookie_0007");
        seen.push(format!("{options:?}"));
        let (status, headers, _) = client
            .authenticated_fetch(&cache, "ws", provider, &upstream.url(), options)
            .unwrap();
        assert_eq!(status, 200, "{provider}");
        seen.push(format!("{:?}", cache.get("ws", provider)));
        let _ = headers;
    }
    let fetcher = client.fetcher(std::sync::Arc::clone(&cache), "ws", "github");
    fetcher.get(&upstream.url()).unwrap();
    seen.push(format!("{fetcher:?} {client:?} {cache:?}"));

    // Failures, each of which has a secret within reach.
    errors.push(client.resolve_token("ws", "bad").unwrap_err());
    errors.push(
        client
            .authenticated_fetch(
                &cache,
                "ws",
                "query",
                &common::refused_url(),
                FetchOptions::default(),
            )
            .unwrap_err(),
    );
    gateway.push_fault_for(Route::Resolve, Fault::Hang);
    errors.push(client.resolve_token("ws", "keyed").unwrap_err());
    let wrong_key = NexusClient::new(NexusClientOptions::new(gateway.url())).unwrap();
    errors.push(wrong_key.get_token_by_connection_id(common::C).unwrap_err());
    errors.push(
        NexusClient::new(NexusClientOptions::new(gateway.url()).api_key(format!("{API_KEY}\r\n")))
            .unwrap_err(),
    );
    errors.push(
        client
            .authenticated_fetch(
                &cache,
                "ws",
                "github",
                &upstream.url(),
                FetchOptions::default().header("X", "caller_secret_cookie_0007\n"),
            )
            .unwrap_err(),
    );
    assert!(errors.iter().any(|e| e.code == "invalid_credentials"));
    assert!(errors.iter().any(|e| e.code == "timeout"));
    for err in &errors {
        seen.push(format!("{err} {err:?}"));
        let mut source = std::error::Error::source(err);
        while let Some(cause) = source {
            seen.push(format!("{cause} {cause:?}"));
            source = cause.source();
        }
    }

    seen
}

#[test]
fn no_secret_reaches_logs_errors_or_debug() {
    capture_logs();

    // Logs as the README advises keeping them: nothing from anyone.
    UREQ_AT_DEBUG.store(true, Ordering::SeqCst);
    for text in run_everything() {
        assert_clean("Debug/Display", &text);
    }
    let lines = std::mem::take(&mut *logs().lock());
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("INFO nexus_sdk: Resolving token")),
        "logging was captured"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("WARN nexus_sdk: Could not parse expires_at="))
    );
    assert!(
        lines.iter().any(|l| l.starts_with("DEBUG ureq")),
        "ureq's own lines are checked too"
    );
    for line in &lines {
        assert_clean("log line", line);
    }

    // Everything at TRACE: still nothing from this crate; ureq's wire logging is the exemption.
    UREQ_AT_DEBUG.store(false, Ordering::SeqCst);
    run_everything();
    let lines = std::mem::take(&mut *logs().lock());
    let mut exempt = 0;
    for line in &lines {
        if line.split_whitespace().nth(1) == Some("nexus_sdk:") {
            assert_clean("log line", line);
        } else if SECRETS.iter().any(|s| line.contains(s)) {
            exempt += 1;
            assert!(
                line.split_whitespace()
                    .nth(1)
                    .is_some_and(|t| t.starts_with("ureq")),
                "{line}"
            );
        }
    }
    assert!(
        exempt > 0,
        "the exemption is real, which is why the README warns about it"
    );
}
