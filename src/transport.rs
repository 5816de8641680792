//! The HTTP transport shared by Gateway and upstream calls: one `ureq`
//! agent (one connection pool) configured for the SDK, the loopback proxy
//! rule, request framing, and capped body reads.

use std::io::Read;
use std::time::{Duration, Instant};

use ureq::http::{Method, Request, Response, Uri};
use ureq::{Agent, Body, Proxy, config::ConfigBuilder, typestate::AgentScope};

use crate::error::{Limit, NexusError, Peer};
use crate::url::is_loopback_host;

/// `User-Agent` of every request the SDK sends.
pub(crate) const USER_AGENT: &str = concat!("nexus-gateway-sdk/", env!("CARGO_PKG_VERSION"));

/// What builds the agent from the configuration the SDK chose, still open:
/// a program's (`NexusClientOptions::agent`), or that configuration built.
pub(crate) type MakeAgent = fn(ConfigBuilder<AgentScope>) -> Agent;

/// The longest a TCP connect may take, whatever the client's timeout.
const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A deadline this close to the agent's own timeout is left to the agent:
/// no per-request configuration on the common path, at the cost of a call
/// that may end this much after its deadline.
const DEADLINE_SLACK: Duration = Duration::from_millis(10);

/// One `ureq` agent (its connection pool), its timeout, and the
/// environment proxies, one per scheme.
#[derive(Clone)]
pub(crate) struct Transport {
    agent: Agent,
    timeout: Duration,
    proxies: Proxies,
}

/// The proxy for each scheme, from the environment as curl, Python and Go
/// read it: `http://` requests use `http_proxy` (or `HTTP_PROXY`),
/// `https://` requests `https_proxy` (or `HTTPS_PROXY`), either falling back
/// to `all_proxy` (or `ALL_PROXY`), never another scheme's proxy. `NO_PROXY`
/// (or `no_proxy`) applies to both.
#[derive(Clone, Default)]
struct Proxies {
    http: Option<(Proxy, &'static str)>,
    https: Option<(Proxy, &'static str)>,
}

impl Proxies {
    /// The proxies the variables name (read by `var`); `invalid_input`
    /// blaming a variable whose value is not UTF-8 or no proxy URL (never
    /// its value, which may hold a password), rather than requests that go
    /// past the proxy.
    fn from_env(
        var: impl Fn(&'static str) -> Result<Option<String>, NexusError>,
    ) -> Result<Proxies, NexusError> {
        // The first of `names` set to more than blanks, and its name.
        let first = |names: &[&'static str]| {
            for &name in names {
                if let Some(value) = var(name)?.filter(|v| !v.trim().is_empty()) {
                    return Ok(Some((name, value)));
                }
            }
            Ok::<_, NexusError>(None)
        };
        let no_proxy = first(&["NO_PROXY", "no_proxy"])?;
        let pick = |scheme: &str| {
            let Some((name, value)) = first(&proxy_variables(scheme))? else {
                return Ok(None);
            };
            let proxy = proxy_with_exceptions(value.trim(), no_proxy.as_ref().map(|n| &*n.1));
            proxy.map(|proxy| Some((proxy, name))).ok_or_else(|| {
                let bad = format!(
                    "{name} is set, but not to a proxy URL this client can use (its value is \
                     not shown: it may hold a password)"
                );
                NexusError::invalid_input(bad).blaming(name)
            })
        };
        let (http, https) = (pick("http")?, pick("https")?);
        Ok(Proxies { http, https })
    }

    /// The proxy for a request to `uri`: the environment's for its scheme,
    /// unless `NO_PROXY` names its host or the host is loopback (then none).
    fn proxy_for(&self, uri: &Uri) -> Option<&(Proxy, &'static str)> {
        let https = uri.scheme_str() == Some("https");
        let proxy = if https { &self.https } else { &self.http }.as_ref()?;
        let loopback = uri.host().is_some_and(is_loopback_host);
        (!proxy.0.is_no_proxy(uri) && !loopback).then_some(proxy)
    }
}

/// The variables that may name the proxy for `scheme`, in order.
fn proxy_variables(scheme: &str) -> [&'static str; 4] {
    match scheme {
        "https" => ["https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"],
        _ => ["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"],
    }
}

/// A proxy from its URL, with the `NO_PROXY` list's entries; `None` when
/// the URL does not parse.
fn proxy_with_exceptions(url: &str, no_proxy: Option<&str>) -> Option<Proxy> {
    let parsed = Proxy::new(url).ok()?;
    let mut builder = Proxy::builder(parsed.protocol()).host(parsed.host());
    if let Some(user) = parsed.username() {
        builder = builder.username(user);
    }
    if let Some(password) = parsed.password() {
        builder = builder.password(password);
    }
    let exceptions = no_proxy.unwrap_or_default().split(',').map(str::trim);
    for exception in exceptions.filter(|e| !e.is_empty()) {
        builder = builder.no_proxy(exception);
    }
    builder.port(parsed.port()).build().ok()
}

impl Transport {
    /// An agent that leaves statuses, redirects and retries to the SDK and
    /// bounds every request by `timeout` as a whole (resolve, connect, send,
    /// headers, body), built by `agent` if the program gives one, and the
    /// environment's proxies; `invalid_input` for a proxy variable that names
    /// no usable proxy.
    pub(crate) fn new(timeout: Duration, agent: Option<MakeAgent>) -> Result<Self, NexusError> {
        let config = Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(timeout))
            .timeout_connect(Some(timeout.min(MAX_CONNECT_TIMEOUT)))
            .user_agent(USER_AGENT)
            .allow_non_standard_methods(true)
            // The proxy is chosen per request, for its scheme (`Proxies`).
            .proxy(None);
        #[cfg(any(feature = "rustls", feature = "native-tls"))]
        let config = config.tls_config(crate::setting::tls()?);
        Ok(Transport {
            agent: agent.unwrap_or(|config| config.build().into())(config),
            timeout,
            proxies: Proxies::from_env(crate::setting::var)?,
        })
    }

    /// The most one request may take.
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Sends one request with `body`, which must also finish by `deadline`
    /// when one is given (to within [`DEADLINE_SLACK`]). A method that carries a body (POST, PUT, PATCH, in
    /// any case) and has none is sent with `Content-Length: 0`, as curl and
    /// Python's http.client do, never as an empty chunked body. The request
    /// goes through the environment proxy of its own scheme, if any; loopback
    /// targets never go through a proxy.
    pub(crate) fn send(
        &self,
        request: Request<()>,
        body: Option<&[u8]>,
        deadline: Option<Instant>,
    ) -> Result<Response<Body>, NexusError> {
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if left.is_some_and(|left| left.is_zero()) {
            let timed_out = ureq::Error::Timeout(ureq::Timeout::Global);
            return Err(NexusError::transport(timed_out));
        }
        let remaining = left.filter(|left| *left + DEADLINE_SLACK < self.timeout);
        let proxy = self.proxies.proxy_for(request.uri()).cloned();
        let body = body.or_else(|| carries_body(request.method()).then_some(&[][..]));
        let chosen = proxy.as_ref().map(|(p, _)| p.clone());
        let result = match body {
            Some(bytes) => self.run(request.map(|()| bytes), chosen, remaining),
            None => self.run(request, chosen, remaining),
        };
        result.map_err(|e| match proxy {
            // Userinfo withheld: scheme, host and port.
            Some((p, variable)) => {
                let scheme = p.protocol().to_string().to_ascii_lowercase();
                let said = format!("{scheme}://{}:{}", p.host(), p.port());
                NexusError::transport(e).through(said, p.host(), variable)
            }
            None => NexusError::transport(e),
        })
    }

    fn run<S: ureq::AsSendBody>(
        &self,
        request: Request<S>,
        proxy: Option<Proxy>,
        remaining: Option<Duration>,
    ) -> Result<Response<Body>, ureq::Error> {
        if proxy.is_none() && remaining.is_none() {
            // The common case: the agent's own configuration, no per-request copy.
            return self.agent.run(request);
        }
        let mut config = self.agent.configure_request(request);
        if proxy.is_some() {
            config = config.proxy(proxy);
        }
        if let Some(remaining) = remaining {
            config = config.timeout_global(Some(remaining));
        }
        self.agent.run(config.build())
    }
}

/// Whether requests with this method carry a body, so an empty one is
/// still framed: POST, PUT and PATCH, in any case (http.client's rule).
fn carries_body(method: &Method) -> bool {
    let method = method.as_str();
    ["POST", "PUT", "PATCH"]
        .iter()
        .any(|m| method.eq_ignore_ascii_case(m))
}

/// Reads a whole body from `peer`, failing once more than `cap` bytes have
/// arrived (decoded bytes: a compressed body cannot slip past it); its
/// errors name `peer`, and a timeout the `limit` that ran out.
pub(crate) fn read_capped(
    body: Body,
    cap: usize,
    peer: &Peer<'_>,
    limit: Limit,
) -> Result<Vec<u8>, NexusError> {
    // Sized from Content-Length, but never more than 64 KiB ahead of the
    // bytes that really arrive: a server cannot make us allocate by claiming.
    let expected = usize::try_from(body.content_length().unwrap_or(0)).unwrap_or(usize::MAX);
    let mut bytes = Vec::with_capacity(expected.min(cap).min(64 << 10).saturating_add(1));
    let mut reader = body
        .into_reader()
        .take(u64::try_from(cap).unwrap_or(u64::MAX) + 1);
    let read = reader.read_to_end(&mut bytes);
    read.map_err(|io| NexusError::cut_short(io, peer, limit))?;
    if bytes.len() > cap {
        return Err(NexusError::too_large(peer, cap));
    }
    Ok(bytes)
}

/// At most `cap` bytes of a body whose content only feeds an error message;
/// a read failure keeps what arrived.
pub(crate) fn read_some(body: Body, cap: usize) -> Vec<u8> {
    let mut bytes = Vec::new();
    let _ = body.into_reader().take(cap as u64).read_to_end(&mut bytes);
    bytes
}

/// Whether the request provably never left: no connection could be opened.
pub(crate) fn never_sent(e: &NexusError) -> bool {
    use std::error::Error as _;
    let Some(source) = e.source() else {
        return false;
    };
    if let Some(ureq_error) = source.downcast_ref::<ureq::Error>() {
        return match ureq_error {
            ureq::Error::HostNotFound | ureq::Error::ConnectionFailed => true,
            ureq::Error::Timeout(t) => matches!(t, ureq::Timeout::Resolve | ureq::Timeout::Connect),
            _ => false,
        };
    }
    source
        .downcast_ref::<std::io::Error>()
        .is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proxy_is_chosen_for_the_requests_scheme() {
        let uri = |s: &str| s.parse::<Uri>().unwrap();
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            Proxies::from_env(move |name| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| Ok((*v).to_owned()))
                    .transpose()
            })
            .unwrap_or_else(|e| panic!("{e}"))
        };
        let host = |p: Option<&(Proxy, &str)>| p.map(|(p, _)| p.host().to_owned());
        // HTTPS_PROXY alone carries https only: plain http goes direct.
        let only_https = env(&[("HTTPS_PROXY", "http://sp.example:3128")]);
        assert_eq!(
            host(only_https.proxy_for(&uri("https://api.example/"))).as_deref(),
            Some("sp.example")
        );
        assert_eq!(host(only_https.proxy_for(&uri("http://gw.example/"))), None);
        // HTTP_PROXY alone carries http only.
        let only_http = env(&[("http_proxy", "http://hp.example:8080")]);
        assert_eq!(
            host(only_http.proxy_for(&uri("https://api.example/"))),
            None
        );
        assert_eq!(
            host(only_http.proxy_for(&uri("http://gw.example/"))).as_deref(),
            Some("hp.example")
        );
        // ALL_PROXY carries both, unless a scheme has its own; NO_PROXY applies.
        let all = env(&[
            ("ALL_PROXY", "http://all.example:1"),
            ("https_proxy", "http://sp.example:2"),
            ("NO_PROXY", "internal.example, .corp"),
        ]);
        assert_eq!(
            host(all.proxy_for(&uri("http://gw.example/"))).as_deref(),
            Some("all.example")
        );
        assert_eq!(
            host(all.proxy_for(&uri("https://gw.example/"))).as_deref(),
            Some("sp.example")
        );
        assert_eq!(host(all.proxy_for(&uri("http://internal.example/"))), None);
        assert_eq!(host(all.proxy_for(&uri("https://x.corp/"))), None);
        assert!(env(&[]).proxy_for(&uri("http://gw.example/")).is_none());
        // A variable that names no proxy is an error naming it, never its value.
        for bad in ["ftp://u:s3cret@proxy.example", "http://[u:s3cret@oops"] {
            let named =
                Proxies::from_env(|name| Ok((name == "HTTPS_PROXY").then(|| bad.to_owned())));
            let err = named.err().expect(bad);
            assert!(
                err.message.starts_with("HTTPS_PROXY is set") && !err.message.contains("s3cret")
            );
        }
    }

    #[test]
    fn bodies_are_framed_for_body_methods_in_any_case() {
        for m in ["POST", "post", "Put", "PATCH"] {
            assert!(
                carries_body(&Method::from_bytes(m.as_bytes()).unwrap()),
                "{m}"
            );
        }
        for m in ["GET", "DELETE", "HEAD", "PROPFIND", "OPTIONS"] {
            assert!(
                !carries_body(&Method::from_bytes(m.as_bytes()).unwrap()),
                "{m}"
            );
        }
    }
}
