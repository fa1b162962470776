//! Time as data: RFC 3339 parsing and formatting, and calendar years in the program's time
//! zone. The core never reads a clock; the ledger's time comes in with each entry.
//!
//! Record times are whole Unix seconds (`i64`). The ledger's own time, recorded in every
//! log entry, is Unix milliseconds. Calendar arithmetic uses the proleptic Gregorian
//! calendar and a fixed UTC offset (the programs we know have no daylight saving).

/// Earliest and latest instants the ledger accepts: 2000-01-01T00:00:00Z and
/// 2200-01-01T00:00:00Z. Anything outside is a typo, and the bound keeps arithmetic small.
pub const UNIX_SECONDS_MIN: i64 = 946_684_800;
pub const UNIX_SECONDS_MAX: i64 = 7_258_118_400;

/// Why a string is not an RFC 3339 timestamp the ledger accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    #[error("{0:?} is not an RFC 3339 date-time with offset (like 2026-03-01T08:00:00+08:00)")]
    Syntax(String),
    #[error("{0:?} is not a real date or time")]
    Range(String),
    #[error("{0:?} has a fraction of a second; usage times are whole seconds")]
    Fraction(String),
    #[error("{0:?} is outside the years 2000–2199")]
    Year(String),
}

/// Days since 1970-01-01 of a proleptic Gregorian date (after H. Hinnant's derivation).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The (year, month, day) of a day count since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 0,
    }
}

fn num(s: &[u8]) -> Option<u32> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(s.iter().fold(0u32, |acc, &b| acc * 10 + u32::from(b - b'0')))
}

/// Parses an RFC 3339 date-time with an explicit offset (`Z` or `±hh:mm`) into Unix
/// seconds. `T`/`t` and `Z`/`z` are accepted as RFC 3339 allows; a fraction of a second is
/// accepted only when it is zero, since the ledger meters whole seconds.
pub fn parse_rfc3339(s: &str) -> Result<i64, TimeError> {
    let syntax = || TimeError::Syntax(s.to_string());
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't') || b[13] != b':' || b[16] != b':' {
        return Err(syntax());
    }
    let year = i64::from(num(&b[0..4]).ok_or_else(syntax)?);
    let month = num(&b[5..7]).ok_or_else(syntax)?;
    let day = num(&b[8..10]).ok_or_else(syntax)?;
    let hour = num(&b[11..13]).ok_or_else(syntax)?;
    let minute = num(&b[14..16]).ok_or_else(syntax)?;
    let second = num(&b[17..19]).ok_or_else(syntax)?;
    let mut rest = &b[19..];
    if let Some(frac) = rest.strip_prefix(b".") {
        let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return Err(syntax());
        }
        if frac[..n].iter().any(|&c| c != b'0') {
            return Err(TimeError::Fraction(s.to_string()));
        }
        rest = &frac[n..];
    }
    let offset_seconds: i64 = match rest {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let oh = num(&[*h1, *h2]).ok_or_else(syntax)?;
            let om = num(&[*m1, *m2]).ok_or_else(syntax)?;
            if oh > 23 || om > 59 {
                return Err(TimeError::Range(s.to_string()));
            }
            let v = i64::from(oh * 3600 + om * 60);
            if *sign == b'-' { -v } else { v }
        }
        _ => return Err(syntax()),
    };
    // RFC 3339 allows a leap second (60); Unix time does not count it, so it is refused.
    if !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return Err(TimeError::Range(s.to_string()));
    }
    let local = days_from_civil(year, month, day) * 86_400 + i64::from(hour * 3600 + minute * 60 + second);
    let unix = local - offset_seconds;
    if !(UNIX_SECONDS_MIN..UNIX_SECONDS_MAX).contains(&unix) {
        return Err(TimeError::Year(s.to_string()));
    }
    Ok(unix)
}

/// Formats Unix seconds as RFC 3339 at a fixed offset, e.g. `2026-01-31T00:00:00+08:00`.
pub fn format_rfc3339(unix: i64, offset_seconds: i32) -> String {
    let local = unix + i64::from(offset_seconds);
    let days = local.div_euclid(86_400);
    let secs = local.rem_euclid(86_400);
    let (y, mo, d) = civil_from_days(days);
    let off = if offset_seconds == 0 {
        "Z".to_string()
    } else {
        let sign = if offset_seconds < 0 { '-' } else { '+' };
        let a = offset_seconds.unsigned_abs();
        format!("{sign}{:02}:{:02}", a / 3600, (a % 3600) / 60)
    };
    format!("{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}{off}", secs / 3600, (secs % 3600) / 60, secs % 60)
}

/// The calendar year of an instant at a fixed UTC offset.
pub fn year_at(unix: i64, offset_seconds: i32) -> i32 {
    let days = (unix + i64::from(offset_seconds)).div_euclid(86_400);
    civil_from_days(days).0 as i32
}

/// Unix seconds of `year`-01-01T00:00:00 at a fixed UTC offset.
pub fn year_start(year: i32, offset_seconds: i32) -> i64 {
    days_from_civil(i64::from(year), 1, 1) * 86_400 - i64::from(offset_seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CST: i32 = 8 * 3600;

    #[test]
    fn parses_offsets_to_the_same_instant() {
        let a = parse_rfc3339("2026-01-31T00:00:00+08:00").unwrap();
        let b = parse_rfc3339("2026-01-30T16:00:00Z").unwrap();
        let c = parse_rfc3339("2026-01-30t16:00:00.000z").unwrap();
        assert_eq!(a, b);
        assert_eq!(a, c);
        assert_eq!(a, 1_769_788_800);
        assert_eq!(format_rfc3339(a, CST), "2026-01-31T00:00:00+08:00");
        assert_eq!(format_rfc3339(a, 0), "2026-01-30T16:00:00Z");
        assert_eq!(format_rfc3339(a, -5 * 3600 - 1800), "2026-01-30T10:30:00-05:30");
    }

    #[test]
    fn refuses_bad_times() {
        for bad in [
            "2026-01-31",
            "2026-01-31T00:00:00",
            "2026-01-31 00:00:00+08:00",
            "2026-1-31T00:00:00Z",
            "2026-01-31T00:00:00+0800",
            "2026-01-31T00:00:00+08:00 ",
            "2026-01-31T00:00:00.Z",
        ] {
            assert!(matches!(parse_rfc3339(bad), Err(TimeError::Syntax(_))), "{bad}");
        }
        for bad in ["2026-02-29T00:00:00Z", "2026-13-01T00:00:00Z", "2026-01-01T24:00:00Z", "2026-12-31T23:59:60Z"] {
            assert!(matches!(parse_rfc3339(bad), Err(TimeError::Range(_))), "{bad}");
        }
        assert!(matches!(parse_rfc3339("2026-01-01T00:00:00.5Z"), Err(TimeError::Fraction(_))));
        assert!(matches!(parse_rfc3339("1999-12-31T23:59:59Z"), Err(TimeError::Year(_))));
        assert!(parse_rfc3339("2028-02-29T00:00:00Z").is_ok());
    }

    #[test]
    fn years_in_shanghai() {
        let new_year = parse_rfc3339("2027-01-01T00:00:00+08:00").unwrap();
        assert_eq!(year_at(new_year, CST), 2027);
        assert_eq!(year_at(new_year - 1, CST), 2026);
        assert_eq!(year_at(new_year - 1, 0), 2026);
        // 2026-12-31T20:00:00Z is already 2027 in Shanghai.
        assert_eq!(year_at(parse_rfc3339("2026-12-31T20:00:00Z").unwrap(), CST), 2027);
        assert_eq!(year_start(2027, CST), new_year);
    }

    #[test]
    fn civil_round_trip() {
        for days in (-1000..200_000).step_by(7) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}
