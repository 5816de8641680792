//! `authenticated_fetch` on the wire: the 401 rule, redirects with the
//! credential kept on its origin, strategies, headers, caps, `Fetcher`.

use std::sync::{Arc, Barrier};
use std::thread;

use crate::common::{self, client, client_with};
use crate::{fetch, fetch_in, gateway_with};
use nexus_gateway_fake::{FakeProvider, FakeReply, FakeUpstream, Route};
use nexus_sdk::{FetchOptions, Fetcher, NexusClient, TokenCache};

// --- authenticated_fetch ---

#[test]
fn a_401_re_resolves_once_and_retries_once() {
    let gateway = gateway_with(FakeProvider::oauth2("tok").rotating());
    let upstream = FakeUpstream::start();
    upstream.reject_token("tok-1");
    let client = client(&gateway);
    let cache = TokenCache::new();
    let (status, _, _) = fetch_in(&client, &cache, &upstream.url());
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
                let (status, _, _) = fetch_in(&client, &cache, &upstream.url());
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
    let (_, _, body) = fetch_in(&client, &cache, &format!("{}/exact", upstream.url()));
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
    let (status, _, body) = fetch_in(&client, &cache, &format!("{}/go", origin.url()));
    assert_eq!((status, body.as_slice()), (401, &b"sign in here"[..]));
    // That origin never saw the credential: the token is kept, nothing re-resolved or resent.
    assert_eq!(gateway.requests(Route::Resolve), 1);
    assert_eq!(cache.get("ws-1", "github").unwrap().access_token(), "tok-1");
    assert_eq!((origin.request_count(), elsewhere.request_count()), (1, 1));
}
