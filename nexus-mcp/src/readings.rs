//! What an API may read a request as besides its request line: the methods
//! a method-override header or a `_method` parameter names (Rails,
//! Laravel, Symfony, Express's `method-override`, Google's APIs), and the
//! path syntax that servers and proxies split differently from the
//! normaliser; whether a call is a GraphQL read ([`graphql_read`]) or
//! writes in its URL ([`graphql_writes_in_url`]); and the normaliser itself
//! ([`normalized`]), the one home of how a request's URL is read, which a
//! policy's literals are held to too.
//! Under `--policy` a call is decided for every method it may be read as,
//! and a path that reads two ways is refused where a policy names paths.
//! Pure, so that each reading is tested alone.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserializer as _, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;

use crate::graphql;

/// Headers common frameworks read as the method instead of the request's.
pub(crate) const OVERRIDES: [&str; 3] = [
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
];

/// The segments of a path a provider reads without regard to case, by
/// provider (as the Gateway names it, any case): each a pattern whose `*`
/// segments are folded. GitHub's owner, repository, organisation and user
/// names (`/repos/Contoso/API` is `/repos/contoso/api`); a file's path
/// after them is not.
pub(crate) const FOLDED: [(&str, &[&str]); 1] = [(
    "github",
    &[
        "/repos/*/*",
        "/orgs/*",
        "/users/*",
        "/api/v3/repos/*/*",
        "/api/v3/orgs/*",
        "/api/v3/users/*",
    ],
)];

/// `path` as `provider` serves it: the segments it reads in any case
/// ([`FOLDED`]) in lower case, so that a policy decides the path the
/// provider serves whatever case a call writes it in.
pub(crate) fn folded<'a>(provider: &str, path: &'a str) -> Cow<'a, str> {
    let patterns = FOLDED
        .iter()
        .filter(|(p, _)| p.eq_ignore_ascii_case(provider));
    let patterns = patterns.flat_map(|(_, patterns)| patterns.iter());
    let segments: Vec<&str> = path.split('/').collect();
    for pattern in patterns {
        let wanted: Vec<&str> = pattern.split('/').collect();
        let fits = segments.len() >= wanted.len()
            && (wanted.iter().zip(&segments)).all(|(w, s)| *w == "*" || w == s);
        let lowered: Vec<String> = (segments.iter().enumerate())
            .map(|(i, s)| match wanted.get(i) {
                Some(&"*") => lower_case(s),
                _ => (*s).to_owned(),
            })
            .collect();
        if fits && lowered.iter().zip(&segments).any(|(l, s)| l != s) {
            return Cow::Owned(lowered.join("/"));
        }
    }
    Cow::Borrowed(path)
}

/// A path segment's letters in lower case, its escapes as written (their
/// hex digits are the escape, not a name's letters: `%2F` stays `%2F`).
fn lower_case(segment: &str) -> String {
    let mut lowered = String::with_capacity(segment.len());
    let mut escape = 0;
    for c in segment.chars() {
        if escape > 0 {
            escape -= 1;
            lowered.push(c);
        } else {
            escape = if c == '%' { 2 } else { 0 };
            lowered.push(c.to_ascii_lowercase());
        }
    }
    lowered
}

/// The parameter frameworks read as the method, in a query or a body.
const METHOD_PARAMETER: &str = "_method";

/// Why a call's methods cannot be known: its multipart body does not read
/// to its end, so a server may find a `_method` in it that this cannot.
pub(crate) const UNREAD_MULTIPART: &str = "its multipart body cannot be read to its end, so the \
                                           method a server reads from it cannot be known";

/// Every method a server may read a request as, in upper case, the
/// request's own `method` first: it; every method an override header
/// carries, each value of a repeated one and each token of a list in one
/// (Express reads a list's first, others its last or the whole); and every
/// `_method` in the URL's query or in `body`: as a form and as a JSON
/// object's member whatever the content type says (each member of that
/// name, as parsers differ on which of two they keep), and as a field of a
/// multipart body when a `Content-Type` among `headers` is a multipart one
/// (Rack, Laravel and Spring read it there).
///
/// # Errors
///
/// [`UNREAD_MULTIPART`]: a multipart body that does not read to its end.
pub(crate) fn methods(
    method: &str,
    headers: &[(String, String)],
    url: &str,
    body: Option<&[u8]>,
) -> Result<Vec<String>, &'static str> {
    let overridden = OVERRIDES
        .iter()
        .flat_map(|o| named(headers, o))
        .flat_map(tokens);
    // No `?`, no query: the URL is parsed only to find one.
    let query = (url
        .contains('?')
        .then(|| url::Url::parse(url).ok())
        .flatten())
    .and_then(|u| u.query().map(str::to_owned));
    let mut read: Vec<String> = vec![method.to_owned()];
    read.extend(overridden.map(str::to_owned));
    read.extend(query.map(|q| in_form(q.as_bytes())).unwrap_or_default());
    if let Some(body) = body {
        read.extend(in_form(body));
        read.extend(in_json(body));
        for content_type in named(headers, "content-type") {
            read.extend(in_multipart(content_type, body)?);
        }
    }
    let mut methods: Vec<String> = Vec::with_capacity(read.len());
    for each in read.iter().map(|m| m.trim().to_uppercase()) {
        if !methods.contains(&each) {
            methods.push(each);
        }
    }
    Ok(methods)
}

/// The values of each header `wanted` among `headers`.
fn named<'a>(headers: &'a [(String, String)], wanted: &'a str) -> impl Iterator<Item = &'a str> {
    (headers.iter())
        .filter(move |(name, _)| name.eq_ignore_ascii_case(wanted))
        .map(|(_, value)| value.as_str())
}

/// The tokens of a header's value: what lies between anything no method
/// holds (commas, spaces, semicolons), as any framework may split it.
fn tokens(value: &str) -> impl Iterator<Item = &str> {
    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    value
        .split(move |c: char| !token(c))
        .filter(|t| !t.is_empty())
}

/// Each `_method` of `text` read as a form (`a=1&_method=PUT`).
fn in_form(text: &[u8]) -> Vec<String> {
    (url::form_urlencoded::parse(text))
        .filter(|(name, _)| name.eq_ignore_ascii_case(METHOD_PARAMETER))
        .map(|(_, value)| value.into_owned())
        .collect()
}

/// Each string member `_method` of `body` read as a JSON object, the
/// other members skipped unbuilt (a large body costs no value of its own);
/// none when it is no object.
fn in_json(body: &[u8]) -> Vec<String> {
    let mut json = serde_json::Deserializer::from_slice(body);
    (json.deserialize_map(Members)).unwrap_or_default()
}

/// A JSON object read for its `_method` members.
struct Members;

impl<'de> Visitor<'de> for Members {
    type Value = Vec<String>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vec<String>, A::Error> {
        let mut found = Vec::new();
        while let Some(name) = map.next_key::<Cow<'de, str>>()? {
            if name.eq_ignore_ascii_case(METHOD_PARAMETER) {
                found.extend(map.next_value::<Value>()?.as_str().map(str::to_owned));
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

/// Each `_method` field of `body` read as the multipart body
/// `content_type` says (any `multipart/*` with a boundary, as Rack reads
/// them), by multer, axum's multipart parser; none for another type.
fn in_multipart(content_type: &str, body: &[u8]) -> Result<Vec<String>, &'static str> {
    let Some(boundary) = crate::contents::multipart::boundary(content_type) else {
        return Ok(Vec::new());
    };
    let parts = crate::contents::multipart::parts(boundary, body).map_err(|_| UNREAD_MULTIPART)?;
    let named = |name: &Option<String>| {
        (name.as_deref()).is_some_and(|n| n.eq_ignore_ascii_case(METHOD_PARAMETER))
    };
    let methods = parts.into_iter().filter(|(name, _)| named(name));
    Ok(methods
        .map(|(_, value)| String::from_utf8_lossy(&value).into_owned())
        .collect())
}

/// The URL a call is decided on and sent as: parsed (the host in lower
/// case, dot segments resolved), its path's percent escapes of letters,
/// digits and `-._~` decoded and the others in upper case (RFC 3986
/// §6.2.2), then its dot segments resolved again: no spelling of a path
/// walks out of what a policy names. `None` for a URL that does not parse.
pub(crate) fn normalized(url: &str) -> Option<url::Url> {
    let mut parsed = url::Url::parse(url).ok()?;
    let path = parsed.path().to_owned();
    let (mut out, mut bytes) = (String::with_capacity(path.len()), path.as_bytes());
    while let Some((&first, rest)) = bytes.split_first() {
        let hex = rest.get(..2).and_then(|h| std::str::from_utf8(h).ok());
        let byte = hex
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .filter(|_| first == b'%');
        match byte {
            Some(b) if b.is_ascii_alphanumeric() || b"-._~".contains(&b) => out.push(char::from(b)),
            Some(b) => out.push_str(&format!("%{b:02X}")),
            None => out.push(char::from(first)),
        }
        bytes = if byte.is_some() { &rest[2..] } else { rest };
    }
    parsed.set_path(&out);
    Some(parsed)
}

/// Whether a `POST` of `body` to `url` on `provider` is a GraphQL read:
/// to one of its GraphQL endpoints (`added` the operator's), with no
/// document in the URL's query, its body one JSON object whose `query`
/// is a document of `query` operations only.
///
/// # Errors
///
/// Why the document such a body carries cannot be read (a refusal says it).
pub(crate) fn graphql_read(
    added: &[(String, String)],
    provider: &str,
    url: &str,
    body: &[u8],
) -> Result<bool, &'static str> {
    let Some(url) = normalized(url) else {
        return Ok(false);
    };
    let in_url = url.query_pairs().any(|(name, _)| name == "query");
    if in_url || !graphql::is_endpoint(added, provider, url.path()) {
        return Ok(false);
    }
    match crate::contents::graphql_document(body) {
        Some(document) => graphql::only_queries(&document),
        None => Ok(false),
    }
}

/// Whether `url` on `provider` carries a GraphQL document that writes in
/// its query (`?query=mutation…`), to one of its GraphQL endpoints
/// (`added` the operator's): a `GET` that is no read.
pub(crate) fn graphql_writes_in_url(added: &[(String, String)], provider: &str, url: &str) -> bool {
    // Most URLs carry no `query` parameter, even escaped: they are not
    // parsed for one.
    let query = url.split_once('?').map_or("", |(_, query)| query);
    if !query.contains("query") && !query.contains('%') {
        return false;
    }
    let Some(url) = normalized(url) else {
        return false;
    };
    let endpoint = || graphql::is_endpoint(added, provider, url.path());
    let mut documents = url.query_pairs().filter(|(name, _)| name == "query");
    documents.any(|(_, document)| graphql::writes(&document)) && endpoint()
}

/// The first segment of `path` (as the normaliser left it) that servers
/// and proxies read in more than one way, and how: an encoded `/` or `\`
/// (`%2F`, `%5C`: one segment to a proxy, two to a server that decodes
/// first, as IIS, Jetty's and nginx's `merge_slashes` paths may), or a `;`
/// (a path parameter, which Tomcat, Jetty and Spring cut off, so that
/// `..;` is `..` and `other;x` is `other`). `None` when it reads one way.
pub(crate) fn read_two_ways(path: &str) -> Option<(&str, &'static str)> {
    path.split('/').find_map(|segment| {
        let upper = segment.to_ascii_uppercase();
        let why = if upper.contains("%2F") || upper.contains("%5C") {
            "an encoded slash or backslash, one segment to some servers and two to others"
        } else if segment.contains(';') {
            "a `;` path parameter, which some servers cut off the segment"
        } else {
            return None;
        };
        Some((segment, why))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_is_decided_as_its_provider_serves_it_whatever_its_case() {
        let cases = [
            (
                "github",
                "/repos/Contoso/API/pulls",
                "/repos/contoso/api/pulls",
            ),
            ("GitHub", "/repos/Contoso/API", "/repos/contoso/api"),
            (
                "github",
                "/repos/acme/x/contents/README.md",
                "/repos/acme/x/contents/README.md",
            ),
            (
                "github",
                "/repos/Acme/X/contents/ReadMe.md",
                "/repos/acme/x/contents/ReadMe.md",
            ),
            ("github", "/orgs/Contoso/members", "/orgs/contoso/members"),
            (
                "github",
                "/api/v3/repos/Contoso/API",
                "/api/v3/repos/contoso/api",
            ),
            ("github", "/Repos/Contoso/API", "/Repos/Contoso/API"),
            ("gitlab", "/repos/Contoso/API", "/repos/Contoso/API"),
            // An escape's hex digits are no name's letters: kept as written.
            (
                "github",
                "/repos/acme/..%2Fother/x",
                "/repos/acme/..%2Fother/x",
            ),
            ("github", "/repos/Acme/%C3%A9T%2F", "/repos/acme/%C3%A9t%2F"),
        ];
        for (provider, path, served) in cases {
            assert_eq!(folded(provider, path), served, "{provider} {path}");
        }
    }

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        (pairs.iter())
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_request_is_read_as_every_method_an_override_or_parameter_names() {
        let url = "https://api.example/x";
        let none = methods("post", &[], url, None).unwrap();
        assert_eq!(none, ["POST"]);
        for name in [
            "X-HTTP-Method-Override",
            "x-http-method",
            "X-Method-Override",
        ] {
            let read = methods("POST", &headers(&[(name, "delete")]), url, None).unwrap();
            assert_eq!(read, ["POST", "DELETE"], "{name}");
        }
        let query = methods("GET", &[], "https://api.example/x?a=1&_method=PUT", None).unwrap();
        assert_eq!(query, ["GET", "PUT"]);
        let form = methods("POST", &[], url, Some(b"title=x&_method=patch")).unwrap();
        assert_eq!(form, ["POST", "PATCH"]);
        let json = methods("POST", &[], url, Some(br#"{"_method": "DELETE"}"#)).unwrap();
        assert_eq!(json, ["POST", "DELETE"]);
        let same = methods(
            "DELETE",
            &headers(&[("X-HTTP-Method", "DELETE")]),
            url,
            None,
        )
        .unwrap();
        assert_eq!(same, ["DELETE"], "a method read once");
    }

    #[test]
    fn an_override_header_is_read_as_each_value_and_each_token_of_a_list() {
        let url = "https://api.example/x";
        let read = |pairs: &[(&str, &str)]| methods("POST", &headers(pairs), url, None).unwrap();
        for list in [
            "DELETE, POST",
            "POST,DELETE",
            "delete ,post",
            "DELETE;POST",
            "POST DELETE",
        ] {
            assert_eq!(
                read(&[("X-HTTP-Method-Override", list)]),
                ["POST", "DELETE"],
                "{list}"
            );
        }
        let repeated = read(&[
            ("X-Method-Override", "PUT"),
            ("x-method-override", "DELETE"),
        ]);
        assert_eq!(repeated, ["POST", "PUT", "DELETE"]);
    }

    #[test]
    fn a_json_body_is_read_for_each_method_member_without_its_value() {
        let url = "https://api.example/x";
        let read = |body: &str| methods("POST", &[], url, Some(body.as_bytes())).unwrap();
        let twice = r#"{"_method": "GET", "big": [1, {"a": "b"}], "_method": "DELETE"}"#;
        assert_eq!(read(twice), ["POST", "GET", "DELETE"]);
        assert_eq!(read(r#"{"_METHOD": "put"}"#), ["POST", "PUT"]);
        assert_eq!(read(r#"{"_method": {"no": "string"}, "x": 1}"#), ["POST"]);
        assert_eq!(read(r#"["_method", "DELETE"]"#), ["POST"]);
    }

    #[test]
    fn a_multipart_body_is_read_for_its_method_fields_as_its_content_type_says() {
        let url = "https://api.example/x";
        let body = "--XyZ\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nhi\r\n\
                    --XyZ\r\nContent-Disposition: form-data; name=\"_method\"\r\n\r\ndelete\r\n\
                    --XyZ--\r\n";
        let read = |content_type: &str| {
            let typed = headers(&[("Content-Type", content_type)]);
            methods("POST", &typed, url, Some(body.as_bytes()))
        };
        for multipart in [
            "multipart/form-data; boundary=XyZ",
            "Multipart/Form-Data; boundary=\"XyZ\"",
            "multipart/mixed; charset=utf-8; boundary=XyZ",
        ] {
            assert_eq!(read(multipart).unwrap(), ["POST", "DELETE"], "{multipart}");
        }
        assert_eq!(read("text/plain").unwrap(), ["POST"]);
        let cut = &body[..body.len() - 12];
        let typed = headers(&[("Content-Type", "multipart/form-data; boundary=XyZ")]);
        let unread = methods("POST", &typed, url, Some(cut.as_bytes()));
        assert_eq!(unread, Err(UNREAD_MULTIPART));
    }

    #[test]
    fn a_path_that_servers_split_differently_is_named_by_its_segment() {
        for (path, segment) in [
            ("/repos/acme/..%2Fother/x", "..%2Fother"),
            ("/repos/acme/..%2fother", "..%2fother"),
            ("/repos/acme/..%5Cother", "..%5Cother"),
            ("/repos/acme/..;/other", "..;"),
            ("/repos/other;x/secret", "other;x"),
        ] {
            assert_eq!(read_two_ways(path).map(|(s, _)| s), Some(segment), "{path}");
        }
        assert_eq!(read_two_ways("/repos/acme/x%20y/%C3%A9"), None);
    }

    #[test]
    fn a_path_is_decided_as_it_will_be_sent_whatever_its_spelling() {
        for spelled in [
            "https://API.GitHub.com/repos/acme/../other/x",
            "https://api.github.com/repos/acme/%2E%2E/other/x",
            "https://api.github.com/repos/%61cme/./../other/x?q=/repos/acme/",
            "https://api.github.com/repos/acme/%2e%2e/%6Fther/x",
        ] {
            let url = normalized(spelled).unwrap();
            assert_eq!(
                (url.host_str(), url.path()),
                (Some("api.github.com"), "/repos/other/x"),
                "{spelled}"
            );
        }
        let kept = normalized("https://h.example/a%2fb/%c3%a9").unwrap();
        assert_eq!(
            kept.path(),
            "/a%2Fb/%C3%A9",
            "a slash stays one byte of a segment"
        );
        assert!(normalized("not a url").is_none());
    }

    #[test]
    fn a_post_is_a_graphql_read_only_of_queries_at_an_endpoint() {
        let read =
            |url: &str, body: &str| graphql_read(&[], "github", url, body.as_bytes()) == Ok(true);
        assert!(read(
            "https://api.github.com/graphql",
            r#"{"query": "query { viewer { login } }", "variables": {}}"#
        ));
        assert!(read(
            "https://api.github.com/graphql",
            r#"{"query": "{ a } query B { b }", "operationName": "B"}"#
        ));
        for (url, body) in [
            (
                "https://api.github.com/graphql",
                r#"{"query": "mutation { a }"}"#,
            ),
            (
                "https://api.github.com/graphql",
                r#"{"query": "query A { a } mutation B { b }", "operationName": "A"}"#,
            ),
            (
                "https://api.github.com/graphql",
                r#"{"query": "{ a }", "query": "mutation { b }"}"#,
            ),
            ("https://api.github.com/graphql", r#"[{"query": "{ a }"}]"#),
            (
                "https://api.github.com/graphql",
                r#"{"extensions": {"persistedQuery": {}}}"#,
            ),
            (
                "https://api.github.com/graphql?query=mutation%7Ba%7D",
                r#"{"query": "{ a }"}"#,
            ),
            ("https://api.github.com/repos", r#"{"query": "{ a }"}"#),
            ("https://api.github.com/graphql", "not json"),
        ] {
            assert!(!read(url, body), "{url} {body}");
        }
        assert!(
            !graphql_read(&[], "stripe", "https://x/graphql", br#"{"query": "{ a }"}"#).unwrap()
        );
        let fanned = crate::graphql::tests::fanned_out(20);
        let body = serde_json::json!({"query": fanned}).to_string();
        let read = graphql_read(
            &[],
            "github",
            "https://api.github.com/graphql",
            body.as_bytes(),
        );
        assert_eq!(read, Err(graphql::FAN_OUT), "what cannot be read is said");
    }
}
