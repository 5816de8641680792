//! Why an authorization request is refused, and where that is said: on
//! this server's own page until the person has allowed the client (its
//! redirect URI is only its registrant's word: RFC 9700 §4.11 forbids an
//! open redirector), naming where it would have gone; after, at the
//! host's redirect URI with the error, its `state` and `iss` (RFC 6749
//! §4.1.2.1, RFC 9207).

use axum::response::{IntoResponse, Response};

use crate::serve::page::{page, page_detailed};
use crate::serve::refusal::ErrorCode;

/// Why an authorization request is refused, and where that is said.
#[derive(Debug, PartialEq)]
pub(crate) enum Refused {
    /// On this server's page: the client or its redirect URI cannot be
    /// trusted.
    Page(&'static str),
    /// On this server's page, before the person allowed the client: the
    /// error, why, and where it would have gone.
    Unconsented {
        redirect_uri: String,
        error: ErrorCode,
        why: &'static str,
    },
    /// At the host's redirect URI (RFC 6749 §4.1.2.1): the error code, why,
    /// and the host's `state`.
    Redirect {
        redirect_uri: String,
        error: ErrorCode,
        why: String,
        state: Option<String>,
    },
}

impl Refused {
    /// Where the host is sent with the error (RFC 6749 §4.1.2.1, RFC 9207's
    /// `iss`), its query written by the URL crate.
    pub(super) fn location(
        redirect_uri: &str,
        error: ErrorCode,
        why: &str,
        state: Option<&str>,
        iss: &str,
    ) -> Option<String> {
        let mut url = url::Url::parse(redirect_uri).ok()?;
        url.query_pairs_mut()
            .append_pair("error", error.as_str())
            .append_pair("error_description", why)
            .extend_pairs(state.map(|state| ("state", state)))
            .append_pair("iss", iss);
        Some(url.into())
    }

    /// The answer this refusal is: this server's page, or the host's
    /// redirect with the error.
    pub(crate) fn answer(self, iss: &str) -> Response {
        let outcome = match &self {
            Refused::Page(_) | Refused::Unconsented { .. } => "refused_on_page",
            Refused::Redirect { error, .. } => error.as_str(),
        };
        crate::metrics::oauth("authorization", outcome);
        match self {
            Refused::Page(why) => {
                log::info!(target: "nexus_mcp", "authorization refused on the page: {why}");
                page(axum::http::StatusCode::BAD_REQUEST, why)
            }
            Refused::Unconsented {
                redirect_uri,
                error,
                why,
            } => {
                let shown = nexus_sdk::one_line(&redirect_uri);
                log::info!(target: "nexus_mcp", "authorization refused on the page ({error}): {why}; it would have returned to {shown}");
                let text = "The application's request was refused before you allowed it, so \
                            you are not sent back to it. Tell its developer what was wrong:";
                let detail = format!("{error}: {why} (it would have returned to {shown})");
                page_detailed(axum::http::StatusCode::BAD_REQUEST, text, &detail)
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
