//! The credential on a request built with any client:
//! [`NexusClient::authorize`] (apply, then send it yourself), over the
//! `http` crate's types.

use std::fmt;

use ureq::http::{Request, Uri};

use crate::cache::TokenCache;
use crate::client::NexusClient;
use crate::error::NexusError;
use crate::fetch::{Parts, apply_credential};
use crate::token::CachedToken;
use crate::url::{Origin, http_target, with_query_param};

/// The credential [`NexusClient::authorize`] put on a request.
///
/// If the request you sent got a **401**, call
/// [`rejected`](Authorization::rejected): the cache drops exactly that
/// token (not a newer one another thread stored), and the next call
/// resolves a fresh one, as `authenticated_fetch` does by itself. Any other
/// answer needs nothing: drop the value.
#[must_use = "on a 401 call `rejected()`, so the cache drops the refused token"]
pub struct Authorization {
    token: CachedToken,
}

impl Authorization {
    /// The upstream refused the credential (HTTP 401): every cache holding
    /// this very token drops it at its next look.
    pub fn rejected(self) {
        log::info!(
            target: crate::redact::LOG_TARGET,
            "A 401 was reported for a {} credential: dropped from the cache",
            self.token.strategy()
        );
        self.token.reject();
    }

    /// The strategy applied, as the Broker names it (`oauth2`, `header`, …).
    pub fn strategy(&self) -> &str {
        self.token.strategy()
    }
}

impl fmt::Debug for Authorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authorization")
            .field("strategy", &self.token.strategy())
            .finish_non_exhaustive()
    }
}

/// A request's URI, checked as `authenticated_fetch` checks a URL, and its origin.
pub(crate) fn target<B>(request: &Request<B>) -> Result<(Uri, Origin), NexusError> {
    http_target(&request.uri().to_string(), "the request's URI")
}

/// Where an earlier [`authorize`](NexusClient::authorize) put a credential
/// on a request (kept in its extensions): authorizing it again takes that
/// off first, so no credential of another token stays on it unsigned.
#[derive(Clone)]
struct Applied {
    header: Option<String>,
    query_param: Option<String>,
}

/// Applies `token` to `request` (whose checked URI is `uri`): on copies, so
/// a failure leaves the request as it was.
fn apply_to<B: AsRef<[u8]>>(
    token: CachedToken,
    mut uri: Uri,
    request: &mut Request<B>,
) -> Result<Authorization, NexusError> {
    let mut headers = request.headers().clone();
    if let Some(earlier) = request.extensions().get::<Applied>() {
        if let Some(name) = &earlier.header {
            headers.remove(name.as_str());
        }
        if let Some(name) = &earlier.query_param {
            uri = with_query_param(&uri, name, None)?;
        }
    }
    let body = request.body().as_ref();
    apply_credential(&token, request.method(), &mut uri, &mut headers, body)?;
    *request.headers_mut() = headers;
    *request.uri_mut() = uri;
    let query_param = token.query_param().map(str::to_owned);
    request.extensions_mut().insert(Applied {
        header: query_param
            .is_none()
            .then(|| token.header_name().to_owned()),
        query_param,
    });
    Ok(Authorization { token })
}

impl NexusClient {
    /// Puts the credential for (`workspace_id`, `provider`) on `request`, to
    /// send with any HTTP client: the Rust counterpart of Go's
    /// `RoundTripper` and TypeScript's `createFetcher`.
    ///
    /// The request's URI must be absolute (`https://api.github.com/user`).
    /// It is checked against the client's
    /// [`CredentialScope`](crate::CredentialScope) exactly as
    /// `authenticated_fetch` checks a URL; the token comes through `cache`
    /// (single flight, rotation); then the strategy is applied: a header
    /// (replacing one of the same name, marked sensitive), a query
    /// parameter, or for `hmac_payload` and `aws_sigv4` a signature over the
    /// request's method, URI, headers and body as they are now. Change
    /// nothing after it but what your client adds on its own.
    ///
    /// **Redirects are yours to keep safe.** The credential is in the
    /// request's headers or URI, and a client that follows a redirect to
    /// another origin may carry it there (ureq and reqwest drop
    /// `Authorization` and `Cookie` across origins, but keep an `X-API-Key`
    /// or a signature header). Turn redirects off for these requests
    /// (`reqwest::redirect::Policy::none()`, ureq's `max_redirects(0)`) and
    /// authorize a request to the new location afresh, or use
    /// [`authenticated_fetch`](Self::authenticated_fetch), which follows
    /// them under the crate's origin rule.
    ///
    /// ```
    /// # use nexus_gateway_fake::{FakeGateway, FakeProvider, FakeUpstream};
    /// # use nexus_sdk::{NexusClient, NexusClientOptions, TokenCache};
    /// # let (gateway, api) = (FakeGateway::start(), FakeUpstream::start());
    /// # gateway.add_provider("ws-1", "github", FakeProvider::oauth2("gho_x").api_base_url(&api.url()));
    /// # let client = NexusClient::new(NexusClientOptions::new(gateway.url()))?;
    /// # let url = format!("{}/user", api.url());
    /// let cache = TokenCache::new();
    /// let mut request = nexus_sdk::http::Request::get(&url).body(Vec::new()).unwrap();
    /// let authorization = client.authorize(&cache, "ws-1", "github", &mut request)?;
    /// assert_eq!(request.headers()["authorization"], "Bearer gho_x");
    ///
    /// // … send `request` with your own client, redirects off; then:
    /// let status = 401;
    /// if status == 401 {
    ///     authorization.rejected(); // the next authorize resolves a fresh token
    /// }
    /// # Ok::<(), nexus_sdk::NexusError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `invalid_input` for a blank id or a URI that is not absolute
    /// http(s); `origin_not_allowed` or `provider_not_listed` as
    /// `authenticated_fetch` says; any error of
    /// [`get_cached_token`](Self::get_cached_token); `invalid_credentials`
    /// when the credential cannot go on the request.
    pub fn authorize<B: AsRef<[u8]>>(
        &self,
        cache: &TokenCache,
        workspace_id: &str,
        provider: &str,
        request: &mut Request<B>,
    ) -> Result<Authorization, NexusError> {
        let (uri, origin) = target(request)?;
        let parts = Parts {
            method: request.method(),
            uri: &uri,
            origin: &origin,
            headers: request.headers(),
        };
        let budget = self.engine().request_budget(None);
        let token = self
            .engine()
            .credential(cache, workspace_id, provider, parts, &budget)?;
        apply_to(token, uri, request)
    }
}
