//! The issuer, as `serve` knows it: its URL (`--issuer`), and its metadata
//! and signing keys, read once for the bearer check, the introspection
//! client and the connect page's login alike. The metadata is found
//! (RFC 8414, then OpenID discovery) with the keys it names, kept for [`KEEP`] whatever
//! the answer's `Cache-Control` says (a key the issuer withdraws is not
//! trusted for longer), and fetched again when they are older or a token
//! names a key the set lacks, at most once per [`REFETCH_EVERY`] whether or
//! not the issuer answers, one fetch in flight however many requests meet
//! it. Only the issuer's own URLs are fetched: never a `jku` or `x5u` a
//! token names.

use std::sync::RwLock;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{Jwk, JwkSet};
use serde_json::Value;

/// How often a key a token names and the set lacks makes it fetch again.
pub(crate) const REFETCH_EVERY: Duration = Duration::from_secs(30);
/// How long a set is kept, whatever its answer says: with the minute a
/// verified token is recalled, a withdrawn key stops working within one.
pub(crate) const KEEP: Duration = Duration::from_secs(30);
/// The most the issuer's metadata or JWKS may weigh.
const MAX_BODY: u64 = 1 << 20;
/// What one fetch from the issuer may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a key cannot be had.
#[derive(Debug)]
pub(crate) enum Missing {
    /// The issuer's keys cannot be read: why, naming the issuer.
    Unreadable(String),
    /// The issuer does not publish the key a token names.
    Unknown,
}

/// The issuer: its URL, and what it publishes.
pub(crate) struct Issuer {
    /// `--issuer`, exactly as tokens name it.
    url: String,
    /// The well-known documents its metadata is found at, in turn.
    documents: &'static [&'static str],
    agent: ureq::Agent,
    held: RwLock<Option<Fetched>>,
    /// Held by the one fetch in flight; when the last fetch a request
    /// asked for began (the fetch at start is not one).
    fetching: tokio::sync::Mutex<Option<Instant>>,
}

impl std::fmt::Display for Issuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.url)
    }
}

/// A set as fetched, and until when it is kept; the introspection
/// endpoint the same metadata names.
#[derive(Clone)]
struct Fetched {
    set: JwkSet,
    /// The issuer's metadata the set was found through.
    metadata: Value,
    until: Instant,
    introspection: Option<Endpoint>,
}

/// The issuer's RFC 7662 endpoint, as its metadata names it.
#[derive(Clone, Debug)]
pub(crate) struct Endpoint {
    pub(crate) url: String,
    /// Whether it takes the client's secret by HTTP Basic (RFC 7662's
    /// default: when the metadata offers it or says nothing); else in the
    /// form (`client_secret_post`).
    pub(crate) basic: bool,
}

impl Issuer {
    /// The issuer at `url`, its metadata and keys fetched when first needed.
    pub(crate) fn new(url: &str) -> Issuer {
        Issuer::found_at(url, &["oauth-authorization-server", "openid-configuration"])
    }

    /// A Shared Signals transmitter at `url` (`--ssf-transmitter`), as an
    /// issuer of signed events: its configuration (`ssf-configuration`,
    /// OpenID SSF 1.0 §7.1) and keys fetched and kept as an issuer's.
    pub(crate) fn transmitter(url: &str) -> Issuer {
        Issuer::found_at(url, &["ssf-configuration"])
    }

    /// The issuer at `url`, its metadata at the well-known `documents`.
    fn found_at(url: &str, documents: &'static [&'static str]) -> Issuer {
        Issuer {
            url: url.to_owned(),
            documents,
            agent: crate::http::agent(FETCH_TIMEOUT),
            held: RwLock::new(None),
            fetching: tokio::sync::Mutex::new(None),
        }
    }

    /// `--issuer`, exactly as tokens name it.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// The key `kid`, fetching the set when it is not held, has expired,
    /// or lacks `kid` and was last fetched [`REFETCH_EVERY`] ago or more.
    pub(crate) async fn key(&self, kid: &str) -> Result<Jwk, Missing> {
        if let Some(jwk) = self.find(kid, true) {
            return Ok(jwk);
        }
        let asked = Instant::now();
        let mut last = self.fetching.lock().await;
        let fetched_meanwhile = last.is_some_and(|at| at >= asked);
        let held = self.held.read().ok().and_then(|h| h.clone());
        let recent = last.is_some_and(|at| at.elapsed() < REFETCH_EVERY);
        // Another request's fetch answered while this one waited, or the
        // last fetch (answered or not) was less than REFETCH_EVERY ago.
        let skip = fetched_meanwhile || recent;
        if !skip {
            *last = Some(Instant::now());
            match self.fetch().await {
                Ok(held) => {
                    if let Ok(mut slot) = self.held.write() {
                        *slot = Some(held);
                    }
                }
                Err(why) if held.is_none() => return Err(Missing::Unreadable(why)),
                Err(why) => log::warn!(target: "nexus_mcp", "{why}; the keys held are kept"),
            }
        }
        drop(last);
        if self.held.read().ok().is_some_and(|h| h.is_none()) {
            let why = format!("the keys of the issuer {} could not be read", self.url);
            return Err(Missing::Unreadable(why));
        }
        self.find(kid, false).ok_or(Missing::Unknown)
    }

    /// `Ok` when a set is held; else a fetch within the keys' limits, and
    /// why it could not be read (for readiness).
    pub(crate) async fn held_or_fetched(&self) -> Result<(), String> {
        if self.set().is_some() {
            return Ok(());
        }
        match self.key("").await {
            Err(Missing::Unreadable(why)) => Err(why),
            _ => Ok(()),
        }
    }

    /// The issuer's metadata, as last read with its keys.
    pub(crate) fn metadata(&self) -> Option<Value> {
        let held = self.held.read().ok()?;
        held.as_ref().map(|held| held.metadata.clone())
    }

    /// The set held, as the connect page's login checks an ID token with it.
    pub(crate) fn set(&self) -> Option<JwkSet> {
        let held = self.held.read().ok()?;
        held.as_ref().map(|held| held.set.clone())
    }

    /// The introspection endpoint of the issuer's metadata, read with its
    /// keys (now, when none is held: a fetch within the keys' limits).
    pub(crate) async fn introspection(&self) -> Result<Option<Endpoint>, Missing> {
        if self.set().is_none() {
            // A key no set names: the keys' fetch, and its limits.
            if let Err(Missing::Unreadable(why)) = self.key("").await {
                return Err(Missing::Unreadable(why));
            }
        }
        let held = self.held.read().ok();
        Ok(held.and_then(|held| held.as_ref()?.introspection.clone()))
    }

    /// `kid` in the set held (only while it is kept, when `fresh`).
    fn find(&self, kid: &str, fresh: bool) -> Option<Jwk> {
        let held = self.held.read().ok()?;
        let held = held
            .as_ref()
            .filter(|h| !fresh || h.until > Instant::now())?;
        held.set.find(kid).cloned()
    }

    /// Fetches the keys now (at start), saying why not when they cannot be read.
    pub(crate) async fn warm(&self) -> Result<usize, String> {
        let held = self.fetch().await?;
        let count = held.set.keys.len();
        if let Ok(mut slot) = self.held.write() {
            *slot = Some(held);
        }
        Ok(count)
    }

    /// Fetches the metadata, then the set it names, off the runtime's threads.
    async fn fetch(&self) -> Result<Fetched, String> {
        let (issuer, agent, documents) = (self.url.clone(), self.agent.clone(), self.documents);
        let fetched =
            tokio::task::spawn_blocking(move || fetch_keys(&agent, &issuer, documents)).await;
        let fetched = fetched.map_err(|e| format!("the fetch of the issuer's keys failed: {e}"))?;
        crate::metrics::issuer("keys", fetched.is_ok());
        fetched
    }
}

/// The issuer's JWKS, found through its metadata at the well-known
/// `documents` (OpenID's appended to the issuer, the others inserted).
fn fetch_keys(agent: &ureq::Agent, issuer: &str, documents: &[&str]) -> Result<Fetched, String> {
    let tried = documents.iter().map(|name| match *name {
        "openid-configuration" => format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        ),
        name => well_known(issuer, name),
    });
    let (mut said, mut seen) = (Vec::new(), Vec::new());
    for url in &tried.collect::<Vec<_>>() {
        match get(agent, url) {
            Ok(metadata) if metadata["issuer"] == issuer => {
                let Some(jwks_uri) = metadata["jwks_uri"].as_str() else {
                    said.push(format!("{url} names no jwks_uri"));
                    continue;
                };
                let set: JwkSet = serde_json::from_value(get(agent, jwks_uri)?)
                    .map_err(|e| format!("the issuer {issuer}'s JWKS does not read: {e}"))?;
                let until = Instant::now() + KEEP;
                let introspection = metadata["introspection_endpoint"].as_str().map(|url| {
                    let methods =
                        metadata["introspection_endpoint_auth_methods_supported"].as_array();
                    let basic =
                        methods.is_none_or(|m| m.iter().any(|m| m == "client_secret_basic"));
                    Endpoint {
                        url: url.to_owned(),
                        basic,
                    }
                });
                return Ok(Fetched {
                    set,
                    metadata: metadata.clone(),
                    until,
                    introspection,
                });
            }
            Ok(metadata) => {
                said.push(format!(
                    "{url} names the issuer {}, not --issuer {issuer:?}: the two must be equal to \
                     the byte (a trailing slash counts)",
                    metadata["issuer"]
                ));
                seen.extend(metadata["issuer"].as_str().map(str::to_owned));
            }
            Err(why) => said.push(why),
        }
    }
    let fix = fixed_issuer(issuer, &said.join("; "), &seen);
    Err(format!(
        "the keys of the issuer {issuer} could not be read ({}){}",
        said.join("; "),
        fix.map(|fix| format!("; {fix}")).unwrap_or_default()
    ))
}

/// The issuer to give instead of `issuer`, when what its provider `said`
/// (and the issuers its metadata named, `seen`) shows a known mistake:
/// Entra ID's shared issuers (`common`, `organizations`, `consumers`, whose
/// metadata names a `{tenantid}` template) and its v1 endpoint, whatever
/// host serves it (given as its issuer `https://sts.…/TENANT/`, or as the
/// v1 authority whose metadata names one), for the tenant's own v2.0
/// issuer; Okta's custom authorization server without API Access
/// Management (`401 E0000015`), for the org server.
fn fixed_issuer(issuer: &str, said: &str, seen: &[String]) -> Option<String> {
    let url = url::Url::parse(issuer).ok()?;
    let first = url
        .path_segments()
        .and_then(|mut s| s.next())
        .unwrap_or_default();
    let host = url.host_str().unwrap_or_default();
    let v2 = "https://login.microsoftonline.com";
    if ["common", "organizations", "consumers"].contains(&first) || said.contains("{tenantid}") {
        return Some(format!(
            "Entra ID: give the tenant's own v2.0 issuer, {v2}/<tenant id>/v2.0 (the tenant id \
             is on the Entra admin center's Overview, and in a token's tid); a shared issuer \
             names no tenant, so no token's iss equals it"
        ));
    }
    // A v1 issuer, `https://sts.…/TENANT/`: its tenant, and itself.
    let v1 = |named: &url::Url| {
        let tenant = named
            .path_segments()
            .and_then(|mut s| s.next())
            .unwrap_or_default();
        let sts = named.host_str().is_some_and(|h| h.starts_with("sts."));
        (sts && !tenant.is_empty()).then(|| (tenant.to_owned(), named.to_string()))
    };
    let named_v1 = seen
        .iter()
        .filter_map(|s| url::Url::parse(s).ok())
        .find_map(|s| v1(&s));
    if let Some((tenant, v1_issuer)) = v1(&url).or(named_v1) {
        // The v2 issuer is on the login host: the one given, unless it is
        // the v1 issuer's own.
        let login = if host.starts_with("sts.") {
            v2.to_owned()
        } else {
            url.origin().ascii_serialization()
        };
        return Some(format!(
            "Entra ID: {issuer} is the v1 endpoint (its tokens' iss is {v1_issuer}); give the \
             tenant's v2.0 issuer, \
             {login}/{tenant}/v2.0, and set accessTokenAcceptedVersion to 2 in the \
             application's manifest"
        ));
    }
    // A tenant's v2.0 issuer, `…/TENANT/v2.0`, that no tenant answers.
    let segments: Vec<&str> = url
        .path_segments()
        .map(Iterator::collect)
        .unwrap_or_default();
    let unanswered = ["answered 404", "answered 400", "AADSTS90002"]
        .iter()
        .any(|s| said.contains(s));
    if let [tenant, "v2.0"] | [tenant, "v2.0", ""] = segments[..]
        && unanswered
        && is_guid(tenant)
    {
        return Some(format!(
            "Entra ID: no tenant answers as {tenant}: check the tenant id (the Entra admin \
             center's Overview shows it, and a token's tid holds it)"
        ));
    }
    if said.contains("E0000015") {
        return Some(format!(
            "Okta: this custom authorization server needs API Access Management, which the org \
             does not have; give the org authorization server, --issuer {}, with --oauth-proxy",
            url.origin().ascii_serialization()
        ));
    }
    None
}

/// Whether `text` is a GUID (an Entra tenant's or object's id), in any case.
pub(crate) fn is_guid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    let lengths: Vec<usize> = groups.iter().map(|g| g.len()).collect();
    lengths == [8, 4, 4, 4, 12]
        && groups
            .iter()
            .all(|g| g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The JSON at `url`.
fn get(agent: &ureq::Agent, url: &str) -> Result<Value, String> {
    let mut answer = agent.get(url).call().map_err(|e| format!("{url}: {e}"))?;
    let status = answer.status().as_u16();
    let body = answer
        .body_mut()
        .with_config()
        .limit(MAX_BODY)
        .read_to_vec();
    if status != 200 {
        // The provider's own words, shown as text, never followed.
        let words: Value = body
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        let said = ["errorCode", "errorSummary", "error", "error_description"]
            .iter()
            .filter_map(|name| words[name].as_str())
            .map(|text| nexus_sdk::one_line_within(text, 200))
            .collect::<Vec<_>>();
        let said = if said.is_empty() {
            String::new()
        } else {
            format!(": {}", said.join(" "))
        };
        return Err(format!("{url} answered {status}{said}"));
    }
    let body = body.map_err(|e| format!("{url}: {e}"))?;
    let json = serde_json::from_slice(&body).map_err(|_| format!("{url} is not JSON"))?;
    Ok(json)
}

/// Where a well-known document of `url` is: the name inserted between its
/// origin and its path (RFC 8615, as RFC 8414 and RFC 9728 use it), with no
/// trailing `/`.
pub(crate) fn well_known(url: &str, name: &str) -> String {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let path_at = (url[after_scheme..].find('/')).map_or(url.len(), |i| after_scheme + i);
    let (origin, path) = url.split_at(path_at);
    format!("{origin}/.well-known/{name}{}", path.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_known_wrong_issuer_is_told_the_one_to_give() {
        for shared in ["common", "organizations", "consumers"] {
            let issuer = format!("https://login.microsoftonline.com/{shared}/v2.0");
            let fix = fixed_issuer(&issuer, "", &[]).unwrap_or_default();
            assert!(fix.contains("/<tenant id>/v2.0"), "{fix}");
        }
        let v1 = fixed_issuer("https://sts.windows.net/t-1/", "", &[]).unwrap_or_default();
        assert!(
            v1.contains("https://login.microsoftonline.com/t-1/v2.0"),
            "{v1}"
        );
        // The v1 authority, at any login host, named by the v1 issuer its
        // metadata names.
        for (given, fixed) in [
            (
                "https://login.microsoftonline.com/t-1/",
                "https://login.microsoftonline.com/t-1/v2.0",
            ),
            (
                "https://login.microsoftonline.us/t-1",
                "https://login.microsoftonline.us/t-1/v2.0",
            ),
            (
                "https://login.chinacloudapi.cn/t-1/",
                "https://login.chinacloudapi.cn/t-1/v2.0",
            ),
        ] {
            let seen = ["https://sts.windows.net/t-1/".to_owned()];
            let v1 = fixed_issuer(given, "", &seen).unwrap_or_default();
            assert!(
                v1.contains(fixed) && v1.contains("v1 endpoint"),
                "{given}: {v1}"
            );
        }
        let said = "https://acme.okta.com/oauth2/default/.well-known/openid-configuration answered 401: E0000015 You do not have permission";
        let okta =
            fixed_issuer("https://acme.okta.com/oauth2/default", said, &[]).unwrap_or_default();
        assert!(okta.contains("--issuer https://acme.okta.com,"), "{okta}");
        assert_eq!(
            fixed_issuer("https://login.example/t/v2.0", "answered 404", &[]),
            None
        );
        let tenant = "72f988bf-86f1-41af-91ab-2d7cd011db48";
        let given = format!("https://login.microsoftonline.com/{tenant}/v2.0");
        for said in [
            "x answered 404",
            "x answered 400: AADSTS90002: Tenant not found",
        ] {
            let fix = fixed_issuer(&given, said, &[]).unwrap_or_default();
            assert!(
                fix.contains(&format!("no tenant answers as {tenant}")),
                "{fix}"
            );
        }
        assert_eq!(fixed_issuer(&given, "x answered 500", &[]), None);
    }

    #[test]
    fn a_well_known_name_goes_between_the_origin_and_the_path() {
        let at = |url, name| well_known(url, name);
        assert_eq!(
            at("https://a.example", "x"),
            "https://a.example/.well-known/x"
        );
        assert_eq!(
            at("https://a.example/", "x"),
            "https://a.example/.well-known/x"
        );
        assert_eq!(
            at("https://a.example/t/1/", "x"),
            "https://a.example/.well-known/x/t/1"
        );
        assert_eq!(
            at("http://127.0.0.1:8080/mcp", "oauth-protected-resource"),
            "http://127.0.0.1:8080/.well-known/oauth-protected-resource/mcp"
        );
    }
}
