//! What `nexus-mcp serve` (the built program) tells its operator of its
//! own configuration: `--check` says every failing check, one line each,
//! whatever failed first, and a scope an issuer listing only OpenID's own
//! scopes leaves out as a note; the start notes a `--scope` the issuer does not
//! list, and a metrics listener anyone may reach; every request sent to
//! the Gateway is counted, by route, whatever the log level.

mod common;

use common::served::{Served, command, fakes, free_port, token};
use nexus_gateway_fake::{FakeGateway, FakeIssuer, FakeProvider, Fault, Route};
use serde_json::json;

#[test]
fn check_says_every_failing_check_a_short_keyring_hiding_none() {
    let (issuer, gateway) = (FakeIssuer::start(), FakeGateway::start());
    gateway.require_api_key("sk_right");
    let args = ["--scope", "files.read", "--check"];
    let out = command(&gateway, &issuer.url(), free_port(), &args)
        .env("NEXUS_MCP_STATE_KEY", "short")
        .env("NEXUS_API_KEY", "sk_wrong")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{said}");
    let lines: Vec<&str> = said.lines().filter(|l| l.contains("--check:")).collect();
    assert_eq!(lines.len(), 3, "{said}");
    assert!(lines[0].contains("NEXUS_MCP_STATE_KEY"), "{said}");
    assert!(lines[1].contains("NEXUS_API_KEY"), "{said}");
    // The issuer lists OpenID's own scopes alone, as Entra ID does: a note.
    assert!(
        lines[2].contains("--scope files.read") && lines[2].contains("a note"),
        "{said}"
    );
    assert!(
        !said.contains("short") && !said.contains("sk_wrong"),
        "{said}"
    );
}

#[test]
fn check_passes_a_scope_an_issuer_listing_only_openid_scopes_leaves_out_with_a_note() {
    let (issuer, gateway) = (FakeIssuer::start(), FakeGateway::start());
    let args = ["--scope", "api://nexus-mcp/mcp.tools", "--check"];
    let out = command(&gateway, &issuer.url(), free_port(), &args)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "an Entra rollout starts: {said}"
    );
    let noted: Vec<&str> = said.lines().filter(|l| l.contains("mcp.tools")).collect();
    assert_eq!(noted.len(), 1, "{said}");
    assert!(noted[0].contains("only OpenID's own scopes"), "{said}");
    assert!(said.contains("the configuration holds"), "{said}");
}

#[test]
fn the_start_notes_a_scope_the_issuer_does_not_list_and_metrics_anyone_may_reach() {
    let (issuer, gateway) = (FakeIssuer::start(), FakeGateway::start());
    let metrics = format!("0.0.0.0:{}", free_port());
    let args = ["--scope", "files.read", "--metrics-listen", &metrics];
    let served = Served::start(&gateway, &issuer, &args);
    let said = served.said_once(|said| said.contains("is not a loopback address"));
    let noted: Vec<&str> = said.lines().filter(|l| l.contains("files.read")).collect();
    assert_eq!(noted.len(), 1, "said once: {said}");
    assert!(
        noted[0].starts_with("WARN") && noted[0].contains("a note"),
        "{said}"
    );
    // On loopback, or with the scope listed, nothing is said.
    let metrics = format!("127.0.0.1:{}", free_port());
    let args = ["--scope", "profile", "--metrics-listen", &metrics];
    let served = Served::start(&gateway, &issuer, &args);
    let said = served.said_once(|said| said.contains("metrics at"));
    assert!(
        !said.contains("loopback") && !said.contains("a note"),
        "{said}"
    );
}

/// The value of `series` in a Prometheus exposition `text` (0 when absent).
fn value(text: &str, series: &str) -> f64 {
    let line = text
        .lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '));
    line.and_then(|l| l[series.len()..].trim().parse().ok())
        .unwrap_or(0.0)
}

#[test]
fn every_request_sent_to_the_gateway_is_counted_by_route_whatever_the_log_level() {
    let (issuer, gateway, api) = fakes(&["alice"], "gho_alice");
    let metrics = format!("127.0.0.1:{}", free_port());
    let port = free_port();
    let child = command(
        &gateway,
        &issuer.url(),
        port,
        &["--metrics-listen", &metrics],
    )
    .env("NEXUS_LOG", "warn")
    .env("NEXUS_RETRIES", "1")
    .spawn()
    .unwrap();
    let served = Served::ready_quietly(child, port);
    let alice = token(&issuer, &served, "alice");
    served.call(&alice, "list_providers", json!({}));
    // A resolve the Gateway answers 504 first: two requests, one call.
    gateway.push_fault_for(Route::Resolve, Fault::status(504));
    let fetch = json!({"provider": "github", "url": format!("{}/user", api.url())});
    for _ in 0..2 {
        let (status, answer) = served.call(&alice, "authenticated_fetch", fetch.clone());
        assert_eq!(
            answer["result"]["isError"],
            json!(false),
            "{status} {answer} {}",
            served.said()
        );
    }
    assert_eq!(
        gateway.requests(Route::Resolve),
        2,
        "retried once, then cached"
    );
    let (status, _, text) = Served::get_url(&format!("http://{metrics}/metrics"));
    let text = text.as_str().unwrap_or_default().to_owned();
    assert_eq!(status, 200, "{text}");
    let counted = |route: &str| {
        value(
            &text,
            &format!("nexus_mcp_gateway_requests_total{{route=\"{route}\"}}"),
        )
    };
    let routes = [
        ("resolve", Route::Resolve),
        ("providers", Route::ProvidersMetadata),
        ("request-connection", Route::RequestConnection),
        ("check-connection", Route::CheckConnection),
        ("token", Route::Token),
        ("health", Route::Health),
    ];
    let mut sent = 0;
    for (name, route) in routes {
        let received = gateway.requests(route);
        assert_eq!(counted(name), received as f64, "{name}: {text}");
        sent += received;
    }
    assert_eq!(sent, gateway.total_requests(), "every route named");
    let total: f64 = (text.lines())
        .filter(|l| l.starts_with("nexus_mcp_gateway_requests_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(total, sent as f64, "{text}");
}

#[test]
fn replicas_whose_keys_under_one_id_differ_are_told_apart_from_an_invalid_link() {
    use common::served::{Browser, connect_replica, link_and_state, retried};
    let (issuer, gateway, api) = fakes(&[], "gho_other");
    // Both replicas hold one key, so both call it `default`.
    let start = |key| connect_replica(&gateway, &issuer, ("NEXUS_MCP_STATE_KEY", key));
    let first = start("a-sealing-key-of-at-least-32-bytes!!");
    let second = start("a-sealing-key-of-at-least-32-bytes??");
    let alice = token(&issuer, &first, "alice");
    let url = format!("{}/user", api.url());
    let (link, state) = link_and_state(&first, &alice, &url);
    // The link at the other replica: the person asked to ask again, the
    // operator told the keys differ, never which key.
    let elsewhere = link.replace(&first.origin, &second.origin);
    let (status, _, page) = Browser::new().open(&elsewhere);
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("tell the server's operator"), "{page}");
    let said = second.said_once(|said| said.contains("keys under id \"default\" differ"));
    assert!(!said.contains("a-sealing-key"), "{said}");
    // A link changed in its sealed part is still just invalid.
    let (kept, last) = link.split_at(link.len() - 1);
    let changed = format!("{kept}{}", if last == "A" { "B" } else { "A" });
    let (status, _, page) = Browser::new().open(&changed);
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("not valid"), "{page}");
    // The requestState, retried at the other replica.
    let alice_there = token(&issuer, &second, "alice");
    let refused = retried(&second, &alice_there, &state, &url);
    assert!(refused.contains("tell the server's operator"), "{refused}");
    second
        .said_once(|said| said.contains("refused a requestState sealed under key id \"default\""));
}

#[test]
fn a_person_without_a_connection_is_followed_in_the_log_by_the_command_that_connects_them() {
    let (issuer, gateway, api) = fakes(&[], "gho_someone");
    let served = Served::start(&gateway, &issuer, &["--workspace-prefix", "team-"]);
    let subject = "00u1a2b3c4";
    let alice = token(&issuer, &served, subject);
    let fetch = json!({"provider": "github", "url": format!("{}/user", api.url())});
    for _ in 0..2 {
        let (_, answer) = served.call(&alice, "authenticated_fetch", fetch.clone());
        assert_eq!(answer["result"]["isError"], true, "{answer}");
    }
    let said = served.said_once(|s| s.matches("connection_not_found").count() == 2);
    let hints: Vec<&str> = said
        .lines()
        .filter(|l| l.contains("to connect it ahead"))
        .collect();
    assert_eq!(hints.len(), 1, "once per person an hour: {said}");
    assert!(!said.contains(subject), "the log names no subject: {said}");
    // The command, its SUBJECT filled in, is the operator's next step.
    let command = hints[0].split("to connect it ahead: ").nth(1).unwrap();
    let (workspace_step, connect_step) = command.split_once(" && ").unwrap();
    assert!(
        connect_step.starts_with("nexus connect \"$ws\" github"),
        "{command}"
    );
    let program = std::path::Path::new(env!("CARGO_BIN_EXE_nexus-mcp"));
    let path = format!("{}:/usr/bin:/bin", program.parent().unwrap().display());
    let script = format!(
        "{}; echo \"$ws\"",
        workspace_step.replace("SUBJECT", subject)
    );
    let out = std::process::Command::new("sh")
        .args(["-c", &script])
        .env("PATH", path)
        .env_remove("NEXUS_GATEWAY_URL")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let workspace = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(workspace.starts_with("team-"), "{workspace}");
    let github = FakeProvider::oauth2("gho_theirs").api_base_url(&api.url());
    gateway.add_provider(&workspace, "github", github);
    let (_, answer) = served.call(&alice, "authenticated_fetch", fetch);
    assert_eq!(answer["result"]["isError"], false, "{answer}");
}

/// Two replicas under one key id (`default`) whose keys differ: whatever
/// one sealed and the other is shown (a client id, a consent form, a
/// sign-in's cookie, a code) is named as keys that differ, on the person's
/// page and in the log with the fix, never as "register again".
#[test]
fn replicas_whose_keys_differ_name_it_for_a_client_id_a_form_a_cookie_and_a_code() {
    use common::front::{authorize_url, field, signed_in_through, token_answer};
    use common::served::{Browser, command, free_port};
    let (issuer, gateway) = (FakeIssuer::start(), FakeGateway::start());
    let proxy = ["--oauth-proxy", "--login-client-id", "nexus-login"];
    let (one, origin, id, said) = signed_in_through(&issuer, &gateway, "alice", &[]);
    // Another replica at the same public URL, its one key another.
    let port = free_port();
    let public = format!("{origin}/mcp");
    let args = [&proxy[..], &["--public-url", &public]].concat();
    let child = command(&gateway, &issuer.url(), port, &args)
        .env(
            "NEXUS_MCP_STATE_KEY",
            "another-sealing-key-of-32-bytes-or-more",
        )
        .spawn();
    let two = common::served::Served::ready(child.expect("nexus-mcp"), port);
    let fix = "give every replica the same keyring";
    // The client id registered at one, authorized at two.
    let (status, _, page) = Browser::new().open(&authorize_url(&two.origin, &id));
    assert_eq!(status, 400, "{page}");
    assert!(
        page.contains("whose keys differ") && !page.contains("registers again"),
        "{page}"
    );
    two.said_once(|s| {
        s.contains("refused a client id sealed under key id \"default\"") && s.contains(fix)
    });
    // The consent form shown by one, sent to two.
    let mut browser = Browser::new();
    let (_, _, page) = browser.open(&authorize_url(&origin, &id));
    let form = [("pending", field(&page, "pending"))];
    // Behind one balancer, the page's origin is the public one.
    let sent = format!("{}/authorize", two.origin);
    let (status, _, page) = browser.submit_from(&origin, &sent, &form);
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("whose keys differ"), "{page}");
    two.said_once(|s| s.contains("refused a consent form sealed under key id"));
    // The sign-in begun at one (its cookie), its callback landing on two.
    let (_, to_issuer, _) = browser.submit(&format!("{origin}/authorize"), &form);
    issuer.approve_as("alice");
    let (_, back, _) = browser.open(&to_issuer.expect("to the issuer"));
    let back = back.expect("back").replace(&origin, &two.origin);
    let (status, _, page) = browser.open(&back);
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("whose keys differ"), "{page}");
    two.said_once(|s| s.contains("refused a sign-in's cookie sealed under key id"));
    // A code issued by one, redeemed at two.
    let form = common::front::redemption(&id, said.get("code").expect("a code"));
    let (status, refused) = token_answer(&two.origin, &form);
    assert_eq!(status, 400, "{refused}");
    assert!(
        refused["error_description"]
            .as_str()
            .unwrap_or_default()
            .contains("keys differ")
    );
    two.said_once(|s| s.contains("refused a code or token sealed under key id") && s.contains(fix));
    assert!(
        !two.said().contains("another-sealing-key"),
        "no key in the log"
    );
    drop(one);
}

/// Without `--oauth-proxy`, in front of an issuer that lets no host
/// register (Entra ID's shape), `--check` notes that hosts that register
/// themselves cannot sign in and names `--oauth-proxy`; behind the proxy,
/// a public URL with a path is told to take its origin's root alone.
#[test]
fn the_operator_is_told_where_the_proxy_is_the_way_and_where_it_takes_the_root() {
    let tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    let (issuer, gateway) = (FakeIssuer::start_entra(tenant), FakeGateway::start());
    let args = ["--audience", "api://app", "--check"];
    let out = command(&gateway, &issuer.url(), free_port(), &args)
        .output()
        .expect("nexus-mcp");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("lets no host register") && said.contains("--oauth-proxy"),
        "{said}"
    );
    // Okta's org server names a registration endpoint, which refuses
    // hosts (401 without an API token).
    let okta = FakeIssuer::start_okta_org();
    let out = command(&gateway, &okta.url(), free_port(), &["--check"]).output();
    let said = String::from_utf8_lossy(&out.expect("nexus-mcp").stderr).into_owned();
    assert!(
        said.contains("lets no host register") && said.contains("--oauth-proxy"),
        "{said}"
    );
    let plain = FakeIssuer::start();
    let out = command(&gateway, &plain.url(), free_port(), &["--check"]).output();
    let said = String::from_utf8_lossy(&out.expect("nexus-mcp").stderr).into_owned();
    assert!(
        !said.contains("lets no host register"),
        "it registers hosts: {said}"
    );
    // A deployment under a path, behind the proxy.
    let port = free_port();
    let public = format!("http://127.0.0.1:{port}/contractors/mcp");
    plain.add_client(
        "nexus-login",
        &format!("http://127.0.0.1:{port}/connect/callback"),
    );
    let proxy = [
        "--oauth-proxy",
        "--login-client-id",
        "nexus-login",
        "--public-url",
        &public,
    ];
    let child = command(&gateway, &plain.url(), port, &proxy).spawn();
    let served = Served::ready(child.expect("nexus-mcp"), port);
    let said = served.said_once(|said| said.contains("take the root of"));
    assert!(said.contains("MCP is at /contractors/"), "{said}");
}

/// `serve --check` asks the issuer whether it takes the login client's
/// redirect URI (an authorization request it does not follow), and names
/// the URI to register there when it does not.
#[test]
fn check_names_the_callback_to_register_when_the_issuer_does_not_take_it() {
    let (issuer, gateway) = (FakeIssuer::start(), FakeGateway::start());
    let port = free_port();
    let callback = format!("http://127.0.0.1:{port}/connect/callback");
    issuer.add_client("nexus-login", "http://127.0.0.1:1/elsewhere");
    let proxy = [
        "--oauth-proxy",
        "--login-client-id",
        "nexus-login",
        "--check",
    ];
    let check = || {
        let out = command(&gateway, &issuer.url(), port, &proxy)
            .output()
            .expect("nexus-mcp");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, said) = check();
    assert_eq!(code, Some(2), "{said}");
    assert!(
        said.contains(&format!("register {callback} there")),
        "{said}"
    );
    issuer.add_client("nexus-login", &callback);
    let (code, said) = check();
    assert_eq!(code, Some(0), "{said}");
}
