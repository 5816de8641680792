//! Resolve, cache and single flight through the client: the Python suite's
//! three tests, pair keys, the buffer, a failed resolve, `clear_token`.

use std::sync::Barrier;
use std::thread;
use std::time::{Duration, SystemTime};

use crate::common::{client, token_of, wait_until};
use crate::{fetch, fetch_in, gateway_with};
use nexus_gateway_fake::{FakeGateway, FakeProvider, FakeUpstream, Fault, Route};
use nexus_sdk::{FetchOptions, TokenCache};

// --- The Python suite's three tests, with relative expiries ---

#[test]
fn resolve_parses_and_keeps_bearer_casing() {
    let gateway =
        gateway_with(FakeProvider::oauth2("gho_abc").expires_in(Duration::from_secs(3600)));
    let token = client(&gateway).resolve_token("ws-1", "github").unwrap();
    assert_eq!(token.access_token(), "gho_abc");
    assert_eq!(token.token_type(), "bearer");
    assert_eq!(
        (token.header_name(), token.value_prefix()),
        ("Authorization", "Bearer ")
    );
    let left = token
        .expires_at()
        .duration_since(SystemTime::now())
        .unwrap();
    assert!(
        left > Duration::from_secs(3590) && left <= Duration::from_secs(3600),
        "{left:?}"
    );
    let sent = gateway.last_request_to(Route::Resolve).unwrap();
    assert_eq!(sent.query, "workspace_id=ws-1&provider_name=github");
}

#[test]
fn cache_miss_then_hit_makes_one_gateway_call() {
    let gateway = gateway_with(FakeProvider::oauth2("gho_abc"));
    let client = client(&gateway);
    let cache = TokenCache::new();
    let first = client.get_cached_token(&cache, "ws-1", "github").unwrap();
    let second = client.get_cached_token(&cache, "ws-1", "github").unwrap();
    assert_eq!(first, second);
    assert_eq!(gateway.requests(Route::Resolve), 1);
}

#[test]
fn injected_header_is_exactly_bearer_token() {
    let gateway = gateway_with(FakeProvider::oauth2("gho_abc"));
    let upstream = FakeUpstream::start();
    let (status, _, body) = fetch(
        &gateway,
        &format!("{}/user", upstream.url()),
        FetchOptions::default(),
    );
    assert_eq!(status, 200);
    assert_eq!(
        String::from_utf8(body).unwrap(),
        r#"{"method":"GET","ok":true,"path":"/user"}"#
    );
    let sent = upstream.last_request().unwrap();
    assert_eq!(sent.header("authorization"), Some("Bearer gho_abc"));
}

// --- Cache behaviour through the client ---

#[test]
fn pair_keys_cannot_collide() {
    let gateway = FakeGateway::start();
    gateway.add_provider("a:b", "c", FakeProvider::oauth2("one"));
    gateway.add_provider("a", "b:c", FakeProvider::oauth2("two"));
    let client = client(&gateway);
    let cache = TokenCache::new();
    assert_eq!(token_of(&client, &cache, "a:b", "c"), "one");
    assert_eq!(token_of(&client, &cache, "a", "b:c"), "two");
    assert_eq!(token_of(&client, &cache, "a:b", "c"), "one");
    assert_eq!(gateway.requests(Route::Resolve), 2);
}

#[test]
fn the_buffer_at_29_and_31_seconds() {
    for (lifetime, resolves) in [(29, 2), (31, 1)] {
        let gateway =
            gateway_with(FakeProvider::oauth2("t").expires_in(Duration::from_secs(lifetime)));
        let client = client(&gateway);
        let cache = TokenCache::new();
        client.get_cached_token(&cache, "ws-1", "github").unwrap();
        client.get_cached_token(&cache, "ws-1", "github").unwrap();
        assert_eq!(
            gateway.requests(Route::Resolve),
            resolves,
            "token living {lifetime} s"
        );
    }
}

#[test]
fn no_expiry_is_cached_for_five_minutes() {
    let gateway = gateway_with(FakeProvider::header("X-API-Key", None, "k").no_expiry());
    let client = client(&gateway);
    let cache = TokenCache::new();
    let token = client.get_cached_token(&cache, "ws-1", "github").unwrap();
    let left = token
        .expires_at()
        .duration_since(SystemTime::now())
        .unwrap();
    assert!(
        left > Duration::from_secs(295) && left <= Duration::from_secs(300),
        "{left:?}"
    );
    client.get_cached_token(&cache, "ws-1", "github").unwrap();
    assert_eq!(gateway.requests(Route::Resolve), 1);
}

#[test]
fn thirty_two_threads_on_a_cold_key_make_one_resolve() {
    let gateway = gateway_with(FakeProvider::oauth2("t"));
    gateway.set_latency(Duration::from_millis(100));
    let client = client(&gateway);
    let cache = TokenCache::new();
    let barrier = Barrier::new(32);
    thread::scope(|s| {
        for _ in 0..32 {
            s.spawn(|| {
                barrier.wait();
                assert_eq!(token_of(&client, &cache, "ws-1", "github"), "t");
            });
        }
    });
    assert_eq!(gateway.requests(Route::Resolve), 1);
}

#[test]
fn a_slow_key_does_not_hold_up_another() {
    let gateway = FakeGateway::start();
    gateway.add_provider("ws-1", "slow", FakeProvider::oauth2("s"));
    gateway.add_provider("ws-1", "fast", FakeProvider::oauth2("f"));
    let hold = gateway.hold_next(Route::Resolve);
    let client = client(&gateway);
    let cache = TokenCache::new();
    thread::scope(|s| {
        let slow = s.spawn(|| client.get_cached_token(&cache, "ws-1", "slow"));
        wait_until(|| gateway.requests(Route::Resolve) == 1);
        // The slow key's resolve is held at the Gateway until `hold` is dropped.
        assert_eq!(token_of(&client, &cache, "ws-1", "fast"), "f");
        assert!(!slow.is_finished(), "held until released");
        drop(hold);
        assert_eq!(slow.join().unwrap().unwrap().access_token(), "s");
    });
}

#[test]
fn a_failed_resolve_is_not_cached() {
    let gateway = gateway_with(FakeProvider::oauth2("t"));
    gateway.push_fault(Fault::status(503));
    let client = client(&gateway);
    let cache = TokenCache::new();
    assert_eq!(
        client
            .get_cached_token(&cache, "ws-1", "github")
            .unwrap_err()
            .status_code,
        Some(503)
    );
    assert_eq!(token_of(&client, &cache, "ws-1", "github"), "t");
    assert_eq!(gateway.requests(Route::Resolve), 2);
}

#[test]
fn clear_token_forces_a_new_resolve() {
    let gateway = gateway_with(FakeProvider::oauth2("t").rotating());
    let client = client(&gateway);
    let cache = TokenCache::new();
    assert_eq!(token_of(&client, &cache, "ws-1", "github"), "t-1");
    client.clear_token(&cache, "ws-1", "github");
    assert_eq!(token_of(&client, &cache, "ws-1", "github"), "t-2");
}

#[test]
fn a_hot_key_kept_by_the_thread_still_obeys_clear_and_the_401_rule() {
    let gateway = gateway_with(FakeProvider::oauth2("t").rotating());
    let client = client(&gateway);
    let cache = TokenCache::new();
    // Hit after hit: the thread keeps a copy of the entry.
    for _ in 0..5 {
        assert_eq!(token_of(&client, &cache, "ws-1", "github"), "t-1");
    }
    client.clear_token(&cache, "ws-1", "github");
    assert_eq!(
        token_of(&client, &cache, "ws-1", "github"),
        "t-2",
        "cleared"
    );
    for _ in 0..5 {
        assert_eq!(cache.get("ws-1", "github").unwrap().access_token(), "t-2");
    }
    // A 401 on the kept copy drops the entry, not just the copy.
    let upstream = FakeUpstream::start();
    upstream.reject_token("t-2");
    let status = fetch_in(&client, &cache, &upstream.url()).0;
    assert_eq!(status, 200, "re-resolved once");
    assert_eq!(token_of(&client, &cache, "ws-1", "github"), "t-3");
    assert_eq!(cache.get("ws-1", "github").unwrap().access_token(), "t-3");
}

#[test]
fn blank_inputs_are_refused_before_any_io() {
    let gateway = gateway_with(FakeProvider::oauth2("t"));
    let client = client(&gateway);
    let cache = TokenCache::new();
    for (workspace, provider) in [("", "github"), ("ws-1", " "), ("\t", "\n")] {
        assert_eq!(
            client.resolve_token(workspace, provider).unwrap_err().code,
            "invalid_input"
        );
        assert_eq!(
            client
                .get_cached_token(&cache, workspace, provider)
                .unwrap_err()
                .code,
            "invalid_input"
        );
        let err = client
            .authenticated_fetch(
                &cache,
                workspace,
                provider,
                "http://127.0.0.1:1/",
                FetchOptions::default(),
            )
            .unwrap_err();
        assert_eq!(err.code, "invalid_input");
    }
    let err = client
        .authenticated_fetch(
            &cache,
            "ws-1",
            "github",
            "not a url",
            FetchOptions::default(),
        )
        .unwrap_err();
    assert_eq!(err.code, "invalid_input");
    assert_eq!(gateway.total_requests(), 0);
}
