//! The list of revocations every replica reads ([`crate::serve::revoked`]):
//! written (a revocation, the provisioning's hold), read every
//! [`WATCH_EVERY`] into each replica's view, and given back by a running
//! replica to a store that lost it; when the store's memory began, and
//! before when nothing granted is taken on trust; what the replicas serve.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::{
    Down, KNOWN_FROM, Kept, PREFIX, REVOKED, SPENT_AT_MOST, Served, Store, WAIT, answered, now_ms,
};
use crate::serve::revoked::{Revoked, STANDING};

/// How far before the newest revocation read the next read begins: a
/// revocation made by a replica whose clock is behind is still read.
pub(super) const READ_AGAIN_MS: u64 = 60_000;

/// How often the list is read whole (in reads, every [`WATCH_EVERY`]),
/// whatever the clocks.
pub(super) const READ_WHOLE_EVERY: u32 = 60;

/// The issuers the replicas serve, each with the claim that names its
/// people, as each replica last said so (a sorted set, scored by when):
/// what `serve revoke --person` holds a person to.
pub(super) const SERVED: &str = "nexus-mcp:served";

/// How long a replica's word on what it serves stands unsaid again.
pub(super) const SERVED_FOR: Duration = Duration::from_secs(30 * 24 * 3600);

/// How often a running replica says again what it serves, in reads of the
/// list (every [`WATCH_EVERY`]).
pub(super) const SAY_SERVED_EVERY: u32 = 300;

/// The key of when the store's memory began (its epoch, milliseconds
/// since the Unix epoch), set by the first replica to find it missing: a
/// replica that finds another than it last read knows the store was
/// emptied (a Redis restarted without its data), and writes back what it
/// holds revoked, and [`LOST`].
pub(super) const EPOCH: &str = "nexus-mcp:epoch";

/// The key of when a store last began again after it was emptied: an
/// assertion usable before then may have been spent in what it lost, and
/// is refused; kept [`SPENT_AT_MOST`], by when every such one has expired.
pub(super) const LOST: &str = "nexus-mcp:lost";

/// The key of the moment before which nothing granted is taken on trust:
/// set when the store begins with nobody to give back its list (every
/// replica restarted with it, or a store new to them), so that a token
/// granted before then, whose revocation may be in what was lost, is
/// refused; put back as it was by a running replica that gives the list
/// back ([`Store::lost`]).
pub(super) const FLOOR: &str = "nexus-mcp:floor";

/// When the store's memory began (`KEYS[1]`, [`EPOCH`]), begun at `ARGV[1]`
/// (now) when it is missing, with [`FLOOR`] (`KEYS[2]`) then too, kept
/// `ARGV[2]` milliseconds (by when nothing granted before it lives), and
/// [`KNOWN_FROM`] (`KEYS[3]`) then; the floor (0: none); and 1 when it
/// began now.
pub(super) const BEGAN: &str = r"
local began = redis.call('GET', KEYS[1])
local now = 0
if not began then
  began = ARGV[1]
  now = 1
  redis.call('SET', KEYS[1], began)
  redis.call('SET', KEYS[2], began, 'PX', ARGV[2])
  redis.call('SET', KEYS[3], began)
end
return {tonumber(began), tonumber(redis.call('GET', KEYS[2]) or '0'), now}
";

/// How often a running replica reads the list of revocations, which says
/// too whether its store answers: how soon a revocation made on another
/// replica holds on this one.
pub(crate) const WATCH_EVERY: Duration = Duration::from_secs(1);

impl Store {
    /// Says what the store keeps across its restart, then reads the list
    /// of revocations every [`WATCH_EVERY`], from start to
    /// the end of the process, into this replica's view, forgetting each
    /// once older than `keep` (the longest life of what it revoked); the
    /// read says too whether the store answers: the log says when it stops
    /// (and what that does) and when it answers again, `nexus_mcp_store_up`
    /// at each read. Readiness stays each replica's own: every replica
    /// shares the store, and taking them all out would serve no one.
    pub(crate) async fn watch(self: std::sync::Arc<Store>, keep: Duration, served: Served) {
        let Kept::Redis(redis) = &self.kept else {
            return;
        };
        match self.persistence().await {
            Some((true, said)) => log::info!(target: "nexus_mcp", "{said}"),
            Some((false, said)) => log::warn!(target: "nexus_mcp", "{said}"),
            None => {}
        }
        let mut answered = None;
        for read in 0u32.. {
            if read % SAY_SERVED_EVERY == 0 && self.serving(&served).await.is_err() {
                log::debug!(target: "nexus_mcp", "the store did not take what this replica serves; said again later");
            }
            let now = self.read(keep).await;
            crate::metrics::store_up(now.is_ok());
            match (&now, answered) {
                (Err(Down(why)), None | Some(true)) => {
                    let (from, shown) = (&redis.from, &redis.shown);
                    log::warn!(target: "nexus_mcp", "{from}: {shown} does not answer: {why}: until it answers, a refresh is refused for a while (503), a new sign-in gets no refresh token, and a revocation made elsewhere is not seen here; access tokens keep working, and this replica stays ready (every replica shares the store)")
                }
                (Ok(()), Some(false)) => {
                    log::info!(target: "nexus_mcp", "the store {} answers again", redis.shown)
                }
                _ => {}
            }
            answered = Some(now.is_ok());
            tokio::time::sleep(WATCH_EVERY).await;
        }
    }

    /// The list of revocations read into this replica's view once, each
    /// forgotten once older than `keep`, and when the store's memory began:
    /// a replica starting reads it before it listens.
    pub(crate) async fn read(&self, keep: Duration) -> Result<(), Down> {
        if !self.shared() {
            return Ok(());
        }
        let keep = u64::try_from(keep.as_millis()).unwrap_or(u64::MAX);
        self.revocations_read(now_ms().saturating_sub(keep), keep)
            .await
    }

    /// Says in the store that a replica serves `served` (what an operator's
    /// `serve revoke --person` is held to), and forgets what no replica
    /// said for [`SERVED_FOR`].
    async fn serving(&self, served: &Served) -> Result<(), Down> {
        let member = serde_json::json!({
            "issuer": served.issuer,
            "subject_claim": served.subject_claim,
        });
        let now = now_ms();
        let stale = now.saturating_sub(u64::try_from(SERVED_FOR.as_millis()).unwrap_or(u64::MAX));
        let mut said = redis::pipe();
        said.cmd("ZREMRANGEBYSCORE")
            .arg(SERVED)
            .arg("-inf")
            .arg(format!("({stale}"));
        said.ignore();
        said.cmd("ZADD")
            .arg(SERVED)
            .arg(now)
            .arg(member.to_string());
        said.ignore();
        let mut connection = self.connection().await?;
        let done = said.query_async::<()>(&mut connection);
        answered(tokio::time::timeout(WAIT, done).await)
    }

    /// What the replicas said they serve lately (none said: an empty list).
    pub(crate) async fn served(&self) -> Result<Vec<Served>, Down> {
        let mut asked = redis::cmd("ZRANGE");
        asked.arg(SERVED).arg(0).arg(-1);
        let mut connection = self.connection().await?;
        let done = asked.query_async::<Vec<String>>(&mut connection);
        let said = answered(tokio::time::timeout(WAIT, done).await)?;
        Ok(said
            .iter()
            .filter_map(|said| serde_json::from_str(said).ok())
            .collect())
    }

    /// The list of revocations made since `since` read into the view, and
    /// the older ones dropped from it; when the store's memory began
    /// (begun now when it is missing: the store was emptied, or is new),
    /// and its floor, each kept `keep` milliseconds (the longest life of
    /// anything granted).
    async fn revocations_read(&self, since: u64, keep: u64) -> Result<(), Down> {
        // What was made since the last read (less a margin for the clocks
        // of the replicas that made it), and the whole list now and then.
        let reads = self.reads.fetch_add(1, Ordering::Relaxed);
        let last = self.read_to.load(Ordering::Relaxed);
        let from = match reads % READ_WHOLE_EVERY {
            0 => since,
            _ => since.max(last.saturating_sub(READ_AGAIN_MS)),
        };
        let mut asked = redis::pipe();
        let began = asked.cmd("EVAL").arg(BEGAN).arg(3).arg(EPOCH);
        began.arg(FLOOR).arg(KNOWN_FROM).arg(now_ms()).arg(keep);
        asked
            .cmd("ZREMRANGEBYSCORE")
            .arg(REVOKED)
            .arg("-inf")
            .arg(format!("({since}"));
        asked.ignore();
        asked
            .cmd("ZRANGEBYSCORE")
            .arg(REVOKED)
            .arg(from)
            .arg("+inf")
            .arg("WITHSCORES");
        let mut connection = self.connection().await?;
        let done = asked.query_async::<((u64, u64, u8), Vec<(String, u64)>)>(&mut connection);
        let ((began, floor, fresh), read) = answered(tokio::time::timeout(WAIT, done).await)?;
        let newest = read
            .iter()
            .map(|(_, at)| *at)
            .filter(|at| *at < STANDING)
            .max();
        let newest = newest.unwrap_or(last).max(last).min(now_ms());
        self.read_to.store(newest, Ordering::Relaxed);
        let before = self.epoch.swap(began, Ordering::Relaxed);
        if before != 0 && before != began {
            self.revocations.took(read, since);
            // Read whole next time: the list is what the replicas give back.
            self.reads.store(0, Ordering::Relaxed);
            return self.lost(began, keep).await;
        }
        // The floor first: a list read is never taken without it.
        self.revocations.floor(floor);
        self.revocations.took(read, since);
        if fresh == 1 {
            log::warn!(target: "nexus_mcp", "the store begins now with nobody to give back its list of revocations (it is new to the replicas, or lost its data while every replica restarted with it): every sign-in made before now is refused on every replica, and its person signs in again once (a Redis with persistence, appendonly yes, keeps its list across its restarts)");
        }
        Ok(())
    }

    /// The store, found emptied and begun again at `began`, given back what
    /// this replica holds revoked and its floor (kept `keep` milliseconds:
    /// this replica held the list, so nothing more is refused on trust), and
    /// [`LOST`]: what it cost is said.
    async fn lost(&self, began: u64, keep: u64) -> Result<(), Down> {
        let held = self.revocations.held();
        let mut given = redis::pipe();
        match self.revocations.floor_held() {
            0 => given.cmd("DEL").arg(FLOOR).ignore(),
            floor => given
                .cmd("SET")
                .arg(FLOOR)
                .arg(floor)
                .arg("PX")
                .arg(keep)
                .ignore(),
        };
        // Who signed in before is forgotten: known again once their grants end.
        let known = began.saturating_add(keep);
        given.cmd("SET").arg(KNOWN_FROM).arg(known).ignore();
        for (member, at) in &held {
            given
                .cmd("ZADD")
                .arg(REVOKED)
                .arg("GT")
                .arg(*at)
                .arg(member);
            given.ignore();
        }
        given.cmd("SET").arg(LOST).arg(began).arg("EX");
        given.arg(SPENT_AT_MOST.as_secs()).arg("NX").ignore();
        let mut connection = self.connection().await?;
        let done = given.query_async::<()>(&mut connection);
        answered(tokio::time::timeout(WAIT, done).await)?;
        log::warn!(target: "nexus_mcp", "the store was emptied (it began again): this replica gave it back the {} revocations it holds; every refresh token issued before ends (its person signs in again when the access token ends), and an ID-JAG or client assertion usable before now is refused", held.len());
        Ok(())
    }

    /// `what` revoked now, in the list every replica reads (a family's
    /// refresh tokens refused at once there too), and in this replica's
    /// view at once; a revocation already later stays as it is.
    pub(crate) async fn revoke(&self, what: Revoked) -> Result<(), Down> {
        let at = now_ms();
        if let Kept::Redis(_) = &self.kept {
            let mut asked = redis::pipe();
            asked
                .atomic()
                .cmd("ZADD")
                .arg(REVOKED)
                .arg("GT")
                .arg(at)
                .arg(what.member())
                .ignore();
            if let Revoked::Family(id) = &what {
                let family = format!("{PREFIX}{id}");
                asked
                    .cmd("SET")
                    .arg(family)
                    .arg("x")
                    .arg("KEEPTTL")
                    .arg("XX")
                    .ignore();
            }
            let mut connection = self.connection().await?;
            let done = asked.query_async::<()>(&mut connection);
            answered(tokio::time::timeout(WAIT, done).await)?;
        }
        self.revocations.add(what, at);
        Ok(())
    }

    /// The provisioning's hold on the person `who` (their hash, or its
    /// first 12 digits): set (`held`: every grant refused, [`STANDING`]),
    /// or lifted now (what was granted before now stays refused; a person
    /// not held is left as they are), in the list every replica reads and
    /// in this view. No other source's revocation is touched.
    pub(crate) async fn hold(&self, who: &str, held: bool) -> Result<(), Down> {
        let Some(Revoked::Person(who)) = Revoked::person(who) else {
            return Ok(());
        };
        let at = if held { STANDING } else { now_ms() };
        let fact = Revoked::Deprovisioned(who.clone());
        if let Kept::Redis(_) = &self.kept {
            let mut asked = redis::pipe();
            asked.atomic().cmd("ZADD").arg(REVOKED);
            if !held {
                asked.arg("XX");
            }
            asked.arg(at).arg(fact.member()).ignore();
            if !held {
                // 0.14 wrote the hold as the person's own word, at STANDING.
                let legacy = Revoked::Person(who.clone()).member();
                let lowered = asked.cmd("ZADD").arg(REVOKED).arg("XX").arg("LT");
                lowered.arg(at).arg(legacy).ignore();
            }
            let mut connection = self.connection().await?;
            let done = asked.query_async::<()>(&mut connection);
            answered(tokio::time::timeout(WAIT, done).await)?;
        }
        if held || self.revocations.held_out(&who) {
            self.revocations.add(fact, at);
        }
        Ok(())
    }
}
