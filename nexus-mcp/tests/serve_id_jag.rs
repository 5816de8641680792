//! Enterprise-managed authorization behind `serve --oauth-proxy`: a
//! confidential client `serve client add` made presents an ID-JAG the
//! team's provider issued (RFC 7523's jwt-bearer grant with the
//! identity-assertion profile), and gets `serve`'s own access token, no
//! refresh token, for the same person in the same workspace as a browser
//! sign-in. Every hostile assertion (each `typ`, `alg` and key form, each
//! claim missing, wrong or of the wrong type, a replay, the wrong client,
//! a public client, a huge one) comes back `invalid_grant` (or the
//! client's refusal) with no token, and no key is fetched for one whose
//! `iss` is not the issuer's.

mod common;

use std::process::Command;

use base64::Engine as _;
use common::front::{client_add, client_assertion, document_key, id_jag, proxy};
use common::served::{Served, workspace_of};
use nexus_gateway_fake::{FakeGateway, FakeIssuer, FakeProvider, FakeToken, FakeUpstream};
use serde_json::{Value, json};

const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// What `/token` at `origin` answers `form`, the client authenticated
/// with `basic` (id, secret) when given: status, JSON, `Cache-Control`.
fn token(origin: &str, basic: Option<(&str, &str)>, form: &[(&str, &str)]) -> (u16, Value, String) {
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build();
    let agent: ureq::Agent = config.into();
    let mut request = agent.post(format!("{origin}/token"));
    if let Some((id, secret)) = basic {
        let pair = format!("{}:{}", encoded(id), encoded(secret));
        let pair = base64::engine::general_purpose::STANDARD.encode(pair);
        request = request.header("Authorization", format!("Basic {pair}"));
    }
    let mut answer = request.send_form(form.iter().copied()).expect("an answer");
    let status = answer.status().as_u16();
    let cache = answer
        .headers()
        .get("cache-control")
        .and_then(|v| v.to_str().ok());
    let cache = cache.unwrap_or_default().to_owned();
    let body = answer.body_mut().read_to_string().unwrap_or_default();
    (
        status,
        serde_json::from_str(&body).unwrap_or_default(),
        cache,
    )
}

/// `text` form-encoded, as RFC 6749 §2.3.1 asks of Basic's parts.
fn encoded(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// The form that presents `assertion`.
fn grant(assertion: &str) -> [(&str, &str); 2] {
    [("grant_type", JWT_BEARER), ("assertion", assertion)]
}

/// Alice's credential for the API, in her workspace at the Gateway.
const ALICES: &str = "gho_alice_secret";

/// Whether a call as `access` on `s.served` reached the API with Alice's
/// own credential: the person landed in her own workspace.
fn fetched_as_alice(s: &Setting, access: &str) -> bool {
    let asked = json!({"provider": "github", "url": format!("{}/user", s.api.url())});
    let (status, answer) = s.served.call(access, "authenticated_fetch", asked);
    let sent = s.api.last_request();
    let bearer = sent.as_ref().and_then(|sent| sent.header("authorization"));
    status == 200
        && answer.to_string().contains("HTTP 200")
        && bearer == Some("Bearer gho_alice_secret")
}

struct Setting {
    issuer: FakeIssuer,
    _gateway: FakeGateway,
    api: FakeUpstream,
    served: Served,
    origin: String,
    id: String,
    secret: String,
}

fn setting() -> Setting {
    let (issuer, gateway) = (FakeIssuer::start(), FakeGateway::start());
    let api = FakeUpstream::start();
    let github = FakeProvider::oauth2(ALICES).api_base_url(&api.url());
    gateway.add_provider(&workspace_of(&issuer.url(), "alice"), "github", github);
    let (served, origin) = proxy(&issuer, &gateway, &["--scope", "mcp.tools"]);
    let client = client_add(&origin, &["--name", "Claude"]);
    let id = client["client_id"].as_str().unwrap().to_owned();
    let secret = client["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(client["token_endpoint_auth_method"], "client_secret_basic");
    assert!(
        client["grant_types"]
            .as_array()
            .unwrap()
            .contains(&json!(JWT_BEARER))
    );
    Setting {
        issuer,
        _gateway: gateway,
        api,
        served,
        origin,
        id,
        secret,
    }
}

#[test]
fn an_id_jag_gets_the_person_an_access_token_in_their_own_workspace_once() {
    let s = setting();
    let basic = Some((s.id.as_str(), s.secret.as_str()));
    let assertion = s.issuer.mint(&id_jag("alice", &s.origin, &s.id, "j-1"));
    let (status, tokens, cache) = token(&s.origin, basic, &grant(&assertion));
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(cache, "no-store");
    assert!(tokens.get("refresh_token").is_none(), "{tokens}");
    assert_eq!(tokens["scope"], "mcp.tools");
    let access = tokens["access_token"].as_str().unwrap();
    assert!(
        fetched_as_alice(&s, access),
        "her own workspace and credential"
    );
    // The same assertion again: spent.
    let (status, again, _) = token(&s.origin, basic, &grant(&assertion));
    assert_eq!(
        (status, again["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert!(again.get("access_token").is_none());
    s.served
        .said_once(|said| said.contains("an ID-JAG refused: its jti was presented before"));
    // The client's secret is checked: wrong, missing, or in both places.
    let wrong = token(
        &s.origin,
        Some((&s.id, "not-the-secret")),
        &grant(&assertion),
    );
    assert_eq!(
        (wrong.0, wrong.1["error"].as_str()),
        (401, Some("invalid_client"))
    );
    let form = [
        ("grant_type", JWT_BEARER),
        ("assertion", &assertion),
        ("client_id", &s.id),
    ];
    let missing = token(&s.origin, None, &form);
    assert_eq!(
        (missing.0, missing.1["error"].as_str()),
        (401, Some("invalid_client"))
    );
    // client_secret_post is taken as Basic is.
    let fresh = s.issuer.mint(&id_jag("alice", &s.origin, &s.id, "j-2"));
    let posted = [
        ("grant_type", JWT_BEARER),
        ("assertion", &fresh),
        ("client_id", &s.id),
        ("client_secret", &s.secret),
    ];
    assert_eq!(token(&s.origin, None, &posted).0, 200);
    // The metadata says the grant, its profile and the methods.
    let (_, _, metadata) = s.served.get("/.well-known/oauth-authorization-server");
    assert!(
        metadata["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&json!(JWT_BEARER))
    );
    assert_eq!(
        metadata["authorization_grant_profiles_supported"],
        json!(["urn:ietf:params:oauth:grant-profile:id-jag"])
    );
}

#[test]
fn hostile_assertions_are_refused_with_no_token() {
    let s = setting();
    let basic = Some((s.id.as_str(), s.secret.as_str()));
    let (origin, id) = (s.origin.as_str(), s.id.as_str());
    let base = |jti: &str| id_jag("alice", origin, id, jti);
    let huge = "x".repeat(17 << 10);
    let cases: Vec<(&str, FakeToken)> = vec![
        ("typed as an access token", base("h1").typ("at+jwt")),
        ("typed JWT", base("h2").typ("JWT")),
        ("crit", base("h3").critical(&["exp"])),
        ("an unpublished key", base("h4").key("ec-2")),
        (
            "a jku to fetch",
            base("h5").jku("https://attacker.example/jwks"),
        ),
        (
            "another audience",
            base("h6").audience("https://other.example"),
        ),
        (
            "another resource",
            base("h7").claim("resource", json!("https://other.example/mcp")),
        ),
        ("no resource", base("h8").claim("resource", Value::Null)),
        (
            "another client",
            base("h9").claim("client_id", json!("someone-else")),
        ),
        ("lives too long", base("h10").expires_in(3600)),
        ("expired", base("h11").expires_in(-120)),
        ("cnf", base("h12").claim("cnf", json!({"jkt": "abc"}))),
        ("no jti", base("h13").claim("jti", Value::Null)),
        ("iat a string", base("h14").claim("iat", json!("now"))),
        (
            "sub empty",
            FakeToken::new("").typ("oauth-id-jag+jwt").audience(origin),
        ),
        ("huge", base("h15").claim("pad", json!(huge))),
    ];
    for (what, minted) in cases {
        let assertion = s.issuer.mint(&minted);
        let (status, refused, _) = token(origin, basic, &grant(&assertion));
        assert_eq!(
            (status, refused["error"].as_str()),
            (400, Some("invalid_grant")),
            "{what}: {refused}"
        );
        assert!(refused.get("access_token").is_none(), "{what}");
    }
    // Another issuer's: refused before any key is fetched.
    let fetched = s.issuer.jwks_fetches();
    let elsewhere = s
        .issuer
        .mint(&base("h16").issuer("https://attacker.example").key("rsa-2"));
    let (status, _, _) = token(origin, basic, &grant(&elsewhere));
    assert_eq!(status, 400);
    assert_eq!(s.issuer.jwks_fetches(), fetched, "no key fetched");
    // No scope granted: invalid_scope, never a token the bearer check refuses.
    let unscoped = s.issuer.mint(&base("h17").claim("scope", Value::Null));
    let (status, refused, _) = token(origin, basic, &grant(&unscoped));
    assert_eq!(
        (status, refused["error"].as_str()),
        (400, Some("invalid_scope")),
        "{refused}"
    );
    // A public client (one that registered itself) may not use the grant.
    let public = common::front::host(&s.served);
    let mine = s.issuer.mint(&id_jag("alice", origin, &public, "h18"));
    let form = [
        ("grant_type", JWT_BEARER),
        ("assertion", &mine),
        ("client_id", &public),
    ];
    let (status, refused, _) = token(origin, None, &form);
    assert_eq!(
        (status, refused["error"].as_str()),
        (400, Some("unauthorized_client"))
    );
    // Two assertions at once: invalid_request.
    let twice = [
        ("grant_type", JWT_BEARER),
        ("assertion", "a"),
        ("assertion", "b"),
    ];
    let (status, refused, _) = token(origin, basic, &twice);
    assert_eq!(
        (status, refused["error"].as_str()),
        (400, Some("invalid_request"))
    );
}

#[test]
fn an_id_jag_refusal_line_names_what_it_said_beside_what_this_server_takes() {
    let s = setting();
    let basic = Some((s.id.as_str(), s.secret.as_str()));
    let (origin, id) = (s.origin.as_str(), s.id.as_str());
    let base = |jti: &str| id_jag("alice", origin, id, jti);
    let now = jsonwebtoken::get_current_timestamp();
    let mcp = format!("{origin}/mcp");
    let slash = format!("{origin}/");
    let cases: Vec<(FakeToken, String)> = vec![
        (base("v1").audience(&mcp), format!("aud \"{mcp}\"")),
        (base("v2").audience(&slash), format!("aud \"{slash}\"")),
        (
            base("v3").claim("client_id", json!("okta-app-0oa1")),
            "client_id \"okta-app-0oa1\"".to_owned(),
        ),
        (
            base("v4")
                .claim("iat", json!(now - 400))
                .claim("exp", json!(now - 100)),
            "iat -40".to_owned(),
        ),
        (
            base("v5").claim("scope", json!("openid profile")),
            "scope \"openid profile\"".to_owned(),
        ),
    ];
    for (minted, named) in cases {
        let (status, _, _) = token(origin, basic, &grant(&s.issuer.mint(&minted)));
        assert_eq!(status, 400, "{named}");
        let line = s.served.said_once(|said| said.contains(&named));
        let taken = format!(
            "this server takes iss \"{}\", aud \"{origin}\"",
            s.issuer.url()
        );
        assert!(line.contains(&taken), "{line}");
        assert!(line.contains(&format!("client_id \"{id}\"")), "{line}");
    }
}

#[test]
fn a_wrong_client_never_burns_another_clients_assertion() {
    let s = setting();
    let other = client_add(&s.origin, &["--name", "Other"]);
    let other = (
        other["client_id"].as_str().unwrap(),
        other["client_secret"].as_str().unwrap(),
    );
    let assertion = s.issuer.mint(&id_jag("alice", &s.origin, &s.id, "w-1"));
    let (status, _, _) = token(&s.origin, Some(other), &grant(&assertion));
    assert_eq!(status, 400);
    let basic = Some((s.id.as_str(), s.secret.as_str()));
    let (status, tokens, _) = token(&s.origin, basic, &grant(&assertion));
    assert_eq!(status, 200, "{tokens}");
    // A client made for another server does not open here.
    let elsewhere = client_add("https://other.example", &["--name", "Elsewhere"]);
    let elsewhere = (
        elsewhere["client_id"].as_str().unwrap(),
        elsewhere["client_secret"].as_str().unwrap(),
    );
    let fresh = s
        .issuer
        .mint(&id_jag("alice", &s.origin, elsewhere.0, "w-2"));
    let (status, refused, _) = token(&s.origin, Some(elsewhere), &grant(&fresh));
    assert_eq!(
        (status, refused["error"].as_str()),
        (401, Some("invalid_client"))
    );
}

#[test]
#[ignore = "needs redis-server from the distribution (NEXUS_REDIS; .ci/run installs it)"]
fn an_assertion_spent_on_one_replica_is_refused_on_another() {
    let redis = common::redis::Redis::start();
    let (issuer, gateway) = (FakeIssuer::start(), FakeGateway::start());
    let store = redis.url();
    let args = ["--store", store.as_str()];
    let (_one, origin) = proxy(&issuer, &gateway, &args);
    let (_two, two) = common::front::replica(&issuer, &gateway, &origin, &args);
    let client = client_add(&origin, &["--name", "Claude"]);
    let (id, secret) = (
        client["client_id"].as_str().unwrap(),
        client["client_secret"].as_str(),
    );
    let basic = Some((id, secret.unwrap()));
    let assertion = issuer.mint(&id_jag("alice", &origin, id, "r-1").claim("scope", Value::Null));
    let (status, tokens, _) = token(&origin, basic, &grant(&assertion));
    assert_eq!(status, 200, "{tokens}");
    let (status, replayed, _) = token(&two, basic, &grant(&assertion));
    assert_eq!(
        (status, replayed["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

#[test]
fn a_client_is_withdrawn_by_its_deny_file_line() {
    let (issuer, gateway) = (FakeIssuer::start(), FakeGateway::start());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("deny");
    std::fs::write(&file, "# nobody yet\n").unwrap();
    let deny = file.display().to_string();
    let (served, origin) = proxy(&issuer, &gateway, &["--deny-file", &deny]);
    let client = client_add(&origin, &["--name", "Claude"]);
    let (id, secret) = (
        client["client_id"].as_str().unwrap(),
        client["client_secret"].as_str(),
    );
    let basic = Some((id, secret.unwrap()));
    let first = issuer.mint(&id_jag("alice", &origin, id, "d-1").claim("scope", Value::Null));
    let (status, tokens, _) = token(&origin, basic, &grant(&first));
    assert_eq!(status, 200, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap();
    let listed = |access: &str| served.call(access, "list_providers", json!({})).0;
    assert_eq!(listed(access), 200);
    // Its line, by the mark's first digits, as `serve client add` says it.
    let mark = common::front::mark(id);
    std::fs::write(&file, format!("client={}\n", &mark[..12])).unwrap();
    let sent = Command::new("kill")
        .args(["-HUP", &served.pid().to_string()])
        .status();
    assert!(sent.unwrap().success());
    served.said_once(|said| said.contains("SIGHUP: the deny list names 1 people and clients"));
    let again = issuer.mint(&id_jag("alice", &origin, id, "d-2").claim("scope", Value::Null));
    let (status, refused, _) = token(&origin, basic, &grant(&again));
    assert_eq!(
        (status, refused["error"].as_str()),
        (401, Some("invalid_client")),
        "{refused}"
    );
    // The access token it held before is refused wherever it is used, at once.
    assert_eq!(listed(access), 401);
}

/// The ID token the issuer gives the host `client` (secret `secret`,
/// redirect `redirect`) for the person it approves, through its own
/// code flow: what a host holds once the person signed in at the provider.
fn id_token_at_the_provider(
    issuer: &FakeIssuer,
    (client, secret): (&str, &str),
    redirect: &str,
) -> String {
    let config = ureq::Agent::config_builder()
        .max_redirects(0)
        .http_status_as_error(false);
    let agent: ureq::Agent = config.build().into();
    let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    let asked = agent
        .get(format!("{}/authorize", issuer.url()))
        .query_pairs([
            ("client_id", client),
            ("redirect_uri", redirect),
            ("response_type", "code"),
            ("scope", "openid"),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
            ("state", "s"),
        ])
        .call()
        .expect("an answer");
    let back = asked
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap();
    let back = url::Url::parse(back).unwrap();
    let code = back
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", redirect),
        (
            "code_verifier",
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
        ),
        ("client_id", client),
        ("client_secret", secret),
    ];
    let mut tokens = agent
        .post(format!("{}/token", issuer.url()))
        .send_form(form)
        .unwrap();
    let tokens: Value = serde_json::from_str(&tokens.body_mut().read_to_string().unwrap()).unwrap();
    tokens["id_token"].as_str().expect("an ID token").to_owned()
}

#[test]
fn a_host_exchanges_the_persons_id_token_at_the_provider_and_presents_the_id_jag() {
    let s = setting();
    let host = ("claude-host", "host-secret-at-the-provider");
    s.issuer
        .add_confidential_client(host.0, "http://127.0.0.1:9/cb", host.1);
    s.issuer.approve_as("alice");
    let id_token = id_token_at_the_provider(&s.issuer, host, "http://127.0.0.1:9/cb");
    let exchange = |audience: &str| {
        let form = [
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:token-exchange",
            ),
            (
                "requested_token_type",
                "urn:ietf:params:oauth:token-type:id-jag",
            ),
            ("subject_token", &id_token),
            (
                "subject_token_type",
                "urn:ietf:params:oauth:token-type:id_token",
            ),
            ("audience", audience),
            ("resource", &format!("{}/mcp", s.origin)),
            ("scope", "mcp.tools"),
        ];
        token(&s.issuer.url(), Some(host), &form)
    };
    // Until the administrator lets the host reach serve, the provider refuses.
    let (status, refused, _) = exchange(&s.origin);
    assert_eq!(
        (status, refused["error"].as_str()),
        (400, Some("invalid_target"))
    );
    s.issuer.let_reach(host.0, &s.origin, &s.id);
    let (status, exchanged, _) = exchange(&s.origin);
    assert_eq!(status, 200, "{exchanged}");
    assert_eq!(
        exchanged["issued_token_type"],
        "urn:ietf:params:oauth:token-type:id-jag"
    );
    assert_eq!(
        (
            exchanged["token_type"].as_str(),
            exchanged["expires_in"].as_u64()
        ),
        (Some("N_A"), Some(300))
    );
    let id_jag = exchanged["access_token"].as_str().unwrap();
    let basic = Some((s.id.as_str(), s.secret.as_str()));
    let (status, tokens, _) = token(&s.origin, basic, &grant(id_jag));
    assert_eq!(status, 200, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap();
    assert!(
        fetched_as_alice(&s, access),
        "her own workspace and credential"
    );
}

#[test]
#[ignore = "needs the official MCP clients: npm ci --prefix nexus-mcp/tests/clients"]
fn the_official_typescript_clients_cross_app_access_provider_reaches_serve() {
    an_official_clients_provider_reaches_serve(("node", "serve_cross_app.mjs"));
}

/// The official client `program` running `script` presents, for Alice, an
/// ID-JAG it exchanged at the provider for her ID token, and fetches with
/// her own credential.
fn an_official_clients_provider_reaches_serve(by: (&str, &str)) {
    let s = setting();
    let host = ("claude-host", "host-secret-at-the-provider");
    s.issuer
        .add_confidential_client(host.0, "http://127.0.0.1:9/cb", host.1);
    s.issuer.approve_as("alice");
    let id_token = id_token_at_the_provider(&s.issuer, host, "http://127.0.0.1:9/cb");
    s.issuer.let_reach(host.0, &s.origin, &s.id);
    let (mcp, api) = (format!("{}/mcp", s.origin), s.api.url());
    let client = (s.id.as_str(), s.secret.as_str());
    let answer = cross_app_by(by, (&mcp, &api), (&s.issuer, host, &id_token), client);
    let calls = answer["calls"].as_array().unwrap();
    assert!(
        calls.iter().all(|call| call["is_error"] == false),
        "{answer}"
    );
    assert!(
        calls[1]["text"].as_str().unwrap().starts_with("HTTP 200"),
        "{answer}"
    );
    let sent = s.api.last_request().expect("the API was called");
    assert_eq!(
        sent.header("authorization"),
        Some(format!("Bearer {ALICES}").as_str())
    );
}

#[test]
fn a_public_client_presents_an_id_jag_only_when_the_operator_says_so_and_the_life_is_theirs() {
    let (issuer, gateway) = (FakeIssuer::start(), FakeGateway::start());
    let flags = ["--id-jag-from-public-clients", "--id-jag-token-life", "15m"];
    let (served, origin) = proxy(&issuer, &gateway, &flags);
    let public = common::front::host(&served);
    let assertion =
        issuer.mint(&id_jag("alice", &origin, &public, "p-1").claim("scope", Value::Null));
    let form = [
        ("grant_type", JWT_BEARER),
        ("assertion", &assertion),
        ("client_id", &public),
    ];
    let (status, tokens, _) = token(&origin, None, &form);
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["expires_in"], 900);
    // A life past an hour is refused at start, naming the bounds.
    let port = common::served::free_port();
    let too_long = [
        "--oauth-proxy",
        "--login-client-id",
        "x",
        "--id-jag-token-life",
        "2h",
        "--check",
    ];
    let out = common::served::command(&gateway, &issuer.url(), port, &too_long)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && said.contains("from 1m to 1h"),
        "{said}"
    );
}

#[test]
fn serve_check_says_whether_the_issuer_issues_id_jags() {
    let gateway = FakeGateway::start();
    for (issuer, says) in [
        (FakeIssuer::start(), "the issuer issues ID-JAGs"),
        (
            FakeIssuer::start_okta_org(),
            "the issuer does not say it issues ID-JAGs",
        ),
    ] {
        let port = common::served::free_port();
        let callback = format!("http://127.0.0.1:{port}/connect/callback");
        issuer.add_client("nexus-login", &callback);
        let args = [
            "--oauth-proxy",
            "--login-client-id",
            "nexus-login",
            "--check",
        ];
        let out = common::served::command(&gateway, &issuer.url(), port, &args)
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(said.contains(says), "{said}");
    }
}

/// What the official TypeScript client's `CrossAppAccessProvider`
/// (`tests/clients/serve_cross_app.mjs`) printed after reaching `mcp` (and
/// through it `api`'s `/user`) with
/// the person's `id_token` from `issuer` (exchanged there by the host
/// `idp_client`) as the confidential `client` at serve.
fn cross_app(
    (mcp, api): (&str, &str),
    (issuer, idp_client, id_token): (&FakeIssuer, (&str, &str), &str),
    client: (&str, &str),
) -> Value {
    cross_app_by(
        ("node", "serve_cross_app.mjs"),
        (mcp, api),
        (issuer, idp_client, id_token),
        client,
    )
}

/// [`cross_app`] by `program` running `script` (in `tests/clients/`).
fn cross_app_by(
    (program, script): (&str, &str),
    (mcp, api): (&str, &str),
    (issuer, idp_client, id_token): (&FakeIssuer, (&str, &str), &str),
    client: (&str, &str),
) -> Value {
    let clients = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients");
    let out = Command::new(program)
        .arg(clients.join(script))
        .args([mcp, api])
        .env("NEXUS_IDP_URL", issuer.url())
        .env("NEXUS_IDP_CLIENT", idp_client.0)
        .env("NEXUS_IDP_SECRET", idp_client.1)
        .env("NEXUS_ID_TOKEN", id_token)
        .env("NEXUS_CLIENT_ID", client.0)
        .env("NEXUS_CLIENT_SECRET", client.1)
        .env("NEXUS_ISSUER", mcp.trim_end_matches("/mcp"))
        .env("NEXUS_SCOPE", "mcp.tools")
        .output()
        .expect("node runs");
    let (said, err) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{said}\n{err}");
    serde_json::from_str(said.trim()).unwrap_or_else(|e| panic!("{e}: {said}\n{err}"))
}

#[test]
#[ignore = "needs the official MCP clients (npm ci --prefix nexus-mcp/tests/clients), nginx and redis-server (.ci/run installs them)"]
fn two_people_reach_three_replicas_behind_nginx_with_id_jags_each_in_their_own_workspace() {
    let (issuer, gateway) = (FakeIssuer::start(), FakeGateway::start());
    let api = FakeUpstream::start();
    let people = [("alice", "gho_alice_secret"), ("bob", "gho_bob_secret")];
    for (person, credential) in people {
        let github = FakeProvider::oauth2(credential).api_base_url(&api.url());
        gateway.add_provider(&workspace_of(&issuer.url(), person), "github", github);
    }
    let port = common::served::free_port();
    let origin = format!("http://127.0.0.1:{port}");
    issuer.add_client("nexus-login", &format!("{origin}/connect/callback"));
    let public = format!("{origin}/mcp");
    let serve_at = |at: u16, store: &[&str]| {
        let proxy = [
            "--oauth-proxy",
            "--login-client-id",
            "nexus-login",
            "--public-url",
            &public,
        ];
        common::served::command(&gateway, &issuer.url(), at, &[&proxy[..], store].concat())
    };
    let _replicas = common::front::replicas(port, 3, serve_at);
    let client = client_add(&origin, &["--name", "Claude"]);
    let client = (
        client["client_id"].as_str().unwrap(),
        client["client_secret"].as_str().unwrap(),
    );
    let host = ("claude-host", "host-secret-at-the-provider");
    issuer.add_confidential_client(host.0, "http://127.0.0.1:9/cb", host.1);
    issuer.let_reach(host.0, &origin, client.0);
    for (person, credential) in people {
        issuer.approve_as(person);
        let id_token = id_token_at_the_provider(&issuer, host, "http://127.0.0.1:9/cb");
        let answer = cross_app((&public, &api.url()), (&issuer, host, &id_token), client);
        let calls = answer["calls"].as_array().unwrap();
        assert!(
            calls.iter().all(|call| call["is_error"] == false),
            "{person}: {answer}"
        );
        let sent = api.last_request().expect("the API was called");
        let bearer = format!("Bearer {credential}");
        assert_eq!(
            sent.header("authorization"),
            Some(bearer.as_str()),
            "{person}"
        );
    }
}

/// The form that presents the ID-JAG `assertion`, the client proven by its
/// `signed` client assertion (RFC 7523 §2.2).
fn keyed<'a>(assertion: &'a str, signed: &'a str) -> [(&'a str, &'a str); 4] {
    [
        ("grant_type", JWT_BEARER),
        ("assertion", assertion),
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ),
        ("client_assertion", signed),
    ]
}

#[test]
fn a_document_client_authenticates_with_its_key_and_presents_an_id_jag() {
    let (issuer, gateway, api) = (
        FakeIssuer::start(),
        FakeGateway::start(),
        FakeUpstream::start(),
    );
    let github = FakeProvider::oauth2(ALICES).api_base_url(&api.url());
    gateway.add_provider(&workspace_of(&issuer.url(), "alice"), "github", github);
    let id = format!("{}/client.json", api.url());
    let (key, jwk) = document_key();
    let document = json!({
        "client_id": id, "client_name": "Doc Host", "redirect_uris": ["http://127.0.0.1:9/cb"],
        "token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [jwk]},
    });
    let reply = nexus_gateway_fake::FakeReply::new(200)
        .header("Content-Type", "application/json")
        .body(document.to_string());
    api.set_reply("/client.json", reply);
    let trusted = ["--oauth-client-document-origin", &api.url()];
    let (_served, origin) = proxy(&issuer, &gateway, &trusted);
    let presented = |assertion: &str, jti: &str| {
        let signed = client_assertion(&key, &id, &origin, jti);
        let form = keyed(assertion, &signed);
        token(&origin, None, &form)
    };
    let first = issuer.mint(&id_jag("alice", &origin, &id, "k-1").claim("scope", Value::Null));
    let (status, tokens, _) = presented(&first, "ca-1");
    assert_eq!(status, 200, "{tokens}");
    // Its client assertion once: a replay is refused.
    let again = issuer.mint(&id_jag("alice", &origin, &id, "k-2").claim("scope", Value::Null));
    let (status, refused, _) = presented(&again, "ca-1");
    assert_eq!(
        (status, refused["error"].as_str()),
        (401, Some("invalid_client")),
        "{refused}"
    );
    // Signed by another key: refused.
    let (other, _) = document_key();
    let forged = client_assertion(&other, &id, &origin, "ca-2");
    let form = keyed(&again, &forged);
    let (status, refused, _) = token(&origin, None, &form);
    assert_eq!(
        (status, refused["error"].as_str()),
        (401, Some("invalid_client")),
        "{refused}"
    );
    // The right key, a fresh jti: the ID-JAG not yet spent goes through.
    assert_eq!(presented(&again, "ca-3").0, 200);
    // Keys at the document's jwks_uri, fetched as the document is.
    let keyed_document = json!({
        "client_id": format!("{}/keyed.json", api.url()), "client_name": "Keyed Host",
        "redirect_uris": ["http://127.0.0.1:9/cb"], "token_endpoint_auth_method": "private_key_jwt",
        "jwks_uri": format!("{}/keys.json", api.url()),
    });
    let json = |body: &Value| {
        let reply =
            nexus_gateway_fake::FakeReply::new(200).header("Content-Type", "application/json");
        reply.body(body.to_string())
    };
    api.set_reply("/keyed.json", json(&keyed_document));
    api.set_reply("/keys.json", json(&json!({"keys": [document_key().1]})));
    let keyed_id = format!("{}/keyed.json", api.url());
    let signed = client_assertion(&key, &keyed_id, &origin, "ca-4");
    let fresh =
        issuer.mint(&id_jag("alice", &origin, &keyed_id, "k-3").claim("scope", Value::Null));
    let form = keyed(&fresh, &signed);
    // Its jwks_uri holds another key than the one that signed: refused.
    let (status, refused, _) = token(&origin, None, &form);
    assert_eq!(
        (status, refused["error"].as_str()),
        (401, Some("invalid_client")),
        "{refused}"
    );
    api.set_reply("/keys.json", json(&json!({"keys": [jwk]})));
    let signed = client_assertion(&key, &keyed_id, &origin, "ca-5");
    let form = keyed(&fresh, &signed);
    assert_eq!(token(&origin, None, &form).0, 200);
}

#[test]
#[ignore = "needs the official MCP Python client: NEXUS_MCP_PYTHON (.ci/run installs it)"]
fn the_official_python_clients_identity_assertion_provider_reaches_serve() {
    let python = std::env::var("NEXUS_MCP_PYTHON").expect("NEXUS_MCP_PYTHON");
    an_official_clients_provider_reaches_serve((&python, "serve_cross_app.py"));
}

#[test]
fn serve_check_says_whether_a_client_id_opens_as_this_servers_confidential_client() {
    let (issuer, gateway) = (FakeIssuer::start(), FakeGateway::start());
    let port = common::served::free_port();
    let origin = format!("http://127.0.0.1:{port}");
    issuer.add_client("nexus-login", &format!("{origin}/connect/callback"));
    let mine = client_add(&origin, &["--name", "Claude"]);
    let elsewhere = client_add("https://other.example", &["--name", "Other"]);
    let checked = |id: &str| {
        let args = [
            "--oauth-proxy",
            "--login-client-id",
            "nexus-login",
            "--check",
        ];
        let args = [&args[..], &["--check-client-id", id]].concat();
        let out = common::served::command(&gateway, &issuer.url(), port, &args)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, said) = checked(mine["client_id"].as_str().unwrap());
    assert!(ok, "{said}");
    let (ok, said) = checked(elsewhere["client_id"].as_str().unwrap());
    assert!(!ok && said.contains("made for another server"), "{said}");
    let (ok, said) = checked("not-a-client-id");
    assert!(
        !ok && said.contains("does not open with this keyring"),
        "{said}"
    );
}

#[test]
#[ignore = "needs libfaketime from the distribution (NEXUS_FAKETIME; .ci/run installs it)"]
fn serve_check_warns_a_month_before_a_sealed_client_ends_and_says_what_to_paste() {
    let (issuer, gateway) = (FakeIssuer::start(), FakeGateway::start());
    let port = common::served::free_port();
    let origin = format!("http://127.0.0.1:{port}");
    issuer.add_client("nexus-login", &format!("{origin}/connect/callback"));
    let client = client_add(&origin, &["--name", "Claude"]);
    let id = client["client_id"].as_str().unwrap();
    let checked = |days: &str| {
        let args = [
            "--oauth-proxy",
            "--login-client-id",
            "nexus-login",
            "--check",
        ];
        let args = [&args[..], &["--check-client-id", id]].concat();
        let mut command = common::served::command(&gateway, &issuer.url(), port, &args);
        common::served::moved_clock(&mut command, days);
        let out = command.output().unwrap();
        let said = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.success(), said)
    };
    let (ok, said) = checked("+300d");
    assert!(ok, "{said}");
    assert!(
        said.contains(&format!("Issuer URL {origin}, Audience {origin}")),
        "{said}"
    );
    for days in ["+371d", "+399d"] {
        let (ok, said) = checked(days);
        assert!(!ok && said.contains("make its successor"), "{days}: {said}");
    }
}

#[test]
fn a_client_of_another_keyring_or_none_is_said_as_it_is_and_a_grant_leaves_its_line() {
    let s = setting();
    // Made under another keyring: its key id named, not "no secret".
    let public = format!("{}/mcp", s.origin);
    let out = common::front::operated_elsewhere(&[
        "client",
        "add",
        "--name",
        "Elsewhere",
        "--public-url",
        &public,
    ]);
    assert!(out.status.success());
    let other: Value = serde_json::from_slice(&out.stdout).unwrap();
    let other = (
        other["client_id"].as_str().unwrap(),
        other["client_secret"].as_str().unwrap(),
    );
    let assertion = s.issuer.mint(&id_jag("alice", &s.origin, other.0, "k-1"));
    let (status, refused, _) = token(&s.origin, Some(other), &grant(&assertion));
    let why = refused["error_description"].as_str().unwrap_or_default();
    assert_eq!(
        (status, refused["error"].as_str()),
        (401, Some("invalid_client"))
    );
    assert!(
        why.contains("sealed under key id") && !why.contains("no secret"),
        "{why}"
    );
    for nobody in ["not-a-client", "0oa1b2c3d4e5f6g7h8i9"] {
        let (status, refused, _) = token(&s.origin, Some((nobody, "x")), &grant(&assertion));
        let why = refused["error_description"].as_str().unwrap_or_default();
        assert_eq!(status, 401, "{refused}");
        assert!(why.contains("no client of this server"), "{why}");
    }
    // A grant: one audit line with the client's mark and name, and who.
    let basic = Some((s.id.as_str(), s.secret.as_str()));
    let assertion = s.issuer.mint(&id_jag("alice", &s.origin, &s.id, "k-2"));
    let (status, tokens, _) = token(&s.origin, basic, &grant(&assertion));
    assert_eq!(status, 200, "{tokens}");
    let mark = common::front::mark(&s.id);
    let mark = &mark[..12];
    let who = &workspace_of(&s.issuer.url(), "alice")[..12];
    let line = s
        .served
        .said_once(|said| said.contains("an ID-JAG granted"));
    let expected = format!("an ID-JAG granted: client={mark} (\"Claude\"), who={who}");
    assert!(line.contains(&expected), "{line}");
    // A call's line names the OAuth client beside the name the host gives.
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(s.served.call(access, "list_providers", json!({})).0, 200);
    let line = s.served.said_once(|said| said.contains("call #"));
    let call = line
        .lines()
        .find(|l| l.contains("call #"))
        .unwrap_or_default();
    assert!(
        call.contains(&format!("oauth_client={mark} who={who}")),
        "{call}"
    );
}

#[test]
fn an_id_jag_refused_for_a_claim_names_the_claim_and_tells_the_host_it_is_for_their_administrator()
{
    let (issuer, gateway) = (FakeIssuer::start(), FakeGateway::start());
    let args = [
        "--scope",
        "mcp.tools",
        "--subject-claim",
        "uid",
        "--allow-sign-in",
        "groups=engineering",
    ];
    let (served, origin) = proxy(&issuer, &gateway, &args);
    let client = client_add(&origin, &["--name", "Claude"]);
    let (id, secret) = (
        client["client_id"].as_str().unwrap(),
        client["client_secret"].as_str().unwrap(),
    );
    let basic = Some((id, secret));
    // No uid claim: the line names uid; the host is told whom to ask.
    let assertion = issuer.mint(&id_jag("alice", &origin, id, "u-1"));
    let (status, answer, _) = token(&origin, basic, &grant(&assertion));
    assert_eq!(status, 400, "{answer}");
    let described = answer["error_description"].as_str().unwrap();
    assert!(
        described.contains("your administrator") && described.contains("(id "),
        "{answer}"
    );
    let line = served.said_once(|said| said.contains("an ID-JAG refused: it carries no uid claim"));
    assert!(line.contains("--subject-claim uid"), "{line}");
    // A uid, and no groups claim: the line says the ID-JAG carried none.
    let with_uid = id_jag("alice", &origin, id, "u-2").claim("uid", json!("alice"));
    let (status, _, _) = token(&origin, basic, &grant(&issuer.mint(&with_uid)));
    assert_eq!(status, 400);
    let line = served.said_once(|said| said.contains("an ID-JAG refused: --allow-sign-in"));
    assert!(line.contains("it carries no groups"), "{line}");
}
