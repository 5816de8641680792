//! git's credential-helper protocol (`git help credential`): attributes
//! `key=value` on stdin, one a line, to a blank line or the end; for `get`,
//! `username=` and `password=` on stdout.

use std::io::{BufRead, Write};

use nexus_sdk::{NexusClient, NexusError, code};

use crate::credential::Credential;

/// The username git sends with a token, per provider: what each forge
/// accepts for a token as the password.
fn default_username(provider: &str) -> &'static str {
    match provider.to_ascii_lowercase().as_str() {
        "gitlab" => "oauth2",
        "bitbucket" => "x-token-auth",
        _ => "x-access-token",
    }
}

pub(crate) fn answer(
    client: &NexusClient,
    workspace: &str,
    provider: &str,
    username: Option<String>,
    operation: &str,
    out: &mut impl Write,
) -> Result<(), NexusError> {
    // git writes its attributes whatever the operation: read them to the end.
    let mut host = String::new();
    for line in std::io::stdin().lock().lines().map_while(Result::ok) {
        if line.is_empty() {
            break;
        }
        if let Some(value) = line.strip_prefix("host=") {
            host = value.to_owned();
        }
    }
    if operation != "get" {
        return Ok(()); // store and erase: nothing is kept, so nothing to do
    }
    let credential = Credential::resolve(client, workspace, provider)?;
    let (user, password) = match credential.basic_pair() {
        Some((user, password)) => (username.unwrap_or(user), password),
        None => {
            let token = credential.value()?;
            (
                username.unwrap_or_else(|| default_username(provider).to_owned()),
                token,
            )
        }
    };
    if user.contains('\n') || password.contains('\n') {
        let why = format!("the credential for {host} holds a line break git cannot read");
        return Err(NexusError::new(code::INVALID_CREDENTIALS, why));
    }
    let _ = write!(out, "username={user}\npassword={password}\n");
    Ok(())
}
