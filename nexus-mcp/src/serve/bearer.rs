//! `serve`'s OAuth 2.1 resource server, as MCP 2026-07-28 asks of one:
//! every request's bearer token is checked before rmcp sees it (a JWS
//! signed by a key of the issuer's JWKS, an asymmetric algorithm, `iss`
//! exactly the issuer, `aud` this server's URL, `exp` and `nbf` with a
//! minute's leeway, the scopes `--scope` names), and the person it names
//! becomes the call's [`Principal`]. A refusal is a 401, 403 or 503 whose
//! `WWW-Authenticate` points at the protected-resource metadata (RFC 9728).
//! The token goes nowhere: the provider's credential comes from the Gateway.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::introspect::{Introspection, Why};
use super::issuer::{Issuer, Missing, well_known};
use super::jws;
use super::oauth::front::Ended;
use super::oauth::front::Front;
use super::refusal::{ErrorCode, OAuthError};
use super::remembered::Remembered;
use crate::agents::Agent;
use crate::principal::{Principal, digest, hex, own_workspace};

/// The JOSE types an access token may have (RFC 9068's, and the generic
/// one most issuers write); none at all is one too.
const TYPES: [&str; 2] = ["at+jwt", "jwt"];

/// How long a verified token is taken on its hash alone (a host sends the
/// same token for an hour): a signature check costs a tenth of a call.
/// With the keys' [`KEEP`](super::issuer::KEEP), a withdrawn key stops
/// working within a minute.
const RECHECK_AFTER: Duration = Duration::from_secs(30);
/// How long an opaque token the issuer vouched for is taken on its hash
/// alone (never past its `exp`): one introspection a minute per token.
const INTROSPECTED_FOR: Duration = Duration::from_secs(60);

/// The most a request's headers may weigh, names and values together (431).
pub(crate) const MAX_HEADERS: usize = 32 << 10;

/// Whom hosts sign in with: the mode `--oauth-proxy` sets, said once.
pub(crate) enum Hosts {
    /// The issuer itself (`--issuer`): its tokens are what a host brings.
    Issuer,
    /// This server, the hosts' authorization server (`--oauth-proxy`),
    /// its state held once: the access tokens it issues open with its
    /// keys, unless its store holds them revoked.
    Proxy(Arc<Front>),
}

/// The resource server: this server's identity and the issuer it trusts.
pub(crate) struct Gate {
    /// The issuer (`--issuer`): its URL, metadata and keys.
    pub(crate) issuer: Arc<Issuer>,
    /// Whom hosts sign in with: the issuer, or this server in front of it.
    pub(crate) hosts: Hosts,
    /// This server's canonical URL, the audience a token must name (`--public-url`).
    pub(crate) resource: String,
    /// Other audiences a token may name (`--audience`): an issuer's client
    /// id, which its ID tokens name too.
    pub(crate) audiences: Vec<String>,
    /// The claim that names the person (`--subject-claim`).
    pub(crate) subject_claim: String,
    /// The claims `--policy` reads (`--group-claim`, `--policy-claim`).
    pub(crate) policy_claims: crate::principal::PolicyClaims,
    /// This server's client at the issuer's introspection endpoint
    /// (`--introspection-client-id`): opaque tokens are refused without.
    pub(crate) introspection: Option<Introspection>,
    /// The scopes every token must carry (`--scope`).
    pub(crate) scopes: Vec<String>,
    /// The claim naming the workspace (`--workspace-claim`), if any.
    pub(crate) claim: Option<String>,
    /// What every workspace id starts with (`--workspace-prefix`).
    pub(crate) prefix: String,
    /// Tokens verified lately, by their SHA-256 (never the token itself):
    /// the person, and until when the check holds without being made again.
    pub(crate) verified: Mutex<Remembered>,
}

/// Why a request is refused before rmcp sees it.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// No token: 401 with the challenge alone.
    NoToken,
    /// 401 `invalid_request`: the token not sent as RFC 6750 says, and why.
    InvalidRequest(String),
    /// 401 `invalid_token`, and why.
    InvalidToken(String),
    /// 403 `insufficient_scope`: a scope short of `--scope`, or no
    /// workspace claim, and why.
    InsufficientScope(String),
    /// 503: the issuer's keys or its introspection endpoint cannot be
    /// read, and why (for the operator's log; the client reads a fixed
    /// sentence).
    Unavailable(String),
    /// 431: headers past [`MAX_HEADERS`].
    HeadersTooLarge,
}

impl Refusal {
    /// The code the refusal is counted and logged by: for a 401 with a
    /// token and for the 403, the challenge's `error` too.
    pub(crate) fn code(&self) -> &'static str {
        match self {
            Refusal::NoToken => "no_token",
            Refusal::InvalidRequest(_) => ErrorCode::InvalidRequest.as_str(),
            Refusal::InvalidToken(_) => ErrorCode::InvalidToken.as_str(),
            Refusal::InsufficientScope(_) => ErrorCode::InsufficientScope.as_str(),
            Refusal::Unavailable(_) => "issuer_unavailable",
            Refusal::HeadersTooLarge => "headers_too_large",
        }
    }
}

/// The claims this server reads; the rest is kept for the subject and a
/// workspace claim.
#[derive(Deserialize)]
struct Claims {
    exp: u64,
    /// RFC 9068's `scope`: a space-separated string (some issuers send a list).
    #[serde(default)]
    scope: Option<Value>,
    /// Okta's and Entra ID's `scp`: a list, or a space-separated string.
    #[serde(default)]
    scp: Option<Value>,
    #[serde(flatten)]
    rest: Map<String, Value>,
}

impl Gate {
    /// The person `headers` and `query` prove, or the refusal.
    pub(crate) async fn admit(
        &self,
        headers: &axum::http::HeaderMap,
        query: Option<&str>,
    ) -> Result<Principal, Refusal> {
        let weight: usize = headers
            .iter()
            .map(|(n, v)| n.as_str().len() + v.len())
            .sum();
        if weight > MAX_HEADERS {
            return Err(Refusal::HeadersTooLarge);
        }
        let in_query = query.is_some_and(|q| q.split('&').any(|p| p.starts_with("access_token=")));
        if in_query {
            let why = "a token goes in the Authorization header, never in the URL";
            return Err(Refusal::InvalidRequest(why.to_owned()));
        }
        let token = bearer(headers)?;
        let digest = crate::principal::sha256(&[token.as_bytes()]);
        if let Some(principal) = self.recalled(token, &digest) {
            return Ok(principal);
        }
        if let Some(issued) = self.issued_here(token) {
            let (principal, expires) = issued?;
            self.remember(digest, None, expires, RECHECK_AFTER);
            self.heat(digest, &principal);
            return Ok(principal);
        }
        if jsonwebtoken::decode_header(token).is_err() {
            let claims = self.introspected(token, digest).await?;
            let principal = self.principal(&claims)?;
            let told = Some(principal.clone());
            self.remember(digest, told, claims.exp, INTROSPECTED_FOR);
            return Ok(principal);
        }
        let claims = self.verify(token).await?;
        let principal = self.principal(&claims)?;
        self.remember(digest, None, claims.exp, RECHECK_AFTER);
        self.heat(digest, &principal);
        Ok(principal)
    }

    /// The person a token verified less than [`RECHECK_AFTER`] ago names,
    /// while the token has not expired: as its issuer told, or read again
    /// from its claims (no signature checked: its hash is the verified one's;
    /// one this server sealed opened, and its revocation asked, again).
    fn recalled(&self, token: &str, digest: &[u8; 32]) -> Option<Principal> {
        let mut verified = self.verified.lock().ok()?;
        if let Hosts::Proxy(front) = &self.hosts {
            verified.as_of(front.store.revocations().changes());
        }
        if let Some(told) = verified.recall(digest)? {
            return Some(told.clone());
        }
        drop(verified);
        let principal = match self.issued_here(token) {
            Some(issued) => issued.ok()?.0,
            None => {
                let claims = jsonwebtoken::dangerous::insecure_decode_claims::<Claims>(token);
                self.principal(&claims.ok()?).ok()?
            }
        };
        self.heat(*digest, &principal);
        Some(principal)
    }

    /// Forgets every token verified lately, so that each is checked again
    /// at its next use (a withdrawal was just read).
    pub(crate) fn forget(&self) {
        if let Ok(mut verified) = self.verified.lock() {
            *verified = Remembered::default();
        }
    }

    /// Holds a verified JWS's person whole, for the next calls.
    fn heat(&self, digest: [u8; 32], principal: &Principal) {
        if let Ok(mut verified) = self.verified.lock() {
            verified.heat(digest, principal.clone());
        }
    }

    /// Keeps a token verified (and the person its issuer `told` of) until
    /// it expires or for `keep`, whichever comes first.
    fn remember(&self, digest: [u8; 32], told: Option<Principal>, expires: u64, keep: Duration) {
        // To the sub-second: a token is never recalled past its `exp`
        // (one past the clock's reach is kept for `keep`).
        let expires = std::time::UNIX_EPOCH.checked_add(Duration::from_secs(expires));
        let left = expires.map_or(Ok(keep), |at| {
            at.duration_since(std::time::SystemTime::now())
        });
        if let Ok(mut verified) = self.verified.lock() {
            verified.keep(digest, told, left.unwrap_or_default().min(keep));
        }
    }

    /// The claims of `token`, when it is a JWS this server accepts (as
    /// [`jws`] checks every token: an access token's type or none, `iss`
    /// the issuer, `aud` naming this server), and its `exp`.
    async fn verify(&self, token: &str) -> Result<Claims, Refusal> {
        let audiences = std::iter::once(&self.resource).chain(&self.audiences);
        let audiences: Vec<&str> = audiences.map(String::as_str).collect();
        let kind = jws::Kind {
            types: &TYPES,
            untyped: true,
            issuer: self.issuer.url(),
            audiences: &audiences,
            sole_audience: false,
            subject: None,
            required: &[],
            longest: None,
            without_exp: false,
        };
        let verify = jws::verify(token, &kind, jws::Keys::Issuer(&self.issuer));
        let (header, verified) = verify.await.map_err(|rejected| match rejected {
            jws::Rejected::KeysUnavailable(why) => Refusal::Unavailable(why),
            other => Refusal::InvalidToken(format!("the token {}", other.clause())),
        })?;
        let claims: Claims = serde_json::from_value(Value::Object(verified.claims))
            .map_err(|_| Refusal::InvalidToken("the token cannot be read".into()))?;
        let typ = header.typ.as_deref().map(str::to_ascii_lowercase);
        self.access_token(&claims, typ.as_deref())
            .map_err(Refusal::InvalidToken)?;
        Ok(claims)
    }

    /// The claims the issuer's introspection endpoint tells of an opaque
    /// `token`, checked as a JWT's are: active, `iss` (when told) the
    /// issuer, `aud` naming this server, `exp` to come.
    async fn introspected(&self, token: &str, digest: [u8; 32]) -> Result<Claims, Refusal> {
        let invalid = |why: &str| Refusal::InvalidToken(why.to_owned());
        let Some(introspection) = &self.introspection else {
            let why = "the token is not a JWS: opaque tokens need --introspection-client-id";
            return Err(invalid(why));
        };
        let unavailable = |why: String| Refusal::Unavailable(why);
        let endpoint = self
            .issuer
            .introspection()
            .await
            .map_err(|missing| match missing {
                Missing::Unreadable(why) => unavailable(why),
                Missing::Unknown => {
                    unavailable(format!("the issuer {} cannot be read", self.issuer))
                }
            })?;
        let Some(endpoint) = endpoint else {
            let why = format!("the issuer {} names no introspection_endpoint", self.issuer);
            return Err(unavailable(why));
        };
        let told = introspection.ask(&endpoint, token, digest).await;
        let answer = told.map_err(|why| match why {
            Why::Inactive => invalid("the issuer says the token is not active"),
            Why::Unreachable(why) => unavailable(format!(
                "the introspection endpoint of the issuer {} could not be asked: {why}",
                self.issuer
            )),
            Why::Crowded => unavailable(
                "too many tokens this server has not seen are being checked at once; try again \
                 shortly"
                    .to_owned(),
            ),
        })?;
        let claims: Claims = serde_json::from_value(answer)
            .map_err(|_| invalid("the issuer's answer names no expiry (exp)"))?;
        if claims
            .rest
            .get("iss")
            .is_some_and(|iss| iss != self.issuer.url())
        {
            return Err(invalid("the token is from another issuer (iss)"));
        }
        let audiences = std::iter::once(&self.resource).chain(&self.audiences);
        let named = |aud: &Value| audiences.clone().any(|a| aud == a.as_str());
        let for_this = match claims.rest.get("aud") {
            Some(Value::Array(list)) => list.iter().any(named),
            Some(aud) => named(aud),
            None => false,
        };
        if !for_this {
            return Err(invalid("the token is for another resource (aud)"));
        }
        let now = jsonwebtoken::get_current_timestamp();
        if claims.exp.saturating_add(jws::LEEWAY) <= now {
            return Err(invalid("the token has expired"));
        }
        Ok(claims)
    }

    /// Whether verified `claims` (their header typed `typ`) are an access
    /// token's. An ID token is made for a client to read, never for a
    /// resource: it carries what the login asked for (`nonce`) or hashes of
    /// what came with it. And an audience alias (`--audience`, a client id)
    /// is one the issuer's ID tokens name too: a token that names only an
    /// alias must show it is an access token, by its type (RFC 9068's
    /// `at+jwt`), by the delegated scopes it grants (`scope`, `scp`), or as
    /// an application's own token (Entra's `idtyp: app`). `roles` alone
    /// shows nothing: Entra writes a person's app roles into ID tokens too.
    fn access_token(&self, claims: &Claims, typ: Option<&str>) -> Result<(), String> {
        let id_claims = ["nonce", "at_hash", "c_hash"];
        if let Some(kind) = id_claims.iter().find(|c| claims.rest.contains_key(**c)) {
            return Err(format!(
                "an ID token (it has `{kind}`) is not an access token"
            ));
        }
        let named = |aud: &Value| aud == self.resource.as_str();
        let for_this = match claims.rest.get("aud") {
            Some(Value::Array(list)) => list.iter().any(named),
            Some(aud) => named(aud),
            None => false,
        };
        let typed = typ.is_some_and(|t| t != "jwt");
        let grants = claims.scope.is_some() || claims.scp.is_some();
        let app = claims.rest.get("idtyp").is_some_and(|t| t == "app");
        if for_this || typed || grants || app {
            return Ok(());
        }
        Err(
            "a token for an --audience alias that shows no access token's mark (no scope or \
             scp, not idtyp app, not typed at+jwt) may be an ID token"
                .to_owned(),
        )
    }

    /// The person an access token this server issued (`--oauth-proxy`)
    /// names, its grant read as a provider token's claims are (the same
    /// scopes, person and workspace), and when it expires; none for a token
    /// it did not issue.
    fn issued_here(&self, token: &str) -> Option<Result<(Principal, u64), Refusal>> {
        let Hosts::Proxy(front) = &self.hosts else {
            return None;
        };
        let (keys, store) = (front.keys.now(), &front.store);
        let opened = crate::keys::Sealing::opened_until(&keys.oauth.access, token);
        let (access, expires): (super::grant::Access, u64) = match opened {
            Ok(opened) => opened,
            // Sealed here (no JWS) under a key id the keyring lacks or holds
            // another key under: the keyring is the cause, not the token's kind.
            Err(unopened) if jsonwebtoken::decode_header(token).is_err() => {
                let why = unopened.keys_differ("an access token")?;
                return Some(Err(Refusal::InvalidToken(why)));
            }
            Err(_) => return None,
        };
        let grant = access.grant;
        if grant.resource != self.resource {
            let why = "the token was issued for another resource";
            return Some(Err(Refusal::InvalidToken(why.to_owned())));
        }
        if store.revocations().untrusted(access.issued) {
            let why =
                "the token was issued before this server's store lost what it held: sign in again";
            return Some(Err(Refusal::InvalidToken(why.to_owned())));
        }
        let granted = grant.granted_or(access.issued);
        let why = match front.ended(&grant, access.family.as_deref(), granted) {
            None => None,
            Some(Ended::Unread(why)) => return Some(Err(Refusal::Unavailable(why.to_owned()))),
            Some(Ended::Person) => Some("the token was revoked: sign in again"),
            Some(Ended::Client) => {
                Some("a client this token was issued to or acts through was revoked: sign in again")
            }
            Some(Ended::Withdrawn) => Some(
                "a client this token was issued to or acts through is withdrawn by this server's operator",
            ),
        };
        if let Some(why) = why {
            return Some(Err(Refusal::InvalidToken(why.to_owned())));
        }
        if grant.itself {
            return Some(Ok((itself(grant), expires)));
        }
        let principal = self.granted_person(grant);
        Some(principal.map(|principal| (principal, expires)))
    }

    /// The person a `grant` this server issued names, read as a provider
    /// token's claims are (the same scopes, person and workspace), with its
    /// client's mark and its agent (and the agents it acts through, where
    /// it was exchanged: the nearest first).
    fn granted_person(&self, grant: super::grant::Grant) -> Result<Principal, Refusal> {
        let attributes = grant.attributes;
        let mut rest = Map::from_iter([(self.subject_claim.clone(), Value::String(grant.person))]);
        if let (Some(claim), Some(workspace)) = (&self.claim, grant.workspace) {
            rest.insert(claim.clone(), Value::String(workspace));
        }
        let scope = Some(Value::String(grant.scopes.join(" ")));
        let claims = Claims {
            exp: 0,
            scope,
            scp: None,
            rest,
        };
        let mark = grant.client.get(..12).map(Box::from);
        let chain = grant.act.iter().flat_map(super::grant::Act::chain).skip(1);
        let through = chain.map(|act| act.sub.get(..12).unwrap_or_default().to_owned());
        let through: Vec<String> = through.collect();
        let granted_to = grant
            .agent
            .map(|agent| Box::new(Agent { through, ..agent }));
        self.principal(&claims).map(|mut principal| {
            if let Principal::Person {
                attributes: held,
                oauth_client,
                agent,
                ..
            } = &mut principal
            {
                *held = attributes.held();
                *oauth_client = mark;
                *agent = granted_to;
            }
            principal
        })
    }

    /// The principal the verified `claims` name, if they carry every scope
    /// and (with `--workspace-claim`) the workspace claim.
    fn principal(&self, claims: &Claims) -> Result<Principal, Refusal> {
        if app_only(claims) {
            let why = "an application's own token (idtyp app, or no scp and its oid its sub) \
                       names no person: a host signs a person in, with a delegated scope (scp)";
            return Err(Refusal::InvalidToken(why.to_owned()));
        }
        let held: Vec<&str> = match claims.scope.as_ref().or(claims.scp.as_ref()) {
            Some(Value::String(words)) => words.split(' ').collect(),
            Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        let scp = claims.scope.is_none();
        let missing: Vec<&str> = (self.scopes.iter())
            .map(String::as_str)
            .filter(|wanted| !carried(wanted, &held, scp))
            .collect();
        if !missing.is_empty() {
            let why = format!("the token lacks the scope {}", missing.join(" "));
            return Err(Refusal::InsufficientScope(why));
        }
        let subject = claims.rest.get(&self.subject_claim).and_then(Value::as_str);
        let Some(subject) = subject.filter(|s| !s.trim().is_empty()) else {
            let why = format!(
                "the token names no person: its `{}` claim is missing, blank or not a string",
                self.subject_claim
            );
            return Err(Refusal::InvalidToken(why));
        };
        let digest = digest(self.issuer.url(), subject);
        let workspace = match &self.claim {
            None => own_workspace(&self.prefix, &hex(&digest)),
            Some(name) => match claims.rest.get(name) {
                Some(Value::String(id)) if !id.trim().is_empty() => {
                    format!("{}{}", self.prefix, id.trim())
                }
                _ => {
                    let why = format!("the token has no workspace claim `{name}` (a string)");
                    return Err(Refusal::InsufficientScope(why));
                }
            },
        };
        let attributes = self.policy_claims.read(&claims.rest);
        Ok(Principal::person_in(workspace, digest, subject, attributes))
    }

    /// Where the protected-resource metadata is: the well-known path with
    /// this server's path inserted (RFC 9728 §3.1).
    pub(crate) fn metadata_url(&self) -> String {
        well_known(&self.resource, "oauth-protected-resource")
    }

    /// The protected-resource metadata (RFC 9728).
    pub(crate) fn metadata(&self) -> Value {
        json!({
            "resource": self.resource,
            "authorization_servers": [match &self.hosts {
                Hosts::Proxy(front) => front.origin.as_str(),
                Hosts::Issuer => self.issuer.url(),
            }],
            "scopes_supported": self.scopes,
            "bearer_methods_supported": ["header"],
            "resource_name": "nexus-mcp",
        })
    }

    /// 403 `insufficient_scope` for a call that needs `scopes` (why):
    /// the challenge names them, so that a host may ask for them.
    pub(crate) fn insufficient(&self, scopes: &[String], why: &str) -> Response {
        let challenge = format!(
            "Bearer resource_metadata=\"{}\", scope=\"{}\", error=\"{}\", error_description=\"{why}\"",
            self.metadata_url(),
            scopes.join(" "),
            ErrorCode::InsufficientScope
        );
        let forbidden = StatusCode::FORBIDDEN;
        let mut response = OAuthError::new(forbidden, ErrorCode::InsufficientScope, why.to_owned())
            .into_response();
        if let Ok(value) = HeaderValue::from_str(&challenge) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, value);
        }
        response
    }

    /// `refusal` as an HTTP answer: its status, the challenge, and a JSON
    /// body saying the same.
    pub(crate) fn answer(&self, refusal: Refusal) -> Response {
        let (status, code, why) = match refusal {
            Refusal::NoToken => (
                StatusCode::UNAUTHORIZED,
                ErrorCode::Unauthorized,
                "a bearer token is needed".into(),
            ),
            Refusal::InvalidRequest(why) => {
                (StatusCode::UNAUTHORIZED, ErrorCode::InvalidRequest, why)
            }
            Refusal::InvalidToken(why) => (StatusCode::UNAUTHORIZED, ErrorCode::InvalidToken, why),
            Refusal::InsufficientScope(why) => {
                (StatusCode::FORBIDDEN, ErrorCode::InsufficientScope, why)
            }
            Refusal::Unavailable(_) => {
                // The why is the operator's, in the log: it may quote the
                // issuer's own words, which are no client's to read.
                let why = format!(
                    "this server cannot check tokens with the issuer {} now; try again shortly",
                    self.issuer
                );
                let unavailable = StatusCode::SERVICE_UNAVAILABLE;
                return OAuthError::new(unavailable, ErrorCode::TemporarilyUnavailable, why)
                    .into_response();
            }
            Refusal::HeadersTooLarge => {
                let why = format!("the request's headers weigh more than {MAX_HEADERS} bytes");
                return (StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, why).into_response();
            }
        };
        let mut challenge = format!("Bearer resource_metadata=\"{}\"", self.metadata_url());
        if !self.scopes.is_empty() {
            challenge += &format!(", scope=\"{}\"", self.scopes.join(" "));
        }
        // RFC 6750 §3.1: a request without a token is told no error code.
        if code != ErrorCode::Unauthorized {
            challenge += &format!(", error=\"{code}\", error_description=\"{why}\"");
        }
        let mut response = OAuthError::new(status, code, why).into_response();
        if let Ok(value) = HeaderValue::from_str(&challenge) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, value);
        }
        response
    }
}

/// The agent acting as itself a client credentials `grant` names (#127, 5):
/// its own workspace, its id, its client's mark and its name.
fn itself(grant: super::grant::Grant) -> Principal {
    let mark = grant.client.get(..12).unwrap_or_default();
    let unnamed = || Agent {
        name: String::new(),
        boundary: None,
        scopes: grant.scopes.clone(),
        registered: crate::agents::REGISTERED[0].to_owned(),
        session_life: None,
        through: Vec::new(),
    };
    Principal::Agent {
        workspace: grant.workspace.clone().unwrap_or_default().into(),
        id: Principal::agent_id(&grant.client),
        oauth_client: mark.into(),
        agent: Box::new(grant.agent.clone().unwrap_or_else(unnamed)),
    }
}

/// Whether `claims` are an application's own token (Entra's client
/// credentials), which names no person: `idtyp: app`, or, where that
/// optional claim is not issued, no delegated scope and its `oid` its
/// `sub` (a person's `sub` is pairwise, never their `oid`).
fn app_only(claims: &Claims) -> bool {
    let rest = &claims.rest;
    let delegated = claims.scope.is_some() || claims.scp.is_some();
    let oid_is_sub = rest
        .get("oid")
        .is_some_and(|oid| Some(oid) == rest.get("sub"));
    rest.get("idtyp").is_some_and(|t| t == "app") || (!delegated && oid_is_sub)
}

/// Whether a token's scopes `held` carry `wanted`: as written, or, for a
/// scope written as a URI (`api://<app>/mcp.tools`, the form a host must
/// ask Entra ID for), its last segment when the token's `scp` holds it
/// (`mcp.tools`: Entra writes its API's scopes short there).
fn carried(wanted: &str, held: &[&str], scp: bool) -> bool {
    let short = wanted
        .rsplit_once('/')
        .filter(|_| scp && wanted.contains("://"));
    held.contains(&wanted) || short.is_some_and(|(_, short)| held.contains(&short))
}

/// The token of an `Authorization: Bearer` header ([`super::refusal::bearer`]),
/// or the refusal of MCP's endpoint.
fn bearer(headers: &axum::http::HeaderMap) -> Result<&str, Refusal> {
    crate::serve::refusal::bearer(headers).map_err(|no| match no {
        crate::serve::refusal::NoBearer::Absent => Refusal::NoToken,
        crate::serve::refusal::NoBearer::Malformed(why) => Refusal::InvalidRequest(why.to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{HeldKeys, Keys, Sealing};
    use crate::principal::person;
    use crate::serve::grant::{ACCESS_LIFE, Grant, client_mark};

    const RESOURCE: &str = "https://mcp.example.com/mcp";

    fn gate(keys: &Arc<HeldKeys>) -> Gate {
        Gate {
            issuer: Arc::new(Issuer::new("https://login.example/tenant/v2.0")),
            hosts: Hosts::Proxy(Arc::new(Front::tested_with(Arc::clone(keys), &[]))),
            resource: RESOURCE.into(),
            audiences: Vec::new(),
            subject_claim: "oid".into(),
            policy_claims: crate::principal::PolicyClaims {
                groups: vec!["groups".into()],
                tags: Vec::new(),
            },
            introspection: None,
            scopes: vec!["mcp.tools".into()],
            claim: None,
            prefix: "team-".into(),
            verified: Default::default(),
        }
    }

    fn grant(resource: &str, scopes: &[&str]) -> Grant {
        Grant {
            person: "alice-oid".into(),
            workspace: None,
            attributes: Default::default(),
            admitted: Default::default(),
            client: client_mark("a-host"),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            resource: resource.into(),
            granted: 1_700_000_000_000,
            agent: None,
            act: None,
            itself: false,
        }
    }

    #[test]
    fn a_token_this_server_issued_names_the_person_a_providers_token_would() {
        let ring = crate::state::Keyring::parse("default:a-sealing-key-of-at-least-32-bytes!!");
        let keys = Arc::new(HeldKeys::new(Keys::new(&ring.unwrap()).unwrap()));
        let gate = gate(&keys);
        let sealed = |grant: &Grant| Sealing::named(&keys.now().oauth.access, grant, ACCESS_LIFE);
        let token = sealed(&grant(RESOURCE, &["mcp.tools"]));
        let alice = person("https://login.example/tenant/v2.0", "alice-oid");
        let admitted = (gate.issued_here(&token)).map(|p| p.map(|(p, _)| p).map_err(|r| r.code()));
        let workspace = own_workspace("team-", &alice);
        let alice = digest("https://login.example/tenant/v2.0", "alice-oid");
        let mut expected = Principal::person_in(workspace, alice, "alice-oid", Default::default());
        // The same person, and the OAuth client the token was issued to.
        if let Principal::Person { oauth_client, .. } = &mut expected {
            *oauth_client = Some(grant(RESOURCE, &[]).client[..12].into());
        }
        assert_eq!(admitted.map(|p| p.ok()), Some(Some(expected)));
        let elsewhere = sealed(&grant("https://other.example/mcp", &["mcp.tools"]));
        let refused = gate
            .issued_here(&elsewhere)
            .map(|p| p.map_err(|r| r.code()).err());
        assert_eq!(refused, Some(Some("invalid_token")));
        let narrow = sealed(&grant(RESOURCE, &[]));
        let refused = gate
            .issued_here(&narrow)
            .map(|p| p.map_err(|r| r.code()).err());
        assert_eq!(refused, Some(Some("insufficient_scope")));
        // A code, a refresh token or anything else is not one it issued.
        let refresh = Sealing::named(
            &keys.now().oauth.refresh,
            &grant(RESOURCE, &["mcp.tools"]),
            ACCESS_LIFE,
        );
        assert!(gate.issued_here(&refresh).is_none());
        assert!(gate.issued_here("eyJhbGciOiJSUzI1NiJ9.e30.sig").is_none());
    }

    #[test]
    fn a_token_this_server_issued_carries_the_workspace_claim_of_the_sign_in() {
        let ring = crate::state::Keyring::parse("default:a-sealing-key-of-at-least-32-bytes!!");
        let keys = Arc::new(HeldKeys::new(Keys::new(&ring.unwrap()).unwrap()));
        let gate = Gate {
            claim: Some("hd".into()),
            ..gate(&keys)
        };
        let sealed = |grant: &Grant| Sealing::named(&keys.now().oauth.access, grant, ACCESS_LIFE);
        let acme = Grant {
            workspace: Some("acme.example".into()),
            ..grant(RESOURCE, &["mcp.tools"])
        };
        let admitted = (gate.issued_here(&sealed(&acme))).map(|p| p.ok().map(|(p, _)| p));
        let Some(Some(Principal::Person { workspace, .. })) = admitted else {
            panic!("admitted: {admitted:?}");
        };
        assert_eq!(&*workspace, "team-acme.example");
        // A sign-in whose ID token had no such claim: refused, as a provider's token.
        let none = gate.issued_here(&sealed(&grant(RESOURCE, &["mcp.tools"])));
        assert!(
            matches!(none, Some(Err(Refusal::InsufficientScope(_)))),
            "{:?}",
            none.map(|p| p.is_ok())
        );
    }

    #[tokio::test]
    async fn a_token_this_server_issued_is_never_admitted_past_its_exp_not_even_from_memory() {
        let ring = crate::state::Keyring::parse("default:a-sealing-key-of-at-least-32-bytes!!");
        let keys = Arc::new(HeldKeys::new(Keys::new(&ring.unwrap()).unwrap()));
        let gate = gate(&keys);
        let access = &keys.now().oauth.access;
        let token = Sealing::named(
            access,
            &grant(RESOURCE, &["mcp.tools"]),
            Duration::from_secs(2),
        );
        let opened = Sealing::opened_until::<Grant>(access, &token);
        let (_, expires) = opened.ok().expect("it opens");
        let mut headers = axum::http::HeaderMap::new();
        let bearer = HeaderValue::from_str(&format!("Bearer {token}")).unwrap();
        headers.insert(header::AUTHORIZATION, bearer);
        assert!(
            gate.admit(&headers, None).await.is_ok(),
            "admitted, and remembered"
        );
        // Wait for the wall clock to pass exp + 1 s: an event, not a guess.
        let after = std::time::UNIX_EPOCH + Duration::from_secs(expires + 1);
        while let Ok(left) = after.duration_since(std::time::SystemTime::now()) {
            tokio::time::sleep(left).await;
        }
        let refused = gate.admit(&headers, None).await.map_err(|r| r.code());
        assert_eq!(refused.err(), Some("invalid_token"));
    }

    #[test]
    fn a_scope_written_as_a_uri_is_carried_by_its_last_segment_in_scp_alone() {
        let wanted = "api://0b1f-app/mcp.tools";
        // Entra's scp writes its API's scopes short; the host asked the URI.
        assert!(carried(wanted, &["mcp.tools", "User.Read"], true));
        assert!(carried(wanted, &[wanted], false), "as written, anywhere");
        // Only in scp, only a URI's last segment, only the whole segment.
        assert!(!carried(wanted, &["mcp.tools"], false));
        assert!(!carried("team/mcp.tools", &["mcp.tools"], true));
        assert!(!carried(wanted, &["tools", "mcp"], true));
        assert!(!carried("mcp.tools", &["api://0b1f-app/mcp.tools"], true));
    }

    #[test]
    fn a_person_is_all_of_the_hash_of_one_issuer_and_one_subject() {
        let alice = person("https://issuer.example", "alice");
        assert_eq!(alice.len(), 64, "all 256 bits bind a link, not a prefix");
        assert_ne!(alice, person("https://other.example", "alice"));
        // The zero byte keeps the issuer and the subject apart.
        assert_ne!(
            person("https://a.example", "bc"),
            person("https://a.exampleb", "c")
        );
    }
}
