//! The stdio MCP server example, driven with raw JSON-RPC lines over its
//! real stdin and stdout, against the FakeGateway and a FakeUpstream.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use nexus_sdk::testing::{FakeGateway, FakeProvider, FakeUpstream};
use serde_json::{Value, json};

/// The server process, with a thread turning its stdout into lines.
struct Server {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
}

impl Server {
    fn start(gateway: &FakeGateway) -> Server {
        let mut child = Command::new(common::example_binary("mcp_stdio_server"))
            .env("NEXUS_GATEWAY_URL", gateway.url())
            .env("NEXUS_WORKSPACE_ID", "ws-1")
            .env_remove("NEXUS_API_KEY")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the server");
        let stdout: ChildStdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Server {
            stdin: child.stdin.take(),
            child,
            lines,
        }
    }

    fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }

    /// The next line the server writes, parsed; every line must be JSON-RPC 2.0.
    fn next(&self, within: Duration) -> Value {
        let line = self.lines.recv_timeout(within).expect("an answer in time");
        let message: Value =
            serde_json::from_str(&line).unwrap_or_else(|_| panic!("not JSON: {line:?}"));
        assert_eq!(message["jsonrpc"], "2.0", "{line}");
        message
    }

    fn request(&mut self, message: Value) -> Value {
        self.send(&message.to_string());
        self.next(Duration::from_secs(10))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn setup() -> (FakeGateway, FakeUpstream) {
    let gateway = FakeGateway::start();
    gateway.add_provider("ws-1", "github", FakeProvider::oauth2("gho_mcp_secret"));
    (gateway, FakeUpstream::start())
}

#[test]
fn initialize_negotiates_the_protocol_version() {
    let (gateway, _) = setup();
    let mut server = Server::start(&gateway);
    for (asked, answered) in [
        ("2024-11-05", "2024-11-05"),
        ("2025-03-26", "2025-03-26"),
        ("2025-06-18", "2025-06-18"),
        ("2025-11-25", "2025-11-25"),
        ("1999-01-01", "2025-11-25"),
    ] {
        let answer = server.request(json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": asked, "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}));
        assert_eq!(answer["result"]["protocolVersion"], answered);
        assert_eq!(
            answer["result"]["capabilities"]["tools"]["listChanged"],
            false
        );
        assert_eq!(answer["result"]["serverInfo"]["name"], "nexus-fetch");
    }
}

#[test]
fn ids_keep_their_json_type() {
    let (gateway, _) = setup();
    let mut server = Server::start(&gateway);
    for id in [json!(7), json!("seven"), json!(-1), json!(1.5), json!("")] {
        let answer = server.request(json!({"jsonrpc": "2.0", "id": id, "method": "ping"}));
        assert_eq!(answer["id"], id);
        assert_eq!(answer["result"], json!({}));
    }
}

#[test]
fn unknown_methods_fail_at_once() {
    let (gateway, _) = setup();
    let mut server = Server::start(&gateway);
    let started = Instant::now();
    let answer = server.request(json!({"jsonrpc": "2.0", "id": "d", "method": "server/discover"}));
    assert_eq!(answer["error"]["code"], -32601);
    assert!(started.elapsed() < Duration::from_secs(2));
    // A notification gets no answer; the next request's answer comes next.
    server.send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
    let answer = server.request(json!({"jsonrpc": "2.0", "id": 2, "method": "ping"}));
    assert_eq!(answer["id"], 2);
}

#[test]
fn bad_lines_and_bad_calls() {
    let (gateway, _) = setup();
    let mut server = Server::start(&gateway);
    server.send("this is not json");
    let answer = server.next(Duration::from_secs(5));
    assert_eq!(
        (answer["id"].clone(), answer["error"]["code"].clone()),
        (Value::Null, json!(-32700))
    );

    let answer = server.request(json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
        "params": {"name": "no_such_tool", "arguments": {}}}));
    assert_eq!(answer["error"]["code"], -32602);
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no_such_tool")
    );

    for arguments in [
        json!({"url": "http://x/"}),
        json!({"provider": "github"}),
        json!({"provider": 5, "url": "u"}),
        json!({"provider": "github", "url": "http://x/", "headers": {"a": 1}}),
    ] {
        let answer = server.request(json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call",
            "params": {"name": "authenticated_fetch", "arguments": arguments}}));
        assert_eq!(answer["error"]["code"], -32602, "{arguments}");
    }
}

#[test]
fn tools_list_and_call() {
    let (gateway, upstream) = setup();
    let mut server = Server::start(&gateway);
    let tools = server.request(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}));
    let tool = &tools["result"]["tools"][0];
    assert_eq!(tool["name"], "authenticated_fetch");
    assert_eq!(tool["inputSchema"]["required"], json!(["provider", "url"]));

    let answer = server.request(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "authenticated_fetch", "arguments": {
            "provider": "github", "url": format!("{}/repos", upstream.url()), "method": "POST",
            "headers": {"X-Trace": "t1"}, "body": "{\"name\":\"demo\"}"}}}));
    let result = &answer["result"];
    assert_eq!(result["isError"], false);
    let text = result["content"][0]["text"].as_str().unwrap();
    assert!(text.starts_with("HTTP 200 OK\n\n"), "{text}");
    assert!(text.contains(r#""path":"/repos""#), "{text}");
    assert!(!text.contains("gho_mcp_secret"));
    let sent = upstream.last_request().unwrap();
    assert_eq!(sent.header("authorization"), Some("Bearer gho_mcp_secret"));
    assert_eq!(
        (sent.method.as_str(), sent.body.as_slice()),
        ("POST", &br#"{"name":"demo"}"#[..])
    );
    assert_eq!(sent.header("x-trace"), Some("t1"));
}

#[test]
fn transport_failures_are_tool_errors_without_secrets() {
    let (gateway, _) = setup();
    let mut server = Server::start(&gateway);
    let answer = server.request(json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call",
        "params": {"name": "authenticated_fetch", "arguments": {"provider": "github", "url": common::refused_url()}}}));
    assert_eq!(answer["result"]["isError"], true);
    let text = answer["result"]["content"][0]["text"].as_str().unwrap();
    assert!(text.starts_with("request_failed: "), "{text}");
    assert!(!text.contains("gho_mcp_secret"));
}

#[test]
fn calls_run_concurrently_and_it_exits_when_stdin_closes() {
    let (gateway, upstream) = setup();
    upstream.set_latency(Duration::from_millis(500));
    let mut server = Server::start(&gateway);
    for id in 0..8 {
        server.send(&json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": "authenticated_fetch", "arguments": {"provider": "github", "url": upstream.url()}}}).to_string());
    }
    // Closing stdin at once: the server still answers every call under way.
    drop(server.stdin.take());
    let started = Instant::now();
    let mut ids: Vec<i64> = (0..8)
        .map(|_| server.next(Duration::from_secs(10))["id"].as_i64().unwrap())
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, (0..8).collect::<Vec<_>>());
    assert_eq!(
        gateway.requests(nexus_sdk::testing::Route::Resolve),
        1,
        "one shared cache, one resolve"
    );
    let status = server.child.wait().unwrap();
    assert!(status.success());
    // One after another they would take 8 × 500 ms; on worker threads they overlap.
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn missing_configuration_is_a_clear_exit() {
    let output = Command::new(common::example_binary("mcp_stdio_server"))
        .env_remove("NEXUS_GATEWAY_URL")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty(), "nothing on stdout but protocol");
    assert!(String::from_utf8_lossy(&output.stderr).contains("NEXUS_GATEWAY_URL"));
}
