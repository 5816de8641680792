//! Every host config in the README, run or parsed against the host's
//! documented format: Claude Desktop's (and Cursor's) `mcpServers` JSON,
//! Claude Code's `claude mcp add` line and Grafbase Nexus's `nexus.toml`
//! table (`cmd`, `env`, `cwd`, `stderr`). Each one's command and arguments
//! start the built server, which answers `initialize` and ends with stdin.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use nexus_gateway_fake::FakeGateway;
use serde_json::{Value, json};

const README: &str = include_str!("../README.md");

/// The first fenced block of `language` after `marker`.
fn block(marker: &str, language: &str) -> &'static str {
    let after = &README[README.find(marker).expect(marker)..];
    let fence = format!("```{language}\n");
    let start = after.find(&fence).expect("a block") + fence.len();
    &after[start..start + after[start..].find("```").unwrap()]
}

/// Runs `args` (the program first) with `env` as a host would, against a
/// fake Gateway: the server must answer `initialize` and exit 0 at stdin's end.
fn runs(args: &[String], env: &BTreeMap<String, String>) {
    assert_eq!(args[0], "nexus-mcp", "{args:?}");
    let gateway = FakeGateway::start();
    let mut command = Command::new(env!("CARGO_BIN_EXE_nexus-mcp"));
    command
        .args(&args[1..])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    for (name, value) in env {
        let value = if name == "NEXUS_GATEWAY_URL" {
            gateway.url()
        } else {
            value.clone()
        };
        command.env(name, value);
    }
    command.env_remove("NEXUS_API_KEY");
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let hello = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-03-26", "capabilities": {}, "clientInfo": {"name": "host", "version": "1"}}});
    writeln!(stdin, "{hello}").unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let answer: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
    assert_eq!(
        answer["result"]["serverInfo"]["name"], "nexus-mcp",
        "{answer}"
    );
    assert_eq!(
        answer["result"]["protocolVersion"], "2025-03-26",
        "the host's version: {answer}"
    );
    drop(stdin);
    assert!(child.wait().unwrap().success(), "{args:?}");
}

#[test]
fn claude_desktops_and_cursors_json() {
    let config: Value = serde_json::from_str(block("**Claude Desktop**", "json")).unwrap();
    let server = &config["mcpServers"]["nexus"];
    let mut args = vec![server["command"].as_str().unwrap().to_owned()];
    args.extend(
        server["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_owned()),
    );
    let env = server["env"].as_object().unwrap().iter();
    let env = env
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect();
    runs(&args, &env);
}

#[test]
fn claude_codes_command_line() {
    let line = block("**Claude Code**", "sh").replace("\\\n", " ");
    let words: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
    assert_eq!(words[..4], ["claude", "mcp", "add", "nexus"]);
    let split = words
        .iter()
        .position(|w| w == "--")
        .expect("-- before the command");
    let mut env = BTreeMap::new();
    for pair in words[4..split].chunks(2) {
        assert_eq!(pair[0], "-e", "{pair:?}");
        let (name, value) = pair[1].split_once('=').unwrap();
        env.insert(name.to_owned(), value.to_owned());
    }
    runs(&words[split + 1..], &env);
}

#[test]
fn grafbase_nexus_toml() {
    let config: toml::Table = block("Grafbase Nexus (`nexus.toml`)", "toml")
        .parse()
        .unwrap();
    let server = config["mcp"]["servers"]["nexus"].as_table().unwrap();
    for key in server.keys() {
        assert!(
            ["cmd", "env", "cwd", "stderr"].contains(&key.as_str()),
            "not a stdio key: {key}"
        );
    }
    let file = server["stderr"].get("file").and_then(|f| f.as_str());
    assert!(
        file.is_some_and(|f| !f.is_empty()),
        "stderr kept in a file: {server:?}"
    );
    let env: BTreeMap<String, String> = server["env"]
        .as_table()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect();
    // Grafbase stops at start on a `{{ env.NAME }}` that is not set: only
    // the one a Gateway always needs is read that way.
    let templated: Vec<&String> = env
        .iter()
        .filter(|(_, v)| v.contains("{{"))
        .map(|(k, _)| k)
        .collect();
    assert_eq!(templated, ["NEXUS_GATEWAY_URL"], "{env:?}");
    let cmd = server["cmd"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned());
    runs(&cmd.collect::<Vec<_>>(), &env);
}
