//! The MCP handler: routes each request to its tool, under the call's life
//! ([`crate::calls`]), for every protocol version rmcp negotiates (the 2025
//! ones, opened by `initialize`, and 2026-07-28, stateless); whatever
//! depends on the client is read from the request being served. Every
//! failure is answered as a tool error on one line, which the model reads.
//!
//! Its rooms: [`fetching`], a fetch's flow (the policy's decision, the
//! token, the request), each step a span when traced; [`approving`], a
//! call a policy asks to approve, however its approver is asked;
//! [`inbound`], the request a call reads, from rmcp's context or read
//! directly (`serve`'s stateless 2026-07-28 `tools/call`).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::http::request::Parts;
use nexus_sdk::{NexusError, Provider, TokenCache, code, one_line};
use nexus_sdk_tokio::AsyncNexusClient;
use opentelemetry::context::FutureExt as _;
use opentelemetry::trace::{SpanKind, TraceContextExt as _};
use opentelemetry::{Context, KeyValue};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, Implementation, InitializeRequestParams,
    InitializeResult, ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::Value;

use crate::accounts::Accounts;
use crate::answer::said;
use crate::calls::{Caller, Calls, audit_tool};
use crate::connect::Connector;
use crate::failure::Failure;
use crate::handshake::{self, Handshake};
use crate::metrics;
use crate::principal::Principal;
use crate::providers::{Listed, not_listed, select};
use crate::reply::{Answer, replied};
use crate::span::Span;
use crate::telemetry;

mod approving;
mod fetching;
pub(crate) mod inbound;
use self::inbound::Inbound;
use crate::tools::{
    Fetch, FetchArgs, ListArgs, Offer, ToolName, arguments_of, failure, structured, tools,
};

/// The trace context a request carries (`params._meta`, else its HTTP
/// headers), an empty one where it carries none.
fn carried(inbound: Inbound<'_>) -> Context {
    let headers = inbound.parts().map(|parts| &parts.headers);
    let meta = inbound.meta();
    let meta = [meta.get_traceparent(), meta.get_tracestate()];
    telemetry::remote_parent(meta, headers)
}

/// The server span of an MCP request of `method` (on `tool`, "" for none),
/// named and attributed as MCP's OpenTelemetry conventions say, a child of
/// the trace context the request carries; none when nothing is traced.
fn request_span(method: &'static str, tool: &'static str, inbound: Inbound<'_>) -> Option<Span> {
    if !telemetry::on() {
        return None;
    }
    let headers = inbound.parts().map(|parts| &parts.headers);
    let parent = carried(inbound);
    // Each a constant where it can be: a sampled call pays for no copy.
    let mut attributes = Vec::with_capacity(8);
    attributes.extend([
        KeyValue::new("mcp.method.name", method),
        KeyValue::new("jsonrpc.request.id", inbound.id().to_string()),
        KeyValue::new(
            "network.transport",
            if headers.is_some() { "tcp" } else { "pipe" },
        ),
    ]);
    if let Some(version) = inbound.version() {
        attributes.push(KeyValue::new("mcp.protocol.version", version.to_string()));
    }
    let session = headers
        .and_then(|h| h.get(handshake::SESSION_ID))
        .and_then(|v| v.to_str().ok());
    if let Some(session) = session {
        attributes.push(KeyValue::new("mcp.session.id", session.to_owned()));
    }
    if headers.is_some() {
        attributes.push(KeyValue::new("network.protocol.name", "http"));
    }
    // The agent the token was issued to (OpenTelemetry's GenAI names).
    let principal = inbound
        .parts()
        .and_then(|parts| parts.extensions.get::<Principal>());
    if let Some((id, agent)) = principal.and_then(|p| p.oauth_client().zip(p.agent())) {
        attributes.push(KeyValue::new("gen_ai.agent.id", id.to_owned()));
        attributes.push(KeyValue::new("gen_ai.agent.name", agent.name.clone()));
    }
    let name = match tool {
        "" => method.into(),
        tool => {
            attributes.push(KeyValue::new("gen_ai.tool.name", tool));
            attributes.push(KeyValue::new("gen_ai.operation.name", "execute_tool"));
            format!("{method} {tool}").into()
        }
    };
    Some(Span::child(&parent, name, SpanKind::Server, attributes))
}

/// What the command line and the environment set.
pub(crate) struct Settings {
    /// Whom the calls act for: stdio's one workspace, or `serve`'s people.
    pub(crate) mode: Mode,
    /// The providers offered; empty for every one the Gateway lists.
    pub(crate) providers: Vec<String>,
    /// Whether a method other than GET and HEAD may be sent.
    pub(crate) allow_write: bool,
    /// Whether an API gets the trace context too (`--trace-context-to-api`).
    pub(crate) trace_context_to_api: bool,
    /// Connect on first use (`--connect`).
    pub(crate) connector: Connector,
    /// How long before a token expires the server stops using it (`--token-buffer`).
    pub(crate) token_buffer: std::time::Duration,
    /// The accounts `--account` names (none: the one workspace).
    pub(crate) accounts: Accounts,
    /// `--policy`: who may do what (none: everyone everything offered).
    pub(crate) policy: Option<Arc<crate::policy::Held>>,
    /// `--redirect-origin`: the origins a redirect may lead to off the
    /// provider's though they are not on the public Internet.
    pub(crate) redirect_origins: Arc<Vec<String>>,
    /// `--graphql-endpoint`: the GraphQL endpoints beside the providers'
    /// own, by provider and path.
    pub(crate) graphql_endpoints: Arc<Vec<(String, String)>>,
}

/// Whom the server's calls act for, said once at start: each call's
/// [`Principal`] is made from it where the request enters.
pub(crate) enum Mode {
    /// stdio: the operator, for the workspace `--workspace` names.
    Stdio { workspace: String },
    /// `serve`: each call for the person its verified token names.
    Serve {
        /// `--person-rate`: each person's tool calls a minute.
        person_rate: Option<Box<crate::rate::PersonRate>>,
        /// The operator's next step when a person has not connected a provider.
        hint: crate::hint::ConnectHint,
        /// Where a call a policy asks to approve finds its verdict, and the
        /// approval page's links (none without a sign-in page).
        approving: crate::ticket::Approving,
    },
}

/// What the server learns as it runs.
#[derive(Default)]
struct Learned {
    /// Whether stderr has said which `providers` the Gateway does not list.
    checked: AtomicBool,
    /// How many fetches were called: each call's number on stderr.
    calls_made: AtomicU64,
    /// The Gateway's last listing this server read, to find a model's
    /// spelling of an offered name.
    listing: Mutex<Vec<Provider>>,
}

/// The server: one client and one cache, shared by every call.
#[derive(Clone)]
pub(crate) struct NexusServer {
    client: AsyncNexusClient,
    cache: Arc<TokenCache>,
    settings: Arc<Settings>,
    learned: Arc<Learned>,
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
            learned: Arc::default(),
            calls,
        }
    }

    /// `--policy`'s policies, which SIGHUP reads again.
    pub(crate) fn policy(&self) -> Option<Arc<crate::policy::Held>> {
        self.settings.policy.clone()
    }

    /// The calls under way, and whether the server is stopping.
    pub(crate) fn calls(&self) -> Calls {
        self.calls.clone()
    }

    /// Whether the command line names providers (`--provider`,
    /// `--connect`), which are checked against the Gateway's listing.
    pub(crate) fn names_providers(&self) -> bool {
        !self.settings.providers.is_empty() || !self.settings.connector.names().is_empty()
    }

    /// Checks the `--provider` and `--connect` names against the Gateway's
    /// listing at start; a Gateway that does not answer leaves it to the first listing.
    pub(crate) async fn check_at_start(&self) {
        match self.providers().await {
            Ok(listing) => self.check_listing(&listing),
            Err(e) => log::warn!(
                target: "nexus_mcp",
                "the Gateway's provider list could not be read at start ({}); --provider and \
                 --connect are checked at the first listing",
                said(&e)
            ),
        }
    }

    /// `Ok` when the Gateway answers this server's key with its provider
    /// list; else why not, in the library's words.
    pub(crate) async fn gateway_answers(&self) -> Result<Vec<Provider>, String> {
        let listed = self.providers().await;
        listed.map_err(|e| format!("the Gateway: {}", said(&e)))
    }

    /// The Gateway's provider list, asked now (and counted).
    async fn providers(&self) -> Result<Vec<Provider>, NexusError> {
        let listed = self.client.run(|c| c.providers()).await;
        let outcome = listed.as_ref().map_or_else(|e| e.code.as_str(), |_| "ok");
        metrics::gateway("providers", outcome);
        listed
    }

    /// The Gateway's listing this server read last (empty before one).
    fn held_listing(&self) -> Vec<Provider> {
        let held = self.learned.listing.lock();
        held.map(|listing| listing.clone()).unwrap_or_default()
    }

    /// The fetch `args` ask for, checked once, when the call arrives (see
    /// [`FetchArgs::check`]): the Gateway's listing is read first when the
    /// server holds none and the provider is not an offered name as written.
    async fn check(&self, args: &FetchArgs, principal: &Principal) -> Result<Fetch, Failure> {
        let names = &self.settings.providers;
        let connect = self.settings.connector.names();
        let mut listing = self.held_listing();
        let literal = names.is_empty() || names.contains(&args.provider);
        if listing.is_empty()
            && !(literal && connect.is_empty())
            && let Ok(read) = self.providers().await
        {
            self.check_listing(&read);
            listing = read;
        }
        args.check(&Offer {
            names,
            connect: &connect,
            listing: &listing,
            allow_write: self.settings.allow_write,
            graphql: &self.settings.graphql_endpoints,
            principal,
        })
    }

    /// Says on stderr, once, which `--provider` and `--connect` names the
    /// Gateway does not list (with those it does), from a listing the
    /// server read, and keeps it.
    pub(crate) fn check_listing(&self, listing: &[Provider]) {
        if let Ok(mut held) = self.learned.listing.lock() {
            *held = listing.to_vec();
        }
        if self.learned.checked.swap(true, Ordering::Relaxed) {
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

    /// Who a call is from: its number, its client (as the request names
    /// it, or from `initialize`), and the person it acts for (stdio: the one
    /// workspace; `serve`: the person the verified token names).
    fn caller(&self, inbound: Inbound<'_>) -> Result<Caller, Failure> {
        let call = self.learned.calls_made.fetch_add(1, Ordering::Relaxed) + 1;
        let client = self.client_name(inbound);
        // The guard in front of `serve` lets no request without one through.
        let principal = self.principal(inbound).ok_or_else(|| {
            Failure::refused(code::INVALID_INPUT, "the request names no verified person")
        })?;
        // The call's trace (its span's), else the trace its host sent
        // while this server traces nothing: the host's id either way.
        let current = Context::current();
        let traced = current.span().span_context().is_valid();
        Ok(Caller {
            call,
            id: telemetry::quote(&if traced { current } else { carried(inbound) }),
            client,
            principal,
            account: None,
        })
    }

    /// The name the request's MCP client gives ("?" for none): a 2025
    /// client's rides in the session id its `initialize` was answered with
    /// (rmcp's stateless answer knows no `initialize`).
    fn client_name(&self, inbound: Inbound<'_>) -> String {
        let parts = inbound.parts();
        let session = parts.and_then(|parts| handshake::client_name(&parts.headers));
        let client = session.or_else(|| inbound.client_info().map(|info| info.name));
        client.unwrap_or_else(|| "?".to_owned())
    }

    /// Who a request acts for: over stdio the operator, in `serve` the
    /// person its bearer check verified.
    fn principal(&self, inbound: Inbound<'_>) -> Option<Principal> {
        match &self.settings.mode {
            Mode::Stdio { workspace } => Some(Principal::Operator {
                workspace: workspace.clone(),
            }),
            Mode::Serve { .. } => (inbound.parts())
                .and_then(|parts| parts.extensions.get::<Principal>())
                .cloned(),
        }
    }

    /// The labels of the person's accounts (`base` their workspace) with a
    /// connection to `provider`: a token resolves (and is kept) for each.
    async fn connected(&self, provider: &str, base: &str) -> Vec<String> {
        let mut connected = Vec::new();
        for account in self.settings.accounts.every(base) {
            let token = self
                .client
                .get_cached_token(&self.cache, &account.workspace, provider);
            if token.await.is_ok() {
                connected.extend(account.label);
            }
        }
        connected
    }

    /// The Gateway's providers this server offers, asked now: with
    /// `--policy`, those `principal` is permitted to list.
    async fn listed_for(&self, asking: (&Principal, &str)) -> Result<Vec<Listed>, NexusError> {
        let listing = self.providers().await?;
        self.check_listing(&listing);
        let (mut providers, _) = select(listing, &self.settings.providers);
        let policy = self.settings.policy.as_deref();
        providers.retain(|p| crate::decisions::permits(policy, "list", asking, &p.name));
        Ok(providers)
    }

    /// `list_providers`: the providers [`listed_for`](Self::listed_for) `asking`.
    /// With several accounts, each provider says which of the person's
    /// accounts (`base` their workspace, in `serve`) has a connection to it.
    async fn list(&self, base: &str, asking: (&Principal, &str)) -> Result<Answer, Failure> {
        let listed = self.listed_for(asking).await;
        let mut providers = listed.map_err(Failure::Gateway)?;
        if self.settings.accounts.chosen() {
            for listed in &mut providers {
                listed.accounts = Some(self.connected(&listed.name, base).await);
            }
        }
        let (text, providers) = crate::providers::answer(providers);
        Ok(Answer::Listed(structured(text, &providers)))
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

    /// The default handshake; `serve` also notes what the client declared,
    /// for the session id it answers with ([`crate::handshake`]).
    async fn initialize(
        &self,
        request: InitializeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<InitializeResult, ErrorData> {
        let parts = context.extensions.get::<Parts>();
        if let Some(handshake) = parts.and_then(|p| p.extensions.get::<Handshake>()) {
            handshake.declared(&request.capabilities, &request.client_info.name);
        }
        context.peer.set_peer_info(request.clone());
        self.negotiate_initialize(&request)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let started = Instant::now();
        let inbound = Inbound::Served(&context);
        let traced = request_span("tools/list", "", inbound);
        let accounts = self.settings.accounts.labels();
        let mut tools = tools(self.settings.allow_write, &accounts);
        // `--policy`: the providers a fetch may name are those the person
        // may list, so the listing is each person's own (2026's lists are
        // `cacheScope: private` as rmcp answers them). Without a listing
        // (the Gateway not answering), no enum: each call is decided still.
        let principal = (self.settings.policy.as_ref()).and_then(|_| self.principal(inbound));
        if let Some(principal) = principal
            && let Ok(listed) = self
                .listed_for((&principal, &self.client_name(inbound)))
                .await
        {
            let names: Vec<&str> = listed.iter().map(|p| p.name.as_str()).collect();
            crate::tools::offering(&mut tools, &names);
        }
        metrics::operation("tools/list", "", "", started.elapsed());
        drop(traced);
        Ok(ListToolsResult::with_all_items(tools))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        self.called(request, Inbound::Served(&context)).await
    }
}

impl NexusServer {
    /// A `tools/call` answered, from rmcp's handler or read directly
    /// (`serve`'s stateless 2026-07-28 call): its span and its metrics.
    pub(crate) async fn called(
        &self,
        request: CallToolRequestParams,
        inbound: Inbound<'_>,
    ) -> Result<CallToolResponse, ErrorData> {
        let started = Instant::now();
        let tool = ToolName::named(request.name.as_ref()).map_or("", ToolName::name);
        let mut traced = request_span("tools/call", tool, inbound);
        // On the heap: rmcp moves the handler's future as it spawns it, and
        // a call's steps are many (one allocation against copying them).
        let answering = Box::pin(self.answer_call(request, inbound, started));
        let (answered, error) = match &traced {
            Some(span) => answering.with_context(span.context().clone()).await,
            None => answering.await,
        };
        if let Some(span) = &mut traced {
            span.failed(&error);
        }
        drop(traced);
        metrics::operation("tools/call", tool, &error, started.elapsed());
        answered
    }

    /// A `tools/call`'s answer, and its error type for the metrics ("" for
    /// a success; a tool error's code; a protocol error's number).
    async fn answer_call(
        &self,
        mut request: CallToolRequestParams,
        inbound: Inbound<'_>,
        started: Instant,
    ) -> (Result<CallToolResponse, ErrorData>, String) {
        // Read once, here (nothing after reads them from the request).
        let arguments = Value::Object(request.arguments.take().unwrap_or_default());
        // The specification's answer to an unknown tool: a protocol error.
        let Some(named) = ToolName::named(request.name.as_ref()) else {
            let why = format!(
                "no tool {:?}: this server has authenticated_fetch and list_providers",
                one_line(&request.name)
            );
            let refused = ErrorData::invalid_params(why, None);
            let code = refused.code.0.to_string();
            return (Err(refused), code);
        };
        let tool = named.name();
        let mut caller = match self.caller(inbound) {
            Ok(caller) => caller,
            Err(why) => {
                let text = one_line(&why.to_string());
                return (Ok(failure(text).into()), why.code().to_owned());
            }
        };
        let rate = match &self.settings.mode {
            Mode::Serve { person_rate, .. } => person_rate.as_ref(),
            Mode::Stdio { .. } => None,
        };
        let refused = match rate.zip(caller.principal.person()) {
            Some((rate, person)) => rate.refusal(&person).await,
            None => None,
        };
        if let Some(why) = refused {
            audit_tool(tool, Some(&why), started, &caller);
            return (Ok(failure(caller.told(&why)).into()), why.code().to_owned());
        }
        // The arguments, then the account the call acts as (`--account`):
        // each read once, here.
        let parsed = match named {
            ToolName::Fetch => arguments_of::<FetchArgs>(tool, arguments)
                .map(|args| (args.account.clone(), Some(args))),
            ToolName::List => {
                arguments_of::<ListArgs>(tool, arguments).map(|args| (args.account, None))
            }
        };
        let base = caller.principal.workspace().to_owned();
        let acting = parsed.and_then(|(asked, args)| {
            let acting = self.settings.accounts.acting(asked.as_deref(), &base)?;
            Ok((acting, args))
        });
        // A call that fetched nothing (`list_providers`, a fetch refused
        // for its arguments) has its line in the operator's trail too.
        let (answer, audited) = match acting {
            Err(why) => (Err(why), false),
            Ok((acting, args)) => {
                caller.principal.acting_for(acting.workspace);
                caller.account = acting.label;
                match args {
                    Some(args) => {
                        let fetched = self.fetch_call(&args, &request, inbound, &caller);
                        (fetched.await, true)
                    }
                    None => {
                        let listed = self.list(&base, caller.asking());
                        (self.calls.run(listed, inbound.ct()).await, false)
                    }
                }
            }
        };
        if !audited {
            audit_tool(tool, answer.as_ref().err(), started, &caller);
        }
        replied(answer, &caller)
    }
}
