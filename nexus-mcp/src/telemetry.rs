//! Traces, when the operator asks for them: OTLP over HTTP (protobuf) by
//! OpenTelemetry's own SDK and exporter, set by the variables the
//! OpenTelemetry specification names (`OTEL_EXPORTER_OTLP_ENDPOINT` or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, `OTEL_EXPORTER_OTLP_HEADERS` or the
//! file its `_FILE` twin names, `OTEL_SERVICE_NAME`,
//! `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER` and `_ARG`,
//! `OTEL_EXPORTER_OTLP_TIMEOUT`). Without an endpoint nothing is made: no
//! span, no thread, and a call costs what it did.
//!
//! Export never costs a call: spans go to the SDK's batch processor, whose
//! thread sends them on the ureq the library already uses; at most
//! [`QUEUE`] wait, and a span past that is dropped. Every span is counted
//! once in the metrics as it leaves (`nexus_mcp_spans_total{outcome}`:
//! `exported`, `failed` when the collector is down or refuses, `dropped`
//! when the queue is full).
//!
//! Each call has an id a person can quote ([`quote`]): its trace id's first
//! 16 hex digits, or where nothing is traced a fresh id of the same form.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use nexus_sdk::http::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::propagation::{Extractor, TextMapPropagator as _};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::trace::{TraceContextExt as _, TraceId};
use opentelemetry::{Context, KeyValue};
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{SpanExporter, WithExportConfig as _, WithHttpConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, IdGenerator as _, RandomIdGenerator, SdkTracerProvider,
    SpanData, SpanProcessor,
};

/// The most spans waiting for export; one more is dropped (and counted).
pub(crate) const QUEUE: usize = 2048;

/// The most a collector's answer may weigh.
const MOST_ANSWER: u64 = 64 << 10;

/// Whether traces are made (an endpoint is set), decided once at start.
static ON: OnceLock<bool> = OnceLock::new();

/// Spans handed to the batch processor, and spans its exporter took.
static ENDED: AtomicUsize = AtomicUsize::new(0);
static HANDED: AtomicUsize = AtomicUsize::new(0);

/// Whether traces are made.
pub(crate) fn on() -> bool {
    ON.get().copied().unwrap_or(false)
}

/// `endpoint` (the value of `named`) when it reads as a URL with no user or
/// password (the collector's credentials go in the headers); or why not,
/// never its text.
fn endpoint_checked(named: &str, endpoint: &str) -> Result<(), String> {
    crate::addresses::read_without_password(endpoint)
        .map(drop)
        .map_err(|why| {
            format!(
                "{named} {why}; the collector's credentials go in OTEL_EXPORTER_OTLP_HEADERS_FILE"
            )
        })
}

/// The traces' exporter started, when `OTEL_EXPORTER_OTLP_ENDPOINT` (or the
/// traces' own) is set and `OTEL_SDK_DISABLED` is not `true`: the provider,
/// to flush at the end.
///
/// # Errors
///
/// A variable that does not read, or an endpoint the exporter refuses.
pub(crate) fn start() -> Result<Option<SdkTracerProvider>, String> {
    let var = |name: &'static str| crate::env::try_var(name);
    let traces = (
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")?,
    );
    let (named, endpoint) = match traces {
        (named, Some(endpoint)) => (named, Some(endpoint)),
        _ => (
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            var("OTEL_EXPORTER_OTLP_ENDPOINT")?,
        ),
    };
    let disabled = var("OTEL_SDK_DISABLED")?.is_some_and(|d| d.trim().eq_ignore_ascii_case("true"));
    let none = var("OTEL_TRACES_EXPORTER")?.is_some_and(|e| e.trim() == "none");
    let Some(endpoint) = endpoint.filter(|e| !e.trim().is_empty() && !disabled && !none) else {
        let _ = ON.set(false);
        return Ok(None);
    };
    endpoint_checked(named, &endpoint)?;
    let timeout = var("OTEL_EXPORTER_OTLP_TIMEOUT")?
        .and_then(|ms| ms.trim().parse().ok())
        .map_or(Duration::from_secs(10), Duration::from_millis);
    let agent = crate::http::config(timeout).build().into();
    let mut exporter = SpanExporter::builder()
        .with_http()
        .with_http_client(Ureq(agent))
        .with_timeout(timeout);
    // The headers' secret from a file: the exporter reads the variable itself.
    if let Some((from, headers)) = crate::env::try_var_from("OTEL_EXPORTER_OTLP_HEADERS")?
        && from != "OTEL_EXPORTER_OTLP_HEADERS"
    {
        exporter = exporter.with_headers(header_list(&headers));
    }
    let exporter = exporter
        .build()
        .map_err(|e| format!("OpenTelemetry's exporter: {e}"))?;
    let batches = BatchConfigBuilder::default()
        .with_max_queue_size(QUEUE)
        .build();
    let processor = BatchSpanProcessor::builder(Counted(exporter))
        .with_batch_config(batches)
        .build();
    let mut resource = Resource::builder();
    let named = var("OTEL_SERVICE_NAME")?.is_some()
        || var("OTEL_RESOURCE_ATTRIBUTES")?.is_some_and(|a| a.contains("service.name="));
    if !named {
        resource = resource.with_service_name("nexus-mcp");
    }
    let resource = resource
        .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
        .build();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(Bounded(processor))
        .with_resource(resource)
        .build();
    let _ = crate::span::TRACER.set(provider.tracer("nexus-mcp"));
    let _ = ON.set(true);
    Ok(Some(provider))
}

/// `key=value,…` as OTLP's headers variable holds them, each value
/// percent-decoded (W3C Baggage's form); a pair without `=` skipped.
fn header_list(text: &str) -> HashMap<String, String> {
    let pairs = text.split(',').filter_map(|pair| pair.split_once('='));
    pairs
        .map(|(key, value)| {
            let value = percent_encoding::percent_decode_str(value.trim()).decode_utf8_lossy();
            (key.trim().to_owned(), value.into_owned())
        })
        .collect()
}

/// The fields of W3C Trace Context, as MCP's conventions carry them.
const FIELDS: [&str; 2] = ["traceparent", "tracestate"];

/// The context a request's span is a child of: the trace context its
/// sender put in `params._meta` (`traceparent`, `tracestate`, as MCP's
/// conventions say), else in its HTTP headers; none when neither parses.
pub(crate) fn remote_parent(
    meta: [Option<&str>; 2],
    headers: Option<&axum::http::HeaderMap>,
) -> Context {
    TraceContextPropagator::new().extract(&Carried { meta, headers })
}

/// A request's trace context where it carries it, read in place.
struct Carried<'a> {
    meta: [Option<&'a str>; 2],
    headers: Option<&'a axum::http::HeaderMap>,
}

impl Extractor for Carried<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        let field = FIELDS.iter().position(|f| f.eq_ignore_ascii_case(key))?;
        let in_headers = || self.headers?.get(FIELDS[field])?.to_str().ok();
        self.meta[field].or_else(in_headers)
    }

    fn keys(&self) -> Vec<&str> {
        FIELDS.to_vec()
    }
}

/// The trace context to send with a request made in `cx`: its
/// `traceparent` (and `tracestate`), none where nothing is traced.
pub(crate) fn outgoing(cx: &Context) -> Vec<(String, String)> {
    let mut carrier: HashMap<String, String> = HashMap::new();
    TraceContextPropagator::new().inject_context(cx, &mut carrier);
    carrier.into_iter().collect()
}

/// The trace context of the thread's current span, as the headers the
/// library adds to each Gateway request (none where nothing is traced).
pub(crate) fn trace_headers() -> HeaderMap {
    let header = |(name, value): (String, String)| {
        let name = HeaderName::from_bytes(name.as_bytes()).ok()?;
        Some((name, HeaderValue::from_str(&value).ok()?))
    };
    outgoing(&Context::current())
        .into_iter()
        .filter_map(header)
        .collect()
}

/// An HTTP request of `serve`'s being answered: the context its id comes
/// from (made only when asked: most requests are refused nothing and log
/// nothing).
pub(crate) struct Answering {
    pub(crate) context: Context,
    pub(crate) id: std::cell::OnceCell<String>,
}

tokio::task_local! {
    /// The HTTP request the task answers, in `serve` (none in a call's own
    /// task, whose lines carry the call's id, and in the stdio server).
    pub(crate) static ANSWERING: Answering;
}

/// The id of the HTTP request the task answers, if any.
pub(crate) fn answering() -> Option<String> {
    ANSWERING
        .try_with(|a| a.id.get_or_init(|| quote(&a.context)).clone())
        .ok()
}

/// The id a person can quote for the call running in `cx`: its trace's
/// first 16 hex digits where it is traced, else a fresh one of that form.
pub(crate) fn quote(cx: &Context) -> String {
    let span = cx.span();
    let context = span.span_context();
    let id = if context.is_valid() {
        context.trace_id()
    } else {
        RandomIdGenerator::default().new_trace_id()
    };
    short(id)
}

/// A trace id's first 16 hex digits.
fn short(id: TraceId) -> String {
    let mut hex = id.to_string();
    hex.truncate(16);
    hex
}

/// The exporter's HTTP client: the ureq the library already uses, on the
/// batch processor's own thread (which blocks on each export).
#[derive(Debug)]
struct Ureq(ureq::Agent);

#[async_trait::async_trait]
impl HttpClient for Ureq {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let (parts, body) = request.into_parts();
        let request = Request::from_parts(parts, body.to_vec());
        let mut answer = self.0.run(request)?;
        let (status, headers) = (answer.status(), answer.headers().clone());
        let body = (answer.body_mut().with_config())
            .limit(MOST_ANSWER)
            .read_to_vec()?;
        let mut response = Response::new(Bytes::from(body));
        *response.status_mut() = status;
        *response.headers_mut() = headers;
        Ok(response)
    }
}

/// The exporter, each batch counted as it leaves: `exported` or `failed`.
#[derive(Debug)]
struct Counted(SpanExporter);

impl opentelemetry_sdk::trace::SpanExporter for Counted {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let count = batch.len();
        HANDED.fetch_add(count, Ordering::Relaxed);
        let sent = self.0.export(batch).await;
        let outcome = if sent.is_ok() { "exported" } else { "failed" };
        crate::metrics::spans(outcome, count);
        sent
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.0.set_resource(resource);
    }
}

/// The batch processor with its queue's bound kept here, so that a span
/// it would drop is counted: at most [`QUEUE`] spans ended and not yet
/// taken by the exporter.
#[derive(Debug)]
struct Bounded(BatchSpanProcessor);

impl SpanProcessor for Bounded {
    fn on_start(&self, span: &mut opentelemetry_sdk::trace::Span, cx: &Context) {
        self.0.on_start(span, cx);
    }

    fn on_end(&self, span: SpanData) {
        let waiting =
            (ENDED.load(Ordering::Relaxed)).saturating_sub(HANDED.load(Ordering::Relaxed));
        if waiting >= QUEUE {
            crate::metrics::spans("dropped", 1);
            return;
        }
        ENDED.fetch_add(1, Ordering::Relaxed);
        self.0.on_end(span);
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.0.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.0.set_resource(resource);
    }
}

/// An approval's step (`asked`, `approved`, `denied`, `expired`, `used`,
/// `refused`) counted (`nexus_mcp_approvals_total{outcome}`) and, traced,
/// a span of its own under the request's, naming the approval's `id`.
pub(crate) fn approval(id: &str, outcome: &'static str) {
    crate::metrics::approval(outcome);
    if on() {
        let attributes = vec![
            opentelemetry::KeyValue::new("nexus.approval.id", id.to_owned()),
            opentelemetry::KeyValue::new("nexus.approval.outcome", outcome),
        ];
        let current = opentelemetry::Context::current();
        let kind = opentelemetry::trace::SpanKind::Internal;
        let name = format!("approval {outcome}").into();
        drop(crate::span::Span::child(&current, name, kind, attributes));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_parent_is_read_from_meta_before_headers() {
        let (meta, header) = (
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-11111111111111111111111111111111-2222222222222222-01",
        );
        let mut headers = axum::http::HeaderMap::new();
        headers.insert("traceparent", header.parse().unwrap());
        let trace = |cx: Context| cx.span().span_context().trace_id().to_string();
        let both = remote_parent([Some(meta), None], Some(&headers));
        assert_eq!(trace(both), "0af7651916cd43dd8448eb211c80319c");
        let headers_only = remote_parent([None, None], Some(&headers));
        assert_eq!(trace(headers_only), "11111111111111111111111111111111");
        let none = remote_parent([Some("00-garbage"), None], None);
        assert!(!none.span().span_context().is_valid());
    }
}
