//! The `echo` feature's one boundary, in a build without it: the crate's
//! messages and its redirect check still find a credential as it is, in
//! the text or in the text percent-decoded up to three times (as URLs nest
//! it), but no other encoded form of it is looked for, and asking to
//! withhold an answer that echoes one fails closed. With the feature,
//! `echo.rs` takes this place.

use std::time::Instant;

use percent_encoding::percent_decode;

/// Whether `text`, as it is or percent-decoded up to three times (`%2f` as
/// `%2F`), holds one of the non-empty `secrets` exactly as it is.
pub(crate) fn echoes<S: AsRef<str>>(
    text: &[u8],
    secrets: &[S],
    _deadline: Option<Instant>,
) -> Option<bool> {
    let secrets = secrets.iter().map(|s| s.as_ref().as_bytes());
    let secrets: Vec<&[u8]> = secrets.filter(|s| !s.is_empty()).collect();
    let mut text = text.to_vec();
    for _ in 0..=3 {
        if secrets
            .iter()
            .any(|s| text.windows(s.len()).any(|w| w == *s))
        {
            return Some(true);
        }
        let decoded: Vec<u8> = percent_decode(&text).collect();
        if decoded == text {
            break;
        }
        text = decoded;
    }
    Some(false)
}

/// A secret as [`echoes_of`] looks for it: as it is.
pub(crate) type Form = String;

/// The secrets as [`echoes_of`] looks for them.
pub(crate) fn forms<S: AsRef<str>>(secrets: &[S]) -> Vec<Form> {
    secrets.iter().map(|s| s.as_ref().to_owned()).collect()
}

/// [`echoes`] for secrets [`forms`] gave.
pub(crate) fn echoes_of(forms: &[Form], text: &[u8], deadline: Option<Instant>) -> Option<bool> {
    echoes(text, forms, deadline)
}

/// Without this feature, withholding echoes is not available.
pub(crate) const AVAILABLE: bool = false;
