//! Every HTTP request `serve` answers, seen: the id a person can quote (the
//! trace's first 16 hex digits where the sender traced it, else a fresh one)
//! ends its refusal, a page's or a JSON body's, and every line logged while
//! it is answered; and when traces are on, each step of the sign-in and of
//! the authorization server (register, authorize, consent, token, revoke,
//! the connect page's) is a server span under the sender's `traceparent`,
//! its route a template (never a ticket, a query or a body). MCP's requests
//! are spans of the MCP server's own, one per call.

use std::cell::{OnceCell, RefCell};

use axum::extract::Request;
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use opentelemetry::trace::{SpanKind, TraceContextExt as _};
use opentelemetry::{Context, KeyValue};

use super::grant::JWT_BEARER;
use crate::telemetry::{self, Answering};

/// The grants `/token` names in a span; any other is `other`.
const GRANTS: [&str; 3] = ["authorization_code", "refresh_token", JWT_BEARER];

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
        telemetry::child(
            &parent,
            format!("{method} {route}").into(),
            SpanKind::Server,
            attributes,
        )
    });
    let answering = Answering {
        context: cx.clone().unwrap_or(parent),
        id: OnceCell::new(),
        grant: RefCell::new(None),
    };
    let answered = async {
        let response = next.run(request).await;
        (response, telemetry::ANSWERING.with(|a| a.grant.take()))
    };
    let (response, grant) = telemetry::ANSWERING.scope(answering, answered).await;
    if let Some(cx) = cx {
        if let Some(grant) = grant {
            cx.span()
                .set_attribute(KeyValue::new("oauth.grant_type", grant));
        }
        telemetry::answered(&cx, response.status().as_u16());
    }
    response
}

/// Names the grant `/token` was asked with in the request's span (one of
/// the three it takes, else `other`).
pub(crate) fn grant(asked: &str) {
    let named = GRANTS.into_iter().find(|g| *g == asked).unwrap_or("other");
    let _ = telemetry::ANSWERING.try_with(|a| a.grant.replace(Some(named)));
}
