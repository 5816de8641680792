//! `serve --person-rate N --store` (#111, 3): each person's limit is the
//! team's, not each replica's: three replicas sharing a real redis-server
//! let a person N calls a minute between them (they let 3N before); the
//! store stopped, each replica lets a person its share of N (N over the
//! replicas it last counted), said once in its log and counted
//! (`nexus_mcp_person_rate_checks_total{by}`); answering again, the store
//! counts once more.

mod common;

use common::redis::Redis;
use common::served::{Served, fakes, free_port, series, token};
use serde_json::json;

/// The limit the replicas are given.
const LIMIT: usize = 12;

#[test]
#[ignore = "needs redis-server from the distribution (NEXUS_REDIS; .ci/run installs it)"]
fn a_persons_limit_holds_across_three_replicas_and_a_store_down_leaves_each_its_share() {
    let mut redis = Redis::start();
    let (issuer, gateway, api) = fakes(&["alice", "bob", "carol"], "gho_team");
    let (store, limit) = (redis.url(), LIMIT.to_string());
    let metrics = format!("127.0.0.1:{}", free_port());
    let args = ["--store", store.as_str(), "--person-rate", limit.as_str()];
    let first = [&args[..], &["--metrics-listen", metrics.as_str()]].concat();
    let replicas: Vec<Served> = [&first[..], &args[..], &args[..]]
        .into_iter()
        .map(|args| Served::start(&gateway, &issuer, args))
        .collect();
    let fetch = json!({"provider": "github", "url": format!("{}/user", api.url())});
    // `person`'s `calls` calls, turn by turn on each replica: those that
    // were answered, and the refusals' texts.
    let calls = |person: &str, calls: usize| {
        let tokens: Vec<String> = (replicas.iter())
            .map(|served| token(&issuer, served, person))
            .collect();
        let (mut answered, mut refused) = (0, Vec::new());
        for n in 0..calls {
            let (served, token) = (&replicas[n % 3], &tokens[n % 3]);
            let (status, answer) = served.call(token, "authenticated_fetch", fetch.clone());
            assert_eq!(status, 200, "{answer}");
            match answer["result"]["isError"].as_bool() {
                Some(false) => answered += 1,
                _ => refused.push(answer["result"]["content"][0]["text"].to_string()),
            }
        }
        (answered, refused)
    };
    let sent = api.request_count();
    let (answered, refused) = calls("alice", 3 * LIMIT);
    assert_eq!(
        answered, LIMIT,
        "the limit between three replicas: {refused:?}"
    );
    assert!(
        refused
            .iter()
            .all(|r| r.contains("rate_limited") && r.contains(" s")),
        "{refused:?}"
    );
    assert_eq!(
        api.request_count(),
        sent + LIMIT,
        "nothing sent past the limit"
    );
    assert_eq!(calls("bob", 3).0, 3, "another person is unaffected");
    assert!(series(&metrics, "nexus_mcp_person_rate_checks_total{by=\"store\"}").is_some());
    redis.stop();
    // Down: each replica lets Carol its share, LIMIT over three replicas.
    let (answered, _) = calls("carol", 3 * LIMIT);
    assert_eq!(answered, LIMIT / 3 * 3, "each replica its share");
    for served in &replicas {
        let said =
            served.said_once(|said| said.contains("--person-rate: the store does not answer"));
        assert!(
            said.contains("4 of 12 calls a minute (3 replicas counted last)"),
            "{said}"
        );
    }
    let shared = series(&metrics, "nexus_mcp_person_rate_checks_total{by=\"share\"}");
    assert!(shared.is_some_and(|n| n != "0"), "counted by share");
    redis.start_again();
    let (answered, _) = calls("carol", 3);
    assert_eq!(answered, 3, "counted in the store again, from nothing");
    replicas[0].said_once(|said| said.contains("--person-rate: the store answers again"));
}
