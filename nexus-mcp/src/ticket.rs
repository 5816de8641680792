//! The connect page's sealed values (the ticket a link carries, the
//! login's cookie): encrypted and authenticated with ChaCha20-Poly1305
//! under a key derived (HKDF-SHA-256) from the sealing key every replica
//! shares, each kind under its own label, its expiry inside. A value opens
//! only under the same key and kind, before its expiry; nothing in it can
//! be read without the key (a ticket carries a consent URL).

use std::sync::{PoisonError, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::hkdf::{HKDF_SHA256, Salt};
use ring::rand::{SecureRandom, SystemRandom};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

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

    /// What `sealed` holds, when this seal made it and it has not expired.
    pub(crate) fn open<T: DeserializeOwned>(&self, sealed: &str) -> Option<T> {
        let mut bytes = URL_SAFE_NO_PAD.decode(sealed.as_bytes()).ok()?;
        if bytes.len() < NONCE_LEN {
            return None;
        }
        let mut body = bytes.split_off(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(&bytes).ok()?;
        let aad = Aad::from(self.kind.as_bytes());
        let plain = self.key.open_in_place(nonce, aad, &mut body).ok()?;
        let (until, value): (u64, T) = serde_json::from_slice(plain).ok()?;
        (now() < until).then_some(value)
    }
}

/// What `sealed` holds, opened under whichever of `seals` made it.
pub(crate) fn opened<T: DeserializeOwned>(seals: &[Seal], sealed: &str) -> Option<T> {
    seals.iter().find_map(|seal| seal.open(sealed))
}

/// Who was asked, and where their consent is: what a link carries.
#[derive(Serialize, Deserialize)]
pub(crate) struct Ticket {
    /// The person asked: SHA-256 of their issuer and subject, all of it.
    pub(crate) person: String,
    /// The provider, as the user reads it.
    pub(crate) provider: String,
    /// The Gateway's consent URL.
    pub(crate) consent: String,
}

/// The connect page's links: what the connect flow needs to send a person
/// there, and what the page needs to open what was sent.
pub(crate) struct Links {
    /// The public URL's origin (`https://mcp.example.com`).
    pub(crate) origin: String,
    /// One seal per key of the ring: the first seals, the one a link
    /// names opens it; replaced when the keyring is read again.
    tickets: RwLock<Vec<Sealing>>,
}

/// A ticket seal, and the key id and fingerprint a link names it by.
struct Sealing {
    kid: String,
    fingerprint: String,
    seal: Seal,
}

/// Why a link's ticket does not open.
pub(crate) enum Unopened {
    /// Sealed under a key id this replica's ring lacks: the replicas'
    /// keyrings differ.
    Foreign {
        /// The id the link names.
        kid: String,
        /// The ids this replica holds, as a line names them.
        held: String,
    },
    /// Sealed under a key id this replica holds another key under: the
    /// replicas' keys under that id differ.
    Differs {
        /// The id the link names.
        kid: String,
    },
    /// Expired, changed, or never a link.
    Invalid,
}

impl Links {
    /// The links of the page at `origin`, sealed from the first of `keys`
    /// (`(kid, key)`, as the keyring holds them).
    pub(crate) fn new(origin: &str, keys: &[(String, Vec<u8>)]) -> Links {
        Links {
            origin: origin.to_owned(),
            tickets: RwLock::new(seals(keys)),
        }
    }

    /// Seals from the first of `keys` from now on (SIGHUP).
    pub(crate) fn rekey(&self, keys: &[(String, Vec<u8>)]) {
        *self.tickets.write().unwrap_or_else(PoisonError::into_inner) = seals(keys);
    }

    /// The link that sends `ticket`'s person to consent, valid for `ttl`:
    /// the sealing key's id (base64url), its fingerprint, the sealed
    /// ticket, a dot between each.
    pub(crate) fn link(&self, ticket: &Ticket, ttl: Duration) -> String {
        let tickets = self.tickets.read().unwrap_or_else(PoisonError::into_inner);
        let sealed = (tickets.first()).map(|held| {
            let kid = URL_SAFE_NO_PAD.encode(&held.kid);
            format!("{kid}.{}.{}", held.fingerprint, held.seal.seal(ticket, ttl))
        });
        format!("{}/connect/{}", self.origin, sealed.unwrap_or_default())
    }

    /// The ticket a link carries, when the key it names sealed it and it
    /// has not expired; else why not.
    pub(crate) fn ticket(&self, sealed: &str) -> Result<Ticket, Unopened> {
        let mut parts = sealed.splitn(3, '.');
        let (kid, fingerprint, sealed) = (parts.next(), parts.next(), parts.next());
        let (Some(kid), Some(fingerprint), Some(sealed)) = (kid, fingerprint, sealed) else {
            return Err(Unopened::Invalid);
        };
        let kid = URL_SAFE_NO_PAD.decode(kid).ok();
        let kid = kid
            .and_then(|k| String::from_utf8(k).ok())
            .ok_or(Unopened::Invalid)?;
        let tickets = self.tickets.read().unwrap_or_else(PoisonError::into_inner);
        match tickets.iter().find(|held| held.kid == kid) {
            Some(held) if held.fingerprint != fingerprint => Err(Unopened::Differs { kid }),
            Some(held) => held.seal.open(sealed).ok_or(Unopened::Invalid),
            None => {
                let held: Vec<&str> = tickets.iter().map(|held| held.kid.as_str()).collect();
                let held = held.join(", ");
                Err(Unopened::Foreign { kid, held })
            }
        }
    }

    /// Where the Gateway sends the browser back after consent.
    pub(crate) fn done_url(&self) -> String {
        format!("{}/connect/done", self.origin)
    }
}

/// A ticket seal per key of the ring, with its id and fingerprint.
fn seals(keys: &[(String, Vec<u8>)]) -> Vec<Sealing> {
    (keys.iter())
        .map(|(kid, key)| Sealing {
            kid: kid.clone(),
            fingerprint: crate::state::fingerprint(key),
            seal: Seal::new(key, "connect ticket"),
        })
        .collect()
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
        let opened: (String, String) = seal.open(&sealed).unwrap();
        assert_eq!(opened.1, "https://consent.example/x");
        assert!(!sealed.contains("consent"), "encrypted, not only signed");
        let other_kind = Seal::new(b"k".repeat(32).as_slice(), "cookie");
        assert!(other_kind.open::<(String, String)>(&sealed).is_none());
        let other_key = Seal::new(b"j".repeat(32).as_slice(), "ticket");
        assert!(other_key.open::<(String, String)>(&sealed).is_none());
        let mut tampered = sealed.into_bytes();
        let last = tampered.len() - 2;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert!(seal.open::<(String, String)>(&tampered).is_none());
        let expired = seal.seal(&("alice", "x"), Duration::ZERO);
        assert!(seal.open::<(String, String)>(&expired).is_none());
    }
}
