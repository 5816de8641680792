//! A call's life: it runs until its answer, the server's stop or its
//! client's cancel (`notifications/cancelled`, rmcp's `RequestContext.ct`),
//! whichever comes first, and ending it drops everything it holds. Once
//! stdin ends or SIGTERM arrives no call starts any more; the calls under
//! way have [`GRACE`] to finish, and are then answered as abandoned; the
//! server stops once none is left. rmcp writes the answers of calls that
//! finish within its own drain (5 s after stdin's end), so every call under
//! way gets an answer. Each fetch's line on stderr (the audit trail) is
//! written here, when the call ends.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nexus_sdk::http::Uri;
use nexus_sdk::{FetchResponse, X_NEXUS_REDIRECTED_TO, X_NEXUS_WITHHELD, one_line};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::answer::{cut, quoted};
use crate::failure::Failure;
use crate::principal::Principal;
use crate::tools::FetchArgs;

/// How long a call under way may still take once the server is stopping.
pub(crate) const GRACE: Duration = Duration::from_secs(3);

/// The calls under way, and whether the server is stopping.
#[derive(Clone)]
pub(crate) struct Calls {
    stopping: Arc<watch::Sender<bool>>,
    running: Arc<watch::Sender<usize>>,
}

/// One call under way, counted until dropped.
struct Running(Arc<watch::Sender<usize>>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n -= 1);
    }
}

impl Calls {
    pub(crate) fn new() -> Calls {
        Calls {
            stopping: Arc::new(watch::channel(false).0),
            running: Arc::new(watch::channel(0).0),
        }
    }

    /// From now on, no call starts, and those under way have [`GRACE`].
    pub(crate) fn stop(&self) {
        self.stopping.send_replace(true);
    }

    /// `call`'s answer, or why it was not run or not waited for: the
    /// server is stopping, or the client cancelled it (`ct`). Either way
    /// the call is dropped with all it holds.
    pub(crate) async fn run<T>(
        &self,
        call: impl Future<Output = Result<T, Failure>>,
        ct: &CancellationToken,
    ) -> Result<T, Failure> {
        self.running.send_modify(|n| *n += 1);
        let _running = Running(Arc::clone(&self.running));
        let mut stopping = self.stopping.subscribe();
        if *stopping.borrow() {
            return Err(Failure::Stopping(None));
        }
        let abandoned = async {
            let _ = stopping.wait_for(|stopping| *stopping).await;
            tokio::time::sleep(GRACE).await;
        };
        tokio::select! {
            answer = call => answer,
            () = abandoned => Err(Failure::Stopping(Some(GRACE))),
            () = ct.cancelled() => Err(Failure::Cancelled),
        }
    }

    /// Waits until no call is under way.
    pub(crate) async fn finished(&self) {
        let _ = self.running.subscribe().wait_for(|n| *n == 0).await;
    }
}

/// Who a call is from, as its audit line names them.
pub(crate) struct Caller {
    /// The call's number (the library's lines during it name it too).
    pub(crate) call: u64,
    /// The id a person can quote: in the tool error the model reads and in
    /// the call's line, the trace's where it is traced
    /// ([`crate::telemetry::quote`]).
    pub(crate) id: String,
    /// The client that made it, as the request names it or `initialize` did.
    pub(crate) client: String,
    /// The person it acts for (the workspace that of the account chosen).
    pub(crate) principal: Principal,
    /// The account's label, when `--account` names several.
    pub(crate) account: Option<String>,
}

impl Caller {
    /// Who asks, as `--policy` reads them: the person, through the client.
    pub(crate) fn asking(&self) -> (&Principal, &str) {
        (&self.principal, &self.client)
    }

    /// The person's short hash, as the line names them ("" over stdio).
    fn who(&self) -> String {
        self.principal.who().unwrap_or_default()
    }

    /// The OAuth client its token was issued to ("" for a provider's token,
    /// or over stdio).
    fn oauth_client(&self) -> &str {
        self.principal.oauth_client().unwrap_or_default()
    }

    /// The account's label ("" without one).
    fn account(&self) -> &str {
        self.account.as_deref().unwrap_or_default()
    }

    /// The line's opening: the call's number, the client (quoted, as the
    /// host names itself), behind `--oauth-proxy` the name the agent
    /// registered (`agent=`, quoted) and the OAuth client its token was
    /// issued to (`oauth_client=`, as `client=` in --deny-file names it), in `serve` a short hash of the person (never a token, an e-mail or the
    /// workspace id), and the account's label.
    fn opening(&self) -> String {
        let mut opening = format!(
            "call #{} id={} client=\"{}\"",
            self.call,
            self.id,
            quoted(&self.client, 64)
        );
        if let Some(agent) = self.principal.agent() {
            opening += &format!(" agent=\"{}\"", quoted(&agent.name, 64));
            if !agent.through.is_empty() {
                opening += &format!(" through={}", agent.through.join(","));
            }
        }
        if let Some(oauth_client) = self.principal.oauth_client() {
            opening += &format!(" oauth_client={oauth_client}");
        }
        if let Some(who) = self.principal.who() {
            opening += &format!(" who={who}");
        }
        if let Some(label) = &self.account {
            opening += &format!(" account={label}");
        }
        opening
    }

    /// `failure` as the model reads it: one line, escaped as every package
    /// escapes a server's text; `serve` and `--account` name no workspace
    /// id to the model, so the call's is said as "your workspace" or "your
    /// `work` account".
    pub(crate) fn told(&self, failure: &Failure) -> String {
        let text = one_line(&failure.to_string());
        let account = self.account.as_deref();
        let workspace = self.principal.workspace();
        if (account.is_none() && !self.principal.is_served()) || workspace.is_empty() {
            return self.quoted(text);
        }
        self.quoted(text.replace(workspace, &self.principal.whose(account)))
    }

    /// A tool error's `text` with the id a person can quote at its end.
    pub(crate) fn quoted(&self, text: String) -> String {
        format!("{text} (id {})", self.id)
    }
}

/// How a fetch ended, as its audit line says it.
pub(crate) enum Ended<'a> {
    /// The API answered.
    Answered(&'a FetchResponse),
    /// The call waits for the user (2026-07-28: input required).
    InputRequired,
    /// Refused, failed, stopped or cancelled: the tool error.
    Failed(&'a Failure),
}

/// How a call ended, as the end of its line says it: the status, bytes
/// and milliseconds, and what was withheld or refused (with the code).
fn outcome(ended: &Ended<'_>, started: Instant) -> String {
    let ms = started.elapsed().as_millis();
    match ended {
        Ended::Answered((status, headers, body)) => {
            let withheld = headers.get(X_NEXUS_WITHHELD).map_or("", |_| ", withheld");
            let away = headers
                .get(X_NEXUS_REDIRECTED_TO)
                .and_then(|v| v.to_str().ok());
            let away = away
                .map(|o| format!(", redirected to {}", cut(o, 256)))
                .unwrap_or_default();
            format!("{status}, {} bytes, {ms} ms{withheld}{away}", body.len())
        }
        Ended::InputRequired => format!("input required: the user is asked to connect, {ms} ms"),
        Ended::Failed(Failure::Cancelled) => format!("cancelled by the client, {ms} ms"),
        Ended::Failed(failure) => format!("refused ({}), {ms} ms", cut(failure.code(), 64)),
    }
}

/// The line of a call of `tool` that fetched nothing, at the default
/// level: its number, the client (quoted), the tool, and how it ended
/// (`answered`, or `refused` with the failure's code).
pub(crate) fn audit_tool(tool: &str, failed: Option<&Failure>, started: Instant, caller: &Caller) {
    if !log::log_enabled!(target: "nexus_mcp::call", log::Level::Info) {
        return; // the line's parts written only for a line written
    }
    let outcome = match failed {
        None => format!("answered, {} ms", started.elapsed().as_millis()),
        Some(failure) => outcome(&Ended::Failed(failure), started),
    };
    let (ms, code) = (
        started.elapsed().as_millis() as u64,
        failed.map_or("answered", Failure::code),
    );
    let (opening, who, account) = (caller.opening(), caller.who(), caller.account());
    log::info!(target: "nexus_mcp::call",
        call = caller.call, id = caller.id.as_str(), client = caller.client.as_str(),
        oauth_client = caller.oauth_client(), who = who.as_str(), account = account, tool = tool, ms = ms, outcome = code;
        "{opening} {} -> {outcome}", cut(tool, 64));
}

/// The call's line on stderr, at the default level: its number (the
/// library's lines during the call name it too), the client that made it
/// (its name as the request carries it, or from `initialize`; quoted), the
/// provider (quoted), method, the URL's origin and path (never its query
/// or fragment), each as the model sent it, then the [`outcome`]. Each field
/// the model chose is escaped and cut on its own, so the outcome at the end
/// is always whole. No token, no query value, no header value.
pub(crate) fn audit(args: &FetchArgs, ended: &Ended<'_>, started: Instant, caller: &Caller) {
    if !log::log_enabled!(target: "nexus_mcp::call", log::Level::Info) {
        return; // the line's parts written only for a line written
    }
    let uri = args.url.parse::<Uri>().ok();
    let scheme = uri.as_ref().and_then(Uri::scheme_str).unwrap_or("");
    let host = uri
        .as_ref()
        .and_then(Uri::authority)
        .map_or("", |a| a.as_str());
    let host = host.rsplit('@').next().unwrap_or(host);
    let path = uri.as_ref().map_or("<not a URL>", Uri::path);
    let (status, bytes, code) = match ended {
        Ended::Answered((status, _, body)) => (u64::from(*status), body.len() as u64, "answered"),
        Ended::InputRequired => (0, 0, "input_required"),
        Ended::Failed(failure) => (0, 0, failure.code()),
    };
    let method = args.method.as_deref().unwrap_or("GET");
    log::info!(
        target: "nexus_mcp::call",
        call = caller.call, id = caller.id.as_str(), client = caller.client.as_str(),
        oauth_client = caller.oauth_client(), who = caller.who().as_str(), account = caller.account(), provider = args.provider.as_str(), method = method,
        host = host, path = path, status = status, bytes = bytes,
        ms = started.elapsed().as_millis() as u64, outcome = code;
        "{} provider=\"{}\" {} {}://{}{} -> {}",
        caller.opening(),
        quoted(&args.provider, 64),
        cut(args.method.as_deref().unwrap_or("GET"), 16),
        cut(scheme, 8),
        cut(host, 256),
        cut(path, 256),
        outcome(ended, started),
    );
}

/// Set when the future that holds it is dropped: a call cancelled while
/// its step runs on another thread.
#[derive(Default)]
pub(crate) struct Dropped(pub(crate) Arc<std::sync::atomic::AtomicBool>);

impl Drop for Dropped {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}
