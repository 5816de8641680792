//! The server's decisions under `--policy` (see [`crate::policy`]): a call,
//! a consent link and a listing, each decided by the policies held (none
//! without `--policy`: everything permitted), counted by outcome, and the
//! operator told of each denial.

use std::sync::Arc;

use nexus_sdk::http::{Method, Uri};
use nexus_sdk::{FetchOptions, NexusError};

use crate::approval::APPROVAL_REQUIRED;
use crate::failure::Failure;
use crate::on_thread::Bound;
use crate::policy::{Asked, CallDecision, Decision, Held, Sending, Who};
use crate::principal::Principal;

/// What the model reads of a denied call (never the policy's text).
pub(crate) const DENIED: &str = "this server's policy does not let this person make this request";

/// The code of a call `--policy` denies.
pub(crate) const POLICY_DENIED: &str = "policy_denied";

/// What the model reads of a call no decision can be made for: the
/// person's groups did not all arrive.
const GROUPS_LEFT_OUT: &str = "this server's policy cannot decide for this person: their \
                               sign-in did not carry all their groups; ask this server's operator";

/// When `who`'s group claim was left out by the issuer (Entra's overage),
/// the operator's line: no decision is made on groups that are not all
/// there, and what fixes it at the provider.
fn left_out(who: &Who, principal: &Principal) -> Option<String> {
    let claim = who.attributes.groups_left_out.as_deref()?;
    let person = principal.who().unwrap_or_else(|| "stdio".into());
    Some(format!(
        "policy: no decision for who={person}: the issuer left the `{claim}` claim out as too \
         long (Entra's group overage: over 200 groups in a token, `_claim_names`), so the \
         person's groups are not all there; at Entra, emit only the groups assigned to the \
         application (Token configuration, groups assigned to the application) or use app \
         roles (--group-claim roles)"
    ))
}

/// A call's decision, as the handler matches it once.
pub(crate) enum Ruling {
    /// Send it, to this URL (the one decided on: normalised).
    Permit(String),
    /// Refused: the tool error the model reads.
    Deny(Failure),
    /// A policy asks a person to approve it first (`@ask`): what the
    /// approval is bound to and its page shows.
    Ask(Box<crate::approval::Asked>),
}

impl Ruling {
    /// Its outcome as a span names it.
    pub(crate) fn outcome(&self) -> &'static str {
        match self {
            Ruling::Permit(_) => "permitted",
            Ruling::Deny(_) => "denied",
            Ruling::Ask(_) => "asked",
        }
    }
}

/// Whether `held` (none without `--policy`: everything) lets `principal`,
/// through the MCP client named `client`, send the request `(provider,
/// methods, account)` as `sending` (as `account`, or `""`), for each
/// method a server may read it as ([`crate::readings::methods`]) and each
/// way its content may be read ([`crate::contents::readings`]): decided on
/// the URL [`normalized`](crate::readings::normalized), which a permit
/// carries, so that what is sent is what was decided on. A denial is the
/// tool error (`policy_denied`), the operator told the decision and the
/// policies that made it. Counted.
pub(crate) fn call_permitted(
    held: Option<&Held>,
    (principal, client): (&Principal, &str),
    (provider, methods, account): (&str, &[String], &str),
    sending: Sending,
) -> Ruling {
    let Some(policies) = held.map(Held::now) else {
        return Ruling::Permit(sending.url.to_owned());
    };
    let who = principal.as_policy_reads(client);
    if let Some(line) = left_out(&who, principal) {
        log::warn!(target: "nexus_mcp", "{line}");
        crate::metrics::policy(false);
        return Ruling::Deny(Failure::refused(POLICY_DENIED, GROUPS_LEFT_OUT));
    }
    let call = (provider, methods, account);
    let made = match policies.decide_request(&who, call, &sending) {
        Ok(made) => made,
        Err(why) => return Ruling::Deny(unreadable(principal, why)),
    };
    crate::metrics::policy(made.decision == Decision::Permit);
    match &made.decision {
        Decision::Permit => {
            let normal = made.made.url.as_ref().map(url::Url::to_string);
            Ruling::Permit(normal.unwrap_or_else(|| sending.url.to_owned()))
        }
        Decision::Ask(approver) => {
            let asking = (principal, who.person, approver);
            Ruling::Ask(asked(asking, (provider, methods, account), &made, &sending))
        }
        Decision::Deny => {
            let (request, by) = made.made.said();
            let who = principal.who().unwrap_or_else(|| "stdio".into());
            log::warn!(target: "nexus_mcp", "policy: denied who={who} provider={provider:?} {request}: {by}");
            let told = (made.made.two_ways.as_ref())
                .map_or(DENIED.to_owned(), |why| format!("{DENIED}: {why}"));
            Ruling::Deny(Failure::refused(POLICY_DENIED, told))
        }
    }
}

/// The call `made` decided, which a policy asks `approver` to approve,
/// every reading of it: what its approval is bound to (the request as the
/// provider will read it) and what its page shows (every method it may be
/// read as, the URL with its values, every header it sends,
/// the body's values and digest, and the values the policies read); the
/// operator told.
fn asked(
    (principal, name, approver): (&Principal, &str, &crate::approval::Approver),
    (provider, methods, account): (&str, &[String], &str),
    made: &CallDecision,
    sending: &Sending,
) -> Box<crate::approval::Asked> {
    let url = made.made.url.as_ref();
    let read = made.readings().flat_map(|made| {
        let numbers = made
            .read
            .numbers
            .iter()
            .map(|(k, n)| (k.clone(), n.to_string()));
        made.read.body.iter().cloned().chain(numbers)
    });
    let mut values: Vec<(String, String)> = read.collect();
    let mut policies: Vec<String> = made.readings().flat_map(|m| m.decided.by.clone()).collect();
    values.sort();
    values.dedup();
    policies.sort();
    policies.dedup();
    let body = sending.body;
    let asked = crate::approval::Asked {
        person: principal.person().unwrap_or_else(|| "stdio".into()),
        name: name.to_owned(),
        provider: provider.to_owned(),
        account: account.to_owned(),
        method: methods
            .first()
            .cloned()
            .unwrap_or_else(|| made.made.method.clone()),
        methods: methods.to_vec(),
        url: url.map(url::Url::to_string).unwrap_or_default(),
        shown: url.map(crate::approval::shown).unwrap_or_default(),
        headers: crate::approval::sent(sending.headers),
        body: body.map_or(String::new(), |body| crate::principal::sha256_hex(&[body])),
        body_values: body.map(crate::approval::body_shown).unwrap_or_default(),
        values,
        policies,
        approver: approver.clone(),
    };
    let (request, by) = made.made.said();
    let who = principal.who().unwrap_or_else(|| "stdio".into());
    log::info!(target: "nexus_mcp", "policy: asked who={who} provider={provider:?} {request}: {by}, approved by @ask({}) (approval {})", approver.said(), asked.id());
    Box::new(asked)
}

/// Every method a call may be read as ([`crate::readings::methods`]) where
/// a policy `held` reads `context.method`; where none does, its own alone:
/// each reads the same, so nothing is read (a call pays for no reading no
/// policy needs: a large body is not looked at).
///
/// # Errors
///
/// As [`crate::readings::methods`].
pub(crate) fn methods_read(
    held: &Held,
    method: &str,
    headers: &[(String, String)],
    (url, body): (&str, Option<&[u8]>),
) -> Result<Vec<String>, &'static str> {
    match held.now().reads_methods() {
        true => crate::readings::methods(method, headers, url, body),
        false => Ok(vec![method.trim().to_uppercase()]),
    }
}

/// A call whose methods cannot be known (`why`, from
/// [`crate::readings::methods`]): refused as a denial is, the operator told.
pub(crate) fn unreadable(principal: &Principal, why: &str) -> Failure {
    let who = principal.who().unwrap_or_else(|| "stdio".into());
    log::warn!(target: "nexus_mcp", "policy: refused who={who}: {why}");
    crate::metrics::policy(false);
    Failure::refused(POLICY_DENIED, format!("{DENIED}: {why}"))
}

/// What the model reads of a redirect not followed, and its code.
pub(crate) fn not_followed() -> NexusError {
    let told = "the API redirected to an address this server does not reach for it (not on the \
                public Internet); ask this server's operator";
    NexusError::new(nexus_sdk::code::ORIGIN_NOT_ALLOWED, told)
}

/// A call's redirect, bounded and decided before the SDK follows it: a hop
/// off the provider's origin (`home`) held to the public-address rule
/// unless `--redirect-origin` trusts its origin ([`crate::addresses`]), and
/// under `--policy` every hop decided as a call of its own: who asks,
/// through which client, of which provider and account, and the first
/// request (its headers, and its body, which a 307 or 308 sends again).
pub(crate) struct Hop {
    /// The first request's URL: its origin is the provider's, read at a
    /// hop (most calls make none, and pay for no reading).
    pub(crate) from: String,
    pub(crate) trusted: Arc<Vec<String>>,
    pub(crate) held: Option<Arc<Held>>,
    pub(crate) principal: Principal,
    pub(crate) client: String,
    pub(crate) provider: String,
    pub(crate) account: String,
    pub(crate) first: FetchOptions,
    /// The GraphQL endpoints `--graphql-endpoint` adds.
    pub(crate) graphql: Arc<Vec<(String, String)>>,
    /// Whether the server is read-only (no `--allow-write`): a hop that
    /// keeps a `POST` must be a GraphQL read again.
    pub(crate) read_only: bool,
}

/// What bounds a call's redirect hops: `--policy`, `--redirect-origin`,
/// `--graphql-endpoint`, and whether the server writes (`--allow-write`).
pub(crate) type HopRules = (
    Option<Arc<Held>>,
    Arc<Vec<String>>,
    Arc<Vec<(String, String)>>,
    bool,
);

impl Hop {
    /// `options` for a call to `url` with every redirect hop bounded and,
    /// under `held`, decided (see [`Hop::decided`]), `trusted` the origins
    /// `--redirect-origin` names; `principal` asking through `client` of
    /// `provider` as `account`. The first request is kept for a hop only
    /// where it is read again: a policy reads `context.method` or the
    /// call's content, or a read-only server sent a GraphQL read.
    pub(crate) fn bounding(
        options: FetchOptions,
        url: &str,
        (held, trusted, graphql, allow_write): HopRules,
        (principal, client): (&Principal, &str),
        (provider, account): (&str, &str),
    ) -> FetchOptions {
        let now = held.as_ref().map(|held| held.now());
        let reads = now.is_some_and(|now| now.reads_methods() || now.reads().any());
        let read_only = !allow_write;
        let first = if reads || (read_only && !is_read(&options.method)) {
            options.clone()
        } else {
            FetchOptions::default()
        };
        let hop = Hop {
            from: url.to_owned(),
            trusted,
            held,
            principal: principal.clone(),
            client: client.to_owned(),
            provider: provider.to_owned(),
            account: account.to_owned(),
            first,
            graphql,
            read_only,
        };
        options.before_redirect(move |method, uri| hop.decided(method, uri))
    }

    /// Whether the call may go on to `method` `uri` (the method the
    /// redirect's rules leave): off the provider's origin, only to a
    /// public address or a trusted origin; under `--policy`, read as every
    /// method the first request's headers and the hop's query name, and
    /// its body's when the hop sends it again. The refusal when not, the
    /// operator told why.
    pub(crate) fn decided(&self, method: &Method, uri: &Uri) -> Result<(), NexusError> {
        // Each hop's decision a span under the call's (the hop's request,
        // when it goes, is a span of its own: `crate::traced`).
        let mut deciding = crate::telemetry::on().then(|| {
            let current = opentelemetry::Context::current();
            let kind = opentelemetry::trace::SpanKind::Internal;
            crate::span::Span::child(&current, "redirect decide".into(), kind, Vec::new())
        });
        let decided = self.deciding(method, uri.to_string());
        if let (Some(span), Err(refused)) = (&mut deciding, &decided) {
            span.failed(refused.code.as_str());
        }
        decided
    }

    /// [`Hop::decided`], untraced.
    fn deciding(&self, method: &Method, url: String) -> Result<(), NexusError> {
        let home = crate::addresses::origin_of(&self.from).unwrap_or_default();
        let to = crate::addresses::origin_of(&url);
        let off = to.as_deref() != Some(home.as_str());
        let who = || {
            let who = self.principal.who().unwrap_or_else(|| "stdio".into());
            format!("who={who} provider={:?} from {home}", self.provider)
        };
        let refused = off.then(|| crate::addresses::hop_refused(&url, &self.trusted));
        if let Some(why) = refused.flatten() {
            log::warn!(target: "nexus_mcp", "redirect: not followed {}: {why}", who());
            return Err(not_followed());
        }
        // Its connection held to the rule too, by the addresses it reaches.
        let bound = to.filter(|to| off && !self.trusted.contains(to));
        crate::addresses::bound(bound.map(|origin| Bound { origin, who: who() }));
        let kept = method.as_str() == self.first.method;
        let body = self.first.data.as_deref().filter(|_| kept);
        if self.read_only && !is_read(method.as_str()) {
            let read = body.is_some_and(|body| {
                crate::readings::graphql_read(&self.graphql, &self.provider, &url, body) == Ok(true)
            });
            if !read {
                log::warn!(target: "nexus_mcp", "redirect: not followed {}: a {method} to a URL that is no GraphQL endpoint, and this server is read-only", who());
                let why = "the API redirected this GraphQL read to a URL that is no GraphQL \
                           endpoint, and this server is read-only";
                return Err(NexusError::new(crate::failure::READ_ONLY, why));
            }
        }
        let Some(held) = &self.held else {
            return Ok(());
        };
        let read = (url.as_str(), body);
        let ruling = match methods_read(held, method.as_str(), &self.first.headers, read) {
            Err(why) => Ruling::Deny(unreadable(&self.principal, why)),
            Ok(methods) => {
                let call = (self.provider.as_str(), &methods[..], self.account.as_str());
                let asking = (&self.principal, self.client.as_str());
                let sending = Sending {
                    url: &url,
                    headers: &self.first.headers,
                    body,
                    graphql: &self.graphql,
                };
                call_permitted(Some(held), asking, call, sending)
            }
        };
        match ruling {
            Ruling::Permit(_) => Ok(()),
            Ruling::Deny(Failure::Refused { code, message }) => Err(NexusError::new(code, message)),
            Ruling::Deny(other) => Err(NexusError::new(other.code(), other.to_string())),
            Ruling::Ask(asked) => {
                let said = format!("{APPROVAL_REQUIRED}: {}", asked.asking());
                Err(NexusError::new(APPROVAL_REQUIRED, said))
            }
        }
    }
}

/// Whether `method` only reads (`GET`, `HEAD`): what a read-only server sends.
pub(crate) fn is_read(method: &str) -> bool {
    matches!(method, "GET" | "HEAD")
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
    let who = principal.as_policy_reads(client);
    if let Some(line) = left_out(&who, principal) {
        log::warn!(target: "nexus_mcp", "{line}");
        crate::metrics::policy(false);
        return false;
    }
    let asked = Asked {
        who: &who,
        provider,
        method: "",
        host: "",
        path: "",
        account: "",
        content: &crate::contents::Content::default(),
    };
    let decided = policies.decide(action, &asked);
    crate::metrics::policy(decided.permits());
    if !decided.permits() {
        let who = principal.who().unwrap_or_else(|| "stdio".into());
        log::info!(target: "nexus_mcp", "policy: {action} denied who={who} provider={provider:?}");
    }
    decided.permits()
}
