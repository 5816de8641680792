//! What every channel of the identity provider's signals shares: the
//! person a subject identifier (RFC 9493) names, in the same hash `serve
//! revoke --person` and the log's `who=` use; the one log line and counter
//! each signal leaves; and the time a signal revokes as of ([`as_of`]).

use serde_json::{Map, Value};

use crate::serve::revoked::{MAIL_CLAIMS, Named, Revoked};

/// The moment a signal of `claims` revokes as of, in milliseconds since
/// the Unix epoch: the latest `event_timestamp` of its events (a SET's),
/// or its `iat`, with the receivers' allowance for clocks
/// ([`crate::serve::jws::LEEWAY`]), and never past `now`: what was granted
/// before the signal was made is revoked, and a signal taken again after
/// the store forgot it (a replay) takes nothing granted since.
pub(crate) fn as_of(claims: &Map<String, Value>, now: u64) -> u64 {
    let events = claims.get("events").and_then(Value::as_object);
    let each = events.into_iter().flat_map(|events| events.values());
    let happened = each
        .filter_map(|event| event.get("event_timestamp")?.as_u64())
        .max();
    let said = happened.or_else(|| claims.get("iat")?.as_u64());
    let allowed = |said: u64| {
        said.saturating_add(crate::serve::jws::LEEWAY)
            .saturating_mul(1000)
    };
    said.map_or(now, |said| allowed(said).min(now))
}

/// The people of this deployment: the issuer they sign in at (`--issuer`)
/// and the claim that names them (`--subject-claim`).
#[derive(Clone, Debug)]
pub(crate) struct People {
    pub(crate) issuer: String,
    pub(crate) claim: String,
}

/// Why a subject identifier names nobody this server could revoke.
#[derive(Debug, PartialEq)]
pub(crate) enum Unnamed {
    /// Not a subject identifier, or one of a format this deployment cannot
    /// read its people from: why (400).
    Unreadable(String),
    /// A person of another issuer (404: no such person here).
    Stranger(String),
}

impl People {
    /// The person `subject` names, as the revocation list does.
    pub(crate) fn named(&self, subject: &str) -> Named {
        Named::of(&self.issuer, &self.claim, subject)
    }

    /// The person (their whole hash, as the list names them: folded where
    /// their claim is compared without regard to case) the subject
    /// identifier `sub_id` (RFC 9493 §3) names among these people:
    /// `iss_sub` with this issuer, byte for byte, where people are named by
    /// `sub`; `email` where they are named by an e-mail claim, in any case;
    /// `aliases`, by every identifier of it that names one here, all of
    /// which name the same person.
    ///
    /// # Errors
    /// Why it names nobody here, or more than one person.
    pub(crate) fn person(&self, sub_id: &Value) -> Result<String, Unnamed> {
        let text = |name: &str| {
            let value = sub_id.get(name).and_then(Value::as_str);
            let value = value.filter(|value| !value.trim().is_empty());
            value.ok_or_else(|| Unnamed::Unreadable(format!("sub_id lacks its {name}")))
        };
        let claim = self.claim.as_str();
        match sub_id.get("format").and_then(Value::as_str) {
            Some("iss_sub") => {
                let (iss, sub) = (text("iss")?, text("sub")?);
                if iss != self.issuer {
                    let shown = crate::answer::quoted(iss, 256);
                    return Err(Unnamed::Stranger(format!(
                        "iss {shown} is not this server's issuer"
                    )));
                }
                if claim != "sub" {
                    return Err(Unnamed::Unreadable(format!(
                        "this server names people by `{claim}`, not by the issuer's sub: \
                         send their {claim} (format email, where it is an e-mail address)"
                    )));
                }
                Ok(self.named(sub).folded)
            }
            Some("email") if MAIL_CLAIMS.contains(&claim) => Ok(self.named(text("email")?).folded),
            Some("email") => Err(Unnamed::Unreadable(format!(
                "this server names people by `{claim}`, which is no e-mail address: send \
                 format iss_sub"
            ))),
            Some("aliases") => self.aliased(sub_id),
            Some(other) => Err(Unnamed::Unreadable(format!(
                "sub_id's format {} is not one this server reads (iss_sub, email, aliases)",
                crate::answer::quoted(other, 64)
            ))),
            None => Err(Unnamed::Unreadable(
                "sub_id is a subject identifier (RFC 9493): an object with a format".into(),
            )),
        }
    }

    /// The person an `aliases` identifier names: every identifier of it
    /// this server reads names the same person (RFC 9493 §3.2.6: aliases
    /// of one subject), or it is refused.
    fn aliased(&self, sub_id: &Value) -> Result<String, Unnamed> {
        let all = sub_id.get("identifiers").and_then(Value::as_array);
        let all = all.ok_or_else(|| Unnamed::Unreadable("aliases lacks its identifiers".into()))?;
        let mut named: Option<String> = None;
        let mut first = Unnamed::Unreadable("aliases names no identifier".into());
        let nested = |one: &&Value| one.get("format").is_some_and(|f| f != "aliases");
        for one in all.iter().filter(nested) {
            match (self.person(one), &named) {
                (Ok(person), Some(before)) if *before != person => {
                    return Err(Unnamed::Unreadable(
                        "aliases names two different people: its identifiers are one \
                         subject's (RFC 9493)"
                            .into(),
                    ));
                }
                (Ok(person), _) => named = Some(person),
                (Err(why), None) => first = why,
                (Err(_), Some(_)) => {}
            }
        }
        named.ok_or(first)
    }
}

/// `text` (a peer's words, or a line or an answer quoting them) as this
/// server writes it: each of `secrets` it holds (the Shared Signals token,
/// a push authorization, a request's bearer) replaced by `<redacted>`, and
/// the whole withheld when one is still in it in another form (hex,
/// base64, percent-encoded: the core's echo rule). A secret under 8
/// characters is none.
pub(crate) fn withheld(text: &str, secrets: &[&str]) -> String {
    let mut shown = text.to_owned();
    for secret in secrets.iter().filter(|secret| secret.trim().len() >= 8) {
        shown = shown.replace(secret, "<redacted>");
        let held = nexus_sdk::CachedToken::bearer(*secret, std::time::SystemTime::now());
        if held.echoed_in(&shown) {
            return "<withheld: it held a secret of this server's>".to_owned();
        }
    }
    shown
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

    fn people(claim: &str) -> People {
        let (issuer, claim) = (ISSUER.to_owned(), claim.to_owned());
        People { issuer, claim }
    }

    #[test]
    fn a_subject_identifier_names_the_person_the_log_does_or_says_why_not() {
        let alice = crate::principal::person(ISSUER, "alice");
        let by_sub = people("sub");
        let iss_sub = json!({"format": "iss_sub", "iss": ISSUER, "sub": "alice"});
        assert_eq!(by_sub.person(&iss_sub), Ok(alice.clone()));
        let mail = crate::principal::person(ISSUER, "alice@example.com");
        let email = json!({"format": "email", "email": "alice@example.com"});
        assert_eq!(people("email").person(&email), Ok(mail));
        let aliases = json!({"format": "aliases", "identifiers": [
            {"format": "email", "email": "alice@example.com"}, iss_sub]});
        assert_eq!(by_sub.person(&aliases), Ok(alice));
        for stranger in [
            json!({"format": "iss_sub", "iss": "https://login.example", "sub": "alice"}),
            json!({"format": "iss_sub", "iss": "HTTPS://LOGIN.EXAMPLE/", "sub": "alice"}),
        ] {
            let named = by_sub.person(&stranger);
            assert!(matches!(named, Err(Unnamed::Stranger(_))), "{stranger}");
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
            let named = by_sub.person(&unreadable);
            assert!(matches!(named, Err(Unnamed::Unreadable(_))), "{unreadable}");
        }
        let named = people("upn").person(&iss_sub);
        assert!(matches!(named, Err(Unnamed::Unreadable(_))));
    }

    #[test]
    fn a_secret_is_never_written_in_any_form_a_peer_may_echo_it() {
        let secret = "okta-api-token-0123456789";
        assert_eq!(
            withheld(
                &format!("denied: Bearer {secret} is unknown"),
                &[secret, ""]
            ),
            "denied: Bearer <redacted> is unknown"
        );
        let hex: String = secret.bytes().map(|b| format!("{b:02x}")).collect();
        use base64::Engine as _;
        let base64 = base64::engine::general_purpose::STANDARD.encode(secret);
        for encoded in [hex, base64, secret.replace('-', "%2D")] {
            let shown = withheld(&format!("echo: {encoded}"), &[secret]);
            assert!(shown.starts_with("<withheld"), "{encoded}: {shown}");
        }
        assert_eq!(
            withheld("no secret here", &[secret, "short"]),
            "no secret here"
        );
    }

    #[test]
    fn an_address_in_any_case_names_one_person_and_aliases_of_two_are_refused() {
        let by_mail = people("email");
        let signed_in = by_mail.named("Alice@Acme.Example");
        for written in [
            "alice@acme.example",
            "Alice@ACME.EXAMPLE",
            "ALICE@acme.example",
        ] {
            let email = json!({"format": "email", "email": written});
            assert_eq!(
                by_mail.person(&email),
                Ok(signed_in.folded.clone()),
                "{written}"
            );
        }
        let two = json!({"format": "aliases", "identifiers": [
            {"format": "email", "email": "alice@acme.example"},
            {"format": "email", "email": "bob@acme.example"}]});
        let named = by_mail.person(&two);
        assert!(matches!(named, Err(Unnamed::Unreadable(ref why)) if why.contains("two")));
        // One person twice, and an identifier read elsewhere beside them.
        let one = json!({"format": "aliases", "identifiers": [
            {"format": "email", "email": "alice@acme.example"},
            {"format": "iss_sub", "iss": ISSUER, "sub": "00u1"},
            {"format": "email", "email": "ALICE@acme.example"}]});
        assert_eq!(by_mail.person(&one), Ok(signed_in.folded));
    }
}
