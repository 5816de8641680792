//! Test doubles that speak real HTTP on loopback: [`FakeGateway`] for the
//! Nexus Gateway and [`FakeUpstream`] for the provider API behind it; and
//! [`TestClock`], a clock a test moves forward for a [`TokenCache`](crate::TokenCache).
//!
//! The `testing` feature is on by default (it adds no dependency, and a
//! binary that does not use these types carries none of their code);
//! with `default-features = false`, enable it for your tests:
//!
//! ```toml
//! [dev-dependencies]
//! nexus-gateway-sdk = { version = "0.3", features = ["testing"] }
//! ```
//!
//! Both servers run in process on `127.0.0.1:<free port>`, a thread per
//! connection, and stop when dropped. Nothing here writes to stdout.

mod broker;
mod clock;
mod fault;
mod gateway;
mod lifecycle;
mod provider;
mod request;
mod routes;
mod server;
mod upstream;

pub use broker::Broker;
pub use clock::TestClock;
pub use fault::Fault;
pub use gateway::FakeGateway;
pub use provider::{FakeConnection, FakeProvider};
pub use request::{Framing, RecordedRequest};
pub use routes::Route;
pub use upstream::{FakeReply, FakeUpstream};
