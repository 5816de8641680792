//! What a policy reads of a call's content ([`readings`]): its query's
//! parameters, its JSON body's values at their dotted paths (as text, and
//! its numbers as integers), and its GraphQL operation; and whether a
//! `POST` carries a GraphQL document ([`graphql_document`]). A call is read as every
//! way its API may read it: a parameter given twice as each of its values
//! and as their list, a fraction as the integers either side of it, each
//! GraphQL document it carries; a body whose reading differs between
//! parsers (a key given twice, two keys whose paths collide) or that a
//! reader cannot bound (past [`BODY_MOST`] or nested past [`DEPTH_MOST`])
//! is refused. Only what a policy names is read ([`Reads`]): a call pays
//! for no reading no policy needs. A body is read as its API reads it
//! ([`body_read`]): JSON whatever its type says when it starts like JSON
//! (and refused then unless it reads strictly), a form where labelled so
//! or untyped, GraphQL's own document at a GraphQL endpoint; a persisted
//! query, which carries no document, is refused where its operation is
//! read. The class: a value the provider may read is a value the policy
//! reads, or the call is refused. Pure, so that each reading is tested
//! alone. A reading of a large request runs where it holds no other call
//! ([`aside`]). Its rooms: [`json`], a JSON body read strictly; [`form`], a
//! form body read at the same paths; [`multipart`], a multipart body's
//! parts; [`numbers`], the numbers a value's spelling may be read as.

use std::collections::{BTreeMap, BTreeSet};

use self::json::{Flat, Root, Scalar, flattened};
use crate::graphql::{self, Operation};

// Where the crate and the bench that includes this file both find them.
#[path = "contents/form.rs"]
mod form;
#[path = "contents/json.rs"]
mod json;
#[path = "contents/multipart.rs"]
pub(crate) mod multipart;
#[path = "contents/numbers.rs"]
mod numbers;

/// The largest body read for a policy, in bytes.
pub(crate) const BODY_MOST: usize = 8 << 20;
/// The deepest a JSON body read for a policy may nest.
pub(crate) const DEPTH_MOST: usize = 64;
/// The most ways one call is read (each decided): past it, refused.
pub(crate) const READINGS_MOST: usize = 64;

/// Why a body cannot be read as one JSON value (the model reads it).
const TOO_MANY: &str = "it reads in more than 64 ways (parameters given several times, fractions)";

/// The most bytes of a request (its URL and body) read on the runtime's
/// worker: a reading of more may take long (a GraphQL document parses at
/// about 70 µs a KiB), and runs [`aside`].
pub(crate) const READ_ON_WORKER: usize = 8 << 10;

/// `work`, a reading of `bytes` of a request: past [`READ_ON_WORKER`], on
/// this thread while the runtime's worker goes on with every other call on
/// another (`block_in_place`: a replica has one worker by default, and
/// one person's long readings must not hold another's warm call); within
/// it, or where the runtime has no worker to hand on (a test's), here.
pub(crate) fn aside<T>(bytes: usize, work: impl FnOnce() -> T) -> T {
    let flavor = tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor());
    match flavor {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) if bytes > READ_ON_WORKER => {
            tokio::task::block_in_place(work)
        }
        _ => work(),
    }
}

/// Which names of one of `context.query`, `context.body`,
/// `context.bodyNumbers` the policies read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) enum Keys {
    /// None: nothing of it is read.
    #[default]
    Unread,
    /// Only these, each a literal of a `hasTag` or `getTag`.
    Only(BTreeSet<String>),
    /// Any: a policy names one by more than a literal.
    Every,
}

impl Keys {
    /// Whether the name `key` is read.
    fn reads(&self, key: &str) -> bool {
        match self {
            Keys::Unread => false,
            Keys::Only(keys) => keys.contains(key),
            Keys::Every => true,
        }
    }

    /// Whether a name within `path` (`path.…`) is read.
    fn reads_under(&self, path: &str) -> bool {
        let under = |key: &String| {
            key.strip_prefix(path)
                .is_some_and(|rest| rest.starts_with('.'))
        };
        match self {
            Keys::Unread => false,
            Keys::Only(keys) => keys.iter().any(under),
            Keys::Every => true,
        }
    }

    /// Whether any name is read.
    fn any(&self) -> bool {
        *self != Keys::Unread
    }
}

/// What the policies read of a call's content.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Reads {
    pub(crate) query: Keys,
    pub(crate) body: Keys,
    pub(crate) numbers: Keys,
    /// Whether a policy reads `context.graphql`.
    pub(crate) graphql: bool,
}

impl Reads {
    /// Whether a policy reads anything of a call's content.
    pub(crate) fn any(&self) -> bool {
        self.query.any() || self.body.any() || self.numbers.any() || self.graphql
    }
}

/// One way a call may be read, as its policy's context holds it: the
/// names read and their values, sorted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub(crate) struct Content {
    pub(crate) query: Vec<(String, String)>,
    pub(crate) body: Vec<(String, String)>,
    pub(crate) numbers: Vec<(String, i64)>,
    pub(crate) graphql: Option<Operation>,
}

impl Content {
    /// Its size in bytes of text, for a bound on what is remembered.
    pub(crate) fn size(&self) -> usize {
        let pairs = self.query.iter().chain(&self.body);
        let text: usize = pairs.map(|(k, v)| k.len() + v.len()).sum();
        let numbers: usize = self.numbers.iter().map(|(k, _)| k.len() + 8).sum();
        let graphql = self.graphql.as_ref().map_or(0, |o| {
            o.name.len() + o.fields.iter().map(String::len).sum::<usize>()
        });
        text + numbers + graphql
    }
}

/// A call as it is sent: its URL (normalised), headers and body, and
/// whether its provider serves GraphQL at its path.
pub(crate) struct Sent<'a> {
    pub(crate) url: &'a url::Url,
    pub(crate) headers: &'a [(String, String)],
    pub(crate) body: Option<&'a [u8]>,
    pub(crate) endpoint: bool,
}

/// Every way `sent` may be read, as `reads` needs it (one, empty, where
/// nothing is read), or why it cannot be known.
///
/// # Errors
///
/// The reason the model reads: a body refused (see the module), a GraphQL
/// request that does not read as one operation, or more than
/// [`READINGS_MOST`] ways.
pub(crate) fn readings(reads: &Reads, sent: &Sent) -> Result<Vec<Content>, &'static str> {
    let mut readings = vec![Content::default()];
    if !reads.any() {
        return Ok(readings);
    }
    let parameters = parameters(sent.url);
    for (name, values) in parameters.iter().filter(|(n, _)| reads.query.reads(n)) {
        let each = values.iter().map(|v| (name.clone(), v.clone()));
        readings = crossed(readings, each.collect(), |c, pair| c.query.push(pair))?;
    }
    let needs_body = reads.body.any() || reads.numbers.any() || reads.graphql;
    let flat = match sent.body.filter(|_| needs_body) {
        Some(body) => {
            let keep = |path: &str| {
                let (member, towards) = graphql_member(path);
                let graphql = reads.graphql && member;
                let kept = graphql || reads.body.reads(path) || reads.numbers.reads(path);
                let under = |keys: &Keys| keys.reads_under(path);
                let item = path.bytes().all(|b| b.is_ascii_digit());
                let within = reads.graphql && (item || towards);
                (kept, within || under(&reads.body) || under(&reads.numbers))
            };
            let values = reads.body.any() || reads.numbers.any();
            body_read(sent.headers, body, (&keep, values))?
        }
        None => Flat::default(),
    };
    for (path, scalar) in &flat.scalars {
        if reads.body.reads(path) {
            let pair = (path.clone(), scalar.text());
            readings.iter_mut().for_each(|c| c.body.push(pair.clone()));
        }
        let read = match (reads.numbers.reads(path), scalar) {
            (true, Scalar::Number(number)) => integers(number),
            (true, Scalar::Text(text)) => numbers::spelled(text)?,
            _ => Vec::new(),
        };
        if !read.is_empty() {
            let each = read.into_iter().map(|n| (path.clone(), n));
            readings = crossed(readings, each.collect(), |c, pair| c.numbers.push(pair))?;
        }
    }
    if reads.graphql {
        let operations = operations(sent, &parameters, &flat)?;
        readings = crossed(readings, operations, |c, o| c.graphql = o)?;
    }
    for content in &mut readings {
        content.query.sort();
        content.body.sort();
        content.numbers.sort();
    }
    Ok(readings)
}

/// A body's scalars, whether a policy reads them or not, at their dotted
/// paths as text, the first `most` of them, and how many it holds; none
/// for a body that does not read as JSON.
pub(crate) fn values(body: &[u8], most: usize) -> (Vec<(String, String)>, usize) {
    let every = |_: &str| (true, true);
    let flat = flattened(body, false, &every).unwrap_or_default();
    let first = flat.scalars.iter().take(most);
    (
        first.map(|(path, s)| (path.clone(), s.text())).collect(),
        flat.scalars.len(),
    )
}

/// The GraphQL document a JSON body of one object holds in its `query`
/// (as a GraphQL request sends it); `None` for any other body: a batch,
/// a persisted query, no document, or a body that does not read strictly.
pub(crate) fn graphql_document(body: &[u8]) -> Option<String> {
    let flat = flattened(body, true, &|path| (path == "query", false)).ok()?;
    let document = flat.scalars.into_iter().find(|(path, _)| path == "query");
    match (flat.root, document) {
        (Root::Object, Some((_, Scalar::Text(document)))) => Some(document),
        _ => None,
    }
}

/// Whether `path` is where a GraphQL request holds its document or its
/// operation's name: an object's `query` and `operationName`, or a
/// batch's (`0.query`).
fn graphql_member(path: &str) -> (bool, bool) {
    const MEMBERS: [&str; 3] = [
        "query",
        "operationName",
        "extensions.persistedQuery.sha256Hash",
    ];
    let within_item = |path: &str| {
        let member = MEMBERS.contains(&path);
        let under = |m: &&str| {
            m.len() > path.len() && m.starts_with(path) && m[path.len()..].starts_with('.')
        };
        (member, MEMBERS.iter().any(under))
    };
    match path.split_once('.') {
        Some((index, name)) if index.bytes().all(|b| b.is_ascii_digit()) => within_item(name),
        _ => within_item(path),
    }
}

/// `readings` each taken with each of `values` (one: added to each as
/// it is; several, distinct: each reading once with each).
fn crossed<T: Clone + PartialEq>(
    readings: Vec<Content>,
    mut values: Vec<T>,
    add: impl Fn(&mut Content, T),
) -> Result<Vec<Content>, &'static str> {
    values.dedup();
    if readings.len() * values.len().max(1) > READINGS_MOST {
        return Err(TOO_MANY);
    }
    let mut out = Vec::with_capacity(readings.len() * values.len());
    for reading in readings {
        for value in &values {
            let mut each = reading.clone();
            add(&mut each, value.clone());
            out.push(each);
        }
    }
    Ok(out)
}

/// The query's parameters by name (decoded as a form is), each with
/// every value it may be read as: given once (or always with one value),
/// its value; given with several, each value and the list joined by `,`
/// (as ASP.NET reads it).
fn parameters(url: &url::Url) -> BTreeMap<String, Vec<String>> {
    let mut given: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in url.query_pairs() {
        given
            .entry(name.into_owned())
            .or_default()
            .push(value.into_owned());
    }
    for values in given.values_mut() {
        let joined = values.join(",");
        values.sort();
        values.dedup();
        if values.len() > 1 {
            values.push(joined);
        }
    }
    given
}

/// Each GraphQL operation the call may run: one for each document its
/// body (an object's `query`, or each of a batch's) and its URL's `query`
/// parameters carry; `None` alone when it carries none. A document that
/// does not parse is no GraphQL off an endpoint, and refused at one.
fn operations(
    sent: &Sent,
    parameters: &BTreeMap<String, Vec<String>>,
    flat: &Flat,
) -> Result<Vec<Option<Operation>>, &'static str> {
    let text = |path: &str| {
        flat.scalars.iter().find_map(|(p, s)| match s {
            Scalar::Text(t) if p == path => Some(t.as_str()),
            _ => None,
        })
    };
    // A persisted query (Apollo's: a hash, no document) names no operation.
    let persisted = |at: &str| {
        let hash = format!("{at}extensions.persistedQuery.sha256Hash");
        text(&format!("{at}query")).is_none() && text(&hash).is_some()
    };
    let mut documents: Vec<(&str, Option<&str>)> = Vec::new();
    let mut hashed = false;
    match flat.root {
        Root::Object => {
            hashed |= persisted("");
            documents.extend(text("query").map(|q| (q, text("operationName"))));
        }
        Root::Array(n) => (0..n).for_each(|i| {
            hashed |= persisted(&format!("{i}."));
            let q = text(&format!("{i}.query"));
            documents.extend(q.map(|q| (q, text(&format!("{i}.operationName")))));
        }),
        Root::Other => {}
    }
    let named = parameters.get("operationName").and_then(|n| n.first());
    let in_url = parameters.get("query").into_iter().flatten();
    documents.extend(in_url.map(|q| (q.as_str(), named.map(String::as_str))));
    let in_url_hashed = parameters.get("extensions").into_iter().flatten();
    hashed |= in_url_hashed
        .into_iter()
        .any(|e| e.contains("persistedQuery"))
        && !parameters.contains_key("query");
    if hashed && sent.endpoint {
        return Err(PERSISTED);
    }
    // `application/graphql`: the body is the document.
    let raw = sent
        .body
        .filter(|body| kind(sent.headers, body) == Kind::GraphQl);
    if let Some(raw) = raw {
        let document = std::str::from_utf8(raw).map_err(|_| graphql::UNPARSED)?;
        documents.push((document, named.map(String::as_str)));
    }
    let mut read = Vec::new();
    for (document, name) in documents {
        match graphql::operation(document, name) {
            Ok(operation) => read.push(Some(operation)),
            Err(graphql::UNPARSED) if !sent.endpoint => read.push(None),
            Err(why) => return Err(why),
        }
    }
    if read.is_empty() {
        read.push(None);
    }
    Ok(read)
}

/// Why a body that starts with a byte-order mark is refused.
const BOM: &str = "its body starts with a byte-order mark, which parsers read differently";
/// Why a persisted query is refused where its operation is read.
const PERSISTED: &str = "it is a persisted GraphQL query, which carries no document this server \
                         can read: send the document itself";

/// What a body is to its API, as its type and its first bytes say.
#[derive(Debug, PartialEq)]
enum Kind {
    /// Labelled JSON (`application/json`, `…+json`), or starting like JSON
    /// (`{` or `[` after any space) whatever its type: Go's decoder and
    /// Jackson read it so.
    Json,
    /// Labelled a form, or with no type: read as Stripe reads one.
    Form,
    /// Any `multipart/*` with this boundary: read as a form (Rack).
    Multipart(String),
    /// `application/graphql`: a GraphQL document as it is.
    GraphQl,
    /// Anything else, named as labelled: no value a policy reads.
    Other(String),
}

/// What `body` sent with `headers` is to its API.
fn kind(headers: &[(String, String)], body: &[u8]) -> Kind {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if matches!(first, Some(b'{' | b'[')) {
        return Kind::Json;
    }
    let types = (headers.iter()).filter(|(n, _)| n.eq_ignore_ascii_case("content-type"));
    let mut types = types.map(|(_, v)| v).peekable();
    if types.peek().is_none() {
        return Kind::Form;
    }
    let mut kind = None;
    for written in types {
        let Ok(t) = written.parse::<mime::Mime>() else {
            kind = kind.or_else(|| Some(Kind::Other(written.clone())));
            continue;
        };
        let application = t.type_() == mime::APPLICATION;
        kind = match t.subtype().as_str() {
            _ if application && (t.subtype() == mime::JSON || t.suffix() == Some(mime::JSON)) => {
                return Kind::Json;
            }
            _ if t.type_() == mime::MULTIPART => multipart::boundary(written).map(Kind::Multipart),
            "x-www-form-urlencoded" if application => Some(Kind::Form),
            "graphql" if application => Some(Kind::GraphQl),
            _ => None,
        }
        .or(kind)
        .or_else(|| Some(Kind::Other(written.clone())));
    }
    kind.unwrap_or(Kind::Form)
}

/// Why a body a policy reads is refused: its type, its charset or its
/// encoding is one this server does not read (the model reads it).
const UNREAD_TYPE: &str = "its body's content type is not one a policy here reads (JSON, a form, multipart or GraphQL): send its values as JSON or a form";
const UNREAD_CHARSET: &str = "its body is in a charset other than UTF-8, which this server does not decode: send it in UTF-8";
const UNREAD_ENCODING: &str = "its body is compressed (Content-Encoding), which this server does not decode for a policy: send it uncompressed";

/// `body` read as its API reads it ([`Kind`]), the values `keep` takes
/// held. Where `values` (a policy reads its values), a body whose type,
/// charset or encoding this server does not read is refused, with what to
/// send instead; a byte-order mark, which parsers read differently, always.
///
/// # Errors
///
/// The reason the model reads: a byte-order mark, a body that reads as
/// neither strictly, or one not read where `values`.
fn body_read(
    headers: &[(String, String)],
    body: &[u8],
    (keep, values): (json::Keep, bool),
) -> Result<Flat, &'static str> {
    if body.starts_with(&[0xEF, 0xBB, 0xBF]) {
        return Err(BOM);
    }
    let named = |wanted: &'static str| {
        let each = headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(wanted));
        each.map(|(_, value)| value.as_str())
    };
    let identity = |value: &str| {
        let mut each = value.split(',').map(str::trim);
        each.all(|e| e.is_empty() || e.eq_ignore_ascii_case("identity"))
    };
    if values && !body.is_empty() && !named("content-encoding").all(identity) {
        return Err(UNREAD_ENCODING);
    }
    let charset = |value: &str| {
        let t = value.parse::<mime::Mime>().ok()?;
        t.get_param(mime::CHARSET).map(|c| c.as_str().to_owned())
    };
    let charsets: Vec<String> = named("content-type").filter_map(charset).collect();
    if values && charsets.iter().any(|c| !multipart::utf8(c)) {
        return Err(UNREAD_CHARSET);
    }
    match kind(headers, body) {
        Kind::Json => flattened(body, true, keep),
        Kind::Form => form::flattened(body, keep),
        Kind::Multipart(boundary) => form::parts(multipart::parts(boundary, body)?, keep),
        Kind::GraphQl | Kind::Other(_) if values && !body.is_empty() => Err(UNREAD_TYPE),
        Kind::GraphQl | Kind::Other(_) => Ok(Flat::default()),
    }
}

/// The integers a number written `text` (JSON's grammar) may be read
/// as, decided from its digits, never through a float: an integer, itself;
/// a fraction, the integers either side of it (its floor, and the floor
/// and one); past a Long's range, the Long nearest it.
pub(crate) fn integers(text: &str) -> Vec<i64> {
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mantissa, exponent) = unsigned.split_once(['e', 'E']).unwrap_or((unsigned, "0"));
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits: Vec<u8> = (whole.bytes().chain(fraction.bytes()))
        .filter(u8::is_ascii_digit)
        .map(|d| d - b'0')
        .collect();
    // Where the point falls among the digits, bounded: a Long has 19.
    let exponent = exponent.trim_start_matches('+').parse::<i64>();
    let huge = if unsigned.contains("e-") || unsigned.contains("E-") {
        i64::MIN
    } else {
        i64::MAX
    };
    let exponent = exponent.unwrap_or(huge);
    let point = i64::try_from(whole.len())
        .unwrap_or(i64::MAX)
        .saturating_add(exponent);
    let point = usize::try_from(point.clamp(0, 40)).unwrap_or(0);
    let (integral, rest) = digits.split_at(point.min(digits.len()));
    let fractional = rest.iter().any(|d| *d != 0);
    let padding = std::iter::repeat_n(0, point.saturating_sub(digits.len()));
    let magnitude = (integral.iter().copied().chain(padding))
        .try_fold(0u128, |n, d| n.checked_mul(10)?.checked_add(u128::from(d)));
    let magnitude = magnitude.map_or(i128::MAX, |n| i128::try_from(n).unwrap_or(i128::MAX));
    let floor = match negative {
        false => magnitude,
        true => -magnitude - i128::from(fractional),
    };
    let long = |n: i128| i64::try_from(n.clamp(i64::MIN.into(), i64::MAX.into())).unwrap_or(0);
    let mut read = vec![long(floor)];
    if fractional {
        read.push(long(floor.saturating_add(1)));
    }
    read.dedup();
    read
}

#[cfg(test)]
mod tests {
    use super::json::{COLLIDES, DUPLICATE, NESTED, TOO_LARGE, UNPARSED};
    use super::*;

    fn keys(names: &[&str]) -> Keys {
        Keys::Only(names.iter().map(|n| (*n).to_owned()).collect())
    }

    /// Every reading of a `POST` of `body` (labelled JSON) to `url`.
    fn read(reads: &Reads, url: &str, body: &str) -> Result<Vec<Content>, &'static str> {
        read_typed(reads, (url, Some("application/json")), body)
    }

    /// Every reading of a `POST` of `body` typed `typed` (none: untyped).
    fn read_typed(
        reads: &Reads,
        (url, typed): (&str, Option<&str>),
        body: &str,
    ) -> Result<Vec<Content>, &'static str> {
        let url = url::Url::parse(url).unwrap();
        let headers: Vec<(String, String)> = typed
            .map(|t| ("Content-Type".to_owned(), t.to_owned()))
            .into_iter()
            .collect();
        let sent = Sent {
            url: &url,
            headers: &headers,
            body: Some(body.as_bytes()),
            endpoint: true,
        };
        readings(reads, &sent)
    }

    fn every() -> Reads {
        Reads {
            query: Keys::Every,
            body: Keys::Every,
            numbers: Keys::Every,
            graphql: true,
        }
    }

    fn pairs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn nothing_is_read_where_no_policy_reads_it() {
        let body = r#"{"a": 1, "a": 2}"#;
        let none = read(&Reads::default(), "https://x/?p=1&p=2", body).unwrap();
        assert_eq!(none, vec![Content::default()], "not even a refusal");
        let only = Reads {
            query: keys(&["q"]),
            ..Reads::default()
        };
        let read = read(&only, "https://x/?p=1&p=2&q=3", body).unwrap();
        assert_eq!(
            read.len(),
            1,
            "a parameter no policy names is not multiplied"
        );
        assert_eq!(read[0].query, pairs(&[("q", "3")]));
    }

    #[test]
    fn a_parameter_given_twice_is_read_as_each_value_and_as_their_list() {
        let reads = Reads {
            query: Keys::Every,
            ..Reads::default()
        };
        let read = read(
            &reads,
            "https://x/?per_page=100&per%5Fpage=1000&b=%2B+1",
            "",
        )
        .unwrap();
        let values: Vec<_> = read.iter().map(|c| c.query.clone()).collect();
        let with = |v: &str| pairs(&[("b", "+ 1"), ("per_page", v)]);
        assert_eq!(values, vec![with("100"), with("1000"), with("100,1000")]);
    }

    #[test]
    fn a_json_body_is_read_at_dotted_paths_as_text_and_integers() {
        let body = r#"{"visibility": "p\u0075blic", "items": [{"amount": 100}, {"amount": 1e3}],
            "ok": true, "none": null, "big": 100000000000000000000, "neg": -5, "f": 2.5,
            "\u00e9": "é", "empty": {}, "list": []}"#;
        let read = read(&every(), "https://x/", body).unwrap();
        assert_eq!(read.len(), 2, "the fraction read either side");
        let texts = pairs(&[
            ("big", "100000000000000000000"),
            ("f", "2.5"),
            ("items.0.amount", "100"),
            ("items.1.amount", "1e3"),
            ("neg", "-5"),
            ("none", "null"),
            ("ok", "true"),
            ("visibility", "public"),
            ("é", "é"),
        ]);
        assert_eq!(read[0].body, texts);
        let numbers = |f: i64| {
            vec![
                ("big".to_owned(), i64::MAX),
                ("f".to_owned(), f),
                ("items.0.amount".to_owned(), 100),
                ("items.1.amount".to_owned(), 1000),
                ("neg".to_owned(), -5),
            ]
        };
        assert_eq!(
            (read[0].numbers.clone(), read[1].numbers.clone()),
            (numbers(2), numbers(3))
        );
        let small = read_numbers("-100000000000000000000");
        assert_eq!(small, vec![i64::MIN]);
        assert_eq!(read_numbers("18446744073709551615"), vec![i64::MAX]);
        assert_eq!(read_numbers("-0.5"), vec![-1, 0]);
        // From the digits as written, never through a float.
        assert_eq!(read_numbers("10000.000000000001"), vec![10000, 10001]);
        assert_eq!(
            read_numbers("10000.0000000000000000001"),
            vec![10000, 10001]
        );
    }

    #[test]
    fn every_body_form_the_provider_reads_is_read_or_refused() {
        let amount = |read: Result<Vec<Content>, &'static str>| -> Vec<i64> {
            let read = read.unwrap();
            read.iter()
                .flat_map(|c| c.numbers.iter().map(|(_, n)| *n))
                .collect()
        };
        let form = "amount=90000&currency=eur&metadata[order]=o1";
        for typed in [Some("application/x-www-form-urlencoded"), None] {
            let read = read_typed(&every(), ("https://x/v1/charges", typed), form);
            assert_eq!(amount(read), [90000], "{typed:?}");
        }
        let read = read_typed(&every(), ("https://x/v1/charges", None), form).unwrap();
        assert!(
            read[0]
                .body
                .contains(&("metadata.order".into(), "o1".into()))
        );
        // JSON whatever its type says, read strictly; a BOM or data after it refused.
        for typed in [Some("text/plain"), None, Some("application/octet-stream")] {
            let at = ("https://x/", typed);
            assert_eq!(
                amount(read_typed(&every(), at, r#" {"amount": 9}"#)),
                [9],
                "{typed:?}"
            );
            let after = read_typed(&every(), at, r#"{"amount": 9} {"amount": 99999}"#);
            assert_eq!(after, Err(json::UNPARSED), "{typed:?}");
            let bom = read_typed(&every(), at, "\u{feff}{\"amount\": 99999}");
            assert_eq!(bom, Err(BOM), "{typed:?}");
        }
        // A body of another type, where a policy reads values: refused, with
        // what to send instead; where none does, sent unread.
        let plain = read_typed(&every(), ("https://x/", Some("text/plain")), "amount=5");
        assert_eq!(plain, Err(UNREAD_TYPE));
        let graphql_only = Reads {
            graphql: true,
            ..Reads::default()
        };
        let at = ("https://x/", Some("text/plain"));
        assert!(read_typed(&graphql_only, at, "amount=5").is_ok());
    }

    #[test]
    fn a_value_is_read_in_every_spelling_and_every_body_form_or_refused() {
        let numbers = Reads {
            numbers: keys(&["amount"]),
            ..Reads::default()
        };
        let amount = |read: Vec<Content>| -> Vec<i64> {
            read.iter()
                .flat_map(|c| c.numbers.iter().map(|(_, n)| *n))
                .collect()
        };
        let form = Some("application/x-www-form-urlencoded");
        for (body, wanted) in [
            ("amount=%2B20000", vec![20000]),
            ("amount=020000", vec![8192, 20000]),
            ("amount=20_000", vec![20, 20000]),
            ("amount=2e4", vec![2, 20000]),
            ("amount=eur", vec![]),
        ] {
            let read = read_typed(&numbers, ("https://x/", form), body).unwrap();
            let mut read = amount(read);
            read.sort_unstable();
            assert_eq!(read, wanted, "{body}");
        }
        let json = read_typed(&numbers, ("https://x/", None), r#"{"amount": "20000"}"#).unwrap();
        assert_eq!(amount(json), [20000], "a JSON string read as its number");
        let other = read_typed(&numbers, ("https://x/", form), "amount=%EF%BC%92%EF%BC%90");
        assert_eq!(other, Err(numbers::OTHER_DIGITS));
        let latin = read_typed(&numbers, ("https://x/", form), "amount=%FF20000");
        assert_eq!(latin, Err(form::NOT_UTF8));
        let multipart = "--b\r\nContent-Disposition: form-data; name=\"amount\"\r\n\r\n\
                         +20000\r\n--b--\r\n";
        let typed = Some("multipart/form-data; boundary=b");
        let read = read_typed(&numbers, ("https://x/", typed), multipart).unwrap();
        assert_eq!(amount(read), [20000], "a multipart field read as a form's");
        let charset = Some("application/x-www-form-urlencoded; charset=iso-8859-1");
        assert_eq!(
            read_typed(&numbers, ("https://x/", charset), "amount=1"),
            Err(UNREAD_CHARSET)
        );
        let url = url::Url::parse("https://x/").unwrap();
        let gzipped = [("content-encoding".to_owned(), "gzip".to_owned())];
        let sent = Sent {
            url: &url,
            headers: &gzipped,
            body: Some(b"\x1f\x8b"),
            endpoint: false,
        };
        assert_eq!(readings(&numbers, &sent), Err(UNREAD_ENCODING));
    }

    proptest::proptest! {
        /// Whatever type a body is labelled, a value the API may read is
        /// read, or the call is refused: never decided without it.
        #[test]
        fn a_body_of_any_type_is_read_or_refused(
            typed in "[a-z]{1,12}/[a-z.+-]{1,16}(; ?[a-z]{1,8}=[a-z0-9-]{1,10})?",
            number in "[+ 0]{0,2}20000",
        ) {
            let numbers = Reads {
                numbers: keys(&["amount"]),
                ..Reads::default()
            };
            let body = format!("amount={number}");
            let read = read_typed(&numbers, ("https://x/", Some(&typed)), &body);
            if let Ok(read) = read {
                for content in read {
                    let found = content.numbers.iter().any(|(k, n)| k == "amount" && *n == 20000);
                    proptest::prop_assert!(found, "{typed}: {content:?}");
                }
            }
        }
    }

    #[test]
    fn at_a_graphql_endpoint_a_raw_document_is_read_and_a_persisted_query_refused() {
        let reads = Reads {
            graphql: true,
            ..Reads::default()
        };
        let at = (
            "https://api.github.com/graphql",
            Some("application/graphql"),
        );
        let raw = read_typed(
            &reads,
            at,
            "mutation { mergePullRequest(input: {}) { clientMutationId } }",
        );
        let operation = raw.unwrap()[0].graphql.clone().expect("the document's");
        assert_eq!(
            (operation.kind, operation.fields),
            ("mutation", vec!["mergePullRequest".to_owned()])
        );
        let hashed = r#"{"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "ecf4edb46db40b5132295c0291d62fb65d6759a9eedfa4d5d612dd5ec54a6b38"}}}"#;
        assert_eq!(
            read(&reads, "https://api.github.com/graphql", hashed),
            Err(PERSISTED)
        );
        let batch = format!("[{hashed}]");
        assert_eq!(
            read(&reads, "https://api.github.com/graphql", &batch),
            Err(PERSISTED)
        );
        let in_url =
            "https://api.github.com/graphql?extensions=%7B%22persistedQuery%22%3A%7B%7D%7D";
        assert_eq!(read_typed(&reads, (in_url, None), ""), Err(PERSISTED));
    }

    #[test]
    fn a_number_is_read_from_its_digits_as_written() {
        let cases: [(&str, &[i64]); 17] = [
            ("10000", &[10000]),
            ("10000.000000000001", &[10000, 10001]),
            ("-10000.000000000001", &[-10001, -10000]),
            ("2.00005e4", &[20000, 20001]),
            ("2.00005E+4", &[20000, 20001]),
            ("5e2", &[500]),
            ("123e-2", &[1, 2]),
            ("0.000", &[0]),
            ("-0", &[0]),
            ("-0.0", &[0]),
            ("1e400", &[i64::MAX]),
            ("-1e400", &[i64::MIN]),
            ("1e-400", &[0, 1]),
            ("-1e-400", &[-1, 0]),
            ("9223372036854775807", &[i64::MAX]),
            ("9223372036854775806.5", &[i64::MAX - 1, i64::MAX]),
            ("-9223372036854775808", &[i64::MIN]),
        ];
        for (text, read) in cases {
            assert_eq!(integers(text), read, "{text}");
        }
    }

    fn read_numbers(number: &str) -> Vec<i64> {
        let reads = Reads {
            numbers: keys(&["n"]),
            ..Reads::default()
        };
        let read = read(&reads, "https://x/", &format!(r#"{{"n": {number}}}"#)).unwrap();
        read.iter().map(|c| c.numbers[0].1).collect()
    }

    #[test]
    fn a_body_parsers_read_differently_or_that_cannot_be_bounded_is_refused() {
        let reads = Reads {
            body: keys(&["a", "a.b", "a.0"]),
            ..Reads::default()
        };
        let refused = |body: &str| read(&reads, "https://x/", body).err();
        assert_eq!(refused(r#"{"a": 1, "a": 2}"#), Some(DUPLICATE));
        assert_eq!(
            refused(r#"{"a": 1, "\u0061": 2}"#),
            Some(DUPLICATE),
            "escaped alike"
        );
        assert_eq!(
            refused(r#"{"a": {"b": 1, "b": 1}}"#),
            Some(DUPLICATE),
            "wherever a value read may be"
        );
        let unread = r#"{"x": {"c": [{"b": 1, "b": 1}]}, "a": "y"}"#;
        assert_eq!(refused(unread), Some(DUPLICATE), "nowhere, read or not");
        let strictly = |body: &str| read(&every(), "https://x/", body).err();
        assert_eq!(strictly(r#"{"x": {"b": 1, "b": 1}}"#), Some(DUPLICATE));
        assert_eq!(refused(r#"{"a.b": 1, "a": {"b": 2}}"#), Some(COLLIDES));
        assert_eq!(refused(r#"{"a.0": 1, "a": [2]}"#), Some(COLLIDES));
        let deep = format!("{}1{}", "[".repeat(65), "]".repeat(65));
        assert_eq!(refused(&deep), Some(NESTED), "nowhere, read or not");
        let fine = format!("{}1{}", "[".repeat(64), "]".repeat(64));
        assert_eq!(strictly(&fine), None);
        assert_eq!(refused("{\"a\": 1,}"), Some(UNPARSED));
        assert_eq!(refused(&" ".repeat(BODY_MOST + 1)), Some(TOO_LARGE));
        let url = url::Url::parse("https://x/").unwrap();
        let text = [("content-type".to_owned(), "text/plain".to_owned())];
        let sent = |body: &'static str| Sent {
            url: &url,
            headers: &text,
            body: Some(body.as_bytes()),
            endpoint: false,
        };
        assert_eq!(
            readings(&reads, &sent("a=1")),
            Err(UNREAD_TYPE),
            "not JSON, and text: not read, so refused"
        );
        let unlabelled = readings(&reads, &sent(r#"{"a": "x"}"#)).unwrap();
        assert_eq!(
            unlabelled[0].body,
            pairs(&[("a", "x")]),
            "JSON, whatever its label"
        );
        let many = format!(
            "{{{}}}",
            (0..7)
                .map(|i| format!("\"n{i}\": 0.5"))
                .collect::<Vec<_>>()
                .join(",")
        );
        assert_eq!(read(&every(), "https://x/", &many).err(), Some(TOO_MANY));
    }

    #[test]
    fn each_graphql_document_a_call_carries_is_an_operation_read() {
        let reads = Reads {
            graphql: true,
            ..Reads::default()
        };
        let kinds = |url: &str, body: &str| {
            let read = read(&reads, url, body).unwrap();
            read.into_iter()
                .map(|c| c.graphql.map(|o| o.kind))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            kinds("https://x/graphql", r#"{"query": "{ a }"}"#),
            vec![Some("query")]
        );
        let named =
            r#"{"query": "query A { a } mutation B { b }", "operationName": "B", "variables": {}}"#;
        assert_eq!(kinds("https://x/graphql", named), vec![Some("mutation")]);
        let batch = r#"[{"query": "{ a }"}, {"query": "mutation { b }"}]"#;
        assert_eq!(
            kinds("https://x/graphql", batch),
            vec![Some("query"), Some("mutation")]
        );
        let both = kinds(
            "https://x/graphql?query=mutation%7Bb%7D",
            r#"{"query": "{ a }"}"#,
        );
        assert_eq!(
            both,
            vec![Some("query"), Some("mutation")],
            "the URL's document too"
        );
        let persisted = r#"{"extensions": {"persistedQuery": {"sha256Hash": "ab"}}}"#;
        let hashed = read(&reads, "https://x/graphql", persisted);
        assert_eq!(hashed.err(), Some(PERSISTED), "no document: refused");
        let several = r#"{"query": "query A { a } query B { b }"}"#;
        assert_eq!(
            read(&reads, "https://x/graphql", several).err(),
            Some(graphql::UNNAMED)
        );
        assert_eq!(
            read(&reads, "https://x/graphql", r#"{"query": "{ a"}"#).err(),
            Some(graphql::UNPARSED)
        );
        let url = url::Url::parse("https://x/search?query=terms").unwrap();
        let off = Sent {
            url: &url,
            headers: &[],
            body: None,
            endpoint: false,
        };
        assert_eq!(
            readings(&reads, &off).unwrap()[0].graphql,
            None,
            "off an endpoint, no GraphQL"
        );
    }
}
