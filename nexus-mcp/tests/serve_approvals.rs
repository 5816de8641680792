//! A call a policy asks a person to approve (#111, 2), through the built
//! program with a browser that keeps its cookies: `@ask("group:NAME")` and
//! `@ask("self")` on a `forbid`; the call answers `approval_required` with
//! a link to `serve`'s approval page and sends nothing; only an approver
//! the policy names is shown the page (a member of the group other than the
//! asker; the asker, signed in afresh); the form is refused from another
//! origin or browser; an approval holds for that exact request, once; a
//! denial is told with its reason; two replicas sharing a real Redis let
//! an approved call through once between them.

mod common;

use common::approving::{answered, call, fakes, link_in, opened, pending, served};
use common::redis::Redis;
use common::served::{Browser, policy_checked, policy_file};
use common::{Session, text};
use nexus_gateway_fake::{FakeGateway, FakeProvider, FakeToken, FakeUpstream};
use serde_json::{Value, json};

const POLICY: &str = r#"@id("everyone calls")
permit (principal, action == Action::"call", resource);
@id("refunds over 100 EUR") @ask("group:leads")
forbid (principal, action == Action::"call", resource == Provider::"stripe")
  when { context.bodyNumbers.hasTag("amount") && context.bodyNumbers.getTag("amount") > 10000 };
@id("a DELETE is yours to approve") @ask("self")
forbid (principal, action == Action::"call", resource) when { context.method == "DELETE" };
"#;

#[test]
fn a_call_is_approved_by_the_approver_its_policy_names_for_that_exact_request_once() {
    let (issuer, gateway, api) = fakes();
    let (_dir, file) = policy_file(POLICY);
    let served = served(&issuer, &gateway, &file, &[]);
    let refund = (
        "POST",
        "/v1/refunds",
        Some(r#"{"amount": 20000, "currency": "eur"}"#),
    );
    let asked = call(&issuer, &served, &api.url(), refund);
    assert!(text(&asked).starts_with("approval_required"), "{asked}");
    assert_eq!(api.request_count(), 0, "nothing sent before approval");
    let link = link_in(&asked);
    assert!(
        link.starts_with(&format!("{}/approve/", served.origin)),
        "{link}"
    );
    // Only a member of the group other than the asker is shown the page.
    for (person, groups) in [("alice", &["leads"][..]), ("carol", &["other"][..])] {
        let (status, page) = opened(&mut Browser::new(), &issuer, (person, groups), &link);
        assert_eq!(status, 403, "{person}: {page}");
    }
    let mut bob = Browser::new();
    let (status, page) = opened(&mut bob, &issuer, ("bob", &["leads"]), &link);
    assert_eq!(status, 200, "{page}");
    for shown in [
        "alice",
        "stripe",
        "POST",
        "/v1/refunds",
        "amount",
        "20000",
        "refunds over 100 EUR",
    ] {
        assert!(page.contains(shown), "{shown}: {page}");
    }
    // A form from another origin, or from a browser it was not shown to.
    let url = format!("{}/approve", served.origin);
    let form = [
        ("pending", pending(&page)),
        ("verdict", "approve".to_owned()),
    ];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(bob.submit_from("https://evil.example", &url, &form).0, 403);
    assert_eq!(Browser::new().submit(&url, &form).0, 400);
    assert_eq!(
        call(&issuer, &served, &api.url(), refund)["isError"],
        true,
        "not approved yet"
    );
    assert_eq!(answered(&mut bob, &served, &page, ("approve", "")).0, 200);
    // The exact request goes, once.
    let changed = (
        "POST",
        "/v1/refunds",
        Some(r#"{"amount": 20000, "currency": "usd"}"#),
    );
    assert!(text(&call(&issuer, &served, &api.url(), changed)).starts_with("approval_required"));
    assert_eq!(
        api.request_count(),
        0,
        "a request changed in one byte is asked again"
    );
    let sent = call(&issuer, &served, &api.url(), refund);
    assert_eq!(sent["isError"], false, "{sent}");
    assert_eq!(api.request_count(), 1);
    let again = call(&issuer, &served, &api.url(), refund);
    assert!(
        text(&again).starts_with("approval_required"),
        "used once: {again}"
    );
    assert_eq!(api.request_count(), 1);
    served.said_once(|said| {
        said.contains("approval: approved id=") && said.contains("approval: used id=")
    });
    // A denial is told with its reason.
    let (status, page) = opened(&mut bob, &issuer, ("bob", &["leads"]), &link_in(&again));
    assert_eq!(status, 200, "{page}");
    assert_eq!(
        answered(
            &mut bob,
            &served,
            &page,
            ("deny", "over the month's budget")
        )
        .0,
        200
    );
    let denied = call(&issuer, &served, &api.url(), refund);
    assert!(
        text(&denied).contains("over the month's budget"),
        "{denied}"
    );
    assert_eq!(api.request_count(), 1);
}

#[test]
fn a_persons_own_call_is_theirs_to_approve_signed_in_afresh() {
    let (issuer, gateway, api) = fakes();
    let (_dir, file) = policy_file(POLICY);
    let served = served(&issuer, &gateway, &file, &[]);
    let delete = ("DELETE", "/v1/customers/cus_1", None);
    let link = link_in(&call(&issuer, &served, &api.url(), delete));
    let (status, page) = opened(&mut Browser::new(), &issuer, ("bob", &["leads"]), &link);
    assert_eq!(status, 403, "another person: {page}");
    let mut alice = Browser::new();
    let (status, page) = opened(&mut alice, &issuer, ("alice", &[]), &link);
    assert_eq!(status, 200, "{page}");
    assert_eq!(answered(&mut alice, &served, &page, ("approve", "")).0, 200);
    assert_eq!(call(&issuer, &served, &api.url(), delete)["isError"], false);
    assert_eq!(api.request_count(), 1);
}

#[test]
fn an_ask_on_a_permit_or_naming_no_approver_is_refused_by_policy_check() {
    let check = policy_checked;
    let (code, said) = check("@ask(\"self\")\npermit (principal, action, resource);");
    assert!(
        code == Some(2) && said.contains(":1:") && said.contains("for a forbid"),
        "{said}"
    );
    let (code, said) = check("@ask(\"me\")\nforbid (principal, action, resource);");
    assert!(code == Some(2) && said.contains("group:NAME"), "{said}");
    assert_eq!(check(POLICY).0, Some(0));
}

#[test]
#[ignore = "needs redis-server from the distribution (NEXUS_REDIS; .ci/run installs it)"]
fn an_approval_holds_on_every_replica_and_is_used_once_between_them() {
    let redis = Redis::start();
    let (issuer, gateway, api) = fakes();
    let (_dir, file) = policy_file(POLICY);
    let store = redis.url();
    let replicas = [(); 2].map(|()| served(&issuer, &gateway, &file, &["--store", &store]));
    let refund = ("POST", "/v1/refunds", Some(r#"{"amount": 50000}"#));
    // Asked on replica one; approved on the page of replica two (the
    // login client's callback the fake issuer holds last).
    let link = link_in(&call(&issuer, &replicas[0], &api.url(), refund));
    let link = link.replace(&replicas[0].origin, &replicas[1].origin);
    let mut bob = Browser::new();
    let (status, page) = opened(&mut bob, &issuer, ("bob", &["leads"]), &link);
    assert_eq!(status, 200, "{page}");
    assert_eq!(
        answered(&mut bob, &replicas[1], &page, ("approve", "")).0,
        200
    );
    // Approved on replica two, it goes on replica one, then on neither.
    assert_eq!(
        call(&issuer, &replicas[0], &api.url(), refund)["isError"],
        false
    );
    let again = call(&issuer, &replicas[1], &api.url(), refund);
    assert!(
        text(&again).starts_with("approval_required"),
        "used once: {again}"
    );
    assert_eq!(api.request_count(), 1);
    let link = link_in(&again);
    let (status, page) = opened(&mut bob, &issuer, ("bob", &["leads"]), &link);
    assert_eq!(status, 200, "{page}");
    assert_eq!(
        answered(&mut bob, &replicas[1], &page, ("approve", "")).0,
        200
    );
    // The same call on both replicas at once: one goes.
    let results: Vec<Value> = std::thread::scope(|scope| {
        let calls: Vec<_> = (replicas.iter())
            .map(|served| scope.spawn(|| call(&issuer, served, &api.url(), refund)))
            .collect();
        calls.into_iter().map(|c| c.join().unwrap()).collect()
    });
    let went = results.iter().filter(|r| r["isError"] == false).count();
    assert_eq!(went, 1, "{results:?}");
    assert_eq!(api.request_count(), 2);
}

#[test]
fn over_stdio_the_operators_own_call_is_asked_by_a_form_the_host_shows() {
    let (gateway, api) = (FakeGateway::start(), FakeUpstream::start());
    let stripe = FakeProvider::oauth2("sk_team").api_base_url(&api.url());
    gateway.add_provider("ws-1", "stripe", stripe);
    let (_dir, file) = policy_file(POLICY);
    let args = ["--policy", file.as_str(), "--allow-write"];
    let delete = json!({"name": "authenticated_fetch", "arguments": {"provider": "stripe",
        "url": format!("{}/v1/customers/cus_1", api.url()), "method": "DELETE"}});
    let mut session = Session::start_eliciting(&gateway, &args);
    // The host shows the form; the operator's answer decides, each time.
    for (answer, sent) in [
        (json!({"approve": true}), 1),
        (json!({"approve": false}), 1),
    ] {
        let id = session.ask("tools/call", delete.clone());
        let asked = session.next().expect("the form");
        assert_eq!(asked["method"], "elicitation/create", "{asked}");
        let message = asked["params"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("DELETE") && message.contains("a DELETE is yours"),
            "{asked}"
        );
        let result = json!({"action": "accept", "content": answer});
        session.send(&json!({"jsonrpc": "2.0", "id": asked["id"], "result": result}));
        let done = session.answer(id);
        assert_eq!(api.request_count(), sent, "{done}");
    }
    // A host without forms, and a group's approval, are told why not.
    let mut plain = Session::start(&gateway, &args);
    let told = plain.call(delete);
    assert!(
        text(&told).starts_with("approval_required") && text(&told).contains("no form"),
        "{told}"
    );
    let refund = json!({"name": "authenticated_fetch", "arguments": {"provider": "stripe",
        "url": format!("{}/v1/refunds", api.url()), "method": "POST",
        "body": "{\"amount\": 20000}", "headers": {"Content-Type": "application/json"}}});
    let told = plain.call(refund);
    assert!(
        text(&told).contains("no member of a group can be asked"),
        "{told}"
    );
}

#[test]
fn a_2025_host_that_takes_url_elicitation_is_sent_the_approval_page_and_calls_again() {
    let (issuer, gateway, api) = fakes();
    let (_dir, file) = policy_file(POLICY);
    let served = served(&issuer, &gateway, &file, &[]);
    let bearer = format!(
        "Bearer {}",
        issuer.mint(&FakeToken::new("alice").audience(&served.resource))
    );
    let params = json!({"protocolVersion": "2025-11-25", "capabilities": {"elicitation": {"url": {}}},
        "clientInfo": {"name": "t", "version": "1"}});
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": params});
    let (_, headers, _) = served.post(&[("Authorization", &bearer)], &body);
    let session = common::served::header(&headers, "mcp-session-id")
        .expect("a session")
        .to_owned();
    let headers = [
        ("Authorization", bearer.as_str()),
        ("MCP-Protocol-Version", "2025-11-25"),
        ("Mcp-Session-Id", session.as_str()),
    ];
    let arguments = json!({"provider": "stripe", "method": "DELETE",
        "url": format!("{}/v1/customers/cus_1", api.url())});
    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "authenticated_fetch", "arguments": arguments}});
    let (_, _, first) = served.post(&headers, &call);
    assert_eq!(first["error"]["code"], json!(-32042), "{first}");
    let asked = &first["error"]["data"]["elicitations"][0];
    let link = asked["url"]
        .as_str()
        .unwrap_or_else(|| panic!("{first}"))
        .to_owned();
    assert!(
        link.starts_with(&format!("{}/approve/", served.origin)),
        "{first}"
    );
    assert_eq!(api.request_count(), 0);
    let mut alice = Browser::new();
    let (status, page) = opened(&mut alice, &issuer, ("alice", &[]), &link);
    assert_eq!(status, 200, "{page}");
    assert_eq!(answered(&mut alice, &served, &page, ("approve", "")).0, 200);
    let (_, _, again) = served.post(&headers, &call);
    assert_eq!(again["result"]["isError"], json!(false), "{again}");
    assert_eq!(api.request_count(), 1);
}
