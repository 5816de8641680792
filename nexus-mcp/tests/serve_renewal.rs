//! `serve --oauth-proxy` renews a sign-in at the provider whenever it
//! renews its own tokens, with the refresh token the provider gave its
//! login (`offline_access`; Google's `access_type=offline`), kept sealed:
//! a person the provider disabled is out, and one whose groups changed is
//! decided anew, within one access token's life, not at the sign-in's end.

mod common;

use common::front::{refreshed, signed_in_with, tokens_for};
use nexus_gateway_fake::{FakeGateway, FakeIssuer};
use serde_json::{Map, Value, json};

/// `person` (in `groups`) signed in through `serve` (with `args`), their
/// code redeemed: the origin, the client id and their tokens.
fn signed_in(
    issuer: &FakeIssuer,
    gateway: &FakeGateway,
    person: &str,
    groups: &[&str],
    args: &[&str],
) -> (common::served::Served, String, String, Value) {
    let claims = Map::from_iter([("groups".to_owned(), json!(groups))]);
    let (served, origin, id, said) = signed_in_with(issuer, gateway, (person, claims), args);
    let tokens = tokens_for(&origin, &id, said.get("code").expect("a code"));
    (served, origin, id, tokens)
}

#[test]
fn a_person_the_provider_disabled_is_out_at_the_next_refresh() {
    let (issuer, gateway) = (FakeIssuer::start(), FakeGateway::start());
    let (served, origin, id, first) = signed_in(&issuer, &gateway, "bob", &["staff"], &[]);
    let (status, second) = refreshed(&origin, &id, &first);
    assert_eq!(status, 200, "renewed at the provider: {second}");
    issuer.disable("bob");
    let (status, refused) = refreshed(&origin, &id, &second);
    assert_eq!(
        (status, refused["error"].as_str()),
        (400, Some("invalid_grant")),
        "{refused}"
    );
    let said = served.said_once(|said| said.contains("the issuer no longer renews the sign-in"));
    assert!(said.contains("AADSTS50057"), "the provider's words: {said}");
}

#[test]
fn a_person_the_provider_regrouped_is_decided_anew_at_the_next_refresh() {
    let (issuer, gateway) = (FakeIssuer::start(), FakeGateway::start());
    regrouped_out_at_the_next_refresh(&issuer, &gateway);
}

/// Ann, in staff and engineering, signed in under `--allow-sign-in
/// groups=staff` at `issuer`: her first refresh goes through; taken out of
/// staff at the provider, her next is refused naming the rule.
fn regrouped_out_at_the_next_refresh(issuer: &FakeIssuer, gateway: &FakeGateway) {
    let args = ["--allow-sign-in", "groups=staff"];
    let (_served, origin, id, first) =
        signed_in(issuer, gateway, "ann", &["staff", "engineering"], &args);
    let (status, second) = refreshed(&origin, &id, &first);
    assert_eq!(status, 200, "{second}");
    // Taken out of staff at the provider: the next refresh reads her again.
    let out = Map::from_iter([("groups".to_owned(), json!(["engineering"]))]);
    issuer.approve_as_with_claims("ann", out);
    let (status, refused) = refreshed(&origin, &id, &second);
    assert_eq!(
        (status, refused["error"].as_str()),
        (400, Some("invalid_grant")),
        "{refused}"
    );
    let why = refused["error_description"].as_str().unwrap_or_default();
    assert!(why.contains("--allow-sign-in"), "{why}");
}

#[test]
fn a_provider_token_is_never_in_the_log_nor_in_the_hosts_answer_as_a_field() {
    let (issuer, gateway) = (FakeIssuer::start(), FakeGateway::start());
    let (served, origin, id, tokens) = signed_in(&issuer, &gateway, "cy", &[], &[]);
    let (status, renewed) = refreshed(&origin, &id, &tokens);
    assert_eq!(status, 200, "{renewed}");
    // The fake's refresh tokens read rt-<n>; the host gets serve's own
    // fields alone, each sealed, and the log names none.
    for answer in [&tokens, &renewed] {
        let mut fields: Vec<&str> = answer
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        fields.sort();
        assert_eq!(
            fields,
            [
                "access_token",
                "expires_in",
                "refresh_token",
                "scope",
                "token_type"
            ]
        );
    }
    assert!(!served.said().contains("rt-"), "{}", served.said());
}

#[test]
fn a_thief_who_refreshes_first_loses_the_chain_when_the_host_refreshes() {
    let (issuer, gateway) = (FakeIssuer::start(), FakeGateway::start());
    let (served, origin, id, stolen) = signed_in(&issuer, &gateway, "dee", &[], &[]);
    // The thief uses the stolen refresh token first (renewed at the issuer).
    let (status, thiefs) = refreshed(&origin, &id, &stolen);
    assert_eq!(status, 200, "{thiefs}");
    // The host then uses its copy: a replay, caught before the issuer is
    // asked, and the family revoked...
    let (status, hosts) = refreshed(&origin, &id, &stolen);
    assert_eq!(
        (status, hosts["error"].as_str()),
        (400, Some("invalid_grant")),
        "{hosts}"
    );
    served.said_once(|said| said.contains("was used after it was replaced"));
    // ...so the thief's successor is refused too.
    let (status, after) = refreshed(&origin, &id, &thiefs);
    assert_eq!(
        (status, after["error"].as_str()),
        (400, Some("invalid_grant")),
        "{after}"
    );
}

/// OpenID Connect lets a provider renew a sign-in without an ID token
/// (Core §12.2): `serve` then reads the person from its userinfo endpoint,
/// so a person regrouped at Okta is decided anew at the next refresh, not
/// at the sign-in's end a week later.
#[test]
fn renewed_without_an_id_token_the_person_is_read_from_userinfo_and_decided_anew() {
    let (issuer, gateway) = (FakeIssuer::start_okta_org(), FakeGateway::start());
    issuer.okta_groups_filter("");
    issuer.renew_without_id_token();
    regrouped_out_at_the_next_refresh(&issuer, &gateway);
}

/// A provider that renews without an ID token and lists no userinfo
/// endpoint says nothing of who the person is now: the sign-in ends at
/// that refresh (within an access token's life), and `serve --check` says
/// so beforehand.
#[test]
fn renewed_without_an_id_token_nor_a_userinfo_endpoint_the_sign_in_ends() {
    let (issuer, gateway) = (FakeIssuer::start(), FakeGateway::start());
    issuer.renew_without_id_token();
    let (served, origin, id, first) = signed_in(&issuer, &gateway, "bo", &[], &[]);
    let (status, refused) = refreshed(&origin, &id, &first);
    assert_eq!(
        (status, refused["error"].as_str()),
        (400, Some("invalid_grant")),
        "{refused}"
    );
    served.said_once(|said| said.contains("lists no userinfo endpoint"));
    let port = common::served::free_port();
    issuer.add_client(
        "nexus-login",
        &format!("http://127.0.0.1:{port}/connect/callback"),
    );
    let check = [
        "--oauth-proxy",
        "--login-client-id",
        "nexus-login",
        "--check",
    ];
    let out = common::served::command(&gateway, &issuer.url(), port, &check)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("lists no userinfo_endpoint"), "{said}");
}
