//! An MCP server on [`rmcp`](https://docs.rs/rmcp) with one tool,
//! `authenticated_fetch`, through `nexus-gateway-sdk`'s async face.
//!
//! ```text
//! NEXUS_GATEWAY_URL=https://gw.example NEXUS_API_KEY=… NEXUS_WORKSPACE_ID=ws-1 \
//!     cargo run -p nexus-rmcp-server
//! ```
//!
//! stdout carries MCP messages only. The credential scope comes from
//! `NEXUS_CREDENTIAL_SCOPE` and `NEXUS_ALLOWED_ORIGINS` (by default each
//! provider's credential goes only to its API's origin), so a URL a model
//! was talked into is refused before anything is resolved or sent.

use std::collections::BTreeMap;
use std::sync::Arc;

use nexus_sdk::{FetchOptions, NexusClient, NexusClientOptions, TokenCache};
use nexus_sdk_tokio::AsyncNexusClient;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock, ServerCapabilities, ServerConfig};
use rmcp::{ServerHandler, ServiceExt, schemars, tool, tool_handler, tool_router};

/// The most of an upstream body handed to the model.
const RESULT_CAP: usize = 256 << 10;

/// The tool's arguments.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
struct FetchArgs {
    /// The provider whose credential to use, e.g. "github".
    provider: String,
    /// An absolute http(s) URL on that provider's API.
    url: String,
    /// The HTTP method; GET when absent.
    method: Option<String>,
    /// Extra request headers.
    headers: Option<BTreeMap<String, String>>,
    /// A request body, as text.
    body: Option<String>,
}

/// The server: one async client and one cache, shared by every call.
#[derive(Clone)]
struct Nexus {
    client: AsyncNexusClient,
    cache: Arc<TokenCache>,
    workspace_id: String,
    tool_router: ToolRouter<Self>,
}

#[tool_router]
impl Nexus {
    /// The tool: the request with the workspace's credential for `provider`.
    #[tool(
        description = "Send an HTTP request with the workspace's credential for a provider \
        (only to that provider's API). Answers the status and up to 256 KiB of the body."
    )]
    async fn authenticated_fetch(&self, Parameters(args): Parameters<FetchArgs>) -> CallToolResult {
        // The answer goes to the model: one that echoes the credential is withheld.
        let mut options = FetchOptions::default()
            .method(args.method.as_deref().unwrap_or("GET"))
            .withhold_credential_echo(true);
        for (name, value) in args.headers.unwrap_or_default() {
            options = options.header(name, value);
        }
        if let Some(body) = args.body {
            options = options.data(body);
        }
        let answer = self
            .client
            .authenticated_fetch(
                &self.cache,
                &self.workspace_id,
                &args.provider,
                &args.url,
                options,
            )
            .await;
        match answer {
            Ok((status, _headers, body)) => {
                let shown = String::from_utf8_lossy(&body[..body.len().min(RESULT_CAP)]);
                CallToolResult::success(vec![ContentBlock::text(format!(
                    "HTTP {status}\n\n{shown}"
                ))])
            }
            // A tool error (`isError: true`), so the model reads a failure as
            // one. The text is the SDK's one-line message: no secret in it,
            // and it says why (an origin outside the scope, an unknown
            // provider, a timeout…) and what to change.
            Err(e) => CallToolResult::error(vec![ContentBlock::text(e.to_string())]),
        }
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Nexus {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_instructions("HTTP requests with Nexus-managed credentials")
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let workspace_id = std::env::var("NEXUS_WORKSPACE_ID")
        .map_err(|_| "NEXUS_WORKSPACE_ID is not set: the workspace whose credentials to use")?;
    let client = NexusClient::new(NexusClientOptions::from_env()?)?;
    let server = Nexus {
        client: AsyncNexusClient::new(client),
        cache: Arc::new(TokenCache::new()),
        workspace_id,
        tool_router: Nexus::tool_router(),
    };
    let running = server.serve(rmcp::transport::stdio()).await?;
    running.waiting().await?;
    Ok(())
}
