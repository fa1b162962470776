//! Money and other exact decimals (SPEC §4).
//!
//! All money is CNY in yuan as `rust_decimal::Decimal`, never a float. Inputs are parsed
//! strictly: a plain decimal with no exponent, sign or spaces, and no more places than its
//! kind allows, counted as written. Computed amounts are rounded with exactly one rule,
//! [`round_fen`]: half away from zero (四舍五入) to the fen.

use rust_decimal::{Decimal, RoundingStrategy};

/// Decimal places of money amounts (yuan and fen).
pub const MONEY_PLACES: u32 = 2;
/// Decimal places of unit prices (yuan per GPU-hour).
pub const PRICE_PLACES: u32 = 4;
/// Decimal places of metered GPU-hours.
pub const GPU_HOURS_PLACES: u32 = 6;
/// No single amount (or unit price) may exceed this many yuan.
pub const AMOUNT_MAX: Decimal = Decimal::from_parts(1_410_065_408, 2, 0, false, 2); // 100_000_000.00

/// Why a decimal string is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecimalError {
    #[error("is empty")]
    Empty,
    #[error("{0:?} is not a plain decimal (digits, at most one '.', no sign, exponent or spaces)")]
    Syntax(String),
    #[error("{value:?} has {places} decimal places, at most {max} are allowed")]
    Places { value: String, places: u32, max: u32 },
    #[error("{0:?} is too large")]
    TooLarge(String),
}

/// Parses a non-negative plain decimal with at most `max_places` places, as written:
/// `12.50` is fine for money, `12.500` is refused, never rounded. A leading `-` is accepted
/// only so that callers can say "must be positive" instead of "syntax error"; the sign
/// is kept.
pub fn parse_decimal(s: &str, max_places: u32) -> Result<Decimal, DecimalError> {
    if s.is_empty() {
        return Err(DecimalError::Empty);
    }
    let (negative, body) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (int_part, frac_part) = match body.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (body, None),
    };
    let digits_ok = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    if !digits_ok(int_part) || frac_part.is_some_and(|f| !digits_ok(f)) {
        return Err(DecimalError::Syntax(s.to_string()));
    }
    let places = frac_part.map_or(0, str::len) as u32;
    if places > max_places {
        return Err(DecimalError::Places { value: s.to_string(), places, max: max_places });
    }
    // 20 integer digits is far beyond any limit and keeps the mantissa in range.
    if int_part.len() > 20 {
        return Err(DecimalError::TooLarge(s.to_string()));
    }
    let mut mantissa: i128 = 0;
    for b in int_part.bytes().chain(frac_part.unwrap_or("").bytes()) {
        mantissa = mantissa * 10 + i128::from(b - b'0');
    }
    if negative {
        mantissa = -mantissa;
    }
    let d = Decimal::try_from_i128_with_scale(mantissa, places).map_err(|_| DecimalError::TooLarge(s.to_string()))?;
    Ok(d)
}

/// Rounds a computed amount to the fen, half away from zero (四舍五入). The only rounding
/// rule of the ledger.
pub fn round_fen(d: Decimal) -> Decimal {
    normalize_zero(d.round_dp_with_strategy(MONEY_PLACES, RoundingStrategy::MidpointAwayFromZero))
}

/// `-0.00` must never be written: a negative zero becomes plain zero at the same scale.
fn normalize_zero(d: Decimal) -> Decimal {
    if d.is_zero() && d.is_sign_negative() {
        let mut z = d;
        z.set_sign_positive(true);
        z
    } else {
        d
    }
}

/// Formats money with exactly two decimals, never `-0.00` (rounded by [`round_fen`]).
///
/// Every ack carries five amounts, so this is on the hot path: the whole fen count is
/// printed as an integer, which costs a fraction of `Decimal`'s `Display`.
pub fn fmt_money(d: Decimal) -> String {
    // Amounts the policy computed are already rounded to the fen (scale 2); anything else
    // goes through the one rounding rule first.
    let mut r = if d.scale() == MONEY_PLACES { normalize_zero(d) } else { round_fen(d) };
    r.rescale(MONEY_PLACES);
    if r.scale() != MONEY_PLACES {
        // Too large to carry two decimals (beyond any amount the policy allows).
        return normalize_zero(r).to_string();
    }
    let fen = r.mantissa();
    let Ok(abs) = u64::try_from(fen.unsigned_abs()) else {
        return r.to_string();
    };
    // Digits written backwards into a stack buffer: no formatting machinery, one allocation.
    let mut buf = [0u8; 24];
    let mut at = buf.len();
    let mut rest = abs;
    let mut put = |b: u8| {
        at -= 1;
        buf[at] = b;
    };
    put(b'0' + (rest % 10) as u8);
    rest /= 10;
    put(b'0' + (rest % 10) as u8);
    rest /= 10;
    put(b'.');
    loop {
        put(b'0' + (rest % 10) as u8);
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    if fen < 0 {
        put(b'-');
    }
    String::from(std::str::from_utf8(&buf[at..]).expect("ASCII digits"))
}

/// Formats a plain decimal without trailing zeros (GPU-hours), never `-0`.
pub fn fmt_plain(d: Decimal) -> String {
    normalize_zero(d.normalize()).to_string()
}

/// `d` times `sign` (1 or −1), as the ledger counts a record in or takes it back: the
/// same value and scale as `d * sign` (a zero product is `Decimal::ZERO`, scale 0) without
/// a decimal multiplication (a dozen of them per record on the hot path).
pub fn times_sign(d: Decimal, sign: Decimal) -> Decimal {
    debug_assert!(sign.abs() == Decimal::ONE, "a sign is 1 or -1");
    if d.is_zero() {
        Decimal::ZERO
    } else if sign.is_sign_negative() {
        -d
    } else {
        d
    }
}

/// The smaller of two amounts.
pub fn min(a: Decimal, b: Decimal) -> Decimal {
    if a <= b { a } else { b }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn amount_max_is_one_hundred_million() {
        assert_eq!(AMOUNT_MAX, d("100000000.00"));
        assert_eq!(AMOUNT_MAX.scale(), 2);
    }

    #[test]
    fn parses_plain_decimals_as_written() {
        assert_eq!(parse_decimal("12.50", 2), Ok(d("12.50")));
        assert_eq!(parse_decimal("0", 2), Ok(d("0")));
        assert_eq!(parse_decimal("100000000.00", 2), Ok(AMOUNT_MAX));
        assert_eq!(parse_decimal("-3.5", 2), Ok(d("-3.5")));
        assert_eq!(parse_decimal("0.000001", 6), Ok(d("0.000001")));
    }

    #[test]
    fn refuses_extra_places_instead_of_rounding() {
        assert_eq!(
            parse_decimal("100.000", 2),
            Err(DecimalError::Places { value: "100.000".into(), places: 3, max: 2 })
        );
        assert!(parse_decimal("12.34567", 4).is_err());
        assert!(parse_decimal("1.0000001", 6).is_err());
    }

    #[test]
    fn refuses_anything_but_plain_decimals() {
        for bad in ["", "+1", "1e3", " 1", "1 ", "1.", ".5", "1,000", "1.2.3", "--1", "0x10", "１"] {
            assert!(parse_decimal(bad, 2).is_err(), "{bad:?} accepted");
        }
        assert!(matches!(parse_decimal(&"9".repeat(21), 2), Err(DecimalError::TooLarge(_))));
    }

    #[test]
    fn rounds_half_away_from_zero() {
        assert_eq!(round_fen(d("0.005")), d("0.01"));
        assert_eq!(round_fen(d("0.004999")), d("0.00"));
        assert_eq!(round_fen(d("-0.005")), d("-0.01"));
        assert_eq!(round_fen(d("2.675")), d("2.68"));
        assert_eq!(round_fen(d("-0.004")).to_string(), "0.00");
    }

    #[test]
    fn times_sign_is_the_multiplication() {
        for v in ["0", "0.00", "-0.00", "12.50", "-3.75", "0.000001", "99999999.99"] {
            for sign in [Decimal::ONE, Decimal::NEGATIVE_ONE] {
                let (a, b) = (times_sign(d(v), sign), d(v) * sign);
                assert_eq!(a, b, "{v} * {sign}");
                assert_eq!(a.scale(), b.scale(), "{v} * {sign}");
                assert_eq!(a.is_sign_negative(), b.is_sign_negative(), "{v} * {sign}");
                assert_eq!(fmt_money(a), fmt_money(b), "{v} * {sign}");
            }
        }
    }

    #[test]
    fn formats_two_places_and_never_negative_zero() {
        assert_eq!(fmt_money(d("3750")), "3750.00");
        assert_eq!(fmt_money(d("-196250")), "-196250.00");
        assert_eq!(fmt_money(d("-0")), "0.00");
        assert_eq!(fmt_money(d("-0.001")), "0.00");
        assert_eq!(fmt_money(d("0.1")), "0.10");
        assert_eq!(fmt_money(d("-0.005")), "-0.01");
        assert_eq!(fmt_money(d("0.004")), "0.00");
        assert_eq!(fmt_money(d("12345678901234567.895")), "12345678901234567.90");
        assert_eq!(fmt_money(-d("0.00")), "0.00");
        assert_eq!(fmt_money(d("-184467440737095516.16")), "-184467440737095516.16");
        assert_eq!(fmt_money(Decimal::from_i128_with_scale(-(10i128.pow(27)), 2)), "-10000000000000000000000000.00");
        assert_eq!(fmt_plain(d("1000.000000")), "1000");
        assert_eq!(fmt_plain(d("-0.000")), "0");
        assert_eq!(fmt_plain(d("0.500")), "0.5");
    }

    /// The integer printing agrees with `Decimal`'s own `Display` of the rounded amount,
    /// over amounts of every size and scale.
    #[test]
    fn the_fen_printing_is_the_decimal_display() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for i in 0..200_000u32 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            let scale = (x >> 59) as u32 % 9;
            let mantissa = i128::from((x as i64) >> (i % 48));
            let v = Decimal::from_i128_with_scale(mantissa, scale);
            let mut r = round_fen(v);
            r.rescale(MONEY_PLACES);
            assert_eq!(fmt_money(v), normalize_zero(r).to_string(), "{v}");
        }
    }
}
