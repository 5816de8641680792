//! A token at its rotation (one caller renews, the others keep the current
//! token; a failed renewal keeps it and is tried again) and the purge.

use std::sync::Arc;
use std::thread;
use std::time::{Duration, SystemTime};

use crate::common::{client, token_of, wait_until};
use nexus_gateway_fake::{FakeGateway, FakeProvider, Fault, Route, TestClock};
use nexus_sdk::{NexusClient, TokenCache};

/// A token of 59 to 60 s (the fake writes whole seconds) with no buffer,
/// and a Gateway and a cache on a clock the test moves: the refresh window
/// is the last 10 s, so 50 s on the clock is inside it, and a renewal
/// there brings a token that expires later.
fn rotation_setup() -> (FakeGateway, NexusClient, Arc<TokenCache>, TestClock) {
    let gateway = FakeGateway::start();
    gateway.add_provider(
        "ws",
        "p",
        FakeProvider::oauth2("tok")
            .rotating()
            .expires_in(Duration::from_secs(60)),
    );
    let client = client(&gateway);
    let clock = TestClock::new();
    gateway.use_clock(&clock);
    let cache = Arc::new(clock.token_cache(Duration::ZERO));
    let first = client.get_cached_token(&cache, "ws", "p").unwrap();
    assert_eq!(first.access_token(), "tok-1");
    (gateway, client, cache, clock)
}

#[test]
fn at_rotation_one_caller_renews_and_the_others_keep_the_current_token() {
    let (gateway, client, cache, clock) = rotation_setup();
    clock.advance(Duration::from_secs(50));
    let hold = gateway.hold_next(Route::Resolve);
    let renewer = {
        let (client, cache) = (client.clone(), Arc::clone(&cache));
        thread::spawn(move || client.get_cached_token(&cache, "ws", "p").unwrap())
    };
    wait_until(|| gateway.requests(Route::Resolve) == 2);
    // The renewal is held at the Gateway: everyone else keeps tok-1.
    let others: Vec<_> = (0..7)
        .map(|_| {
            let (client, cache) = (client.clone(), Arc::clone(&cache));
            thread::spawn(move || client.get_cached_token(&cache, "ws", "p").unwrap())
        })
        .collect();
    for other in others {
        assert_eq!(other.join().unwrap().access_token(), "tok-1");
    }
    assert_eq!(
        gateway.requests(Route::Resolve),
        2,
        "one renewal, not eight"
    );
    assert!(!renewer.is_finished(), "the renewal is still held");
    drop(hold);
    assert_eq!(renewer.join().unwrap().access_token(), "tok-2");
    assert_eq!(token_of(&client, &cache, "ws", "p"), "tok-2");
}

#[test]
fn a_failed_early_renewal_keeps_the_valid_token_and_is_tried_again_at_half_the_time_left() {
    let (gateway, client, cache, clock) = rotation_setup();
    clock.advance(Duration::from_secs(50));
    gateway.push_fault_for(Route::Resolve, Fault::status(500));
    let kept = client.get_cached_token(&cache, "ws", "p").unwrap();
    assert_eq!(kept.access_token(), "tok-1", "the failure does not drop it");
    assert_eq!(gateway.requests(Route::Resolve), 2);
    assert_eq!(cache.get("ws", "p").unwrap().access_token(), "tok-1");
    // The next callers do not try again at once…
    for _ in 0..5 {
        assert_eq!(token_of(&client, &cache, "ws", "p"), "tok-1");
    }
    assert_eq!(gateway.requests(Route::Resolve), 2);
    // …but at half the 10 s it had left.
    clock.advance(Duration::from_secs(5));
    assert_eq!(token_of(&client, &cache, "ws", "p"), "tok-2");
    assert_eq!(gateway.requests(Route::Resolve), 3);
}

/// Stores `n` pairs `<prefix>-<i>`/`p` expiring at `expires_at`.
fn fill(cache: &TokenCache, prefix: &str, n: usize, expires_at: SystemTime) {
    for i in 0..n {
        let token = nexus_sdk::CachedToken::bearer("t", expires_at);
        cache.set(&format!("{prefix}-{i}"), "p", token);
    }
}

#[test]
fn expired_entries_are_purged_as_the_cache_is_used() {
    // A clock the test moves: no sleep, nothing that depends on the machine's speed.
    let clock = nexus_gateway_fake::TestClock::new();
    let cache = clock.token_cache(Duration::ZERO);
    let soon = clock.now() + Duration::from_secs(60);
    let later = clock.now() + Duration::from_secs(36_000);
    fill(&cache, "old", 50_000, soon);
    fill(&cache, "live", 1_000, later);
    assert_eq!(cache.len(), 51_000);
    clock.advance(Duration::from_secs(3600));
    // Normal use: reads of the live set, and some stores.
    for round in 0..60_000 {
        let i = round % 1_000;
        assert!(cache.get(&format!("live-{i}"), "p").is_some());
        if round % 100 == 0 {
            cache.set(
                &format!("live-{i}"),
                "p",
                nexus_sdk::CachedToken::bearer("t", later),
            );
        }
    }
    assert!(
        cache.len() <= 1_100,
        "{} entries held for 1,000 live ones",
        cache.len()
    );
    for i in 0..1_000 {
        assert!(
            cache.get(&format!("live-{i}"), "p").is_some(),
            "live-{i} kept"
        );
    }
}

#[test]
fn a_thread_per_call_reader_still_purges() {
    let clock = TestClock::new();
    let cache = Arc::new(clock.token_cache(Duration::ZERO));
    let (soon, later) = (
        clock.now() + Duration::from_secs(60),
        clock.now() + Duration::from_secs(36_000),
    );
    fill(&cache, "old", 2_000, soon);
    fill(&cache, "live", 100, later);
    clock.advance(Duration::from_secs(3600));
    // The MCP example's design: one short-lived thread per call, one read each.
    for round in 0..3_000 {
        let cache = Arc::clone(&cache);
        thread::spawn(move || cache.get(&format!("live-{}", round % 100), "p").is_some())
            .join()
            .map(|hit| assert!(hit))
            .unwrap();
    }
    assert!(
        cache.len() <= 150,
        "{} entries held for 100 live ones",
        cache.len()
    );
}
