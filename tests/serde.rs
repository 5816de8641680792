//! Feature `serde`: every data type round-trips through JSON, from values
//! the crate really produced against the FakeGateway.
#![cfg(feature = "serde")]

mod common;

use std::time::{Duration, UNIX_EPOCH};

use common::client;
use nexus_gateway_fake::{FakeConnection, FakeGateway, FakeProvider, FakeUpstream};
use nexus_sdk::{
    CachedToken, ConnectionStatus, FetchOptions, RequestConnectionInput, RevokeOptions, TokenCache,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(value: &T) -> Value {
    let json = serde_json::to_value(value).unwrap();
    let back: T = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(&back, value, "{json}");
    json
}

#[test]
fn cached_tokens_of_every_strategy_round_trip() {
    let gateway = FakeGateway::start();
    let providers = [
        ("oauth2", FakeProvider::oauth2("gho_x")),
        (
            "header",
            FakeProvider::header("X-API-Key", Some("Key "), "k"),
        ),
        ("basic_auth", FakeProvider::basic_auth("alice", "pw")),
        ("query_param", FakeProvider::query_param("api_key", "q")),
        #[cfg(feature = "signing")]
        (
            "hmac_payload",
            FakeProvider::hmac_payload("X-Sig", "s").config("algo", "sha1"),
        ),
        #[cfg(feature = "signing")]
        (
            "aws_sigv4",
            FakeProvider::aws_sigv4("AKID", "sk", "eu-west-1", "s3")
                .credential("session_token", "st"),
        ),
    ];
    let client = client(&gateway);
    for (name, provider) in providers {
        gateway.add_provider("ws", name, provider.expires_in(Duration::from_secs(600)));
        let token = client.resolve_token("ws", name).unwrap();
        let json = round_trip(&token);
        assert_eq!(json["strategy"], name);
        let expires = json["expires_at"].as_f64().expect("epoch seconds");
        let want = token
            .expires_at()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        assert!((expires - want).abs() < 1e-6, "{json}");
    }
}

#[test]
fn cached_token_json_is_flat_with_epoch_seconds() {
    let at = UNIX_EPOCH + Duration::from_micros(1_900_000_000_250_000);
    let token = CachedToken::bearer("t0k", at).with_header("X-Key", "");
    let json = round_trip(&token);
    assert_eq!(
        json,
        json!({"access_token": "t0k", "token_type": "X-Key", "expires_at": 1_900_000_000.25,
               "header_name": "X-Key", "value_prefix": "", "strategy": "header"})
    );
}

#[test]
fn a_stored_token_is_usable_after_a_restart() {
    // A CLI caches its token between runs: serialize, "restart", load, use.
    let gateway = FakeGateway::start();
    let upstream = FakeUpstream::start();
    gateway.add_provider("ws", "p", FakeProvider::query_param("key", "q-secret"));
    let client = client(&gateway);
    let saved = serde_json::to_string(&client.resolve_token("ws", "p").unwrap()).unwrap();
    let loaded: CachedToken = serde_json::from_str(&saved).unwrap();
    let cache = TokenCache::new();
    cache.set("ws", "p", loaded);
    let url = format!("{}/x", upstream.url());
    client
        .authenticated_fetch(&cache, "ws", "p", &url, FetchOptions::default())
        .unwrap();
    assert_eq!(
        upstream
            .last_request()
            .unwrap()
            .query_param("key")
            .as_deref(),
        Some("q-secret")
    );
    assert_eq!(
        gateway.requests(nexus_gateway_fake::Route::Resolve),
        1,
        "no second resolve"
    );
}

#[test]
fn inconsistent_token_records_are_refused() {
    let base = json!({"access_token": "t", "token_type": "Bearer", "expires_at": 1.0e9,
                      "header_name": "Authorization", "value_prefix": "Bearer ", "strategy": "oauth2"});
    let broken = [
        ("strategy", json!("kerberos")),
        ("strategy", json!("query_param")),
        ("strategy", json!("hmac_payload")),
        ("strategy", json!("aws_sigv4")),
        ("expires_at", json!("tomorrow")),
        ("expires_at", json!(1e300)),
        ("access_token", json!(5)),
    ];
    for (key, value) in broken {
        let mut record = base.clone();
        record[key] = value.clone();
        let err = serde_json::from_value::<CachedToken>(record).unwrap_err();
        assert!(!err.to_string().contains("\"t\""), "{err}");
    }
    let ok: CachedToken = serde_json::from_value(base).unwrap();
    assert_eq!(
        ok.expires_at(),
        UNIX_EPOCH + Duration::from_secs(1_000_000_000)
    );
}

#[test]
fn far_future_expiries_the_resolver_accepts_read_back() {
    let gateway = FakeGateway::start();
    let client = client(&gateway);
    let strategies = [
        FakeProvider::oauth2("gho_x"),
        FakeProvider::header("X-API-Key", None, "k"),
        FakeProvider::basic_auth("alice", "pw"),
        FakeProvider::query_param("api_key", "q"),
        #[cfg(feature = "signing")]
        FakeProvider::hmac_payload("X-Sig", "s"),
        #[cfg(feature = "signing")]
        FakeProvider::aws_sigv4("AKID", "sk", "eu-west-1", "s3"),
    ];
    let expiries = [
        "99999999999",
        "1e20",
        "9999999999999999",
        "9999-12-31T23:59:59Z",
    ];
    for (i, provider) in strategies.into_iter().enumerate() {
        for (j, expiry) in expiries.iter().enumerate() {
            let name = format!("p{i}-{j}");
            let far = provider
                .clone()
                .no_expiry()
                .credential("expires_at", expiry);
            gateway.add_provider("ws", &name, far);
            let token = client.resolve_token("ws", &name).unwrap();
            let json = serde_json::to_value(&token).unwrap();
            let back: CachedToken = serde_json::from_value(json.clone())
                .unwrap_or_else(|e| panic!("{name} {expiry}: {e}: {json}"));
            assert_eq!(back, token, "{name} {expiry}");
        }
    }
}

#[test]
fn connection_records_round_trip() {
    let gateway = FakeGateway::start();
    gateway.add_connection(
        common::C,
        FakeConnection::active("github", "gho_c").workspace("ws"),
    );
    gateway.register_provider("github");
    let client = client(&gateway);
    let input = RequestConnectionInput::new("u-1", "github")
        .scopes(["repo"])
        .return_url("https://app.example/done")
        .metadata(json!({"team": 7}).as_object().unwrap().clone());
    round_trip(&input);
    round_trip(&client.request_connection(&input).unwrap());
    round_trip(&client.get_token_by_connection_id(common::C).unwrap());
    round_trip(&client.refresh_connection(common::C).unwrap());
    let options = RevokeOptions::default().workspace_id("ws").reason("done");
    round_trip(&options);
    round_trip(&client.revoke_connection(common::C, &options).unwrap());
    // Defaults fill what a stored record leaves out.
    let partial: RevokeOptions = serde_json::from_value(json!({"reason": "r"})).unwrap();
    assert_eq!(partial, RevokeOptions::default().reason("r"));
}

#[test]
fn statuses_are_their_gateway_strings() {
    for (status, text) in [
        (ConnectionStatus::Active, "active"),
        (ConnectionStatus::Pending, "pending"),
        (ConnectionStatus::Failed, "failed"),
        (ConnectionStatus::Revoked, "revoked"),
        (ConnectionStatus::Other("expired".into()), "expired"),
    ] {
        assert_eq!(round_trip(&status), json!(text));
    }
}
