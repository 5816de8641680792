//! The program's own HTTP exchanges (`serve`'s with the issuer, its
//! client documents and its store's TLS; the OTLP exporter's) on the ureq
//! the SDK already uses, trusting what the Gateway client trusts; and the
//! OAuth crates' HTTP client on it, as oauth2 keeps its own adapters in a
//! file apiece: no redirects followed, a status never an error, and a body
//! capped.

use std::time::Duration;

/// The most an issuer's answer may weigh.
const MAX_BODY: u64 = 1 << 20;

/// An agent for an issuer's endpoints: `timeout` for each exchange.
pub(crate) fn agent(timeout: Duration) -> ureq::Agent {
    config(timeout).build().into()
}

/// What every agent of `serve`'s is built from: `timeout` for each
/// exchange, no redirect followed, a status never an error, and the
/// Gateway client's trust ([`trusted`]).
pub(crate) fn config(
    timeout: Duration,
) -> ureq::config::ConfigBuilder<ureq::typestate::AgentScope> {
    ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .max_redirects(0)
        .http_status_as_error(false)
        .tls_config(trusted())
}

/// The TLS the Gateway client trusts (the webpki roots, and the bundle
/// `SSL_CERT_FILE` names), read through the library so that every program
/// trusts alike. `main` built the client first, which refused a bundle
/// that does not parse; one that broke since trusts nothing (every TLS
/// exchange then fails), never the default roots alone.
pub(crate) fn trusted() -> ureq::tls::TlsConfig {
    nexus_sdk::setting::tls().unwrap_or_else(|e| {
        log::error!(
            "{}; no TLS peer is trusted",
            nexus_sdk::one_line(&e.to_string())
        );
        let nothing = ureq::tls::RootCerts::new_with_certs(&[]);
        ureq::tls::TlsConfig::builder().root_certs(nothing).build()
    })
}

/// One HTTP exchange for the OpenID Connect and OAuth crates, on `agent`.
pub(crate) fn call(
    agent: &ureq::Agent,
    request: oauth2::HttpRequest,
) -> Result<oauth2::HttpResponse, ureq::Error> {
    let mut answer = agent.run(request)?;
    let status = answer.status();
    let headers = answer.headers().clone();
    let body = answer
        .body_mut()
        .with_config()
        .limit(MAX_BODY)
        .read_to_vec()?;
    let mut response = oauth2::HttpResponse::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    Ok(response)
}
