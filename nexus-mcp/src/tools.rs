//! The two tools as the model sees them (`authenticated_fetch` and
//! `list_providers`, described and annotated as the command line set the
//! server up), their arguments, and the rules a request must meet before
//! anything is resolved or sent; pure functions, tested alone.

use std::collections::BTreeMap;
use std::sync::Arc;

use nexus_sdk::one_line;
use rmcp::model::{CallToolResult, ContentBlock, Tool, ToolAnnotations};
use rmcp::schemars::{self, JsonSchema};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::answer::{BODY_CAP, Fetched};
use crate::providers::Listed;

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

/// `authenticated_fetch`'s arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct FetchArgs {
    /// The provider whose credential to use, as list_providers names it (e.g. "github").
    pub(crate) provider: String,
    /// An absolute http(s) URL on that provider's API (an origin list_providers gives).
    pub(crate) url: String,
    /// The HTTP method; GET when absent.
    pub(crate) method: Option<String>,
    /// Extra request headers (never the credential: the server adds it).
    pub(crate) headers: Option<BTreeMap<String, String>>,
    /// A request body, as text.
    pub(crate) body: Option<String>,
}

/// `list_providers` takes no arguments.
impl FetchArgs {
    /// What a 2026-07-28 `requestState` is bound to: the workspace and
    /// every argument of the call (the provider as the model named it).
    pub(crate) fn bound(&self, workspace: &str) -> Vec<u8> {
        let call = serde_json::json!([
            workspace,
            "authenticated_fetch",
            self.provider,
            self.url,
            self.method,
            self.headers,
            self.body
        ]);
        call.to_string().into_bytes()
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NoArgs {}

/// `list_providers`' structured result.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct Providers {
    /// The Gateway's providers this server offers (one this workspace has
    /// not connected answers connection_required or connection_not_found), as many
    /// as fit in 64 KiB.
    pub(crate) providers: Vec<Listed>,
    /// How many more it offers that did not fit, and are left out.
    #[schemars(with = "i64")]
    pub(crate) left_out: usize,
}

/// The two tools, described and annotated as this server was started.
pub(crate) fn tools(allow_write: bool) -> Vec<Tool> {
    let methods = if allow_write {
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
    let annotations = if allow_write { writes } else { reads };
    let list = "The Gateway's providers this server offers, each with exactly the origins \
                its credential may reach and the Gateway's description. A call to a provider \
                this workspace has not connected answers connection_required when the user can \
                be asked to connect it, else connection_not_found. No secret.";
    let mut fetch = Tool::new("authenticated_fetch", fetch, Arc::default())
        .with_title("Call a provider's API with the workspace's credential")
        .with_input_schema::<FetchArgs>()
        .with_output_schema::<Fetched>()
        .with_annotations(annotations.open_world(true));
    if !allow_write {
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

/// Why this server will not send a request, if it will not: a framing
/// or hop-by-hop header in any mode; when read-only, a method other
/// than GET and HEAD, a method-override header, or a body. The model is
/// not told how to widen its rights: stderr and the README tell the person.
pub(crate) fn refused(
    allow_write: bool,
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
    if allow_write {
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

/// A tool's arguments, or `invalid_input` saying what is wrong with them.
pub(crate) fn arguments_of<T: for<'de> Deserialize<'de>>(
    tool: &str,
    arguments: Value,
) -> Result<T, String> {
    serde_json::from_value(arguments).map_err(|e| format!("invalid_input: {tool}'s arguments: {e}"))
}

/// A successful result: `text` for the model, `value` as structured content.
pub(crate) fn structured(text: String, value: &impl Serialize) -> CallToolResult {
    let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
    result.structured_content = serde_json::to_value(value).ok();
    result
}

/// A failure as a tool error: one line, escaped as every package escapes
/// a server's text.
pub(crate) fn failure(message: &str) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(one_line(message))])
}
