//! [`CredentialScope`]: where `authenticated_fetch` may send each provider's
//! credential, and the client-side state that enforces it (the provider
//! metadata, read once per client with single flight).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use serde_json::Value;

use crate::error::NexusError;
use crate::url::{Origin, escape};

/// How long the Gateway's provider metadata is kept.
const METADATA_TTL: Duration = Duration::from_secs(300);

/// Where `authenticated_fetch` may send each provider's credential.
///
/// In an MCP server the URL comes from a model, and a prompt injection can
/// make it `https://attacker.example/?x=`. A scope refuses such a URL with
/// [`code::ORIGIN_NOT_ALLOWED`](crate::code::ORIGIN_NOT_ALLOWED) before any
/// token is resolved and before any connection is opened.
///
/// - [`anywhere`](Self::anywhere) (the default): any URL, as the Python SDK does.
/// - [`provider_api`](Self::provider_api): each provider's credential only to
///   the origin of its `api_base_url`, which the client reads from the
///   Gateway (`GET /v1/providers/metadata`) once, keeps 5 minutes, and reads
///   again when a provider is missing from it.
/// - [`allow`](Self::allow) adds an origin for a provider, to either of the
///   above; on `anywhere()` it makes the scope exactly the origins allowed.
///
/// Origins compare scheme, host (ASCII-lowercased, trailing dot removed)
/// and port (default ports made explicit).
///
/// ```
/// use nexus_sdk::{CredentialScope, NexusClientOptions};
///
/// let scope = CredentialScope::provider_api()
///     .allow("github", "https://uploads.github.com");
/// let options = NexusClientOptions::new("https://gateway.example").credential_scope(scope);
/// # let _ = options;
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CredentialScope {
    provider_api: bool,
    /// (provider, origin) pairs as written; checked by `NexusClient::new`.
    allowed: Vec<(String, String)>,
}

impl CredentialScope {
    /// Credentials may go to any URL (the default; Python's behaviour).
    pub fn anywhere() -> Self {
        CredentialScope::default()
    }

    /// Each provider's credential goes only to the origin of the
    /// `api_base_url` the Gateway reports for it (plus origins [`allow`](Self::allow)ed).
    pub fn provider_api() -> Self {
        CredentialScope {
            provider_api: true,
            allowed: Vec::new(),
        }
    }

    /// Also allows `origin` (`https://host[:port]`) for `provider`. An origin
    /// that does not parse makes `NexusClient::new` fail with `invalid_input`.
    #[must_use]
    pub fn allow(mut self, provider: &str, origin: &str) -> Self {
        self.allowed.push((provider.to_owned(), origin.to_owned()));
        self
    }

    /// Whether every origin is allowed.
    fn is_anywhere(&self) -> bool {
        !self.provider_api && self.allowed.is_empty()
    }
}

/// A client's scope, checked and ready: the allowed origins parsed, and the
/// provider metadata when the scope needs it.
#[derive(Debug)]
pub(crate) struct ScopeGuard {
    anywhere: bool,
    provider_api: bool,
    allowed: HashMap<String, Vec<Origin>>,
    metadata: RwLock<Option<Metadata>>,
    /// Held while the metadata is fetched: the single flight.
    fetching: Mutex<u64>,
}

/// Each provider's API origin as the Gateway reported it, and when.
#[derive(Debug)]
struct Metadata {
    origins: HashMap<String, Option<Origin>>,
    fetched: Instant,
    /// Bumped on every fetch, so a waiter knows one happened while it waited.
    generation: u64,
}

impl ScopeGuard {
    /// The guard for `scope`, or `invalid_input` for an origin that does not parse.
    pub(crate) fn new(scope: &CredentialScope) -> Result<ScopeGuard, NexusError> {
        let mut allowed: HashMap<String, Vec<Origin>> = HashMap::new();
        for (provider, origin) in &scope.allowed {
            let parsed = Origin::parse(origin).map_err(|e| {
                NexusError::invalid_input(format!(
                    "credential scope for `{}`: {}",
                    escape(provider),
                    e.message
                ))
            })?;
            allowed.entry(provider.clone()).or_default().push(parsed);
        }
        Ok(ScopeGuard {
            anywhere: scope.is_anywhere(),
            provider_api: scope.provider_api,
            allowed,
            metadata: RwLock::new(None),
            fetching: Mutex::new(0),
        })
    }

    /// `Ok` when `provider`'s credential may go to `origin`, else
    /// `origin_not_allowed`. `fetch` reads the Gateway's provider metadata,
    /// called only when the scope needs it and holds none fresh enough.
    pub(crate) fn check(
        &self,
        provider: &str,
        origin: &Origin,
        fetch: impl FnOnce() -> Result<Value, NexusError>,
    ) -> Result<(), NexusError> {
        if self.anywhere
            || self
                .allowed
                .get(provider)
                .is_some_and(|o| o.contains(origin))
        {
            return Ok(());
        }
        if self.provider_api {
            match self.api_origin(provider, fetch)? {
                Some(api) if api == *origin => return Ok(()),
                Some(api) => {
                    return Err(NexusError::origin_not_allowed(format!(
                        "{origin} is outside the credential scope of `{}`, whose API is {api}; \
                         allow it with CredentialScope::allow",
                        escape(provider)
                    )));
                }
                None => {}
            }
        }
        Err(NexusError::origin_not_allowed(format!(
            "{origin} is outside the credential scope of `{}`, which has no API origin \
             the Gateway reports; allow one with CredentialScope::allow(provider, origin)",
            escape(provider)
        )))
    }

    /// The provider's API origin from the metadata, fetching it when absent,
    /// older than 5 minutes, or missing the provider.
    fn api_origin(
        &self,
        provider: &str,
        fetch: impl FnOnce() -> Result<Value, NexusError>,
    ) -> Result<Option<Origin>, NexusError> {
        let seen = match &*self.metadata.read() {
            Some(m) if m.fetched.elapsed() < METADATA_TTL => match m.origins.get(provider) {
                Some(origin) => return Ok(origin.clone()),
                None => m.generation,
            },
            Some(m) => m.generation,
            None => 0,
        };
        let mut generation = self.fetching.lock();
        if *generation != seen {
            // Another caller fetched while this one waited: use its answer.
            if let Some(m) = &*self.metadata.read() {
                return Ok(m.origins.get(provider).cloned().flatten());
            }
        }
        let origins = origins_from_metadata(&fetch()?);
        let found = origins.get(provider).cloned().flatten();
        *generation += 1;
        *self.metadata.write() = Some(Metadata {
            origins,
            fetched: Instant::now(),
            generation: *generation,
        });
        Ok(found)
    }
}

/// Each provider's API origin from a `GET /v1/providers/metadata` answer
/// (`{auth_type: {provider: {"api_base_url", …}}}`). A missing, empty or
/// unusable `api_base_url` allows nothing (`None`).
pub(crate) fn origins_from_metadata(body: &Value) -> HashMap<String, Option<Origin>> {
    let mut origins = HashMap::new();
    let Some(groups) = body.as_object() else {
        return origins;
    };
    for providers in groups.values().filter_map(Value::as_object) {
        for (name, provider) in providers {
            let origin = provider
                .get("api_base_url")
                .and_then(Value::as_str)
                .filter(|url| !url.trim().is_empty())
                .and_then(|url| crate::url::parse_http_url(url, "api_base_url").ok())
                .and_then(|uri| Origin::of(&uri));
            // A provider listed twice keeps the origin it has.
            let slot = origins.entry(name.clone()).or_insert(None);
            if slot.is_none() {
                *slot = origin;
            }
        }
    }
    origins
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn origin(s: &str) -> Origin {
        Origin::parse(s).unwrap()
    }

    fn metadata() -> Value {
        json!({
            "oauth2": {"github": {"id": "1", "api_base_url": "https://API.github.com./"},
                       "google": {"api_base_url": ""}},
            "api_key": {"stripe": {"api_base_url": "https://api.stripe.com:443/v1"},
                        "odd": {"api_base_url": "not a url"}},
            "broken": "x"
        })
    }

    #[test]
    fn metadata_origins() {
        let origins = origins_from_metadata(&metadata());
        assert_eq!(origins["github"], Some(origin("https://api.github.com")));
        assert_eq!(origins["stripe"], Some(origin("https://api.stripe.com")));
        assert_eq!(origins["google"], None);
        assert_eq!(origins["odd"], None);
        assert!(origins_from_metadata(&json!([1])).is_empty());
    }

    #[test]
    fn anywhere_allows_all_and_never_fetches() {
        let guard = ScopeGuard::new(&CredentialScope::anywhere()).unwrap();
        let fetch = || -> Result<Value, NexusError> { panic!("no metadata needed") };
        assert!(
            guard
                .check("github", &origin("https://evil.example"), fetch)
                .is_ok()
        );
    }

    #[test]
    fn allow_list_alone() {
        let scope = CredentialScope::anywhere().allow("github", "https://api.github.com");
        let guard = ScopeGuard::new(&scope).unwrap();
        let fetch = || -> Result<Value, NexusError> { panic!("no metadata needed") };
        assert!(
            guard
                .check("github", &origin("https://API.github.com:443"), fetch)
                .is_ok()
        );
        let err = guard
            .check("github", &origin("https://evil.example"), || Ok(json!({})))
            .unwrap_err();
        assert_eq!(err.code, "origin_not_allowed");
        assert!(
            err.message.contains("CredentialScope::allow"),
            "{}",
            err.message
        );
        let err = ScopeGuard::new(&CredentialScope::anywhere().allow("x", "ftp://y")).unwrap_err();
        assert_eq!(err.code, "invalid_input");
    }

    #[test]
    fn provider_api_reads_metadata_once() {
        let guard = ScopeGuard::new(&CredentialScope::provider_api()).unwrap();
        let mut fetches = 0;
        for _ in 0..3 {
            let fetch = || {
                fetches += 1;
                Ok(metadata())
            };
            assert!(
                guard
                    .check("github", &origin("https://api.github.com"), fetch)
                    .is_ok()
            );
        }
        assert_eq!(fetches, 1);
        let refused = guard.check("github", &origin("https://evil.example"), || Ok(metadata()));
        assert_eq!(refused.unwrap_err().code, "origin_not_allowed");
        let no_base = guard.check("google", &origin("https://www.googleapis.com"), || {
            Ok(metadata())
        });
        assert_eq!(no_base.unwrap_err().code, "origin_not_allowed");
        // A provider missing from the metadata makes the client read it again.
        let mut refetched = false;
        let fetch = || {
            refetched = true;
            Ok(json!({"oauth2": {"gitlab": {"api_base_url": "https://gitlab.com/api/v4"}}}))
        };
        assert!(
            guard
                .check("gitlab", &origin("https://gitlab.com"), fetch)
                .is_ok()
        );
        assert!(refetched);
    }

    #[test]
    fn a_failed_metadata_read_is_the_error_and_not_kept() {
        let guard = ScopeGuard::new(&CredentialScope::provider_api()).unwrap();
        let err = guard
            .check("github", &origin("https://api.github.com"), || {
                Err(NexusError::request_failed("down"))
            })
            .unwrap_err();
        assert_eq!(err.code, "request_failed");
        assert!(
            guard
                .check("github", &origin("https://api.github.com"), || Ok(
                    metadata()
                ))
                .is_ok()
        );
    }
}
