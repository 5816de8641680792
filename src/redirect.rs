//! The one redirect engine, with two policies: the Gateway's (GET only,
//! same host, http → https at most, anything else an error) and the
//! upstream's (any method, any reachable origin, the credential kept on its
//! own). A redirect rule is written once, here, for both.

use ureq::Body;
use ureq::http::header::{CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use ureq::http::{Method, Request, Response, Uri};

use crate::budget::Budget;
use crate::echo::echoes;
use crate::error::{NexusError, Peer};
use crate::token::CachedToken;
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
    /// holds one of `token`'s secrets in any form (a query credential a
    /// server copied into its `Location`, raw, encoded, or in a base64 text).
    Upstream {
        provider: &'a str,
        home: &'a Origin,
        token: &'a CachedToken,
    },
}

/// Redirects followed before the next redirect answer is returned as it is
/// (or, for the Gateway, is its error).
pub const MAX_REDIRECTS: usize = 5;

/// The hop about to be sent.
pub(crate) struct Hop {
    pub(crate) method: Method,
    pub(crate) uri: Uri,
    /// `uri`'s origin, worked out once per hop.
    pub(crate) origin: Origin,
    pub(crate) body: Option<Vec<u8>>,
    /// Whether this hop or an earlier one left the first hop's origin.
    pub(crate) strayed: bool,
    /// Whether a 301–303 turned the method into GET and dropped the body:
    /// the body's headers go too.
    pub(crate) body_dropped: bool,
}

impl Hop {
    /// The first hop of a chain, to `uri` (whose origin is `origin`).
    pub(crate) fn new(method: Method, uri: Uri, origin: Origin, body: Option<Vec<u8>>) -> Hop {
        Hop {
            method,
            uri,
            origin,
            body,
            strayed: false,
            body_dropped: false,
        }
    }

    /// Whether the hop is on `origin`.
    pub(crate) fn is_on(&self, origin: &Origin) -> bool {
        self.origin == *origin
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
    let (deadline, limit) = budget.within(transport.timeout());
    let first = hop.origin.clone();
    let mut n = 0;
    loop {
        budget.check()?;
        hop.strayed |= !hop.is_on(&first);
        let sent = transport.send(request(&hop)?, hop.body.as_deref(), deadline);
        let response =
            sent.map_err(|e| e.reaching(&policy.peer(&hop.origin, hop.strayed), limit))?;
        let status = response.status().as_u16();
        let location = response.headers().get(LOCATION);
        let next = match (status, location.and_then(|l| l.to_str().ok())) {
            (301..=303 | 307 | 308, Some(l)) => resolve_location(&hop.uri, l),
            _ => None,
        };
        let next = next
            .map(|next| policy.next(status, &hop, next, n))
            .transpose()?;
        let Some(next) = next.flatten() else {
            return Ok((response, hop));
        };
        if matches!(status, 301..=303) && hop.method != Method::GET && hop.method != Method::HEAD {
            // RFC 9110 §15.4: what every browser and client does.
            hop.method = Method::GET;
            hop.body = None;
            hop.body_dropped = true;
        }
        (hop.uri, hop.origin) = next;
        n += 1;
    }
}

impl Policy<'_> {
    /// The server a hop on `origin` talks to, for its errors; `redirected`
    /// when a redirect led there from another origin.
    pub(crate) fn peer<'a>(&'a self, origin: &'a Origin, redirected: bool) -> Peer<'a> {
        let provider = match self {
            Policy::Gateway { .. } => None,
            Policy::Upstream { provider, .. } => Some(*provider),
        };
        Peer {
            provider,
            origin,
            host: origin.host(),
            redirected,
        }
    }

    /// Where a redirect from `hop` (the `n`th redirect of the chain, from 0)
    /// to `next` goes: `Some` to follow, `None` to return the answer.
    fn next(
        &self,
        status: u16,
        hop: &Hop,
        next: Uri,
        n: usize,
    ) -> Result<Option<(Uri, Origin)>, NexusError> {
        let target = Origin::of(&next);
        match (self, target) {
            (Policy::Upstream { home, token, .. }, Some(target)) => {
                let leaks = || echoes(next.to_string().as_bytes(), &token.secrets(), None);
                let safe = target == **home || leaks() == Some(false);
                Ok((n < MAX_REDIRECTS && can_reach(&next) && safe).then_some((next, target)))
            }
            (Policy::Upstream { .. }, None) => Ok(None),
            (Policy::Gateway { .. }, _) if hop.method != Method::GET || n >= MAX_REDIRECTS => {
                Ok(None)
            }
            (Policy::Gateway { home }, Some(target))
                if home.may_upgrade_to(&target) && hop.origin.may_upgrade_to(&target) =>
            {
                check_tls_available(&next, "a Gateway redirect")?;
                Ok(Some((next, target)))
            }
            (Policy::Gateway { .. }, target) => {
                let name = target.map_or_else(|| "an unusable URL".to_owned(), |t| t.to_string());
                Err(NexusError::gateway_redirect(status, &name))
            }
        }
    }
}
