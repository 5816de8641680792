//! The stateless 2026-07-28 `tools/call` answered directly (#120) against
//! rmcp's answer: two `serve`s alike but for `NEXUS_MCP_DIRECT=off`, the
//! same requests sent to each, and the same status, content type and body
//! bytes back (each server's own origin written as one). Every tool, its
//! successes and each tool error, each refusal (the policy's, read-only,
//! an approval asked, the rate limit, an echoed credential, a revoked or
//! foreign token), and each request the direct path passes on to rmcp
//! (malformed JSON, a version or header the body disagrees with, an
//! unknown tool, fields missing); then arguments drawn at random.

mod common;

use std::io::Write as _;

use common::served::{CLIENT, Served, command, free_port, wait_until, workspace_of};
use nexus_gateway_fake::{
    FakeGateway, FakeIssuer, FakeProvider, FakeReply, FakeToken, FakeUpstream,
};
use proptest::prelude::*;
use serde_json::{Value, json};

/// The provider's credential, which one path of the API echoes.
const SECRET: &str = "gho_direct_path_secret_0123456789abcdef";

const POLICY: &str = r#"@id("everyone calls")
permit (principal, action, resource);
@id("never the admin API")
forbid (principal, action == Action::"call", resource) when { context.path like "/admin/*" };
@id("a DELETE is yours to approve") @ask("self")
forbid (principal, action == Action::"call", resource) when { context.method == "DELETE" };
"#;

/// The two servers, alike but for the path a 2026 `tools/call` takes, and
/// the fakes behind them.
struct Pair {
    direct: Served,
    rmcp: Served,
    issuer: FakeIssuer,
    api: FakeUpstream,
    _gateway: FakeGateway,
    _dir: tempfile::TempDir,
}

/// One `serve` with the policy `file`, its sign-in page, a limit of
/// `rate` calls a minute, and `NEXUS_MCP_DIRECT=direct`.
fn serve(issuer: &FakeIssuer, gateway: &FakeGateway, file: &str, direct: &str) -> Served {
    let port = free_port();
    issuer.add_client(CLIENT, &format!("http://127.0.0.1:{port}/connect/callback"));
    let args = [
        "--policy",
        file,
        "--login-client-id",
        CLIENT,
        "--person-rate",
        "1000",
    ];
    let mut command = command(gateway, &issuer.url(), port, &args);
    command
        .env("NEXUS_MCP_DIRECT", direct)
        .env("NEXUS_LOG", "trace");
    Served::ready(command.spawn().unwrap(), port)
}

fn pair() -> Pair {
    let (issuer, gateway, api) = (
        FakeIssuer::start(),
        FakeGateway::start(),
        FakeUpstream::start(),
    );
    let github = FakeProvider::oauth2(SECRET).api_base_url(&api.url());
    gateway.add_provider(&workspace_of(&issuer.url(), "alice"), "github", github);
    api.set_reply("/echo", FakeReply::new(200).body(format!("seen: {SECRET}")));
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.cedar");
    std::fs::write(&policy, POLICY).unwrap();
    let file = policy.display().to_string();
    Pair {
        direct: serve(&issuer, &gateway, &file, "on"),
        rmcp: serve(&issuer, &gateway, &file, "off"),
        issuer,
        api,
        _gateway: gateway,
        _dir: dir,
    }
}

/// A request as a test sends it: its headers (the bearer token added for
/// each server) and its body's bytes.
#[derive(Clone, Debug)]
struct Sent {
    headers: Vec<(String, String)>,
    body: String,
}

/// A 2026-07-28 `tools/call` of `name` with `arguments`, as the official
/// clients send it.
fn tool_call(name: &str, arguments: Value) -> Sent {
    let body = common::served::call(name, arguments, "2026-07-28").to_string();
    Sent {
        headers: headed(name),
        body,
    }
}

/// The headers a 2026-07-28 client sends with a `tools/call` of `name`.
fn headed(name: &str) -> Vec<(String, String)> {
    [
        ("Accept", "application/json, text/event-stream"),
        ("Content-Type", "application/json"),
        ("MCP-Protocol-Version", "2026-07-28"),
        ("Mcp-Method", "tools/call"),
        ("Mcp-Name", name),
    ]
    .iter()
    .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
    .collect()
}

/// What a server answered: its status, content type, and body with its
/// own origin written `ORIGIN` and each call's id `ID`.
type Answered = (u16, String, String);

fn send(served: &Served, token: Option<&str>, sent: &Sent) -> Answered {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut request = agent.post(&served.resource);
    for (name, value) in &sent.headers {
        request = request.header(name, value);
    }
    if let Some(token) = token {
        request = request.header("Authorization", &format!("Bearer {token}"));
    }
    let mut response = request.send(sent.body.as_bytes()).expect("an answer");
    let kind = (response.headers().get("content-type"))
        .map(|v| v.to_str().unwrap_or("?").to_owned())
        .unwrap_or_default();
    let body = response.body_mut().read_to_string().unwrap_or_default();
    let body = body.replace(&served.origin, "ORIGIN");
    (response.status().as_u16(), kind, unnumbered(&body))
}

/// `body` with each call's own id (`(id ` and 16 hex digits, drawn for
/// each call that carries no trace) written `(id ID)`.
fn unnumbered(body: &str) -> String {
    let mut out = String::with_capacity(body.len());
    let mut rest = body;
    while let Some(at) = rest.find("(id ") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 4..];
        let hex = after.len() > 16
            && after.as_bytes()[16] == b')'
            && after[..16].bytes().all(|b| b.is_ascii_hexdigit());
        if hex {
            out.push_str("(id ID)");
            rest = &after[17..];
        } else {
            out.push_str("(id ");
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

impl Pair {
    /// alice's token for `served`.
    fn token(&self, served: &Served) -> String {
        (self.issuer).mint(&FakeToken::new("alice").audience(&served.resource))
    }

    /// `sent` to both servers as alice: the answers, asserted the same.
    fn same(&self, label: &str, sent: &Sent) -> Answered {
        let direct = send(&self.direct, Some(&self.token(&self.direct)), sent);
        let rmcp = send(&self.rmcp, Some(&self.token(&self.rmcp)), sent);
        assert_eq!(
            direct, rmcp,
            "{label}: the direct path answers as rmcp does"
        );
        direct
    }

    /// How many calls the direct path answered.
    fn answered_directly(&self) -> usize {
        let lines = self.direct.stderr.lock().unwrap();
        lines
            .iter()
            .filter(|l| l.contains("answered directly"))
            .count()
    }
}

/// A fetch's arguments: `method` `path` on the API.
fn fetch(api: &FakeUpstream, method: &str, path: &str) -> Value {
    json!({"provider": "github", "url": format!("{}{path}", api.url()), "method": method})
}

/// `sent` with its JSON body changed by `edit`.
fn edited(mut sent: Sent, edit: impl FnOnce(&mut Value)) -> Sent {
    let mut body: Value = serde_json::from_str(&sent.body).unwrap();
    edit(&mut body);
    sent.body = body.to_string();
    sent
}

/// A fetch of `arguments`.
fn fetching(arguments: Value) -> Sent {
    tool_call("authenticated_fetch", arguments)
}

/// The calls the direct path answers: every tool, its success, each tool
/// error and each refusal a call meets after the door.
fn taken(api: &FakeUpstream) -> Vec<(&'static str, Sent)> {
    let huge = format!("{}/{}", api.url(), "a".repeat(700_000));
    vec![
        ("list_providers", tool_call("list_providers", json!({}))),
        ("a fetch", fetching(fetch(api, "GET", "/user"))),
        (
            "the policy's denial",
            fetching(fetch(api, "GET", "/admin/users")),
        ),
        ("read-only", fetching(fetch(api, "POST", "/user"))),
        (
            "an approval asked",
            fetching(fetch(api, "DELETE", "/repos/x")),
        ),
        ("an echoed credential", fetching(fetch(api, "GET", "/echo"))),
        (
            "no provider named",
            fetching(json!({"url": "https://x.test/"})),
        ),
        (
            "an unknown provider",
            fetching(json!({"provider": "nope", "url": "https://x.test/"})),
        ),
        (
            "a URL off the provider",
            fetching(json!({"provider": "github", "url": "https://elsewhere.test/"})),
        ),
        (
            "an argument of the wrong type",
            fetching(json!({"provider": 7, "url": []})),
        ),
        (
            "huge arguments",
            fetching(json!({"provider": "github", "url": huge})),
        ),
        (
            "no arguments and a string id",
            edited(tool_call("list_providers", json!({})), |body| {
                body["params"].as_object_mut().unwrap().remove("arguments");
                body["id"] = json!("a string id");
            }),
        ),
    ]
}

/// The requests the direct path passes on to rmcp, each for its own reason.
fn passed() -> Vec<(&'static str, Sent)> {
    let list = || tool_call("list_providers", json!({}));
    let mut weighted = list();
    weighted.headers[0].1 = "application/json;q=0, text/event-stream".into();
    vec![
        (
            "malformed JSON",
            Sent {
                body: "{\"jsonrpc\": \"2.0\", \"id\": 1, ".into(),
                ..list()
            },
        ),
        ("an unknown tool", tool_call("rm_rf", json!({}))),
        (
            "a name the header does not say",
            Sent {
                headers: headed("authenticated_fetch"),
                ..list()
            },
        ),
        (
            "a version the body does not say",
            Sent {
                body: list().body.replace("2026-07-28", "2025-11-25"),
                ..list()
            },
        ),
        (
            "a batch",
            Sent {
                body: format!("[{}]", list().body),
                ..list()
            },
        ),
        (
            "no name",
            edited(list(), |body| {
                body["params"].as_object_mut().unwrap().remove("name");
            }),
        ),
        (
            "no client capabilities",
            edited(list(), |body| {
                let meta = body["params"]["_meta"].as_object_mut().unwrap();
                meta.remove("io.modelcontextprotocol/clientCapabilities");
            }),
        ),
        ("a weighted Accept", weighted),
        (
            "a progress token",
            edited(list(), |body| {
                body["params"]["_meta"]["progressToken"] = json!("p1");
            }),
        ),
    ]
}

#[test]
fn every_tool_answer_and_refusal_is_the_same_bytes_as_rmcps() {
    let pair = pair();
    let taken = taken(&pair.api);
    for (label, sent) in &taken {
        let (status, kind, _) = pair.same(label, sent);
        assert_eq!(
            (status, kind.as_str()),
            (200, "application/json"),
            "{label}"
        );
    }
    let each = "each was answered directly";
    assert_eq!(pair.answered_directly(), taken.len(), "{each}");
    // Each call's line names the call's id once, as from rmcp's task.
    let lines = pair.direct.stderr.lock().unwrap().clone();
    let calls: Vec<&String> = lines.iter().filter(|l| l.contains(" call #")).collect();
    assert!(calls.len() >= taken.len(), "{lines:#?}");
    for line in calls {
        assert_eq!(line.matches("id=").count(), 1, "{line}");
    }
    for (label, sent) in &passed() {
        pair.same(label, sent);
    }
    let none = "none passed on was answered directly";
    assert_eq!(pair.answered_directly(), taken.len(), "{none}");
    // The door's refusals stand before both: another audience's token, none.
    let sent = tool_call("list_providers", json!({}));
    let elsewhere = FakeToken::new("alice").audience("https://else.test/mcp");
    let foreign = pair.issuer.mint(&elsewhere);
    let refused = send(&pair.direct, Some(&foreign), &sent);
    assert_eq!(refused, send(&pair.rmcp, Some(&foreign), &sent));
    assert_eq!(refused.0, 401);
    assert_eq!(
        send(&pair.direct, None, &sent),
        send(&pair.rmcp, None, &sent)
    );
}

#[test]
fn a_call_whose_client_goes_is_cancelled_and_its_line_says_so_on_both_paths() {
    let pair = pair();
    for served in [&pair.direct, &pair.rmcp] {
        let (before, hold) = (pair.api.request_count(), pair.api.hold_next());
        let sent = tool_call("authenticated_fetch", fetch(&pair.api, "GET", "/slow"));
        let host = served.origin.trim_start_matches("http://");
        let mut head = format!("POST /mcp HTTP/1.1\r\nHost: {host}\r\n");
        head += &format!("Authorization: Bearer {}\r\n", pair.token(served));
        for (name, value) in &sent.headers {
            head += &format!("{name}: {value}\r\n");
        }
        head += &format!("Content-Length: {}\r\n\r\n", sent.body.len());
        let mut client = std::net::TcpStream::connect(host).unwrap();
        client
            .write_all(format!("{head}{}", sent.body).as_bytes())
            .unwrap();
        // The API holds the request; the client goes.
        wait_until(|| pair.api.request_count() > before);
        drop(client);
        let gone = "-> cancelled by the client";
        let said = served.said_once(|said| said.contains(gone));
        let line = said.lines().find(|l| l.contains(gone)).unwrap();
        assert!(line.contains("provider=\"github\" GET"), "{line}");
        drop(hold);
    }
}

/// The status `served` answers `sent` with the `Host` header `host` (and
/// `extra` headers), sent over a raw connection: a Host no HTTP client
/// writes is sent as written.
fn status_with_host(pair: &Pair, served: &Served, host: &str, extra: &str, sent: &Sent) -> u16 {
    let address = served.origin.trim_start_matches("http://");
    let mut head = format!("POST /mcp HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n{extra}");
    head += &format!("Authorization: Bearer {}\r\n", pair.token(served));
    for (name, value) in &sent.headers {
        head += &format!("{name}: {value}\r\n");
    }
    head += &format!("Content-Length: {}\r\n\r\n{}", sent.body.len(), sent.body);
    let mut client = std::net::TcpStream::connect(address).unwrap();
    client.write_all(head.as_bytes()).unwrap();
    let mut answer = String::new();
    std::io::Read::read_to_string(&mut client, &mut answer).unwrap();
    let status = answer.split(' ').nth(1).unwrap_or_default();
    status.parse().unwrap_or_else(|_| panic!("{answer}"))
}

#[test]
fn a_host_or_origin_rmcp_refuses_is_refused_on_the_direct_path_as_on_rmcps() {
    let pair = pair();
    let sent = tool_call("list_providers", json!({}));
    let before = pair.answered_directly();
    // Each server's own address and port, written as rmcp's check reads them.
    for served in [&pair.direct, &pair.rmcp] {
        let port = served.origin.rsplit(':').next().unwrap().to_owned();
        assert_eq!(
            status_with_host(&pair, served, &format!("127.0.0.1:{port}"), "", &sent),
            200
        );
    }
    let spellings = |port: &str| {
        [
            format!("2130706433:{port}"),
            format!("0x7f.0.0.1:{port}"),
            format!("127.1:{port}"),
            format!("127.0.0.1:{port}#x"),
            format!("evil.example:{port}"),
            "evil.example".to_owned(),
        ]
    };
    let direct_port = pair.direct.origin.rsplit(':').next().unwrap().to_owned();
    let rmcp_port = pair.rmcp.origin.rsplit(':').next().unwrap().to_owned();
    for (ours, theirs) in spellings(&direct_port)
        .iter()
        .zip(spellings(&rmcp_port).iter())
    {
        let direct = status_with_host(&pair, &pair.direct, ours, "", &sent);
        let rmcp = status_with_host(&pair, &pair.rmcp, theirs, "", &sent);
        assert_eq!(direct, rmcp, "Host: {ours}");
        assert!(direct == 400 || direct == 403, "Host: {ours}: {direct}");
    }
    // An Origin rmcp does not allow, beside the right Host: refused alike.
    let origin = "Origin: http://evil.example\r\n";
    let direct = status_with_host(
        &pair,
        &pair.direct,
        &format!("127.0.0.1:{direct_port}"),
        origin,
        &sent,
    );
    let rmcp = status_with_host(
        &pair,
        &pair.rmcp,
        &format!("127.0.0.1:{rmcp_port}"),
        origin,
        &sent,
    );
    assert_eq!((direct, rmcp), (403, 403));
    assert_eq!(
        pair.answered_directly(),
        before + 1,
        "only the right Host was taken"
    );
}

#[test]
fn the_rate_limit_refuses_on_the_direct_path_as_on_rmcps() {
    let pair = pair();
    let sent = tool_call("list_providers", json!({}));
    let (direct, rmcp) = (pair.token(&pair.direct), pair.token(&pair.rmcp));
    for _ in 0..1000 {
        assert_eq!(send(&pair.direct, Some(&direct), &sent).0, 200);
        assert_eq!(send(&pair.rmcp, Some(&rmcp), &sent).0, 200);
    }
    let refused = send(&pair.direct, Some(&direct), &sent);
    assert!(refused.2.contains("rate_limited"), "{refused:?}");
    let theirs = send(&pair.rmcp, Some(&rmcp), &sent);
    // The wait each names is its own clock's: the rest is the same.
    let unwaited = |body: &str| {
        body.split(" s")
            .next()
            .map(|s| s.trim_end_matches(char::is_numeric).to_owned())
    };
    assert_eq!(
        (refused.0, unwaited(&refused.2)),
        (theirs.0, unwaited(&theirs.2))
    );
}

#[test]
fn arguments_drawn_at_random_are_answered_as_rmcp_answers_them() {
    let pair = pair();
    let provider = prop_oneof![
        Just(json!("github")),
        Just(json!("gitlab")),
        any::<i64>().prop_map(|n| json!(n)),
        "[ -~]{0,12}".prop_map(|s| json!(s)),
    ];
    let method = prop_oneof![
        Just("GET"),
        Just("HEAD"),
        Just("PUT"),
        Just("DELETE"),
        Just("get"),
        Just("BREW")
    ];
    let extra = proptest::collection::btree_map("[a-z]{1,8}", "[ -~]{0,16}", 0..3);
    let drawn = (provider, "/[a-z%./]{0,24}", method, extra);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(48));
    let ran = runner.run(&drawn, |(provider, path, method, extra)| {
        let url = format!("{}{path}", pair.api.url());
        let mut arguments = json!({"provider": provider, "url": url, "method": method});
        for (key, value) in extra {
            arguments[key] = json!(value);
        }
        let (status, _, _) = pair.same("drawn", &tool_call("authenticated_fetch", arguments));
        prop_assert_eq!(status, 200);
        Ok(())
    });
    ran.unwrap();
    assert!(
        pair.answered_directly() >= 48,
        "each drawn call was answered directly"
    );
}
