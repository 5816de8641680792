//! What `serve` costs beside stdio (`cargo bench -p nexus-mcp --bench
//! serve`), each figure a ratio or a count taken in one run: a warm
//! `authenticated_fetch` (token cached) through `serve` against the same
//! call over stdio, interleaved in rounds; the bearer check's share of it
//! for a token not seen in the last 30 s (a request refused after its
//! signature is verified, less one refused for having no token); calls a second at 1 and 16 concurrent clients;
//! 1,000 people's first calls and the resolves they made; the server's
//! resident memory a distinct person costs (the slope from 1,000 to 4,000
//! people), and with `NEXUS_MCP_BASELINE` another build's beside it; a
//! warm call against that build's (part `warm`); a warm call with an
//! opaque token told by introspection against one with a JWT, and the
//! questions the issuer is asked for one such token under 16 clients; a
//! warm call with metrics and JSON log lines on against both off; a warm
//! call's median and 99th percentile beside a busy loop; with
//! `--oauth-proxy`, each step of a host's sign-in and a warm call with the
//! token `serve` issued against one with the provider's; with `--policy`,
//! a decision's cost and a warm call with 1, 100 and 1,000 policies
//! against one without; an 8 MiB body of JSON objects against one of
//! text (part `bodies`); a policy reading a 1 MiB JSON body against one
//! reading none, and a 10 KiB GraphQL document's operation read (part
//! `contents`); a warm call with `--person-rate` counted in the store
//! against one counted by the replica alone (part `limit`); an approved
//! call's retry after its approval (part `approvals`); a warm call traced and sampled against one with
//! tracing off, and off against `NEXUS_MCP_BASELINE`'s (part `traced`), and
//! the same counted in the server's instructions by callgrind (part
//! `instructions`); a warm call beside nginx's `proxy_pass` of the same
//! `GET`, the physical limit (part `nginx`); a
//! rolling restart of two replicas behind nginx under steady calls: the
//! calls answered, those that failed, and the slowest.
//!
//! Real processes on loopback, the fake Gateway and issuer; nothing mocked.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

// The tests' nginx (its files in a directory that goes with it).
#[allow(dead_code)]
#[path = "../tests/common/nginx.rs"]
mod nginx;
// The tests' served program's helpers: the workspace rule's oracle, a free
// port (the bench starts its own children, with its own logging).
#[allow(dead_code)]
#[path = "../tests/common/served.rs"]
mod served;
// The tests' host's authorization request, for `--oauth-proxy`'s sign-in.
#[allow(dead_code)]
#[path = "../tests/common/front.rs"]
mod front;
// The tests' signals as the provider sends them (a SET, SCIM's requests).
#[allow(dead_code)]
#[path = "../tests/common/signals.rs"]
mod signals_sent;
// The tests' redis-server, the store `--store` names.
#[allow(dead_code)]
#[path = "../tests/common/redis.rs"]
mod redis;
// `--oauth-proxy`: a sign-in's steps, and a call with the token serve issued.
#[path = "serve/proxy.rs"]
mod proxy;
// The ID-JAG grant, the replay record, a warm call with revocations held.
#[path = "serve/id_jag.rs"]
mod id_jag;
// Out means out: a person out on every replica after a signal; the list at
// 200,000 entries.
#[path = "serve/signals.rs"]
mod signals;
// An 8 MiB body of JSON objects against text, with and without a policy.
#[path = "serve/bodies.rs"]
mod bodies;
// An approved call's retry.
#[path = "serve/approvals.rs"]
mod approvals;
// --person-rate counted in the store against the replica alone.
#[path = "serve/limit.rs"]
mod limit;
// A policy reading a 1 MiB JSON body, a GraphQL document's operation read.
#[path = "serve/contents.rs"]
mod reading;
// A warm call traced and sampled against tracing off, and off against 0.12.0.
#[path = "serve/traced.rs"]
mod traced;
// A warm call beside nginx's proxy_pass of the same GET: the limit.
#[path = "serve/nginx.rs"]
mod limit_beside;
// The server's instructions per warm call, traced and not, by callgrind.
#[path = "serve/instructions.rs"]
mod instructions;
// `--policy`: its decisions, a warm call with 1, 100 and 1,000 policies;
// the program's size.
#[path = "serve/policy.rs"]
mod policy;
// The server's own policy code, whose decisions the bench times in-process.
#[allow(dead_code, unused_imports)]
#[path = "../src/policy.rs"]
mod decisions;
// What the policy code reads a request's path with (its unit tests,
// compiled with the bench's test build, run with the program's).
#[allow(dead_code, unused_imports)]
#[path = "../src/readings.rs"]
mod readings;
// What the policy code reads a call's content with, and a GraphQL call's
// operation.
#[allow(dead_code, unused_imports)]
#[path = "../src/contents.rs"]
mod contents;
#[allow(dead_code, unused_imports)]
#[path = "../src/graphql.rs"]
mod graphql;
// What the policy code checks a file's literals with.
#[allow(dead_code, unused_imports)]
#[path = "../src/literals.rs"]
mod literals;
// The agent a policy reads (`context.agent`).
#[allow(dead_code, unused_imports)]
#[path = "../src/agents.rs"]
mod agents;

use nexus_gateway_fake::{FakeGateway, FakeIssuer, FakeProvider, FakeToken, FakeUpstream};
use serde_json::{Value, json};
use served::{free_port, workspace_of};

const KEY: &str = "a-sealing-key-of-at-least-32-bytes!!";
/// The client `serve` asks the issuer's introspection endpoint as.
const ASKING: (&str, &str) = ("bench-introspection", "bench-introspection-secret-01");
const ROUNDS: usize = 5;
const PER_ROUND: usize = 100;

fn main() {
    let issuer = FakeIssuer::start();
    issuer.add_confidential_client(ASKING.0, "http://127.0.0.1/unused", ASKING.1);
    let (gateway, api) = (FakeGateway::start(), FakeUpstream::start());
    let github = |token: &str| FakeProvider::oauth2(token).api_base_url(&api.url());
    gateway.add_provider("ws-1", "github", github("gho_stdio"));
    gateway.add_provider(
        &workspace_of(&issuer.url(), "alice"),
        "github",
        github("gho_alice"),
    );
    let url = format!("{}/user", api.url());
    // `cargo bench -p nexus-mcp --bench serve -- policy` (or `proxy`,
    // `refresh`, `people`, `warm`): that part alone.
    match std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .as_deref()
    {
        Some("policy") => return policy::policy(&gateway, &issuer, &api, &url),
        Some("proxy") => return proxy::proxy(&gateway, &issuer, &url),
        Some("refresh") => return proxy::refresh(&gateway, &issuer),
        Some("id-jag") => return id_jag::id_jag(&gateway, &issuer, &url),
        Some("people") => return people(&gateway, &issuer, &url, &github),
        Some("warm") => return warm_against_baseline(&gateway, &issuer, &url),
        Some("bodies") => return bodies::bodies(&gateway, &url),
        Some("contents") => return reading::contents(&gateway, &url),
        Some("limit") => return limit::limit(&gateway, &issuer, &url),
        Some("approvals") => return approvals::approvals(&gateway, &issuer, &url),
        Some("traced") => return traced::traced(&gateway, &issuer, &url),
        Some("instructions") => return instructions::instructions(&gateway, &issuer, &url),
        Some("nginx") => return limit_beside::beside_nginx(&gateway, &issuer, &api, &url),
        Some("signals") => return signals::signals(&gateway, &issuer),
        Some(other) => {
            panic!(
                "no part {other:?}: policy, proxy, refresh, id-jag, people, warm, bodies, contents, limit, approvals, traced, instructions, nginx or signals, or none for all"
            )
        }
        None => {}
    }
    let (_serve, mcp) = serve(&gateway, &issuer);
    let mut stdio = Stdio2025::start(&gateway);
    let alice = issuer.mint(&FakeToken::new("alice").audience(&mcp));
    let http = agent();
    let (mut over_http, mut over_stdio) = (Duration::ZERO, Duration::ZERO);
    assert!(
        call(&http, &mcp, &alice, &url).contains("HTTP 200"),
        "serve answers"
    );
    stdio.call(&url);
    for _ in 0..ROUNDS {
        over_http += timed(|| drop(call(&http, &mcp, &alice, &url)));
        over_stdio += timed(|| stdio.call(&url));
    }
    let calls = (ROUNDS * PER_ROUND) as f64;
    let (http_us, stdio_us) = (micros(over_http) / calls, micros(over_stdio) / calls);
    println!(
        "warm authenticated_fetch: serve {http_us:.0} µs, stdio {stdio_us:.0} µs: {:.2}x (goal <= 1.3x)",
        http_us / stdio_us
    );
    // The check: a token refused after its signature is verified, less a
    // request refused at once for having none.
    let forged = issuer.mint(&FakeToken::new("alice").audience("https://other.example/mcp"));
    let checked = timed(|| assert_eq!(status(&mcp, Some(&forged)), 401));
    let unchecked = timed(|| assert_eq!(status(&mcp, None), 401));
    let check_us = (micros(checked) - micros(unchecked)) / PER_ROUND as f64;
    println!(
        "the bearer check of a token not seen in the last 30 s (its signature verified): \
         {check_us:.0} µs, {:.0} % of a warm call through serve; a token seen since is \
         recalled by its hash, inside the warm call's figure",
        100.0 * check_us / http_us
    );
    for clients in [1, 16] {
        let started = Instant::now();
        std::thread::scope(|scope| {
            for _ in 0..clients {
                let (mcp, alice, url) = (&mcp, &alice, &url);
                scope.spawn(move || {
                    let http = agent();
                    for _ in 0..(400 / clients) {
                        drop(call(&http, mcp, alice, url));
                    }
                });
            }
        });
        let rate = (400 / clients * clients) as f64 / started.elapsed().as_secs_f64();
        println!("{clients} concurrent clients: {rate:.0} calls/s");
    }
    tail(&http, &mcp, &alice, &url);
    opaque_tokens(&issuer, &mcp, &alice, &url);
    observed(&gateway, &issuer, &url);
    rolling_restart(&gateway, &issuer, &url);
    proxy::proxy(&gateway, &issuer, &url);
    proxy::refresh(&gateway, &issuer);
    id_jag::id_jag(&gateway, &issuer, &url);
    policy::policy(&gateway, &issuer, &api, &url);
    bodies::bodies(&gateway, &url);
    reading::contents(&gateway, &url);
    limit::limit(&gateway, &issuer, &url);
    approvals::approvals(&gateway, &issuer, &url);
    traced::traced(&gateway, &issuer, &url);
    instructions::instructions(&gateway, &issuer, &url);
    limit_beside::beside_nginx(&gateway, &issuer, &api, &url);
    people(&gateway, &issuer, &url, &github);
}

/// A warm call's tail beside a busy loop (a thread spinning on one of the
/// machine's cores, as a loaded host's other work): the median and the 99th
/// percentile of 1,000 calls, each timed alone.
fn tail(http: &ureq::Agent, mcp: &str, token: &str, url: &str) {
    let spinning = AtomicBool::new(true);
    let mut took: Vec<Duration> = std::thread::scope(|scope| {
        scope.spawn(|| {
            while spinning.load(Ordering::Relaxed) {
                std::hint::spin_loop();
            }
        });
        let took = (0..1000).map(|_| timed_once(|| drop(call(http, mcp, token, url))));
        let took = took.collect();
        spinning.store(false, Ordering::Relaxed);
        took
    });
    took.sort();
    let (p50, p99) = (micros(took[500]), micros(took[990]));
    println!(
        "a warm call beside a busy loop: p50 {p50:.0} µs, p99 {p99:.0} µs ({:.1}x the median)",
        p99 / p50
    );
}

fn timed_once(one: impl FnOnce()) -> Duration {
    let started = Instant::now();
    one();
    started.elapsed()
}

/// A warm call with an opaque token (recalled by its hash after one
/// introspection) against one with a JWT; then 16 clients calling with one
/// new opaque token: how many times the issuer is asked.
fn opaque_tokens(issuer: &FakeIssuer, mcp: &str, jwt: &str, url: &str) {
    let http = agent();
    let opaque = issuer.mint_opaque(&FakeToken::new("alice").audience(mcp));
    assert!(
        call(&http, mcp, &opaque, url).contains("HTTP 200"),
        "introspected"
    );
    let (mut with_jwt, mut with_opaque) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..ROUNDS {
        with_jwt += timed(|| drop(call(&http, mcp, jwt, url)));
        with_opaque += timed(|| drop(call(&http, mcp, &opaque, url)));
    }
    println!(
        "warm call with an introspected token: {:.2}x one with a JWT (goal <= 1.1x)",
        with_opaque.as_secs_f64() / with_jwt.as_secs_f64()
    );
    let fresh = issuer.mint_opaque(&FakeToken::new("alice").audience(mcp));
    let (before, started) = (issuer.introspections(), Instant::now());
    std::thread::scope(|scope| {
        for _ in 0..16 {
            scope.spawn(|| {
                let http = agent();
                for _ in 0..25 {
                    drop(call(&http, mcp, &fresh, url));
                }
            });
        }
    });
    println!(
        "16 concurrent clients, 400 calls with one new opaque token in {:.1} s: the issuer \
         asked {} time(s) (goal: exactly 1 a minute)",
        started.elapsed().as_secs_f64(),
        issuer.introspections() - before
    );
}

/// A warm call to a `serve` with metrics counted (`--metrics-listen`) and
/// JSON log lines (`--log-format json`, a line per call) against one with
/// both off (text lines, also one per call), interleaved in rounds.
fn observed(gateway: &FakeGateway, issuer: &FakeIssuer, url: &str) {
    let on = ["--metrics-listen", "127.0.0.1:0", "--log-format", "json"];
    let (_plain, plain) = serve_with(gateway, issuer, &[], "info");
    let (_watched, watched) = serve_with(gateway, issuer, &on, "info");
    let http = agent();
    let token = |mcp: &str| issuer.mint(&FakeToken::new("alice").audience(mcp));
    let (plain_token, watched_token) = (token(&plain), token(&watched));
    for (mcp, token) in [(&plain, &plain_token), (&watched, &watched_token)] {
        assert!(call(&http, mcp, token, url).contains("HTTP 200"), "warm");
    }
    let (mut off, mut on) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..ROUNDS {
        off += timed(|| drop(call(&http, &plain, &plain_token, url)));
        on += timed(|| drop(call(&http, &watched, &watched_token, url)));
    }
    println!(
        "warm call with metrics and JSON log lines: {:.2}x one with both off (goal <= 1.05x)",
        on.as_secs_f64() / off.as_secs_f64()
    );
}

/// Two replicas behind nginx (the distribution's; `NEXUS_NGINX`) under
/// three clients' steady calls, each stopped (SIGTERM) and started again in
/// turn, the next once nginx sends the restarted one calls again (its first
/// call resolves a token at the Gateway: an event): the calls answered,
/// those that failed, and the slowest.
fn rolling_restart(gateway: &FakeGateway, issuer: &FakeIssuer, url: &str) {
    let nginx = std::env::var("NEXUS_NGINX").unwrap_or_else(|_| "/usr/sbin/nginx".to_owned());
    if !std::path::Path::new(&nginx).exists() {
        println!("rolling restart: skipped (no nginx; NEXUS_NGINX names one)");
        return;
    }
    let front = free_port();
    let public = format!("http://127.0.0.1:{front}/mcp");
    let ports = [free_port(), free_port()];
    let start = |port: u16| serve_on(gateway, issuer, (port, &public), &[], "warn");
    let mut replicas: Vec<Option<Running>> = ports.iter().map(|p| Some(start(*p))).collect();
    let _front = nginx::Nginx::start(front, &ports);
    let token = issuer.mint(&FakeToken::new("alice").audience(&public));
    let (stop, answered) = (AtomicBool::new(false), AtomicUsize::new(0));
    let (failed, slowest) = (AtomicUsize::new(0), Mutex::new(Duration::ZERO));
    let resolves = || gateway.requests(nexus_gateway_fake::Route::Resolve);
    let more_resolves = |before: usize| {
        let deadline = Instant::now() + Duration::from_secs(120);
        while resolves() <= before {
            assert!(
                Instant::now() < deadline,
                "the restarted replica got no call"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    std::thread::scope(|scope| {
        for _ in 0..3 {
            scope.spawn(|| {
                let http = agent();
                while !stop.load(Ordering::SeqCst) {
                    let started = Instant::now();
                    let (status, text) = request(&http, &public, Some(&token), &fetch_call(url));
                    let took = started.elapsed();
                    let mut slowest = slowest.lock().unwrap();
                    *slowest = (*slowest).max(took);
                    if status != 200 || text.contains("\"isError\":true") {
                        failed.fetch_add(1, Ordering::SeqCst);
                    }
                    answered.fetch_add(1, Ordering::SeqCst);
                }
            });
        }
        for (slot, port) in replicas.iter_mut().zip(ports) {
            let stopping = slot.take().expect("a replica");
            let pid = stopping.0.id().to_string();
            let killed = Command::new("kill").args(["-TERM", &pid]).status();
            assert!(killed.is_ok_and(|s| s.success()));
            let mut stopping = stopping;
            let _ = stopping.0.wait();
            let before = resolves();
            *slot = Some(start(port));
            more_resolves(before);
        }
        stop.store(true, Ordering::SeqCst);
    });
    println!(
        "rolling restart of 2 replicas behind nginx: {} calls, {} failed, the slowest {:.0} ms",
        answered.load(Ordering::SeqCst),
        failed.load(Ordering::SeqCst),
        slowest.lock().unwrap().as_secs_f64() * 1e3
    );
}

/// A program the bench started, ended when the bench ends, on a failure
/// (a panic unwinds through it) too.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A warm call through this build's `serve` against the same call through
/// the build `NEXUS_MCP_BASELINE` names (the last release's, say),
/// interleaved in rounds, in one run: the ratio of their medians per round.
fn warm_against_baseline(gateway: &FakeGateway, issuer: &FakeIssuer, url: &str) {
    let Ok(baseline) = std::env::var("NEXUS_MCP_BASELINE") else {
        panic!("`warm` times this build against another: set NEXUS_MCP_BASELINE to its program")
    };
    let (this, theirs) = (free_port(), free_port());
    let mcps = [this, theirs].map(|port| format!("http://127.0.0.1:{port}/mcp"));
    let _served = [
        program_served(
            env!("CARGO_BIN_EXE_nexus-mcp"),
            gateway,
            issuer,
            (this, &mcps[0]),
            &[],
            "warn",
        ),
        program_served(&baseline, gateway, issuer, (theirs, &mcps[1]), &[], "warn"),
    ];
    let tokens = mcps
        .each_ref()
        .map(|mcp| issuer.mint(&FakeToken::new("alice").audience(mcp)));
    let http = agent();
    for (mcp, token) in mcps.iter().zip(&tokens) {
        assert!(
            call(&http, mcp, token, url).contains("HTTP 200"),
            "{mcp} answers"
        );
    }
    let mut ratios: Vec<f64> = (0..4 * ROUNDS)
        .map(|_| {
            let ours = timed(|| drop(call(&http, &mcps[0], &tokens[0], url)));
            let base = timed(|| drop(call(&http, &mcps[1], &tokens[1], url)));
            ours.as_secs_f64() / base.as_secs_f64()
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    println!(
        "a warm call through this build against {baseline}: {:.3}x at the median of {} \
         interleaved rounds of {PER_ROUND} (goal <= 1.02x)",
        ratios[ratios.len() / 2],
        ratios.len()
    );
}

/// People, each making a first call: the resolves of the first 1,000, and
/// the resident memory a distinct person costs, as the slope between
/// 1,000 and 4,000 people (what a server holds for none, and the heap's
/// first growth, fall out of the difference), warmed by one call of a
/// person not counted. With `NEXUS_MCP_BASELINE` naming another build's
/// program (0.11's, say), the same for it, in the same run.
fn people(
    gateway: &FakeGateway,
    issuer: &FakeIssuer,
    url: &str,
    github: &dyn Fn(&str) -> FakeProvider,
) {
    let people: Vec<String> = (0..=ALL).map(|n| format!("person-{n}")).collect();
    for person in &people {
        let ws = workspace_of(&issuer.url(), person);
        gateway.add_provider(&ws, "github", github(&format!("gho_{person}")));
    }
    let this = env!("CARGO_BIN_EXE_nexus-mcp");
    let kib = person_kib(this, gateway, issuer, url, &people);
    let resolves: usize = (people[..FIRST].iter())
        .map(|p| gateway.resolves(&workspace_of(&issuer.url(), p), "github"))
        .sum();
    println!(
        "1,000 people, a first call each: {resolves} resolves; resident memory a distinct \
         person costs ({FIRST} to {ALL} people): {kib:.2} KiB (0.11 measured from outside: 0.79)"
    );
    if let Ok(baseline) = std::env::var("NEXUS_MCP_BASELINE") {
        let theirs = person_kib(&baseline, gateway, issuer, url, &people);
        println!(
            "  the baseline {baseline}: {theirs:.2} KiB a person; this build {:.2}x",
            kib / theirs
        );
    }
}

/// The people [`people`] counts from, and all it counts.
const FIRST: usize = 1000;
const ALL: usize = 4000;

/// The resident memory a distinct person costs `program`'s `serve`: the
/// slope between [`FIRST`] and [`ALL`] people's first calls.
fn person_kib(
    program: &str,
    gateway: &FakeGateway,
    issuer: &FakeIssuer,
    url: &str,
    people: &[String],
) -> f64 {
    let port = free_port();
    let mcp = format!("http://127.0.0.1:{port}/mcp");
    let served = program_served(program, gateway, issuer, (port, &mcp), &[], "warn");
    let tokens: Vec<String> = (people.iter())
        .map(|p| issuer.mint(&FakeToken::new(p).audience(&mcp)))
        .collect();
    let http = agent();
    assert!(call(&http, &mcp, &tokens[ALL], url).contains("HTTP 200"));
    for token in &tokens[..FIRST] {
        assert!(call(&http, &mcp, token, url).contains("HTTP 200"));
    }
    let at_first = resident_kib(served.0.id());
    for token in &tokens[FIRST..ALL] {
        assert!(call(&http, &mcp, token, url).contains("HTTP 200"));
    }
    let at_all = resident_kib(served.0.id());
    at_all.saturating_sub(at_first) as f64 / (ALL - FIRST) as f64
}

fn timed(mut one: impl FnMut()) -> Duration {
    let started = Instant::now();
    for _ in 0..PER_ROUND {
        one();
    }
    started.elapsed()
}

fn micros(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e6
}

fn resident_kib(pid: u32) -> u64 {
    status_kib(pid, "VmRSS:")
}

/// The figure `/proc/PID/status` gives on the line that starts `name`, in KiB.
fn status_kib(pid: u32, name: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let line = status.lines().find(|l| l.starts_with(name)).unwrap_or("");
    line.split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// `serve` on a free port, once it listens, and its MCP URL.
fn serve(gateway: &FakeGateway, issuer: &FakeIssuer) -> (Running, String) {
    serve_with(gateway, issuer, &[], "warn")
}

/// [`serve`] with more `args`, logging at `level` (its stderr discarded).
fn serve_with(
    gateway: &FakeGateway,
    issuer: &FakeIssuer,
    args: &[&str],
    level: &str,
) -> (Running, String) {
    let port = free_port();
    let mcp = format!("http://127.0.0.1:{port}/mcp");
    (serve_on(gateway, issuer, (port, &mcp), args, level), mcp)
}

/// `serve` on `port`, public at `mcp`, once it listens.
fn serve_on(
    gateway: &FakeGateway,
    issuer: &FakeIssuer,
    (port, mcp): (u16, &str),
    args: &[&str],
    level: &str,
) -> Running {
    let program = env!("CARGO_BIN_EXE_nexus-mcp");
    program_served(program, gateway, issuer, (port, mcp), args, level)
}

/// [`serve_on`] as `program` (this build's, or a baseline's).
fn program_served(
    program: &str,
    gateway: &FakeGateway,
    issuer: &FakeIssuer,
    (port, mcp): (u16, &str),
    args: &[&str],
    level: &str,
) -> Running {
    let env = [("NEXUS_LOG", level)];
    program_served_with(program, gateway, issuer, (port, mcp), args, &env)
}

/// [`program_served`] with the variables `env` (`NEXUS_LOG` `warn` unless
/// it names it).
fn program_served_with(
    program: &str,
    gateway: &FakeGateway,
    issuer: &FakeIssuer,
    (port, mcp): (u16, &str),
    args: &[&str],
    env: &[(&str, &str)],
) -> Running {
    let child = Command::new(program)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--public-url", mcp, "--issuer", &issuer.url()])
        .args(["--introspection-client-id", ASKING.0])
        .args(args)
        .env("NEXUS_MCP_INTROSPECTION_CLIENT_SECRET", ASKING.1)
        .env("NEXUS_GATEWAY_URL", gateway.url())
        .env("NEXUS_MCP_STATE_KEY", KEY)
        .env("NEXUS_LOG", "warn")
        .envs(env.iter().copied())
        .env_remove("NEXUS_WORKSPACE_ID")
        .stderr(Stdio::null())
        .spawn()
        .map(Running)
        .expect("nexus-mcp serve");
    // At `warn` it says nothing when it listens: its health answers then.
    let deadline = Instant::now() + Duration::from_secs(60);
    while ureq::get(format!("http://127.0.0.1:{port}/healthz"))
        .call()
        .is_err()
    {
        assert!(Instant::now() < deadline, "serve never listened");
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

fn agent() -> ureq::Agent {
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build();
    config.into()
}

fn request(http: &ureq::Agent, mcp: &str, token: Option<&str>, body: &Value) -> (u16, String) {
    let request = http
        .post(mcp)
        .header("MCP-Protocol-Version", "2026-07-28")
        .header("Mcp-Method", "tools/call")
        .header("Mcp-Name", "authenticated_fetch");
    sent(request, token, body)
}

/// `request` sent as JSON, a JSON answer or an event stream accepted, with
/// `token` as its bearer: the status and the body answered.
fn sent(
    request: ureq::RequestBuilder<ureq::typestate::WithBody>,
    token: Option<&str>,
    body: &Value,
) -> (u16, String) {
    let mut request = request
        .header("Accept", "application/json, text/event-stream")
        .header("Content-Type", "application/json");
    if let Some(token) = token {
        request = request.header("Authorization", &format!("Bearer {token}"));
    }
    let mut answer = request.send(body.to_string()).expect("an answer");
    let status = answer.status().as_u16();
    (
        status,
        answer.body_mut().read_to_string().unwrap_or_default(),
    )
}

fn fetch_call(url: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
    "name": "authenticated_fetch", "arguments": {"provider": "github", "url": url},
    "_meta": {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "bench", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {},
    }}})
}

/// What a call makes of the server at `mcp` with `token`, for `url`: the
/// answer's body.
type Caller = fn(&ureq::Agent, &str, &str, &str) -> String;

fn call(http: &ureq::Agent, mcp: &str, token: &str, url: &str) -> String {
    request(http, mcp, Some(token), &fetch_call(url)).1
}

/// [`call`] as a 2025-era client makes it, statelessly: MCP 2025-11-25 in
/// the header alone, no `Mcp-Method`, no `_meta` (rmcp's path, as before
/// #120).
fn call_2025(http: &ureq::Agent, mcp: &str, token: &str, url: &str) -> String {
    let request = http.post(mcp).header("MCP-Protocol-Version", "2025-11-25");
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": "authenticated_fetch", "arguments": {"provider": "github", "url": url}}});
    sent(request, Some(token), &body).1
}

/// The status of a call refused before its body is read, on a connection
/// of its own (the server reads a refused request's body before answering
/// and keeps the connection; one of its own keeps the pool out of it).
fn status(mcp: &str, token: Option<&str>) -> u16 {
    request(&agent(), mcp, token, &fetch_call("http://127.0.0.1:9/")).0
}

/// `nexus-mcp` over stdio, on MCP 2025-11-25, for workspace `ws-1`.
struct Stdio2025 {
    child: Running,
    stdin: ChildStdin,
    lines: Receiver<String>,
    id: u64,
}

impl Stdio2025 {
    fn start(gateway: &FakeGateway) -> Stdio2025 {
        Stdio2025::start_with(gateway, &[])
    }

    /// The stdio server with `args`, its handshake made.
    fn start_with(gateway: &FakeGateway, args: &[&str]) -> Stdio2025 {
        Stdio2025::program_with(env!("CARGO_BIN_EXE_nexus-mcp"), gateway, args)
    }

    /// `program`'s stdio server with `args`, its handshake made.
    fn program_with(program: &str, gateway: &FakeGateway, args: &[&str]) -> Stdio2025 {
        let mut child = Command::new(program)
            .args(args)
            .env("NEXUS_GATEWAY_URL", gateway.url())
            .env("NEXUS_WORKSPACE_ID", "ws-1")
            .env("NEXUS_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("nexus-mcp");
        let (sent, lines) = channel();
        let out = BufReader::new(child.stdout.take().unwrap());
        std::thread::spawn(move || {
            for line in out.lines().map_while(Result::ok) {
                let _ = sent.send(line);
            }
        });
        let stdin = child.stdin.take().unwrap();
        let mut session = Stdio2025 {
            child: Running(child),
            stdin,
            lines,
            id: 0,
        };
        session.ask(
            "initialize",
            json!({"protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "bench", "version": "1"}}),
        );
        let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        writeln!(session.stdin, "{note}").unwrap();
        session
    }

    fn ask(&mut self, method: &str, params: Value) -> Value {
        self.id += 1;
        let request = json!({"jsonrpc": "2.0", "id": self.id, "method": method, "params": params});
        // One write, as a host makes it (`Value`'s Display writes each
        // escape alone: a pipe written in pieces is read in pieces).
        self.stdin
            .write_all(format!("{request}\n").as_bytes())
            .unwrap();
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(60))
                .expect("an answer");
            let answer: Value = serde_json::from_str(&line).expect("JSON-RPC");
            if answer["id"] == json!(self.id) {
                return answer;
            }
        }
    }

    fn call(&mut self, url: &str) {
        let answer = self.ask(
            "tools/call",
            json!({"name": "authenticated_fetch",
            "arguments": {"provider": "github", "url": url}}),
        );
        assert_eq!(answer["result"]["isError"], json!(false), "{answer}");
    }

    /// Its resident memory, and of it what is its own (not the program's
    /// pages, which each process running it shares), in KiB.
    fn resident_kib(&self) -> (u64, u64) {
        let pid = self.child.0.id();
        (resident_kib(pid), status_kib(pid, "RssAnon:"))
    }
}
