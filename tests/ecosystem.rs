//! Where the crate meets the rest of the ecosystem: the answer as a tuple,
//! per-request options, the credential on a request built elsewhere, and a
//! ureq agent that carries it.

use std::time::Duration;

use nexus_gateway_fake::{FakeGateway, FakeProvider, FakeReply, FakeUpstream};
use nexus_sdk::{FetchOptions, NexusClient, NexusClientOptions, TokenCache, code};

/// A client of `gateway` with default options: the default credential
/// scope (each provider's API origin only).
fn client(gateway: &FakeGateway) -> NexusClient {
    NexusClient::new(NexusClientOptions::new(gateway.url())).unwrap()
}

/// A Gateway whose `github` token is `gho_eco`, an upstream, and a client
/// whose scope allows it.
fn setup() -> (FakeGateway, FakeUpstream, NexusClient) {
    let (gateway, upstream) = (FakeGateway::start(), FakeUpstream::start());
    gateway.add_provider(
        "ws",
        "github",
        FakeProvider::oauth2("gho_eco").api_base_url(&upstream.url()),
    );
    let client = client(&gateway);
    (gateway, upstream, client)
}

/// As [`setup`], with a provider that hands out `gho-1`, `gho-2`, …
fn rotating_setup() -> (FakeGateway, FakeUpstream, NexusClient) {
    let (gateway, upstream) = (FakeGateway::start(), FakeUpstream::start());
    let github = FakeProvider::oauth2("gho").rotating();
    gateway.add_provider("ws", "github", github.api_base_url(&upstream.url()));
    let client = client(&gateway);
    (gateway, upstream, client)
}

#[test]
fn every_status_is_an_answer_as_the_cards_tuple() {
    let (_gateway, upstream, client) = setup();
    upstream.set_reply(
        "/echo",
        FakeReply::new(403)
            .header("x-reason", "scope")
            .body("denied for Authorization: Bearer gho_eco"),
    );
    let (status, headers, body): (u16, nexus_sdk::Headers, Vec<u8>) = client
        .authenticated_fetch(
            &TokenCache::new(),
            "ws",
            "github",
            &format!("{}/echo", upstream.url()),
            FetchOptions::default(),
        )
        .unwrap();
    assert_eq!(status, 403);
    assert_eq!(headers.get("x-reason").unwrap(), "scope");
    assert_eq!(body, b"denied for Authorization: Bearer gho_eco");
}

#[test]
fn query_pairs_are_appended_form_encoded() {
    let (_gateway, upstream, client) = setup();
    let options = FetchOptions::default()
        .query("q", "a b&c=d")
        .query("page", "2");
    client
        .authenticated_fetch(
            &TokenCache::new(),
            "ws",
            "github",
            &format!("{}/search?sort=new", upstream.url()),
            options,
        )
        .unwrap();
    let sent = upstream.last_request().unwrap();
    assert_eq!(sent.query, "sort=new&q=a+b%26c%3Dd&page=2");
}

#[test]
fn a_request_timeout_bounds_that_request_only() {
    let (_gateway, upstream, client) = setup();
    upstream.set_latency(Duration::from_secs(5));
    let cache = TokenCache::new();
    let url = upstream.url();
    let short = FetchOptions::default().timeout(Duration::from_millis(300));
    let err = client
        .authenticated_fetch(&cache, "ws", "github", &url, short)
        .unwrap_err();
    assert_eq!(err.code, code::TIMEOUT, "{err}");
    for bad in [Duration::ZERO, Duration::MAX] {
        let err = client
            .authenticated_fetch(
                &cache,
                "ws",
                "github",
                &url,
                FetchOptions::default().timeout(bad),
            )
            .unwrap_err();
        assert_eq!(err.code, code::INVALID_INPUT, "{bad:?}");
    }
}

#[cfg(feature = "serde")]
#[test]
fn a_json_body_is_sent_with_its_type() {
    let (_gateway, upstream, client) = setup();
    let options = FetchOptions::default()
        .header("Content-Type", "text/plain")
        .json(&serde_json::json!({"title": "hi", "n": 1}));
    client
        .authenticated_fetch(&TokenCache::new(), "ws", "github", &upstream.url(), options)
        .unwrap();
    let sent = upstream.last_request().unwrap();
    assert_eq!(sent.header("content-type"), Some("application/json"));
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&sent.body).unwrap(),
        serde_json::json!({"title": "hi", "n": 1})
    );
    let mut unwritable = std::collections::HashMap::new();
    unwritable.insert((1, 2), 3);
    let err = client
        .authenticated_fetch(
            &TokenCache::new(),
            "ws",
            "github",
            &upstream.url(),
            FetchOptions::default().json(&unwritable),
        )
        .unwrap_err();
    assert_eq!(err.code, code::INVALID_INPUT);
}

// --- authorize and send ---

use nexus_gateway_fake::Route;
use nexus_sdk::http::{Request, StatusCode};

fn get(url: &str) -> Request<Vec<u8>> {
    Request::get(url).body(Vec::new()).unwrap()
}

#[test]
fn authorize_puts_the_header_on_a_request_sent_with_another_client() {
    let (gateway, upstream, client) = setup();
    let cache = TokenCache::new();
    let mut request = get(&format!("{}/user", upstream.url()));
    let authorization = client
        .authorize(&cache, "ws", "github", &mut request)
        .unwrap();
    assert_eq!(authorization.strategy(), "oauth2");
    assert_eq!(request.headers()["authorization"], "Bearer gho_eco");
    assert!(request.headers()["authorization"].is_sensitive());
    // Sent with a plain ureq agent, as a user's own client would.
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .max_redirects(0)
        .build()
        .into();
    let answer = agent.run(request).unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(
        upstream.last_request().unwrap().header("authorization"),
        Some("Bearer gho_eco")
    );
    drop(authorization);
    // The token came through the cache: a second authorize resolves nothing.
    let mut again = get(&upstream.url());
    let _ = client
        .authorize(&cache, "ws", "github", &mut again)
        .unwrap();
    assert_eq!(gateway.resolves("ws", "github"), 1);
}

#[test]
fn authorize_refuses_outside_the_scope_and_leaves_the_request_untouched() {
    let (gateway, _upstream, client) = setup();
    let elsewhere = FakeUpstream::start();
    let mut request = get(&format!("{}/steal", elsewhere.url()));
    let err = client
        .authorize(&TokenCache::new(), "ws", "github", &mut request)
        .unwrap_err();
    assert_eq!(err.code, code::ORIGIN_NOT_ALLOWED);
    assert!(request.headers().is_empty());
    assert_eq!(gateway.requests(Route::Resolve), 0, "nothing resolved");
    for relative in ["/user", "user"] {
        let mut request = Request::get(relative).body(Vec::new()).unwrap();
        let err = client
            .authorize(&TokenCache::new(), "ws", "github", &mut request)
            .unwrap_err();
        assert_eq!(err.code, code::INVALID_INPUT, "{relative}");
    }
}

#[test]
fn a_reported_401_drops_exactly_that_token() {
    let (gateway, upstream, client) = rotating_setup();
    let cache = TokenCache::new();
    let mut first = get(&upstream.url());
    let authorization = client
        .authorize(&cache, "ws", "github", &mut first)
        .unwrap();
    let sent = first.headers()["authorization"]
        .to_str()
        .unwrap()
        .to_owned();
    // Not reported: the cache keeps the token.
    let mut second = get(&upstream.url());
    let kept = client
        .authorize(&cache, "ws", "github", &mut second)
        .unwrap();
    assert_eq!(second.headers()["authorization"], sent.as_str());
    drop(kept);
    // Reported: the next authorize resolves a fresh one.
    authorization.rejected();
    let mut third = get(&upstream.url());
    let _fresh = client
        .authorize(&cache, "ws", "github", &mut third)
        .unwrap();
    assert_ne!(third.headers()["authorization"], sent.as_str());
    assert_eq!(gateway.resolves("ws", "github"), 2);
}

#[test]
fn a_query_param_credential_goes_in_the_uri() {
    let (gateway, upstream) = (FakeGateway::start(), FakeUpstream::start());
    gateway.add_provider(
        "ws",
        "maps",
        FakeProvider::query_param("key", "qk-1").api_base_url(&upstream.url()),
    );
    let client = client(&gateway);
    let mut request = get(&format!("{}/geo?key=mine&q=1", upstream.url()));
    let _ = client
        .authorize(&TokenCache::new(), "ws", "maps", &mut request)
        .unwrap();
    assert_eq!(request.uri().query(), Some("q=1&key=qk-1"));
    assert!(request.headers().get("authorization").is_none());
}

// --- what replaced `send` and the middleware: `authorize`, then your own agent ---

/// An agent as the CHANGELOG tells a `send` or middleware user to build it:
/// statuses are answers, and redirects are not followed (a header
/// credential would go along).
fn own_agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into()
}

#[test]
fn authorize_then_your_own_agent_sends_the_request_and_reports_a_401() {
    let (gateway, upstream, client) = rotating_setup();
    let cache = TokenCache::new();
    let agent = own_agent();
    let mut request = Request::post(format!("{}/issues", upstream.url()))
        .header("content-type", "application/json")
        .body(br#"{"title":"t"}"#.to_vec())
        .unwrap();
    let first = client
        .authorize(&cache, "ws", "github", &mut request)
        .unwrap();
    let sent_with = request.headers()["authorization"].clone();
    upstream.reject_token(sent_with.to_str().unwrap().trim_start_matches("Bearer "));
    let answer = agent.run(request).unwrap();
    assert_eq!(answer.status(), 401);
    first.rejected();
    let mut again = get(&upstream.url());
    let _second = client
        .authorize(&cache, "ws", "github", &mut again)
        .unwrap();
    assert_ne!(again.headers()["authorization"], sent_with, "a fresh token");
    assert_eq!(agent.run(again).unwrap().status(), 200);
    assert_eq!(gateway.resolves("ws", "github"), 2);
    let sent = upstream.last_request().unwrap();
    assert_eq!(sent.method, "GET");
}

#[test]
fn a_header_credential_does_not_follow_a_redirect_with_your_agent_so_told() {
    let (gateway, upstream) = (FakeGateway::start(), FakeUpstream::start());
    gateway.add_provider(
        "ws",
        "keyed",
        FakeProvider::header("X-API-Key", None, "key-123").api_base_url(&upstream.url()),
    );
    let elsewhere = FakeUpstream::start();
    let client = client(&gateway);
    let cache = TokenCache::new();
    let agent = own_agent();
    for status in [301, 302, 303, 307, 308] {
        let path = format!("/go{status}");
        let to = format!("{}/landing", elsewhere.url());
        upstream.set_reply(&path, FakeReply::new(status).header("Location", &to));
        let mut request = get(&format!("{}{path}", upstream.url()));
        let _auth = client
            .authorize(&cache, "ws", "keyed", &mut request)
            .unwrap();
        let answer = agent.run(request).unwrap();
        assert_eq!(
            answer.status(),
            status,
            "the redirect comes back as the answer"
        );
        assert_eq!(
            upstream.last_request().unwrap().header("x-api-key"),
            Some("key-123")
        );
    }
    assert_eq!(
        elsewhere.connections(),
        0,
        "the key never reached the other origin"
    );
}
