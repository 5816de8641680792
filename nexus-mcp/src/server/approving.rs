//! A call a policy asks to approve, however its client is asked: in
//! `serve`, the approval page (a URL elicitation to a 2025 host that takes
//! one, else a link in the tool's answer) and the verdict its approver
//! left; over stdio, the operator's own form (MCP 2025's
//! `elicitation/create`, or on 2026-07-28 an `input_required` form whose
//! answer comes back with the call made again). An approval is spent by
//! the request it approves: one taken by a call that then sent nothing
//! (its provider not connected yet) waits for the call made again.

use std::collections::BTreeMap;
use std::time::Duration;

use nexus_sdk::{code, one_line};
use rmcp::model::{
    CallToolRequestParams, ElicitRequest, ElicitRequestParams, ElicitationSchema, InputRequest,
    InputRequiredResult,
};
use rmcp::schemars::{self, JsonSchema};
use rmcp::service::ElicitationError;
use serde_json::Value;

use super::inbound::Inbound;
use super::{Mode, NexusServer};
use crate::approval::{APPROVAL_REQUIRED, Approver, Asked, Taken, Verdict, Waiting};
use crate::failure::Failure;
use crate::state::Held;
use crate::tools::Fetch;

/// How long the operator's form over stdio waits for their answer.
const FORM_LIFE: Duration = Duration::from_secs(300);

/// The key of the operator's approval among a 2026-07-28 call's inputs.
const INPUT_KEY: &str = "nexus-approve";

/// Why a host with no form cannot ask its user.
const NO_FORM: &str = "and this host shows no form to ask the user (elicitation)";

/// The form that asks the operator to approve their call over stdio.
#[derive(serde::Deserialize, JsonSchema)]
struct Approve {
    /// Approve this call, once.
    approve: bool,
}

rmcp::elicit_safe!(Approve);

/// Where a call asked to approve stands.
pub(super) enum Approval {
    /// A 2025 host sends the person to the approval page.
    Url(ElicitRequestParams),
    /// A 2026-07-28 host asks the operator and makes the call again.
    Input(InputRequiredResult),
    /// Approved: the call goes to the URL decided.
    Approved(Used),
}

/// An approval a call used.
pub(super) struct Used {
    /// The retry's state was the approval's own: no connection's is left.
    pub(super) took_state: bool,
    /// The verdict taken from where `serve` keeps it, and what it is bound
    /// to, given back when the call then sends nothing.
    pub(super) taken: Option<(String, Waiting)>,
}

/// An approval of `asked` used by its call, `who` asked and `by` whom it
/// was approved: the call goes to the URL decided, the operator told.
fn used(fetch: &mut Fetch, asked: &Asked, (who, by): (&str, &str)) {
    let id = asked.id();
    log::info!(target: "nexus_mcp", "approval: used id={id} who={who} by={by}");
    crate::telemetry::approval(&id, "used");
    fetch.url = asked.url.clone();
}

/// The approval's tool error: what the call waits for, then `why` it
/// cannot be approved this way.
fn refused<T>(asked: &Asked, why: &str) -> Result<T, Failure> {
    let message = format!("{}, {why}", asked.asking());
    Err(Failure::refused(APPROVAL_REQUIRED, message))
}

/// The operator said no (over stdio).
fn denied(asked: &Asked) -> Failure {
    let id = asked.id();
    log::info!(target: "nexus_mcp", "approval: denied id={id} who=stdio by=stdio");
    crate::telemetry::approval(&id, "denied");
    Failure::refused("approval_denied", "the user did not approve this call")
}

/// What the operator's form over stdio says: what is signed, as the
/// approval page shows it (every method it may be read as, the URL with
/// its values, the headers bound, the body's values).
fn form_message(asked: &Asked) -> String {
    let pairs = |values: &[(String, String)]| {
        let each: Vec<String> = values.iter().map(|(k, v)| format!("{k}={v}")).collect();
        each.join(" ")
    };
    let mut message = format!(
        "This server's policy ({}) asks you to approve this call, once: {} {}",
        asked.policies.join(", "),
        asked.methods.join(" or "),
        asked.shown
    );
    if !asked.headers.is_empty() {
        message.push_str(&format!("; headers: {}", pairs(&asked.headers)));
    }
    if !asked.body_values.is_empty() {
        message.push_str(&format!("; body: {}", pairs(&asked.body_values)));
    }
    message.push_str(&format!(" (approval {})", asked.id()));
    one_line(&message)
}

impl NexusServer {
    /// A call `asked` to approve (its `requestState` bound to `bound`):
    /// approved, or how its approver is asked, or why it cannot be.
    /// `by_url`: a 2025 host that sends the person to a URL.
    pub(super) async fn approval(
        &self,
        fetch: &mut Fetch,
        (asked, bound): (&Asked, &[u8]),
        (inbound, request, by_url): (Inbound<'_>, &CallToolRequestParams, bool),
    ) -> Result<Approval, Failure> {
        if let Mode::Serve { .. } = &self.settings.mode {
            return self.approved(fetch, asked, by_url).await;
        }
        if asked.approver != Approver::Person {
            let why = "and over stdio no member of a group can be asked: use `nexus-mcp serve`, \
                       whose approval page asks them";
            return refused(asked, why);
        }
        if inbound.modern() {
            return self.approved_by_form(fetch, asked, (bound, request, inbound));
        }
        self.approved_here(fetch, asked, inbound).await?;
        Ok(Approval::Approved(Used {
            took_state: false,
            taken: None,
        }))
    }

    /// In `serve`: sent (its URL as decided) when an approver approved this
    /// exact request, once; else the approver's denial, or the approval
    /// page (the operator told): as a URL elicitation to a 2025 host that
    /// takes one (`by_url`), else as a link in the tool's answer; or, with
    /// no page to send the person to, why it cannot be approved.
    async fn approved(
        &self,
        fetch: &mut Fetch,
        asked: &Asked,
        by_url: bool,
    ) -> Result<Approval, Failure> {
        let Mode::Serve { approving, .. } = &self.settings.mode else {
            return refused(asked, "and this server keeps no approvals");
        };
        let (id, who) = (asked.id(), &asked.person[..12]);
        let binding = asked.binding();
        let taken = approving.approvals.take(&binding).await;
        if let Ok(Taken::Expired) = &taken {
            log::info!(target: "nexus_mcp", "approval: expired id={id} who={who}: its approval's life ended before the call came back; asked again");
            crate::telemetry::approval(&id, "expired");
        }
        match taken {
            Ok(Taken::Verdict(waiting)) => match &waiting.verdict {
                Verdict::Approved { by } => {
                    used(fetch, asked, (who, by));
                    let taken = Some((binding, waiting.clone()));
                    Ok(Approval::Approved(Used {
                        took_state: false,
                        taken,
                    }))
                }
                Verdict::Denied { reason, .. } => {
                    let reason = if reason.is_empty() {
                        String::new()
                    } else {
                        format!(": {reason}")
                    };
                    let why = format!("the approver denied this call{reason}");
                    Err(Failure::refused("approval_denied", why))
                }
            },
            Ok(Taken::None | Taken::Expired) => {
                let Some(links) = &approving.links else {
                    let why = "and this server has no approval page (--login-client-id); ask its \
                               operator";
                    return refused(asked, why);
                };
                log::info!(target: "nexus_mcp", "approval: asked id={id} who={who} approver={} provider={:?} {} {}", asked.approver.said(), asked.provider, asked.method, asked.shown);
                crate::telemetry::approval(&id, "asked");
                let minutes = approving.approvals.life().as_secs() / 60;
                if by_url {
                    return Ok(Approval::Url(ElicitRequestParams::UrlElicitationParams {
                        meta: None,
                        message: format!(
                            "This server's policy asks for this call ({} {}) to be approved \
                             (approval {id}); once approved, make it again",
                            asked.method, asked.shown
                        ),
                        url: links.link(asked),
                        elicitation_id: format!("nexus-approve-{id}"),
                    }));
                }
                let why = format!(
                    "this server's policy asks for this call to be approved: the person who \
                     approves opens {} and, once approved, the same call made again goes \
                     through, once, within {minutes} minutes (approval {id})",
                    links.link(asked)
                );
                Err(Failure::refused(APPROVAL_REQUIRED, why))
            }
            Err(why) => {
                log::warn!(target: "nexus_mcp", "approval: id={id}: the store does not answer ({why})");
                let why = "this call waits for an approval this server cannot read now; try \
                           again shortly";
                Err(Failure::refused(APPROVAL_REQUIRED, why))
            }
        }
    }

    /// A verdict taken by a call that then sent nothing, given back.
    pub(super) async fn unspent(&self, used: &Used) {
        let (Mode::Serve { approving, .. }, Some((binding, waiting))) =
            (&self.settings.mode, &used.taken)
        else {
            return;
        };
        if let Err(why) = approving.approvals.give_back(binding, waiting).await {
            let id = &binding[..16];
            log::warn!(target: "nexus_mcp", "approval: id={id}: the call sent nothing, and its approval could not be kept for the call made again: the store does not answer ({why})");
        }
    }
    /// Over stdio, MCP 2025: the operator's own call (`@ask("self")`) asked
    /// of them by a form the host shows (`elicitation/create`), once, for
    /// this call; else why it cannot be approved here.
    async fn approved_here(
        &self,
        fetch: &mut Fetch,
        asked: &Asked,
        inbound: Inbound<'_>,
    ) -> Result<(), Failure> {
        let id = asked.id();
        log::info!(target: "nexus_mcp", "approval: asked id={id} who=stdio approver=self provider={:?} {} {}", asked.provider, asked.method, asked.shown);
        crate::telemetry::approval(&id, "asked");
        let Some(peer) = inbound.peer() else {
            return refused(asked, "and this request has no client to show a form");
        };
        let form = peer.elicit_with_timeout::<Approve>(form_message(asked), Some(FORM_LIFE));
        match form.await {
            Ok(Some(Approve { approve: true })) => {
                log::info!(target: "nexus_mcp", "approval: approved id={id} who=stdio by=stdio");
                used(fetch, asked, ("stdio", "stdio"));
                Ok(())
            }
            Ok(_) | Err(ElicitationError::UserDeclined) => Err(denied(asked)),
            Err(ElicitationError::CapabilityNotSupported) => refused(
                asked,
                "and this host shows no form to ask the user (elicitation)",
            ),
            Err(e) => refused(
                asked,
                &format!("and the user was not asked ({})", one_line(&e.to_string())),
            ),
        }
    }

    /// Over stdio, MCP 2026-07-28 (stateless): the operator's form answered
    /// `input_required`, with a state sealed for this call (`bound`); the
    /// call made again with it and their answer is approved, or denied. A
    /// connection's state that says the operator approved this call before
    /// the connection was asked for is approved too.
    fn approved_by_form(
        &self,
        fetch: &mut Fetch,
        asked: &Asked,
        (bound, request, inbound): (&[u8], &CallToolRequestParams, Inbound<'_>),
    ) -> Result<Approval, Failure> {
        let id = asked.id();
        let states = &self.settings.connector.keys().now().states;
        let holds = format!("approval:{}", asked.binding());
        let held = (request.request_state.as_deref()).map(|state| states.open(state, bound));
        match held {
            Some(Ok(held)) if held.connection == holds => {
                let answer = (request.input_responses.as_ref()).and_then(|r| r.get(INPUT_KEY));
                let action = answer.and_then(|a| a.get("action")).and_then(Value::as_str);
                let content = answer.and_then(|a| a.get("content"));
                let approve = content
                    .and_then(|c| c.get("approve"))
                    .and_then(Value::as_bool);
                return match (action, approve) {
                    (Some("accept"), Some(true)) => {
                        log::info!(target: "nexus_mcp", "approval: approved id={id} who=stdio by=stdio");
                        used(fetch, asked, ("stdio", "stdio"));
                        let took_state = true;
                        Ok(Approval::Approved(Used {
                            took_state,
                            taken: None,
                        }))
                    }
                    (Some("accept" | "decline" | "cancel"), _) => Err(denied(asked)),
                    _ => {
                        let why = format!(
                            "the retry carries no answer to {INPUT_KEY:?} (accept, decline or cancel); call again"
                        );
                        Err(Failure::refused(code::INVALID_INPUT, why))
                    }
                };
            }
            Some(Ok(held)) if held.approved => {
                used(fetch, asked, ("stdio", "stdio"));
                let took_state = false;
                return Ok(Approval::Approved(Used {
                    took_state,
                    taken: None,
                }));
            }
            // Another state (refused where a connection's is read), or none.
            _ => {}
        }
        // A form: an elicitation capability that names none means one.
        let capabilities = inbound.client_capabilities();
        let elicitation = capabilities.and_then(|c| c.elicitation);
        if !elicitation.is_some_and(|e| e.form.is_some() || e.url.is_none()) {
            return refused(asked, NO_FORM);
        }
        log::info!(target: "nexus_mcp", "approval: asked id={id} who=stdio approver=self provider={:?} {} {}", asked.provider, asked.method, asked.shown);
        crate::telemetry::approval(&id, "asked");
        let schema = match ElicitationSchema::from_type::<Approve>() {
            Ok(schema) => schema,
            Err(e) => return refused(asked, &format!("and its form could not be written ({e})")),
        };
        let form = ElicitRequestParams::FormElicitationParams {
            meta: None,
            message: form_message(asked),
            requested_schema: schema,
        };
        let inputs = BTreeMap::from([(
            INPUT_KEY.to_owned(),
            InputRequest::Elicitation(ElicitRequest::new(form)),
        )]);
        let state = states.seal(&Held::new(&holds, FORM_LIFE), bound);
        Ok(Approval::Input(InputRequiredResult::new(
            Some(inputs),
            Some(state),
        )))
    }
}
