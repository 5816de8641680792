//! `serve`'s next step for the operator when a person's call meets a
//! provider they have not connected (`connection_not_found`): the command
//! that connects them, with this server's flags, said once per person an
//! hour. The log never names a workspace or a subject, so the command
//! leaves the person's claim for the operator to fill in, and
//! `nexus-mcp workspace` prints the `who=` to match against the line.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often one person's command is said at most.
const EVERY: Duration = Duration::from_secs(3600);

/// The most people remembered at once; past it, those said over an hour
/// ago go first, then all.
const REMEMBERED: usize = 10_000;

/// How this server's people are connected ahead, and to whom it was said.
pub(crate) struct ConnectHint {
    /// `serve --issuer`.
    issuer: String,
    /// `serve --subject-claim`.
    subject_claim: String,
    /// `serve --workspace-prefix` ("" without).
    prefix: String,
    /// `serve --workspace-claim`, if any.
    workspace_claim: Option<String>,
    /// When each person (their `who=`) was last told of.
    said: Mutex<HashMap<String, Instant>>,
}

impl ConnectHint {
    /// The hint of a server with these flags.
    pub(crate) fn new(
        issuer: &str,
        subject_claim: &str,
        prefix: &str,
        workspace_claim: Option<&str>,
    ) -> ConnectHint {
        ConnectHint {
            issuer: issuer.to_owned(),
            subject_claim: subject_claim.to_owned(),
            prefix: prefix.to_owned(),
            workspace_claim: workspace_claim.map(str::to_owned),
            said: Mutex::default(),
        }
    }

    /// Says, unless it was said for `who` within the hour, the command that
    /// connects `who`'s `provider` (for their `account`, if named).
    pub(crate) fn tell(&self, who: &str, provider: &str, account: Option<&str>) {
        if !self.first_in_the_hour(who, Instant::now()) {
            return;
        }
        let line = self.command(provider, account);
        log::info!(target: "nexus_mcp", "who={who} has no {provider:?} connection; to connect it ahead: {line}");
    }

    /// Whether `who` was not told of in the hour before `now` (and is, now).
    fn first_in_the_hour(&self, who: &str, now: Instant) -> bool {
        let Ok(mut said) = self.said.lock() else {
            return false;
        };
        if said.len() >= REMEMBERED && !said.contains_key(who) {
            said.retain(|_, at| now.duration_since(*at) < EVERY);
            if said.len() >= REMEMBERED {
                said.clear();
            }
        }
        match said.get(who) {
            Some(at) if now.duration_since(*at) < EVERY => false,
            _ => {
                said.insert(who.to_owned(), now);
                true
            }
        }
    }

    /// The shell command that connects `provider` for the person whose
    /// claim the operator fills in, with this server's flags.
    fn command(&self, provider: &str, account: Option<&str>) -> String {
        let suffix = account.map(|label| format!(":{label}")).unwrap_or_default();
        let provider = quoted(provider);
        match &self.workspace_claim {
            Some(claim) => format!(
                "nexus connect {} {provider} (WORKSPACE: their token's `{claim}` claim)",
                quoted(&format!("{}WORKSPACE{suffix}", self.prefix))
            ),
            None => {
                let mut workspace =
                    format!("nexus-mcp workspace --issuer {}", quoted(&self.issuer));
                if !self.prefix.is_empty() {
                    workspace += &format!(" --workspace-prefix {}", quoted(&self.prefix));
                }
                format!(
                    "ws=\"$({workspace} --subject SUBJECT)\" && nexus connect \"$ws{suffix}\" \
                     {provider} (SUBJECT: their `{}` claim; `nexus-mcp workspace` prints the \
                     who= to match)",
                    self.subject_claim
                )
            }
        }
    }
}

/// `text` as one shell word: single-quoted unless it is plain.
fn quoted(text: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./:@=+,".contains(c);
    if !text.is_empty() && text.chars().all(plain) {
        return text.to_owned();
    }
    format!("'{}'", text.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_person_is_told_of_once_an_hour_and_the_memory_is_bounded() {
        let hint = ConnectHint::new("https://i.example", "sub", "", None);
        let now = Instant::now();
        assert!(hint.first_in_the_hour("abc", now));
        assert!(!hint.first_in_the_hour("abc", now + Duration::from_secs(3599)));
        assert!(hint.first_in_the_hour("def", now));
        assert!(hint.first_in_the_hour("abc", now + EVERY));
        for n in 0..REMEMBERED + 10 {
            hint.first_in_the_hour(&n.to_string(), now + EVERY);
        }
        assert!(hint.said.lock().unwrap().len() <= REMEMBERED);
    }

    #[test]
    fn the_command_carries_this_servers_flags_and_quotes_what_a_shell_would_split() {
        let hint = ConnectHint::new("https://login.example/t/v2.0", "oid", "P-", None);
        let said = hint.command("git hub's", Some("work"));
        assert!(
            said.starts_with(
                "ws=\"$(nexus-mcp workspace --issuer https://login.example/t/v2.0 \
                 --workspace-prefix P- --subject SUBJECT)\" && nexus connect \"$ws:work\" \
                 'git hub'\\''s'"
            ),
            "{said}"
        );
        assert!(said.contains("their `oid` claim"), "{said}");
        let team = ConnectHint::new("https://i.example", "sub", "T", Some("team"));
        let said = team.command("github", None);
        assert!(
            said.starts_with("nexus connect TWORKSPACE github"),
            "{said}"
        );
    }
}
