//! The `signing` feature's one boundary, in a build without it: tokens of
//! the signing strategies are still read (and serde-restored), but neither
//! resolved nor applied. With the feature, `signing.rs` takes this place.

use std::time::SystemTime;

use ureq::http::{HeaderMap, Method, Uri};

use crate::error::NexusError;
use crate::token::CachedToken;

/// `unsupported_strategy`: this build cannot sign for `strategy`.
pub(crate) fn check_available(strategy: &str) -> Result<(), NexusError> {
    Err(NexusError::unsupported_strategy(format!(
        "the `{strategy}` strategy needs this crate's `signing` feature"
    )))
}

/// A signing token (from a cache filled elsewhere) cannot be applied: only
/// a token with a signer comes here.
pub(crate) fn sign_request(
    token: &CachedToken,
    _method: &Method,
    _uri: &Uri,
    _headers: &mut HeaderMap,
    _body: &[u8],
    _time: SystemTime,
) -> Result<(), NexusError> {
    check_available(token.strategy())
}
