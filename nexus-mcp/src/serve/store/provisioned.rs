//! SCIM's users (`/scim/v2/Users`), in the store every replica shares:
//! each user's record by its id, and an index of the words a provider
//! searches by (its `userName`, folded, and its `externalId`), so that the
//! user it made is found on any replica. The records are SCIM's own (this
//! room keeps them as text); the person's hold is the list's
//! ([`Store::hold`]). With no store, none is kept.

use super::{Down, Store, WAIT, answered};

/// The key of the users' records (a hash: id → record).
const USERS: &str = "nexus-mcp:scim:users";

/// The key of the index (a hash: a search's word → id).
const INDEX: &str = "nexus-mcp:scim:index";

/// A user's change, its record compared first: `ARGV[1]` the id,
/// `ARGV[2]` its record as read (empty: none), `ARGV[3]` its record now
/// (empty: deleted), `ARGV[4…6]` its index words before, `ARGV[7…9]` now
/// (empty: none), the first and the third of each unique (its userName,
/// and the person it names). -1: the record changed meanwhile; 0: the
/// userName is another user's; 2: the person is another user's; 1: done.
const CHANGE: &str = r"
local held = redis.call('HGET', KEYS[1], ARGV[1]) or ''
if held ~= ARGV[2] then return -1 end
for _, i in ipairs({7, 9}) do
  if ARGV[i] ~= '' then
    local owner = redis.call('HGET', KEYS[2], ARGV[i])
    if owner and owner ~= ARGV[1] then return i == 7 and 0 or 2 end
  end
end
for i = 4, 6 do
  if ARGV[i] ~= '' and redis.call('HGET', KEYS[2], ARGV[i]) == ARGV[1] then
    redis.call('HDEL', KEYS[2], ARGV[i])
  end
end
if ARGV[3] == '' then
  redis.call('HDEL', KEYS[1], ARGV[1])
  return 1
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
for i = 7, 9 do
  if ARGV[i] ~= '' then redis.call('HSET', KEYS[2], ARGV[i], ARGV[1]) end
end
return 1
";

/// A user's record as the store keeps it, and the index words it is found
/// by: its userName (unique), its externalId, and the person it names
/// (unique: two users never name one person); empty: none.
pub(crate) struct Record<'a> {
    pub(crate) text: &'a str,
    pub(crate) words: [&'a str; 3],
}

/// What became of a change.
#[derive(Debug, PartialEq)]
pub(crate) enum Changed {
    Done,
    /// Its userName is another user's.
    Taken,
    /// The person it names is another user's.
    Named,
    /// The record changed since it was read: read it again.
    Meanwhile,
}

impl Store {
    /// The record of the user `id`, if any.
    pub(crate) async fn provisioned(&self, id: &str) -> Result<Option<String>, Down> {
        let mut asked = redis::cmd("HGET");
        asked.arg(USERS).arg(id);
        let mut connection = self.connection().await?;
        let done = asked.query_async::<Option<String>>(&mut connection);
        answered(tokio::time::timeout(WAIT, done).await)
    }

    /// The id and record of the user the index word `word` finds, if any.
    pub(crate) async fn provisioned_as(
        &self,
        word: &str,
    ) -> Result<Option<(String, String)>, Down> {
        let mut asked = redis::cmd("HGET");
        asked.arg(INDEX).arg(word);
        let mut connection = self.connection().await?;
        let done = asked.query_async::<Option<String>>(&mut connection);
        let Some(id) = answered(tokio::time::timeout(WAIT, done).await)? else {
            return Ok(None);
        };
        Ok(self.provisioned(&id).await?.map(|record| (id, record)))
    }

    /// Every user's id and record.
    pub(crate) async fn every_provisioned(&self) -> Result<Vec<(String, String)>, Down> {
        let mut asked = redis::cmd("HGETALL");
        asked.arg(USERS);
        let mut connection = self.connection().await?;
        let done = asked.query_async::<Vec<(String, String)>>(&mut connection);
        answered(tokio::time::timeout(WAIT, done).await)
    }

    /// The user `id` changed from `before` (none: made now) to `after`
    /// (none: deleted), in one step, its index with it.
    pub(crate) async fn provision(
        &self,
        id: &str,
        (before, after): (Option<&Record<'_>>, Option<&Record<'_>>),
    ) -> Result<Changed, Down> {
        let script = redis::Script::new(CHANGE);
        let mut invoked = script.key(USERS);
        invoked.key(INDEX).arg(id);
        invoked.arg(before.map_or("", |r| r.text));
        invoked.arg(after.map_or("", |r| r.text));
        invoked.arg(before.map_or(["", "", ""], |r| r.words).as_slice());
        invoked.arg(after.map_or(["", "", ""], |r| r.words).as_slice());
        let mut connection = self.connection().await?;
        let done = invoked.invoke_async::<i64>(&mut connection);
        Ok(match answered(tokio::time::timeout(WAIT, done).await)? {
            1 => Changed::Done,
            0 => Changed::Taken,
            2 => Changed::Named,
            _ => Changed::Meanwhile,
        })
    }
}
