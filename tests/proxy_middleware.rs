//! The ureq middleware under an environment proxy (round 3, R2): an agent
//! built with ureq's defaults takes its proxy from the environment for
//! every scheme and for loopback too; the middleware routes both tries of
//! a request by the crate's rule instead. Alone in its own test binary
//! because it sets process variables.

use std::sync::Arc;

use nexus_gateway_fake::{FakeGateway, FakeProvider, FakeUpstream, Route};
use nexus_sdk::{NexusClient, NexusClientOptions, TokenCache};

#[test]
fn the_middleware_applies_the_crates_proxy_rule_to_both_tries() {
    // A FakeUpstream stands in for the proxy: it records what reaches it.
    let proxy = FakeUpstream::start();
    // SAFETY: this binary holds a single test, so no other thread reads the environment.
    unsafe {
        for name in [
            "ALL_PROXY",
            "all_proxy",
            "HTTP_PROXY",
            "http_proxy",
            "NO_PROXY",
            "no_proxy",
        ] {
            std::env::remove_var(name);
        }
        std::env::set_var("HTTPS_PROXY", proxy.url());
    }
    assert!(
        ureq::Proxy::try_from_env().is_some_and(|p| p.is_from_env()),
        "ureq's default agent takes HTTPS_PROXY for every scheme"
    );
    let (gateway, api) = (FakeGateway::start(), FakeUpstream::start());
    gateway.add_provider(
        "ws",
        "github",
        FakeProvider::oauth2("gho")
            .rotating()
            .api_base_url(&api.url()),
    );
    api.reject_token("gho-1");
    let client = NexusClient::new(NexusClientOptions::new(gateway.url())).unwrap();
    let cache = Arc::new(TokenCache::new());
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .middleware(client.middleware(cache, "ws", "github"))
        .build()
        .into();
    let answer = agent.get(format!("{}/user", api.url())).call().unwrap();
    assert_eq!(answer.status(), 200, "the second try, with a fresh token");
    assert_eq!(gateway.requests(Route::Resolve), 2);
    let sent: Vec<_> = api
        .requests()
        .iter()
        .map(|r| r.header("authorization").map(str::to_owned))
        .collect();
    assert_eq!(
        sent,
        [Some("Bearer gho-1".into()), Some("Bearer gho-2".into())]
    );
    assert_eq!(
        proxy.request_count(),
        0,
        "an http loopback API never goes to HTTPS_PROXY"
    );
}
