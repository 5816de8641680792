//! `serve --oauth-proxy --store`: refresh tokens that cannot be replayed,
//! across replicas (RFC 9700 §4.14.2), with a real redis-server from the
//! distribution as the store every replica shares: a refresh token used
//! twice, on any replica, revokes its sign-in's every token on every
//! replica; a store that stops refuses refreshes for a while (never
//! accepting one unchecked) while access tokens keep working; started
//! again, it answers as before. And a sign-in that ends.

mod common;

use common::front::{refreshed, replica, signed_in_tokens};
use common::redis::Redis;
use common::served::{Served, command, free_port, series};
use nexus_gateway_fake::{FakeGateway, FakeIssuer, FakeProvider};
use serde_json::{Value, json};

const PROXY: [&str; 3] = ["--oauth-proxy", "--login-client-id", "nexus-login"];

/// Alice signed in through replica one (with `args`), her code redeemed:
/// the replica, its origin, her client id, and her tokens.
fn alice(
    issuer: &FakeIssuer,
    gateway: &FakeGateway,
    args: &[&str],
) -> (Served, String, String, Value) {
    let workspace = common::served::workspace_of(&issuer.url(), "alice");
    gateway.add_provider(&workspace, "github", FakeProvider::oauth2("gho_a"));
    signed_in_tokens(issuer, gateway, "alice", args)
}

#[test]
#[ignore = "needs redis-server from the distribution (NEXUS_REDIS; .ci/run installs it)"]
fn a_refresh_token_used_twice_on_any_replica_revokes_its_sign_in_on_every_replica() {
    let redis = Redis::start();
    let (issuer, gateway) = (FakeIssuer::start(), FakeGateway::start());
    let store = redis.url();
    let args = ["--store", store.as_str()];
    let (one, origin, id, first) = alice(&issuer, &gateway, &args);
    one.said_once(|said| said.contains("reuse is detected across replicas in redis://127.0.0.1"));
    let (_two, two) = replica(&issuer, &gateway, &origin, &args);
    let (three_served, three) = replica(&issuer, &gateway, &origin, &args);
    // The host refreshes on replica two: rotated.
    let (status, second) = refreshed(&two, &id, &first);
    assert_eq!(status, 200, "{second}");
    // A stolen copy of the first, on replica three: refused, and the sign-in revoked.
    let (status, replayed) = refreshed(&three, &id, &first);
    assert_eq!(
        (status, replayed["error"].as_str()),
        (400, Some("invalid_grant")),
        "{replayed}"
    );
    three_served.said_once(|said| said.contains("was used after it was replaced"));
    // The host's live successor, on replica one: refused too.
    let (status, live) = refreshed(&origin, &id, &second);
    assert_eq!(
        (status, live["error"].as_str()),
        (400, Some("invalid_grant")),
        "{live}"
    );
    assert!(
        live["error_description"]
            .as_str()
            .unwrap_or_default()
            .contains("revoked"),
        "{live}"
    );
    // Its access tokens too, the live successor's included, on every
    // replica (RFC 9700 §4.14.2).
    for tokens in [&first, &second] {
        let access = tokens["access_token"].as_str().unwrap();
        common::served::wait_until(|| one.call(access, "list_providers", json!({})).0 == 401);
    }
    // Another sign-in's family is its own: Bob refreshes on any replica.
    let bob_workspace = common::served::workspace_of(&issuer.url(), "bob");
    gateway.add_provider(&bob_workspace, "github", FakeProvider::oauth2("gho_b"));
    let (_four, four_origin, bob_id, bob) = signed_in_tokens(&issuer, &gateway, "bob", &args);
    let (status, rotated) = refreshed(&two, &bob_id, &bob);
    assert_eq!(status, 200, "{rotated}");
    let (status, again) = refreshed(&four_origin, &bob_id, &rotated);
    assert_eq!(status, 200, "{again}");
    // Nothing but a generation, the revocation list, what the replicas
    // serve, when the store's memory began (and what it takes on trust),
    // that each person signed in (their 12 digits), and each code redeemed
    // by its hash for its minute, is kept: no token in the store.
    let kept = redis.ask(&["KEYS", "*"]);
    let (families, others): (Vec<_>, Vec<_>) =
        (kept.iter()).partition(|key| key.starts_with("nexus-mcp:family:"));
    assert_eq!(families.len(), 2, "one family per sign-in: {kept:?}");
    let (spent, others): (Vec<_>, Vec<_>) =
        (others.into_iter()).partition(|key| key.starts_with("nexus-mcp:jti:"));
    let hashed = |key: &&String| {
        let hash = key.trim_start_matches("nexus-mcp:jti:");
        hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit())
    };
    assert!(
        spent.len() == 2 && spent.iter().all(hashed),
        "the codes, hashed: {kept:?}"
    );
    let (seen, others): (Vec<_>, Vec<_>) =
        (others.into_iter()).partition(|key| key.starts_with("nexus-mcp:seen:"));
    let digits = |key: &&String| key.trim_start_matches("nexus-mcp:seen:").len() == 12;
    assert!(
        seen.len() == 2 && seen.iter().all(digits),
        "each person: {kept:?}"
    );
    // Each person's agents (`serve sessions`), by the person's mark.
    let (sessions, others): (Vec<_>, Vec<_>) =
        (others.into_iter()).partition(|key| key.starts_with("nexus-mcp:sessions:"));
    let marked = |key: &&String| key.trim_start_matches("nexus-mcp:sessions:").len() == 12;
    assert!(
        sessions.len() == 2 && sessions.iter().all(marked),
        "each person's agents: {kept:?}"
    );
    for key in &sessions {
        let held = redis.ask(&["HVALS", key.as_str()]).join(" ");
        assert!(
            held.contains("\"client\"") && !held.contains("alice"),
            "{held}"
        );
    }
    // When each person's agents last called, by the person's mark: the
    // agents' marks and times, nothing else.
    let (called, mut others): (Vec<_>, Vec<_>) =
        (others.into_iter()).partition(|key| key.starts_with("nexus-mcp:called:"));
    let marked = |key: &&String| key.trim_start_matches("nexus-mcp:called:").len() == 12;
    assert!(
        called.len() <= 2 && called.iter().all(marked),
        "each person's agents' last calls: {kept:?}"
    );
    for key in &called {
        let held = redis.ask(&["HGETALL", key.as_str()]);
        let digits = |s: &String| s.bytes().all(|b| b.is_ascii_hexdigit());
        assert!(!held.is_empty() && held.iter().all(digits), "{held:?}");
    }
    others.sort();
    let began = ["nexus-mcp:epoch", "nexus-mcp:floor", "nexus-mcp:known-from"];
    let expected = [&began[..], &["nexus-mcp:revoked", "nexus-mcp:served"]].concat();
    assert_eq!(others, expected, "{kept:?}");
    let served = redis.ask(&["ZRANGE", "nexus-mcp:served", "0", "-1"]);
    assert!(
        served.iter().all(|s| s.contains("\"subject_claim\"")),
        "{served:?}"
    );
    let listed = redis.ask(&["ZRANGE", "nexus-mcp:revoked", "0", "-1"]);
    assert_eq!(listed.len(), 1, "the reused family alone: {listed:?}");
    assert!(listed[0].starts_with("family:"), "{listed:?}");
}

#[test]
#[ignore = "needs redis-server from the distribution (NEXUS_REDIS; .ci/run installs it)"]
fn with_the_store_stopped_a_refresh_waits_and_access_tokens_keep_working() {
    let mut redis = Redis::start();
    let (issuer, gateway) = (FakeIssuer::start(), FakeGateway::start());
    let store = redis.url();
    let args = ["--store", store.as_str()];
    let (one, origin, id, tokens) = alice(&issuer, &gateway, &args);
    redis.stop();
    let (status, refused) = refreshed(&origin, &id, &tokens);
    assert_eq!(
        (status, refused["error"].as_str()),
        (503, Some("temporarily_unavailable")),
        "{refused}"
    );
    one.said_once(|said| said.contains("the store does not answer"));
    let access = tokens["access_token"].as_str().expect("an access token");
    assert_eq!(
        one.call(access, "list_providers", json!({})).0,
        200,
        "access works"
    );
    // serve --check names the store that does not answer.
    let port = free_port();
    let check = [&PROXY[..], &args, &["--check"]].concat();
    issuer.add_client(
        "nexus-login",
        &format!("http://127.0.0.1:{port}/connect/callback"),
    );
    let out = command(&gateway, &issuer.url(), port, &check)
        .output()
        .expect("nexus-mcp");
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(
        said.contains("--store") && said.contains("does not answer"),
        "{said}"
    );
    // Started again: the refresh token was never spent while it was down.
    redis.start_again();
    let mut answered = refreshed(&origin, &id, &tokens);
    for _ in 0..50 {
        if answered.0 != 503 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        answered = refreshed(&origin, &id, &tokens);
    }
    assert_eq!(answered.0, 200, "{}", answered.1);
    let out = command(&gateway, &issuer.url(), port, &check)
        .output()
        .expect("nexus-mcp");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!said.contains("--store"), "{said}");
}

#[test]
#[ignore = "needs redis-server from the distribution (NEXUS_REDIS; .ci/run installs it)"]
fn a_running_replica_says_at_once_when_its_store_stops_answering_and_when_it_answers_again() {
    let mut redis = Redis::start();
    let (issuer, gateway) = (FakeIssuer::start(), FakeGateway::start());
    let (store, metrics) = (redis.url(), format!("127.0.0.1:{}", free_port()));
    let args = [
        "--store",
        store.as_str(),
        "--metrics-listen",
        metrics.as_str(),
    ];
    let (one, origin, _id, _tokens) = alice(&issuer, &gateway, &args);
    assert_eq!(series(&metrics, "nexus_mcp_store_up").as_deref(), Some("1"));
    redis.stop();
    // Said without a sign-in or a refresh asking: the replica watches it.
    let said =
        one.said_once(|said| said.contains("does not answer") && said.contains("until it answers"));
    assert!(
        said.contains("stays ready") && said.contains(&store),
        "{said}"
    );
    assert_eq!(series(&metrics, "nexus_mcp_store_up").as_deref(), Some("0"));
    let (ready, _, _) = Served::get_url(&format!("{origin}/readyz"));
    assert_eq!(ready, 200, "readiness stays the replica's own");
    redis.start_again();
    one.said_once(|said| said.contains(&format!("the store {store} answers again")));
    assert_eq!(series(&metrics, "nexus_mcp_store_up").as_deref(), Some("1"));
}

#[test]
fn without_a_store_one_replica_catches_a_reuse_and_says_it_is_alone() {
    let (issuer, gateway) = (FakeIssuer::start(), FakeGateway::start());
    let (one, origin, id, first) = alice(&issuer, &gateway, &[]);
    one.said_once(|said| said.contains("reuse is detected on this replica alone"));
    let (status, second) = refreshed(&origin, &id, &first);
    assert_eq!(status, 200, "{second}");
    let (status, _) = refreshed(&origin, &id, &first);
    assert_eq!(status, 400, "the first again: a replay");
    let (status, live) = refreshed(&origin, &id, &second);
    assert_eq!(status, 400, "the family revoked: {live}");
}

#[test]
#[ignore = "needs libfaketime from the distribution (NEXUS_FAKETIME; .ci/run installs it)"]
fn a_sign_in_past_its_life_refreshes_no_more_on_any_replica() {
    let (issuer, gateway) = (FakeIssuer::start(), FakeGateway::start());
    // A provider that gives the login no refresh token (Okta, for an app
    // without the Refresh Token grant): the sign-in's life is what bounds
    // it. Replicas whose clocks read later than replica one's: the life is
    // counted from the sign-in, whatever refreshed it since.
    issuer.no_refresh_tokens("nexus-login");
    let later = |origin: &str, by: &str, args: &[&str]| {
        let port = free_port();
        let public = format!("{origin}/mcp");
        let all = [&PROXY[..], args, &["--public-url", &public]].concat();
        let mut command = command(&gateway, &issuer.url(), port, &all);
        common::served::moved_clock(&mut command, by);
        let served = Served::ready(command.spawn().expect("nexus-mcp"), port);
        (served, format!("http://127.0.0.1:{port}"))
    };
    let life = ["--sign-in-life", "2h"];
    let (_one, origin, id, first) = alice(&issuer, &gateway, &life);
    assert!(first["expires_in"].as_u64().unwrap() <= 3600);
    let (_soon, soon) = later(&origin, "+90m", &life);
    let (status, second) = refreshed(&soon, &id, &first);
    assert_eq!(status, 200, "within its life: {second}");
    let (_past, past) = later(&origin, "+3h", &life);
    let (status, ended) = refreshed(&past, &id, &second);
    assert_eq!(
        (status, ended["error"].as_str()),
        (400, Some("invalid_grant")),
        "{ended}"
    );
    // The default life is a week: past it, the person signs in again,
    // however often the host refreshed (the refresh token alone held 14 days).
    let bob_workspace = common::served::workspace_of(&issuer.url(), "bob");
    gateway.add_provider(&bob_workspace, "github", FakeProvider::oauth2("gho_b"));
    let (_bob, bob_origin, bob_id, bob) = signed_in_tokens(&issuer, &gateway, "bob", &[]);
    let (_six, six) = later(&bob_origin, "+6d", &[]);
    let (status, rotated) = refreshed(&six, &bob_id, &bob);
    assert_eq!(status, 200, "{rotated}");
    let (_eight, eight) = later(&bob_origin, "+8d", &[]);
    let (status, ended) = refreshed(&eight, &bob_id, &rotated);
    assert_eq!(
        (status, ended["error"].as_str()),
        (400, Some("invalid_grant")),
        "{ended}"
    );
}

#[test]
fn a_sign_in_life_the_program_cannot_hold_is_refused_naming_the_flag() {
    let (issuer, gateway) = (FakeIssuer::start(), FakeGateway::start());
    for life in ["0d", "401d", "7", "1w", "-1d", "30m"] {
        let flag = format!("--sign-in-life={life}");
        let args = [&PROXY[..], &[flag.as_str()]].concat();
        let out = command(&gateway, &issuer.url(), free_port(), &args)
            .output()
            .expect("nexus-mcp");
        let said = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{life}: {said}");
        assert!(said.contains("--sign-in-life"), "{said}");
    }
}
