//! [`NexusClientOptions`]: how a client reaches the Gateway, built with
//! chained setters as Python's keyword arguments.

use std::fmt;
use std::time::Duration;

use crate::error::NexusError;
use crate::redact::{REDACTED, url_for_debug};
use crate::retry::RetryPolicy;
use crate::scope::{CredentialScope, scope_from_env};

/// The default of [`NexusClientOptions::timeout`]: 35 s, above the Gateway's
/// own 30 s wait for its Broker, so that the Gateway's `502
/// broker_unavailable` for a hung Broker arrives instead of a bare
/// client-side `timeout` (Python's default is 30 s).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(35);
/// The default of [`NexusClientOptions::max_upstream_body`]: 16 MiB.
pub const DEFAULT_MAX_UPSTREAM_BODY: usize = 16 << 20;

/// How a [`NexusClient`](crate::NexusClient) reaches the Gateway (Python
/// `NexusClientOptions`).
///
/// Python's keyword arguments become a chain of setters; the fields stay
/// public to read. `Debug` hides the api key and any userinfo in the URL.
///
/// ```
/// use std::time::Duration;
/// use nexus_sdk::{NexusClientOptions, RetryPolicy};
///
/// let options = NexusClientOptions::new("https://gateway.example")
///     .api_key("nx_live_key")
///     .timeout(Duration::from_secs(10))
///     .retry_policy(RetryPolicy::default().retries(2));
/// assert_eq!(options.timeout, Duration::from_secs(10));
/// assert!(!format!("{options:?}").contains("nx_live_key"));
/// ```
#[non_exhaustive]
#[derive(Clone)]
pub struct NexusClientOptions {
    /// The Gateway's base URL, `http://` or `https://`; a trailing `/` is ignored.
    pub gateway_url: String,
    /// Sent as `X-API-Key`; empty sends no such header.
    pub api_key: String,
    /// How failed Gateway calls are retried (no retries by default).
    pub retry_policy: RetryPolicy,
    /// The most any one request may take, Gateway or upstream, from connect
    /// to the last body byte. Default 35 s ([`DEFAULT_TIMEOUT`]). Zero, or one too large to add to
    /// an `Instant`, is refused by `NexusClient::new`.
    pub timeout: Duration,
    /// The largest upstream body `authenticated_fetch` reads, counted after
    /// decompression. Default 16 MiB.
    pub max_upstream_body: usize,
    /// Where `authenticated_fetch` may send each provider's credential.
    /// Default [`CredentialScope::provider_api`]: each provider's API origin
    /// only.
    pub credential_scope: CredentialScope,
}

impl NexusClientOptions {
    /// Options for `gateway_url`, every other field at its default.
    pub fn new(gateway_url: impl Into<String>) -> Self {
        NexusClientOptions {
            gateway_url: gateway_url.into(),
            api_key: String::new(),
            retry_policy: RetryPolicy::default(),
            timeout: DEFAULT_TIMEOUT,
            max_upstream_body: DEFAULT_MAX_UPSTREAM_BODY,
            credential_scope: CredentialScope::default(),
        }
    }

    /// Options from the environment: `NEXUS_GATEWAY_URL` (required),
    /// `NEXUS_API_KEY` (optional), and the credential scope from
    /// `NEXUS_CREDENTIAL_SCOPE` (`provider_api`, the default, or `anywhere`)
    /// and `NEXUS_ALLOWED_ORIGINS` (`github=https://uploads.github.com,…`,
    /// each pair added with [`CredentialScope::allow`]), and the
    /// [`timeout`](Self::timeout) from `NEXUS_TIMEOUT` (seconds, fractions
    /// allowed; unset or blank keeps 35 s), the setting a `timeout` error names.
    ///
    /// ```no_run
    /// let client = nexus_sdk::NexusClient::new(nexus_sdk::NexusClientOptions::from_env()?)?;
    /// # Ok::<(), nexus_sdk::NexusError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `invalid_input` when `NEXUS_GATEWAY_URL` is unset or blank, a
    /// variable is not valid UTF-8, or the scope variables do not parse. The
    /// URL and the origins themselves are checked by `NexusClient::new`;
    /// `NEXUS_TIMEOUT` that is not a number of seconds above zero.
    pub fn from_env() -> Result<Self, NexusError> {
        options_from_vars(|name| {
            let value = std::env::var_os(name).map(std::ffi::OsString::into_string);
            // Never the value: it may be the api key.
            let not_utf8 = format!("{name} is set but is not valid UTF-8");
            value
                .transpose()
                .map_err(|_| NexusError::invalid_input(not_utf8))
        })
    }

    /// [`from_env`](Self::from_env), reading each variable through `var`
    /// instead of the process environment: for a program whose flags
    /// override the variables (clap's `env`), a configuration file, or a
    /// test. `var` is asked for each variable `from_env` reads, by name.
    ///
    /// ```
    /// use nexus_sdk::NexusClientOptions;
    ///
    /// let flag = Some("https://gateway.example".to_owned()); // --gateway-url
    /// let options = NexusClientOptions::from_env_with(|name| match name {
    ///     "NEXUS_GATEWAY_URL" => flag.clone(),
    ///     "NEXUS_TIMEOUT" => Some("2.5".into()),
    ///     _ => std::env::var(name).ok(),
    /// })?;
    /// assert_eq!(options.gateway_url, "https://gateway.example");
    /// assert_eq!(options.timeout, std::time::Duration::from_millis(2500));
    /// # Ok::<(), nexus_sdk::NexusError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`from_env`](Self::from_env).
    pub fn from_env_with(var: impl Fn(&str) -> Option<String>) -> Result<Self, NexusError> {
        options_from_vars(|name| Ok(var(name)))
    }

    /// The key sent as `X-API-Key` (empty sends none).
    #[must_use]
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = key.into();
        self
    }

    /// The most any one request may take.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How failed Gateway calls are retried.
    #[must_use]
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry_policy = policy;
        self
    }

    /// The largest upstream body read, in bytes.
    #[must_use]
    pub fn max_upstream_body(mut self, bytes: usize) -> Self {
        self.max_upstream_body = bytes;
        self
    }

    /// Where each provider's credential may be sent.
    #[must_use]
    pub fn credential_scope(mut self, scope: CredentialScope) -> Self {
        self.credential_scope = scope;
        self
    }
}

/// [`NexusClientOptions::from_env`] over any variable lookup.
fn options_from_vars(
    var: impl Fn(&str) -> Result<Option<String>, NexusError>,
) -> Result<NexusClientOptions, NexusError> {
    let url = var("NEXUS_GATEWAY_URL")?.filter(|u| !u.trim().is_empty());
    let unset = || NexusError::invalid_input("NEXUS_GATEWAY_URL is not set");
    let url = url.ok_or_else(|| unset().blaming("NEXUS_GATEWAY_URL"))?;
    let scope = scope_from_env(
        var("NEXUS_CREDENTIAL_SCOPE")?.as_deref(),
        var("NEXUS_ALLOWED_ORIGINS")?.as_deref(),
    )?;
    let mut options = NexusClientOptions::new(url.trim())
        .api_key(var("NEXUS_API_KEY")?.unwrap_or_default())
        .credential_scope(scope);
    if let Some(text) = var("NEXUS_TIMEOUT")?.filter(|s| !s.trim().is_empty()) {
        let why = "NEXUS_TIMEOUT is a duration above 0 such as 30, 30s, 2.5s or 500ms";
        let why = || NexusError::invalid_input(why).blaming("NEXUS_TIMEOUT");
        options.timeout = parse_duration(&text).ok_or_else(why)?;
    }
    Ok(options)
}

/// The one reader of a duration setting (`NEXUS_TIMEOUT`, and the flags
/// of the programs that pass theirs through it): seconds, bare or with `s`
/// (`30`, `30s`, `2.5s`), or milliseconds with `ms` (`500ms`); `None` for
/// anything else, zero, or a length no `Duration` holds.
pub(crate) fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let (number, scale) = match text.strip_suffix("ms") {
        Some(number) => (number, 1e-3),
        None => (text.strip_suffix('s').unwrap_or(text), 1.0),
    };
    let number = number.trim_end();
    if !number.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let seconds = number.parse::<f64>().ok()? * scale;
    Duration::try_from_secs_f64(seconds)
        .ok()
        .filter(|d| !d.is_zero())
}

impl fmt::Debug for NexusClientOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // As `NexusClient`'s Debug prints it: `Some("<redacted>")` or `None`.
        let key = (!self.api_key.is_empty()).then_some(REDACTED);
        f.debug_struct("NexusClientOptions")
            .field("gateway_url", &url_for_debug(&self.gateway_url))
            .field("api_key", &key)
            .field("retry_policy", &self.retry_policy)
            .field("timeout", &self.timeout)
            .field("max_upstream_body", &self.max_upstream_body)
            .field("credential_scope", &self.credential_scope)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_from_variables() {
        let vars = |url: Option<&str>, key: Option<&str>| {
            let (url, key) = (url.map(str::to_owned), key.map(str::to_owned));
            options_from_vars(move |name| {
                Ok(match name {
                    "NEXUS_GATEWAY_URL" => url.clone(),
                    "NEXUS_API_KEY" => key.clone(),
                    _ => None,
                })
            })
        };
        let options = vars(Some(" https://gw.example/ "), Some("k")).unwrap();
        assert_eq!(options.gateway_url, "https://gw.example/");
        assert_eq!(options.api_key, "k");
        assert_eq!(options.timeout, Duration::from_secs(35));
        assert_eq!(vars(Some("https://gw.example"), None).unwrap().api_key, "");
        assert_eq!(vars(None, Some("k")).unwrap_err().code, "invalid_input");
        assert_eq!(vars(Some("  "), None).unwrap_err().code, "invalid_input");
    }

    #[test]
    fn the_scope_comes_from_the_environment() {
        let with = |scope: Option<&str>, allowed: Option<&str>| {
            let (scope, allowed) = (scope.map(str::to_owned), allowed.map(str::to_owned));
            options_from_vars(move |name| {
                Ok(match name {
                    "NEXUS_GATEWAY_URL" => Some("https://gw.example".into()),
                    "NEXUS_CREDENTIAL_SCOPE" => scope.clone(),
                    "NEXUS_ALLOWED_ORIGINS" => allowed.clone(),
                    _ => None,
                })
            })
        };
        let default = with(None, None).unwrap().credential_scope;
        assert_eq!(default, CredentialScope::provider_api());
        assert_eq!(with(Some(""), None).unwrap().credential_scope, default);
        assert_eq!(
            with(Some("anywhere"), None).unwrap().credential_scope,
            CredentialScope::anywhere()
        );
        let allowed = with(Some("provider_api"), Some(" github=https://u.example ,, "));
        assert_eq!(
            allowed.unwrap().credential_scope,
            CredentialScope::provider_api().allow("github", "https://u.example")
        );
        for (scope, allowed) in [(Some("everywhere"), None), (None, Some("github"))] {
            assert_eq!(with(scope, allowed).unwrap_err().code, "invalid_input");
        }
    }

    #[test]
    fn debug_hides_the_key_and_userinfo() {
        let options =
            NexusClientOptions::new("https://bob:hunter2@gw.example/x?q").api_key("nx_secret_key");
        let debug = format!("{options:?}");
        assert!(
            !debug.contains("nx_secret_key") && !debug.contains("hunter2"),
            "{debug}"
        );
        assert!(debug.contains("https://<redacted>@gw.example/x"), "{debug}");
        assert!(!debug.contains("?q"), "{debug}");
    }
}
