//! Several accounts of one provider, chosen by label (`--account`), over
//! stdio: each call acts as the account the model names, with that
//! account's credential only; with two labels the schema makes `account` an
//! enum and required, and the server refuses a call without one or with an
//! unknown one before anything is resolved; no result names a workspace id.

mod common;

use common::{Session, is_error, text};
use nexus_gateway_fake::{FakeGateway, FakeProvider, FakeUpstream};
use serde_json::{Value, json};

fn two_accounts() -> (FakeGateway, FakeUpstream) {
    let (gateway, api) = (FakeGateway::start(), FakeUpstream::start());
    let github = |token: &str| FakeProvider::oauth2(token).api_base_url(&api.url());
    gateway.add_provider("ws-work", "github", github("gho_work_secret"));
    gateway.add_provider("ws-home", "github", github("gho_home_secret"));
    let stripe = FakeProvider::header("Authorization", Some("Bearer "), "sk_work_secret");
    gateway.add_provider("ws-work", "stripe", stripe.api_base_url(&api.url()));
    (gateway, api)
}

fn start(gateway: &FakeGateway, accounts: &[&str]) -> Session {
    let args: Vec<&str> = accounts.iter().flat_map(|a| ["--account", a]).collect();
    Session::start_with(gateway, &args, &[("NEXUS_WORKSPACE_ID", "")])
}

fn fetch(api: &FakeUpstream, provider: &str, account: Option<&str>) -> Value {
    let mut arguments = json!({"provider": provider, "url": format!("{}/user", api.url())});
    if let Some(account) = account {
        arguments["account"] = json!(account);
    }
    json!({"name": "authenticated_fetch", "arguments": arguments})
}

#[test]
fn each_call_acts_as_the_account_the_model_names() {
    let (gateway, api) = two_accounts();
    let mut session = start(&gateway, &["work=ws-work", "home=ws-home"]);
    let tools = session.request("tools/list", json!({}));
    for tool in tools["result"]["tools"].as_array().unwrap() {
        let schema = &tool["inputSchema"];
        assert_eq!(
            schema["properties"]["account"]["enum"],
            json!(["work", "home"]),
            "{tool}"
        );
        assert!(
            schema["required"]
                .as_array()
                .unwrap()
                .contains(&json!("account")),
            "{tool}"
        );
    }
    for (account, credential) in [("work", "gho_work_secret"), ("home", "gho_home_secret")] {
        let result = session.call(fetch(&api, "github", Some(account)));
        assert!(!is_error(&result), "{result}");
        let sent = api.last_request().unwrap();
        assert_eq!(
            sent.header("authorization"),
            Some(format!("Bearer {credential}").as_str())
        );
    }
    let sent = api.request_count();
    let none = session.call(fetch(&api, "github", None));
    assert!(text(&none).starts_with("invalid_input: `account` is required: one of work, home"));
    let unknown = session.call(fetch(&api, "github", Some("ws-work")));
    assert!(text(&unknown).contains("one of work, home"), "{unknown}");
    assert_eq!(
        api.request_count(),
        sent,
        "nothing sent without a known account"
    );
    // `home` has no stripe: the error names the account, never its workspace.
    let missing = session.call(fetch(&api, "stripe", Some("home")));
    assert!(is_error(&missing));
    assert!(text(&missing).contains("your `home` account"), "{missing}");
    assert!(!missing.to_string().contains("ws-home"), "{missing}");
    // list_providers says which accounts have a connection to each.
    let listed = session.call(json!({"name": "list_providers", "arguments": {"account": "work"}}));
    let said = text(&listed);
    assert!(said.contains("[connected for: work, home]"), "{said}");
    assert!(said.contains("[connected for: work]"), "{said}");
    let providers = &listed["structuredContent"]["providers"];
    let stripe = providers
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "stripe")
        .unwrap();
    assert_eq!(stripe["accounts"], json!(["work"]));
    assert!(!listed.to_string().contains("ws-work"));
    // The operator's line names the label.
    let line = session.stderr_line("account=home");
    assert!(
        line.contains("provider=\"github\"") || line.contains("stripe"),
        "{line}"
    );
}

#[test]
fn one_account_changes_nothing_and_flags_are_checked() {
    let (gateway, api) = two_accounts();
    let mut session = start(&gateway, &["work=ws-work"]);
    let tools = session.request("tools/list", json!({}));
    let schema = &tools["result"]["tools"][0]["inputSchema"];
    assert!(schema["properties"].get("account").is_none(), "{schema}");
    let result = session.call(fetch(&api, "github", None));
    assert!(!is_error(&result), "{result}");
    assert_eq!(
        api.last_request().unwrap().header("authorization"),
        Some("Bearer gho_work_secret")
    );
    for (accounts, said) in [
        (vec!["work"], "LABEL=WORKSPACE"),
        (vec!["wo rk=ws"], "letters, digits"),
        (vec!["work=a", "work=b"], "given twice"),
    ] {
        let args: Vec<&str> = accounts.iter().flat_map(|a| ["--account", *a]).collect();
        let output = common::server(&gateway, &args)
            .env("NEXUS_WORKSPACE_ID", "")
            .stderr(std::process::Stdio::piped())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{accounts:?}: {stderr}");
        assert!(stderr.contains(said), "{accounts:?}: {stderr}");
    }
}
