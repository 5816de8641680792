//! Token exchange at `/token` (RFC 8693), for a chain of agents: a client
//! registered for it (`serve client add --grant token-exchange`, or a
//! client ID metadata document that lists the grant and signs with its
//! key) presents an access token this server issued (`subject_token`) and
//! proves itself; the token it gets acts for the same person with the
//! actor recorded (`act`, the current actor outermost, each prior one
//! nested within, RFC 8693 §4.1), its scope at most the subject's and the
//! client's boundary, its life at most the subject's, the chain at most
//! [`CHAIN_MOST`] agents. A grant exchanged is checked as every grant
//! presented is ([`Front::ended`]): revoking the person, or any agent of
//! the chain, ends it.

use std::time::Duration;

use axum::http::StatusCode;

use super::authn::Asker;
use super::client::Client;
use super::front::{Ended, Front};
use crate::agents::Agent;
use crate::keys::{OauthSeals, Sealing};
use crate::serve::grant::{ACCESS_LIFE, Access, Act, CHAIN_MOST, GrantType, client_mark};
use crate::serve::refusal::{ErrorCode, OAuthError};

/// The one token type taken and issued: an access token (RFC 8693 §3).
pub(crate) const ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";

/// What an exchange asks (RFC 8693 §2.1): the subject token and its type,
/// what it would be exchanged for, and an actor token, which is not taken
/// (the actor is the client that authenticates).
pub(crate) struct Exchange {
    pub(crate) subject: String,
    pub(crate) subject_type: String,
    pub(crate) actor: Option<String>,
    pub(crate) requested: Option<String>,
    pub(crate) scope: Option<String>,
    /// The `resource` and `audience` asked, each this server's MCP
    /// endpoint or refused.
    pub(crate) targets: Vec<String>,
}

/// What an exchange earns: the grant sealed in its access token (the
/// subject's family kept, so that revoking it ends this one too), and
/// how long the token lives.
pub(crate) struct Exchanged {
    pub(crate) access: Access,
    pub(crate) life: Duration,
}

/// A refusal `code` saying `why`.
fn bad(code: ErrorCode, why: &'static str) -> OAuthError {
    OAuthError::bad(code, why)
}

/// The token `asker` earns by `asked` at `now` (seconds since the Unix
/// epoch), or why not, checked cheapest first: the client registered for
/// the grant, the request's types and targets, the subject token opened
/// and in force, the chain, then the scopes.
///
/// # Errors
///
/// `unauthorized_client` for a client not registered for the grant;
/// `invalid_request` for a type other than an access token or an actor
/// token; `invalid_target` for another resource; `invalid_grant` for a
/// subject token that does not open, is another resource's, is revoked or
/// would make the chain too long or a circle; `invalid_scope` for a scope
/// beyond the subject's or the client's boundary; 503 while the store's
/// revocations are yet to be read.
pub(crate) fn exchanged(
    front: &Front,
    seals: &OauthSeals,
    asker: &Asker,
    asked: Exchange,
    now: u64,
) -> Result<Exchanged, OAuthError> {
    let client = registered(front, asker)?;
    well_formed(front, &asked)?;
    let (subject, expires) = Sealing::opened_until::<Access>(&seals.access, &asked.subject)
        .map_err(|_| {
            let why = "the subject_token is expired, changed, or not an access token issued here";
            bad(ErrorCode::InvalidGrant, why)
        })?;
    in_force(front, &subject)?;
    let mark = client_mark(&asker.id);
    let act = chained(&subject, &mark, &client.name)?;
    let asked_scopes = asked.scope.as_deref().map(crate::agents::boundary);
    let asked_scopes = asked_scopes.transpose().map_err(|_| {
        bad(
            ErrorCode::InvalidScope,
            "the scope asked is not a list of scopes",
        )
    })?;
    let (scopes, boundary) = narrowed(front, &subject, &client, asked_scopes)?;
    let mut grant = subject.grant;
    grant.agent = Some(Agent {
        name: client.name,
        boundary,
        scopes: scopes.clone(),
        registered: crate::agents::REGISTERED[0].to_owned(),
        session_life: client.session_life,
        through: Vec::new(),
    });
    grant.client = mark;
    grant.scopes = scopes;
    grant.act = Some(act);
    let left = Duration::from_secs(expires.saturating_sub(now));
    let access = Access {
        grant,
        family: subject.family,
        issued: crate::serve::store::now_ms(),
    };
    Ok(Exchanged {
        access,
        life: left.min(ACCESS_LIFE),
    })
}

/// The client `asker` is, when it is confidential and registered for
/// token exchange; else `unauthorized_client`, saying how one is.
fn registered(front: &Front, asker: &Asker) -> Result<Client, OAuthError> {
    let client = front.client(&asker.id).ok().filter(|_| asker.confidential);
    let word = GrantType::TokenExchange.as_str();
    client
        .filter(|client| client.grants.iter().any(|grant| grant == word))
        .ok_or(bad(
            ErrorCode::UnauthorizedClient,
            "token exchange is for a client registered for it (serve client add --grant \
             token-exchange, or a client ID metadata document listing the grant, with \
             private_key_jwt), authenticated",
        ))
}

/// `asked`'s types and targets, or why not: an access token given and
/// asked for, no actor token, and no resource or audience but this
/// server's MCP endpoint.
fn well_formed(front: &Front, asked: &Exchange) -> Result<(), OAuthError> {
    if asked.subject_type != ACCESS_TOKEN {
        let why = "subject_token_type is urn:ietf:params:oauth:token-type:access_token: an \
                   access token this server issued";
        return Err(bad(ErrorCode::InvalidRequest, why));
    }
    if asked
        .requested
        .as_deref()
        .is_some_and(|r| r != ACCESS_TOKEN)
    {
        let why = "requested_token_type is urn:ietf:params:oauth:token-type:access_token, the \
                   one type issued";
        return Err(bad(ErrorCode::InvalidRequest, why));
    }
    if asked.actor.is_some() {
        let why = "no actor_token is taken: the actor is the client that authenticates";
        return Err(bad(ErrorCode::InvalidRequest, why));
    }
    if asked.targets.iter().any(|target| *target != front.resource) {
        let why = "the resource or audience asked is not this server's MCP endpoint";
        return Err(bad(ErrorCode::InvalidTarget, why));
    }
    Ok(())
}

/// Whether the subject token's grant is this server's and in force: for
/// its MCP endpoint, issued while the store held its list, and ended by
/// no revocation or withdrawal ([`Front::ended`]).
fn in_force(front: &Front, subject: &Access) -> Result<(), OAuthError> {
    let grant = &subject.grant;
    if grant.resource != front.resource {
        let why = "the subject_token was issued for another resource";
        return Err(bad(ErrorCode::InvalidGrant, why));
    }
    if front.store.revocations().untrusted(subject.issued) {
        let why = "the subject_token was issued before this server's store lost what it held";
        return Err(bad(ErrorCode::InvalidGrant, why));
    }
    let granted = grant.granted_or(subject.issued);
    match front.ended(grant, subject.family.as_deref(), granted) {
        None => Ok(()),
        Some(Ended::Unread(why)) => Err(OAuthError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::TemporarilyUnavailable,
            why,
        )),
        Some(_) => Err(bad(
            ErrorCode::InvalidGrant,
            "the subject_token was revoked, or an agent it acts through was",
        )),
    }
}

/// The chain of the exchanged token: the client `mark` (named `name`)
/// acting outermost, the subject's own chain within it, or, for a grant
/// the person made directly, its client as the first actor; or why not.
fn chained(subject: &Access, mark: &str, name: &str) -> Result<Act, OAuthError> {
    let grant = &subject.grant;
    let prior = grant.act.clone().unwrap_or_else(|| Act {
        sub: grant.client.clone(),
        name: grant
            .agent
            .as_ref()
            .map(|a| a.name.clone())
            .unwrap_or_default(),
        act: None,
    });
    if prior.chain().any(|act| act.sub == mark) {
        let why = "this client acts in the subject_token's chain already";
        return Err(bad(ErrorCode::InvalidGrant, why));
    }
    let act = Act {
        sub: mark.to_owned(),
        name: name.to_owned(),
        act: Some(Box::new(prior)),
    };
    if act.chain().count() > CHAIN_MOST {
        let why = "the chain would hold more agents than this server allows (4)";
        return Err(bad(ErrorCode::InvalidGrant, why));
    }
    Ok(act)
}

/// The scopes of the exchanged token and its boundary: the server's own
/// the subject holds, and of the rest what both the subject's boundary
/// and the client's hold (either's absence bounds nothing), narrowed to
/// `asked` where it names any; or `invalid_scope` for a scope asked
/// beyond them.
fn narrowed(
    front: &Front,
    subject: &Access,
    client: &Client,
    asked: Option<Vec<String>>,
) -> Result<(Vec<String>, Option<Vec<String>>), OAuthError> {
    let held = &subject.grant.scopes;
    let theirs = subject
        .grant
        .agent
        .as_ref()
        .and_then(|a| a.boundary.clone());
    let boundary = match (theirs, client.scopes.clone()) {
        (Some(a), Some(b)) => Some(crate::agents::met(&a, &b)),
        (a, b) => a.or(b),
    };
    let server: Vec<String> = (front.scopes.iter())
        .filter(|scope| held.contains(scope))
        .cloned()
        .collect();
    let granted = crate::agents::granted(&asked.unwrap_or_default(), &server, boundary.as_deref());
    let granted = granted.map_err(|_| {
        bad(
            ErrorCode::InvalidScope,
            "a scope beyond the subject_token's, or this client's boundary, was asked",
        )
    })?;
    Ok((granted, boundary))
}
