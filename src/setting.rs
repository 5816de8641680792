//! The settings [`NexusClientOptions::from_env`](crate::NexusClientOptions::from_env) reads, one constant each
//! (beside [`code`](crate::code)), and the two readers behind it, for a
//! program that reads settings of its own the same way: [`var`] refuses a
//! value that is not UTF-8, naming the variable, and [`parse_duration`]
//! reads a duration.
//!
//! Compare [`NexusError::setting`](crate::NexusError::setting) with these
//! constants rather than with string literals:
//!
//! ```
//! use nexus_sdk::{NexusClientOptions, setting};
//!
//! let err = NexusClientOptions::from_env_with(|_| None).unwrap_err();
//! assert_eq!(err.setting, Some(setting::NEXUS_GATEWAY_URL));
//! assert_eq!(setting::parse_duration("2.5s"), Some(std::time::Duration::from_millis(2500)));
//! ```

use std::ffi::OsString;
use std::time::Duration;

use crate::error::NexusError;

/// The Gateway's URL, required; in code, the URL given to
/// [`NexusClientOptions::new`](crate::NexusClientOptions::new).
pub const NEXUS_GATEWAY_URL: &str = "NEXUS_GATEWAY_URL";
/// The key sent as `X-API-Key`, when the Gateway asks for one.
pub const NEXUS_API_KEY: &str = "NEXUS_API_KEY";
/// What a Gateway call may take, read by [`parse_duration`]; 35 s unset.
pub const NEXUS_TIMEOUT: &str = "NEXUS_TIMEOUT";
/// `provider_api` (the default) or `anywhere`: see
/// [`CredentialScope`](crate::CredentialScope).
pub const NEXUS_CREDENTIAL_SCOPE: &str = "NEXUS_CREDENTIAL_SCOPE";
/// More origins a provider's credential may reach:
/// `github=https://uploads.github.com,…`.
pub const NEXUS_ALLOWED_ORIGINS: &str = "NEXUS_ALLOWED_ORIGINS";
/// How many times a failed Gateway call is tried again (a whole number; 0,
/// the default, tries once): [`RetryPolicy::retries`](crate::RetryPolicy::retries).
pub const NEXUS_RETRIES: &str = "NEXUS_RETRIES";
/// `true` to wait out a Gateway 429 within the call's time, `false` (the
/// default) to fail at once (either in any case): [`RetryPolicy::retry_on_429`](crate::RetryPolicy::retry_on_429).
pub const NEXUS_RETRY_ON_429: &str = "NEXUS_RETRY_ON_429";
/// Every variable [`NexusClientOptions::from_env`](crate::NexusClientOptions::from_env) reads.
#[rustfmt::skip]
pub const VARIABLES: [&str; 7] = [
    NEXUS_GATEWAY_URL, NEXUS_API_KEY, NEXUS_TIMEOUT, NEXUS_CREDENTIAL_SCOPE,
    NEXUS_ALLOWED_ORIGINS, NEXUS_RETRIES, NEXUS_RETRY_ON_429,
];

/// The longest duration [`parse_duration`] reads: any clock can be moved on
/// by it.
const LONGEST: Duration = Duration::from_secs(365 * 24 * 3600);

/// The environment variable `name`: `None` when it is unset.
///
/// ```
/// assert_eq!(nexus_sdk::setting::var("NEXUS_EXAMPLE_NEVER_SET")?, None);
/// # Ok::<(), nexus_sdk::NexusError>(())
/// ```
///
/// # Errors
///
/// `invalid_input` naming `name` (its [`setting`](NexusError::setting)),
/// never the value, when the value is not valid UTF-8.
pub fn var(name: &'static str) -> Result<Option<String>, NexusError> {
    let value = std::env::var_os(name)
        .map(OsString::into_string)
        .transpose();
    // Never the value: it may be the api key.
    let not_utf8 = |_| format!("{name} is set but is not valid UTF-8");
    value.map_err(|e| NexusError::invalid_input(not_utf8(e)).blaming(name))
}

/// A PEM bundle of CA certificates trusted beside the webpki roots (with
/// the `rustls` feature; `platform-verifier` and `native-tls` read it in
/// place of the system's roots): the variable OpenSSL, curl, Python and Go
/// read, so one setting serves every program of a container.
pub const SSL_CERT_FILE: &str = "SSL_CERT_FILE";

/// The TLS the client trusts, as the crate's features and
/// [`SSL_CERT_FILE`] ask, for a `ureq` agent a program builds of its own,
/// so that it trusts what the client trusts and no more.
///
/// rustls with the webpki roots by default, and beside them the bundle
/// [`SSL_CERT_FILE`] names (a private CA without a rebuild); the OS trust
/// store with `platform-verifier`; native-tls when it is the only TLS
/// feature (both read `SSL_CERT_FILE` themselves, in place of the
/// system's roots).
///
/// ```
/// let tls = nexus_sdk::setting::tls()?;
/// let config = ureq::Agent::config_builder().tls_config(tls).build();
/// let _agent = ureq::Agent::new_with_config(config);
/// # Ok::<(), nexus_sdk::NexusError>(())
/// ```
///
/// # Errors
///
/// `invalid_input` naming [`SSL_CERT_FILE`] when the file it names cannot
/// be read, is not PEM, or holds no certificate: never the default roots
/// alone.
#[cfg(any(feature = "rustls", feature = "native-tls"))]
pub fn tls() -> Result<ureq::tls::TlsConfig, NexusError> {
    let builder = ureq::tls::TlsConfig::builder();
    #[cfg(all(feature = "native-tls", not(feature = "rustls")))]
    let builder = builder.provider(ureq::tls::TlsProvider::NativeTls);
    #[cfg(feature = "platform-verifier")]
    let builder = builder.root_certs(ureq::tls::RootCerts::PlatformVerifier);
    #[cfg(all(feature = "rustls", not(feature = "platform-verifier")))]
    let builder = match var(SSL_CERT_FILE)? {
        Some(path) => builder.root_certs(with_bundle(&path)?),
        None => builder,
    };
    Ok(builder.build())
}

/// The webpki roots and every certificate of the PEM file at `path`; a file
/// that cannot be read, does not parse or holds none is an error naming
/// it, never the default roots alone.
#[cfg(all(feature = "rustls", not(feature = "platform-verifier")))]
fn with_bundle(path: &str) -> Result<ureq::tls::RootCerts, NexusError> {
    use ureq::tls::{Certificate, PemItem};
    let refused = |why: String| {
        NexusError::invalid_input(format!("{SSL_CERT_FILE} {path}: {why}")).blaming(SSL_CERT_FILE)
    };
    let pem = std::fs::read(path).map_err(|e| refused(format!("cannot be read: {e}")))?;
    let parsed: Result<Vec<PemItem>, _> = ureq::tls::parse_pem(&pem).collect();
    let parsed = parsed.map_err(|e| refused(format!("is not a PEM bundle: {e}")))?;
    let extra = parsed.into_iter().filter_map(|item| match item {
        PemItem::Certificate(cert) => Some(cert),
        _ => None,
    });
    let extra: Vec<Certificate<'static>> = extra.collect();
    if extra.is_empty() {
        return Err(refused("holds no PEM certificate".into()));
    }
    let roots = webpki_root_certs::TLS_SERVER_ROOT_CERTS.iter();
    let roots = roots.map(|der| Certificate::from_der(der.as_ref()));
    Ok(ureq::tls::RootCerts::new_with_certs(
        &roots.chain(extra).collect::<Vec<_>>(),
    ))
}

/// A duration as the settings are written: a number of seconds (`30`,
/// `2.5`), the same with `s` (`30s`), or milliseconds with `ms` (`500ms`),
/// blanks around it allowed. `None` for anything else, for zero, and for
/// more than a year (a clock could not always be moved on by it).
///
/// ```
/// use std::time::Duration;
/// use nexus_sdk::setting::parse_duration;
///
/// assert_eq!(parse_duration("30"), Some(Duration::from_secs(30)));
/// assert_eq!(parse_duration(" 500ms "), Some(Duration::from_millis(500)));
/// assert_eq!(parse_duration("0"), None);
/// assert_eq!(parse_duration("10000000000000000000"), None);
/// ```
#[must_use]
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let (number, scale) = match text.strip_suffix("ms") {
        Some(number) => (number, 1e-3),
        None => (text.strip_suffix('s').unwrap_or(text), 1.0),
    };
    let number = number.trim_end();
    if !number.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let seconds = number.parse::<f64>().ok()? * scale;
    let duration = Duration::try_from_secs_f64(seconds).ok()?;
    (!duration.is_zero() && duration <= LONGEST).then_some(duration)
}

#[cfg(test)]
mod tests {
    #[cfg(all(feature = "rustls", not(feature = "platform-verifier")))]
    #[test]
    fn a_ca_bundle_is_trusted_beside_the_webpki_roots_not_instead() {
        let bundle = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/private-ca.crt");
        let ureq::tls::RootCerts::Specific(roots) = super::with_bundle(bundle).unwrap() else {
            panic!("specific roots");
        };
        assert_eq!(
            roots.len(),
            webpki_root_certs::TLS_SERVER_ROOT_CERTS.len() + 1
        );
        let private = std::fs::read(bundle).unwrap();
        let private = ureq::tls::Certificate::from_pem(&private).unwrap();
        assert!(roots.iter().any(|root| root.der() == private.der()));
    }
}
