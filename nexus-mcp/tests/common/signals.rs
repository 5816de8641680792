//! The identity provider's three signals as the tests send them: a Global
//! Token Revocation request signed by the test with the provider's key
//! (the fake issuer's), a SET a transmitter signs, and a SCIM request as a
//! provisioning service sends it; never with `serve`'s own code.

use nexus_gateway_fake::{FakeIssuer, FakeToken};
use serde_json::{Value, json};

use super::served::Served;

/// A Global Token Revocation request's JWT as Okta signs one: from the
/// issuer, its client id as `sub`, for `audience`, five minutes, `jti`.
pub fn logout_jwt(audience: &str, jti: &str) -> FakeToken {
    FakeToken::new("0oa-okta-universal-logout")
        .audience(audience)
        .expires_in(300)
        .claim("jti", json!(jti))
}

/// What the endpoint at `origin` answers `body` sent with `bearer`.
pub fn logout(origin: &str, bearer: Option<&str>, body: &Value) -> (u16, Value) {
    let authorization = bearer.map(|token| format!("Bearer {token}"));
    let headers: Vec<(&str, &str)> = authorization
        .iter()
        .map(|value| ("Authorization", value.as_str()))
        .collect();
    let url = format!("{origin}/global-token-revocation");
    let (status, _, answer) = Served::post_url(&url, &headers, &body.to_string());
    (status, answer)
}

/// A subject identifier naming `sub` at `issuer` (RFC 9493 `iss_sub`).
pub fn iss_sub(issuer: &FakeIssuer, sub: &str) -> Value {
    json!({"sub_id": {"format": "iss_sub", "iss": issuer.url(), "sub": sub}})
}

/// A SCIM request: `method` on `path` under the Tenant URL `tenant`, with
/// the Secret Token `token`, and `body` (none: empty).
pub fn scim(tenant: &str, token: &str, (method, path): (&str, &str), body: &Value) -> (u16, Value) {
    let (status, _, answer) = scim_answer(tenant, token, (method, path), body);
    (status, answer)
}

/// [`scim`], with the answer's headers.
pub fn scim_answer(
    tenant: &str,
    token: &str,
    (method, path): (&str, &str),
    body: &Value,
) -> (u16, Vec<(String, String)>, Value) {
    let bearer = format!("Bearer {token}");
    let mut headers = vec![("Accept", "application/scim+json")];
    if !token.is_empty() {
        headers.push(("Authorization", bearer.as_str()));
    }
    if !body.is_null() {
        headers.push(("Content-Type", "application/scim+json"));
    }
    let body = if body.is_null() {
        String::new()
    } else {
        body.to_string()
    };
    Served::send_url(method, &format!("{tenant}{path}"), &headers, &body)
}

/// Entra's PATCH of `active`, its value a string as Entra sends it.
pub fn entra_active(active: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "Replace", "path": "active", "value": active}],
    })
}

/// A SCIM user as Entra creates one: `external` its `externalId`, `name`
/// its `userName`, active.
pub fn scim_user(external: &str, name: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "externalId": external, "userName": name, "active": true,
        "displayName": external,
    })
}

/// A SET as a transmitter signs it: `event` about `sub` at `issuer`, for
/// `aud`, its `jti`.
pub fn set_of(
    issuer: &FakeIssuer,
    (event, sub): (&str, &str),
    (aud, jti): (&str, &str),
) -> FakeToken {
    FakeToken::new("")
        .typ("secevent+jwt")
        .without_expiry()
        .audience(aud)
        .claim("jti", json!(jti))
        .claim(
            "sub_id",
            json!({"format": "iss_sub", "iss": issuer.url(), "sub": sub}),
        )
        .claim("events", json!({ event: {} }))
}

pub const SESSION_REVOKED: &str =
    "https://schemas.openid.net/secevent/caep/event-type/session-revoked";
pub const ACCOUNT_DISABLED: &str =
    "https://schemas.openid.net/secevent/risc/event-type/account-disabled";
pub const CREDENTIAL_CHANGE: &str =
    "https://schemas.openid.net/secevent/caep/event-type/credential-change";

/// What `/ssf/events` at `origin` answers `set` pushed with `authorization`.
pub fn pushed(origin: &str, authorization: Option<&str>, set: &str) -> (u16, Value) {
    let mut headers = vec![("Content-Type", "application/secevent+jwt")];
    headers.extend(authorization.map(|value| ("Authorization", value)));
    let url = format!("{origin}/ssf/events");
    let (status, _, answer) = Served::send_url("POST", &url, &headers, set);
    (status, answer)
}

/// The authorization `serve ssf connect` gave the transmitter `issuer` for
/// the push stream `stream` (as the command printed it, the authorization
/// redacted), as the transmitter holds it.
pub fn push_authorization(issuer: &FakeIssuer, stream: &Value) -> String {
    let printed = &stream["delivery"]["authorization_header"];
    assert!(
        printed
            .as_str()
            .is_some_and(|shown| shown.starts_with("<redacted")),
        "the command printed the authorization: {stream}"
    );
    let held = issuer.ssf_streams();
    let held = held
        .iter()
        .find(|held| held["stream_id"] == stream["stream_id"]);
    let held = held.expect("the transmitter holds the stream");
    held["delivery"]["authorization_header"]
        .as_str()
        .expect("an authorization")
        .to_owned()
}
