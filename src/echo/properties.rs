//! The echo class as a property: the credential put through one to three
//! encoders, as real encoders write the formats of the class (partial
//! escaping, line widths, separators, offsets), is found; the credential one
//! character off (changed, or dropped at either end or inside), put through
//! the same ones, is not. `tests/echo/nesting.rs` sweeps the formats in
//! order; this draws the mixes at random.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use proptest::prelude::*;

use super::echoes;

const TOKEN: &str = "gho_T7kQ2mXv9Lb4Rz8Wp1Nd6Fs3Hc5JyPaE";

/// Text around the credential before it is encoded.
const AROUND: [(&str, &str); 5] = [
    ("", ""),
    ("Bearer ", "\n"),
    ("{\"token\":\"", "\"}"),
    ("token=", "&a=b"),
    ("x ", " tail"),
];

/// The encoders, by name (a failure names its chain).
const ENCODERS: [&str; 33] = [
    "JSON, as serializers escape",
    "JSON, as a value in an object",
    "URI component",
    "form encoding",
    "percent, every byte",
    "%u",
    "HTML, as templates escape",
    "HTML, named references",
    "HTML, hex references",
    "base64, MIME lines",
    "base64, PEM lines",
    "base64 after a prefix",
    "URL-safe base64, padded",
    "URL-safe base64",
    "hex, upper case, spaced",
    "hex, a 0x array",
    "hex, colons",
    "a Python bytes literal",
    "octal escapes",
    "\\u{…} escapes",
    "\\U escapes",
    "CSS, six digits",
    "CSS, a blank after",
    "quoted-printable",
    "MIME Q words, folded",
    "MIME B words",
    "decimal bytes",
    "decimal bytes, spaced",
    "UTF-16LE",
    "UTF-16BE with a mark",
    "an xxd dump",
    "a hexdump -C dump",
    "base64, lines indented by a tab",
];

/// Each byte of `bytes` written as `byte` writes it.
fn each(bytes: &[u8], byte: impl Fn(u8) -> String) -> Vec<u8> {
    bytes.iter().flat_map(|b| byte(*b).into_bytes()).collect()
}

fn plain(b: u8) -> String {
    char::from(b).to_string()
}

/// `text` cut every `width` bytes, the parts joined by `by`.
fn wrapped(text: &str, width: usize, by: &str) -> Vec<u8> {
    let parts: Vec<&[u8]> = text.as_bytes().chunks(width).collect();
    parts.join(by.as_bytes())
}

fn listed(bytes: &[u8], item: impl Fn(&u8) -> String, by: &str) -> Vec<u8> {
    bytes
        .iter()
        .map(item)
        .collect::<Vec<_>>()
        .join(by)
        .into_bytes()
}

/// `bytes` through the encoder `ENCODERS[which]`.
fn encoded(which: usize, bytes: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(bytes);
    match which {
        0 => each(bytes, |b| match b {
            b'"' | b'\\' | b'/' => format!("\\{}", char::from(b)),
            b'\n' => "\\n".into(),
            0..=31 | 127.. => format!("\\u{b:04x}"),
            _ => plain(b),
        }),
        1 => serde_json::to_vec(&serde_json::json!({ "data": text, "n": 1 })).unwrap(),
        2 => each(bytes, |b| match b {
            b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')' => plain(b),
            _ if b.is_ascii_alphanumeric() => plain(b),
            _ => format!("%{b:02X}"),
        }),
        3 => each(bytes, |b| match b {
            b' ' => "+".into(),
            b'-' | b'_' | b'.' | b'*' => plain(b),
            _ if b.is_ascii_alphanumeric() => plain(b),
            _ => format!("%{b:02X}"),
        }),
        4 => each(bytes, |b| format!("%{b:02x}")),
        5 => each(bytes, |b| format!("%u{b:04X}")),
        6 => each(bytes, |b| match b {
            b'&' => "&amp;".into(),
            b'<' => "&lt;".into(),
            b'"' => "&quot;".into(),
            b'\'' => "&#39;".into(),
            128.. => format!("&#x{b:X};"),
            _ => plain(b),
        }),
        7 => each(bytes, |b| match b {
            b'_' => "&lowbar;".into(),
            b'/' => "&sol;".into(),
            b'=' => "&equals;".into(),
            b'+' => "&plus;".into(),
            b' ' => "&#32;".into(),
            _ => plain(b),
        }),
        8 => each(bytes, |b| format!("&#x{b:x};")),
        9 => wrapped(&STANDARD.encode(bytes), 76, "\r\n"),
        10 => wrapped(&STANDARD.encode(bytes), 64, "\n"),
        11 => STANDARD.encode([b"pad:", bytes].concat()).into_bytes(),
        12 => URL_SAFE.encode(bytes).into_bytes(),
        13 => URL_SAFE_NO_PAD.encode(bytes).into_bytes(),
        14 => listed(bytes, |b| format!("{b:02X}"), " "),
        15 => [
            b"{",
            &listed(bytes, |b| format!("0x{b:02x}"), ", ")[..],
            b"}",
        ]
        .concat(),
        16 => listed(bytes, |b| format!("{b:02x}"), ":"),
        17 => [b"b'", &each(bytes, python_byte)[..], b"'"].concat(),
        18 => each(bytes, |b| format!("\\{b:03o}")),
        19 => each(bytes, |b| format!("\\u{{{b:x}}}")),
        20 => each(bytes, |b| format!("\\U{b:08x}")),
        21 => each(bytes, |b| format!("\\{b:06x}")),
        22 => each(bytes, |b| match b {
            _ if b.is_ascii_alphanumeric() => plain(b),
            _ => format!("\\{b:x} "),
        }),
        23 => quoted_printable(bytes),
        24 => mime_words(bytes, 20, |part| {
            let q = each(part, |b| match b {
                b' ' => "_".into(),
                _ if b.is_ascii_alphanumeric() => plain(b),
                _ => format!("={b:02X}"),
            });
            format!("=?utf-8?q?{}?=", String::from_utf8_lossy(&q))
        }),
        25 => mime_words(bytes, 30, |part| {
            format!("=?UTF-8?B?{}?=", STANDARD.encode(part))
        }),
        26 => [b"[", &listed(bytes, u8::to_string, ",")[..], b"]"].concat(),
        27 => [b"[", &listed(bytes, u8::to_string, ", ")[..], b"]"].concat(),
        28 => text.encode_utf16().flat_map(u16::to_le_bytes).collect(),
        29 => [0xfe, 0xff]
            .into_iter()
            .chain(text.encode_utf16().flat_map(u16::to_be_bytes))
            .collect(),
        30 => dumped(bytes, |at, line| {
            let groups: Vec<String> = line.chunks(2).map(|pair| hex(pair, "")).collect();
            format!("{at:08x}: {:<39}  ", groups.join(" "))
        }),
        31 => dumped(bytes, |at, line| {
            let (left, right) = line.split_at(line.len().min(8));
            format!(
                "{at:08x}  {:<23}  {:<23}  ",
                hex(left, " "),
                hex(right, " ")
            )
        }),
        _ => wrapped(&STANDARD.encode(bytes), 64, "\n\t"),
    }
}

fn hex(bytes: &[u8], by: &str) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(by)
}

/// A hex dump of `bytes`, 16 a line: each line's offset and hex as `line`
/// writes them, then its text.
fn dumped(bytes: &[u8], line: impl Fn(usize, &[u8]) -> String) -> Vec<u8> {
    let printable = |b: &u8| {
        if (0x20..0x7f).contains(b) {
            char::from(*b)
        } else {
            '.'
        }
    };
    let lines = bytes.chunks(16).enumerate().map(|(i, part)| {
        let text: String = part.iter().map(printable).collect();
        format!("{}{text}\n", line(16 * i, part))
    });
    lines.collect::<String>().into_bytes()
}

fn python_byte(b: u8) -> String {
    match b {
        b'\\' | b'\'' => format!("\\x{b:02x}"),
        0x20..0x7f => plain(b),
        _ => format!("\\x{b:02x}"),
    }
}

/// Quoted-printable as mail writes it: `=`, controls and eight-bit bytes
/// escaped, lines cut with soft breaks at 76 characters.
fn quoted_printable(bytes: &[u8]) -> Vec<u8> {
    let (mut out, mut column) = (Vec::new(), 0);
    for &b in bytes {
        let escaped = b == b'=' || b >= 127 || (b < 32 && b != b'\n');
        let written = if escaped {
            format!("={b:02X}")
        } else {
            plain(b)
        };
        if column + written.len() > 75 {
            out.extend_from_slice(b"=\r\n");
            column = 0;
        }
        column = if b == b'\n' {
            0
        } else {
            column + written.len()
        };
        out.extend_from_slice(written.as_bytes());
    }
    out
}

/// A `Subject:` header of encoded-words, `per` bytes each, folded.
fn mime_words(bytes: &[u8], per: usize, word: impl Fn(&[u8]) -> String) -> Vec<u8> {
    let words: Vec<String> = bytes.chunks(per).map(word).collect();
    format!("Subject: {}", words.join("\r\n\t")).into_bytes()
}

/// `TOKEN` one character off: `edit` 0 changes the character at `at`, 1
/// drops it (the first kept), 2 drops the first or the last.
fn one_off(edit: u8, at: usize) -> String {
    let mut token = TOKEN.to_owned();
    match edit {
        0 => {
            let other = if token.as_bytes()[at] == b'x' {
                "y"
            } else {
                "x"
            };
            token.replace_range(at..=at, other);
        }
        1 => drop(token.remove(at.max(1))),
        _ if at % 2 == 0 => drop(token.remove(0)),
        _ => drop(token.pop()),
    }
    token
}

proptest! {
    // A case scans two bodies of at most some tens of KiB: 1,024 take
    // about a second in a debug build.
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn a_token_through_up_to_three_encoders_is_found_and_one_off_is_not(
        chain in proptest::collection::vec(0..ENCODERS.len(), 1..=3),
        around in 0..AROUND.len(),
        edit in 0..3u8,
        at in 0..TOKEN.len(),
    ) {
        let (before, after) = AROUND[around];
        let nested = |token: &str| {
            let text = format!("{before}{token}{after}").into_bytes();
            chain.iter().fold(text, |text, which| encoded(*which, &text))
        };
        let names: Vec<&str> = chain.iter().map(|which| ENCODERS[*which]).collect();
        let off = one_off(edit, at);
        prop_assert_eq!(echoes(&nested(TOKEN), &[TOKEN], None), Some(true), "{:?}", names);
        prop_assert_eq!(echoes(&nested(&off), &[TOKEN], None), Some(false), "{:?} {}", names, off);
    }
}
