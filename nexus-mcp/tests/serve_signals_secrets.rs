//! No secret the process holds in anything it writes, whatever a peer
//! sends back: the Shared Signals token (`NEXUS_MCP_SSF_TOKEN`) a
//! transmitter echoes in its errors, raw, in hex and in base64, at `serve
//! ssf connect`, at `serve --check` and in a replica's polling; the push
//! authorization `serve ssf connect` gives, in its own output; a Global
//! Token Revocation request's JWT and a push's authorization echoed back
//! inside the request itself. Each is looked for in every form the core's
//! echo rule finds, in stdout, stderr and the answers.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::served::{Served, free_port, wait_until};
use common::signals::{logout, pushed};
use serde_json::json;

/// The token the tests give `NEXUS_MCP_SSF_TOKEN`.
const TOKEN: &str = "ssf-api-token-9f8e7d6c5b4a";

/// The forms of `secret` a text must not hold: as it is, in hex, and in
/// base64.
fn forms(secret: &str) -> [String; 3] {
    let hex = secret.bytes().map(|b| format!("{b:02x}")).collect();
    [secret.to_owned(), hex, STANDARD.encode(secret)]
}

/// Asserts that `text` holds no form of `secret`.
fn holds_none(text: &str, secret: &str, what: &str) {
    for form in forms(secret) {
        assert!(!text.contains(&form), "{what} holds {form:?}: {text}");
    }
}

/// A transmitter that publishes its configuration and answers every other
/// request 400, echoing the request's bearer token in every form: its URL.
fn echoing_transmitter() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a port");
    let url = format!("http://{}", listener.local_addr().unwrap());
    let issuer = url.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            reader.read_line(&mut line).unwrap_or_default();
            let (mut bearer, mut length) = (String::new(), 0usize);
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).unwrap_or_default() <= 2 {
                    break;
                }
                let (name, value) = header.split_once(':').unwrap_or_default();
                let value = value.trim();
                match name.to_ascii_lowercase().as_str() {
                    "authorization" => bearer = value.trim_start_matches("Bearer ").to_owned(),
                    "content-length" => length = value.parse().unwrap_or_default(),
                    _ => {}
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let (status, answer) = if line.contains("/.well-known/ssf-configuration") {
                let config = json!({"issuer": issuer, "jwks_uri": format!("{issuer}/jwks"),
                    "configuration_endpoint": format!("{issuer}/stream")});
                ("200 OK", config.to_string())
            } else {
                let [raw, hex, base64] = forms(&bearer);
                (
                    "400 Bad Request",
                    format!("unknown token {raw} ({hex}, {base64})"),
                )
            };
            let mut stream = stream;
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                answer.len()
            );
        }
    });
    url
}

#[test]
#[ignore = "needs redis-server from the distribution (NEXUS_REDIS; .ci/run installs it)"]
fn the_ssf_token_a_transmitter_echoes_is_written_nowhere() {
    let (_redis, issuer, gateway, store) = common::front::stored();
    let echoing = echoing_transmitter();
    let port = free_port();
    let origin = format!("http://127.0.0.1:{port}");
    issuer.add_client("nexus-login", &format!("{origin}/connect/callback"));
    let args = [
        "--oauth-proxy",
        "--login-client-id",
        "nexus-login",
        "--store",
        &store,
        "--ssf-transmitter",
        &echoing,
    ];
    // serve ssf connect: refused, its words the transmitter's, the token not.
    let public = format!("{origin}/mcp");
    let connect = [
        "serve",
        "ssf",
        "connect",
        "--transmitter",
        &echoing,
        "--public-url",
        &public,
    ];
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_nexus-mcp"))
        .args(connect)
        .env("NEXUS_MCP_STATE_KEY", common::served::STATE_KEY)
        .env("NEXUS_MCP_SSF_TOKEN", TOKEN)
        .output()
        .expect("nexus-mcp");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && said.contains("answered 400"),
        "{said}"
    );
    holds_none(&said, TOKEN, "serve ssf connect's stderr");
    holds_none(&String::from_utf8_lossy(&out.stdout), TOKEN, "its stdout");
    // serve --check: the same.
    let check = [&args[..], &["--check"]].concat();
    let mut checked = common::served::command(&gateway, &issuer.url(), port, &check);
    let out = checked
        .env("NEXUS_MCP_SSF_TOKEN", TOKEN)
        .output()
        .expect("nexus-mcp");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("answered 400"), "{said}");
    holds_none(&said, TOKEN, "serve --check");
    // A replica polling it, every line written (debug too).
    let mut command = common::served::command(&gateway, &issuer.url(), port, &args);
    command
        .env("NEXUS_MCP_SSF_TOKEN", TOKEN)
        .env("NEXUS_LOG", "debug");
    let one = Served::ready(command.spawn().expect("nexus-mcp"), port);
    let said = one.said_once(|said| said.contains("no stream polled at"));
    assert!(said.contains("answered 400"), "{said}");
    holds_none(&said, TOKEN, "the replica's log");
}

#[test]
#[ignore = "needs redis-server from the distribution (NEXUS_REDIS; .ci/run installs it)"]
fn a_request_that_echoes_its_own_secret_gets_it_back_nowhere() {
    let (_redis, issuer, gateway, store) = common::front::stored();
    let transmitter = issuer.url();
    let args = ["--store", &store, "--ssf-transmitter", &transmitter];
    let (one, origin) = common::front::proxy(&issuer, &gateway, &args);
    // The push authorization: never printed by the command that made it.
    let stream = common::front::ssf_connect(&origin, &transmitter, "okta-api-token", false);
    let push = common::signals::push_authorization(&issuer, &stream);
    let secret = push.trim_start_matches("Bearer ");
    holds_none(&stream.to_string(), secret, "serve ssf connect's output");
    // A SET whose issuer is the push's own authorization.
    let forged = format!(
        "eyJhbGciOiJub25lIn0.{}.",
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(json!({"iss": secret, "aud": origin}).to_string())
    );
    let (status, answer) = pushed(&origin, Some(&push), &forged);
    assert_eq!(
        (status, answer["err"].as_str()),
        (400, Some("invalid_issuer"))
    );
    holds_none(&answer.to_string(), secret, "the push's refusal");
    // A Global Token Revocation whose subject is the request's own JWT.
    let jwt = issuer.mint(&common::signals::logout_jwt(&origin, "echo"));
    let body = json!({"sub_id": {"format": jwt}});
    let (status, answer) = logout(&origin, Some(&jwt), &body);
    assert_eq!(status, 400, "{answer}");
    holds_none(&answer.to_string(), &jwt, "the logout's refusal");
    wait_until(|| one.said().contains("signal global_token_revocation logout"));
    let said = one.said();
    holds_none(&said, secret, "the log");
    holds_none(&said, &jwt, "the log");
}
