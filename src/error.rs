//! [`NexusError`], the one error type of the crate, and [`ErrorKind`] to
//! `match` on it. Every error the crate raises is built here, from the
//! constants in [`code`](crate::code).

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::Value;

use crate::code;
use crate::date::{epoch_seconds, format_rfc3339};
use crate::redact::{escape, quote, redact};

/// An error from the Gateway, from the transport, or from the SDK's own checks
/// (Python `NexusError`).
///
/// `code` is the machine-readable part: the Gateway's own code
/// (`"connection_not_found"`, …, listed in the errors guide), `http_<status>` when the Gateway
/// sent none, or one of the SDK's codes ([`code::INVALID_INPUT`],
/// [`code::TIMEOUT`], …). [`kind`](Self::kind) folds status and code into an
/// enum for `match`.
///
/// `Display` is `code: message`, always one line: control characters are
/// escaped, and a server's text in it (an error body's code, message or
/// detail) is cut at 512 bytes. The underlying cause, when there is one, is
/// reachable through [`source()`](std::error::Error::source) and is not
/// repeated in the message. Messages never hold a token, an api key, a
/// credential value or URL userinfo: text copied from an answer has the
/// client's api key and the call's credential replaced by `<redacted>`.
/// `Debug` (what `main` returning the error prints) adds the causes, and
/// for a credential-scope refusal a hint for the developer: how to allow
/// the origin, which a model reading `Display` is never told.
///
/// `NexusError` is `Clone` (its source is shared behind an `Arc`) because the
/// token cache's single flight hands one resolve's result, error included, to
/// every caller that waited for it.
///
/// ```
/// use nexus_sdk::{ErrorKind, NexusClient, NexusClientOptions, code};
///
/// let client = NexusClient::new(NexusClientOptions::new("http://127.0.0.1:9")).unwrap();
/// let err = client.check_connection("  ").unwrap_err();
/// assert_eq!(err.code, code::INVALID_INPUT);
/// assert_eq!(err.kind(), ErrorKind::InvalidInput);
/// assert!(err.to_string().starts_with("invalid_input: "));
/// ```
#[non_exhaustive]
#[derive(Clone)]
pub struct NexusError {
    /// Machine-readable code: the Gateway's, `http_<status>`, or the SDK's
    /// (see [`code`](crate::code)).
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
    /// The HTTP status the Gateway answered with, when there was an answer.
    pub status_code: Option<u16>,
    /// The setting this error blames, when one would fix it, named as the
    /// library reads it: `NEXUS_GATEWAY_URL`, `NEXUS_API_KEY`,
    /// `NEXUS_TIMEOUT`, `NEXUS_CREDENTIAL_SCOPE`, `NEXUS_ALLOWED_ORIGINS`
    /// (each also set through [`NexusClientOptions`](crate::NexusClientOptions)),
    /// `FetchOptions::timeout`, `RetryPolicy::retry_on_429`, or a proxy
    /// variable (`https_proxy`, `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`… as
    /// they are spelled in the environment). The message
    /// names it the same way, so a program that takes the setting under
    /// another name (a flag) can say it as its user gave it.
    pub setting: Option<&'static str>,
    source: Option<Arc<dyn StdError + Send + Sync + 'static>>,
    /// What it knows beyond its message, boxed: most errors know nothing more.
    more: Option<Box<More>>,
}

/// What an error knows beyond its message.
#[derive(Clone, Default)]
struct More {
    /// The proxy a transport failure happened through (named with the
    /// variable it came from), and that proxy's host.
    via: Option<(String, String)>,
    /// The failure was a host name that does not resolve.
    dns: bool,
    /// The server was reached, and closed the connection before its answer ended.
    reached: bool,
    /// For the developer, shown by `Debug` only.
    hint: Option<String>,
    /// The wait a Gateway 429 asked for.
    retry_after: Option<Duration>,
    /// A resolve's 404 for a provider the Gateway lists: no connection.
    unconnected: bool,
}

/// What went wrong, in a form to `match` on.
///
/// Derived from [`NexusError::status_code`] and [`NexusError::code`]; new
/// kinds may be added, so keep a `_` arm.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The caller passed something unusable (blank id, bad URL, bad header, an
    /// origin outside the credential scope), or the Gateway answered HTTP 400.
    InvalidInput,
    /// HTTP 401: the api key is missing or wrong.
    Unauthorized,
    /// HTTP 403: the api key may not do this.
    Forbidden,
    /// HTTP 404: no such connection, provider or token.
    NotFound,
    /// HTTP 409: for example `provider_ambiguous` or `attention_required`.
    Conflict,
    /// HTTP 410: the connection was revoked.
    Gone,
    /// HTTP 429: the Gateway's rate limiter refused the call.
    RateLimited,
    /// HTTP 5xx from the Gateway.
    Server,
    /// A request ran past the client's timeout, or `wait_for_active` ran out of time.
    Timeout,
    /// The request could not be carried: refused, DNS, TLS, reset.
    Connect,
    /// The Gateway answered 2xx with something the SDK cannot use.
    InvalidResponse,
    /// Anything else.
    Other,
}

impl NexusError {
    /// An error with a code and a message, and no HTTP status: for your own
    /// fakes and wrappers. Use a constant from [`code`](crate::code).
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        NexusError {
            code: code.into(),
            message: message.into(),
            status_code: None,
            setting: None,
            source: None,
            more: None,
        }
    }

    /// What kind of failure this is, from the code and the status.
    pub fn kind(&self) -> ErrorKind {
        use ErrorKind as K;
        match (self.code.as_str(), self.status_code) {
            (code::INVALID_INPUT | code::ORIGIN_NOT_ALLOWED, _) => K::InvalidInput,
            (code::PROVIDER_NOT_LISTED, _) => K::NotFound,
            (code::TIMEOUT, _) => K::Timeout,
            (code::REQUEST_FAILED, _) => K::Connect,
            (code::INVALID_RESPONSE | code::INVALID_CREDENTIALS, _) => K::InvalidResponse,
            (_, Some(400)) => K::InvalidInput,
            (_, Some(401)) => K::Unauthorized,
            (_, Some(403)) => K::Forbidden,
            (_, Some(404)) => K::NotFound,
            (_, Some(409)) => K::Conflict,
            (_, Some(410)) => K::Gone,
            (_, Some(429)) => K::RateLimited,
            (_, Some(500..=599)) => K::Server,
            _ => K::Other,
        }
    }

    /// The wait the Gateway's rate limit asks for before the next try, when
    /// it refused the call (a 429), read from its `Retry-After` in either
    /// form: whole seconds `N` (rounded down by the Gateway, so this is
    /// `N + 1` s) or an HTTP date (the time until it). `None` for any other
    /// error, or a 429 that did not say. With [`RetryPolicy::retry_on_429`]
    /// on, the call has already waited as long as its `timeout` allowed;
    /// off (the default, as in the Python SDK) it failed at once, and a
    /// caller that can wait decides here whether its budget allows it.
    ///
    /// [`RetryPolicy::retry_on_429`]: crate::RetryPolicy::retry_on_429
    ///
    /// ```
    /// # use std::time::Duration;
    /// # let error = nexus_sdk::NexusError::new("http_429", "rate limited");
    /// match error.retry_after() {
    ///     Some(wait) if wait < Duration::from_secs(10) => { /* sleep, then try again */ }
    ///     _ => { /* give up: report the error */ }
    /// }
    /// ```
    pub fn retry_after(&self) -> Option<Duration> {
        self.more.as_ref()?.retry_after
    }

    /// Whether the workspace's user must connect, or connect again, the
    /// provider before a token can be had: a resolve's 404
    /// `connection_not_found` or `token_not_found` for a provider the
    /// Gateway lists; a 409 `attention_required` or `token_expired` (the
    /// Broker could not refresh it); on the token routes a 410 (the
    /// connection was revoked: `connection_revoked`, or a bare 410 from a
    /// Gateway that forwards only the status) or a 400
    /// `connection_not_active`. False for anything else: an unlisted
    /// provider, a rate limit, a Gateway or Broker failure, a refused
    /// origin.
    ///
    /// What to do: [`request_connection`](crate::NexusClient::request_connection)
    /// with the workspace id as `user_id` and the provider, send the user to
    /// its `auth_url`, then [`wait_for_active`](crate::NexusClient::wait_for_active);
    /// the next call then finds the new connection.
    ///
    /// ```no_run
    /// use nexus_sdk::{NexusClient, NexusClientOptions, RequestConnectionInput, TokenCache};
    ///
    /// let client = NexusClient::new(NexusClientOptions::from_env()?)?;
    /// let cache = TokenCache::new();
    /// match client.get_cached_token(&cache, "ws-1", "github") {
    ///     Err(e) if e.needs_connection() => {
    ///         let input = RequestConnectionInput::new("ws-1", "github")
    ///             .return_url("http://localhost/nexus/connected");
    ///         let started = client.request_connection(&input)?;
    ///         eprintln!("connect GitHub: {}", started.auth_url);
    ///         client.wait_for_active(&started.connection_id)?;
    ///     }
    ///     other => { other?; }
    /// }
    /// # Ok::<(), nexus_sdk::NexusError>(())
    /// ```
    pub fn needs_connection(&self) -> bool {
        let unconnected = self.more.as_ref().is_some_and(|more| more.unconnected);
        let status = self.status_code.unwrap_or_default();
        match self.code.as_str() {
            "attention_required" | "token_expired" => status == 409 || unconnected,
            "connection_not_active" => status == 400,
            _ => unconnected || status == 410,
        }
    }

    /// This resolve 404, for a provider the Gateway lists: no connection.
    pub(crate) fn connecting(mut self) -> Self {
        self.more().unconnected = true;
        self
    }

    /// This error, whose [`needs_connection`](Self::needs_connection)
    /// holds, with a clause naming the pair and what is true of it; the
    /// Gateway's words stay first. The next step is the reader's: a
    /// program adds its own (a command, or for a model that the user must
    /// connect it), so a misspelt workspace is never told to connect.
    pub(crate) fn reconnect_hint(mut self, workspace: &str, provider: &str) -> Self {
        let (ws, p) = (escape(workspace), escape(provider));
        self.message = format!(
            "{} (workspace `{ws}`, provider `{p}`): no active connection to `{p}` for this \
             workspace; if the workspace is right, its user must connect `{p}`",
            self.message
        );
        self
    }

    /// `token_expired`: the Gateway's credential had expired by `now`, on
    /// both of the resolves made for it (its refresh is failing). The
    /// clock's reading is said too: a machine's clock set wrong reads so.
    pub(crate) fn expired_on_arrival(expired: SystemTime, now: SystemTime) -> Self {
        let (expired, now) = (epoch_seconds(expired), epoch_seconds(now));
        let (expired, now) = (format_rfc3339(expired), format_rfc3339(now));
        let said = format!(
            "the Gateway handed out a credential that had already expired, twice (at {expired}; \
             this machine's clock says {now}): it was sent nowhere"
        );
        NexusError::new(code::TOKEN_EXPIRED, said).connecting()
    }

    /// This error, holding the wait a 429's `Retry-After` asks for.
    pub(crate) fn asking_to_wait(mut self, wait: Option<Duration>) -> Self {
        self.more().retry_after = wait;
        self
    }

    /// A Gateway 429's error: the `call` its limit refused (and what that
    /// limit counts), the `wait` the next try needs, then `then`.
    pub(crate) fn rate_limited(mut self, call: &str, wait: Option<Duration>, then: &str) -> Self {
        let wait = wait.map(|wait| format!("the next try must wait {} s", wait.as_secs()));
        let wait = wait.unwrap_or_else(|| "it did not say how long to wait".to_owned());
        let said = &self.message;
        self.message = format!("{said}; its rate limit refused {call} and {wait}{then}");
        self
    }

    /// This error, blaming `setting` (see [`NexusError::setting`]).
    pub(crate) fn blaming(mut self, setting: &'static str) -> Self {
        self.setting = Some(setting);
        let set_in_code = match setting {
            "NEXUS_TIMEOUT" => Some("NexusClientOptions::timeout"),
            "NEXUS_GATEWAY_URL" => Some("the URL given to NexusClientOptions::new"),
            _ => None,
        };
        let hinted = self.more.as_ref().is_some_and(|more| more.hint.is_some());
        match set_in_code {
            Some(code) if !hinted => self.hinted(format!(
                "{setting} is read by NexusClientOptions::from_env; in code it is {code}"
            )),
            _ => self,
        }
    }

    fn with_status(mut self, status: u16) -> Self {
        self.status_code = Some(status);
        self
    }

    fn with_source(mut self, source: impl StdError + Send + Sync + 'static) -> Self {
        self.source = Some(Arc::new(source));
        self
    }

    fn more(&mut self) -> &mut More {
        self.more.get_or_insert_with(Box::default)
    }

    /// This error, with `hint` for the developer in its `Debug` only.
    pub(crate) fn hinted(mut self, hint: String) -> Self {
        self.more().hint = Some(hint);
        self
    }

    // The SDK's own errors, one constructor per code.

    pub(crate) fn invalid_input(message: impl Into<String>) -> Self {
        NexusError::new(code::INVALID_INPUT, message)
    }

    pub(crate) fn origin_not_allowed(message: impl Into<String>) -> Self {
        NexusError::new(code::ORIGIN_NOT_ALLOWED, message)
    }

    pub(crate) fn request_failed(message: impl Into<String>) -> Self {
        NexusError::new(code::REQUEST_FAILED, message)
    }

    pub(crate) fn timeout(message: impl Into<String>) -> Self {
        NexusError::new(code::TIMEOUT, message)
    }

    pub(crate) fn invalid_response(message: impl Into<String>) -> Self {
        NexusError::new(code::INVALID_RESPONSE, message)
    }

    pub(crate) fn invalid_credentials(message: impl Into<String>) -> Self {
        NexusError::new(code::INVALID_CREDENTIALS, message)
    }

    pub(crate) fn unsupported_strategy(message: impl Into<String>) -> Self {
        NexusError::new(code::UNSUPPORTED_STRATEGY, message)
    }

    /// The server at `origin` is not a Nexus Gateway, as `why` shows: an
    /// error answer's `http_<status>`, else `invalid_response`. No page text
    /// is quoted.
    pub(crate) fn not_a_gateway(origin: &dyn fmt::Display, why: &str, status: Option<u16>) -> Self {
        let message = format!(
            "the server at {origin} does not look like a Nexus Gateway ({why}); check \
             NEXUS_GATEWAY_URL: it is the Gateway's base URL, without /v1"
        );
        let error = match status {
            Some(status) => NexusError::new(format!("http_{status}"), message).with_status(status),
            None => NexusError::invalid_response(message),
        };
        error.blaming("NEXUS_GATEWAY_URL")
    }

    /// The error for a non-2xx Gateway answer, following the body rules of
    /// the wire contract (see [`parse_error_body`]).
    pub(crate) fn from_gateway(status: u16, body: &[u8], secrets: &[&str]) -> Self {
        let (code, message) = parse_error_body(status, body, secrets);
        NexusError::new(code, message).with_status(status)
    }

    /// A Gateway error whose cause may lie in the client's set-up or in the
    /// server (401, 403, 429, 5xx, and any 4xx in `plain` text, which only
    /// the Gateway itself writes) names the Gateway and its origin; a
    /// refusal about what was asked (404, 409, 410, 400 in JSON) keeps the
    /// Gateway's own words.
    pub(crate) fn at(self, origin: &impl fmt::Display, plain: bool, sent_key: bool) -> Self {
        let Some(status) = self
            .status_code
            .filter(|s| plain || matches!(s, 401 | 403 | 429 | 500..))
        else {
            return self;
        };
        let key = match (status, sent_key) {
            (401, true) => Some(" (check NEXUS_API_KEY)"),
            (401, false) => Some(" (no NEXUS_API_KEY was sent: set it)"),
            _ => None,
        };
        let message = format!(
            "the Nexus Gateway at {origin} answered HTTP {status}{}: {}",
            key.unwrap_or_default(),
            self.message
        );
        let setting = key.map(|_| "NEXUS_API_KEY").or(self.setting);
        NexusError {
            message,
            setting,
            ..self
        }
    }

    /// A Gateway redirect (`status`) to `target`, an origin the api key may
    /// not go to: not followed.
    pub(crate) fn gateway_redirect(status: u16, target: &str) -> Self {
        let message = format!("the Gateway redirected to another origin ({target}): not followed");
        NexusError::new(format!("http_{status}"), message).with_status(status)
    }

    /// `max_retries_exceeded` once the last attempt met a retryable status,
    /// whatever the number of attempts (Python's rule), with the Gateway's own
    /// error as its source; the last error itself when it had no status (no
    /// answer came).
    pub(crate) fn out_of_retries(last: NexusError, attempts: u32) -> Self {
        let Some(status) = last.status_code else {
            return last;
        };
        let tries = match attempts {
            1 => "with no retry allowed (NEXUS_RETRIES or RetryPolicy::retries sets them)".into(),
            n => format!("after {n} attempts"),
        };
        let message = format!(
            "HTTP {status} {tries}; last answer {}: {}",
            last.code, last.message
        );
        let mut error = NexusError::new(code::MAX_RETRIES_EXCEEDED, message).with_status(status);
        error.more = last.more.clone();
        error.with_source(last)
    }

    /// The error for a transport failure. The message names what happened,
    /// never the URL (an upstream URL may carry a credential in its query),
    /// and does not repeat the source's text.
    pub(crate) fn transport(e: ureq::Error) -> Self {
        let failed = NexusError::request_failed;
        match e {
            ureq::Error::Timeout(_) => NexusError::timeout("request timed out").with_source(e),
            ureq::Error::Io(io) => NexusError::io(io),
            ureq::Error::HostNotFound => failed("host not found").with_source(e),
            ureq::Error::ConnectionFailed => failed("connection failed").with_source(e),
            // These can repeat the URL or a header value: keep only what kind of failure it was.
            ureq::Error::BadUri(_) => NexusError::invalid_input("URL is not valid"),
            ureq::Error::Http(_) => NexusError::invalid_input(
                "request cannot be carried by HTTP (bad URL, header or method)",
            ),
            ureq::Error::RequireHttpsOnly(_) => NexusError::invalid_input("URL must be https"),
            ureq::Error::ConnectProxyFailed(_) => failed("proxy refused the connection"),
            other => match tls_cause(&other.to_string()) {
                Some(cause) => NexusError::request_failed(cause).with_source(other),
                None => NexusError::request_failed("transport failed").with_source(other),
            },
        }
    }

    /// This transport error of a request to `peer`, said so that a user
    /// can act on it: which server, where, and what to check (a timeout
    /// names the `limit` that ran out and the setting that sets it).
    pub(crate) fn reaching(self, peer: &Peer<'_>, limit: Limit) -> Self {
        let who = peer.who();
        let more = self.more.as_deref().cloned().unwrap_or_default();
        let check = "; check NEXUS_GATEWAY_URL";
        let hint = peer.provider.map_or(check, |_| "");
        let dns = |host: &str| format!("its host `{}` does not resolve (DNS)", escape(host));
        let message = match (self.code.as_str(), &more.via) {
            (code::TIMEOUT | code::REQUEST_FAILED, Some((via, _))) if !more.dns => {
                format!("{via} failed on the way to {who}: {}", self.message)
            }
            (_, Some((via, proxy))) => format!("{via} failed on the way to {who}: {}", dns(proxy)),
            (code::TIMEOUT, None) => format!(
                "{who} did not answer within {:?}, the limit {} sets",
                limit.after, limit.setting
            ),
            (code::REQUEST_FAILED, None) if more.reached => {
                format!("{who} was reached, and closed the connection before its answer ended")
            }
            (code::REQUEST_FAILED, None) if more.dns => {
                format!("could not reach {who}: {}{hint}", dns(peer.host))
            }
            (code::REQUEST_FAILED, None) => {
                format!("could not reach {who}: {}{hint}", self.message)
            }
            _ => return self,
        };
        let setting = match self.code.as_str() {
            code::TIMEOUT => Some(limit.setting),
            _ if more.reached => None,
            _ => peer
                .provider
                .map_or(Some("NEXUS_GATEWAY_URL"), |_| self.setting),
        };
        let error = NexusError { message, ..self };
        match setting {
            Some(setting) => error.blaming(setting),
            None => error,
        }
    }

    /// The error of a body read from `peer` that failed: it names the
    /// server, and for a timeout the `limit` and the setting that sets it.
    pub(crate) fn cut_short(io: io::Error, peer: &Peer<'_>, limit: Limit) -> Self {
        let error = NexusError::read(io);
        let who = peer.who();
        let message = match error.code.as_str() {
            code::TIMEOUT => format!(
                "{who} did not finish its answer within {:?}, the limit {} sets",
                limit.after, limit.setting
            ),
            _ => format!("{who} broke off its answer: {}", error.message),
        };
        let error = NexusError { message, ..error };
        match error.code.as_str() {
            code::TIMEOUT => error.blaming(limit.setting),
            _ => error,
        }
    }

    /// An answer from `peer` over the `cap` its body is read with: the
    /// Gateway's is `invalid_response`, a provider's `request_failed`
    /// naming the option that sets it.
    pub(crate) fn too_large(peer: &Peer<'_>, cap: usize) -> Self {
        let who = peer.who();
        match peer.provider {
            None => NexusError::invalid_response(format!(
                "the answer of {who} is larger than the {cap}-byte cap of a Gateway answer"
            )),
            Some(_) => NexusError::request_failed(format!(
                "the answer of {who} is larger than the {cap}-byte cap \
                 (NexusClientOptions::max_upstream_body)"
            )),
        }
    }

    /// The error for a failed body read: ureq wraps its own errors (a timeout
    /// among them) in the `io::Error` its reader returns.
    pub(crate) fn read(io: io::Error) -> Self {
        NexusError::transport(ureq::Error::from(io))
    }

    fn io(io: io::Error) -> Self {
        use io::ErrorKind as Kind;
        let dns = io
            .to_string()
            .starts_with("failed to lookup address information");
        let tls = || io.get_ref().and_then(|inner| tls_cause(&inner.to_string()));
        let cause = match io.kind() {
            Kind::TimedOut | Kind::WouldBlock => {
                return NexusError::timeout("request timed out").with_source(io);
            }
            Kind::ConnectionRefused => "connection refused".to_owned(),
            Kind::ConnectionReset | Kind::ConnectionAborted => "connection reset".to_owned(),
            Kind::UnexpectedEof => "connection closed before the answer ended".to_owned(),
            _ if dns => "the host does not resolve (DNS)".to_owned(),
            _ => tls().unwrap_or_else(|| "connection failed".to_owned()),
        };
        let reached = matches!(io.kind(), Kind::UnexpectedEof | Kind::ConnectionReset);
        let mut error = NexusError::request_failed(cause);
        if dns || reached {
            (error.more().dns, error.more().reached) = (dns, reached);
        }
        error.with_source(io)
    }

    /// This transport failure happened through `proxy` (at `host`), named
    /// by `variable`.
    pub(crate) fn through(mut self, proxy: String, host: &str, variable: &str) -> Self {
        let via = format!("the proxy {proxy} (from {variable})");
        self.more().via = Some((via, host.to_owned()));
        self
    }
}

impl fmt::Display for NexusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", escape(&self.code), escape(&self.message))
    }
}

/// The message, its causes one per line, and a hint for the developer when
/// there is one, as `main` returning a `Result<(), NexusError>` prints it (a
/// `build.rs` failure reads as a sentence, not a struct); `{:#?}` shows the
/// fields.
impl fmt::Debug for NexusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.alternate() {
            return f
                .debug_struct("NexusError")
                .field("code", &self.code)
                .field("message", &self.message)
                .field("status_code", &self.status_code)
                .field("setting", &self.setting)
                .field("source", &self.source)
                .finish();
        }
        write!(f, "{self}")?;
        let mut cause = self.source();
        while let Some(error) = cause {
            write!(f, "\n  caused by: {error}")?;
            cause = error.source();
        }
        match self.more.as_ref().and_then(|more| more.hint.as_ref()) {
            Some(hint) => write!(f, "\n  hint: {hint}"),
            None => Ok(()),
        }
    }
}

impl StdError for NexusError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(self.source.as_deref()?)
    }
}

/// A limit a call ends at, and the setting that sets it, as data (as
/// ureq's `NextTimeout { after, reason }`): `setting` is the one name a
/// `timeout` error blames.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Limit {
    pub(crate) after: Duration,
    pub(crate) setting: &'static str,
}

/// The `(code, message)` of a non-2xx Gateway answer.
///
/// code = `error`, else `code`, else `http_<status>`; message = `message`,
/// else `detail`, else the body text, else the status reason. Accepts every
/// body the Gateway sends: either JSON shape, JSON that is not an object,
/// plain text and no body at all. Both are quoted as a server's text is:
/// `secrets` replaced by `<redacted>`, then control characters escaped and
/// cut to 512 bytes (a cut made first could leave a secret's first bytes
/// behind).
pub(crate) fn parse_error_body(status: u16, body: &[u8], secrets: &[&str]) -> (String, String) {
    let json: Option<Value> = serde_json::from_slice(body).ok();
    let field = |name: &str| -> Option<String> {
        let value = json.as_ref()?.get(name)?.as_str()?.trim();
        (!value.is_empty()).then(|| value.to_owned())
    };
    let code = field("error")
        .or_else(|| field("code"))
        .unwrap_or_else(|| format!("http_{status}"));
    let message = field("message")
        .or_else(|| field("detail"))
        .or_else(|| body_text(body))
        .unwrap_or_else(|| status_reason(status));
    let said = |text: &str| quote(&redact(text, secrets));
    (said(&code), said(&message))
}

/// The body as trimmed text, without the U+FFFD of invalid bytes at its
/// end; `None` when nothing readable is left.
fn body_text(body: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(body);
    let text = text.trim().trim_end_matches('\u{FFFD}').trim_end();
    (!text.is_empty()).then(|| text.to_owned())
}

/// "Not Found" for 404, "HTTP 599" for a status with no reason phrase.
fn status_reason(status: u16) -> String {
    ureq::http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .map_or_else(|| format!("HTTP {status}"), str::to_owned)
}

/// What a TLS failure's text says, in words a developer acts on: an
/// untrusted certificate points at the operating system's trust store.
fn tls_cause(text: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    if lower.contains("certificate") {
        return Some(format!(
            "TLS: its certificate is not trusted ({text}); the `platform-verifier` feature \
             trusts the operating system's certificate store"
        ));
    }
    let tls = ["tls", "handshake", "alert", "corrupt message"];
    tls.iter()
        .any(|w| lower.contains(w))
        .then(|| format!("TLS failed ({text})"))
}

/// A server a request went to, as its errors name it.
pub(crate) struct Peer<'a> {
    /// The provider whose API it is; `None` for the Nexus Gateway.
    pub(crate) provider: Option<&'a str>,
    /// Its origin, and its host (which a DNS failure names).
    pub(crate) origin: &'a dyn fmt::Display,
    pub(crate) host: &'a str,
    /// Whether a redirect from another origin led there.
    pub(crate) redirected: bool,
}

impl Peer<'_> {
    /// "the Nexus Gateway at …", "the API of provider `github` at …", or
    /// "… where the API of provider `github` redirected": a server a
    /// redirect led to is not blamed as the provider's API.
    fn who(&self) -> String {
        let (origin, redirected) = (self.origin, self.redirected);
        match self.provider.map(escape) {
            None => format!("the Nexus Gateway at {origin}"),
            Some(p) if redirected => {
                format!("{origin}, where the API of provider `{p}` redirected")
            }
            Some(p) => format!("the API of provider `{p}` at {origin}"),
        }
    }
}

/// `invalid_input` when `value` is empty or only white space.
pub(crate) fn require(name: &str, value: &str) -> Result<(), NexusError> {
    if value.trim().is_empty() {
        let blank = format!("{name} must not be blank");
        return Err(NexusError::invalid_input(blank));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_across_the_cut_is_redacted_whole() {
        let key = "nx_live_0123456789abcdef";
        for pad in [490, 500, 505, 511] {
            let body = format!("{}{key} trailing", "x".repeat(pad));
            let err = NexusError::from_gateway(502, body.as_bytes(), &[key]);
            assert!(
                !err.message.contains("nx_live"),
                "pad {pad}: {}",
                err.message
            );
            assert!(
                err.message.len() <= crate::redact::MAX_QUOTED,
                "{}",
                err.message.len()
            );
        }
    }

    #[test]
    fn all_five_body_shapes() {
        let cases: [(u16, &[u8], &str, &str); 6] = [
            (
                404,
                br#"{"error":"connection_not_found","message":"no such"}"#,
                "connection_not_found",
                "no such",
            ),
            (
                410,
                br#"{"code":"connection_revoked","message":"gone"}"#,
                "connection_revoked",
                "gone",
            ),
            (
                409,
                br#"{"error":"attention_required","detail":"re-consent"}"#,
                "attention_required",
                "re-consent",
            ),
            (
                429,
                b"rate limit exceeded\n",
                "http_429",
                "rate limit exceeded",
            ),
            (503, b"", "http_503", "Service Unavailable"),
            (599, b"  ", "http_599", "HTTP 599"),
        ];
        for (status, body, code, message) in cases {
            assert_eq!(
                parse_error_body(status, body, &[]),
                (code.to_owned(), message.to_owned())
            );
        }
    }

    #[test]
    fn non_string_fields_are_ignored() {
        let (code, message) = parse_error_body(500, br#"{"error":7,"message":["x"]}"#, &[]);
        assert_eq!(code, "http_500");
        assert_eq!(message, r#"{"error":7,"message":["x"]}"#);
    }

    #[test]
    fn long_text_is_cut_on_a_char_boundary() {
        let body = "é".repeat(400); // 800 bytes, 2 per char
        let (_, message) = parse_error_body(502, body.as_bytes(), &[]);
        assert_eq!(message.len(), 512);
        assert!(message.chars().all(|c| c == 'é'));
        let odd = format!("x{}", "é".repeat(400)); // the cut falls inside a char
        let (_, message) = parse_error_body(502, odd.as_bytes(), &[]);
        assert_eq!(message.len(), 511);
    }

    #[test]
    fn invalid_utf8_cannot_grow_the_message_past_the_cut() {
        // Found by the property tests: each invalid byte became 3 bytes of U+FFFD.
        let mut body = vec![b'x'];
        body.extend([0x80; 600]);
        let (_, message) = parse_error_body(500, &body, &[]);
        assert!(message.len() <= 512, "{} bytes", message.len());
        assert_eq!(message, "x", "trailing replacement characters are dropped");
        let (_, message) = parse_error_body(500, &[0x80; 600], &[]);
        assert_eq!(
            message, "Internal Server Error",
            "nothing readable: the reason phrase"
        );
    }

    #[test]
    fn kind_from_status_and_code() {
        let gw = |status, code: &str| NexusError::new(code, "m").with_status(status).kind();
        assert_eq!(gw(401, "unauthorized"), ErrorKind::Unauthorized);
        assert_eq!(gw(403, "http_403"), ErrorKind::Forbidden);
        assert_eq!(gw(404, "token_not_found"), ErrorKind::NotFound);
        assert_eq!(gw(409, "provider_ambiguous"), ErrorKind::Conflict);
        assert_eq!(gw(410, "connection_revoked"), ErrorKind::Gone);
        assert_eq!(gw(429, "max_retries_exceeded"), ErrorKind::RateLimited);
        assert_eq!(gw(502, "broker_error"), ErrorKind::Server);
        assert_eq!(gw(400, "missing_fields"), ErrorKind::InvalidInput);
        assert_eq!(gw(200, "invalid_response"), ErrorKind::InvalidResponse);
        assert_eq!(NexusError::new("timeout", "m").kind(), ErrorKind::Timeout);
        assert_eq!(
            NexusError::new("request_failed", "m").kind(),
            ErrorKind::Connect
        );
        assert_eq!(
            NexusError::new("unsupported_strategy", "m").kind(),
            ErrorKind::Other
        );
    }

    #[test]
    fn display_and_source() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let err = NexusError::new("request_failed", "could not connect").with_source(io);
        assert_eq!(err.to_string(), "request_failed: could not connect");
        assert_eq!(err.source().map(|s| s.to_string()), Some("refused".into()));
        // What `main` returning the error prints: a sentence and its cause.
        let debug = format!("{err:?}");
        assert_eq!(
            debug,
            "request_failed: could not connect\n  caused by: refused"
        );
        assert!(format!("{err:#?}").starts_with("NexusError {"));
        // Display never repeats the source's text.
        let io = std::io::Error::other("inner detail");
        let err = NexusError::read(io);
        assert_eq!(err.code, code::REQUEST_FAILED);
        assert!(!err.to_string().contains("inner detail"), "{err}");
        assert!(err.source().is_some());
    }

    #[test]
    fn echoed_secrets_are_redacted() {
        let body = br#"{"error":"bad_key","message":"key nx_live_123 is not valid"}"#;
        let err = NexusError::from_gateway(401, body, &["nx_live_123", ""]);
        assert_eq!(err.message, "key <redacted> is not valid");
        assert_eq!(redact("abc", &[""]), "abc");
    }

    #[test]
    fn out_of_retries_keeps_the_gateway_error_as_source() {
        let gateway = NexusError::from_gateway(503, br#"{"error":"broker_unavailable"}"#, &[]);
        for attempts in [1, 3] {
            let err = NexusError::out_of_retries(gateway.clone(), attempts);
            assert_eq!(err.code, code::MAX_RETRIES_EXCEEDED);
            assert_eq!(err.status_code, Some(503));
            assert_eq!(err.kind(), ErrorKind::Server);
            let source = err.source().map(ToString::to_string).unwrap_or_default();
            assert!(source.starts_with("broker_unavailable"), "{source}");
        }
    }
}
