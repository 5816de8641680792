//! A token's life in the cache: one resolve per key, renewal in the
//! refresh window that never costs a caller the token it holds, the
//! cache's memory, and one clock for every expiry.

#[path = "../common/mod.rs"]
mod common;

mod clock;
mod flight;
