//! When the workspace's user must connect (or connect again) a provider:
//! `NexusError::needs_connection()` on each code that means it, and on the
//! ones that do not; a resolve's refusal names the pair and the next step.

use crate::common::{client, conn_id};
use nexus_gateway_fake::{FakeConnection, FakeGateway, FakeProvider, Fault, Route};
use nexus_sdk::{CredentialScope, NexusClient, NexusClientOptions, NexusError, TokenCache};

fn gateway() -> FakeGateway {
    let gateway = FakeGateway::start();
    // `github` is listed (another workspace has it); `ws` has no connection to it.
    gateway.add_provider("ws-other", "github", FakeProvider::oauth2("gho_other"));
    gateway
}

fn resolve_error(gateway: &FakeGateway, provider: &str) -> NexusError {
    client(gateway).resolve_token("ws", provider).unwrap_err()
}

fn json(status: u16, body: &str) -> Fault {
    Fault::body(status, Some("application/json"), body)
}

#[test]
fn a_provider_the_gateway_lists_but_the_workspace_has_not_connected() {
    let gateway = gateway();
    let err = resolve_error(&gateway, "github");
    assert!(err.needs_connection(), "{err}");
    assert_eq!(
        (err.code.as_str(), err.status_code),
        ("connection_not_found", Some(404))
    );
    for part in [
        "workspace `ws`",
        "provider `github`",
        "no active connection to `github`",
        "if the workspace is right, its user must connect `github`",
    ] {
        assert!(err.message.contains(part), "{part:?} in {err}");
    }
    // Through a fetch too, and the same for the Broker's `token_not_found`.
    let fetch = NexusClient::new(
        NexusClientOptions::new(gateway.url()).credential_scope(CredentialScope::anywhere()),
    )
    .unwrap()
    .authenticated_fetch(
        &TokenCache::new(),
        "ws",
        "GitHub",
        "https://x.example/",
        Default::default(),
    )
    .unwrap_err();
    assert!(fetch.needs_connection(), "{fetch}");
    gateway.push_fault_for(
        Route::Resolve,
        json(404, r#"{"error":"token_not_found","message":"no token"}"#),
    );
    let err = client(&gateway)
        .resolve_token("ws-other", "github")
        .unwrap_err();
    assert!(err.needs_connection(), "{err}");
}

#[test]
fn a_provider_the_gateway_does_not_list_cannot_be_connected() {
    let gateway = gateway();
    let err = resolve_error(&gateway, "gitlab");
    assert!(!err.needs_connection(), "{err}");
    assert!(err.message.contains("knows no provider `gitlab`"), "{err}");
}

#[test]
fn a_connection_the_broker_cannot_use_must_be_made_again() {
    let gateway = gateway();
    for (fault, needs) in [
        (
            json(
                409,
                r#"{"error":"attention_required","detail":"reconnect"}"#,
            ),
            true,
        ),
        (
            json(
                409,
                r#"{"error":"token_expired","message":"refresh failed"}"#,
            ),
            true,
        ),
        (
            json(409, r#"{"error":"provider_ambiguous","message":"several"}"#),
            false,
        ),
        (
            Fault::body(429, Some("text/plain"), "Too Many Requests\n"),
            false,
        ),
        (
            json(
                502,
                r#"{"error":"broker_error","message":"broker returned status 400","status":400}"#,
            ),
            false,
        ),
        (
            json(500, r#"{"error":"decrypt_failed","message":"no"}"#),
            false,
        ),
        (
            json(404, r#"{"error":"provider_not_found","message":"no"}"#),
            false,
        ),
    ] {
        gateway.push_fault_for(Route::Resolve, fault.clone());
        let err = client(&gateway)
            .resolve_token("ws-other", "github")
            .unwrap_err();
        assert_eq!(err.needs_connection(), needs, "{fault:?}: {err}");
        if needs {
            let true_of_it = "(workspace `ws-other`, provider `github`): no active connection \
                              to `github` for this workspace; if the workspace is right, its \
                              user must connect `github`";
            assert!(err.message.contains(true_of_it), "{err}");
            for step in ["request_connection", "wait_for_active", "nexus connect"] {
                assert!(
                    !err.message.contains(step),
                    "the reader's step is the program's: {err}"
                );
            }
        }
    }
}

#[test]
fn on_the_token_routes_a_revoked_or_unfinished_connection_must_be_made_again() {
    let gateway = gateway();
    let client = client(&gateway);
    let cases = [
        (1, "revoked", true),
        (2, "pending", true),
        (3, "active", false),
    ];
    for (n, status, _) in cases {
        gateway.add_connection(&conn_id(n), FakeConnection::active("github", "gho_c"));
        gateway.set_status(&conn_id(n), status);
    }
    for (n, status, needs) in cases {
        let answer = client.get_token_by_connection_id(&conn_id(n));
        let needs_it = answer
            .as_ref()
            .err()
            .is_some_and(NexusError::needs_connection);
        assert_eq!(needs_it, needs, "{status}: {:?}", answer.err());
    }
    // An unknown connection id is not the workspace's to reconnect.
    let err = client.get_token_by_connection_id(&conn_id(99)).unwrap_err();
    assert!(!err.needs_connection(), "{err}");
    // A Gateway that forwards only the Broker's status: a bare 410 still says it.
    gateway.bodyless_errors(true);
    let err = client.get_token_by_connection_id(&conn_id(1)).unwrap_err();
    assert_eq!(err.status_code, Some(410));
    assert!(err.needs_connection(), "{err}");
    // Errors the SDK raises itself never do.
    assert!(!client.check_connection(" ").unwrap_err().needs_connection());
}

/// The fake serves the flow as the Gateway and Broker do: request-connection's
/// `user_id` is the connection's workspace; once its user consents, resolve
/// answers that connection's token for the provider's exact listed name; a
/// newer consent supersedes the older; a revoked connection is never chosen.
#[test]
fn a_connection_consented_for_a_workspace_is_what_resolve_answers() {
    let gateway = gateway();
    let client = client(&gateway);
    let err = client.resolve_token("ws-new", "github").unwrap_err();
    assert!(err.needs_connection(), "{err}");
    let consent = |provider: &str| {
        let input = nexus_sdk::RequestConnectionInput::new("ws-new", provider)
            .return_url("http://localhost/nexus/connected");
        let started = client.request_connection(&input).unwrap();
        let page = ureq::get(&started.auth_url)
            .call()
            .unwrap()
            .into_body()
            .read_to_string();
        assert!(page.unwrap().contains("Connected"));
        started.connection_id
    };
    let first = consent("GitHub");
    let token = |provider: &str| {
        client
            .resolve_token("ws-new", provider)
            .map(|t| t.access_token().to_owned())
    };
    let one = token("github").unwrap();
    assert!(one.contains("fake-github-token"), "{one}");
    assert!(token("GitHub").is_ok(), "found by the rule, sent as listed");
    let second = consent("github");
    let two = token("github").unwrap();
    assert_ne!(one, two, "the newer consent supersedes the older");
    assert!(
        client
            .get_token_by_connection_id(&first)
            .unwrap_err()
            .needs_connection()
    );
    client
        .revoke_connection(&second, &Default::default())
        .unwrap();
    let err = token("github").unwrap_err();
    assert!(
        err.needs_connection(),
        "a revoked connection is never chosen: {err}"
    );
    assert_eq!(err.status_code, Some(404));
}
