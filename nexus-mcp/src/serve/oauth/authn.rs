//! Who asks at the token and revocation endpoints (RFC 6749 §2.3): a
//! public client names itself with `client_id`; a confidential one (`serve
//! client add`) authenticates with its secret, in the `Authorization:
//! Basic` header (`client_secret_basic`) or the form
//! (`client_secret_post`), compared in constant time with the hash its
//! sealed id carries, on any replica. A client a metadata document names
//! may instead sign a client assertion with its key (`private_key_jwt`,
//! RFC 7523 §2.2), checked against the keys its document gives, its `jti`
//! once. A wrong or missing secret or assertion is 401 `invalid_client`,
//! as is a client made for another server or withdrawn by a `--deny-file`
//! line (`client=` its mark's first digits).

use std::time::Duration;

use axum::http::StatusCode;
use base64::Engine as _;
use jsonwebtoken::jwk::JwkSet;
use serde_json::{Map, Value};
use subtle::ConstantTimeEq;

use super::client::Keys;
use super::document::Unfetched;
use super::front::Front;
use crate::principal::sha256_hex;
use crate::serve::jws;
use crate::serve::refusal::{ErrorCode, OAuthError};

/// The client a request is from: its id, and whether it proved it with
/// its secret (a confidential client).
pub(crate) struct Asker {
    pub(crate) id: String,
    pub(crate) confidential: bool,
}

/// The client assertion's type (RFC 7523 §2.2).
const CLIENT_ASSERTION: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// What a form says of its client: `client_id`, `client_secret`, and
/// `client_assertion_type` with `client_assertion`.
#[derive(Default)]
pub(crate) struct Named {
    pub(crate) id: Option<String>,
    pub(crate) secret: Option<String>,
    pub(crate) assertion: Option<(String, String)>,
}

/// The most a client assertion may live (`exp` past `iat`, or past now).
const LONGEST_LIFE: Duration = Duration::from_secs(300);

/// The client asking, from the request's `Authorization` header (`basic`)
/// and what its form `named`, proven as its registration says it proves
/// itself (RFC 6749 §3.2.1: a client that holds credentials authenticates
/// at every grant and at `/revoke`); or why it is refused: naming none is
/// `invalid_client` too.
pub(crate) async fn asker(
    front: &Front,
    basic: Option<&str>,
    named: Named,
) -> Result<Asker, OAuthError> {
    let Some((kind, assertion)) = named.assertion else {
        return by_secret(front, basic, (named.id, named.secret)).await;
    };
    if basic.is_some() || named.secret.is_some() {
        let why = "a client authenticates one way: a secret or an assertion";
        return Err(OAuthError::bad(ErrorCode::InvalidRequest, why));
    }
    by_key(front, named.id, (&kind, &assertion)).await
}

/// A document's client, proven by its signed `assertion` of type `kind`
/// (RFC 7523 §3 as draft-ietf-oauth-rfc7523bis amends it: `iss` and `sub`
/// its id, `aud` this server's issuer identifier alone, a short life, a
/// `jti` spent once), or why not.
async fn by_key(
    front: &Front,
    named: Option<String>,
    (kind, assertion): (&str, &str),
) -> Result<Asker, OAuthError> {
    if kind != CLIENT_ASSERTION || assertion.len() > crate::serve::grant::MOST_ASSERTION {
        return Err(refused(
            "client_assertion_type is …:client-assertion-type:jwt-bearer",
        ));
    }
    let said = jsonwebtoken::dangerous::insecure_decode_claims::<Map<String, Value>>(assertion);
    let said = said.map_err(|_| refused("the client assertion does not read"))?;
    let id = said
        .get("iss")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if named.is_some_and(|named| named != id) || !super::client::is_url(&id) {
        return Err(refused(
            "a client assertion's iss is its document's URL, its client_id",
        ));
    }
    if front.deny.withdraws(&crate::serve::grant::client_mark(&id)) {
        return Err(refused("this client is withdrawn (--deny-file)"));
    }
    let keys = documented(front, &id).await?.keys;
    let keys = keys.ok_or_else(|| refused("its document names no key (private_key_jwt)"))?;
    let set: JwkSet = match keys {
        Keys::Inline(set) => serde_json::from_value(set).map_err(|_| refused("its jwks"))?,
        Keys::At(uri) => (front.documents.keys(&uri).await).map_err(|why| {
            log::info!(target: "nexus_mcp", "a client's jwks_uri cannot be used: {why}");
            refused("its jwks_uri cannot be read")
        })?,
    };
    let verified = verified(front, &id, &set, assertion).await?;
    let jti = verified.claims.get("jti").and_then(Value::as_str);
    let key = sha256_hex(&[
        b"client-assertion\0",
        id.as_bytes(),
        b"\0",
        jti.unwrap_or_default().as_bytes(),
    ]);
    match front
        .store
        .spend(&key, (verified.from, verified.lives))
        .await
    {
        Ok(true) => Ok(Asker {
            id,
            confidential: true,
        }),
        Ok(false) => Err(refused(
            "the client assertion was presented before, or may have been: it was usable before the store lost what it knew",
        )),
        Err(_) => Err(OAuthError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::TemporarilyUnavailable,
            "the store that records client assertions does not answer: try again shortly",
        )),
    }
}

/// The client the document at `id` describes, or why it cannot be had
/// now (busy: 503) or at all (`invalid_client`).
async fn documented(front: &Front, id: &str) -> Result<super::client::Client, OAuthError> {
    match front.documents.client(id).await {
        Ok(client) => Ok(client),
        Err(Unfetched::Busy(why)) => {
            log::info!(target: "nexus_mcp", "a client's document waits: {why}");
            Err(OAuthError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::TemporarilyUnavailable,
                "this server is reading other clients' documents: try again shortly",
            ))
        }
        Err(Unfetched::Unusable(why)) => {
            log::info!(target: "nexus_mcp", "a client's document cannot be used: {why}");
            Err(refused("its client ID metadata document cannot be used"))
        }
    }
}

/// A client assertion of the document client `id`, signed by a key of
/// `set`, checked as [`jws`] checks every token: typed as one or not at
/// all, `iss` and `sub` the client, `aud` this server's issuer identifier
/// alone, a `jti`, at most [`LONGEST_LIFE`].
async fn verified(
    front: &Front,
    id: &str,
    set: &JwkSet,
    assertion: &str,
) -> Result<jws::Verified, OAuthError> {
    let invalid = |rejected: jws::Rejected| {
        let why = format!("the client assertion {}", rejected.clause());
        OAuthError::new(StatusCode::UNAUTHORIZED, ErrorCode::InvalidClient, why)
    };
    let audience = [front.origin.as_str()];
    let kind = jws::Kind {
        types: &["client-authentication+jwt", "jwt"],
        untyped: true,
        issuer: id,
        audiences: &audience,
        sole_audience: true,
        subject: Some(id),
        required: &["sub", "jti"],
        longest: Some(LONGEST_LIFE),
        without_exp: false,
    };
    let verify = jws::verify(assertion, &kind, jws::Keys::Set(set)).await;
    verify.map(|(_, verified)| verified).map_err(invalid)
}

/// A confidential client by its secret, a document's client that names no
/// key by its name, or a public one by its name; a client that holds a
/// secret or a key never by its name alone.
async fn by_secret(
    front: &Front,
    basic: Option<&str>,
    (id, secret): (Option<String>, Option<String>),
) -> Result<Asker, OAuthError> {
    let (id, secret) = match basic.map(from_basic).transpose()? {
        Some(_) if secret.is_some() => {
            let why = "a client authenticates one way: the Authorization header or the form";
            return Err(OAuthError::bad(ErrorCode::InvalidRequest, why));
        }
        Some((named, _)) if id.as_ref().is_some_and(|id| *id != named) => {
            return Err(refused(
                "client_id is not the one the Authorization header names",
            ));
        }
        Some((named, secret)) => (Some(named), Some(secret)),
        None => (id, secret),
    };
    let id = id.ok_or_else(|| refused("the request names no client (client_id)"))?;
    if front.deny.withdraws(&crate::serve::grant::client_mark(&id)) {
        return Err(refused("this client is withdrawn (--deny-file)"));
    }
    let hash = if super::client::is_url(&id) {
        let keyed = documented(front, &id).await?.keys.is_some();
        keyed.then_some(Held::Key)
    } else {
        match front.client(&id) {
            Ok(client) => (client.secret).map(|hash| Held::Secret(hash, client.origin)),
            // A secret for an id that opens as no client here: said as it is.
            Err(unopened) if secret.is_some() => return Err(unknown(&unopened)),
            Err(_) => None,
        }
    };
    match (hash, secret) {
        (None, None) => Ok(Asker {
            id,
            confidential: false,
        }),
        (None, Some(_)) => Err(refused("this client has no secret: it names itself alone")),
        (Some(Held::Key), _) => Err(refused(
            "this client authenticates with its key (private_key_jwt): a client_assertion",
        )),
        (Some(Held::Secret(..)), None) => Err(refused("this client authenticates with its secret")),
        (Some(Held::Secret(hash, origin)), Some(secret)) => {
            if origin.as_deref() != Some(front.origin.as_str()) {
                return Err(refused("this client was made for another server"));
            }
            let given = secret_hash(&secret);
            if !bool::from(given.as_bytes().ct_eq(hash.as_bytes())) {
                return Err(refused("the client secret is not this client's"));
            }
            Ok(Asker {
                id,
                confidential: true,
            })
        }
    }
}

/// What a client holds to prove itself with, by its registration: the
/// hash of its secret (and the origin it was made for), or a key its
/// document names.
enum Held {
    Secret(String, Option<String>),
    Key,
}

/// The hash a confidential client's id carries of its `secret`: SHA-256,
/// hex (the secret is 32 random bytes: no stretching needed).
pub(crate) fn secret_hash(secret: &str) -> String {
    crate::principal::sha256_hex(&[secret.as_bytes()])
}

/// The client id and secret of an `Authorization: Basic` header (each
/// form-encoded, RFC 6749 §2.3.1), or why it does not read.
fn from_basic(header: &str) -> Result<(String, String), OAuthError> {
    let unread = || refused("the Authorization header is not Basic base64(client_id:secret)");
    let (scheme, encoded) = header.trim().split_once(' ').ok_or_else(unread)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(unread());
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim());
    let decoded = String::from_utf8(decoded.map_err(|_| unread())?).map_err(|_| unread())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(unread)?;
    let form = |text: &str| {
        let text = text.replace('+', " ");
        let decoded = percent_encoding::percent_decode_str(&text).decode_utf8();
        decoded.map(|d| d.into_owned()).map_err(|_| unread())
    };
    Ok((form(id)?, form(secret)?))
}

/// 401 `invalid_client` with `why`.
/// Why a client id given with a secret that does not open is no client
/// here: one sealed under
/// a key this keyring lacks (another keyring's, or its key taken out) said
/// as such, with its key id; any other, no client of this server.
fn unknown(unopened: &crate::keys::Unopened) -> OAuthError {
    let why = match unopened {
        crate::keys::Unopened::Foreign { kid, .. } | crate::keys::Unopened::Differs { kid } => {
            let kid = crate::answer::quoted(kid, 64);
            format!(
                "this client id is sealed under key id \"{kid}\", which this server's keyring does \
                 not hold as it was: a client of another keyring, or of a key taken out"
            )
        }
        crate::keys::Unopened::Invalid => "this client id is no client of this server: a host \
             registers (/register), or `nexus-mcp serve client add` makes one"
            .to_owned(),
    };
    OAuthError::new(
        axum::http::StatusCode::UNAUTHORIZED,
        ErrorCode::InvalidClient,
        why,
    )
}

fn refused(why: &'static str) -> OAuthError {
    OAuthError::new(
        axum::http::StatusCode::UNAUTHORIZED,
        ErrorCode::InvalidClient,
        why,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_basic_header_reads_each_part_form_decoded() {
        let encode = |text: &str| base64::engine::general_purpose::STANDARD.encode(text);
        let header = format!("Basic {}", encode("a%3Ab+c:s%25t+u"));
        let (id, secret) = from_basic(&header).map_err(|e| e.why).unwrap();
        assert_eq!((id.as_str(), secret.as_str()), ("a:b c", "s%t u"));
        for bad in [
            "Bearer x",
            "Basic !!",
            "Basic",
            &format!("Basic {}", encode("no-colon")),
        ] {
            assert_eq!(
                from_basic(bad).err().map(|e| e.code),
                Some(ErrorCode::InvalidClient),
                "{bad}"
            );
        }
    }
}
