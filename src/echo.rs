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
//!   (`Q` by the same rule, `B` as base64), adjacent ones joined as RFC
//!   2047 §6.2 says;
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
//! nothing. A match is a match of the credential's every byte: base64
//! found at an offset is decoded with the characters around it, which it
//! shares with its neighbours, and compared whole. Each text is then
//! decoded by each format's decoder apart (so that one format's escape
//! never eats another's text: `=10` in a query is no quoted-printable
//! there), and each decoding looked at the same way; one that is binary
//! (more than one byte in 32 of its first 4 KiB a control character) is not
//! decoded again. Outside the class: keyed or reversible-by-guess
//! transforms (encryption, XOR, reversal, rotations), hashes, compression,
//! and `Content-Encoding` (the transport decodes it). A credential of fewer
//! than [`MIN_CLASS`] letters, digits and marks cannot be told from chance
//! in a long text of letters and digits: it is looked for only exactly as
//! it is, in the text and its decodings.
//!
//! The scan looks at the clock after every [`LOOK_EVERY`] bytes of work
//! (viewed, decoded or searched), however the work is split.

use std::borrow::Cow;
use std::cell::Cell;
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

/// How many bytes of work the scan does between two looks at the clock.
const LOOK_EVERY: usize = 1 << 16;

/// The shortest base64 needle: shorter ones match text by chance.
const MIN_NEEDLE: usize = 4;

/// The shortest run of base64 that is decoded to be looked in.
const MIN_RUN: usize = 16;

/// The fewest bytes a run of hex or decimal numbers is decoded for.
const MIN_BYTES: usize = 8;

/// Base64's characters in front of the first that a text's own bytes
/// alone decide, for a text at offset 0, 1 and 2 of a group of three.
const LEAD: [usize; 3] = [0, 2, 3];

/// Base64 as a lenient decoder reads it (`-_` read as `+/` before), a last
/// character's spare bits ignored.
const LENIENT: GeneralPurpose =
    GeneralPurpose::new(&STANDARD, NO_PAD.with_decode_allow_trailing_bits(true));

/// The escapes written as a prefix and a number, in the order they are
/// tried, as C, JSON, JavaScript, Python, URLs and HTML write them:
/// (prefix, radix, fewest digits, most digits, what may end it). A `}` end
/// is needed, any other may be left out. Two hex digits stand for a byte
/// (`%C3%A9` is `é`), any other number for a character.
#[rustfmt::skip]
const NUMBERS: [(&str, u32, usize, usize, &str); 10] = [
    ("%u", 16, 4, 4, ""), ("%", 16, 2, 2, ""), ("\\x", 16, 2, 2, ""),
    ("\\u{", 16, 1, 6, "}"), ("\\u", 16, 4, 4, ""), ("\\U", 16, 8, 8, ""), ("\\", 8, 1, 3, ""),
    ("&#x", 16, 1, 8, ";"), ("&#X", 16, 1, 8, ";"), ("&#", 10, 1, 8, ";"),
];

/// CSS's escape, read in place of the `\` ones of [`NUMBERS`]: one to six
/// hex digits and one blank after them.
#[rustfmt::skip]
const CSS: [(&str, u32, usize, usize, &str); 1] = [("\\", 16, 1, 6, " \t\n\r\x0c")];

/// The escapes that stand for a fixed text, as (written, text) pairs: the
/// one-letter escapes of C, JSON, JavaScript and Python, line
/// continuations, and HTML's named character references that stand for
/// ASCII (every one of WHATWG's list, the legacy names without `;` after
/// those with it).
#[rustfmt::skip]
const WORDS: &[(&str, &str)] = &[
    ("\\n", "\n"), ("\\r", "\r"), ("\\t", "\t"), ("\\b", "\x08"), ("\\f", "\x0c"),
    ("\\v", "\x0b"), ("\\a", "\x07"), ("\\e", "\x1b"), ("\\\r\n", ""), ("\\\n", ""),
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
    let clock = Clock {
        deadline,
        work: Cell::new(LOOK_EVERY),
    };
    let forms = forms(secrets);
    let mut level = vec![Cow::Borrowed(text)];
    for depth in 0..=MAX_NESTING {
        let mut next = Vec::new();
        for text in &level {
            if found_in(&forms, text, &clock) {
                return Some(true);
            }
            if depth < MAX_NESTING && !clock.spent(0) && is_text(text) {
                let [numbers, binary] = runs(text, &clock);
                let decoded = [false, true].map(|css| unescaped(text, css, &clock));
                let decoded = decoded.into_iter().chain([quoted_printable(text, &clock)]);
                let decoded = decoded.chain([utf16(text, &clock), Some(numbers), Some(binary)]);
                for text in decoded.flatten() {
                    // Two decoders in either order often write one text.
                    if !text.is_empty() && !next.contains(&text) {
                        next.push(text);
                    }
                }
            }
            if clock.spent(0) {
                return None;
            }
        }
        level = next.into_iter().map(Cow::Owned).collect();
    }
    Some(false)
}

/// The call's deadline, looked at once per [`LOOK_EVERY`] bytes of work
/// (`work` the bytes since the last look; `usize::MAX` once it passed).
struct Clock {
    deadline: Option<Instant>,
    work: Cell<usize>,
}

impl Clock {
    /// Counts `bytes` of work done (at most [`LOOK_EVERY`] a call); whether
    /// the deadline has passed.
    fn spent(&self, bytes: usize) -> bool {
        let work = self.work.get().saturating_add(bytes);
        let passed = work == usize::MAX
            || (work >= LOOK_EVERY && self.deadline.is_some_and(|d| Instant::now() >= d));
        let work = if passed {
            usize::MAX
        } else {
            work % LOOK_EVERY
        };
        self.work.set(work);
        passed
    }
}

/// Whether `bytes` read as text: in their first 4 KiB, at most one byte in
/// 32 a control character other than a blank or a NUL (UTF-16's other
/// half).
fn is_text(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(4096)];
    let control = |b: &u8| usize::from(matches!(b, 1..=8 | 11 | 12 | 14..=31 | 127));
    head.iter().map(control).sum::<usize>() * 32 <= head.len()
}

/// A needle in a form's view. One of base64 (`offset` its `secret`'s
/// place in a group of three bytes) matches only where the view's
/// characters around it decode to the whole secret.
struct Needle {
    text: Vec<u8>,
    secret: Vec<u8>,
    offset: Option<usize>,
}

impl Needle {
    fn exact(text: &[u8]) -> Needle {
        let (text, secret) = (text.to_vec(), Vec::new());
        Needle {
            text,
            secret,
            offset: None,
        }
    }

    /// Whether the needle's match at `at` in `view` is one.
    fn matches(&self, view: &[u8], at: usize) -> bool {
        let (Some(offset), secret) = (self.offset, &self.secret) else {
            return true;
        };
        let bytes = offset + secret.len();
        let from = at.checked_sub(LEAD[offset]);
        let chars = from.and_then(|from| view.get(from..from + (4 * bytes).div_ceil(3)));
        let chars = chars.map(|chars| chars.iter().filter_map(standard).collect::<Vec<u8>>());
        let decoded = chars.and_then(|chars| LENIENT.decode(chars).ok());
        decoded.is_some_and(|decoded| decoded.get(offset..) == Some(secret))
    }
}

/// One form a credential may be written in: which bytes its view keeps
/// (ASCII letters and digits, and its marks; every byte: the text as it
/// is), and its needles, put through that view.
struct Form {
    kept: [bool; 256],
    needles: Vec<Needle>,
}

impl Form {
    fn new(marks: &[u8], needles: Vec<Needle>) -> Form {
        let keeps = |b: u8| b.is_ascii_alphanumeric() || marks.contains(&b);
        let kept = std::array::from_fn(|i| u8::try_from(i).is_ok_and(keeps));
        let mut needles = needles;
        for needle in &mut needles {
            needle.text.retain(|b| kept[usize::from(*b)]);
        }
        needles.retain(|n| !n.text.is_empty());
        Form { kept, needles }
    }
}

/// Whether `text` holds a needle of one of `forms`. Forms that keep the
/// same bytes of `text` read it alike: they share one view, and one pass
/// looks for all their needles.
fn found_in(forms: &[Form], text: &[u8], clock: &Clock) -> bool {
    let mut seen = [false; 256];
    for chunk in text.chunks(LOOK_EVERY) {
        if clock.spent(chunk.len()) {
            return false;
        }
        for byte in chunk {
            seen[usize::from(*byte)] = true;
        }
    }
    let alike = |a: &Form, b: &Form| (0..256).all(|i| !seen[i] || a.kept[i] == b.kept[i]);
    for (i, form) in forms.iter().enumerate() {
        // A form an earlier one reads alike was looked for with it.
        if forms[..i].iter().any(|earlier| alike(earlier, form)) {
            continue;
        }
        let group = forms[i..].iter().filter(|other| alike(form, other));
        let needles: Vec<&Needle> = group.flat_map(|f| &f.needles).collect();
        let whole = (0..256).all(|i| !seen[i] || form.kept[i]);
        let view = if whole {
            Cow::Borrowed(text)
        } else {
            view(text, &form.kept, clock)
        };
        if holds(&view, &needles, clock) {
            return true;
        }
    }
    false
}

/// `text` as a form that keeps the bytes `kept` marks reads it (cut short
/// when the deadline passes).
fn view<'a>(text: &'a [u8], kept: &[bool; 256], clock: &Clock) -> Cow<'a, [u8]> {
    // Each byte is written, and the end moved past it only when it is kept.
    let (mut out, mut end) = (vec![0; text.len()], 0);
    for chunk in text.chunks(LOOK_EVERY) {
        if clock.spent(chunk.len()) {
            break;
        }
        for byte in chunk {
            out[end] = *byte;
            end += usize::from(kept[usize::from(*byte)]);
        }
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
            exact.push(Needle::exact(secret));
            continue;
        }
        forms.push(Form::new(&marks, vec![Needle::exact(secret)]));
        let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
        standard.extend([hex.to_uppercase(), hex].map(|hex| Needle::exact(hex.as_bytes())));
        standard.extend(base64_needles(secret, &BASE64));
        url_safe.extend(base64_needles(secret, &URL_SAFE));
    }
    forms.push(Form::new(b"+/", standard));
    forms.push(Form::new(b"-_", url_safe));
    forms.push(Form::new(&(0..=u8::MAX).collect::<Vec<u8>>(), exact));
    forms.retain(|form| !form.needles.is_empty());
    forms
}

/// Whether `view` holds one of the (non-empty) `needles`; false when the
/// deadline passes first.
fn holds(view: &[u8], needles: &[&Needle], clock: &Clock) -> bool {
    let finders: Vec<Finder> = needles.iter().map(|n| Finder::new(&n.text)).collect();
    let overlap = needles.iter().map(|n| n.text.len()).max().unwrap_or(1) - 1;
    for start in (0..view.len()).step_by(LOOK_EVERY) {
        if clock.spent(LOOK_EVERY) {
            return false;
        }
        let chunk = &view[start..view.len().min(start + LOOK_EVERY + overlap)];
        let mut found = finders.iter().zip(needles).flat_map(|(finder, needle)| {
            let at = finder.find_iter(chunk).map(move |at| start + at);
            at.map(move |at| needle.matches(view, at))
        });
        if found.any(|matched| matched) {
            return true;
        }
    }
    false
}

/// `secret`'s base64 in `alphabet` at each of the three offsets it may
/// have inside a longer base64 text: the characters its bytes alone decide
/// (none shorter than [`MIN_NEEDLE`]), each matched only where the
/// characters around it decode to the whole secret.
fn base64_needles<'a>(
    secret: &'a [u8],
    alphabet: &'a GeneralPurpose,
) -> impl Iterator<Item = Needle> + 'a {
    (0..3).filter_map(move |offset| {
        let mut bytes = vec![0; offset];
        bytes.extend_from_slice(secret);
        let encoded = alphabet.encode(&bytes);
        // Skip the characters that hold bits of the `offset` bytes in
        // front, and stop after the last whole group plus one character
        // per byte left over (its other bits belong to what follows).
        let end = bytes.len() / 3 * 4 + bytes.len() % 3;
        let core = encoded.get(LEAD[offset]..end).unwrap_or_default();
        let (text, secret) = (core.as_bytes().to_vec(), secret.to_vec());
        let needle = Needle {
            text,
            secret,
            offset: Some(offset),
        };
        (core.len() >= MIN_NEEDLE).then_some(needle)
    })
}

/// Whether `s` starts with `prefix`, compared byte by byte (most escapes
/// differ at their first or second byte).
fn starts(s: &[u8], prefix: &[u8]) -> bool {
    s.len() >= prefix.len() && prefix.iter().zip(s).all(|(a, b)| a == b)
}

/// `text` with each of `escape`'s escapes, which start with one of
/// `firsts`, decoded in one pass (cut short when the deadline passes);
/// `None` when nothing changed.
fn decoded(
    text: &[u8],
    firsts: [u8; 3],
    clock: &Clock,
    mut escape: impl FnMut(&[u8], &mut Vec<u8>) -> usize,
) -> Option<Vec<u8>> {
    let [a, b, c] = firsts;
    let (mut out, mut i, mut changed) = (Vec::with_capacity(text.len()), 0, false);
    while i < text.len() {
        let window = &text[i..text.len().min(i + LOOK_EVERY)];
        let plain = memchr::memchr3(a, b, c, window).unwrap_or(window.len());
        out.extend_from_slice(&window[..plain]);
        i += plain;
        if i == text.len() || clock.spent(plain + 1) {
            break;
        }
        let used = escape(&text[i..], &mut out);
        if used == 0 {
            out.push(text[i]);
        }
        changed |= used > 0;
        i += used.max(1);
    }
    changed.then_some(out)
}

/// `text` with every escape of C, JSON, JavaScript, Python, URLs and HTML
/// decoded, in one pass, `\`'s as C reads them or, with `css`, as CSS
/// does; `None` when nothing changed, and with `css` when no escape reads
/// differently in CSS (`\` and a hex digit).
fn unescaped(text: &[u8], css: bool, clock: &Clock) -> Option<Vec<u8>> {
    let hex_after = |at: usize| text.get(at + 1).is_some_and(u8::is_ascii_hexdigit);
    let css_in = |at: usize| {
        let chunk = &text[at..text.len().min(at + LOOK_EVERY)];
        clock.spent(chunk.len()) || memchr::memchr_iter(b'\\', chunk).any(|i| hex_after(at + i))
    };
    if css && !(0..text.len()).step_by(LOOK_EVERY).any(css_in) {
        return None;
    }
    decoded(text, [b'%', b'\\', b'&'], clock, |s, out| {
        escape(s, css, out)
    })
}

/// The escape at the start of `s` decoded into `out`: how many bytes it
/// took (0 when it is none).
fn escape(s: &[u8], css: bool, out: &mut Vec<u8>) -> usize {
    let numbers = if css { &CSS[..] } else { &NUMBERS[..] };
    if let Some((code, used, byte)) = numbers.iter().find_map(|escape| number(s, *escape)) {
        match char::from_u32(code) {
            _ if byte => out.push(u8::try_from(code).unwrap_or_default()),
            Some(c) => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
            None => return 0,
        }
        return used;
    }
    if let Some((written, text)) = WORDS.iter().find(|(w, _)| starts(s, w.as_bytes())) {
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
    let rest = s
        .get(prefix.len()..)
        .filter(|_| starts(s, prefix.as_bytes()))?;
    let digit = |d: &u8| char::from(*d).to_digit(radix);
    let digits = rest
        .iter()
        .take(most)
        .take_while(|d| digit(d).is_some())
        .count();
    let ended = rest.get(digits).is_some_and(|b| end.as_bytes().contains(b));
    if digits < fewest || (end == "}" && !ended) {
        return None;
    }
    let value = |n: u32, d: &u8| n.saturating_mul(radix) + digit(d).unwrap_or_default();
    let code = rest[..digits].iter().fold(0, value);
    let used = prefix.len() + digits + usize::from(ended);
    Some((code, used, radix == 16 && most == 2))
}

/// `text` with quoted-printable's escapes and soft line breaks decoded, and
/// MIME encoded-words (`=?charset?Q?…?=`, `?B?`) decoded with the blanks
/// between adjacent ones dropped (RFC 2047 §6.2); `None` when nothing
/// changed.
fn quoted_printable(text: &[u8], clock: &Clock) -> Option<Vec<u8>> {
    decoded(text, [b'='; 3], clock, |s, out| {
        if let Some(used) = encoded_word(s, out) {
            return used;
        }
        match (s, hex_byte(s)) {
            (_, Some(byte)) => out.push(byte),
            ([b'=', b'\r', b'\n', ..], _) => return 3,
            ([b'=', b'\n', ..], _) => return 2,
            _ => return 0,
        }
        3
    })
}

/// The byte quoted-printable's `=XX` writes at the start of `s`.
fn hex_byte(s: &[u8]) -> Option<u8> {
    let (code, ..) = number(s, ("=", 16, 2, 2, ""))?;
    u8::try_from(code).ok()
}

/// The MIME encoded-word at the start of `s` decoded into `out`: how many
/// bytes it took, with the blanks after it when another one follows.
fn encoded_word(s: &[u8], out: &mut Vec<u8>) -> Option<usize> {
    let rest = s.strip_prefix(b"=?")?;
    let charset = rest.iter().take(76).position(|b| *b == b'?')?;
    let [b'?', kind, b'?', rest @ ..] = &rest[charset..] else {
        return None;
    };
    let len = rest.windows(2).take(76).position(|w| w == b"?=")?;
    let word = &rest[..len];
    match kind.to_ascii_uppercase() {
        b'B' => {
            let padding = word.iter().rev().take_while(|b| **b == b'=').count();
            out.extend(LENIENT.decode(&word[..len - padding]).ok()?);
        }
        b'Q' => {
            let mut i = 0;
            while i < len {
                let byte = hex_byte(&word[i..]);
                out.push(byte.unwrap_or(if word[i] == b'_' { b' ' } else { word[i] }));
                i += if byte.is_some() { 3 } else { 1 };
            }
        }
        _ => return None,
    }
    let used = charset + len + 7;
    let blanks = s[used..]
        .iter()
        .take_while(|b| b.is_ascii_whitespace())
        .count();
    Some(
        used + if s[used + blanks..].starts_with(b"=?") {
            blanks
        } else {
            0
        },
    )
}

/// `text`'s runs of bytes written as numbers and as base64, each decoded
/// as a lenient decoder reads it: those that decode to text, each followed
/// by a line break, then the binary ones. A binary run of hex or base64 is
/// not looked in again: its form's needles looked for the credential in it.
///
/// A run of numbers is [`MIN_BYTES`] or more words of hex or of decimal
/// numbers between separators of any kind; a base64 run is [`MIN_RUN`] or
/// more characters of either alphabet, going on over line breaks.
fn runs(text: &[u8], clock: &Clock) -> [Vec<u8>; 2] {
    let mut found = [Vec::new(), Vec::new()];
    let mut keep = |run: &mut Vec<u8>, looked_in: bool| {
        if run.len() >= MIN_BYTES {
            let binary = !is_text(run);
            if !(binary && looked_in) {
                let to = &mut found[usize::from(binary)];
                to.extend_from_slice(run);
                to.push(b'\n');
            }
        }
        run.clear();
    };
    let (mut hex, mut decimal) = (Vec::new(), Vec::new());
    let in_run = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'-' | b'_');
    let runs = text.split(|b| !in_run(b) && !matches!(b, b'\r' | b'\n'));
    for run in runs.filter(|run| !run.is_empty()) {
        if clock.spent(run.len().min(LOOK_EVERY)) {
            break;
        }
        let words = run.split(|b| !b.is_ascii_alphanumeric());
        for word in words.filter(|word| !word.is_empty()) {
            number_word(word, &mut hex, &mut decimal, &mut keep);
        }
        if run.len() >= MIN_RUN && !run.iter().all(u8::is_ascii_hexdigit) {
            let mut bytes = base64(run, clock);
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
        let digit = |d: u8| char::from(d).to_digit(16).unwrap_or_default();
        let pair = |p: &[u8]| u8::try_from(digit(p[0]) << 4 | digit(p[1])).unwrap_or_default();
        hex.extend(digits.chunks_exact(2).map(pair));
    } else {
        keep(hex, true);
    }
    let value = |n: u32, d: &u8| n * 10 + u32::from(d - b'0');
    let number = (word.len() <= 3 && word.iter().all(u8::is_ascii_digit))
        .then(|| word.iter().fold(0, value));
    match number.and_then(|n| u8::try_from(n).ok()) {
        Some(byte) => decimal.push(byte),
        None => keep(decimal, false),
    }
}

/// `run` (base64 of either alphabet, with line breaks) decoded leniently,
/// a last lone character dropped; empty when its first 4 KiB decode to
/// binary, which is not looked in again.
fn base64(run: &[u8], clock: &Clock) -> Vec<u8> {
    let mut run: Vec<u8> = run.iter().filter_map(standard).collect();
    run.truncate(run.len() - usize::from(run.len() % 4 == 1));
    let head = LENIENT
        .decode(&run[..run.len().min(5460)])
        .unwrap_or_default();
    if !is_text(&head) {
        return Vec::new();
    }
    // Groups of four decode alone: a look at the clock between chunks.
    let mut out = Vec::with_capacity(run.len() / 4 * 3);
    for chunk in run.chunks(LOOK_EVERY) {
        if clock.spent(chunk.len()) || LENIENT.decode_vec(chunk, &mut out).is_err() {
            return Vec::new();
        }
    }
    out
}

/// A character of base64 in either alphabet as the standard one writes it;
/// a line break dropped.
fn standard(b: &u8) -> Option<u8> {
    match b {
        b'-' => Some(b'+'),
        b'_' => Some(b'/'),
        b'\r' | b'\n' => None,
        other => Some(*other),
    }
}

/// `text` read as UTF-16 when at least a quarter of its first 4 KiB is NUL:
/// little-endian when most of those NULs fall on odd offsets (as ASCII's
/// do), else big-endian.
fn utf16(text: &[u8], clock: &Clock) -> Option<Vec<u8>> {
    let head = &text[..text.len().min(4096)];
    let nuls = memchr::memchr_iter(0, head).count();
    if nuls == 0 || nuls * 4 < head.len() {
        return None;
    }
    let odd = memchr::memchr_iter(0, head)
        .filter(|at| at % 2 == 1)
        .count();
    let low = usize::from(odd * 2 < nuls);
    let unit = |pair: &[u8]| u16::from(pair[low]) | u16::from(pair[1 - low]) << 8;
    let mut out = String::with_capacity(text.len() / 2);
    let chars = char::decode_utf16(text.chunks_exact(2).map(unit));
    for (i, c) in chars.enumerate() {
        if i % LOOK_EVERY == 0 && clock.spent(LOOK_EVERY) {
            break;
        }
        out.push(c.unwrap_or(char::REPLACEMENT_CHARACTER));
    }
    Some(out.into_bytes())
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
        let clock = Clock {
            deadline: None,
            work: Cell::new(0),
        };
        let text = unescaped(text.as_bytes(), false, &clock).unwrap_or_else(|| text.into());
        String::from_utf8(text).unwrap()
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
        let clock = Clock {
            deadline: None,
            work: Cell::new(0),
        };
        assert!(unescaped(b"plain text", false, &clock).is_none());
        // Quoted-printable is read apart: `=10` in a query stays there.
        assert_eq!(decoded("d=103%2C104"), "d=103,104");
        let joined = quoted_printable(b"=?utf-8?Q?a=5Fb?=\r\n =?UTF-8?B?Yw==?= d", &clock);
        assert_eq!(joined.as_deref(), Some(&b"a_bc d"[..]));
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
