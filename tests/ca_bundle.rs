//! A Gateway behind a private CA, trusted without a rebuild: the CA bundle
//! `SSL_CERT_FILE` names is trusted beside the webpki roots (a public
//! site still verifies), and a file that cannot be read, or holds no
//! certificate, is a clear error naming the file, never the default roots
//! alone. Each case runs in a child process of this test binary, with its
//! own environment (the variable is the process's).

#![cfg(all(feature = "rustls", not(feature = "platform-verifier")))]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::Arc;

use nexus_sdk::{NexusClient, NexusClientOptions};

/// The variable a child reads the Gateway's URL from; set only in a child.
const CHILD_GATEWAY: &str = "NEXUS_TEST_CA_GATEWAY";

/// A Gateway's health on loopback over TLS, its certificate issued by the
/// test's private CA (`tests/data/private-ca.crt`): its URL.
fn behind_private_ca() -> String {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain = CertificateDer::pem_slice_iter(include_bytes!("data/private-ca-leaf.crt"));
    let chain = chain.collect::<Result<Vec<_>, _>>().unwrap();
    let key = PrivateKeyDer::from_pem_slice(include_bytes!("data/private-ca-leaf.key")).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let config = Arc::clone(&config);
            std::thread::spawn(move || {
                let connection = rustls::ServerConnection::new(config).unwrap();
                let mut tls = rustls::StreamOwned::new(connection, stream);
                let mut asked = [0u8; 4096];
                if tls.read(&mut asked).is_ok() {
                    let body = r#"{"status":"ok"}"#;
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = tls.write_all(answer.as_bytes());
                    let _ = tls.flush();
                }
            });
        }
    });
    format!("https://localhost:{port}")
}

/// This test binary run as a child for the test `name`, with
/// `SSL_CERT_FILE` set to `bundle` (unset for `None`): its exit status and
/// what it printed.
fn child(name: &str, gateway: &str, bundle: Option<&str>) -> (bool, String) {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_GATEWAY, gateway)
        .env_remove("SSL_CERT_FILE");
    if let Some(bundle) = bundle {
        command.env("SSL_CERT_FILE", bundle);
    }
    let out = command.output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
    (out.status.success(), said.into_owned())
}

/// In a child: the Gateway's health asked, the outcome printed on one line.
#[test]
fn child_asks_the_gateways_health() {
    let Ok(gateway) = std::env::var(CHILD_GATEWAY) else {
        return;
    };
    let options = NexusClientOptions::new(gateway).timeout(std::time::Duration::from_secs(10));
    let outcome = NexusClient::new(options).and_then(|client| client.health());
    match outcome {
        Ok(()) => println!("HEALTH ok"),
        Err(e) => println!("HEALTH {}: {}", e.code, e.message),
    }
}

#[test]
fn a_gateway_behind_a_private_ca_is_trusted_once_ssl_cert_file_names_its_bundle() {
    let gateway = behind_private_ca();
    let bundle = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/private-ca.crt");
    let (ran, said) = child("child_asks_the_gateways_health", &gateway, Some(bundle));
    assert!(ran && said.contains("HEALTH ok"), "{said}");
    let (_, said) = child("child_asks_the_gateways_health", &gateway, None);
    assert!(
        said.contains("HEALTH request_failed") && said.contains("not trusted"),
        "{said}"
    );
}

#[test]
fn a_ca_bundle_that_cannot_be_read_or_holds_no_certificate_is_an_error_naming_the_file() {
    let gateway = behind_private_ca();
    let dir = std::env::temp_dir().join(format!("nexus-ca-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let empty = dir.join("not-a-bundle.pem");
    std::fs::write(&empty, "not a certificate\n").unwrap();
    let missing = dir.join("missing.pem");
    for (bundle, why) in [
        (empty.display().to_string(), "holds no PEM certificate"),
        (missing.display().to_string(), "cannot be read"),
    ] {
        let (_, said) = child("child_asks_the_gateways_health", &gateway, Some(&bundle));
        assert!(
            said.contains("HEALTH invalid_input")
                && said.contains(&format!("SSL_CERT_FILE {bundle}: {why}")),
            "{bundle}: {said}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
