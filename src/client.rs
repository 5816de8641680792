//! [`NexusClient`] and its public methods: the connection lifecycle, the
//! token path, and `authenticated_fetch`; [`Fetcher`], the last bound to a
//! workspace and provider. Each method checks its input
//! here, once, and leaves the work to the module of its concern.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use ureq::http::{Method, Request};

use crate::authorize::Authorization;
use crate::cache::TokenCache;
use crate::connection::{
    ConnectionStatus, RequestConnectionInput, RequestConnectionResponse, RevokeOptions,
    RevokeResult, TokenResponse, required_str,
};
use crate::engine::Engine;
use crate::error::{NexusError, require};
use crate::fetch::{FetchOptions, FetchResponse};
use crate::options::NexusClientOptions;
use crate::redact::{REDACTED, url_for_debug};
use crate::scope::Provider;
use crate::token::CachedToken;
use crate::url::{encode_unreserved, form_urlencode};
use crate::wait::WaitOptions;

/// A blocking client of the Nexus Gateway (Python `NexusClient`): call it
/// from a thread, never from an async task. On a tokio worker a call blocks
/// the thread and every task queued on it; there, use the
/// `nexus-gateway-sdk-tokio` package (its `AsyncNexusClient` runs each call
/// off the runtime) or `tokio::task::spawn_blocking`.
///
/// Cheap to clone: clones share one connection pool. `Send + Sync`, so a
/// thread-per-request server can hand a clone to every worker. `Debug`
/// hides the api key.
///
/// ```no_run
/// use nexus_sdk::{NexusClient, NexusClientOptions, RequestConnectionInput};
///
/// let client = NexusClient::new(NexusClientOptions::from_env()?)?;
/// let started = client.request_connection(
///     &RequestConnectionInput::new("user-42", "github")
///         .scopes(["repo"])
///         .return_url("https://app.example/done"),
/// )?;
/// println!("send the user to {}", started.auth_url);
/// client.wait_for_active(&started.connection_id)?;
/// let token = client.get_token_by_connection_id(&started.connection_id)?;
/// # let _ = token;
/// # Ok::<(), nexus_sdk::NexusError>(())
/// ```
#[derive(Clone)]
pub struct NexusClient {
    engine: Arc<Engine>,
}

impl fmt::Debug for NexusClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let gateway = &self.engine.gateway;
        let key = (!gateway.api_key.is_empty()).then_some(REDACTED);
        f.debug_struct("NexusClient")
            .field("gateway_url", &url_for_debug(&gateway.base_url))
            .field("api_key", &key)
            .field("timeout", &self.engine.timeout())
            .field("max_upstream_body", &self.engine.max_upstream_body)
            .finish_non_exhaustive()
    }
}

impl NexusClient {
    /// A client for the Gateway in `options`.
    ///
    /// # Errors
    ///
    /// `invalid_input` when `gateway_url` is blank, does not parse, is not
    /// http(s), has userinfo or a port outside 1–65535, or is `https://` in
    /// a build without TLS; when `api_key` cannot go in a header; when
    /// `timeout` is zero or too large to add to an `Instant`; or when an
    /// origin given to [`CredentialScope::allow`](crate::CredentialScope::allow)
    /// does not parse.
    pub fn new(options: NexusClientOptions) -> Result<Self, NexusError> {
        Ok(NexusClient {
            engine: Arc::new(Engine::new(&options)?),
        })
    }

    /// Starts connecting a user to a provider: `POST /v1/request-connection`.
    ///
    /// Send the user to the returned `auth_url`, then poll with
    /// [`wait_for_active`](Self::wait_for_active).
    ///
    /// # Errors
    ///
    /// `invalid_input` for a blank `user_id`, `provider_name` or
    /// `return_url` (the Gateway requires all three); the Gateway's error:
    /// `provider_not_found` (404), `provider_ambiguous` (409, the name
    /// matches several providers), `broker_error` (502, the Broker refused
    /// the `return_url`; not retried), …; a transport error;
    /// `invalid_response` when the answer lacks `authUrl` or
    /// `connection_id`.
    pub fn request_connection(
        &self,
        input: &RequestConnectionInput,
    ) -> Result<RequestConnectionResponse, NexusError> {
        require("user_id", &input.user_id)?;
        require("provider_name", &input.provider_name)?;
        require("return_url", &input.return_url)?;
        let json = input.to_json();
        let body = self.gateway_call(Method::POST, "/v1/request-connection", None, Some(&json))?;
        if body.get("authUrl").is_none() && body.get("connection_id").is_none() {
            return Err(self.not_a_gateway("authUrl"));
        }
        RequestConnectionResponse::from_json(&body)
    }

    /// The connection's status as the Gateway reports it:
    /// `GET /v1/check-connection/{id}`.
    ///
    /// The Nexus Gateway asks its Broker for the connection's token and says
    /// `active` when it gets one, `pending` when the Broker fails (5xx), and
    /// `failed` for every other answer: a connection whose user has not
    /// consented yet reads `failed`, as do unknown and revoked ones. To wait
    /// for consent, use [`wait_for_active`](Self::wait_for_active), which
    /// knows this.
    ///
    /// # Errors
    ///
    /// `invalid_input` for a blank id; the Gateway's error (a 502 with a
    /// plain-text body when the Broker cannot be reached, …); a transport
    /// error; `invalid_response` when the answer has no `status`.
    pub fn check_connection(&self, connection_id: &str) -> Result<ConnectionStatus, NexusError> {
        require("connection_id", connection_id)?;
        self.check_unchecked(connection_id)
    }

    /// Waits, polling every 1.5 s for at most 300 s, until the connection is
    /// active. See [`wait_for_active_with_options`](Self::wait_for_active_with_options).
    ///
    /// # Errors
    ///
    /// As [`wait_for_active_with_options`](Self::wait_for_active_with_options).
    pub fn wait_for_active(&self, connection_id: &str) -> Result<ConnectionStatus, NexusError> {
        self.wait_for_active_with_options(connection_id, &WaitOptions::default())
    }

    /// Polls `check_connection` every `interval` until the connection is
    /// active, and checks at least once.
    ///
    /// The Nexus Gateway answers `failed` for every connection that is not
    /// active, one whose user has not consented yet included, so `failed`
    /// alone does not end the wait: the token route
    /// (`GET /v1/token/{id}`) is asked, and the wait ends early only when
    /// the connection is gone: `Ok(Revoked)` for 410, `Ok(Failed)` for 404,
    /// 409 and 400 `invalid_connection_id`. `Ok(Revoked)` too when the
    /// Gateway reports `revoked`. A 5xx, 429, timeout or refused connection
    /// on one poll is not final: the next poll tries again. With
    /// [`WaitOptions::stop_on_failed`] the first `failed` is returned (the
    /// Python SDK's rule, for a Gateway that reports `pending`).
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use nexus_sdk::{ConnectionStatus, NexusClient, NexusClientOptions, WaitOptions};
    ///
    /// let client = NexusClient::new(NexusClientOptions::from_env()?)?;
    /// let options = WaitOptions::default().timeout(Duration::from_secs(120));
    /// match client.wait_for_active_with_options("3f1b…", &options)? {
    ///     ConnectionStatus::Active => println!("connected"),
    ///     gone => println!("the connection ended: {gone}"),
    /// }
    /// # Ok::<(), nexus_sdk::NexusError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `invalid_input` for a blank id; `timeout` once `timeout` has passed
    /// without an answer above (its message names the last status seen);
    /// any other error of [`check_connection`](Self::check_connection) or
    /// of the token route (`unauthorized`, `invalid_response`, …).
    pub fn wait_for_active_with_options(
        &self,
        connection_id: &str,
        options: &WaitOptions,
    ) -> Result<ConnectionStatus, NexusError> {
        require("connection_id", connection_id)?;
        crate::wait::wait_for_active(
            options,
            connection_id,
            || self.check_unchecked(connection_id),
            || self.token_unchecked(connection_id).map(drop),
        )
    }

    /// The connection's current token: `GET /v1/token/{id}`.
    ///
    /// # Errors
    ///
    /// `invalid_input` for a blank id; the Gateway's error, whose `kind()`
    /// follows the status (400 not active yet, 404 unknown, 409 needs the
    /// user's attention, 410 revoked). A Gateway that forwards the Broker's
    /// body (Nexus 0.4.0 and later) gives its code (`connection_not_active`,
    /// `connection_revoked`, …); an older one sends the status alone, and
    /// the code is `http_<status>`. A transport error; `invalid_response`
    /// when the answer is not a JSON object.
    pub fn get_token_by_connection_id(
        &self,
        connection_id: &str,
    ) -> Result<TokenResponse, NexusError> {
        require("connection_id", connection_id)?;
        self.token_unchecked(connection_id)
    }

    /// Makes the Broker refresh the connection's token now: `POST /v1/refresh/{id}`.
    ///
    /// The Gateway answers `access_token`, `refresh_token` and `token_type`
    /// only; the other fields of the [`TokenResponse`] are `None`.
    ///
    /// # Errors
    ///
    /// As [`get_token_by_connection_id`](Self::get_token_by_connection_id).
    pub fn refresh_connection(&self, connection_id: &str) -> Result<TokenResponse, NexusError> {
        require("connection_id", connection_id)?;
        let path = id_path("/v1/refresh", connection_id);
        TokenResponse::from_json(self.gateway_call(Method::POST, &path, None, None)?)
    }

    /// Revokes the connection: `DELETE /v1/connections/{id}`. Idempotent: a
    /// second call answers with `already_revoked: true`.
    ///
    /// ```no_run
    /// # let client = nexus_sdk::NexusClient::new(nexus_sdk::NexusClientOptions::new("http://127.0.0.1:1"))?;
    /// use nexus_sdk::RevokeOptions;
    ///
    /// let result = client.revoke_connection("3f1b…", &RevokeOptions::default().reason("user_request"))?;
    /// if let Some(why) = &result.provider_revocation_error {
    ///     eprintln!("the provider kept its copy: {why}");
    /// }
    /// # Ok::<(), nexus_sdk::NexusError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `invalid_input` for a blank id; the Gateway's error
    /// (`connection_not_found`, `revoke_failed`, …); a transport error;
    /// `invalid_response` when the answer is not a JSON object.
    pub fn revoke_connection(
        &self,
        connection_id: &str,
        options: &RevokeOptions,
    ) -> Result<RevokeResult, NexusError> {
        require("connection_id", connection_id)?;
        let path = id_path("/v1/connections", connection_id);
        let given = [
            ("workspace_id", &options.workspace_id),
            ("reason", &options.reason),
        ];
        let pairs: Vec<_> = given
            .iter()
            .filter_map(|(k, v)| Some((*k, v.as_ref()?)))
            .collect();
        let query = (!pairs.is_empty()).then(|| form_urlencode(&pairs));
        let body = self.gateway_call(Method::DELETE, &path, query.as_deref(), None)?;
        RevokeResult::from_json(&body)
    }

    /// Checks that the Gateway answers: `GET /health`, `Ok` on a 2xx with
    /// the Gateway's `{"status": …}`.
    ///
    /// # Errors
    ///
    /// The Gateway's error for a non-2xx answer, a transport error, or
    /// `invalid_response` when the server does not look like a Nexus Gateway.
    pub fn health(&self) -> Result<(), NexusError> {
        let body = self.gateway_call(Method::GET, "/health", None, None)?;
        body.get("status")
            .map(drop)
            .ok_or_else(|| self.not_a_gateway("status"))
    }

    /// The providers the Gateway lists (`GET /v1/providers/metadata`,
    /// asked afresh), sorted by name, each with exactly the origins this
    /// client sends its credential to ([`Provider::origins`]): one answer
    /// to "where may this credential go", from the code that enforces the
    /// [`CredentialScope`](crate::CredentialScope). No secret is in it.
    ///
    /// ```
    /// # use nexus_gateway_fake::{FakeGateway, FakeProvider};
    /// # use nexus_sdk::{NexusClient, NexusClientOptions, CredentialScope};
    /// # let gateway = FakeGateway::start();
    /// # gateway.add_provider("ws-1", "github", FakeProvider::oauth2("gho_x").api_base_url("https://API.github.com:443/v3"));
    /// let scope = CredentialScope::provider_api().allow("github", "https://uploads.github.com");
    /// let client = NexusClient::new(NexusClientOptions::new(gateway.url()).credential_scope(scope))?;
    /// let github = client.providers()?.into_iter().find(|p| p.name == "github").unwrap();
    /// assert_eq!(github.auth_type, "oauth2");
    /// assert_eq!(github.origins, ["https://api.github.com", "https://uploads.github.com"]);
    /// # Ok::<(), nexus_sdk::NexusError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// The Gateway's error, a transport error, or `invalid_response` when
    /// the answer is not a provider list.
    pub fn providers(&self) -> Result<Vec<Provider>, NexusError> {
        self.engine.providers(&self.engine.gateway_budget())
    }

    /// Resolves the workspace's current token for `provider` from the
    /// Gateway (`GET /v1/resolve`), bypassing any cache.
    ///
    /// The answer's strategy decides how the token is sent: `oauth2` (or
    /// none) and `header` give a header, `basic_auth` a `Basic` header, and
    /// `query_param` a query parameter. Without a usable expiry the token is
    /// given 5 minutes, with a warning logged.
    ///
    /// # Errors
    ///
    /// `invalid_input` for a blank workspace or provider; the Gateway's
    /// error (`connection_not_found`, `provider_ambiguous`, …); a transport
    /// error; `invalid_response` for an answer without credentials;
    /// `invalid_credentials` when it holds no usable token;
    /// `unsupported_strategy` for a strategy the SDK cannot apply.
    pub fn resolve_token(
        &self,
        workspace_id: &str,
        provider: &str,
    ) -> Result<CachedToken, NexusError> {
        let key = self.engine.key(workspace_id, provider)?;
        let budget = self.engine.gateway_budget();
        self.engine.resolve(key, &budget, &SystemTime::now)
    }

    /// The cached token for the pair, resolving (and caching) it on a miss.
    ///
    /// Concurrent misses on one pair make a single Gateway call and share
    /// its result; a miss on one pair never waits for another, and a waiter
    /// waits no longer than its own call could take. A failed resolve is not
    /// cached.
    ///
    /// ```
    /// use nexus_gateway_fake::{FakeGateway, FakeProvider, Route};
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
    ///
    /// # Errors
    ///
    /// As [`resolve_token`](Self::resolve_token); `timeout` when another
    /// caller's resolve for the pair outlasts this call's own budget;
    /// `request_failed` for a call made from inside the pair's own resolve.
    pub fn get_cached_token(
        &self,
        cache: &TokenCache,
        workspace_id: &str,
        provider: &str,
    ) -> Result<CachedToken, NexusError> {
        let key = self.engine.key(workspace_id, provider)?;
        // A hit reads no other clock than the cache's: the budget comes later.
        let engine = &self.engine;
        engine.cached_token(cache, key, || engine.gateway_budget())
    }

    /// The pair's cached token if this client may use it and it is fresh
    /// (not yet in its refresh window): no I/O, no wait, nothing resolved.
    /// It exists for a non-blocking caller (an async runtime's task), which
    /// answers such a hit at once and sends everything else to a thread;
    /// everyone else calls [`get_cached_token`](Self::get_cached_token).
    pub fn fresh_cached_token(
        &self,
        cache: &TokenCache,
        workspace_id: &str,
        provider: &str,
    ) -> Option<CachedToken> {
        cache.fresh(self.engine.key(workspace_id, provider).ok()?)
    }

    /// Forgets the pair's cached token, so the next use resolves a new one.
    /// A resolve already under way for the pair is returned to its callers
    /// but not stored.
    pub fn clear_token(&self, cache: &TokenCache, workspace_id: &str, provider: &str) {
        cache.delete(workspace_id, provider);
    }

    /// Sends a request to a provider's API with the workspace's credential
    /// and returns `(status, headers, body)`.
    ///
    /// Every HTTP status comes back as `Ok`. Before anything is resolved,
    /// the URL is checked (http(s), no userinfo, a valid port) and its
    /// origin must be inside the client's
    /// [`CredentialScope`](crate::CredentialScope). On a 401 from an origin
    /// that received the credential, the cached token is dropped, a fresh
    /// one resolved, and the request sent once more. Redirects are followed
    /// up to 5 times; the credential, and the caller's `Authorization`,
    /// `Cookie` and `Proxy-Authorization`, go only to the origin of `url`.
    /// The body is read up to `max_upstream_body` bytes.
    ///
    /// ```no_run
    /// use nexus_sdk::{FetchOptions, NexusClient, NexusClientOptions, TokenCache};
    ///
    /// let client = NexusClient::new(NexusClientOptions::from_env()?)?;
    /// let cache = TokenCache::new();
    /// let (status, headers, body) = client.authenticated_fetch(
    ///     &cache, "ws-1", "github", "https://api.github.com/user", FetchOptions::default())?;
    /// println!("{status} {:?} {} bytes", headers.get("content-type"), body.len());
    /// # Ok::<(), nexus_sdk::NexusError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `invalid_input` for a blank workspace or provider, a bad URL, method
    /// or header, or (under a restricted scope) `TRACE`/`TRACK`, which echo
    /// the credential back; `origin_not_allowed` for a URL outside the
    /// credential scope, or (under a restricted scope) a `Host` header
    /// naming another authority than the URL's; `provider_not_listed` for a provider the Gateway's metadata
    /// does not list (under the default scope); any error of [`get_cached_token`](Self::get_cached_token);
    /// `request_failed` or `timeout` when the upstream request cannot be
    /// carried, or its body exceeds `max_upstream_body`.
    pub fn authenticated_fetch(
        &self,
        cache: &TokenCache,
        workspace_id: &str,
        provider: &str,
        url: &str,
        options: FetchOptions,
    ) -> Result<FetchResponse, NexusError> {
        let key = self.engine.key(workspace_id, provider)?;
        self.engine.fetch(cache, key, url, options)
    }

    /// Puts the credential for (`workspace_id`, `provider`) on `request`, to
    /// send with any HTTP client: the Rust counterpart of Go's
    /// `RoundTripper` and TypeScript's `createFetcher`.
    ///
    /// The request's URI must be absolute (`https://api.github.com/user`).
    /// It is checked against the client's
    /// [`CredentialScope`](crate::CredentialScope) exactly as
    /// `authenticated_fetch` checks a URL; the token comes through `cache`
    /// (single flight, rotation); then the strategy is applied: a header
    /// (replacing one of the same name, marked sensitive), a query
    /// parameter, or for `hmac_payload` and `aws_sigv4` a signature over the
    /// request's method, URI, headers and body as they are now. Change
    /// nothing after it but what your client adds on its own.
    ///
    /// **Redirects are yours to keep safe.** The credential is in the
    /// request's headers or URI, and a client that follows a redirect to
    /// another origin may carry it there (ureq and reqwest drop
    /// `Authorization` and `Cookie` across origins, but keep an `X-API-Key`
    /// or a signature header). Turn redirects off for these requests
    /// (`reqwest::redirect::Policy::none()`, ureq's `max_redirects(0)`) and
    /// authorize a request to the new location afresh, or use
    /// [`authenticated_fetch`](Self::authenticated_fetch), which follows
    /// them under the crate's origin rule.
    ///
    /// ```
    /// # use nexus_gateway_fake::{FakeGateway, FakeProvider, FakeUpstream};
    /// # use nexus_sdk::{NexusClient, NexusClientOptions, TokenCache};
    /// # let (gateway, api) = (FakeGateway::start(), FakeUpstream::start());
    /// # gateway.add_provider("ws-1", "github", FakeProvider::oauth2("gho_x").api_base_url(&api.url()));
    /// # let client = NexusClient::new(NexusClientOptions::new(gateway.url()))?;
    /// # let url = format!("{}/user", api.url());
    /// let cache = TokenCache::new();
    /// let mut request = nexus_sdk::http::Request::get(&url).body(Vec::new()).unwrap();
    /// let authorization = client.authorize(&cache, "ws-1", "github", &mut request)?;
    /// assert_eq!(request.headers()["authorization"], "Bearer gho_x");
    ///
    /// // … send `request` with your own client, redirects off; then:
    /// let status = 401;
    /// if status == 401 {
    ///     authorization.rejected(); // the next authorize resolves a fresh token
    /// }
    /// # Ok::<(), nexus_sdk::NexusError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `invalid_input` for a blank id or a URI that is not absolute
    /// http(s); `origin_not_allowed` or `provider_not_listed` as
    /// `authenticated_fetch` says; any error of
    /// [`get_cached_token`](Self::get_cached_token); `invalid_credentials`
    /// when the credential cannot go on the request.
    pub fn authorize<B: AsRef<[u8]>>(
        &self,
        cache: &TokenCache,
        workspace_id: &str,
        provider: &str,
        request: &mut Request<B>,
    ) -> Result<Authorization, NexusError> {
        let key = self.engine.key(workspace_id, provider)?;
        self.engine.authorize(cache, key, request)
    }

    /// A [`Fetcher`] bound to one workspace and provider, sharing `cache`.
    pub fn fetcher(&self, cache: Arc<TokenCache>, workspace_id: &str, provider: &str) -> Fetcher {
        Fetcher {
            client: self.clone(),
            cache,
            workspace_id: workspace_id.to_owned(),
            provider: provider.to_owned(),
        }
    }

    /// A Gateway call whose answer is JSON, within the retry policy's budget.
    fn gateway_call(
        &self,
        method: Method,
        path: &str,
        query: Option<&str>,
        body: Option<&serde_json::Value>,
    ) -> Result<serde_json::Value, NexusError> {
        let budget = self.engine.gateway_budget();
        (self.engine.gateway).call_json(method, path, query, body, &budget)
    }

    /// A Gateway answer without the key every Gateway sends on that route.
    fn not_a_gateway(&self, key: &str) -> NexusError {
        let why = format!("its answer has no `{key}`, which every Nexus Gateway sends");
        NexusError::not_a_gateway(&self.engine.gateway.origin, &why, None)
    }

    fn token_unchecked(&self, connection_id: &str) -> Result<TokenResponse, NexusError> {
        let path = id_path("/v1/token", connection_id);
        TokenResponse::from_json(self.gateway_call(Method::GET, &path, None, None)?)
    }

    fn check_unchecked(&self, connection_id: &str) -> Result<ConnectionStatus, NexusError> {
        let path = id_path("/v1/check-connection", connection_id);
        let body = self.gateway_call(Method::GET, &path, None, None)?;
        let status = required_str(&body, "status").map_err(|_| self.not_a_gateway("status"))?;
        Ok(ConnectionStatus::from(status.as_str()))
    }
}

/// `route/{id}`, the id percent-encoded as one path segment.
fn id_path(route: &str, id: &str) -> String {
    format!("{route}/{}", encode_unreserved(id))
}

/// A client, a cache and a (workspace, provider) bound together: the Rust
/// twin of Python's `authenticated_session`, TypeScript's `createFetcher`
/// and Go's `AuthenticatedHTTPClient`. Cheap to clone, `Send + Sync`.
///
/// ```no_run
/// use std::sync::Arc;
/// use nexus_sdk::{NexusClient, NexusClientOptions, TokenCache};
///
/// let client = NexusClient::new(NexusClientOptions::from_env()?)?;
/// let github = client.fetcher(Arc::new(TokenCache::new()), "ws-1", "github");
/// let (status, _headers, body) = github.get("https://api.github.com/user")?;
/// # let _ = (status, body);
/// # Ok::<(), nexus_sdk::NexusError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Fetcher {
    client: NexusClient,
    cache: Arc<TokenCache>,
    workspace_id: String,
    provider: String,
}

impl Fetcher {
    /// [`NexusClient::authenticated_fetch`] for the bound workspace and provider.
    ///
    /// # Errors
    ///
    /// As [`NexusClient::authenticated_fetch`].
    pub fn fetch(&self, url: &str, options: FetchOptions) -> Result<FetchResponse, NexusError> {
        let (cache, workspace, provider) = (&self.cache, &self.workspace_id, &self.provider);
        self.client
            .authenticated_fetch(cache, workspace, provider, url, options)
    }

    /// A `GET` of `url`.
    ///
    /// # Errors
    ///
    /// As [`NexusClient::authenticated_fetch`].
    pub fn get(&self, url: &str) -> Result<FetchResponse, NexusError> {
        self.fetch(url, FetchOptions::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn new_checks_url_key_and_timeout() {
        let new =
            |url: &str, key: &str| NexusClient::new(NexusClientOptions::new(url).api_key(key));
        assert!(new("http://127.0.0.1:1/", "").is_ok());
        for bad in [
            "",
            "  ",
            "127.0.0.1:80",
            "ftp://x/",
            "http://a b",
            "http://u:p@x/",
        ] {
            assert_eq!(new(bad, "").unwrap_err().code, "invalid_input", "{bad:?}");
        }
        let err = new("http://127.0.0.1:1", "k\r\nX-Evil: 1").unwrap_err();
        assert_eq!(err.code, "invalid_input");
        assert!(!err.message.contains("Evil"));
        for timeout in [
            Duration::ZERO,
            Duration::MAX,
            Duration::from_secs(u64::MAX / 2),
        ] {
            let options = NexusClientOptions::new("http://127.0.0.1:1").timeout(timeout);
            assert_eq!(
                NexusClient::new(options).unwrap_err().code,
                "invalid_input",
                "{timeout:?}"
            );
        }
    }

    #[test]
    fn debug_hides_the_api_key_and_userinfo() {
        let client = NexusClient::new(
            NexusClientOptions::new("http://127.0.0.1:1").api_key("nx_secret_key"),
        )
        .unwrap();
        let debug = format!("{client:?}");
        assert!(
            !debug.contains("nx_secret_key") && debug.contains("<redacted>"),
            "{debug}"
        );
    }
}
