//! The threads calls run on: kept between calls, so a warm call waits for
//! no new thread (3.3 ms median for a new thread's first slice on a loaded
//! 2-core machine, against 34 µs to wake one that exists), and one per call
//! under way, so a call never waits for another. A call takes a thread that
//! is idle, or starts one when none is; a thread idle for [`KEEP`] ends.
//! A call that never ends holds its own thread and no other call's: and
//! every Gateway and provider call of the client ends within its timeout.
//! The runtime's blocking pool is not used: a busy one never holds a call
//! back.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// What a thread runs: one call, which gives back how to deliver its
/// answer (done once the thread is idle again, so that the caller's next
/// call finds it).
pub(crate) type Job = Box<dyn FnOnce() -> Box<dyn FnOnce() + Send> + Send>;

/// How long a thread waits for its next call before it ends.
const KEEP: Duration = Duration::from_secs(10);

/// The idle threads, each by its number and the sender of its next call.
static IDLE: Mutex<Vec<(u64, Sender<Job>)>> = Mutex::new(Vec::new());

/// A number for each thread.
static NEXT: AtomicU64 = AtomicU64::new(0);

/// Runs `job` on an idle thread, or on a new one when none is idle.
///
/// # Errors
///
/// The system's, when it cannot start a thread.
pub(crate) fn run(mut job: Job) -> std::io::Result<()> {
    loop {
        let idle = IDLE.lock().unwrap_or_else(PoisonError::into_inner).pop();
        let Some((_, next)) = idle else {
            return start(job);
        };
        // A thread on the list waits for its call (it leaves the list
        // before it ends): a send fails only if it could not.
        match next.send(job) {
            Ok(()) => return Ok(()),
            Err(unsent) => job = unsent.0,
        }
    }
}

/// Starts a thread that runs `first`, then each call it is given while it
/// is idle, until it has been idle for [`KEEP`].
fn start(first: Job) -> std::io::Result<()> {
    let (next, calls) = channel::<Job>();
    let number = NEXT.fetch_add(1, Ordering::Relaxed);
    std::thread::Builder::new()
        .name("nexus-sdk-call".to_owned())
        .spawn(move || {
            let mut job = Some(first);
            while let Some(call) = job.take() {
                let deliver = call();
                IDLE.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push((number, next.clone()));
                deliver();
                job = wait(number, &calls);
            }
        })
        .map(drop)
}

/// Thread `number`'s next call, or none once it has been idle for [`KEEP`]
/// and has left the idle list (a caller that took it off first sends one).
fn wait(number: u64, calls: &Receiver<Job>) -> Option<Job> {
    if let Ok(call) = calls.recv_timeout(KEEP) {
        return Some(call);
    }
    let mut idle = IDLE.lock().unwrap_or_else(PoisonError::into_inner);
    match idle.iter().position(|(held, _)| *held == number) {
        Some(at) => {
            idle.swap_remove(at);
            None
        }
        None => {
            drop(idle);
            calls.recv().ok()
        }
    }
}
