//! The `echo` feature's one boundary, in a build without it: the crate's
//! messages still redact a credential as it is, but no encoded form of it
//! is looked for, and asking to withhold an answer that echoes one fails
//! closed. With the feature, `echo.rs` takes this place.

use std::time::Instant;

use crate::error::NexusError;

/// Whether `text` holds one of the non-empty `secrets` exactly as it is.
pub(crate) fn echoes<S: AsRef<str>>(
    text: &[u8],
    secrets: &[S],
    _deadline: Option<Instant>,
) -> Option<bool> {
    let exactly = |s: &[u8]| text.windows(s.len()).any(|w| w == s);
    let mut secrets = secrets.iter().map(|s| s.as_ref().as_bytes());
    Some(secrets.any(|s| !s.is_empty() && exactly(s)))
}

/// `invalid_input` when echoes are to be withheld: this build cannot.
pub(crate) fn check_available(withhold: bool) -> Result<(), NexusError> {
    let why = "FetchOptions::withhold_credential_echo(true) needs this crate's `echo` feature, \
               which this build leaves out: nothing was resolved or sent";
    if withhold {
        return Err(NexusError::invalid_input(why));
    }
    Ok(())
}
