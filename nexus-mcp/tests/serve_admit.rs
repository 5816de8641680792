//! Only the team gets in: `serve --allow-sign-in CLAIM=VALUE` says who may
//! sign in by the sign-in's claims (Google's `hd`, an e-mail domain, a
//! group), refused at the sign-in before any code or token, on `serve`'s
//! page and in the log, and for a sign-in already made at its next
//! refresh; `serve --check` in front of Google with nothing restricting
//! sign-in says that any Google account can sign in.

mod common;

use common::front::{authorize_url, field, signed_in_through, token_answer, tokens_for};
use common::served::{Browser, Served, command, free_port};
use nexus_gateway_fake::{FakeGateway, FakeIssuer};
use serde_json::{Map, Value, json};

const PROXY: [&str; 3] = ["--oauth-proxy", "--login-client-id", "nexus-login"];

/// `claims` as a map.
fn claims(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

/// What a sign-in through `served` (at `origin`, the client `id`) ends
/// with once the issuer signs `person` in with `with` claims: where the
/// browser was sent last, and the page it ended on.
fn signs_in(
    issuer: &FakeIssuer,
    origin: &str,
    id: &str,
    person: &str,
    with: Value,
) -> (u16, Option<String>, String) {
    let mut browser = Browser::new();
    let (_, _, page) = browser.open(&authorize_url(origin, id));
    let form = [("pending", field(&page, "pending"))];
    let (_, to_issuer, _) = browser.submit(&format!("{origin}/authorize"), &form);
    issuer.approve_as_with_claims(person, claims(with));
    let (_, back, _) = browser.open(&to_issuer.expect("to the issuer"));
    browser.open(&back.expect("back to serve"))
}

#[test]
fn in_front_of_google_only_the_workspace_it_names_signs_in() {
    let (issuer, gateway) = (FakeIssuer::start_google(), FakeGateway::start());
    let args = ["--allow-sign-in", "hd=acme.example"];
    let (served, origin) = common::front::proxy(&issuer, &gateway, &args);
    let id = &common::front::host(&served);
    // A Workspace person of acme.example: a code.
    let acme = json!({"hd": "acme.example", "email": "ann@acme.example", "email_verified": true});
    let (status, to, page) = signs_in(&issuer, &origin, id, "1001", acme);
    assert!(
        to.is_some_and(|to| to.contains("code=")),
        "{status}: {page}"
    );
    // A gmail account (no hd) and another company's Workspace: no code.
    for (person, with) in [
        (
            "1002",
            json!({"email": "bob@gmail.com", "email_verified": true}),
        ),
        (
            "1003",
            json!({"hd": "other.example", "email": "cy@other.example"}),
        ),
    ] {
        let (status, to, page) = signs_in(&issuer, &origin, id, person, with);
        assert_eq!((status, to), (403, None), "{page}");
        assert!(page.contains("lets in only the accounts"), "{page}");
        assert!(
            page.contains("error=access_denied"),
            "the host is told: {page}"
        );
        assert!(!page.contains("code="), "{page}");
    }
    let said = served.said();
    assert!(
        said.contains("matches no --allow-sign-in (it carries no hd)"),
        "{said}"
    );
    assert!(said.contains("(it carries hd \"other.example\")"), "{said}");
    assert!(
        !said.contains("bob@gmail.com"),
        "an e-mail is not logged: {said}"
    );
}

#[test]
fn a_workspace_domain_written_in_capitals_lets_its_people_in_and_check_notes_it() {
    let (issuer, gateway) = (FakeIssuer::start_google(), FakeGateway::start());
    for rule in ["hd=ACME.EXAMPLE", "email=*@Acme.Example"] {
        let args = ["--allow-sign-in", rule];
        let (served, origin) = common::front::proxy(&issuer, &gateway, &args);
        let id = &common::front::host(&served);
        let acme =
            json!({"hd": "acme.example", "email": "ann@acme.example", "email_verified": true});
        let (status, to, page) = signs_in(&issuer, &origin, id, "1001", acme);
        assert!(
            to.is_some_and(|to| to.contains("code=")),
            "{rule}: {status}: {page}"
        );
    }
    // serve --check notes a Workspace domain no provider sends so, and an
    // e-mail rule that would let in another domain.
    let port = free_port();
    issuer.add_client(
        "nexus-login",
        &format!("http://127.0.0.1:{port}/connect/callback"),
    );
    let rules = [
        "--allow-sign-in",
        "hd=ACME.EXAMPLE",
        "--allow-sign-in",
        "email=*acme.example",
    ];
    let args = [&PROXY[..], &rules, &["--check"]].concat();
    let out = command(&gateway, &issuer.url(), port, &args)
        .output()
        .expect("nexus-mcp");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("hd=acme.example") && said.contains("lower case"),
        "{said}"
    );
    assert!(said.contains("write email=*@acme.example"), "{said}");
}

#[test]
fn a_sign_in_made_before_a_rule_is_turned_away_at_its_next_refresh() {
    let (issuer, gateway) = (FakeIssuer::start_google(), FakeGateway::start());
    issuer.approve_as_with_claims("1002", claims(json!({"email": "bob@gmail.com"})));
    let (_open, origin, id, said) = signed_in_through(&issuer, &gateway, "1002", &[]);
    let code = said.get("code").expect("a code: no rule yet");
    let tokens = tokens_for(&origin, &id, code);
    // The operator adds the rule: a replica with it (the same keyring).
    let port = free_port();
    let public = format!("{origin}/mcp");
    let args = [
        &PROXY[..],
        &[
            "--public-url",
            &public,
            "--allow-sign-in",
            "hd=acme.example",
        ],
    ];
    let child = command(&gateway, &issuer.url(), port, &args.concat()).spawn();
    let ruled = Served::ready(child.expect("nexus-mcp"), port);
    let refresh = tokens["refresh_token"].as_str().expect("a refresh token");
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh),
        ("client_id", &id),
    ];
    let (status, refused) = token_answer(&ruled.origin, &form);
    assert_eq!(
        (status, refused["error"].as_str()),
        (400, Some("invalid_grant")),
        "{refused}"
    );
    assert!(
        refused["error_description"]
            .as_str()
            .unwrap_or_default()
            .contains("--allow-sign-in")
    );
}

#[test]
fn serve_check_in_front_of_google_says_any_google_account_can_sign_in() {
    let gateway = FakeGateway::start();
    let check = |more: &[&str]| {
        let args = [
            &PROXY[..],
            &["--issuer", "https://accounts.google.com", "--check"],
            more,
        ];
        let out = command(&gateway, "unused", free_port(), &args.concat()).output();
        let out = out.expect("nexus-mcp");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, said) = check(&[]);
    assert_eq!(code, Some(2), "{said}");
    assert!(
        said.contains("any Google account can sign in") && said.contains("hd="),
        "{said}"
    );
    let (_, said) = check(&["--allow-sign-in", "hd=acme.example"]);
    assert!(!said.contains("any Google account"), "{said}");
}

#[test]
fn a_rule_that_is_not_claim_equals_value_does_not_start() {
    let (issuer, gateway) = (FakeIssuer::start(), FakeGateway::start());
    let args = [&PROXY[..], &["--allow-sign-in", "acme.example"]].concat();
    let out = command(&gateway, &issuer.url(), free_port(), &args)
        .output()
        .expect("nexus-mcp");
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(
        said.contains("--allow-sign-in") && said.contains("CLAIM=VALUE"),
        "{said}"
    );
}
