//! Seeding that says what is wrong, in the program and the library alike:
//! `$UPSTREAM_URL` wherever a seed arrives, an unknown key refused naming
//! it and where it was (and nothing of that seed added), a body that is not
//! JSON said to be so, and `reset` back to the state the program started in.

mod common;

use std::time::Duration;

use common::{Program, get, send};
use nexus_gateway_fake::{FakeGateway, FakeProvider};
use serde_json::{Value, json};

fn resolve(url: &str, workspace: &str, provider: &str) -> (u16, String, String) {
    get(
        url,
        &format!("/v1/resolve?workspace_id={workspace}&provider_name={provider}"),
    )
}

/// The library's refusal of `seed`, after checking that it added nothing.
fn refusal(seed: Value) -> String {
    let gateway = FakeGateway::start();
    let why = gateway.seed(&seed).expect_err("refused");
    assert_eq!(
        resolve(&gateway.url(), "ws-1", "ok").0,
        404,
        "nothing added: {why}"
    );
    why
}

#[test]
fn a_misspelt_key_anywhere_is_refused_naming_it_and_where_it_was() {
    let ok = json!({"workspace": "ws-1", "name": "ok", "token": "t"});
    let cases = [
        (
            json!({"provider": [ok]}),
            r#"the seed: unknown key "provider""#,
        ),
        (
            json!({"providers": [ok, {"workspace": "ws-1", "name": "gh", "token": "t", "api_base": "x"}]}),
            r#"providers[1]: unknown key "api_base""#,
        ),
        (
            json!({"providers": [ok, {"workspace": "ws-1", "name": "s", "strategy": "header",
                                      "header_name": "X-Key", "api_kee": "k"}]}),
            r#"providers[1]: unknown key "api_kee""#,
        ),
        (
            json!({"providers": [ok], "connections": [{"id": "6a1f3c2e-9b8d-4e7f-a012-3b4c5d6e7f80",
                   "provider": "github", "token": "t", "stauts": "active"}]}),
            r#"connections[0]: unknown key "stauts""#,
        ),
        (
            json!({"providers": [ok, {"workspace": "ws-1", "name": "x", "strategy": "oauth"}]}),
            r#"providers[1]: unknown strategy "oauth""#,
        ),
        (
            json!({"providers": [ok, {"workspace": "ws-1", "name": "x", "token": 5}]}),
            "providers[1]: `token` is text",
        ),
        (
            json!({"providers": [ok, {"workspace": "ws-1", "name": "x", "token": "t", "expires_in": "1h"}]}),
            "providers[1]: `expires_in` is whole seconds",
        ),
        (
            json!({"providers": [ok, {"workspace": "ws-1", "name": "x", "token": "t", "rotating": "yes"}]}),
            "providers[1]: `rotating` is true or false",
        ),
        (
            json!({"providers": [ok, {"name": "x", "token": "t"}]}),
            "providers[1]: `workspace` is required",
        ),
        (
            json!({"providers": {"workspace": "ws-1"}}),
            "the seed: `providers` is a list",
        ),
        (json!([ok]), "the seed is not a JSON object"),
    ];
    for (seed, says) in cases {
        let why = refusal(seed);
        assert!(why.starts_with(says), "{says}\n  got: {why}");
    }
    // What the key may be, in the refusal: the keys this entry takes.
    let why = refusal(json!({"providers": [{"workspace": "w", "name": "n", "tokn": "t"}]}));
    assert!(
        why.contains(
            "(it takes: workspace, name, strategy, api_base_url, expires_in, rotating, token)"
        ),
        "{why}"
    );
}

#[test]
fn an_expiry_past_the_last_date_is_refused_at_the_seed_and_capped_in_the_answer() {
    let past = json!({"providers": [{"workspace": "ws-1", "name": "x", "token": "t",
                                     "expires_in": 9_000_000_000_000_u64}]});
    let why = refusal(past);
    assert_eq!(why, "providers[0]: `expires_in` reaches past 9999-12-31");
    // A library provider may still ask for more: its answer stops there.
    let gateway = FakeGateway::start();
    let forever = FakeProvider::oauth2("t").expires_in(Duration::MAX);
    gateway.add_provider("ws-1", "forever", forever);
    for _ in 0..2 {
        let (status, _, body) = resolve(&gateway.url(), "ws-1", "forever");
        assert_eq!(status, 200, "{body}");
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["expiry"], "9999-12-31T23:59:59Z");
    }
}

#[test]
fn upstream_url_is_substituted_wherever_a_seed_arrives() {
    let program = Program::start(&[], &[]);
    let url = &program.gateway;
    let seed = json!({"providers": [{"workspace": "ws-1", "name": "api", "token": "t",
                                     "api_base_url": "$UPSTREAM_URL/v2"}]});
    assert_eq!(send(url, "POST", "/_fake/seed", &seed.to_string()).0, 200);
    let one = json!({"workspace": "ws-2", "name": "one", "token": "t", "api_base_url": "$UPSTREAM_URL/v1"});
    assert_eq!(
        send(url, "POST", "/_fake/providers", &one.to_string()).0,
        200
    );
    let (_, _, listing) = get(url, "/v1/providers/metadata");
    assert!(!listing.contains("$UPSTREAM_URL"), "{listing}");
    for path in ["/v2", "/v1"] {
        assert!(
            listing.contains(&format!("{}{path}", program.upstream)),
            "{listing}"
        );
    }
    // The library: the URL it was given, else a refusal that says so.
    let gateway = FakeGateway::start();
    let why = gateway.seed(&seed).unwrap_err();
    assert!(why.contains("set_upstream_url"), "{why}");
    gateway.set_upstream_url("http://127.0.0.1:9");
    gateway.seed(&seed).unwrap();
    let (_, _, listing) = get(&gateway.url(), "/v1/providers/metadata");
    assert!(listing.contains("http://127.0.0.1:9/v2"), "{listing}");
}

#[test]
fn the_control_api_says_what_is_wrong_with_a_seed() {
    let program = Program::start(&[], &[]);
    let url = &program.gateway;
    for (path, body, says) in [
        ("/_fake/seed", "providers: []", "the body is not JSON"),
        ("/_fake/seed", "", "the body is not JSON"),
        (
            "/_fake/seed",
            r#"{"provider": []}"#,
            r#"the seed: unknown key \"provider\""#,
        ),
        (
            "/_fake/providers",
            r#"{"workspace":"w","name":"n","api_base":"x","token":"t"}"#,
            r#"providers[0]: unknown key \"api_base\""#,
        ),
        (
            "/_fake/connections",
            r#"{"id":"conn-1","provider":"p","token":"t"}"#,
            "connections[0]: `id` is not a UUID",
        ),
    ] {
        let (status, _, answer) = send(url, "POST", path, body);
        assert_eq!(status, 400, "{path} {body}");
        assert!(answer.contains(says), "{path} {body}: {answer}");
    }
}

#[test]
fn reset_returns_the_program_to_the_state_it_started_in() {
    let program = Program::start(
        &[
            "--workspace",
            "ws-x",
            "--provider",
            "gitlab",
            "--token",
            "glpat_start",
        ],
        &[],
    );
    let url = &program.gateway;
    let added = json!({"workspace": "ws-x", "name": "extra", "token": "t"});
    assert_eq!(
        send(url, "POST", "/_fake/providers", &added.to_string()).0,
        200
    );
    let removed = "/_fake/providers?workspace=ws-x&name=gitlab";
    assert_eq!(send(url, "DELETE", removed, "").0, 200);
    assert_eq!(resolve(url, "ws-x", "gitlab").0, 404);
    let fault = r#"{"route": "health", "status": 503, "count": 5}"#;
    assert_eq!(send(url, "POST", "/_fake/faults", fault).0, 200);
    assert_eq!(send(url, "POST", "/_fake/reset", "").0, 200);
    let (status, _, body) = resolve(url, "ws-x", "gitlab");
    assert!(
        status == 200 && body.contains("glpat_start"),
        "the start's provider: {body}"
    );
    assert_eq!(
        resolve(url, "ws-x", "extra").0,
        404,
        "what was added since is gone"
    );
    assert_eq!(get(url, "/health").0, 200, "faults forgotten");
    let (_, _, log) = get(url, "/_fake/requests");
    let log: Value = serde_json::from_str(&log).unwrap();
    assert_eq!(
        log.as_array().map(Vec::len),
        Some(3),
        "requests since the reset only: {log}"
    );
    // The library: back to what was kept, else to a new fake.
    let gateway = FakeGateway::start();
    gateway.add_provider("ws-1", "kept", FakeProvider::oauth2("t"));
    gateway.keep_as_start();
    gateway.add_provider("ws-1", "later", FakeProvider::oauth2("t"));
    gateway.reset();
    assert_eq!(resolve(&gateway.url(), "ws-1", "kept").0, 200);
    assert_eq!(resolve(&gateway.url(), "ws-1", "later").0, 404);
}
