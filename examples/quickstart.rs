//! The crate's main job in one run: a standard app connecting a user, then
//! an MCP-style tool fetching with the workspace's token.
//!
//! ```text
//! cargo run --example quickstart            # against the built-in FakeGateway
//! NEXUS_GATEWAY_URL=https://gw.example NEXUS_API_KEY=… cargo run --example quickstart
//! NEXUS_GATEWAY_URL=… cargo run --example quickstart -- --mcp-only   # just the token path
//! ```

use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use nexus_gateway_fake::{FakeGateway, FakeProvider, FakeUpstream, Route};
use nexus_sdk::{
    ConnectionStatus, FetchOptions, NexusClient, NexusClientOptions, NexusError,
    RequestConnectionInput, TokenCache,
};

const HELP: &str = "\
quickstart: the Nexus standard-app flow and MCP token path, step by step.

USAGE: cargo run --example quickstart [-- --help | --silent | --mcp-only]

--silent runs both flows and prints nothing: whatever then reaches stdout or
stderr came from the library (the tests check that nothing does).
--mcp-only skips the standard-app flow (no connection is started): with a
real workspace, it resolves a token and fetches NEXUS_FETCH_URL with it.

With NEXUS_GATEWAY_URL unset it starts the built-in FakeGateway and a fake
upstream API on loopback, so it needs no network and no account.

Environment (for a real Gateway):
  NEXUS_GATEWAY_URL   the Gateway's base URL (unset: use the FakeGateway)
  NEXUS_API_KEY       sent as X-API-Key (default: none)
  NEXUS_WORKSPACE_ID  workspace for the MCP path (default: ws-demo)
  NEXUS_PROVIDER      provider name (default: github)
  NEXUS_USER_ID       user to connect in the standard flow (default: quickstart-user)
  NEXUS_FETCH_URL     URL to fetch with the token (default: https://api.github.com/user)";

/// Where the run points: a real Gateway, or the fakes this process started.
struct Setup {
    client: NexusClient,
    workspace: String,
    provider: String,
    user_id: String,
    fetch_url: String,
    fakes: Option<(FakeGateway, FakeUpstream)>,
}

fn main() -> ExitCode {
    let (mut silent, mut mcp_only) = (false, false);
    match std::env::args().nth(1).as_deref() {
        None => {}
        Some("--silent") => silent = true,
        Some("--mcp-only") => mcp_only = true,
        Some("-h" | "--help") => {
            println!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Some(other) => {
            eprintln!("quickstart: unknown argument {other:?}\n\n{HELP}");
            return ExitCode::from(2);
        }
    }
    // --silent formats every line and prints none: the tests check that
    // the library itself writes nothing either.
    // A reader that went away (`| head`) ends the output, not the run.
    let print = |line: &str| {
        let _ = writeln!(std::io::stdout(), "{line}");
    };
    let quiet = |_: &str| {};
    let say: &dyn Fn(&str) = if silent { &quiet } else { &print };
    match setup().and_then(|setup| run(&setup, mcp_only, say)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if !silent {
                eprintln!("quickstart failed: {e}");
            }
            ExitCode::FAILURE
        }
    }
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| default.to_owned())
}

fn setup() -> Result<Setup, NexusError> {
    let workspace = env_or("NEXUS_WORKSPACE_ID", "ws-demo");
    let provider = env_or("NEXUS_PROVIDER", "github");
    let user_id = env_or("NEXUS_USER_ID", "quickstart-user");
    if std::env::var("NEXUS_GATEWAY_URL").is_ok_and(|u| !u.trim().is_empty()) {
        let options = NexusClientOptions::from_env()?;
        return Ok(Setup {
            client: NexusClient::new(options)?,
            fetch_url: env_or("NEXUS_FETCH_URL", "https://api.github.com/user"),
            workspace,
            provider,
            user_id,
            fakes: None,
        });
    }
    let gateway = FakeGateway::start();
    let upstream = FakeUpstream::start();
    // The provider's API is the fake upstream: the default credential scope
    // sends its token there and nowhere else.
    gateway.add_provider(
        &workspace,
        &provider,
        FakeProvider::oauth2("gho_demo_0123456789abcdef").api_base_url(&upstream.url()),
    );
    Ok(Setup {
        client: NexusClient::new(NexusClientOptions::new(gateway.url()))?,
        fetch_url: format!("{}/user", upstream.url()),
        workspace,
        provider,
        user_id,
        fakes: Some((gateway, upstream)),
    })
}

/// `gho_…` and the length: enough to recognise a token, never the token.
fn redact(token: &str) -> String {
    let head: String = token.chars().take(4).collect();
    format!("{head}… ({} chars)", token.chars().count())
}

fn seconds_until(at: SystemTime) -> u64 {
    at.duration_since(SystemTime::now())
        .unwrap_or_default()
        .as_secs()
}

/// Both flows (or the MCP path alone), each step reported through `say`.
fn run(setup: &Setup, mcp_only: bool, say: &dyn Fn(&str)) -> Result<(), NexusError> {
    match &setup.fakes {
        Some((gateway, _)) => say(&format!(
            "Nexus quickstart: built-in FakeGateway at {} (set NEXUS_GATEWAY_URL for a real one)",
            gateway.url()
        )),
        None => say("Nexus quickstart: Gateway from NEXUS_GATEWAY_URL"),
    }
    if !mcp_only {
        standard_app(setup, say)?;
    }
    mcp_path(setup, say)?;
    if let Some((gateway, upstream)) = &setup.fakes {
        report_fakes(gateway, upstream, say);
    }
    Ok(())
}

/// request_connection → consent → wait_for_active → get_token_by_connection_id.
fn standard_app(setup: &Setup, say: &dyn Fn(&str)) -> Result<(), NexusError> {
    let (client, provider) = (&setup.client, &setup.provider);
    say(&format!(
        "\nStandard app: connect user {} to {provider}",
        setup.user_id
    ));
    let started = client.request_connection(
        &RequestConnectionInput::new(setup.user_id.as_str(), provider.as_str())
            .scopes(["read:user"])
            .return_url("http://localhost:8080/connected"),
    )?;
    say(&format!(
        "  1. request_connection          → connection {}",
        started.connection_id
    ));
    say(&format!(
        "     send the user to            {}",
        started.auth_url
    ));
    // The Gateway says `failed` for every connection that is not active yet:
    // before consent, that is what it answers.
    let now = client.check_connection(&started.connection_id)?;
    say(&format!(
        "  2. check_connection            → {now} (the Gateway's word until the user consents)"
    ));
    let status = match &setup.fakes {
        Some((gateway, _)) => {
            say("     (a thread consents after the next poll, standing in for the user)");
            let polls = gateway.requests(Route::CheckConnection);
            let id = started.connection_id.as_str();
            std::thread::scope(|scope| {
                scope.spawn(|| consent_after_next_poll(gateway, id, polls));
                client.wait_for_active_with_options(
                    id,
                    &nexus_sdk::WaitOptions::default()
                        .interval(Duration::from_millis(50))
                        .timeout(Duration::from_secs(300)),
                )
            })?
        }
        None => {
            say("     waiting for the user to consent (up to 5 minutes)…");
            client.wait_for_active(&started.connection_id)?
        }
    };
    say(&format!("  3. wait_for_active             → {status}"));
    if status != ConnectionStatus::Active {
        return Err(NexusError::new(
            "connection_gone",
            format!("the connection ended {status} before the user consented"),
        ));
    }
    let token = client.get_token_by_connection_id(&started.connection_id)?;
    say(&format!(
        "  4. get_token_by_connection_id  → {} token {}, expires_in {:?}",
        token.token_type.as_deref().unwrap_or("?"),
        redact(&token.access_token),
        token.expires_in
    ));
    Ok(())
}

/// The user's consent, as the fake's consent page records it, once
/// `wait_for_active` has polled past `polls` (the status it saw was
/// `failed`, and it kept waiting).
fn consent_after_next_poll(gateway: &FakeGateway, connection_id: &str, polls: usize) {
    while gateway.requests(Route::CheckConnection) <= polls {
        std::thread::sleep(Duration::from_millis(5));
    }
    gateway.set_status(connection_id, "active");
}

/// get_cached_token twice (resolve, then a hit) and an authenticated_fetch.
fn mcp_path(setup: &Setup, say: &dyn Fn(&str)) -> Result<(), NexusError> {
    let (client, workspace, provider) = (&setup.client, &setup.workspace, &setup.provider);
    say(&format!(
        "\nMCP path: workspace {workspace}, provider {provider}"
    ));
    let cache = TokenCache::new();
    let first = client.get_cached_token(&cache, workspace, provider)?;
    say(&format!(
        "  5. get_cached_token            → resolved: {}{} in {}, {} s left",
        first.value_prefix(),
        redact(first.access_token()),
        first.header_name(),
        seconds_until(first.expires_at())
    ));
    let again = client.get_cached_token(&cache, workspace, provider)?;
    let source = if again == first {
        "served from the cache"
    } else {
        "resolved again"
    };
    say(&format!("  6. get_cached_token            → {source}"));
    let (status, headers, body) = client.authenticated_fetch(
        &cache,
        workspace,
        provider,
        &setup.fetch_url,
        // What is printed below is withheld if it echoes the token: a
        // terminal, a CI log or a bug report keeps what it is shown.
        FetchOptions::default().withhold_credential_echo(true),
    )?;
    say(&format!(
        "  7. authenticated_fetch GET {} → {status}",
        setup.fetch_url
    ));
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    let text = String::from_utf8_lossy(&body);
    let shown: String = text.chars().take(200).collect();
    say(&format!(
        "     {content_type}, {} bytes: {shown}",
        body.len()
    ));
    Ok(())
}

/// What the fakes saw: the credential upstream, and the Gateway calls made.
fn report_fakes(gateway: &FakeGateway, upstream: &FakeUpstream, say: &dyn Fn(&str)) {
    let sent = upstream
        .last_request()
        .and_then(|r| r.header("authorization").map(str::to_owned));
    say(&format!(
        "     the upstream received Authorization: {}",
        sent.map_or("(none)".into(), |v| format!(
            "Bearer {}",
            redact(v.trim_start_matches("Bearer "))
        ))
    ));
    let routes = [
        ("request-connection", Route::RequestConnection),
        ("check-connection", Route::CheckConnection),
        ("token", Route::Token),
        ("providers-metadata", Route::ProvidersMetadata),
        ("resolve", Route::Resolve),
    ];
    let detail: Vec<String> = routes
        .iter()
        .map(|(name, route)| format!("{name} {}", gateway.requests(*route)))
        .collect();
    // Every request the fake Gateway received, but the user's visit to the
    // consent page: the SDK's calls.
    let api_calls = gateway.total_requests() - gateway.requests(Route::Authorize);
    say(&format!(
        "\nGateway API calls made: {api_calls} ({})",
        detail.join(", ")
    ));
}
