//! The identity provider switching a person off itself, through the
//! program with three replicas and a real Redis: Global Token Revocation
//! (`POST /global-token-revocation`, Okta's Universal Logout), its request
//! signed by the test with the provider's key (the fake issuer's, not
//! `serve`'s own code), the person out on every replica, and every forged,
//! replayed, expired, mis-addressed or unsigned request refused, revoking
//! nobody; a store that does not answer gives 503 and the retried request
//! takes effect. SCIM deprovisioning as Entra's provisioning service sends
//! it: a person deactivated is out on every replica and cannot sign in
//! again until reactivated. Shared Signals from the fake issuer as a
//! transmitter (`serve ssf connect` making the stream), pushed and polled,
//! and SETs the test signs itself, each hostile one refused with RFC
//! 8935's error, revoking nobody.

mod common;

use common::front::{
    called, called_beside, replica, signed_in_at, signed_in_tokens, stored, tokens_for,
};
use common::served::{Served, wait_until};
use common::signals::{
    ACCOUNT_DISABLED, CREDENTIAL_CHANGE, SESSION_REVOKED, entra_active, iss_sub, logout,
    logout_jwt, pushed, scim, set_of,
};
use nexus_gateway_fake::{FakeIssuer, FakeToken};
use serde_json::{Value, json};

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
    let said = three.said_once(|said| said.contains("signal global_token_revocation logout"));
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
    // The provider retries until it is answered (a connection to the store
    // mended takes a moment): the same request then takes effect.
    wait_until(|| logout(&origin, Some(&jwt), &iss_sub(&issuer, "bob")).0 == 204);
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
    assert_eq!(status, 404);
    // SCIM says what it needs, the SCIM way, whatever is asked.
    let user = json!({"externalId": "alice", "active": false});
    let tenant = format!("{origin}/scim/v2");
    for (method, path) in [
        ("POST", "/Users"),
        ("GET", "/Users?filter=userName+eq+%22a%22"),
        ("GET", "/ServiceProviderConfig"),
    ] {
        let (status, refused) = scim(&tenant, "x", (method, path), &user);
        assert_eq!(status, 501, "{method} {path}: {refused}");
        assert_eq!(
            refused["schemas"][0],
            "urn:ietf:params:scim:api:messages:2.0:Error"
        );
        assert!(
            refused["detail"].as_str().unwrap().contains("--store"),
            "{refused}"
        );
    }
}

/// What `/token` at `origin` answers a new sign-in of `person` through `one`.
fn signs_in(issuer: &FakeIssuer, (one, origin): (&Served, &str), person: &str) -> (u16, Value) {
    issuer.approve_as(person);
    let (id, said) = signed_in_at(one, origin);
    common::front::token_answer(origin, &common::front::redemption(&id, &said["code"]))
}

#[test]
#[ignore = "needs redis-server from the distribution (NEXUS_REDIS; .ci/run installs it)"]
fn scim_deprovisioning_keeps_a_person_out_until_reactivated() {
    let (mut redis, issuer, gateway, store) = stored();
    let args = ["--store", store.as_str()];
    let (one, origin, _, alice) = signed_in_tokens(&issuer, &gateway, "alice", &args);
    let (two, _) = replica(&issuer, &gateway, &origin, &args);
    let (tenant, token) = common::front::scim_token(&origin);
    assert_eq!(tenant, format!("{origin}/scim/v2"));
    // Entra looks the user up, finds nobody, and creates them.
    let lookup = (
        "GET",
        "/Users?filter=userName+eq+%22alice%40acme.example%22",
    );
    let (status, found) = scim(&tenant, &token, lookup, &Value::Null);
    assert_eq!(
        (status, &found["totalResults"]),
        (200, &json!(0)),
        "{found}"
    );
    let user = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "externalId": "alice", "userName": "alice@acme.example", "active": true,
    });
    let (status, made) = scim(&tenant, &token, ("POST", "/Users"), &user);
    assert_eq!((status, &made["active"]), (201, &json!(true)), "{made}");
    let id = made["id"].as_str().expect("an id").to_owned();
    let at = format!("/Users/{id}");
    // Malformed: the standard's error, with its status, nothing revoked.
    let (status, refused) = scim(
        &tenant,
        &token,
        ("POST", "/Users"),
        &json!({"userName": "x"}),
    );
    assert_eq!(
        (status, refused["status"].as_str()),
        (400, Some("400")),
        "{refused}"
    );
    let (status, _) = scim(
        &tenant,
        &token,
        ("PATCH", &at),
        &json!({"Operations": "replace"}),
    );
    assert_eq!(status, 400);
    let (status, _) = scim(&tenant, &token, ("GET", "/Users/%21%21%21"), &Value::Null);
    assert_eq!(status, 404);
    assert_eq!(called_beside(&two, &origin, &alice), 200);
    // Refused without the secret, with another's, or a client id for one.
    let client = common::front::client_add(&origin, &["--name", "Claude"]);
    let (_, other) = common::front::scim_token("http://other.example");
    for wrong in [
        "",
        "x",
        other.as_str(),
        client["client_id"].as_str().unwrap(),
    ] {
        let (status, refused) = scim(&tenant, wrong, ("PATCH", &at), &entra_active("False"));
        assert_eq!(status, 401, "{wrong}: {refused}");
        assert_eq!(
            refused["schemas"][0],
            "urn:ietf:params:scim:api:messages:2.0:Error"
        );
    }
    assert_eq!(called(&one, &alice), 200, "nobody was revoked");
    // Deactivated: out on every replica, and no new sign-in holds.
    let (status, user) = scim(&tenant, &token, ("PATCH", &at), &entra_active("False"));
    assert_eq!((status, &user["active"]), (200, &json!(false)), "{user}");
    wait_until(|| called(&one, &alice) == 401 && called_beside(&two, &origin, &alice) == 401);
    let (status, refused) = signs_in(&issuer, (&one, &origin), "alice");
    assert_eq!(
        (status, refused["error"].as_str()),
        (400, Some("invalid_grant")),
        "{refused}"
    );
    let (_, read) = scim(&tenant, &token, ("GET", &at), &Value::Null);
    assert_eq!(read["active"], false, "{read}");
    // Reactivated: a new sign-in holds; what was granted before does not.
    let (status, _) = scim(&tenant, &token, ("PATCH", &at), &entra_active("True"));
    assert_eq!(status, 200);
    let (status, again) = signs_in(&issuer, (&one, &origin), "alice");
    assert_eq!(status, 200, "{again}");
    wait_until(|| called_beside(&two, &origin, &again) == 200);
    assert_eq!(called_beside(&two, &origin, &alice), 401);
    // Deleted while the store does not answer: 503, nothing done; retried.
    redis.stop();
    let (status, _) = scim(&tenant, &token, ("DELETE", &at), &Value::Null);
    assert_eq!(status, 503);
    redis.start_again();
    wait_until(|| scim(&tenant, &token, ("DELETE", &at), &Value::Null).0 == 204);
    wait_until(|| called(&one, &again) == 401 && called_beside(&two, &origin, &again) == 401);
    let said = one.said_once(|said| said.contains("signal scim deactivated: who="));
    assert!(said.contains("signal scim deactivated: who="), "{said}");
}

#[test]
#[ignore = "needs redis-server from the distribution (NEXUS_REDIS; .ci/run installs it)"]
fn shared_signals_pushed_switch_a_person_off_and_no_forgery_does() {
    let (mut redis, issuer, gateway, store) = stored();
    let transmitter = issuer.url();
    let args = [
        "--store",
        store.as_str(),
        "--ssf-transmitter",
        transmitter.as_str(),
    ];
    let (one, origin, _, alice) = signed_in_tokens(&issuer, &gateway, "alice", &args);
    let (two, _) = replica(&issuer, &gateway, &origin, &args);
    issuer.approve_as("bob");
    let (bob_id, said) = signed_in_at(&one, &origin);
    let bob = tokens_for(&origin, &bob_id, &said["code"]);
    // `serve --check` says whether a stream delivers to this server.
    let checked = || {
        let port = origin.rsplit(':').next().unwrap().parse().unwrap();
        let proxy = [
            "--oauth-proxy",
            "--login-client-id",
            "nexus-login",
            "--check",
        ];
        let all = [&args[..], &proxy[..]].concat();
        let mut command = common::served::command(&gateway, &transmitter, port, &all);
        let out = command
            .env("NEXUS_MCP_SSF_TOKEN", "okta-api-token")
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, said) = checked();
    assert!(
        !ok && said.contains("no stream delivers to this server"),
        "{said}"
    );
    let stream = common::front::ssf_connect(&origin, &transmitter, "okta-api-token", false);
    assert_eq!(
        stream["delivery"]["endpoint_url"],
        format!("{origin}/ssf/events"),
        "{stream}"
    );
    let (ok, said) = checked();
    assert!(ok && said.contains("pushes to"), "{said}");
    let authorization = common::signals::push_authorization(&issuer, &stream);
    let said = one.said_once(|said| said.contains("signal shared_signals verification"));
    assert!(said.contains("stream is verified"), "{said}");
    // The transmitter says Alice's session is revoked: out everywhere.
    let alice_out = json!({"format": "iss_sub", "iss": transmitter, "sub": "alice"});
    let delivered = issuer.ssf_emit(SESSION_REVOKED, alice_out);
    assert_eq!(delivered[0]["status"], 202, "{delivered:?}");
    wait_until(|| called(&one, &alice) == 401 && called_beside(&two, &origin, &alice) == 401);
    // Forged, mis-addressed, stale, replayed or unauthorized: refused with
    // RFC 8935's words, and nobody revoked.
    let now = jsonwebtoken::get_current_timestamp();
    let bob_set = |jti: &str| set_of(&issuer, (ACCOUNT_DISABLED, "bob"), (&origin, jti));
    let good = issuer.mint(&bob_set("good"));
    let hostile = [
        (None, good.clone(), 401, "authentication_failed"),
        (
            Some("Bearer forged"),
            good.clone(),
            401,
            "authentication_failed",
        ),
        (
            Some(authorization.as_str()),
            issuer.mint(&bob_set("a").typ("JWT")),
            400,
            "invalid_request",
        ),
        (
            Some(authorization.as_str()),
            issuer.mint(&bob_set("b").key("ec-2")),
            400,
            "invalid_key",
        ),
        (
            Some(authorization.as_str()),
            issuer.mint(&bob_set("c").audience("https://other.example")),
            400,
            "invalid_audience",
        ),
        (
            Some(authorization.as_str()),
            issuer.mint(&bob_set("d").issuer("https://evil.example")),
            400,
            "invalid_issuer",
        ),
        (
            Some(authorization.as_str()),
            issuer.mint(&bob_set("e").claim("iat", json!(now - 1200))),
            400,
            "invalid_request",
        ),
        (
            Some(authorization.as_str()),
            issuer.mint(&bob_set("f").claim("jti", Value::Null)),
            400,
            "invalid_request",
        ),
        (
            Some(authorization.as_str()),
            "eyJhbGciOiJub25lIn0.eyJpc3MiOiJ4In0.".to_owned(),
            400,
            "invalid_issuer",
        ),
    ];
    for (auth, set, status, err) in &hostile {
        let (got, answer) = pushed(&origin, *auth, set);
        assert_eq!(
            (got, answer["err"].as_str()),
            (*status, Some(*err)),
            "{auth:?}: {answer}"
        );
    }
    assert_eq!(
        called_beside(&two, &origin, &bob),
        200,
        "nobody was revoked"
    );
    // The store down: 503, nothing done; the same SET again holds.
    redis.stop();
    let (status, _) = pushed(&origin, Some(&authorization), &good);
    assert_eq!(status, 503);
    redis.start_again();
    assert_eq!(called(&one, &bob), 200);
    wait_until(|| pushed(&origin, Some(&authorization), &good).0 == 202);
    wait_until(|| called_beside(&two, &origin, &bob) == 401);
    let (status, answer) = pushed(&origin, Some(&authorization), &good);
    assert_eq!(
        (status, answer["err"].as_str()),
        (400, Some("invalid_request")),
        "a replay"
    );
    // A credential change is left unless the operator says it revokes.
    issuer.approve_as("carol");
    let (carol_id, said) = signed_in_at(&one, &origin);
    let carol = tokens_for(&origin, &carol_id, &said["code"]);
    let change = issuer.mint(&set_of(
        &issuer,
        (CREDENTIAL_CHANGE, "carol"),
        (&origin, "cc"),
    ));
    assert_eq!(pushed(&origin, Some(&authorization), &change).0, 202);
    assert_eq!(called(&one, &carol), 200);
}

#[test]
#[ignore = "needs redis-server from the distribution (NEXUS_REDIS; .ci/run installs it)"]
fn shared_signals_polled_switch_a_person_off() {
    let (_redis, issuer, gateway, store) = stored();
    let transmitter = issuer.url();
    let port = common::served::free_port();
    let origin = format!("http://127.0.0.1:{port}");
    issuer.add_client("nexus-login", &format!("{origin}/connect/callback"));
    let args = [
        "--oauth-proxy",
        "--login-client-id",
        "nexus-login",
        "--store",
        store.as_str(),
        "--ssf-transmitter",
        transmitter.as_str(),
    ];
    let mut command = common::served::command(&gateway, &transmitter, port, &args);
    command.env("NEXUS_MCP_SSF_TOKEN", "okta-api-token");
    let one = Served::ready(command.spawn().expect("nexus-mcp"), port);
    issuer.approve_as("alice");
    let (id, said) = signed_in_at(&one, &origin);
    let alice = tokens_for(&origin, &id, &said["code"]);
    let stream = common::front::ssf_connect(&origin, &transmitter, "okta-api-token", true);
    assert_eq!(
        stream["delivery"]["method"], "urn:ietf:rfc:8936",
        "{stream}"
    );
    assert_eq!(called(&one, &alice), 200);
    let alice_out = json!({"format": "iss_sub", "iss": transmitter, "sub": "alice"});
    let queued = issuer.ssf_emit(ACCOUNT_DISABLED, alice_out);
    assert!(queued[0]["queued"].is_string(), "{queued:?}");
    wait_until(|| called(&one, &alice) == 401);
    let said = one.said_once(|said| said.contains("signal shared_signals account-disabled"));
    assert!(
        said.contains("signal shared_signals account-disabled: who="),
        "{said}"
    );
}
