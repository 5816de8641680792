//! Traces in the serve bench (`-- traced`): a warm `authenticated_fetch`
//! through `serve` with every call traced and sampled (its spans exported
//! to the fake Gateway's OTLP/HTTP receiver, which decodes each) against
//! the same build with tracing off, and, with `NEXUS_MCP_BASELINE` naming
//! another build's program (0.12.0's), tracing off against that build:
//! interleaved in rounds of [`PER_ROUND`](super::PER_ROUND) calls, the
//! ratio of each round's times, the median of [`ROUNDS`] rounds.

use nexus_gateway_fake::{FakeGateway, FakeIssuer, FakeToken};

use super::{Running, agent, call, free_port, program_served_with, timed};

/// The rounds each pair is timed in.
const ROUNDS: usize = 20;

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

/// The median of `ratios`.
fn median(mut ratios: Vec<f64>) -> f64 {
    ratios.sort_by(f64::total_cmp);
    ratios[ratios.len() / 2]
}

pub(crate) fn traced(gateway: &FakeGateway, issuer: &FakeIssuer, url: &str) {
    let this = env!("CARGO_BIN_EXE_nexus-mcp");
    let baseline = std::env::var("NEXUS_MCP_BASELINE").ok();
    let mut servers = vec![
        started(this, gateway, issuer, None),
        started(this, gateway, issuer, Some(&gateway.url())),
    ];
    if let Some(baseline) = &baseline {
        servers.push(started(baseline, gateway, issuer, None));
    }
    let http = agent();
    let tokens: Vec<String> = (servers.iter())
        .map(|(_, mcp)| issuer.mint(&FakeToken::new("alice").audience(mcp)))
        .collect();
    for ((_, mcp), token) in servers.iter().zip(&tokens) {
        assert!(
            call(&http, mcp, token, url).contains("HTTP 200"),
            "{mcp} answers"
        );
    }
    let spans_before = gateway.spans().len();
    let (mut sampled, mut against) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let times: Vec<f64> = (servers.iter().zip(&tokens))
            .map(|((_, mcp), token)| timed(|| drop(call(&http, mcp, token, url))).as_secs_f64())
            .collect();
        sampled.push(times[1] / times[0]);
        if let Some(theirs) = times.get(2) {
            against.push(times[0] / theirs);
        }
    }
    let exported = gateway.spans().len() - spans_before;
    println!(
        "a warm call with every call traced and sampled: {:.3}x one with tracing off, the \
         median of {ROUNDS} interleaved rounds (goal <= 1.05x); {exported} spans received so far",
        median(sampled)
    );
    if let Some(baseline) = baseline {
        println!(
            "a warm call with tracing off: {:.3}x {baseline}'s, the median of {ROUNDS} \
             interleaved rounds (goal <= 1.01x)",
            median(against)
        );
    }
}
