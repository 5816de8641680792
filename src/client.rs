//! [`NexusClient`], its [`NexusClientOptions`], the Gateway call engine
//! (headers, retries, capped reads) and the connection-lifecycle methods.

use std::fmt;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;
use ureq::http::header::{ACCEPT, CONTENT_TYPE, RETRY_AFTER};
use ureq::http::{HeaderValue, Method, Request};

use crate::LOG_TARGET;
use crate::cache::TokenCache;
use crate::error::NexusError;
use crate::resolve::{Expiry, token_from_resolve};
use crate::retry::{RetryPolicy, jitter, parse_retry_after};
use crate::transport::{
    ReadError, Transport, encode_path_segment, form_urlencode, never_sent, parse_http_url,
    read_capped, read_error, transport_error,
};
use crate::types::{
    CachedToken, ConnectionStatus, RequestConnectionInput, RequestConnectionResponse,
    RevokeOptions, RevokeResult, TokenResponse, required_str,
};

/// The largest Gateway answer the SDK reads.
pub(crate) const MAX_GATEWAY_BODY: usize = 1 << 20;
/// The most of a failed Gateway answer kept for its error message.
const MAX_ERROR_BODY: usize = 64 << 10;

/// How a [`NexusClient`] reaches the Gateway (Python `NexusClientOptions`).
///
/// Python's keyword arguments become struct-update syntax:
///
/// ```
/// use std::time::Duration;
/// use nexus_sdk::{NexusClientOptions, RetryPolicy};
///
/// let options = NexusClientOptions {
///     api_key: "nx_live_key".into(),
///     timeout: Duration::from_secs(10),
///     retry_policy: RetryPolicy { retries: 2, ..RetryPolicy::default() },
///     ..NexusClientOptions::new("https://gateway.example")
/// };
/// assert!(!format!("{options:?}").contains("nx_live_key"));
/// ```
#[derive(Clone)]
pub struct NexusClientOptions {
    /// The Gateway's base URL, `http://` or `https://`; a trailing `/` is ignored.
    pub gateway_url: String,
    /// Sent as `X-API-Key`; empty sends no such header.
    pub api_key: String,
    /// How failed Gateway calls are retried (no retries by default).
    pub retry_policy: RetryPolicy,
    /// The most any one request may take, Gateway or upstream. Default 30 s.
    pub timeout: Duration,
    /// The largest upstream body `authenticated_fetch` reads, counted after
    /// decompression. Default 16 MiB.
    pub max_upstream_body: usize,
}

impl NexusClientOptions {
    /// Options for `gateway_url`, every other field at its default.
    pub fn new(gateway_url: impl Into<String>) -> Self {
        NexusClientOptions {
            gateway_url: gateway_url.into(),
            api_key: String::new(),
            retry_policy: RetryPolicy::default(),
            timeout: Duration::from_secs(30),
            max_upstream_body: 16 << 20,
        }
    }

    /// Options from `NEXUS_GATEWAY_URL` (required) and `NEXUS_API_KEY` (optional).
    ///
    /// ```no_run
    /// let client = nexus_sdk::NexusClient::new(nexus_sdk::NexusClientOptions::from_env()?)?;
    /// # Ok::<(), nexus_sdk::NexusError>(())
    /// ```
    pub fn from_env() -> Result<Self, NexusError> {
        options_from_vars(|name| std::env::var(name).ok())
    }
}

/// [`NexusClientOptions::from_env`] over any variable lookup.
pub(crate) fn options_from_vars(
    var: impl Fn(&str) -> Option<String>,
) -> Result<NexusClientOptions, NexusError> {
    let url = var("NEXUS_GATEWAY_URL")
        .filter(|u| !u.trim().is_empty())
        .ok_or_else(|| NexusError::invalid_input("NEXUS_GATEWAY_URL is not set"))?;
    Ok(NexusClientOptions {
        api_key: var("NEXUS_API_KEY").unwrap_or_default(),
        ..NexusClientOptions::new(url.trim())
    })
}

impl fmt::Debug for NexusClientOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NexusClientOptions")
            .field("gateway_url", &self.gateway_url)
            .field("api_key", &redacted_key(&self.api_key))
            .field("retry_policy", &self.retry_policy)
            .field("timeout", &self.timeout)
            .field("max_upstream_body", &self.max_upstream_body)
            .finish()
    }
}

fn redacted_key(key: &str) -> &'static str {
    if key.is_empty() { "" } else { "<redacted>" }
}

/// A blocking client of the Nexus Gateway.
///
/// Cheap to clone: clones share one connection pool. `Send + Sync`, so a
/// thread-per-request server can hand a clone to every worker.
///
/// ```no_run
/// use nexus_sdk::{NexusClient, NexusClientOptions, RequestConnectionInput};
///
/// let client = NexusClient::new(NexusClientOptions::from_env()?)?;
/// let started = client.request_connection(&RequestConnectionInput {
///     user_id: "user-42".into(),
///     provider_name: "github".into(),
///     scopes: vec!["repo".into()],
///     return_url: "https://app.example/done".into(),
///     metadata: None,
/// })?;
/// println!("send the user to {}", started.auth_url);
/// client.wait_for_active(&started.connection_id)?;
/// let token = client.get_token_by_connection_id(&started.connection_id)?;
/// # let _ = token;
/// # Ok::<(), nexus_sdk::NexusError>(())
/// ```
#[derive(Clone)]
pub struct NexusClient {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    /// `gateway_url` without its trailing `/`.
    base_url: String,
    api_key: Option<HeaderValue>,
    retry: RetryPolicy,
    pub(crate) max_upstream_body: usize,
    pub(crate) transport: Transport,
}

impl fmt::Debug for NexusClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        f.debug_struct("NexusClient")
            .field("gateway_url", &inner.base_url)
            .field("api_key", &inner.api_key.as_ref().map(|_| "<redacted>"))
            .field("retry_policy", &inner.retry)
            .field("max_upstream_body", &inner.max_upstream_body)
            .finish_non_exhaustive()
    }
}

impl NexusClient {
    /// A client for the Gateway in `options`.
    ///
    /// Fails with `invalid_input` when `gateway_url` is empty, does not
    /// parse or is not http(s), or when `api_key` cannot go in a header.
    pub fn new(options: NexusClientOptions) -> Result<Self, NexusError> {
        let base_url = options.gateway_url.trim().trim_end_matches('/').to_owned();
        if base_url.is_empty() {
            return Err(NexusError::invalid_input("gateway_url is empty"));
        }
        parse_http_url(&base_url, "gateway_url")?;
        let api_key = if options.api_key.is_empty() {
            None
        } else {
            let mut value = HeaderValue::from_str(&options.api_key).map_err(|_| {
                NexusError::invalid_input("api_key holds characters a header cannot carry")
            })?;
            value.set_sensitive(true);
            Some(value)
        };
        Ok(NexusClient {
            inner: Arc::new(Inner {
                base_url,
                api_key,
                retry: options.retry_policy.normalized(),
                max_upstream_body: options.max_upstream_body,
                transport: Transport::new(options.timeout),
            }),
        })
    }

    /// Starts connecting a user to a provider: `POST /v1/request-connection`.
    ///
    /// Send the user to the returned `auth_url`, then poll with
    /// [`wait_for_active`](Self::wait_for_active).
    pub fn request_connection(
        &self,
        input: &RequestConnectionInput,
    ) -> Result<RequestConnectionResponse, NexusError> {
        require("user_id", &input.user_id)?;
        require("provider_name", &input.provider_name)?;
        let body = self.call_json(
            Method::POST,
            "/v1/request-connection",
            None,
            Some(&input.to_json()),
        )?;
        RequestConnectionResponse::from_json(&body)
    }

    /// The connection's status: `GET /v1/check-connection/{id}`.
    pub fn check_connection(&self, connection_id: &str) -> Result<ConnectionStatus, NexusError> {
        require("connection_id", connection_id)?;
        let path = format!(
            "/v1/check-connection/{}",
            encode_path_segment(connection_id)
        );
        let body = self.call_json(Method::GET, &path, None, None)?;
        Ok(ConnectionStatus::from(
            required_str(&body, "status")?.as_str(),
        ))
    }

    /// Polls every 1.5 s, for at most 300 s, until the connection is
    /// `active`, `failed` or `revoked`. See [`wait_for_active_with`](Self::wait_for_active_with).
    pub fn wait_for_active(&self, connection_id: &str) -> Result<ConnectionStatus, NexusError> {
        self.wait_for_active_with(
            connection_id,
            Duration::from_millis(1500),
            Duration::from_secs(300),
        )
    }

    /// Polls `check_connection` every `interval` until the status is
    /// terminal (`active`, `failed`, `revoked`) and returns it; `timeout`
    /// once `timeout` has passed. Checks at least once. A `failed` or
    /// `revoked` connection is returned as `Ok`: look at the status.
    pub fn wait_for_active_with(
        &self,
        connection_id: &str,
        interval: Duration,
        timeout: Duration,
    ) -> Result<ConnectionStatus, NexusError> {
        let deadline = Instant::now() + timeout;
        loop {
            let status = self.check_connection(connection_id)?;
            if status.is_terminal() {
                return Ok(status);
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(NexusError::new(
                    "timeout",
                    format!("connection still {status} after {timeout:?}"),
                ));
            }
            thread::sleep(interval.min(deadline - now));
        }
    }

    /// The connection's current token: `GET /v1/token/{id}`.
    pub fn get_token_by_connection_id(
        &self,
        connection_id: &str,
    ) -> Result<TokenResponse, NexusError> {
        require("connection_id", connection_id)?;
        let path = format!("/v1/token/{}", encode_path_segment(connection_id));
        TokenResponse::from_json(self.call_json(Method::GET, &path, None, None)?)
    }

    /// Makes the Broker refresh the connection's token now: `POST /v1/refresh/{id}`.
    pub fn refresh_connection(&self, connection_id: &str) -> Result<TokenResponse, NexusError> {
        require("connection_id", connection_id)?;
        let path = format!("/v1/refresh/{}", encode_path_segment(connection_id));
        TokenResponse::from_json(self.call_json(Method::POST, &path, None, None)?)
    }

    /// Revokes the connection: `DELETE /v1/connections/{id}`. Idempotent: a
    /// second call answers with `already_revoked: true`.
    ///
    /// ```no_run
    /// # let client = nexus_sdk::NexusClient::new(nexus_sdk::NexusClientOptions::new("http://127.0.0.1:1"))?;
    /// use nexus_sdk::RevokeOptions;
    ///
    /// let result = client.revoke_connection("3f1b…", &RevokeOptions {
    ///     reason: Some("user_request".into()),
    ///     ..Default::default()
    /// })?;
    /// if let Some(why) = &result.provider_revocation_error {
    ///     eprintln!("the provider kept its copy: {why}");
    /// }
    /// # Ok::<(), nexus_sdk::NexusError>(())
    /// ```
    pub fn revoke_connection(
        &self,
        connection_id: &str,
        options: &RevokeOptions,
    ) -> Result<RevokeResult, NexusError> {
        require("connection_id", connection_id)?;
        let path = format!("/v1/connections/{}", encode_path_segment(connection_id));
        let mut pairs = Vec::new();
        if let Some(workspace_id) = &options.workspace_id {
            pairs.push(("workspace_id", workspace_id.as_str()));
        }
        if let Some(reason) = &options.reason {
            pairs.push(("reason", reason.as_str()));
        }
        let query = (!pairs.is_empty()).then(|| form_urlencode(&pairs));
        let body = self.call_json(Method::DELETE, &path, query.as_deref(), None)?;
        RevokeResult::from_json(&body)
    }

    /// Resolves the workspace's current token for `provider` from the
    /// Gateway (`GET /v1/resolve`), bypassing any cache.
    ///
    /// The answer's strategy decides how the token is sent: `oauth2` (or
    /// none) and `header` give a header, `basic_auth` a `Basic` header, and
    /// `query_param` a query parameter; others are `unsupported_strategy`.
    /// Without a usable expiry the token is given 5 minutes, with a warning
    /// logged.
    pub fn resolve_token(
        &self,
        workspace_id: &str,
        provider: &str,
    ) -> Result<CachedToken, NexusError> {
        require("workspace_id", workspace_id)?;
        require("provider", provider)?;
        log::info!(target: LOG_TARGET, "Resolving token for workspace={workspace_id} provider={provider}");
        let query = form_urlencode(&[("workspace_id", workspace_id), ("provider_name", provider)]);
        let body = self.call_json(Method::GET, "/v1/resolve", Some(&query), None)?;
        let (token, expiry) = token_from_resolve(&body, SystemTime::now())?;
        match expiry {
            Expiry::Given => {}
            Expiry::Missing => log::warn!(
                target: LOG_TARGET,
                "No expires_at for workspace={workspace_id} provider={provider}, using 5-minute fallback"
            ),
            Expiry::Unparseable(value) => log::warn!(
                target: LOG_TARGET,
                "Could not parse expires_at={:?} for workspace={workspace_id} provider={provider}, using 5-minute fallback",
                value.to_string()
            ),
        }
        Ok(token)
    }

    /// The cached token for the pair, resolving (and caching) it on a miss.
    ///
    /// Concurrent misses on one pair make a single Gateway call and share
    /// its result; a miss on one pair never waits for another. A failed
    /// resolve is not cached.
    ///
    /// ```
    /// use nexus_sdk::testing::{FakeGateway, FakeProvider, Route};
    /// use nexus_sdk::{NexusClient, NexusClientOptions, TokenCache};
    ///
    /// let gateway = FakeGateway::start();
    /// gateway.add_provider("ws-1", "github", FakeProvider::oauth2("gho_x"));
    /// let client = NexusClient::new(NexusClientOptions::new(gateway.url()))?;
    /// let cache = TokenCache::new();
    /// let first = client.get_cached_token(&cache, "ws-1", "github")?;
    /// let again = client.get_cached_token(&cache, "ws-1", "github")?;
    /// assert_eq!(first, again);
    /// assert_eq!(gateway.requests(Route::Resolve), 1);
    /// # Ok::<(), nexus_sdk::NexusError>(())
    /// ```
    pub fn get_cached_token(
        &self,
        cache: &TokenCache,
        workspace_id: &str,
        provider: &str,
    ) -> Result<CachedToken, NexusError> {
        require("workspace_id", workspace_id)?;
        require("provider", provider)?;
        if let Some(token) = cache.get(workspace_id, provider) {
            log::debug!(target: LOG_TARGET, "Using cached token for workspace={workspace_id} provider={provider}");
            return Ok(token);
        }
        cache.resolve_once(workspace_id, provider, || {
            self.resolve_token(workspace_id, provider)
        })
    }

    /// Forgets the pair's cached token, so the next use resolves a new one.
    pub fn clear_token(&self, cache: &TokenCache, workspace_id: &str, provider: &str) {
        cache.delete(workspace_id, provider);
    }

    /// Checks that the Gateway answers: `GET /health`, `Ok` on any 2xx.
    pub fn health(&self) -> Result<(), NexusError> {
        self.call(Method::GET, "/health", None, None).map(drop)
    }

    /// A Gateway call whose 2xx answer must be JSON.
    pub(crate) fn call_json(
        &self,
        method: Method,
        path: &str,
        query: Option<&str>,
        body: Option<&Value>,
    ) -> Result<Value, NexusError> {
        let bytes = self.call(method, path, query, body)?;
        serde_json::from_slice(&bytes)
            .map_err(|e| NexusError::invalid_response(format!("Gateway answer is not JSON ({e})")))
    }

    /// One Gateway call with the retry policy: the 2xx body, or the error.
    fn call(
        &self,
        method: Method,
        path: &str,
        query: Option<&str>,
        json: Option<&Value>,
    ) -> Result<Vec<u8>, NexusError> {
        let inner = &*self.inner;
        let url = match query {
            Some(query) => format!("{}{path}?{query}", inner.base_url),
            None => format!("{}{path}", inner.base_url),
        };
        let body = json.map(|v| v.to_string().into_bytes());
        let attempts = inner.retry.retries.saturating_add(1);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let last = attempt == attempts;
            log::info!(target: LOG_TARGET, "Attempt {attempt}/{attempts}: {method} {path}");
            let request = self.gateway_request(&method, &url, body.is_some())?;
            let (error, wait) = match inner.transport.send(request, body.as_deref()) {
                Err(e) => {
                    let retry = !last && never_sent(&e);
                    let error = transport_error(e);
                    if !retry {
                        return Err(error);
                    }
                    (error, None)
                }
                Ok(response) => {
                    let status = response.status().as_u16();
                    if (200..300).contains(&status) {
                        return read_capped(response.into_body(), MAX_GATEWAY_BODY).map_err(|e| {
                            match e {
                                ReadError::TooLarge => NexusError::invalid_response(format!(
                                    "Gateway answer is larger than {MAX_GATEWAY_BODY} bytes"
                                )),
                                ReadError::Io(io) => read_error(io),
                            }
                        });
                    }
                    let retry_after = response
                        .headers()
                        .get(RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| parse_retry_after(v, SystemTime::now()));
                    let error =
                        NexusError::from_gateway(status, &read_error_body(response.into_body()));
                    if !inner.retry.is_retryable_status(status) {
                        return Err(error);
                    }
                    if last {
                        return Err(out_of_retries(error, status, attempts));
                    }
                    (error, retry_after)
                }
            };
            let wait = wait.unwrap_or_else(|| inner.retry.backoff(attempt - 1, jitter()));
            log::info!(target: LOG_TARGET, "Retrying in {:.1}s: {error}", wait.as_secs_f64());
            thread::sleep(wait);
        }
    }

    fn gateway_request(
        &self,
        method: &Method,
        url: &str,
        json: bool,
    ) -> Result<Request<()>, NexusError> {
        let mut request = Request::builder()
            .method(method.clone())
            .uri(url)
            .header(ACCEPT, "application/json");
        if let Some(key) = &self.inner.api_key {
            request = request.header("X-API-Key", key.clone());
        }
        if json {
            request = request.header(CONTENT_TYPE, "application/json");
        }
        request
            .body(())
            .map_err(|_| NexusError::invalid_input("an id made a URL that does not parse"))
    }
}

/// The error once the last attempt met a retryable status: with retries
/// configured, `max_retries_exceeded` wrapping the Gateway's own error;
/// without, the Gateway's error itself.
fn out_of_retries(error: NexusError, status: u16, attempts: u32) -> NexusError {
    if attempts == 1 {
        return error;
    }
    let message = format!("gave up after {attempts} attempts; last answer: {error}");
    NexusError::new("max_retries_exceeded", message)
        .with_status(status)
        .with_source(error)
}

/// As much of a failed answer's body as its error message needs; a read
/// failure leaves what arrived.
fn read_error_body(body: ureq::Body) -> Vec<u8> {
    use std::io::Read;
    let mut bytes = Vec::new();
    let _ = body
        .into_reader()
        .take(MAX_ERROR_BODY as u64)
        .read_to_end(&mut bytes);
    bytes
}

/// `invalid_input` when `value` is empty or only white space.
pub(crate) fn require(name: &str, value: &str) -> Result<(), NexusError> {
    if value.trim().is_empty() {
        return Err(NexusError::invalid_input(format!(
            "{name} must not be blank"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_from_variables() {
        let vars = |url: Option<&str>, key: Option<&str>| {
            let (url, key) = (url.map(str::to_owned), key.map(str::to_owned));
            options_from_vars(move |name| match name {
                "NEXUS_GATEWAY_URL" => url.clone(),
                "NEXUS_API_KEY" => key.clone(),
                _ => None,
            })
        };
        let options = vars(Some(" https://gw.example/ "), Some("k")).unwrap();
        assert_eq!(options.gateway_url, "https://gw.example/");
        assert_eq!(options.api_key, "k");
        assert_eq!(options.timeout, Duration::from_secs(30));
        assert_eq!(vars(Some("https://gw.example"), None).unwrap().api_key, "");
        assert_eq!(vars(None, Some("k")).unwrap_err().code, "invalid_input");
        assert_eq!(vars(Some("  "), None).unwrap_err().code, "invalid_input");
    }

    #[test]
    fn new_checks_url_and_key() {
        let new = |url: &str, key: &str| {
            NexusClient::new(NexusClientOptions {
                api_key: key.into(),
                ..NexusClientOptions::new(url)
            })
        };
        assert!(new("http://127.0.0.1:1/", "").is_ok());
        for bad in ["", "  ", "127.0.0.1:80", "ftp://x/", "http://a b"] {
            assert_eq!(new(bad, "").unwrap_err().code, "invalid_input", "{bad:?}");
        }
        let err = new("http://127.0.0.1:1", "k\r\nX-Evil: 1").unwrap_err();
        assert_eq!(err.code, "invalid_input");
        assert!(!err.message.contains("Evil"));
    }

    #[test]
    fn debug_hides_the_api_key() {
        let options = NexusClientOptions {
            api_key: "nx_secret_key".into(),
            ..NexusClientOptions::new("http://127.0.0.1:1")
        };
        assert!(!format!("{options:?}").contains("nx_secret_key"));
        let client = NexusClient::new(options).unwrap();
        let debug = format!("{client:?}");
        assert!(
            !debug.contains("nx_secret_key") && debug.contains("<redacted>"),
            "{debug}"
        );
    }

    #[test]
    fn out_of_retries_keeps_the_gateway_error() {
        let gateway = NexusError::from_gateway(503, br#"{"error":"broker_unavailable"}"#);
        assert_eq!(
            out_of_retries(gateway.clone(), 503, 1).code,
            "broker_unavailable"
        );
        let err = out_of_retries(gateway, 503, 3);
        assert_eq!(err.code, "max_retries_exceeded");
        assert_eq!(err.status_code, Some(503));
        assert!(err.message.contains("broker_unavailable"));
    }
}
