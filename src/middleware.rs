//! [`NexusMiddleware`]: a `ureq` agent that carries Nexus credentials, through
//! ureq 3's public middleware API (the Rust counterpart of Go's
//! `RoundTripper`).

use std::io::{self, Read};
use std::sync::Arc;

use ureq::http::header::CONTENT_LENGTH;
use ureq::http::{HeaderValue, Request, Response};
use ureq::middleware::{Middleware, MiddlewareNext};
use ureq::{Body, RequestExt, SendBody};

use crate::budget::Budget;
use crate::cache::TokenCache;
use crate::client::NexusClient;
use crate::code;
use crate::error::NexusError;
use crate::fetch::{Outgoing, credentialed_request, from_request};
use crate::fetcher::Fetcher;
use crate::token::CachedToken;

/// Middleware for any [`ureq::Agent`]: every request the agent sends gets
/// the credential of one (workspace, provider), after the same checks as
/// [`authenticated_fetch`](NexusClient::authenticated_fetch).
///
/// - A request inside the client's [`CredentialScope`](crate::CredentialScope)
///   carries the credential (all six strategies; the signers sign the
///   request as it is sent). One outside it is refused: nothing is sent, and
///   the error is a [`ureq::Error::Io`] whose inner error is the
///   [`NexusError`] (code `origin_not_allowed`, …).
/// - **Redirects are not followed** for these requests, whatever the
///   agent's `max_redirects`: ureq would carry a header credential (an
///   `X-API-Key`, a signature) to the redirect's origin. The 3xx comes back
///   as the answer; follow it with a new request if its origin is in scope.
/// - On a **401** the token is dropped from the cache and the request sent
///   once more with a fresh one. That second try is sent by the Nexus
///   client's own transport (its timeout, TLS and proxies), not the agent's.
/// - The body is read into memory first (a signature covers it, and a 401
///   sends it again).
/// - **One budget.** The resolve, both tries and the re-resolve between them
///   share the client's `timeout`: the agent's try gets what is left as a
///   per-call timeout, beside the agent's own timeouts (never instead of them).
/// - **Proxies.** An agent built with ureq's defaults takes one proxy from
///   the environment (`ALL_PROXY`, `HTTPS_PROXY` or `HTTP_PROXY`) for every
///   scheme, loopback included. Whenever the environment names a proxy,
///   both tries follow the crate's rule instead: the proxy of the request's
///   own scheme (`HTTPS_PROXY` for https, `HTTP_PROXY` for http, else
///   `ALL_PROXY`), none for a host in `NO_PROXY`, none for loopback. With
///   no proxy in the environment, a proxy you set on the agent is yours:
///   the first try uses it (the second, after a 401, goes direct).
///
/// ```
/// # use std::sync::Arc;
/// # use nexus_gateway_fake::{FakeGateway, FakeProvider, FakeUpstream};
/// # use nexus_sdk::{NexusClient, NexusClientOptions, TokenCache};
/// # let (gateway, api) = (FakeGateway::start(), FakeUpstream::start());
/// # gateway.add_provider("ws-1", "github", FakeProvider::oauth2("gho_x").api_base_url(&api.url()));
/// # let client = NexusClient::new(NexusClientOptions::new(gateway.url()))?;
/// # let url = format!("{}/user", api.url());
/// let cache = Arc::new(TokenCache::new());
/// let agent: ureq::Agent = ureq::Agent::config_builder()
///     .middleware(client.middleware(cache, "ws-1", "github"))
///     .build()
///     .into();
/// // Hand `agent` to any library that takes one.
/// let answer = agent.get(&url).call().expect("in scope");
/// assert_eq!(answer.status(), 200);
/// # Ok::<(), nexus_sdk::NexusError>(())
/// ```
#[derive(Clone, Debug)]
pub struct NexusMiddleware(Fetcher);

impl NexusClient {
    /// A [`NexusMiddleware`] for (`workspace_id`, `provider`), sharing `cache`.
    pub fn middleware(
        &self,
        cache: Arc<TokenCache>,
        workspace_id: &str,
        provider: &str,
    ) -> NexusMiddleware {
        NexusMiddleware(self.fetcher(cache, workspace_id, provider))
    }
}

impl Middleware for NexusMiddleware {
    fn handle(
        &self,
        request: Request<SendBody>,
        next: MiddlewareNext,
    ) -> Result<Response<Body>, ureq::Error> {
        let (parts, body) = request.into_parts();
        let mut bytes = Vec::new();
        body.into_reader().read_to_end(&mut bytes)?;
        let extensions = parts.extensions.clone();
        let outgoing = from_request(Request::from_parts(parts, bytes)).map_err(refused)?;
        let client = &self.0.client;
        let budget = client.engine().request_budget(None, client.cancel());
        let token = self.token(&outgoing, &budget)?;
        let mut first = with_body(credentialed(&outgoing, &token)?, &outgoing);
        *first.extensions_mut() = extensions;
        // ureq would keep an X-API-Key or a signature across origins.
        let Some(mut config) = first.middleware_config().map(|c| c.max_redirects(0)) else {
            return Err(refused(not_in_an_agent()));
        };
        // Within the call's budget, beside (never instead of) the agent's own timeouts.
        config = config.timeout_per_call(budget.left());
        // A default agent took its proxy from the environment, for every
        // scheme and loopback too: both tries go the crate's way instead.
        if ureq::Proxy::try_from_env().is_some() {
            config = config.proxy(client.engine().proxy_for(&outgoing.uri));
        }
        let first = config.build();
        match next.handle(first) {
            Ok(answer) if answer.status() == 401 => self.again(&outgoing, &token, &budget, false),
            Err(ureq::Error::StatusCode(401)) => self.again(&outgoing, &token, &budget, true),
            other => other,
        }
    }
}

impl NexusMiddleware {
    fn token(&self, outgoing: &Outgoing, budget: &Budget) -> Result<CachedToken, ureq::Error> {
        let Fetcher { client, cache, .. } = &self.0;
        let (ws, provider) = (&self.0.workspace_id, &self.0.provider);
        let engine = client.engine();
        engine
            .credential(cache, ws, provider, outgoing.parts(), budget)
            .map_err(refused)
    }

    /// The one retry after a 401: the refused token dropped, a fresh one
    /// sent by the client's transport. `statuses_are_errors` repeats how
    /// the agent answered the 401.
    fn again(
        &self,
        outgoing: &Outgoing,
        refused_token: &CachedToken,
        budget: &Budget,
        statuses_are_errors: bool,
    ) -> Result<Response<Body>, ureq::Error> {
        refused_token.reject();
        let fresh = self.token(outgoing, budget)?;
        let engine = self.0.client.engine();
        let answer = engine.send_once(outgoing, &fresh, &self.0.provider, budget);
        let answer = answer.map_err(refused)?;
        let status = answer.status().as_u16();
        if statuses_are_errors && status >= 400 {
            return Err(ureq::Error::StatusCode(status));
        }
        Ok(answer)
    }
}

/// The request with the credential applied.
fn credentialed(outgoing: &Outgoing, token: &CachedToken) -> Result<Request<()>, ureq::Error> {
    credentialed_request(
        &outgoing.method,
        &outgoing.uri,
        outgoing.headers.clone(),
        outgoing.body(),
        Some(token),
    )
    .map_err(refused)
}

/// `request` with the outgoing body, framed by its length.
fn with_body(mut request: Request<()>, outgoing: &Outgoing) -> Request<SendBody<'static>> {
    let body = outgoing.body().map(<[u8]>::to_vec).unwrap_or_default();
    if body.is_empty() {
        return request.map(|()| SendBody::none());
    }
    request
        .headers_mut()
        .insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
    request.map(|()| SendBody::from_owned_reader(io::Cursor::new(body)))
}

/// A [`NexusError`] as the `ureq` error of a request that was not sent.
fn refused(error: NexusError) -> ureq::Error {
    let kind = match error.code.as_str() {
        code::ORIGIN_NOT_ALLOWED | code::PROVIDER_NOT_LISTED => io::ErrorKind::PermissionDenied,
        code::INVALID_INPUT => io::ErrorKind::InvalidInput,
        code::TIMEOUT => io::ErrorKind::TimedOut,
        _ => io::ErrorKind::Other,
    };
    ureq::Error::Io(io::Error::new(kind, error))
}

fn not_in_an_agent() -> NexusError {
    NexusError::invalid_input("NexusMiddleware runs only inside a ureq agent's middleware chain")
}
