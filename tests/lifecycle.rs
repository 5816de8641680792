//! The connection lifecycle against the FakeGateway: request, check, wait,
//! token, refresh, revoke, health; input checks; what goes on the wire.

mod common;

use std::time::{Duration, Instant};

use common::{C, client, client_with, conn_id};
use nexus_gateway_fake::{
    Broker, FakeConnection, FakeGateway, FakeProvider, FakeUpstream, Fault, Route,
};
use nexus_sdk::{
    ConnectionStatus, ErrorKind, RequestConnectionInput, RevokeOptions, WaitOptions, code,
};
use serde_json::{Value, json};

fn github_input() -> RequestConnectionInput {
    RequestConnectionInput::new("user-42", "github")
        .scopes(["repo", "read:user"])
        .return_url("https://app.example/done")
}

/// A fake Gateway whose Broker knows the provider `github`.
fn gateway_with_github() -> FakeGateway {
    let gateway = FakeGateway::start();
    gateway.register_provider("github");
    gateway
}

#[test]
fn request_connection_parses_auth_url_and_connection_id() {
    let gateway = gateway_with_github();
    let started = client(&gateway)
        .request_connection(&github_input())
        .unwrap();

    assert!(
        started.auth_url.starts_with(&gateway.url()),
        "{}",
        started.auth_url
    );
    assert!(started.auth_url.contains(&started.connection_id));
    assert!(started.state.is_some());
    assert_eq!(
        started.scopes,
        Some(vec!["repo".to_owned(), "read:user".to_owned()])
    );
    assert_eq!(started.provider_id.as_deref(), Some("fake-github"));

    let sent = gateway.last_request_to(Route::RequestConnection).unwrap();
    assert_eq!(sent.method, "POST");
    assert_eq!(sent.header("content-type"), Some("application/json"));
    assert_eq!(sent.header("accept"), Some("application/json"));
    assert!(
        sent.header("user-agent")
            .unwrap()
            .starts_with("nexus-gateway-sdk/")
    );
    let body: Value = serde_json::from_slice(&sent.body).unwrap();
    assert_eq!(
        body,
        json!({"user_id": "user-42", "provider_name": "github",
               "scopes": ["repo", "read:user"], "return_url": "https://app.example/done"})
    );
}

#[test]
fn request_connection_sends_metadata_when_set() {
    let gateway = gateway_with_github();
    let input = github_input().metadata(json!({"team": "core"}).as_object().unwrap().clone());
    client(&gateway).request_connection(&input).unwrap();
    let sent = gateway.last_request_to(Route::RequestConnection).unwrap();
    let body: Value = serde_json::from_slice(&sent.body).unwrap();
    assert_eq!(body["metadata"], json!({"team": "core"}));
}

#[test]
fn standard_app_flow_end_to_end() {
    let gateway = gateway_with_github();
    let client = client(&gateway);
    let started = client.request_connection(&github_input()).unwrap();
    // The real Gateway cannot say "pending": before consent it says "failed".
    assert_eq!(
        client.check_connection(&started.connection_id).unwrap(),
        ConnectionStatus::Failed
    );
    // The user consents: the fake's auth_url marks the connection active.
    let consent = ureq::get(&started.auth_url).call().unwrap();
    assert_eq!(consent.status(), 200);
    let status = client
        .wait_for_active_with_options(
            &started.connection_id,
            &nexus_sdk::WaitOptions::default()
                .interval(Duration::from_millis(10))
                .timeout(Duration::from_secs(5)),
        )
        .unwrap();
    assert_eq!(status, ConnectionStatus::Active);
    let token = client
        .get_token_by_connection_id(&started.connection_id)
        .unwrap();
    assert_eq!(token.access_token, "fake-github-token-1");
    assert_eq!(token.token_type.as_deref(), Some("bearer"));
    assert_eq!(token.expires_in, Some(3600));
    assert!(token.expires_at.is_some());
}

#[test]
fn check_connection_says_active_or_failed_as_the_gateway_does() {
    let gateway = FakeGateway::start();
    let client = client(&gateway);
    for (status, expected) in [
        ("active", ConnectionStatus::Active),
        ("pending", ConnectionStatus::Failed),
        ("failed", ConnectionStatus::Failed),
        ("attention", ConnectionStatus::Failed),
        ("revoked", ConnectionStatus::Failed),
    ] {
        gateway.add_connection(C, FakeConnection::active("github", "t"));
        gateway.set_status(C, status);
        assert_eq!(client.check_connection(C).unwrap(), expected, "{status}");
    }
    // Unknown and non-UUID ids read "failed" too.
    assert_eq!(
        client.check_connection(&conn_id(99)).unwrap(),
        ConnectionStatus::Failed
    );
    assert_eq!(
        client.check_connection("not-a-uuid").unwrap(),
        ConnectionStatus::Failed
    );
    let sent = gateway.last_request_to(Route::CheckConnection).unwrap();
    assert_eq!(
        (sent.method.as_str(), sent.path.as_str()),
        ("GET", "/v1/check-connection/not-a-uuid")
    );
}

#[test]
fn check_connection_returns_every_status_a_gateway_reports() {
    let gateway = FakeGateway::start();
    gateway.report_connection_status(true);
    let client = client(&gateway);
    for (status, expected) in [
        ("active", ConnectionStatus::Active),
        ("pending", ConnectionStatus::Pending),
        ("failed", ConnectionStatus::Failed),
        ("revoked", ConnectionStatus::Revoked),
        ("paused", ConnectionStatus::Other("paused".into())),
    ] {
        gateway.add_connection(C, FakeConnection::active("github", "t"));
        gateway.set_status(C, status);
        assert_eq!(client.check_connection(C).unwrap(), expected);
    }
}

#[test]
fn ids_are_one_encoded_path_segment() {
    let gateway = FakeGateway::start();
    let client = client(&gateway);
    for (id, wire) in [
        ("a/b", "a%2Fb"),
        ("../x", "..%2Fx"),
        ("with space", "with%20space"),
        ("café-ü", "caf%C3%A9-%C3%BC"),
        ("q?x=1#f", "q%3Fx%3D1%23f"),
    ] {
        assert_eq!(
            client.check_connection(id).unwrap(),
            ConnectionStatus::Failed,
            "{id}"
        );
        let sent = gateway.last_request_to(Route::CheckConnection).unwrap();
        assert_eq!(sent.path, format!("/v1/check-connection/{wire}"));
        // The Gateway refuses what is not a UUID, on the route the id named.
        let err = client.get_token_by_connection_id(id).unwrap_err();
        assert_eq!(err.code, code::INVALID_CONNECTION_ID, "{id}");
        assert_eq!(
            gateway.last_request_to(Route::Token).unwrap().path,
            format!("/v1/token/{wire}")
        );
    }
}

#[test]
fn blank_ids_are_refused_before_any_io() {
    let gateway = FakeGateway::start();
    let client = client(&gateway);
    for blank in ["", " ", "\t\n"] {
        let errors = [
            client.check_connection(blank).unwrap_err(),
            client.wait_for_active(blank).unwrap_err(),
            client.get_token_by_connection_id(blank).unwrap_err(),
            client.refresh_connection(blank).unwrap_err(),
            client
                .revoke_connection(blank, &RevokeOptions::default())
                .unwrap_err(),
            client
                .request_connection(&RequestConnectionInput::new(blank, "github"))
                .unwrap_err(),
            client
                .request_connection(&RequestConnectionInput::new("user-42", blank))
                .unwrap_err(),
        ];
        for err in errors {
            assert_eq!(err.code, "invalid_input");
            assert_eq!(err.kind(), ErrorKind::InvalidInput);
            assert_eq!(err.status_code, None);
        }
    }
    assert_eq!(gateway.total_requests(), 0);
}

#[test]
fn revoke_sends_the_query_and_reports_a_provider_failure() {
    let gateway = FakeGateway::start();
    gateway.add_connection(
        C,
        FakeConnection::active("google", "t")
            .workspace("ws 1")
            .provider_revocation_error("provider does not advertise a revocation endpoint"),
    );
    let client = client(&gateway);
    let options = RevokeOptions::default()
        .workspace_id("ws 1")
        .reason("user_request&more");
    let result = client.revoke_connection(C, &options).unwrap();
    let sent = gateway.last_request_to(Route::Revoke).unwrap();
    assert_eq!(
        (sent.method.as_str(), sent.path.as_str()),
        ("DELETE", format!("/v1/connections/{C}").as_str())
    );
    assert_eq!(sent.query, "workspace_id=ws+1&reason=user_request%26more");
    assert_eq!(result.status, "revoked");
    assert_eq!(result.connection_id.as_deref(), Some(C));
    assert_eq!(result.provider_name.as_deref(), Some("google"));
    assert!(result.token_deleted && !result.already_revoked && !result.provider_revoked);
    assert_eq!(
        result.provider_revocation_error.as_deref(),
        Some("provider does not advertise a revocation endpoint")
    );

    // Idempotent: the second call says it was already revoked.
    let again = client
        .revoke_connection(C, &RevokeOptions::default())
        .unwrap();
    assert!(again.already_revoked);
    assert_eq!(gateway.last_request_to(Route::Revoke).unwrap().query, "");
}

#[test]
fn revoke_by_another_workspace_is_not_found() {
    let gateway = FakeGateway::start();
    gateway.add_connection(C, FakeConnection::active("github", "t").workspace("ws-a"));
    let client = client(&gateway);
    let err = client
        .revoke_connection(C, &RevokeOptions::default().workspace_id("ws-b"))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(
        gateway.connection(C).unwrap().status,
        ConnectionStatus::Active
    );
    let done = client
        .revoke_connection(C, &RevokeOptions::default().workspace_id("ws-a"))
        .unwrap();
    assert!(done.token_deleted);
}

#[test]
fn refresh_rotates_the_token_and_answers_three_fields() {
    let gateway = FakeGateway::start();
    gateway.add_connection(C, FakeConnection::active("github", "gho_a"));
    let client = client(&gateway);
    let refreshed = client.refresh_connection(C).unwrap();
    assert_eq!(refreshed.access_token, "gho_a-r1");
    assert_eq!(refreshed.token_type.as_deref(), Some("bearer"));
    assert!(refreshed.refresh_token.is_some());
    let fields = refreshed.raw.as_object().unwrap();
    assert_eq!(fields.len(), 3, "{fields:?}");
    assert_eq!(
        (refreshed.expires_in, refreshed.expires_at.as_deref()),
        (None, None)
    );
    let sent = gateway.last_request_to(Route::Refresh).unwrap();
    assert_eq!((sent.method.as_str(), sent.body.len()), ("POST", 0));
    assert_eq!(
        sent.header("content-type"),
        None,
        "no body, no content type"
    );
    assert_eq!(
        client.get_token_by_connection_id(C).unwrap().access_token,
        "gho_a-r1"
    );
}

#[test]
fn token_errors_follow_the_broker_with_or_without_a_body() {
    let gateway = FakeGateway::start();
    gateway.add_connection(C, FakeConnection::active("github", "t"));
    let client = client(&gateway);
    let cases = [
        ("revoked", 410, "connection_revoked", ErrorKind::Gone),
        ("attention", 409, "attention_required", ErrorKind::Conflict),
        (
            "pending",
            400,
            "connection_not_active",
            ErrorKind::InvalidInput,
        ),
    ];
    for bodyless in [false, true] {
        gateway.bodyless_errors(bodyless);
        for (status, http, code, kind) in cases {
            gateway.set_status(C, status);
            for err in [
                client.get_token_by_connection_id(C).unwrap_err(),
                client.refresh_connection(C).unwrap_err(),
            ] {
                let want = if bodyless {
                    format!("http_{http}")
                } else {
                    code.to_owned()
                };
                assert_eq!(
                    (err.code.as_str(), err.status_code, err.kind()),
                    (want.as_str(), Some(http), kind),
                    "{status} bodyless={bodyless}"
                );
            }
        }
        let err = client.get_token_by_connection_id(&conn_id(9)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        let err = client
            .revoke_connection(&conn_id(9), &RevokeOptions::default())
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
    }
}

#[test]
fn health() {
    let gateway = FakeGateway::start();
    client(&gateway).health().unwrap();
    gateway.push_fault(Fault::body(503, Some("text/plain"), "draining"));
    let err = client(&gateway).health().unwrap_err();
    assert_eq!(
        (err.code.as_str(), err.status_code),
        ("max_retries_exceeded", Some(503))
    );
    // Plain text on a 5xx is no Gateway's answer (a proxy's, say): named so.
    assert!(
        err.message
            .contains("does not look like a Nexus Gateway (GET /health answered 503"),
        "{}",
        err.message
    );
    gateway.push_fault(Fault::body(
        500,
        Some("application/json"),
        r#"{"error":"broken","message":"down"}"#,
    ));
    let err = client(&gateway).health().unwrap_err();
    assert_eq!(
        (err.code.as_str(), err.message),
        (
            "broken",
            format!(
                "the Nexus Gateway at {} answered HTTP 500: down",
                gateway.url()
            )
        )
    );
}

#[test]
fn api_key_is_sent_when_set_and_absent_when_not() {
    let gateway = FakeGateway::start();
    gateway.add_connection(C, FakeConnection::active("github", "t"));
    client(&gateway).check_connection(C).unwrap();
    assert_eq!(gateway.last_request().unwrap().header("x-api-key"), None);

    gateway.require_api_key("nx_key_1");
    let err = client(&gateway).check_connection(C).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized);
    let keyed = client_with(&gateway, |o| o.api_key = "nx_key_1".into());
    keyed.check_connection(C).unwrap();
    assert_eq!(
        gateway.last_request().unwrap().header("x-api-key"),
        Some("nx_key_1")
    );
}

fn quick_wait() -> WaitOptions {
    WaitOptions::default()
        .interval(Duration::from_millis(5))
        .timeout(Duration::from_secs(60))
}

#[test]
fn wait_for_active_waits_through_failed_until_consent() {
    let gateway = FakeGateway::start();
    gateway.add_connection(C, FakeConnection::pending("github", "t", Some(3)));
    let status = client(&gateway)
        .wait_for_active_with_options(C, &quick_wait())
        .unwrap();
    assert_eq!(status, ConnectionStatus::Active);
    assert_eq!(gateway.requests(Route::CheckConnection), 4);
    assert_eq!(gateway.requests(Route::Token), 3, "one probe per failed");
}

#[test]
fn wait_for_active_ends_early_when_the_connection_is_gone() {
    let gateway = FakeGateway::start();
    let client = client(&gateway);
    for bodyless in [false, true] {
        gateway.bodyless_errors(bodyless);
        for (status, expected) in [
            ("revoked", ConnectionStatus::Revoked),
            ("attention", ConnectionStatus::Failed),
        ] {
            gateway.add_connection(C, FakeConnection::active("github", "t"));
            gateway.set_status(C, status);
            let got = client.wait_for_active_with_options(C, &quick_wait());
            assert_eq!(got.unwrap(), expected, "{status} bodyless={bodyless}");
        }
        let unknown = client.wait_for_active_with_options(&conn_id(77), &quick_wait());
        assert_eq!(unknown.unwrap(), ConnectionStatus::Failed);
        let not_uuid = client.wait_for_active_with_options("nope", &quick_wait());
        assert_eq!(not_uuid.unwrap(), ConnectionStatus::Failed);
    }
}

#[test]
fn wait_for_active_can_stop_on_failed_as_python_does() {
    let gateway = FakeGateway::start();
    gateway.add_connection(C, FakeConnection::pending("github", "t", None));
    let options = quick_wait().stop_on_failed(true);
    let status = client(&gateway)
        .wait_for_active_with_options(C, &options)
        .unwrap();
    assert_eq!(status, ConnectionStatus::Failed);
    assert_eq!(gateway.requests(Route::CheckConnection), 1);
    assert_eq!(gateway.requests(Route::Token), 0);
}

#[test]
fn wait_for_active_times_out_naming_the_last_status() {
    let gateway = FakeGateway::start();
    gateway.add_connection(C, FakeConnection::pending("github", "t", None));
    let started = Instant::now();
    let err = client(&gateway)
        .wait_for_active_with_options(
            C,
            &nexus_sdk::WaitOptions::default()
                .interval(Duration::from_millis(20))
                .timeout(Duration::from_millis(200)),
        )
        .unwrap_err();
    assert_eq!(
        (err.code.as_str(), err.kind()),
        ("timeout", ErrorKind::Timeout)
    );
    assert!(err.message.contains("failed"), "{}", err.message);
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert!(gateway.requests(Route::CheckConnection) >= 2);
}

#[test]
fn wait_for_active_polls_through_a_broker_outage() {
    let gateway = FakeGateway::start();
    gateway.add_connection(C, FakeConnection::pending("github", "t", None));
    gateway.set_broker(Broker::Unreachable);
    let client = client(&gateway);
    let waiter = {
        let client = client.clone();
        std::thread::spawn(move || client.wait_for_active_with_options(C, &quick_wait()))
    };
    // Once the waiter has met the outage twice, the Broker comes back and
    // the user consents.
    while gateway.requests(Route::CheckConnection) < 2 {
        std::thread::yield_now();
    }
    gateway.set_broker(Broker::Healthy);
    gateway.set_status(C, "active");
    assert_eq!(waiter.join().unwrap().unwrap(), ConnectionStatus::Active);
}

#[test]
fn wait_for_active_checks_once_even_with_no_time() {
    let gateway = FakeGateway::start();
    gateway.add_connection(C, FakeConnection::active("github", "t"));
    let status = client(&gateway)
        .wait_for_active_with_options(
            C,
            &nexus_sdk::WaitOptions::default()
                .interval(Duration::from_secs(1))
                .timeout(Duration::ZERO),
        )
        .unwrap();
    assert_eq!(status, ConnectionStatus::Active);
}

#[test]
fn debug_hides_tokens() {
    let gateway = FakeGateway::start();
    gateway.add_connection(C, FakeConnection::active("github", "gho_very_secret"));
    let token = client(&gateway).get_token_by_connection_id(C).unwrap();
    assert_eq!(token.access_token, "gho_very_secret");
    let debug = format!("{token:?}");
    assert!(!debug.contains("gho_very_secret"), "{debug}");
}

/// The headers a program adds to its Gateway requests, as it adds them.
fn programs_headers() -> nexus_sdk::http::HeaderMap {
    let mut headers = nexus_sdk::http::HeaderMap::new();
    let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    headers.insert("traceparent", parent.parse().unwrap());
    // Those the library sets are its own: these are replaced.
    headers.insert("x-api-key", "the-programs-key".parse().unwrap());
    headers.insert("accept", "text/html".parse().unwrap());
    headers
}

#[test]
fn a_programs_headers_go_to_the_gateway_on_every_route_and_never_to_an_api() {
    let (gateway, upstream) = (FakeGateway::start(), FakeUpstream::start());
    let github = FakeProvider::oauth2("gho_headers").api_base_url(&upstream.url());
    gateway.add_provider("ws-1", "github", github);
    gateway.register_provider("github");
    let client = client_with(&gateway, |o| {
        *o = o
            .clone()
            .api_key("nx_key")
            .gateway_headers(programs_headers);
    });
    let cache = nexus_sdk::TokenCache::new();
    let url = format!("{}/user", upstream.url());
    let fetched = client.authenticated_fetch(&cache, "ws-1", "github", &url, Default::default());
    assert_eq!(fetched.unwrap().0, 200);
    client.request_connection(&github_input()).unwrap();
    for route in [Route::Resolve, Route::RequestConnection] {
        let sent = gateway.last_request_to(route).unwrap();
        let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(sent.header("traceparent"), Some(parent), "{route:?}");
        assert_eq!(sent.header("x-api-key"), Some("nx_key"), "{route:?}");
        assert_eq!(sent.header("accept"), Some("application/json"), "{route:?}");
        assert_eq!(
            sent.headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case("accept"))
                .count(),
            1
        );
    }
    let api = upstream.last_request().unwrap();
    assert!(api.header("traceparent").is_none(), "{:?}", api.headers);
    let options = nexus_sdk::NexusClientOptions::new("http://g").gateway_headers(programs_headers);
    assert!(
        format!("{options:?}").contains("gateway_headers: true"),
        "{options:?}"
    );
}

/// Each request the agent a program builds carries, as the agent saw it.
static CARRIED: parking_lot::Mutex<Vec<String>> = parking_lot::Mutex::new(Vec::new());

/// A program's agent: the library's configuration (no redirect and no
/// status error of ureq's own) with a middleware that notes each request
/// it carries.
fn programs_agent(config: ureq::config::ConfigBuilder<ureq::typestate::AgentScope>) -> ureq::Agent {
    let noted = |request: nexus_sdk::http::Request<ureq::SendBody>,
                 next: ureq::middleware::MiddlewareNext<'_>| {
        CARRIED.lock().push(request.uri().to_string());
        next.handle(request)
    };
    let config = config.middleware(noted).build();
    assert_eq!(config.max_redirects(), 0);
    assert!(!config.http_status_as_error());
    assert!(config.timeouts().global.is_some());
    config.into()
}

#[test]
fn the_agent_a_program_builds_carries_every_request() {
    let (gateway, upstream) = (FakeGateway::start(), FakeUpstream::start());
    let github = FakeProvider::oauth2("gho_agent").api_base_url(&upstream.url());
    gateway.add_provider("ws-1", "github", github);
    let client = client_with(&gateway, |o| *o = o.clone().agent(programs_agent));
    let cache = nexus_sdk::TokenCache::new();
    let url = format!("{}/user", upstream.url());
    let fetched = client.authenticated_fetch(&cache, "ws-1", "github", &url, Default::default());
    assert_eq!(fetched.unwrap().0, 200);
    let carried = CARRIED.lock().clone();
    let resolve = format!("{}/v1/resolve", gateway.url());
    assert!(
        carried.iter().any(|u| u.starts_with(&resolve)),
        "{carried:?}"
    );
    assert!(carried.contains(&url), "{carried:?}");
    let options = nexus_sdk::NexusClientOptions::new("http://g").agent(programs_agent);
    assert!(
        format!("{options:?}").contains("agent: true"),
        "{options:?}"
    );
}
