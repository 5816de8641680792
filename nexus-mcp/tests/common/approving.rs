//! A call a policy asks a person to approve, as the tests make one: the
//! fakes, `serve` with a policy and its sign-in page, a call, the approval
//! link, the page opened by a person signed in, and its form answered.

use nexus_gateway_fake::{FakeGateway, FakeIssuer, FakeProvider, FakeToken, FakeUpstream};
use serde_json::{Value, json};

use super::served::{Browser, CLIENT, Served, command, free_port, workspace_of};

/// The fakes: alice, bob and carol with stripe connected to `api`.
pub fn fakes() -> (FakeIssuer, FakeGateway, FakeUpstream) {
    let (issuer, gateway, api) = (
        FakeIssuer::start(),
        FakeGateway::start(),
        FakeUpstream::start(),
    );
    for person in ["alice", "bob", "carol"] {
        let stripe = FakeProvider::oauth2("sk_team").api_base_url(&api.url());
        gateway.add_provider(&workspace_of(&issuer.url(), person), "stripe", stripe);
    }
    (issuer, gateway, api)
}

/// `serve` with the policy file `file`, its sign-in page, and `more`.
pub fn served(issuer: &FakeIssuer, gateway: &FakeGateway, file: &str, more: &[&str]) -> Served {
    served_moved(issuer, gateway, file, more, None)
}

/// [`served`] with its clock moved `by` (libfaketime's offset, `+90s`).
pub fn served_at(
    issuer: &FakeIssuer,
    gateway: &FakeGateway,
    file: &str,
    more: &[&str],
    by: &str,
) -> Served {
    served_moved(issuer, gateway, file, more, Some(by))
}

/// [`served`], its clock moved `by` when given.
fn served_moved(
    issuer: &FakeIssuer,
    gateway: &FakeGateway,
    file: &str,
    more: &[&str],
    by: Option<&str>,
) -> Served {
    let port = free_port();
    issuer.add_client(CLIENT, &format!("http://127.0.0.1:{port}/connect/callback"));
    let args = [
        &[
            "--policy",
            file,
            "--allow-write",
            "--login-client-id",
            CLIENT,
        ][..],
        more,
    ]
    .concat();
    let mut command = command(gateway, &issuer.url(), port, &args);
    if let Some(by) = by {
        super::served::moved_clock(&mut command, by);
    }
    Served::ready(command.spawn().unwrap(), port)
}

/// `person`'s `authenticated_fetch` through `served` of `method` `path`
/// with `body` (JSON): the tool's result.
pub fn call(
    issuer: &FakeIssuer,
    served: &Served,
    api: &str,
    request: (&str, &str, Option<&str>),
) -> Value {
    call_with(issuer, served, api, request, &[])
}

/// [`call`] with `headers` beside the JSON body's type.
pub fn call_with(
    issuer: &FakeIssuer,
    served: &Served,
    api: &str,
    (method, path, body): (&str, &str, Option<&str>),
    headers: &[(&str, &str)],
) -> Value {
    let token = issuer.mint(&FakeToken::new("alice").audience(&served.resource));
    let mut arguments =
        json!({"provider": "stripe", "url": format!("{api}{path}"), "method": method});
    let mut sent = serde_json::Map::new();
    if let Some(body) = body {
        arguments["body"] = json!(body);
        sent.insert("Content-Type".into(), json!("application/json"));
    }
    for (name, value) in headers {
        sent.insert((*name).to_owned(), json!(value));
    }
    if !sent.is_empty() {
        arguments["headers"] = Value::Object(sent);
    }
    served.call(&token, "authenticated_fetch", arguments).1["result"].clone()
}

/// The approval link a tool's result names.
pub fn link_in(result: &Value) -> String {
    let said = super::text(result);
    let at = said
        .find("http://")
        .unwrap_or_else(|| panic!("no link: {said}"));
    said[at..].split_whitespace().next().unwrap().to_owned()
}

/// `link` opened in `browser` by `person` (in `groups`), signed in at
/// `issuer`: the page's status and text.
pub fn opened(
    browser: &mut Browser,
    issuer: &FakeIssuer,
    (person, groups): (&str, &[&str]),
    link: &str,
) -> (u16, String) {
    let claims = serde_json::Map::from_iter([("groups".to_owned(), json!(groups))]);
    issuer.approve_as_with_claims(person, claims);
    let (status, to_issuer, page) = browser.open(link);
    assert_eq!(status, 303, "{page}");
    let (status, back, page) = browser.open(&to_issuer.unwrap());
    assert_eq!(status, 302, "{page}");
    let (status, _, page) = browser.open(&back.unwrap());
    (status, page)
}

/// The sealed verdict a page's form carries.
pub fn pending(page: &str) -> String {
    let at = page
        .find("name=pending value=\"")
        .unwrap_or_else(|| panic!("no form: {page}"))
        + 20;
    page[at..].split('"').next().unwrap().to_owned()
}

/// The page's form answered `verdict` (with `reason`) from `browser`.
pub fn answered(
    browser: &mut Browser,
    served: &Served,
    page: &str,
    (verdict, reason): (&str, &str),
) -> (u16, String) {
    let url = format!("{}/approve", served.origin);
    let (status, _, said) = browser.submit(
        &url,
        &[
            ("pending", &pending(page)),
            ("verdict", verdict),
            ("reason", reason),
        ],
    );
    (status, said)
}
