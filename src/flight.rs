//! [`SingleFlight`]: one caller loads a key while the others wait for its
//! result, shaped as a lock per key. The token cache uses it for resolves,
//! the credential scope for the provider metadata: both follow the same
//! rules because they are this code.
//!
//! - The caller holding a key's lock loads; a caller that finds it held
//!   waits for the lock, at most its own time, and then shares what landed
//!   meanwhile, errors included.
//! - A caller that may not wait (it holds a token still usable, in its
//!   refresh window) takes the lock only if it is free at once, else it is
//!   told the key is busy.
//! - A loader that stops without landing (its own deadline ran out, it
//!   panicked, or its result was for itself alone) just releases the lock:
//!   the next waiter with time loads.
//! - A call for a key from inside that key's own load fails at once rather
//!   than wait for itself (a logger or hook that uses the SDK).
//! - A load that started before a [`detach`](SingleFlight::detach_where)
//!   (`TokenCache::delete` or `set`) is not kept; the callers that come
//!   after the detach neither share it nor wait for it.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;
use std::thread::{self, ThreadId};
use std::time::Duration;

use parking_lot::Mutex;

use crate::budget::Budget;
use crate::error::NexusError;

/// One lock per key being loaded or waited on, and how many callers hold
/// it (counted under the map's lock: the last one out forgets the key).
pub(crate) struct SingleFlight<K, T> {
    slots: Mutex<HashMap<K, Entry<T>>>,
}

/// A key's slot and how many callers hold it.
type Entry<T> = (Arc<Slot<T>>, usize);

/// A key's lock, held by the caller that loads, and what its loads left.
struct Slot<T> {
    load: Mutex<()>,
    state: Mutex<State<T>>,
}

struct State<T> {
    /// The thread that holds `load`: a call from it would wait for itself.
    loader: Option<ThreadId>,
    /// Set by a detach: what lands here is not kept.
    detached: bool,
    /// Loads landed so far, and the last one's result.
    landings: u64,
    landed: Option<Result<T, NexusError>>,
}

/// How long a caller that finds a load under way waits for it.
pub(crate) enum Wait {
    /// As long as its budget has left.
    Budget,
    /// Not at all (it holds a value still usable): it is told the key is busy.
    Never,
}

/// Who a load's result is for, as `keep` decides.
pub(crate) enum Landing<T> {
    /// Every caller waiting on the key shares it.
    All(Result<T, NexusError>),
    /// The loader alone: the next waiter with time loads for itself.
    Loader(Result<T, NexusError>),
}

impl<K: Eq + Hash + Clone, T: Clone> SingleFlight<K, T> {
    /// Loads `key` once for every caller that asks meanwhile, within
    /// `budget`: `load` runs under the key's lock, then `keep` with its
    /// result (unless the key was detached meanwhile), which says whether
    /// the waiters share it. A caller that finds the lock held waits for it
    /// as `wait` says, then shares what landed.
    pub(crate) fn run(
        &self,
        key: &K,
        budget: &Budget,
        wait: Wait,
        load: impl FnOnce() -> Result<T, NexusError>,
        keep: impl FnOnce(Result<T, NexusError>) -> Landing<T>,
    ) -> Result<T, NexusError> {
        let waited = match wait {
            Wait::Budget => budget.left().unwrap_or(Duration::MAX),
            Wait::Never => Duration::ZERO,
        };
        let held = self.hold(key);
        let slot = &*held.slot;
        // Read apart: a lock held while waiting below would stop the loader.
        let (seen, loader) = {
            let state = slot.state.lock();
            (state.landings, state.loader)
        };
        if loader == Some(thread::current().id()) {
            return Err(NexusError::request_failed(
                "a token or the provider metadata was asked for from inside its own \
                 Gateway call (a logger or hook that uses the SDK?): it would wait for itself",
            ));
        }
        let _lock = slot.load.try_lock_for(waited).ok_or_else(|| {
            NexusError::timeout(format!(
                "waited {waited:?} for another caller's call to the Gateway"
            ))
        })?;
        {
            let mut state = slot.state.lock();
            match &state.landed {
                Some(result) if state.landings != seen => return result.clone(),
                _ => state.loader = Some(thread::current().id()),
            }
        }
        let result = load();
        if result.is_err() && budget.left().is_some_and(|left| left.is_zero()) {
            // Failed past this caller's own deadline: for nobody else.
            return result;
        }
        self.land(slot, result, keep)
    }

    /// A hold on `key`'s slot, made when no caller holds one.
    fn hold<'a>(&'a self, key: &'a K) -> Hold<'a, K, T> {
        let mut slots = self.slots.lock();
        let (slot, holders) = slots.entry(key.clone()).or_insert_with(|| {
            let state = State {
                loader: None,
                detached: false,
                landings: 0,
                landed: None,
            };
            let (load, state) = (Mutex::new(()), Mutex::new(state));
            (Arc::new(Slot { load, state }), 0)
        });
        *holders += 1;
        let slot = Arc::clone(slot);
        Hold {
            flights: self,
            key,
            slot,
        }
    }

    /// Lands a load's result: `keep` runs with it unless the key was
    /// detached, under the slots' lock (ordered against a detach), and
    /// decides whether the waiters share it.
    fn land(
        &self,
        slot: &Slot<T>,
        result: Result<T, NexusError>,
        keep: impl FnOnce(Result<T, NexusError>) -> Landing<T>,
    ) -> Result<T, NexusError> {
        let slots = self.slots.lock();
        let mut state = slot.state.lock();
        let landing = if state.detached {
            Landing::All(result)
        } else {
            keep(result)
        };
        drop(slots);
        state.loader = None;
        match landing {
            Landing::All(result) => {
                state.landings += 1;
                state.landed = Some(result.clone());
                result
            }
            Landing::Loader(result) => result,
        }
    }

    /// Detaches every key that matches, then runs `then` before any load
    /// lands: a load under way is not kept, the callers that come from now
    /// on do not share it, nor wait for it (the key gets a new lock).
    pub(crate) fn detach_where(&self, matches: impl Fn(&K) -> bool, then: impl FnOnce()) {
        let mut slots = self.slots.lock();
        for (_, (slot, _)) in slots.iter().filter(|(key, _)| matches(key)) {
            slot.state.lock().detached = true;
        }
        slots.retain(|key, _| !matches(key));
        then();
    }
}

impl<K, T> Default for SingleFlight<K, T> {
    fn default() -> Self {
        SingleFlight {
            slots: Mutex::new(HashMap::new()),
        }
    }
}

/// A caller's hold on a key's slot: the last caller out, by a return or a
/// panic, forgets the key.
struct Hold<'a, K: Eq + Hash, T> {
    flights: &'a SingleFlight<K, T>,
    key: &'a K,
    slot: Arc<Slot<T>>,
}

impl<K: Eq + Hash, T> Drop for Hold<'_, K, T> {
    fn drop(&mut self) {
        // A loader that panicked or gave up is no longer loading.
        let mut state = self.slot.state.lock();
        if state.loader == Some(thread::current().id()) {
            state.loader = None;
        }
        drop(state);
        // Let go under the map's lock, where every hold is taken (a
        // detached slot is no longer the key's).
        let mut slots = self.flights.slots.lock();
        let Some((slot, holders)) = slots.get_mut(self.key) else {
            return;
        };
        if Arc::ptr_eq(slot, &self.slot) {
            *holders -= 1;
            if *holders == 0 {
                slots.remove(self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Barrier;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const KEY: &str = "ws/github";

    /// A caller's budget: it waits at most `wait`.
    fn call(wait: Duration) -> Budget {
        crate::budget::test_budget(wait)
    }

    /// Every waiter shares what landed.
    fn all(result: Result<String, NexusError>) -> Landing<String> {
        Landing::All(result)
    }

    /// `run` for a caller that waits.
    fn run(
        flights: &SingleFlight<&'static str, String>,
        key: &'static str,
        wait: Duration,
        load: impl FnOnce() -> Result<String, NexusError>,
    ) -> Result<String, NexusError> {
        flights.run(&key, &call(wait), Wait::Budget, load, all)
    }

    /// How many callers hold `key`'s slot now, beyond the loader.
    fn waiters(flights: &SingleFlight<&'static str, String>) -> usize {
        let map = flights.slots.lock();
        map.get(KEY).map_or(0, |(_, n)| n.saturating_sub(1))
    }

    /// Runs a leader whose load blocks until `n` waiters joined, then
    /// answers `answer`; returns every caller's result and the load count.
    fn share(
        n: usize,
        answer: Result<String, NexusError>,
    ) -> (usize, Vec<Result<String, NexusError>>) {
        let flights = SingleFlight::default();
        let loads = AtomicUsize::new(0);
        let started = Barrier::new(2);
        let results = thread::scope(|s| {
            let (flights, loads, started, answer) = (&flights, &loads, &started, &answer);
            let load = move || {
                loads.fetch_add(1, Ordering::SeqCst);
                started.wait();
                while waiters(flights) < n {
                    thread::yield_now();
                }
                answer.clone()
            };
            let leader = s.spawn(move || run(flights, KEY, Duration::from_secs(30), load));
            started.wait();
            let others: Vec<_> = (0..n)
                .map(|_| {
                    s.spawn(|| {
                        let unused = || Ok("unused".to_owned());
                        run(flights, KEY, Duration::from_secs(30), unused)
                    })
                })
                .collect();
            let mut all = vec![leader.join().unwrap()];
            all.extend(others.into_iter().map(|c| c.join().unwrap()));
            all
        });
        assert!(
            flights.slots.lock().is_empty(),
            "the last one out forgets the key"
        );
        (loads.into_inner(), results)
    }

    #[test]
    fn concurrent_callers_share_one_load_and_its_error() {
        let (loads, results) = share(7, Ok("t".to_owned()));
        assert_eq!(loads, 1);
        assert!(results.iter().all(|r| r.as_deref().ok() == Some("t")));
        let (loads, results) = share(7, Err(NexusError::new("http_503", "down")));
        assert_eq!(loads, 1);
        assert!(
            results
                .iter()
                .all(|r| r.as_ref().unwrap_err().code == "http_503")
        );
    }

    #[test]
    fn a_waiter_is_bounded_by_its_own_wait() {
        let flights = SingleFlight::default();
        let (gave_up, done) = std::sync::mpsc::channel();
        let started = Barrier::new(2);
        thread::scope(|s| {
            // The load lasts until the waiter has given up: the waiter can
            // only return through its own 50 ms wait, however slow the machine.
            let (flights, started) = (&flights, &started);
            let leader = s.spawn(move || {
                let load = || {
                    started.wait();
                    assert!(
                        done.recv_timeout(Duration::from_secs(30)).is_ok(),
                        "never gave up"
                    );
                    Ok("slow".to_owned())
                };
                run(flights, KEY, Duration::from_secs(30), load)
            });
            started.wait();
            let err = run(flights, KEY, Duration::from_millis(50), || unreachable!()).unwrap_err();
            assert_eq!(err.code, "timeout");
            gave_up.send(()).unwrap();
            assert_eq!(leader.join().unwrap().unwrap(), "slow");
        });
    }

    #[test]
    fn a_call_from_inside_its_own_load_fails_at_once() {
        let flights = SingleFlight::default();
        let outer = run(&flights, KEY, Duration::from_secs(30), || {
            let inner = run(&flights, KEY, Duration::from_secs(30), || unreachable!());
            assert_eq!(inner.unwrap_err().code, "request_failed");
            // Another key from inside a load is fine.
            run(&flights, "other", Duration::from_secs(30), || {
                Ok("o".to_owned())
            })
        });
        assert_eq!(outer.unwrap(), "o");
    }

    /// A leader that stops without landing (`stop` decides how), with one
    /// waiter that has time: the waiter loads itself and gets its value.
    fn a_waiter_loads_when_the_leader_stops(stop: impl Fn() -> Result<String, NexusError> + Sync) {
        let flights = SingleFlight::default();
        let started = Barrier::new(2);
        let loads = AtomicUsize::new(0);
        thread::scope(|s| {
            let leader = s.spawn(|| {
                let load = || {
                    loads.fetch_add(1, Ordering::SeqCst);
                    started.wait();
                    while waiters(&flights) < 1 {
                        thread::yield_now();
                    }
                    stop()
                };
                // Its own time is up by the time its load fails.
                run(&flights, KEY, Duration::ZERO, load)
            });
            started.wait();
            let load = || {
                loads.fetch_add(1, Ordering::SeqCst);
                Ok("fresh".to_owned())
            };
            let waiter = run(&flights, KEY, Duration::from_secs(30), load);
            assert!(leader.join().map_or(true, |r| r.is_err()));
            assert_eq!(waiter.unwrap(), "fresh", "the waiter loaded for itself");
        });
        assert_eq!(loads.into_inner(), 2);
        assert!(flights.slots.lock().is_empty());
    }

    #[test]
    fn a_leader_past_its_own_deadline_fails_no_waiter() {
        a_waiter_loads_when_the_leader_stops(|| Err(NexusError::timeout("the leader's own limit")));
    }

    #[test]
    fn a_panicking_load_lets_the_next_waiter_load() {
        a_waiter_loads_when_the_leader_stops(|| panic!("loader bug"));
    }

    #[test]
    fn a_detached_load_answers_its_callers_but_is_not_kept() {
        let flights = SingleFlight::default();
        let kept = AtomicUsize::new(0);
        let keep = |v| {
            kept.fetch_add(1, Ordering::SeqCst);
            Landing::All(v)
        };
        let load = || {
            flights.detach_where(|k| *k == KEY, || ());
            Ok("old".to_owned())
        };
        let budget = call(Duration::from_secs(30));
        let got = flights.run(&KEY, &budget, Wait::Budget, load, keep);
        assert_eq!(got.unwrap(), "old");
        assert_eq!(kept.load(Ordering::SeqCst), 0);
        let fresh = || Ok("new".to_owned());
        let got = flights.run(&KEY, &budget, Wait::Budget, fresh, keep);
        assert_eq!(got.unwrap(), "new");
        assert_eq!(kept.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_caller_with_a_usable_value_never_waits() {
        let flights = SingleFlight::default();
        let started = Barrier::new(2);
        let (release, released) = std::sync::mpsc::channel::<()>();
        thread::scope(|s| {
            let (flights, started) = (&flights, &started);
            let leader = s.spawn(move || {
                let load = || {
                    started.wait();
                    released.recv().unwrap();
                    Ok("renewed".to_owned())
                };
                run(flights, KEY, Duration::from_secs(30), load)
            });
            started.wait();
            let budget = call(Duration::from_secs(30));
            let got = flights.run(&KEY, &budget, Wait::Never, || unreachable!(), all);
            let busy = got.unwrap_err();
            assert_eq!(
                busy.code, "timeout",
                "busy: told so at once, it keeps what it has"
            );
            release.send(()).unwrap();
            assert_eq!(leader.join().unwrap().unwrap(), "renewed");
        });
    }
}
