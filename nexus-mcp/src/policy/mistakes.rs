//! A policy file's mistakes said with their fixes: where the validator
//! (Cedar's, strict) points, its words with the policy named as the file
//! names it, then what to write. The mistakes a policy's author makes
//! against this schema are few and each has one fix: a tag read before
//! `hasTag` tests it, `context.graphql` read before `context has graphql`,
//! a number compared with `context.body` or `context.query` (text: a
//! body's integers are `context.bodyNumbers`'), and text compared with
//! `context.bodyNumbers` (integers: text is `context.body`'s). Pure.

use cedar_policy::{PolicyId, ValidationError};
use miette::Diagnostic;

/// The span `error` points at in `text`, when it points in it.
fn span<'a>(text: &'a str, error: &ValidationError) -> Option<(usize, &'a str)> {
    let label = error.labels()?.next()?;
    let (at, len) = (label.offset(), label.len());
    Some((at, text.get(at..at + len)?))
}

/// The attribute whose tags an entity type holds, as a policy reads it.
fn receiver(entity: &str) -> &'static str {
    match entity {
        "Body" => "context.body",
        "BodyNumbers" => "context.bodyNumbers",
        "Query" => "context.query",
        _ => "principal",
    }
}

/// The text between the first `open` and the next `close` in `words`.
fn between<'a>(words: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let start = words.find(open)? + open.len();
    let len = words[start..].find(close)?;
    Some(&words[start..start + len])
}

/// What to write instead of `error`, whose span is `span`: `None` when no
/// one fix is known.
pub(crate) fn fix(error: &ValidationError, span: &str) -> Option<String> {
    let words = error.to_string();
    match error {
        ValidationError::UnsafeTagAccess(_) => {
            let tag = between(&words, "tag `", "`")?;
            let entity = between(&words, "entity type `", "`")?;
            let has = format!("{}.hasTag({tag})", receiver(entity));
            Some(format!(
                "test the tag first: put `{has} &&` before `{span}`"
            ))
        }
        ValidationError::UnsafeOptionalAttributeAccess(_) => {
            let attribute = between(&words, "optional attribute `", "`")?;
            Some(format!(
                "only a GraphQL call has it: put `context has {attribute} &&` before `{span}`"
            ))
        }
        ValidationError::UnexpectedType(_) | ValidationError::IncompatibleTypes(_) => {
            let long_and_string = words.contains("Long") && words.contains("String");
            long_and_string.then(|| text_or_number(span))?
        }
        _ => None,
    }
}

/// The fix for text and a number compared in `span`: the tag read from
/// the attribute that holds its kind.
fn text_or_number(span: &str) -> Option<String> {
    let tag = between(span, "getTag(", ")").unwrap_or("\"NAME\"");
    let read_as = |attribute: &str| {
        format!("read it as {attribute}.getTag({tag}), tested by {attribute}.hasTag({tag})")
    };
    if span.contains("context.bodyNumbers") {
        return Some(format!(
            "context.bodyNumbers holds the body's integers, and this compares one with text; \
             a value as text is context.body's: {}",
            read_as("context.body")
        ));
    }
    if span.contains("context.body") {
        return Some(format!(
            "context.body holds the body's values as text, and this compares one with a \
             number; the body's integers are context.bodyNumbers': {}",
            read_as("context.bodyNumbers")
        ));
    }
    span.contains("context.query").then(|| {
        "context.query holds each parameter as text, and this compares one with a number: \
         compare it with text (\"5\"), or with `like`"
            .to_owned()
    })
}

/// `error` in `text`: ` LINE:COLUMN: why; fix` (the policy named by `name`).
pub(crate) fn said(
    text: &str,
    error: &ValidationError,
    name: &dyn Fn(&PolicyId) -> String,
) -> String {
    let id = error.policy_id();
    // A principal is a Person or an Agent, declared alike: Cedar says a
    // mistake on it once for each, and it is said once, of the principal.
    let words = (error.to_string())
        .replace(&format!("for policy `{id}`, "), "")
        .replace("entity type `Person`", "the principal")
        .replace("entity type `Agent`", "the principal");
    let mut why = format!("in {:?}: {words}", name(id));
    let Some((at, span)) = span(text, error) else {
        return format!(" {why}");
    };
    if let Some(fix) = fix(error, span) {
        why = format!("{why}; {fix}");
    }
    let (line, column) = crate::literals::placed_at(text, at);
    format!("{line}:{column}: {why}")
}
