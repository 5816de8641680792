//! Runs the FakeGateway and a fake upstream API until interrupted, for
//! trying the CLI and MCP examples by hand (and for `benches/process_cost.sh`).
//!
//! ```text
//! cargo run --example fake_gateway -- [--workspace W] [--provider P] [--token T]
//! ```
//!
//! Prints `NEXUS_GATEWAY_URL=…` and `UPSTREAM_URL=…` on stdout, ready for `eval`.

use std::io::Write;
use std::process::ExitCode;

use nexus_sdk::testing::{FakeGateway, FakeProvider, FakeUpstream};

fn main() -> ExitCode {
    let (mut workspace, mut provider, mut token) = (
        "ws-demo".to_owned(),
        "github".to_owned(),
        "gho_fake_token".to_owned(),
    );
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let slot = match arg.as_str() {
            "--workspace" => &mut workspace,
            "--provider" => &mut provider,
            "--token" => &mut token,
            _ => {
                eprintln!("usage: fake_gateway [--workspace W] [--provider P] [--token T]");
                return ExitCode::from(2);
            }
        };
        match args.next() {
            Some(value) => *slot = value,
            None => {
                eprintln!("fake_gateway: {arg} needs a value");
                return ExitCode::from(2);
            }
        }
    }
    let gateway = FakeGateway::start();
    let upstream = FakeUpstream::start();
    // The upstream is the provider's API: the default credential scope sends
    // the token there and nowhere else.
    let api = FakeProvider::oauth2(&token).api_base_url(&upstream.url());
    gateway.add_provider(&workspace, &provider, api);
    println!("NEXUS_GATEWAY_URL={}", gateway.url());
    println!("UPSTREAM_URL={}", upstream.url());
    let _ = std::io::stdout().flush();
    eprintln!("fake_gateway: serving workspace {workspace}, provider {provider}; Ctrl-C to stop");
    loop {
        std::thread::park();
    }
}
