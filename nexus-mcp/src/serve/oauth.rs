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
//! - [`refresh`]: a refresh token at `/token`, rotated in its family;
//! - [`assertion`]: the ID-JAG grant at `/token`, an assertion checked;
//! - [`exchange`]: token exchange at `/token`, for a chain of agents;
//! - [`itself`]: client credentials at `/token`, an agent as itself;
//! - [`device`]: the device grant's `/device_authorization` and `/device`;
//! - [`revoke`]: `POST /revoke`, a host done with a token;
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
mod device;
pub(crate) mod document;
mod exchange;
pub(crate) mod front;
mod itself;
mod refresh;
mod refused;
mod register;
mod revoke;
mod token;

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

use self::front::Front;

pub(crate) use self::authn::secret_hash;
pub(crate) use self::client::{Client, confidential};
pub(crate) use crate::serve::grant::CLIENT_LIFE;

/// The most a token or registration request's body may weigh.
const MOST_FORM: usize = 64 << 10;

/// The authorization server's routes: its metadata (RFC 8414 §3, at the
/// origin's root: its issuer has no path), `/authorize` (the request, and
/// the consent form's answer), `/token`, `/revoke` and `/register`, whose
/// bodies are a form and a few URIs and a name ([`MOST_FORM`] at most).
pub(crate) fn routes(front: Arc<Front>) -> Router {
    let metadata = front.metadata();
    let metadata = get(move || async move { Json(metadata) });
    let register = post(register::register).with_state(Arc::clone(&front));
    let authorize = get(authorize::authorize)
        .post(consent::consented)
        .with_state(Arc::clone(&front));
    let revoke = post(revoke::revoke).with_state(Arc::clone(&front));
    let device_authorization = post(device::authorization).with_state(Arc::clone(&front));
    let device_answer = post(device::answer).with_state(Arc::clone(&front));
    let device = get(device::verification)
        .post(device::verified)
        .with_state(Arc::clone(&front));
    let token = post(token::token).with_state(front);
    Router::new()
        .route("/.well-known/oauth-authorization-server", metadata)
        .route("/authorize", authorize)
        .route("/token", token.layer(DefaultBodyLimit::max(MOST_FORM)))
        .route("/revoke", revoke.layer(DefaultBodyLimit::max(MOST_FORM)))
        .route(
            "/device_authorization",
            device_authorization.layer(DefaultBodyLimit::max(MOST_FORM)),
        )
        .route("/device", device.layer(DefaultBodyLimit::max(MOST_FORM)))
        .route(
            "/device/answer",
            device_answer.layer(DefaultBodyLimit::max(MOST_FORM)),
        )
        .route(
            "/register",
            register.layer(DefaultBodyLimit::max(MOST_FORM)),
        )
}
