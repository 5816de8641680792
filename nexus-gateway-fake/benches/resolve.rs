//! A resolve's cost at the fake Gateway, at 1,000 and at 200,000
//! registered (workspace, provider) pairs: the same whatever the number,
//! as at the real Gateway (the workspace's provider matched exactly, never
//! a scan). Run with `cargo bench -p nexus-gateway-fake`.
//!
//! Both fakes answer in the same run, in interleaved rounds, through the
//! SDK over loopback; the figure is the ratio of their medians.

use std::hint::black_box;
use std::time::{Duration, Instant};

use nexus_gateway_fake::{FakeGateway, FakeProvider};
use nexus_sdk::{NexusClient, NexusClientOptions};

const ROUNDS: usize = 7;
const RESOLVES_PER_ROUND: usize = 1_000;

/// A fake holding `pairs` pairs (each workspace one provider), and a client.
fn fake(pairs: usize) -> (FakeGateway, NexusClient) {
    let gateway = FakeGateway::start();
    for i in 0..pairs {
        gateway.add_provider(&format!("ws-{i}"), "github", FakeProvider::oauth2("gho_x"));
    }
    let options = NexusClientOptions::new(gateway.url());
    let client = NexusClient::new(options).expect("a client");
    (gateway, client)
}

/// The time one round of resolves takes, per resolve, over `pairs` pairs.
fn round(client: &NexusClient, pairs: usize, seed: usize) -> Duration {
    let started = Instant::now();
    for i in 0..RESOLVES_PER_ROUND {
        let workspace = format!("ws-{}", (seed + i * 7_919) % pairs);
        black_box(client.resolve_token(&workspace, "github").expect("a token"));
    }
    started.elapsed() / u32::try_from(RESOLVES_PER_ROUND).unwrap_or(1)
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn main() {
    let (small, large) = (1_000, 200_000);
    let registering = Instant::now();
    let (_g1, few) = fake(small);
    let (_g2, many) = fake(large);
    let registering = registering.elapsed();
    let (mut at_small, mut at_large) = (Vec::new(), Vec::new());
    round(&few, small, 0);
    round(&many, large, 0);
    for r in 1..=ROUNDS {
        at_small.push(round(&few, small, r));
        at_large.push(round(&many, large, r));
    }
    let (a, b) = (median(at_small), median(at_large));
    println!(
        "fake Gateway resolve, through the SDK on loopback, median of {ROUNDS} rounds of \
         {RESOLVES_PER_ROUND}:"
    );
    println!(
        "  {small:>7} pairs  {:>8.1} µs per resolve (baseline)",
        a.as_secs_f64() * 1e6
    );
    println!(
        "  {large:>7} pairs  {:>8.1} µs per resolve",
        b.as_secs_f64() * 1e6
    );
    println!(
        "  ratio {:.2}× (the same cost is 1×)",
        b.as_secs_f64() / a.as_secs_f64()
    );
    println!(
        "  registering {} pairs took {registering:.2?}",
        small + large
    );
}
