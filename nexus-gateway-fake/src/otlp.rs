//! An OTLP/HTTP trace receiver (feature `otlp`): `POST /v1/traces` with an
//! `ExportTraceServiceRequest` in protobuf, as OpenTelemetry's exporters
//! send it by default, decoded by the OpenTelemetry project's own message
//! definitions (`opentelemetry-proto`, on prost). The spans are kept (the
//! latest [`KEPT`]) and read back as JSON through `GET /_fake/spans` or
//! [`crate::FakeGateway::spans`], so that a test sees the spans a call made.
//! A real collector's answers: 200 with an empty `ExportTraceServiceResponse`,
//! 400 for a body that does not decode, 415 for another content type.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::Span;
use parking_lot::Mutex;
use prost::Message as _;
use serde_json::{Map, Value, json};

use crate::reply::text_reply;
use crate::request::RecordedRequest;
use crate::server::Reply;
use crate::state::State;

/// The path OTLP/HTTP exporters post spans to.
pub(crate) const PATH: &str = "/v1/traces";

/// The most spans kept: the oldest go first.
const KEPT: usize = 10_000;

/// `request`, an export: its spans kept as JSON.
pub(crate) fn receive(state: &Mutex<State>, request: &RecordedRequest) -> Reply {
    let typed = request.header("content-type").unwrap_or_default();
    if !typed.starts_with("application/x-protobuf") {
        return text_reply(415, "OTLP/HTTP here takes application/x-protobuf");
    }
    if request
        .header("content-encoding")
        .is_some_and(|e| e != "identity")
    {
        return text_reply(415, "this receiver takes uncompressed exports");
    }
    let Ok(export) = ExportTraceServiceRequest::decode(request.body.as_slice()) else {
        return text_reply(400, "not an ExportTraceServiceRequest");
    };
    let mut spans = Vec::new();
    for each in export.resource_spans {
        let resource = (each.resource).map_or_else(Map::new, |r| attributes(&r.attributes));
        for scoped in each.scope_spans {
            let scope = scoped.scope.map(|s| s.name).unwrap_or_default();
            for span in scoped.spans {
                spans.push(as_json(span, &resource, &scope));
            }
        }
    }
    let mut state = state.lock();
    state.spans.extend(spans);
    let over = state.spans.len().saturating_sub(KEPT);
    state.spans.drain(..over);
    // An empty ExportTraceServiceResponse: no bytes.
    Reply::Answer {
        status: 200,
        headers: vec![("Content-Type".into(), "application/x-protobuf".into())],
        body: Vec::new(),
    }
}

/// One span as JSON: its ids in hex, name, kind, attributes, status,
/// events, and its resource's attributes and scope's name.
fn as_json(span: Span, resource: &Map<String, Value>, scope: &str) -> Value {
    let kind = match span.kind {
        1 => "internal",
        2 => "server",
        3 => "client",
        4 => "producer",
        5 => "consumer",
        _ => "unspecified",
    };
    let status = span.status.unwrap_or_default();
    let code = match status.code {
        1 => "ok",
        2 => "error",
        _ => "unset",
    };
    let events: Vec<Value> = (span.events.iter())
        .map(|e| json!({"name": e.name, "attributes": attributes(&e.attributes)}))
        .collect();
    json!({
        "trace_id": hex(&span.trace_id),
        "span_id": hex(&span.span_id),
        "parent_span_id": hex(&span.parent_span_id),
        "name": span.name,
        "kind": kind,
        "start_unix_nano": span.start_time_unix_nano,
        "end_unix_nano": span.end_time_unix_nano,
        "attributes": attributes(&span.attributes),
        "status": {"code": code, "message": status.message},
        "events": events,
        "resource": resource,
        "scope": scope,
    })
}

/// Attributes as one JSON object.
fn attributes(pairs: &[KeyValue]) -> Map<String, Value> {
    let each = pairs
        .iter()
        .map(|kv| (kv.key.clone(), value(kv.value.as_ref())));
    each.collect()
}

/// An attribute's value as JSON.
fn value(value: Option<&AnyValue>) -> Value {
    match value.and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.as_str().into(),
        Some(any_value::Value::BoolValue(b)) => (*b).into(),
        Some(any_value::Value::IntValue(i)) => (*i).into(),
        Some(any_value::Value::DoubleValue(d)) => (*d).into(),
        Some(any_value::Value::ArrayValue(a)) => {
            Value::Array(a.values.iter().map(|v| self::value(Some(v))).collect())
        }
        Some(any_value::Value::BytesValue(b)) => hex(b).into(),
        Some(any_value::Value::KvlistValue(list)) => Value::Object(attributes(&list.values)),
        _ => Value::Null,
    }
}

/// Bytes in lower-case hex ("" for none).
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
