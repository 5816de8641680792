//! [`CachedToken`]: a credential ready to apply to a request, as the cache
//! holds it. Opaque and cheap to clone: one shared allocation.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::SystemTime;

use crate::redact::REDACTED;

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
    /// Every strategy, for [`parse`](Strategy::parse).
    const ALL: [Strategy; 6] = [
        Strategy::OAuth2,
        Strategy::Header,
        Strategy::BasicAuth,
        Strategy::QueryParam,
        Strategy::HmacPayload,
        Strategy::AwsSigV4,
    ];

    /// The strategy the Broker names `name`.
    pub(crate) fn parse(name: &str) -> Option<Strategy> {
        Strategy::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// The Broker's name for it.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Strategy::OAuth2 => "oauth2",
            Strategy::Header => "header",
            Strategy::BasicAuth => "basic_auth",
            Strategy::QueryParam => "query_param",
            Strategy::HmacPayload => "hmac_payload",
            Strategy::AwsSigV4 => "aws_sigv4",
        }
    }
}

/// The hash of an `hmac_payload` signature (`config.algo`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HmacAlgo {
    Sha256,
    Sha1,
}

impl HmacAlgo {
    pub(crate) fn parse(name: &str) -> Option<HmacAlgo> {
        match name {
            "sha256" => Some(HmacAlgo::Sha256),
            "sha1" => Some(HmacAlgo::Sha1),
            _ => None,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            HmacAlgo::Sha256 => "sha256",
            HmacAlgo::Sha1 => "sha1",
        }
    }
}

/// How an `hmac_payload` signature is written (`config.encoding`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SigEncoding {
    /// Lowercase hexadecimal.
    Hex,
    /// Standard base64, padded.
    Base64,
}

impl SigEncoding {
    pub(crate) fn parse(name: &str) -> Option<SigEncoding> {
        match name {
            "hex" => Some(SigEncoding::Hex),
            "base64" => Some(SigEncoding::Base64),
            _ => None,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            SigEncoding::Hex => "hex",
            SigEncoding::Base64 => "base64",
        }
    }
}

/// What signs each request, for the two signing strategies. The signing
/// secret itself is the token's `access_token`.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Signer {
    /// `hmac_payload`: the signature goes in the token's `header_name`.
    Hmac {
        algo: HmacAlgo,
        encoding: SigEncoding,
    },
    /// `aws_sigv4`.
    AwsSigV4 {
        access_key: String,
        session_token: Option<String>,
        region: String,
        service: String,
    },
}

impl fmt::Debug for Signer {
    /// The session token is a secret: named, never shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Signer::Hmac { algo, encoding } => f
                .debug_struct("Hmac")
                .field("algo", &algo.as_str())
                .field("encoding", &encoding.as_str())
                .finish(),
            Signer::AwsSigV4 {
                access_key,
                session_token,
                region,
                service,
            } => f
                .debug_struct("AwsSigV4")
                .field("access_key", access_key)
                .field("session_token", &session_token.as_ref().map(|_| REDACTED))
                .field("region", region)
                .field("service", service)
                .finish(),
        }
    }
}

/// A [`CachedToken`]'s parts, spelled out, as its constructors build them
/// (they hold every strategy's rules); stored packed as [`TokenParts`].
struct Draft {
    access_token: String,
    token_type: String,
    expires_at: SystemTime,
    header_name: String,
    value_prefix: String,
    query_param: Option<String>,
    strategy: Strategy,
    /// `Some` for the strategies that sign each request.
    signer: Option<Signer>,
}

/// The texts of a token, in `TokenParts::text` in this order: the access
/// token, then each other text that is not its default.
const ACCESS_TOKEN: usize = 0;
const TOKEN_TYPE: usize = 1;
const HEADER_NAME: usize = 2;
const VALUE_PREFIX: usize = 3;
const QUERY_PARAM: usize = 4;
/// The default of each text, which takes no byte (`None`: absent).
const DEFAULTS: [Option<&str>; 5] = [
    None,
    Some("Bearer"),
    Some("Authorization"),
    Some("Bearer "),
    None,
];
/// The length of a text left at its default.
const DEFAULT: u32 = u32::MAX;

/// A [`CachedToken`], packed: its texts in one allocation (a GitHub token,
/// `bearer` and all, is two allocations: these parts and the text), the
/// defaults taking no byte, what few tokens have boxed apart.
struct TokenParts {
    /// The texts (UTF-8), then, for a cache entry, the entry's key.
    bytes: Box<[u8]>,
    /// Each text's length in `bytes`, or [`DEFAULT`].
    lens: [u32; 5],
    /// A cache entry's key: the last `key_len` bytes (0 outside a cache).
    key_len: u32,
    /// A cache entry's place in its table (the table's bookkeeping).
    position: AtomicU32,
    /// The expiry, in microseconds from the epoch.
    expires_at: i64,
    /// A cache entry's due times, in [`Millis`]: renewed from the first, no
    /// longer handed out after the second (0 outside a cache).
    due: (u64, u64),
    strategy: Strategy,
    /// Set when a request that carried this very entry got a 401 its user
    /// reported ([`Authorization::rejected`](crate::Authorization::rejected)):
    /// every cache holding the entry then drops it at its next look.
    rejected: Rejected,
    /// The signer, and the entry a private copy stands for: what only some
    /// tokens have.
    extras: Option<Box<Extras>>,
}

/// What only some tokens have.
#[derive(Clone)]
struct Extras {
    /// `Some` for the strategies that sign each request.
    signer: Option<Signer>,
    /// For a thread's private copy of a cache entry (see `CachedToken::private_copy`),
    /// the entry itself: the copy is that entry for `same_entry` and the 401 rule.
    origin: Option<CachedToken>,
}

impl Extras {
    /// The extras, boxed, when there are any.
    fn boxed(signer: Option<Signer>, origin: Option<CachedToken>) -> Option<Box<Extras>> {
        (signer.is_some() || origin.is_some()).then(|| Box::new(Extras { signer, origin }))
    }
}

/// Two tokens are equal when they are the same credential, however held
/// (in a cache or not, a private copy or not).
impl PartialEq for TokenParts {
    fn eq(&self, other: &Self) -> bool {
        let signer = |p: &TokenParts| p.extras.as_ref().and_then(|e| e.signer.clone());
        (self.texts(), self.lens, self.expires_at, self.strategy)
            == (other.texts(), other.lens, other.expires_at, other.strategy)
            && signer(self) == signer(other)
    }
}

/// `t` in microseconds from the epoch, negative before it (saturating).
fn micros(t: SystemTime) -> i64 {
    let of = |d: std::time::Duration| i64::try_from(d.as_micros()).unwrap_or(i64::MAX);
    match t.duration_since(std::time::UNIX_EPOCH) {
        Ok(after) => of(after),
        Err(before) => -of(before.duration()),
    }
}

/// Microseconds from the epoch as a time.
fn from_micros(us: i64) -> SystemTime {
    let d = std::time::Duration::from_micros(us.unsigned_abs());
    if us >= 0 {
        std::time::UNIX_EPOCH + d
    } else {
        std::time::UNIX_EPOCH - d
    }
}

impl Eq for TokenParts {}

impl TokenParts {
    fn pack(draft: Draft) -> TokenParts {
        let texts = [
            Some(draft.access_token.as_str()),
            Some(draft.token_type.as_str()),
            Some(draft.header_name.as_str()),
            Some(draft.value_prefix.as_str()),
            draft.query_param.as_deref(),
        ];
        let mut text = Vec::with_capacity(texts.iter().flatten().map(|t| t.len()).sum());
        let mut lens = [DEFAULT; 5];
        for (i, value) in texts.into_iter().enumerate() {
            match value {
                Some(value) if i == ACCESS_TOKEN || Some(value) != DEFAULTS[i] => {
                    // A text of 4 GiB cannot come from the Gateway (answers
                    // are capped at 1 MiB); `text` reads it back cut, safely.
                    lens[i] = u32::try_from(value.len()).unwrap_or(DEFAULT - 1);
                    text.extend_from_slice(value.as_bytes());
                }
                _ => {}
            }
        }
        TokenParts {
            bytes: text.into_boxed_slice(),
            lens,
            key_len: 0,
            position: AtomicU32::new(0),
            expires_at: micros(draft.expires_at),
            due: (0, 0),
            strategy: draft.strategy,
            rejected: Rejected::default(),
            extras: Extras::boxed(draft.signer, None),
        }
    }

    /// The same credential in a new allocation of `bytes` (its texts, then
    /// `key_len` bytes of key), with these due times and this origin.
    fn rebuilt(
        &self,
        bytes: Box<[u8]>,
        key_len: u32,
        due: (u64, u64),
        origin: Option<CachedToken>,
    ) -> CachedToken {
        let signer = self.extras.as_ref().and_then(|e| e.signer.clone());
        CachedToken {
            parts: Arc::new(TokenParts {
                bytes,
                lens: self.lens,
                key_len,
                position: AtomicU32::new(0),
                expires_at: self.expires_at,
                due,
                strategy: self.strategy,
                rejected: Rejected::default(),
                extras: Extras::boxed(signer, origin),
            }),
        }
    }

    /// The texts' bytes, without a cache entry's key.
    fn texts(&self) -> &[u8] {
        &self.bytes[..self.bytes.len() - self.key_len as usize]
    }

    /// The `i`th text: its bytes in `bytes`, or its default.
    fn text(&self, i: usize) -> Option<&str> {
        if self.lens[i] == DEFAULT {
            return DEFAULTS[i];
        }
        let start: usize = self.lens[..i]
            .iter()
            .filter(|&&len| len != DEFAULT)
            .map(|&len| len as usize)
            .sum();
        let bytes = self.texts().get(start..start + self.lens[i] as usize);
        Some(
            bytes
                .and_then(|b| std::str::from_utf8(b).ok())
                .unwrap_or(""),
        )
    }

    fn draft(&self) -> Draft {
        let owned = |i| self.text(i).unwrap_or("").to_owned();
        Draft {
            access_token: owned(ACCESS_TOKEN),
            token_type: owned(TOKEN_TYPE),
            expires_at: from_micros(self.expires_at),
            header_name: owned(HEADER_NAME),
            value_prefix: owned(VALUE_PREFIX),
            query_param: self.text(QUERY_PARAM).map(str::to_owned),
            strategy: self.strategy,
            signer: self.extras.as_ref().and_then(|e| e.signer.clone()),
        }
    }
}

/// A flag shared by a token's clones and private copies; not part of its
/// value (two tokens compare equal whatever their flags).
#[derive(Default)]
struct Rejected(AtomicBool);

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
#[derive(Clone, PartialEq, Eq)]
pub struct CachedToken {
    parts: Arc<TokenParts>,
}

impl CachedToken {
    /// An OAuth2 bearer token: `Authorization: Bearer <access_token>`.
    pub fn bearer(access_token: impl Into<String>, expires_at: SystemTime) -> Self {
        CachedToken::from_draft(Draft {
            access_token: access_token.into(),
            token_type: "Bearer".to_owned(),
            expires_at,
            header_name: "Authorization".to_owned(),
            value_prefix: "Bearer ".to_owned(),
            query_param: None,
            strategy: Strategy::OAuth2,
            signer: None,
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
            p.header_name = header_name.into();
            p.value_prefix = value_prefix.into();
            p.token_type = match p.value_prefix.trim() {
                "" => p.header_name.clone(),
                trimmed => trimmed.to_owned(),
            };
            p.query_param = None;
            p.strategy = Strategy::Header;
            p.signer = None;
        })
    }

    /// The same credential sent as the query parameter `name`: the
    /// `query_param` strategy.
    #[must_use]
    pub fn with_query_param(self, name: impl Into<String>) -> Self {
        self.edit(|p| {
            let name = name.into();
            p.token_type = name.clone();
            p.value_prefix = String::new();
            p.query_param = Some(name);
            p.strategy = Strategy::QueryParam;
            p.signer = None;
        })
    }

    /// The token type as the provider spelled it. The header prefix follows
    /// it as the Gateway's `oauth2` rule says: `"Bearer "` for any casing of
    /// `bearer`, else `"<token_type> "`.
    #[must_use]
    pub fn with_token_type(self, token_type: impl Into<String>) -> Self {
        self.edit(|p| {
            p.token_type = token_type.into();
            p.value_prefix = if p.token_type.eq_ignore_ascii_case("bearer") {
                "Bearer ".to_owned()
            } else {
                format!("{} ", p.token_type)
            };
        })
    }

    /// `basic_auth`: `Authorization: Basic <encoded>`, where `encoded` is
    /// `base64(user:password)`.
    pub(crate) fn basic_auth(encoded: String, expires_at: SystemTime) -> Self {
        CachedToken::bearer(encoded, expires_at).edit(|p| {
            p.token_type = "Basic".to_owned();
            p.value_prefix = "Basic ".to_owned();
            p.strategy = Strategy::BasicAuth;
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
            (p.strategy, p.token_type, p.header_name) = match &signer {
                Signer::Hmac { algo, .. } => (
                    Strategy::HmacPayload,
                    format!("HMAC-{}", algo.as_str().to_ascii_uppercase()),
                    header_name,
                ),
                Signer::AwsSigV4 { .. } => (
                    Strategy::AwsSigV4,
                    "AWS4-HMAC-SHA256".to_owned(),
                    "Authorization".to_owned(),
                ),
            };
            p.value_prefix = String::new();
            p.signer = Some(signer);
        })
    }

    /// The credential itself (Python `.access_token`): a secret. For
    /// `hmac_payload` it is the signing secret, for `aws_sigv4` the secret
    /// access key.
    pub fn access_token(&self) -> &str {
        self.parts.text(ACCESS_TOKEN).unwrap_or("")
    }

    /// The token type, provider casing kept (`bearer` stays `bearer`).
    pub fn token_type(&self) -> &str {
        self.parts.text(TOKEN_TYPE).unwrap_or("")
    }

    /// When the token stops being valid.
    pub fn expires_at(&self) -> SystemTime {
        from_micros(self.parts.expires_at)
    }

    /// The header that carries it: `Authorization`, `X-API-Key`, …
    pub fn header_name(&self) -> &str {
        self.parts.text(HEADER_NAME).unwrap_or("")
    }

    /// What goes before the token in the header value: `"Bearer "`, `"Basic "`, `""`, …
    pub fn value_prefix(&self) -> &str {
        self.parts.text(VALUE_PREFIX).unwrap_or("")
    }

    /// `Some(name)` when the token is sent as the query parameter `name`
    /// rather than in a header.
    pub fn query_param(&self) -> Option<&str> {
        self.parts.text(QUERY_PARAM)
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
        self.parts.strategy.as_str()
    }

    /// The request signer of the signing strategies.
    pub(crate) fn signer(&self) -> Option<&Signer> {
        self.parts.extras.as_ref()?.signer.as_ref()
    }

    /// Every secret the token holds, to redact from echoed error text.
    pub(crate) fn secrets(&self) -> [&str; 2] {
        let session = match self.signer() {
            Some(Signer::AwsSigV4 {
                session_token: Some(t),
                ..
            }) => t.as_str(),
            _ => "",
        };
        [self.access_token(), session]
    }

    fn from_draft(draft: Draft) -> Self {
        CachedToken {
            parts: Arc::new(TokenParts::pack(draft)),
        }
    }

    /// Whether both are clones of one token (one cache entry), whatever
    /// their text: a Gateway may hand out the same string twice.
    pub(crate) fn same_entry(&self, other: &CachedToken) -> bool {
        Arc::ptr_eq(&self.entry().parts, &other.entry().parts)
    }

    /// The address of the entry this token is: equal for its clones and
    /// private copies while the entry lives.
    pub(crate) fn entry_address(&self) -> usize {
        Arc::as_ptr(&self.entry().parts) as usize
    }

    /// The cache entry this token is: itself, or what its private copy stands for.
    fn entry(&self) -> &CachedToken {
        match self.parts.extras.as_ref().and_then(|e| e.origin.as_ref()) {
            Some(origin) => origin,
            None => self,
        }
    }

    /// A copy of this entry with an allocation (and so a reference count) of
    /// its own, that is still this entry for `same_entry`, `reject` and
    /// `is_rejected`: what a thread keeps for a hot key, so that its hits
    /// write to no memory another thread reads.
    pub(crate) fn private_copy(&self) -> CachedToken {
        let entry = self.entry();
        let p = &entry.parts;
        p.rebuilt(p.bytes.clone(), p.key_len, p.due, Some(entry.clone()))
    }

    /// This token as a cache entry: one allocation with its `key` and its
    /// due times (renewed from the first, dropped after the second).
    pub(crate) fn keyed(&self, key: &[u8], due: (u64, u64)) -> CachedToken {
        let p = &self.parts;
        let mut bytes = Vec::with_capacity(p.texts().len() + key.len());
        bytes.extend_from_slice(p.texts());
        bytes.extend_from_slice(key);
        let key_len = u32::try_from(key.len()).unwrap_or(0);
        p.rebuilt(bytes.into_boxed_slice(), key_len, due, None)
    }

    /// A cache entry's key bytes.
    pub(crate) fn key(&self) -> &[u8] {
        let bytes = &self.parts.bytes;
        &bytes[bytes.len() - self.parts.key_len as usize..]
    }

    /// A cache entry's due times.
    pub(crate) fn due(&self) -> (u64, u64) {
        self.parts.due
    }

    /// A cache entry's place in its table.
    pub(crate) fn position(&self) -> usize {
        self.parts.position.load(Ordering::Relaxed) as usize
    }

    /// Moves a cache entry's place in its table.
    pub(crate) fn set_position(&self, at: usize) {
        let at = u32::try_from(at).unwrap_or(u32::MAX);
        self.parts.position.store(at, Ordering::Relaxed);
    }

    /// Marks this entry (and every clone and copy of it) as refused by an upstream.
    pub(crate) fn reject(&self) {
        self.entry().parts.rejected.0.store(true, Ordering::Relaxed);
    }

    /// Whether an upstream refused this entry.
    pub(crate) fn is_rejected(&self) -> bool {
        self.entry().parts.rejected.0.load(Ordering::Relaxed)
    }

    /// This token with `change` made: a new entry (a token is immutable).
    fn edit(self, change: impl FnOnce(&mut Draft)) -> Self {
        let mut draft = self.parts.draft();
        change(&mut draft);
        CachedToken::from_draft(draft)
    }
}

impl fmt::Debug for CachedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = &self.parts;
        let texts = |i| p.text(i);
        f.debug_struct("CachedToken")
            .field("access_token", &REDACTED)
            .field("token_type", &texts(TOKEN_TYPE))
            .field("expires_at", &p.expires_at)
            .field("header_name", &texts(HEADER_NAME))
            .field("value_prefix", &texts(VALUE_PREFIX))
            .field("query_param", &texts(QUERY_PARAM))
            .field("strategy", &p.strategy.as_str())
            .field("signer", &self.signer())
            .finish()
    }
}

/// `CachedToken` as serde sees it: flat, with the expiry in epoch seconds.
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    algo: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    encoding: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    access_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    session_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    service: Option<String>,
}

#[cfg(feature = "serde")]
impl serde::Serialize for CachedToken {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // Capped as the resolver caps it, so that what is written reads back.
        let latest = LATEST_EXPIRY_SECS as f64;
        let seconds = self.parts.expires_at as f64 / 1e6;
        let expires_at = seconds.clamp(-latest, latest);
        let mut record = TokenRecord {
            access_token: self.access_token().to_owned(),
            token_type: self.token_type().to_owned(),
            expires_at,
            header_name: self.header_name().to_owned(),
            value_prefix: self.value_prefix().to_owned(),
            query_param: self.query_param().map(str::to_owned),
            strategy: self.strategy().to_owned(),
            algo: None,
            encoding: None,
            access_key: None,
            session_token: None,
            region: None,
            service: None,
        };
        match self.signer() {
            None => {}
            Some(Signer::Hmac { algo, encoding }) => {
                record.algo = Some(algo.as_str().to_owned());
                record.encoding = Some(encoding.as_str().to_owned());
            }
            Some(Signer::AwsSigV4 {
                access_key,
                session_token,
                region,
                service,
            }) => {
                record.access_key = Some(access_key.clone());
                record.session_token = session_token.clone();
                record.region = Some(region.clone());
                record.service = Some(service.clone());
            }
        }
        record.serialize(serializer)
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for CachedToken {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let r = TokenRecord::deserialize(deserializer)?;
        let expires_at = expiry_from_seconds(r.expires_at)
            .ok_or_else(|| D::Error::custom("expires_at is not a time in epoch seconds"))?;
        let missing = |what: &str| D::Error::custom(format!("{} token has no {what}", r.strategy));
        let strategy = Strategy::parse(&r.strategy)
            .ok_or_else(|| D::Error::custom(format!("unknown strategy `{}`", r.strategy)))?;
        let secret = r.access_token;
        let token = |secret| CachedToken::bearer(secret, expires_at);
        Ok(match strategy {
            Strategy::OAuth2 => token(secret).with_token_type(r.token_type),
            Strategy::Header => token(secret).with_header(r.header_name, r.value_prefix),
            Strategy::BasicAuth => CachedToken::basic_auth(secret, expires_at),
            Strategy::QueryParam => {
                token(secret).with_query_param(r.query_param.ok_or_else(|| missing("query_param"))?)
            }
            Strategy::HmacPayload => {
                let algo = r.algo.as_deref().and_then(HmacAlgo::parse);
                let encoding = r.encoding.as_deref().and_then(SigEncoding::parse);
                let (Some(algo), Some(encoding)) = (algo, encoding) else {
                    return Err(missing("known algo and encoding"));
                };
                let signer = Signer::Hmac { algo, encoding };
                CachedToken::signed(secret, expires_at, r.header_name, signer)
            }
            Strategy::AwsSigV4 => {
                let (Some(access_key), Some(region), Some(service)) =
                    (r.access_key, r.region, r.service)
                else {
                    return Err(missing("access_key, region and service"));
                };
                let signer = Signer::AwsSigV4 {
                    access_key,
                    session_token: r.session_token,
                    region,
                    service,
                };
                CachedToken::signed(secret, expires_at, r.header_name, signer)
            }
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
    fn packed_texts_read_back_and_defaults_take_no_byte() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_900_000_000);
        let plain = CachedToken::bearer("gho_x", at);
        assert_eq!(plain.parts.texts(), b"gho_x", "only the token is stored");
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
        assert_eq!(github.parts.texts(), b"gho_xbearer");
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
        assert_eq!(std::mem::size_of::<TokenParts>(), 80);
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
