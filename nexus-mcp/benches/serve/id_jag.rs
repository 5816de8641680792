//! The ID-JAG grant and revocation in the serve bench (#100): a grant's
//! time against a browser sign-in's steps on the same server; a token
//! exchange (RFC 8693, #127) against a grant; a device approval (RFC 8628)
//! end to end against a browser sign-in; what the
//! replay record in Redis adds to a grant against one kept in memory; and
//! a warm call through a replica whose revocation list holds 1,000
//! entries against one whose list is empty, interleaved in rounds.

use std::io::{Read, Write};
use std::time::Duration;

use nexus_gateway_fake::{FakeGateway, FakeIssuer, FakeToken};
use serde_json::{Value, json};

use super::redis::Redis;
use super::served::free_port;
use super::{PER_ROUND, ROUNDS, agent, call, micros, serve_on, timed};

/// How many grants each median is taken over.
const GRANTS: usize = 200;
/// How many sign-ins the browser's steps are timed over.
const SIGN_INS: usize = 100;
/// How many entries the revoked replica's list holds.
const REVOKED: usize = 1_000;

/// A replica of `serve --oauth-proxy` with `args`, and a confidential
/// client `serve client add` made for it: its origin, the client's id and
/// secret, and what keeps it running.
fn replica(
    gateway: &FakeGateway,
    issuer: &FakeIssuer,
    args: &[&str],
) -> (super::Running, String, (String, String)) {
    let port = free_port();
    let origin = format!("http://127.0.0.1:{port}");
    let mcp = format!("{origin}/mcp");
    issuer.add_client("bench-login", &format!("{origin}/connect/callback"));
    let all = [
        &["--oauth-proxy", "--login-client-id", "bench-login"][..],
        args,
    ]
    .concat();
    let running = serve_on(gateway, issuer, (port, &mcp), &all, "warn");
    let client = super::front::client_add(&origin, &["--name", "Bench"]);
    let secret = client["client_secret"].as_str().unwrap().to_owned();
    (
        running,
        origin,
        (client["client_id"].as_str().unwrap().to_owned(), secret),
    )
}

/// An access token for Alice at `origin` from an ID-JAG `issuer` mints for
/// `client`, its `jti` `n`: how long the grant took, and the token.
fn granted(
    issuer: &FakeIssuer,
    origin: &str,
    client: &(String, String),
    n: usize,
) -> (Duration, String) {
    granted_to("alice", issuer, origin, client, n)
}

/// [`granted`] for `person`.
pub(super) fn granted_to(
    person: &str,
    issuer: &FakeIssuer,
    origin: &str,
    client: &(String, String),
    n: usize,
) -> (Duration, String) {
    let id_jag = FakeToken::new(person)
        .typ("oauth-id-jag+jwt")
        .audience(origin)
        .expires_in(300)
        .claim("resource", json!(format!("{origin}/mcp")))
        .claim("client_id", json!(client.0))
        .claim("jti", json!(format!("bench-{origin}-{n}")));
    let assertion = issuer.mint(&id_jag);
    let form = [
        ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
        ("assertion", assertion.as_str()),
        ("client_id", client.0.as_str()),
        ("client_secret", client.1.as_str()),
    ];
    let http = agent();
    let mut token = String::new();
    let took = super::timed_once(|| {
        let mut answer = http
            .post(format!("{origin}/token"))
            .send_form(form)
            .unwrap();
        let answer: Value =
            serde_json::from_str(&answer.body_mut().read_to_string().unwrap()).unwrap();
        token = answer["access_token"].as_str().expect("a token").to_owned();
    });
    (took, token)
}

/// The CPU time process `pid` has spent (user and system), in ms, from
/// `/proc` (Linux's clock ticks, 100 a second).
pub(super) fn cpu_ms(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command's closing parenthesis, the state first:
    // utime is the 12th of them, stime the 13th.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |at: usize| {
        fields
            .get(at)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let ticks = field(11) + field(12);
    ticks as f64 * 10.0
}

/// The median of `took`, in µs.
fn median(took: &mut [Duration]) -> f64 {
    took.sort();
    micros(took[took.len() / 2])
}

/// The three figures.
pub fn id_jag(gateway: &FakeGateway, issuer: &FakeIssuer, url: &str) {
    issuer.approve_as("alice");
    let redis = Redis::start();
    let store = redis.url();
    let stored = replica(gateway, issuer, &["--store", &store]);
    let alone = replica(gateway, issuer, &[]);
    let (mut in_redis, mut in_memory) = (Vec::new(), Vec::new());
    let pid = alone.0.0.id();
    let before = cpu_ms(pid);
    for n in 0..GRANTS {
        in_redis.push(granted(issuer, &stored.1, &stored.2, n).0);
        in_memory.push(granted(issuer, &alone.1, &alone.2, n).0);
    }
    let grant_cpu = (cpu_ms(pid) - before) / GRANTS as f64;
    let (in_redis, in_memory) = (median(&mut in_redis), median(&mut in_memory));
    let mut steps: [Vec<Duration>; 5] = Default::default();
    let before = cpu_ms(pid);
    for _ in 0..SIGN_INS {
        super::proxy::signed_in(&alone.1, &mut steps);
    }
    let sign_in_cpu = (cpu_ms(pid) - before) / SIGN_INS as f64;
    let sign_in: f64 = steps.iter_mut().map(|took| median(took)).sum();
    println!(
        "--oauth-proxy, an ID-JAG grant (median of {GRANTS}) {in_memory:.0} µs against a browser \
         sign-in's five steps {sign_in:.0} µs: {:.3}x; serve's CPU {grant_cpu:.2} ms a grant \
         against {sign_in_cpu:.2} ms a sign-in: {:.3}x; its replay record in Redis on loopback \
         adds {:.0} µs (goal within 1,000)",
        in_memory / sign_in,
        grant_cpu / sign_in_cpu,
        in_redis - in_memory
    );
    exchange(issuer, &alone, in_memory);
    device(&alone, sign_in);
    // Revocation on: the list in the store holds 1,000 entries, which the
    // replica reads every 2 s into memory; off: another store, empty. Two
    // replicas started alike, each granted alike, so that only the list
    // differs.
    drop((stored, alone));
    let other = Redis::start();
    let other_store = other.url();
    let held = replica(gateway, issuer, &["--store", &store]);
    let clean = replica(gateway, issuer, &["--store", &other_store]);
    // Bob among them: once his token is refused, the replica holds the list.
    let (_, bob) = granted_to("bob", issuer, &held.1, &held.2, GRANTS + 2);
    let _ = granted_to("bob", issuer, &clean.1, &clean.2, GRANTS + 2);
    let bob_hash = super::served::workspace_of(&issuer.url(), "bob")[..12].to_owned();
    revoked_many(&redis, REVOKED, &bob_hash);
    let held_mcp = format!("{}/mcp", held.1);
    // Asked every 50 ms: the replica reads the list every 2 s, and a
    // flood of refused calls would leave it busier than the other.
    while super::status(&held_mcp, Some(&bob)) != 401 {
        std::thread::sleep(Duration::from_millis(50));
    }
    let (_, on) = granted(issuer, &held.1, &held.2, GRANTS + 1);
    let (_, off) = granted(issuer, &clean.1, &clean.2, GRANTS + 1);
    let http = agent();
    let mcps = [held_mcp, format!("{}/mcp", clean.1)];
    assert!(
        call(&http, &mcps[0], &on, url).contains("HTTP 200"),
        "revocation on answers"
    );
    assert!(
        call(&http, &mcps[1], &off, url).contains("HTTP 200"),
        "revocation off answers"
    );
    let mut ratios: Vec<f64> = (0..4 * ROUNDS)
        .map(|_| {
            let with = timed(|| drop(call(&http, &mcps[0], &on, url)));
            let without = timed(|| drop(call(&http, &mcps[1], &off, url)));
            with.as_secs_f64() / without.as_secs_f64()
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    println!(
        "--oauth-proxy, a warm call with {REVOKED} revocations held against none: {:.3}x at the \
         median of {} interleaved rounds of {PER_ROUND} (goal <= 1.02x)",
        ratios[ratios.len() / 2],
        ratios.len()
    );
}

/// A token exchange's time at the replica `alone` (median of [`GRANTS`],
/// each of a token an ID-JAG granted), against an ID-JAG grant's there,
/// `grant` µs.
fn exchange(issuer: &FakeIssuer, alone: &(super::Running, String, (String, String)), grant: f64) {
    let origin = &alone.1;
    let args = ["--name", "Exchanger", "--grant", "token-exchange"];
    let client = super::front::client_add(origin, &args);
    let text = |field: &str| client[field].as_str().unwrap().to_owned();
    let (id, secret) = (text("client_id"), text("client_secret"));
    let (_, subject) = granted(issuer, origin, &alone.2, GRANTS + 10);
    let form = [
        (
            "grant_type",
            "urn:ietf:params:oauth:grant-type:token-exchange",
        ),
        ("subject_token", subject.as_str()),
        (
            "subject_token_type",
            "urn:ietf:params:oauth:token-type:access_token",
        ),
        ("client_id", id.as_str()),
        ("client_secret", secret.as_str()),
    ];
    let http = agent();
    let mut took: Vec<Duration> = (0..GRANTS)
        .map(|_| {
            super::timed_once(|| {
                let mut answer = (http.post(format!("{origin}/token")))
                    .send_form(form)
                    .unwrap();
                let body = answer.body_mut().read_to_string().unwrap();
                assert!(body.contains("issued_token_type"), "{body}");
            })
        })
        .collect();
    let exchanged = median(&mut took);
    println!(
        "--oauth-proxy, a token exchange (median of {GRANTS}) {exchanged:.0} µs against an \
         ID-JAG grant's {grant:.0} µs: {:.3}x",
        exchanged / grant
    );
}

/// How many device approvals the median is taken over.
const DEVICES: usize = 50;

/// A device approval's time at the replica `alone` (median of
/// [`DEVICES`]): the agent's ask, the person's steps (the code typed, the
/// sign-in, the page, the answer) and the agent's one poll, each device's
/// first (no interval waited), against a browser sign-in's five steps
/// there, `sign_in` µs.
fn device(alone: &(super::Running, String, (String, String)), sign_in: f64) {
    let origin = &alone.1;
    let args = ["--name", "Nightly", "--grant", "device-code"];
    let client = super::front::client_add(origin, &args);
    let text = |field: &str| client[field].as_str().unwrap().to_owned();
    let (id, secret) = (text("client_id"), text("client_secret"));
    let credentials = [
        ("client_id", id.as_str()),
        ("client_secret", secret.as_str()),
    ];
    let post = |path: &str, form: &[(&str, &str)]| {
        let form = [form, &credentials[..]].concat();
        let (_, _, body) = super::served::Browser::new().submit(&format!("{origin}{path}"), &form);
        serde_json::from_str::<Value>(&body).unwrap()
    };
    let mut took: Vec<Duration> = (0..DEVICES)
        .map(|_| {
            super::timed_once(|| {
                let asked = post("/device_authorization", &[]);
                let code = asked["user_code"].as_str().unwrap();
                let mut browser = super::served::Browser::new();
                let typed = [("user_code", code)];
                let (_, to_issuer, _) = browser.submit(&format!("{origin}/device"), &typed);
                let (_, back, _) = browser.open(&to_issuer.unwrap());
                let (_, _, page) = browser.open(&back.unwrap());
                let allow = [("pending", super::front::field(&page, "pending"))];
                browser.submit(&format!("{origin}/device/answer"), &allow);
                let device_code = asked["device_code"].as_str().unwrap();
                let grant = "urn:ietf:params:oauth:grant-type:device_code";
                let tokens = post(
                    "/token",
                    &[("grant_type", grant), ("device_code", device_code)],
                );
                assert!(tokens["access_token"].is_string(), "{tokens}");
            })
        })
        .collect();
    let approved = median(&mut took);
    println!(
        "--oauth-proxy, a device approval end to end (median of {DEVICES}) {approved:.0} µs \
         against a browser sign-in's five steps {sign_in:.0} µs: {:.3}x",
        approved / sign_in
    );
}

/// `count` people revoked in `redis`'s list, `who` the last, as `serve
/// revoke --person` writes them (RESP, pipelined, over a socket).
pub(super) fn revoked_many(redis: &Redis, count: usize, who: &str) {
    revoked_many_aged(redis, (count, Duration::ZERO), who);
}

/// [`revoked_many`], each made `age` ago.
pub(super) fn revoked_many_aged(redis: &Redis, (count, age): (usize, Duration), who: &str) {
    let address = redis.url();
    let address = address
        .trim_start_matches("redis://")
        .trim_end_matches("/0");
    let mut socket = std::net::TcpStream::connect(address).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let now = (now - age).as_millis().to_string();
    let mut asked = String::new();
    for n in 0..count {
        let member = match n + 1 == count {
            true => format!("person:{who}"),
            false => format!("person:{n:012x}"),
        };
        let parts = ["ZADD", "nexus-mcp:revoked", now.as_str(), member.as_str()];
        asked += &format!("*{}\r\n", parts.len());
        for part in parts {
            asked += &format!("${}\r\n{part}\r\n", part.len());
        }
    }
    socket.write_all(asked.as_bytes()).unwrap();
    let mut answered = Vec::new();
    let mut buffer = [0u8; 4096];
    while answered.iter().filter(|b| **b == b'\n').count() < count {
        let read = socket.read(&mut buffer).unwrap();
        assert!(read > 0, "redis closed");
        answered.extend_from_slice(&buffer[..read]);
    }
}
