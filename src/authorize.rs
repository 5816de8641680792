//! The credential on a request built with any client, over the `http`
//! crate's types: what [`NexusClient::authorize`](crate::NexusClient::authorize)
//! applies, and the [`Authorization`] it gives back.

use std::fmt;

use ureq::http::{Request, Uri};

use crate::error::NexusError;
use crate::fetch::apply_credential;
use crate::token::CachedToken;
use crate::url::{Origin, http_target, with_query_param};

/// The credential [`NexusClient::authorize`](crate::NexusClient::authorize) put on a request.
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
        let strategy = self.token.strategy();
        log::info!(target: crate::redact::LOG_TARGET, "A 401 was reported for a {strategy} credential: dropped from the cache");
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

/// Where an earlier [`authorize`](crate::NexusClient::authorize) put a credential
/// on a request (kept in its extensions): authorizing it again takes that
/// off first, so no credential of another token stays on it unsigned.
#[derive(Clone)]
enum Applied {
    Header(String),
    QueryParam(String),
}

/// Applies `token` to `request` (whose checked URI is `uri`): on copies, so
/// a failure leaves the request as it was.
pub(crate) fn apply_to<B: AsRef<[u8]>>(
    token: CachedToken,
    mut uri: Uri,
    request: &mut Request<B>,
) -> Result<Authorization, NexusError> {
    let mut headers = request.headers().clone();
    match request.extensions().get::<Applied>() {
        Some(Applied::Header(name)) => drop(headers.remove(name.as_str())),
        Some(Applied::QueryParam(name)) => uri = with_query_param(&uri, name, None)?,
        None => {}
    }
    let body = request.body().as_ref();
    apply_credential(&token, request.method(), &mut uri, &mut headers, body)?;
    *request.headers_mut() = headers;
    *request.uri_mut() = uri;
    let applied = match token.query_param() {
        Some(name) => Applied::QueryParam(name.to_owned()),
        None => Applied::Header(token.header_name().to_owned()),
    };
    request.extensions_mut().insert(applied);
    Ok(Authorization { token })
}
