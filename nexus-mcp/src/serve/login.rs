//! `serve`'s connect page: a link to the server itself, `/connect/<ticket>`,
//! that only the person who was asked can use. The ticket (sealed: see
//! [`crate::ticket`]) holds who was asked and the Gateway's consent URL.
//! Opening it signs the browser in at the issuer ([`super::signin`]); only
//! when the sign-in's issuer and subject are the ticket's is the browser
//! sent on to consent.
//!
//! The sign-in's one callback is here too: it is the one place that knows
//! the flows a sign-in serves, and hands a host's authorization on to
//! [`super::oauth::consent`] and an approval's to [`super::approve`].

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::args::Page;
use super::oauth::consent;
use super::page::{page, page_detailed};
use super::signin::{
    Answered, NotSignedIn, Refusal, Returned, SignIn, Then, begin, finish, returned,
};
use crate::keys::Unopened;
use crate::principal::person;
use crate::ticket::Links;

/// The routes of the connect page (its links' tickets open with `links`),
/// and the sign-in's callback.
pub(crate) fn routes((links, login): Page) -> Router {
    Router::new()
        .route("/connect/done", get(done))
        .route("/connect/callback", get(callback))
        .route("/connect/{ticket}", get(start))
        .with_state((links, login))
}

/// `GET /connect/<ticket>`: a valid ticket starts the login.
async fn start(State((links, login)): State<Page>, Path(ticket): Path<String>) -> Response {
    if let Err(unopened) = links.ticket(&ticket) {
        return refused_link(&login, unopened);
    }
    begin(login, Then::Connect { ticket }).await
}

/// A link that does not open, as the person reads it (400, and what to do)
/// and as the operator does (why, at most once per reason a while).
fn refused_link(login: &SignIn, unopened: Unopened) -> Response {
    let why = match &unopened {
        Unopened::Invalid => {
            let line = "connect page: refused a link that has expired, was changed, or was never \
                        one of this server's";
            login.told.warn("invalid link", line);
            let why =
                "This link is not valid: it has expired, or was changed. Ask your host again.";
            return page(StatusCode::BAD_REQUEST, why);
        }
        Unopened::Differs { .. } => {
            "This link was made by another server of this service, whose key differs from this \
             one's. Ask your host again; if this repeats, tell the server's operator."
        }
        Unopened::Foreign { .. } => {
            "This link was made by another server of this service, whose keys this one does not \
             hold. Ask your host again; if it happens again, tell whoever runs this server (its \
             log says which key is missing)."
        }
    };
    if let Some(line) = unopened.keys_differ("a connect link") {
        login
            .told
            .warn("a link sealed under keys held otherwise", &line);
    }
    page(StatusCode::BAD_REQUEST, why)
}

/// `GET /connect/callback`: the sign-in's answer, handed to the flow it
/// was for.
async fn callback(
    State((links, login)): State<Page>,
    Query(answered): Query<Answered>,
    headers: HeaderMap,
) -> Response {
    let (then, returned) = match returned(&login, answered, &headers) {
        Ok((then, Ok(returned))) => (then, returned),
        Ok((then, Err(refusal))) => return refused_by_issuer(&login, then, &refusal),
        Err(why) => return page(StatusCode::BAD_REQUEST, why),
    };
    match then {
        Then::Authorize { pending, .. } => {
            let signed_in = finish(Arc::clone(&login), returned).await;
            consent::signed_in(&login.keys(), &pending, signed_in, &headers)
        }
        Then::Connect { ticket } => connected((&links, login), &ticket, returned).await,
        Then::Approve { ticket, .. } => {
            let signed_in = finish(Arc::clone(&login), returned).await;
            super::approve::signed_in(&login.keys(), &ticket, signed_in)
        }
    }
}

/// The issuer refused the sign-in: said to the operator in one line with
/// what an administrator changes there, to the person on this server's
/// page in the issuer's words, and to a host as `access_denied` at its
/// redirect.
fn refused_by_issuer(login: &SignIn, then: Then, refusal: &Refusal) -> Response {
    let flow = match then {
        Then::Authorize { .. } => "a host's sign-in",
        Then::Connect { .. } => "a connect link's sign-in",
        Then::Approve { .. } => "an approval's sign-in",
    };
    log::warn!(target: "nexus_mcp", "the issuer refused {flow} ({}); {}", refusal.said(), refusal.remedy());
    crate::metrics::oauth("sign_in", "refused_by_issuer");
    match then {
        Then::Authorize { pending, .. } => {
            consent::refused_by_issuer(&login.keys(), &pending, refusal)
        }
        Then::Connect { .. } | Then::Approve { .. } => page_detailed(
            StatusCode::FORBIDDEN,
            "Your organisation's sign-in refused this sign-in. It said:",
            &refusal.said(),
        ),
    }
}

/// The connect link's sign-in: the browser sent on to consent when the
/// person who signed in is the one the ticket names.
async fn connected(
    (links, login): (&Links, Arc<SignIn>),
    ticket: &str,
    returned: Returned,
) -> Response {
    let Ok(ticket) = links.ticket(ticket) else {
        return page(
            StatusCode::BAD_REQUEST,
            "This link has expired. Ask your host again.",
        );
    };
    let logged = finish(Arc::clone(&login), returned).await;
    let logged = logged.map(|signed| person(&signed.issuer, &signed.subject));
    match logged {
        Ok(person) if person == ticket.person => {
            let to = [(header::LOCATION, ticket.consent)];
            (StatusCode::FOUND, to).into_response()
        }
        Ok(_) => {
            // Entra ID's `sub` is pairwise, one per application: the API's
            // access token and the login client's ID token differ. Its
            // metadata, alone among issuers', names a cloud instance.
            let metadata = login.issuer.metadata().unwrap_or_default();
            let entra = metadata.get("cloud_instance_name").is_some();
            let hint = match entra && login.reads.subject_claim == "sub" {
                true => {
                    "; with Entra ID, --subject-claim oid names the person alike in both tokens (its sub is one per application)"
                }
                false => "",
            };
            log::warn!(target: "nexus_mcp", "connect page: a link made for another person was opened (provider {:?}){hint}; nothing was redirected", ticket.provider);
            page(
                StatusCode::FORBIDDEN,
                "This link was made for another account. Sign in as the person it was sent to, \
                 or ask your host for your own.",
            )
        }
        Err(NotSignedIn::Person(why)) => {
            log::warn!(target: "nexus_mcp", "connect page: the login did not complete: {why}");
            page(
                StatusCode::BAD_REQUEST,
                "The login did not complete. Open the link again.",
            )
        }
        Err(NotSignedIn::Operator(why)) => {
            log::error!(target: "nexus_mcp", "connect page: no login can complete: {why}");
            page(
                StatusCode::SERVICE_UNAVAILABLE,
                "This server cannot sign you in right now: its sign-in is not set up as the \
                 issuer expects. Tell whoever runs this server; opening the link again will \
                 not help.",
            )
        }
        Err(NotSignedIn::Barred(why)) => {
            log::warn!(target: "nexus_mcp", "connect page refused: {why}; nothing was redirected");
            page(
                StatusCode::FORBIDDEN,
                "This server lets in only the accounts its operator allows, and this account is \
                 not one of them. Sign in with your organisation's account.",
            )
        }
        Err(NotSignedIn::Stopped) => page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The login failed. Try again.",
        ),
    }
}

/// `GET /connect/done`: where the Gateway sends the browser after consent.
async fn done() -> Response {
    page(
        StatusCode::OK,
        "The connection is made. You can close this page and go back to your host: the \
         request carries on.",
    )
}
