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
//! The id also carries the name the client gave in its `clientInfo`, so
//! that every replica's audit line names the client its calls come from
//! (rmcp's stateless answer to a 2025 call knows no `initialize`).
//!
//! The id is not sealed, and need not be: it says only what the client
//! itself declared, and one that claims it falsely changes nothing but how
//! its own calls are answered and named. Sessions hold nothing here, so
//! there is none to end: a `DELETE` is answered 405, as the transport allows.

use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::{SecureRandom, SystemRandom};
use rmcp::model::ClientCapabilities;

/// The header that carries the session id (MCP 2025-11-25).
pub(crate) const SESSION_ID: HeaderName = HeaderName::from_static("mcp-session-id");

/// How a session id this server gave a client that takes URL elicitation begins.
const URL_ELICITATION: &str = "url-elicitation.";

/// How any other session id this server gave begins.
const PLAIN: &str = "plain.";

/// The longest client name a session id carries, in bytes.
const NAME_MAX: usize = 64;

/// What a client declared at `initialize`: whether it takes URL
/// elicitation, and its name.
#[derive(Default)]
struct Declared {
    url: bool,
    name: Option<String>,
}

/// One request's `initialize`, as its handler saw it: shared by the guard in
/// front of rmcp (which puts it in the request) and the handler (which
/// finds it there).
#[derive(Clone, Default)]
pub(crate) struct Handshake(Arc<Mutex<Declared>>);

impl Handshake {
    /// Notes what the client declared at `initialize`: its capabilities and
    /// its name.
    pub(crate) fn declared(&self, capabilities: &ClientCapabilities, name: &str) {
        let url = (capabilities.elicitation.as_ref()).is_some_and(|e| e.url.is_some());
        if let Ok(mut declared) = self.0.lock() {
            let cut = name
                .char_indices()
                .take_while(|(at, c)| at + c.len_utf8() <= NAME_MAX);
            let name = name[..cut.last().map_or(0, |(at, c)| at + c.len_utf8())].to_owned();
            *declared = Declared {
                url,
                name: Some(name),
            };
        }
    }

    /// The session id to answer an `initialize` with: a fresh one that says
    /// whether the client takes URL elicitation and carries its name;
    /// `None` for any other request (or if the system has no randomness).
    pub(crate) fn session_id(&self) -> Option<HeaderValue> {
        let declared = self.0.lock().ok()?;
        let name = declared.name.as_deref()?;
        let mut unique = [0u8; 16];
        SystemRandom::new().fill(&mut unique).ok()?;
        let kind = if declared.url { URL_ELICITATION } else { PLAIN };
        let (name, unique) = (URL_SAFE_NO_PAD.encode(name), URL_SAFE_NO_PAD.encode(unique));
        HeaderValue::from_str(&format!("{kind}{name}.{unique}")).ok()
    }
}

/// Whether a request's session id says its client declared URL elicitation.
pub(crate) fn url_elicitation(headers: &HeaderMap) -> bool {
    session_id(headers).is_some_and(|id| id.starts_with(URL_ELICITATION))
}

/// The client name a request's session id carries, as its `initialize` gave it.
pub(crate) fn client_name(headers: &HeaderMap) -> Option<String> {
    let id = session_id(headers)?;
    let rest = id
        .strip_prefix(URL_ELICITATION)
        .or_else(|| id.strip_prefix(PLAIN))?;
    let name = URL_SAFE_NO_PAD.decode(rest.split('.').next()?).ok()?;
    String::from_utf8(name)
        .ok()
        .filter(|name| name.len() <= NAME_MAX)
}

fn session_id(headers: &HeaderMap) -> Option<&str> {
    headers.get(SESSION_ID).and_then(|id| id.to_str().ok())
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
    fn a_session_id_says_whether_its_client_takes_url_elicitation_and_its_name() {
        let none = Handshake::default();
        assert!(
            none.session_id().is_none(),
            "a request that is no initialize"
        );
        let form = Handshake::default();
        form.declared(&capabilities(false), "claude-code");
        let mut headers = HeaderMap::new();
        headers.insert(SESSION_ID, form.session_id().unwrap());
        assert!(!url_elicitation(&headers), "form elicitation only");
        assert_eq!(client_name(&headers).as_deref(), Some("claude-code"));
        let long = Handshake::default();
        long.declared(&capabilities(false), &"é".repeat(100));
        headers.insert(SESSION_ID, long.session_id().unwrap());
        assert_eq!(
            client_name(&headers),
            Some("é".repeat(32)),
            "cut at 64 bytes"
        );
        let url = Handshake::default();
        url.declared(&capabilities(true), "cursor");
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
