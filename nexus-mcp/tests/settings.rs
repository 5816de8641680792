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

/// Runs the server with `args` and `vars` (an empty value unsets its
/// variable), stdin closed: its exit code and what it said on stderr.
fn refused(args: &[&str], vars: &[(&str, std::ffi::OsString)]) -> (Option<i32>, String) {
    let (gateway, _api) = common::gateway();
    let mut command = common::server(&gateway, args);
    command
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    for (name, value) in vars {
        if value.is_empty() {
            command.env_remove(name);
        } else {
            command.env(name, value);
        }
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

#[test]
fn a_worker_count_the_runtime_would_panic_on_is_refused_at_start() {
    // tokio reads TOKIO_WORKER_THREADS as the runtime starts and panicked
    // on each of these (a blank too: it is not taken for unset).
    for value in [
        "abc",
        "0",
        " ",
        " 2",
        "-1",
        "1.5",
        "99999999999999999999999",
        // Numbers a runtime cannot start with: each panicked or aborted.
        "18446744073709551615",
        "9223372036854775808",
        "4294967297",
        "1000000",
        "1025",
    ] {
        let (code, stderr) = refused(&[], &[("TOKIO_WORKER_THREADS", value.into())]);
        assert_eq!(code, Some(2), "{value:?}: {stderr}");
        assert!(
            stderr.contains("TOKIO_WORKER_THREADS") && !stderr.contains("panicked"),
            "{value:?}: {stderr}"
        );
        assert_eq!(
            stderr.trim().lines().count(),
            5,
            "clap's usage block: {stderr}"
        );
    }
    // With one, or the most it takes, it starts (and ends, its stdin closed
    // before a handshake).
    for value in ["1", "1024"] {
        let (_, stderr) = refused(&[], &[("TOKIO_WORKER_THREADS", value.into())]);
        assert!(
            stderr.contains("serving workspace ws-1") && !stderr.contains("TOKIO_WORKER_THREADS"),
            "{value}: {stderr}"
        );
    }
}

/// A URL given with a password in it, in each spelling a person gives
/// one: in its place, percent-encoded or not (a `/` or `@` of the password
/// read as the URL's own: it does not parse, or the password is cut into
/// its path), with a query.
fn with_a_password(url: &str) -> [String; 4] {
    let (scheme, rest) = url.split_once("://").unwrap();
    [
        format!("{scheme}://user:S3cr3tPw@{rest}"),
        format!("{scheme}://user:S3cr3t/Pw@{rest}"),
        format!("{scheme}://user:12/S3cr3tPw@{rest}"),
        format!("{scheme}://:S3cr3tPw@{rest}?k=S3cr3tPw"),
    ]
}

#[test]
fn no_url_a_person_gives_is_shown_with_its_password() {
    let serve = |more: &[&str]| {
        let mut args = vec!["serve", "--listen", "127.0.0.1:0", "--check"];
        args.extend_from_slice(more);
        args.iter().map(|a| a.to_string()).collect::<Vec<_>>()
    };
    let (issuer, public) = ("https://idp.example", "https://mcp.example/mcp");
    // Each refusal: its arguments, its variables, and the setting it names.
    let mut refusals: Vec<(Vec<String>, Option<String>, &str)> = Vec::new();
    for given in with_a_password(issuer) {
        let args = serve(&["--issuer", &given, "--public-url", public]);
        refusals.push((args, None, "--issuer"));
    }
    for given in with_a_password(public) {
        let args = serve(&["--issuer", issuer, "--public-url", &given]);
        refusals.push((args, None, "--public-url"));
    }
    for flag in [
        "--allowed-origin",
        "--oauth-client-document-origin",
        "--redirect-origin",
    ] {
        for given in with_a_password("https://app.example") {
            let more = ["--issuer", issuer, "--public-url", public, flag, &given];
            refusals.push((serve(&more), None, flag));
        }
    }
    for given in with_a_password("https://collector.example") {
        refusals.push((vec![], Some(given), "OTEL_EXPORTER_OTLP_ENDPOINT"));
    }
    for given in with_a_password("redis://redis.example") {
        // A value clap itself refuses, quoted in its own words.
        let args = serve(&["--issuer", issuer, "--public-url", public, "--stor", &given]);
        refusals.push((args, None, "--stor"));
    }
    for (args, endpoint, named) in refusals {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let serving = args.first() == Some(&"serve");
        let mut vars: Vec<(&str, std::ffi::OsString)> = Vec::new();
        if serving {
            // serve takes no workspace: the refusal must be the URL's.
            vars.push(("NEXUS_WORKSPACE_ID", "".into()));
        }
        if let Some(endpoint) = endpoint {
            vars.push(("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.into()));
        }
        let (code, stderr) = refused(&args, &vars);
        assert_eq!(code, Some(2), "{args:?} {vars:?}: {stderr}");
        assert!(stderr.contains(named), "{named}: {stderr}");
        assert!(
            !stderr.contains("S3cr3t") && !stderr.contains("Pw@"),
            "{args:?} {vars:?}: {stderr}"
        );
    }
}
