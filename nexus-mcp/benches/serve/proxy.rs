//! `serve --oauth-proxy` in the serve bench: each step of a host's sign-in
//! (the median of [`SIGN_INS`]), and a warm call with the token `serve`
//! issued beside the same call with the provider's, interleaved in rounds.

use std::time::Duration;

use nexus_gateway_fake::{FakeGateway, FakeIssuer, FakeToken};
use serde_json::json;

use super::front::{authorize_url, field};
use super::redis::Redis;
use super::served::{Browser, free_port};
use super::{PER_ROUND, ROUNDS, agent, call, micros, serve_on, timed, timed_once};

/// How many sign-ins each step's median is taken over.
const SIGN_INS: usize = 20;

/// The sign-in's steps, timed; then the warm calls' ratio.
pub fn proxy(gateway: &FakeGateway, issuer: &FakeIssuer, url: &str) {
    let port = free_port();
    let (origin, mcp) = (
        format!("http://127.0.0.1:{port}"),
        format!("http://127.0.0.1:{port}/mcp"),
    );
    issuer.add_client("bench-login", &format!("{origin}/connect/callback"));
    issuer.approve_as("alice");
    let args = ["--oauth-proxy", "--login-client-id", "bench-login"];
    let _serve = serve_on(gateway, issuer, (port, &mcp), &args, "warn");
    let mut steps: [Vec<Duration>; 5] = Default::default();
    let mut access = String::new();
    for _ in 0..SIGN_INS {
        let (_, tokens) = signed_in(&origin, &mut steps);
        access = tokens["access_token"].as_str().unwrap().to_owned();
    }
    let names = [
        "registration",
        "authorization (the consent page)",
        "consent (to the issuer)",
        "callback (the issuer's code exchanged, the ID token checked)",
        "token",
    ];
    let medians: Vec<String> = (names.iter().zip(&mut steps))
        .map(|(name, took)| {
            took.sort();
            format!("{name} {:.0} µs", micros(took[took.len() / 2]))
        })
        .collect();
    println!(
        "--oauth-proxy, a sign-in's steps (median of {SIGN_INS}): {}",
        medians.join(", ")
    );
    let provider = issuer.mint(&FakeToken::new("alice").audience(&mcp));
    let http = agent();
    assert!(
        call(&http, &mcp, &access, url).contains("HTTP 200"),
        "serve's token answers"
    );
    assert!(
        call(&http, &mcp, &provider, url).contains("HTTP 200"),
        "the provider's answers"
    );
    let (mut issued, mut provided) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..ROUNDS {
        issued += timed(|| drop(call(&http, &mcp, &access, url)));
        provided += timed(|| drop(call(&http, &mcp, &provider, url)));
    }
    let calls = (ROUNDS * PER_ROUND) as f64;
    let (issued, provided) = (micros(issued) / calls, micros(provided) / calls);
    println!(
        "--oauth-proxy, a warm call with the token serve issued {issued:.0} µs, with the provider's \
         {provided:.0} µs: {:.2}x (goal <= 1.05x)",
        issued / provided
    );
}

/// A host registered at `serve` on `origin` and a person signed in through
/// it, each step timed into `steps`: the client id, and the tokens.
pub fn signed_in(origin: &str, steps: &mut [Vec<Duration>; 5]) -> (String, serde_json::Value) {
    let asked = json!({"client_name": "Bench", "redirect_uris": ["http://127.0.0.1:9/cb"]});
    let register = || {
        let post = ureq::post(format!("{origin}/register"));
        post.header("Content-Type", "application/json")
            .send(asked.to_string())
    };
    let (took, answer) = timed_with(register);
    steps[0].push(took);
    let answer = answer.unwrap().body_mut().read_to_string().unwrap();
    let client: serde_json::Value = serde_json::from_str(&answer).unwrap();
    let id = client["client_id"].as_str().unwrap().to_owned();
    let mut browser = Browser::new();
    let (took, (_, _, page)) = timed_with(|| browser.open(&authorize_url(origin, &id)));
    steps[1].push(took);
    let allow = [("pending", field(&page, "pending"))];
    let (took, (_, to_issuer, _)) =
        timed_with(|| browser.submit(&format!("{origin}/authorize"), &allow));
    steps[2].push(took);
    let (_, back, _) = browser.open(&to_issuer.unwrap());
    let (took, (_, to_host, _)) = timed_with(|| browser.open(&back.unwrap()));
    steps[3].push(took);
    let to_host = url::Url::parse(&to_host.unwrap()).unwrap();
    let code = to_host.query_pairs().find(|(k, _)| k == "code").unwrap().1;
    let form = crate::front::redemption(&id, &code);
    let (took, (_, _, tokens)) =
        timed_with(|| Browser::new().submit(&format!("{origin}/token"), &form));
    steps[4].push(took);
    (id, serde_json::from_str(&tokens).unwrap())
}

/// How many refreshes each replica's median is taken over.
const REFRESHES: usize = 200;

/// A refresh (renewed at the issuer, rotated in its family) at a replica
/// whose families are in Redis on loopback (`NEXUS_REDIS`, the
/// distribution's) beside one that keeps them in memory, interleaved one
/// by one: each median, and what the store adds.
pub fn refresh(gateway: &FakeGateway, issuer: &FakeIssuer) {
    let redis = Redis::start();
    let store = redis.url();
    let mut replicas = Vec::new();
    for args in [&["--store", store.as_str()][..], &[]] {
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
        let (id, tokens) = signed_in(&origin, &mut Default::default());
        replicas.push((running, origin, id, tokens, Vec::new()));
    }
    for _ in 0..REFRESHES {
        for (_, origin, id, tokens, took) in &mut replicas {
            let token = tokens["refresh_token"].as_str().unwrap().to_owned();
            let form = [
                ("grant_type", "refresh_token"),
                ("refresh_token", token.as_str()),
                ("client_id", id.as_str()),
            ];
            let (spent, (status, _, answer)) =
                timed_with(|| Browser::new().submit(&format!("{origin}/token"), &form));
            assert_eq!(status, 200, "{answer}");
            *tokens = serde_json::from_str(&answer).unwrap();
            took.push(spent);
        }
    }
    let medians: Vec<f64> = (replicas.iter_mut())
        .map(|(_, _, _, _, took)| {
            took.sort();
            micros(took[took.len() / 2])
        })
        .collect();
    println!(
        "--oauth-proxy, a refresh (renewed at the issuer, rotated in its family; median of \
         {REFRESHES}): with --store in Redis on loopback {:.0} µs, in memory {:.0} µs: the store \
         adds {:.0} µs (goal within 1,000)",
        medians[0],
        medians[1],
        medians[0] - medians[1]
    );
}

/// How long `one` took, and what it gave.
fn timed_with<T>(one: impl FnOnce() -> T) -> (Duration, T) {
    let mut given = None;
    let took = timed_once(|| given = Some(one()));
    (took, given.expect("run once"))
}
