//! The token endpoint of the hosts' authorization server (`--oauth-proxy`,
//! #87): a code redeemed with its PKCE verifier, a refresh
//! token rotated at each use (OAuth 2.1 §4.3.1 for public clients). What
//! it issues is sealed with the keyring, each kind under its own seal: any
//! replica opens any of them, none can be read or made without the key.
//! A code is short-lived everywhere and refused on its second use on the
//! replica that took it; PKCE's verifier, which only the host that asked
//! holds, is what a code replayed on another replica within its life
//! still lacks.

use oauth2::{PkceCodeChallenge, PkceCodeVerifier};
use serde::Deserialize;
use serde_json::{Value, json};

use super::grant::{ACCESS_LIFE, Code, Grant, REFRESH_LIFE, Redeemed, client_mark};
use crate::keys::{Sealing, Unopened};

/// A token request's form (RFC 6749 §4.1.3, §6): the fields read.
#[derive(Deserialize, Default, Clone)]
pub(crate) struct Asked {
    grant_type: String,
    code: Option<String>,
    redirect_uri: Option<String>,
    client_id: Option<String>,
    code_verifier: Option<String>,
    refresh_token: Option<String>,
}

/// A refusal of the token endpoint (RFC 6749 §5.2): its error and why.
#[derive(Debug, PartialEq)]
pub(crate) struct Refused(pub(crate) &'static str, pub(crate) &'static str);

/// The tokens `asked` earns, sealed with `seals` (codes, access, refresh),
/// or why not: a person `denied` (`--deny-file`, read again at SIGHUP) gets
/// none, so a refresh token outlives no denial.
pub(crate) fn tokens(
    seals: &crate::keys::OauthSeals,
    redeemed: &Redeemed,
    denied: impl Fn(&Grant) -> bool,
    asked: Asked,
) -> Result<Value, Refused> {
    let client = asked.client_id.as_deref().map(client_mark);
    let grant = match asked.grant_type.as_str() {
        "authorization_code" => {
            let code = asked
                .code
                .as_deref()
                .ok_or(Refused("invalid_request", "no code"))?;
            let code: Code = opened(&seals.codes, code)?;
            let verifier = asked
                .code_verifier
                .ok_or(Refused("invalid_grant", "PKCE's code_verifier is needed"))?;
            let challenge =
                PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(verifier));
            if challenge.as_str() != code.challenge {
                return Err(Refused(
                    "invalid_grant",
                    "the code_verifier is not the code's",
                ));
            }
            if asked.redirect_uri.as_deref() != Some(code.redirect_uri.as_str()) {
                return Err(Refused(
                    "invalid_grant",
                    "the redirect_uri is not the code's",
                ));
            }
            if client.as_deref() != Some(code.grant.client.as_str()) {
                return Err(Refused(
                    "invalid_grant",
                    "the code was issued to another client",
                ));
            }
            if !redeemed.first(&code.id) {
                return Err(Refused("invalid_grant", "the code was redeemed already"));
            }
            code.grant
        }
        "refresh_token" => {
            let token = asked
                .refresh_token
                .as_deref()
                .ok_or(Refused("invalid_request", "no refresh_token"))?;
            let grant: Grant = opened(&seals.refresh, token)?;
            if client.as_deref() != Some(grant.client.as_str()) {
                return Err(Refused(
                    "invalid_grant",
                    "the refresh token was issued to another client",
                ));
            }
            grant
        }
        _ => {
            return Err(Refused(
                "unsupported_grant_type",
                "authorization_code or refresh_token",
            ));
        }
    };
    if denied(&grant) {
        let why = "this person is denied access to this server";
        return Err(Refused("invalid_grant", why));
    }
    Ok(json!({
        "access_token": Sealing::named(&seals.access, &grant, ACCESS_LIFE),
        "token_type": "Bearer",
        "expires_in": ACCESS_LIFE.as_secs(),
        "refresh_token": Sealing::named(&seals.refresh, &grant, REFRESH_LIFE),
        "scope": grant.scopes.join(" "),
    }))
}

/// `POST /token`: the tokens a form earns (200), or the refusal (400), the
/// answer never cached (RFC 6749 §5.1). The log says why, never a code or
/// a token.
pub(crate) async fn token(
    axum::extract::State(front): axum::extract::State<std::sync::Arc<super::front::Front>>,
    axum::Form(asked): axum::Form<Asked>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let keys = front.keys.now();
    let denied = |grant: &Grant| {
        front
            .deny
            .denies(&crate::principal::person(&front.issuer, &grant.person))
    };
    let (status, body) = match tokens(&keys.oauth, &front.redeemed, denied, asked) {
        Ok(issued) => {
            crate::metrics::oauth("token", "ok");
            (axum::http::StatusCode::OK, issued)
        }
        Err(Refused(error, why)) => {
            crate::metrics::oauth("token", error);
            log::info!(target: "nexus_mcp", "token refused ({error}): {why}");
            let body = json!({"error": error, "error_description": why});
            (axum::http::StatusCode::BAD_REQUEST, body)
        }
    };
    let no_store = [(axum::http::header::CACHE_CONTROL, "no-store")];
    (status, no_store, axum::Json(body)).into_response()
}

/// What `sealed` holds under `seals`, or `invalid_grant`.
fn opened<T: serde::de::DeserializeOwned>(seals: &[Sealing], sealed: &str) -> Result<T, Refused> {
    Sealing::opened(seals, sealed).map_err(|unopened| match unopened {
        Unopened::Invalid => Refused("invalid_grant", "expired, changed, or not issued here"),
        Unopened::Differs { .. } | Unopened::Foreign { .. } => Refused(
            "invalid_grant",
            "sealed under a key this server does not hold",
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Keys;
    use crate::serve::oauth::grant::CODE_LIFE;

    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn keys() -> Keys {
        let ring = crate::state::Keyring::parse("default:a-sealing-key-of-at-least-32-bytes!!");
        Keys::new(&ring.unwrap()).unwrap()
    }

    fn grant() -> Grant {
        Grant {
            workspace: None,
            attributes: Default::default(),
            person: "alice".into(),
            client: client_mark("the-client"),
            scopes: vec!["mcp.tools".into()],
            resource: "https://mcp.example.com/mcp".into(),
        }
    }

    fn code(keys: &Keys, id: &str) -> String {
        let code = Code {
            grant: grant(),
            redirect_uri: "http://127.0.0.1:9/cb".into(),
            challenge: CHALLENGE.into(),
            id: id.into(),
        };
        Sealing::named(&keys.oauth.codes, &code, CODE_LIFE)
    }

    fn redeem(
        keys: &Keys,
        redeemed: &Redeemed,
        code: &str,
        change: fn(&mut Asked),
    ) -> Result<Value, Refused> {
        let mut asked = Asked {
            grant_type: "authorization_code".into(),
            code: Some(code.into()),
            redirect_uri: Some("http://127.0.0.1:9/cb".into()),
            client_id: Some("the-client".into()),
            code_verifier: Some(VERIFIER.into()),
            refresh_token: None,
        };
        change(&mut asked);
        tokens(&keys.oauth, redeemed, |_| false, asked)
    }

    #[test]
    fn a_code_with_its_verifier_earns_sealed_tokens_once_and_the_refresh_token_rotates() {
        let (keys, redeemed) = (keys(), Redeemed::default());
        let sealed = code(&keys, "c1");
        let issued = redeem(&keys, &redeemed, &sealed, |_| {}).unwrap();
        let access = issued["access_token"].as_str().unwrap();
        let opened: Grant = Sealing::opened(&keys.oauth.access, access).ok().unwrap();
        assert_eq!(opened, grant());
        assert_eq!(issued["expires_in"], json!(3600));
        assert!(
            Sealing::opened::<Grant>(&keys.oauth.refresh, access).is_err(),
            "an access token is no refresh token"
        );
        let again = redeem(&keys, &redeemed, &sealed, |_| {});
        assert_eq!(
            again.unwrap_err(),
            Refused("invalid_grant", "the code was redeemed already")
        );
        let refresh = issued["refresh_token"].as_str().unwrap().to_owned();
        let asked = Asked {
            grant_type: "refresh_token".into(),
            refresh_token: Some(refresh.clone()),
            client_id: Some("the-client".into()),
            ..Asked::default()
        };
        let denied = |grant: &Grant| grant.person == "alice";
        let refused = tokens(&keys.oauth, &redeemed, denied, asked.clone()).unwrap_err();
        assert_eq!(
            refused.1, "this person is denied access to this server",
            "a denial stops refreshes"
        );
        let rotated = tokens(&keys.oauth, &redeemed, |_| false, asked).unwrap();
        assert_ne!(
            rotated["refresh_token"],
            json!(refresh),
            "a new refresh token each use"
        );
        let other = Asked {
            grant_type: "refresh_token".into(),
            refresh_token: Some(refresh),
            client_id: Some("another-client".into()),
            ..Asked::default()
        };
        assert_eq!(
            tokens(&keys.oauth, &redeemed, |_| false, other)
                .unwrap_err()
                .0,
            "invalid_grant"
        );
    }

    #[test]
    fn a_code_without_its_verifier_redirect_or_client_or_presented_as_a_token_is_refused() {
        let (keys, redeemed) = (keys(), Redeemed::default());
        let changes: [fn(&mut Asked); 6] = [
            |a| a.code_verifier = None,
            |a| a.code_verifier = Some(CHALLENGE.into()),
            |a| a.redirect_uri = Some("http://127.0.0.1:10/cb".into()),
            |a| a.client_id = Some("another-client".into()),
            |a| a.client_id = None,
            |a| a.code = Some("not-a-code".into()),
        ];
        for (n, change) in changes.into_iter().enumerate() {
            let refused = redeem(&keys, &redeemed, &code(&keys, &format!("c{n}")), change);
            assert_eq!(refused.unwrap_err().0, "invalid_grant", "case {n}");
        }
        let access = Sealing::named(&keys.oauth.access, &grant(), ACCESS_LIFE);
        assert_eq!(
            redeem(&keys, &redeemed, &access, |_| {}).unwrap_err().0,
            "invalid_grant"
        );
        let unsupported = Asked {
            grant_type: "password".into(),
            ..Asked::default()
        };
        assert_eq!(
            tokens(&keys.oauth, &redeemed, |_| false, unsupported)
                .unwrap_err()
                .0,
            "unsupported_grant_type"
        );
    }
}
