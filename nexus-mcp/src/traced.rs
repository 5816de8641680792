//! The API's requests traced, each a client span of its own: the first
//! and every redirect hop the library follows, seen by a middleware of the
//! library's agent ([`client_agent`]), so each span has
//! its own answer's status (the 302, then the 200). A hop's URL (the API
//! wrote it) is written only once the core's echo rule has looked in it for
//! the call's credential ([`CachedToken::echoed_in`](nexus_sdk::CachedToken::echoed_in)),
//! its path `REDACTED` where it found it. The API is sent each request's
//! own trace context only with `--trace-context-to-api`. A span ends when
//! the next request goes or the call ends ([`crate::on_thread::Working`]),
//! with the call's error if it failed after its answer's head.

use nexus_sdk::http::{HeaderName, HeaderValue, Request, Response};
use opentelemetry::Context;
use ureq::config::ConfigBuilder;
use ureq::middleware::MiddlewareNext;
use ureq::typestate::AgentScope;
use ureq::{Body, SendBody};

use crate::on_thread;
use crate::span::Span;

/// The library client's HTTP agent: with traces on, each API request a
/// span of its own ([`api_request`]); its connections held to the
/// public-address rule ([`crate::addresses::client_agent`]).
pub(crate) fn client_agent(config: ConfigBuilder<AgentScope>) -> ureq::Agent {
    let config = if crate::telemetry::on() {
        config.middleware(api_request)
    } else {
        config
    };
    crate::addresses::client_agent(config)
}

/// `request` sent on: a span of its own when this thread works for a
/// traced call, else as it is.
pub(crate) fn api_request(
    mut request: Request<SendBody>,
    next: MiddlewareNext,
) -> Result<Response<Body>, ureq::Error> {
    let (traced, sent) = on_thread::with(|on| (on.traced.clone(), on.sending.take()));
    let Some(traced) = traced else {
        return next.handle(request);
    };
    // The request before it (a redirect) has its answer: its span ends.
    // This one is a hop, whose URL the API wrote: looked at for the call's
    // credential before it is written (the first is the call's own URL,
    // which no one who holds the credential wrote).
    let hop = sent.is_some();
    drop(sent);
    let uri = request.uri();
    let token = traced.token.as_ref().filter(|_| hop);
    let echoed = token.is_some_and(|token| token.echoed_in(&uri.to_string()));
    let method = request.method().as_str();
    let mut span = Span::http_client(&Context::current(), method, (uri, !echoed));
    if traced.to_api {
        for (name, value) in crate::telemetry::outgoing(span.context()) {
            let name = HeaderName::from_bytes(name.as_bytes());
            if let (Ok(name), Ok(value)) = (name, HeaderValue::from_str(&value)) {
                request.headers_mut().insert(name, value);
            }
        }
    }
    let answer = next.handle(request);
    let refused = on_thread::with(|on| on.refused);
    match &answer {
        Ok(response) => span.answered(response.status().as_u16()),
        Err(_) if refused => span.failed(nexus_sdk::code::ORIGIN_NOT_ALLOWED),
        Err(ureq::Error::Timeout(_)) => span.failed(nexus_sdk::code::TIMEOUT),
        Err(_) => span.failed(nexus_sdk::code::REQUEST_FAILED),
    }
    on_thread::with(|on| on.sending = Some(span));
    answer
}
