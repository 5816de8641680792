//! Errors that blame the right party and say what to do: a redirect's hop
//! is not blamed as the provider's API; an expired token, a second 401, a
//! static credential and a token shorter than the buffer say what they
//! are; a timeout names `NEXUS_TIMEOUT`; a 429 gives its wait; a plain-text
//! 4xx names the Gateway.

use crate::common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{capture_logs, log_lines_with, refused_url};
use nexus_gateway_fake::{
    FakeConnection, FakeGateway, FakeProvider, FakeReply, FakeUpstream, Fault, RateLimits, Route,
};
use nexus_sdk::{CredentialScope, FetchOptions, NexusClient, NexusClientOptions, TokenCache, code};
use serde_json::json;

fn client(gateway: &FakeGateway) -> NexusClient {
    let options =
        NexusClientOptions::new(gateway.url()).credential_scope(CredentialScope::anywhere());
    NexusClient::new(options.timeout(Duration::from_secs(10))).unwrap()
}

#[test]
fn a_failing_hop_a_redirect_led_to_is_not_blamed_as_the_providers_api() {
    let (gateway, api) = (FakeGateway::start(), FakeUpstream::start());
    let token = FakeProvider::oauth2("gho_hop_0123456789");
    gateway.add_provider("ws", "github", token.api_base_url(&api.url()));
    let nowhere = refused_url();
    api.set_reply(
        "/moved",
        FakeReply::new(302).header("Location", &format!("{nowhere}/x")),
    );
    let url = format!("{}/moved", api.url());
    let err = client(&gateway)
        .authenticated_fetch(
            &TokenCache::new(),
            "ws",
            "github",
            &url,
            FetchOptions::default(),
        )
        .unwrap_err();
    let said = format!("{nowhere}, where the API of provider `github` redirected");
    assert!(err.message.contains(&said), "{}", err.message);
    let blamed = format!("the API of provider `github` at {nowhere}");
    assert!(!err.message.contains(&blamed), "{}", err.message);
}

/// A credential the Gateway hands out already expired, on its resolve and
/// the one more made for it, costs those two resolves, reaches no API, and
/// is said as a connection that needs its user, on every face that gets a
/// token: the fetch, the cache, the resolve itself.
#[test]
fn an_expired_token_is_resolved_once_more_then_said_as_a_connection_to_renew() {
    capture_logs();
    let (gateway, api) = (FakeGateway::start(), FakeUpstream::start());
    let ten_minutes_ago = SystemTime::now() - Duration::from_secs(600);
    let past = ten_minutes_ago
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let body = json!({"access_token": "gho_old", "strategy": {"type": "oauth2"},
        "credentials": {"access_token": "gho_old", "expires_at": past, "expired": true}});
    gateway.add_provider(
        "ws-expired",
        "github",
        FakeProvider::raw(body).api_base_url(&api.url()),
    );
    let url = format!("{}/user", api.url());
    let client = client(&gateway);
    let cache = TokenCache::new();
    let fetched = client.authenticated_fetch(
        &cache,
        "ws-expired",
        "github",
        &url,
        FetchOptions::default(),
    );
    let err = fetched.unwrap_err();
    assert_eq!(gateway.requests(Route::Resolve), 2, "resolved once more");
    assert_eq!(
        api.request_count(),
        0,
        "an expired credential reaches no API"
    );
    let cached = client.get_cached_token(&cache, "ws-expired", "github");
    let resolved = client.resolve_token("ws-expired", "github");
    assert_eq!(gateway.requests(Route::Resolve), 6, "two a call, no more");
    for err in [err, cached.unwrap_err(), resolved.unwrap_err()] {
        assert_eq!(err.code, code::TOKEN_EXPIRED, "{err}");
        assert!(err.needs_connection(), "{err}");
        let said = &err.message;
        assert!(
            said.starts_with("the Gateway handed out a credential that had already expired"),
            "{said}"
        );
        assert!(
            said.contains("workspace `ws-expired`, provider `github`"),
            "{said}"
        );
        assert!(said.contains("its user must connect `github`"), "{said}");
        assert!(!said.contains("gho_old"), "{said}");
    }
    assert!(
        cache.get("ws-expired", "github").is_none(),
        "nothing cached"
    );
    let warned = log_lines_with("had already expired");
    let warned: Vec<_> = warned
        .iter()
        .filter(|l| l.starts_with("WARN") && l.contains("ws-expired"))
        .collect();
    assert_eq!(
        warned.len(),
        3,
        "one WARN a call, naming the workspace: {warned:?}"
    );
    assert!(warned[0].contains("provider=github"), "{}", warned[0]);
}

/// Where the 401 rule meets it: a cached credential the API rejects is
/// resolved again, and when the Gateway now hands out an expired one, the
/// call ends `token_expired` with no second request (it was `Ok(401)`).
#[test]
fn a_401_whose_fresh_credential_comes_expired_is_said_as_a_connection_to_renew() {
    let (gateway, api) = (FakeGateway::start(), FakeUpstream::start());
    let github = FakeProvider::oauth2("gho_rejected").api_base_url(&api.url());
    gateway.add_provider("ws-401x", "github", github);
    api.reject_token("gho_rejected");
    let (client, cache) = (client(&gateway), TokenCache::new());
    client
        .get_cached_token(&cache, "ws-401x", "github")
        .unwrap();
    let expired = FakeProvider::oauth2("gho_old").expired(Duration::from_secs(600));
    gateway.add_provider("ws-401x", "github", expired.api_base_url(&api.url()));
    let url = format!("{}/user", api.url());
    let fetched =
        client.authenticated_fetch(&cache, "ws-401x", "github", &url, FetchOptions::default());
    let err = fetched.unwrap_err();
    assert_eq!(
        (err.code.as_str(), err.needs_connection()),
        (code::TOKEN_EXPIRED, true),
        "{err}"
    );
    assert_eq!(
        api.request_count(),
        1,
        "the rejected credential alone was sent"
    );
    assert_eq!(
        gateway.requests(Route::Resolve),
        3,
        "its resolve, then two for the 401"
    );
}

#[test]
fn a_second_401_leaves_a_warning_that_the_user_may_need_to_reconnect() {
    capture_logs();
    let (gateway, api) = (FakeGateway::start(), FakeUpstream::start());
    gateway.add_provider(
        "ws-401",
        "github",
        FakeProvider::oauth2("gho_dead").api_base_url(&api.url()),
    );
    api.reject_token("gho_dead");
    let url = format!("{}/user", api.url());
    let (status, _, _) = client(&gateway)
        .authenticated_fetch(
            &TokenCache::new(),
            "ws-401",
            "github",
            &url,
            FetchOptions::default(),
        )
        .unwrap();
    assert_eq!(status, 401, "still the caller's answer");
    assert_eq!(gateway.requests(Route::Resolve), 2);
    let warned = log_lines_with("freshly resolved credential too");
    let warned: Vec<_> = warned.iter().filter(|l| l.contains("ws-401")).collect();
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert!(
        warned[0].starts_with("WARN") && warned[0].contains("reconnect"),
        "{}",
        warned[0]
    );
}

#[test]
fn a_static_credential_is_logged_at_debug_not_warn() {
    capture_logs();
    let gateway = FakeGateway::start();
    let key = FakeProvider::header("X-Key", None, "k_static").no_expiry();
    gateway.add_provider("ws-static", "stripe", key);
    client(&gateway)
        .resolve_token("ws-static", "stripe")
        .unwrap();
    let lines = log_lines_with("No expires_at for workspace=ws-static");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].starts_with("DEBUG"), "{}", lines[0]);
}

#[test]
fn a_timeout_names_nexus_timeout_which_from_env_reads() {
    let gateway = FakeGateway::start();
    gateway.add_provider("ws", "github", FakeProvider::oauth2("t"));
    let options = NexusClientOptions::from_env_with(|name| match name {
        "NEXUS_GATEWAY_URL" => Some(gateway.url()),
        "NEXUS_TIMEOUT" => Some(" 0.3 ".into()),
        _ => None,
    })
    .unwrap();
    assert_eq!(options.timeout, Duration::from_millis(300));
    let hold = gateway.hold_next(Route::Resolve);
    let err = NexusClient::new(options)
        .unwrap()
        .resolve_token("ws", "github")
        .unwrap_err();
    drop(hold);
    assert_eq!(err.code, "timeout");
    assert!(err.message.contains("NEXUS_TIMEOUT"), "{}", err.message);
    let read = |value: &str| {
        NexusClientOptions::from_env_with(|name| match name {
            "NEXUS_GATEWAY_URL" => Some("http://127.0.0.1:1".into()),
            "NEXUS_TIMEOUT" => Some(value.into()),
            _ => None,
        })
    };
    for bad in [
        "0", "-1", "soon", "NaN", "0ms", "0s", "inf", "30 min", "ms", "1e400", "5m",
    ] {
        let err = read(bad).unwrap_err();
        assert_eq!(err.code, "invalid_input", "{bad}");
        assert_eq!(err.setting, Some("NEXUS_TIMEOUT"), "{bad}");
        assert!(err.message.contains("NEXUS_TIMEOUT"), "{}", err.message);
    }
    // What `--timeout` reads, the one reader reads: seconds bare or with `s`, or `ms`.
    let ms = Duration::from_millis;
    for (good, timeout) in [
        ("30", ms(30_000)),
        ("30s", ms(30_000)),
        (" 2.5s ", ms(2_500)),
        ("500ms", ms(500)),
        ("1ms", ms(1)),
    ] {
        assert_eq!(
            read(good).map(|o| o.timeout).ok(),
            Some(timeout),
            "{good:?}"
        );
    }
}

#[test]
fn a_429_gives_the_wait_it_asked_for_and_says_what_to_do() {
    let gateway = FakeGateway::start();
    gateway.add_provider("ws", "github", FakeProvider::oauth2("t"));
    gateway.set_rate_limits(RateLimits {
        enabled: true,
        resolve_rpm: 1,
        ..RateLimits::default()
    });
    let client = client(&gateway);
    client.resolve_token("ws", "github").unwrap();
    let err = client.resolve_token("ws", "github").unwrap_err();
    assert_eq!(
        (err.code.as_str(), err.status_code),
        ("http_429", Some(429))
    );
    let wait = err.retry_after().expect("the wait it asked for");
    assert!((58..=60).contains(&wait.as_secs()), "{wait:?}");
    let said = format!("the next try must wait {} s", wait.as_secs());
    assert!(err.message.contains(&said), "{}", err.message);
    assert!(
        err.message.contains("resolves per workspace"),
        "{}",
        err.message
    );
    assert!(
        err.message.contains("RetryPolicy::retry_on_429"),
        "{}",
        err.message
    );
    assert_eq!(
        client.health().map_err(|e| e.retry_after()),
        Ok(()),
        "health is not limited"
    );
}

/// A 4xx in plain text is the Gateway's server speaking (its router, its
/// limits), never a Broker's refusal: the error names the Gateway. A 400's
/// text stays bare: the contract's vectors keep a handler's own words.
#[test]
fn a_plain_text_4xx_names_the_gateway() {
    let gateway = FakeGateway::start();
    gateway.add_connection(common::C, FakeConnection::active("github", "t"));
    for (status, body) in [
        (405, "Method Not Allowed\n"),
        (413, "too large"),
        (431, "Request Header Fields Too Large"),
    ] {
        gateway.push_fault(Fault::body(status, Some("text/plain; charset=utf-8"), body));
        let err = common::client(&gateway)
            .check_connection(common::C)
            .unwrap_err();
        let named = format!(
            "the Nexus Gateway at {} answered HTTP {status}",
            gateway.url()
        );
        assert!(err.message.starts_with(&named), "{status}: {err}");
    }
    // A JSON refusal about what was asked keeps the Gateway's own words alone.
    gateway.push_fault(Fault::body(
        400,
        Some("application/json"),
        r#"{"error":"missing_fields","message":"user_id is required"}"#,
    ));
    let err = common::client(&gateway)
        .check_connection(common::C)
        .unwrap_err();
    assert_eq!(err.message, "user_id is required");
}

/// A token that expires within the cache's buffer is handed out but not
/// kept; the cache says so once per key, naming the buffer and the setting.
#[test]
fn a_token_shorter_than_the_buffer_is_said_once_per_key() {
    capture_logs();
    let gateway = FakeGateway::start();
    for (ws, provider) in [("ws-short-1", "acme-short"), ("ws-short-2", "acme-short")] {
        let short = FakeProvider::oauth2("tok_short").expires_in(Duration::from_secs(20));
        gateway.add_provider(ws, provider, short);
    }
    let client = common::client(&gateway);
    let cache = TokenCache::new();
    for _ in 0..3 {
        for ws in ["ws-short-1", "ws-short-2"] {
            assert_eq!(
                client
                    .get_cached_token(&cache, ws, "acme-short")
                    .unwrap()
                    .access_token(),
                "tok_short"
            );
        }
    }
    assert_eq!(
        gateway.resolves("ws-short-1", "acme-short"),
        3,
        "not kept: each call resolves"
    );
    for ws in ["ws-short-1", "ws-short-2"] {
        let said = log_lines_with(&format!("workspace={ws} provider=acme-short expires in"));
        assert_eq!(said.len(), 1, "once per key: {said:?}");
        assert!(
            said[0].starts_with("WARN") && said[0].contains("30s buffer"),
            "{said:?}"
        );
        assert!(said[0].contains("TokenCache::with_buffer"), "{said:?}");
    }
}
