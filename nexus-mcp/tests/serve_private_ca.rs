//! An issuer behind the company's private CA, trusted without a rebuild:
//! `serve` trusts what the Gateway client trusts, the webpki roots and
//! beside them the bundle `SSL_CERT_FILE` names, for every exchange of its
//! own (the issuer's metadata and keys here; the login, introspection and
//! client documents are built on the same agent). (A `rediss://` store
//! behind one: `serve_store_given.rs`.)

mod common;

use std::process::Output;

use common::served::{command, free_port};
use common::tls::{TEST_CA, serve};
use nexus_gateway_fake::FakeGateway;

/// An issuer's discovery document and an empty key set, at `origin`.
fn issuer(origin: &str, path: &str) -> Option<String> {
    match path {
        "/.well-known/oauth-authorization-server" | "/.well-known/openid-configuration" => Some(
            serde_json::json!({
                "issuer": origin,
                "jwks_uri": format!("{origin}/keys"),
                "authorization_endpoint": format!("{origin}/authorize"),
                "token_endpoint": format!("{origin}/token"),
                "response_types_supported": ["code"],
            })
            .to_string(),
        ),
        "/keys" => Some(r#"{"keys":[]}"#.into()),
        _ => None,
    }
}

/// `serve --check` against `issuer`, `SSL_CERT_FILE` set to `bundle` or unset.
fn checked(issuer: &str, bundle: Option<&str>) -> (Output, String) {
    let gateway = FakeGateway::start();
    let mut serve = command(&gateway, issuer, free_port(), &["--check"]);
    serve.env_remove("SSL_CERT_FILE");
    if let Some(bundle) = bundle {
        serve.env("SSL_CERT_FILE", bundle);
    }
    let out = serve.output().expect("nexus-mcp");
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, said)
}

#[test]
fn an_issuer_behind_a_private_ca_is_trusted_through_ssl_cert_file() {
    let origin = serve(issuer);
    let (out, said) = checked(&origin, None);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(said.contains("UnknownIssuer"), "{said}");
    let (out, said) = checked(&origin, Some(TEST_CA));
    assert!(!said.contains("UnknownIssuer"), "{said}");
    assert_eq!(out.status.code(), Some(0), "{said}");
}

#[test]
fn a_bundle_that_holds_no_certificate_is_refused_naming_it() {
    let origin = serve(issuer);
    let empty = tempfile::NamedTempFile::new().unwrap();
    let path = empty.path().display().to_string();
    let (out, said) = checked(&origin, Some(&path));
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(said.contains(&format!("SSL_CERT_FILE {path}")), "{said}");
}
