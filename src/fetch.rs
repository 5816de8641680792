//! The upstream side of `authenticated_fetch`: [`FetchOptions`], the checked
//! request, the credential applied to it, and redirects followed with the
//! credential kept on its origin.

use std::fmt;
use std::time::{Duration, SystemTime};

use ureq::http::header::{
    AUTHORIZATION, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, COOKIE, HOST,
    PROXY_AUTHORIZATION, TRANSFER_ENCODING,
};
use ureq::http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Uri};

use crate::budget::{Budget, FETCH_TIMEOUT, check_timeout};
use crate::echo::{self, Form};
use crate::error::NexusError;
use crate::redact::WITHHELD;
use crate::redirect::{self, BODY_HEADERS, Hop, Policy};
use crate::token::CachedToken;
use crate::transport::{Transport, read_capped};
use crate::url::{Origin, http_target, with_query_pairs, with_query_param};

/// Response headers: case-insensitive names, repeated headers kept (the
/// [`http`](https://docs.rs/http/1) crate's `HeaderMap`).
pub type Headers = HeaderMap;

/// An upstream answer as the design card and Python's SDK give it:
/// `(status, headers, body)`, the body read whole (at most the client's
/// `max_upstream_body`). Every status is an answer, not an error.
///
/// ```
/// # use nexus_gateway_fake::{FakeGateway, FakeProvider, FakeUpstream};
/// # use nexus_sdk::{NexusClient, NexusClientOptions, TokenCache};
/// # let (gateway, upstream) = (FakeGateway::start(), FakeUpstream::start());
/// # gateway.add_provider("ws-1", "github", FakeProvider::oauth2("gho_x").api_base_url(&upstream.url()));
/// # let client = NexusClient::new(NexusClientOptions::new(gateway.url()))?;
/// # let cache = TokenCache::new();
/// # let url = format!("{}/user", upstream.url());
/// let (status, headers, body) =
///     client.authenticated_fetch(&cache, "ws-1", "github", &url, Default::default())?;
/// assert_eq!(status, 200);
/// assert!(headers.contains_key("content-type"));
/// let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
/// # let _ = json;
/// # Ok::<(), nexus_sdk::NexusError>(())
/// ```
pub type FetchResponse = (u16, Headers, Vec<u8>);

/// The `Content-Type` of a body sent without one, as Python's urllib and
/// curl `-d` send it.
const DEFAULT_BODY_TYPE: &str = "application/x-www-form-urlencoded";

/// The header the SDK adds to an answer to name what
/// [`FetchOptions::withhold_credential_echo`] withheld of it: the names of
/// the headers that echoed a credential, and `body`. An answer's own
/// header of this name is removed first: only the SDK sets it.
pub const X_NEXUS_WITHHELD: &str = "x-nexus-withheld";

/// The header the SDK adds to an answer that came from another origin
/// than the URL's after a redirect: that origin (so no one reads it as the
/// provider's own). An answer's own header of this name is removed first:
/// only the SDK sets it.
pub const X_NEXUS_REDIRECTED_TO: &str = "x-nexus-redirected-to";

/// What replaces a body that could not be checked for an echo within the
/// call's time.
const UNCHECKED: &str =
    "<withheld: the text could not be checked for a credential within the call's time limit>";

/// The method, headers and body of an upstream request.
///
/// Built with chained setters; names and values may be `&str`, `String` or
/// the [`http`](https://docs.rs/http/1) crate's own types:
///
/// ```
/// use nexus_sdk::FetchOptions;
/// use nexus_sdk::http::{Method, header};
///
/// let options = FetchOptions::default()
///     .method(Method::POST)
///     .header(header::CONTENT_TYPE, "application/json")
///     .data(r#"{"title":"hi"}"#);
/// assert_eq!(options.method, "POST");
/// ```
#[non_exhaustive]
#[derive(Clone, Default)]
pub struct FetchOptions {
    /// Any method name (`PROPFIND` too); `""` means `GET`.
    pub method: String,
    /// Headers to send. The credential header replaces one of the same name.
    pub headers: Vec<(String, String)>,
    /// The request body, if any. Sent without a caller `Content-Type`, it
    /// goes as `application/x-www-form-urlencoded` (Python's and curl's default).
    pub data: Option<Vec<u8>>,
    /// Query parameters appended to the URL's own, form-encoded.
    pub query: Vec<(String, String)>,
    /// The most this request may take, redirects and a 401's second try
    /// each within it, instead of the client's `timeout`.
    pub timeout: Option<Duration>,
    /// Withhold an answer that echoes the credential: see
    /// [`withhold_credential_echo`](Self::withhold_credential_echo).
    pub withhold_credential_echo: bool,
    /// For a caller that shows no more than the body's first this many
    /// bytes (a tool that cuts what a model reads): echoes are looked for
    /// there, and as far again past it, where an encoded credential the
    /// cut splits would end; the rest of the body comes back unscanned, and
    /// must not be shown. `None` (the default): the whole body is scanned.
    ///
    /// ```
    /// let mut options = nexus_sdk::FetchOptions::default().withhold_credential_echo(true);
    /// options.withhold_within = Some(64 << 10); // the model reads 64 KiB
    /// ```
    pub withhold_within: Option<usize>,
    /// `json` was given a value `serde_json` cannot write.
    unwritable_json: bool,
    /// [`before_redirect`](Self::before_redirect)'s check.
    before_redirect: Option<RedirectCheck>,
}

/// What decides a redirect the call would follow: its method and URL as
/// they would be sent; an error ends the call.
type RedirectCheck = std::sync::Arc<dyn Fn(&Method, &Uri) -> Result<(), NexusError> + Send + Sync>;

impl FetchOptions {
    /// Asks `check` before each redirect the call would follow (the
    /// credential goes only to one on the first request's origin), with
    /// the hop's method after the redirect's rules and its URL; an error of
    /// `check` ends the call with it, and nothing is sent to that hop. A
    /// policy decides each hop so, and an address rule bounds each.
    #[must_use]
    pub fn before_redirect(
        mut self,
        check: impl Fn(&Method, &Uri) -> Result<(), NexusError> + Send + Sync + 'static,
    ) -> Self {
        self.before_redirect = Some(std::sync::Arc::new(check));
        self
    }

    /// Sets the method: `"POST"`, `Method::POST`, `"PROPFIND"`…
    #[must_use]
    pub fn method(mut self, method: impl AsRef<str>) -> Self {
        self.method = method.as_ref().to_owned();
        self
    }

    /// Adds a header: `("Accept", "…")` or `(header::ACCEPT, "…")`.
    #[must_use]
    pub fn header(mut self, name: impl AsRef<str>, value: impl AsRef<str>) -> Self {
        self.headers
            .push((name.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    /// Sets the body.
    #[must_use]
    pub fn data(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.data = Some(body.into());
        self
    }

    /// Appends `name=value` to the URL's query, form-encoded.
    #[must_use]
    pub fn query(mut self, name: impl AsRef<str>, value: impl AsRef<str>) -> Self {
        self.query
            .push((name.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    /// Bounds this request by `timeout` instead of the client's.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// For an answer that goes on to a model (an MCP tool's result): a body
    /// that echoes the credential, as it is or in any form of the echo class
    /// (the closed list in [`guide::guarantees`](crate::guide::guarantees), "The echo class": the URL,
    /// string, HTML and mail escapes, hex, decimal byte lists, base64, UTF-16,
    /// nested up to three times), is replaced by
    /// `<withheld: the text echoed a credential>`, and a header that echoes
    /// it is dropped. Echo services and some APIs' error pages send the
    /// request's `Authorization` back.
    ///
    /// ```
    /// let options = nexus_sdk::FetchOptions::default().withhold_credential_echo(true);
    /// assert!(options.withhold_credential_echo);
    /// ```
    #[must_use]
    pub fn withhold_credential_echo(mut self, yes: bool) -> Self {
        self.withhold_credential_echo = yes;
        self
    }

    /// Sets the body to `body` as JSON, with `Content-Type: application/json`
    /// (replacing a `Content-Type` set before).
    ///
    /// A value `serde_json` cannot write (a map with non-string keys) leaves
    /// the body unset and makes the request `invalid_input` when sent.
    #[cfg(feature = "serde")]
    #[must_use]
    pub fn json<T: serde::Serialize + ?Sized>(mut self, body: &T) -> Self {
        self.headers
            .retain(|(name, _)| !name.eq_ignore_ascii_case("content-type"));
        self.data = serde_json::to_vec(body).ok();
        self.unwritable_json = self.data.is_none();
        self.header("content-type", "application/json")
    }
}

impl fmt::Debug for FetchOptions {
    /// Header names only, and the body's length: values may be secrets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        let data = self.data.as_ref().map(|d| format!("{} bytes", d.len()));
        f.debug_struct("FetchOptions")
            .field("method", &self.method)
            .field("headers", &names)
            .field("data", &data)
            .field("query", &self.query.len())
            .field("timeout", &self.timeout)
            .field("withhold_credential_echo", &self.withhold_credential_echo)
            .field("withhold_within", &self.withhold_within)
            .finish()
    }
}

/// An upstream request, checked and ready to send.
pub(crate) struct Outgoing {
    pub(crate) method: Method,
    pub(crate) uri: Uri,
    pub(crate) origin: Origin,
    pub(crate) headers: HeaderMap,
    body: Option<Vec<u8>>,
    /// `FetchOptions::timeout`: the whole call's budget, if set.
    pub(crate) timeout: Option<Duration>,
    /// `FetchOptions::withhold_credential_echo`: how much of the body to
    /// scan, if it is set.
    withhold: Option<usize>,
    before_redirect: Option<RedirectCheck>,
}

/// Checks the caller's URL, method and headers, before anything is resolved.
pub(crate) fn prepare(url: &str, options: FetchOptions) -> Result<Outgoing, NexusError> {
    if options.withhold_credential_echo && !echo::AVAILABLE {
        let why = "FetchOptions::withhold_credential_echo(true) needs this crate's `echo` \
                   feature, which this build leaves out: nothing was resolved or sent";
        return Err(NexusError::invalid_input(why));
    }
    if options.unwritable_json {
        let why = "the value given to FetchOptions::json cannot be written as JSON";
        return Err(NexusError::invalid_input(why));
    }
    if let Some(timeout) = options.timeout {
        check_timeout(timeout, 1, FETCH_TIMEOUT)?;
    }
    let (uri, origin) = http_target(url, "url")?;
    let uri = with_query_pairs(uri, &options.query)?;
    let method = Some(options.method.as_str()).filter(|m| !m.is_empty());
    let method = Method::from_bytes(method.unwrap_or("GET").as_bytes())
        .map_err(|_| NexusError::invalid_input("method is not a valid HTTP method name"))?;
    let mut headers = HeaderMap::new();
    for (name, value) in &options.headers {
        let header = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| NexusError::invalid_input("a header name is not valid in HTTP"))?;
        let why = || format!("the value of header `{header}` holds characters HTTP cannot carry");
        let value = HeaderValue::from_str(value).map_err(|_| NexusError::invalid_input(why()))?;
        headers.append(header, value);
    }
    if options.data.is_some() && !headers.contains_key(CONTENT_TYPE) {
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(DEFAULT_BODY_TYPE));
    }
    let span = (options.withhold_within).map_or(usize::MAX, |n| n.saturating_mul(2));
    Ok(Outgoing {
        method,
        uri,
        origin,
        headers,
        body: options.data,
        timeout: options.timeout,
        withhold: (options.withhold_credential_echo).then_some(span),
        before_redirect: options.before_redirect,
    })
}

/// The rules for the parts of a request to `origin` other than its URL,
/// under a restricted credential scope: a caller `Host` header must name
/// the URL's own authority (else it would move the credential to another
/// virtual host behind the same address), and a method that reflects the
/// request back (`TRACE`, `TRACK`, in any case; RFC 9110 §9.3.8, WHATWG
/// Fetch's forbidden methods) never carries a credential.
pub(crate) fn check_scoped_parts(
    method: &Method,
    origin: &Origin,
    headers: &HeaderMap,
) -> Result<(), NexusError> {
    let method = method.as_str().to_ascii_uppercase();
    if matches!(method.as_str(), "TRACE" | "TRACK") {
        let why = "echoes the request, credential included, back in its answer: no credential \
                   is sent on it";
        return Err(NexusError::invalid_input(format!("{method} {why}")));
    }
    let scheme = origin.scheme();
    for value in headers.get_all(HOST) {
        let named = value
            .to_str()
            .ok()
            .map(str::trim)
            .filter(|host| is_host_and_port(host))
            .and_then(|host| format!("{scheme}://{host}/").parse::<Uri>().ok())
            .filter(|uri| uri.path() == "/" && uri.query().is_none())
            .and_then(|uri| Origin::of(&uri));
        if named.as_ref() != Some(origin) {
            return Err(NexusError::origin_not_allowed(format!(
                "a Host header naming another authority than {origin} would send the \
                 credential elsewhere; leave Host to the URL"
            )));
        }
    }
    Ok(())
}

/// Whether a `Host` value may name an authority: not empty, and no
/// userinfo (`@`), path, query, fragment (`/`, `\`, `?`, `#`) or white
/// space; the URL parse it then goes through refuses the rest (a bad port
/// or character).
pub(crate) fn is_host_and_port(value: &str) -> bool {
    let apart = |b: u8| b"@/\\?#".contains(&b) || b.is_ascii_whitespace();
    !value.is_empty() && !value.bytes().any(apart)
}

/// Sends `first` with `token`, following up to [`MAX_REDIRECTS`](crate::MAX_REDIRECTS) redirects:
/// the answer at the end, and whether the request that got it carried the
/// credential.
/// The credential, and the caller's `Authorization`, `Cookie` and
/// `Proxy-Authorization`, go only to `first`'s origin; once a hop leaves it
/// they are gone for the rest of the chain, and a redirect elsewhere whose
/// URL holds the credential in any form is not followed.
pub(crate) fn send_following_redirects(
    transport: &Transport,
    max_body: usize,
    first: &Outgoing,
    token: &CachedToken,
    provider: &str,
    budget: &Budget,
) -> Result<(FetchResponse, bool), NexusError> {
    let (method, body) = (first.method.clone(), first.body.clone());
    let hop = Hop::new(method, first.uri.clone(), first.origin.clone(), body);
    let home = &first.origin;
    let policy = Policy::Upstream {
        provider,
        home,
        token,
    };
    let mut hops = 0;
    let (response, last) = redirect::send(transport, &policy, budget, hop, |hop| {
        hops += 1;
        if let Some(check) = first.before_redirect.as_ref().filter(|_| hops > 1) {
            check(&hop.method, &hop.uri)?;
        }
        let mut headers = first.headers.clone();
        let strayed = [AUTHORIZATION, COOKIE, PROXY_AUTHORIZATION].map(|n| (n, hop.strayed));
        let dropped = BODY_HEADERS.map(|n| (n, hop.body_dropped));
        // Each name with whether it goes.
        for (name, _) in strayed.into_iter().chain(dropped).filter(|(_, gone)| *gone) {
            headers.remove(name);
        }
        let token = hop.is_on(home).then_some(token);
        credentialed_request(&hop.method, &hop.uri, headers, hop.body.as_deref(), token)
    })?;
    let status = response.status().as_u16();
    let (parts, body) = response.into_parts();
    let limit = budget.within(transport.timeout()).1;
    let peer = policy.peer(&last.origin, last.strayed);
    let bytes = read_capped(body, max_body, &peer, limit)?;
    let mut headers = parts.headers;
    // Only the SDK says what it withheld and where the answer came from.
    headers.remove(X_NEXUS_WITHHELD);
    headers.remove(X_NEXUS_REDIRECTED_TO);
    let away = (!last.is_on(home)).then(|| HeaderValue::from_str(&last.origin.to_string()));
    if let Some(Ok(origin)) = away {
        headers.insert(X_NEXUS_REDIRECTED_TO, origin);
    }
    let mut response = (status, headers, bytes);
    if let Some(span) = first.withhold {
        // The secrets' forms built once, for every header and the body.
        withhold_echoes(&mut response, &token.echo_forms(), budget, span);
    }
    Ok((response, last.is_on(home)))
}

/// `response` with a body whose first `scanned` bytes echo one of the
/// secrets `forms` holds replaced, and the headers that echo one dropped; what the scan
/// could not clear before `deadline` is withheld too. `x-nexus-withheld` names what was withheld,
/// and a withheld body's own headers describe the text that replaces it.
fn withhold_echoes(response: &mut FetchResponse, forms: &[Form], budget: &Budget, span: usize) {
    let ((_, headers, body), deadline) = (response, budget.deadline);
    let echoed = |bytes: &[u8]| echo::echoes_of(forms, bytes, deadline) != Some(false);
    let mut withheld: Vec<HeaderName> = headers
        .keys()
        .filter(|n| headers.get_all(*n).iter().any(|v| echoed(v.as_bytes())))
        .cloned()
        .collect();
    for name in &withheld {
        headers.remove(name);
    }
    let why = match echo::echoes_of(forms, &body[..body.len().min(span)], deadline) {
        Some(false) => None,
        Some(true) => Some(WITHHELD),
        None => Some(UNCHECKED),
    };
    if let Some(why) = why {
        *body = why.as_bytes().to_vec();
        headers.remove(CONTENT_ENCODING);
        headers.remove(TRANSFER_ENCODING);
        let text = HeaderValue::from_static("text/plain; charset=utf-8");
        headers.insert(CONTENT_TYPE, text);
        headers.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
        withheld.push(HeaderName::from_static("body"));
    }
    let said: Vec<&str> = withheld.iter().map(HeaderName::as_str).collect();
    // Header names are header values: it parses.
    let said = HeaderValue::from_str(&said.join(", "));
    if let Some(said) = said.ok().filter(|v| !v.is_empty()) {
        headers.insert(X_NEXUS_WITHHELD, said);
    }
}

/// The request for one hop: the caller's headers, and the credential when
/// `token` is given (replacing a same-named header, or as a query
/// parameter, or as a signature over this very request).
fn credentialed_request(
    method: &Method,
    uri: &Uri,
    mut headers: HeaderMap,
    body: Option<&[u8]>,
    token: Option<&CachedToken>,
) -> Result<Request<()>, NexusError> {
    let mut uri = uri.clone();
    if let Some(token) = token {
        let body = body.unwrap_or_default();
        apply_credential(token, method, &mut uri, &mut headers, body)?;
    }
    let mut request = Request::builder().method(method.clone()).uri(uri);
    if let Some(map) = request.headers_mut() {
        *map = headers;
    }
    request
        .body(())
        .map_err(|_| NexusError::invalid_input("the request cannot be carried by HTTP"))
}

/// Puts `token` on a request: in its header (replacing a same-named one),
/// as a query parameter, or as a signature over this very method, URI,
/// headers and body (so it must come last).
pub(crate) fn apply_credential(
    token: &CachedToken,
    method: &Method,
    uri: &mut Uri,
    headers: &mut HeaderMap,
    body: &[u8],
) -> Result<(), NexusError> {
    if token.signer().is_some() {
        return crate::signing::sign_request(token, method, uri, headers, body, SystemTime::now());
    }
    match token.query_param() {
        Some(name) => *uri = with_query_param(uri, name, Some(token.access_token()))?,
        None => {
            let (name, value) = credential_header(token)?;
            headers.insert(name, value);
        }
    }
    Ok(())
}

/// The credential's header, marked sensitive. Checked when the token was
/// resolved; checked again, since a caller can build a token by hand.
fn credential_header(token: &CachedToken) -> Result<(HeaderName, HeaderValue), NexusError> {
    let name = HeaderName::from_bytes(token.header_name().as_bytes())
        .map_err(|_| NexusError::invalid_credentials("the credential header name is not valid"))?;
    let mut value = HeaderValue::from_str(&token.header_value())
        .map_err(|_| NexusError::invalid_credentials("the token cannot be sent in a header"))?;
    value.set_sensitive(true);
    Ok((name, value))
}

#[cfg(test)]
mod tests {
    use super::*;

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
            let err = prepare(url, options).err().unwrap();
            assert_eq!(err.code, "invalid_input");
            assert!(!err.message.contains("Evil"));
        }
        let ok = prepare("http://x/", FetchOptions::default().method("PROPFIND"))
            .ok()
            .unwrap();
        assert_eq!(ok.method.as_str(), "PROPFIND");
    }

    #[test]
    fn a_body_without_a_type_is_a_form() {
        let form = prepare("http://x/", FetchOptions::default().data("a=1"))
            .ok()
            .unwrap();
        assert_eq!(form.headers[CONTENT_TYPE], DEFAULT_BODY_TYPE);
        let json = FetchOptions::default()
            .header("content-type", "application/json")
            .data("{}");
        let json = prepare("http://x/", json).ok().unwrap();
        assert_eq!(json.headers[CONTENT_TYPE], "application/json");
        assert_eq!(json.headers.get_all(CONTENT_TYPE).iter().count(), 1);
        let none = prepare("http://x/", FetchOptions::default()).ok().unwrap();
        assert!(!none.headers.contains_key(CONTENT_TYPE));
    }

    #[test]
    fn options_accept_http_types() {
        use ureq::http::header::ACCEPT;
        let options = FetchOptions::default()
            .method(Method::PATCH)
            .header(ACCEPT, String::from("text/plain"));
        assert_eq!(options.method, "PATCH");
        assert_eq!(
            options.headers,
            [("accept".to_owned(), "text/plain".to_owned())]
        );
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
