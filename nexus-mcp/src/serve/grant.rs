//! What the hosts' authorization server grants, and for how long: a
//! [`Grant`] (the person, the client, the scopes, the resource), which a
//! code, an access token and a refresh token each carry sealed; a [`Code`];
//! the codes redeemed on this replica; the lifetimes of each kind.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::serve::refusal::{ErrorCode, OAuthError};
use crate::serve::signin::Upstream;

/// A grant the hosts' authorization server takes, by its wire word: the
/// one list the metadata, registration, `/token` and its span read.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum GrantType {
    /// RFC 6749 §4.1.3: a code redeemed.
    AuthorizationCode,
    /// RFC 6749 §6: a refresh token rotated.
    RefreshToken,
    /// RFC 7523 §2.1: an ID-JAG presented (`oauth::assertion`).
    JwtBearer,
    /// RFC 8693 §2.1: a token this server issued exchanged by an agent
    /// acting for its person (`oauth::exchange`), for a client registered
    /// for it.
    TokenExchange,
    /// RFC 6749 §4.4: an agent acting as itself, in the workspace its
    /// client was registered with (`oauth::itself`).
    ClientCredentials,
    /// RFC 8628 §3.4: a device code polled, once the person approved it
    /// (`oauth::device`), for a client registered for it.
    DeviceCode,
}

impl GrantType {
    /// Every grant, in the order the metadata lists them.
    pub(crate) const ALL: [GrantType; 6] = [
        GrantType::AuthorizationCode,
        GrantType::RefreshToken,
        GrantType::JwtBearer,
        GrantType::TokenExchange,
        GrantType::ClientCredentials,
        GrantType::DeviceCode,
    ];

    /// Those a client is registered for by name (`serve client add
    /// --grant`, a client ID metadata document's `grant_types`): none is
    /// any client's otherwise.
    pub(crate) const NAMED: [GrantType; 2] = [GrantType::TokenExchange, GrantType::DeviceCode];

    /// Those a host registers for itself (the ID-JAG's is a confidential
    /// client's, `serve client add`).
    pub(crate) const REGISTERED: [GrantType; 2] =
        [GrantType::AuthorizationCode, GrantType::RefreshToken];

    /// Its wire word.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::RefreshToken => "refresh_token",
            GrantType::JwtBearer => "urn:ietf:params:oauth:grant-type:jwt-bearer",
            GrantType::TokenExchange => "urn:ietf:params:oauth:grant-type:token-exchange",
            GrantType::ClientCredentials => "client_credentials",
            GrantType::DeviceCode => "urn:ietf:params:oauth:grant-type:device_code",
        }
    }

    /// The grant `word` names, if it is one of these.
    pub(crate) fn read(word: &str) -> Option<GrantType> {
        GrantType::ALL.into_iter().find(|g| g.as_str() == word)
    }

    /// The grant a client is registered for by `word`: its wire word, or
    /// the short one `serve client add --grant` takes (`token-exchange`,
    /// `device-code`).
    pub(crate) fn named(word: &str) -> Option<GrantType> {
        let last = |g: &GrantType| g.as_str().rsplit(':').next().map(|w| w.replace('_', "-"));
        let short = |g: &GrantType| last(g).as_deref() == Some(word);
        let named = GrantType::NAMED.into_iter();
        named
            .clone()
            .find(|g| g.as_str() == word)
            .or_else(|| named.clone().find(short))
    }
}

/// How a client authenticates at `/token` and `/revoke`, by its wire word
/// (RFC 7591 §2, RFC 7523 §2.2): a public one names itself; a confidential
/// one gives its secret either way; a document's may sign an assertion.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum ClientAuth {
    None,
    ClientSecretBasic,
    ClientSecretPost,
    PrivateKeyJwt,
}

impl ClientAuth {
    /// Every method, as the metadata lists them.
    pub(crate) const ALL: [ClientAuth; 4] = [
        ClientAuth::None,
        ClientAuth::ClientSecretBasic,
        ClientAuth::ClientSecretPost,
        ClientAuth::PrivateKeyJwt,
    ];

    /// Its wire word.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ClientAuth::None => "none",
            ClientAuth::ClientSecretBasic => "client_secret_basic",
            ClientAuth::ClientSecretPost => "client_secret_post",
            ClientAuth::PrivateKeyJwt => "private_key_jwt",
        }
    }
}
/// The profile the metadata names (`authorization_grant_profiles_supported`).
pub(crate) const ID_JAG_PROFILE: &str = "urn:ietf:params:oauth:grant-profile:id-jag";

/// The most an assertion may weigh: an ID-JAG, a client assertion.
pub(crate) const MOST_ASSERTION: usize = 16 << 10;

/// How long a client id opens: a host registers again once it has not.
pub(crate) const CLIENT_LIFE: Duration = Duration::from_secs(400 * 24 * 3600);
/// How long a device code and its user code hold (RFC 8628 §3.2), and the
/// code its person's approval is sealed in.
pub(crate) const DEVICE_LIFE: Duration = Duration::from_secs(600);
/// The most user codes typed at `/device` a minute, on every replica
/// together (RFC 8628 §5.1: entry rate-limited): 6,000 guesses over a code's
/// life, against 20^8 codes.
pub(crate) const DEVICE_ENTRIES: usize = 600;
/// How long a code may wait to be redeemed.
pub(crate) const CODE_LIFE: Duration = Duration::from_secs(60);
/// How long an access token this server issues holds.
pub(crate) const ACCESS_LIFE: Duration = Duration::from_secs(3600);
/// How long a refresh token holds unused (within its sign-in's life).
pub(crate) const REFRESH_LIFE: Duration = Duration::from_secs(14 * 24 * 3600);
/// How long a sign-in holds when `--sign-in-life` does not say: a working
/// week, after which the person signs in at the issuer again.
pub(crate) const SIGN_IN_LIFE: Duration = Duration::from_secs(7 * 24 * 3600);

/// Whom a grant is for, and for what: what a code, an access token and a
/// refresh token carry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Grant {
    /// The person, as `--subject-claim` names them at the issuer.
    pub(crate) person: String,
    /// The value of `--workspace-claim` in the person's ID token, if any.
    #[serde(default)]
    pub(crate) workspace: Option<String>,
    /// What `--policy` reads of the person in their ID token (their groups
    /// and tags).
    #[serde(default)]
    pub(crate) attributes: crate::policy::Attributes,
    /// The claims `--allow-sign-in` read at the sign-in, held again at
    /// each refresh.
    #[serde(default)]
    pub(crate) admitted: serde_json::Map<String, serde_json::Value>,
    /// The client it was granted to: the SHA-256 of its id (hex).
    pub(crate) client: String,
    /// The scopes granted.
    pub(crate) scopes: Vec<String>,
    /// The MCP endpoint it is for (RFC 8707).
    pub(crate) resource: String,
    /// When the person was granted access, in milliseconds since the Unix
    /// epoch: their sign-in at the issuer, or the provider's ID-JAG (its
    /// `iat`, less the leeway its clock is given). A revocation of the
    /// person refuses every code and token of a grant made at or before
    /// it, whenever each was issued (0: a grant from before 0.14, read by
    /// when its token was).
    #[serde(default)]
    pub(crate) granted: u64,
    /// The agent it was granted to (#127): its client's registered name,
    /// and the scopes that bound it where its client registered a boundary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) agent: Option<crate::agents::Agent>,
    /// The chain of agents it was exchanged through (RFC 8693 §4.1's `act`:
    /// the current actor outermost, each prior one nested within); none for
    /// a grant the person made to its client directly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) act: Option<Act>,
    /// The agent acts as itself (client credentials): no person (`person`
    /// is empty), `workspace` its own, the policy's `Agent::"…"`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) itself: bool,
}

/// The most agents a chain of exchanges holds (the `act` claims nested):
/// past it, an exchange is refused.
pub(crate) const CHAIN_MOST: usize = 4;

/// An actor (RFC 8693 §4.1): the client that acts (its mark, as `sub`; its
/// registered name), and the actor before it, if any.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Act {
    pub(crate) sub: String,
    pub(crate) name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) act: Option<Box<Act>>,
}

impl Act {
    /// Every actor of the chain, the current one first.
    pub(crate) fn chain(&self) -> impl Iterator<Item = &Act> {
        std::iter::successors(Some(self), |act| act.act.as_deref())
    }
}

impl Grant {
    /// The mark of every client this grant acts through: its own, and each
    /// actor's of the chain it was exchanged through. A revocation or a
    /// withdrawal of any of them ends it.
    pub(crate) fn clients(&self) -> impl Iterator<Item = &str> {
        let chain = self.act.iter().flat_map(Act::chain);
        std::iter::once(self.client.as_str()).chain(chain.map(|act| act.sub.as_str()))
    }

    /// When access was granted, or, for a grant from before 0.14, `before`
    /// (when its token or family was issued).
    pub(crate) fn granted_or(&self, before: u64) -> u64 {
        if self.granted > 0 {
            self.granted
        } else {
            before
        }
    }
}

/// What a refresh token carries: the grant, the family it descends from
/// (one sign-in's tokens; see [`crate::serve::store`]) and its generation
/// in it, and when the sign-in ends (seconds since the Unix epoch).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Refresh {
    pub(crate) grant: Grant,
    pub(crate) family: String,
    pub(crate) generation: u64,
    pub(crate) ends: u64,
    /// When the sign-in began, in milliseconds since the Unix epoch (0 for
    /// a token from before 0.13): a person revoked since is refused.
    #[serde(default)]
    pub(crate) begun: u64,
    /// The issuer's refresh token for the sign-in, if it gave one: this
    /// server renews at the issuer with it.
    #[serde(default)]
    pub(crate) upstream: Option<Upstream>,
}

/// What an access token carries: the grant (and when it was granted), the
/// family of the sign-in that gave it (none when the store did not answer
/// then, or from before 0.13) and when it was issued (milliseconds since
/// the Unix epoch), so that a revocation of either holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Access {
    #[serde(flatten)]
    pub(crate) grant: Grant,
    #[serde(default)]
    pub(crate) family: Option<String>,
    #[serde(default)]
    pub(crate) issued: u64,
}

/// A code: the grant, where it was sent, PKCE's challenge, and an id that
/// makes it single-use.
#[derive(Serialize, Deserialize)]
pub(crate) struct Code {
    pub(crate) grant: Grant,
    pub(crate) redirect_uri: String,
    pub(crate) challenge: String,
    pub(crate) id: String,
    /// The issuer's refresh token for the sign-in, if it gave one.
    #[serde(default)]
    pub(crate) upstream: Option<Upstream>,
}

/// The client `id`'s mark in a grant.
pub(crate) fn client_mark(id: &str) -> String {
    crate::principal::sha256_hex(&[id.as_bytes()])
}

/// Why a grant of a revoked sign-in, person or client is refused.
pub(crate) const REVOKED: &str = "this sign-in was revoked: the person signs in again";

/// What `sealed` holds under `seals`, or `invalid_grant`; one sealed by a
/// replica whose keys differ is said in the log with the fix.
pub(crate) fn opened<T: serde::de::DeserializeOwned>(
    seals: &[crate::keys::Sealing],
    sealed: &str,
) -> Result<T, OAuthError> {
    crate::keys::Sealing::opened(seals, sealed).map_err(|unopened| {
        match unopened.keys_differ("a code or token") {
            None => OAuthError::bad(
                ErrorCode::InvalidGrant,
                "expired, changed, or not issued here",
            ),
            Some(line) => {
                log::warn!(target: "nexus_mcp", "token: {line}");
                OAuthError::bad(
                    ErrorCode::InvalidGrant,
                    "sealed by a server of this service whose keys differ from this one's",
                )
            }
        }
    })
}

/// The codes redeemed on this replica, until they would have expired.
#[derive(Default)]
pub(crate) struct Redeemed(Mutex<HashMap<String, Instant>>);

impl Redeemed {
    /// Whether `id` is redeemed now for the first time on this replica.
    pub(crate) fn first(&self, id: &str) -> bool {
        let mut redeemed = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        redeemed.retain(|_, until| *until > now);
        redeemed.insert(id.to_owned(), now + CODE_LIFE).is_none()
    }
}
