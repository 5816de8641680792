//! The dates the fake writes and checks, as the Gateway and its Broker do:
//! RFC 3339 for token expiries, HTTP dates for `Retry-After`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// `at` as an RFC 3339 UTC date-time to the second: `2031-06-01T12:00:00Z`.
pub(crate) fn rfc3339(at: SystemTime) -> String {
    let at = OffsetDateTime::from(at);
    let at = at.replace_nanosecond(0).unwrap_or(at);
    at.format(&Rfc3339).unwrap_or_default()
}

/// 9999-12-31T23:59:59Z: the last instant an RFC 3339 date can name.
pub(crate) fn last_date() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(253_402_300_799)
}

/// `at + after`, or the [`last_date`] when that is later.
pub(crate) fn capped(at: SystemTime, after: Duration) -> SystemTime {
    at.checked_add(after)
        .map_or(last_date(), |then| then.min(last_date()))
}

/// What Go's `time.Time` accepts from JSON: an RFC 3339 date-time with `Z`
/// or a numeric offset.
pub(crate) fn is_strict_rfc3339(s: &str) -> bool {
    OffsetDateTime::parse(s, &Rfc3339).is_ok()
}

/// `at` as an HTTP date (IMF-fixdate): `Sun, 06 Nov 1994 08:49:37 GMT`.
pub(crate) fn http_date(at: SystemTime) -> String {
    httpdate::fmt_http_date(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_written_as_the_gateway_writes_them() {
        let at = UNIX_EPOCH + Duration::from_millis(784_111_777_250);
        assert_eq!(rfc3339(at), "1994-11-06T08:49:37Z");
        assert_eq!(http_date(at), "Sun, 06 Nov 1994 08:49:37 GMT");
    }

    #[test]
    fn expiries_stop_at_the_last_date_rfc3339_writes() {
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let hour = Duration::from_secs(3600);
        assert_eq!(capped(now, hour), now + hour);
        assert_eq!(rfc3339(capped(now, Duration::MAX)), "9999-12-31T23:59:59Z");
        assert_eq!(rfc3339(capped(last_date(), hour)), "9999-12-31T23:59:59Z");
    }

    #[test]
    fn only_rfc3339_with_an_offset_is_an_expiry() {
        assert!(is_strict_rfc3339("2031-06-01T12:00:00Z"));
        assert!(is_strict_rfc3339("2031-06-01T12:00:00.5+02:00"));
        for bad in [
            "2031-06-01",
            "2031-06-01T12:00:00",
            "2031-13-01T12:00:00Z",
            "soon",
        ] {
            assert!(!is_strict_rfc3339(bad), "{bad}");
        }
    }
}
