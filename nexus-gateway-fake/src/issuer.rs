//! A fake OAuth 2.1 authorization server, for tests of a resource server
//! (`nexus-mcp serve`): its metadata (RFC 8414 and OpenID discovery), a
//! JWKS of an EC and an RSA key that a test can rotate, and tokens of any
//! shape a test wants, valid or not. Its keys are test keys, public in
//! this crate's source: never trust them anywhere else.

use std::sync::Arc;

use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use parking_lot::Mutex;
use serde_json::{Map, Value, json};

use crate::request::RecordedRequest;
use crate::server::{HttpServer, Reply};

/// The signing keys: a key id, its algorithm and its PKCS #8 PEM. The first
/// two are published from the start; [`FakeIssuer::rotate`] publishes the
/// other two and signs with them.
const KEYS: [(&str, Algorithm, &str); 4] = [
    ("ec-1", Algorithm::ES256, include_str!("keys/ec1.pem")),
    ("rsa-1", Algorithm::RS256, include_str!("keys/rsa1.pem")),
    ("ec-2", Algorithm::ES256, include_str!("keys/ec2.pem")),
    ("rsa-2", Algorithm::RS256, include_str!("keys/rsa2.pem")),
];

/// A fake authorization server on `127.0.0.1`, whose issuer is its URL.
/// Stops when dropped.
///
/// ```
/// use nexus_gateway_fake::{FakeIssuer, FakeToken};
///
/// let issuer = FakeIssuer::start();
/// let token = issuer.mint(&FakeToken::new("alice").audience("https://mcp.example.com/mcp"));
/// assert_eq!(token.split('.').count(), 3);
/// issuer.rotate(); // ec-2 and rsa-2 published, ec-2 signs
/// ```
pub struct FakeIssuer {
    state: Arc<Mutex<State>>,
    server: HttpServer,
}

#[derive(Default)]
struct State {
    /// How many of [`KEYS`] are published (2, or 4 after a rotation).
    published: usize,
    /// The key that signs a token naming none.
    signer: &'static str,
    /// Whether the metadata and the JWKS answer 503.
    down: bool,
    /// How many times the JWKS was fetched.
    jwks_fetches: usize,
}

impl std::fmt::Debug for FakeIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeIssuer")
            .field("url", &self.server.url())
            .finish_non_exhaustive()
    }
}

impl FakeIssuer {
    /// Starts a fake issuer on a free loopback port.
    ///
    /// # Panics
    ///
    /// When no loopback port can be bound; use [`start_on`](Self::start_on) to handle that.
    pub fn start() -> FakeIssuer {
        FakeIssuer::start_on("127.0.0.1:0")
            .unwrap_or_else(|e| panic!("FakeIssuer could not listen on 127.0.0.1: {e}"))
    }

    /// Starts a fake issuer on `address` (`host:port`; port 0 for any free one).
    ///
    /// # Errors
    ///
    /// The I/O error of binding `address`.
    pub fn start_on(address: &str) -> std::io::Result<FakeIssuer> {
        let state = Arc::new(Mutex::new(State {
            published: 2,
            signer: KEYS[0].0,
            ..State::default()
        }));
        let url = Arc::new(Mutex::new(String::new()));
        let (handler_state, handler_url) = (Arc::clone(&state), Arc::clone(&url));
        let handler = Arc::new(move |request: RecordedRequest| {
            handle(&handler_state, &handler_url.lock(), &request)
        });
        let server = HttpServer::start_on(address, handler)?;
        *url.lock() = server.url();
        Ok(FakeIssuer { state, server })
    }

    /// The issuer: `http://127.0.0.1:<port>`, as tokens name it (`iss`).
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// `token`, signed as it asks (by default with the signing key, `ec-1`
    /// until a rotation), as a compact JWS.
    ///
    /// # Panics
    ///
    /// When the token names a key this issuer does not have.
    pub fn mint(&self, token: &FakeToken) -> String {
        let signer = self.state.lock().signer;
        let kid = token.key.as_deref().unwrap_or(signer);
        let (_, alg, pem) = KEYS
            .iter()
            .find(|(id, _, _)| *id == kid)
            .unwrap_or_else(|| panic!("FakeIssuer has no key {kid:?}"));
        let mut header = Header::new(*alg);
        header.kid = Some(kid.to_owned());
        header.jku = token.jku.clone();
        header.x5u = token.jku.clone();
        let claims = token.claims(&self.url());
        let key = match alg {
            Algorithm::ES256 => EncodingKey::from_ec_pem(pem.as_bytes()),
            _ => EncodingKey::from_rsa_pem(pem.as_bytes()),
        };
        let signed = key.and_then(|key| jsonwebtoken::encode(&header, &claims, &key));
        signed.unwrap_or_else(|e| panic!("FakeIssuer could not sign with {kid}: {e}"))
    }

    /// Publishes the second pair of keys (`ec-2`, `rsa-2`) beside the first,
    /// and signs with `ec-2` from now on: a key rotation as issuers do it.
    pub fn rotate(&self) {
        let mut state = self.state.lock();
        state.published = KEYS.len();
        state.signer = KEYS[2].0;
    }

    /// Makes the metadata and the JWKS answer 503 (`true`) or answer again.
    pub fn set_down(&self, down: bool) {
        self.state.lock().down = down;
    }

    /// How many times the JWKS was fetched.
    pub fn jwks_fetches(&self) -> usize {
        self.state.lock().jwks_fetches
    }
}

/// A token to mint: a subject, and whatever a test wants beside it. By
/// default it is valid for an hour from now, for the audience given, from
/// this issuer, signed by its current key.
#[derive(Debug, Clone, Default)]
pub struct FakeToken {
    subject: String,
    audience: Option<String>,
    issuer: Option<String>,
    expires_in: Option<i64>,
    not_before_in: Option<i64>,
    key: Option<String>,
    jku: Option<String>,
    claims: Map<String, Value>,
}

impl FakeToken {
    /// A token for `subject` (`sub`).
    pub fn new(subject: &str) -> FakeToken {
        FakeToken {
            subject: subject.to_owned(),
            ..FakeToken::default()
        }
    }

    /// `aud`: the resource it is for.
    #[must_use]
    pub fn audience(mut self, audience: &str) -> FakeToken {
        self.audience = Some(audience.to_owned());
        self
    }

    /// `iss`, in place of the issuer's own URL.
    #[must_use]
    pub fn issuer(mut self, issuer: &str) -> FakeToken {
        self.issuer = Some(issuer.to_owned());
        self
    }

    /// `exp`, this many seconds from now (negative: already expired).
    #[must_use]
    pub fn expires_in(mut self, seconds: i64) -> FakeToken {
        self.expires_in = Some(seconds);
        self
    }

    /// `nbf`, this many seconds from now (positive: not yet valid).
    #[must_use]
    pub fn not_before_in(mut self, seconds: i64) -> FakeToken {
        self.not_before_in = Some(seconds);
        self
    }

    /// Signed by key `kid` (`ec-1`, `rsa-1`, `ec-2`, `rsa-2`), published or not.
    #[must_use]
    pub fn key(mut self, kid: &str) -> FakeToken {
        self.key = Some(kid.to_owned());
        self
    }

    /// A `jku` and an `x5u` header naming `url`: a verifier must never fetch it.
    #[must_use]
    pub fn jku(mut self, url: &str) -> FakeToken {
        self.jku = Some(url.to_owned());
        self
    }

    /// Any other claim (`scope`, a workspace claim …), replacing the default.
    #[must_use]
    pub fn claim(mut self, name: &str, value: Value) -> FakeToken {
        self.claims.insert(name.to_owned(), value);
        self
    }

    /// The claims, from `issuer` unless it says otherwise.
    fn claims(&self, issuer: &str) -> Value {
        let now = i64::try_from(jsonwebtoken::get_current_timestamp()).unwrap_or(i64::MAX);
        let mut claims = Map::new();
        claims.insert(
            "iss".into(),
            json!(self.issuer.as_deref().unwrap_or(issuer)),
        );
        claims.insert("sub".into(), json!(self.subject));
        if let Some(audience) = &self.audience {
            claims.insert("aud".into(), json!(audience));
        }
        claims.insert("iat".into(), json!(now));
        claims.insert("exp".into(), json!(now + self.expires_in.unwrap_or(3600)));
        if let Some(nbf) = self.not_before_in {
            claims.insert("nbf".into(), json!(now + nbf));
        }
        claims.extend(self.claims.clone());
        Value::Object(claims)
    }
}

/// The public JWK of a key, with its id and algorithm.
fn jwk(kid: &str, alg: Algorithm, pem: &str) -> Jwk {
    let key = match alg {
        Algorithm::ES256 => EncodingKey::from_ec_pem(pem.as_bytes()),
        _ => EncodingKey::from_rsa_pem(pem.as_bytes()),
    };
    let mut jwk = key
        .and_then(|key| Jwk::from_encoding_key(&key, alg))
        .unwrap_or_else(|e| panic!("the test key {kid} does not read: {e}"));
    jwk.common.key_id = Some(kid.to_owned());
    jwk
}

fn handle(state: &Mutex<State>, url: &str, request: &RecordedRequest) -> Reply {
    let mut state = state.lock();
    let body = match request.path.as_str() {
        _ if state.down => return answer(503, &json!({"error": "temporarily_unavailable"})),
        "/.well-known/oauth-authorization-server" | "/.well-known/openid-configuration" => json!({
            "issuer": url,
            "jwks_uri": format!("{url}/jwks"),
            "authorization_endpoint": format!("{url}/authorize"),
            "token_endpoint": format!("{url}/token"),
            "response_types_supported": ["code"],
            "code_challenge_methods_supported": ["S256"],
            "id_token_signing_alg_values_supported": ["ES256", "RS256"],
            "subject_types_supported": ["public"],
        }),
        "/jwks" => {
            state.jwks_fetches += 1;
            let keys = KEYS[..state.published]
                .iter()
                .map(|(kid, alg, pem)| jwk(kid, *alg, pem))
                .collect();
            serde_json::to_value(JwkSet { keys }).unwrap_or_default()
        }
        _ => return answer(404, &json!({"error": "not_found"})),
    };
    answer(200, &body)
}

fn answer(status: u16, body: &Value) -> Reply {
    Reply::Answer {
        status,
        headers: vec![("Content-Type".into(), "application/json".into())],
        body: body.to_string().into_bytes(),
    }
}
