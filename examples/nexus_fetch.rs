//! `nexus_fetch`: curl with Nexus credentials.
//!
//! ```text
//! NEXUS_GATEWAY_URL=https://gw.example cargo run --example nexus_fetch -- \
//!     --workspace ws-1 --provider github -H 'Accept: application/vnd.github+json' \
//!     https://api.github.com/user
//! ```
//!
//! The body goes to stdout, the status line to stderr. Exit code 0 for a
//! 2xx answer, 1 for any other answer or a failure, 2 for a usage error.

use std::io::{self, Read, Write};
use std::process::ExitCode;

use nexus_sdk::{FetchOptions, NexusClient, NexusClientOptions, NexusError, TokenCache};

const USAGE: &str = "\
usage: nexus_fetch --workspace W --provider P [-X METHOD] [-H 'Name: value']... [-d DATA] [-i] URL

  -w, --workspace W   workspace id (default: $NEXUS_WORKSPACE_ID)
  -p, --provider P    provider name in Nexus (default: $NEXUS_PROVIDER)
  -X, --request M     HTTP method (default GET, or POST with -d)
  -H, --header H      request header 'Name: value' (repeatable)
  -d, --data DATA     request body; @FILE reads a file, @- standard input
  -i, --include       write the status line and headers to stdout before the body
  -h, --help          this text

The Gateway is $NEXUS_GATEWAY_URL, its api key $NEXUS_API_KEY (optional).";

/// What the command line asks for.
#[derive(Debug)]
struct Args {
    workspace: String,
    provider: String,
    method: Option<String>,
    headers: Vec<(String, String)>,
    data: Option<String>,
    include: bool,
    url: String,
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(problem) => {
            eprintln!("nexus_fetch: {problem}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match fetch(&args) {
        Ok(status) if (200..300).contains(&status) => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(e) if e.code == "invalid_input" => {
            eprintln!("nexus_fetch: {e}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("nexus_fetch: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `Ok(None)` for `--help`; `Err` names what is wrong.
fn parse_args(mut argv: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let (mut workspace, mut provider) = (env("NEXUS_WORKSPACE_ID"), env("NEXUS_PROVIDER"));
    let (mut method, mut data, mut url) = (None, None, None);
    let mut headers = Vec::new();
    let mut include = false;
    while let Some(arg) = argv.next() {
        let mut value = |name: &str| argv.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "-w" | "--workspace" => workspace = Some(value(&arg)?),
            "-p" | "--provider" => provider = Some(value(&arg)?),
            "-X" | "--request" => method = Some(value(&arg)?),
            "-d" | "--data" => data = Some(value(&arg)?),
            "-i" | "--include" => include = true,
            "-H" | "--header" => {
                let header = value(&arg)?;
                let (name, val) = header
                    .split_once(':')
                    .ok_or_else(|| format!("header {header:?} is not 'Name: value'"))?;
                headers.push((name.trim().to_owned(), val.trim().to_owned()));
            }
            other if other.starts_with('-') && other.len() > 1 => {
                return Err(format!("unknown option {other}"));
            }
            _ if url.is_some() => return Err(format!("more than one URL: {arg}")),
            _ => url = Some(arg),
        }
    }
    Ok(Some(Args {
        workspace: workspace.ok_or("--workspace is required")?,
        provider: provider.ok_or("--provider is required")?,
        method,
        headers,
        data,
        include,
        url: url.ok_or("a URL is required")?,
    }))
}

/// The request body `-d` names: the text itself, a file's contents, or stdin.
fn body_of(data: &str) -> Result<Vec<u8>, NexusError> {
    let unreadable =
        |e: io::Error| NexusError::new("invalid_input", format!("cannot read {data}: {e}"));
    match data.strip_prefix('@') {
        Some("-") => {
            let mut body = Vec::new();
            io::stdin().read_to_end(&mut body).map_err(unreadable)?;
            Ok(body)
        }
        Some(path) => std::fs::read(path).map_err(unreadable),
        None => Ok(data.as_bytes().to_vec()),
    }
}

fn fetch(args: &Args) -> Result<u16, NexusError> {
    let client = NexusClient::new(NexusClientOptions::from_env()?)?;
    let method = match (&args.method, &args.data) {
        (Some(method), _) => method.as_str(),
        (None, Some(_)) => "POST",
        (None, None) => "GET",
    };
    // The body goes to stdout, which a terminal, a log or a pipe keeps: an
    // answer that echoes the credential is withheld.
    let mut options = FetchOptions::default()
        .method(method)
        .withhold_credential_echo(true);
    for (name, value) in &args.headers {
        options = options.header(name, value);
    }
    if let Some(data) = &args.data {
        options = options.data(body_of(data)?);
    }
    let cache = TokenCache::new();
    let (status, headers, body) =
        client.authenticated_fetch(&cache, &args.workspace, &args.provider, &args.url, options)?;
    let reason = nexus_sdk::http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    eprintln!("HTTP {status} {reason}");
    let mut out = io::stdout().lock();
    let mut written = Ok(());
    if args.include {
        let mut head = format!("HTTP {status} {reason}\r\n");
        for (name, value) in &headers {
            head.push_str(&format!(
                "{name}: {}\r\n",
                String::from_utf8_lossy(value.as_bytes())
            ));
        }
        head.push_str("\r\n");
        written = out.write_all(head.as_bytes());
    }
    written = written
        .and_then(|()| out.write_all(&body))
        .and_then(|()| out.flush());
    // A reader that went away (`| head`) is not our failure.
    match written {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(NexusError::new(
            "request_failed",
            format!("cannot write the body: {e}"),
        )),
        _ => Ok(status),
    }
}
