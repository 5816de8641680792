//! The verdicts on calls a policy asks to approve ([`crate::approval`]),
//! where every replica puts and takes them: a key a call's binding names,
//! kept for `--approval-life`, taken once (`GETDEL`: two replicas that
//! take it at once, one gets it). Without a shared store, in this
//! process's memory, exact for one replica.

use std::sync::Arc;
use std::time::Duration;

use super::{Kept, Store, WAIT, answered};
use crate::approval::{Approvals, Put, Take};

/// The prefix of a verdict's key (its call's binding).
const VERDICT: &str = "nexus-mcp:approval:";

impl Store {
    /// Where verdicts wait for `life`: in this store when every replica
    /// shares it, else in this process.
    pub(crate) fn approvals(self: &Arc<Store>, life: Duration) -> Approvals {
        let approvals = Approvals::new(life);
        let Kept::Redis(_) = &self.kept else {
            return approvals;
        };
        let (putting, taking) = (Arc::clone(self), Arc::clone(self));
        let put: Put = Arc::new(move |binding, verdict, life| {
            let store = Arc::clone(&putting);
            Box::pin(async move {
                let mut set = redis::cmd("SET");
                set.arg(format!("{VERDICT}{binding}")).arg(verdict);
                set.arg("PX").arg(life.as_millis().max(1) as u64);
                let mut connection = store.connection().await.map_err(|down| down.0)?;
                let done = set.query_async::<Option<String>>(&mut connection);
                answered(tokio::time::timeout(WAIT, done).await)
                    .map(drop)
                    .map_err(|down| down.0)
            })
        });
        let take: Take = Arc::new(move |binding| {
            let store = Arc::clone(&taking);
            Box::pin(async move {
                let mut taken = redis::cmd("GETDEL");
                taken.arg(format!("{VERDICT}{binding}"));
                let mut connection = store.connection().await.map_err(|down| down.0)?;
                let done = taken.query_async::<Option<String>>(&mut connection);
                answered(tokio::time::timeout(WAIT, done).await).map_err(|down| down.0)
            })
        });
        approvals.shared(put, take)
    }
}
