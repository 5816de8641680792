//! A resolved credential in the forms a shell wants: a bare value, a
//! header line, JSON, or environment variables for a command.

use std::io::ErrorKind;
use std::process::{Command, ExitCode};
use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use nexus_sdk::{CachedToken, NexusClient, NexusError, TokenCache, code};
use serde_json::{Value, json};

use nexus_sdk::one_line;

/// The AWS variables that name a credential or where to find one: `exec`
/// of an `aws_sigv4` credential removes those it does not set, as
/// `aws-vault exec` does, so that no other role's session is mixed in.
const AWS_CREDENTIAL_VARIABLES: [&str; 8] = [
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_CREDENTIAL_EXPIRATION",
    "AWS_CREDENTIAL_FILE",
];

/// How a credential reaches a command: the one place strategy names are read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// One value: `oauth2`, `header`, `query_param`.
    Value,
    /// A user and a password: `basic_auth`.
    Basic,
    /// A secret that signs each request: `hmac_payload`.
    Hmac,
    /// AWS keys that sign each request: `aws_sigv4`.
    Aws,
}

impl Kind {
    fn of(token: &CachedToken) -> Kind {
        match token.strategy() {
            "basic_auth" => Kind::Basic,
            "hmac_payload" => Kind::Hmac,
            "aws_sigv4" => Kind::Aws,
            _ => Kind::Value,
        }
    }

    /// Whether the credential signs each request: it has no value to send.
    fn signs(self) -> bool {
        matches!(self, Kind::Hmac | Kind::Aws)
    }
}

/// A resolved token and its serialized record (strategy parameters
/// included, such as an AWS key id, session token and region).
pub(crate) struct Credential {
    token: CachedToken,
    kind: Kind,
    record: Value,
}

impl Credential {
    /// The workspace's credential for `provider`, resolved through the
    /// cache (the client waits out the Gateway's rate limit within its
    /// timeout). One the Gateway hands out already expired is never handed
    /// on: the library says so (`code::TOKEN_EXPIRED`), and a connection
    /// that needs its user is told the command that connects it.
    pub(crate) fn resolve(
        client: &NexusClient,
        workspace: &str,
        provider: &str,
    ) -> Result<Credential, NexusError> {
        let token = client
            .get_cached_token(&TokenCache::new(), workspace, provider)
            .map_err(|mut e| {
                if e.needs_connection() {
                    let (ws, p) = (one_line(workspace), one_line(provider));
                    e.message = format!("{} (nexus connect {ws} {p})", e.message);
                }
                e
            })?;
        let record = serde_json::to_value(&token).unwrap_or(Value::Null);
        let kind = Kind::of(&token);
        Ok(Credential {
            token,
            kind,
            record,
        })
    }

    /// When the token expires.
    pub(crate) fn expires_at(&self) -> SystemTime {
        self.token.expires_at()
    }

    fn field(&self, name: &str) -> Option<&str> {
        self.record.get(name).and_then(Value::as_str)
    }

    /// Refuses a strategy that signs each request: it has no value to print.
    fn unsigned(&self) -> Result<(), NexusError> {
        if !self.kind.signs() {
            return Ok(());
        }
        Err(NexusError::new(
            code::UNSUPPORTED_STRATEGY,
            format!(
                "the {} strategy signs each request: there is no single value to print; \
                 use `nexus exec`, which hands the command what it signs with",
                self.token.strategy()
            ),
        ))
    }

    /// The bare credential (for `basic_auth`, `base64(user:password)`).
    pub(crate) fn value(&self) -> Result<String, NexusError> {
        self.unsigned()?;
        Ok(self.token.access_token().to_owned())
    }

    /// The header line the strategy sends: `Authorization: Bearer …`.
    pub(crate) fn header_line(&self) -> Result<String, NexusError> {
        self.unsigned()?;
        if let Some(param) = self.token.query_param() {
            return Err(NexusError::new(
                code::UNSUPPORTED_STRATEGY,
                format!(
                    "the query_param strategy sends `?{}=…`, not a header: use --format value",
                    one_line(param)
                ),
            ));
        }
        Ok(format!(
            "{}: {}",
            self.token.header_name(),
            self.token.header_value()
        ))
    }

    /// What the Gateway's resolve gives, as JSON (`expires_at` in epoch seconds).
    pub(crate) fn json(&self) -> String {
        json!({
            "strategy": self.token.strategy(),
            "header_name": self.token.header_name(),
            "value_prefix": self.token.value_prefix(),
            "value": (!self.kind.signs()).then(|| self.token.access_token()),
            "query_param": self.token.query_param(),
            "expires_at": self.record.get("expires_at").and_then(Value::as_f64).map(|s| s as u64),
        })
        .to_string()
    }

    /// A `basic_auth` credential's user and password.
    pub(crate) fn basic_pair(&self) -> Option<(String, String)> {
        if self.kind != Kind::Basic {
            return None;
        }
        let decoded = BASE64.decode(self.token.access_token()).ok()?;
        let pair = String::from_utf8(decoded).ok()?;
        let (user, password) = pair.split_once(':')?;
        Some((user.to_owned(), password.to_owned()))
    }

    /// The variables a command gets, for the names asked for.
    fn variables(&self, names: &[String]) -> Result<Vec<(String, String)>, NexusError> {
        let named = |i: usize, default: &str| names.get(i).cloned().unwrap_or(default.to_owned());
        let secret = self.token.access_token().to_owned();
        Ok(match self.kind {
            Kind::Aws => {
                if !names.is_empty() {
                    let why = "--env does not apply to aws_sigv4: the AWS_* variables are set";
                    return Err(NexusError::new(code::INVALID_INPUT, why));
                }
                let mut vars = vec![
                    (
                        "AWS_ACCESS_KEY_ID".into(),
                        self.field("access_key").unwrap_or("").into(),
                    ),
                    ("AWS_SECRET_ACCESS_KEY".into(), secret),
                ];
                if let Some(session) = self.field("session_token") {
                    vars.push(("AWS_SESSION_TOKEN".into(), session.into()));
                    vars.push(("AWS_SECURITY_TOKEN".into(), session.into()));
                }
                let region = self.field("region").unwrap_or("us-east-1");
                vars.push(("AWS_REGION".into(), region.into()));
                vars.push(("AWS_DEFAULT_REGION".into(), region.into()));
                vars
            }
            Kind::Basic => {
                let (user, password) = self.basic_pair().unwrap_or_default();
                vec![
                    (named(0, "NEXUS_USERNAME"), user),
                    (named(1, "NEXUS_PASSWORD"), password),
                ]
            }
            Kind::Value | Kind::Hmac if names.is_empty() => vec![("NEXUS_TOKEN".into(), secret)],
            Kind::Value | Kind::Hmac => names.iter().map(|n| (n.clone(), secret.clone())).collect(),
        })
    }

    /// The variables of the shell's environment the command must not see:
    /// the Gateway's api key, and for AWS every credential variable not set.
    fn removed(&self, set: &[(String, String)]) -> Vec<&'static str> {
        let mut removed = vec!["NEXUS_API_KEY"];
        if self.kind == Kind::Aws {
            let unset = |name: &&str| !set.iter().any(|(n, _)| n == name);
            removed.extend(AWS_CREDENTIAL_VARIABLES.into_iter().filter(unset));
        }
        removed
    }
}

/// Runs `command` with the credential in the variables named (and without
/// the Gateway's api key), and gives back its exit status; a command killed
/// by a signal exits as the shell reports it, 128 + the signal, and one
/// that cannot be found or run exits 127 or 126, as a shell's does.
pub(crate) fn exec(
    credential: &Credential,
    names: &[String],
    command: &[String],
) -> Result<ExitCode, NexusError> {
    let variables = credential.variables(names)?;
    let (program, args) = command
        .split_first()
        .ok_or_else(|| NexusError::new(code::INVALID_INPUT, "exec needs a command after --"))?;
    let mut child = Command::new(program);
    child.args(args);
    for name in credential.removed(&variables) {
        child.env_remove(name);
    }
    let status = match child.envs(variables).status() {
        Ok(status) => status,
        Err(e) => {
            let (code, why) = match e.kind() {
                ErrorKind::NotFound => (127, "command not found".to_owned()),
                ErrorKind::PermissionDenied => (126, "permission denied".to_owned()),
                _ => (126, e.kind().to_string()),
            };
            eprintln!("nexus: exec: {}: {why}", one_line(program));
            return Ok(ExitCode::from(code));
        }
    };
    let code = status.code().unwrap_or_else(|| 128 + signal_of(&status));
    Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)))
}

#[cfg(unix)]
fn signal_of(status: &std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status.signal().unwrap_or(0)
}

#[cfg(not(unix))]
fn signal_of(_: &std::process::ExitStatus) -> i32 {
    0
}
