//! `nexus`: a credential helper for shells, build scripts and git, on
//! `nexus-gateway-sdk`'s public API only.
//!
//! stdout holds only the requested output; every message goes to stderr,
//! one line per error with the library's code and message. Exit 0 on
//! success, 1 on an error, 2 on a usage mistake; `exec` exits with its
//! command's status.

#![forbid(unsafe_code)]

mod credential;
mod git;

use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand, ValueEnum};
use nexus_sdk::{
    ConnectionStatus, CredentialScope, NexusClient, NexusClientOptions, NexusError,
    RequestConnectionInput, RevokeOptions, WaitOptions,
};

use credential::Credential;

/// A short-lived credential from the Nexus Gateway, for a shell, a build
/// script or git. Configuration comes from NEXUS_GATEWAY_URL, NEXUS_API_KEY
/// and the rest of NexusClientOptions::from_env; the flags override them.
#[derive(Parser)]
#[command(name = "nexus", version)]
struct Cli {
    #[command(flatten)]
    gateway: GatewayFlags,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct GatewayFlags {
    /// The Gateway's base URL (else NEXUS_GATEWAY_URL).
    #[arg(long, global = true, value_name = "URL")]
    gateway_url: Option<String>,
    /// The Gateway's api key (else NEXUS_API_KEY). A flag shows in the
    /// process list: prefer the variable.
    #[arg(long, global = true, value_name = "KEY")]
    api_key: Option<String>,
    /// The most one Gateway call may take: `30`, `30s` or `500ms` (default 35s).
    #[arg(long, global = true, value_name = "DURATION", value_parser = parse_duration)]
    timeout: Option<Duration>,
}

#[derive(Subcommand)]
enum Command {
    /// Print the workspace's credential for a provider (the bare value by default).
    Token {
        workspace: String,
        provider: String,
        /// `value` (one line, the bare credential), `header` (the header
        /// line the strategy sends) or `json` (strategy, header name,
        /// prefix, value, expiry).
        #[arg(long, value_enum, default_value_t = Format::Value)]
        format: Format,
    },
    /// Run a command with the credential in its environment, and exit with
    /// its status.
    Exec {
        workspace: String,
        provider: String,
        /// The variable to set (repeatable). Default NEXUS_TOKEN; for
        /// basic_auth the first names the user and the second the password
        /// (default NEXUS_USERNAME, NEXUS_PASSWORD); aws_sigv4 sets the
        /// AWS_* variables the AWS CLI and SDKs read.
        #[arg(long = "env", value_name = "NAME")]
        env: Vec<String>,
        /// The command and its arguments, after `--`.
        #[arg(last = true, required = true, value_name = "COMMAND")]
        command: Vec<String>,
    },
    /// Answer git's credential-helper protocol (`git help credential`).
    GitCredential {
        #[arg(long)]
        workspace: String,
        #[arg(long)]
        provider: String,
        /// The username sent (default: per provider; see the README).
        #[arg(long)]
        username: Option<String>,
        /// What git asks: `get` is answered; `store` and `erase` are accepted.
        #[arg(value_parser = ["get", "store", "erase"])]
        operation: String,
    },
    /// Connect a user to a provider: print the URL to open, wait for
    /// consent, then print the connection id.
    Connect {
        workspace: String,
        provider: String,
        /// The user the connection is for (default: the workspace).
        #[arg(long)]
        user_id: Option<String>,
        /// An OAuth scope to ask for (repeatable).
        #[arg(long = "scope", value_name = "SCOPE")]
        scopes: Vec<String>,
        /// Where the provider sends the user after consent.
        #[arg(long, default_value = "http://localhost/nexus/connected")]
        return_url: String,
        /// How long to wait for consent: `300` or `300s` (seconds).
        #[arg(long, value_parser = parse_duration, default_value = "300s")]
        wait: Duration,
    },
    /// Print a connection's status as the Gateway reports it.
    Status { connection_id: String },
    /// Revoke a connection (idempotent).
    Revoke { connection_id: String },
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Value,
    Header,
    Json,
}

/// `30`, `30s` or `500ms`.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let (number, unit) = match text.strip_suffix("ms") {
        Some(number) => (number, 1),
        None => (text.strip_suffix('s').unwrap_or(text), 1000),
    };
    let number: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration such as 30, 30s or 500ms"))?;
    Ok(Duration::from_millis(number.saturating_mul(unit)))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("nexus: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode, NexusError> {
    let client = client(&cli.gateway)?;
    let mut out = std::io::stdout().lock();
    match cli.command {
        Command::Token {
            workspace,
            provider,
            format,
        } => {
            let credential = Credential::resolve(&client, &workspace, &provider)?;
            let line = match format {
                Format::Value => credential.value()?,
                Format::Header => credential.header_line()?,
                Format::Json => credential.json(),
            };
            let _ = writeln!(out, "{line}");
        }
        Command::Exec {
            workspace,
            provider,
            env,
            command,
        } => {
            let credential = Credential::resolve(&client, &workspace, &provider)?;
            return credential::exec(&credential, &env, &command);
        }
        Command::GitCredential {
            workspace,
            provider,
            username,
            operation,
        } => git::answer(
            &client, &workspace, &provider, username, &operation, &mut out,
        )?,
        Command::Connect {
            workspace,
            provider,
            user_id,
            scopes,
            return_url,
            wait,
        } => {
            let input = RequestConnectionInput::new(user_id.unwrap_or(workspace), &provider)
                .scopes(scopes)
                .return_url(return_url);
            let id = connect(&client, &input, wait)?;
            let _ = writeln!(out, "{id}");
        }
        Command::Status { connection_id } => {
            let status = client.check_connection(&connection_id)?;
            let _ = writeln!(out, "{status}");
        }
        Command::Revoke { connection_id } => {
            let result = client.revoke_connection(&connection_id, &RevokeOptions::default())?;
            let said = if result.already_revoked {
                "already revoked"
            } else {
                "revoked"
            };
            let _ = writeln!(out, "{said}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The client the flags and the environment describe.
fn client(flags: &GatewayFlags) -> Result<NexusClient, NexusError> {
    let variable = |name: &str| std::env::var(name).ok();
    let mut options = match &flags.gateway_url {
        Some(url) => {
            let scope = CredentialScope::from_env_values(
                variable("NEXUS_CREDENTIAL_SCOPE").as_deref(),
                variable("NEXUS_ALLOWED_ORIGINS").as_deref(),
            )?;
            NexusClientOptions::new(url)
                .api_key(variable("NEXUS_API_KEY").unwrap_or_default())
                .credential_scope(scope)
        }
        None => NexusClientOptions::from_env()?,
    };
    if let Some(key) = &flags.api_key {
        eprintln!("nexus: warning: --api-key shows in the process list; prefer NEXUS_API_KEY");
        options = options.api_key(key);
    }
    if let Some(timeout) = flags.timeout {
        options = options.timeout(timeout);
    }
    NexusClient::new(options)
}

/// Requests the connection, shows its URL, and waits for consent with a
/// progress line on stderr.
fn connect(
    client: &NexusClient,
    input: &RequestConnectionInput,
    wait: Duration,
) -> Result<String, NexusError> {
    let started = client.request_connection(input)?;
    eprintln!(
        "Open this URL to connect {}:\n  {}",
        input.provider_name, started.auth_url
    );
    let since = Instant::now();
    let step = WaitOptions::default()
        .interval(Duration::from_millis(1500))
        .timeout(Duration::from_secs(5).min(wait));
    loop {
        match client.wait_for_active_with_options(&started.connection_id, &step) {
            Ok(ConnectionStatus::Active) => {
                eprintln!(
                    "\rconnected after {}s.                ",
                    since.elapsed().as_secs()
                );
                return Ok(started.connection_id);
            }
            Ok(gone) => {
                eprintln!();
                return Err(NexusError::new(
                    "connection_ended",
                    format!("the connection ended before consent: {gone}"),
                ));
            }
            Err(e) if e.code == nexus_sdk::code::TIMEOUT && since.elapsed() < wait => {
                eprint!("\rwaiting for consent… {}s", since.elapsed().as_secs());
            }
            Err(e) => {
                eprintln!();
                return Err(e);
            }
        }
    }
}
