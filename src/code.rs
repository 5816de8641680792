//! Every error code the SDK raises itself, one constant each, and the one
//! Gateway code it matches. The codes the Gateway and Broker send are listed,
//! with their statuses, in the errors guide (`docs/errors.md`).
//!
//! Compare [`NexusError::code`](crate::NexusError::code) with these rather
//! than with string literals, or use [`NexusError::kind`](crate::NexusError::kind):
//!
//! ```
//! use nexus_sdk::{NexusClient, NexusClientOptions, code};
//!
//! let client = NexusClient::new(NexusClientOptions::new("http://127.0.0.1:9"))?;
//! let err = client.check_connection(" ").unwrap_err();
//! assert_eq!(err.code, code::INVALID_INPUT);
//! # Ok::<(), nexus_sdk::NexusError>(())
//! ```
//!
//! A Gateway answer with no code of its own gets `http_<status>`
//! (`http_503`), which has no constant.

// Raised by the SDK itself.

/// Bad input from the caller, refused before any I/O: a blank id, a URL that
/// does not parse, is not http(s), has userinfo or a bad port, a header or
/// method HTTP cannot carry, an unusable timeout.
pub const INVALID_INPUT: &str = "invalid_input";
/// `authenticated_fetch` to an origin outside the client's
/// [`CredentialScope`](crate::CredentialScope); nothing was resolved or sent.
pub const ORIGIN_NOT_ALLOWED: &str = "origin_not_allowed";
/// Under [`CredentialScope::provider_api`](crate::CredentialScope::provider_api),
/// a provider the Gateway's metadata does not list (and no origin was
/// allowed for it); nothing was resolved or sent.
pub const PROVIDER_NOT_LISTED: &str = "provider_not_listed";
/// The request could not be carried: refused, DNS, TLS, reset, cut short,
/// or an upstream body over the size cap.
pub const REQUEST_FAILED: &str = "request_failed";
/// A request ran past the client's timeout, or `wait_for_active` ran out of time.
pub const TIMEOUT: &str = "timeout";
/// A retryable status (502, 503, 504, or 429 with `retry_on_429`) on the
/// last attempt; `status_code` is that status and `source()` the Gateway's error.
pub const MAX_RETRIES_EXCEEDED: &str = "max_retries_exceeded";
/// A 2xx Gateway answer the SDK cannot use (not JSON, a required key
/// missing); its message says when the server does not look like a Nexus
/// Gateway at all (an error answer that shows it keeps its `http_<status>`).
pub const INVALID_RESPONSE: &str = "invalid_response";
/// A resolve answer with no usable credential, or one HTTP cannot carry.
pub const INVALID_CREDENTIALS: &str = "invalid_credentials";
/// A strategy the SDK cannot apply (`path`, `saml`, an unknown name).
pub const UNSUPPORTED_STRATEGY: &str = "unsupported_strategy";
/// The Gateway handed out a credential that had already expired, on a
/// resolve and on the one more made for it: the connection's refresh is
/// failing, and its user must connect again
/// ([`NexusError::needs_connection`](crate::NexusError::needs_connection)
/// is true). Nothing was sent with it. The Broker's 409 for a token it could
/// not refresh carries the same code.
pub const TOKEN_EXPIRED: &str = "token_expired";

// Sent by the Gateway, and matched by the crate (`wait_for_active`). The
// other codes the Gateway and Broker send are a table in the errors guide
// (docs/errors.md): compare them as strings, or use `NexusError::kind`.

/// HTTP 400: The connection id is not a UUID (the Gateway checks the form).
pub const INVALID_CONNECTION_ID: &str = "invalid_connection_id";
