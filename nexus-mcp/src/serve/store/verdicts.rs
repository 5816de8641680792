//! The verdicts on calls a policy asks to approve ([`crate::approval`]),
//! where every replica puts and takes them: a key a call's binding names,
//! kept for `--approval-life`, taken once (`GETDEL`: two replicas that
//! take it at once, one gets it). Without a shared store, in this
//! process's memory, exact for one replica.

use std::sync::Arc;
use std::time::Duration;

use super::{Kept, Store, WAIT, answered};
use crate::approval::{Approvals, InMemory, Verdicts};

/// The prefix of a verdict's key (its call's binding).
const VERDICT: &str = "nexus-mcp:approval:";

#[async_trait::async_trait]
impl Verdicts for Store {
    async fn put(&self, binding: &str, verdict: String, kept: Duration) -> Result<(), String> {
        let mut set = redis::cmd("SET");
        set.arg(format!("{VERDICT}{binding}")).arg(verdict);
        set.arg("PX")
            .arg(u64::try_from(kept.as_millis()).unwrap_or(u64::MAX).max(1));
        let mut connection = self.connection().await.map_err(|down| down.0)?;
        let done = set.query_async::<Option<String>>(&mut connection);
        answered(tokio::time::timeout(WAIT, done).await)
            .map(drop)
            .map_err(|down| down.0)
    }

    async fn take(&self, binding: &str) -> Result<Option<String>, String> {
        let mut taken = redis::cmd("GETDEL");
        taken.arg(format!("{VERDICT}{binding}"));
        let mut connection = self.connection().await.map_err(|down| down.0)?;
        let done = taken.query_async::<Option<String>>(&mut connection);
        answered(tokio::time::timeout(WAIT, done).await).map_err(|down| down.0)
    }
}

impl Store {
    /// Where verdicts wait for `life`: in this store when every replica
    /// shares it, else in this process.
    pub(crate) fn approvals(self: &Arc<Store>, life: Duration) -> Approvals {
        Approvals::new(life, self.verdicts())
    }

    /// Where a value waits to be taken once (a verdict, a device's
    /// approval): in this store when every replica shares it, else in a
    /// new memory of this process's.
    pub(crate) fn verdicts(self: &Arc<Store>) -> Arc<dyn Verdicts> {
        match &self.kept {
            Kept::Redis(_) => Arc::clone(self) as Arc<dyn Verdicts>,
            Kept::Memory(_) => Arc::new(InMemory::default()),
        }
    }
}
