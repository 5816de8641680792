//! Literals a policy compares with what no request can be: the server
//! decides on a request as it normalised it (the method in upper case, the
//! host as a URL's parse gives it, the path [`normalized`] and never one
//! that reads two ways), so a literal that normalising would change, as
//! `context.method == "delete"`, `context.host == "API.GitHub.com."` or
//! `context.path like "/repos/acme/../*"`, would never match, and a
//! `forbid` written so would never forbid. One rule for every literal: it
//! is normalised as a request is, and refused where that changes it, the
//! normalised form its fix. Read from each policy's JSON form (Cedar's
//! own), placed in the file by where the literal is written. Pure.

use serde_json::Value;

use crate::contents::{Keys, Reads};
use crate::readings::{normalized, read_two_ways};

/// A `like` pattern's wildcard while the pattern is normalised: letters
/// and digits, which no normalising changes.
const WILDCARD: &str = "zq0wildcard0qz";

/// Where each comparison in `policies` (their JSON forms) with a literal
/// that can never match is written in `text`, and the fix: one
/// `LINE:COLUMN: why` a line (` why` when the literal is not found).
pub(crate) fn never_matching(text: &str, policies: &[Value]) -> Vec<String> {
    let mut lines = Vec::new();
    for policy in policies {
        let mut found = Vec::new();
        compared(policy, &mut found);
        // A provider that reads parts of a path in any case is decided on
        // the path as it serves it.
        let provider = scoped(policy);
        for (attr, literal) in found {
            let fixed = as_requested(&attr, &literal).or_else(|| {
                let folded = crate::readings::folded(provider, &literal);
                let how = "a path as its provider serves it: the owner, repository, \
                           organisation and user names GitHub reads in any case, in lower case";
                (attr == "path" && folded != literal).then(|| (folded.into_owned(), how))
            });
            if let Some((fix, how)) = fixed {
                lines.push(placed(text, (&attr, &literal), (&fix, how)));
            }
        }
    }
    lines
}

/// The provider `policy` (its JSON form) is scoped to (`resource ==
/// Provider::"…"`), or `""`.
fn scoped(policy: &Value) -> &str {
    let provider = &policy["resource"];
    let provider = (provider["op"] == "==").then(|| provider["entity"]["id"].as_str());
    provider.flatten().unwrap_or_default()
}

/// Each field name `policies` (their JSON forms) compare with
/// `context.graphql.fields`, with the provider its policy is scoped to
/// (`""` for any).
pub(crate) fn fields_named(policies: &[Value]) -> Vec<(String, String)> {
    let mut named = Vec::new();
    for policy in policies {
        let mut found = Vec::new();
        compared(policy, &mut found);
        let fields = found
            .into_iter()
            .filter(|(attr, _)| attr == "graphql.fields");
        named.extend(fields.map(|(_, field)| (scoped(policy).to_owned(), field)));
    }
    named
}

/// Each provider `policies` (their JSON forms) name, as `Provider::"…"`
/// anywhere (a scope, a condition, a set), once each, sorted.
pub(crate) fn providers_named(policies: &[Value]) -> Vec<String> {
    entities_named(policies, "Provider")
}

/// Each entity of type `kind` `policies` (their JSON forms) name anywhere
/// (a scope, a condition, a set), once each, sorted.
pub(crate) fn entities_named(policies: &[Value], kind: &str) -> Vec<String> {
    fn walk(node: &Value, kind: &str, named: &mut Vec<String>) {
        // An entity, in a scope or as a value: `{"type": KIND, "id": …}`.
        if let (Some(found), Some(id)) = (node["type"].as_str(), node["id"].as_str())
            && found == kind
            && !named.iter().any(|n| n == id)
        {
            named.push(id.to_owned());
        }
        match node {
            Value::Object(members) => members.values().for_each(|v| walk(v, kind, named)),
            Value::Array(items) => items.iter().for_each(|v| walk(v, kind, named)),
            _ => {}
        }
    }
    let mut named = Vec::new();
    policies
        .iter()
        .for_each(|policy| walk(policy, kind, &mut named));
    named.sort();
    named
}

/// What `policies` (their JSON forms) read of a call's content: for each
/// of `context.query`, `.body` and `.bodyNumbers`, the names their
/// `hasTag` and `getTag` give as literals ([`Keys::Only`]), or every name
/// where one is read otherwise ([`Keys::Every`]); and whether one reads
/// `context.graphql`.
pub(crate) fn contents_read(policies: &[Value]) -> Reads {
    fn context_attr(node: &Value) -> Option<&str> {
        let dot = node.get(".")?;
        (dot["left"]["Var"] == "context").then(|| dot["attr"].as_str())?
    }
    fn keys<'a>(reads: &'a mut Reads, attr: &str) -> Option<&'a mut Keys> {
        match attr {
            "query" => Some(&mut reads.query),
            "body" => Some(&mut reads.body),
            "bodyNumbers" => Some(&mut reads.numbers),
            _ => None,
        }
    }
    fn walk(node: &Value, reads: &mut Reads) {
        let tagged = ["hasTag", "getTag"].iter().find_map(|call| node.get(*call));
        if let Some(call) = tagged
            && let Some(attr) = context_attr(&call["left"])
            && let Some(keys) = keys(reads, attr)
        {
            match (call["right"]["Value"].as_str(), &mut *keys) {
                (_, Keys::Every) => {}
                (Some(key), Keys::Only(named)) => drop(named.insert(key.to_owned())),
                (Some(key), Keys::Unread) => *keys = Keys::Only([key.to_owned()].into()),
                (None, _) => *keys = Keys::Every,
            }
            return walk(&call["right"], reads);
        }
        let attr = context_attr(node).or_else(|| {
            let has = node.get("has")?;
            (has["left"]["Var"] == "context").then(|| has["attr"].as_str())?
        });
        match attr {
            Some("graphql") => reads.graphql = true,
            Some(attr) => {
                if let Some(keys) = keys(reads, attr).filter(|_| node.get(".").is_some()) {
                    *keys = Keys::Every;
                }
            }
            None => {}
        }
        match node {
            Value::Object(members) => members.values().for_each(|v| walk(v, reads)),
            Value::Array(items) => items.iter().for_each(|v| walk(v, reads)),
            _ => {}
        }
    }
    let mut reads = Reads::default();
    policies.iter().for_each(|policy| walk(policy, &mut reads));
    reads
}

/// Each (`method`, `host`, `path` or a `graphql.` attribute, literal)
/// `node` compares: with `==` or `!=`, as a `like` pattern's text, as a
/// member of a set that `.contains` it, or as what a set `.contains`
/// (`.containsAny`, `.containsAll`: a set of them).
fn compared(node: &Value, found: &mut Vec<(String, String)>) {
    match node {
        Value::Object(members) => {
            for (key, inner) in members {
                let sides = match key.as_str() {
                    "==" | "!=" => vec![
                        (&inner["left"], &inner["right"]),
                        (&inner["right"], &inner["left"]),
                    ],
                    "contains" | "containsAny" | "containsAll" => vec![
                        (&inner["right"], &inner["left"]),
                        (&inner["left"], &inner["right"]),
                    ],
                    _ => Vec::new(),
                };
                for (attr, other) in sides {
                    let literals = other.get("Set").and_then(Value::as_array);
                    let literals = literals.map_or_else(|| vec![other], |set| set.iter().collect());
                    for literal in literals.iter().filter_map(|l| l.get("Value")?.as_str()) {
                        wrong(attr, literal, found);
                        graphql(attr, literal, found);
                    }
                }
                if key == "like" {
                    wrong(&inner["left"], &pattern(&inner["pattern"]), found);
                }
                compared(inner, found);
            }
        }
        Value::Array(items) => items.iter().for_each(|item| compared(item, found)),
        _ => {}
    }
}

/// A `like` pattern as written, `*` for each wildcard: Cedar's JSON gives
/// its text a character at a time.
fn pattern(pattern: &Value) -> String {
    let pieces = pattern.as_array().into_iter().flatten();
    let text = pieces.map(|p| p.get("Literal").and_then(Value::as_str).unwrap_or("*"));
    text.collect()
}

/// Notes `literal` when `attr` is `context.method`, `.host` or `.path`.
fn wrong(attr: &Value, literal: &str, found: &mut Vec<(String, String)>) {
    let dot = &attr["."];
    if dot["left"]["Var"] != "context" {
        return;
    }
    if let Some(attr @ ("method" | "host" | "path")) = dot["attr"].as_str() {
        found.push((attr.to_owned(), literal.to_owned()));
    }
}

/// Notes `literal` when `attr` is `context.graphql.operation` or
/// `.fields`.
fn graphql(attr: &Value, literal: &str, found: &mut Vec<(String, String)>) {
    let dot = &attr["."];
    let graphql = &dot["left"]["."];
    if graphql["left"]["Var"] == "context"
        && graphql["attr"] == "graphql"
        && let Some(attr @ ("operation" | "fields")) = dot["attr"].as_str()
    {
        found.push((format!("graphql.{attr}"), literal.to_owned()));
    }
}

/// `literal` (`*` its wildcards), compared with `context.attr`, as the
/// server normalises a request's (see [`normalized`]), and what that does,
/// when that changes it: then no request can be it. `None` when it can.
pub(crate) fn as_requested(attr: &str, literal: &str) -> Option<(String, &'static str)> {
    let held = literal.replace('*', WILDCARD);
    let (normal, how) = match attr {
        "method" => (method(literal), "a method token in upper case"),
        "host" => (
            host(&held),
            "a host as a URL gives it: lower case, no trailing dot, no port",
        ),
        // A URL where a path goes: its path (its host is context.host's).
        "path" if url_path(&held).is_some() => (
            path(url_path(&held).unwrap_or_default()),
            "a path alone, from `/`; the URL's host is context.host",
        ),
        "path" => (
            path(&held),
            "a path from `/`, its dot segments resolved and its escapes as \
                                 RFC 3986 normalises them, none that servers read two ways",
        ),
        "graphql.operation" => {
            let lower = literal.to_lowercase();
            let known = ["query", "mutation", "subscription"].contains(&lower.as_str());
            let normal = if known { lower } else { String::new() };
            (
                normal,
                "an operation's type: query, mutation or subscription",
            )
        }
        _ => return None,
    };
    let normal = normal.replace(WILDCARD, "*");
    (normal != literal).then_some((normal, how))
}

/// The path of `held` when it is a URL (`/` for one without): `http://` or
/// `https://`, scheme-relative (`//HOST/…`), or a host first without a
/// scheme (`api.github.com/…`: a first segment, a `/` after it, that is a
/// domain name, a dot in it and letters after its last).
fn url_path(held: &str) -> Option<&str> {
    let lower = held.get(..8).unwrap_or(held).to_ascii_lowercase();
    let scheme = ["https://", "http://", "//"]
        .into_iter()
        .find(|s| lower.starts_with(s));
    let rest = match scheme {
        Some(scheme) => &held[scheme.len()..],
        None if held.starts_with('/') || !held.contains('/') => return None,
        None => {
            let first = held.split('/').next().unwrap_or_default();
            let top = first.rsplit_once('.').map(|(_, top)| top);
            top.filter(|top| top.len() > 1 && top.bytes().all(|b| b.is_ascii_alphabetic()))?;
            held
        }
    };
    Some(rest.find('/').map_or("/", |at| &rest[at..]))
}

/// `held` as a method token in upper case (RFC 9110's `tchar`).
fn method(held: &str) -> String {
    let upper = held.to_uppercase();
    let tchar = |c: &char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(*c);
    upper.chars().filter(tchar).collect()
}

/// `held` as a URL's host: IDNA and IPv4 forms, lower case, without a
/// trailing dot; empty when no URL has it as its host.
fn host(held: &str) -> String {
    let parsed = url::Url::parse(&format!("https://{held}/"));
    let host = parsed.ok().and_then(|u| u.host_str().map(str::to_owned));
    host.unwrap_or_default().trim_end_matches('.').to_owned()
}

/// `held` as [`normalized`] leaves a request's path, from `/` (unless it
/// begins with a wildcard), and with the segments that read two ways
/// written one way (an encoded slash decoded, a `;` parameter cut).
fn path(held: &str) -> String {
    let as_path = |text: &str| {
        let url = normalized(&format!(
            "https://h.invalid/{}",
            text.trim_start_matches('/')
        ));
        url.map(|u| u.path().to_owned()).unwrap_or_default()
    };
    let mut normal = as_path(held);
    if read_two_ways(&normal).is_some() {
        let one_way = (normal.split('/'))
            .map(|segment| segment.split(';').next().unwrap_or_default())
            .map(|segment| segment.replace("%2F", "/").replace("%5C", "/"))
            .collect::<Vec<_>>()
            .join("/");
        normal = as_path(&one_way);
    }
    match normal.strip_prefix('/') {
        Some(rest) if held.starts_with(WILDCARD) => rest.to_owned(),
        _ => normal,
    }
}

/// The line that says where `literal` (compared with `context.attr`) is in
/// `text`, why it never matches (the server decides on `how`), and `fix`.
fn placed(text: &str, (attr, literal): (&str, &str), (fix, how): (&str, &str)) -> String {
    let write = if fix.is_empty() {
        "no such literal can match".to_owned()
    } else {
        format!("write {fix:?}")
    };
    let why = format!(
        "context.{attr} is compared with {literal:?}, which no request can be (the server \
         decides on {how}): {write}"
    );
    match at(text, literal) {
        Some((line, column)) => format!("{line}:{column}: {why}"),
        None => format!(" {why}"),
    }
}

/// Where `literal` is first written in `text` (as a quoted string, else
/// as it is): its line and column.
pub(crate) fn at(text: &str, literal: &str) -> Option<(usize, usize)> {
    let quoted = serde_json::to_string(literal).unwrap_or_default();
    let at = text.find(&quoted).or_else(|| text.find(literal))?;
    Some(placed_at(text, at))
}

/// The line and column (from 1, in characters) of byte `at` of `text`:
/// the one place a policy file's errors are placed.
pub(crate) fn placed_at(text: &str, at: usize) -> (usize, usize) {
    let before = text.get(..at).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `policies` (Cedar text) read of a call's content.
    fn reads(policies: &str) -> Reads {
        let set = cedar_policy::PolicySet::from_str(policies).unwrap();
        let json: Vec<Value> = set.policies().map(|p| p.to_json().unwrap()).collect();
        contents_read(&json)
    }

    #[test]
    fn the_names_a_policy_reads_of_a_calls_content_are_its_literals_or_every_one() {
        let only = |names: &[&str]| Keys::Only(names.iter().map(|n| (*n).to_owned()).collect());
        assert_eq!(
            reads("permit (principal, action, resource);"),
            Reads::default()
        );
        let read = reads(
            r#"permit (principal, action, resource) when {
            context.query.hasTag("per_page") && context.query.getTag("per_page") == "1"
            && context.bodyNumbers.hasTag("items.0.amount") && context.body.hasTag("a") };"#,
        );
        assert_eq!(read.query, only(&["per_page"]));
        assert_eq!(
            (read.body, read.numbers),
            (only(&["a"]), only(&["items.0.amount"]))
        );
        assert!(!read.graphql);
        let every = reads(
            r#"permit (principal, action, resource) when {
            principal.hasTag("k") && context.body.hasTag(principal.getTag("k"))
            && context.query == context.query && context has graphql };"#,
        );
        assert_eq!((every.body, every.query), (Keys::Every, Keys::Every));
        assert_eq!(every.numbers, Keys::Unread);
        assert!(every.graphql, "`has` reads it");
    }
    use std::str::FromStr;

    fn lines(text: &str) -> Vec<String> {
        let set = cedar_policy::PolicySet::from_str(text).unwrap();
        let json: Vec<Value> = set.policies().map(|p| p.to_json().unwrap()).collect();
        never_matching(text, &json)
    }

    #[test]
    fn a_lower_case_method_or_an_upper_case_host_is_placed_and_its_fix_named() {
        let text = "permit (principal, action, resource);\n\
                    forbid (principal, action, resource) when { context.method == \"delete\" };\n\
                    forbid (principal, action, resource) when { context.host like \"API.*\" };\n\
                    forbid (principal, action, resource) when { [\"PUT\", \"patch\"].contains(context.method) };\n\
                    forbid (principal, action, resource) when { context.method != \"GET\" && context.host == \"api.github.com\" };\n";
        let said = lines(text);
        assert_eq!(said.len(), 3, "{said:?}");
        assert!(
            said[0].starts_with("2:") && said[0].contains("write \"DELETE\""),
            "{}",
            said[0]
        );
        assert!(
            said[1].starts_with("3:") && said[1].contains("write \"api.*\""),
            "{}",
            said[1]
        );
        assert!(
            said[2].starts_with("4:") && said[2].contains("\"PATCH\""),
            "{}",
            said[2]
        );
    }

    #[test]
    fn a_literal_that_normalising_would_change_is_refused_with_what_it_becomes() {
        for (attr, literal, fix) in [
            ("host", "api.github.com.", "api.github.com"),
            ("host", "*.GitHub.com.", "*.github.com"),
            ("host", "api.github.com:443", "api.github.com"),
            ("host", "bücher.example", "xn--bcher-kva.example"),
            ("path", "repos/acme/*", "/repos/acme/*"),
            ("path", "/repos/acme/../other/*", "/repos/other/*"),
            ("path", "/repos/./acme/*", "/repos/acme/*"),
            ("path", "/repos/acme/%2e%2e/x", "/repos/x"),
            ("path", "/repos/acme%2Fother/*", "/repos/acme/other/*"),
            ("path", "/repos/acme%5cother", "/repos/acme/other"),
            ("path", "/repos/acme;v=1/*", "/repos/acme/*"),
            ("path", "/repos/%7eacme/%c3%a9", "/repos/~acme/%C3%A9"),
            ("path", "/repos/a b", "/repos/a%20b"),
            ("path", "/search?q=x", "/search"),
            ("path", "", "/"),
            ("method", "delete", "DELETE"),
            ("method", "GET ", "GET"),
        ] {
            let changed = as_requested(attr, literal).map(|(fix, _)| fix);
            assert_eq!(changed.as_deref(), Some(fix), "{attr} {literal:?}");
        }
        for (attr, can_match) in [
            ("host", "api.github.com"),
            ("host", "*.github.com"),
            ("host", "127.0.0.1"),
            ("path", "/repos/acme/*"),
            ("path", "*"),
            ("path", "*/issues"),
            ("path", "/repos/*/%C3%A9"),
            ("method", "DELETE"),
            ("method", "*"),
        ] {
            assert_eq!(as_requested(attr, can_match), None, "{attr} {can_match:?}");
        }
    }

    #[test]
    fn every_provider_a_policy_names_is_found_wherever_it_is_named() {
        let text = "permit (principal, action, resource == Provider::\"GitHub\");\n\
                    forbid (principal, action, resource) when { resource in [Provider::\"stripe\", Provider::\"GitHub\"] };\n";
        let set = cedar_policy::PolicySet::from_str(text).unwrap();
        let json: Vec<Value> = set.policies().map(|p| p.to_json().unwrap()).collect();
        assert_eq!(providers_named(&json), ["GitHub", "stripe"]);
    }
}
