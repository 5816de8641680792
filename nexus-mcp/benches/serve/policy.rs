//! `--policy` in the serve bench: a warm call through `serve` without a
//! policy file and with 1, 100 and 1,000 policies, interleaved in rounds
//! (the decision's cost is the difference), and the program's size with
//! the policy code in it.

use std::time::Duration;

use nexus_gateway_fake::{FakeGateway, FakeIssuer, FakeToken};

use super::served::free_port;
use super::{PER_ROUND, ROUNDS, agent, call, micros, serve_on, timed_once};

/// A file of `count` policies: one permit, and `count - 1` forbids of an
/// `/admin/` path, one in ten for the provider the bench calls (`github`:
/// read for each call, deciding nothing) and the rest for other providers.
fn policies(dir: &std::path::Path, count: usize) -> String {
    let path = dir.join(format!("p{count}.cedar"));
    let mut text = String::from("permit (principal, action, resource);\n");
    for n in 1..count {
        let provider = if n % 10 == 0 {
            "github".to_owned()
        } else {
            format!("p{n}")
        };
        text += &format!(
            "@id(\"off {n}\")\nforbid (principal, action == Action::\"call\", resource == Provider::\"{provider}\")\n  when {{ context.path like \"/admin/*\" }};\n"
        );
    }
    std::fs::write(&path, text).expect("the policy file");
    path.to_str().expect("a path").to_owned()
}

/// The figures, printed.
pub fn policy(gateway: &FakeGateway, issuer: &FakeIssuer, url: &str) {
    let dir = tempfile::tempdir().expect("a directory");
    let counts = [0, 1, 100, 1000];
    let servers: Vec<_> = counts
        .iter()
        .map(|count| {
            let port = free_port();
            let mcp = format!("http://127.0.0.1:{port}/mcp");
            let file = policies(dir.path(), *count);
            let args: Vec<&str> = if *count == 0 {
                vec![]
            } else {
                vec!["--policy", &file]
            };
            let running = serve_on(gateway, issuer, (port, &mcp), &args, "warn");
            let token = issuer.mint(&FakeToken::new("alice").audience(&mcp));
            (running, mcp, token)
        })
        .collect();
    let http = agent();
    let mut took: Vec<Vec<Duration>> = vec![Vec::new(); counts.len()];
    for (_, mcp, token) in &servers {
        assert!(call(&http, mcp, token, url).contains("HTTP 200"), "served");
    }
    for _ in 0..ROUNDS {
        for (i, (_, mcp, token)) in servers.iter().enumerate() {
            for _ in 0..PER_ROUND {
                took[i].push(timed_once(|| drop(call(&http, mcp, token, url))));
            }
        }
    }
    let figures: Vec<(f64, f64)> = (took.iter_mut())
        .map(|times| {
            times.sort();
            (
                micros(times[times.len() / 2]),
                micros(times[times.len() * 99 / 100]),
            )
        })
        .collect();
    let (base, _) = figures[0];
    let said: Vec<String> = (counts.iter().zip(&figures).skip(1))
        .map(|(count, (p50, p99))| {
            format!(
                "{count}: p50 {p50:.0} µs (+{:.0}), p99 {p99:.0} µs",
                p50 - base
            )
        })
        .collect();
    println!(
        "--policy, a warm call without a file p50 {base:.0} µs (p99 {:.0} µs); with (one in ten for the provider called) {}; 100 policies {:.2}x (goal <= 1.03x)",
        figures[0].1,
        said.join("; "),
        figures[2].0 / base
    );
    let size = std::fs::metadata(env!("CARGO_BIN_EXE_nexus-mcp")).map_or(0, |m| m.len());
    println!(
        "the program with the policy code in it: {:.1} MiB",
        size as f64 / f64::from(1 << 20)
    );
}
