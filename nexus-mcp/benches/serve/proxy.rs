//! `serve --oauth-proxy` in the serve bench: each step of a host's sign-in
//! (the median of [`SIGN_INS`]), and a warm call with the token `serve`
//! issued beside the same call with the provider's, interleaved in rounds.

use std::time::Duration;

use nexus_gateway_fake::{FakeGateway, FakeIssuer, FakeToken};
use serde_json::json;

use super::front::{authorize_url, field};
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
        let (took, (_, _, page)) = timed_with(|| browser.open(&authorize_url(&origin, &id)));
        steps[1].push(took);
        let allow = [("pending", field(&page, "pending"))];
        let (took, (_, to_issuer, _)) =
            timed_with(|| browser.submit(&format!("{origin}/authorize"), &allow));
        steps[2].push(took);
        let (_, back, _) = browser.open(&to_issuer.unwrap());
        let (took, (_, to_host, _)) = timed_with(|| browser.open(&back.unwrap()));
        steps[3].push(took);
        let to_host = url::Url::parse(&to_host.unwrap()).unwrap();
        let code = to_host
            .query_pairs()
            .find(|(k, _)| k == "code")
            .unwrap()
            .1
            .into_owned();
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", "http://127.0.0.1:9/cb"),
            ("client_id", id.as_str()),
            (
                "code_verifier",
                "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
            ),
        ];
        let (took, (_, _, tokens)) =
            timed_with(|| Browser::new().submit(&format!("{origin}/token"), &form));
        steps[4].push(took);
        let tokens: serde_json::Value = serde_json::from_str(&tokens).unwrap();
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

/// How long `one` took, and what it gave.
fn timed_with<T>(one: impl FnOnce() -> T) -> (Duration, T) {
    let mut given = None;
    let took = timed_once(|| given = Some(one()));
    (took, given.expect("run once"))
}
