//! What a 2025 client declared at `initialize`, kept without a session.
//!
//! `serve` is stateless: a 2025 client's `initialize` and its later calls
//! may reach different replicas, and rmcp serves each of them as if the
//! client had declared nothing. One thing a call needs to know is whether
//! the client takes a URL elicitation: if it does, a provider to connect is
//! answered `-32042` (`URLElicitationRequiredError`, MCP 2025-11-25), with
//! the connect page as its elicitation; if not, the link is in the tool
//! error. So a client that declares it is answered with a session id that
//! says so (a server may assign one with its `InitializeResult`, and the
//! client then sends it on every request), and any replica reads it back.
//!
//! The id is not sealed, and need not be: it says only what the client
//! itself declared, and one that claims it falsely changes nothing but how
//! its own calls are answered. Sessions hold nothing here, so there is none
//! to end: a `DELETE` is answered 405, as the transport allows.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::http::{HeaderMap, HeaderValue};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::{SecureRandom, SystemRandom};
use rmcp::model::ClientCapabilities;

/// The header that carries the session id (MCP 2025-11-25).
pub(crate) const SESSION_ID: &str = "mcp-session-id";

/// How a session id this server gave a client that takes URL elicitation begins.
const URL_ELICITATION: &str = "url-elicitation.";

/// One request's `initialize`, as its handler saw it: shared by the guard in
/// front of rmcp (which puts it in the request) and the handler (which
/// finds it there).
#[derive(Clone, Default)]
pub(crate) struct Handshake(Arc<AtomicBool>);

impl Handshake {
    /// Notes what the client declared at `initialize`.
    pub(crate) fn declared(&self, capabilities: &ClientCapabilities) {
        let url = (capabilities.elicitation.as_ref()).is_some_and(|e| e.url.is_some());
        self.0.store(url, Ordering::Relaxed);
    }

    /// The session id to answer the `initialize` with: a fresh one that
    /// says the client takes URL elicitation; `None` for any other request
    /// or client (or if the system has no randomness to give).
    pub(crate) fn session_id(&self) -> Option<HeaderValue> {
        if !self.0.load(Ordering::Relaxed) {
            return None;
        }
        let mut unique = [0u8; 16];
        SystemRandom::new().fill(&mut unique).ok()?;
        let id = format!("{URL_ELICITATION}{}", URL_SAFE_NO_PAD.encode(unique));
        HeaderValue::from_str(&id).ok()
    }
}

/// Whether a request's session id says its client declared URL elicitation.
pub(crate) fn url_elicitation(headers: &HeaderMap) -> bool {
    let id = headers.get(SESSION_ID).and_then(|id| id.to_str().ok());
    id.is_some_and(|id| id.starts_with(URL_ELICITATION))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::model::{ElicitationCapability, UrlElicitationCapability};

    fn capabilities(url: bool) -> ClientCapabilities {
        let mut elicitation = ElicitationCapability::default();
        elicitation.url = url.then(UrlElicitationCapability::default);
        let mut capabilities = ClientCapabilities::default();
        capabilities.elicitation = Some(elicitation);
        capabilities
    }

    #[test]
    fn only_a_client_that_takes_url_elicitation_is_given_a_session_id() {
        let none = Handshake::default();
        assert!(
            none.session_id().is_none(),
            "a request that is no initialize"
        );
        let form = Handshake::default();
        form.declared(&capabilities(false));
        assert!(form.session_id().is_none(), "form elicitation only");
        let url = Handshake::default();
        url.declared(&capabilities(true));
        let (first, second) = (url.session_id().unwrap(), url.session_id().unwrap());
        assert_ne!(first, second, "each id is its own");
        let mut headers = HeaderMap::new();
        assert!(!url_elicitation(&headers));
        headers.insert(SESSION_ID, first);
        assert!(url_elicitation(&headers));
        headers.insert(SESSION_ID, HeaderValue::from_static("another-servers-id"));
        assert!(!url_elicitation(&headers));
    }
}
