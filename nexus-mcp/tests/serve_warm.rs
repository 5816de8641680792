//! Every check a warm call makes, still made after 0.15's cuts (#112): a
//! person's token verified and recalled by its hash, the credential cached
//! (one resolve for every call), and then, on that warm path, a policy's
//! denial, a credential the API echoes (raw, in hex and in base64), a
//! withdrawn client and a revoked token are each refused, through `serve
//! --oauth-proxy` on loopback.

mod common;

use std::process::Command;

use base64::Engine as _;
use common::front::{signed_in_at, signed_in_tokens, tokens_for};
use common::served::{Browser, Served, workspace_of};
use common::{is_error, text};
use nexus_gateway_fake::{FakeGateway, FakeIssuer, FakeProvider, FakeReply, FakeUpstream};
use serde_json::{Value, json};

/// The provider's credential: long enough that its hex and base64 are
/// looked for too.
const SECRET: &str = "gho_warm_path_secret_0123456789abcdef";

const POLICY: &str = r#"permit (principal, action, resource);
@id("never the admin API")
forbid (principal, action == Action::"call", resource) when { context.path like "/admin/*" };
"#;

/// A fetch of `path` on `api` as `tokens`' access token: its result.
fn fetched(served: &Served, tokens: &Value, api: &FakeUpstream, path: &str) -> Value {
    let access = tokens["access_token"].as_str().expect("an access token");
    let arguments = json!({"provider": "github", "url": format!("{}{path}", api.url())});
    let (status, answer) = served.call(access, "authenticated_fetch", arguments);
    assert_eq!(status, 200, "{answer}");
    answer["result"].clone()
}

/// The HTTP status of a `list_providers` call as `tokens`' access token.
fn status(served: &Served, tokens: &Value) -> u16 {
    let access = tokens["access_token"].as_str().expect("an access token");
    served.call(access, "list_providers", json!({})).0
}

/// `client`'s line in a deny file: `client=` and its mark's first 12 digits.
fn withdrawn(client: &str) -> String {
    let mark = common::front::mark(client);
    format!("client={}\n", &mark[..12])
}

#[test]
fn every_check_holds_on_a_warm_call() {
    let (issuer, gateway, api) = (
        FakeIssuer::start(),
        FakeGateway::start(),
        FakeUpstream::start(),
    );
    let workspace = workspace_of(&issuer.url(), "alice");
    let github = FakeProvider::oauth2(SECRET).api_base_url(&api.url());
    gateway.add_provider(&workspace, "github", github);
    let dir = tempfile::tempdir().unwrap();
    let (deny, policy) = (dir.path().join("deny"), dir.path().join("policy.cedar"));
    std::fs::write(&deny, "# nobody yet\n").unwrap();
    std::fs::write(&policy, POLICY).unwrap();
    let (deny_file, policy_file) = (deny.display().to_string(), policy.display().to_string());
    let args = [
        "--deny-file",
        deny_file.as_str(),
        "--policy",
        policy_file.as_str(),
    ];
    let (served, origin, id, tokens) = signed_in_tokens(&issuer, &gateway, "alice", &args);
    // Warm: the token recalled by its hash, the credential resolved once.
    for _ in 0..3 {
        let answer = fetched(&served, &tokens, &api, "/user");
        assert!(text(&answer).starts_with("HTTP 200"), "{answer}");
    }
    assert_eq!(gateway.resolves(&workspace, "github"), 1, "warm: cached");
    // A policy's denial: nothing sent.
    let sent = api.request_count();
    let denied = fetched(&served, &tokens, &api, "/admin/users");
    assert!(is_error(&denied), "{denied}");
    assert!(text(&denied).starts_with("policy_denied"), "{denied}");
    assert_eq!(api.request_count(), sent, "the API was sent nothing");
    // The credential echoed, in each form the echo check looks for.
    let hex: String = SECRET.bytes().map(|b| format!("{b:02x}")).collect();
    let base64 = base64::engine::general_purpose::STANDARD.encode(SECRET);
    for form in [SECRET, &hex, &hex.to_uppercase(), &base64] {
        api.set_reply("/echo", FakeReply::new(200).body(format!("seen: {form}")));
        let echoed = fetched(&served, &tokens, &api, "/echo");
        assert!(!echoed.to_string().contains(form), "{echoed}");
        let headers = &echoed["structuredContent"]["headers"];
        assert!(headers["x-nexus-withheld"].is_string(), "{echoed}");
    }
    // A withdrawn client: another client's sign-in of the same person,
    // warm, then its line in the deny file read at SIGHUP.
    issuer.approve_as("alice");
    let (other, said) = signed_in_at(&served, &origin);
    let others = tokens_for(&origin, &other, &said["code"]);
    assert_eq!(
        (status(&served, &others), status(&served, &others)),
        (200, 200)
    );
    std::fs::write(&deny, withdrawn(&other)).unwrap();
    let hup = Command::new("kill")
        .args(["-HUP", &served.pid().to_string()])
        .status();
    assert!(hup.unwrap().success());
    served.said_once(|said| said.contains("SIGHUP: the deny list names 1 people and clients"));
    assert_eq!(status(&served, &others), 401, "its client is withdrawn");
    assert_eq!(status(&served, &tokens), 200, "another client's is left");
    // A revoked token.
    let access = tokens["access_token"].as_str().unwrap();
    let form = [("token", access), ("client_id", id.as_str())];
    let (revoked, _, _) = Browser::new().submit(&format!("{origin}/revoke"), &form);
    assert_eq!(revoked, 200);
    assert_eq!(status(&served, &tokens), 401, "its token is revoked");
}
