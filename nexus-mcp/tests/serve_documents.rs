//! `serve --oauth-proxy` and client ID metadata documents, through the
//! built program: a host whose client id is its document's URL signs a
//! person in; each document a stranger could use against the server (huge,
//! slow, redirecting, naming another client or redirect, on a private
//! address or over http) is refused on this server's page, the why in the
//! log, and a private address is never connected to.

mod common;

use common::front::{authorize_url, field};
use common::served::{Browser, Served, command, free_port};
use nexus_gateway_fake::{FakeGateway, FakeIssuer, FakeProvider, FakeReply, FakeUpstream};
use serde_json::json;

/// `serve --oauth-proxy` trusting `trusted` for documents (none: public
/// https alone), its login client registered at `issuer`; and its origin.
fn proxy(issuer: &FakeIssuer, gateway: &FakeGateway, trusted: Option<&str>) -> (Served, String) {
    let port = free_port();
    let origin = format!("http://127.0.0.1:{port}");
    issuer.add_client("nexus-login", &format!("{origin}/connect/callback"));
    let mut args = vec!["--oauth-proxy", "--login-client-id", "nexus-login"];
    args.extend(
        trusted
            .map(|t| ["--oauth-client-document-origin", t])
            .into_iter()
            .flatten(),
    );
    let child = command(gateway, &issuer.url(), port, &args).spawn();
    (Served::ready(child.expect("nexus-mcp"), port), origin)
}

/// A host's document at `api`'s `/client.json`, naming `id` and `redirect`.
fn document(id: &str, redirect: &str) -> FakeReply {
    let body = json!({"client_id": id, "client_name": "Doc Host", "redirect_uris": [redirect]});
    FakeReply::new(200)
        .header("Content-Type", "application/json")
        .body(body.to_string())
}

#[test]
fn a_host_whose_client_id_is_its_documents_url_signs_a_person_in() {
    let (issuer, gateway, api) = (
        FakeIssuer::start(),
        FakeGateway::start(),
        FakeUpstream::start(),
    );
    let workspace = common::served::workspace_of(&issuer.url(), "alice");
    gateway.add_provider(&workspace, "github", FakeProvider::oauth2("gho_alice"));
    let id = format!("{}/client.json", api.url());
    api.set_reply("/client.json", document(&id, "http://127.0.0.1:9/cb"));
    let (served, origin) = proxy(&issuer, &gateway, Some(&api.url()));
    let (_, _, metadata) = served.get("/.well-known/oauth-authorization-server");
    assert_eq!(
        metadata["client_id_metadata_document_supported"],
        json!(true)
    );
    let mut browser = Browser::new();
    let (status, _, page) = browser.open(&authorize_url(&origin, &id));
    assert!(
        status == 200 && page.contains("Doc Host"),
        "{status} {page}"
    );
    let allow = [("pending", field(&page, "pending"))];
    let (_, to_issuer, _) = browser.submit(&format!("{origin}/authorize"), &allow);
    let (_, back, _) = browser.open(&to_issuer.expect("to the issuer"));
    let (_, to_host, _) = browser.open(&back.expect("back to serve"));
    let to_host = url::Url::parse(&to_host.expect("to the host")).unwrap();
    let code = to_host
        .query_pairs()
        .find(|(k, _)| k == "code")
        .expect("a code")
        .1;
    let form = common::front::redemption(&id, &code);
    let (status, _, tokens) = Browser::new().submit(&format!("{origin}/token"), &form);
    assert_eq!(status, 200, "{tokens}");
    let tokens: serde_json::Value = serde_json::from_str(&tokens).unwrap();
    let (status, listed) = served.call(
        tokens["access_token"].as_str().unwrap(),
        "list_providers",
        json!({}),
    );
    assert!(
        status == 200 && listed.to_string().contains("github"),
        "{listed}"
    );
}

#[test]
fn a_document_a_stranger_could_use_is_refused_on_this_servers_page_and_the_log_says_why() {
    let (issuer, gateway, api) = (
        FakeIssuer::start(),
        FakeGateway::start(),
        FakeUpstream::start(),
    );
    let (served, origin) = proxy(&issuer, &gateway, Some(&api.url()));
    let id = format!("{}/client.json", api.url());
    let cases: [(FakeReply, &str); 6] = [
        (
            FakeReply::new(200).body(vec![b' '; 6 << 10]),
            "weighs more than 5120 bytes",
        ),
        (
            FakeReply::new(302).header("Location", "https://elsewhere.example/c.json"),
            "it redirects",
        ),
        (
            document("https://other.example/client.json", "http://127.0.0.1:9/cb"),
            "client_id is not its own URL",
        ),
        (
            document(&id, "http://127.0.0.1:8/elsewhere"),
            "not one this client registered",
        ),
        (FakeReply::new(404), "it answers 404"),
        (FakeReply::new(200).body("<html>"), "not a JSON object"),
    ];
    // Each at a URL of its own: a good document is kept a while once read.
    for (n, (reply, why)) in cases.into_iter().enumerate() {
        let path = format!("/client-{n}.json");
        let reply = match why {
            "not one this client registered" => document(
                &format!("{}{path}", api.url()),
                "http://127.0.0.1:8/elsewhere",
            ),
            _ => reply,
        };
        api.set_reply(&path, reply);
        let at = format!("{}{path}", api.url());
        let (status, _, page) = Browser::new().open(&authorize_url(&origin, &at));
        assert_eq!(status, 400, "{why}: {page}");
        served.said_once(|said| said.contains(why));
    }
    // One that does not answer: refused when its time is up, never hung on.
    api.set_reply("/client.json", document(&id, "http://127.0.0.1:9/cb"));
    let held = api.hold_next();
    let (status, _, _) = Browser::new().open(&authorize_url(&origin, &id));
    assert_eq!(status, 400);
    served.said_once(|said| said.contains("did not answer within 5 s"));
    drop(held);
}

#[test]
fn a_document_on_a_private_address_or_over_plain_http_is_never_fetched() {
    let (issuer, gateway, api) = (
        FakeIssuer::start(),
        FakeGateway::start(),
        FakeUpstream::start(),
    );
    let (served, origin) = proxy(&issuer, &gateway, None);
    let port = api.url().rsplit(':').next().unwrap().to_owned();
    for (id, why) in [
        (
            format!("https://127.0.0.1:{port}/client.json"),
            "resolves to no public address",
        ),
        (
            format!("https://localhost:{port}/client.json"),
            "resolves to no public address",
        ),
        (
            format!("https://[::ffff:127.0.0.1]:{port}/client.json"),
            "resolves to no public address",
        ),
        (
            format!("{}/client.json", api.url()),
            "a client id URL is https",
        ),
        (format!("https://127.0.0.1:{port}/"), "has a path"),
    ]
    .into_iter()
    .chain(
        // IPv6's forms of a loopback, private or translated network:
        // IPv4-compatible, local-use NAT64, 6to4, site-local, Teredo.
        [
            "::7f00:1",
            "64:ff9b:1::7f00:1",
            "2002:7f00:1::1",
            "fec0::1",
            "2001:0:4136:e378:8000:63bf:80ff:fffe",
        ]
        .map(|ip| {
            let id = format!("https://[{ip}]:{port}/client.json");
            (id, "resolves to no public address")
        }),
    ) {
        let (status, _, page) = Browser::new().open(&authorize_url(&origin, &id));
        assert_eq!(status, 400, "{id}: {page}");
        let said = served.said_once(|said| {
            said.lines()
                .any(|line| line.contains(&id) && line.contains(why))
        });
        let line = said
            .lines()
            .find(|line| line.contains(&id) && line.contains(why));
        let named = line.is_some_and(|line| line.contains("--oauth-client-document-origin"));
        assert!(
            named || why == "has a path",
            "the flag that trusts it: {line:?}"
        );
    }
    assert_eq!(
        api.connections(),
        0,
        "nothing connected to the private address"
    );
}

#[test]
fn one_addresss_slow_documents_whatever_their_ports_leave_another_hosts_sign_in_its_fetch() {
    let (issuer, gateway) = (FakeIssuer::start(), FakeGateway::start());
    // Four origins of one address (its ports; subdomains resolve alike),
    // and an honest host at another.
    let slow: Vec<FakeUpstream> = (0..4).map(|_| FakeUpstream::start()).collect();
    let honest = FakeUpstream::start_on("127.0.0.2:0").expect("127.0.0.2 is loopback too");
    let port = free_port();
    let origin = format!("http://127.0.0.1:{port}");
    issuer.add_client("nexus-login", &format!("{origin}/connect/callback"));
    let mut args = vec!["--oauth-proxy", "--login-client-id", "nexus-login"];
    let trusted: Vec<String> = slow
        .iter()
        .chain([&honest])
        .map(FakeUpstream::url)
        .collect();
    for url in &trusted {
        args.extend(["--oauth-client-document-origin", url.as_str()]);
    }
    let child = command(&gateway, &issuer.url(), port, &args).spawn();
    let served = Served::ready(child.expect("nexus-mcp"), port);
    // Each origin asks 4 times at once (16: every fetch slot), each
    // document held unanswered.
    let holds: Vec<_> = (slow.iter())
        .flat_map(|s| (0..4).map(|_| s.hold_next()))
        .collect();
    let asking: Vec<_> = (slow.iter().enumerate())
        .flat_map(|(o, upstream)| (0..4).map(move |n| (o, n, upstream)))
        .map(|(o, n, upstream)| {
            let id = format!("{}/client-{o}-{n}.json", upstream.url());
            let path = format!("/client-{o}-{n}.json");
            upstream.set_reply(&path, document(&id, "http://127.0.0.1:9/cb"));
            let url = authorize_url(&origin, &id);
            std::thread::spawn(move || Browser::new().open(&url))
        })
        .collect();
    // Four reach the address, whichever ports they name (waited for: each
    // is seen there); the other twelve are told to try again at once.
    served.said_once(|said| {
        said.matches("client documents of hosts at 127.0.0.1")
            .count()
            == 12
    });
    let reached = || slow.iter().map(FakeUpstream::request_count).sum::<usize>();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while reached() < 4 && std::time::Instant::now() < deadline {
        std::thread::yield_now();
    }
    assert_eq!(
        reached(),
        4,
        "a quarter of the fetches for one address, no more"
    );
    // Meanwhile another host's document is fetched and its sign-in goes on.
    let id = format!("{}/client.json", honest.url());
    honest.set_reply("/client.json", document(&id, "http://127.0.0.1:9/cb"));
    let (status, _, page) = Browser::new().open(&authorize_url(&origin, &id));
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Doc Host"), "its consent page: {page}");
    // Released, the four held ones answer (their consent page, or refused
    // when their five seconds ran out first); the twelve were told to try
    // again, never that the application cannot be used.
    drop(holds);
    let answered: Vec<(u16, Option<String>, String)> = asking
        .into_iter()
        .map(|a| a.join().expect("an answer"))
        .collect();
    let busy: Vec<_> = answered.iter().filter(|(s, _, _)| *s == 503).collect();
    assert_eq!(busy.len(), 12, "{answered:?}");
    assert!(
        busy.iter().all(|(_, _, page)| page.contains("Try again")),
        "{busy:?}"
    );
    // The honest document, good, is kept: a second sign-in fetches nothing.
    let before = honest.request_count();
    let (status, _, _) = Browser::new().open(&authorize_url(&origin, &id));
    assert_eq!((status, honest.request_count()), (200, before), "kept");
}
