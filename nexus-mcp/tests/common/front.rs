//! What the tests of `serve --oauth-proxy` share: a host's authorization
//! request, what a page's form carries, and a sign-in through the proxy.

use std::collections::HashMap;
use std::process::Command;

use nexus_gateway_fake::{FakeGateway, FakeIssuer};
use serde_json::{Value, json};

use super::served::{Browser, Served, command, free_port};

/// A host registered at `serve --oauth-proxy` (with `args`) in front of
/// `issuer`, and `person` signed in through it in a browser that allows
/// the consent page: the server, its origin, the client id, and what the
/// host's redirect carries (its `code`, or its `error`).
pub fn signed_in_through(
    issuer: &FakeIssuer,
    gateway: &FakeGateway,
    person: &str,
    args: &[&str],
) -> (Served, String, String, HashMap<String, String>) {
    signed_in_with(issuer, gateway, (person, serde_json::Map::new()), args)
}

/// [`signed_in_through`], the person approved with `claims` of theirs
/// (their groups, a Workspace's `hd`).
pub fn signed_in_with(
    issuer: &FakeIssuer,
    gateway: &FakeGateway,
    (person, claims): (&str, serde_json::Map<String, serde_json::Value>),
    args: &[&str],
) -> (Served, String, String, HashMap<String, String>) {
    issuer.approve_as_with_claims(person, claims);
    let (served, origin) = proxy(issuer, gateway, args);
    let (id, said) = signed_in_at(&served, &origin);
    (served, origin, id, said)
}

/// A host registered at `served` (at `origin`), and the person the issuer
/// approves next signed in through it in a browser that allows the
/// consent page: the client id, and what the host's redirect carries.
pub fn signed_in_at(served: &Served, origin: &str) -> (String, HashMap<String, String>) {
    let id = host(served);
    let said = signed_in_by(origin, &id);
    (id, said)
}

/// The person the issuer approves next signed in at `origin` through the
/// client `id` (its redirect http://127.0.0.1:9/cb), in a browser that
/// allows the consent page: what the host's redirect carries.
pub fn signed_in_by(origin: &str, id: &str) -> HashMap<String, String> {
    let mut browser = Browser::new();
    let (_, _, page) = browser.open(&authorize_url(origin, id));
    let allow = [("pending", field(&page, "pending"))];
    let (_, to_issuer, _) = browser.submit(&format!("{origin}/authorize"), &allow);
    let (_, back, _) = browser.open(&to_issuer.expect("to the issuer"));
    let (_, to_host, _) = browser.open(&back.expect("back to serve"));
    let to_host = url::Url::parse(&to_host.expect("to the host")).unwrap();
    to_host.query_pairs().into_owned().collect()
}

/// `person` signed in through a replica of `serve --oauth-proxy` (with
/// `args`), the code redeemed: the replica, its origin, the client id, and
/// the tokens.
pub fn signed_in_tokens(
    issuer: &FakeIssuer,
    gateway: &FakeGateway,
    person: &str,
    args: &[&str],
) -> (Served, String, String, Value) {
    let (one, origin, id, said) = signed_in_through(issuer, gateway, person, args);
    let code = said.get("code").expect("a code");
    let tokens = tokens_for(&origin, &id, code);
    (one, origin, id, tokens)
}

/// Another replica beside the one at `origin`: the same keyring, public at
/// the same URL, with `args`; and its own origin.
pub fn replica(
    issuer: &FakeIssuer,
    gateway: &FakeGateway,
    origin: &str,
    args: &[&str],
) -> (Served, String) {
    let port = free_port();
    let public = format!("{origin}/mcp");
    let all = [
        &["--oauth-proxy", "--login-client-id", "nexus-login"][..],
        args,
        &["--public-url", &public],
    ]
    .concat();
    let child = command(gateway, &issuer.url(), port, &all).spawn();
    (
        Served::ready(child.expect("nexus-mcp"), port),
        format!("http://127.0.0.1:{port}"),
    )
}

/// A confidential client made for the server at `origin` (its MCP at
/// `/mcp`) with `args`:
/// its registration as `serve client add` prints it.
pub fn client_add(origin: &str, args: &[&str]) -> serde_json::Value {
    let public = format!("{origin}/mcp");
    let all = [&["client", "add", "--public-url", &public][..], args].concat();
    let printed = operated(&all, &[]);
    serde_json::from_str(&printed).expect("the registration as JSON")
}

/// What `nexus-mcp serve ARGS` prints on stdout, run with the replicas'
/// keyring and the variables `env`, once it succeeded.
pub fn operated(args: &[&str], env: &[(&str, &str)]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_nexus-mcp"))
        .arg("serve")
        .args(args)
        .envs(env.iter().copied())
        .env("NEXUS_MCP_STATE_KEY", super::served::STATE_KEY)
        .env_remove("NEXUS_MCP_STATE_KEYS")
        .output()
        .expect("nexus-mcp");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `nexus-mcp serve` with `args` under another keyring than every served
/// test's: what another deployment's server makes.
pub fn operated_elsewhere(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_nexus-mcp"))
        .arg("serve")
        .args(args)
        .env(
            "NEXUS_MCP_STATE_KEY",
            "another-sealing-key-of-at-least-32-bytes",
        )
        .env_remove("NEXUS_MCP_STATE_KEYS")
        .output()
        .expect("nexus-mcp")
}

/// The Tenant URL and Secret Token `serve scim token` prints for the server
/// at `origin` (its MCP at `/mcp`).
pub fn scim_token(origin: &str) -> (String, String) {
    let public = format!("{origin}/mcp");
    let printed = operated(&["scim", "token", "--public-url", &public], &[]);
    let value = |name: &str| {
        let line = printed.lines().find(|line| line.starts_with(name));
        let line = line.unwrap_or_else(|| panic!("{name} in {printed}"));
        line[name.len()..].trim().to_owned()
    };
    (value("Tenant URL:"), value("Secret Token:"))
}

/// `serve ssf connect` for the server at `origin` at the transmitter
/// `transmitter` (`--poll` when `poll`), asked with the bearer `token`: the
/// stream's configuration as printed.
pub fn ssf_connect(origin: &str, transmitter: &str, token: &str, poll: bool) -> Value {
    let public = format!("{origin}/mcp");
    let mut args = vec![
        "ssf",
        "connect",
        "--transmitter",
        transmitter,
        "--public-url",
        &public,
    ];
    if poll {
        args.push("--poll");
    }
    let printed = operated(&args, &[("NEXUS_MCP_SSF_TOKEN", token)]);
    serde_json::from_str(&printed).expect("the stream as JSON")
}

/// `serve --oauth-proxy` (with `args`) in front of `issuer`, its login
/// client registered there: the server, and its origin.
pub fn proxy(issuer: &FakeIssuer, gateway: &FakeGateway, args: &[&str]) -> (Served, String) {
    let port = free_port();
    let origin = format!("http://127.0.0.1:{port}");
    issuer.add_client("nexus-login", &format!("{origin}/connect/callback"));
    let proxy = ["--oauth-proxy", "--login-client-id", "nexus-login"];
    let child = command(gateway, &issuer.url(), port, &[&proxy[..], args].concat()).spawn();
    (Served::ready(child.expect("nexus-mcp"), port), origin)
}

/// A host registered at `served` as "Host", its one redirect
/// http://127.0.0.1:9/cb: its client id.
pub fn host(served: &Served) -> String {
    let asked = json!({"client_name": "Host", "redirect_uris": ["http://127.0.0.1:9/cb"]});
    let (_, _, client) = served.post_json("/register", &asked.to_string());
    let id = client["client_id"].as_str().expect("a client id");
    id.to_owned()
}

/// The access token `serve` at `origin` issues for `code`, redeemed as
/// the client `id` with the example verifier (RFC 7636 appendix B).
pub fn redeemed(origin: &str, id: &str, code: &str) -> String {
    let tokens = tokens_for(origin, id, code);
    tokens["access_token"]
        .as_str()
        .expect("serve's token")
        .to_owned()
}

/// Every token `serve` at `origin` issues for `code` (redeemed as the
/// client `id` with the example verifier), its answer 200.
pub fn tokens_for(origin: &str, id: &str, code: &str) -> serde_json::Value {
    let (status, tokens) = token_answer(origin, &redemption(id, code));
    assert_eq!(status, 200, "{tokens}");
    tokens
}

/// The form the host [`host`] registered sends to redeem `code` for the
/// client `id` (its redirect, its PKCE verifier).
pub fn redemption<'a>(id: &'a str, code: &'a str) -> [(&'a str, &'a str); 5] {
    [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", "http://127.0.0.1:9/cb"),
        ("client_id", id),
        (
            "code_verifier",
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
        ),
    ]
}

/// What `serve`'s token endpoint at `at` answers the client `id` asking to
/// refresh `tokens`: its status and its JSON.
pub fn refreshed(at: &str, id: &str, tokens: &serde_json::Value) -> (u16, serde_json::Value) {
    let token = tokens["refresh_token"].as_str().expect("a refresh token");
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", token),
        ("client_id", id),
    ];
    token_answer(at, &form)
}

/// What `serve`'s token endpoint at `origin` answers `form`: its status
/// and its JSON.
pub fn token_answer(origin: &str, form: &[(&str, &str)]) -> (u16, serde_json::Value) {
    let (status, _, answer) = Browser::new().submit(&format!("{origin}/token"), form);
    (status, serde_json::from_str(&answer).unwrap_or_default())
}

/// `/authorize` at `origin` for the client `id`, its redirect
/// http://127.0.0.1:9/cb, PKCE's example challenge (RFC 7636 appendix B).
pub fn authorize_url(origin: &str, id: &str) -> String {
    let mut url = url::Url::parse(&format!("{origin}/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", id)
        .append_pair("redirect_uri", "http://127.0.0.1:9/cb")
        .append_pair("state", "s")
        .append_pair("code_challenge_method", "S256")
        .append_pair(
            "code_challenge",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        );
    url.into()
}

/// The value of the hidden field `name` in `page`.
pub fn field<'a>(page: &'a str, name: &str) -> &'a str {
    let at = page
        .find(&format!("name={name} value=\""))
        .expect("the field")
        + name.len()
        + 13;
    &page[at..at + page[at..].find('"').expect("its end")]
}

/// Replicas of `serve` behind a real nginx (round-robin, no affinity),
/// sharing a real redis-server as their store; or one alone. The front,
/// and what keeps the rest running (dropped at the test's end).
pub struct Replicas {
    pub front: Served,
    _replicas: Vec<Served>,
    _nginx: Option<super::nginx::Nginx>,
    _redis: Option<super::redis::Redis>,
}

/// `count` replicas behind nginx on `port`, each started by `serve_at`
/// with its own port and the store's arguments (`--store URL`); one
/// alone on `port`, without a store, when `count` is 1.
pub fn replicas(
    port: u16,
    count: usize,
    serve_at: impl Fn(u16, &[&str]) -> std::process::Command,
) -> Replicas {
    let started = |at: u16, store: &[&str]| {
        let child = serve_at(at, store).spawn();
        Served::ready(child.expect("nexus-mcp"), at)
    };
    if count == 1 {
        let front = started(port, &[]);
        return Replicas {
            front,
            _replicas: Vec::new(),
            _nginx: None,
            _redis: None,
        };
    }
    let redis = super::redis::Redis::start();
    let store = redis.url();
    let ports: Vec<u16> = (0..count).map(|_| free_port()).collect();
    let replicas = (ports.iter())
        .map(|at| started(*at, &["--store", &store]))
        .collect();
    let nginx = super::nginx::Nginx::start(port, &ports);
    Replicas {
        front: Served::front(&format!("http://127.0.0.1:{port}/mcp")),
        _replicas: replicas,
        _nginx: Some(nginx),
        _redis: Some(redis),
    }
}

/// A P-256 key pair made for the test: its signing key, and its public JWK
/// (kid `doc-key`), as a client ID metadata document publishes it.
pub fn document_key() -> (jsonwebtoken::EncodingKey, Value) {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng);
    let point = pair.unwrap().public_key().as_ref().to_vec();
    let jwk = json!({
        "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": "doc-key",
        "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
    });
    (jsonwebtoken::EncodingKey::from_ec_der(pkcs8.as_ref()), jwk)
}

/// A client assertion (RFC 7523 §3) of the document client `id` for
/// `audience`, signed with `key` (kid `doc-key`), its `jti` `jti`, living a
/// minute.
pub fn client_assertion(
    key: &jsonwebtoken::EncodingKey,
    id: &str,
    audience: &str,
    jti: &str,
) -> String {
    let now = jsonwebtoken::get_current_timestamp();
    let claims =
        json!({"iss": id, "sub": id, "aud": audience, "jti": jti, "iat": now, "exp": now + 60});
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some("doc-key".into());
    jsonwebtoken::encode(&header, &claims, key).unwrap()
}

/// An ID-JAG as Okta issues one for `client` at `origin`: for `person`,
/// the MCP endpoint as its resource, five minutes, its `jti` `jti`.
pub fn id_jag(
    person: &str,
    origin: &str,
    client: &str,
    jti: &str,
) -> nexus_gateway_fake::FakeToken {
    nexus_gateway_fake::FakeToken::new(person)
        .typ("oauth-id-jag+jwt")
        .audience(origin)
        .expires_in(300)
        .claim("resource", json!(format!("{origin}/mcp")))
        .claim("client_id", json!(client))
        .claim("jti", json!(jti))
        .claim("scope", json!("mcp.tools"))
}

/// The status of a tool call on `served` with `tokens`' access token.
pub fn called(served: &Served, tokens: &Value) -> u16 {
    let access = tokens["access_token"].as_str().expect("an access token");
    served.call(access, "list_providers", json!({})).0
}

/// [`called`] on a replica beside the one at `origin`, public at its URL:
/// asked with that `Host`, as a load balancer passes it.
pub fn called_beside(served: &Served, origin: &str, tokens: &Value) -> u16 {
    let access = tokens["access_token"].as_str().expect("an access token");
    let bearer = format!("Bearer {access}");
    let host = origin.trim_start_matches("http://");
    let headers = [
        ("Authorization", bearer.as_str()),
        ("Host", host),
        ("MCP-Protocol-Version", "2026-07-28"),
        ("Mcp-Method", "tools/call"),
        ("Mcp-Name", "list_providers"),
    ];
    let call = super::served::call("list_providers", json!({}), "2026-07-28");
    served.post(&headers, &call).0
}

/// A real Redis, a fake issuer and Gateway, and the store's URL for `--store`.
pub fn stored() -> (super::redis::Redis, FakeIssuer, FakeGateway, String) {
    let redis = super::redis::Redis::start();
    let store = redis.url();
    (redis, FakeIssuer::start(), FakeGateway::start(), store)
}

/// The mark of the client `id` (the SHA-256 of its id, hex), as `serve
/// client add` prints its first 12 digits and a line's `client=` shows
/// them.
pub fn mark(id: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(id.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// What `/token` at `origin` answers `form` with the client `(id, secret)`
/// authenticated in the form: its status and its JSON.
pub fn token_as(origin: &str, (id, secret): (&str, &str), form: &[(&str, &str)]) -> (u16, Value) {
    let mut form = form.to_vec();
    form.extend([("client_id", id), ("client_secret", secret)]);
    token_answer(origin, &form)
}

/// The token exchange's grant type (RFC 8693).
pub const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// The one token type exchanged (RFC 8693 §3).
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// What `/token` at `origin` answers the client `(id, secret)` exchanging
/// `tokens`' access token (RFC 8693), with `more` fields: its status and
/// its JSON.
pub fn exchanged(
    origin: &str,
    client: (&str, &str),
    tokens: &Value,
    more: &[(&str, &str)],
) -> (u16, Value) {
    let subject = tokens["access_token"].as_str().expect("an access token");
    let form = [
        ("grant_type", TOKEN_EXCHANGE),
        ("subject_token", subject),
        ("subject_token_type", ACCESS_TOKEN_TYPE),
    ];
    token_as(origin, client, &[&form[..], more].concat())
}

/// A host registered at `served` as `name`, with `scope` if any: its id.
pub fn registered(served: &Served, name: &str, scope: Option<&str>) -> String {
    let mut asked = json!({"client_name": name, "redirect_uris": ["http://127.0.0.1:9/cb"]});
    if let Some(scope) = scope {
        asked["scope"] = json!(scope);
    }
    let (status, _, client) = served.post_json("/register", &asked.to_string());
    assert_eq!(status, 201, "{client}");
    client["client_id"]
        .as_str()
        .expect("a client id")
        .to_owned()
}

/// A `tools/call` of `authenticated_fetch` with `arguments`, as `access`:
/// the status, the headers and the answer.
pub fn fetched(
    served: &Served,
    access: &str,
    arguments: Value,
) -> (u16, Vec<(String, String)>, Value) {
    let bearer = format!("Bearer {access}");
    let headers = [
        ("Authorization", bearer.as_str()),
        ("MCP-Protocol-Version", "2026-07-28"),
        ("Mcp-Method", "tools/call"),
        ("Mcp-Name", "authenticated_fetch"),
    ];
    let body = super::served::call("authenticated_fetch", arguments, "2026-07-28");
    served.post(&headers, &body)
}

/// A fake issuer, Gateway and provider API, `person`'s workspace holding
/// `providers`, each an OAuth credential whose API is that API.
pub fn with_providers(
    person: &str,
    providers: &[&str],
) -> (FakeIssuer, FakeGateway, nexus_gateway_fake::FakeUpstream) {
    let (issuer, gateway) = (FakeIssuer::start(), FakeGateway::start());
    let api = nexus_gateway_fake::FakeUpstream::start();
    let workspace = super::served::workspace_of(&issuer.url(), person);
    for provider in providers {
        let credential = nexus_gateway_fake::FakeProvider::oauth2("gho_team");
        gateway.add_provider(&workspace, provider, credential.api_base_url(&api.url()));
    }
    (issuer, gateway, api)
}

/// What `serve sessions --person ISSUER SUBJECT --store STORE` prints: each
/// agent acting for that person, one a line.
pub fn sessions(issuer: &str, subject: &str, store: &str) -> String {
    operated(
        &["sessions", "--person", issuer, subject, "--store", store],
        &[],
    )
}
