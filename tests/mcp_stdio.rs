//! The stdio MCP server example, driven with raw JSON-RPC lines over its
//! real stdin and stdout, against the FakeGateway and a FakeUpstream.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use nexus_gateway_fake::{FakeGateway, FakeProvider, FakeUpstream};
use serde_json::{Value, json};

/// The server process, with threads turning its stdout into lines and
/// keeping its stderr.
struct Server {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    stderr: Option<thread::JoinHandle<String>>,
}

impl Server {
    fn start(gateway: &FakeGateway) -> Server {
        Server::start_with(gateway, &[])
    }

    fn start_with(gateway: &FakeGateway, env: &[(&str, &str)]) -> Server {
        let mut command = Command::new(common::example_binary("mcp_stdio_server"));
        command
            .env("NEXUS_GATEWAY_URL", gateway.url())
            .env("NEXUS_WORKSPACE_ID", "ws-1")
            .env_remove("NEXUS_API_KEY")
            .env_remove("NEXUS_ALLOWED_ORIGINS")
            .env_remove("NEXUS_CREDENTIAL_SCOPE")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("start the server");
        let mut err = child.stderr.take().unwrap();
        // Reads until the server exits and closes its stderr.
        let stderr = Some(thread::spawn(move || {
            let mut text = String::new();
            let _ = err.read_to_string(&mut text);
            text
        }));
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
            stderr,
        }
    }

    /// Closes stdin, waits for the exit, and returns stderr.
    fn finish(mut self) -> String {
        drop(self.stdin.take());
        let status = self.child.wait().unwrap();
        assert!(status.success());
        // The reader ends when the exited server's stderr closes: no guessing.
        self.stderr
            .take()
            .map(|r| r.join().unwrap())
            .unwrap_or_default()
    }

    /// Whether another line arrives within `within`.
    fn silent_for(&self, within: Duration) -> bool {
        self.lines.recv_timeout(within).is_err()
    }

    fn initialize(&mut self, version: &str) {
        let answer = self.request(json!({"jsonrpc": "2.0", "id": "init", "method": "initialize",
            "params": {"protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}));
        assert_eq!(answer["result"]["protocolVersion"], version);
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

/// A Gateway whose `github` API is the returned upstream.
fn setup() -> (FakeGateway, FakeUpstream) {
    let upstream = FakeUpstream::start();
    let gateway = FakeGateway::start();
    gateway.add_provider(
        "ws-1",
        "github",
        FakeProvider::oauth2("gho_mcp_secret").api_base_url(&upstream.url()),
    );
    (gateway, upstream)
}

fn fetch_call(id: Value, url: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": {"name": "authenticated_fetch", "arguments": {"provider": "github", "url": url}}})
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
    // At once, not after a call's timeout (35 s): slack for a busy machine.
    assert!(started.elapsed() < Duration::from_secs(10));
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

    // Input errors are tool results the model can act on (SEP-1303), not protocol errors.
    for (arguments, hint) in [
        (json!({"url": "http://x/"}), "`provider` is required"),
        (json!({"provider": "github"}), "`url` is required"),
        (
            json!({"provider": 5, "url": "u"}),
            "`provider` must be a string",
        ),
        (
            json!({"provider": "github", "url": "http://x/", "headers": {"a": 1}}),
            "header `a`",
        ),
        (json!("not an object"), "`arguments` must be an object"),
    ] {
        let answer = server.request(json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call",
            "params": {"name": "authenticated_fetch", "arguments": arguments}}));
        assert!(answer.get("error").is_none(), "{answer}");
        assert_eq!(answer["result"]["isError"], true, "{arguments}");
        let text = answer["result"]["content"][0]["text"].as_str().unwrap();
        assert!(text.contains(hint), "{arguments}: {text}");
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
fn an_answer_that_echoes_the_credential_never_reaches_the_model() {
    let (gateway, upstream) = setup();
    let echoes = [
        r#"{"headers":{"Authorization":"Bearer gho_mcp_secret"}}"#.to_owned(),
        "authorization=Bearer%20gho_mcp_secret".to_owned(),
        r#"{"seen":"Bearer gho\u005fmcp\u005fsecret"}"#.to_owned(),
    ];
    let mut server = Server::start(&gateway);
    for (id, body) in echoes.iter().enumerate() {
        let reply = nexus_gateway_fake::FakeReply::new(400).body(body.as_str());
        upstream.set_reply("/echo", reply.header("X-Echo", "gho_mcp_secret"));
        let answer = server.request(fetch_call(json!(id), &format!("{}/echo", upstream.url())));
        let text = answer["result"]["content"][0]["text"].as_str().unwrap();
        assert!(text.starts_with("HTTP 400"), "{text}");
        assert!(
            !text.contains("gho_mcp_secret") && !text.contains("mcp\\u005f"),
            "{text}"
        );
        assert!(text.contains("withheld"), "{text}");
    }
}

#[test]
fn transport_failures_are_tool_errors_without_secrets() {
    let (gateway, _) = setup();
    let refused = common::refused_url();
    let allowed = format!("github={refused}");
    let mut server = Server::start_with(&gateway, &[("NEXUS_ALLOWED_ORIGINS", allowed.as_str())]);
    let answer = server.request(fetch_call(json!(9), &refused));
    assert_eq!(answer["result"]["isError"], true);
    let text = answer["result"]["content"][0]["text"].as_str().unwrap();
    assert!(text.starts_with("request_failed: "), "{text}");
    assert!(!text.contains("gho_mcp_secret"));
}

#[test]
fn calls_run_concurrently_and_it_exits_when_stdin_closes() {
    let (gateway, upstream) = setup();
    // Each call is held at the API until all eight are there at once.
    let holds: Vec<_> = (0..8).map(|_| upstream.hold_next()).collect();
    let mut server = Server::start(&gateway);
    for id in 0..8 {
        server.send(&fetch_call(json!(id), &upstream.url()).to_string());
    }
    // Closing stdin at once: the server still answers every call under way.
    drop(server.stdin.take());
    common::wait_until(|| upstream.request_count() == 8);
    drop(holds);
    let mut ids: Vec<i64> = (0..8)
        .map(|_| server.next(Duration::from_secs(10))["id"].as_i64().unwrap())
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, (0..8).collect::<Vec<_>>());
    assert_eq!(
        gateway.requests(nexus_gateway_fake::Route::Resolve),
        1,
        "one shared cache, one resolve"
    );
    let status = server.child.wait().unwrap();
    assert!(status.success());
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

#[test]
fn help_lists_the_environment_and_exits_0() {
    let output = Command::new(common::example_binary("mcp_stdio_server"))
        .arg("--help")
        .env_remove("NEXUS_GATEWAY_URL")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let text = String::from_utf8_lossy(&output.stdout);
    for var in [
        "NEXUS_GATEWAY_URL",
        "NEXUS_API_KEY",
        "NEXUS_WORKSPACE_ID",
        "NEXUS_ALLOWED_ORIGINS",
        "NEXUS_CREDENTIAL_SCOPE",
        "NEXUS_LOG",
    ] {
        assert!(text.contains(var), "{var} missing from --help");
    }
}

#[test]
fn the_credential_scope_refuses_other_origins_and_nothing_is_sent() {
    let (gateway, upstream) = setup();
    let attacker = FakeUpstream::start();
    let mut server = Server::start(&gateway);
    let answer = server.request(fetch_call(json!(1), &format!("{}/?x=", attacker.url())));
    assert_eq!(answer["result"]["isError"], true);
    let text = answer["result"]["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("origin_not_allowed"), "{text}");
    assert_eq!(
        attacker.connections(),
        0,
        "the refused origin got no connection"
    );
    assert_eq!(gateway.requests(nexus_gateway_fake::Route::Resolve), 0);
    // The provider's own API still works.
    let answer = server.request(fetch_call(json!(2), &upstream.url()));
    assert_eq!(answer["result"]["isError"], false, "{answer}");
}

#[test]
fn allowed_origins_come_from_the_environment() {
    let (gateway, _) = setup();
    let uploads = FakeUpstream::start();
    let allowed = format!("github={}", uploads.url());
    let mut server = Server::start_with(&gateway, &[("NEXUS_ALLOWED_ORIGINS", allowed.as_str())]);
    let answer = server.request(fetch_call(json!(1), &uploads.url()));
    assert_eq!(answer["result"]["isError"], false, "{answer}");
    assert_eq!(uploads.request_count(), 1);
}

#[test]
fn anywhere_opts_out_with_a_warning_on_stderr() {
    let (gateway, _) = setup();
    let elsewhere = FakeUpstream::start();
    let mut server = Server::start_with(&gateway, &[("NEXUS_CREDENTIAL_SCOPE", "anywhere")]);
    let answer = server.request(fetch_call(json!(1), &elsewhere.url()));
    assert_eq!(answer["result"]["isError"], false, "{answer}");
    let stderr = server.finish();
    assert!(
        stderr.contains("NEXUS_CREDENTIAL_SCOPE=anywhere"),
        "{stderr}"
    );
}

#[test]
fn a_cancelled_request_gets_no_answer_and_others_do() {
    let (gateway, upstream) = setup();
    upstream.set_latency(Duration::from_millis(400));
    let mut server = Server::start(&gateway);
    // Lines are read in order: the call is under way when the cancel is read.
    server.send(&fetch_call(json!("slow"), &upstream.url()).to_string());
    server.send(
        &json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
        "params": {"requestId": "slow", "reason": "user"}})
        .to_string(),
    );
    let answer = server.request(json!({"jsonrpc": "2.0", "id": "p", "method": "ping"}));
    assert_eq!(answer["id"], "p");
    assert!(
        server.silent_for(Duration::from_millis(800)),
        "the cancelled call answered"
    );
    let answer = server.request(fetch_call(json!("next"), &upstream.url()));
    assert_eq!(
        (answer["id"].clone(), answer["result"]["isError"].clone()),
        (json!("next"), json!(false))
    );
}

#[test]
fn batches_are_answered_under_2025_03_26_only() {
    let (gateway, upstream) = setup();
    let mut server = Server::start(&gateway);
    server.initialize("2025-03-26");
    let batch = json!([
        {"jsonrpc": "2.0", "id": 1, "method": "ping"},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        fetch_call(json!(2), &upstream.url()),
        {"jsonrpc": "2.0", "id": 3, "method": "no/such"},
    ]);
    server.send(&batch.to_string());
    let line = server.lines.recv_timeout(Duration::from_secs(10)).unwrap();
    let answers: Value = serde_json::from_str(&line).unwrap();
    let answers = answers
        .as_array()
        .expect("a batch is answered with an array");
    let mut ids: Vec<i64> = answers.iter().map(|a| a["id"].as_i64().unwrap()).collect();
    ids.sort_unstable();
    assert_eq!(ids, [1, 2, 3], "the notification has no answer");
    // A batch of notifications alone gets nothing.
    server.send(r#"[{"jsonrpc":"2.0","method":"notifications/initialized"}]"#);
    assert!(server.silent_for(Duration::from_millis(300)));

    for version in ["2025-06-18", "2025-11-25"] {
        let mut server = Server::start(&gateway);
        server.initialize(version);
        server.send(&json!([{"jsonrpc": "2.0", "id": 1, "method": "ping"}]).to_string());
        let answer = server.next(Duration::from_secs(5));
        assert_eq!(answer["error"]["code"], -32600, "{version}");
        assert_eq!(answer["id"], Value::Null);
    }
}

#[test]
fn the_shutdown_line_counts_only_calls_in_flight() {
    let (gateway, upstream) = setup();
    let mut server = Server::start(&gateway);
    let answer = server.request(fetch_call(json!(1), &upstream.url()));
    assert_eq!(answer["result"]["isError"], false);
    // No wait: the call was done before its answer was written.
    let stderr = server.finish();
    assert!(stderr.contains("finishing 0 call(s) under way"), "{stderr}");
}

#[test]
fn the_tool_description_states_the_result_cap() {
    let (gateway, _) = setup();
    let mut server = Server::start(&gateway);
    let tools = server.request(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}));
    let description = tools["result"]["tools"][0]["description"].as_str().unwrap();
    assert!(description.contains("256 KiB"), "{description}");
}
