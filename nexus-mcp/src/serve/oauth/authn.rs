//! Who asks at the token and revocation endpoints (RFC 6749 §2.3): a
//! public client names itself with `client_id`; a confidential one (`serve
//! client add`) authenticates with its secret, in the `Authorization:
//! Basic` header (`client_secret_basic`) or the form
//! (`client_secret_post`), compared in constant time with the hash its
//! sealed id carries, on any replica. A wrong or missing secret is 401
//! `invalid_client`, as is a client made for another server or withdrawn
//! by a `--deny-file` line (`client=` its mark's first digits).

use base64::Engine as _;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::front::Front;
use crate::serve::refusal::{ErrorCode, OAuthError};

/// The client a request is from: its id, and whether it proved it with
/// its secret (a confidential client).
pub(crate) struct Asker {
    pub(crate) id: String,
    pub(crate) confidential: bool,
}

/// The client asking, from the request's `Authorization` header (`basic`)
/// and its form's `client_id` and `client_secret`; `None` when it names
/// none; or why it is refused.
pub(crate) fn asker(
    front: &Front,
    basic: Option<&str>,
    (id, secret): (Option<String>, Option<String>),
) -> Result<Option<Asker>, OAuthError> {
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
    let Some(id) = id else {
        return Ok(None);
    };
    if front.deny.withdraws(&crate::serve::grant::client_mark(&id)) {
        return Err(refused("this client is withdrawn (--deny-file)"));
    }
    let client = front.client(&id).ok();
    let hash = client.as_ref().and_then(|c| c.secret.as_deref());
    match (hash, secret) {
        (None, None) => Ok(Some(Asker {
            id,
            confidential: false,
        })),
        (None, Some(_)) => Err(refused("this client has no secret: it names itself alone")),
        (Some(_), None) => Err(refused("this client authenticates with its secret")),
        (Some(hash), Some(secret)) => {
            let client = client.as_ref().map(|c| c.origin.as_deref());
            if client != Some(Some(front.origin.as_str())) {
                return Err(refused("this client was made for another server"));
            }
            let given = secret_hash(&secret);
            if !bool::from(given.as_bytes().ct_eq(hash.as_bytes())) {
                return Err(refused("the client secret is not this client's"));
            }
            Ok(Some(Asker {
                id,
                confidential: true,
            }))
        }
    }
}

/// The hash a confidential client's id carries of its `secret`: SHA-256,
/// hex (the secret is 32 random bytes: no stretching needed).
pub(crate) fn secret_hash(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
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
