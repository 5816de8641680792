//! Hostile input, from the caller and from the Gateway: a clear error or
//! safe encoding, never a panic, never an injected header.

mod common;

use common::client;
use nexus_gateway_fake::{FakeGateway, FakeProvider, FakeUpstream, Fault, Route};
use nexus_sdk::{FetchOptions, RevokeOptions, TokenCache};
use serde_json::{Value, json};

fn setup() -> (FakeGateway, FakeUpstream) {
    let gateway = FakeGateway::start();
    gateway.add_provider("ws", "github", FakeProvider::oauth2("gho_hostile"));
    (gateway, FakeUpstream::start())
}

// --- From the caller ---

#[test]
fn urls_that_do_not_parse() {
    let (gateway, upstream) = setup();
    let client = client(&gateway);
    let cache = TokenCache::new();
    let long = format!("http://127.0.0.1/{}", "a\tb".repeat(5000));
    for url in [
        "",
        " ",
        "not a url",
        "127.0.0.1:80/x",
        "ftp://host/",
        "file:///etc/passwd",
        "http://",
        "http://exa mple/",
        "http://[::1/",
        "http://host/\r\nX-Evil: 1",
        "http://host/\0",
        "javascript:alert(1)",
        "http://ho\u{e9}st/",
        long.as_str(),
    ] {
        let err = client
            .authenticated_fetch(&cache, "ws", "github", url, FetchOptions::default())
            .unwrap_err();
        assert_eq!(err.code, "invalid_input", "{url:?}");
        assert!(
            !err.message.contains("Evil"),
            "the message does not echo the URL"
        );
    }
    assert_eq!(upstream.request_count(), 0);
    assert_eq!(
        gateway.requests(Route::Resolve),
        0,
        "checked before any I/O"
    );
}

#[test]
fn headers_and_methods_http_cannot_carry() {
    let (gateway, upstream) = setup();
    let client = client(&gateway);
    let cache = TokenCache::new();
    let bad: Vec<FetchOptions> = vec![
        FetchOptions::default().header("X Space", "v"),
        FetchOptions::default().header("", "v"),
        FetchOptions::default().header("X-Colon:", "v"),
        FetchOptions::default().header("X-Ok", "line\r\nX-Injected: 1"),
        FetchOptions::default().header("X-Ok", "line\nX-Injected: 1"),
        FetchOptions::default().header("X-Ok", "nul\0byte"),
        FetchOptions::default().method("GET /other HTTP/1.1\r\nX-Injected: 1\r\n\r\nGET"),
        FetchOptions::default().method("GE T"),
        FetchOptions::default().method("GET\n"),
        FetchOptions::default().method("(bad)"),
    ];
    for options in bad {
        let described = format!("{options:?}");
        let err = client
            .authenticated_fetch(&cache, "ws", "github", &upstream.url(), options)
            .unwrap_err();
        assert_eq!(err.code, "invalid_input", "{described}");
        assert!(!err.message.contains("Injected"), "{err}");
    }
    assert_eq!(
        upstream.request_count(),
        0,
        "nothing was sent, so nothing was injected"
    );
}

#[test]
fn hostile_ids_are_encoded_into_one_segment() {
    let (gateway, _) = setup();
    let client = client(&gateway);
    let long = "x".repeat(10 * 1024);
    let ids = [
        "../../v1/resolve",
        "a/../../b",
        "nul\0byte",
        "crlf\r\nX-Evil: 1",
        "%2F%2e%2e",
        "?q=1#frag",
        "\u{202e}rtl",
        long.as_str(),
    ];
    for id in ids {
        client
            .check_connection(id)
            .unwrap_or_else(|e| panic!("{id:?}: {e}"));
        let sent = gateway.last_request_to(Route::CheckConnection).unwrap();
        let segment = sent.path.strip_prefix("/v1/check-connection/").unwrap();
        assert!(
            !segment.contains('/') && !segment.contains('?') && !segment.contains('\r'),
            "{segment:?}"
        );
        assert!(
            sent.headers
                .iter()
                .all(|(n, _)| !n.eq_ignore_ascii_case("x-evil"))
        );
        // The Gateway refuses an id that is not a UUID: the refusal comes
        // from the revoke route, so the id reached it as one segment.
        let err = client
            .revoke_connection(id, &RevokeOptions::default().reason(id.to_owned()))
            .unwrap_err();
        assert_eq!(err.code, "invalid_connection_id", "{id:?}");
    }
    assert_eq!(
        gateway.requests(Route::Resolve),
        0,
        "no id climbed to another route"
    );
}

#[test]
fn hostile_workspace_and_provider_names_stay_in_the_query() {
    let (gateway, _) = setup();
    let client = client(&gateway);
    for (ws, provider) in [
        ("ws&provider_name=evil", "github"),
        ("ws", "github#x"),
        ("w\0s", "p\r\nX: 1"),
        ("ws", "a=b&c"),
    ] {
        let err = client.resolve_token(ws, provider).unwrap_err();
        assert_eq!(err.code, "connection_not_found", "{ws:?} {provider:?}");
        let sent = gateway.last_request_to(Route::Resolve).unwrap();
        assert_eq!(sent.query_param("workspace_id").as_deref(), Some(ws));
        assert_eq!(sent.query_param("provider_name").as_deref(), Some(provider));
    }
}

// --- From the Gateway ---

#[test]
fn tokens_and_header_names_that_would_inject() {
    let (gateway, upstream) = setup();
    let client = client(&gateway);
    let cases = [
        json!({"credentials": {"access_token": "t\r\nX-Evil: 1"}}),
        json!({"credentials": {"access_token": "t\nX-Evil: 1"}}),
        json!({"credentials": {"access_token": "t\0"}}),
        json!({"credentials": {"access_token": "\u{1b}[31m"}}),
        json!({"strategy": {"type": "header", "config": {"header_name": "X-Key: 1\r\nX-Evil"}}, "credentials": {"api_key": "k"}}),
        json!({"strategy": {"type": "header", "config": {"header_name": "X Key"}}, "credentials": {"api_key": "k"}}),
        json!({"strategy": {"type": "header", "config": {"header_name": "X-Key", "value_prefix": "p\r\n"}}, "credentials": {"api_key": "k"}}),
    ];
    for body in cases {
        gateway.add_provider("ws", "github", FakeProvider::raw(body.clone()));
        let err = client
            .authenticated_fetch(
                &TokenCache::new(),
                "ws",
                "github",
                &upstream.url(),
                FetchOptions::default(),
            )
            .unwrap_err();
        assert_eq!(err.code, "invalid_credentials", "{body}");
        assert!(!err.message.contains("Evil"));
    }
    assert_eq!(upstream.request_count(), 0);

    // Basic credentials are base64-encoded: CR and LF in them cannot inject.
    let body = json!({"strategy": {"type": "basic_auth"}, "credentials": {"username": "a\r\nX-Evil: 1", "password": "p"}});
    gateway.add_provider("ws", "github", FakeProvider::raw(body));
    client
        .authenticated_fetch(
            &TokenCache::new(),
            "ws",
            "github",
            &upstream.url(),
            FetchOptions::default(),
        )
        .unwrap();
    let sent = upstream.last_request().unwrap();
    assert_eq!(
        sent.header("authorization"),
        Some("Basic YQ0KWC1FdmlsOiAxOnA=")
    );
    assert_eq!(sent.header("x-evil"), None);
}

#[test]
fn expiries_of_every_wrong_type_and_extreme_value() {
    let (gateway, _) = setup();
    let client = client(&gateway);
    for value in [
        json!(-1),
        json!(-1e300),
        json!(1e300),
        json!(f64::MAX),
        json!(i64::MIN),
        json!(u64::MAX),
        json!("NaN"),
        json!("inf"),
        json!("-inf"),
        json!("1e999"),
        json!("9999-99-99"),
        json!("0000-01-01T00:00:00Z"),
        json!("2031-06-01T12:00:00+99:99"),
        json!([]),
        json!({}),
        json!([1938254400]),
        json!(false),
        json!(""),
        json!("  "),
        json!("\u{0}"),
        json!("2031-06-01T12:00:00.99999999999999999999Z"),
    ] {
        gateway.add_provider(
            "ws",
            "github",
            FakeProvider::raw(json!({"credentials": {"access_token": "t", "expires_at": value}})),
        );
        // An instant already past is said as such (the token is sent
        // nowhere); any other value is read or replaced by the default.
        let past = [json!(-1), json!(i64::MIN)];
        let past = past.contains(&value) || value == json!("0000-01-01T00:00:00Z");
        match client.resolve_token("ws", "github") {
            Ok(token) if !past => assert_eq!(token.access_token(), "t", "{value}"),
            Err(e) if past => assert!(e.code == "token_expired" && e.needs_connection(), "{e}"),
            other => panic!("{value}: {other:?}"),
        }
    }
}

/// `code` with the `signing` feature; without it a signing strategy is
/// `unsupported_strategy` before its config is read.
fn signing_or(code: &'static str) -> &'static str {
    if cfg!(feature = "signing") {
        code
    } else {
        "unsupported_strategy"
    }
}

#[test]
fn strategies_and_credentials_of_the_wrong_type() {
    let (gateway, _) = setup();
    let client = client(&gateway);
    for (body, code) in [
        (
            json!({"strategy": [], "credentials": {"access_token": "t"}}),
            "invalid_response",
        ),
        (
            json!({"strategy": 5, "credentials": {"access_token": "t"}}),
            "invalid_response",
        ),
        (
            json!({"strategy": {"type": ["oauth2"]}, "credentials": {"access_token": "t"}}),
            "invalid_response",
        ),
        (
            json!({"strategy": {"type": "oauth2"}, "credentials": [["access_token", "t"]]}),
            "invalid_response",
        ),
        (json!({"credentials": "t"}), "invalid_response"),
        (
            json!({"credentials": {"access_token": {"nested": "t"}}}),
            "invalid_credentials",
        ),
        (
            json!({"credentials": {"access_token": ["t"]}}),
            "invalid_credentials",
        ),
        (
            json!({"strategy": {"type": "query_param", "config": {"param_name": 5}}, "credentials": {"api_key": "k"}}),
            "invalid_response",
        ),
        (
            json!({"strategy": {"type": "hmac_payload"}, "credentials": {"secret": "s"}}),
            signing_or("invalid_credentials"),
        ),
        (
            json!({"strategy": {"type": "hmac_payload", "config": {"header_name": "X-Sig", "algo": "md5"}},
                   "credentials": {"api_secret": "s"}}),
            "unsupported_strategy",
        ),
        (
            json!({"strategy": {"type": "hmac_payload", "config": {"header_name": "X-Sig", "encoding": "base32"}},
                   "credentials": {"api_secret": "s"}}),
            "unsupported_strategy",
        ),
        (
            json!({"strategy": {"type": "hmac_payload", "config": {"header_name": "X Sig"}},
                   "credentials": {"api_secret": "s"}}),
            signing_or("invalid_credentials"),
        ),
        (
            json!({"strategy": {"type": "aws_sigv4", "config": {"service": "s3"}},
                   "credentials": {"secret_key": "s"}}),
            signing_or("invalid_credentials"),
        ),
        (
            json!({"strategy": {"type": "aws_sigv4", "config": {"service": "s3"}},
                   "credentials": {"access_key": "a", "secret_key": "s", "session_token": "t\r\nX-Evil: 1"}}),
            signing_or("invalid_credentials"),
        ),
        (
            json!({"strategy": {"type": "aws_sigv4", "config": {"service": "s3\n"}},
                   "credentials": {"access_key": "a", "secret_key": "s"}}),
            signing_or("invalid_credentials"),
        ),
    ] {
        gateway.add_provider("ws", "github", FakeProvider::raw(body.clone()));
        assert_eq!(
            client.resolve_token("ws", "github").unwrap_err().code,
            code,
            "{body}"
        );
    }
}

#[test]
fn huge_arrays_and_deep_nesting() {
    let (gateway, _) = setup();
    let client = client(&gateway);
    let many: Vec<Value> = (0..10_000).map(|i| json!({"i": i})).collect();
    gateway.add_provider(
        "ws",
        "github",
        FakeProvider::raw(
            json!({"credentials": {"access_token": "t", "scopes": many}, "junk": many}),
        ),
    );
    assert_eq!(
        client.resolve_token("ws", "github").unwrap().access_token(),
        "t"
    );

    // Nesting far past serde_json's recursion limit: an error, not a stack overflow.
    for depth in [200, 100_000] {
        let deep = format!(
            "{{\"credentials\":{}1{}}}",
            "[".repeat(depth),
            "]".repeat(depth)
        );
        gateway.push_fault_for(
            Route::Resolve,
            Fault::body(200, Some("application/json"), &deep),
        );
        assert_eq!(
            client.resolve_token("ws", "github").unwrap_err().code,
            "invalid_response",
            "depth {depth}"
        );
        gateway.push_fault_for(
            Route::CheckConnection,
            Fault::body(404, Some("application/json"), &deep),
        );
        let err = client.check_connection("c").unwrap_err();
        assert_eq!(err.code, "http_404");
        assert!(err.message.len() <= 512);
    }
}

#[test]
fn withholding_echoes_without_the_echo_feature_fails_closed() {
    let gateway = FakeGateway::start();
    let upstream = FakeUpstream::start();
    let github = FakeProvider::oauth2("gho_hostile_echo").api_base_url(&upstream.url());
    gateway.add_provider("ws", "github", github);
    let url = format!("{}/echo", upstream.url());
    let withhold = FetchOptions::default().withhold_credential_echo(true);
    let answer =
        client(&gateway).authenticated_fetch(&TokenCache::new(), "ws", "github", &url, withhold);
    if cfg!(feature = "echo") {
        let (status, _, _) = answer.expect("the default build withholds");
        assert_eq!(status, 200);
        return;
    }
    let err = answer.expect_err("a build without `echo` cannot withhold: it refuses");
    assert_eq!(err.code, nexus_sdk::code::INVALID_INPUT, "{err}");
    assert!(err.message.contains("`echo` feature"), "{err}");
    assert_eq!(gateway.requests(Route::Resolve), 0, "nothing resolved");
    assert!(upstream.requests().is_empty(), "nothing sent");
}
