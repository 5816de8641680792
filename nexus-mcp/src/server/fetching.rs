//! A fetch's flow, from the arguments checked to the API's answer: the
//! call's life and audit line, the policy's decision, the connection asked
//! for on first use, and the request sent on the call's own thread (the
//! Gateway's resolve and the API's request each a span when traced).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use nexus_sdk::http::Request;
use nexus_sdk::{FetchResponse, NexusError, code, one_line};
use opentelemetry::trace::{SpanKind, TraceContextExt as _};
use opentelemetry::{Context, KeyValue};
use rmcp::model::CallToolRequestParams;

use super::approving::Approval;
use super::inbound::Inbound;
use super::{Mode, NexusServer};
use crate::approval::APPROVAL_REQUIRED;
use crate::calls::{Caller, Ended, audit};
use crate::connect::{Call, Retry};
use crate::decisions::Ruling;
use crate::failure::Failure;
use crate::handshake;
use crate::on_thread::{Traced, Working};
use crate::policy::Sending;
use crate::reply::{Answer, failed};
use crate::span::Span;
use crate::telemetry;
use crate::tools::{Fetch, FetchArgs};

/// The Gateway's resolve as a client span under `parent`: its route,
/// never its query (the workspace and provider).
fn resolve_span(parent: &Context) -> Span {
    let attributes = vec![
        KeyValue::new("http.request.method", "GET"),
        KeyValue::new("url.template", "/v1/resolve"),
    ];
    let name = "GET /v1/resolve".into();
    Span::child(parent, name, SpanKind::Client, attributes)
}

impl NexusServer {
    /// A fetch under the call's life (stop, cancel), and its audit line.
    pub(super) async fn fetch_call(
        &self,
        args: &FetchArgs,
        request: &CallToolRequestParams,
        inbound: Inbound<'_>,
        caller: &Caller,
    ) -> Result<Answer, Failure> {
        let started = Instant::now();
        let fetch = self.fetch(args, request, inbound, caller, started);
        let answer = self.calls.run(fetch, inbound.ct()).await;
        let ended = match &answer {
            Ok(Answer::Fetched(response)) => Ended::Answered(response),
            Ok(_) => Ended::InputRequired,
            Err(failure) => Ended::Failed(failure),
        };
        audit(args, &ended, started, caller);
        // A person's provider not connected: the operator's next step.
        if let (Mode::Serve { hint, .. }, Some(who), Err(Failure::Unconnected { .. })) =
            (&self.settings.mode, caller.principal.who(), &answer)
        {
            hint.tell(&who, &args.provider, caller.account.as_deref());
        }
        answer
    }

    /// `authenticated_fetch`: the API's answer; on MCP 2026-07-28, the
    /// user's input a missing connection needs; else the call's failure.
    async fn fetch(
        &self,
        args: &FetchArgs,
        request: &CallToolRequestParams,
        inbound: Inbound<'_>,
        caller: &Caller,
        started: Instant,
    ) -> Result<Answer, Failure> {
        let mut fetch = self.check(args, &caller.principal).await?;
        // How the user is asked (read from the request) only when one is.
        let asking = || self.asking(inbound, caller, started);
        // A retry whose state an approval took: none is left for a connection.
        let mut state = request.request_state.as_ref();
        let mut approved = None;
        let bytes = fetch.url.len() + fetch.options.data.as_ref().map_or(0, Vec::len);
        let ruling = crate::contents::aside(bytes, || self.permitted(&mut fetch, caller));
        match ruling {
            Ruling::Permit(_) => {}
            Ruling::Deny(failure) => return Err(failure),
            Ruling::Ask(asked) => {
                // (The rare steps, an approval and a connection, are boxed:
                // their futures are large, and inline a warm call's would move
                // their room on every call.)
                // A 2025 host that sends the user to a URL is sent the page.
                let by_url = asking().url_elicitation && !inbound.modern();
                let bound = args.bound(&caller.principal);
                let asking_how = (inbound, request, by_url);
                let approval = Box::pin(self.approval(&mut fetch, (&asked, &bound), asking_how));
                match approval.await? {
                    Approval::Url(elicitation) => return Ok(Answer::UrlRequired(elicitation)),
                    Approval::Input(input) => return Ok(Answer::InputRequired(input)),
                    Approval::Approved(used) => {
                        state = state.filter(|_| !used.took_state);
                        approved = Some(used);
                    }
                }
            }
        }
        let connector = &self.settings.connector;
        if let Some(state) = state {
            // A retry: nothing is sent unless the state is this server's, for this call.
            let retry = Retry {
                state,
                responses: request.input_responses.as_ref(),
                bound: &args.bound(&caller.principal),
            };
            let Some(named) = &fetch.connect else {
                let why = "invalid or expired requestState (not for a provider this server \
                           connects)";
                return Err(Failure::refused(code::INVALID_INPUT, why));
            };
            Box::pin(connector.resume(&asking(), named, &retry)).await?;
            return self.send(&fetch, caller).await.map(Answer::Fetched);
        }
        let unconnected = match self.send(&fetch, caller).await {
            Err(unconnected @ Failure::Unconnected { .. }) => unconnected,
            sent => return sent.map(Answer::Fetched),
        };
        // Nothing was sent: an approval taken waits for the call made again.
        if let Some(used) = &approved {
            self.unspent(used).await;
        }
        let approved_here = approved.is_some_and(|used| used.taken.is_none());
        let first_use = (unconnected, inbound, approved_here);
        Box::pin(self.first_use(&fetch, (args, caller), asking(), first_use)).await
    }

    /// A provider `unconnected` on the call's first use: connected where
    /// `--connect` names it (found as the Gateway finds names) and `--policy`
    /// lets this person connect it, as the host can ask (a 2025 host sent to
    /// the link, a 2026-07-28 host asked for input), then the request sent.
    async fn first_use(
        &self,
        fetch: &Fetch,
        (args, caller): (&FetchArgs, &Caller),
        asking: Call<'_>,
        (unconnected, inbound, approved_here): (Failure, Inbound<'_>, bool),
    ) -> Result<Answer, Failure> {
        let connector = &self.settings.connector;
        let policy = self.settings.policy.as_deref();
        let Some(named) = fetch.connect.as_ref() else {
            return Err(unconnected);
        };
        if !crate::decisions::permits(policy, "connect", caller.asking(), &fetch.provider) {
            let why = format!(
                "{} is not connected, and this server's policy does not let this person connect \
                 it",
                one_line(&fetch.provider)
            );
            return Err(Failure::refused(crate::decisions::POLICY_DENIED, why));
        }
        let modern = inbound.modern();
        if !modern && caller.principal.is_served() {
            // `serve` holds no request to a 2025 client: `-32042`, or the link.
            let link = Box::pin(connector.link(&asking, named));
            return link.await.map(Answer::UrlRequired);
        } else if !modern {
            Box::pin(connector.connect(&asking, named)).await?;
        } else {
            // Over stdio no store keeps the operator's approval: its state does.
            let bound = args.bound(&caller.principal);
            let offer = connector.offer(&asking, named, (&bound, approved_here));
            if let Some(input) = Box::pin(offer).await? {
                return Ok(Answer::InputRequired(input));
            }
        }
        self.send(fetch, caller).await.map(Answer::Fetched)
    }

    /// Whether `--policy` lets the caller make this request, decided on the
    /// request as it will be sent (a permit sets the URL decided on); the
    /// operator told when not. Nothing is resolved or sent before.
    fn permitted(&self, fetch: &mut Fetch, caller: &Caller) -> Ruling {
        let account = caller.account.as_deref().unwrap_or_default();
        let held = self.settings.policy.clone();
        let mut ruling = Ruling::Permit(fetch.url.clone());
        // Without a policy nothing is read: a call pays for no reading.
        if let Some(held) = &held {
            let mut deciding = telemetry::on().then(|| {
                let decide = "policy decide".into();
                Span::child(&Context::current(), decide, SpanKind::Internal, Vec::new())
            });
            let options = &fetch.options;
            let body = options.data.as_deref();
            let read = (fetch.url.as_str(), body);
            let methods =
                crate::decisions::methods_read(held, &options.method, &options.headers, read);
            ruling = match methods {
                Err(why) => Ruling::Deny(crate::decisions::unreadable(&caller.principal, why)),
                Ok(methods) => {
                    let call = (fetch.provider.as_str(), &methods[..], account);
                    let sending = Sending {
                        url: &fetch.url,
                        headers: &options.headers,
                        body,
                        graphql: &self.settings.graphql_endpoints,
                    };
                    crate::decisions::call_permitted(Some(held), caller.asking(), call, sending)
                }
            };
            if let Some(span) = &mut deciding {
                let outcome = KeyValue::new("nexus.policy.outcome", ruling.outcome());
                span.context().span().set_attribute(outcome);
                let failed = match &ruling {
                    Ruling::Deny(failure) => failure.code(),
                    Ruling::Ask(_) => APPROVAL_REQUIRED,
                    Ruling::Permit(_) => "",
                };
                span.failed(failed);
            }
        }
        match &ruling {
            Ruling::Deny(_) => return ruling,
            Ruling::Permit(url) => fetch.url.clone_from(url),
            Ruling::Ask(_) => {}
        }
        let asking = (&caller.principal, caller.client.as_str());
        let call = (fetch.provider.as_str(), account);
        let trusted = Arc::clone(&self.settings.redirect_origins);
        let graphql = Arc::clone(&self.settings.graphql_endpoints);
        let options = std::mem::take(&mut fetch.options);
        let rules = (held, trusted, graphql, self.settings.allow_write);
        fetch.options = crate::decisions::Hop::bounding(options, &fetch.url, rules, asking, call);
        ruling
    }

    /// The call as the connector asks its user: read from the request
    /// itself (its `_meta` on 2026-07-28, the session's `initialize` before,
    /// and in `serve` the session id that `initialize` was answered with).
    fn asking<'a>(
        &'a self,
        inbound: Inbound<'a>,
        caller: &'a Caller,
        started: Instant,
    ) -> Call<'a> {
        let capabilities = inbound.client_capabilities();
        let elicitation = capabilities.and_then(|c| c.elicitation);
        let stateless_2025 = !inbound.modern() && caller.principal.is_served();
        let url_elicitation = match inbound.parts() {
            Some(parts) if stateless_2025 => handshake::url_elicitation(&parts.headers),
            _ => elicitation.is_some_and(|e| e.url.is_some()),
        };
        Call {
            peer: inbound.peer(),
            progress: inbound.meta().get_progress_token(),
            client: &self.client,
            principal: &caller.principal,
            started,
            url_elicitation,
            account: caller.account.as_deref(),
        }
    }

    /// The checked request, sent on the call's own thread (so that the
    /// library's lines name the call) in one step: the scope check and the
    /// token first (a wait at the Gateway's rate limit included), resolved
    /// once and kept in the cache the request then reads it from (a URL
    /// that does not build is refused by the request itself). A call cancelled before its
    /// request goes (its future dropped, during the token wait too) never
    /// sends it. A provider the user must connect is [`Failure::Unconnected`].
    async fn send(&self, fetch: &Fetch, caller: &Caller) -> Result<FetchResponse, Failure> {
        let call = caller.call;
        let cache = Arc::clone(&self.cache);
        let (workspace, provider) = (fetch.workspace.clone(), fetch.provider.clone());
        let (url, options) = (fetch.url.clone(), fetch.options.clone());
        let dropped = crate::calls::Dropped::default();
        let cancelled = Arc::clone(&dropped.0);
        let method = fetch.options.method.clone();
        let traced = telemetry::on().then(Context::current);
        let to_api = self.settings.trace_context_to_api;
        let sent = self.client.run(move |c| {
            // The library's lines name the call; its connections and (traced)
            // its API requests read the call's context until it ends.
            let working = Working::start(call);
            // The scope check and the token, as the request will ask them. A
            // URL `http` cannot take as written (a blank, a non-ASCII
            // character: the library encodes them, as a browser does) skips
            // this step: the fetch checks and asks the same itself, and only
            // `nexus_mcp_gateway_requests_total` counts its resolve.
            let asked = Request::builder().method(method.as_str()).uri(&url);
            // A token not fresh in the cache is asked of the Gateway now.
            let missed = c
                .fresh_cached_token(&cache, &workspace, &provider)
                .is_none();
            let mut asked = asked.body(Vec::<u8>::new()).ok();
            if let Some(request) = &mut asked {
                // Current while the library asks the Gateway, which it
                // carries to it.
                let mut resolving = traced.as_ref().filter(|_| missed).map(resolve_span);
                let current = resolving.as_ref().map(|s| s.context().clone().attach());
                let authorized = c.authorize(&cache, &workspace, &provider, request);
                let failed = authorized.as_ref().err().map(|e| e.code.as_str());
                if missed {
                    crate::metrics::gateway("resolve", failed.unwrap_or("ok"));
                }
                drop(current);
                if let (Some(span), Some(failed)) = (&mut resolving, failed) {
                    span.failed(failed);
                }
                if let Err(error) = authorized {
                    return Ok(Err(Failure::Gateway(error)));
                }
            }
            if cancelled.load(Ordering::Relaxed) {
                let cancelled =
                    NexusError::new(code::INVALID_INPUT, "cancelled before it was sent");
                return Ok(Err(Failure::Sdk(cancelled)));
            }
            // The call current while the library sends it, each API request
            // (each redirect hop) a span of its own under it.
            let _current = traced.clone().map(Context::attach);
            if traced.is_some() {
                let token = c.fresh_cached_token(&cache, &workspace, &provider);
                working.trace(Traced { token, to_api });
            }
            let fetched = c.authenticated_fetch(&cache, &workspace, &provider, &url, options);
            let fetched = match fetched {
                // A redirect the address rule refused as it connected.
                Err(_) if working.refused() => Err(crate::decisions::not_followed()),
                fetched => fetched,
            };
            if let Err(e) = &fetched {
                working.failed(e.code.as_str());
            }
            // The token the request went with gone, none in its place: the
            // API refused it, and the Gateway failed to give another.
            let asked = |e| match c.fresh_cached_token(&cache, &workspace, &provider) {
                None => Failure::Gateway(e),
                Some(_) => Failure::Sdk(e),
            };
            Ok(fetched.map_err(asked))
        });
        let sent = sent.await.unwrap_or_else(|e| Err(Failure::Sdk(e)));
        sent.map_err(|e| failed(e, fetch, &caller.principal))
    }
}
