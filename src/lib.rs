// The crate documentation is the README, so rustdoc and GitHub say the same
// thing and every README example is compiled as a doctest (the fakes they
// use are the dev-dependency `nexus-gateway-fake`). Its links are reference
// links: doc_links.md, first, gives rustdoc the items and guides they name,
// and the README's own definitions, after it, give GitHub the files.
#![doc = include_str!("doc_links.md")]
#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![warn(clippy::missing_errors_doc)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod authorize;
mod budget;
mod cache;
mod client;
pub mod code;
mod connection;
mod date;
#[cfg(feature = "echo")]
mod echo;
#[cfg(not(feature = "echo"))]
#[path = "echo_off.rs"]
mod echo;
mod engine;
mod error;
mod fetch;
mod flight;
mod gateway;
pub mod guide;
mod options;
mod redact;
mod redirect;
mod resolve;
mod retry;
mod scope;
pub mod setting;
#[cfg(feature = "signing")]
mod signing;
#[cfg(not(feature = "signing"))]
#[path = "signing_off.rs"]
mod signing;
mod token;
mod transport;
mod url;
mod wait;

pub use authorize::Authorization;
pub use cache::{DEFAULT_BUFFER, TokenCache};
pub use client::{Fetcher, NexusClient};
pub use connection::{
    ConnectionStatus, RequestConnectionInput, RequestConnectionResponse, RevokeOptions,
    RevokeResult, TokenResponse,
};
pub use error::{ErrorKind, NexusError};
pub use fetch::{FetchOptions, FetchResponse, Headers, X_NEXUS_REDIRECTED_TO, X_NEXUS_WITHHELD};
pub use options::{DEFAULT_MAX_UPSTREAM_BODY, DEFAULT_TIMEOUT, NexusClientOptions};
pub use redact::{one_line, one_line_within};
pub use redirect::MAX_REDIRECTS;
pub use resolve::DEFAULT_TOKEN_TTL;
pub use retry::{MAX_RETRY_AFTER, RetryPolicy};
pub use scope::{CredentialScope, Provider};
pub use token::CachedToken;
pub use wait::{DEFAULT_POLL_INTERVAL, DEFAULT_WAIT_TIMEOUT, WaitOptions};

/// The [`http`](https://docs.rs/http) crate (1.x) whose types the API uses:
/// [`Headers`] is its `HeaderMap`.
pub use ureq::http;

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

// Property tests of every parser (test-only).
#[cfg(test)]
mod properties;
