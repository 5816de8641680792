//! A newcomer's first hour: the usual mistakes, and what the error says.
//! Each error names the server (the Nexus Gateway or a provider's API) and
//! its origin, and what to check; none shows the HTTP library's internals
//! or a page's text.

use std::time::Duration;

use nexus_gateway_fake::{FakeGateway, FakeProvider, FakeReply, FakeUpstream, Route};
use nexus_sdk::{ErrorKind, FetchOptions, NexusClient, NexusClientOptions, TokenCache, code};

fn client_of(url: &str) -> NexusClient {
    NexusClient::new(NexusClientOptions::new(url)).unwrap()
}

/// A URL on loopback where nothing listens.
fn nothing_listens() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    url
}

fn one_line(message: &str) {
    assert!(!message.contains('\n'), "one line: {message}");
    for internal in ["(global)", "Timeout::", "ConnectionFailed", "HostNotFound"] {
        assert!(!message.contains(internal), "{internal} in {message}");
    }
}

#[test]
fn a_gateway_that_is_down_or_slow_is_named_with_what_to_check() {
    let down = nothing_listens();
    let err = client_of(&down)
        .resolve_token("ws-1", "github")
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connect);
    for part in [
        "Nexus Gateway",
        down.as_str(),
        "NEXUS_GATEWAY_URL",
        "refused",
    ] {
        assert!(err.message.contains(part), "{part}: {err}");
    }
    one_line(&err.message);
    assert!(
        std::error::Error::source(&err).is_some(),
        "the cause stays in source()"
    );

    // https on a port that speaks http.
    let gateway = FakeGateway::start();
    let tls = gateway.url().replace("http://", "https://");
    let err = client_of(&tls).resolve_token("ws-1", "github").unwrap_err();
    assert!(
        err.message.contains("Nexus Gateway") && err.message.contains(&tls),
        "{err}"
    );
    one_line(&err.message);

    // A slow Gateway: the limit that ran out and the option that sets it.
    let _held = gateway.hold_next(Route::Resolve);
    let client = NexusClient::new(
        NexusClientOptions::new(gateway.url()).timeout(Duration::from_millis(300)),
    )
    .unwrap();
    let err = client.resolve_token("ws-1", "github").unwrap_err();
    assert_eq!(err.code, code::TIMEOUT);
    for part in ["Nexus Gateway", "300ms", "NEXUS_TIMEOUT"] {
        assert!(err.message.contains(part), "{part}: {err}");
    }
    // The blamed setting, once and by its name; where code sets it, in Debug.
    assert_eq!(err.setting, Some("NEXUS_TIMEOUT"));
    assert_eq!(err.message.matches("NEXUS_TIMEOUT").count(), 1, "{err}");
    assert!(!err.message.contains("NexusClientOptions"), "{err}");
    assert!(
        format!("{err:?}").contains("NexusClientOptions::timeout"),
        "{err:?}"
    );
    one_line(&err.message);
}

#[test]
fn a_provider_api_that_fails_is_named_and_the_gateway_is_not_blamed() {
    let gateway = FakeGateway::start();
    let api = nothing_listens();
    gateway.add_provider(
        "ws-1",
        "slack",
        FakeProvider::oauth2("xoxb").api_base_url(&api),
    );
    let err = client_of(&gateway.url())
        .authenticated_fetch(
            &TokenCache::new(),
            "ws-1",
            "slack",
            &format!("{api}/chat"),
            FetchOptions::default(),
        )
        .unwrap_err();
    assert!(
        err.message.contains("provider `slack`") && err.message.contains(&api),
        "{err}"
    );
    assert!(!err.message.contains("Gateway"), "{err}");
    one_line(&err.message);
}

#[test]
fn a_server_that_is_not_a_gateway_is_named_as_such_without_its_page() {
    let page = FakeUpstream::start();
    page.set_reply(
        "/v1/resolve",
        FakeReply::new(404)
            .header("Content-Type", "text/html; charset=utf-8")
            .body("<!DOCTYPE html><html><title>Welcome to nginx-like</title></html>"),
    );
    // A web server's HTML page; a provider's API (JSON, not the Gateway's);
    // the Gateway's URL with /v1 on its end.
    let (gateway, api) = (FakeGateway::start(), FakeUpstream::start());
    let urls = [page.url(), api.url(), format!("{}/v1", gateway.url())];
    for url in urls {
        let err = client_of(&url)
            .get_cached_token(&TokenCache::new(), "ws-1", "github")
            .unwrap_err();
        let origin = url.trim_end_matches("/v1");
        assert!(
            err.message.contains("does not look like a Nexus Gateway"),
            "{url}: {err}"
        );
        assert!(
            err.message.contains(origin) && err.message.contains("NEXUS_GATEWAY_URL"),
            "{err}"
        );
        assert!(
            !err.message.contains("nginx") && !err.message.contains("page not found"),
            "{err}"
        );
        one_line(&err.message);
    }
    // The lifecycle calls say so too.
    let client = client_of(&api.url());
    let err = client
        .check_connection("3f1b2c4d-0000-4000-8000-00000000000c")
        .unwrap_err();
    assert!(
        err.message.contains("does not look like a Nexus Gateway"),
        "{err}"
    );
    let input = nexus_sdk::RequestConnectionInput::new("u", "github").return_url("https://a/");
    let err = client.request_connection(&input).unwrap_err();
    assert!(
        err.message.contains("does not look like a Nexus Gateway"),
        "{err}"
    );
    let err = client_of(&page.url()).health().unwrap_err();
    assert!(
        err.message.contains("does not look like a Nexus Gateway"),
        "{err}"
    );
}

#[test]
fn an_unknown_provider_is_named_with_those_the_gateway_lists() {
    let gateway = FakeGateway::start();
    let api = FakeUpstream::start();
    gateway.add_provider(
        "ws-1",
        "github",
        FakeProvider::oauth2("gho").api_base_url(&api.url()),
    );
    gateway.add_provider(
        "ws-1",
        "google",
        FakeProvider::oauth2("ya29").api_base_url(&api.url()),
    );
    let client = client_of(&gateway.url());
    let cache = TokenCache::new();
    let url = format!("{}/user", api.url());
    let errors = [
        client
            .get_cached_token(&cache, "ws-1", "gitlab")
            .unwrap_err(),
        client.resolve_token("ws-1", "gitlab").unwrap_err(),
        client
            .authenticated_fetch(&cache, "ws-1", "gitlab", &url, FetchOptions::default())
            .unwrap_err(),
    ];
    for err in errors {
        for part in ["`gitlab`", "github", "google"] {
            assert!(err.message.contains(part), "{part}: {err}");
        }
        for advice in ["allow(", "NEXUS_ALLOWED_ORIGINS", "scope"] {
            assert!(!err.message.contains(advice), "{advice}: {err}");
        }
        one_line(&err.message);
    }
    // The workspace and the provider swapped.
    let swapped = [
        client
            .get_cached_token(&cache, "github", "ws-1")
            .unwrap_err(),
        client
            .authenticated_fetch(&cache, "google", "ws-1", &url, FetchOptions::default())
            .unwrap_err(),
    ];
    for err in swapped {
        assert!(err.message.contains("swapped"), "{err}");
        assert!(err.message.contains("`ws-1`"), "{err}");
    }
}

/// An api key a header cannot carry (the README's placeholder `…`, a pasted
/// line break, a tab) is refused when the client is made, naming
/// `NEXUS_API_KEY`, never sent and never repeated.
#[test]
fn an_api_key_a_header_cannot_carry_is_refused_when_the_client_is_made() {
    for key in [
        "…",
        "nx_live_abc…",
        "nx_live\n",
        "nx\tlive",
        "ключ",
        "nx\u{7f}x",
    ] {
        let options = NexusClientOptions::new("http://127.0.0.1:9").api_key(key);
        let err = NexusClient::new(options).unwrap_err();
        assert_eq!(err.code, nexus_sdk::code::INVALID_INPUT, "{key:?}");
        assert_eq!(err.setting, Some("NEXUS_API_KEY"), "{key:?}");
        assert!(err.message.contains("NEXUS_API_KEY"), "{key:?}: {err}");
        assert!(!err.message.contains(key), "{key:?}: never repeated: {err}");
    }
    assert!(
        NexusClient::new(NexusClientOptions::new("http://127.0.0.1:9").api_key("nx live_ok"))
            .is_ok()
    );
}

/// The Gateway down, met from each seat the library was made for (a stdio
/// MCP server's fetch and `Fetcher`, a build script's cached token, a CLI's
/// connection calls, a port from Python's names): every message leads with
/// the cause, what it cost after it.
#[test]
fn a_gateway_that_is_down_is_said_first_whatever_the_call() {
    use std::sync::Arc;
    let down = nothing_listens();
    let client = client_of(&down);
    let cache = Arc::new(TokenCache::new());
    let id = "3f1b2c4d-0000-4000-8000-00000000000c";
    let api = "https://api.github.com/user";
    let fetch = || FetchOptions::default();
    let anywhere = NexusClient::new(
        NexusClientOptions::new(&down).credential_scope(nexus_sdk::CredentialScope::anywhere()),
    )
    .unwrap();
    let input = nexus_sdk::RequestConnectionInput::new("ws-1", "github").return_url("http://x/");
    let quick = nexus_sdk::WaitOptions::default().timeout(Duration::from_millis(1));
    let calls: Vec<(&str, nexus_sdk::NexusError)> = vec![
        (
            "authenticated_fetch",
            client
                .authenticated_fetch(&cache, "ws-1", "github", api, fetch())
                .unwrap_err(),
        ),
        (
            "authenticated_fetch, anywhere",
            anywhere
                .authenticated_fetch(&cache, "ws-1", "github", api, fetch())
                .unwrap_err(),
        ),
        (
            "Fetcher::fetch",
            client
                .fetcher(Arc::clone(&cache), "ws-1", "github")
                .fetch(api, fetch())
                .unwrap_err(),
        ),
        (
            "get_cached_token",
            client
                .get_cached_token(&cache, "ws-1", "github")
                .unwrap_err(),
        ),
        (
            "resolve_token",
            client.resolve_token("ws-1", "github").unwrap_err(),
        ),
        ("providers", client.providers().unwrap_err()),
        ("health", client.health().unwrap_err()),
        (
            "request_connection",
            client.request_connection(&input).unwrap_err(),
        ),
        ("check_connection", client.check_connection(id).unwrap_err()),
        (
            "wait_for_active",
            client.wait_for_active_with_options(id, &quick).unwrap_err(),
        ),
        (
            "get_token_by_connection_id",
            client.get_token_by_connection_id(id).unwrap_err(),
        ),
        (
            "refresh_connection",
            client.refresh_connection(id).unwrap_err(),
        ),
        (
            "revoke_connection",
            client
                .revoke_connection(id, &Default::default())
                .unwrap_err(),
        ),
    ];
    let cause = format!("could not reach the Nexus Gateway at {down}");
    for (call, err) in calls {
        assert!(err.message.starts_with(&cause), "{call}: {err}");
        one_line(&err.message);
    }
}
