//! What every page of `serve` is made of: a plain page of this server's
//! own words, text escaped for HTML, its cookies set and read by one rule,
//! a form taken only from its own origin, and a random value for a form's
//! or a code's id. No step of a flow is here: the connect page, the
//! sign-in and the authorization server all read it.
//!
//! The cookies' rule (RFC 6265bis §4.1.3): every cookie `serve` sets binds
//! a flow to its browser (a sign-in under way, a consent form, the
//! consents remembered), so every one is `__Host-` (`Secure`, `Path=/`, no
//! `Domain`), `HttpOnly` and `SameSite=Lax`, and only a cookie of that
//! name is read: a page of a sibling host of the same site, or a
//! plain-http page on the network path, can set none of them, and one it
//! sets under another name is never read. (`Lax`, not `Strict`: the
//! issuer's answer reaches the callback as a top-level navigation from
//! another site.)

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::{SecureRandom, SystemRandom};

/// A plain page saying `text`: this server's own words, never a request's
/// (`'static`: no one else's text reaches the page unescaped).
pub(crate) fn page(status: StatusCode, text: &'static str) -> Response {
    let quoted = quotable(status);
    let html =
        format!("<!doctype html><meta charset=utf-8><title>nexus-mcp</title><p>{text}</p>{quoted}");
    (status, Html(html)).into_response()
}

/// A refusal page's last paragraph: the id a person quotes to whoever runs
/// this server, which finds the server's line and trace (nothing for a page
/// that refuses nothing).
fn quotable(status: StatusCode) -> String {
    let id = crate::telemetry::answering()
        .filter(|_| status.is_client_error() || status.is_server_error());
    id.map(|id| format!("<p>If you ask for help, quote this id: <code>{id}</code></p>"))
        .unwrap_or_default()
}

/// A plain page saying `text`, this server's own words, then `detail`, a
/// request's words, escaped.
pub(crate) fn page_detailed(status: StatusCode, text: &'static str, detail: &str) -> Response {
    let (detail, quoted) = (escaped(detail), quotable(status));
    let html = format!(
        "<!doctype html><meta charset=utf-8><title>nexus-mcp</title><p>{text}</p>\
         <p><code>{detail}</code></p>{quoted}"
    );
    (status, Html(html)).into_response()
}

/// A stranger's `text` (a client's name) as a page may show it: every
/// character that is not text a person reads (a control, a format
/// character such as a bidirectional override or a zero-width one, a line
/// or paragraph separator, a private-use, surrogate or unassigned one)
/// shown as U+FFFD, so that nothing reorders or hides what is shown.
/// Escape it after.
pub(crate) fn neutralised(text: &str) -> String {
    use unicode_general_category::{GeneralCategory as C, get_general_category};
    let readable = |c: char| {
        !matches!(
            get_general_category(c),
            C::Control
                | C::Format
                | C::LineSeparator
                | C::ParagraphSeparator
                | C::PrivateUse
                | C::Surrogate
                | C::Unassigned
        )
    };
    text.chars()
        .map(|c| if readable(c) { c } else { '\u{fffd}' })
        .collect()
}

/// `text` for an HTML page: `&`, `<`, `>`, `"` and `'` written as
/// references.
pub(crate) fn escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The prefix of every cookie `serve` sets and reads.
const HOST_ONLY: &str = "__Host-";

/// The `Set-Cookie` value that keeps `value` as the cookie `name` for
/// `life`, by the module's one rule.
pub(crate) fn set_cookie(name: &str, value: &str, life: Duration) -> HeaderValue {
    let cookie = format!(
        "{HOST_ONLY}{name}={value}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age={}",
        life.as_secs()
    );
    // A sealed value and a name of this server's are base64url and ASCII.
    HeaderValue::from_str(&cookie).unwrap_or(HeaderValue::from_static(""))
}

/// What a flow page says when a request carries two cookies of one name.
pub(crate) const TWO_COOKIES: &str =
    "This browser sent this page twice over. Close it, go back to the application and start again.";

/// The value of the cookie `name`, as [`set_cookie`] set it: a cookie of
/// that name without the prefix (which anyone on the site could plant) is
/// never read. A request carrying two of that name (which no browser holding
/// `__Host-` cookies sends) is `Err(`[`TWO_COOKIES`]`)`: neither is taken,
/// whichever came first.
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Result<Option<String>, &'static str> {
    let values = headers.get_all(header::COOKIE).iter();
    let pairs = values
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'));
    let mut found = pairs
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(n, _)| n.strip_prefix(HOST_ONLY) == Some(name));
    match (found.next(), found.next()) {
        (Some(_), Some(_)) => Err(TWO_COOKIES),
        (one, _) => Ok(one.map(|(_, value)| value.to_owned())),
    }
}

/// Whether a form was sent from a page of `origin` (this server's): its
/// `Origin` is it, or, without one, `Sec-Fetch-Site` says `same-origin`.
/// A form that says neither is refused: every browser sends one of them.
/// Else the origin it came from, for the log.
pub(crate) fn from_origin(headers: &HeaderMap, origin: &str) -> Result<(), String> {
    let said = |name| headers.get(name).and_then(|v| v.to_str().ok());
    match (said("origin"), said("sec-fetch-site")) {
        (Some(from), _) if from == origin => Ok(()),
        (Some(from), _) => Err(nexus_sdk::one_line(from)),
        (None, Some("same-origin")) => Ok(()),
        (None, Some(site)) => Err(format!("Sec-Fetch-Site {}", nexus_sdk::one_line(site))),
        (None, None) => Err("no Origin and no Sec-Fetch-Site".to_owned()),
    }
}

/// Whether the browser says the person started this request themselves,
/// so that a consent they gave before may stand for a click (Fetch
/// Metadata): a top-level navigation (`Sec-Fetch-Mode: navigate`,
/// `Sec-Fetch-Dest: document`) begun outside any site (`Sec-Fetch-Site:
/// none`: a link a native host opens in the system browser, an address
/// typed) or from this server's own page (`same-origin`). Any other site's
/// page (`cross-site`, `same-site`: a web host's too, whose person then
/// clicks once), a frame, an image, a script, and a request without Fetch
/// Metadata (or with a header given twice) are not: a forged request never
/// stands for a click.
pub(crate) fn started_by_the_person(headers: &HeaderMap) -> bool {
    let said = |name: &str, allowed: &[&str]| {
        let mut values = headers.get_all(name).iter();
        let one = values.next().and_then(|v| v.to_str().ok());
        values.next().is_none() && one.is_some_and(|one| allowed.contains(&one))
    };
    said("sec-fetch-site", &["none", "same-origin"])
        && said("sec-fetch-mode", &["navigate"])
        && said("sec-fetch-dest", &["document"])
}

/// 16 random bytes, base64url; none when the system has no randomness.
pub(crate) fn random() -> Option<String> {
    let mut bytes = [0u8; 16];
    SystemRandom::new().fill(&mut bytes).ok()?;
    Some(URL_SAFE_NO_PAD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    #[test]
    fn a_cookie_is_set_host_only_and_read_only_under_its_prefix() {
        let set = set_cookie("nexus_x", "v1", Duration::from_secs(60));
        assert_eq!(
            set.to_str().unwrap(),
            "__Host-nexus_x=v1; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=60"
        );
        let planted = headers(&[("cookie", "nexus_x=planted; other=1")]);
        assert_eq!(cookie(&planted, "nexus_x"), Ok(None));
        let both = headers(&[
            ("cookie", "nexus_x=planted"),
            ("cookie", "__Host-nexus_x=v1"),
        ]);
        assert_eq!(cookie(&both, "nexus_x"), Ok(Some("v1".to_owned())));
        let secure = headers(&[("cookie", "__Secure-nexus_x=planted")]);
        assert_eq!(cookie(&secure, "nexus_x"), Ok(None));
    }

    #[test]
    fn two_cookies_of_one_name_are_neither_taken() {
        for twice in [
            headers(&[("cookie", "__Host-nexus_x=a; __Host-nexus_x=b")]),
            headers(&[
                ("cookie", "__Host-nexus_x=a"),
                ("cookie", "__Host-nexus_x=a"),
            ]),
            headers(&[("cookie", "__Host-nexus_x=; other=1; __Host-nexus_x=b")]),
        ] {
            assert_eq!(cookie(&twice, "nexus_x"), Err(TWO_COOKIES), "{twice:?}");
        }
    }

    #[test]
    fn a_strangers_text_is_shown_with_nothing_that_reorders_or_hides_it() {
        for hidden in [
            '\u{202e}',
            '\u{202a}',
            '\u{2066}',
            '\u{2069}',
            '\u{200b}',
            '\u{200f}',
            '\u{feff}',
            '\u{00ad}',
            '\u{0007}',
            '\u{001b}',
            '\u{0085}',
            '\u{2028}',
            '\u{2029}',
            '\u{e000}',
            '\u{e0041}',
            '\u{0378}',
        ] {
            let shown = neutralised(&format!("Good{hidden}App"));
            assert_eq!(shown, "Good\u{fffd}App", "U+{:04X}", hidden as u32);
        }
        let readable = "Claude · Café 東京 العربية — ok";
        assert_eq!(neutralised(readable), readable);
    }

    #[test]
    fn a_form_is_taken_from_this_origin_alone() {
        let origin = "https://mcp.example.com";
        let own = headers(&[("origin", origin), ("sec-fetch-site", "cross-site")]);
        assert_eq!(from_origin(&own, origin), Ok(()));
        let fetched = headers(&[("sec-fetch-site", "same-origin")]);
        assert_eq!(from_origin(&fetched, origin), Ok(()));
        for refused in [
            headers(&[("origin", "https://sibling.example.com")]),
            headers(&[("origin", "null")]),
            headers(&[("origin", "http://mcp.example.com")]),
            headers(&[("origin", "https://mcp.example.com:8443")]),
            headers(&[
                ("origin", "https://sibling.example.com"),
                ("sec-fetch-site", "same-origin"),
            ]),
            headers(&[("sec-fetch-site", "same-site")]),
            headers(&[]),
        ] {
            assert!(from_origin(&refused, origin).is_err(), "{refused:?}");
        }
    }

    #[test]
    fn only_a_navigation_the_person_started_stands_for_a_click() {
        let nav = |site: &'static str| {
            let mut h = headers(&[
                ("sec-fetch-mode", "navigate"),
                ("sec-fetch-dest", "document"),
            ]);
            h.append("sec-fetch-site", HeaderValue::from_static(site));
            h
        };
        assert!(started_by_the_person(&nav("none")));
        assert!(started_by_the_person(&nav("same-origin")));
        for site in ["cross-site", "same-site", "None", ""] {
            assert!(!started_by_the_person(&nav(site)), "{site}");
        }
        let mut twice = nav("none");
        twice.append("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(!started_by_the_person(&twice));
        for (mode, dest) in [
            ("navigate", "iframe"),
            ("no-cors", "image"),
            ("cors", "empty"),
        ] {
            let h = headers(&[
                ("sec-fetch-site", "none"),
                ("sec-fetch-mode", mode),
                ("sec-fetch-dest", dest),
            ]);
            assert!(!started_by_the_person(&h), "{mode} {dest}");
        }
        assert!(!started_by_the_person(&HeaderMap::new()));
    }
}
