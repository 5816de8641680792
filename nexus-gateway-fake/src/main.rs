//! `cargo run -p nexus-gateway-fake`: a fake Nexus Gateway and a fake
//! provider API on loopback, served until the process is stopped, for
//! testing an MCP server or CLI written in any language against it.
//!
//! ```text
//! cargo run -p nexus-gateway-fake -- [--workspace W] [--provider P] [--token T]
//! ```
//!
//! Prints `NEXUS_GATEWAY_URL=…` and `UPSTREAM_URL=…` on stdout, ready for
//! `eval` or a line-by-line read; everything else goes to stderr.

use std::io::Write;
use std::process::ExitCode;

use nexus_gateway_fake::{FakeGateway, FakeProvider, FakeUpstream};

const USAGE: &str = "usage: nexus-gateway-fake [--workspace W] [--provider P] [--token T]";

/// The seed: one workspace's token for one provider.
struct Seed {
    workspace: String,
    provider: String,
    token: String,
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<Seed, String> {
    let mut seed = Seed {
        workspace: "ws-demo".to_owned(),
        provider: "github".to_owned(),
        token: "gho_fake_token".to_owned(),
    };
    while let Some(arg) = args.next() {
        let slot = match arg.as_str() {
            "--workspace" => &mut seed.workspace,
            "--provider" => &mut seed.provider,
            "--token" => &mut seed.token,
            "-h" | "--help" => return Err(USAGE.to_owned()),
            _ => return Err(format!("unknown argument `{arg}`\n{USAGE}")),
        };
        *slot = args.next().ok_or(format!("{arg} needs a value\n{USAGE}"))?;
    }
    Ok(seed)
}

fn main() -> ExitCode {
    let seed = match parse(std::env::args().skip(1)) {
        Ok(seed) => seed,
        Err(message) => {
            eprintln!("nexus-gateway-fake: {message}");
            return ExitCode::from(2);
        }
    };
    let gateway = FakeGateway::start();
    let upstream = FakeUpstream::start();
    // The upstream is the provider's API: the SDK's default credential scope
    // sends the token there and nowhere else.
    let api = FakeProvider::oauth2(&seed.token).api_base_url(&upstream.url());
    gateway.add_provider(&seed.workspace, &seed.provider, api);
    println!("NEXUS_GATEWAY_URL={}", gateway.url());
    println!("UPSTREAM_URL={}", upstream.url());
    let _ = std::io::stdout().flush();
    eprintln!(
        "nexus-gateway-fake: workspace {}, provider {}; stop with Ctrl-C",
        seed.workspace, seed.provider
    );
    loop {
        std::thread::park();
    }
}
