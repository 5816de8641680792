//! The one place this project answers JSON-RPC itself: a stateless MCP
//! 2026-07-28 `tools/call` (#120). Such a request needs no session, and
//! that protocol lets the server ask its client nothing, so it needs none
//! of what rmcp builds for each request (a service, its tasks, the message
//! read through every method and written back to a `Value` to check its
//! headers). Read here by its method into rmcp's own types, checked as
//! rmcp checks it, run through the same tool code on one task of its own
//! (cancelled, as rmcp's, when its client goes: the call's line says so),
//! and answered with the bytes rmcp would write (rmcp's types, serialized
//! as rmcp serializes them).
//!
//! Only the form this path knows is taken: a POST saying `tools/call` and
//! 2026-07-28 in its headers, each once; a JSON (and event stream) reply
//! accepted without weights; a body that is one such request with its
//! `_meta` whole (its version, the client's capabilities and name), naming
//! one of the tools in `Mcp-Name` as in the body, asking no progress.
//! Everything else (every other method and version, a batch, a refusal
//! rmcp writes, anything not recognised) goes to rmcp as it came.
//! `NEXUS_MCP_DIRECT=off` sends every request to rmcp.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rmcp::model::{
    CallToolRequest, JsonRpcRequest, ProtocolVersion, RequestMetaObject, ServerJsonRpcMessage,
    ServerResult,
};
use tokio_util::sync::CancellationToken;

use crate::server::NexusServer;
use crate::server::inbound::{Direct, Inbound};
use crate::tools::ToolName;

/// The variable that turns the direct path off (`off`).
pub(super) const VARIABLE: &str = "NEXUS_MCP_DIRECT";

/// Whether the direct path answers (unless [`VARIABLE`] says `off`).
pub(super) fn on() -> Result<bool, String> {
    match crate::env::try_var(VARIABLE)?.as_deref() {
        None | Some("on") => Ok(true),
        Some("off") => Ok(false),
        Some(other) => Err(format!(
            "{VARIABLE}={:?}: on or off",
            nexus_sdk::one_line(other)
        )),
    }
}

/// What the direct path answers with: the server, and the hosts rmcp is
/// told to allow (`Host` checked as [`hosted`] says).
pub(super) struct Answers {
    pub(super) server: NexusServer,
    pub(super) hosts: Vec<String>,
}

/// A stateless 2026-07-28 `tools/call` answered here; any other request
/// passed to rmcp (`next`) as it came.
pub(super) async fn direct(
    State(answers): State<Arc<Answers>>,
    request: Request,
    next: Next,
) -> Response {
    let headers = request.headers();
    if request.method() != Method::POST || !headed(headers) || !hosted(headers, &answers.hosts) {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    // The door read it whole: one chunk, taken as it is.
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let Some((id, request, meta)) = read(&parts.headers, &bytes) else {
        return next
            .run(Request::from_parts(parts, Body::from(bytes)))
            .await;
    };
    let ct = CancellationToken::new();
    let direct = Direct {
        id,
        meta,
        parts,
        ct: ct.clone(),
    };
    // On a task of its own, as rmcp runs a call: a client gone cancels it
    // (its line says so), never drops it half-way.
    let cancel = ct.drop_guard();
    let call = tokio::spawn(async move {
        let answered = (answers.server)
            .called(request, Inbound::Direct(&direct))
            .await;
        (answered, direct.id)
    });
    let joined = call.await;
    cancel.disarm();
    let Ok((answered, id)) = joined else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    log::trace!(target: "nexus_mcp", "tools/call id={id} answered directly");
    let message = match answered {
        Ok(response) => ServerJsonRpcMessage::response(ServerResult::from(response), id),
        Err(error) => ServerJsonRpcMessage::error(error, Some(id)),
    };
    match serde_json::to_vec(&message) {
        Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// Whether the headers say a 2026-07-28 `tools/call` in the one form this
/// path takes: each once, JSON in, JSON and an event stream accepted (no
/// weights: whatever else is rmcp's to judge).
fn headed(headers: &HeaderMap) -> bool {
    let once = |name: &str, value: &str| {
        let mut values = headers.get_all(name).iter();
        values.next().is_some_and(|v| v == value) && values.next().is_none()
    };
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split_once(';').map_or(v, |(essence, _)| essence).trim())
        .is_some_and(|essence| essence.eq_ignore_ascii_case("application/json"));
    json && once(
        "mcp-protocol-version",
        ProtocolVersion::V_2026_07_28.as_str(),
    ) && once("mcp-method", "tools/call")
        && accepts(headers)
}

/// Whether `Host` is one of the `hosts` rmcp allows, as written there (but
/// for case), and no `Origin` is sent: every other spelling of an address
/// (a number, hex, a short form, a port where none is listed, a fragment)
/// and every `Origin` is rmcp's to compare (its DNS-rebinding check), and
/// rmcp answers what it refuses.
fn hosted(headers: &HeaderMap, hosts: &[String]) -> bool {
    let mut values = headers.get_all(header::HOST).iter();
    let (Some(host), None) = (values.next(), values.next()) else {
        return false;
    };
    let host = host.to_str().unwrap_or_default();
    !headers.contains_key(header::ORIGIN) && hosts.iter().any(|h| h.eq_ignore_ascii_case(host))
}

/// Whether `Accept` names both `application/json` and `text/event-stream`,
/// neither with a parameter (a weight of 0 is rmcp's to read).
fn accepts(headers: &HeaderMap) -> bool {
    let (mut json, mut stream) = (false, false);
    for value in headers.get_all(header::ACCEPT) {
        let Ok(value) = value.to_str() else {
            return false;
        };
        for range in value.split(',').map(str::trim) {
            json |= range.eq_ignore_ascii_case("application/json");
            stream |= range.eq_ignore_ascii_case("text/event-stream");
        }
    }
    json && stream
        && !headers
            .get_all(header::ACCEPT)
            .iter()
            .any(|v| v.as_bytes().contains(&b';'))
}

/// The request read as rmcp reads a `tools/call` (its types, its `_meta`
/// taken out as rmcp gives it to the handler), when it is one this path
/// takes: its `_meta` whole and saying the headers' version, naming a tool
/// as `Mcp-Name` does, asking no progress.
fn read(
    headers: &HeaderMap,
    body: &Bytes,
) -> Option<(
    rmcp::model::RequestId,
    rmcp::model::CallToolRequestParams,
    RequestMetaObject,
)> {
    let message: JsonRpcRequest<CallToolRequest> = serde_json::from_slice(body).ok()?;
    let JsonRpcRequest { id, request, .. } = message;
    let mut extensions = request.extensions;
    let meta = extensions.remove::<RequestMetaObject>()?;
    let version = ProtocolVersion::V_2026_07_28;
    let whole = meta.protocol_version().as_ref() == Some(&version)
        && meta.missing_required_keys(&version).is_empty()
        && meta.client_info().is_some()
        && meta.get_progress_token().is_none();
    let params = request.params;
    // (`Mcp-Param-*`: rmcp checks those a tool's schema declares, and
    // `NexusServer` gives rmcp no tool's schema: none, as here.)
    let mut named = headers.get_all("mcp-name").iter();
    let name = named.next().filter(|_| named.next().is_none())?;
    let known = ToolName::named(&params.name).is_some() && name == params.name.as_ref();
    (whole && known).then_some((id, params, meta))
}
