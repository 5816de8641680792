//! A renewal never hands out a worse token than the one it replaces, the
//! cache's memory follows its live set whatever the workload, and every
//! expiry and listing age a client computes reads the cache's clock.

use crate::common::{self, token_of};

use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::wait_until;
use nexus_gateway_fake::{FakeGateway, FakeProvider, FakeUpstream, Route, TestClock};
use nexus_sdk::{CachedToken, FetchOptions, NexusClient, NexusClientOptions, TokenCache};

/// An oauth2 answer for `token` expiring at `expires_at`.
fn answer(token: &str, expires_at: SystemTime) -> FakeProvider {
    let epoch = expires_at.duration_since(UNIX_EPOCH).unwrap().as_secs();
    FakeProvider::raw(serde_json::json!({
        "access_token": token, "token_type": "bearer", "strategy": {"type": "oauth2"},
        "credentials": {"access_token": token, "token_type": "bearer", "expires_at": epoch},
    }))
}

fn client(gateway: &FakeGateway, timeout: Duration) -> NexusClient {
    NexusClient::new(NexusClientOptions::new(gateway.url()).timeout(timeout)).unwrap()
}

#[test]
fn a_renewal_that_brings_an_older_or_buffered_token_keeps_the_current_one() {
    for (what, stale_by) in [("expired 70 s ago", -70), ("inside its buffer", 20)] {
        let (gateway, api) = (FakeGateway::start(), FakeUpstream::start());
        let clock = TestClock::new();
        let cache = clock.token_cache(Duration::from_secs(30));
        let expires = clock.now() + Duration::from_secs(3_600);
        let provider = |p: FakeProvider| p.api_base_url(&api.url());
        gateway.add_provider("ws", "gh", provider(answer("gho_current", expires)));
        let client = client(&gateway, Duration::from_secs(10));
        assert_eq!(token_of(&client, &cache, "ws", "gh"), "gho_current");
        // Valid 130 s more, in its refresh window; a lagging replica answers the renewal.
        clock.advance(Duration::from_secs(3_470));
        let worse = shifted(clock.now(), stale_by);
        gateway.add_provider("ws", "gh", provider(answer("gho_stale", worse)));
        let url = format!("{}/user", api.url());
        for _ in 0..3 {
            let (status, _, _) = client
                .authenticated_fetch(&cache, "ws", "gh", &url, FetchOptions::default())
                .unwrap();
            assert_eq!(status, 200);
            let sent = api.last_request().unwrap();
            assert_eq!(
                sent.header("authorization"),
                Some("Bearer gho_current"),
                "{what}"
            );
        }
        assert_eq!(
            cache.get("ws", "gh").unwrap().access_token(),
            "gho_current",
            "{what}"
        );
        // An answer already expired is resolved once more, never sent.
        let renewals = if stale_by < 0 { 2 } else { 1 };
        assert_eq!(
            gateway.requests(Route::Resolve),
            1 + renewals,
            "{what}: one renewal, not one a call"
        );
    }
}

/// `at` moved by `seconds`, back when negative.
fn shifted(at: SystemTime, seconds: i64) -> SystemTime {
    let by = Duration::from_secs(seconds.unsigned_abs());
    if seconds < 0 { at - by } else { at + by }
}

#[test]
fn a_renewal_that_outlives_the_token_never_hands_out_the_expired_one() {
    let gateway = FakeGateway::start();
    let clock = TestClock::new();
    gateway.use_clock(&clock);
    let cache = clock.token_cache(Duration::from_secs(30));
    // 100 s of life: handed out until 70 s, renewed from 60 s.
    let provider = FakeProvider::oauth2("tok")
        .rotating()
        .expires_in(Duration::from_secs(100));
    gateway.add_provider("ws", "gh", provider);
    let client = client(&gateway, Duration::from_secs(4));
    let first = client.get_cached_token(&cache, "ws", "gh").unwrap();
    assert_eq!(first.access_token(), "tok-1");
    clock.advance(Duration::from_secs(65));
    let hold = gateway.hold_next(Route::Resolve);
    thread::scope(|s| {
        let caller = s.spawn(|| client.get_cached_token(&cache, "ws", "gh"));
        // The renewal is held at the Gateway while the clock passes the token's last instant.
        wait_until(|| gateway.requests(Route::Resolve) == 2);
        clock.advance(Duration::from_secs(15));
        let got = caller.join().unwrap().unwrap();
        assert_ne!(
            got.access_token(),
            "tok-1",
            "never the token that expired meanwhile"
        );
        assert!(got.expires_at() > clock.now() + Duration::from_secs(30));
    });
    drop(hold);
}

#[test]
fn memory_follows_the_live_set_when_every_use_stores_a_new_pair() {
    let clock = TestClock::new();
    let cache = clock.token_cache(Duration::from_secs(30));
    let set = |from: usize, to: usize| {
        let expires = clock.now() + Duration::from_secs(120);
        for i in from..to {
            cache.set(&format!("ws-{i}"), "gh", CachedToken::bearer("t", expires));
        }
    };
    set(0, 10_000);
    clock.advance(Duration::from_secs(600)); // all 10,000 have expired
    set(10_000, 30_000);
    assert!(
        cache.len() <= 20_000,
        "{} entries for 20,000 live",
        cache.len()
    );
}

#[test]
fn a_token_that_arrives_inside_its_buffer_is_not_stored() {
    let gateway = FakeGateway::start();
    let provider = FakeProvider::oauth2("short").expires_in(Duration::from_secs(20));
    gateway.add_provider("ws", "gh", provider);
    let client = client(&gateway, Duration::from_secs(10));
    let cache = TokenCache::new(); // a 30 s buffer
    for _ in 0..3 {
        assert_eq!(token_of(&client, &cache, "ws", "gh"), "short");
    }
    assert!(cache.is_empty());
    assert_eq!(
        gateway.requests(Route::Resolve),
        3,
        "each use resolves again"
    );
}

/// A cache whose clock runs a day behind the system's.
fn a_day_behind() -> (TokenCache, TestClock) {
    let clock = TestClock::new();
    let behind = clock.clone();
    let day = Duration::from_secs(86_400);
    let cache = TokenCache::with_clock(Duration::from_secs(30), move || behind.now() - day);
    (cache, clock)
}

#[test]
fn the_listing_that_explains_a_404_ages_on_the_caches_clock() {
    let (gateway, api) = (FakeGateway::start(), FakeUpstream::start());
    gateway.add_provider(
        "ws",
        "gh",
        FakeProvider::oauth2("gho").api_base_url(&api.url()),
    );
    let (cache, clock) = a_day_behind();
    let client = client(&gateway, Duration::from_secs(10));
    let err = client.get_cached_token(&cache, "ws", "gitlab").unwrap_err();
    assert_eq!(err.status_code, Some(404));
    assert_eq!(
        gateway.requests(Route::ProvidersMetadata),
        1,
        "read to explain the 404"
    );
    // Registered since; ten minutes later on the cache's clock the listing is read again.
    gateway.add_provider(
        "ws",
        "gitlab",
        FakeProvider::oauth2("glpat").api_base_url(&api.url()),
    );
    clock.advance(Duration::from_secs(600));
    let url = format!("{}/projects", api.url());
    let fetched = client.authenticated_fetch(&cache, "ws", "gitlab", &url, FetchOptions::default());
    assert_eq!(fetched.unwrap().0, 200);
    assert_eq!(gateway.requests(Route::ProvidersMetadata), 2);
}

#[test]
fn a_default_expiry_is_set_on_the_caches_clock() {
    let gateway = FakeGateway::start();
    gateway.add_provider(
        "ws",
        "gh",
        FakeProvider::oauth2("tok").rotating().no_expiry(),
    );
    let (cache, clock) = a_day_behind();
    let client = client(&gateway, Duration::from_secs(10));
    assert_eq!(token_of(&client, &cache, "ws", "gh"), "tok-1");
    // Five minutes of life, on the cache's clock: gone six minutes later.
    clock.advance(Duration::from_secs(360));
    assert_eq!(token_of(&client, &cache, "ws", "gh"), "tok-2");
}
