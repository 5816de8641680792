//! Turning a `/v1/resolve` answer into a [`CachedToken`]: strategies,
//! credential lookup, expiry parsing and header safety. Pure functions: no
//! I/O, no clock but the `now` passed in.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};
use ureq::http::{HeaderName, HeaderValue};

use crate::date::parse_rfc3339;
use crate::error::NexusError;
use crate::types::CachedToken;

/// How long a token is kept when the Gateway gives no usable expiry.
pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(300);

/// Where a token's expiry came from, so the caller can log a warning.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expiry {
    /// The answer gave a usable expiry.
    Given,
    /// The answer gave none: [`DEFAULT_TOKEN_TTL`] applies.
    Missing,
    /// The answer gave this value, which did not parse: the default applies.
    Unparseable(Value),
}

/// The [`CachedToken`] a resolve answer describes, and where its expiry came from.
pub(crate) fn token_from_resolve(
    body: &Value,
    now: SystemTime,
) -> Result<(CachedToken, Expiry), NexusError> {
    let credentials = match body.get("credentials") {
        Some(Value::Object(c)) if !c.is_empty() => c,
        Some(Value::Object(_)) | Some(Value::Null) | None => {
            return Err(NexusError::invalid_response(
                "resolve answer has no credentials",
            ));
        }
        Some(_) => {
            return Err(NexusError::invalid_response(
                "resolve answer's credentials are not an object",
            ));
        }
    };
    let Strategy { kind, config } = strategy(body)?;
    let text = |map: &Map<String, Value>, key: &str| -> Option<String> {
        map.get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let config_str = |key: &str| config.and_then(|c| text(c, key));

    let mut header_name = "Authorization".to_owned();
    let mut value_prefix = "Bearer ".to_owned();
    let mut token_type = "Bearer".to_owned();
    let mut query_param = None;
    let mut credential_field = config_str("credential_field");
    let mut basic = None;

    match kind {
        "oauth2" => {
            if let Some(given) = text(credentials, "token_type") {
                value_prefix = if given.eq_ignore_ascii_case("bearer") {
                    "Bearer ".to_owned()
                } else {
                    format!("{given} ")
                };
                token_type = given;
            }
        }
        "header" => {
            header_name = config_str("header_name").unwrap_or(header_name);
            // A missing prefix is empty (Broker semantics), and so may a given one be.
            value_prefix = config
                .and_then(|c| c.get("value_prefix"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            token_type = match value_prefix.trim() {
                "" => header_name.clone(),
                trimmed => trimmed.to_owned(),
            };
            credential_field.get_or_insert_with(|| "api_key".to_owned());
        }
        "basic_auth" => {
            value_prefix = "Basic ".to_owned();
            token_type = "Basic".to_owned();
            let user_field = config_str("username_field").unwrap_or_else(|| "username".into());
            let pass_field = config_str("password_field").unwrap_or_else(|| "password".into());
            let user = text(credentials, &user_field).ok_or_else(|| {
                NexusError::new(
                    "invalid_credentials",
                    "basic_auth credentials have no username",
                )
            })?;
            let pass = credentials
                .get(&pass_field)
                .and_then(Value::as_str)
                .unwrap_or("");
            basic = Some(base64(format!("{user}:{pass}").as_bytes()));
        }
        "query_param" => {
            let param = config_str("param_name").ok_or_else(|| {
                NexusError::invalid_response("query_param strategy has no param_name")
            })?;
            token_type = param.clone();
            value_prefix = String::new();
            query_param = Some(param);
            credential_field.get_or_insert_with(|| "api_key".to_owned());
        }
        other => {
            return Err(NexusError::new(
                "unsupported_strategy",
                format!("the SDK cannot inject the `{other}` strategy"),
            ));
        }
    }

    let access_token = basic
        .or_else(|| text(credentials, "access_token"))
        .or_else(|| {
            body.get("access_token")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        })
        .or_else(|| text(credentials, credential_field.as_deref()?))
        .ok_or_else(|| {
            NexusError::new(
                "invalid_credentials",
                "no access token in the resolve answer",
            )
        })?;

    check_header_safe(&header_name, &value_prefix, &access_token)?;

    let (expires_at, expiry) = match expiry_value(body, credentials) {
        None => (now + DEFAULT_TOKEN_TTL, Expiry::Missing),
        Some(value) => match parse_expiry(value) {
            Some(at) => (at, Expiry::Given),
            None => (now + DEFAULT_TOKEN_TTL, Expiry::Unparseable(value.clone())),
        },
    };
    let token = CachedToken {
        access_token,
        token_type,
        expires_at,
        header_name,
        value_prefix,
        query_param,
    };
    Ok((token, expiry))
}

/// A strategy's type and its config object.
struct Strategy<'a> {
    kind: &'a str,
    config: Option<&'a Map<String, Value>>,
}

/// The answer's strategy: `oauth2` with no config when absent or null.
fn strategy(body: &Value) -> Result<Strategy<'_>, NexusError> {
    let oauth2 = Strategy {
        kind: "oauth2",
        config: None,
    };
    match body.get("strategy") {
        None | Some(Value::Null) => Ok(oauth2),
        Some(Value::Object(strategy)) => {
            let kind = match strategy.get("type") {
                None | Some(Value::Null) => "oauth2",
                Some(Value::String(kind)) => kind.as_str(),
                Some(_) => {
                    return Err(NexusError::invalid_response(
                        "strategy type is not a string",
                    ));
                }
            };
            Ok(Strategy {
                kind,
                config: strategy.get("config").and_then(Value::as_object),
            })
        }
        Some(_) => Err(NexusError::invalid_response("strategy is not an object")),
    }
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
/// above 1e12) as a number or numeric string, or an RFC 3339 date-time.
/// `None` for anything else, or for a time that cannot be represented.
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
    let seconds = if seconds > 1e12 {
        seconds / 1000.0
    } else {
        seconds
    };
    let offset = Duration::try_from_secs_f64(seconds.abs()).ok()?;
    if seconds >= 0.0 {
        UNIX_EPOCH.checked_add(offset)
    } else {
        UNIX_EPOCH.checked_sub(offset)
    }
}

/// `invalid_credentials` unless the header name and value can be sent as they are.
fn check_header_safe(name: &str, prefix: &str, token: &str) -> Result<(), NexusError> {
    if HeaderName::from_bytes(name.as_bytes()).is_err() {
        return Err(NexusError::new(
            "invalid_credentials",
            "the strategy's header name cannot be sent in HTTP",
        ));
    }
    // Visible ASCII and spaces only: no CR, LF, NUL or other control bytes.
    let visible = |s: &str| {
        s.bytes()
            .all(|b| b == b' ' || b == b'\t' || (0x21..0x7f).contains(&b))
    };
    let value_ok = visible(prefix)
        && visible(token)
        && HeaderValue::from_str(&format!("{prefix}{token}")).is_ok();
    if !value_ok {
        return Err(NexusError::new(
            "invalid_credentials",
            "the token holds characters an HTTP header cannot carry",
        ));
    }
    Ok(())
}

/// Standard base64 with padding.
pub(crate) fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
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
    fn base64_vectors() {
        // RFC 4648 §10.
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
            ("alice:s3cret", "YWxpY2U6czNjcmV0"),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
        assert_eq!(base64(&[0xff, 0xfe]), "//4=");
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
        assert_eq!(token.token_type, "bearer");
        assert_eq!(token.header_value(), "Bearer t");
        assert_eq!(expiry, Expiry::Given);
    }

    #[test]
    fn missing_and_unparseable_expiry_default_to_five_minutes() {
        let (token, expiry) =
            token_from_resolve(&json!({"credentials": {"access_token": "t"}}), now()).unwrap();
        assert_eq!(
            (token.expires_at, expiry),
            (now() + DEFAULT_TOKEN_TTL, Expiry::Missing)
        );
        let body = json!({"credentials": {"access_token": "t", "expires_at": "soon"}});
        let (token, expiry) = token_from_resolve(&body, now()).unwrap();
        assert_eq!(token.expires_at, now() + DEFAULT_TOKEN_TTL);
        assert_eq!(expiry, Expiry::Unparseable(json!("soon")));
    }

    #[test]
    fn expiry_falls_back_to_top_level_keys() {
        let body = json!({"expires_at": 1_938_254_400, "expiry": "2031-06-01T12:00:00Z",
                          "credentials": {"access_token": "t", "expires_at": null}});
        assert_eq!(
            epoch(token_from_resolve(&body, now()).unwrap().0.expires_at),
            1_938_254_400.0
        );
        let body = json!({"expiry": "2031-06-01T12:00:00Z", "credentials": {"access_token": "t"}});
        assert_eq!(
            epoch(token_from_resolve(&body, now()).unwrap().0.expires_at),
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
                json!({"credentials": {"access_token": 5}}),
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
            (token.header_name.as_str(), token.header_value().as_str()),
            ("Authorization", "k")
        );
    }

    #[test]
    fn basic_auth_with_custom_fields() {
        let body = json!({"strategy": {"type": "basic_auth",
                                       "config": {"username_field": "client_id", "password_field": "secret"}},
                          "credentials": {"client_id": "id", "secret": "pw"}});
        let (token, _) = token_from_resolve(&body, now()).unwrap();
        assert_eq!(token.header_value(), format!("Basic {}", base64(b"id:pw")));
    }
}
