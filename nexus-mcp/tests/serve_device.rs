//! The device authorization grant (RFC 8628, #127 4a), driven as a
//! headless agent drives it, from a plain HTTP client, and the person in a
//! browser: a confidential client registered for it asks at
//! `/device_authorization`; the person opens `/device`, types the code,
//! signs in afresh (the issuer is asked `max_age`, and the page needs its
//! `auth_time`), sees the agent, its scopes and how long it will act, and
//! allows or refuses it; the agent's poll is `authorization_pending`,
//! `slow_down` within the interval, then its tokens (or `access_denied`),
//! acting for that person within the agent's boundary. With three
//! replicas and a real Redis, each step on another replica; the session is
//! listed with the life the agent registered, and ended alone.

mod common;

use std::time::Duration;

use common::front::field;
use common::front::{
    called, called_beside, client_add, fetched, mark, operated, proxy, replica, stored,
    with_providers,
};
use common::served::Browser;
use serde_json::{Value, json};

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// A confidential client registered for the device grant at `origin`,
/// with `more`: its id and secret.
fn agent(origin: &str, more: &[&str]) -> (String, String) {
    let args = [&["--name", "Nightly", "--grant", "device-code"][..], more].concat();
    let made = client_add(origin, &args);
    let text = |field: &str| made[field].as_str().expect(field).to_owned();
    (text("client_id"), text("client_secret"))
}

/// What `POST {origin}{path}` answers `form` with the client's secret:
/// its status and JSON.
fn posted(
    origin: &str,
    path: &str,
    (id, secret): (&str, &str),
    form: &[(&str, &str)],
) -> (u16, Value) {
    let form = [form, &[("client_id", id), ("client_secret", secret)]].concat();
    let (status, _, body) = Browser::new().submit(&format!("{origin}{path}"), &form);
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// The agent's poll at `origin`'s `/token` with `device_code`.
fn poll(origin: &str, client: (&str, &str), device_code: &str) -> (u16, Value) {
    let form = [("grant_type", DEVICE_GRANT), ("device_code", device_code)];
    posted(origin, "/token", client, &form)
}

/// The poll's answer once the interval has passed (a poll within it is
/// `slow_down`: the agent waits a second and asks again, as RFC 8628
/// §3.5 asks).
fn polled_after_interval(origin: &str, client: (&str, &str), device_code: &str) -> (u16, Value) {
    for _ in 0..30 {
        let answer = poll(origin, client, device_code);
        if answer.1["error"] != "slow_down" {
            return answer;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    panic!("slow_down for 30 s");
}

/// The person answers the device's `verification_uri_complete` (at
/// `verify`) in a browser, signing in at the issuer (who approves them):
/// allowing it, or refusing it; what the last page says.
fn answered(verify: &str, allow: bool) -> String {
    let public = url::Url::parse(verify)
        .unwrap()
        .origin()
        .ascii_serialization();
    answered_at(verify, &public, allow)
}

/// [`answered`], the server public at `public` (a replica behind a load
/// balancer, its forms sent from that origin).
fn answered_at(verify: &str, public: &str, allow: bool) -> String {
    let mut browser = Browser::new();
    let (status, _, typed) = browser.open(verify);
    assert_eq!(status, 200, "{typed}");
    let code = field(&typed, "user_code").to_owned();
    let at = url::Url::parse(verify).unwrap();
    let device = format!("{}device", at.join("/").unwrap());
    let (_, to_issuer, page) = browser.submit_from(public, &device, &[("user_code", &code)]);
    let to_issuer = to_issuer.unwrap_or_else(|| panic!("to the issuer: {page}"));
    assert!(
        to_issuer.contains("max_age="),
        "a fresh sign-in: {to_issuer}"
    );
    let (_, back, _) = browser.open(&to_issuer);
    let (status, _, consent) = browser.open(&back.expect("back to serve"));
    assert_eq!(status, 200, "{consent}");
    assert!(
        consent.contains("Nightly") && consent.contains("github:read"),
        "{consent}"
    );
    let authorize = format!("{public}/device/answer");
    assert!(consent.contains("action=/device/answer"), "{consent}");
    let mut form = vec![("pending", field(&consent, "pending"))];
    if !allow {
        form.push(("answer", "deny"));
    }
    let (_, _, said) = browser.submit_from(public, &authorize, &form);
    said
}

#[test]
fn a_headless_agent_acts_for_the_person_who_typed_its_code_and_a_refusal_is_told() {
    let (issuer, gateway, api) = with_providers("alice", &["github"]);
    let (served, origin) = proxy(
        &issuer,
        &gateway,
        &["--allow-write", "--scope", "mcp.tools"],
    );
    let (_, _, metadata) = served.get("/.well-known/oauth-authorization-server");
    assert_eq!(
        metadata["device_authorization_endpoint"],
        format!("{origin}/device_authorization")
    );
    assert!(
        metadata["grant_types_supported"]
            .to_string()
            .contains(DEVICE_GRANT)
    );
    let (id, secret) = agent(&origin, &["--scope", "github:read", "--session-life", "2h"]);
    let nightly = (id.as_str(), secret.as_str());
    let (status, device) = posted(&origin, "/device_authorization", nightly, &[]);
    assert_eq!(status, 200, "{device}");
    let user_code = device["user_code"].as_str().unwrap();
    assert!(
        user_code.len() == 9 && user_code.as_bytes()[4] == b'-',
        "{device}"
    );
    assert_eq!(device["verification_uri"], format!("{origin}/device"));
    assert_eq!(
        (device["expires_in"].as_u64(), device["interval"].as_u64()),
        (Some(600), Some(5))
    );
    let device_code = device["device_code"].as_str().unwrap();
    // Before the person answers: pending, and too fast is slow_down.
    let (status, answer) = poll(&origin, nightly, device_code);
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("authorization_pending"))
    );
    let (_, answer) = poll(&origin, nightly, device_code);
    assert_eq!(answer["error"], "slow_down", "{answer}");
    issuer.approve_as("alice");
    let verify = device["verification_uri_complete"].as_str().unwrap();
    let said = answered(verify, true);
    assert!(said.contains("Allowed"), "{said}");
    let (status, tokens) = polled_after_interval(&origin, nightly, device_code);
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["scope"], "mcp.tools github:read", "{tokens}");
    assert!(tokens["refresh_token"].is_string(), "{tokens}");
    // It acts for Alice, within its boundary, named in the line.
    let access = tokens["access_token"].as_str().unwrap();
    let url = format!("{}/repos/acme/x", api.url());
    let (status, _, answer) = fetched(&served, access, json!({"provider": "github", "url": url}));
    assert!(
        status == 200 && answer["result"]["isError"] == false,
        "{answer}"
    );
    served.said_once(|said| said.contains("agent=\"Nightly\""));
    let post = json!({"provider": "github", "url": url, "method": "POST"});
    assert_eq!(fetched(&served, access, post).0, 403);
    // The code is spent: polled again, refused.
    let (_, again) = polled_after_interval(&origin, nightly, device_code);
    assert_eq!(again["error"], "invalid_grant", "{again}");
    // A user code is taken once: typed again, unknown.
    let mut browser = Browser::new();
    let (status, _, page) =
        browser.submit(&format!("{origin}/device"), &[("user_code", user_code)]);
    assert!(
        status == 400 && page.contains("not one waiting here"),
        "{page}"
    );
    // Refused by the person: access_denied.
    let (_, device) = posted(&origin, "/device_authorization", nightly, &[]);
    let device_code = device["device_code"].as_str().unwrap();
    issuer.approve_as("alice");
    let said = answered(device["verification_uri_complete"].as_str().unwrap(), false);
    assert!(said.contains("Refused"), "{said}");
    let (_, answer) = polled_after_interval(&origin, nightly, device_code);
    assert_eq!(answer["error"], "access_denied", "{answer}");
    // Another client's code, a client not registered for it, a scope beyond.
    let (other_id, other_secret) = agent(&origin, &[]);
    let (_, answer) = poll(&origin, (&other_id, &other_secret), device_code);
    assert_eq!(answer["error"], "invalid_grant", "{answer}");
    let plain = client_add(&origin, &["--name", "Plain"]);
    let plain = (
        plain["client_id"].as_str().unwrap(),
        plain["client_secret"].as_str().unwrap(),
    );
    let (_, answer) = posted(&origin, "/device_authorization", plain, &[]);
    assert_eq!(answer["error"], "unauthorized_client", "{answer}");
    let (_, answer) = posted(
        &origin,
        "/device_authorization",
        nightly,
        &[("scope", "github:write")],
    );
    assert_eq!(answer["error"], "invalid_scope", "{answer}");
    let (_, answer) = poll(&origin, nightly, "not-a-device-code");
    assert_eq!(answer["error"], "expired_token", "{answer}");
    // Entry is rate-limited (RFC 8628 §5.1): past 600 codes typed in a
    // minute, a code is refused unread, a right one too.
    let (_, device) = posted(&origin, "/device_authorization", nightly, &[]);
    let right = device["user_code"].as_str().unwrap();
    let at = format!("{origin}/device");
    let typed = |code: &str| Browser::new().submit(&at, &[("user_code", code)]).0;
    // Three codes were typed above (the 598th wrong one is the 601st, where
    // they are still within the minute).
    let statuses: Vec<u16> = (0..600).map(|_| typed("BBBB-BBBB")).collect();
    let first = statuses.iter().position(|status| *status == 429);
    let first = first.unwrap_or(statuses.len());
    assert!(first >= 597, "{:?}", &statuses[590..]);
    assert!(statuses[..first].iter().all(|status| *status == 400));
    assert_eq!(typed(right), 429, "past the limit, a right code too");
}

#[test]
#[ignore = "needs redis-server from the distribution (NEXUS_REDIS; .ci/run installs it)"]
fn each_step_on_another_replica_and_the_session_lives_as_the_agent_registered() {
    let (_redis, issuer, gateway, store) = stored();
    let args = ["--store", store.as_str()];
    let (one, origin) = proxy(&issuer, &gateway, &args);
    let (two, two_origin) = replica(&issuer, &gateway, &origin, &args);
    let (three, three_origin) = replica(&issuer, &gateway, &origin, &args);
    let (id, secret) = agent(&origin, &["--scope", "github:read", "--session-life", "2h"]);
    let nightly = (id.as_str(), secret.as_str());
    let (status, device) = posted(&origin, "/device_authorization", nightly, &[]);
    assert_eq!(status, 200, "{device}");
    let device_code = device["device_code"].as_str().unwrap();
    let code = device["user_code"].as_str().unwrap();
    issuer.approve_as("alice");
    let said = answered_at(
        &format!("{two_origin}/device?user_code={code}"),
        &origin,
        true,
    );
    assert!(said.contains("Allowed"), "{said}");
    let (status, tokens) = polled_after_interval(&three_origin, nightly, device_code);
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(called(&one, &tokens), 200);
    // Listed with the life it registered: two hours from its grant.
    let issuer_url = issuer.url();
    // Its last call listed too, once the replica has said it to the store.
    let listed = || common::front::sessions(&issuer_url, "alice", &store);
    common::served::wait_until(|| !listed().contains("last=none"));
    let listed = listed();
    assert!(listed.contains("agent=\"Nightly\""), "{listed}");
    let words = listed.split(|c: char| c == '=' || c.is_whitespace());
    let times: Vec<&str> = words.filter(|w| w.ends_with('Z')).collect();
    let at = |text: &str| {
        chrono::DateTime::parse_from_rfc3339(text)
            .expect("a time")
            .timestamp()
    };
    let life = at(times[1]) - at(times[0]);
    // From the person's answer to the agent's poll, a few seconds more.
    assert!((2 * 3600..2 * 3600 + 60).contains(&life), "{listed}");
    assert!(
        at(times[2]) >= at(times[0]),
        "the last call after the grant: {listed}"
    );
    // Ended alone, on every replica.
    let person = [
        "revoke",
        "--person",
        issuer_url.as_str(),
        "alice",
        "--client",
        &mark(&id)[..12],
        "--store",
        &store,
    ];
    operated(&person, &[]);
    common::served::wait_until(|| {
        called(&one, &tokens) == 401
            && called_beside(&two, &origin, &tokens) == 401
            && called_beside(&three, &origin, &tokens) == 401
    });
}

#[test]
fn a_person_the_deny_file_names_gets_an_agent_no_token_and_its_poll_ends() {
    let (issuer, gateway, _api) = with_providers("alice", &["github"]);
    let dir = tempfile::tempdir().expect("a directory");
    let deny = dir.path().join("deny");
    std::fs::write(&deny, format!("{} alice\n", issuer.url())).expect("the deny file");
    let deny_file = deny.display().to_string();
    let args = ["--scope", "mcp.tools", "--deny-file", deny_file.as_str()];
    let (_served, origin) = proxy(&issuer, &gateway, &args);
    let (id, secret) = agent(&origin, &["--scope", "github:read"]);
    let nightly = (id.as_str(), secret.as_str());
    let (_, device) = posted(&origin, "/device_authorization", nightly, &[]);
    let device_code = device["device_code"].as_str().expect("a device code");
    issuer.approve_as("alice");
    answered(device["verification_uri_complete"].as_str().unwrap(), true);
    let (status, answer) = polled_after_interval(&origin, nightly, device_code);
    assert_eq!(status, 400, "no token for a denied person: {answer}");
    assert!(answer.get("access_token").is_none(), "{answer}");
    assert_ne!(
        answer["error"], "authorization_pending",
        "the poll ends: {answer}"
    );
    let said = answer["error_description"].as_str().unwrap_or_default();
    assert!(said.contains("denied"), "{answer}");
}
