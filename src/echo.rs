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
//!   (`Q` by the same rule, `B` as base64, however long), adjacent ones
//!   joined as RFC 2047 §6.2 says whatever their encodings (over form
//!   encoding's `+` too);
//! - hex in either case, with any of the prefixes `0x`, `0X`, `\x`, `%` and
//!   any separator, none included (`0x670x68`); bytes written as decimal numbers in a list (Node's
//!   `Buffer` as JSON); hex dumps (`xxd`, `hexdump -C`, `od -A x -t x1z`),
//!   each line's bytes as many as the offsets say, its offset and text
//!   columns set apart;
//! - base64 in either alphabet, as a lenient decoder reads it: at any
//!   offset of a longer text, its last partial group, wrapped at any width,
//!   anything outside the alphabet between its characters, and in a JSON
//!   string its line breaks (`\n`, `\r\n`) read as the breaks they write;
//! - UTF-16 in either byte order.
//!
//! Each form is looked for in one view of the text that keeps only letters,
//! digits and the marks the form is written with: line breaks, blanks, `> `
//! quoting, table bars, invisible characters and UTF-16's NULs then hide
//! nothing. The view is read in place, never written: from each place the
//! needle's rarest byte stands, on and back over the bytes it keeps. A
//! match is a match of the credential's every byte: base64
//! found at an offset is decoded with the characters around it, which it
//! shares with its neighbours, and compared whole. Each text is then
//! decoded by each format's decoder apart (percent escapes, HTML's
//! references, the backslash escapes as C reads them and as CSS does,
//! quoted-printable with MIME, runs of numbers, base64 read from each of
//! the four places its groups may start, UTF-16), so
//! that one format's escape never eats another's text (`=10` in a query is
//! no quoted-printable there, an HTML reference inside a JSON escape is
//! read before it), and each decoding looked at the same way; one that is
//! binary (more than one byte in 32 of its first 4 KiB a control
//! character) is not decoded again. Outside the class: keyed or
//! reversible-by-guess transforms (encryption, XOR, reversal, rotations),
//! hashes, compression, and `Content-Encoding` (the transport decodes it). A credential of fewer
//! than [`MIN_CLASS`] letters, digits and marks cannot be told from chance
//! in a long text of letters and digits: it is looked for only exactly as
//! it is, in the text and its decodings.
//!
//! The scan looks at the clock after every [`LOOK_EVERY`] bytes of work
//! (viewed, decoded or searched), however the work is split.

use std::borrow::Cow;
use std::cell::Cell;
use std::collections::HashSet;
use std::hash::{BuildHasher, RandomState};
use std::time::Instant;

use base64::Engine as _;
use base64::alphabet::STANDARD;
use base64::engine::general_purpose::{GeneralPurpose, NO_PAD};
use base64::engine::general_purpose::{STANDARD_NO_PAD as BASE64, URL_SAFE_NO_PAD as URL_SAFE};

use self::decode::{FAMILIES, base64, quoted_printable, runs, standard, unescaped, utf16};

mod decode;

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

/// The longest escape, more than which a decoding keeps around a change:
/// a MIME encoded-word's head, an HTML name, `&#x` and eight digits.
const MARGIN: usize = 96;

/// The shortest base64 needle: shorter ones match text by chance.
const MIN_NEEDLE: usize = 4;

/// Base64's characters in front of the first that a text's own bytes
/// alone decide, for a text at offset 0, 1 and 2 of a group of three.
const LEAD: [usize; 3] = [0, 2, 3];

/// Base64 as a lenient decoder reads it (`-_` read as `+/` before), a last
/// character's spare bits ignored.
const LENIENT: GeneralPurpose =
    GeneralPurpose::new(&STANDARD, NO_PAD.with_decode_allow_trailing_bits(true));

/// Whether `text` holds one of the non-empty `secrets` in a form of the
/// class this module's doc names; `None` when `deadline` passes first.
pub(crate) fn echoes<S: AsRef<str>>(
    text: &[u8],
    secrets: &[S],
    deadline: Option<Instant>,
) -> Option<bool> {
    echoes_of(&forms(secrets), text, deadline)
}

/// [`echoes`] for the [`forms`] of the secrets, built once for every text
/// an answer holds (its headers' values and its body).
pub(crate) fn echoes_of(forms: &[Form], text: &[u8], deadline: Option<Instant>) -> Option<bool> {
    scanned(forms, text, &Scan::new(forms, deadline))
}

/// Whether `text` holds a needle of `forms`, in the scan `scan`.
fn scanned(forms: &[Form], text: &[u8], scan: &Scan) -> Option<bool> {
    let (mut level, mut seen) = (vec![Cow::Borrowed(text)], HashSet::new());
    // Keyed afresh each scan: no body can be made whose decodings collide.
    let keys = RandomState::new();
    for depth in 0..=MAX_NESTING {
        let mut next = Vec::new();
        for text in &level {
            scan.read.set(scan.read.get() + text.len());
            if found_in(forms, text, scan) {
                return Some(true);
            }
            if depth < MAX_NESTING && !scan.spent(0) && is_text(text) {
                let [numbers, binary] = runs(text, scan);
                let escapes = FAMILIES.map(|family| unescaped(text, family, scan));
                let more = [quoted_printable(text, scan), utf16(text, scan)];
                let decoded = escapes.into_iter().chain(more).flatten();
                let decoded = decoded.chain([numbers, binary, base64(text, scan)]);
                for text in decoded {
                    // Two decoders in either order often write one text.
                    if !text.is_empty() && seen.insert(keys.hash_one(&text)) {
                        next.push(text);
                    }
                }
            }
            if scan.spent(0) {
                return None;
            }
        }
        level = next.into_iter().map(Cow::Owned).collect();
    }
    Some(false)
}

/// One scan: the call's deadline, looked at once per [`LOOK_EVERY`] bytes
/// of work (`work` the bytes since the last look; `usize::MAX` once it
/// passed), and how far a decoding is kept around what it changed.
struct Scan {
    deadline: Option<Instant>,
    work: Cell<usize>,
    /// The bytes of every text looked in so far: the body, and each
    /// decoding of it at every level.
    read: Cell<usize>,
    /// Letters and digits kept on either side of a change: the longest
    /// needle and the longest escape ([`MARGIN`]).
    reach: usize,
}

impl Scan {
    /// A scan for `forms` until `deadline`.
    fn new(forms: &[Form], deadline: Option<Instant>) -> Scan {
        let needles = forms.iter().flat_map(|form| &form.needles);
        Scan {
            deadline,
            work: Cell::new(LOOK_EVERY),
            read: Cell::new(0),
            reach: needles.map(|n| n.text.len()).max().unwrap_or(0) + MARGIN,
        }
    }

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
    // Comparisons without a branch, summed in lanes that 4 KiB fits: the
    // compiler reads 16 bytes at a time (a matches! of ranges it does not).
    let control = |&b: &u8| (b < 32) & (b != 0) & (b != 9) & (b != 10) & (b != 13) | (b == 127);
    usize::from(head.iter().map(|b| u16::from(control(b))).sum::<u16>()) * 32 <= head.len()
}

/// A needle in a form's view. One of base64 (its secret, and `offset` its
/// place in a group of three bytes) matches only where the view's
/// characters around it decode to the whole secret.
struct Needle {
    text: Vec<u8>,
    base64: Option<(Vec<u8>, usize)>,
}

impl Needle {
    fn new(text: &[u8], base64: Option<(&[u8], usize)>) -> Needle {
        let base64 = base64.map(|(secret, offset)| (secret.to_vec(), offset));
        Needle {
            text: text.to_vec(),
            base64,
        }
    }

    /// Whether `text`, as `form` reads it, holds the needle with its byte
    /// `k` at `at`: read on from there, then back (the bytes passed over
    /// counted as the scan's work).
    fn at(&self, form: &Form, text: &[u8], at: usize, k: usize, scan: &Scan) -> bool {
        let walked = Cell::new(0);
        let kept = |b: &&u8| {
            walked.set(walked.get() + 1);
            form.kept[usize::from(**b)]
        };
        // The bytes the form keeps on from `at`, and back from it.
        let on = || text[at..].iter().filter(kept);
        let back = || text[..at].iter().rev().filter(kept);
        let read = on().take(self.text.len() - k).eq(&self.text[k..])
            && back().take(k).eq(self.text[..k].iter().rev());
        if scan.spent(walked.get()) || !read {
            return false;
        }
        let Some((secret, offset)) = &self.base64 else {
            return true;
        };
        // The characters it shares with its neighbours, from the first that
        // its own bytes decide, decoded with it.
        let lead = k + LEAD[*offset];
        let before: Vec<&u8> = back().take(lead).collect();
        let chars = before.iter().rev().copied().chain(on());
        let chars = chars.take((4 * (offset + secret.len())).div_ceil(3));
        let decoded = LENIENT.decode(chars.filter_map(standard).collect::<Vec<u8>>());
        before.len() == lead && decoded.is_ok_and(|decoded| decoded.get(*offset..) == Some(secret))
    }
}

/// One form a credential may be written in: which bytes its view keeps
/// (ASCII letters and digits, and its marks; every byte: the text as it
/// is), and its needles, put through that view.
pub(crate) struct Form {
    kept: [bool; 256],
    needles: Vec<Needle>,
}

impl Form {
    fn new(marks: &[u8], needles: Vec<Needle>) -> Form {
        // The marks set once each: a form of every byte asks no search.
        let mut kept: [bool; 256] = std::array::from_fn(|i| (i as u8).is_ascii_alphanumeric());
        marks.iter().for_each(|b| kept[usize::from(*b)] = true);
        let needles = needles.into_iter().map(|needle| {
            let text = needle.text.iter().filter(|b| kept[usize::from(**b)]);
            let text = text.copied().collect();
            Needle { text, ..needle }
        });
        let needles = needles.filter(|n| !n.text.is_empty()).collect();
        Form { kept, needles }
    }
}

/// Whether `text` holds a needle of one of `forms`, read as each form's
/// view reads it (the bytes it drops skipped) without writing the view:
/// from each place the needle's rarest byte in the text's first 4 KiB
/// stands (with the byte after it, in a text of letters and digits alone),
/// the needle is read back and forth (false when the deadline
/// passes first).
fn found_in(forms: &[Form], text: &[u8], scan: &Scan) -> bool {
    let mut counts = [0_u32; 256];
    let head = &text[..text.len().min(4096)];
    head.iter().for_each(|b| counts[usize::from(*b)] += 1);
    let alnum = decode::span(text, true) == text.len();
    let needles = forms
        .iter()
        .flat_map(|form| form.needles.iter().map(move |n| (form, n)));
    for (form, needle) in needles {
        let rarest = |k: &usize| counts[usize::from(needle.text[*k])];
        let k = (0..needle.text.len()).min_by_key(rarest).unwrap_or(0);
        // In letters and digits alone, each view is the text: the needle's
        // rarest byte and the next stand side by side (far rarer).
        let anchor = &needle.text[k..needle.text.len().min(k + 1 + usize::from(alnum))];
        for start in (0..text.len()).step_by(LOOK_EVERY) {
            let chunk = &text[start..text.len().min(start + LOOK_EVERY + anchor.len() - 1)];
            if scan.spent(chunk.len()) {
                return false;
            }
            for at in memchr::memmem::find_iter(chunk, anchor) {
                if needle.at(form, text, start + at, k, scan) {
                    return true;
                } else if scan.spent(0) {
                    return false;
                }
            }
        }
    }
    false
}

/// The forms `secrets` are looked for in: each long one raw, with its own
/// punctuation for marks; its base64 at any offset and its hex in either
/// case (`+/`); its URL-safe base64 (`-_`); the short ones exactly.
pub(crate) fn forms<S: AsRef<str>>(secrets: &[S]) -> Vec<Form> {
    let (mut forms, mut exact, mut standard, mut url_safe) = (vec![], vec![], vec![], vec![]);
    for secret in secrets.iter().map(|s| s.as_ref().as_bytes()) {
        // Marks: what a raw form is written with besides letters, digits and blanks.
        let mark = |b: &u8| !b.is_ascii_alphanumeric() && !b.is_ascii_whitespace();
        let marks: Vec<u8> = secret.iter().copied().filter(mark).collect();
        if secret.iter().filter(|b| !b.is_ascii_whitespace()).count() < MIN_CLASS {
            exact.push(Needle::new(secret, None));
            continue;
        }
        forms.push(Form::new(&marks, vec![Needle::new(secret, None)]));
        let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
        standard.extend([hex.to_uppercase(), hex].map(|hex| Needle::new(hex.as_bytes(), None)));
        standard.extend(base64_needles(secret, &BASE64));
        url_safe.extend(base64_needles(secret, &URL_SAFE));
    }
    forms.push(Form::new(b"+/", standard));
    forms.push(Form::new(b"-_", url_safe));
    forms.push(Form::new(&(0..=u8::MAX).collect::<Vec<u8>>(), exact));
    forms.retain(|form| !form.needles.is_empty());
    forms
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
        (core.len() >= MIN_NEEDLE).then(|| Needle::new(core.as_bytes(), Some((secret, offset))))
    })
}

// The class as a property of random nestings (test-only).
#[cfg(test)]
mod properties;

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
    fn base64_in_a_json_string_reads_as_it_will_unescaped() {
        use base64::engine::general_purpose::STANDARD;
        let token = TOKENS[0];
        let scan = Scan::new(&forms(&[token]), None);
        let text = format!("{token} in a file's own words, {{\"k\": [1, 2]}}. ").repeat(20);
        let encoded = STANDARD.encode(&text);
        for line_break in ["\\n", "\\r\\n"] {
            let lines: Vec<&str> = (0..encoded.len())
                .step_by(60)
                .map(|at| &encoded[at..(at + 60).min(encoded.len())])
                .collect();
            let json = format!(r#"{{"content":"{}"}}"#, lines.join(line_break));
            let read = base64(json.as_bytes(), &scan);
            // Whole, not a line's bytes at a time: the `n` of `\n` is no character.
            assert!(
                read.windows(text.len()).any(|w| w == text.as_bytes()),
                "{line_break}"
            );
            let unescaped = unescaped(json.as_bytes(), FAMILIES[2], &scan)
                .pop()
                .unwrap();
            assert_eq!(
                read,
                base64(&unescaped, &scan),
                "one text, as it will be unescaped"
            );
            assert_eq!(echoes(json.as_bytes(), &[token], None), Some(true));
        }
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
        let scan = Scan {
            deadline: None,
            work: Cell::new(0),
            read: Cell::new(0),
            reach: 1 << 20,
        };
        let mut families = FAMILIES.iter();
        let found = families.find_map(|family| unescaped(text.as_bytes(), *family, &scan).pop());
        let text = found.unwrap_or_else(|| text.into());
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
        let scan = Scan {
            deadline: None,
            work: Cell::new(0),
            read: Cell::new(0),
            reach: 1 << 20,
        };
        assert!(
            FAMILIES
                .iter()
                .all(|f| unescaped(b"plain text", *f, &scan).is_empty())
        );
        // Quoted-printable is read apart: `=10` in a query stays there.
        assert_eq!(decoded("d=103%2C104"), "d=103,104");
        let joined = quoted_printable(b"=?utf-8?Q?a=5Fb?=\r\n =?UTF-8?B?Yw==?= d", &scan);
        assert_eq!(joined, [b"a_bc d".to_vec()]);
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

    /// Bodies of the kinds the bench measures, about `size` bytes each.
    fn kinds(size: usize) -> Vec<(&'static str, Vec<u8>)> {
        use base64::engine::general_purpose::STANDARD;
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let fill = |text: &str| text.bytes().cycle().take(size).collect::<Vec<u8>>();
        let mut listing = String::new();
        while listing.len() < size {
            let signature = STANDARD.encode((0..96).map(|_| next() as u8).collect::<Vec<u8>>());
            listing += &format!(
                r#"{{"sha":"{:016x}","message":"Fix \"parser\" (\\u00e9)\n\nsee https://x.example/a?v=4&b=2","signature":"-----BEGIN PGP SIGNATURE-----\n\n{}\n=Ab3x\n-----END PGP SIGNATURE-----"}},"#,
                next(),
                signature
            );
        }
        let dump: String = listing.as_bytes()[..size / 4]
            .chunks(16)
            .enumerate()
            .map(|(i, line)| {
                let hex: String = line.iter().map(|b| format!("{b:02x}")).collect();
                let text: String = line
                    .iter()
                    .map(|&b| {
                        if (0x20..0x7f).contains(&b) {
                            char::from(b)
                        } else {
                            '.'
                        }
                    })
                    .collect();
                format!("{:08x}: {hex}  {text}\n", i * 16)
            })
            .collect();
        let content = STANDARD.encode(&listing.as_bytes()[..size * 3 / 4]);
        let lines: Vec<&str> = (0..content.len())
            .step_by(60)
            .map(|at| &content[at..(at + 60).min(content.len())])
            .collect();
        let letters = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        vec![
            (
                "letters",
                (0..size).map(|_| letters[(next() % 62) as usize]).collect(),
            ),
            ("listing", listing.into_bytes()),
            ("xxd", dump.into_bytes()),
            (
                "base64 in JSON",
                format!(r#"{{"content":"{}"}}"#, lines.join("\\n")).into_bytes(),
            ),
            ("CSS", fill(".i:before{content:\"\\f101\"}\n")),
            ("nested", fill("\\u0025\\/%2525+")),
            ("&#", [b"&#".to_vec(), vec![b'7'; size]].concat()),
            ("\\u005c", fill("\\u005c")),
            ("CSS \\5c", fill("\\5c \\5c ")),
            ("1,", fill("1,")),
            ("prefix", fill("ghp_R2d9Kq7LmX4vT8sB1nZ6wY3 ")),
        ]
    }

    #[test]
    fn the_bytes_a_scan_reads_are_a_small_multiple_of_the_body_whatever_it_holds() {
        // The bytes of every text looked in (the body and its decodings, at
        // every level) over the body's: bounded by READ_AT_MOST, and the
        // same per byte at 128 KiB and 512 KiB (linear).
        const READ_AT_MOST: f64 = 8.0;
        let secret = ["ghp_R2d9Kq7LmX4vT8sB1nZ6wY3cH5jF0aE"];
        let forms = forms(&secret);
        let read = |body: &[u8]| {
            let scan = Scan::new(&forms, None);
            assert_eq!(scanned(&forms, body, &scan), Some(false));
            scan.read.get()
        };
        for ((kind, small), (_, large)) in kinds(128 << 10).into_iter().zip(kinds(512 << 10)) {
            let (small_read, large_read) = (read(&small), read(&large));
            let per_byte = |read: usize, len: usize| read as f64 / len as f64;
            let (small_per, large_per) = (
                per_byte(small_read, small.len()),
                per_byte(large_read, large.len()),
            );
            assert!(
                small_per.max(large_per) <= READ_AT_MOST,
                "{kind}: {small_per:.1}x, {large_per:.1}x"
            );
            let growth = large_per / small_per;
            assert!(
                growth < 1.3,
                "{kind}: {growth:.2} times the work per byte at 4 times the size ({small_read} {large_read})"
            );
        }
    }
}
