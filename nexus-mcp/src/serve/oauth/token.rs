//! The token endpoint of the hosts' authorization server (`--oauth-proxy`):
//! a code redeemed with its PKCE verifier, a refresh token rotated at each
//! use with reuse detection (OAuth 2.1 §4.3.1, RFC 9700 §4.14.2), within
//! the sign-in's absolute life (`--sign-in-life`). What it issues is sealed
//! with the keyring, each kind under its own seal: any replica opens any
//! of them, none can be read or made without the key. A code is
//! short-lived everywhere and refused on its second use on the replica
//! that took it; PKCE's verifier, which only the host that asked holds, is
//! what a code replayed on another replica within its life still lacks. A
//! refresh token's family (its sign-in's) is kept in the store every
//! replica shares ([`crate::serve::store`]): a refresh token used twice
//! revokes the family, on every replica.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::extract::rejection::FormRejection;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use oauth2::{PkceCodeChallenge, PkceCodeVerifier};
use serde::Deserialize;
use serde_json::{Value, json};

use super::assertion;
use super::authn;
use super::device;
use super::exchange::{self, Exchange, Exchanged};
use super::front::{Ended, Front};
use super::itself;
use super::refresh;
use crate::keys::{OauthSeals, Sealing};
use crate::serve::grant::{
    ACCESS_LIFE, Access, CODE_LIFE, Code, Grant, GrantType, REFRESH_LIFE, REVOKED, Redeemed,
    Refresh, client_mark, opened,
};
use crate::serve::page::random;
use crate::serve::refusal::{ErrorCode, OAuthError};
use crate::serve::signin::Upstream;
use crate::serve::store::{Down, Step};

/// A token request's form (RFC 6749 §4.1.3, §6; RFC 7523 §2.1): the
/// fields read, each at most once.
#[derive(Deserialize, Default, Clone)]
pub(crate) struct Asked {
    grant_type: String,
    code: Option<String>,
    redirect_uri: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    client_assertion_type: Option<String>,
    client_assertion: Option<String>,
    code_verifier: Option<String>,
    refresh_token: Option<String>,
    assertion: Option<String>,
    scope: Option<String>,
    subject_token: Option<String>,
    subject_token_type: Option<String>,
    actor_token: Option<String>,
    requested_token_type: Option<String>,
    resource: Option<String>,
    audience: Option<String>,
    device_code: Option<String>,
}

/// What a token request asks with, by its grant.
enum Asking {
    /// A code, with what binds it.
    AuthorizationCode(CodeAsked),
    /// A refresh token.
    RefreshToken { token: String },
    /// An ID-JAG (RFC 7523's `jwt-bearer`), and the scopes asked.
    JwtBearer {
        assertion: String,
        scope: Option<String>,
    },
    /// A token this server issued, exchanged (RFC 8693).
    TokenExchange(Exchange),
    /// An agent as itself (RFC 6749 §4.4), and the scopes asked.
    ClientCredentials { scope: Option<String> },
    /// A device code polled (RFC 8628 §3.4).
    DeviceCode { code: String },
}

/// A code, and what binds it: the redirect URI and PKCE's verifier (each
/// missing one `invalid_grant`, as a wrong one is).
struct CodeAsked {
    code: String,
    redirect_uri: Option<String>,
    verifier: Option<String>,
}

impl Asked {
    /// The grant this form asks with, or why none: a grant's own field
    /// missing is `invalid_request`, an unknown grant `unsupported_grant_type`.
    fn read(self) -> Result<Asking, OAuthError> {
        let missing = |why| OAuthError::bad(ErrorCode::InvalidRequest, why);
        Ok(match GrantType::read(&self.grant_type) {
            Some(GrantType::AuthorizationCode) => Asking::AuthorizationCode(CodeAsked {
                code: self.code.ok_or(missing("no code"))?,
                redirect_uri: self.redirect_uri,
                verifier: self.code_verifier,
            }),
            Some(GrantType::RefreshToken) => Asking::RefreshToken {
                token: self.refresh_token.ok_or(missing("no refresh_token"))?,
            },
            Some(GrantType::JwtBearer) => Asking::JwtBearer {
                assertion: self.assertion.ok_or(missing("no assertion"))?,
                scope: self.scope,
            },
            Some(GrantType::TokenExchange) => Asking::TokenExchange(Exchange {
                subject: self.subject_token.ok_or(missing("no subject_token"))?,
                subject_type: self
                    .subject_token_type
                    .ok_or(missing("no subject_token_type"))?,
                actor: self.actor_token,
                requested: self.requested_token_type,
                scope: self.scope,
                targets: self.resource.into_iter().chain(self.audience).collect(),
            }),
            Some(GrantType::ClientCredentials) => Asking::ClientCredentials { scope: self.scope },
            Some(GrantType::DeviceCode) => Asking::DeviceCode {
                code: self.device_code.ok_or(missing("no device_code"))?,
            },
            None => {
                let why = "authorization_code, refresh_token, (an ID-JAG) jwt-bearer, \
                           token-exchange, client_credentials or device_code";
                return Err(OAuthError::bad(ErrorCode::UnsupportedGrantType, why));
            }
        })
    }
}

/// `grant` (of the refresh `family`, if any) refused where it was revoked
/// or withdrawn ([`Front::ended`]): `invalid_grant`; and while the store's
/// revocations are yet to be read, [`crate::serve::refusal::unread`]'s 503.
fn revoked(front: &Front, family: Option<&str>, grant: &Grant) -> Result<(), OAuthError> {
    match front.ended(grant, family, grant.granted) {
        None => Ok(()),
        Some(Ended::Unread(why)) => Err(OAuthError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::TemporarilyUnavailable,
            why,
        )),
        Some(_) => Err(OAuthError::bad(ErrorCode::InvalidGrant, REVOKED)),
    }
}

/// The grant `code` earns, checked against what binds it (its verifier,
/// redirect URI and client) and redeemed once on this replica; or why not.
fn redeemed_code(
    seals: &OauthSeals,
    redeemed: &Redeemed,
    asked: CodeAsked,
    client: &str,
) -> Result<Code, OAuthError> {
    let code: Code = opened(&seals.codes, &asked.code)?;
    let verifier = asked.verifier.ok_or(OAuthError::bad(
        ErrorCode::InvalidGrant,
        "PKCE's code_verifier is needed",
    ))?;
    let challenge = PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(verifier));
    if challenge.as_str() != code.challenge {
        return Err(OAuthError::bad(
            ErrorCode::InvalidGrant,
            "the code_verifier is not the code's",
        ));
    }
    if asked.redirect_uri.as_deref() != Some(code.redirect_uri.as_str()) {
        return Err(OAuthError::bad(
            ErrorCode::InvalidGrant,
            "the redirect_uri is not the code's",
        ));
    }
    if client != code.grant.client {
        return Err(OAuthError::bad(
            ErrorCode::InvalidGrant,
            "the code was issued to another client",
        ));
    }
    if !redeemed.first(&code.id) {
        return Err(OAuthError::bad(
            ErrorCode::InvalidGrant,
            "the code was redeemed already",
        ));
    }
    Ok(code)
}

/// `code` redeemed once on every replica, not only on this one: spent in
/// the store for its life (a store that does not answer leaves this
/// replica's own record, said in the log).
async fn redeemed_once(front: &Front, code: &Code) -> Result<(), OAuthError> {
    let key = crate::principal::sha256_hex(&[b"code\0", code.id.as_bytes()]);
    match front
        .store
        .spend(&key, (code.grant.granted, CODE_LIFE))
        .await
    {
        Ok(true) => Ok(()),
        Ok(false) => Err(OAuthError::bad(
            ErrorCode::InvalidGrant,
            "the code was redeemed already",
        )),
        Err(Down(why)) => {
            log::warn!(target: "nexus_mcp", "a code is redeemed once on this replica alone: the store does not answer ({why})");
            Ok(())
        }
    }
}

/// The tokens `grant` earns, sealed with `seals` at `now`, each within its
/// sign-in's life: an access token, and a refresh token of `refresh`'s
/// family when there is one (none when the store could not begin it).
fn issued(seals: &OauthSeals, grant: &Grant, family: Family<'_>, now: u64) -> Value {
    let (refresh, family, most) = match family {
        Family::Refreshed(refresh) => (Some(refresh), Some(refresh.family.clone()), ACCESS_LIFE),
        Family::Alone(family, life) => (None, family, life),
    };
    let left = |life: Duration, ends: u64| life.min(Duration::from_secs(ends.saturating_sub(now)));
    let access = refresh.map_or(most, |r| left(most, r.ends));
    let sealed = Access {
        grant: grant.clone(),
        family,
        issued: crate::serve::store::now_ms(),
    };
    let mut tokens = json!({
        "access_token": Sealing::named(&seals.access, &sealed, access),
        "token_type": "Bearer",
        "expires_in": access.as_secs(),
        "scope": grant.scopes.join(" "),
    });
    if let Some(refresh) = refresh {
        let life = left(REFRESH_LIFE, refresh.ends);
        tokens["refresh_token"] = json!(Sealing::named(&seals.refresh, refresh, life));
    }
    tokens
}

/// What an access token is issued beside: a refresh token of a family, or
/// none (the family it alone belongs to, when it has one, for `/revoke`,
/// and its life).
enum Family<'a> {
    Refreshed(&'a Refresh),
    Alone(Option<String>, Duration),
}

/// `POST /token`: the tokens a form earns (200), or the refusal (400; 503
/// while the store does not answer), the answer never cached (RFC 6749
/// §5.1). The log says why, never a code or a token.
pub(crate) async fn token(
    State(front): State<Arc<Front>>,
    headers: HeaderMap,
    asked: Result<axum::Form<Asked>, FormRejection>,
) -> Response {
    let basic = headers.get(header::AUTHORIZATION);
    let basic = basic.and_then(|value| value.to_str().ok());
    let (grant, earned) = match OAuthError::form(asked) {
        Ok(asked) => (
            Some(GrantType::read(&asked.grant_type)),
            earned(&front, basic, asked).await,
        ),
        Err(refused) => (None, Err(refused)),
    };
    let mut response = match earned {
        Ok(issued) => {
            crate::metrics::oauth("token", "ok");
            let no_store = [(header::CACHE_CONTROL, "no-store")];
            (StatusCode::OK, no_store, axum::Json(issued)).into_response()
        }
        Err(refused) => {
            crate::metrics::oauth("token", refused.code.as_str());
            log::info!(target: "nexus_mcp", "token refused ({}): {}", refused.code, refused.why);
            refused.into_response()
        }
    };
    // The grant asked with, for the request's span ([`crate::serve::seen`]):
    // none where it names one this server does not take.
    if let Some(grant) = grant {
        response.extensions_mut().insert(grant);
    }
    response
}

/// The tokens `asked` earns at `front`, or why not: a person denied
/// (`--deny-file`, read again at SIGHUP) gets none, so a refresh token
/// outlives no denial.
async fn earned(front: &Front, basic: Option<&str>, asked: Asked) -> Result<Value, OAuthError> {
    let named = authn::Named {
        id: asked.client_id.clone(),
        secret: asked.client_secret.clone(),
        assertion: (asked.client_assertion_type.clone()).zip(asked.client_assertion.clone()),
    };
    // The grant read first: an unknown one costs no client's check.
    let asking = asked.read()?;
    let asker = authn::asker(front, basic, named).await?;
    let client = client_mark(&asker.id);
    let keys = front.keys.now();
    let now = jsonwebtoken::get_current_timestamp();
    match asking {
        Asking::AuthorizationCode(asked) => {
            let code = redeemed_code(&keys.oauth, &front.redeemed, asked, &client)?;
            from_code(front, &keys.oauth, code, now).await
        }
        Asking::DeviceCode { code } => {
            let sealed = device::polled(front, &asker.id, &code).await?;
            let code = opened(&keys.oauth.codes, &sealed)?;
            from_code(front, &keys.oauth, code, now).await
        }
        Asking::JwtBearer { assertion, scope } => {
            let grant = assertion::granted(front, &asker, &assertion, scope.as_deref());
            let grant = grant.await?;
            granted_said(front, &asker.id, &grant);
            front.saw(&grant.person).await;
            // An access token alone: the provider vouches again when it ends.
            let life = front.id_jag.life;
            Ok(issued(
                &keys.oauth,
                &grant,
                Family::Alone(random(), life),
                now,
            ))
        }
        Asking::TokenExchange(asked) => {
            let exchanged = exchange::exchanged(front, &keys.oauth, &asker, asked, now)?;
            let Exchanged { access, life } = exchanged;
            denied(front, &access.grant)?;
            exchanged_said(front, &access.grant);
            let family = Family::Alone(access.family.clone(), life);
            let mut tokens = issued(&keys.oauth, &access.grant, family, now);
            tokens["issued_token_type"] = json!(exchange::ACCESS_TOKEN);
            Ok(tokens)
        }
        Asking::ClientCredentials { scope } => {
            let grant = itself::granted(front, &asker, scope.as_deref())?;
            revoked(front, None, &grant)?;
            let alone = Family::Alone(None, ACCESS_LIFE);
            Ok(issued(&keys.oauth, &grant, alone, now))
        }
        Asking::RefreshToken { token } => {
            let mut refresh = refresh::opened_refresh(&keys.oauth, &token, &client, now)?;
            // A family from before 0.14 granted when it began.
            refresh.grant.granted = refresh.grant.granted_or(refresh.begun);
            revoked(front, Some(refresh.family.as_str()), &refresh.grant)?;
            // A replay is caught (and its family revoked) before anything
            // else; the family moves on once the issuer has renewed it.
            let refresh = refresh::rotated(front, refresh, Step::Check).await?;
            let refresh = refresh::renewed(front, refresh).await?;
            denied(front, &refresh.grant)?;
            let refresh = refresh::rotated(front, refresh, Step::Move).await?;
            Ok(issued(
                &keys.oauth,
                &refresh.grant,
                Family::Refreshed(&refresh),
                now,
            ))
        }
    }
}

/// `grant`'s person refused where they are denied (`--deny-file`, read
/// again at SIGHUP) or no longer let in (`--allow-sign-in`): a refresh
/// token outlives no denial.
fn denied(front: &Front, grant: &Grant) -> Result<(), OAuthError> {
    let person = crate::principal::person(&front.issuer, &grant.person);
    if front.deny.denies(&person) {
        let why = "this person is denied access to this server";
        return Err(OAuthError::bad(ErrorCode::InvalidGrant, why));
    }
    front.admission.admits(&grant.admitted).map_err(|why| {
        log::info!(target: "nexus_mcp", "a refresh refused: {why}");
        let why = "this person is not one this server lets in (--allow-sign-in)";
        OAuthError::bad(ErrorCode::InvalidGrant, why)
    })
}

/// The tokens a `code` the person granted earns at `now` (an authorization
/// code's, a device's), redeemed once on every replica: an access token
/// and a refresh token of a new family, within its agent's session life.
async fn from_code(
    front: &Front,
    seals: &OauthSeals,
    code: Code,
    now: u64,
) -> Result<Value, OAuthError> {
    redeemed_once(front, &code).await?;
    revoked(front, None, &code.grant)?;
    denied(front, &code.grant)?;
    front.saw(&code.grant.person).await;
    let refresh = begun(front, code.grant.clone(), code.upstream, now).await;
    let family = refresh
        .as_ref()
        .map_or(Family::Alone(None, ACCESS_LIFE), Family::Refreshed);
    Ok(issued(seals, &code.grant, family, now))
}

/// The audit line of an ID-JAG's `grant` to the client `id`: the client
/// (its mark, for `client=` in --deny-file, and the name `serve client add`
/// sealed), the person (`who=`), the scopes.
fn granted_said(front: &Front, id: &str, grant: &Grant) {
    let name = front
        .client(id)
        .map(|client| client.name)
        .unwrap_or_default();
    let name = crate::answer::quoted(&name, 64);
    let who = &crate::principal::person(&front.issuer, &grant.person)[..12];
    let scopes = grant.scopes.join(" ");
    log::info!(target: "nexus_mcp", "an ID-JAG granted: client={} (\"{name}\"), who={who}, scopes {scopes:?}", &grant.client[..12]);
}

/// The audit line of a token exchanged: the client acting (its mark and
/// the name `serve client add` sealed), the agents it acts through (their
/// marks, the nearest first), the person (`who=`), the scopes.
fn exchanged_said(front: &Front, grant: &Grant) {
    let chain = grant.act.iter().flat_map(|act| act.chain());
    let marks: Vec<&str> = (chain.skip(1))
        .map(|act| act.sub.get(..12).unwrap_or_default())
        .collect();
    let name = grant
        .agent
        .as_ref()
        .map(|a| a.name.as_str())
        .unwrap_or_default();
    let name = crate::answer::quoted(name, 64);
    let who = &crate::principal::person(&front.issuer, &grant.person)[..12];
    let scopes = grant.scopes.join(" ");
    log::info!(target: "nexus_mcp", "a token exchanged: client={} (\"{name}\") through={}, who={who}, scopes {scopes:?}", &grant.client[..12], marks.join(","));
}

/// A new sign-in's refresh family, begun in the store for the sign-in's
/// life; none when the store does not answer (the host gets an access
/// token alone, and signs in again when it ends).
async fn begun(
    front: &Front,
    grant: Grant,
    upstream: Option<Upstream>,
    now: u64,
) -> Option<Refresh> {
    let family = random()?;
    // An agent's session lives as its client registered, within the sign-in's.
    let agent_life = grant.agent.as_ref().and_then(|agent| agent.session_life);
    let life = agent_life.map_or(front.sign_in_life, |life| {
        front.sign_in_life.min(std::time::Duration::from_secs(life))
    });
    match front.store.begin(&family, life).await {
        Ok(()) => {
            listed(front, &grant, now + life.as_secs()).await;
            Some(Refresh {
                grant,
                family,
                generation: 0,
                ends: now + life.as_secs(),
                begun: crate::serve::store::now_ms(),
                upstream,
            })
        }
        Err(Down(why)) => {
            log::warn!(target: "nexus_mcp", "the store does not answer ({why}): a sign-in gets an access token and no refresh token");
            None
        }
    }
}

/// A new sign-in's (person, agent) session, until `ends` (seconds since
/// the Unix epoch), written where `serve sessions --person` lists it; a
/// store that does not answer loses only the listing (the log says so).
async fn listed(front: &Front, grant: &Grant, ends: u64) {
    let Some(agent) = &grant.agent else {
        return;
    };
    let who = crate::principal::person(&front.issuer, &grant.person);
    let session = crate::serve::store::sessions::Session {
        name: agent.name.clone(),
        client: grant.client.get(..12).unwrap_or_default().to_owned(),
        scopes: grant.scopes.clone(),
        since: grant.granted,
        until: ends.saturating_mul(1000),
        last: None,
    };
    let digits = &who[..crate::serve::revoked::PERSON_DIGITS];
    if let Err(Down(why)) = front.store.session_began(digits, &session).await {
        log::warn!(target: "nexus_mcp", "the store does not answer ({why}): a session begun is not listed by serve sessions");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn front() -> Front {
        Front::tested(
            "default:a-sealing-key-of-at-least-32-bytes!!",
            &["mcp.tools"],
        )
    }

    fn grant() -> Grant {
        Grant {
            workspace: None,
            attributes: Default::default(),
            admitted: Default::default(),
            person: "alice".into(),
            client: client_mark("the-client"),
            scopes: vec!["mcp.tools".into()],
            resource: "https://mcp.example.com/mcp".into(),
            granted: 1_700_000_000_000,
            agent: None,
            act: None,
            itself: false,
        }
    }

    fn code(front: &Front, id: &str) -> String {
        let code = Code {
            grant: grant(),
            redirect_uri: "http://127.0.0.1:9/cb".into(),
            challenge: CHALLENGE.into(),
            id: id.into(),
            upstream: None,
        };
        Sealing::named(&front.keys.now().oauth.codes, &code, CODE_LIFE)
    }

    fn redemption(code: &str) -> Asked {
        Asked {
            grant_type: "authorization_code".into(),
            code: Some(code.into()),
            redirect_uri: Some("http://127.0.0.1:9/cb".into()),
            client_id: Some("the-client".into()),
            code_verifier: Some(VERIFIER.into()),
            ..Asked::default()
        }
    }

    fn refreshing(token: &Value, client: &str) -> Asked {
        Asked {
            grant_type: "refresh_token".into(),
            refresh_token: token["refresh_token"].as_str().map(str::to_owned),
            client_id: Some(client.into()),
            ..Asked::default()
        }
    }

    #[tokio::test]
    async fn a_code_with_its_verifier_earns_sealed_tokens_once_and_the_refresh_token_rotates() {
        let front = front();
        let keys = front.keys.now();
        let sealed = code(&front, "c1");
        let issued = earned(&front, None, redemption(&sealed)).await.unwrap();
        let access = issued["access_token"].as_str().unwrap();
        let opened: Grant = Sealing::opened(&keys.oauth.access, access).ok().unwrap();
        assert_eq!(opened, grant());
        assert_eq!(issued["expires_in"], json!(3600));
        assert!(
            Sealing::opened::<Refresh>(&keys.oauth.refresh, access).is_err(),
            "an access token is no refresh token"
        );
        let again = earned(&front, None, redemption(&sealed)).await;
        assert_eq!(
            again.unwrap_err(),
            OAuthError::bad(ErrorCode::InvalidGrant, "the code was redeemed already")
        );
        let other = earned(&front, None, refreshing(&issued, "another-client")).await;
        assert_eq!(other.unwrap_err().code, ErrorCode::InvalidGrant);
        let rotated = earned(&front, None, refreshing(&issued, "the-client"))
            .await
            .unwrap();
        assert_ne!(
            rotated["refresh_token"], issued["refresh_token"],
            "a new one each use"
        );
        let next = earned(&front, None, refreshing(&rotated, "the-client"))
            .await
            .unwrap();
        assert!(next["refresh_token"].is_string());
    }

    #[tokio::test]
    async fn a_refresh_token_used_twice_revokes_its_sign_ins_every_token() {
        let front = front();
        let issued = earned(&front, None, redemption(&code(&front, "c1")))
            .await
            .unwrap();
        let successor = earned(&front, None, refreshing(&issued, "the-client"))
            .await
            .unwrap();
        // The first one again (a copy an attacker kept): refused, and with
        // it the live successor the host holds.
        let replayed = earned(&front, None, refreshing(&issued, "the-client")).await;
        assert_eq!(replayed.unwrap_err().code, ErrorCode::InvalidGrant);
        let live = earned(&front, None, refreshing(&successor, "the-client")).await;
        let live = live.unwrap_err();
        assert_eq!(live.code, ErrorCode::InvalidGrant);
        assert!(live.why.contains("revoked"), "{}", live.why);
        // Its access tokens too: the family is on the revocation list.
        let family = Sealing::opened::<Refresh>(
            &front.keys.now().oauth.refresh,
            successor["refresh_token"].as_str().unwrap(),
        );
        let family = family.ok().unwrap().family;
        let who = front.named("alice");
        assert!(
            front
                .store
                .revocations()
                .refuses(&who, Some(&family), u64::MAX)
        );
        // Another sign-in's family is its own.
        let other = earned(&front, None, redemption(&code(&front, "c2")))
            .await
            .unwrap();
        assert!(
            earned(&front, None, refreshing(&other, "the-client"))
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn a_sign_in_ends_at_its_life_and_no_token_outlives_it() {
        let front = front();
        let keys = front.keys.now();
        let now = jsonwebtoken::get_current_timestamp();
        let ending = |ends: u64| Refresh {
            grant: grant(),
            family: "f".into(),
            generation: 0,
            ends,
            begun: 0,
            upstream: None,
        };
        front
            .store
            .begin("f", Duration::from_secs(600))
            .await
            .unwrap();
        let ended = Sealing::named(&keys.oauth.refresh, &ending(now), REFRESH_LIFE);
        let asked = refreshing(&json!({"refresh_token": ended}), "the-client");
        let refused = earned(&front, None, asked).await.unwrap_err();
        assert_eq!(
            refused.why,
            "the sign-in has ended (--sign-in-life): the person signs in again"
        );
        // Ten minutes left: nothing issued lives longer.
        let near = Sealing::named(&keys.oauth.refresh, &ending(now + 600), REFRESH_LIFE);
        let asked = refreshing(&json!({"refresh_token": near}), "the-client");
        let issued = earned(&front, None, asked).await.unwrap();
        assert!(issued["expires_in"].as_u64().unwrap() <= 600, "{issued}");
        let refresh = issued["refresh_token"].as_str().unwrap();
        let (carried, until) = Sealing::opened_until::<Refresh>(&keys.oauth.refresh, refresh)
            .ok()
            .unwrap();
        assert_eq!((carried.ends, carried.generation), (now + 600, 1));
        assert!(until <= now + 600 + 1);
    }

    #[tokio::test]
    async fn a_code_without_its_verifier_redirect_or_client_or_presented_as_a_token_is_refused() {
        let front = front();
        let changes: [fn(&mut Asked); 6] = [
            |a| a.code_verifier = None,
            |a| a.code_verifier = Some(CHALLENGE.into()),
            |a| a.redirect_uri = Some("http://127.0.0.1:10/cb".into()),
            |a| a.client_id = Some("another-client".into()),
            |a| a.client_id = None,
            |a| a.code = Some("not-a-code".into()),
        ];
        for (n, change) in changes.into_iter().enumerate() {
            let mut asked = redemption(&code(&front, &format!("c{n}")));
            change(&mut asked);
            let refused = earned(&front, None, asked).await;
            // Naming no client is the client's failure (RFC 6749 §5.2).
            let expected = match n {
                4 => ErrorCode::InvalidClient,
                _ => ErrorCode::InvalidGrant,
            };
            assert_eq!(refused.unwrap_err().code, expected, "case {n}");
        }
        let access = Sealing::named(&front.keys.now().oauth.access, &grant(), ACCESS_LIFE);
        let refused = earned(&front, None, redemption(&access)).await;
        assert_eq!(refused.unwrap_err().code, ErrorCode::InvalidGrant);
        let unsupported = Asked {
            grant_type: "password".into(),
            ..Asked::default()
        };
        let refused = earned(&front, None, unsupported).await;
        assert_eq!(refused.unwrap_err().code, ErrorCode::UnsupportedGrantType);
        let no_code = Asked {
            grant_type: "authorization_code".into(),
            ..Asked::default()
        };
        assert_eq!(
            earned(&front, None, no_code).await.unwrap_err().code,
            ErrorCode::InvalidRequest
        );
    }
}
