//! The one redirect engine, with two policies: the Gateway's (GET only,
//! same host, http → https at most, anything else an error) and the
//! upstream's (any method, any reachable origin, the credential kept on its
//! own). A redirect rule is written once, here, for both.

use ureq::Body;
use ureq::http::header::{CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use ureq::http::{Method, Request, Response, Uri};

use crate::budget::Budget;
use crate::error::{NexusError, Server};
use crate::redact::echoes;
use crate::transport::Transport;
use crate::url::{Origin, can_reach, check_tls_available, resolve_location};

/// Which redirects a chain follows.
pub(crate) enum Policy<'a> {
    /// Gateway calls: GET only, every hop on `home`'s host (http → https
    /// allowed, never the reverse); a redirect anywhere else is an error
    /// naming its target, which receives nothing.
    Gateway { home: &'a Origin },
    /// Upstream calls to `provider`'s API: any method and origin this build
    /// can reach; a redirect it cannot follow is returned as the answer, and
    /// so is one to another origin than `home` (the credential's) whose URL
    /// holds one of `secrets` in any form (a query credential a server copied
    /// into its `Location`, raw or encoded).
    Upstream {
        provider: &'a str,
        home: &'a Origin,
        secrets: [&'a str; 2],
    },
}

/// Redirects followed before the next redirect answer is returned as it is
/// (or, for the Gateway, is its error).
pub const MAX_REDIRECTS: usize = 5;

/// The hop about to be sent.
pub(crate) struct Hop {
    pub(crate) method: Method,
    uri: Uri,
    /// `uri`'s origin, worked out once per hop.
    origin: Option<Origin>,
    pub(crate) body: Option<Vec<u8>>,
    /// Whether this hop or an earlier one left the first hop's origin.
    pub(crate) strayed: bool,
    /// Whether a 301–303 turned the method into GET and dropped the body:
    /// the body's headers go too.
    pub(crate) body_dropped: bool,
}

impl Hop {
    /// The first hop of a chain.
    pub(crate) fn new(method: Method, uri: Uri, body: Option<Vec<u8>>) -> Hop {
        Hop {
            method,
            origin: Origin::of(&uri),
            uri,
            body,
            strayed: false,
            body_dropped: false,
        }
    }

    /// Where the hop goes.
    pub(crate) fn uri(&self) -> &Uri {
        &self.uri
    }

    /// Whether the hop is on `origin`.
    pub(crate) fn is_on(&self, origin: &Origin) -> bool {
        self.origin.as_ref() == Some(origin)
    }

    /// Moves the hop to `next`, its origin with it.
    fn go_to(&mut self, next: Uri) {
        self.origin = Origin::of(&next);
        self.uri = next;
    }
}

/// The headers a body dropped by a 301–303 leaves behind.
pub(crate) const BODY_HEADERS: [ureq::http::HeaderName; 2] = [CONTENT_TYPE, CONTENT_LENGTH];

/// Sends `first` and follows redirects under `policy`, building each hop's
/// request with `request` (which decides what the hop carries). Hops share
/// one time budget: the transport's timeout, within the call's `budget`.
/// Returns the last answer and the hop that got it.
pub(crate) fn send(
    transport: &Transport,
    policy: &Policy<'_>,
    budget: &Budget,
    mut hop: Hop,
    mut request: impl FnMut(&Hop) -> Result<Request<()>, NexusError>,
) -> Result<(Response<Body>, Hop), NexusError> {
    let deadline = budget.deadline_within(transport.timeout());
    // Which limit a timeout ran into: the call's own, or one request's.
    let limit = match budget.left() {
        Some(left) if left < transport.timeout() => budget.limit(),
        _ => (transport.timeout(), "NexusClientOptions::timeout"),
    };
    let Some(first) = hop.origin.clone() else {
        return Err(NexusError::invalid_input("url has no host"));
    };
    let mut n = 0;
    loop {
        budget.check()?;
        hop.strayed |= !hop.is_on(&first);
        let sent = transport.send(request(&hop)?, hop.body.as_deref(), deadline);
        let response = sent.map_err(|e| match &hop.origin {
            Some(origin) => e.reaching(policy.server(), (origin, origin.host()), limit),
            None => e,
        })?;
        let status = response.status().as_u16();
        let next = match status {
            301 | 302 | 303 | 307 | 308 => response
                .headers()
                .get(LOCATION)
                .and_then(|l| l.to_str().ok())
                .and_then(|l| resolve_location(&hop.uri, l)),
            _ => None,
        };
        let next = match next {
            Some(next) => policy.next(status, &hop, next, n)?,
            None => None,
        };
        let Some(next) = next else {
            return Ok((response, hop));
        };
        if matches!(status, 301..=303) && hop.method != Method::GET && hop.method != Method::HEAD {
            // RFC 9110 §15.4: what every browser and client does.
            hop.method = Method::GET;
            hop.body = None;
            hop.body_dropped = true;
        }
        hop.go_to(next);
        n += 1;
    }
}

impl Policy<'_> {
    /// The server this chain talks to, for its errors.
    fn server(&self) -> Server<'_> {
        match self {
            Policy::Gateway { .. } => Server::Gateway,
            Policy::Upstream { provider, .. } => Server::Provider(provider),
        }
    }

    /// Where a redirect from `hop` (the `n`th redirect of the chain, from 0)
    /// to `next` goes: `Some(next)` to follow, `None` to return the answer.
    fn next(&self, status: u16, hop: &Hop, next: Uri, n: usize) -> Result<Option<Uri>, NexusError> {
        match self {
            Policy::Upstream { home, secrets, .. } => {
                let elsewhere = Origin::of(&next).as_ref() != Some(*home);
                let leaks = elsewhere && echoes(&next.to_string(), secrets);
                Ok((n < MAX_REDIRECTS && can_reach(&next) && !leaks).then_some(next))
            }
            Policy::Gateway { home } => {
                if hop.method != Method::GET || n >= MAX_REDIRECTS {
                    return Ok(None);
                }
                let target = Origin::of(&next);
                let allowed = target.as_ref().is_some_and(|t| {
                    home.may_upgrade_to(t)
                        && hop.origin.as_ref().is_some_and(|h| h.may_upgrade_to(t))
                });
                if !allowed {
                    let name =
                        target.map_or_else(|| "an unusable URL".to_owned(), |t| t.to_string());
                    return Err(NexusError::gateway_redirect(status, &name));
                }
                check_tls_available(&next, "a Gateway redirect")?;
                Ok(Some(next))
            }
        }
    }
}
