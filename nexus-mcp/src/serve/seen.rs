//! Every HTTP request `serve` answers, seen: the id a person can quote (the
//! trace's first 16 hex digits where the sender traced it, else a fresh one)
//! ends its refusal, a page's or a JSON body's, and every line logged while
//! it is answered; and when traces are on, each step of the sign-in and of
//! the authorization server (register, authorize, consent, token, revoke,
//! the connect page's) is a server span under the sender's `traceparent`,
//! its route a template (never a ticket, a query or a body). MCP's requests
//! are spans of the MCP server's own, one per call.

use std::cell::OnceCell;

use axum::extract::Request;
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use opentelemetry::trace::{SpanKind, TraceContextExt as _};
use opentelemetry::{Context, KeyValue};

use super::grant::GrantType;
use crate::span::Span;
use crate::telemetry::{self, Answering};

/// The step of a request, and its route as a template: none for a route
/// that is no step (MCP's, the metadata, the probes).
fn step(method: &Method, path: &str) -> Option<(&'static str, &'static str)> {
    let post = method == Method::POST;
    Some(match path {
        "/register" if post => ("/register", "register"),
        "/authorize" if post => ("/authorize", "consent"),
        "/authorize" => ("/authorize", "authorize"),
        "/token" if post => ("/token", "token"),
        "/revoke" if post => ("/revoke", "revoke"),
        "/connect/callback" => ("/connect/callback", "sign-in"),
        "/connect/done" => ("/connect/done", "connected"),
        path if path.starts_with("/connect/") => ("/connect/{ticket}", "connect"),
        _ => return None,
    })
}

/// The layer over every route: the request answered with its id current
/// (and, for a step, its span).
pub(crate) async fn seen(request: Request, next: Next) -> Response {
    // Most requests carry no trace context: nothing to read then.
    let parent = if request.headers().contains_key("traceparent") {
        telemetry::remote_parent([None, None], Some(request.headers()))
    } else {
        Context::new()
    };
    let method = request.method().clone();
    let stepped = step(&method, request.uri().path()).filter(|_| telemetry::on());
    let cx = stepped.map(|(route, step)| {
        let attributes = vec![
            KeyValue::new("http.request.method", method.to_string()),
            KeyValue::new("http.route", route),
            KeyValue::new("nexus.oauth.step", step),
        ];
        let name = format!("{method} {route}").into();
        Span::child(&parent, name, SpanKind::Server, attributes)
    });
    let answering = Answering {
        context: cx.as_ref().map_or(parent, |span| span.context().clone()),
        id: OnceCell::new(),
    };
    let response = telemetry::ANSWERING
        .scope(answering, next.run(request))
        .await;
    if let Some(mut span) = cx {
        // The grant `/token` read, one it takes or `other`.
        if let Some(grant) = response.extensions().get::<Option<GrantType>>() {
            let grant = grant.map_or("other", GrantType::as_str);
            let grant = KeyValue::new("oauth.grant_type", grant);
            span.context().span().set_attribute(grant);
        }
        span.answered(response.status().as_u16());
    }
    response
}
