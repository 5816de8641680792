//! Property tests of every pure parser: arbitrary input never panics, and
//! what comes out keeps its promises. `PROPTEST_CASES` sets the number of
//! cases per property (256 by default); failures are saved under
//! `proptest-regressions/` and replayed first on every later run.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use proptest::prelude::*;
use serde_json::{Map, Value};
use ureq::http::{HeaderName, HeaderValue, Uri};

use crate::date::{format_rfc3339, parse_http_date, parse_rfc3339};
use crate::error::parse_error_body;
use crate::redact::{escape, for_log};
use crate::resolve::{parse_expiry, token_from_resolve};
use crate::retry::{
    ATTEMPT_RESERVE, MAX_RETRY_AFTER, least_wait_at_limit, parse_retry_after, wait_at_limit,
};
use crate::url::{
    Origin, encode_unreserved, form_urlencode, is_loopback_host, parse_http_url, resolve_location,
    with_query_param,
};

/// Keys the resolve parser looks at, so that random JSON often hits them.
const KEYS: &[&str] = &[
    "credentials",
    "strategy",
    "type",
    "config",
    "access_token",
    "api_key",
    "token_type",
    "expires_at",
    "expiry",
    "header_name",
    "value_prefix",
    "param_name",
    "credential_field",
    "username",
    "password",
    "username_field",
    "password_field",
    "oauth2",
    "header",
    "basic_auth",
    "query_param",
    "hmac_payload",
    "aws_sigv4",
    "secret_field",
    "api_secret",
    "access_key",
    "secret_key",
    "session_token",
    "service",
    "region",
    "algo",
    "encoding",
];

fn key() -> impl Strategy<Value = String> {
    prop_oneof![3 => proptest::sample::select(KEYS).prop_map(str::to_owned), 1 => "\\PC{0,8}"]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f)
            .map(Value::Number)),
        proptest::sample::select(KEYS).prop_map(Value::from),
        "[ -~]{0,24}".prop_map(Value::from),
        "\\PC{0,16}".prop_map(Value::from),
        "[0-9]{1,14}(\\.[0-9]{1,3})?".prop_map(Value::from),
        date_like().prop_map(Value::from),
    ]
}

fn json() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec((key(), inner), 0..6)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn date_like() -> impl Strategy<Value = String> {
    "[0-9]{4}-[0-9]{2}-[0-9]{2}([Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}([.,][0-9]{0,12})?(Z|z|[+-][0-9]{2}:?[0-9]{2})?)?"
}

fn http_date_like() -> impl Strategy<Value = String> {
    "(Sun|Mon|Tue|Wed|Thu|Fri|Sat)(day)?,? [0-9]{1,2}[ -](Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[ -][0-9]{2,4} [0-9]{2}:[0-9]{2}:[0-9]{2}( GMT)?"
}

/// Decodes `%XX` escapes (and `+` as space when `plus`).
fn percent_decode(s: &str, plus: bool) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            }
            b'+' if plus => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

proptest! {
    #[test]
    fn rfc3339_never_panics(s in "\\PC{0,40}", d in date_like()) {
        let _ = parse_rfc3339(&s);
        let _ = parse_rfc3339(&d);
    }

    #[test]
    fn rfc3339_with_unicode_offsets_never_panics(d in date_like(), sign in "[+-]?", tail in "\\PC{0,8}") {
        let _ = parse_rfc3339(&format!("{d}{sign}{tail}"));
        let _ = parse_rfc3339(&format!("2026-01-01T00:00:00{sign}{tail}"));
        let _ = parse_rfc3339(&format!("2026-01-01T00:00:00.5{sign}{tail}"));
    }

    #[test]
    fn urls_never_panic_and_come_out_ascii(
        scheme in proptest::sample::select(&["http://", "https://", "HTTP://", "ftp://", "", "http:"][..]),
        authority in "\\PC{0,24}",
        rest in "\\PC{0,40}",
    ) {
        let url = format!("{scheme}{authority}{rest}");
        if let Ok(uri) = parse_http_url(&url, "url") {
            let text = uri.to_string();
            prop_assert!(text.is_ascii(), "{}", text);
            prop_assert!(!uri.authority().is_some_and(|a| a.as_str().contains('@')));
            prop_assert!(Origin::of(&uri).is_some());
            prop_assert!(!for_log(&uri).chars().any(char::is_control));
            prop_assert!(!for_log(&uri).contains('?'));
        }
        let _ = Origin::parse(&url);
        let _ = is_loopback_host(&authority);
    }

    #[test]
    fn escaped_text_has_no_control_characters(s in "\\PC{0,40}", c in any::<char>()) {
        let text = format!("{s}{c}\r\n{s}");
        prop_assert!(!escape(&text).chars().any(char::is_control));
    }

    #[test]
    fn a_query_credential_goes_out_once(
        name in "\\PC{1,10}",
        value in "\\PC{0,10}",
        query in proptest::collection::vec(("\\PC{0,8}", "\\PC{0,8}"), 0..4),
    ) {
        let mut pairs: Vec<(&str, &str)> = query.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        pairs.push((name.as_str(), "caller"));
        let uri: Uri = format!("http://x/p?{}", form_urlencode(&pairs)).parse().unwrap();
        let sent = with_query_param(&uri, &name, Some(&value)).unwrap();
        let matching = sent
            .query()
            .unwrap_or("")
            .split('&')
            .filter(|pair| {
                let key = pair.split('=').next().unwrap_or("");
                String::from_utf8_lossy(&percent_decode(key, true)) == name
            })
            .count();
        prop_assert_eq!(matching, 1);
    }

    #[test]
    fn rfc3339_round_trips(t in -62_135_596_800i64..253_402_300_799) {
        prop_assert_eq!(parse_rfc3339(&format_rfc3339(t)), Some(t as f64));
    }

    #[test]
    fn http_dates_never_panic(s in "\\PC{0,40}", d in http_date_like()) {
        let _ = parse_http_date(&s);
        let _ = parse_http_date(&d);
    }

    #[test]
    fn any_retry_after_gives_a_wait_that_fits_or_none(s in "\\PC{0,30}", n in any::<u64>(), big in "[0-9]{20,60}", d in http_date_like(), now in 0u64..4_102_444_800, refusals in any::<u32>(), left in any::<u64>(), factor in any::<f64>()) {
        let now = UNIX_EPOCH + Duration::from_secs(now);
        prop_assert_eq!(parse_retry_after(&n.to_string(), now), Some(Duration::from_secs(n.saturating_add(1))));
        let left = Duration::from_millis(left);
        for value in [s, n.to_string(), big, d] {
            let asked = parse_retry_after(&value, now);
            let least = least_wait_at_limit(refusals, asked);
            prop_assert!(least <= MAX_RETRY_AFTER.max(Duration::from_secs(8)), "{value:?}: {least:?}");
            if let Some(wait) = wait_at_limit(refusals, asked, left, factor) {
                prop_assert!(wait >= least && wait + ATTEMPT_RESERVE <= left, "{value:?}: {wait:?} of {left:?}");
            } else {
                prop_assert!(least + ATTEMPT_RESERVE > left, "{value:?}: {least:?} fits {left:?}");
            }
        }
    }

    #[test]
    fn error_bodies_always_give_a_code_and_a_message(status in 100u16..1000, body in proptest::collection::vec(any::<u8>(), 0..700), value in json()) {
        for body in [body, value.to_string().into_bytes()] {
            let (code, message) = parse_error_body(status, &body, &[]);
            prop_assert!(!code.is_empty());
            prop_assert!(!message.is_empty());
            let from_fields = ["message", "detail"].iter().any(|k| value.get(k).is_some_and(Value::is_string));
            prop_assert!(from_fields || message.len() <= 512 || message.starts_with("HTTP "));
        }
    }

    #[test]
    fn path_segments_encode_and_decode(s in "\\PC{0,40}", raw in proptest::collection::vec(any::<u8>(), 0..40)) {
        let lossy = String::from_utf8_lossy(&raw).into_owned();
        for input in [s, lossy] {
            let encoded = encode_unreserved(&input);
            prop_assert!(encoded.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b)), "{}", encoded);
            prop_assert_eq!(percent_decode(&encoded, false), input.as_bytes());
        }
    }

    #[test]
    fn form_encoding_round_trips(k in "\\PC{0,20}", v in "\\PC{0,40}") {
        let encoded = form_urlencode(&[(&k, &v)]);
        let (ek, ev) = encoded.split_once('=').unwrap();
        prop_assert!(!ek.contains(['&', '=']) && !ev.contains(['&', '=']));
        prop_assert_eq!(percent_decode(ek, true), k.as_bytes());
        prop_assert_eq!(percent_decode(ev, true), v.as_bytes());
    }

    #[test]
    fn expiry_parsing_never_panics(value in json()) {
        let _ = parse_expiry(&value);
    }

    #[test]
    fn resolved_tokens_are_safe_to_send(body in json(), token in "\\PC{0,30}", kind in proptest::sample::select(KEYS)) {
        // Random bodies, and bodies shaped like real answers with random parts.
        let shaped = serde_json::json!({"strategy": {"type": kind, "config": body.clone()},
                                        "credentials": {"access_token": token, "api_key": token,
                                                        "username": token, "password": token}});
        for body in [body, shaped] {
            if let Ok((t, _)) = token_from_resolve(&body, SystemTime::now()) {
                prop_assert!(!t.access_token().is_empty());
                if t.query_param().is_none() {
                    prop_assert!(HeaderName::from_bytes(t.header_name().as_bytes()).is_ok());
                    prop_assert!(HeaderValue::from_str(&t.header_value()).is_ok());
                }
                prop_assert!(!t.header_value().contains(['\r', '\n', '\0']));
            }
        }
    }

    #[test]
    fn locations_never_panic_and_stay_http(location in "\\PC{0,40}", path in "(/[a-z0-9]{0,6}){0,3}") {
        let base: Uri = format!("https://api.example{path}").parse().unwrap();
        if let Some(next) = resolve_location(&base, &location) {
            prop_assert!(matches!(next.scheme_str(), Some("http" | "https" | "HTTP" | "HTTPS" | "Http" | "Https")) || next.scheme_str().is_some_and(|s| s.eq_ignore_ascii_case("http") || s.eq_ignore_ascii_case("https")));
            prop_assert!(next.host().is_some_and(|h| !h.is_empty()));
        }
    }

    /// Any request the crate can send signs without a panic: the signed
    /// headers are ASCII and header-safe, and the signature is 64 hex digits.
    #[cfg(feature = "signing")]
    #[test]
    fn any_request_signs(
        path in "\\PC{0,30}",
        query in "\\PC{0,30}",
        value in "\\PC{0,20}",
        body in proptest::collection::vec(any::<u8>(), 0..64),
        double in any::<bool>(),
        seconds in 0u64..4_102_444_800,
    ) {
        use crate::signing::{AwsKey, AwsRequest, AwsRules, aws_sigv4, canonical_request};
        let Ok(uri) = parse_http_url(&format!("https://h.example/{path}?{query}"), "url") else {
            return Ok(());
        };
        let value = value.replace(['\r', '\n', '\0'], "");
        let headers = [("x-amz-meta", value.as_str()), ("content-type", "a/b")];
        let request = AwsRequest {
            method: "POST",
            host: "h.example",
            path: uri.path(),
            query: uri.query().unwrap_or(""),
            headers: &headers,
            body: &body,
        };
        let key = AwsKey { access_key: "AK", secret_key: "sk", session_token: Some("t"), region: "r", service: "s" };
        let rules = AwsRules { normalize_path: double, double_encode: double, content_sha256_header: true };
        let signed = aws_sigv4(&request, &key, UNIX_EPOCH + Duration::from_secs(seconds), rules);
        let signature = signed.authorization.rsplit("Signature=").next().unwrap_or_default();
        prop_assert!(signature.len() == 64 && signature.bytes().all(|b| b.is_ascii_hexdigit()));
        prop_assert!(HeaderValue::from_str(&signed.authorization).is_ok());
        prop_assert!(HeaderValue::from_str(&signed.amz_date).is_ok());
        let (canonical, _) = canonical_request(&request, &key, rules, &signed.amz_date, &signed.content_sha256);
        let path_line = canonical.lines().nth(1).unwrap_or_default();
        prop_assert!(path_line.is_ascii() && path_line.starts_with('/'));
    }
}
