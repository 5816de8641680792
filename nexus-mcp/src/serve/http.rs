//! The OAuth crates' HTTP client on the ureq the SDK already uses, as
//! oauth2 keeps its own adapters in a file apiece: no redirects followed,
//! a status never an error, and a body capped.

use std::time::Duration;

/// The most an issuer's answer may weigh.
const MAX_BODY: u64 = 1 << 20;

/// An agent for an issuer's endpoints: `timeout` for each exchange.
pub(crate) fn agent(timeout: Duration) -> ureq::Agent {
    let config = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .max_redirects(0)
        .http_status_as_error(false)
        .build();
    config.into()
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
