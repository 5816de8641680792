//! The echo rule, in one home (feature `echo`): whether a text holds a
//! credential in a form of one closed class, alone or nested up to three
//! times in any mix, with any characters the form is not written with
//! between the credential's characters. The class, each format in full:
//!
//! - the credential as it is;
//! - percent and form encoding (`%5F`, `%5f`, the legacy `%u005F`);
//! - the string escapes of JSON, JavaScript, Python and C (`\"`, `\n` and
//!   the other one-letter ones, `\x5f`, `\u005f`, `\u{5f}`, `\U0000005f`,
//!   octal `\137`, any other character after `\` standing for itself), and
//!   CSS's (`\5f `, `\00005f`, `\_`), read apart where the two differ;
//! - HTML's numeric character references and every named one that stands
//!   for ASCII (`&#95;`, `&#x5F;`, `&lowbar;`, `&UnderBar;`: WHATWG's list);
//! - quoted-printable, soft line breaks included, and MIME encoded-words
//!   (`Q` by the same rule, `B` as base64);
//! - hex in either case, with any of the prefixes `0x`, `0X`, `\x`, `%` and
//!   any separator; bytes written as decimal numbers in a list (Node's
//!   `Buffer` as JSON);
//! - base64 in either alphabet, as a lenient decoder reads it: at any
//!   offset of a longer text, its last partial group, wrapped at any width,
//!   anything outside the alphabet between its characters;
//! - UTF-16 in either byte order.
//!
//! Each form is looked for in one view of the text that keeps only letters,
//! digits and the marks the form is written with: line breaks, blanks, `> `
//! quoting, table bars, invisible characters and UTF-16's NULs then hide
//! nothing. Each text is then decoded, and each decoding looked at the same
//! way; one that is binary (more than one byte in 32 of its first 4 KiB a
//! control character) is not decoded again. Outside the class: keyed or
//! reversible-by-guess transforms (encryption, XOR, reversal, rotations),
//! hashes, compression, and `Content-Encoding` (the transport decodes it).
//! A credential of fewer than [`MIN_CLASS`] letters, digits and marks
//! cannot be told from chance in a long text of letters and digits: it is
//! looked for only exactly as it is, in the text and its decodings.

use std::borrow::Cow;
use std::time::Instant;

use base64::Engine as _;
use base64::alphabet::STANDARD;
use base64::engine::general_purpose::{GeneralPurpose, NO_PAD};
use base64::engine::general_purpose::{STANDARD_NO_PAD as BASE64, URL_SAFE_NO_PAD as URL_SAFE};
use memchr::memmem::Finder;

/// With this feature, withholding echoes is available.
pub(crate) const AVAILABLE: bool = true;

/// The shortest credential looked for as a class; a shorter one is looked
/// for exactly as it is.
pub(crate) const MIN_CLASS: usize = 8;

/// How many times over a text is decoded (percent-encoding in a JSON string
/// in base64…).
const MAX_NESTING: usize = 3;

/// The shortest base64 needle: shorter ones match text by chance.
const MIN_NEEDLE: usize = 4;

/// The shortest run of base64 that is decoded to be looked in.
const MIN_RUN: usize = 16;

/// The fewest bytes a run of hex or decimal numbers is decoded for.
const MIN_BYTES: usize = 8;

/// Base64 as a lenient decoder reads it (`-_` read as `+/` before), a last
/// character's spare bits ignored.
const LENIENT: GeneralPurpose =
    GeneralPurpose::new(&STANDARD, NO_PAD.with_decode_allow_trailing_bits(true));

/// The escapes written as a prefix and a number, in the order they are
/// tried, as C, JSON, JavaScript, Python, URLs, HTML and quoted-printable
/// write them: (prefix, radix, fewest digits, most digits, what may end
/// it). A `}` end is needed, any other may be left out. Two hex digits
/// stand for a byte (`%C3%A9` is `é`), any other number for a character.
#[rustfmt::skip]
const NUMBERS: [(&str, u32, usize, usize, &str); 11] = [
    ("%u", 16, 4, 4, ""), ("%", 16, 2, 2, ""), ("=", 16, 2, 2, ""), ("\\x", 16, 2, 2, ""),
    ("\\u{", 16, 1, 6, "}"), ("\\u", 16, 4, 4, ""), ("\\U", 16, 8, 8, ""), ("\\", 8, 1, 3, ""),
    ("&#x", 16, 1, 8, ";"), ("&#X", 16, 1, 8, ";"), ("&#", 10, 1, 8, ";"),
];

/// CSS's escape, read in place of the `\` ones of [`NUMBERS`]: one to six
/// hex digits and one blank after them.
#[rustfmt::skip]
const CSS: [(&str, u32, usize, usize, &str); 1] = [("\\", 16, 1, 6, " \t\n\r\x0c")];

/// The escapes that stand for a fixed text, as (written, text) pairs: the
/// one-letter escapes of C, JSON, JavaScript and Python, line
/// continuations and quoted-printable's soft line breaks, and HTML's named
/// character references that stand for ASCII (every one of WHATWG's list,
/// the legacy names without `;` after those with it).
#[rustfmt::skip]
const WORDS: &[(&str, &str)] = &[
    ("\\n", "\n"), ("\\r", "\r"), ("\\t", "\t"), ("\\b", "\x08"), ("\\f", "\x0c"),
    ("\\v", "\x0b"), ("\\a", "\x07"), ("\\e", "\x1b"), ("\\\r\n", ""), ("\\\n", ""),
    ("=\r\n", ""), ("=\n", ""),
    ("&Tab;", "\t"), ("&NewLine;", "\n"), ("&excl;", "!"), ("&QUOT;", "\""), ("&quot;", "\""),
    ("&num;", "#"), ("&dollar;", "$"), ("&percnt;", "%"), ("&AMP;", "&"), ("&amp;", "&"),
    ("&apos;", "'"), ("&lpar;", "("), ("&rpar;", ")"), ("&ast;", "*"), ("&midast;", "*"),
    ("&plus;", "+"), ("&comma;", ","), ("&period;", "."), ("&sol;", "/"), ("&colon;", ":"),
    ("&semi;", ";"), ("&LT;", "<"), ("&lt;", "<"), ("&equals;", "="), ("&GT;", ">"),
    ("&gt;", ">"), ("&quest;", "?"), ("&commat;", "@"), ("&lbrack;", "["), ("&lsqb;", "["),
    ("&bsol;", "\\"), ("&rbrack;", "]"), ("&rsqb;", "]"), ("&Hat;", "^"), ("&UnderBar;", "_"),
    ("&lowbar;", "_"), ("&DiacriticalGrave;", "`"), ("&grave;", "`"), ("&fjlig;", "fj"),
    ("&lbrace;", "{"), ("&lcub;", "{"), ("&VerticalLine;", "|"), ("&verbar;", "|"),
    ("&vert;", "|"), ("&rbrace;", "}"), ("&rcub;", "}"), ("&QUOT", "\""), ("&quot", "\""),
    ("&AMP", "&"), ("&amp", "&"), ("&LT", "<"), ("&lt", "<"), ("&GT", ">"), ("&gt", ">"),
];

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
            if found_in(&forms, text, deadline)? {
                return Some(true);
            }
            if depth < MAX_NESTING && is_text(text) {
                next.extend(unescaped(text, false));
                next.extend(unescaped(text, true));
                next.extend(runs(text).into_iter().filter(|run| !run.is_empty()));
                next.extend(utf16(text));
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return None;
            }
        }
        level = next.into_iter().map(Cow::Owned).collect();
    }
    Some(false)
}

/// Whether `bytes` read as text: in their first 4 KiB, at most one byte in
/// 32 a control character other than a blank or a NUL (UTF-16's other
/// half).
fn is_text(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(4096)];
    let control = |b: &u8| usize::from(matches!(b, 1..=8 | 11 | 12 | 14..=31 | 127));
    head.iter().map(control).sum::<usize>() * 32 <= head.len()
}

/// One form a credential may be written in: which bytes its view keeps
/// (ASCII letters and digits, and its marks; every byte: the text as it
/// is), and its needles, put through that view.
struct Form {
    kept: [bool; 256],
    needles: Vec<Vec<u8>>,
}

impl Form {
    fn new(marks: &[u8], needles: Vec<Vec<u8>>) -> Form {
        let keeps = |b: u8| b.is_ascii_alphanumeric() || marks.contains(&b);
        let kept = std::array::from_fn(|i| u8::try_from(i).is_ok_and(keeps));
        let needles = needles.iter().map(|n| view(n, &kept).into_owned());
        let needles = needles.filter(|n| !n.is_empty()).collect();
        Form { kept, needles }
    }
}

/// Whether `text` holds a needle of one of `forms`. Forms that keep the
/// same bytes of `text` read it alike: they share one view, and one pass
/// looks for all their needles.
fn found_in(forms: &[Form], text: &[u8], deadline: Option<Instant>) -> Option<bool> {
    let mut seen = [false; 256];
    for byte in text {
        seen[usize::from(*byte)] = true;
    }
    let alike = |a: &Form, b: &Form| (0..256).all(|i| !seen[i] || a.kept[i] == b.kept[i]);
    for (i, form) in forms.iter().enumerate() {
        // A form an earlier one reads alike was looked for with it.
        if forms[..i].iter().any(|earlier| alike(earlier, form)) {
            continue;
        }
        let group = forms[i..].iter().filter(|other| alike(form, other));
        let needles = group.flat_map(|f| f.needles.iter().map(Vec::as_slice));
        let needles: Vec<&[u8]> = needles.collect();
        if holds(&view(text, &form.kept), &needles, deadline)? {
            return Some(true);
        }
    }
    Some(false)
}

/// `text` as a form that keeps the bytes `kept` marks reads it.
fn view<'a>(text: &'a [u8], kept: &[bool; 256]) -> Cow<'a, [u8]> {
    let Some(at) = text.iter().position(|b| !kept[usize::from(*b)]) else {
        return Cow::Borrowed(text);
    };
    // Each byte is written, and the end moved past it only when it is kept.
    let mut out = text.to_vec();
    let mut end = at;
    for i in at..text.len() {
        out[end] = text[i];
        end += usize::from(kept[usize::from(text[i])]);
    }
    out.truncate(end);
    Cow::Owned(out)
}

/// The forms `secrets` are looked for in: each long one raw, with its own
/// punctuation for marks; its base64 at any offset and its hex in either
/// case (`+/`); its URL-safe base64 (`-_`); the short ones exactly.
fn forms<S: AsRef<str>>(secrets: &[S]) -> Vec<Form> {
    let (mut forms, mut exact) = (Vec::new(), Vec::new());
    let (mut standard, mut url_safe) = (Vec::new(), Vec::new());
    for secret in secrets.iter().map(|s| s.as_ref().as_bytes()) {
        // Marks: what a raw form is written with besides letters, digits and blanks.
        let mark = |b: &u8| !b.is_ascii_alphanumeric() && !b.is_ascii_whitespace();
        let marks: Vec<u8> = secret.iter().copied().filter(mark).collect();
        if secret.iter().filter(|b| !b.is_ascii_whitespace()).count() < MIN_CLASS {
            exact.push(secret.to_vec());
            continue;
        }
        forms.push(Form::new(&marks, vec![secret.to_vec()]));
        let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
        standard.extend([hex.to_uppercase().into_bytes(), hex.into_bytes()]);
        standard.extend(base64_cores(secret, &BASE64));
        url_safe.extend(base64_cores(secret, &URL_SAFE));
    }
    forms.push(Form::new(b"+/", standard));
    forms.push(Form::new(b"-_", url_safe));
    forms.push(Form::new(&(0..=u8::MAX).collect::<Vec<u8>>(), exact));
    forms.retain(|form| !form.needles.is_empty());
    forms
}

/// Whether `view` holds one of the (non-empty) `needles`; `None` when
/// `deadline` passes first (looked at before the first byte and every MiB
/// after).
fn holds(view: &[u8], needles: &[&[u8]], deadline: Option<Instant>) -> Option<bool> {
    let finders: Vec<Finder> = needles.iter().map(Finder::new).collect();
    let overlap = needles.iter().map(|n| n.len()).max().unwrap_or(1) - 1;
    for start in (0..view.len().max(1)).step_by(1 << 20) {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return None;
        }
        let chunk = &view[start..view.len().min(start + (1 << 20) + overlap)];
        if finders.iter().any(|finder| finder.find(chunk).is_some()) {
            return Some(true);
        }
    }
    Some(false)
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

/// `text` with every escape of the class decoded, in one pass, `\`'s as C
/// reads them or, with `css`, as CSS does; `None` when nothing changed, and
/// with `css` when no escape reads differently in CSS (`\` and a hex digit).
fn unescaped(text: &[u8], css: bool) -> Option<Vec<u8>> {
    let hex_after = |at: usize| text.get(at + 1).is_some_and(u8::is_ascii_hexdigit);
    if css && !memchr::memchr_iter(b'\\', text).any(hex_after) {
        return None;
    }
    let equals = memchr::memchr(b'=', text).unwrap_or(text.len());
    let first = memchr::memchr3(b'%', b'\\', b'&', text).map_or(equals, |at| at.min(equals));
    let mut out = text[..first].to_vec();
    let (mut i, mut changed) = (first, false);
    while i < text.len() {
        let used = escape(&text[i..], css, &mut out);
        if used == 0 {
            out.push(text[i]);
        }
        changed |= used > 0;
        i += used.max(1);
    }
    changed.then_some(out)
}

/// The escape at the start of `s` decoded into `out`: how many bytes it
/// took (0 when it is none).
fn escape(s: &[u8], css: bool, out: &mut Vec<u8>) -> usize {
    if !matches!(s[0], b'%' | b'\\' | b'&' | b'=') {
        return 0;
    }
    let numbers = if css { &CSS[..] } else { &NUMBERS[..] };
    if let Some((code, used, byte)) = numbers.iter().find_map(|escape| number(s, *escape)) {
        match char::from_u32(code) {
            _ if byte => out.push(u8::try_from(code).unwrap_or_default()),
            Some(c) => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
            None => return 0,
        }
        return used;
    }
    let stands_for =
        |(w, _): &&(&str, &str)| w.as_bytes()[0] == s[0] && s.starts_with(w.as_bytes());
    if let Some((written, text)) = WORDS.iter().find(stands_for) {
        out.extend_from_slice(text.as_bytes());
        return written.len();
    }
    let [b'\\', other, ..] = s else {
        return 0;
    };
    out.push(*other);
    2
}

/// The number `escape` (a row of [`NUMBERS`]) writes at the start of `s`:
/// its value, how many bytes it took, and whether it stands for a byte.
fn number(s: &[u8], escape: (&str, u32, usize, usize, &str)) -> Option<(u32, usize, bool)> {
    let (prefix, radix, fewest, most, end) = escape;
    let rest = s.strip_prefix(prefix.as_bytes())?;
    let digit = |d: &u8| char::from(*d).to_digit(radix);
    let digits: Vec<u32> = rest.iter().take(most).map_while(digit).collect();
    let after = rest.get(digits.len());
    let ended = after.is_some_and(|b| end.as_bytes().contains(b));
    if digits.len() < fewest || (end == "}" && !ended) {
        return None;
    }
    let value = |n: u32, d: &u32| n.saturating_mul(radix) + d;
    let code = digits.iter().fold(0, value);
    let used = prefix.len() + digits.len() + usize::from(ended);
    Some((code, used, radix == 16 && most == 2))
}

/// `text`'s runs of bytes written as numbers and as base64, each decoded
/// as a lenient decoder reads it: those that decode to text, each followed
/// by a line break, then the binary ones. A binary run of hex or base64 is
/// not looked in again: its form's needles looked for the credential in it.
///
/// A run of numbers is [`MIN_BYTES`] or more words of hex or of decimal
/// numbers between separators of any kind; a base64 run is [`MIN_RUN`] or
/// more characters of either alphabet, going on over line breaks.
fn runs(text: &[u8]) -> [Vec<u8>; 2] {
    let mut found = [Vec::new(), Vec::new()];
    let mut keep = |run: &mut Vec<u8>, looked_in: bool| {
        let binary = !is_text(run);
        if run.len() >= MIN_BYTES && !(binary && looked_in) {
            let to = &mut found[usize::from(binary)];
            to.extend_from_slice(run);
            to.push(b'\n');
        }
        run.clear();
    };
    let (mut hex, mut decimal) = (Vec::new(), Vec::new());
    let in_run = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'-' | b'_');
    let runs = text.split(|b| !in_run(b) && !matches!(b, b'\r' | b'\n'));
    for run in runs.filter(|run| !run.is_empty()) {
        let words = run.split(|b| !b.is_ascii_alphanumeric());
        for word in words.filter(|word| !word.is_empty()) {
            number_word(word, &mut hex, &mut decimal, &mut keep);
        }
        if run.len() >= MIN_RUN && !run.iter().all(u8::is_ascii_hexdigit) {
            let mut bytes = base64(run);
            keep(&mut bytes, true);
        }
    }
    keep(&mut hex, true);
    keep(&mut decimal, false);
    found
}

/// Reads `word` as hex (any case, an even count of digits, after `0x`, `0X`
/// or `x`, the last of `\x`) onto the `hex` run, and as a decimal number up
/// to 255 onto the `decimal` one; a run the word does not go on ends, and
/// `keep` takes it.
fn number_word(
    word: &[u8],
    hex: &mut Vec<u8>,
    decimal: &mut Vec<u8>,
    keep: &mut impl FnMut(&mut Vec<u8>, bool),
) {
    let digits = match word {
        [b'0', b'x' | b'X', rest @ ..] | [b'x', rest @ ..] => rest,
        _ => word,
    };
    if !digits.is_empty() && digits.len() % 2 == 0 && digits.iter().all(u8::is_ascii_hexdigit) {
        let digit = |d: u8| char::from(d).to_digit(16);
        let pair = |p: &[u8]| u8::try_from(digit(p[0])? << 4 | digit(p[1])?).ok();
        hex.extend(digits.chunks_exact(2).filter_map(pair));
    } else {
        keep(hex, true);
    }
    let number = || std::str::from_utf8(word).ok()?.parse().ok();
    match (word.len() <= 3).then(number).flatten() {
        Some(byte) => decimal.push(byte),
        None => keep(decimal, false),
    }
}

/// `run` (base64 of either alphabet, with line breaks) decoded leniently,
/// a last lone character dropped; empty when its first 4 KiB decode to
/// binary, which is not looked in again.
fn base64(run: &[u8]) -> Vec<u8> {
    let alphabet = |b: &u8| match b {
        b'-' => Some(b'+'),
        b'_' => Some(b'/'),
        b'\r' | b'\n' => None,
        other => Some(*other),
    };
    let mut run: Vec<u8> = run.iter().filter_map(alphabet).collect();
    run.truncate(run.len() - usize::from(run.len() % 4 == 1));
    let head = LENIENT.decode(&run[..run.len().min(5460)]).ok();
    let text = head.filter(|head| is_text(head));
    text.and_then(|_| LENIENT.decode(&run).ok())
        .unwrap_or_default()
}

/// `text` read as UTF-16 when at least a quarter of it is NUL: little-endian
/// when most NULs fall on odd offsets (as ASCII's do), else big-endian.
fn utf16(text: &[u8]) -> Option<Vec<u8>> {
    let nuls = memchr::memchr_iter(0, text).count();
    let at_odd = |at: &usize| at % 2 == 1;
    let odd = memchr::memchr_iter(0, text).filter(at_odd).count();
    let low = usize::from(odd * 2 < nuls);
    let unit = |pair: &[u8]| u16::from(pair[low]) | u16::from(pair[1 - low]) << 8;
    let units = || text.chunks_exact(2).map(unit).collect::<Vec<u16>>();
    (nuls > 0 && nuls * 4 >= text.len()).then(|| String::from_utf16_lossy(&units()).into_bytes())
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
        String::from_utf8(unescaped(text.as_bytes(), false).unwrap_or_else(|| text.into())).unwrap()
    }

    #[test]
    fn escapes_decode_in_one_pass_and_broken_ones_stay() {
        assert_eq!(decoded(r#"a\/b\"c\u00e9\u{1F600}\n"#), "a/b\"cé😀\n");
        // A broken number stays; after `\`, a letter no escape starts with
        // stands for itself, as JavaScript reads it.
        assert_eq!(decoded(r"\ud800 %zz %4 &#; =G1"), r"\ud800 %zz %4 &#; =G1");
        assert_eq!(decoded(r"\u12 \x \_"), "u12 x _");
        assert_eq!(decoded("%2F%2f%C3%A9+"), "//é+");
        assert_eq!(
            decoded("&#43;&#x2F;&#X2f;&#61&equals;&amp;&bogus; &#"),
            "+//==&&bogus; &#"
        );
        assert_eq!(decoded("%255Cu0041"), "%5Cu0041", "one level a pass");
        assert!(unescaped(b"plain text", false).is_none());
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
