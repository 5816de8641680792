//! Where the crate must do what the Python SDK (0.2.3) does, on the wire and
//! in its results: the differences a byte-level differential run against the
//! real Python SDK found, one table each. The next difference found goes here.

mod common;

use std::error::Error as _;

use common::{client, client_with, fast_retries};
use nexus_gateway_fake::{
    FakeConnection, FakeGateway, FakeProvider, FakeReply, FakeUpstream, Fault, Framing, Route,
};
use nexus_sdk::{
    ConnectionStatus, FetchOptions, NexusClient, NexusClientOptions, TokenCache, code,
};
use serde_json::json;

fn fetch(gateway: &FakeGateway, url: &str, options: FetchOptions) -> u16 {
    client(gateway)
        .authenticated_fetch(&TokenCache::new(), "ws", "github", url, options)
        .unwrap()
        .0
}

fn with_github() -> (FakeGateway, FakeUpstream) {
    let gateway = FakeGateway::start();
    gateway.add_provider("ws", "github", FakeProvider::oauth2("gho_parity"));
    (gateway, FakeUpstream::start())
}

// --- 1. A method that carries a body, sent without one: Content-Length: 0 ---

#[test]
fn bodiless_requests_are_framed_as_python_and_curl_frame_them() {
    let (gateway, upstream) = with_github();
    for (method, framing) in [
        ("POST", Framing::ContentLength(0)),
        ("PUT", Framing::ContentLength(0)),
        ("PATCH", Framing::ContentLength(0)),
        ("post", Framing::ContentLength(0)),
        ("Patch", Framing::ContentLength(0)),
        ("GET", Framing::None),
        ("DELETE", Framing::None),
        ("PROPFIND", Framing::None),
    ] {
        let status = fetch(
            &gateway,
            &upstream.url(),
            FetchOptions::default().method(method),
        );
        assert_eq!(status, 200, "{method}");
        let sent = upstream.last_request().unwrap();
        assert_eq!((sent.method.as_str(), sent.framing), (method, framing));
        let head = String::from_utf8_lossy(&sent.raw_head).to_ascii_lowercase();
        assert!(!head.contains("transfer-encoding"), "{method}: {head}");
    }
    // With a body, its exact length.
    fetch(
        &gateway,
        &upstream.url(),
        FetchOptions::default().method("PUT").data("abc"),
    );
    assert_eq!(
        upstream.last_request().unwrap().framing,
        Framing::ContentLength(3)
    );

    // The Gateway path: refresh_connection is a POST without a body.
    gateway.add_connection(common::C, FakeConnection::active("github", "t"));
    client(&gateway).refresh_connection(common::C).unwrap();
    let sent = gateway.last_request_to(Route::Refresh).unwrap();
    assert_eq!(sent.framing, Framing::ContentLength(0));
    let sent = gateway.last_request_to(Route::Resolve).unwrap();
    assert_eq!(sent.framing, Framing::None);
}

// --- 2. max_retries_exceeded whatever `retries` is ---

#[test]
fn a_retryable_status_on_the_last_attempt_is_max_retries_exceeded() {
    for (status, retry_on_429, retries, want) in [
        (502, false, 0, code::MAX_RETRIES_EXCEEDED),
        (503, false, 0, code::MAX_RETRIES_EXCEEDED),
        (504, false, 0, code::MAX_RETRIES_EXCEEDED),
        (503, false, 2, code::MAX_RETRIES_EXCEEDED),
        (429, false, 0, "injected_fault"),
        (500, false, 0, "injected_fault"),
    ] {
        let gateway = FakeGateway::start();
        gateway.add_connection(common::C, FakeConnection::active("github", "t"));
        gateway.push_faults(3, Fault::status(status));
        let policy = fast_retries(retries).retry_on_429(retry_on_429);
        let err = client_with(&gateway, |o| o.retry_policy = policy)
            .check_connection(common::C)
            .unwrap_err();
        let case = format!("{status} retry_on_429={retry_on_429} retries={retries}");
        assert_eq!(
            (err.code.as_str(), err.status_code),
            (want, Some(status)),
            "{case}"
        );
        if want == code::MAX_RETRIES_EXCEEDED {
            let source = err.source().map(ToString::to_string).unwrap_or_default();
            assert!(source.starts_with("injected_fault: "), "{case}: {source}");
        }
        assert_eq!(
            gateway.requests(Route::CheckConnection),
            retries as usize + 1,
            "{case}"
        );
    }
}

// --- 3. Gateway redirects ---

/// A FakeUpstream standing in for a Gateway behind a load balancer.
fn redirecting_gateway(from: &str, status: u16, location: &str) -> FakeUpstream {
    let server = FakeUpstream::start();
    server.set_reply(from, FakeReply::new(status).header("Location", location));
    server
}

#[test]
fn same_host_gateway_redirects_are_followed_with_the_key() {
    let lb = redirecting_gateway(
        "/v1/check-connection/c",
        301,
        "/moved/v1/check-connection/c",
    );
    lb.set_reply(
        "/moved/v1/check-connection/c",
        FakeReply::new(200)
            .header("Content-Type", "application/json")
            .body(r#"{"status":"active"}"#),
    );
    let client = NexusClient::new(NexusClientOptions::new(lb.url()).api_key("nx_key")).unwrap();
    assert_eq!(
        client.check_connection("c").unwrap(),
        ConnectionStatus::Active
    );
    let requests = lb.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[1].path, "/moved/v1/check-connection/c");
    assert_eq!(requests[1].header("x-api-key"), Some("nx_key"));
}

#[test]
fn a_gateway_redirect_with_dot_segments_is_resolved_as_rfc_3986_says() {
    let lb = redirecting_gateway(
        "/v1/check-connection/c",
        302,
        "../../moved/./v1/check-connection/c",
    );
    lb.set_reply(
        "/moved/v1/check-connection/c",
        FakeReply::new(200)
            .header("Content-Type", "application/json")
            .body(r#"{"status":"active"}"#),
    );
    let client = NexusClient::new(NexusClientOptions::new(lb.url())).unwrap();
    assert_eq!(
        client.check_connection("c").unwrap(),
        ConnectionStatus::Active
    );
    assert_eq!(lb.requests()[1].path, "/moved/v1/check-connection/c");
}

#[test]
fn a_gateway_redirect_to_another_host_is_an_error_naming_it() {
    let elsewhere = FakeUpstream::start();
    for status in [301, 302, 307, 308] {
        let target = format!("{}/v1/check-connection/c", elsewhere.url());
        let lb = redirecting_gateway("/v1/check-connection/c", status, &target);
        let client = NexusClient::new(NexusClientOptions::new(lb.url()).api_key("nx_key")).unwrap();
        let err = client.check_connection("c").unwrap_err();
        assert_eq!(
            (err.code.clone(), err.status_code),
            (format!("http_{status}"), Some(status))
        );
        let port = elsewhere
            .url()
            .rsplit(':')
            .next()
            .unwrap_or_default()
            .to_owned();
        assert!(
            err.message.contains(&port),
            "names the target: {}",
            err.message
        );
        assert!(!err.message.contains("nx_key"));
    }
    assert_eq!(
        elsewhere.connections(),
        0,
        "the other host received nothing"
    );
}

#[test]
fn gateway_redirects_are_followed_for_get_only() {
    let lb = redirecting_gateway("/v1/refresh/c", 307, "/moved/v1/refresh/c");
    let client = NexusClient::new(NexusClientOptions::new(lb.url())).unwrap();
    let err = client.refresh_connection("c").unwrap_err();
    assert_eq!(err.code, "http_307");
    assert_eq!(lb.request_count(), 1);
}

// --- 4. Numeric credentials: a JSON integer is its decimal text ---

#[test]
fn numeric_credentials_are_their_decimal_text() {
    let gateway = FakeGateway::start();
    for (name, body) in [
        (
            "top",
            json!({"access_token": 12345, "credentials": {"expired": false}}),
        ),
        ("inner", json!({"credentials": {"access_token": 12345}})),
        (
            "keyed",
            json!({"strategy": {"type": "header", "config": {"header_name": "X-Key"}},
                   "credentials": {"api_key": 12345}}),
        ),
    ] {
        gateway.add_provider("ws", name, FakeProvider::raw(body));
        let token = client(&gateway).resolve_token("ws", name).unwrap();
        assert_eq!(token.access_token(), "12345", "{name}");
    }
    let lb = FakeUpstream::start();
    lb.set_reply(
        "/v1/token/c",
        FakeReply::new(200)
            .header("Content-Type", "application/json")
            .body(r#"{"access_token":12345,"credentials":{"access_token":12345}}"#),
    );
    let token = NexusClient::new(NexusClientOptions::new(lb.url()))
        .unwrap()
        .get_token_by_connection_id("c")
        .unwrap();
    assert_eq!(token.access_token, "12345");
}

// --- 5. Non-ASCII and spaces in the request line ---

#[test]
fn non_ascii_and_spaces_are_percent_encoded_as_browsers_do() {
    let (gateway, upstream) = with_github();
    for (path, query, want_path, want_query) in [
        ("/é", "", "/%C3%A9", ""),
        ("/a b/ü", "q=x y&z=é", "/a%20b/%C3%BC", "q=x%20y&z=%C3%A9"),
        ("/%C3%A9", "q=%20", "/%C3%A9", "q=%20"),
        ("/日本", "k=語", "/%E6%97%A5%E6%9C%AC", "k=%E8%AA%9E"),
    ] {
        let sep = if query.is_empty() { "" } else { "?" };
        let url = format!("{}{path}{sep}{query}", upstream.url());
        assert_eq!(fetch(&gateway, &url, FetchOptions::default()), 200, "{url}");
        let sent = upstream.last_request().unwrap();
        assert_eq!(
            (sent.path.as_str(), sent.query.as_str()),
            (want_path, want_query)
        );
        assert!(sent.raw_head.is_ascii());
    }
}

// --- 6. A body without a Content-Type is a form, as urllib and curl -d send it ---

#[test]
fn form_bodies_default_and_the_callers_type_wins() {
    let (gateway, upstream) = with_github();
    fetch(
        &gateway,
        &upstream.url(),
        FetchOptions::default().method("POST").data("a=1&b=2"),
    );
    let sent = upstream.last_request().unwrap();
    assert_eq!(
        sent.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(sent.body, b"a=1&b=2");

    let json = FetchOptions::default()
        .method("POST")
        .header("content-TYPE", "application/json")
        .data("{}");
    fetch(&gateway, &upstream.url(), json);
    let sent = upstream.last_request().unwrap();
    let types: Vec<&str> = sent
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(types, ["application/json"]);

    fetch(
        &gateway,
        &upstream.url(),
        FetchOptions::default().method("POST"),
    );
    assert_eq!(
        upstream.last_request().unwrap().header("content-type"),
        None
    );
}
