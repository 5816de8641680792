//! The echo class closed under its own operations: each format of the list
//! inside each other one (and, in a `Location`, inside percent-encoding
//! too), caught in a body and in a redirect by one rule; and the same
//! nestings of a token one character off at its start or at its end come
//! back whole and are followed: a match is a match of every byte.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

use super::formats::{Echo, WITHHELD};

const TOKEN: &str = "gho_T7kQ2mXv9Lb4Rz8Wp1Nd6Fs3Hc5JyPaE";

fn each(bytes: &[u8], write: impl Fn(u8) -> String) -> Vec<u8> {
    bytes.iter().flat_map(|b| write(*b).into_bytes()).collect()
}

/// `bytes` as MIME encoded-words of `kind`, one split at `at` bytes and
/// the others at 15 bytes (no word over RFC 2047's 75 characters), each on
/// a folded header line of its own (RFC 2047 §6.2 joins them).
fn words(bytes: &[u8], kind: char, at: usize) -> Vec<u8> {
    let (first, second) = bytes.split_at(at.min(bytes.len()));
    let parts = first.chunks(15).chain(second.chunks(15));
    let written: Vec<String> = parts
        .map(|part| match kind {
            'B' => STANDARD.encode(part),
            _ => String::from_utf8(each(part, |b| format!("={b:02X}"))).unwrap(),
        })
        .map(|word| format!("=?UTF-8?{kind}?{word}?="))
        .collect();
    format!("Subject: {}", written.join("\r\n ")).into_bytes()
}

/// The formats of the class, each an encoder of bytes.
#[allow(clippy::type_complexity)]
fn formats() -> Vec<(&'static str, Box<dyn Fn(&[u8]) -> Vec<u8>>)> {
    vec![
        ("percent", Box::new(|b| each(b, |b| format!("%{b:02X}")))),
        ("JSON \\u", Box::new(|b| each(b, |b| format!("\\u{b:04x}")))),
        ("C \\x", Box::new(|b| each(b, |b| format!("\\x{b:02x}")))),
        ("CSS", Box::new(|b| each(b, |b| format!("\\{b:x} ")))),
        ("HTML &#", Box::new(|b| each(b, |b| format!("&#{b};")))),
        (
            "quoted-printable",
            Box::new(|b| each(b, |b| format!("={b:02X}"))),
        ),
        ("MIME Q words", Box::new(|b| words(b, 'Q', b.len() / 2 + 1))),
        ("MIME B words", Box::new(|b| words(b, 'B', b.len() / 3 + 1))),
        ("hex", Box::new(|b| each(b, |b| format!("{b:02x}")))),
        (
            "0x hex list",
            Box::new(|b| {
                let list: Vec<String> = b.iter().map(|b| format!("0x{b:02x}")).collect();
                list.join(", ").into_bytes()
            }),
        ),
        (
            "\\x hex list",
            Box::new(|b| {
                let list: Vec<String> = b.iter().map(|b| format!("\\x{b:02X}")).collect();
                format!("{{{}}}", list.join(";")).into_bytes()
            }),
        ),
        (
            "decimal list",
            Box::new(|b| {
                let list: Vec<String> = b.iter().map(u8::to_string).collect();
                format!("[{}]", list.join(",")).into_bytes()
            }),
        ),
        ("base64", Box::new(|b| STANDARD.encode(b).into_bytes())),
        (
            "base64url",
            Box::new(|b| URL_SAFE_NO_PAD.encode(b).into_bytes()),
        ),
        (
            "UTF-16LE",
            Box::new(|b| {
                let text = String::from_utf8_lossy(b);
                text.encode_utf16().flat_map(u16::to_le_bytes).collect()
            }),
        ),
        (
            "UTF-16BE",
            Box::new(|b| {
                let text = String::from_utf8_lossy(b);
                text.encode_utf16().flat_map(u16::to_be_bytes).collect()
            }),
        ),
    ]
}

/// Whether an answer of `body` is withheld (else it comes back whole).
fn withheld(api: &Echo, body: &[u8]) -> bool {
    let answered = api.answered(body);
    assert!(
        answered == WITHHELD || answered == body,
        "whole or withheld"
    );
    answered == WITHHELD
}

/// `TOKEN` with its character at `at` changed in its low bits (`bit`), the
/// ones base64 writes in the character it shares with what follows.
fn off(at: usize, bit: u8) -> String {
    let mut token = TOKEN.as_bytes().to_vec();
    token[at] ^= bit;
    String::from_utf8(token).unwrap()
}

#[test]
fn each_format_inside_each_other_is_caught_in_a_body_and_a_redirect() {
    let api = Echo::new(TOKEN);
    let text = format!("Authorization: Bearer {TOKEN}");
    for (outer_name, outer) in formats() {
        for (inner_name, inner) in formats() {
            let form = outer(&inner(text.as_bytes()));
            let shown = String::from_utf8_lossy(&form);
            assert!(
                withheld(&api, &form),
                "{inner_name} in {outer_name}: {shown}"
            );
            assert!(
                !api.followed(&form),
                "{inner_name} in {outer_name}, in a Location: {shown}"
            );
        }
    }
}

#[test]
fn a_token_one_character_off_at_either_end_comes_back_whole_in_every_nesting() {
    let api = Echo::new(TOKEN);
    let last = TOKEN.len() - 1;
    for changed in [off(0, 1), off(0, 2), off(last, 1), off(last, 2)] {
        for text in [format!("Bearer {changed}"), changed.clone()] {
            for (outer_name, outer) in formats() {
                for (inner_name, inner) in formats() {
                    let form = outer(&inner(text.as_bytes()));
                    let shown = String::from_utf8_lossy(&form);
                    let said = format!("{changed} in {inner_name} in {outer_name}: {shown}");
                    assert!(!withheld(&api, &form), "withheld: {said}");
                    assert!(api.followed(&form), "not followed: {said}");
                }
            }
        }
    }
}

#[test]
fn each_format_inside_each_other_three_deep_is_caught_and_one_character_off_is_not() {
    // Among them: a list of decimal bytes that is base64 of an escaped
    // token (each run the list decodes to read on its own, not on into the
    // next), and UTF-16 inside MIME words (after a header of odd length, at
    // an odd offset).
    let api = Echo::new(TOKEN);
    let text = format!("Bearer {TOKEN}");
    let changed = format!("Bearer {}", off(TOKEN.len() - 1, 1));
    let formats = formats();
    for (outer_name, outer) in &formats {
        for (middle_name, middle) in &formats {
            for (inner_name, inner) in &formats {
                let nested = |text: &str| outer(&middle(&inner(text.as_bytes())));
                let said = format!("{inner_name} in {middle_name} in {outer_name}");
                let form = nested(&text);
                let shown = String::from_utf8_lossy(&form);
                assert!(withheld(&api, &form), "{said}: {shown}");
                let form = nested(&changed);
                let shown = String::from_utf8_lossy(&form);
                assert!(!withheld(&api, &form), "one off, withheld: {said}: {shown}");
            }
        }
    }
}

#[test]
fn adjacent_encoded_words_split_anywhere_are_joined() {
    let api = Echo::new(TOKEN);
    let text = format!("token {TOKEN}");
    for at in 1..text.len() {
        for kind in ['Q', 'B'] {
            let form = words(text.as_bytes(), kind, at);
            let shown = String::from_utf8_lossy(&form);
            assert!(withheld(&api, &form), "{shown}");
        }
    }
}

#[test]
fn a_decimal_list_in_a_query_is_no_quoted_printable() {
    // `d=103%2C…`: the `=10` that reads as quoted-printable is a query's
    // `=` before a number; read apart, the list is the token's bytes.
    let api = Echo::new(TOKEN);
    for sep in [",", ", ", " ", ";"] {
        let list: Vec<String> = TOKEN.bytes().map(|b| b.to_string()).collect();
        assert!(!api.followed(list.join(sep).as_bytes()), "{sep:?}");
    }
}

#[test]
fn encoded_words_in_form_encoding_are_joined_over_its_plus() {
    // Form encoding writes a blank as `+`: encoded-words in a form field
    // are as adjacent as on a folded header line, and a format that a
    // split breaks (octal, a decimal list, base64) reads whole only joined.
    let form = |bytes: &[u8]| -> Vec<u8> {
        let kept = |b: u8| b.is_ascii_alphanumeric() || b"-_.*".contains(&b);
        let each = |b: &u8| match *b {
            b' ' => "+".to_owned(),
            b if kept(b) => char::from(b).to_string(),
            b => format!("%{b:02X}"),
        };
        bytes.iter().flat_map(|b| each(b).into_bytes()).collect()
    };
    let api = Echo::new(TOKEN);
    let last = TOKEN.len() - 1;
    for (name, inner) in formats() {
        let text = inner(format!("token {TOKEN}").as_bytes());
        let changed = inner(format!("token {}", off(last, 1)).as_bytes());
        for (kind, at) in [('Q', 1), ('Q', text.len() / 2), ('B', text.len() / 3)] {
            for (holds, text) in [(true, &text), (false, &changed)] {
                let folded = words(text, kind, at);
                let one_line = String::from_utf8_lossy(&folded).replace("\r\n ", " ");
                for header in [folded, one_line.into_bytes()] {
                    let body = [b"subject=".as_slice(), &form(&header)].concat();
                    let shown = String::from_utf8_lossy(&body);
                    let said = format!("{name} in {kind} words, holding the token: {holds}");
                    assert_eq!(withheld(&api, &body), holds, "{said}: {shown}");
                }
            }
        }
    }
}

#[test]
fn an_escape_written_partly_in_an_outer_format_is_read_once_that_one_is() {
    // One family's escape never eats another's text: CSS escapes whose
    // closing blanks HTML wrote (`&#32;`) or form encoding did (`+`), and
    // JSON escapes cut by soft line breaks whose `=` HTML wrote, read whole
    // once the outer format is decoded; a token one character off is not.
    let css = |text: &[u8]| String::from_utf8(each(text, |b| format!("\\{b:x} "))).unwrap();
    let json = |text: &[u8]| each(text, |b| format!("\\u{b:04x}"));
    let soft_breaks = |text: Vec<u8>| text.chunks(75).collect::<Vec<_>>().join(&b"=\r\n"[..]);
    #[allow(clippy::type_complexity)]
    let shapes: [(&str, Box<dyn Fn(&[u8]) -> String>); 3] = [
        (
            "JSON in CSS in HTML",
            Box::new(|t| css(&json(t)).replace(' ', "&#32;")),
        ),
        (
            "JSON in CSS in form encoding",
            Box::new(|t| css(&json(t)).replace('\\', "%5C").replace(' ', "+")),
        ),
        (
            "JSON in quoted-printable in HTML",
            Box::new(|t| {
                String::from_utf8(soft_breaks(json(t)))
                    .unwrap()
                    .replace('=', "&equals;")
            }),
        ),
    ];
    let api = Echo::new(TOKEN);
    let last = TOKEN.len() - 1;
    for (name, shape) in &shapes {
        for (holds, token) in [
            (true, TOKEN.to_owned()),
            (false, off(0, 1)),
            (false, off(last, 2)),
        ] {
            for text in [format!("Bearer {token}"), token.clone()] {
                let body = shape(text.as_bytes());
                assert_eq!(withheld(&api, body.as_bytes()), holds, "{name}: {body}");
            }
        }
    }
}

/// `text` with `sep` written after every `every` characters.
fn spread(text: &[u8], sep: &str, every: usize) -> Vec<u8> {
    let parts: Vec<&[u8]> = text.chunks(every).collect();
    parts.join(sep.as_bytes())
}

#[test]
fn base64_with_anything_outside_its_alphabet_between_its_characters_is_read_around_each_format() {
    // A lenient decoder skips what is not of its alphabet: indentation
    // after a line break, quoting, blanks, a tab, NULs, invisible
    // characters, punctuation. What the base64 holds is read whatever
    // stands before it (words joined to it by a blank shift its groups),
    // and a token one character off comes back whole.
    let api = Echo::new(TOKEN);
    let changed = off(TOKEN.len() - 1, 1);
    let seps = [
        "\n    ",
        "\r\n\t",
        "\n> ",
        " ",
        "\t",
        " | ",
        "\0",
        "\u{200B}",
        "; ",
        "\",\n  \"",
    ];
    for (name, inner) in formats() {
        for (i, sep) in seps.iter().enumerate() {
            let every = [3, 4, 7, 16, 60, 76][i % 6];
            let before = ["", "data ", "Bearer ", "the file reads "][i % 4];
            let nested = |token: &str| {
                let text = inner(format!("Authorization: Bearer {token}\n").as_bytes());
                let base64 = [STANDARD.encode(&text), URL_SAFE_NO_PAD.encode(&text)][i % 2].clone();
                [before.as_bytes(), &spread(base64.as_bytes(), sep, every)].concat()
            };
            let said = format!("{name} in base64 split by {sep:?} every {every} after {before:?}");
            let form = nested(TOKEN);
            let shown = String::from_utf8_lossy(&form);
            assert!(withheld(&api, &form), "{said}: {shown}");
            let form = nested(&changed);
            assert!(!withheld(&api, &form), "one off, withheld: {said}");
        }
    }
}

/// `bytes` as a list of `0x`-prefixed hex bytes, `prefix` and `sep` as given.
fn prefixed(bytes: &[u8], prefix: &str, sep: &str, upper: bool) -> String {
    let list: Vec<String> = (bytes.iter())
        .map(|b| match upper {
            true => format!("{prefix}{b:02X}"),
            false => format!("{prefix}{b:02x}"),
        })
        .collect();
    list.join(sep)
}

#[test]
fn a_prefixed_hex_list_inside_base64_is_read_and_one_character_off_is_not() {
    let api = Echo::new(TOKEN);
    let last = TOKEN.len() - 1;
    let lists = [
        ("0x", ", ", false, "", ""),
        ("0x", ",", true, "[", "]"),
        ("0X", " ", false, "", ""),
        ("0x", ", ", false, "const key = [", "];"),
        ("0x", "\n", true, "", ""),
        ("0x", "", false, "", ""),
        ("\"0x", "\", \"", false, "[", "\"]"),
        ("0x", ", ", false, "{", "}"),
        (
            "0x",
            ",\n    ",
            false,
            "unsigned char key[] = {\n    ",
            "\n};",
        ),
        ("0x", " ", true, "bytes: ", ""),
    ];
    for (prefix, sep, upper, before, after) in lists {
        for text in [TOKEN.to_owned(), format!("Bearer {TOKEN}")] {
            for changed in [false, true] {
                let text = match changed {
                    false => text.clone(),
                    true => text
                        .replace(TOKEN, &off(0, 1))
                        .replace(TOKEN, &off(last, 2)),
                };
                let list = format!(
                    "{before}{}{after}",
                    prefixed(text.as_bytes(), prefix, sep, upper)
                );
                for (alphabet, encoded) in [
                    ("base64", STANDARD.encode(&list)),
                    ("base64url", URL_SAFE_NO_PAD.encode(&list)),
                ] {
                    let said = format!("{list:?} in {alphabet}: {encoded}");
                    assert_eq!(withheld(&api, encoded.as_bytes()), !changed, "{said}");
                }
            }
        }
    }
    // One character off at either end, alone in the list.
    for changed in [off(0, 1), off(0, 2), off(last, 1), off(last, 2)] {
        let list = prefixed(changed.as_bytes(), "0x", ", ", false);
        assert!(
            !withheld(&api, STANDARD.encode(&list).as_bytes()),
            "{changed}"
        );
    }
}

/// `text` as adjacent MIME encoded-words, split at `at`: the first part in
/// `first`'s encoding, the second in the other (each in words of `most`
/// bytes at most: 15 keeps them within RFC 2047's 75 characters, more
/// writes the long words lenient decoders read too), on one line or folded.
fn mixed_words(text: &[u8], first: char, at: usize, fold: &str, most: usize) -> Vec<u8> {
    let (one, two) = text.split_at(at);
    let second = if first == 'B' { 'Q' } else { 'B' };
    let word = |part: &[u8], kind: char| {
        let written = match kind {
            'B' => STANDARD.encode(part),
            _ => String::from_utf8(each(part, |b| format!("={b:02X}"))).unwrap(),
        };
        format!("=?UTF-8?{kind}?{written}?=")
    };
    let words: Vec<String> = (one.chunks(most).map(|part| word(part, first)))
        .chain(two.chunks(most).map(|part| word(part, second)))
        .collect();
    format!("Subject: {}", words.join(fold)).into_bytes()
}

#[test]
fn adjacent_encoded_words_of_either_encoding_in_either_order_are_joined() {
    let api = Echo::new(TOKEN);
    let last = TOKEN.len() - 1;
    let text = format!("token {TOKEN}");
    let changed = [off(0, 1), off(last, 2)];
    for at in 1..text.len() {
        for (first, fold, most) in ['B', 'Q']
            .into_iter()
            .flat_map(|first| [" ", "\r\n ", "\r\n\t", "  "].map(|fold| (first, fold)))
            .flat_map(|(first, fold)| [15, 99].map(|most| (first, fold, most)))
        {
            let form = mixed_words(text.as_bytes(), first, at, fold, most);
            let shown = String::from_utf8_lossy(&form);
            assert!(withheld(&api, &form), "{shown}");
            for changed in &changed {
                let text = format!("token {changed}");
                let form = mixed_words(text.as_bytes(), first, at, fold, most);
                let shown = String::from_utf8_lossy(&form);
                assert!(!withheld(&api, &form), "one off: {shown}");
            }
        }
    }
}

/// A list of the credential's bytes in hex, with any prefix or suffix of
/// letters that are no hex digit (`0x78`, `\x78`, `x78`, `h78`, `78h`, `#78`,
/// `$78`, `&#x78`) and any separator, either case, is withheld as it is,
/// and in base64 of either alphabet.
#[test]
fn a_list_of_hex_bytes_with_any_prefix_and_separator_is_withheld_in_base64_too() {
    let api = Echo::new(TOKEN);
    let mut missed = Vec::new();
    let written = [
        ("0x", ""),
        ("0X", ""),
        ("\\x", ""),
        ("x", ""),
        ("h", ""),
        ("", "h"),
    ];
    let written =
        written
            .into_iter()
            .chain([("#", ""), ("%", ""), ("$", ""), ("&#x", ""), ("", "")]);
    for (prefix, suffix) in written {
        for sep in [", ", ",", " ", "\n", ":", ";", "-", "|", "\", \"", "], ["] {
            for upper in [false, true] {
                let byte = |b: u8| match upper {
                    true => format!("{prefix}{b:02X}{suffix}"),
                    false => format!("{prefix}{b:02x}{suffix}"),
                };
                let list: Vec<String> = TOKEN.bytes().map(byte).collect();
                let list = format!("[{}]", list.join(sep));
                let forms = [
                    list.clone(),
                    STANDARD.encode(&list),
                    URL_SAFE_NO_PAD.encode(&list),
                ];
                for (form, name) in forms.iter().zip(["as it is", "base64", "base64url"]) {
                    if !withheld(&api, form.as_bytes()) {
                        missed.push(format!("{name}: {prefix:?}..{suffix:?} {sep:?} {upper}"));
                    }
                }
            }
        }
    }
    assert!(missed.is_empty(), "{missed:#?}");
}
