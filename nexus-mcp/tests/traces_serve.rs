//! `serve`'s traces and ids over HTTP, read back by the fake Gateway's
//! OTLP/HTTP receiver: each step of the authorization server (register,
//! authorize, token by grant) a server span under the sender's
//! `traceparent`, its route a template; a tool call over Streamable HTTP a
//! server span on `network.transport` `tcp` under the HTTP header's parent,
//! the Gateway told its trace; every refusal (a page, a JSON body, the
//! door's 401) ends with the id its line carries.

mod common;

use std::time::{Duration, Instant};

use common::served::{Browser, Served, command, fakes, free_port};
use nexus_gateway_fake::{FakeGateway, FakeIssuer};
use serde_json::{Value, json};

const HOST_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
const HOST_SPAN: &str = "b7ad6b7169203331";

fn traceparent() -> String {
    format!("00-{HOST_TRACE}-{HOST_SPAN}-01")
}

/// `serve` with `args`, its spans sent to the fake Gateway's receiver.
fn traced(gateway: &FakeGateway, issuer: &FakeIssuer, args: &[&str]) -> Served {
    let port = free_port();
    let origin = format!("http://127.0.0.1:{port}");
    issuer.add_client("nexus-login", &format!("{origin}/connect/callback"));
    let mut serve = command(gateway, &issuer.url(), port, args);
    serve
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", gateway.url())
        .env("OTEL_BSP_SCHEDULE_DELAY", "50")
        .env("NEXUS_LOG", "info");
    Served::ready(serve.spawn().expect("nexus-mcp"), port)
}

/// The id a refusal's words end with, `(id X)`.
fn id_in(said: &str) -> String {
    let id = said.rsplit("(id ").next().and_then(|s| s.strip_suffix(')'));
    id.unwrap_or_else(|| panic!("no id in {said:?}")).to_owned()
}

#[test]
fn each_step_of_the_authorization_server_is_a_span_and_each_refusal_its_id() {
    let (issuer, gateway, _api) = fakes(&["alice"], "gho_serve_secret");
    let proxy = ["--oauth-proxy", "--login-client-id", "nexus-login"];
    let served = traced(&gateway, &issuer, &proxy);
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    // A registration, traced by its sender.
    let asked = json!({"client_name": "Host", "redirect_uris": ["http://127.0.0.1:9/cb"]});
    let registered = agent
        .post(format!("{}/register", served.origin))
        .header("traceparent", traceparent())
        .header("Content-Type", "application/json")
        .send(asked.to_string())
        .unwrap();
    assert_eq!(registered.status(), 201);
    let register = common::span_named(&gateway, HOST_TRACE, "POST /register");
    assert_eq!(
        (&register["kind"], &register["parent_span_id"]),
        (&json!("server"), &json!(HOST_SPAN))
    );
    assert_eq!(register["attributes"]["nexus.oauth.step"], "register");
    assert_eq!(register["attributes"]["http.response.status_code"], 201);
    // A refresh token that opens nothing: refused, the id the trace's.
    let mut refused = agent
        .post(format!("{}/token", served.origin))
        .header("traceparent", traceparent())
        .send_form([
            ("grant_type", "refresh_token"),
            ("refresh_token", "planted-refresh-7e1"),
            ("client_id", "nobody"),
        ])
        .unwrap();
    assert!(refused.status().is_client_error());
    let body: Value = serde_json::from_str(&refused.body_mut().read_to_string().unwrap()).unwrap();
    let id = id_in(body["error_description"].as_str().unwrap());
    assert_eq!(id, HOST_TRACE[..16]);
    let line = served.said_once(|said| said.contains("token refused"));
    let line = line
        .lines()
        .find(|l| l.contains("token refused"))
        .unwrap()
        .to_owned();
    assert!(line.contains(&format!("id={id}")), "{line}");
    let token = common::span_named(&gateway, HOST_TRACE, "POST /token");
    assert_eq!(token["attributes"]["nexus.oauth.step"], "token");
    assert_eq!(token["attributes"]["oauth.grant_type"], "refresh_token");
    assert_eq!(token["status"]["code"], "error");
    // An authorization request that names no client: a page, its own id.
    let (status, _, page) =
        Browser::new().open(&format!("{}/authorize?response_type=code", served.origin));
    assert_eq!(status, 400, "{page}");
    let shown = page
        .split("<code>")
        .last()
        .and_then(|s| s.split("</code>").next())
        .unwrap();
    assert!(
        shown.len() == 16 && shown.chars().all(|c| c.is_ascii_hexdigit()),
        "{page}"
    );
    let authorize = common::span_named(&gateway, "", "GET /authorize");
    assert!(
        authorize["trace_id"].as_str().unwrap().starts_with(shown),
        "{authorize}"
    );
    assert_eq!(
        authorize["parent_span_id"], "",
        "a root: no parent was sent"
    );
    // Nothing a request carried, in any span.
    let everything = serde_json::to_string(&gateway.spans()).unwrap();
    for secret in ["planted-refresh-7e1", "gho_serve_secret", "response_type"] {
        assert!(!everything.contains(secret), "{secret} in {everything}");
    }
}

#[test]
fn a_tool_call_over_http_is_a_server_span_under_the_headers_parent() {
    let (issuer, gateway, _api) = fakes(&["alice"], "gho_serve_secret");
    let served = traced(&gateway, &issuer, &[]);
    let token = common::served::token(&issuer, &served, "alice");
    let bearer = format!("Bearer {token}");
    let parent = traceparent();
    let headers = [
        ("Authorization", bearer.as_str()),
        ("traceparent", parent.as_str()),
        ("MCP-Protocol-Version", "2026-07-28"),
        ("Mcp-Method", "tools/call"),
        ("Mcp-Name", "list_providers"),
    ];
    let call = common::served::call("list_providers", json!({}), "2026-07-28");
    let (status, _, answer) = served.post(&headers, &call);
    assert_eq!(status, 200, "{answer}");
    let server = common::span_named(&gateway, HOST_TRACE, "tools/call list_providers");
    assert_eq!(
        (&server["kind"], &server["parent_span_id"]),
        (&json!("server"), &json!(HOST_SPAN))
    );
    assert_eq!(server["attributes"]["network.transport"], "tcp");
    assert_eq!(server["attributes"]["mcp.protocol.version"], "2026-07-28");
    assert_eq!(server["attributes"]["network.protocol.name"], "http");
    // The door's refusal of a call without a token: its id the trace's.
    let unsigned = [
        ("traceparent", parent.as_str()),
        ("MCP-Protocol-Version", "2026-07-28"),
    ];
    let (status, _, refused) = served.post(&unsigned, &call);
    assert_eq!(status, 401);
    assert_eq!(
        id_in(refused["error_description"].as_str().unwrap()),
        HOST_TRACE[..16]
    );
    // The call's line carries the trace's id, once.
    let said = served.said_once(|said| said.contains("call #1"));
    let line = said.lines().find(|l| l.contains("call #1")).unwrap();
    assert!(
        line.contains(&format!("id={}", &HOST_TRACE[..16])),
        "{line}"
    );
    assert_eq!(line.matches("id=").count(), 1, "{line}");
}

#[test]
fn a_call_an_agent_makes_names_the_agent_in_its_span() {
    let (issuer, gateway, _api) = fakes(&["alice"], "gho_serve_secret");
    let proxy = ["--oauth-proxy", "--login-client-id", "nexus-login"];
    let served = traced(&gateway, &issuer, &proxy);
    let asked = json!({"client_name": "Nightly reader", "redirect_uris": ["http://127.0.0.1:9/cb"],
                       "scope": "github:read"});
    let (_, _, client) = served.post_json("/register", &asked.to_string());
    let id = client["client_id"].as_str().expect("a client id");
    issuer.approve_as("alice");
    let said = common::front::signed_in_by(&served.origin, id);
    let tokens = common::front::tokens_for(&served.origin, id, &said["code"]);
    let bearer = format!(
        "Bearer {}",
        tokens["access_token"].as_str().expect("a token")
    );
    let parent = traceparent();
    let headers = [
        ("Authorization", bearer.as_str()),
        ("traceparent", parent.as_str()),
        ("MCP-Protocol-Version", "2026-07-28"),
        ("Mcp-Method", "tools/call"),
        ("Mcp-Name", "list_providers"),
    ];
    let call = common::served::call("list_providers", json!({}), "2026-07-28");
    let (status, _, answer) = served.post(&headers, &call);
    assert_eq!(status, 200, "{answer}");
    let server = common::span_named(&gateway, HOST_TRACE, "tools/call list_providers");
    assert_eq!(
        server["attributes"]["gen_ai.agent.name"], "Nightly reader",
        "{server}"
    );
    let mark = server["attributes"]["gen_ai.agent.id"]
        .as_str()
        .unwrap_or_default();
    assert!(
        mark.len() == 12 && mark.chars().all(|c| c.is_ascii_hexdigit()),
        "{server}"
    );
}

/// The count `/metrics` at `metrics` holds for the series `series`.
fn counted(metrics: &str, series: &str) -> u64 {
    let text = ureq::get(format!("http://{metrics}/metrics"))
        .call()
        .map(|mut r| r.body_mut().read_to_string().unwrap_or_default())
        .unwrap_or_default();
    let line = text.lines().find(|l| l.starts_with(series));
    line.and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0)
}

#[test]
fn a_collector_that_is_down_fails_no_call_and_each_span_lost_is_counted() {
    let (issuer, gateway, _api) = fakes(&["alice"], "gho_serve_secret");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let down = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let metrics = format!("127.0.0.1:{}", free_port());
    let port = free_port();
    let mut serve = command(
        &gateway,
        &issuer.url(),
        port,
        &["--metrics-listen", &metrics],
    );
    serve
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &down)
        .env("OTEL_BSP_SCHEDULE_DELAY", "50");
    let served = Served::ready(serve.spawn().expect("nexus-mcp"), port);
    let token = common::served::token(&issuer, &served, "alice");
    for _ in 0..3 {
        let (status, answer) = served.call(&token, "list_providers", json!({}));
        assert_eq!(status, 200, "{answer}");
        assert!(answer["result"]["isError"] != true, "{answer}");
    }
    // Each call one span, each failed to leave, counted once.
    let failed = "nexus_mcp_spans_total{outcome=\"failed\"}";
    let deadline = Instant::now() + Duration::from_secs(60);
    while counted(&metrics, failed) < 3 {
        assert!(Instant::now() < deadline, "not counted");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(counted(&metrics, failed), 3);
    assert_eq!(
        counted(&metrics, "nexus_mcp_spans_total{outcome=\"exported\"}"),
        0
    );
    assert_eq!(
        counted(&metrics, "nexus_mcp_spans_total{outcome=\"dropped\"}"),
        0
    );
}
