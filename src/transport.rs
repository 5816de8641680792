//! HTTP plumbing shared by Gateway and upstream calls: the `ureq` agent and
//! its configuration, the loopback proxy rule, capped body reads, URL
//! encoding, and turning `ureq` errors into [`NexusError`]s that never
//! repeat a URL (an upstream URL may carry a credential in its query).

use std::io::{self, Read};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use ureq::http::{Request, Response, Uri};
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};
use ureq::{Agent, Body};

use crate::error::NexusError;

/// `User-Agent` of every request the SDK sends.
pub(crate) const USER_AGENT: &str = concat!("nexus-gateway-sdk/", env!("CARGO_PKG_VERSION"));

/// The longest a TCP connect may take, whatever the client's timeout.
const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// One `ureq` agent (its connection pool), its timeout, and whether it
/// routes through an environment proxy.
#[derive(Debug, Clone)]
pub(crate) struct Transport {
    agent: Agent,
    timeout: Duration,
    proxied: bool,
}

impl Transport {
    /// An agent that leaves statuses, redirects and retries to the SDK and
    /// bounds every request by `timeout`.
    pub(crate) fn new(timeout: Duration) -> Transport {
        let config = Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(timeout))
            .timeout_connect(Some(timeout.min(MAX_CONNECT_TIMEOUT)))
            .user_agent(USER_AGENT)
            .allow_non_standard_methods(true)
            .tls_config(tls_config())
            .build();
        let proxied = config.proxy().is_some();
        let agent = Agent::with_parts(
            config,
            DefaultConnector::new(),
            LiteralFirstResolver::default(),
        );
        Transport {
            agent,
            timeout,
            proxied,
        }
    }

    /// The most one request may take.
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Sends one request, with a body when `body` is `Some`.
    pub(crate) fn send(
        &self,
        request: Request<()>,
        body: Option<&[u8]>,
    ) -> Result<Response<Body>, ureq::Error> {
        self.send_until(request, body, None)
    }

    /// Sends one request that must also finish by `deadline`, when given.
    /// Loopback targets never go through an environment proxy.
    pub(crate) fn send_until(
        &self,
        request: Request<()>,
        body: Option<&[u8]>,
        deadline: Option<Instant>,
    ) -> Result<Response<Body>, ureq::Error> {
        let remaining = match deadline {
            Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => Some(left),
                _ => return Err(ureq::Error::Timeout(ureq::Timeout::Global)),
            },
            None => None,
        };
        let direct = self.proxied && is_loopback(request.uri());
        match body {
            Some(bytes) => self.run(request.map(|()| bytes), direct, remaining),
            None => self.run(request, direct, remaining),
        }
    }

    fn run<S: ureq::AsSendBody>(
        &self,
        request: Request<S>,
        direct: bool,
        remaining: Option<Duration>,
    ) -> Result<Response<Body>, ureq::Error> {
        if !direct && remaining.is_none() {
            // The common case: the agent's own configuration, no per-request copy.
            return self.agent.run(request);
        }
        let mut config = self.agent.configure_request(request);
        if direct {
            config = config.proxy(None);
        }
        if let Some(remaining) = remaining {
            config = config.timeout_global(Some(remaining));
        }
        self.agent.run(config.build())
    }
}

/// Answers IP-literal hosts at once and asks ureq's default resolver for
/// names.
///
/// With a global timeout set, ureq 3.5's default resolver looks up every
/// host on a freshly spawned thread, IP literals and pooled connections
/// included: on loopback that alone more than doubles a request's time
/// (`benches/fetch.rs` measures it). Names still go through the default
/// resolver, so their lookup stays bounded by the timeout. This uses ureq's
/// `unversioned` API, which is why `Cargo.toml` pins ureq to 3.5.x.
#[derive(Debug, Default)]
struct LiteralFirstResolver(DefaultResolver);

impl Resolver for LiteralFirstResolver {
    fn resolve(
        &self,
        uri: &Uri,
        config: &ureq::config::Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        if let Some(addr) = literal_socket_addr(uri) {
            let mut addrs = self.empty();
            addrs.push(addr);
            return Ok(addrs);
        }
        self.0.resolve(uri, config, timeout)
    }
}

/// The socket address of a URI whose host is an IP literal.
fn literal_socket_addr(uri: &Uri) -> Option<SocketAddr> {
    let host = uri.host()?;
    let ip: IpAddr = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()?;
    let port = match (uri.port_u16(), uri.scheme_str()) {
        (Some(port), _) => port,
        (None, Some(s)) if s.eq_ignore_ascii_case("http") => 80,
        (None, Some(s)) if s.eq_ignore_ascii_case("https") => 443,
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// TLS as the crate features ask: rustls with webpki roots by default, the
/// OS trust store with `platform-verifier`, native-tls when it is the only
/// TLS feature.
fn tls_config() -> ureq::tls::TlsConfig {
    let builder = ureq::tls::TlsConfig::builder();
    #[cfg(all(feature = "native-tls", not(feature = "rustls")))]
    let builder = builder.provider(ureq::tls::TlsProvider::NativeTls);
    #[cfg(feature = "platform-verifier")]
    let builder = builder.root_certs(ureq::tls::RootCerts::PlatformVerifier);
    builder.build()
}

/// `localhost`, 127.0.0.0/8 or `::1`.
pub(crate) fn is_loopback(uri: &Uri) -> bool {
    let Some(host) = uri.host() else {
        return false;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Why a capped body read failed.
pub(crate) enum ReadError {
    /// The body is longer than the cap.
    TooLarge,
    /// The connection failed or timed out while reading.
    Io(io::Error),
}

/// Reads a whole body, failing once more than `cap` bytes have arrived.
/// The cap counts decoded bytes, so a compressed body cannot slip past it.
pub(crate) fn read_capped(body: Body, cap: usize) -> Result<Vec<u8>, ReadError> {
    // Sized from Content-Length, but never more than 64 KiB ahead of the
    // bytes that really arrive: a server cannot make us allocate by claiming.
    let expected = body
        .content_length()
        .map_or(0, |n| usize::try_from(n).unwrap_or(usize::MAX));
    let mut bytes = Vec::with_capacity(expected.min(cap).min(64 << 10).saturating_add(1));
    let limit = u64::try_from(cap).unwrap_or(u64::MAX).saturating_add(1);
    body.into_reader()
        .take(limit)
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if bytes.len() > cap {
        return Err(ReadError::TooLarge);
    }
    Ok(bytes)
}

/// Parses a caller's or the Gateway's URL: it must be absolute http(s) with a host.
pub(crate) fn parse_http_url(url: &str, what: &str) -> Result<Uri, NexusError> {
    let uri: Uri = url
        .trim()
        .parse()
        .map_err(|_| NexusError::invalid_input(format!("{what} is not a valid URL")))?;
    match uri.scheme_str() {
        Some(s) if s.eq_ignore_ascii_case("http") || s.eq_ignore_ascii_case("https") => {}
        _ => {
            return Err(NexusError::invalid_input(format!(
                "{what} must be an http:// or https:// URL"
            )));
        }
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(NexusError::invalid_input(format!("{what} has no host")));
    }
    Ok(uri)
}

/// Percent-encodes `s` as one path segment: every byte but `A-Z a-z 0-9 - . _ ~`.
pub(crate) fn encode_path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            push_percent(&mut out, b);
        }
    }
    out
}

/// An `application/x-www-form-urlencoded` query string of the pairs, in order.
pub(crate) fn form_urlencode(pairs: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (i, (key, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        form_encode_into(&mut out, key);
        out.push('=');
        form_encode_into(&mut out, value);
    }
    out
}

fn form_encode_into(out: &mut String, s: &str) {
    for &b in s.as_bytes() {
        match b {
            b' ' => out.push('+'),
            b'*' | b'-' | b'.' | b'_' => out.push(char::from(b)),
            _ if b.is_ascii_alphanumeric() => out.push(char::from(b)),
            _ => push_percent(out, b),
        }
    }
}

fn push_percent(out: &mut String, b: u8) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.push('%');
    out.push(char::from(HEX[usize::from(b >> 4)]));
    out.push(char::from(HEX[usize::from(b & 15)]));
}

/// Whether the request provably never left: no connection could be opened.
pub(crate) fn never_sent(e: &ureq::Error) -> bool {
    match e {
        ureq::Error::HostNotFound | ureq::Error::ConnectionFailed => true,
        ureq::Error::Timeout(t) => matches!(t, ureq::Timeout::Resolve | ureq::Timeout::Connect),
        ureq::Error::Io(io) => io.kind() == io::ErrorKind::ConnectionRefused,
        _ => false,
    }
}

/// The [`NexusError`] for a transport failure. The message names what
/// happened, never the URL.
pub(crate) fn transport_error(e: ureq::Error) -> NexusError {
    match e {
        ureq::Error::Timeout(t) => {
            NexusError::new("timeout", format!("request timed out ({t})")).with_source(e)
        }
        ureq::Error::Io(io) => io_error(io),
        ureq::Error::HostNotFound => {
            NexusError::new("request_failed", "host not found").with_source(e)
        }
        ureq::Error::ConnectionFailed => {
            NexusError::new("request_failed", "connection failed").with_source(e)
        }
        // These can repeat the URL or a header value: keep only what kind of failure it was.
        ureq::Error::BadUri(_) => NexusError::invalid_input("URL is not valid"),
        ureq::Error::Http(_) => NexusError::invalid_input(
            "request cannot be carried by HTTP (bad URL, header or method)",
        ),
        ureq::Error::RequireHttpsOnly(_) => NexusError::invalid_input("URL must be https"),
        ureq::Error::ConnectProxyFailed(_) => {
            NexusError::new("request_failed", "proxy refused the connection")
        }
        other => {
            let message = format!("transport error: {other}");
            NexusError::new("request_failed", message).with_source(other)
        }
    }
}

/// The [`NexusError`] for a failed body read: ureq wraps its own errors (a
/// timeout among them) in the `io::Error` its reader returns.
pub(crate) fn read_error(io: io::Error) -> NexusError {
    transport_error(ureq::Error::from(io))
}

fn io_error(io: io::Error) -> NexusError {
    match io.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => {
            NexusError::new("timeout", "request timed out").with_source(io)
        }
        io::ErrorKind::ConnectionRefused => {
            NexusError::new("request_failed", "connection refused").with_source(io)
        }
        _ => NexusError::new("request_failed", format!("connection failed: {io}")).with_source(io),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_cannot_climb() {
        assert_eq!(encode_path_segment("a/b"), "a%2Fb");
        assert_eq!(encode_path_segment("../x"), "..%2Fx");
        assert_eq!(encode_path_segment("a b?c#d"), "a%20b%3Fc%23d");
        assert_eq!(encode_path_segment("é"), "%C3%A9");
        assert_eq!(encode_path_segment("A-z.0_9~"), "A-z.0_9~");
        assert_eq!(encode_path_segment("\0"), "%00");
    }

    #[test]
    fn form_encoding() {
        assert_eq!(
            form_urlencode(&[("workspace_id", "w 1&x=2"), ("provider_name", "é*")]),
            "workspace_id=w+1%26x%3D2&provider_name=%C3%A9*"
        );
        assert_eq!(form_urlencode(&[]), "");
    }

    #[test]
    fn loopback_hosts() {
        for url in [
            "http://localhost:1/",
            "http://LOCALHOST/",
            "http://127.0.0.1/",
            "http://127.9.9.9:80/x",
            "http://[::1]:8080/",
        ] {
            assert!(is_loopback(&url.parse().unwrap()), "{url}");
        }
        for url in ["http://10.0.0.1/", "http://example.com/", "http://[::2]/"] {
            assert!(!is_loopback(&url.parse().unwrap()), "{url}");
        }
    }

    #[test]
    fn literal_addresses() {
        let addr = |url: &str| literal_socket_addr(&url.parse().unwrap()).map(|a| a.to_string());
        assert_eq!(
            addr("http://127.0.0.1:8080/x").as_deref(),
            Some("127.0.0.1:8080")
        );
        assert_eq!(addr("http://127.0.0.1/").as_deref(), Some("127.0.0.1:80"));
        assert_eq!(addr("https://[::1]/").as_deref(), Some("[::1]:443"));
        assert_eq!(addr("https://localhost/"), None);
        assert_eq!(addr("https://api.example/"), None);
    }

    #[test]
    fn url_checks() {
        assert!(parse_http_url("https://gw.example/base", "gateway_url").is_ok());
        assert!(parse_http_url("HTTP://127.0.0.1:8080", "gateway_url").is_ok());
        for bad in [
            "",
            "gw.example",
            "ftp://gw.example/",
            "http://",
            "http://a b/",
            "/v1",
        ] {
            let err = parse_http_url(bad, "gateway_url").unwrap_err();
            assert_eq!(err.code, "invalid_input", "{bad:?}");
        }
    }
}
