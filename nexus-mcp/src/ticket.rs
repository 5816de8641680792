//! The connect page's links: the ticket a link carries (who was asked, and
//! where their consent is), sealed under the keyring's first key and
//! opened under the key the link names ([`crate::keys`]).

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::keys::{HeldKeys, Sealing, Unopened};

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

impl Links {
    /// The links of the page at `origin`, sealed with the `keys` held.
    pub(crate) fn new(origin: &str, keys: Arc<HeldKeys>) -> Links {
        let origin = origin.to_owned();
        Links { origin, keys }
    }

    /// The link that sends `ticket`'s person to consent, valid for `ttl`
    /// (see [`Sealing::named`]).
    pub(crate) fn link(&self, ticket: &Ticket, ttl: Duration) -> String {
        let sealed = Sealing::named(&self.keys.now().tickets, ticket, ttl);
        format!("{}/connect/{sealed}", self.origin)
    }

    /// The ticket a link carries, when the key it names sealed it and it
    /// has not expired; else why not.
    pub(crate) fn ticket(&self, sealed: &str) -> Result<Ticket, Unopened> {
        Sealing::opened(&self.keys.now().tickets, sealed)
    }

    /// Where the Gateway sends the browser back after consent.
    pub(crate) fn done_url(&self) -> String {
        format!("{}/connect/done", self.origin)
    }
}
