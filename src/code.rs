//! Every error code, one constant each: the codes the SDK raises itself, and
//! the codes the Gateway and Broker are documented to send.
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

// Sent by the Gateway and the Broker, with the status they come with.
//
// On `/v1/token`, `/v1/refresh` and `DELETE /v1/connections/{id}` the Broker's
// codes arrive only when the Gateway forwards the Broker's body (Nexus 0.4.0
// and later); an older Gateway sends the status alone, the code is then
// `http_<status>`, and `NexusError::kind` still follows the status.

/// HTTP 400: A required field is missing.
pub const MISSING_FIELDS: &str = "missing_fields";
/// HTTP 400: The request body is not JSON.
pub const INVALID_JSON: &str = "invalid_json";
/// HTTP 400: The OAuth state does not match.
pub const INVALID_STATE: &str = "invalid_state";
/// HTTP 400: The connection id is not a UUID (the Gateway checks the form).
pub const INVALID_CONNECTION_ID: &str = "invalid_connection_id";
/// HTTP 400: The connection is not active yet (when the Gateway forwards
/// the Broker's body, Nexus 0.4.0 and later).
pub const CONNECTION_NOT_ACTIVE: &str = "connection_not_active";
/// HTTP 401: The api key is missing or wrong.
pub const UNAUTHORIZED: &str = "unauthorized";
/// HTTP 404: No such provider.
pub const PROVIDER_NOT_FOUND: &str = "provider_not_found";
/// HTTP 404: No such connection.
pub const CONNECTION_NOT_FOUND: &str = "connection_not_found";
/// HTTP 404: The connection has no token.
pub const TOKEN_NOT_FOUND: &str = "token_not_found";
/// HTTP 409: Several connections match the workspace and provider.
pub const PROVIDER_AMBIGUOUS: &str = "provider_ambiguous";
/// HTTP 409: The user must consent again (on the token routes, when the
/// Gateway forwards the Broker's body).
pub const ATTENTION_REQUIRED: &str = "attention_required";
/// HTTP 410: The connection was revoked (on the token routes, when the
/// Gateway forwards the Broker's body, Nexus 0.4.0 and later).
pub const CONNECTION_REVOKED: &str = "connection_revoked";
/// HTTP 500: The Broker could not decrypt the stored credential.
pub const DECRYPT_FAILED: &str = "decrypt_failed";
/// HTTP 500: The stored token is malformed.
pub const INVALID_TOKEN_FORMAT: &str = "invalid_token_format";
/// HTTP 500: Revocation failed.
pub const REVOKE_FAILED: &str = "revoke_failed";
/// HTTP 502: The Broker failed. When the body's `status` is a 4xx (the
/// Broker refused the request) it is not retried.
pub const BROKER_ERROR: &str = "broker_error";
/// HTTP 502: The Broker cannot be reached, or did not answer within the
/// Gateway's 30 s.
pub const BROKER_UNAVAILABLE: &str = "broker_unavailable";
/// HTTP 502: The Broker answered something the Gateway cannot use.
pub const BROKER_INVALID_RESPONSE: &str = "broker_invalid_response";
/// HTTP 502: The provider failed.
pub const UPSTREAM_ERROR: &str = "upstream_error";
/// HTTP 502: The Broker answered an unexpected status.
pub const BROKER_UNEXPECTED_STATUS: &str = "broker_unexpected_status";
