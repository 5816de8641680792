//! `serve --deny-file PATH`: people refused (403) before a token's
//! person reaches a tool, for an operator who must act before a token
//! expires. One person a line: the `who=` the operator's log shows (the
//! first 12 hex digits of the person, or more), or `ISSUER SUBJECT` with
//! the issuer exactly `--issuer`; blank lines and lines starting with `#`
//! are skipped. A client of `--oauth-proxy` is withdrawn by a line
//! `client=` and the first 12 hex digits of its mark, or more (as `serve
//! client add` and the log show it). Read at start and again at SIGHUP.
//!
//! A line that could deny nobody is never counted: another issuer (a
//! trailing slash, Entra's v1 issuer) names no person this server sees, and
//! a word after the person (`SUBJECT # a note`) would be read as a pair.
//! At start such a line is refused; at SIGHUP it is skipped with a warning,
//! and the file's other lines hold.

use std::sync::RwLock;

use crate::principal::person;

/// The people a deny file names.
#[derive(Default)]
struct Denied {
    /// `who=` values (a prefix of a person's hash).
    who: Vec<String>,
    /// Whole person hashes, from `ISSUER SUBJECT` lines.
    people: Vec<String>,
    /// Clients withdrawn: a prefix of their mark.
    clients: Vec<String>,
}

/// The deny list, as last read from its file.
pub(crate) struct DenyList {
    path: Option<String>,
    /// `--issuer`, which an `ISSUER SUBJECT` line must name.
    issuer: String,
    held: RwLock<Denied>,
}

impl DenyList {
    /// The list `path` holds (none without a path), its `ISSUER SUBJECT`
    /// lines naming `issuer`.
    ///
    /// A file that cannot be read, or any line that names no person of
    /// `issuer`, is refused naming the file and the lines.
    pub(crate) fn read(path: Option<String>, issuer: &str) -> Result<DenyList, String> {
        let held = match &path {
            Some(path) => match parse(path, &read_file(path)?, issuer) {
                (denied, bad) if bad.is_empty() => denied,
                (_, bad) => return Err(bad.join("; ")),
            },
            None => Denied::default(),
        };
        let (held, issuer) = (RwLock::new(held), issuer.to_owned());
        Ok(DenyList { path, issuer, held })
    }

    /// Reads the file again (SIGHUP): how many people it names, and the
    /// lines skipped (each said); or why it could not be read (the list
    /// held stays).
    pub(crate) fn reload(&self) -> Option<Result<(usize, Vec<String>), String>> {
        let path = self.path.as_ref()?;
        let read = read_file(path).map(|text| parse(path, &text, &self.issuer));
        Some(read.map(|(denied, bad)| {
            let count = denied.who.len() + denied.people.len() + denied.clients.len();
            if let Ok(mut held) = self.held.write() {
                *held = denied;
            }
            (count, bad)
        }))
    }

    /// Whether the client whose mark is `client` is withdrawn.
    pub(crate) fn withdraws(&self, client: &str) -> bool {
        let Ok(held) = self.held.read() else {
            return true;
        };
        held.clients.iter().any(|c| client.starts_with(c.as_str()))
    }

    /// Whether the list names any person (else no call's person hash is
    /// written to be looked for).
    pub(crate) fn names_people(&self) -> bool {
        let Ok(held) = self.held.read() else {
            return true;
        };
        !held.people.is_empty() || !held.who.is_empty()
    }

    /// Whether `person` (a whole person hash) is denied.
    pub(crate) fn denies(&self, person: &str) -> bool {
        let Ok(held) = self.held.read() else {
            return true;
        };
        held.people.iter().any(|p| p == person)
            || held.who.iter().any(|w| person.starts_with(w.as_str()))
    }
}

fn read_file(path: &str) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("--deny-file {path}: {e}"))
}

/// The people `text` names, and why each line that names none of
/// `issuer`'s people does not.
fn parse(path: &str, text: &str, issuer: &str) -> (Denied, Vec<String>) {
    let mut denied = Denied::default();
    let mut bad = Vec::new();
    for (at, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match person_of(line, issuer) {
            Ok(Named::Who(who)) => denied.who.push(who.to_owned()),
            Ok(Named::Person(hash)) => denied.people.push(hash),
            Ok(Named::Client(mark)) => denied.clients.push(mark.to_owned()),
            Err(why) => bad.push(format!("--deny-file {path}, line {}: {why}", at + 1)),
        }
    }
    (denied, bad)
}

/// Whom one line names.
enum Named<'a> {
    /// A `who=` value.
    Who(&'a str),
    /// A whole person hash.
    Person(String),
    /// A client's mark, or its first digits.
    Client(&'a str),
}

/// Whom `line` (trimmed, not blank, no comment) names, or why it names no
/// one `issuer` vouches for.
fn person_of<'a>(line: &'a str, issuer: &str) -> Result<Named<'a>, String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    match words[..] {
        [one] => {
            let hex = |text: &str| {
                text.len() >= 12
                    && (text.bytes()).all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            };
            if let Some(client) = one.strip_prefix("client=") {
                return match hex(client) {
                    true => Ok(Named::Client(client)),
                    false => Err("a client is `client=` and 12 hex digits or more".to_owned()),
                };
            }
            let who = one.strip_prefix("who=").unwrap_or(one);
            if hex(who) {
                return Ok(Named::Who(who));
            }
            Err(
                "a person is the `who=` the log shows (12 hex digits or more) or \
                 `ISSUER SUBJECT`"
                    .to_owned(),
            )
        }
        [named, _] if named != issuer => Err(format!(
            "the issuer {:?} is not --issuer {issuer:?}, byte for byte, so the line would deny \
             nobody",
            crate::answer::quoted(named, 256)
        )),
        [_, subject] => Ok(Named::Person(person(issuer, subject))),
        _ => Err(format!(
            "{} words where a person is one (`who=…`) or two (`ISSUER SUBJECT`); a note goes \
             on a line of its own, starting with #",
            words.len()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deny_file_names_people_by_who_or_by_issuer_and_subject() {
        let issuer = "https://issuer.example";
        let alice = person(issuer, "alice");
        let text = format!(
            "# denied\n\nwho={}\n{issuer} bob\nclient=0123456789abcd\n",
            &alice[..12]
        );
        let (denied, bad) = parse("f", &text, issuer);
        assert!(bad.is_empty(), "{bad:?}");
        assert_eq!(denied.who, [alice[..12].to_owned()]);
        assert_eq!(denied.people, [person(issuer, "bob")]);
        assert_eq!(denied.clients, ["0123456789abcd"]);
        let (_, bad) = parse("f", "client=0123\n", issuer);
        assert!(bad[0].contains("client="), "{bad:?}");
        let (_, bad) = parse("f", "just-a-name\n", issuer);
        assert!(bad[0].contains("line 1"), "{bad:?}");
    }

    #[test]
    fn a_line_that_would_deny_nobody_is_named_and_never_counted() {
        let issuer = "https://login.example/tenant/v2.0";
        for line in [
            "https://login.example/tenant/v2.0/ bob",
            "https://sts.example/tenant/ bob",
            "HTTPS://login.example/tenant/v2.0 bob",
            "bob # the intern",
            "https://login.example/tenant/v2.0 bob # left in May",
            "who=0123456789ab # bob",
            "who=0123456789ab bob",
        ] {
            let (denied, bad) = parse("f", &format!("# a\n{line}\n"), issuer);
            assert_eq!(denied.who.len() + denied.people.len(), 0, "{line}");
            assert!(
                bad.len() == 1 && bad[0].contains("line 2"),
                "{line}: {bad:?}"
            );
        }
    }
}
