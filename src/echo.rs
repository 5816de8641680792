//! The echo rule, in one home (feature `echo`): whether a text holds a
//! credential in any form a standard, keyless, context-free decoder undoes,
//! alone or nested up to three times, with any characters the form is not
//! written with between the credential's characters.
//!
//! The forms are data. Each is the marks it is written with beside ASCII
//! letters and digits, and what it looks for (its needles): the raw secret
//! (its own punctuation for marks); its standard base64 at any offset, and
//! its hex in either case (`+/`); its URL-safe base64 (`-_`). Each form is looked for in one view
//! of the text that keeps only letters, digits and its marks, the needles
//! put through the same view: line breaks, blanks, `> ` quoting, table bars,
//! dashes, zero-width and other invisible characters, the NUL bytes of
//! UTF-16 then hide nothing. Then the text is decoded, up to three times
//! in any mix, and each decoding looked at the same way: its escapes
//! (percent and form encoding, JSON and JavaScript escapes, HTML entities),
//! and its runs of hex or base64. Out of the class: keyed or
//! adversarial transforms (encryption, reversal, ROT), hashes, and
//! `Content-Encoding` (the transport decodes it).
//!
//! A credential of fewer than [`MIN_CLASS`] letters, digits and marks
//! cannot be told from chance in a long text of letters and digits: it is
//! looked for only exactly as it is, in the text and its decodings.

use std::borrow::Cow;
use std::time::Instant;

use base64::Engine as _;
use base64::engine::GeneralPurpose;
use base64::engine::general_purpose::{STANDARD_NO_PAD as BASE64, URL_SAFE_NO_PAD as URL_SAFE};

use crate::error::NexusError;

/// The shortest credential looked for as a class; a shorter one is looked
/// for exactly as it is.
pub(crate) const MIN_CLASS: usize = 8;

/// How many times over an echo's escapes are decoded (percent-encoding in
/// a JSON string in a URL's query…).
const MAX_NESTING: usize = 3;

/// The shortest base64 needle: shorter ones match text by chance.
const MIN_NEEDLE: usize = 4;

/// The shortest run of hex or base64 that is decoded to be looked in.
const MIN_RUN: usize = 16;

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

/// Whether `text` holds one of the non-empty `secrets` in a form of the
/// class this module's doc names; `None` when `deadline` passes first.
pub(crate) fn echoes<S: AsRef<str>>(
    text: &[u8],
    secrets: &[S],
    deadline: Option<Instant>,
) -> Option<bool> {
    let forms = forms(secrets);
    let mut level = vec![Cow::Borrowed(text)];
    for depth in 0..=MAX_NESTING {
        let mut next = Vec::new();
        for text in &level {
            for form in &forms {
                if form.needles.found_in(&view(text, &form.marks), deadline)? {
                    return Some(true);
                }
            }
            if depth < MAX_NESTING {
                next.extend(unescaped(text));
                next.extend(decoded(text));
            }
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return None;
        }
        level = next.into_iter().map(Cow::Owned).collect();
    }
    Some(false)
}

/// `text`'s runs of hex or base64 (of [`MIN_RUN`] characters or more)
/// decoded as a decoder of that form reads them: hex when a run is only hex
/// digits, two a byte; else base64 in either alphabet. `None` when it holds
/// no such run.
fn decoded(text: &[u8]) -> Option<Vec<u8>> {
    let in_run = |b: &u8| b.is_ascii_alphanumeric() || b"+/-_".contains(b);
    let mut out = Vec::new();
    let runs = text.split(|b| !in_run(b));
    for run in runs.filter(|run| run.len() >= MIN_RUN) {
        if run.len() % 2 == 0 && run.iter().all(u8::is_ascii_hexdigit) {
            let pairs = run.chunks(2).map(|pair| hex_at(pair, 0, 2));
            out.extend(pairs.flatten().filter_map(|byte| u8::try_from(byte).ok()));
        } else {
            let whole = &run[..run.len() / 4 * 4];
            let bytes = BASE64.decode(whole).or_else(|_| URL_SAFE.decode(whole));
            out.extend(bytes.unwrap_or_default());
        }
        out.push(b'\n');
    }
    (!out.is_empty()).then_some(out)
}

/// With this feature, withholding echoes is always available.
pub(crate) fn check_available(_withhold: bool) -> Result<(), NexusError> {
    Ok(())
}

/// One form a credential may be written in: the marks its view keeps
/// beside ASCII letters and digits (every byte: the text as it is), and
/// its needles, put through that view.
struct Form {
    marks: Vec<u8>,
    needles: Needles,
}

impl Form {
    fn new(marks: Vec<u8>, needles: Vec<Vec<u8>>) -> Form {
        let needles = needles.iter().map(|n| view(n, &marks).into_owned());
        let needles = Needles::new(needles.collect());
        Form { marks, needles }
    }
}

/// `text` as a form written with `marks` is read: only letters, digits
/// and those marks.
fn view<'a>(text: &'a [u8], marks: &[u8]) -> Cow<'a, [u8]> {
    let kept = |b: &u8| b.is_ascii_alphanumeric() || marks.contains(b);
    if text.iter().all(kept) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(text.iter().copied().filter(kept).collect())
}

/// The forms `secrets` are looked for in: each long one raw, with its own
/// punctuation for marks; its base64 and hex (`+/`); its URL-safe base64
/// (`-_`); the short ones exactly.
fn forms<S: AsRef<str>>(secrets: &[S]) -> Vec<Form> {
    let (mut forms, mut exact) = (Vec::new(), Vec::new());
    let (mut standard, mut url_safe) = (Vec::new(), Vec::new());
    for secret in secrets.iter().map(|s| s.as_ref().as_bytes()) {
        let mut marks: Vec<u8> = secret.iter().copied().filter(|b| is_mark(*b)).collect();
        marks.sort_unstable();
        marks.dedup();
        if view(secret, &marks).len() < MIN_CLASS {
            exact.push(secret.to_vec());
            continue;
        }
        forms.push(Form::new(marks, vec![secret.to_vec()]));
        // Hex in either case, as dumps write it (`6768`, `67:68`) and as C
        // arrays do (`0x67, 0x68`); base64 in either alphabet at any offset.
        for digits in [hex(secret), hex(secret).to_ascii_uppercase()] {
            let c_array = digits.chunks(2).flat_map(|pair| [b"0x", pair].concat());
            standard.push(c_array.collect());
            standard.push(digits);
        }
        standard.extend(base64_cores(secret, &BASE64));
        url_safe.extend(base64_cores(secret, &URL_SAFE));
    }
    forms.push(Form::new(b"+/".to_vec(), standard));
    forms.push(Form::new(b"-_".to_vec(), url_safe));
    forms.push(Form::new((0..=u8::MAX).collect(), exact));
    forms
}

/// Whether byte `b` of a secret is one its raw form is written with: not
/// a letter, a digit or a blank.
fn is_mark(b: u8) -> bool {
    !b.is_ascii_alphanumeric() && !b.is_ascii_whitespace()
}

/// `bytes` in lower-case hex, two digits a byte.
fn hex(bytes: &[u8]) -> Vec<u8> {
    let digit = |d: u8| b"0123456789abcdef"[usize::from(d)];
    bytes
        .iter()
        .flat_map(|b| [digit(b >> 4), digit(b & 15)])
        .collect()
}

/// What one form looks for in its view, found in one pass: a bitmap of
/// the needles' first two bytes picks the places worth comparing.
struct Needles {
    list: Vec<Vec<u8>>,
    starts: Vec<u64>,
}

impl Needles {
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

/// `secret`'s base64 in `alphabet` at each of the three offsets it may
/// have inside a longer base64 text: the characters its bytes alone decide
/// (none shorter than [`MIN_NEEDLE`]).
fn base64_cores<'a>(
    secret: &'a [u8],
    alphabet: &'a GeneralPurpose,
) -> impl Iterator<Item = Vec<u8>> + 'a {
    (0..3).flat_map(move |offset| {
        let mut bytes = vec![0; offset];
        bytes.extend_from_slice(secret);
        let encoded = alphabet.encode(&bytes);
        // A base64 character depends on the secret alone when every bit it
        // encodes is the secret's: skip the characters that hold bits of
        // the `offset` bytes in front (0, 2 or 3), and stop after the last
        // whole group plus one character per byte left over (its other bits
        // belong to whatever follows the secret).
        let start = [0, 2, 3][offset];
        let end = bytes.len() / 3 * 4 + bytes.len() % 3;
        let core = encoded.get(start..end).unwrap_or_default();
        (core.len() >= MIN_NEEDLE).then(|| core.as_bytes().to_vec())
    })
}

/// `text` with every escape a server may write decoded, in one pass:
/// `%XX`, JSON's `\"` `\\` `\/` `\b` `\f` `\n` `\r` `\t` and `\uXXXX`
/// (surrogate pairs joined), JavaScript's and C's `\xNN`, and HTML's
/// `&#NN;`, `&#xHH;` and named entities; `None` when it holds none.
fn unescaped(text: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len());
    let (mut i, mut changed) = (0, false);
    while i < text.len() {
        let rest = &text[i..];
        let used = match rest[0] {
            b'%' => byte(rest, 1, &mut out),
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

/// Pushes the byte of the two hex digits of `s` at `at`, which end the
/// escape: how many bytes it took (0 when they are no hex).
fn byte(s: &[u8], at: usize, out: &mut Vec<u8>) -> usize {
    let byte = hex_at(s, at, 2).and_then(|byte| u8::try_from(byte).ok());
    byte.map_or(0, |byte| {
        out.push(byte);
        at + 2
    })
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
    if s.get(1) == Some(&b'x') {
        return byte(s, 2, out); // `\xNN`: a byte, as C, Python and JavaScript write it
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
        // Blanks are no part of a form: split by one, it is the same secret.
        assert_eq!(echoes(b"pass word", &["pass\nword"], None), Some(true));
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

    /// Tokens of the shapes providers hand out.
    const TOKENS: [&str; 4] = [
        "ghp_R2d9Kq7LmX4vT8sB1nZ6wY3cH5jF0aE",
        "xoxb-2048-88341-Vq9TzLr7Wm4KpX2sNd6",
        "ya29.a0AfB_byC7kQ-9zX1/mN+2pR8sT",
        "AKIA4QJ7ZXB2L9MRK3TE",
    ];

    fn split(text: &str, sep: &str, every: usize) -> String {
        let chars: Vec<char> = text.chars().collect();
        let parts: Vec<String> = chars.chunks(every).map(|c| c.iter().collect()).collect();
        parts.join(sep)
    }

    #[test]
    fn a_token_split_by_anything_a_reader_skips_is_an_echo() {
        for token in TOKENS {
            for (sep, every) in [
                ("\n    ", 9),
                ("\n> ", 7),
                ("\n>> ", 3),
                ("\u{200B}", 1),
                ("\u{AD}", 2),
                ("\u{FEFF}", 5),
                (" | ", 6),
                ("\t", 4),
                ("\0", 1),
                ("\u{2063}", 3),
            ] {
                let text = format!("got: {} (end)", split(token, sep, every));
                assert_eq!(
                    echoes(text.as_bytes(), &[token], None),
                    Some(true),
                    "{text:?}"
                );
            }
            if !token.contains('-') {
                let grouped = split(token, "-", 4);
                assert_eq!(
                    echoes(grouped.as_bytes(), &[token], None),
                    Some(true),
                    "{grouped}"
                );
            }
        }
    }

    #[test]
    fn hex_in_either_case_however_written_is_an_echo() {
        for token in TOKENS {
            let lower: String = token.bytes().map(|b| format!("{b:02x}")).collect();
            let texts = [
                lower.clone(),
                lower.to_uppercase(),
                split(&lower, ":", 2),
                split(&lower.to_uppercase(), " ", 2),
                split(&lower, "\n  ", 32),
                token.bytes().map(|b| format!("0x{b:02x}, ")).collect(),
                token.bytes().map(|b| format!("0x{b:02X},")).collect(),
                token.bytes().map(|b| format!("\\x{b:02x}")).collect(),
                format!(
                    "body=\"{}\"",
                    token
                        .bytes()
                        .map(|b| format!("%{b:02X}"))
                        .collect::<String>()
                ),
            ];
            for text in texts {
                let body = format!("00000000  {text}  |....|");
                assert_eq!(
                    echoes(body.as_bytes(), &[token], None),
                    Some(true),
                    "{body}"
                );
            }
        }
    }

    #[test]
    fn forms_nested_in_one_another_are_echoes() {
        use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
        let token = TOKENS[0];
        let hexed: String = token.bytes().map(|b| format!("{b:02x}")).collect();
        let json = format!(r#"{{"auth":"Bearer {}"}}"#, token.replace('_', "\\u005f"));
        for text in [
            STANDARD.encode(format!("x={hexed}")),
            URL_SAFE_NO_PAD.encode(STANDARD.encode(format!("k {token}"))),
            STANDARD
                .encode(&json)
                .bytes()
                .map(|b| format!("{b:02X}"))
                .collect(),
            url_escaped(&url_escaped(&json)),
            split(
                &STANDARD.encode(format!("dump: {hexed}\n").repeat(3)),
                "\r\n",
                76,
            ),
        ] {
            assert_eq!(
                echoes(text.as_bytes(), &[token], None),
                Some(true),
                "{text}"
            );
        }
    }

    fn url_escaped(text: &str) -> String {
        text.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    }

    #[test]
    fn what_does_not_hold_the_token_is_no_echo() {
        let token = TOKENS[0];
        let mut changed = token.as_bytes().to_vec();
        changed[12] = if changed[12] == b'x' { b'y' } else { b'x' };
        let changed = String::from_utf8(changed).unwrap();
        let other_hex: String = TOKENS[1].bytes().map(|b| format!("{b:02x}")).collect();
        // A reproducible mix of letters and digits, tens of KiB of it.
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        let noise: String = (0..64 << 10)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                char::from(
                    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
                        [(seed % 62) as usize],
                )
            })
            .collect();
        let hex_noise: String = noise.bytes().map(|b| format!("{:x}", b % 16)).collect();
        for text in [
            token[..20].to_owned(),
            changed.clone(),
            split(&changed, "\n> ", 5),
            other_hex,
            noise,
            hex_noise,
        ] {
            let body = format!("{{\"echo\": \"{text}\"}}");
            assert_eq!(
                echoes(body.as_bytes(), &[token], None),
                Some(false),
                "{}",
                &body[..body.len().min(80)]
            );
        }
    }

    #[test]
    fn a_short_secret_is_looked_for_only_as_it_is() {
        assert!(b"k+y/=7".len() < MIN_CLASS);
        assert_eq!(echoes(b"key k+y/=7 here", &["k+y/=7"], None), Some(true));
        assert_eq!(
            echoes(b"key k%2By%2F%3D7 here", &["k+y/=7"], None),
            Some(true)
        );
        assert_eq!(
            echoes(b"key k y / = 7 here", &["k+y/=7"], None),
            Some(false)
        );
        assert_eq!(echoes(b"6b2b792f3d37", &["k+y/=7"], None), Some(false));
    }
}
