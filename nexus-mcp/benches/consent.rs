//! How soon a call held for consent answers once the user consents
//! (`cargo bench -p nexus-mcp`). Six users consent at moments spread over a
//! second after accepting the host's prompt (MCP 2025: the server holds the
//! call); each call's time from the consent to its answer is measured, with
//! the Gateway calls the wait made per second. The baseline, in the same
//! run: the SDK's `wait_for_active` at its default 1.5 s poll, which 0.8's
//! held call used, consenting at the same moments.
//!
//! Real processes on loopback, the fake Gateway's consent page as the
//! user's browser; nothing is mocked.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nexus_gateway_fake::{FakeGateway, FakeProvider, FakeUpstream, Route};
use nexus_sdk::{NexusClient, NexusClientOptions, RequestConnectionInput};
use serde_json::{Value, json};

/// When each user consents, after the prompt: spread over a second.
const MOMENTS_MS: [u64; 6] = [0, 170, 340, 510, 680, 850];

fn main() {
    let held: Vec<Duration> = MOMENTS_MS
        .iter()
        .map(|at| held_call(Duration::from_millis(*at)).0)
        .collect();
    // A user who takes ten seconds: the Gateway calls of a long wait.
    let (_, rate) = held_call(Duration::from_secs(10));
    let baseline: Vec<Duration> = MOMENTS_MS
        .iter()
        .map(|at| sdk_wait(Duration::from_millis(*at)))
        .collect();
    let slowest = |d: &[Duration]| d.iter().max().copied().unwrap_or_default();
    println!("consent -> answer, nexus-mcp's held call: {}", shown(&held));
    println!(
        "consent -> active, wait_for_active (1.5 s poll): {}",
        shown(&baseline)
    );
    println!(
        "slowest: {:.2} s, {:.2}x the baseline's slowest ({:.2} s); a 10 s wait asked the Gateway {rate:.2} times a second",
        slowest(&held).as_secs_f64(),
        slowest(&held).as_secs_f64() / slowest(&baseline).as_secs_f64(),
        slowest(&baseline).as_secs_f64(),
    );
}

fn shown(times: &[Duration]) -> String {
    let ms: Vec<String> = times.iter().map(|d| format!("{}", d.as_millis())).collect();
    format!("[{}] ms", ms.join(", "))
}

/// One user, consenting `at` after accepting the prompt: the time from the
/// consent to the call's answer, and the Gateway calls a second before it.
fn held_call(at: Duration) -> (Duration, f64) {
    let (gateway, api) = (FakeGateway::start(), FakeUpstream::start());
    gateway.add_provider(
        "ws-1",
        "github",
        FakeProvider::oauth2("gho_x").api_base_url(&api.url()),
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_nexus-mcp"))
        .args(["--connect", "github"])
        .env("NEXUS_GATEWAY_URL", gateway.url())
        .env("NEXUS_WORKSPACE_ID", "ws-new")
        .env("NEXUS_LOG", "error")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("nexus-mcp starts");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut send = |message: Value| writeln!(stdin, "{message}").expect("the server reads");
    let mut next = || -> Value {
        let line = lines.next().expect("a line").expect("stdout");
        serde_json::from_str(&line).expect("JSON-RPC")
    };
    let capabilities = json!({"elicitation": {"url": {}}});
    let client = json!({"name": "bench", "version": "1"});
    let init = json!({"protocolVersion": "2025-11-25", "capabilities": capabilities, "clientInfo": client});
    send(json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": init}));
    next();
    send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
    let call = json!({"name": "authenticated_fetch", "arguments": {"provider": "github", "url": format!("{}/user", api.url())}});
    send(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": call}));
    let asked = loop {
        let message = next();
        if message["method"] == "elicitation/create" {
            break message;
        }
    };
    let url = asked["params"]["url"]
        .as_str()
        .expect("a consent URL")
        .to_owned();
    send(json!({"jsonrpc": "2.0", "id": asked["id"], "result": {"action": "accept"}}));
    let accepted = Instant::now();
    let before = polls(&gateway);
    std::thread::sleep(at);
    // The Gateway calls while the user had not consented yet.
    let waiting = (polls(&gateway) - before) as f64 / accepted.elapsed().as_secs_f64();
    consent(&url);
    let consented = Instant::now();
    loop {
        let message = next();
        if message["id"] == 2 {
            break;
        }
    }
    let answered = consented.elapsed();
    drop(stdin);
    let _ = child.kill();
    let _ = child.wait();
    (answered, waiting)
}

/// The SDK's own wait, with the user consenting `at` after it starts.
fn sdk_wait(at: Duration) -> Duration {
    let gateway = FakeGateway::start();
    gateway.add_provider("ws-1", "github", FakeProvider::oauth2("gho_x"));
    let client = NexusClient::new(NexusClientOptions::new(gateway.url())).expect("a client");
    let input = RequestConnectionInput::new("ws-new", "github").return_url("http://localhost/done");
    let started = client.request_connection(&input).expect("a connection");
    let url = started.auth_url.clone();
    let user = std::thread::spawn(move || {
        std::thread::sleep(at);
        consent(&url);
        Instant::now()
    });
    client
        .wait_for_active(&started.connection_id)
        .expect("active");
    let done = Instant::now();
    done - user.join().expect("the user")
}

/// The user's browser opening the consent page (plain HTTP on loopback).
fn consent(url: &str) {
    use std::io::Read;
    let rest = url.strip_prefix("http://").expect("an http URL");
    let (authority, target) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut stream = std::net::TcpStream::connect(authority).expect("the consent page");
    let request =
        format!("GET {target} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).expect("sent");
    let _ = stream.read_to_end(&mut Vec::new());
}

/// The Gateway calls a held call makes to learn the connection's state.
fn polls(gateway: &FakeGateway) -> usize {
    gateway.requests(Route::CheckConnection) + gateway.requests(Route::Token)
}
