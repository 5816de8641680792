//! `authenticated_fetch` on a warm cache against a local keep-alive
//! upstream, against a raw `ureq::Agent` request carrying the same header.
//!
//! The headline figure is measured by hand, not by divan: the arms take
//! turns request by request (the order swapped every round), so that the
//! machine's noise falls on all of them alike, and the result is the ratio
//! of medians. A third arm is a raw agent configured as the SDK's own
//! (`timeout_global` and `timeout_connect`): with a global timeout, ureq's
//! default resolver looks each host up on a thread of its own, so that the
//! lookup too is bounded. A fourth is a raw agent with only read and write
//! timeouts: any request bounded in time makes the kernel arm a timer for
//! each blocking read, and this arm shows what that alone costs.
//!
//! The second table does the same on the host *name* `localhost`, as real
//! users call `api.github.com`: what the default resolver costs there, and
//! the SDK against a raw agent with the same timeouts. The divan benches
//! after it give each arm's own distribution.

use std::time::{Duration, Instant};

use nexus_gateway_fake::{FakeGateway, FakeProvider, FakeUpstream};
use nexus_sdk::http::Request;
use nexus_sdk::{CredentialScope, FetchOptions, NexusClient, NexusClientOptions, TokenCache};

const ROUNDS: usize = 2000;
const REPEATS: usize = 5;

struct Setup {
    _gateway: FakeGateway,
    upstream: FakeUpstream,
    client: NexusClient,
    cache: TokenCache,
    raw: ureq::Agent,
    raw_global_timeout: ureq::Agent,
    raw_socket_timeouts: ureq::Agent,
    url: String,
    /// The same upstream by host name.
    named_url: String,
}

fn setup() -> Setup {
    let gateway = FakeGateway::start();
    let upstream = FakeUpstream::start();
    // The default scope, as users have it: the provider's API origin, and
    // the same upstream by host name allowed too.
    let github = FakeProvider::oauth2("gho_bench").api_base_url(&upstream.url());
    gateway.add_provider("ws", "github", github);
    let by_name = upstream.url().replace("127.0.0.1", "localhost");
    let scope = CredentialScope::provider_api().allow("github", &by_name);
    let options = NexusClientOptions::new(gateway.url()).credential_scope(scope);
    let client = NexusClient::new(options).unwrap();
    let cache = TokenCache::new();
    client.get_cached_token(&cache, "ws", "github").unwrap();
    let raw = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    // The SDK's configuration (src/transport.rs), with its default timeout.
    let raw_global_timeout = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .timeout_connect(Some(Duration::from_secs(10)))
        .build()
        .new_agent();
    let raw_socket_timeouts = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_per_read(Some(Duration::from_secs(30)))
        .timeout_per_write(Some(Duration::from_secs(30)))
        .build()
        .new_agent();
    let url = format!("{}/user", upstream.url());
    let named_url = url.replace("127.0.0.1", "localhost");
    Setup {
        named_url,
        raw_socket_timeouts,
        _gateway: gateway,
        upstream,
        client,
        cache,
        raw,
        raw_global_timeout,
        url,
    }
}

fn sdk_fetch(s: &Setup) -> usize {
    sdk_fetch_url(s, &s.url)
}

fn sdk_fetch_url(s: &Setup, url: &str) -> usize {
    let (status, _, body) = s
        .client
        .authenticated_fetch(&s.cache, "ws", "github", url, FetchOptions::default())
        .unwrap();
    assert_eq!(status, 200);
    body.len()
}

/// The `http::Request` path: `authorize`, then the caller's own agent.
fn sdk_authorize(s: &Setup) -> usize {
    let mut request = Request::get(&s.url).body(Vec::new()).unwrap();
    let _auth = s
        .client
        .authorize(&s.cache, "ws", "github", &mut request)
        .unwrap();
    let mut response = s.raw.run(request).unwrap();
    assert_eq!(response.status(), 200);
    response.body_mut().read_to_vec().unwrap().len()
}

fn raw_fetch(agent: &ureq::Agent, url: &str) -> usize {
    let mut response = agent
        .get(url)
        .header("Authorization", "Bearer gho_bench")
        .call()
        .unwrap();
    assert_eq!(response.status(), 200);
    response.body_mut().read_to_vec().unwrap().len()
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort_unstable();
    samples[samples.len() / 2]
}

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort_unstable();
    samples[((samples.len() - 1) as f64 * p) as usize]
}

/// One interleaved run: each arm's samples, in `arms` order.
fn interleaved_run(arms: &[(&str, &dyn Fn() -> usize)]) -> Vec<Vec<Duration>> {
    for (_, run) in arms {
        for _ in 0..200 {
            run();
        }
    }
    let mut samples = vec![Vec::with_capacity(ROUNDS); arms.len()];
    for round in 0..ROUNDS {
        for i in 0..arms.len() {
            // Rotate which arm goes first, so no arm always follows another.
            let arm = (i + round) % arms.len();
            let started = Instant::now();
            arms[arm].1();
            samples[arm].push(started.elapsed());
        }
    }
    samples
}

/// [`REPEATS`] interleaved runs: each run's p50 per arm (seconds), and the
/// last run's samples.
fn repeated_runs(arms: &[(&str, &dyn Fn() -> usize)]) -> (Vec<Vec<f64>>, Vec<Vec<Duration>>) {
    let mut p50s = Vec::new();
    let mut last = Vec::new();
    for _ in 0..REPEATS {
        let mut samples = interleaved_run(arms);
        p50s.push(
            samples
                .iter_mut()
                .map(|s| median(s).as_secs_f64())
                .collect(),
        );
        last = samples;
    }
    (p50s, last)
}

fn interleaved() {
    let s = setup();
    let arms: [(&str, &dyn Fn() -> usize); 4] = [
        ("authenticated_fetch (SDK)", &|| sdk_fetch(&s)),
        ("raw ureq, no timeouts (baseline)", &|| {
            raw_fetch(&s.raw, &s.url)
        }),
        ("raw ureq, the SDK's timeouts", &|| {
            raw_fetch(&s.raw_global_timeout, &s.url)
        }),
        ("raw ureq, read/write timeouts", &|| {
            raw_fetch(&s.raw_socket_timeouts, &s.url)
        }),
    ];
    // Repeated runs: one run's ratio moves with whatever else the machine does.
    let (p50s, mut last) = repeated_runs(&arms);
    let mut ratios: Vec<Vec<f64>> = (0..arms.len())
        .map(|i| p50s.iter().map(|p| p[i] / p[1]).collect())
        .collect();
    ratios.push(p50s.iter().map(|p| p[0] / p[2]).collect());
    println!(
        "\nauthenticated_fetch overhead on loopback, {REPEATS} runs of {ROUNDS} interleaved rounds, {} cores:",
        cores()
    );
    println!(
        "  {:<34} {:>10} {:>10} {:>24}",
        "arm (p50, p90: last run)", "p50", "p90", "p50 / raw: median [range]"
    );
    for (i, (name, _)) in arms.iter().enumerate() {
        let p50 = median(&mut last[i]);
        let p90 = percentile(&mut last[i], 0.9);
        println!(
            "  {name:<34} {:>8.1}µs {:>8.1}µs {}",
            micros(p50),
            micros(p90),
            spread(&mut ratios[i])
        );
    }
    println!(
        "  {:<56} {}\n",
        "SDK p50 / raw p50 with the SDK's timeouts (the same bound)",
        spread(&mut ratios[arms.len()])
    );
}

/// The `http::Request` path (`authorize`, then the caller's own agent)
/// against `authenticated_fetch`, two arms taking turns.
fn request_path() {
    let s = setup();
    let arms: [(&str, &dyn Fn() -> usize); 2] = [
        ("authenticated_fetch", &|| sdk_fetch(&s)),
        ("authorize + agent.run (http::Request)", &|| {
            sdk_authorize(&s)
        }),
    ];
    let (p50s, _) = repeated_runs(&arms);
    let mut ratios: Vec<f64> = p50s.iter().map(|p| p[1] / p[0]).collect();
    println!(
        "the http::Request path, {REPEATS} runs of {ROUNDS} interleaved rounds:\n  {:<56} {}\n",
        "authorize + run p50 / authenticated_fetch p50",
        spread(&mut ratios)
    );
}

/// `median× [min–max]` of a set of ratios.
fn spread(ratios: &mut [f64]) -> String {
    ratios.sort_by(f64::total_cmp);
    format!(
        "{:>6.3}× [{:.2}–{:.2}]",
        ratios[ratios.len() / 2],
        ratios[0],
        ratios[ratios.len() - 1]
    )
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// 8 threads sharing one agent, as the workers of a stdio MCP server do:
/// ureq's default pool keeps 3 idle connections per host, so most requests
/// then open a new connection (a TLS handshake, against a real API).
fn concurrent_pool() {
    const THREADS: usize = 8;
    const EACH: usize = 300;
    let s = setup();
    let agent = |per_host: usize| {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_idle_connections(64)
            .max_idle_connections_per_host(per_host)
            .build()
            .new_agent()
    };
    // (time, connections the upstream accepted)
    let run = |run_one: &(dyn Fn() -> usize + Sync)| {
        let before = s.upstream.connections();
        let started = Instant::now();
        std::thread::scope(|scope| {
            for _ in 0..THREADS {
                scope.spawn(|| (0..EACH).for_each(|_| _ = std::hint::black_box(run_one())));
            }
        });
        (started.elapsed(), s.upstream.connections() - before)
    };
    let (three, sixteen) = (agent(3), agent(16));
    let mut times = Vec::new();
    for _ in 0..3 {
        let default_pool = run(&|| raw_fetch(&three, &s.url));
        let sized_pool = run(&|| raw_fetch(&sixteen, &s.url));
        let same_timeouts = run(&|| raw_fetch(&s.raw_global_timeout, &s.url));
        let sdk = run(&|| sdk_fetch(&s));
        times.push((default_pool, sized_pool, same_timeouts, sdk));
    }
    times.sort_by_key(|t| t.0.0);
    let (default_pool, sized_pool, same_timeouts, sdk) = times[1];
    let total = THREADS * EACH;
    let per = |d: Duration| micros(d) / total as f64;
    println!("\n{THREADS} threads × {EACH} fetches through one agent (median of 3 runs):");
    println!(
        "  {:<40} {:>9} {:>7} {:>24}",
        "", "µs/fetch", "ratio", "new connections"
    );
    for (name, (time, opened)) in [
        ("raw ureq, default pool (3 idle per host)", default_pool),
        ("raw ureq, 16 idle per host", sized_pool),
        ("raw ureq, the SDK's timeouts", same_timeouts),
        ("authenticated_fetch (SDK)", sdk),
    ] {
        println!(
            "  {name:<40} {:>9.1} {:>6.2}× {opened:>6} ({:>4.1}% of fetches)",
            per(time),
            ratio(time, default_pool.0),
            100.0 * opened as f64 / total as f64
        );
    }
    println!(
        "  (on loopback a new connection is cheap; against an HTTPS API each is a TLS handshake)\n"
    );
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}

/// On the host name `localhost`: the default resolver's cost, and the SDK
/// against a raw agent with the same timeouts, interleaved as above.
fn named_host() {
    let s = setup();
    let url = s.named_url.clone();
    let arms: [(&str, &dyn Fn() -> usize); 3] = [
        ("authenticated_fetch (SDK)", &|| sdk_fetch_url(&s, &url)),
        ("raw ureq, no timeouts", &|| raw_fetch(&s.raw, &url)),
        ("raw ureq, the SDK's timeouts", &|| {
            raw_fetch(&s.raw_global_timeout, &url)
        }),
    ];
    let (p50s, mut last) = repeated_runs(&arms);
    let mut sdk_vs_same: Vec<f64> = p50s.iter().map(|p| p[0] / p[2]).collect();
    let mut resolver: Vec<f64> = p50s.iter().map(|p| p[2] / p[1]).collect();
    println!(
        "\nthe same on the host name localhost, {REPEATS} runs of {ROUNDS} interleaved rounds, {} cores:",
        cores()
    );
    for (i, (name, _)) in arms.iter().enumerate() {
        println!(
            "  {name:<34} p50 {:>8.1}µs (last run)",
            micros(median(&mut last[i]))
        );
    }
    println!(
        "  {:<56} {}",
        "raw with the SDK's timeouts / raw without (resolver thread)",
        spread(&mut resolver)
    );
    println!(
        "  {:<56} {}\n",
        "SDK / raw with the same timeouts",
        spread(&mut sdk_vs_same)
    );
}

/// `NEXUS_FETCH_LOOP=<arm>:<n>`: 50 warm-up fetches and then `n` more of
/// one arm (`sdk`, `raw-same-timeouts` or `raw`), nothing else, for
/// `benches/instructions.sh` to count under callgrind.
fn fetch_loop(spec: &str) {
    let (arm, n) = spec.split_once(':').expect("NEXUS_FETCH_LOOP is <arm>:<n>");
    let n: usize = n.parse().expect("NEXUS_FETCH_LOOP's count");
    let s = setup();
    let fetch: &dyn Fn() -> usize = match arm {
        "sdk" => &|| sdk_fetch(&s),
        "raw-same-timeouts" => &|| raw_fetch(&s.raw_global_timeout, &s.url),
        "raw" => &|| raw_fetch(&s.raw, &s.url),
        _ => panic!("NEXUS_FETCH_LOOP's arm: sdk, raw-same-timeouts or raw"),
    };
    for _ in 0..50 + n {
        std::hint::black_box(fetch());
    }
}

fn main() {
    if let Ok(spec) = std::env::var("NEXUS_FETCH_LOOP") {
        return fetch_loop(&spec);
    }
    concurrent_pool();
    interleaved();
    request_path();
    named_host();
    divan::main();
}

#[divan::bench(sample_count = 200)]
fn sdk_authenticated_fetch(bencher: divan::Bencher) {
    let s = setup();
    bencher.bench_local(|| sdk_fetch(&s));
}

#[divan::bench(sample_count = 200)]
fn raw_ureq_request(bencher: divan::Bencher) {
    let s = setup();
    bencher.bench_local(|| raw_fetch(&s.raw, &s.url));
}
