//! Errors that the developer and the model can each act on: every error the
//! Gateway answers with a status that may lie in the set-up names the
//! Gateway and its origin; a server that is not a Nexus Gateway is named as
//! such on 401, 403 and plain-text 5xx too; the cause of a transport failure
//! (DNS, TLS, an untrusted certificate) is in the message; a failing proxy
//! is named with the variable it came from. No secret in any of them.

use crate::common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;

use nexus_gateway_fake::{FakeGateway, FakeProvider, Fault, Route};
use nexus_sdk::{CredentialScope, NexusClient, NexusClientOptions, NexusError, TokenCache, code};

const KEY: &str = "nx_live_secret_key";

fn client_of(url: &str) -> NexusClient {
    let options = NexusClientOptions::new(url)
        .api_key(KEY)
        .timeout(std::time::Duration::from_secs(10))
        .credential_scope(CredentialScope::anywhere());
    NexusClient::new(options).unwrap()
}

/// A Gateway whose resolve answers `status` with `body`, and the error a
/// client of it gets.
fn resolve_against(status: u16, kind: Option<&str>, body: &str) -> (FakeGateway, NexusError) {
    let gateway = FakeGateway::start();
    gateway.push_fault_for(Route::Resolve, Fault::body(status, kind, body));
    let err = client_of(&gateway.url())
        .resolve_token("ws", "github")
        .unwrap_err();
    (gateway, err)
}

#[test]
fn the_gateways_own_errors_name_it_and_its_origin_when_the_set_up_may_be_the_cause() {
    let cases: [(u16, Option<&str>, &str); 7] = [
        (
            401,
            Some("application/json"),
            r#"{"error":"unauthorized","message":"missing or invalid API key"}"#,
        ),
        (
            403,
            Some("application/json"),
            r#"{"error":"forbidden","message":"not allowed"}"#,
        ),
        (429, Some("text/plain"), "rate limit exceeded"),
        (
            500,
            Some("application/json"),
            r#"{"error":"decrypt_failed","message":"cannot decrypt"}"#,
        ),
        (
            502,
            Some("application/json"),
            r#"{"error":"broker_error","message":"broker returned status 400","status":400}"#,
        ),
        (
            503,
            Some("application/json"),
            r#"{"error":"broker_unavailable","message":"down"}"#,
        ),
        (500, None, ""),
    ];
    for (status, kind, body) in cases {
        let (gateway, err) = resolve_against(status, kind, body);
        let origin = gateway.url();
        assert!(
            err.message
                .contains(&format!("the Nexus Gateway at {origin}")),
            "{status}: {err}"
        );
        assert_eq!(err.status_code, Some(status));
        assert!(!format!("{err} {err:?}").contains(KEY));
        if status == 401 {
            assert!(err.message.contains("NEXUS_API_KEY"), "{err}");
        }
    }
    // A refusal about what was asked keeps the Gateway's words (the
    // conformance vectors).
    let gateway = FakeGateway::start();
    let body = r#"{"error":"connection_not_found","message":"no such connection"}"#;
    gateway.push_fault_for(
        Route::Token,
        Fault::body(404, Some("application/json"), body),
    );
    let err = client_of(&gateway.url())
        .get_token_by_connection_id(common::C)
        .unwrap_err();
    assert_eq!(
        (err.code.as_str(), err.message.as_str()),
        ("connection_not_found", "no such connection")
    );
}

#[test]
fn a_server_that_is_not_a_gateway_is_named_as_such_on_401_403_and_plain_text_5xx() {
    let cases: [(u16, Option<&str>, &str); 5] = [
        (
            401,
            Some("application/json"),
            r#"{"message":"Requires authentication","documentation_url":"https://docs.github.com"}"#,
        ),
        (403, Some("text/plain"), "Forbidden"),
        (403, Some("application/json"), r#"{"detail":"no"}"#),
        (500, Some("text/plain"), "Internal Server Error"),
        (
            503,
            Some("text/plain"),
            "upstream connect error or disconnect/reset before headers",
        ),
    ];
    for (status, kind, body) in cases {
        let (gateway, err) = resolve_against(status, kind, body);
        assert!(
            err.message.contains("does not look like a Nexus Gateway"),
            "{status} {body}: {err}"
        );
        assert!(err.message.contains(&gateway.url()), "{err}");
        assert!(
            !err.message.contains("API key"),
            "not read as the Gateway refusing the key: {err}"
        );
    }
}

#[test]
fn a_host_that_does_not_resolve_says_so_and_names_it() {
    // A label longer than DNS allows: the resolver refuses it without a query.
    let host = format!("{}.example", "a".repeat(64));
    let err = client_of(&format!("http://{host}")).health().unwrap_err();
    assert_eq!(err.code, code::REQUEST_FAILED, "{err}");
    assert!(err.message.contains("does not resolve (DNS)"), "{err}");
    assert!(err.message.contains(&format!("`{host}`")), "{err}");
}

/// A TLS server on loopback whose certificate no trust store holds.
fn self_signed_server() -> String {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_slice_iter(include_bytes!("../data/self-signed.crt"))
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(include_bytes!("../data/self-signed.key")).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut tls = rustls::ServerConnection::new(Arc::clone(&config)).unwrap();
            // The handshake fails on the client's side; then the socket closes.
            let _ = tls.complete_io(&mut stream);
        }
    });
    format!("https://localhost:{port}")
}

/// A server that answers a TLS hello with plain HTTP.
fn plain_http_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut hello = [0u8; 512];
            let _ = stream.read(&mut hello);
            let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n");
        }
    });
    format!("https://127.0.0.1:{port}")
}

#[test]
fn a_tls_failure_says_tls_and_an_untrusted_certificate_points_at_the_platform_verifier() {
    let err = client_of(&self_signed_server()).health().unwrap_err();
    assert_eq!(err.code, code::REQUEST_FAILED, "{err}");
    assert!(err.message.contains("certificate is not trusted"), "{err}");
    assert!(err.message.contains("platform-verifier"), "{err}");
    let err = client_of(&plain_http_server()).health().unwrap_err();
    assert!(err.message.contains("TLS"), "{err}");
    assert!(!err.message.contains("connection failed"), "{err}");
}

#[test]
fn gateway_errors_reach_the_model_without_the_key() {
    let gateway = FakeGateway::start();
    gateway.add_provider("ws", "github", FakeProvider::oauth2("gho_x"));
    let echo = format!(r#"{{"error":"unauthorized","message":"bad key {KEY}"}}"#);
    gateway.push_fault_for(
        Route::Resolve,
        Fault::body(401, Some("application/json"), &echo),
    );
    let err = client_of(&gateway.url())
        .get_cached_token(&TokenCache::new(), "ws", "github")
        .unwrap_err();
    assert!(err.message.contains(&gateway.url()), "{err}");
    assert!(!format!("{err} {err:?}").contains(KEY), "{err}");
}

/// A server on loopback that promises 100 bytes, sends `head` of them and
/// closes: an answer cut short.
fn cut_short_server(head: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let answer = format!("HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{head}");
            let _ = stream.write_all(answer.as_bytes());
        }
    });
    format!("http://127.0.0.1:{port}")
}

#[test]
fn an_answer_cut_short_names_its_server_and_origin() {
    let gateway = cut_short_server(r#"{"status":"hea"#);
    let err = client_of(&gateway).health().unwrap_err();
    assert_eq!(err.code, code::REQUEST_FAILED, "{err}");
    assert!(
        err.message.starts_with(&format!(
            "the Nexus Gateway at {gateway} broke off its answer"
        )),
        "{err}"
    );
    let api = cut_short_server("[1, 2,");
    let gateway = FakeGateway::start();
    gateway.add_provider("ws", "github", FakeProvider::oauth2("gho_cut"));
    let url = format!("{api}/user");
    let err = client_of(&gateway.url())
        .authenticated_fetch(&TokenCache::new(), "ws", "github", &url, Default::default())
        .unwrap_err();
    assert!(
        err.message
            .starts_with("the API of provider `github` at http://127.0.0.1:"),
        "{err}"
    );
    assert!(err.message.contains("broke off its answer"), "{err}");
}

#[test]
fn an_answer_over_the_cap_names_the_provider_and_the_option() {
    let gateway = FakeGateway::start();
    let api = nexus_gateway_fake::FakeUpstream::start();
    gateway.add_provider("ws", "github", FakeProvider::oauth2("gho_big"));
    api.set_reply(
        "/big",
        nexus_gateway_fake::FakeReply::new(200).body(vec![b'x'; 2000]),
    );
    let options = NexusClientOptions::new(gateway.url())
        .max_upstream_body(1000)
        .credential_scope(CredentialScope::anywhere());
    let err = NexusClient::new(options)
        .unwrap()
        .authenticated_fetch(
            &TokenCache::new(),
            "ws",
            "github",
            &format!("{}/big", api.url()),
            Default::default(),
        )
        .unwrap_err();
    assert_eq!(err.code, code::REQUEST_FAILED);
    assert!(
        err.message.contains("provider `github`") && err.message.contains(&api.url()),
        "{err}"
    );
    assert!(
        err.message
            .contains("1000-byte cap (NexusClientOptions::max_upstream_body)"),
        "{err}"
    );
}

#[test]
fn a_scope_refusal_names_the_origin_and_the_provider_and_debug_hints_how_to_allow_it() {
    let gateway = FakeGateway::start();
    let api = nexus_gateway_fake::FakeUpstream::start();
    gateway.add_provider("ws", "google", FakeProvider::oauth2("ya29_no_base"));
    let client = NexusClient::new(NexusClientOptions::new(gateway.url())).unwrap();
    let err = client
        .authenticated_fetch(
            &TokenCache::new(),
            "ws",
            "google",
            &format!("{}/x", api.url()),
            Default::default(),
        )
        .unwrap_err();
    assert_eq!(err.code, code::ORIGIN_NOT_ALLOWED);
    assert!(
        err.message.contains(&api.url()) && err.message.contains("`google`"),
        "{err}"
    );
    assert!(
        !err.to_string().contains("NEXUS_ALLOWED_ORIGINS"),
        "a model never reads the recipe"
    );
    let debug = format!("{err:?}");
    let hint = debug.lines().last().unwrap_or_default();
    assert!(
        hint.starts_with("  hint: to send `google`'s credential to "),
        "{debug}"
    );
    assert!(
        hint.contains(&format!("NEXUS_ALLOWED_ORIGINS=google={}", api.url())),
        "{debug}"
    );
}
