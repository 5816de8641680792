//! The token hit path: `TokenCache::get` and `get_cached_token`, on one
//! thread and under contention; allocations per hit; memory per token.
//!
//! Three figures are measured by hand before divan's own benches run:
//! aggregate throughput at 1, 2, 4 and 8 threads (one hot key, and 64
//! distinct keys) as a ratio of the 1-thread figure; allocations per hit
//! against a bare `CachedToken::clone` (the baseline: the clone the API
//! returns); and live bytes for 1 and 10,000 cached tokens.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::hint::black_box;
use std::sync::Barrier;
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, SystemTime};

use nexus_gateway_fake::{FakeGateway, FakeProvider};
use nexus_sdk::{CachedToken, NexusClient, NexusClientOptions, TokenCache};

/// Counts live bytes and allocations while `COUNTING` is on, to measure
/// memory without guessing. Off, it costs one read of a flag that never
/// changes during the throughput runs, so it does not distort them (the
/// counters themselves would: every core would write the same cache line).
struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged; the counters are plain atomics and never touch the memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwarded as received.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if COUNTING.load(Ordering::Relaxed) {
            LIVE_BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        }
        // SAFETY: forwarded as received.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE_BYTES.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded as received.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// A token shaped like GitHub's: a 40-character `gho_` token.
fn token(i: usize) -> CachedToken {
    CachedToken::bearer(
        format!("gho_{i:036}"),
        SystemTime::now() + Duration::from_secs(3600),
    )
    .with_token_type("bearer")
}

fn keys(n: usize) -> Vec<(String, String)> {
    (0..n)
        .map(|i| (format!("ws-{i:04}"), "github".to_owned()))
        .collect()
}

/// A client whose cache is warm for `keys` (the gateway is never called again).
fn warm(keys: &[(String, String)]) -> (FakeGateway, NexusClient, TokenCache) {
    let gateway = FakeGateway::start();
    let client = NexusClient::new(NexusClientOptions::new(gateway.url())).unwrap();
    let cache = TokenCache::new();
    for (i, (workspace, provider)) in keys.iter().enumerate() {
        gateway.add_provider(
            workspace,
            provider,
            FakeProvider::oauth2(token(i).access_token()),
        );
        client
            .get_cached_token(&cache, workspace, provider)
            .unwrap();
    }
    (gateway, client, cache)
}

/// Operations per second over all `threads`, each running `op(thread, n)`.
fn throughput_of(threads: usize, op: &(dyn Fn(usize, usize) + Sync)) -> f64 {
    let duration = Duration::from_millis(400);
    let start = Barrier::new(threads + 1);
    let stop = AtomicBool::new(false);
    let total = AtomicUsize::new(0);
    thread::scope(|s| {
        for t in 0..threads {
            let (start, stop, total) = (&start, &stop, &total);
            s.spawn(move || {
                start.wait();
                let mut n = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    for _ in 0..64 {
                        op(t, n);
                        n += 1;
                    }
                }
                total.fetch_add(n, Ordering::Relaxed);
            });
        }
        start.wait();
        thread::sleep(duration);
        stop.store(true, Ordering::Relaxed);
    });
    total.load(Ordering::Relaxed) as f64 / duration.as_secs_f64()
}

/// Hits per second over all `threads`, keys taken round-robin.
fn throughput(
    client: &NexusClient,
    cache: &TokenCache,
    keys: &[(String, String)],
    threads: usize,
) -> f64 {
    throughput_of(threads, &|t, n| {
        let (w, p) = &keys[(t * 7 + n) % keys.len()];
        black_box(client.get_cached_token(cache, w, p).unwrap());
    })
}

fn print_row(label: &str, measure: &dyn Fn(usize) -> f64) {
    measure(1); // warm-up
    let one = measure(1);
    let row: Vec<String> = [1, 2, 4, 8]
        .iter()
        .map(|&t| {
            let ops = if t == 1 { one } else { measure(t) };
            format!("{t}t {:.2}M/s ({:.2}×)", ops / 1e6, ops / one)
        })
        .collect();
    println!("  {label:<26} {}", row.join("  "));
}

fn contention_table() {
    let cores = thread::available_parallelism().map_or(1, |n| n.get());
    println!("\nget_cached_token hits, aggregate throughput ({cores} cores), ratio to 1 thread:");
    // The machine's ceiling: each thread clones a token of its own (no
    // shared write at all). Two cores, or two hyperthreads of one, set it.
    let own: Vec<CachedToken> = (0..8).map(token).collect();
    print_row("ceiling: own token clone", &|t| {
        throughput_of(t, &|thread, _| drop(black_box(own[thread].clone())))
    });
    let sample = token(0);
    print_row("baseline: shared clone", &|t| {
        throughput_of(t, &|_, _| drop(black_box(sample.clone())))
    });
    for (label, n_keys) in [("one hot key", 1), ("64 distinct keys", 64)] {
        let keys = keys(n_keys);
        let (_gateway, client, cache) = warm(&keys);
        print_row(label, &|t| throughput(&client, &cache, &keys, t));
    }
}

fn allocation_table() {
    let keys = keys(1);
    let (_gateway, client, cache) = warm(&keys);
    let (w, p) = &keys[0];
    let sample = cache.get(w, p).unwrap();
    let count = |f: &dyn Fn()| {
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        for _ in 0..1000 {
            f();
        }
        (ALLOCATIONS.load(Ordering::Relaxed) - before) as f64 / 1000.0
    };
    let clone = count(&|| drop(black_box(sample.clone())));
    let get = count(&|| drop(black_box(cache.get(w, p))));
    let hit = count(&|| drop(black_box(client.get_cached_token(&cache, w, p))));
    println!(
        "\nallocations per hit: CachedToken::clone {clone:.1} (baseline), TokenCache::get {get:.1}, get_cached_token {hit:.1}"
    );
}

fn memory_table() {
    let before = LIVE_BYTES.load(Ordering::Relaxed);
    let one = TokenCache::new();
    one.set("ws-0000", "github", token(0));
    let single = LIVE_BYTES.load(Ordering::Relaxed) - before;
    drop(one);

    for n in [10_000, 100_000] {
        let keys = keys(n);
        // Like the peers' figure: the heap a fresh cache grows by while it is
        // filled, the tokens included (made as the resolver makes GitHub's).
        let before = LIVE_BYTES.load(Ordering::Relaxed);
        let cache = TokenCache::new();
        for (i, (w, p)) in keys.iter().enumerate() {
            cache.set(w, p, token(i));
        }
        let many = LIVE_BYTES.load(Ordering::Relaxed) - before;
        println!(
            "live bytes, {n} cached pairs: {:.2} MiB, {} B per pair (tokens, keys and the table)",
            many as f64 / (1 << 20) as f64,
            many / n as isize
        );
        black_box(cache);
    }
    println!("live bytes: 1 cached token with a fresh cache {single} B\n");
}

/// 50,000 pairs expire, then normal use (reads of 1,000 live pairs, a store
/// every 100th): how many entries the cache holds as it goes.
fn purge_scenario() {
    let cache = TokenCache::with_buffer(Duration::ZERO);
    let soon = SystemTime::now() + Duration::from_millis(100);
    let later = SystemTime::now() + Duration::from_secs(3600);
    for i in 0..50_000 {
        cache.set(
            &format!("old-{i:05}"),
            "github",
            CachedToken::bearer("t", soon),
        );
    }
    for i in 0..1_000 {
        cache.set(
            &format!("live-{i:04}"),
            "github",
            CachedToken::bearer("t", later),
        );
    }
    thread::sleep(Duration::from_millis(150));
    let mut held = vec![(0, cache.len())];
    for op in 1..=80_000 {
        let i = op % 1_000;
        let key = format!("live-{i:04}");
        black_box(cache.get(&key, "github"));
        if op % 100 == 0 {
            cache.set(&key, "github", CachedToken::bearer("t", later));
        }
        if op % 20_000 == 0 {
            held.push((op, cache.len()));
        }
    }
    let line: Vec<String> = held
        .iter()
        .map(|(op, n)| format!("{op} ops: {n}"))
        .collect();
    println!(
        "purge: 50,000 expired + 1,000 live, then normal use → entries held: {}\n",
        line.join(", ")
    );
}

/// The time per store of a token that is stale on arrival (its expiry
/// inside the 30 s buffer), into a cache that holds `live` live entries:
/// the median of 5 runs of 20,000 stores, each to a new pair.
fn stale_store_cost(live: usize) -> Duration {
    let cache = TokenCache::new();
    let later = SystemTime::now() + Duration::from_secs(3600);
    for i in 0..live {
        cache.set(
            &format!("live-{i:05}"),
            "github",
            CachedToken::bearer("t", later),
        );
    }
    let stale = CachedToken::bearer("t", SystemTime::now() + Duration::from_secs(10));
    per_store(|key| cache.set(key, "github", stale.clone()))
}

/// The baseline: the same stores into a plain `BTreeMap` (the cache's map) of the same shape
/// (a workspace, and a list of its provider's token and eviction instant)
/// that holds `live` live entries, purged by the cache's rule (the expired
/// entries dropped once per as many stores as it held after the last
/// purge), with no lock and no flights: what a map that large costs any
/// store in this machine's memory.
fn plain_store_cost(live: usize) -> Duration {
    type Entry = (String, CachedToken, SystemTime);
    let mut map: std::collections::BTreeMap<String, Vec<Entry>> = Default::default();
    let later = SystemTime::now() + Duration::from_secs(3600);
    for i in 0..live {
        let entry = ("github".to_owned(), CachedToken::bearer("t", later), later);
        map.insert(format!("live-{i:05}"), vec![entry]);
    }
    let stale = CachedToken::bearer("t", SystemTime::now() + Duration::from_secs(10));
    let (mut uses, mut purge_at) = (0, live);
    per_store(|key| {
        uses += 1;
        if uses >= purge_at.max(64) {
            let now = SystemTime::now();
            // A live entry's token is read, as the cache reads whether it
            // was rejected.
            let live =
                |(_, token, evict_at): &Entry| now <= *evict_at && !token.access_token().is_empty();
            map.retain(|_, list| {
                list.retain(live);
                !list.is_empty()
            });
            (uses, purge_at) = (0, map.len());
        }
        let entry = ("github".to_owned(), stale.clone(), SystemTime::UNIX_EPOCH);
        map.insert(key.to_owned(), vec![entry]);
    })
}

/// The median time per call of `store`, over 5 runs of 20,000 calls, each
/// with a new key.
fn per_store(mut store: impl FnMut(&str)) -> Duration {
    let keys: Vec<String> = (0..20_000).map(|i| format!("stale-{i:05}")).collect();
    let mut runs: Vec<Duration> = (0..5)
        .map(|_| {
            let started = std::time::Instant::now();
            keys.iter().for_each(|key| store(key));
            started.elapsed() / keys.len() as u32
        })
        .collect();
    runs.sort_unstable();
    runs[runs.len() / 2]
}

/// Stores of stale-on-arrival tokens cost no more at 16,000 live entries
/// than at 1,000 beyond what a map that large costs in memory: the ratio
/// beside a plain map's under the same purge rule, measured in the same run
/// (the cache-size effect differs from machine to machine).
fn store_cost_scenario() {
    let (small, large) = (stale_store_cost(1_000), stale_store_cost(16_000));
    let (plain_small, plain_large) = (plain_store_cost(1_000), plain_store_cost(16_000));
    let ratio = |small: Duration, large: Duration| large.as_secs_f64() / small.as_secs_f64();
    println!(
        "stale-on-arrival stores: {:.0} ns each at 1,000 entries, {:.0} ns at 16,000: {:.2}×; \
         a plain map under the same purge rule (the baseline): {:.0} ns, {:.0} ns: {:.2}× \
         (the goal: at most the baseline's ratio)\n",
        small.as_nanos() as f64,
        large.as_nanos() as f64,
        ratio(small, large),
        plain_small.as_nanos() as f64,
        plain_large.as_nanos() as f64,
        ratio(plain_small, plain_large),
    );
}

/// 8 threads on one key whose token lives 4 s (no buffer), a Gateway that
/// takes 250 ms: calls slower than 100 ms per rotation.
fn rotation_scenario() {
    let gateway = FakeGateway::start();
    gateway.add_provider(
        "ws",
        "github",
        FakeProvider::oauth2("gho")
            .rotating()
            .expires_in(Duration::from_secs(4)),
    );
    let client = NexusClient::new(NexusClientOptions::new(gateway.url())).unwrap();
    let cache = TokenCache::with_buffer(Duration::ZERO);
    client.get_cached_token(&cache, "ws", "github").unwrap();
    gateway.set_latency(Duration::from_millis(250));
    let slow = AtomicUsize::new(0);
    let calls = AtomicUsize::new(0);
    let until = std::time::Instant::now() + Duration::from_secs(12);
    thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| {
                while std::time::Instant::now() < until {
                    let started = std::time::Instant::now();
                    client.get_cached_token(&cache, "ws", "github").unwrap();
                    calls.fetch_add(1, Ordering::Relaxed);
                    if started.elapsed() > Duration::from_millis(100) {
                        slow.fetch_add(1, Ordering::Relaxed);
                    }
                    thread::sleep(Duration::from_millis(5));
                }
            });
        }
    });
    let rotations = gateway.requests(nexus_gateway_fake::Route::Resolve) - 1;
    println!(
        "rotation: 8 threads, one key, 4 s tokens, Gateway 250 ms, 12 s: {rotations} renewals, {} slow calls (> 100 ms) of {}: {:.2} per rotation (at most 1 is the goal)\n",
        slow.load(Ordering::Relaxed),
        calls.load(Ordering::Relaxed),
        slow.load(Ordering::Relaxed) as f64 / rotations.max(1) as f64
    );
}

fn main() {
    contention_table();
    // Single-threaded from here to divan: only the measured work allocates.
    COUNTING.store(true, Ordering::Relaxed);
    allocation_table();
    memory_table();
    COUNTING.store(false, Ordering::Relaxed);
    purge_scenario();
    store_cost_scenario();
    rotation_scenario();
    divan::main();
}

#[divan::bench]
fn token_cache_get_hit(bencher: divan::Bencher) {
    let cache = TokenCache::new();
    cache.set("ws-1", "github", token(1));
    bencher.bench_local(|| cache.get(black_box("ws-1"), black_box("github")));
}

/// What a hit cannot do without: one clock read and one reference count.
#[divan::bench]
fn clock_and_clone_baseline(bencher: divan::Bencher) {
    let t = token(1);
    bencher.bench_local(|| (black_box(SystemTime::now()), black_box(&t).clone()));
}

#[divan::bench]
fn cached_token_clone_baseline(bencher: divan::Bencher) {
    let t = token(1);
    bencher.bench_local(|| black_box(&t).clone());
}

#[divan::bench(threads = [1, 2, 4, 8])]
fn get_cached_token_hot_key(bencher: divan::Bencher) {
    let keys = keys(1);
    let (_gateway, client, cache) = warm(&keys);
    bencher.bench(|| {
        client
            .get_cached_token(&cache, black_box("ws-0000"), black_box("github"))
            .unwrap()
    });
}

#[divan::bench(threads = [1, 2, 4, 8])]
fn get_cached_token_64_keys(bencher: divan::Bencher) {
    thread_local! {
        // Per thread, so that choosing a key adds no contention of its own.
        static NEXT: Cell<usize> = const { Cell::new(0) };
    }
    let keys = keys(64);
    let (_gateway, client, cache) = warm(&keys);
    bencher.bench(|| {
        let i = NEXT.with(|n| n.replace(n.get().wrapping_add(1)));
        let (w, p) = &keys[i % keys.len()];
        client.get_cached_token(&cache, w, p).unwrap()
    });
}

#[divan::bench]
fn get_cached_token_hit(bencher: divan::Bencher) {
    let keys = keys(1);
    let (_gateway, client, cache) = warm(&keys);
    bencher.bench_local(|| {
        client
            .get_cached_token(&cache, black_box("ws-0000"), black_box("github"))
            .unwrap()
    });
}
