//! Which tokens `nexus-mcp serve` (the built program) takes as access
//! tokens, and whom they name: audiences besides the public URL
//! (`--audience`), never an ID token whatever its audience, no `crit`
//! header it does not understand, and the person read from the claim
//! `--subject-claim` names, refused when missing or blank.

mod common;

use common::served::{Served, command, free_port, workspace_of};
use nexus_gateway_fake::{FakeGateway, FakeIssuer, FakeProvider, FakeToken, FakeUpstream};
use serde_json::{Value, json};

/// An application's client id, as Entra ID writes it in `aud`.
const CLIENT_ID: &str = "6e1b1a8c-53d4-4c56-9e4f-0f2f3c9a7b21";

fn setup(args: &[&str]) -> (FakeIssuer, FakeGateway, FakeUpstream, Served) {
    let issuer = FakeIssuer::start();
    let (gateway, api) = (FakeGateway::start(), FakeUpstream::start());
    let github = FakeProvider::oauth2("gho_alice_secret").api_base_url(&api.url());
    gateway.add_provider(&workspace_of(&issuer.url(), "alice"), "github", github);
    let served = Served::start(&gateway, &issuer, args);
    (issuer, gateway, api, served)
}

/// The status of `list_providers` as `token`, and the answer.
fn status(served: &Served, token: &str) -> (u16, Value) {
    served.call(token, "list_providers", json!({}))
}

fn refused(served: &Served, token: &str, why: &str) {
    let (status, answer) = status(served, token);
    assert_eq!(status, 401, "{why}: {answer}");
    assert_eq!(answer["error"], json!("invalid_token"), "{why}: {answer}");
}

fn admitted(served: &Served, token: &str, why: &str) {
    let (status, answer) = status(served, token);
    assert_eq!(status, 200, "{why}: {answer}");
}

#[test]
fn an_audience_alias_admits_access_tokens_and_never_an_id_token() {
    let alias = format!("api://{CLIENT_ID}");
    let (issuer, _gateway, _api, served) = setup(&["--audience", CLIENT_ID, "--audience", &alias]);
    let to = |aud: &str| FakeToken::new("alice").audience(aud);
    // Entra's access tokens: the client id or its api:// URI, with `scp`;
    // RFC 9068's typed ones; one naming several audiences. An application's
    // own token (`idtyp: app`, `roles`) is an access token naming no person.
    admitted(
        &served,
        &issuer.mint(&to(CLIENT_ID).claim("scp", json!("Files.Read"))),
        "scp",
    );
    let app = to(&alias).claim("roles", json!(["Reader"]));
    let (status, answer) = status(&served, &issuer.mint(&app.claim("idtyp", json!("app"))));
    assert_eq!(status, 401, "an application's token: roles, idtyp app");
    assert!(
        answer["error_description"]
            .to_string()
            .contains("names no person"),
        "{answer}"
    );
    admitted(
        &served,
        &issuer.mint(
            &to(&alias)
                .claim("roles", json!(["Reader"]))
                .claim("scp", json!("Files.Read")),
        ),
        "roles beside scp",
    );
    admitted(
        &served,
        &issuer.mint(&to(CLIENT_ID).typ("at+jwt")),
        "at+jwt",
    );
    let both = FakeToken::new("alice").claim("aud", json!([CLIENT_ID, served.resource]));
    admitted(&served, &issuer.mint(&both), "a list naming the public URL");
    // An ID token for the same application: its client id, no grant.
    refused(
        &served,
        &issuer.mint(&to(CLIENT_ID)),
        "an alias granting nothing",
    );
    refused(
        &served,
        &issuer.mint(&to(&alias).typ("JWT")),
        "typed JWT, granting nothing",
    );
    // Entra's ID token for a person with app roles: typed JWT, an alias,
    // `roles`, no nonce (none asked), no scp. Roles are no access token's mark.
    for aud in [CLIENT_ID, alias.as_str()] {
        for idtyp in [None, Some("user")] {
            let mut id = to(aud).typ("JWT").claim("roles", json!(["Mcp.Use"]));
            if let Some(idtyp) = idtyp {
                id = id.claim("idtyp", json!(idtyp));
            }
            refused(&served, &issuer.mint(&id), "an ID token carrying roles");
        }
    }
    // Whatever its audience, a token a login made for a client is refused.
    for (claim, value) in [
        ("nonce", "n-0S6_WzA2Mj"),
        ("at_hash", "77QmUPtjPfzWtF2AnpK9RQ"),
        ("c_hash", "LDktKdoQak3Pk0cnXxCltA"),
    ] {
        let with = |token: FakeToken| issuer.mint(&token.claim(claim, json!(value)));
        refused(&served, &with(to(&served.resource)), claim);
        refused(
            &served,
            &with(to(CLIENT_ID).claim("scp", json!("Files.Read"))),
            claim,
        );
    }
    // A JOSE type that is not an access token's.
    for typ in [
        "id_token+jwt",
        "logout+jwt",
        "dpop+jwt",
        "secevent+jwt",
        "JOSE",
    ] {
        refused(&served, &issuer.mint(&to(&served.resource).typ(typ)), typ);
    }
    for typ in ["at+jwt", "application/at+JWT", "jwt"] {
        admitted(&served, &issuer.mint(&to(&served.resource).typ(typ)), typ);
    }
}

#[test]
fn without_the_flag_an_alias_is_another_audience() {
    let (issuer, _gateway, _api, served) = setup(&[]);
    let entra = FakeToken::new("alice")
        .audience(CLIENT_ID)
        .claim("scp", json!("Files.Read"));
    refused(&served, &issuer.mint(&entra), "an audience not configured");
}

#[test]
fn a_critical_header_extension_is_refused() {
    let (issuer, _gateway, _api, served) = setup(&[]);
    let alice = || FakeToken::new("alice").audience(&served.resource);
    for crit in [&["exp"][..], &["b64"], &["http://example.com/ext", "exp"]] {
        refused(
            &served,
            &issuer.mint(&alice().critical(crit)),
            &format!("{crit:?}"),
        );
    }
    admitted(&served, &issuer.mint(&alice()), "no crit");
}

#[test]
fn the_person_is_the_subject_claim_and_a_blank_one_is_no_person() {
    // Entra: `oid` is the person; its `sub` is pairwise per application.
    let (issuer, gateway, api, served) = setup(&["--subject-claim", "oid"]);
    let as_oid = |oid: Value| {
        let token = FakeToken::new("pairwise-Xk3").audience(&served.resource);
        issuer.mint(&token.claim("oid", oid))
    };
    let url = format!("{}/user", api.url());
    let fetch = json!({"provider": "github", "url": url});
    let (status, answer) = served.call(&as_oid(json!("alice")), "authenticated_fetch", fetch);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["result"]["isError"], json!(false), "{answer}");
    let workspace = workspace_of(&issuer.url(), "alice");
    assert_eq!(
        gateway.resolves(&workspace, "github"),
        1,
        "the workspace of oid"
    );
    for oid in [json!(""), json!("   "), json!(42), json!(null)] {
        refused(&served, &as_oid(oid.clone()), &format!("oid {oid}"));
    }
    let no_oid = FakeToken::new("alice").audience(&served.resource);
    refused(&served, &issuer.mint(&no_oid), "no oid");
    // By default the person is `sub`, and a blank one names no one.
    let (issuer, _gateway, _api, served) = setup(&[]);
    for sub in ["", " ", "\t"] {
        refused(
            &served,
            &issuer.mint(&FakeToken::new(sub).audience(&served.resource)),
            "blank sub",
        );
    }
    let said = served.said();
    assert!(!said.contains("panicked"), "{said}");
}

#[test]
fn a_blank_audience_or_subject_claim_is_a_usage_error() {
    for args in [&["--audience", " "][..], &["--subject-claim", ""]] {
        let issuer = FakeIssuer::start();
        let gateway = FakeGateway::start();
        let port = common::served::free_port();
        let out = common::served::command(&gateway, &issuer.url(), port, args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(args[0]), "{args:?}: {stderr}");
    }
}

#[test]
fn the_issuer_is_asked_at_most_once_per_30_s_whatever_its_max_age_or_health() {
    // An issuer whose key set may be kept for no time at all.
    let issuer = FakeIssuer::start();
    issuer.set_max_age(Some(0));
    let gateway = FakeGateway::start();
    let served = Served::start(&gateway, &issuer, &[]);
    let before = issuer.requests();
    let person = |n: usize| FakeToken::new(&format!("p-{n}")).audience(&served.resource);
    // Tokens the set held at start verifies, each new (no recall by hash):
    // none asks the issuer again within 30 s, though max-age said 0.
    for n in 0..10 {
        admitted(&served, &issuer.mint(&person(n)), "a key the set holds");
    }
    assert_eq!(issuer.requests(), before, "no fetch for keys it holds");
    // A key the set lacks: one fetch (metadata and keys), however many ask.
    let unknown = |n: usize| issuer.mint(&person(n).key("ec-2"));
    for n in 0..10 {
        refused(&served, &unknown(n), "a key the issuer does not publish");
    }
    let once = issuer.requests();
    assert!(once - before <= 2, "{} requests", once - before);
    // The issuer down: nobody's request makes this replica call it again.
    issuer.set_down(true);
    for n in 0..10 {
        let (status, _) = status(&served, &unknown(n));
        assert!(status == 401 || status == 503, "{status}");
    }
    assert_eq!(issuer.requests(), once, "no fetch within 30 s of the last");
}

#[test]
fn metadata_naming_another_issuer_is_said_with_both_values() {
    // The guide's own mistake: `--issuer` with a trailing slash the
    // issuer's metadata does not have.
    let issuer = FakeIssuer::start();
    let gateway = FakeGateway::start();
    let port = common::served::free_port();
    let slashed = format!("{}/", issuer.url());
    let child = common::served::command(&gateway, &slashed, port, &[])
        .spawn()
        .unwrap();
    let served = Served::ready(child, port);
    let said = served.said_once(|said| said.contains("not --issuer"));
    let both = format!(
        "names the issuer \"{}\", not --issuer \"{slashed}\"",
        issuer.url()
    );
    assert!(said.contains(&both), "{said}");
}

/// `serve --oauth-proxy` issued Alice an access token; a replica started
/// after a keyring change (the key that sealed it taken out) refuses it
/// naming the keyring, never as an opaque token wanting introspection; one
/// that still holds the key, second in its ring, takes it.
#[test]
fn an_access_token_sealed_under_a_key_the_keyring_no_longer_holds_is_refused_naming_the_keyring() {
    use common::front::{signed_in_through, tokens_for};
    let (issuer, gateway) = (FakeIssuer::start(), FakeGateway::start());
    let (_one, origin, id, redirect) = signed_in_through(&issuer, &gateway, "alice", &[]);
    let tokens = tokens_for(&origin, &id, &redirect["code"]);
    let access = tokens["access_token"].as_str().expect("an access token");
    let new = "new:a-new-sealing-key-of-32-bytes-or-more!";
    let replica = |keys: &str| {
        let port = free_port();
        let proxy = ["--oauth-proxy", "--login-client-id", "nexus-login"];
        let public = format!("{origin}/mcp");
        let args = [&proxy[..], &["--public-url", &public]].concat();
        let mut command = command(&gateway, &issuer.url(), port, &args);
        command
            .env_remove("NEXUS_MCP_STATE_KEY")
            .env("NEXUS_MCP_STATE_KEYS", keys);
        Served::ready(command.spawn().expect("nexus-mcp"), port)
    };
    // Asked as the first replica's Host, as the balancer in front passes it.
    let host = origin.trim_start_matches("http://").to_owned();
    let listed = |served: &Served| {
        let bearer = format!("Bearer {access}");
        let headers = [
            ("Authorization", bearer.as_str()),
            ("Host", host.as_str()),
            ("MCP-Protocol-Version", "2026-07-28"),
            ("Mcp-Method", "tools/call"),
            ("Mcp-Name", "list_providers"),
        ];
        let body = common::served::call("list_providers", json!({}), "2026-07-28");
        let (status, _, answer) = served.post(&headers, &body);
        (status, answer)
    };
    let rotated = replica(new);
    let (status, answer) = listed(&rotated);
    assert_eq!(status, 401, "{answer}");
    let said = answer["error_description"].as_str().unwrap_or_default();
    assert!(
        said.contains("keyring") && said.contains("lacks") && !said.contains("introspection"),
        "{answer}"
    );
    rotated.said_once(|line| line.contains("keyring") && !line.contains("introspection"));
    // Kept second in the ring, the old key still opens what it sealed.
    let kept = replica(&format!("{new},default:{}", common::served::STATE_KEY));
    assert_eq!(listed(&kept).0, 200);
}
