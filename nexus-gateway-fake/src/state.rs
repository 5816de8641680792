//! What a fake Gateway holds: its scripted behaviour, what it received, the
//! connections and providers it serves, and the state `reset` returns to.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use nexus_sdk::ConnectionStatus;

use crate::broker::{Broker, BrokerAnswer};
use crate::clock::TestClock;
use crate::fault::Fault;
use crate::hold::{Hold, Holds};
use crate::limiter::Limiter;
use crate::provider::{FakeConnection, FakeProvider};
use crate::reply::Route;
use crate::request::RecordedRequest;

/// The Gateway's own wait for its Broker before it answers 502.
pub(crate) const GATEWAY_BROKER_TIMEOUT: Duration = Duration::from_secs(30);

/// The most requests the log keeps…
const LOG_LIMIT: usize = 10_000;
/// …and the most bytes of their heads and bodies.
const LOG_BYTES: usize = 128 << 20;

#[derive(Clone, Default)]
pub(crate) struct State {
    pub(crate) api_key: Option<String>,
    pub(crate) latency: Duration,
    /// Faults queued for a route (or any), each with how many requests it
    /// meets still.
    pub(crate) faults: VecDeque<(Option<Route>, Fault, u64)>,
    /// Every n-th request to the route meets the fault.
    pub(crate) periodic: HashMap<Route, (usize, Fault)>,
    pub(crate) counts: HashMap<Route, usize>,
    pub(crate) resolves: HashMap<(String, String), usize>,
    /// Resolve answers served per pair (faulted requests not counted).
    pub(crate) served: HashMap<(String, String), usize>,
    pub(crate) last: Option<RecordedRequest>,
    pub(crate) last_by_route: HashMap<Route, RecordedRequest>,
    pub(crate) connections: HashMap<String, FakeConnection>,
    /// Connection ids in the order their users consented, latest last.
    pub(crate) consented: Vec<String>,
    /// Providers by workspace, then by name as registered.
    pub(crate) providers: HashMap<String, HashMap<String, FakeProvider>>,
    /// Provider profiles by name: how many the Broker holds under that name.
    pub(crate) registry: HashMap<String, usize>,
    /// `return_url` prefixes the Broker refuses.
    pub(crate) refused_return_urls: Vec<String>,
    pub(crate) next_id: u64,
    /// `check-connection` reports each connection's own status (not the real Gateway).
    pub(crate) report_status: bool,
    /// Token, refresh and revoke errors carry no body (Gateways before 0.4.0).
    pub(crate) bodyless_errors: bool,
    pub(crate) broker: Broker,
    /// What the Broker answers on a route, scripted: beats `broker`.
    pub(crate) broker_script: HashMap<Route, BrokerAnswer>,
    /// The Gateway's wait for its Broker: [`GATEWAY_BROKER_TIMEOUT`] unless set.
    pub(crate) broker_timeout: Option<Duration>,
    pub(crate) limiter: Limiter,
    pub(crate) holds: Arc<Holds>,
    /// Every request received, oldest first, within [`LOG_LIMIT`] and [`LOG_BYTES`].
    pub(crate) log: VecDeque<RecordedRequest>,
    log_bytes: usize,
    /// Holds taken through the control API, until `/_fake/release`.
    pub(crate) control_holds: Vec<Arc<Hold>>,
    /// The clock expiries are counted on: a test's, else the system's.
    pub(crate) clock: Option<TestClock>,
    /// What `$UPSTREAM_URL` in a seed stands for.
    pub(crate) upstream_url: Option<String>,
    /// The spans the OTLP receiver took, oldest first (feature `otlp`).
    pub(crate) spans: Vec<serde_json::Value>,
    /// What `reset` returns to.
    start: Option<Box<State>>,
}

impl State {
    /// The access token of the workspace's latest active connection to the
    /// provider of exactly this name, as the Broker's resolve finds it:
    /// consented ones latest first, then any other active one.
    pub(crate) fn latest_active(&self, workspace: &str, provider: &str) -> Option<&str> {
        let serves = |id: &String| {
            let connection = self.connections.get(id)?;
            let ours = connection.workspace_id.as_deref() == Some(workspace)
                && connection.provider_name == provider
                && connection.status == ConnectionStatus::Active;
            ours.then_some(connection.access_token.as_str())
        };
        let consented = self.consented.iter().rev().find_map(serves);
        consented.or_else(|| self.connections.keys().find_map(serves))
    }

    /// The time now on the Gateway's clock.
    pub(crate) fn now(&self) -> SystemTime {
        self.clock
            .as_ref()
            .map_or_else(SystemTime::now, TestClock::now)
    }

    /// Keeps the state as it is now as the one [`reset`](Self::reset)
    /// returns to (holds taken through the control API excepted).
    pub(crate) fn keep_as_start(&mut self) {
        self.start = None;
        let mut start = self.clone();
        start.control_holds.clear();
        self.start = Some(Box::new(start));
    }

    /// Back to the state kept as the start, else a new fake's: holds taken
    /// through the control API are let go, requests and counts forgotten.
    pub(crate) fn reset(&mut self) {
        let (start, holds) = (self.start.take(), Arc::clone(&self.holds));
        *self = start.as_deref().cloned().unwrap_or_default();
        (self.start, self.holds) = (start, holds);
    }

    /// Adds a request to the log, forgetting the oldest beyond its limits.
    pub(crate) fn log(&mut self, request: &RecordedRequest) {
        let size = |r: &RecordedRequest| r.raw_head.len() + r.body.len();
        self.log_bytes += size(request);
        self.log.push_back(request.clone());
        while self.log.len() > LOG_LIMIT || self.log_bytes > LOG_BYTES {
            let Some(oldest) = self.log.pop_front() else {
                break;
            };
            self.log_bytes -= size(&oldest);
        }
    }

    /// The fault the next request to `route` meets from the queue, if any.
    pub(crate) fn queued_fault(&mut self, route: Route) -> Option<Fault> {
        let at = self
            .faults
            .iter()
            .position(|(r, ..)| r.is_none_or(|r| r == route))?;
        let (_, fault, left) = &mut self.faults[at];
        let fault = fault.clone();
        *left -= 1;
        if *left == 0 {
            self.faults.remove(at);
        }
        Some(fault)
    }

    /// Queues `fault` for the next `count` requests to `route` (any route
    /// when `None`).
    pub(crate) fn queue_fault(&mut self, route: Option<Route>, fault: Fault, count: u64) {
        if count > 0 {
            self.faults.push_back((route, fault, count));
        }
    }
}
