//! The server's decisions under `--policy` (see [`crate::policy`]): a call,
//! a consent link and a listing, each decided by the policies held (none
//! without `--policy`: everything permitted), counted by outcome, and the
//! operator told of each denial.

use crate::failure::Failure;
use crate::policy::{Asked, Held};
use crate::principal::Principal;

/// What the model reads of a denied call (never the policy's text).
pub(crate) const DENIED: &str = "this server's policy does not let this person make this request";

/// The code of a call `--policy` denies.
pub(crate) const POLICY_DENIED: &str = "policy_denied";

/// Whether `held` (none without `--policy`: everything) lets `principal`,
/// through the MCP client named `client`, send the request `(provider,
/// methods, account)` to `url` (as `account`, or `""`), for each method a
/// server may read it as ([`crate::readings::methods`]): decided on the
/// URL [`normalized`](crate::policy::normalized), which `url` then is, so
/// that what is sent is what was decided on. When not, the tool error
/// (`policy_denied`), the operator told the decision and the policies
/// that made it. Counted.
pub(crate) fn call_permitted(
    held: Option<&Held>,
    (principal, client): (&Principal, &str),
    (provider, methods, account): (&str, &[String], &str),
    url: &mut String,
) -> Result<(), Failure> {
    let Some(policies) = held.map(Held::now) else {
        return Ok(());
    };
    let who = principal.as_policy_reads(client);
    let mut normal = None;
    for method in methods {
        let made = policies.decide_call(&who, (provider, method, account), url);
        crate::metrics::policy(made.decided.allowed);
        if !made.decided.allowed {
            let (request, by) = made.said();
            let who = principal.who().unwrap_or_else(|| "stdio".into());
            log::warn!(target: "nexus_mcp", "policy: denied who={who} provider={provider:?} {request}: {by}");
            let told = made
                .two_ways
                .map_or(DENIED.to_owned(), |why| format!("{DENIED}: {why}"));
            return Err(Failure::refused(POLICY_DENIED, told));
        }
        normal = made.url;
    }
    if let Some(normal) = normal {
        *url = normal.to_string();
    }
    Ok(())
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
