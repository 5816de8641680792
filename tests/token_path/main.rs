//! The token path over loopback, as an MCP server walks it: resolve, cache
//! and single flight (`cache`), then `authenticated_fetch` with its 401
//! re-resolve and redirects, and `Fetcher` (`fetch`).

#[path = "../common/mod.rs"]
mod common;

mod cache;
mod fetch;

use nexus_gateway_fake::{FakeGateway, FakeProvider};
use nexus_sdk::{FetchOptions, FetchResponse, NexusClient, TokenCache};

use common::client;

pub(crate) fn gateway_with(provider: FakeProvider) -> FakeGateway {
    let gateway = FakeGateway::start();
    gateway.add_provider("ws-1", "github", provider);
    gateway
}

/// `authenticated_fetch` for ws-1/github through a new client and cache.
pub(crate) fn fetch(gateway: &FakeGateway, url: &str, options: FetchOptions) -> FetchResponse {
    client(gateway)
        .authenticated_fetch(&TokenCache::new(), "ws-1", "github", url, options)
        .unwrap()
}

/// `authenticated_fetch` for ws-1/github through `client` and `cache`.
pub(crate) fn fetch_in(client: &NexusClient, cache: &TokenCache, url: &str) -> FetchResponse {
    client
        .authenticated_fetch(cache, "ws-1", "github", url, FetchOptions::default())
        .unwrap()
}
