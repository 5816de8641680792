//! Connect on first use: when a call meets a provider the workspace's user
//! must connect (`NexusError::needs_connection`), and the operator named it
//! with `--connect`, the user (never the model) is sent to the Gateway's
//! consent page by MCP URL-mode elicitation, and the call carries on once
//! the connection is active. One connection per provider at a time, however
//! many calls meet it; a user who declines is not asked again for a minute.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nexus_sdk::{ConnectionStatus, RequestConnectionInput, WaitOptions, one_line};
use nexus_sdk_tokio::AsyncNexusClient;
use rmcp::model::{ElicitationAction, ProgressNotificationParam, ProgressToken};
use rmcp::service::{ElicitationError, ElicitationMode, Peer, RoleServer};

/// How long a user who declined is not asked again for that provider.
const ASK_AGAIN_AFTER: Duration = Duration::from_secs(60);
/// How often a call held for consent tells its client it is alive.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// What `--connect`, `--return-url` and `--connect-wait` set.
pub(crate) struct Connector {
    /// Each provider a user may connect from the host, with the scopes asked for.
    offers: Vec<(String, Vec<String>)>,
    return_url: String,
    wait: Duration,
    /// Per provider: the flow under way (its lock), and how the last one ended.
    slots: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Option<Ended>>>>>,
    /// A number for each elicitation, so that no two share an id.
    serial: std::sync::atomic::AtomicU64,
}

/// How a flow ended, and when.
#[derive(Clone)]
struct Ended {
    at: Instant,
    /// `Ok` when the connection became active; else the tool error.
    outcome: Result<(), String>,
    declined: bool,
}

/// The call that met the missing connection: who asks, and how to tell
/// its client the call is alive.
pub(crate) struct Call<'a> {
    pub(crate) peer: &'a Peer<RoleServer>,
    pub(crate) progress: Option<ProgressToken>,
    pub(crate) client: &'a AsyncNexusClient,
    pub(crate) workspace: &'a str,
    pub(crate) started: Instant,
}

impl Connector {
    /// The connector for `--connect` values (`PROVIDER[=SCOPE,SCOPE…]`), or
    /// what is wrong with one.
    pub(crate) fn new(
        connect: &[String],
        return_url: &str,
        wait: Duration,
    ) -> Result<Self, String> {
        let mut offers = Vec::new();
        for value in connect {
            let (name, scopes) = value.split_once('=').unwrap_or((value, ""));
            let scopes: Vec<String> = scopes
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            if name.trim().is_empty() {
                return Err(format!(
                    "--connect {:?}: a provider name comes first",
                    one_line(value)
                ));
            }
            offers.push((name.trim().to_owned(), scopes));
        }
        if !return_url.starts_with("http://") && !return_url.starts_with("https://") {
            return Err("--return-url is an http:// or https:// URL".to_owned());
        }
        Ok(Connector {
            offers,
            return_url: return_url.to_owned(),
            wait,
            slots: Mutex::default(),
            serial: Default::default(),
        })
    }

    /// The names `--connect` gave, in the operator's spelling.
    pub(crate) fn names(&self) -> Vec<String> {
        self.offers.iter().map(|(name, _)| name.clone()).collect()
    }

    /// Has the user connect `provider` (a `--connect` name) for the
    /// call's workspace: `Ok` once the connection is active (the call then
    /// tries again), else the tool error, which never holds the consent URL.
    pub(crate) async fn connect(&self, call: &Call<'_>, provider: &str) -> Result<(), String> {
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
            Arc::clone(slots.entry(provider.to_owned()).or_default())
        };
        let mut last = slot.lock().await;
        if let Some(ended) = last.as_ref() {
            // Another call ran the flow while this one waited: its outcome is this one's.
            if ended.at >= call.started {
                return ended.outcome.clone();
            }
            if ended.declined && ended.at.elapsed() < ASK_AGAIN_AFTER {
                return ended.outcome.clone();
            }
        }
        let (outcome, declined) = match self.flow(call, provider).await {
            Ok(()) => (Ok(()), false),
            Err((message, declined)) => (Err(message), declined),
        };
        *last = Some(Ended {
            at: Instant::now(),
            outcome: outcome.clone(),
            declined,
        });
        outcome
    }

    /// One flow: request the connection, send the user to consent, wait.
    /// An error says whether the user declined.
    async fn flow(&self, call: &Call<'_>, provider: &str) -> Result<(), (String, bool)> {
        let (ws, p) = (one_line(call.workspace), one_line(provider));
        let not_connected = format!(
            "connection_required: `{p}` is not connected for workspace `{ws}`, and this client \
             cannot send the user to connect it; the person running this server can connect \
             it (nexus connect {ws} {p})"
        );
        if !call
            .peer
            .supported_elicitation_modes()
            .contains(&ElicitationMode::Url)
        {
            log::warn!(target: "nexus_mcp", "{not_connected}");
            return Err((not_connected, false));
        }
        let scopes = self.offers.iter().find(|(name, _)| name == provider);
        let mut input =
            RequestConnectionInput::new(call.workspace, provider).return_url(&self.return_url);
        input.scopes = scopes.map(|(_, scopes)| scopes.clone()).unwrap_or_default();
        let started = call.client.run(move |c| c.request_connection(&input)).await;
        let started = started.map_err(|e| (crate::answer::said(&e), false))?;
        let url = url::Url::parse(&started.auth_url).ok();
        let Some(url) = url.filter(|u| matches!(u.scheme(), "http" | "https")) else {
            let why = "invalid_response: the Gateway's consent URL is not an http(s) URL";
            return Err((why.to_owned(), false));
        };
        let n = self
            .serial
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let id = format!("nexus-connect-{n}");
        let message = format!(
            "Connect {p} for the Nexus workspace {ws}: sign in and allow access on the page \
             that opens; the request carries on when you are done."
        );
        log::info!(target: "nexus_mcp", "connect provider=\"{p}\" workspace={ws}: the user is asked to consent ({id})");
        let asked = call
            .peer
            .elicit_url_with_timeout(message, url, id, Some(self.wait))
            .await;
        match asked {
            Ok(ElicitationAction::Accept) => {}
            Ok(ElicitationAction::Decline) | Err(ElicitationError::UserDeclined) => {
                return Err((self.declined(&p, &ws, "declined"), true));
            }
            Ok(_) | Err(ElicitationError::UserCancelled) => {
                return Err((self.declined(&p, &ws, "cancelled"), true));
            }
            Err(ElicitationError::CapabilityNotSupported) => return Err((not_connected, false)),
            Err(e) => {
                let why = format!(
                    "connection_required: the client could not ask the user to connect `{p}` ({})",
                    one_line(&e.to_string())
                );
                return Err((why, false));
            }
        }
        self.until_active(call, &started.connection_id, &p)
            .await
            .map_err(|e| (e, false))
    }

    /// The tool error of a user who `did` (declined or cancelled).
    fn declined(&self, p: &str, ws: &str, did: &str) -> String {
        log::info!(target: "nexus_mcp", "connect provider=\"{p}\" workspace={ws}: the user {did}");
        format!(
            "connection_declined: the user {did} connecting `{p}` for workspace `{ws}`; they \
             are not asked again for a minute"
        )
    }

    /// Waits for the connection to become active within `--connect-wait`,
    /// telling the client every few seconds that the call is alive.
    async fn until_active(&self, call: &Call<'_>, id: &str, p: &str) -> Result<(), String> {
        let wait = WaitOptions::default().timeout(self.wait);
        let id = id.to_owned();
        let active = call
            .client
            .run(move |c| c.wait_for_active_with_options(&id, &wait));
        tokio::pin!(active);
        let mut ticks = 0u32;
        let status = loop {
            tokio::select! {
                status = &mut active => break status,
                () = tokio::time::sleep(PROGRESS_EVERY) => {
                    ticks += 1;
                    if let Some(token) = call.progress.clone() {
                        let mut tick = ProgressNotificationParam::new(token, f64::from(ticks));
                        tick.message = Some(format!("waiting for the user to connect {p}"));
                        let _ = call.peer.notify_progress(tick).await;
                    }
                }
            }
        };
        match status {
            Ok(ConnectionStatus::Active) => {
                log::info!(target: "nexus_mcp", "connect provider=\"{p}\": connected");
                Ok(())
            }
            Ok(other) => Err(format!(
                "connection_required: the connection to `{p}` is {}",
                one_line(other.as_str())
            )),
            Err(e) => {
                let waited = self.wait.as_secs();
                log::warn!(target: "nexus_mcp", "connect provider=\"{p}\": not connected within {waited} s (--connect-wait)");
                Err(format!(
                    "connection_required: `{p}` was not connected within {waited} s (--connect-wait): {}",
                    crate::answer::said(&e)
                ))
            }
        }
    }
}
