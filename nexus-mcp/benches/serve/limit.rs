//! What the shared limit costs (`-- limit`, #111, 3): a warm call through
//! `serve --person-rate --store` (the person's calls counted in a real
//! Redis, one script a call) against the same call through `serve
//! --person-rate` counted by the replica alone, the two servers turn by
//! turn over [`ROUNDS`] rounds of [`CALLS`] calls each timed alone: the
//! medians, and what the store adds to a call at the median.

use std::time::Instant;

use nexus_gateway_fake::{FakeGateway, FakeIssuer, FakeToken};

use super::redis::Redis;
use super::{agent, call, serve_with};

/// The rounds, and the calls of each (each timed alone).
const ROUNDS: usize = 7;
const CALLS: usize = 200;

/// The figures, printed.
pub fn limit(gateway: &FakeGateway, issuer: &FakeIssuer, url: &str) {
    let redis = Redis::start();
    let store = redis.url();
    // A limit no round reaches: every call is counted, none refused.
    let rate = ["--person-rate", "1000000"];
    let shared = [&rate[..], &["--store", store.as_str()]].concat();
    let servers = [
        serve_with(gateway, issuer, &shared, "warn"),
        serve_with(gateway, issuer, &rate, "warn"),
    ];
    let http = agent();
    let tokens = servers
        .each_ref()
        .map(|(_, mcp)| issuer.mint(&FakeToken::new("alice").audience(mcp)));
    for ((_, mcp), token) in servers.iter().zip(&tokens) {
        assert!(
            call(&http, mcp, token, url).contains("HTTP 200"),
            "serve answers"
        );
    }
    let mut took: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    for _ in 0..ROUNDS {
        for (n, ((_, mcp), token)) in servers.iter().zip(&tokens).enumerate() {
            for _ in 0..CALLS {
                let started = Instant::now();
                let answer = call(&http, mcp, token, url);
                took[n].push(started.elapsed().as_secs_f64() * 1e6);
                assert!(answer.contains("HTTP 200"), "{answer:.300}");
            }
        }
    }
    let [stored, alone] = took.map(|mut took| {
        took.sort_by(f64::total_cmp);
        took[took.len() / 2]
    });
    println!(
        "--person-rate with --store: a warm call's median {stored:.0} µs against {alone:.0} µs \
         counted by the replica alone: +{:.2} ms (goal <= 0.3 ms), {} calls each",
        (stored - alone) / 1e3,
        ROUNDS * CALLS
    );
}
