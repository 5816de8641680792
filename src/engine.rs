//! [`Engine`]: what a [`NexusClient`](crate::NexusClient) is under its
//! facade, and the life of one authenticated request in the order it
//! happens: scope check → token through the cache → credential → send →
//! redirects → the 401 rule. `authenticated_fetch`, `Fetcher` and
//! `authorize` call down into it; nothing here calls back up.

use std::borrow::Cow;
use std::time::{Duration, SystemTime};

use serde_json::Value;
use ureq::http::{HeaderMap, Method};

use crate::authorize::{Authorization, apply_to, target};
use crate::budget::{Budget, FETCH_TIMEOUT, check_timeout};
use crate::cache::{Key, Owner, TokenCache, owner_of};
use crate::error::{Limit, NexusError};
use crate::fetch::{
    FetchOptions, FetchResponse, check_scoped_parts, prepare, send_following_redirects,
};
use crate::gateway::{Gateway, RESOLVE};
use crate::options::NexusClientOptions;
use crate::redact::{LOG_TARGET, TOKEN_TARGET, escape, for_log};
use crate::resolve::{Expiry, token_from_resolve};
use crate::retry::MAX_RETRY_AFTER;
use crate::scope::{Provider, ScopeGuard, unknown_provider};
use crate::token::CachedToken;
use crate::transport::Transport;
use crate::url::{Origin, form_urlencode};

/// A client's parts, shared by its clones.
pub(crate) struct Engine {
    pub(crate) gateway: Gateway,
    /// Upstream requests' transport; the Gateway's is a clone of it (one
    /// connection pool).
    transport: Transport,
    pub(crate) max_upstream_body: usize,
    scope: ScopeGuard,
    /// The longest one Gateway call may take, retries included.
    call_budget: Duration,
    /// Whose entries this client's tokens are in a shared [`TokenCache`].
    owner: Owner,
}

/// The Gateway's provider listing (resolve's route is [`RESOLVE`]).
const METADATA: &str = "/v1/providers/metadata";

/// The Broker's codes for a resolve that finds no connection, or no token.
const NOT_CONNECTED: &str = "connection_not_found";
const NO_TOKEN: &str = "token_not_found";

impl Engine {
    /// The engine for `options`, checked.
    pub(crate) fn new(options: &NexusClientOptions) -> Result<Engine, NexusError> {
        let timeout = options.timeout;
        // From the environment it was read and checked; here it was set in code.
        check_timeout(timeout, 4, "NexusClientOptions::timeout")?;
        let retry = options.retry_policy.normalized();
        let transport = Transport::new(timeout, options.agent)?;
        let gateway = Gateway::new(options, &retry, transport.clone())?;
        let call_budget = timeout
            .saturating_mul(retry.retries.saturating_add(1))
            .saturating_add(MAX_RETRY_AFTER.saturating_mul(retry.retries));
        Ok(Engine {
            owner: owner_of(&gateway.base_url, &gateway.api_key),
            gateway,
            transport,
            max_upstream_body: options.max_upstream_body,
            scope: ScopeGuard::new(&options.credential_scope)?,
            call_budget,
        })
    }

    pub(crate) fn timeout(&self) -> Duration {
        self.transport.timeout()
    }

    /// The budget of a Gateway call made on its own: every attempt, retry
    /// and wait of the retry policy.
    pub(crate) fn gateway_budget(&self) -> Budget {
        Budget::new(Limit::client(self.call_budget))
    }

    /// The budget of one authenticated request, its resolve and its 401
    /// retry included: `timeout` (`FetchOptions::timeout`), else the client's.
    pub(crate) fn request_budget(&self, timeout: Option<Duration>) -> Budget {
        let client = Limit::client(self.transport.timeout());
        let fetch = |after| Limit {
            after,
            setting: FETCH_TIMEOUT,
        };
        Budget::new(timeout.map_or(client, fetch))
    }

    /// The key for a public call's pair: `invalid_input` when one is blank.
    pub(crate) fn key<'a>(
        &self,
        workspace: &'a str,
        provider: &'a str,
    ) -> Result<Key<'a>, NexusError> {
        Key::new(self.owner, workspace, provider)
    }

    /// The key's token from the Gateway (`GET /v1/resolve`), no cache; its
    /// expiry set on the clock `now` reads. A token that had already expired
    /// when it arrived is resolved once more, and if the second has expired
    /// too it is sent nowhere: `token_expired`, a connection that needs its
    /// user ([`NexusError::needs_connection`]).
    pub(crate) fn resolve(
        &self,
        key: Key<'_>,
        budget: &Budget,
        now: &dyn Fn() -> SystemTime,
    ) -> Result<CachedToken, NexusError> {
        let token = self.resolve_once(key, budget, now)?;
        if token.expires_at() > now() {
            return Ok(token);
        }
        log::info!(target: LOG_TARGET, "The token for {key} had already expired; resolving once more");
        let token = self.resolve_once(key, budget, now)?;
        let now = now();
        if token.expires_at() > now {
            return Ok(token);
        }
        log::warn!(target: TOKEN_TARGET, "The Gateway handed out a token for {key} that had already expired, twice; not sent");
        let error = NexusError::expired_on_arrival(token.expires_at(), now);
        Err(error.reconnect_hint(key.workspace, key.provider))
    }

    /// One `GET /v1/resolve`, and the expiry's log line.
    fn resolve_once(
        &self,
        key: Key<'_>,
        budget: &Budget,
        now: &dyn Fn() -> SystemTime,
    ) -> Result<CachedToken, NexusError> {
        log::info!(target: LOG_TARGET, "Resolving token for {key}");
        let query = form_urlencode(&[
            ("workspace_id", key.workspace),
            ("provider_name", key.provider),
        ]);
        let called = self
            .gateway
            .call_json(Method::GET, RESOLVE, Some(&query), None, budget);
        let body = match called {
            Err(e) if e.status_code == Some(404) => {
                // A name the Gateway lists in another case resolves as listed.
                let listed = self.explain_missing(e, key, budget, now())?;
                let key = Key {
                    provider: &listed,
                    ..key
                };
                return self.resolve_once(key, budget, now);
            }
            Err(e) if e.needs_connection() => {
                return Err(e.reconnect_hint(key.workspace, key.provider));
            }
            called => called?,
        };
        let token_keys = ["credentials", "access_token", "strategy"];
        if !token_keys.iter().any(|k| body.get(k).is_some()) {
            let why = "its answer to GET /v1/resolve has none of a token's keys";
            return Err(NexusError::not_a_gateway(&self.gateway.origin, why, None));
        }
        let (token, expiry) = token_from_resolve(&body, now())?;
        match expiry {
            Expiry::Given => {}
            // A static credential (an api key) has none: no cause for alarm.
            Expiry::Missing => log::debug!(
                target: LOG_TARGET,
                "No expires_at for {key}, using 5-minute fallback"
            ),
            // Its type, not its text: a Broker may put a secret there.
            Expiry::Unparseable(kind) => log::warn!(
                target: LOG_TARGET,
                "Could not parse expires_at=<a {kind}> for {key}, using 5-minute fallback"
            ),
        }
        Ok(token)
    }

    /// The providers the Gateway lists now, with where each credential may go.
    pub(crate) fn providers(&self, budget: &Budget) -> Result<Vec<Provider>, NexusError> {
        let now = SystemTime::now();
        self.scope
            .providers(now, budget, |budget| self.metadata(budget))
    }

    /// The Gateway's provider list (`GET /v1/providers/metadata`).
    pub(crate) fn metadata(&self, budget: &Budget) -> Result<Value, NexusError> {
        let gateway = &self.gateway;
        let body = gateway.call_json(Method::GET, METADATA, None, None, budget)?;
        // `{auth_type: {provider: {…}}}`, or no Gateway's.
        let groups = body.as_object();
        if groups.is_some_and(|groups| groups.values().all(Value::is_object)) {
            return Ok(body);
        }
        let why = "its answer to GET /v1/providers/metadata is not a provider list";
        Err(NexusError::not_a_gateway(&self.gateway.origin, why, None))
    }

    /// A resolve's 404: `Ok` with the name the Gateway lists the provider
    /// under, when that is another case of the one asked for (see
    /// [`Provider::find`]); else the error, said so that it names the pair:
    /// when the Gateway's list does not name the provider, that (and the
    /// providers it does list); when it does, a connection the workspace's
    /// user must make ([`NexusError::needs_connection`]); when the list
    /// cannot be read, the Gateway's message and the pair. The Gateway's
    /// code and status stay.
    fn explain_missing(
        &self,
        mut error: NexusError,
        key: Key<'_>,
        budget: &Budget,
        now: SystemTime,
    ) -> Result<String, NexusError> {
        let metadata = |budget: &Budget| self.metadata(budget);
        let listing = self.scope.listing(key.provider, now, budget, metadata);
        match listing.as_ref().map(|listing| listing.find(key.provider)) {
            Ok(Some(listed)) if listed.name != key.provider => return Ok(listed.name.clone()),
            Ok(None) => {
                let listed = listing.map(|listing| listing.listed()).unwrap_or_default();
                error.message = unknown_provider(key, &listed).message;
            }
            Ok(Some(_)) if matches!(error.code.as_str(), NOT_CONNECTED | NO_TOKEN) => {
                return Err(error
                    .connecting()
                    .reconnect_hint(key.workspace, key.provider));
            }
            _ => {
                let (ws, p) = (escape(key.workspace), escape(key.provider));
                error.message = format!("{} (workspace `{ws}`, provider `{p}`)", error.message);
            }
        }
        Err(error)
    }

    /// The key's token through `cache`: a fresh hit before a call's
    /// budget is even made, else the cache's single flight and renewal,
    /// within `budget`, every expiry on the cache's clock.
    pub(crate) fn cached_token(
        &self,
        cache: &TokenCache,
        key: Key<'_>,
        budget: impl FnOnce() -> Budget,
    ) -> Result<CachedToken, NexusError> {
        let clock = || cache.now();
        cache.token(key, budget, |budget| self.resolve(key, budget, &clock))
    }

    /// The scope check of a request about to carry the key's credential,
    /// for every face: the name the token is resolved and cached under, the
    /// provider's as the Gateway lists it when the scope found it there in
    /// another case, else the key's.
    fn check_scope<'k>(
        &self,
        cache: &TokenCache,
        key: Key<'k>,
        (method, origin, headers): (&Method, &Origin, &HeaderMap),
        budget: &Budget,
    ) -> Result<Cow<'k, str>, NexusError> {
        // `anywhere` is the Python SDK's rule: no check, no listing, no cost.
        if self.scope.is_anywhere() {
            return Ok(Cow::Borrowed(key.provider));
        }
        let read = |budget: &Budget| self.metadata(budget);
        let listed = self.scope.check(key, origin, cache.now(), budget, read)?;
        check_scoped_parts(method, origin, headers)?;
        Ok(listed.map_or(Cow::Borrowed(key.provider), Cow::Owned))
    }

    /// `authorize`: the request's URI checked as a fetch's URL, the
    /// credential, then the strategy applied to the request.
    pub(crate) fn authorize<B: AsRef<[u8]>>(
        &self,
        cache: &TokenCache,
        key: Key<'_>,
        request: &mut ureq::http::Request<B>,
    ) -> Result<Authorization, NexusError> {
        let (uri, origin) = target(request)?;
        let parts = (request.method(), &origin, request.headers());
        let budget = self.request_budget(None);
        let provider = &self.check_scope(cache, key, parts, &budget)?;
        let token = self.cached_token(cache, Key { provider, ..key }, || budget)?;
        apply_to(token, uri, request)
    }

    /// `authenticated_fetch`: the caller's URL and options checked, then
    /// the credential, the send with its redirects, and the 401 rule (on a
    /// 401 from an origin that got the credential, the token is dropped, a
    /// fresh one resolved, and the request sent once more), all within
    /// `FetchOptions::timeout`, else the client's.
    pub(crate) fn fetch(
        &self,
        cache: &TokenCache,
        key: Key<'_>,
        url: &str,
        options: FetchOptions,
    ) -> Result<FetchResponse, NexusError> {
        let outgoing = prepare(url, options)?;
        let (outgoing, budget) = (&outgoing, &self.request_budget(outgoing.timeout));
        let parts = (&outgoing.method, &outgoing.origin, &outgoing.headers);
        let provider = &self.check_scope(cache, key, parts, budget)?;
        let key = Key { provider, ..key };
        let token = self.cached_token(cache, key, || budget.clone())?;
        log::info!(target: LOG_TARGET, "Fetcher → {} {}", outgoing.method, for_log(&outgoing.uri));
        let (transport, cap) = (&self.transport, self.max_upstream_body);
        let ((status, headers, body), credentialed) =
            send_following_redirects(transport, cap, outgoing, &token, provider, budget)?;
        // Only a 401 from an origin that got the credential rejects the token.
        if status != 401 || !credentialed {
            return Ok((status, headers, body));
        }
        // Drop the rejected token, unless another thread already replaced it.
        cache.delete_entry(key, &token);
        let fresh = self.cached_token(cache, key, || budget.clone())?;
        let ((status, headers, body), credentialed) =
            send_following_redirects(transport, cap, outgoing, &fresh, provider, budget)?;
        if status == 401 && credentialed {
            log::warn!(target: LOG_TARGET, "The API answered 401 to a freshly resolved credential too ({key}): the connection may need to be reconnected");
        }
        Ok((status, headers, body))
    }
}
