//! A fake Nexus Gateway for tests: test doubles that speak real HTTP on
//! loopback. [`FakeGateway`] is the Nexus Gateway as it was measured to
//! answer, [`FakeUpstream`] the provider API behind it, and [`TestClock`] a
//! clock a test moves forward for a [`TokenCache`](nexus_sdk::TokenCache).
//!
//! Take it as a dev-dependency of the crate you test:
//!
//! ```toml
//! [dev-dependencies]
//! nexus-gateway-fake = "0.7"
//! ```
//!
//! Both servers run in process on `127.0.0.1:<free port>`, a thread per
//! connection, and stop when dropped. Nothing here writes to stdout.
//!
//! ```
//! use nexus_gateway_fake::{FakeGateway, FakeProvider, FakeUpstream};
//! use nexus_sdk::{NexusClient, NexusClientOptions, TokenCache};
//!
//! let gateway = FakeGateway::start();
//! let upstream = FakeUpstream::start();
//! gateway.add_provider("ws-1", "github", FakeProvider::oauth2("gho_x").api_base_url(&upstream.url()));
//! let client = NexusClient::new(NexusClientOptions::new(gateway.url()))?;
//! let (status, _, _) = client.authenticated_fetch(
//!     &TokenCache::new(), "ws-1", "github", &format!("{}/user", upstream.url()), Default::default())?;
//! assert_eq!(status, 200);
//! assert_eq!(upstream.requests()[0].header("authorization"), Some("Bearer gho_x"));
//! # Ok::<(), nexus_sdk::NexusError>(())
//! ```
//!
//! The package is also a program: `cargo run -p nexus-gateway-fake` serves a
//! fake Gateway and a fake provider API until stopped, for servers written in
//! any language (see its README).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod broker;
mod clock;
mod control;
mod fault;
mod gateway;
mod hold;
#[cfg(feature = "issuer")]
mod issuer;
mod lifecycle;
mod limiter;
#[cfg(feature = "otlp")]
mod otlp;
mod provider;
mod reply;
mod request;
mod routes;
mod seed;
mod server;
mod state;
mod time;
mod upstream;

pub use broker::{Broker, BrokerAnswer};
pub use clock::TestClock;
pub use fault::Fault;
pub use gateway::FakeGateway;
pub use hold::Hold;
#[cfg(feature = "issuer")]
pub use issuer::{FakeIssuer, FakeToken};
pub use limiter::RateLimits;
pub use provider::{CONNECTION_STATUSES, FakeConnection, FakeProvider};
pub use reply::Route;
pub use request::{Framing, RecordedRequest};
pub use upstream::{FakeReply, FakeUpstream};
