//! A span that ends itself: every span `nexus-mcp` makes is a [`Span`],
//! ended when it is dropped, with the error or the answer it was told of,
//! never by hand; an HTTP client span named and described as
//! OpenTelemetry's HTTP conventions say, its URL never with a query, a
//! user's part or a secret. A leaf: the tracer is set once at start
//! (`crate::telemetry::start`).

use std::borrow::Cow;
use std::sync::OnceLock;

use nexus_sdk::http::Uri;
use opentelemetry::trace::{SpanBuilder, SpanKind, Status, TraceContextExt as _, Tracer as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::SdkTracer;

/// The methods OpenTelemetry's HTTP conventions know (RFC 9110's and
/// `PATCH`); any other is `_OTHER`.
const METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
];

/// The tracer spans are made with, made once at start (the global one is
/// looked up, and its scope built, at each ask).
pub(crate) static TRACER: OnceLock<SdkTracer> = OnceLock::new();

/// A span, ended when it is dropped: with the error it was told of, if
/// any. A span is never ended by hand.
pub(crate) struct Span {
    cx: Context,
    error: Option<String>,
}

impl Span {
    /// A span of `kind` named `name` with `attributes`, a child of `parent`.
    pub(crate) fn child(
        parent: &Context,
        name: Cow<'static, str>,
        kind: SpanKind,
        attributes: Vec<KeyValue>,
    ) -> Span {
        let built = SpanBuilder::from_name(name)
            .with_kind(kind)
            .with_attributes(attributes);
        let cx = match TRACER.get() {
            Some(tracer) => parent.with_span(tracer.build_with_context(built, parent)),
            None => parent.clone(),
        };
        Span { cx, error: None }
    }

    /// A client span for an HTTP request of `method` to `uri`, a child of
    /// `parent`, as OpenTelemetry's HTTP conventions name it: the method
    /// (one the conventions know, else `_OTHER` and the one sent), the
    /// server's address and port, and the URL without its query (never a
    /// query, a fragment or a user's part), its path `REDACTED` where it
    /// holds a secret (`shown` false).
    pub(crate) fn http_client(parent: &Context, method: &str, (uri, shown): (&Uri, bool)) -> Span {
        let (name, attributes) = http_attributes(method, uri, shown);
        Span::child(parent, name.into(), SpanKind::Client, attributes)
    }

    /// The context it runs in.
    pub(crate) fn context(&self) -> &Context {
        &self.cx
    }

    /// It ends with `error`, a code (never a message: no text of a
    /// server's or a person's); empty for none.
    pub(crate) fn failed(&mut self, error: &str) {
        self.error = Some(error.to_owned()).filter(|e| !e.is_empty());
    }

    /// An HTTP span's answer: its `status`, an error from 400 on (its type
    /// the status, as the conventions say).
    pub(crate) fn answered(&mut self, status: u16) {
        let code = KeyValue::new("http.response.status_code", i64::from(status));
        self.cx.span().set_attribute(code);
        if status >= 400 {
            self.error = Some(status.to_string());
        }
    }
}

impl Drop for Span {
    fn drop(&mut self) {
        let span = self.cx.span();
        if let Some(error) = self.error.take() {
            span.set_attribute(KeyValue::new("error.type", error.clone()));
            span.set_status(Status::error(error));
        }
        span.end();
    }
}

/// [`Span::http_client`]'s span name and attributes.
fn http_attributes(method: &str, uri: &Uri, shown: bool) -> (&'static str, Vec<KeyValue>) {
    let known = METHODS.into_iter().find(|m| m.eq_ignore_ascii_case(method));
    let mut attributes = Vec::with_capacity(6);
    attributes.push(KeyValue::new(
        "http.request.method",
        known.unwrap_or("_OTHER"),
    ));
    if known.is_none() {
        attributes.push(KeyValue::new(
            "http.request.method_original",
            method.to_owned(),
        ));
    }
    if let (Some(scheme), Some(host)) = (uri.scheme_str(), uri.host()) {
        let host = host.to_ascii_lowercase();
        let default = if scheme == "https" { 443 } else { 80 };
        let port = uri.port_u16().unwrap_or(default);
        let path = if shown { uri.path() } else { "/REDACTED" };
        let full = match uri.port_u16().filter(|p| *p != default) {
            Some(port) => format!("{scheme}://{host}:{port}{path}"),
            None => format!("{scheme}://{host}{path}"),
        };
        attributes.push(KeyValue::new("server.address", host));
        attributes.push(KeyValue::new("server.port", i64::from(port)));
        attributes.push(KeyValue::new("url.path", path.to_owned()));
        attributes.push(KeyValue::new("url.full", full));
    }
    (known.unwrap_or("HTTP"), attributes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `attributes` as `key=value` lines, in order.
    fn written(attributes: &[KeyValue]) -> Vec<String> {
        attributes
            .iter()
            .map(|kv| format!("{}={}", kv.key, kv.value))
            .collect()
    }

    #[test]
    fn an_http_span_names_the_request_without_query_user_or_fragment() {
        let uri = "https://me:pw@API.Example.COM/repos/a?token=s3cret#frag"
            .parse()
            .unwrap();
        let (name, attributes) = http_attributes("get", &uri, true);
        assert_eq!(name, "GET");
        assert_eq!(
            written(&attributes),
            [
                "http.request.method=GET",
                "server.address=api.example.com",
                "server.port=443",
                "url.path=/repos/a",
                "url.full=https://api.example.com/repos/a",
            ]
        );
        // A path that holds a secret is written redacted.
        let lines = written(&http_attributes("get", &uri, false).1);
        assert!(
            lines.contains(&"url.path=/REDACTED".to_owned()),
            "{lines:?}"
        );
        let full = "url.full=https://api.example.com/REDACTED".to_owned();
        assert!(lines.contains(&full), "{lines:?}");
        assert!(!lines.iter().any(|l| l.contains("repos")), "{lines:?}");
    }

    #[test]
    fn an_http_span_keeps_a_port_not_the_schemes_own() {
        let uri = "http://127.0.0.1:8080".parse().unwrap();
        let (_, attributes) = http_attributes("POST", &uri, true);
        let lines = written(&attributes);
        assert!(lines.contains(&"server.port=8080".to_owned()), "{lines:?}");
        assert!(
            lines.contains(&"url.full=http://127.0.0.1:8080/".to_owned()),
            "{lines:?}"
        );
        let uri = "http://[::1]:80/x".parse().unwrap();
        let lines = written(&http_attributes("PUT", &uri, true).1);
        assert!(
            lines.contains(&"url.full=http://[::1]/x".to_owned()),
            "{lines:?}"
        );
    }

    #[test]
    fn a_method_the_conventions_do_not_know_is_other() {
        let (name, attributes) = http_attributes("PROPFIND", &Uri::from_static("/x"), true);
        assert_eq!(name, "HTTP");
        assert_eq!(
            written(&attributes),
            [
                "http.request.method=_OTHER",
                "http.request.method_original=PROPFIND"
            ]
        );
    }
}
