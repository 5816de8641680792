//! The single flight and renewal through the public API: a leader's own
//! deadline fails no waiter, `set` wins over a resolve in flight, a renewal
//! never costs its caller the valid token it holds, and a token costs at
//! most three Gateway calls in its life.

use crate::common::{self, token_of};

use std::sync::Arc;
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::wait_until;
use nexus_gateway_fake::{FakeGateway, FakeProvider, FakeUpstream, Route, TestClock};
use nexus_sdk::{CachedToken, FetchOptions, NexusClient, NexusClientOptions, TokenCache, code};

/// A Gateway whose `api` provider answers with `provider`, served by `api`.
fn setup(provider: FakeProvider) -> (FakeGateway, FakeUpstream, NexusClient) {
    let (gateway, api) = (FakeGateway::start(), FakeUpstream::start());
    gateway.add_provider("ws", "api", provider.api_base_url(&api.url()));
    // The default scope: the provider listing is read, in a flight of its own.
    let client = NexusClient::new(NexusClientOptions::new(gateway.url())).unwrap();
    (gateway, api, client)
}

fn fetch_within(
    client: &NexusClient,
    cache: &TokenCache,
    url: &str,
    limit: Duration,
) -> Result<u16, nexus_sdk::NexusError> {
    let options = FetchOptions::default().timeout(limit);
    client
        .authenticated_fetch(cache, "ws", "api", url, options)
        .map(|(status, _, _)| status)
}

/// A leader whose own limit is short, a waiter with time, and the Gateway
/// holding the first call of `route`: the leader times out, the waiter
/// loads for itself and gets its answer.
fn a_short_leader_fails_no_waiter(route: Route) {
    let (gateway, api, client) = setup(FakeProvider::oauth2("gho_lead"));
    let cache = TokenCache::new();
    let url = format!("{}/user", api.url());
    let hold = gateway.hold_next(route);
    thread::scope(|s| {
        // Long enough for its other calls on a busy machine; the held one outlasts it.
        let leader = s.spawn(|| fetch_within(&client, &cache, &url, Duration::from_secs(1)));
        wait_until(|| gateway.requests(route) == 1);
        let waiter = s.spawn(|| fetch_within(&client, &cache, &url, Duration::from_secs(20)));
        let led = leader.join().unwrap();
        assert_eq!(
            led.unwrap_err().code,
            code::TIMEOUT,
            "the leader's own limit"
        );
        assert_eq!(
            waiter.join().unwrap().unwrap(),
            200,
            "the waiter had time, and used it"
        );
    });
    drop(hold);
    assert_eq!(gateway.requests(route), 2, "the waiter loaded for itself");
}

#[test]
fn a_leaders_own_deadline_fails_no_waiter_on_a_resolve() {
    a_short_leader_fails_no_waiter(Route::Resolve);
}

#[test]
fn a_leaders_own_deadline_fails_no_waiter_on_the_metadata_read() {
    a_short_leader_fails_no_waiter(Route::ProvidersMetadata);
}

#[test]
fn set_wins_over_a_resolve_in_flight() {
    let (gateway, _api, client) = setup(FakeProvider::oauth2("gho_gateway"));
    let cache = TokenCache::new();
    let hold = gateway.hold_next(Route::Resolve);
    let mine = CachedToken::bearer("set_by_app", SystemTime::now() + Duration::from_secs(900));
    thread::scope(|s| {
        let resolving = s.spawn(|| client.get_cached_token(&cache, "ws", "api"));
        wait_until(|| gateway.requests(Route::Resolve) == 1);
        cache.set("ws", "api", mine.clone());
        drop(hold);
        let landed = resolving.join().unwrap().unwrap();
        assert_eq!(
            landed.access_token(),
            "gho_gateway",
            "its caller gets its answer"
        );
    });
    assert_eq!(
        cache.get("ws", "api"),
        Some(mine.clone()),
        "not overwritten"
    );
    assert_eq!(client.get_cached_token(&cache, "ws", "api").unwrap(), mine);
    assert_eq!(gateway.requests(Route::Resolve), 1);
}

#[test]
fn a_slow_renewal_never_costs_its_caller_the_valid_token() {
    let (gateway, api, _) = setup(
        FakeProvider::oauth2("tok")
            .rotating()
            .expires_in(Duration::from_secs(60)),
    );
    let client = NexusClient::new(NexusClientOptions::new(gateway.url())).unwrap();
    let clock = TestClock::new();
    let cache = clock.token_cache(Duration::ZERO);
    let url = format!("{}/user", api.url());
    assert_eq!(
        fetch_within(&client, &cache, &url, Duration::from_secs(20)).unwrap(),
        200
    );
    clock.advance(Duration::from_secs(50)); // in the refresh window, still valid
    // The renewal this caller starts hangs at the Gateway past its limit.
    let hold = gateway.hold_next(Route::Resolve);
    // The renewal takes half of these 4 s at most; the request has the rest.
    let status = fetch_within(&client, &cache, &url, Duration::from_secs(4));
    assert_eq!(status.unwrap(), 200, "it got the current token in time");
    assert_eq!(
        api.last_request().unwrap().header("authorization"),
        Some("Bearer tok-1")
    );
    // Every later call in the window is served at once with the same token.
    for _ in 0..5 {
        assert_eq!(
            fetch_within(&client, &cache, &url, Duration::from_secs(2)).unwrap(),
            200
        );
    }
    assert_eq!(
        gateway.requests(Route::Resolve),
        2,
        "no renewal tried again at once"
    );
    drop(hold);
}

/// A Gateway that answers every resolve with the same token, expiring 60 s
/// (in whole seconds: up to one short) after the clock's start, and its client.
fn same_expiry_every_time() -> (TestClock, FakeGateway, NexusClient) {
    let clock = TestClock::new();
    let expires = clock.now() + Duration::from_secs(60);
    let epoch = expires.duration_since(UNIX_EPOCH).unwrap().as_secs();
    let body = serde_json::json!({
        "access_token": "same", "token_type": "bearer", "strategy": {"type": "oauth2"},
        "credentials": {"access_token": "same", "token_type": "bearer", "expires_at": epoch},
    });
    let gateway = FakeGateway::start();
    gateway.add_provider("ws", "api", FakeProvider::raw(body));
    let options = NexusClientOptions::new(gateway.url())
        .credential_scope(nexus_sdk::CredentialScope::anywhere());
    let client = NexusClient::new(options).unwrap();
    (clock, gateway, client)
}

#[test]
fn a_renewal_bringing_the_same_expiry_costs_at_most_three_calls_in_a_life() {
    let (clock, gateway, client) = same_expiry_every_time();
    let cache = Arc::new(clock.token_cache(Duration::ZERO));
    // Used every 100 ms for the token's whole life (the expiry is whole
    // seconds: up to one second short of 60).
    for _ in 0..590 {
        assert_eq!(token_of(&client, &cache, "ws", "api"), "same");
        clock.advance(Duration::from_millis(100));
    }
    assert_eq!(
        gateway.requests(Route::Resolve),
        3,
        "its resolve and two renewals"
    );
}

#[test]
fn at_most_three_calls_in_a_life_under_contention() {
    // Eight threads through the refresh window, many times over: a renewal
    // recorded as failed while another caller waited is never repeated.
    for run in 0..25 {
        let (clock, gateway, client) = same_expiry_every_time();
        let cache = Arc::new(clock.token_cache(Duration::ZERO));
        client.get_cached_token(&cache, "ws", "api").unwrap();
        // To a second before its expiry (a whole second: up to one short of 60).
        for _ in 0..58 {
            clock.advance(Duration::from_secs(1));
            std::thread::scope(|s| {
                for _ in 0..8 {
                    s.spawn(|| client.get_cached_token(&cache, "ws", "api").unwrap());
                }
            });
        }
        let resolves = gateway.requests(Route::Resolve);
        assert!(
            resolves <= 3,
            "run {run}: {resolves} Gateway calls in one token's life"
        );
    }
}
