//! `policy check` and `policy explain` catch the engineer's mistakes
//! (#119, 9), through the built program: a tag read before `hasTag` tests
//! it, `context.graphql` read before `context has graphql`, text compared
//! as a number and a number as text, each said at FILE:LINE:COL with its
//! fix; a URL where a path goes, its path the fix; given the provider's
//! published GraphQL schema (GitHub's and Shopify's, as they publish them),
//! a field name the schema lacks named with the nearest it has; `explain`
//! says when no permit permits and which permits there are; and `serve
//! --check` says when groups are named by name at an issuer whose groups
//! claim carries ids (Entra ID).

mod common;

use std::io::Read;
use std::process::Command;

use common::served::policy_file;
use nexus_gateway_fake::FakeIssuer;

/// `nexus-mcp policy check FILE` with `more`: whether it held, and stderr.
fn check(policy: &str, more: &[&str]) -> (Option<i32>, String, String) {
    let (_dir, file) = policy_file(policy);
    let out = Command::new(env!("CARGO_BIN_EXE_nexus-mcp"))
        .args(["policy", "check", &file])
        .args(more)
        .output()
        .expect("nexus-mcp runs");
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code(), said, file)
}

/// The one line of `said` that holds `needle`.
fn line<'a>(said: &'a str, needle: &str) -> &'a str {
    let mut found = said.lines().filter(|l| l.contains(needle));
    let first = found
        .next()
        .unwrap_or_else(|| panic!("no {needle:?}: {said}"));
    assert!(found.next().is_none(), "said once: {said}");
    first
}

const CALL: &str = r#"forbid (principal, action == Action::"call", resource) when "#;

#[test]
fn a_tag_or_graphql_read_untested_is_placed_with_the_test_to_put_before_it() {
    for (condition, at, fix) in [
        (
            r#"{ context.body.getTag("amount") == "1" };"#,
            "context",
            r#"put `context.body.hasTag("amount") &&` before `context.body.getTag("amount")`"#,
        ),
        (
            r#"{ context.query.getTag("visibility") == "public" };"#,
            "context",
            r#"put `context.query.hasTag("visibility") &&` before"#,
        ),
        (
            r#"{ 1 < 2 && context.bodyNumbers.getTag("n") > 5 };"#,
            "context",
            r#"put `context.bodyNumbers.hasTag("n") &&` before"#,
        ),
        (
            r#"{ principal.getTag("dept") == "x" };"#,
            "principal",
            r#"put `principal.hasTag("dept") &&` before"#,
        ),
        (
            r#"{ context.graphql.operation == "mutation" };"#,
            "context",
            "put `context has graphql &&` before `context.graphql.operation`",
        ),
    ] {
        let policy = format!("@id(\"mine\")\n{CALL}\n  {condition}\n");
        let (code, said, file) = check(&policy, &[]);
        assert_eq!(code, Some(2), "{said}");
        let said = line(&said, fix);
        // The column of what is read, after the line's two spaces.
        let column = 3 + condition.find(at).unwrap();
        assert!(
            said.contains(&format!("{file}:3:{column}: in \"mine\": ")),
            "{column}: {said}"
        );
    }
}

#[test]
fn text_compared_as_a_number_and_a_number_as_text_get_the_attribute_that_holds_each() {
    for (condition, fix) in [
        (
            r#"{ context.body.hasTag("amount") && context.body.getTag("amount") > 10000 };"#,
            r#"read it as context.bodyNumbers.getTag("amount"), tested by context.bodyNumbers.hasTag("amount")"#,
        ),
        (
            r#"{ context.body.hasTag("n") && context.body.getTag("n") == 3 };"#,
            r#"read it as context.bodyNumbers.getTag("n")"#,
        ),
        (
            r#"{ context.bodyNumbers.hasTag("currency") && context.bodyNumbers.getTag("currency") == "eur" };"#,
            r#"read it as context.body.getTag("currency"), tested by context.body.hasTag("currency")"#,
        ),
        (
            r#"{ context.bodyNumbers.hasTag("a") && context.bodyNumbers.getTag("a") like "1*" };"#,
            r#"read it as context.body.getTag("a")"#,
        ),
        (
            r#"{ context.query.hasTag("per_page") && context.query.getTag("per_page") == 5 };"#,
            "context.query holds each parameter as text",
        ),
    ] {
        let policy = format!("{CALL}\n  {condition}\n");
        let (code, said, file) = check(&policy, &[]);
        assert_eq!(code, Some(2), "{said}");
        let said = line(&said, fix);
        assert!(said.contains(&format!("{file}:2:")), "{said}");
        assert!(said.contains("in \"#1\""), "the policy named: {said}");
    }
}

#[test]
fn a_url_where_a_path_goes_gets_its_path() {
    for (written, fix) in [
        (r#"like "https://api.github.com/repos/*""#, r#""/repos/*""#),
        (r#"== "HTTP://api.github.com""#, r#""/""#),
        (
            r#"like "http://*.example.com/v1/*/refunds""#,
            r#""/v1/*/refunds""#,
        ),
    ] {
        let policy = format!("{CALL}{{ context.path {written} }};\n");
        let (code, said, file) = check(&policy, &[]);
        assert_eq!(code, Some(2), "{said}");
        let said = line(
            &said,
            "a path alone, from `/`; the URL's host is context.host",
        );
        assert!(said.contains(&format!("write {fix}")), "{written}: {said}");
        assert!(said.contains(&format!("{file}:1:")), "{said}");
    }
}

/// The fixture's schema of `name`, ungzipped into `dir`: its path.
fn schema(dir: &tempfile::TempDir, name: &str) -> String {
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/graphql/");
    let gz = std::fs::File::open(format!("{fixtures}{name}.graphql.gz")).expect("fixture");
    let mut sdl = String::new();
    flate2::read::GzDecoder::new(gz)
        .read_to_string(&mut sdl)
        .expect("gzip");
    let path = dir.path().join(format!("{name}.graphql"));
    std::fs::write(&path, sdl).unwrap();
    path.to_str().unwrap().to_owned()
}

const GRAPHQL: &str = r#"@id("no repository deleted")
forbid (principal, action == Action::"call", resource == Provider::"github")
  when { context has graphql && context.graphql.fields.containsAny(["deleteRepositry", "createIssue", "viewer"]) };
@id("no product deleted")
forbid (principal, action == Action::"call", resource == Provider::"shopify")
  when { context has graphql && context.graphql.fields.contains("productDelete") };
@id("no refund")
forbid (principal, action == Action::"call", resource == Provider::"Shopify")
  when { context has graphql && context.graphql.fields.containsAll(["refundCreat"]) };
@id("anywhere")
forbid (principal, action == Action::"call", resource)
  when { context has graphql && ["shop", "viewr"].containsAny(context.graphql.fields) };
"#;

#[test]
fn a_field_the_providers_published_schema_lacks_is_named_with_the_nearest_it_has() {
    let dir = tempfile::tempdir().unwrap();
    let github = format!("github={}", schema(&dir, "github"));
    let shopify = format!("shopify={}", schema(&dir, "shopify-admin-2022-07"));
    let schemas = ["--graphql-schema", &github, "--graphql-schema", &shopify];
    let (code, said, file) = check(GRAPHQL, &schemas);
    assert_eq!(code, Some(2), "{said}");
    let deleted = line(&said, "\"deleteRepositry\"");
    assert!(
        deleted.contains(&format!("{file}:3:"))
            && deleted.contains("github's (")
            && deleted.contains("the nearest it has is \"createRepository\" (mutation)"),
        "{deleted}"
    );
    let refund = line(&said, "\"refundCreat\"");
    assert!(
        refund.contains(&format!("{file}:9:"))
            && refund.contains("the nearest it has is \"refundCreate\" (mutation)"),
        "Shopify's mutation root, a provider named in another case: {refund}"
    );
    // A policy scoped to no provider names a field of any schema: "shop"
    // is Shopify's, "viewr" neither's.
    assert!(!said.contains("\"shop\","), "{said}");
    let viewr = line(&said, "\"viewr\"");
    assert!(
        viewr.contains("github's (")
            && viewr.contains("shopify's (")
            && viewr.contains("\"viewer\" (query)"),
        "{viewr}"
    );
    for known in ["\"createIssue\"", "\"viewer\",", "\"productDelete\""] {
        assert!(!said.contains(&format!("with {known}")), "{known}: {said}");
    }
    // GitHub's schema as published breaks a rule: said, and read as written.
    let note = line(&said, "a note: github's schema breaks 2 of GraphQL's rules");
    assert!(note.contains("EnterpriseOwnerInfo"), "{note}");
    // Every name known: it holds.
    let known = GRAPHQL.replace("deleteRepositry", "archiveRepository");
    let known = known
        .replace("refundCreat", "refundCreate")
        .replace("viewr", "viewer");
    let held = ["--graphql-schema", &github, "--graphql-schema", &shopify];
    let (code, said, _) = check(&known, &held);
    assert_eq!(code, Some(0), "{said}");
    // A file that is no schema.
    let (code, said, _) = check(GRAPHQL, &["--graphql-schema", "github=/dev/null"]);
    assert_eq!(code, Some(2), "{said}");
    assert!(
        said.contains("no GraphQL schema with a query root"),
        "{said}"
    );
}

#[test]
fn explain_says_when_no_permit_permits_and_which_permits_there_are() {
    let policies = r#"@id("everyone reads")
permit (principal, action == Action::"call", resource) when { context.method == "GET" };
@id("stripe refunds")
permit (principal, action == Action::"call", resource == Provider::"stripe") when { context.path == "/v1/refunds" };
@id("anyone connects")
permit (principal, action == Action::"connect", resource);
"#;
    let (_dir, file) = policy_file(policies);
    let (code, said) = explain_with(&file, "stripe");
    assert_eq!(code, Some(1), "{said}");
    assert!(said.contains("no policy permits it"), "{said}");
    assert!(
        said.contains("the permits for this provider's calls, none of which held: \"everyone reads\", \"stripe refunds\""),
        "{said}"
    );
    let (_dir, file) = policy_file(r#"permit (principal, action == Action::"connect", resource);"#);
    let out = Command::new(env!("CARGO_BIN_EXE_nexus-mcp"))
        .args([
            "policy",
            "explain",
            "--policy",
            &file,
            "--provider",
            "github",
        ])
        .args(["--person", "alice", "--url", "https://api.github.com/user"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("no permit names calls to this provider"),
        "{said}"
    );
    // A forbid that asks, on a call no permit permits: no approval could
    // permit it, so the denier is that no permit does, not the forbid; a
    // plain forbid beside it is still named.
    let asking = format!(
        "{policies}\n@id(\"charges ask\")\n@ask(\"self\")\nforbid (principal, action == \
         Action::\"call\", resource) when {{ context.path == \"/v1/charges\" }};\n"
    );
    let (_dir, file) = policy_file(&asking);
    let (_, said) = explain_with(&file, "stripe");
    assert!(
        said.starts_with("denied: POST api.stripe.com /v1/charges no policy permits it"),
        "{said}"
    );
    assert!(!said.contains("charges ask"), "{said}");
    let plain = format!(
        "{asking}@id(\"no charges\")\nforbid (principal, action == Action::\"call\", resource) \
         when {{ context.path == \"/v1/charges\" }};\n"
    );
    let (_dir, file) = policy_file(&plain);
    let (_, said) = explain_with(&file, "stripe");
    assert!(
        said.starts_with("denied: POST api.stripe.com /v1/charges by no charges"),
        "{said}"
    );
}

/// `policy explain` of a POST to PROVIDER's charges under `file`: its exit
/// code and what it prints.
fn explain_with(file: &str, provider: &str) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_nexus-mcp"))
        .args([
            "policy",
            "explain",
            "--policy",
            file,
            "--provider",
            provider,
        ])
        .args(["--person", "alice", "--method", "POST", "--url"])
        .arg(format!("https://api.{provider}.com/v1/charges"))
        .output()
        .expect("nexus-mcp runs");
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.code(), said)
}

#[test]
fn serve_check_says_groups_named_by_name_match_no_one_where_the_claim_carries_ids() {
    let tenant = "9188040d-6c67-4c5b-b112-36a304b66dad";
    let entra = FakeIssuer::start_entra(tenant);
    let gateway = nexus_gateway_fake::FakeGateway::start();
    let port = common::served::free_port();
    let callback = format!("http://127.0.0.1:{port}/connect/callback");
    entra.add_client("nexus-login", &callback);
    let checked = |policy: &str, more: &[&str]| {
        let (_dir, file) = policy_file(policy);
        let args = [
            &[
                "--oauth-proxy",
                "--login-client-id",
                "nexus-login",
                "--check",
            ][..],
            &["--subject-claim", "oid", "--policy", &file],
            more,
        ]
        .concat();
        let out = common::served::command(&gateway, &entra.url(), port, &args)
            .output()
            .expect("nexus-mcp");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let by_name = r#"permit (principal in Group::"finance", action, resource);
permit (principal in Group::"4f3c2b1a-0d9e-4c8b-a7f6-5e4d3c2b1a09", action, resource);"#;
    let said = checked(by_name, &[]);
    let note = line(
        &said,
        "Entra ID's groups claim carries each group's object id",
    );
    assert!(
        note.contains("(\"finance\")") && note.contains("--group-claim roles"),
        "only the group named by name: {note}"
    );
    // Read from app roles, or every group by its id: nothing to say.
    assert!(!checked(by_name, &["--group-claim", "roles"]).contains("carries each group's"));
    let by_id =
        r#"permit (principal in Group::"4f3c2b1a-0d9e-4c8b-a7f6-5e4d3c2b1a09", action, resource);"#;
    assert!(!checked(by_id, &[]).contains("carries each group's"));
}

#[test]
fn the_guides_github_recipe_names_fields_githubs_schema_has() {
    let guide = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/policy.md");
    let guide = std::fs::read_to_string(guide).unwrap();
    let recipe = (guide.split("```cedar").skip(1))
        .map(|block| block.split("```").next().unwrap_or_default())
        .find(|block| block.contains("context.graphql.fields"))
        .expect("the GitHub recipe");
    let dir = tempfile::tempdir().unwrap();
    let github = format!("github={}", schema(&dir, "github"));
    let (code, said, _) = check(recipe, &["--graphql-schema", &github]);
    assert_eq!(code, Some(0), "{said}");
    // A name misspelled in it is named, with the one meant.
    let misspelled = recipe.replace("archiveRepository", "archiveRepositry");
    let (code, said, _) = check(&misspelled, &["--graphql-schema", &github]);
    assert_eq!(code, Some(2), "{said}");
    assert!(
        said.contains("the nearest it has is \"archiveRepository\" (mutation)"),
        "{said}"
    );
}
