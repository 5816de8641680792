//! A call a policy asks a person to approve (`@ask` on a `forbid`, #111,
//! 2): what the approval is bound to ([`Asked`]: the person, provider,
//! account, method, URL, the body's digest and the policies that ask), and
//! where a verdict waits for the call that asked ([`Approvals`]: this
//! process's memory, or the store every replica shares), taken once. Its
//! link is sealed as the connect page's are ([`crate::ticket`]); each step
//! is counted and traced ([`crate::telemetry::approval`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::answer::bounded;

pub(crate) use crate::policy::Approver;

/// The code of a call that waits for a person's approval.
pub(crate) const APPROVAL_REQUIRED: &str = "approval_required";

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
    /// The method as sent, and every method the call may be read as (an
    /// override header's, a `_method`'s).
    pub(crate) method: String,
    pub(crate) methods: Vec<String>,
    /// The URL as it will be sent (normalised), and as the page shows it:
    /// each query value bounded.
    pub(crate) url: String,
    pub(crate) shown: String,
    /// Every header the call sends, as bound and shown ([`sent`]).
    pub(crate) headers: Vec<(String, String)>,
    /// SHA-256 of the body, in hex (empty: none), and its values as the
    /// page shows them ([`body_shown`]).
    pub(crate) body: String,
    pub(crate) body_values: Vec<(String, String)>,
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
            self.headers,
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

    /// What the call waits for, as its tool error says it after its code.
    pub(crate) fn asking(&self) -> String {
        let approver = match &self.approver {
            Approver::Person => "the person who asked".to_owned(),
            Approver::Group(group) => format!("a member of {group:?}"),
        };
        format!("this server's policy asks {approver} to approve this call first")
    }
}

/// The most of a value the approval page shows.
const SHOWN_MOST: usize = 200;

/// The URL as the approval page shows it: scheme, host, port and path,
/// and each query parameter with its value, bounded to [`SHOWN_MOST`]
/// bytes (longer ones cut, and said so with `…`).
pub(crate) fn shown(url: &url::Url) -> String {
    let mut shown = url.clone();
    let pairs: Vec<String> = url
        .query_pairs()
        .map(|(name, value)| {
            format!(
                "{}={}",
                bounded(&name, SHOWN_MOST),
                bounded(&value, SHOWN_MOST)
            )
        })
        .collect();
    shown.set_query(None);
    shown.set_fragment(None);
    match pairs.is_empty() {
        true => shown.to_string(),
        false => format!("{shown}?{}", pairs.join("&")),
    }
}

/// The most of a body's values the approval page shows.
const SHOWN_VALUES: usize = 50;

/// A body's values as the approval page shows them, whether a policy reads
/// them or not: a JSON body's scalars at their dotted paths, each bounded,
/// at most [`SHOWN_VALUES`] of them (then how many more); none for a body
/// that does not read as JSON (its digest stands for it).
pub(crate) fn body_shown(body: &[u8]) -> Vec<(String, String)> {
    let (values, all) = crate::contents::values(body, SHOWN_VALUES);
    let each = values.into_iter();
    let mut shown: Vec<(String, String)> = each
        .map(|(path, value)| (bounded(&path, SHOWN_MOST), bounded(&value, SHOWN_MOST)))
        .collect();
    if all > SHOWN_VALUES {
        shown.push((
            "…".to_owned(),
            format!("and {} more values", all - SHOWN_VALUES),
        ));
    }
    shown
}

/// Every header a call sends upstream, as its approval is bound to and its
/// page shows them (the credential `serve` adds is not among them): names
/// in lower case, values as sent, sorted; a value a secret scanner would
/// flag ([`looks_secret`]) stands as its SHA-256, so that it is bound, and
/// never shown, logged or kept; one longer than [`SHOWN_MOST`] as its
/// beginning, its length and its SHA-256.
pub(crate) fn sent(headers: &[(String, String)]) -> Vec<(String, String)> {
    let mut sent: Vec<(String, String)> = (headers.iter())
        .map(|(name, value)| {
            let name = name.to_ascii_lowercase();
            let digest = || crate::principal::sha256_hex(&[value.as_bytes()]);
            let value = match looks_secret(&name, value) {
                true => format!("withheld, SHA-256 {}", digest()),
                false if value.len() > SHOWN_MOST => {
                    let (most, bytes) = (bounded(value, SHOWN_MOST), value.len());
                    format!("{most} ({bytes} bytes, SHA-256 {})", digest())
                }
                false => value.clone(),
            };
            (name, value)
        })
        .collect();
    sent.sort();
    sent
}

/// Words in a header's name that say its value is a credential, as
/// secret scanners read a name (gitleaks' generic rule, GitHub's).
const SECRET_NAMES: [&str; 13] = [
    "auth",
    "token",
    "key",
    "secret",
    "passw",
    "cookie",
    "session",
    "signature",
    "credential",
    "csrf",
    "xsrf",
    "jwt",
    "private",
];

/// How the credentials scanners know by their form begin (the providers'
/// published token formats: GitHub, Stripe, Slack, AWS, Google, GitLab,
/// OpenAI and Anthropic, a JWT, a PEM key), and HTTP's own schemes.
const SECRET_FORMS: [&str; 22] = [
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    "sk_",
    "rk_",
    "whsec_",
    "xox",
    "akia",
    "asia",
    "aiza",
    "ya29.",
    "glpat-",
    "sk-",
    "eyj",
    "-----begin",
    "bearer ",
    "basic ",
    "token ",
    "digest ",
];

/// Whether a header's value is one a secret scanner would flag: its name
/// says it carries a credential ([`SECRET_NAMES`]), or a word of its value
/// has a credential's known form ([`SECRET_FORMS`]), in any case.
pub(crate) fn looks_secret(name: &str, value: &str) -> bool {
    let name = name.to_ascii_lowercase();
    let value = value.to_ascii_lowercase();
    let words = value.split([',', ';', '=', ' ', '\t', '"']);
    SECRET_NAMES.iter().any(|word| name.contains(word))
        || SECRET_FORMS
            .iter()
            .any(|form| value.trim_start().starts_with(form))
        || words.into_iter().any(|word| {
            let word = word.trim();
            SECRET_FORMS
                .iter()
                .any(|form| !form.ends_with(' ') && word.starts_with(form))
        })
}

/// What became of an asked call: approved or denied, by whom (a person's
/// name as the policy reads it), and the approver's reason.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) enum Verdict {
    Approved { by: String },
    Denied { by: String, reason: String },
}

/// Where verdicts wait for their calls, each kept for a while and taken
/// once: in this process ([`InMemory`]), or in the store every replica
/// shares (`impl Verdicts for Store`, [`crate::serve`]'s store).
#[async_trait::async_trait]
pub(crate) trait Verdicts: Send + Sync {
    /// `verdict` (as JSON) on the call bound to `binding`, kept `kept`.
    async fn put(&self, binding: &str, verdict: String, kept: Duration) -> Result<(), String>;
    /// The verdict on the call bound to `binding`, taken (a second take
    /// finds none), if one is kept.
    async fn take(&self, binding: &str) -> Result<Option<String>, String>;
}

/// Verdicts in this process's memory: exact for one replica.
#[derive(Default)]
pub(crate) struct InMemory(Mutex<HashMap<String, (String, Instant)>>);

#[async_trait::async_trait]
impl Verdicts for InMemory {
    async fn put(&self, binding: &str, verdict: String, kept: Duration) -> Result<(), String> {
        let mut held = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        held.retain(|_, (_, until)| *until > now);
        held.insert(binding.to_owned(), (verdict, now + kept));
        Ok(())
    }

    async fn take(&self, binding: &str) -> Result<Option<String>, String> {
        let mut held = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let taken = held.remove(binding);
        Ok(taken
            .filter(|(_, until)| *until > Instant::now())
            .map(|(json, _)| json))
    }
}

/// What a call finds of its approval.
#[derive(Debug, PartialEq)]
pub(crate) enum Taken {
    /// A verdict, taken, with its life.
    Verdict(Waiting),
    /// One whose life ended before the call came back for it.
    Expired,
    /// None.
    None,
}

/// A verdict as it waits: itself, and until when it holds (milliseconds
/// since the Unix epoch); kept twice as long, so that a call that comes
/// after is told it expired.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Waiting {
    /// The verdict.
    pub(crate) verdict: Verdict,
    /// Until when it holds.
    pub(crate) until: u64,
}

/// The verdicts on asked calls, each holding for `--approval-life`, taken
/// once, wherever `verdicts` keeps them.
pub(crate) struct Approvals {
    life: Duration,
    verdicts: Arc<dyn Verdicts>,
}

impl Approvals {
    /// Verdicts kept by `verdicts`, each holding `life`.
    pub(crate) fn new(life: Duration, verdicts: Arc<dyn Verdicts>) -> Approvals {
        Approvals { life, verdicts }
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
        let life = u64::try_from(self.life.as_millis()).unwrap_or(u64::MAX);
        let until = now_ms().saturating_add(life);
        let json = serde_json::to_string(&Waiting { verdict, until }).map_err(|e| e.to_string())?;
        self.verdicts.put(binding, json, self.life * 2).await
    }

    /// The verdict on the call bound to `binding`, taken (a second call
    /// finds none): the verdict, that it expired, or none.
    ///
    /// # Errors
    ///
    /// The store did not answer.
    pub(crate) async fn take(&self, binding: &str) -> Result<Taken, String> {
        let Some(json) = self.verdicts.take(binding).await? else {
            return Ok(Taken::None);
        };
        // 0.14 kept the verdict alone, for its life.
        let waiting = serde_json::from_str::<Waiting>(&json).ok().or_else(|| {
            let verdict = serde_json::from_str(&json).ok()?;
            Some(Waiting {
                verdict,
                until: u64::MAX,
            })
        });
        Ok(match waiting {
            Some(waiting) if waiting.until > now_ms() => Taken::Verdict(waiting),
            Some(_) => Taken::Expired,
            None => Taken::None,
        })
    }

    /// A verdict `taken` for a call that then sent nothing (its provider
    /// not connected yet), given back for the call made again, for what is
    /// left of its life: an approval is spent by the request it approves.
    ///
    /// # Errors
    ///
    /// The store did not answer.
    pub(crate) async fn give_back(&self, binding: &str, taken: &Waiting) -> Result<(), String> {
        let left = Duration::from_millis(taken.until.saturating_sub(now_ms()));
        let json = serde_json::to_string(taken).map_err(|e| e.to_string())?;
        self.verdicts.put(binding, json, left + self.life).await
    }
}

/// Milliseconds since the Unix epoch.
fn now_ms() -> u64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    since.map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
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
            methods: vec!["POST".into()],
            url: "https://api.stripe.com/v1/refunds".into(),
            shown: "https://api.stripe.com/v1/refunds".into(),
            headers: vec![(
                "content-type".into(),
                "application/x-www-form-urlencoded".into(),
            )],
            body: "ab".into(),
            body_values: vec![("amount".into(), "20000".into())],
            values: vec![("amount".into(), "20000".into())],
            policies: vec!["refunds".into()],
            approver: Approver::Person,
        }
    }

    #[test]
    fn an_approval_is_bound_to_every_field_a_call_repeats() {
        let first = asked().binding();
        assert_eq!(first, asked().binding());
        let changed: [fn(&mut Asked); 10] = [
            |a| {
                a.headers
                    .push(("x-http-method-override".into(), "DELETE".into()))
            },
            |a| a.headers[0].1.push('x'),
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

    proptest::proptest! {
        /// Any header added to an approved call, or any header's value
        /// changed, is another binding; a name's case is not; a value a
        /// scanner flags is bound, and kept nowhere as written.
        #[test]
        fn every_header_sent_is_bound(
            name in "[!#$%&'*+.^_`|~0-9A-Za-z-]{1,24}",
            value in "[ -~]{0,300}",
            other in "[ -~]{0,300}",
        ) {
            let with = |headers: Vec<(String, String)>| {
                let mut asked = asked();
                asked.headers = sent(&headers);
                asked
            };
            let typed = ("Content-Type".to_owned(), "application/json".to_owned());
            let plain = with(vec![typed.clone()]).binding();
            let added = with(vec![typed.clone(), (name.clone(), value.clone())]);
            proptest::prop_assert_ne!(&added.binding(), &plain);
            let upper = (name.to_ascii_uppercase(), value.clone());
            proptest::prop_assert_eq!(with(vec![upper, typed.clone()]).binding(), added.binding());
            if other != value {
                let changed = with(vec![typed, (name.clone(), other)]);
                proptest::prop_assert_ne!(changed.binding(), added.binding());
            }
            if looks_secret(&name, &value) && value.trim().len() >= 8 {
                let kept = added.headers.iter().find(|(_, kept)| kept.contains(value.trim()));
                proptest::prop_assert!(kept.is_none(), "{kept:?}");
            }
        }
    }

    #[tokio::test]
    async fn a_verdict_is_taken_once_and_one_past_its_life_is_told_expired() {
        let memory: Arc<dyn Verdicts> = Arc::new(InMemory::default());
        let approvals = Approvals::new(Duration::from_secs(60), Arc::clone(&memory));
        let approved = Verdict::Approved { by: "bob".into() };
        approvals.put("b", approved.clone()).await.unwrap();
        assert_eq!(approvals.take("other").await.unwrap(), Taken::None);
        let Taken::Verdict(taken) = approvals.take("b").await.unwrap() else {
            panic!("no verdict");
        };
        assert_eq!(taken.verdict, approved);
        assert_eq!(approvals.take("b").await.unwrap(), Taken::None, "used once");
        // Given back (nothing was sent), for what was left of its life.
        approvals.give_back("b", &taken).await.unwrap();
        assert_eq!(
            approvals.take("b").await.unwrap(),
            Taken::Verdict(taken.clone())
        );
        let spent = Waiting {
            until: now_ms() - 1,
            ..taken
        };
        approvals.give_back("b", &spent).await.unwrap();
        assert_eq!(approvals.take("b").await.unwrap(), Taken::Expired);
        let past = Waiting {
            verdict: approved,
            until: now_ms() - 1,
        };
        let past = serde_json::to_string(&past).unwrap();
        memory
            .put("c", past, Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(approvals.take("c").await.unwrap(), Taken::Expired);
        let url = url::Url::parse("https://x.example/a?amount=5&to=me#f").unwrap();
        assert_eq!(shown(&url), "https://x.example/a?amount=5&to=me");
        let long = format!("https://x.example/a?note={}", "y".repeat(300));
        assert!(shown(&url::Url::parse(&long).unwrap()).ends_with("y…"));
        let headers = [
            ("X-HTTP-Method-Override".to_owned(), "DELETE".to_owned()),
            (
                "Stripe-Account".to_owned(),
                "acct_1Nv0FGQ9RKHgCVdK".to_owned(),
            ),
            ("X-Api-Key".to_owned(), "hunter2".to_owned()),
            ("X-Forwarded-For".to_owned(), "sk_live_51H".to_owned()),
        ];
        let sent = sent(&headers);
        let hidden = |value: &str| {
            format!(
                "withheld, SHA-256 {}",
                crate::principal::sha256_hex(&[value.as_bytes()])
            )
        };
        assert_eq!(
            sent,
            [
                (
                    "stripe-account".to_owned(),
                    "acct_1Nv0FGQ9RKHgCVdK".to_owned()
                ),
                ("x-api-key".to_owned(), hidden("hunter2")),
                ("x-forwarded-for".to_owned(), hidden("sk_live_51H")),
                ("x-http-method-override".to_owned(), "DELETE".to_owned()),
            ]
        );
    }
}
