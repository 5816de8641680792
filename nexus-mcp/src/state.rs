//! The 2026-07-28 `requestState`: the client holds it between a call that
//! needs the user and the retry that carries the user's answer, and the
//! server trusts nothing in it that it did not seal. It is sealed with
//! rmcp's codec (HMAC-SHA-256) under a key drawn at start, or the
//! operator's `NEXUS_MCP_STATE_KEY` (so that replicas behind one endpoint
//! open each other's states), and bound to the workspace, the provider
//! and the call (tool and arguments): a state is opened only by the same
//! call for the same pair, before its expiry. It holds the connection
//! requested and the flow's deadline, never the consent URL.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nexus_sdk::code;
use rmcp::model::{RequestStateCodec, RequestStateError, SealOptions};
use serde::{Deserialize, Serialize};

use crate::failure::Failure;

/// The variable that gives the sealing key (at least 32 bytes).
pub(crate) const KEY_VARIABLE: &str = "NEXUS_MCP_STATE_KEY";
/// The variable that gives a keyring, `kid:key,kid:key…`: the first seals,
/// every one opens (a key rotates without dropping the calls held).
pub(crate) const KEYS_VARIABLE: &str = "NEXUS_MCP_STATE_KEYS";

/// What a sealed state carries.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(crate) struct Held {
    /// The connection the first call requested.
    pub(crate) connection: String,
    /// The flow's one deadline (`--connect-wait` from the first call), in
    /// milliseconds since the Unix epoch.
    pub(crate) deadline_ms: u64,
    /// Over stdio, that the operator approved this call before its
    /// connection was asked for (no store holds the approval there).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) approved: bool,
}

impl Held {
    /// How long is left before the deadline (zero once it has passed).
    pub(crate) fn left(&self) -> Duration {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Duration::from_millis(self.deadline_ms).saturating_sub(now)
    }

    /// A state for `connection` whose deadline is `wait` from now.
    pub(crate) fn new(connection: &str, wait: Duration) -> Held {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let deadline = now.saturating_add(wait).as_millis();
        Held {
            connection: connection.to_owned(),
            deadline_ms: u64::try_from(deadline).unwrap_or(u64::MAX),
            approved: false,
        }
    }
}

/// Seals and opens states with one keyring's keys (the first seals).
pub(crate) struct Sealer {
    codec: RequestStateCodec,
    /// The ids and fingerprints of the ring's keys (none for one drawn key).
    ring: Vec<(String, String)>,
}

/// A short fingerprint of `key`, which a sealed value names beside its
/// key id so that a replica holding another key under that id can say
/// so: 8 hex digits of a SHA-256 of the key under this program's label.
/// It tells nothing a sealed value does not already let one test a
/// guessed key against.
pub(crate) fn fingerprint(key: &[u8]) -> String {
    let mut labelled = b"nexus-mcp key fingerprint\0".to_vec();
    labelled.extend_from_slice(key);
    let digest = ring::digest::digest(&ring::digest::SHA256, &labelled);
    crate::principal::hex(&digest.as_ref()[..4])
}

/// How the codec names a key: its id and its fingerprint, `kid~fp`.
fn named(kid: &str, key: &[u8]) -> String {
    format!("{kid}~{}", fingerprint(key))
}

/// The sealing keys every replica shares (`kid:key,kid:key…`), read once:
/// the first seals, every one opens, for the `requestState` and the
/// connect page alike.
pub(crate) struct Keyring {
    keys: Vec<(String, Vec<u8>)>,
}

impl Keyring {
    /// The keyring `text` writes; why not, naming the entry, never a key.
    pub(crate) fn parse(text: &str) -> Result<Keyring, String> {
        let mut keys: Vec<(String, Vec<u8>)> = Vec::new();
        for (n, entry) in text.split(',').enumerate() {
            let Some((kid, key)) = entry.split_once(':') else {
                return Err(format!(
                    "{KEYS_VARIABLE}: every entry is `kid:key` (comma-separated), and entry {} is not",
                    n + 1
                ));
            };
            if kid.trim().is_empty() || keys.iter().any(|(known, _)| known == kid.trim()) {
                return Err(format!(
                    "{KEYS_VARIABLE}: every key id is given once, not blank (entry {})",
                    n + 1
                ));
            }
            keys.push((kid.trim().to_owned(), key.as_bytes().to_vec()));
        }
        Ok(Keyring { keys })
    }

    /// Each key with its id, the one that seals first.
    pub(crate) fn entries(&self) -> &[(String, Vec<u8>)] {
        &self.keys
    }

    /// The key ids, as a refusal names them: `new, default`.
    pub(crate) fn kids(&self) -> String {
        let kids: Vec<&str> = self.keys.iter().map(|(kid, _)| kid.as_str()).collect();
        kids.join(", ")
    }
}

/// The key id and fingerprint an `rs2` requestState names (rmcp's format:
/// `rs2.<base64url kid~fp>.<body>.<tag>`), to say which key a replica
/// lacks, or holds otherwise.
fn sealed_under(state: &str) -> Option<(String, String)> {
    use base64::Engine as _;
    let kid = state.strip_prefix("rs2.")?.split('.').next()?;
    let kid = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(kid)
        .ok()?;
    let named = String::from_utf8(kid).ok()?;
    let (kid, fp) = named.rsplit_once('~')?;
    Some((kid.to_owned(), fp.to_owned()))
}

impl Sealer {
    /// The sealer for the operator's key (`given`, at least 32 bytes), or
    /// for a key drawn now when none is given.
    pub(crate) fn new(given: Option<&str>) -> Result<Sealer, String> {
        let key = match given {
            Some(key) => key.as_bytes().to_vec(),
            None => {
                let mut key = vec![0u8; 32];
                let random = ring::rand::SystemRandom::new();
                ring::rand::SecureRandom::fill(&random, &mut key)
                    .map_err(|_| "cannot draw the requestState key".to_owned())?;
                key
            }
        };
        let codec = RequestStateCodec::try_new(key).map_err(|e| refused(KEY_VARIABLE, &e))?;
        Ok(Sealer {
            codec,
            ring: Vec::new(),
        })
    }

    /// The sealer of a keyring (`kid:key,kid:key…`, each key at least 32
    /// bytes): the first key seals, every one opens. Never shows a key.
    pub(crate) fn keyring(ring: &Keyring) -> Result<Sealer, String> {
        let keys: Vec<(String, Vec<u8>)> = (ring.keys.iter())
            .map(|(kid, key)| (named(kid, key), key.clone()))
            .collect();
        let active = keys.first().map(|(id, _)| id.clone()).unwrap_or_default();
        let codec = RequestStateCodec::new_with_keyring(active, keys);
        let codec = codec.map_err(|e| refused(KEYS_VARIABLE, &e))?;
        let ring = (ring.keys.iter())
            .map(|(kid, key)| (kid.clone(), fingerprint(key)))
            .collect();
        Ok(Sealer { codec, ring })
    }

    /// `held`, sealed for this `call`, valid until its deadline.
    pub(crate) fn seal(&self, held: &Held, call: &[u8]) -> String {
        let options = SealOptions::new().associated_data(call).ttl(held.left());
        // A struct of a string and a number always serialises.
        let payload = serde_json::to_vec(held).unwrap_or_default();
        self.codec.seal_with(&payload, &options)
    }

    /// What `state` holds, when this server sealed it for this `call` and it
    /// has not expired; else why not, in the words the client reads.
    pub(crate) fn open(&self, state: &str, call: &[u8]) -> Result<Held, Failure> {
        let refused = |why: &str| {
            let why = format!("invalid or expired requestState ({why})");
            Failure::refused(code::INVALID_INPUT, why)
        };
        let opened = self.codec.open_with(state, call).map_err(|e| match e {
            RequestStateError::Expired => refused("the wait for the user is over; call again"),
            RequestStateError::UnknownKeyId => foreign(state, &self.ring, &refused),
            _ => refused("not sealed by this server for this call"),
        })?;
        let held: Held = serde_json::from_slice(&opened).map_err(|_| refused("unreadable"))?;
        if held.left().is_zero() {
            return Err(refused("the wait for the user is over; call again"));
        }
        Ok(held)
    }
}

/// A state sealed under a key this replica's `ring` does not hold: said to
/// the operator (which id, and whether the replica holds another key under
/// it), and `refused` to the client.
fn foreign(state: &str, ring: &[(String, String)], refused: &dyn Fn(&str) -> Failure) -> Failure {
    let (kid, fp) = sealed_under(state).unwrap_or_default();
    let kids: Vec<&str> = ring.iter().map(|(kid, _)| kid.as_str()).collect();
    match ring.iter().find(|(held, _)| *held == kid) {
        Some((_, held)) => {
            log::warn!(target: "nexus_mcp", "refused a requestState sealed under key id {kid:?} (fingerprint {fp}): the replicas' keys under id {kid:?} differ (this replica's is {held}); give every replica the same keyring");
            refused(
                "sealed by another replica whose key differs; ask again; if this repeats, tell the server's operator",
            )
        }
        None => {
            log::warn!(target: "nexus_mcp", "refused a requestState sealed under key id {kid:?}, which this replica's keyring ({}) lacks: the replicas' keyrings differ", kids.join(", "));
            refused("sealed by another replica under a key this one lacks; call again")
        }
    }
}

/// Why `variable`'s key was refused, without the key.
fn refused(variable: &str, error: &RequestStateError) -> String {
    match error {
        RequestStateError::KeyTooShort { minimum, actual } => {
            format!("{variable}: a key of {actual} bytes; a sealing key needs at least {minimum}")
        }
        other => format!("{variable}: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_opens_only_for_its_call_under_its_key() {
        let sealer = Sealer::new(None).unwrap();
        let held = Held::new(
            "3f1b2c4d-0000-4000-8000-000000000001",
            Duration::from_secs(60),
        );
        let state = sealer.seal(&held, b"ws-1\0github\0call");
        assert_eq!(sealer.open(&state, b"ws-1\0github\0call").unwrap(), held);
        assert!(!state.contains("authorize"), "no URL in the state");
        for other in [
            &b"ws-2\0github\0call"[..],
            b"ws-1\0gitlab\0call",
            b"ws-1\0github\0other",
        ] {
            let said = sealer.open(&state, other).unwrap_err().to_string();
            assert!(
                said.starts_with("invalid_input: invalid or expired requestState"),
                "{said}"
            );
        }
        let another = Sealer::new(None).unwrap();
        assert!(
            another.open(&state, b"ws-1\0github\0call").is_err(),
            "another key"
        );
        let mut tampered = state.clone().into_bytes();
        let last = tampered.len() - 1;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert!(sealer.open(&tampered, b"ws-1\0github\0call").is_err());
    }

    #[test]
    fn the_operators_key_is_shared_and_checked() {
        let key = "k".repeat(32);
        let (one, two) = (
            Sealer::new(Some(&key)).unwrap(),
            Sealer::new(Some(&key)).unwrap(),
        );
        let held = Held::new("c", Duration::from_secs(60));
        assert_eq!(two.open(&one.seal(&held, b"x"), b"x").unwrap(), held);
        let short = Sealer::new(Some("short")).err().unwrap();
        assert!(
            short.contains("NEXUS_MCP_STATE_KEY: a key of 5 bytes"),
            "{short}"
        );
        assert!(
            !short.contains("short\""),
            "the key is never shown: {short}"
        );
    }

    fn keyring(text: &str) -> Result<Sealer, String> {
        Sealer::keyring(&Keyring::parse(text)?)
    }

    #[test]
    fn a_keyring_rotates_without_dropping_a_held_state() {
        let (old, new) = ("o".repeat(32), "n".repeat(32));
        let before = keyring(&format!("k1:{old}")).unwrap();
        let after = keyring(&format!("k2:{new},k1:{old}")).unwrap();
        let held = Held::new("c", Duration::from_secs(60));
        let sealed_before = before.seal(&held, b"x");
        assert_eq!(
            after.open(&sealed_before, b"x").unwrap(),
            held,
            "old key ids still open"
        );
        let sealed_after = after.seal(&held, b"x");
        assert!(
            before.open(&sealed_after, b"x").is_err(),
            "the new key seals"
        );
        for bad in ["k1", ":key", &format!("k1:{old},k1:{new}"), "k1:short"] {
            let why = keyring(bad).err().unwrap();
            assert!(why.starts_with("NEXUS_MCP_STATE_KEYS: "), "{bad}: {why}");
            assert!(!why.contains(&old) && !why.contains("short\""), "{why}");
        }
        // A missing comma is no `kid:key` entry read as one long key: the
        // second `:` makes the key hold another entry's id.
        let why = keyring("k1:aaaa,k2:bbbb,").err().unwrap();
        assert!(why.contains("entry 3"), "{why}");
    }

    #[test]
    fn a_state_past_its_deadline_is_refused() {
        let sealer = Sealer::new(None).unwrap();
        let held = Held {
            connection: "c".into(),
            deadline_ms: 1,
            approved: false,
        };
        let state = sealer.seal(&held, b"x");
        assert!(
            sealer
                .open(&state, b"x")
                .unwrap_err()
                .to_string()
                .contains("the wait for the user is over")
        );
    }
}
