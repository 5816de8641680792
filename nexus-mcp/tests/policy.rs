//! `--policy FILE` (#88), through the built program: Cedar
//! policies over people, their groups and the requests their credentials
//! go with, decided before anything is resolved or sent. Two people in
//! different groups get different answers for the same call, a denied call
//! costs no Gateway call and no request to the API, a path spelled to walk
//! out of what a policy names is decided as it will be sent; over stdio the
//! person is `stdio`; a file that does not validate refuses the start and
//! fails `nexus-mcp policy check`, naming its line and column.

mod common;

use std::process::Command;

use common::served::{Served, command, fakes, free_port, policy_file, wait_until, workspace_of};
use common::{Session, is_error, text};
use nexus_gateway_fake::{FakeGateway, FakeIssuer, FakeProvider, FakeToken, FakeUpstream};
use serde_json::json;

const TEAM: &str = r#"@id("everyone reads")
permit (principal, action == Action::"call", resource) when { context.method == "GET" };
@id("platform writes")
permit (principal in Group::"platform", action == Action::"call", resource);
@id("no DELETE for anyone")
forbid (principal, action == Action::"call", resource) when { context.method == "DELETE" };
@id("never the admin API")
forbid (principal, action == Action::"call", resource) when { context.path like "/admin/*" };
"#;

/// [`TEAM`] turned round: everyone reads, and Bob alone writes.
const TURNED: &str = r#"permit (principal, action == Action::"call", resource) when { context.method == "GET" };
permit (principal == Person::"bob", action, resource);
"#;

/// `serve` with [`TEAM`]'s policies (in the file it names), writes allowed.
fn team(gateway: &FakeGateway, issuer: &FakeIssuer) -> (tempfile::TempDir, String, Served) {
    let (dir, file) = policy_file(TEAM);
    let served = Served::start(gateway, issuer, &["--policy", &file, "--allow-write"]);
    (dir, file, served)
}

/// A token of `served`'s for `person`, in `groups`.
fn in_groups(
    issuer: &FakeIssuer,
    served: &Served,
    person: &str,
    groups: serde_json::Value,
) -> String {
    let token = FakeToken::new(person).audience(&served.resource);
    issuer.mint(&token.claim("groups", groups))
}

#[test]
fn two_people_in_different_groups_get_different_answers_and_a_denied_call_costs_nothing() {
    let (issuer, gateway, api) = fakes(&["alice", "bob"], "gho_team");
    let (_dir, _, served) = team(&gateway, &issuer);
    let token = |person: &str, groups| in_groups(&issuer, &served, person, groups);
    let (alice, bob) = (token("alice", json!(["platform"])), token("bob", json!([])));
    let fetch = |who: &str, method: &str, path: &str| {
        let url = format!("{}{path}", api.url());
        let args = json!({"provider": "github", "url": url, "method": method});
        served.call(who, "authenticated_fetch", args).1["result"].clone()
    };
    let sent = || api.request_count();
    let resolves = |person: &str| gateway.resolves(&workspace_of(&issuer.url(), person), "github");
    assert!(!is_error(&fetch(&alice, "GET", "/repos")) && !is_error(&fetch(&bob, "GET", "/repos")));
    assert!(
        !is_error(&fetch(&alice, "POST", "/repos")),
        "platform writes"
    );
    let (before, bobs) = (sent(), resolves("bob"));
    let denied = fetch(&bob, "POST", "/repos");
    assert!(
        is_error(&denied) && text(&denied).contains("policy does not let"),
        "{denied}"
    );
    assert_eq!(
        (sent(), resolves("bob")),
        (before, bobs),
        "no Gateway call, no request"
    );
    let said = served.said_once(|said| said.contains("policy: denied"));
    assert!(
        said.contains("no policy permits it") && said.contains("POST"),
        "{said}"
    );
    // A forbid wins; a path spelled to walk out of what it names does not.
    for (method, path) in [
        ("DELETE", "/repos/x"),
        ("GET", "/repos/../admin/users"),
        ("GET", "/%61dmin/users"),
    ] {
        let denied = fetch(&alice, method, path);
        assert!(is_error(&denied), "{method} {path}: {denied}");
    }
    assert_eq!(sent(), before, "nothing sent for any of them");
    let said = served.said_once(|said| said.contains("never the admin API"));
    assert!(
        said.contains("no DELETE for anyone") && said.contains("/admin/users"),
        "{said}"
    );
    assert!(
        !said.contains("alice") && !said.contains("bob"),
        "a subject in the log: {said}"
    );
}

#[test]
fn over_stdio_the_person_is_stdio() {
    let gateway = FakeGateway::start();
    let api = FakeUpstream::start();
    gateway.add_provider(
        "ws-1",
        "github",
        FakeProvider::oauth2("gho_x").api_base_url(&api.url()),
    );
    let (_dir, file) = policy_file(
        "permit (principal == Person::\"stdio\", action == Action::\"call\", resource == Provider::\"github\")\n  when { context.path like \"/public/*\" };\n",
    );
    let mut session = Session::start(&gateway, &["--policy", &file]);
    let fetch = |session: &mut Session, path: &str| {
        let url = format!("{}{path}", api.url());
        session.call(
            json!({"name": "authenticated_fetch", "arguments": {"provider": "github", "url": url}}),
        )
    };
    assert!(!is_error(&fetch(&mut session, "/public/a")));
    let denied = fetch(&mut session, "/private/a");
    assert!(
        is_error(&denied) && text(&denied).contains("policy"),
        "{denied}"
    );
    assert_eq!(api.request_count(), 1, "the denied call sent nothing");
}

#[test]
fn a_file_that_does_not_validate_refuses_the_start_and_the_check_naming_line_and_column() {
    let gateway = FakeGateway::start();
    let (_dir, file) = policy_file(
        "permit (principal, action, resource);\nforbid (principal, action, resource)\n  when { context.colour == \"red\" };\npermit (principal, action, resource) when { context.size > 2 };\n",
    );
    let program = || Command::new(env!("CARGO_BIN_EXE_nexus-mcp"));
    let checked = program().args(["policy", "check", &file]).output().unwrap();
    let said = String::from_utf8_lossy(&checked.stderr);
    assert_eq!(checked.status.code(), Some(2), "{said}");
    assert!(
        said.contains(&format!("{file}:3:")) && said.contains("colour"),
        "{said}"
    );
    let started = common::server(&gateway, &["--policy", &file])
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&started.stderr);
    assert!(
        !started.status.success() && said.contains(&format!("{file}:3:")),
        "{said}"
    );
    // `serve --check`: one failing check among the others, which still run
    // (here, a Gateway that refuses this server's key).
    let issuer = nexus_gateway_fake::FakeIssuer::start();
    gateway.require_api_key("sk_right");
    let checking = |file: &str| {
        let args = ["--policy", file, "--check"];
        let out = command(&gateway, &issuer.url(), free_port(), &args).output();
        let out = out.unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, said) = checking(&file);
    for at in [3, 4] {
        let line = said.lines().find(|l| l.contains(&format!("{file}:{at}:")));
        assert!(
            code == Some(2) && line.is_some_and(|l| l.starts_with("nexus-mcp serve --check: ")),
            "each error its own line, naming the file: {said}"
        );
    }
    assert!(said.contains("the Gateway"), "the other checks ran: {said}");
    let (_good, good) = policy_file(TEAM);
    let (code, said) = checking(&good);
    assert!(code == Some(2) && !said.contains("--policy"), "{said}");
    let checked = program().args(["policy", "check", &good]).output().unwrap();
    assert!(
        checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stderr)
    );
    let schema = program().args(["policy", "schema"]).output().unwrap();
    let schema = String::from_utf8_lossy(&schema.stdout);
    for name in [
        "entity Person in [Group]",
        "action \"call\"",
        "action \"connect\"",
        "action \"list\"",
        "path: String",
    ] {
        assert!(schema.contains(name), "{name}: {schema}");
    }
}

/// `Action::"connect"`: a person not permitted a provider is not sent a
/// consent link for it; one permitted is.
#[test]
fn a_person_not_permitted_to_connect_a_provider_is_sent_no_link() {
    let (issuer, gateway, api) = fakes(&[], "gho_someone_else");
    let (_dir, file) = policy_file(
        "permit (principal, action == Action::\"call\", resource);\n\
         permit (principal in Group::\"platform\", action == Action::\"connect\", resource);\n",
    );
    let port = free_port();
    issuer.add_client(
        "nexus-login",
        &format!("http://127.0.0.1:{port}/connect/callback"),
    );
    let args = [
        "--connect",
        "github",
        "--login-client-id",
        "nexus-login",
        "--policy",
        &file,
    ];
    let served = Served::ready(
        command(&gateway, &issuer.url(), port, &args)
            .spawn()
            .unwrap(),
        port,
    );
    let token = |person: &str, groups: serde_json::Value| {
        issuer.mint(
            &FakeToken::new(person)
                .audience(&served.resource)
                .claim("groups", groups),
        )
    };
    let url = format!("{}/user", api.url());
    let fetch = |who: &str| {
        let args = json!({"provider": "github", "url": url});
        served.call(who, "authenticated_fetch", args).1["result"].clone()
    };
    let link = format!("{}/connect/", served.origin);
    let alices = fetch(&token("alice", json!(["platform"])));
    assert!(
        is_error(&alices) && text(&alices).contains(&link),
        "{alices}"
    );
    let bobs = fetch(&token("bob", json!([])));
    assert!(is_error(&bobs) && !text(&bobs).contains(&link), "{bobs}");
    // Told why, in words of its own: the policy, not a missing connection.
    assert!(
        text(&bobs).starts_with("policy_denied")
            && text(&bobs).contains("policy does not let this person connect"),
        "{bobs}"
    );
    served.said_once(|said| said.contains("policy: connect denied"));
}

/// SIGHUP reads the file again: a good one changes the decisions, one that
/// does not validate keeps the policies held, its line and column said.
#[test]
fn sighup_reads_the_policies_again_and_a_broken_file_keeps_those_held() {
    let (issuer, gateway, api) = fakes(&["bob"], "gho_bob");
    let (dir, file) = policy_file(TEAM);
    let served = Served::start(&gateway, &issuer, &["--policy", &file, "--allow-write"]);
    let bob = issuer.mint(&FakeToken::new("bob").audience(&served.resource));
    let post = || {
        let args =
            json!({"provider": "github", "url": format!("{}/repos", api.url()), "method": "POST"});
        is_error(&served.call(&bob, "authenticated_fetch", args).1["result"])
    };
    let hangup = || {
        let sent = Command::new("kill")
            .args(["-HUP", &served.pid().to_string()])
            .status();
        assert!(sent.unwrap().success());
    };
    assert!(post(), "bob does not write");
    std::fs::write(
        &file,
        "permit (principal, action == Action::\"call\", resource);\n",
    )
    .unwrap();
    hangup();
    served.said_once(|said| said.contains("SIGHUP: --policy holds 1 policies"));
    assert!(!post(), "the new policy lets bob write");
    std::fs::write(
        &file,
        "permit (principal, action, resource)\n  when { context.colour };\n",
    )
    .unwrap();
    hangup();
    let said = served.said_once(|said| said.contains("the policies held stay"));
    assert!(said.contains(&format!("{file}:2:")), "{said}");
    assert!(!post(), "the policies held still let bob write");
    drop(dir);
}

/// `nexus_mcp_policy_decisions_total` counts each decision by outcome: a
/// call, and a provider listed or not.
#[test]
fn the_metrics_count_each_decision_by_its_outcome() {
    let (issuer, gateway, api) = fakes(&["bob"], "gho_bob");
    let (_dir, file) = policy_file(TEAM);
    let metrics = format!("127.0.0.1:{}", free_port());
    let args = [
        "--policy",
        &file,
        "--allow-write",
        "--metrics-listen",
        &metrics,
    ];
    let served = Served::start(&gateway, &issuer, &args);
    let bob = in_groups(&issuer, &served, "bob", json!([]));
    for method in ["GET", "POST", "POST"] {
        let args =
            json!({"provider": "github", "url": format!("{}/repos", api.url()), "method": method});
        served.call(&bob, "authenticated_fetch", args);
    }
    served.call(&bob, "list_providers", json!({}));
    let (status, _, text) = Served::get_url(&format!("http://{metrics}/metrics"));
    let text = text.as_str().unwrap_or_default().to_owned();
    let counted = |outcome: &str| {
        let series = format!("nexus_mcp_policy_decisions_total{{outcome=\"{outcome}\"}} ");
        let line = text.lines().find_map(|l| l.strip_prefix(series.as_str()));
        line.and_then(|n| n.trim().parse::<f64>().ok())
    };
    assert_eq!(status, 200, "{text}");
    // The GET; the two POSTs; github not listable (TEAM permits calls alone).
    assert_eq!(
        (counted("permitted"), counted("denied")),
        (Some(1.0), Some(3.0)),
        "{text}"
    );
}

/// SIGHUP under steady calls from two people: every call is decided by the
/// policies held before or by the new ones whole, none fails for any other
/// reason, and each call made once the new ones are said to hold is decided
/// by them.
#[test]
fn new_policies_under_steady_calls_change_decisions_and_fail_no_call() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let (issuer, gateway, api) = fakes(&["alice", "bob"], "gho_team");
    let (_dir, file, served) = team(&gateway, &issuer);
    let token = |person: &str, groups| in_groups(&issuer, &served, person, groups);
    // Alice (platform) writes under TEAM, Bob does not; the new file turns it round.
    let people = [
        (token("alice", json!(["platform"])), (true, false)),
        (token("bob", json!([])), (false, true)),
    ];
    let (swapped, calls_before) = (AtomicBool::new(false), AtomicUsize::new(0));
    let steady = |bearer: &str, (before, after): (bool, bool)| -> Result<usize, String> {
        let args =
            json!({"provider": "github", "url": format!("{}/repos", api.url()), "method": "POST"});
        let (mut made, mut after_said) = (0, 0);
        while after_said < 5 {
            let said = swapped.load(Ordering::SeqCst);
            let result =
                served.call(bearer, "authenticated_fetch", args.clone()).1["result"].clone();
            let permitted = match text(&result) {
                t if t.starts_with("HTTP 200") => true,
                t if is_error(&result) && t.contains("policy does not let") => false,
                _ => return Err(format!("a call failed otherwise: {result}")),
            };
            // Before the new ones are said to hold, either may decide.
            let as_it_should = permitted == after || (!said && permitted == before);
            if !as_it_should {
                return Err(format!(
                    "decided by neither as it should be (said: {said}): {result}"
                ));
            }
            (made, after_said) = (made + 1, after_said + usize::from(said));
            calls_before.fetch_add(usize::from(!said), Ordering::SeqCst);
            if made > 10_000 {
                return Err("the new policies never held".into());
            }
        }
        Ok(made)
    };
    let made = std::thread::scope(|scope| {
        let running: Vec<_> = (people.iter())
            .map(|(bearer, expected)| scope.spawn(|| steady(bearer, *expected)))
            .collect();
        // Both are calling under the policies held first, then the file changes.
        wait_until(|| calls_before.load(Ordering::SeqCst) >= 20);
        std::fs::write(&file, TURNED).unwrap();
        let sent = Command::new("kill")
            .args(["-HUP", &served.pid().to_string()])
            .status();
        assert!(sent.unwrap().success());
        served.said_once(|said| said.contains("SIGHUP: --policy holds 2 policies"));
        swapped.store(true, Ordering::SeqCst);
        running
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect::<Vec<_>>()
    });
    for made in made {
        assert!(made.unwrap_or_else(|why| panic!("{why}")) > 5);
    }
}

/// What else a policy reads: each claim `--policy-claim` names, as a tag
/// of the person (a string, a number or a boolean, as text), and the name
/// the MCP client gives (`context.client`); `policy explain` takes both.
#[test]
fn a_policy_reads_the_claims_it_is_given_as_tags_and_the_clients_name() {
    let (issuer, gateway, api) = fakes(&["alice"], "gho_team");
    let (_dir, file) = policy_file(
        r#"@id("finance, signed in with mfa")
permit (principal, action == Action::"call", resource)
  when { principal.hasTag("department") && principal.getTag("department") == "finance"
    && principal.hasTag("mfa") && principal.getTag("mfa") == "true" };
@id("level 1 not through served-test")
forbid (principal, action, resource)
  when { context.client == "served-test" && principal.hasTag("level") && principal.getTag("level") == "1" };
"#,
    );
    let claims = ["department", "mfa", "level"].map(|c| ["--policy-claim", c]);
    let served = Served::start(
        &gateway,
        &issuer,
        &[&["--policy", &file][..], &claims.concat()].concat(),
    );
    let fetched = |claims: serde_json::Value| {
        let mut token = FakeToken::new("alice").audience(&served.resource);
        for (name, value) in claims.as_object().unwrap() {
            token = token.claim(name, value.clone());
        }
        let args = json!({"provider": "github", "url": format!("{}/repos", api.url())});
        !is_error(
            &served
                .call(&issuer.mint(&token), "authenticated_fetch", args)
                .1["result"],
        )
    };
    assert!(fetched(json!({"department": "finance", "mfa": true})));
    assert!(!fetched(json!({"department": "sales", "mfa": true})));
    assert!(
        !fetched(json!({"department": "finance"})),
        "no mfa claim, no tag"
    );
    assert!(
        !fetched(json!({"department": ["finance"], "mfa": true})),
        "a list is no tag"
    );
    assert!(
        !fetched(json!({"department": "finance", "mfa": true, "level": 1})),
        "served-test"
    );
    let explain = |more: &[&str]| {
        let args = [
            "policy",
            "explain",
            "--policy",
            &file,
            "--provider",
            "github",
            "--person",
            "alice",
            "--url",
            "https://api.github.com/x",
        ];
        let out = Command::new(env!("CARGO_BIN_EXE_nexus-mcp"))
            .args(args)
            .args(more)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let tags = [
        "--tag",
        "department=finance",
        "--tag",
        "mfa=true",
        "--tag",
        "level=1",
    ];
    let (code, said) = explain(&tags);
    assert!(
        code == Some(0) && said.contains("finance, signed in with mfa"),
        "{said}"
    );
    let (code, said) = explain(&[&tags[..], &["--client", "served-test"]].concat());
    assert!(
        code == Some(1) && said.contains("level 1 not through served-test"),
        "{said}"
    );
}

/// `nexus-mcp policy explain`: the decision and the policies that made it,
/// on the URL as it would be sent.
#[test]
fn explain_says_the_decision_and_the_policies_that_made_it() {
    let (_dir, file) = policy_file(TEAM);
    let explain = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_nexus-mcp"))
            .args([
                "policy",
                "explain",
                "--policy",
                &file,
                "--person",
                "alice",
                "--provider",
                "github",
            ])
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, said) = explain(&["--url", "https://api.github.com/repos"]);
    assert_eq!(
        (code, said.trim()),
        (
            Some(0),
            "permitted: GET api.github.com /repos by everyone reads"
        )
    );
    let (code, said) = explain(&["--method", "post", "--url", "https://api.github.com/repos"]);
    assert_eq!(
        (code, said.trim()),
        (
            Some(1),
            "denied: POST api.github.com /repos no policy permits it\n  (what no permit \
             permits is denied; the permits for this provider's calls, none of which held: \
             \"everyone reads\", \"platform writes\")"
        )
    );
    let walk = [
        "--group",
        "platform",
        "--url",
        "https://API.github.com/x/../%61dmin/users?q=1",
    ];
    let (code, said) = explain(&walk);
    assert_eq!(
        (code, said.trim()),
        (
            Some(1),
            "denied: GET api.github.com /admin/users by never the admin API"
        )
    );
}

/// `Action::"list"`: each person's listing holds the providers they are
/// permitted to list.
#[test]
fn each_person_lists_what_they_are_permitted_to_list() {
    let (issuer, gateway, api) = fakes(&["alice", "bob"], "gho_team");
    for person in ["alice", "bob"] {
        let stripe = FakeProvider::oauth2("sk_team").api_base_url(&api.url());
        gateway.add_provider(&workspace_of(&issuer.url(), person), "stripe", stripe);
    }
    let (_dir, file) = policy_file(
        "permit (principal, action == Action::\"list\", resource == Provider::\"github\");\n\
         permit (principal in Group::\"finance\", action, resource == Provider::\"stripe\");\n",
    );
    let served = Served::start(&gateway, &issuer, &["--policy", &file]);
    let listed = |person: &str, groups: serde_json::Value| {
        let token = FakeToken::new(person)
            .audience(&served.resource)
            .claim("groups", groups);
        let answer = served
            .call(&issuer.mint(&token), "list_providers", json!({}))
            .1;
        text(&answer["result"])
    };
    let alices = listed("alice", json!(["finance"]));
    assert!(
        alices.contains("github") && alices.contains("stripe"),
        "{alices}"
    );
    let bobs = listed("bob", json!([]));
    assert!(
        bobs.contains("github") && !bobs.contains("stripe"),
        "{bobs}"
    );
    // The tools' schema names the same providers, in a listing that is
    // each person's own (2026-07-28's `cacheScope`).
    let tools = |person: &str, groups: serde_json::Value| {
        let token = FakeToken::new(person).audience(&served.resource);
        let bearer = format!("Bearer {}", issuer.mint(&token.claim("groups", groups)));
        let headers = [
            ("Authorization", bearer.as_str()),
            ("MCP-Protocol-Version", "2026-07-28"),
            ("Mcp-Method", "tools/list"),
        ];
        let meta = json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "1"},
            "io.modelcontextprotocol/clientCapabilities": {}});
        let asked = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list",
            "params": {"_meta": meta}});
        served.post(&headers, &asked).2["result"].clone()
    };
    for (person, groups, offered) in [
        ("alice", json!(["finance"]), json!(["github", "stripe"])),
        ("bob", json!([]), json!(["github"])),
    ] {
        let listed = tools(person, groups);
        let fetch = &listed["tools"][0];
        assert_eq!(fetch["name"], "authenticated_fetch", "{listed}");
        assert_eq!(
            fetch["inputSchema"]["properties"]["provider"]["enum"], offered,
            "{listed}"
        );
        assert_eq!(listed["cacheScope"], "private", "{listed}");
    }
}
