//! `@ask("self")` and `@ask("group:NAME")` on a `forbid` (#111, 2): who
//! may approve a call such a `forbid` denies, read when the file is
//! ([`asking`]), and decided with the call ([`Policies::asked`]): a call
//! every denying `forbid` of which asks one approver, and that the
//! policies but those permit, is asked, not denied.

use std::collections::HashMap;

use cedar_policy::{Decision, Entities, PolicyId, PolicySet, Request};

use super::{Indexed, Policies, indexed};

/// What `@ask` names: the person who asked, or a group's members but them.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub(crate) enum Approver {
    /// `@ask("self")`: the person, signed in again.
    Person,
    /// `@ask("group:NAME")`: a member of the group other than the person.
    Group(String),
}

impl Approver {
    /// `@ask`'s value read: `self` or `group:NAME`.
    ///
    /// # Errors
    ///
    /// What it should be.
    pub(crate) fn read(text: &str) -> Result<Approver, String> {
        match text.strip_prefix("group:") {
            _ if text == "self" => Ok(super::Approver::Person),
            Some(group) if !group.trim().is_empty() => Ok(super::Approver::Group(group.to_owned())),
            _ => Err(format!(
                "@ask({text:?}) names no approver: write @ask(\"self\") or @ask(\"group:NAME\")"
            )),
        }
    }

    /// As `@ask` writes it.
    pub(crate) fn said(&self) -> String {
        match self {
            Approver::Person => "self".to_owned(),
            Approver::Group(group) => format!("group:{group}"),
        }
    }
}

/// The `forbid`s of `set` that ask (`@ask("self")`, `@ask("group:NAME")`),
/// each with its approver, and the policies but those, indexed; or where
/// in `text` an `@ask` is wrong (on a `permit`, or naming no approver).
pub(super) fn asking(
    text: &str,
    set: &PolicySet,
) -> Result<(HashMap<PolicyId, Approver>, Indexed), String> {
    let mut asks = HashMap::new();
    let mut unasked = PolicySet::new();
    for policy in set.policies() {
        let Some(value) = policy.annotation("ask") else {
            drop(unasked.add(policy.clone()));
            continue;
        };
        let at = |why: String| {
            let at = text.find(&format!("@ask(\"{value}\")")).unwrap_or_default();
            let (line, column) = crate::literals::placed_at(text, at);
            format!("{line}:{column}: {why}")
        };
        if policy.effect() != cedar_policy::Effect::Forbid {
            let why = "@ask is for a forbid: it asks someone to approve what the forbid denies";
            return Err(at(why.to_owned()));
        }
        asks.insert(
            policy.id().clone(),
            super::Approver::read(value).map_err(at)?,
        );
    }
    Ok((asks, indexed(&unasked)))
}

impl Policies {
    /// Who may approve a call the policies `reasons` deny: when each asks,
    /// all of one approver, and the policies but those permit it.
    pub(super) fn asked(
        &self,
        reasons: &[&PolicyId],
        (request, entities): (&Request, &Entities),
        provider: &str,
    ) -> Option<Approver> {
        let mut approvers = reasons.iter().map(|id| self.asks.get(*id));
        let first = approvers.next().flatten()?;
        if !approvers.all(|approver| approver == Some(first)) {
            return None;
        }
        let (by_provider, any) = &self.unasked;
        let set = by_provider.get(provider).unwrap_or(any);
        let answer = self.authorizer.is_authorized(request, set, entities);
        (answer.decision() == Decision::Allow).then(|| first.clone())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_approver_is_self_or_a_group() {
        assert_eq!(super::Approver::read("self"), Ok(super::Approver::Person));
        assert_eq!(
            super::Approver::read("group:leads"),
            Ok(super::Approver::Group("leads".into()))
        );
        for wrong in ["", "me", "group:", "group: ", "Self", "user:bob"] {
            assert!(super::Approver::read(wrong).is_err(), "{wrong}");
        }
    }
}
