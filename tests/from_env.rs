//! `NexusClientOptions::from_env` against real process variables. Alone in
//! its own test binary because it changes the environment: no other test
//! runs beside it.

const C: &str = "3f1b2c4d-0000-4000-8000-00000000000c";

use nexus_gateway_fake::{FakeConnection, FakeGateway, Route};
use nexus_sdk::{NexusClient, NexusClientOptions};

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
    for name in [
        "NEXUS_API_KEY",
        "NEXUS_ALLOWED_ORIGINS",
        "NEXUS_CREDENTIAL_SCOPE",
        "NEXUS_GATEWAY_URL",
    ] {
        use std::os::unix::ffi::OsStringExt;
        let kept = std::env::var_os(name);
        let bytes = std::ffi::OsString::from_vec(b"nx_\xffkey".to_vec());
        unsafe { std::env::set_var(name, &bytes) };
        let err = NexusClientOptions::from_env().unwrap_err();
        assert_eq!(err.code, "invalid_input", "{name}");
        assert!(err.message.contains(name), "{err}");
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
