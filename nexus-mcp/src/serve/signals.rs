//! The identity provider switching a person off itself, through the
//! channels it may use, none of them OAuth: Global Token Revocation,
//! Shared Signals (pushed and polled) and SCIM. Each writes a revocation
//! through the store every replica reads, and is served with one
//! (`--store`). The person's Broker connections are left as they are: the
//! provider ends access to `serve`, not the person's links.
//!
//! Its rooms:
//! - [`subject`]: the rule the channels share: whom a subject identifier
//!   (RFC 9493) names, the one line and count each signal leaves;
//! - [`global`]: `POST /global-token-revocation`, a person switched off
//!   (Okta's Universal Logout);
//! - [`ssf`]: Shared Signals, a SET pushed to `/ssf/events` or polled,
//!   checked and taken;
//! - [`stream`]: a Shared Signals stream, made (`serve ssf connect`) and
//!   polled;
//! - [`scim`]: `/scim/v2`, the provider's provisioning, a person
//!   deactivated until it reactivates them; a folder of its own.
//!
//! This file holds the routes, and the small state the channels read.

mod global;
mod scim;
mod ssf;
mod stream;
pub(crate) mod subject;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::post;

use self::subject::People;
use super::issuer::Issuer;
use super::oauth::front::{Front, GLOBAL_REVOCATION, Signals};
use super::store::Store;
use crate::keys::HeldKeys;

pub(crate) use self::scim::{BASE as SCIM_BASE, ScimToken};
pub(crate) use self::stream::{checked as ssf_checked, connect as ssf_connect};

/// What the channels read: where this server is, whose people it serves,
/// the keys the issuer signs requests with, the store, the keyring the
/// channels' secrets are sealed with, and what the flags say of signals.
pub(crate) struct Receivers {
    /// The authorization server's origin: its issuer identifier.
    pub(crate) origin: String,
    /// The MCP endpoint's URL.
    pub(crate) resource: String,
    /// The people a signal may name.
    pub(crate) people: People,
    /// `--issuer`, whose published keys sign a Global Token Revocation.
    pub(crate) issuer: Arc<Issuer>,
    /// Where revocations are written, read by every replica.
    pub(crate) store: Arc<Store>,
    /// The keyring the SCIM secret and the push authorization are sealed with.
    pub(crate) keys: Arc<HeldKeys>,
    /// The transmitters, and what the flags say of signals.
    pub(crate) signals: Signals,
}

impl Receivers {
    /// What the channels of `front` read.
    pub(crate) fn of(front: &Front) -> Receivers {
        Receivers {
            origin: front.origin.clone(),
            resource: front.resource.clone(),
            people: People {
                issuer: front.issuer.clone(),
                claim: front.login.reads.subject_claim.clone(),
            },
            issuer: Arc::clone(&front.login.issuer),
            store: Arc::clone(&front.store),
            keys: Arc::clone(&front.keys),
            signals: front.signals.clone(),
        }
    }
}

/// The most a signal's request (its body) may weigh.
const MOST_BODY: usize = 16 << 10;

/// The channels' routes: Global Token Revocation and, with a transmitter,
/// pushed SETs, served with a store alone; SCIM's, which without a store
/// say they need one. Each body is a small document.
pub(crate) fn routes(receivers: Arc<Receivers>) -> Router {
    let scim = scim::routes(Arc::clone(&receivers));
    if !receivers.store.shared() {
        return scim;
    }
    let logout = post(global::revoke).with_state(Arc::clone(&receivers));
    let events = post(ssf::receive).with_state(Arc::clone(&receivers));
    let pushed = (!receivers.signals.transmitters.is_empty())
        .then(|| Router::new().route(ssf::EVENTS, events));
    Router::new()
        .merge(pushed.unwrap_or_default())
        .merge(scim)
        .route(GLOBAL_REVOCATION, logout)
        .layer(DefaultBodyLimit::max(MOST_BODY))
}

/// Polls each transmitter's poll streams on its own, with
/// `NEXUS_MCP_SSF_TOKEN`, when the token is given.
pub(crate) fn polled(receivers: &Arc<Receivers>) {
    let Some(token) = &receivers.signals.ssf_token else {
        return;
    };
    for transmitter in &receivers.signals.transmitters {
        let polled = stream::poll(
            Arc::clone(receivers),
            Arc::clone(transmitter),
            token.clone(),
        );
        tokio::spawn(polled);
    }
}
