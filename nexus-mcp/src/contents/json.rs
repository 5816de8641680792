//! A JSON body read strictly for a policy ([`flattened`]): each scalar a
//! policy may read held at its dotted path, and the whole body held to the
//! rules that make its reading one (no key twice in an object, no nesting
//! past [`DEPTH_MOST`], no two paths alike), by serde_json's reader. Pure.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt::{self, Write as _};

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::Number;

use super::{BODY_MOST, DEPTH_MOST};

/// Why a body cannot be read as one JSON value (the model reads it).
pub(super) const DUPLICATE: &str =
    "its JSON body names a key twice in one object, which parsers read differently";
pub(super) const NESTED: &str = "its JSON body nests deeper than 64 levels";
pub(super) const COLLIDES: &str = "two keys of its JSON body have the same dotted path";
pub(super) const TOO_LARGE: &str = "its body is larger than a policy reads (8 MiB)";
pub(super) const UNPARSED: &str = "its body is labelled JSON and does not parse as JSON";

/// A scalar of a JSON body.
#[derive(Debug, PartialEq)]
pub(super) enum Scalar {
    Text(String),
    Number(Number),
    Bool(bool),
    Null,
}

impl Scalar {
    /// As `context.body` holds it: a string as it is, the others as JSON
    /// writes them.
    pub(super) fn text(&self) -> String {
        match self {
            Scalar::Text(text) => text.clone(),
            Scalar::Number(number) => number.to_string(),
            Scalar::Bool(b) => b.to_string(),
            Scalar::Null => "null".to_owned(),
        }
    }
}

/// What a JSON body is at its root.
#[derive(Debug, Default, PartialEq)]
pub(super) enum Root {
    Object,
    /// An array of this many items.
    Array(usize),
    #[default]
    Other,
}

/// A JSON body flattened: its root, and each scalar at its dotted path
/// (an array's items by index: `items.0.amount`).
#[derive(Debug, Default)]
pub(super) struct Flat {
    pub(super) root: Root,
    pub(super) scalars: Vec<(String, Scalar)>,
}

/// Whether a path's value is held, and whether a path within it may be
/// (else its value is skipped, as a policy reads nothing of it).
pub(super) type Keep<'a> = &'a dyn Fn(&str) -> (bool, bool);

/// `body` read as JSON, strictly (no key twice, no nesting past
/// [`DEPTH_MOST`], anywhere): or, when it is not JSON, nothing (a body
/// `json` labels JSON refused then). Only the scalars whose paths `keep`
/// takes are held (a collision is one among them), and only the values
/// that may hold them are walked by path: a body of which a policy names
/// one value costs little more than its parse.
pub(super) fn flattened(body: &[u8], json: bool, keep: Keep) -> Result<Flat, &'static str> {
    if body.len() > BODY_MOST {
        return Err(TOO_LARGE);
    }
    let (mut flat, mut path) = (Flat::default(), String::new());
    let seed = Flattening {
        path: &mut path,
        depth: 0,
        flat: &mut flat,
        keep,
    };
    let mut reader = serde_json::Deserializer::from_slice(body);
    let read = seed.deserialize(&mut reader).and_then(|()| reader.end());
    if let Err(error) = read {
        let said = error.to_string();
        let ours = [DUPLICATE, NESTED]
            .into_iter()
            .find(|why| said.starts_with(why));
        return match ours {
            Some(why) => Err(why),
            None if json => Err(UNPARSED),
            None => Ok(Flat::default()),
        };
    }
    let mut paths: Vec<&str> = flat.scalars.iter().map(|(p, _)| p.as_str()).collect();
    paths.sort_unstable();
    if paths.windows(2).any(|pair| pair[0] == pair[1]) {
        return Err(COLLIDES);
    }
    Ok(flat)
}

/// A JSON value read into [`Flat`] at `path`, `depth` deep, the scalars
/// `keep` takes held.
struct Flattening<'a> {
    path: &'a mut String,
    depth: usize,
    flat: &'a mut Flat,
    keep: Keep<'a>,
}

impl Flattening<'_> {
    /// Within this value at `key` (the path grown; [`Flattening::back`]
    /// cuts it again).
    fn at(&mut self, key: &str) -> Flattening<'_> {
        if self.depth > 0 {
            self.path.push('.');
        }
        self.path.push_str(key);
        Flattening {
            path: self.path,
            depth: self.depth + 1,
            flat: self.flat,
            keep: self.keep,
        }
    }

    /// The path cut back to this value's, `len` bytes.
    fn back(&mut self, len: usize) {
        self.path.truncate(len);
    }

    /// A scalar here (none at the root: only an object's or an array's).
    fn scalar<E>(self, scalar: impl FnOnce() -> Scalar) -> Result<(), E> {
        if self.depth > 0 && (self.keep)(self.path).0 {
            self.flat.scalars.push((self.path.clone(), scalar()));
        }
        Ok(())
    }

    /// One level deeper, refused past [`DEPTH_MOST`].
    fn deeper<E: de::Error>(&self) -> Result<(), E> {
        match self.depth >= DEPTH_MOST {
            true => Err(E::custom(NESTED)),
            false => Ok(()),
        }
    }
}

impl<'de> DeserializeSeed<'de> for Flattening<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, reader: D) -> Result<(), D::Error> {
        reader.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Flattening<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, b: bool) -> Result<(), E> {
        self.scalar(|| Scalar::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<(), E> {
        self.scalar(|| Scalar::Number(n.into()))
    }

    fn visit_u64<E>(self, n: u64) -> Result<(), E> {
        self.scalar(|| Scalar::Number(n.into()))
    }

    fn visit_f64<E>(self, f: f64) -> Result<(), E> {
        self.scalar(|| Scalar::Number(Number::from_f64(f).unwrap_or_else(|| 0.into())))
    }

    fn visit_str<E>(self, text: &str) -> Result<(), E> {
        self.scalar(|| Scalar::Text(text.to_owned()))
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        self.scalar(|| Scalar::Null)
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        self.deeper()?;
        if self.depth == 0 {
            self.flat.root = Root::Object;
        }
        let (len, mut seen) = (self.path.len(), Seen::default());
        while let Some(key) = map.next_key_seed(KeyRead)? {
            if !seen.first(key.clone()) {
                return Err(de::Error::custom(DUPLICATE));
            }
            let within = self.at(&key);
            match (within.keep)(within.path) {
                (false, false) => map.next_value_seed(Skipping(within.depth))?,
                _ => map.next_value_seed(within)?,
            }
            self.back(len);
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        self.deeper()?;
        let (len, mut index, mut key) = (self.path.len(), 0, String::new());
        loop {
            key.clear();
            let _ = write!(key, "{index}");
            let within = self.at(&key);
            let more = match (within.keep)(within.path) {
                (false, false) => seq.next_element_seed(Skipping(within.depth))?.is_some(),
                _ => seq.next_element_seed(within)?.is_some(),
            };
            self.back(len);
            if !more {
                break;
            }
            index += 1;
        }
        if self.depth == 0 {
            self.flat.root = Root::Array(index);
        }
        Ok(())
    }
}

/// A JSON value no policy reads, `.0` deep: held to the same rules (no
/// key twice, no nesting past [`DEPTH_MOST`]), its values not kept.
struct Skipping(usize);

impl<'de> DeserializeSeed<'de> for Skipping {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, reader: D) -> Result<(), D::Error> {
        reader.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Skipping {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        if self.0 >= DEPTH_MOST {
            return Err(de::Error::custom(NESTED));
        }
        let mut seen = Seen::default();
        while let Some(key) = map.next_key_seed(KeyRead)? {
            if !seen.first(key) {
                return Err(de::Error::custom(DUPLICATE));
            }
            map.next_value_seed(Skipping(self.0 + 1))?;
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        if self.0 >= DEPTH_MOST {
            return Err(de::Error::custom(NESTED));
        }
        while seq.next_element_seed(Skipping(self.0 + 1))?.is_some() {}
        Ok(())
    }
}

/// The keys of one object read so far: the first few in place (most
/// objects, no allocation), then a set (an object of many keys costs no
/// square).
#[derive(Default)]
struct Seen<'de> {
    few: Vec<Cow<'de, str>>,
    many: Option<HashSet<Cow<'de, str>>>,
}

impl<'de> Seen<'de> {
    /// Whether `key` is read for the first time (then held).
    fn first(&mut self, key: Cow<'de, str>) -> bool {
        if let Some(many) = &mut self.many {
            return many.insert(key);
        }
        if self.few.contains(&key) {
            return false;
        }
        self.few.push(key);
        if self.few.len() > 16 {
            self.many = Some(self.few.drain(..).collect());
        }
        true
    }
}

/// An object's key, borrowed from the body where it has no escape.
struct KeyRead;

impl<'de> DeserializeSeed<'de> for KeyRead {
    type Value = Cow<'de, str>;

    fn deserialize<D: de::Deserializer<'de>>(self, reader: D) -> Result<Cow<'de, str>, D::Error> {
        reader.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyRead {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_borrowed_str<E>(self, key: &'de str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Borrowed(key))
    }

    fn visit_str<E>(self, key: &str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(key.to_owned()))
    }
}
