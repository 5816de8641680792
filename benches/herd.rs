//! Cold-start herd and expiry storm: how many resolves reach the Gateway
//! when many threads need a token at once.
//!
//! - Herd: 64 threads released together on an empty cache, a Gateway that
//!   takes 50 ms. Goal: 1 resolve. Baseline in the same run: the same 64
//!   threads calling `resolve_token` directly (what a cache without single
//!   flight does), and one lone resolve for the time ratio.
//! - Storm: 1,000 keys whose tokens all pass the buffer at the same instant,
//!   read by 8 threads. Goal: 1 resolve per key.

use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use nexus_gateway_fake::{FakeGateway, FakeProvider, Route};
use nexus_sdk::{CachedToken, NexusClient, NexusClientOptions, TokenCache};

const GATEWAY_LATENCY: Duration = Duration::from_millis(50);

fn client(gateway: &FakeGateway) -> NexusClient {
    NexusClient::new(NexusClientOptions::new(gateway.url())).unwrap()
}

/// 64 threads released at once; (resolves the Gateway saw, time until all have a token).
fn herd(single_flight: bool) -> (usize, Duration) {
    let gateway = FakeGateway::start();
    gateway.add_provider("ws", "github", FakeProvider::oauth2("gho_herd"));
    gateway.set_latency(GATEWAY_LATENCY);
    let client = client(&gateway);
    let cache = TokenCache::new();
    let barrier = Barrier::new(65);
    let started = thread::scope(|s| {
        for _ in 0..64 {
            s.spawn(|| {
                barrier.wait();
                let token = if single_flight {
                    client.get_cached_token(&cache, "ws", "github")
                } else {
                    client.resolve_token("ws", "github")
                };
                assert_eq!(token.unwrap().access_token(), "gho_herd");
            });
        }
        barrier.wait();
        Instant::now()
    });
    (gateway.requests(Route::Resolve), started.elapsed())
}

fn lone_resolve() -> Duration {
    let gateway = FakeGateway::start();
    gateway.add_provider("ws", "github", FakeProvider::oauth2("gho_herd"));
    gateway.set_latency(GATEWAY_LATENCY);
    let client = client(&gateway);
    client.resolve_token("ws", "github").unwrap(); // opens the connection
    let started = Instant::now();
    client.resolve_token("ws", "github").unwrap();
    started.elapsed()
}

fn herd_table() {
    let runs = 5;
    let lone = (0..runs).map(|_| lone_resolve()).min().unwrap();
    let mut with: Vec<(usize, Duration)> = (0..runs).map(|_| herd(true)).collect();
    let mut without: Vec<(usize, Duration)> = (0..runs).map(|_| herd(false)).collect();
    with.sort_by_key(|r| r.1);
    without.sort_by_key(|r| r.1);
    let (with_resolves, with_time) = with[runs / 2];
    let (without_resolves, without_time) = without[runs / 2];
    println!(
        "\ncold-start herd: 64 threads, empty cache, Gateway latency {GATEWAY_LATENCY:?} (median of {runs}):"
    );
    println!(
        "  lone resolve (baseline)       1 resolve    {:>7.1} ms  1.00×",
        ms(lone)
    );
    println!(
        "  get_cached_token (SDK)       {with_resolves:>2} resolve(s) {:>7.1} ms  {:.2}×   (every run: {:?} resolves)",
        ms(with_time),
        ratio(with_time, lone),
        with.iter().map(|r| r.0).collect::<Vec<_>>()
    );
    println!(
        "  no single flight             {without_resolves:>2} resolves   {:>7.1} ms  {:.2}×",
        ms(without_time),
        ratio(without_time, lone)
    );
}

fn storm_table() {
    const KEYS: usize = 1000;
    let gateway = FakeGateway::start();
    let client = client(&gateway);
    let buffer = Duration::from_secs(30);
    let cache = TokenCache::with_buffer(buffer);
    let keys: Vec<String> = (0..KEYS).map(|i| format!("ws-{i:04}")).collect();
    // Every token passes the buffer at the same instant, 300 ms from now.
    let evict_at = SystemTime::now() + Duration::from_millis(300);
    for key in &keys {
        gateway.add_provider(key, "github", FakeProvider::oauth2(&format!("fresh-{key}")));
        let stale_soon =
            CachedToken::bearer(format!("old-{key}"), evict_at + buffer).with_token_type("bearer");
        cache.set(key, "github", stale_soon);
    }
    let started = Instant::now();
    thread::scope(|s| {
        for t in 0..8 {
            let (keys, cache, client) = (&keys, &cache, &client);
            s.spawn(move || {
                // Each thread walks the keys from its own offset until 1.5 s have passed.
                let mut i = t * KEYS / 8;
                while started.elapsed() < Duration::from_millis(1500) {
                    client
                        .get_cached_token(cache, &keys[i % KEYS], "github")
                        .unwrap();
                    i += 1;
                }
            });
        }
    });
    let per_key: Vec<usize> = keys.iter().map(|k| gateway.resolves(k, "github")).collect();
    let max = per_key.iter().max().copied().unwrap_or(0);
    let total: usize = per_key.iter().sum();
    let all_fresh = keys.iter().all(|k| {
        cache
            .get(k, "github")
            .is_some_and(|t| t.access_token().starts_with("fresh-"))
    });
    println!(
        "expiry storm: {KEYS} keys expiring at once, 8 threads: {total} resolves, {:.2} per key (max {max}), all fresh after: {all_fresh}\n",
        total as f64 / KEYS as f64
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}

fn main() {
    herd_table();
    storm_table();
    divan::main();
}

/// A miss on a warm connection to a Gateway with no latency: the cost of a
/// resolve round trip on loopback, for scale.
#[divan::bench(sample_count = 200)]
fn resolve_round_trip(bencher: divan::Bencher) {
    let gateway = FakeGateway::start();
    gateway.add_provider("ws", "github", FakeProvider::oauth2("gho_bench"));
    let client = client(&gateway);
    bencher.bench_local(|| client.resolve_token("ws", "github").unwrap());
}
