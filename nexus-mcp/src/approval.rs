//! A call a policy asks a person to approve (`@ask` on a `forbid`, #111,
//! 2): what the approval is bound to ([`Asked`]: the person, provider,
//! account, method, URL, the body's digest and the policies that ask), and
//! where a verdict waits for the call that asked ([`Approvals`]: this
//! process's memory, or the store every replica shares), taken once. Its
//! link is sealed as the connect page's are ([`crate::ticket`]); each step
//! is counted and traced ([`crate::telemetry::approval`]).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

pub(crate) use crate::policy::Approver;

/// A call a policy asks to approve: what its approval is bound to, and
/// what the approval page shows.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Asked {
    /// The person who asked (the hash of their issuer and subject), and
    /// their name as the policy reads it.
    pub(crate) person: String,
    pub(crate) name: String,
    pub(crate) provider: String,
    pub(crate) account: String,
    pub(crate) method: String,
    /// The URL as it will be sent (normalised), and as the page shows it:
    /// its query's values left out.
    pub(crate) url: String,
    pub(crate) shown: String,
    /// SHA-256 of the body, in hex (empty: none).
    pub(crate) body: String,
    /// The body's values the policies read, as text.
    pub(crate) values: Vec<(String, String)>,
    /// The policies that ask, and who approves.
    pub(crate) policies: Vec<String>,
    pub(crate) approver: Approver,
}

impl Asked {
    /// What an approval is bound to: SHA-256 over every field a call must
    /// repeat byte for byte to be the call approved.
    pub(crate) fn binding(&self) -> String {
        let bound = serde_json::json!([
            self.person,
            self.provider,
            self.account,
            self.method,
            self.url,
            self.body,
            self.policies,
            self.approver
        ]);
        crate::principal::sha256_hex(&[bound.to_string().as_bytes()])
    }

    /// The id an audit line and the page name it by (the binding's first
    /// 16 hex digits).
    pub(crate) fn id(&self) -> String {
        self.binding()[..16].to_owned()
    }
}

/// The URL as the approval page shows it: scheme, host, port and path,
/// each query parameter's name with its value left out.
pub(crate) fn shown(url: &url::Url) -> String {
    let mut shown = url.clone();
    let names: Vec<String> = url
        .query_pairs()
        .map(|(name, _)| format!("{name}=…"))
        .collect();
    shown.set_query(None);
    shown.set_fragment(None);
    match names.is_empty() {
        true => shown.to_string(),
        false => format!("{shown}?{}", names.join("&")),
    }
}

/// What became of an asked call: approved or denied, by whom (a person's
/// name as the policy reads it), and the approver's reason.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) enum Verdict {
    Approved { by: String },
    Denied { by: String, reason: String },
}

/// A verdict put where every replica takes it (`--store`): the binding,
/// the verdict as JSON, how long it waits.
pub(crate) type Put =
    Arc<dyn Fn(String, String, Duration) -> Boxed<Result<(), String>> + Send + Sync>;
/// A verdict taken once (then gone) from where every replica puts it.
pub(crate) type Take = Arc<dyn Fn(String) -> Boxed<Result<Option<String>, String>> + Send + Sync>;
/// A future of the store's.
pub(crate) type Boxed<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Where verdicts wait for the call that asked, each until
/// `--approval-life` has passed, and each taken once.
pub(crate) struct Approvals {
    life: Duration,
    /// One replica's (no `--store`).
    memory: Mutex<HashMap<String, (Verdict, Instant)>>,
    /// Every replica's (`--store`).
    shared: Option<(Put, Take)>,
}

impl Approvals {
    /// Verdicts held in this process for `life`.
    pub(crate) fn new(life: Duration) -> Approvals {
        Approvals {
            life,
            memory: Mutex::default(),
            shared: None,
        }
    }

    /// The same, held where every replica puts and takes them.
    pub(crate) fn shared(self, put: Put, take: Take) -> Approvals {
        Approvals {
            shared: Some((put, take)),
            ..self
        }
    }

    /// How long a link and a verdict hold.
    pub(crate) fn life(&self) -> Duration {
        self.life
    }

    /// `verdict` on the call bound to `binding`, until it is taken or its
    /// life ends.
    ///
    /// # Errors
    ///
    /// The store did not answer.
    pub(crate) async fn put(&self, binding: &str, verdict: Verdict) -> Result<(), String> {
        if let Some((put, _)) = &self.shared {
            let json = serde_json::to_string(&verdict).map_err(|e| e.to_string())?;
            return put(binding.to_owned(), json, self.life).await;
        }
        let mut held = self.memory.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        held.retain(|_, (_, until)| *until > now);
        held.insert(binding.to_owned(), (verdict, now + self.life));
        Ok(())
    }

    /// The verdict on the call bound to `binding`, taken (a second call
    /// finds none), if one is there.
    ///
    /// # Errors
    ///
    /// The store did not answer.
    pub(crate) async fn take(&self, binding: &str) -> Result<Option<Verdict>, String> {
        if let Some((_, take)) = &self.shared {
            let taken = take(binding.to_owned()).await?;
            return Ok(taken.and_then(|json| serde_json::from_str(&json).ok()));
        }
        let mut held = self.memory.lock().unwrap_or_else(PoisonError::into_inner);
        let taken = held.remove(binding);
        Ok(taken
            .filter(|(_, until)| *until > Instant::now())
            .map(|(verdict, _)| verdict))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn asked() -> Asked {
        Asked {
            person: crate::principal::person("https://issuer.example", "alice"),
            name: "alice".into(),
            provider: "stripe".into(),
            account: String::new(),
            method: "POST".into(),
            url: "https://api.stripe.com/v1/refunds".into(),
            shown: "https://api.stripe.com/v1/refunds".into(),
            body: "ab".into(),
            values: vec![("amount".into(), "20000".into())],
            policies: vec!["refunds".into()],
            approver: Approver::Person,
        }
    }

    #[test]
    fn an_approval_is_bound_to_every_field_a_call_repeats() {
        let first = asked().binding();
        assert_eq!(first, asked().binding());
        let changed: [fn(&mut Asked); 8] = [
            |a| a.person.push('x'),
            |a| a.provider.push('x'),
            |a| a.account.push('x'),
            |a| a.method = "PUT".into(),
            |a| a.url.push('x'),
            |a| a.body.push('x'),
            |a| a.policies.push("x".into()),
            |a| a.approver = Approver::Group("x".into()),
        ];
        for change in changed {
            let mut other = asked();
            change(&mut other);
            assert_ne!(other.binding(), first);
        }
    }

    #[tokio::test]
    async fn a_verdict_is_taken_once() {
        let approvals = Approvals::new(Duration::from_secs(60));
        let approved = Verdict::Approved { by: "bob".into() };
        approvals.put("b", approved.clone()).await.unwrap();
        assert_eq!(approvals.take("other").await.unwrap(), None);
        assert_eq!(approvals.take("b").await.unwrap(), Some(approved));
        assert_eq!(approvals.take("b").await.unwrap(), None, "used once");
        let url = url::Url::parse("https://x.example/a?amount=5&to=me#f").unwrap();
        assert_eq!(shown(&url), "https://x.example/a?amount=…&to=…");
    }
}
