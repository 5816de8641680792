//! `serve --oauth-proxy`: a sign-in bound to the browser it began in. A
//! page of a sibling host of the team's site (or a plain-http page on the
//! network path) can plant cookies that a browser sends to `serve` too,
//! and can submit a form to it; neither may make a victim's sign-in
//! deliver a code to another person's application. The test's browser
//! keeps cookies as a browser does (`__Host-` rules included).

mod common;

use common::front::{authorize_url, field};
use common::served::{Browser, Served};
use nexus_gateway_fake::{FakeGateway, FakeIssuer};

/// `serve --oauth-proxy` in front of a fake issuer, and the id of a client
/// an attacker registered (its redirect http://127.0.0.1:9/cb).
fn proxy() -> (FakeIssuer, FakeGateway, Served, String, String) {
    let (issuer, gateway) = (FakeIssuer::start(), FakeGateway::start());
    let (served, origin) = common::front::proxy(&issuer, &gateway, &[]);
    let id = common::front::host(&served);
    (issuer, gateway, served, origin, id)
}

/// Follows `browser` from an answer's `Location` until it leaves `serve`
/// and the issuer: where it was sent last, and the page it ended on.
fn followed(browser: &mut Browser, mut to: Option<String>) -> (Option<String>, String) {
    let mut page = String::new();
    for _ in 0..6 {
        let Some(at) = to.take() else { break };
        if at.starts_with("http://127.0.0.1:9/") {
            return (Some(at), page);
        }
        let (_, next, shown) = browser.open(&at);
        (to, page) = (next, shown);
    }
    (None, page)
}

/// Whether the victim's sign-in ended with a code at the attacker's client.
fn delivered_a_code(ended: &(Option<String>, String)) -> bool {
    ended.0.as_deref().is_some_and(|to| to.contains("code="))
}

#[test]
fn a_consent_cookie_planted_by_a_sibling_host_binds_no_victims_sign_in() {
    let (issuer, _gateway, served, origin, id) = proxy();
    // The attacker opens the consent page for their own client.
    let mut attacker = Browser::new();
    let (status, _, page) = attacker.open(&authorize_url(&origin, &id));
    assert_eq!(status, 200, "{page}");
    let pending = field(&page, "pending").to_owned();
    // A page of theirs on a sibling host plants the cookies they were given
    // in the victim's browser; the victim then submits the form from
    // serve's own origin (the worst case: the form's origin is right).
    let mut victim = Browser::new();
    for cookie in attacker.cookies() {
        victim.plant_from_sibling(&cookie);
    }
    issuer.approve_as("victim");
    let form = [("pending", pending.as_str())];
    let (status, to, page) = victim.submit(&format!("{origin}/authorize"), &form);
    let ended = followed(&mut victim, to);
    assert!(
        !delivered_a_code(&ended),
        "the victim's sign-in went to the attacker's client: {ended:?}"
    );
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("expired"), "{page}");
    drop(served);
}

#[test]
fn a_consent_form_sent_from_another_origin_is_refused_whatever_its_cookie() {
    let (_issuer, _gateway, served, origin, id) = proxy();
    let mut browser = Browser::new();
    let (_, _, page) = browser.open(&authorize_url(&origin, &id));
    let form = [("pending", field(&page, "pending"))];
    let action = format!("{origin}/authorize");
    for from in ["https://sibling.example.test", "null", "http://127.0.0.1:9"] {
        let (status, to, page) = browser.submit_from(from, &action, &form);
        assert_eq!((status, to), (403, None), "from {from}: {page}");
        assert!(page.contains("not sent from this server"), "{page}");
    }
    let said = served.said_once(|log| log.contains("another origin"));
    assert!(said.contains("https://sibling.example.test"), "{said}");
    // From its own page, the same form is taken.
    let (status, to_issuer, _) = browser.submit(&action, &form);
    assert_eq!(status, 303);
    assert!(to_issuer.is_some_and(|to| to.starts_with("http://127.0.0.1")));
}

#[test]
fn a_login_cookie_planted_by_a_sibling_host_sends_no_victims_sign_in_elsewhere() {
    let (issuer, _gateway, served, origin, id) = proxy();
    // The attacker allows their own client and is sent to sign in: their
    // browser now holds the login's cookie, the issuer's URL its state.
    let mut attacker = Browser::new();
    let (_, _, page) = attacker.open(&authorize_url(&origin, &id));
    let form = [("pending", field(&page, "pending"))];
    let (_, to_issuer, _) = attacker.submit(&format!("{origin}/authorize"), &form);
    let to_issuer = to_issuer.expect("to the issuer");
    // Planted in the victim's browser, and the victim sent to that URL:
    // the victim signs in at the issuer, which sends them back to serve.
    let mut victim = Browser::new();
    for cookie in attacker.cookies() {
        victim.plant_from_sibling(&cookie);
    }
    issuer.approve_as("victim");
    let ended = followed(&mut victim, Some(to_issuer));
    assert!(
        !delivered_a_code(&ended),
        "the victim's sign-in went to the attacker's client: {ended:?}"
    );
    assert!(ended.1.contains("expired"), "{ended:?}");
    drop(served);
}

#[test]
fn every_cookie_serve_sets_for_a_flow_is_host_only_secure_and_http_only() {
    let (issuer, _gateway, served, origin, id) = proxy();
    let mut browser = Browser::new();
    let sign_in = |browser: &mut Browser| {
        let (status, to, page) = browser.open(&authorize_url(&origin, &id));
        let to = match status {
            200 => {
                let form = [("pending", field(&page, "pending"))];
                browser.submit(&format!("{origin}/authorize"), &form).1
            }
            _ => to,
        };
        issuer.approve_as("alice");
        let (_, back, _) = browser.open(&to.expect("to the issuer"));
        let (_, to_host, _) = browser.open(&back.expect("back"));
        assert!(to_host.is_some_and(|to| to.contains("code=")));
    };
    // Asked, then remembered: the consent's, the login's and the
    // remembered consents' cookies, each set at least once.
    sign_in(&mut browser);
    sign_in(&mut browser);
    let set = &browser.received;
    let mut names: Vec<&str> = set.iter().filter_map(|c| c.split('=').next()).collect();
    names.sort();
    names.dedup();
    assert_eq!(
        names,
        [
            "__Host-nexus_connect",
            "__Host-nexus_consent",
            "__Host-nexus_consented"
        ],
        "{set:?}"
    );
    for cookie in set {
        for attribute in ["; Path=/;", "; Secure", "; HttpOnly", "; SameSite=Lax"] {
            assert!(cookie.contains(attribute), "{attribute}: {cookie}");
        }
        assert!(!cookie.to_ascii_lowercase().contains("domain="), "{cookie}");
    }
    drop(served);
}

/// `method url` with exactly `cookie` as its `Cookie` header (and a form,
/// from `url`'s own origin, when there is one), as no browser holding
/// `__Host-` cookies sends it: the status, the `Location`, the page.
fn sent_with(
    url: &str,
    cookie: &str,
    form: Option<&[(&str, &str)]>,
) -> (u16, Option<String>, String) {
    let agent: ureq::Agent = (ureq::Agent::config_builder())
        .max_redirects(0)
        .http_status_as_error(false)
        .build()
        .into();
    let answer = match form {
        Some(form) => {
            let origin = url::Url::parse(url).unwrap().origin().ascii_serialization();
            let request = agent
                .post(url)
                .header("Origin", origin)
                .header("Cookie", cookie);
            request.send_form(form.iter().copied())
        }
        None => agent.get(url).header("Cookie", cookie).call(),
    };
    let mut answer = answer.expect("an answer");
    let location = answer
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned());
    let page = answer.body_mut().read_to_string().unwrap_or_default();
    (answer.status().as_u16(), location, page)
}

/// The `name=value` of `browser`'s cookie `name`.
fn kept(browser: &Browser, name: &str) -> String {
    let cookies = browser.cookies();
    let found = cookies.iter().find(|c| c.starts_with(&format!("{name}=")));
    found.expect(name).split(';').next().unwrap().to_owned()
}

#[test]
fn a_request_carrying_two_flow_cookies_of_one_name_is_refused_whichever_comes_first() {
    let (issuer, _gateway, served, origin, id) = proxy();
    // Two browsers' consent pages: each holds a consent cookie of its own.
    let (mut own, mut other) = (Browser::new(), Browser::new());
    let (_, _, page) = own.open(&authorize_url(&origin, &id));
    let pending = field(&page, "pending").to_owned();
    other.open(&authorize_url(&origin, &id));
    let (mine, theirs) = (
        kept(&own, "__Host-nexus_consent"),
        kept(&other, "__Host-nexus_consent"),
    );
    let action = format!("{origin}/authorize");
    let form = [("pending", pending.as_str())];
    for twice in [
        format!("{mine}; {theirs}"),
        format!("{theirs}; {mine}"),
        format!("{mine}; {mine}"),
    ] {
        let (status, to, page) = sent_with(&action, &twice, Some(&form));
        assert_eq!((status, to), (400, None), "{twice}: {page}");
        assert!(page.contains("start again"), "{page}");
    }
    // The same form with its one cookie goes on to the issuer, which sends
    // the person back; the callback then carries the login's cookie twice.
    let (status, to_issuer, page) = own.submit(&action, &form);
    assert_eq!(status, 303, "{page}");
    let login = kept(&own, "__Host-nexus_connect");
    issuer.approve_as("alice");
    let (_, back, _) = own.open(&to_issuer.expect("to the issuer"));
    let back = back.expect("back to serve");
    let stale = login.replace('=', "=x");
    for twice in [
        format!("{login}; {login}"),
        format!("{stale}; {login}"),
        format!("{login}; {stale}"),
    ] {
        let (status, to, page) = sent_with(&back, &twice, None);
        assert_eq!((status, to), (400, None), "{twice}: {page}");
        assert!(page.contains("start again"), "{page}");
    }
    drop(served);
}
