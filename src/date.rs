//! Dates: RFC 3339 / ISO 8601 date-times (token expiries) read and written
//! without a date crate, and HTTP dates (`Retry-After`) read by `httpdate`.
//! Pure functions over `&str`, answering seconds since the Unix epoch.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Days from 1970-01-01 to the given proleptic Gregorian date
/// (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The calendar date of a day count from 1970-01-01 (Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Whole seconds since the Unix epoch, negative before it (saturating).
pub(crate) fn epoch_seconds(t: SystemTime) -> i64 {
    let whole = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
    match t.duration_since(UNIX_EPOCH) {
        Ok(after) => whole(after),
        Err(before) => -whole(before.duration()),
    }
}

/// Epoch seconds as an RFC 3339 UTC date-time: `2031-06-01T12:00:00Z`.
pub(crate) fn format_rfc3339(epoch_seconds: i64) -> String {
    let days = epoch_seconds.div_euclid(86_400);
    let secs = epoch_seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let (h, m, s) = (secs / 3_600, secs % 3_600 / 60, secs % 60);
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}Z")
}

/// Epoch seconds as AWS's basic ISO 8601 form: `20150830T123600Z`
/// (RFC 3339's, without its separators).
#[cfg(feature = "signing")]
pub(crate) fn format_amz_date(epoch_seconds: i64) -> String {
    format_rfc3339(epoch_seconds).replace(['-', ':'], "")
}

/// Seconds since the epoch for a validated calendar date and time of day.
fn civil_to_epoch(year: i64, month: u32, day: u32, h: u32, m: u32, s: u32) -> Option<i64> {
    // A date is valid when its day count names it again (no 31 April, no
    // 29 February 2100); a leap second reads as the next second.
    let days = days_from_civil(year, month, day);
    let valid = civil_from_days(days) == (year, month, day) && h < 24 && m < 60 && s <= 60;
    let seconds = || i64::from(h * 3_600 + m * 60 + s); // in range: checked first
    valid.then(|| days * 86_400 + seconds())
}

/// A fixed-width run of ASCII digits.
fn digits(s: &str) -> Option<u32> {
    s.bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| s.parse().ok())?
}

/// Parses an RFC 3339 / ISO 8601 date-time into epoch seconds.
///
/// Accepts `YYYY-MM-DDTHH:MM:SS` with an optional fraction, then `Z`,
/// `±hh:mm`, `±hhmm` or nothing (UTC); `t` or a space may stand for `T`. A
/// bare `YYYY-MM-DD` is midnight UTC.
pub(crate) fn parse_rfc3339(s: &str) -> Option<f64> {
    let s = s.trim();
    let (date, time) = match s.find(['T', 't', ' ']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let mut parts = date.splitn(3, '-');
    let (y, mo, d) = (parts.next()?, parts.next()?, parts.next()?);
    if y.len() != 4 || mo.len() != 2 || d.len() != 2 {
        return None;
    }
    let (year, month, day) = (i64::from(digits(y)?), digits(mo)?, digits(d)?);
    let Some(time) = time else {
        return civil_to_epoch(year, month, day, 0, 0, 0).map(|t| t as f64);
    };

    // HH:MM:SS, then the rest: fraction and offset.
    if time.len() < 8 || !time.is_char_boundary(8) {
        return None;
    }
    let (hms, rest) = time.split_at(8);
    let b = hms.as_bytes();
    if b[2] != b':' || b[5] != b':' {
        return None;
    }
    let (h, m, sec) = (digits(&hms[..2])?, digits(&hms[3..5])?, digits(&hms[6..])?);
    let base = civil_to_epoch(year, month, day, h, m, sec)?;

    let (fraction, offset) = match rest.strip_prefix(['.', ',']) {
        Some(after) => {
            let end = after.find(|c: char| !c.is_ascii_digit());
            let end = end.unwrap_or(after.len());
            if end == 0 {
                return None;
            }
            // At most 9 digits matter; more are accepted and ignored.
            let kept = &after[..end.min(9)];
            let fraction = f64::from(digits(kept)?) / 10f64.powi(kept.len() as i32);
            (fraction, &after[end..])
        }
        None => (0.0, rest),
    };
    let offset_seconds = match offset {
        "" | "Z" | "z" => 0,
        _ => {
            let sign = match offset.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let hhmm = offset[1..].replace(':', "");
            // Bytes, then slices: anything but four ASCII digits is refused first.
            if hhmm.len() != 4 || !hhmm.is_ascii() {
                return None;
            }
            let (oh, om) = (digits(&hhmm[..2])?, digits(&hhmm[2..])?);
            if oh > 23 || om > 59 {
                return None;
            }
            sign * i64::from(oh * 3_600 + om * 60)
        }
    };
    Some((base - offset_seconds) as f64 + fraction)
}

/// Parses an HTTP date (RFC 9110 §5.6.7) into epoch seconds, as `httpdate`
/// reads it: the preferred IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`)
/// and the two obsolete forms (`Sunday, 06-Nov-94 08:49:37 GMT`, `Sun Nov
/// 6 08:49:37 1994`).
pub(crate) fn parse_http_date(s: &str) -> Option<i64> {
    httpdate::parse_http_date(s.trim()).ok().map(epoch_seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Epoch seconds as an HTTP date (IMF-fixdate): `Sun, 06 Nov 1994 08:49:37 GMT`.
    fn format_http_date(epoch_seconds: i64) -> String {
        // Indexed by days since 1970-01-01, a Thursday, modulo 7.
        const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        let weekday = epoch_seconds.div_euclid(86_400).rem_euclid(7) as usize;
        let f = format_rfc3339(epoch_seconds); // YYYY-MM-DDTHH:MM:SSZ
        let (year, day, time) = (&f[..4], &f[8..10], &f[11..19]);
        let month = MONTHS[f[5..7].parse::<usize>().unwrap() - 1];
        format!("{}, {day} {month} {year} {time} GMT", WEEKDAYS[weekday])
    }

    #[test]
    fn epoch_seconds_either_side_of_the_epoch() {
        assert_eq!(epoch_seconds(UNIX_EPOCH), 0);
        assert_eq!(epoch_seconds(UNIX_EPOCH + Duration::from_millis(1_999)), 1);
        assert_eq!(
            epoch_seconds(UNIX_EPOCH - Duration::from_secs(86_400)),
            -86_400
        );
        let formatted = format_rfc3339(epoch_seconds(
            UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        ));
        assert_eq!(parse_rfc3339(&formatted), Some(1_700_000_000.0));
    }

    #[test]
    fn non_ascii_offsets_are_refused_not_sliced() {
        // 0.1 checked the offset's byte length, then sliced inside `é`: a panic.
        for s in [
            "2026-01-01T00:00:00+é:00",
            "2026-01-01T00:00:00-0é0",
            "2026-01-01T00:00:00+ü1",
        ] {
            assert_eq!(parse_rfc3339(s), None, "{s}");
        }
    }

    #[test]
    fn rfc3339_forms() {
        let t = 1_938_081_600.0; // 2031-06-01T12:00:00Z
        assert_eq!(parse_rfc3339("2031-06-01T12:00:00Z"), Some(t));
        assert_eq!(parse_rfc3339("2031-06-01T12:00:00"), Some(t));
        assert_eq!(parse_rfc3339("2031-06-01 12:00:00z"), Some(t));
        assert_eq!(parse_rfc3339("2031-06-01T14:00:00+02:00"), Some(t));
        assert_eq!(parse_rfc3339("2031-06-01T09:30:00-0230"), Some(t));
        assert_eq!(parse_rfc3339("2031-06-01T12:00:00.250Z"), Some(t + 0.25));
        assert_eq!(
            parse_rfc3339("2031-06-01T12:00:00.123456789123Z"),
            Some(t + 0.123456789)
        );
        assert_eq!(parse_rfc3339("2031-06-01"), Some(t - 12.0 * 3600.0));
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0.0));
        assert_eq!(parse_rfc3339("1969-12-31T23:59:59Z"), Some(-1.0));
        assert_eq!(parse_rfc3339("2024-02-29"), Some(1_709_164_800.0));
    }

    #[test]
    fn rfc3339_rejects() {
        for bad in [
            "",
            "soon",
            "2031-6-01",
            "2031-02-30",
            "2023-02-29",
            "2031-06-01T25:00:00Z",
            "2031-06-01T12:00Z",
            "2031-06-01T12:00:00.Z",
            "2031-06-01T12:00:00+2",
            "2031-06-01T12:00:00+24:00",
            "2031-06-01T12:00:00 GMT",
            "2031-06-01T12:0é:00Z",
            "+031-06-01",
            "2031-06-01Tx",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn formatting_round_trips() {
        assert_eq!(format_rfc3339(1_938_081_600), "2031-06-01T12:00:00Z");
        assert_eq!(format_rfc3339(-1), "1969-12-31T23:59:59Z");
        for t in [0, 951_782_400, 1_709_164_800, 4_102_444_799, -86_400 * 400] {
            assert_eq!(parse_rfc3339(&format_rfc3339(t)), Some(t as f64), "{t}");
        }
    }

    #[test]
    fn http_date_formatting_round_trips() {
        assert_eq!(
            format_http_date(784_111_777),
            "Sun, 06 Nov 1994 08:49:37 GMT"
        );
        for t in [0, 951_782_400, 1_709_164_800, 4_102_444_799] {
            assert_eq!(parse_http_date(&format_http_date(t)), Some(t), "{t}");
        }
    }

    #[test]
    fn http_dates() {
        let t = 784_111_777; // RFC 9110's example instant
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), Some(t));
        assert_eq!(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), Some(t));
        assert_eq!(parse_http_date("Sun Nov  6 08:49:37 1994"), Some(t));
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 UTC"), None);
        assert_eq!(parse_http_date("Sun, 31 Feb 1994 08:49:37 GMT"), None);
        assert_eq!(parse_http_date("120"), None);
        assert_eq!(parse_http_date(""), None);
    }
}
