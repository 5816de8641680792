//! What the crate may print, in one place: the `log` target, secrets
//! replaced by `<redacted>`, control characters escaped (so a caller's id
//! cannot forge a log line), and URLs as a log line or `Debug` may show them.

use std::borrow::Cow;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD as BASE64, URL_SAFE as BASE64_URL};
use percent_encoding::percent_decode_str;
use ureq::http::Uri;

/// The `log` target of every line the crate logs.
pub(crate) const LOG_TARGET: &str = "nexus_sdk";

/// What replaces a secret in text the crate prints.
pub(crate) const REDACTED: &str = "<redacted>";

/// What replaces a whole text that echoed a secret in an encoded form.
pub(crate) const WITHHELD: &str = "<withheld: the text echoed a credential>";

/// `text` with every non-empty one of `secrets` replaced by `<redacted>`;
/// withheld whole when a secret is still in it in another form a server
/// may echo (see [`echoes`]).
pub(crate) fn redact(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_owned();
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        if out.contains(secret) {
            out = out.replace(secret, REDACTED);
        }
    }
    if echoes(&out, secrets) {
        WITHHELD.to_owned()
    } else {
        out
    }
}

/// Whether `text` holds one of the non-empty `secrets` in any form a server
/// may echo it: as it is, percent- or form-encoded (either case of hex, up
/// to three times over), JSON-escaped (`\/`, `\uXXXX`), base64, or a mix.
pub(crate) fn echoes(text: &str, secrets: &[&str]) -> bool {
    let secrets: Vec<&str> = secrets.iter().copied().filter(|s| !s.is_empty()).collect();
    if secrets.is_empty() {
        return false;
    }
    let found = |view: &str| secrets.iter().any(|secret| view.contains(secret));
    let decode = |view: &str| percent_decode_str(view).decode_utf8_lossy().into_owned();
    for start in [text.to_owned(), json_unescape(text)] {
        let mut view = start;
        for _ in 0..4 {
            if found(&view) || (view.contains('+') && found(&decode(&view.replace('+', " ")))) {
                return true;
            }
            if !view.contains('%') {
                break;
            }
            view = decode(&view);
        }
    }
    secrets.iter().any(|secret| {
        [BASE64.encode(secret), BASE64_URL.encode(secret)]
            .iter()
            .any(|encoded| text.contains(encoded.trim_end_matches('=')))
    })
}

/// `s` with JSON string escapes decoded (`\"`, `\/`, `\n`, `\uXXXX` and
/// surrogate pairs); anything else kept as it is.
fn json_unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('\\') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let (decoded, used) = json_escape_at(rest);
        out.push_str(&decoded);
        rest = &rest[used..];
    }
    out.push_str(rest);
    out
}

/// The escape at the start of `s` (which starts with `\`): its text and
/// how many bytes it took; a backslash alone when it is not an escape.
fn json_escape_at(s: &str) -> (String, usize) {
    let hex = |from: usize| {
        s.get(from..from + 4)
            .and_then(|h| u32::from_str_radix(h, 16).ok())
    };
    let simple = match s.as_bytes().get(1) {
        Some(b'"') => Some('"'),
        Some(b'\\') => Some('\\'),
        Some(b'/') => Some('/'),
        Some(b'n') => Some('\n'),
        Some(b't') => Some('\t'),
        Some(b'r') => Some('\r'),
        _ => None,
    };
    if let Some(c) = simple {
        return (c.to_string(), 2);
    }
    match (s.as_bytes().get(1), hex(2)) {
        (Some(b'u'), Some(high @ 0xD800..=0xDBFF)) if s.get(6..8) == Some("\\u") => {
            let low = hex(8).filter(|l| (0xDC00..=0xDFFF).contains(l));
            let joined =
                low.and_then(|l| char::from_u32(0x10000 + ((high - 0xD800) << 10) + (l - 0xDC00)));
            joined.map_or(("\\".to_owned(), 1), |c| (c.to_string(), 12))
        }
        (Some(b'u'), Some(code)) => {
            char::from_u32(code).map_or(("\\".to_owned(), 1), |c| (c.to_string(), 6))
        }
        _ => ("\\".to_owned(), 1),
    }
}

/// A URL as a log line may show it: scheme, host, port and path, without
/// userinfo, query or fragment, control characters escaped.
pub(crate) fn for_log(uri: &Uri) -> String {
    let host = uri.host().unwrap_or("");
    let port = uri.port().map(|p| format!(":{p}")).unwrap_or_default();
    let scheme = uri.scheme_str().unwrap_or("");
    escape(&format!("{scheme}://{host}{port}{}", uri.path())).into_owned()
}

/// A URL as `Debug` may show it: any userinfo replaced by `<redacted>`, no
/// query or fragment.
pub(crate) fn url_for_debug(url: &str) -> String {
    let url = url.split(['?', '#']).next().unwrap_or("");
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rsplit_once('@') {
        Some((_, host)) => format!("{scheme}://{REDACTED}@{host}{}", &rest[authority_end..]),
        None => url.to_owned(),
    }
}

/// `s` with control characters (CR, LF, ESC, …) escaped, so that a caller's
/// id cannot forge a log line.
pub(crate) fn escape(s: &str) -> Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.chars()
            .map(|c| {
                if c.is_control() {
                    c.escape_default().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(s: &str) -> Uri {
        s.parse().unwrap()
    }

    #[test]
    fn a_secret_is_redacted_or_withheld_in_every_form_it_can_come_back_in() {
        let secret = "nx/k+y=1é";
        assert_eq!(
            redact("key nx/k+y=1é here", &[secret]),
            "key <redacted> here"
        );
        for echoed in [
            "cannot serve GET /v1?key=nx%2Fk%2By%3D1%C3%A9",
            "lower hex: nx%2fk%2by%3d1%c3%a9",
            "form: nx%2Fk+y%3D1%C3%A9 wait no: nx%2Fk%2By%3D1%C3%A9",
            r#"{"error":"nx\/k+y=1\u00e9"}"#,
            r#"{"error":"\u006e\u0078\/k+y=1\u00E9"}"#,
            r#"{"error":"nx\u002Fk%2By%3D1\u00e9"}"#,
            "base64: bngvayt5PTHDqQ",
            "url-safe base64: bngvayt5PTHDqQ==",
            "twice: nx%252Fk%252By%253D1%25C3%25A9",
            "thrice: nx%25252Fk%25252By%25253D1%2525C3%2525A9",
            "in a return_to: /login?return_to=https%3A%2F%2Fa%2F%3Fkey%3Dnx%252Fk%252By%253D1%25C3%25A9",
        ] {
            assert_eq!(redact(echoed, &[secret]), WITHHELD, "{echoed}");
        }
        let clean = r#"{"error":"not_found","message":"no such provider \"x\""}"#;
        assert_eq!(
            redact(clean, &[secret]),
            clean,
            "what holds no secret is quoted as it is"
        );
    }

    #[test]
    fn json_escapes_decode_and_broken_ones_stay() {
        assert_eq!(
            json_unescape(r#"a\/b\"c\u00e9\ud83d\ude00\n"#),
            "a/b\"cé😀\n"
        );
        assert_eq!(json_unescape(r"\u12 \x \ud800"), r"\u12 \x \ud800");
    }

    #[test]
    fn log_forms() {
        let u = uri("http://127.0.0.1:8080/a/b?token=secret");
        assert_eq!(for_log(&u), "http://127.0.0.1:8080/a/b");
        assert_eq!(url_for_debug("http://a/b@c?key=1"), "http://a/b@c");
        assert_eq!(
            url_for_debug("https://u:p@h:1/x#f"),
            "https://<redacted>@h:1/x"
        );
        assert_eq!(escape("ws\r\nINFO fake"), "ws\\r\\nINFO fake");
        assert!(matches!(escape("plain"), Cow::Borrowed(_)));
    }

    #[test]
    fn every_secret_is_redacted_and_empty_ones_ignored() {
        assert_eq!(
            redact("k=abc; k=abc", &["abc", ""]),
            "k=<redacted>; k=<redacted>"
        );
        assert_eq!(redact("nothing", &[""]), "nothing");
    }
}
