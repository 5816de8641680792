//! `nexus`: a credential helper for shells, build scripts and git, on
//! `nexus-gateway-sdk`'s public API only.
//!
//! stdout holds only the requested output; every message goes to stderr,
//! one line per error with the library's code and message, a server's text
//! shown with its control characters escaped. Exit 0 on success, 1 on an
//! error, 2 on a usage mistake, 3 when `status` finds the connection not
//! active; `exec` exits with its command's status (127 or 126 when it
//! cannot be found or run).

#![forbid(unsafe_code)]

mod credential;
mod git;
mod said;

use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::error::ErrorKind;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use nexus_sdk::{
    ConnectionStatus, NexusClient, NexusClientOptions, NexusError, RequestConnectionInput,
    RevokeOptions, WaitOptions, code, one_line, setting,
};

use credential::Credential;
use said::Sources;

/// The exit status of `nexus status` for a connection that is not active.
const NOT_ACTIVE: u8 = 3;

/// A short-lived credential from the Nexus Gateway, for a shell, a build
/// script or git. Configuration is the library's (NEXUS_GATEWAY_URL,
/// NEXUS_API_KEY, NEXUS_CREDENTIAL_SCOPE, NEXUS_ALLOWED_ORIGINS, the proxy
/// variables); the flags override it.
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
    /// The Gateway's base URL.
    #[arg(long, global = true, value_name = "URL", env = "NEXUS_GATEWAY_URL")]
    gateway_url: Option<String>,
    /// The Gateway's api key. A flag shows in the process list: prefer the
    /// variable.
    #[arg(
        long,
        global = true,
        value_name = "KEY",
        env = "NEXUS_API_KEY",
        hide_env_values = true
    )]
    api_key: Option<String>,
    /// The most one call may take, a wait at the Gateway's rate limit
    /// included: `30`, `30s`, `2.5s` or `500ms` (default 35s).
    #[arg(long, global = true, value_name = "DURATION", env = "NEXUS_TIMEOUT")]
    timeout: Option<String>,
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
        #[arg(long = "env", value_name = "NAME", value_parser = parse_variable_name)]
        env: Vec<String>,
        /// The command and its arguments, after `--`.
        #[arg(last = true, required = true, value_name = "COMMAND")]
        command: Vec<String>,
    },
    /// Answer git's credential-helper protocol (`git help credential`), for
    /// the provider's own hosts only.
    GitCredential {
        #[arg(long)]
        workspace: String,
        #[arg(long)]
        provider: String,
        /// The username sent (default: per provider; see the README).
        #[arg(long)]
        username: Option<String>,
        /// Also answer for this host (`host` or `host:port`; repeatable),
        /// beside the provider's API host, that host without `api.`, and
        /// the hosts of its NEXUS_ALLOWED_ORIGINS.
        #[arg(long = "host", value_name = "HOST", value_parser = git::parse_host)]
        hosts: Vec<String>,
        /// What git asks: `get` is answered; `store` and `erase` are accepted.
        #[arg(value_enum)]
        operation: git::Operation,
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
    /// Print a connection's status as the Gateway reports it; exit 0 when
    /// it is active, 3 when it is not.
    Status {
        #[arg(value_parser = parse_connection_id)]
        connection_id: String,
    },
    /// Revoke a connection (idempotent).
    Revoke {
        #[arg(value_parser = parse_connection_id)]
        connection_id: String,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Value,
    Header,
    Json,
}

/// A duration as the library reads `NEXUS_TIMEOUT`: `30`, `30s`, `2.5s` or
/// `500ms`, more than zero and at most a year.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let why = || {
        format!(
            "`{}` is not a duration above 0 such as 30, 30s, 2.5s or 500ms",
            one_line(text)
        )
    };
    setting::parse_duration(text).ok_or_else(why)
}

/// A variable name a shell and a program can both use: a letter or `_`,
/// then letters, digits and `_` (POSIX's portable names).
fn parse_variable_name(name: &str) -> Result<String, String> {
    let mut chars = name.chars();
    let first = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !first || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!(
            "`{}` is not a variable name: a letter or `_`, then letters, digits and `_` \
             (such as GH_TOKEN)",
            one_line(name)
        ));
    }
    Ok(name.to_owned())
}

/// A connection id as the Gateway gives them: a UUID (8-4-4-4-12 hex
/// digits). Anything else is refused here: the Gateway would only say
/// `failed` of it.
fn parse_connection_id(id: &str) -> Result<String, String> {
    let groups: Vec<&str> = id.split('-').collect();
    let sizes = groups.iter().map(|g| g.len()).collect::<Vec<_>>();
    let hex = groups
        .iter()
        .all(|g| g.bytes().all(|b| b.is_ascii_hexdigit()));
    if sizes != [8, 4, 4, 4, 12] || !hex {
        return Err(format!(
            "`{}` is not a connection id: the Gateway's ids are UUIDs, as `nexus connect` prints them",
            one_line(id)
        ));
    }
    Ok(id.to_owned())
}

/// The variable behind a flag that clap read from the environment and
/// found not UTF-8 (its own error names none), refused by the library's
/// reader, which names it. The name is leaked: the program then exits.
fn not_utf8(command: &clap::Command) -> Option<NexusError> {
    let names = command
        .get_arguments()
        .filter_map(|arg| arg.get_env()?.to_str());
    let mut refused = names.filter_map(|name| setting::var(Box::leak(name.into())).err());
    refused
        .next()
        .or_else(|| command.get_subcommands().find_map(not_utf8))
}

/// The library's warnings and errors on stderr, one line each: what a
/// shell user must know (a wait at the rate limit, a refused origin, a token
/// the Gateway handed out expired); its info and debug lines stay quiet.
struct Warnings;

impl log::Log for Warnings {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= log::Level::Warn && metadata.target().starts_with("nexus_sdk")
    }

    fn log(&self, record: &log::Record) {
        // nexus names an expired token itself, in its one error line.
        let expired = record.target() == "nexus_sdk::token";
        if self.enabled(record.metadata()) && !expired {
            let level = record.level().as_str().to_ascii_lowercase();
            let line = format!("nexus: {level}: {}\n", one_line(&record.args().to_string()));
            // One write: stderr is unbuffered (eprintln! writes each piece).
            let _ = std::io::stderr().write_all(line.as_bytes());
        }
    }

    fn flush(&self) {}
}

fn main() -> ExitCode {
    if log::set_logger(&Warnings).is_ok() {
        log::set_max_level(log::LevelFilter::Warn);
    }
    let matches = Cli::command().try_get_matches().unwrap_or_else(|error| {
        match not_utf8(&Cli::command()).filter(|_| error.kind() == ErrorKind::InvalidUtf8) {
            Some(refused) => {
                eprintln!("nexus: {refused}");
                std::process::exit(2)
            }
            None => error.exit(),
        }
    });
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(error) => error.exit(),
    };
    let sources = Sources::of(|id| matches.value_source(id));
    match run(cli, &sources) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("nexus: {}", sources.said(&error));
            // A duration the library's reader refused is a usage error, as clap's are.
            let usage =
                error.code == code::INVALID_INPUT && error.setting == Some(setting::NEXUS_TIMEOUT);
            ExitCode::from(if usage { 2 } else { 1 })
        }
    }
}

fn run(cli: Cli, sources: &Sources) -> Result<ExitCode, NexusError> {
    let options = options(&cli.gateway, sources)?;
    let client = NexusClient::new(options.clone())?;
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
            hosts,
            operation,
        } => {
            let asked = git::Asked::read(std::io::stdin().lock());
            let helper = git::Helper {
                client: &client,
                workspace: &workspace,
                provider: &provider,
                hosts: &hosts,
            };
            helper.answer(operation, &asked, username, &mut out)?;
        }
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
            let _ = writeln!(out, "{}", one_line(&id));
        }
        Command::Status { connection_id } => {
            let status = client.check_connection(&connection_id)?;
            let _ = writeln!(out, "{}", one_line(status.as_str()));
            if status != ConnectionStatus::Active {
                return Ok(ExitCode::from(NOT_ACTIVE));
            }
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

/// The client's options, from the library's one reader of the environment,
/// with the flags (which clap already merged with their variables) in place
/// of the variables they override.
fn options(flags: &GatewayFlags, sources: &Sources) -> Result<NexusClientOptions, NexusError> {
    // Every other variable through the library's reader: one that is not
    // UTF-8 is refused, naming it, never read as unset.
    let mut read = Vec::new();
    for name in setting::VARIABLES {
        read.push((name, setting::var(name)?));
    }
    let mut options = NexusClientOptions::from_env_with(|name| match name {
        setting::NEXUS_GATEWAY_URL => flags.gateway_url.clone(),
        setting::NEXUS_API_KEY => flags.api_key.clone(),
        setting::NEXUS_TIMEOUT => flags.timeout.clone(),
        _ => read
            .iter()
            .find(|(n, _)| *n == name)
            .and_then(|(_, v)| v.clone()),
    })
    .map_err(|e| match flags.gateway_url {
        None if e.setting == Some(setting::NEXUS_GATEWAY_URL) => NexusError::new(
            code::INVALID_INPUT,
            "no Gateway: set NEXUS_GATEWAY_URL or pass --gateway-url",
        ),
        _ => e,
    })?;
    if sources.key_flag {
        eprintln!("nexus: warning: --api-key shows in the process list; prefer NEXUS_API_KEY");
    }
    // The Gateway's rate limit is waited out within --timeout, by the
    // library, unless NEXUS_RETRY_ON_429 says otherwise.
    options.retry_policy.retry_on_429 |= setting::var(setting::NEXUS_RETRY_ON_429)?.is_none();
    Ok(options)
}

/// Requests the connection, shows its URL, and waits for consent with a
/// progress line on stderr.
fn connect(
    client: &NexusClient,
    input: &RequestConnectionInput,
    wait: Duration,
) -> Result<String, NexusError> {
    let started = client.request_connection(input)?;
    if !is_web_url(&started.auth_url) {
        return Err(NexusError::new(
            code::INVALID_RESPONSE,
            "the Gateway's authUrl is not an http(s) URL: not shown",
        ));
    }
    eprintln!(
        "Open this URL to connect {}:\n  {}",
        one_line(&input.provider_name),
        one_line(&started.auth_url)
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
                    format!(
                        "the connection ended before consent: {}",
                        one_line(gone.as_str())
                    ),
                ));
            }
            Err(e) if e.code == code::TIMEOUT && since.elapsed() < wait => {
                eprint!("\rwaiting for consent… {}s", since.elapsed().as_secs());
            }
            Err(e) if e.code == code::TIMEOUT => {
                eprintln!();
                return Err(NexusError::new(
                    code::TIMEOUT,
                    format!(
                        "no consent within {}s (--wait); the connection {} may still be \
                         completed: check it with `nexus status`",
                        wait.as_secs(),
                        one_line(&started.connection_id)
                    ),
                ));
            }
            Err(e) => {
                eprintln!();
                return Err(e);
            }
        }
    }
}

/// Whether `url` is an absolute http(s) URL with a host: what a user may
/// be asked to open.
fn is_web_url(url: &str) -> bool {
    let Ok(uri) = url.parse::<nexus_sdk::http::Uri>() else {
        return false;
    };
    let web = matches!(uri.scheme_str(), Some("https" | "http"));
    web && uri.host().is_some_and(|h| !h.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_names() {
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert!(parse_duration("0").is_err() && parse_duration("0ms").is_err());
        assert!(
            parse_duration("x\u{1b}[2J")
                .unwrap_err()
                .contains("\\u{1b}")
        );
        assert!(parse_variable_name("GH_TOKEN").is_ok());
        for bad in ["", "GH_TOKEN=x", "A\0B"] {
            assert!(parse_variable_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn only_web_urls_are_shown() {
        assert!(is_web_url("https://github.com/login/oauth/authorize?x=1"));
        assert!(is_web_url("http://127.0.0.1:8080/consent"));
        for bad in [
            "javascript:alert(1)",
            "file:///etc/passwd",
            "https://",
            "\u{1b}]0;owned\u{7}",
        ] {
            assert!(!is_web_url(bad), "{bad:?}");
        }
    }
}
