//! Opaque access tokens (RFC 7662): a token that is no JWS is asked about
//! at the issuer's introspection endpoint, as this server's client
//! (`--introspection-client-id`, its secret in
//! `NEXUS_MCP_INTROSPECTION_CLIENT_SECRET`), by the OAuth crate's client.
//! One question in flight per token however many requests carry it; its
//! answer is kept [`REFUSED_FOR`], so a flood of one bad token is one call
//! (one that admits is then recalled by the bearer check, by hash). At
//! most [`HELD_AT_MOST`] questions are held: past that, a token not asked
//! about yet is turned away unasked, so a flood of distinct tokens costs
//! the issuer and this server's memory a bounded amount.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
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
use tokio::sync::OnceCell;

use super::http;
use super::jwks::Endpoint;

/// How long an answer that refuses a token is kept.
const REFUSED_FOR: Duration = Duration::from_secs(10);

/// The most questions held at once (in flight, or answered and kept).
const HELD_AT_MOST: usize = 4096;

/// What one question at the endpoint may take.
const ASK_TIMEOUT: Duration = Duration::from_secs(5);

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
    told: Arc<OnceCell<Told>>,
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
    /// once however many requests carry it at once, and its answer kept
    /// [`REFUSED_FOR`] (one that admits is recalled by the bearer check, by
    /// hash, after that).
    pub(crate) async fn ask(&self, endpoint: &Endpoint, token: &str, digest: [u8; 32]) -> Told {
        let cell = {
            let Ok(mut asked) = self.asked.lock() else {
                return Err(Why::Unreachable(
                    "the introspection state is poisoned".to_owned(),
                ));
            };
            asked.retain(|_, q| q.since.elapsed() < REFUSED_FOR || q.told.get().is_none());
            if asked.len() >= HELD_AT_MOST && !asked.contains_key(&digest) {
                return Err(Why::Crowded);
            }
            let question = asked.entry(digest).or_insert_with(|| Question {
                since: Instant::now(),
                told: Arc::default(),
            });
            Arc::clone(&question.told)
        };
        let question = (self.client(endpoint), token.to_owned(), self.agent.clone());
        let told = cell.get_or_init(|| async move {
            let (client, token, agent) = question;
            let asked = tokio::task::spawn_blocking(move || {
                let http = |request| http::call(&agent, request);
                client?
                    .introspect(&AccessToken::new(token))
                    .request(&http)
                    .map_err(|e| e.to_string())
            });
            let asked = asked.await.map_err(|e| e.to_string()).and_then(|a| a);
            crate::metrics::issuer("introspection", asked.is_ok());
            match asked {
                Ok(answer) if !answer.active() => Err(Why::Inactive),
                Ok(answer) => {
                    serde_json::to_value(&answer).map_err(|e| Why::Unreachable(e.to_string()))
                }
                Err(why) => Err(Why::Unreachable(why)),
            }
        });
        // Kept, admitting or not: a request that comes before the bearer
        // check remembers an admitted token reads this answer, not a second.
        told.await.clone()
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

#[cfg(test)]
mod tests {
    use super::*;

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
        {
            // Questions in flight are held however long they take.
            let mut asked = introspection.asked.lock().unwrap();
            for i in 0..HELD_AT_MOST {
                let question = Question {
                    since: Instant::now(),
                    told: Arc::default(),
                };
                asked.insert(digest(i), question);
            }
            asked[&digest(7)].told.set(Err(Why::Inactive)).unwrap();
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
}
