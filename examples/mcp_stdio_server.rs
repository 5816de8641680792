//! A synchronous, thread-based MCP server on stdio, offering one tool,
//! `authenticated_fetch`: a request to a provider's API with the workspace's
//! Nexus credential.
//!
//! ```text
//! NEXUS_GATEWAY_URL=https://gw.example NEXUS_API_KEY=… NEXUS_WORKSPACE_ID=ws-1 \
//!     cargo run --example mcp_stdio_server
//! ```
//!
//! Protocol: newline-delimited JSON-RPC 2.0 on stdin/stdout. stdout carries
//! protocol messages only; logs go to stderr (level from `NEXUS_LOG`,
//! default `info`). Each `tools/call` runs on its own thread, sharing one
//! `NexusClient` and one `TokenCache`; answers go out through one locked
//! writer, flushed after every message. A cancelled request gets no answer;
//! batches are answered under 2025-03-26 only, the one revision that had
//! them. The server exits when stdin closes, after the calls under way have
//! answered.
//!
//! The client's credential scope is `CredentialScope::provider_api()`: a
//! provider's credential goes only to the origin of its API (plus
//! `NEXUS_ALLOWED_ORIGINS`), so a prompt-injected URL is refused with
//! `origin_not_allowed` and nothing is sent. `--help` lists the variables.
//!
//! This is the card's pattern (the SDK's blocking calls, a thread per call,
//! one locked writer), kept as small as that pattern allows; it is not the
//! product. `nexus-mcp` is, and it reaches a model by stricter rules this
//! example leaves to the reader, on purpose: any method here (nexus-mcp:
//! GET and HEAD unless `--allow-write`, no body or method-override header
//! when read-only), 256 KiB of body as text here (nexus-mcp: 64 KiB with a
//! note saying how to ask for less, a declared charset decoded, a binary or
//! compressed body described), no provider list here. What both do alike:
//! the credential scope, an answer that echoes the credential withheld, a
//! server's text escaped onto one line (the SDK's errors, by `one_line`'s
//! rule), every failure a tool error. Start from `nexus-mcp` to serve a model; from this
//! file to see the SDK's calls in a server you write yourself.

use std::collections::HashMap;
use std::io::{self, BufRead, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};

use nexus_sdk::{FetchOptions, NexusClient, NexusClientOptions, NexusError, TokenCache, code};
use serde_json::{Map, Value, json};

const PROTOCOL_VERSIONS: [&str; 4] = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];
const LATEST_PROTOCOL_VERSION: &str = "2025-11-25";
/// The most of an upstream body a tool result carries.
const MAX_RESULT_BODY: usize = 256 << 10;

const HELP: &str = "\
mcp_stdio_server: an MCP server on stdio with one tool, authenticated_fetch.

Environment:
  NEXUS_GATEWAY_URL       the Nexus Gateway (required)
  NEXUS_API_KEY           its api key (optional)
  NEXUS_WORKSPACE_ID      the workspace whose credentials the tool uses (required)
  NEXUS_ALLOWED_ORIGINS   extra origins per provider, comma-separated provider=origin
                          pairs, e.g. github=https://uploads.github.com
  NEXUS_CREDENTIAL_SCOPE  `provider_api` (default: each provider's credential only to
                          its API origin, from the Gateway) or `anywhere` (no check)
  NEXUS_LOG               stderr log level: off, error, warn, info (default), debug, trace

stdout carries JSON-RPC only; logs go to stderr.
";

/// A thread answering one call.
type Worker = JoinHandle<Option<Value>>;

/// What every worker shares.
struct Server {
    client: NexusClient,
    cache: Arc<TokenCache>,
    workspace_id: String,
    out: Mutex<io::Stdout>,
    /// The protocol version `initialize` settled on.
    protocol: Mutex<Option<String>>,
    /// Requests under way, by id: set to true when the client cancels one.
    in_flight: Mutex<HashMap<String, Arc<AtomicBool>>>,
}

/// A lock that a panicking worker cannot poison for the others.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Server {
    /// Writes one message as one line and flushes it. A closed stdout
    /// means the client is gone: nothing more to do with the message.
    fn send(&self, message: &Value) {
        let mut out = lock(&self.out);
        let _ = writeln!(out, "{message}").and_then(|()| out.flush());
    }

    /// Whether JSON-RPC batches are part of the negotiated protocol: only
    /// 2025-03-26 had them (2025-06-18 removed them).
    fn batches_allowed(&self) -> bool {
        lock(&self.protocol).as_deref() == Some("2025-03-26")
    }
}

fn reply(id: &Value, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

fn failure(id: &Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

/// What one incoming message leads to.
enum Outcome {
    /// Nothing to send (a notification, a response).
    Silent,
    /// This answer, now.
    Answer(Value),
    /// A `tools/call` running on its own thread. Inside a batch it yields
    /// its answer for the batch's array; alone it writes the answer itself
    /// and yields `None`, as it does when the client cancelled the request.
    Working(Worker),
}

fn main() -> ExitCode {
    if std::env::args().skip(1).any(|a| a == "--help" || a == "-h") {
        print!("{HELP}");
        return ExitCode::SUCCESS;
    }
    init_stderr_logger();
    let server = match configure() {
        Ok(server) => Arc::new(server),
        Err(e) => {
            eprintln!("mcp_stdio_server: {e}");
            return ExitCode::from(2);
        }
    };
    log::info!("mcp_stdio_server ready: workspace {}", server.workspace_id);
    let mut workers: Vec<Worker> = Vec::new();
    for line in io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        if line.trim().is_empty() {
            continue;
        }
        if let Some(worker) = handle_line(&server, &line) {
            workers.retain(|w| !w.is_finished());
            workers.push(worker);
        }
    }
    // A call leaves `in_flight` before its answer is written: a call whose
    // answer the client has is never counted, however slow its thread ends.
    let under_way = lock(&server.in_flight).len();
    log::info!("stdin closed: finishing {under_way} call(s) under way");
    for worker in workers {
        let _ = worker.join();
    }
    ExitCode::SUCCESS
}

fn configure() -> Result<Server, NexusError> {
    let options = NexusClientOptions::from_env()?;
    let workspace_id = std::env::var("NEXUS_WORKSPACE_ID")
        .ok()
        .filter(|w| !w.trim().is_empty())
        .ok_or_else(|| NexusError::new(code::INVALID_INPUT, "NEXUS_WORKSPACE_ID is not set"))?;
    // from_env read the credential scope (NEXUS_CREDENTIAL_SCOPE,
    // NEXUS_ALLOWED_ORIGINS): each provider's API origin unless opted out.
    if options.credential_scope == nexus_sdk::CredentialScope::anywhere() {
        log::warn!(
            "NEXUS_CREDENTIAL_SCOPE=anywhere: a model can send this workspace's credentials to any URL"
        );
    }
    Ok(Server {
        client: NexusClient::new(options)?,
        cache: Arc::new(TokenCache::new()),
        workspace_id,
        out: Mutex::new(io::stdout()),
        protocol: Mutex::new(None),
        in_flight: Mutex::new(HashMap::new()),
    })
}

/// Handles one incoming line: a message or a batch. Returns the thread
/// that will write the answer, when one is still to come.
fn handle_line(server: &Arc<Server>, line: &str) -> Option<Worker> {
    let message: Value = match serde_json::from_str(line) {
        Ok(message) => message,
        Err(_) => {
            server.send(&failure(&Value::Null, -32700, "Parse error"));
            return None;
        }
    };
    let Value::Array(batch) = message else {
        return match handle_message(server, &message, false) {
            Outcome::Silent => None,
            Outcome::Answer(answer) => {
                server.send(&answer);
                None
            }
            Outcome::Working(worker) => Some(worker),
        };
    };
    if batch.is_empty() || !server.batches_allowed() {
        let why = if batch.is_empty() {
            "Invalid Request: empty batch"
        } else {
            "Invalid Request: JSON-RPC batches are not part of the negotiated protocol version"
        };
        server.send(&failure(&Value::Null, -32600, why));
        return None;
    }
    let outcomes: Vec<Outcome> = batch
        .iter()
        .map(|m| handle_message(server, m, true))
        .collect();
    let server = Arc::clone(server);
    Some(thread::spawn(move || {
        answer_batch(&server, outcomes);
        None
    }))
}

/// Sends one array with the answers of a batch, once every call has
/// finished; notifications and cancelled calls have none, and a batch with
/// no answer at all sends nothing.
fn answer_batch(server: &Server, outcomes: Vec<Outcome>) {
    let answers: Vec<Value> = outcomes
        .into_iter()
        .filter_map(|outcome| match outcome {
            Outcome::Silent => None,
            Outcome::Answer(answer) => Some(answer),
            Outcome::Working(worker) => worker.join().ok().flatten(),
        })
        .collect();
    if !answers.is_empty() {
        server.send(&Value::Array(answers));
    }
}

/// Handles one JSON-RPC message, alone or as part of a batch.
fn handle_message(server: &Arc<Server>, message: &Value, in_batch: bool) -> Outcome {
    let Some(method) = message.get("method").and_then(Value::as_str) else {
        if message.get("id").is_none() || !message.is_object() {
            return Outcome::Answer(failure(&Value::Null, -32600, "Invalid Request"));
        }
        return Outcome::Silent; // a response to a request of ours: we send none
    };
    let params = message.get("params").cloned().unwrap_or(Value::Null);
    let Some(id) = message.get("id").cloned() else {
        notification(server, method, &params);
        return Outcome::Silent;
    };
    match method {
        "initialize" => Outcome::Answer(reply(&id, initialize(server, &params))),
        "ping" => Outcome::Answer(reply(&id, json!({}))),
        "tools/list" => Outcome::Answer(reply(&id, json!({"tools": [fetch_tool()]}))),
        "tools/call" => start_call(server, id, params, in_batch),
        _ => Outcome::Answer(failure(&id, -32601, &format!("Method not found: {method}"))),
    }
}

/// `notifications/cancelled` marks the request so its answer is never sent.
fn notification(server: &Server, method: &str, params: &Value) {
    log::debug!("notification {method}");
    if method == "notifications/cancelled" {
        if let Some(id) = params.get("requestId") {
            if let Some(flag) = lock(&server.in_flight).get(&id.to_string()) {
                flag.store(true, Ordering::SeqCst);
            }
        }
    }
}

/// Runs a `tools/call` on its own thread, which writes the answer itself
/// unless the call is part of a batch.
fn start_call(server: &Arc<Server>, id: Value, params: Value, in_batch: bool) -> Outcome {
    let cancelled = Arc::new(AtomicBool::new(false));
    let (id_key, id_copy) = (id.to_string(), id.clone());
    lock(&server.in_flight).insert(id_key.clone(), Arc::clone(&cancelled));
    let worker = Arc::clone(server);
    let spawned = thread::Builder::new()
        .name("tools/call".into())
        .spawn(move || {
            let answer = match call_tool(&worker, &params) {
                Ok(result) => reply(&id, result),
                Err((code, message)) => failure(&id, code, &message),
            };
            lock(&worker.in_flight).remove(&id.to_string());
            if cancelled.load(Ordering::SeqCst) {
                return None;
            }
            if in_batch {
                return Some(answer);
            }
            worker.send(&answer);
            None
        });
    match spawned {
        Ok(handle) => Outcome::Working(handle),
        Err(e) => {
            log::error!("could not start a worker: {e}");
            lock(&server.in_flight).remove(&id_key);
            Outcome::Answer(failure(
                &id_copy,
                -32603,
                "Internal error: no thread for the call",
            ))
        }
    }
}

fn initialize(server: &Server, params: &Value) -> Value {
    let requested = params.get("protocolVersion").and_then(Value::as_str);
    let version = requested
        .filter(|v| PROTOCOL_VERSIONS.contains(v))
        .unwrap_or(LATEST_PROTOCOL_VERSION);
    *lock(&server.protocol) = Some(version.to_owned());
    json!({
        "protocolVersion": version,
        "capabilities": {"tools": {"listChanged": false}},
        "serverInfo": {"name": "nexus-fetch", "version": env!("CARGO_PKG_VERSION")},
        "instructions": "Call authenticated_fetch to reach a provider's API with this workspace's Nexus credential.",
    })
}

fn fetch_tool() -> Value {
    json!({
        "name": "authenticated_fetch",
        "description": "HTTP request to a provider's API with the workspace's credential from Nexus. \
                        Returns the status line and the body (at most 256 KiB of it). The URL must be \
                        on the provider's API origin unless the server allows more.",
        "inputSchema": {
            "type": "object",
            "properties": {
                "provider": {"type": "string", "description": "Provider name in Nexus, e.g. github"},
                "url": {"type": "string", "description": "Absolute http(s) URL"},
                "method": {"type": "string", "description": "HTTP method (default GET)"},
                "headers": {"type": "object", "additionalProperties": {"type": "string"}},
                "body": {"type": "string", "description": "Request body"}
            },
            "required": ["provider", "url"]
        }
    })
}

/// A tool result with `isError` set: what the model reads to correct itself
/// (SEP-1303: input errors are tool results, not protocol errors).
fn tool_error(text: &str) -> Value {
    json!({"content": [{"type": "text", "text": text}], "isError": true})
}

fn call_tool(server: &Server, params: &Value) -> Result<Value, RpcError> {
    let name = params.get("name").and_then(Value::as_str);
    if name != Some("authenticated_fetch") {
        let name = name.unwrap_or("(none)");
        return Err((-32602, format!("Unknown tool: {name}")));
    }
    let (provider, url, options) = match fetch_arguments(params.get("arguments")) {
        Ok(parsed) => parsed,
        Err(why) => return Ok(tool_error(&format!("invalid arguments: {why}"))),
    };
    log::info!(
        "tools/call authenticated_fetch {provider} {}",
        options.method
    );
    let outcome = server.client.authenticated_fetch(
        &server.cache,
        &server.workspace_id,
        &provider,
        &url,
        options,
    );
    Ok(match outcome {
        Ok(answer) => {
            let (status, _headers, body) = answer;
            json!({"content": [{"type": "text", "text": result_text(status, &body)}], "isError": false})
        }
        Err(e) => {
            log::warn!("authenticated_fetch failed: {e}");
            tool_error(&e.to_string())
        }
    })
}

/// The tool's arguments, or what is wrong with them, in words for the model.
fn fetch_arguments(arguments: Option<&Value>) -> Result<(String, String, FetchOptions), String> {
    let empty = Map::new();
    let args = match arguments {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(args)) => args,
        Some(_) => return Err("`arguments` must be an object".into()),
    };
    let text = |key: &str| -> Result<Option<&str>, String> {
        match args.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(format!("`{key}` must be a string")),
        }
    };
    let provider = text("provider")?.ok_or("`provider` is required (e.g. \"github\")")?;
    let url = text("url")?.ok_or("`url` is required: an absolute http(s) URL")?;
    // The answer goes to a model: one that echoes the credential is withheld.
    let mut options = FetchOptions::default()
        .method(text("method")?.unwrap_or("GET"))
        .withhold_credential_echo(true);
    match args.get("headers") {
        None | Some(Value::Null) => {}
        Some(Value::Object(headers)) => {
            for (name, value) in headers {
                let value = value
                    .as_str()
                    .ok_or_else(|| format!("header `{name}` must have a string value"))?;
                options = options.header(name, value);
            }
        }
        Some(_) => return Err("`headers` must be an object of strings".into()),
    }
    if let Some(body) = text("body")? {
        options = options.data(body);
    }
    Ok((provider.to_owned(), url.to_owned(), options))
}

/// `HTTP <status> <reason>`, a blank line, and the body up to the cap.
fn result_text(status: u16, body: &[u8]) -> String {
    let reason = nexus_sdk::http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    let shown = &body[..body.len().min(MAX_RESULT_BODY)];
    let mut text = format!(
        "HTTP {status} {reason}\n\n{}",
        String::from_utf8_lossy(shown)
    );
    if body.len() > MAX_RESULT_BODY {
        text.push_str(&format!(
            "\n\n[… {} more bytes not shown]",
            body.len() - MAX_RESULT_BODY
        ));
    }
    text
}

/// A JSON-RPC error: code and message.
type RpcError = (i64, String);

/// A minimal logger: `LEVEL target: message` lines on stderr.
struct StderrLogger(log::LevelFilter);

impl log::Log for StderrLogger {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        // ureq's own TRACE lines dump wire bytes, tokens included: never show them.
        let wire_dump =
            metadata.level() == log::Level::Trace && metadata.target().starts_with("ureq");
        metadata.level() <= self.0 && !wire_dump
    }

    fn log(&self, record: &log::Record) {
        if self.enabled(record.metadata()) {
            let line = format!(
                "{} {}: {}\n",
                record.level(),
                record.target(),
                record.args()
            );
            // One write a line: stderr is unbuffered (eprintln! writes each piece).
            let _ = std::io::stderr().write_all(line.as_bytes());
        }
    }

    fn flush(&self) {}
}

fn init_stderr_logger() {
    let levels: HashMap<&str, log::LevelFilter> = [
        ("off", log::LevelFilter::Off),
        ("error", log::LevelFilter::Error),
        ("warn", log::LevelFilter::Warn),
        ("info", log::LevelFilter::Info),
        ("debug", log::LevelFilter::Debug),
        ("trace", log::LevelFilter::Trace),
    ]
    .into_iter()
    .collect();
    let wanted = std::env::var("NEXUS_LOG")
        .unwrap_or_default()
        .to_ascii_lowercase();
    let level = levels
        .get(wanted.as_str())
        .copied()
        .unwrap_or(log::LevelFilter::Info);
    let logger: &'static StderrLogger = Box::leak(Box::new(StderrLogger(level)));
    if log::set_logger(logger).is_ok() {
        log::set_max_level(level);
    }
}
