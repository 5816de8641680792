//! Why an authorization request is refused, and where that is said: on
//! this server's own page when the redirect URI cannot be trusted, else at
//! the host's redirect URI with the error, its `state` and `iss` (RFC 6749
//! §4.1.2.1, RFC 9207).

use axum::response::{IntoResponse, Response};

use crate::serve::page::page;

/// Why an authorization request is refused, and where that is said.
#[derive(Debug, PartialEq)]
pub(crate) enum Refused {
    /// On this server's page: the redirect URI cannot be trusted.
    Page(&'static str),
    /// At the host's redirect URI (RFC 6749 §4.1.2.1): the error code, why,
    /// and the host's `state`.
    Redirect {
        redirect_uri: String,
        error: &'static str,
        why: String,
        state: Option<String>,
    },
}

impl Refused {
    /// Where the host is sent with the error (RFC 6749 §4.1.2.1, RFC 9207's
    /// `iss`), its query written by the URL crate.
    fn location(
        redirect_uri: &str,
        error: &str,
        why: &str,
        state: Option<&str>,
        iss: &str,
    ) -> Option<String> {
        let mut url = url::Url::parse(redirect_uri).ok()?;
        url.query_pairs_mut()
            .append_pair("error", error)
            .append_pair("error_description", why)
            .extend_pairs(state.map(|state| ("state", state)))
            .append_pair("iss", iss);
        Some(url.into())
    }

    /// The answer this refusal is: this server's page, or the host's
    /// redirect with the error.
    pub(crate) fn answer(self, iss: &str) -> Response {
        let outcome = match &self {
            Refused::Page(_) => "refused_on_page",
            Refused::Redirect { error, .. } => error,
        };
        crate::metrics::oauth("authorization", outcome);
        match self {
            Refused::Page(why) => {
                log::info!(target: "nexus_mcp", "authorization refused on the page: {why}");
                page(axum::http::StatusCode::BAD_REQUEST, why)
            }
            Refused::Redirect {
                redirect_uri,
                error,
                why,
                state,
            } => {
                log::info!(target: "nexus_mcp", "authorization refused ({error}): {why}");
                let location = Refused::location(&redirect_uri, error, &why, state.as_deref(), iss);
                let location = location.unwrap_or(redirect_uri);
                axum::response::Redirect::to(&location).into_response()
            }
        }
    }
}
