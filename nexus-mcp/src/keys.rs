//! The keys one keyring derives, held in one place and swapped whole at
//! SIGHUP ([`HeldKeys`]): the 2026-07-28 `requestState`'s codec, the
//! connect page's link seals and its login cookie's seals. A step reads the
//! keys held when it reaches them; what the old keys sealed opens while the
//! new ring holds them.
//!
//! The connect page's sealed values (the ticket a link carries, the login's
//! cookie) are encrypted and authenticated with ChaCha20-Poly1305 under a
//! key derived (HKDF-SHA-256) from the sealing key every replica shares,
//! each kind under its own label, its expiry inside ([`Seal`]). A value
//! opens only under the same key and kind, before its expiry; nothing in it
//! can be read without the key (a ticket carries a consent URL).

use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::hkdf::{HKDF_SHA256, Salt};
use ring::rand::{SecureRandom, SystemRandom};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::state::{KEY_VARIABLE, KEYS_VARIABLE, Keyring, Sealer, fingerprint};

/// What one keyring seals with.
pub(crate) struct Keys {
    /// The `requestState`'s codec.
    pub(crate) states: Sealer,
    /// The connect page's links: one seal per key, the first seals.
    pub(crate) tickets: Vec<Sealing>,
    /// The login's cookie: one seal per key, the first seals.
    pub(crate) cookies: Vec<Sealing>,
    /// The approval page's links (a call asked), and its form (a verdict
    /// under way): one seal per key each, the first seals.
    pub(crate) approvals: Vec<Sealing>,
    pub(crate) verdicts: Vec<Sealing>,
    /// What `--oauth-proxy` seals: client ids, codes, access and refresh
    /// tokens, each kind under its own seals (one per key, the first seals).
    pub(crate) oauth: OauthSeals,
    /// The ring's key ids, as a line names them (`new, default`).
    pub(crate) kids: String,
}

/// The seals of `--oauth-proxy`'s values, a kind each.
#[derive(Default)]
pub(crate) struct OauthSeals {
    pub(crate) clients: Vec<Sealing>,
    pub(crate) codes: Vec<Sealing>,
    pub(crate) access: Vec<Sealing>,
    pub(crate) refresh: Vec<Sealing>,
    pub(crate) pending: Vec<Sealing>,
    pub(crate) consents: Vec<Sealing>,
    /// The SCIM bearer secrets `serve scim token` makes.
    pub(crate) scim: Vec<Sealing>,
    /// The authorization headers `serve ssf connect` gives transmitters.
    pub(crate) ssf: Vec<Sealing>,
}

/// A link's seal, and the key id and fingerprint a link names it by.
pub(crate) struct Sealing {
    pub(crate) kid: String,
    pub(crate) fingerprint: String,
    pub(crate) seal: Seal,
}

impl Sealing {
    /// `value` sealed for `ttl` under the first of `seals`: its key id
    /// (base64url), the key's fingerprint and the sealed value, a dot
    /// between each (empty with no key).
    pub(crate) fn named<T: Serialize>(seals: &[Sealing], value: &T, ttl: Duration) -> String {
        let sealed = seals.first().map(|held| {
            let kid = URL_SAFE_NO_PAD.encode(&held.kid);
            format!("{kid}.{}.{}", held.fingerprint, held.seal.seal(value, ttl))
        });
        sealed.unwrap_or_default()
    }

    /// What [`Sealing::named`] sealed, when the key it names is among
    /// `seals` and it has not expired; else why not.
    pub(crate) fn opened<T: DeserializeOwned>(
        seals: &[Sealing],
        sealed: &str,
    ) -> Result<T, Unopened> {
        Sealing::opened_until(seals, sealed).map(|(value, _)| value)
    }

    /// What [`Sealing::opened`] opens, and when it expires (seconds since
    /// the Unix epoch).
    pub(crate) fn opened_until<T: DeserializeOwned>(
        seals: &[Sealing],
        sealed: &str,
    ) -> Result<(T, u64), Unopened> {
        let mut parts = sealed.splitn(3, '.');
        let (kid, fingerprint, sealed) = (parts.next(), parts.next(), parts.next());
        let (Some(kid), Some(fingerprint), Some(sealed)) = (kid, fingerprint, sealed) else {
            return Err(Unopened::Invalid);
        };
        let kid = URL_SAFE_NO_PAD.decode(kid).ok();
        let kid = kid
            .and_then(|k| String::from_utf8(k).ok())
            .ok_or(Unopened::Invalid)?;
        match seals.iter().find(|held| held.kid == kid) {
            Some(held) if held.fingerprint != fingerprint => Err(Unopened::Differs { kid }),
            Some(held) => held.seal.open_until(sealed).ok_or(Unopened::Invalid),
            None => {
                let held: Vec<&str> = seals.iter().map(|held| held.kid.as_str()).collect();
                let held = held.join(", ");
                Err(Unopened::Foreign { kid, held })
            }
        }
    }
}

/// Why a value sealed under a named key does not open.
pub(crate) enum Unopened {
    /// Sealed under a key id this replica's ring lacks: the replicas'
    /// keyrings differ.
    Foreign {
        /// The id the value names.
        kid: String,
        /// The ids this replica holds, as a line names them.
        held: String,
    },
    /// Sealed under a key id this replica holds another key under: the
    /// replicas' keys under that id differ.
    Differs {
        /// The id the value names.
        kid: String,
    },
    /// Expired, changed, or never sealed here.
    Invalid,
}

impl Unopened {
    /// The operator's line when `what` did not open because the replicas'
    /// keys differ (none when it is merely expired or changed), with the
    /// fix. One sentence for every sealed kind: a client id, a code, a
    /// token, a form, a cookie, a link.
    pub(crate) fn keys_differ(&self, what: &str) -> Option<String> {
        let fix = "give every replica the same keyring (NEXUS_MCP_STATE_KEYS)";
        match self {
            Unopened::Invalid => None,
            Unopened::Differs { kid } => Some(format!(
                "refused {what} sealed under key id {kid:?}, which this replica holds another \
                 key under: the replicas' keys under id {kid:?} differ; {fix}"
            )),
            Unopened::Foreign { kid, held } => Some(format!(
                "refused {what} sealed under key id {kid:?}, which this replica's keyring \
                 ({held}) lacks: the key was taken out of the keyring while what it sealed \
                 was in use (keep it, second, for as long), or the replicas' keyrings differ \
                 ({fix})"
            )),
        }
    }
}

/// What a person reads when what they bring was sealed by a replica whose
/// keys differ from this one's.
pub(crate) const KEYS_DIFFER: &str = "This was made by another server of this service, whose \
     keys differ from this one's. Tell whoever runs this server (its log says which key); \
     starting again may land on that same server.";

impl Keys {
    /// The keys `ring` derives (each key at least 32 bytes); why not,
    /// naming the entry, never a key.
    pub(crate) fn new(ring: &Keyring) -> Result<Keys, String> {
        let entries = ring.entries();
        let named = |kind: &'static str| -> Vec<Sealing> {
            let sealing = |(kid, key): &(String, Vec<u8>)| Sealing {
                kid: kid.clone(),
                fingerprint: fingerprint(key),
                seal: Seal::new(key, kind),
            };
            entries.iter().map(sealing).collect()
        };
        Ok(Keys {
            states: Sealer::keyring(ring)?,
            tickets: named("connect ticket"),
            oauth: OauthSeals {
                clients: named("oauth client"),
                codes: named("oauth code"),
                access: named("oauth access token"),
                refresh: named("oauth refresh token"),
                pending: named("oauth pending authorization"),
                consents: named("oauth consents"),
                scim: named("scim token"),
                ssf: named("ssf push"),
            },
            cookies: named("connect cookie"),
            approvals: named("approval link"),
            verdicts: named("approval form"),
            kids: ring.kids(),
        })
    }

    /// stdio's keys: the `requestState`'s alone, under the operator's key
    /// (`given`) or one drawn now.
    pub(crate) fn one(given: Option<&str>) -> Result<Keys, String> {
        let (tickets, cookies, kids) = (Vec::new(), Vec::new(), String::new());
        let states = Sealer::new(given)?;
        Ok(Keys {
            states,
            tickets,
            cookies,
            approvals: Vec::new(),
            verdicts: Vec::new(),
            oauth: OauthSeals::default(),
            kids,
        })
    }

    /// The keys `serve` seals with, as its variables (or their files) say
    /// now: read at start, and again at SIGHUP. One key is a keyring of one
    /// (`default:KEY`), so that a rotation to `NEXUS_MCP_STATE_KEYS=new:…,default:…`
    /// still opens every state held.
    pub(crate) fn read() -> Result<Keys, String> {
        let keys = crate::env::try_var(KEYS_VARIABLE)?;
        let one = keys.is_none();
        let ring = match (keys, crate::env::try_var(KEY_VARIABLE)?) {
            (Some(keys), _) => keys,
            (None, Some(key)) => format!("default:{key}"),
            (None, None) => {
                return Err(format!(
                    "serve needs {KEY_VARIABLE} or {KEYS_VARIABLE}: every replica behind one \
                     endpoint must open the states the others seal"
                ));
            }
        };
        let keys = Keyring::parse(&ring).and_then(|ring| Keys::new(&ring));
        keys.map_err(|why| match one {
            true => why.replace(KEYS_VARIABLE, KEY_VARIABLE),
            false => why,
        })
    }
}

/// The keys in use: every seal and open reads them here, and SIGHUP swaps
/// them whole.
pub(crate) struct HeldKeys(RwLock<Arc<Keys>>);

impl HeldKeys {
    pub(crate) fn new(keys: Keys) -> HeldKeys {
        HeldKeys(RwLock::new(Arc::new(keys)))
    }

    /// The keys held now.
    pub(crate) fn now(&self) -> Arc<Keys> {
        Arc::clone(&self.0.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// `keys` from now on (a step under way keeps the keys it began with).
    pub(crate) fn swap(&self, keys: Keys) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(keys);
    }
}

/// One kind of sealed value, under its own key.
pub(crate) struct Seal {
    key: LessSafeKey,
    kind: &'static str,
}

impl Seal {
    /// The seal of values of `kind`, keyed from `secret`.
    pub(crate) fn new(secret: &[u8], kind: &'static str) -> Seal {
        let prk = Salt::new(HKDF_SHA256, b"nexus-mcp connect page").extract(secret);
        let info = [kind.as_bytes()];
        // HKDF-SHA-256 expands to 255 × 32 bytes; a 32-byte key always fits.
        let okm = prk
            .expand(&info, &CHACHA20_POLY1305)
            .expect("a 32-byte HKDF output");
        let key = UnboundKey::from(okm);
        Seal {
            key: LessSafeKey::new(key),
            kind,
        }
    }

    /// `value`, sealed until `ttl` from now: base64url of a random nonce and
    /// the ciphertext.
    pub(crate) fn seal<T: Serialize>(&self, value: &T, ttl: Duration) -> String {
        let until = now().saturating_add(ttl.as_secs());
        let mut plain = serde_json::to_vec(&(until, value)).unwrap_or_default();
        let mut nonce = [0u8; NONCE_LEN];
        if SystemRandom::new().fill(&mut nonce).is_err() {
            return String::new(); // opens as nothing: a link that is refused
        }
        let aad = Aad::from(self.kind.as_bytes());
        let nonce_value = Nonce::assume_unique_for_key(nonce);
        if self
            .key
            .seal_in_place_append_tag(nonce_value, aad, &mut plain)
            .is_err()
        {
            return String::new();
        }
        let mut sealed = nonce.to_vec();
        sealed.append(&mut plain);
        URL_SAFE_NO_PAD.encode(sealed)
    }

    /// What `sealed` holds and when it expires, when this seal made it and
    /// it has not expired.
    fn open_until<T: DeserializeOwned>(&self, sealed: &str) -> Option<(T, u64)> {
        let mut bytes = URL_SAFE_NO_PAD.decode(sealed.as_bytes()).ok()?;
        if bytes.len() < NONCE_LEN {
            return None;
        }
        let mut body = bytes.split_off(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(&bytes).ok()?;
        let aad = Aad::from(self.kind.as_bytes());
        let plain = self.key.open_in_place(nonce, aad, &mut body).ok()?;
        let (until, value): (u64, T) = serde_json::from_slice(plain).ok()?;
        (now() < until).then_some((value, until))
    }
}

/// Seconds since the Unix epoch.
fn now() -> u64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH);
    since.map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_opens_only_under_its_key_and_kind_before_its_expiry() {
        let seal = Seal::new(b"k".repeat(32).as_slice(), "ticket");
        let sealed = seal.seal(
            &("alice", "https://consent.example/x"),
            Duration::from_secs(60),
        );
        let opened: (String, String) = seal.open_until(&sealed).map(|(value, _)| value).unwrap();
        assert_eq!(opened.1, "https://consent.example/x");
        assert!(!sealed.contains("consent"), "encrypted, not only signed");
        let other_kind = Seal::new(b"k".repeat(32).as_slice(), "cookie");
        assert!(
            other_kind
                .open_until::<(String, String)>(&sealed)
                .map(|(value, _)| value)
                .is_none()
        );
        let other_key = Seal::new(b"j".repeat(32).as_slice(), "ticket");
        assert!(
            other_key
                .open_until::<(String, String)>(&sealed)
                .map(|(value, _)| value)
                .is_none()
        );
        let mut tampered = sealed.into_bytes();
        let last = tampered.len() - 2;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert!(
            seal.open_until::<(String, String)>(&tampered)
                .map(|(value, _)| value)
                .is_none()
        );
        let expired = seal.seal(&("alice", "x"), Duration::ZERO);
        assert!(
            seal.open_until::<(String, String)>(&expired)
                .map(|(value, _)| value)
                .is_none()
        );
    }
}
