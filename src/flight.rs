//! [`SingleFlight`]: one caller loads, the others wait for its result.
//! The token cache uses it for resolves, the credential scope for the
//! provider metadata: both follow the same rules because they are this code.
//!
//! - A caller that finds a load under way for its key waits, at most its
//!   own budget, and shares the result, errors included.
//! - A call for a key from inside that key's own load fails at once rather
//!   than wait for itself (a logger or hook that uses the SDK).
//! - A loader that panics releases its waiters with an error.
//! - A loader whose call was abandoned (a dropped async future) does not end
//!   the flight for the others: its waiters take it over, and one of them
//!   loads instead.
//! - A flight detached by an invalidation (`TokenCache::delete`) still
//!   answers its callers, but its result is not kept.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::error::NexusError;

/// The loads under way, one per key.
pub(crate) struct SingleFlight<K, T> {
    flights: Mutex<HashMap<K, Arc<Flight<T>>>>,
}

/// One load under way.
struct Flight<T> {
    state: Mutex<State<T>>,
    done: Condvar,
    /// Its result goes to its callers but is not kept.
    detached: AtomicBool,
    /// The thread that loads: a call from it would wait for itself.
    leader: ThreadId,
}

enum State<T> {
    Loading,
    Landed(Result<T, NexusError>),
    /// The loader's call was abandoned: a waiter takes the flight over.
    Abandoned,
}

/// What a caller that found no fresh value brings to [`SingleFlight::run`].
pub(crate) struct Call<'a, T> {
    /// The longest this caller waits for another caller's load.
    pub(crate) budget: Duration,
    /// A value still usable while a load is under way: a caller that finds
    /// one under way takes this instead of waiting.
    pub(crate) current: Option<T>,
    /// Whether this caller's own call was abandoned (its future dropped).
    pub(crate) abandoned: &'a dyn Fn() -> bool,
}

impl<K: Eq + Hash + Clone, T: Clone> SingleFlight<K, T> {
    /// Loads `key` once for every caller that asks meanwhile.
    ///
    /// The first caller (the leader) runs `load`; `keep` then runs with its
    /// value, under the flights' lock and unless the flight was detached,
    /// and what it returns is what every caller gets. `load` is called
    /// again by a waiter that takes over an abandoned flight.
    pub(crate) fn run(
        &self,
        key: &K,
        call: Call<'_, T>,
        mut load: impl FnMut() -> Result<T, NexusError>,
        keep: impl Fn(T) -> T,
    ) -> Result<T, NexusError> {
        let deadline = Instant::now().checked_add(call.budget);
        loop {
            let (flight, leader) = {
                let mut flights = self.flights.lock();
                match flights.get(key) {
                    Some(flight) => (Arc::clone(flight), false),
                    None => {
                        let flight = Arc::new(Flight::new());
                        flights.insert(key.clone(), Arc::clone(&flight));
                        (flight, true)
                    }
                }
            };
            if leader {
                return self.lead(key, flight, &call, &mut load, &keep);
            }
            if let Some(current) = &call.current {
                return Ok(current.clone());
            }
            if flight.leader == thread::current().id() {
                return Err(NexusError::request_failed(
                    "a token or the provider metadata was asked for from inside its own \
                     Gateway call (a logger or hook that uses the SDK?): it would wait for itself",
                ));
            }
            match flight.wait(deadline, call.budget)? {
                Some(result) => return result,
                None => continue, // abandoned: try to lead
            }
        }
    }

    /// The leader's part: load, keep, land, and retire the flight, even if
    /// `load` panics.
    fn lead(
        &self,
        key: &K,
        flight: Arc<Flight<T>>,
        call: &Call<'_, T>,
        load: &mut dyn FnMut() -> Result<T, NexusError>,
        keep: &dyn Fn(T) -> T,
    ) -> Result<T, NexusError> {
        let mut guard = LeaderGuard {
            flights: self,
            key,
            flight,
            state: Some(State::Landed(Err(NexusError::request_failed(
                "the Gateway call this one was waiting for panicked",
            )))),
        };
        let result = load();
        if result.is_err() && (call.abandoned)() {
            guard.state = Some(State::Abandoned);
            return result;
        }
        // Kept under the flights' lock: ordered against a `detach`.
        let flights = self.flights.lock();
        let result = match result {
            Ok(value) if !guard.flight.detached.load(Ordering::SeqCst) => Ok(keep(value)),
            other => other,
        };
        drop(flights);
        guard.state = Some(State::Landed(result.clone()));
        result
    }

    /// Marks every flight whose key matches as detached, and forgets it: its
    /// callers get its result, which is not kept, and the next caller for
    /// the key starts a new flight.
    pub(crate) fn detach_where(&self, matches: impl Fn(&K) -> bool) {
        self.flights.lock().retain(|key, flight| {
            let hit = matches(key);
            if hit {
                flight.detached.store(true, Ordering::SeqCst);
            }
            !hit
        });
    }
}

impl<K, T> Default for SingleFlight<K, T> {
    fn default() -> Self {
        SingleFlight {
            flights: Mutex::new(HashMap::new()),
        }
    }
}

impl<K, T> std::fmt::Debug for SingleFlight<K, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SingleFlight")
            .field("under_way", &self.flights.lock().len())
            .finish()
    }
}

/// The leader's guard: when the leader is done, panicking or not, it
/// retires the flight (only this one: after a detach the key may name a newer
/// one) and wakes its waiters.
struct LeaderGuard<'a, K: Eq + Hash, T> {
    flights: &'a SingleFlight<K, T>,
    key: &'a K,
    flight: Arc<Flight<T>>,
    state: Option<State<T>>,
}

impl<K: Eq + Hash, T> Drop for LeaderGuard<'_, K, T> {
    fn drop(&mut self) {
        {
            let mut flights = self.flights.flights.lock();
            if flights
                .get(self.key)
                .is_some_and(|f| Arc::ptr_eq(f, &self.flight))
            {
                flights.remove(self.key);
            }
        }
        if let Some(state) = self.state.take() {
            *self.flight.state.lock() = state;
            self.flight.done.notify_all();
        }
    }
}

impl<T: Clone> Flight<T> {
    fn new() -> Flight<T> {
        Flight {
            state: Mutex::new(State::Loading),
            done: Condvar::new(),
            detached: AtomicBool::new(false),
            leader: thread::current().id(),
        }
    }

    /// The result once it lands (`None` when the flight was abandoned);
    /// `timeout` past `deadline`.
    fn wait(
        &self,
        deadline: Option<Instant>,
        budget: Duration,
    ) -> Result<Option<Result<T, NexusError>>, NexusError> {
        let mut state = self.state.lock();
        loop {
            match &*state {
                State::Landed(result) => return Ok(Some(result.clone())),
                State::Abandoned => return Ok(None),
                State::Loading => {}
            }
            let timed_out = match deadline {
                Some(deadline) => self.done.wait_until(&mut state, deadline).timed_out(),
                None => {
                    self.done.wait(&mut state);
                    false
                }
            };
            if timed_out && matches!(*state, State::Loading) {
                return Err(NexusError::timeout(format!(
                    "waited {budget:?} for another caller's call to the Gateway"
                )));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Barrier;
    use std::sync::atomic::AtomicUsize;

    const KEY: &str = "ws/github";

    fn never() -> bool {
        false
    }

    fn call(budget: Duration) -> Call<'static, String> {
        Call {
            budget,
            current: None,
            abandoned: &never,
        }
    }

    /// How many callers hold `key`'s flight now, beyond the map and the leader.
    fn waiters(flights: &SingleFlight<&'static str, String>) -> usize {
        let map = flights.flights.lock();
        map.get(KEY)
            .map_or(0, |f| Arc::strong_count(f).saturating_sub(2))
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
            let leader =
                s.spawn(move || flights.run(&KEY, call(Duration::from_secs(30)), load, |v| v));
            started.wait();
            let others: Vec<_> = (0..n)
                .map(|_| {
                    s.spawn(|| {
                        let unused = || Ok("unused".to_owned());
                        flights.run(&KEY, call(Duration::from_secs(30)), unused, |v| v)
                    })
                })
                .collect();
            let mut all = vec![leader.join().unwrap()];
            all.extend(others.into_iter().map(|c| c.join().unwrap()));
            all
        });
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
    fn a_waiter_is_bounded_by_its_own_budget() {
        let flights = SingleFlight::default();
        let (gave_up, done) = std::sync::mpsc::channel();
        let started = Barrier::new(2);
        thread::scope(|s| {
            // The load lasts until the waiter has given up: the waiter can
            // only return through its own 50 ms budget, however slow the machine.
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
                flights.run(&KEY, call(Duration::from_secs(30)), load, |v| v)
            });
            started.wait();
            let err = flights
                .run(
                    &KEY,
                    call(Duration::from_millis(50)),
                    || unreachable!(),
                    |v| v,
                )
                .unwrap_err();
            assert_eq!(err.code, "timeout");
            gave_up.send(()).unwrap();
            assert_eq!(leader.join().unwrap().unwrap(), "slow");
        });
    }

    #[test]
    fn a_call_from_inside_its_own_load_fails_at_once() {
        let flights = SingleFlight::default();
        let outer = flights.run(
            &KEY,
            call(Duration::from_secs(30)),
            || {
                let inner = flights.run(
                    &KEY,
                    call(Duration::from_secs(30)),
                    || unreachable!(),
                    |v| v,
                );
                assert_eq!(inner.unwrap_err().code, "request_failed");
                // Another key from inside a load is fine.
                flights.run(
                    &"other",
                    call(Duration::from_secs(30)),
                    || Ok("o".to_owned()),
                    |v| v,
                )
            },
            |v| v,
        );
        assert_eq!(outer.unwrap(), "o");
    }

    #[test]
    fn a_panicking_load_releases_its_waiter() {
        let flights = SingleFlight::default();
        let started = Barrier::new(2);
        thread::scope(|s| {
            let leader = s.spawn(|| {
                let load = || -> Result<String, NexusError> {
                    started.wait();
                    while waiters(&flights) < 1 {
                        thread::yield_now();
                    }
                    panic!("loader bug")
                };
                flights.run(&KEY, call(Duration::from_secs(30)), load, |v| v)
            });
            started.wait();
            let waiter = flights.run(
                &KEY,
                call(Duration::from_secs(30)),
                || unreachable!(),
                |v| v,
            );
            assert!(leader.join().is_err());
            assert_eq!(waiter.unwrap_err().code, "request_failed");
        });
        assert!(flights.flights.lock().is_empty());
    }

    #[test]
    fn a_waiter_takes_over_the_flight_of_an_abandoned_caller() {
        let flights = SingleFlight::default();
        let abandoned = AtomicBool::new(false);
        let started = Barrier::new(2);
        let loads = AtomicUsize::new(0);
        thread::scope(|s| {
            let leader = s.spawn(|| {
                let gone = || abandoned.load(Ordering::SeqCst);
                let join = Call {
                    budget: Duration::from_secs(30),
                    current: None,
                    abandoned: &gone,
                };
                let load = || {
                    loads.fetch_add(1, Ordering::SeqCst);
                    started.wait();
                    while waiters(&flights) < 1 {
                        thread::yield_now();
                    }
                    // Its future was dropped while it waited to retry.
                    abandoned.store(true, Ordering::SeqCst);
                    Err(NexusError::request_failed("the call was abandoned"))
                };
                flights.run(&KEY, join, load, |v| v)
            });
            started.wait();
            let load = || {
                loads.fetch_add(1, Ordering::SeqCst);
                Ok("fresh".to_owned())
            };
            let waiter = flights.run(&KEY, call(Duration::from_secs(30)), load, |v| v);
            assert!(leader.join().unwrap().is_err());
            assert_eq!(
                waiter.unwrap(),
                "fresh",
                "the retry that would have worked ran"
            );
        });
        assert_eq!(loads.into_inner(), 2);
    }

    #[test]
    fn a_detached_flight_answers_its_callers_but_is_not_kept() {
        let flights = SingleFlight::default();
        let kept = AtomicUsize::new(0);
        let keep = |v: String| {
            kept.fetch_add(1, Ordering::SeqCst);
            v
        };
        let load = || {
            flights.detach_where(|k| *k == KEY);
            Ok("old".to_owned())
        };
        assert_eq!(
            flights
                .run(&KEY, call(Duration::from_secs(30)), load, keep)
                .unwrap(),
            "old"
        );
        assert_eq!(kept.load(Ordering::SeqCst), 0);
        let fresh = || Ok("new".to_owned());
        assert_eq!(
            flights
                .run(&KEY, call(Duration::from_secs(30)), fresh, keep)
                .unwrap(),
            "new"
        );
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
                flights.run(&KEY, call(Duration::from_secs(30)), load, |v| v)
            });
            started.wait();
            let join = Call {
                budget: Duration::from_secs(30),
                current: Some("current".to_owned()),
                abandoned: &never,
            };
            let got = flights.run(&KEY, join, || unreachable!(), |v| v);
            assert_eq!(got.unwrap(), "current");
            release.send(()).unwrap();
            assert_eq!(leader.join().unwrap().unwrap(), "renewed");
        });
    }
}
