//! `serve --metrics-listen ADDR`: what `serve` does, counted for a
//! Prometheus scrape at `/metrics` on a listener of its own (no token: put
//! it where only the scraper reaches). The exposition is the Prometheus
//! project's client's (OpenMetrics text, which Prometheus reads).
//!
//! - `mcp_server_operation_duration_seconds` (histogram): MCP's
//!   OpenTelemetry semantic conventions as Prometheus names them, labelled
//!   `mcp_method_name`, `gen_ai_tool_name` and `error_type` (a tool error
//!   inside an HTTP 200 is an error, its code the type; a success has an
//!   empty one, as OpenTelemetry leaves it unset);
//! - `nexus_mcp_refusals_total{reason}`: requests refused before MCP;
//! - `nexus_mcp_gateway_calls_total{route, outcome}`: the Gateway asked for a
//!   credential (`resolve`, a cache miss) or its provider list (`providers`);
//! - `nexus_mcp_gateway_requests_total{route}`: every request sent to the
//!   Gateway (each attempt, each route: `resolve`, `providers`,
//!   `request-connection`, `check-connection`, `token` …), as the library's
//!   record of each attempt names it;
//! - `nexus_mcp_connect_flows_total{step}`: asked, consented, declined, expired;
//! - `nexus_mcp_issuer_fetches_total{kind, outcome}`: key sets and introspections;
//! - `nexus_mcp_oauth_total{step, outcome}`: `--oauth-proxy`'s registrations,
//!   consents, authorizations and tokens (`ok`, `shown`, `allowed`, or the
//!   OAuth error code);
//! - `nexus_mcp_policy_decisions_total{outcome}`: `--policy`'s decisions,
//!   `permitted` or `denied`;
//! - `nexus_mcp_spans_total{outcome}`: trace spans as they left, `exported`,
//!   `failed` (the collector down or refusing) or `dropped` (the export
//!   queue full: a call never waits for a collector);
//! - `nexus_mcp_approvals_total{outcome}`: calls a policy asks to approve,
//!   `asked`, `approved`, `denied`, `used`, `expired` or `refused` (an
//!   approver the policy does not name, a form from another origin);
//! - `nexus_mcp_person_rate_checks_total{by}`: `--person-rate`'s checks,
//!   `store` (counted across replicas) or `share` (the store down, each
//!   replica counting its share of the limit);
//! - `nexus_mcp_store_up` (gauge): whether the store every replica shares
//!   (`--store`) answered when last asked, 1 or 0, asked every few seconds.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// A series' labels.
type Labels = Vec<(&'static str, String)>;

/// OpenTelemetry's advised buckets for MCP operations, in seconds.
const BUCKETS: [f64; 14] = [
    0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];

/// Every series `serve` keeps.
struct Metrics {
    registry: Registry,
    operations: Family<Labels, Histogram, fn() -> Histogram>,
    refusals: Family<Labels, Counter>,
    resolves: Family<Labels, Counter>,
    requests: Family<Labels, Counter>,
    connects: Family<Labels, Counter>,
    issuer: Family<Labels, Counter>,
    oauth: Family<Labels, Counter>,
    policy: Family<Labels, Counter>,
    spans: Family<Labels, Counter>,
    signals: Family<Labels, Counter>,
    person_rate: Family<Labels, Counter>,
    approvals: Family<Labels, Counter>,
    store: Gauge,
}

fn histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

/// The one set of series, made at the first count.
fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(|| {
        let mut registry = Registry::default();
        let operations = Family::new_with_constructor(histogram as fn() -> Histogram);
        let counters = || Family::<Labels, Counter>::default();
        let (refusals, resolves, requests) = (counters(), counters(), counters());
        let (connects, issuer, oauth, policy) = (counters(), counters(), counters(), counters());
        let (spans, signals, person_rate) = (counters(), counters(), counters());
        let approvals = counters();
        let help = "The duration of MCP requests as the server handles them";
        registry.register(
            "mcp_server_operation_duration_seconds",
            help,
            operations.clone(),
        );
        let help = "Requests refused before MCP, by reason";
        registry.register("nexus_mcp_refusals", help, refusals.clone());
        let help = "Calls to the Nexus Gateway (a credential, or the provider list), by outcome";
        registry.register("nexus_mcp_gateway_calls", help, resolves.clone());
        let help = "Requests sent to the Nexus Gateway (every attempt), by route";
        registry.register("nexus_mcp_gateway_requests", help, requests.clone());
        let help = "Connect-on-first-use flows, by step";
        registry.register("nexus_mcp_connect_flows", help, connects.clone());
        let help = "Questions asked of the issuer (key sets, introspections), by outcome";
        registry.register("nexus_mcp_issuer_fetches", help, issuer.clone());
        let help = "The hosts' authorization server (--oauth-proxy), by step and outcome";
        registry.register("nexus_mcp_oauth", help, oauth.clone());
        let help = "Calls decided by --policy, by outcome";
        registry.register("nexus_mcp_policy_decisions", help, policy.clone());
        let help = "Trace spans as they left (OTEL_EXPORTER_OTLP_*), by outcome";
        registry.register("nexus_mcp_spans", help, spans.clone());
        let help = "The identity provider's signals (a person switched off), by channel, event and outcome";
        registry.register("nexus_mcp_signals", help, signals.clone());
        let help = "--person-rate's checks, by where the calls were counted";
        registry.register("nexus_mcp_person_rate_checks", help, person_rate.clone());
        let help = "Calls a policy asks a person to approve (@ask), by outcome";
        registry.register("nexus_mcp_approvals", help, approvals.clone());
        let store = Gauge::default();
        let help = "Whether the store every replica shares (--store) answered when last asked";
        registry.register("nexus_mcp_store_up", help, store.clone());
        Metrics {
            registry,
            operations,
            refusals,
            resolves,
            requests,
            connects,
            issuer,
            oauth,
            policy,
            spans,
            signals,
            person_rate,
            approvals,
            store,
        }
    })
}

/// Whether anything is counted: only when `--metrics-listen` serves it.
static ON: AtomicBool = AtomicBool::new(false);

/// Counts from now on (`--metrics-listen` given).
pub(crate) fn enable() {
    ON.store(true, Ordering::Relaxed);
}

fn on() -> bool {
    ON.load(Ordering::Relaxed)
}

/// An MCP request of `method` (a `tool`'s call), answered in `took`,
/// with `error` its error type ("" for a success).
pub(crate) fn operation(method: &str, tool: &str, error: &str, took: Duration) {
    if !on() {
        return;
    }
    let labels = vec![
        ("mcp_method_name", method.to_owned()),
        ("gen_ai_tool_name", tool.to_owned()),
        ("error_type", error.to_owned()),
    ];
    metrics()
        .operations
        .get_or_create(&labels)
        .observe(took.as_secs_f64());
}

/// A request refused before MCP, for `reason` (a code, never a value).
pub(crate) fn refused(reason: &str) {
    count(&metrics().refusals, "reason", reason);
}

/// A call to the Gateway: `route` (`resolve`, `providers`), its `outcome`
/// (`ok` or the error code).
pub(crate) fn gateway(route: &str, outcome: &str) {
    if !on() {
        return;
    }
    let labels = vec![("route", route.to_owned()), ("outcome", outcome.to_owned())];
    metrics().resolves.get_or_create(&labels).inc();
}

/// A request the library sent the Gateway, if `record` is its record of
/// an attempt (the `path` field): counted by route, the path's first
/// word after `/v1/` (never an id, so the series are few).
pub(crate) fn sent(record: &log::Record) {
    if !on() || record.target() != "nexus_sdk" {
        return;
    }
    let Some(path) = record.key_values().get(log::kv::Key::from("path")) else {
        return;
    };
    let path = path.to_string();
    let rest = path
        .strip_prefix("/v1/")
        .unwrap_or(path.trim_start_matches('/'));
    let route = rest.split('/').next().unwrap_or(rest);
    count(&metrics().requests, "route", route);
}

/// A step of `--oauth-proxy` (`registration`, `consent`, `authorization`,
/// `token`, `revocation`) and its `outcome` (`ok`, `shown`, `allowed`,
/// `not_revoked`, an error code).
pub(crate) fn oauth(step: &str, outcome: &str) {
    if !on() {
        return;
    }
    let labels = vec![("step", step.to_owned()), ("outcome", outcome.to_owned())];
    metrics().oauth.get_or_create(&labels).inc();
}

/// A signal of the identity provider: its `channel`
/// (`global_token_revocation`), `event` and `outcome` (`revoked`,
/// `refused`, `unknown`, `unavailable`).
pub(crate) fn signal(channel: &str, event: &str, outcome: &str) {
    if !on() {
        return;
    }
    let labels = vec![
        ("channel", channel.to_owned()),
        ("event", event.to_owned()),
        ("outcome", outcome.to_owned()),
    ];
    metrics().signals.get_or_create(&labels).inc();
}

/// A call `--policy` decided: `permitted` (`allowed`) or `denied`.
pub(crate) fn policy(allowed: bool) {
    let outcome = if allowed { "permitted" } else { "denied" };
    count(&metrics().policy, "outcome", outcome);
}

/// `count` trace spans that left: `exported`, `failed` (the collector
/// down or refusing) or `dropped` (the export queue full).
pub(crate) fn spans(outcome: &str, count: usize) {
    if on() {
        let labels = vec![("outcome", outcome.to_owned())];
        metrics().spans.get_or_create(&labels).inc_by(count as u64);
    }
}

/// A `--person-rate` check, counted `by` the `store` or this replica's `share`.
pub(crate) fn person_rate(by: &str) {
    count(&metrics().person_rate, "by", by);
}

/// A call a policy asks to approve: its `outcome`.
pub(crate) fn approval(outcome: &str) {
    count(&metrics().approvals, "outcome", outcome);
}

/// Whether the store answered when last asked.
pub(crate) fn store_up(up: bool) {
    if on() {
        metrics().store.set(i64::from(up));
    }
}

/// A connect flow's `step`: asked, consented, declined, expired.
pub(crate) fn connect(step: &str) {
    count(&metrics().connects, "step", step);
}

/// A question of the issuer: `kind` (`keys`, `introspection`), `ok` or not.
pub(crate) fn issuer(kind: &str, ok: bool) {
    if !on() {
        return;
    }
    let labels = vec![
        ("kind", kind.to_owned()),
        ("outcome", outcome(ok).to_owned()),
    ];
    metrics().issuer.get_or_create(&labels).inc();
}

fn outcome(ok: bool) -> &'static str {
    if ok { "ok" } else { "failed" }
}

fn count(family: &Family<Labels, Counter>, label: &'static str, value: &str) {
    if !on() {
        return;
    }
    family.get_or_create(&vec![(label, value.to_owned())]).inc();
}

/// The exposition, as `/metrics` answers it.
pub(crate) fn exposition() -> String {
    let mut text = String::new();
    if prometheus_client::encoding::text::encode(&mut text, &metrics().registry).is_err() {
        log::warn!(target: "nexus_mcp", "the metrics could not be written");
    }
    text
}

/// The exposition's media type.
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Serves `/metrics` on `listener` until the process ends.
pub(crate) async fn serve(listener: tokio::net::TcpListener) {
    let scrape = || async {
        (
            [(axum::http::header::CONTENT_TYPE, CONTENT_TYPE)],
            exposition(),
        )
    };
    let router = axum::Router::new().route("/metrics", axum::routing::get(scrape));
    if let Err(e) = axum::serve(listener, router).await {
        log::warn!(target: "nexus_mcp", "the metrics listener stopped: {e}");
    }
}
