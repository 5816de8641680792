//! The provider whose published shape the issuer takes, and what differs
//! from the plain shape for Okta's org authorization server and Google's
//! (Entra ID's has a module of its own, [`super::entra`]). Okta publishes
//! its metadata at both paths, lists a registration endpoint that needs an
//! administrator's API token, and signs its org server's access tokens
//! with keys it does not publish: they are for Okta's own APIs, never a
//! third party's. Google publishes its metadata at the OpenID path only,
//! registers no client and has no introspection endpoint; its access
//! tokens are opaque; its ID token names the person by `sub`, and a Google
//! Workspace account's domain by `hd`.

use serde_json::{Map, Value, json};

use super::FakeToken;

/// The provider whose published shape the issuer takes.
#[derive(Default, Clone, Debug, PartialEq)]
pub(super) enum Shape {
    /// This crate's own: everything MCP asks an issuer for.
    #[default]
    Plain,
    /// Entra ID's v2 endpoint for a tenant.
    Entra(String),
    /// Okta's org authorization server.
    OktaOrg,
    /// Google's.
    Google,
}

impl Shape {
    /// Whether RFC 8414's path answers (Entra and Google: the OpenID path alone).
    pub(super) fn at_rfc8414(&self) -> bool {
        matches!(self, Shape::Plain | Shape::OktaOrg)
    }

    /// The provider's own metadata; `None` for the plain shape's.
    pub(super) fn metadata(&self, url: &str) -> Option<Value> {
        let at = |path: &str| format!("{url}{path}");
        match self {
            Shape::Plain => None,
            Shape::Entra(_) => Some(super::entra::metadata(url)),
            Shape::OktaOrg => Some(json!({
                "issuer": url,
                "authorization_endpoint": at("/authorize"),
                "token_endpoint": at("/token"),
                "registration_endpoint": at("/register"),
                "jwks_uri": at("/jwks"),
                "userinfo_endpoint": at("/userinfo"),
                "response_types_supported": ["code", "id_token", "code id_token", "code token", "id_token token", "code id_token token"],
                "grant_types_supported": ["authorization_code", "implicit", "refresh_token", "password", "urn:ietf:params:oauth:grant-type:device_code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "scopes_supported": ["openid", "email", "profile", "address", "phone", "offline_access", "groups"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "client_secret_jwt", "private_key_jwt", "none"],
                "code_challenge_methods_supported": ["S256"],
                "introspection_endpoint": at("/introspect"),
            })),
            Shape::Google => Some(json!({
                "issuer": url,
                "authorization_endpoint": at("/authorize"),
                "token_endpoint": at("/token"),
                "userinfo_endpoint": at("/userinfo"),
                "revocation_endpoint": at("/revoke"),
                "jwks_uri": at("/jwks"),
                "response_types_supported": ["code", "token", "id_token", "code token", "code id_token", "token id_token", "code token id_token", "none"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "scopes_supported": ["openid", "email", "profile"],
                "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
                "claims_supported": ["aud", "email", "email_verified", "exp", "family_name", "given_name", "iat", "iss", "name", "picture", "sub"],
                "code_challenge_methods_supported": ["plain", "S256"],
                "grant_types_supported": ["authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:device_code", "urn:ietf:params:oauth:grant-type:jwt-bearer"],
            })),
        }
    }

    /// Entra's v1 metadata when `path` (from the origin) asks it of the
    /// tenant of the v2 issuer `url`; `None` for any other path or shape.
    pub(super) fn v1_metadata(&self, url: &str, path: &str) -> Option<Value> {
        let Shape::Entra(tenant) = self else {
            return None;
        };
        let origin = url.strip_suffix(&format!("/{tenant}/v2.0"))?;
        let asked = path == format!("/{tenant}/.well-known/openid-configuration");
        asked.then(|| super::entra::v1_metadata(origin, tenant))
    }

    /// What `/register` answers a host instead of registering it, if
    /// anything: none for Entra and Google, an API token for Okta's.
    pub(super) fn registration_refused(&self) -> Option<(u16, Value)> {
        match self {
            Shape::Plain => None,
            Shape::OktaOrg => Some((
                401,
                json!({"errorCode": "E0000011", "errorSummary": "Invalid token provided"}),
            )),
            Shape::Entra(_) | Shape::Google => Some((404, json!({"error": "not_found"}))),
        }
    }

    /// Which of a person's approved `claims` the provider writes for a
    /// sign-in that asked `scope`: Okta's org server and Google write
    /// `email` and `email_verified` only for the `email` scope and the
    /// profile's claims only for `profile`; Okta writes `groups` only for
    /// the `groups` scope with the app's groups claim `filter` set (those
    /// it matches); Google writes none. Entra's and the plain shape write
    /// them all.
    pub(super) fn released(
        &self,
        claims: &Map<String, Value>,
        scope: &str,
        filter: Option<&str>,
    ) -> Map<String, Value> {
        let asked = |wanted: &str| scope.split(' ').any(|s| s == wanted);
        let released = |name: &str| match name {
            "email" | "email_verified" => asked("email"),
            "name" | "given_name" | "family_name" | "preferred_username" | "locale"
            | "zoneinfo" | "picture" => asked("profile"),
            "groups" => *self == Shape::OktaOrg && asked("groups") && filter.is_some(),
            _ => true,
        };
        let faithful = matches!(self, Shape::OktaOrg | Shape::Google);
        let mut kept: Map<String, Value> = (claims.iter())
            .filter(|(name, _)| !faithful || released(name))
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        if let (Shape::OktaOrg, Some(prefix), Some(Value::Array(groups))) =
            (self, filter, kept.get_mut("groups"))
        {
            groups.retain(|g| g.as_str().is_some_and(|g| g.starts_with(prefix)));
        }
        kept
    }

    /// The ID token for `person` signed in at `client` with `scope`.
    pub(super) fn id_token(&self, person: &str, client: &str, scope: &str) -> FakeToken {
        let token = FakeToken::new(person).audience(client);
        match self {
            Shape::Entra(tenant) => super::entra::id_token(person, client, scope, tenant),
            // An e-mail only for the `email` scope; `hd` only for a Google
            // Workspace person, as the claims they are approved with say
            // (a gmail account has none).
            Shape::Google if scope.split(' ').any(|s| s == "email") => token
                .claim("email", json!(format!("{person}@gmail.com")))
                .claim("email_verified", json!(true)),
            Shape::Google => token,
            Shape::OktaOrg => token.claim("ver", json!(1)),
            Shape::Plain => token,
        }
    }
}
