//! `nexus-mcp`: a ready MCP server (stdio) that calls the APIs a Nexus
//! workspace connects, with short-lived credentials from the Nexus Gateway.
//! The agent's process holds no secret: the server resolves each credential
//! when a call needs it, sends it only to the provider's API, and never
//! shows it to the model. See the package's README.
//!
//! stdout carries MCP messages only; logs go to stderr (`NEXUS_LOG`).

#![forbid(unsafe_code)]

mod answer;
mod providers;
mod server;
mod stopping;

use std::process::ExitCode;

use clap::Parser;
use nexus_sdk::{NexusClient, NexusClientOptions};
use nexus_sdk_tokio::AsyncNexusClient;
use rmcp::ServiceExt;
use tokio::signal::unix::{SignalKind, signal};

use crate::server::{Nexus, Settings};
use crate::stopping::{Calls, Input};

const ENVIRONMENT: &str = "\
Environment (read as the nexus-gateway-sdk library reads it):
  NEXUS_GATEWAY_URL       the Nexus Gateway (required)
  NEXUS_API_KEY           the Gateway's api key, if it asks for one
  NEXUS_WORKSPACE_ID      the workspace, when --workspace is not given
  NEXUS_ALLOWED_ORIGINS   more origins a provider's credential may reach:
                          github=https://uploads.github.com,…
  NEXUS_CREDENTIAL_SCOPE  provider_api (the default: each credential only to
                          its provider's API) or anywhere (not for models)
  HTTPS_PROXY, HTTP_PROXY, ALL_PROXY, NO_PROXY   proxies, as curl reads them
  NEXUS_LOG               error, warn (the default), info, debug or trace: on stderr

Without --allow-write the model may send GET and HEAD only.";

/// A ready MCP server (stdio): the APIs a Nexus workspace connects, called
/// with short-lived credentials from the Nexus Gateway; the model never
/// sees a credential, and one never leaves for another origin.
#[derive(Parser)]
#[command(name = "nexus-mcp", version, after_help = ENVIRONMENT)]
struct Cli {
    /// The workspace whose credentials the tools use.
    #[arg(long, env = "NEXUS_WORKSPACE_ID", value_name = "ID")]
    workspace: String,
    /// Offer only this provider (repeat for more); by default every one the
    /// Gateway lists.
    #[arg(long = "provider", value_name = "NAME")]
    providers: Vec<String>,
    /// Let the model send requests with any method (POST, PUT, PATCH,
    /// DELETE…), not only GET and HEAD.
    #[arg(long)]
    allow_write: bool,
}

/// `level target: message` lines on stderr, at the level `NEXUS_LOG` names.
struct StderrLogger;

impl log::Log for StderrLogger {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        // ureq's TRACE lines dump the wire, credentials included: never them.
        let wire = metadata.level() == log::Level::Trace && metadata.target().starts_with("ureq");
        metadata.level() <= log::max_level() && !wire
    }

    fn log(&self, record: &log::Record) {
        if self.enabled(record.metadata()) {
            eprintln!("{} {}: {}", record.level(), record.target(), record.args());
        }
    }

    fn flush(&self) {}
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let level = std::env::var("NEXUS_LOG").ok().and_then(|l| l.parse().ok());
    if log::set_logger(&StderrLogger).is_ok() {
        log::set_max_level(level.unwrap_or(log::LevelFilter::Warn));
    }
    let served = tokio::runtime::Runtime::new()
        .map_err(|e| format!("cannot start the runtime: {e}"))
        .and_then(|runtime| {
            let served = runtime.block_on(serve(cli));
            // Not waiting for stdin's reader, which blocks in a read that
            // nothing interrupts.
            runtime.shutdown_background();
            served
        });
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("nexus-mcp: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Serves MCP on stdio until stdin ends or SIGTERM, then lets the calls
/// under way answer.
async fn serve(cli: Cli) -> Result<(), String> {
    let options = NexusClientOptions::from_env().map_err(|e| e.to_string())?;
    let scope = options.credential_scope.clone();
    let client = NexusClient::new(options).map_err(|e| e.to_string())?;
    let settings = Settings {
        workspace: cli.workspace,
        providers: cli.providers,
        allow_write: cli.allow_write,
    };
    let calls = Calls::new();
    let server = Nexus::new(
        AsyncNexusClient::new(client),
        scope,
        settings,
        calls.clone(),
    );
    let input = Input::new(tokio::io::stdin(), calls.clone());
    let running = server.serve((input, tokio::io::stdout())).await;
    let running = running.map_err(|e| format!("the MCP session did not start: {e}"))?;
    let mut terminate = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    let cancel = running.cancellation_token();
    tokio::spawn(async move {
        if terminate.recv().await.is_some() {
            log::info!(target: "nexus_mcp", "SIGTERM: answering the calls under way, then stopping");
            calls.stop();
            calls.finished().await;
            cancel.cancel();
        }
    });
    let reason = running.waiting().await.map_err(|e| e.to_string())?;
    log::info!(target: "nexus_mcp", "stopped: {reason:?}");
    Ok(())
}
