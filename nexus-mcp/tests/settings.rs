//! The library's words about a setting, as this program says them: the
//! one name the library blames is swapped for this program's flag, and no
//! other prose is rewritten.

mod common;

use std::time::Duration;

use common::{Session, fetch};
use nexus_gateway_fake::{FakeGateway, FakeProvider, FakeUpstream};

#[test]
fn a_token_shorter_than_the_buffer_names_the_token_buffer_flag() {
    let (gateway, api) = (FakeGateway::start(), FakeUpstream::start());
    let short = FakeProvider::oauth2("gho_short_lived").expires_in(Duration::from_secs(20));
    gateway.add_provider("ws-1", "github", short.api_base_url(&api.url()));
    let mut session = Session::start_with(&gateway, &[], &[]);
    let answer = session.call(fetch("github", &format!("{}/user", api.url())));
    assert!(!common::is_error(&answer), "{answer}");
    let line = session.stderr_line("within the cache's 30s buffer");
    assert!(
        line.contains("a shorter buffer (--token-buffer) keeps it"),
        "{line}"
    );
    assert!(
        !line.contains("TokenCache"),
        "the library's API is not this program's: {line}"
    );
}

/// Runs the server with `args` and `vars`, stdin closed: its exit code and
/// what it said on stderr.
fn refused(args: &[&str], vars: &[(&str, std::ffi::OsString)]) -> (Option<i32>, String) {
    let (gateway, _api) = common::gateway();
    let mut command = common::server(&gateway, args);
    command
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    for (name, value) in vars {
        command.env(name, value);
    }
    let output = command.output().unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
#[cfg(unix)]
fn a_variable_that_is_not_utf8_is_refused_at_start_naming_it() {
    use std::os::unix::ffi::OsStringExt;
    let not_utf8 =
        std::ffi::OsString::from_vec(b"k\xffey-0123456789abcdef0123456789abcdef".to_vec());
    for name in [
        "NEXUS_MCP_STATE_KEY",
        "NEXUS_LOG",
        "NEXUS_CREDENTIAL_SCOPE",
        "NEXUS_RETRIES",
        // Read for a flag by the argument parser itself.
        "NEXUS_WORKSPACE_ID",
        "NEXUS_TIMEOUT",
    ] {
        let (code, stderr) = refused(&[], &[(name, not_utf8.clone())]);
        assert_eq!(code, Some(2), "{name}: {stderr}");
        assert!(
            stderr.contains(name) && stderr.contains("UTF-8"),
            "{name}: {stderr}"
        );
        assert!(
            !stderr.contains("0123456789abcdef"),
            "never the value: {stderr}"
        );
    }
}

#[test]
fn a_duration_too_long_for_a_clock_is_refused_at_start_naming_its_flag() {
    for flag in ["--connect-wait", "--token-buffer", "--timeout"] {
        let (code, stderr) = refused(&[flag, "10000000000000000000"], &[]);
        assert_eq!(code, Some(2), "{flag}: {stderr}");
        assert!(
            stderr.contains(flag) && !stderr.contains("panicked"),
            "{flag}: {stderr}"
        );
    }
}
