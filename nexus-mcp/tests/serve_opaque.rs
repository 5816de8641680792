//! Opaque access tokens (RFC 7662) in `nexus-mcp serve`, the built
//! program, against the fake issuer's introspection endpoint: refused,
//! saying what to set, without `--introspection-client-id`; with it,
//! checked as a JWT is, asked once per token however many requests carry
//! it, a refusal kept so a flood of one bad token is one question, and an
//! endpoint that cannot be asked a 503 naming the issuer; a question whose
//! client hung up still answered, for the next request with that token.

mod common;

use common::served::{Served, command, free_port, workspace_of};
use nexus_gateway_fake::{FakeGateway, FakeIssuer, FakeProvider, FakeToken, FakeUpstream};
use serde_json::{Value, json};

const CLIENT: &str = "mcp-introspection";
const SECRET: &str = "introspection-secret-0123";

/// `serve` asking `issuer` about opaque tokens as [`CLIENT`] with `secret`.
fn introspecting(secret: &str) -> (FakeIssuer, FakeGateway, FakeUpstream, Served) {
    let issuer = FakeIssuer::start();
    issuer.add_confidential_client(CLIENT, "http://127.0.0.1/unused", SECRET);
    let (gateway, api) = (FakeGateway::start(), FakeUpstream::start());
    let github = FakeProvider::oauth2("gho_alice_secret").api_base_url(&api.url());
    gateway.add_provider(&workspace_of(&issuer.url(), "alice"), "github", github);
    let port = free_port();
    let child = command(
        &gateway,
        &issuer.url(),
        port,
        &["--introspection-client-id", CLIENT],
    )
    .env("NEXUS_MCP_INTROSPECTION_CLIENT_SECRET", secret)
    .spawn()
    .unwrap();
    (issuer, gateway, api, Served::ready(child, port))
}

fn listed(served: &Served, token: &str) -> (u16, Value) {
    served.call(token, "list_providers", json!({}))
}

#[test]
fn without_an_introspection_client_an_opaque_token_is_refused_saying_what_to_set() {
    let issuer = FakeIssuer::start();
    let gateway = FakeGateway::start();
    let served = Served::start(&gateway, &issuer, &[]);
    let opaque = issuer.mint_opaque(&FakeToken::new("alice").audience(&served.resource));
    let (status, answer) = listed(&served, &opaque);
    assert_eq!(status, 401, "{answer}");
    assert_eq!(answer["error"], json!("invalid_token"), "{answer}");
    let said = answer["error_description"].as_str().unwrap_or_default();
    assert!(said.contains("--introspection-client-id"), "{answer}");
    served.said_once(|log| log.contains("opaque tokens need --introspection-client-id"));
    assert_eq!(issuer.introspections(), 0);
}

#[test]
fn an_opaque_token_is_checked_as_a_jwt_is_and_asked_about_once() {
    let (issuer, gateway, api, served) = introspecting(SECRET);
    let alice = FakeToken::new("alice").audience(&served.resource);
    let opaque = issuer.mint_opaque(&alice);
    // Sixteen requests at once with one token: one question.
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let calls: Vec<_> = (0..16)
            .map(|_| scope.spawn(|| listed(&served, &opaque).0))
            .collect();
        calls.into_iter().map(|call| call.join().unwrap()).collect()
    });
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(issuer.introspections(), 1, "one question for one token");
    // Then recalled by its hash, and acting for the person it names.
    let fetch = json!({"provider": "github", "url": format!("{}/user", api.url())});
    let (status, answer) = served.call(&opaque, "authenticated_fetch", fetch);
    assert_eq!(
        (status, answer["result"]["isError"].clone()),
        (200, json!(false)),
        "{answer}"
    );
    assert_eq!(issuer.introspections(), 1, "recalled, not asked again");
    assert_eq!(
        gateway.resolves(&workspace_of(&issuer.url(), "alice"), "github"),
        1
    );
    // What the issuer tells is checked as a JWT's claims are.
    for (token, why) in [
        (
            alice.clone().expires_in(-120),
            "expired: the issuer says inactive",
        ),
        (
            FakeToken::new("alice").audience("https://other.example/mcp"),
            "another audience",
        ),
        (
            alice.clone().issuer("https://evil.example"),
            "another issuer",
        ),
        (
            FakeToken::new(" ").audience(&served.resource),
            "a blank subject",
        ),
    ] {
        let (status, answer) = listed(&served, &issuer.mint_opaque(&token));
        assert_eq!(status, 401, "{why}: {answer}");
    }
    // An answer that does not read as RFC 7662's is the issuer's fault:
    // nothing admitted, and the operator's to mend (503).
    let unreadable = issuer.mint_opaque(&alice.clone().claim("scope", json!(7)));
    assert_eq!(listed(&served, &unreadable).0, 503);
    // A token the issuer does not vouch for: one question for a flood.
    let asked = issuer.introspections();
    for _ in 0..10 {
        assert_eq!(listed(&served, "not-a-token-the-issuer-made").0, 401);
    }
    assert_eq!(issuer.introspections(), asked + 1, "a refusal is kept");
}

/// Sends a `tools/call` as `token` to `served` and hangs up once the
/// issuer has been asked about it (its question held there).
fn hang_up_while_asked(served: &Served, issuer: &FakeIssuer, token: &str) {
    use std::io::Write;
    let body = common::served::call("list_providers", json!({}), "2026-07-28").to_string();
    let authority = served.origin.trim_start_matches("http://");
    let request = format!(
        "POST /mcp HTTP/1.1\r\nHost: {authority}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n\
         MCP-Protocol-Version: 2026-07-28\r\nMcp-Method: tools/call\r\n\
         Mcp-Name: list_providers\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let asked = issuer.introspections() + 1;
    let mut stream = std::net::TcpStream::connect(authority).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    common::served::wait_until(|| issuer.introspections() == asked);
    stream.shutdown(std::net::Shutdown::Both).unwrap();
}

#[test]
fn a_question_whose_client_hung_up_is_answered_for_the_next_request() {
    let (issuer, _gateway, _api, served) = introspecting(SECRET);
    let opaque = issuer.mint_opaque(&FakeToken::new("alice").audience(&served.resource));
    let held = issuer.hold_next_introspection();
    hang_up_while_asked(&served, &issuer, &opaque);
    std::thread::scope(|scope| {
        let next = scope.spawn(|| listed(&served, &opaque).0);
        drop(held);
        assert_eq!(next.join().unwrap(), 200);
    });
    assert_eq!(issuer.introspections(), 1, "one question, answered");
    // Many clients that hang up leave nothing held: each question ends.
    for n in 0..8 {
        let token = FakeToken::new(&format!("p{n}")).audience(&served.resource);
        let token = issuer.mint_opaque(&token);
        let held = issuer.hold_next_introspection();
        hang_up_while_asked(&served, &issuer, &token);
        drop(held);
        assert_ne!(listed(&served, &token).0, 503);
    }
    assert_eq!(issuer.introspections(), 9, "each asked once");
}

#[test]
fn an_introspection_endpoint_that_refuses_this_server_is_503_naming_the_issuer() {
    let (issuer, _gateway, _api, served) = introspecting("a-wrong-secret-0123456");
    let opaque = issuer.mint_opaque(&FakeToken::new("alice").audience(&served.resource));
    let (status, answer) = listed(&served, &opaque);
    assert_eq!(status, 503, "{answer}");
    let said = answer["error_description"].as_str().unwrap_or_default();
    assert!(said.contains(&issuer.url()), "{answer}");
    assert!(
        !served.said().contains("a-wrong-secret"),
        "never the secret"
    );
}

#[test]
fn the_issuers_words_reach_the_log_escaped_and_never_the_client() {
    let (issuer, _gateway, _api, served) = introspecting(SECRET);
    let words = "no such client\nERROR nexus_mcp: forged by the issuer \u{202e}<b>";
    issuer.set_introspection_error(Some(words));
    let opaque = issuer.mint_opaque(&FakeToken::new("alice").audience(&served.resource));
    let (status, answer) = listed(&served, &opaque);
    assert_eq!(status, 503, "{answer}");
    // The client reads a fixed sentence, naming the issuer it was set.
    let told = answer["error_description"].as_str().unwrap_or_default();
    assert!(
        !told.contains("no such client") && !told.contains("forged"),
        "{told}"
    );
    assert!(
        told.contains(&issuer.url()) && told.contains("try again"),
        "{told}"
    );
    // The operator reads the issuer's words on one line, escaped.
    let said = served.said_once(|said| said.contains("no such client"));
    let line = said.lines().find(|l| l.contains("no such client")).unwrap();
    assert!(
        line.contains("no such client\\nERROR nexus_mcp: forged"),
        "{line}"
    );
    assert!(line.contains("\\u{202e}"), "{line}");
    assert!(
        !said
            .lines()
            .any(|l| l.starts_with("ERROR nexus_mcp: forged")),
        "{said}"
    );
}

#[test]
fn an_introspection_client_without_its_secret_is_a_usage_error() {
    let issuer = FakeIssuer::start();
    let gateway = FakeGateway::start();
    let out = command(
        &gateway,
        &issuer.url(),
        free_port(),
        &["--introspection-client-id", CLIENT],
    )
    .env_remove("NEXUS_MCP_INTROSPECTION_CLIENT_SECRET")
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("NEXUS_MCP_INTROSPECTION_CLIENT_SECRET"),
        "{stderr}"
    );
}
