//! [`Fetcher`]: a client, a cache and a (workspace, provider) bound
//! together, for code that fetches for one provider again and again.

use std::sync::Arc;

use crate::cache::TokenCache;
use crate::client::NexusClient;
use crate::error::NexusError;
use crate::fetch::{FetchOptions, FetchResponse};

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
    pub(crate) client: NexusClient,
    pub(crate) cache: Arc<TokenCache>,
    pub(crate) workspace_id: String,
    pub(crate) provider: String,
}

impl NexusClient {
    /// A [`Fetcher`] bound to one workspace and provider, sharing `cache`.
    pub fn fetcher(&self, cache: Arc<TokenCache>, workspace_id: &str, provider: &str) -> Fetcher {
        Fetcher {
            client: self.clone(),
            cache,
            workspace_id: workspace_id.to_owned(),
            provider: provider.to_owned(),
        }
    }
}

impl Fetcher {
    /// [`NexusClient::authenticated_fetch`] for the bound workspace and provider.
    ///
    /// # Errors
    ///
    /// As [`NexusClient::authenticated_fetch`].
    pub fn fetch(&self, url: &str, options: FetchOptions) -> Result<FetchResponse, NexusError> {
        self.client.authenticated_fetch(
            &self.cache,
            &self.workspace_id,
            &self.provider,
            url,
            options,
        )
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
