//! `NexusClientOptions::from_env` against real process variables. Alone in
//! its own test binary because it changes the environment: no other test
//! runs beside it.

const C: &str = "3f1b2c4d-0000-4000-8000-00000000000c";

use nexus_gateway_fake::{FakeConnection, FakeGateway, Route};
use std::time::Duration;

use nexus_sdk::{NexusClient, NexusClientOptions, RetryPolicy, setting};

#[test]
fn from_env_reads_url_and_key() {
    let gateway = FakeGateway::start();
    gateway.add_connection(C, FakeConnection::active("github", "t"));

    // SAFETY: this binary holds a single test, so no other thread reads the environment.
    unsafe {
        std::env::remove_var("NEXUS_GATEWAY_URL");
        std::env::remove_var("NEXUS_API_KEY");
    }
    let err = NexusClientOptions::from_env().unwrap_err();
    assert_eq!(err.code, "invalid_input");
    assert!(err.message.contains("NEXUS_GATEWAY_URL"));

    unsafe { std::env::set_var("NEXUS_GATEWAY_URL", format!("{}/", gateway.url())) };
    let options = NexusClientOptions::from_env().unwrap();
    assert_eq!(options.api_key, "");
    NexusClient::new(options)
        .unwrap()
        .check_connection(C)
        .unwrap();
    assert_eq!(gateway.last_request().unwrap().header("x-api-key"), None);

    unsafe { std::env::set_var("NEXUS_API_KEY", "nx_env_key") };
    let client = NexusClient::new(NexusClientOptions::from_env().unwrap()).unwrap();
    client.check_connection(C).unwrap();
    let sent = gateway.last_request_to(Route::CheckConnection).unwrap();
    assert_eq!(sent.header("x-api-key"), Some("nx_env_key"));
    assert_eq!(
        sent.path,
        format!("/v1/check-connection/{C}"),
        "trailing slash of the URL dropped"
    );

    // A variable that is set but is not UTF-8 is an error naming it, never
    // read as unset (an allow-list that allows nothing, a client with no key).
    #[cfg(unix)]
    for name in setting::VARIABLES {
        use std::os::unix::ffi::OsStringExt;
        let kept = std::env::var_os(name);
        let bytes = std::ffi::OsString::from_vec(b"nx_\xffkey".to_vec());
        unsafe { std::env::set_var(name, &bytes) };
        let err = NexusClientOptions::from_env().unwrap_err();
        assert_eq!(err.code, "invalid_input", "{name}");
        assert!(err.message.contains(name), "{err}");
        assert_eq!(err.setting, Some(name));
        // The reader the programs use for their own variables too.
        let err = setting::var(name).unwrap_err();
        assert_eq!(
            (err.code.as_str(), err.setting),
            ("invalid_input", Some(name))
        );
        assert!(
            !err.message.contains("nx_"),
            "the value is not quoted: {err}"
        );
        match kept {
            Some(value) => unsafe { std::env::set_var(name, value) },
            None => unsafe { std::env::remove_var(name) },
        }
    }
}

#[test]
fn an_allowed_origins_entry_with_a_semicolon_or_a_second_equals_is_refused_as_given() {
    for value in [
        "github=https://a.example;github=https://b.example",
        "github=https://a.example=https://b.example",
        "gitlab=https://gl.example, github=https://a.example;x",
    ] {
        let err = NexusClientOptions::from_env_with(|name| match name {
            "NEXUS_GATEWAY_URL" => Some("http://127.0.0.1:1".to_owned()),
            "NEXUS_ALLOWED_ORIGINS" => Some(value.to_owned()),
            _ => None,
        })
        .unwrap_err();
        assert_eq!(err.code, "invalid_input", "{value}: {err}");
        assert_eq!(err.setting, Some("NEXUS_ALLOWED_ORIGINS"), "{err}");
        assert!(
            err.message
                .starts_with("NEXUS_ALLOWED_ORIGINS: \"github=https://a.example"),
            "{err}"
        );
        assert!(err.message.contains("separated by commas"), "{err}");
        assert!(
            !err.message.contains("port"),
            "no port the value does not have: {err}"
        );
    }
}

/// Options from `vars` (name, value) and a Gateway URL.
fn options_from(vars: &[(&str, &str)]) -> Result<NexusClientOptions, nexus_sdk::NexusError> {
    NexusClientOptions::from_env_with(|name| {
        let set = vars
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.to_string());
        set.or_else(|| (name == setting::NEXUS_GATEWAY_URL).then(|| "http://127.0.0.1:1".into()))
    })
}

#[test]
fn every_entry_that_cannot_become_an_allowance_is_refused_naming_the_variable() {
    for value in [
        "=https://a.example",
        "github=",
        "github",
        " = ",
        "github=not an origin",
        "github=https://a.example https://bob:hunter2@b.example",
        "github=https://a.example/x,gitlab=ftp://carol:hunter2@c.example",
    ] {
        let err = options_from(&[(setting::NEXUS_ALLOWED_ORIGINS, value)]).unwrap_err();
        assert_eq!(err.code, "invalid_input", "{value}: {err}");
        assert_eq!(
            err.setting,
            Some(setting::NEXUS_ALLOWED_ORIGINS),
            "{value}: {err}"
        );
        assert!(err.message.starts_with("NEXUS_ALLOWED_ORIGINS: "), "{err}");
        let debug = format!("{err:?}");
        assert!(
            !debug.contains("hunter2") && !debug.contains("carol"),
            "{debug}"
        );
    }
    let fine = options_from(&[(
        setting::NEXUS_ALLOWED_ORIGINS,
        " github = https://a.example ",
    )]);
    assert!(fine.is_ok(), "blanks around either side are fine");
}

#[test]
fn retries_and_the_429_wait_come_from_the_environment() {
    let options = options_from(&[
        (setting::NEXUS_RETRIES, " 3 "),
        (setting::NEXUS_RETRY_ON_429, "TRUE"),
    ]);
    let policy = options.unwrap().retry_policy;
    assert_eq!((policy.retries, policy.retry_on_429), (3, true));
    let unset = options_from(&[]).unwrap().retry_policy;
    assert_eq!(unset, RetryPolicy::default());
    for (name, value) in [
        (setting::NEXUS_RETRIES, "-1"),
        (setting::NEXUS_RETRIES, "three"),
        (setting::NEXUS_RETRY_ON_429, "maybe"),
    ] {
        let err = options_from(&[(name, value)]).unwrap_err();
        assert_eq!(
            (err.code.as_str(), err.setting),
            ("invalid_input", Some(name)),
            "{err}"
        );
    }
}

#[test]
fn a_duration_is_refused_where_it_is_read_naming_who_set_it() {
    for value in ["0", "10000000000000000000", "400d", "-5"] {
        let err = options_from(&[(setting::NEXUS_TIMEOUT, value)]).unwrap_err();
        assert_eq!(err.setting, Some(setting::NEXUS_TIMEOUT), "{value}: {err}");
    }
    assert_eq!(setting::parse_duration("10000000000000000000"), None);
    assert_eq!(setting::parse_duration("366 days"), None);
    // Set in code, it is the code's name the error gives, not a variable
    // nobody set.
    for timeout in [Duration::ZERO, Duration::MAX] {
        let options = NexusClientOptions::new("http://127.0.0.1:1").timeout(timeout);
        let err = NexusClient::new(options).unwrap_err();
        assert_eq!(err.setting, Some("NexusClientOptions::timeout"), "{err}");
        assert!(!format!("{err:?}").contains("NEXUS_TIMEOUT"), "{err:?}");
    }
}
