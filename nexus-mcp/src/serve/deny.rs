//! `serve --deny-file PATH`: people refused (403) before a token's
//! person reaches a tool, for an operator who must act before a token
//! expires. One person a line: the `who=` the operator's log shows (the
//! first 12 hex digits of the person), or `ISSUER SUBJECT`; blank lines and
//! `#` comments are skipped. Read at start and again at SIGHUP.

use std::sync::RwLock;

use crate::principal::person;

/// The people a deny file names.
#[derive(Default)]
struct Denied {
    /// `who=` values (a prefix of a person's hash).
    who: Vec<String>,
    /// Whole person hashes, from `ISSUER SUBJECT` lines.
    people: Vec<String>,
}

/// The deny list, as last read from its file.
pub(crate) struct DenyList {
    path: Option<String>,
    held: RwLock<Denied>,
}

impl DenyList {
    /// The list `path` holds (none without a path).
    ///
    /// A line that is neither a `who=` value nor `ISSUER SUBJECT`, or a
    /// file that cannot be read, is refused naming it.
    pub(crate) fn read(path: Option<String>) -> Result<DenyList, String> {
        let held = match &path {
            Some(path) => parse(path, &read_file(path)?)?,
            None => Denied::default(),
        };
        let held = RwLock::new(held);
        Ok(DenyList { path, held })
    }

    /// Reads the file again (SIGHUP): how many people it names, or why it
    /// could not be read (the list held stays).
    pub(crate) fn reload(&self) -> Option<Result<usize, String>> {
        let path = self.path.as_ref()?;
        let read = read_file(path).and_then(|text| parse(path, &text));
        Some(read.map(|denied| {
            let count = denied.who.len() + denied.people.len();
            if let Ok(mut held) = self.held.write() {
                *held = denied;
            }
            count
        }))
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

/// The people `text` names, or the first line that names none.
fn parse(path: &str, text: &str) -> Result<Denied, String> {
    let mut denied = Denied::default();
    for (at, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let who = line.strip_prefix("who=").unwrap_or(line);
        let hex = who.len() >= 12
            && who
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        match line.split_once(char::is_whitespace) {
            _ if hex => denied.who.push(who.to_owned()),
            Some((issuer, subject)) if !subject.trim().is_empty() => {
                denied.people.push(person(issuer, subject.trim()));
            }
            _ => {
                return Err(format!(
                    "--deny-file {path}, line {}: a person is the `who=` the log shows (12 hex \
                     digits) or `ISSUER SUBJECT`",
                    at + 1
                ));
            }
        }
    }
    Ok(denied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deny_file_names_people_by_who_or_by_issuer_and_subject() {
        let alice = person("https://issuer.example", "alice");
        let text = format!(
            "# denied\n\nwho={}\nhttps://issuer.example bob\n",
            &alice[..12]
        );
        let denied = parse("f", &text).unwrap();
        assert_eq!(denied.who, [alice[..12].to_owned()]);
        assert_eq!(denied.people, [person("https://issuer.example", "bob")]);
        let refused = parse("f", "just-a-name\n").err().unwrap();
        assert!(refused.contains("line 1"), "{refused}");
    }
}
