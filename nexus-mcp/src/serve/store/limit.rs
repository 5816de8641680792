//! `--person-rate` counted in the store every replica shares: each
//! person's calls of the last minute a sorted set in Redis, trimmed,
//! counted and added to in one script by the store's own clock (no
//! replica's), the person named by a hash (never a subject); and the
//! replicas that counted there in the last two minutes, so that each knows
//! its share of the limit should the store stop answering
//! ([`crate::rate`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};

use super::{Down, Kept, Store, WAIT, answered};
use crate::rate::{Counted, PersonRate, Shared};

/// The prefix of a person's calls' key (the hash of the person).
const CALLS: &str = "nexus-mcp:rate:";

/// The replicas that counted a call lately (a sorted set, scored by when).
const REPLICAS: &str = "nexus-mcp:rate-replicas";

/// A call counted: KEYS the person's calls and the replicas; ARGV the
/// limit, this replica, and the call's own member. Answers how many
/// milliseconds until the next call may be made (-1: this one counted)
/// and how many replicas counted in the last two minutes.
const COUNT: &str = r"
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('ZADD', KEYS[2], now, ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - 120000)
redis.call('PEXPIRE', KEYS[2], 120000)
local replicas = redis.call('ZCARD', KEYS[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 60000)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], 60000)
  return {-1, replicas}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {tonumber(oldest[2]) + 60000 - now, replicas}
";

/// The script, held once.
static SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(COUNT));

/// This replica, as the store counts it: drawn at start.
static REPLICA: LazyLock<String> = LazyLock::new(|| {
    let mut drawn = [0u8; 8];
    let random = ring::rand::SystemRandom::new();
    let _ = ring::rand::SecureRandom::fill(&random, &mut drawn);
    crate::principal::hex(&drawn)
});

impl Store {
    /// `--person-rate`'s limit of `per_minute` calls: counted here when
    /// every replica shares this store, else by this replica alone.
    pub(crate) fn person_rate(self: &Arc<Store>, per_minute: usize) -> PersonRate {
        let rate = PersonRate::new(per_minute);
        if !self.shared() {
            return rate;
        }
        let store = Arc::clone(self);
        let shared: Shared = Arc::new(move |person, limit| {
            let store = Arc::clone(&store);
            Box::pin(async move {
                store
                    .count_call(&person, limit)
                    .await
                    .map_err(|down| down.0)
            })
        });
        rate.shared(shared)
    }

    /// A call by `person` counted against `limit` calls a minute, in the
    /// store: its wait when past it, and the replicas counting.
    async fn count_call(&self, person: &str, limit: usize) -> Result<Counted, Down> {
        static CALL: AtomicU64 = AtomicU64::new(0);
        let Kept::Redis(_) = &self.kept else {
            return Err(Down("no store".to_owned()));
        };
        let hash = crate::principal::sha256(&[person.as_bytes()]);
        let hash = crate::principal::hex(&hash[..16]);
        let call = CALL.fetch_add(1, Ordering::Relaxed);
        let mut invoked = SCRIPT.key(format!("{CALLS}{hash}"));
        invoked.key(REPLICAS).arg(limit).arg(REPLICA.as_str());
        invoked.arg(format!("{}:{call}", REPLICA.as_str()));
        let mut connection = self.connection().await?;
        let done = invoked.invoke_async::<(i64, usize)>(&mut connection);
        let (wait, replicas) = answered(tokio::time::timeout(WAIT, done).await)?;
        let wait = u64::try_from(wait)
            .ok()
            .map(|ms| std::time::Duration::from_millis(ms.max(1)));
        Ok(Counted { wait, replicas })
    }
}
