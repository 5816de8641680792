//! [`Hold`]: one request kept waiting at a fake server until the test lets
//! it go, so that a test of single flight, renewal or cancellation waits for
//! an event, never for a guessed duration.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::reply::Route;

/// The holds of one fake server. A hold is for the next request to a route
/// (`None`: the next request of a server without routes).
#[derive(Default)]
pub(crate) struct Holds {
    state: Mutex<HoldState>,
    released: Condvar,
}

#[derive(Default)]
struct HoldState {
    next_id: u64,
    /// Holds not yet met, oldest first, with how long each may hold.
    waiting: Vec<(u64, Option<Route>, Option<Duration>)>,
    /// Holds a request is waiting on.
    holding: Vec<u64>,
}

impl Holds {
    /// A new hold on the next request to `route`, for at most `bound`
    /// once a request meets it (`None`: until released).
    pub(crate) fn hold(holds: &Arc<Holds>, route: Option<Route>, bound: Option<Duration>) -> Hold {
        let mut state = holds.state.lock();
        let id = state.next_id;
        state.next_id += 1;
        state.waiting.push((id, route, bound));
        Hold {
            holds: Arc::clone(holds),
            id,
        }
    }

    /// Called by each request to `route`: waits while the oldest hold on
    /// the route, if one is waiting, is held.
    pub(crate) fn wait(&self, route: Option<Route>) {
        let mut state = self.state.lock();
        let Some(at) = state.waiting.iter().position(|(_, r, _)| *r == route) else {
            return;
        };
        let (id, _, bound) = state.waiting.remove(at);
        let until = bound.and_then(|bound| Instant::now().checked_add(bound));
        state.holding.push(id);
        while state.holding.contains(&id) {
            let Some(until) = until else {
                self.released.wait(&mut state);
                continue;
            };
            if self.released.wait_until(&mut state, until).timed_out() {
                state.holding.retain(|held| *held != id);
            }
        }
    }
}

/// A request held at a fake server (by `FakeGateway::hold_next` or
/// `FakeUpstream::hold_next`): it is answered when this guard is dropped. A
/// hold dropped before its request came holds nothing.
#[must_use = "the request is released when this guard is dropped"]
pub struct Hold {
    holds: Arc<Holds>,
    id: u64,
}

impl fmt::Debug for Hold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hold").field("id", &self.id).finish()
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        let mut state = self.holds.state.lock();
        state.waiting.retain(|(id, _, _)| *id != self.id);
        state.holding.retain(|id| *id != self.id);
        self.holds.released.notify_all();
    }
}
