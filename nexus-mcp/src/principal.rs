//! Who a call acts for, said once where a request enters: stdio's operator
//! (one workspace, which the model may be told) or `serve`'s verified
//! person (a workspace never named to the model). Every later step reads
//! the mode from this type, never from a setting or a proxy.

use std::borrow::Cow;

use nexus_sdk::one_line;

use crate::policy::{Attributes, Who};

/// The operator of a stdio server, or the person a `serve` token names.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Principal {
    /// stdio: the workspace `--workspace` names.
    Operator { workspace: String },
    /// `serve`: a verified person.
    ///
    /// One is held per opaque token in the bearer cache, so its parts are
    /// boxed to their length and the attributes held only when there are some.
    Person {
        /// The workspace the call acts for (never shown to the model).
        workspace: Box<str>,
        /// SHA-256 of the issuer and subject, all of it: what a connect
        /// link and a `requestState` are bound to.
        person: [u8; 32],
        /// The value of `--subject-claim`, as `--policy` names the person
        /// (never in a line).
        subject: Box<str>,
        /// What `--policy` reads of them (their groups and tags), when it
        /// reads anything.
        attributes: Option<Box<Attributes>>,
        /// The OAuth client the token was issued to, behind `--oauth-proxy`
        /// (the first 12 hex digits of its mark, as `client=` in
        /// `--deny-file` names it); none for a provider's token.
        oauth_client: Option<Box<str>>,
        /// The agent the token was issued to, behind `--oauth-proxy`: its
        /// name and boundary (#127); none for a provider's token.
        agent: Option<Box<crate::agents::Agent>>,
    },
    /// `serve`: an agent acting as itself (#127, 5; client credentials),
    /// in the workspace its client was registered with, for no person.
    Agent {
        /// Its own workspace (`serve client add --workspace`; never shown
        /// to the model).
        workspace: Box<str>,
        /// SHA-256 of `agent`, 0x00 and its client's whole mark: what its
        /// rate, a `requestState` and an approval are bound to, apart from
        /// every person's.
        id: [u8; 32],
        /// Its client's mark (12 hex digits), as `client=` names it: the
        /// policy's `Agent::"…"`.
        oauth_client: Box<str>,
        /// Its name and boundary.
        agent: Box<crate::agents::Agent>,
    },
}

impl Principal {
    /// `serve`'s verified person (their [`digest`]), who acts in `workspace`.
    pub(crate) fn person_in(
        workspace: String,
        person: [u8; 32],
        subject: &str,
        attributes: Attributes,
    ) -> Principal {
        Principal::Person {
            workspace: workspace.into(),
            person,
            subject: subject.into(),
            attributes: attributes.held(),
            oauth_client: None,
            agent: None,
        }
    }
}

impl Principal {
    /// The workspace the call acts for.
    pub(crate) fn workspace(&self) -> &str {
        match self {
            Principal::Operator { workspace } => workspace,
            Principal::Person { workspace, .. } | Principal::Agent { workspace, .. } => workspace,
        }
    }

    /// The call acts as another of the same person's workspaces (an
    /// `--account`'s).
    pub(crate) fn acting_for(&mut self, other: String) {
        match self {
            Principal::Operator { workspace } => *workspace = other,
            Principal::Person { workspace, .. } | Principal::Agent { workspace, .. } => {
                *workspace = other.into();
            }
        }
    }

    /// Who a connect link, a `requestState`, a rate and an approval are
    /// bound to: the person's hash in hex (an agent acting as itself, its
    /// own); over stdio, where there is one person, none.
    pub(crate) fn person(&self) -> Option<String> {
        match self {
            Principal::Operator { .. } => None,
            Principal::Person { person, .. } | Principal::Agent { id: person, .. } => {
                Some(hex(person))
            }
        }
    }

    /// The id of the agent acting as itself whose client's whole mark is
    /// `mark`.
    pub(crate) fn agent_id(mark: &str) -> [u8; 32] {
        sha256(&[b"agent", &[0], mark.as_bytes()])
    }

    /// The OAuth client the token was issued to, as a line names it.
    pub(crate) fn oauth_client(&self) -> Option<&str> {
        match self {
            Principal::Operator { .. } => None,
            Principal::Person { oauth_client, .. } => oauth_client.as_deref(),
            Principal::Agent { oauth_client, .. } => Some(oauth_client),
        }
    }

    /// The agent the token was issued to, where one is known.
    pub(crate) fn agent(&self) -> Option<&crate::agents::Agent> {
        match self {
            Principal::Operator { .. } => None,
            Principal::Person { agent, .. } => agent.as_deref(),
            Principal::Agent { agent, .. } => Some(agent),
        }
    }

    /// The person as the operator's line shows them: the first 12 hex
    /// digits of their hash, or an agent acting as itself's id (`serve`
    /// only).
    pub(crate) fn who(&self) -> Option<String> {
        match self {
            Principal::Operator { .. } => None,
            Principal::Person { person, .. } | Principal::Agent { id: person, .. } => {
                Some(hex(&person[..6]))
            }
        }
    }

    /// Who asks as `--policy` reads them, through `client` (the name the
    /// MCP client gives): over stdio, `stdio`, in no group and with no tag.
    pub(crate) fn as_policy_reads<'a>(&'a self, client: &'a str) -> Who<'a> {
        static NONE: Attributes = Attributes {
            groups: Vec::new(),
            tags: Vec::new(),
            groups_left_out: None,
        };
        let (person, attributes) = match self {
            Principal::Operator { .. } => ("stdio", &NONE),
            Principal::Person {
                subject,
                attributes,
                ..
            } => (&**subject, attributes.as_deref().unwrap_or(&NONE)),
            Principal::Agent { oauth_client, .. } => (&**oauth_client, &NONE),
        };
        let agent = self.oauth_client().zip(self.agent());
        Who {
            person,
            itself: matches!(self, Principal::Agent { .. }),
            attributes,
            client,
            agent,
        }
    }

    /// Whether the call comes from `serve`'s verified person or agent.
    pub(crate) fn is_served(&self) -> bool {
        !matches!(self, Principal::Operator { .. })
    }

    /// Whether the principal is a person, who signs in to consent (an
    /// agent acting as itself is connected as stdio's operator is: by
    /// whoever holds the Gateway's consent URL for its workspace).
    pub(crate) fn consents(&self) -> bool {
        matches!(self, Principal::Person { .. })
    }

    /// Whose connection it is, in the one wording the user and the model
    /// read: the account's label; `serve`'s person's workspace, never its
    /// id; the operator's workspace by its id.
    pub(crate) fn whose(&self, account: Option<&str>) -> Cow<'static, str> {
        match (account, self) {
            (Some(label), _) => format!("your `{}` account", one_line(label)).into(),
            (None, Principal::Person { .. } | Principal::Agent { .. }) => "your workspace".into(),
            (None, Principal::Operator { workspace }) => {
                format!("workspace `{}`", one_line(workspace)).into()
            }
        }
    }
}

/// SHA-256(issuer ‖ 0x00 ‖ subject) in lowercase hex: a person, the same
/// for every token and login of theirs, apart for two issuers.
pub(crate) fn person(issuer: &str, subject: &str) -> String {
    hex(&digest(issuer, subject))
}

/// SHA-256(issuer ‖ 0x00 ‖ subject): the [`person`] hash as bytes.
pub(crate) fn digest(issuer: &str, subject: &str) -> [u8; 32] {
    sha256(&[issuer.as_bytes(), &[0], subject.as_bytes()])
}

/// SHA-256 of `parts`, one after the other, in lowercase hex.
pub(crate) fn sha256_hex(parts: &[&[u8]]) -> String {
    hex(&sha256(parts))
}

/// SHA-256 of `parts`, one after the other (ring's, in assembly where the
/// machine has it: a warm call hashes its bearer token).
pub(crate) fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut hash = ring::digest::Context::new(&ring::digest::SHA256);
    parts.iter().for_each(|part| hash.update(part));
    let mut digest = [0; 32];
    digest.copy_from_slice(hash.finish().as_ref());
    digest
}

/// `bytes` in lowercase hex (two digits a byte, looked up, not formatted:
/// a warm call writes several).
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut hex = String::with_capacity(2 * bytes.len());
    for byte in bytes {
        hex.push(char::from(DIGITS[usize::from(byte >> 4)]));
        hex.push(char::from(DIGITS[usize::from(byte & 0xf)]));
    }
    hex
}

/// The workspace `serve` acts in for `person` (a [`person`] hash) without
/// `--workspace-claim`: `prefix`, then the hash's first 32 hex digits.
pub(crate) fn own_workspace(prefix: &str, person: &str) -> String {
    format!("{prefix}{}", person.get(..32).unwrap_or(person))
}

/// The claims `--policy` reads of a person: those whose values are their
/// groups (`--group-claim`), and those it reads as tags (`--policy-claim`).
#[derive(Clone, Debug, Default)]
pub(crate) struct PolicyClaims {
    pub(crate) groups: Vec<String>,
    pub(crate) tags: Vec<String>,
}

impl PolicyClaims {
    /// What `claims` say of the person as `--policy` reads it (a dotted
    /// name reads a nested claim, as Keycloak's `realm_access.roles`): a
    /// group claim's string, or each string of its list; a tag claim's
    /// string, number or boolean, as text (`42`, `true`); anything else,
    /// nothing. A group claim the issuer left out for overage (Entra names
    /// it in `_claim_names` and says where to ask for it in
    /// `_claim_sources`, or sends `hasgroups: true` for `groups`) is named.
    pub(crate) fn read(&self, claims: &serde_json::Map<String, serde_json::Value>) -> Attributes {
        use serde_json::Value;
        let at = |name: &str| {
            let mut parts = name.split('.');
            let first = parts.next().and_then(|part| claims.get(part));
            parts.fold(first, |value, part| value.and_then(|v| v.get(part)))
        };
        let mut groups = Vec::new();
        for name in &self.groups {
            match at(name) {
                Some(Value::String(one)) => groups.push(one.clone()),
                Some(Value::Array(many)) => {
                    groups.extend(many.iter().filter_map(|g| g.as_str().map(str::to_owned)));
                }
                _ => {}
            }
        }
        let tags = (self.tags.iter()).filter_map(|name| match at(name)? {
            Value::String(text) => Some((name.clone(), text.clone())),
            value @ (Value::Number(_) | Value::Bool(_)) => Some((name.clone(), value.to_string())),
            _ => None,
        });
        let left_out = |name: &&String| {
            let named = claims
                .get("_claim_names")
                .and_then(|n| n.get(name.as_str()));
            let has = claims.get("hasgroups") == Some(&Value::Bool(true)) && *name == "groups";
            named.is_some() || has
        };
        Attributes {
            groups,
            tags: tags.collect(),
            groups_left_out: self.groups.iter().find(left_out).cloned(),
        }
    }
}
