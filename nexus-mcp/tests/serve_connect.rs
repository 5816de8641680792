//! `serve`'s connect page, through the built program with a browser that
//! keeps its cookie: a call that needs the user answers a link to the
//! server itself; the link logs the browser in at the issuer, and only the
//! person who was asked is sent on to the Gateway's consent. Then the
//! held call answers. A client without URL elicitation reads the link in
//! the tool error. A tampered, foreign or expired link is refused.

mod common;

use common::served::{Browser, Served, command, free_port, header, workspace_of};
use common::text;
use nexus_gateway_fake::{FakeGateway, FakeIssuer, FakeProvider, FakeToken, FakeUpstream, Route};
use serde_json::{Value, json};

use common::served::{CLIENT, call_asking};

/// A `serve` with `--connect github` and its connect page, against a fake
/// issuer (the login client registered) and a Gateway that lists `github`
/// (another workspace has it; alice has not connected it).
fn connect_server() -> (FakeIssuer, FakeGateway, FakeUpstream, Served) {
    connect_server_with(&[])
}

/// [`connect_server`], with more flags.
fn connect_server_with(more: &[&str]) -> (FakeIssuer, FakeGateway, FakeUpstream, Served) {
    let issuer = FakeIssuer::start();
    let (gateway, api) = (FakeGateway::start(), FakeUpstream::start());
    let github = FakeProvider::oauth2("gho_someone_else").api_base_url(&api.url());
    gateway.add_provider("ws-other", "github", github);
    let port = free_port();
    issuer.add_client(CLIENT, &format!("http://127.0.0.1:{port}/connect/callback"));
    let args = [&CONNECT_ARGS[..], more].concat();
    let child = command(&gateway, &issuer.url(), port, &args)
        .spawn()
        .unwrap();
    (issuer, gateway, api, Served::ready(child, port))
}

/// The flags of a `serve` that connects on first use.
const CONNECT_ARGS: [&str; 4] = ["--connect", "github", "--login-client-id", CLIENT];

#[test]
fn only_the_person_asked_is_sent_on_to_consent_and_the_call_then_answers() {
    let (issuer, gateway, api, served) = connect_server();
    let alice = issuer.mint(&FakeToken::new("alice").audience(&served.resource));
    let url = format!("{}/user", api.url());
    let fetch = |extra: Value, capabilities: Value| {
        let mut extra = extra;
        extra["arguments"] = json!({"provider": "github", "url": url});
        call_asking(&served, &alice, capabilities, extra, &[])
    };
    let first = fetch(json!({}), json!({"elicitation": {"url": {}}}));
    let result = &first["result"];
    let asked = &result["inputRequests"]["connect-github"]["params"];
    let link = asked["url"]
        .as_str()
        .unwrap_or_else(|| panic!("{first}"))
        .to_owned();
    assert!(
        link.starts_with(&format!("{}/connect/", served.origin)),
        "{link}"
    );
    assert!(
        !first.to_string().contains("/fake/authorize"),
        "never the consent URL: {first}"
    );
    let state = result["requestState"].as_str().unwrap().to_owned();
    // Bob opens alice's link: refused, nothing redirected, the operator warned.
    let (status, location, page) = Browser::new().open_as(&issuer, "bob", &link);
    assert_eq!((status, location), (403, None), "{page}");
    assert!(page.contains("made for another account"), "{page}");
    served.said_once(|said| said.contains("a link made for another person was opened"));
    // Alice: sent on to the Gateway's consent, and consents.
    let (status, consent, page) = Browser::new().open_as(&issuer, "alice", &link);
    assert_eq!(status, 302, "{page}");
    let consent = consent.unwrap();
    assert!(consent.contains("/fake/authorize"), "{consent}");
    assert_eq!(Browser::new().open(&consent).0, 200);
    let retry =
        json!({"requestState": state, "inputResponses": {"connect-github": {"action": "accept"}}});
    let answered = fetch(retry, json!({"elicitation": {"url": {}}}));
    assert_eq!(answered["result"]["isError"], json!(false), "{answered}");
    assert!(
        text(&answered["result"]).starts_with("HTTP 200"),
        "{answered}"
    );
    assert!(gateway.resolves(&workspace_of(&issuer.url(), "alice"), "github") >= 1);
    // A tampered link is refused, and so is one sealed under another key.
    let mut tampered = link.clone();
    tampered.push('A');
    assert_eq!(Browser::new().open(&tampered).0, 400);
    served.said_once(|said| said.contains("connect page: refused a link that has expired"));
    let other_port = free_port();
    let other = command(&gateway, &issuer.url(), other_port, &CONNECT_ARGS)
        .env(
            "NEXUS_MCP_STATE_KEY",
            "another-sealing-key-of-32-bytes-or-more",
        )
        .spawn()
        .unwrap();
    let other = Served::ready(other, other_port);
    // Both hold one key, `default`: the page says the keys differ.
    let elsewhere = link.replace(&served.origin, &other.origin);
    let (status, _, page) = Browser::new().open(&elsewhere);
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("whose key differs"), "{page}");
}

#[test]
fn a_first_login_asks_the_issuer_nothing_the_bearer_check_already_read() {
    let (issuer, _gateway, api, served) = connect_server();
    let alice = issuer.mint(&FakeToken::new("alice").audience(&served.resource));
    let link = connect_link(&served, &api, &alice);
    // The metadata and keys were read at start, for the bearer check.
    let asked = issuer.requests();
    let (status, consent, page) = Browser::new().open_as(&issuer, "alice", &link);
    assert_eq!(status, 302, "{page}");
    assert!(consent.unwrap().contains("/fake/authorize"));
    assert_eq!(
        issuer.requests(),
        asked,
        "no metadata or keys fetched again"
    );
}

/// The connect page's link a 2026-07-28 client with URL elicitation is
/// asked to open when `token`'s person first calls github.
fn connect_link(served: &Served, api: &FakeUpstream, token: &str) -> String {
    let mut extra = json!({});
    extra["arguments"] = json!({"provider": "github", "url": format!("{}/user", api.url())});
    let first = call_asking(
        served,
        token,
        json!({"elicitation": {"url": {}}}),
        extra,
        &[],
    );
    let asked = &first["result"]["inputRequests"]["connect-github"]["params"];
    let link = asked["url"].as_str().unwrap_or_else(|| panic!("{first}"));
    link.to_owned()
}

#[test]
fn the_connect_pages_sign_in_lets_in_only_whom_allow_sign_in_names() {
    let (issuer, _gateway, api, served) =
        connect_server_with(&["--allow-sign-in", "hd=acme.example"]);
    let token = common::served::token(&issuer, &served, "alice");
    let link = connect_link(&served, &api, &token);
    // Alice signs in with no hd: refused, nothing redirected.
    let (status, location, page) = Browser::new().open_as(&issuer, "alice", &link);
    assert_eq!((status, location), (403, None), "{page}");
    assert!(page.contains("lets in only the accounts"), "{page}");
    served.said_once(|said| {
        said.contains("connect page refused: the sign-in matches no --allow-sign-in")
    });
    // With her Workspace's hd, on to consent.
    let mut browser = Browser::new();
    let (_, to_issuer, _) = browser.open(&link);
    let acme = serde_json::Map::from_iter([("hd".to_owned(), json!("acme.example"))]);
    issuer.approve_as_with_claims("alice", acme);
    let (_, back, _) = browser.open(&to_issuer.expect("to the issuer"));
    let (status, consent, page) = browser.open(&back.expect("back"));
    assert_eq!(status, 302, "{page}");
    assert!(consent.is_some(), "sent on to consent");
}

#[test]
fn a_login_after_the_issuer_rotates_its_keys_goes_through() {
    // The connect page reads the issuer's keys where the bearer check
    // does: after a rotation, an ID token signed by the new key is checked
    // against it, not refused until a restart.
    let (issuer, _gateway, api, served) = connect_server();
    let alice = issuer.mint(&FakeToken::new("alice").audience(&served.resource));
    let link = connect_link(&served, &api, &alice);
    let (status, _, page) = Browser::new().open_as(&issuer, "alice", &link);
    assert_eq!(status, 302, "{page}");
    issuer.rotate();
    let (status, _, page) = Browser::new().open_as(&issuer, "alice", &link);
    assert_eq!(
        status, 302,
        "a login after the issuer rotates its keys: {page}"
    );
}

#[test]
fn the_connect_page_reads_the_person_from_the_subject_claim() {
    // With --subject-claim oid, the person is the access token's `oid` and
    // the ID token's: this issuer's ID tokens carry none, so no login
    // names a person, and nobody is sent on. Only the operator can mend
    // that: the person is told so, not to open the link again.
    let (issuer, _gateway, api, served) = connect_server_with(&["--subject-claim", "oid"]);
    let alice = FakeToken::new("pairwise-a").audience(&served.resource);
    let alice = issuer.mint(&alice.claim("oid", json!("alice")));
    let link = connect_link(&served, &api, &alice);
    let (status, location, page) = Browser::new().open_as(&issuer, "alice", &link);
    assert_eq!((status, location), (503, None), "{page}");
    assert!(page.contains("Tell whoever runs this server"), "{page}");
    let said = served.said_once(|said| said.contains("its `oid` claim is missing or blank"));
    assert!(said.contains("--subject-claim must name"), "{said}");
}

/// With Entra ID and `--subject-claim` left at `sub`: the API's access
/// token and the login's ID token name the person by a different `sub`
/// (pairwise, one per application), so the rightful person's link reads as
/// another's; the operator's line says the fix.
#[test]
fn an_entra_login_without_the_oid_claim_tells_the_operator_to_set_it() {
    let issuer = FakeIssuer::start_entra("72f988bf-86f1-41af");
    let gateway = FakeGateway::start();
    let api = FakeUpstream::start();
    let github = FakeProvider::oauth2("gho_someone_else").api_base_url(&api.url());
    gateway.add_provider("ws-other", "github", github);
    let port = free_port();
    issuer.add_client(CLIENT, &format!("http://127.0.0.1:{port}/connect/callback"));
    let child = command(&gateway, &issuer.url(), port, &CONNECT_ARGS).spawn();
    let served = Served::ready(child.unwrap(), port);
    let alice = FakeToken::new("pairwise-for-the-api").audience(&served.resource);
    let alice = issuer.mint(
        &alice
            .claim("oid", json!("alice-oid"))
            .claim("scp", json!("mcp")),
    );
    let link = connect_link(&served, &api, &alice);
    let (status, _, page) = Browser::new().open_as(&issuer, "alice-oid", &link);
    assert_eq!(status, 403, "{page}");
    let said = served.said_once(|said| said.contains("made for another person"));
    assert!(said.contains("--subject-claim oid"), "{said}");
}

#[test]
fn a_client_without_url_elicitation_reads_the_link_in_the_tool_error() {
    let (issuer, _gateway, api, served) = connect_server();
    let alice = issuer.mint(&FakeToken::new("alice").audience(&served.resource));
    let mut extra = json!({});
    extra["arguments"] = json!({"provider": "github", "url": format!("{}/user", api.url())});
    let answer = call_asking(&served, &alice, json!({}), extra, &[]);
    let said = text(&answer["result"]);
    assert_eq!(answer["result"]["isError"], json!(true), "{answer}");
    assert!(
        said.contains(&format!("{}/connect/", served.origin)),
        "{said}"
    );
    assert!(said.contains("a link only they can use"), "{said}");
    assert!(!said.contains("/fake/authorize"), "{said}");
}

/// A call held for the user answers on the Gateway's first check after
/// they consent: the server checks once a second, so the call answers
/// within a second of the consent. Counted in checks, not timed: the test
/// holds for any speed of machine.
#[test]
fn a_held_call_answers_on_the_first_check_after_consent() {
    let (issuer, gateway, api, served) = connect_server();
    let alice = issuer.mint(&FakeToken::new("alice").audience(&served.resource));
    let url = format!("{}/user", api.url());
    let fetch = |extra: Value| {
        let mut extra = extra;
        extra["arguments"] = json!({"provider": "github", "url": url});
        call_asking(
            &served,
            &alice,
            json!({"elicitation": {"url": {}}}),
            extra,
            &[],
        )
    };
    let first = fetch(json!({}));
    let result = &first["result"];
    let link = result["inputRequests"]["connect-github"]["params"]["url"]
        .as_str()
        .unwrap_or_else(|| panic!("{first}"));
    let (status, consent, page) = Browser::new().open_as(&issuer, "alice", link);
    assert_eq!(status, 302, "{page}");
    let state = result["requestState"].as_str().unwrap();
    let checks = || gateway.requests(Route::CheckConnection) + gateway.requests(Route::Token);
    let answered = std::thread::scope(|scope| {
        let accept = json!({"requestState": state,
            "inputResponses": {"connect-github": {"action": "accept"}}});
        let held = scope.spawn(|| fetch(accept));
        // The call is held once the server has asked, and been told "pending".
        while checks() == 0 {
            assert!(!held.is_finished(), "the call was not held");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(Browser::new().open(&consent.unwrap()).0, 200);
        let before = checks();
        let answered = held.join().unwrap();
        assert!(
            checks() - before <= 1,
            "{} checks after consent",
            checks() - before
        );
        answered
    });
    assert_eq!(answered["result"]["isError"], json!(false), "{answered}");
}

/// A confidential login client (`NEXUS_MCP_LOGIN_CLIENT_SECRET`): the
/// connect page exchanges its code with the secret. A server holding a
/// wrong secret, or none, completes no login and sends no one on: the
/// person is told only its operator can mend it, and the log names the
/// variable, never the secret.
#[test]
fn a_confidential_login_client_logs_in_with_its_secret_only() {
    let issuer = FakeIssuer::start();
    let (gateway, api) = (FakeGateway::start(), FakeUpstream::start());
    let github = FakeProvider::oauth2("gho_someone_else").api_base_url(&api.url());
    gateway.add_provider("ws-other", "github", github);
    let secret = "the-login-clients-secret";
    for (held, sent_on) in [
        (Some(secret), true),
        (Some("a-wrong-one"), false),
        (None, false),
    ] {
        let port = free_port();
        let callback = format!("http://127.0.0.1:{port}/connect/callback");
        issuer.add_confidential_client(CLIENT, &callback, secret);
        let mut command = command(&gateway, &issuer.url(), port, &CONNECT_ARGS);
        match held {
            Some(held) => command.env("NEXUS_MCP_LOGIN_CLIENT_SECRET", held),
            None => command.env_remove("NEXUS_MCP_LOGIN_CLIENT_SECRET"),
        };
        let served = Served::ready(command.spawn().unwrap(), port);
        let alice = issuer.mint(&FakeToken::new("alice").audience(&served.resource));
        let mut extra = json!({});
        extra["arguments"] = json!({"provider": "github", "url": format!("{}/user", api.url())});
        let said = text(&call_asking(&served, &alice, json!({}), extra, &[])["result"]);
        let link = link_in(&said, &served);
        let (status, consent, page) = Browser::new().open_as(&issuer, "alice", &link);
        if sent_on {
            assert_eq!(status, 302, "{page}");
        } else {
            // Only the operator can mend it: the person is told so, not
            // sent to open the link again; the log names the variable.
            assert_eq!((status, consent), (503, None), "{held:?}: {page}");
            assert!(page.contains("Tell whoever runs this server"), "{page}");
            assert!(!page.contains("Open the link again"), "{page}");
            let said = served.said_once(|said| said.contains("no login can complete"));
            assert!(said.contains("invalid_client"), "{said}");
            assert!(said.contains("NEXUS_MCP_LOGIN_CLIENT_SECRET"), "{said}");
            assert!(!served.said().contains(secret), "{held:?}");
        }
    }
}

/// A link lives no longer than the call's wait for the user
/// (`--connect-wait`): once that is over, the page refuses it. The test
/// waits two whole seconds past a one-second wait, whatever the machine's
/// speed (a link's expiry is kept to the second).
#[test]
fn an_expired_link_is_refused() {
    let (issuer, _gateway, api, served) = connect_server_with(&["--connect-wait", "1s"]);
    let alice = issuer.mint(&FakeToken::new("alice").audience(&served.resource));
    let mut extra = json!({});
    extra["arguments"] = json!({"provider": "github", "url": format!("{}/user", api.url())});
    let said = text(&call_asking(&served, &alice, json!({}), extra, &[])["result"]);
    let link = link_in(&said, &served);
    std::thread::sleep(std::time::Duration::from_secs(2));
    issuer.approve_as("alice");
    let (status, location, page) = Browser::new().open(&link);
    assert_eq!(
        (status, location),
        (400, None),
        "not even sent to log in: {page}"
    );
    assert!(page.contains("not valid"), "{page}");
}

/// The connect page's link in a tool error's text.
fn link_in(said: &str, served: &Served) -> String {
    let at = said
        .find(&format!("{}/connect/", served.origin))
        .unwrap_or_else(|| panic!("no link: {said}"));
    said[at..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect()
}

/// A 2025 client that declared no URL elicitation: a stateless server holds
/// no request to it, so the link comes in the tool error; once its person
/// consents, the call again answers.
#[test]
fn a_2025_client_reads_the_link_and_calls_again_after_consent() {
    let (issuer, _gateway, api, served) = connect_server();
    let alice = issuer.mint(&FakeToken::new("alice").audience(&served.resource));
    let bearer = format!("Bearer {alice}");
    let headers = [
        ("Authorization", bearer.as_str()),
        ("MCP-Protocol-Version", "2025-11-25"),
    ];
    let call = fetch_2025(&api);
    let (_, _, first) = served.post(&headers, &call);
    let said = text(&first["result"]);
    assert!(
        said.contains("your workspace") && !said.contains("`your workspace`"),
        "{said}"
    );
    let link = link_in(&said, &served);
    consent_and_call_again(&issuer, &served, &headers, &call, &link);
}

/// A 2025 client that declared URL elicitation at `initialize`: its session
/// id says so, on whichever replica its calls land, and a provider to
/// connect is answered `-32042` with the connect page as the elicitation;
/// once its person consents, the call again answers. A client that
/// declared form elicitation only is given an id that says not (the link
/// comes in a tool error); each names its client, as the audit line then
/// does; and there is no session to end (405).
#[test]
fn a_2025_client_that_takes_url_elicitation_meets_32042_then_calls_again() {
    let (issuer, _gateway, api, served) = connect_server();
    let alice = issuer.mint(&FakeToken::new("alice").audience(&served.resource));
    let bearer = format!("Bearer {alice}");
    let initialize = |elicitation: Value| {
        let params = json!({"protocolVersion": "2025-11-25", "capabilities":
            {"elicitation": elicitation}, "clientInfo": {"name": "t", "version": "1"}});
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": params});
        let (status, headers, answer) = served.post(&[("Authorization", &bearer)], &body);
        assert_eq!(status, 200, "{answer}");
        header(&headers, "mcp-session-id").map(str::to_owned)
    };
    // A form-only client's id names it but says no URL elicitation: its
    // call is answered with the link in a tool error, not -32042.
    let form = initialize(json!({"form": {}})).expect("a session id naming the client");
    let form_headers = [
        ("Authorization", bearer.as_str()),
        ("MCP-Protocol-Version", "2025-11-25"),
        ("Mcp-Session-Id", form.as_str()),
    ];
    let (_, _, answered) = served.post(&form_headers, &fetch_2025(&api));
    assert!(answered["error"].is_null(), "{answered}");
    assert_eq!(answered["result"]["isError"], json!(true), "{answered}");
    served.said_once(|said| said.contains("client=\"t\""));
    let session = initialize(json!({"url": {}})).expect("a session id");
    let headers = [
        ("Authorization", bearer.as_str()),
        ("MCP-Protocol-Version", "2025-11-25"),
        ("Mcp-Session-Id", session.as_str()),
    ];
    let call = fetch_2025(&api);
    let (status, _, first) = served.post(&headers, &call);
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["error"]["code"], json!(-32042), "{first}");
    let asked = &first["error"]["data"]["elicitations"][0];
    assert_eq!(asked["mode"], json!("url"), "{first}");
    assert!(
        asked["message"]
            .as_str()
            .unwrap()
            .contains("your workspace"),
        "{first}"
    );
    let link = asked["url"].as_str().unwrap();
    assert!(
        link.starts_with(&format!("{}/connect/", served.origin)),
        "{first}"
    );
    consent_and_call_again(&issuer, &served, &headers, &call, link);
    let ended = ureq::delete(&served.resource)
        .header("Authorization", &bearer)
        .header("MCP-Protocol-Version", "2025-11-25")
        .header("Mcp-Session-Id", &session)
        .config()
        .http_status_as_error(false)
        .build()
        .call()
        .unwrap();
    assert_eq!(ended.status(), 405);
}

/// A 2025 `authenticated_fetch` of the provider's `/user`.
fn fetch_2025(api: &FakeUpstream) -> Value {
    let arguments = json!({"provider": "github", "url": format!("{}/user", api.url())});
    json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "authenticated_fetch", "arguments": arguments}})
}

/// alice opens `link` (sent on to consent), consents, and `call` answers.
fn consent_and_call_again(
    issuer: &FakeIssuer,
    served: &Served,
    headers: &[(&str, &str)],
    call: &Value,
    link: &str,
) {
    let (status, consent, page) = Browser::new().open_as(issuer, "alice", link);
    assert_eq!(status, 302, "{page}");
    assert_eq!(Browser::new().open(&consent.unwrap()).0, 200);
    let (_, _, again) = served.post(headers, call);
    assert_eq!(again["result"]["isError"], json!(false), "{again}");
    assert!(text(&again["result"]).starts_with("HTTP 200"), "{again}");
}

/// The official clients (their OAuth providers, a URL elicitation handler
/// that is the user's browser) meet a provider their person has not
/// connected: on 2026-07-28 by an input request, on 2025-11-25 by `-32042`,
/// they are sent to the connect page, log in, consent, and the call answers.
fn official_client_connects(client: &str, era: &str) {
    let (_issuer, _gateway, api, served) = connect_server();
    let env = [("NEXUS_MCP_CONNECT", "1")];
    let summary = match client {
        "python" => served.reach_with_env(&api.url(), era, &env),
        _ => served.reach_v2_with_env(&api.url(), era, &env),
    };
    let version = summary["version"].as_str().unwrap();
    assert_eq!(version.starts_with("2026"), era == "2026", "{summary}");
    let links = summary["links"].as_array().unwrap();
    let page = format!("{}/connect/", served.origin);
    assert!(!links.is_empty(), "{summary}");
    assert!(
        links.iter().all(|l| l.as_str().unwrap().starts_with(&page)),
        "{summary}"
    );
    let fetched = &summary["results"][1];
    assert_eq!(fetched["is_error"], json!(false), "{summary}");
    assert!(
        fetched["text"].as_str().unwrap().starts_with("HTTP 200"),
        "{summary}"
    );
}

#[test]
#[ignore = "needs the official MCP Python client: NEXUS_MCP_PYTHON"]
fn the_official_python_client_connects_through_the_connect_page() {
    official_client_connects("python", "2026");
    official_client_connects("python", "2025");
}

#[test]
#[ignore = "needs the official MCP clients: npm ci --prefix nexus-mcp/tests/clients"]
fn the_official_typescript_v2_client_connects_through_the_connect_page() {
    official_client_connects("typescript", "2026");
    official_client_connects("typescript", "2025");
}
