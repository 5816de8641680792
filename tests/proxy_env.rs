//! Environment proxies: honoured, except for loopback. Alone in its own
//! test binary because it sets process variables.

use nexus_gateway_fake::{FakeGateway, FakeProvider, FakeUpstream, Route};
use nexus_sdk::{CredentialScope, FetchOptions, NexusClient, NexusClientOptions, TokenCache};

#[test]
fn env_proxy_is_used_but_never_for_loopback() {
    let gateway = FakeGateway::start();
    gateway.add_provider("ws", "github", FakeProvider::oauth2("tok"));
    // A FakeUpstream stands in for the proxy: it records the absolute-form
    // request line a client sends to an HTTP proxy.
    let proxy = FakeUpstream::start();
    // SAFETY: this binary holds a single test, so no other thread reads the environment.
    unsafe {
        std::env::remove_var("NO_PROXY");
        std::env::remove_var("no_proxy");
        std::env::set_var("HTTP_PROXY", proxy.url());
        std::env::set_var("http_proxy", proxy.url());
    }
    let client = NexusClient::new(
        NexusClientOptions::new(gateway.url()).credential_scope(CredentialScope::anywhere()),
    )
    .unwrap();

    // The Gateway is on loopback: reached directly.
    let cache = TokenCache::new();
    client.get_cached_token(&cache, "ws", "github").unwrap();
    assert_eq!(gateway.requests(Route::Resolve), 1);
    assert_eq!(proxy.request_count(), 0, "loopback went through the proxy");

    // Every spelling of loopback the OS connects to goes direct too.
    let port = gateway
        .url()
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .to_owned();
    for host in [
        "127.1",
        "2130706433",
        "0x7f.0.0.1",
        "127.000.000.001",
        "[::ffff:127.0.0.1]",
        "LOCALHOST",
    ] {
        let url = format!("http://{host}:{port}");
        let client = NexusClient::new(
            NexusClientOptions::new(&url).credential_scope(CredentialScope::anywhere()),
        )
        .unwrap();
        let token = client.resolve_token("ws", "github");
        assert!(token.is_ok(), "{host}: {token:?}");
    }
    assert_eq!(
        proxy.request_count(),
        0,
        "a loopback spelling went through the proxy"
    );

    // Another host goes through the proxy: ureq opens a CONNECT tunnel,
    // which this stand-in cannot carry, so the fetch itself fails.
    let err = client
        .authenticated_fetch(
            &cache,
            "ws",
            "github",
            "http://api.nexus-sdk-test.invalid/user",
            FetchOptions::default(),
        )
        .unwrap_err();
    assert_eq!(err.code, "request_failed");
    let requests = proxy.requests();
    assert_eq!(requests[0].method, "CONNECT");
    assert_eq!(requests[0].path, "api.nexus-sdk-test.invalid:80");
    assert_eq!(
        requests[0].header("authorization"),
        None,
        "the credential is not in the CONNECT"
    );

    // A proxy is chosen for the request's scheme: with only HTTPS_PROXY set,
    // a plain http:// request goes direct (here, to a name that does not
    // resolve), never through the https proxy.
    let https_proxy = FakeUpstream::start();
    // SAFETY: as above, a single test in this binary.
    unsafe {
        std::env::remove_var("HTTP_PROXY");
        std::env::remove_var("http_proxy");
        std::env::set_var("HTTPS_PROXY", https_proxy.url());
    }
    let client = NexusClient::new(
        NexusClientOptions::new("http://gw.nexus-sdk-test.invalid")
            .credential_scope(CredentialScope::anywhere()),
    )
    .unwrap();
    let err = client.resolve_token("ws", "github").unwrap_err();
    assert_eq!(err.code, "request_failed");

    assert_eq!(
        https_proxy.connections(),
        0,
        "an http request went to the https proxy"
    );

    // A proxy variable that is not UTF-8 is refused naming it, as every
    // setting is, never passed over (requests would go past the proxy).
    #[cfg(unix)]
    for name in ["https_proxy", "HTTP_PROXY", "ALL_PROXY", "no_proxy"] {
        let mut bytes = b"http://proxy.example:3128/".to_vec();
        bytes[3] = 0xff;
        let not_utf8 = <std::ffi::OsString as std::os::unix::ffi::OsStringExt>::from_vec(bytes);
        // SAFETY: as above, a single test in this binary.
        unsafe { std::env::set_var(name, &not_utf8) };
        let options = NexusClientOptions::new(gateway.url());
        let err = NexusClient::new(options).map(drop).unwrap_err();
        unsafe { std::env::remove_var(name) };
        assert_eq!(
            (err.code.as_str(), err.setting),
            ("invalid_input", Some(name))
        );
        assert!(err.message.starts_with(name), "{err}");
    }
}
