//! `authenticated_fetch` and [`Fetcher`]: upstream requests carrying the
//! resolved credential, with the SDK's own redirect handling and one
//! re-resolve on 401.

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use ureq::http::header::{
    AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, COOKIE, LOCATION, PROXY_AUTHORIZATION,
};
use ureq::http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Uri};

use crate::LOG_TARGET;
use crate::cache::TokenCache;
use crate::client::{NexusClient, require};
use crate::error::NexusError;
use crate::transport::{
    ReadError, form_urlencode, parse_http_url, read_capped, read_error, transport_error,
};
use crate::types::CachedToken;

/// Response headers: case-insensitive names, repeated headers kept.
pub type Headers = HeaderMap;

/// `(status, headers, body)`, as Python returns `(status_code, headers, body)`.
pub type FetchResponse = (u16, Headers, Vec<u8>);

/// Redirects followed before the next redirect answer is returned as it is.
pub const MAX_REDIRECTS: usize = 5;

/// The method, headers and body of an upstream request.
///
/// ```
/// use nexus_sdk::FetchOptions;
///
/// let options = FetchOptions::default()
///     .method("POST")
///     .header("Content-Type", "application/json")
///     .data(r#"{"title":"hi"}"#);
/// assert_eq!(options.method, "POST");
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct FetchOptions {
    /// Any method name (`PROPFIND` too); `""` means `GET`.
    pub method: String,
    /// Headers to send. The credential header replaces one of the same name.
    pub headers: Vec<(String, String)>,
    /// The request body, if any.
    pub data: Option<Vec<u8>>,
}

impl FetchOptions {
    /// Sets the method.
    pub fn method(mut self, method: &str) -> Self {
        self.method = method.to_owned();
        self
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Sets the body.
    pub fn data(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.data = Some(body.into());
        self
    }
}

impl fmt::Debug for FetchOptions {
    /// Header names only, and the body's length: values may be secrets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("FetchOptions")
            .field("method", &self.method)
            .field("headers", &names)
            .field(
                "data",
                &self.data.as_ref().map(|d| format!("{} bytes", d.len())),
            )
            .finish()
    }
}

/// The answer at the end of the redirects, and whether the request that
/// got it carried the credential.
struct FinalAnswer {
    response: FetchResponse,
    credentialed: bool,
}

/// An upstream request, checked and ready to send.
struct Outgoing {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Option<Vec<u8>>,
}

impl NexusClient {
    /// Sends a request to a provider's API with the workspace's credential
    /// and returns `(status, headers, body)`.
    ///
    /// Every HTTP status comes back as `Ok`; only transport failures are
    /// `Err` (`request_failed`, `timeout`), and bad input is `invalid_input`
    /// before anything is sent. On a 401 from an origin that received the
    /// credential, the cached token is dropped, a fresh one resolved, and the
    /// request sent once more. Redirects are followed
    /// up to 5 times; the credential, and the caller's `Authorization`,
    /// `Cookie` and `Proxy-Authorization`, go only to the origin of `url`.
    /// The body is read up to `max_upstream_body` bytes.
    ///
    /// ```no_run
    /// use nexus_sdk::{FetchOptions, NexusClient, NexusClientOptions, TokenCache};
    ///
    /// let client = NexusClient::new(NexusClientOptions::from_env()?)?;
    /// let cache = TokenCache::new();
    /// let (status, headers, body) = client.authenticated_fetch(
    ///     &cache, "ws-1", "github", "https://api.github.com/user", FetchOptions::default())?;
    /// println!("{status} {:?} {}", headers.get("content-type"), String::from_utf8_lossy(&body));
    /// # Ok::<(), nexus_sdk::NexusError>(())
    /// ```
    pub fn authenticated_fetch(
        &self,
        cache: &TokenCache,
        workspace_id: &str,
        provider: &str,
        url: &str,
        options: FetchOptions,
    ) -> Result<FetchResponse, NexusError> {
        require("workspace_id", workspace_id)?;
        require("provider", provider)?;
        let outgoing = outgoing(url, options)?;
        let token = self.get_cached_token(cache, workspace_id, provider)?;
        log::info!(target: LOG_TARGET, "Fetcher → {} {}", outgoing.method, without_query(&outgoing.uri));
        let answer = self.send_following_redirects(&outgoing, &token)?;
        // Only a 401 from an origin that got the credential rejects the token.
        if answer.response.0 != 401 || !answer.credentialed {
            return Ok(answer.response);
        }
        // Drop the rejected token, unless another thread already replaced it.
        cache.delete_if_token(workspace_id, provider, &token.access_token);
        let fresh = self.get_cached_token(cache, workspace_id, provider)?;
        Ok(self.send_following_redirects(&outgoing, &fresh)?.response)
    }

    /// A [`Fetcher`] bound to one workspace and provider.
    pub fn fetcher(&self, cache: Arc<TokenCache>, workspace_id: &str, provider: &str) -> Fetcher {
        Fetcher {
            client: self.clone(),
            cache,
            workspace_id: workspace_id.to_owned(),
            provider: provider.to_owned(),
        }
    }

    fn send_following_redirects(
        &self,
        first: &Outgoing,
        token: &CachedToken,
    ) -> Result<FinalAnswer, NexusError> {
        let inner = &*self.inner;
        let started = Instant::now();
        let mut method = first.method.clone();
        let mut uri = first.uri.clone();
        let mut body = first.body.clone();
        let mut headers = first.headers.clone();
        let mut hop = 0;
        loop {
            let same_origin = same_origin(&uri, &first.uri);
            if !same_origin {
                for name in [AUTHORIZATION, COOKIE, PROXY_AUTHORIZATION] {
                    headers.remove(name);
                }
            }
            let request =
                credentialed_request(&method, &uri, &headers, same_origin.then_some(token))?;
            // Every hop after the first shares what is left of the first one's time.
            let deadline = (hop > 0).then(|| started + inner.transport.timeout());
            let response = inner
                .transport
                .send_until(request, body.as_deref(), deadline)
                .map_err(transport_error)?;
            let status = response.status().as_u16();
            let next = match status {
                301 | 302 | 303 | 307 | 308 if hop < MAX_REDIRECTS => response
                    .headers()
                    .get(LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .and_then(|l| resolve_location(&uri, l)),
                _ => None,
            };
            let Some(next) = next else {
                let (parts, response_body) = response.into_parts();
                let bytes =
                    read_capped(response_body, inner.max_upstream_body).map_err(|e| match e {
                        ReadError::TooLarge => NexusError::new(
                            "request_failed",
                            format!(
                                "upstream answer is larger than the {}-byte cap",
                                inner.max_upstream_body
                            ),
                        ),
                        ReadError::Io(io) => read_error(io),
                    })?;
                return Ok(FinalAnswer {
                    response: (status, parts.headers, bytes),
                    credentialed: same_origin,
                });
            };
            if matches!(status, 301..=303) && method != Method::GET && method != Method::HEAD {
                method = Method::GET;
                body = None;
                headers.remove(CONTENT_TYPE);
                headers.remove(CONTENT_LENGTH);
            }
            uri = next;
            hop += 1;
        }
    }
}

/// Checks the caller's URL, method and headers.
fn outgoing(url: &str, options: FetchOptions) -> Result<Outgoing, NexusError> {
    let uri = parse_http_url(url, "url")?;
    let method = if options.method.is_empty() {
        Method::GET
    } else {
        Method::from_bytes(options.method.as_bytes())
            .map_err(|_| NexusError::invalid_input("method is not a valid HTTP method name"))?
    };
    let mut headers = HeaderMap::new();
    for (name, value) in &options.headers {
        let header = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| NexusError::invalid_input("a header name is not valid in HTTP"))?;
        let value = HeaderValue::from_str(value).map_err(|_| {
            NexusError::invalid_input(format!(
                "the value of header `{header}` holds characters HTTP cannot carry"
            ))
        })?;
        headers.append(header, value);
    }
    Ok(Outgoing {
        method,
        uri,
        headers,
        body: options.data,
    })
}

/// The request for one hop: the caller's headers, and the credential when
/// `token` is given (replacing a same-named header, or as a query parameter).
fn credentialed_request(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    token: Option<&CachedToken>,
) -> Result<Request<()>, NexusError> {
    let mut headers = headers.clone();
    let mut uri = uri.clone();
    match token {
        Some(token) if token.query_param.is_some() => {
            let name = token.query_param.as_deref().unwrap_or_default();
            uri = with_query_param(&uri, name, &token.access_token)?;
        }
        Some(token) => {
            // Checked when the token was resolved; checked again rather than trusted.
            let name = HeaderName::from_bytes(token.header_name.as_bytes()).map_err(|_| {
                NexusError::new(
                    "invalid_credentials",
                    "the credential header name is not valid",
                )
            })?;
            let mut value = HeaderValue::from_str(&token.header_value()).map_err(|_| {
                NexusError::new(
                    "invalid_credentials",
                    "the token cannot be sent in a header",
                )
            })?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        None => {}
    }
    let mut request = Request::builder().method(method.clone()).uri(uri);
    if let Some(map) = request.headers_mut() {
        *map = headers;
    }
    request
        .body(())
        .map_err(|_| NexusError::invalid_input("the request cannot be carried by HTTP"))
}

/// `uri` with `name=value` in its query, replacing any parameter of that name.
fn with_query_param(uri: &Uri, name: &str, value: &str) -> Result<Uri, NexusError> {
    let encoded_name = form_urlencode(&[(name, "")]);
    let encoded_name = encoded_name.trim_end_matches('=');
    let mut query: Vec<&str> = uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|pair| !pair.is_empty() && pair.split('=').next() != Some(encoded_name))
        .collect();
    let credential = form_urlencode(&[(name, value)]);
    query.push(&credential);
    let path_and_query = format!("{}?{}", uri.path(), query.join("&"));
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(
        path_and_query
            .parse()
            .map_err(|_| NexusError::invalid_input("url cannot carry the credential parameter"))?,
    );
    Uri::from_parts(parts)
        .map_err(|_| NexusError::invalid_input("url cannot carry the credential parameter"))
}

/// Whether two URLs share scheme, host and port: where a credential may go.
fn same_origin(a: &Uri, b: &Uri) -> bool {
    let port = |uri: &Uri, scheme: &str| {
        uri.port_u16()
            .unwrap_or(if scheme.eq_ignore_ascii_case("https") {
                443
            } else {
                80
            })
    };
    let (scheme_a, scheme_b) = (a.scheme_str().unwrap_or(""), b.scheme_str().unwrap_or(""));
    scheme_a.eq_ignore_ascii_case(scheme_b)
        && a.host()
            .unwrap_or("")
            .eq_ignore_ascii_case(b.host().unwrap_or(""))
        && port(a, scheme_a) == port(b, scheme_b)
}

/// The absolute URL a `Location` names, relative to `base`; `None` when it
/// is not a usable http(s) URL.
pub(crate) fn resolve_location(base: &Uri, location: &str) -> Option<Uri> {
    let location = location.trim();
    if location.is_empty() {
        // An empty reference is the base URL itself: no place to go.
        return None;
    }
    let absolute = if location.contains("://") {
        location.to_owned()
    } else if let Some(rest) = location.strip_prefix("//") {
        format!("{}://{rest}", base.scheme_str()?)
    } else {
        let authority = base.authority()?.as_str();
        let path = if location.starts_with('/') {
            location.to_owned()
        } else if location.starts_with('?') {
            format!("{}{location}", base.path())
        } else {
            let dir = base.path().rsplit_once('/').map_or("", |(dir, _)| dir);
            format!("{dir}/{location}")
        };
        format!("{}://{authority}{path}", base.scheme_str()?)
    };
    let uri: Uri = absolute.parse().ok()?;
    let http = matches!(uri.scheme_str(), Some(s) if s.eq_ignore_ascii_case("http") || s.eq_ignore_ascii_case("https"));
    (http && uri.host().is_some_and(|h| !h.is_empty())).then_some(uri)
}

/// The URL without its query, for logs: a query may carry a credential.
fn without_query(uri: &Uri) -> String {
    format!(
        "{}://{}{}",
        uri.scheme_str().unwrap_or(""),
        uri.authority().map_or("", |a| a.as_str()),
        uri.path()
    )
}

/// A client, a cache and a (workspace, provider) bound together: the Rust
/// twin of TypeScript's `createFetcher` and Go's `AuthenticatedHTTPClient`.
/// Cheap to clone, `Send + Sync`.
///
/// ```no_run
/// use std::sync::Arc;
/// use nexus_sdk::{NexusClient, NexusClientOptions, TokenCache};
///
/// let client = NexusClient::new(NexusClientOptions::from_env()?)?;
/// let github = client.fetcher(Arc::new(TokenCache::new()), "ws-1", "github");
/// let (status, _, body) = github.get("https://api.github.com/user")?;
/// # let _ = (status, body);
/// # Ok::<(), nexus_sdk::NexusError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Fetcher {
    client: NexusClient,
    cache: Arc<TokenCache>,
    workspace_id: String,
    provider: String,
}

impl Fetcher {
    /// [`NexusClient::authenticated_fetch`] for the bound workspace and provider.
    pub fn fetch(&self, url: &str, options: FetchOptions) -> Result<FetchResponse, NexusError> {
        self.client.authenticated_fetch(
            &self.cache,
            &self.workspace_id,
            &self.provider,
            url,
            options,
        )
    }

    /// A `GET` of `url`.
    pub fn get(&self, url: &str) -> Result<FetchResponse, NexusError> {
        self.fetch(url, FetchOptions::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(s: &str) -> Uri {
        s.parse().unwrap()
    }

    #[test]
    fn locations() {
        let base = uri("https://api.example/v1/items?page=2");
        let resolved = |l: &str| resolve_location(&base, l).map(|u| u.to_string());
        assert_eq!(
            resolved("https://other.example/x").as_deref(),
            Some("https://other.example/x")
        );
        assert_eq!(
            resolved("//cdn.example/y").as_deref(),
            Some("https://cdn.example/y")
        );
        assert_eq!(
            resolved("/v2/items").as_deref(),
            Some("https://api.example/v2/items")
        );
        assert_eq!(
            resolved("other").as_deref(),
            Some("https://api.example/v1/other")
        );
        assert_eq!(
            resolved("?page=3").as_deref(),
            Some("https://api.example/v1/items?page=3")
        );
        for bad in [
            "",
            "  ",
            "ftp://x/",
            "javascript:alert(1)://",
            "http://",
            "http://a b/",
            "https:///x",
        ] {
            assert_eq!(resolved(bad), None, "{bad}");
        }
    }

    #[test]
    fn origins() {
        assert!(same_origin(
            &uri("https://A.example/x"),
            &uri("HTTPS://a.example:443/y")
        ));
        assert!(same_origin(
            &uri("http://a.example/"),
            &uri("http://a.example:80/?q")
        ));
        assert!(!same_origin(
            &uri("https://a.example/"),
            &uri("http://a.example/")
        ));
        assert!(!same_origin(
            &uri("http://a.example/"),
            &uri("http://a.example:8080/")
        ));
        assert!(!same_origin(
            &uri("http://a.example/"),
            &uri("http://b.example/")
        ));
        assert!(!same_origin(
            &uri("http://a.example/"),
            &uri("http://a.example.evil/")
        ));
    }

    #[test]
    fn query_credential_replaces_a_same_named_parameter() {
        let u =
            with_query_param(&uri("https://api.example/x?key=old&q=a+b"), "key", "t&1").unwrap();
        assert_eq!(u.to_string(), "https://api.example/x?q=a+b&key=t%261");
        let u = with_query_param(&uri("https://api.example/x"), "api key", "t").unwrap();
        assert_eq!(u.to_string(), "https://api.example/x?api+key=t");
    }

    #[test]
    fn caller_input_is_checked() {
        let bad = [
            ("not a url", FetchOptions::default()),
            ("https://x/", FetchOptions::default().method("GET X")),
            (
                "https://x/",
                FetchOptions::default().header("Bad Name", "v"),
            ),
            (
                "https://x/",
                FetchOptions::default().header("X-Ok", "v\r\nX-Evil: 1"),
            ),
        ];
        for (url, options) in bad {
            let err = outgoing(url, options).err().unwrap();
            assert_eq!(err.code, "invalid_input");
            assert!(!err.message.contains("Evil"));
        }
        let ok = outgoing("https://x/", FetchOptions::default().method("PROPFIND"))
            .ok()
            .unwrap();
        assert_eq!(ok.method.as_str(), "PROPFIND");
    }

    #[test]
    fn options_debug_hides_header_values() {
        let options = FetchOptions::default()
            .header("Authorization", "Bearer mine")
            .data("body");
        let debug = format!("{options:?}");
        assert!(
            !debug.contains("mine") && debug.contains("Authorization") && debug.contains("4 bytes")
        );
    }
}
