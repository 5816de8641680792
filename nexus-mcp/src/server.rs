//! The MCP handler: routes each request to its tool, under the call's life
//! ([`crate::calls`]), for every protocol version rmcp negotiates (the 2025
//! ones, opened by `initialize`, and 2026-07-28, stateless); whatever
//! depends on the client is read from the request being served. Every
//! failure is answered as a tool error on one line, which the model reads.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use nexus_sdk::http::Request;
use nexus_sdk::{FetchOptions, FetchResponse, NexusError, Provider, TokenCache, one_line};
use nexus_sdk_tokio::AsyncNexusClient;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, Implementation, InputRequiredResult,
    ListToolsResult, PaginatedRequestParams, ProtocolVersion, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::Value;

use crate::answer::{BODY_CAP, fetched, said, unconnected};
use crate::calls::{CALL, Calls, Ended, audit, audit_tool};
use crate::connect::{Call, Connector, Named, Retry};
use crate::providers::{Listed, not_listed, offered, select};
use crate::tools::{
    FetchArgs, NoArgs, Providers, arguments_of, failure, refused, structured, tools,
};

/// Whether this request speaks MCP 2026-07-28 or later (no server-to-client
/// requests: a call that needs the user answers `input_required`).
fn modern(context: &RequestContext<RoleServer>) -> bool {
    context
        .protocol_version()
        .is_some_and(|version| version >= ProtocolVersion::V_2026_07_28)
}

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

/// The server: one client and one cache, shared by every call.
#[derive(Clone)]
pub(crate) struct NexusServer {
    client: AsyncNexusClient,
    cache: Arc<TokenCache>,
    settings: Arc<Settings>,
    calls: Calls,
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

    /// Whether the command line names providers (`--provider`,
    /// `--connect`), which are checked against the Gateway's listing.
    pub(crate) fn names_providers(&self) -> bool {
        !self.settings.providers.is_empty() || !self.settings.connector.names().is_empty()
    }

    /// Checks the `--provider` and `--connect` names against the Gateway's
    /// listing at start; a Gateway that does not answer leaves it to the first listing.
    pub(crate) async fn check_at_start(&self) {
        match self.client.run(|c| c.providers()).await {
            Ok(listing) => self.check_listing(&listing),
            Err(e) => log::warn!(
                target: "nexus_mcp",
                "the Gateway's provider list could not be read at start ({}); --provider and \
                 --connect are checked at the first listing",
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

    /// Says on stderr, once, which `--provider` and `--connect` names the
    /// Gateway does not list (with those it does), from a listing the
    /// server read, and keeps it.
    pub(crate) fn check_listing(&self, listing: &[Provider]) {
        if let Ok(mut held) = self.settings.listing.lock() {
            *held = listing.to_vec();
        }
        if self.settings.checked.swap(true, Ordering::Relaxed) {
            return;
        }
        let flags = [
            ("--provider", self.settings.providers.clone()),
            ("--connect", self.settings.connector.names()),
        ];
        for (flag, names) in flags {
            let (_, missing) = select(listing.to_vec(), &names);
            if !missing.is_empty() {
                log::warn!(target: "nexus_mcp", "{}", not_listed(flag, &missing, listing));
            }
        }
    }

    /// A fetch under the call's life (stop, cancel), and its audit line.
    async fn fetch_call(
        &self,
        args: &FetchArgs,
        request: &CallToolRequestParams,
        context: &RequestContext<RoleServer>,
    ) -> Result<Answer, String> {
        let started = Instant::now();
        let call = self.settings.calls_made.fetch_add(1, Ordering::Relaxed) + 1;
        let fetch = self.fetch(args, request, context, (call, started));
        let answer = self.calls.run(fetch, &context.ct).await;
        let ended = match &answer {
            Ok(Answer::Fetched(response)) => Ended::Answered(response),
            Ok(_) => Ended::InputRequired,
            Err(message) => Ended::Failed(message),
        };
        let client = context.client_info().map(|info| info.name);
        audit(
            args,
            ended,
            started,
            (call, client.as_deref().unwrap_or("?")),
        );
        answer
    }

    /// A call that fetched nothing (`list_providers`, or a fetch refused for
    /// its arguments), with its line in the operator's trail.
    fn listed_call(
        &self,
        tool: &str,
        answer: Result<Answer, String>,
        context: &RequestContext<RoleServer>,
        started: Instant,
    ) -> Result<Answer, String> {
        let call = self.settings.calls_made.fetch_add(1, Ordering::Relaxed) + 1;
        let client = context.client_info().map(|info| info.name);
        let ended = match &answer {
            Ok(_) => None,
            Err(message) => Some(message.as_str()),
        };
        audit_tool(tool, ended, started, call, client.as_deref().unwrap_or("?"));
        answer
    }

    /// `authenticated_fetch`: the API's answer; on MCP 2026-07-28, the
    /// user's input a missing connection needs; else the tool error.
    async fn fetch(
        &self,
        args: &FetchArgs,
        request: &CallToolRequestParams,
        context: &RequestContext<RoleServer>,
        (call, started): (u64, Instant),
    ) -> Result<Answer, String> {
        let asking = self.asking(context, started);
        if let Some(state) = &request.request_state {
            // A retry: nothing is sent unless the state is this server's, for this call.
            let bound = args.bound(&self.settings.workspace);
            let retry = Retry {
                state,
                responses: request.input_responses.as_ref(),
                bound: &bound,
            };
            let provider = self.connectable(&args.provider).await.ok_or_else(|| {
                "invalid_input: invalid or expired requestState (not for a provider this server \
                 connects)"
                    .to_owned()
            })?;
            let connector = &self.settings.connector;
            connector.resume(&asking, &provider, &retry).await?;
            return self.send_again(args, call).await;
        }
        let (error, provider) = match self.send(args, call).await {
            Err(Sent::Unconnected(error, provider)) => (error, provider),
            sent => {
                return sent
                    .map(Answer::Fetched)
                    .map_err(|sent| sent.said(&self.settings.workspace));
            }
        };
        // Only a provider `--connect` names (found as the Gateway finds names).
        let Some(name) = self.connectable(&provider).await else {
            return Err(unconnected(&error, &self.settings.workspace, &provider));
        };
        let connector = &self.settings.connector;
        if modern(context) {
            let bound = args.bound(&self.settings.workspace);
            if let Some(input) = connector.offer(&asking, &name, &bound).await? {
                return Ok(Answer::InputRequired(input));
            }
        } else {
            connector.connect(&asking, &name).await?;
        }
        self.send_again(args, call).await
    }

    /// The request sent once the connection is active, as the tool answers.
    async fn send_again(&self, args: &FetchArgs, call: u64) -> Result<Answer, String> {
        let sent = self.send(args, call).await;
        let workspace = &self.settings.workspace;
        sent.map(Answer::Fetched)
            .map_err(|sent| sent.said(workspace))
    }

    /// The `--connect` offer `provider` is, found as the Gateway finds
    /// names, with the name the Gateway lists it under.
    async fn connectable(&self, provider: &str) -> Option<Named> {
        let names = self.settings.connector.names();
        if names.is_empty() {
            return None;
        }
        let mut listing = self.held_listing();
        if listing.is_empty() {
            listing = self.client.run(|c| c.providers()).await.ok()?;
            self.check_listing(&listing);
        }
        let offered = offered(&names, &listing, provider).ok()?;
        let found = Provider::find(&listing, &offered).map(|p| p.name.clone());
        let listed = found.unwrap_or_else(|| offered.clone());
        Some(Named { offered, listed })
    }

    /// The call as the connector asks its user: read from the request
    /// itself (its `_meta` on 2026-07-28, the session's `initialize` before).
    fn asking<'a>(&'a self, context: &'a RequestContext<RoleServer>, started: Instant) -> Call<'a> {
        let capabilities = context.client_capabilities();
        let elicitation = capabilities.and_then(|c| c.elicitation);
        Call {
            peer: &context.peer,
            progress: context.meta.get_progress_token(),
            client: &self.client,
            workspace: &self.settings.workspace,
            started,
            url_elicitation: elicitation.is_some_and(|e| e.url.is_some()),
        }
    }

    /// The request: refused before any I/O when the provider is not
    /// offered or the request is not one this server sends; the SDK
    /// refuses a URL outside the credential scope before anything is
    /// resolved or sent.
    async fn send(&self, args: &FetchArgs, call: u64) -> Result<FetchResponse, Sent> {
        let provider = self.offered(&args.provider).await?;
        let method = args.method.as_deref().unwrap_or("GET").to_ascii_uppercase();
        let headers = args.headers.clone().unwrap_or_default();
        refused(
            self.settings.allow_write,
            &method,
            &headers,
            args.body.is_some(),
        )?;
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
        // First the scope check and the token (a wait at the rate limit
        // included), then the request: a call cancelled before it is sent
        // never sends it.
        let (cache, workspace) = (Arc::clone(&self.cache), self.settings.workspace.clone());
        let (sent_as, url) = (provider.clone(), args.url.clone());
        let asked = Request::builder().method(method.as_str()).uri(&args.url);
        if let Ok(mut request) = asked.body(Vec::<u8>::new()) {
            let (cache, workspace, sent_as) =
                (Arc::clone(&cache), workspace.clone(), sent_as.clone());
            let authorized = self.client.run(move |c| {
                CALL.set(call);
                c.authorize(&cache, &workspace, &sent_as, &mut request)
                    .map(drop)
            });
            authorized.await.map_err(|e| self.sent(e, &provider))?;
        }
        // On the call's own thread, so that the library's lines name the call.
        let fetched = self
            .client
            .run(move |c| {
                CALL.set(call);
                c.authenticated_fetch(&cache, &workspace, &sent_as, &url, options)
            })
            .await;
        fetched.map_err(|e| self.sent(e, &provider))
    }

    /// Why the SDK did not answer: a provider the user must connect
    /// (`--connect` may send them to consent), or the tool error.
    fn sent(&self, error: NexusError, provider: &str) -> Sent {
        if error.needs_connection() {
            Sent::Unconnected(error, provider.to_owned())
        } else {
            Sent::Refused(said(&error))
        }
    }

    /// `list_providers`: the Gateway's providers this server offers.
    async fn list(&self, arguments: Value) -> Result<Answer, String> {
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
                 credential may reach (a call to one this workspace has not connected answers \
                 connection_required when the user can be asked to connect it, else \
                 connection_not_found):\n{}{more}",
                lines.join("\n")
            )
        };
        let providers = Providers {
            providers,
            left_out,
        };
        Ok(Answer::Listed(structured(text, &providers)))
    }
}

/// What a tool call answers.
enum Answer {
    /// The API's answer to a fetch.
    Fetched(FetchResponse),
    /// The providers.
    Listed(CallToolResult),
    /// MCP 2026-07-28: the user's input is needed first.
    InputRequired(InputRequiredResult),
}

/// Why a request was not answered: refused (the tool error), or the
/// provider is not connected for the workspace (the SDK's error, and the
/// provider as it was asked for).
pub(crate) enum Sent {
    Refused(String),
    Unconnected(NexusError, String),
}

impl Sent {
    /// The tool error, for a call in `workspace`.
    fn said(self, workspace: &str) -> String {
        match self {
            Sent::Refused(message) => message,
            Sent::Unconnected(error, provider) => unconnected(&error, workspace, &provider),
        }
    }
}

impl From<String> for Sent {
    fn from(message: String) -> Self {
        Sent::Refused(message)
    }
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
        Ok(ListToolsResult::with_all_items(tools(
            self.settings.allow_write,
        )))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let arguments = Value::Object(request.arguments.clone().unwrap_or_default());
        let started = Instant::now();
        let answer = match request.name.as_ref() {
            "authenticated_fetch" => {
                match arguments_of::<FetchArgs>("authenticated_fetch", arguments) {
                    Ok(args) => self.fetch_call(&args, &request, &context).await,
                    Err(message) => {
                        self.listed_call("authenticated_fetch", Err(message), &context, started)
                    }
                }
            }
            "list_providers" => {
                let listed = self.calls.run(self.list(arguments), &context.ct).await;
                self.listed_call("list_providers", listed, &context, started)
            }
            // The specification's answer to an unknown tool: a protocol error.
            other => {
                let other = one_line(other);
                let why = format!(
                    "no tool {other:?}: this server has authenticated_fetch and list_providers"
                );
                return Err(ErrorData::invalid_params(why, None));
            }
        };
        Ok(match answer {
            Ok(Answer::Fetched((status, headers, body))) => {
                let (text, fetched) = fetched(status, &headers, &body);
                structured(text, &fetched).into()
            }
            Ok(Answer::Listed(result)) => result.into(),
            Ok(Answer::InputRequired(input)) => input.into(),
            Err(message) => failure(&message).into(),
        })
    }
}
