//! Out means out, measured (#110; `cargo bench -p nexus-mcp --bench serve
//! -- signals`): three replicas behind one public URL sharing a real
//! Redis; 50 people each switched off by the provider (a Global Token
//! Revocation the fake issuer signs and sends to replica one), each timed
//! until replica three refuses their token (p50 and p99: the goal is 2 s),
//! and replica one's CPU per signal (the scheduler's count); then the
//! revocation list at 200,000 entries made ten minutes ago: a replica's
//! resident memory against the same replica with an empty list, and its
//! CPU a second while idle, read from `/proc`.

use std::time::{Duration, Instant};

use nexus_gateway_fake::{FakeGateway, FakeIssuer};
use serde_json::json;

use super::redis::Redis;
use super::served::free_port;
use super::{agent, resident_kib, serve_on};

/// How many people are switched off.
const SIGNALS: usize = 50;
/// How many entries the list holds for the idle figures.
const ENTRIES: usize = 200_000;
/// How long the idle CPU is measured over: a whole read of the list (every
/// minute) and the reads of what was added between.
const IDLE: Duration = Duration::from_secs(65);

pub fn signals(gateway: &FakeGateway, issuer: &FakeIssuer) {
    let redis = Redis::start();
    let store = redis.url();
    let port = free_port();
    let origin = format!("http://127.0.0.1:{port}");
    let mcp = format!("{origin}/mcp");
    issuer.add_client("bench-login", &format!("{origin}/connect/callback"));
    let args = [
        "--oauth-proxy",
        "--login-client-id",
        "bench-login",
        "--store",
        &store,
    ];
    let one = serve_on(gateway, issuer, (port, &mcp), &args, "warn");
    let three_port = free_port();
    let _two = serve_on(gateway, issuer, (free_port(), &mcp), &args, "warn");
    let three = serve_on(gateway, issuer, (three_port, &mcp), &args, "warn");
    let client = super::front::client_add(&origin, &["--name", "Bench"]);
    let client = (
        client["client_id"].as_str().unwrap().to_owned(),
        client["client_secret"].as_str().unwrap().to_owned(),
    );
    let people: Vec<(String, String)> = (0..SIGNALS)
        .map(|n| {
            let person = format!("person-{n}");
            let (_, token) =
                super::id_jag::granted_to(&person, issuer, &origin, &client, 10_000 + n);
            (person, token)
        })
        .collect();
    // Replica three, asked for the public URL's host as nginx passes it.
    let at_three = format!("http://127.0.0.1:{three_port}/mcp");
    let host = origin.trim_start_matches("http://").to_owned();
    let status = |url: &str, token: Option<&String>| beside(url, &host, token.unwrap());
    let endpoint = format!("{origin}/global-token-revocation");
    let mut out = Vec::new();
    for (person, token) in &people {
        assert_eq!(status(&at_three, Some(token)), 200, "a token each");
        let sub_id = json!({"format": "iss_sub", "iss": issuer.url(), "sub": person});
        let sent = Instant::now();
        let (answered, body) = issuer.global_logout(&endpoint, sub_id);
        assert_eq!(answered, 204, "{body}");
        while status(&at_three, Some(token)) != 401 {
            std::thread::sleep(Duration::from_millis(10));
        }
        out.push(sent.elapsed());
    }
    // Replica one's CPU for a signal: the same people switched off again
    // back to back, less what it spends idle over as long.
    let idle_ns = {
        let before = cpu_ns(one.0.id());
        std::thread::sleep(Duration::from_secs(5));
        (cpu_ns(one.0.id()) - before) as f64 / 5.0
    };
    let (before, began) = (cpu_ns(one.0.id()), Instant::now());
    for (person, _) in &people {
        let sub_id = json!({"format": "iss_sub", "iss": issuer.url(), "sub": person});
        assert_eq!(issuer.global_logout(&endpoint, sub_id).0, 204);
    }
    let spent = (cpu_ns(one.0.id()) - before) as f64 - idle_ns * began.elapsed().as_secs_f64();
    let cpu = spent / 1e6 / SIGNALS as f64;
    out.sort();
    let at = |q: f64| out[((out.len() as f64 * q) as usize).min(out.len() - 1)].as_secs_f64();
    println!(
        "a person out on every replica after the provider's signal, over {SIGNALS} signals and \
         three replicas: p50 {:.2} s, p99 {:.2} s (goal p99 <= 2 s); replica one's CPU {cpu:.2} ms \
         a signal, {SIGNALS} back to back less its idle rate (goal below 1 ms at the median)",
        at(0.5),
        at(0.99)
    );
    drop((one, three));
    idle(gateway, issuer, &redis);
}

/// A replica's memory and idle CPU with the list at [`ENTRIES`] against one
/// with an empty list.
fn idle(gateway: &FakeGateway, issuer: &FakeIssuer, redis: &Redis) {
    let empty = Redis::start();
    let started = |store: &str| {
        let port = free_port();
        let mcp = format!("http://127.0.0.1:{port}/mcp");
        issuer.add_client(
            "bench-login",
            &format!("http://127.0.0.1:{port}/connect/callback"),
        );
        let args = [
            "--oauth-proxy",
            "--login-client-id",
            "bench-login",
            "--store",
            store,
        ];
        serve_on(gateway, issuer, (port, &mcp), &args, "warn")
    };
    // Made over the last hours, as a list is: ten minutes ago, each.
    let age = Duration::from_secs(600);
    super::id_jag::revoked_many_aged(redis, (ENTRIES, age), "0123456789ab");
    let (held, clean) = (started(&redis.url()), started(&empty.url()));
    // Two reads of the list (every 2 s) before measuring.
    std::thread::sleep(Duration::from_secs(5));
    let (held_before, clean_before) = (cpu_ns(held.0.id()), cpu_ns(clean.0.id()));
    std::thread::sleep(IDLE);
    let per_second =
        |before: u64, pid: u32| (cpu_ns(pid) - before) as f64 / 1e9 / IDLE.as_secs_f64();
    let held_cpu = per_second(held_before, held.0.id());
    let clean_cpu = per_second(clean_before, clean.0.id());
    let (held_kib, clean_kib) = (resident_kib(held.0.id()), resident_kib(clean.0.id()));
    println!(
        "the revocation list at {ENTRIES} entries made ten minutes ago: a replica's resident memory {:.1} MiB against \
         {:.1} MiB with none (+{:.1} MiB); its CPU idle {:.2} ms a second against \
         {:.2} (this build's profile)",
        held_kib as f64 / 1024.0,
        clean_kib as f64 / 1024.0,
        (held_kib as f64 - clean_kib as f64) / 1024.0,
        held_cpu * 1e3,
        clean_cpu * 1e3
    );
}

/// The status of a `list_providers` call with `token` at `url`, asked
/// with `Host` `host`.
fn beside(url: &str, host: &str, token: &str) -> u16 {
    let body = super::served::call("list_providers", json!({}), "2026-07-28");
    let answer = agent()
        .post(url)
        .header("Host", host)
        .header("Authorization", format!("Bearer {token}"))
        .header("Accept", "application/json, text/event-stream")
        .header("Content-Type", "application/json")
        .header("MCP-Protocol-Version", "2026-07-28")
        .header("Mcp-Method", "tools/call")
        .header("Mcp-Name", "list_providers")
        .send(body.to_string());
    answer.map_or(0, |answer| answer.status().as_u16())
}

/// The CPU time process `pid` has spent on every thread, in ns (each
/// thread's `/proc/PID/task/TID/schedstat`, its first field: the
/// scheduler's own count; a thread ended since is not counted).
fn cpu_ns(pid: u32) -> u64 {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten();
    let spent = tasks.flatten().map(|task| {
        let stat = std::fs::read_to_string(task.path().join("schedstat")).unwrap_or_default();
        stat.split_whitespace()
            .next()
            .and_then(|ns| ns.parse::<u64>().ok())
            .unwrap_or(0)
    });
    spent.sum()
}
