//! The dates the fake writes and checks, as the Gateway and its Broker do:
//! RFC 3339 for token expiries, HTTP dates for `Retry-After`.

use std::time::SystemTime;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// `at` as an RFC 3339 UTC date-time to the second: `2031-06-01T12:00:00Z`.
pub(crate) fn rfc3339(at: SystemTime) -> String {
    let at = OffsetDateTime::from(at);
    let at = at.replace_nanosecond(0).unwrap_or(at);
    at.format(&Rfc3339).unwrap_or_default()
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
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn dates_are_written_as_the_gateway_writes_them() {
        let at = UNIX_EPOCH + Duration::from_millis(784_111_777_250);
        assert_eq!(rfc3339(at), "1994-11-06T08:49:37Z");
        assert_eq!(http_date(at), "Sun, 06 Nov 1994 08:49:37 GMT");
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
