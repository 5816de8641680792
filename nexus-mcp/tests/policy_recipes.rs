//! The guide's policy recipes (`docs/policy.md`, "Recipes"), run as
//! written: each Cedar block validated and its decisions made by `nexus-mcp
//! policy explain`; the group claims of Entra ID, Okta and Keycloak read by
//! `serve` from tokens in each provider's shape.

mod common;

use std::process::Command;

use common::served::{Served, fakes};
use nexus_gateway_fake::FakeToken;
use serde_json::{Value, json};

/// The guide's Cedar blocks, each named by its first `@id`.
fn recipes() -> Vec<(String, String)> {
    let guide = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/policy.md");
    let guide = std::fs::read_to_string(guide).expect("the guide");
    let recipes = &guide[guide.find("## Recipes").expect("its recipes")..];
    let blocks = recipes.split("```cedar\n").skip(1);
    let blocks = blocks.map(|b| b.split("\n```").next().unwrap_or_default().to_owned());
    let named = blocks.map(|b| {
        let id = b
            .split("@id(\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap_or_default();
        (id.to_owned(), b)
    });
    named.collect()
}

/// The recipe `id` with `more` policies beside it, in a file (in a
/// directory that goes with it): the directory and the file's path.
fn recipe_file(id: &str, more: &str) -> (tempfile::TempDir, String) {
    let recipes = recipes();
    let recipe = recipes
        .iter()
        .find(|(name, _)| name == id)
        .unwrap_or_else(|| panic!("{id}"));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("recipe.cedar");
    std::fs::write(&file, format!("{}\n{more}", recipe.1)).unwrap();
    let file = file.to_str().unwrap().to_owned();
    (dir, file)
}

/// The recipe `id` with `more` policies beside it, in a file; then each
/// `(person, groups, provider, method, path)` decided (a group written
/// `NAME=VALUE` is a tag): whether permitted.
fn decided(id: &str, more: &str, calls: &[(&str, &[&str], &str, &str, &str)]) -> Vec<bool> {
    let (_dir, file) = recipe_file(id, more);
    let file = file.as_str();
    let decide = |(person, groups, provider, method, path): &(&str, &[&str], &str, &str, &str)| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_nexus-mcp"));
        command.args(["policy", "explain", "--policy", file, "--person", person]);
        command.args(["--provider", provider, "--method", method]);
        command.args(["--url", &format!("https://api.example.com{path}")]);
        for group in *groups {
            let flag = if group.contains('=') {
                "--tag"
            } else {
                "--group"
            };
            command.args([flag, group]);
        }
        let out = command.output().unwrap();
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(matches!(out.status.code(), Some(0 | 1)), "{id}: {said}");
        out.status.code() == Some(0)
    };
    calls.iter().map(decide).collect()
}

const PERMIT_ALL: &str = "permit (principal, action, resource);";

/// The recipe `id` beside `more`; then each `(provider, method, path,
/// body)` decided for `alice` (a body labelled JSON): whether permitted.
fn decided_with_bodies(id: &str, more: &str, calls: &[(&str, &str, &str, &str)]) -> Vec<bool> {
    let (_dir, file) = recipe_file(id, more);
    let decide = |(provider, method, path, body): &(&str, &str, &str, &str)| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_nexus-mcp"));
        command.args(["policy", "explain", "--policy"]).arg(&file);
        command.args([
            "--person",
            "alice",
            "--provider",
            provider,
            "--method",
            method,
        ]);
        command.args(["--url", &format!("https://api.example.com{path}")]);
        // A JSON body as JSON, any other as the form Stripe's API takes.
        let typed = match body.starts_with('{') || body.starts_with('[') {
            true => "Content-Type: application/json",
            false => "Content-Type: application/x-www-form-urlencoded",
        };
        if !body.is_empty() {
            command.args(["--header", typed, "--body", body]);
        }
        let out = command.output().unwrap();
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(matches!(out.status.code(), Some(0 | 1)), "{id}: {said}");
        out.status.code() == Some(0)
    };
    calls.iter().map(decide).collect()
}

#[test]
fn the_recipes_on_a_calls_content_decide_as_their_names_say() {
    let query = |q: &str| serde_json::json!({"query": q}).to_string();
    let github = [
        ("github", "GET", "/repos/acme/x", String::new()),
        ("github", "POST", "/graphql", query("{ viewer { login } }")),
        (
            "github",
            "POST",
            "/graphql",
            query("mutation { deleteRepository { x } }"),
        ),
        (
            "github",
            "POST",
            "/repos/acme/x/issues",
            query("{ viewer { login } }"),
        ),
        (
            "github",
            "POST",
            "/graphql",
            r#"{"extensions": {"persistedQuery": {"sha256Hash": "a"}}}"#.into(),
        ),
        ("github", "DELETE", "/repos/acme/x", String::new()),
    ];
    let github: Vec<_> = github
        .iter()
        .map(|(p, m, u, b)| (*p, *m, *u, b.as_str()))
        .collect();
    let read = decided_with_bodies("github reads, GraphQL queries too", "", &github);
    assert_eq!(read, [true, true, false, false, false, false]);
    let refunds = [
        ("stripe", "POST", "/v1/refunds", r#"{"amount": 10000}"#),
        ("stripe", "POST", "/v1/refunds", r#"{"amount": 10001}"#),
        ("stripe", "POST", "/v1/refunds", r#"{"amount": 10000.01}"#),
        (
            "stripe",
            "POST",
            "/v1/refunds",
            r#"{"amount": 5, "amount": 50000}"#,
        ),
        ("stripe", "POST", "/v1/charges", r#"{"amount": 50000}"#),
        // As Stripe's API takes them: a form.
        ("stripe", "POST", "/v1/refunds", "amount=10000&currency=eur"),
        ("stripe", "POST", "/v1/refunds", "amount=90000&currency=eur"),
        (
            "stripe",
            "POST",
            "/v1/refunds",
            "amount=90000&metadata[order]=o1",
        ),
        ("stripe", "POST", "/v1/refunds", "amount=5&amount=90000"),
    ];
    let bound = decided_with_bodies("refunds up to 100 EUR", PERMIT_ALL, &refunds);
    assert_eq!(
        bound,
        [true, false, false, false, true, true, false, false, false]
    );
    let leads = [
        ("stripe", "POST", "/v1/refunds", r#"{"amount": 5000}"#),
        ("stripe", "POST", "/v1/refunds", r#"{"amount": 20000}"#),
        (
            "stripe",
            "POST",
            "/v1/payment_intents",
            "amount=90000&currency=eur",
        ),
    ];
    let asked = decided_with_bodies("refunds over 100 EUR need a lead", PERMIT_ALL, &leads);
    assert_eq!(
        asked,
        [true, false, false],
        "the form's 900 EUR asked, not permitted"
    );
    let pages = [
        ("github", "GET", "/search/code?q=x&per_page=100", ""),
        ("github", "GET", "/search/code?q=x&per_page=101", ""),
        (
            "github",
            "GET",
            "/search/code?q=x&per_page=100&per_page=5000",
            "",
        ),
        ("github", "GET", "/search/code?q=x", ""),
    ];
    let paged = decided_with_bodies("pages of at most 100", PERMIT_ALL, &pages);
    assert_eq!(paged, [true, false, false, true]);
}

#[test]
fn every_recipe_validates() {
    let recipes = recipes();
    assert_eq!(recipes.len(), 10, "{recipes:?}");
    let dir = tempfile::tempdir().unwrap();
    for (id, block) in &recipes {
        let file = dir.path().join("recipe.cedar");
        std::fs::write(&file, block).unwrap();
        let checked = Command::new(env!("CARGO_BIN_EXE_nexus-mcp"))
            .args(["policy", "check"])
            .arg(&file)
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&checked.stderr);
        assert!(checked.status.success(), "{id}: {said}");
    }
}

#[test]
fn each_recipe_decides_as_its_name_says() {
    let platform: &[&str] = &["platform"];
    let reads = [
        ("bob", &[][..], "github", "GET", "/x"),
        ("bob", &[][..], "github", "POST", "/x"),
        ("alice", platform, "github", "POST", "/x"),
    ];
    assert_eq!(decided("everyone reads", "", &reads), [true, false, true]);
    let finance: &[&str] = &["finance"];
    let stripe = [
        ("bob", &[][..], "stripe", "GET", "/v1"),
        ("carol", finance, "stripe", "GET", "/v1"),
        ("bob", &[][..], "github", "GET", "/x"),
    ];
    assert_eq!(
        decided("stripe is finance's", PERMIT_ALL, &stripe),
        [false, true, true]
    );
    let acme = [
        ("a", &[][..], "github", "GET", "/repos/acme/x"),
        ("a", &[][..], "github", "GET", "/repos/other/x"),
        ("a", &[][..], "github", "GET", "/repos/acme/../other/x"),
    ];
    assert_eq!(
        decided("acme's repositories only", PERMIT_ALL, &acme),
        [true, false, false]
    );
    let delete = [
        ("a", &[][..], "github", "DELETE", "/x"),
        ("a", &[][..], "github", "PUT", "/x"),
    ];
    assert_eq!(decided("no DELETE", PERMIT_ALL, &delete), [false, true]);
    let barred = [
        ("mallory@example.com", &[][..], "github", "GET", "/x"),
        ("mallory@example.com", &[][..], "stripe", "GET", "/x"),
        ("bob", &[][..], "github", "GET", "/x"),
    ];
    assert_eq!(
        decided("mallory is off github", PERMIT_ALL, &barred),
        [false, true, true]
    );
    let tagged: [&[&str]; 3] = [
        &["department=finance", "mfa=true"],
        &["department=finance"],
        &["department=sales", "mfa=true"],
    ];
    let mfa = [
        ("carol", tagged[0], "stripe", "GET", "/v1"),
        ("carol", tagged[1], "stripe", "GET", "/v1"),
        ("bob", tagged[2], "stripe", "GET", "/v1"),
        ("bob", tagged[2], "github", "GET", "/x"),
    ];
    assert_eq!(
        decided("stripe needs finance and MFA", PERMIT_ALL, &mfa),
        [true, false, false, true]
    );
}

/// The groups of each provider's shape, read by `serve` with the guide's
/// flags: a person in `platform` writes, another does not.
#[test]
fn the_group_claims_of_entra_okta_and_keycloak_are_read_as_the_guide_says() {
    let recipes = recipes();
    let writes = &recipes
        .iter()
        .find(|(id, _)| id == "everyone reads")
        .unwrap()
        .1;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("team.cedar");
    std::fs::write(&file, writes).unwrap();
    let file = file.to_str().unwrap();
    let shapes: [(&[&str], Value); 4] = [
        (&["--group-claim", "roles"], json!({"roles": ["platform"]})),
        (
            &["--group-claim", "groups"],
            json!({"groups": ["platform"]}),
        ),
        (
            &["--group-claim", "groups"],
            json!({"groups": ["platform", "everyone"]}),
        ),
        (
            &["--group-claim", "realm_access.roles"],
            json!({"realm_access": {"roles": ["platform"]}}),
        ),
    ];
    for (flags, claims) in shapes {
        let (issuer, gateway, api) = fakes(&["alice", "bob"], "gho_team");
        let args = [&["--policy", file, "--allow-write"][..], flags].concat();
        let served = Served::start(&gateway, &issuer, &args);
        let token = |person: &str, claims: &Value| {
            let token = FakeToken::new(person)
                .audience(&served.resource)
                .claim("scp", json!("mcp"));
            let claims = claims.as_object().cloned().unwrap_or_default();
            issuer.mint(&claims.into_iter().fold(token, |t, (k, v)| t.claim(&k, v)))
        };
        let post = |who: &str| {
            let args =
                json!({"provider": "github", "url": format!("{}/x", api.url()), "method": "POST"});
            served.call(who, "authenticated_fetch", args).1["result"]["isError"] == json!(false)
        };
        assert!(post(&token("alice", &claims)), "{flags:?} {claims}");
        assert!(!post(&token("bob", &json!({}))), "{flags:?}");
    }
}
