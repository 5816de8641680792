//! What stands before rmcp ([`guard`]): the site's `Host` and `Origin`
//! rules, the bearer check, the deny list, and what their refusals tell the
//! operator.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::{Request, State};
use axum::http::{HeaderName, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::args::Site;
use super::bearer::{self, Gate};
use super::refusal::{ErrorCode, OAuthError};
use super::told::{self, Told};
use super::{closing, deny};
use crate::handshake::{Handshake, SESSION_ID};

/// The most an MCP request's body may weigh (413).
pub(super) const MAX_BODY: usize = 1 << 20;
/// What a proxy in front says the client's scheme was.
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
/// What stands before rmcp: the site's `Host` and `Origin` rules, the
/// bearer check, and what their refusals tell the operator.
pub(super) struct Door {
    gate: Arc<Gate>,
    public: url::Url,
    /// The public URL's authority as its clients' `Host` says it (its port
    /// only when not the scheme's): a `Host` equal to it is this site's
    /// with no URL parsed; any other is parsed and compared.
    authority: String,
    origins: Vec<url::Origin>,
    told: Told,
    deny: Arc<deny::DenyList>,
    /// Whether a proxy's `https` beside an `http` public URL was said.
    said_https: std::sync::atomic::AtomicBool,
}

/// Every MCP request passes here first: read whole (no answer then closes
/// its connection), a `Host` naming the public URL's authority (its port
/// included) and an allowed `Origin` if any, then no verified person, no
/// rmcp. A 2025 client's `initialize` is answered with the session id its
/// [`Handshake`] gives, if any; no session is kept.
pub(super) async fn guard(State(door): State<Arc<Door>>, request: Request, next: Next) -> Response {
    let said = told::asked(request.headers());
    let mut request = match closing::read_whole(request, MAX_BODY).await {
        Ok(request) => request,
        Err(status) => return door.before_mcp(status, &said).into_response(),
    };
    door.proxied(request.headers());
    if let Err((reason, why)) = door.site(request.headers()) {
        crate::metrics::refused(reason);
        door.told.warn(reason, &format!("refused a request: {why}"));
        return (StatusCode::FORBIDDEN, why).into_response();
    }
    let gate = &door.gate;
    let admitted = gate.admit(request.headers(), request.uri().query()).await;
    let principal = match admitted {
        Ok(principal) => principal,
        Err(refusal) => {
            door.tell(&refusal, request.headers());
            return gate.answer(refusal).into_response();
        }
    };
    let denied = |person: String| door.deny.denies(&person);
    if door.deny.names_people() && principal.person().is_some_and(denied) {
        crate::metrics::refused("denied");
        let who = principal.who().unwrap_or_default();
        door.told.warn(
            &format!("denied {who}"),
            &format!("refused who={who}: --deny-file names them"),
        );
        let why = "this server's operator has denied this person access";
        return OAuthError::new(StatusCode::FORBIDDEN, ErrorCode::AccessDenied, why)
            .into_response();
    }
    if request.method() == Method::DELETE {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    let bounded = principal
        .agent()
        .and_then(|agent| agent.boundary.as_deref());
    if let Some(boundary) = bounded {
        let (parts, body) = request.into_parts();
        let body = axum::body::to_bytes(body, MAX_BODY)
            .await
            .unwrap_or_default();
        if let Some(need) = super::boundary::beyond(boundary, &body) {
            return door.beyond(&principal, boundary, &need);
        }
        request = Request::from_parts(parts, axum::body::Body::from(body));
    }
    if let bearer::Hosts::Proxy(front) = &gate.hosts {
        front.called(&principal);
    }
    let handshake = Handshake::default();
    request.extensions_mut().insert(principal);
    request.extensions_mut().insert(handshake.clone());
    let mut response = next.run(request).await;
    if response.status().is_client_error() {
        // rmcp's own refusals (a version or header the body disagrees with,
        // a body that is no JSON-RPC): said with what was sent.
        door.before_mcp(response.status(), &said);
    }
    if let Some(id) = handshake.session_id() {
        response.headers_mut().insert(SESSION_ID, id);
    }
    response
}

/// `public`'s authority as a `Host` header says it.
fn authority(public: &url::Url) -> String {
    let host = public.host_str().unwrap_or_default();
    match public.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

impl Door {
    /// A bounded agent's call beyond its boundary (`need` it does not hold):
    /// 403 `insufficient_scope`, the challenge naming the scopes it holds
    /// and the one the call needs (a host may step up), and the operator's
    /// line naming the agent, what it holds and what it needs.
    fn beyond(
        &self,
        principal: &crate::principal::Principal,
        boundary: &[String],
        need: &str,
    ) -> Response {
        crate::metrics::refused("insufficient_scope");
        let agent = principal.agent().map_or("", |agent| agent.name.as_str());
        let who = principal.who().unwrap_or_default();
        let client = principal.oauth_client().unwrap_or_default();
        let held = boundary.join(" ");
        let agent = crate::answer::quoted(agent, 64);
        log::warn!(target: "nexus_mcp", "refused agent=\"{agent}\" oauth_client={client} who={who}: the call needs the scope {need}; the agent's token holds {held:?}");
        let mut scopes = boundary.to_vec();
        scopes.push(need.to_owned());
        let why = format!("this call needs the scope {need}, which this token does not hold");
        self.gate.insufficient(&scopes, &why)
    }

    /// The door of `site`, its bearer check `gate`.
    pub(super) fn new(gate: Arc<Gate>, site: &Site) -> Door {
        Door {
            gate,
            origins: (site.origins.iter())
                .filter_map(|o| url::Url::parse(o).ok().map(|u| u.origin()))
                .collect(),
            public: site.public.clone(),
            authority: authority(&site.public),
            told: Told::default(),
            deny: Arc::clone(&site.deny),
            said_https: Default::default(),
        }
    }

    /// `Ok` when `headers` name this site: the `Host` is the public URL's
    /// authority (a port absent is the scheme's default), and an `Origin`,
    /// when sent, is allowed, its port included; else why not, with what
    /// was expected.
    fn site(&self, headers: &axum::http::HeaderMap) -> Result<(), (&'static str, String)> {
        let text = |name| {
            headers
                .get(name)
                .map(|v| v.to_str().unwrap_or("(not text)"))
        };
        let host = text(axum::http::header::HOST).unwrap_or("");
        if !self.names_us(host) {
            let expected = self.public.origin().ascii_serialization();
            return Err((
                "host",
                format!(
                    "Host {host:?} is not this server's ({expected}, from --public-url): a proxy \
                 in front must pass the Host it was asked for (nginx: proxy_set_header Host \
                 $http_host)"
                ),
            ));
        }
        let Some(origin) = text(axum::http::header::ORIGIN) else {
            return Ok(());
        };
        let parsed = url::Url::parse(origin).map(|u| u.origin());
        if parsed.is_ok_and(|o| self.origins.contains(&o)) {
            return Ok(());
        }
        let allowed: Vec<String> = (self.origins.iter())
            .map(|o| o.ascii_serialization())
            .collect();
        Err((
            "origin",
            format!(
                "Origin {origin:?} is not allowed (allowed: {}; more with --allowed-origin)",
                allowed.join(", ")
            ),
        ))
    }

    /// Whether the `Host` `host` names the public URL's origin: as its
    /// clients say it (compared as is), or in another spelling (a port the
    /// scheme's default, capitals: parsed), and with no userinfo.
    fn names_us(&self, host: &str) -> bool {
        if host == self.authority {
            return true;
        }
        let as_url = url::Url::parse(&format!("{}://{host}/", self.public.scheme()));
        let ours = as_url.is_ok_and(|u| u.origin() == self.public.origin() && u.path() == "/");
        ours && !host.contains('@')
    }

    /// Says once, as a configuration error, that a proxy in front speaks
    /// https (`X-Forwarded-Proto`, `Forwarded: proto=`) while the public URL
    /// is http: clients are then told an http URL they never reach.
    fn proxied(&self, headers: &axum::http::HeaderMap) {
        if self.public.scheme() != "http" || self.said_https.load(Ordering::Relaxed) {
            return;
        }
        let text = |name| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
        };
        let forwarded = text(header::FORWARDED).to_ascii_lowercase();
        let https = text(X_FORWARDED_PROTO).eq_ignore_ascii_case("https")
            || forwarded
                .split([';', ','])
                .any(|p| p.trim() == "proto=https");
        if https && !self.said_https.swap(true, Ordering::Relaxed) {
            let public = self.public.as_str();
            log::error!(target: "nexus_mcp", "configuration: a proxy in front says the request came over https, but --public-url is {public}: the metadata names that http URL to clients, and tokens must name it; set --public-url to the https URL clients use");
        }
    }

    /// A request refused before MCP (`status`), said in the log with what it
    /// said of itself and counted; the status, to answer it with.
    fn before_mcp(&self, status: StatusCode, said: &told::Asked) -> StatusCode {
        let line = format!("refused a request ({status}) before MCP: {said}");
        self.told.warn(status.as_str(), &line);
        crate::metrics::refused(&format!("http_{}", status.as_u16()));
        status
    }

    /// Tells the operator why a token was refused (a missing one is every
    /// client's first step, not a refusal worth a line).
    fn tell(&self, refusal: &bearer::Refusal, headers: &axum::http::HeaderMap) {
        let gate = &self.gate;
        let code = refusal.code();
        let (reason, status) = match refusal {
            bearer::Refusal::NoToken => return crate::metrics::refused(code),
            bearer::Refusal::InvalidRequest(why) | bearer::Refusal::InvalidToken(why) => {
                (why.as_str(), 401)
            }
            bearer::Refusal::InsufficientScope(why) => (why.as_str(), 403),
            bearer::Refusal::Unavailable(why) => (why.as_str(), 503),
            bearer::Refusal::HeadersTooLarge => ("headers too large", 431),
        };
        crate::metrics::refused(code);
        let token = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' ').map(|(_, t)| t.trim()));
        let facts = match token {
            Some(token) if status == 401 || status == 403 => {
                let audiences: Vec<&str> = std::iter::once(gate.resource.as_str())
                    .chain(gate.audiences.iter().map(String::as_str))
                    .collect();
                let now = jsonwebtoken::get_current_timestamp();
                format!(
                    ": {}",
                    told::token_facts(token, gate.issuer.url(), &audiences, now)
                )
            }
            _ => String::new(),
        };
        let line = format!("refused a token ({status}, {reason}){facts}");
        self.told.warn(reason, &line);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_authority_is_said_as_a_host_header_says_it() {
        let said = |url: &str| super::authority(&url::Url::parse(url).unwrap());
        assert_eq!(said("https://mcp.example/mcp"), "mcp.example");
        assert_eq!(said("https://mcp.example:443/mcp"), "mcp.example");
        assert_eq!(said("http://127.0.0.1:8080/mcp"), "127.0.0.1:8080");
        assert_eq!(said("http://[::1]:8080/mcp"), "[::1]:8080");
    }
}
