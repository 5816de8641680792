// The README is the crate's page; its reference link to the core is to
// the core's rustdoc here (the first definition wins), to its README on GitHub.
#![doc = "[nexus_sdk]: nexus_sdk"]
#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![warn(clippy::missing_errors_doc)]

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::Arc;

use nexus_sdk::{
    CachedToken, FetchOptions, FetchResponse, NexusClient, NexusError, TokenCache, code,
};

mod pool;

/// The async face of a [`NexusClient`], which it shares (same connection
/// pool, same scope). Cheap to clone, `Send + Sync`.
///
/// ```
/// # use nexus_gateway_fake::{FakeGateway, FakeProvider, FakeUpstream};
/// use std::sync::Arc;
/// use nexus_sdk::{FetchOptions, NexusClient, NexusClientOptions, TokenCache};
/// use nexus_sdk_tokio::AsyncNexusClient;
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
/// let health = client.run(|c| c.health()).await;
/// # assert!(health.is_ok());
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

impl AsyncNexusClient {
    /// The async face of `client`.
    pub fn new(client: NexusClient) -> Self {
        AsyncNexusClient { client }
    }

    /// Runs any call of the blocking client on a thread of its own (kept
    /// for the next call once this one ends: see below), and waits for it
    /// without blocking the runtime. A panic in `call` is raised again here.
    ///
    /// A call takes an idle thread of this crate's, or starts one when none
    /// is idle: it never waits for another call, nor for the runtime's
    /// blocking pool. A call that never ends holds only its own thread, and
    /// every call of the client ends within its timeout. A thread idle for
    /// 10 s ends.
    ///
    /// ```no_run
    /// # async fn example(client: nexus_sdk_tokio::AsyncNexusClient) -> Result<(), nexus_sdk::NexusError> {
    /// use nexus_sdk::RevokeOptions;
    ///
    /// let id = "3f1b…".to_owned();
    /// let revoked = client
    ///     .run(move |c| c.revoke_connection(&id, &RevokeOptions::default()))
    ///     .await?;
    /// # let _ = revoked;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// What `call` returns; `invalid_input` when this future is polled
    /// outside a tokio runtime; `request_failed` when the system cannot
    /// start a thread.
    pub async fn run<T: Send + 'static>(
        &self,
        call: impl FnOnce(&NexusClient) -> Result<T, NexusError> + Send + 'static,
    ) -> Result<T, NexusError> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(NexusError::new(
                code::INVALID_INPUT,
                "AsyncNexusClient needs a tokio runtime, but this future is polled outside one: \
                 run it inside a tokio runtime, or call the blocking NexusClient from a thread",
            ));
        }
        let (answer, answered) = tokio::sync::oneshot::channel();
        let client = self.client.clone();
        pool::run(Box::new(move || {
            let answered = catch_unwind(AssertUnwindSafe(|| call(&client)));
            // Nobody listens to a dropped future's answer.
            Box::new(move || drop(answer.send(answered)))
        }))
        .map_err(|e| {
            NexusError::new(
                code::REQUEST_FAILED,
                format!("could not start a thread for the call: {e}"),
            )
        })?;
        match answered.await {
            Ok(Ok(result)) => result,
            Ok(Err(panic)) => resume_unwind(panic),
            // The thread ended without answering: only a failed send does.
            Err(_) => Err(NexusError::new(
                code::REQUEST_FAILED,
                "the call's thread ended without an answer",
            )),
        }
    }

    /// [`NexusClient::get_cached_token`]: a fresh cached token at once, on
    /// the runtime; a miss or a renewal on a thread of its own.
    ///
    /// # Errors
    ///
    /// As [`NexusClient::get_cached_token`] and [`run`](Self::run).
    pub async fn get_cached_token(
        &self,
        cache: &Arc<TokenCache>,
        workspace_id: &str,
        provider: &str,
    ) -> Result<CachedToken, NexusError> {
        if let Some(token) = self
            .client
            .fresh_cached_token(cache, workspace_id, provider)
        {
            return Ok(token);
        }
        let (cache, ws, p) = owned(cache, workspace_id, provider);
        self.run(move |c| c.get_cached_token(&cache, &ws, &p)).await
    }

    /// [`NexusClient::authenticated_fetch`], on a thread of its own.
    ///
    /// # Errors
    ///
    /// As [`NexusClient::authenticated_fetch`] and [`run`](Self::run).
    pub async fn authenticated_fetch(
        &self,
        cache: &Arc<TokenCache>,
        workspace_id: &str,
        provider: &str,
        url: &str,
        options: FetchOptions,
    ) -> Result<FetchResponse, NexusError> {
        let (cache, ws, p) = owned(cache, workspace_id, provider);
        let url = url.to_owned();
        self.run(move |c| c.authenticated_fetch(&cache, &ws, &p, &url, options))
            .await
    }

    /// An [`AsyncFetcher`] bound to one workspace and provider, sharing
    /// `cache`: the async [`nexus_sdk::Fetcher`].
    pub fn fetcher(
        &self,
        cache: Arc<TokenCache>,
        workspace_id: &str,
        provider: &str,
    ) -> AsyncFetcher {
        AsyncFetcher {
            client: self.clone(),
            cache,
            workspace_id: workspace_id.to_owned(),
            provider: provider.to_owned(),
        }
    }
}

/// What a call's thread takes with it.
fn owned(
    cache: &Arc<TokenCache>,
    workspace_id: &str,
    provider: &str,
) -> (Arc<TokenCache>, String, String) {
    (
        Arc::clone(cache),
        workspace_id.to_owned(),
        provider.to_owned(),
    )
}

/// A client, a cache and a (workspace, provider) bound together, async.
/// Cheap to clone, `Send + Sync`.
///
/// ```no_run
/// # async fn example(client: nexus_sdk_tokio::AsyncNexusClient) -> Result<(), nexus_sdk::NexusError> {
/// use std::sync::Arc;
/// use nexus_sdk::TokenCache;
///
/// let github = client.fetcher(Arc::new(TokenCache::new()), "ws-1", "github");
/// let (status, _headers, body) = github.get("https://api.github.com/user").await?;
/// # let _ = (status, body);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct AsyncFetcher {
    client: AsyncNexusClient,
    cache: Arc<TokenCache>,
    workspace_id: String,
    provider: String,
}

impl AsyncFetcher {
    /// [`AsyncNexusClient::authenticated_fetch`] for the bound workspace and provider.
    ///
    /// # Errors
    ///
    /// As [`NexusClient::authenticated_fetch`] and [`AsyncNexusClient::run`].
    pub async fn fetch(
        &self,
        url: &str,
        options: FetchOptions,
    ) -> Result<FetchResponse, NexusError> {
        let (cache, ws, p) = (&self.cache, &self.workspace_id, &self.provider);
        self.client
            .authenticated_fetch(cache, ws, p, url, options)
            .await
    }

    /// A `GET` of `url`.
    ///
    /// # Errors
    ///
    /// As [`fetch`](Self::fetch).
    pub async fn get(&self, url: &str) -> Result<FetchResponse, NexusError> {
        self.fetch(url, FetchOptions::default()).await
    }
}
