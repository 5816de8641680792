//! The request a call reads, from either of its two homes: rmcp's context
//! for it, or, for `serve`'s stateless 2026-07-28 `tools/call`, the request
//! read directly ([`crate::serve`]'s `direct`). Both are read the same way
//! here: its protocol version, its `_meta`, its HTTP parts, its client as
//! it declares itself, and (rmcp's alone) the peer a 2025 request is
//! asked through.

use axum::http::request::Parts;
use rmcp::RoleServer;
use rmcp::model::{
    ClientCapabilities, Implementation, ProtocolVersion, RequestId, RequestMetaObject,
};
use rmcp::service::{Peer, RequestContext};
use tokio_util::sync::CancellationToken;

/// The request a call reads.
#[derive(Clone, Copy)]
pub(crate) enum Inbound<'a> {
    /// Served by rmcp: its context.
    Served(&'a RequestContext<RoleServer>),
    /// A stateless 2026-07-28 `tools/call` read directly.
    Direct(&'a Direct),
}

/// What rmcp's context would hold of a stateless 2026-07-28 request read
/// directly: its id, its `_meta` (its protocol version, its client, its
/// trace context), its HTTP parts, and its cancellation token.
pub(crate) struct Direct {
    /// The JSON-RPC id.
    pub(crate) id: RequestId,
    /// `params._meta`.
    pub(crate) meta: RequestMetaObject,
    /// The HTTP request's parts (its headers, and the door's extensions).
    pub(crate) parts: Parts,
    /// Cancelled when its client goes before the answer.
    pub(crate) ct: CancellationToken,
}

impl<'a> Inbound<'a> {
    /// The request's protocol version (`_meta`'s, else the session's).
    pub(crate) fn version(self) -> Option<ProtocolVersion> {
        match self {
            Inbound::Served(context) => context.protocol_version(),
            Inbound::Direct(direct) => direct.meta.protocol_version(),
        }
    }

    /// Whether it speaks MCP 2026-07-28 or later (no server-to-client
    /// requests: a call that needs the user answers `input_required`).
    pub(crate) fn modern(self) -> bool {
        self.version()
            .is_some_and(|version| version >= ProtocolVersion::V_2026_07_28)
    }

    /// The client as the request (or, before 2026, its session) names it.
    pub(crate) fn client_info(self) -> Option<Implementation> {
        match self {
            Inbound::Served(context) => context.client_info(),
            Inbound::Direct(direct) => direct.meta.client_info(),
        }
    }

    /// The client's capabilities as the request (or its session) declares them.
    pub(crate) fn client_capabilities(self) -> Option<ClientCapabilities> {
        match self {
            Inbound::Served(context) => context.client_capabilities(),
            Inbound::Direct(direct) => direct.meta.client_capabilities(),
        }
    }

    /// `params._meta`.
    pub(crate) fn meta(self) -> &'a RequestMetaObject {
        match self {
            Inbound::Served(context) => &context.meta,
            Inbound::Direct(direct) => &direct.meta,
        }
    }

    /// The HTTP request's parts; none over stdio.
    pub(crate) fn parts(self) -> Option<&'a Parts> {
        match self {
            Inbound::Served(context) => context.extensions.get::<Parts>(),
            Inbound::Direct(direct) => Some(&direct.parts),
        }
    }

    /// The JSON-RPC id.
    pub(crate) fn id(self) -> &'a RequestId {
        match self {
            Inbound::Served(context) => &context.id,
            Inbound::Direct(direct) => &direct.id,
        }
    }

    /// Cancelled when the client cancels the request.
    pub(crate) fn ct(self) -> &'a CancellationToken {
        match self {
            Inbound::Served(context) => &context.ct,
            Inbound::Direct(direct) => &direct.ct,
        }
    }

    /// The peer a request is asked through (2025's elicitation, progress);
    /// none for a request read directly, which asks nothing of its client.
    pub(crate) fn peer(self) -> Option<&'a Peer<RoleServer>> {
        match self {
            Inbound::Served(context) => Some(&context.peer),
            Inbound::Direct(_) => None,
        }
    }
}
