//! What the library's work on a thread is for: one context a fetch's
//! thread holds while the library works for it, set by one guard
//! ([`Working`]) around the library's call and gone when it is dropped.
//! It carries the call's number (the library's log lines name it), the
//! redirect hop its next connection is held to by the public-address rule
//! (`crate::addresses`) and whether that connection was refused, and, when
//! traces are on, what the API's requests are traced with and the span of
//! the last one sent (`crate::traced`), which ends when the next is sent or
//! the guard is dropped. It names no room that reads it.

use std::cell::RefCell;

use nexus_sdk::CachedToken;

use crate::span::Span;

/// A redirect off the provider's origin, about to connect: its origin,
/// and who asked from where, for the operator's line.
pub(crate) struct Bound {
    pub(crate) origin: String,
    pub(crate) who: String,
}

/// What the API's requests are traced with: the credential the call sends
/// (its URLs are written only where no form of it is in them), and whether
/// the API is sent each request's trace context (`--trace-context-to-api`).
#[derive(Clone)]
pub(crate) struct Traced {
    pub(crate) token: Option<CachedToken>,
    pub(crate) to_api: bool,
}

/// The context of the call this thread works for.
#[derive(Default)]
pub(crate) struct OnThread {
    /// The call's number, 0 outside one.
    pub(crate) call: u64,
    /// The redirect hop the next connection is held to the rule for.
    pub(crate) bound: Option<Bound>,
    /// Whether that connection was refused (the operator told already).
    pub(crate) refused: bool,
    /// Traced: what the API's requests are traced with.
    pub(crate) traced: Option<Traced>,
    /// Traced: the span of the API request sent last.
    pub(crate) sending: Option<Span>,
}

thread_local! {
    static ON_THREAD: RefCell<OnThread> = RefCell::default();
}

/// The call a thread works for, until dropped.
pub(crate) struct Working(());

impl Working {
    /// This thread works for call `call`.
    pub(crate) fn start(call: u64) -> Working {
        let call = OnThread {
            call,
            ..OnThread::default()
        };
        ON_THREAD.set(call);
        Working(())
    }

    /// From now on the API's requests are traced with `traced`.
    pub(crate) fn trace(&self, traced: Traced) {
        with(|on| on.traced = Some(traced));
    }

    /// The last API request's span, when the call ends with `error`.
    pub(crate) fn failed(&self, error: &str) {
        with(|on| on.sending.as_mut().map(|span| span.failed(error)));
    }

    /// Whether a redirect was refused as its connection was made.
    pub(crate) fn refused(&self) -> bool {
        with(|on| on.refused)
    }
}

impl Drop for Working {
    fn drop(&mut self) {
        // Its last span ended here, outside the borrow.
        drop(ON_THREAD.take());
    }
}

/// `read` of this thread's context (the default outside a call). Never
/// called from inside another `with`: a line logged there is written
/// after it returns.
pub(crate) fn with<R>(read: impl FnOnce(&mut OnThread) -> R) -> R {
    ON_THREAD.with_borrow_mut(read)
}

/// The number of the call this thread works for, 0 outside one (or
/// while its context is being read: a line logged then names no call).
pub(crate) fn call() -> u64 {
    ON_THREAD.with(|on| on.try_borrow().map_or(0, |on| on.call))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_s_context_holds_until_its_guard_is_dropped() {
        assert_eq!(call(), 0);
        let working = Working::start(7);
        assert_eq!(call(), 7);
        with(|on| on.refused = true);
        assert!(working.refused());
        drop(working);
        assert_eq!(call(), 0);
        assert!(!with(|on| on.refused), "nothing left for the next call");
    }
}
