//! Traces in the serve bench (`-- traced`): a warm `authenticated_fetch`
//! through `serve` with every call traced and sampled (its spans exported
//! to the fake Gateway's OTLP/HTTP receiver, which decodes each) against
//! the same build with tracing off, and, with `NEXUS_MCP_BASELINE` naming
//! another build's program (0.12.0's), tracing off against that build:
//! interleaved in rounds of [`PER_ROUND`](super::PER_ROUND) calls, the
//! ratio of each round's times, and of the CPU the server spent on them
//! (every thread's, to the nanosecond: `/proc/PID/task/*/schedstat`), the
//! median of [`ROUNDS`] rounds. The CPU is the steadier figure on a shared
//! machine: a round's wall time holds the client's and the fakes' too.

use nexus_gateway_fake::{FakeGateway, FakeIssuer, FakeToken};

use super::{Running, agent, call, free_port, program_served_with, timed};

/// The rounds each pair is timed in.
const ROUNDS: usize = 60;

/// The build's `serve` (or `program`'s), traced when `endpoint` is some:
/// the program, and its MCP URL.
fn started(
    program: &str,
    gateway: &FakeGateway,
    issuer: &FakeIssuer,
    endpoint: Option<&str>,
) -> (Running, String) {
    let port = free_port();
    let mcp = format!("http://127.0.0.1:{port}/mcp");
    let env: Vec<(&str, &str)> = match endpoint {
        Some(endpoint) => vec![("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)],
        None => Vec::new(),
    };
    let running = program_served_with(program, gateway, issuer, (port, &mcp), &[], &env);
    (running, mcp)
}

/// The CPU time every thread of the process `pid` has run, in ns.
fn cpu_ns(pid: u32) -> u64 {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("its threads");
    (tasks.flatten())
        .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|stat| stat.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// The median of `ratios`.
fn median(mut ratios: Vec<f64>) -> f64 {
    ratios.sort_by(f64::total_cmp);
    ratios[ratios.len() / 2]
}

/// One round of [`PER_ROUND`](super::PER_ROUND) calls to the server
/// `mcp` (its program `running`) as `token`: the time, and the server's CPU.
fn round(
    http: &ureq::Agent,
    (running, mcp): &(Running, String),
    token: &str,
    url: &str,
) -> (f64, f64) {
    let cpu = cpu_ns(running.0.id());
    let wall = timed(|| drop(call(http, mcp, token, url))).as_secs_f64();
    (wall, (cpu_ns(running.0.id()) - cpu) as f64)
}

/// `a` against `b`, each warmed by a call, in [`ROUNDS`] rounds, the order
/// turned each round (so neither always follows the other): the medians
/// of the rounds' ratios of time and of CPU.
fn against(
    issuer: &FakeIssuer,
    url: &str,
    a: &(Running, String),
    b: &(Running, String),
) -> (f64, f64) {
    let http = agent();
    let token = |mcp: &str| issuer.mint(&FakeToken::new("alice").audience(mcp));
    let (a_token, b_token) = (token(&a.1), token(&b.1));
    for (server, token) in [(a, &a_token), (b, &b_token)] {
        assert!(
            call(&http, &server.1, token, url).contains("HTTP 200"),
            "{} answers",
            server.1
        );
    }
    let rounds: Vec<((f64, f64), (f64, f64))> = (0..ROUNDS)
        .map(|n| {
            if n % 2 == 0 {
                let ours = round(&http, a, &a_token, url);
                (ours, round(&http, b, &b_token, url))
            } else {
                let theirs = round(&http, b, &b_token, url);
                (round(&http, a, &a_token, url), theirs)
            }
        })
        .collect();
    let wall = median(rounds.iter().map(|(a, b)| a.0 / b.0).collect());
    let cpu = median(rounds.iter().map(|(a, b)| a.1 / b.1).collect());
    (wall, cpu)
}

pub(crate) fn traced(gateway: &FakeGateway, issuer: &FakeIssuer, url: &str) {
    let this = env!("CARGO_BIN_EXE_nexus-mcp");
    let off = started(this, gateway, issuer, None);
    // Tracing off against the baseline first, with nothing traced running.
    if let Ok(baseline) = std::env::var("NEXUS_MCP_BASELINE") {
        let theirs = started(&baseline, gateway, issuer, None);
        let (wall, cpu) = against(issuer, url, &off, &theirs);
        println!(
            "a warm call with tracing off against {baseline}: {wall:.3}x the time, {cpu:.3}x \
             the server's CPU, medians of {ROUNDS} rounds, the order turned each (goal <= 1.01x)"
        );
    }
    let sampled = started(this, gateway, issuer, Some(&gateway.url()));
    let (wall, cpu) = against(issuer, url, &sampled, &off);
    // The traced server's calls did reach the receiver.
    let traced = (gateway.spans().iter()).any(|s| s["name"] == "tools/call authenticated_fetch");
    assert!(traced, "no call's span was received");
    println!(
        "a warm call with every call traced and sampled against tracing off: {wall:.3}x the \
         time, {cpu:.3}x the server's CPU, medians of {ROUNDS} rounds, the order turned each \
         (goal <= 1.05x)"
    );
}
