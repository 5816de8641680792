//! The data of the connection lifecycle, with their parsing from JSON.
//!
//! Types that hold a secret implement `Debug` by hand and print
//! `"<redacted>"` in its place.

use std::fmt;

use serde_json::{Map, Value};

use crate::error::NexusError;
use crate::redact::REDACTED;

/// The state of a connection, from `check_connection`.
///
/// ```
/// use nexus_sdk::ConnectionStatus;
///
/// let status = ConnectionStatus::from("revoked");
/// assert_eq!(status, ConnectionStatus::Revoked);
/// assert!(status.is_terminal());
/// assert_eq!(ConnectionStatus::Active.to_string(), "active");
/// assert_eq!(ConnectionStatus::from("expired"), ConnectionStatus::Other("expired".into()));
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(from = "String", into = "String"))]
pub enum ConnectionStatus {
    /// The user consented; tokens can be fetched.
    Active,
    /// Waiting for the user to finish the provider's consent screen.
    Pending,
    /// The flow failed.
    Failed,
    /// The connection was revoked (the Gateway reports it since Nexus 0.4).
    Revoked,
    /// Any other status the Gateway reports, as sent. A status that gains its
    /// own variant in a later version stops arriving here.
    Other(String),
}

impl ConnectionStatus {
    /// The status as the Gateway spells it.
    pub fn as_str(&self) -> &str {
        match self {
            ConnectionStatus::Active => "active",
            ConnectionStatus::Pending => "pending",
            ConnectionStatus::Failed => "failed",
            ConnectionStatus::Revoked => "revoked",
            ConnectionStatus::Other(s) => s,
        }
    }

    /// Whether the status names an end state: `active`, `failed` or
    /// `revoked`. The Nexus Gateway also says `failed` for a connection
    /// whose user has not consented yet, so `failed` from it is not final:
    /// [`NexusClient::wait_for_active`](crate::NexusClient::wait_for_active)
    /// knows this and does not stop on it.
    pub fn is_terminal(&self) -> bool {
        !matches!(self, ConnectionStatus::Pending | ConnectionStatus::Other(_))
    }
}

impl From<&str> for ConnectionStatus {
    fn from(s: &str) -> Self {
        match s {
            "active" => ConnectionStatus::Active,
            "pending" => ConnectionStatus::Pending,
            "failed" => ConnectionStatus::Failed,
            "revoked" => ConnectionStatus::Revoked,
            other => ConnectionStatus::Other(other.to_owned()),
        }
    }
}

impl From<String> for ConnectionStatus {
    fn from(s: String) -> Self {
        ConnectionStatus::from(s.as_str())
    }
}

impl From<ConnectionStatus> for String {
    fn from(status: ConnectionStatus) -> Self {
        status.as_str().to_owned()
    }
}

impl fmt::Display for ConnectionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What `request_connection` asks the Gateway for.
///
/// Built with [`new`](Self::new) and the setters, as Python's keyword
/// arguments:
///
/// ```
/// use nexus_sdk::RequestConnectionInput;
///
/// let input = RequestConnectionInput::new("user-42", "github")
///     .scopes(["repo", "read:user"])
///     .return_url("https://app.example/done");
/// assert_eq!(input.scopes, ["repo", "read:user"]);
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default))]
pub struct RequestConnectionInput {
    /// Your application's id for the user.
    pub user_id: String,
    /// The provider as registered in Nexus (`github`, `google`, …).
    pub provider_name: String,
    /// OAuth scopes to request.
    pub scopes: Vec<String>,
    /// Where the provider sends the user back after consent.
    pub return_url: String,
    /// Extra data stored with the connection; sent only when set and non-empty.
    pub metadata: Option<Map<String, Value>>,
}

impl RequestConnectionInput {
    /// A request to connect `user_id` to `provider_name`, with no scopes, no
    /// return URL and no metadata.
    pub fn new(user_id: impl Into<String>, provider_name: impl Into<String>) -> Self {
        RequestConnectionInput {
            user_id: user_id.into(),
            provider_name: provider_name.into(),
            ..RequestConnectionInput::default()
        }
    }

    /// The OAuth scopes to request.
    #[must_use]
    pub fn scopes<S: Into<String>>(mut self, scopes: impl IntoIterator<Item = S>) -> Self {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Where the provider sends the user back after consent.
    #[must_use]
    pub fn return_url(mut self, return_url: impl Into<String>) -> Self {
        self.return_url = return_url.into();
        self
    }

    /// Extra data stored with the connection.
    #[must_use]
    pub fn metadata(mut self, metadata: Map<String, Value>) -> Self {
        self.metadata = Some(metadata);
        self
    }

    /// The JSON body of `POST /v1/request-connection`.
    pub(crate) fn to_json(&self) -> Value {
        let mut body = serde_json::json!({"user_id": self.user_id, "provider_name": self.provider_name,
            "scopes": self.scopes, "return_url": self.return_url});
        if let Some(metadata) = self.metadata.as_ref().filter(|m| !m.is_empty()) {
            body["metadata"] = Value::Object(metadata.clone());
        }
        body
    }
}

/// The Gateway's answer to `request_connection`.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct RequestConnectionResponse {
    /// Send the user here to consent (the Gateway's `authUrl`).
    pub auth_url: String,
    /// The connection to poll with `check_connection` / `wait_for_active`.
    pub connection_id: String,
    /// The OAuth `state`, when the Gateway sent a non-empty one.
    pub state: Option<String>,
    /// The scopes requested, when the Gateway listed them.
    pub scopes: Option<Vec<String>>,
    /// The provider's id in Nexus, when the Gateway sent a non-empty one.
    pub provider_id: Option<String>,
}

impl RequestConnectionResponse {
    pub(crate) fn from_json(body: &Value) -> Result<Self, NexusError> {
        let scopes = match body.get("scopes") {
            None | Some(Value::Null) => None,
            Some(Value::Array(items)) => Some(items.iter().filter_map(scalar_text).collect()),
            Some(_) => return Err(NexusError::invalid_response("`scopes` is not a list")),
        };
        Ok(RequestConnectionResponse {
            auth_url: required_str(body, "authUrl")?,
            connection_id: required_str(body, "connection_id")?,
            state: optional_str(body, "state"),
            scopes,
            provider_id: optional_str(body, "provider_id"),
        })
    }
}

/// A token from `get_token_by_connection_id` or `refresh_connection`.
///
/// Each of `access_token`, `token_type`, `id_token`, `refresh_token`,
/// `expires_at`, `expires_in`, `scope` and `provider` is read from the top
/// level of the answer, else from its `credentials`. `Debug` hides the
/// tokens, the credentials and the raw answer.
///
/// With the `serde` feature it serializes whole, tokens included: keep the
/// output where you would keep the tokens themselves.
#[non_exhaustive]
#[derive(Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct TokenResponse {
    /// The access token; empty when the Gateway sent none.
    pub access_token: String,
    /// The token type, as sent.
    pub token_type: Option<String>,
    /// Lifetime in seconds, when sent.
    pub expires_in: Option<i64>,
    /// Expiry as the Gateway wrote it (RFC 3339).
    pub expires_at: Option<String>,
    /// Granted scopes, space-separated.
    pub scope: Option<String>,
    /// The OpenID Connect id token.
    pub id_token: Option<String>,
    /// A refresh token, when the Gateway exposes one.
    pub refresh_token: Option<String>,
    /// The provider name.
    pub provider: Option<String>,
    /// The injection strategy object, as sent.
    pub strategy: Option<Value>,
    /// The stored credential map, as sent.
    pub credentials: Option<Map<String, Value>>,
    /// The whole answer.
    pub raw: Value,
}

impl TokenResponse {
    pub(crate) fn from_json(body: Value) -> Result<Self, NexusError> {
        if !body.is_object() {
            let why = "token answer is not a JSON object";
            return Err(NexusError::invalid_response(why));
        }
        let credentials = body.get("credentials").and_then(Value::as_object);
        let pick = |key: &str| -> Option<String> {
            scalar_string(body.get(key)).or_else(|| scalar_string(credentials?.get(key)))
        };
        let seconds = |v: &Value| match v {
            Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        };
        let in_credentials = credentials.and_then(|c| c.get("expires_in"));
        let given = [body.get("expires_in"), in_credentials];
        let expires_in = given.into_iter().flatten().find_map(seconds);
        Ok(TokenResponse {
            access_token: pick("access_token").unwrap_or_default(),
            token_type: pick("token_type"),
            expires_in,
            expires_at: pick("expires_at"),
            scope: pick("scope"),
            id_token: pick("id_token"),
            refresh_token: pick("refresh_token"),
            provider: pick("provider"),
            strategy: body.get("strategy").filter(|s| !s.is_null()).cloned(),
            credentials: credentials.cloned(),
            raw: body,
        })
    }
}

impl fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hidden = |present: bool| if present { REDACTED } else { "None" };
        f.debug_struct("TokenResponse")
            .field("access_token", &REDACTED)
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("expires_at", &self.expires_at)
            .field("scope", &self.scope)
            .field("id_token", &hidden(self.id_token.is_some()))
            .field("refresh_token", &hidden(self.refresh_token.is_some()))
            .field("provider", &self.provider)
            .field("strategy", &self.strategy)
            .field("credentials", &hidden(self.credentials.is_some()))
            .field("raw", &REDACTED)
            .finish()
    }
}

/// Optional details for `revoke_connection` (Python's `workspace_id=` and `reason=`).
///
/// ```
/// use nexus_sdk::RevokeOptions;
///
/// let options = RevokeOptions::default().workspace_id("ws-1").reason("user_request");
/// assert_eq!(options.reason.as_deref(), Some("user_request"));
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default))]
pub struct RevokeOptions {
    /// The workspace the connection belongs to (its live sessions are closed).
    pub workspace_id: Option<String>,
    /// Why, for the audit log.
    pub reason: Option<String>,
}

impl RevokeOptions {
    /// The workspace the connection belongs to.
    #[must_use]
    pub fn workspace_id(mut self, workspace_id: impl Into<String>) -> Self {
        self.workspace_id = Some(workspace_id.into());
        self
    }

    /// Why the connection is revoked, for the audit log.
    #[must_use]
    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }
}

/// The Gateway's answer to `revoke_connection`. Missing flags read `false`,
/// a missing count `0`.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default))]
pub struct RevokeResult {
    /// The connection revoked.
    pub connection_id: Option<String>,
    /// Its provider.
    pub provider_name: Option<String>,
    /// Its status now, normally `revoked`.
    pub status: String,
    /// When it was revoked (RFC 3339).
    pub revoked_at: Option<String>,
    /// It had been revoked before this call (revocation is idempotent).
    pub already_revoked: bool,
    /// The stored token was deleted.
    pub token_deleted: bool,
    /// The provider's own revocation endpoint accepted the token.
    pub provider_revoked: bool,
    /// Live sessions closed.
    pub sessions_closed: u32,
    /// Why the provider-side revocation did not happen, when it did not.
    pub provider_revocation_error: Option<String>,
}

impl RevokeResult {
    pub(crate) fn from_json(body: &Value) -> Result<Self, NexusError> {
        if !body.is_object() {
            let why = "revoke answer is not a JSON object";
            return Err(NexusError::invalid_response(why));
        }
        let flag = |key: &str| body.get(key).and_then(Value::as_bool).unwrap_or(false);
        let sessions_closed = body
            .get("sessions_closed")
            .and_then(Value::as_u64)
            .map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX));
        Ok(RevokeResult {
            connection_id: optional_str(body, "connection_id"),
            provider_name: optional_str(body, "provider_name"),
            status: optional_str(body, "status").unwrap_or_default(),
            revoked_at: optional_str(body, "revoked_at"),
            already_revoked: flag("already_revoked"),
            token_deleted: flag("token_deleted"),
            provider_revoked: flag("provider_revoked"),
            sessions_closed,
            provider_revocation_error: optional_str(body, "provider_revocation_error"),
        })
    }
}

/// `body[key]` as a string, or `invalid_response` naming the key.
pub(crate) fn required_str(body: &Value, key: &str) -> Result<String, NexusError> {
    let no_key = || NexusError::invalid_response(format!("answer has no `{key}`"));
    optional_str(body, key).ok_or_else(no_key)
}

/// `body[key]` if it is a non-empty string.
fn optional_str(body: &Value, key: &str) -> Option<String> {
    non_empty_str(body.get(key)).map(str::to_owned)
}

/// A JSON string value, as text.
fn scalar_text(value: &Value) -> Option<String> {
    value.as_str().map(str::to_owned)
}

/// A JSON value that is a non-empty string (a number is not a name).
pub(crate) fn non_empty_str(value: Option<&Value>) -> Option<&str> {
    value.and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// A non-empty string, or an integer as its decimal text (Python's `str()`).
pub(crate) fn scalar_string(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) if n.is_i64() || n.is_u64() => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn request_connection_answer() {
        let r = RequestConnectionResponse::from_json(&json!({
            "authUrl": "https://github.com/login/oauth/authorize?x=1",
            "connection_id": "c-1", "state": "", "scopes": null, "provider_id": "p"
        }))
        .unwrap();
        assert_eq!(r.auth_url, "https://github.com/login/oauth/authorize?x=1");
        assert_eq!(r.connection_id, "c-1");
        assert_eq!((r.state, r.scopes), (None, None));
        assert_eq!(r.provider_id.as_deref(), Some("p"));

        for bad in [
            json!({"connection_id": "c"}),
            json!({"authUrl": "u"}),
            json!({"authUrl": 5, "connection_id": "c"}),
            json!({"authUrl": "u", "connection_id": "c", "scopes": "repo"}),
            json!([1]),
        ] {
            let err = RequestConnectionResponse::from_json(&bad).unwrap_err();
            assert_eq!(err.code, "invalid_response", "{bad}");
        }
    }

    #[test]
    fn token_fields_fall_back_to_credentials() {
        let t = TokenResponse::from_json(json!({
            "access_token": "top", "strategy": {"type": "oauth2"},
            "credentials": {"access_token": "inner", "token_type": "bearer",
                            "expires_in": 28800, "scope": "repo",
                            "expires_at": "2026-05-14T18:00:00Z", "refresh_token": "r"}
        }))
        .unwrap();
        assert_eq!(t.access_token, "top");
        assert_eq!(t.token_type.as_deref(), Some("bearer"));
        assert_eq!(t.expires_in, Some(28800));
        assert_eq!(t.scope.as_deref(), Some("repo"));
        assert_eq!(t.expires_at.as_deref(), Some("2026-05-14T18:00:00Z"));
        assert_eq!(t.refresh_token.as_deref(), Some("r"));
        assert_eq!(t.strategy, Some(json!({"type": "oauth2"})));
        let debug = format!("{t:?}");
        assert!(
            !debug.contains("top") && !debug.contains("inner"),
            "{debug}"
        );
        assert!(!debug.contains("\"r\""), "{debug}");

        assert_eq!(
            TokenResponse::from_json(json!("x")).unwrap_err().code,
            "invalid_response"
        );
    }

    #[test]
    fn revoke_defaults() {
        let r =
            RevokeResult::from_json(&json!({"status": "revoked", "sessions_closed": 2})).unwrap();
        assert_eq!(r.status, "revoked");
        assert_eq!(r.sessions_closed, 2);
        assert!(!r.already_revoked && !r.token_deleted && !r.provider_revoked);
        assert_eq!(
            RevokeResult::from_json(&json!({})).unwrap(),
            RevokeResult::default()
        );
    }

    #[test]
    fn metadata_only_when_non_empty() {
        let mut input = RequestConnectionInput::new("u", "github");
        assert!(input.to_json().get("metadata").is_none());
        input.metadata = Some(Map::new());
        assert!(input.to_json().get("metadata").is_none());
        input.metadata = Some(json!({"k": 1}).as_object().unwrap().clone());
        assert_eq!(input.to_json()["metadata"], json!({"k": 1}));
        assert_eq!(input.to_json()["scopes"], json!([]));
    }
}
