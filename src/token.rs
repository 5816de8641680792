//! [`CachedToken`]: a credential ready to apply to a request, as the cache
//! holds it. Opaque and cheap to clone: one shared allocation.

use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::echo::Form;
use crate::redact::REDACTED;
use crate::url::form_urlencode;

/// The latest expiry a token is given, 9999-12-31T23:59:59Z: a later one
/// (a far-future "never") is taken as this, so that every token the crate
/// makes can be written and read back (feature `serde`).
pub(crate) const LATEST_EXPIRY_SECS: u64 = 253_402_300_799;

/// How a credential is applied to a request, as the Broker names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Strategy {
    /// `Authorization: <token_type> <token>`.
    OAuth2,
    /// `<header_name>: <value_prefix><key>`.
    Header,
    /// `Authorization: Basic base64(user:password)`.
    BasicAuth,
    /// `?<param>=<key>`.
    QueryParam,
    /// An HMAC of each request's body in `<header_name>`.
    HmacPayload,
    /// AWS Signature Version 4 over each request.
    AwsSigV4,
}

impl Strategy {
    /// Every strategy and the Broker's name for it.
    const NAMES: [(Strategy, &'static str); 6] = [
        (Strategy::OAuth2, "oauth2"),
        (Strategy::Header, "header"),
        (Strategy::BasicAuth, "basic_auth"),
        (Strategy::QueryParam, "query_param"),
        (Strategy::HmacPayload, "hmac_payload"),
        (Strategy::AwsSigV4, "aws_sigv4"),
    ];

    /// The strategy the Broker names `name`.
    pub(crate) fn parse(name: &str) -> Option<Strategy> {
        let found = Strategy::NAMES.iter().find(|(_, n)| *n == name);
        found.map(|(strategy, _)| *strategy)
    }

    /// The Broker's name for it.
    pub(crate) fn as_str(self) -> &'static str {
        let found = Strategy::NAMES.iter().find(|(s, _)| *s == self);
        found.map_or("", |(_, name)| name)
    }
}

/// The hashes an `hmac_payload` signature may use (`config.algo`), the
/// default first.
pub(crate) const HMAC_ALGOS: [&str; 2] = ["sha256", "sha1"];
/// How an `hmac_payload` signature may be written (`config.encoding`):
/// lowercase hexadecimal (the default) or standard base64, padded.
pub(crate) const HMAC_ENCODINGS: [&str; 2] = ["hex", "base64"];

/// What signs each request, for the two signing strategies (with the
/// `serde` feature, the flat fields of a token's record). The signing
/// secret itself is the token's `access_token`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(untagged))]
pub(crate) enum Signer {
    /// `hmac_payload`: the signature goes in the token's `header_name`.
    Hmac {
        /// One of [`HMAC_ALGOS`].
        algo: String,
        /// One of [`HMAC_ENCODINGS`].
        encoding: String,
    },
    /// `aws_sigv4`.
    AwsSigV4 {
        access_key: String,
        #[cfg_attr(
            feature = "serde",
            serde(default, skip_serializing_if = "Option::is_none")
        )]
        session_token: Option<Secret>,
        region: String,
        service: String,
    },
}

#[cfg(feature = "serde")]
impl Signer {
    /// Whether an HMAC signer names an algorithm and an encoding it knows.
    fn is_known(&self) -> bool {
        let Signer::Hmac { algo, encoding } = self else {
            return true;
        };
        HMAC_ALGOS.contains(&algo.as_str()) && HMAC_ENCODINGS.contains(&encoding.as_str())
    }
}

/// A secret that `Debug` never shows.
#[derive(Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(transparent))]
pub(crate) struct Secret(pub(crate) String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// A token's text that is most often a constant (`Bearer`, `Authorization`):
/// a constant takes no allocation.
type Text = Cow<'static, str>;

/// A [`CachedToken`]'s fields, as its constructors build them (they hold
/// every strategy's rules): what two equal tokens share.
#[derive(Clone, PartialEq)]
struct Parts {
    access_token: Box<str>,
    token_type: Text,
    expires_at: SystemTime,
    /// How it is sent: none for [`BEARER`]'s way, most tokens', so that a
    /// token a cache holds is a third of the size.
    shape: Option<Box<Shape>>,
}

/// How a token is sent.
#[derive(Clone, PartialEq)]
struct Shape {
    strategy: Strategy,
    header_name: Text,
    value_prefix: Text,
    query_param: Option<String>,
    /// `Some` for the strategies that sign each request.
    signer: Option<Box<Signer>>,
}

/// `Authorization: Bearer <token>`.
static BEARER: Shape = Shape {
    strategy: Strategy::OAuth2,
    header_name: Cow::Borrowed("Authorization"),
    value_prefix: Cow::Borrowed("Bearer "),
    query_param: None,
    signer: None,
};

/// The shape of `parts`, to change (a token is built, then never changed).
fn shape_of(parts: &mut Parts) -> &mut Shape {
    parts.shape.get_or_insert_with(|| Box::new(BEARER.clone()))
}

/// How many tokens' echo forms are held at once (about 1.5 KiB each).
const FORMS_HELD: usize = 32;

/// The tokens whose echo forms are held, each known by a weak reference.
type Held = Vec<(Weak<Shared>, Arc<[Form]>)>;
static FORMS: parking_lot::Mutex<Held> = parking_lot::const_mutex(Vec::new());

/// One token, shared by its clones.
struct Shared {
    parts: Parts,
    /// Set when a request that carried this very token got a 401 its user
    /// reported ([`Authorization::rejected`](crate::Authorization::rejected)):
    /// every cache holding it then drops it at its next look. Not part of
    /// the token's value.
    rejected: AtomicBool,
}

/// A credential ready to apply to a request (Python's resolved token).
///
/// Cheap to clone: clones share one allocation, so a cache hit copies no
/// string. Read it through its methods; the secret is behind
/// [`access_token`](Self::access_token) and never in `Debug`.
///
/// With the `serde` feature it serializes as a flat object: `access_token`,
/// `token_type`, `expires_at` (epoch seconds, to the microsecond),
/// `header_name`, `value_prefix`, `query_param`, `strategy`, and for the
/// signing strategies their parameters. **The output holds the secret**
/// (and an AWS session token): store it as you would the secret itself,
/// never in a log. Deserializing checks that the strategy and its
/// parameters agree.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use nexus_sdk::CachedToken;
///
/// let token = CachedToken::bearer("gho_secret", SystemTime::now() + Duration::from_secs(3600));
/// assert_eq!(token.header_name(), "Authorization");
/// assert_eq!(token.header_value(), "Bearer gho_secret");
/// assert_eq!(token.strategy(), "oauth2");
/// assert!(!format!("{token:?}").contains("gho_secret"));
///
/// let key = CachedToken::bearer("k-123", SystemTime::now() + Duration::from_secs(60))
///     .with_header("X-API-Key", "");
/// assert_eq!((key.header_name(), key.header_value().as_str()), ("X-API-Key", "k-123"));
/// ```
#[derive(Clone)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(into = "TokenRecord", try_from = "TokenRecord")
)]
pub struct CachedToken {
    shared: Arc<Shared>,
}

/// Two tokens are equal when they are the same credential, whichever
/// allocation holds them.
impl PartialEq for CachedToken {
    fn eq(&self, other: &Self) -> bool {
        self.shared.parts == other.shared.parts
    }
}

impl Eq for CachedToken {}

impl CachedToken {
    /// An OAuth2 bearer token: `Authorization: Bearer <access_token>`.
    pub fn bearer(access_token: impl Into<String>, expires_at: SystemTime) -> Self {
        CachedToken::from_parts(Parts {
            access_token: access_token.into().into(),
            token_type: Cow::Borrowed("Bearer"),
            expires_at,
            shape: None,
        })
    }

    /// The same credential sent in `header_name` after `value_prefix` (which
    /// may be empty): the `header` strategy. Its token type becomes the
    /// trimmed prefix, or the header name when that is empty.
    #[must_use]
    pub fn with_header(
        self,
        header_name: impl Into<String>,
        value_prefix: impl Into<String>,
    ) -> Self {
        self.edit(|p| {
            let shape = shape_of(p);
            (shape.strategy, shape.query_param, shape.signer) = (Strategy::Header, None, None);
            shape.header_name = Cow::Owned(header_name.into());
            shape.value_prefix = Cow::Owned(value_prefix.into());
            p.token_type = match shape.value_prefix.trim() {
                "" => shape.header_name.clone(),
                trimmed => Cow::Owned(trimmed.to_owned()),
            };
        })
    }

    /// The same credential sent as the query parameter `name`: the
    /// `query_param` strategy.
    #[must_use]
    pub fn with_query_param(self, name: impl Into<String>) -> Self {
        self.edit(|p| {
            let name = name.into();
            p.token_type = Cow::Owned(name.clone());
            let shape = shape_of(p);
            (shape.strategy, shape.value_prefix) = (Strategy::QueryParam, Cow::Borrowed(""));
            (shape.query_param, shape.signer) = (Some(name), None);
        })
    }

    /// The token type as the provider spelled it. The header prefix follows
    /// it as the Gateway's `oauth2` rule says: `"Bearer "` for any casing of
    /// `bearer`, else `"<token_type> "`.
    #[must_use]
    pub fn with_token_type(self, token_type: impl Into<String>) -> Self {
        self.edit(|p| {
            let token_type: String = token_type.into();
            shape_of(p).value_prefix = if token_type.eq_ignore_ascii_case("bearer") {
                Cow::Borrowed("Bearer ")
            } else {
                Cow::Owned(format!("{token_type} "))
            };
            let constant = ["Bearer", "bearer"].into_iter().find(|t| *t == token_type);
            p.token_type = constant.map_or(Cow::Owned(token_type), Cow::Borrowed);
        })
    }

    /// `basic_auth`: `Authorization: Basic <encoded>`, where `encoded` is
    /// `base64(user:password)`.
    pub(crate) fn basic_auth(encoded: String, expires_at: SystemTime) -> Self {
        CachedToken::bearer(encoded, expires_at).edit(|p| {
            p.token_type = Cow::Borrowed("Basic");
            let shape = shape_of(p);
            (shape.strategy, shape.value_prefix) = (Strategy::BasicAuth, Cow::Borrowed("Basic "));
        })
    }

    /// A strategy that signs each request with `secret`: `hmac_payload`
    /// (the signature in `header_name`) or `aws_sigv4` (in `Authorization`).
    pub(crate) fn signed(
        secret: String,
        expires_at: SystemTime,
        header_name: String,
        signer: Signer,
    ) -> Self {
        CachedToken::bearer(secret, expires_at).edit(|p| {
            let (strategy, sent_in);
            (strategy, p.token_type, sent_in) = match &signer {
                Signer::Hmac { algo, .. } => (
                    Strategy::HmacPayload,
                    Cow::Owned(format!("HMAC-{}", algo.to_ascii_uppercase())),
                    Cow::Owned(header_name),
                ),
                Signer::AwsSigV4 { .. } => (
                    Strategy::AwsSigV4,
                    Cow::Borrowed("AWS4-HMAC-SHA256"),
                    Cow::Borrowed("Authorization"),
                ),
            };
            let shape = shape_of(p);
            (shape.strategy, shape.header_name) = (strategy, sent_in);
            shape.value_prefix = Cow::Borrowed("");
            shape.signer = Some(Box::new(signer));
        })
    }

    /// The credential itself (Python `.access_token`): a secret. For
    /// `hmac_payload` it is the signing secret, for `aws_sigv4` the secret
    /// access key.
    pub fn access_token(&self) -> &str {
        &self.shared.parts.access_token
    }

    /// The token type, provider casing kept (`bearer` stays `bearer`).
    pub fn token_type(&self) -> &str {
        &self.shared.parts.token_type
    }

    /// When the token stops being valid.
    pub fn expires_at(&self) -> SystemTime {
        self.shared.parts.expires_at
    }

    /// The header that carries it: `Authorization`, `X-API-Key`, …
    pub fn header_name(&self) -> &str {
        &self.shape().header_name
    }

    /// What goes before the token in the header value: `"Bearer "`, `"Basic "`, `""`, …
    pub fn value_prefix(&self) -> &str {
        &self.shape().value_prefix
    }

    /// `Some(name)` when the token is sent as the query parameter `name`
    /// rather than in a header.
    pub fn query_param(&self) -> Option<&str> {
        self.shape().query_param.as_deref()
    }

    /// The header value to send: the prefix followed by the token. A secret.
    ///
    /// Empty for `hmac_payload` and `aws_sigv4`: their value is a signature
    /// over each request, which
    /// [`authenticated_fetch`](crate::NexusClient::authenticated_fetch)
    /// computes as it sends it. The signing secret is never a header value.
    pub fn header_value(&self) -> String {
        if self.signer().is_some() {
            return String::new();
        }
        [self.value_prefix(), self.access_token()].concat()
    }

    /// The strategy, as the Broker names it: `oauth2`, `header`,
    /// `basic_auth`, `query_param`, `hmac_payload` or `aws_sigv4`.
    pub fn strategy(&self) -> &str {
        self.shape().strategy.as_str()
    }

    /// The request signer of the signing strategies.
    pub(crate) fn signer(&self) -> Option<&Signer> {
        self.shape().signer.as_deref()
    }

    fn shape(&self) -> &Shape {
        self.shared.parts.shape.as_deref().unwrap_or(&BEARER)
    }

    /// Whether `text` holds this credential in a form the echo rule finds
    /// (the one [`FetchOptions::withhold_credential_echo`] applies; in a
    /// build without the `echo` feature, as it is or percent-decoded): a
    /// program writes a URL a call reached (a trace, a log line) only where
    /// this says no. A scan that cannot finish says yes.
    ///
    /// [`FetchOptions::withhold_credential_echo`]: crate::FetchOptions::withhold_credential_echo
    pub fn echoed_in(&self, text: &str) -> bool {
        crate::echo::echoes(text.as_bytes(), &self.secrets(), None) != Some(false)
    }

    /// Every secret a request may carry, in each form an answer may echo
    /// it whole: the token; for `basic_auth` also the `user:password` pair
    /// it encodes and the password alone; an AWS session token; and each as
    /// a query parameter carries it, form-encoded.
    pub(crate) fn secrets(&self) -> Vec<String> {
        let mut secrets = vec![self.access_token().to_owned()];
        match self.signer() {
            Some(Signer::AwsSigV4 { session_token, .. }) => {
                secrets.extend(session_token.as_ref().map(|s| s.0.clone()));
            }
            _ if self.shape().strategy == Strategy::BasicAuth => {
                let pair = BASE64.decode(self.access_token()).unwrap_or_default();
                let pair = String::from_utf8_lossy(&pair).into_owned();
                let password = pair.split_once(':').map(|(_, pw)| pw.to_owned());
                secrets.extend(password);
                secrets.push(pair);
            }
            _ => {}
        }
        let forms = secrets
            .iter()
            .map(|s| form_urlencode(&[("", s)])[1..].to_owned());
        let forms: Vec<String> = forms.filter(|form| !secrets.contains(form)).collect();
        secrets.extend(forms);
        secrets
    }

    /// The forms its secrets are looked for in, built at its first fetch
    /// and held beside it for the next: weakly (a token dropped leaves its
    /// place at the next one held), for at most [`FORMS_HELD`] at once.
    pub(crate) fn echo_forms(&self) -> Arc<[Form]> {
        let this = Arc::as_ptr(&self.shared);
        let held = FORMS.lock();
        let found = held
            .iter()
            .find(|(token, _)| std::ptr::eq(token.as_ptr(), this));
        if let Some((_, forms)) = found {
            return Arc::clone(forms);
        }
        drop(held);
        let forms: Arc<[Form]> = crate::echo::forms(&self.secrets()).into();
        let mut held = FORMS.lock();
        held.retain(|(token, _)| token.strong_count() > 0);
        if held.len() >= FORMS_HELD {
            held.remove(0);
        }
        held.push((Arc::downgrade(&self.shared), Arc::clone(&forms)));
        forms
    }

    fn from_parts(mut parts: Parts) -> Self {
        parts.shape = parts.shape.filter(|shape| **shape != BEARER);
        let rejected = AtomicBool::new(false);
        let shared = Arc::new(Shared { parts, rejected });
        CachedToken { shared }
    }

    /// Whether both are clones of one token (one cache entry), whatever
    /// their text: a Gateway may hand out the same string twice.
    pub(crate) fn same_entry(&self, other: &CachedToken) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }

    /// Marks this token (and every clone of it) as refused by an upstream.
    pub(crate) fn reject(&self) {
        self.shared.rejected.store(true, Ordering::Relaxed);
    }

    /// Whether an upstream refused this token.
    pub(crate) fn is_rejected(&self) -> bool {
        self.shared.rejected.load(Ordering::Relaxed)
    }

    /// This token with `change` made: a new token (a token is immutable).
    fn edit(self, change: impl FnOnce(&mut Parts)) -> Self {
        let mut parts = self.shared.parts.clone();
        change(&mut parts);
        CachedToken::from_parts(parts)
    }
}

impl fmt::Debug for CachedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (p, shape) = (&self.shared.parts, self.shape());
        f.debug_struct("CachedToken")
            .field("access_token", &REDACTED)
            .field("token_type", &p.token_type)
            .field("expires_at", &p.expires_at)
            .field("header_name", &shape.header_name)
            .field("value_prefix", &shape.value_prefix)
            .field("query_param", &shape.query_param)
            .field("strategy", &shape.strategy.as_str())
            .field("signer", &shape.signer)
            .finish()
    }
}

/// `CachedToken` as serde sees it: flat, with the expiry in epoch seconds
/// and a signing strategy's parameters beside the rest.
#[cfg(feature = "serde")]
#[derive(serde::Serialize, serde::Deserialize)]
struct TokenRecord {
    access_token: String,
    token_type: String,
    expires_at: f64,
    header_name: String,
    value_prefix: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    query_param: Option<String>,
    strategy: String,
    #[serde(flatten)]
    signer: Option<Signer>,
}

#[cfg(feature = "serde")]
impl From<CachedToken> for TokenRecord {
    fn from(token: CachedToken) -> TokenRecord {
        // Capped as the resolver caps it, so that what is written reads back.
        let latest = LATEST_EXPIRY_SECS as f64;
        let seconds = match token.expires_at().duration_since(std::time::UNIX_EPOCH) {
            Ok(after) => after.as_secs_f64(),
            Err(before) => -before.duration().as_secs_f64(),
        };
        TokenRecord {
            access_token: token.access_token().to_owned(),
            token_type: token.token_type().to_owned(),
            expires_at: seconds.clamp(-latest, latest),
            header_name: token.header_name().to_owned(),
            value_prefix: token.value_prefix().to_owned(),
            query_param: token.query_param().map(str::to_owned),
            strategy: token.strategy().to_owned(),
            signer: token.signer().cloned(),
        }
    }
}

/// Reading a record back checks that the strategy and its parameters agree.
#[cfg(feature = "serde")]
impl TryFrom<TokenRecord> for CachedToken {
    type Error = String;

    fn try_from(r: TokenRecord) -> Result<CachedToken, String> {
        let expires_at =
            expiry_from_seconds(r.expires_at).ok_or("expires_at is not a time in epoch seconds")?;
        let missing = |what: &str| format!("{} token has no {what}", r.strategy);
        let strategy = Strategy::parse(&r.strategy)
            .ok_or_else(|| format!("unknown strategy `{}`", r.strategy))?;
        let (secret, header) = (r.access_token, r.header_name);
        let token = |secret| CachedToken::bearer(secret, expires_at);
        Ok(match (strategy, r.signer) {
            (Strategy::OAuth2, _) => token(secret).with_token_type(r.token_type),
            (Strategy::Header, _) => token(secret).with_header(header, r.value_prefix),
            (Strategy::BasicAuth, _) => CachedToken::basic_auth(secret, expires_at),
            (Strategy::QueryParam, _) => {
                token(secret).with_query_param(r.query_param.ok_or_else(|| missing("query_param"))?)
            }
            (Strategy::HmacPayload, Some(signer @ Signer::Hmac { .. })) if signer.is_known() => {
                CachedToken::signed(secret, expires_at, header, signer)
            }
            (Strategy::AwsSigV4, Some(signer @ Signer::AwsSigV4 { .. })) => {
                CachedToken::signed(secret, expires_at, header, signer)
            }
            (Strategy::HmacPayload, _) => return Err(missing("known algo and encoding")),
            (Strategy::AwsSigV4, _) => return Err(missing("access_key, region and service")),
        })
    }
}

/// Epoch seconds (fractions kept to the microsecond) as a time.
#[cfg(feature = "serde")]
fn expiry_from_seconds(seconds: f64) -> Option<SystemTime> {
    if !seconds.is_finite() || seconds.abs() > 1e13 {
        return None;
    }
    let micros = std::time::Duration::from_micros((seconds.abs() * 1e6).round() as u64);
    if seconds >= 0.0 {
        std::time::UNIX_EPOCH.checked_add(micros)
    } else {
        std::time::UNIX_EPOCH.checked_sub(micros)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn echo_forms_are_built_once_a_token_and_let_go_with_it() {
        let expires = SystemTime::now() + Duration::from_secs(60);
        let token = CachedToken::bearer("gho_forms_held_0123456789abcdef", expires);
        let forms = token.echo_forms();
        assert!(
            Arc::ptr_eq(&forms, &token.clone().echo_forms()),
            "its clones read them"
        );
        let echoed = crate::echo::echoes_of(&forms, b"seen: gho_forms_held_0123456789abcdef", None);
        assert_eq!(echoed, Some(true));
        // More tokens than are held: at most FORMS_HELD at once, each dropped
        // token's place taken at the next one held.
        let others: Vec<CachedToken> = (0..FORMS_HELD + 8)
            .map(|n| CachedToken::bearer(format!("gho_other_token_{n:020}"), expires))
            .collect();
        let weak: Vec<Weak<Shared>> = others.iter().map(|t| Arc::downgrade(&t.shared)).collect();
        for other in &others {
            assert_eq!(
                crate::echo::echoes_of(&other.echo_forms(), b"nothing", None),
                Some(false)
            );
            assert!(FORMS.lock().len() <= FORMS_HELD);
        }
        drop(others);
        let next = CachedToken::bearer("gho_the_next_token_0123456789", expires);
        let _ = next.echo_forms();
        // (Each allocation kept by `weak`: no other token takes its address.)
        let held = FORMS.lock();
        let theirs = |w: &Weak<Shared>| held.iter().any(|(h, _)| h.ptr_eq(w));
        assert!(!weak.iter().any(theirs), "none of theirs is held");
        drop(held);
        // Its forms let go, a token builds the same again.
        let again = token.echo_forms();
        assert_eq!(
            crate::echo::echoes_of(&again, b"gho_forms_held_0123456789abcdef", None),
            Some(true)
        );
    }

    #[test]
    fn a_url_holding_the_credential_in_any_form_the_echo_rule_finds_is_echoed() {
        let expires = SystemTime::now() + Duration::from_secs(60);
        let token = CachedToken::bearer("gho_s3cr3t/t0ken+x", expires);
        for url in [
            "https://api.example/a/gho_s3cr3t/t0ken+x/b",
            "https://api.example/a/gho_s3cr3t%2Ft0ken%2Bx",
            "https://api.example/a/gho_s3cr3t%252Ft0ken%252Bx",
        ] {
            assert!(token.echoed_in(url), "{url}");
        }
        #[cfg(feature = "echo")]
        assert!(token.echoed_in("https://api.example/a/Z2hvX3MzY3IzdC90MGtlbit4"));
        assert!(!token.echoed_in("https://api.example/a/gho_s3cr3t"));
        assert!(!token.echoed_in("https://api.example/repos/x?page=2"));
    }

    #[test]
    fn builders() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_900_000_000);
        let t = CachedToken::bearer("t", at).with_token_type("bearer");
        assert_eq!((t.token_type(), t.value_prefix()), ("bearer", "Bearer "));
        let t = t.with_token_type("MAC");
        assert_eq!(t.header_value(), "MAC t");
        let q = CachedToken::bearer("k", at).with_query_param("api_key");
        assert_eq!(
            (q.query_param(), q.strategy(), q.value_prefix()),
            (Some("api_key"), "query_param", "")
        );
        let h = CachedToken::bearer("k", at).with_header("X-Key", "Token ");
        assert_eq!(
            (h.token_type(), h.header_value().as_str()),
            ("Token", "Token k")
        );
        assert_eq!(h.expires_at(), at);
    }

    #[test]
    fn a_token_built_back_to_a_bearer_is_equal_to_one_built_so() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_900_000_000);
        let plain = CachedToken::bearer("gho_x", at);
        let back = (plain.clone().with_token_type("MAC")).with_token_type("Bearer");
        assert_eq!(back, plain);
        assert_eq!(
            (back.value_prefix(), back.header_name()),
            ("Bearer ", "Authorization")
        );
        let github = plain.clone().with_token_type("bearer");
        assert_ne!(github, plain, "the provider's casing is kept");
        assert_eq!(
            github,
            CachedToken::bearer("gho_x", at).with_token_type("bearer")
        );
    }

    #[test]
    fn every_text_reads_back_as_set() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_900_000_000);
        let plain = CachedToken::bearer("gho_x", at);
        assert_eq!(
            (
                plain.token_type(),
                plain.header_name(),
                plain.value_prefix(),
                plain.query_param()
            ),
            ("Bearer", "Authorization", "Bearer ", None)
        );
        let github = plain.clone().with_token_type("bearer");
        assert_eq!(
            (github.token_type(), github.value_prefix()),
            ("bearer", "Bearer ")
        );
        // Every text set, in any order of edits, reads back as set.
        let q = CachedToken::bearer("k€y", at)
            .with_header("X-Ünicode", "")
            .with_query_param("p");
        assert_eq!(
            (
                q.access_token(),
                q.token_type(),
                q.header_name(),
                q.value_prefix(),
                q.query_param()
            ),
            ("k€y", "p", "X-Ünicode", "", Some("p"))
        );
        // Equal tokens compare equal however they were built.
        assert_eq!(
            CachedToken::bearer("t", at).with_token_type("Bearer"),
            CachedToken::bearer("t", at)
        );
    }

    #[test]
    fn clones_share_one_entry_and_equal_texts_do_not() {
        let at = SystemTime::now();
        let a = CachedToken::bearer("same", at);
        let b = CachedToken::bearer("same", at);
        assert_eq!(a, b);
        assert!(!a.same_entry(&b));
        assert!(a.same_entry(&a.clone()));
    }
}
