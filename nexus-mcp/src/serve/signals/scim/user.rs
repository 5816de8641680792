//! A SCIM user as this server keeps it (RFC 7643 §4.1): what names the
//! person and their standing, `userName`, `externalId` and `active`, read
//! from every form a provisioning service sends them: a `POST` or `PUT`
//! body, a `PATCH` as RFC 7644 §3.5.2 allows it (a path or a value key as
//! the attribute's name or its full URN, with or without `path`, `op` in
//! any case, Entra's `"False"`), and a search's `filter`. Attribute names
//! are read without regard to case (RFC 7643 §2.1). Nothing else is kept;
//! a kept attribute is never set to a value of another type (400
//! `invalidValue`, RFC 7644 §3.12). Pure: the grammars are scim_v2's.

use scim_v2::filter::{AttrExp, AttrPath, CompValue, CompareOp, Filter, PatchPath};
use scim_v2::models::errors::ScimType;
use scim_v2::models::others::{OperationTarget, PatchOp, PatchOperation};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The core User schema (RFC 7643 §4.1).
pub(crate) const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

/// A user as kept.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct User {
    /// Unique across the users, compared without regard to case.
    #[serde(rename = "userName")]
    pub(crate) user_name: String,
    /// The provider's own id of the user, compared exactly.
    #[serde(rename = "externalId", skip_serializing_if = "Option::is_none")]
    pub(crate) external_id: Option<String>,
    /// Whether the provider lets the person in.
    pub(crate) active: bool,
}

/// Why a request is not understood: its `scimType` and why.
#[derive(Debug, PartialEq)]
pub(crate) struct Invalid(pub(crate) ScimType, pub(crate) String);

/// What a search asks for: one user by one attribute's value.
#[derive(Debug, PartialEq)]
pub(crate) enum Wanted {
    Id(String),
    UserName(String),
    ExternalId(String),
}

impl User {
    /// The user a `POST` or `PUT` body gives: `userName` required, `active`
    /// true unless it says otherwise.
    ///
    /// # Errors
    /// The body is no object, or a kept attribute is missing or of another type.
    pub(crate) fn given(body: &Value) -> Result<User, Invalid> {
        let fields = body.as_object().ok_or_else(|| {
            Invalid(
                ScimType::InvalidSyntax,
                "the body is a SCIM User, a JSON object".into(),
            )
        })?;
        let mut user = User {
            user_name: String::new(),
            external_id: None,
            active: true,
        };
        for (name, value) in flattened(fields) {
            user.set(name, Some(value))?;
        }
        user.named()
    }

    /// The user after the `PATCH` body `body` (RFC 7644 §3.5.2).
    ///
    /// # Errors
    /// The body is no PatchOp, a path is malformed or names what cannot be
    /// changed, or a value does not fit its attribute.
    pub(crate) fn patched(&self, body: &Value) -> Result<User, Invalid> {
        let mut body = body.clone();
        let operations = body.get_mut("Operations").and_then(Value::as_array_mut);
        let operations = operations.ok_or_else(|| {
            let why = "the body is a PatchOp: {\"Operations\": [{\"op\", \"path\", \"value\"}]}";
            Invalid(ScimType::InvalidSyntax, why.into())
        })?;
        for operation in operations.iter_mut() {
            if let Some(Value::String(op)) = operation.get_mut("op") {
                *op = op.to_ascii_lowercase();
            }
        }
        if body.get("schemas").is_none() {
            body["schemas"] = serde_json::json!(["urn:ietf:params:scim:api:messages:2.0:PatchOp"]);
        }
        let patch: PatchOp = serde_json::from_value(body).map_err(|e| {
            let (kind, what) = match e.to_string().contains("path") {
                true => (ScimType::InvalidPath, "a path"),
                false => (ScimType::InvalidSyntax, "an operation"),
            };
            let why = format!("{what} is not RFC 7644's (op add, remove or replace): {e}");
            Invalid(kind, nexus_sdk::one_line_within(&why, 256))
        })?;
        let mut user = self.clone();
        for operation in &patch.operations {
            user.apply(operation)?;
        }
        user.named()
    }

    /// One operation applied.
    fn apply(&mut self, operation: &PatchOperation) -> Result<(), Invalid> {
        match operation {
            PatchOperation::Add(target) | PatchOperation::Replace(target) => match target {
                OperationTarget::WithPath { path, value } => {
                    let value = value.as_ref().ok_or_else(|| {
                        Invalid(
                            ScimType::InvalidValue,
                            "an add or replace gives its value".into(),
                        )
                    })?;
                    match attribute_of(path)? {
                        Some(name) => self.set(name, Some(value)),
                        None => Ok(()),
                    }
                }
                OperationTarget::WithoutPath { value } => {
                    (flattened(value).into_iter()).try_for_each(|(name, v)| self.set(name, Some(v)))
                }
            },
            PatchOperation::Remove { path, .. } => match attribute_of(path)? {
                Some(name) => self.set(name, None),
                None => Ok(()),
            },
        }
    }

    /// The kept attribute `name` (any case, perhaps URN-prefixed) set to
    /// `value` (none: removed); another attribute is not kept, and left.
    fn set(&mut self, name: &str, value: Option<&Value>) -> Result<(), Invalid> {
        let invalid = |why: String| Err(Invalid(ScimType::InvalidValue, why));
        match (kept(name), value) {
            (Some("userName"), Some(Value::String(text))) => self.user_name = text.clone(),
            (Some("userName"), _) => return invalid("userName is a non-empty string".into()),
            (Some("externalId"), Some(Value::String(text))) => {
                self.external_id = Some(text.clone())
            }
            (Some("externalId"), None | Some(Value::Null)) => self.external_id = None,
            (Some("externalId"), Some(_)) => return invalid("externalId is a string".into()),
            (Some("active"), Some(value)) => self.active = boolean(value)?,
            (Some("active"), None) => {
                let why = "active is kept true or false: replace it rather than remove it";
                return Err(Invalid(ScimType::Mutability, why.into()));
            }
            _ => {}
        }
        Ok(())
    }

    /// The user, its `userName` given.
    fn named(self) -> Result<User, Invalid> {
        match self.user_name.trim().is_empty() {
            true => Err(Invalid(
                ScimType::InvalidValue,
                "a User has a userName (RFC 7643 §4.1.1: required)".into(),
            )),
            false => Ok(self),
        }
    }
}

/// `active`'s value: a boolean, or the text Entra sends (`"True"`,
/// `"False"`, in any case).
fn boolean(value: &Value) -> Result<bool, Invalid> {
    match value {
        Value::Bool(active) => Ok(*active),
        Value::String(text) if text.eq_ignore_ascii_case("true") => Ok(true),
        Value::String(text) if text.eq_ignore_ascii_case("false") => Ok(false),
        other => Err(Invalid(
            ScimType::InvalidValue,
            format!(
                "active is a boolean (true or false), and {} is not one",
                nexus_sdk::one_line_within(&other.to_string(), 64)
            ),
        )),
    }
}

/// The kept attribute `name` names (RFC 7643 §2.1: without regard to
/// case; §3.10: perhaps prefixed by the core User schema's URN), if any.
fn kept(name: &str) -> Option<&'static str> {
    let prefix = format!("{USER}:");
    let bare = match name.get(..prefix.len()) {
        Some(head) if head.eq_ignore_ascii_case(&prefix) => &name[prefix.len()..],
        _ => name,
    };
    ["userName", "externalId", "active"]
        .into_iter()
        .find(|kept| kept.eq_ignore_ascii_case(bare))
}

/// The kept attribute a PATCH `path` names, if any.
///
/// # Errors
/// A path into one of them (a sub-attribute, a value filter): nothing to
/// target, they are single values.
fn attribute_of(path: &PatchPath) -> Result<Option<&'static str>, Invalid> {
    let (attr, deeper) = match path {
        PatchPath::Attr(attr) => (attr, attr.sub_attr.is_some()),
        PatchPath::Value(value) => (&value.attr, true),
    };
    let name = in_user_schema(attr).and_then(|_| kept(&attr.name));
    match (name, deeper) {
        (Some(name), true) => Err(Invalid(
            ScimType::NoTarget,
            format!("{name} is a single value: a path names it alone"),
        )),
        (name, _) => Ok(name),
    }
}

/// `attr`, when it is of the core User schema (no URN, or that one).
fn in_user_schema(attr: &AttrPath) -> Option<&AttrPath> {
    let uri = attr.uri.as_deref();
    uri.is_none_or(|uri| uri.eq_ignore_ascii_case(USER))
        .then_some(attr)
}

/// A body's attributes, each with its name as written: a value under the
/// core User schema's URN (`{"urn:…:User": {…}}`) read as the body's own,
/// `schemas`, `id` and `meta` (the server's), and other schemas'
/// extensions, left out.
fn flattened(fields: &Map<String, Value>) -> Vec<(&str, &Value)> {
    let mut all = Vec::new();
    for (name, value) in fields {
        match value.as_object() {
            Some(inner) if name.eq_ignore_ascii_case(USER) => all.extend(flattened(inner)),
            _ if ["schemas", "id", "meta"]
                .iter()
                .any(|s| s.eq_ignore_ascii_case(name)) => {}
            _ if name.starts_with("urn:") && kept(name).is_none() => {}
            _ => all.push((name.as_str(), value)),
        }
    }
    all
}

/// What a search's `filter` asks for: one of `id`, `userName` or
/// `externalId` equal to a text (what provisioning services ask).
///
/// # Errors
/// 400 `invalidFilter`: it does not parse, or asks what this server does
/// not search by.
pub(crate) fn wanted(filter: &str) -> Result<Wanted, Invalid> {
    let parsed: Filter = filter.parse().map_err(|e| {
        let why = format!("the filter does not read (RFC 7644 §3.4.2.2): {e}");
        Invalid(
            ScimType::InvalidFilter,
            nexus_sdk::one_line_within(&why, 256),
        )
    })?;
    let unsupported = || {
        let why = "this server searches users by id, userName or externalId, with eq \
                   (userName eq \"alice@example.com\")";
        Invalid(ScimType::InvalidFilter, why.into())
    };
    let Filter::Attr(AttrExp::Comparison(path, CompareOp::Eq, CompValue::Str(value))) = parsed
    else {
        return Err(unsupported());
    };
    let path = in_user_schema(&path).filter(|path| path.sub_attr.is_none());
    let name = path
        .map(|path| path.name.as_str())
        .ok_or_else(unsupported)?;
    match () {
        _ if name.eq_ignore_ascii_case("id") => Ok(Wanted::Id(value)),
        _ if name.eq_ignore_ascii_case("userName") => Ok(Wanted::UserName(value)),
        _ if name.eq_ignore_ascii_case("externalId") => Ok(Wanted::ExternalId(value)),
        _ => Err(unsupported()),
    }
}

/// A user's representation `resource` as a request's `attributes` or
/// `excludedAttributes` (RFC 7644 §3.9, names comma-separated, in any
/// case, perhaps URN-prefixed) ask it: `schemas` and `id` always returned.
pub(crate) fn projected(
    mut resource: Value,
    (attributes, excluded): (Option<&str>, Option<&str>),
) -> Value {
    let names = |list: Option<&str>| -> Vec<String> {
        let list = list.into_iter().flat_map(|l| l.split(','));
        let bare = |name: &str| {
            let prefix = format!("{USER}:");
            match name.get(..prefix.len()) {
                Some(head) if head.eq_ignore_ascii_case(&prefix) => name[prefix.len()..].to_owned(),
                _ => name.to_owned(),
            }
        };
        list.map(str::trim)
            .filter(|n| !n.is_empty())
            .map(bare)
            .collect()
    };
    let (only, without) = (names(attributes), names(excluded));
    let always = |name: &str| ["schemas", "id"].contains(&name);
    // A sub-attribute asked for returns its parent; only a whole
    // attribute is excluded.
    let asked = |name: &str| {
        only.iter().any(|n| {
            n.split('.')
                .next()
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
        })
    };
    let excluded = |name: &str| without.iter().any(|n| n.eq_ignore_ascii_case(name));
    if let Some(fields) = resource.as_object_mut() {
        fields.retain(|name, _| {
            always(name) || ((only.is_empty() || asked(name)) && !excluded(name))
        });
    }
    resource
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn alice(active: bool) -> User {
        let (user_name, external_id) = ("alice@acme.example".into(), Some("a1".into()));
        User {
            user_name,
            external_id,
            active,
        }
    }

    #[test]
    fn active_is_read_from_every_form_rfc_7644_and_the_providers_send() {
        let urn = format!("{USER}:active");
        let forms = [
            json!([{"op": "Replace", "path": "active", "value": "False"}]),
            json!([{"op": "replace", "path": "active", "value": false}]),
            json!([{"op": "REPLACE", "path": "ACTIVE", "value": "false"}]),
            json!([{"op": "rePlace", "path": urn, "value": false}]),
            json!([{"op": "add", "value": {"active": false}}]),
            json!([{"op": "replace", "value": {urn.clone(): false}}]),
            json!([{"op": "replace", "value": {USER: {"active": "False"}}}]),
            json!([{"op": "replace", "value": {"Active": true}}, {"op": "replace", "path": "active", "value": false}]),
        ];
        for operations in forms {
            let body = json!({"Operations": operations.clone()});
            let user = alice(true).patched(&body);
            assert_eq!(user.map(|u| u.active), Ok(false), "{operations}");
        }
        let others = json!({"Operations": [{"op": "Replace", "path": "displayName", "value": "A"},
            {"op": "remove", "path": "name.givenName"},
            {"op": "replace", "path": "emails[type eq \"work\"].value", "value": "a@b"}]});
        assert_eq!(
            alice(true).patched(&others),
            Ok(alice(true)),
            "not kept, left"
        );
    }

    #[test]
    fn a_value_of_another_type_an_unknown_op_and_a_bad_path_are_refused() {
        let patched = |operations: Value| alice(true).patched(&json!({"Operations": operations}));
        for value in [
            json!(0),
            json!(1),
            json!("no"),
            json!("yes"),
            json!(null),
            json!({}),
        ] {
            let refused = patched(json!([{"op": "replace", "path": "active", "value": value}]));
            assert!(
                matches!(refused, Err(Invalid(ScimType::InvalidValue, _))),
                "{value}"
            );
        }
        let refused = patched(json!([{"op": "move", "path": "active", "value": false}]));
        assert!(matches!(refused, Err(Invalid(ScimType::InvalidSyntax, _))));
        let refused = patched(json!([{"op": "replace", "path": "active[", "value": false}]));
        assert!(
            matches!(refused, Err(Invalid(ScimType::InvalidPath, _))),
            "{refused:?}"
        );
        let refused = patched(json!([{"op": "remove", "path": "userName"}]));
        assert!(matches!(refused, Err(Invalid(ScimType::InvalidValue, _))));
        let refused = patched(json!([{"op": "remove", "path": "active"}]));
        assert!(matches!(refused, Err(Invalid(ScimType::Mutability, _))));
        let refused = alice(true).patched(&json!({"Operations": "replace"}));
        assert!(matches!(refused, Err(Invalid(ScimType::InvalidSyntax, _))));
        let renamed = patched(
            json!([{"op": "replace", "value": {"userName": "A@acme.example", "externalId": "a2"}}]),
        );
        assert_eq!(
            renamed.map(|u| (u.user_name, u.external_id)),
            Ok(("A@acme.example".into(), Some("a2".into())))
        );
    }

    #[test]
    fn a_body_gives_its_user_in_any_case_and_needs_its_user_name() {
        let body = json!({"schemas": [USER], "USERNAME": "alice@acme.example", "externalId": "a1",
            "active": "False", "displayName": "Alice", "id": "ignored",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "x"}});
        assert_eq!(User::given(&body), Ok(alice(false)));
        let absent = json!({"externalId": "a1"});
        assert!(matches!(
            User::given(&absent),
            Err(Invalid(ScimType::InvalidValue, _))
        ));
        assert!(matches!(
            User::given(&json!([])),
            Err(Invalid(ScimType::InvalidSyntax, _))
        ));
        let active = User::given(&json!({"userName": "b"})).map(|u| u.active);
        assert_eq!(active, Ok(true), "active unless said otherwise");
    }

    #[test]
    fn a_representation_gives_the_attributes_asked_and_always_its_id() {
        let user = json!({"schemas": [USER], "id": "x", "userName": "a", "active": true,
            "externalId": "e", "meta": {"resourceType": "User"}});
        let only = projected(
            user.clone(),
            (
                Some("userName, urn:ietf:params:scim:schemas:core:2.0:User:ACTIVE"),
                None,
            ),
        );
        assert_eq!(
            only,
            json!({"schemas": [USER], "id": "x", "userName": "a", "active": true})
        );
        let without = projected(user.clone(), (None, Some("active,meta.created,id")));
        let kept = json!({"schemas": [USER], "id": "x", "userName": "a", "externalId": "e", "meta": {"resourceType": "User"}});
        assert_eq!(without, kept);
        assert_eq!(projected(user.clone(), (None, None)), user);
    }

    #[test]
    fn a_filter_asks_for_one_user_by_what_providers_search_by_or_is_refused() {
        let found = |filter: &str| wanted(filter);
        assert_eq!(
            found(r#"userName eq "Alice@Acme.example""#),
            Ok(Wanted::UserName("Alice@Acme.example".into()))
        );
        assert_eq!(
            found(r#"externalId eq "a1""#),
            Ok(Wanted::ExternalId("a1".into()))
        );
        assert_eq!(
            found(&format!(r#"{USER}:userName eq "b""#)),
            Ok(Wanted::UserName("b".into()))
        );
        assert_eq!(found(r#"ID eq "x""#), Ok(Wanted::Id("x".into())));
        for refused in [
            "userName eq",
            "userName sw \"a\"",
            "displayName eq \"a\"",
            "emails[value eq \"a\"]",
            "userName eq \"a\" or userName eq \"b\"",
            "name.givenName eq \"a\"",
            "(((",
        ] {
            assert!(
                matches!(found(refused), Err(Invalid(ScimType::InvalidFilter, _))),
                "{refused}"
            );
        }
    }
}
