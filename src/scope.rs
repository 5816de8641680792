//! [`CredentialScope`]: where `authenticated_fetch` may send each provider's
//! credential, and the client-side state that enforces it (the provider
//! metadata, read once per client with single flight).

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use parking_lot::RwLock;
use serde_json::Value;

use crate::budget::Budget;
use crate::cache::Key;
use crate::code;
use crate::error::NexusError;
use crate::flight::{Landing, SingleFlight, Wait};
use crate::redact::{LOG_TARGET, escape, quote, url_for_debug, without_userinfo};
use crate::setting::{NEXUS_ALLOWED_ORIGINS, NEXUS_CREDENTIAL_SCOPE};
use crate::url::{Origin, parse_http_url};

/// How long the Gateway's provider metadata is kept.
const METADATA_TTL: Duration = Duration::from_secs(300);
/// How long a provider missing from the metadata is remembered as missing:
/// within it, asking for that provider again costs no Gateway call. Also
/// the wait before the next read after a failed one.
const MISS_TTL: Duration = Duration::from_secs(30);
/// How old the last listing may be and still be used while reads fail.
const STALE_LIMIT: Duration = Duration::from_secs(30 * 60);

/// Where `authenticated_fetch` may send each provider's credential.
///
/// In an MCP server the URL comes from a model, and a prompt injection can
/// make it `https://attacker.example/?x=`. A scope refuses such a URL with
/// [`code::ORIGIN_NOT_ALLOWED`](crate::code::ORIGIN_NOT_ALLOWED) before any
/// token is resolved and before any connection is opened.
///
/// - [`provider_api`](Self::provider_api) (the default): each provider's
///   credential only to the origin of its `api_base_url`, which the client
///   reads from the Gateway (`GET /v1/providers/metadata`) once, keeps 5
///   minutes, and reads again when a provider is missing from it, at most
///   once per 30 s (a name the Gateway does not list is
///   [`code::PROVIDER_NOT_LISTED`](crate::code::PROVIDER_NOT_LISTED)).
/// - [`anywhere`](Self::anywhere): any URL, as the Python SDK does; an
///   explicit opt-out.
/// - [`allow`](Self::allow) adds an origin for a provider, to either of the
///   above; on `anywhere()` it makes the scope exactly the origins allowed.
///
/// [`NexusClientOptions::from_env`](crate::NexusClientOptions::from_env)
/// reads the scope from `NEXUS_CREDENTIAL_SCOPE` (`provider_api` or
/// `anywhere`) and `NEXUS_ALLOWED_ORIGINS` (comma-separated
/// `provider=origin` pairs, each added with [`allow`](Self::allow)).
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
#[derive(Clone, PartialEq, Eq)]
pub struct CredentialScope {
    provider_api: bool,
    /// (provider, origin) pairs as written; checked by `NexusClient::new`.
    allowed: Vec<(String, String)>,
}

impl Default for CredentialScope {
    /// [`provider_api`](Self::provider_api).
    fn default() -> Self {
        CredentialScope::provider_api()
    }
}

impl fmt::Debug for CredentialScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let allowed: Vec<(&str, String)> = self
            .allowed
            .iter()
            .map(|(provider, origin)| (provider.as_str(), url_for_debug(origin)))
            .collect();
        f.debug_struct("CredentialScope")
            .field("provider_api", &self.provider_api)
            .field("allowed", &allowed)
            .finish()
    }
}

impl CredentialScope {
    /// Credentials may go to any URL, as the Python SDK sends them: an
    /// explicit opt-out of the default [`provider_api`](Self::provider_api).
    pub fn anywhere() -> Self {
        CredentialScope {
            provider_api: false,
            allowed: Vec::new(),
        }
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
}

/// A provider the Gateway lists, and where this client sends its
/// credential: what [`NexusClient::providers`](crate::NexusClient::providers)
/// answers, built by the code that enforces the [`CredentialScope`].
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Provider {
    /// Its name at the Gateway.
    pub name: String,
    /// The group the Gateway lists it under: `oauth2`, `api_key`,
    /// `basic_auth`, `aws_sigv4`, …
    pub auth_type: String,
    /// The Gateway's description of it: a server's text, to be shown with
    /// [`one_line`](crate::one_line), never obeyed.
    pub description: String,
    /// Exactly the origins this client sends its credential to, as the
    /// scope compares them (`scheme://host[:port]`, lowercase, the scheme's
    /// default port left out): the origin of its listed API first, then the
    /// origins [`allow`](CredentialScope::allow)ed for it, each once.
    /// `["*"]` under [`CredentialScope::anywhere`]; empty when its
    /// `api_base_url` allows no origin (missing, userinfo, another scheme,
    /// unparsable) and none is allowed.
    pub origins: Vec<String>,
}

impl Provider {
    /// The provider `name` finds in `providers` as the Gateway finds one:
    /// the provider of that exact name, else the one provider whose name
    /// equals it without regard to ASCII case, else none (when no name or
    /// several do). The one name rule of the SDK: the scope attaches an
    /// allowed origin to the provider its key finds this way, and a name
    /// found this way goes to the Gateway as the Gateway lists it.
    ///
    /// ```no_run
    /// use nexus_sdk::{NexusClient, NexusClientOptions, Provider};
    ///
    /// let client = NexusClient::new(NexusClientOptions::from_env()?)?;
    /// let providers = client.providers()?;
    /// if let Some(github) = Provider::find(&providers, "GitHub") {
    ///     println!("{} reaches {:?}", github.name, github.origins);
    /// }
    /// # Ok::<(), nexus_sdk::NexusError>(())
    /// ```
    pub fn find<'a>(providers: &'a [Provider], name: &str) -> Option<&'a Provider> {
        let index = find_name(providers.iter().map(|p| p.name.as_str()), name)?;
        providers.get(index)
    }
}

/// The scope the environment names: `scope` is `NEXUS_CREDENTIAL_SCOPE`
/// (`provider_api`, the default when unset or empty, or `anywhere`), and
/// `allowed` is `NEXUS_ALLOWED_ORIGINS`, comma-separated `provider=origin`
/// pairs added with [`CredentialScope::allow`]. `invalid_input` for a scope
/// name other than the two, or a pair without `=`; the origins themselves
/// are checked by `NexusClient::new`.
pub(crate) fn scope_from_env(
    scope: Option<&str>,
    allowed: Option<&str>,
) -> Result<CredentialScope, NexusError> {
    let mut parsed = match scope.map(str::trim).unwrap_or_default() {
        "" | "provider_api" => CredentialScope::provider_api(),
        "anywhere" => CredentialScope::anywhere(),
        other => {
            let why = format!(
                "NEXUS_CREDENTIAL_SCOPE is `provider_api` or `anywhere`, not {:?}",
                escape(other)
            );
            return Err(NexusError::invalid_input(why).blaming(NEXUS_CREDENTIAL_SCOPE));
        }
    };
    let pairs = allowed.unwrap_or_default().split(',').map(str::trim);
    for pair in pairs.filter(|p| !p.is_empty()) {
        let entry = pair.split_once('=').map(|(p, o)| (p.trim(), o.trim()));
        let origin = |o: &str| !o.contains(['=', ';']) && Origin::parse(o).is_ok();
        let allowance = |(p, o): &(&str, &str)| !p.is_empty() && origin(o);
        let Some((provider, origin)) = entry.filter(allowance) else {
            let why = format!(
                "NEXUS_ALLOWED_ORIGINS: {:?} is not provider=origin, the origin a scheme \
                 and a host (entries are separated by commas: \
                 github=https://a.example,github=https://b.example)",
                without_userinfo(pair)
            );
            return Err(NexusError::invalid_input(why).blaming(NEXUS_ALLOWED_ORIGINS));
        };
        parsed = parsed.allow(provider, origin);
    }
    Ok(parsed)
}

/// A client's scope, checked and ready: the allowed origins parsed, and the
/// provider metadata when the scope needs it.
pub(crate) struct ScopeGuard {
    mode: Mode,
    /// Each provider name as allowed, with its origins (as [`Provider::origins`]
    /// writes them), in the order allowed.
    allowed: Vec<(String, Vec<String>)>,
    metadata: RwLock<Option<Arc<Metadata>>>,
    /// The metadata read under way, if any: its callers share its result.
    flight: SingleFlight<(), Arc<Metadata>>,
}

/// Which origins a scope lets a credential reach.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Every origin ([`CredentialScope::anywhere`] with nothing allowed).
    Anywhere,
    /// The origin of each listed provider's API, and the origins allowed.
    ProviderApi,
    /// Exactly the origins allowed ([`CredentialScope::anywhere`] with
    /// [`allow`](CredentialScope::allow)): no listing is read.
    Allowed,
}

/// The providers the Gateway listed, sorted by name, and when (on the token
/// cache's clock).
pub(crate) struct Metadata {
    providers: Vec<Provider>,
    fetched: SystemTime,
    /// When a read failed last: the listing is used as it is for 30 s.
    failed: Option<SystemTime>,
}

impl ScopeGuard {
    /// The guard for `scope`, or `invalid_input` for an origin that does not parse.
    pub(crate) fn new(scope: &CredentialScope) -> Result<ScopeGuard, NexusError> {
        let mut allowed: Vec<(String, Vec<String>)> = Vec::new();
        for (provider, origin) in &scope.allowed {
            let said = |e: NexusError| {
                format!("credential scope for `{}`: {}", escape(provider), e.message)
            };
            let parsed = Origin::parse(origin).map_err(|e| NexusError::invalid_input(said(e)))?;
            let parsed = parsed.to_string();
            match allowed.iter_mut().find(|(name, _)| name == provider) {
                Some((_, origins)) => origins.push(parsed),
                None => allowed.push((provider.clone(), vec![parsed])),
            }
        }
        let mode = if scope.provider_api {
            Mode::ProviderApi
        } else if allowed.is_empty() {
            Mode::Anywhere
        } else {
            Mode::Allowed
        };
        Ok(ScopeGuard {
            mode,
            allowed,
            metadata: RwLock::new(None),
            flight: SingleFlight::default(),
        })
    }

    /// Whether every origin may receive every credential.
    pub(crate) fn is_anywhere(&self) -> bool {
        self.mode == Mode::Anywhere
    }

    /// `Ok` when `provider`'s credential may go to `origin`, with the name
    /// the Gateway lists it under when that differs from the one asked for
    /// (found by [`Provider::find`]'s rule); else `origin_not_allowed`
    /// naming every origin it may go to, or `provider_not_listed` for a
    /// provider the Gateway's metadata does not list. `read` reads the
    /// Gateway's provider metadata within the budget it is given, called
    /// only when the scope needs it and holds none fresh enough at `now`.
    ///
    /// A refusal says what was refused, for which provider; how to allow
    /// the origin goes to the log, for the developer: the message may reach
    /// a model, which a prompt injection could have relay it.
    pub(crate) fn check(
        &self,
        key: Key<'_>,
        origin: &Origin,
        now: SystemTime,
        budget: &Budget,
        read: impl FnOnce(&Budget) -> Result<Value, NexusError>,
    ) -> Result<Option<String>, NexusError> {
        let origin = origin.to_string();
        // An origin allowed under the very name asked for needs no listing.
        let exact = self.allowed.iter().find(|(name, _)| name == key.provider);
        if self.mode == Mode::Anywhere || exact.is_some_and(|(_, o)| o.contains(&origin)) {
            return Ok(None);
        }
        if self.mode == Mode::Allowed {
            let names = self.allowed.iter().map(|(name, _)| name.as_str());
            let reach = find_name(names, key.provider).map(|i| self.allowed[i].1.as_slice());
            let reach = reach.unwrap_or_default();
            if !reach.contains(&origin) {
                return Err(self.refusal(key.provider, &origin, reach));
            }
            return Ok(None);
        }
        let metadata = self.listing(key.provider, now, budget, read)?;
        let Some(listed) = metadata.find(key.provider) else {
            return Err(unknown_provider(key, &metadata.listed()));
        };
        if !listed.origins.contains(&origin) {
            return Err(self.refusal(&listed.name, &origin, &listed.origins));
        }
        Ok((listed.name != key.provider).then(|| listed.name.clone()))
    }

    /// `origin_not_allowed` for `origin`, outside the `reach` of
    /// `provider`'s credential; how to allow it is logged and hinted.
    fn refusal(&self, provider: &str, origin: &str, reach: &[String]) -> NexusError {
        let p = escape(provider);
        let whose = if !reach.is_empty() {
            format!("whose credential goes only to {}", reach.join(", "))
        } else if self.mode == Mode::ProviderApi {
            format!("as `{p}` has no api_base_url at the Gateway that names an origin")
        } else {
            "whose credential goes to no origin".to_owned()
        };
        let why = format!("{origin} is outside the credential scope of `{p}`, {whose}");
        let recipe = format!(
            "to send `{p}`'s credential to {origin}, use CredentialScope::provider_api()\
             .allow(\"{p}\", \"{origin}\") or NEXUS_ALLOWED_ORIGINS={p}={origin}"
        );
        log::warn!(target: LOG_TARGET, "Refused by the credential scope: {why}. To allow it, {recipe}");
        NexusError::origin_not_allowed(why).hinted(recipe)
    }

    /// The providers the Gateway lists now, read afresh (and kept as the
    /// listing the scope enforces).
    pub(crate) fn providers(
        &self,
        now: SystemTime,
        budget: &Budget,
        read: impl FnOnce(&Budget) -> Result<Value, NexusError>,
    ) -> Result<Vec<Provider>, NexusError> {
        let providers = self.listed_in(&read(budget)?);
        *self.metadata.write() = Some(Arc::new(Metadata {
            providers: providers.clone(),
            fetched: now,
            failed: None,
        }));
        Ok(providers)
    }

    /// Each provider of a `GET /v1/providers/metadata` answer
    /// (`{auth_type: {provider: {"api_base_url", "description", …}}}`),
    /// sorted by name, with the origins its credential may reach (`*`
    /// anywhere): its API's (under `provider_api`), then those allowed
    /// under each name that finds it (see [`Provider::find`]; a name that
    /// finds no provider, or several, allows nothing), each once. A
    /// missing, empty or unusable `api_base_url` allows nothing; a provider
    /// listed twice keeps its first entry. Linear in the listing's size
    /// (and the allowed names').
    pub(crate) fn listed_in(&self, body: &Value) -> Vec<Provider> {
        let mut seen = HashSet::new();
        let mut providers = Vec::new();
        let groups = body.as_object().into_iter().flatten();
        for (auth_type, group) in groups.filter_map(|(t, g)| Some((t, g.as_object()?))) {
            for (name, provider) in group.iter().filter(|(name, _)| seen.insert(*name)) {
                let text = |key: &str| provider.get(key).and_then(Value::as_str);
                let url = text("api_base_url").filter(|_| self.mode == Mode::ProviderApi);
                let uri = url.and_then(|url| parse_http_url(url, "api_base_url").ok());
                let api = uri.and_then(|uri| Origin::of(&uri)).map(|o| o.to_string());
                let anywhere = (self.mode == Mode::Anywhere).then(|| "*".to_owned());
                providers.push(Provider {
                    name: name.clone(),
                    auth_type: auth_type.clone(),
                    description: text("description").unwrap_or_default().to_owned(),
                    origins: anywhere.or(api).into_iter().collect(),
                });
            }
        }
        providers.sort_by(|a, b| a.name.cmp(&b.name));
        for (name, origins) in &self.allowed {
            let Some(i) = find_name(providers.iter().map(|p| p.name.as_str()), name) else {
                continue;
            };
            let reach = &mut providers[i].origins;
            for origin in origins {
                if !reach.contains(origin) {
                    reach.push(origin.clone());
                }
            }
        }
        providers
    }

    /// The metadata, fresh enough for `provider`: read again when absent,
    /// older than 5 minutes, or missing the provider for longer than 30 s.
    /// Concurrent callers share one read and its result, errors included.
    ///
    /// When a read fails, the last listing read is used for as long as it
    /// is under [`STALE_LIMIT`] old (a warning is logged, and the next read
    /// is tried 30 s later), so that a Gateway that fails to list its
    /// providers fails no call the last listing allowed; with no listing
    /// ever read, or an older one, the read's error is the call's. With a
    /// listing to fall back on, a read takes half the call's time at most.
    pub(crate) fn listing(
        &self,
        provider: &str,
        now: SystemTime,
        budget: &Budget,
        read: impl FnOnce(&Budget) -> Result<Value, NexusError>,
    ) -> Result<Arc<Metadata>, NexusError> {
        let last = self.metadata.read().clone();
        if let Some(m) = last.as_ref().filter(|m| m.is_fresh(provider, now)) {
            return Ok(Arc::clone(m));
        }
        let budget = if last.is_some() {
            budget.part(2)
        } else {
            budget.clone()
        };
        let listed = |providers, fetched, failed| {
            Arc::new(Metadata {
                providers,
                fetched,
                failed,
            })
        };
        let load = || Ok(listed(self.listed_in(&read(&budget)?), now, None));
        let keep = |result: Result<Arc<Metadata>, NexusError>| {
            if let Ok(metadata) = &result {
                *self.metadata.write() = Some(Arc::clone(metadata));
            }
            Landing::All(result)
        };
        let mut error = match self.flight.run(&(), &budget, Wait::Budget, load, keep) {
            Ok(metadata) => return Ok(metadata),
            Err(error) => error,
        };
        let age = last.as_ref().and_then(|m| age(m.fetched, now));
        let (Some(last), Some(age)) = (last, age.filter(|age| *age < STALE_LIMIT)) else {
            error.message = format!("{}; {UNLISTED}", error.message);
            return Err(error);
        };
        log::warn!(
            target: LOG_TARGET,
            "The Gateway's provider list could not be read again ({}); using the one read {}s \
             ago, as for at most {} minutes while reads fail",
            error.code,
            age.as_secs(),
            STALE_LIMIT.as_secs() / 60
        );
        let kept = listed(last.providers.clone(), last.fetched, Some(now));
        *self.metadata.write() = Some(Arc::clone(&kept));
        Ok(kept)
    }
}

/// What a failed provider listing costs, said after its cause: the cause
/// (a Gateway down, say) is what its reader acts on.
const UNLISTED: &str = "the credential scope (provider_api) needs the Gateway's provider listing \
                        to know where a credential may go: nothing was resolved or sent";

impl Metadata {
    /// The provider `name` finds (see [`Provider::find`]): an exact name by
    /// binary search (the list is sorted), another case in one pass.
    pub(crate) fn find(&self, name: &str) -> Option<&Provider> {
        match self
            .providers
            .binary_search_by(|p| p.name.as_str().cmp(name))
        {
            Ok(i) => self.providers.get(i),
            Err(_) => Provider::find(&self.providers, name),
        }
    }

    /// The providers it names, sorted.
    pub(crate) fn listed(&self) -> Vec<String> {
        self.providers.iter().map(|p| p.name.clone()).collect()
    }

    /// Whether what the metadata says of `provider` is still trusted at
    /// `now`: a listing for 5 minutes, an absence for 30 s, anything for
    /// 30 s after a failed read; nothing stamped after `now`.
    fn is_fresh(&self, provider: &str, now: SystemTime) -> bool {
        let ttl = self.find(provider).map_or(MISS_TTL, |_| METADATA_TTL);
        let failed = self.failed.and_then(|at| age(at, now));
        failed.is_some_and(|age| age < MISS_TTL)
            || age(self.fetched, now).is_some_and(|age| age < ttl)
    }
}

/// The position among `names` of the one that `name` finds (see
/// [`Provider::find`]): that exact name, else the one name equal to it
/// without regard to ASCII case (none when several are). One pass.
fn find_name<'a>(names: impl Iterator<Item = &'a str>, name: &str) -> Option<usize> {
    let (mut exact, mut same, mut alike) = (None, None, 0);
    for (i, n) in names.enumerate() {
        if n == name {
            exact = exact.or(Some(i));
        } else if n.eq_ignore_ascii_case(name) {
            same = same.or(Some(i));
            alike += 1;
        }
    }
    exact.or(same.filter(|_| alike == 1))
}

/// How long before `now` an instant was; `None` for one after it (a clock
/// set back), which no listing may count as fresh.
fn age(at: SystemTime, now: SystemTime) -> Option<Duration> {
    now.duration_since(at).ok()
}

/// `provider_not_listed` for a provider the Gateway's list does not name:
/// the providers it does name, and a hint when the arguments look swapped
/// (the workspace id is a provider's name). No advice about the scope: a
/// wrong name is not fixed by allowing an origin.
pub(crate) fn unknown_provider(key: Key<'_>, listed: &[String]) -> NexusError {
    let (workspace_id, provider) = (key.workspace, key.provider);
    let names = match listed.len() {
        0 => "it lists none".to_owned(),
        _ => format!("it lists {}", quote(&listed.join(", "))),
    };
    let (ws, p) = (escape(workspace_id), escape(provider));
    let mut message = format!("the Gateway knows no provider `{p}` ({names})");
    if listed.iter().any(|name| name == workspace_id) {
        message += &format!(
            "; `{ws}` is a provider: are the workspace id and the provider swapped? The \
             workspace id comes first"
        );
    }
    NexusError::new(code::PROVIDER_NOT_LISTED, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// What a caller brings to a metadata read: 30 s.
    fn join() -> Budget {
        crate::budget::test_budget(Duration::from_secs(30))
    }

    fn pair(provider: &'static str) -> Key<'static> {
        Key::new(7, "ws", provider).unwrap()
    }

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
    fn a_listing_of_any_size_under_the_cap_is_read_in_linear_time() {
        // 40,000 providers in two groups, each listed in both: about 1 MiB.
        let names: Vec<String> = (0..40_000).map(|i| format!("p{i:05}")).collect();
        let group: serde_json::Map<String, Value> = names
            .iter()
            .map(|n| (n.clone(), json!({"api_base_url": "https://a.example"})))
            .collect();
        let body = json!({"oauth2": group.clone(), "api_key": group});
        let scope = CredentialScope::provider_api().allow("P00007", "https://b.example");
        let guard = ScopeGuard::new(&scope).unwrap();
        let started = std::time::Instant::now();
        let listed = guard.listed_in(&body);
        let took = started.elapsed();
        assert_eq!(listed.len(), names.len(), "each provider once");
        assert_eq!(
            listed[7].origins,
            ["https://a.example", "https://b.example"]
        );
        // Quadratic work (0.7) took minutes here; linear takes milliseconds.
        assert!(
            took < Duration::from_secs(20),
            "40,000 providers read in {took:?}"
        );
        let metadata = Metadata {
            providers: listed,
            fetched: SystemTime::now(),
            failed: None,
        };
        assert_eq!(
            metadata.find("P39999").map(|p| p.name.as_str()),
            Some("p39999")
        );
    }

    #[test]
    fn metadata_origins() {
        let guard = ScopeGuard::new(&CredentialScope::provider_api()).unwrap();
        let listed = guard.listed_in(&metadata());
        let origins = |name: &str| {
            let found = listed.iter().find(|p| p.name == name).unwrap();
            found.origins.clone()
        };
        assert_eq!(origins("github"), ["https://api.github.com"]);
        assert_eq!(listed[0].auth_type, "oauth2", "{listed:?}");
        assert_eq!(origins("stripe"), ["https://api.stripe.com"]);
        assert!(origins("google").is_empty());
        assert!(origins("odd").is_empty());
        assert!(guard.listed_in(&json!([1])).is_empty());
    }

    #[test]
    fn a_name_is_found_as_the_gateway_finds_it() {
        let guard = ScopeGuard::new(&CredentialScope::provider_api()).unwrap();
        let body = json!({"oauth2": {"github": {}, "GitHub": {}, "Stripe": {}}});
        let metadata = Metadata {
            providers: guard.listed_in(&body),
            fetched: SystemTime::now(),
            failed: None,
        };
        let found = |name: &str| metadata.find(name).map(|p| p.name.as_str());
        assert_eq!(found("GitHub"), Some("GitHub"), "exact first");
        assert_eq!(found("stripe"), Some("Stripe"), "else without case");
        assert_eq!(found("GITHUB"), None, "two match: none");
    }

    #[test]
    fn anywhere_allows_all_and_never_fetches() {
        let guard = ScopeGuard::new(&CredentialScope::anywhere()).unwrap();
        let fetch = |_: &Budget| -> Result<Value, NexusError> { panic!("no metadata needed") };
        let now = SystemTime::now();
        assert!(
            guard
                .check(
                    pair("github"),
                    &origin("https://evil.example"),
                    now,
                    &join(),
                    fetch
                )
                .is_ok()
        );
    }

    #[test]
    fn the_default_is_provider_api() {
        assert_eq!(CredentialScope::default(), CredentialScope::provider_api());
        assert_ne!(CredentialScope::default(), CredentialScope::anywhere());
    }

    #[test]
    fn debug_redacts_userinfo_of_allowed_origins() {
        let scope = CredentialScope::provider_api().allow("x", "https://bob:hunter2@x.example");
        let debug = format!("{scope:?}");
        assert!(
            !debug.contains("hunter2") && !debug.contains("bob"),
            "{debug}"
        );
        let err = scope_from_env(None, Some("https://bob:hunter2@x")).unwrap_err();
        assert!(!err.message.contains("hunter2"), "{}", err.message);
    }

    #[test]
    fn allow_list_alone() {
        let scope = CredentialScope::anywhere().allow("github", "https://api.github.com");
        let guard = ScopeGuard::new(&scope).unwrap();
        let fetch = |_: &Budget| -> Result<Value, NexusError> { panic!("no metadata needed") };
        let now = SystemTime::now();
        assert!(
            guard
                .check(
                    pair("github"),
                    &origin("https://API.github.com:443"),
                    now,
                    &join(),
                    fetch
                )
                .is_ok()
        );
        let err = guard
            .check(
                pair("github"),
                &origin("https://evil.example"),
                now,
                &join(),
                |_| Ok(json!({})),
            )
            .unwrap_err();
        assert_eq!(err.code, "origin_not_allowed");
        assert_eq!(
            err.message,
            "https://evil.example is outside the credential scope of `github`, whose credential \
             goes only to https://api.github.com",
            "what was refused, for which provider, where it may go, and no recipe"
        );
        let Err(err) = ScopeGuard::new(&CredentialScope::anywhere().allow("x", "ftp://y")) else {
            panic!("an ftp origin was accepted")
        };
        assert_eq!(err.code, "invalid_input");
    }

    #[test]
    fn provider_api_reads_metadata_once() {
        let guard = ScopeGuard::new(&CredentialScope::provider_api()).unwrap();
        let (fetches, now) = (std::sync::atomic::AtomicUsize::new(0), SystemTime::now());
        for _ in 0..3 {
            let fetch = |_: &Budget| {
                fetches.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                Ok(metadata())
            };
            let api = origin("https://api.github.com");
            assert!(
                guard
                    .check(pair("github"), &api, now, &join(), fetch)
                    .is_ok()
            );
        }
        assert_eq!(fetches.into_inner(), 1);
        let refused = guard.check(
            pair("github"),
            &origin("https://evil.example"),
            now,
            &join(),
            |_| Ok(metadata()),
        );
        assert_eq!(refused.unwrap_err().code, "origin_not_allowed");
        let no_base = guard.check(
            pair("google"),
            &origin("https://www.googleapis.com"),
            now,
            &join(),
            |_| Ok(metadata()),
        );
        let err = no_base.unwrap_err();
        assert_eq!(err.code, "origin_not_allowed");
        assert!(
            err.message
                .starts_with("https://www.googleapis.com is outside")
                && err.message.contains("`google` has no api_base_url"),
            "{err}"
        );
        assert!(!err.message.contains("NEXUS_ALLOWED_ORIGINS"), "{err}");
        let debug = format!("{err:?}");
        assert!(
            debug.ends_with("NEXUS_ALLOWED_ORIGINS=google=https://www.googleapis.com"),
            "{debug}"
        );
    }

    #[test]
    fn an_unlisted_provider_is_its_own_error_and_remembered_for_a_while() {
        let guard = ScopeGuard::new(&CredentialScope::provider_api()).unwrap();
        let (fetches, t0) = (std::cell::Cell::new(0), SystemTime::now());
        let gitlab = origin("https://gitlab.com");
        let check = |at: SystemTime, listed: bool| {
            guard.check(pair("gitlab"), &gitlab, at, &join(), |_| {
                fetches.set(fetches.get() + 1);
                Ok(if listed {
                    json!({"oauth2": {"gitlab": {"api_base_url": "https://gitlab.com/api/v4"}}})
                } else {
                    metadata()
                })
            })
        };
        let err = check(t0, false).unwrap_err();
        assert_eq!(err.code, "provider_not_listed");
        assert_eq!(err.kind(), crate::ErrorKind::NotFound);
        // Asked again within 30 s: no Gateway call.
        for s in [0, 1, 29] {
            let at = t0 + Duration::from_secs(s);
            assert_eq!(check(at, true).unwrap_err().code, "provider_not_listed");
        }
        assert_eq!(fetches.get(), 1);
        // After 30 s the metadata is read again, and the provider is there now.
        assert!(check(t0 + MISS_TTL, true).is_ok());
        assert_eq!(fetches.get(), 2);
        // Listed providers are not re-read before the metadata's 5 minutes.
        assert!(check(t0 + Duration::from_secs(200), false).is_ok());
        assert_eq!(fetches.get(), 2);
    }

    #[test]
    fn a_listing_is_trusted_for_five_minutes_then_read_again() {
        let guard = ScopeGuard::new(&CredentialScope::provider_api()).unwrap();
        let (fetches, t0) = (std::cell::Cell::new(0), SystemTime::now());
        let (old, new) = (
            origin("https://api.github.com"),
            origin("https://ghe.example"),
        );
        let check = |at: SystemTime, api: &Origin| {
            guard.check(pair("github"), api, at, &join(), |_| {
                fetches.set(fetches.get() + 1);
                // The Gateway has moved the provider's API by the second read.
                Ok(if fetches.get() == 1 {
                    metadata()
                } else {
                    json!({"oauth2": {"github": {"api_base_url": "https://ghe.example"}}})
                })
            })
        };
        assert!(check(t0, &old).is_ok());
        assert!(check(t0 + METADATA_TTL - Duration::from_millis(1), &old).is_ok());
        assert_eq!(fetches.get(), 1);
        // At 5 minutes the listing is read again: the old API is refused.
        let err = check(t0 + METADATA_TTL, &old).unwrap_err();
        assert_eq!(err.code, "origin_not_allowed");
        assert_eq!(fetches.get(), 2);
        assert!(check(t0 + METADATA_TTL, &new).is_ok());
        assert_eq!(fetches.get(), 2);
    }

    #[test]
    fn a_listing_stamped_after_now_is_read_again() {
        let guard = ScopeGuard::new(&CredentialScope::provider_api()).unwrap();
        let (fetches, t0) = (std::cell::Cell::new(0), SystemTime::now());
        let api = origin("https://api.github.com");
        let check = |at: SystemTime| {
            guard.check(pair("github"), &api, at, &join(), |_| {
                fetches.set(fetches.get() + 1);
                Ok(metadata())
            })
        };
        assert!(check(t0).is_ok());
        // The clock is set back an hour: the listing is from its future.
        assert!(check(t0 - Duration::from_secs(3600)).is_ok());
        assert_eq!(fetches.get(), 2);
    }

    #[test]
    fn a_failed_metadata_read_is_the_error_and_not_kept() {
        let guard = ScopeGuard::new(&CredentialScope::provider_api()).unwrap();
        let (api, now) = (origin("https://api.github.com"), SystemTime::now());
        let err = guard
            .check(pair("github"), &api, now, &join(), |_| {
                Err(NexusError::request_failed("down"))
            })
            .unwrap_err();
        assert_eq!(err.code, "request_failed");
        assert!(
            guard
                .check(pair("github"), &api, now, &join(), |_| Ok(metadata()))
                .is_ok()
        );
    }
}
