//! The connect page's links: the ticket a link carries (who was asked, and
//! where their consent is), sealed under the keyring's first key and
//! opened under the key the link names ([`crate::keys`]); and the approval
//! page's ([`ApprovalLinks`]), each carrying the call it asks approved
//! ([`crate::approval::Asked`]).

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::approval::{Approvals, Asked};
use crate::keys::{HeldKeys, Keys, Sealing, Unopened};

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

/// What `serve` asks approvals with: where verdicts wait, and the
/// approval page's links (none without a sign-in page, `--login-client-id`).
pub(crate) struct Approving {
    pub(crate) approvals: Arc<Approvals>,
    pub(crate) links: Option<Arc<ApprovalLinks>>,
}

/// The approval page's links: an [`Asked`] sealed under the keyring's
/// first key for the approvals' life, on this server's origin.
pub(crate) struct ApprovalLinks {
    origin: String,
    keys: Arc<HeldKeys>,
    life: Duration,
}

impl ApprovalLinks {
    /// The links of `origin`, sealed with `keys`, valid for `life`.
    pub(crate) fn new(origin: &str, keys: Arc<HeldKeys>, life: Duration) -> ApprovalLinks {
        let origin = origin.to_owned();
        ApprovalLinks { origin, keys, life }
    }

    /// The approval page for `asked`.
    pub(crate) fn link(&self, asked: &Asked) -> String {
        let sealed = Sealing::named(&self.keys.now().approvals, asked, self.life);
        format!("{}/approve/{sealed}", self.origin)
    }
}

/// The call an approval link carries, when it opens and has not expired.
///
/// # Errors
///
/// Why it does not open.
pub(crate) fn asked(keys: &Keys, sealed: &str) -> Result<Asked, Unopened> {
    Sealing::opened(&keys.approvals, sealed)
}

/// [`asked`], and until when the link holds (seconds since the Unix epoch).
///
/// # Errors
///
/// Why it does not open.
pub(crate) fn asked_until(keys: &Keys, sealed: &str) -> Result<(Asked, u64), Unopened> {
    Sealing::opened_until(&keys.approvals, sealed)
}
