//! The groups a policy names, as each provider really sends them: a
//! token whose group claim the issuer left out for overage (Entra, past
//! 200 groups: `_claim_names` and `_claim_sources`, or `hasgroups`) makes
//! no decision on groups that are not all there.

mod common;

use common::served::{Served, fakes, workspace_of};
use common::{is_error, text};
use nexus_gateway_fake::FakeToken;
use serde_json::json;

/// Everyone may call, but contractors never write.
const NO_CONTRACTOR_WRITES: &str = r#"permit (principal, action == Action::"call", resource);
@id("contractors read")
forbid (principal in Group::"contractors", action == Action::"call", resource)
  unless { context.method == "GET" };
"#;

#[test]
fn a_token_whose_groups_were_left_out_for_overage_is_refused_not_decided_as_in_no_group() {
    let (issuer, gateway, api) = fakes(&["ann", "cy", "dee"], "gho_team");
    let (_dir, file) = common::served::policy_file(NO_CONTRACTOR_WRITES);
    let args = ["--policy", &file, "--allow-write"];
    let served = Served::start(&gateway, &issuer, &args);
    let minted = |person: &str, claims: &[(&str, serde_json::Value)]| {
        let token = FakeToken::new(person).audience(&served.resource);
        let token = (claims.iter()).fold(token, |t, (name, value)| t.claim(name, value.clone()));
        issuer.mint(&token)
    };
    let write = |token: &str| {
        let url = format!("{}/repos/acme/x", api.url());
        let args = json!({"provider": "github", "url": url, "method": "POST"});
        served.call(token, "authenticated_fetch", args).1["result"].clone()
    };
    // Entra's overage: the groups claim named, its source given, no list.
    let overage = [
        ("_claim_names", json!({"groups": "src1"})),
        (
            "_claim_sources",
            json!({"src1": {"endpoint": "https://graph.microsoft.com/v1.0/users/x/getMemberObjects"}}),
        ),
    ];
    let ann = minted("ann", &overage);
    let before = api.request_count();
    let refused = write(&ann);
    assert!(
        is_error(&refused)
            && text(&refused).starts_with("policy_denied")
            && text(&refused).contains("groups"),
        "{refused}"
    );
    let hasgroups = minted("cy", &[("hasgroups", json!(true))]);
    assert!(
        is_error(&write(&hasgroups)),
        "hasgroups: not all there either"
    );
    assert_eq!(api.request_count(), before, "nothing sent");
    let resolves = gateway.resolves(&workspace_of(&issuer.url(), "ann"), "github");
    assert_eq!(resolves, 0, "no credential resolved");
    let said = served.said_once(|said| said.contains("group overage"));
    assert!(
        said.contains("`groups`") && said.contains("app roles"),
        "{said}"
    );
    // Groups that are all there decide as before.
    let dee = minted("dee", &[("groups", json!(["staff"]))]);
    assert!(
        !is_error(&write(&dee)),
        "a person in no forbidden group writes"
    );
}

/// Google writes no groups: a team decides a contractor by `hd` (a
/// Workspace person's domain, as `--policy-claim hd` reads it), and names
/// people by their e-mail (`--subject-claim email`), which the sign-in
/// asks the `email` scope for.
#[test]
fn at_google_a_contractor_is_decided_by_hd_and_a_person_named_by_their_email() {
    use common::front::{redeemed, signed_in_with};
    let issuer = nexus_gateway_fake::FakeIssuer::start_google();
    let (gateway, api) = (
        nexus_gateway_fake::FakeGateway::start(),
        nexus_gateway_fake::FakeUpstream::start(),
    );
    for person in ["ann", "cy"] {
        let github = nexus_gateway_fake::FakeProvider::oauth2("gho_team").api_base_url(&api.url());
        let subject = format!("{person}@gmail.com");
        gateway.add_provider(&workspace_of(&issuer.url(), &subject), "github", github);
    }
    let ours = r#"permit (principal, action, resource)
  when { principal.hasTag("hd") && principal.getTag("hd") == "acme.com" };"#;
    let (_dir, file) = common::served::policy_file(ours);
    let args = [
        "--policy",
        &file,
        "--policy-claim",
        "hd",
        "--subject-claim",
        "email",
    ];
    let fetch = |person: &str, hd: Option<&str>| {
        let claims = hd
            .map(|hd| ("hd".to_owned(), json!(hd)))
            .into_iter()
            .collect();
        let (served, origin, id, said) = signed_in_with(&issuer, &gateway, (person, claims), &args);
        let code = said
            .get("code")
            .unwrap_or_else(|| panic!("{person}: {said:?}"));
        let access = redeemed(&origin, &id, code);
        let url = format!("{}/repos", api.url());
        let answer = served.call(
            &access,
            "authenticated_fetch",
            json!({"provider": "github", "url": url}),
        );
        answer.1["result"].clone()
    };
    let ann = fetch("ann", Some("acme.com"));
    assert!(!is_error(&ann), "a Workspace person of acme.com: {ann}");
    let cy = fetch("cy", Some("contractor.example"));
    assert!(
        is_error(&cy) && text(&cy).starts_with("policy_denied"),
        "{cy}"
    );
}

/// One `serve` serves one issuer: a second `--issuer` is refused, saying
/// what a team with two providers does.
#[test]
fn a_second_issuer_is_refused_saying_what_a_team_with_two_providers_does() {
    let (first, second) = (
        nexus_gateway_fake::FakeIssuer::start(),
        nexus_gateway_fake::FakeIssuer::start_google(),
    );
    let gateway = nexus_gateway_fake::FakeGateway::start();
    let port = common::served::free_port();
    let out = common::served::command(
        &gateway,
        &first.url(),
        port,
        &[
            "--issuer",
            &first.url(),
            "--issuer",
            &second.url(),
            "--check",
        ],
    )
    .output()
    .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(
        said.contains("one serve serves one issuer") && said.contains("federates"),
        "{said}"
    );
}
