//! What is revoked (RFC 7009's `/revoke`, `serve revoke --person`, the
//! provider's signals), as each replica holds it: a sign-in's family
//! (every refresh and access token it gave), a person (everything issued
//! to them before then), a client, or a person the provider's
//! provisioning holds out. The store keeps the list every replica shares;
//! each replica reads it every second into this view
//! ([`crate::serve::store`]), so that a call asks memory, never the store.
//! Pure but for its lock.
//!
//! Revocations compose: each source states a fact of its own, and a
//! person is out while any fact holds. A time (the operator's, reuse
//! detection's, Global Token Revocation's, a SET's) only moves later, so
//! no revocation shortens another; the provisioning's hold is a fact of
//! its own ([`Revoked::Deprovisioned`]), which only the provisioning lifts,
//! and which no other revocation replaces.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// What a revocation names.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Revoked {
    /// A sign-in's family of tokens, by its id.
    Family(String),
    /// A person, by the hash the log prints (`who=`, 12 hex digits).
    Person(String),
    /// A client, by its mark as `--deny-file`'s `client=` and the log's
    /// `client=` and `oauth_client=` name it (12 hex digits).
    Client(String),
    /// A person the provider's provisioning (SCIM) holds out, by their
    /// hash: at [`STANDING`] while it does, every grant refused; once it
    /// reactivates them, the time it did (what was granted before stays
    /// refused).
    Deprovisioned(String),
    /// One agent's session for one person (#127): the person's hash and
    /// the client's mark (12 hex digits each); the person's other agents,
    /// and the agent's other people, stay.
    Session(String, String),
}

/// When a hold of the provisioning is dated: never before any grant, so
/// that everything granted to the person is refused until it is lifted.
/// 2⁵³ milliseconds, a score Redis keeps exactly.
pub(crate) const STANDING: u64 = 1 << 53;

/// A grant refused while this replica has not read its store's list of
/// revocations (a store that refused its password, or does not answer).
const UNREAD_SAID: &str = "this server has not yet read the revocations its store holds (the \
                           store does not answer it): nothing is granted until it has; try again \
                           shortly";

/// How many hex digits of a person's hash name them, as the log does.
pub(crate) const PERSON_DIGITS: usize = 12;

/// The claims a provider names a person by that hold an e-mail address.
pub(crate) const MAIL_CLAIMS: [&str; 4] = ["email", "upn", "preferred_username", "unique_name"];

/// Whether the people a claim names are the same person whatever the case
/// of its value: an e-mail address (its domain by RFC 5321 §2.4, the whole
/// address at Okta and Entra) and Entra's object id (a GUID). Folding errs
/// only towards revoking: two addresses in different cases are one person
/// to a revocation.
pub(crate) fn folds(claim: &str) -> bool {
    MAIL_CLAIMS.contains(&claim) || claim == "oid"
}

/// A person as the list may name them: the hash of their subject as their
/// token carries it (the log's `who=`), and, where their claim
/// [`folds`], the hash of its lowercase form, which the provider's
/// signals name them by.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Named {
    /// SHA-256 of the issuer and the subject as given, in hex.
    pub(crate) exact: String,
    /// The same of the subject folded (the exact one where it does not fold).
    pub(crate) folded: String,
}

impl Named {
    /// The person `subject` of `issuer`, named by `claim`.
    pub(crate) fn of(issuer: &str, claim: &str, subject: &str) -> Named {
        let exact = crate::principal::person(issuer, subject);
        let folded = match folds(claim) && subject.chars().any(char::is_uppercase) {
            true => crate::principal::person(issuer, &subject.to_lowercase()),
            false => exact.clone(),
        };
        Named { exact, folded }
    }

    /// Each fact of `make` about the person, by each of their hashes.
    fn facts(&self, make: fn(String) -> Revoked) -> Vec<Revoked> {
        let mut digits = vec![&self.exact[..PERSON_DIGITS]];
        if self.folded != self.exact {
            digits.push(&self.folded[..PERSON_DIGITS]);
        }
        digits.into_iter().map(|d| make(d.to_owned())).collect()
    }

    /// Every word of the list that holds the person out: their own
    /// revocation and the provisioning's hold, by each hash.
    pub(crate) fn members(&self) -> Vec<String> {
        let all = [
            self.facts(Revoked::Person),
            self.facts(Revoked::Deprovisioned),
        ];
        all.iter().flatten().map(Revoked::member).collect()
    }
}

impl Revoked {
    /// The person `hash` names (the log's `who=`, or the whole hash),
    /// or `None` when it is no such hash.
    pub(crate) fn person(hash: &str) -> Option<Revoked> {
        let hex = hash.len() >= PERSON_DIGITS && hash.bytes().all(|b| b.is_ascii_hexdigit());
        hex.then(|| Revoked::Person(hash[..PERSON_DIGITS].to_ascii_lowercase()))
    }

    /// The client `mark` names (12 hex digits or more of its id's SHA-256),
    /// or `None` when it is no such mark.
    pub(crate) fn client(mark: &str) -> Option<Revoked> {
        match Revoked::person(mark)? {
            Revoked::Person(digits) => Some(Revoked::Client(digits)),
            _ => None,
        }
    }

    /// The list's word for it.
    pub(crate) fn member(&self) -> String {
        match self {
            Revoked::Family(id) => format!("family:{id}"),
            Revoked::Person(who) => format!("person:{who}"),
            Revoked::Client(mark) => format!("client:{mark}"),
            Revoked::Deprovisioned(who) => format!("scim:{who}"),
            Revoked::Session(who, mark) => format!("session:{who}:{mark}"),
        }
    }

    /// The list's word for it revoked as of `as_of` (a signal's own time),
    /// apart from the time it is written at (its score, which replicas
    /// read the list from): `person:…@MILLISECONDS`.
    pub(crate) fn member_as_of(&self, as_of: u64) -> String {
        format!("{}@{as_of}", self.member())
    }

    /// What the list's word `member` names, if it is one, and as of when,
    /// read with the time `at` it was written: as of `at`, or of the time
    /// its word names after `@` where that is before.
    pub(crate) fn read_as_of(member: &str, at: u64) -> Option<(Revoked, u64)> {
        let stated = member
            .rsplit_once('@')
            .and_then(|(word, as_of)| Some((word, as_of.parse::<u64>().ok()?)));
        match stated {
            Some((word, as_of)) => Some((Revoked::read(word, at)?, as_of.min(at))),
            None => Some((Revoked::read(member, at)?, at)),
        }
    }

    /// What the list's word `member` names, if it is one, read with its
    /// time `at`: a person at [`STANDING`] is the provisioning's hold, as
    /// 0.14 wrote it.
    pub(crate) fn read(member: &str, at: u64) -> Option<Revoked> {
        let held = |who: &str| match Revoked::person(who)? {
            Revoked::Person(who) => Some(Revoked::Deprovisioned(who)),
            _ => None,
        };
        match member.split_once(':')? {
            ("family", id) if !id.is_empty() => Some(Revoked::Family(id.to_owned())),
            ("person", who) if at >= STANDING => held(who),
            ("person", who) => Revoked::person(who),
            ("client", mark) => Revoked::client(mark),
            ("scim", who) => held(who),
            ("session", pair) => {
                let (who, mark) = pair.split_once(':')?;
                match (Revoked::person(who)?, Revoked::client(mark)?) {
                    (Revoked::Person(who), Revoked::Client(mark)) => {
                        Some(Revoked::Session(who, mark))
                    }
                    _ => None,
                }
            }
            _ => None,
        }
    }
}

/// A replica's view of the list: each revocation and when it was made
/// (milliseconds since the Unix epoch), whether it is yet to be read (a
/// shared store's, until its first read: nothing revoked is known, so
/// everything is refused), and how many times the view changed.
#[derive(Default)]
pub(crate) struct Revocations {
    held: Mutex<HashMap<Revoked, u64>>,
    unread: AtomicBool,
    changes: AtomicU64,
    /// Before when nothing granted is taken on trust (0: none): the store
    /// began with nobody to give back its list.
    floor: AtomicU64,
}

impl Revocations {
    /// Whether a token issued at `issued` to the person `who` in `family`
    /// is revoked: its family is, any fact about the person by either of
    /// their hashes dates at or after `issued` (a hold of the provisioning,
    /// all), or the list is yet to be read.
    pub(crate) fn refuses(&self, who: &Named, family: Option<&str>, issued: u64) -> bool {
        if self.unread.load(Ordering::Relaxed) {
            return true;
        }
        let held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        if held.is_empty() {
            return false;
        }
        let family = family.map(|id| Revoked::Family(id.to_owned()));
        let family_revoked = family.is_some_and(|f| held.contains_key(&f));
        let since = |fact: &Revoked| held.get(fact).is_some_and(|at| *at >= issued);
        let facts = [
            who.facts(Revoked::Person),
            who.facts(Revoked::Deprovisioned),
        ];
        family_revoked || facts.iter().flatten().any(since)
    }

    /// Whether a token granted at `issued` to the client whose mark is
    /// `mark`, for the person `who`, is revoked: the client was at or after
    /// it, or that agent's session for that person was (or the list is yet
    /// to be read).
    pub(crate) fn refuses_client(&self, who: &Named, mark: &str, issued: u64) -> bool {
        if self.unread.load(Ordering::Relaxed) {
            return true;
        }
        let Some(Revoked::Client(mark)) = Revoked::client(mark) else {
            return false;
        };
        let held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        let session = |person: Revoked| match person {
            Revoked::Person(who) => Revoked::Session(who, mark.clone()),
            other => other,
        };
        let facts = std::iter::once(Revoked::Client(mark.clone()))
            .chain(who.facts(Revoked::Person).into_iter().map(session));
        facts
            .filter_map(|fact| held.get(&fact))
            .any(|at| *at >= issued)
    }

    /// `what`, revoked at `at`, held here at once: the later of two times,
    /// but for the provisioning's hold, which is as it says (it lifts it).
    pub(crate) fn add(&self, what: Revoked, at: u64) {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        let at = match (&what, held.get(&what)) {
            (Revoked::Deprovisioned(_), _) | (_, None) => at,
            (_, Some(before)) => at.max(*before),
        };
        if held.insert(what, at) != Some(at) {
            self.changes.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The store's floor read (`floor`: nothing granted before it is taken
    /// on trust), counted as a change when it moves; the floor held before.
    pub(crate) fn floor(&self, floor: u64) -> u64 {
        let before = self.floor.swap(floor, Ordering::Relaxed);
        if before != floor {
            self.changes.fetch_add(1, Ordering::Relaxed);
        }
        before
    }

    /// Whether a token this server issued at `issued` is not taken on
    /// trust: issued before the store began with nobody to give back its
    /// list, its grant's revocation may be in what was lost. (What is
    /// issued after was checked against the list the store holds now.)
    pub(crate) fn untrusted(&self, issued: u64) -> bool {
        issued < self.floor.load(Ordering::Relaxed)
    }

    /// The floor held (0: none).
    pub(crate) fn floor_held(&self) -> u64 {
        self.floor.load(Ordering::Relaxed)
    }

    /// Whether the provisioning holds `who` (their [`Revoked::person`]) out.
    pub(crate) fn held_out(&self, who: &str) -> bool {
        let Some(Revoked::Person(who)) = Revoked::person(who) else {
            return false;
        };
        let held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        held.get(&Revoked::Deprovisioned(who)) == Some(&STANDING)
    }

    /// A view of a shared store's list, yet to be read.
    pub(crate) fn unread() -> Revocations {
        let view = Revocations::default();
        view.unread.store(true, Ordering::Relaxed);
        view
    }

    /// Whether the list has been read (or there is none to read).
    pub(crate) fn read(&self) -> bool {
        !self.unread.load(Ordering::Relaxed)
    }

    /// Why a grant is refused while the list is yet to be read, said as
    /// such: not a revocation, a store this replica has not read (the
    /// replica's log says why it does not answer). `None` once read.
    pub(crate) fn unread_said(&self) -> Option<&'static str> {
        (!self.read()).then_some(UNREAD_SAID)
    }

    /// Every revocation held, by the list's word, and when it was made: what
    /// a replica writes back to a store that lost them.
    pub(crate) fn held(&self) -> Vec<(String, u64)> {
        let held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        held.iter().map(|(what, at)| (what.member(), *at)).collect()
    }

    /// The list `read` (its words and times) taken in, each word no
    /// revocation skipped, and every revocation made before `since`
    /// forgotten (the list forgets them too): what this replica revoked
    /// a moment ago stays, whatever a read begun before then says.
    pub(crate) fn took(&self, read: impl IntoIterator<Item = (String, u64)>, since: u64) {
        let read = (read.into_iter()).filter_map(|(member, at)| Revoked::read_as_of(&member, at));
        for (what, at) in read.filter(|(_, at)| *at >= since) {
            self.add(what, at);
        }
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        held.retain(|_, at| *at >= since);
        if self.unread.swap(false, Ordering::Relaxed) {
            self.changes.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// How many times the view has changed: a token remembered as good
    /// before a change is checked again.
    pub(crate) fn changes(&self) -> u64 {
        self.changes.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WHO: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    /// The person whose hash is `hash`, their subject as it folds.
    fn named(hash: &str) -> Named {
        let (exact, folded) = (hash.to_owned(), hash.to_owned());
        Named { exact, folded }
    }

    #[test]
    fn a_signal_is_held_as_of_its_own_time_and_written_at_another() {
        let person = Revoked::person(WHO).unwrap();
        let member = person.member_as_of(1_000);
        assert_eq!(
            Revoked::read_as_of(&member, 5_000),
            Some((person.clone(), 1_000))
        );
        // Never later than it was written; a plain word as of its writing.
        assert_eq!(
            Revoked::read_as_of(&member, 500),
            Some((person.clone(), 500))
        );
        assert_eq!(
            Revoked::read_as_of(&person.member(), 7),
            Some((person.clone(), 7))
        );
        assert_eq!(Revoked::read_as_of("person:x@12", 40), None);
        let view = Revocations::default();
        view.took([(member, 5_000)], 0);
        assert!(
            view.refuses(&named(WHO), None, 1_000),
            "granted before: refused"
        );
        assert!(
            !view.refuses(&named(WHO), None, 1_001),
            "granted after: kept"
        );
    }

    #[test]
    fn a_person_named_by_an_address_is_one_person_whatever_its_case() {
        let issuer = "https://login.example/";
        let view = Revocations::default();
        let signed_in = Named::of(issuer, "email", "Alice@Acme.Example");
        let signalled = Named::of(issuer, "email", "alice@acme.example");
        assert_ne!(
            signed_in.exact, signalled.exact,
            "the log's who= is as given"
        );
        assert_eq!(signed_in.folded, signalled.exact);
        view.add(Revoked::person(&signalled.folded).unwrap(), 500);
        assert!(view.refuses(&signed_in, None, 500));
        // The log's who= of the person as given revokes them too.
        let view = Revocations::default();
        view.add(Revoked::person(&signed_in.exact).unwrap(), 500);
        assert!(view.refuses(&signed_in, None, 500));
        // An id compared exactly is not folded.
        let by_sub = Named::of(issuer, "sub", "Alice");
        assert_eq!(by_sub.exact, by_sub.folded);
        assert_eq!(by_sub.members().len(), 2, "its own word and the hold's");
        assert_eq!(signed_in.members().len(), 4);
        assert!(folds("oid") && folds("upn") && !folds("sub") && !folds("uid"));
    }

    #[test]
    fn a_family_revokes_its_tokens_and_a_person_what_was_issued_before() {
        let view = Revocations::default();
        assert!(!view.refuses(&named(WHO), Some("f1"), 100));
        view.add(Revoked::Family("f1".into()), 150);
        assert!(
            view.refuses(&named(WHO), Some("f1"), 200),
            "a family whenever issued"
        );
        assert!(!view.refuses(&named(WHO), Some("f2"), 100));
        assert!(!view.refuses(&named(WHO), None, 100));
        view.add(Revoked::person(&WHO[..12]).unwrap(), 300);
        assert!(view.refuses(&named(WHO), Some("f2"), 300));
        assert!(
            view.refuses(&named(WHO), None, 0),
            "a token from before its issue time"
        );
        assert!(
            !view.refuses(&named(WHO), Some("f2"), 301),
            "signed in again after"
        );
        let other = "fedcba9876543210";
        assert!(!view.refuses(&named(other), Some("f2"), 100));
    }

    #[test]
    fn the_provisionings_hold_and_every_other_revocation_compose_in_either_order() {
        let who = &WHO[..PERSON_DIGITS];
        let held = Revoked::Deprovisioned(who.to_owned());
        let timed = Revoked::person(WHO).unwrap();
        // Held out, then revoked by another source: still held out.
        let view = Revocations::default();
        view.add(held.clone(), STANDING);
        view.add(timed.clone(), 500);
        assert!(view.held_out(WHO) && view.refuses(&named(WHO), None, STANDING - 1));
        // Lifted by the provisioning alone: what either refused before stays refused.
        view.add(held.clone(), 400);
        assert!(!view.held_out(WHO));
        assert!(view.refuses(&named(WHO), None, 500) && !view.refuses(&named(WHO), None, 501));
        // Revoked first, then held out, then lifted before the revocation's time.
        let view = Revocations::default();
        view.add(timed.clone(), 900);
        view.add(held.clone(), STANDING);
        view.add(held, 600);
        assert!(
            view.refuses(&named(WHO), None, 900),
            "the later revocation still stands"
        );
        assert!(!view.refuses(&named(WHO), None, 901));
        // A time never moves back.
        view.add(timed, 300);
        assert!(view.refuses(&named(WHO), None, 900));
        // 0.14 wrote the hold as the person's own word at STANDING.
        let member = format!("person:{who}");
        let read = Revoked::read(&member, STANDING);
        assert_eq!(read, Some(Revoked::Deprovisioned(who.to_owned())));
        assert_eq!(Revoked::read(&member, 5), Revoked::person(who));
    }

    #[test]
    fn a_client_revoked_refuses_what_it_was_granted_before_and_no_person() {
        let view = Revocations::default();
        let alice = named(WHO);
        view.add(Revoked::client(WHO).unwrap(), 300);
        assert!(view.refuses_client(&alice, WHO, 300) && !view.refuses_client(&alice, WHO, 301));
        assert!(
            !view.refuses_client(&alice, "fedcba987654", 0),
            "another client"
        );
        assert!(!view.refuses(&alice, None, 0), "a client is no person");
        assert!(Revoked::client("client").is_none());
        // One agent's session for one person: that pair alone.
        let (agent, bob) = ("abcdefabcdef", named(&"b".repeat(64)));
        let session = Revoked::Session(WHO[..12].to_owned(), agent.to_owned());
        assert_eq!(Revoked::read(&session.member(), 400), Some(session.clone()));
        view.add(session, 400);
        assert!(view.refuses_client(&alice, agent, 400));
        assert!(
            !view.refuses_client(&bob, agent, 0),
            "the agent's other person"
        );
        assert!(
            !view.refuses_client(&alice, "fedcba987654", 0),
            "her other agent"
        );
        assert!(!view.refuses(&alice, None, 0), "a session is no person");
    }

    #[test]
    fn a_list_yet_to_be_read_refuses_everything_and_what_is_held_is_told() {
        let view = Revocations::unread();
        assert!(!view.read() && view.refuses(&named(WHO), None, u64::MAX));
        let changes = view.changes();
        view.took(vec![("family:f1".to_owned(), 5)], 0);
        assert!(view.read() && !view.refuses(&named(WHO), None, 0));
        assert!(view.changes() > changes);
        assert_eq!(view.held(), vec![("family:f1".to_owned(), 5)]);
        assert!(Revocations::default().read(), "no store: nothing to read");
    }

    #[test]
    fn the_lists_words_read_back_and_a_change_is_counted_once() {
        for what in [
            Revoked::Family("a-b_c".into()),
            Revoked::person(WHO).unwrap(),
            Revoked::client(WHO).unwrap(),
            Revoked::Deprovisioned(WHO[..PERSON_DIGITS].to_owned()),
        ] {
            assert_eq!(Revoked::read(&what.member(), 5), Some(what));
        }
        for word in [
            "family:",
            "person:123",
            "person:zzzzzzzzzzzz",
            "token:x",
            "scim:x",
            "x",
        ] {
            assert_eq!(Revoked::read(word, 5), None, "{word}");
        }
        assert_eq!(
            Revoked::person("ABCDEF123456"),
            Revoked::person("abcdef123456")
        );
        let view = Revocations::default();
        let list = || vec![("family:f1".to_owned(), 5), ("nonsense".to_owned(), 6)];
        view.took(list(), 0);
        view.took(list(), 0);
        assert_eq!(view.changes(), 1);
        assert!(view.refuses(&named(WHO), Some("f1"), 9));
        // One revoked here a moment ago stays, whatever an older read says.
        view.add(Revoked::Family("f2".into()), 7);
        view.took(Vec::new(), 0);
        assert!(
            view.refuses(&named(WHO), Some("f1"), 9) && view.refuses(&named(WHO), Some("f2"), 9)
        );
        assert_eq!(view.changes(), 2);
        // Forgotten once older than the longest life of what it revoked.
        view.took(Vec::new(), 6);
        assert!(
            !view.refuses(&named(WHO), Some("f1"), 9) && view.refuses(&named(WHO), Some("f2"), 9)
        );
    }
}
