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

use std::time::Duration;

use axum::http::StatusCode;
use jsonwebtoken::{DecodingKey, Validation};
use serde_json::{Map, Value};

use super::authn::Asker;
use super::front::Front;
use crate::principal::{person, sha256_hex};
use crate::serve::grant::{Grant, MOST_ASSERTION, client_mark};
use crate::serve::issuer::Missing;
use crate::serve::refusal::{ErrorCode, OAuthError};
use crate::serve::signin::read_person;
use crate::serve::store::Down;

/// The longest an ID-JAG may live (`exp` − `iat`), and the clocks' skew.
const LONGEST_LIFE: u64 = 300;
const SKEW: u64 = 60;

/// A check an assertion failed, as the operator's line names it.
#[derive(Debug, PartialEq)]
pub(crate) struct Failed(pub(crate) &'static str);

/// What a checked ID-JAG says: its claims, its `jti`, its `exp`.
pub(crate) struct Asserted {
    pub(crate) claims: Map<String, Value>,
    pub(crate) jti: String,
    pub(crate) exp: u64,
}

/// The assertion checked against `front` for the client `client`, up to
/// (not including) its `jti`'s spending; `Err(None)` when the issuer's keys
/// cannot be read now (the client tries again).
pub(crate) async fn checked(
    front: &Front,
    client: &str,
    assertion: &str,
) -> Result<Asserted, Option<Failed>> {
    let header = header_checked(assertion)?;
    let unverified =
        jsonwebtoken::dangerous::insecure_decode_claims::<Map<String, Value>>(assertion);
    let unverified = unverified.map_err(|_| Failed("the claims do not read"))?;
    // The issuer to the byte, before any key is fetched.
    if unverified.get("iss").and_then(Value::as_str) != Some(front.issuer.as_str()) {
        return Err(Some(Failed("iss is not --issuer")));
    }
    let kid = header.kid.ok_or(Failed("no kid"))?;
    let jwk = match front.login.issuer.key(&kid).await {
        Ok(jwk) => jwk,
        Err(Missing::Unknown) => return Err(Some(Failed("a key the issuer does not publish"))),
        Err(Missing::Unreadable(_)) => return Err(None),
    };
    let key = DecodingKey::from_jwk(&jwk).map_err(|_| Failed("the issuer's key does not read"))?;
    let mut validation = Validation::new(header.alg);
    validation.set_issuer(&[&front.issuer]);
    validation.set_audience(&[&front.origin]);
    validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    validation.leeway = SKEW;
    let verified = jsonwebtoken::decode::<Map<String, Value>>(assertion, &key, &validation);
    let claims = verified
        .map_err(|_| Failed("the signature, aud or exp"))?
        .claims;
    let (jti, exp) = claims_checked(&claims, (&front.resource, client))?;
    Ok(Asserted { claims, jti, exp })
}

/// What the ID-JAG `assertion` grants the client `asker` (confidential:
/// authenticated with its secret), with the request's `scope`: the person
/// read from it exactly as from the login's ID token, `--deny-file` and
/// `--allow-sign-in` held, every `--scope` granted, its `jti` spent once
/// on every replica; or why not.
pub(crate) async fn granted(
    front: &Front,
    asker: Option<&Asker>,
    assertion: &str,
    scope: Option<&str>,
) -> Result<Grant, OAuthError> {
    let (public_too, _) = front.id_jag;
    let Some(asker) = asker.filter(|asker| asker.confidential || public_too) else {
        let why = "the ID-JAG grant is for a client `serve client add` made, authenticated \
                   with its secret (or any, with --id-jag-from-public-clients)";
        return Err(OAuthError::bad(ErrorCode::UnauthorizedClient, why));
    };
    let refused = |check: &str| {
        let said = jsonwebtoken::dangerous::insecure_decode_claims::<Map<String, Value>>(assertion);
        let said = said.unwrap_or_default();
        let text = |name| said.get(name).and_then(Value::as_str).unwrap_or_default();
        let who = &person(&front.issuer, text("sub"))[..12];
        let jti = &sha256_hex(&[text("jti").as_bytes()])[..12];
        let client = &client_mark(&asker.id)[..12];
        log::warn!(target: "nexus_mcp", "an ID-JAG refused: {check} (client={client}, who={who}, jti {jti}…)");
        OAuthError::bad(
            ErrorCode::InvalidGrant,
            "the assertion is not one this server takes",
        )
    };
    let asserted = match checked(front, &asker.id, assertion).await {
        Ok(asserted) => asserted,
        Err(Some(Failed(check))) => return Err(refused(check)),
        Err(None) => return Err(unavailable("the issuer's keys cannot be read now")),
    };
    let sub = asserted
        .claims
        .get("sub")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let reads = &front.login.reads;
    let read = read_person(reads, front.issuer.clone(), sub, &asserted.claims);
    let read = read.map_err(|_| refused("it names no person as --subject-claim reads them"))?;
    if front.deny.denies(&person(&front.issuer, &read.subject)) {
        return Err(refused("--deny-file names the person"));
    }
    if front.admission.admits(&read.admitted).is_err() {
        return Err(refused(
            "--allow-sign-in lets the person in by none of their claims",
        ));
    }
    if let Some(line) = reads.no_groups(&asserted.claims) {
        front.login.told.warn("a sign-in without groups", &line);
    }
    let scopes = scopes(&asserted.claims, scope, &front.scopes).map_err(|missing| {
        let why = format!("the assertion does not grant the scope {missing} this server needs");
        OAuthError::bad(ErrorCode::InvalidScope, why)
    })?;
    // Spent last: a wrong client never burns another's assertion.
    let now = jsonwebtoken::get_current_timestamp();
    let life = Duration::from_secs(asserted.exp.saturating_sub(now) + SKEW);
    let key = sha256_hex(&[front.issuer.as_bytes(), b"\0", asserted.jti.as_bytes()]);
    match front.store.spend(&key, life).await {
        Ok(true) => {}
        Ok(false) => return Err(refused("its jti was presented before")),
        Err(Down(why)) => {
            log::warn!(target: "nexus_mcp", "an ID-JAG waits: the store does not answer ({why})");
            return Err(unavailable(
                "the store that records assertions does not answer",
            ));
        }
    }
    Ok(Grant {
        person: read.subject,
        workspace: read.workspace,
        attributes: read.attributes,
        admitted: read.admitted,
        client: client_mark(&asker.id),
        scopes,
        resource: front.resource.clone(),
    })
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

/// The header, checked before anything else: its size, one JWS, typed an
/// ID-JAG, signed by an asymmetric key, with no critical extension and no
/// key of its own (`jku`, `x5u`, `x5c`, `jwk`: refused, never fetched nor
/// trusted; the key is the issuer's, by its `kid`).
fn header_checked(assertion: &str) -> Result<jsonwebtoken::Header, Failed> {
    if assertion.len() > MOST_ASSERTION {
        return Err(Failed("larger than 16 KiB"));
    }
    let header = jsonwebtoken::decode_header(assertion).map_err(|_| Failed("not a JWS"))?;
    let typ = header.typ.as_deref().map(str::to_ascii_lowercase);
    let typed = typ.as_deref().map(|t| t.trim_start_matches("application/"));
    if typed != Some("oauth-id-jag+jwt") {
        return Err(Failed("typ is not oauth-id-jag+jwt"));
    }
    if !crate::serve::bearer::ALGORITHMS.contains(&header.alg) {
        return Err(Failed("alg is not an asymmetric one"));
    }
    if header.crit.is_some() {
        return Err(Failed("crit"));
    }
    let keyed = header.jku.is_some() || header.x5u.is_some();
    if keyed || header.x5c.is_some() || header.jwk.is_some() {
        return Err(Failed("a key of its own (jku, x5u, x5c or jwk)"));
    }
    Ok(header)
}

/// The verified claims checked: `aud` one audience, a life of at most
/// [`LONGEST_LIFE`] with both `exp` and `iat`, a `sub`, `resource` this
/// server's MCP endpoint, no `cnf` or `authorization_details` (no DPoP or
/// rich authorization yet), `client_id` the client that presents it, and a
/// `jti`: the `jti` and `exp`.
fn claims_checked(
    claims: &Map<String, Value>,
    (resource, client): (&str, &str),
) -> Result<(String, u64), Failed> {
    let text = |name: &str| {
        claims
            .get(name)
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
    };
    let number = |name: &str| claims.get(name).and_then(Value::as_u64);
    let one_audience = match claims.get("aud") {
        Some(Value::String(_)) => true,
        Some(Value::Array(all)) => all.len() == 1,
        _ => false,
    };
    if !one_audience {
        return Err(Failed("aud names more than this server"));
    }
    let (Some(exp), Some(iat)) = (number("exp"), number("iat")) else {
        return Err(Failed("exp or iat is no number"));
    };
    if exp.saturating_sub(iat) > LONGEST_LIFE {
        return Err(Failed("lives longer than 300 s"));
    }
    if iat > jsonwebtoken::get_current_timestamp() + SKEW {
        return Err(Failed("iat is to come"));
    }
    if text("sub").is_none_or(|sub| sub.trim().is_empty()) {
        return Err(Failed("no sub"));
    }
    if text("resource") != Some(resource) {
        return Err(Failed("resource is not --public-url"));
    }
    if claims.contains_key("cnf") || claims.contains_key("authorization_details") {
        return Err(Failed("cnf or authorization_details"));
    }
    if text("client_id") != Some(client) {
        return Err(Failed("client_id is not the client presenting it"));
    }
    let jti = text("jti").ok_or(Failed("no jti"))?;
    Ok((jti.to_owned(), exp))
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

    fn claims(change: impl FnOnce(&mut Map<String, Value>)) -> Result<(String, u64), Failed> {
        let now = jsonwebtoken::get_current_timestamp();
        let mut claims = json!({
            "iss": "https://idp.example.com", "sub": "alice", "aud": "https://mcp.example.com",
            "iat": now, "exp": now + 300, "jti": "j1", "resource": RESOURCE,
            "client_id": "c1", "scope": "mcp.tools",
        });
        change(claims.as_object_mut().unwrap());
        claims_checked(claims.as_object().unwrap(), (RESOURCE, "c1"))
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
