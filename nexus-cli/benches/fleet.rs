//! A fleet on one workspace at the Gateway's default rate limit (a burst of
//! 60 resolves, then one a second): `n` `nexus token` processes started at
//! once against the fake Gateway's limiter, each resolving one token. Printed
//! per fleet: how many succeeded, the resolves sent (refused ones included)
//! per process, and the time until the last finished beside the limiter's
//! own floor (the time the last slot a fleet needs opens: `n - 60` s),
//! measured in the same run. Run with `cargo bench -p nexus-cli --bench fleet`;
//! `docs/fleet.md` gives the figures.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nexus_gateway_fake::{FakeGateway, FakeProvider, RateLimits, Route};

/// One fleet: (processes that succeeded, resolves sent, time until the last ended).
fn fleet(n: usize) -> (usize, usize, Duration) {
    let gateway = FakeGateway::start();
    gateway.add_provider("ws", "github", FakeProvider::oauth2("gho_fleet"));
    gateway.set_rate_limits(RateLimits {
        enabled: true,
        ..RateLimits::default()
    });
    let started = Instant::now();
    let children: Vec<_> = (0..n)
        .map(|_| {
            Command::new(env!("CARGO_BIN_EXE_nexus"))
                .args(["token", "ws", "github"])
                .env("NEXUS_GATEWAY_URL", gateway.url())
                .env_remove("NEXUS_TIMEOUT")
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("nexus starts")
        })
        .collect();
    let succeeded = children
        .into_iter()
        .filter_map(|child| child.wait_with_output().ok())
        .filter(|output| output.status.success())
        .count();
    (
        succeeded,
        gateway.requests(Route::Resolve),
        started.elapsed(),
    )
}

fn main() {
    println!("| fleet | succeeded | resolves per process | took | the limiter's floor | ratio |");
    println!("|---|---|---|---|---|---|");
    for n in [80, 120] {
        let (succeeded, resolves, took) = fleet(n);
        // The last slot the fleet can use opens at (n - 60) s, or at the 35 s
        // timeout for a fleet larger than 95: the limiter's own floor.
        let floor = Duration::from_secs((n.saturating_sub(60) as u64).min(35));
        let ratio = took.as_secs_f64() / floor.as_secs_f64();
        println!(
            "| {n} | {succeeded} | {:.2} | {:.1} s | {:.0} s | {ratio:.2}x |",
            resolves as f64 / n as f64,
            took.as_secs_f64(),
            floor.as_secs_f64(),
        );
    }
}
