//! The approval page (#111, 2): `/approve/<link>`, where a call a policy
//! asks (`@ask`) is approved or denied by the person it names. The link
//! carries the call, sealed ([`crate::approval`]); opening it signs the
//! browser in at the issuer afresh ([`super::signin`], `max_age`: who the
//! approver is and their groups are as of now), and only an approver the
//! policy names is shown the page: the person who asked for
//! `@ask("self")`, a member of the group other than them for
//! `@ask("group:NAME")` (one refused is told the groups they carry). The
//! page shows what is signed: who asks, the provider and account, every
//! method the call may be read as, the URL with its values, the headers
//! that change its meaning, the body's values beside its digest, the values
//! the policy reads, and the policies that ask; its form is bound to that
//! browser (a `__Host-` cookie), sent only from this server's own page,
//! answered with one click, and lives no longer than the sign-in is fresh
//! nor past the link. The verdict waits for the call, bound to that exact
//! request, once, for `--approval-life`.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};

use super::page::{
    cookie, escaped, from_origin, neutralised, page, page_detailed, random, set_cookie,
};
use super::signin::{FRESH, LoggedIn, SignIn, SignedIn, Then, begin};
use crate::approval::{Approvals, Approver, Asked, Verdict};
use crate::keys::{Keys, Sealing};
use crate::principal::person;
use crate::ticket::{asked as opened, asked_until};

/// The cookie that binds an approval form to the browser it was shown to.
const BROWSER_COOKIE: &str = "nexus_approval";

/// What a person reads of a link or form that no longer opens.
const EXPIRED: &str = "This approval has expired, or its link was changed. Ask your agent to \
                       make the call again for a new one.";

/// What the approval page needs: the sign-in, where verdicts wait, and
/// this server's origin (a form is sent from its page only).
pub(crate) struct Approving {
    pub(crate) login: Arc<SignIn>,
    pub(crate) approvals: Arc<Approvals>,
    pub(crate) origin: String,
}

/// The approval page's routes.
pub(crate) fn routes(approving: Arc<Approving>) -> Router {
    Router::new()
        .route("/approve/{ticket}", get(start))
        .route("/approve", post(decided))
        .with_state(approving)
}

/// A verdict under way: the call, who is approving (their name and
/// person), and the browser the form was shown to (sealed in the form).
#[derive(Serialize, Deserialize)]
struct Pending {
    asked: Asked,
    by: String,
    browser: String,
}

/// The form's answer: the pending verdict, `approve` or `deny`, a reason.
#[derive(Deserialize)]
struct Answer {
    pending: String,
    verdict: String,
    #[serde(default)]
    reason: String,
}

/// `GET /approve/<link>`: a link that opens starts the sign-in.
async fn start(State(approving): State<Arc<Approving>>, Path(ticket): Path<String>) -> Response {
    let Ok(asked) = opened(&approving.login.keys(), &ticket) else {
        log::info!(target: "nexus_mcp", "approval: expired: a link that has expired or was changed was opened");
        crate::telemetry::approval("", "expired");
        return page(StatusCode::BAD_REQUEST, EXPIRED);
    };
    drop(asked);
    let login = Arc::clone(&approving.login);
    begin(
        login,
        Then::Approve {
            ticket,
            fresh: true,
        },
    )
    .await
}

/// After the sign-in: the approval page for an approver the policy names,
/// its form bound to this browser; else why not.
pub(crate) fn signed_in(keys: &Keys, ticket: &str, logged: LoggedIn) -> Response {
    let Ok((asked, until)) = asked_until(keys, ticket) else {
        crate::telemetry::approval("", "expired");
        return page(StatusCode::BAD_REQUEST, EXPIRED);
    };
    let Ok(signed_in) = logged else {
        let why = "The sign-in at your organisation did not complete. Open the link again.";
        return page(StatusCode::FORBIDDEN, why);
    };
    let now = jsonwebtoken::get_current_timestamp();
    let approver = person(&signed_in.issuer, &signed_in.subject);
    if let Err(unapproved) = may_approve(&asked, &signed_in, now) {
        let (id, who) = (asked.id(), &approver[..12]);
        let carried = signed_in.attributes.groups.join(", ");
        log::warn!(target: "nexus_mcp", "approval: refused id={id} who={who}: not an approver @ask({}) names (they carry the groups: {})", asked.approver.said(), crate::answer::bounded(&carried, 512));
        crate::telemetry::approval(&asked.id(), "refused");
        return match &unapproved.detail {
            Some(detail) => page_detailed(StatusCode::FORBIDDEN, unapproved.text, detail),
            None => page(StatusCode::FORBIDDEN, unapproved.text),
        };
    }
    // The form lives while the sign-in is fresh, and never past the link.
    let left = until.saturating_sub(now);
    let form_time = FRESH.min(std::time::Duration::from_secs(left.max(1)));
    let Some(browser) = random() else {
        return page(StatusCode::INTERNAL_SERVER_ERROR, "Try again.");
    };
    let pending = Pending {
        asked,
        by: approver,
        browser: browser.clone(),
    };
    let sealed = Sealing::named(&keys.verdicts, &pending, form_time);
    let headers = [
        (
            header::SET_COOKIE,
            set_cookie(BROWSER_COOKIE, &browser, form_time),
        ),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("frame-ancestors 'none'"),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
    ];
    (
        StatusCode::OK,
        headers,
        Html(shown(&pending.asked, &sealed)),
    )
        .into_response()
}

/// Whether `signed_in` signed in at the issuer within [`FRESH`] of `now`
/// (seconds since the Unix epoch), as its `auth_time` says (none: not):
/// what every approval needs, a call's and a device's agent's.
pub(crate) fn fresh(signed_in: &SignedIn, now: u64) -> bool {
    let fresh = FRESH.as_secs() + crate::serve::jws::LEEWAY;
    (signed_in.auth_time).is_some_and(|at| now.saturating_sub(at) <= fresh)
}

/// Whether the person `signed_in` (at `now`, seconds since the Unix epoch)
/// may approve `asked`: signed in within [`FRESH`] (its `auth_time`), so
/// that who they are and their groups are as of now; the person who asked,
/// for `@ask("self")`; a member of the group who is not them for
/// `@ask("group:NAME")`. Else what the page says (the groups they carry,
/// for a group's).
fn may_approve(asked: &Asked, signed_in: &SignedIn, now: u64) -> Result<(), Unapproved> {
    let theirs = person(&signed_in.issuer, &signed_in.subject) == asked.person;
    let recent = fresh(signed_in, now);
    let said = |text: &'static str| Err(Unapproved { text, detail: None });
    if !recent {
        return said(
            "Approving a call needs a sign-in of the last five minutes, and your \
             organisation's sign-in did not say it was one. Open the link again.",
        );
    }
    match &asked.approver {
        Approver::Person if !theirs => said(
            "Only the person who made this call may approve it, and you signed in as someone \
             else.",
        ),
        Approver::Person => Ok(()),
        Approver::Group(_) if theirs => {
            said("A call of yours needs another member of its group to approve it.")
        }
        Approver::Group(group) if !signed_in.attributes.groups.contains(group) => {
            let carried = match signed_in.attributes.groups.is_empty() {
                true => "none".to_owned(),
                false => signed_in.attributes.groups.join(", "),
            };
            Err(Unapproved {
                text: "Only a member of the group this server's policy names may approve this \
                       call, and your sign-in does not carry it.",
                detail: Some(format!(
                    "the group asked: {group}; the groups your sign-in carries: {}",
                    crate::answer::bounded(&carried, 512)
                )),
            })
        }
        Approver::Group(_) => Ok(()),
    }
}

/// Why a person may not approve a call: what the page says, and what it
/// shows beside (the group asked and those they carry).
#[derive(Debug)]
struct Unapproved {
    text: &'static str,
    detail: Option<String>,
}

/// The page: the call as the approver reads it, what they sign, and the
/// form: every method it may be read as, the URL with its values, the
/// headers it sends (a secret's withheld), the body's values (bounded) beside its
/// digest, and the values the policies read.
fn shown(asked: &Asked, sealed: &str) -> String {
    let text = |t: &str| escaped(&neutralised(t));
    let items = |pairs: &[(String, String)]| -> String {
        let item = |(name, value): &(String, String)| {
            format!("<li><code>{}</code>: {}</li>", text(name), text(value))
        };
        pairs.iter().map(item).collect()
    };
    let account = match asked.account.is_empty() {
        true => String::new(),
        false => format!(" (account <b>{}</b>)", text(&asked.account)),
    };
    let read_as: Vec<&String> = asked
        .methods
        .iter()
        .filter(|m| **m != asked.method)
        .collect();
    let read_as = match read_as.is_empty() {
        true => String::new(),
        false => {
            let others: Vec<String> = read_as.iter().map(|m| text(m)).collect();
            format!(", which the API may read as <b>{}</b>", others.join(", "))
        }
    };
    let headers = match asked.headers.is_empty() {
        true => String::new(),
        false => format!(
            "<p>Every header it sends:</p><ul>{}</ul>",
            items(&asked.headers)
        ),
    };
    let body = match asked.body.is_empty() {
        true => "<p>No body.</p>".to_owned(),
        false => format!(
            "<p>Its body (SHA-256 <code>{}</code>):</p><ul>{}</ul>",
            text(&asked.body),
            items(&asked.body_values)
        ),
    };
    let read = match asked.values.is_empty() {
        true => String::new(),
        false => format!(
            "<p>What the policy read of it:</p><ul>{}</ul>",
            items(&asked.values)
        ),
    };
    format!(
        "<!doctype html><meta charset=utf-8><title>nexus-mcp: approve a call</title>\
         <p><b>{name}</b> asks to call <b>{provider}</b>{account}:</p>\
         <p><code>{method} {url}</code>{read_as}</p>{headers}{body}{read}\
         <p>This server's policy ({policies}) asks this call to be approved. Approve it only \
         if you know why it is made; it is approved once, for this exact request (id {id}): \
         one byte of it changed (its method, URL, any header or its body), it is asked again.</p>\
         <form method=post action=/approve><input type=hidden name=pending value=\"{sealed}\">\
         <label>Reason (optional) <input name=reason maxlength=200></label> \
         <button type=submit name=verdict value=approve>Approve</button> \
         <button type=submit name=verdict value=deny>Deny</button></form>",
        name = text(&asked.name),
        provider = text(&asked.provider),
        method = text(&asked.method),
        url = text(&asked.shown),
        policies = text(&asked.policies.join(", ")),
        id = asked.id(),
    )
}

/// `POST /approve`: the approver's verdict, from this server's own page in
/// the browser it was shown to, put where the call takes it.
async fn decided(
    State(approving): State<Arc<Approving>>,
    headers: HeaderMap,
    form: Result<axum::Form<Answer>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(axum::Form(answer)) = form else {
        return page(
            StatusCode::BAD_REQUEST,
            "This form could not be read. Open the link again.",
        );
    };
    if let Err(from) = from_origin(&headers, &approving.origin) {
        log::warn!(target: "nexus_mcp", "approval: refused a verdict sent from another origin ({from}) than this server's");
        crate::telemetry::approval("", "refused");
        let why = "This form was not sent from this server's own page. Open the link again.";
        return page(StatusCode::FORBIDDEN, why);
    }
    let keys = approving.login.keys();
    let opened = Sealing::opened::<Pending>(&keys.verdicts, &answer.pending);
    let browser = cookie(&headers, BROWSER_COOKIE).ok().flatten();
    let Some(pending) = opened
        .ok()
        .filter(|p| browser.as_deref() == Some(p.browser.as_str()))
    else {
        crate::telemetry::approval("", "expired");
        return page(StatusCode::BAD_REQUEST, EXPIRED);
    };
    let by = pending.by[..12].to_owned();
    let verdict = match answer.verdict.as_str() {
        "approve" => Verdict::Approved { by: by.clone() },
        "deny" => {
            let reason: String = nexus_sdk::one_line(&answer.reason)
                .chars()
                .take(200)
                .collect();
            Verdict::Denied {
                by: by.clone(),
                reason,
            }
        }
        _ => {
            return page(
                StatusCode::BAD_REQUEST,
                "Approve or deny. Open the link again.",
            );
        }
    };
    let asked = &pending.asked;
    if let Err(why) = approving
        .approvals
        .put(&asked.binding(), verdict.clone())
        .await
    {
        log::warn!(target: "nexus_mcp", "approval: not recorded id={}: the store does not answer ({why})", asked.id());
        let why = "The verdict could not be recorded just now. Try again in a moment.";
        return page(StatusCode::SERVICE_UNAVAILABLE, why);
    }
    let (outcome, said) = match &verdict {
        Verdict::Approved { .. } => (
            "approved",
            "Approved. The call goes through when your agent makes it again, once.",
        ),
        Verdict::Denied { .. } => (
            "denied",
            "Denied. Your agent is told, with your reason, when it makes the call again.",
        ),
    };
    log::info!(target: "nexus_mcp", "approval: {outcome} id={} who={by} for={} provider={:?} {} {}", asked.id(), &asked.person[..12], asked.provider, asked.method, asked.shown);
    crate::telemetry::approval(&asked.id(), outcome);
    page(StatusCode::OK, said)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed_in(subject: &str, groups: &[&str], auth_time: Option<u64>) -> SignedIn {
        let mut signed_in: SignedIn = serde_json::from_value(serde_json::json!({
            "issuer": "https://issuer.example", "subject": subject}))
        .unwrap();
        signed_in.attributes.groups = groups.iter().map(|g| (*g).to_owned()).collect();
        signed_in.auth_time = auth_time;
        signed_in
    }

    fn asked(approver: Approver) -> Asked {
        Asked {
            approver,
            ..crate::approval::tests::asked()
        }
    }

    #[test]
    fn only_an_approver_the_policy_names_signed_in_afresh_may_approve() {
        let now = 10_000;
        let own = asked(Approver::Person);
        assert!(may_approve(&own, &signed_in("alice", &[], Some(now - 10)), now).is_ok());
        let stale = may_approve(&own, &signed_in("alice", &[], Some(now - 3600)), now);
        assert!(stale.is_err(), "stale");
        assert!(
            may_approve(&own, &signed_in("alice", &[], None), now).is_err(),
            "unsaid"
        );
        assert!(
            may_approve(&own, &signed_in("bob", &[], Some(now)), now).is_err(),
            "another"
        );
        let group = asked(Approver::Group("leads".into()));
        assert!(may_approve(&group, &signed_in("bob", &["leads"], Some(now - 10)), now).is_ok());
        let old = may_approve(&group, &signed_in("bob", &["leads"], Some(now - 3600)), now);
        assert!(old.is_err(), "a group's membership as of a stale sign-in");
        let asker = may_approve(&group, &signed_in("alice", &["leads"], Some(now)), now);
        assert!(asker.is_err(), "the asker");
        let other = may_approve(
            &group,
            &signed_in("carol", &["lead", "eng"], Some(now)),
            now,
        );
        let detail = other.err().and_then(|u| u.detail).unwrap_or_default();
        assert!(
            detail.contains("asked: leads") && detail.contains("lead, eng"),
            "{detail}"
        );
    }
}
