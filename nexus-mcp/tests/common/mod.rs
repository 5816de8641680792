//! A raw MCP session with the built `nexus-mcp`: JSON-RPC lines written to
//! its stdin, every line of its stdout read and checked to be a JSON-RPC
//! message (stdout belongs to the protocol), against an in-process fake
//! Gateway and provider API.

#![allow(dead_code)] // each test file uses its own part

pub mod approving;
pub mod clients;
pub mod front;
pub mod nginx;
pub mod redis;
pub mod served;
pub mod signals;
pub mod tls;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nexus_gateway_fake::{FakeGateway, FakeProvider, FakeReply, FakeUpstream};
use serde_json::{Value, json};

/// How long a test waits for an answer it is owed before failing.
const OWED: Duration = Duration::from_secs(60);

/// A Gateway serving `ws-1` with `github` (OAuth2, its API the first
/// upstream) and `stripe` (an api key, its API the same upstream).
pub fn gateway() -> (FakeGateway, FakeUpstream) {
    let (gateway, api) = (FakeGateway::start(), FakeUpstream::start());
    let github = FakeProvider::oauth2("gho_mcp_secret").api_base_url(&api.url());
    gateway.add_provider("ws-1", "github", github);
    let stripe = FakeProvider::header("Authorization", Some("Bearer "), "sk_mcp_secret");
    gateway.add_provider("ws-1", "stripe", stripe.api_base_url(&api.url()));
    (gateway, api)
}

/// A Gateway whose github API is `api`, and a host inside the network
/// that a redirect may lead to (its `/secret` answers "internal answer"):
/// the Gateway, the API, the host inside and its port.
pub fn api_and_inside() -> (FakeGateway, FakeUpstream, FakeUpstream, String) {
    let (gateway, api) = (FakeGateway::start(), FakeUpstream::start());
    let github = FakeProvider::oauth2("gho_mcp_secret").api_base_url(&api.url());
    gateway.add_provider("ws-1", "github", github);
    let inside = FakeUpstream::start();
    inside.set_reply("/secret", FakeReply::new(200).body("internal answer"));
    let port = inside.url().rsplit(':').next().unwrap().to_owned();
    (gateway, api, inside, port)
}

/// Waits (bounded) until the fake's OTLP receiver holds a span `name` of
/// the trace `trace` ("" for any): that span.
pub fn span_named(gateway: &FakeGateway, trace: &str, name: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let found = (gateway.spans().into_iter())
            .find(|s| s["name"] == name && (trace.is_empty() || s["trace_id"] == trace));
        if let Some(found) = found {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "no span {name}: {:?}",
            gateway.spans()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The built server, against `gateway`, for workspace `ws-1`, with `args`.
pub fn server(gateway: &FakeGateway, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_nexus-mcp"));
    command
        .args(args)
        .env("NEXUS_GATEWAY_URL", gateway.url())
        .env("NEXUS_WORKSPACE_ID", "ws-1")
        .env_remove("NEXUS_API_KEY")
        .env_remove("NEXUS_CREDENTIAL_SCOPE")
        .env_remove("NEXUS_ALLOWED_ORIGINS")
        .env_remove("NEXUS_TIMEOUT")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    command
}

/// A `tools/call` request's parameters.
pub fn fetch(provider: &str, url: &str) -> Value {
    json!({"name": "authenticated_fetch", "arguments": {"provider": provider, "url": url}})
}

pub struct Session {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    /// Every line the server wrote on stdout, in order.
    pub seen: Vec<Value>,
    next_id: u64,
    /// Every line it wrote on stderr, when started with `start_with`.
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Session {
    /// The server started against `gateway` with `args`, initialized.
    pub fn start(gateway: &FakeGateway, args: &[&str]) -> Session {
        let mut command = server(gateway, args);
        command.env("NEXUS_LOG", "debug");
        command.stderr(if std::env::var_os("NEXUS_MCP_TEST_STDERR").is_some() {
            Stdio::inherit()
        } else {
            Stdio::null()
        });
        Session::spawn(command, Arc::default())
    }

    /// The server started against `gateway` with `args` and `env` (the
    /// log level left at its default unless `env` sets it), its stderr kept.
    pub fn start_with(gateway: &FakeGateway, args: &[&str], env: &[(&str, &str)]) -> Session {
        let mut command = server(gateway, args);
        command.env_remove("NEXUS_LOG").envs(env.iter().copied());
        command.stderr(Stdio::piped());
        Session::spawn(command, Arc::default())
    }

    /// The lines of stderr so far (for `start_with`).
    pub fn stderr(&self) -> Vec<String> {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits (bounded) for a stderr line holding `needle`: that line.
    pub fn stderr_line(&self, needle: &str) -> String {
        let deadline = Instant::now() + OWED;
        loop {
            if let Some(line) = self.stderr().into_iter().find(|l| l.contains(needle)) {
                return line;
            }
            assert!(
                Instant::now() < deadline,
                "no stderr line with {needle:?}: {:?}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// The server started against `gateway` with `args`, initialized by a
    /// client that takes form elicitation (`elicitation/create`).
    pub fn start_eliciting(gateway: &FakeGateway, args: &[&str]) -> Session {
        let mut command = server(gateway, args);
        command.env("NEXUS_LOG", "debug").stderr(Stdio::null());
        Session::spawn_with(command, Arc::default(), json!({"elicitation": {}}))
    }

    fn spawn(command: Command, stderr: Arc<Mutex<Vec<String>>>) -> Session {
        Session::spawn_with(command, stderr, json!({}))
    }

    fn spawn_with(
        mut command: Command,
        stderr: Arc<Mutex<Vec<String>>>,
        capabilities: Value,
    ) -> Session {
        let mut child = command.spawn().unwrap();
        if let Some(err) = child.stderr.take() {
            let kept = Arc::clone(&stderr);
            std::thread::spawn(move || {
                for line in BufReader::new(err).lines().map_while(Result::ok) {
                    kept.lock().unwrap().push(line);
                }
            });
        }
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let (sender, lines) = channel();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    return;
                }
            }
        });
        let stdin = child.stdin.take();
        let mut session = Session {
            child,
            stdin,
            lines,
            seen: Vec::new(),
            next_id: 1,
            stderr,
        };
        let hello = json!({"protocolVersion": "2025-06-18", "capabilities": capabilities,
                           "clientInfo": {"name": "raw-session", "version": "1"}});
        let answer = session.request("initialize", hello);
        assert!(
            answer["result"]["serverInfo"]["name"] == "nexus-mcp",
            "{answer}"
        );
        session.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        session
    }

    pub fn send(&mut self, message: &Value) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        writeln!(stdin, "{message}").unwrap();
        stdin.flush().unwrap();
    }

    /// Sends a request; its id.
    pub fn ask(&mut self, method: &str, params: Value) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        let message = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        self.send(&message);
        id
    }

    /// The next line of stdout, which must be a JSON-RPC message.
    pub fn next(&mut self) -> Option<Value> {
        let line = match self.lines.recv_timeout(OWED) {
            Ok(line) => line,
            Err(RecvTimeoutError::Disconnected) => return None,
            Err(RecvTimeoutError::Timeout) => panic!("no answer within {OWED:?}"),
        };
        let message: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("stdout carried a line that is not JSON ({e}): {line}"));
        assert_eq!(message["jsonrpc"], "2.0", "not JSON-RPC: {line}");
        self.seen.push(message.clone());
        Some(message)
    }

    /// The answer to request `id` (other messages are kept in `seen`).
    pub fn answer(&mut self, id: u64) -> Value {
        loop {
            let message = self.next().expect("the server ended before answering");
            if message["id"] == id {
                return message;
            }
        }
    }

    pub fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.ask(method, params);
        self.answer(id)
    }

    /// A `tools/call`'s result, which must not be a protocol error.
    pub fn call(&mut self, params: Value) -> Value {
        let answer = self.request("tools/call", params);
        assert!(answer.get("error").is_none(), "a protocol error: {answer}");
        answer["result"].clone()
    }

    /// Closes stdin: the end of the session.
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let pid = self.child.id().to_string();
        let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(killed.success());
    }

    /// Waits for the server to exit: its exit code.
    pub fn exit_code(&mut self) -> Option<i32> {
        while self.next().is_some() {}
        self.child.wait().unwrap().code()
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A result's text content, joined.
pub fn text(result: &Value) -> String {
    let blocks = result["content"].as_array().cloned().unwrap_or_default();
    blocks.iter().filter_map(|b| b["text"].as_str()).collect()
}

/// The provider names a `list_providers` result lists, in order.
pub fn listed_names(result: &Value) -> Vec<&str> {
    let providers = result["structuredContent"]["providers"].as_array();
    let providers = providers.expect("a list of providers");
    providers
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect()
}

pub fn is_error(result: &Value) -> bool {
    result["isError"] == true
}
