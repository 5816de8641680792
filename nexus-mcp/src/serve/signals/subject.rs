//! What every channel of the identity provider's signals shares: the
//! person a subject identifier (RFC 9493) names, in the same hash `serve
//! revoke --person` and the log's `who=` use; the one log line and counter
//! each signal leaves.

use serde_json::Value;

use crate::serve::revoked::Revoked;

/// The people of this deployment: the issuer they sign in at (`--issuer`)
/// and the claim that names them (`--subject-claim`).
#[derive(Clone, Debug)]
pub(crate) struct People {
    pub(crate) issuer: String,
    pub(crate) claim: String,
}

/// The claims a provider names a person by that hold an e-mail address.
pub(crate) const MAIL_CLAIMS: [&str; 4] = ["email", "upn", "preferred_username", "unique_name"];

/// Why a subject identifier names nobody this server could revoke.
#[derive(Debug, PartialEq)]
pub(crate) enum Unnamed {
    /// Not a subject identifier, or one of a format this deployment cannot
    /// read its people from: why (400).
    Unreadable(String),
    /// A person of another issuer (404: no such person here).
    Stranger(String),
}

/// The person (their whole hash) the subject identifier `sub_id` (RFC 9493
/// §3) names among the people of `issuer`, who are named by the claim
/// `subject_claim`: `iss_sub` with that issuer, byte for byte, where people
/// are named by `sub`; `email` where they are named by an e-mail claim;
/// `aliases`, by the first of its identifiers that names one.
///
/// # Errors
/// Why it names nobody here.
pub(crate) fn person(
    sub_id: &Value,
    (issuer, subject_claim): (&str, &str),
) -> Result<String, Unnamed> {
    let text = |name: &str| {
        let value = sub_id.get(name).and_then(Value::as_str);
        let value = value.filter(|value| !value.trim().is_empty());
        value.ok_or_else(|| Unnamed::Unreadable(format!("sub_id lacks its {name}")))
    };
    match sub_id.get("format").and_then(Value::as_str) {
        Some("iss_sub") => {
            let (iss, sub) = (text("iss")?, text("sub")?);
            if iss != issuer {
                let shown = crate::answer::quoted(iss, 256);
                return Err(Unnamed::Stranger(format!(
                    "iss {shown} is not this server's issuer"
                )));
            }
            if subject_claim != "sub" {
                return Err(Unnamed::Unreadable(format!(
                    "this server names people by `{subject_claim}`, not by the issuer's sub: \
                     send their {subject_claim} (format email, where it is an e-mail address)"
                )));
            }
            Ok(crate::principal::person(issuer, sub))
        }
        Some("email") if MAIL_CLAIMS.contains(&subject_claim) => {
            Ok(crate::principal::person(issuer, text("email")?))
        }
        Some("email") => Err(Unnamed::Unreadable(format!(
            "this server names people by `{subject_claim}`, which is no e-mail address: send \
             format iss_sub"
        ))),
        Some("aliases") => {
            let all = sub_id.get("identifiers").and_then(Value::as_array);
            let all =
                all.ok_or_else(|| Unnamed::Unreadable("aliases lacks its identifiers".into()))?;
            let mut first = Unnamed::Unreadable("aliases names no identifier".into());
            for one in all
                .iter()
                .filter(|one| one.get("format").is_some_and(|f| f != "aliases"))
            {
                match person(one, (issuer, subject_claim)) {
                    Ok(person) => return Ok(person),
                    Err(why) => first = why,
                }
            }
            Err(first)
        }
        Some(other) => Err(Unnamed::Unreadable(format!(
            "sub_id's format {} is not one this server reads (iss_sub, email, aliases)",
            crate::answer::quoted(other, 64)
        ))),
        None => Err(Unnamed::Unreadable(
            "sub_id is a subject identifier (RFC 9493): an object with a format".into(),
        )),
    }
}

/// What became of a signal, as its line and counter say it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Outcome {
    /// The person is revoked.
    Revoked,
    /// A revocation until lifted is lifted.
    Lifted,
    /// Nothing to do: logged, counted and left.
    Left,
    /// The signal is refused: not authenticated, malformed, replayed.
    Refused,
    /// It names nobody here.
    Unknown,
    /// The store does not answer: nothing was done, and the sender retries.
    Unavailable,
}

impl Outcome {
    /// Its word in the log and the counter.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Outcome::Revoked => "revoked",
            Outcome::Lifted => "lifted",
            Outcome::Left => "left",
            Outcome::Refused => "refused",
            Outcome::Unknown => "unknown",
            Outcome::Unavailable => "unavailable",
        }
    }
}

/// The one line and count a signal leaves: its `channel` and `event`, the
/// person (`who=`, when it named one), its `outcome`, and why.
pub(crate) fn said(
    (channel, event): (&str, &str),
    who: Option<&Revoked>,
    outcome: Outcome,
    why: &str,
) {
    crate::metrics::signal(channel, event, outcome.as_str());
    let who = match who {
        Some(Revoked::Person(who)) => who.clone(),
        _ => "-".to_owned(),
    };
    match outcome {
        Outcome::Revoked => {
            log::warn!(target: "nexus_mcp", "signal {channel} {event}: who={who} revoked: every sign-in, refresh token and access token granted to them before now is refused on every replica; {why}")
        }
        _ => {
            log::info!(target: "nexus_mcp", "signal {channel} {event}: who={who} {}: {why}", outcome.as_str())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ISSUER: &str = "https://login.example/";

    #[test]
    fn a_subject_identifier_names_the_person_the_log_does_or_says_why_not() {
        let alice = crate::principal::person(ISSUER, "alice");
        let by_sub = (ISSUER, "sub");
        let iss_sub = json!({"format": "iss_sub", "iss": ISSUER, "sub": "alice"});
        assert_eq!(person(&iss_sub, by_sub), Ok(alice.clone()));
        let mail = crate::principal::person(ISSUER, "alice@example.com");
        let email = json!({"format": "email", "email": "alice@example.com"});
        assert_eq!(person(&email, (ISSUER, "email")), Ok(mail));
        let aliases = json!({"format": "aliases", "identifiers": [
            {"format": "email", "email": "alice@example.com"}, iss_sub]});
        assert_eq!(person(&aliases, by_sub), Ok(alice));
        for stranger in [
            json!({"format": "iss_sub", "iss": "https://login.example", "sub": "alice"}),
            json!({"format": "iss_sub", "iss": "HTTPS://LOGIN.EXAMPLE/", "sub": "alice"}),
        ] {
            assert!(
                matches!(person(&stranger, by_sub), Err(Unnamed::Stranger(_))),
                "{stranger}"
            );
        }
        for unreadable in [
            json!({"format": "iss_sub", "iss": ISSUER}),
            json!({"format": "iss_sub", "iss": ISSUER, "sub": " "}),
            json!({"format": "iss_sub", "iss": ISSUER, "sub": 7}),
            json!({"format": "opaque", "id": "alice"}),
            json!({"format": "aliases", "identifiers": [{"format": "aliases", "identifiers": []}]}),
            json!({"format": "aliases"}),
            json!({"email": "alice@example.com"}),
            json!("alice"),
            email,
        ] {
            assert!(
                matches!(person(&unreadable, by_sub), Err(Unnamed::Unreadable(_))),
                "{unreadable}"
            );
        }
        let by_mail = (ISSUER, "upn");
        assert!(matches!(
            person(&iss_sub, by_mail),
            Err(Unnamed::Unreadable(_))
        ));
    }
}
