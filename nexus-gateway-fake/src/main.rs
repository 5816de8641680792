//! `nexus-gateway-fake`: a fake Nexus Gateway and a fake provider API,
//! served until the process is stopped, for testing an MCP server, a CLI or
//! an SDK written in any language against it.
//!
//! ```text
//! nexus-gateway-fake [--host H] [--port P] [--workspace W] [--provider P] [--token T] [--seed FILE]
//! ```
//!
//! Prints `NEXUS_GATEWAY_URL=…` and `UPSTREAM_URL=…` on stdout, ready for
//! `eval` or a line-by-line read; everything else goes to stderr. At run
//! time the control API under `/_fake/` scripts it (see the README).

use std::io::Write;
use std::process::ExitCode;

use nexus_gateway_fake::{FakeGateway, FakeProvider, FakeUpstream};

const USAGE: &str = "usage: nexus-gateway-fake [--host H] [--port P] [--workspace W] \
                     [--provider P] [--token T] [--seed FILE]";

/// What the command line asks for.
struct Options {
    host: String,
    port: String,
    workspace: String,
    provider: String,
    token: String,
    seed: Option<String>,
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut options = Options {
        host: "127.0.0.1".to_owned(),
        port: "0".to_owned(),
        workspace: "ws-demo".to_owned(),
        provider: "github".to_owned(),
        token: "gho_fake_token".to_owned(),
        seed: None,
    };
    while let Some(arg) = args.next() {
        let value = |args: &mut dyn Iterator<Item = String>| {
            args.next().ok_or(format!("{arg} needs a value\n{USAGE}"))
        };
        match arg.as_str() {
            "--host" => options.host = value(&mut args)?,
            "--port" => options.port = value(&mut args)?,
            "--workspace" => options.workspace = value(&mut args)?,
            "--provider" => options.provider = value(&mut args)?,
            "--token" => options.token = value(&mut args)?,
            "--seed" => options.seed = Some(value(&mut args)?),
            "-h" | "--help" => return Err(USAGE.to_owned()),
            _ => return Err(format!("unknown argument `{arg}`\n{USAGE}")),
        }
    }
    Ok(options)
}

/// The Gateway and the upstream, seeded.
fn start(options: &Options) -> Result<(FakeGateway, FakeUpstream), String> {
    let host = match options.host.contains(':') {
        true => format!("[{}]", options.host), // an IPv6 literal
        false => options.host.clone(),
    };
    let gateway = FakeGateway::start_on(&format!("{host}:{}", options.port))
        .map_err(|e| format!("cannot listen on {host}:{}: {e}", options.port))?;
    let upstream = FakeUpstream::start_on(&format!("{host}:0"))
        .map_err(|e| format!("cannot listen on {host}: {e}"))?;
    match &options.seed {
        // `$UPSTREAM_URL` in the seed names the fake provider API.
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
            let text = text.replace("$UPSTREAM_URL", &upstream.url());
            let seed = serde_json::from_str(&text).map_err(|e| format!("{path}: {e}"))?;
            gateway.seed(&seed).map_err(|e| format!("{path}: {e}"))?;
        }
        // The provider's API is the upstream: the SDK's default credential
        // scope sends the token there and nowhere else.
        None => {
            let api = FakeProvider::oauth2(&options.token).api_base_url(&upstream.url());
            gateway.add_provider(&options.workspace, &options.provider, api);
        }
    }
    Ok((gateway, upstream))
}

fn main() -> ExitCode {
    let options = match parse(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("nexus-gateway-fake: {message}");
            return ExitCode::from(2);
        }
    };
    let (gateway, upstream) = match start(&options) {
        Ok(started) => started,
        Err(message) => {
            eprintln!("nexus-gateway-fake: {message}");
            return ExitCode::FAILURE;
        }
    };
    println!("NEXUS_GATEWAY_URL={}", gateway.url());
    println!("UPSTREAM_URL={}", upstream.url());
    let _ = std::io::stdout().flush();
    eprintln!("nexus-gateway-fake: serving; control API under /_fake/; stop with Ctrl-C");
    loop {
        std::thread::park();
    }
}
