//! Opaque access tokens and their introspection (RFC 7662), as ZITADEL
//! issues them to dynamically registered clients: a token that is no JWS,
//! whose claims only the issuer's `/introspect` tells, and only to a
//! client that authenticates (a confidential one,
//! [`FakeIssuer::add_confidential_client`]).

use std::collections::HashMap;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{FakeIssuer, FakeToken, State};
use crate::hold::{Hold, Holds};
use crate::server::Reply;

impl FakeIssuer {
    /// An opaque access token (a random-looking string, no JWS) standing for
    /// `token`'s claims, as this issuer's `/introspect` tells them while it
    /// has not expired.
    pub fn mint_opaque(&self, token: &FakeToken) -> String {
        let claims = token.claims(&self.url());
        keep(&mut self.state.lock(), claims)
    }

    /// How many times `/introspect` was asked, by any client (a question
    /// held by [`hold_next_introspection`](Self::hold_next_introspection)
    /// counts from when it arrives).
    pub fn introspections(&self) -> usize {
        self.state.lock().introspections
    }

    /// Holds the next question at `/introspect`, not answered until the
    /// returned [`Hold`] is dropped; holds queue up, one question each.
    ///
    /// ```
    /// use nexus_gateway_fake::FakeIssuer;
    ///
    /// let issuer = FakeIssuer::start();
    /// let hold = issuer.hold_next_introspection();
    /// // ... a question arrives: `issuer.introspections()` counts it, unanswered ...
    /// drop(hold); // now it is answered
    /// ```
    pub fn hold_next_introspection(&self) -> Hold {
        Holds::hold(&self.holds, None, None)
    }

    /// Makes `/introspect` refuse every question (400 `invalid_request`)
    /// with `description` as its `error_description`, whatever it holds
    /// (line breaks, an issuer's HTML): as a misconfigured or hostile
    /// issuer words it. `None` answers as usual again.
    pub fn set_introspection_error(&self, description: Option<&str>) {
        self.state.lock().introspection_error = description.map(str::to_owned);
    }
}

/// A new opaque token standing for `claims`, kept for `/introspect`.
pub(super) fn keep(state: &mut State, claims: Value) -> String {
    state.serial += 1;
    let seed = format!("{}\0{claims}", state.serial);
    let digest = Sha256::digest(seed.as_bytes());
    let opaque: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    state.opaque.insert(opaque.clone(), claims);
    opaque
}

/// `POST /introspect`: the claims of an active token, `{"active": false}`
/// for any other; 401 for a client that does not authenticate.
pub(super) fn answer(state: &mut State, _url: &str, form: &HashMap<String, String>) -> Reply {
    if let Some(description) = &state.introspection_error {
        let body = json!({"error": "invalid_request", "error_description": description});
        return super::answer(400, &body);
    }
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
    let known = state.secrets.get(field("client_id"));
    if known.is_none_or(|secret| secret.as_str() != field("client_secret")) {
        return super::answer(401, &json!({"error": "invalid_client"}));
    }
    let now = i64::try_from(jsonwebtoken::get_current_timestamp()).unwrap_or(i64::MAX);
    let claims = state.opaque.get(field("token")).cloned();
    let live = claims.filter(|c| c["exp"].as_i64().is_some_and(|exp| exp > now));
    let body = match live {
        Some(Value::Object(mut claims)) => {
            claims.insert("active".into(), json!(true));
            Value::Object(claims)
        }
        _ => json!({"active": false}),
    };
    super::answer(200, &body)
}
