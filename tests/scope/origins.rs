//! The credential goes only where it belongs: the credential scope, and one
//! test per class of defect a security review found (secrets in URLs,
//! ports, panics, unbounded waits, stale tokens, redirect targets, query
//! credentials, echoed secrets, forged log lines), through the public API
//! against real loopback servers.

use crate::common;

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::{client, client_with};
use nexus_gateway_fake::{
    FakeConnection, FakeGateway, FakeProvider, FakeReply, FakeUpstream, Fault, Route,
};
use nexus_sdk::{
    CredentialScope, ErrorKind, FetchOptions, NexusClient, NexusClientOptions, TokenCache, code,
};
use serde_json::json;

const API_KEY: &str = "nx_live_security_key_0042";

/// A Gateway serving `github`, whose API is the given upstream.
fn github_at(api: &FakeUpstream) -> FakeGateway {
    let gateway = FakeGateway::start();
    gateway.add_provider(
        "ws",
        "github",
        FakeProvider::oauth2("gho_scoped").api_base_url(&api.url()),
    );
    gateway
}

fn scoped(gateway: &FakeGateway, scope: CredentialScope) -> NexusClient {
    client_with(gateway, |o| o.credential_scope = scope)
}

fn get(client: &NexusClient, cache: &TokenCache, url: &str) -> Result<u16, nexus_sdk::NexusError> {
    client
        .authenticated_fetch(cache, "ws", "github", url, FetchOptions::default())
        .map(|r| r.0)
}

// --- Credential scope ---

#[test]
fn provider_api_allows_the_providers_origin_only() {
    let api = FakeUpstream::start();
    let attacker = FakeUpstream::start();
    let gateway = github_at(&api);
    let client = scoped(&gateway, CredentialScope::provider_api());
    let cache = TokenCache::new();

    assert_eq!(
        get(&client, &cache, &format!("{}/user", api.url())).unwrap(),
        200
    );
    assert_eq!(api.request_count(), 1);

    let resolves = gateway.requests(Route::Resolve);
    let err = get(
        &client,
        &TokenCache::new(),
        &format!("{}/?x=", attacker.url()),
    )
    .unwrap_err();
    assert_eq!(
        (err.code.as_str(), err.kind()),
        (code::ORIGIN_NOT_ALLOWED, ErrorKind::InvalidInput)
    );
    assert_eq!(
        gateway.requests(Route::Resolve),
        resolves,
        "nothing resolved"
    );
    assert_eq!(attacker.connections(), 0, "not even a connection");
    assert_eq!(attacker.request_count(), 0);
    assert!(!err.message.contains("x="), "{}", err.message);
}

#[test]
fn allow_adds_an_origin_and_alone_is_the_whole_scope() {
    let api = FakeUpstream::start();
    let uploads = FakeUpstream::start();
    let other = FakeUpstream::start();
    let gateway = github_at(&api);
    let cache = TokenCache::new();

    let both = scoped(
        &gateway,
        CredentialScope::provider_api().allow("github", &uploads.url()),
    );
    assert_eq!(get(&both, &cache, &uploads.url()).unwrap(), 200);
    assert_eq!(get(&both, &cache, &api.url()).unwrap(), 200);

    let only = scoped(
        &gateway,
        CredentialScope::anywhere().allow("github", &uploads.url()),
    );
    assert_eq!(get(&only, &cache, &uploads.url()).unwrap(), 200);
    let err = get(&only, &cache, &api.url()).unwrap_err();
    assert_eq!(err.code, code::ORIGIN_NOT_ALLOWED);
    // An origin allowed for another provider does not count.
    let elsewhere = scoped(
        &gateway,
        CredentialScope::anywhere().allow("gitlab", &other.url()),
    );
    assert_eq!(
        get(&elsewhere, &cache, &other.url()).unwrap_err().code,
        code::ORIGIN_NOT_ALLOWED
    );
    assert_eq!(other.connections(), 0);

    let bad = NexusClient::new(
        NexusClientOptions::new(gateway.url())
            .credential_scope(CredentialScope::provider_api().allow("github", "ftp://x")),
    );
    assert_eq!(bad.unwrap_err().code, code::INVALID_INPUT);
}

#[test]
fn a_provider_without_api_base_url_allows_nothing_until_allowed() {
    let api = FakeUpstream::start();
    let gateway = FakeGateway::start();
    gateway.add_provider("ws", "github", FakeProvider::oauth2("gho_no_base"));
    let cache = TokenCache::new();
    let err = get(
        &scoped(&gateway, CredentialScope::provider_api()),
        &cache,
        &api.url(),
    )
    .unwrap_err();
    assert_eq!(err.code, code::ORIGIN_NOT_ALLOWED);
    assert!(
        err.message.contains("`github` has no api_base_url"),
        "{}",
        err.message
    );
    assert_eq!(api.connections(), 0);
    let allowed = scoped(
        &gateway,
        CredentialScope::provider_api().allow("github", &api.url()),
    );
    assert_eq!(get(&allowed, &cache, &api.url()).unwrap(), 200);
}

#[test]
fn origins_are_normalised_before_they_are_compared() {
    let api = FakeUpstream::start();
    let port = api.url().rsplit(':').next().unwrap_or_default().to_owned();
    let gateway = FakeGateway::start();
    gateway.add_provider(
        "ws",
        "github",
        FakeProvider::oauth2("gho_norm").api_base_url(&format!("HTTP://LOCALHOST.:{port}/api/v3")),
    );
    let client = scoped(&gateway, CredentialScope::provider_api());
    let cache = TokenCache::new();
    for url in [
        format!("http://localhost:{port}/user"),
        format!("http://LocalHost.:{port}/user"),
        format!("HTTP://localhost:{port}"),
    ] {
        // Inside the scope; `localhost.` may not resolve here, which is fine.
        match get(&client, &cache, &url) {
            Ok(status) => assert_eq!(status, 200, "{url}"),
            Err(e) => assert_eq!(e.code, code::REQUEST_FAILED, "{url}: {e}"),
        }
    }
    assert!(api.request_count() >= 2);
    for url in [
        format!("https://localhost:{port}/user"),
        format!("http://127.0.0.1:{port}/user"),
        "http://localhost/user".to_owned(),
    ] {
        // A build without TLS refuses an https URL before any scope check.
        let tls = cfg!(any(feature = "rustls", feature = "native-tls"));
        let expected = match url.starts_with("https") && !tls {
            true => code::INVALID_INPUT,
            false => code::ORIGIN_NOT_ALLOWED,
        };
        assert_eq!(
            get(&client, &cache, &url).unwrap_err().code,
            expected,
            "{url}"
        );
    }
    // Default ports are made explicit: :80 and no port are one origin.
    let gateway = FakeGateway::start();
    gateway.add_provider(
        "ws",
        "p",
        FakeProvider::oauth2("t").api_base_url("http://api.example.invalid"),
    );
    let client = scoped(&gateway, CredentialScope::provider_api());
    let err = client
        .authenticated_fetch(
            &cache,
            "ws",
            "p",
            "http://api.example.invalid:80/x",
            FetchOptions::default(),
        )
        .unwrap_err();
    assert_ne!(
        err.code,
        code::ORIGIN_NOT_ALLOWED,
        "allowed, then failed to connect: {err}"
    );
}

#[test]
fn many_concurrent_first_calls_read_the_metadata_once() {
    let api = FakeUpstream::start();
    let gateway = github_at(&api);
    gateway.set_latency(Duration::from_millis(100));
    let client = scoped(&gateway, CredentialScope::provider_api());
    let cache = Arc::new(TokenCache::new());
    let url = format!("{}/user", api.url());
    thread::scope(|s| {
        for _ in 0..16 {
            s.spawn(|| assert_eq!(get(&client, &cache, &url).unwrap(), 200));
        }
    });
    assert_eq!(gateway.requests(Route::ProvidersMetadata), 1);
    assert_eq!(gateway.requests(Route::Resolve), 1);
}

// --- 1. Secrets in URLs ---

#[test]
fn userinfo_is_refused_and_never_printed() {
    let gateway = FakeGateway::start();
    let url = gateway.url().replace("http://", "http://admin:hunter2@");
    let options = NexusClientOptions::new(&url).api_key(API_KEY);
    assert!(!format!("{options:?}").contains("hunter2"));
    let err = NexusClient::new(options).unwrap_err();
    assert_eq!(err.code, code::INVALID_INPUT);
    assert!(!err.to_string().contains("hunter2"), "{err}");

    let upstream = FakeUpstream::start();
    gateway.add_provider("ws", "github", FakeProvider::oauth2("gho_userinfo"));
    let client = client(&gateway);
    let with_password = upstream.url().replace("http://", "http://bob:s3cret@");
    let err = get(&client, &TokenCache::new(), &with_password).unwrap_err();
    assert_eq!(err.code, code::INVALID_INPUT);
    assert!(!format!("{err} {err:?}").contains("s3cret"));
    assert_eq!(upstream.connections(), 0);
    assert_eq!(gateway.requests(Route::Resolve), 0);
    let fetcher = client.fetcher(Arc::new(TokenCache::new()), "ws", "github");
    assert!(!format!("{client:?} {fetcher:?}").contains(API_KEY));
}

// --- 2. Invalid ports ---

#[test]
fn a_port_outside_1_to_65535_is_refused_not_defaulted() {
    let gateway = FakeGateway::start();
    gateway.add_provider("ws", "github", FakeProvider::oauth2("gho_port"));
    let client = client(&gateway);
    for port in [
        "99999", "65616", "65536", "+80", "0", "-1", "", "8o", "0x50",
    ] {
        let url = format!("http://127.0.0.1:{port}/x");
        let err = get(&client, &TokenCache::new(), &url).unwrap_err();
        assert_eq!(err.code, code::INVALID_INPUT, "{url}");
        let gw = NexusClient::new(NexusClientOptions::new(&url)).unwrap_err();
        assert_eq!(gw.code, code::INVALID_INPUT, "gateway {url}");
    }
    assert_eq!(gateway.requests(Route::Resolve), 0);
}

// --- 3. Panics on input ---

#[test]
fn extreme_durations_and_unicode_expiries_do_not_panic() {
    let gateway = FakeGateway::start();
    for timeout in [Duration::ZERO, Duration::MAX] {
        let err =
            NexusClient::new(NexusClientOptions::new(gateway.url()).timeout(timeout)).unwrap_err();
        assert_eq!(err.code, code::INVALID_INPUT, "{timeout:?}");
    }
    gateway.add_connection(common::C, FakeConnection::active("github", "t"));
    let status = client(&gateway)
        .wait_for_active_with_options(
            common::C,
            &nexus_sdk::WaitOptions::default()
                .interval(Duration::MAX)
                .timeout(Duration::MAX),
        )
        .unwrap();
    assert_eq!(status.as_str(), "active");
    for expiry in [
        "2030-01-01T00:00:00+é:00",
        "2030-01-01T00:00:00-0ü0",
        "２０３０",
    ] {
        gateway.add_provider(
            "ws",
            "odd",
            FakeProvider::raw(json!({"credentials": {"access_token": "t", "expires_at": expiry}})),
        );
        let token = client(&gateway).resolve_token("ws", "odd").unwrap();
        let left = token
            .expires_at()
            .duration_since(std::time::SystemTime::now())
            .unwrap();
        assert!(
            left <= nexus_sdk::DEFAULT_TOKEN_TTL,
            "{expiry}: the 5-minute fallback"
        );
    }
}

// --- 4. Waits without a bound ---

#[test]
fn a_waiter_is_bounded_by_its_own_clients_timeout() {
    let gateway = FakeGateway::start();
    gateway.add_provider("ws", "github", FakeProvider::oauth2("gho_slow"));
    let hold = gateway.hold_next(Route::Resolve);
    let slow = client(&gateway);
    let fast = client_with(&gateway, |o| o.timeout = Duration::from_millis(300));
    let cache = TokenCache::new();
    thread::scope(|s| {
        let leader = s.spawn(|| slow.get_cached_token(&cache, "ws", "github"));
        common::wait_until(|| gateway.requests(Route::Resolve) == 1);
        // The leader's resolve is held at the Gateway until `hold` is dropped:
        // the waiter gives up on its own timeout, not on the leader's answer.
        let err = fast.get_cached_token(&cache, "ws", "github").unwrap_err();
        assert_eq!(err.code, code::TIMEOUT);
        assert!(!leader.is_finished(), "the waiter returned first");
        drop(hold);
        assert!(leader.join().unwrap().is_ok());
    });
}

// --- 5. Stale tokens ---

#[test]
fn a_clear_wins_over_a_resolve_in_flight() {
    let gateway = FakeGateway::start();
    gateway.add_provider("ws", "github", FakeProvider::oauth2("gho_old").rotating());
    let hold = gateway.hold_next(Route::Resolve);
    let client = client(&gateway);
    let cache = TokenCache::new();
    thread::scope(|s| {
        let resolving = s.spawn(|| client.get_cached_token(&cache, "ws", "github"));
        common::wait_until(|| gateway.requests(Route::Resolve) == 1);
        client.clear_token(&cache, "ws", "github");
        drop(hold);
        assert_eq!(
            resolving.join().unwrap().unwrap().access_token(),
            "gho_old-1"
        );
    });
    assert!(
        cache.get("ws", "github").is_none(),
        "the older answer is not stored"
    );
}

#[test]
fn a_caller_after_a_clear_never_gets_a_token_asked_for_before_it() {
    let gateway = FakeGateway::start();
    gateway.add_provider("ws", "github", FakeProvider::oauth2("gho").rotating());
    let hold = gateway.hold_next(Route::Resolve);
    let client = client(&gateway);
    let cache = TokenCache::new();
    thread::scope(|s| {
        let before = s.spawn(|| client.get_cached_token(&cache, "ws", "github"));
        common::wait_until(|| gateway.requests(Route::Resolve) == 1);
        client.clear_token(&cache, "ws", "github");
        // Arrives after the clear, while the first resolve is still in flight.
        let after = client.get_cached_token(&cache, "ws", "github").unwrap();
        drop(hold);
        let before = before.join().unwrap().unwrap();
        assert_ne!(after.access_token(), before.access_token());
        assert_eq!(gateway.requests(Route::Resolve), 2);
        // What the cache keeps is the answer asked for after the clear.
        assert_eq!(cache.get("ws", "github"), Some(after));
    });
}

// --- 6. Loopback is covered in tests/proxy_env.rs (it sets process variables). ---

// --- 7. Redirect targets that are not URLs ---

#[test]
fn locations_that_are_not_http_urls_are_returned_not_followed() {
    let gateway = FakeGateway::start();
    gateway.add_provider("ws", "github", FakeProvider::oauth2("gho_loc"));
    let upstream = FakeUpstream::start();
    let client = client(&gateway);
    for location in [
        "javascript:alert(document.cookie)",
        "data:text/html,<script>x</script>",
        "mailto:a@example.com",
        "file:/etc/passwd",
        "file:///etc/passwd",
        "JavaScript:alert(1)",
    ] {
        upstream.set_reply("/go", FakeReply::new(302).header("Location", location));
        let before = upstream.request_count();
        let url = format!("{}/go", upstream.url());
        assert_eq!(
            get(&client, &TokenCache::new(), &url).unwrap(),
            302,
            "{location}"
        );
        assert_eq!(
            upstream.request_count(),
            before + 1,
            "{location} was followed"
        );
    }
}

// --- 8. Duplicate query credentials ---

#[test]
fn the_query_credential_replaces_every_spelling_of_its_name() {
    let gateway = FakeGateway::start();
    gateway.add_provider("ws", "q", FakeProvider::query_param("api key", "q_secret"));
    let upstream = FakeUpstream::start();
    let url = format!(
        "{}/s?api+key=mine&api%20key=two&%61pi%20key=three&x=1",
        upstream.url()
    );
    client(&gateway)
        .authenticated_fetch(&TokenCache::new(), "ws", "q", &url, FetchOptions::default())
        .unwrap();
    let sent = upstream.last_request().unwrap();
    assert_eq!(sent.query, "x=1&api+key=q_secret");
}

// --- 9. Echoed secrets ---

#[test]
fn an_echoed_api_key_is_redacted() {
    common::capture_logs();
    let gateway = FakeGateway::start();
    gateway.add_connection(common::C, FakeConnection::active("github", "t"));
    let message = format!(r#"{{"error":"bad_key","message":"key {API_KEY} is revoked"}}"#);
    gateway.push_fault(Fault::body(503, Some("application/json"), &message));
    gateway.push_fault(Fault::body(401, Some("application/json"), &message));
    let client = client_with(&gateway, |o| {
        o.api_key = API_KEY.into();
        o.retry_policy = common::fast_retries(1);
    });
    let err = client.check_connection(common::C).unwrap_err();
    assert_eq!(err.status_code, Some(401));
    let shown = format!("{err} {err:?} {:?}", std::error::Error::source(&err));
    assert!(
        !shown.contains(API_KEY) && shown.contains("<redacted>"),
        "{shown}"
    );
    let logs = common::logs().lock().join("\n");
    assert!(!logs.contains(API_KEY), "{logs}");
}

// --- 10. Forged log lines ---

#[test]
fn ids_cannot_forge_log_lines() {
    common::capture_logs();
    let gateway = FakeGateway::start();
    let client = client(&gateway);
    let forged = "ws\nINFO nexus_sdk: forged-line-marker";
    let _ = client.resolve_token(forged, "github\r\nWARN x");
    let logs = common::logs().lock().clone();
    let ours: Vec<&String> = logs
        .iter()
        .filter(|l| l.contains(" nexus_sdk: ") && l.contains("forged-line-marker"))
        .collect();
    assert!(!ours.is_empty(), "the resolve was logged");
    for line in ours {
        assert!(!line.contains('\n') && !line.contains('\r'), "{line:?}");
        assert!(
            line.starts_with("INFO nexus_sdk: Resolving token for workspace=ws\\n"),
            "{line:?}"
        );
    }
}
