//! The decoders of the echo class, one a format family: each reads a text
//! and writes what it holds in another form, as [`islands`] around what it
//! changed where an escape decoder wrote it, whole where a run decoder or
//! UTF-16 did. The rule, the forms and the search are the parent module's.

use base64::Engine as _;

use super::{LENIENT, LOOK_EVERY, Scan, is_text};

/// The shortest run of base64 that is decoded to be looked in.
const MIN_RUN: usize = 16;

/// The fewest bytes a run of hex or decimal numbers is decoded for.
const MIN_BYTES: usize = 8;

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
/// hex digits and one blank after them (form encoding's `+` one too).
#[rustfmt::skip]
const CSS: [(&str, u32, usize, usize, &str); 1] = [("\\", 16, 1, 6, " \t\n\r\x0c+")];

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

/// `text` with each of `escape`'s escapes, which start with one of
/// `firsts`, decoded in one pass (cut short when the deadline passes), as
/// the [`islands`] around what it changed; none when nothing changed.
fn decoded(
    text: &[u8],
    firsts: [u8; 3],
    scan: &Scan,
    mut escape: impl FnMut(&[u8], &mut Vec<u8>) -> usize,
) -> Vec<Vec<u8>> {
    let [a, b, c] = firsts;
    let (mut out, mut i, mut changes) = (Vec::with_capacity(text.len()), 0, Vec::new());
    while i < text.len() {
        let window = &text[i..text.len().min(i + LOOK_EVERY)];
        let plain = memchr::memchr3(a, b, c, window).unwrap_or(window.len());
        out.extend_from_slice(&window[..plain]);
        i += plain;
        if i == text.len() || scan.spent(plain + 1) {
            break;
        }
        // A window without an escape ends on a byte that starts none.
        let at = out.len();
        let hit = firsts.contains(&text[i]);
        let used = if hit { escape(&text[i..], &mut out) } else { 0 };
        if used == 0 {
            out.push(text[i]);
        } else {
            changes.push(at..out.len());
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
fn islands(text: Vec<u8>, changes: &[std::ops::Range<usize>], reach: usize) -> Vec<Vec<u8>> {
    fn walk<'a>(bytes: impl Iterator<Item = &'a u8>, reach: usize) -> usize {
        let mut letters = 0;
        let within = |b: &&u8| {
            letters += usize::from(b.is_ascii_alphanumeric());
            letters <= reach || b.is_ascii_alphanumeric() || in_run(b)
        };
        bytes.take_while(within).count()
    }
    let mut spans: Vec<std::ops::Range<usize>> = Vec::new();
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
    decoded(text, [first; 3], scan, |s, out| escape(s, css, out))
}

/// The escape at the start of `s` decoded into `out`: how many bytes it
/// took (0 when it is none).
fn escape(s: &[u8], css: bool, out: &mut Vec<u8>) -> usize {
    let numbers = if css { &CSS[..] } else { &NUMBERS[..] };
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
fn number(s: &[u8], escape: (&str, u32, usize, usize, &str)) -> Option<(u32, usize, bool)> {
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
    decoded(text, [b'='; 3], scan, |s, out| {
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
    let is_pair = |p: &&[u8]| s[0] == b'=' && p.iter().all(u8::is_ascii_hexdigit);
    s.get(1..3).filter(is_pair).map(hex_pair)
}

/// The MIME encoded-word at the start of `s` decoded into `out`: how many
/// bytes it took, with the blanks (or form encoding's `+`) after it when
/// another one follows.
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
    let blank = |b: &&u8| b.is_ascii_whitespace() || **b == b'+';
    let blanks = s[used..].iter().take_while(blank).count();
    let joined = s[used + blanks..].starts_with(b"=?");
    Some(used + if joined { blanks } else { 0 })
}

/// `text`'s runs of bytes written as numbers and as base64, each decoded
/// as a lenient decoder reads it: those that decode to text, each followed
/// by a blank (no run goes on over it: two runs never read as one), then
/// the binary ones. A binary run of hex or base64 is
/// not looked in again: its form's needles looked for the credential in it.
///
/// A run of numbers is [`MIN_BYTES`] or more words of hex or of decimal
/// numbers between separators of any kind, or a hex dump's lines (see
/// [`Dumped`]); a base64 run is [`MIN_RUN`] or more characters of either
/// alphabet, going on over line breaks.
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
    let base64_run = |run: &[u8]| {
        if run.len() >= MIN_RUN && !run.iter().all(u8::is_ascii_hexdigit) {
            base64(run, scan)
        } else {
            Vec::new()
        }
    };
    // Words of letters and digits, and the gaps between them: a gap of
    // `+/-_` and line breaks alone goes on with the base64 run. A hex dump's
    // lines are read whole, onto one hex run.
    let (mut i, mut run, mut dumped) = (0, 0, Dumped::default());
    while i < text.len() {
        let from = i;
        let gap = text[i..].iter().position(u8::is_ascii_alphanumeric);
        let start = gap.map_or(text.len(), |gap| i + gap);
        let line = text[i..start].iter().rposition(|b| *b == b'\n');
        let line = line.map(|n| i + n + 1).or((i == 0).then_some(0));
        if let Some((end, bytes)) = line.and_then(|line| dumped.line(text, line)) {
            if dumped.began {
                keep(&mut base64_run(&text[run..i]), true);
                keep(&mut hex, true);
                keep(&mut decimal, false);
            }
            hex.extend(bytes);
            (i, run) = (end, end);
        } else {
            if let Some(last) = text[i..start].iter().rposition(|b| !in_run(b)) {
                let first = text[i..start].iter().position(|b| !in_run(b)).unwrap_or(0);
                keep(&mut base64_run(&text[run..i + first]), true);
                run = i + last + 1;
            }
            let word = text[start..]
                .iter()
                .position(|b| !b.is_ascii_alphanumeric());
            i = word.map_or(text.len(), |len| start + len);
            if start < i {
                number_word(&text[start..i], &mut hex, &mut decimal, &mut keep);
            }
        }
        if scan.spent((i - from).min(LOOK_EVERY)) {
            break;
        }
    }
    keep(&mut base64_run(&text[run..]), true);
    keep(&mut hex, true);
    keep(&mut decimal, false);
    found
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
        hex.extend(digits.chunks_exact(2).map(hex_pair));
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

/// The byte two hex digits write, or one (`pair` holds hex digits alone:
/// each caller checks them).
fn hex_pair(pair: &[u8]) -> u8 {
    let digit = |d: &u8| (d & 0xf) + 9 * (d >> 6);
    pair.iter().fold(0, |n, d| n << 4 | digit(d))
}

/// `run` (base64 of either alphabet, with line breaks) decoded leniently,
/// a last lone character dropped; empty when its first 4 KiB decode to
/// binary, which is not looked in again.
fn base64(run: &[u8], scan: &Scan) -> Vec<u8> {
    // Most runs (words, paths, ids) decode to binary: their first 64
    // characters say so, with nothing allocated.
    let (mut head, mut bytes) = ([0; 64], [0; 48]);
    let chars = run.iter().filter_map(standard).take(64);
    let n = head.iter_mut().zip(chars).map(|(to, c)| *to = c).count();
    let n = LENIENT.decode_slice(&head[..n - usize::from(n % 4 == 1)], &mut bytes);
    if !n.is_ok_and(|n| is_text(&bytes[..n])) {
        return Vec::new();
    }
    let mut run: Vec<u8> = run.iter().filter_map(standard).collect();
    run.truncate(run.len() - usize::from(run.len() % 4 == 1));
    // Groups of four decode alone: a look at the clock between chunks, and
    // a run whose first 4 KiB decode to binary is not decoded on.
    let mut out = Vec::with_capacity(run.len() / 4 * 3);
    for chunk in run.chunks(LOOK_EVERY) {
        let decoded = !scan.spent(chunk.len()) && LENIENT.decode_vec(chunk, &mut out).is_ok();
        if !decoded || !is_text(&out[..out.len().min(4095)]) {
            return Vec::new();
        }
    }
    out
}

/// Whether `b` is a byte a base64 run goes on over besides letters and
/// digits: either alphabet's two more characters and line breaks.
fn in_run(b: &u8) -> bool {
    matches!(b, b'+' | b'/' | b'-' | b'_' | b'\r' | b'\n')
}

/// A character of base64 in either alphabet as the standard one writes it;
/// a line break dropped.
pub(super) fn standard(b: &u8) -> Option<u8> {
    match b {
        b'-' => Some(b'+'),
        b'_' => Some(b'/'),
        b'\r' | b'\n' => None,
        other => Some(*other),
    }
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
