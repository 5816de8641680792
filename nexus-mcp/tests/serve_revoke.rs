//! Revocation behind `serve --oauth-proxy`: `POST /revoke` (RFC 7009) ends
//! a sign-in's every token, the refresh and the access tokens it gave,
//! and `serve revoke --person` a person's every sign-in, on every replica
//! through the store they share (a real redis-server), within seconds and
//! with no restart; a token of another client is left as it is and
//! answered 200, as the RFC asks; without a store `serve revoke` names
//! the deny file.

mod common;

use std::process::Command;

use common::front::{
    called, called_beside, refreshed, replica, signed_in_at, signed_in_tokens, stored, tokens_for,
};
use common::served::{Browser, wait_until};
use nexus_gateway_fake::{FakeGateway, FakeIssuer};
use serde_json::json;

/// What `/revoke` at `origin` answers `form`: its status and body.
fn revoke(origin: &str, form: &[(&str, &str)]) -> (u16, String) {
    let (status, _, body) = Browser::new().submit(&format!("{origin}/revoke"), form);
    (status, body)
}

/// The clock's second, once it has moved past the one it reads now: what
/// was made before this call was made in an earlier second (the clock is
/// waited for, not slept on).
fn after_this_second() -> u64 {
    let now = jsonwebtoken::get_current_timestamp();
    wait_until(|| jsonwebtoken::get_current_timestamp() > now);
    jsonwebtoken::get_current_timestamp()
}

/// `serve revoke` with `args` and the store `store` (none: no store given).
fn revoke_person(args: &[&str], store: Option<&str>) -> (bool, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_nexus-mcp"));
    command.args(["serve", "revoke"]).args(args);
    for name in [
        "NEXUS_MCP_STORE",
        "NEXUS_MCP_STORE_FILE",
        "NEXUS_MCP_STORE_PASSWORD",
    ] {
        command.env_remove(name);
    }
    command.env_remove("NEXUS_MCP_STORE_PASSWORD_FILE");
    if let Some(store) = store {
        command.args(["--store", store]);
    }
    let out = command.output().expect("nexus-mcp");
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

#[test]
fn a_revoked_refresh_token_ends_its_sign_in_and_another_clients_is_left() {
    let (issuer, gateway) = (FakeIssuer::start(), FakeGateway::start());
    let (served, origin, id, tokens) = signed_in_tokens(&issuer, &gateway, "alice", &[]);
    // Another host, registered at the same server, Bob signed in through it.
    issuer.approve_as("bob");
    let (bob_id, _) = signed_in_at(&served, &origin);
    assert_eq!(called(&served, &tokens), 200);
    let refresh = tokens["refresh_token"].as_str().unwrap();
    // Another client presents Alice's token: 200, and nothing revoked.
    let (status, _) = revoke(&origin, &[("token", refresh), ("client_id", &bob_id)]);
    assert_eq!(status, 200);
    assert_eq!(called(&served, &tokens), 200);
    // A token that does not open: 200 too (RFC 7009 §2.2).
    let (status, _) = revoke(&origin, &[("token", "not-a-token"), ("client_id", &id)]);
    assert_eq!(status, 200);
    // No token: 400 invalid_request; no client: 401 invalid_client, as at /token.
    let (status, body) = revoke(&origin, &[("client_id", id.as_str())]);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("invalid_request"), "{body}");
    let (status, body) = revoke(&origin, &[("token", refresh)]);
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("invalid_client"), "{body}");
    // Alice's host revokes her refresh token: it and the access token it came with end.
    let hint = ("token_type_hint", "refresh_token");
    let (status, _) = revoke(&origin, &[("token", refresh), ("client_id", &id), hint]);
    assert_eq!(status, 200);
    let (status, answer) = refreshed(&origin, &id, &tokens);
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert!(
        answer["error_description"]
            .as_str()
            .unwrap()
            .contains("revoked"),
        "{answer}"
    );
    assert_eq!(called(&served, &tokens), 401);
    // The metadata lists the endpoint.
    let (_, _, metadata) = served.get("/.well-known/oauth-authorization-server");
    assert_eq!(metadata["revocation_endpoint"], format!("{origin}/revoke"));
}

#[test]
fn a_revoked_access_token_ends_its_sign_in() {
    let (issuer, gateway) = (FakeIssuer::start(), FakeGateway::start());
    let (served, origin, id, tokens) = signed_in_tokens(&issuer, &gateway, "alice", &[]);
    assert_eq!(called(&served, &tokens), 200);
    let access = tokens["access_token"].as_str().unwrap();
    let (status, _) = revoke(&origin, &[("token", access), ("client_id", &id)]);
    assert_eq!(status, 200);
    assert_eq!(called(&served, &tokens), 401);
    let (status, answer) = refreshed(&origin, &id, &tokens);
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

#[test]
fn without_a_store_serve_revoke_names_the_deny_file() {
    let (ok, _, said) = revoke_person(&["--person", "https://issuer.example", "alice"], None);
    assert!(!ok && said.contains("--deny-file"), "{said}");
    for person in [
        &["--person", "abc"][..],
        &["--person", "https://i.example", " "][..],
    ] {
        let (ok, _, said) = revoke_person(person, Some("redis://127.0.0.1:1/0"));
        assert!(!ok && said.contains("--person names a person"), "{said}");
    }
}

#[test]
#[ignore = "needs redis-server from the distribution (NEXUS_REDIS; .ci/run installs it)"]
fn a_revocation_holds_on_every_replica_and_a_person_is_out_everywhere() {
    let (_redis, issuer, gateway, store) = stored();
    let args = ["--store", store.as_str()];
    let (one, origin, id, first) = signed_in_tokens(&issuer, &gateway, "alice", &args);
    let (two, two_origin) = replica(&issuer, &gateway, &origin, &args);
    assert_eq!(called_beside(&two, &origin, &first), 200);
    // Revoked on replica one: refused on replica two within seconds.
    let refresh = first["refresh_token"].as_str().unwrap();
    let (status, _) = revoke(&origin, &[("token", refresh), ("client_id", &id)]);
    assert_eq!(status, 200);
    wait_until(|| called_beside(&two, &origin, &first) == 401);
    let (status, _) = refreshed(&two_origin, &id, &first);
    assert_eq!(status, 400);
    // Alice signs in again, twice; Bob once. `serve revoke --person`
    // ends both of Alice's sign-ins on both replicas, and leaves Bob's.
    let again = |person: &str| {
        issuer.approve_as(person);
        let (id, said) = signed_in_at(&one, &origin);
        (id.clone(), tokens_for(&origin, &id, &said["code"]))
    };
    let ((id_a, alice_a), (_, alice_b), (_, bob)) = (again("alice"), again("alice"), again("bob"));
    for tokens in [&alice_a, &alice_b, &bob] {
        assert_eq!(
            (called(&one, tokens), called_beside(&two, &origin, tokens)),
            (200, 200)
        );
    }
    let (ok, said, err) = revoke_person(&["--person", &issuer.url(), "alice"], Some(&store));
    assert!(ok, "{err}");
    let who = common::served::workspace_of(&issuer.url(), "alice")[..12].to_owned();
    assert!(said.contains(&format!("who={who}")), "{said}");
    for tokens in [&alice_a, &alice_b] {
        wait_until(|| called(&one, tokens) == 401 && called_beside(&two, &origin, tokens) == 401);
    }
    let (status, _) = refreshed(&two_origin, &id_a, &alice_a);
    assert_eq!(status, 400);
    assert_eq!(
        (called(&one, &bob), called_beside(&two, &origin, &bob)),
        (200, 200)
    );
    // By the hash the log prints, and a new sign-in after it holds.
    let (ok, _, err) = revoke_person(&["--person", &who], Some(&store));
    assert!(ok, "{err}");
    let (_, fresh) = again("alice");
    assert_eq!(called_beside(&two, &origin, &fresh), 200);
}

#[test]
#[ignore = "needs redis-server from the distribution (NEXUS_REDIS; .ci/run installs it)"]
fn a_revocation_reaches_every_grant_made_before_it_whenever_its_token_comes() {
    let (_redis, issuer, gateway, store) = stored();
    let args = ["--store", store.as_str(), "--scope", "mcp.tools"];
    // Alice signed in once (her tokens), and again up to her code.
    let (one, origin, _, first) = signed_in_tokens(&issuer, &gateway, "alice", &args);
    issuer.approve_as("alice");
    let (code_id, said) = signed_in_at(&one, &origin);
    let client = common::front::client_add(&origin, &["--name", "Claude"]);
    let confidential = (
        client["client_id"].as_str().unwrap(),
        client["client_secret"].as_str().unwrap(),
    );
    let jwt_bearer = "urn:ietf:params:oauth:grant-type:jwt-bearer";
    let minted = |jti: &str, iat: Option<u64>| {
        let token = common::front::id_jag("alice", &origin, confidential.0, jti);
        issuer.mint(&match iat {
            Some(iat) => token.claim("iat", json!(iat)),
            None => token,
        })
    };
    // The provider granted this ID-JAG before the revocation.
    let before = minted("before", None);
    let (ok, _, err) = revoke_person(&["--person", &issuer.url(), "alice"], Some(&store));
    assert!(ok, "{err}");
    wait_until(|| called(&one, &first) == 401);
    // The code issued before, redeemed after: refused, no sign-in begun.
    let code = said.get("code").expect("a code");
    let (status, answer) =
        common::front::token_answer(&origin, &common::front::redemption(&code_id, code));
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("invalid_grant")),
        "{answer}"
    );
    // The ID-JAG granted before, presented after: refused.
    let grant = [("grant_type", jwt_bearer), ("assertion", before.as_str())];
    let (status, answer) = common::front::token_as(&origin, confidential, &grant);
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("invalid_grant")),
        "{answer}"
    );
    // Its line, once the replica has written it.
    let lines = one.said_once(|said| said.contains("revoked after the provider granted it"));
    assert!(
        lines.contains("revoked after the provider granted it"),
        "{lines}"
    );
    // The provider's grant after the revocation holds: its iat past the
    // minute of leeway its clock is given, in a second after the one the
    // revocation was made in (a time in seconds is read as its start).
    let now = after_this_second();
    let after = minted("after", Some(now + 60));
    let grant = [("grant_type", jwt_bearer), ("assertion", after.as_str())];
    let (status, answer) = common::front::token_as(&origin, confidential, &grant);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(called(&one, &answer), 200);
}

#[test]
#[ignore = "needs redis-server from the distribution (NEXUS_REDIS; .ci/run installs it)"]
fn a_refresh_racing_a_revocation_is_refused_by_the_store_itself() {
    let (_redis, issuer, gateway, store) = stored();
    let args = ["--store", store.as_str()];
    let (_one, origin, id, first) = signed_in_tokens(&issuer, &gateway, "alice", &args);
    let (two, two_origin) = replica(&issuer, &gateway, &origin, &args);
    let (ok, _, err) = revoke_person(&["--person", &issuer.url(), "alice"], Some(&store));
    assert!(ok, "{err}");
    // At once, before replica two has read the list (it reads it every
    // 2 s): the store's own rotation asks the list, so the refresh is
    // refused there whatever that replica's view.
    let (status, raced) = refreshed(&two_origin, &id, &first);
    assert_eq!(
        (status, raced["error"].as_str()),
        (400, Some("invalid_grant")),
        "{raced}"
    );
    wait_until(|| called_beside(&two, &origin, &first) == 401);
}

#[test]
#[ignore = "needs redis-server from the distribution (NEXUS_REDIS; .ci/run installs it)"]
fn revoke_says_revoked_only_of_a_token_it_revoked() {
    let (mut redis, issuer, gateway, store) = stored();
    let args = ["--store", store.as_str()];
    let (one, origin, id, said) =
        common::front::signed_in_through(&issuer, &gateway, "alice", &args);
    // Redeemed while the store does not answer: an access token alone, of
    // no family the store began.
    redis.stop();
    let tokens = tokens_for(&origin, &id, said.get("code").expect("a code"));
    assert!(tokens.get("refresh_token").is_none(), "{tokens}");
    redis.start_again();
    let access = tokens["access_token"].as_str().unwrap();
    // Not revoked, so never answered as if it were.
    let (status, body) = revoke(&origin, &[("token", access), ("client_id", &id)]);
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("temporarily_unavailable"), "{body}");
    assert_eq!(
        called(&one, &tokens),
        200,
        "it still works, as the answer says"
    );
}

#[test]
#[ignore = "needs redis-server from the distribution (NEXUS_REDIS; .ci/run installs it)"]
fn serve_revoke_refuses_a_person_no_replica_would_know() {
    let (redis, issuer, gateway, store) = stored();
    let args = ["--store", store.as_str()];
    let (one, _, _, first) = signed_in_tokens(&issuer, &gateway, "alice", &args);
    // The replica says what it serves in the store it shares.
    wait_until(|| {
        !redis
            .ask(&["ZRANGE", "nexus-mcp:served", "0", "-1"])
            .is_empty()
    });
    let served = issuer.url();
    let upper = served.replace("http://", "HTTP://");
    for (given, subject) in [
        (format!("{served}/"), "alice"),
        (upper, "alice"),
        ("https://login.example".to_owned(), "alice"),
        (served.clone(), "alice@acme.example"),
    ] {
        let (ok, said, err) = revoke_person(&["--person", &given, subject], Some(&store));
        assert!(!ok, "{given} {subject}: {said}");
        assert!(err.contains("nothing was revoked"), "{err}");
    }
    let (_, _, err) = revoke_person(&["--person", &format!("{served}/"), "alice"], Some(&store));
    assert!(
        err.contains(&format!("{served:?}")),
        "the issuer they serve named: {err}"
    );
    // A subject no sign-in here has: refused, never "revoked"; the one
    // that differs only by case is named.
    let carol = common::served::workspace_of(&served, "carol")[..12].to_owned();
    for (args, near) in [
        (vec!["--person", &served, "ALICE"], Some("alice")),
        (vec!["--person", &served, "Alice"], Some("alice")),
        (vec!["--person", &served, "alicee"], None),
        (vec!["--person", &carol], None),
    ] {
        let (ok, said, err) = revoke_person(&args, Some(&store));
        assert!(!ok && said.is_empty(), "{args:?}: {said}");
        assert!(
            err.contains("no sign-in of who=") && err.contains("names nobody"),
            "{err}"
        );
        match near {
            Some(near) => assert!(
                err.contains(&format!("the subject {near} did sign in")),
                "{err}"
            ),
            None => assert!(!err.contains("did sign in"), "{err}"),
        }
    }
    assert_eq!(called(&one, &first), 200, "nobody was revoked");
    let (ok, _, err) = revoke_person(&["--person", &served, "alice"], Some(&store));
    assert!(ok, "{err}");
    wait_until(|| called(&one, &first) == 401);
}

#[test]
#[ignore = "needs redis-server from the distribution (NEXUS_REDIS; .ci/run installs it)"]
fn an_emptied_store_brings_no_revoked_token_and_no_spent_assertion_back() {
    let (mut redis, issuer, gateway, store) = stored();
    let args = ["--store", store.as_str(), "--scope", "mcp.tools"];
    let (one, origin, id, alice) = signed_in_tokens(&issuer, &gateway, "alice", &args);
    let (two, two_origin) = replica(&issuer, &gateway, &origin, &args);
    issuer.approve_as("bob");
    let (bob_id, said) = signed_in_at(&one, &origin);
    let bob = tokens_for(&origin, &bob_id, &said["code"]);
    // An ID-JAG spent, and Alice revoked: what the store knows.
    let client = common::front::client_add(&origin, &["--name", "Claude"]);
    let confidential = (
        client["client_id"].as_str().unwrap(),
        client["client_secret"].as_str().unwrap(),
    );
    let spent = issuer.mint(&common::front::id_jag(
        "carol",
        &origin,
        confidential.0,
        "spent",
    ));
    let jwt_bearer = "urn:ietf:params:oauth:grant-type:jwt-bearer";
    let grant = [("grant_type", jwt_bearer), ("assertion", spent.as_str())];
    let (status, carol) = common::front::token_as(&origin, confidential, &grant);
    assert_eq!(status, 200, "{carol}");
    let (ok, _, err) = revoke_person(&["--person", &issuer.url(), "alice"], Some(&store));
    assert!(ok, "{err}");
    wait_until(|| called_beside(&two, &origin, &alice) == 401);
    // The store restarts without its data; a third replica starts after.
    redis.emptied();
    let (three, three_origin) = replica(&issuer, &gateway, &origin, &args);
    // The revocation holds everywhere: given back by the replicas that held
    // it, and read by the one that never did.
    wait_until(|| {
        called(&one, &alice) == 401
            && called_beside(&two, &origin, &alice) == 401
            && called_beside(&three, &origin, &alice) == 401
    });
    let said = one.said_once(|said| said.contains("the store was emptied"));
    assert!(said.contains("the store was emptied"), "{said}");
    // The spent ID-JAG, again, on any replica: refused.
    let (status, answer) = common::front::token_as(&three_origin, confidential, &grant);
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("invalid_grant")),
        "the spent ID-JAG again: {answer}"
    );
    // What the loss costs: a sign-in's refresh (its family is gone); the
    // access tokens of those not revoked hold, on the replica that started
    // with the emptied store too once a running one gave the list back.
    for tokens in [&bob, &carol] {
        wait_until(|| called_beside(&three, &origin, tokens) == 200);
        assert_eq!(called_beside(&two, &origin, tokens), 200);
    }
    let (status, answer) = refreshed(&two_origin, &bob_id, &bob);
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, _) = refreshed(&two_origin, &id, &alice);
    assert_eq!(status, 400);
    // What is granted after holds on every replica.
    issuer.approve_as("bob");
    let (again_id, said) = signed_in_at(&one, &origin);
    let again = tokens_for(&origin, &again_id, &said["code"]);
    assert_eq!(called_beside(&three, &origin, &again), 200, "{again}");
    let (status, _) = refreshed(&two_origin, &again_id, &again);
    assert_eq!(status, 200);
    let now = after_this_second();
    let fresh = common::front::id_jag("carol", &origin, confidential.0, "fresh");
    let fresh = issuer.mint(&fresh.claim("iat", json!(now + 60)));
    let grant = [("grant_type", jwt_bearer), ("assertion", fresh.as_str())];
    let (status, answer) = common::front::token_as(&origin, confidential, &grant);
    assert_eq!(status, 200, "{answer}");
}

#[test]
#[ignore = "needs redis-server from the distribution (NEXUS_REDIS; .ci/run installs it)"]
fn serve_revoke_client_ends_a_clients_tokens_on_every_replica_and_no_other_clients() {
    let (_redis, issuer, gateway, store) = stored();
    let args = ["--store", store.as_str()];
    let (one, origin, id, alice) = signed_in_tokens(&issuer, &gateway, "alice", &args);
    let (two, two_origin) = replica(&issuer, &gateway, &origin, &args);
    issuer.approve_as("alice");
    let (other_id, said) = signed_in_at(&one, &origin);
    let other = tokens_for(&origin, &other_id, &said["code"]);
    let mark = common::front::mark(&id);
    for wrong in ["claude", "0123", "zzzzzzzzzzzz"] {
        let (ok, _, err) = revoke_person(&["--client", wrong], Some(&store));
        assert!(
            !ok && err.contains("--client names a client"),
            "{wrong}: {err}"
        );
    }
    let (ok, said, err) = revoke_person(&["--client", &mark[..12]], Some(&store));
    assert!(ok, "{err}");
    assert!(said.contains(&format!("client={}", &mark[..12])), "{said}");
    wait_until(|| called(&one, &alice) == 401 && called_beside(&two, &origin, &alice) == 401);
    let (status, answer) = refreshed(&two_origin, &id, &alice);
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    // The same person through another client is left as she is.
    assert_eq!(called_beside(&two, &origin, &other), 200);
    let (status, _) = refreshed(&two_origin, &other_id, &other);
    assert_eq!(status, 200);
}

#[test]
#[ignore = "needs redis-server from the distribution (NEXUS_REDIS; .ci/run installs it)"]
fn serve_revoke_person_client_ends_one_agents_session_alone_on_every_replica() {
    let (_redis, issuer, gateway, store) = stored();
    let args = ["--store", store.as_str()];
    let (one, origin, id, alice) = signed_in_tokens(&issuer, &gateway, "alice", &args);
    let (two, _) = replica(&issuer, &gateway, &origin, &args);
    let (three, _) = replica(&issuer, &gateway, &origin, &args);
    // Alice through another agent; bob through the same one.
    issuer.approve_as("alice");
    let (other_id, said) = signed_in_at(&one, &origin);
    let other = tokens_for(&origin, &other_id, &said["code"]);
    issuer.approve_as("bob");
    let said = common::front::signed_in_by(&origin, &id);
    let bob = tokens_for(&origin, &id, &said["code"]);
    let mark = common::front::mark(&id);
    let issuer_url = issuer.url();
    let listed = || common::front::sessions(&issuer_url, "alice", &store);
    // Each agent acting for her, listed: two, live.
    let before = listed();
    assert_eq!(before.lines().count(), 2, "{before}");
    assert!(
        before.contains(&format!("client={}", &mark[..12])),
        "{before}"
    );
    assert!(
        !before.contains(" ended") && before.contains("agent=\"Host\""),
        "{before}"
    );
    let person = [
        "--person",
        issuer_url.as_str(),
        "alice",
        "--client",
        &mark[..12],
    ];
    let (ok, said, err) = revoke_person(&person, Some(&store));
    assert!(ok, "{err}");
    assert!(
        said.contains("the session of client=") && said.contains("stay"),
        "{said}"
    );
    wait_until(|| {
        called(&one, &alice) == 401
            && called_beside(&two, &origin, &alice) == 401
            && called_beside(&three, &origin, &alice) == 401
    });
    // Her other agent, and the agent's other person: left as they are.
    assert_eq!(called_beside(&three, &origin, &other), 200);
    let after = listed();
    let ended: Vec<&str> = after
        .lines()
        .filter(|line| line.ends_with(" ended"))
        .collect();
    assert_eq!(ended.len(), 1, "{after}");
    assert!(
        ended[0].contains(&format!("client={}", &mark[..12])),
        "{after}"
    );
    assert_eq!(called_beside(&two, &origin, &bob), 200);
    // A session signed in again after it: taken.
    issuer.approve_as("alice");
    let said = common::front::signed_in_by(&origin, &id);
    let again = tokens_for(&origin, &id, &said["code"]);
    assert_eq!(called_beside(&two, &origin, &again), 200);
}

#[test]
#[ignore = "needs redis-server from the distribution (NEXUS_REDIS; .ci/run installs it)"]
fn a_code_is_redeemed_once_across_replicas() {
    let (_redis, issuer, gateway, store) = stored();
    let args = ["--store", store.as_str()];
    let (_one, origin, id, said) =
        common::front::signed_in_through(&issuer, &gateway, "alice", &args);
    let (_two, two_origin) = replica(&issuer, &gateway, &origin, &args);
    let code = said.get("code").expect("a code");
    let form = common::front::redemption(&id, code);
    let (status, first) = common::front::token_answer(&origin, &form);
    assert_eq!(status, 200, "{first}");
    // The same code at another replica: redeemed already.
    let (status, again) = common::front::token_answer(&two_origin, &form);
    assert_eq!(
        (status, again["error"].as_str()),
        (400, Some("invalid_grant")),
        "{again}"
    );
}
