//! The server's decisions under `--policy` (see [`crate::policy`]): a call,
//! a consent link and a listing, each decided by the policies held (none
//! without `--policy`: everything permitted), counted by outcome, and the
//! operator told of each denial.

use crate::policy::{Asked, Held};
use crate::principal::Principal;

/// What the model reads of a denied call (never the policy's text).
pub(crate) const DENIED: &str = "this server's policy does not let this person make this request";

/// Whether `held` (none without `--policy`: everything) lets `principal`,
/// through the MCP client named `client`, send `method` to `url` at
/// `provider` (as `account`, or `""`): decided on the URL
/// [`normalized`](crate::policy::normalized), which `url` then is, so that
/// what is sent is what was decided on; the operator's line (the decision
/// and the policies that made it) when not. Counted.
pub(crate) fn call_permitted(
    held: Option<&Held>,
    (principal, client): (&Principal, &str),
    call: (&str, &str, &str),
    url: &mut String,
) -> Result<(), String> {
    let Some(policies) = held.map(Held::now) else {
        return Ok(());
    };
    let made = policies.decide_call(&principal.as_policy_reads(client), call, url);
    crate::metrics::policy(made.decided.allowed);
    if let Some(normal) = made.url.as_ref().filter(|_| made.decided.allowed) {
        *url = normal.to_string();
        return Ok(());
    }
    let (request, by) = made.said();
    let (who, provider) = (principal.who().unwrap_or_else(|| "stdio".into()), call.0);
    Err(format!(
        "policy: denied who={who} provider={provider:?} {request}: {by}"
    ))
}

/// Whether `held` (none without `--policy`: everything) lets `principal`,
/// through the MCP client named `client`, take `action` (`connect`,
/// `list`) on `provider`: counted, and the operator told when not.
pub(crate) fn permits(
    held: Option<&Held>,
    action: &str,
    (principal, client): (&Principal, &str),
    provider: &str,
) -> bool {
    let Some(policies) = held.map(Held::now) else {
        return true;
    };
    let asked = Asked {
        who: &principal.as_policy_reads(client),
        provider,
        method: "",
        host: "",
        path: "",
        account: "",
    };
    let decided = policies.decide(action, &asked);
    crate::metrics::policy(decided.allowed);
    if !decided.allowed {
        let who = principal.who().unwrap_or_else(|| "stdio".into());
        log::info!(target: "nexus_mcp", "policy: {action} denied who={who} provider={provider:?}");
    }
    decided.allowed
}
