//! A server on loopback over TLS, its certificate issued for `localhost`
//! by the test CA of the library's tests (`tests/data/private-ca.crt`), as
//! a company's private CA issues its issuer's: each path answered with the
//! JSON a function makes of the server's own origin.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;

/// The test CA the server's certificate chains to, as `SSL_CERT_FILE` names it.
pub const TEST_CA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/data/private-ca.crt");

/// Started, answering each `GET path` with `answer(origin, path)` (404 for
/// `None`): its origin, `https://localhost:PORT`.
pub fn serve(answer: fn(&str, &str) -> Option<String>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let origin = format!(
        "https://localhost:{}",
        listener.local_addr().unwrap().port()
    );
    let config = Arc::new(config());
    let at = origin.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (config, at) = (Arc::clone(&config), at.clone());
            std::thread::spawn(move || {
                let connection = rustls::ServerConnection::new(config).unwrap();
                let mut tls = rustls::StreamOwned::new(connection, stream);
                let mut asked = [0u8; 8192];
                let Ok(read) = tls.read(&mut asked) else {
                    return;
                };
                let asked = String::from_utf8_lossy(&asked[..read]);
                let path = asked.split(' ').nth(1).unwrap_or("/");
                let (status, body) = match answer(&at, path) {
                    Some(body) => ("200 OK", body),
                    None => ("404 Not Found", "{}".to_owned()),
                };
                let answer = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(answer.as_bytes());
                let _ = tls.flush();
            });
        }
    });
    origin
}

/// The server's TLS: the leaf the test CA issued for `localhost`.
fn config() -> rustls::ServerConfig {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/data");
    let chain = CertificateDer::pem_file_iter(format!("{data}/private-ca-leaf.crt")).unwrap();
    let chain = chain.collect::<Result<Vec<_>, _>>().unwrap();
    let key = PrivateKeyDer::from_pem_file(format!("{data}/private-ca-leaf.key")).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap()
}
