//! `--policy` in the serve bench: the decision itself, made in this
//! process by the server's own code (`src/policy.rs`) with 1, 100 and 1,000
//! policies, a new question each time and one asked again; a warm call
//! through `serve` without a policy file (twice: two processes, the floor)
//! and with each file, interleaved in rounds, to the same path each time
//! and to a new path each time; and the program's size with the policy
//! code in it.

use std::time::{Duration, Instant};

use nexus_gateway_fake::{FakeGateway, FakeIssuer, FakeReply, FakeToken, FakeUpstream};

use super::decisions::{Attributes, Policies, Who};
use super::served::free_port;
use super::{PER_ROUND, ROUNDS, Stdio2025, agent, call, micros, serve_on, timed_once};

/// A file of `count` policies: one permit, and `count - 1` forbids of an
/// `/admin/` path, one in ten for the provider the bench calls (`github`:
/// read for each call, deciding nothing) and the rest for other providers.
fn policies(count: usize) -> String {
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
    text
}

/// The median and the 99th percentile of `times`, in µs.
fn p50_p99(mut times: Vec<Duration>) -> (f64, f64) {
    times.sort();
    (
        micros(times[times.len() / 2]),
        micros(times[times.len() * 99 / 100]),
    )
}

/// The figures, printed.
pub fn policy(gateway: &FakeGateway, issuer: &FakeIssuer, api: &FakeUpstream, url: &str) {
    decisions();
    redirect_decisions(gateway, issuer, api, url);
    warm_calls(gateway, issuer, url);
    let size = std::fs::metadata(env!("CARGO_BIN_EXE_nexus-mcp")).map_or(0, |m| m.len());
    // The stdio server's resident memory after 500 calls, each to a new
    // path (each decision remembered), without a file and with 100 and
    // 1,000 policies.
    let dir = tempfile::tempdir().expect("a directory");
    let resident: Vec<String> = [0, 100, 1000]
        .iter()
        .map(|count| {
            let file = dir.path().join(format!("p{count}.cedar"));
            std::fs::write(&file, policies(*count)).expect("the policy file");
            let file = file.to_str().expect("a path");
            let args = if *count == 0 {
                vec![]
            } else {
                vec!["--policy", file]
            };
            let mut stdio = Stdio2025::start_with(gateway, &args);
            (0..500).for_each(|n| stdio.call(&format!("{url}/{n}")));
            let (resident, own) = stdio.resident_kib();
            let mib = |kib: u64| kib as f64 / 1024.0;
            format!(
                "{count}: {:.1} MiB ({:.1} MiB its own)",
                mib(resident),
                mib(own)
            )
        })
        .collect();
    println!(
        "the program with the policy code in it: {:.1} MiB; the stdio server's resident memory \
         after 500 calls (its own: not the program's pages, which every process running it \
         shares), by the policies in its file: {}",
        size as f64 / f64::from(1 << 20),
        resident.join(", ")
    );
}

/// The decisions a call costs under 100 policies, counted by the server's
/// own `nexus_mcp_policy_decisions_total`: one to `url`, and one to a path
/// whose answer redirects to `url` (the SDK follows it with the
/// credential, so the hop is decided too).
fn redirect_decisions(gateway: &FakeGateway, issuer: &FakeIssuer, api: &FakeUpstream, url: &str) {
    let dir = tempfile::tempdir().expect("a directory");
    let file = dir.path().join("p100.cedar");
    std::fs::write(&file, policies(100)).expect("the policy file");
    let (port, metrics) = (free_port(), free_port());
    let mcp = format!("http://127.0.0.1:{port}/mcp");
    let listen = format!("127.0.0.1:{metrics}");
    let args = [
        "--policy",
        file.to_str().expect("a path"),
        "--metrics-listen",
        &listen,
    ];
    let _running = serve_on(gateway, issuer, (port, &mcp), &args, "warn");
    let token = issuer.mint(&FakeToken::new("alice").audience(&mcp));
    let path = url
        .rsplit_once("127.0.0.1:")
        .and_then(|(_, p)| p.find('/').map(|at| p[at..].to_owned()));
    api.set_reply(
        "/moved",
        FakeReply::new(302).header("Location", &path.expect("a path")),
    );
    let decided = || {
        let scrape = format!("http://127.0.0.1:{metrics}/metrics");
        let text = ureq::get(scrape)
            .call()
            .expect("a scrape")
            .body_mut()
            .read_to_string();
        (text.unwrap_or_default().lines())
            .filter(|l| l.starts_with("nexus_mcp_policy_decisions_total"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>()
    };
    let http = agent();
    let moved = format!("{}/moved", api.url());
    let mut counted = Vec::new();
    for asked in [url, moved.as_str()] {
        let before = decided();
        assert!(
            call(&http, &mcp, &token, asked).contains("HTTP 200"),
            "served"
        );
        counted.push(decided() - before);
    }
    println!(
        "decisions a call costs under 100 policies: {} following no redirect, {} following one \
         (goal: at most one more)",
        counted[0], counted[1]
    );
}

/// The decision alone: 2,000 calls decided, each to a new path (Cedar asked
/// each time), then one path asked again (remembered).
fn decisions() {
    let mut said = Vec::new();
    for count in [1, 100, 1000] {
        let policies = Policies::parse(&policies(count)).expect("the bench's policies hold");
        let decide = |path: &str| {
            let url = format!("https://api.github.com{path}");
            let started = Instant::now();
            let none = Attributes::default();
            let alice = Who {
                person: "alice",
                itself: false,
                attributes: &none,
                client: "bench",
                agent: None,
            };
            let sending = super::decisions::Sending {
                url: &url,
                headers: &[],
                body: None,
                graphql: &[],
            };
            let made =
                policies.decide_request(&alice, ("github", &["GET".to_owned()], ""), &sending);
            assert!(
                made.is_ok_and(|made| made.decision == super::decisions::Decision::Permit),
                "the bench's calls are permitted"
            );
            started.elapsed()
        };
        let new: Vec<Duration> = (0..2000)
            .map(|n| decide(&format!("/repos/a/{n}")))
            .collect();
        let again: Vec<Duration> = (0..2000).map(|_| decide("/repos/a/0")).collect();
        let ((new50, new99), (again50, _)) = (p50_p99(new), p50_p99(again));
        said.push(format!(
            "{count}: p50 {new50:.1} µs, p99 {new99:.1} µs (asked again: p50 {again50:.1} µs)"
        ));
    }
    println!(
        "--policy, a call's decision (one policy in ten for the provider called; a new question \
         each time): {}",
        said.join("; ")
    );
}

/// A warm call through `serve` without a file (two servers: how far two
/// processes differ is the floor) and with 1, 100 and 1,000 policies,
/// interleaved in rounds: to the same path each time (its decision
/// remembered), then to a new path each time (decided anew).
fn warm_calls(gateway: &FakeGateway, issuer: &FakeIssuer, url: &str) {
    let dir = tempfile::tempdir().expect("a directory");
    let counts = [0, 0, 1, 100, 1000];
    let servers: Vec<_> = counts
        .iter()
        .map(|count| {
            let (port, file) = (free_port(), dir.path().join(format!("p{count}.cedar")));
            std::fs::write(&file, policies(*count)).expect("the policy file");
            let mcp = format!("http://127.0.0.1:{port}/mcp");
            let file = file.to_str().expect("a path");
            let args = if *count == 0 {
                vec![]
            } else {
                vec!["--policy", file]
            };
            let running = serve_on(gateway, issuer, (port, &mcp), &args, "warn");
            let token = issuer.mint(&FakeToken::new("alice").audience(&mcp));
            (running, mcp, token)
        })
        .collect();
    let http = agent();
    for (_, mcp, token) in &servers {
        assert!(call(&http, mcp, token, url).contains("HTTP 200"), "served");
    }
    for (what, new_path) in [
        ("the same path each time", false),
        ("a new path each time", true),
    ] {
        let mut took: Vec<Vec<Duration>> = vec![Vec::new(); counts.len()];
        // Turn by turn, call by call: what else the machine does falls on
        // every server alike.
        for round in 0..ROUNDS {
            for n in 0..PER_ROUND {
                let url = match new_path {
                    true => format!("{url}/{round}/{n}"),
                    false => url.to_owned(),
                };
                for (i, (_, mcp, token)) in servers.iter().enumerate() {
                    took[i].push(timed_once(|| drop(call(&http, mcp, token, &url))));
                }
            }
        }
        let figures: Vec<(f64, f64)> = took.into_iter().map(p50_p99).collect();
        let base = (figures[0].0 + figures[1].0) / 2.0;
        let said: Vec<String> = (counts.iter().zip(&figures).skip(2))
            .map(|(count, (p50, p99))| {
                format!(
                    "{count}: p50 {p50:.0} µs ({:.3}x), p99 {p99:.0} µs",
                    p50 / base
                )
            })
            .collect();
        println!(
            "--policy, a warm call to {what}: without a file p50 {:.0} µs, and {:.0} µs in a \
             second server ({:.3}x: the floor), p99 {:.0} µs; with a file {}; 100 policies \
             {:.3}x (goal <= 1.03x)",
            figures[0].0,
            figures[1].0,
            figures[1].0 / figures[0].0,
            figures[0].1,
            said.join("; "),
            figures[3].0 / base
        );
    }
}
