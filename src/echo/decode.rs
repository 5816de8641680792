//! The decoders of the echo class, one a format family: each reads a text
//! and writes what it holds in another form, as [`islands`] around what it
//! changed where an escape decoder wrote it, whole where a run decoder,
//! base64 or UTF-16 did. The rule, the forms and the search are the parent module's.

use std::ops::Range;

use base64::Engine as _;

use super::{LENIENT, LOOK_EVERY, Scan, is_text};

/// The fewest bytes a run of hex or decimal numbers is decoded for, and a
/// stretch of text a base64 decoding is kept for.
const MIN_BYTES: usize = 8;

/// The escapes written as a prefix and a number, in the order they are
/// tried, as C, JSON, JavaScript, Python, URLs and HTML write them:
/// (prefix, radix, fewest digits, most digits, what may end it). A `}` end
/// is needed, any other may be left out. Two hex digits stand for a byte
/// (`%C3%A9` is `é`), any other number for a character.
#[rustfmt::skip]
const NUMBERS: [Row; 10] = [
    ("%u", 16, 4, 4, ""), ("%", 16, 2, 2, ""), ("\\x", 16, 2, 2, ""),
    ("\\u{", 16, 1, 6, "}"), ("\\u", 16, 4, 4, ""), ("\\U", 16, 8, 8, ""), ("\\", 8, 1, 3, ""),
    ("&#x", 16, 1, 8, ";"), ("&#X", 16, 1, 8, ";"), ("&#", 10, 1, 8, ";"),
];

/// CSS's escape, read in place of the `\` ones of [`NUMBERS`]: one to six
/// hex digits and one blank after them (form encoding's `+` one too).
#[rustfmt::skip]
const CSS: [Row; 1] = [("\\", 16, 1, 6, " \t\n\r\x0c+")];

/// An escape of a prefix and a number: see [`NUMBERS`].
type Row = (&'static str, u32, usize, usize, &'static str);

/// The escapes that stand for a fixed text, as (written, text) pairs, in
/// two tables, those that start with a backslash and those with `&`: the
/// one-letter escapes of C, JSON, JavaScript and Python, line
/// continuations, and HTML's named character references that stand for
/// ASCII (every one of WHATWG's list, the legacy names without `;` after
/// those with it).
#[rustfmt::skip]
const WORDS: [&[(&str, &str)]; 2] = [&[
    ("\\n", "\n"), ("\\r", "\r"), ("\\t", "\t"), ("\\b", "\x08"), ("\\f", "\x0c"),
    ("\\v", "\x0b"), ("\\a", "\x07"), ("\\e", "\x1b"), ("\\\r\n", ""), ("\\\n", ""),
], &[
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
]];

/// Whether `s` starts with `prefix`, compared byte by byte (most escapes
/// differ at their first or second byte).
fn starts(s: &[u8], prefix: &[u8]) -> bool {
    s.len() >= prefix.len() && prefix.iter().zip(s).all(|(a, b)| a == b)
}

/// `text` with each of `escape`'s escapes, which start with `first`,
/// decoded in one pass (cut short when the deadline passes), as
/// the [`islands`] around what it changed; none when nothing changed.
fn decoded(
    text: &[u8],
    first: u8,
    scan: &Scan,
    mut escape: impl FnMut(&[u8], &mut Vec<u8>) -> usize,
) -> Vec<Vec<u8>> {
    // A text without the byte is not copied (a look at the clock a chunk).
    let holds = |c: &[u8]| scan.spent(c.len()) || memchr::memchr(first, c).is_some();
    if !text.chunks(LOOK_EVERY).any(holds) {
        return Vec::new();
    }
    let (mut out, mut i) = (Vec::with_capacity(text.len()), 0);
    let mut changes: Vec<Range<usize>> = Vec::new();
    while i < text.len() {
        let window = &text[i..text.len().min(i + LOOK_EVERY)];
        // Escapes stand close in the texts that hold many: a look first.
        let near = window.iter().take(16).position(|b| *b == first);
        let plain = near.or_else(|| memchr::memchr(first, window));
        let plain = plain.unwrap_or(window.len());
        out.extend_from_slice(&window[..plain]);
        i += plain;
        if i == text.len() || scan.spent(plain + 1) {
            break;
        }
        // A window without an escape ends on a byte that starts none.
        let at = out.len();
        let used = (text[i] == first).then(|| escape(&text[i..], &mut out));
        let used = used.unwrap_or(0);
        match changes.last_mut() {
            _ if used == 0 => out.push(text[i]),
            // Changes `reach` bytes apart or closer are in one island.
            Some(last) if at - last.end <= scan.reach => last.end = out.len(),
            _ => changes.push(at..out.len()),
        }
        i += used.max(1);
    }
    islands(out, &changes, scan.reach)
}

/// The parts of a decoding `text` around the `changes` it made: `reach`
/// letters and digits on either side, and on to the ends of the base64 or
/// hex run a part ends in; the whole text when they cover half of it.
///
/// A match in a decoding holds a byte it changed (or spans one it
/// dropped): one that holds none was there before it, in the text it
/// decoded, and is found there or in a sibling decoding of that text.
/// Every needle is shorter than `reach`, and so is every escape.
fn islands(text: Vec<u8>, changes: &[Range<usize>], reach: usize) -> Vec<Vec<u8>> {
    fn walk<'a>(bytes: impl Iterator<Item = &'a u8>, reach: usize) -> usize {
        let mut letters = 0;
        let within = |b: &&u8| {
            letters += usize::from(b.is_ascii_alphanumeric());
            // Past its letters, an island goes on to the end of a base64 run:
            // either alphabet's two more characters and line breaks.
            let in_run = matches!(b, b'+' | b'/' | b'-' | b'_' | b'\r' | b'\n');
            letters <= reach || b.is_ascii_alphanumeric() || in_run
        };
        bytes.take_while(within).count()
    }
    let mut spans: Vec<Range<usize>> = Vec::new();
    for change in changes {
        let floor = spans.last().map_or(0, |last| last.end);
        let from = change.end.max(floor);
        let end = from + walk(text[from..].iter(), reach);
        match spans.last_mut() {
            Some(last) if change.start <= last.end => last.end = end,
            _ => {
                let start = change.start - walk(text[floor..change.start].iter().rev(), reach);
                spans.push(start..end);
            }
        }
    }
    if spans.iter().map(ExactSizeIterator::len).sum::<usize>() * 2 >= text.len() {
        return Vec::from_iter((!spans.is_empty()).then_some(text));
    }
    spans.into_iter().map(|span| text[span].to_vec()).collect()
}

/// The families of escapes, each decoded apart so that one never eats
/// another's text: URLs' percent escapes, HTML's references, and the
/// backslash escapes as C, JSON, JavaScript and Python read them or as CSS
/// does (the first byte of each, and whether it is CSS).
pub(super) const FAMILIES: [(u8, bool); 4] =
    [(b'%', false), (b'&', false), (b'\\', false), (b'\\', true)];

/// `text` with every escape of one family (its first byte and whether it is
/// CSS) decoded, in one pass; no text when nothing changed, and for CSS when
/// no escape reads differently there (`\` and a hex digit).
pub(super) fn unescaped(text: &[u8], (first, css): (u8, bool), scan: &Scan) -> Vec<Vec<u8>> {
    let hex_after = |at: usize| text.get(at + 1).is_some_and(u8::is_ascii_hexdigit);
    let css_in = |at: usize| {
        let chunk = &text[at..text.len().min(at + LOOK_EVERY)];
        scan.spent(chunk.len()) || memchr::memchr_iter(b'\\', chunk).any(|i| hex_after(at + i))
    };
    if css && !(0..text.len()).step_by(LOOK_EVERY).any(css_in) {
        return Vec::new();
    }
    // The family's own rows, in their order: the others start otherwise.
    let rows = if css { &CSS[..] } else { &NUMBERS[..] }.iter().copied();
    let rows: Vec<Row> = rows.filter(|row| row.0.as_bytes()[0] == first).collect();
    decoded(text, first, scan, |s, out| escape(s, &rows, out))
}

/// The escape at the start of `s` decoded into `out`: how many bytes it
/// took (0 when it is none).
fn escape(s: &[u8], numbers: &[Row], out: &mut Vec<u8>) -> usize {
    let mut written = numbers.iter().filter(|row| starts(s, row.0.as_bytes()));
    if let Some((code, used, byte)) = written.find_map(|escape| number(s, *escape)) {
        match char::from_u32(code) {
            _ if byte => out.push(u8::try_from(code).unwrap_or_default()),
            Some(c) => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
            None => return 0,
        }
        return used;
    }
    let words = WORDS[usize::from(s[0] == b'&')];
    if let Some((written, text)) = words.iter().find(|(w, _)| starts(s, w.as_bytes())) {
        out.extend_from_slice(text.as_bytes());
        return written.len();
    }
    let [b'\\', other, ..] = s else {
        return 0;
    };
    out.push(*other);
    2
}

/// The number `escape` (a row of [`NUMBERS`]) writes at the start of `s`,
/// which starts with its prefix: its value, how many bytes it took, and
/// whether it stands for a byte.
fn number(s: &[u8], escape: Row) -> Option<(u32, usize, bool)> {
    let (prefix, radix, fewest, most, end) = escape;
    let rest = s.get(prefix.len()..)?;
    let digit = |d: &u8| char::from(*d).to_digit(radix);
    let is_digit = |d: &&u8| digit(d).is_some();
    let digits = rest.iter().take(most).take_while(is_digit).count();
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
/// between adjacent ones dropped (RFC 2047 §6.2), form encoding's `+` one
/// of them; no text when nothing changed.
pub(super) fn quoted_printable(text: &[u8], scan: &Scan) -> Vec<Vec<u8>> {
    let mut ends = (0, 0);
    decoded(text, b'=', scan, |s, out| {
        if let Some(used) = encoded_word((s, text.len() - s.len(), text), &mut ends, out) {
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
    let is_pair = |p: &&[u8]| s[0] == b'=' && p.iter().all(u8::is_ascii_hexdigit);
    s.get(1..3).filter(is_pair).map(hex_pair)
}

/// The MIME encoded-word at the start of `s` (at `at` in `text`) decoded
/// into `out`: how many bytes it took, with the blanks (or form encoding's
/// `+`) after it when another one follows, whatever its encoding (RFC 2047
/// §6.2). Its text ends at its `?=`, however long (lenient decoders read
/// words over RFC 2047's 75 characters), unless a blank comes first (a
/// word holds none); `ends`, the next `?=` and blank after a place asked
/// about, is found once for every place before it: one search a text.
fn encoded_word(
    (s, at, text): (&[u8], usize, &[u8]),
    ends: &mut (usize, usize),
    out: &mut Vec<u8>,
) -> Option<usize> {
    let rest = s.strip_prefix(b"=?")?;
    let charset = rest.iter().take(76).position(|b| *b == b'?')?;
    let [b'?', kind, b'?', rest @ ..] = &rest[charset..] else {
        return None;
    };
    let from = at + charset + 5;
    let after = |found: Option<usize>| found.map_or(usize::MAX, |n| from + n);
    if ends.0 < from {
        ends.0 = after(memchr::memmem::find(&text[from..], b"?="));
    }
    if ends.1 < from {
        ends.1 = after(memchr::memchr3(b' ', b'\t', b'\n', &text[from..]));
    }
    let word = &rest[..(ends.0 < ends.1).then(|| ends.0 - from)?];
    match kind.to_ascii_uppercase() {
        b'B' => {
            let padding = word.iter().rev().take_while(|b| **b == b'=').count();
            out.extend(LENIENT.decode(&word[..word.len() - padding]).ok()?);
        }
        b'Q' => {
            let mut i = 0;
            while i < word.len() {
                let byte = hex_byte(&word[i..]);
                out.push(byte.unwrap_or(if word[i] == b'_' { b' ' } else { word[i] }));
                i += if byte.is_some() { 3 } else { 1 };
            }
        }
        _ => return None,
    }
    let used = charset + word.len() + 7;
    let blank = |b: &&u8| b.is_ascii_whitespace() || **b == b'+';
    let blanks = s[used..].iter().take_while(blank).count();
    let joined = s[used + blanks..].starts_with(b"=?");
    Some(used + if joined { blanks } else { 0 })
}

/// `text`'s runs of bytes written as numbers, each decoded: those that
/// decode to text, each followed by a blank (no run goes on over it: two
/// runs never read as one), then the binary ones. A binary run of hex is
/// not looked in again: its form's needles looked for the credential in it.
///
/// A run is [`MIN_BYTES`] or more words of hex or of decimal numbers
/// between separators of any kind, or a hex dump's lines (see [`Dumped`]).
pub(super) fn runs(text: &[u8], scan: &Scan) -> [Vec<u8>; 2] {
    let mut found = [Vec::new(), Vec::new()];
    let mut keep = |run: &mut Vec<u8>, looked_in: bool| {
        if run.len() >= MIN_BYTES {
            let binary = !is_text(run);
            if !(binary && looked_in) {
                let to = &mut found[usize::from(binary)];
                to.extend_from_slice(run);
                to.push(b' ');
            }
        }
        run.clear();
    };
    let (mut hex, mut decimal) = (Vec::new(), Vec::new());
    // Words of letters and digits; a hex dump's lines are read whole, onto
    // one hex run.
    let (mut i, mut dumped) = (0, Dumped::default());
    while i < text.len() {
        let from = i;
        let start = i + span(&text[i..], false);
        let line = text[i..start].iter().rposition(|b| *b == b'\n');
        let line = line.map(|n| i + n + 1).or((i == 0).then_some(0));
        if let Some((end, bytes)) = line.and_then(|line| dumped.line(text, line)) {
            if dumped.began {
                keep(&mut hex, true);
                keep(&mut decimal, false);
            }
            hex.extend(bytes);
            i = end;
        } else {
            i = start + span(&text[start..], true);
            if start < i {
                number_word(&text[start..i], &mut hex, &mut decimal, &mut keep);
            }
        }
        if scan.spent((i - from).min(LOOK_EVERY)) {
            break;
        }
    }
    keep(&mut hex, true);
    keep(&mut decimal, false);
    found
}

/// How many bytes `s` starts with that are (`alnum`), or are not, ASCII
/// letters and digits: past 16, 32 at a time without a branch a byte (a
/// word of megabytes is read at memory's pace).
#[inline(always)] // twice a word: the call cost more than a short span (1,1,1: 27 → 21 ms)
pub(super) fn span(s: &[u8], alnum: bool) -> usize {
    let is = |b: &u8| ((b.wrapping_sub(b'0') < 10) | ((b | 0x20).wrapping_sub(b'a') < 26)) == alnum;
    let short = s.iter().take(16).take_while(|b| is(b)).count();
    if short < 16 {
        return short;
    }
    let long = |c: &&[u8]| c.iter().fold(true, |all, b| all & is(b));
    let whole = short + s[short..].chunks_exact(32).take_while(long).count() * 32;
    whole + s[whole..].iter().take_while(|b| is(b)).count()
}

/// Where a hex dump (`xxd`, `hexdump -C`, `od -A x -t x1z`: lines of an
/// offset, the bytes from it in hex, then maybe their text) is read up to:
/// the next line's offset, and how many bytes a line shows.
#[derive(Default)]
struct Dumped {
    expected: Option<usize>,
    width: usize,
    /// How far into its line the last full line's bytes were written: the
    /// last line's stop there too (the text column is aligned after them).
    data_end: usize,
    /// Whether the last line read began a dump (its bytes start a hex run).
    began: bool,
}

impl Dumped {
    /// The line at `at` read as a hex dump's line: where it ends, and the
    /// bytes it shows, as many as the next line's offset says (the last line
    /// of a dump, as many as the one before it), its offset and text column
    /// left out. `None` for any other line.
    fn line(&mut self, text: &[u8], at: usize) -> Option<(usize, Vec<u8>)> {
        let (offset, rest) = dump_offset(&text[at..])?;
        let start = text.len() - rest.len();
        let end = memchr::memchr(b'\n', rest).map_or(text.len(), |n| start + n);
        let next = text.get(end + 1..).and_then(dump_offset);
        let next = next.map(|(next, _)| next.wrapping_sub(offset));
        let full = next.filter(|w| (1..=256).contains(w));
        let width = full.or((self.expected == Some(offset)).then_some(self.width))?;
        self.began = self.expected != Some(offset);
        let first = offset.checked_sub(width).filter(|_| self.began);
        let mut bytes = first.map_or(Vec::new(), |first| first_line(&text[..at], first, width));
        let last = full.map_or(end.min(at + self.data_end).max(start), |_| end);
        let (shows, read) = shown(&text[start..last], width);
        bytes.extend(shows);
        self.data_end = full.map_or(self.data_end, |_| start - at + read);
        (self.expected, self.width) = (Some(offset.wrapping_add(width)), width);
        Some((end, bytes))
    }
}

/// The bytes a hex dump's line `line` (after its offset) shows, `width` at
/// most: its hex digits, blanks between them skipped, up to the first byte
/// that is neither (its text column); and how far into `line` they end.
fn shown(line: &[u8], width: usize) -> (Vec<u8>, usize) {
    let (mut digits, mut read) = (Vec::with_capacity(2 * width), 0);
    for (i, b) in line.iter().enumerate() {
        if digits.len() == 2 * width || !(dump_blank(b) || b.is_ascii_hexdigit()) {
            break;
        }
        if !dump_blank(b) {
            digits.push(*b);
            read = i + 1;
        }
    }
    (digits.chunks_exact(2).map(hex_pair).collect(), read)
}

/// The bytes a dump's first line shows where other text starts that line
/// (`{"output": "00000000: …`): the end of the last line of `before` read
/// from a word that is the offset `first` and is followed by all `width`
/// bytes (not its copy in a text column); none when it holds no such word.
fn first_line(before: &[u8], first: usize, width: usize) -> Vec<u8> {
    let line = before.strip_suffix(b"\n").unwrap_or(before);
    // Its last 2 KiB: a line of 256 bytes and its text (xxd's widest) fits.
    let from = line.len().saturating_sub(2048);
    let line = &line[memchr::memrchr(b'\n', &line[from..]).map_or(from, |n| from + n + 1)..];
    let words = (0..line.len()).filter(|p| *p == 0 || !line[p - 1].is_ascii_alphanumeric());
    let offsets = words.filter_map(|p| dump_offset(&line[p..]));
    let mut lines = offsets.filter(|(offset, _)| *offset == first);
    let shows = lines.find_map(|(_, rest)| Some(shown(rest, width).0).filter(|b| b.len() == width));
    shows.unwrap_or_default()
}

/// The offset of the hex dump's line `text` starts with (after blanks, 4
/// to 16 hex digits, then `:` or a blank), and the text after it; none for
/// any other line.
fn dump_offset(text: &[u8]) -> Option<(usize, &[u8])> {
    let line = &text[text.iter().take_while(|b| dump_blank(b)).count()..];
    let digits = line
        .iter()
        .take(17)
        .take_while(|b| b.is_ascii_hexdigit())
        .count();
    let after = line
        .get(digits)
        .is_some_and(|b| *b == b':' || dump_blank(b));
    let value = |n: usize, d: &u8| n.checked_mul(16)?.checked_add(usize::from(hex_pair(&[*d])));
    let offset = line[..digits].iter().try_fold(0, value);
    let offset = offset.filter(|_| (4..=16).contains(&digits) && after)?;
    Some((offset, &line[digits + 1..]))
}

/// A blank inside a hex dump's line (form encoding's `+` one too).
fn dump_blank(b: &u8) -> bool {
    matches!(b, b' ' | b'\t' | b'+')
}

/// Reads `word` as hex (any case, an even count of digits, between letters
/// that are no hex digit, as `x78`, `h78`, `78h`, or after `0x`, `0X`;
/// glued prefixes, `0x670x68`, each apart) onto
/// the `hex` run, and as a decimal number up to 255 onto the `decimal` one;
/// a run the word does not go on ends, and `keep` takes it.
fn number_word(
    word: &[u8],
    hex: &mut Vec<u8>,
    decimal: &mut Vec<u8>,
    keep: &mut impl FnMut(&mut Vec<u8>, bool),
) {
    let letter = |b: &u8| b.is_ascii_alphabetic() && !b.is_ascii_hexdigit();
    let end = word.iter().rposition(|b| !letter(b)).map_or(0, |e| e + 1);
    let word = &word[word.iter().position(|b| !letter(b)).unwrap_or(end)..end];
    let digits = word.strip_prefix(b"0x").or(word.strip_prefix(b"0X"));
    let digits = digits.unwrap_or(word);
    // Prefixes with no separator between them (`0x670x68`, an even count
    // too): each `x` is the next prefix's, the `0` before it not a digit.
    let mut parts = digits.split(|b| matches!(b, b'x' | b'X')).peekable();
    let (ran, even) = (hex.len(), |p: &&[u8]| p.len() % 2 == 0 && !p.is_empty());
    if digits.len() % 2 == 1 {
        keep(hex, true);
    }
    while let Some(part) = (digits.len() % 2 == 0).then(|| parts.next()).flatten() {
        let part = parts.peek().map_or(Some(part), |_| part.strip_suffix(b"0"));
        let hex_digits = |p: &&[u8]| p.iter().all(u8::is_ascii_hexdigit);
        let Some(part) = part.filter(even).filter(hex_digits) else {
            hex.truncate(ran);
            keep(hex, true);
            break;
        };
        hex.extend(part.chunks_exact(2).map(hex_pair));
    }
    let value = |n: u32, d: &u8| n * 10 + u32::from(d - b'0');
    let number = (word.len() <= 3 && word.iter().all(u8::is_ascii_digit))
        .then(|| word.iter().fold(0, value));
    match number.and_then(|n| u8::try_from(n).ok()) {
        Some(byte) => decimal.push(byte),
        None => keep(decimal, false),
    }
}

/// The byte two hex digits write, or one (`pair` holds hex digits alone:
/// each caller checks them).
fn hex_pair(pair: &[u8]) -> u8 {
    let digit = |d: &u8| (d & 0xf) + 9 * (d >> 6);
    pair.iter().fold(0, |n, d| n << 4 | digit(d))
}

/// The standard base64 alphabet, in the order of its characters' values.
const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// For each byte, the character of standard base64 it stands for in either
/// alphabet (0 for none); and for each character of standard base64, the
/// places in a group of four where it leaves the byte it writes under 0x80:
/// bit 0 the first (a value under 32), bit 1 the second (its low four bits
/// under 8), bit 2 the third (its low two bits under 2); the fourth place
/// is free.
const TABLES: [[u8; 256]; 2] = tables();

const fn tables() -> [[u8; 256]; 2] {
    let (mut standard, mut ascii_at, mut value) = ([0; 256], [0; 256], 0);
    while value < 64 {
        let c = ALPHABET[value];
        standard[c as usize] = c;
        // Whether the character, first, second or third in a group, can
        // make the byte it begins printable, a blank, a line break or NUL.
        let first = (value < 32 && !matches!(value, 1 | 4..=7)) as u8;
        let second = (value & 15 < 8 && value & 15 != 1) as u8;
        let third = (value & 3 < 2) as u8;
        ascii_at[c as usize] = first | second << 1 | third << 2;
        value += 1;
    }
    (standard[b'-' as usize], standard[b'_' as usize]) = (b'+', b'/');
    [standard, ascii_at]
}

/// `text` read as base64 as a lenient decoder reads it, wherever in it
/// the base64 starts: its characters of either alphabet (all else skipped,
/// as such a decoder skips it, and a JSON string's `\n` and `\r\n` too: its
/// base64 then reads as it will unescaped, one text where its lines read at
/// four places were one a line), at each of the four places a group may
/// start, each stretch of [`MIN_BYTES`] or more that reads as text
/// (printable ASCII, blanks, line breaks, UTF-16's NULs) kept, a blank
/// between two. A base64 text's bytes come out whole from the place it
/// starts at, whatever stands before it; its neighbours decode to bytes of
/// chance, seldom text that long. Only runs of two or more groups whose
/// characters could each make a byte of such text are decoded (with a
/// group either side); where stretches of two places share more than
/// [`MIN_BYTES`] characters, the longer is kept (the other read them in
/// groups they are not written in).
pub(super) fn base64(text: &[u8], scan: &Scan) -> Vec<u8> {
    let (mut view, mut from) = (Vec::with_capacity(text.len()), 0);
    // A JSON string's line break (`\n`, `\r\n`) is no base64: a string's
    // base64 reads as it will unescaped, one text (not one a line).
    for at in memchr::memmem::find_iter(text, b"\\n").chain([text.len()]) {
        let end = at - 2 * usize::from(text[from..at].ends_with(b"\\r"));
        for chunk in text[from..end].chunks(LOOK_EVERY) {
            if scan.spent(chunk.len()) {
                return Vec::new();
            }
            view.extend(chunk.iter().filter_map(standard));
        }
        from = at + 2;
        if scan.spent(2) {
            return Vec::new();
        }
    }
    // 1 where the group from a character on and the one after it could
    // each make three bytes of text (in chunks that overlap by the six
    // characters the last one's groups read on).
    let mut pairs = Vec::with_capacity(view.len());
    for from in (0..view.len()).step_by(LOOK_EVERY) {
        let chunk = &view[from..view.len().min(from + LOOK_EVERY + 6)];
        if scan.spent(chunk.len()) {
            return Vec::new();
        }
        let roles: Vec<u8> = chunk.iter().map(|c| TABLES[1][usize::from(*c)]).collect();
        // The roles from each of a pair's six characters on, side by side.
        let n = roles.len().saturating_sub(6).min(LOOK_EVERY);
        let [a, b, c, _, d, e, f] =
            std::array::from_fn(|k| roles.get(k..k + n).unwrap_or_default());
        let both = |i: usize| a[i] & b[i] >> 1 & c[i] >> 2 & d[i] & e[i] >> 1 & f[i] >> 2 & 1;
        pairs.extend((0..n).map(both));
    }
    // Each run of such groups, with a group either side, decoded once (past
    // where all four places have been read, no run is looked for).
    let (mut found, mut done, mut from) = (Found::default(), [0; 4], 0);
    while let Some(p) = pairs
        .get(from..)
        .and_then(|rest| memchr::memchr(1, rest))
        .map(|at| from + at)
    {
        from = p + 1;
        if p < done[p % 4] {
            continue;
        }
        // Its pairs taken: no later search meets one inside it again.
        let run = pairs[p..].iter_mut().step_by(4).take_while(|a| **a == 1);
        let run = 1 + run.map(std::mem::take).count();
        let chars = p.checked_sub(4).unwrap_or(p)..view.len().min(p + 4 * run + 4);
        done[p % 4] = chars.end;
        from = from.max(done.into_iter().min().unwrap_or(0));
        if !stretches_in(&view, chars, scan, &mut found) {
            return Vec::new();
        }
    }
    // In the order they stand; of two that share more than MIN_BYTES
    // characters, the longer.
    let (bytes, mut stretches) = found;
    stretches.sort_by_key(|(chars, _)| chars.start);
    let mut kept: Vec<(Range<usize>, Range<usize>)> = Vec::new();
    for (chars, at) in stretches {
        let overlaps = |k: &(Range<usize>, _)| k.0.end.min(chars.end) > chars.start + MIN_BYTES;
        let shorter = |k: &&(Range<usize>, Range<usize>)| overlaps(k) && k.0.len() < chars.len();
        while kept.last().filter(shorter).is_some() {
            kept.pop();
        }
        if !kept.last().is_some_and(overlaps) {
            kept.push((chars, at));
        }
    }
    let kept: Vec<&[u8]> = kept.into_iter().map(|(_, at)| &bytes[at]).collect();
    kept.join(&b' ')
}

/// The characters `chars` of a base64 view decoded onto `found`'s bytes,
/// and each stretch of [`MIN_BYTES`] or more bytes that reads as text added
/// to its stretches, with the characters it was decoded from; false when
/// the deadline passes.
fn stretches_in(view: &[u8], chars: Range<usize>, scan: &Scan, found: &mut Found) -> bool {
    let ((bytes, stretches), run) = (found, &view[chars.clone()]);
    let start = bytes.len();
    // Groups of four decode alone: a look at the clock between chunks.
    for chunk in run[..run.len() - usize::from(run.len() % 4 == 1)].chunks(LOOK_EVERY) {
        if scan.spent(chunk.len()) || LENIENT.decode_vec(chunk, bytes).is_err() {
            return false;
        }
    }
    let plain = |b: &u8| matches!(b, b' '..=b'~' | b'\t' | b'\n' | b'\r' | 0);
    let (mut at, char_of) = (0, |byte: usize| chars.start + byte / 3 * 4 + byte % 3);
    for stretch in bytes[start..].split(|b| !plain(b)) {
        if stretch.len() >= MIN_BYTES {
            let (from, to) = (at, at + stretch.len());
            stretches.push((char_of(from)..char_of(to), start + from..start + to));
        }
        at += stretch.len() + 1;
    }
    // What no stretch holds is dropped.
    bytes.truncate(stretches.last().map_or(start, |(_, at)| at.end.max(start)));
    true
}

/// Bytes decoded from base64, and the stretches of them kept: the
/// characters each was decoded from, and where in the bytes it stands.
type Found = (Vec<u8>, Vec<(Range<usize>, Range<usize>)>);

/// A character of base64 in either alphabet as the standard one writes it;
/// none for any other byte.
pub(super) fn standard(b: &u8) -> Option<u8> {
    let c = TABLES[0][usize::from(*b)];
    (c != 0).then_some(c)
}

/// `text` read as UTF-16 when at least a quarter of its first 4 KiB is NUL,
/// in either byte order: little-endian with the NULs second in each pair,
/// big-endian with them first (a NUL put before the text, or after it,
/// where a pair lacks one), so that neither drops a character at the
/// text's ends, wherever the UTF-16 starts in it (after a header of odd
/// length, at an odd offset). Inside the text the two read alike.
pub(super) fn utf16(text: &[u8], scan: &Scan) -> Vec<Vec<u8>> {
    let head = &text[..text.len().min(4096)];
    let nuls = memchr::memchr_iter(0, head).count();
    if nuls == 0 || nuls * 4 < head.len() {
        return Vec::new();
    }
    let odd = memchr::memchr_iter(0, head).filter(|at| at % 2 == 1);
    let even = usize::from(odd.count() * 2 < nuls);
    let read = |bytes: Vec<u8>, low: usize| {
        let unit = |pair: &[u8]| u16::from(pair[low]) | u16::from(pair[1 - low]) << 8;
        let mut out = String::with_capacity(bytes.len() / 2);
        let chars = char::decode_utf16(bytes.chunks_exact(2).map(unit));
        for (i, c) in chars.enumerate() {
            if i % LOOK_EVERY == 0 && scan.spent(LOOK_EVERY) {
                break;
            }
            out.push(c.unwrap_or(char::REPLACEMENT_CHARACTER));
        }
        out.into_bytes()
    };
    let little = [&text[even.min(text.len())..], &[0]].concat();
    let big = [&vec![0; 1 - even][..], text].concat();
    vec![read(little, 0), read(big, 1)]
}
