//! A revocation signal is never lost to a store that restarted: taking one
//! twice revokes twice, so a Global Token Revocation request or a SET
//! answered 503 while Redis was down, and retried once it came back empty,
//! takes effect, and a fresh signal in the minute after does too; a replay
//! is still refused while the store remembers it. On the poll path, a SET
//! is acknowledged only once its revocation is written: one the store could
//! not take comes again and takes effect. Through the program, with two
//! replicas and a real Redis restarted without its data; the signals signed
//! by the test with the provider's key.

mod common;

use common::front::{called, called_beside, replica, signed_in_at, signed_in_tokens, stored};
use common::front::{ssf_connect, tokens_for};
use common::served::{Served, free_port, wait_until};
use common::signals::{
    ACCOUNT_DISABLED, SESSION_REVOKED, iss_sub, logout, logout_jwt, pushed, set_of,
};
use serde_json::json;

#[test]
#[ignore = "needs redis-server from the distribution (NEXUS_REDIS; .ci/run installs it)"]
fn a_signal_answered_503_takes_effect_when_retried_after_the_store_came_back_empty() {
    let (mut redis, issuer, gateway, store) = stored();
    let transmitter = issuer.url();
    let args = ["--store", &store, "--ssf-transmitter", &transmitter];
    let (one, origin, _, alice) = signed_in_tokens(&issuer, &gateway, "alice", &args);
    let (two, _) = replica(&issuer, &gateway, &origin, &args);
    let stream = ssf_connect(&origin, &transmitter, "okta-api-token", false);
    let push = common::signals::push_authorization(&issuer, &stream);
    let signed_in = |person: &str| {
        issuer.approve_as(person);
        let (id, said) = signed_in_at(&one, &origin);
        tokens_for(&origin, &id, &said["code"])
    };
    let (bob, carol, dave) = (signed_in("bob"), signed_in("carol"), signed_in("dave"));
    // The store down: each signal answered 503, nothing done.
    redis.stop();
    let jwt = issuer.mint(&logout_jwt(&origin, "alice-out"));
    let (status, _) = logout(&origin, Some(&jwt), &iss_sub(&issuer, "alice"));
    assert_eq!(status, 503);
    let set = issuer.mint(&set_of(
        &issuer,
        (SESSION_REVOKED, "bob"),
        (&origin, "bob-out"),
    ));
    assert_eq!(pushed(&origin, Some(&push), &set).0, 503);
    // Back, empty, as a Redis without persistence restarts.
    redis.emptied();
    wait_until(|| logout(&origin, Some(&jwt), &iss_sub(&issuer, "alice")).0 == 204);
    wait_until(|| pushed(&origin, Some(&push), &set).0 == 202);
    wait_until(|| called(&one, &alice) == 401 && called_beside(&two, &origin, &alice) == 401);
    wait_until(|| called(&one, &bob) == 401 && called_beside(&two, &origin, &bob) == 401);
    // Once the replicas have read the emptied store (they say so), a fresh
    // signal, issued moments ago, takes effect too.
    two.said_once(|said| said.contains("the store was emptied"));
    let fresh = issuer.mint(&logout_jwt(&origin, "carol-out"));
    let (status, answer) = logout(&origin, Some(&fresh), &iss_sub(&issuer, "carol"));
    assert_eq!(status, 204, "{answer}");
    let fresh = issuer.mint(&set_of(
        &issuer,
        (ACCOUNT_DISABLED, "dave"),
        (&origin, "dave-out"),
    ));
    let (status, answer) = pushed(&origin, Some(&push), &fresh);
    assert_eq!(status, 202, "{answer}");
    wait_until(|| called_beside(&two, &origin, &carol) == 401);
    wait_until(|| called_beside(&two, &origin, &dave) == 401);
    // A replay is still refused while the store remembers it.
    let (status, _) = logout(&origin, Some(&jwt), &iss_sub(&issuer, "alice"));
    assert_eq!(status, 401);
    let (status, answer) = pushed(&origin, Some(&push), &set);
    assert_eq!(
        (status, answer["err"].as_str()),
        (400, Some("invalid_request"))
    );
}

/// Seconds since the Unix epoch.
fn now() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    i64::try_from(since.expect("after 1970").as_secs()).expect("in range")
}

#[test]
#[ignore = "needs redis-server from the distribution (NEXUS_REDIS; .ci/run installs it)"]
fn a_signal_revokes_as_of_its_own_time_so_a_replay_takes_nothing_granted_since() {
    let (mut redis, issuer, gateway, store) = stored();
    let transmitter = issuer.url();
    let args = ["--store", &store, "--ssf-transmitter", &transmitter];
    let (one, origin, _, alice) = signed_in_tokens(&issuer, &gateway, "alice", &args);
    let (two, _) = replica(&issuer, &gateway, &origin, &args);
    let stream = ssf_connect(&origin, &transmitter, "okta-api-token", false);
    let push = common::signals::push_authorization(&issuer, &stream);
    issuer.approve_as("bob");
    let (id, said) = signed_in_at(&one, &origin);
    let bob = tokens_for(&origin, &id, &said["code"]);
    // Each signal made 200 s before the sign-ins (past the 60 s allowed
    // for clocks): taken, and taking nothing granted since.
    let made = now() - 200;
    let logout_old = logout_jwt(&origin, "alice-then").claim("iat", json!(made));
    let jwt = issuer.mint(&logout_old.expires_in(60));
    let set = set_of(&issuer, (SESSION_REVOKED, "bob"), (&origin, "bob-then"));
    let set = issuer.mint(&set.claim("iat", json!(made)));
    let taken = || {
        let (status, answer) = logout(&origin, Some(&jwt), &iss_sub(&issuer, "alice"));
        assert_eq!(status, 204, "{answer}");
        let (status, answer) = pushed(&origin, Some(&push), &set);
        assert_eq!(status, 202, "{answer}");
    };
    taken();
    let kept = |tokens: &serde_json::Value| {
        called(&one, tokens) == 200 && called_beside(&two, &origin, tokens) == 200
    };
    assert!(kept(&alice) && kept(&bob), "made after the signals: kept");
    // The store forgets them (a Redis without persistence restarted): the
    // same signals, taken again, still take nothing granted since.
    redis.emptied();
    two.said_once(|said| said.contains("the store was emptied"));
    taken();
    assert!(
        kept(&alice) && kept(&bob),
        "a replay after the store forgot: kept"
    );
    // A signal made now takes them out, on both replicas.
    let fresh = issuer.mint(&logout_jwt(&origin, "alice-now"));
    assert_eq!(
        logout(&origin, Some(&fresh), &iss_sub(&issuer, "alice")).0,
        204
    );
    wait_until(|| called(&one, &alice) == 401 && called_beside(&two, &origin, &alice) == 401);
    assert!(kept(&bob), "bob's signal was older than his sign-in");
}

#[test]
#[ignore = "needs redis-server from the distribution (NEXUS_REDIS; .ci/run installs it)"]
fn a_polled_set_the_store_could_not_take_comes_again_and_takes_effect() {
    let (mut redis, issuer, gateway, store) = stored();
    let transmitter = issuer.url();
    let port = free_port();
    let origin = format!("http://127.0.0.1:{port}");
    issuer.add_client("nexus-login", &format!("{origin}/connect/callback"));
    let args = [
        "--oauth-proxy",
        "--login-client-id",
        "nexus-login",
        "--store",
        &store,
        "--ssf-transmitter",
        &transmitter,
    ];
    let mut command = common::served::command(&gateway, &transmitter, port, &args);
    command.env("NEXUS_MCP_SSF_TOKEN", "okta-api-token");
    let one = Served::ready(command.spawn().expect("nexus-mcp"), port);
    issuer.approve_as("alice");
    let (id, said) = signed_in_at(&one, &origin);
    let alice = tokens_for(&origin, &id, &said["code"]);
    ssf_connect(&origin, &transmitter, "okta-api-token", true);
    redis.stop();
    let alice_out = json!({"format": "iss_sub", "iss": transmitter, "sub": "alice"});
    let queued = issuer.ssf_emit(ACCOUNT_DISABLED, alice_out);
    assert!(queued[0]["queued"].is_string(), "{queued:?}");
    // Polled while the store is down: not taken, and not acknowledged.
    let said = one.said_once(|said| said.contains("account-disabled: who="));
    assert!(said.contains("unavailable"), "{said}");
    assert_eq!(called(&one, &alice), 200, "nothing was done");
    redis.emptied();
    wait_until(|| called(&one, &alice) == 401);
}

/// A transmitter that takes every connection and never answers: each
/// connection held, and whether any was given up by its client yet.
struct Hanging {
    url: String,
    held: std::sync::Arc<std::sync::Mutex<Vec<std::net::TcpStream>>>,
}

impl Hanging {
    fn start() -> Hanging {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let held: std::sync::Arc<std::sync::Mutex<Vec<std::net::TcpStream>>> = Default::default();
        let kept = std::sync::Arc::clone(&held);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                kept.lock().unwrap().push(stream);
            }
        });
        Hanging { url, held }
    }

    /// How many connections it holds that their client has not given up.
    fn waiting(&self) -> usize {
        let held = self.held.lock().unwrap();
        let open = |stream: &&std::net::TcpStream| {
            stream.set_nonblocking(true).unwrap();
            let mut byte = [0u8; 1];
            // Nothing to read yet is open; 0 bytes is closed by the client.
            matches!(stream.peek(&mut byte), Err(ref e) if e.kind() == std::io::ErrorKind::WouldBlock)
                || stream.peek(&mut byte).is_ok_and(|read| read > 0)
        };
        held.iter().filter(open).count()
    }
}

#[test]
#[ignore = "needs redis-server from the distribution (NEXUS_REDIS; .ci/run installs it)"]
fn a_transmitter_that_never_answers_holds_back_no_other_transmitters_revocations() {
    let (_redis, issuer, gateway, store) = stored();
    let hanging = Hanging::start();
    let transmitter = issuer.url();
    let port = free_port();
    let origin = format!("http://127.0.0.1:{port}");
    issuer.add_client("nexus-login", &format!("{origin}/connect/callback"));
    // The hanging one first: polled one after the other, it would hold the
    // other back for as long as each of its exchanges may take (10 s).
    let args = [
        "--oauth-proxy",
        "--login-client-id",
        "nexus-login",
        "--store",
        &store,
        "--ssf-transmitter",
        &hanging.url,
        "--ssf-transmitter",
        &transmitter,
    ];
    let mut command = common::served::command(&gateway, &transmitter, port, &args);
    command.env("NEXUS_MCP_SSF_TOKEN", "okta-api-token");
    let one = Served::ready(command.spawn().expect("nexus-mcp"), port);
    issuer.approve_as("alice");
    let (id, said) = signed_in_at(&one, &origin);
    let alice = tokens_for(&origin, &id, &said["code"]);
    ssf_connect(&origin, &transmitter, "okta-api-token", true);
    wait_until(|| hanging.waiting() > 0);
    let alice_out = json!({"format": "iss_sub", "iss": transmitter, "sub": "alice"});
    issuer.ssf_emit(ACCOUNT_DISABLED, alice_out);
    wait_until(|| called(&one, &alice) == 401);
    // Revoked while the hanging transmitter's first exchange still waits.
    assert!(
        hanging.waiting() > 0,
        "the other transmitter's poll waited for it"
    );
}

#[test]
#[ignore = "needs redis-server from the distribution (NEXUS_REDIS; .ci/run installs it)"]
fn every_replica_restarted_with_a_store_that_kept_nothing_takes_no_earlier_token_on_trust() {
    let (mut redis, issuer, gateway, store) = stored();
    let args = ["--store", store.as_str()];
    let (one, origin, _, alice) = signed_in_tokens(&issuer, &gateway, "alice", &args);
    let (two, _) = replica(&issuer, &gateway, &origin, &args);
    issuer.approve_as("bob");
    let (id, said) = signed_in_at(&one, &origin);
    let bob = tokens_for(&origin, &id, &said["code"]);
    let revoked = [
        "revoke",
        "--person",
        &issuer.url(),
        "alice",
        "--store",
        &store,
    ];
    common::front::operated(&revoked, &[]);
    wait_until(|| called_beside(&two, &origin, &alice) == 401);
    // `--check` and the start line say what the store keeps.
    let said = checked(&gateway, &issuer, &store);
    assert!(
        said.contains("keeps its data across its restart (appendonly yes"),
        "{said}"
    );
    redis.ask(&["CONFIG", "SET", "appendonly", "no"]);
    let said = checked(&gateway, &issuer, &store);
    assert!(said.contains("keeps nothing across its restart"), "{said}");
    // The careless restart: every replica, and a Redis without persistence.
    drop((one, two));
    redis.emptied();
    // Started again where the first one was.
    let port = origin.rsplit(':').next().unwrap().parse().unwrap();
    let proxy = [
        "--oauth-proxy",
        "--login-client-id",
        "nexus-login",
        "--store",
        &store,
    ];
    let command = common::served::command(&gateway, &issuer.url(), port, &proxy).spawn();
    let three = Served::ready(command.expect("nexus-mcp"), port);
    let said = three.said_once(|said| said.contains("keeps"));
    assert!(said.contains("appendonly"), "{said}");
    let said = three.said_once(|said| said.contains("the store begins now"));
    assert!(
        said.contains("every sign-in made before now is refused"),
        "{said}"
    );
    // Alice's revocation was lost with the store: her old token is not
    // taken on trust, and neither is anyone's issued before.
    assert_eq!(called(&three, &alice), 401);
    assert_eq!(called(&three, &bob), 401);
    // What is granted now holds.
    issuer.approve_as("bob");
    let (id, said) = signed_in_at(&three, &origin);
    let again = tokens_for(&origin, &id, &said["code"]);
    assert_eq!(called(&three, &again), 200);
}

/// What `serve --check` with the store `store` says on stderr.
fn checked(
    gateway: &nexus_gateway_fake::FakeGateway,
    issuer: &nexus_gateway_fake::FakeIssuer,
    store: &str,
) -> String {
    let port = free_port();
    issuer.add_client(
        "nexus-check",
        &format!("http://127.0.0.1:{port}/connect/callback"),
    );
    let args = [
        "--oauth-proxy",
        "--login-client-id",
        "nexus-check",
        "--store",
        store,
        "--check",
    ];
    let out = common::served::command(gateway, &issuer.url(), port, &args).output();
    String::from_utf8_lossy(&out.expect("nexus-mcp").stderr).into_owned()
}
