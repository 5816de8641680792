//! The authorization endpoint of the hosts' authorization server
//! (`--oauth-proxy`): a host's request read and checked
//! (OAuth 2.1 §4.1.1, RFC 7636, RFC 8707, RFC 8252 §7.3). What cannot be
//! trusted to redirect (an unknown client, a redirect URI it did not
//! register) is told on this server's own page, never redirected to; the
//! rest is told to the host at its redirect URI, with `state` and `iss`
//! (RFC 9207). Then the person consents on this server's page and signs in
//! at the issuer; the host gets a code of this server's.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::client::{Client, is_url, same_redirect};
use super::consent::{self, Pending};
use super::document::Unfetched;
use super::front::Front;
use super::refused::Refused;
use crate::keys::KEYS_DIFFER;
use crate::serve::grant::client_mark;
use crate::serve::page::{page, started_by_the_person};
use crate::serve::refusal::ErrorCode;

/// What the person reads when the application's document cannot be used
/// (the why is the operator's, in the log).
/// What a person reads when this server fetches too many applications'
/// descriptions at once to fetch theirs now.
const DOCUMENTS_BUSY: &str = "This server is busy reading other applications' descriptions. \
     Try again in a moment.";

const DOCUMENT_UNUSABLE: &str = "This application describes itself at its client id's URL, and \
     that description could not be fetched or does not allow this request. Tell the \
     application's developer; this server's log says why.";

/// What the person reads of a request that gives a parameter twice, or
/// one that is not text.
const MALFORMED: &str = "The application sent this server a request it cannot read (a \
     parameter given twice, or one that is not text). Tell the application's developer.";

/// The most a `state` may weigh (a host's opaque value, returned as given).
const LONGEST_STATE: usize = 1024;

/// An authorization request's query: the parameters this server reads.
#[derive(Deserialize, Default)]
pub(crate) struct Asked {
    response_type: Option<String>,
    client_id: Option<String>,
    redirect_uri: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    state: Option<String>,
    scope: Option<String>,
    resource: Option<String>,
}

/// An authorization request, checked: what the consent page shows and the
/// code will be bound to.
#[derive(Debug, PartialEq)]
pub(crate) struct Authorization {
    pub(crate) client: Client,
    pub(crate) client_id: String,
    /// Where the code goes: the registered URI as the request wrote it.
    pub(crate) redirect_uri: String,
    /// PKCE's S256 challenge.
    pub(crate) challenge: String,
    pub(crate) state: Option<String>,
    pub(crate) scopes: Vec<String>,
}

/// The client `id` names (`documented`, when its document was fetched)
/// and the redirect `uri` it registered (the one it registered, when it
/// names none and registered one), or why not: what this server's page
/// says, for nothing here can be redirected to.
fn trusted(
    front: &Front,
    (id, documented): (Option<String>, Option<Client>),
    uri: Option<String>,
) -> Result<(String, Client, String), Refused> {
    let id = id.ok_or(Refused::Page("the request names no client_id"))?;
    let client = match documented {
        Some(client) => client,
        None => {
            front
                .client(&id)
                .map_err(|unopened| match unopened.keys_differ("a client id") {
                    Some(line) => {
                        log::warn!(target: "nexus_mcp", "authorization: {line}");
                        Refused::Page(KEYS_DIFFER)
                    }
                    None => Refused::Page(
                        "this client is not registered here (or its registration has expired): \
                     the application registers again",
                    ),
                })?
        }
    };
    let uri = match uri {
        Some(uri) if client.redirect_uris.iter().any(|r| same_redirect(r, &uri)) => uri,
        Some(_) => {
            let why = "the redirect_uri is not one this client registered";
            return Err(Refused::Page(why));
        }
        None if client.redirect_uris.len() == 1 => client.redirect_uris[0].clone(),
        None => return Err(Refused::Page("the request names no redirect_uri")),
    };
    Ok((id, client, uri))
}

impl Authorization {
    /// What the consent page and the sign-in carry of this request, for
    /// the MCP endpoint `resource`.
    fn pending(self, resource: &str) -> Pending {
        Pending {
            client: client_mark(&self.client_id),
            name: self.client.name,
            redirect_uri: self.redirect_uri,
            challenge: self.challenge,
            state: self.state,
            bounded: self.client.scopes.is_some(),
            session_life: self.client.session_life,
            registered: match (&self.client.secret, self.client_id.starts_with("https://")) {
                (Some(_), _) => "administrator",
                (None, true) => "document",
                (None, false) => "dynamic",
            }
            .to_owned(),
            scopes: self.scopes,
            resource: resource.to_owned(),
            browser: String::new(),
            consented: false,
            signed_in: None,
            device: None,
        }
    }
}

/// `asked` checked against `front` (its clients, scopes and `resource`,
/// the MCP endpoint's URL; `documented`, the client its client ID metadata
/// document describes), or why it is refused.
pub(crate) fn checked(
    front: &Front,
    resource: &str,
    asked: Asked,
    documented: Option<Client>,
) -> Result<Authorization, Refused> {
    let named = (asked.client_id, documented);
    let (id, client, redirect_uri) = trusted(front, named, asked.redirect_uri)?;
    let client = front.bounded(client);
    let refused = |error: ErrorCode, why: &'static str| Refused::Unconsented {
        redirect_uri: redirect_uri.clone(),
        error,
        why,
    };
    let state = asked.state;
    if state.as_ref().is_some_and(|s| s.len() > LONGEST_STATE) {
        return Err(refused(
            ErrorCode::InvalidRequest,
            "state is longer than this server returns (1,024 bytes)",
        ));
    }
    if asked.response_type.as_deref() != Some("code") {
        return Err(refused(
            ErrorCode::UnsupportedResponseType,
            "response_type is code",
        ));
    }
    let challenge = asked.code_challenge.filter(|c| {
        c.len() == 43
            && c.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    });
    let Some(challenge) =
        challenge.filter(|_| asked.code_challenge_method.as_deref() == Some("S256"))
    else {
        return Err(refused(
            ErrorCode::InvalidRequest,
            "PKCE is required: code_challenge_method S256 and its code_challenge",
        ));
    };
    if asked
        .resource
        .is_some_and(|r| r.trim_end_matches('/') != resource)
    {
        return Err(refused(
            ErrorCode::InvalidTarget,
            "resource is this MCP server's URL",
        ));
    }
    let scopes: Vec<String> = asked
        .scope
        .unwrap_or_default()
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let scopes = crate::agents::granted(&scopes, &front.scopes, client.scopes.as_deref())
        .map_err(|why| refused(ErrorCode::InvalidScope, why))?;
    Ok(Authorization {
        client,
        client_id: id,
        redirect_uri,
        challenge,
        state,
        scopes,
    })
}

/// `GET /authorize`: a host's request checked, then the person asked to
/// consent to this client on this server's own page (see
/// [`super::consent`]), unless this browser remembers their consent to it;
/// refused on this server's page or at the host's redirect.
pub(crate) async fn authorize(
    State(front): State<Arc<Front>>,
    asked: Result<Query<Asked>, QueryRejection>,
    headers: axum::http::HeaderMap,
) -> Response {
    // A parameter twice may be the redirect URI itself: nothing in such a
    // request can be trusted to redirect to (RFC 6749 §3.1, §4.1.2.1).
    let Ok(Query(asked)) = asked else {
        return Refused::Page(MALFORMED).answer(&front.origin);
    };
    let id = asked.client_id.as_deref().filter(|id| is_url(id));
    let documented = match id {
        Some(id) => match front.documents.client(id).await {
            Ok(client) => Some(client),
            Err(Unfetched::Busy(why)) => {
                let id = nexus_sdk::one_line(id);
                log::info!(target: "nexus_mcp", "authorization: the client ID metadata document at {id} waits: {why}");
                return page(StatusCode::SERVICE_UNAVAILABLE, DOCUMENTS_BUSY);
            }
            Err(Unfetched::Unusable(why)) => {
                let id = nexus_sdk::one_line(id);
                log::info!(target: "nexus_mcp", "authorization: the client ID metadata document at {id} cannot be used: {why}");
                return Refused::Page(DOCUMENT_UNUSABLE).answer(&front.origin);
            }
        },
        None => None,
    };
    let asked = match checked(&front, &front.resource, asked, documented) {
        Err(refused) => return refused.answer(&front.origin),
        Ok(asked) => asked,
    };
    let pending = asked.pending(&front.resource);
    let keys = front.keys.now();
    // A remembered consent stands for a click only on a request the person
    // started: never a forged one (another site's form, frame or script).
    let remembered = consent::remembered(&keys, &headers);
    let remembered = remembered
        .iter()
        .any(|(client, _)| *client == pending.client);
    if remembered && started_by_the_person(&headers) {
        // Asked again after the sign-in if the person is not the one who
        // consented.
        return consent::sign_in(&front, &keys, pending).await;
    }
    consent::page_for(&keys, pending)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RESOURCE: &str = "https://mcp.example.com/mcp";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn front() -> Front {
        Front::tested(
            "default:a-sealing-key-of-at-least-32-bytes!!",
            &["mcp.tools"],
        )
    }

    fn client(front: &Front, uris: &[&str]) -> String {
        let uris = uris.iter().map(|u| u.to_string()).collect();
        front.client_id(&Client {
            name: "Host".into(),
            redirect_uris: uris,
            native: true,
            secret: None,
            origin: None,
            keys: None,
            scopes: None,
            session_life: None,
            grants: Vec::new(),
            workspace: None,
        })
    }

    fn asked(id: &str, redirect: Option<&str>) -> Asked {
        Asked {
            response_type: Some("code".into()),
            client_id: Some(id.into()),
            redirect_uri: redirect.map(str::to_owned),
            code_challenge: Some(CHALLENGE.into()),
            code_challenge_method: Some("S256".into()),
            state: Some("xyz".into()),
            scope: None,
            resource: Some(RESOURCE.into()),
        }
    }

    #[test]
    fn a_host_asking_as_it_registered_is_authorized_a_loopback_redirect_on_any_port() {
        let front = front();
        let id = client(
            &front,
            &["http://127.0.0.1:1000/callback", "https://h.example/cb"],
        );
        let ok = checked(
            &front,
            RESOURCE,
            asked(&id, Some("http://127.0.0.1:53412/callback")),
            None,
        );
        let ok = ok.unwrap();
        assert_eq!(ok.redirect_uri, "http://127.0.0.1:53412/callback");
        assert_eq!(ok.scopes, ["mcp.tools"]);
        assert_eq!(ok.challenge, CHALLENGE);
        assert!(
            checked(
                &front,
                RESOURCE,
                asked(&id, Some("https://h.example/cb")),
                None
            )
            .is_ok()
        );
        let only = client(&front, &["https://h.example/cb"]);
        let implied = checked(&front, RESOURCE, asked(&only, None), None).unwrap();
        assert_eq!(implied.redirect_uri, "https://h.example/cb");
    }

    #[test]
    fn an_unknown_client_or_redirect_is_told_on_this_servers_page_never_redirected_to() {
        let front = front();
        let id = client(&front, &["https://h.example/cb", "http://127.0.0.1:1/cb"]);
        for redirect in [
            "https://h.example/cb/",
            "https://h.example/cb?x=1",
            "https://evil.example/cb",
            "http://127.0.0.1:1/other",
            "http://127.0.0.2:1/cb",
            "https://127.0.0.1:1/cb",
        ] {
            let refused = checked(&front, RESOURCE, asked(&id, Some(redirect)), None);
            assert!(matches!(refused, Err(Refused::Page(_))), "{redirect}");
        }
        assert!(matches!(
            checked(&front, RESOURCE, asked(&id, None), None),
            Err(Refused::Page(_))
        ));
        for id in ["", "not-a-client", &id.replace('.', "")] {
            let refused = checked(
                &front,
                RESOURCE,
                asked(id, Some("https://h.example/cb")),
                None,
            );
            assert!(matches!(refused, Err(Refused::Page(_))), "{id}");
        }
    }

    #[test]
    fn a_bad_request_is_told_on_this_servers_page_naming_its_redirect_never_redirected_to() {
        let front = front();
        let id = client(&front, &["https://h.example/cb"]);
        type Change = fn(&mut Asked);
        let cases: [(Change, ErrorCode); 8] = [
            (|a| a.code_challenge = None, ErrorCode::InvalidRequest),
            (
                |a| a.code_challenge_method = None,
                ErrorCode::InvalidRequest,
            ),
            (
                |a| a.code_challenge_method = Some("plain".into()),
                ErrorCode::InvalidRequest,
            ),
            (
                |a| a.code_challenge = Some("short".into()),
                ErrorCode::InvalidRequest,
            ),
            (
                |a| a.response_type = Some("token".into()),
                ErrorCode::UnsupportedResponseType,
            ),
            (
                |a| a.resource = Some("https://other.example/mcp".into()),
                ErrorCode::InvalidTarget,
            ),
            (
                |a| a.scope = Some("mcp.tools admin".into()),
                ErrorCode::InvalidScope,
            ),
            (
                |a| a.state = Some("s".repeat(LONGEST_STATE + 1)),
                ErrorCode::InvalidRequest,
            ),
        ];
        for (change, error) in cases {
            let mut request = asked(&id, Some("https://h.example/cb"));
            change(&mut request);
            match checked(&front, RESOURCE, request, None) {
                Err(Refused::Unconsented {
                    redirect_uri,
                    error: said,
                    ..
                }) => {
                    assert_eq!(
                        (redirect_uri.as_str(), said),
                        ("https://h.example/cb", error)
                    );
                }
                other => panic!("{error}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_state_up_to_the_bound_is_kept_exactly() {
        let front = front();
        let id = client(&front, &["https://h.example/cb"]);
        for state in ["s t&ate=%20\u{e9}".to_owned(), "x".repeat(LONGEST_STATE)] {
            let mut request = asked(&id, Some("https://h.example/cb"));
            request.state = Some(state.clone());
            let checked = checked(&front, RESOURCE, request, None).unwrap();
            assert_eq!(checked.state, Some(state));
        }
    }
}
