//! What the crate may print, in one place: the `log` target, a server's
//! text quoted on one line, secrets replaced by `<redacted>` and every form
//! of a secret an answer may echo found, control characters escaped (so a
//! caller's id cannot forge a log line), and URLs as a log line or `Debug`
//! may show them.

use std::borrow::Cow;
use std::time::Instant;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD as BASE64;
use ureq::http::Uri;

/// The `log` target of every line the crate logs.
pub(crate) const LOG_TARGET: &str = "nexus_sdk";

/// What replaces a secret in text the crate prints.
pub(crate) const REDACTED: &str = "<redacted>";

/// What replaces a whole text that echoed a secret in an encoded form.
pub(crate) const WITHHELD: &str = "<withheld: the text echoed a credential>";

/// The most of a server's text a message or log record quotes, in bytes.
pub(crate) const MAX_QUOTED: usize = 512;

/// How many times over an echo's escapes are decoded (percent-encoding in
/// a JSON string in a URL's query…).
const MAX_NESTING: usize = 3;

/// The shortest base64 run that marks a secret: shorter ones match text by
/// chance.
const MIN_BASE64: usize = 4;

/// HTML's named entities for the characters a token or an encoding of it
/// may hold (HTML5 names them all; Go's `html/template` and others use
/// them), with their characters in [`ENTITY_CHARS`].
const ENTITY_NAMES: [&str; 26] = [
    "amp", "lt", "gt", "quot", "apos", "plus", "sol", "equals", "colon", "comma", "period",
    "lowbar", "num", "dollar", "percnt", "excl", "quest", "semi", "ast", "commat", "bsol",
    "verbar", "lpar", "rpar", "lsqb", "rsqb",
];
/// The character of each of [`ENTITY_NAMES`], in its order.
const ENTITY_CHARS: &[u8; 26] = b"&<>\"'+/=:,._#$%!?;*@\\|()[]";

/// A server's `text` (the Gateway's, a Broker's, a provider's) as every
/// package of this workspace shows it, in a message, a log record, `Debug`
/// or a program's output: on one line, every character that could break a
/// line, reorder what a person reads or hide from them what a model reads
/// escaped (C0 and C1 controls, U+2028, U+2029, the bidi controls U+061C,
/// U+200E, U+200F, U+202A–U+202E, U+2066–U+2069, and the tag characters
/// U+E0000–U+E007F, each as `\u{…}` or `\n`-style), so it can neither forge
/// a line, nor drive a terminal, nor carry words a person cannot see.
/// Shown, never obeyed: this is the one home of that rule. It only escapes:
/// how much of a text to show is the caller's choice (the crate's own
/// messages quote at most 512 bytes of a server's words).
///
/// ```
/// let said = "ok\nERROR forged line \u{202E}txt.exe\u{E0041}";
/// assert_eq!(nexus_sdk::one_line(said), "ok\\nERROR forged line \\u{202e}txt.exe\\u{e0041}");
/// assert_eq!(nexus_sdk::one_line(&"x".repeat(600)).len(), 600);
/// ```
pub fn one_line(text: &str) -> String {
    escape(text).into_owned()
}

/// A server's `text` as the crate quotes it in its own messages and log
/// records: [`one_line`], cut to 512 bytes on a character boundary.
pub(crate) fn quote(text: &str) -> String {
    let mut escaped = escape(text).into_owned();
    let mut end = escaped.len().min(MAX_QUOTED);
    while !escaped.is_char_boundary(end) {
        end -= 1;
    }
    escaped.truncate(end);
    escaped
}

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
    match echoes(out.as_bytes(), secrets, None) {
        Some(false) => out,
        _ => WITHHELD.to_owned(),
    }
}

/// Whether `text` holds one of the non-empty `secrets` in any form a
/// server may echo it: as it is, or cut by line breaks; percent- or
/// form-encoded, JSON-escaped or HTML-escaped (numeric and named
/// entities), once or nested up to three times in any mix; or base64 in
/// either alphabet, alone or at any offset inside a longer base64 text, of
/// the secret or of its form-encoding (a request URL or head echoed as
/// base64), however it is split: base64 is looked for in the view a lenient
/// decoder of its alphabet (and a model) reads, every character outside
/// that alphabet dropped, so line breaks, indentation, quoting prefixes,
/// other blanks and the other alphabet's two characters hide nothing. Three
/// passes over each view of the text (the text itself, then its escapes
/// decoded, as often as it holds any): one for the secret as it is, one
/// for its base64 in each alphabet. `None` when `deadline` passes first.
pub(crate) fn echoes<S: AsRef<str>>(
    text: &[u8],
    secrets: &[S],
    deadline: Option<Instant>,
) -> Option<bool> {
    let (plain, [standard, url_safe]) = Needles::of(secrets);
    let mut view = Cow::Borrowed(text);
    for _ in 0..=MAX_NESTING {
        if plain.found_in(&unwrapped(&view), deadline)?
            || standard.found_in(&as_base64(&view, b"+/"), deadline)?
            || url_safe.found_in(&as_base64(&view, b"-_"), deadline)?
        {
            return Some(true);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return None;
        }
        match unescaped(&view) {
            Some(next) => view = Cow::Owned(next),
            None => break,
        }
    }
    Some(false)
}

/// `view` without its line breaks (CR and LF): a secret cut by a line
/// break counts as echoed.
fn unwrapped(view: &[u8]) -> Cow<'_, [u8]> {
    let is_break = |b: &u8| matches!(b, b'\r' | b'\n');
    if !view.iter().any(is_break) {
        return Cow::Borrowed(view);
    }
    Cow::Owned(view.iter().copied().filter(|b| !is_break(b)).collect())
}

/// `view` as a lenient decoder of one base64 alphabet reads it: only
/// `A`–`Z`, `a`–`z`, `0`–`9` and the alphabet's own two characters (`+/`
/// or `-_`), every other byte (line breaks, blanks, `>` quoting, `=`
/// padding, the other alphabet's two…) dropped.
fn as_base64(view: &[u8], own: &[u8; 2]) -> Vec<u8> {
    let alphabet = |b: &u8| b.is_ascii_alphanumeric() || own.contains(b);
    view.iter().copied().filter(alphabet).collect()
}

/// What [`echoes`] looks for in one view, found in one pass: a bitmap of
/// the needles' first two bytes picks the places worth comparing.
struct Needles {
    list: Vec<Vec<u8>>,
    starts: Vec<u64>,
}

impl Needles {
    /// What to look for: each secret as it is (a space also as `+`, as a
    /// form writes it), without line breaks as its view is; and its base64
    /// at each offset, in the standard alphabet and in the URL-safe one.
    fn of<S: AsRef<str>>(secrets: &[S]) -> (Needles, [Needles; 2]) {
        let (mut plain, mut standard, mut url_safe) = (Vec::new(), Vec::new(), Vec::new());
        for secret in secrets.iter().map(AsRef::as_ref).filter(|s| !s.is_empty()) {
            plain.push(unwrapped(secret.as_bytes()).into_owned());
            plain.push(unwrapped(secret.replace(' ', "+").as_bytes()).into_owned());
            for core in base64_cores(secret.as_bytes()) {
                url_safe.push(core.replace('+', "-").replace('/', "_").into_bytes());
                standard.push(core.into_bytes());
            }
        }
        let base64 = [Needles::new(standard), Needles::new(url_safe)];
        (Needles::new(plain), base64)
    }

    fn new(mut list: Vec<Vec<u8>>) -> Needles {
        list.retain(|needle| !needle.is_empty());
        list.sort();
        list.dedup();
        let mut starts = vec![0; 1024];
        for needle in &list {
            let at = usize::from(needle[0]) << 8 | usize::from(*needle.get(1).unwrap_or(&0));
            starts[at / 64] |= 1 << (at % 64);
        }
        Needles { list, starts }
    }

    /// Whether `view` holds a needle; `None` when `deadline` passes first
    /// (checked before the first byte and every 4 KiB after).
    fn found_in(&self, view: &[u8], deadline: Option<Instant>) -> Option<bool> {
        if self.list.is_empty() {
            return Some(false);
        }
        let short = self.list.iter().filter(|n| n.len() == 1);
        if short.clone().any(|n| view.contains(&n[0])) {
            return Some(true);
        }
        for (i, pair) in view.windows(2).enumerate() {
            if i % 4096 == 0 && deadline.is_some_and(|d| Instant::now() >= d) {
                return None;
            }
            let at = usize::from(pair[0]) << 8 | usize::from(pair[1]);
            if self.starts[at / 64] & (1 << (at % 64)) != 0
                && self.list.iter().any(|n| view[i..].starts_with(n))
            {
                return Some(true);
            }
        }
        Some(false)
    }
}

/// `secret`'s standard base64 at each of the three offsets it may have
/// inside a longer base64 text: the characters its bytes alone decide
/// (none shorter than [`MIN_BASE64`]).
fn base64_cores(secret: &[u8]) -> impl Iterator<Item = String> + '_ {
    (0..3).flat_map(move |offset| {
        let mut bytes = vec![0; offset];
        bytes.extend_from_slice(secret);
        let encoded = BASE64.encode(&bytes);
        // A base64 character depends on the secret alone when every bit it
        // encodes is the secret's: skip the characters that hold bits of
        // the `offset` bytes in front (0, 2 or 3), and stop after the last
        // whole group plus one character per byte left over (its other bits
        // belong to whatever follows the secret).
        let start = [0, 2, 3][offset];
        let end = bytes.len() / 3 * 4 + bytes.len() % 3;
        let core = encoded.get(start..end).unwrap_or_default();
        (core.len() >= MIN_BASE64).then(|| core.to_owned())
    })
}

/// `text` with every escape a server may write decoded, in one pass:
/// `%XX`, JSON's `\"` `\\` `\/` `\b` `\f` `\n` `\r` `\t` and `\uXXXX`
/// (surrogate pairs joined), and HTML's `&#NN;`, `&#xHH;` and named
/// entities; `None` when it holds none.
fn unescaped(text: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len());
    let (mut i, mut changed) = (0, false);
    while i < text.len() {
        let rest = &text[i..];
        let used = match rest[0] {
            b'%' => hex_at(rest, 1, 2).map_or(0, |byte| {
                out.extend(u8::try_from(byte));
                3
            }),
            b'\\' => json_escape(rest, &mut out),
            b'&' => entity(rest, &mut out),
            _ => 0,
        };
        if used == 0 {
            out.push(rest[0]);
        }
        changed |= used > 0;
        i += used.max(1);
    }
    changed.then_some(out)
}

/// The `len` hex digits of `s` at `at`, as a number.
fn hex_at(s: &[u8], at: usize, len: usize) -> Option<u32> {
    let digits = s
        .get(at..at + len)
        .filter(|d| d.iter().all(u8::is_ascii_hexdigit))?;
    u32::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()
}

/// Pushes the character `code` as UTF-8 and says it `used` that many
/// bytes; 0 (nothing pushed) when `code` is no character.
fn push(out: &mut Vec<u8>, code: u32, used: usize) -> usize {
    let Some(c) = char::from_u32(code) else {
        return 0;
    };
    out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
    used
}

/// The JSON escape at the start of `s`, decoded into `out`: how many bytes
/// it took (0 when it is none).
fn json_escape(s: &[u8], out: &mut Vec<u8>) -> usize {
    // Each escape's letter, then the byte it stands for.
    let simple = b"\"\"\\\\//b\x08f\x0cn\nr\rt\t".chunks(2);
    if let Some(pair) = simple.clone().find(|pair| s.get(1) == Some(&pair[0])) {
        out.push(pair[1]);
        return 2;
    }
    let Some(unit) = hex_at(s, 2, 4).filter(|_| s[1] == b'u') else {
        return 0;
    };
    let low =
        hex_at(s, 8, 4).filter(|l| s.get(6..8) == Some(b"\\u") && (0xDC00..=0xDFFF).contains(l));
    match (unit, low) {
        (0xD800..=0xDBFF, Some(low)) => {
            push(out, 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00), 12)
        }
        _ => push(out, unit, 6),
    }
}

/// The HTML entity at the start of `s`, decoded into `out`: how many bytes
/// it took (0 when it is none). The `;` of a numeric one may be missing.
fn entity(s: &[u8], out: &mut Vec<u8>) -> usize {
    let digits = |from: usize, radix: u32| {
        let run = s[from..]
            .iter()
            .take_while(|b| char::from(**b).is_digit(radix));
        let end = from + run.count().min(8);
        let code = u32::from_str_radix(std::str::from_utf8(&s[from..end]).ok()?, radix).ok()?;
        Some((code, end + usize::from(s.get(end) == Some(&b';'))))
    };
    let numeric = match (s.get(1), s.get(2)) {
        (Some(b'#'), Some(b'x' | b'X')) => digits(3, 16),
        (Some(b'#'), _) => digits(2, 10),
        _ => None,
    };
    if let Some((code, used)) = numeric {
        return push(out, code, used);
    }
    let named = ENTITY_NAMES.iter().zip(ENTITY_CHARS).find(|(name, _)| {
        s[1..].starts_with(name.as_bytes()) && s.get(1 + name.len()) == Some(&b';')
    });
    named.map_or(0, |(name, c)| {
        out.push(*c);
        name.len() + 2
    })
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

/// Whether `c` can break a line, reorder what a person reads or carry
/// what a person cannot see: a C0 or C1 control (U+0085 among them), a
/// line or paragraph separator, a bidi control, or a tag character.
fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{061C}' | '\u{200E}' | '\u{200F}'
        )
        || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
        || matches!(c, '\u{E0000}'..='\u{E007F}')
}

/// `s` with every character [`one_line`] escapes escaped (CR, LF, ESC,
/// U+2028, bidi controls, …), so that a caller's id or a server's text
/// cannot forge or reorder a log line; not cut.
pub(crate) fn escape(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_unsafe(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_holding_a_line_break_is_found_as_it_is_and_wrapped() {
        for secret in ["pass\nword", "pass\r\nword", "\npassword\r"] {
            for echoed in [secret, "pass\r\nwo\nrd", "password"] {
                let body = format!("{{\"echo\": \"{echoed}\"}} and more");
                let found = echoes(body.as_bytes(), &[secret], None);
                assert_eq!(found, Some(true), "{secret:?} in {body:?}");
            }
        }
        assert_eq!(echoes(b"pass word", &["pass\nword"], None), Some(false));
        assert_eq!(
            echoes(b"a\nb", &["\r\n"], None),
            Some(false),
            "nothing left to find"
        );
    }

    #[test]
    fn base64_split_by_anything_a_lenient_decoder_skips_is_an_echo() {
        use base64::engine::general_purpose::{STANDARD, URL_SAFE};
        let secret = "ghp_Qx7s9mLk2Vb8Rt4Zp1Nc6Wy3Hd5Fj0Ae";
        let texts = [
            format!("token={secret}&scope=repo"),
            format!("Bearer {secret}"),
        ];
        for text in &texts {
            for encoded in [STANDARD.encode(text), URL_SAFE.encode(text)] {
                let split = |sep: &str, every: usize| -> String {
                    let chars: Vec<char> = encoded.chars().collect();
                    let parts: Vec<String> =
                        chars.chunks(every).map(|c| c.iter().collect()).collect();
                    parts.join(sep)
                };
                for (sep, every) in [
                    ("\n    ", 20),
                    ("\r\n\t", 7),
                    ("\n> ", 16),
                    ("\n>> ", 5),
                    (" ", 3),
                    ("\u{a0}", 11),
                    ("\",\n  \"", 9),
                    ("=", 13),
                    (" | ", 4),
                ] {
                    let body = format!("{{\"echo\": \"{}\"}}", split(sep, every));
                    let found = echoes(body.as_bytes(), &[secret], None);
                    assert_eq!(found, Some(true), "split by {sep:?} every {every}: {body}");
                }
            }
        }
        // Text that only shares letters with the secret is not an echo.
        let other = STANDARD.encode("token=ghp_another_value_altogether&scope=repo");
        let body = format!("{other}\n{}", "plain words, nothing encoded ".repeat(50));
        assert_eq!(echoes(body.as_bytes(), &[secret], None), Some(false));
    }

    #[test]
    fn a_passed_deadline_ends_the_scan_before_it_reads() {
        let body = "\\u0025\\/%2525+".repeat(1 << 16);
        let passed = Instant::now() - std::time::Duration::from_secs(1);
        assert_eq!(
            echoes(body.as_bytes(), &["never-in-it"], Some(passed)),
            None,
            "a deadline already passed is seen before the first byte"
        );
        assert_eq!(echoes(body.as_bytes(), &["never-in-it"], None), Some(false));
    }

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

    fn decoded(text: &str) -> String {
        String::from_utf8(unescaped(text.as_bytes()).unwrap_or_else(|| text.into())).unwrap()
    }

    #[test]
    fn escapes_decode_in_one_pass_and_broken_ones_stay() {
        assert_eq!(decoded(r#"a\/b\"c\u00e9\ud83d\ude00\n"#), "a/b\"cé😀\n");
        assert_eq!(decoded(r"\u12 \x \ud800 %zz %4"), r"\u12 \x \ud800 %zz %4");
        assert_eq!(decoded("%2F%2f%C3%A9+"), "//é+");
        assert_eq!(
            decoded("&#43;&#x2F;&#X2f;&#61&equals;&amp;&bogus; &#"),
            "+//==&&bogus; &#"
        );
        assert_eq!(decoded("%255Cu0041"), "%5Cu0041", "one level a pass");
        assert!(unescaped(b"plain text").is_none());
    }

    #[test]
    fn base64_is_found_at_every_offset_in_either_alphabet() {
        use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
        let secret = "gho_Zr8+Tm4/xyz?=";
        for prefix in ["", "a", "ab", "abc", "GET /x?key="] {
            let text = format!("{prefix}{secret} and more");
            for encoded in [STANDARD.encode(&text), URL_SAFE_NO_PAD.encode(&text)] {
                let at = format!(r#"{{"raw_b64":"{encoded}"}}"#);
                assert_eq!(
                    echoes(at.as_bytes(), &[secret], None),
                    Some(true),
                    "{prefix:?}"
                );
            }
        }
        let unrelated = STANDARD.encode("nothing to see here, nothing at all");
        assert_eq!(echoes(unrelated.as_bytes(), &[secret], None), Some(false));
    }

    #[test]
    fn html_entities_are_decoded() {
        let page = "<p>Bearer gho_Zr8&#43;Tm4&#47;xyz&#61;&#61;</p>";
        assert_eq!(
            echoes(page.as_bytes(), &["gho_Zr8+Tm4/xyz=="], None),
            Some(true)
        );
        let named = "k&plus;y&sol;&equals;";
        assert_eq!(echoes(named.as_bytes(), &["k+y/="], None), Some(true));
    }

    #[test]
    fn a_scan_past_its_deadline_says_so() {
        let text = vec![b'a'; 1 << 20];
        assert_eq!(echoes(&text, &["secret"], Some(Instant::now())), None);
        assert_eq!(echoes(&text, &["secret"], None), Some(false));
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
