//! [`NexusClientOptions`]: how a client reaches the Gateway, built with
//! chained setters as Python's keyword arguments.

use std::fmt;
use std::time::Duration;

use ureq::{config::ConfigBuilder, http::HeaderMap, typestate::AgentScope};

use crate::error::NexusError;
use crate::redact::{REDACTED, url_for_debug};
use crate::retry::RetryPolicy;
use crate::scope::{CredentialScope, scope_from_env};
use crate::setting::{self, parse_duration};
use crate::setting::{NEXUS_ALLOWED_ORIGINS, NEXUS_API_KEY, NEXUS_CREDENTIAL_SCOPE};
use crate::setting::{NEXUS_GATEWAY_URL, NEXUS_RETRIES, NEXUS_RETRY_ON_429, NEXUS_TIMEOUT};

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
    /// Headers of the program's own for each Gateway request, asked on the
    /// thread that sends it, before each attempt and each same-host redirect:
    /// a trace context (`traceparent`) read from that thread's current span,
    /// say. Never sent to an API. Those the library sets (`Accept`,
    /// `X-API-Key`, `Content-Type`) replace any of the same name. None by
    /// default.
    pub gateway_headers: Option<fn() -> HeaderMap>,
    /// Builds the client's one HTTP agent (Gateway and APIs alike) from the
    /// configuration the library chose, still open (timeouts, TLS trust, no
    /// redirects or status errors of ureq's own: keep them): a program that
    /// must see each request adds its middleware (every hop of a redirect
    /// passes it), one that must see where each connection goes builds
    /// the agent with its own resolver or connector (ureq's
    /// `Agent::with_parts`). This puts ureq 3's types in the API: a program
    /// that sets it builds with the ureq this crate names. None by default:
    /// the configuration built as it is.
    pub agent: Option<fn(ConfigBuilder<AgentScope>) -> ureq::Agent>,
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
            gateway_headers: None,
            agent: None,
        }
    }

    /// Options from the environment: `NEXUS_GATEWAY_URL` (required),
    /// `NEXUS_API_KEY` (optional), and the credential scope from
    /// `NEXUS_CREDENTIAL_SCOPE` (`provider_api`, the default, or `anywhere`)
    /// and `NEXUS_ALLOWED_ORIGINS` (`github=https://uploads.github.com,…`,
    /// each pair added with [`CredentialScope::allow`]), and the
    /// [`timeout`](Self::timeout) from `NEXUS_TIMEOUT` (a duration as
    /// [`setting::parse_duration`] reads it: `30`, `30s`, `2.5s`, `500ms`;
    /// unset or blank keeps 35 s), and the retry policy's
    /// [`retries`](RetryPolicy::retries) from `NEXUS_RETRIES` and
    /// [`retry_on_429`](RetryPolicy::retry_on_429) from `NEXUS_RETRY_ON_429`
    /// (`true` or `false`), so that a build or CI can turn them on. Each is
    /// read by [`setting::var`]; their names are the constants of [`setting`].
    ///
    /// ```no_run
    /// let client = nexus_sdk::NexusClient::new(nexus_sdk::NexusClientOptions::from_env()?)?;
    /// # Ok::<(), nexus_sdk::NexusError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `invalid_input`, naming the variable (its
    /// [`setting`](NexusError::setting)), when `NEXUS_GATEWAY_URL` is unset
    /// or blank, a variable is not valid UTF-8, or a value does not parse (an
    /// `NEXUS_ALLOWED_ORIGINS` entry with no provider or no origin among
    /// them). The URL itself is checked by `NexusClient::new`.
    pub fn from_env() -> Result<Self, NexusError> {
        options_from_vars(setting::var)
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

    /// Headers of the program's own for each Gateway request, as
    /// [`gateway_headers`](Self#structfield.gateway_headers) says.
    ///
    /// ```
    /// use nexus_sdk::NexusClientOptions;
    /// use nexus_sdk::http::{HeaderMap, HeaderValue};
    ///
    /// fn trace_context() -> HeaderMap {
    ///     let mut headers = HeaderMap::new();
    ///     let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    ///     headers.insert("traceparent", HeaderValue::from_static(parent));
    ///     headers
    /// }
    /// let options = NexusClientOptions::new("https://gateway.example")
    ///     .gateway_headers(trace_context);
    /// assert!(options.gateway_headers.is_some());
    /// ```
    #[must_use]
    pub fn gateway_headers(mut self, headers: fn() -> HeaderMap) -> Self {
        self.gateway_headers = Some(headers);
        self
    }

    /// Sets [`agent`](Self::agent): `make` builds the client's HTTP agent
    /// from the configuration the library chose, still open.
    ///
    /// ```
    /// let options = nexus_sdk::NexusClientOptions::new("https://gateway.example")
    ///     .agent(|config| config.build().into());
    /// assert!(options.agent.is_some());
    /// ```
    #[must_use]
    pub fn agent(mut self, make: fn(ConfigBuilder<AgentScope>) -> ureq::Agent) -> Self {
        self.agent = Some(make);
        self
    }
}

/// [`NexusClientOptions::from_env`] over any variable lookup.
fn options_from_vars(
    var: impl Fn(&'static str) -> Result<Option<String>, NexusError>,
) -> Result<NexusClientOptions, NexusError> {
    let set = |name| Ok::<_, NexusError>(var(name)?.filter(|v| !v.trim().is_empty()));
    let refused = |name: &'static str, grammar: &str| {
        NexusError::invalid_input(format!("{name} is {grammar}")).blaming(name)
    };
    let unset = || refused(NEXUS_GATEWAY_URL, "not set");
    let url = set(NEXUS_GATEWAY_URL)?.ok_or_else(unset)?;
    let scope = scope_from_env(
        var(NEXUS_CREDENTIAL_SCOPE)?.as_deref(),
        var(NEXUS_ALLOWED_ORIGINS)?.as_deref(),
    )?;
    let mut options = NexusClientOptions::new(url.trim())
        .api_key(var(NEXUS_API_KEY)?.unwrap_or_default())
        .credential_scope(scope);
    if let Some(text) = set(NEXUS_TIMEOUT)? {
        let grammar = "a duration above 0 such as 30, 30s, 2.5s or 500ms";
        options.timeout = parse_duration(&text).ok_or_else(|| refused(NEXUS_TIMEOUT, grammar))?;
    }
    if let Some(text) = set(NEXUS_RETRIES)? {
        let grammar = |_| refused(NEXUS_RETRIES, "a whole number, such as 0 or 3");
        options.retry_policy.retries = text.trim().parse().map_err(grammar)?;
    }
    if let Some(text) = set(NEXUS_RETRY_ON_429)? {
        let grammar = |_| refused(NEXUS_RETRY_ON_429, "true or false");
        let text = text.trim().to_ascii_lowercase();
        options.retry_policy.retry_on_429 = text.parse().map_err(grammar)?;
    }
    Ok(options)
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
            .field("gateway_headers", &self.gateway_headers.is_some())
            .field("agent", &self.agent.is_some())
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
