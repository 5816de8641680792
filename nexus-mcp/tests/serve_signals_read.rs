//! A signal is understood or refused, never a success that did nothing,
//! and each leaves its line and count: an e-mail address names its person
//! in any case (the provider compares addresses so); `aliases` naming two
//! people and a SET whose events name different subjects without a
//! `sub_id` are refused, revoking nobody; a forged push and an event the
//! server does not act on each leave a line (with `who=` where the SET
//! names a person) and a count; a SET's `jti` is kept as long as the SET
//! may be used. Through the program, with a real Redis; every request
//! signed by the test with the provider's key.

mod common;

use common::front::{called, signed_in_at, stored, tokens_for};
use common::served::{Served, free_port, series, wait_until, workspace_of};
use common::signals::{ACCOUNT_DISABLED, SESSION_REVOKED, logout, logout_jwt, pushed, set_of};
use nexus_gateway_fake::FakeIssuer;
use serde_json::{Map, Value, json};

/// `serve --oauth-proxy` (with `args`) in front of `issuer`: the server,
/// its origin.
fn serving(issuer: &FakeIssuer, args: &[&str]) -> (Served, String) {
    let gateway = nexus_gateway_fake::FakeGateway::start();
    common::front::proxy(issuer, &gateway, args)
}

/// `person` signed in at `one` (at `origin`), their ID token carrying
/// `claims`: their tokens.
fn signed_in(
    issuer: &FakeIssuer,
    (one, origin): (&Served, &str),
    person: &str,
    claims: Value,
) -> Value {
    let claims: Map<String, Value> = serde_json::from_value(claims).unwrap();
    issuer.approve_as_with_claims(person, claims);
    let (id, said) = signed_in_at(one, origin);
    tokens_for(origin, &id, &said["code"])
}

#[test]
#[ignore = "needs redis-server from the distribution (NEXUS_REDIS; .ci/run installs it)"]
fn an_address_in_another_case_revokes_its_person_and_aliases_of_two_people_are_refused() {
    let (_redis, issuer, _gateway, store) = stored();
    let args = ["--store", &store, "--subject-claim", "email"];
    let (one, origin) = serving(&issuer, &args);
    let at = (&one, origin.as_str());
    let alice = signed_in(&issuer, at, "00u1", json!({"email": "Alice@Acme.Example"}));
    let bob = signed_in(&issuer, at, "00u2", json!({"email": "bob@acme.example"}));
    let email = |address: &str| json!({"format": "email", "email": address});
    // Two different people as aliases of one: refused, nobody revoked.
    let two = json!({"sub_id": {"format": "aliases", "identifiers": [
        email("alice@acme.example"), email("bob@acme.example")]}});
    let jwt = issuer.mint(&logout_jwt(&origin, "two"));
    let (status, answer) = logout(&origin, Some(&jwt), &two);
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("invalid_request")),
        "{answer}"
    );
    assert!(called(&one, &alice) == 200 && called(&one, &bob) == 200);
    // The address as the provider writes it, in another case than the ID token's.
    for (jti, written) in [("a1", "alice@ACME.example"), ("a2", "ALICE@acme.example")] {
        let jwt = issuer.mint(&logout_jwt(&origin, jti));
        let body = json!({"sub_id": email(written)});
        assert_eq!(logout(&origin, Some(&jwt), &body).0, 204);
    }
    wait_until(|| called(&one, &alice) == 401);
    assert_eq!(called(&one, &bob), 200, "another person");
    // An address no one signed in as here: 404, an unknown subject, logged.
    let jwt = issuer.mint(&logout_jwt(&origin, "nobody"));
    let body = json!({"sub_id": email("nobody@acme.example")});
    let (status, answer) = logout(&origin, Some(&jwt), &body);
    assert_eq!(status, 404, "{answer}");
    assert!(
        answer["error_description"]
            .as_str()
            .unwrap()
            .contains("unknown subject"),
        "{answer}"
    );
    let said = one.said_once(|said| {
        said.contains("global_token_revocation logout") && said.contains(" unknown: ")
    });
    assert!(
        said.contains("no sign-in of this subject is known"),
        "{said}"
    );
}

#[test]
#[ignore = "needs redis-server from the distribution (NEXUS_REDIS; .ci/run installs it)"]
fn every_set_leaves_its_line_and_count_and_one_about_two_people_is_refused() {
    let (redis, issuer, _gateway, store) = stored();
    let transmitter = issuer.url();
    let metrics = format!("127.0.0.1:{}", free_port());
    let args = [
        "--store",
        &store,
        "--ssf-transmitter",
        &transmitter,
        "--metrics-listen",
        &metrics,
    ];
    let (one, origin) = serving(&issuer, &args);
    let at = (&one, origin.as_str());
    let (alice, bob) = (
        signed_in(&issuer, at, "alice", json!({})),
        signed_in(&issuer, at, "bob", json!({})),
    );
    let stream = common::front::ssf_connect(&origin, &transmitter, "okta-api-token", false);
    let push = common::signals::push_authorization(&issuer, &stream);
    // Forged (no authorization): refused, with its line and its count.
    let set = issuer.mint(&set_of(&issuer, (ACCOUNT_DISABLED, "bob"), (&origin, "f")));
    let (status, answer) = pushed(&origin, Some("Bearer forged"), &set);
    assert_eq!(
        (status, answer["err"].as_str()),
        (401, Some("authentication_failed"))
    );
    let said = one.said_once(|said| said.contains("signal shared_signals unread"));
    assert!(said.contains("who=- refused"), "{said}");
    let counted =
        r#"nexus_mcp_signals_total{channel="shared_signals",event="unread",outcome="refused"}"#;
    assert_eq!(series(&metrics, counted).as_deref(), Some("1"));
    // Two events, no sub_id, about two people: refused, nobody revoked.
    let about =
        |sub: &str| json!({"subject": {"format": "iss_sub", "iss": transmitter, "sub": sub}});
    let two = set_of(&issuer, (ACCOUNT_DISABLED, "bob"), (&origin, "two"))
        .claim("sub_id", Value::Null)
        .claim("events", json!({SESSION_REVOKED: about("alice"), "https://schemas.openid.net/secevent/caep/event-type/token-claims-change": about("bob")}));
    let (status, answer) = pushed(&origin, Some(&push), &issuer.mint(&two));
    assert_eq!(
        (status, answer["err"].as_str()),
        (400, Some("invalid_request")),
        "{answer}"
    );
    assert!(called(&one, &alice) == 200 && called(&one, &bob) == 200);
    // An event this server does not act on names its person in the line.
    let claims = "https://schemas.openid.net/secevent/caep/event-type/token-claims-change";
    let left = issuer.mint(&set_of(&issuer, (claims, "bob"), (&origin, "left")));
    assert_eq!(pushed(&origin, Some(&push), &left).0, 202);
    let who = &workspace_of(&transmitter, "bob")[..12];
    let said = one.said_once(|said| said.contains("signal shared_signals other"));
    assert!(said.contains(&format!("who={who} left")), "{said}");
    // The SET's jti is kept for as long as the SET may be used: issued a
    // moment ahead (within the clocks' leeway), 15 min and the leeway on.
    let now = jsonwebtoken::get_current_timestamp();
    let ahead = set_of(&issuer, (SESSION_REVOKED, "alice"), (&origin, "ahead"))
        .claim("iat", json!(now + 50));
    assert_eq!(pushed(&origin, Some(&push), &issuer.mint(&ahead)).0, 202);
    wait_until(|| called(&one, &alice) == 401);
    let keys = redis.ask(&["KEYS", "nexus-mcp:jti:*"]);
    let ttls: Vec<u64> = keys
        .iter()
        .map(|key| redis.ask(&["TTL", key])[0].parse().unwrap())
        .collect();
    let longest = ttls.iter().max().copied().unwrap_or_default();
    assert!(longest >= 900 + 60 + 50 - 5, "kept {longest} s: {ttls:?}");
}
