//! The numbers a value written as text may be read as ([`spelled`]): a
//! form's field, a multipart part or a JSON string, as the parsers an API
//! is written with read it. Each reading is one a common parser makes:
//!
//! - a sign and leading zeros (`+20000`, `020000`): Go's `ParseInt`,
//!   Java's `Long.parseLong`, Python's `int`, JavaScript's `Number`;
//! - a leading zero as octal (`020000` is 8192): Ruby's `Integer`, Go's
//!   `ParseInt` with base 0;
//! - underscores between digits (`20_000`): Python, Ruby, Go's base 0;
//! - `0x`, `0o` and `0b` prefixes: Python's `int(…, 0)`, Ruby, Go, `Number`;
//! - a fraction or an exponent (`2e4`, `20000.5`): as a JSON number's
//!   integers either side ([`super::integers`]);
//! - the digits a value begins with (`20000abc`, `20_000` as 20):
//!   JavaScript's `parseInt`, Ruby's `to_i`;
//! - `Infinity`: JavaScript, Python's `float`, as the largest Long;
//! - blanks around it, which Python, JavaScript and Ruby skip.
//!
//! A value written in digits other than ASCII's (`２００００`, which
//! Python's `int` and Java read as 20000) cannot be told apart here, and is
//! refused. Pure.

use super::integers;

/// Why a value is refused where its number is read (the model reads it).
pub(super) const OTHER_DIGITS: &str = "a value it sends is a number written in digits other than \
                                       ASCII's, which parsers read differently: send it in 0-9";

/// Every number `text` may be read as (none: it reads as no number).
///
/// # Errors
///
/// [`OTHER_DIGITS`]: a number written in digits other than ASCII's.
pub(super) fn spelled(text: &str) -> Result<Vec<i64>, &'static str> {
    let text = text.trim();
    let other = |c: char| c.is_numeric() && !c.is_ascii_digit();
    let spelling = |c: char| c.is_numeric() || "+-._,eE".contains(c);
    if text.chars().any(other) && text.chars().all(spelling) {
        return Err(OTHER_DIGITS);
    }
    let (negative, unsigned) = match text.as_bytes().first() {
        Some(b'+') => (false, &text[1..]),
        Some(b'-') => (true, &text[1..]),
        _ => (false, text),
    };
    let signed = |n: i128| {
        let n = if negative { -n } else { n };
        i64::try_from(n.clamp(i64::MIN.into(), i64::MAX.into())).unwrap_or(0)
    };
    let mut read = Vec::new();
    let plain = unsigned.replace('_', "");
    for decimal in [unsigned, plain.as_str()] {
        if is_decimal(decimal) {
            let written = if negative {
                format!("-{decimal}")
            } else {
                decimal.to_owned()
            };
            read.extend(integers(&written));
        }
    }
    let radix = radix(&plain);
    read.extend(radix.map(|(digits, radix)| signed(value(digits, radix))));
    let octal = plain.len() > 1 && plain.starts_with('0');
    if octal && plain.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        read.push(signed(value(&plain, 8)));
    }
    for prefix in [leading(unsigned, false), leading(unsigned, true)] {
        read.extend((!prefix.is_empty()).then(|| signed(value(&prefix, 10))));
    }
    if ["infinity", "inf"].contains(&unsigned.to_ascii_lowercase().as_str()) {
        read.push(signed(i128::MAX));
    }
    let mut kept: Vec<i64> = Vec::with_capacity(read.len());
    for n in read {
        if !kept.contains(&n) {
            kept.push(n);
        }
    }
    Ok(kept)
}

/// Whether `text` is a decimal number as the lenient parsers write one:
/// digits, a point with digits on either side or both, an exponent.
fn is_decimal(text: &str) -> bool {
    let (mantissa, exponent) = text.split_once(['e', 'E']).unwrap_or((text, "1"));
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let exponent = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
    !(whole.is_empty() && fraction.is_empty())
        && digits(whole)
        && digits(fraction)
        && !exponent.is_empty()
        && digits(exponent)
}

/// The digits after a `0x`, `0o` or `0b` prefix (any case), and their radix.
fn radix(text: &str) -> Option<(&str, u32)> {
    let lower = text.get(..2)?.to_ascii_lowercase();
    let radix = match lower.as_str() {
        "0x" => 16,
        "0o" => 8,
        "0b" => 2,
        _ => return None,
    };
    let digits = &text[2..];
    let all = !digits.is_empty() && digits.chars().all(|c| c.is_digit(radix));
    all.then_some((digits, radix))
}

/// The ASCII digits `text` begins with (with `underscores`, single ones
/// between digits kept out, as Ruby's `to_i` reads them).
fn leading(text: &str, underscores: bool) -> String {
    let mut digits = String::new();
    let mut bytes = text.bytes().peekable();
    while let Some(b) = bytes.next() {
        let joined = underscores && b == b'_' && !digits.is_empty();
        if b.is_ascii_digit() {
            digits.push(char::from(b));
        } else if !(joined && bytes.peek().is_some_and(u8::is_ascii_digit)) {
            break;
        }
    }
    digits
}

/// `digits` in `radix`, or the largest value where it is past an i128.
fn value(digits: &str, radix: u32) -> i128 {
    let mut each = digits.chars().filter_map(|c| c.to_digit(radix));
    let folded = each.try_fold(0i128, |n, d| {
        n.checked_mul(i128::from(radix))?.checked_add(i128::from(d))
    });
    folded.unwrap_or(i128::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_number_is_read_as_each_common_parser_reads_its_spelling() {
        let cases: [(&str, &[i64]); 16] = [
            ("20000", &[20000]),
            ("+20000", &[20000]),
            (" 20000\n", &[20000]),
            ("020000", &[20000, 8192]),
            ("20_000", &[20000, 20]),
            ("0x4E20", &[20000, 0]),
            ("0o47040", &[20000, 0]),
            ("0b100111000100000", &[20000, 0]),
            ("2e4", &[20000, 2]),
            ("20000.5", &[20000, 20001]),
            ("20000abc", &[20000]),
            ("-20000", &[-20000]),
            ("Infinity", &[i64::MAX]),
            ("-inf", &[i64::MIN]),
            ("eur", &[]),
            ("99999999999999999999999", &[i64::MAX]),
        ];
        for (text, wanted) in cases {
            assert_eq!(spelled(text).unwrap(), wanted, "{text}");
        }
        for other in ["２００００", "٢٠٠٠٠", "+2０000"] {
            assert_eq!(spelled(other), Err(OTHER_DIGITS), "{other}");
        }
        assert_eq!(spelled("五郎 bought 3").unwrap(), Vec::<i64>::new());
    }

    proptest::proptest! {
        /// Any spelling of a number made of a sign, zeros, underscores,
        /// blanks and a radix prefix is read as that number among others.
        #[test]
        fn every_spelling_of_a_number_reads_as_it(
            n in 0i64..1_000_000_000,
            plus in proptest::bool::ANY,
            zeros in 0usize..4,
            blank in "[ \t\n]{0,2}",
            form in 0usize..5,
        ) {
            let written = match form {
                0 => format!("{}{n}", "0".repeat(zeros)),
                1 => format!("0x{n:x}"),
                2 => format!("0o{n:o}"),
                3 => format!("0b{n:b}"),
                _ => {
                    let digits = n.to_string();
                    let (head, tail) = digits.split_at(digits.len() / 2);
                    match head.is_empty() {
                        true => digits.clone(),
                        false => format!("{head}_{tail}"),
                    }
                }
            };
            let text = format!("{blank}{}{written}{blank}", if plus { "+" } else { "" });
            let read = spelled(&text).unwrap();
            proptest::prop_assert!(read.contains(&n), "{text:?} read as {read:?}");
        }
    }
}
