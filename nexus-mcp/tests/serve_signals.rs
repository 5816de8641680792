//! The identity provider switching a person off itself, through the
//! program with three replicas and a real Redis: Global Token Revocation
//! (`POST /global-token-revocation`, Okta's Universal Logout), its request
//! signed by the test with the provider's key (the fake issuer's, not
//! `serve`'s own code), the person out on every replica, and every forged,
//! replayed, expired, mis-addressed or unsigned request refused, revoking
//! nobody; a store that does not answer gives 503 and the retried request
//! takes effect.

mod common;

use common::front::{
    called, called_beside, replica, signed_in_at, signed_in_tokens, stored, tokens_for,
};
use common::served::{Served, wait_until};
use nexus_gateway_fake::{FakeIssuer, FakeToken};
use serde_json::{Value, json};

/// A Global Token Revocation request's JWT as Okta signs one: from the
/// issuer, its client id as `sub`, for `audience`, five minutes, `jti`.
fn logout_jwt(audience: &str, jti: &str) -> FakeToken {
    FakeToken::new("0oa-okta-universal-logout")
        .audience(audience)
        .expires_in(300)
        .claim("jti", json!(jti))
}

/// What the endpoint at `origin` answers `body` sent with `bearer`.
fn logout(origin: &str, bearer: Option<&str>, body: &Value) -> (u16, Value) {
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
fn iss_sub(issuer: &FakeIssuer, sub: &str) -> Value {
    json!({"sub_id": {"format": "iss_sub", "iss": issuer.url(), "sub": sub}})
}

#[test]
#[ignore = "needs redis-server from the distribution (NEXUS_REDIS; .ci/run installs it)"]
fn the_provider_switches_a_person_off_on_every_replica_and_nobody_else_can() {
    let (mut redis, issuer, gateway, store) = stored();
    let args = ["--store", store.as_str()];
    let (one, origin, _, alice) = signed_in_tokens(&issuer, &gateway, "alice", &args);
    let (two, _) = replica(&issuer, &gateway, &origin, &args);
    let (three, three_origin) = replica(&issuer, &gateway, &origin, &args);
    issuer.approve_as("bob");
    let (bob_id, said) = signed_in_at(&one, &origin);
    let bob = tokens_for(&origin, &bob_id, &said["code"]);
    let (_, _, metadata) = one.get("/.well-known/oauth-authorization-server");
    assert_eq!(
        metadata["global_token_revocation_endpoint"],
        format!("{origin}/global-token-revocation")
    );
    // Forged, expired, mis-addressed, unsigned or malformed: refused, and
    // nobody revoked.
    let signed = |token: FakeToken| issuer.mint(&token);
    let mcp = format!("{origin}/mcp");
    let refused = [
        (None, iss_sub(&issuer, "bob"), 401),
        (Some("not-a-jwt".to_owned()), iss_sub(&issuer, "bob"), 401),
        (
            Some(signed(logout_jwt(&origin, "x1").expires_in(-120))),
            iss_sub(&issuer, "bob"),
            401,
        ),
        (
            Some(signed(logout_jwt(&origin, "x2").expires_in(3600))),
            iss_sub(&issuer, "bob"),
            401,
        ),
        (
            Some(signed(logout_jwt(&mcp, "x3"))),
            iss_sub(&issuer, "bob"),
            401,
        ),
        (
            Some(signed(
                logout_jwt(&origin, "x4").claim("aud", json!([origin, "https://other.example"])),
            )),
            iss_sub(&issuer, "bob"),
            401,
        ),
        (
            Some(signed(
                logout_jwt(&origin, "x5").issuer("https://evil.example"),
            )),
            iss_sub(&issuer, "bob"),
            401,
        ),
        (
            Some(signed(logout_jwt(&origin, "x6").key("ec-2"))),
            iss_sub(&issuer, "bob"),
            401,
        ),
        (
            Some(signed(logout_jwt(&origin, "x7").typ("at+jwt"))),
            iss_sub(&issuer, "bob"),
            401,
        ),
        (
            Some(signed(logout_jwt(&origin, "x8").not_before_in(600))),
            iss_sub(&issuer, "bob"),
            401,
        ),
        (
            Some(signed(logout_jwt(&origin, "x9").claim("jti", Value::Null))),
            iss_sub(&issuer, "bob"),
            401,
        ),
        (
            Some(signed(logout_jwt(&origin, "y1"))),
            json!({"sub_id": {"format": "opaque", "id": "bob"}}),
            400,
        ),
        (
            Some(signed(logout_jwt(&origin, "y2"))),
            json!({"subject": "bob"}),
            400,
        ),
        (
            Some(signed(logout_jwt(&origin, "y3"))),
            json!({"sub_id": {"format": "iss_sub", "iss": format!("{}/", issuer.url()), "sub": "bob"}}),
            404,
        ),
    ];
    for (bearer, body, status) in &refused {
        let (got, answer) = logout(&origin, bearer.as_deref(), body);
        assert_eq!(got, *status, "{bearer:?} {body}: {answer}");
        assert!(answer["error"].is_string(), "{answer}");
    }
    assert_eq!(
        called_beside(&three, &origin, &bob),
        200,
        "nobody was revoked"
    );
    // Alice, switched off by the provider at one replica: out on all three.
    let jwt = signed(logout_jwt(&origin, "alice-out"));
    let (status, answer) = logout(&three_origin, Some(&jwt), &iss_sub(&issuer, "alice"));
    assert_eq!(status, 204, "{answer}");
    wait_until(|| {
        called(&one, &alice) == 401
            && called_beside(&two, &origin, &alice) == 401
            && called_beside(&three, &origin, &alice) == 401
    });
    assert_eq!(called_beside(&two, &origin, &bob), 200);
    // The same request again: a replay, refused, whatever it names.
    let (status, _) = logout(&origin, Some(&jwt), &iss_sub(&issuer, "bob"));
    assert_eq!(status, 401);
    assert_eq!(called(&one, &bob), 200);
    let said = three.said();
    assert!(
        said.contains("signal global_token_revocation logout: who="),
        "{said}"
    );
    // The store down: 503, nothing done; the provider's retry takes effect.
    // The endpoint's own URL as the audience, as the draft now writes it.
    let jwt = signed(logout_jwt(
        &format!("{origin}/global-token-revocation"),
        "bob-out",
    ));
    redis.stop();
    let (status, _) = logout(&origin, Some(&jwt), &iss_sub(&issuer, "bob"));
    assert_eq!(status, 503);
    redis.start_again();
    assert_eq!(called(&one, &bob), 200, "nothing was done");
    let (status, answer) = logout(&origin, Some(&jwt), &iss_sub(&issuer, "bob"));
    assert_eq!(status, 204, "{answer}");
    wait_until(|| called_beside(&two, &origin, &bob) == 401);
}

#[test]
fn without_a_store_no_replica_takes_the_providers_signal() {
    let issuer = FakeIssuer::start();
    let gateway = nexus_gateway_fake::FakeGateway::start();
    let (one, origin) = common::front::proxy(&issuer, &gateway, &[]);
    let (_, _, metadata) = one.get("/.well-known/oauth-authorization-server");
    assert!(
        metadata.get("global_token_revocation_endpoint").is_none(),
        "{metadata}"
    );
    let jwt = issuer.mint(&logout_jwt(&origin, "j"));
    let (status, _) = logout(&origin, Some(&jwt), &iss_sub(&issuer, "alice"));
    assert_ne!(status, 204);
}
