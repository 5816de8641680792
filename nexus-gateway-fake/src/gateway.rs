//! [`FakeGateway`]: the Gateway's whole HTTP contract, in process, on loopback.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use crate::broker::{Broker, BrokerAnswer};
use crate::fault::Fault;
use crate::hold::{Hold, Holds};
use crate::limiter::{Limiter, RateLimits};
use crate::provider::{FakeConnection, FakeProvider};
use crate::reply::Route;
use crate::request::{RecordedRequest, is_uuid};
use crate::routes::handle;
use crate::server::HttpServer;
use crate::state::State;
use nexus_sdk::ConnectionStatus;

/// A fake Nexus Gateway: a real HTTP server on `127.0.0.1`, in process,
/// answering as the real Gateway does. Stops when dropped.
///
/// By default it behaves like the Nexus Gateway as measured, not a friendlier
/// model of it: `check-connection` answers `active` or `failed` (never
/// `pending`), connection ids must be UUIDs, `request-connection` needs a
/// known provider and a `return_url`, refresh answers three fields, token
/// answers lose unknown keys, and errors come as the Gateway sends them.
/// Settings ([`report_connection_status`](Self::report_connection_status),
/// [`bodyless_errors`](Self::bodyless_errors), [`set_broker`](Self::set_broker),
/// [`set_rate_limits`](Self::set_rate_limits), …) change that explicitly.
///
/// Register connections and providers, script faults, then assert on what
/// the Gateway received:
///
/// ```
/// use nexus_gateway_fake::{FakeConnection, FakeGateway, Fault, Route};
/// use nexus_sdk::{ConnectionStatus, NexusClient, NexusClientOptions, RetryPolicy};
///
/// let gateway = FakeGateway::start();
/// let id = "3f1b2c4d-0000-4000-8000-000000000001";
/// gateway.add_connection(id, FakeConnection::active("github", "gho_x"));
/// gateway.push_fault(Fault::status(503));
///
/// let client = NexusClient::new(
///     NexusClientOptions::new(gateway.url()).retry_policy(RetryPolicy::default().retries(1)),
/// )?;
/// assert_eq!(client.check_connection(id)?, ConnectionStatus::Active);
/// assert_eq!(gateway.requests(Route::CheckConnection), 2);
/// # Ok::<(), nexus_sdk::NexusError>(())
/// ```
pub struct FakeGateway {
    state: Arc<Mutex<State>>,
    server: HttpServer,
}

impl std::fmt::Debug for FakeGateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeGateway")
            .field("url", &self.server.url())
            .finish_non_exhaustive()
    }
}

impl FakeGateway {
    /// Starts a fake Gateway on a free loopback port.
    ///
    /// # Panics
    ///
    /// When no loopback port can be bound; use [`try_start`](Self::try_start) to handle that.
    pub fn start() -> FakeGateway {
        match FakeGateway::try_start() {
            Ok(gateway) => gateway,
            Err(e) => panic!("FakeGateway could not listen on 127.0.0.1: {e}"),
        }
    }

    /// Starts a fake Gateway, or says why it could not listen.
    ///
    /// # Errors
    ///
    /// The I/O error of binding a loopback port.
    pub fn try_start() -> std::io::Result<FakeGateway> {
        FakeGateway::start_on("127.0.0.1:0")
    }

    /// Starts a fake Gateway on `address` (`host:port`; port 0 for any
    /// free one): what the program's `--host` and `--port` do.
    ///
    /// # Errors
    ///
    /// The I/O error of binding `address`.
    pub fn start_on(address: &str) -> std::io::Result<FakeGateway> {
        let state = Arc::new(Mutex::new(State::default()));
        let handler_state = Arc::clone(&state);
        let handler = Arc::new(move |request| handle(&handler_state, request));
        let server = HttpServer::start_on(address, handler)?;
        Ok(FakeGateway { state, server })
    }

    /// Adds (or replaces) the providers and connections of a seed document,
    /// the format of the program's `--seed FILE` and of `POST /_fake/seed`
    /// (see the crate's README): `{"providers": [...], "connections": [...]}`.
    /// `$UPSTREAM_URL` in its texts stands for the URL given to
    /// [`set_upstream_url`](Self::set_upstream_url).
    ///
    /// ```
    /// use nexus_gateway_fake::FakeGateway;
    ///
    /// let gateway = FakeGateway::start();
    /// let seed = serde_json::json!({"providers": [
    ///     {"workspace": "ws-1", "name": "stripe", "strategy": "header",
    ///      "header_name": "Authorization", "value_prefix": "Bearer ", "api_key": "sk_x"}]});
    /// gateway.seed(&seed)?;
    /// let typo = serde_json::json!({"providers": [{"workspace": "ws-1", "name": "gh", "tokn": "t"}]});
    /// let refused = gateway.seed(&typo).unwrap_err();
    /// assert!(refused.starts_with(r#"providers[0]: unknown key "tokn""#), "{refused}");
    /// # Ok::<(), String>(())
    /// ```
    ///
    /// # Errors
    ///
    /// What is wrong and where (`providers[2]: unknown key "api_base"`): a
    /// key the format does not have, a missing field or one of the wrong
    /// type, an unknown strategy, a connection id that is not a UUID, an
    /// `expires_in` past 9999-12-31, `$UPSTREAM_URL` with no upstream URL
    /// set. Nothing is added then.
    pub fn seed(&self, seed: &serde_json::Value) -> Result<(), String> {
        crate::seed::seed(&mut self.state.lock(), seed)
    }

    /// What `$UPSTREAM_URL` in a seed stands for: the fake provider API's
    /// URL (the program sets its [`FakeUpstream`](crate::FakeUpstream)'s).
    pub fn set_upstream_url(&self, url: &str) {
        self.state.lock().upstream_url = Some(url.to_owned());
    }

    /// Keeps everything set up so far (providers, connections, rate limits,
    /// scripts and settings) as the state [`reset`](Self::reset) returns
    /// to: what the program does once its flags and `--seed` are applied.
    pub fn keep_as_start(&self) {
        self.state.lock().keep_as_start();
    }

    /// Back to the state kept by [`keep_as_start`](Self::keep_as_start),
    /// else a new fake's: requests, counts and queued faults forgotten,
    /// holds taken through the control API let go (`POST /_fake/reset`).
    pub fn reset(&self) {
        self.state.lock().reset();
    }

    /// The base URL, `http://127.0.0.1:<port>`, for `NexusClientOptions::new`.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// TCP connections accepted so far: with keep-alive, far fewer than requests.
    pub fn connections(&self) -> usize {
        self.server.connections()
    }

    /// From now on, answer 401 unless `X-API-Key` is `key` (`/health` excepted).
    pub fn require_api_key(&self, key: &str) {
        self.state.lock().api_key = Some(key.to_owned());
    }

    /// Wait this long before every answer.
    pub fn set_latency(&self, latency: Duration) {
        self.state.lock().latency = latency;
    }

    /// Holds the next request to `route` at the Gateway, after it is counted
    /// and before it is answered, until the returned [`Hold`] is dropped: a
    /// flight kept open for as long as a test needs, not for a guessed
    /// duration. Later requests to the route pass; holds queue up, one
    /// request each.
    ///
    /// ```
    /// use nexus_gateway_fake::{FakeGateway, FakeProvider, Route};
    /// use nexus_sdk::{NexusClient, NexusClientOptions};
    ///
    /// let gateway = FakeGateway::start();
    /// gateway.add_provider("ws", "github", FakeProvider::oauth2("gho_x"));
    /// let client = NexusClient::new(NexusClientOptions::new(gateway.url()))?;
    /// let hold = gateway.hold_next(Route::Resolve);
    /// std::thread::scope(|s| {
    ///     let resolving = s.spawn(|| client.resolve_token("ws", "github"));
    ///     while gateway.requests(Route::Resolve) == 0 {
    ///         std::thread::yield_now();
    ///     }
    ///     assert!(!resolving.is_finished(), "held at the Gateway");
    ///     drop(hold);
    ///     assert!(resolving.join().unwrap().is_ok());
    /// });
    /// # Ok::<(), nexus_sdk::NexusError>(())
    /// ```
    pub fn hold_next(&self, route: Route) -> Hold {
        Holds::hold(&self.state.lock().holds, Some(route), None)
    }

    /// The next request, on any route, meets `fault`. Faults queue up.
    pub fn push_fault(&self, fault: Fault) {
        self.state.lock().queue_fault(None, fault, 1);
    }

    /// The next `n` requests, on any route, meet `fault`.
    pub fn push_faults(&self, n: usize, fault: Fault) {
        let n = u64::try_from(n).unwrap_or(u64::MAX);
        self.state.lock().queue_fault(None, fault, n);
    }

    /// The next request to `route` meets `fault`.
    pub fn push_fault_for(&self, route: Route, fault: Fault) {
        self.state.lock().queue_fault(Some(route), fault, 1);
    }

    /// From now on, one request in `n` to `route` meets `fault`: the 1st,
    /// the `(n+1)`-th, the `(2n+1)`-th… counting every request the route has
    /// received, so that even a short test meets the fault. `n == 0` stops
    /// it. Queued faults still come first.
    pub fn fail_every(&self, route: Route, n: usize, fault: Fault) {
        let mut state = self.state.lock();
        if n == 0 {
            state.periodic.remove(&route);
        } else {
            state.periodic.insert(route, (n, fault));
        }
    }

    /// Forgets faults not yet met, periodic ones included.
    pub fn clear_faults(&self) {
        let mut state = self.state.lock();
        state.faults.clear();
        state.periodic.clear();
    }

    /// Registers (or replaces) a connection for the lifecycle endpoints.
    ///
    /// # Panics
    ///
    /// When `connection_id` is not a UUID (`8-4-4-4-12` hexadecimal digits):
    /// the real Gateway refuses any other id on every connection route, so
    /// such a connection could never be reached.
    pub fn add_connection(&self, connection_id: &str, connection: FakeConnection) {
        assert!(
            is_uuid(connection_id),
            "FakeGateway::add_connection: `{connection_id}` is not a UUID; the Gateway's \
             connection routes refuse any other id (400 invalid_connection_id), so use one \
             such as 3f2c1a9e-8b7d-4c6e-9f01-2a3b4c5d6e7f"
        );
        self.state
            .lock()
            .connections
            .insert(connection_id.to_owned(), connection);
    }

    /// The connection as the fake holds it now.
    pub fn connection(&self, connection_id: &str) -> Option<FakeConnection> {
        self.state.lock().connections.get(connection_id).cloned()
    }

    /// Sets a connection's status (`active`, `pending`, `attention`,
    /// `revoked`, …: [`CONNECTION_STATUSES`](crate::CONNECTION_STATUSES)),
    /// which then stays until changed; false when the connection is
    /// unknown. Unlike the seed and the control API, which refuse a status
    /// outside that list (a typo would fail a test much later), this call
    /// keeps any status as given, for a test of a client that meets a
    /// status it does not know. The token routes answer by it (400
    /// `connection_not_active`, 409 `attention_required`, 410
    /// `connection_revoked`); `check-connection` says `active` or `failed`,
    /// as the real Gateway does, unless
    /// [`report_connection_status`](Self::report_connection_status) is on.
    pub fn set_status(&self, connection_id: &str, status: &str) -> bool {
        let mut state = self.state.lock();
        match state.connections.get_mut(connection_id) {
            Some(connection) => {
                connection.status = ConnectionStatus::from(status);
                connection.pending_polls = None; // stays as set
                true
            }
            None => false,
        }
    }

    /// Registers one provider profile named `name` with the Broker, so that
    /// `request-connection` accepts it. Registering a name twice makes it
    /// ambiguous (409 `provider_ambiguous`), as two profiles of one name
    /// are at the real Gateway. A name given to
    /// [`add_provider`](Self::add_provider) is known without this.
    pub fn register_provider(&self, name: &str) {
        *self
            .state
            .lock()
            .registry
            .entry(name.to_owned())
            .or_default() += 1;
    }

    /// The Broker refuses every `return_url` that starts with `prefix`:
    /// `request-connection` then answers 502 `broker_error` carrying the
    /// Broker's `"status":400`.
    pub fn refuse_return_url(&self, prefix: &str) {
        self.state
            .lock()
            .refused_return_urls
            .push(prefix.to_owned());
    }

    /// Sets the state of the Broker behind the Gateway (default
    /// [`Broker::Healthy`]).
    pub fn set_broker(&self, broker: Broker) {
        self.state.lock().broker = broker;
    }

    /// Scripts what the Broker answers on `route` from now on (until
    /// [`clear_broker_script`](Self::clear_broker_script)); it beats
    /// [`set_broker`](Self::set_broker). What the Gateway then answers is
    /// the fake's own handling of that answer, as the real Gateway's was
    /// measured: on resolve and the token routes a Broker error passes
    /// through (status and body), a 200 that is not JSON or a 204 is 502
    /// `broker_unexpected_status`; request-connection wraps a failure as 502
    /// `broker_error` with the Broker's `status`; check-connection says
    /// `active`, `failed` (4xx) or `pending` (5xx).
    ///
    /// ```
    /// use nexus_gateway_fake::{BrokerAnswer, FakeGateway, Route};
    /// use nexus_sdk::{NexusClient, NexusClientOptions};
    ///
    /// let gateway = FakeGateway::start();
    /// gateway.script_broker(Route::Resolve, BrokerAnswer::body(200, Some("text/html"), "<h1>hi</h1>"));
    /// let client = NexusClient::new(NexusClientOptions::new(gateway.url()))?;
    /// let err = client.resolve_token("ws-1", "github").unwrap_err();
    /// // A 502 (retryable): the last answer's code is in the message.
    /// assert_eq!(err.status_code, Some(502));
    /// assert!(err.message.contains("broker_unexpected_status"), "{err}");
    /// # Ok::<(), nexus_sdk::NexusError>(())
    /// ```
    pub fn script_broker(&self, route: Route, answer: BrokerAnswer) {
        self.state.lock().broker_script.insert(route, answer);
    }

    /// Forgets every scripted Broker answer.
    pub fn clear_broker_script(&self) {
        self.state.lock().broker_script.clear();
    }

    /// How long the Gateway waits for a [`Broker::Hung`] before it answers
    /// 502 `broker_unavailable` (default 30 s, the real Gateway's).
    pub fn set_broker_timeout(&self, timeout: Duration) {
        self.state.lock().broker_timeout = Some(timeout);
    }

    /// Applies the real Gateway's rate limiter with these settings, every
    /// bucket full (see [`RateLimits`]): past its limit a route answers
    /// 429, `text/plain` `Too Many Requests`, with a `Retry-After` of the
    /// whole seconds until the next request would pass, truncated. Off by
    /// default, as at the Gateway. When the fake [`use_clock`](Self::use_clock)s
    /// a [`TestClock`](crate::TestClock), the limiter counts time on it too.
    pub fn set_rate_limits(&self, limits: RateLimits) {
        self.state.lock().limiter = Limiter::new(limits);
    }

    /// Token, refresh and revoke errors from the Broker come as the bare
    /// status with no body, as Gateways before Nexus 0.4.0 send them
    /// (default off: the Broker's JSON body is forwarded, as 0.4.0 does).
    pub fn bodyless_errors(&self, yes: bool) {
        self.state.lock().bodyless_errors = yes;
    }

    /// `check-connection` reports each connection's own status (`pending`,
    /// `attention`, `revoked`, …, and 404 for an unknown id), as a Gateway
    /// that could tell would. Off by default: the real Gateway answers
    /// `active` or `failed` only. For testing code written for such a
    /// Gateway (and [`WaitOptions::stop_on_failed`](nexus_sdk::WaitOptions::stop_on_failed)).
    pub fn report_connection_status(&self, yes: bool) {
        self.state.lock().report_status = yes;
    }

    /// Counts every token's expiry (`expires_in`) on `clock` instead of the
    /// system clock: the Gateway and a cache built from the same
    /// [`TestClock`](crate::TestClock) then see time pass together, so a
    /// renewal after `clock.advance(…)` brings a token that expires later.
    pub fn use_clock(&self, clock: &crate::TestClock) {
        self.state.lock().clock = Some(clock.clone());
    }

    /// Registers (or replaces) what `/v1/resolve` answers for the pair.
    pub fn add_provider(&self, workspace_id: &str, provider_name: &str, provider: FakeProvider) {
        let mut state = self.state.lock();
        let workspace = state.providers.entry(workspace_id.to_owned()).or_default();
        workspace.insert(provider_name.to_owned(), provider);
    }

    /// Removes the pair: `/v1/resolve` answers 404 for it from now on.
    pub fn remove_provider(&self, workspace_id: &str, provider_name: &str) {
        let mut state = self.state.lock();
        if let Some(workspace) = state.providers.get_mut(workspace_id) {
            workspace.remove(provider_name);
        }
    }

    /// Requests received on `route`, faulted ones included.
    pub fn requests(&self, route: Route) -> usize {
        self.state.lock().counts.get(&route).copied().unwrap_or(0)
    }

    /// The spans its OTLP/HTTP receiver took (feature `otlp`, on by
    /// default: `POST /v1/traces`, so an exporter's
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` is [`FakeGateway::url`]), oldest first,
    /// each as JSON: `trace_id`, `span_id`, `parent_span_id` (hex, "" for a
    /// root), `name`, `kind` (`server`, `client`, `internal` …),
    /// `attributes`, `status` (`code`: `unset`, `ok`, `error`; `message`),
    /// `events`, `resource` (its attributes) and `scope`. The control API's
    /// `GET /_fake/spans` answers the same.
    pub fn spans(&self) -> Vec<serde_json::Value> {
        self.state.lock().spans.clone()
    }

    /// Requests received on every route.
    pub fn total_requests(&self) -> usize {
        self.state.lock().counts.values().sum()
    }

    /// Resolves received for one (workspace, provider), faulted ones included.
    pub fn resolves(&self, workspace_id: &str, provider_name: &str) -> usize {
        let key = (workspace_id.to_owned(), provider_name.to_owned());
        self.state.lock().resolves.get(&key).copied().unwrap_or(0)
    }

    /// The last request received, on any route.
    pub fn last_request(&self) -> Option<RecordedRequest> {
        self.state.lock().last.clone()
    }

    /// The last request received on `route`.
    pub fn last_request_to(&self, route: Route) -> Option<RecordedRequest> {
        self.state.lock().last_by_route.get(&route).cloned()
    }
}
