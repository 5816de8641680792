//! Errors each reader can act on: the party to blame (the Gateway, a
//! provider's API, a hop a redirect led to) named with its origin, the
//! setting that fixes it, and the Gateway's own words where they say more.

#[path = "../common/mod.rs"]
mod common;

mod blame;
mod causes;
mod connections;
mod gateway;
mod naming;
mod newcomer;
mod rate_limit;
mod wire;
