//! Opaque access tokens (RFC 7662): a token that is no JWS is asked about
//! at the issuer's introspection endpoint, as this server's client
//! (`--introspection-client-id`, its secret in
//! `NEXUS_MCP_INTROSPECTION_CLIENT_SECRET`), by the OAuth crate's client.
//! One question in flight per token however many requests carry it; its
//! answer is kept [`REFUSED_FOR`], so a flood of one bad token is one call
//! (one that admits is then recalled by the bearer check, by hash). A
//! question is asked on a task of its own, not by the request that first
//! carried the token: a client that hangs up does not take the question
//! with it, and the answer is there for the next request with that token.
//! At most [`HELD_AT_MOST`] questions are held (in flight, each bounded by
//! [`ASK_TIMEOUT`], or answered and kept): past that, a token not asked
//! about yet is turned away unasked, so a flood of distinct tokens costs
//! the issuer and this server's memory a bounded amount.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use oauth2::basic::BasicTokenType;
use oauth2::basic::{BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenResponse};
use oauth2::{
    AccessToken, AuthType, Client, ClientId, ClientSecret, EndpointNotSet, EndpointSet,
    ExtraTokenFields, IntrospectionUrl, StandardRevocableToken, StandardTokenIntrospectionResponse,
    TokenIntrospectionResponse,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::sync::watch;

use super::issuer::Endpoint;
use crate::http;

/// How long an answer that refuses a token is kept.
const REFUSED_FOR: Duration = Duration::from_secs(10);

/// The most questions held at once (in flight, or answered and kept).
const HELD_AT_MOST: usize = 4096;

/// What one question at the endpoint may take.
const ASK_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a question without an answer is held: past its timeout (and a
/// wait for a blocking thread), it is forgotten even if its task still runs.
const UNANSWERED_FOR: Duration = Duration::from_secs(15);

/// The claims an answer carries beyond RFC 7662's own (`scp`, `oid` …).
#[derive(Clone, Debug, Deserialize, Serialize)]
struct Others {
    #[serde(flatten)]
    claims: Map<String, Value>,
}

impl ExtraTokenFields for Others {}

/// An answer, as the OAuth crate reads it.
type Answer = StandardTokenIntrospectionResponse<Others, BasicTokenType>;

/// The OAuth crate's client with an introspection endpoint.
type Asking = Client<
    BasicErrorResponse,
    BasicTokenResponse,
    Answer,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
>;

/// What an introspection says of a token: its claims (the answer's whole
/// JSON), or why it admits nothing.
type Told = Result<Value, Why>;

/// A question about one token: when it was first asked, and its answer
/// once there is one (every request carrying the token waits on it).
struct Question {
    since: Instant,
    told: watch::Receiver<Option<Told>>,
}

impl Question {
    /// Whether the question is still held: answered less than
    /// [`REFUSED_FOR`] ago, or in flight less than [`UNANSWERED_FOR`].
    fn held(&self) -> bool {
        let answered = self.told.borrow().is_some();
        let kept = if answered {
            REFUSED_FOR
        } else {
            UNANSWERED_FOR
        };
        self.since.elapsed() < kept
    }
}

/// Why an introspection admits nothing.
#[derive(Clone, Debug)]
pub(crate) enum Why {
    /// The issuer says the token is not active.
    Inactive,
    /// The endpoint could not be asked, or its answer does not read.
    Unreachable(String),
    /// [`HELD_AT_MOST`] other tokens are being asked about: this one is not.
    Crowded,
}

/// This server's client at the introspection endpoint.
pub(crate) struct Introspection {
    client_id: String,
    secret: String,
    agent: ureq::Agent,
    /// The question in flight, or answered, for each token's SHA-256.
    asked: Mutex<HashMap<[u8; 32], Question>>,
}

impl Introspection {
    /// The client `client_id` with `secret`.
    pub(crate) fn new(client_id: &str, secret: &str) -> Introspection {
        Introspection {
            client_id: client_id.to_owned(),
            secret: secret.to_owned(),
            agent: http::agent(ASK_TIMEOUT),
            asked: Mutex::default(),
        }
    }

    /// What `endpoint` says of `token` (whose SHA-256 is `digest`): asked
    /// once however many requests carry it at once, on a task of its own
    /// (a request that goes away leaves the question to finish), and its
    /// answer kept [`REFUSED_FOR`] (one that admits is recalled by the
    /// bearer check, by hash, after that).
    pub(crate) async fn ask(&self, endpoint: &Endpoint, token: &str, digest: [u8; 32]) -> Told {
        let mut told = {
            let Ok(mut asked) = self.asked.lock() else {
                return Err(Why::Unreachable(
                    "the introspection state is poisoned".to_owned(),
                ));
            };
            asked.retain(|_, question| question.held());
            match asked.get(&digest) {
                Some(question) => question.told.clone(),
                None if asked.len() >= HELD_AT_MOST => return Err(Why::Crowded),
                None => {
                    let (answer, told) = watch::channel(None);
                    let asking =
                        question(self.client(endpoint), token.to_owned(), self.agent.clone());
                    tokio::spawn(async move { answer.send_replace(Some(asking.await)) });
                    let since = Instant::now();
                    let question = Question { since, told };
                    asked.entry(digest).or_insert(question).told.clone()
                }
            }
        };
        let answered = told.wait_for(Option::is_some).await;
        let answer = answered.ok().and_then(|answer| answer.clone());
        answer.unwrap_or_else(|| Err(Why::Unreachable("the question was dropped".to_owned())))
    }

    /// The OAuth crate's client for `endpoint`.
    fn client(&self, endpoint: &Endpoint) -> Result<Asking, String> {
        let url = IntrospectionUrl::new(endpoint.url.clone()).map_err(|e| e.to_string())?;
        let auth = if endpoint.basic {
            AuthType::BasicAuth
        } else {
            AuthType::RequestBody
        };
        let client = Client::new(ClientId::new(self.client_id.clone()))
            .set_client_secret(ClientSecret::new(self.secret.clone()))
            .set_auth_type(auth)
            .set_introspection_url(url);
        Ok(client)
    }
}

/// Asks `client` about `token`, on a blocking thread (the OAuth crate's
/// request is ureq's), and reads the answer.
async fn question(client: Result<Asking, String>, token: String, agent: ureq::Agent) -> Told {
    let token = AccessToken::new(token);
    let asked = tokio::task::spawn_blocking(move || {
        let http = |request| http::call(&agent, request);
        client?
            .introspect(&token)
            .request(&http)
            .map_err(|e| e.to_string())
    });
    let asked = asked.await.map_err(|e| e.to_string()).and_then(|a| a);
    crate::metrics::issuer("introspection", asked.is_ok());
    match asked {
        Ok(answer) if !answer.active() => Err(Why::Inactive),
        Ok(answer) => serde_json::to_value(&answer).map_err(|e| Why::Unreachable(e.to_string())),
        Err(why) => Err(Why::Unreachable(why)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn past_the_questions_held_a_new_token_is_turned_away_unasked() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}/introspect", listener.local_addr().unwrap());
        let endpoint = Endpoint { url, basic: true };
        let introspection = Introspection::new("client", "secret");
        let digest = |i: usize| {
            let mut digest = [0; 32];
            digest[..8].copy_from_slice(&i.to_le_bytes());
            digest
        };
        // Questions in flight are held while their asking may still answer.
        let mut answers = Vec::new();
        {
            let mut asked = introspection.asked.lock().unwrap();
            for i in 0..HELD_AT_MOST {
                let (answer, told) = watch::channel(None);
                answers.push(answer);
                let since = Instant::now();
                asked.insert(digest(i), Question { since, told });
            }
            answers[7].send_replace(Some(Err(Why::Inactive)));
        }
        let told = introspection
            .ask(&endpoint, "a-new-token", [0xff; 32])
            .await;
        assert!(matches!(told, Err(Why::Crowded)), "{told:?}");
        assert!(listener.accept().is_err(), "the endpoint was not asked");
        // A token already asked about still reads its answer.
        let told = introspection.ask(&endpoint, "held", digest(7)).await;
        assert!(matches!(told, Err(Why::Inactive)), "{told:?}");
        assert_eq!(introspection.asked.lock().unwrap().len(), HELD_AT_MOST);
    }

    /// An endpoint on `listener` that answers every question `{"active":
    /// false}`, the first only once `first` says so; how many it was asked.
    fn endpoint_answering(
        listener: std::net::TcpListener,
        first: std::sync::mpsc::Receiver<()>,
    ) -> Arc<std::sync::atomic::AtomicUsize> {
        use std::io::{BufRead, BufReader, Read, Write};
        let asked = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = Arc::clone(&asked);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let mut stream = stream.unwrap();
                let n = count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    reader.read_line(&mut line).unwrap();
                    let lower = line.to_ascii_lowercase();
                    if let Some(value) = lower.strip_prefix("content-length:") {
                        length = value.trim().parse().unwrap();
                    }
                    if line == "\r\n" {
                        break;
                    }
                }
                reader.read_exact(&mut vec![0; length]).unwrap();
                if n == 0 {
                    first.recv().unwrap();
                }
                let body = r#"{"active":false}"#;
                let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close";
                let answer = format!("{head}\r\nContent-Length: {}\r\n\r\n{body}", body.len());
                stream.write_all(answer.as_bytes()).unwrap();
            }
        });
        asked
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_question_whose_request_went_away_is_answered_for_the_next() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/introspect", listener.local_addr().unwrap());
        let endpoint = Endpoint { url, basic: true };
        let (release, first) = std::sync::mpsc::channel();
        let asked = endpoint_answering(listener, first);
        let introspection = Arc::new(Introspection::new("client", "secret"));
        // A request asks about the token, and goes away while the issuer
        // has not answered (its client hung up).
        let request = {
            let (introspection, endpoint) = (Arc::clone(&introspection), endpoint.clone());
            tokio::spawn(async move { introspection.ask(&endpoint, "opaque", [1; 32]).await })
        };
        while asked.load(std::sync::atomic::Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        request.abort();
        assert!(request.await.unwrap_err().is_cancelled());
        // The next request with that token waits on the same question, and
        // reads its answer once the issuer gives it: asked once.
        let next = {
            let (introspection, endpoint) = (Arc::clone(&introspection), endpoint.clone());
            tokio::spawn(async move { introspection.ask(&endpoint, "opaque", [1; 32]).await })
        };
        release.send(()).unwrap();
        let told = next.await.unwrap();
        assert!(matches!(told, Err(Why::Inactive)), "{told:?}");
        assert_eq!(asked.load(std::sync::atomic::Ordering::SeqCst), 1);
        // Nothing is left in flight: the map holds only what is answered.
        let held = introspection.asked.lock().unwrap();
        assert!(held.values().all(|q| q.told.borrow().is_some()));
    }
}
