//! A token's life in the cache: one resolve per key, renewal in the
//! refresh window that never costs a caller the token it holds (`flight`,
//! `rotation`), the purge and the cache's memory, and one clock for every
//! expiry (`clock`).

#[path = "../common/mod.rs"]
mod common;

mod clock;
mod flight;
mod rotation;
