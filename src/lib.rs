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
//!
//! Everything is blocking, `Send + Sync` and cheap to clone; there are no
//! background threads and no async runtime. The crate never writes to stdout
//! or stderr: it logs through the [`log`](https://docs.rs/log) facade under
//! the target `nexus_sdk`, and never logs a token or a key.
//!
//! ```no_run
//! use nexus_sdk::{NexusClient, NexusClientOptions};
//!
//! let client = NexusClient::new(NexusClientOptions::from_env()?)?;
//! let status = client.check_connection("3f1b2c4d-…")?;
//! println!("connection is {status}");
//! # Ok::<(), nexus_sdk::NexusError>(())
//! ```
//!
//! Cargo features: `rustls` (default TLS), `native-tls`, `platform-verifier`
//! (the OS trust store), `gzip` (accept gzip upstream answers), `testing`
//! ([`testing::FakeGateway`], a real Gateway double for your own tests).
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

mod client;
mod date;
mod error;
mod retry;
#[cfg(feature = "testing")]
pub mod testing;
mod transport;
mod types;

pub use client::{NexusClient, NexusClientOptions};
pub use error::{ErrorKind, NexusError};
pub use retry::{MAX_RETRY_AFTER, RetryPolicy};
pub use types::{
    CachedToken, ConnectionStatus, RequestConnectionInput, RequestConnectionResponse,
    RevokeOptions, RevokeResult, TokenResponse,
};

/// The `log` target of every line the crate logs.
pub(crate) const LOG_TARGET: &str = "nexus_sdk";
