//! What a call does, with no way around its decision (#119, 1–3), through
//! the program: a call read several ways (an override header naming
//! another method, a repeated query parameter, a fraction read as the
//! integers either side) is denied when any reading is denied by a plain
//! `forbid`, whatever an `@ask` says of another; an approval is bound to
//! the request as it will leave (its method, URL, body and every header it
//! sends, whatever its name: one header added or changed, it is asked
//! again, #126, 1);
//! the page shows what is signed; a verdict past `--approval-life` is told
//! `expired`, and an approval form lives no longer than the link. Replicas
//! sharing a real Redis; a replica's clock moved by libfaketime.

mod common;

use common::approving::{answered, call_with, fakes, link_in, opened, served};
use common::redis::Redis;
use common::served::{Browser, policy_file};
use common::text;
use serde_json::Value;

const POLICY: &str = r#"@id("everyone calls")
permit (principal, action == Action::"call", resource);
@id("refunds over 100 EUR") @ask("group:leads")
forbid (principal, action == Action::"call", resource == Provider::"stripe")
  when { context.bodyNumbers.hasTag("amount") && context.bodyNumbers.getTag("amount") > 10000 };
@id("never a DELETE")
forbid (principal, action == Action::"call", resource) when { context.method == "DELETE" };
@id("never public")
forbid (principal, action == Action::"call", resource)
  when { context.query.hasTag("visibility") && context.query.getTag("visibility") == "public" };
@id("never above 20000")
forbid (principal, action == Action::"call", resource == Provider::"stripe")
  when { context.bodyNumbers.hasTag("amount") && context.bodyNumbers.getTag("amount") > 20000 };
"#;

/// Whether a tool's `result` is the policy's denial (not a question).
fn denied(result: &Value) -> bool {
    text(result).starts_with("policy_denied")
}

/// Whether a tool's `result` asks for an approval.
fn asked(result: &Value) -> bool {
    text(result).starts_with("approval_required")
}

#[test]
fn a_reading_a_plain_forbid_denies_is_denied_whatever_another_reading_asks() {
    let (issuer, gateway, api) = fakes();
    let (_dir, file) = policy_file(POLICY);
    let served = served(&issuer, &gateway, &file, &[]);
    let call = |request, headers: &[(&str, &str)]| {
        call_with(&issuer, &served, &api.url(), request, headers)
    };
    let refund = ("POST", "/v1/refunds", Some(r#"{"amount": 15000}"#));
    assert!(asked(&call(refund, &[])), "asked alone");
    for override_header in [
        "X-HTTP-Method-Override",
        "X-Method-Override",
        "X-HTTP-Method",
    ] {
        let result = call(refund, &[(override_header, "DELETE")]);
        assert!(denied(&result), "{override_header}: {result}");
    }
    let repeated = (
        "POST",
        "/v1/refunds?visibility=private&visibility=public",
        refund.2,
    );
    let result = call(repeated, &[]);
    assert!(denied(&result), "{result}");
    for amount in ["20000.5", "2.00005e4", "20000.000000000001"] {
        let body = format!(r#"{{"amount": {amount}}}"#);
        let request = ("POST", "/v1/refunds", Some(body.as_str()));
        let result = call_with(&issuer, &served, &api.url(), request, &[]);
        assert!(denied(&result), "{amount}: {result}");
    }
    // Every body form the provider reads: a form (as Stripe's API takes
    // it), JSON sent as text or untyped, a JSON body with a BOM or data
    // after it (refused: parsers read them differently).
    let bodies = [
        (
            "amount=30000&currency=eur",
            "application/x-www-form-urlencoded",
        ),
        (r#"{"amount": 30000}"#, "text/plain"),
        (r#"{"amount": 5} {"amount": 30000}"#, "text/plain"),
        ("\u{feff}{\"amount\": 30000}", "text/plain"),
    ];
    for (body, typed) in bodies {
        let request = ("POST", "/v1/refunds", Some(body));
        let result = call_with(
            &issuer,
            &served,
            &api.url(),
            request,
            &[("Content-Type", typed)],
        );
        assert!(denied(&result), "{typed} {body:?}: {result}");
    }
    let form = ("POST", "/v1/refunds", Some("amount=15000&currency=eur"));
    let typed = [("Content-Type", "application/x-www-form-urlencoded")];
    assert!(
        asked(&call_with(&issuer, &served, &api.url(), form, &typed)),
        "a form's 150 EUR asked"
    );
    assert_eq!(api.request_count(), 0, "nothing sent");
}

#[test]
fn an_approval_is_bound_to_every_header_a_call_sends_and_its_page_shows_them() {
    let (issuer, gateway, api) = fakes();
    let (_dir, file) = policy_file(POLICY);
    let served = served(&issuer, &gateway, &file, &[]);
    let call = |request, headers: &[(&str, &str)]| {
        call_with(&issuer, &served, &api.url(), request, headers)
    };
    let refund = (
        "POST",
        "/v1/refunds?reason=duplicate",
        Some(r#"{"amount": 15000, "currency": "eur", "note": "client asked"}"#),
    );
    let connected = [("Stripe-Account", "acct_1Nv0FGQ9RKHgCVdK")];
    let link = link_in(&call(refund, &connected));
    let mut bob = Browser::new();
    let (status, page) = opened(&mut bob, &issuer, ("bob", &["leads"]), &link);
    assert_eq!(status, 200, "{page}");
    // What is signed: the URL's values, the body's values beside its
    // digest (those no policy reads too), every header sent.
    for shown in [
        "reason=duplicate",
        "currency",
        "eur",
        "note",
        "client asked",
        "SHA-256",
        "content-type",
        "stripe-account",
        "acct_1Nv0FGQ9RKHgCVdK",
    ] {
        assert!(page.contains(shown), "{shown}: {page}");
    }
    assert_eq!(answered(&mut bob, &served, &page, ("approve", "")).0, 200);
    // The approved request with any header added, another value of one,
    // or without one: asked again, nothing sent.
    let others: [&[(&str, &str)]; 7] = [
        &[("Stripe-Account", "acct_9Other")],
        &[],
        &[connected[0], ("Stripe-Version", "2020-08-27")],
        &[connected[0], ("X-HTTP-Method-Override", "PATCH")],
        &[connected[0], ("Content-Type", "text/plain")],
        &[connected[0], ("Accept-Language", "de")],
        &[connected[0], ("X-Whatever-Next", "1")],
    ];
    for headers in others {
        let result = call(refund, headers);
        assert!(asked(&result), "{headers:?}: {result}");
    }
    assert_eq!(api.request_count(), 0);
    // A header a secret scanner flags: bound and shown as its digest, never
    // as written.
    let keyed = [
        connected[0],
        ("Idempotency-Key", "k3y-f0r-th1s-refund-only"),
    ];
    let link = link_in(&call(refund, &keyed));
    let (_, page) = opened(&mut bob, &issuer, ("bob", &["leads"]), &link);
    assert!(
        page.contains("idempotency-key") && page.contains("withheld"),
        "{page}"
    );
    assert!(!page.contains("k3y-f0r-th1s-refund-only"), "{page}");
    assert!(
        call(refund, &connected)["isError"] == false,
        "the request approved goes"
    );
    assert_eq!(api.request_count(), 1);
    let sent = api.requests();
    let account = sent[0]
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("stripe-account"));
    assert_eq!(
        account.map(|(_, v)| v.as_str()),
        Some("acct_1Nv0FGQ9RKHgCVdK")
    );
}

#[test]
#[ignore = "needs redis-server from the distribution (.ci/run installs it)"]
fn on_three_replicas_an_approval_sends_only_the_headers_it_showed_and_once() {
    let redis = Redis::start();
    let (issuer, gateway, api) = fakes();
    let (_dir, file) = policy_file(POLICY);
    let store = redis.url();
    let args = ["--store", store.as_str()];
    let replicas = [
        served(&issuer, &gateway, &file, &args),
        served(&issuer, &gateway, &file, &args),
        served(&issuer, &gateway, &file, &args),
    ];
    let refund = ("POST", "/v1/refunds", Some(r#"{"amount": 15000}"#));
    let call = |on: usize, headers: &[(&str, &str)]| {
        call_with(&issuer, &replicas[on], &api.url(), refund, headers)
    };
    let shown = [("Stripe-Account", "acct_1Nv0FGQ9RKHgCVdK")];
    // (Asked on the last started: the issuer's sign-in comes back to it.)
    let link = link_in(&call(2, &shown));
    let mut bob = Browser::new();
    let (status, page) = opened(&mut bob, &issuer, ("bob", &["leads"]), &link);
    assert!(
        status == 200 && page.contains("acct_1Nv0FGQ9RKHgCVdK"),
        "{page}"
    );
    assert_eq!(
        answered(&mut bob, &replicas[2], &page, ("approve", "")).0,
        200
    );
    // On the other replicas: another account, none, or one more header is
    // another request, asked again; nothing sent.
    for (on, headers) in [
        (1, &[("Stripe-Account", "acct_9Other")][..]),
        (0, &[][..]),
        (1, &[shown[0], ("Stripe-Version", "2020-08-27")][..]),
    ] {
        let result = call(on, headers);
        assert!(asked(&result), "replica {on} {headers:?}: {result}");
    }
    assert_eq!(api.request_count(), 0);
    // The request shown: sent once, from whichever replica, with its header.
    assert!(call(0, &shown)["isError"] == false);
    assert!(asked(&call(1, &shown)), "spent by the request it approved");
    let sent = api.requests();
    assert_eq!(sent.len(), 1);
    let account = sent[0]
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("stripe-account"));
    assert_eq!(
        account.map(|(_, v)| v.as_str()),
        Some("acct_1Nv0FGQ9RKHgCVdK")
    );
}

#[test]
#[ignore = "needs redis-server and libfaketime from the distribution (.ci/run installs them)"]
fn a_verdict_past_its_life_is_told_expired_and_a_form_never_outlives_its_link() {
    let redis = Redis::start();
    let (issuer, gateway, api) = fakes();
    let (_dir, file) = policy_file(POLICY);
    let store = redis.url();
    let args = ["--store", store.as_str(), "--approval-life", "1m"];
    // A replica whose clock is 90 s ahead: past the minute an approval
    // lives (started first: the sign-in comes back to the other).
    let later = common::approving::served_at(&issuer, &gateway, &file, &args, "+90s");
    let now = served(&issuer, &gateway, &file, &args);
    let refund = ("POST", "/v1/refunds", Some(r#"{"amount": 15000}"#));
    let link = link_in(&call_with(&issuer, &now, &api.url(), refund, &[]));
    let mut bob = Browser::new();
    let (status, page) = opened(&mut bob, &issuer, ("bob", &["leads"]), &link);
    assert_eq!(status, 200, "{page}");
    // The form, sent to the later replica: past the link's minute.
    let (status, said) = answered(&mut bob, &later, &page, ("approve", ""));
    assert_eq!(status, 400, "the form outlived its link: {said}");
    // Approved in time, and the call made again past the approval's life.
    assert_eq!(answered(&mut bob, &now, &page, ("approve", "")).0, 200);
    let result = call_with(&issuer, &later, &api.url(), refund, &[]);
    assert!(asked(&result), "{result}");
    let said = later.said_once(|said| said.contains("approval: expired id="));
    assert!(said.contains("asked again"), "{said}");
    assert_eq!(api.request_count(), 0);
}

#[test]
fn an_approval_is_spent_by_the_request_it_approves_not_by_a_call_that_sent_nothing() {
    let (issuer, gateway, api) = (
        nexus_gateway_fake::FakeIssuer::start(),
        nexus_gateway_fake::FakeGateway::start(),
        nexus_gateway_fake::FakeUpstream::start(),
    );
    // Stripe is connected for bob alone.
    let stripe = || nexus_gateway_fake::FakeProvider::oauth2("sk_team").api_base_url(&api.url());
    let whose = |person| common::served::workspace_of(&issuer.url(), person);
    gateway.add_provider(&whose("bob"), "stripe", stripe());
    let (_dir, file) = policy_file(POLICY);
    let served = served(&issuer, &gateway, &file, &[]);
    let refund = ("POST", "/v1/refunds", Some(r#"{"amount": 15000}"#));
    let call = || call_with(&issuer, &served, &api.url(), refund, &[]);
    let link = link_in(&call());
    let mut bob = Browser::new();
    let (status, page) = opened(&mut bob, &issuer, ("bob", &["leads"]), &link);
    assert_eq!(status, 200, "{page}");
    assert_eq!(answered(&mut bob, &served, &page, ("approve", "")).0, 200);
    // Approved, and alice has not connected stripe yet: nothing is sent.
    let unconnected = call();
    assert!(
        text(&unconnected).starts_with("connection_not_found"),
        "{unconnected}"
    );
    assert_eq!(api.request_count(), 0);
    // Connected, the call made again goes without asking again, once.
    gateway.add_provider(&whose("alice"), "stripe", stripe());
    let sent = call();
    assert_eq!(sent["isError"], false, "{sent}");
    assert_eq!(api.request_count(), 1);
    assert!(asked(&call()), "the approval was spent by its request");
    assert_eq!(api.request_count(), 1);
}
