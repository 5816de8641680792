//! [`AsyncNexusClient`] (feature `tokio`): the client's async face. Each
//! call runs on tokio's blocking pool, so no runtime thread waits for the
//! network, whatever the runtime's flavour; dropping a call's future stops
//! its work at the next step it can stop at.

use std::sync::Arc;

use ureq::http::{Request, Response};

use crate::authorize::{Authorization, apply_to, target};
use crate::budget::Cancel;
use crate::cache::TokenCache;
use crate::client::NexusClient;
use crate::connection::{
    ConnectionStatus, RequestConnectionInput, RequestConnectionResponse, RevokeOptions,
    RevokeResult, TokenResponse,
};
use crate::error::NexusError;
use crate::fetch::{FetchOptions, FetchResponse, Parts};
use crate::fetcher::Fetcher;
use crate::token::CachedToken;
use crate::wait::WaitOptions;

/// The async face of [`NexusClient`]: the same methods, `async`, for tokio
/// servers (an `rmcp` MCP server, an axum app).
///
/// - **Never stalls the runtime.** Each call runs on tokio's blocking pool
///   (`spawn_blocking`), on a multi-thread or a current-thread runtime
///   alike. A cache hit is answered at once, without a thread hop.
/// - **Dropping the future stops the work** at its next step: before a
///   resolve or a Gateway retry, before each upstream request or redirect,
///   in the waits between retries and between `wait_for_active` polls. A
///   request already sent runs to its answer or the client's timeout; no
///   new one starts, so an abandoned call does not hold up shutdown.
/// - The cache is shared as `Arc<TokenCache>`: the work outlives the borrow.
///
/// Clones share one connection pool. Build it from a [`NexusClient`]:
///
/// ```
/// # use std::sync::Arc;
/// # use nexus_gateway_fake::{FakeGateway, FakeProvider, FakeUpstream};
/// use nexus_sdk::{AsyncNexusClient, FetchOptions, NexusClient, NexusClientOptions, TokenCache};
///
/// # let (gateway, api) = (FakeGateway::start(), FakeUpstream::start());
/// # gateway.add_provider("ws-1", "github", FakeProvider::oauth2("gho_x").api_base_url(&api.url()));
/// # let options = NexusClientOptions::new(gateway.url());
/// # let url = format!("{}/user", api.url());
/// let client = AsyncNexusClient::new(NexusClient::new(options)?);
/// let cache = Arc::new(TokenCache::new());
/// # let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// # runtime.block_on(async {
/// let (status, _headers, _body) = client
///     .authenticated_fetch(&cache, "ws-1", "github", &url, FetchOptions::default())
///     .await?;
/// assert_eq!(status, 200);
/// # Ok::<(), nexus_sdk::NexusError>(())
/// # })?;
/// # Ok::<(), nexus_sdk::NexusError>(())
/// ```
#[derive(Clone, Debug)]
pub struct AsyncNexusClient {
    client: NexusClient,
}

impl From<NexusClient> for AsyncNexusClient {
    fn from(client: NexusClient) -> Self {
        AsyncNexusClient::new(client)
    }
}

/// Cancels the call when the future holding it is dropped unfinished.
struct CancelOnDrop(Option<Cancel>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(cancel) = self.0.take() {
            cancel.cancel();
        }
    }
}

impl AsyncNexusClient {
    /// The async face of `client` (which it shares: same pool, same scope).
    pub fn new(client: NexusClient) -> Self {
        AsyncNexusClient { client }
    }

    /// The blocking client, for what is not I/O (`fetcher`, `middleware`)
    /// or for code already on a blocking thread.
    pub fn blocking(&self) -> &NexusClient {
        &self.client
    }

    /// Runs `call` on the blocking pool, cancelled if this future is dropped.
    async fn run<T: Send + 'static>(
        &self,
        call: impl FnOnce(&NexusClient) -> Result<T, NexusError> + Send + 'static,
    ) -> Result<T, NexusError> {
        // Polled by another executor (futures' block_on, pollster, smol):
        // there is no blocking pool to run the call on.
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            NexusError::invalid_input(
                "AsyncNexusClient needs a tokio runtime (it runs each call on tokio's blocking \
                 pool), but this future is polled outside one: run it inside a tokio runtime, \
                 or call the blocking NexusClient from a thread",
            )
        })?;
        let cancel = Cancel::armed();
        let mut guard = CancelOnDrop(Some(cancel.clone()));
        let client = self.client.with_cancel(cancel);
        let work = runtime.spawn_blocking(move || call(&client));
        let result = work.await;
        // Finished: nothing left to cancel.
        guard.0 = None;
        match result {
            Ok(result) => result,
            Err(join) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
            Err(_) => Err(NexusError::request_failed(
                "the runtime shut down before the call ran",
            )),
        }
    }

    /// [`NexusClient::request_connection`].
    ///
    /// # Errors
    ///
    /// As [`NexusClient::request_connection`].
    pub async fn request_connection(
        &self,
        input: &RequestConnectionInput,
    ) -> Result<RequestConnectionResponse, NexusError> {
        let input = input.clone();
        self.run(move |c| c.request_connection(&input)).await
    }

    /// [`NexusClient::check_connection`].
    ///
    /// # Errors
    ///
    /// As [`NexusClient::check_connection`].
    pub async fn check_connection(
        &self,
        connection_id: &str,
    ) -> Result<ConnectionStatus, NexusError> {
        let id = connection_id.to_owned();
        self.run(move |c| c.check_connection(&id)).await
    }

    /// [`NexusClient::wait_for_active`]; dropping the future ends the polls.
    ///
    /// # Errors
    ///
    /// As [`NexusClient::wait_for_active`].
    pub async fn wait_for_active(
        &self,
        connection_id: &str,
    ) -> Result<ConnectionStatus, NexusError> {
        self.wait_for_active_with_options(connection_id, &WaitOptions::default())
            .await
    }

    /// [`NexusClient::wait_for_active_with_options`].
    ///
    /// # Errors
    ///
    /// As [`NexusClient::wait_for_active_with_options`].
    pub async fn wait_for_active_with_options(
        &self,
        connection_id: &str,
        options: &WaitOptions,
    ) -> Result<ConnectionStatus, NexusError> {
        let (id, options) = (connection_id.to_owned(), options.clone());
        self.run(move |c| c.wait_for_active_with_options(&id, &options))
            .await
    }

    /// [`NexusClient::get_token_by_connection_id`].
    ///
    /// # Errors
    ///
    /// As [`NexusClient::get_token_by_connection_id`].
    pub async fn get_token_by_connection_id(
        &self,
        connection_id: &str,
    ) -> Result<TokenResponse, NexusError> {
        let id = connection_id.to_owned();
        self.run(move |c| c.get_token_by_connection_id(&id)).await
    }

    /// [`NexusClient::refresh_connection`].
    ///
    /// # Errors
    ///
    /// As [`NexusClient::refresh_connection`].
    pub async fn refresh_connection(
        &self,
        connection_id: &str,
    ) -> Result<TokenResponse, NexusError> {
        let id = connection_id.to_owned();
        self.run(move |c| c.refresh_connection(&id)).await
    }

    /// [`NexusClient::revoke_connection`].
    ///
    /// # Errors
    ///
    /// As [`NexusClient::revoke_connection`].
    pub async fn revoke_connection(
        &self,
        connection_id: &str,
        options: &RevokeOptions,
    ) -> Result<RevokeResult, NexusError> {
        let (id, options) = (connection_id.to_owned(), options.clone());
        self.run(move |c| c.revoke_connection(&id, &options)).await
    }

    /// [`NexusClient::health`].
    ///
    /// # Errors
    ///
    /// As [`NexusClient::health`].
    pub async fn health(&self) -> Result<(), NexusError> {
        self.run(NexusClient::health).await
    }

    /// [`NexusClient::resolve_token`].
    ///
    /// # Errors
    ///
    /// As [`NexusClient::resolve_token`].
    pub async fn resolve_token(
        &self,
        workspace_id: &str,
        provider: &str,
    ) -> Result<CachedToken, NexusError> {
        let (ws, p) = (workspace_id.to_owned(), provider.to_owned());
        self.run(move |c| c.resolve_token(&ws, &p)).await
    }

    /// [`NexusClient::get_cached_token`]: a fresh cached token at once, a
    /// miss or a renewal on the blocking pool.
    ///
    /// # Errors
    ///
    /// As [`NexusClient::get_cached_token`].
    pub async fn get_cached_token(
        &self,
        cache: &Arc<TokenCache>,
        workspace_id: &str,
        provider: &str,
    ) -> Result<CachedToken, NexusError> {
        if let Some(token) = self
            .client
            .engine()
            .fresh_hit(cache, workspace_id, provider)
        {
            return Ok(token);
        }
        let (cache, ws, p) = (
            Arc::clone(cache),
            workspace_id.to_owned(),
            provider.to_owned(),
        );
        self.run(move |c| c.get_cached_token(&cache, &ws, &p)).await
    }

    /// [`NexusClient::clear_token`] (no I/O: done at once).
    pub async fn clear_token(&self, cache: &Arc<TokenCache>, workspace_id: &str, provider: &str) {
        self.client.clear_token(cache, workspace_id, provider);
    }

    /// [`NexusClient::authenticated_fetch`].
    ///
    /// # Errors
    ///
    /// As [`NexusClient::authenticated_fetch`].
    pub async fn authenticated_fetch(
        &self,
        cache: &Arc<TokenCache>,
        workspace_id: &str,
        provider: &str,
        url: &str,
        options: FetchOptions,
    ) -> Result<FetchResponse, NexusError> {
        let (cache, ws, p) = (
            Arc::clone(cache),
            workspace_id.to_owned(),
            provider.to_owned(),
        );
        let url = url.to_owned();
        self.run(move |c| c.authenticated_fetch(&cache, &ws, &p, &url, options))
            .await
    }

    /// [`NexusClient::authorize`]: the token is found off the runtime, then
    /// applied to `request` here.
    ///
    /// # Errors
    ///
    /// As [`NexusClient::authorize`].
    pub async fn authorize<B: AsRef<[u8]>>(
        &self,
        cache: &Arc<TokenCache>,
        workspace_id: &str,
        provider: &str,
        request: &mut Request<B>,
    ) -> Result<Authorization, NexusError> {
        let (uri, origin) = target(request)?;
        let (method, headers) = (request.method().clone(), request.headers().clone());
        let (cache, ws, p) = (
            Arc::clone(cache),
            workspace_id.to_owned(),
            provider.to_owned(),
        );
        let checked = (uri.clone(), origin);
        let token = self
            .run(move |c| {
                let parts = Parts {
                    method: &method,
                    uri: &checked.0,
                    origin: &checked.1,
                    headers: &headers,
                };
                let budget = c.engine().request_budget(None, c.cancel());
                c.engine().credential(&cache, &ws, &p, parts, &budget)
            })
            .await?;
        apply_to(token, uri, request)
    }

    /// [`NexusClient::send`].
    ///
    /// # Errors
    ///
    /// As [`NexusClient::send`].
    pub async fn send(
        &self,
        cache: &Arc<TokenCache>,
        workspace_id: &str,
        provider: &str,
        request: Request<Vec<u8>>,
    ) -> Result<Response<Vec<u8>>, NexusError> {
        let (cache, ws, p) = (
            Arc::clone(cache),
            workspace_id.to_owned(),
            provider.to_owned(),
        );
        self.run(move |c| c.send(&cache, &ws, &p, request)).await
    }
}

/// The async face's bound path: an [`AsyncNexusClient`], a cache, a
/// workspace and a provider bound together once, as [`Fetcher`](crate::Fetcher)
/// is for the blocking client. Cheap to clone, `Send + Sync`.
#[derive(Debug, Clone)]
pub struct AsyncFetcher(Fetcher);

impl AsyncNexusClient {
    /// An [`AsyncFetcher`] bound to one workspace and provider, sharing `cache`.
    pub fn fetcher(
        &self,
        cache: Arc<TokenCache>,
        workspace_id: &str,
        provider: &str,
    ) -> AsyncFetcher {
        AsyncFetcher(self.client.fetcher(cache, workspace_id, provider))
    }
}

impl AsyncFetcher {
    /// [`AsyncNexusClient::authenticated_fetch`] for the bound workspace and provider.
    ///
    /// # Errors
    ///
    /// As [`NexusClient::authenticated_fetch`].
    pub async fn fetch(
        &self,
        url: &str,
        options: FetchOptions,
    ) -> Result<FetchResponse, NexusError> {
        let Fetcher { client, cache, .. } = &self.0;
        let (ws, provider) = (&self.0.workspace_id, &self.0.provider);
        let client = AsyncNexusClient::new(client.clone());
        client
            .authenticated_fetch(cache, ws, provider, url, options)
            .await
    }

    /// A `GET` of `url`.
    ///
    /// # Errors
    ///
    /// As [`NexusClient::authenticated_fetch`].
    pub async fn get(&self, url: &str) -> Result<FetchResponse, NexusError> {
        self.fetch(url, FetchOptions::default()).await
    }
}
