//! A call decided over every reading it may have ([`Policies::decide_request`]),
//! as Cedar decides one request: a `forbid` that holds wins. Every method
//! the call may be read as and every way its content may be read is
//! decided; a reading a plain `forbid` denies (or that no `permit`
//! permits) denies the call, whatever else asks; the call is asked
//! ([`Decision::Ask`]) only when every denying policy of every reading asks
//! one approver, and an approval then covers every reading.

use super::{Approver, Content, Policies, Sending, Sent, Who, normalized, one_line};
use super::{Asked, Decided};

/// What a call's readings decide, together.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Decision {
    /// Every reading is permitted.
    Permit,
    /// A reading is denied by a policy that does not ask, or by none
    /// permitting it (or its readings ask different approvers).
    Deny,
    /// Every denying policy of every reading asks this approver.
    Ask(Approver),
}

/// A call's decision, and the readings it was made on: the one that
/// decided it (a denial's, the first asked, or the last permitted) and,
/// asked, every other reading asked.
pub(crate) struct CallDecision {
    pub(crate) decision: Decision,
    pub(crate) made: CallDecided,
    pub(crate) asked: Vec<CallDecided>,
}

impl CallDecision {
    /// `decision`, made on `made`.
    fn decided(decision: Decision, made: CallDecided) -> CallDecision {
        CallDecision {
            decision,
            made,
            asked: Vec::new(),
        }
    }

    /// Every reading an approval covers: the deciding one and the others asked.
    pub(crate) fn readings(&self) -> impl Iterator<Item = &CallDecided> {
        std::iter::once(&self.made).chain(&self.asked)
    }
}

/// A call decided ([`Policies::decide_call`]): the URL decided on (none
/// when it does not parse), its method, and the decision; when a policy
/// reads paths and the path reads two ways, why (naming the segment).
#[derive(Clone)]
pub(crate) struct CallDecided {
    pub(crate) url: Option<url::Url>,
    pub(crate) method: String,
    pub(crate) decided: Decided,
    pub(crate) two_ways: Option<String>,
    /// The reading of its content decided (its first denial's).
    pub(crate) read: Content,
}

impl CallDecided {
    /// The words that say it, made only when asked: the request (`GET host
    /// path`) and by what (`by` the policies, or that none permits).
    pub(crate) fn said(&self) -> (String, String) {
        let Some(url) = &self.url else {
            let request = "(a URL that does not parse)";
            return (request.into(), "no policy can read it".into());
        };
        let (host, path) = (url.host_str().unwrap_or_default(), url.path());
        let by = match self.decided.by.is_empty() {
            true => "no policy permits it".to_owned(),
            false => format!("by {}", self.decided.by.join(", ")),
        };
        (format!("{} {host} {path}", self.method), by)
    }
}

/// `url` with each run of slashes in its path made one, when it has any:
/// the path as a router that squeezes them routes it.
fn squeezed(url: &url::Url) -> Option<url::Url> {
    let path = url.path();
    if !path.contains("//") {
        return None;
    }
    let mut one = String::with_capacity(path.len());
    for c in path.chars() {
        if !(c == '/' && one.ends_with('/')) {
            one.push(c);
        }
    }
    let mut squeezed = url.clone();
    squeezed.set_path(&one);
    Some(squeezed)
}

impl Policies {
    /// A request decided as the server decides it: `who` sending
    /// `(provider, methods, account)` as `sending` is read, for each method
    /// it may be read as and each way its content may be read
    /// ([`crate::contents::readings`]), every reading decided: a plain
    /// denial of any reading denies, whatever else asks; the call is asked
    /// only when every denying policy of every reading asks one approver;
    /// else it is permitted. The URL decided on (and to be sent) is the
    /// call's.
    ///
    /// # Errors
    ///
    /// Why its content cannot be read (the model reads it).
    pub(crate) fn decide_request(
        &self,
        who: &Who,
        (provider, methods, account): (&str, &[String], &str),
        sending: &Sending,
    ) -> Result<CallDecision, &'static str> {
        let normal = normalized(sending.url);
        let readings = match &normal {
            Some(url) => {
                let endpoint = crate::graphql::is_endpoint(sending.graphql, provider, url.path());
                let (headers, body) = (sending.headers, sending.body);
                let sent = Sent {
                    url,
                    headers,
                    body,
                    endpoint,
                };
                crate::contents::readings(self.reads_for(provider), &sent)?
            }
            None => vec![Content::default()],
        };
        // A path with empty segments is decided as written and as the
        // provider routes it (common routers squeeze repeated slashes); the
        // URL sent, shown and bound is the one written.
        let squeezed = normal.as_ref().and_then(squeezed);
        let paths = || std::iter::once(normal.as_ref()).chain(squeezed.as_ref().map(Some));
        let (mut permitted, mut asked) = (None, Vec::new());
        for method in methods {
            for content in &readings {
                for path in paths() {
                    let call = (provider, method.as_str(), account);
                    let mut made = self.decide_call(who, call, (path, content));
                    made.url = made.url.and(normal.clone());
                    match &made.decided.decision {
                        Decision::Permit => permitted = Some(made),
                        Decision::Ask(_) => asked.push(made),
                        Decision::Deny => return Ok(CallDecision::decided(Decision::Deny, made)),
                    }
                }
            }
        }
        let Some(first) = asked.first() else {
            let made = permitted.ok_or("no method to decide")?;
            return Ok(CallDecision::decided(Decision::Permit, made));
        };
        let one = asked
            .iter()
            .all(|made| made.decided.decision == first.decided.decision);
        let decision = match one {
            true => first.decided.decision.clone(),
            false => Decision::Deny,
        };
        let mut decided = CallDecision::decided(decision, asked.remove(0));
        decided.asked = asked;
        Ok(decided)
    }

    /// A call decided as the server decides it: `who` sending `(provider,
    /// method, account)` to `url` (as [`normalized`]: none when it does not
    /// parse, denied), read as `content`, the method upper case.
    pub(crate) fn decide_call(
        &self,
        who: &Who,
        (provider, method, account): (&str, &str, &str),
        (url, content): (Option<&url::Url>, &Content),
    ) -> CallDecided {
        let method = method.to_uppercase();
        let Some(normal) = url.cloned() else {
            let decided = Decided {
                decision: Decision::Deny,
                by: Vec::new(),
            };
            return CallDecided {
                url: None,
                method,
                decided,
                two_ways: None,
                read: Content::default(),
            };
        };
        let host = normal.host_str().unwrap_or_default();
        // Decided as the provider serves it, whatever case it is written in.
        let path = crate::readings::folded(provider, normal.path());
        let path = path.as_ref();
        let two_ways = (crate::readings::read_two_ways(path)).filter(|_| self.names_paths);
        if let Some((segment, why)) = two_ways {
            let why = format!(
                "the path segment {:?} reads two ways: {why}",
                one_line(segment)
            );
            let decided = Decided {
                decision: Decision::Deny,
                by: vec![why.clone()],
            };
            return CallDecided {
                url: Some(normal),
                method,
                decided,
                two_ways: Some(why),
                read: Content::default(),
            };
        }
        let asked = Asked {
            who,
            provider,
            method: &method,
            host,
            path,
            account,
            content,
        };
        let decided = self.decide("call", &asked);
        CallDecided {
            url: Some(normal),
            method,
            decided,
            two_ways: None,
            read: content.clone(),
        }
    }
}
