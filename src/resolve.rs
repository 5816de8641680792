//! Turning a `/v1/resolve` answer into a [`CachedToken`]: strategies,
//! credential lookup, expiry parsing and header safety. Pure functions: no
//! I/O, no clock but the `now` passed in.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};
use ureq::http::{HeaderName, HeaderValue};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::connection::{non_empty_str, scalar_string};
use crate::date::parse_rfc3339;
use crate::error::NexusError;
use crate::redact::quote;
use crate::token::{CachedToken, LATEST_EXPIRY_SECS, Secret, Signer, Strategy};

/// How long a token is kept when the Gateway gives no usable expiry.
pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(300);

/// The name of a JSON value's type, for a message that must not quote it.
fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Where a token's expiry came from, so the caller can log a warning.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expiry {
    /// The answer gave a usable expiry.
    Given,
    /// The answer gave none: [`DEFAULT_TOKEN_TTL`] applies.
    Missing,
    /// The answer gave one of this JSON type that did not parse: the
    /// default applies.
    Unparseable(&'static str),
}

/// The [`CachedToken`] a resolve answer describes, and where its expiry came from.
pub(crate) fn token_from_resolve(
    body: &Value,
    now: SystemTime,
) -> Result<(CachedToken, Expiry), NexusError> {
    let credentials = credentials_of(body)?;
    let (kind, config) = strategy(body)?;
    let Some(strategy) = Strategy::parse(kind) else {
        let why = format!("the SDK cannot apply the `{}` strategy", quote(kind));
        return Err(NexusError::unsupported_strategy(why));
    };
    let (expires_at, expiry) = match expiry_value(body, credentials) {
        None => (now + DEFAULT_TOKEN_TTL, Expiry::Missing),
        Some(value) => match parse_expiry(value) {
            Some(at) => (at, Expiry::Given),
            None => (
                now + DEFAULT_TOKEN_TTL,
                Expiry::Unparseable(json_type(value)),
            ),
        },
    };
    // The key under `credential_field` (else `api_key`), after
    // `credentials.access_token` and the top-level `access_token`.
    let api_key_token = || {
        let field = config.text_or("credential_field", "api_key");
        let secret = access_token(body, credentials, Some(&field))?;
        Ok::<_, NexusError>(CachedToken::bearer(secret, expires_at))
    };
    let token = match strategy {
        Strategy::OAuth2 => {
            let token = CachedToken::bearer(access_token(body, credentials, None)?, expires_at);
            match scalar_string(credentials.get("token_type")) {
                Some(given) => token.with_token_type(given),
                None => token,
            }
        }
        Strategy::Header => {
            let name = config.text("header_name");
            // A missing prefix is empty (Broker semantics), and so may a given one be.
            let prefix = config.0.and_then(|c| c.get("value_prefix")?.as_str());
            let prefix = prefix.unwrap_or("");
            api_key_token()?.with_header(name.as_deref().unwrap_or("Authorization"), prefix)
        }
        Strategy::BasicAuth => {
            CachedToken::basic_auth(basic_auth(credentials, &config)?, expires_at)
        }
        Strategy::QueryParam => {
            let param = config.text("param_name").ok_or_else(|| {
                NexusError::invalid_response("query_param strategy has no param_name")
            })?;
            api_key_token()?.with_query_param(param)
        }
        Strategy::HmacPayload => hmac_payload(credentials, &config, expires_at)?,
        Strategy::AwsSigV4 => aws_sigv4(credentials, &config, expires_at)?,
    };
    check_header_safe(&token)?;
    Ok((token, expiry))
}

/// The answer's `credentials`: a non-empty object, or `invalid_response`.
fn credentials_of(body: &Value) -> Result<&Map<String, Value>, NexusError> {
    let why = match body.get("credentials") {
        Some(Value::Object(c)) if !c.is_empty() => return Ok(c),
        Some(Value::Object(_) | Value::Null) | None => "resolve answer has no credentials",
        Some(_) => "resolve answer has credentials that are not an object",
    };
    Err(NexusError::invalid_response(why))
}

/// A strategy's `config` object, read leniently: a value of the wrong type reads as absent.
struct Config<'a>(Option<&'a Map<String, Value>>);

impl Config<'_> {
    /// A non-empty string setting (a number is not a name).
    fn text(&self, key: &str) -> Option<String> {
        non_empty_str(self.0?.get(key)).map(str::to_owned)
    }

    /// A non-empty string setting, else `default`.
    fn text_or(&self, key: &str, default: &str) -> String {
        self.text(key).unwrap_or_else(|| default.to_owned())
    }

    /// `config[key]`, one of `names` (the first when absent); a name it
    /// does not know is `unsupported_strategy`, saying what it may be.
    fn choice(&self, key: &str, names: [&'static str; 2]) -> Result<&'static str, NexusError> {
        let Some(name) = self.text(key) else {
            return Ok(names[0]);
        };
        names.into_iter().find(|n| *n == name).ok_or_else(|| {
            let (a, b, name) = (names[0], names[1], quote(&name));
            NexusError::unsupported_strategy(format!(
                "hmac_payload {key} `{name}` is not {a} or {b}"
            ))
        })
    }
}

/// `basic_auth`: `base64(user:password)` from the configured fields.
fn basic_auth(credentials: &Map<String, Value>, config: &Config<'_>) -> Result<String, NexusError> {
    let user_field = config.text_or("username_field", "username");
    let pass_field = config.text_or("password_field", "password");
    let user = scalar_string(credentials.get(&user_field)).ok_or_else(|| {
        NexusError::invalid_credentials("basic_auth credentials have no username")
    })?;
    let pass = scalar_string(credentials.get(&pass_field)).unwrap_or_default();
    Ok(BASE64.encode(format!("{user}:{pass}")))
}

/// `hmac_payload`: the secret is the token, and the signer signs each
/// request's body with it.
fn hmac_payload(
    credentials: &Map<String, Value>,
    config: &Config<'_>,
    expires_at: SystemTime,
) -> Result<CachedToken, NexusError> {
    use crate::token::{HMAC_ALGOS, HMAC_ENCODINGS};
    crate::signing::check_available("hmac_payload")?;
    let header_name = config.text("header_name").ok_or_else(|| {
        NexusError::invalid_credentials("hmac_payload strategy has no header_name")
    })?;
    let secret_field = config.text_or("secret_field", "api_secret");
    let secret = scalar_string(credentials.get(&secret_field)).ok_or_else(|| {
        NexusError::invalid_credentials(format!(
            "hmac_payload credentials have no `{}`",
            quote(&secret_field)
        ))
    })?;
    let algo = config.choice("algo", HMAC_ALGOS)?.to_owned();
    let encoding = config.choice("encoding", HMAC_ENCODINGS)?.to_owned();
    let signer = Signer::Hmac { algo, encoding };
    Ok(CachedToken::signed(secret, expires_at, header_name, signer))
}

/// `aws_sigv4`: the secret access key is the token, and the signer signs
/// each request with it.
fn aws_sigv4(
    credentials: &Map<String, Value>,
    config: &Config<'_>,
    expires_at: SystemTime,
) -> Result<CachedToken, NexusError> {
    crate::signing::check_available("aws_sigv4")?;
    let required = |value: Option<String>, what: &str| {
        value.ok_or_else(|| NexusError::invalid_credentials(format!("aws_sigv4 has no {what}")))
    };
    let service = required(config.text("service"), "config.service")?;
    let access_key = required(scalar_string(credentials.get("access_key")), "access_key")?;
    let secret_key = required(scalar_string(credentials.get("secret_key")), "secret_key")?;
    let signer = Signer::AwsSigV4 {
        access_key,
        session_token: scalar_string(credentials.get("session_token")).map(Secret),
        region: config.text_or("region", "us-east-1"),
        service,
    };
    let header = String::new();
    Ok(CachedToken::signed(secret_key, expires_at, header, signer))
}

/// What a token puts in its header, which must be header-safe: the prefix
/// and the token, nothing for `hmac_payload` (a signature), and for
/// `aws_sigv4` the key id, scope and session token.
fn sent_by(token: &CachedToken) -> (&str, String) {
    match token.signer() {
        None => (token.value_prefix(), token.access_token().to_owned()),
        Some(Signer::Hmac { .. }) => ("", String::new()),
        Some(Signer::AwsSigV4 {
            access_key,
            session_token,
            region,
            service,
        }) => (
            "",
            format!(
                "{access_key} {region} {service} {}",
                session_token.as_ref().map_or("", |s| s.0.as_str())
            ),
        ),
    }
}

/// The token: `credentials.access_token`, else the top-level `access_token`,
/// else `credentials[credential_field]`.
fn access_token(
    body: &Value,
    credentials: &Map<String, Value>,
    credential_field: Option<&str>,
) -> Result<String, NexusError> {
    scalar_string(credentials.get("access_token"))
        .or_else(|| {
            body.as_object()
                .and_then(|top| scalar_string(top.get("access_token")))
        })
        .or_else(|| scalar_string(credentials.get(credential_field?)))
        .ok_or_else(|| NexusError::invalid_credentials("no access token in the resolve answer"))
}

/// The answer's strategy type and config: `oauth2` with no config when
/// the strategy or its type is absent or null.
fn strategy(body: &Value) -> Result<(&str, Config<'_>), NexusError> {
    let Some(strategy) = body.get("strategy").filter(|s| !s.is_null()) else {
        return Ok(("oauth2", Config(None)));
    };
    let not = |what| NexusError::invalid_response(format!("strategy {what}"));
    let strategy = strategy
        .as_object()
        .ok_or_else(|| not("is not an object"))?;
    let kind = match strategy.get("type") {
        None | Some(Value::Null) => "oauth2",
        Some(Value::String(kind)) => kind,
        Some(_) => return Err(not("type is not a string")),
    };
    let config = Config(strategy.get("config").and_then(Value::as_object));
    Ok((kind, config))
}

/// The first present, non-null expiry: `credentials.expires_at`, then the
/// top-level `expires_at`, then the top-level `expiry`.
fn expiry_value<'a>(body: &'a Value, credentials: &'a Map<String, Value>) -> Option<&'a Value> {
    [
        credentials.get("expires_at"),
        body.get("expires_at"),
        body.get("expiry"),
    ]
    .into_iter()
    .flatten()
    .find(|v| !v.is_null())
}

/// An expiry as the Gateway may write it: epoch seconds (or milliseconds
/// above 1e12) as a number or numeric string, or an RFC 3339 date-time,
/// capped at [`LATEST_EXPIRY_SECS`] either side of the epoch. `None` for
/// anything else, or for a time no `Duration` can hold.
pub(crate) fn parse_expiry(value: &Value) -> Option<SystemTime> {
    let seconds = match value {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => {
            let s = s.trim();
            // "NaN" and "inf" parse as numbers too; the finiteness check below drops them.
            match s.parse::<f64>() {
                Ok(n) => n,
                Err(_) => parse_rfc3339(s)?,
            }
        }
        _ => return None,
    };
    if !seconds.is_finite() {
        return None;
    }
    let seconds = seconds / if seconds > 1e12 { 1000.0 } else { 1.0 };
    // A time no `Duration` can hold is unusable (the default applies); a
    // representable far-future one is capped.
    let offset = Duration::try_from_secs_f64(seconds.abs())
        .ok()?
        .min(Duration::from_secs(LATEST_EXPIRY_SECS));
    if seconds >= 0.0 {
        UNIX_EPOCH.checked_add(offset)
    } else {
        UNIX_EPOCH.checked_sub(offset)
    }
}

/// `invalid_credentials` unless the token's header name and value can be
/// sent as they are.
fn check_header_safe(token: &CachedToken) -> Result<(), NexusError> {
    let (prefix, sent) = sent_by(token);
    let (name, token) = (token.header_name(), sent.as_str());
    let refused = |why: &str| Err(NexusError::invalid_credentials(why));
    if HeaderName::from_bytes(name.as_bytes()).is_err() {
        return refused("the strategy's header name cannot be sent in HTTP");
    }
    // Visible ASCII and spaces only: no CR, LF, NUL or other control bytes.
    let visible = |s: &str| s.bytes().all(|b| matches!(b, b' ' | b'\t' | 0x21..=0x7e));
    let value_ok = visible(prefix)
        && visible(token)
        && HeaderValue::from_str(&format!("{prefix}{token}")).is_ok();
    if !value_ok {
        return refused("the token holds characters an HTTP header cannot carry");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_800_000_000)
    }

    fn epoch(t: SystemTime) -> f64 {
        match t.duration_since(UNIX_EPOCH) {
            Ok(after) => after.as_secs_f64(),
            Err(before) => -before.duration().as_secs_f64(),
        }
    }

    #[test]
    fn expiry_forms() {
        let at = |v: Value| parse_expiry(&v).map(epoch);
        assert_eq!(at(json!(1_938_254_400)), Some(1_938_254_400.0));
        assert_eq!(at(json!(1_938_254_400.5)), Some(1_938_254_400.5));
        assert_eq!(at(json!(1_938_254_400_000u64)), Some(1_938_254_400.0));
        assert_eq!(at(json!(" 1938254400 ")), Some(1_938_254_400.0));
        assert_eq!(at(json!("1938254400000")), Some(1_938_254_400.0));
        assert_eq!(at(json!("2031-06-01T12:00:00Z")), Some(1_938_081_600.0));
        assert_eq!(at(json!("2031-06-01")), Some(1_938_038_400.0));
        assert_eq!(at(json!(-10)), Some(-10.0));
        for bad in [
            json!(""),
            json!("soon"),
            json!(true),
            json!(null),
            json!("NaN"),
            json!("inf"),
            json!("-inf"),
            json!(1e300),
            json!("1e300"),
            json!([1]),
            json!({"at": 1}),
            json!("1-2"),
        ] {
            assert_eq!(at(bad.clone()), None, "{bad}");
        }
    }

    #[test]
    fn oauth2_keeps_the_provider_casing() {
        let body = json!({"credentials": {"access_token": "t", "token_type": "bearer",
                                          "expires_at": "2031-06-01T12:00:00Z"}});
        let (token, expiry) = token_from_resolve(&body, now()).unwrap();
        assert_eq!(token.token_type(), "bearer");
        assert_eq!(token.header_value(), "Bearer t");
        assert_eq!(expiry, Expiry::Given);
    }

    #[test]
    fn missing_and_unparseable_expiry_default_to_five_minutes() {
        let (token, expiry) =
            token_from_resolve(&json!({"credentials": {"access_token": "t"}}), now()).unwrap();
        assert_eq!(
            (token.expires_at(), expiry),
            (now() + DEFAULT_TOKEN_TTL, Expiry::Missing)
        );
        let body = json!({"credentials": {"access_token": "t", "expires_at": "soon"}});
        let (token, expiry) = token_from_resolve(&body, now()).unwrap();
        assert_eq!(token.expires_at(), now() + DEFAULT_TOKEN_TTL);
        assert_eq!(expiry, Expiry::Unparseable("string"));
    }

    #[test]
    fn expiry_falls_back_to_top_level_keys() {
        let body = json!({"expires_at": 1_938_254_400, "expiry": "2031-06-01T12:00:00Z",
                          "credentials": {"access_token": "t", "expires_at": null}});
        assert_eq!(
            epoch(token_from_resolve(&body, now()).unwrap().0.expires_at()),
            1_938_254_400.0
        );
        let body = json!({"expiry": "2031-06-01T12:00:00Z", "credentials": {"access_token": "t"}});
        assert_eq!(
            epoch(token_from_resolve(&body, now()).unwrap().0.expires_at()),
            1_938_081_600.0
        );
    }

    #[test]
    fn header_injection_is_refused() {
        let bad_tokens = ["a\r\nX-Evil: 1", "a\nb", "a\0b", "caf\u{e9}", "a\x7fb"];
        for token in bad_tokens {
            let body = json!({"credentials": {"access_token": token}});
            let err = token_from_resolve(&body, now()).unwrap_err();
            assert_eq!(err.code, "invalid_credentials", "{token:?}");
            assert!(!err.message.contains(token));
        }
        let body = json!({"strategy": {"type": "header", "config": {"header_name": "X-Key\r\nEvil"}},
                          "credentials": {"api_key": "k"}});
        assert_eq!(
            token_from_resolve(&body, now()).unwrap_err().code,
            "invalid_credentials"
        );
        let body = json!({"strategy": {"type": "header", "config": {"header_name": "X-Key",
                          "value_prefix": "Key\r\n"}}, "credentials": {"api_key": "k"}});
        assert_eq!(
            token_from_resolve(&body, now()).unwrap_err().code,
            "invalid_credentials"
        );
    }

    #[test]
    fn wrong_json_types_are_clear_errors() {
        for (body, code) in [
            (json!({"credentials": "t"}), "invalid_response"),
            (json!({"credentials": ["t"]}), "invalid_response"),
            (
                json!({"strategy": "oauth2", "credentials": {"access_token": "t"}}),
                "invalid_response",
            ),
            (
                json!({"strategy": {"type": 5}, "credentials": {"access_token": "t"}}),
                "invalid_response",
            ),
            (
                json!({"credentials": {"access_token": 5.5}}),
                "invalid_credentials",
            ),
            (
                json!({"credentials": {"access_token": true}}),
                "invalid_credentials",
            ),
            (json!([1, 2]), "invalid_response"),
            (json!("x"), "invalid_response"),
            (
                json!({"strategy": {"type": "query_param"}, "credentials": {"api_key": "k"}}),
                "invalid_response",
            ),
            (
                json!({"strategy": {"type": "basic_auth"}, "credentials": {"password": "p"}}),
                "invalid_credentials",
            ),
        ] {
            assert_eq!(
                token_from_resolve(&body, now()).unwrap_err().code,
                code,
                "{body}"
            );
        }
        // A config of the wrong type reads as no config.
        let body =
            json!({"strategy": {"type": "header", "config": "x"}, "credentials": {"api_key": "k"}});
        let (token, _) = token_from_resolve(&body, now()).unwrap();
        assert_eq!(
            (token.header_name(), token.header_value().as_str()),
            ("Authorization", "k")
        );
    }

    #[test]
    fn basic_auth_with_custom_fields() {
        let body = json!({"strategy": {"type": "basic_auth",
                                       "config": {"username_field": "client_id", "password_field": "secret"}},
                          "credentials": {"client_id": "id", "secret": "pw"}});
        let (token, _) = token_from_resolve(&body, now()).unwrap();
        assert_eq!(token.header_value(), "Basic aWQ6cHc=");
        assert_eq!(token.strategy(), "basic_auth");
    }

    #[test]
    fn integers_are_their_decimal_text() {
        for body in [
            json!({"credentials": {"access_token": 12345}}),
            json!({"access_token": 12345, "credentials": {"expired": false}}),
            json!({"strategy": {"type": "header", "config": {"header_name": "X-Key"}},
                   "credentials": {"api_key": 12345}}),
            json!({"strategy": {"type": "query_param", "config": {"param_name": "k"}},
                   "credentials": {"api_key": 12345}}),
        ] {
            let (token, _) = token_from_resolve(&body, now()).unwrap();
            assert_eq!(token.access_token(), "12345", "{body}");
        }
        let body = json!({"strategy": {"type": "basic_auth"},
                          "credentials": {"username": 42, "password": 7}});
        let (token, _) = token_from_resolve(&body, now()).unwrap();
        assert_eq!(token.header_value(), "Basic NDI6Nw==");
    }
}
