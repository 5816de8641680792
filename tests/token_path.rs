//! The MCP token path over loopback: resolve, cache, single flight,
//! authenticated_fetch with its 401 re-resolve and redirects, Fetcher.

mod common;

use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, SystemTime};

use common::{client, client_with, wait_until};
use nexus_gateway_fake::{
    FakeGateway, FakeProvider, FakeReply, FakeUpstream, Fault, Route, TestClock,
};
use nexus_sdk::{FetchOptions, FetchResponse, Fetcher, NexusClient, TokenCache};

fn gateway_with(provider: FakeProvider) -> FakeGateway {
    let gateway = FakeGateway::start();
    gateway.add_provider("ws-1", "github", provider);
    gateway
}

/// The access token `get_cached_token` gives for the pair.
fn token_of(client: &NexusClient, cache: &TokenCache, workspace: &str, provider: &str) -> String {
    client
        .get_cached_token(cache, workspace, provider)
        .unwrap()
        .access_token()
        .to_owned()
}

/// `authenticated_fetch` for ws-1/github through a new client and cache.
fn fetch(gateway: &FakeGateway, url: &str, options: FetchOptions) -> FetchResponse {
    client(gateway)
        .authenticated_fetch(&TokenCache::new(), "ws-1", "github", url, options)
        .unwrap()
}

// --- The Python suite's three tests, with relative expiries ---

#[test]
fn resolve_parses_and_keeps_bearer_casing() {
    let gateway =
        gateway_with(FakeProvider::oauth2("gho_abc").expires_in(Duration::from_secs(3600)));
    let token = client(&gateway).resolve_token("ws-1", "github").unwrap();
    assert_eq!(token.access_token(), "gho_abc");
    assert_eq!(token.token_type(), "bearer");
    assert_eq!(
        (token.header_name(), token.value_prefix()),
        ("Authorization", "Bearer ")
    );
    let left = token
        .expires_at()
        .duration_since(SystemTime::now())
        .unwrap();
    assert!(
        left > Duration::from_secs(3590) && left <= Duration::from_secs(3600),
        "{left:?}"
    );
    let sent = gateway.last_request_to(Route::Resolve).unwrap();
    assert_eq!(sent.query, "workspace_id=ws-1&provider_name=github");
}

#[test]
fn cache_miss_then_hit_makes_one_gateway_call() {
    let gateway = gateway_with(FakeProvider::oauth2("gho_abc"));
    let client = client(&gateway);
    let cache = TokenCache::new();
    let first = client.get_cached_token(&cache, "ws-1", "github").unwrap();
    let second = client.get_cached_token(&cache, "ws-1", "github").unwrap();
    assert_eq!(first, second);
    assert_eq!(gateway.requests(Route::Resolve), 1);
}

#[test]
fn injected_header_is_exactly_bearer_token() {
    let gateway = gateway_with(FakeProvider::oauth2("gho_abc"));
    let upstream = FakeUpstream::start();
    let (status, _, body) = fetch(
        &gateway,
        &format!("{}/user", upstream.url()),
        FetchOptions::default(),
    );
    assert_eq!(status, 200);
    assert_eq!(
        String::from_utf8(body).unwrap(),
        r#"{"method":"GET","ok":true,"path":"/user"}"#
    );
    let sent = upstream.last_request().unwrap();
    assert_eq!(sent.header("authorization"), Some("Bearer gho_abc"));
}

// --- Cache behaviour through the client ---

#[test]
fn pair_keys_cannot_collide() {
    let gateway = FakeGateway::start();
    gateway.add_provider("a:b", "c", FakeProvider::oauth2("one"));
    gateway.add_provider("a", "b:c", FakeProvider::oauth2("two"));
    let client = client(&gateway);
    let cache = TokenCache::new();
    assert_eq!(token_of(&client, &cache, "a:b", "c"), "one");
    assert_eq!(token_of(&client, &cache, "a", "b:c"), "two");
    assert_eq!(token_of(&client, &cache, "a:b", "c"), "one");
    assert_eq!(gateway.requests(Route::Resolve), 2);
}

#[test]
fn the_buffer_at_29_and_31_seconds() {
    for (lifetime, resolves) in [(29, 2), (31, 1)] {
        let gateway =
            gateway_with(FakeProvider::oauth2("t").expires_in(Duration::from_secs(lifetime)));
        let client = client(&gateway);
        let cache = TokenCache::new();
        client.get_cached_token(&cache, "ws-1", "github").unwrap();
        client.get_cached_token(&cache, "ws-1", "github").unwrap();
        assert_eq!(
            gateway.requests(Route::Resolve),
            resolves,
            "token living {lifetime} s"
        );
    }
}

#[test]
fn no_expiry_is_cached_for_five_minutes() {
    let gateway = gateway_with(FakeProvider::header("X-API-Key", None, "k").no_expiry());
    let client = client(&gateway);
    let cache = TokenCache::new();
    let token = client.get_cached_token(&cache, "ws-1", "github").unwrap();
    let left = token
        .expires_at()
        .duration_since(SystemTime::now())
        .unwrap();
    assert!(
        left > Duration::from_secs(295) && left <= Duration::from_secs(300),
        "{left:?}"
    );
    client.get_cached_token(&cache, "ws-1", "github").unwrap();
    assert_eq!(gateway.requests(Route::Resolve), 1);
}

#[test]
fn thirty_two_threads_on_a_cold_key_make_one_resolve() {
    let gateway = gateway_with(FakeProvider::oauth2("t"));
    gateway.set_latency(Duration::from_millis(100));
    let client = client(&gateway);
    let cache = TokenCache::new();
    let barrier = Barrier::new(32);
    thread::scope(|s| {
        for _ in 0..32 {
            s.spawn(|| {
                barrier.wait();
                assert_eq!(token_of(&client, &cache, "ws-1", "github"), "t");
            });
        }
    });
    assert_eq!(gateway.requests(Route::Resolve), 1);
}

#[test]
fn a_slow_key_does_not_hold_up_another() {
    let gateway = FakeGateway::start();
    gateway.add_provider("ws-1", "slow", FakeProvider::oauth2("s"));
    gateway.add_provider("ws-1", "fast", FakeProvider::oauth2("f"));
    let hold = gateway.hold_next(Route::Resolve);
    let client = client(&gateway);
    let cache = TokenCache::new();
    thread::scope(|s| {
        let slow = s.spawn(|| client.get_cached_token(&cache, "ws-1", "slow"));
        wait_until(|| gateway.requests(Route::Resolve) == 1);
        // The slow key's resolve is held at the Gateway until `hold` is dropped.
        assert_eq!(token_of(&client, &cache, "ws-1", "fast"), "f");
        assert!(!slow.is_finished(), "held until released");
        drop(hold);
        assert_eq!(slow.join().unwrap().unwrap().access_token(), "s");
    });
}

#[test]
fn a_failed_resolve_is_not_cached() {
    let gateway = gateway_with(FakeProvider::oauth2("t"));
    gateway.push_fault(Fault::status(503));
    let client = client(&gateway);
    let cache = TokenCache::new();
    assert_eq!(
        client
            .get_cached_token(&cache, "ws-1", "github")
            .unwrap_err()
            .status_code,
        Some(503)
    );
    assert_eq!(token_of(&client, &cache, "ws-1", "github"), "t");
    assert_eq!(gateway.requests(Route::Resolve), 2);
}

#[test]
fn clear_token_forces_a_new_resolve() {
    let gateway = gateway_with(FakeProvider::oauth2("t").rotating());
    let client = client(&gateway);
    let cache = TokenCache::new();
    assert_eq!(token_of(&client, &cache, "ws-1", "github"), "t-1");
    client.clear_token(&cache, "ws-1", "github");
    assert_eq!(token_of(&client, &cache, "ws-1", "github"), "t-2");
}

#[test]
fn a_hot_key_kept_by_the_thread_still_obeys_clear_and_the_401_rule() {
    let gateway = gateway_with(FakeProvider::oauth2("t").rotating());
    let client = client(&gateway);
    let cache = TokenCache::new();
    // Hit after hit: the thread keeps a copy of the entry.
    for _ in 0..5 {
        assert_eq!(token_of(&client, &cache, "ws-1", "github"), "t-1");
    }
    client.clear_token(&cache, "ws-1", "github");
    assert_eq!(
        token_of(&client, &cache, "ws-1", "github"),
        "t-2",
        "cleared"
    );
    for _ in 0..5 {
        assert_eq!(cache.get("ws-1", "github").unwrap().access_token(), "t-2");
    }
    // A 401 on the kept copy drops the entry, not just the copy.
    let upstream = FakeUpstream::start();
    upstream.reject_token("t-2");
    let status = client
        .authenticated_fetch(
            &cache,
            "ws-1",
            "github",
            &upstream.url(),
            FetchOptions::default(),
        )
        .unwrap()
        .0;
    assert_eq!(status, 200, "re-resolved once");
    assert_eq!(token_of(&client, &cache, "ws-1", "github"), "t-3");
    assert_eq!(cache.get("ws-1", "github").unwrap().access_token(), "t-3");
}

#[test]
fn blank_inputs_are_refused_before_any_io() {
    let gateway = gateway_with(FakeProvider::oauth2("t"));
    let client = client(&gateway);
    let cache = TokenCache::new();
    for (workspace, provider) in [("", "github"), ("ws-1", " "), ("\t", "\n")] {
        assert_eq!(
            client.resolve_token(workspace, provider).unwrap_err().code,
            "invalid_input"
        );
        assert_eq!(
            client
                .get_cached_token(&cache, workspace, provider)
                .unwrap_err()
                .code,
            "invalid_input"
        );
        let err = client
            .authenticated_fetch(
                &cache,
                workspace,
                provider,
                "http://127.0.0.1:1/",
                FetchOptions::default(),
            )
            .unwrap_err();
        assert_eq!(err.code, "invalid_input");
    }
    let err = client
        .authenticated_fetch(
            &cache,
            "ws-1",
            "github",
            "not a url",
            FetchOptions::default(),
        )
        .unwrap_err();
    assert_eq!(err.code, "invalid_input");
    assert_eq!(gateway.total_requests(), 0);
}

// --- authenticated_fetch ---

#[test]
fn a_401_re_resolves_once_and_retries_once() {
    let gateway = gateway_with(FakeProvider::oauth2("tok").rotating());
    let upstream = FakeUpstream::start();
    upstream.reject_token("tok-1");
    let client = client(&gateway);
    let cache = TokenCache::new();
    let (status, _, _) = client
        .authenticated_fetch(
            &cache,
            "ws-1",
            "github",
            &upstream.url(),
            FetchOptions::default(),
        )
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(gateway.requests(Route::Resolve), 2);
    let sent: Vec<_> = upstream
        .requests()
        .iter()
        .map(|r| r.header("authorization").unwrap().to_owned())
        .collect();
    assert_eq!(sent, ["Bearer tok-1", "Bearer tok-2"]);
    assert_eq!(cache.get("ws-1", "github").unwrap().access_token(), "tok-2");
}

#[test]
fn a_persistent_401_is_returned_after_one_retry() {
    let gateway = gateway_with(FakeProvider::oauth2("tok"));
    let upstream = FakeUpstream::start();
    upstream.reject_token("tok");
    let (status, headers, body) = fetch(&gateway, &upstream.url(), FetchOptions::default());
    assert_eq!(status, 401);
    assert!(headers.get("www-authenticate").is_some());
    assert_eq!(body, br#"{"message":"Bad credentials"}"#);
    assert_eq!(upstream.request_count(), 2);
    assert_eq!(gateway.requests(Route::Resolve), 2);
}

#[test]
fn many_threads_meeting_one_401_cause_one_re_resolve() {
    let gateway = gateway_with(FakeProvider::oauth2("tok").rotating());
    let upstream = FakeUpstream::start();
    upstream.reject_token("tok-1");
    let client = client(&gateway);
    let cache = TokenCache::new();
    client.get_cached_token(&cache, "ws-1", "github").unwrap();
    let barrier = Barrier::new(8);
    thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                barrier.wait();
                let (status, _, _) = client
                    .authenticated_fetch(
                        &cache,
                        "ws-1",
                        "github",
                        &upstream.url(),
                        FetchOptions::default(),
                    )
                    .unwrap();
                assert_eq!(status, 200);
            });
        }
    });
    assert_eq!(
        gateway.requests(Route::Resolve),
        2,
        "one cold resolve, one re-resolve"
    );
}

/// Where a fetch of `from` lands after the upstream answers it with
/// `redirect`: the path and the `Authorization` it carried there.
fn landing_after(from: &str, redirect: FakeReply) -> (String, Option<String>) {
    let gateway = gateway_with(FakeProvider::oauth2("tok"));
    let upstream = FakeUpstream::start();
    upstream.set_reply(from, redirect);
    fetch(
        &gateway,
        &format!("{}{from}", upstream.url()),
        FetchOptions::default(),
    );
    let landed = upstream.last_request().unwrap();
    let auth = landed.header("authorization").map(str::to_owned);
    (landed.path, auth)
}

#[test]
fn a_same_origin_redirect_keeps_the_credential() {
    let (path, auth) = landing_after("/old", FakeReply::new(301).header("Location", "/new"));
    assert_eq!(
        (path.as_str(), auth.as_deref()),
        ("/new", Some("Bearer tok"))
    );
}

#[test]
fn a_relative_redirect_with_dot_segments_lands_where_a_browser_would() {
    let (path, auth) = landing_after(
        "/a/b/old",
        FakeReply::new(302).header("Location", "../../new/./x"),
    );
    assert_eq!(
        (path.as_str(), auth.as_deref()),
        ("/new/x", Some("Bearer tok"))
    );
}

#[test]
fn a_query_credential_stays_on_its_origin() {
    let gateway = gateway_with(FakeProvider::query_param("key", "qk"));
    let (origin, elsewhere) = (FakeUpstream::start(), FakeUpstream::start());
    origin.set_reply(
        "/go",
        FakeReply::new(307).header("Location", &format!("{}/landing?x=1", elsewhere.url())),
    );
    fetch(
        &gateway,
        &format!("{}/go?key=mine&q=1", origin.url()),
        FetchOptions::default(),
    );
    let first = origin.last_request().unwrap();
    assert_eq!(first.query, "q=1&key=qk");
    assert_eq!(first.header("authorization"), None);
    assert_eq!(elsewhere.last_request().unwrap().query, "x=1");
}

#[test]
fn redirect_methods_follow_rfc_9110() {
    let gateway = gateway_with(FakeProvider::oauth2("tok"));
    let upstream = FakeUpstream::start();
    upstream.set_reply(
        "/see-other",
        FakeReply::new(303).header("Location", "/result"),
    );
    upstream.set_reply(
        "/temporary",
        FakeReply::new(307).header("Location", "/result"),
    );
    let client = client(&gateway);
    let cache = TokenCache::new();
    let post = || {
        FetchOptions::default()
            .method("POST")
            .header("Content-Type", "text/plain")
            .data("payload")
    };
    client
        .authenticated_fetch(
            &cache,
            "ws-1",
            "github",
            &format!("{}/see-other", upstream.url()),
            post(),
        )
        .unwrap();
    let after_303 = upstream.last_request().unwrap();
    assert_eq!(
        (after_303.method.as_str(), after_303.body.len()),
        ("GET", 0)
    );
    assert_eq!(after_303.header("content-type"), None);
    client
        .authenticated_fetch(
            &cache,
            "ws-1",
            "github",
            &format!("{}/temporary", upstream.url()),
            post(),
        )
        .unwrap();
    let after_307 = upstream.last_request().unwrap();
    assert_eq!(
        (after_307.method.as_str(), after_307.body.as_slice()),
        ("POST", &b"payload"[..])
    );
}

#[test]
fn the_api_key_never_reaches_the_upstream() {
    let gateway = gateway_with(FakeProvider::oauth2("tok"));
    gateway.require_api_key("nx_gateway_key");
    let upstream = FakeUpstream::start();
    let client = client_with(&gateway, |o| o.api_key = "nx_gateway_key".into());
    client
        .authenticated_fetch(
            &TokenCache::new(),
            "ws-1",
            "github",
            &upstream.url(),
            FetchOptions::default(),
        )
        .unwrap();
    let sent = upstream.last_request().unwrap();
    assert!(
        sent.headers
            .iter()
            .all(|(_, v)| !v.contains("nx_gateway_key")),
        "{:?}",
        sent.headers
    );
    assert_ne!(
        sent.header("accept"),
        Some("application/json"),
        "no gateway Accept upstream"
    );
}

#[test]
fn upstream_errors_come_back_as_ok() {
    let gateway = gateway_with(FakeProvider::oauth2("tok"));
    let upstream = FakeUpstream::start();
    upstream.set_reply(
        "/down",
        FakeReply::new(503)
            .header("Retry-After", "5")
            .body("maintenance"),
    );
    let (status, headers, body) =
        client_with(&gateway, |o| o.retry_policy = common::fast_retries(3))
            .authenticated_fetch(
                &TokenCache::new(),
                "ws-1",
                "github",
                &format!("{}/down", upstream.url()),
                FetchOptions::default(),
            )
            .unwrap();
    assert_eq!((status, body.as_slice()), (503, &b"maintenance"[..]));
    assert_eq!(headers.get("retry-after").unwrap(), "5");
    assert_eq!(
        upstream.request_count(),
        1,
        "upstream calls are never retried"
    );
}

#[test]
fn caller_headers_method_and_body_are_sent() {
    let gateway = gateway_with(FakeProvider::oauth2("tok"));
    let upstream = FakeUpstream::start();
    let options = FetchOptions::default()
        .method("PROPFIND")
        .header("authorization", "Bearer mine")
        .header("Depth", "1")
        .header("X-Multi", "a")
        .header("X-Multi", "b")
        .data(vec![0u8, 159, 146, 150]);
    fetch(&gateway, &format!("{}/dav", upstream.url()), options);
    let sent = upstream.last_request().unwrap();
    assert_eq!(sent.method, "PROPFIND");
    assert_eq!(sent.body, [0u8, 159, 146, 150]);
    assert_eq!(sent.header("depth"), Some("1"));
    let auth: Vec<_> = sent
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("authorization"))
        .collect();
    assert_eq!(auth.len(), 1, "the credential replaces the caller's header");
    assert_eq!(auth[0].1, "Bearer tok");
    let multi: Vec<_> = sent
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("x-multi"))
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(multi, ["a", "b"]);
}

#[test]
fn header_and_basic_strategies_on_the_wire() {
    let upstream = FakeUpstream::start();
    for (provider, header, value) in [
        (
            FakeProvider::header("X-API-Key", None, "k1"),
            "x-api-key",
            "k1",
        ),
        (
            FakeProvider::header("Authorization", Some("Token "), "k2"),
            "authorization",
            "Token k2",
        ),
        (
            FakeProvider::basic_auth("alice", "s3cret"),
            "authorization",
            "Basic YWxpY2U6czNjcmV0",
        ),
    ] {
        let gateway = gateway_with(provider);
        let options = FetchOptions::default().header("X-Api-Key", "caller");
        fetch(&gateway, &upstream.url(), options);
        assert_eq!(upstream.last_request().unwrap().header(header), Some(value));
    }
}

#[test]
fn repeated_response_headers_are_kept() {
    let gateway = gateway_with(FakeProvider::oauth2("tok"));
    let upstream = FakeUpstream::start();
    upstream.set_reply(
        "/c",
        FakeReply::new(200)
            .header("Set-Cookie", "a=1")
            .header("Set-Cookie", "b=2"),
    );
    let (_, headers, _) = fetch(
        &gateway,
        &format!("{}/c", upstream.url()),
        FetchOptions::default(),
    );
    let cookies: Vec<_> = headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(cookies, ["a=1", "b=2"]);
}

#[test]
fn the_upstream_body_is_capped() {
    let gateway = gateway_with(FakeProvider::oauth2("tok"));
    let upstream = FakeUpstream::start();
    upstream.set_reply("/exact", FakeReply::new(200).body(vec![b'x'; 1000]));
    upstream.set_reply("/over", FakeReply::new(200).body(vec![b'x'; 1001]));
    let client = client_with(&gateway, |o| o.max_upstream_body = 1000);
    let cache = TokenCache::new();
    let (_, _, body) = client
        .authenticated_fetch(
            &cache,
            "ws-1",
            "github",
            &format!("{}/exact", upstream.url()),
            FetchOptions::default(),
        )
        .unwrap();
    assert_eq!(body.len(), 1000);
    let err = client
        .authenticated_fetch(
            &cache,
            "ws-1",
            "github",
            &format!("{}/over", upstream.url()),
            FetchOptions::default(),
        )
        .unwrap_err();
    assert_eq!(err.code, "request_failed");
    assert!(err.message.contains("1000-byte cap"), "{}", err.message);
}

#[test]
fn an_unreachable_upstream_is_request_failed() {
    let gateway = gateway_with(FakeProvider::oauth2("tok"));
    let err = client(&gateway)
        .authenticated_fetch(
            &TokenCache::new(),
            "ws-1",
            "github",
            &common::refused_url(),
            FetchOptions::default(),
        )
        .unwrap_err();
    assert_eq!(err.code, "request_failed");
    assert!(!err.message.contains("tok"));
}

#[test]
fn fetcher_binds_workspace_and_provider() {
    fn shareable<T: Clone + Send + Sync + 'static>() {}
    shareable::<Fetcher>();
    shareable::<NexusClient>();
    let gateway = gateway_with(FakeProvider::oauth2("tok"));
    let upstream = FakeUpstream::start();
    let fetcher = client(&gateway).fetcher(Arc::new(TokenCache::new()), "ws-1", "github");
    let copy = fetcher.clone();
    assert_eq!(
        fetcher.get(&format!("{}/a", upstream.url())).unwrap().0,
        200
    );
    let (status, _, _) = copy
        .fetch(
            &format!("{}/b", upstream.url()),
            FetchOptions::default().method("DELETE"),
        )
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(upstream.last_request().unwrap().method, "DELETE");
    assert_eq!(
        gateway.requests(Route::Resolve),
        1,
        "clones share the cache"
    );
    assert_eq!(
        upstream.connections(),
        1,
        "clones share one keep-alive connection"
    );
}

#[test]
fn a_401_from_another_origin_is_not_a_rejected_token() {
    let gateway = gateway_with(FakeProvider::oauth2("tok").rotating());
    let (origin, elsewhere) = (FakeUpstream::start(), FakeUpstream::start());
    origin.set_reply(
        "/go",
        FakeReply::new(302).header("Location", &format!("{}/login", elsewhere.url())),
    );
    elsewhere.set_reply("/login", FakeReply::new(401).body("sign in here"));
    let client = client(&gateway);
    let cache = TokenCache::new();
    let (status, _, body) = client
        .authenticated_fetch(
            &cache,
            "ws-1",
            "github",
            &format!("{}/go", origin.url()),
            FetchOptions::default(),
        )
        .unwrap();
    assert_eq!((status, body.as_slice()), (401, &b"sign in here"[..]));
    // That origin never saw the credential: the token is kept, nothing re-resolved or resent.
    assert_eq!(gateway.requests(Route::Resolve), 1);
    assert_eq!(cache.get("ws-1", "github").unwrap().access_token(), "tok-1");
    assert_eq!((origin.request_count(), elsewhere.request_count()), (1, 1));
}

/// A token of 59 to 60 s (the fake writes whole seconds) with no buffer,
/// and a Gateway and a cache on a clock the test moves: the refresh window
/// is the last 10 s, so 50 s on the clock is inside it, and a renewal
/// there brings a token that expires later.
fn rotation_setup() -> (FakeGateway, NexusClient, Arc<TokenCache>, TestClock) {
    let gateway = FakeGateway::start();
    gateway.add_provider(
        "ws",
        "p",
        FakeProvider::oauth2("tok")
            .rotating()
            .expires_in(Duration::from_secs(60)),
    );
    let client = client(&gateway);
    let clock = TestClock::new();
    gateway.use_clock(&clock);
    let cache = Arc::new(clock.token_cache(Duration::ZERO));
    let first = client.get_cached_token(&cache, "ws", "p").unwrap();
    assert_eq!(first.access_token(), "tok-1");
    (gateway, client, cache, clock)
}

#[test]
fn at_rotation_one_caller_renews_and_the_others_keep_the_current_token() {
    let (gateway, client, cache, clock) = rotation_setup();
    clock.advance(Duration::from_secs(50));
    let hold = gateway.hold_next(Route::Resolve);
    let renewer = {
        let (client, cache) = (client.clone(), Arc::clone(&cache));
        thread::spawn(move || client.get_cached_token(&cache, "ws", "p").unwrap())
    };
    wait_until(|| gateway.requests(Route::Resolve) == 2);
    // The renewal is held at the Gateway: everyone else keeps tok-1.
    let others: Vec<_> = (0..7)
        .map(|_| {
            let (client, cache) = (client.clone(), Arc::clone(&cache));
            thread::spawn(move || client.get_cached_token(&cache, "ws", "p").unwrap())
        })
        .collect();
    for other in others {
        assert_eq!(other.join().unwrap().access_token(), "tok-1");
    }
    assert_eq!(
        gateway.requests(Route::Resolve),
        2,
        "one renewal, not eight"
    );
    assert!(!renewer.is_finished(), "the renewal is still held");
    drop(hold);
    assert_eq!(renewer.join().unwrap().access_token(), "tok-2");
    assert_eq!(
        client
            .get_cached_token(&cache, "ws", "p")
            .unwrap()
            .access_token(),
        "tok-2"
    );
}

#[test]
fn a_failed_early_renewal_keeps_the_valid_token_and_is_tried_again_at_half_the_time_left() {
    let (gateway, client, cache, clock) = rotation_setup();
    clock.advance(Duration::from_secs(50));
    gateway.push_fault_for(Route::Resolve, Fault::status(500));
    let kept = client.get_cached_token(&cache, "ws", "p").unwrap();
    assert_eq!(kept.access_token(), "tok-1", "the failure does not drop it");
    assert_eq!(gateway.requests(Route::Resolve), 2);
    assert_eq!(cache.get("ws", "p").unwrap().access_token(), "tok-1");
    // The next callers do not try again at once…
    for _ in 0..5 {
        assert_eq!(token_of(&client, &cache, "ws", "p"), "tok-1");
    }
    assert_eq!(gateway.requests(Route::Resolve), 2);
    // …but at half the 10 s it had left.
    clock.advance(Duration::from_secs(5));
    assert_eq!(token_of(&client, &cache, "ws", "p"), "tok-2");
    assert_eq!(gateway.requests(Route::Resolve), 3);
}

/// Stores `n` pairs `<prefix>-<i>`/`p` expiring at `expires_at`.
fn fill(cache: &TokenCache, prefix: &str, n: usize, expires_at: SystemTime) {
    for i in 0..n {
        let token = nexus_sdk::CachedToken::bearer("t", expires_at);
        cache.set(&format!("{prefix}-{i}"), "p", token);
    }
}

#[test]
fn expired_entries_are_purged_as_the_cache_is_used() {
    // A clock the test moves: no sleep, nothing that depends on the machine's speed.
    let clock = nexus_gateway_fake::TestClock::new();
    let cache = clock.token_cache(Duration::ZERO);
    let soon = clock.now() + Duration::from_secs(60);
    let later = clock.now() + Duration::from_secs(36_000);
    fill(&cache, "old", 50_000, soon);
    fill(&cache, "live", 1_000, later);
    assert_eq!(cache.len(), 51_000);
    clock.advance(Duration::from_secs(3600));
    // Normal use: reads of the live set, and some stores.
    for round in 0..60_000 {
        let i = round % 1_000;
        assert!(cache.get(&format!("live-{i}"), "p").is_some());
        if round % 100 == 0 {
            cache.set(
                &format!("live-{i}"),
                "p",
                nexus_sdk::CachedToken::bearer("t", later),
            );
        }
    }
    assert!(
        cache.len() <= 1_100,
        "{} entries held for 1,000 live ones",
        cache.len()
    );
    for i in 0..1_000 {
        assert!(
            cache.get(&format!("live-{i}"), "p").is_some(),
            "live-{i} kept"
        );
    }
}

#[test]
fn a_thread_per_call_reader_still_purges() {
    let clock = TestClock::new();
    let cache = Arc::new(clock.token_cache(Duration::ZERO));
    let (soon, later) = (
        clock.now() + Duration::from_secs(60),
        clock.now() + Duration::from_secs(36_000),
    );
    fill(&cache, "old", 2_000, soon);
    fill(&cache, "live", 100, later);
    clock.advance(Duration::from_secs(3600));
    // The MCP example's design: one short-lived thread per call, one read each.
    for round in 0..3_000 {
        let cache = Arc::clone(&cache);
        thread::spawn(move || cache.get(&format!("live-{}", round % 100), "p").is_some())
            .join()
            .map(|hit| assert!(hit))
            .unwrap();
    }
    assert!(
        cache.len() <= 150,
        "{} entries held for 100 live ones",
        cache.len()
    );
}
