//! Entra ID's v2 endpoint as Microsoft documents it ("OpenID Connect on the
//! Microsoft identity platform", and the ID token and access token claims
//! references): what differs from the plain shape. Its metadata lists no
//! registration endpoint, no PKCE (which it takes all the same), no
//! introspection and OpenID's own scopes alone; it refuses RFC 8707's
//! `resource` on the v2 endpoint; an ID token's `sub` is pairwise, its
//! `oid` there only when `profile` was asked; an access token for an API
//! says its scopes short in `scp`, and one for a login alone is Microsoft
//! Graph's (a `nonce` in its header).

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::FakeToken;

/// Microsoft Graph's application id: the audience of a token asked with
/// OpenID's scopes alone.
pub(super) const GRAPH: &str = "00000003-0000-0000-c000-000000000000";

/// What the v2 endpoint answers a `resource` with.
pub(super) const NO_RESOURCE: &str = "AADSTS9010010: The resource parameter provided in the \
     request doesn't match with the requested scopes.";

/// Its metadata, at `/.well-known/openid-configuration` only.
pub(super) fn metadata(url: &str) -> Value {
    json!({
        "issuer": url,
        "authorization_endpoint": format!("{url}/authorize"),
        "token_endpoint": format!("{url}/token"),
        "jwks_uri": format!("{url}/jwks"),
        "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "response_modes_supported": ["query", "fragment", "form_post"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "acr", "nonce",
            "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"],
        "request_uri_parameter_supported": false,
        "tenant_region_scope": "WW",
        "cloud_instance_name": "microsoftonline.com",
    })
}

/// The v1 endpoint's metadata, at `ORIGIN/TENANT/.well-known/openid-configuration`
/// (`ORIGIN/TENANT/v2.0` is the v2 endpoint's issuer): its issuer
/// `https://sts.windows.net/TENANT/`, whatever host serves it.
pub(super) fn v1_metadata(origin: &str, tenant: &str) -> Value {
    json!({
        "issuer": format!("https://sts.windows.net/{tenant}/"),
        "authorization_endpoint": format!("{origin}/{tenant}/oauth2/authorize"),
        "token_endpoint": format!("{origin}/{tenant}/oauth2/token"),
        "jwks_uri": format!("{origin}/common/discovery/keys"),
        "response_types_supported": ["code", "id_token", "code id_token", "token id_token", "token"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "tenant_region_scope": "WW",
        "cloud_instance_name": "microsoftonline.com",
    })
}

/// The person `oid` as an application `app` sees them in `sub`: pairwise.
fn pairwise(oid: &str, app: &str) -> String {
    let digest = Sha256::digest(format!("{oid}\0{app}").as_bytes());
    base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, digest)
}

/// The ID token for the person `oid`, signed in at `client` with `scope`.
pub(super) fn id_token(oid: &str, client: &str, scope: &str, tenant: &str) -> FakeToken {
    let token = FakeToken::new(&pairwise(oid, client)).audience(client);
    let token = token.claim("tid", json!(tenant)).claim("ver", json!("2.0"));
    // "The profile scope is required to receive this claim."
    match scope.split(' ').any(|s| s == "profile") {
        true => token.claim("oid", json!(oid)),
        false => token,
    }
}

/// The access token for the person `oid` asked with `scope`: for an API's
/// scopes (`api://<app>/name`), the application's id as its audience and
/// the names short in `scp`; for OpenID's alone, Microsoft Graph's.
pub(super) fn access_token(oid: &str, scope: &str, tenant: &str) -> FakeToken {
    let api: Vec<(&str, &str)> = (scope.split(' '))
        .filter_map(|s| s.strip_prefix("api://")?.rsplit_once('/'))
        .collect();
    let (app, scp) = match api.first() {
        Some((app, _)) => (*app, api.iter().map(|(_, name)| *name).collect::<Vec<_>>()),
        None => (GRAPH, vec!["openid", "profile", "email"]),
    };
    let mut token = FakeToken::new(&pairwise(oid, app)).audience(app).typ("JWT");
    if app == GRAPH {
        // Graph's tokens carry a nonce in their header: for Graph alone.
        token.header_nonce = Some(pairwise(oid, "nonce"));
    }
    let claims = json!({"oid": oid, "tid": tenant, "ver": "2.0", "scp": scp.join(" ")});
    let Value::Object(claims) = claims else {
        return token;
    };
    claims.into_iter().fold(token, |t, (k, v)| t.claim(&k, v))
}
