//! `nexus-mcp serve --check`: the configuration tried before a rollout,
//! with the flags and variables `serve` would run with. The keyring has
//! parsed by then; this asks the rest: the issuer's metadata and keys (its
//! `issuer` equal to `--issuer`), `--scope` among the scopes it offers,
//! the login client and the introspection client accepted by it, what
//! `--oauth-proxy`'s sign-in needs of its metadata, and the Gateway
//! answering this server's key. Nothing is served.

use nexus_sdk::{Provider, one_line};
use oauth2::basic::BasicClient;
use oauth2::{
    AuthorizationCode, ClientId, ClientSecret, PkceCodeVerifier, RedirectUrl, RequestTokenError,
    TokenUrl,
};
use serde_json::Value;

use super::admit::Admission;
use super::bearer::{Gate, Hosts};
use super::introspect::Why;
use super::oauth::Client;
use super::store::{Down, Store};
use crate::http;
use crate::keys::Sealing;
use crate::server::NexusServer;

/// The note for an issuer behind `--oauth-proxy` that lists no userinfo
/// endpoint.
const NO_USERINFO: &str = "a note: the issuer lists no userinfo_endpoint: a sign-in it renews \
     without an ID token (OpenID Connect allows it) ends at that refresh, the person signing in \
     again, since nothing then says who they are now";

/// The note for an issuer behind `--oauth-proxy` whose `metadata` lists no
/// userinfo endpoint; none otherwise.
fn no_userinfo(proxy: bool, metadata: &Value) -> Option<String> {
    let lists = metadata.is_null() || !metadata["userinfo_endpoint"].is_null();
    (proxy && !lists).then(|| NO_USERINFO.to_owned())
}

/// The note for an issuer behind `--oauth-proxy` on the ID-JAG grant:
/// whether its `metadata` says it issues ID-JAGs (RFC 8693's
/// `identity_chaining_requested_token_types_supported`), so that hosts
/// reach `serve` without a browser; none otherwise.
fn id_jag(proxy: bool, metadata: &Value, issuer: &str) -> Option<String> {
    const ID_JAG: &str = "urn:ietf:params:oauth:token-type:id-jag";
    let types = &metadata["identity_chaining_requested_token_types_supported"];
    let issues = types
        .as_array()
        .is_some_and(|all| all.iter().any(|t| t == ID_JAG));
    let entra = super::oauth::front::Provider::of(issuer) == super::oauth::front::Provider::Entra;
    let note = match (issues, entra) {
        (true, _) => {
            "the issuer issues ID-JAGs: a host of a client `serve client add` made reaches \
                 this server with one, no browser"
        }
        (false, true) => "Entra ID issues no ID-JAGs: hosts sign people in with the browser",
        (false, false) => {
            "the issuer does not say it issues ID-JAGs \
                  (identity_chaining_requested_token_types_supported): hosts sign people in \
                  with the browser, unless it issues them unsaid (Okta's Cross App Access)"
        }
    };
    (proxy && !metadata.is_null()).then(|| note.to_owned())
}

/// Why each of `ids` (`--check-client-id`) is no confidential client of
/// this server's: it does not open with the keyring (another keyring's,
/// or its key gone), it has no secret (a host registered it), or it was
/// made for another server, or it ends within [`RENEW_WITHIN`] (each
/// sealed client opens for 400 days: its successor is made before then).
pub(crate) fn clients_open(hosts: &Hosts, ids: &[String]) -> Vec<String> {
    let Hosts::Proxy(front) = hosts else {
        let why = "--check-client-id: a client is --oauth-proxy's, and it is not given";
        return ids.first().map(|_| why.to_owned()).into_iter().collect();
    };
    let (keys, origin) = (front.keys.now(), &front.origin);
    let why = |id: &str| {
        let opened = Sealing::opened_until::<Client>(&keys.oauth.clients, id).ok();
        let shown = nexus_sdk::one_line_within(id, 24);
        let now = jsonwebtoken::get_current_timestamp();
        let ends = opened
            .as_ref()
            .map(|(_, until)| until.saturating_sub(now) / 86400);
        let opened = opened.map(|(client, _)| client);
        match opened {
            None => Some(format!(
                "--check-client-id {shown}: it does not open with this keyring"
            )),
            Some(client) if client.secret.is_none() => Some(format!(
                "--check-client-id {shown}: a public client (a host registered it), not one \
                 `serve client add` made"
            )),
            Some(client) if client.origin.as_ref() != Some(origin) => Some(format!(
                "--check-client-id {shown}: made for another server (--public-url)"
            )),
            Some(_) => ends.filter(|days| *days < RENEW_WITHIN).map(|days| {
                format!(
                    "--check-client-id {shown}: it ends in {days} days (a client opens 400 \
                     days): make its successor with `nexus-mcp serve client add` now, and \
                     give the host both until it has moved"
                )
            }),
        }
    };
    ids.iter().filter_map(|id| why(id)).collect()
}

/// How many days before a sealed client ends `--check-client-id` says so.
const RENEW_WITHIN: u64 = 30;

/// What the check may take per question.
const ASK: std::time::Duration = std::time::Duration::from_secs(10);

/// The connect page's client at the issuer, as `serve` would log in with it.
pub(crate) struct LoginClient {
    pub(crate) id: String,
    pub(crate) secret: Option<String>,
    /// Its redirect URI (`<public origin>/connect/callback`).
    pub(crate) callback: String,
}

/// The scopes of OpenID Connect itself: an issuer whose `scopes_supported`
/// lists these alone (Entra ID) says nothing of an API's scopes.
const OPENID_SCOPES: [&str; 6] = [
    "openid",
    "profile",
    "email",
    "address",
    "phone",
    "offline_access",
];

/// Why a sign-in at `issuer` lets anyone in, when it does: Google signs in
/// every Google account, a gmail one and another company's Workspace one
/// alike, so a login client there needs `--allow-sign-in` (Google tells
/// relying parties to check `hd`).
pub(crate) fn anyone_signs_in(
    issuer: &str,
    signs_in: bool,
    admission: &Admission,
) -> Option<String> {
    let google = issuer.trim_end_matches('/') == "https://accounts.google.com";
    (google && signs_in && !admission.restricts()).then(|| {
        "--allow-sign-in: any Google account can sign in (a gmail account, another company's \
         Workspace): say whose, as --allow-sign-in hd=<your Workspace domain>"
            .to_owned()
    })
}

/// One line per failing check, each naming the flag or variable to mend;
/// then the notes, which fail nothing.
pub(crate) async fn failures(
    gate: &Gate,
    login: Option<LoginClient>,
    server: &NexusServer,
    store: Option<&Store>,
) -> (Vec<String>, Vec<String>) {
    let mut failed = Vec::new();
    let mut kept = None;
    if let Some(store) = store {
        match store.ping().await {
            Err(Down(why)) => failed.push(why),
            Ok(()) => kept = store.persistence().await.map(|(_, said)| said),
        }
    }
    if let Err(why) = gate.issuer.warm().await {
        failed.push(format!("--issuer: {why}"));
    }
    let metadata = gate.issuer.metadata().unwrap_or_default();
    // Behind --oauth-proxy, serve grants its --scope itself: the issuer's
    // list says nothing of it.
    let proxy = matches!(gate.hosts, Hosts::Proxy(_));
    let asked = if proxy { &[][..] } else { &gate.scopes[..] };
    let unlisted = scopes_not_offered(asked, &metadata);
    let notes = if lists_openid_alone(&metadata) {
        let note =
            "a note: the issuer lists only OpenID's own scopes (RFC 8414 lets the list be partial)";
        unlisted
            .into_iter()
            .map(|line| format!("{line}: {note}"))
            .collect()
    } else {
        failed.extend(unlisted);
        Vec::new()
    };
    if proxy && !metadata.is_null() {
        failed.extend(proxy_unmet(&metadata));
    }
    let endpoint = metadata["registration_endpoint"]
        .as_str()
        .map(str::to_owned);
    let refuses = match endpoint.filter(|_| !proxy) {
        Some(endpoint) => tokio::task::spawn_blocking(move || hosts_refused(&endpoint)).await,
        None => Ok(false),
    };
    let no_host = no_host_registers(proxy, &metadata, refuses.unwrap_or(false));
    let notes: Vec<String> = (notes.into_iter().chain(no_host).chain(kept))
        .chain(group_ids(gate, server))
        .chain(no_userinfo(proxy, &metadata))
        .chain(id_jag(proxy, &metadata, gate.issuer.url()))
        .collect();

    failed.extend(introspection_unmet(gate, &metadata).await);
    let (unmet, said) = front_checked(&gate.hosts).await;
    failed.extend(unmet);
    let notes = notes.into_iter().chain(said).collect();
    if let Some(login) = login {
        let endpoints = (
            metadata["token_endpoint"].as_str().map(str::to_owned),
            metadata["authorization_endpoint"]
                .as_str()
                .map(str::to_owned),
        );
        let asked = tokio::task::spawn_blocking(move || login_unmet(&login, endpoints)).await;
        failed.extend(asked.unwrap_or_default());
    }
    match server.gateway_answers().await {
        Err(why) => failed.push(format!("NEXUS_GATEWAY_URL and NEXUS_API_KEY: {why}")),
        Ok(listing) => failed.extend(unlisted_in_policy(server, &listing)),
    }
    (failed, notes)
}

/// Why the introspection client cannot ask the issuer, when it cannot.
async fn introspection_unmet(gate: &Gate, metadata: &Value) -> Option<String> {
    let introspection = gate
        .introspection
        .as_ref()
        .filter(|_| !metadata.is_null())?;
    let endpoint = gate.issuer.introspection().await.ok().flatten();
    let asked = match endpoint {
        Some(endpoint) => {
            introspection
                .ask(&endpoint, "nexus-mcp-check", [0; 32])
                .await
        }
        None => Err(Why::Unreachable(
            "the issuer's metadata names no introspection_endpoint".into(),
        )),
    };
    match asked {
        Err(Why::Unreachable(why)) => Some(format!(
            "--introspection-client-id and NEXUS_MCP_INTROSPECTION_CLIENT_SECRET: {why}"
        )),
        _ => None,
    }
}

/// Behind `--oauth-proxy`: each `--ssf-transmitter` whose configuration or
/// keys cannot be read (failures), and the values the provider and the
/// hosts need (a note).
async fn front_checked(hosts: &Hosts) -> (Vec<String>, Vec<String>) {
    let Hosts::Proxy(front) = hosts else {
        return (Vec::new(), Vec::new());
    };
    let mut failed = Vec::new();
    let mut notes = vec![front.values()];
    if !front.store.shared() {
        notes.push(
            "the identity provider's signals (SCIM's /scim/v2, Global Token Revocation, Shared \
             Signals) are served with --store: without one, SCIM answers 501 naming it"
                .to_owned(),
        );
    }
    for transmitter in &front.signals.transmitters {
        if let Err(why) = transmitter.warm().await {
            failed.push(format!("--ssf-transmitter {transmitter}: {why}"));
            continue;
        }
        let Some(token) = front.signals.ssf_token.clone() else {
            continue;
        };
        let (url, origin) = (transmitter.url().to_owned(), front.origin.clone());
        let asked = tokio::task::spawn_blocking(move || {
            crate::serve::signals::ssf_checked(&url, &origin, &token)
        });
        match asked.await {
            Ok(Ok(note)) => notes.push(note),
            Ok(Err(why)) => failed.push(why),
            Err(_) => {}
        }
    }
    match &front.id_jag.issuer {
        Some(issuer) => match issuer.warm().await {
            Err(why) => failed.push(format!("--id-jag-issuer: {why}")),
            Ok(_) => notes.push(format!(
                "ID-JAGs are taken from --issuer and from --id-jag-issuer {issuer}"
            )),
        },
        None => notes.extend(okta_custom_server(&front.issuer)),
    }
    (failed, notes)
}

/// Where `issuer` is an Okta custom authorization server (`…/oauth2/…`),
/// that Okta issues ID-JAGs from its org server, and the flag that trusts it.
fn okta_custom_server(issuer: &str) -> Option<String> {
    let url = url::Url::parse(issuer).ok()?;
    let custom = url.path().starts_with("/oauth2/") && url.path() != "/oauth2/v1";
    let org = url.origin().ascii_serialization();
    custom.then(|| {
        format!(
            "--issuer is an Okta custom authorization server, and Okta issues ID-JAGs from its \
             org authorization server: give --id-jag-issuer {org}, or every ID-JAG is refused \
             (iss is not --issuer)"
        )
    })
}

/// The note for groups `--policy` names by name where the issuer's groups
/// claim carries ids: Entra ID's `groups` claim holds each group's object
/// id (a GUID), so `Group::"finance"` matches no one there.
fn group_ids(gate: &Gate, server: &NexusServer) -> Option<String> {
    let entra = super::oauth::front::Provider::of(gate.issuer.url())
        == super::oauth::front::Provider::Entra;
    let claims = &gate.policy_claims.groups;
    let held = server
        .policy()
        .filter(|_| entra && claims.iter().any(|c| c == "groups"))?;
    let policies = held.now();
    let named: Vec<&String> = (policies.groups().iter())
        .filter(|group| !super::issuer::is_guid(group))
        .collect();
    let first = named.first()?;
    Some(format!(
        "a note: --policy names groups by name ({}), and Entra ID's groups claim carries each \
         group's object id, so Group::{first:?} matches no one: name each group by its object \
         id (Entra admin center, Groups, the group, Object ID), or give the app roles named \
         so and read them (--group-claim roles)",
        named
            .iter()
            .map(|g| format!("{g:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

/// Each `Provider::"…"` the policies name that the Gateway's `listing`
/// does not list as written (a decision compares names exactly, so it
/// never matches), with the nearest listed name.
fn unlisted_in_policy(server: &NexusServer, listing: &[Provider]) -> Vec<String> {
    let Some(held) = server.policy() else {
        return Vec::new();
    };
    let policies = held.now();
    let listed: Vec<&str> = listing.iter().map(|p| p.name.as_str()).collect();
    let unlisted = policies
        .providers()
        .iter()
        .filter(|named| !listed.contains(&named.as_str()));
    unlisted
        .map(|named| {
            let distance =
                |name: &&&str| strsim::levenshtein(&named.to_lowercase(), &name.to_lowercase());
            let nearest = listed.iter().min_by_key(distance);
            let nearest =
                nearest.map_or_else(String::new, |n| format!(": the nearest it lists is {n:?}"));
            one_line(&format!(
                "--policy: Provider::{named:?} is not a provider the Gateway lists, so no request \
                 ever matches it (names are compared exactly){nearest}"
            ))
        })
        .collect()
}

/// What `--oauth-proxy`'s sign-in at the issuer needs of its metadata and
/// does not find there: the authorization and token endpoints, and the
/// authorization code flow when it lists its response types.
fn proxy_unmet(metadata: &Value) -> Vec<String> {
    let needs = "--oauth-proxy: the sign-in at the issuer needs";
    let endpoints = ["authorization_endpoint", "token_endpoint"].into_iter();
    let missing = endpoints.filter(|endpoint| metadata[*endpoint].as_str().is_none());
    let mut unmet: Vec<String> = missing
        .map(|endpoint| format!("{needs} its {endpoint}, which its metadata does not name"))
        .collect();
    let types = metadata["response_types_supported"].as_array();
    if types.is_some_and(|types| !types.iter().any(|t| t == "code")) {
        unmet.push(format!(
            "{needs} the code flow, which its response_types_supported lacks"
        ));
    }
    unmet
}

/// Without `--oauth-proxy`, a note when the issuer lets no host register
/// (its metadata names no `registration_endpoint`, or that endpoint
/// `refuses` hosts, as Okta's org server's does): the hosts that register
/// themselves cannot sign anyone in there, and `--oauth-proxy` is the way.
fn no_host_registers(proxy: bool, metadata: &Value, refuses: bool) -> Option<String> {
    let registers = metadata["registration_endpoint"].as_str().is_some() && !refuses;
    (!proxy && !metadata.is_null() && !registers).then(|| {
        "a note: the issuer lets no host register (its metadata names no \
         registration_endpoint, or that endpoint refuses hosts), so hosts that register \
         themselves (claude.ai, Cursor, VS Code, ChatGPT) cannot sign anyone in there: \
         --oauth-proxy makes this server their authorization server, signing people in at \
         the issuer"
            .to_owned()
    })
}

/// Whether the registration `endpoint` refuses hosts (401 or 403, as
/// Okta's org server answers without an API token), asked with a
/// registration no compliant server takes (its redirect URI is not a
/// URL), so that nothing is ever registered by asking.
fn hosts_refused(endpoint: &str) -> bool {
    let agent = http::agent(ASK);
    let asked = serde_json::json!({"redirect_uris": ["not a URL"], "client_name": "nexus-mcp serve --check"});
    let answer = agent
        .post(endpoint)
        .header("Content-Type", "application/json")
        .send(asked.to_string());
    answer.is_ok_and(|answer| matches!(answer.status().as_u16(), 401 | 403))
}

/// Whether the issuer's `scopes_supported` lists OpenID Connect's own
/// scopes and no other (Entra ID lists no API's scopes there).
fn lists_openid_alone(metadata: &Value) -> bool {
    let listed = metadata["scopes_supported"]
        .as_array()
        .into_iter()
        .flatten();
    let mut listed = listed
        .map(|scope| scope.as_str().unwrap_or_default())
        .peekable();
    listed.peek().is_some() && listed.all(|scope| OPENID_SCOPES.contains(&scope))
}

/// The `--scope`s the issuer's `scopes_supported` leaves out, when it
/// lists any.
pub(crate) fn scopes_not_offered(scopes: &[String], metadata: &Value) -> Vec<String> {
    let Some(offered) = metadata["scopes_supported"].as_array() else {
        return Vec::new();
    };
    let listed: Vec<&str> = offered.iter().filter_map(Value::as_str).collect();
    (scopes.iter())
        .filter(|scope| !listed.contains(&scope.as_str()))
        .map(|scope| {
            format!(
                "--scope {scope}: the issuer's scopes_supported does not offer it ({})",
                listed.join(", ")
            )
        })
        .collect()
}

/// What the issuer refuses of the login client: the client (at the token
/// endpoint), and its redirect URI (at the authorization endpoint).
fn login_unmet(
    login: &LoginClient,
    (token, authorization): (Option<String>, Option<String>),
) -> Vec<String> {
    let client = token.and_then(|endpoint| login_refused(login, &endpoint));
    if let Some(why) = client {
        // One line for one cause: an unknown client's callback is unknown too.
        return vec![format!(
            "--login-client-id and NEXUS_MCP_LOGIN_CLIENT_SECRET: {why}"
        )];
    }
    let callback = authorization.and_then(|endpoint| callback_refused(login, &endpoint));
    callback.into_iter().collect()
}

/// Why the issuer refuses the login client's redirect URI, if it does: an
/// authorization request for it, its answer not followed, is sent on (to a
/// login page, or back) when the issuer takes it, and refused with a 4xx
/// page (Okta, Google) or Entra ID's AADSTS50011 when it does not.
fn callback_refused(login: &LoginClient, authorization_endpoint: &str) -> Option<String> {
    let mut asked = url::Url::parse(authorization_endpoint).ok()?;
    asked
        .query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &login.id)
        .append_pair("redirect_uri", &login.callback)
        .append_pair("scope", "openid")
        .append_pair("state", "nexus-mcp-check")
        .append_pair("code_challenge_method", "S256")
        .append_pair(
            "code_challenge",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        );
    let agent = http::agent(ASK);
    let mut answer = agent.get(asked.as_str()).call().ok()?;
    let status = answer.status().as_u16();
    let page = answer
        .body_mut()
        .with_config()
        .limit(64 << 10)
        .read_to_string();
    let mismatch = page
        .is_ok_and(|page| page.contains("AADSTS50011") || page.contains("redirect_uri_mismatch"));
    ((400..500).contains(&status) || mismatch).then(|| {
        let callback = &login.callback;
        format!(
            "--login-client-id: the issuer does not take the login client's redirect URI \
             (it answers {status}): register {callback} there as the login client's redirect URI"
        )
    })
}

/// Why the issuer refuses the login client, if it does: a code no one was
/// given, exchanged as that client at the token endpoint, is refused as
/// `invalid_grant` for a client the issuer knows (with its secret) and as
/// `invalid_client` for one it does not.
fn login_refused(login: &LoginClient, token_endpoint: &str) -> Option<String> {
    let token_url = TokenUrl::new(token_endpoint.to_owned()).ok()?;
    let redirect = RedirectUrl::new(login.callback.clone()).ok()?;
    let mut client = BasicClient::new(ClientId::new(login.id.clone()))
        .set_token_uri(token_url)
        .set_redirect_uri(redirect);
    if let Some(secret) = &login.secret {
        client = client.set_client_secret(ClientSecret::new(secret.clone()));
    }
    let agent = http::agent(ASK);
    let asked = client
        .exchange_code(AuthorizationCode::new("nexus-mcp-check".to_owned()))
        .set_pkce_verifier(PkceCodeVerifier::new("nexus-mcp-check".repeat(4)))
        .request(&|request| http::call(&agent, request));
    match asked {
        Err(RequestTokenError::ServerResponse(answer))
            if *answer.error() == oauth2::basic::BasicErrorResponseType::InvalidClient =>
        {
            Some("the issuer refuses this client (invalid_client)".to_owned())
        }
        Err(RequestTokenError::Request(e)) => Some(format!("the token endpoint: {e}")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn in_front_of_google_a_sign_in_anyone_could_make_fails_the_check() {
        let open = Admission::default();
        let team = Admission::new(&["hd=acme.com".to_owned()]).unwrap();
        for google in [
            "https://accounts.google.com",
            "https://accounts.google.com/",
        ] {
            let line = anyone_signs_in(google, true, &open).unwrap_or_default();
            assert!(
                line.contains("any Google account") && line.contains("hd="),
                "{line}"
            );
            assert_eq!(anyone_signs_in(google, true, &team), None);
            assert_eq!(
                anyone_signs_in(google, false, &open),
                None,
                "no sign-in at all"
            );
        }
        assert_eq!(anyone_signs_in("https://acme.okta.com", true, &open), None);
    }

    #[test]
    fn the_proxy_needs_both_endpoints_and_the_code_flow_of_the_issuer() {
        let entra = json!({
            "authorization_endpoint": "https://login.example/t/oauth2/v2.0/authorize",
            "token_endpoint": "https://login.example/t/oauth2/v2.0/token",
            "response_types_supported": ["code", "id_token", "code id_token"],
        });
        assert!(proxy_unmet(&entra).is_empty());
        let bare = json!({"response_types_supported": ["id_token"]});
        let unmet = proxy_unmet(&bare);
        assert_eq!(unmet.len(), 3, "{unmet:?}");
        assert!(unmet[0].contains("authorization_endpoint") && unmet[2].contains("code flow"));
        // Response types unlisted: nothing to say of them.
        let unlisted = json!({"authorization_endpoint": "a", "token_endpoint": "t"});
        assert!(proxy_unmet(&unlisted).is_empty());
    }

    #[test]
    fn an_okta_custom_server_is_told_where_its_id_jags_come_from() {
        let note = okta_custom_server("https://acme.okta.com/oauth2/default").unwrap();
        assert!(
            note.contains("--id-jag-issuer https://acme.okta.com,"),
            "{note}"
        );
        assert!(okta_custom_server("https://acme.okta.com").is_none());
        assert!(okta_custom_server("https://login.example/realms/x").is_none());
    }

    #[test]
    fn openid_scopes_alone_say_nothing_of_an_apis() {
        let entra = json!({"scopes_supported": ["openid", "profile", "email", "offline_access"]});
        assert!(lists_openid_alone(&entra));
        let api = json!({"scopes_supported": ["openid", "mcp"]});
        assert!(!lists_openid_alone(&api));
        assert!(
            !lists_openid_alone(&json!({})),
            "a list it does not give is no list"
        );
        assert!(!lists_openid_alone(&json!({"scopes_supported": []})));
    }
}
