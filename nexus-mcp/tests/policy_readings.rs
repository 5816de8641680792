//! `--policy` decides what the API will act on, not the request line
//! alone: a call carrying a method-override header or a `_method`
//! parameter is decided for each method it may be read as, and a path
//! that servers and proxies read two ways (an encoded `/` or `\`, a `;`
//! path parameter) is refused, naming its segment, where a policy names
//! paths; through a real nginx in front of the API too. Each refusal
//! sends nothing and has a code of its own (`policy_denied`).

mod common;

use common::served::{Served, fakes};
use common::{is_error, text};
use nexus_gateway_fake::FakeUpstream;
use serde_json::{Value, json};

/// Everyone may call; nobody deletes; at github, only acme's repositories.
const ACME_ONLY: &str = r#"permit (principal, action == Action::"call", resource);
@id("no DELETE")
forbid (principal, action == Action::"call", resource) when { context.method == "DELETE" };
@id("acme only")
forbid (principal, action == Action::"call", resource == Provider::"github")
  unless { context.path like "/repos/acme/*" };
"#;

/// `serve` with [`ACME_ONLY`] (writes allowed), and a policy file's home.
fn acme_only(
    gateway: &nexus_gateway_fake::FakeGateway,
    issuer: &nexus_gateway_fake::FakeIssuer,
) -> (tempfile::TempDir, Served) {
    let (dir, file) = common::served::policy_file(ACME_ONLY);
    let args = ["--policy", &file, "--allow-write"];
    (dir, Served::start(gateway, issuer, &args))
}

/// A tool call's result: `arguments` for `authenticated_fetch`.
fn fetched(served: &Served, token: &str, arguments: Value) -> Value {
    served.call(token, "authenticated_fetch", arguments).1["result"].clone()
}

#[test]
fn a_call_is_decided_as_every_method_an_override_header_or_parameter_names() {
    let (issuer, gateway, api) = fakes(&["alice"], "gho_team");
    let (_dir, served) = acme_only(&gateway, &issuer);
    let alice = common::served::token(&issuer, &served, "alice");
    let url = format!("{}/repos/acme/x", api.url());
    let allowed = fetched(
        &served,
        &alice,
        json!({"provider": "github", "url": url, "method": "POST"}),
    );
    assert!(!is_error(&allowed), "{allowed}");
    let before = api.request_count();
    let mut asked = Vec::new();
    for header in [
        "X-HTTP-Method-Override",
        "x-http-method",
        "X-Method-Override",
    ] {
        asked.push(json!({"provider": "github", "url": url, "method": "POST",
                          "headers": {header: "delete"}}));
    }
    let with_query = format!("{url}?_method=DELETE");
    asked.push(json!({"provider": "github", "url": with_query, "method": "POST"}));
    asked.push(json!({"provider": "github", "url": url, "method": "POST",
                      "body": "title=x&_method=DELETE",
                      "headers": {"Content-Type": "application/x-www-form-urlencoded"}}));
    asked.push(json!({"provider": "github", "url": url, "method": "POST",
                      "body": "{\"_method\": \"delete\"}",
                      "headers": {"Content-Type": "application/json"}}));
    for arguments in asked {
        let denied = fetched(&served, &alice, arguments.clone());
        assert!(
            is_error(&denied) && text(&denied).starts_with("policy_denied"),
            "{arguments}: {denied}"
        );
    }
    assert_eq!(api.request_count(), before, "nothing sent for any of them");
    let said = served.said_once(|said| said.contains("by no DELETE"));
    assert!(
        said.contains("DELETE") && said.contains("/repos/acme/x"),
        "{said}"
    );
}

#[test]
fn a_call_is_decided_as_each_value_an_override_list_or_a_multipart_field_names() {
    let (issuer, gateway, api) = fakes(&["alice"], "gho_team");
    let (_dir, served) = acme_only(&gateway, &issuer);
    let alice = common::served::token(&issuer, &served, "alice");
    let url = format!("{}/repos/acme/x", api.url());
    let post = |headers: Value, body: &str| json!({"provider": "github", "url": url, "method": "POST", "headers": headers, "body": body});
    let part = |name: &str, value: &str| {
        format!("--b0\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
    };
    let multipart = format!(
        "{}{}--b0--\r\n",
        part("title", "x"),
        part("_method", "delete")
    );
    let before = api.request_count();
    for arguments in [
        post(json!({"X-HTTP-Method-Override": "DELETE, POST"}), ""),
        post(json!({"X-Method-Override": "post,delete"}), ""),
        post(json!({"X-HTTP-Method": "POST DELETE"}), ""),
        post(
            json!({"Content-Type": "multipart/form-data; boundary=b0"}),
            &multipart,
        ),
        post(
            json!({"Content-Type": "multipart/mixed; boundary=\"b0\""}),
            &multipart,
        ),
        post(
            json!({"Content-Type": "application/json"}),
            r#"{"_method": "GET", "_method": "DELETE"}"#,
        ),
    ] {
        let denied = fetched(&served, &alice, arguments.clone());
        assert!(
            is_error(&denied) && text(&denied).starts_with("policy_denied"),
            "{arguments}: {denied}"
        );
    }
    // A multipart body that does not read to its end: its method unknown.
    let cut = &multipart[..multipart.len() - 9];
    let typed = json!({"Content-Type": "multipart/form-data; boundary=b0"});
    let unread = fetched(&served, &alice, post(typed, cut));
    assert!(
        is_error(&unread) && text(&unread).contains("multipart body cannot be read"),
        "{unread}"
    );
    assert_eq!(api.request_count(), before, "nothing sent for any of them");
    // The same multipart body naming POST is sent.
    let posted = format!("{}--b0--\r\n", part("_method", "POST"));
    let typed = json!({"Content-Type": "multipart/form-data; boundary=b0"});
    let sent = fetched(&served, &alice, post(typed, &posted));
    assert!(!is_error(&sent), "{sent}");
    assert_eq!(api.request_count(), before + 1);
}

#[test]
fn under_a_policy_that_reads_no_method_a_call_is_not_read_for_one() {
    // Only acme's repositories, whatever the method: no policy reads it.
    let paths_only = r#"permit (principal, action == Action::"call", resource)
  when { context.path like "/repos/acme/*" };"#;
    let (issuer, gateway, api) = fakes(&["alice"], "gho_team");
    let (_dir, file) = common::served::policy_file(paths_only);
    let served = Served::start(&gateway, &issuer, &["--policy", &file, "--allow-write"]);
    let alice = common::served::token(&issuer, &served, "alice");
    let url = format!("{}/repos/acme/x", api.url());
    // A multipart body that does not read to its end is not read at all
    // (under a policy reading methods it is refused, its method unknown).
    let cut = "--b0\r\nContent-Disposition: form-data; name=\"_method\"\r\n\r\nDEL";
    let typed = json!({"Content-Type": "multipart/form-data; boundary=b0"});
    let post =
        json!({"provider": "github", "url": url, "method": "POST", "headers": typed, "body": cut});
    let sent = fetched(&served, &alice, post);
    assert!(!is_error(&sent), "{sent}");
    assert_eq!(api.request_count(), 1);
    // The path is still decided.
    let elsewhere = format!("{}/repos/other/x", api.url());
    let denied = fetched(
        &served,
        &alice,
        json!({"provider": "github", "url": elsewhere}),
    );
    assert!(text(&denied).starts_with("policy_denied"), "{denied}");
    assert_eq!(api.request_count(), 1);
}

#[test]
fn read_only_a_method_parameter_is_refused_as_an_override_header_is() {
    let (issuer, gateway, api) = fakes(&["alice"], "gho_team");
    let served = Served::start(&gateway, &issuer, &[]);
    let alice = common::served::token(&issuer, &served, "alice");
    let url = format!("{}/repos/acme/x?_method=DELETE", api.url());
    let refused = fetched(&served, &alice, json!({"provider": "github", "url": url}));
    assert!(
        is_error(&refused)
            && text(&refused).starts_with("read_only")
            && text(&refused).contains("_method"),
        "{refused}"
    );
    assert_eq!(api.request_count(), 0);
}

/// Every form of a path that one server reads as inside `/repos/acme/` and
/// another as outside it.
const TWO_WAYS: [(&str, &str); 5] = [
    ("/repos/acme/..%2Fother/x", "..%2Fother"),
    ("/repos/acme/..%2fother/x", "..%2Fother"),
    ("/repos/acme/..%5Cother/x", "..%5Cother"),
    ("/repos/acme/..;/other/x", "..;"),
    ("/repos/acme/x;/..;/..;/other/y", "x;"),
];

#[test]
#[ignore = "needs nginx (NEXUS_NGINX; .ci/run installs it)"]
fn a_path_read_two_ways_is_refused_naming_its_segment_through_nginx_in_front_of_the_api() {
    let (issuer, gateway, api) = fakes(&["alice"], "gho_team");
    // nginx in front of the API, as a team puts it: it decodes the path.
    let port = common::served::free_port();
    let api_port: u16 = api.url().rsplit(':').next().unwrap().parse().unwrap();
    let _nginx = common::nginx::Nginx::in_front_of_api(port, &[api_port]);
    let front = format!("http://127.0.0.1:{port}");
    let github = nexus_gateway_fake::FakeProvider::oauth2("gho_team").api_base_url(&front);
    let workspace = common::served::workspace_of(&issuer.url(), "alice");
    gateway.add_provider(&workspace, "github", github);
    let (_dir, served) = acme_only(&gateway, &issuer);
    let alice = common::served::token(&issuer, &served, "alice");
    let allowed = fetched(
        &served,
        &alice,
        json!({"provider": "github", "url": format!("{front}/repos/acme/x")}),
    );
    assert!(!is_error(&allowed), "{allowed}");
    let before = api.requests().len();
    for (path, segment) in TWO_WAYS {
        let url = format!("{front}{path}");
        let denied = fetched(&served, &alice, json!({"provider": "github", "url": url}));
        let told = text(&denied);
        assert!(
            is_error(&denied) && told.starts_with("policy_denied"),
            "{path}: {denied}"
        );
        assert!(
            told.contains(&format!("{segment:?}")),
            "{path} names {segment}: {told}"
        );
    }
    let reached: Vec<String> = api.requests()[before..]
        .iter()
        .map(|r| r.path.clone())
        .collect();
    assert!(reached.is_empty(), "the API read {reached:?}");
}

#[test]
fn where_no_policy_names_paths_an_encoded_slash_is_sent_as_written() {
    let (issuer, gateway, api) = fakes(&["alice"], "gho_team");
    let reads = r#"permit (principal, action == Action::"call", resource) when { context.method == "GET" };"#;
    let (_dir, file) = common::served::policy_file(reads);
    let served = Served::start(&gateway, &issuer, &["--policy", &file]);
    let alice = common::served::token(&issuer, &served, "alice");
    // GitLab names a project by its path, its slash encoded.
    let url = format!("{}/api/v4/projects/group%2Fproject", api.url());
    let sent = fetched(&served, &alice, json!({"provider": "github", "url": url}));
    assert!(!is_error(&sent), "{sent}");
    let last = api.last_request().expect("sent");
    assert_eq!(last.path, "/api/v4/projects/group%2Fproject");
}

/// A redirect the SDK would follow with the credential is a call of its
/// own: one to a denied path ends the call with the policy's refusal and
/// nothing is sent past the hop; one to a permitted path is followed.
#[test]
fn a_redirect_to_a_denied_path_ends_the_call_and_sends_nothing_past_the_hop() {
    use nexus_gateway_fake::FakeReply;
    let (issuer, gateway, api) = fakes(&["alice"], "gho_team");
    let (_dir, served) = acme_only(&gateway, &issuer);
    let alice = common::served::token(&issuer, &served, "alice");
    let moved = |status: u16, to: &str| FakeReply::new(status).header("Location", to);
    api.set_reply("/repos/acme/moved", moved(302, "/repos/other/secret"));
    api.set_reply("/repos/acme/put", moved(307, "/repos/other/x"));
    api.set_reply("/repos/acme/old", moved(301, "/repos/acme/new"));
    api.set_reply(
        "/repos/acme/gone",
        moved(308, "/repos/acme/x/../../other/y"),
    );
    for (method, path) in [
        ("GET", "/repos/acme/moved"),
        ("PUT", "/repos/acme/put"),
        ("POST", "/repos/acme/gone"),
    ] {
        let before = api.requests().len();
        let url = format!("{}{path}", api.url());
        let denied = fetched(
            &served,
            &alice,
            json!({"provider": "github", "url": url, "method": method}),
        );
        assert!(
            is_error(&denied) && text(&denied).contains("policy_denied"),
            "{method} {path}: {denied}"
        );
        let reached: Vec<String> = api.requests()[before..]
            .iter()
            .map(|r| r.path.clone())
            .collect();
        assert_eq!(reached, [path], "{method} {path}: nothing past the hop");
    }
    let said = served.said_once(|said| said.contains("/repos/other/x"));
    assert!(
        said.contains("PUT") && said.contains("by acme only"),
        "{said}"
    );
    let url = format!("{}/repos/acme/old", api.url());
    let followed = fetched(&served, &alice, json!({"provider": "github", "url": url}));
    assert!(!is_error(&followed), "{followed}");
    assert_eq!(
        api.last_request().map(|r| r.path),
        Some("/repos/acme/new".to_owned())
    );
}

/// A redirect off the provider's origin, the credential left behind, is a
/// call of its own too: a `forbid` on `context.host` is asked about it
/// (here of an origin the operator trusts past the public-address rule),
/// and nothing is sent there when it forbids.
#[test]
fn a_redirect_to_another_host_is_decided_as_a_call_of_its_own() {
    use nexus_gateway_fake::FakeReply;
    let (issuer, gateway, api) = fakes(&["alice"], "gho_team");
    let inside = FakeUpstream::start_on("127.0.0.2:0").expect("127.0.0.2 is loopback too");
    inside.set_reply("/x", FakeReply::new(200).body("inside"));
    let policy = r#"permit (principal, action == Action::"call", resource);
@id("not inside")
forbid (principal, action == Action::"call", resource) when { context.host == "127.0.0.2" };
"#;
    let (_dir, file) = common::served::policy_file(policy);
    let trusted = inside.url();
    let args = ["--policy", &file, "--redirect-origin", &trusted];
    let served = Served::start(&gateway, &issuer, &args);
    let alice = common::served::token(&issuer, &served, "alice");
    let to = format!("{}/x", inside.url());
    api.set_reply("/moved", FakeReply::new(302).header("Location", &to));
    let url = format!("{}/moved", api.url());
    let denied = fetched(&served, &alice, json!({"provider": "github", "url": url}));
    assert!(
        is_error(&denied) && text(&denied).starts_with("policy_denied"),
        "{denied}"
    );
    assert_eq!(inside.request_count(), 0, "nothing sent past the hop");
    served.said_once(|said| said.contains("127.0.0.2") && said.contains("by not inside"));
}

/// A path with empty segments is decided as written and as routers that
/// squeeze repeated slashes route it (GitHub's among them): a rule on
/// `/repos/acme/*` holds for `/repos//acme/x`; what is permitted is sent
/// as written.
#[test]
fn a_path_with_empty_segments_is_decided_as_written_and_as_routed() {
    let (issuer, gateway, api) = fakes(&["alice"], "gho_team");
    let policy = r#"permit (principal, action == Action::"call", resource);
@id("acme is closed")
forbid (principal, action == Action::"call", resource == Provider::"github")
  when { context.path like "/repos/acme/*" };
"#;
    let (_dir, file) = common::served::policy_file(policy);
    let served = Served::start(&gateway, &issuer, &["--policy", &file]);
    let alice = common::served::token(&issuer, &served, "alice");
    let before = api.request_count();
    for path in ["/repos//acme/x", "//repos/acme/x", "/repos///acme//x"] {
        let url = format!("{}{path}", api.url());
        let denied = fetched(&served, &alice, json!({"provider": "github", "url": url}));
        assert!(
            is_error(&denied) && text(&denied).starts_with("policy_denied"),
            "{path}: {denied}"
        );
    }
    assert_eq!(api.request_count(), before, "nothing sent for any of them");
    let url = format!("{}/repos/other//x", api.url());
    let allowed = fetched(&served, &alice, json!({"provider": "github", "url": url}));
    assert!(!is_error(&allowed), "{allowed}");
    assert_eq!(
        api.last_request().unwrap().path,
        "/repos/other//x",
        "sent as written"
    );
}
