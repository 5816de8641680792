//! A JSON body read strictly for a policy ([`flattened`]): each scalar a
//! policy may read held at its dotted path, and the whole body held to the
//! rules that make its reading one (no key twice in an object, no nesting
//! past [`DEPTH_MOST`], no two paths alike), by serde_json's reader; each
//! number held as it is written, never through a float (a number serde
//! reads as a float is found again, as written, in a second pass over the
//! containers on its path alone). Pure.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::fmt::{self, Write as _};

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::{BODY_MOST, DEPTH_MOST};

/// Why a body cannot be read as one JSON value (the model reads it).
pub(super) const DUPLICATE: &str =
    "its JSON body names a key twice in one object, which parsers read differently";
pub(super) const NESTED: &str = "its JSON body nests deeper than 64 levels";
pub(super) const COLLIDES: &str = "two keys of its JSON body have the same dotted path";
pub(super) const TOO_LARGE: &str = "its body is larger than a policy reads (8 MiB)";
pub(super) const UNPARSED: &str =
    "its body is JSON (labelled so, or starting like it) and does not read strictly as one value";

/// A scalar of a JSON body: a number as it is written.
#[derive(Debug, PartialEq)]
pub(super) enum Scalar {
    Text(String),
    Number(String),
    Bool(bool),
    Null,
}

impl Scalar {
    /// As `context.body` holds it: a string as it is, a number as written,
    /// the others as JSON writes them.
    pub(super) fn text(&self) -> String {
        match self {
            Scalar::Text(text) | Scalar::Number(text) => text.clone(),
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
    /// The scalars read as floats, by index: their text is found again.
    floats: Vec<usize>,
}

impl Flat {
    /// A body read: its root, and its scalars.
    pub(super) fn of(root: Root, scalars: Vec<(String, Scalar)>) -> Flat {
        let floats = Vec::new();
        Flat {
            root,
            scalars,
            floats,
        }
    }
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
    if !flat.floats.is_empty() {
        written_again(body, &mut flat)?;
    }
    Ok(flat)
}

/// The numbers of `flat` read as floats, set to their text as `body`
/// writes it: the body read again, raw, along their paths alone.
fn written_again(body: &[u8], flat: &mut Flat) -> Result<(), &'static str> {
    let body = std::str::from_utf8(body).map_err(|_| UNPARSED)?;
    let root: &RawValue = serde_json::from_str(body).map_err(|_| UNPARSED)?;
    let paths = flat.floats.iter().map(|i| flat.scalars[*i].0.as_str());
    let wanted: HashSet<&str> = paths.collect();
    let mut found = Vec::new();
    walked(root, &mut String::new(), &wanted, &mut found)?;
    let found: Vec<(String, String)> = (found.into_iter())
        .map(|(path, text)| (path, text.to_owned()))
        .collect();
    for (path, text) in found {
        let at = flat.floats.iter().find(|i| flat.scalars[**i].0 == path);
        if let Some(at) = at.copied() {
            flat.scalars[at].1 = Scalar::Number(text);
        }
    }
    Ok(())
}

/// An object's members, or an array's items (by index), raw.
type Children<'a> = Vec<(String, &'a RawValue)>;

/// The raw text of each path of `wanted` within `raw` (at `path`), into
/// `found`: only the containers on a wanted path are read.
fn walked<'a>(
    raw: &'a RawValue,
    path: &mut String,
    wanted: &HashSet<&str>,
    found: &mut Vec<(String, &'a str)>,
) -> Result<(), &'static str> {
    let text = raw.get();
    let children: Children<'a> = match text.trim_start().as_bytes().first() {
        Some(b'{') => {
            let members = serde_json::from_str::<BTreeMap<String, &'a RawValue>>(text);
            members.map_err(|_| UNPARSED)?.into_iter().collect()
        }
        Some(b'[') => {
            let items = serde_json::from_str::<Vec<&'a RawValue>>(text).map_err(|_| UNPARSED)?;
            let indexed = items.into_iter().enumerate();
            indexed.map(|(i, item)| (i.to_string(), item)).collect()
        }
        _ => return Ok(()),
    };
    let len = path.len();
    for (key, child) in children {
        if len > 0 {
            path.push('.');
        }
        path.push_str(&key);
        let under = |w: &&str| w.len() > path.len() && w.starts_with(path.as_str());
        if wanted.contains(path.as_str()) {
            found.push((path.clone(), child.get().trim()));
        } else if wanted.iter().any(under) {
            walked(child, path, wanted, found)?;
        }
        path.truncate(len);
    }
    Ok(())
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

    /// A number serde read as a float here: held, its text found again.
    fn float<E>(self, f: f64) -> Result<(), E> {
        if self.depth > 0 && (self.keep)(self.path).0 {
            self.flat.floats.push(self.flat.scalars.len());
            let text = Scalar::Number(f.to_string());
            self.flat.scalars.push((self.path.clone(), text));
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
        self.scalar(|| Scalar::Number(n.to_string()))
    }

    fn visit_u64<E>(self, n: u64) -> Result<(), E> {
        self.scalar(|| Scalar::Number(n.to_string()))
    }

    fn visit_f64<E>(self, f: f64) -> Result<(), E> {
        self.float(f)
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
