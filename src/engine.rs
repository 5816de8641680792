//! [`Engine`]: what a [`NexusClient`](crate::NexusClient) is under its
//! facade, and the life of one authenticated request in the order it
//! happens: scope check → token through the cache → credential → send →
//! redirects → the 401 rule. `authenticated_fetch`, `send`, `authorize`,
//! the middleware and `Fetcher` each call down into it; nothing here calls
//! back up.

use std::time::{Duration, SystemTime};

use serde_json::Value;
use ureq::http::Method;

use crate::budget::{Budget, check_timeout};
use crate::cache::{Lookup, Owner, TokenCache, owner_of};
use crate::error::{NexusError, require};
use crate::fetch::{
    FetchOptions, FetchResponse, Outgoing, Parts, check_scoped_parts, prepare,
    send_following_redirects,
};
use crate::flight::Call;
use crate::gateway::Gateway;
use crate::options::NexusClientOptions;
use crate::redact::{LOG_TARGET, escape, for_log};
use crate::resolve::{Expiry, token_from_resolve};
use crate::retry::MAX_RETRY_AFTER;
use crate::scope::{ScopeGuard, unknown_provider};
use crate::token::CachedToken;
use crate::transport::Transport;
use crate::url::form_urlencode;

/// A client's parts, shared by its clones.
pub(crate) struct Engine {
    gateway: Gateway,
    /// Upstream requests' transport; the Gateway's is a clone of it (one
    /// connection pool).
    transport: Transport,
    max_upstream_body: usize,
    scope: ScopeGuard,
    /// The longest one Gateway call may take, retries included.
    call_budget: Duration,
    /// Whose entries this client's tokens are in a shared [`TokenCache`].
    owner: Owner,
}

/// The Gateway's routes the engine calls.
const RESOLVE: &str = "/v1/resolve";
const METADATA: &str = "/v1/providers/metadata";

/// The setting a client-wide budget comes from, for its `timeout` error.
const CLIENT_TIMEOUT: &str = "NexusClientOptions::timeout";

impl Engine {
    /// The engine for `options`, checked.
    pub(crate) fn new(options: &NexusClientOptions) -> Result<Engine, NexusError> {
        let timeout = options.timeout;
        check_timeout(timeout, 4, CLIENT_TIMEOUT)?;
        let retry = options.retry_policy.normalized();
        let transport = Transport::new(timeout);
        let gateway = Gateway::new(
            &options.gateway_url,
            &options.api_key,
            &retry,
            transport.clone(),
        )?;
        let call_budget = timeout
            .saturating_mul(retry.retries.saturating_add(1))
            .saturating_add(MAX_RETRY_AFTER.saturating_mul(retry.retries));
        Ok(Engine {
            owner: owner_of(gateway.base_url(), gateway.api_key()),
            gateway,
            transport,
            max_upstream_body: options.max_upstream_body,
            scope: ScopeGuard::new(&options.credential_scope)?,
            call_budget,
        })
    }

    pub(crate) fn gateway(&self) -> &Gateway {
        &self.gateway
    }

    pub(crate) fn timeout(&self) -> Duration {
        self.transport.timeout()
    }

    pub(crate) fn max_upstream_body(&self) -> usize {
        self.max_upstream_body
    }

    /// The budget of a Gateway call made on its own: every attempt, retry
    /// and wait of the retry policy.
    pub(crate) fn gateway_budget(&self) -> Budget {
        Budget::new(
            self.call_budget,
            "NexusClientOptions::timeout and retry_policy",
        )
    }

    /// The budget of one authenticated request, its resolve and its 401
    /// retry included: `timeout` (`FetchOptions::timeout`), else the client's.
    pub(crate) fn request_budget(&self, timeout: Option<Duration>) -> Budget {
        match timeout {
            Some(timeout) => Budget::new(timeout, "FetchOptions::timeout"),
            None => Budget::new(self.transport.timeout(), CLIENT_TIMEOUT),
        }
    }

    /// The pair's token from the Gateway (`GET /v1/resolve`), no cache.
    pub(crate) fn resolve(
        &self,
        workspace_id: &str,
        provider: &str,
        budget: &Budget,
    ) -> Result<CachedToken, NexusError> {
        let (ws, p) = (escape(workspace_id), escape(provider));
        log::info!(target: LOG_TARGET, "Resolving token for workspace={ws} provider={p}");
        let query = form_urlencode(&[("workspace_id", workspace_id), ("provider_name", provider)]);
        let body = match self
            .gateway
            .call_json(Method::GET, RESOLVE, Some(&query), None, budget)
        {
            Ok(body) => body,
            Err(e) if e.status_code == Some(404) => {
                return Err(self.explain_missing(e, workspace_id, provider, budget));
            }
            Err(e) => return Err(e),
        };
        if !["credentials", "access_token", "strategy"]
            .iter()
            .any(|k| body.get(k).is_some())
        {
            let why = "its answer to GET /v1/resolve has none of a token's keys";
            return Err(NexusError::not_a_gateway(self.gateway.origin(), why, None));
        }
        let (token, expiry) = token_from_resolve(&body, SystemTime::now())?;
        match expiry {
            Expiry::Given => {}
            Expiry::Missing => log::warn!(
                target: LOG_TARGET,
                "No expires_at for workspace={ws} provider={p}, using 5-minute fallback"
            ),
            // Its type, not its text: a Broker may put a secret there.
            Expiry::Unparseable(kind) => log::warn!(
                target: LOG_TARGET,
                "Could not parse expires_at=<a {kind}> for workspace={ws} provider={p}, using 5-minute fallback"
            ),
        }
        Ok(token)
    }

    /// The Gateway's provider list (`GET /v1/providers/metadata`).
    pub(crate) fn metadata(&self, budget: &Budget) -> Result<Value, NexusError> {
        let body = self
            .gateway
            .call_json(Method::GET, METADATA, None, None, budget)?;
        // `{auth_type: {provider: {…}}}`, or no Gateway's.
        if body
            .as_object()
            .is_some_and(|o| o.values().all(Value::is_object))
        {
            return Ok(body);
        }
        let why = "its answer to GET /v1/providers/metadata is not a provider list";
        Err(NexusError::not_a_gateway(self.gateway.origin(), why, None))
    }

    /// A resolve's 404, said so that it names the pair: when the Gateway's
    /// list does not name the provider, that (and the providers it does
    /// list), else the Gateway's message and the pair. The Gateway's code
    /// and status stay.
    fn explain_missing(
        &self,
        mut error: NexusError,
        workspace_id: &str,
        provider: &str,
        budget: &Budget,
    ) -> NexusError {
        let metadata = |budget: &Budget| self.metadata(budget);
        match self
            .scope
            .listing(provider, SystemTime::now(), budget, metadata)
        {
            Ok(metadata) if !metadata.lists(provider) => {
                let listed = metadata.listed();
                error.message = unknown_provider(workspace_id, provider, &listed).message;
            }
            _ => {
                let (ws, p) = (escape(workspace_id), escape(provider));
                error.message = format!("{} (workspace `{ws}`, provider `{p}`)", error.message);
            }
        }
        error
    }

    /// The pair's fresh cached token (not due for renewal), if any: a hit,
    /// answered before a call's budget is set (and, on the async face,
    /// without leaving the runtime).
    pub(crate) fn fresh_hit(
        &self,
        cache: &TokenCache,
        workspace_id: &str,
        provider: &str,
    ) -> Option<CachedToken> {
        match cache.lookup(Some(self.owner), workspace_id, provider) {
            Lookup::Fresh(token) => Some(token),
            Lookup::Renew(_) | Lookup::Miss => None,
        }
    }

    /// The pair's cached token, resolved once for every concurrent caller
    /// on a miss. Inside its refresh window one caller renews it, within
    /// half the time its call has left, and gets the current token back if
    /// the renewal fails; the others keep the current token meanwhile.
    pub(crate) fn cached_token(
        &self,
        cache: &TokenCache,
        workspace_id: &str,
        provider: &str,
        budget: &Budget,
    ) -> Result<CachedToken, NexusError> {
        let (budget, current) = match cache.lookup(Some(self.owner), workspace_id, provider) {
            Lookup::Fresh(token) => {
                log::debug!(
                    target: LOG_TARGET,
                    "Using cached token for workspace={} provider={}",
                    escape(workspace_id),
                    escape(provider)
                );
                return Ok(token);
            }
            Lookup::Renew(token) => (budget.part(2), Some(token)),
            Lookup::Miss => (budget.clone(), None),
        };
        let join = Call::within(&budget, current);
        let resolve = || self.resolve(workspace_id, provider, &budget);
        cache.resolve_once(self.owner, workspace_id, provider, join, resolve)
    }

    /// The scope check, then the token through the cache: what a request's
    /// credential needs, for every face.
    pub(crate) fn credential(
        &self,
        cache: &TokenCache,
        workspace_id: &str,
        provider: &str,
        parts: Parts<'_>,
        budget: &Budget,
    ) -> Result<CachedToken, NexusError> {
        require("workspace_id", workspace_id)?;
        require("provider", provider)?;
        let (pair, now) = ((workspace_id, provider), cache.now());
        let metadata = |budget: &Budget| self.metadata(budget);
        self.scope
            .check(pair, parts.origin, now, budget, metadata)?;
        if !self.scope.is_anywhere() {
            check_scoped_parts(&parts)?;
        }
        self.cached_token(cache, workspace_id, provider, budget)
    }

    /// `authenticated_fetch`: the caller's URL and options checked, then
    /// [`run`](Self::run) within `FetchOptions::timeout`, else the client's.
    pub(crate) fn fetch(
        &self,
        cache: &TokenCache,
        (workspace_id, provider): (&str, &str),
        url: &str,
        options: FetchOptions,
    ) -> Result<FetchResponse, NexusError> {
        let outgoing = prepare(url, options)?;
        let budget = self.request_budget(outgoing.timeout);
        self.run(cache, workspace_id, provider, &outgoing, &budget)
    }

    /// One authenticated request: the credential, the send with its
    /// redirects, and the 401 rule (on a 401 from an origin that got the
    /// credential, the token is dropped, a fresh one resolved, and the
    /// request sent once more), all within `budget`.
    pub(crate) fn run(
        &self,
        cache: &TokenCache,
        workspace_id: &str,
        provider: &str,
        outgoing: &Outgoing,
        budget: &Budget,
    ) -> Result<FetchResponse, NexusError> {
        let token = self.credential(cache, workspace_id, provider, outgoing.parts(), budget)?;
        log::info!(target: LOG_TARGET, "Fetcher → {} {}", outgoing.method, for_log(&outgoing.uri));
        let (transport, cap) = (&self.transport, self.max_upstream_body);
        let (answer, credentialed) =
            send_following_redirects(transport, cap, outgoing, &token, provider, budget)?;
        // Only a 401 from an origin that got the credential rejects the token.
        if answer.0 != 401 || !credentialed {
            return Ok(answer);
        }
        // Drop the rejected token, unless another thread already replaced it.
        cache.delete_entry(self.owner, workspace_id, provider, &token);
        let fresh = self.cached_token(cache, workspace_id, provider, budget)?;
        Ok(send_following_redirects(transport, cap, outgoing, &fresh, provider, budget)?.0)
    }
}
