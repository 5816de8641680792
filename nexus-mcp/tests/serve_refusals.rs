//! What bad input gets from `nexus-mcp serve`, the built program: each
//! refusal before rmcp sees the request (401, 403, 431, 503) or at start,
//! naming the flag. Never a panic, never a token in an answer or a line.

mod common;

use common::served::{Served, command, free_port, header, token, workspace_of};
use common::text;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use nexus_gateway_fake::{FakeGateway, FakeIssuer, FakeProvider, FakeToken, FakeUpstream};
use serde_json::{Value, json};

fn setup(args: &[&str]) -> (FakeIssuer, FakeGateway, FakeUpstream, Served) {
    let issuer = FakeIssuer::start();
    let (gateway, api) = (FakeGateway::start(), FakeUpstream::start());
    let github = FakeProvider::oauth2("gho_alice_secret").api_base_url(&api.url());
    gateway.add_provider(&workspace_of(&issuer.url(), "alice"), "github", github);
    let served = Served::start(&gateway, &issuer, args);
    (issuer, gateway, api, served)
}

/// The status and the answer of `list_providers` as `token`.
fn listed(served: &Served, token: &str) -> (u16, Value) {
    served.call(token, "list_providers", json!({}))
}

fn invalid(served: &Served, token: &str, why: &str) {
    let (status, answer) = listed(served, token);
    assert_eq!(status, 401, "{why}: {answer}");
    assert_eq!(answer["error"], json!("invalid_token"), "{why}: {answer}");
    assert!(
        !answer.to_string().contains(token),
        "the token is never echoed"
    );
}

#[test]
fn a_token_of_another_time_audience_or_issuer_is_401() {
    let (issuer, _gateway, _api, served) = setup(&[]);
    let alice = || FakeToken::new("alice").audience(&served.resource);
    invalid(&served, &issuer.mint(&alice().expires_in(-120)), "expired");
    invalid(
        &served,
        &issuer.mint(&alice().not_before_in(600)),
        "not yet valid",
    );
    let elsewhere = FakeToken::new("alice").audience("https://other.example/mcp");
    invalid(&served, &issuer.mint(&elsewhere), "another audience");
    invalid(
        &served,
        &issuer.mint(&FakeToken::new("alice")),
        "no audience",
    );
    invalid(
        &served,
        &issuer.mint(&alice().issuer("https://evil.example")),
        "another issuer",
    );
    invalid(&served, "not.a.jws", "not a JWS");
    // Within the minute's leeway, a token just expired still passes.
    let (status, _) = listed(&served, &issuer.mint(&alice().expires_in(-5)));
    assert_eq!(status, 200);
    let lines = served.said();
    assert!(!lines.contains("panicked"), "{lines}");
}

#[test]
fn no_token_none_and_hmac_forgeries_and_a_token_in_the_url_are_401() {
    let (issuer, _gateway, _api, served) = setup(&[]);
    let valid = token(&issuer, &served, "alice");
    let claims: Value = {
        let payload = valid.split('.').nth(1).unwrap();
        use base64::Engine as _;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    };
    // `alg: none`, with the claims of a valid token and no signature.
    let none = {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let head = b64.encode(r#"{"alg":"none","typ":"JWT","kid":"ec-1"}"#);
        format!("{head}.{}.", b64.encode(claims.to_string()))
    };
    invalid(&served, &none, "alg none");
    // HS256 keyed with what anyone can read: the issuer's JWKS.
    let (_, _, jwks) = Served::get_url(&format!("{}/jwks", issuer.url()));
    let mut head = Header::new(Algorithm::HS256);
    head.kid = Some("ec-1".into());
    let key = EncodingKey::from_secret(jwks.to_string().as_bytes());
    let hmac = jsonwebtoken::encode(&head, &claims, &key).unwrap();
    invalid(&served, &hmac, "an HMAC keyed with the public key");
    // No Authorization header: 401 with the challenge alone.
    let (status, headers, _) = served.post(
        &[],
        &common::served::call("list_providers", json!({}), "2026-07-28"),
    );
    assert_eq!(status, 401);
    assert!(
        header(&headers, "www-authenticate")
            .unwrap()
            .starts_with("Bearer resource_metadata=")
    );
    // In the URL: refused, even beside a valid header.
    let url = format!("/mcp?access_token={valid}");
    let (status, _, answer) =
        served.post_to(&url, &[("Authorization", &format!("Bearer {valid}"))]);
    assert_eq!(status, 401, "{answer}");
    assert_eq!(answer["error"], json!("invalid_request"));
    let lines = served.said();
    assert!(!lines.contains(&valid) && !lines.contains(&hmac), "{lines}");
}

#[test]
fn an_unknown_key_refreshes_the_jwks_once_and_a_token_bringing_a_key_is_refused_unfetched() {
    let (issuer, _gateway, _api, served) = setup(&[]);
    let at_start = issuer.jwks_fetches();
    assert_eq!(at_start, 1, "fetched once at start");
    // ec-2 is not published yet: one refresh, however many requests meet it.
    let unknown = issuer.mint(
        &FakeToken::new("alice")
            .audience(&served.resource)
            .key("ec-2"),
    );
    let calls: Vec<u16> = std::thread::scope(|scope| {
        let calls: Vec<_> = (0..8)
            .map(|_| scope.spawn(|| listed(&served, &unknown).0))
            .collect();
        calls.into_iter().map(|call| call.join().unwrap()).collect()
    });
    assert!(calls.iter().all(|s| *s == 401), "{calls:?}");
    assert_eq!(
        issuer.jwks_fetches(),
        at_start + 1,
        "one refresh for the unknown key"
    );
    // Published now, but the set was fetched less than 30 s ago: still refused, no fetch.
    issuer.rotate();
    let rotated = issuer.mint(&FakeToken::new("alice").audience(&served.resource));
    invalid(&served, &rotated, "a key newer than the 30 s refresh");
    assert_eq!(issuer.jwks_fetches(), at_start + 1);
    // A token that brings a key (a jku to fetch) is refused, as every kind
    // of token is (one JWS rule), and the key is never fetched.
    let elsewhere = FakeUpstream::start();
    let jku = FakeToken::new("alice")
        .audience(&served.resource)
        .key("ec-1")
        .jku(&format!("{}/keys", elsewhere.url()));
    invalid(&served, &issuer.mint(&jku), "a key of its own");
    assert_eq!(elsewhere.request_count(), 0);
}

#[test]
fn huge_headers_a_missing_workspace_claim_and_a_bad_origin_or_host_are_refused() {
    let (issuer, _gateway, _api, served) = setup(&["--workspace-claim", "team"]);
    let alice = token(&issuer, &served, "alice");
    let bearer = format!("Bearer {alice}");
    let big = "x".repeat(40 << 10);
    let list = common::served::call("list_providers", json!({}), "2026-07-28");
    let (status, _, _) = served.post(&[("Authorization", &bearer), ("X-Big", &big)], &list);
    assert_eq!(status, 431);
    // A body past 1 MiB: 413, whoever sends it.
    let mut huge = list.clone();
    huge["params"]["arguments"] = json!({"padding": "x".repeat(2 << 20)});
    let team = issuer.mint(
        &FakeToken::new("alice")
            .audience(&served.resource)
            .claim("team", json!("t-0")),
    );
    let sized = [
        ("Authorization", format!("Bearer {team}")),
        ("MCP-Protocol-Version", "2026-07-28".to_owned()),
        ("Mcp-Method", "tools/call".to_owned()),
        ("Mcp-Name", "list_providers".to_owned()),
    ];
    let sized: Vec<(&str, &str)> = sized.iter().map(|(n, v)| (*n, v.as_str())).collect();
    assert_eq!(served.post(&sized, &huge).0, 413);
    let (status, answer) = listed(&served, &alice);
    assert_eq!(status, 403, "{answer}");
    assert!(
        answer["error_description"]
            .as_str()
            .unwrap()
            .contains("team"),
        "{answer}"
    );
    let team = issuer.mint(
        &FakeToken::new("alice")
            .audience(&served.resource)
            .claim("team", json!("t-1")),
    );
    assert_eq!(listed(&served, &team).0, 200);
    let bearer = format!("Bearer {team}");
    let head = [
        ("Authorization", bearer.as_str()),
        ("MCP-Protocol-Version", "2026-07-28"),
        ("Mcp-Method", "tools/call"),
        ("Mcp-Name", "list_providers"),
    ];
    let with = |extra: (&'static str, &'static str)| {
        let mut headers = head.to_vec();
        headers.push(extra);
        served.post(&headers, &list).0
    };
    assert_eq!(with(("Origin", "https://evil.example")), 403);
    assert_eq!(with(("Host", "evil.example")), 403);
    // A version in the header other than the body's: 400.
    let mut other = head.to_vec();
    other[1] = ("MCP-Protocol-Version", "2025-11-25");
    assert_eq!(served.post(&other, &list).0, 400);
}

#[test]
fn an_issuer_whose_keys_cannot_be_read_is_503_naming_it_and_the_start_says_so() {
    let issuer = FakeIssuer::start();
    issuer.set_down(true);
    let gateway = FakeGateway::start();
    let served = Served::start(&gateway, &issuer, &[]);
    assert!(
        served
            .said()
            .contains(&format!("the keys of the issuer {}", issuer.url())),
        "{}",
        served.said()
    );
    let alice = token(&issuer, &served, "alice");
    let (status, answer) = listed(&served, &alice);
    assert_eq!(status, 503, "{answer}");
    assert!(
        answer["error_description"]
            .as_str()
            .unwrap()
            .contains(&issuer.url()),
        "{answer}"
    );
    // While it is down, requests do not make the replica call it again
    // (at most once per 30 s, answered or not)...
    let asked = issuer.requests();
    for _ in 0..10 {
        assert_eq!(listed(&served, &alice).0, 503);
    }
    assert_eq!(
        issuer.requests(),
        asked,
        "no call to an issuer that is down"
    );
    // ...and once it answers, the next fetch reads it (within 30 s).
    issuer.set_down(false);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(45);
    while listed(&served, &alice).0 != 200 {
        assert!(std::time::Instant::now() < deadline, "never read again");
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
}

#[test]
fn one_persons_request_state_is_refused_and_nothing_is_sent() {
    let (issuer, _gateway, api, served) = setup(&[]);
    let bob = token(&issuer, &served, "bob");
    let mut call = common::served::call(
        "authenticated_fetch",
        json!({"provider": "github", "url": format!("{}/user", api.url())}),
        "2026-07-28",
    );
    call["params"]["requestState"] = json!("rs2.someone-elses.state");
    call["params"]["inputResponses"] = json!({"connect-github": {"action": "accept"}});
    let bearer = format!("Bearer {bob}");
    let headers = [
        ("Authorization", bearer.as_str()),
        ("MCP-Protocol-Version", "2026-07-28"),
        ("Mcp-Method", "tools/call"),
        ("Mcp-Name", "authenticated_fetch"),
    ];
    let (status, _, answer) = served.post(&headers, &call);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["result"]["isError"], json!(true), "{answer}");
    assert!(text(&answer["result"]).contains("requestState"), "{answer}");
    assert_eq!(api.request_count(), 0, "nothing sent");
}

/// `serve` with `args` (and `env`) refuses to start, saying `said`.
fn refuses(args: &[&str], env: &[(&str, Option<&str>)], said: &str) {
    let gateway = FakeGateway::start();
    let mut command = command(&gateway, "http://127.0.0.1:9/issuer", free_port(), args);
    for (name, value) in env {
        match value {
            Some(value) => command.env(name, value),
            None => command.env_remove(name),
        };
    }
    let output = command.output().expect("nexus-mcp");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(stderr.contains(said), "{args:?}: {stderr}");
    assert!(output.stdout.is_empty());
}

#[test]
fn serve_refuses_to_start_naming_the_flag() {
    refuses(
        &["--public-url", "http://mcp.example.com/mcp"],
        &[],
        "--public-url http://mcp.example.com/mcp: https",
    );
    refuses(
        &["--issuer", "http://login.example.com"],
        &[],
        "--issuer http://login.example.com/: https",
    );
    refuses(
        &[],
        &[("NEXUS_MCP_STATE_KEY", None)],
        "serve needs NEXUS_MCP_STATE_KEY or NEXUS_MCP_STATE_KEYS",
    );
    refuses(
        &[],
        &[("NEXUS_MCP_STATE_KEYS", Some("k1:short"))],
        "NEXUS_MCP_STATE_KEYS: a key of 5 bytes",
    );
    refuses(&["--allowed-origin", "*"], &[], "a wildcard or `null`");
    refuses(
        &["--allowed-origin", "null"],
        &[],
        "--allowed-origin (a URL that does not parse",
    );
    refuses(
        &["--connect", "github"],
        &[],
        "--connect in serve needs --login-client-id",
    );
    refuses(
        &[],
        &[("NEXUS_WORKSPACE_ID", Some("ws-1"))],
        "--workspace (NEXUS_WORKSPACE_ID) does not apply to serve",
    );
    refuses(&["--scope", "a b"], &[], "--scope \"a b\"");
    refuses(
        &["--scope", "offline_access"],
        &[],
        "--scope offline_access",
    );
}

/// The status of the next answer on `reader` (its body read by its
/// `Content-Length`); `None` when the connection closed first.
fn status_of(reader: &mut impl std::io::BufRead) -> Option<u16> {
    let mut line = String::new();
    reader.read_line(&mut line).ok().filter(|read| *read > 0)?;
    let status = line.split(' ').nth(1)?.parse().ok()?;
    let mut length = None;
    loop {
        line.clear();
        reader.read_line(&mut line).ok()?;
        match line.trim_end().split_once(':') {
            Some((name, value)) if name.eq_ignore_ascii_case("content-length") => {
                length = value.trim().parse::<usize>().ok();
            }
            Some(_) => {}
            None => break,
        }
    }
    let mut body = vec![0; length.expect("a Content-Length")];
    reader.read_exact(&mut body).ok()?;
    Some(status)
}

/// A refused request leaves its connection open for the next one: its
/// body is read before the answer, whoever refuses it (every OAuth client's
/// first request is refused, and one whose body the server left unread was
/// closed as the client sent its next request on it: "Server
/// disconnected").
#[test]
fn a_refused_request_leaves_its_connection_open_for_the_next() {
    let (issuer, _gateway, _api, served) = setup(&[]);
    let address = served.origin.trim_start_matches("http://").to_owned();
    let bearer = format!(
        "Authorization: Bearer {}\r\n",
        token(&issuer, &served, "alice")
    );
    // No token (the gate's 401), and a token with an `Accept` MCP refuses.
    let refusals = [
        ("", "application/json, text/event-stream", 401),
        (bearer.as_str(), "text/plain", 406),
    ];
    // A body longer than the server reads with the headers.
    let pad = "x".repeat(256 << 10);
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"pad": pad}});
    let body = body.to_string();
    for (auth, accept, status) in refusals {
        let requests = format!(
            "POST /mcp HTTP/1.1\r\nHost: {address}\r\n{auth}Content-Type: application/json\r\n\
             Accept: {accept}\r\nContent-Length: {}\r\n\r\n{body}\
             GET /healthz HTTP/1.1\r\nHost: {address}\r\n\r\n",
            body.len()
        );
        let stream = std::net::TcpStream::connect(&address).unwrap();
        let mut writer = stream.try_clone().unwrap();
        let write = move || std::io::Write::write_all(&mut writer, requests.as_bytes());
        let sent = std::thread::spawn(write);
        let mut reader = std::io::BufReader::new(stream);
        assert_eq!(status_of(&mut reader), Some(status));
        assert_eq!(status_of(&mut reader), Some(200), "closed after {status}");
        sent.join().unwrap().unwrap();
    }
}
