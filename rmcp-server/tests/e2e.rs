//! The rmcp example driven end to end by rmcp's own client over stdio:
//! stdout carries protocol messages only, the credential reaches the
//! provider's API, and a URL outside the scope is refused with no
//! connection made.

use nexus_gateway_fake::{FakeGateway, FakeProvider, FakeUpstream};
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};
use serde_json::json;

fn text(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|block| block.as_text())
        .map(|t| t.text.clone())
        .collect()
}

fn call(url: &str) -> CallToolRequestParams {
    let arguments =
        json!({"provider": "github", "url": url, "headers": {"Accept": "application/json"}});
    let serde_json::Value::Object(arguments) = arguments else {
        unreachable!("an object literal")
    };
    CallToolRequestParams::new("authenticated_fetch").with_arguments(arguments)
}

#[tokio::test]
async fn rmcps_client_drives_the_server() -> Result<(), Box<dyn std::error::Error>> {
    let (gateway, api, elsewhere) = (
        FakeGateway::start(),
        FakeUpstream::start(),
        FakeUpstream::start(),
    );
    gateway.add_provider(
        "ws-1",
        "github",
        FakeProvider::oauth2("gho_rmcp").api_base_url(&api.url()),
    );
    let command =
        tokio::process::Command::new(env!("CARGO_BIN_EXE_nexus-rmcp-server")).configure(|c| {
            c.env("NEXUS_GATEWAY_URL", gateway.url())
                .env("NEXUS_WORKSPACE_ID", "ws-1")
                .env_remove("NEXUS_CREDENTIAL_SCOPE")
                .env_remove("NEXUS_ALLOWED_ORIGINS");
        });
    // Any byte on stdout that is not a protocol message fails the client.
    let client = ().serve(TokioChildProcess::new(command)?).await?;

    let tools = client.list_all_tools().await?;
    assert_eq!(tools.len(), 1);
    assert_eq!(tools[0].name, "authenticated_fetch");

    let inside = client
        .call_tool(call(&format!("{}/user", api.url())))
        .await?;
    assert!(text(&inside).starts_with("HTTP 200"), "{}", text(&inside));
    assert_ne!(inside.is_error, Some(true));
    let sent = api.last_request().expect("the API got the request");
    assert_eq!(sent.header("authorization"), Some("Bearer gho_rmcp"));
    assert_eq!(sent.header("accept"), Some("application/json"));

    // An API that echoes the request's Authorization back: the model never
    // reads the token.
    api.set_reply(
        "/echo",
        nexus_gateway_fake::FakeReply::new(400)
            .header("X-Seen", "Bearer gho_rmcp")
            .body(r#"{"error":"bad request","headers":{"Authorization":"Bearer gho_rmcp"}}"#),
    );
    let echoed = client
        .call_tool(call(&format!("{}/echo", api.url())))
        .await?;
    assert!(text(&echoed).starts_with("HTTP 400"), "{}", text(&echoed));
    assert!(!text(&echoed).contains("gho_rmcp"), "{}", text(&echoed));
    assert!(text(&echoed).contains("withheld"), "{}", text(&echoed));

    let outside = client
        .call_tool(call(&format!("{}/steal", elsewhere.url())))
        .await?;
    // A failure is a tool error whose text is the SDK's one-line message.
    assert_eq!(outside.is_error, Some(true), "{}", text(&outside));
    assert!(
        text(&outside).starts_with("origin_not_allowed: "),
        "{}",
        text(&outside)
    );
    assert!(!text(&outside).contains('\n'));
    let mut unknown = call(&format!("{}/user", api.url()));
    if let Some(arguments) = unknown.arguments.as_mut() {
        arguments.insert("provider".into(), json!("gitlab"));
    }
    let unknown = client.call_tool(unknown).await?;
    assert_eq!(unknown.is_error, Some(true), "{}", text(&unknown));
    assert!(text(&unknown).contains("`gitlab`") && text(&unknown).contains("github"));
    assert_eq!(
        elsewhere.connections(),
        0,
        "no connection outside the scope"
    );
    assert_eq!(gateway.resolves("ws-1", "github"), 1);

    client.cancel().await?;
    Ok(())
}
