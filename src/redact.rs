//! What the crate may print, in one place: the `log` target, secrets
//! replaced by `<redacted>`, control characters escaped (so a caller's id
//! cannot forge a log line), and URLs as a log line or `Debug` may show them.

use std::borrow::Cow;

use ureq::http::Uri;

/// The `log` target of every line the crate logs.
pub(crate) const LOG_TARGET: &str = "nexus_sdk";

/// What replaces a secret in text the crate prints.
pub(crate) const REDACTED: &str = "<redacted>";

/// `text` with every non-empty one of `secrets` replaced by `<redacted>`.
pub(crate) fn redact(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_owned();
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        if out.contains(secret) {
            out = out.replace(secret, REDACTED);
        }
    }
    out
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
