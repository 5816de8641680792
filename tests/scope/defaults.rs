//! Safe when the user does nothing special: the default credential scope,
//! and the request parts other than the URL that must not move or reveal
//! the credential.

use crate::common;

use std::time::Duration;

use nexus_gateway_fake::{FakeGateway, FakeProvider, FakeUpstream, Fault, Route};
use nexus_sdk::{
    CredentialScope, ErrorKind, FetchOptions, NexusClient, NexusClientOptions, NexusError,
    TokenCache, code,
};

/// A Gateway whose `github` API is `api`, and a client with default options.
fn setup(api: &FakeUpstream) -> (FakeGateway, NexusClient) {
    let gateway = FakeGateway::start();
    let github = FakeProvider::oauth2("gho_scoped").api_base_url(&api.url());
    gateway.add_provider("ws", "github", github);
    let client = NexusClient::new(NexusClientOptions::new(gateway.url())).unwrap();
    (gateway, client)
}

fn fetch(client: &NexusClient, url: &str, options: FetchOptions) -> Result<u16, NexusError> {
    let cache = TokenCache::new();
    client
        .authenticated_fetch(&cache, "ws", "github", url, options)
        .map(|r| r.0)
}

#[test]
fn the_default_scope_keeps_the_credential_on_the_providers_api() {
    let (api, attacker) = (FakeUpstream::start(), FakeUpstream::start());
    let (gateway, client) = setup(&api);
    assert_eq!(
        fetch(&client, &api.url(), FetchOptions::default()).unwrap(),
        200
    );
    let err = fetch(
        &client,
        &format!("{}/?x=", attacker.url()),
        FetchOptions::default(),
    )
    .unwrap_err();
    assert_eq!(err.code, code::ORIGIN_NOT_ALLOWED);
    assert_eq!(attacker.connections(), 0, "the attacker received nothing");
    assert_eq!(
        gateway.requests(Route::Resolve),
        1,
        "only the allowed fetch resolved"
    );
}

#[test]
fn an_unlisted_provider_is_its_own_error_and_costs_one_metadata_read() {
    let api = FakeUpstream::start();
    let (gateway, client) = setup(&api);
    for _ in 0..5 {
        let err = NexusClient::authenticated_fetch(
            &client,
            &TokenCache::new(),
            "ws",
            "no-such-provider",
            &api.url(),
            FetchOptions::default(),
        )
        .unwrap_err();
        assert_eq!(
            (err.code.as_str(), err.kind()),
            (code::PROVIDER_NOT_LISTED, ErrorKind::NotFound)
        );
        // It names the provider and those the Gateway lists, and gives no
        // advice about the scope: allowing an origin cannot fix a wrong name.
        assert!(err.message.contains("`no-such-provider`"), "{err}");
        assert!(err.message.contains("github"), "{err}");
        assert!(!err.message.contains("NEXUS_ALLOWED_ORIGINS"), "{err}");
    }
    assert_eq!(gateway.requests(Route::ProvidersMetadata), 1);
    assert_eq!(gateway.requests(Route::Resolve), 0);
}

#[test]
fn a_refusal_tells_the_model_what_and_only_the_log_tells_the_developer_how() {
    common::capture_logs();
    let api = FakeUpstream::start();
    let gateway = FakeGateway::start();
    gateway.add_provider("ws", "github", FakeProvider::oauth2("gho_x"));
    gateway.add_provider(
        "ws",
        "listed",
        FakeProvider::oauth2("gho_y").api_base_url("https://api.listed.example"),
    );
    let client = NexusClient::new(NexusClientOptions::new(gateway.url())).unwrap();
    let origin = api.url();
    let no_base = fetch(&client, &origin, FetchOptions::default()).unwrap_err();
    let elsewhere = client
        .authenticated_fetch(
            &TokenCache::new(),
            "ws",
            "listed",
            &origin,
            FetchOptions::default(),
        )
        .unwrap_err();
    let anywhere_but = NexusClient::new(
        NexusClientOptions::new(gateway.url())
            .credential_scope(CredentialScope::anywhere().allow("github", "https://a.example")),
    )
    .unwrap();
    let outside = fetch(&anywhere_but, &origin, FetchOptions::default()).unwrap_err();
    for (err, provider) in [
        (no_base, "github"),
        (elsewhere, "listed"),
        (outside, "github"),
    ] {
        assert_eq!(err.code, code::ORIGIN_NOT_ALLOWED);
        assert!(err.message.contains(&format!("`{provider}`")), "{err}");
        for recipe in [
            "allow(",
            "NEXUS_ALLOWED_ORIGINS",
            "CredentialScope",
            "to send it",
        ] {
            assert!(!err.message.contains(recipe), "{recipe:?} in {err}");
        }
        let advice = common::log_lines_with(&format!("NEXUS_ALLOWED_ORIGINS={provider}={origin}"));
        assert!(
            advice.iter().any(|l| l.starts_with("WARN nexus_sdk")),
            "{advice:?}"
        );
        assert!(
            advice
                .iter()
                .any(|l| l.contains(&format!(".allow(\"{provider}\", \"{origin}\")")))
        );
    }
    assert_eq!(api.connections(), 0);
}

#[test]
fn a_host_header_cannot_move_the_credential() {
    let api = FakeUpstream::start();
    let (_gateway, client) = setup(&api);
    let authority = api.url().trim_start_matches("http://").to_owned();
    for host in ["evil.example", "evil.example:80", "127.0.0.1:1", "", "a b"] {
        let err = fetch(
            &client,
            &api.url(),
            FetchOptions::default().header("Host", host),
        )
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{host:?}: {err}");
    }
    assert_eq!(api.request_count(), 0, "nothing was sent");
    // The URL's own authority, in any case, is fine.
    let own = FetchOptions::default().header("HOST", authority.to_uppercase());
    assert_eq!(fetch(&client, &api.url(), own).unwrap(), 200);
    assert_eq!(
        api.last_request().unwrap().header("authorization"),
        Some("Bearer gho_scoped")
    );
    // Under anywhere() the caller's Host header is the caller's business.
    let gateway = FakeGateway::start();
    gateway.add_provider("ws", "github", FakeProvider::oauth2("gho_any"));
    let open = NexusClient::new(
        NexusClientOptions::new(gateway.url()).credential_scope(CredentialScope::anywhere()),
    )
    .unwrap();
    let status = fetch(
        &open,
        &api.url(),
        FetchOptions::default().header("Host", "other.example"),
    );
    assert_eq!(status.unwrap(), 200);
}

#[test]
fn no_credential_on_a_method_that_echoes_the_request() {
    let api = FakeUpstream::start();
    let (gateway, client) = setup(&api);
    for method in ["TRACE", "trace", "Track", "TRACK"] {
        let err = fetch(&client, &api.url(), FetchOptions::default().method(method)).unwrap_err();
        assert_eq!(err.code, code::INVALID_INPUT, "{method}");
    }
    assert_eq!(api.request_count(), 0);
    assert_eq!(gateway.requests(Route::Resolve), 0);
}

#[test]
fn a_gateway_error_that_echoes_the_key_past_the_cut_is_redacted() {
    let key = "nx_live_k3y_0123456789abcdef";
    let gateway = FakeGateway::start();
    for pad in [480, 500, 505, 511] {
        let body = format!("{}{key}", "e".repeat(pad));
        gateway.push_fault(Fault::body(500, Some("text/plain"), &body));
        let client = NexusClient::new(NexusClientOptions::new(gateway.url()).api_key(key)).unwrap();
        let err = client.resolve_token("ws", "github").unwrap_err();
        assert!(
            !err.message.contains("nx_live"),
            "pad {pad}: {}",
            err.message
        );
        assert!(!err.to_string().contains("nx_live"));
    }
}

#[test]
fn debug_of_a_scope_hides_an_origins_password() {
    let scope = CredentialScope::provider_api().allow("x", "https://ops:s3cr3t-pw@x.example");
    let options = NexusClientOptions::new("http://127.0.0.1:1").credential_scope(scope.clone());
    for debug in [format!("{scope:?}"), format!("{options:?}")] {
        assert!(!debug.contains("s3cr3t-pw"), "{debug}");
    }
}

/// Two Gateways that answer different tokens for the same pair.
fn two_gateways() -> (FakeGateway, FakeGateway, NexusClient, NexusClient) {
    let (one, two) = (FakeGateway::start(), FakeGateway::start());
    one.add_provider("ws", "github", FakeProvider::oauth2("gho_one"));
    two.add_provider("ws", "github", FakeProvider::oauth2("gho_two"));
    let client = |g: &FakeGateway| {
        NexusClient::new(NexusClientOptions::new(g.url()).api_key("nx_same")).unwrap()
    };
    let (a, b) = (client(&one), client(&two));
    (one, two, a, b)
}

fn token_of(client: &NexusClient, cache: &TokenCache) -> String {
    client
        .get_cached_token(cache, "ws", "github")
        .unwrap()
        .access_token()
        .to_owned()
}

#[test]
fn a_shared_cache_never_hands_one_gateways_token_to_another_client() {
    let (one, two, a, b) = two_gateways();
    let cache = TokenCache::new();
    for _ in 0..3 {
        assert_eq!(token_of(&a, &cache), "gho_one");
        assert_eq!(token_of(&b, &cache), "gho_two");
    }
    assert_eq!(
        one.resolves("ws", "github"),
        1,
        "each client's entry is kept"
    );
    assert_eq!(two.resolves("ws", "github"), 1);
    assert_eq!(
        token_of(&a.clone(), &cache),
        "gho_one",
        "clones share entries"
    );
    assert_eq!(cache.len(), 2);
    // `clear_token` forgets the pair for every client.
    a.clear_token(&cache, "ws", "github");
    assert!(cache.is_empty());
    assert_eq!(token_of(&b, &cache), "gho_two");
    assert_eq!(two.resolves("ws", "github"), 2);
}

#[test]
fn two_api_keys_on_one_gateway_keep_separate_entries() {
    let gateway = FakeGateway::start();
    gateway.add_provider("ws", "github", FakeProvider::oauth2("gho_x"));
    let with_key =
        |key: &str| NexusClient::new(NexusClientOptions::new(gateway.url()).api_key(key)).unwrap();
    let cache = TokenCache::new();
    token_of(&with_key("nx_alice"), &cache);
    token_of(&with_key("nx_bob"), &cache);
    assert_eq!(
        gateway.resolves("ws", "github"),
        2,
        "bob did not get alice's entry"
    );
    // A client built again with alice's URL and key is alice: it shares.
    token_of(&with_key("nx_alice"), &cache);
    assert_eq!(gateway.resolves("ws", "github"), 2);
}

#[test]
fn concurrent_resolves_of_two_clients_do_not_share_a_flight() {
    let (one, two, a, b) = two_gateways();
    // Both resolves are held at their Gateways at once: the flights overlap.
    let holds = (one.hold_next(Route::Resolve), two.hold_next(Route::Resolve));
    let cache = TokenCache::new();
    let (got_a, got_b) = std::thread::scope(|s| {
        let a = s.spawn(|| token_of(&a, &cache));
        let b = s.spawn(|| token_of(&b, &cache));
        common::wait_until(|| {
            one.requests(Route::Resolve) == 1 && two.requests(Route::Resolve) == 1
        });
        drop(holds);
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_eq!((got_a.as_str(), got_b.as_str()), ("gho_one", "gho_two"));
}

#[test]
fn a_token_stored_with_set_is_for_every_client() {
    use std::time::{Duration, SystemTime};
    let (one, two, a, b) = two_gateways();
    let cache = TokenCache::new();
    let mine =
        nexus_sdk::CachedToken::bearer("gho_mine", SystemTime::now() + Duration::from_secs(3600));
    cache.set("ws", "github", mine.clone());
    assert_eq!(token_of(&a, &cache), "gho_mine");
    assert_eq!(token_of(&b, &cache), "gho_mine");
    assert_eq!(
        one.resolves("ws", "github") + two.resolves("ws", "github"),
        0
    );
    // `get` sees a client's entry too.
    cache.delete("ws", "github");
    token_of(&a, &cache);
    assert_eq!(cache.get("ws", "github").unwrap().access_token(), "gho_one");
}

#[test]
fn a_failing_provider_listing_keeps_the_last_one_for_a_bounded_time_then_fails_closed() {
    common::capture_logs();
    let api = FakeUpstream::start();
    let gateway = FakeGateway::start();
    gateway.add_provider(
        "ws",
        "github",
        FakeProvider::oauth2("gho_s").api_base_url(&api.url()),
    );
    let client = NexusClient::new(NexusClientOptions::new(gateway.url())).unwrap();
    let clock = nexus_gateway_fake::TestClock::new();
    let cache = clock.token_cache(Duration::from_secs(30));
    let get = |cache: &TokenCache| {
        client
            .authenticated_fetch(cache, "ws", "github", &api.url(), FetchOptions::default())
            .map(|(status, _, _)| status)
    };
    assert_eq!(get(&cache).unwrap(), 200);
    assert_eq!(gateway.requests(Route::ProvidersMetadata), 1);
    // From now on the Gateway cannot list its providers.
    gateway.fail_every(Route::ProvidersMetadata, 1, Fault::status(503));
    clock.advance(Duration::from_secs(6 * 60));
    assert_eq!(
        get(&cache).unwrap(),
        200,
        "the last listing still allows it"
    );
    assert_eq!(gateway.requests(Route::ProvidersMetadata), 2);
    let warned = common::log_lines_with("provider list could not be read again");
    assert!(
        warned.iter().any(|l| l.starts_with("WARN nexus_sdk")),
        "{warned:?}"
    );
    // Within 30 s of a failed read, no Gateway call at all.
    assert_eq!(get(&cache).unwrap(), 200);
    assert_eq!(gateway.requests(Route::ProvidersMetadata), 2);
    // 30 minutes after the last good read: fail closed.
    clock.advance(Duration::from_secs(25 * 60));
    let err = get(&cache).unwrap_err();
    assert_eq!(err.status_code, Some(503), "{err}");
    // A client that never read a listing fails closed at once.
    let fresh = NexusClient::new(NexusClientOptions::new(gateway.url())).unwrap();
    let err = fresh
        .authenticated_fetch(
            &TokenCache::new(),
            "ws",
            "github",
            &api.url(),
            FetchOptions::default(),
        )
        .unwrap_err();
    assert_eq!(err.status_code, Some(503), "{err}");
    assert_eq!(
        api.requests().len(),
        3,
        "the three calls the listing allowed"
    );
}
