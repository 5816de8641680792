//! What `serve --oauth-proxy` tells the person signing in, and that it is
//! true: the consent page shows a client's name with nothing that reorders
//! or hides it (a bidirectional override, a zero-width or control
//! character), and a redirect that is not https with its scheme, so that
//! `x-evil://claude.ai/…` never reads as returning to claude.ai; a
//! provider's refusal (Okta's unassigned person, Entra's AADSTS codes)
//! reaches the person in the provider's words, the host as
//! `access_denied` with its state and `iss`, and the operator as one line
//! naming what to change at the provider.

mod common;

use common::front::{authorize_url, field};
use common::served::{Browser, Served};
use nexus_gateway_fake::{FakeGateway, FakeIssuer};
use serde_json::json;

const PROXY: [&str; 3] = ["--oauth-proxy", "--login-client-id", "nexus-login"];

/// The consent page `served` shows for a client registered as `name` with
/// the one redirect `redirect`.
fn consent_page(served: &Served, name: &str, redirect: &str) -> String {
    let asked = json!({"client_name": name, "redirect_uris": [redirect]});
    let (status, _, client) = served.post_json("/register", &asked.to_string());
    assert_eq!(status, 201, "{client}");
    let id = client["client_id"].as_str().expect("a client id");
    let mut url = url::Url::parse(&authorize_url(&served.origin, id)).unwrap();
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    url.query_pairs_mut().clear().extend_pairs(
        pairs
            .iter()
            .map(|(k, v)| (k.as_str(), if k == "redirect_uri" { redirect } else { v })),
    );
    let (status, _, page) = Browser::new().open(url.as_str());
    assert_eq!(status, 200, "{page}");
    page
}

#[test]
fn the_consent_page_shows_a_name_that_cannot_lie_and_where_it_really_returns() {
    let (issuer, gateway) = (FakeIssuer::start(), FakeGateway::start());
    let served = Served::start(&gateway, &issuer, &PROXY);
    // "Trusted App" then, reversed by U+202E, a text that reads otherwise.
    let page = consent_page(
        &served,
        "Trusted App\u{202e}moc.elgoog",
        "https://claude.ai/cb",
    );
    assert!(!page.contains('\u{202e}'), "{page}");
    assert!(page.contains("Trusted App\u{fffd}moc.elgoog"), "{page}");
    for hidden in ["\u{200b}", "\u{2066}", "\u{0007}", "\u{feff}"] {
        let page = consent_page(
            &served,
            &format!("Host{hidden}Name"),
            "https://claude.ai/cb",
        );
        assert!(
            page.contains("Host\u{fffd}Name") && !page.contains(hidden),
            "{page}"
        );
    }
    // Where it returns: an https redirect's host; any other with its scheme.
    let page = consent_page(&served, "Host", "x-evil://claude.ai/cb");
    assert!(
        page.contains("returns to <b>x-evil://claude.ai</b>"),
        "{page}"
    );
    let page = consent_page(&served, "Host", "com.example.app:/oauth2redirect");
    assert!(
        page.contains("returns to <b>com.example.app:</b>"),
        "{page}"
    );
    let page = consent_page(&served, "Host", "https://claude.ai/api/mcp/auth_callback");
    assert!(page.contains("returns to <b>claude.ai</b>"), "{page}");
}

#[test]
fn a_providers_refusal_is_told_to_the_person_the_host_and_the_operator() {
    let (issuer, gateway) = (FakeIssuer::start_okta_org(), FakeGateway::start());
    let (served, origin) = common::front::proxy(&issuer, &gateway, &[]);
    let id = common::front::host(&served);
    let mut browser = Browser::new();
    let (_, _, page) = browser.open(&authorize_url(&origin, &id));
    let form = [("pending", field(&page, "pending"))];
    let (_, to_issuer, _) = browser.submit(&format!("{origin}/authorize"), &form);
    // Okta, for a person not assigned to the login client's application.
    let said = "User is not assigned to the client application. <script>x</script>";
    issuer.refuse_as("access_denied", said);
    let (_, back, _) = browser.open(&to_issuer.expect("to the issuer"));
    let (status, to, page) = browser.open(&back.expect("back to serve"));
    assert_eq!((status, to), (403, None), "{page}");
    assert!(
        page.contains("User is not assigned to the client application."),
        "{page}"
    );
    assert!(
        page.contains("&lt;script&gt;") && !page.contains("<script>"),
        "escaped: {page}"
    );
    // The host hears of it at its redirect, with its state and the issuer.
    let link = page
        .split("<a href=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next());
    let link = link
        .expect("a link back to the application")
        .replace("&amp;", "&");
    let back = url::Url::parse(&link).unwrap();
    assert!(link.starts_with("http://127.0.0.1:9/cb?"), "{link}");
    let query: std::collections::HashMap<_, _> = back.query_pairs().into_owned().collect();
    assert_eq!(query["error"], "access_denied");
    assert_eq!(query["state"], "s");
    assert_eq!(query["iss"], origin);
    assert!(
        query["error_description"].contains("not assigned"),
        "{query:?}"
    );
    // The operator reads one line: the provider's words and what to change.
    let said = served.said_once(|said| said.contains("the issuer refused"));
    let line = said
        .lines()
        .find(|l| l.contains("the issuer refused"))
        .unwrap();
    assert!(
        line.contains("access_denied: User is not assigned"),
        "{line}"
    );
    assert!(line.contains("assigns them to the application"), "{line}");
}

#[test]
fn a_refusal_that_is_not_the_logins_own_is_not_believed() {
    let (issuer, gateway) = (FakeIssuer::start(), FakeGateway::start());
    let served = Served::start(&gateway, &issuer, &PROXY);
    // A refusal whose state is not the login's: a forged answer, told as such.
    let forged = format!(
        "{}/connect/callback?error=access_denied&error_description=forged&state=x",
        served.origin
    );
    let (status, _, page) = Browser::new().open(&forged);
    assert_eq!(status, 400, "{page}");
    assert!(!page.contains("forged"), "{page}");
}
