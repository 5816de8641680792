//! `nexus-mcp serve`, the built program, over HTTP on loopback: an OAuth
//! resource server in front of MCP, each person acting for their own
//! workspace, every bad request refused before rmcp sees it.

mod common;

use common::served::{Served, header, token, workspace_of};
use common::text;
use nexus_gateway_fake::{FakeGateway, FakeIssuer, FakeProvider, FakeToken, FakeUpstream};
use serde_json::{Value, json};

/// A Gateway where alice and bob each connected their own GitHub.
fn two_people(issuer: &FakeIssuer) -> (FakeGateway, FakeUpstream) {
    let (gateway, api) = (FakeGateway::start(), FakeUpstream::start());
    for (person, token) in [("alice", "gho_alice_secret"), ("bob", "gho_bob_secret")] {
        let github = FakeProvider::oauth2(token).api_base_url(&api.url());
        gateway.add_provider(&workspace_of(&issuer.url(), person), "github", github);
    }
    (gateway, api)
}

fn fetch(url: &str) -> Value {
    json!({"provider": "github", "url": url})
}

#[test]
fn each_person_acts_for_their_own_workspace_with_their_own_credential() {
    let issuer = FakeIssuer::start();
    let (gateway, api) = two_people(&issuer);
    let served = Served::start(&gateway, &issuer, &[]);
    let user = format!("{}/user", api.url());
    for (person, credential) in [
        ("alice", "gho_alice_secret"),
        ("bob", "gho_bob_secret"),
        ("alice", "gho_alice_secret"),
    ] {
        let (status, answer) = served.call(
            &token(&issuer, &served, person),
            "authenticated_fetch",
            fetch(&user),
        );
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["result"]["isError"], json!(false), "{answer}");
        let sent = api.last_request().expect("the API was called");
        assert_eq!(
            sent.header("authorization"),
            Some(format!("Bearer {credential}").as_str())
        );
        assert!(!answer.to_string().contains(credential));
    }
    // Each person's workspace resolved once, cached apart.
    for person in ["alice", "bob"] {
        assert_eq!(
            gateway.resolves(&workspace_of(&issuer.url(), person), "github"),
            1
        );
    }
    // Carol connected nothing: the tool error names the provider, never her workspace.
    let carol = token(&issuer, &served, "carol");
    let (_, answer) = served.call(&carol, "authenticated_fetch", fetch(&user));
    let said = text(&answer["result"]);
    assert_eq!(answer["result"]["isError"], json!(true), "{answer}");
    assert!(
        said.contains("github") && said.contains("must connect it"),
        "{said}"
    );
    assert!(
        !answer
            .to_string()
            .contains(&workspace_of(&issuer.url(), "carol")),
        "{answer}"
    );
    // The operator's line names a short hash of the person, never a token or the workspace.
    let calls = |said: &str| {
        said.lines()
            .filter(|l| l.contains("nexus_mcp::call"))
            .count()
    };
    let lines = served.said_once(|said| calls(said) >= 4);
    let call_lines: Vec<&str> = lines
        .lines()
        .filter(|l| l.contains("nexus_mcp::call"))
        .collect();
    assert_eq!(call_lines.len(), 4, "{lines}");
    assert!(call_lines.iter().all(|l| l.contains(" who=")), "{lines}");
    assert!(
        !lines.contains("gho_alice_secret") && !lines.contains(&carol),
        "{lines}"
    );
    assert!(
        !lines.contains(&workspace_of(&issuer.url(), "alice")),
        "{lines}"
    );
}

#[test]
fn the_metadata_says_where_to_get_a_token_and_every_401_points_at_it() {
    let issuer = FakeIssuer::start();
    let (gateway, _api) = two_people(&issuer);
    let served = Served::start(&gateway, &issuer, &["--scope", "mcp:tools"]);
    let (status, _, health) = served.get("/healthz");
    assert_eq!((status, health), (200, Value::String("ok".into())));
    for path in [
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-protected-resource/mcp",
    ] {
        let (status, _, metadata) = served.get(path);
        assert_eq!(status, 200, "{path}");
        assert_eq!(metadata["resource"], json!(served.resource));
        assert_eq!(metadata["authorization_servers"], json!([issuer.url()]));
        assert_eq!(metadata["scopes_supported"], json!(["mcp:tools"]));
    }
    let (status, headers, _) = served.post(
        &[],
        &json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
    );
    assert_eq!(status, 401);
    let challenge = header(&headers, "www-authenticate").expect("a challenge");
    let expected = format!(
        "Bearer resource_metadata=\"{}/.well-known/oauth-protected-resource/mcp\", scope=\"mcp:tools\"",
        served.origin
    );
    assert_eq!(challenge, expected);
    // A token short of the scope: 403 insufficient_scope, naming it.
    let (status, answer) = served.call(
        &token(&issuer, &served, "alice"),
        "list_providers",
        json!({}),
    );
    assert_eq!(status, 403, "{answer}");
    assert_eq!(answer["error"], json!("insufficient_scope"));
    let scoped = issuer.mint(
        &FakeToken::new("alice")
            .audience(&served.resource)
            .claim("scope", json!("openid mcp:tools")),
    );
    let (status, answer) = served.call(&scoped, "list_providers", json!({}));
    assert_eq!(status, 200, "{answer}");
    // Entra ID's `scp` is a string, Okta's a list: both read.
    for scp in [json!("mcp:tools profile"), json!(["profile", "mcp:tools"])] {
        let token = FakeToken::new("alice")
            .audience(&served.resource)
            .claim("scp", scp);
        assert_eq!(
            served
                .call(&issuer.mint(&token), "list_providers", json!({}))
                .0,
            200
        );
    }
    assert!(text(&answer["result"]).contains("github"), "{answer}");
}

/// SIGTERM drains: no new connection is taken, the call in flight
/// finishes and answers, then the process exits.
#[test]
fn sigterm_lets_the_call_under_way_answer_then_stops() {
    let issuer = FakeIssuer::start();
    let (gateway, api) = two_people(&issuer);
    let served = Served::start(&gateway, &issuer, &[]);
    let alice = token(&issuer, &served, "alice");
    let held = api.hold_next();
    let user = format!("{}/user", api.url());
    std::thread::scope(|scope| {
        let under_way = scope.spawn(|| served.call(&alice, "authenticated_fetch", fetch(&user)));
        // The call reached the API and is held there (an event, not a sleep).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while api.request_count() == 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "the call never reached the API"
            );
            std::thread::yield_now();
        }
        let pid = served.pid();
        let terminated = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
        assert!(terminated.expect("kill").success());
        // The server is stopping: it says so before the call ends.
        served.said_once(|said| said.contains("SIGTERM"));
        // It takes no new connection while the call is still held, so a
        // load balancer passes the next one to another replica.
        let address = served.origin.trim_start_matches("http://").to_owned();
        while std::net::TcpStream::connect(&address).is_ok() {
            assert!(
                std::time::Instant::now() < deadline,
                "a stopping replica still takes connections"
            );
            std::thread::yield_now();
        }
        drop(held);
        let (status, answer) = under_way.join().unwrap();
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["result"]["isError"], json!(false), "{answer}");
    });
    let origin = served.origin.clone();
    let status = served.wait();
    assert!(status.success(), "{status:?}");
    assert!(
        ureq::get(format!("{origin}/healthz")).call().is_err(),
        "nothing listens"
    );
}

/// In `serve`, `--account LABEL` gives each person one workspace a label:
/// their own, then `:LABEL`.
#[test]
fn in_serve_a_persons_accounts_are_their_workspace_and_a_label() {
    let (issuer, gateway, api) = (
        FakeIssuer::start(),
        FakeGateway::start(),
        FakeUpstream::start(),
    );
    let (alice, served) = Served::with_two_accounts(&issuer, &gateway, &api);
    let token = token(&issuer, &served, "alice");
    let user = format!("{}/user", api.url());
    for (label, credential) in [("home", "gho_alice_home"), ("work", "gho_alice_work")] {
        let arguments = json!({"provider": "github", "url": user, "account": label});
        let (status, answer) = served.call(&token, "authenticated_fetch", arguments);
        assert_eq!(
            (status, &answer["result"]["isError"]),
            (200, &json!(false)),
            "{answer}"
        );
        let sent = api.last_request().unwrap();
        assert_eq!(
            sent.header("authorization"),
            Some(format!("Bearer {credential}").as_str())
        );
    }
    let (_, answer) = served.call(&token, "authenticated_fetch", fetch(&user));
    assert!(
        text(&answer["result"]).contains("`account` is required"),
        "{answer}"
    );
    assert!(!answer.to_string().contains(&alice));
}
