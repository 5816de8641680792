//! A proxy that is the one failing is named: with HTTPS_PROXY, HTTP_PROXY
//! or ALL_PROXY set to a dead or scheme-less proxy, or one whose own name
//! does not resolve, the message names the proxy (userinfo withheld), its
//! host and the variable it came from, and never reports the Gateway as
//! down; a variable that names no proxy at all is `invalid_input` naming
//! it, never a request that goes past the proxy. Alone in its own test
//! binary because it sets process variables.

mod common;

use nexus_sdk::{CredentialScope, NexusClient, NexusClientOptions, code};

fn resolve_through(gateway_url: &str) -> nexus_sdk::NexusError {
    let options =
        NexusClientOptions::new(gateway_url).credential_scope(CredentialScope::anywhere());
    NexusClient::new(options)
        .unwrap()
        .resolve_token("ws", "github")
        .unwrap_err()
}

#[test]
fn a_dead_or_scheme_less_proxy_is_named_with_its_variable() {
    let dead = common::refused_url(); // http://127.0.0.1:<a port nobody listens on>
    let authority = dead.trim_start_matches("http://").to_owned();
    let cases = [
        (
            "HTTPS_PROXY",
            format!("http://proxyuser:s3cret@{authority}"),
            "https://gateway.example",
        ),
        ("HTTPS_PROXY", authority.clone(), "https://gateway.example"),
        (
            "HTTP_PROXY",
            format!("http://{authority}"),
            "http://gateway.example",
        ),
        (
            "ALL_PROXY",
            format!("http://proxyuser:s3cret@{authority}"),
            "http://gateway.example",
        ),
    ];
    for (variable, value, gateway_url) in cases {
        set_only(variable, &value);
        let err = resolve_through(gateway_url);
        let shown = format!("{err} {err:?}");
        assert_eq!(err.code, code::REQUEST_FAILED, "{variable}={value}: {err}");
        assert!(
            err.message
                .contains(&format!("the proxy http://{authority}")),
            "{err}"
        );
        assert!(err.message.contains(&format!("(from {variable})")), "{err}");
        assert!(
            !err.message.contains("could not reach the Nexus Gateway"),
            "{err}"
        );
        assert!(
            !shown.contains("s3cret") && !shown.contains("proxyuser"),
            "{shown}"
        );
    }
    // A proxy whose own name does not resolve: its host is named, not the Gateway's.
    let proxy_host = format!("{}.example", "p".repeat(64));
    set_only(
        "HTTPS_PROXY",
        &format!("http://proxyuser:s3cret@{proxy_host}:3128"),
    );
    let err = resolve_through("https://gateway.example");
    assert!(
        err.message
            .contains(&format!("its host `{proxy_host}` does not resolve (DNS)")),
        "{err}"
    );
    assert!(
        !err.message.contains("gateway.example` does not resolve"),
        "{err}"
    );
    // A variable that names no proxy: refused at once, its value unshown.
    for bad in [
        "ftp://proxyuser:s3cret@proxy.example:21",
        "http://[proxyuser:s3cret@oops",
    ] {
        set_only("HTTPS_PROXY", bad);
        let options = NexusClientOptions::new("https://gateway.example");
        let err = NexusClient::new(options).unwrap_err();
        assert_eq!(err.code, code::INVALID_INPUT, "{bad}: {err}");
        assert!(err.message.starts_with("HTTPS_PROXY is set"), "{err}");
        assert!(!format!("{err} {err:?}").contains("s3cret"), "{err}");
    }
}

/// Leaves `variable` the one proxy variable set, to `value`.
fn set_only(variable: &str, value: &str) {
    // SAFETY: this binary holds a single test, so no other thread reads the environment.
    unsafe {
        for name in [
            "HTTPS_PROXY",
            "https_proxy",
            "HTTP_PROXY",
            "http_proxy",
            "ALL_PROXY",
            "all_proxy",
            "NO_PROXY",
            "no_proxy",
        ] {
            std::env::remove_var(name);
        }
        std::env::set_var(variable, value);
    }
}
