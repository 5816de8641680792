//! [`FakeUpstream`]: a provider API double that records what it received.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use parking_lot::Mutex;

use crate::hold::{Hold, Holds};
use crate::request::RecordedRequest;
use crate::server::{HttpServer, Reply};

/// A canned answer for [`FakeUpstream::set_reply`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeReply {
    /// The HTTP status.
    pub status: u16,
    /// Headers to send (repeat a name to send it twice).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl FakeReply {
    /// An answer with this status and no body.
    pub fn new(status: u16) -> FakeReply {
        FakeReply {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> FakeReply {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> FakeReply {
        self.body = body.into();
        self
    }
}

#[derive(Default)]
struct State {
    requests: Vec<RecordedRequest>,
    replies: HashMap<String, FakeReply>,
    rejected: HashSet<String>,
    verifier: Option<Verifier>,
    latency: Duration,
    holds: Arc<Holds>,
}

/// A check of each request's credential: `false` answers 401.
type Verifier = Arc<dyn Fn(&RecordedRequest) -> bool + Send + Sync>;

/// A fake provider API on `127.0.0.1`: answers
/// `200 {"ok":true,"method":…,"path":…}` unless told otherwise, answers 401
/// to requests carrying a rejected token, and records every request.
/// Stops when dropped.
///
/// ```
/// use nexus_gateway_fake::{FakeReply, FakeUpstream};
///
/// let upstream = FakeUpstream::start();
/// upstream.set_reply("/moved", FakeReply::new(302).header("Location", "/here"));
/// upstream.reject_token("expired-token");
/// # assert_eq!(upstream.request_count(), 0);
/// ```
pub struct FakeUpstream {
    state: Arc<Mutex<State>>,
    server: HttpServer,
}

impl std::fmt::Debug for FakeUpstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeUpstream")
            .field("url", &self.server.url())
            .finish_non_exhaustive()
    }
}

impl FakeUpstream {
    /// Starts a fake upstream on a free loopback port.
    ///
    /// # Panics
    ///
    /// When no loopback port can be bound; use [`try_start`](Self::try_start) to handle that.
    pub fn start() -> FakeUpstream {
        match FakeUpstream::try_start() {
            Ok(upstream) => upstream,
            Err(e) => panic!("FakeUpstream could not listen on 127.0.0.1: {e}"),
        }
    }

    /// Starts a fake upstream, or says why it could not listen.
    ///
    /// # Errors
    ///
    /// The I/O error of binding a loopback port.
    pub fn try_start() -> std::io::Result<FakeUpstream> {
        FakeUpstream::start_on("127.0.0.1:0")
    }

    /// Starts a fake upstream on `address` (`host:port`; port 0 for any free one).
    ///
    /// # Errors
    ///
    /// The I/O error of binding `address`.
    pub fn start_on(address: &str) -> std::io::Result<FakeUpstream> {
        let state = Arc::new(Mutex::new(State::default()));
        let handler_state = Arc::clone(&state);
        let handler = Arc::new(move |request| handle(&handler_state, request));
        let server = HttpServer::start_on(address, handler)?;
        Ok(FakeUpstream { state, server })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// TCP connections accepted so far: with keep-alive, far fewer than requests.
    pub fn connections(&self) -> usize {
        self.server.connections()
    }

    /// Answers requests to `path` (query ignored) with `reply`.
    pub fn set_reply(&self, path: &str, reply: FakeReply) {
        self.state.lock().replies.insert(path.to_owned(), reply);
    }

    /// Answers 401 to any request carrying `token` in a header value or the query.
    pub fn reject_token(&self, token: &str) {
        self.state.lock().rejected.insert(token.to_owned());
    }

    /// Answers 401 to every request `verify` refuses: an upstream that checks
    /// a signature (or any credential) from the exact bytes it received.
    pub fn verify_with(&self, verify: impl Fn(&RecordedRequest) -> bool + Send + Sync + 'static) {
        self.state.lock().verifier = Some(Arc::new(verify));
    }

    /// Wait this long before every answer.
    pub fn set_latency(&self, latency: Duration) {
        self.state.lock().latency = latency;
    }

    /// Holds the next request, after it is recorded and before it is
    /// answered, until the returned [`Hold`] is dropped; holds queue up, one
    /// request each. With one hold per caller, a test sees every call at the
    /// API at once: concurrency shown by an event, not by a duration.
    pub fn hold_next(&self) -> Hold {
        Holds::hold(&self.state.lock().holds, None, None)
    }

    /// Every request received, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state.lock().requests.clone()
    }

    /// How many requests arrived.
    pub fn request_count(&self) -> usize {
        self.state.lock().requests.len()
    }

    /// The last request received.
    pub fn last_request(&self) -> Option<RecordedRequest> {
        self.state.lock().requests.last().cloned()
    }
}

fn handle(state: &Mutex<State>, request: RecordedRequest) -> Reply {
    let (latency, holds) = {
        let mut state = state.lock();
        state.requests.push(request.clone());
        (state.latency, Arc::clone(&state.holds))
    };
    if !latency.is_zero() {
        thread::sleep(latency);
    }
    holds.wait(None);
    let verifier = state.lock().verifier.clone();
    let refused = verifier.is_some_and(|verify| !verify(&request));
    let state = state.lock();
    let rejected = refused
        || state.rejected.iter().any(|token| {
            request
                .headers
                .iter()
                .any(|(_, v)| v.contains(token.as_str()))
                || crate::request::query_pairs(&request.query)
                    .iter()
                    .any(|(_, v)| v == token)
        });
    let reply = if rejected {
        FakeReply::new(401)
            .header("WWW-Authenticate", "Bearer error=\"invalid_token\"")
            .body(r#"{"message":"Bad credentials"}"#)
    } else if let Some(reply) = state.replies.get(&request.path) {
        reply.clone()
    } else {
        let body = serde_json::json!({"ok": true, "method": request.method, "path": request.path});
        FakeReply::new(200)
            .header("Content-Type", "application/json")
            .body(body.to_string())
    };
    Reply::Answer {
        status: reply.status,
        headers: reply.headers,
        body: reply.body,
    }
}
