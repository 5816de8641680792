//! A blocking Rust client for the [Nexus](https://github.com/nexus-framework) Gateway.
//!
//! Nexus keeps OAuth client secrets and refresh tokens in its Broker and
//! hands out short-lived access tokens through its Gateway. This crate is
//! the Rust twin of the official Python SDK (`nexus_sdk`), name for name:
//!
//! - **Standard apps** connect a user to a provider:
//!   [`request_connection`](NexusClient::request_connection) →
//!   send the user to `auth_url` → [`wait_for_active`](NexusClient::wait_for_active) →
//!   [`get_token_by_connection_id`](NexusClient::get_token_by_connection_id).
//! - **MCP servers and tools** act for a workspace:
//!   [`get_cached_token`](NexusClient::get_cached_token) resolves a token once
//!   and serves it from a [`TokenCache`] until 30 s before it expires, and
//!   [`authenticated_fetch`](NexusClient::authenticated_fetch) sends a request
//!   with it, re-resolving once on a 401.
//!
//! Everything is blocking, `Send + Sync` and cheap to clone; there are no
//! background threads and no async runtime. The crate never writes to stdout
//! or stderr: it logs through the [`log`](https://docs.rs/log) facade under
//! the target `nexus_sdk`, and never logs a token or a key.
//!
//! ```no_run
//! use nexus_sdk::{FetchOptions, NexusClient, NexusClientOptions, TokenCache};
//!
//! let client = NexusClient::new(NexusClientOptions::from_env()?)?;
//! let cache = TokenCache::new();
//! let (status, _headers, body) = client.authenticated_fetch(
//!     &cache, "ws-1", "github", "https://api.github.com/user", FetchOptions::default())?;
//! println!("{status}: {}", String::from_utf8_lossy(&body));
//! # Ok::<(), nexus_sdk::NexusError>(())
//! ```
//!
//! Cargo features: `rustls` (default TLS), `native-tls`, `platform-verifier`
//! (the OS trust store), `gzip` (accept gzip upstream answers), `testing`
//! (`testing::FakeGateway`, a real Gateway double for your own tests).
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![warn(clippy::missing_errors_doc)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod cache;
mod client;
pub mod code;
mod date;
mod error;
mod fetch;
mod gateway;
mod options;
#[cfg(test)]
mod properties;
mod resolve;
mod retry;
mod scope;
#[cfg(feature = "testing")]
pub mod testing;
mod token;
mod transport;
mod types;
mod url;

pub use cache::TokenCache;
pub use client::{DEFAULT_POLL_INTERVAL, DEFAULT_WAIT_TIMEOUT, NexusClient};
pub use error::{ErrorKind, NexusError};
pub use fetch::{FetchOptions, FetchResponse, Fetcher, Headers, MAX_REDIRECTS};
pub use options::{DEFAULT_MAX_UPSTREAM_BODY, DEFAULT_TIMEOUT, NexusClientOptions};
pub use resolve::DEFAULT_TOKEN_TTL;
pub use retry::{MAX_RETRY_AFTER, RetryPolicy};
pub use scope::CredentialScope;
pub use token::CachedToken;
pub use types::{
    ConnectionStatus, RequestConnectionInput, RequestConnectionResponse, RevokeOptions,
    RevokeResult, TokenResponse,
};

/// The [`http`](https://docs.rs/http) crate (1.x) whose types the API uses:
/// [`Headers`] is its `HeaderMap`.
pub use ureq::http;

/// The `log` target of every line the crate logs.
pub(crate) const LOG_TARGET: &str = "nexus_sdk";

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// Every public options and input struct is `#[non_exhaustive]`: a struct
/// literal from outside the crate does not compile, so a field added later
/// breaks no one. Each block below must fail to compile.
///
/// ```compile_fail
/// let _ = nexus_sdk::NexusClientOptions { ..nexus_sdk::NexusClientOptions::new("http://x") };
/// ```
///
/// ```compile_fail
/// let _ = nexus_sdk::RetryPolicy { ..nexus_sdk::RetryPolicy::default() };
/// ```
///
/// ```compile_fail
/// let _ = nexus_sdk::RequestConnectionInput { ..nexus_sdk::RequestConnectionInput::new("u", "p") };
/// ```
///
/// ```compile_fail
/// let _ = nexus_sdk::RevokeOptions { ..nexus_sdk::RevokeOptions::default() };
/// ```
///
/// ```compile_fail
/// let _ = nexus_sdk::FetchOptions { ..nexus_sdk::FetchOptions::default() };
/// ```
///
/// ```compile_fail
/// let _ = nexus_sdk::NexusError { ..nexus_sdk::NexusError::new("c", "m") };
/// ```
///
/// The same expressions with the constructors compile:
///
/// ```
/// let _ = nexus_sdk::NexusClientOptions::new("http://x");
/// let _ = nexus_sdk::RetryPolicy::default();
/// let _ = nexus_sdk::RequestConnectionInput::new("u", "p");
/// let _ = nexus_sdk::RevokeOptions::default();
/// let _ = nexus_sdk::FetchOptions::default();
/// let _ = nexus_sdk::NexusError::new("c", "m");
/// ```
#[cfg(doctest)]
struct NonExhaustiveChecks;
