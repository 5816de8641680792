//! `serve --person-rate N`: at most N tool calls a minute per person,
//! keyed on the verified person (never an address: hosted platforms call
//! from a few shared ones). Each person's last N calls are kept; a call
//! past them waits until the oldest is a minute old.
//!
//! With a store every replica shares (`--store`), the calls are counted
//! there ([`Shared`]), so that the limit is the team's, not each
//! replica's; a store that does not answer leaves each replica its share
//! of the limit (the limit over the replicas last counted), said in the
//! log and counted (`nexus_mcp_person_rate_checks_total{by}`).

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::failure::Failure;

/// The window the rate counts in.
pub(crate) const MINUTE: Duration = Duration::from_secs(60);

/// People tracked before those idle for a minute are forgotten.
const PEOPLE: usize = 10_000;

/// What the shared count answers a person's call: how long until the
/// next may be made (none: this one is counted), and how many replicas
/// counted calls there in the last minutes.
pub(crate) struct Counted {
    pub(crate) wait: Option<Duration>,
    pub(crate) replicas: usize,
}

/// A person's call counted where every replica counts: the person, the
/// limit; what it answers, or why the store did not.
pub(crate) type Shared = Arc<
    dyn Fn(String, usize) -> Pin<Box<dyn Future<Output = Result<Counted, String>> + Send>>
        + Send
        + Sync,
>;

/// The calls each person made in the last minute.
pub(crate) struct PersonRate {
    per_minute: usize,
    made: Mutex<HashMap<String, VecDeque<Instant>>>,
    /// Where every replica counts (`--store`), if anywhere.
    shared: Option<Shared>,
    /// The replicas last counted there (1 before it answers).
    replicas: AtomicUsize,
    /// Whether the store is down (each replica counting its share).
    alone: AtomicBool,
}

impl PersonRate {
    pub(crate) fn new(per_minute: usize) -> PersonRate {
        PersonRate {
            per_minute,
            made: Mutex::default(),
            shared: None,
            replicas: AtomicUsize::new(1),
            alone: AtomicBool::new(false),
        }
    }

    /// The same limit, counted in `shared` by every replica.
    pub(crate) fn shared(self, shared: Shared) -> PersonRate {
        PersonRate {
            shared: Some(shared),
            ..self
        }
    }

    /// The tool error of a call by `person` past the rate, if it is (then
    /// nothing is sent for it); else the call is counted.
    pub(crate) async fn refusal(&self, person: &str) -> Option<Failure> {
        let wait = match &self.shared {
            None => self.wait(person, Instant::now(), self.per_minute),
            Some(shared) => self.counted(shared(person.to_owned(), self.per_minute).await, person),
        };
        let wait = wait?;
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        Some(Failure::refused(
            "rate_limited",
            format!(
                "this server lets each person (and each agent acting as itself) make {} tool \
                 calls a minute: the next may be made in {seconds} s",
                self.per_minute
            ),
        ))
    }

    /// The wait the shared count answered; or, when the store did not,
    /// `person`'s wait within this replica's share of the limit, the
    /// operator told when that begins and ends.
    fn counted(&self, answer: Result<Counted, String>, person: &str) -> Option<Duration> {
        match answer {
            Ok(counted) => {
                self.replicas
                    .store(counted.replicas.max(1), Ordering::Relaxed);
                if self.alone.swap(false, Ordering::Relaxed) {
                    log::warn!(target: "nexus_mcp", "--person-rate: the store answers again; the limit is counted there, across replicas");
                }
                crate::metrics::person_rate("store");
                counted.wait
            }
            Err(why) => {
                let replicas = self.replicas.load(Ordering::Relaxed).max(1);
                let share = (self.per_minute / replicas).max(1);
                if !self.alone.swap(true, Ordering::Relaxed) {
                    log::warn!(target: "nexus_mcp", "--person-rate: the store does not answer ({why}); each replica allows a person its share until it does: {share} of {} calls a minute ({replicas} replicas counted last)", self.per_minute);
                }
                crate::metrics::person_rate("share");
                self.wait(person, Instant::now(), share)
            }
        }
    }

    /// Counts a call by `person` at `now` within `limit` calls a minute;
    /// `Some(wait)` when it is past it (then it is not counted): how long
    /// until the next may be made.
    pub(crate) fn wait(&self, person: &str, now: Instant, limit: usize) -> Option<Duration> {
        let Ok(mut made) = self.made.lock() else {
            return None;
        };
        if made.len() >= PEOPLE && !made.contains_key(person) {
            made.retain(|_, calls| {
                calls
                    .back()
                    .is_some_and(|at| now.duration_since(*at) < MINUTE)
            });
        }
        let calls = made.entry(person.to_owned()).or_default();
        while calls
            .front()
            .is_some_and(|at| now.duration_since(*at) >= MINUTE)
        {
            calls.pop_front();
        }
        if calls.len() < limit {
            calls.push_back(now);
            return None;
        }
        calls
            .front()
            .map(|oldest| MINUTE - now.duration_since(*oldest))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_person_past_the_rate_waits_for_their_oldest_call_to_age_others_do_not() {
        let rate = PersonRate::new(2);
        let start = Instant::now();
        assert_eq!(rate.wait("alice", start, 2), None);
        assert_eq!(rate.wait("alice", start + Duration::from_secs(10), 2), None);
        let third = start + Duration::from_secs(15);
        assert_eq!(rate.wait("alice", third, 2), Some(Duration::from_secs(45)));
        assert_eq!(
            rate.wait("bob", third, 2),
            None,
            "another person is unaffected"
        );
        let later = start + Duration::from_secs(60);
        assert_eq!(rate.wait("alice", later, 2), None, "the oldest aged out");
        assert!(
            rate.wait("alice", later, 2).is_some(),
            "and the limit holds again"
        );
    }
}
