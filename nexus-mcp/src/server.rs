//! The MCP server: two tools, `authenticated_fetch` and `list_providers`,
//! annotated as the command line set them up, and every failure answered as
//! a tool error on one line, which the model reads.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use nexus_sdk::http::Uri;
use nexus_sdk::{
    FetchOptions, FetchResponse, NexusError, Provider, TokenCache, X_NEXUS_REDIRECTED_TO,
    X_NEXUS_WITHHELD, one_line,
};
use nexus_sdk_tokio::AsyncNexusClient;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
    ToolAnnotations,
};
use rmcp::schemars::{self, JsonSchema};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::answer::{BODY_CAP, Fetched, cut, fetched, said};
use crate::connect::{Call, Connector};
use crate::providers::{Listed, not_listed, offered, select};
use crate::stopping::Calls;

/// What the command line and the environment set.
pub(crate) struct Settings {
    /// The workspace whose credentials the tools use.
    pub(crate) workspace: String,
    /// The providers offered; empty for every one the Gateway lists.
    pub(crate) providers: Vec<String>,
    /// Whether a method other than GET and HEAD may be sent.
    pub(crate) allow_write: bool,
    /// Whether stderr has said which `providers` the Gateway does not list.
    pub(crate) checked: AtomicBool,
    /// How many fetches were called: each call's number on stderr.
    pub(crate) calls_made: AtomicU64,
    /// The Gateway's last listing this server read, to find a model's
    /// spelling of an offered name.
    pub(crate) listing: Mutex<Vec<Provider>>,
    /// Connect on first use (`--connect`).
    pub(crate) connector: Connector,
    /// How long before a token expires the server stops using it (`--token-buffer`).
    pub(crate) token_buffer: std::time::Duration,
}

/// Headers HTTP itself sets (framing, hop by hop): a model's are refused.
const FRAMING: [&str; 7] = [
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "upgrade",
    "expect",
    "te",
];

/// Headers that make a server read another method than the request's.
const OVERRIDES: [&str; 3] = [
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
];

/// The server: one client and one cache, shared by every call.
#[derive(Clone)]
pub(crate) struct NexusServer {
    client: AsyncNexusClient,
    cache: Arc<TokenCache>,
    settings: Arc<Settings>,
    calls: Calls,
}

/// `authenticated_fetch`'s arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct FetchArgs {
    /// The provider whose credential to use, as list_providers names it (e.g. "github").
    provider: String,
    /// An absolute http(s) URL on that provider's API (an origin list_providers gives).
    url: String,
    /// The HTTP method; GET when absent.
    method: Option<String>,
    /// Extra request headers (never the credential: the server adds it).
    headers: Option<BTreeMap<String, String>>,
    /// A request body, as text.
    body: Option<String>,
}

/// `list_providers` takes no arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct NoArgs {}

/// `list_providers`' structured result.
#[derive(Debug, Serialize, JsonSchema)]
struct Providers {
    /// The Gateway's providers this server offers (one this workspace has
    /// not connected answers connection_not_found), as many as fit in 64 KiB.
    providers: Vec<Listed>,
    /// How many more it offers that did not fit, and are left out.
    #[schemars(with = "i64")]
    left_out: usize,
}

impl NexusServer {
    pub(crate) fn new(client: AsyncNexusClient, settings: Settings, calls: Calls) -> NexusServer {
        let cache = Arc::new(TokenCache::with_buffer(settings.token_buffer));
        let settings = Arc::new(settings);
        NexusServer {
            client,
            cache,
            settings,
            calls,
        }
    }

    /// Whether every provider the Gateway lists is offered.
    pub(crate) fn offers_all(&self) -> bool {
        self.settings.providers.is_empty()
    }

    /// Checks the `--provider` names against the Gateway's listing at
    /// start; a Gateway that does not answer leaves it to the first listing.
    pub(crate) async fn check_at_start(&self) {
        match self.client.run(|c| c.providers()).await {
            Ok(listing) => self.check_listing(&listing),
            Err(e) => log::warn!(
                target: "nexus_mcp",
                "the Gateway's provider list could not be read at start ({}); --provider is \
                 checked at the first listing",
                said(&e)
            ),
        }
    }

    /// The Gateway's listing this server read last (empty before one).
    fn held_listing(&self) -> Vec<Provider> {
        let held = self.settings.listing.lock();
        held.map(|listing| listing.clone()).unwrap_or_default()
    }

    /// The offered name the model's `provider` is (see [`offered`]): the
    /// Gateway's listing is read when the server holds none and the name
    /// is not an offered one as written.
    async fn offered(&self, provider: &str) -> Result<String, String> {
        let names = &self.settings.providers;
        let held = self.held_listing();
        let unread = held.is_empty() && !names.is_empty() && !names.iter().any(|n| n == provider);
        let read = if unread {
            self.client.run(|c| c.providers()).await.ok()
        } else {
            None
        };
        let Some(listing) = read else {
            return offered(names, &held, provider);
        };
        self.check_listing(&listing);
        offered(names, &listing, provider)
    }

    /// Says on stderr, once, which `--provider` names the Gateway does not
    /// list (with those it does), from a listing the server read, and
    /// keeps it.
    pub(crate) fn check_listing(&self, listing: &[Provider]) {
        if let Ok(mut held) = self.settings.listing.lock() {
            *held = listing.to_vec();
        }
        let (_, missing) = select(listing.to_vec(), &self.settings.providers);
        if !missing.is_empty() && !self.settings.checked.swap(true, Ordering::Relaxed) {
            log::warn!(target: "nexus_mcp", "{}", not_listed(&missing, listing));
        }
        self.settings.checked.store(true, Ordering::Relaxed);
    }

    /// The two tools, described and annotated as this server was started.
    fn tools(&self) -> Vec<Tool> {
        let methods = if self.settings.allow_write {
            "Any HTTP method (started with --allow-write)."
        } else {
            "GET and HEAD only: the server is read-only."
        };
        let fetch = format!(
            "Send an HTTP request to a provider's API with the workspace's credential for it. \
             The URL must be on an origin list_providers gives for that provider: any other is \
             refused before anything is sent. {methods} Answers the status line and up to {} KiB \
             of the body; an answer that echoes the credential is withheld.",
            BODY_CAP >> 10
        );
        let writes = ToolAnnotations::new().read_only(false).destructive(true);
        let reads = ToolAnnotations::new().read_only(true);
        let annotations = if self.settings.allow_write {
            writes
        } else {
            reads
        };
        let list = "The Gateway's providers this server offers, each with exactly the origins \
                    its credential may reach and the Gateway's description. A provider this \
                    workspace has not connected answers connection_not_found. No secret.";
        let mut fetch = Tool::new("authenticated_fetch", fetch, Arc::default())
            .with_title("Call a provider's API with the workspace's credential")
            .with_input_schema::<FetchArgs>()
            .with_output_schema::<Fetched>()
            .with_annotations(annotations.open_world(true));
        if !self.settings.allow_write {
            // The schema says what a read-only server takes.
            let mut schema = (*fetch.input_schema).clone();
            if let Some(method) = schema
                .get_mut("properties")
                .and_then(|p| p.get_mut("method"))
            {
                *method = serde_json::json!({"type": "string", "enum": ["GET", "HEAD"],
                    "description": "The HTTP method: GET (the default) or HEAD."});
            }
            fetch.input_schema = Arc::new(schema);
        }
        let list = Tool::new("list_providers", list, Arc::default())
            .with_title("List the providers and where their credentials may go")
            .with_input_schema::<NoArgs>()
            .with_output_schema::<Providers>()
            .with_annotations(ToolAnnotations::new().read_only(true).open_world(false));
        vec![fetch, list]
    }

    /// `authenticated_fetch`, and its line on stderr (the audit trail).
    async fn fetch(
        &self,
        arguments: Value,
        context: &RequestContext<RoleServer>,
    ) -> Result<CallToolResult, String> {
        let args: FetchArgs = arguments_of("authenticated_fetch", arguments)?;
        let started = Instant::now();
        let call = self.settings.calls_made.fetch_add(1, Ordering::Relaxed) + 1;
        let answer = match self.send(&args, call).await {
            Err(Sent::Unconnected(error, provider)) => {
                self.connect_then_send(&args, call, error, &provider, context, started)
                    .await
            }
            sent => sent.map_err(Sent::said),
        };
        let client = context
            .peer
            .peer_info()
            .map(|info| info.client_info.name.clone());
        audit(
            &args,
            &answer,
            started,
            (call, client.as_deref().unwrap_or("?")),
        );
        let (status, headers, body) = answer?;
        let (text, fetched) = fetched(status, &headers, &body);
        Ok(structured(text, &fetched))
    }

    /// When the fetch met a provider the workspace's user must connect and
    /// `--connect` names it: the user is sent to consent, then the request
    /// is sent once more. Otherwise the SDK's error.
    async fn connect_then_send(
        &self,
        args: &FetchArgs,
        call: u64,
        error: NexusError,
        provider: &str,
        context: &RequestContext<RoleServer>,
        started: Instant,
    ) -> Result<FetchResponse, String> {
        let names = self.settings.connector.names();
        let listing = self.held_listing();
        // Only a provider `--connect` names (found as the Gateway finds names).
        let name = offered(&names, &listing, provider).ok();
        let Some(name) = name.filter(|_| !names.is_empty()) else {
            return Err(said(&error));
        };
        let asking = Call {
            peer: &context.peer,
            progress: context.meta.get_progress_token(),
            client: &self.client,
            workspace: &self.settings.workspace,
            started,
        };
        self.settings.connector.connect(&asking, &name).await?;
        self.send(args, call).await.map_err(Sent::said)
    }

    /// The request: refused before any I/O when the provider is not
    /// offered or the request is not one this server sends; the SDK
    /// refuses a URL outside the credential scope before anything is
    /// resolved or sent.
    async fn send(&self, args: &FetchArgs, call: u64) -> Result<FetchResponse, Sent> {
        let provider = self.offered(&args.provider).await?;
        let method = args.method.as_deref().unwrap_or("GET").to_ascii_uppercase();
        let headers = args.headers.clone().unwrap_or_default();
        self.refused(&method, &headers, args.body.is_some())?;
        // The answer goes to the model: one that echoes the credential is withheld.
        let mut options = FetchOptions::default()
            .method(&method)
            .withhold_credential_echo(true);
        for (name, value) in headers {
            options = options.header(name, value);
        }
        if let Some(body) = &args.body {
            options = options.data(body.clone());
        }
        // On the call's own thread, so that the library's lines name the call.
        let (cache, workspace) = (Arc::clone(&self.cache), self.settings.workspace.clone());
        let (sent_as, url) = (provider.clone(), args.url.clone());
        let fetched = self
            .client
            .run(move |c| {
                crate::CALL.set(call);
                c.authenticated_fetch(&cache, &workspace, &sent_as, &url, options)
            })
            .await;
        fetched.map_err(|e| {
            // A provider the user must connect: `--connect` may send them to consent.
            if e.needs_connection() {
                Sent::Unconnected(e, provider)
            } else {
                Sent::Refused(said(&e))
            }
        })
    }

    /// Why this server will not send a request, if it will not: a framing
    /// or hop-by-hop header in any mode; when read-only, a method other
    /// than GET and HEAD, a method-override header, or a body. The model is
    /// not told how to widen its rights: stderr and the README tell the person.
    fn refused(
        &self,
        method: &str,
        headers: &BTreeMap<String, String>,
        body: bool,
    ) -> Result<(), String> {
        let among = |list: &[&str]| {
            (headers.keys()).find(|name| list.iter().any(|l| name.eq_ignore_ascii_case(l)))
        };
        if let Some(name) = among(&FRAMING) {
            let name = one_line(name);
            return Err(format!(
                "invalid_input: the {name:?} header is HTTP's own; it cannot be set"
            ));
        }
        if self.settings.allow_write {
            return Ok(());
        }
        let read_only = "read_only: this server is read-only and sends GET and HEAD only";
        if !matches!(method, "GET" | "HEAD") {
            return Err(format!("{read_only}, not {:?}", one_line(method)));
        }
        if let Some(name) = among(&OVERRIDES) {
            return Err(format!(
                "{read_only}; a method-override header ({}) is refused",
                one_line(name)
            ));
        }
        if body {
            return Err(format!("{read_only}, without a body"));
        }
        Ok(())
    }

    /// `list_providers`: the Gateway's providers this server offers.
    async fn list(&self, arguments: Value) -> Result<CallToolResult, String> {
        let NoArgs {} = arguments_of("list_providers", arguments)?;
        let listing = self.client.run(|c| c.providers()).await;
        let listing = listing.map_err(|e| said(&e))?;
        self.check_listing(&listing);
        let (mut providers, _) = select(listing, &self.settings.providers);
        let mut lines: Vec<String> = Vec::new();
        let mut size = 0;
        for line in providers.iter().map(Listed::line) {
            size += line.len() + 1;
            if size > BODY_CAP {
                break;
            }
            lines.push(line);
        }
        let left_out = providers.len() - lines.len();
        providers.truncate(lines.len());
        let text = if lines.is_empty() && left_out == 0 {
            "No provider: the Gateway lists none this server offers.".to_owned()
        } else {
            let more = match left_out {
                0 => String::new(),
                n => format!("\n[{n} more providers left out: the list is cut at 64 KiB]"),
            };
            format!(
                "The Gateway's providers this server offers, each with exactly the origins its \
                 credential may reach (one this workspace has not connected answers \
                 connection_not_found):\n{}{more}",
                lines.join("\n")
            )
        };
        Ok(structured(
            text,
            &Providers {
                providers,
                left_out,
            },
        ))
    }
}

/// Why a request was not answered: refused (the tool error), or the
/// provider is not connected for the workspace (the SDK's error, and the
/// provider as it was asked for).
pub(crate) enum Sent {
    Refused(String),
    Unconnected(NexusError, String),
}

impl Sent {
    /// The tool error.
    fn said(self) -> String {
        match self {
            Sent::Refused(message) => message,
            Sent::Unconnected(error, _) => said(&error),
        }
    }
}

impl From<String> for Sent {
    fn from(message: String) -> Self {
        Sent::Refused(message)
    }
}

/// The call's line on stderr, at the default level: its number (the
/// library's lines during the call name it too), the client that made it
/// (its name from `initialize`, quoted), provider (quoted),
/// method, the URL's origin and path (never its query or fragment), then
/// the outcome: status, bytes and milliseconds, and what was withheld or
/// refused (with the error's code). Each field the model chose is escaped
/// and cut on its own, so the outcome at the end is always whole. No token,
/// no query value, no header value.
fn audit(
    args: &FetchArgs,
    answer: &Result<FetchResponse, String>,
    started: Instant,
    (call, client): (u64, &str),
) {
    let uri = args.url.parse::<Uri>().ok();
    let scheme = uri.as_ref().and_then(Uri::scheme_str).unwrap_or("");
    let host = uri
        .as_ref()
        .and_then(Uri::authority)
        .map_or("", |a| a.as_str());
    let host = host.rsplit('@').next().unwrap_or(host);
    let path = uri.as_ref().map_or("<not a URL>", Uri::path);
    let method = args.method.as_deref().unwrap_or("GET");
    let ms = started.elapsed().as_millis();
    let outcome = match answer {
        Ok((status, headers, body)) => {
            let withheld = headers.get(X_NEXUS_WITHHELD).map_or("", |_| ", withheld");
            let away = headers
                .get(X_NEXUS_REDIRECTED_TO)
                .and_then(|v| v.to_str().ok());
            let away = away
                .map(|o| format!(", redirected to {}", cut(o, 256)))
                .unwrap_or_default();
            format!("{status}, {} bytes, {ms} ms{withheld}{away}", body.len())
        }
        Err(message) => {
            let code = message.split(':').next().unwrap_or("error");
            format!("refused ({}), {ms} ms", cut(code, 64))
        }
    };
    log::info!(
        target: "nexus_mcp::call",
        "call #{call} client=\"{}\" provider=\"{}\" {} {}://{}{} -> {outcome}",
        cut(&client.replace('"', "\\\""), 64),
        cut(&args.provider.replace('"', "\\\""), 64),
        cut(method, 16),
        cut(scheme, 8),
        cut(host, 256),
        cut(path, 256),
    );
}

/// A tool's arguments, or `invalid_input` saying what is wrong with them.
fn arguments_of<T: for<'de> Deserialize<'de>>(tool: &str, arguments: Value) -> Result<T, String> {
    serde_json::from_value(arguments).map_err(|e| format!("invalid_input: {tool}'s arguments: {e}"))
}

/// A successful result: `text` for the model, `value` as structured content.
fn structured(text: String, value: &impl Serialize) -> CallToolResult {
    let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
    result.structured_content = serde_json::to_value(value).ok();
    result
}

/// A failure as a tool error: one line, escaped as every package escapes
/// a server's text.
fn failure(message: &str) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(one_line(message))])
}

// Tools are declared and routed by hand, not with rmcp's `#[tool_router]`:
// descriptions, schemas and annotations follow --allow-write, every call
// runs under the shutdown rule, and a bad argument must reach the model as
// a tool error (SEP-1303) where `Parameters<T>` answers invalid_params.
impl ServerHandler for NexusServer {
    fn get_info(&self) -> ServerConfig {
        let capabilities = ServerCapabilities::builder().enable_tools().build();
        let me = Implementation::new("nexus-mcp", env!("CARGO_PKG_VERSION"));
        ServerConfig::new(capabilities)
            .with_server_info(me)
            .with_instructions(
                "Calls the APIs a Nexus workspace connects, with short-lived credentials the \
                 server adds itself. Start with list_providers: it names the providers and the \
                 origins each credential may reach.",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.tools()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let arguments = Value::Object(request.arguments.unwrap_or_default());
        let fetch = match request.name.as_ref() {
            "authenticated_fetch" => true,
            "list_providers" => false,
            // The specification's answer to an unknown tool: a protocol error.
            other => {
                let other = one_line(other);
                let why = format!(
                    "no tool {other:?}: this server has authenticated_fetch and list_providers"
                );
                return Err(ErrorData::invalid_params(why, None));
            }
        };
        let call = async {
            if fetch {
                self.fetch(arguments, &context).await
            } else {
                self.list(arguments).await
            }
        };
        let result = self.calls.run(call).await;
        Ok(result.unwrap_or_else(|message| failure(&message)).into())
    }
}
