//! What a call does, decided (#111, 1), through the built program: a
//! policy reads the call's query (`context.query`), its JSON body
//! (`context.body`, `context.bodyNumbers`) and its GraphQL operation
//! (`context.graphql`), each as every way the API may read it; a body
//! parsers read differently is refused; a `POST` of GraphQL queries alone
//! to a provider's GraphQL endpoint passes the read-only gate, and nothing
//! else does. Every refusal sends nothing to the API.

mod common;

use std::process::Command;

use common::served::{Served, fakes, policy_checked, policy_file};
use common::{Session, gateway, is_error, text};
use nexus_gateway_fake::{FakeReply, FakeToken};
use serde_json::{Value, json};

/// `authenticated_fetch` of `provider`'s `path` on `api` with `method`,
/// `body` (labelled JSON when given) and `headers`.
fn fetch(
    api: &str,
    (provider, method, path): (&str, &str, &str),
    body: Option<&str>,
    headers: Value,
) -> Value {
    let mut arguments =
        json!({"provider": provider, "url": format!("{api}{path}"), "method": method});
    if let Some(body) = body {
        arguments["body"] = json!(body);
        arguments["headers"] = json!({"Content-Type": "application/json"});
    }
    if let Some(more) = headers.as_object() {
        for (name, value) in more {
            arguments["headers"][name] = value.clone();
        }
    }
    json!({"name": "authenticated_fetch", "arguments": arguments})
}

/// A GraphQL request's body.
fn graphql(query: &str, name: Option<&str>) -> String {
    json!({"query": query, "operationName": name, "variables": {"n": 1}}).to_string()
}

#[test]
fn a_graphql_read_passes_the_read_only_gate_and_nothing_that_writes_does() {
    let (gateway, api) = gateway();
    api.set_reply(
        "/graphql",
        FakeReply::new(200).body(r#"{"data": {"viewer": {"login": "a"}}}"#),
    );
    api.set_reply("/gql", FakeReply::new(200).body(r#"{"data": {}}"#));
    let mut session = Session::start(&gateway, &["--graphql-endpoint", "stripe=/gql"]);
    let url = api.url();
    let mut call = |provider, method, path, body: Option<String>, headers: Value| {
        session.call(fetch(
            &url,
            (provider, method, path),
            body.as_deref(),
            headers,
        ))
    };
    let reads = [
        graphql("query { viewer { login } }", None),
        graphql("{ viewer { login } }", None),
        graphql(
            "query Me($n: Int) { me: viewer { ...F } } fragment F on User { login }",
            None,
        ),
        graphql("query A { a } query B { b }", Some("B")),
    ];
    for body in &reads {
        let read = call("github", "POST", "/graphql", Some(body.clone()), json!({}));
        assert!(!is_error(&read), "{body}: {read}");
        let sent = api.last_request().unwrap();
        assert_eq!(
            (sent.method.as_str(), sent.body.as_slice()),
            ("POST", body.as_bytes())
        );
    }
    let read = call(
        "stripe",
        "POST",
        "/gql",
        Some(graphql("{ a }", None)),
        json!({}),
    );
    assert!(!is_error(&read), "an endpoint the operator adds: {read}");
    let before = api.request_count();
    let writes = [
        (
            "github",
            "/graphql",
            graphql("mutation { deleteRepository(input: {}) { x } }", None),
            json!({}),
        ),
        (
            "github",
            "/graphql",
            graphql("query A { a } mutation B { b }", Some("A")),
            json!({}),
        ),
        (
            "github",
            "/graphql",
            graphql("subscription { a }", None),
            json!({}),
        ),
        (
            "github",
            "/graphql",
            r#"{"query": "{ a }", "query": "mutation { b }"}"#.into(),
            json!({}),
        ),
        (
            "github",
            "/graphql",
            r#"{"extensions": {"persistedQuery": {"sha256Hash": "ab"}}}"#.into(),
            json!({}),
        ),
        (
            "github",
            "/graphql",
            r#"[{"query": "{ a }"}]"#.into(),
            json!({}),
        ),
        (
            "github",
            "/graphql",
            r#"{"query": "{ a }", "_method": "DELETE"}"#.into(),
            json!({}),
        ),
        (
            "github",
            "/graphql",
            graphql("{ a }", None),
            json!({"X-HTTP-Method-Override": "DELETE"}),
        ),
        (
            "github",
            "/graphql?query=mutation%7Bb%7D",
            graphql("{ a }", None),
            json!({}),
        ),
        ("github", "/graphql/", graphql("{ a }", None), json!({})),
        (
            "github",
            "/repos/acme/x/issues",
            graphql("{ a }", None),
            json!({}),
        ),
        ("stripe", "/graphql", graphql("{ a }", None), json!({})),
        ("github", "/graphql", "{ a }".into(), json!({})),
    ];
    for (provider, path, body, headers) in writes {
        let refused = call(provider, "POST", path, Some(body.clone()), headers);
        assert!(
            is_error(&refused) && text(&refused).contains("read-only"),
            "{path} {body}: {refused}"
        );
    }
    for path in [
        "/graphql?query=mutation%7Bb%7D",
        "/graphql?qu%65ry=mutation%7Bb%7D",
    ] {
        let get = call("github", "GET", path, None, json!({}));
        assert!(
            is_error(&get) && text(&get).contains("read-only"),
            "a GET's mutation: {get}"
        );
    }
    let put = call(
        "github",
        "PUT",
        "/graphql",
        Some(graphql("{ a }", None)),
        json!({}),
    );
    assert!(is_error(&put), "a PUT is never a GraphQL read: {put}");
    assert_eq!(api.request_count(), before, "nothing that writes was sent");
    let search = call(
        "github",
        "GET",
        "/search?query=mutation%7Bb%7D",
        None,
        json!({}),
    );
    assert!(
        !is_error(&search),
        "no GraphQL endpoint: a search's text: {search}"
    );
}

/// The policies of the issue's examples, beside one that permits.
const CONTENT: &str = r#"@id("everyone calls")
permit (principal, action == Action::"call", resource);
@id("pages of 100 at most")
forbid (principal, action == Action::"call", resource)
  when { context.query.hasTag("per_page") && !(["10", "50", "100"].contains(context.query.getTag("per_page"))) };
@id("refunds up to 100 EUR")
forbid (principal, action == Action::"call", resource == Provider::"stripe")
  when { context.bodyNumbers.hasTag("amount") && context.bodyNumbers.getTag("amount") > 10000 };
@id("nothing public")
forbid (principal, action == Action::"call", resource)
  when { context.body.hasTag("visibility") && context.body.getTag("visibility") == "public" };
@id("issues only in acme")
forbid (principal, action == Action::"call", resource)
  when { context.body.hasTag("items.0.project") && context.body.getTag("items.0.project") != "acme" };
@id("no repository deleted")
forbid (principal, action == Action::"call", resource == Provider::"github")
  when { context has graphql && context.graphql.operation == "mutation"
    && context.graphql.fields.contains("deleteRepository") };
"#;

#[test]
fn a_policy_reads_the_query_the_json_body_and_the_graphql_operation_as_each_way_they_read() {
    let (gateway, api) = gateway();
    let (_dir, file) = policy_file(CONTENT);
    let mut session = Session::start(&gateway, &["--policy", &file, "--allow-write"]);
    let url = api.url();
    let mut call = |provider, method, path, body: Option<&str>| {
        session.call(fetch(&url, (provider, method, path), body, json!({})))
    };
    let permitted = [
        ("github", "GET", "/search?per_page=100&q=x", None),
        ("github", "GET", "/search?per_page=10&per_page=10", None),
        (
            "stripe",
            "POST",
            "/refunds",
            Some(r#"{"amount": 10000, "currency": "eur"}"#),
        ),
        ("stripe", "POST", "/refunds", Some(r#"{"amount": 9999.5}"#)),
        ("github", "POST", "/refunds", Some(r#"{"amount": 20000}"#)),
        (
            "github",
            "POST",
            "/repos",
            Some(r#"{"visibility": "private", "items": [{"project": "acme"}]}"#),
        ),
        (
            "github",
            "POST",
            "/graphql",
            Some(&graphql("mutation { createIssue(input: {}) { x } }", None)),
        ),
        (
            "github",
            "POST",
            "/graphql",
            Some(&graphql(
                "query A { deleteRepository } mutation B { b }",
                Some("B"),
            )),
        ),
        (
            "github",
            "POST",
            "/other",
            Some(r#"{"query": "not a document"}"#),
        ),
    ];
    for (provider, method, path, body) in permitted {
        let answer = call(provider, method, path, body);
        assert!(!is_error(&answer), "{method} {path} {body:?}: {answer}");
    }
    let before = api.request_count();
    let denied = [
        ("github", "GET", "/search?per_page=1000"),
        ("github", "GET", "/search?per_page=100&per_page=1000"),
        ("github", "GET", "/search?per%5Fpage=1000"),
    ];
    for (provider, method, path) in denied {
        let answer = call(provider, method, path, None);
        assert!(
            is_error(&answer) && text(&answer).contains("policy does not let"),
            "{path}: {answer}"
        );
    }
    let mutation = "mutation { deleteRepository(input: {}) { x } }";
    let bodies = [
        ("stripe", "/refunds", r#"{"amount": 10001}"#.to_owned()),
        ("stripe", "/refunds", r#"{"amount": 10000.5}"#.to_owned()),
        ("stripe", "/refunds", r#"{"amount": 1e20}"#.to_owned()),
        (
            "stripe",
            "/refunds",
            r#"{"amount": 100000000000000000000000}"#.to_owned(),
        ),
        ("stripe", "/refunds", r#"{"amount": 1.00001e4}"#.to_owned()),
        (
            "github",
            "/repos",
            r#"{"visibility": "p\u0075blic"}"#.to_owned(),
        ),
        (
            "github",
            "/repos",
            r#"{"items": [{"project": "other"}]}"#.to_owned(),
        ),
        ("github", "/graphql", graphql(mutation, None)),
        (
            "github",
            "/graphql",
            graphql(
                "mutation M { gone: deleteRepository(input: {}) { x } }",
                Some("M"),
            ),
        ),
        (
            "github",
            "/graphql",
            graphql(
                "mutation { ...F } fragment F on Mutation { deleteRepository { x } }",
                None,
            ),
        ),
        (
            "github",
            "/graphql",
            graphql(
                "mutation { ... on Mutation { deleteRepository { x } } }",
                None,
            ),
        ),
        (
            "github",
            "/graphql",
            json!([{"query": "{ a }"}, {"query": mutation}]).to_string(),
        ),
        ("github", "/anywhere", graphql(mutation, None)),
    ];
    for (provider, path, body) in &bodies {
        let answer = call(provider, "POST", path, Some(body));
        assert!(
            is_error(&answer) && text(&answer).contains("policy does not let"),
            "{path} {body}: {answer}"
        );
    }
    let get = call(
        "github",
        "GET",
        "/graphql?query=mutation%7BdeleteRepository%7Bx%7D%7D",
        None,
    );
    assert!(is_error(&get), "a GET's document: {get}");
    let refused = [
        (
            r#"{"amount": 5, "amount": 20000}"#.to_owned(),
            "names a key twice",
        ),
        (
            r#"{"amount": 5, "\u0061mount": 20000}"#.to_owned(),
            "names a key twice",
        ),
        (
            r#"{"items.0.project": "acme", "items": [{"project": "x"}]}"#.to_owned(),
            "same dotted path",
        ),
        (
            format!("{}1{}", "[".repeat(100), "]".repeat(100)),
            "nests deeper",
        ),
        (r#"{"amount": 5,}"#.to_owned(), "does not read strictly"),
        (
            graphql("query A { a } query B { b }", None),
            "several operations",
        ),
        (graphql("{ a", None), "does not parse"),
    ];
    for (body, why) in &refused {
        let answer = call("github", "POST", "/graphql", Some(body));
        let told = text(&answer);
        assert!(
            is_error(&answer) && told.contains("policy does not let") && told.contains(why),
            "{body}: {answer}"
        );
    }
    assert_eq!(
        api.request_count(),
        before,
        "nothing denied or refused was sent"
    );
}

#[test]
fn a_call_pays_for_no_reading_no_policy_names() {
    let (gateway, api) = gateway();
    // No policy reads the body or the query: neither is read, so neither
    // a key given twice nor a parameter given twice is refused.
    let (_dir, file) = policy_file(
        "permit (principal, action == Action::\"call\", resource) when { context.method == \"POST\" };",
    );
    let mut session = Session::start(&gateway, &["--policy", &file, "--allow-write"]);
    let url = api.url();
    let answer = session.call(fetch(
        &url,
        ("github", "POST", "/x?a=1&a=2"),
        Some(r#"{"a": 1, "a": 2}"#),
        json!({}),
    ));
    assert!(!is_error(&answer), "{answer}");
    assert_eq!(api.request_count(), 1);
}

#[test]
fn the_names_are_in_the_schema_and_a_policy_that_misnames_them_is_refused() {
    let program = || Command::new(env!("CARGO_BIN_EXE_nexus-mcp"));
    let schema = program().args(["policy", "schema"]).output().unwrap();
    let schema = String::from_utf8_lossy(&schema.stdout);
    for name in [
        "entity Query tags String",
        "entity Body tags String",
        "entity BodyNumbers tags Long",
        "query: Query",
        "body: Body",
        "bodyNumbers: BodyNumbers",
        "graphql?: GraphQL",
        "fields: Set<String>",
    ] {
        assert!(schema.contains(name), "{name}: {schema}");
    }
    let check = policy_checked;
    let head = "forbid (principal, action == Action::\"call\", resource)\n  when { ";
    for (wrong, said) in [
        ("context.querry.hasTag(\"a\") };", "querry"),
        (
            "context.bodyNumbers.hasTag(\"a\") && context.bodyNumbers.getTag(\"a\") == \"1\" };",
            "",
        ),
        ("context.graphql.operation == \"query\" };", "graphql"),
        (
            "context has graphql && context.graphql.operation == \"Mutation\" };",
            "write \"mutation\"",
        ),
        (
            "context has graphql && context.graphql.operation == \"delete\" };",
            "query, mutation or subscription",
        ),
    ] {
        let (code, told) = check(&format!("{head}{wrong}"));
        assert!(
            code == Some(2) && told.contains(":2:") && told.contains(said),
            "{wrong}: {told}"
        );
    }
    let (code, told) = check(CONTENT);
    assert_eq!(code, Some(0), "{told}");
}

/// A multipart body of `fields`, its boundary `b`.
fn multipart(fields: &[(&str, &str)]) -> String {
    let mut body = String::new();
    for (name, value) in fields {
        body.push_str(&format!(
            "--b\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        ));
    }
    body + "--b--\r\n"
}

#[test]
fn a_value_is_read_in_every_spelling_and_body_form_or_the_call_is_refused() {
    let (gateway, api) = gateway();
    let (_dir, file) = policy_file(CONTENT);
    let mut session = Session::start(&gateway, &["--policy", &file, "--allow-write"]);
    let url = api.url();
    let mut call = |body: &str, typed: &str, more: Value| {
        let mut headers = json!({"Content-Type": typed});
        for (name, value) in more.as_object().into_iter().flatten() {
            headers[name] = value.clone();
        }
        let arguments = json!({"provider": "stripe", "url": format!("{url}/refunds"),
                               "method": "POST", "body": body, "headers": headers});
        session.call(json!({"name": "authenticated_fetch", "arguments": arguments}))
    };
    let form = "application/x-www-form-urlencoded";
    let multipart_typed = "multipart/form-data; boundary=b";
    // Over 100 EUR however it is spelled, in whichever body form: denied.
    let over = multipart(&[("amount", "20000"), ("currency", "eur")]);
    let denied = [
        ("amount=%2B20000".to_owned(), form),
        ("amount=020000".to_owned(), form),
        ("amount=20_000".to_owned(), form),
        ("amount=0x4E20".to_owned(), form),
        ("amount=%2020000%20".to_owned(), form),
        (r#"{"amount": "20000"}"#.to_owned(), "application/json"),
        (r#"{"amount": "+2e4"}"#.to_owned(), "application/json"),
        (over, multipart_typed),
        (
            multipart(&[("amount", "+20000")]),
            "multipart/mixed; boundary=b",
        ),
    ];
    for (body, typed) in &denied {
        let result = call(body, typed, json!({}));
        assert!(
            text(&result).starts_with("policy_denied"),
            "{typed} {body:?}: {result}"
        );
    }
    // What cannot be read whole: refused, saying what to send instead.
    let unread = [
        (
            "amount=20000",
            "application/x-www-form-urlencoded; charset=iso-8859-1",
            json!({}),
            "UTF-8",
        ),
        (
            "<amount>20000</amount>",
            "application/xml",
            json!({}),
            "JSON or a form",
        ),
        (
            "amount=20000",
            form,
            json!({"Content-Encoding": "gzip"}),
            "uncompressed",
        ),
        (
            "amount=%EF%BC%92%EF%BC%90%EF%BC%90%EF%BC%90%EF%BC%90",
            form,
            json!({}),
            "0-9",
        ),
        ("amount=%FF20000", form, json!({}), "UTF-8"),
    ];
    for (body, typed, headers, said) in unread {
        let result = call(body, typed, headers);
        let told = text(&result);
        assert!(
            told.starts_with("policy_denied") && told.contains(said),
            "{typed} {body}: {told}"
        );
    }
    let encoded = multipart(&[("amount", "MjAwMDA=")]).replace(
        "name=\"amount\"\r\n",
        "name=\"amount\"\r\nContent-Transfer-Encoding: base64\r\n",
    );
    let result = call(&encoded, multipart_typed, json!({}));
    assert!(text(&result).contains("transfer encoding"), "{result}");
    assert_eq!(api.request_count(), 0, "nothing sent");
    // Within the rule, in each form: sent.
    for (body, typed) in [
        ("amount=%2B5000".to_owned(), form),
        (multipart(&[("amount", "5000")]), multipart_typed),
        (r#"{"amount": "5000"}"#.to_owned(), "application/json"),
    ] {
        let result = call(&body, typed, json!({}));
        assert!(!is_error(&result), "{typed} {body:?}: {result}");
    }
    assert_eq!(api.request_count(), 3);
}

#[test]
fn policy_explain_decides_a_body_as_the_server_does() {
    let (_dir, file) = policy_file(CONTENT);
    let explain = |body: &str| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_nexus-mcp"));
        command.args([
            "policy",
            "explain",
            "--policy",
            &file,
            "--person",
            "alice",
            "--provider",
            "stripe",
        ]);
        command.args([
            "--method",
            "POST",
            "--url",
            "https://api.stripe.com/v1/refunds",
        ]);
        command.args(["--header", "Content-Type: application/json", "--body", body]);
        let out = command.output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    assert_eq!(explain(r#"{"amount": 100}"#).0, Some(0));
    let (code, said) = explain(r#"{"amount": 100001}"#);
    assert!(
        code == Some(1) && said.contains("refunds up to 100 EUR"),
        "{said}"
    );
    for spelled in [r#"{"amount": "20000"}"#, r#"{"amount": "20_000"}"#] {
        let (code, said) = explain(spelled);
        assert!(
            code == Some(1) && said.contains("refunds up to 100 EUR"),
            "{spelled}: {said}"
        );
    }
    let (code, said) = explain(r#"{"amount": 1, "amount": 2}"#);
    assert!(
        code == Some(1) && said.contains("names a key twice"),
        "{said}"
    );
}

#[test]
fn in_serve_a_graphql_read_passes_and_a_policy_reads_the_operation() {
    let (issuer, gateway, api) = fakes(&["alice"], "gho_team");
    api.set_reply("/graphql", FakeReply::new(200).body(r#"{"data": {}}"#));
    let (_dir, file) = policy_file(CONTENT);
    let served = Served::start(&gateway, &issuer, &["--policy", &file]);
    let token = issuer.mint(&FakeToken::new("alice").audience(&served.resource));
    let call = |body: String| -> Value {
        let arguments = json!({"provider": "github", "url": format!("{}/graphql", api.url()),
            "method": "POST", "body": body, "headers": {"Content-Type": "application/json"}});
        served.call(&token, "authenticated_fetch", arguments).1["result"].clone()
    };
    let read = call(graphql("{ viewer { login } }", None));
    assert!(!is_error(&read), "{read}");
    let before = api.request_count();
    let write = call(graphql("mutation { createIssue { x } }", None));
    assert!(
        is_error(&write) && text(&write).contains("read-only"),
        "{write}"
    );
    let several = call(graphql("query A { a } query B { b }", None));
    assert!(is_error(&several), "{several}");
    assert_eq!(api.request_count(), before);
}

#[test]
fn a_redirect_that_keeps_a_graphql_read_post_must_lead_to_a_graphql_endpoint() {
    let (gateway, api) = gateway();
    let moved = |to: &str| FakeReply::new(307).header("Location", &format!("{}{to}", api.url()));
    api.set_reply("/graphql", moved("/api/graphql"));
    api.set_reply("/api/graphql", FakeReply::new(200).body(r#"{"data": {}}"#));
    api.set_reply("/old/graphql", moved("/repos/acme/x/issues"));
    let mut session = Session::start(&gateway, &["--graphql-endpoint", "github=/old/graphql"]);
    let url = api.url();
    let body = graphql("{ viewer { login } }", None);
    let followed = session.call(fetch(
        &url,
        ("github", "POST", "/graphql"),
        Some(&body),
        json!({}),
    ));
    assert!(
        !is_error(&followed),
        "to GitHub's other endpoint: {followed}"
    );
    assert_eq!(api.last_request().unwrap().path, "/api/graphql");
    let sent = api.request_count();
    let refused = session.call(fetch(
        &url,
        ("github", "POST", "/old/graphql"),
        Some(&body),
        json!({}),
    ));
    assert!(
        is_error(&refused) && text(&refused).contains("read-only"),
        "{refused}"
    );
    assert_eq!(
        api.request_count(),
        sent + 1,
        "the hop to an issue's path is not sent"
    );
    assert_eq!(api.last_request().unwrap().path, "/old/graphql");
}

/// The fan-out of #119: `levels` fragments, each spreading the next twice.
fn fanned_out(levels: usize) -> String {
    let mut document = "query { ...F0 }\n".to_owned();
    for level in 0..levels {
        let next = format!("...F{} ", level + 1);
        document += &format!("fragment F{level} on Query {{ {next}{next}}}\n");
    }
    document + &format!("fragment F{levels} on Query {{ viewer {{ login }} }}\n")
}

#[test]
fn a_graphql_document_that_fans_out_or_spreads_in_a_cycle_is_refused_unread() {
    let (gateway, api) = gateway();
    api.set_reply("/graphql", FakeReply::new(200).body(r#"{"data": {}}"#));
    // A read-only server with no policy: the gate reads the operation.
    let mut session = Session::start(&gateway, &[]);
    let url = api.url();
    let cycle = "query { ...A } fragment A on Query { a ...B } fragment B on Query { ...A }";
    for document in [fanned_out(20), fanned_out(24), cycle.to_owned()] {
        let body = graphql(&document, None);
        let told = session.call(fetch(
            &url,
            ("github", "POST", "/graphql"),
            Some(&body),
            Value::Null,
        ));
        assert!(is_error(&told), "{document}: {told}");
    }
    assert_eq!(api.request_count(), 0, "nothing sent");
    // Under a policy that reads the operation: refused with the words.
    let policy = "permit (principal, action, resource) when { context has graphql && context.graphql.operation == \"query\" };";
    let (_dir, file) = policy_file(policy);
    let explained = Command::new(env!("CARGO_BIN_EXE_nexus-mcp"))
        .args([
            "policy",
            "explain",
            "--policy",
            &file,
            "--provider",
            "github",
            "--person",
            "alice",
        ])
        .args([
            "--method",
            "POST",
            "--url",
            "https://api.github.com/graphql",
        ])
        .args([
            "--header",
            "Content-Type: application/json",
            "--body",
            &graphql(&fanned_out(20), None),
        ])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&explained.stdout);
    assert_eq!(explained.status.code(), Some(1), "{said}");
    assert!(
        said.contains("expands to more than 50,000 selections"),
        "{said}"
    );
}
