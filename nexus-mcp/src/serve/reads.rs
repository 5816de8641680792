//! What a sign-in reads of the person in their ID token, and what it asks
//! the issuer for so that the claims it reads arrive: the subject, the
//! workspace, what `--policy` reads, who may sign in, and the scopes each
//! claim needs at each provider. Pure: each rule tested alone.

use serde_json::{Map, Value};

use super::admit::Admission;
use crate::principal::PolicyClaims;

/// What a sign-in reads of the person in their ID token.
#[derive(Clone)]
pub(crate) struct Reads {
    /// The claim that names the person (`--subject-claim`), as the bearer
    /// check reads it from access tokens.
    pub(crate) subject_claim: String,
    /// The claim that names the workspace (`--workspace-claim`).
    pub(crate) workspace_claim: Option<String>,
    /// The claims `--policy` reads (`--group-claim`, `--policy-claim`).
    pub(crate) policy_claims: PolicyClaims,
    /// Who may sign in (`--allow-sign-in`).
    pub(crate) admission: Admission,
    /// `--login-scope`: scopes the operator asks besides those the claims
    /// read need.
    pub(crate) login_scopes: Vec<String>,
    /// Whether `--policy` decides on the groups read: a person who arrives
    /// with none of the group claims is then said.
    pub(crate) groups_decide: bool,
}

impl Reads {
    /// The scopes a sign-in asks besides `openid`, for an issuer whose
    /// `metadata` this is: `profile` for a subject claim other than `sub`
    /// (Entra writes `oid` only then); `email` when a claim read (the
    /// subject, a group or tag, an `--allow-sign-in` rule's) is `email`;
    /// `groups` when a group claim is `groups` and the issuer lists it
    /// (Okta's org server writes it only then); `offline_access` where the
    /// issuer lists it (to stay signed in); then `--login-scope`'s.
    pub(crate) fn scopes(&self, metadata: &Value) -> Vec<String> {
        let lists = |scope: &str| {
            let listed = metadata["scopes_supported"]
                .as_array()
                .into_iter()
                .flatten();
            listed.into_iter().any(|listed| listed == scope)
        };
        let claims = self
            .policy_claims
            .groups
            .iter()
            .chain(&self.policy_claims.tags);
        let claims: Vec<&str> = (claims.map(String::as_str))
            .chain([self.subject_claim.as_str()])
            .chain(self.admission.claims())
            .collect();
        let group = |name: &str| self.policy_claims.groups.iter().any(|g| g == name);
        let wanted = [
            ("profile", self.subject_claim != "sub"),
            ("email", claims.contains(&"email")),
            ("groups", group("groups") && lists("groups")),
            ("offline_access", lists("offline_access")),
        ];
        let asked = wanted
            .iter()
            .filter(|(_, asked)| *asked)
            .map(|(s, _)| s.to_string());
        let mut scopes: Vec<String> = Vec::new();
        for scope in asked.chain(self.login_scopes.iter().cloned()) {
            if scope != "openid" && !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        scopes
    }

    /// When `--policy` decides on groups and the ID token `others` carries
    /// none of the group claims: the operator's line, naming what adds one
    /// at each provider.
    pub(crate) fn no_groups(&self, others: &Map<String, Value>) -> Option<String> {
        let names = &self.policy_claims.groups;
        let carried = |name: &String| others.contains_key(name.split('.').next().unwrap_or(name));
        if !self.groups_decide || names.is_empty() || names.iter().any(carried) {
            return None;
        }
        Some(format!(
            "a person signed in with no {} claim in the ID token, so --policy finds them in no \
             group: at Okta's org server, set the app's groups claim filter (Sign On, OpenID \
             Connect ID Token) and let it ask the `groups` scope (this server asks it when the \
             issuer lists it, or --login-scope groups); at Entra ID, groupMembershipClaims or \
             app roles (--group-claim roles); Google writes no groups: decide by hd or e-mail \
             (--policy-claim hd)",
            names.join(", ")
        ))
    }
}

/// Why an ID token that lacks the `--subject-claim` `name` names no one,
/// with the scope that would bring the claim and the provider's setting.
pub(crate) fn lacking(name: &str) -> String {
    let brings = match name {
        "email" | "email_verified" => {
            "the `email` scope brings it (this server asks it for an \
             `email` claim; the issuer must list it)"
        }
        "oid" | "name" | "preferred_username" => {
            "the `profile` scope brings it at Entra ID \
             (this server asks it for a claim other than sub)"
        }
        _ => {
            "a claim of your own needs the provider to write it into ID tokens, and the scope \
             that carries it (--login-scope); Okta's org server cannot add one (that takes a \
             custom authorization server): use sub or email there"
        }
    };
    format!(
        "the ID token names no person: its `{name}` claim is missing or blank; \
         --subject-claim must name a claim the issuer writes in ID tokens: {brings}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_sign_in_asks_the_scopes_the_claims_read_need_where_the_issuer_offers_them() {
        let reads = |subject: &str, groups: &[&str], login: &[&str]| Reads {
            subject_claim: subject.into(),
            workspace_claim: None,
            policy_claims: PolicyClaims {
                groups: groups.iter().map(|g| g.to_string()).collect(),
                tags: Vec::new(),
            },
            admission: Admission::default(),
            login_scopes: login.iter().map(|s| s.to_string()).collect(),
            groups_decide: true,
        };
        let okta =
            json!({"scopes_supported": ["openid", "email", "profile", "offline_access", "groups"]});
        let google = json!({"scopes_supported": ["openid", "email", "profile"]});
        assert_eq!(
            reads("sub", &["groups"], &[]).scopes(&okta),
            ["groups", "offline_access"]
        );
        assert_eq!(
            reads("sub", &["groups"], &[]).scopes(&google),
            Vec::<String>::new()
        );
        assert_eq!(
            reads("email", &["groups"], &[]).scopes(&google),
            ["profile", "email"]
        );
        let asked = reads("oid", &["roles"], &["User.Read", "openid", "profile"]).scopes(&okta);
        assert_eq!(asked, ["profile", "offline_access", "User.Read"]);
    }
}
