//! The hosts' authorization server (`--oauth-proxy`), for an issuer that
//! lets no host register (Entra ID, Okta's org server, Google): `serve`
//! publishes its own metadata (RFC 8414) and registers hosts (RFC 7591),
//! and signs each person in at the issuer with the login client.
//!
//! Stateless, as the rest of `serve`: a client id is the registration
//! itself, sealed with the keyring under a named key ([`Sealing::named`]),
//! so any replica reads any client, a registration flood costs no state,
//! and a client id opens while the ring holds its key.
//!
//! A host may instead name itself by the URL of its client ID metadata
//! document ([`super::document`]), fetched when it asks to authorize. The
//! authorization endpoint, the consent page and the token endpoint are
//! modules of their own.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::keys::{HeldKeys, Sealing};

/// How long a client id opens: a host registers again once it has not.
const CLIENT_LIFE: Duration = Duration::from_secs(400 * 24 * 3600);

/// The most redirect URIs a client registers.
const MOST_REDIRECTS: usize = 8;

/// The longest redirect URI, and the longest name, a client registers.
const LONGEST: (usize, usize) = (2048, 200);

/// Schemes that are no redirect: a browser runs, shows or reads them.
const NOT_REDIRECTS: [&str; 9] = [
    "javascript",
    "data",
    "file",
    "vbscript",
    "about",
    "blob",
    "filesystem",
    "ws",
    "wss",
];

/// A client as it registered: what its id carries.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Client {
    /// Its name, as it gave it (a consent page shows it escaped).
    pub(crate) name: String,
    /// Its redirect URIs, each matched exactly (a loopback one on any port,
    /// RFC 8252 §7.3).
    pub(crate) redirect_uris: Vec<String>,
    /// A native application's (loopback or private-use redirects), or a
    /// web one's (https).
    pub(crate) native: bool,
}

/// A registration request (RFC 7591 §2): the fields this server reads; any
/// other is ignored, as §2 allows.
#[derive(Deserialize)]
pub(crate) struct Asked {
    #[serde(default)]
    redirect_uris: Vec<String>,
    client_name: Option<String>,
    token_endpoint_auth_method: Option<String>,
    grant_types: Option<Vec<String>>,
    response_types: Option<Vec<String>>,
    application_type: Option<String>,
}

/// Why a registration is refused (RFC 7591 §3.2.2): its error code and a
/// sentence for the host's developer.
#[derive(Debug, PartialEq)]
pub(crate) struct Refused {
    pub(crate) error: &'static str,
    pub(crate) why: String,
}

impl Refused {
    fn metadata(why: impl Into<String>) -> Refused {
        let why = why.into();
        let error = "invalid_client_metadata";
        Refused { error, why }
    }

    fn redirect(why: impl Into<String>) -> Refused {
        let why = why.into();
        let error = "invalid_redirect_uri";
        Refused { error, why }
    }
}

/// How a redirect URI may be used: by a web application (https), or by a
/// native one (loopback http, or a private-use scheme, RFC 8252 §7).
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Web,
    Native,
}

/// Whether `url`'s host is a native application's loopback one (RFC 8252
/// §7.3): `localhost`, `127.0.0.1` or `[::1]`.
pub(crate) fn loopback(url: &url::Url) -> bool {
    matches!(
        url.host(),
        Some(url::Host::Domain("localhost"))
            | Some(url::Host::Ipv4(std::net::Ipv4Addr::LOCALHOST))
            | Some(url::Host::Ipv6(std::net::Ipv6Addr::LOCALHOST))
    )
}

/// The kind of redirect `uri` is, or why it is none.
fn redirect_kind(uri: &str) -> Result<Kind, Refused> {
    let shown = nexus_sdk::one_line(uri);
    if uri.len() > LONGEST.0 {
        return Err(Refused::redirect(format!(
            "{shown}: longer than {} bytes",
            LONGEST.0
        )));
    }
    let parsed =
        url::Url::parse(uri).map_err(|_| Refused::redirect(format!("{shown}: not a URL")))?;
    if parsed.fragment().is_some() {
        return Err(Refused::redirect(format!(
            "{shown}: a redirect URI has no fragment"
        )));
    }
    match parsed.scheme() {
        "https" if parsed.host().is_some() => Ok(Kind::Web),
        "http" if loopback(&parsed) => Ok(Kind::Native),
        "http" | "https" => Err(Refused::redirect(format!(
            "{shown}: http is for a loopback host alone (localhost, 127.0.0.1, [::1])"
        ))),
        scheme if NOT_REDIRECTS.contains(&scheme) => Err(Refused::redirect(format!(
            "{shown}: {scheme}: is no redirect"
        ))),
        _ => Ok(Kind::Native),
    }
}

/// The client `asked` registers, or why it is refused: at least one and
/// at most [`MOST_REDIRECTS`] redirect URIs, each https, loopback http or a
/// private-use scheme, none with a fragment, all of one kind when the
/// `application_type` says which; a public client (a
/// `token_endpoint_auth_method` other than `none` is refused: this server
/// issues no client secret); the authorization code and refresh grants,
/// the `code` response.
pub(crate) fn registered(asked: Asked) -> Result<Client, Refused> {
    let uris = asked.redirect_uris;
    if uris.is_empty() || uris.len() > MOST_REDIRECTS {
        return Err(Refused::redirect(format!(
            "between 1 and {MOST_REDIRECTS} redirect_uris are registered, not {}",
            uris.len()
        )));
    }
    let kinds = uris.iter().map(|uri| redirect_kind(uri));
    let kinds = kinds.collect::<Result<Vec<Kind>, Refused>>()?;
    let native = match asked.application_type.as_deref() {
        Some("web") if kinds.contains(&Kind::Native) => {
            return Err(Refused::redirect(
                "a web application's redirect URIs are https ones (a loopback or private-use \
                 one is a native application's)",
            ));
        }
        Some("web") => false,
        Some("native") | None => kinds.contains(&Kind::Native) || asked.application_type.is_some(),
        Some(_) => return Err(Refused::metadata("application_type is web or native")),
    };
    let method = asked.token_endpoint_auth_method.as_deref();
    if method.is_some_and(|m| m != "none") {
        return Err(Refused::metadata(
            "this server registers public clients (token_endpoint_auth_method none): it \
             issues no client secret; PKCE binds the code",
        ));
    }
    let within = |asked: &Option<Vec<String>>, allowed: &[&str]| {
        (asked.iter().flatten()).all(|one| allowed.contains(&one.as_str()))
    };
    if !within(&asked.grant_types, &["authorization_code", "refresh_token"]) {
        return Err(Refused::metadata(
            "grant_types: authorization_code and refresh_token only",
        ));
    }
    if !within(&asked.response_types, &["code"]) {
        return Err(Refused::metadata("response_types: code only"));
    }
    let name = asked.client_name.unwrap_or_default();
    if name.chars().count() > LONGEST.1 {
        return Err(Refused::metadata(format!(
            "client_name: at most {} characters",
            LONGEST.1
        )));
    }
    Ok(Client {
        name,
        redirect_uris: uris,
        native,
    })
}

/// The authorization server `serve` is with `--oauth-proxy`: where it is,
/// what it grants, and the keys its client ids are sealed with.
pub(crate) struct Front {
    /// The public URL's origin: this authorization server's issuer.
    pub(crate) origin: String,
    /// The scopes a token it issues carries (`--scope`).
    pub(crate) scopes: Vec<String>,
    /// The MCP endpoint's URL, the resource its tokens are for.
    pub(crate) resource: String,
    /// The keys held.
    pub(crate) keys: std::sync::Arc<HeldKeys>,
    /// The codes redeemed on this replica.
    pub(crate) redeemed: super::token::Redeemed,
    /// The login client people sign in at the issuer with.
    pub(crate) login: Option<std::sync::Arc<super::login::Login>>,
    /// The issuer people sign in at (`--issuer`): with a subject, the person.
    pub(crate) issuer: String,
    /// `--deny-file`'s people: refused a token, a refresh included.
    pub(crate) deny: std::sync::Arc<super::deny::DenyList>,
    /// The fetcher of client ID metadata documents.
    pub(crate) documents: super::document::Documents,
}

impl Front {
    /// Its metadata (RFC 8414 §2), as MCP's hosts read it: PKCE with S256
    /// alone, public clients, dynamic registration.
    pub(crate) fn metadata(&self) -> Value {
        let at = |path: &str| format!("{}{path}", self.origin);
        json!({
            "issuer": self.origin,
            "authorization_endpoint": at("/authorize"),
            "token_endpoint": at("/token"),
            "registration_endpoint": at("/register"),
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["none"],
            "client_id_metadata_document_supported": true,
            "scopes_supported": self.scopes,
        })
    }

    /// The client id `client` is: the registration, sealed.
    pub(crate) fn client_id(&self, client: &Client) -> String {
        Sealing::named(&self.keys.now().oauth.clients, client, CLIENT_LIFE)
    }

    /// The client `id` is, when this server's ring sealed it.
    pub(crate) fn client(&self, id: &str) -> Option<Client> {
        Sealing::opened(&self.keys.now().oauth.clients, id).ok()
    }

    /// The authorization server of the unit tests: `https://mcp.example.com`
    /// granting `scopes`, its keys `ring`, no login client, nobody denied.
    #[cfg(test)]
    pub(crate) fn tested(ring: &str, scopes: &[&str]) -> Front {
        let ring = crate::state::Keyring::parse(ring).unwrap();
        let keys = std::sync::Arc::new(HeldKeys::new(crate::keys::Keys::new(&ring).unwrap()));
        let origin = "https://mcp.example.com".to_owned();
        let deny = super::deny::DenyList::read(None, "https://login.example").unwrap();
        Front {
            resource: format!("{origin}/mcp"),
            origin,
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            keys,
            redeemed: Default::default(),
            login: None,
            issuer: "https://login.example".into(),
            deny: std::sync::Arc::new(deny),
            documents: super::document::Documents::new(Vec::new()),
        }
    }
}

/// The authorization server's routes: its metadata (RFC 8414 §3, at the
/// origin's root: its issuer has no path) and `/register`, whose body is a
/// few URIs and a name (64 KiB at most).
pub(crate) fn routes(front: Front) -> axum::Router {
    let front = std::sync::Arc::new(front);
    let metadata = front.metadata();
    let metadata = axum::routing::get(move || async move { Json(metadata) });
    let register = axum::routing::post(register).with_state(std::sync::Arc::clone(&front));
    let authorize = axum::routing::get(super::authorize::authorize)
        .post(super::consent::consented)
        .with_state(std::sync::Arc::clone(&front));
    let token = axum::routing::post(super::token::token).with_state(front);
    axum::Router::new()
        .route("/.well-known/oauth-authorization-server", metadata)
        .route("/authorize", authorize)
        .route(
            "/token",
            token.layer(axum::extract::DefaultBodyLimit::max(64 << 10)),
        )
        .route(
            "/register",
            register.layer(axum::extract::DefaultBodyLimit::max(64 << 10)),
        )
}

/// `POST /register` (RFC 7591 §3): 201 with the client's id and metadata,
/// or 400 with the error and why.
pub(crate) async fn register(
    State(front): State<std::sync::Arc<Front>>,
    body: axum::body::Bytes,
) -> Response {
    let asked = serde_json::from_slice::<Asked>(&body)
        .map_err(|_| Refused::metadata("the body is a JSON object of client metadata"));
    let registered = asked.and_then(registered);
    let outcome = registered
        .as_ref()
        .map_or_else(|refused| refused.error, |_| "ok");
    crate::metrics::oauth("registration", outcome);
    match registered {
        Ok(client) => {
            let issued = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
            let issued = issued.map_or(0, |d| d.as_secs());
            let answer = json!({
                "client_id": front.client_id(&client),
                "client_id_issued_at": issued,
                "client_id_expires_at": issued + CLIENT_LIFE.as_secs(),
                "client_name": client.name,
                "redirect_uris": client.redirect_uris,
                "application_type": if client.native { "native" } else { "web" },
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
                "token_endpoint_auth_method": "none",
            });
            (StatusCode::CREATED, Json(answer)).into_response()
        }
        Err(refused) => {
            log::info!(target: "nexus_mcp", "registration refused ({}): {}", refused.error, refused.why);
            let body = json!({"error": refused.error, "error_description": refused.why});
            (StatusCode::BAD_REQUEST, Json(body)).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asked(body: Value) -> Result<Client, Refused> {
        registered(serde_json::from_value(body).unwrap())
    }

    fn front(ring: &str) -> Front {
        Front::tested(ring, &[])
    }

    #[test]
    fn a_client_id_opens_on_every_replica_whose_ring_holds_its_key_and_nowhere_else() {
        let key = "default:a-sealing-key-of-at-least-32-bytes!!";
        let client = Client {
            name: "Host".into(),
            redirect_uris: vec!["http://127.0.0.1:1/cb".into()],
            native: true,
        };
        let id = front(key).client_id(&client);
        assert_eq!(
            front(key).client(&id),
            Some(client.clone()),
            "another replica"
        );
        let rotated = format!("new:another-key-of-at-least-thirty-two-bytes,{key}");
        assert_eq!(front(&rotated).client(&id), Some(client), "mid rotation");
        assert_eq!(
            front("default:a-different-key-of-thirty-two-bytes!!").client(&id),
            None
        );
        assert_eq!(front(key).client(&id.replace('.', "x")), None);
    }

    #[test]
    fn the_redirects_hosts_register_are_taken_and_their_kind_inferred() {
        let native = [
            "http://127.0.0.1:33418/callback",
            "http://localhost:6274/oauth/callback",
            "http://[::1]:8080/cb",
            "cursor://anysphere.cursor-retrieval/oauth/callback",
            "com.example.app:/oauth2redirect",
        ];
        for uri in native {
            let client = asked(json!({"redirect_uris": [uri], "client_name": "Host"}));
            assert_eq!(client.map(|c| c.native), Ok(true), "{uri}");
        }
        let web = asked(json!({"redirect_uris": ["https://claude.ai/api/mcp/auth_callback"]}));
        assert_eq!(web.map(|c| c.native), Ok(false));
        let said_native = asked(json!({
            "redirect_uris": ["https://vscode.dev/redirect"], "application_type": "native"
        }));
        assert_eq!(said_native.map(|c| c.native), Ok(true));
    }

    #[test]
    fn a_redirect_no_host_may_use_is_refused_naming_it() {
        for uri in [
            "http://attacker.example/cb",
            "https://claude.ai/cb#fragment",
            "javascript:alert(1)",
            "data:text/html,hi",
            "file:///etc/passwd",
            "not a url",
        ] {
            let refused = asked(json!({"redirect_uris": [uri]})).unwrap_err();
            assert_eq!(refused.error, "invalid_redirect_uri", "{uri}");
        }
        let long = format!("https://h.example/{}", "a".repeat(LONGEST.0));
        assert!(asked(json!({"redirect_uris": [long]})).is_err());
        let none = asked(json!({"client_name": "x"})).unwrap_err();
        assert_eq!(none.error, "invalid_redirect_uri");
        let many: Vec<String> = (0..=MOST_REDIRECTS)
            .map(|i| format!("http://127.0.0.1:{}/cb", 1000 + i))
            .collect();
        assert!(asked(json!({"redirect_uris": many})).is_err());
        let web_loopback = asked(json!({
            "redirect_uris": ["http://127.0.0.1:1/cb"], "application_type": "web"
        }));
        assert_eq!(web_loopback.unwrap_err().error, "invalid_redirect_uri");
    }

    #[test]
    fn only_public_clients_of_the_code_flow_are_registered() {
        let uri = ["http://127.0.0.1:1/cb"];
        for body in [
            json!({"redirect_uris": uri, "token_endpoint_auth_method": "client_secret_basic"}),
            json!({"redirect_uris": uri, "grant_types": ["client_credentials"]}),
            json!({"redirect_uris": uri, "response_types": ["token"]}),
            json!({"redirect_uris": uri, "application_type": "service"}),
            json!({"redirect_uris": uri, "client_name": "n".repeat(LONGEST.1 + 1)}),
        ] {
            assert_eq!(
                asked(body.clone()).unwrap_err().error,
                "invalid_client_metadata",
                "{body}"
            );
        }
        let full = json!({
            "redirect_uris": uri, "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
            "scope": "mcp.tools", "software_id": "ignored"
        });
        assert!(asked(full).is_ok());
    }
}
