//! Who may sign in (`--allow-sign-in CLAIM=VALUE`, repeat): a person is let
//! in when one rule holds of their sign-in's ID token, as oauth2-proxy's
//! `--email-domain` and `--allowed-group` are read. A rule names a claim (a
//! dotted name reads a nested one) and a value: the claim is that string,
//! or a list holding it; a value `*@acme.com` matches every value that ends
//! so (an e-mail domain). An `email` claim the issuer marks unverified
//! (`email_verified: false`) matches nothing. With no rule, everyone the
//! issuer signs in is let in. A domain is compared as domains are, without
//! regard to case: the claims that hold one (`hd`, `email`, `upn`,
//! `preferred_username`); every other claim (a group) exactly.
//!
//! The claims the rules read are carried, sealed, in what `serve` issues,
//! so that a rule is held again at each refresh: a rule added later turns
//! away, at their next refresh, the people it would have turned away.

use serde_json::{Map, Value};

/// The rules, as `--allow-sign-in` gives them.
#[derive(Clone, Debug, Default)]
pub(crate) struct Admission {
    rules: Vec<(String, String)>,
}

impl Admission {
    /// The rules `given` (`CLAIM=VALUE` each), or why one is none.
    ///
    /// # Errors
    ///
    /// A rule without `=`, or with a blank claim or value.
    pub(crate) fn new(given: &[String]) -> Result<Admission, String> {
        let rules = given.iter().map(|rule| {
            let parsed = rule.split_once('=').map(|(c, v)| (c.trim(), v.trim()));
            match parsed {
                Some((claim, value)) if !claim.is_empty() && !value.is_empty() => {
                    Ok((claim.to_owned(), value.to_owned()))
                }
                _ => Err(format!(
                    "--allow-sign-in {rule:?}: CLAIM=VALUE, as hd=acme.com, \
                     email=*@acme.com or groups=engineering"
                )),
            }
        });
        Ok(Admission {
            rules: rules.collect::<Result<_, _>>()?,
        })
    }

    /// The claims the rules read.
    pub(crate) fn claims(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(|(claim, _)| claim.as_str())
    }

    /// What `--check` notes of each rule whose value no provider sends in
    /// that form: a Workspace domain with a capital, a trailing dot, `@` or `*` in a
    /// Workspace domain (`hd`), an e-mail rule with no `@` (no e-mail
    /// matches it) or a `*` not followed by `@` (which lets in any domain
    /// ending so).
    pub(crate) fn notes(&self) -> Vec<String> {
        let said = |rule: &str, why: &str| format!("a note: --allow-sign-in {rule:?}: {why}");
        let mut notes = Vec::new();
        for (claim, value) in &self.rules {
            let rule = format!("{claim}={value}");
            let domain = value.rsplit('@').next().unwrap_or(value);
            if claim == "hd" && value.bytes().any(|b| b.is_ascii_uppercase()) {
                let lower = value.to_ascii_lowercase();
                let why =
                    format!("Google sends hd in lower case; it is compared so, as hd={lower}");
                notes.push(said(&rule, &why));
            }
            if domain.ends_with('.') {
                notes.push(said(
                    &rule,
                    "no provider sends a domain with a trailing dot: nobody matches it",
                ));
            }
            match claim.as_str() {
                "hd" if value.contains(['@', '*']) => notes.push(said(&rule, "Google's hd is the Workspace domain alone (hd=acme.com): nobody matches it")),
                "email" if !value.starts_with('*') && !value.contains('@') => notes.push(said(&rule, &format!("an e-mail has an @: for a domain write email=*@{}", value.trim_start_matches('*')))),
                "email" if value.starts_with('*') && !value.starts_with("*@") && !value.starts_with("*.") => notes.push(said(&rule, &format!("lets in every address ending so, another domain's included: write email=*@{}", value.trim_start_matches('*')))),
                _ => {}
            }
        }
        notes
    }

    /// Whether any rule is given.
    pub(crate) fn restricts(&self) -> bool {
        !self.rules.is_empty()
    }

    /// The claims of `claims` the rules read (and `email_verified`): what
    /// a grant carries to be held again at each refresh.
    pub(crate) fn kept(&self, claims: &Map<String, Value>) -> Map<String, Value> {
        let names = self.rules.iter().map(|(claim, _)| claim.as_str());
        let names = names.chain(self.restricts().then_some("email_verified"));
        let read = names.filter_map(|name| Some((name.to_owned(), at(claims, name)?.clone())));
        read.collect()
    }

    /// Whether `claims` let the person in; else what the log says of why
    /// not (the claims the rules read, an e-mail by its domain alone).
    pub(crate) fn admits(&self, claims: &Map<String, Value>) -> Result<(), String> {
        if !self.restricts() || self.rules.iter().any(|rule| holds(rule, claims)) {
            return Ok(());
        }
        let mut seen: Vec<&str> = self.rules.iter().map(|(claim, _)| claim.as_str()).collect();
        seen.dedup();
        let carried = seen.iter().map(|claim| match at(claims, claim) {
            None => format!("no {claim}"),
            Some(Value::String(text)) if text.contains('@') => {
                let domain = text.rsplit('@').next().unwrap_or_default();
                format!("{claim} at {}", nexus_sdk::one_line(domain))
            }
            Some(value) => format!("{claim} {}", nexus_sdk::one_line(&value.to_string())),
        });
        let carried: Vec<String> = carried.collect();
        Err(format!(
            "the sign-in matches no --allow-sign-in (it carries {})",
            carried.join(", ")
        ))
    }
}

/// The claims that hold a domain, or an address ending in one: compared
/// without regard to case, as domains are.
const DOMAIN_CLAIMS: [&str; 4] = ["hd", "email", "upn", "preferred_username"];

/// Whether the rule `(claim, value)` holds of `claims`.
fn holds((claim, value): &(String, String), claims: &Map<String, Value>) -> bool {
    let unverified = claims.get("email_verified") == Some(&Value::Bool(false));
    if claim == "email" && unverified {
        return false;
    }
    let domain = DOMAIN_CLAIMS.contains(&claim.as_str());
    let folded = |text: &str| {
        if domain {
            text.to_ascii_lowercase()
        } else {
            text.to_owned()
        }
    };
    let value = folded(value);
    let matches = |text: &str| {
        let text = folded(text);
        match value.strip_prefix('*') {
            Some(ending) => text.len() > ending.len() && text.ends_with(ending),
            None => text == value,
        }
    };
    match at(claims, claim) {
        Some(Value::String(text)) => matches(text),
        Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).any(matches),
        Some(other @ (Value::Bool(_) | Value::Number(_))) => matches(&other.to_string()),
        _ => false,
    }
}

/// The claim `name` of `claims`: the claim of that whole name (as a grant
/// keeps it), or, a dotted name, the nested claim it reads.
fn at<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    if let Some(whole) = claims.get(name) {
        return Some(whole);
    }
    let mut parts = name.split('.');
    let first = parts.next().and_then(|part| claims.get(part));
    parts.fold(first, |value, part| value.and_then(|v| v.get(part)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    fn admission(rules: &[&str]) -> Admission {
        let rules: Vec<String> = rules.iter().map(|r| r.to_string()).collect();
        Admission::new(&rules).unwrap()
    }

    #[test]
    fn a_workspace_domain_an_email_domain_or_a_group_lets_a_person_in() {
        let team = admission(&[
            "hd=acme.com",
            "email=*@partner.example",
            "groups=contractors",
        ]);
        for admitted in [
            json!({"sub": "1", "hd": "acme.com", "email": "a@acme.com"}),
            json!({"sub": "2", "email": "b@partner.example", "email_verified": true}),
            json!({"sub": "3", "groups": ["staff", "contractors"]}),
        ] {
            assert_eq!(team.admits(&claims(admitted.clone())), Ok(()), "{admitted}");
        }
        for refused in [
            json!({"sub": "4", "email": "c@gmail.com"}),
            json!({"sub": "5", "hd": "other.com"}),
            json!({"sub": "6", "hd": "acme.com.evil"}),
            json!({"sub": "7", "email": "d@partner.example", "email_verified": false}),
            json!({"sub": "8", "email": "@partner.example"}),
            json!({"sub": "9", "email": "x@evilpartner.example.com"}),
            json!({"sub": "10", "groups": "staff"}),
            json!({"sub": "11"}),
        ] {
            assert!(team.admits(&claims(refused.clone())).is_err(), "{refused}");
        }
        let why = team.admits(&claims(json!({"email": "c@gmail.com", "hd": 3})));
        let why = why.unwrap_err();
        assert!(
            why.contains("email at gmail.com") && !why.contains("c@"),
            "{why}"
        );
        assert!(why.contains("hd 3") && why.contains("no groups"), "{why}");
    }

    #[test]
    fn a_domain_is_compared_as_domains_are_and_a_group_exactly() {
        let team = admission(&["hd=ACME.com", "email=*@Partner.Example", "groups=Staff"]);
        for admitted in [
            json!({"hd": "acme.com"}),
            json!({"hd": "Acme.COM"}),
            json!({"email": "Ann@partner.example"}),
            json!({"groups": ["Staff"]}),
        ] {
            assert_eq!(team.admits(&claims(admitted.clone())), Ok(()), "{admitted}");
        }
        for refused in [json!({"groups": ["staff"]}), json!({"hd": "acme.com.evil"})] {
            assert!(team.admits(&claims(refused.clone())).is_err(), "{refused}");
        }
    }

    #[test]
    fn a_value_no_provider_sends_in_that_form_is_noted() {
        for (rule, words) in [
            ("hd=ACME.COM", "hd=acme.com"),
            ("hd=acme.com.", "trailing dot"),
            ("hd=*@acme.com", "Workspace domain alone"),
            ("email=acme.com", "email=*@acme.com"),
            ("email=*acme.com", "email=*@acme.com"),
        ] {
            let notes = admission(&[rule]).notes();
            assert!(notes.iter().any(|n| n.contains(words)), "{rule}: {notes:?}");
        }
        for fine in [
            "hd=acme.com",
            "email=*@acme.com",
            "groups=Engineering",
            "email=ann@acme.com",
        ] {
            assert_eq!(admission(&[fine]).notes(), Vec::<String>::new(), "{fine}");
        }
    }

    #[test]
    fn without_a_rule_everyone_the_issuer_signs_in_is_let_in() {
        let open = admission(&[]);
        assert!(!open.restricts());
        assert_eq!(open.admits(&Map::new()), Ok(()));
        assert!(open.kept(&claims(json!({"hd": "a"}))).is_empty());
    }

    #[test]
    fn the_claims_a_rule_reads_are_kept_to_be_held_again() {
        let team = admission(&["hd=acme.com", "realm_access.roles=staff"]);
        let signed = claims(json!({
            "sub": "1", "hd": "acme.com", "name": "Ann", "email_verified": true,
            "realm_access": {"roles": ["staff"]}
        }));
        let kept = team.kept(&signed);
        assert_eq!(
            Value::Object(kept.clone()),
            json!({"hd": "acme.com", "realm_access.roles": ["staff"], "email_verified": true})
        );
        // Held again from what was kept, a nested claim by its dotted name.
        let again = admission(&["realm_access.roles=staff"]);
        assert_eq!(again.admits(&kept), Ok(()), "{kept:?}");
        let later = admission(&["realm_access.roles=admins"]);
        assert!(
            later.admits(&kept).is_err(),
            "a rule added later turns them away"
        );
    }

    #[test]
    fn a_rule_that_is_not_claim_equals_value_is_refused_naming_the_flag() {
        for bad in ["hd", "=acme.com", "hd=", " = "] {
            let refused = Admission::new(&[bad.to_owned()]).unwrap_err();
            assert!(refused.contains("--allow-sign-in"), "{refused}");
        }
    }
}
