//! `serve --store`, given as a platform team gives it: the whole URL in a
//! Secret's file, or `--store` with the password alone in a Secret of its
//! own (as a Secret made for Redis holds it). No refusal shows any part of
//! a password, whatever it holds: a URL that does not read whole (a
//! password's `@`, `/`, `?` or `#` read as the URL's own) is described
//! without its text, with the percent-encoding fix; the store given twice
//! is refused naming both; the password alone is joined encoded, and a
//! real redis-server that asks it is answered.

mod common;

use std::process::Output;

use common::redis::Redis;
use common::served::{command, free_port};
use common::tls::TEST_CA;
use nexus_gateway_fake::{FakeGateway, FakeIssuer};

const PROXY: [&str; 3] = ["--oauth-proxy", "--login-client-id", "nexus-login"];

/// Passwords each holding a character a URL reads as its own, made of
/// parts long enough that any one shown is caught.
const PASSWORDS: [&str; 4] = [
    "zq7/xk9/w0rdy",
    "zq7@xk9/w0rdy",
    "zq7?xk9@w0rdy",
    "zq7#xk9@w0rdy",
];

/// `serve --check` behind `--oauth-proxy` with `args` and `env` (a
/// variable's value written to a file when its name ends in `_FILE`).
fn checked(args: &[&str], env: &[(&str, &str)]) -> (Output, String) {
    let (issuer, gateway) = (FakeIssuer::start(), FakeGateway::start());
    let port = free_port();
    issuer.add_client(
        "nexus-login",
        &format!("http://127.0.0.1:{port}/connect/callback"),
    );
    let dir = tempfile::tempdir().unwrap();
    let all = [&PROXY[..], args, &["--check"]].concat();
    let mut serve = command(&gateway, &issuer.url(), port, &all);
    serve.env_remove("SSL_CERT_FILE");
    for (name, value) in env {
        match name.strip_suffix("_FILE") {
            Some(_) => {
                let file = dir.path().join(name);
                std::fs::write(&file, format!("{value}\n")).unwrap();
                serve.env(name, file);
            }
            None => {
                serve.env(name, value);
            }
        }
    }
    let out = serve.output().expect("nexus-mcp");
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, said)
}

/// Whether `said` shows any part of `password` (three characters or more).
fn shows(said: &str, password: &str) -> bool {
    (password.split(['/', '@', '?', '#'])).any(|part| part.len() > 2 && said.contains(part))
}

#[test]
fn a_store_url_a_password_cuts_elsewhere_is_refused_without_any_of_it_wherever_given() {
    for password in PASSWORDS {
        let url = format!("redis://:{password}@127.0.0.1:6379/0");
        for given in ["--store", "NEXUS_MCP_STORE", "NEXUS_MCP_STORE_FILE"] {
            let (out, said) = match given {
                "--store" => checked(&["--store", &url], &[]),
                variable => checked(&[], &[(variable, &url)]),
            };
            assert_eq!(out.status.code(), Some(2), "{given} {url}: {said}");
            assert!(!shows(&said, password), "{given} {url}: {said}");
            assert!(
                said.contains(&format!("{given}: ")) && said.contains("%40"),
                "{said}"
            );
        }
    }
}

#[test]
fn a_secret_holding_only_a_password_as_the_url_is_refused_naming_the_variable_to_use() {
    let (out, said) = checked(&[], &[("NEXUS_MCP_STORE_FILE", "zq7xk9w0rdy")]);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(!said.contains("zq7xk9w0rdy"), "{said}");
    assert!(
        said.contains("NEXUS_MCP_STORE_FILE: ") && said.contains("NEXUS_MCP_STORE_PASSWORD_FILE"),
        "{said}"
    );
}

#[test]
fn the_store_given_twice_is_refused_naming_both() {
    let url = "redis://:zq7xk9w0rdy@127.0.0.1:6379/0";
    for variable in ["NEXUS_MCP_STORE", "NEXUS_MCP_STORE_FILE"] {
        let (out, said) = checked(&["--store", "redis://127.0.0.1:6379/0"], &[(variable, url)]);
        assert_eq!(out.status.code(), Some(2), "{said}");
        assert!(
            said.contains(&format!("--store and {variable} both give the store")),
            "{said}"
        );
        assert!(!said.contains("zq7xk9w0rdy"), "{said}");
    }
    let given = [("NEXUS_MCP_STORE_PASSWORD_FILE", "zq7xk9w0rdy")];
    let (out, said) = checked(&["--store", url], &given);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(
        said.contains("given twice") && !said.contains("zq7xk9w0rdy"),
        "{said}"
    );
    let (out, said) = checked(&[], &given);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(
        said.contains("no store is given") && !said.contains("zq7xk9w0rdy"),
        "{said}"
    );
}

#[test]
#[ignore = "needs redis-server from the distribution (NEXUS_REDIS; .ci/run installs it)"]
fn a_password_given_alone_is_joined_to_the_stores_url_and_the_store_answers() {
    for password in [PASSWORDS[1], "a%41 b:c"] {
        let redis = Redis::start_with(Some(password));
        let store = redis.url();
        for variable in ["NEXUS_MCP_STORE_PASSWORD", "NEXUS_MCP_STORE_PASSWORD_FILE"] {
            let (out, said) = checked(&["--store", &store], &[(variable, password)]);
            assert_eq!(
                out.status.code(),
                Some(0),
                "{variable} {password:?}: {said}"
            );
        }
        // The wrong password: the store refuses, and nothing of it is shown.
        let (out, said) = checked(
            &["--store", &store],
            &[("NEXUS_MCP_STORE_PASSWORD", "zq7wrongpass")],
        );
        assert_eq!(out.status.code(), Some(2), "{said}");
        assert!(
            said.contains("does not answer") && !said.contains("zq7wrongpass"),
            "{said}"
        );
    }
}

#[test]
#[ignore = "needs redis-server from the distribution (NEXUS_REDIS; .ci/run installs it)"]
fn a_store_behind_a_private_ca_is_trusted_through_ssl_cert_file_beside_the_public_roots() {
    let redis = Redis::start_tls();
    let store = redis.url();
    // The helper writes a `_FILE` variable's value to the file it names.
    let bundle = std::fs::read_to_string(TEST_CA).unwrap();
    let (out, said) = checked(&["--store", &store], &[("SSL_CERT_FILE", &bundle)]);
    assert_eq!(out.status.code(), Some(0), "{said}");
    // Without the bundle the store's certificate is not trusted, and so said.
    let (out, said) = checked(&["--store", &store], &[]);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(
        said.contains(&store) && said.contains("certificate"),
        "{said}"
    );
}

/// A replica whose store refuses its password at start serves, and says
/// to a sign-in what holds it back: its store, not a revocation (it said
/// "this sign-in was revoked"). 503 `temporarily_unavailable`, to try again.
#[test]
#[ignore = "needs redis-server from the distribution (NEXUS_REDIS; .ci/run installs it)"]
fn a_replica_its_store_refuses_says_so_to_a_sign_in_never_that_it_was_revoked() {
    use common::front::{proxy, redemption, signed_in_at, token_answer};
    let redis = Redis::start_with(Some("zq7rightpass"));
    let (issuer, gateway) = (FakeIssuer::start(), FakeGateway::start());
    let store = redis
        .url()
        .replacen("redis://", "redis://:zq7wrongpass@", 1);
    let (served, origin) = proxy(&issuer, &gateway, &["--store", &store]);
    issuer.approve_as("alice");
    let (id, said) = signed_in_at(&served, &origin);
    let (status, answer) = token_answer(&origin, &redemption(&id, &said["code"]));
    let description = answer["error_description"].as_str().unwrap_or_default();
    assert_eq!(status, 503, "{answer}");
    assert_eq!(answer["error"], "temporarily_unavailable", "{answer}");
    assert!(
        description.contains("has not yet read the revocations its store holds")
            && !description.contains("revoked:"),
        "{description}"
    );
}
