//! The client credentials grant at `/token` (RFC 6749 §4.4): an agent
//! acting as itself, for no person, in the workspace the operator
//! registered it with (`serve client add --workspace W`). Its token holds
//! the server's `--scope` and at most its boundary; every call it makes is
//! decided for the principal `Agent::"…"` (its client's mark), named in its
//! own line, held to its own rate, and revoked or withdrawn as any client
//! is (`serve revoke --client`, `client=` in `--deny-file`). No refresh
//! token: it asks again (RFC 6749 §4.4.3).

use super::authn::Asker;
use super::front::Front;
use crate::agents::Agent;
use crate::serve::grant::{Grant, client_mark};
use crate::serve::refusal::{ErrorCode, OAuthError};

/// The grant the client `asker` earns as itself, `scope` asked (none: the
/// server's and all its boundary), or why not.
///
/// # Errors
///
/// `unauthorized_client` for a client that is not confidential or was
/// registered with no workspace; `invalid_scope` for a scope beyond the
/// server's and its boundary.
pub(crate) fn granted(
    front: &Front,
    asker: &Asker,
    scope: Option<&str>,
) -> Result<Grant, OAuthError> {
    let client = front.client(&asker.id).ok().filter(|_| asker.confidential);
    let Some((client, workspace)) = client.and_then(|c| c.workspace.clone().map(|w| (c, w))) else {
        let why = "the client credentials grant is for a client registered with a workspace of \
                   its own (serve client add --workspace), authenticated with its secret";
        return Err(OAuthError::bad(ErrorCode::UnauthorizedClient, why));
    };
    let asked = scope.map(crate::agents::boundary).transpose();
    let asked = asked.map_err(|why| OAuthError::bad(ErrorCode::InvalidScope, why))?;
    let boundary = client.scopes.as_deref();
    let scopes = crate::agents::granted(&asked.unwrap_or_default(), &front.scopes, boundary);
    let scopes = scopes.map_err(|why| OAuthError::bad(ErrorCode::InvalidScope, why))?;
    let mark = client_mark(&asker.id);
    log::info!(target: "nexus_mcp", "an agent granted as itself: client={} (\"{}\"), scopes {:?}", &mark[..12], crate::answer::quoted(&client.name, 64), scopes.join(" "));
    Ok(Grant {
        person: String::new(),
        workspace: Some(workspace),
        attributes: Default::default(),
        admitted: Default::default(),
        agent: Some(Agent {
            name: client.name,
            boundary: client.scopes.is_some().then(|| scopes.clone()),
            scopes: scopes.clone(),
            registered: crate::agents::REGISTERED[0].to_owned(),
            session_life: None,
            through: Vec::new(),
        }),
        client: mark,
        scopes,
        resource: front.resource.clone(),
        granted: crate::serve::store::now_ms(),
        act: None,
        itself: true,
    })
}
