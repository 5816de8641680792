//! The HTTP transport shared by Gateway and upstream calls: one `ureq`
//! agent (one connection pool) configured for the SDK, the loopback proxy
//! rule, request framing, and capped body reads.

use std::io::Read;
use std::time::{Duration, Instant};

use ureq::http::{Method, Request, Response, Uri};
use ureq::{Agent, Body};

use crate::error::NexusError;
use crate::url::is_loopback_host;

/// `User-Agent` of every request the SDK sends.
pub(crate) const USER_AGENT: &str = concat!("nexus-gateway-sdk/", env!("CARGO_PKG_VERSION"));

/// The longest a TCP connect may take, whatever the client's timeout.
const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether this build can speak TLS, and the features that would make it.
pub(crate) const TLS_FEATURES: &str = "`rustls` (the default), `native-tls` or `platform-verifier`";

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
    /// bounds every request by `timeout` as a whole (resolve, connect, send,
    /// headers, body).
    pub(crate) fn new(timeout: Duration) -> Transport {
        let config = Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(timeout))
            .timeout_connect(Some(timeout.min(MAX_CONNECT_TIMEOUT)))
            .user_agent(USER_AGENT)
            .allow_non_standard_methods(true);
        #[cfg(any(feature = "rustls", feature = "native-tls"))]
        let config = config.tls_config(tls_config());
        let config = config.build();
        let proxied = config.proxy().is_some();
        Transport {
            agent: Agent::new_with_config(config),
            timeout,
            proxied,
        }
    }

    /// The most one request may take.
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Sends one request with `body`, which must also finish by `deadline`
    /// when one is given. A method that carries a body (POST, PUT, PATCH, in
    /// any case) and has none is sent with `Content-Length: 0`, as curl and
    /// Python's http.client do, never as an empty chunked body. Loopback
    /// targets never go through an environment proxy.
    pub(crate) fn send(
        &self,
        request: Request<()>,
        body: Option<&[u8]>,
        deadline: Option<Instant>,
    ) -> Result<Response<Body>, NexusError> {
        let remaining = match deadline {
            Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => Some(left),
                _ => {
                    return Err(NexusError::transport(ureq::Error::Timeout(
                        ureq::Timeout::Global,
                    )));
                }
            },
            None => None,
        };
        let direct = self.proxied && request.uri().host().is_some_and(is_loopback_host);
        let body = body.or_else(|| carries_body(request.method()).then_some(&[][..]));
        let result = match body {
            Some(bytes) => self.run(request.map(|()| bytes), direct, remaining),
            None => self.run(request, direct, remaining),
        };
        result.map_err(NexusError::transport)
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

/// Whether requests with this method carry a body, so an empty one is
/// still framed: POST, PUT and PATCH, in any case (http.client's rule).
fn carries_body(method: &Method) -> bool {
    ["POST", "PUT", "PATCH"]
        .iter()
        .any(|m| method.as_str().eq_ignore_ascii_case(m))
}

/// Whether this build can reach `uri`: any http URL, and https only with a
/// TLS feature.
pub(crate) fn can_reach(uri: &Uri) -> bool {
    let https = uri
        .scheme_str()
        .is_some_and(|s| s.eq_ignore_ascii_case("https"));
    !https || cfg!(any(feature = "rustls", feature = "native-tls"))
}

/// `invalid_input`, naming the features that would help, for an `https://`
/// URL in a build without TLS.
pub(crate) fn check_tls_available(uri: &Uri, what: &str) -> Result<(), NexusError> {
    if !can_reach(uri) {
        return Err(NexusError::invalid_input(format!(
            "{what} is https://, but this build has no TLS: enable the {TLS_FEATURES} feature"
        )));
    }
    Ok(())
}

/// TLS as the crate features ask: rustls with webpki roots by default, the
/// OS trust store with `platform-verifier`, native-tls when it is the only
/// TLS feature.
#[cfg(any(feature = "rustls", feature = "native-tls"))]
fn tls_config() -> ureq::tls::TlsConfig {
    let builder = ureq::tls::TlsConfig::builder();
    #[cfg(all(feature = "native-tls", not(feature = "rustls")))]
    let builder = builder.provider(ureq::tls::TlsProvider::NativeTls);
    #[cfg(feature = "platform-verifier")]
    let builder = builder.root_certs(ureq::tls::RootCerts::PlatformVerifier);
    builder.build()
}

/// Why a capped body read failed.
pub(crate) enum ReadError {
    /// The body is longer than the cap.
    TooLarge,
    /// The connection failed or timed out while reading.
    Io(std::io::Error),
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
    fn https_needs_a_tls_feature() {
        let uri = |s: &str| s.parse::<Uri>().unwrap();
        assert!(check_tls_available(&uri("http://x/"), "url").is_ok());
        let https = check_tls_available(&uri("HTTPS://x/"), "url");
        let tls = cfg!(any(feature = "rustls", feature = "native-tls"));
        assert_eq!(https.is_ok(), tls);
        if let Err(e) = https {
            assert_eq!(e.code, "invalid_input");
            assert!(e.message.contains("`rustls`") && e.message.contains("`native-tls`"));
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
