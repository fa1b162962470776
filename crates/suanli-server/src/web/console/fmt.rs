//! How the console writes money and times: each in this one place (the browser's scripts
//! have the same two rules in `static/fmt.js`, for what they derive from signed bytes).
//!
//! Money is `¥1,234,567.89`: from a `Decimal` (never a float), rounded to the fen by the
//! ledger's one rule ([`money::round_fen`]) and grouped by thousands; `-¥12.00` when
//! negative. Times are shown in the program's time zone (Asia/Shanghai, +08:00, for the
//! preset) as `2026-06-30 12:00`, the way people there read them, whatever the
//! reader's own zone.

use rust_decimal::Decimal;
use suanli_core::money;
use suanli_core::time::format_rfc3339;

/// `¥1,234,567.89`.
pub fn money(d: Decimal) -> String {
    let s = money::fmt_money(money::round_fen(d));
    let (sign, digits) = match s.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", s.as_str()),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, "00"));
    let mut grouped = String::with_capacity(int.len() + int.len() / 3);
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{sign}¥{grouped}.{frac}")
}

/// A decimal money string as the ledger writes it (`"1234.50"`) in the console's form;
/// the string itself when it is not one.
pub fn money_str(s: &str) -> String {
    if s.is_empty() {
        return money(Decimal::ZERO);
    }
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s),
    };
    match money::parse_decimal(body, 2) {
        Ok(d) => money(if neg { -d } else { d }),
        Err(_) => s.to_string(),
    }
}

/// A decimal money string as a `Decimal` (0 when it is not one).
pub fn decimal(s: &str) -> Decimal {
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s),
    };
    money::parse_decimal(body, 6).map(|d| if neg { -d } else { d }).unwrap_or_default()
}

/// Unix seconds as `2026-06-30 12:00` in the zone `offset_seconds` east of UTC.
pub fn time(unix: i64, offset_seconds: i32) -> String {
    let s = format_rfc3339(unix, offset_seconds);
    format!("{} {}", &s[..10], &s[11..16])
}

/// Unix seconds as `2026-06-30` in the zone.
pub fn date(unix: i64, offset_seconds: i32) -> String {
    format_rfc3339(unix, offset_seconds)[..10].to_string()
}

/// An RFC 3339 time as the ledger writes it in a statement (`2026-06-30T12:00:00+08:00`),
/// as `2026-06-30 12:00`.
pub fn rfc3339_short(s: &str) -> String {
    if s.len() >= 16 && s.as_bytes()[10] == b'T' { format!("{} {}", &s[..10], &s[11..16]) } else { s.to_string() }
}

/// The time zone's name for people: `UTC+08:00`.
pub fn zone(offset_seconds: i32) -> String {
    let sign = if offset_seconds < 0 { '-' } else { '+' };
    let a = offset_seconds.unsigned_abs();
    format!("UTC{sign}{:02}:{:02}", a / 3600, (a % 3600) / 60)
}

/// A share as `12.3%` (one decimal, rounded half away from zero), from exact decimals.
pub fn percent(part: Decimal, whole: Decimal) -> String {
    if whole <= Decimal::ZERO {
        return "—".into();
    }
    let p = (part * Decimal::from(100) / whole)
        .round_dp_with_strategy(1, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
    format!("{p:.1}%")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn money_is_grouped_and_exact() {
        assert_eq!(money(d("1234567.89")), "¥1,234,567.89");
        assert_eq!(money(d("0")), "¥0.00");
        assert_eq!(money(d("999.5")), "¥999.50");
        assert_eq!(money(d("100000000.00")), "¥100,000,000.00");
        assert_eq!(money(d("-196250")), "-¥196,250.00");
        assert_eq!(money(d("0.005")), "¥0.01");
        assert_eq!(money_str("2000000.00"), "¥2,000,000.00");
        assert_eq!(money_str("-12.5"), "-¥12.50");
        assert_eq!(money_str(""), "¥0.00");
    }

    #[test]
    fn times_are_in_the_program_zone() {
        // 2026-01-30T16:00:00Z is midnight on the 31st in Shanghai.
        assert_eq!(time(1_769_788_800, 8 * 3600), "2026-01-31 00:00");
        assert_eq!(date(1_769_788_800, 8 * 3600), "2026-01-31");
        assert_eq!(time(1_769_788_800, 0), "2026-01-30 16:00");
        assert_eq!(rfc3339_short("2026-06-30T12:00:00+08:00"), "2026-06-30 12:00");
        assert_eq!(zone(8 * 3600), "UTC+08:00");
        assert_eq!(percent(d("1953750"), d("2000000")), "97.7%");
        assert_eq!(percent(d("1"), d("0")), "—");
    }
}
