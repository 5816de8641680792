//! Client ID metadata documents (`--oauth-proxy`; the OAuth draft
//! `client-id-metadata-document`, MCP's authorization of 2025-11-25 on):
//! a host whose client id is an https URL is described by the JSON document
//! at that URL, fetched when it asks to authorize. The URL is a stranger's
//! choice, so the fetch is bounded as such a fetch must be: https, to
//! public addresses only (those checked are those connected to: the check
//! is the resolver's, no second lookup can answer otherwise), no redirect,
//! [`MOST`] bytes and [`ASK`] at most, [`AT_ONCE`] at once on a replica,
//! a quarter of those for the hosts of one address (what an attacker
//! cannot multiply as cheaply as ports or subdomains); a full replica says
//! to try again. A good document is kept as its `Cache-Control` says,
//! within [`KEPT_AT_LEAST`] and [`KEPT_AT_MOST`]. Its `client_id` is the
//! URL itself; the rest is read as a registration is ([`registered`](super::client::registered)). `--oauth-client-document-origin` names origins
//! trusted past those bounds (a host inside the network, or a loopback
//! one in development): http, and private addresses, there.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Deserialize;
use ureq::unversioned::transport::DefaultConnector;

use super::client::{Asked, Client, documented};
use crate::addresses::PublicOnly;

/// The most a document may weigh.
const MOST: u64 = 5 << 10;

/// The most a document's fetch may take.
const ASK: Duration = Duration::from_secs(5);

/// The most documents fetched at once on a replica: past it, a request is
/// refused, so a flood of client ids costs a bounded number of fetches.
const AT_ONCE: usize = 16;

/// The most of those the hosts of one address hold at once: a quarter, so
/// that one address's slow documents (whatever its ports and names) leave
/// every other host's sign-in three quarters of the slots.
const PER_ADDRESS: usize = AT_ONCE / 4;

/// The least and the most a good document is kept, whatever its
/// `Cache-Control` says: kept, a host's sign-ins fetch it once a minute at
/// most; past the most, a changed document is read again.
const KEPT_AT_LEAST: Duration = Duration::from_secs(60);
const KEPT_AT_MOST: Duration = Duration::from_secs(3600);

/// The most documents kept at once.
const KEPT: usize = 1024;

/// How many documents the hosts of each address are being fetched for.
type Fetching = Arc<Mutex<HashMap<String, usize>>>;

/// One address's fetch under way: its count, given back when dropped.
struct Held {
    fetching: Fetching,
    origin: String,
}

/// Why a document's client is not had: the replica is busy (try again),
/// or the document cannot be used (its why, for the log).
#[derive(Debug, PartialEq)]
pub(crate) enum Unfetched {
    Busy(String),
    Unusable(String),
}

impl From<String> for Unfetched {
    fn from(why: String) -> Unfetched {
        Unfetched::Unusable(why)
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut fetching = self.fetching.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = fetching.get_mut(&self.origin) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                fetching.remove(&self.origin);
            }
        }
    }
}

/// A client ID metadata document: its own URL, and client metadata.
#[derive(Deserialize)]
struct Document {
    client_id: String,
    #[serde(flatten)]
    metadata: Asked,
}

/// The fetcher of client documents, and the origins it trusts.
pub(crate) struct Documents {
    agent: ureq::Agent,
    trusted: Arc<Vec<String>>,
    at_once: Arc<tokio::sync::Semaphore>,
    fetching: Fetching,
    kept: Mutex<HashMap<String, (Client, Instant)>>,
}

impl Documents {
    /// A fetcher trusting the origins `trusted` past the public https rule.
    pub(crate) fn new(trusted: Vec<String>) -> Documents {
        let config = crate::http::config(ASK).build();
        let trusted = Arc::new(trusted);
        let resolver = PublicOnly::Documents(Arc::clone(&trusted));
        Documents {
            agent: ureq::Agent::with_parts(config, DefaultConnector::default(), resolver),
            trusted,
            at_once: Arc::new(tokio::sync::Semaphore::new(AT_ONCE)),
            fetching: Fetching::default(),
            kept: Mutex::default(),
        }
    }

    /// A fetch for the hosts of `address`, unless they hold [`PER_ADDRESS`] already.
    fn hold(&self, origin: &str) -> Option<Held> {
        let mut fetching = self.fetching.lock().unwrap_or_else(|e| e.into_inner());
        let count = fetching.entry(origin.to_owned()).or_default();
        if *count >= PER_ADDRESS {
            return None;
        }
        *count += 1;
        let fetching = Arc::clone(&self.fetching);
        let origin = origin.to_owned();
        Some(Held { fetching, origin })
    }

    /// The client the document at `id` describes (kept, or fetched), or
    /// why not: busy, or why it cannot be used (for the log: the person's
    /// page says only that).
    pub(crate) async fn client(&self, id: &str) -> Result<Client, Unfetched> {
        let url = url::Url::parse(id).map_err(|_| "the client id is not a URL".to_owned())?;
        let origin = url.origin().ascii_serialization();
        let trusted = self.trusted.contains(&origin);
        if url.scheme() != "https" && !trusted {
            return Err(Unfetched::Unusable(format!(
                "a client id URL is https (a host inside your network, or on loopback in \
                 development: --oauth-client-document-origin {origin})"
            )));
        }
        let credentials = !url.username().is_empty() || url.password().is_some();
        if url.path() == "/" || url.fragment().is_some() || credentials {
            return Err("a client id URL has a path, and no fragment or credentials".to_owned())?;
        }
        if dot_segments(id) {
            return Err("a client id URL has no . or .. segment".to_owned())?;
        }
        if let Some(client) = self.recalled(id) {
            return Ok(client);
        }
        let address = address_of(&url).await?;
        let Some(_held) = self.hold(&address) else {
            return Err(Unfetched::Busy(format!(
                "{PER_ADDRESS} client documents of hosts at {address} are being fetched already \
                 (the hosts of one address hold at most {PER_ADDRESS} of the {AT_ONCE} fetches \
                 at once)"
            )));
        };
        let Ok(_permit) = self.at_once.try_acquire() else {
            let why = format!("{AT_ONCE} client documents are being fetched already");
            return Err(Unfetched::Busy(why));
        };
        let (agent, at) = (self.agent.clone(), id.to_owned());
        let body = tokio::task::spawn_blocking(move || fetched(&agent, &at)).await;
        let (body, max_age) = body.map_err(|_| "the fetch stopped".to_owned())??;
        let document: Document = serde_json::from_slice(&body)
            .map_err(|_| "the document is not a JSON object of client metadata".to_owned())?;
        if document.client_id != id {
            return Err("the document's client_id is not its own URL".to_owned())?;
        }
        let client = documented(document.metadata)
            .map_err(|refused| format!("the document: {}", refused.why))?;
        self.keep(id, &client, max_age);
        Ok(client)
    }

    /// The key set a `private_key_jwt` client's document names at `uri`,
    /// fetched as bounded as a document is (public addresses unless
    /// trusted, no redirect, [`MOST`] bytes, [`ASK`]), or why not.
    pub(crate) async fn keys(&self, uri: &str) -> Result<jsonwebtoken::jwk::JwkSet, String> {
        let url = url::Url::parse(uri).map_err(|_| "its jwks_uri is not a URL".to_owned())?;
        let trusted = self.trusted.contains(&url.origin().ascii_serialization());
        if url.scheme() != "https" && !trusted {
            return Err("its jwks_uri is https (or a trusted origin's)".to_owned());
        }
        let Ok(_permit) = self.at_once.try_acquire() else {
            return Err(format!(
                "{AT_ONCE} client documents are being fetched already"
            ));
        };
        let (agent, at) = (self.agent.clone(), uri.to_owned());
        let body = tokio::task::spawn_blocking(move || fetched(&agent, &at)).await;
        let (body, _) = body.map_err(|_| "the fetch stopped".to_owned())??;
        serde_json::from_slice(&body).map_err(|_| "its jwks_uri holds no JWK set".to_owned())
    }

    /// The client kept for `id`, while it may be.
    fn recalled(&self, id: &str) -> Option<Client> {
        let kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        let (client, until) = kept.get(id)?;
        (*until > Instant::now()).then(|| client.clone())
    }

    /// `client` kept for `id` for `max_age` (its `Cache-Control`'s) within
    /// [`KEPT_AT_LEAST`] and [`KEPT_AT_MOST`]; at most [`KEPT`] at once.
    fn keep(&self, id: &str, client: &Client, max_age: Option<Duration>) {
        let life = max_age
            .unwrap_or_default()
            .clamp(KEPT_AT_LEAST, KEPT_AT_MOST);
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        kept.retain(|_, (_, until)| *until > now);
        if kept.len() < KEPT {
            kept.insert(id.to_owned(), (client.clone(), now + life));
        }
    }
}

/// What the fairness bound keys `url`'s host on: the address it resolves
/// to first, an IPv6 one by its /64 (what one host is given); or why its
/// host does not resolve.
async fn address_of(url: &url::Url) -> Result<String, Unfetched> {
    let host = url.host_str().unwrap_or_default().trim_matches(['[', ']']);
    let port = url.port_or_known_default().unwrap_or(443);
    let found = tokio::time::timeout(ASK, tokio::net::lookup_host((host, port))).await;
    let first = found
        .ok()
        .and_then(Result::ok)
        .and_then(|mut found| found.next());
    let Some(first) = first else {
        return Err(Unfetched::Unusable("its host does not resolve".to_owned()));
    };
    Ok(match first.ip() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let [a, b, c, d, ..] = v6.segments();
            format!("{a:x}:{b:x}:{c:x}:{d:x}::/64")
        }
    })
}

/// Whether the client id `id`, as written, has a `.` or `..` path segment
/// (a percent-encoded dot too), which the URL crate would resolve away
/// before its checks, while the fetch and the document name it as written.
fn dot_segments(id: &str) -> bool {
    let after_scheme = id.split_once("://").map_or(id, |(_, rest)| rest);
    let path = after_scheme.split_once('/').map_or("", |(_, path)| path);
    let path = path.split(['?', '#']).next().unwrap_or_default();
    path.split('/').any(|segment| {
        let segment = segment.to_ascii_lowercase().replace("%2e", ".");
        segment == "." || segment == ".."
    })
}

/// The body of the document at `url` and how long its `Cache-Control`
/// lets it be kept (`max-age`; none for `no-store`, `no-cache` or none
/// said), or why not.
fn fetched(agent: &ureq::Agent, url: &str) -> Result<(Vec<u8>, Option<Duration>), String> {
    let asked = agent.get(url).header("Accept", "application/json").call();
    let mut answer = asked.map_err(|e| match e {
        ureq::Error::Timeout(_) => format!("it did not answer within {} s", ASK.as_secs()),
        ureq::Error::Other(why) => why.to_string(),
        e => format!("it could not be fetched: {e}"),
    })?;
    match answer.status().as_u16() {
        200 => {}
        300..=399 => return Err("it redirects: a document is at its client id".to_owned()),
        status => return Err(format!("it answers {status}")),
    }
    let said = answer.headers().get_all("cache-control").iter();
    let said: Vec<&str> = said.filter_map(|v| v.to_str().ok()).collect();
    let kept = max_age(&said.join(","));
    let body = answer.body_mut().with_config().limit(MOST).read_to_vec();
    let body = body.map_err(|e| match e {
        ureq::Error::BodyExceedsLimit(_) => format!("it weighs more than {MOST} bytes"),
        e => format!("it could not be read: {e}"),
    })?;
    Ok((body, kept))
}

/// `Cache-Control`'s `max-age` (RFC 9111 §5.2.2.1), none when `no-store`
/// or `no-cache` says not to keep it.
fn max_age(cache_control: &str) -> Option<Duration> {
    let directives = cache_control
        .split(',')
        .map(|d| d.trim().to_ascii_lowercase());
    let mut age = None;
    for directive in directives {
        match directive.split_once('=') {
            _ if directive == "no-store" || directive == "no-cache" => return None,
            Some(("max-age", seconds)) => age = seconds.trim_matches('"').parse().ok(),
            _ => {}
        }
    }
    age.map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_id_with_a_dot_segment_is_none() {
        for dotted in [
            "https://h.example/./client.json",
            "https://h.example/a/../client.json",
            "https://h.example/a/%2e%2E/client.json",
            "https://h.example/a/%2e",
            "https://h.example/..",
        ] {
            assert!(dot_segments(dotted), "{dotted}");
        }
        for plain in [
            "https://h.example/client.json",
            "https://h.example/a.b/..c/client.json?x=/../",
            "https://h.example/.well-known/client",
        ] {
            assert!(!dot_segments(plain), "{plain}");
        }
    }

    #[test]
    fn one_address_holds_a_quarter_of_the_fetches_and_gives_them_back() {
        let documents = Documents::new(Vec::new());
        let held: Vec<Held> = (0..PER_ADDRESS)
            .map(|_| documents.hold("203.0.113.7").expect("its share"))
            .collect();
        assert!(documents.hold("203.0.113.7").is_none(), "past its share");
        assert!(
            documents.hold("198.51.100.1").is_some(),
            "another address's own"
        );
        drop(held);
        assert!(documents.hold("203.0.113.7").is_some(), "given back");
        assert!(
            documents.fetching.lock().unwrap().len() <= 1,
            "nothing kept for none"
        );
    }

    #[tokio::test]
    async fn the_hosts_of_one_address_are_one_whatever_their_ports_and_an_ipv6_one_its_64() {
        async fn at(url: &str) -> Result<String, Unfetched> {
            address_of(&url::Url::parse(url).unwrap()).await
        }
        for same in [
            "http://127.0.0.1:1/a",
            "http://127.0.0.1:2/a",
            "https://127.0.0.1/a",
        ] {
            assert_eq!(at(same).await.unwrap(), "127.0.0.1", "{same}");
        }
        assert_eq!(
            at("http://[2001:db8:1:2:3::9]:8/a").await.unwrap(),
            "2001:db8:1:2::/64"
        );
        let none = at("https://no-such-host.invalid/a").await;
        assert!(matches!(none, Err(Unfetched::Unusable(_))), "{none:?}");
    }

    #[test]
    fn a_documents_cache_control_says_how_long_it_is_kept_within_bounds() {
        assert_eq!(
            max_age("public, max-age=600"),
            Some(Duration::from_secs(600))
        );
        assert_eq!(
            max_age("max-age=\"30\", must-revalidate"),
            Some(Duration::from_secs(30))
        );
        assert_eq!(max_age("max-age=600, no-store"), None);
        assert_eq!(max_age("no-cache"), None);
        assert_eq!(max_age(""), None);
        let documents = Documents::new(Vec::new());
        let client = documented(
            serde_json::from_value(serde_json::json!(
                {"client_name": "Doc", "redirect_uris": ["https://h.example/cb"]}
            ))
            .unwrap(),
        )
        .unwrap();
        documents.keep("https://h.example/c.json", &client, Some(Duration::ZERO));
        assert_eq!(
            documents.recalled("https://h.example/c.json"),
            Some(client),
            "a floor"
        );
        assert_eq!(documents.recalled("https://h.example/other.json"), None);
    }
}
