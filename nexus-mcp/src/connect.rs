//! Connect on first use: when a call meets a provider the workspace's user
//! must connect (`NexusError::needs_connection`), and the operator named it
//! with `--connect`, the user (never the model) is sent to the Gateway's
//! consent page by an MCP URL-mode elicitation, and the call carries on once
//! the connection is active.
//!
//! - MCP 2025 (a session opened by `initialize`): the server sends
//!   `elicitation/create` and holds the call; one flow per provider at a
//!   time, the others waiting behind it.
//! - MCP 2026-07-28 (stateless): the call answers an `InputRequiredResult`
//!   holding the elicitation and a sealed `requestState` ([`crate::state`]);
//!   the retry that carries the user's answer is held until the connection
//!   is active.
//! - `serve`, MCP 2025 (stateless: no request to the client can be held):
//!   `-32042` with the elicitation, when the client takes URL elicitation
//!   ([`crate::handshake`]), else the link in the tool error; the client
//!   calls again after consent.
//!
//! In each, one connection is requested per provider while one is pending,
//! a flow has one deadline (`--connect-wait` from the first call), a user
//! who declines is not asked again for a minute, and a call that ends (its
//! client cancelled it, the server stops) drops what it holds: its wait, the
//! provider's flow, and in 2025 its own prompt, which it cancels.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use nexus_sdk::{ConnectionStatus, ErrorKind, NexusError, RequestConnectionInput, code, one_line};
use nexus_sdk_tokio::AsyncNexusClient;
use rmcp::model::{
    CancelledNotificationParam, ClientResult, ElicitRequest, ElicitRequestParams,
    ElicitationAction, InputRequest, InputRequiredResult, ProgressNotificationParam, ProgressToken,
    RequestId, ServerRequest,
};
use rmcp::service::{Peer, PeerRequestOptions, RoleServer};
use serde_json::Value;

use crate::answer::quoted;
use crate::failure::{CONNECTION_REQUIRED, Failure};
use crate::keys::HeldKeys;
use crate::principal::Principal;
use crate::state::Held;
use crate::ticket::{Links, Ticket};
use crate::tools::Named;

/// How long a user who declined is not asked again for that provider.
const ASK_AGAIN_AFTER: Duration = Duration::from_secs(60);
/// How often a held call tells its client it is alive.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);
/// How often a held call asks the Gateway whether the user has connected:
/// one call a round, so the answer follows the consent within a round.
const ROUND: Duration = Duration::from_secs(1);
/// Every this many rounds, the round asks the token route instead, which
/// tells a connection that will never become active (the Gateway's
/// check-connection says `failed` for pending and gone alike).
const PROBE_EVERY: u32 = 10;

/// What `--connect`, `--return-url` and `--connect-wait` set.
pub(crate) struct Connector {
    /// Each provider a user may connect from the host, with the scopes asked for.
    offers: Vec<crate::providers::Connectable>,
    return_url: String,
    wait: Duration,
    /// The keys held: the `requestState` is sealed with them.
    keys: Arc<HeldKeys>,
    /// Per workspace and provider ([`Call::flow`]): the 2025 flow's lock.
    slots: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Per workspace and provider: the connection requested and not yet active.
    pending: Mutex<HashMap<String, Pending>>,
    /// Held while a connection is looked for or requested, so that calls
    /// meeting a missing connection at once request one, not one each.
    requesting: tokio::sync::Mutex<()>,
    /// Per workspace and provider: how the last flow ended, and when.
    ended: Mutex<HashMap<String, Last>>,
    /// A number for each 2025 prompt, so that no two share an id.
    serial: AtomicU64,
    /// How a person consents: at the Gateway's consent URL, or through
    /// `serve`'s connect page.
    consent: Consent,
}

/// Where the user is sent to consent.
pub(crate) enum Consent {
    /// The Gateway's consent URL (stdio: the one person at the machine).
    Gateway,
    /// `serve`'s connect page: a link only the person asked can use.
    Page(Arc<Links>),
}

/// A connection requested and not yet active.
#[derive(Clone)]
struct Pending {
    url: url::Url,
    held: Arc<Held>,
}

/// How a flow ended, and when.
#[derive(Clone)]
struct Last {
    at: Instant,
    /// `Ok` when the connection became active; else the call's failure.
    outcome: Result<(), Failure>,
}

/// The call that met the missing connection: who asks, and how to tell
/// its client the call is alive.
pub(crate) struct Call<'a> {
    /// None for a request read directly, which asks nothing of its client.
    pub(crate) peer: Option<&'a Peer<RoleServer>>,
    pub(crate) progress: Option<ProgressToken>,
    pub(crate) client: &'a AsyncNexusClient,
    /// Who asks: stdio's operator, or `serve`'s verified person.
    pub(crate) principal: &'a Principal,
    pub(crate) started: Instant,
    /// Whether this request's client can send the user to a URL.
    pub(crate) url_elicitation: bool,
    /// The account's label, when `--account` names several.
    pub(crate) account: Option<&'a str>,
}

impl Call<'_> {
    /// The workspace the call acts for.
    fn workspace(&self) -> &str {
        self.principal.workspace()
    }

    /// Whose call and `provider` as a log line shows them: `serve`'s person
    /// by `who=` (never the workspace id), stdio's `workspace=`; the
    /// provider (a model's choice) quoted and cut.
    fn shown(&self, provider: &str) -> (String, String) {
        let whom = match self.principal.who() {
            Some(who) => format!("who={who}"),
            None => format!("workspace={}", one_line(self.workspace())),
        };
        (whom, quoted(provider, 64))
    }

    /// Whose connection it is, as the user and the model read it.
    fn whose(&self) -> String {
        self.principal.whose(self.account).into_owned()
    }

    /// The key of this call's flows: one per workspace and provider.
    fn flow(&self, provider: &str) -> String {
        format!("{}\0{provider}", self.workspace())
    }
}

/// A 2026-07-28 retry: the sealed state and the client's answers, with
/// what the state is bound to.
pub(crate) struct Retry<'a> {
    pub(crate) state: &'a str,
    pub(crate) responses: Option<&'a BTreeMap<String, Value>>,
    pub(crate) bound: &'a [u8],
}

impl Connector {
    /// The connector for `--connect` values (`PROVIDER[=SCOPE,SCOPE…]`), or
    /// what is wrong with one.
    pub(crate) fn new(
        connect: &[String],
        return_url: &str,
        wait: Duration,
        keys: Arc<HeldKeys>,
    ) -> Result<Self, String> {
        if !return_url.starts_with("http://") && !return_url.starts_with("https://") {
            return Err("--return-url is an http:// or https:// URL".to_owned());
        }
        Ok(Connector {
            offers: crate::providers::offers(connect)?,
            return_url: return_url.to_owned(),
            wait,
            keys,
            slots: Mutex::default(),
            pending: Mutex::default(),
            requesting: tokio::sync::Mutex::default(),
            ended: Mutex::default(),
            serial: AtomicU64::default(),
            consent: Consent::Gateway,
        })
    }

    /// This connector, sending users to consent as `consent` says.
    pub(crate) fn with_consent(mut self, consent: Consent) -> Self {
        self.consent = consent;
        self
    }

    /// Where the user is sent for `pending`: the connect page's link bound
    /// to the person who asks (`serve`), or the Gateway's consent URL.
    fn url_for(&self, call: &Call<'_>, provider: &str, pending: &Pending) -> String {
        let person = call
            .principal
            .person()
            .filter(|_| call.principal.consents());
        let (Consent::Page(links), Some(person)) = (&self.consent, person) else {
            return pending.url.to_string();
        };
        let ticket = Ticket {
            person: person.to_owned(),
            provider: provider.to_owned(),
            consent: pending.url.to_string(),
        };
        links.link(&ticket, pending.held.left())
    }

    /// The keys a `requestState` is sealed with.
    pub(crate) fn keys(&self) -> &HeldKeys {
        &self.keys
    }

    /// The names `--connect` gave, in the operator's spelling.
    pub(crate) fn names(&self) -> Vec<String> {
        self.offers.iter().map(|offer| offer.name.clone()).collect()
    }

    /// MCP 2025: has the user connect `provider` (a `--connect` name) for
    /// the call's workspace: `Ok` once the connection is active (the call
    /// then tries again), else the tool error, which never holds the
    /// consent URL.
    pub(crate) async fn connect(&self, call: &Call<'_>, named: &Named) -> Result<(), Failure> {
        let provider = named.listed.as_str();
        let slot = Arc::clone(locked(&self.slots).entry(call.flow(provider)).or_default());
        let _flow = slot.lock().await;
        if let Some(ended) = self.last(&call.flow(provider), call.started) {
            return ended;
        }
        let deadline = call.started + self.wait;
        let flow = async {
            let pending = self.pending(call, named).await?;
            self.ask(call, provider, &pending.url, deadline).await?;
            self.until_active(call, provider, &pending.held.connection, deadline)
                .await
        };
        let outcome = held(call, provider, flow).await;
        self.end(&call.flow(provider), &outcome);
        outcome
    }

    /// MCP 2026-07-28, the first call: the connection is requested (or the
    /// one pending reused) and the call answers the elicitation and a
    /// state sealed for it (`bound`, and `approved` when the operator
    /// approved it over stdio); `None` when another call's flow connected
    /// the provider since this call began (it sends again).
    pub(crate) async fn offer(
        &self,
        call: &Call<'_>,
        named: &Named,
        (bound, approved): (&[u8], bool),
    ) -> Result<Option<InputRequiredResult>, Failure> {
        let provider = named.listed.as_str();
        if let Some(ended) = self.last(&call.flow(provider), call.started) {
            return ended.map(|()| None);
        }
        let pending = self.pending(call, named).await?;
        let params = self.elicitation(call, provider, &pending, "input required");
        let asked = InputRequest::Elicitation(ElicitRequest::new(params));
        let held = Held {
            approved,
            ..(*pending.held).clone()
        };
        let state = self.keys.now().states.seal(&held, bound);
        Ok(Some(InputRequiredResult::new(
            Some(BTreeMap::from([(input_key(provider), asked)])),
            Some(state),
        )))
    }

    /// MCP 2026-07-28, the retry: `Ok` once the connection the sealed state
    /// names is active, else the tool error. A state this server did not
    /// seal for this call is refused before anything else.
    pub(crate) async fn resume(
        &self,
        call: &Call<'_>,
        named: &Named,
        retry: &Retry<'_>,
    ) -> Result<(), Failure> {
        let provider = named.listed.as_str();
        let state = self.keys.now().states.open(retry.state, retry.bound)?;
        let key = input_key(provider);
        let answer = retry.responses.and_then(|r| r.get(&key));
        let action = answer.and_then(|a| a.get("action")).and_then(Value::as_str);
        let (_, p) = call.shown(provider);
        let outcome = match action {
            Some("accept") => {
                let deadline = Instant::now() + state.left();
                let wait = self.until_active(call, provider, &state.connection, deadline);
                held(call, provider, wait).await
            }
            Some("decline") => Err(self.declined(call, &p, "declined")),
            Some("cancel") => Err(self.declined(call, &p, "cancelled")),
            // A retry refused for its own fault is this call's error: the
            // flow, and the user's page, go on for the next call.
            _ => {
                let why = format!(
                    "the retry carries no answer to {key:?} (accept, decline or cancel); call again"
                );
                return Err(Failure::refused(code::INVALID_INPUT, why));
            }
        };
        self.end(&call.flow(provider), &outcome);
        outcome
    }

    /// How the last `flow` (a workspace's provider) ended, when that is this
    /// call's answer too: it ended after the call began (another call ran
    /// it), or the user declined less than a minute ago.
    fn last(&self, flow: &str, started: Instant) -> Option<Result<(), Failure>> {
        let last = locked(&self.ended).get(flow).cloned()?;
        let recent = last.at >= started;
        let declined = matches!(last.outcome, Err(Failure::Declined(_)));
        let declined = declined && last.at.elapsed() < ASK_AGAIN_AFTER;
        (recent || declined).then_some(last.outcome)
    }

    /// Keeps how a `flow` ended; a flow that ended drops its pending connection.
    fn end(&self, flow: &str, outcome: &Result<(), Failure>) {
        if outcome.is_ok() {
            crate::metrics::connect("consented");
        }
        locked(&self.pending).remove(flow);
        let last = Last {
            at: Instant::now(),
            outcome: outcome.clone(),
        };
        locked(&self.ended).insert(flow.to_owned(), last);
    }

    /// The connection pending for `provider`, requested now when none is
    /// (or the last one's wait is over). An error when this request's
    /// client cannot send the user to a URL.
    async fn pending(&self, call: &Call<'_>, named: &Named) -> Result<Pending, Failure> {
        let provider = named.listed.as_str();
        let (ws, p) = (one_line(call.workspace()), quoted(provider, 64));
        if !call.url_elicitation && matches!(self.consent, Consent::Gateway) {
            let command = match call.account {
                None => format!(" (nexus connect {ws} {p})"),
                Some(_) => String::new(),
            };
            let why = format!(
                "`{p}` is not connected for {}, and this client cannot send the user to connect \
                 it; the person running this server can connect it{command}",
                call.whose()
            );
            log::warn!(target: "nexus_mcp", "{CONNECTION_REQUIRED}: {why}");
            return Err(Failure::refused(CONNECTION_REQUIRED, why));
        }
        let pending = self.requested(call, named).await?;
        if !call.url_elicitation {
            return Err(self.in_text(call, provider, &pending));
        }
        Ok(pending)
    }

    /// `serve`, a 2025 client: a stateless server holds no request to it.
    /// The elicitation a `-32042` error carries, when the client takes URL
    /// elicitation ([`crate::handshake`]); else the link, in the tool error.
    pub(crate) async fn link(
        &self,
        call: &Call<'_>,
        named: &Named,
    ) -> Result<ElicitRequestParams, Failure> {
        let provider = named.listed.as_str();
        let pending = self.pending(call, named).await?;
        Ok(self.elicitation(call, provider, &pending, "-32042"))
    }

    /// The URL elicitation that sends the user to connect `provider`, and
    /// the operator's line that says so (`how` the user is asked).
    fn elicitation(
        &self,
        call: &Call<'_>,
        provider: &str,
        pending: &Pending,
        how: &str,
    ) -> ElicitRequestParams {
        let (ws, p) = call.shown(provider);
        log::info!(target: "nexus_mcp", "connect provider=\"{p}\" {ws}: the user is asked to consent ({how})");
        ElicitRequestParams::UrlElicitationParams {
            meta: None,
            message: message(&p, &call.whose()),
            url: self.url_for(call, provider, pending),
            elicitation_id: format!("nexus-connect-{p}"),
        }
    }

    /// The tool error that hands the user the connect page's link: safe in
    /// the model's text, since only the person asked can use it.
    fn in_text(&self, call: &Call<'_>, provider: &str, pending: &Pending) -> Failure {
        let (_, p) = call.shown(provider);
        let why = format!(
            "`{p}` is not connected for {}: the user can connect it at {} (a link only they \
             can use, for {} min), then call again",
            call.whose(),
            self.url_for(call, provider, pending),
            pending.held.left().as_secs().div_ceil(60)
        );
        Failure::refused(CONNECTION_REQUIRED, why)
    }

    /// The connection pending for `provider`, requested now when none is.
    async fn requested(&self, call: &Call<'_>, named: &Named) -> Result<Pending, Failure> {
        let provider = named.listed.as_str();
        let _requesting = self.requesting.lock().await;
        let reused = locked(&self.pending).get(&call.flow(provider)).cloned();
        if let Some(pending) = reused.filter(|p| !p.held.left().is_zero()) {
            return Ok(pending);
        }
        let offer = self.offers.iter().find(|offer| offer.name == named.offered);
        let mut input =
            RequestConnectionInput::new(call.workspace(), provider).return_url(&self.return_url);
        input.scopes = offer.map(|offer| offer.scopes.clone()).unwrap_or_default();
        let started = call.client.run(move |c| c.request_connection(&input)).await;
        // The Gateway asked for itself: its failure is the credential service's.
        let started = started.map_err(Failure::Gateway)?;
        let url = url::Url::parse(&started.auth_url).ok();
        let Some(url) = url.filter(|u| matches!(u.scheme(), "http" | "https")) else {
            let why = "the Gateway's consent URL is not an http(s) URL";
            return Err(Failure::refused(code::INVALID_RESPONSE, why));
        };
        crate::metrics::connect("asked");
        let held = Arc::new(Held::new(&started.connection_id, self.wait));
        let pending = Pending { url, held };
        locked(&self.pending).insert(call.flow(provider), pending.clone());
        Ok(pending)
    }

    /// MCP 2025: asks the user by `elicitation/create`, until `deadline`.
    /// The prompt is cancelled (`notifications/cancelled`) if the call ends
    /// before the user answers it.
    async fn ask(
        &self,
        call: &Call<'_>,
        provider: &str,
        url: &url::Url,
        deadline: Instant,
    ) -> Result<(), Failure> {
        let (ws, p) = call.shown(provider);
        let n = self.serial.fetch_add(1, Ordering::Relaxed);
        let params = ElicitRequestParams::UrlElicitationParams {
            meta: None,
            message: message(&p, &call.whose()),
            url: url.to_string(),
            elicitation_id: format!("nexus-connect-{n}"),
        };
        let request = ServerRequest::ElicitRequest(ElicitRequest::new(params));
        let Some(peer) = call.peer else {
            let why = format!("the client could not be asked to send the user to connect `{p}`");
            return Err(Failure::refused(CONNECTION_REQUIRED, why));
        };
        let sent = peer
            .send_cancellable_request(request, PeerRequestOptions::no_options())
            .await;
        let mut handle = sent.map_err(|e| {
            let why = format!(
                "the client could not be asked to send the user to connect `{p}` ({})",
                one_line(&e.to_string())
            );
            Failure::refused(CONNECTION_REQUIRED, why)
        })?;
        log::info!(target: "nexus_mcp", "connect provider=\"{p}\" {ws}: the user is asked to consent (nexus-connect-{n})");
        let mut prompt = Prompt {
            peer: peer.clone(),
            id: Some(handle.id.clone()),
        };
        let left = deadline.saturating_duration_since(Instant::now());
        let answer = tokio::time::timeout(left, &mut handle.rx).await;
        let Ok(answer) = answer else {
            return Err(self.unanswered(call, &p));
        };
        prompt.id = None; // answered: nothing to cancel
        match answer {
            Ok(Ok(ClientResult::ElicitResult(result))) => match result.action {
                ElicitationAction::Accept => Ok(()),
                ElicitationAction::Decline => Err(self.declined(call, &p, "declined")),
                _ => Err(self.declined(call, &p, "cancelled")),
            },
            other => {
                let why = match other {
                    Ok(Err(e)) => one_line(&e.to_string()),
                    _ => "no answer".to_owned(),
                };
                let why = format!(
                    "the client answered the request to connect `{p}` with an error ({why})"
                );
                Err(Failure::refused(CONNECTION_REQUIRED, why))
            }
        }
    }

    /// The tool error of a user who left the prompt open past the wait.
    fn unanswered(&self, call: &Call<'_>, p: &str) -> Failure {
        crate::metrics::connect("expired");
        let (waited, (ws, _)) = (self.wait, call.shown(""));
        log::warn!(target: "nexus_mcp", "connect provider=\"{p}\" {ws}: the user did not answer within {waited:?} (--connect-wait)");
        let why = format!(
            "the user did not answer the request to connect `{p}` for {} within {waited:?} \
             (--connect-wait)",
            call.whose()
        );
        Failure::refused(CONNECTION_REQUIRED, why)
    }

    /// The tool error of a user who `did` (declined or cancelled).
    fn declined(&self, call: &Call<'_>, p: &str, did: &str) -> Failure {
        crate::metrics::connect("declined");
        let (ws, _) = call.shown("");
        log::info!(target: "nexus_mcp", "connect provider=\"{p}\" {ws}: the user {did}");
        Failure::Declined(format!(
            "the user {did} connecting `{p}` for {}; they are not asked again for a minute",
            call.whose()
        ))
    }

    /// Waits for `connection` to become active until `deadline`, asking
    /// the Gateway once a round.
    async fn until_active(
        &self,
        call: &Call<'_>,
        provider: &str,
        connection: &str,
        deadline: Instant,
    ) -> Result<(), Failure> {
        let p = quoted(provider, 64);
        // Half a round in, then once a round: one Gateway call a second on
        // average, and an answer within a round of the consent.
        let first = tokio::time::Instant::now() + ROUND / 2;
        let mut rounds = tokio::time::interval_at(first, ROUND);
        rounds.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        for round in 1u32.. {
            let left = deadline.saturating_duration_since(Instant::now());
            if tokio::time::timeout(left, rounds.tick()).await.is_err() {
                break;
            }
            let id = connection.to_owned();
            let seen = if round % PROBE_EVERY == 0 {
                let probed = call
                    .client
                    .run(move |c| c.get_token_by_connection_id(&id))
                    .await;
                probed.map_or_else(|e| gone_as(&e), |_| Some(ConnectionStatus::Active))
            } else {
                let checked = call.client.run(move |c| c.check_connection(&id)).await;
                checked.ok().filter(|s| *s != ConnectionStatus::Failed)
            };
            match seen {
                Some(ConnectionStatus::Active) => {
                    log::info!(target: "nexus_mcp", "connect provider=\"{p}\": connected");
                    return Ok(());
                }
                Some(gone @ (ConnectionStatus::Revoked | ConnectionStatus::Failed)) => {
                    let why = format!(
                        "the connection to `{p}` is {}; call again to connect it anew",
                        gone.as_str()
                    );
                    return Err(Failure::refused(CONNECTION_REQUIRED, why));
                }
                _ => {}
            }
        }
        let waited = self.wait;
        log::warn!(target: "nexus_mcp", "connect provider=\"{p}\": the user did not finish connecting within {waited:?} (--connect-wait)");
        let why =
            format!("the user did not finish connecting `{p}` within {waited:?} (--connect-wait)");
        Err(Failure::refused(CONNECTION_REQUIRED, why))
    }
}

/// The status a token-route error proves final, as the SDK's
/// `wait_for_active` reads it: 410 revoked; 404, 409 or an id the Gateway
/// refuses, failed; `None` while it may still become active.
fn gone_as(error: &NexusError) -> Option<ConnectionStatus> {
    match error.kind() {
        ErrorKind::Gone => Some(ConnectionStatus::Revoked),
        ErrorKind::NotFound | ErrorKind::Conflict => Some(ConnectionStatus::Failed),
        _ if error.code == nexus_sdk::code::INVALID_CONNECTION_ID => Some(ConnectionStatus::Failed),
        _ => None,
    }
}

/// The 2025 prompt a call sent, cancelled if the call ends before the
/// user answers it (the host then dismisses it).
struct Prompt {
    peer: Peer<RoleServer>,
    id: Option<RequestId>,
}

impl Drop for Prompt {
    fn drop(&mut self) {
        let Some(id) = self.id.take() else { return };
        let peer = self.peer.clone();
        let reason = Some("the call that asked ended".to_owned());
        let cancelled = CancelledNotificationParam::new(Some(id), reason);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move { peer.notify_cancelled(cancelled).await });
        }
    }
}

/// `flow` under progress: the client is told from the start, and every
/// [`PROGRESS_EVERY`], that the call is held for the user.
async fn held<T>(
    call: &Call<'_>,
    provider: &str,
    flow: impl Future<Output = Result<T, Failure>>,
) -> Result<T, Failure> {
    tokio::pin!(flow);
    let mut ticks = tokio::time::interval(PROGRESS_EVERY);
    let mut n = 0u32;
    loop {
        tokio::select! {
            done = &mut flow => return done,
            _ = ticks.tick() => {
                n += 1;
                if let (Some(token), Some(peer)) = (call.progress.clone(), call.peer) {
                    let mut tick = ProgressNotificationParam::new(token, f64::from(n));
                    tick.message = Some(format!("waiting for the user to connect {}", one_line(provider)));
                    let _ = peer.notify_progress(tick).await;
                }
            }
        }
    }
}

/// What the user reads: provider and workspace, never the URL.
fn message(p: &str, whose: &str) -> String {
    format!(
        "Connect {p} for {whose} in Nexus: sign in and allow access on the page that \
         opens; the request carries on when you are done."
    )
}

/// The key of the one input request a 2026 call answers.
fn input_key(provider: &str) -> String {
    format!("connect-{provider}")
}

/// A map's lock, whatever a panicked holder left.
fn locked<K, V>(map: &Mutex<HashMap<K, V>>) -> MutexGuard<'_, HashMap<K, V>> {
    map.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_route_error_says_gone_only_when_it_is_final() {
        let error = |status: u16, code: &str| {
            let mut error = NexusError::new(code, "m");
            error.status_code = Some(status);
            error
        };
        assert_eq!(
            gone_as(&error(410, "connection_revoked")),
            Some(ConnectionStatus::Revoked)
        );
        assert_eq!(
            gone_as(&error(404, "connection_not_found")),
            Some(ConnectionStatus::Failed)
        );
        assert_eq!(
            gone_as(&error(400, "invalid_connection_id")),
            Some(ConnectionStatus::Failed)
        );
        assert_eq!(gone_as(&error(400, "connection_not_active")), None);
        assert_eq!(gone_as(&error(502, "broker_error")), None);
    }
}
