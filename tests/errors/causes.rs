//! Errors that name the real cause and the reader's next step: a Gateway
//! URL with a query, a key ending in a line break, a server that closed
//! mid-answer told apart from one never reached, a 401 when no key was
//! sent, one retryable answer when no retry was allowed.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::thread;

use nexus_gateway_fake::{FakeGateway, Fault, Route};
use nexus_sdk::{NexusClient, NexusClientOptions, code, setting};

#[test]
fn a_gateway_url_with_a_query_or_fragment_is_refused_when_the_client_is_made() {
    for url in [
        "http://gw.example/?workspace=ws-1",
        "http://gw.example/#ws",
        "http://gw.example?x",
    ] {
        let err = NexusClient::new(NexusClientOptions::new(url)).unwrap_err();
        assert_eq!(err.code, code::INVALID_INPUT, "{url}: {err}");
        assert_eq!(err.setting, Some(setting::NEXUS_GATEWAY_URL), "{url}");
        assert!(err.message.contains("query or a fragment"), "{err}");
        assert!(
            !err.message.contains("ws-1"),
            "the value is not repeated: {err}"
        );
    }
}

#[test]
fn a_key_ending_in_a_line_break_is_named_as_such() {
    for key in ["nx_live_abc\r\n", "nx_live_abc\n", "nx_live_abc\r"] {
        let options = NexusClientOptions::new("http://127.0.0.1:9").api_key(key);
        let err = NexusClient::new(options).unwrap_err();
        assert_eq!(err.setting, Some(setting::NEXUS_API_KEY), "{key:?}");
        assert!(err.message.contains("line break"), "{key:?}: {err}");
        assert!(
            !err.message.contains("placeholder"),
            "not a guess at an ellipsis: {err}"
        );
    }
}

/// A server that reads one request and writes `answer`, then closes.
fn closes_after(answer: &'static [u8]) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    thread::spawn(move || {
        for stream in listener.incoming().take(4) {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.read(&mut [0; 4096]);
            let _ = stream.write_all(answer);
        }
    });
    url
}

#[test]
fn a_gateway_that_closed_mid_answer_is_not_said_unreachable() {
    for answer in [
        &b""[..],
        b"HTTP/1.1 200 OK\r\nContent-Length: 90\r\n\r\n{\"status\":",
    ] {
        let client = NexusClient::new(NexusClientOptions::new(closes_after(answer))).unwrap();
        let err = client
            .check_connection("3f1b2c4d-0000-4000-8000-00000000000c")
            .unwrap_err();
        assert_eq!(err.code, code::REQUEST_FAILED, "{err}");
        let said = ["was reached", "broke off its answer"];
        assert!(said.iter().any(|s| err.message.contains(s)), "{err}");
        assert!(!err.message.contains("could not reach"), "{err}");
        assert!(
            !format!("{err:?}").contains("check NEXUS_GATEWAY_URL"),
            "the URL was right: {err:?}"
        );
    }
    let never = NexusClient::new(NexusClientOptions::new(crate::common::refused_url())).unwrap();
    let err = never
        .check_connection("3f1b2c4d-0000-4000-8000-00000000000c")
        .unwrap_err();
    assert!(
        err.message.contains("could not reach"),
        "never reached: {err}"
    );
}

#[test]
fn a_401_says_whether_a_key_was_sent() {
    let gateway = FakeGateway::start();
    gateway.push_fault_for(Route::CheckConnection, Fault::status(401));
    gateway.push_fault_for(Route::CheckConnection, Fault::status(401));
    let id = "3f1b2c4d-0000-4000-8000-00000000000c";
    let without = NexusClient::new(NexusClientOptions::new(gateway.url())).unwrap();
    let err = without.check_connection(id).unwrap_err();
    assert!(err.message.contains("no NEXUS_API_KEY was sent"), "{err}");
    let with = NexusClientOptions::new(gateway.url()).api_key("nx_live_wrong");
    let err = NexusClient::new(with)
        .unwrap()
        .check_connection(id)
        .unwrap_err();
    assert!(err.message.contains("check NEXUS_API_KEY"), "{err}");
    assert!(!err.message.contains("was sent"), "{err}");
}

#[test]
fn one_retryable_answer_with_no_retry_allowed_says_so() {
    let gateway = FakeGateway::start();
    gateway.push_fault_for(Route::CheckConnection, Fault::status(503));
    let client = NexusClient::new(NexusClientOptions::new(gateway.url())).unwrap();
    let err = client
        .check_connection("3f1b2c4d-0000-4000-8000-00000000000c")
        .unwrap_err();
    assert!(
        err.message.contains("no retry allowed") && err.message.contains("NEXUS_RETRIES"),
        "{err}"
    );
    assert!(!err.message.contains("after 1 attempt"), "{err}");
}

#[test]
fn a_listing_that_cannot_be_read_is_named_as_what_the_scope_needs() {
    use nexus_gateway_fake::{FakeProvider, FakeUpstream};
    use nexus_sdk::{FetchOptions, TokenCache};
    let (gateway, api) = (FakeGateway::start(), FakeUpstream::start());
    gateway.add_provider(
        "ws",
        "github",
        FakeProvider::oauth2("gho_x").api_base_url(&api.url()),
    );
    gateway.push_fault_for(Route::ProvidersMetadata, Fault::status(500));
    let client = NexusClient::new(NexusClientOptions::new(gateway.url())).unwrap();
    let url = format!("{}/user", api.url());
    let err = client
        .authenticated_fetch(
            &TokenCache::new(),
            "ws",
            "github",
            &url,
            FetchOptions::default(),
        )
        .unwrap_err();
    assert!(
        err.message.contains("credential scope") && err.message.contains("provider listing"),
        "{err}"
    );
    assert!(
        err.message.contains("HTTP 500"),
        "the Gateway's answer is still said: {err}"
    );
    let cause = err.message.find("HTTP 500").unwrap();
    let scope = err.message.find("credential scope").unwrap();
    assert!(cause < scope, "the cause first: {err}");
    assert_eq!(api.requests().len(), 0, "nothing was sent");
}
