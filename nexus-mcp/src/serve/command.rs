//! What `serve` does for its operator beside serving: `serve revoke
//! --person`, a person out now, on every replica, through the store the
//! replicas share.

use std::process::ExitCode;

use super::args::{StoreGiven, store_at};
use super::revoked::{PERSON_DIGITS, Revoked};
use super::store::{Down, WATCH_EVERY};
use crate::env;

/// `serve`'s operator commands.
#[derive(clap::Subcommand)]
pub(crate) enum Action {
    /// Takes a person out now, on every replica: every sign-in, refresh
    /// token and access token issued to them before now is refused within
    /// seconds, through the store the replicas share (--store, or
    /// NEXUS_MCP_STORE and its _FILE and _PASSWORD twins, as `serve` reads
    /// them). They may sign in again at the issuer: to keep them out, deny
    /// them there or in --deny-file.
    Revoke(RevokeArgs),
}

/// `serve revoke`'s flags.
#[derive(clap::Args)]
pub(crate) struct RevokeArgs {
    /// The person: the issuer exactly as `serve --issuer` names it and their
    /// subject (the claim --subject-claim reads), or the hash the log
    /// prints for them (`who=`, 12 hex digits or more).
    #[arg(long, num_args = 1..=2, value_names = ["ISSUER", "SUBJECT"], required = true)]
    person: Vec<String>,
    /// The store every replica reads, as `serve --store` takes it.
    #[arg(long, value_name = "URL")]
    store: Option<String>,
}

/// Runs `action`: what it did on stdout, or why not on stderr (exit 2 for
/// what the operator gave, 1 for a store that does not answer).
pub(crate) fn run(action: Action) -> ExitCode {
    let Action::Revoke(args) = action;
    match revoke(args) {
        Ok(said) => {
            println!("{said}");
            ExitCode::SUCCESS
        }
        Err((code, why)) => {
            eprintln!("nexus-mcp serve revoke: {why}");
            ExitCode::from(code)
        }
    }
}

/// `serve revoke --person`: what it revoked, or the exit code and why not.
fn revoke(args: RevokeArgs) -> Result<String, (u8, String)> {
    let person = match &args.person[..] {
        [issuer, subject] if !subject.trim().is_empty() => {
            Revoked::person(&crate::principal::person(issuer, subject))
        }
        [hash] => Revoked::person(hash),
        _ => None,
    };
    let Some(Revoked::Person(who)) = person else {
        let why = format!(
            "--person names a person: ISSUER SUBJECT, or the hash the log prints (who=, \
             {PERSON_DIGITS} hex digits or more)"
        );
        return Err((2, why));
    };
    let given = |name| env::try_var_from(name).map_err(|why| (2, why));
    let given = StoreGiven {
        url: given(env::STORE_VARIABLE)?,
        password: given(env::STORE_PASSWORD_VARIABLE)?,
    };
    let store = store_at(args.store, given).map_err(|why| (2, why))?;
    if !store.shared() {
        let why = "no store is given (--store, or NEXUS_MCP_STORE): replicas share a \
                   revocation only through their store; without one, name the person in \
                   --deny-file and send each replica SIGHUP";
        return Err((2, why.to_owned()));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    let runtime = runtime.map_err(|e| (1, format!("cannot start the runtime: {e}")))?;
    let done = runtime.block_on(store.revoke(Revoked::Person(who.clone())));
    done.map_err(|Down(why)| (1, format!("{why}: nothing was revoked")))?;
    Ok(format!(
        "revoked who={who}: every sign-in, refresh token and access token issued to them \
         before now is refused on every replica within {} s; they may sign in again at the \
         issuer (to keep them out, deny them there or in --deny-file)",
        WATCH_EVERY.as_secs()
    ))
}
