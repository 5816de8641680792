//! `serve` for the people who run it, through the built program: secrets
//! mounted as files, readiness apart from liveness, and what a refusal
//! tells the operator.

mod common;

use std::path::PathBuf;

use common::served::{Served, command, fakes, free_port, workspace_of};
use nexus_gateway_fake::{
    FakeGateway, FakeIssuer, FakeProvider, FakeToken, FakeUpstream, Fault, Route,
};
use serde_json::{Value, json};

/// Each secret variable `serve` reads and its `_FILE` twin.
const SECRETS: [(&str, &str); 5] = [
    ("NEXUS_API_KEY", "NEXUS_API_KEY_FILE"),
    ("NEXUS_MCP_STATE_KEY", "NEXUS_MCP_STATE_KEY_FILE"),
    ("NEXUS_MCP_STATE_KEYS", "NEXUS_MCP_STATE_KEYS_FILE"),
    (
        "NEXUS_MCP_LOGIN_CLIENT_SECRET",
        "NEXUS_MCP_LOGIN_CLIENT_SECRET_FILE",
    ),
    (
        "NEXUS_MCP_INTROSPECTION_CLIENT_SECRET",
        "NEXUS_MCP_INTROSPECTION_CLIENT_SECRET_FILE",
    ),
];

/// A directory for a test's secret files, removed when it is dropped.
fn secrets() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("nexus-mcp-secrets-")
        .tempdir();
    dir.expect("a directory for the secrets")
}

/// A file holding `text`, in `dir`.
fn secret_file(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn every_secret_may_come_from_a_file_its_trailing_line_break_trimmed() {
    let dir = secrets();
    let issuer = FakeIssuer::start();
    issuer.add_confidential_client("introspector", "http://127.0.0.1/unused", "intro-secret");
    let (gateway, api) = (FakeGateway::start(), FakeUpstream::start());
    gateway.require_api_key("sk_from_a_file");
    let github = FakeProvider::oauth2("gho_alice").api_base_url(&api.url());
    gateway.add_provider(&workspace_of(&issuer.url(), "alice"), "github", github);
    let port = free_port();
    let args = ["--introspection-client-id", "introspector"];
    let child = command(&gateway, &issuer.url(), port, &args)
        .env_remove("NEXUS_MCP_STATE_KEY")
        .env(
            "NEXUS_API_KEY_FILE",
            secret_file(&dir, "api", "sk_from_a_file\n"),
        )
        .env(
            "NEXUS_MCP_STATE_KEYS_FILE",
            secret_file(&dir, "ring", "k1:a-sealing-key-of-at-least-32-bytes!!\r\n"),
        )
        .env(
            "NEXUS_MCP_INTROSPECTION_CLIENT_SECRET_FILE",
            secret_file(&dir, "intro", "intro-secret\n"),
        )
        .spawn()
        .unwrap();
    let served = Served::ready(child, port);
    let opaque = issuer.mint_opaque(&FakeToken::new("alice").audience(&served.resource));
    let (status, answer) = served.call(&opaque, "list_providers", json!({}));
    assert_eq!(status, 200, "{answer}");
    let listed = answer["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or("");
    assert!(listed.contains("github"), "{answer}: {}", served.said());
    assert_eq!(issuer.introspections(), 1);
    assert!(
        !served.said().contains("sk_from_a_file"),
        "{}",
        served.said()
    );
}

#[test]
fn a_secret_and_its_file_both_set_or_a_file_that_cannot_be_read_is_a_usage_error() {
    let dir = secrets();
    let (issuer, gateway) = (FakeIssuer::start(), FakeGateway::start());
    let args = [
        "--connect",
        "github",
        "--login-client-id",
        "login",
        "--introspection-client-id",
        "introspector",
    ];
    let run = |set: &[(&str, &str)], unset: Option<&str>| {
        let mut serve = command(&gateway, &issuer.url(), free_port(), &args);
        serve.env("NEXUS_MCP_LOGIN_CLIENT_SECRET", "login-secret");
        serve.env("NEXUS_MCP_INTROSPECTION_CLIENT_SECRET", "intro-secret");
        if let Some(unset) = unset {
            serve.env_remove(unset);
        }
        let out = serve.envs(set.iter().copied()).output().unwrap();
        let said = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.code(), said)
    };
    let held = secret_file(&dir, "held", "a-sealing-key-of-at-least-32-bytes!!\n");
    let held = held.to_str().unwrap();
    for (secret, twin) in SECRETS {
        let value = if secret.ends_with("KEYS") {
            "k:a-sealing-key-of-at-least-32-bytes!!"
        } else {
            "a-sealing-key-of-at-least-32-bytes!!"
        };
        let (code, said) = run(&[(secret, value), (twin, held)], None);
        assert_eq!(code, Some(2), "{secret}: {said}");
        assert!(said.contains(secret) && said.contains(twin), "{said}");
        assert!(said.contains("both set"), "{said}");
        let (code, said) = run(&[(twin, "/nonexistent/secret")], Some(secret));
        assert_eq!(code, Some(2), "{twin}: {said}");
        assert!(
            said.contains(twin) && said.contains("/nonexistent/secret"),
            "{said}"
        );
    }
}

/// `GET path` of `served`: the status and the text.
fn probe(served: &Served, path: &str) -> (u16, String) {
    let (status, _, body) = served.get(path);
    (
        status,
        body.as_str().map_or(body.to_string(), str::to_owned),
    )
}

#[test]
fn readiness_needs_the_issuers_keys_and_the_gateway_answering_liveness_does_not() {
    // The Gateway refuses this server's key: alive, not ready, saying only
    // which to anyone (the port is public), why to the operator's log.
    let (issuer, gateway) = (FakeIssuer::start(), FakeGateway::start());
    gateway.require_api_key("sk_right");
    let port = free_port();
    let serve = command(&gateway, &issuer.url(), port, &[])
        .env("NEXUS_API_KEY", "sk_wrong")
        .spawn()
        .unwrap();
    let served = Served::ready(serve, port);
    assert_eq!(probe(&served, "/healthz").0, 200);
    let (status, why) = probe(&served, "/readyz");
    assert_eq!((status, why.as_str()), (503, "not ready: gateway"));
    let said = served.said_once(|said| said.contains("/readyz: not ready (gateway)"));
    assert!(
        said.contains(&gateway.url()),
        "the log names the Gateway: {said}"
    );
    assert!(!said.contains("sk_wrong"), "{said}");
    drop(served);
    // Its key accepted: ready.
    let port = free_port();
    let serve = command(&gateway, &issuer.url(), port, &[])
        .env("NEXUS_API_KEY", "sk_right")
        .spawn()
        .unwrap();
    let served = Served::ready(serve, port);
    assert_eq!(probe(&served, "/readyz"), (200, "ready".to_owned()));
    drop(served);
    // The issuer down: alive, not ready, naming the issuer.
    issuer.set_down(true);
    let port = free_port();
    let serve = command(&gateway, &issuer.url(), port, &[])
        .env("NEXUS_API_KEY", "sk_right")
        .spawn()
        .unwrap();
    let served = Served::ready(serve, port);
    assert_eq!(probe(&served, "/healthz").0, 200);
    let (status, why) = probe(&served, "/readyz");
    assert_eq!((status, why.as_str()), (503, "not ready: issuer"));
    served.said_once(|said| said.contains("/readyz: not ready (issuer)"));
}

#[test]
fn a_public_url_without_a_path_is_a_usage_error_not_a_panic() {
    let (issuer, gateway) = (FakeIssuer::start(), FakeGateway::start());
    for public in [
        "http://127.0.0.1:8080",
        "http://127.0.0.1:8080/",
        "https://mcp.example.com",
    ] {
        let out = command(
            &gateway,
            &issuer.url(),
            free_port(),
            &["--public-url", public],
        )
        .output()
        .unwrap();
        let said = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{public}: {said}");
        assert!(
            said.contains("--public-url") && said.contains("path"),
            "{said}"
        );
        assert!(!said.contains("panicked"), "{said}");
    }
}

/// A `list_providers` call to `served` with `headers` added.
fn call_with(served: &Served, token: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let bearer = format!("Bearer {token}");
    let mut all = vec![
        ("Authorization", bearer.as_str()),
        ("MCP-Protocol-Version", "2026-07-28"),
        ("Mcp-Method", "tools/call"),
        ("Mcp-Name", "list_providers"),
    ];
    all.extend_from_slice(headers);
    let body = common::served::call("list_providers", json!({}), "2026-07-28");
    let (status, _, answer) = served.post(&all, &body);
    (
        status,
        answer.as_str().map_or(answer.to_string(), str::to_owned),
    )
}

#[test]
fn the_host_and_the_origin_are_checked_with_their_port_and_the_refusal_says_what_was_expected() {
    let (issuer, gateway) = (FakeIssuer::start(), FakeGateway::start());
    let allowed = ["--allowed-origin", "https://app.example.com"];
    let served = Served::start(&gateway, &issuer, &allowed);
    let token = common::served::token(&issuer, &served, "alice");
    let port: u16 = served.origin.rsplit(':').next().unwrap().parse().unwrap();
    let other_port = format!("127.0.0.1:{}", port.wrapping_add(1));
    let (status, why) = call_with(&served, &token, &[("Host", &other_port)]);
    assert_eq!(status, 403, "{why}");
    assert!(
        why.contains(&served.origin),
        "names the expected host: {why}"
    );
    let said = served.said_once(|s| s.contains("refused a request: Host"));
    assert!(
        said.contains(&other_port) && said.contains("proxy_set_header Host"),
        "{said}"
    );
    for origin in [
        "https://app.example.com:8443",
        "http://app.example.com",
        "null",
    ] {
        let (status, why) = call_with(&served, &token, &[("Origin", origin)]);
        assert_eq!(status, 403, "{origin}: {why}");
        assert!(why.contains("https://app.example.com"), "{why}");
    }
    for origin in ["https://app.example.com", "https://app.example.com:443"] {
        let (status, why) = call_with(&served, &token, &[("Origin", origin)]);
        assert_eq!(status, 200, "{origin}: {why}");
    }
    assert_eq!(call_with(&served, &token, &[]).0, 200);
}

#[test]
fn a_flood_of_hosts_or_token_types_each_of_its_own_is_a_line_a_period_not_a_line_each() {
    let (issuer, gateway) = (FakeIssuer::start(), FakeGateway::start());
    let served = Served::start(&gateway, &issuer, &[]);
    let token = common::served::token(&issuer, &served, "alice");
    let started = std::time::Instant::now();
    for i in 0..40 {
        let host = format!("attacker-{i}.example");
        let (status, why) = call_with(&served, &token, &[("Host", &host)]);
        assert_eq!(status, 403, "{why}");
        let typed = FakeToken::new("alice").audience(&served.resource);
        let typed = issuer.mint(&typed.typ(&format!("x-{i}+jwt")));
        let (status, why) = call_with(&served, &typed, &[]);
        assert_eq!(status, 401, "{why}");
    }
    // Said after them all: once it is written, so are theirs.
    let (status, why) = call_with(&served, &token, &[("Origin", "https://marker.example")]);
    assert_eq!(status, 403, "{why}");
    let said = served.said_once(|s| s.contains("marker.example"));
    // One line a reason every 10 s: as many periods as the loop took.
    let periods = 1 + started.elapsed().as_secs() / 10;
    let lines = |what: &str| said.lines().filter(|l| l.contains(what)).count() as u64;
    let hosts = lines("refused a request: Host");
    let types = lines("is not an access token's (at+jwt)");
    assert!(
        hosts <= periods && types <= periods,
        "{hosts}, {types}: {said}"
    );
    assert!(
        said.contains("typ \"x-0+jwt\""),
        "the first says its type: {said}"
    );
}

#[test]
fn a_refused_token_tells_the_operator_what_differs_once_per_reason_and_never_the_token() {
    let (issuer, gateway) = (FakeIssuer::start(), FakeGateway::start());
    let served = Served::start(&gateway, &issuer, &[]);
    let elsewhere = FakeToken::new("alice@example.com").audience("https://other.example.com/mcp");
    let elsewhere = issuer.mint(&elsewhere);
    for _ in 0..5 {
        assert_eq!(call_with(&served, &elsewhere, &[]).0, 401);
    }
    let ahead = FakeToken::new("bob@example.com")
        .audience(&served.resource)
        .expires_in(-7200);
    let ahead = issuer.mint(&ahead);
    assert_eq!(call_with(&served, &ahead, &[]).0, 401);
    let unknown = FakeToken::new("carol@example.com")
        .audience(&served.resource)
        .key("ec-2");
    assert_eq!(call_with(&served, &issuer.mint(&unknown), &[]).0, 401);
    let said = served.said_once(|s| s.contains("\"ec-2\""));
    let lines: Vec<&str> = said
        .lines()
        .filter(|l| l.contains("refused a token"))
        .collect();
    let aud: Vec<&&str> = lines.iter().filter(|l| l.contains("(aud)")).collect();
    assert_eq!(aud.len(), 1, "one line for five of one reason: {said}");
    assert!(
        aud[0].contains("\"https://other.example.com/mcp\""),
        "{said}"
    );
    assert!(
        aud[0].contains(&format!("(expected {:?})", served.resource)),
        "{said}"
    );
    let expired = lines.iter().find(|l| l.contains("expired")).expect(&said);
    assert!(expired.contains("past this clock's now"), "{expired}");
    assert!(expired.contains("this replica's clock"), "{expired}");
    for secret in [&elsewhere, &ahead] {
        assert!(
            !said.contains(secret.as_str()),
            "a token in the log: {said}"
        );
    }
    assert!(
        !said.contains("@example.com"),
        "a subject in the log: {said}"
    );
}

/// `serve --check` with `args` and `env` against `gateway` and `issuer`:
/// its exit code and what it said.
pub fn checked(
    gateway: &FakeGateway,
    issuer: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> (Option<i32>, String) {
    let mut check = command(gateway, issuer, free_port(), &[args, &["--check"]].concat());
    let out = check.envs(env.iter().copied()).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn serve_check_passes_a_configuration_that_holds_and_names_each_flag_that_does_not() {
    let issuer = FakeIssuer::start();
    let gateway = FakeGateway::start();
    gateway.require_api_key("sk_right");
    let port = free_port();
    issuer.add_client(
        "login",
        &format!("http://127.0.0.1:{port}/connect/callback"),
    );
    issuer.add_confidential_client("introspector", "http://127.0.0.1/unused", "intro-secret");
    let public = format!("http://127.0.0.1:{port}/mcp");
    let args = [
        "--public-url",
        &public,
        "--connect",
        "github",
        "--login-client-id",
        "login",
        "--introspection-client-id",
        "introspector",
    ];
    let right = [
        ("NEXUS_API_KEY", "sk_right"),
        ("NEXUS_MCP_INTROSPECTION_CLIENT_SECRET", "intro-secret"),
    ];
    let (code, said) = checked(&gateway, &issuer.url(), &args, &right);
    assert_eq!(code, Some(0), "{said}");
    assert!(said.contains("the configuration holds"), "{said}");
    // Each wrong in turn: one line, naming what to mend.
    let mut unknown_login = args;
    unknown_login[5] = "nobody";
    let wrong = [
        ("NEXUS_API_KEY", "sk_wrong"),
        ("NEXUS_MCP_INTROSPECTION_CLIENT_SECRET", "not-the-secret"),
    ];
    let (code, said) = checked(&gateway, &issuer.url(), &unknown_login, &wrong);
    assert_eq!(code, Some(2), "{said}");
    let lines: Vec<&str> = said.lines().filter(|l| l.contains("--check:")).collect();
    assert_eq!(lines.len(), 3, "{said}");
    assert!(lines[0].contains("--introspection-client-id"), "{said}");
    assert!(
        lines[1].contains("--login-client-id") && lines[1].contains("invalid_client"),
        "{said}"
    );
    assert!(lines[2].contains("NEXUS_API_KEY"), "{said}");
    assert!(
        !said.contains("sk_wrong") && !said.contains("not-the-secret"),
        "{said}"
    );
    // An issuer whose metadata names it otherwise (a trailing slash).
    let slashed = format!("{}/", issuer.url());
    let (code, said) = checked(&gateway, &slashed, &args, &right);
    assert_eq!(code, Some(2), "{said}");
    assert!(
        said.contains("--issuer") && said.contains("trailing slash"),
        "{said}"
    );
}

#[test]
fn a_denied_person_is_refused_from_the_moment_the_file_is_read_again_at_sighup() {
    let dir = secrets();
    let (issuer, gateway, _api) = fakes(&["alice", "bob"], "gho_x");
    let file = secret_file(&dir, "deny", &format!("# denied\n{} bob\n", issuer.url()));
    let file = file.to_str().unwrap();
    let served = Served::start(&gateway, &issuer, &["--deny-file", file]);
    let alice = common::served::token(&issuer, &served, "alice");
    let bob = common::served::token(&issuer, &served, "bob");
    assert_eq!(call_with(&served, &alice, &[]).0, 200);
    let (status, why) = call_with(&served, &bob, &[]);
    assert_eq!(status, 403, "{why}");
    assert!(why.contains("access_denied"), "{why}");
    // Alice by the who= the log shows; bob no more. Read at SIGHUP.
    let who = &workspace_of(&issuer.url(), "alice")[..12];
    std::fs::write(file, format!("who={who}\n")).unwrap();
    let hangup = std::process::Command::new("kill")
        .args(["-HUP", &served.pid().to_string()])
        .status();
    assert!(hangup.unwrap().success());
    served.said_once(|said| said.contains("SIGHUP: the deny list names 1 people"));
    assert_eq!(call_with(&served, &alice, &[]).0, 403);
    assert_eq!(call_with(&served, &bob, &[]).0, 200);
    let said = served.said();
    assert!(said.contains(&format!("refused who={who}")), "{said}");
    // A line that would deny nobody (another issuer's spelling, a note
    // after the person) is skipped at SIGHUP, said with its line; the
    // file's other lines hold.
    let bob_too = format!("who={who}\n{}/ bob\nbob # the intern\n", issuer.url());
    std::fs::write(file, bob_too).unwrap();
    let hangup = std::process::Command::new("kill")
        .args(["-HUP", &served.pid().to_string()])
        .status();
    assert!(hangup.unwrap().success());
    let said = served.said_once(|said| said.contains("line 3:"));
    assert!(
        said.contains("line 2: the issuer") && said.contains("skipped"),
        "{said}"
    );
    assert_eq!(call_with(&served, &alice, &[]).0, 403);
    // At start, such a file is refused, naming every such line.
    for (text, line) in [
        ("who=alice\n".to_owned(), "line 1"),
        (format!("# denied\n{}/ bob\n", issuer.url()), "line 2"),
        ("# denied\n\nbob # the intern\n".to_owned(), "line 3"),
    ] {
        std::fs::write(file, text).unwrap();
        let out = command(&gateway, &issuer.url(), free_port(), &["--deny-file", file])
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{said}");
        assert!(
            said.contains("--deny-file") && said.contains(line),
            "{said}"
        );
    }
}

#[test]
fn past_the_person_rate_a_call_is_a_tool_error_naming_the_wait_and_sends_nothing() {
    let (issuer, gateway, api) = fakes(&["alice", "bob"], "gho_x");
    let served = Served::start(&gateway, &issuer, &["--person-rate", "2"]);
    let alice = common::served::token(&issuer, &served, "alice");
    let bob = common::served::token(&issuer, &served, "bob");
    let fetch = json!({"provider": "github", "url": format!("{}/user", api.url())});
    let fetch_as = |token: &str| served.call(token, "authenticated_fetch", fetch.clone());
    for _ in 0..2 {
        let (_, answer) = fetch_as(&alice);
        assert_eq!(answer["result"]["isError"], false, "{answer}");
    }
    let resolved = gateway.requests(Route::Resolve);
    let (status, answer) = fetch_as(&alice);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["result"]["isError"], true, "{answer}");
    let said = answer["result"]["content"][0]["text"].as_str().unwrap();
    assert!(
        said.contains("rate_limited") || said.contains("2 tool calls a minute"),
        "{said}"
    );
    assert!(said.contains(" s"), "names the wait: {said}");
    assert_eq!(api.request_count(), 2, "nothing sent past the rate");
    assert_eq!(
        gateway.requests(Route::Resolve),
        resolved,
        "the Gateway not asked"
    );
    let (_, answer) = fetch_as(&bob);
    assert_eq!(
        answer["result"]["isError"], false,
        "bob is unaffected: {answer}"
    );
}

#[test]
fn json_log_lines_are_one_object_each_and_a_call_names_its_fields_apart() {
    let (issuer, gateway, api) = fakes(&["alice"], "gho_alice_secret");
    let served = Served::start(&gateway, &issuer, &["--log-format", "json"]);
    let alice = common::served::token(&issuer, &served, "alice");
    let fetch = json!({"provider": "github", "url": format!("{}/user?q=secret-query", api.url())});
    let (_, answer) = served.call(&alice, "authenticated_fetch", fetch);
    assert_eq!(answer["result"]["isError"], false, "{answer}");
    let said = served.said_once(|said| said.contains("\"provider\":\"github\""));
    let lines: Vec<serde_json::Value> = said
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    let call = (lines.iter())
        .find(|line| line["target"] == "nexus_mcp::call")
        .expect(&said);
    let who = &workspace_of(&issuer.url(), "alice")[..12];
    assert_eq!(call["who"], who, "{call}");
    assert_eq!(call["provider"], "github", "{call}");
    assert_eq!(call["method"], "GET", "{call}");
    assert_eq!(
        call["host"],
        api.url().trim_start_matches("http://"),
        "{call}"
    );
    assert_eq!(call["status"], 200, "{call}");
    assert_eq!(call["outcome"], "answered", "{call}");
    assert!(
        call["bytes"].as_u64().is_some() && call["ms"].as_u64().is_some(),
        "{call}"
    );
    assert!(call["client"].is_string(), "{call}");
    for secret in ["gho_alice_secret", "secret-query", alice.as_str()] {
        assert!(!said.contains(secret), "{secret} in the log: {said}");
    }
    assert!(
        !said.contains(&workspace_of(&issuer.url(), "alice")),
        "a workspace: {said}"
    );
}

#[test]
fn a_link_or_state_from_a_replica_with_another_keyring_is_refused_saying_so() {
    use common::served::{Browser, connect_replica, link_and_state, retried};
    let (issuer, gateway, api) = fakes(&[], "gho_other");
    let start = |ring| connect_replica(&gateway, &issuer, ("NEXUS_MCP_STATE_KEYS", ring));
    let first = start("k-2026-11:a-sealing-key-of-at-least-32-bytes!!");
    let second = start("k-2026-10:another-sealing-key-of-32-bytes-or-more");
    let alice = common::served::token(&issuer, &first, "alice");
    let url = format!("{}/user", api.url());
    let (link, state) = link_and_state(&first, &alice, &url);
    // The link, opened at the other replica: the person told what to do,
    // the operator which key is missing.
    let elsewhere = link.replace(&first.origin, &second.origin);
    let (status, _, page) = Browser::new().open(&elsewhere);
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("another server of this service"), "{page}");
    second.said_once(|said| {
        said.contains("key id \"k-2026-11\", which this replica's keyring (k-2026-10) lacks")
    });
    // The requestState, retried at the other replica.
    let alice_there = common::served::token(&issuer, &second, "alice");
    let refused = retried(&second, &alice_there, &state, &url);
    assert!(refused.contains("another replica"), "{refused}");
    second.said_once(|said| {
        said.contains("refused a requestState sealed under key id \"k-2026-11\"")
    });
}

#[test]
fn a_proxy_saying_https_to_an_http_public_url_is_a_configuration_error_said_once() {
    let (issuer, gateway) = (FakeIssuer::start(), FakeGateway::start());
    let served = Served::start(&gateway, &issuer, &[]);
    let token = common::served::token(&issuer, &served, "alice");
    for headers in [
        &[("X-Forwarded-Proto", "https")][..],
        &[("Forwarded", "for=10.0.0.1;proto=https")],
    ] {
        assert_eq!(call_with(&served, &token, headers).0, 200);
    }
    let said = served.said_once(|said| said.contains("configuration: a proxy in front"));
    assert_eq!(
        said.matches("configuration: a proxy in front").count(),
        1,
        "{said}"
    );
    assert!(
        said.contains(&served.resource) && said.contains("--public-url"),
        "{said}"
    );
}

#[test]
fn a_failure_only_the_operator_can_mend_tells_the_model_so_and_the_log_the_detail() {
    let (issuer, gateway, api) = fakes(&["alice"], "gho_alice");
    gateway.require_api_key("sk_right");
    let port = free_port();
    let serve = command(&gateway, &issuer.url(), port, &[])
        .env("NEXUS_API_KEY", "sk_wrong")
        .spawn()
        .unwrap();
    let served = Served::ready(serve, port);
    let alice = common::served::token(&issuer, &served, "alice");
    let fetch = json!({"provider": "github", "url": format!("{}/user", api.url())});
    let gateway_url = gateway.url();
    let gateway_host = gateway_url
        .trim_end_matches('/')
        .trim_start_matches("http://");
    for (tool, arguments) in [
        ("authenticated_fetch", fetch.clone()),
        ("list_providers", json!({})),
    ] {
        let (_, answer) = served.call(&alice, tool, arguments);
        assert_eq!(answer["result"]["isError"], true, "{answer}");
        let said = answer["result"]["content"][0]["text"].as_str().unwrap();
        assert!(said.contains("credential service"), "{tool}: {said}");
        assert!(said.contains("operator"), "{tool}: {said}");
        assert!(
            !said.contains("NEXUS_"),
            "a variable, for the model: {said}"
        );
        assert!(
            !said.contains(gateway_host),
            "the Gateway's URL, for the model: {said}"
        );
    }
    let logged = served.said_once(|s| s.contains("cannot reach its credential service"));
    assert!(
        logged.contains("NEXUS_API_KEY") || logged.contains("401"),
        "{logged}"
    );
    assert!(!logged.contains("sk_wrong"), "{logged}");
    // The Gateway gone: the same class, for the model and the log.
    drop(gateway);
    let (_, answer) = served.call(&alice, "list_providers", json!({}));
    let said = answer["result"]["content"][0]["text"].as_str().unwrap();
    assert!(said.contains("credential service"), "{said}");
    assert!(
        !said.contains(gateway_host) && !said.contains("NEXUS_"),
        "{said}"
    );
}

/// What the model reads of a failed call, and that it says the credential
/// service failed without naming where it is or what to set.
fn told_the_credential_service(
    served: &Served,
    token: &str,
    tool: &str,
    args: Value,
    gateway: &str,
) {
    let (_, answer) = served.call(token, tool, args);
    assert_eq!(answer["result"]["isError"], true, "{answer}");
    let said = answer["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or("");
    assert!(
        said.starts_with("credential_service_unavailable: "),
        "{tool}: {said}"
    );
    let host = gateway.trim_start_matches("http://");
    assert!(
        !said.contains(host) && !said.contains("NEXUS_"),
        "{tool}: {said}"
    );
}

#[test]
fn every_form_of_a_gateway_failure_is_the_credential_services_for_the_model_at_every_call_to_it() {
    let (issuer, gateway, api) = fakes(&["alice"], "gho_alice");
    let served = Served::start(&gateway, &issuer, &["--timeout", "1"]);
    let alice = common::served::token(&issuer, &served, "alice");
    let fetch = json!({"provider": "github", "url": format!("{}/user", api.url())});
    // Closed unanswered, cut mid-answer, not JSON, not HTTP, too large, its
    // rate limit, a status no contract gives, and no answer within --timeout: the listing and the resolve before a request.
    let faults = || {
        [
            Fault::Close,
            Fault::TruncatedBody,
            Fault::NotJson,
            Fault::Garbage,
            Fault::Oversized(2 << 20),
            Fault::status(429),
            Fault::body(418, Some("text/plain"), "a status no contract gives"),
            Fault::Hang,
        ]
    };
    for (route, tool, args) in [
        (Route::ProvidersMetadata, "list_providers", json!({})),
        (Route::Resolve, "authenticated_fetch", fetch.clone()),
    ] {
        for fault in faults() {
            gateway.clear_faults();
            gateway.push_fault_for(route, fault);
            told_the_credential_service(&served, &alice, tool, args.clone(), &gateway.url());
        }
    }
    // The resolve after the API refused a token, inside the request.
    let refusing = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let refuses = std::sync::Arc::clone(&refusing);
    api.verify_with(move |_| !refuses.load(std::sync::atomic::Ordering::SeqCst));
    for fault in faults() {
        gateway.clear_faults();
        let (_, answer) = served.call(&alice, "authenticated_fetch", fetch.clone());
        assert_eq!(answer["result"]["isError"], false, "a token kept: {answer}");
        refusing.store(true, std::sync::atomic::Ordering::SeqCst);
        gateway.push_fault_for(Route::Resolve, fault);
        told_the_credential_service(
            &served,
            &alice,
            "authenticated_fetch",
            fetch.clone(),
            &gateway.url(),
        );
        refusing.store(false, std::sync::atomic::Ordering::SeqCst);
    }
    let logged = served.said();
    assert_eq!(
        logged
            .matches("cannot reach its credential service")
            .count(),
        24,
        "each failure's detail in the log: {logged}"
    );
    // The API's own failures stay the model's to read.
    drop(api);
    let (_, answer) = served.call(&alice, "authenticated_fetch", fetch);
    let said = answer["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or("");
    assert!(said.contains("the API of provider `github`"), "{said}");
}

#[test]
fn the_operator_finds_the_workspace_to_connect_from_the_issuer_and_subject_and_who_matches_the_log()
{
    let (issuer, gateway, api) = fakes(&[], "gho_someone");
    let served = Served::start(&gateway, &issuer, &[]);
    let subject = "00u1a2b3c4";
    let token = common::served::token(&issuer, &served, subject);
    let fetch = json!({"provider": "github", "url": format!("{}/user", api.url())});
    let (_, answer) = served.call(&token, "authenticated_fetch", fetch.clone());
    assert_eq!(answer["result"]["isError"], true, "{answer}");
    let said = served.said_once(|s| s.contains("connection_not_found"));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_nexus-mcp"))
        .args(["workspace", "--issuer", &issuer.url(), "--subject", subject])
        .env_remove("NEXUS_GATEWAY_URL")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let workspace = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let who = String::from_utf8(out.stderr).unwrap().trim().to_owned();
    assert!(said.contains(&who), "the log's {who}: {said}");
    assert!(
        !said.contains(&workspace),
        "the log names no workspace: {said}"
    );
    // What `nexus connect WORKSPACE github` makes: the call now answers.
    let github = FakeProvider::oauth2("gho_theirs").api_base_url(&api.url());
    gateway.add_provider(&workspace, "github", github);
    let (_, answer) = served.call(&token, "authenticated_fetch", fetch);
    assert_eq!(answer["result"]["isError"], false, "{answer}");
}

#[test]
fn sighup_reads_the_keyring_file_again_and_links_follow_it_without_a_restart() {
    let dir = secrets();
    use common::served::{Browser, CLIENT, call_asking};
    let (issuer, gateway, api) = fakes(&[], "gho_other");
    let ring = secret_file(
        &dir,
        "ring-hup",
        "old:an-old-sealing-key-of-32-bytes-or-more\n",
    );
    let port = free_port();
    issuer.add_client(CLIENT, &format!("http://127.0.0.1:{port}/connect/callback"));
    let args = ["--connect", "github", "--login-client-id", CLIENT];
    let mut serve = command(&gateway, &issuer.url(), port, &args);
    serve
        .env_remove("NEXUS_MCP_STATE_KEY")
        .env("NEXUS_MCP_STATE_KEYS_FILE", &ring);
    let served = Served::ready(serve.spawn().unwrap(), port);
    let link_for = |person: &str| {
        let token = common::served::token(&issuer, &served, person);
        let url = format!("{}/user", api.url());
        let extra = json!({"arguments": {"provider": "github", "url": url}});
        let asked = call_asking(
            &served,
            &token,
            json!({"elicitation": {"url": {}}}),
            extra,
            &[],
        );
        let link = &asked["result"]["inputRequests"]["connect-github"]["params"]["url"];
        link.as_str()
            .unwrap_or_else(|| panic!("{asked}"))
            .to_owned()
    };
    let hangup = |expected: &str| {
        let sent = std::process::Command::new("kill")
            .args(["-HUP", &served.pid().to_string()])
            .status();
        assert!(sent.unwrap().success());
        served.said_once(|said| said.lines().any(|line| line.ends_with(expected)));
    };
    let page = format!("{}/connect/", served.origin);
    let before = link_for("alice");
    assert!(
        before.starts_with(&format!("{page}b2xk.")),
        "sealed under `old`: {before}"
    );
    // The new key first opens, then seals: no restart, the old link still opens.
    std::fs::write(
        &ring,
        "new:a-new-sealing-key-of-32-bytes-or-more!!,old:an-old-sealing-key-of-32-bytes-or-more\n",
    )
    .unwrap();
    hangup("SIGHUP: the keyring holds new, old");
    let after = link_for("bob");
    assert!(
        after.starts_with(&format!("{page}bmV3.")),
        "sealed under `new`: {after}"
    );
    assert_eq!(
        Browser::new().open(&before).0,
        303,
        "the old link still opens"
    );
    // The old key dropped: its link is refused, the log naming it.
    std::fs::write(&ring, "new:a-new-sealing-key-of-32-bytes-or-more!!\n").unwrap();
    hangup("SIGHUP: the keyring holds new");
    assert_eq!(Browser::new().open(&before).0, 400);
    served.said_once(|said| {
        said.contains("key id \"old\", which this replica's keyring (new) lacks")
    });
    assert_eq!(Browser::new().open(&after).0, 303);
    // A ring that does not parse leaves the one held.
    std::fs::write(&ring, "no-colon-here\n").unwrap();
    hangup("the keyring held stays");
    assert_eq!(Browser::new().open(&after).0, 303);
}

#[test]
fn a_request_the_protocol_refuses_is_said_in_the_log_with_what_it_sent() {
    let (issuer, gateway) = (FakeIssuer::start(), FakeGateway::start());
    let served = Served::start(&gateway, &issuer, &[]);
    let token = common::served::token(&issuer, &served, "alice");
    // The header names a version the body does not.
    let bearer = format!("Bearer {token}");
    let headers = [
        ("Authorization", bearer.as_str()),
        ("MCP-Protocol-Version", "2025-06-18"),
        ("Mcp-Method", "tools/call"),
        ("Mcp-Name", "list_providers"),
    ];
    let body = common::served::call("list_providers", json!({}), "2026-07-28");
    let (status, _, why) = served.post(&headers, &body);
    assert_eq!(status, 400, "{why}");
    let said = served.said_once(|said| said.contains("before MCP"));
    assert!(
        said.contains("refused a request (400 Bad Request) before MCP"),
        "{said}"
    );
    assert!(
        said.contains("MCP-Protocol-Version \"2025-06-18\""),
        "{said}"
    );
    assert!(!said.contains(&token), "{said}");
}
