//! `serve --person-rate N`: at most N tool calls a minute per person,
//! keyed on the verified person (never an address: hosted platforms call
//! from a few shared ones). Each person's last N calls are kept; a call
//! past them waits until the oldest is a minute old.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::failure::Failure;

/// The window the rate counts in.
const MINUTE: Duration = Duration::from_secs(60);

/// People tracked before those idle for a minute are forgotten.
const PEOPLE: usize = 10_000;

/// The calls each person made in the last minute.
pub(crate) struct PersonRate {
    per_minute: usize,
    made: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl PersonRate {
    pub(crate) fn new(per_minute: usize) -> PersonRate {
        PersonRate {
            per_minute,
            made: Mutex::default(),
        }
    }

    /// The tool error of a call by `person` at `now` past the rate, if it
    /// is (then nothing is sent for it); else the call is counted.
    pub(crate) fn refusal(&self, person: &str, now: Instant) -> Option<Failure> {
        let wait = self.wait(person, now)?;
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        Some(Failure::refused(
            "rate_limited",
            format!(
                "this server lets each person make {} tool calls a minute: the next may be made \
                 in {seconds} s",
                self.per_minute
            ),
        ))
    }

    /// Counts a call by `person` at `now`; `Some(wait)` when it is past the
    /// rate (then it is not counted): how long until the next may be made.
    pub(crate) fn wait(&self, person: &str, now: Instant) -> Option<Duration> {
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
        if calls.len() < self.per_minute {
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
        assert_eq!(rate.wait("alice", start), None);
        assert_eq!(rate.wait("alice", start + Duration::from_secs(10)), None);
        let third = start + Duration::from_secs(15);
        assert_eq!(rate.wait("alice", third), Some(Duration::from_secs(45)));
        assert_eq!(
            rate.wait("bob", third),
            None,
            "another person is unaffected"
        );
        let later = start + Duration::from_secs(60);
        assert_eq!(rate.wait("alice", later), None, "the oldest aged out");
        assert!(
            rate.wait("alice", later).is_some(),
            "and the limit holds again"
        );
    }
}
