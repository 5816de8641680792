//! Literals a policy compares with what no request can be: the server
//! decides on a method in upper case (`DELETE`) and a host in lower case
//! (`api.github.com`), so `context.method == "delete"` or `context.host
//! == "API.GitHub.com"` would never match, and a `forbid` written so would
//! never forbid. Read from each policy's JSON form (Cedar's own), placed
//! in the file by where the literal is written. Pure.

use serde_json::Value;

/// Where each comparison in `policies` (their JSON forms) with a literal
/// that can never match is written in `text`, and the fix: one
/// `LINE:COLUMN: why` a line (` why` when the literal is not found).
pub(crate) fn never_matching(text: &str, policies: &[Value]) -> Vec<String> {
    let mut found = Vec::new();
    for policy in policies {
        compared(policy, &mut found);
    }
    (found.into_iter())
        .map(|(attr, literal)| placed(text, &attr, &literal))
        .collect()
}

/// Each provider `policies` (their JSON forms) name, as `Provider::"…"`
/// anywhere (a scope, a condition, a set), once each, sorted.
pub(crate) fn providers_named(policies: &[Value]) -> Vec<String> {
    fn walk(node: &Value, named: &mut Vec<String>) {
        // An entity, in a scope or as a value: `{"type": "Provider", "id": …}`.
        if let (Some("Provider"), Some(id)) = (node["type"].as_str(), node["id"].as_str())
            && !named.iter().any(|n| n == id)
        {
            named.push(id.to_owned());
        }
        match node {
            Value::Object(members) => members.values().for_each(|v| walk(v, named)),
            Value::Array(items) => items.iter().for_each(|v| walk(v, named)),
            _ => {}
        }
    }
    let mut named = Vec::new();
    policies.iter().for_each(|policy| walk(policy, &mut named));
    named.sort();
    named
}

/// Each (`method` or `host`, literal) `node` compares where the literal
/// cannot match: with `==` or `!=`, as a `like` pattern's text, or as a
/// member of a set that `.contains` it.
fn compared(node: &Value, found: &mut Vec<(String, String)>) {
    match node {
        Value::Object(members) => {
            for (key, inner) in members {
                let sides = match key.as_str() {
                    "==" | "!=" => vec![
                        (&inner["left"], &inner["right"]),
                        (&inner["right"], &inner["left"]),
                    ],
                    "contains" => vec![(&inner["right"], &inner["left"])],
                    _ => Vec::new(),
                };
                for (attr, other) in sides {
                    let literals = other.get("Set").and_then(Value::as_array);
                    let literals = literals.map_or_else(|| vec![other], |set| set.iter().collect());
                    for literal in literals.iter().filter_map(|l| l.get("Value")?.as_str()) {
                        wrong(attr, literal, found);
                    }
                }
                if key == "like" {
                    for run in runs(&inner["pattern"]) {
                        wrong(&inner["left"], &run, found);
                    }
                }
                compared(inner, found);
            }
        }
        Value::Array(items) => items.iter().for_each(|item| compared(item, found)),
        _ => {}
    }
}

/// The texts of a `like` pattern between its wildcards: Cedar's JSON
/// gives them a character at a time.
fn runs(pattern: &Value) -> Vec<String> {
    let pieces = pattern.as_array().into_iter().flatten();
    let mut runs = vec![String::new()];
    for piece in pieces.map(|p| p.get("Literal").and_then(Value::as_str)) {
        match (piece, runs.last_mut()) {
            (Some(text), Some(run)) => run.push_str(text),
            _ => runs.push(String::new()),
        }
    }
    runs.retain(|run| !run.is_empty());
    runs
}

/// Notes `literal` when `attr` is `context.method` or `context.host` and
/// the literal cannot be part of one as the server decides it.
fn wrong(attr: &Value, literal: &str, found: &mut Vec<(String, String)>) {
    let dot = &attr["."];
    if dot["left"]["Var"] != "context" {
        return;
    }
    let never = match dot["attr"].as_str() {
        Some("method") => literal.bytes().any(|b| !is_method_byte(b)),
        Some("host") => literal.bytes().any(|b| b.is_ascii_uppercase()),
        _ => false,
    };
    if never {
        found.push((
            dot["attr"].as_str().unwrap_or_default().to_owned(),
            literal.to_owned(),
        ));
    }
}

/// A byte of an upper-case method token (RFC 9110's `tchar`, no lower case).
fn is_method_byte(b: u8) -> bool {
    b.is_ascii_uppercase() || b.is_ascii_digit() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// The line that says where `literal` (compared with `context.attr`) is in
/// `text`, why it never matches, and what to write.
fn placed(text: &str, attr: &str, literal: &str) -> String {
    let (how, fix) = match attr {
        "method" => ("a method in upper case", literal.to_uppercase()),
        _ => ("a host in lower case", literal.to_lowercase()),
    };
    let why = format!(
        "context.{attr} is compared with {literal:?}, which no request can be (the server \
         decides on {how}): write {fix:?}"
    );
    let quoted = serde_json::to_string(literal).unwrap_or_default();
    let at = text.find(&quoted).or_else(|| text.find(literal));
    let Some(at) = at else {
        return format!(" {why}");
    };
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!("{line}:{column}: {why}")
}

#[cfg(test)]
mod tests {
    use super::*;
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
            said[1].starts_with("3:") && said[1].contains("write \"api.\""),
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
    fn every_provider_a_policy_names_is_found_wherever_it_is_named() {
        let text = "permit (principal, action, resource == Provider::\"GitHub\");\n\
                    forbid (principal, action, resource) when { resource in [Provider::\"stripe\", Provider::\"GitHub\"] };\n";
        let set = cedar_policy::PolicySet::from_str(text).unwrap();
        let json: Vec<Value> = set.policies().map(|p| p.to_json().unwrap()).collect();
        assert_eq!(providers_named(&json), ["GitHub", "stripe"]);
    }
}
