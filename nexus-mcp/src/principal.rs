//! Who a call acts for, said once where a request enters: stdio's operator
//! (one workspace, which the model may be told) or `serve`'s verified
//! person (a workspace never named to the model). Every later step reads
//! the mode from this type, never from a setting or a proxy.

use std::borrow::Cow;

use nexus_sdk::one_line;
use sha2::{Digest, Sha256};

/// The operator of a stdio server, or the person a `serve` token names.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Principal {
    /// stdio: the workspace `--workspace` names.
    Operator { workspace: String },
    /// `serve`: a verified person.
    Person {
        /// The workspace the call acts for (never shown to the model).
        workspace: String,
        /// SHA-256 of the issuer and subject, all of it: what a connect
        /// link and a `requestState` are bound to.
        person: String,
        /// The value of `--subject-claim`, as `--policy` names the person
        /// (never in a line).
        subject: String,
        /// The values of each `--group-claim`, as `--policy` reads them.
        groups: Vec<String>,
    },
}

impl Principal {
    /// The workspace the call acts for.
    pub(crate) fn workspace(&self) -> &str {
        match self {
            Principal::Operator { workspace } | Principal::Person { workspace, .. } => workspace,
        }
    }

    /// The call acts as another of the same person's workspaces (an
    /// `--account`'s).
    pub(crate) fn acting_for(&mut self, other: String) {
        match self {
            Principal::Operator { workspace } | Principal::Person { workspace, .. } => {
                *workspace = other;
            }
        }
    }

    /// Who a connect link and a `requestState` are bound to: the person's
    /// hash; over stdio, where there is one person, none.
    pub(crate) fn person(&self) -> Option<&str> {
        match self {
            Principal::Operator { .. } => None,
            Principal::Person { person, .. } => Some(person),
        }
    }

    /// The person as the operator's line shows them: the first 12 hex
    /// digits of their hash (`serve` only).
    pub(crate) fn who(&self) -> Option<&str> {
        match self {
            Principal::Operator { .. } => None,
            Principal::Person { person, .. } => person.get(..12),
        }
    }

    /// The person and their groups as `--policy` names them: over stdio,
    /// `stdio` and none.
    pub(crate) fn as_policy_reads(&self) -> (&str, &[String]) {
        match self {
            Principal::Operator { .. } => ("stdio", &[]),
            Principal::Person {
                subject, groups, ..
            } => (subject, groups),
        }
    }

    /// Whether the call comes from `serve`'s verified person.
    pub(crate) fn is_person(&self) -> bool {
        matches!(self, Principal::Person { .. })
    }

    /// Whose connection it is, in the one wording the user and the model
    /// read: the account's label; `serve`'s person's workspace, never its
    /// id; the operator's workspace by its id.
    pub(crate) fn whose(&self, account: Option<&str>) -> Cow<'static, str> {
        match (account, self) {
            (Some(label), _) => format!("your `{}` account", one_line(label)).into(),
            (None, Principal::Person { .. }) => "your workspace".into(),
            (None, Principal::Operator { workspace }) => {
                format!("workspace `{}`", one_line(workspace)).into()
            }
        }
    }
}

/// SHA-256(issuer ‖ 0x00 ‖ subject) in lowercase hex: a person, the same
/// for every token and login of theirs, apart for two issuers.
pub(crate) fn person(issuer: &str, subject: &str) -> String {
    let digest = Sha256::new()
        .chain_update(issuer.as_bytes())
        .chain_update([0])
        .chain_update(subject.as_bytes())
        .finalize();
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The workspace `serve` acts in for `person` (a [`person`] hash) without
/// `--workspace-claim`: `prefix`, then the hash's first 32 hex digits.
pub(crate) fn own_workspace(prefix: &str, person: &str) -> String {
    format!("{prefix}{}", person.get(..32).unwrap_or(person))
}

/// The values of each claim `names` names in `claims` (a dotted name reads
/// a nested claim, as Keycloak's `realm_access.roles`): a string, or each
/// string of a list; anything else, nothing.
pub(crate) fn groups_in(
    claims: &serde_json::Map<String, serde_json::Value>,
    names: &[String],
) -> Vec<String> {
    let mut groups = Vec::new();
    for name in names {
        let mut parts = name.split('.');
        let first = parts.next().and_then(|part| claims.get(part));
        match parts.fold(first, |value, part| value.and_then(|v| v.get(part))) {
            Some(serde_json::Value::String(one)) => groups.push(one.clone()),
            Some(serde_json::Value::Array(many)) => {
                groups.extend(many.iter().filter_map(|g| g.as_str().map(str::to_owned)));
            }
            _ => {}
        }
    }
    groups
}
