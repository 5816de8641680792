//! Two `nexus-mcp serve` replicas behind a real load balancer (nginx from
//! the distribution's packages, round-robin, no affinity) serve a client
//! as one server: the official Python client logs in and calls through
//! it in both eras, its requests landing on both replicas, and every
//! request any replica gets is checked as the others check it.

mod common;

use common::nginx::Nginx;
use common::served::{
    Browser, CLIENT, STATE_KEY, Served, call_asking, command, free_port, header, workspace_of,
};
use common::text;
use nexus_gateway_fake::{FakeGateway, FakeIssuer, FakeProvider, FakeToken, FakeUpstream};
use serde_json::json;

/// Two replicas on their own ports, both public at `front`, and nginx there.
fn replicas(gateway: &FakeGateway, issuer: &FakeIssuer) -> (Served, Served, Nginx, String) {
    let front = free_port();
    let public = format!("http://127.0.0.1:{front}/mcp");
    let mut started = Vec::new();
    for _ in 0..2 {
        let port = free_port();
        let child = command(gateway, &issuer.url(), port, &["--public-url", &public])
            .env("NEXUS_MCP_STATE_KEY", STATE_KEY)
            .spawn()
            .expect("nexus-mcp");
        started.push((Served::ready(child, port), port));
    }
    let ports: Vec<u16> = started.iter().map(|(_, port)| *port).collect();
    let nginx = Nginx::start(front, &ports);
    let second = started.pop().unwrap().0;
    let first = started.pop().unwrap().0;
    (first, second, nginx, public)
}

/// How many calls a replica's operator trail holds.
fn calls_on(said: &str) -> usize {
    said.lines()
        .filter(|l| l.contains("nexus_mcp::call"))
        .count()
}

#[test]
#[ignore = "needs nginx and the official MCP Python client (.ci/run installs both)"]
fn two_replicas_behind_nginx_serve_one_client_as_one_server() {
    let issuer = FakeIssuer::start();
    let (gateway, api) = (FakeGateway::start(), FakeUpstream::start());
    let github = FakeProvider::oauth2("gho_alice_secret").api_base_url(&api.url());
    gateway.add_provider(&workspace_of(&issuer.url(), "alice"), "github", github);
    let (first, second, _nginx, public) = replicas(&gateway, &issuer);
    let front = Served::front(&public);
    for (era, version) in [
        ("2026", "2026-07-28"),
        ("2025", "2025-11-25"),
        ("2026", "2026-07-28"),
    ] {
        let summary = front.reach(&api.url(), era);
        assert_eq!(summary["version"], version, "{summary}");
        let results = summary["results"].as_array().unwrap();
        assert!(results.iter().all(|r| r["is_error"] == false), "{summary}");
    }
    // Round-robin reached both: each one's audit lines say so (read as they come).
    first.said_once(|said| calls_on(said) > 0);
    second.said_once(|said| calls_on(said) > 0);
    // A token each replica checks the same way; a state one person got is
    // refused for another on either replica, nothing sent.
    let alice = issuer.mint(&FakeToken::new("alice").audience(&public));
    let before = api.request_count();
    for _ in 0..4 {
        let (status, answer) = front.call(&alice, "list_providers", json!({}));
        assert_eq!(status, 200, "{answer}");
        let forged = issuer.mint(&FakeToken::new("alice").audience("https://other.example/mcp"));
        assert_eq!(front.call(&forged, "list_providers", json!({})).0, 401);
    }
    assert_eq!(api.request_count(), before);
}

/// A call held for consent on one replica is answered on another, whose
/// sealing key has rotated since (the new key seals, the old one still
/// opens): the link opens through the load balancer on whichever replica,
/// and the retry carries the state the first replica sealed. A 2025 client
/// that declared URL elicitation to one replica meets `-32042` on the other.
#[test]
#[ignore = "needs nginx (.ci/run installs it)"]
fn a_held_call_is_answered_on_another_replica_after_a_key_rotation() {
    let issuer = FakeIssuer::start();
    let (gateway, api) = (FakeGateway::start(), FakeUpstream::start());
    let github = FakeProvider::oauth2("gho_someone_else").api_base_url(&api.url());
    gateway.add_provider("ws-other", "github", github);
    let front = free_port();
    let public = format!("http://127.0.0.1:{front}/mcp");
    issuer.add_client(
        CLIENT,
        &format!("http://127.0.0.1:{front}/connect/callback"),
    );
    let old = "an-old-sealing-key-of-32-bytes-or-more";
    let new = "a-new-sealing-key-of-32-bytes-or-more!";
    let args = [
        "--public-url",
        &public,
        "--connect",
        "github",
        "--login-client-id",
        CLIENT,
    ];
    let start = |keys: Option<String>| {
        let port = free_port();
        let mut command = command(&gateway, &issuer.url(), port, &args);
        command.env("NEXUS_MCP_STATE_KEY", old);
        if let Some(keys) = keys {
            command
                .env_remove("NEXUS_MCP_STATE_KEY")
                .env("NEXUS_MCP_STATE_KEYS", keys);
        }
        (Served::ready(command.spawn().unwrap(), port), port)
    };
    // Mid-rotation, as the guide rolls it out: the first replica knows the
    // new key but still seals with the old; the second seals with the new.
    let (before, first_port) = start(Some(format!("default:{old},new:{new}")));
    let (after, second_port) = start(Some(format!("new:{new},default:{old}")));
    let _nginx = Nginx::start(front, &[first_port, second_port]);
    let alice = issuer.mint(&FakeToken::new("alice").audience(&public));
    let host = format!("127.0.0.1:{front}");
    let arguments = json!({"provider": "github", "url": format!("{}/user", api.url())});
    let asks_url = json!({"elicitation": {"url": {}}});
    let extra = json!({"arguments": arguments});
    let first = call_asking(&before, &alice, asks_url.clone(), extra, &[("Host", &host)]);
    let result = &first["result"];
    let link = result["inputRequests"]["connect-github"]["params"]["url"].as_str();
    let link = link.unwrap_or_else(|| panic!("{first}")).to_owned();
    assert!(
        link.starts_with(&format!("http://{host}/connect/")),
        "{link}"
    );
    let state = result["requestState"].as_str().unwrap().to_owned();
    let (status, consent, page) = Browser::new().open_as(&issuer, "alice", &link);
    assert_eq!(status, 302, "{page}");
    assert_eq!(Browser::new().open(&consent.unwrap()).0, 200);
    let retry = json!({"arguments": arguments, "requestState": state,
        "inputResponses": {"connect-github": {"action": "accept"}}});
    let answered = call_asking(&after, &alice, asks_url, retry, &[("Host", &host)]);
    assert_eq!(answered["result"]["isError"], json!(false), "{answered}");
    assert!(
        text(&answered["result"]).starts_with("HTTP 200"),
        "{answered}"
    );
    // The second replica answered: its audit line says so (read as it comes).
    after.said_once(|said| said.contains("GET http"));
    // A 2025 client that declared URL elicitation to one replica meets
    // `-32042` on the other: its session id says what it declared.
    let bob = format!(
        "Bearer {}",
        issuer.mint(&FakeToken::new("bob").audience(&public))
    );
    let params = json!({"protocolVersion": "2025-11-25", "capabilities":
        {"elicitation": {"url": {}}}, "clientInfo": {"name": "t", "version": "1"}});
    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": params});
    let (_, headers, _) = before.post(&[("Authorization", &bob), ("Host", &host)], &initialize);
    let session = header(&headers, "mcp-session-id").expect("a session id");
    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "authenticated_fetch", "arguments": arguments}});
    let versioned = [
        ("Authorization", bob.as_str()),
        ("Host", host.as_str()),
        ("MCP-Protocol-Version", "2025-11-25"),
        ("Mcp-Session-Id", session),
    ];
    let (_, _, refused) = after.post(&versioned, &call);
    assert_eq!(refused["error"]["code"], json!(-32042), "{refused}");
}

/// Two replicas behind nginx, configured as the guide's block (nginx's
/// default retry rules), under a steady stream of calls: each is stopped
/// (SIGTERM) and started again in turn, the next stopped once the balancer
/// sends the restarted one calls again, and every call is answered, none
/// with an error. A stopping replica takes no new connection (nginx passes
/// a refused one to the other) and answers what it accepted.
#[test]
#[ignore = "needs nginx (.ci/run installs it)"]
fn a_rolling_restart_answers_every_call_without_an_error() {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let (issuer, gateway, api) = (
        FakeIssuer::start(),
        FakeGateway::start(),
        FakeUpstream::start(),
    );
    let github = FakeProvider::oauth2("gho_alice").api_base_url(&api.url());
    gateway.add_provider(&workspace_of(&issuer.url(), "alice"), "github", github);
    let front = free_port();
    let public = format!("http://127.0.0.1:{front}/mcp");
    let ports = [free_port(), free_port()];
    let start = |port: u16| {
        let mut child = command(&gateway, &issuer.url(), port, &["--public-url", &public]);
        Served::ready(child.spawn().expect("nexus-mcp"), port)
    };
    let mut replicas: Vec<Option<Served>> = ports.iter().map(|p| Some(start(*p))).collect();
    let _nginx = Nginx::start(front, &ports);
    let through = Served::front(&public);
    let alice = issuer.mint(&FakeToken::new("alice").audience(&public));
    let arguments = json!({"provider": "github", "url": format!("{}/user", api.url())});
    let (stop, answered) = (AtomicBool::new(false), AtomicUsize::new(0));
    let failed = Mutex::new(Vec::new());
    // Waits until `more` calls were answered after now (an event, bounded).
    let answered_more = |more: usize| {
        let target = answered.load(Ordering::SeqCst) + more;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        while answered.load(Ordering::SeqCst) < target {
            assert!(std::time::Instant::now() < deadline, "the calls stopped");
            std::thread::yield_now();
        }
    };
    std::thread::scope(|scope| {
        for _ in 0..3 {
            scope.spawn(|| {
                while !stop.load(Ordering::SeqCst) {
                    let (status, body) =
                        through.call(&alice, "authenticated_fetch", arguments.clone());
                    if status != 200 || body["result"]["isError"] != json!(false) {
                        failed.lock().unwrap().push(format!("{status}: {body}"));
                    }
                    answered.fetch_add(1, Ordering::SeqCst);
                }
            });
        }
        answered_more(20);
        for (slot, port) in replicas.iter_mut().zip(ports) {
            let stopping = slot.take().expect("a replica");
            let terminated = std::process::Command::new("kill")
                .args(["-TERM", &stopping.pid().to_string()])
                .status();
            assert!(terminated.expect("kill").success());
            assert!(stopping.wait().success(), "it stops cleanly");
            answered_more(20);
            // Back: the balancer sends it calls again once it is ready and
            // nginx's fail_timeout has passed (the operator's next step waits
            // for that, as the guide says), then the next one may stop.
            let back = start(port);
            back.said_once(|said| said.contains("GET http"));
            *slot = Some(back);
            answered_more(20);
        }
        stop.store(true, Ordering::SeqCst);
    });
    let failed = failed.into_inner().unwrap();
    let total = answered.load(Ordering::SeqCst);
    assert!(
        failed.is_empty(),
        "{} of {total} failed: {failed:?}",
        failed.len()
    );
}
