//! Signed timestamps: reading them and checking the tolerance window.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::{ErrorKind, VerifyError};
use crate::scheme::TimeFormat;

/// Reads a timestamp as sent. `None` when it is not a timestamp of that format.
pub(crate) fn parse(raw: &[u8], format: TimeFormat) -> Option<SystemTime> {
    match format {
        TimeFormat::UnixSeconds => digits(raw).map(|s| UNIX_EPOCH + Duration::from_secs(s)),
        TimeFormat::UnixMillis => digits(raw).map(|ms| UNIX_EPOCH + Duration::from_millis(ms)),
        TimeFormat::Rfc3339 => {
            let text = std::str::from_utf8(raw).ok()?;
            // RFC 3339 in UTC ("Z"), fraction of up to 9 digits, as Twitch sends it; or
            // with a numeric offset (`-08:00`), as Box sends it.
            if text.ends_with(['Z', 'z']) {
                return humantime::parse_rfc3339_weak(text).ok();
            }
            let (local, offset) = text.split_at_checked(text.len().checked_sub(6)?)?;
            let (sign, hh, mm) = match offset.as_bytes() {
                [s @ (b'+' | b'-'), h1, h2, b':', m1, m2] if [h1, h2, m1, m2].iter().all(|d| d.is_ascii_digit()) => {
                    (*s, u64::from((h1 - b'0') * 10 + (h2 - b'0')), u64::from((m1 - b'0') * 10 + (m2 - b'0')))
                }
                _ => return None,
            };
            if hh > 23 || mm > 59 || local.ends_with(['Z', 'z']) {
                return None;
            }
            let at = humantime::parse_rfc3339_weak(&format!("{local}Z")).ok()?;
            let shift = Duration::from_secs(hh * 3600 + mm * 60);
            // Local time minus the offset is UTC: `-08:00` is eight hours behind.
            if sign == b'+' {
                at.checked_sub(shift)
            } else {
                at.checked_add(shift)
            }
        }
    }
}

/// Plain ASCII digits only (no sign, no spaces), at most 16 of them: enough for
/// milliseconds until the year 300 000, few enough never to overflow.
fn digits(raw: &[u8]) -> Option<u64> {
    if raw.is_empty() || raw.len() > 16 || !raw.iter().all(u8::is_ascii_digit) {
        return None;
    }
    raw.iter().try_fold(0u64, |acc, d| acc.checked_mul(10)?.checked_add(u64::from(d - b'0')))
}

/// Writes a timestamp the way a scheme sends it; `None` for an instant the format cannot
/// express (RFC 3339 stops at the end of year 9999).
pub(crate) fn format(t: SystemTime, format: TimeFormat) -> Option<String> {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    Some(match format {
        TimeFormat::UnixSeconds => since.as_secs().to_string(),
        TimeFormat::UnixMillis => since.as_millis().to_string(),
        TimeFormat::Rfc3339 => {
            // Not `to_string()`: humantime's Display fails past 9999, and `to_string` panics.
            use std::fmt::Write as _;
            let mut text = String::new();
            write!(text, "{}", humantime::format_rfc3339_nanos(t)).ok()?;
            text
        }
    })
}

/// `t` as an HTTP date (RFC 9110's IMF-fixdate, `Tue, 14 Apr 2026 03:50:12 GMT`); `None`
/// past the end of year 9999.
pub(crate) fn http_date(t: SystemTime) -> Option<String> {
    use std::fmt::Write as _;
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let mut iso = String::new();
    write!(iso, "{}", humantime::format_rfc3339_seconds(t)).ok()?;
    // `YYYY-MM-DDThh:mm:ssZ`
    let (year, month, day, clock) = (iso.get(0..4)?, iso.get(5..7)?, iso.get(8..10)?, iso.get(11..19)?);
    let month: usize = month.parse().ok()?;
    let days = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() / 86_400;
    let weekday = DAYS[usize::try_from(days % 7).ok()?];
    Some(format!("{weekday}, {day} {} {year} {clock} GMT", MONTHS.get(month.checked_sub(1)?)?))
}

/// Refuses a timestamp further than `tolerance` from `now`, either way.
pub(crate) fn check(signed: SystemTime, now: SystemTime, tolerance: Duration) -> Result<(), VerifyError> {
    match now.duration_since(signed) {
        Ok(age) if age > tolerance => Err(VerifyError::new(
            ErrorKind::TimestampTooOld,
            format!("timestamp {} s old, outside tolerance of {} s", age.as_secs(), tolerance.as_secs()),
        )),
        Ok(_) => Ok(()),
        Err(ahead) if ahead.duration() > tolerance => Err(VerifyError::new(
            ErrorKind::TimestampInFuture,
            format!(
                "timestamp {} s in the future, outside tolerance of {} s",
                ahead.duration().as_secs(),
                tolerance.as_secs()
            ),
        )),
        Err(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(s)
    }

    #[test]
    fn http_dates() {
        assert_eq!(http_date(at(0)).as_deref(), Some("Thu, 01 Jan 1970 00:00:00 GMT"));
        assert_eq!(http_date(at(1_776_138_612)).as_deref(), Some("Tue, 14 Apr 2026 03:50:12 GMT"));
        assert_eq!(http_date(at(951_782_400)).as_deref(), Some("Tue, 29 Feb 2000 00:00:00 GMT"));
        assert_eq!(http_date(at(253_402_300_799)).as_deref(), Some("Fri, 31 Dec 9999 23:59:59 GMT"));
        assert_eq!(http_date(at(253_402_300_800)), None);
    }

    #[test]
    fn rfc3339_with_an_offset() {
        let utc = parse(b"2020-01-01T08:00:00Z", TimeFormat::Rfc3339).unwrap();
        assert_eq!(parse(b"2020-01-01T00:00:00-08:00", TimeFormat::Rfc3339), Some(utc));
        assert_eq!(parse(b"2020-01-01T09:30:00+01:30", TimeFormat::Rfc3339), Some(utc));
        assert_eq!(parse(b"2020-01-01T08:00:00+00:00", TimeFormat::Rfc3339), Some(utc));
        for bad in [
            &b"2020-01-01T08:00:00"[..],
            b"2020-01-01T08:00:00+0800",
            b"2020-01-01T08:00:00+24:00",
            b"+08:00",
            b"Z+08:00",
        ] {
            assert_eq!(parse(bad, TimeFormat::Rfc3339), None, "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn rfc3339_past_year_9999_is_none_not_a_panic() {
        // Found by the sign_roundtrip fuzz target: Twitch signing panicked here.
        let last = at(253_402_300_799);
        assert_eq!(format(last, TimeFormat::Rfc3339).as_deref(), Some("9999-12-31T23:59:59.000000000Z"));
        assert_eq!(format(at(253_402_300_800), TimeFormat::Rfc3339), None);
        assert_eq!(format(at(253_402_300_800), TimeFormat::UnixSeconds).as_deref(), Some("253402300800"));
        let twitch = crate::Verifier::new(crate::providers::TWITCH, "secretabcd").unwrap();
        let err = twitch.sign(&crate::SignRequest::new(b"{}", at(253_402_300_800))).unwrap_err();
        assert!(err.to_string().contains("cannot be written"), "{err}");
    }

    #[test]
    fn unix_seconds_are_strict_digits() {
        assert_eq!(parse(b"1614265330", TimeFormat::UnixSeconds), Some(at(1614265330)));
        for bad in [&b""[..], b"-1", b"+5", b" 5", b"5 ", b"1e9", b"12345678901234567", b"0x10"] {
            assert_eq!(parse(bad, TimeFormat::UnixSeconds), None, "{bad:?}");
        }
    }

    #[test]
    fn millis_and_rfc3339() {
        assert_eq!(parse(b"1700000000123", TimeFormat::UnixMillis), Some(at(1700000000) + Duration::from_millis(123)));
        let t = parse(b"2021-02-19T23:47:00.8091512Z", TimeFormat::Rfc3339).unwrap();
        assert_eq!(t, at(1613778420) + Duration::from_nanos(809_151_200));
        // A numeric offset is read (Box sends one): 23:47 at +01:00 is 22:47 UTC.
        assert_eq!(parse(b"2021-02-19T23:47:00+01:00", TimeFormat::Rfc3339), Some(at(1613774820)));
        assert_eq!(parse(b"yesterday", TimeFormat::Rfc3339), None);
    }

    #[test]
    fn format_round_trips() {
        let t = at(1613778420) + Duration::from_nanos(809_151_200);
        let t_ms = at(1613778420) + Duration::from_millis(809);
        let text = |t, f| format(t, f).unwrap();
        assert_eq!(parse(text(t, TimeFormat::Rfc3339).as_bytes(), TimeFormat::Rfc3339), Some(t));
        assert_eq!(parse(text(t_ms, TimeFormat::UnixMillis).as_bytes(), TimeFormat::UnixMillis), Some(t_ms));
        assert_eq!(text(t, TimeFormat::UnixSeconds), "1613778420");
    }

    #[test]
    fn tolerance_is_inclusive_both_ways() {
        let tol = Duration::from_secs(300);
        assert!(check(at(1000), at(1300), tol).is_ok());
        assert!(check(at(1300), at(1000), tol).is_ok());
        let old = check(at(1000), at(1301), tol).unwrap_err();
        assert_eq!(
            (old.kind(), old.to_string().as_str()),
            (ErrorKind::TimestampTooOld, "timestamp 301 s old, outside tolerance of 300 s")
        );
        let future = check(at(1301), at(1000), tol).unwrap_err();
        assert_eq!(future.kind(), ErrorKind::TimestampInFuture);
        assert_eq!(future.status(), 401);
    }
}
