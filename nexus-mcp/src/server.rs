//! The MCP server: two tools, `authenticated_fetch` and `list_providers`,
//! annotated as the command line set them up, and every failure answered as
//! a tool error on one line, which the model reads.

use std::collections::BTreeMap;
use std::sync::Arc;

use nexus_sdk::{CredentialScope, FetchOptions, TokenCache};
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

use crate::answer::{BODY_CAP, Fetched, fetched};
use crate::providers::{Provider, offered, providers};
use crate::stopping::Calls;

/// What the command line and the environment set.
pub(crate) struct Settings {
    /// The workspace whose credentials the tools use.
    pub(crate) workspace: String,
    /// The providers offered; empty for every one the Gateway lists.
    pub(crate) providers: Vec<String>,
    /// Whether a method other than GET and HEAD may be sent.
    pub(crate) allow_write: bool,
}

/// The server: one client and one cache, shared by every call.
#[derive(Clone)]
pub(crate) struct Nexus {
    client: AsyncNexusClient,
    cache: Arc<TokenCache>,
    scope: CredentialScope,
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
    /// The providers authenticated_fetch may use.
    providers: Vec<Provider>,
}

impl Nexus {
    pub(crate) fn new(
        client: AsyncNexusClient,
        scope: CredentialScope,
        settings: Settings,
        calls: Calls,
    ) -> Nexus {
        let (cache, settings) = (Arc::new(TokenCache::new()), Arc::new(settings));
        Nexus {
            client,
            cache,
            scope,
            settings,
            calls,
        }
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
        let list = "The providers authenticated_fetch may use, each with the origins its \
                    credential may reach and the Gateway's description. No secret.";
        let fetch = Tool::new("authenticated_fetch", fetch, Arc::default())
            .with_input_schema::<FetchArgs>()
            .with_output_schema::<Fetched>()
            .with_annotations(annotations.open_world(true));
        let list = Tool::new("list_providers", list, Arc::default())
            .with_input_schema::<NoArgs>()
            .with_output_schema::<Providers>()
            .with_annotations(ToolAnnotations::new().read_only(true).open_world(false));
        vec![fetch, list]
    }

    /// `authenticated_fetch`: refused before any I/O when the provider is
    /// not offered or the method not allowed; the SDK refuses a URL outside
    /// the credential scope before anything is resolved or sent.
    async fn fetch(&self, arguments: Value) -> Result<CallToolResult, String> {
        let args: FetchArgs = arguments_of("authenticated_fetch", arguments)?;
        offered(&self.settings.providers, &args.provider)?;
        let method = args.method.as_deref().unwrap_or("GET").to_ascii_uppercase();
        if !self.settings.allow_write && !matches!(method.as_str(), "GET" | "HEAD") {
            return Err(format!(
                "read_only: this server is read-only and sends GET and HEAD only, not {method:?}; \
                 whoever runs it may start it with --allow-write"
            ));
        }
        // The answer goes to the model: one that echoes the credential is withheld.
        let mut options = FetchOptions::default()
            .method(&method)
            .withhold_credential_echo(true);
        for (name, value) in args.headers.unwrap_or_default() {
            options = options.header(name, value);
        }
        if let Some(body) = args.body {
            options = options.data(body);
        }
        let (cache, workspace) = (&self.cache, &self.settings.workspace);
        let answer =
            self.client
                .authenticated_fetch(cache, workspace, &args.provider, &args.url, options);
        let (status, headers, body) = answer.await.map_err(|e| e.to_string())?;
        let (text, fetched) = fetched(status, &headers, &body);
        Ok(structured(text, &fetched))
    }

    /// `list_providers`: the Gateway's providers this server offers.
    async fn list(&self, arguments: Value) -> Result<CallToolResult, String> {
        let NoArgs {} = arguments_of("list_providers", arguments)?;
        let listing = self.client.run(|c| c.provider_metadata()).await;
        let listing = listing.map_err(|e| e.to_string())?;
        let providers = providers(&listing, &self.scope, &self.settings.providers);
        let lines: Vec<String> = providers.iter().map(Provider::line).collect();
        let text = if lines.is_empty() {
            "No provider: the Gateway lists none this server offers.".to_owned()
        } else {
            lines.join("\n")
        };
        Ok(structured(text, &Providers { providers }))
    }
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

/// A failure as a tool error: one line, control characters escaped.
fn failure(message: &str) -> CallToolResult {
    let mut line = String::with_capacity(message.len());
    for c in message.chars() {
        if c.is_control() {
            line.extend(c.escape_default());
        } else {
            line.push(c);
        }
    }
    CallToolResult::error(vec![ContentBlock::text(line)])
}

impl ServerHandler for Nexus {
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
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let arguments = Value::Object(request.arguments.unwrap_or_default());
        let call = async {
            match request.name.as_ref() {
                "authenticated_fetch" => self.fetch(arguments).await,
                "list_providers" => self.list(arguments).await,
                other => Err(format!(
                    "invalid_input: no tool {other:?}; this server has authenticated_fetch and \
                     list_providers"
                )),
            }
        };
        let result = self.calls.answer(call).await;
        Ok(result.unwrap_or_else(|message| failure(&message)).into())
    }
}
