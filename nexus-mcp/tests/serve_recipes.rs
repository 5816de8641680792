//! The guide's recipe for each identity provider (`docs/serve.md`, "The
//! issuer"), run as written: `nexus-mcp serve`, the built program, with the
//! recipe's flags, against the fake issuer minting what that provider
//! issues. Its access token acts for the right person's workspace; its ID
//! token, and a token naming the person by the wrong claim, are refused.

mod common;

use common::served::{Served, command, free_port, workspace_of};
use nexus_gateway_fake::{FakeGateway, FakeIssuer, FakeProvider, FakeToken, FakeUpstream};
use serde_json::{Value, json};

/// An application's client id, as Entra ID and Okta write them.
const CLIENT_ID: &str = "0b7f3b43-2f1a-4c5e-8d2b-6a1f9e0c4d11";

/// The recipe's `serve`, with the person `person` connected to github.
struct Recipe {
    issuer: FakeIssuer,
    gateway: FakeGateway,
    api: FakeUpstream,
    served: Served,
    person: String,
}

impl Recipe {
    fn new(person: &str, args: &[&str], env: &[(&str, &str)]) -> Recipe {
        Recipe::at(FakeIssuer::start(), person, args, env)
    }

    fn at(issuer: FakeIssuer, person: &str, args: &[&str], env: &[(&str, &str)]) -> Recipe {
        let (gateway, api) = (FakeGateway::start(), FakeUpstream::start());
        let github = FakeProvider::oauth2("gho_recipe").api_base_url(&api.url());
        gateway.add_provider(&workspace_of(&issuer.url(), person), "github", github);
        let port = free_port();
        let mut serve = command(&gateway, &issuer.url(), port, args);
        for (name, value) in env {
            serve.env(name, value);
        }
        let served = Served::ready(serve.spawn().unwrap(), port);
        Recipe {
            issuer,
            gateway,
            api,
            served,
            person: person.to_owned(),
        }
    }

    /// A fetch as `token`: whether it was answered for the recipe's person
    /// (only their workspace is connected; another's call is a tool error).
    fn acts_for_the_person(&self, token: &str) -> bool {
        let url = format!("{}/user", self.api.url());
        let fetch = json!({"provider": "github", "url": url});
        let (status, answer) = self.served.call(token, "authenticated_fetch", fetch);
        status == 200 && answer["result"]["isError"] == json!(false) && self.resolves() >= 1
    }

    fn resolves(&self) -> usize {
        let workspace = workspace_of(&self.issuer.url(), &self.person);
        self.gateway.resolves(&workspace, "github")
    }

    fn status(&self, token: &str) -> u16 {
        self.served.call(token, "list_providers", json!({})).0
    }
}

fn with(token: FakeToken, claims: Value) -> FakeToken {
    let Value::Object(claims) = claims else {
        return token;
    };
    claims
        .into_iter()
        .fold(token, |t, (name, value)| t.claim(&name, value))
}

#[test]
fn entra_id() {
    // `--audience <client-id> --subject-claim oid`; v2 access tokens name
    // the client id, say `typ: JWT`, carry `scp`, and `sub` is pairwise.
    let alias = format!("api://{CLIENT_ID}");
    let args = [
        "--audience",
        CLIENT_ID,
        "--audience",
        &alias,
        "--subject-claim",
        "oid",
    ];
    // Its issuer is `ORIGIN/TENANT/v2.0`, metadata only at the OpenID path.
    let tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    let issuer = FakeIssuer::start_entra(tenant);
    assert!(issuer.url().ends_with(&format!("/{tenant}/v2.0")));
    let recipe = Recipe::at(issuer, "5f6b8f0e-7d1c-4b8e-9a51-2d0c1e4b7a93", &args, &[]);
    let entra = |aud: &str, more: Value| {
        let token = FakeToken::new("AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ").audience(aud);
        let claims = json!({"oid": recipe.person, "tid": tenant, "ver": "2.0"});
        recipe
            .issuer
            .mint(&with(with(token.typ("JWT"), claims), more))
    };
    assert!(recipe.acts_for_the_person(&entra(CLIENT_ID, json!({"scp": "Files.Read User.Read"}))));
    assert!(recipe.acts_for_the_person(&entra(
        &alias,
        json!({"roles": ["Mcp.Use"], "scp": "mcp.tools"})
    )));
    // Its ID token for a person given an app role: `roles`, no nonce, no scp.
    assert_eq!(
        recipe.status(&entra(CLIENT_ID, json!({"roles": ["Mcp.Use"]}))),
        401
    );
    // Its ID token for the same application: the client id, a nonce, no scp.
    assert_eq!(
        recipe.status(&entra(CLIENT_ID, json!({"nonce": "n-0S6_WzA2Mj"}))),
        401
    );
    assert_eq!(
        recipe.status(&entra(CLIENT_ID, json!({}))),
        401,
        "no nonce, no grant"
    );
    // An application's own token names no person, whether it says so
    // (`idtyp: app`) or not (no scp, its `oid` its `sub`).
    let service = "9a2c0d51-3b7e-4f0a-8c1d-6e5f4a3b2c1d";
    let app = json!({"roles": ["Mcp.Use"], "oid": service, "idtyp": "app"});
    assert_eq!(recipe.status(&entra(CLIENT_ID, app)), 401);
    let token = FakeToken::new(service).audience(CLIENT_ID).typ("JWT");
    let claims = json!({"oid": service, "tid": tenant, "roles": ["Mcp.Use"], "azp": "x"});
    assert_eq!(
        recipe.status(&recipe.issuer.mint(&with(token, claims))),
        401
    );
    let said = recipe
        .served
        .said_once(|said| said.contains("names no person"));
    assert!(said.contains("delegated scope"), "{said}");
    // A v1 token (the manifest's accessTokenAcceptedVersion unset): refused,
    // the line naming the setting.
    let v1 = FakeToken::new("x")
        .audience(CLIENT_ID)
        .issuer(&format!("https://sts.windows.net/{tenant}/"));
    let v1 = recipe.issuer.mint(&with(
        v1,
        json!({"ver": "1.0", "oid": recipe.person, "scp": "mcp"}),
    ));
    assert_eq!(recipe.status(&v1), 401);
    let said = recipe
        .served
        .said_once(|said| said.contains("accessTokenAcceptedVersion"));
    assert!(said.contains("v1 token"), "{said}");
}

#[test]
fn entra_id_with_a_scope() {
    // Hosts ask `api://<app>/mcp.tools` (a bare `mcp.tools` is Graph's);
    // the token's `scp` says `mcp.tools`.
    let (alias, tenant) = (format!("api://{CLIENT_ID}"), "72f988bf-86f1-41af");
    let scope = format!("{alias}/mcp.tools");
    let args = [
        "--audience",
        &alias,
        "--subject-claim",
        "oid",
        "--scope",
        &scope,
    ];
    let issuer = FakeIssuer::start_entra(tenant);
    let recipe = Recipe::at(issuer, "5f6b8f0e-7d1c-4b8e", &args, &[]);
    let entra = |scp: &str| {
        let token = FakeToken::new("pairwise-sub").audience(&alias).typ("JWT");
        let claims = json!({"oid": recipe.person, "tid": tenant, "scp": scp});
        recipe.issuer.mint(&with(token, claims))
    };
    assert!(recipe.acts_for_the_person(&entra("mcp.tools")));
    let (_, _, metadata) = recipe
        .served
        .get("/.well-known/oauth-protected-resource/mcp");
    assert_eq!(
        metadata["scopes_supported"],
        json!([scope]),
        "the URI, as asked"
    );
    // Another scope: 403, and the operator's line shows what it carries.
    assert_eq!(recipe.status(&entra("User.Read")), 403);
    let said = recipe
        .served
        .said_once(|said| said.contains("lacks the scope"));
    assert!(said.contains(r#"scp "User.Read""#), "{said}");
    // A Microsoft Graph token (the host asked a bare scope): refused, the
    // line naming the scope to ask.
    let graph = FakeToken::new("pairwise").audience("00000003-0000-0000-c000-000000000000");
    let graph = recipe.issuer.mint(&with(
        graph,
        json!({"oid": recipe.person, "scp": "mcp.tools"}),
    ));
    assert_eq!(recipe.status(&graph), 401);
    let said = recipe
        .served
        .said_once(|said| said.contains("Microsoft Graph token"));
    assert!(said.contains("api://"), "{said}");
}

#[test]
fn okta_custom_authorization_server() {
    // `--audience api://default --subject-claim uid`: the access token's
    // `sub` is the login e-mail, `uid` the user id; `typ: at+jwt`; `scp` a list.
    let args = ["--audience", "api://default", "--subject-claim", "uid"];
    let recipe = Recipe::new("00u1ab2cd3EfGh4IJ5d7", &args, &[]);
    let okta = |uid: Option<&str>| {
        let token = FakeToken::new("alice@example.com")
            .audience("api://default")
            .typ("at+jwt");
        let token = token
            .claim("scp", json!(["openid", "mcp:tools"]))
            .claim("cid", json!(CLIENT_ID));
        recipe.issuer.mint(&match uid {
            Some(uid) => token.claim("uid", json!(uid)),
            None => token,
        })
    };
    assert!(recipe.acts_for_the_person(&okta(Some(&recipe.person))));
    assert_eq!(recipe.status(&okta(None)), 401, "no uid: no person");
}

#[test]
fn auth0() {
    // The API's identifier is the public URL; `aud` a list with /userinfo.
    let recipe = Recipe::new("auth0|65b2f0c1d2e3f4a5b6c7d8e9", &[], &[]);
    let userinfo = format!("{}/userinfo", recipe.issuer.url());
    let aud = json!([recipe.served.resource, userinfo]);
    let token = FakeToken::new(&recipe.person)
        .claim("aud", aud)
        .typ("at+jwt");
    let token = token
        .claim("scope", json!("openid profile"))
        .claim("azp", json!(CLIENT_ID));
    assert!(recipe.acts_for_the_person(&recipe.issuer.mint(&token)));
    // Without `audience`, Auth0 gives a token for /userinfo alone.
    let userinfo_only = FakeToken::new(&recipe.person).audience(&userinfo);
    assert_eq!(recipe.status(&recipe.issuer.mint(&userinfo_only)), 401);
}

#[test]
fn keycloak() {
    // An audience mapper puts the public URL in `aud`; `typ: Bearer` is a
    // claim of the payload, and `azp` the client.
    let recipe = Recipe::new("f:3c1e9a7b:alice", &[], &[]);
    let aud = json!([recipe.served.resource, "account"]);
    let token = FakeToken::new(&recipe.person).claim("aud", aud);
    let claims = json!({"typ": "Bearer", "azp": "claude", "scope": "openid mcp:tools"});
    assert!(recipe.acts_for_the_person(&recipe.issuer.mint(&with(token, claims))));
    // Without the mapper: `account` alone.
    let account = FakeToken::new(&recipe.person).audience("account");
    assert_eq!(recipe.status(&recipe.issuer.mint(&account)), 401);
}

#[test]
fn zitadel() {
    // Opaque tokens for dynamically registered clients, told by
    // introspection to an API application's client.
    let env = [(
        "NEXUS_MCP_INTROSPECTION_CLIENT_SECRET",
        "zitadel-api-secret-0123",
    )];
    let args = ["--introspection-client-id", "mcp-api@project"];
    let recipe = Recipe::new("283495761947352001", &args, &env);
    recipe
        .issuer
        .add_confidential_client("mcp-api@project", "http://127.0.0.1/unused", env[0].1);
    let token = FakeToken::new(&recipe.person).audience(&recipe.served.resource);
    let opaque = recipe
        .issuer
        .mint_opaque(&token.claim("scope", json!("openid")));
    assert!(recipe.acts_for_the_person(&opaque));
    assert_eq!(recipe.issuer.introspections(), 1);
}
