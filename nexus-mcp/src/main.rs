//! `nexus-mcp`: a ready MCP server (stdio) that calls the APIs a Nexus
//! workspace connects, with short-lived credentials from the Nexus Gateway.
//! The agent's process holds no secret: the server resolves each credential
//! when a call needs it, sends it only to the provider's API, and never
//! shows it to the model. See the package's README.
//!
//! stdout carries MCP messages only; logs go to stderr (`NEXUS_LOG`).
//!
//! # Layout
//!
//! * The door: `main` reads the flags once, and `env` the variables (each
//!   secret's `_FILE` twin too); then one of the two modes starts: stdio
//!   (one operator, one workspace) or `serve`.
//! * The HTTP wing, `serve/`, entered only from here: `serve.rs` is its map
//!   (the flags, the door in front of MCP, the bearer check, the issuer, the
//!   connect page's login, readiness, `--check`, the deny list …), and
//!   `serve/oauth.rs` the map of the hosts' authorization server,
//!   `serve/signals.rs` the map of the identity provider's signals.
//! * The policies: `policy` (Cedar in, decisions out: a leaf), `readings`
//!   (what an API may read a request as: an override's method, a path
//!   that splits two ways; a leaf), `contents` (what a policy reads of a
//!   call's query, JSON body and GraphQL operation, each way it may be
//!   read; a leaf but for `graphql`, the operation a GraphQL request runs
//!   and where providers serve it), `literals` (what a policy compares
//!   with that no request can be; a leaf), `decisions`
//!   (where the server asks: its calls, links, listings and redirect hops
//!   decided, counted and told) and `policy_command` (`nexus-mcp policy`).
//! * Where a stranger's URL may lead: `addresses` (the public-address rule
//!   a client document's fetch and a redirect off the provider's origin
//!   obey, the origins trusted past it, and a URL as a message shows it;
//!   it looks up a name by `lookup`, on threads kept between lookups, a
//!   leaf); `http` (the program's own HTTP exchanges through ureq, trusting
//!   what the Gateway client trusts: the issuer's, the OTLP exporter's).
//! * The handler, `server`: one MCP server for both modes, told its `Mode`
//!   once. Who a call acts for is a `principal::Principal`, made where the
//!   request enters (stdio's operator, `serve`'s verified person, and the
//!   agent its token was issued to, whose boundary `agents` states: a
//!   leaf) and read everywhere after; `reply` is what a call answers the
//!   client.
//! * The flows: `tools` checks a call's arguments once into a fetch, which
//!   `calls` runs under the call's life and audits; `connect` has a user
//!   connect a provider on first use, with `state` (the sealed
//!   `requestState`, the keyring), `keys` (what one keyring derives, held
//!   once and swapped whole at SIGHUP), `handshake` (a 2025 client's
//!   session id) and `ticket` (the connect page's links); `hint` tells
//!   `serve`'s operator how to connect a person ahead.
//! * The operator's side: `logger` (the lines on stderr), `metrics`
//!   (Prometheus), `telemetry` (OpenTelemetry's traces, and the id a
//!   person can quote), `span` (a span that ends itself when dropped: a
//!   leaf), `traced` (each request the library sends an API, every
//!   redirect hop, a span of its own), `rate` (`--person-rate`),
//!   `stopping` (stdio's end).
//! * `on_thread`: the one context a fetch's thread holds while the library
//!   works for it (the call's number, the hop its connection is held to,
//!   what its requests are traced with), set and dropped by one guard.
//! * The leaves: `approval` (a call a policy asks a person to approve:
//!   what it is bound to, its link, where its verdict waits), `answer`
//!   (what the model reads), `failure` (every refusal
//!   as one type), `accounts`, `providers`.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod accounts;
mod addresses;
mod agents;
mod answer;
mod approval;
mod calls;
mod connect;
mod contents;
mod decisions;
mod env;
mod failure;
mod graphql;
mod handshake;
mod hint;
mod http;
mod keys;
mod literals;
mod logger;
mod lookup;
mod metrics;
mod on_thread;
mod policy;
mod policy_command;
mod principal;
mod providers;
mod rate;
mod readings;
mod reply;
mod serve;
mod server;
mod span;
mod state;
mod stopping;
mod telemetry;
mod ticket;
mod tools;
mod traced;

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;

use clap::error::ErrorKind;
use clap::{CommandFactory, Parser};
use nexus_sdk::{CredentialScope, NexusClient, NexusClientOptions, NexusError, one_line, setting};
use nexus_sdk_tokio::AsyncNexusClient;
use rmcp::ServiceExt;
use tokio::signal::unix::{SignalKind, signal};

use crate::accounts::Accounts;
use crate::calls::Calls;
use crate::connect::{Connector, Consent};
use crate::hint::ConnectHint;
use crate::keys::{HeldKeys, Keys};
use crate::serve::ServeArgs;
use crate::server::{Mode, NexusServer, Settings};
use crate::state::{KEY_VARIABLE, Keyring};
use crate::stopping::StdinWatch;

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
  NEXUS_TIMEOUT           what a call may take, waits for the Gateway's rate
                          limit included: 30, 30s, 2.5s or 500ms (--timeout;
                          default 35s)
  NEXUS_MCP_STATE_KEY     at least 32 bytes that seal the requestState of a call
                          waiting for the user (MCP 2026-07-28); the same key
                          on replicas behind one endpoint lets each finish the
                          others' calls. Unset: a key drawn at start (stdio);
                          serve needs it, or NEXUS_MCP_STATE_KEYS
  NEXUS_MCP_STATE_KEYS    serve: a keyring, kid:key,kid:key… (the first seals,
                          every one opens), to rotate the key
  NEXUS_MCP_LOGIN_CLIENT_SECRET           serve: the connect page's client
                          secret at the issuer (--login-client-id)
  NEXUS_MCP_INTROSPECTION_CLIENT_SECRET   serve: the secret of the client that
                          asks the issuer about opaque tokens
                          (--introspection-client-id)
  NEXUS_MCP_STORE         serve --oauth-proxy: the Redis replicas share
                          (--store), which may hold its password
  NEXUS_MCP_STORE_PASSWORD   serve: that Redis's password alone, joined to
                          --store's URL (percent-encoded)
  OTEL_EXPORTER_OTLP_ENDPOINT   traces, OTLP over HTTP, to this collector
                          (and the other OTEL_* variables, as OpenTelemetry
                          names them); unset: no trace
  OTEL_EXPORTER_OTLP_HEADERS    the collector's headers, key=value,… (its key)
  …_FILE                  each secret above (NEXUS_API_KEY, NEXUS_MCP_STATE_KEY,
                          NEXUS_MCP_STATE_KEYS, NEXUS_MCP_LOGIN_CLIENT_SECRET,
                          NEXUS_MCP_INTROSPECTION_CLIENT_SECRET,
                          NEXUS_MCP_STORE, NEXUS_MCP_STORE_PASSWORD,
                          OTEL_EXPORTER_OTLP_HEADERS) from
                          the file its
                          _FILE twin names (NEXUS_API_KEY_FILE…), a trailing line
                          break trimmed; not both
  NEXUS_LOG               error, warn, info, debug or trace: on stderr. Unset:
                          a start line and a line per call (the audit trail)
                          at info, everything else from warn

Without --allow-write the model may send GET and HEAD only, with no body and
no method-override header, and POST a GraphQL request of queries alone to a
provider's GraphQL endpoint (GitHub's /graphql, GitLab's /api/graphql, …,
and each --graphql-endpoint).";

/// A ready MCP server: the APIs a Nexus workspace connects, called with
/// short-lived credentials from the Nexus Gateway; the model never sees a
/// credential, and one never leaves for another origin. Over stdio for one
/// person by default; `serve` for a team, over Streamable HTTP with OAuth.
#[derive(Parser)]
#[command(name = "nexus-mcp", version, after_help = ENVIRONMENT)]
struct Cli {
    #[command(subcommand)]
    mode: Option<Command>,
    /// The workspace whose credentials the tools use (stdio).
    #[arg(long, env = "NEXUS_WORKSPACE_ID", value_name = "ID", global = true)]
    workspace: Option<String>,
    /// One of several accounts the model chooses by label (repeat): over
    /// stdio LABEL=WORKSPACE, in serve LABEL (the person's workspace, then
    /// `:LABEL`). With two or more, the tools take a required `account`.
    #[arg(long = "account", value_name = "LABEL[=WORKSPACE]", global = true)]
    accounts: Vec<String>,
    /// Offer only this provider (repeat, or a comma list: github,stripe);
    /// by default every one the Gateway lists.
    #[arg(
        long = "provider",
        value_name = "NAME",
        value_delimiter = ',',
        global = true
    )]
    providers: Vec<String>,
    /// What a call may take, a wait for the Gateway's rate limit included:
    /// 30, 30s, 2.5s or 500ms (default 35s).
    #[arg(long, env = "NEXUS_TIMEOUT", value_name = "DURATION", global = true)]
    timeout: Option<String>,
    /// Let the model send requests with any method (POST, PUT, PATCH,
    /// DELETE…), not only GET and HEAD.
    #[arg(long, global = true)]
    allow_write: bool,
    /// Send the trace context (`traceparent`, `tracestate`) to the APIs
    /// too, when traces are on (OTEL_EXPORTER_OTLP_ENDPOINT): they are
    /// third parties, so by default only the Gateway's side is traced.
    #[arg(long, env = "NEXUS_MCP_TRACE_CONTEXT_TO_API", global = true)]
    trace_context_to_api: bool,
    /// An origin a redirect the API answers may lead to though it is not on
    /// the public Internet (a host inside your network): every other hop
    /// off the provider's origin must reach a public address (repeat for
    /// more): `https://HOST[:PORT]`
    #[arg(long = "redirect-origin", value_name = "ORIGIN", global = true)]
    redirect_origins: Vec<String>,
    /// A GraphQL endpoint beside the providers' own (GitHub's /graphql,
    /// GitLab's /api/graphql, …), by provider and path (`*` one segment;
    /// repeat for more): read-only, a POST of queries alone to it reads;
    /// a policy reads its operation (context.graphql) wherever it is sent.
    #[arg(long = "graphql-endpoint", value_name = "PROVIDER=PATH", value_parser = graphql::endpoint, global = true)]
    graphql_endpoints: Vec<(String, String)>,
    /// The lines on stderr: text, or json (one JSON object a line, a call's
    /// fields each its own: who, client, account, provider, method, host,
    /// status, bytes, ms, outcome)
    #[arg(long, value_name = "FORMAT", default_value = "text", global = true)]
    log_format: logger::Format,
    /// Let the workspace's user connect this provider from the host when a
    /// call needs it (repeat for more): the user, never the model, is sent
    /// to consent; `=SCOPE,SCOPE…` names the scopes asked for.
    #[arg(long = "connect", value_name = "PROVIDER[=SCOPE,…]", global = true)]
    connect: Vec<String>,
    /// Where the provider sends the user back after consent.
    #[arg(
        long,
        value_name = "URL",
        default_value = "http://localhost/nexus/connected",
        global = true
    )]
    return_url: String,
    /// How long before a token expires the server stops using it and
    /// resolves a new one: 30, 30s, 2.5s or 500ms (default 30s). A Broker
    /// whose tokens live less than that needs a shorter one, or every call
    /// resolves again.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = duration, global = true)]
    token_buffer: std::time::Duration,
    /// How long a call waits for the user to connect, from the first call
    /// that met the missing connection: 30, 30s, 2.5s or 500ms (default 300s).
    #[arg(long, value_name = "DURATION", default_value = "300s", value_parser = duration, global = true)]
    connect_wait: std::time::Duration,
    /// Who may do what, in Cedar: a call none of FILE's policies permits is
    /// denied before its token is resolved or anything is sent; a provider
    /// none lets a person list or connect is not shown or offered to them
    /// (`nexus-mcp policy schema` prints the names a policy is written
    /// against; SIGHUP reads FILE again).
    #[arg(long, value_name = "FILE", global = true)]
    policy: Option<std::path::PathBuf>,
    /// `--policy`'s file, read and validated before anything is served.
    #[arg(skip)]
    policies: Option<Arc<policy::Held>>,
}

/// How `nexus-mcp` serves, or what else it does.
#[derive(clap::Subcommand)]
enum Command {
    /// MCP over Streamable HTTP for many people, each acting for their own
    /// workspace: an OAuth resource server, stateless, for any number of
    /// replicas sharing NEXUS_MCP_STATE_KEY (or NEXUS_MCP_STATE_KEYS).
    Serve(Box<ServeArgs>),
    /// The workspace `serve` acts in for a person, for `nexus connect`: from
    /// the issuer and the person's subject (the claim --subject-claim names);
    /// it prints the workspace on stdout and the `who=` the log shows for
    /// them on stderr. Not for --workspace-claim, whose workspace is the claim.
    Workspace(WorkspaceArgs),
    /// Policies (`--policy`): print the schema they are written against, or
    /// check a file (exit 0, or 2 with each error's line and column).
    Policy(Box<policy_command::PolicyArgs>),
}

/// `nexus-mcp workspace`'s flags.
#[derive(clap::Args)]
struct WorkspaceArgs {
    /// The issuer, exactly as `serve --issuer` names it.
    #[arg(long, value_name = "URL")]
    issuer: String,
    /// The person's subject: the value of the claim `serve --subject-claim` reads.
    #[arg(long, value_name = "SUBJECT")]
    subject: String,
    /// `serve --workspace-prefix`, if it has one.
    #[arg(long, value_name = "P", default_value = "")]
    workspace_prefix: String,
}

/// `nexus-mcp workspace`: the person's workspace (and each `--account`'s).
fn workspace_of(args: &WorkspaceArgs, accounts: &[String]) -> ExitCode {
    if args.subject.trim().is_empty() {
        usage("--subject names the person: a blank subject is refused by serve too");
    }
    let hex = principal::person(&args.issuer, &args.subject);
    let workspace = principal::own_workspace(&args.workspace_prefix, &hex);
    eprintln!("who={}", &hex[..12]);
    println!("{workspace}");
    for label in accounts {
        println!("{workspace}:{label}");
    }
    ExitCode::SUCCESS
}

/// A duration as the library reads `NEXUS_TIMEOUT`: `30`, `30s`, `2.5s` or
/// `500ms`, more than zero and at most a year.
fn duration(text: &str) -> Result<std::time::Duration, String> {
    let why = || {
        format!(
            "{:?} is not a duration above 0 such as 30, 30s, 2.5s or 500ms",
            one_line(text)
        )
    };
    setting::parse_duration(text).ok_or_else(why)
}

/// The variable `name` through the library's reader: a value that is not
/// UTF-8 is a usage error naming it, never read as unset. A secret's value
/// may come from the file its `_FILE` twin names instead (a trailing line
/// break trimmed), as secrets are mounted; both set is a usage error.
fn var(name: &'static str) -> Option<String> {
    env::try_var(name).unwrap_or_else(|why| usage(&why))
}

/// The variable naming the log level.
const LOG_VARIABLE: &str = "NEXUS_LOG";

/// A usage error naming the flag or variable (exit 2, as clap's own).
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

fn usage(message: &str) -> ! {
    let mut command = Cli::command();
    command
        .error(clap::error::ErrorKind::ValueValidation, message)
        .exit()
}

/// The command line read, or refused: a variable that is not UTF-8 named,
/// and a value clap quotes shown without a URL's user or password.
fn parsed() -> Cli {
    Cli::try_parse().unwrap_or_else(|error| {
        match not_utf8(&Cli::command()).filter(|_| error.kind() == ErrorKind::InvalidUtf8) {
            Some(refused) => usage(&answer::said(&refused)),
            None if error.use_stderr() => {
                let said = addresses::userinfo_hidden(&error.render().to_string());
                eprint!("{said}");
                std::process::exit(error.exit_code())
            }
            None => error.exit(),
        }
    })
}

fn main() -> ExitCode {
    let mut cli = parsed();
    if let Some(Command::Serve(args)) = &mut cli.mode
        && let Some(action) = args.action.take()
    {
        return serve::command::run(action);
    }
    if let Some(Command::Workspace(args)) = &cli.mode {
        return workspace_of(args, &cli.accounts);
    }
    if let Some(Command::Policy(args)) = &cli.mode {
        let named = (cli.providers.first(), cli.accounts.first());
        let graphql = &cli.graphql_endpoints;
        return policy_command::command(args, cli.policy.as_deref(), named, graphql);
    }
    // A policy file that does not hold refuses the start; `serve --check`
    // says it as one failing check among the others.
    let checking = matches!(&cli.mode, Some(Command::Serve(args)) if args.check);
    let unheld = match cli.policy.as_deref().map(policy::Held::read).transpose() {
        Ok(held) => {
            cli.policies = held.map(Arc::new);
            None
        }
        Err(why) if checking => Some(why),
        Err(why) => usage(&why),
    };
    let trusted = addresses::origins("--redirect-origin", &cli.redirect_origins);
    cli.redirect_origins = trusted.unwrap_or_else(|why| usage(&why));
    if cli.providers.iter().any(|p| p.trim().is_empty()) {
        usage("--provider names a provider: an empty name (a blank value, or `,,`) offers none");
    }
    cli.providers = cli.providers.iter().map(|p| p.trim().to_owned()).collect();
    let named = var(LOG_VARIABLE).unwrap_or_default();
    if !logger::set(cli.log_format, &named) {
        usage("NEXUS_LOG is error, warn, info, debug or trace (or unset for the default)");
    }
    // Refused at start, before anything says it is serving; `run` reads it.
    if let Err(why) = env::workers() {
        usage(&why);
    }
    // The configuration is checked before anything says it is serving.
    let read: Vec<_> = setting::VARIABLES.map(|name| (name, var(name))).into();
    let options = NexusClientOptions::from_env_with(|name| match name {
        setting::NEXUS_TIMEOUT => cli.timeout.clone(),
        _ => read
            .iter()
            .find(|(n, _)| *n == name)
            .and_then(|(_, v)| v.clone()),
    });
    let mut options = options.unwrap_or_else(|e| usage(&answer::said(&e)));
    // The Gateway's rate limit is waited out within the timeout, by the
    // library, unless NEXUS_RETRY_ON_429 says otherwise.
    options.retry_policy.retry_on_429 |= var(setting::NEXUS_RETRY_ON_429).is_none();
    // Each redirect off a provider's origin held to the address rule as it connects.
    options = options.agent(traced::client_agent);
    let traces = telemetry::start().unwrap_or_else(|why| usage(&why));
    if traces.is_some() {
        options = options.gateway_headers(telemetry::trace_headers);
    }
    let client = NexusClient::new(options.clone()).unwrap_or_else(|e| usage(&answer::said(&e)));
    let served = match cli.mode.take() {
        Some(Command::Serve(args)) => serving(cli, *args, client, (&options, unheld)),
        Some(Command::Workspace(_) | Command::Policy(_)) => Ok(()),
        None => stdio(cli, client, &options),
    };
    // The spans still queued go now, within a bound (a collector that is
    // down costs the stop two seconds at most).
    if let Some(traces) = traces {
        let _ = traces.shutdown_with_timeout(std::time::Duration::from_secs(2));
    }
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("nexus-mcp: {message}");
            ExitCode::FAILURE
        }
    }
}

/// `future` on a runtime of its own with [`env::workers`] worker threads,
/// once the logger is set.
fn run(future: impl Future<Output = Result<(), String>>) -> Result<(), String> {
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    let runtime = runtime.worker_threads(env::workers()?).enable_all().build();
    let runtime = runtime.map_err(|e| format!("cannot start the runtime: {e}"))?;
    let served = runtime.block_on(future);
    // Not waiting for stdin's reader, which blocks in a read that nothing interrupts.
    runtime.shutdown_background();
    served
}

/// What both modes share: the server the flags set up, in `mode` (stdio's
/// workspace, or `serve`'s people).
fn server(cli: Cli, mode: Mode, client: NexusClient, connector: Connector) -> NexusServer {
    let stdio = matches!(mode, Mode::Stdio { .. });
    let accounts = Accounts::new(&cli.accounts, stdio);
    let settings = Settings {
        policy: cli.policies,
        accounts: accounts.unwrap_or_else(|why| usage(&why)),
        mode,
        providers: cli.providers,
        allow_write: cli.allow_write,
        trace_context_to_api: cli.trace_context_to_api,
        connector,
        token_buffer: cli.token_buffer,
        redirect_origins: Arc::new(cli.redirect_origins),
        graphql_endpoints: Arc::new(cli.graphql_endpoints),
    };
    NexusServer::new(AsyncNexusClient::new(client), settings, Calls::new())
}

/// `serve`: many people, each for their own workspace, over Streamable HTTP.
fn serving(
    cli: Cli,
    args: ServeArgs,
    client: NexusClient,
    (options, unheld): (&NexusClientOptions, Option<String>),
) -> Result<(), String> {
    if cli.workspace.is_some() {
        usage(
            "--workspace (NEXUS_WORKSPACE_ID) does not apply to serve: each call acts for the \
             workspace of the person its token names",
        );
    }
    // `--check` says every failing check: a keyring that does not read is
    // one line, and the other checks run on a stand-in that seals nothing.
    let (keys, unread) = match Keys::read() {
        Ok(keys) => (keys, None),
        Err(why) if args.check => {
            let stand_in = Keyring::parse(&format!("check:{}", "-".repeat(64)));
            let stand_in = stand_in.and_then(|ring| Keys::new(&ring));
            (stand_in.unwrap_or_else(|why| usage(&why)), Some(why))
        }
        Err(why) => usage(&why),
    };
    let unheld = unheld.iter().flat_map(|why| why.lines().map(str::to_owned));
    let unread: Vec<String> = unread.into_iter().chain(unheld).collect();
    let keys = Arc::new(HeldKeys::new(keys));
    let checking = args.check;
    let person_rate = args.person_rate;
    let connects = !cli.connect.is_empty();
    let wing = args.checked(&keys, (cli.policy.is_some(), connects));
    let wing = wing.unwrap_or_else(|why| usage(&why));
    let links = wing.page.as_ref().map(|(links, _)| Arc::clone(links));
    let done = (links.as_ref()).map_or(cli.return_url.clone(), |links| links.done_url());
    let connector = Connector::new(&cli.connect, &done, cli.connect_wait, keys.clone());
    let mut connector = connector.unwrap_or_else(|why| usage(&why));
    if let Some(links) = links {
        connector = connector.with_consent(Consent::Page(links));
    }
    let gate = &wing.gate;
    let hint = ConnectHint::new(
        gate.issuer.url(),
        &gate.subject_claim,
        &gate.prefix,
        gate.claim.as_deref(),
    );
    let person_rate = person_rate.map(|n| Box::new(wing.site.store.person_rate(n as usize)));
    let approvals = Arc::clone(&wing.site.approvals);
    let links = (wing.page.as_ref()).map(|_| {
        let (origin, life) = (&wing.site.origin, approvals.life());
        Arc::new(crate::ticket::ApprovalLinks::new(
            origin,
            Arc::clone(&keys),
            life,
        ))
    });
    let approving = crate::ticket::Approving { approvals, links };
    let mode = Mode::Serve {
        person_rate,
        hint,
        approving,
    };
    if log::set_logger(&logger::StderrLogger).is_ok() {
        // INFO at least reaches the logger, which says only what NEXUS_LOG
        // asks: the library's record of each Gateway request is counted.
        let level = logger::level().unwrap_or(log::LevelFilter::Info);
        log::set_max_level(level.max(log::LevelFilter::Info));
    }
    if checking {
        let server = server(cli, mode, client, connector);
        let held = run(async {
            match serve::check(wing, &server, unread).await {
                true => Ok(()),
                false => Err(String::new()),
            }
        });
        std::process::exit(if held.is_ok() { 0 } else { 2 });
    }
    started(&cli, options);
    let server = server(cli, mode, client, connector);
    run(serve::run(wing, server, keys))
}

/// Stdio: one person, one workspace, on their machine.
fn stdio(mut cli: Cli, client: NexusClient, options: &NexusClientOptions) -> Result<(), String> {
    let workspace = cli.workspace.take().unwrap_or_default();
    if !cli.accounts.is_empty() && !workspace.trim().is_empty() {
        usage(
            "--account names each account's workspace (LABEL=WORKSPACE): --workspace \
             (NEXUS_WORKSPACE_ID) is for one account, not beside them",
        );
    }
    if workspace.trim().is_empty() && cli.accounts.is_empty() {
        usage("the workspace is missing or blank: give --workspace <ID> or set NEXUS_WORKSPACE_ID");
    }
    cli.workspace = Some(workspace.trim().to_owned());
    if std::io::stdin().is_terminal() {
        eprintln!(
            "nexus-mcp speaks MCP on stdin and stdout: a host (Claude Desktop, Claude Code, \
             Cursor…) starts it; see nexus-mcp --help and its README for a host's config"
        );
    }
    let key = var(KEY_VARIABLE).filter(|k| !k.is_empty());
    let keys = Keys::one(key.as_deref()).unwrap_or_else(|why| usage(&why));
    let keys = Arc::new(HeldKeys::new(keys));
    let connector = Connector::new(&cli.connect, &cli.return_url, cli.connect_wait, keys);
    let connector = connector.unwrap_or_else(|why| usage(&why));
    if log::set_logger(&logger::StderrLogger).is_ok() {
        log::set_max_level(logger::level().unwrap_or(log::LevelFilter::Info));
    }
    started(&cli, options);
    run(serve_stdio(cli, client, connector))
}

/// Serves MCP on stdio until stdin ends or SIGTERM, then lets the calls
/// under way answer (`serve`'s HTTP side is `mod serve`).
async fn serve_stdio(cli: Cli, client: NexusClient, connector: Connector) -> Result<(), String> {
    let workspace = cli.workspace.clone().unwrap_or_default();
    let server = server(cli, Mode::Stdio { workspace }, client, connector);
    let calls = server.calls();
    if server.names_providers() {
        // Said at start when the Gateway answers; at the first listing otherwise.
        let checking = server.clone();
        tokio::spawn(async move { checking.check_at_start().await });
    }
    let input = StdinWatch::new(tokio::io::stdin(), calls.clone());
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

/// The start line on stderr: what this server will do, and a warning when
/// the credential scope is `anywhere`.
fn started(cli: &Cli, options: &NexusClientOptions) {
    let providers = if cli.providers.is_empty() {
        "every provider the Gateway lists".to_owned()
    } else {
        format!("providers {}", cli.providers.join(", "))
    };
    let mode = if cli.allow_write {
        "--allow-write: any method"
    } else {
        "read-only: GET and HEAD, and GraphQL queries (start it with --allow-write to let the model write)"
    };
    let connect = if cli.connect.is_empty() {
        "no connect on first use (--connect)".to_owned()
    } else {
        format!(
            "the user may connect {} from the host",
            cli.connect.join(", ")
        )
    };
    let serving = match cli.workspace.as_deref() {
        _ if !cli.accounts.is_empty() => format!("accounts {}", cli.accounts.join(", ")),
        Some(workspace) => format!("workspace {workspace}"),
        None => "each person's workspace, from their verified token".to_owned(),
    };
    let line = format!(
        "nexus-mcp {} serving {serving}, offering {providers}; {mode}; {connect}; Gateway {}; \
         timeout {:?}",
        env!("CARGO_PKG_VERSION"),
        addresses::shown(&options.gateway_url),
        options.timeout,
    );
    log::info!(target: "nexus_mcp", "{}", one_line(&line));
    if options.credential_scope == CredentialScope::anywhere() {
        log::warn!(
            target: "nexus_mcp",
            "NEXUS_CREDENTIAL_SCOPE=anywhere: the model may send a credential to any URL it names; \
             a prompt injection can send it to an attacker"
        );
    }
}

#[cfg(test)]
mod tests {
    /// Every `mod` a map file declares is named in its opening doc, so
    /// that the maps keep up with the rooms.
    #[test]
    fn every_room_is_named_on_its_map() {
        let maps = [
            ("main.rs", include_str!("main.rs")),
            ("serve.rs", include_str!("serve.rs")),
            ("serve/oauth.rs", include_str!("serve/oauth.rs")),
            ("serve/signals.rs", include_str!("serve/signals.rs")),
        ];
        for (file, text) in maps {
            let doc: String = (text.lines())
                .take_while(|line| line.starts_with("//!") || line.trim().is_empty())
                .collect();
            let rooms = text.lines().filter_map(|line| {
                let line = line.trim_start_matches("pub(crate) ");
                line.strip_prefix("mod ")?.strip_suffix(';')
            });
            for room in rooms {
                let named = [format!("`{room}`"), format!("`{room}::")];
                let named = named.iter().any(|name| doc.contains(name.as_str()));
                assert!(named, "{file} does not name {room}");
            }
        }
    }

    use super::*;

    /// Every subcommand's flags as clap asserts them (a name two flags
    /// share is caught here, not at a user's first run of it).
    #[test]
    fn the_command_line_holds_together() {
        Cli::command().debug_assert();
    }
}
