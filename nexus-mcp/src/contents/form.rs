//! A form body (`application/x-www-form-urlencoded`, as Stripe's API takes
//! it) read for a policy ([`flattened`]): each field at the dotted path a
//! JSON body's value would have (`metadata[key]` at `metadata.key`,
//! `items[0][price]` at `items.0.price`, `expand[]` given twice at
//! `expand.0` and `expand.1`), decoded as url's form parser decodes it;
//! a field given twice, or two at one path, is refused (parsers read them
//! differently). A value is text, its numbers read from it as parsers
//! read them ([`super::numbers`]); one that is not UTF-8 is refused where a policy reads it. A multipart
//! body's parts are read as a form's fields ([`parts`]). Pure.

use std::collections::{HashMap, HashSet};

use super::json::{Flat, Keep, Root, Scalar};
use super::{BODY_MOST, DEPTH_MOST};

/// Why a form body cannot be read as one (the model reads it).
pub(super) const REPEATED: &str =
    "its form body names a field twice (or two at one path), which parsers read differently";
pub(super) const TOO_LARGE: &str = "its body is larger than a policy reads (8 MiB)";
pub(super) const NESTED: &str = "its form body nests deeper than 64 levels";

/// `body` read as a form, the fields `keep` takes held.
pub(super) fn flattened(body: &[u8], keep: Keep) -> Result<Flat, &'static str> {
    if body.len() > BODY_MOST {
        return Err(TOO_LARGE);
    }
    let fields = url::form_urlencoded::parse(body);
    read(
        fields.map(|(name, value)| (name.into_owned(), value.into_owned())),
        keep,
    )
}

/// A multipart body's `parts` read as a form's fields (Rack and Stripe
/// read them alike), the fields `keep` takes held; a part that names no
/// field is no value.
pub(super) fn parts(
    parts: Vec<(Option<String>, Vec<u8>)>,
    keep: Keep,
) -> Result<Flat, &'static str> {
    let named = parts.into_iter().filter_map(|(name, value)| {
        let value = String::from_utf8(value)
            .unwrap_or_else(|bytes| String::from_utf8_lossy(bytes.as_bytes()).into_owned());
        Some((name?, value))
    });
    read(named, keep)
}

/// Why a field a policy reads is refused: its bytes are not UTF-8 (the
/// parsers' replacement characters differ).
pub(super) const NOT_UTF8: &str = "a value of its body that a policy reads is not UTF-8 text, which parsers read differently: send it in UTF-8";

/// `fields` (decoded names and values) read at their dotted paths, the
/// fields `keep` takes held, as text (its numbers are read from it as
/// each parser reads it: [`super::numbers`]); a field given twice, or two at one path, refused; a kept
/// value that was not UTF-8 (a replacement character in it) refused.
fn read(fields: impl Iterator<Item = (String, String)>, keep: Keep) -> Result<Flat, &'static str> {
    let (mut seen, mut appended) = (HashSet::new(), HashMap::new());
    let mut scalars = Vec::new();
    for (name, value) in fields {
        let path = dotted(&name, &mut appended)?;
        if !seen.insert(path.clone()) {
            return Err(REPEATED);
        }
        if keep(&path).0 {
            if value.contains('\u{FFFD}') {
                return Err(NOT_UTF8);
            }
            scalars.push((path, Scalar::Text(value)));
        }
    }
    Ok(Flat::of(Root::Object, scalars))
}

/// A field's name as a dotted path: its brackets read as Rack and Stripe
/// read them (`a[b][0]` is `a.b.0`; `a[]` the next index of `a`); a name
/// whose brackets do not close is a name as it is.
fn dotted(name: &str, appended: &mut HashMap<String, usize>) -> Result<String, &'static str> {
    let Some(at) = name.find('[') else {
        return Ok(name.to_owned());
    };
    let (head, mut rest) = name.split_at(at);
    let mut path = head.to_owned();
    let mut depth = 0;
    while let Some(inner) = rest.strip_prefix('[') {
        let Some((segment, after)) = inner.split_once(']') else {
            return Ok(name.to_owned());
        };
        depth += 1;
        if depth > DEPTH_MOST {
            return Err(NESTED);
        }
        let segment = match segment.is_empty() {
            true => {
                let next = appended.entry(path.clone()).or_insert(0);
                *next += 1;
                (*next - 1).to_string()
            }
            false => segment.to_owned(),
        };
        path.push('.');
        path.push_str(&segment);
        rest = after;
    }
    match rest.is_empty() {
        true => Ok(path),
        false => Ok(name.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(body: &str) -> Result<Vec<(String, String)>, &'static str> {
        let every = |_: &str| (true, true);
        let flat = flattened(body.as_bytes(), &every)?;
        Ok(flat
            .scalars
            .iter()
            .map(|(p, s)| (p.clone(), s.text()))
            .collect())
    }

    #[test]
    fn a_form_is_read_at_the_paths_a_json_body_would_have() {
        let read = read(
            "amount=90000&currency=eur&metadata[order]=o%201&items[0][price]=p_1\
                         &expand[]=a&expand[]=b&note=a+b&plain[",
        )
        .unwrap();
        let pairs: Vec<(&str, &str)> = read.iter().map(|(p, v)| (p.as_str(), v.as_str())).collect();
        assert_eq!(
            pairs,
            [
                ("amount", "90000"),
                ("currency", "eur"),
                ("metadata.order", "o 1"),
                ("items.0.price", "p_1"),
                ("expand.0", "a"),
                ("expand.1", "b"),
                ("note", "a b"),
                ("plain[", "")
            ]
        );
        let every = |_: &str| (true, true);
        let flat = flattened(b"amount=1.5&n=x", &every).unwrap();
        assert_eq!(flat.scalars[0].1, Scalar::Text("1.5".into()));
        assert_eq!(flat.scalars[1].1, Scalar::Text("x".into()));
    }

    #[test]
    fn a_field_given_twice_or_two_at_one_path_are_refused() {
        for body in ["amount=1&amount=2", "a.b=1&a[b]=2", "x[0]=1&x[]=2"] {
            assert_eq!(read(body), Err(REPEATED), "{body}");
        }
        let deep = format!("a{}=1", "[x]".repeat(65));
        assert_eq!(read(&deep), Err(NESTED));
    }
}
