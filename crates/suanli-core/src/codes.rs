//! The codes the ledger answers with: why a submission was refused, and why each money
//! line of an accepted record has the amount it has. Their spellings are a public
//! interface (CLI output, reports, the proto), so each has one fixed string and one fixed
//! byte in the log encoding; neither may ever be renumbered.

use std::fmt;

macro_rules! code_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $byte:literal => $text:literal,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($variant,)* }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// The public spelling, e.g. `CAP_EXHAUSTED`.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text,)* }
            }

            /// The byte that stands for this code in the log encoding.
            pub fn to_byte(self) -> u8 {
                match self { $($name::$variant => $byte,)* }
            }

            pub fn from_byte(b: u8) -> Option<Self> {
                match b { $($byte => Some($name::$variant),)* _ => None }
            }

            pub fn parse(s: &str) -> Option<Self> {
                match s { $($text => Some($name::$variant),)* _ => None }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

code_enum! {
    /// Why a submission was refused. Nothing changes when one is returned.
    RejectCode {
        BadSignature = 1 => "BAD_SIGNATURE",
        UnknownKey = 2 => "UNKNOWN_KEY",
        RevokedKey = 3 => "REVOKED_KEY",
        NotAProvider = 4 => "NOT_A_PROVIDER",
        ProviderMismatch = 5 => "PROVIDER_MISMATCH",
        UnknownRenter = 6 => "UNKNOWN_RENTER",
        Malformed = 7 => "MALFORMED",
        AmountMismatch = 8 => "AMOUNT_MISMATCH",
        ImpossibleUsage = 9 => "IMPOSSIBLE_USAGE",
        FutureUsage = 10 => "FUTURE_USAGE",
        Conflict = 11 => "CONFLICT",
        VoucherInvalid = 12 => "VOUCHER_INVALID",
        YearClosed = 13 => "YEAR_CLOSED",
        // Corpus records.
        NotADataSupplier = 20 => "NOT_A_DATA_SUPPLIER",
        // Reversals.
        UnknownRecord = 30 => "UNKNOWN_RECORD",
        // Requests of the registry operator, holders and finance.
        Unauthorized = 40 => "UNAUTHORIZED",
        SignerMismatch = 41 => "SIGNER_MISMATCH",
        UnknownEntity = 42 => "UNKNOWN_ENTITY",
        EntityExists = 43 => "ENTITY_EXISTS",
        WeakKey = 44 => "WEAK_KEY",
        KeyExists = 45 => "KEY_EXISTS",
        AlreadyRevoked = 46 => "ALREADY_REVOKED",
        NothingToChange = 47 => "NOTHING_TO_CHANGE",
        NotOpc = 48 => "NOT_OPC",
        VoucherExists = 49 => "VOUCHER_EXISTS",
        UnknownVoucher = 50 => "UNKNOWN_VOUCHER",
        HolderLimit = 51 => "HOLDER_LIMIT",
        BudgetExceeded = 52 => "BUDGET_EXCEEDED",
        NotHolder = 53 => "NOT_HOLDER",
        RelatedParty = 54 => "RELATED_PARTY",
        NoAuthorization = 55 => "NO_AUTHORIZATION",
        PeriodExists = 56 => "PERIOD_EXISTS",
        UnknownPeriod = 57 => "UNKNOWN_PERIOD",
        UnknownLine = 58 => "UNKNOWN_LINE",
        Overpaid = 59 => "OVERPAID",
        YearAlreadyClosed = 60 => "YEAR_ALREADY_CLOSED",
    }
}

code_enum! {
    /// Why a money line of an accepted record has its amount (SPEC §6).
    LineReason {
        OutsideWindow = 1 => "OUTSIDE_WINDOW",
        RelatedParty = 2 => "RELATED_PARTY",
        Voucher = 3 => "VOUCHER",
        VoucherExhausted = 4 => "VOUCHER_EXHAUSTED",
        NoVoucher = 5 => "NO_VOUCHER",
        NotEligible = 6 => "NOT_ELIGIBLE",
        CoveredByVoucher = 7 => "COVERED_BY_VOUCHER",
        Granted = 8 => "GRANTED",
        CapExhausted = 9 => "CAP_EXHAUSTED",
        BudgetExhausted = 10 => "BUDGET_EXHAUSTED",
        Capped = 11 => "CAPPED",
        // Corpus purchases earn no renter or supplier subsidy (SPEC §7).
        NotApplicable = 12 => "NOT_APPLICABLE",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_unique() {
        let mut bytes = std::collections::HashSet::new();
        for c in RejectCode::ALL {
            assert_eq!(RejectCode::from_byte(c.to_byte()), Some(*c));
            assert_eq!(RejectCode::parse(c.as_str()), Some(*c));
            assert!(bytes.insert(c.to_byte()));
        }
        let mut bytes = std::collections::HashSet::new();
        for c in LineReason::ALL {
            assert_eq!(LineReason::from_byte(c.to_byte()), Some(*c));
            assert_eq!(LineReason::parse(c.as_str()), Some(*c));
            assert!(bytes.insert(c.to_byte()));
        }
        assert_eq!(RejectCode::from_byte(0), None);
    }
}
