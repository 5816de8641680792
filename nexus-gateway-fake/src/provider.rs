//! What a [`FakeGateway`](crate::FakeGateway) serves: [`FakeConnection`]s for
//! the lifecycle endpoints and [`FakeProvider`]s for `/v1/resolve`.

use std::time::{Duration, SystemTime};

use serde_json::{Map, Value, json};

use crate::time::{capped, rfc3339};
use nexus_sdk::ConnectionStatus;

/// A connection for the lifecycle endpoints (check, token, refresh, revoke).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FakeConnection {
    /// Its status now.
    pub status: ConnectionStatus,
    /// The provider it connects to.
    pub provider_name: String,
    /// The token `/v1/token/{id}` returns; `/v1/refresh/{id}` rotates it.
    pub access_token: String,
    /// While pending: `Some(n)` stays pending for `n` more polls of
    /// `check-connection`, then turns active; `None` keeps the status as it
    /// is (until the consent page is visited or the status is set).
    pub pending_polls: Option<u32>,
    /// Set: revocation at the provider fails with this message.
    pub provider_revocation_error: Option<String>,
    /// The workspace that owns it: a revoke naming another `workspace_id`
    /// answers 404. `request_connection` sets it to the `user_id`.
    pub workspace_id: Option<String>,
    /// Its credential is static (an api key, not OAuth2): refreshing it is
    /// the Broker's 400 `refresh_not_supported`, not a new token.
    pub static_credential: bool,
    /// The Broker cannot decrypt its stored token: the token and refresh
    /// routes are the Broker's 500 `decrypt_failed`, and `check-connection`
    /// (which reads a Broker 5xx as "not sure yet") says `pending`.
    pub undecryptable: bool,
}

/// The connection statuses the fake answers by: the Broker's (`active`,
/// `pending`, `failed`, `revoked`, `attention`, `superseded`), spelt as the
/// Broker spells them.
pub const CONNECTION_STATUSES: [&str; 6] = [
    "active",
    "pending",
    "failed",
    "revoked",
    "attention",
    "superseded",
];

/// `status` as the fake holds it, or, for one it does not know (a typo, a
/// capital), what `field` must be.
pub(crate) fn known_status(field: &str, status: &str) -> Result<ConnectionStatus, String> {
    if CONNECTION_STATUSES.contains(&status) {
        return Ok(ConnectionStatus::from(status));
    }
    let shown: String = status.chars().take(64).collect();
    Err(format!(
        "{field} {shown:?} is not a connection status the fake knows ({})",
        CONNECTION_STATUSES.join(", ")
    ))
}

impl FakeConnection {
    /// The same connection, whose revocation at the provider fails with `message`.
    pub fn provider_revocation_error(mut self, message: &str) -> FakeConnection {
        self.provider_revocation_error = Some(message.to_owned());
        self
    }

    /// The same connection, owned by `workspace_id`.
    pub fn workspace(mut self, workspace_id: &str) -> FakeConnection {
        self.workspace_id = Some(workspace_id.to_owned());
        self
    }

    /// The same connection, with a static credential (an api key, not
    /// OAuth2): refreshing it is a 400, as at the real Broker.
    pub fn static_credential(mut self) -> FakeConnection {
        self.static_credential = true;
        self
    }

    /// The same connection, whose stored token the Broker cannot decrypt:
    /// the token route is a 500 and `check-connection` says `pending`.
    pub fn undecryptable(mut self) -> FakeConnection {
        self.undecryptable = true;
        self
    }

    /// The connection's status now, counting one poll of `check-connection`.
    pub(crate) fn poll(&mut self) -> &ConnectionStatus {
        if self.status == ConnectionStatus::Pending {
            match self.pending_polls {
                Some(0) => {
                    self.status = ConnectionStatus::Active;
                    self.pending_polls = None;
                }
                Some(n) => self.pending_polls = Some(n - 1),
                None => {}
            }
        }
        &self.status
    }
}

impl FakeConnection {
    /// An active connection holding `access_token`.
    pub fn active(provider_name: &str, access_token: &str) -> FakeConnection {
        FakeConnection {
            status: ConnectionStatus::Active,
            provider_name: provider_name.into(),
            access_token: access_token.into(),
            pending_polls: None,
            provider_revocation_error: None,
            workspace_id: None,
            static_credential: false,
            undecryptable: false,
        }
    }

    /// A pending connection that turns active after `polls` checks, or
    /// stays pending (until consent or [`set_status`](crate::FakeGateway::set_status))
    /// when `polls` is `None`.
    pub fn pending(provider_name: &str, access_token: &str, polls: Option<u32>) -> FakeConnection {
        FakeConnection {
            status: ConnectionStatus::Pending,
            pending_polls: polls,
            ..FakeConnection::active(provider_name, access_token)
        }
    }
}

/// What `/v1/resolve` answers for one (workspace, provider), and what
/// `/v1/providers/metadata` says of the provider.
#[derive(Debug, Clone, PartialEq)]
pub struct FakeProvider {
    strategy: Option<Value>,
    api_base_url: Option<String>,
    credentials: Map<String, Value>,
    /// The credential key holding the token that `rotating` changes.
    token_field: String,
    /// OAuth2 answers copy the credential keys to the top level.
    copy_to_top: bool,
    expires_in: Option<Duration>,
    /// The token had expired this long before each resolve.
    expired_ago: Option<Duration>,
    rotating: bool,
    raw: Option<Value>,
    description: String,
}

impl FakeProvider {
    /// OAuth2 with a `bearer` token that lives an hour.
    pub fn oauth2(access_token: &str) -> FakeProvider {
        let mut credentials = Map::new();
        credentials.insert("access_token".into(), access_token.into());
        credentials.insert("token_type".into(), "bearer".into());
        FakeProvider {
            strategy: Some(json!({"type": "oauth2"})),
            api_base_url: None,
            credentials,
            token_field: "access_token".into(),
            copy_to_top: true,
            expires_in: Some(Duration::from_secs(3600)),
            expired_ago: None,
            rotating: false,
            raw: None,
            description: String::new(),
        }
    }

    /// An api key sent in `header_name`, after `value_prefix` when given.
    pub fn header(header_name: &str, value_prefix: Option<&str>, api_key: &str) -> FakeProvider {
        let mut config = json!({"header_name": header_name, "credential_field": "api_key"});
        if let Some(prefix) = value_prefix {
            config["value_prefix"] = prefix.into();
        }
        FakeProvider::keyed(
            json!({"type": "header", "config": config}),
            "api_key",
            api_key,
        )
    }

    /// HTTP Basic credentials.
    pub fn basic_auth(username: &str, password: &str) -> FakeProvider {
        let mut provider = FakeProvider::keyed(json!({"type": "basic_auth"}), "username", username);
        provider
            .credentials
            .insert("password".into(), password.into());
        provider
    }

    /// An api key sent as the query parameter `param_name`.
    pub fn query_param(param_name: &str, api_key: &str) -> FakeProvider {
        let strategy = json!({"type": "query_param",
                              "config": {"param_name": param_name, "credential_field": "api_key"}});
        FakeProvider::keyed(strategy, "api_key", api_key)
    }

    /// `hmac_payload`: an HMAC-SHA256 of each request body under `secret`,
    /// hex, in `header_name`. [`config`](Self::config) changes `algo` or
    /// `encoding`; with [`rotating`](Self::rotating) the secret changes.
    pub fn hmac_payload(header_name: &str, secret: &str) -> FakeProvider {
        let strategy = json!({"type": "hmac_payload",
                              "config": {"header_name": header_name, "secret_field": "api_secret"}});
        FakeProvider::keyed(strategy, "api_secret", secret)
    }

    /// `aws_sigv4` for `service` in `region`; with
    /// [`rotating`](Self::rotating) the secret key changes.
    pub fn aws_sigv4(
        access_key: &str,
        secret_key: &str,
        region: &str,
        service: &str,
    ) -> FakeProvider {
        let strategy = json!({"type": "aws_sigv4",
                              "config": {"region": region, "service": service}});
        let mut provider = FakeProvider::keyed(strategy, "secret_key", secret_key);
        provider
            .credentials
            .insert("access_key".into(), access_key.into());
        provider
    }

    /// Sets `key` in the strategy's `config` (`algo`, `encoding`, …).
    pub fn config(mut self, key: &str, value: &str) -> FakeProvider {
        if let Some(Value::Object(strategy)) = &mut self.strategy {
            let config = strategy.entry("config").or_insert_with(|| json!({}));
            if let Value::Object(config) = config {
                config.insert(key.into(), value.into());
            }
        }
        self
    }

    /// Adds `credentials[key] = value` (an `aws_sigv4` `session_token`, …).
    pub fn credential(mut self, key: &str, value: &str) -> FakeProvider {
        self.credentials.insert(key.into(), value.into());
        self
    }

    /// Answers exactly `body` (with no expiry added), for contract tests.
    pub fn raw(body: Value) -> FakeProvider {
        FakeProvider {
            raw: Some(body),
            ..FakeProvider::oauth2("")
        }
    }

    fn keyed(strategy: Value, field: &str, value: &str) -> FakeProvider {
        let mut credentials = Map::new();
        credentials.insert(field.into(), value.into());
        FakeProvider {
            strategy: Some(strategy),
            api_base_url: None,
            credentials,
            token_field: field.into(),
            copy_to_top: false,
            expires_in: None,
            expired_ago: None,
            rotating: false,
            raw: None,
            description: String::new(),
        }
    }

    /// The provider's API base URL, as `GET /v1/providers/metadata` reports
    /// it (the origin [`CredentialScope::provider_api`](nexus_sdk::CredentialScope::provider_api) allows).
    pub fn api_base_url(mut self, url: &str) -> FakeProvider {
        self.api_base_url = Some(url.to_owned());
        self
    }

    /// What `GET /v1/providers/metadata` says of the provider (empty by
    /// default): a server's text, which a client shows and never obeys.
    pub fn description(mut self, text: &str) -> FakeProvider {
        self.description = text.to_owned();
        self
    }

    /// The provider's entry in `GET /v1/providers/metadata`, and the auth
    /// type it is grouped under.
    pub(crate) fn metadata(&self, name: &str) -> (&'static str, Value) {
        let kind = self
            .strategy
            .as_ref()
            .and_then(|s| s.get("type"))
            .and_then(Value::as_str)
            .unwrap_or("oauth2");
        let group = match kind {
            "header" | "query_param" => "api_key",
            "basic_auth" => "basic_auth",
            "aws_sigv4" => "aws_sigv4",
            _ => "oauth2",
        };
        let entry = json!({"id": format!("fake-{name}"), "api_base_url": self.api_base_url,
                           "scopes": [], "description": self.description, "category": "fake"});
        (group, entry)
    }

    /// The token expires this long after each resolve (at the latest at
    /// 9999-12-31T23:59:59Z, the last date RFC 3339 writes).
    pub fn expires_in(mut self, lifetime: Duration) -> FakeProvider {
        self.expires_in = Some(lifetime);
        self
    }

    /// The token had already expired `ago` before each resolve: a Broker
    /// handing out a token it could not refresh.
    pub fn expired(mut self, ago: Duration) -> FakeProvider {
        self.expired_ago = Some(ago);
        self
    }

    /// The answer carries no expiry at all.
    pub fn no_expiry(mut self) -> FakeProvider {
        self.expires_in = None;
        self.expired_ago = None;
        self
    }

    /// The `n`-th token served for the pair (from 1; faulted requests do not
    /// count) is the token with `-n` appended.
    pub fn rotating(mut self) -> FakeProvider {
        self.rotating = true;
        self
    }

    /// The resolve answer for the `serial`-th token served, its expiry
    /// counted from `now`.
    pub(crate) fn answer(&self, serial: usize, now: SystemTime) -> Value {
        if let Some(raw) = &self.raw {
            return raw.clone();
        }
        let mut credentials = self.credentials.clone();
        if self.rotating {
            if let Some(Value::String(token)) = credentials.get_mut(&self.token_field) {
                token.push_str(&format!("-{serial}"));
            }
        }
        let past = |ago| now.checked_sub(ago).unwrap_or(std::time::UNIX_EPOCH);
        let expiry = match self.expired_ago {
            Some(ago) => Some(rfc3339(past(ago))),
            None => self
                .expires_in
                .map(|lifetime| rfc3339(capped(now, lifetime))),
        };
        if let Some(at) = &expiry {
            credentials.insert("expires_at".into(), at.clone().into());
            // As the Broker says it: a token whose expiry has passed is `expired`.
            credentials.insert("expired".into(), self.expired_ago.is_some().into());
        }
        let mut body = Map::new();
        if self.copy_to_top {
            // The real Broker's OAuth2 answer: the token's fields at the top
            // level too, its expiry as `expiry` (RFC 3339).
            for key in ["access_token", "token_type", "refresh_token", "id_token"] {
                if let Some(v) = credentials.get(key) {
                    body.insert(key.into(), v.clone());
                }
            }
            if let Some(at) = expiry {
                body.insert("expiry".into(), at.into());
            }
        }
        if let Some(strategy) = &self.strategy {
            body.insert("strategy".into(), strategy.clone());
        }
        body.insert("credentials".into(), Value::Object(credentials));
        Value::Object(body)
    }
}
