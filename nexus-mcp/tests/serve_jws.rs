//! One rule for every signed token and every client, through the built
//! program (`serve --oauth-proxy`): a client whose document names its keys
//! proves itself with a client assertion at the code, the refresh and
//! `/revoke` alike, never by its name alone; a client assertion is held to
//! the rule every token is (its header, its audience the issuer identifier
//! alone, `nbf`, a short life, every time claim of every type and size);
//! an ID-JAG and a bearer token to the same rule; and every endpoint
//! answers a malformed request with OAuth's words. No input panics.

mod common;

use common::front::{
    client_assertion, document_key, id_jag, redemption, signed_in_by, token_answer,
};
use common::served::{Browser, Served, free_port};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use nexus_gateway_fake::{
    FakeGateway, FakeIssuer, FakeProvider, FakeReply, FakeToken, FakeUpstream,
};
use serde_json::{Value, json};

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A proxy in front of a fake issuer, trusting the fake API's origin for
/// client documents, with a document client there that names its key.
struct Setting {
    issuer: FakeIssuer,
    _gateway: FakeGateway,
    _api: FakeUpstream,
    served: Served,
    origin: String,
    id: String,
    key: EncodingKey,
}

fn setting() -> Setting {
    setting_with(&[])
}

/// [`setting`], `serve` given `args` too.
fn setting_with(args: &[&str]) -> Setting {
    let (issuer, gateway, api) = (
        FakeIssuer::start(),
        FakeGateway::start(),
        FakeUpstream::start(),
    );
    let workspace = common::served::workspace_of(&issuer.url(), "alice");
    gateway.add_provider(&workspace, "github", FakeProvider::oauth2("gho_alice"));
    let id = format!("{}/client.json", api.url());
    let (key, jwk) = document_key();
    let document = json!({
        "client_id": id, "client_name": "Keyed Host", "redirect_uris": ["http://127.0.0.1:9/cb"],
        "token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [jwk]},
    });
    let reply = FakeReply::new(200)
        .header("Content-Type", "application/json")
        .body(document.to_string());
    api.set_reply("/client.json", reply);
    let trusted = ["--oauth-client-document-origin", &api.url()];
    let (served, origin) = common::front::proxy(&issuer, &gateway, &[&trusted, args].concat());
    Setting {
        issuer,
        _gateway: gateway,
        _api: api,
        served,
        origin,
        id,
        key,
    }
}

impl Setting {
    /// A fresh client assertion for this server's issuer identifier.
    fn proof(&self, jti: &str) -> String {
        client_assertion(&self.key, &self.id, &self.origin, jti)
    }

    /// What `path` answers `form`: its status and JSON.
    fn post(&self, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
        let (status, _, body) = Browser::new().submit(&format!("{}{path}", self.origin), form);
        (status, serde_json::from_str(&body).unwrap_or_default())
    }

    /// Whether `access` still lists providers.
    fn works(&self, access: &str) -> bool {
        self.served.call(access, "list_providers", json!({})).0 == 200
    }
}

/// `form` with the client proven by `assertion`.
fn proven<'a>(form: &[(&'a str, &'a str)], assertion: &'a str) -> Vec<(&'a str, &'a str)> {
    let mut form = form.to_vec();
    form.extend([
        ("client_assertion_type", ASSERTION_TYPE),
        ("client_assertion", assertion),
    ]);
    form
}

/// Asserts `answer` is a refusal with `status` and the error `code`, `what`
/// naming the case.
fn refused_as(answer: &(u16, Value), (status, code): (u16, &str), what: &str) {
    let (got, body) = answer;
    let error = body["error"].as_str();
    assert_eq!((*got, error), (status, Some(code)), "{what}: {body}");
}

#[test]
fn a_keyed_document_client_proves_itself_at_the_code_the_refresh_and_revoke() {
    let s = setting();
    let said = signed_in_by(&s.origin, &s.id);
    let code = said.get("code").expect("a code");
    // By its name alone: 401 invalid_client, and nothing spent or done.
    let by_name = |path: &str, form: &[(&str, &str)]| {
        let answer = s.post(path, form);
        refused_as(&answer, (401, "invalid_client"), path);
    };
    // Proven with a fresh client assertion: 200.
    let proven_with = |path: &str, form: &[(&str, &str)], jti: &str| {
        let proof = s.proof(jti);
        let answer = s.post(path, &proven(form, &proof));
        assert_eq!(answer.0, 200, "{path}: {}", answer.1);
        answer.1
    };
    let named = redemption(&s.id, code);
    by_name("/token", &named);
    let tokens = proven_with("/token", &named, "code-1");
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();
    assert!(s.works(access));
    // The refresh: refused by name, and the family not moved on.
    let refreshing = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh),
        ("client_id", &s.id),
    ];
    by_name("/token", &refreshing);
    let tokens = proven_with("/token", &refreshing, "refresh-1");
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();
    // Revoked by name alone: refused, and the tokens still work.
    let revoking = [("token", refresh), ("client_id", &s.id)];
    by_name("/revoke", &revoking);
    assert!(s.works(access), "nothing revoked by a name alone");
    proven_with("/revoke", &revoking, "revoke-1");
    assert!(!s.works(access), "revoked by the proven client");
    // A secret is no proof for a client that holds a key.
    let mut secret = revoking.to_vec();
    secret.push(("client_secret", "guess"));
    by_name("/revoke", &secret);
}

/// A client assertion of `s`'s client with `claims` changed by `change`
/// and its header by `header`.
fn assertion_with(
    s: &Setting,
    change: impl FnOnce(&mut serde_json::Map<String, Value>),
    header: impl FnOnce(&mut Header),
) -> String {
    let now = jsonwebtoken::get_current_timestamp();
    let mut claims = json!({
        "iss": s.id, "sub": s.id, "aud": s.origin, "iat": now, "exp": now + 60,
        "jti": format!("j-{}", free_port()),
    });
    change(claims.as_object_mut().unwrap());
    let mut head = Header::new(Algorithm::ES256);
    head.kid = Some("doc-key".into());
    header(&mut head);
    jsonwebtoken::encode(&head, &claims, &s.key).unwrap()
}

#[test]
fn a_client_assertion_is_held_to_the_rule_every_token_is() {
    let s = setting();
    let now = jsonwebtoken::get_current_timestamp();
    let revoked = |assertion: &str| {
        let form = proven(&[("token", "not-a-token"), ("client_id", &s.id)], assertion);
        s.post("/revoke", &form)
    };
    let claim = |name: &'static str, value: Value| {
        assertion_with(&s, |c| drop(c.insert(name.into(), value)), |_| {})
    };
    let ten_years = now + 10 * 365 * 86_400;
    let cases: Vec<(&str, String)> = vec![
        (
            "aud a list naming another",
            claim("aud", json!([s.origin, "https://as.example"])),
        ),
        (
            "aud the token endpoint",
            claim("aud", json!(format!("{}/token", s.origin))),
        ),
        (
            "aud the revocation endpoint",
            claim("aud", json!(format!("{}/revoke", s.origin))),
        ),
        (
            "aud another server",
            claim("aud", json!("https://as.example")),
        ),
        (
            "aud with a trailing slash",
            claim("aud", json!(format!("{}/", s.origin))),
        ),
        ("nbf to come", claim("nbf", json!(now + 600))),
        ("nbf a string", claim("nbf", json!("now"))),
        ("iat to come", claim("iat", json!(now + 600))),
        ("iat a list", claim("iat", json!([now]))),
        ("exp ten years ahead", claim("exp", json!(ten_years))),
        ("exp near 2^64", claim("exp", json!(u64::MAX - 30))),
        ("exp 2^64 - 1", claim("exp", json!(u64::MAX))),
        ("exp a string", claim("exp", json!("soon"))),
        ("exp far past", claim("exp", json!(1))),
        ("exp before iat", claim("exp", json!(now - 1))),
        (
            "no exp",
            assertion_with(&s, |c| drop(c.remove("exp")), |_| {}),
        ),
        (
            "no jti",
            assertion_with(&s, |c| drop(c.remove("jti")), |_| {}),
        ),
        (
            "sub another",
            claim("sub", json!("https://other.example/client.json")),
        ),
        ("sub a list", claim("sub", json!([s.id]))),
        (
            "typed an ID-JAG",
            assertion_with(&s, |_| {}, |h| h.typ = Some("oauth-id-jag+jwt".into())),
        ),
        (
            "typed an access token",
            assertion_with(&s, |_| {}, |h| h.typ = Some("at+jwt".into())),
        ),
        (
            "crit",
            assertion_with(&s, |_| {}, |h| h.crit = Some(vec!["exp".into()])),
        ),
        (
            "a jku",
            assertion_with(
                &s,
                |_| {},
                |h| h.jku = Some("https://evil.example/k".into()),
            ),
        ),
    ];
    for (what, assertion) in &cases {
        let answer = revoked(assertion);
        refused_as(&answer, (401, "invalid_client"), what);
    }
    // Its audience alone in a list of one, and untyped or typed as one: taken.
    let fine = [
        claim("aud", json!([s.origin])),
        assertion_with(
            &s,
            |_| {},
            |h| h.typ = Some("client-authentication+jwt".into()),
        ),
        assertion_with(&s, |c| drop(c.remove("iat")), |h| h.typ = None),
    ];
    for assertion in &fine {
        let answer = revoked(assertion);
        assert_eq!(answer.0, 200, "{}", answer.1);
    }
    // Once: a replay is refused. And no input panicked the server.
    let answer = revoked(&fine[0]);
    refused_as(&answer, (401, "invalid_client"), "a replay");
    assert_eq!(revoked(&s.proof("last")).0, 200);
    let lines = s.served.said();
    assert!(!lines.contains("panicked"), "{lines}");
}

#[test]
#[ignore = "needs redis-server from the distribution (NEXUS_REDIS; .ci/run installs it)"]
fn a_flood_of_assertions_holds_each_jti_no_longer_than_its_token_may_live() {
    let redis = common::redis::Redis::start();
    let store = redis.url();
    let s = setting_with(&["--store", &store]);
    let now = jsonwebtoken::get_current_timestamp();
    let revoked = |assertion: &str| {
        let form = proven(&[("token", "t"), ("client_id", &s.id)], assertion);
        s.post("/revoke", &form).0
    };
    // A flood of good ones, each living as long as the rule lets it.
    for n in 0..40 {
        let life = |c: &mut serde_json::Map<String, Value>| {
            c.insert("jti".into(), json!(format!("flood-{n}")));
            c.insert("exp".into(), json!(now + 300));
        };
        assert_eq!(revoked(&assertion_with(&s, life, |_| {})), 200, "{n}");
    }
    // One that would keep its jti ten years is refused, and kept nowhere.
    let long = |c: &mut serde_json::Map<String, Value>| {
        c.insert("jti".into(), json!("a-decade"));
        c.insert("exp".into(), json!(now + 10 * 365 * 86_400));
    };
    assert_eq!(revoked(&assertion_with(&s, long, |_| {})), 401);
    let kept = redis.ask(&["KEYS", "nexus-mcp:jti:*"]);
    assert_eq!(kept.len(), 40, "{kept:?}");
    for key in &kept {
        let ttl: u64 = redis.ask(&["TTL", key])[0].parse().expect("a TTL");
        // At most its life past now and the leeway: 300 + 60.
        assert!((1..=360).contains(&ttl), "{key}: {ttl} s");
    }
}

#[test]
fn an_id_jag_is_held_to_the_same_rule_nbf_and_every_time_claim_included() {
    let s = setting();
    let now = jsonwebtoken::get_current_timestamp();
    let base = |jti: &str| id_jag("alice", &s.origin, &s.id, jti);
    let cases: Vec<(&str, FakeToken)> = vec![
        ("nbf to come", base("n1").not_before_in(600)),
        ("nbf a string", base("n2").claim("nbf", json!("later"))),
        ("iat to come", base("n3").claim("iat", json!(now + 600))),
        (
            "exp near 2^64",
            base("n4").claim("exp", json!(u64::MAX - 30)),
        ),
        ("exp 2^64 - 1", base("n5").claim("exp", json!(u64::MAX))),
        ("exp a list", base("n6").claim("exp", json!([now + 60]))),
        ("iat far past", base("n7").claim("iat", json!(1))),
        (
            "aud a list of two",
            base("n8").claim("aud", json!([s.origin, "https://as.example"])),
        ),
        (
            "aud the token endpoint",
            base("n9").audience(&format!("{}/token", s.origin)),
        ),
        (
            "iss a list",
            base("n10").claim("iss", json!([s.issuer.url()])),
        ),
    ];
    for (n, (what, token)) in cases.iter().enumerate() {
        let assertion = s.issuer.mint(token);
        let proof = s.proof(&format!("jag-{n}"));
        let form = [
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", assertion.as_str()),
        ];
        let answer = s.post("/token", &proven(&form, &proof));
        refused_as(&answer, (400, "invalid_grant"), what);
    }
    let lines = s.served.said();
    assert!(
        lines.contains("an ID-JAG refused: is not valid yet (nbf)"),
        "{lines}"
    );
    assert!(!lines.contains("panicked"), "{lines}");
}

#[test]
fn a_bearer_token_of_any_expiry_is_answered_without_a_panic() {
    let s = setting();
    let served = Served::start(&s._gateway, &s.issuer, &[]);
    let alice = || FakeToken::new("alice").audience(&served.resource);
    let far = s.issuer.mint(&alice().claim("exp", json!(u64::MAX)));
    assert_eq!(served.call(&far, "list_providers", json!({})).0, 200);
    for (what, token) in [
        ("nbf to come", alice().not_before_in(600)),
        ("nbf a list", alice().claim("nbf", json!([1]))),
        (
            "iat to come",
            alice().claim("iat", json!(jsonwebtoken::get_current_timestamp() + 600)),
        ),
        ("iss a list", alice().claim("iss", json!([s.issuer.url()]))),
        ("exp a string", alice().claim("exp", json!("later"))),
    ] {
        let (status, answer) = served.call(&s.issuer.mint(&token), "list_providers", json!({}));
        assert_eq!(
            (status, answer["error"].as_str()),
            (401, Some("invalid_token")),
            "{what}"
        );
    }
    let lines = served.said();
    assert!(!lines.contains("panicked"), "{lines}");
}

#[test]
fn every_endpoint_answers_a_malformed_request_with_oauths_words() {
    let s = setting();
    let host = common::front::host(&s.served);
    for path in ["/token", "/revoke"] {
        // A parameter twice.
        let twice = [
            ("token", "a"),
            ("token", "b"),
            ("grant_type", "refresh_token"),
        ];
        let answer = s.post(path, &twice);
        refused_as(&answer, (400, "invalid_request"), path);
        let twice = [
            ("client_id", host.as_str()),
            ("client_id", "x"),
            ("token", "t"),
        ];
        let answer = s.post(path, &twice);
        refused_as(&answer, (400, "invalid_request"), path);
        // A JSON body, not a form.
        let body = json!({"grant_type": "refresh_token", "token": "t", "client_id": host});
        let (status, _, answer) = s.served.post_json(path, &body.to_string());
        assert_eq!(
            (status, answer["error"].as_str()),
            (400, Some("invalid_request")),
            "{path}"
        );
    }
    // Naming no client at all: invalid_client, for every grant and at /revoke.
    for form in [
        &[
            ("grant_type", "authorization_code"),
            ("code", "c"),
            ("code_verifier", "v"),
        ][..],
        &[("grant_type", "refresh_token"), ("refresh_token", "r")],
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", "a"),
        ],
    ] {
        let answer = token_answer(&s.origin, form);
        refused_as(&answer, (401, "invalid_client"), &format!("{form:?}"));
    }
    let answer = s.post("/revoke", &[("token", "t")]);
    refused_as(&answer, (401, "invalid_client"), "");
    // The authorization endpoint: a parameter twice is told on this
    // server's page, never redirected to.
    let twice = format!(
        "{}&redirect_uri=https%3A%2F%2Fevil.example%2Fcb",
        common::front::authorize_url(&s.origin, &host)
    );
    let (status, location, page) = Browser::new().open(&twice);
    assert_eq!((status, location), (400, None), "{page}");
    assert!(page.contains("parameter given twice"), "{page}");
}
