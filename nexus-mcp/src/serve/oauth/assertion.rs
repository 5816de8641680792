//! The ID-JAG grant at `/token` (RFC 7523's `jwt-bearer` grant with the
//! Identity Assertion JWT Authorization Grant of
//! draft-ietf-oauth-identity-assertion-authz-grant, as MCP's
//! Enterprise-Managed Authorization profiles it): the team's provider
//! vouches for a person to this server, and a confidential client presents
//! that. Checked in the draft's order, the cheap and keyless checks first:
//! its size and header, then its `iss` to the byte before any key is
//! asked for, the signature with the issuer's keys the bearer check holds,
//! its claims, the client it names before its `jti` is spent, and the
//! `jti` once across replicas. Every failure is one `invalid_grant` to the
//! client and one line to the operator naming the check, never the
//! assertion.

use std::borrow::Cow;
use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{Map, Value};

use super::authn::Asker;
use super::front::Front;
use crate::agents::Agent;
use crate::answer::quoted;
use crate::principal::{person, sha256_hex};
use crate::serve::grant::{Grant, MOST_ASSERTION, client_mark};
use crate::serve::jws::{self, Kind};
use crate::serve::refusal::{ErrorCode, OAuthError};
use crate::serve::signin::read_person;
use crate::serve::store::Down;

/// The longest an ID-JAG may live (`exp` − `iat`).
const LONGEST_LIFE: Duration = Duration::from_secs(300);

/// A check an assertion failed, as the operator's line names it.
#[derive(Debug, PartialEq)]
pub(crate) struct Failed(pub(crate) Cow<'static, str>);

impl From<jws::Refused> for Failed {
    fn from(refused: jws::Refused) -> Failed {
        Failed(refused.0)
    }
}

/// A failed check named `what`.
fn failed(what: &'static str) -> Failed {
    Failed(Cow::Borrowed(what))
}

/// What a checked ID-JAG says: its claims, its `jti`, how long its `jti`
/// need be held spent, and from when it was usable ([`jws::usable_from`]).
pub(crate) struct Asserted {
    pub(crate) claims: Map<String, Value>,
    pub(crate) jti: String,
    pub(crate) lives: Duration,
    pub(crate) from: u64,
}

/// An ID-JAG of `front`'s issuer, as [`jws`] checks every token: typed
/// `oauth-id-jag+jwt`, for this server's issuer identifier alone, naming a
/// person, issued, and living at most [`LONGEST_LIFE`].
fn id_jag<'a>(issuer: &'a str, audience: &'a [&'a str; 1]) -> Kind<'a> {
    Kind {
        types: &["oauth-id-jag+jwt"],
        untyped: false,
        issuer,
        audiences: audience,
        sole_audience: true,
        subject: None,
        required: &["sub", "iat", "jti"],
        longest: Some(LONGEST_LIFE),
        without_exp: false,
    }
}

/// The assertion checked against `front` for the client `client`, up to
/// (not including) its `jti`'s spending; `Err(None)` when the issuer's keys
/// cannot be read now (the client tries again).
pub(crate) async fn checked(
    front: &Front,
    client: &str,
    assertion: &str,
) -> Result<Asserted, Option<Failed>> {
    if assertion.len() > MOST_ASSERTION {
        return Err(Some(failed("larger than 16 KiB")));
    }
    let unverified =
        jsonwebtoken::dangerous::insecure_decode_claims::<Map<String, Value>>(assertion);
    let unverified = unverified.map_err(|_| failed("the claims do not read"))?;
    // The issuer to the byte, before any key is fetched.
    let iss = unverified
        .get("iss")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let issuer = front.id_jag.issuer(iss, &front.login.issuer);
    let issuer = issuer.ok_or(failed("iss is not --issuer (nor --id-jag-issuer)"))?;
    let audience = [front.origin.as_str()];
    let kind = id_jag(issuer.url(), &audience);
    let verify = jws::verify(assertion, &kind, jws::Keys::Issuer(issuer));
    let (_, verified) = verify.await.map_err(|rejected| match rejected {
        jws::Rejected::KeysUnavailable(_) => None,
        other => Some(Failed(Cow::Owned(other.clause().to_owned()))),
    })?;
    let jti = profiled(&verified.claims, (&front.resource, client))?;
    Ok(Asserted {
        claims: verified.claims,
        jti,
        lives: verified.lives,
        from: verified.from,
    })
}

/// What the ID-JAG `assertion` grants the client `asker` (confidential:
/// authenticated with its secret), with the request's `scope`: the person
/// read from it exactly as from the login's ID token, `--deny-file` and
/// `--allow-sign-in` held, every `--scope` granted, its `jti` spent once
/// on every replica; or why not.
pub(crate) async fn granted(
    front: &Front,
    asker: &Asker,
    assertion: &str,
    scope: Option<&str>,
) -> Result<Grant, OAuthError> {
    if !(asker.confidential || front.id_jag.from_public_clients) {
        let why = "the ID-JAG grant is for a client `serve client add` made, authenticated \
                   with its secret (or any, with --id-jag-from-public-clients)";
        return Err(OAuthError::bad(ErrorCode::UnauthorizedClient, why));
    }
    let told = |check: &str| tell(front, &asker.id, assertion, check);
    let refused = |check: &str| {
        told(check);
        OAuthError::bad(
            ErrorCode::InvalidGrant,
            "the assertion is not one this server takes: this is for your administrator, who \
             finds why in the server's log by the id that ends these words",
        )
    };
    let asserted = match checked(front, &asker.id, assertion).await {
        Ok(asserted) => asserted,
        Err(Some(Failed(check))) => return Err(refused(&check)),
        Err(None) => return Err(unavailable("the issuer's keys cannot be read now")),
    };
    let sub = asserted.claims.get("sub").and_then(Value::as_str);
    let sub = sub.unwrap_or_default();
    let reads = &front.login.reads;
    let read = read_person(reads, front.issuer.clone(), sub, &asserted.claims);
    let read = read.map_err(|_| {
        let claim = &reads.subject_claim;
        refused(&format!(
            "it carries no {claim} claim, which --subject-claim {claim} names people by"
        ))
    })?;
    let who = person(&front.issuer, &read.subject);
    if front.deny.denies(&who) {
        return Err(refused("--deny-file names the person"));
    }
    if let Err(why) = front.admission.admits(&read.admitted) {
        return Err(refused(&format!("--allow-sign-in: {why}")));
    }
    if let Some(line) = reads.no_groups(&asserted.claims) {
        front.login.told.warn("a sign-in without groups", &line);
    }
    let scopes = scopes(&asserted.claims, scope, &front.scopes).map_err(|missing| {
        let why = format!("the assertion does not grant the scope {missing} this server needs");
        told(&why);
        OAuthError::bad(ErrorCode::InvalidScope, why)
    })?;
    let (scopes, agent) = bounded(front, &asker.id, scopes);
    // Granted when the provider says, its clock's leeway against it: an
    // ID-JAG made before the person's revocation is refused after it.
    let granted = asserted.from;
    taken_once(front, &asserted, &read.subject, refused).await?;
    Ok(Grant {
        person: read.subject,
        workspace: read.workspace,
        attributes: read.attributes,
        admitted: read.admitted,
        client: client_mark(&asker.id),
        scopes,
        resource: front.resource.clone(),
        granted,
        agent,
        act: None,
        itself: false,
    })
}

/// The scopes an ID-JAG grants the client `id`, narrowed to its boundary
/// where it registered one (the server's own scopes aside: an agent holds
/// at most its boundary, whatever the assertion grants), and the agent.
fn bounded(front: &Front, id: &str, scopes: Vec<String>) -> (Vec<String>, Option<Agent>) {
    let client = front.client(id).ok();
    let boundary = client.as_ref().and_then(|c| c.scopes.as_deref());
    let scopes: Vec<String> = match boundary {
        Some(bounds) => (scopes.into_iter())
            .filter(|s| front.scopes.contains(s) || bounds.contains(s))
            .collect(),
        None => scopes,
    };
    let agent = client.map(|client| Agent {
        boundary: client.scopes.is_some().then(|| scopes.clone()),
        name: client.name,
        scopes: scopes.clone(),
        registered: "id-jag".to_owned(),
        session_life: client.session_life,
        through: Vec::new(),
    });
    (scopes, agent)
}

/// The operator's one line for an ID-JAG `assertion` the client `client`
/// presented, refused at `check`: never the assertion, its `jti` hashed.
fn tell(front: &Front, client: &str, assertion: &str, check: &str) {
    let said = jsonwebtoken::dangerous::insecure_decode_claims::<Map<String, Value>>(assertion);
    let said = said.unwrap_or_default();
    let text = |name| said.get(name).and_then(Value::as_str).unwrap_or_default();
    let who = &person(&front.issuer, text("sub"))[..12];
    let jti = &sha256_hex(&[text("jti").as_bytes()])[..12];
    let mark = &client_mark(client)[..12];
    let said = said_beside_expected(&said, front, client);
    log::warn!(target: "nexus_mcp", "an ID-JAG refused: {check} (client={mark}, who={who}, jti {jti}…); {said}");
}

/// What an ID-JAG's `said` claims hold beside what this server expects of
/// them, for the operator's line (none is a secret; each a stranger's text,
/// quoted and bounded): `iss`, `aud`, `client_id`, `resource` and `scope`,
/// and how far its `iat` is from this replica's clock.
fn said_beside_expected(said: &Map<String, Value>, front: &Front, client: &str) -> String {
    let shown = |name: &str| {
        let value = said.get(name).map(|value| match value {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        });
        value.map_or("none".to_owned(), |v| format!("\"{}\"", quoted(&v, 512)))
    };
    let now = jsonwebtoken::get_current_timestamp();
    let iat = said.get("iat").and_then(Value::as_u64);
    let skew = iat.map_or("none".to_owned(), |iat| {
        let ahead = i128::from(iat) - i128::from(now);
        format!("{ahead:+} s from this replica's clock")
    });
    format!(
        "it says iss {}, aud {}, client_id {}, resource {}, scope {}, iat {skew}; this server \
         takes iss \"{}\", aud \"{}\" (its issuer identifier, alone), client_id \"{}\", \
         resource \"{}\"",
        shown("iss"),
        shown("aud"),
        shown("client_id"),
        shown("resource"),
        shown("scope"),
        quoted(&front.issuer, 160),
        quoted(&front.origin, 160),
        quoted(client, 512),
        quoted(&front.resource, 160),
    )
}

/// 503 `temporarily_unavailable`: `why`, and to try again shortly.
fn unavailable(why: &str) -> OAuthError {
    let why = format!("{why}: try again shortly");
    OAuthError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::TemporarilyUnavailable,
        why,
    )
}

/// The ID-JAG `asserted` of `subject` taken once, on any replica: refused
/// (`refused`'s words) when the person was revoked after the provider
/// granted it, or its jti was presented before; 503 while the store cannot
/// say (its revocations unread, or no answer). Spent last: a wrong client
/// never burns another's assertion.
async fn taken_once(
    front: &Front,
    asserted: &Asserted,
    subject: &str,
    refused: impl Fn(&str) -> OAuthError,
) -> Result<(), OAuthError> {
    let (granted, revocations) = (asserted.from, front.store.revocations());
    crate::serve::refusal::unread(revocations)?;
    if revocations.refuses(&front.named(subject), None, granted) {
        return Err(refused(
            "the person was revoked after the provider granted it",
        ));
    }
    let key = sha256_hex(&[front.issuer.as_bytes(), b"\0", asserted.jti.as_bytes()]);
    match front.store.spend(&key, (granted, asserted.lives)).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(refused(
            "its jti was presented before, or may have been: it was usable before the store lost what it knew",
        )),
        Err(Down(why)) => {
            log::warn!(target: "nexus_mcp", "an ID-JAG waits: the store does not answer ({why})");
            Err(unavailable(
                "the store that records assertions does not answer",
            ))
        }
    }
}

/// What the ID-JAG profile asks of verified claims beside [`jws`]'s rule:
/// `resource` this server's MCP endpoint, no `cnf` or
/// `authorization_details` (no DPoP or rich authorization yet), and
/// `client_id` the client that presents it. Its `jti`.
fn profiled(
    claims: &Map<String, Value>,
    (resource, client): (&str, &str),
) -> Result<String, Failed> {
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    if text("resource") != Some(resource) {
        return Err(failed("resource is not --public-url"));
    }
    if claims.contains_key("cnf") || claims.contains_key("authorization_details") {
        return Err(failed("cnf or authorization_details"));
    }
    if text("client_id") != Some(client) {
        return Err(failed("client_id is not the client presenting it"));
    }
    text("jti").map(str::to_owned).ok_or(failed("no jti"))
}

/// The scopes granted: the ID-JAG's `scope`, narrowed by the request's
/// when it names some (an ID-JAG without `scope` grants none); `Err` with
/// the first of `needed` (`--scope`) not among them.
pub(crate) fn scopes(
    asserted: &Map<String, Value>,
    asked: Option<&str>,
    needed: &[String],
) -> Result<Vec<String>, String> {
    let granted = asserted
        .get("scope")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let granted = granted.split_whitespace();
    let granted: Vec<String> = match asked {
        Some(asked) => {
            let asked: Vec<&str> = asked.split_whitespace().collect();
            granted
                .filter(|s| asked.contains(s))
                .map(str::to_owned)
                .collect()
        }
        None => granted.map(str::to_owned).collect(),
    };
    match needed.iter().find(|need| !granted.contains(need)) {
        Some(missing) => Err(missing.clone()),
        None => Ok(granted),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const RESOURCE: &str = "https://mcp.example.com/mcp";

    fn claims(change: impl FnOnce(&mut Map<String, Value>)) -> Result<String, Failed> {
        let now = jsonwebtoken::get_current_timestamp();
        let mut claims = json!({
            "iss": "https://idp.example.com", "sub": "alice", "aud": "https://mcp.example.com",
            "iat": now, "exp": now + 300, "jti": "j1", "resource": RESOURCE,
            "client_id": "c1", "scope": "mcp.tools",
        });
        change(claims.as_object_mut().unwrap());
        let claims = claims.as_object().unwrap();
        let kind = id_jag("https://idp.example.com", &["https://mcp.example.com"]);
        jws::claims_checked(claims, &kind, now)?;
        profiled(claims, (RESOURCE, "c1"))
    }

    #[test]
    fn every_claim_the_profile_asks_is_checked() {
        assert!(claims(|_| {}).is_ok());
        let cases: [(&str, Value); 12] = [
            (
                "aud",
                json!(["https://mcp.example.com", "https://other.example"]),
            ),
            ("aud", json!(7)),
            ("exp", json!("soon")),
            ("iat", Value::Null),
            ("sub", json!(" ")),
            ("sub", json!(1)),
            ("resource", json!("https://mcp.example.com/other")),
            ("cnf", json!({"jkt": "x"})),
            ("authorization_details", json!([])),
            ("client_id", json!("c2")),
            ("jti", json!("")),
            ("exp", json!(jsonwebtoken::get_current_timestamp() + 301)),
        ];
        for (name, value) in cases {
            let refused = claims(|c| {
                c.insert(name.to_owned(), value.clone());
            });
            assert!(refused.is_err(), "{name} {value}");
        }
        for name in ["jti", "resource", "client_id", "iat"] {
            assert!(claims(|c| drop(c.remove(name))).is_err(), "without {name}");
        }
    }

    #[test]
    fn scopes_are_the_assertions_narrowed_by_the_request_and_must_hold_every_needed_one() {
        let asserted = json!({"scope": "mcp.tools mcp.read"});
        let asserted = asserted.as_object().unwrap();
        let needed = ["mcp.tools".to_owned()];
        assert_eq!(
            scopes(asserted, None, &needed).unwrap(),
            ["mcp.tools", "mcp.read"]
        );
        assert_eq!(
            scopes(asserted, Some("mcp.tools other"), &needed).unwrap(),
            ["mcp.tools"]
        );
        assert_eq!(
            scopes(asserted, Some("mcp.read"), &needed).unwrap_err(),
            "mcp.tools"
        );
        let none = json!({}).as_object().cloned().unwrap();
        assert_eq!(scopes(&none, None, &needed).unwrap_err(), "mcp.tools");
        assert!(scopes(&none, None, &[]).unwrap().is_empty());
    }
}
