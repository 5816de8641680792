//! The Gateway call engine: one Gateway call with its headers, the retry
//! policy, capped reads and error mapping; redirects are `redirect`'s.

use std::borrow::Cow;
use std::time::{Duration, SystemTime};

use serde_json::Value;
use ureq::Body;
use ureq::http::header::{ACCEPT, CONTENT_TYPE, RETRY_AFTER};
use ureq::http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, Uri};

use crate::budget::Budget;
use crate::error::{NexusError, require};
use crate::options::NexusClientOptions;
use crate::redact::{LOG_TARGET, escape};
use crate::redirect::{self, Hop, Policy};
use crate::retry::{
    ATTEMPT_RESERVE, MAX_RETRY_AFTER, RetryPolicy, is_retryable, jitter, least_wait_at_limit,
    parse_retry_after, unit, wait_at_limit,
};
use crate::setting::{NEXUS_API_KEY, NEXUS_GATEWAY_URL};
use crate::transport::{Transport, never_sent, read_capped, read_some};
use crate::url::{Origin, http_target};

/// The Gateway's resolve route, the one its rate limiter counts per workspace.
pub(crate) const RESOLVE: &str = "/v1/resolve";
/// The largest Gateway answer the SDK reads.
pub(crate) const MAX_GATEWAY_BODY: usize = 1 << 20;
/// The most of a failed Gateway answer kept for its error message.
const MAX_ERROR_BODY: usize = 64 << 10;

/// Where the Gateway is and how to call it.
pub(crate) struct Gateway {
    /// `gateway_url` without its trailing `/`.
    pub(crate) base_url: String,
    pub(crate) origin: Origin,
    /// The api key as text: redacted from text copied out of any answer,
    /// hashed into the client's cache-owner id; `Debug` shows only whether
    /// it is set.
    pub(crate) api_key: String,
    /// `X-API-Key`, marked sensitive, built once; none for an empty key.
    key_header: Option<HeaderValue>,
    /// The program's own headers, asked for each request.
    headers: Option<fn() -> HeaderMap>,
    retry: RetryPolicy,
    transport: Transport,
}

/// Why one attempt failed, and whether another may follow.
enum Failure {
    /// Not retried: this error is the call's.
    Final(NexusError),
    /// Retryable: an answer whose status may be retried (the error has it),
    /// or a connection that could not be opened (it has none), with the wait
    /// `Retry-After` asked for.
    Retryable(NexusError, Option<Duration>),
    /// The Gateway's rate limit refused it (the error holds its `Retry-After`).
    RateLimited(NexusError),
}

impl Gateway {
    /// The Gateway at `url`, or `invalid_input` for a URL or key that cannot be used.
    pub(crate) fn new(
        options: &NexusClientOptions,
        retry: &RetryPolicy,
        transport: Transport,
    ) -> Result<Gateway, NexusError> {
        let (url, key) = (&options.gateway_url, &options.api_key);
        let base_url = url.trim().trim_end_matches('/');
        let blame = |e: NexusError| e.blaming(NEXUS_GATEWAY_URL);
        require(NEXUS_GATEWAY_URL, base_url).map_err(blame)?;
        if base_url.contains(['?', '#']) {
            let why = "NEXUS_GATEWAY_URL has a query or a fragment: give the Gateway's base URL \
                       alone, such as https://gateway.example (a workspace is a call's argument)";
            return Err(NexusError::invalid_input(why).blaming(NEXUS_GATEWAY_URL));
        }
        let (uri, origin) = http_target(base_url, NEXUS_GATEWAY_URL).map_err(blame)?;
        if !key.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
            let why = if key.ends_with(['\n', '\r']) {
                "NEXUS_API_KEY (the api key) ends in a line break: a `.env` file saved with \
                 Windows line endings, or a key pasted with its newline? Remove it"
            } else {
                "NEXUS_API_KEY (the api key) holds a character an HTTP header cannot carry (not \
                 ASCII, or a control character): a placeholder, such as an ellipsis, left in?"
            };
            return Err(NexusError::invalid_input(why).blaming(NEXUS_API_KEY));
        }
        // Visible ASCII, checked above: a header value.
        let mut key_header = HeaderValue::from_str(key).ok().filter(|_| !key.is_empty());
        if let Some(key) = key_header.as_mut() {
            key.set_sensitive(true);
        }
        Ok(Gateway {
            base_url: uri.to_string().trim_end_matches('/').to_owned(),
            origin,
            api_key: key.to_owned(),
            key_header,
            headers: options.gateway_headers,
            retry: retry.clone(),
            transport,
        })
    }

    /// One Gateway call with the retry policy, every attempt and wait
    /// within `budget`: the 2xx answer, which must be JSON, or the error.
    pub(crate) fn call_json(
        &self,
        method: Method,
        path: &str,
        query: Option<&str>,
        json: Option<&Value>,
        budget: &Budget,
    ) -> Result<Value, NexusError> {
        let not_json = || {
            let why = format!("its answer to {method} {} is not JSON", escape(path));
            NexusError::not_a_gateway(&self.origin, &why, None)
        };
        let query = query.map(|query| format!("?{query}")).unwrap_or_default();
        // Ids are percent-encoded and queries form-encoded: it parses.
        let uri: Uri = format!("{}{path}{query}", self.base_url)
            .parse()
            .map_err(|_| NexusError::invalid_input("an id made a URL that does not parse"))?;
        let body = json.map(|v| v.to_string().into_bytes());
        let attempts = self.retry.retries.saturating_add(1);
        let (mut attempt, mut refusals) = (1, 0);
        // After a 429, the call's time is the client's `timeout` from its start.
        let mut budget = Cow::Borrowed(budget);
        loop {
            budget.check()?;
            log::info!(target: LOG_TARGET, path = path; "Attempt {attempt}/{attempts}: {method} {}", escape(path));
            let wait = match self.attempt(&method, &uri, body.as_deref(), &budget) {
                Ok(bytes) => return serde_json::from_slice(&bytes).map_err(|_| not_json()),
                Err(Failure::Final(error)) => return Err(error),
                Err(Failure::RateLimited(error)) => {
                    budget = Cow::Owned(budget.capped(self.transport.timeout()));
                    refusals += 1;
                    self.after_rate_limit(error, &method, path, refusals - 1, &budget)?
                }
                Err(Failure::Retryable(error, _)) if attempt == attempts => {
                    return Err(NexusError::out_of_retries(error, attempts));
                }
                Err(Failure::Retryable(error, retry_after)) => {
                    let backoff = || self.retry.backoff(attempt - 1, jitter());
                    let wait = retry_after.map_or_else(backoff, |w| w.min(MAX_RETRY_AFTER));
                    log::info!(target: LOG_TARGET, "Retrying in {:.1}s: {error}", wait.as_secs_f64());
                    attempt += 1;
                    wait
                }
            };
            budget.sleep(wait)?;
        }
    }

    /// The wait before the attempt after a Gateway 429 (`error`), the
    /// `refusals`-th of this call (from 0: a 429 after a retried 5xx still
    /// counts the ones before it, so each waits longer), within `budget`;
    /// or the 429 as the call's error when `retry_on_429` is off or the
    /// wait cannot fit, its message naming the wait and, when on, the time
    /// left.
    fn after_rate_limit(
        &self,
        error: NexusError,
        method: &Method,
        path: &str,
        refusals: u32,
        budget: &Budget,
    ) -> Result<Duration, NexusError> {
        let route = escape(&format!("{method} {path}")).into_owned();
        // The Gateway counts a call that names a workspace per workspace: resolve alone does.
        let counted = if path == RESOLVE {
            "resolves per workspace"
        } else {
            "this route's calls per client address"
        };
        let refused = format!("{route} (it counts {counted})");
        let asked = error.retry_after();
        if !self.retry.retry_on_429 {
            let then = ": RetryPolicy::retry_on_429 waits it out";
            let error = error.rate_limited(&refused, asked, then);
            return Err(error.blaming("RetryPolicy::retry_on_429"));
        }
        let left = budget.left().unwrap_or(Duration::MAX);
        if let Some(wait) = wait_at_limit(refusals, asked, left, unit()) {
            let secs = wait.as_secs_f64();
            log::warn!(target: LOG_TARGET, "The Gateway's rate limit refused {route}; trying again in {secs:.1} s");
            return Ok(wait);
        }
        // What the next try needs: the Gateway's whole ask, when longer than a wait's cap.
        let needs = least_wait_at_limit(refusals, asked).max(asked.unwrap_or_default());
        let limit = budget.limit;
        let then = format!(
            ", which with {} s for the try does not fit in the {:.1} s left of the call's \
             {:?} limit (set by {})",
            ATTEMPT_RESERVE.as_secs(),
            left.as_secs_f64(),
            limit.after,
            limit.setting
        );
        Err(error
            .rate_limited(&refused, Some(needs), &then)
            .blaming(limit.setting))
    }

    /// One attempt: the request, its same-host redirects, and the reading
    /// of the answer.
    fn attempt(
        &self,
        method: &Method,
        uri: &Uri,
        body: Option<&[u8]>,
        budget: &Budget,
    ) -> Result<Vec<u8>, Failure> {
        let body = body.map(<[u8]>::to_vec);
        let hop = Hop::new(method.clone(), uri.clone(), self.origin.clone(), body);
        let policy = Policy::Gateway { home: &self.origin };
        let request = |hop: &Hop| self.request(&hop.method, &hop.uri, hop.body.is_some());
        let sent = redirect::send(&self.transport, &policy, budget, hop, request);
        let (response, _) = sent.map_err(|error| {
            if never_sent(&error) {
                Failure::Retryable(error, None)
            } else {
                Failure::Final(error)
            }
        })?;
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            let limit = budget.within(self.transport.timeout()).1;
            let peer = policy.peer(&self.origin, false);
            return read_capped(response.into_body(), MAX_GATEWAY_BODY, &peer, limit)
                .map_err(Failure::Final);
        }
        Err(self.refusal(method, uri.path(), response))
    }

    /// The failure of a non-2xx answer: the Gateway's error, or a server's
    /// that is not a Gateway; retryable as the retry policy says.
    fn refusal(&self, method: &Method, path: &str, response: Response<Body>) -> Failure {
        let header = |name| response.headers().get(name).and_then(|v| v.to_str().ok());
        let retry_after = header(RETRY_AFTER).and_then(|v| parse_retry_after(v, SystemTime::now()));
        let html = header(CONTENT_TYPE).is_some_and(|t| t.to_ascii_lowercase().contains("html"));
        let status = response.status().as_u16();
        let body = read_some(response.into_body(), MAX_ERROR_BODY);
        let error = match why_not_a_gateway(status, html, &body, path) {
            Some(why) => {
                let why = format!("{method} {} answered {status}: {why}", escape(path));
                let error = NexusError::not_a_gateway(&self.origin, &why, Some(status));
                // A proxy's 5xx in front of a Gateway may pass: retried as any 5xx.
                if status < 500 {
                    return Failure::Final(error);
                }
                error
            }
            None => {
                let error = NexusError::from_gateway(status, &body, &[&self.api_key]);
                // A 4xx in plain text other than the refusals about what was
                // asked (400, 404, 409, 410: a handler's words, kept bare) is
                // the Gateway's server speaking.
                let plain = serde_json::from_slice::<Value>(&body).map_or(true, |v| !v.is_object());
                let refusal = matches!(status, 400 | 404 | 409 | 410 | 500..);
                error.at(&self.origin, plain && !refusal, self.key_header.is_some())
            }
        };
        if status == 429 {
            Failure::RateLimited(error.asking_to_wait(retry_after))
        } else if is_retryable(status, &body) {
            Failure::Retryable(error, retry_after)
        } else {
            Failure::Final(error)
        }
    }

    /// The request of one hop: the program's own headers first, then the
    /// library's, which replace any of the same name.
    fn request(&self, method: &Method, uri: &Uri, json: bool) -> Result<Request<()>, NexusError> {
        let mut request = Request::new(());
        *request.method_mut() = method.clone();
        *request.uri_mut() = uri.clone();
        let headers = request.headers_mut();
        if let Some(asked) = self.headers {
            *headers = asked();
        }
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        if let Some(key) = &self.key_header {
            headers.insert(HeaderName::from_static("x-api-key"), key.clone());
        }
        if json {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        Ok(request)
    }
}

/// What shows an error answer is not a Nexus Gateway's, if anything: an
/// HTML page; or, with a body, JSON without a Gateway error's keys or plain
/// text where the Gateway sends neither: a 404 on a route every Gateway has,
/// a 401 or 403 (a GitHub-like `{"message": …}`), a 5xx (the Gateway's own
/// plain text is its rate limiter's 429 and check-connection's 400 and 502).
fn why_not_a_gateway(status: u16, html: bool, body: &[u8], path: &str) -> Option<&'static str> {
    let head = String::from_utf8_lossy(&body[..body.len().min(64)]).to_ascii_lowercase();
    let head = head.trim_start();
    if html || head.starts_with("<!doctype") || head.starts_with("<html") {
        return Some("an HTML page");
    }
    let plain_text_ok = status == 502 && path.starts_with("/v1/check-connection/");
    if !matches!(status, 401 | 403 | 404 | 500..) || body.iter().all(u8::is_ascii_whitespace) {
        return None;
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(o)) if o.contains_key("error") || o.contains_key("code") => None,
        Ok(_) => Some("JSON without a Gateway error's keys"),
        Err(_) if status == 404 => Some("this route does not exist there"),
        Err(_) if plain_text_ok => None,
        Err(_) => Some("a text no Nexus Gateway answers with"),
    }
}
