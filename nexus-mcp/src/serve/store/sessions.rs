//! Each person's agents (#127): a session begun for a (person, agent)
//! grant is written where every replica and `serve sessions --person`
//! read it, a hash by person (their 12-digit mark) whose fields are the
//! agents' marks, kept until the longest of them ends; and listed with
//! whether a revocation since ended it, as the replicas' own view of the
//! list decides ([`crate::serve::revoked`]).

use serde::{Deserialize, Serialize};

use super::{Down, Kept, REVOKED, Store, WAIT, answered, now_ms};
use crate::serve::revoked::{Named, Revocations};

/// The key of a person's sessions, by their 12-digit mark.
const SESSIONS: &str = "nexus-mcp:sessions:";
/// The key of when each of a person's agents last called, by their mark.
const CALLED: &str = "nexus-mcp:called:";

/// A (person, agent) session as listed: the agent's name and client mark,
/// the scopes granted, since and until when (milliseconds since the Unix
/// epoch).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Session {
    pub(crate) name: String,
    pub(crate) client: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) since: u64,
    pub(crate) until: u64,
    /// When its agent last called for the person, as a replica last said
    /// it (within a minute); none where it has not since the store knew.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) last: Option<u64>,
}

impl Store {
    /// `session` of the person `who` (their 12-digit mark) written, kept
    /// until its end at least (a store kept in memory lists none).
    ///
    /// # Errors
    ///
    /// The store did not answer.
    pub(crate) async fn session_began(&self, who: &str, session: &Session) -> Result<(), Down> {
        let Kept::Redis(_) = &self.kept else {
            return Ok(());
        };
        let key = format!("{SESSIONS}{who}");
        let json = serde_json::to_string(session).map_err(|e| Down(e.to_string()))?;
        let mut asked = redis::pipe();
        asked
            .cmd("HSET")
            .arg(&key)
            .arg(&session.client)
            .arg(json)
            .ignore();
        asked
            .cmd("PEXPIREAT")
            .arg(&key)
            .arg(session.until)
            .arg("NX")
            .ignore();
        asked
            .cmd("PEXPIREAT")
            .arg(&key)
            .arg(session.until)
            .arg("GT")
            .ignore();
        let mut connection = self.connection().await?;
        let done = asked.query_async::<()>(&mut connection);
        answered(tokio::time::timeout(WAIT, done).await)
    }

    /// That the agent `mark` (12 digits) called for the person `who` (their
    /// 12-digit mark) `at` (milliseconds since the Unix epoch), kept for
    /// `life` past it (a store kept in memory keeps none).
    ///
    /// # Errors
    ///
    /// The store did not answer.
    pub(crate) async fn session_called(
        &self,
        (who, mark): (&str, &str),
        at: u64,
        life: std::time::Duration,
    ) -> Result<(), Down> {
        let Kept::Redis(_) = &self.kept else {
            return Ok(());
        };
        let key = format!("{CALLED}{who}");
        let mut asked = redis::pipe();
        asked.cmd("HSET").arg(&key).arg(mark).arg(at).ignore();
        let life = u64::try_from(life.as_millis()).unwrap_or(u64::MAX);
        asked.cmd("PEXPIRE").arg(&key).arg(life.max(1)).ignore();
        let mut connection = self.connection().await?;
        let done = asked.query_async::<()>(&mut connection);
        answered(tokio::time::timeout(WAIT, done).await)
    }

    /// The sessions of `person` (as the list names them), each with whether
    /// it is live: not past its end, and no revocation (of the person, the
    /// agent, or that agent's session for them) made since it began.
    ///
    /// # Errors
    ///
    /// The store did not answer.
    pub(crate) async fn sessions(&self, person: &Named) -> Result<Vec<(Session, bool)>, Down> {
        let who = &person.exact[..crate::serve::revoked::PERSON_DIGITS];
        let mut asked = redis::pipe();
        asked.cmd("HVALS").arg(format!("{SESSIONS}{who}"));
        asked.cmd("HGETALL").arg(format!("{CALLED}{who}"));
        asked
            .cmd("ZRANGE")
            .arg(REVOKED)
            .arg(0)
            .arg(-1)
            .arg("WITHSCORES");
        let mut connection = self.connection().await?;
        type Answer = (
            Vec<String>,
            std::collections::HashMap<String, u64>,
            Vec<(String, u64)>,
        );
        let done = asked.query_async::<Answer>(&mut connection);
        let (held, called, listed) = answered(tokio::time::timeout(WAIT, done).await)?;
        let view = Revocations::default();
        view.took(listed, 0);
        let now = now_ms();
        let mut sessions: Vec<(Session, bool)> = (held.iter())
            .filter_map(|json| serde_json::from_str::<Session>(json).ok())
            .map(|session| Session {
                last: called.get(&session.client).copied(),
                ..session
            })
            .map(|session| {
                let out = view.refuses(person, None, session.since)
                    || view.refuses_client(person, &session.client, session.since);
                let live = session.until > now && !out;
                (session, live)
            })
            .collect();
        sessions.sort_by_key(|(session, _)| session.since);
        Ok(sessions)
    }
}
