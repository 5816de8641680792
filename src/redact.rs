//! What the crate may print, in one place: the `log` target, a server's
//! text quoted on one line, secrets replaced by `<redacted>` (a text that
//! echoes one in another form withheld: [`crate::echo`]), every character
//! a person cannot see escaped (so a caller's id cannot forge a log line),
//! and URLs as a log line or `Debug` may show them.

use std::borrow::Cow;

use ureq::http::Uri;

use crate::echo::echoes;

/// The `log` target of the lines the crate logs, but two.
pub(crate) const LOG_TARGET: &str = "nexus_sdk";

/// The target of the warning that the Gateway handed out an expired token,
/// which a program that says so itself filters out.
pub(crate) const TOKEN_TARGET: &str = "nexus_sdk::token";

/// The target of the warning that a token expires within the cache's
/// buffer; it names the setting once (`TokenCache::with_buffer`), for a
/// program to swap with its own.
pub(crate) const BUFFER_TARGET: &str = "nexus_sdk::buffer";

/// What replaces a secret in text the crate prints.
pub(crate) const REDACTED: &str = "<redacted>";

/// What replaces a whole text that echoed a secret in an encoded form.
pub(crate) const WITHHELD: &str = "<withheld: the text echoed a credential>";

/// The most of a server's text a message or log record quotes, in bytes.
pub(crate) const MAX_QUOTED: usize = 512;

/// A server's `text` (the Gateway's, a Broker's, a provider's) as every
/// package of this workspace shows it, in a message, a log record, `Debug`
/// or a program's output: on one line, every character a person cannot see
/// escaped (`\n`, `\u{202e}`, …): the Unicode classes Cc, Cf, Zl and Zp,
/// and Default_Ignorable_Code_Point. So it can neither forge a line, nor
/// drive a terminal, nor reorder what a person reads, nor carry words a
/// person cannot see (variation selectors, tag characters, zero-width and
/// other invisible characters). The price, by decision: an emoji's U+FE0F
/// and the joiner of a ZWJ sequence show escaped too. Shown, never obeyed:
/// this is the one home of that rule. It only escapes; to show at most so
/// many bytes, [`one_line_within`] cuts without splitting an escape.
///
/// ```
/// let said = "ok\nERROR forged line \u{202E}txt.exe\u{E0041}\u{200B}";
/// assert_eq!(
///     nexus_sdk::one_line(said),
///     "ok\\nERROR forged line \\u{202e}txt.exe\\u{e0041}\\u{200b}"
/// );
/// assert_eq!(nexus_sdk::one_line(&"x".repeat(600)).len(), 600);
/// ```
pub fn one_line(text: &str) -> String {
    escape(text).into_owned()
}

/// [`one_line`] of `text`, at most `max` bytes of it: it stops before the
/// first character whose escape would not fit, so it never ends inside a
/// character or an escape. Whether anything was left out, and how to say
/// so (`…`), is the caller's: compare with `one_line(text)`.
///
/// ```
/// let text = format!("{}\u{202E}tail", "a".repeat(505));
/// let shown = nexus_sdk::one_line_within(&text, 512);
/// assert_eq!(shown, "a".repeat(505), "the escape of U+202E would not fit whole");
/// assert_eq!(nexus_sdk::one_line_within("é", 1), "");
/// ```
pub fn one_line_within(text: &str, max: usize) -> String {
    escape_within(text, max).into_owned()
}

/// A server's `text` as the crate quotes it in its own messages and log
/// records: [`one_line_within`] 512 bytes.
pub(crate) fn quote(text: &str) -> String {
    escape_within(text, MAX_QUOTED).into_owned()
}

/// `text` with every non-empty one of `secrets` replaced by `<redacted>`;
/// withheld whole when a secret is still in it in another form a server
/// may echo (see [`echoes`]).
pub(crate) fn redact(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_owned();
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        out = out.replace(secret, REDACTED);
    }
    match echoes(out.as_bytes(), secrets, None) {
        Some(false) => out,
        _ => WITHHELD.to_owned(),
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
    without_userinfo(url.split(['?', '#']).next().unwrap_or(""))
}

/// `text` with the userinfo of every URL in it (what comes before an `@`
/// in an authority) replaced by `<redacted>`.
pub(crate) fn without_userinfo(text: &str) -> String {
    let (mut out, mut rest) = (String::new(), text);
    while let Some(at) = rest.find("://") {
        let (before, authority) = rest.split_at(at + 3);
        out.push_str(before);
        let end = authority
            .find(['/', '?', '#', ' '])
            .unwrap_or(authority.len());
        let user = authority[..end].rfind('@');
        out.push_str(user.map_or("", |_| REDACTED));
        rest = &authority[user.unwrap_or(0)..];
    }
    out + rest
}

/// The characters of general category Cf, Zl or Zp, or
/// Default_Ignorable_Code_Point, as ranges (first and last code point):
/// with the controls (Cc), what [`one_line`] escapes.
// Generated by scripts/unicode-invisible from DerivedCoreProperties-15.0.0.txt (Unicode 15.0,
// Debian's unicode-data), as (first, last) pairs.
#[rustfmt::skip]
const INVISIBLE: [(u32, u32); 25] = [
    (0x00AD, 0x00AD), (0x034F, 0x034F), (0x0600, 0x0605), (0x061C, 0x061C), (0x06DD, 0x06DD),
    (0x070F, 0x070F), (0x0890, 0x0891), (0x08E2, 0x08E2), (0x115F, 0x1160), (0x17B4, 0x17B5),
    (0x180B, 0x180F), (0x200B, 0x200F), (0x2028, 0x202E), (0x2060, 0x206F), (0x3164, 0x3164),
    (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF), (0xFFA0, 0xFFA0), (0xFFF0, 0xFFFB), (0x110BD, 0x110BD),
    (0x110CD, 0x110CD), (0x13430, 0x1343F), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
];

/// Whether `c` is one a person cannot see, or that breaks a line or
/// reorders what a person reads: a control (Cc), or in [`INVISIBLE`].
fn is_unsafe(c: char) -> bool {
    let code = u32::from(c);
    c.is_control()
        || INVISIBLE
            .iter()
            .any(|(first, last)| (first..=last).contains(&&code))
}

/// `s` with every character [`one_line`] escapes escaped, at most `max`
/// bytes of it (see [`one_line_within`]).
fn escape_within(s: &str, max: usize) -> Cow<'_, str> {
    if s.len() <= max && !s.chars().any(is_unsafe) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len().min(max));
    for c in s.chars() {
        let before = out.len();
        if is_unsafe(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
        if out.len() > max {
            out.truncate(before);
            break;
        }
    }
    Cow::Owned(out)
}

/// `s` with every character [`one_line`] escapes escaped, so that a
/// caller's id or a server's text cannot forge or reorder a log line; not
/// cut.
pub(crate) fn escape(s: &str) -> Cow<'_, str> {
    escape_within(s, usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(s: &str) -> Uri {
        s.parse().unwrap()
    }

    #[test]
    #[cfg(feature = "echo")]
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

    #[test]
    fn every_character_a_person_cannot_see_is_escaped_by_its_class() {
        let hidden = [
            '\u{FE00}',
            '\u{FE0F}',
            '\u{E0100}',
            '\u{E01EF}',
            '\u{200B}',
            '\u{FEFF}',
            '\u{2061}',
            '\u{2064}',
            '\u{206A}',
            '\u{206F}',
            '\u{FFF9}',
            '\u{FFFB}',
            '\u{180E}',
            '\u{AD}',
            '\u{200D}',
            '\u{2028}',
            '\u{202E}',
            '\u{E0041}',
            '\u{85}',
            '\u{1B}',
        ];
        for c in hidden {
            let shown = one_line(&format!("a{c}b"));
            assert_eq!(
                shown,
                format!("a{}b", c.escape_default()),
                "U+{:04X}",
                u32::from(c)
            );
        }
        for seen in ['é', '中', ' ', '\u{A0}', '😀', '\u{2764}', '\u{1F468}'] {
            assert_eq!(
                one_line(&seen.to_string()),
                seen.to_string(),
                "{seen:?} stays"
            );
        }
        // By decision: an emoji's presentation selector and a ZWJ sequence's joiner show.
        assert_eq!(one_line("\u{2764}\u{FE0F}"), "\u{2764}\\u{fe0f}");
    }

    #[test]
    fn a_cut_never_splits_a_character_or_an_escape() {
        let text = format!("{}\u{202E}tail", "a".repeat(505));
        assert_eq!(quote(&text), "a".repeat(505));
        for max in 0..40 {
            let text = "ab\u{202E}é\ncd\u{E0041}xyz";
            let shown = one_line_within(text, max);
            assert!(shown.len() <= max, "{max}: {shown}");
            let whole = (0..=text.chars().count())
                .map(|k| one_line(&text.chars().take(k).collect::<String>()))
                .take_while(|e| e.len() <= max)
                .last();
            assert_eq!(Some(shown), whole, "the longest whole escape within {max}");
        }
        assert!(matches!(escape_within("plain", 5), Cow::Borrowed(_)));
    }
}
