//! The clients of the hosts' authorization server: what a client is
//! (its name and redirect URIs), how a registration (RFC 7591 §2) or a
//! client ID metadata document is read into one, and how a redirect URI
//! is compared with those it registered (exactly, save a loopback one's
//! port: RFC 8252 §7.3).

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::serve::grant::{ClientAuth, GrantType};
use crate::serve::refusal::{ErrorCode, OAuthError};

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
    /// A confidential client's (`serve client add`): the SHA-256 of its
    /// secret (hex), which it authenticates with; it may use the ID-JAG
    /// grant. None for a client that registered itself: a public one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) secret: Option<String>,
    /// The origin of the server a confidential client was made for: the
    /// client is no other's, whatever keyring they share.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) origin: Option<String>,
    /// A document's client that authenticates with `private_key_jwt`
    /// (RFC 7523): its keys, as the document gives them (`jwks`, or
    /// `jwks_uri`). None for every other client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) keys: Option<Keys>,
    /// Its boundary (#127, [`crate::agents`]): the scopes it registered,
    /// which every token issued to it holds at most. None: it declared
    /// none, and its tokens mean what they did before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) scopes: Option<Vec<String>>,
    /// How long a person's grant to it lives, in seconds
    /// (`--session-life`); none: the server's `--sign-in-life`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) session_life: Option<u64>,
    /// The grants it was registered for by name beside those every client
    /// of its kind may use ([`GrantType::NAMED`]: token exchange), by their
    /// wire words.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) grants: Vec<String>,
    /// The workspace a confidential client acts in as itself, for no
    /// person (`serve client add --workspace`): it may use the client
    /// credentials grant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) workspace: Option<String>,
}

/// Where a `private_key_jwt` client's keys are: in its document, or at a
/// URL it names.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) enum Keys {
    Inline(serde_json::Value),
    At(String),
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
    jwks: Option<serde_json::Value>,
    jwks_uri: Option<String>,
    /// The scopes it registers (RFC 7591 §2): its boundary.
    scope: Option<String>,
}

/// A registration refused as invalid client metadata (RFC 7591 §3.2.2),
/// with a sentence for the host's developer.
pub(crate) fn metadata(why: impl Into<Cow<'static, str>>) -> OAuthError {
    OAuthError::bad(ErrorCode::InvalidClientMetadata, why)
}

/// A registration refused for a redirect URI no host may use.
fn redirect(why: impl Into<Cow<'static, str>>) -> OAuthError {
    OAuthError::bad(ErrorCode::InvalidRedirectUri, why)
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
fn redirect_kind(uri: &str) -> Result<Kind, OAuthError> {
    // As a refusal may show it: never a password, nor the text of one that does not parse.
    let shown = crate::addresses::shown(uri);
    if uri.len() > LONGEST.0 {
        return Err(redirect(format!(
            "{shown}: longer than {} bytes",
            LONGEST.0
        )));
    }
    let parsed = crate::addresses::read_without_password(uri).map_err(redirect)?;
    if parsed.fragment().is_some() {
        return Err(redirect(format!("{shown}: a redirect URI has no fragment")));
    }
    match parsed.scheme() {
        "https" if parsed.host().is_some() => Ok(Kind::Web),
        "http" if loopback(&parsed) => Ok(Kind::Native),
        "http" | "https" => Err(redirect(format!(
            "{shown}: http is for a loopback host alone (localhost, 127.0.0.1, [::1])"
        ))),
        scheme if NOT_REDIRECTS.contains(&scheme) => {
            Err(redirect(format!("{shown}: {scheme}: is no redirect")))
        }
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
pub(crate) fn registered(asked: Asked) -> Result<Client, OAuthError> {
    let uris = asked.redirect_uris;
    if uris.is_empty() || uris.len() > MOST_REDIRECTS {
        return Err(redirect(format!(
            "between 1 and {MOST_REDIRECTS} redirect_uris are registered, not {}",
            uris.len()
        )));
    }
    let kinds = uris.iter().map(|uri| redirect_kind(uri));
    let kinds = kinds.collect::<Result<Vec<Kind>, OAuthError>>()?;
    let native = match asked.application_type.as_deref() {
        Some("web") if kinds.contains(&Kind::Native) => {
            return Err(redirect(
                "a web application's redirect URIs are https ones (a loopback or private-use \
                 one is a native application's)",
            ));
        }
        Some("web") => false,
        Some("native") | None => kinds.contains(&Kind::Native) || asked.application_type.is_some(),
        Some(_) => return Err(metadata("application_type is web or native")),
    };
    let method = asked.token_endpoint_auth_method.as_deref();
    if method.is_some_and(|m| m != ClientAuth::None.as_str()) {
        return Err(metadata(
            "this server registers public clients (token_endpoint_auth_method none): it \
             issues no client secret; PKCE binds the code",
        ));
    }
    let within = |asked: &Option<Vec<String>>, allowed: &[&str]| {
        (asked.iter().flatten()).all(|one| allowed.contains(&one.as_str()))
    };
    if !within(
        &asked.grant_types,
        &GrantType::REGISTERED.map(GrantType::as_str),
    ) {
        return Err(metadata(
            "grant_types: authorization_code and refresh_token only",
        ));
    }
    if !within(&asked.response_types, &["code"]) {
        return Err(metadata("response_types: code only"));
    }
    let name = asked.client_name.unwrap_or_default();
    if name.chars().count() > LONGEST.1 {
        return Err(metadata(format!(
            "client_name: at most {} characters",
            LONGEST.1
        )));
    }
    let scopes = asked
        .scope
        .as_deref()
        .map(crate::agents::boundary)
        .transpose();
    let scopes = scopes.map_err(|why| metadata(format!("scope: {why}")))?;
    Ok(Client {
        name,
        redirect_uris: uris,
        native,
        secret: None,
        origin: None,
        keys: None,
        scopes: scopes.filter(|scopes| !scopes.is_empty()),
        session_life: None,
        grants: Vec::new(),
        workspace: None,
    })
}

/// The client a client ID metadata document describes: read as a
/// registration is, but for one that authenticates with `private_key_jwt`
/// (RFC 7523), which names its keys (`jwks`, or `jwks_uri`, fetched as
/// the document is); or why not.
pub(crate) fn documented(mut asked: Asked) -> Result<Client, OAuthError> {
    let keyed =
        asked.token_endpoint_auth_method.as_deref() == Some(ClientAuth::PrivateKeyJwt.as_str());
    let keys = match (asked.jwks.take(), asked.jwks_uri.take()) {
        (Some(jwks), None) => Some(Keys::Inline(jwks)),
        (None, Some(uri)) => Some(Keys::At(uri)),
        (None, None) => None,
        _ => {
            return Err(metadata(
                "a document names its keys once: jwks, or an https jwks_uri",
            ));
        }
    };
    if keyed && keys.is_none() {
        return Err(metadata(
            "private_key_jwt needs the client's keys (jwks or jwks_uri)",
        ));
    }
    if keyed {
        asked.token_endpoint_auth_method = None;
    }
    // A client that proves itself with its key may be registered for a
    // named grant (token exchange); the rest are read as a registration's.
    let named = |grant: &String| GrantType::named(grant).is_some();
    let grants: Vec<String> = (asked.grant_types.iter().flatten())
        .filter(|grant| named(grant))
        .cloned()
        .collect();
    if !grants.is_empty() && !keyed {
        return Err(metadata(
            "a grant beside the code and refresh grants is for a client that signs with its key \
             (private_key_jwt)",
        ));
    }
    if let Some(all) = asked.grant_types.as_mut() {
        all.retain(|grant| !named(grant));
    }
    let client = registered(asked)?;
    Ok(Client {
        keys: keys.filter(|_| keyed),
        grants,
        ..client
    })
}

/// A confidential client (`serve client add`) named `name`, bounded by
/// the scopes `scope` lists (none: no boundary), its
/// `redirect_uris` checked as a registration's (none: it uses the ID-JAG
/// grant alone), its secret's hash `secret`, made for the server at
/// `origin`; or why not.
pub(crate) fn confidential(
    (name, scope, session_life): (String, Option<String>, Option<u64>),
    redirect_uris: Vec<String>,
    (secret, origin): (String, String),
) -> Result<Client, String> {
    let scopes = scope.as_deref().map(crate::agents::boundary).transpose();
    let scopes = scopes.map_err(|why| format!("--scope: {why}"))?;
    let kinds = redirect_uris.iter().map(|uri| redirect_kind(uri));
    let kinds = kinds.collect::<Result<Vec<Kind>, OAuthError>>();
    let kinds = kinds.map_err(|refused| format!("--redirect-uri {}", refused.why))?;
    if redirect_uris.len() > MOST_REDIRECTS || name.trim().is_empty() {
        let most = MOST_REDIRECTS;
        return Err(format!(
            "a client has a --name, and at most {most} --redirect-uri"
        ));
    }
    Ok(Client {
        name,
        native: kinds.contains(&Kind::Native),
        redirect_uris,
        secret: Some(secret),
        origin: Some(origin),
        keys: None,
        scopes: scopes.filter(|scopes| !scopes.is_empty()),
        session_life,
        grants: Vec::new(),
        workspace: None,
    })
}

/// Whether `asked` is `registered` as OAuth compares redirect URIs: the
/// same string, save a loopback one's port (RFC 8252 §7.3).
pub(crate) fn same_redirect(registered: &str, asked: &str) -> bool {
    if registered == asked {
        return true;
    }
    let (Ok(mut registered), Ok(mut asked)) = (url::Url::parse(registered), url::Url::parse(asked))
    else {
        return false;
    };
    let native = |u: &url::Url| u.scheme() == "http" && loopback(u);
    if !native(&registered) || !native(&asked) {
        return false;
    }
    let ports = (registered.set_port(None), asked.set_port(None));
    ports.0.is_ok() && ports.1.is_ok() && registered == asked
}

/// Whether a client id is a document's URL, not a registration sealed here.
pub(crate) fn is_url(id: &str) -> bool {
    id.starts_with("https://") || id.starts_with("http://")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn asked(body: Value) -> Result<Client, OAuthError> {
        registered(serde_json::from_value(body).unwrap())
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
            assert_eq!(refused.code, ErrorCode::InvalidRedirectUri, "{uri}");
        }
        let long = format!("https://h.example/{}", "a".repeat(LONGEST.0));
        assert!(asked(json!({"redirect_uris": [long]})).is_err());
        let none = asked(json!({"client_name": "x"})).unwrap_err();
        assert_eq!(none.code, ErrorCode::InvalidRedirectUri);
        let many: Vec<String> = (0..=MOST_REDIRECTS)
            .map(|i| format!("http://127.0.0.1:{}/cb", 1000 + i))
            .collect();
        assert!(asked(json!({"redirect_uris": many})).is_err());
        let web_loopback = asked(json!({
            "redirect_uris": ["http://127.0.0.1:1/cb"], "application_type": "web"
        }));
        assert_eq!(
            web_loopback.unwrap_err().code,
            ErrorCode::InvalidRedirectUri
        );
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
                asked(body.clone()).unwrap_err().code,
                ErrorCode::InvalidClientMetadata,
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
