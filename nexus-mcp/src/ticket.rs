//! The connect page's links: the ticket a link carries (who was asked, and
//! where their consent is), sealed under the keyring's first key and
//! opened under the key the link names ([`crate::keys`]).

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::keys::HeldKeys;

/// Who was asked, and where their consent is: what a link carries.
#[derive(Serialize, Deserialize)]
pub(crate) struct Ticket {
    /// The person asked: SHA-256 of their issuer and subject, all of it.
    pub(crate) person: String,
    /// The provider, as the user reads it.
    pub(crate) provider: String,
    /// The Gateway's consent URL.
    pub(crate) consent: String,
}

/// The connect page's links: what the connect flow needs to send a person
/// there, and what the page needs to open what was sent.
pub(crate) struct Links {
    /// The public URL's origin (`https://mcp.example.com`).
    pub(crate) origin: String,
    /// The keys held: their link seals, the first seals, the one a link
    /// names opens it.
    keys: Arc<HeldKeys>,
}

/// Why a link's ticket does not open.
pub(crate) enum Unopened {
    /// Sealed under a key id this replica's ring lacks: the replicas'
    /// keyrings differ.
    Foreign {
        /// The id the link names.
        kid: String,
        /// The ids this replica holds, as a line names them.
        held: String,
    },
    /// Sealed under a key id this replica holds another key under: the
    /// replicas' keys under that id differ.
    Differs {
        /// The id the link names.
        kid: String,
    },
    /// Expired, changed, or never a link.
    Invalid,
}

impl Links {
    /// The links of the page at `origin`, sealed with the `keys` held.
    pub(crate) fn new(origin: &str, keys: Arc<HeldKeys>) -> Links {
        let origin = origin.to_owned();
        Links { origin, keys }
    }

    /// The keys held now (the login's cookie is sealed with them too).
    pub(crate) fn keys(&self) -> Arc<crate::keys::Keys> {
        self.keys.now()
    }

    /// The link that sends `ticket`'s person to consent, valid for `ttl`:
    /// the sealing key's id (base64url), its fingerprint, the sealed
    /// ticket, a dot between each.
    pub(crate) fn link(&self, ticket: &Ticket, ttl: Duration) -> String {
        let keys = self.keys.now();
        let sealed = (keys.tickets.first()).map(|held| {
            let kid = URL_SAFE_NO_PAD.encode(&held.kid);
            format!("{kid}.{}.{}", held.fingerprint, held.seal.seal(ticket, ttl))
        });
        format!("{}/connect/{}", self.origin, sealed.unwrap_or_default())
    }

    /// The ticket a link carries, when the key it names sealed it and it
    /// has not expired; else why not.
    pub(crate) fn ticket(&self, sealed: &str) -> Result<Ticket, Unopened> {
        let mut parts = sealed.splitn(3, '.');
        let (kid, fingerprint, sealed) = (parts.next(), parts.next(), parts.next());
        let (Some(kid), Some(fingerprint), Some(sealed)) = (kid, fingerprint, sealed) else {
            return Err(Unopened::Invalid);
        };
        let kid = URL_SAFE_NO_PAD.decode(kid).ok();
        let kid = kid
            .and_then(|k| String::from_utf8(k).ok())
            .ok_or(Unopened::Invalid)?;
        let keys = self.keys.now();
        let tickets = &keys.tickets;
        match tickets.iter().find(|held| held.kid == kid) {
            Some(held) if held.fingerprint != fingerprint => Err(Unopened::Differs { kid }),
            Some(held) => held.seal.open(sealed).ok_or(Unopened::Invalid),
            None => {
                let held: Vec<&str> = tickets.iter().map(|held| held.kid.as_str()).collect();
                let held = held.join(", ");
                Err(Unopened::Foreign { kid, held })
            }
        }
    }

    /// Where the Gateway sends the browser back after consent.
    pub(crate) fn done_url(&self) -> String {
        format!("{}/connect/done", self.origin)
    }
}
