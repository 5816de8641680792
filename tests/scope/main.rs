//! Where a credential may go, and nowhere else: the credential scope and
//! its defaults, the origins `providers()` lists, redirects, and the parts
//! of a request other than its URL.

#[path = "../common/mod.rs"]
mod common;

mod defaults;
mod origins;
mod providers;
mod redirects;
mod request_parts;
