//! Traces in the serve bench (`-- traced`): a warm `authenticated_fetch`
//! through `serve` with every call traced and sampled (its spans exported
//! over OTLP/HTTP to a collector that takes them unread) against
//! the same build with tracing off, and, with `NEXUS_MCP_BASELINE` naming
//! another build's program (0.12.0's), tracing off and every call sampled
//! against that build:
//! interleaved in rounds of [`PER_ROUND`](super::PER_ROUND) calls, the
//! ratio of each round's times, and of the CPU the server spent on them
//! (every thread's, to the nanosecond: `/proc/PID/task/*/schedstat`), the
//! median of [`ROUNDS`] rounds. The CPU is the steadier figure on a shared
//! machine: a round's wall time holds the client's and the fakes' too.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use nexus_gateway_fake::{FakeGateway, FakeIssuer, FakeToken};

use super::{Running, agent, call, free_port, program_served_with, timed};

/// The rounds each pair is timed in.
const ROUNDS: usize = 60;

/// The build's `serve` (or `program`'s), traced when `endpoint` is some:
/// the program, and its MCP URL.
pub(crate) fn started(
    program: &str,
    gateway: &FakeGateway,
    issuer: &FakeIssuer,
    endpoint: Option<&str>,
) -> (Running, String) {
    let port = free_port();
    let mcp = format!("http://127.0.0.1:{port}/mcp");
    let env: Vec<(&str, &str)> = match endpoint {
        // A batch a second (5 s by default), so that the rounds see exports.
        Some(endpoint) => vec![
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
            ("OTEL_BSP_SCHEDULE_DELAY", "1000"),
        ],
        None => Vec::new(),
    };
    let running = program_served_with(program, gateway, issuer, (port, &mcp), &[], &env);
    (running, mcp)
}

/// The CPU time every thread of the process `pid` has run, in ns.
pub(crate) fn cpu_ns(pid: u32) -> u64 {
    scheduled(pid).0
}

/// What the scheduler counted for every thread of the process `pid`
/// (`/proc/PID/task/TID/schedstat`; a thread ended since is not counted):
/// the CPU time run, in ns, and the times a thread was put on a CPU (a
/// wake-up each, or a slice after one).
pub(crate) fn scheduled(pid: u32) -> (u64, u64) {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten();
    (tasks.flatten())
        .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|stat| {
            let mut fields = stat.split_whitespace().map(str::parse::<u64>);
            Some((fields.next()?.ok()?, fields.nth(1)?.ok()?))
        })
        .fold((0, 0), |(ns, slices), (n, s)| (ns + n, slices + s))
}

/// A collector that takes every export and reads none (its decoding is not
/// the server's cost, and the fake's, in this process, would share the
/// machine with the server timed): its URL, and how many exports it took.
pub(crate) fn sink() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a port");
    let url = format!("http://{}", listener.local_addr().expect("its address"));
    let taken = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&taken);
    std::thread::spawn(move || {
        for stream in listener.incoming().map_while(Result::ok) {
            let counted = Arc::clone(&counted);
            std::thread::spawn(move || exports(stream, &counted));
        }
    });
    (url, taken)
}

/// Each export on one kept-alive connection: its head to the blank line,
/// its body by `Content-Length`, answered 200 with nothing.
fn exports(stream: TcpStream, taken: &AtomicUsize) {
    let mut reader = BufReader::new(stream.try_clone().expect("the stream"));
    let mut writer = stream;
    loop {
        let mut length = 0;
        let mut line = String::new();
        while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
            let lower = line.to_ascii_lowercase();
            if let Some(value) = lower.strip_prefix("content-length:") {
                length = value.trim().parse().unwrap_or(0);
            }
            line.clear();
        }
        if line != "\r\n" {
            return;
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        taken.fetch_add(1, Ordering::Relaxed);
        let answer =
            "HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n";
        if writer.write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
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
    let baseline = std::env::var("NEXUS_MCP_BASELINE").ok();
    let theirs = baseline
        .as_deref()
        .map(|b| started(b, gateway, issuer, None));
    if let (Some(baseline), Some(theirs)) = (&baseline, &theirs) {
        let (wall, cpu) = against(issuer, url, &off, theirs);
        println!(
            "a warm call with tracing off against {baseline}: {wall:.3}x the time, {cpu:.3}x \
             the server's CPU, medians of {ROUNDS} rounds, the order turned each (goal <= 1.01x)"
        );
    }
    let (collector, taken) = sink();
    let sampled = started(this, gateway, issuer, Some(&collector));
    let (wall, cpu) = against(issuer, url, &sampled, &off);
    // Its spans left, as the rounds ran.
    assert!(taken.load(Ordering::Relaxed) > 0, "no export was received");
    println!(
        "a warm call with every call traced and sampled against tracing off: {wall:.3}x the \
         time, {cpu:.3}x the server's CPU, medians of {ROUNDS} rounds, the order turned each \
         (tracing's own cost)"
    );
    if let (Some(baseline), Some(theirs)) = (&baseline, &theirs) {
        let (wall, cpu) = against(issuer, url, &sampled, theirs);
        println!(
            "a warm call with every call traced and sampled against {baseline}: {wall:.3}x the \
             time, {cpu:.3}x the server's CPU, medians of {ROUNDS} rounds (goal <= 1.05x)"
        );
    }
}
