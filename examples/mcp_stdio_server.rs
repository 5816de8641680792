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
//! writer, flushed after every message. The server exits when stdin closes,
//! after the calls under way have answered.

use std::collections::HashMap;
use std::io::{self, BufRead, Write};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};

use nexus_sdk::{FetchOptions, NexusClient, NexusClientOptions, NexusError, TokenCache};
use serde_json::{Value, json};

const PROTOCOL_VERSIONS: [&str; 4] = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];
const LATEST_PROTOCOL_VERSION: &str = "2025-11-25";
/// The most of an upstream body a tool result carries.
const MAX_RESULT_BODY: usize = 256 << 10;

/// What every worker shares.
struct Server {
    client: NexusClient,
    cache: Arc<TokenCache>,
    workspace_id: String,
    out: Mutex<io::Stdout>,
}

impl Server {
    /// Writes one message as one line and flushes it. A closed stdout
    /// means the client is gone: nothing more to do with the message.
    fn send(&self, message: &Value) {
        let mut out = self
            .out
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let _ = writeln!(out, "{message}").and_then(|()| out.flush());
    }

    fn reply(&self, id: &Value, result: Value) {
        self.send(&json!({"jsonrpc": "2.0", "id": id, "result": result}));
    }

    fn fail(&self, id: &Value, code: i64, message: &str) {
        self.send(
            &json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}}),
        );
    }
}

/// A JSON-RPC error: code and message.
type RpcError = (i64, String);

fn main() -> ExitCode {
    init_stderr_logger();
    let server = match configure() {
        Ok(server) => Arc::new(server),
        Err(e) => {
            eprintln!("mcp_stdio_server: {e}");
            return ExitCode::from(2);
        }
    };
    log::info!("mcp_stdio_server ready: workspace {}", server.workspace_id);
    let mut workers: Vec<JoinHandle<()>> = Vec::new();
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
    log::info!(
        "stdin closed: finishing {} call(s) under way",
        workers.len()
    );
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
        .ok_or_else(|| NexusError::new("invalid_input", "NEXUS_WORKSPACE_ID is not set"))?;
    Ok(Server {
        client: NexusClient::new(options)?,
        cache: Arc::new(TokenCache::new()),
        workspace_id,
        out: Mutex::new(io::stdout()),
    })
}

/// Handles one incoming line; a `tools/call` returns the worker running it.
fn handle_line(server: &Arc<Server>, line: &str) -> Option<JoinHandle<()>> {
    let message: Value = match serde_json::from_str(line) {
        Ok(message) => message,
        Err(_) => {
            server.fail(&Value::Null, -32700, "Parse error");
            return None;
        }
    };
    let Some(method) = message.get("method").and_then(Value::as_str) else {
        if message.get("id").is_none() || !message.is_object() {
            server.fail(&Value::Null, -32600, "Invalid Request");
        }
        return None; // a response to a request of ours: we send none
    };
    let Some(id) = message.get("id").cloned() else {
        log::debug!("notification {method}");
        return None;
    };
    let params = message.get("params").cloned().unwrap_or(Value::Null);
    match method {
        "initialize" => server.reply(&id, initialize(&params)),
        "ping" => server.reply(&id, json!({})),
        "tools/list" => server.reply(&id, json!({"tools": [fetch_tool()]})),
        "tools/call" => {
            let worker = Arc::clone(server);
            let spawned = thread::Builder::new()
                .name("tools/call".into())
                .spawn(move || match call_tool(&worker, &params) {
                    Ok(result) => worker.reply(&id, result),
                    Err((code, message)) => worker.fail(&id, code, &message),
                });
            match spawned {
                Ok(handle) => return Some(handle),
                Err(e) => log::error!("could not start a worker: {e}"),
            }
        }
        _ => server.fail(&id, -32601, &format!("Method not found: {method}")),
    }
    None
}

fn initialize(params: &Value) -> Value {
    let requested = params.get("protocolVersion").and_then(Value::as_str);
    let version = requested
        .filter(|v| PROTOCOL_VERSIONS.contains(v))
        .unwrap_or(LATEST_PROTOCOL_VERSION);
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
                        Returns the status line and the body.",
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

fn call_tool(server: &Server, params: &Value) -> Result<Value, RpcError> {
    let invalid = |message: &str| (-32602, message.to_owned());
    let name = params
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("missing tool name"))?;
    if name != "authenticated_fetch" {
        return Err(invalid(&format!("Unknown tool: {name}")));
    }
    let empty = serde_json::Map::new();
    let args = match params.get("arguments") {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(args)) => args,
        Some(_) => return Err(invalid("arguments must be an object")),
    };
    let text = |key: &str| -> Result<Option<&str>, RpcError> {
        match args.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(invalid(&format!("`{key}` must be a string"))),
        }
    };
    let provider = text("provider")?.ok_or_else(|| invalid("`provider` is required"))?;
    let url = text("url")?.ok_or_else(|| invalid("`url` is required"))?;
    let mut options = FetchOptions::default().method(text("method")?.unwrap_or("GET"));
    match args.get("headers") {
        None | Some(Value::Null) => {}
        Some(Value::Object(headers)) => {
            for (name, value) in headers {
                let value = value
                    .as_str()
                    .ok_or_else(|| invalid("header values must be strings"))?;
                options = options.header(name, value);
            }
        }
        Some(_) => return Err(invalid("`headers` must be an object")),
    }
    if let Some(body) = text("body")? {
        options = options.data(body);
    }
    log::info!(
        "tools/call authenticated_fetch {provider} {}",
        options.method
    );
    let outcome = server.client.authenticated_fetch(
        &server.cache,
        &server.workspace_id,
        provider,
        url,
        options,
    );
    Ok(match outcome {
        Ok((status, _headers, body)) => {
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
            json!({"content": [{"type": "text", "text": text}], "isError": false})
        }
        Err(e) => {
            log::warn!("authenticated_fetch failed: {e}");
            json!({"content": [{"type": "text", "text": e.to_string()}], "isError": true})
        }
    })
}

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
            eprintln!("{} {}: {}", record.level(), record.target(), record.args());
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
