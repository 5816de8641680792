//! Several accounts of one provider, chosen by label (`--account`): a work
//! and a personal GitHub are two workspaces, and the model names which one
//! a call acts as. With two or more labels the tools take a required
//! `account` whose schema is an enum of the labels: no default, since a
//! wrong default reads the wrong mailbox. The model reads a label, never a
//! workspace id.

use nexus_sdk::{code, one_line};

use crate::failure::Failure;

/// The accounts `--account` named.
#[derive(Default)]
pub(crate) struct Accounts {
    /// Each account, in the order given.
    accounts: Vec<Account>,
}

/// An account `--account` named: its label, and its workspace (stdio:
/// `LABEL=WORKSPACE`); `None` in `serve`, where it is the person's
/// workspace and `:LABEL`.
struct Account {
    label: String,
    workspace: Option<String>,
}

/// The account a call acts as: its label (when accounts are named) and its
/// workspace.
pub(crate) struct Acting {
    pub(crate) label: Option<String>,
    pub(crate) workspace: String,
}

impl Accounts {
    /// The accounts of `--account` values: `LABEL=WORKSPACE` when `paired`
    /// (stdio), else `LABEL` (`serve`); or what is wrong with one.
    pub(crate) fn new(values: &[String], paired: bool) -> Result<Accounts, String> {
        let mut accounts: Vec<Account> = Vec::new();
        for value in values {
            let shown = one_line(value);
            let (label, workspace) = match value.split_once('=') {
                Some((label, ws)) if paired && !ws.trim().is_empty() => {
                    (label.trim(), Some(ws.trim().to_owned()))
                }
                None if !paired => (value.trim(), None),
                _ if paired => {
                    return Err(format!(
                        "--account {shown:?}: LABEL=WORKSPACE (work=ws-123)"
                    ));
                }
                _ => {
                    return Err(format!(
                        "--account {shown:?}: a label only, in serve (work)"
                    ));
                }
            };
            let plain = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
            if label.is_empty() || !label.chars().all(plain) {
                return Err(format!(
                    "--account {shown:?}: a label is letters, digits, `-` and `_`"
                ));
            }
            if accounts.iter().any(|known| known.label == label) {
                return Err(format!(
                    "--account {shown:?}: the label {label} is given twice"
                ));
            }
            let label = label.to_owned();
            accounts.push(Account { label, workspace });
        }
        Ok(Accounts { accounts })
    }

    /// The labels, in the order given.
    pub(crate) fn labels(&self) -> Vec<String> {
        self.accounts.iter().map(|a| a.label.clone()).collect()
    }

    /// Whether the model must choose (two labels or more).
    pub(crate) fn chosen(&self) -> bool {
        self.accounts.len() >= 2
    }

    /// The account a call acts as, given the model's `account` and the
    /// person's workspace `base` (stdio: `--workspace`, or none; `serve`:
    /// as derived from the token).
    pub(crate) fn acting(&self, asked: Option<&str>, base: &str) -> Result<Acting, Failure> {
        let refused = |why: String| Failure::refused(code::INVALID_INPUT, why);
        let found = match (asked, self.accounts.as_slice()) {
            (None, []) => {
                return Ok(Acting {
                    label: None,
                    workspace: base.to_owned(),
                });
            }
            (Some(_), []) => return Err(refused("this server has no `account` to choose".into())),
            (None, [only]) => only,
            (None, _) => {
                let labels = self.labels().join(", ");
                return Err(refused(format!("`account` is required: one of {labels}")));
            }
            (Some(asked), accounts) => {
                accounts.iter().find(|a| a.label == asked).ok_or_else(|| {
                    let known = self.labels().join(", ");
                    refused(format!("no account {:?}: one of {known}", one_line(asked)))
                })?
            }
        };
        let workspace = found.workspace.clone();
        Ok(Acting {
            label: Some(found.label.clone()),
            workspace: workspace.unwrap_or_else(|| format!("{base}:{}", found.label)),
        })
    }

    /// Every account's label and workspace, for the person whose
    /// workspace is `base`.
    pub(crate) fn every(&self, base: &str) -> Vec<Acting> {
        (self.accounts.iter())
            .filter_map(|a| self.acting(Some(&a.label), base).ok())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn given(values: &[&str], paired: bool) -> Result<Accounts, String> {
        Accounts::new(
            &values.iter().map(|v| (*v).to_owned()).collect::<Vec<_>>(),
            paired,
        )
    }

    #[test]
    fn labels_are_plain_and_given_once() {
        let two = given(&["work=ws-w", "personal=ws-p"], true).unwrap();
        assert_eq!(two.labels(), ["work", "personal"]);
        assert!(two.chosen());
        for bad in ["work", "=ws", "wo rk=ws", "work=", "wörk=ws"] {
            assert!(given(&[bad], true).is_err(), "{bad}");
        }
        assert!(given(&["work=a", "work=b"], true).is_err());
        assert!(
            given(&["work=ws"], false).is_err(),
            "serve takes labels only"
        );
        assert_eq!(given(&["work"], false).unwrap().labels(), ["work"]);
    }

    #[test]
    fn an_account_is_required_when_there_are_two_and_never_guessed() {
        let two = given(&["work=ws-w", "personal=ws-p"], true).unwrap();
        assert_eq!(two.acting(Some("personal"), "").unwrap().workspace, "ws-p");
        let none = two.acting(None, "").err().unwrap().to_string();
        assert!(
            none.starts_with("invalid_input: `account` is required"),
            "{none}"
        );
        let unknown = two.acting(Some("ws-w"), "").err().unwrap().to_string();
        assert!(unknown.contains("one of work, personal"), "{unknown}");
        let served = given(&["work", "home"], false).unwrap();
        assert_eq!(
            served.acting(Some("home"), "p-abc").unwrap().workspace,
            "p-abc:home"
        );
        let one = given(&["work=ws-w"], true).unwrap();
        assert_eq!(one.acting(None, "").unwrap().workspace, "ws-w");
        let plain = Accounts::default();
        assert_eq!(plain.acting(None, "ws-1").unwrap().workspace, "ws-1");
        assert!(plain.acting(Some("work"), "ws-1").is_err());
    }
}
