//! The Secret Token a SCIM provisioning service authenticates with: what
//! it seals (the server it is for), the check every route makes, and the
//! words each mistake with it gets in the operator's line.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};

use super::super::Receivers;
use super::super::subject::{self, Outcome};
use super::{CHANNEL, Refused};
use crate::keys::{Sealing, Unopened};

/// What a SCIM bearer secret seals: the origin of the server it is for.
#[derive(Serialize, Deserialize)]
pub(crate) struct ScimToken {
    pub(crate) scim_for: String,
}

/// The provisioning service, authenticated by a secret `serve scim token`
/// made for this server; refused (401, and a line that says why) otherwise.
pub(crate) struct Provider;

impl FromRequestParts<Arc<Receivers>> for Provider {
    type Rejection = Refused;

    async fn from_request_parts(
        parts: &mut Parts,
        here: &Arc<Receivers>,
    ) -> Result<Provider, Refused> {
        let token = crate::serve::refusal::bearer(&parts.headers);
        let opened = (token.as_ref().ok())
            .map(|token| Sealing::opened::<ScimToken>(&here.keys.now().oauth.scim, token));
        let why = match (opened, token) {
            (Some(Ok(sealed)), _) if sealed.scim_for == here.origin => return Ok(Provider),
            (Some(Ok(_)), _) => {
                "its Secret Token was made for another server (--public-url)".into()
            }
            (Some(Err(unopened)), Ok(token)) => unopened_said(here, token, unopened),
            (None, _) | (_, Err(_)) => "it carries no bearer token".into(),
        };
        let line = format!(
            "{why}: give the provisioning service the Secret Token `nexus-mcp serve scim token` \
             makes for this server"
        );
        subject::said((CHANNEL, "unauthenticated"), None, Outcome::Refused, &line);
        let why = "the request is authenticated by the Secret Token `nexus-mcp serve scim token` \
                   made for this server";
        Err(Refused(StatusCode::UNAUTHORIZED, None, why.into()))
    }
}

/// Why the Secret Token `token` did not open, as the mistakes go: the
/// `Secret Token: ` label or a space pasted with it, the token cut short or
/// with more after it (its length beside the one this server's tokens
/// have), or made with another keyring.
fn unopened_said(here: &Receivers, token: &str, unopened: Unopened) -> String {
    if token.contains(char::is_whitespace) || token.contains(':') {
        return "its Secret Token holds more than the token (the `Secret Token: ` label, or a \
                space, pasted with it): give what follows `Secret Token: ` alone"
            .into();
    }
    let ours = ScimToken {
        scim_for: here.origin.clone(),
    };
    let seals = &here.keys.now().oauth.scim;
    let whole = Sealing::named(seals, &ours, crate::serve::oauth::CLIENT_LIFE).len();
    match unopened {
        Unopened::Foreign { kid, held } => format!(
            "its Secret Token was made with another keyring (its key {}; this server holds {held})",
            crate::answer::quoted(&kid, 64)
        ),
        Unopened::Differs { kid } => format!(
            "its Secret Token was made with another keyring (another key under the id {})",
            crate::answer::quoted(&kid, 64)
        ),
        Unopened::Invalid if token.len() < whole => format!(
            "its Secret Token is cut short: {} characters, where this server's have {whole}",
            token.len()
        ),
        Unopened::Invalid if token.len() > whole => format!(
            "its Secret Token has more after it: {} characters, where this server's have {whole}",
            token.len()
        ),
        Unopened::Invalid => "its Secret Token is none this server's keyring made (changed, or \
                              expired)"
            .into(),
    }
}
