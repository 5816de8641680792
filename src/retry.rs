//! [`RetryPolicy`] and the pure parts of the retry engine: which answers are
//! retried, how long to wait, and `Retry-After`.
//!
//! Retries apply to Gateway calls only, never to the upstream requests of
//! `authenticated_fetch`.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::date::parse_http_date;

/// The longest wait a `Retry-After` header can ask for.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// How Gateway calls are retried (Python `RetryPolicy`).
///
/// Retried: 502 (except a Broker refusal: a 502 whose JSON `status` is a
/// 4xx, which cannot succeed later), 503 and 504; a connection that could
/// not be opened. A call makes `retries + 1` attempts. Before retry `i`
/// (from 0) it waits `min(min_delay * 2^min(i, 10), max_delay)` times a
/// random factor in `[0.2, 0.8)`, or what the answer's `Retry-After` asks
/// for (whole seconds `N` wait `N + 1`: the Gateway rounds down), capped at
/// 60 s.
///
/// With `retry_on_429`, a Gateway 429 is waited out instead of counted
/// against `retries`, for as long as the wait and the attempt after it fit
/// within the client's `timeout` measured from the call's start: at least
/// `Retry-After` and a second more, and at least 1, 2, 4, then 8 s as the
/// refusals repeat, plus a random spread of 16, 8, 4, then 2 s (a fleet
/// refused together comes back spread out; a client refused again is
/// nearer its turn). Each attempt after a wait gets only the time left. A
/// wait that cannot fit is not begun: the call returns the 429 at once,
/// with [`retry_after`](crate::NexusError::retry_after) set and the wait
/// and the time left in its message.
///
/// ```
/// use std::time::Duration;
/// use nexus_sdk::RetryPolicy;
///
/// let policy = RetryPolicy::default().retries(3).retry_on_429(true);
/// assert_eq!(policy.min_delay, Duration::from_millis(200));
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt; 0 (the default) means one attempt.
    pub retries: u32,
    /// The first backoff step; 0 means 200 ms.
    pub min_delay: Duration,
    /// The largest backoff step; 0 means 2 s, and it is never below `min_delay`.
    pub max_delay: Duration,
    /// Whether a Gateway 429 is waited out within the call's `timeout`.
    pub retry_on_429: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            retries: 0,
            min_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(2),
            retry_on_429: false,
        }
    }
}

impl RetryPolicy {
    /// Retries after the first attempt.
    #[must_use]
    pub fn retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// The first backoff step (0 means 200 ms).
    #[must_use]
    pub fn min_delay(mut self, delay: Duration) -> Self {
        self.min_delay = delay;
        self
    }

    /// The largest backoff step (0 means 2 s).
    #[must_use]
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// Whether a Gateway 429 is waited out within the call's `timeout`.
    #[must_use]
    pub fn retry_on_429(mut self, yes: bool) -> Self {
        self.retry_on_429 = yes;
        self
    }

    /// The policy with zero delays replaced by the defaults and `max_delay`
    /// raised to `min_delay` when below it.
    pub(crate) fn normalized(&self) -> RetryPolicy {
        let or = |d: Duration, default: Duration| if d.is_zero() { default } else { d };
        let min_delay = or(self.min_delay, Duration::from_millis(200));
        let max_delay = or(self.max_delay, Duration::from_secs(2)).max(min_delay);
        RetryPolicy {
            min_delay,
            max_delay,
            ..self.clone()
        }
    }

    /// The backoff before retry `retry` (0-based) for a random `factor` in `[0.2, 0.8)`.
    pub(crate) fn backoff(&self, retry: u32, factor: f64) -> Duration {
        let step = self.min_delay.saturating_mul(1 << retry.min(10));
        step.min(self.max_delay).mul_f64(factor)
    }
}

/// Whether an answer with this status and body may be retried (counted
/// against `RetryPolicy::retries`): 502, 503 and 504; never a 502 that
/// carries a Broker refusal (see [`broker_refused`]). A 429 is not: see
/// [`wait_at_limit`].
pub(crate) fn is_retryable(status: u16, body: &[u8]) -> bool {
    match status {
        502 => !broker_refused(body),
        503 | 504 => true,
        _ => false,
    }
}

/// Whether a 502 body is the Gateway passing on a Broker refusal: a JSON
/// object whose top-level `status` (the Broker's own answer) is a 4xx, as in
/// `{"error":"broker_error","message":"broker returned status 400","status":400}`.
/// The same request cannot succeed later, so it is not retried.
pub(crate) fn broker_refused(body: &[u8]) -> bool {
    let value: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let status = value.and_then(|v| v.get("status")?.as_u64());
    status.is_some_and(|status| (400..500).contains(&status))
}

/// The least time left after a wait at the rate limit for the attempt
/// that follows it: a wait that leaves less is not begun.
pub(crate) const ATTEMPT_RESERVE: Duration = Duration::from_secs(1);

/// A random number in `[0, 1)`.
pub(crate) fn unit() -> f64 {
    // Each RandomState is freshly keyed, which is all the randomness jitter needs.
    let bits = RandomState::new().hash_one(Instant::now());
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

/// A random factor in `[0.2, 0.8)` for the backoff jitter.
pub(crate) fn jitter() -> f64 {
    0.2 + 0.6 * unit()
}

/// The least wait before the attempt after the `refusals`-th 429 in a row
/// (from 0): what the one reader made of its `Retry-After` (`asked`), capped
/// at [`MAX_RETRY_AFTER`], and at least 1, 2, 4, then 8 s.
pub(crate) fn least_wait_at_limit(refusals: u32, asked: Option<Duration>) -> Duration {
    let step = Duration::from_secs(1 << refusals.min(3));
    asked.unwrap_or_default().min(MAX_RETRY_AFTER).max(step)
}

/// The wait before the attempt after the `refusals`-th 429 in a row, with
/// `left` of the call's time: [`least_wait_at_limit`] plus a spread of 16,
/// 8, 4, then 2 s times `factor` (in `[0, 1)`), the spread cut so that
/// [`ATTEMPT_RESERVE`] is left for the attempt; `None` when even the least
/// wait leaves less.
pub(crate) fn wait_at_limit(
    refusals: u32,
    asked: Option<Duration>,
    left: Duration,
    factor: f64,
) -> Option<Duration> {
    let least = least_wait_at_limit(refusals, asked);
    let room = left.checked_sub(least)?.checked_sub(ATTEMPT_RESERVE)?;
    let factor = if (0.0..1.0).contains(&factor) {
        factor
    } else {
        0.0
    };
    let spread = Duration::from_secs(16 >> refusals.min(3)).mul_f64(factor);
    Some(least + spread.min(room))
}

/// The one reader of `Retry-After`: the wait it asks for. Whole seconds `N`
/// wait `N + 1` s, because the Gateway's rate limiter rounds the time left
/// in its window down (a retry after exactly `N` s lands in the same
/// window); an HTTP date waits until that instant (a date in the past asks
/// for none). Any value is safe: a number too large for `u64` is simply
/// very long. `None` when the value is neither form. Callers cap what
/// they wait at [`MAX_RETRY_AFTER`].
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        let floor: u64 = value.parse().unwrap_or(u64::MAX);
        return Some(Duration::from_secs(floor.saturating_add(1)));
    }
    let at = parse_http_date(value)?;
    let now = now.duration_since(UNIX_EPOCH).ok()?.as_secs() as i64;
    Some(Duration::from_secs(at.saturating_sub(now).max(0) as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn normalisation_follows_go() {
        let zero = RetryPolicy {
            retries: 2,
            min_delay: Duration::ZERO,
            max_delay: Duration::ZERO,
            retry_on_429: false,
        };
        assert_eq!(zero.normalized().min_delay, ms(200));
        assert_eq!(zero.normalized().max_delay, ms(2000));
        let inverted = RetryPolicy {
            min_delay: ms(500),
            max_delay: ms(100),
            ..zero
        };
        assert_eq!(inverted.normalized().max_delay, ms(500));
    }

    #[test]
    fn backoff_doubles_then_caps() {
        let p = RetryPolicy {
            min_delay: ms(100),
            max_delay: ms(1000),
            ..RetryPolicy::default()
        };
        assert_eq!(p.backoff(0, 0.5), ms(50));
        assert_eq!(p.backoff(1, 0.5), ms(100));
        assert_eq!(p.backoff(3, 0.5), ms(400));
        assert_eq!(p.backoff(4, 0.5), ms(500));
        assert_eq!(p.backoff(u32::MAX, 0.5), ms(500));
        let huge = RetryPolicy {
            min_delay: Duration::MAX,
            max_delay: Duration::MAX,
            ..p
        };
        assert!(huge.backoff(10, 0.2) > Duration::from_secs(1 << 40));
    }

    #[test]
    fn jitter_stays_in_range() {
        for _ in 0..10_000 {
            let j = jitter();
            assert!((0.2..0.8).contains(&j), "{j}");
        }
    }

    #[test]
    fn retryable_statuses() {
        assert!([502, 503, 504].iter().all(|&s| is_retryable(s, b"")));
        assert!(
            ![400, 401, 404, 429, 500, 501, 505]
                .iter()
                .any(|&s| is_retryable(s, b""))
        );
        assert!(!is_retryable(429, b""), "a 429 is waited out, not counted");
    }

    #[test]
    fn a_wait_at_the_limit_backs_off_spreads_and_fits() {
        let s = Duration::from_secs;
        let long = s(3600);
        // At least Retry-After (already + 1 s), and 1, 2, 4, then 8 s.
        assert_eq!(least_wait_at_limit(0, Some(s(4))), s(4));
        assert_eq!(least_wait_at_limit(0, None), s(1));
        assert_eq!(least_wait_at_limit(2, Some(s(1))), s(4));
        assert_eq!(least_wait_at_limit(u32::MAX, None), s(8));
        assert_eq!(least_wait_at_limit(0, Some(Duration::MAX)), MAX_RETRY_AFTER);
        // The spread: 16, 8, 4, then 2 s.
        assert_eq!(wait_at_limit(0, Some(s(2)), long, 0.5), Some(s(10)));
        assert_eq!(wait_at_limit(1, Some(s(1)), long, 0.5), Some(s(6)));
        assert_eq!(wait_at_limit(3, None, long, 0.5), Some(s(9)));
        assert_eq!(
            wait_at_limit(9, None, long, 0.999),
            Some(s(8) + s(2).mul_f64(0.999))
        );
        // The spread is cut to leave a second for the try; a least wait
        // that leaves less is not begun.
        assert_eq!(wait_at_limit(0, Some(s(2)), s(5), 0.9), Some(s(4)));
        assert_eq!(wait_at_limit(0, Some(s(2)), s(3), 0.9), Some(s(2)));
        assert_eq!(wait_at_limit(0, Some(s(2)), s(3) - ms(1), 0.0), None);
        assert_eq!(
            wait_at_limit(0, Some(Duration::MAX), long, f64::NAN),
            Some(MAX_RETRY_AFTER)
        );
    }

    #[test]
    fn a_broker_refusal_is_not_retried() {
        for refusal in [
            r#"{"error":"broker_error","message":"broker returned status 400","status":400}"#,
            r#"{"error":"broker_error","status":404}"#,
            r#"{"status":499,"error":"x"}"#,
        ] {
            assert!(!is_retryable(502, refusal.as_bytes()), "{refusal}");
        }
        for retryable in [
            r#"{"error":"broker_error","message":"broker returned status 500","status":500}"#,
            r#"{"error":"broker_unavailable","message":"broker down"}"#,
            r#"{"error":"broker_error","status":"400"}"#,
            r#"{"status":399}"#,
            "bad gateway",
            "",
        ] {
            assert!(is_retryable(502, retryable.as_bytes()), "{retryable}");
        }
        // Only a 502 carries the Broker's refusal.
        assert!(is_retryable(503, br#"{"status":400}"#));
    }

    #[test]
    fn retry_after_values() {
        let now = UNIX_EPOCH + Duration::from_secs(784_111_777);
        // Whole seconds are a floor: N waits N + 1.
        assert_eq!(parse_retry_after("3", now), Some(Duration::from_secs(4)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::from_secs(1)));
        assert_eq!(parse_retry_after("59", now), Some(MAX_RETRY_AFTER));
        assert_eq!(
            parse_retry_after("3600", now),
            Some(Duration::from_secs(3601))
        );
        assert_eq!(
            parse_retry_after("99999999999999999999999", now),
            Some(Duration::from_secs(u64::MAX))
        );
        assert_eq!(
            parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now),
            Some(Duration::from_secs(253_402_300_799 - 784_111_777))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:42 GMT", now),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:40:00 GMT", now),
            Some(Duration::ZERO)
        );
        for bad in ["", "-1", "1.5", "soon", "3 s"] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad:?}");
        }
    }
}
