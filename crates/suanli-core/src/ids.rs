//! Identifiers: the unified social credit code (统一社会信用代码, GB 32100-2015) that names
//! every entity, and the character rules for the ids providers and operators choose.

use std::fmt;
use std::str::FromStr;

/// The 31-character alphabet of GB 32100-2015 (no I, O, S, V, Z).
const USCC_ALPHABET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
/// Weights of positions 1–17 (3^(i-1) mod 31).
const USCC_WEIGHTS: [u32; 17] = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];

/// A unified social credit code whose check character has been verified.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Uscc([u8; 18]);

/// Byte order, as a derived `Ord` would give, but compared as two big-endian integers: the
/// ledger's maps are keyed by codes and looked up several times per record, and a call to
/// `memcmp` for 18 bytes cost more than the rest of the comparison.
impl Ord for Uscc {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        let head = |u: &Uscc| u128::from_be_bytes(u.0[..16].try_into().expect("16 bytes"));
        let tail = |u: &Uscc| u16::from_be_bytes([u.0[16], u.0[17]]);
        head(self).cmp(&head(other)).then_with(|| tail(self).cmp(&tail(other)))
    }
}

impl PartialOrd for Uscc {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Why a string is not a valid unified social credit code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsccError {
    #[error("a unified social credit code has 18 characters, this has {0}")]
    Length(usize),
    #[error("character {position} ({ch:?}) is not in the GB 32100-2015 alphabet 0-9 A-H J-N P-R T U W X Y")]
    Character { position: usize, ch: char },
    #[error("check character is {found:?} but should be {expected:?}")]
    Check { found: char, expected: char },
}

/// Each byte's value in [`USCC_ALPHABET`], or `NOT_IN_ALPHABET`.
const ALPHABET_VALUES: [u8; 256] = {
    let mut t = [NOT_IN_ALPHABET; 256];
    let mut i = 0;
    while i < USCC_ALPHABET.len() {
        t[USCC_ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    t
};
const NOT_IN_ALPHABET: u8 = u8::MAX;

fn alphabet_value(b: u8) -> Option<u32> {
    let v = ALPHABET_VALUES[b as usize];
    (v != NOT_IN_ALPHABET).then_some(u32::from(v))
}

/// The check character for the first 17 characters, which must already be in the alphabet.
fn check_char(first17: &[u8]) -> u8 {
    let sum: u32 = first17.iter().zip(USCC_WEIGHTS).map(|(&b, w)| alphabet_value(b).expect("validated") * w).sum();
    // A check value of 31 is written as 0.
    let check = (31 - sum % 31) % 31;
    USCC_ALPHABET[check as usize]
}

impl Uscc {
    /// Parses and verifies a code. Lower-case letters are refused rather than folded:
    /// the code is printed in upper case on every licence, and one spelling keeps dedupe
    /// and lookups exact.
    pub fn parse(s: &str) -> Result<Self, UsccError> {
        let bytes = s.as_bytes();
        let chars = s.chars().count();
        if chars != 18 || bytes.len() != 18 {
            return Err(UsccError::Length(chars));
        }
        for (i, &b) in bytes.iter().enumerate() {
            if alphabet_value(b).is_none() {
                return Err(UsccError::Character { position: i + 1, ch: b as char });
            }
        }
        let expected = check_char(&bytes[..17]);
        if bytes[17] != expected {
            return Err(UsccError::Check { found: bytes[17] as char, expected: expected as char });
        }
        let mut out = [0u8; 18];
        out.copy_from_slice(bytes);
        Ok(Uscc(out))
    }

    /// Builds a valid code from 17 alphabet characters by appending the check character.
    /// Used by tests and tools that need many distinct entities.
    pub fn with_check(first17: &str) -> Result<Self, UsccError> {
        let b = first17.as_bytes();
        if b.len() != 17 {
            return Err(UsccError::Length(b.len() + 1));
        }
        for (i, &c) in b.iter().enumerate() {
            if alphabet_value(c).is_none() {
                return Err(UsccError::Character { position: i + 1, ch: c as char });
            }
        }
        let mut out = [0u8; 18];
        out[..17].copy_from_slice(b);
        out[17] = check_char(b);
        Ok(Uscc(out))
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("ascii by construction")
    }

    pub fn as_bytes(&self) -> &[u8; 18] {
        &self.0
    }
}

impl FromStr for Uscc {
    type Err = UsccError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uscc::parse(s)
    }
}

impl fmt::Display for Uscc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Uscc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Uscc({})", self.as_str())
    }
}

/// Why an id or a text field breaks its rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("must not be empty")]
    Empty,
    #[error("has {len} characters, at most {max} are allowed")]
    TooLong { len: usize, max: usize },
    #[error("character {ch:?} is not allowed (use A-Z a-z 0-9 - _ . :)")]
    IdCharacter { ch: char },
    #[error("control characters are not allowed")]
    Control,
}

/// An id chosen by a client (`record_id`, `voucher_id`, request ids, period names):
/// 1–64 of `A–Z a–z 0–9 - _ . :`.
pub fn check_id(s: &str) -> Result<(), TextError> {
    if s.is_empty() {
        return Err(TextError::Empty);
    }
    if s.len() > 64 {
        return Err(TextError::TooLong { len: s.chars().count(), max: 64 });
    }
    for ch in s.chars() {
        if !(ch.is_ascii_alphanumeric() || matches!(ch, '-' | '_' | '.' | ':')) {
            return Err(TextError::IdCharacter { ch });
        }
    }
    Ok(())
}

/// Free text (names, contract numbers, invoice numbers, GPU models, reasons): 1 to `max`
/// Unicode characters, no control characters (they would break CSV reports and logs).
pub fn check_text(s: &str, max: usize) -> Result<(), TextError> {
    if s.is_empty() {
        return Err(TextError::Empty);
    }
    let len = s.chars().count();
    if len > max {
        return Err(TextError::TooLong { len, max });
    }
    if s.chars().any(char::is_control) {
        return Err(TextError::Control);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hand-written order is the byte order of the codes (what a derived `Ord` gave,
    /// and what every ordered map and report relies on), including codes that differ only
    /// in their last two characters.
    #[test]
    fn codes_order_as_their_bytes() {
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let mut codes = Vec::new();
        for i in 0..2_000u64 {
            let mut s = String::new();
            for p in 0..17 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                // Mostly shared prefixes, so that later positions decide.
                let pick = if p < 15 && i % 4 != 0 { (i as usize + p) % 3 } else { (x % 31) as usize };
                s.push(USCC_ALPHABET[pick] as char);
            }
            codes.push(Uscc::with_check(&s).expect("alphabet"));
        }
        for a in &codes {
            for b in codes.iter().step_by(7) {
                assert_eq!(a.cmp(b), a.as_bytes().cmp(b.as_bytes()), "{a} vs {b}");
            }
        }
    }

    #[test]
    fn spec_examples_are_valid() {
        for s in ["91350100M000100Y43", "91110108551385082Q"] {
            assert_eq!(Uscc::parse(s).unwrap().as_str(), s);
        }
    }

    #[test]
    fn wrong_check_character_is_refused() {
        assert_eq!(Uscc::parse("91350100M000100Y44"), Err(UsccError::Check { found: '4', expected: '3' }));
    }

    #[test]
    fn bad_length_and_alphabet_are_refused() {
        assert_eq!(Uscc::parse("9135"), Err(UsccError::Length(4)));
        assert!(matches!(Uscc::parse("91350100I000100Y43"), Err(UsccError::Character { position: 9, ch: 'I' })));
        assert!(matches!(Uscc::parse("91350100m000100Y43"), Err(UsccError::Character { .. })));
        // 18 bytes but not 18 characters.
        assert!(Uscc::parse("9135010000010ä43").is_err());
    }

    #[test]
    fn with_check_round_trips() {
        let u = Uscc::with_check("91350100M000100Y4").unwrap();
        assert_eq!(u.as_str(), "91350100M000100Y43");
        // Every 17-character prefix gets exactly one valid check character.
        for prefix in ["00000000000000000", "YYYYYYYYYYYYYYYYY", "12345678901234567"] {
            let u = Uscc::with_check(prefix).unwrap();
            let valid = USCC_ALPHABET
                .iter()
                .filter(|&&c| {
                    let mut s = prefix.to_string();
                    s.push(c as char);
                    Uscc::parse(&s).is_ok()
                })
                .count();
            assert_eq!(valid, 1, "{u}");
        }
    }

    #[test]
    fn ids_and_text() {
        assert!(check_id("u1").is_ok());
        assert!(check_id("A-z_0.9:x").is_ok());
        assert_eq!(check_id(""), Err(TextError::Empty));
        assert!(matches!(check_id(&"a".repeat(65)), Err(TextError::TooLong { .. })));
        assert!(check_id(&"a".repeat(64)).is_ok());
        assert_eq!(check_id("a b"), Err(TextError::IdCharacter { ch: ' ' }));
        assert!(check_text("苏州智算中心", 100).is_ok());
        assert!(check_text(&"算".repeat(100), 100).is_ok());
        assert!(check_text(&"算".repeat(101), 100).is_err());
        assert_eq!(check_text("a\nb", 10), Err(TextError::Control));
    }
}
