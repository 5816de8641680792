//! The hosts' authorization server (`--oauth-proxy`), for an issuer that
//! lets no host register (Entra ID, Okta's org server, Google): `serve`
//! publishes its own metadata (RFC 8414) and registers hosts (RFC 7591),
//! asks each person's consent for each host on its own page, signs them in
//! at the issuer with the login client ([`super::signin`]) and issues its
//! own tokens for the MCP endpoint.
//!
//! Its rooms, in the order a sign-in runs through them; each step reads
//! [`front::Front`] and the leaves below it, and no step names a step above
//! it:
//! - [`register`]: `POST /register`;
//! - [`authorize`]: `GET /authorize`, a host's request checked;
//! - [`consent`]: the consent page, `POST /authorize`, and the code once
//!   the person has signed in;
//! - [`token`]: `POST /token`;
//! - [`assertion`]: the ID-JAG grant at `/token`, an assertion checked;
//! - [`revoke`]: `POST /revoke`, a host done with a token;
//! - [`global`]: `POST /global-token-revocation`, the identity provider
//!   switching a person off (with `--store`);
//! - [`scim`]: `/scim/v2/Users`, the provider's provisioning deactivating
//!   a person (with `--store`);
//! - [`ssf`]: Shared Signals, pushed to `/ssf/events` or polled (with
//!   `--ssf-transmitter`), a SET checked and taken;
//! - [`stream`]: a Shared Signals stream, made (`serve ssf connect`) and
//!   polled;
//! - [`document`]: client ID metadata documents, fetched;
//! - [`front`]: the state every step reads;
//! - [`client`]: a client, its registration and its redirect URIs;
//! - [`authn`]: who asks at `/token` and `/revoke`, a secret checked;
//! - [`refused`]: an authorization refused, on this server's page or at
//!   the host's redirect.
//!
//! This file holds the routes.

mod assertion;
mod authn;
mod authorize;
mod client;
pub(crate) mod consent;
pub(crate) mod document;
pub(crate) mod front;
mod global;
mod refused;
mod register;
mod revoke;
mod scim;
mod ssf;
mod stream;
mod token;

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

use self::front::Front;

pub(crate) use self::authn::secret_hash;
pub(crate) use self::client::{Client, confidential};
pub(crate) use self::scim::{BASE as SCIM_BASE, ScimToken};
pub(crate) use self::stream::{checked as ssf_checked, connect as ssf_connect, poll as ssf_poll};
pub(crate) use crate::serve::grant::CLIENT_LIFE;

/// The most a token or registration request's body may weigh.
const MOST_FORM: usize = 64 << 10;

/// The authorization server's routes: its metadata (RFC 8414 §3, at the
/// origin's root: its issuer has no path), `/authorize` (the request, and
/// the consent form's answer), `/token`, `/revoke` and `/register`, whose
/// bodies are a form and a few URIs and a name ([`MOST_FORM`] at most);
/// with a store, the provider's `/global-token-revocation` and
/// `/scim/v2/Users`.
pub(crate) fn routes(front: Arc<Front>) -> Router {
    let metadata = front.metadata();
    let metadata = get(move || async move { Json(metadata) });
    let register = post(register::register).with_state(Arc::clone(&front));
    let authorize = get(authorize::authorize)
        .post(consent::consented)
        .with_state(Arc::clone(&front));
    let revoke = post(revoke::revoke).with_state(Arc::clone(&front));
    let signals = front.store.shared().then(|| signals(&front));
    let token = post(token::token).with_state(front);
    Router::new()
        .merge(signals.unwrap_or_default())
        .route("/.well-known/oauth-authorization-server", metadata)
        .route("/authorize", authorize)
        .route("/token", token.layer(DefaultBodyLimit::max(MOST_FORM)))
        .route("/revoke", revoke.layer(DefaultBodyLimit::max(MOST_FORM)))
        .route(
            "/register",
            register.layer(DefaultBodyLimit::max(MOST_FORM)),
        )
}

/// The identity provider's signals, served with a store alone: Global
/// Token Revocation, SCIM's users and, with a transmitter, pushed SETs,
/// each body a small document.
fn signals(front: &Arc<Front>) -> Router {
    let logout = post(global::revoke).with_state(Arc::clone(front));
    let users = get(scim::search).post(scim::create);
    let user = get(scim::read)
        .patch(scim::update)
        .put(scim::update)
        .delete(scim::delete);
    let events = post(ssf::receive).with_state(Arc::clone(front));
    let pushed =
        (!front.signals.transmitters.is_empty()).then(|| Router::new().route(ssf::EVENTS, events));
    Router::new()
        .merge(pushed.unwrap_or_default())
        .route(front::GLOBAL_REVOCATION, logout)
        .route(
            &format!("{}/Users", scim::BASE),
            users.with_state(Arc::clone(front)),
        )
        .route(
            &format!("{}/Users/{{id}}", scim::BASE),
            user.with_state(Arc::clone(front)),
        )
        .layer(DefaultBodyLimit::max(global::MOST_BODY))
}
