//! The fake issuer's provider shapes, each way one differs from the plain
//! shape as the provider documents it. Entra ID's v2 endpoint: the
//! metadata (no registration, no PKCE advertised, no introspection,
//! OpenID's scopes alone, RS256), `/register` absent, a `resource` refused,
//! the ID token's pairwise `sub` and its `oid` only with `profile`, and the
//! access tokens (an API's scopes short in `scp`, Microsoft Graph's for a
//! login alone). Okta's org authorization server: a registration that
//! needs an API token, access tokens signed with a key it does not publish.
//! Google's: its metadata at the OpenID path only, no registration, no
//! introspection, opaque access tokens, the person's `sub` and `email`.
//! In every shape, the claims a person is approved with (their groups)
//! are in each token issued to them.

#![cfg(feature = "issuer")]

mod common;

use base64::Engine as _;
use common::{get, send};
use nexus_gateway_fake::FakeIssuer;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";

/// `url`'s origin and path apart (`http://127.0.0.1:1`, `/TENANT/v2.0`).
fn split(url: &str) -> (&str, &str) {
    let at = url["http://".len()..]
        .find('/')
        .map_or(url.len(), |at| at + "http://".len());
    (&url[..at], &url[at..])
}

/// The JSON of a JWS's `part` (0 the header, 1 the claims).
fn part(token: &str, part: usize) -> Value {
    let text = token.split('.').nth(part).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text);
    serde_json::from_slice(&bytes.unwrap()).unwrap()
}

/// A sign-in at `issuer` as `oid`, asking `scope` (and `resource`, if
/// any): the `/authorize` answer's status and body, and the tokens.
fn signed_in(issuer: &FakeIssuer, oid: &str, scope: &str, resource: &str) -> (u16, String, Value) {
    issuer.approve_as(oid);
    signed_in_as_approved(issuer, scope, resource)
}

/// [`signed_in`] as whoever the issuer approves now.
fn signed_in_as_approved(issuer: &FakeIssuer, scope: &str, resource: &str) -> (u16, String, Value) {
    issuer.add_client("app", "http://127.0.0.1:9/cb");
    let url = issuer.url();
    let (origin, path) = split(&url);
    let pairs = [
        ("response_type", "code"),
        ("client_id", "app"),
        ("redirect_uri", "http://127.0.0.1:9/cb"),
        ("scope", scope),
        ("code_challenge_method", "S256"),
        (
            "code_challenge",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        ),
        ("resource", resource),
    ];
    let encoded = |v: &str| utf8_percent_encode(v, NON_ALPHANUMERIC).to_string();
    let pairs = pairs.iter().filter(|(_, v)| !v.is_empty());
    let query: Vec<String> = pairs.map(|(k, v)| format!("{k}={}", encoded(v))).collect();
    let (status, head, body) = get(origin, &format!("{path}/authorize?{}", query.join("&")));
    let location = common::header(&head, "location").unwrap_or_default();
    let code = location
        .split(['?', '&'])
        .find_map(|p| p.strip_prefix("code="));
    let Some(code) = code else {
        return (status, body, Value::Null);
    };
    let form = format!(
        "grant_type=authorization_code&code={code}&client_id=app&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb\
         &code_verifier=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    );
    let head = format!(
        "POST {path}/token HTTP/1.1\r\nHost: {{host}}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        form.len()
    );
    let (_, _, tokens) = common::raw(origin, &head, form.as_bytes());
    (status, body, serde_json::from_str(&tokens).unwrap())
}

#[test]
fn the_metadata_says_what_entras_says_and_no_more() {
    let issuer = FakeIssuer::start_entra(TENANT);
    let url = issuer.url();
    let (origin, path) = split(&url);
    let (status, _, metadata) = get(origin, &format!("{path}/.well-known/openid-configuration"));
    assert_eq!(status, 200);
    let metadata: Value = serde_json::from_str(&metadata).unwrap();
    for absent in [
        "registration_endpoint",
        "code_challenge_methods_supported",
        "introspection_endpoint",
    ] {
        assert!(metadata.get(absent).is_none(), "{absent}: {metadata}");
    }
    assert_eq!(
        metadata["scopes_supported"],
        json!(["openid", "profile", "email", "offline_access"])
    );
    assert_eq!(metadata["subject_types_supported"], json!(["pairwise"]));
    assert_eq!(
        metadata["id_token_signing_alg_values_supported"],
        json!(["RS256"])
    );
    // No host registers itself.
    let asked = json!({"redirect_uris": ["http://127.0.0.1:9/cb"]}).to_string();
    assert_eq!(
        send(origin, "POST", &format!("{path}/register"), &asked).0,
        404
    );
}

#[test]
fn a_resource_is_refused_as_the_v2_endpoint_refuses_it() {
    let issuer = FakeIssuer::start_entra(TENANT);
    let (status, body, _) = signed_in(&issuer, "o-1", "openid", "https://mcp.example.com/mcp");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("AADSTS9010010"), "{body}");
}

#[test]
fn an_id_token_names_the_person_by_oid_only_when_profile_was_asked() {
    let issuer = FakeIssuer::start_entra(TENANT);
    let (_, _, tokens) = signed_in(&issuer, "o-alice", "openid", "");
    let id = part(tokens["id_token"].as_str().unwrap(), 1);
    assert!(id.get("oid").is_none(), "{id}");
    let sub = id["sub"].as_str().unwrap().to_owned();
    assert_ne!(sub, "o-alice", "sub is pairwise");
    assert_eq!(
        (id["aud"].as_str(), id["tid"].as_str()),
        (Some("app"), Some(TENANT))
    );
    assert_eq!(
        part(tokens["id_token"].as_str().unwrap(), 0)["alg"],
        "RS256"
    );
    let (_, _, tokens) = signed_in(&issuer, "o-alice", "openid profile", "");
    let id = part(tokens["id_token"].as_str().unwrap(), 1);
    assert_eq!(
        (id["oid"].as_str(), id["sub"].as_str()),
        (Some("o-alice"), Some(sub.as_str()))
    );
    // A login alone gets Microsoft Graph's token, not one for the app.
    let access = part(tokens["access_token"].as_str().unwrap(), 1);
    assert_eq!(access["aud"], "00000003-0000-0000-c000-000000000000");
    let header = part(tokens["access_token"].as_str().unwrap(), 0);
    assert!(
        header["nonce"].is_string(),
        "Graph's header nonce: {header}"
    );
}

#[test]
fn an_access_token_for_an_api_says_its_scopes_short_in_scp() {
    let issuer = FakeIssuer::start_entra(TENANT);
    let app = "0b7f3b43-2f1a-4c5e-8d2b-6a1f9e0c4d11";
    let (_, _, tokens) = signed_in(&issuer, "o-bob", &format!("api://{app}/mcp.tools"), "");
    let access = part(tokens["access_token"].as_str().unwrap(), 1);
    assert_eq!(access["aud"], app);
    assert_eq!(access["scp"], "mcp.tools");
    assert_eq!(
        (access["oid"].as_str(), access["ver"].as_str()),
        (Some("o-bob"), Some("2.0"))
    );
    assert_ne!(access["sub"], "o-bob", "sub is pairwise");
}

#[test]
fn oktas_org_server_registers_no_host_and_its_access_tokens_are_for_okta_alone() {
    let issuer = FakeIssuer::start_okta_org();
    let url = issuer.url();
    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
    ] {
        let (status, _, metadata) = get(&url, path);
        let metadata: Value = serde_json::from_str(&metadata).unwrap();
        assert_eq!(
            (status, metadata["issuer"].as_str()),
            (200, Some(url.as_str()))
        );
        assert_eq!(
            metadata["code_challenge_methods_supported"],
            json!(["S256"])
        );
    }
    let asked = json!({"redirect_uris": ["http://127.0.0.1:9/cb"]}).to_string();
    let (status, _, body) = send(&url, "POST", "/register", &asked);
    assert!(
        status == 401 && body.contains("E0000011"),
        "{status} {body}"
    );
    let (_, _, tokens) = signed_in(&issuer, "00u1a2b3c4", "openid profile", "");
    let id = part(tokens["id_token"].as_str().unwrap(), 1);
    assert_eq!(id["sub"], "00u1a2b3c4");
    // Its access token names a key the JWKS does not publish.
    let kid = part(tokens["access_token"].as_str().unwrap(), 0)["kid"].clone();
    let (_, _, keys) = get(&url, "/jwks");
    assert!(!keys.contains(&format!("\"kid\":{kid}")), "{kid} in {keys}");
    assert!(keys.contains(&format!(
        "\"kid\":{}",
        part(tokens["id_token"].as_str().unwrap(), 0)["kid"]
    )));
}

#[test]
fn google_registers_no_host_introspects_nothing_and_names_the_person_by_sub() {
    let issuer = FakeIssuer::start_google();
    let url = issuer.url();
    let (status, _, metadata) = get(&url, "/.well-known/openid-configuration");
    let metadata: Value = serde_json::from_str(&metadata).unwrap();
    assert_eq!(status, 200);
    for absent in ["registration_endpoint", "introspection_endpoint"] {
        assert!(metadata.get(absent).is_none(), "{absent}: {metadata}");
    }
    assert_eq!(get(&url, "/.well-known/oauth-authorization-server").0, 404);
    let asked = json!({"redirect_uris": ["http://127.0.0.1:9/cb"]}).to_string();
    assert_eq!(send(&url, "POST", "/register", &asked).0, 404);
    let (_, _, tokens) = signed_in(&issuer, "104857600123456789", "openid email", "");
    let id = part(tokens["id_token"].as_str().unwrap(), 1);
    assert_eq!(id["sub"], "104857600123456789");
    assert_eq!(id["email"], "104857600123456789@gmail.com");
    assert!(id.get("hd").is_none(), "a gmail account has no hd: {id}");
    // Without the email scope, no e-mail.
    let (_, _, tokens) = signed_in(&issuer, "104857600123456789", "openid", "");
    let id = part(tokens["id_token"].as_str().unwrap(), 1);
    assert!(id.get("email").is_none(), "{id}");
    // A Workspace person: their domain in hd, as the test approves them.
    let workspace = serde_json::Map::from_iter([("hd".to_owned(), json!("acme.example"))]);
    issuer.approve_as_with_claims("104857600123456790", workspace);
    let (_, _, tokens) = signed_in_as_approved(&issuer, "openid", "");
    let id = part(tokens["id_token"].as_str().unwrap(), 1);
    assert_eq!(id["hd"], "acme.example", "a Workspace account's domain");
    let access = tokens["access_token"].as_str().unwrap();
    assert!(
        access.starts_with("ya29.") && access.split('.').count() == 2,
        "opaque: {access}"
    );
    assert_eq!(send(&url, "POST", "/introspect", "{}").0, 404);
}

/// `POST /_fake/approve {"sub", "claims"}` (and `approve_as_with_claims`):
/// the person's claims ride in the access token and the ID token, in the
/// plain shape and Entra's; approving another without claims drops them.
#[test]
fn the_claims_a_person_is_approved_with_are_in_each_token_issued_to_them() {
    let groups = json!({"groups": ["platform"], "realm_access": {"roles": ["admin"]}});
    for issuer in [FakeIssuer::start(), FakeIssuer::start_entra(TENANT)] {
        let url = issuer.url();
        let (origin, path) = split(&url);
        let asked = json!({"sub": "o-1", "claims": groups}).to_string();
        let (status, _, said) = send(origin, "POST", &format!("{path}/_fake/approve"), &asked);
        assert_eq!(status, 200, "{said}");
        let scope = "openid profile api://app-1/mcp.tools";
        let (_, body, tokens) = signed_in_as_approved(&issuer, scope, "");
        for token in ["access_token", "id_token"] {
            let claims = part(tokens[token].as_str().unwrap_or_default(), 1);
            assert_eq!(
                claims["groups"], groups["groups"],
                "{token}: {claims} {body}"
            );
            assert_eq!(claims["realm_access"], groups["realm_access"], "{token}");
        }
        let (_, _, tokens) = signed_in(&issuer, "o-2", scope, "");
        let claims = part(tokens["access_token"].as_str().unwrap_or_default(), 1);
        assert!(claims.get("groups").is_none(), "{claims}");
    }
    let issuer = FakeIssuer::start();
    let claims = groups.as_object().cloned().unwrap_or_default();
    issuer.approve_as_with_claims("o-3", claims);
    let (_, _, tokens) = signed_in_as_approved(&issuer, "openid", "");
    let claims = part(tokens["id_token"].as_str().unwrap_or_default(), 1);
    assert_eq!(
        (claims["sub"].as_str(), &claims["groups"]),
        (Some("o-3"), &groups["groups"])
    );
}
