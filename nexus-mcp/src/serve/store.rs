//! What replicas share, and the one thing they share (`--store`): the
//! refresh-token families of `--oauth-proxy`'s sign-ins (RFC 9700
//! §4.14.2). A family is every refresh token descended from one sign-in;
//! kept is its current generation, or that it was revoked, until the
//! sign-in ends, and nothing else (never a token). A refresh token presented
//! at its family's current generation moves it on one; one presented at an
//! older generation is a replay, and revokes the family, its live
//! successor with it.
//!
//! Beside the families, the list of what `/revoke`, `serve revoke` and the
//! provider's signals revoked ([`super::revoked`]), each entry until what
//! it revoked would have ended; every replica reads what was added since
//! its last read at each [`WATCH_EVERY`] into its own view, which is what a
//! call asks.
//!
//! Kept in Redis (`redis://`, `rediss://`), which a Nexus deployment
//! already runs, through the redis crate, each step one atomic script; or,
//! with one replica and no `--store`, in this process's memory, exact for
//! it alone. A store that does not answer within [`WAIT`] is down: a
//! refresh is then refused as for a while (never accepted unchecked).
//!
//! Its rooms: [`given`], where the store is, as the operator gives it;
//! [`listed`], the list of revocations written, read, and given back to a
//! store that lost it; [`provisioned`], SCIM's users; [`limit`], `--person-rate` counted across replicas;
//! [`verdicts`], the approvals a policy asks for, waiting for their calls.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, AtomicU64};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::revoked::{Revocations, Revoked};

mod given;
mod limit;
mod listed;
mod provisioned;
pub(crate) mod sessions;
mod verdicts;

pub(crate) use self::given::{StoreGiven, store_at};
use self::given::{UNREAD, client, read_url};
pub(crate) use self::listed::WATCH_EVERY;
use self::listed::{EPOCH, LOST};
pub(crate) use self::provisioned::{Changed, Record};

/// The most a step may wait for the store.
const WAIT: Duration = Duration::from_secs(2);

/// The longest an assertion or a signal is held spent, whatever its caller
/// asks: nothing this server takes is usable longer ([`super::jws`] bounds
/// each kind to minutes: a SET's 15 from an `iat` up to the clocks' leeway
/// ahead, and the leeway after), so a flood of them holds keys × minutes
/// at most.
const SPENT_AT_MOST: Duration = Duration::from_secs(15 * 60 + 2 * super::jws::LEEWAY);

/// The prefix of a family's key in Redis.
const PREFIX: &str = "nexus-mcp:family:";

/// The prefix of a spent assertion's key in Redis (its issuer's and
/// `jti`'s hash).
const SPENT: &str = "nexus-mcp:jti:";

/// The prefix of the key that says someone signed in here as a person
/// (their 12 digits), kept as long as what they were granted may live.
const SEEN: &str = "nexus-mcp:seen:";

/// The key of the moment from which the store knows everyone who holds a
/// live grant ([`SEEN`]): its beginning, where nothing granted before is
/// taken on trust; else a grant's life after it began to be told (an older
/// store) or after it lost what it was told.
pub(super) const KNOWN_FROM: &str = "nexus-mcp:known-from";

/// The key of the list of revocations in Redis: a sorted set, each
/// [`Revoked`]'s word scored by when it was made.
const REVOKED: &str = "nexus-mcp:revoked";

/// A family's word on `ARGV[1]`, moved on by `ARGV[2]` (1, or 0 to only
/// check, which writes nothing but a revocation): the generation it is at
/// now; -1 revoked (now, for `ARGV[1]` is not its generation, or before),
/// -2 unknown, -3 withdrawn (`/revoke`, or any of the list `KEYS[2]`'s
/// words `ARGV[4…]`, its person's or its client's, revoked since `ARGV[3]`,
/// when the family's access was granted: a refresh racing the revocation
/// loses on every replica, whatever its view). A family's value is its
/// generation, `r`, or `x`.
const ROTATE: &str = r"
local held = redis.call('GET', KEYS[1])
if not held then return -2 end
if held == 'r' then return -1 end
if held == 'x' then return -3 end
for i = 4, #ARGV do
  local revoked = redis.call('ZSCORE', KEYS[2], ARGV[i])
  if revoked and tonumber(revoked) >= tonumber(ARGV[3]) then
    redis.call('SET', KEYS[1], 'x', 'KEEPTTL')
    return -3
  end
end
if held == ARGV[1] then
  local next = tonumber(held) + tonumber(ARGV[2])
  if next ~= tonumber(held) then redis.call('SET', KEYS[1], next, 'KEEPTTL') end
  return next
end
redis.call('SET', KEYS[1], 'r', 'KEEPTTL')
return -1
";

/// A key `KEYS[3]` (an assertion's or a signal's) spent for `ARGV[2]`
/// seconds: 1 now for the first time, 0 spent before; for a grant
/// (`ARGV[5]` is `grant`), -1 when it may have been spent in what the store
/// lost: the store was emptied and has not begun again (`KEYS[1]`,
/// [`EPOCH`], missing), or it was usable (`ARGV[1]`) before the store last
/// began again (`KEYS[2]`, [`LOST`]). A signal is never refused for what
/// the store lost: taking a revocation twice revokes twice. Spent for the
/// first time, a signal's revocation `ARGV[3]` (none: empty) joins the list
/// `KEYS[4]` at `ARGV[4]`, in the same step: a signal is taken whole or not
/// at all.
const SPEND: &str = r"
if ARGV[5] == 'grant' then
  if not redis.call('GET', KEYS[1]) then return -1 end
  local lost = redis.call('GET', KEYS[2])
  if lost and tonumber(ARGV[1]) < tonumber(lost) then return -1 end
end
if not redis.call('SET', KEYS[3], 1, 'EX', ARGV[2], 'NX') then return 0 end
if ARGV[3] ~= '' then redis.call('ZADD', KEYS[4], 'GT', ARGV[4], ARGV[3]) end
return 1
";

/// What a step asks of a family: to check a generation is its own (a
/// replay revokes it), or to move it on from there.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Step {
    Check,
    Move,
}

impl Step {
    /// How far the step moves the family.
    fn by(self) -> u64 {
        match self {
            Step::Check => 0,
            Step::Move => 1,
        }
    }
}

/// What a refresh token's family says of it.
#[derive(Debug, PartialEq)]
pub(crate) enum Rotated {
    /// Its generation was the family's: the one the family is at now (the
    /// next one, when the step moved it).
    Next(u64),
    /// The family was revoked: now, for this token was used before, or
    /// earlier.
    Revoked,
    /// No such family: its sign-in ended, or the store lost it.
    Unknown,
    /// The family was revoked by request (`/revoke`, `serve revoke`).
    Withdrawn,
}

/// What a replica serves: the issuer whose people it takes, and the claim
/// that names them (`--issuer`, `--subject-claim`).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Served {
    pub(crate) issuer: String,
    pub(crate) subject_claim: String,
}

/// The store does not answer: why, for the log.
#[derive(Debug)]
pub(crate) struct Down(pub(crate) String);

/// A family in memory: its generation (none once revoked), until when.
struct Held {
    generation: Option<u64>,
    until: Instant,
}

/// Where families are kept, and this replica's view of the revocations.
pub(crate) struct Store {
    kept: Kept,
    revocations: Revocations,
    /// The assertions spent here, until they expire (in memory alone).
    spent: Mutex<HashMap<String, Instant>>,
    /// When the store's memory began, as this replica last read it (0:
    /// not read yet).
    epoch: AtomicU64,
    /// The newest revocation read (never past this replica's now), and how
    /// many reads there were: each read asks what was made since.
    read_to: AtomicU64,
    reads: AtomicU32,
}

/// A Redis: its client, the connection made on first use, its URL as a
/// line may show it, and the flag or variable that gave it.
struct Redis {
    client: redis::Client,
    manager: tokio::sync::OnceCell<ConnectionManager>,
    shown: String,
    from: String,
}

/// Where families are kept, in memory or in Redis.
enum Kept {
    /// In this process: exact for one replica.
    Memory(Mutex<HashMap<String, Held>>),
    /// In Redis, shared by every replica.
    Redis(Box<Redis>),
}

impl Store {
    /// Families kept in this process.
    pub(crate) fn memory() -> Store {
        Store::kept(Kept::Memory(Mutex::new(HashMap::new())))
    }

    /// Families kept in the Redis at `url` (`redis://` or `rediss://`),
    /// given by `from` (the flag or variable), its password joined from
    /// `password` when that is given alone; connected to on first use.
    ///
    /// # Errors
    ///
    /// The URL is not Redis's, does not read whole, or is given a password
    /// twice: said naming `from`, never with the URL's text.
    pub(crate) fn redis(
        (from, url): (&str, &str),
        password: Option<(&str, &str)>,
    ) -> Result<Store, String> {
        let url = read_url(url, password).map_err(|why| format!("{from}: {why}"))?;
        let client = client(&url).map_err(|_| format!("{from}: {UNREAD}"))?;
        let manager = tokio::sync::OnceCell::new();
        let redis = Redis {
            client,
            manager,
            shown: crate::addresses::shown(url.as_str()),
            from: from.to_owned(),
        };
        let mut store = Store::kept(Kept::Redis(Box::new(redis)));
        store.revocations = Revocations::unread();
        Ok(store)
    }

    /// Where families are kept, as the start line says it.
    pub(crate) fn said(&self) -> String {
        match &self.kept {
            Kept::Memory(_) => "refresh-token reuse is detected on this replica alone (no \
                                 --store), and a revocation and an ID-JAG's single use hold on \
                                 it alone, until it restarts: give every replica one Redis \
                                 with --store"
                .to_owned(),
            Kept::Redis(redis) => {
                let shown = &redis.shown;
                format!(
                    "refresh-token reuse is detected across replicas in {shown}, and revocations read from it"
                )
            }
        }
    }

    /// That the person `who` (their hash's 12 digits, as signals name them)
    /// was granted something that lives `life`: a signal about them then
    /// knows they signed in here; and, where the store was not told before,
    /// from when it knows everyone ([`KNOWN_FROM`]). Kept in memory by no
    /// one.
    pub(crate) async fn saw(&self, who: &str, life: Duration) -> Result<(), Down> {
        if !self.shared() {
            return Ok(());
        }
        let life = u64::try_from(life.as_millis()).unwrap_or(u64::MAX);
        let mut said = redis::pipe();
        let seen = said.cmd("SET").arg(format!("{SEEN}{who}")).arg(1);
        seen.arg("PX").arg(life.max(1)).ignore();
        let known = now_ms().saturating_add(life);
        said.cmd("SET")
            .arg(KNOWN_FROM)
            .arg(known)
            .arg("NX")
            .ignore();
        let mut connection = self.connection().await?;
        let done = said.query_async::<()>(&mut connection);
        answered(tokio::time::timeout(WAIT, done).await)
    }

    /// Whether `who` may hold a live grant here: someone signed in as them
    /// ([`Store::saw`]), or the store does not yet know everyone who does
    /// ([`KNOWN_FROM`]), so it cannot tell.
    pub(crate) async fn seen(&self, who: &str) -> Result<bool, Down> {
        let mut asked = redis::pipe();
        asked.cmd("EXISTS").arg(format!("{SEEN}{who}"));
        asked.cmd("GET").arg(KNOWN_FROM);
        let mut connection = self.connection().await?;
        let done = asked.query_async::<(u32, Option<u64>)>(&mut connection);
        let (seen, known) = answered(tokio::time::timeout(WAIT, done).await)?;
        Ok(seen == 1 || known.is_none_or(|known| now_ms() < known))
    }

    /// A family begun, at generation 0, for `life`.
    pub(crate) async fn begin(&self, family: &str, life: Duration) -> Result<(), Down> {
        match &self.kept {
            Kept::Memory(families) => {
                let mut families = families.lock().unwrap_or_else(|e| e.into_inner());
                let now = Instant::now();
                families.retain(|_, held| held.until > now);
                let until = now + life;
                let generation = Some(0);
                families.insert(family.to_owned(), Held { generation, until });
                Ok(())
            }
            Kept::Redis(_) => {
                let mut set = redis::cmd("SET");
                set.arg(format!("{PREFIX}{family}")).arg(0).arg("EX");
                set.arg(life.as_secs().max(1)).arg("NX");
                let mut connection = self.connection().await?;
                let done = set.query_async::<Option<String>>(&mut connection);
                answered(tokio::time::timeout(WAIT, done).await).map(drop)
            }
        }
    }

    /// The family's word on a refresh token of `generation`, whose sign-in
    /// has `left` to live, after `step`: at that generation (moved on, for
    /// [`Step::Move`]), revoked (a replay revokes it), withdrawn (it was, or
    /// a word of the list `whose` names, its person's or its client's, was
    /// since access was granted, asked
    /// in Redis: in memory, the caller's view is the list), or unknown. In
    /// memory, a family begun on another replica is taken up here at the
    /// generation presented: reuse is caught on this replica alone, as the
    /// start line says.
    pub(crate) async fn rotate(
        &self,
        family: &str,
        (generation, left): (u64, Duration),
        (step, whose): (Step, &(Vec<String>, u64)),
    ) -> Result<Rotated, Down> {
        let moved = match &self.kept {
            Kept::Memory(families) => {
                let mut families = families.lock().unwrap_or_else(|e| e.into_inner());
                let now = Instant::now();
                let taken_up = Held {
                    generation: Some(generation),
                    until: now + left,
                };
                let held = families.entry(family.to_owned()).or_insert(taken_up);
                if held.until <= now {
                    held.generation = Some(generation);
                    held.until = now + left;
                }
                let current = held.generation.take();
                held.generation = current.filter(|g| *g == generation).map(|g| g + step.by());
                held.generation.map_or(-1, |g| g as i64)
            }
            Kept::Redis(_) => {
                let script = redis::Script::new(ROTATE);
                let mut invoked = script.key(format!("{PREFIX}{family}"));
                invoked.key(REVOKED).arg(generation).arg(step.by());
                let (members, granted) = whose;
                invoked.arg(granted).arg(members);
                let mut connection = self.connection().await?;
                let done = invoked.invoke_async::<i64>(&mut connection);
                answered(tokio::time::timeout(WAIT, done).await)?
            }
        };
        Ok(match moved {
            -2 => Rotated::Unknown,
            -3 => Rotated::Withdrawn,
            next if next >= 0 => Rotated::Next(next as u64),
            _ => Rotated::Revoked,
        })
    }

    /// Whether the store answers (`serve --check`, readiness of a step).
    pub(crate) async fn ping(&self) -> Result<(), Down> {
        if let Kept::Redis(redis) = &self.kept {
            let shown = &redis.shown;
            let asked = async {
                let mut connection = self.connection().await?;
                let ping = redis::cmd("PING");
                let done = ping.query_async::<String>(&mut connection);
                answered(tokio::time::timeout(WAIT, done).await)
            };
            let answer = asked.await;
            let from = &redis.from;
            answer.map_err(|Down(why)| Down(format!("{from}: {shown} does not answer: {why}")))?;
        }
        Ok(())
    }

    /// What the store keeps across its own restart, as a line says it (a
    /// note for `--check`, a warning at the start when it keeps nothing),
    /// read from Redis's configuration (`appendonly`, `save`); none in
    /// memory, or when it answers nothing.
    pub(crate) async fn persistence(&self) -> Option<(bool, String)> {
        let Kept::Redis(redis) = &self.kept else {
            return None;
        };
        let mut asked = redis::pipe();
        asked.cmd("CONFIG").arg("GET").arg("appendonly");
        asked.cmd("CONFIG").arg("GET").arg("save");
        let mut connection = self.connection().await.ok()?;
        let done = asked.query_async::<(Vec<String>, Vec<String>)>(&mut connection);
        let shown = &redis.shown;
        let said = match answered(tokio::time::timeout(WAIT, done).await) {
            Err(_) => (
                false,
                format!(
                    "the store {shown} does not say what it keeps across its restart (CONFIG refused): \
                 if it keeps nothing and restarts while every replica does, every sign-in made \
                 before is refused on every replica and each person signs in once more"
                ),
            ),
            Ok((aof, save))
                if aof.get(1).is_some_and(|v| v == "yes")
                    || save.get(1).is_some_and(|v| !v.is_empty()) =>
            {
                (
                    true,
                    format!(
                        "the store {shown} keeps its data across its restart (appendonly {}, save {:?}): a revocation outlives it",
                        aof.get(1).map_or("no", String::as_str),
                        save.get(1).map_or("", String::as_str)
                    ),
                )
            }
            Ok(_) => (
                false,
                format!(
                    "the store {shown} keeps nothing across its restart (appendonly no, save \"\"): \
                 restarted alone it costs nothing (the running replicas give it back its list \
                 of revocations), but restarted while every replica restarts too, every sign-in \
                 made before is refused on every replica and each person signs in once more; \
                 give it appendonly yes to keep its list"
                ),
            ),
        };
        Some(said)
    }

    /// Whether `key` (an assertion's, usable from `from`, milliseconds since
    /// the Unix epoch) is spent now for the first time, on any replica; it
    /// is held spent for `life`. One the store may have lost the record of
    /// ([`SPEND`]) is taken as spent.
    pub(crate) async fn spend(
        &self,
        key: &str,
        (from, life): (u64, Duration),
    ) -> Result<bool, Down> {
        self.spent(key, (Some(from), life), None).await
    }

    /// Whether the signal `key` is taken now for the first time, on any
    /// replica (held taken for `life`), its revocation `what` written in the
    /// same step, as of the signal's own time (`what`'s moment): a signal
    /// taken before is not taken again, but one the store may have lost the
    /// record of is, and then takes nothing granted since it was made.
    pub(crate) async fn signal(
        &self,
        key: &str,
        life: Duration,
        what: Option<(Revoked, u64)>,
    ) -> Result<bool, Down> {
        self.spent(key, (None, life), what).await
    }

    /// [`Store::spend`] (a grant usable `from`) or [`Store::signal`] (none),
    /// revoking `what` with it.
    async fn spent(
        &self,
        key: &str,
        (from, life): (Option<u64>, Duration),
        what: Option<(Revoked, u64)>,
    ) -> Result<bool, Down> {
        let life = life.min(SPENT_AT_MOST);
        let at = now_ms();
        let first = match &self.kept {
            Kept::Memory(_) => {
                let mut spent = self.spent.lock().unwrap_or_else(|e| e.into_inner());
                let now = Instant::now();
                spent.retain(|_, until| *until > now);
                spent.insert(key.to_owned(), now + life).is_none()
            }
            Kept::Redis(_) => {
                let script = redis::Script::new(SPEND);
                let mut invoked = script.key(EPOCH);
                invoked.key(LOST).key(format!("{SPENT}{key}")).key(REVOKED);
                invoked
                    .arg(from.unwrap_or_default())
                    .arg(life.as_secs().max(1));
                let member = what.as_ref().map(|(what, as_of)| what.member_as_of(*as_of));
                invoked.arg(member.unwrap_or_default());
                invoked
                    .arg(at)
                    .arg(if from.is_some() { "grant" } else { "signal" });
                let mut connection = self.connection().await?;
                let done = invoked.invoke_async::<i64>(&mut connection);
                answered(tokio::time::timeout(WAIT, done).await)? == 1
            }
        };
        if let Some((what, as_of)) = what.filter(|_| first) {
            self.revocations.add(what, as_of.min(at));
        }
        Ok(first)
    }

    /// Whether this replica knows what is revoked: it has no store to
    /// share, or has read it once (`/readyz` waits for that).
    pub(crate) fn known(&self) -> bool {
        self.revocations.read()
    }

    /// Whether every replica shares it (Redis), not this process alone.
    pub(crate) fn shared(&self) -> bool {
        matches!(self.kept, Kept::Redis(_))
    }

    /// What this replica knows to be revoked.
    pub(crate) fn revocations(&self) -> &Revocations {
        &self.revocations
    }

    /// A store of `kept`, nothing revoked yet.
    fn kept(kept: Kept) -> Store {
        let revocations = Revocations::default();
        let spent = Mutex::default();
        Store {
            kept,
            revocations,
            spent,
            epoch: AtomicU64::new(0),
            read_to: AtomicU64::new(0),
            reads: AtomicU32::new(0),
        }
    }

    /// The connection to Redis, made once and mended by the manager.
    async fn connection(&self) -> Result<ConnectionManager, Down> {
        let Kept::Redis(redis) = &self.kept else {
            return Err(Down("no store".to_owned()));
        };
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(WAIT))
            .set_response_timeout(Some(WAIT))
            .set_number_of_retries(1);
        let made = redis.manager.get_or_try_init(|| async {
            ConnectionManager::new_lazy_with_config(redis.client.clone(), config)
        });
        let made = made.await.map_err(|e| Down(e.to_string()))?;
        Ok(made.clone())
    }
}

/// Milliseconds since the Unix epoch: when a revocation is made, and a
/// token issued ([`super::revoked`] compares the two).
pub(crate) fn now_ms() -> u64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    since.map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// What a step that waited at most [`WAIT`] answered, or why it is down.
fn answered<T>(
    done: Result<redis::RedisResult<T>, tokio::time::error::Elapsed>,
) -> Result<T, Down> {
    match done {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(Down(e.to_string())),
        Err(_) => Err(Down(format!("no answer within {} s", WAIT.as_secs()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_family_moves_on_once_per_generation_and_a_replay_revokes_it() {
        let store = Store::memory();
        let left = Duration::from_secs(60);
        let whose = (vec!["person:0123456789ab".to_owned()], 0);
        let (mv, check) = ((Step::Move, &whose), (Step::Check, &whose));
        let moved = |generation| store.rotate("f", (generation, left), mv);
        store.begin("f", left).await.unwrap();
        let checked = store.rotate("f", (0, left), check).await.unwrap();
        assert_eq!(checked, Rotated::Next(0), "checked, not moved");
        assert_eq!(moved(0).await.unwrap(), Rotated::Next(1));
        assert_eq!(moved(1).await.unwrap(), Rotated::Next(2));
        // Generation 1 again: a replay; the family goes, its live successor too.
        let replayed = store.rotate("f", (1, left), check).await.unwrap();
        assert_eq!(replayed, Rotated::Revoked, "a check catches a replay too");
        assert_eq!(moved(2).await.unwrap(), Rotated::Revoked);
        // Begun on another replica: taken up here, and caught here from then on.
        let taken = store.rotate("g", (4, left), mv).await.unwrap();
        assert_eq!(taken, Rotated::Next(5));
        let again = store.rotate("g", (4, left), mv).await.unwrap();
        assert_eq!(again, Rotated::Revoked);
    }
}
