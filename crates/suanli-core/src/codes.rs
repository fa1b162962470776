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

use crate::lang::Lang;

impl RejectCode {
    /// What the refusal means and what to do about it, in a sentence a person reads
    /// (the console, the CLI's help and messages, the docs). Codes themselves never change
    /// with the language.
    pub fn explain(self, lang: Lang) -> &'static str {
        use RejectCode::*;
        let (zh, en) = match self {
            BadSignature => (
                "签名无效：记录内容与签名不符，或签名所用的密钥不对。请用正确的密钥重新签名。",
                "The signature does not match the record's bytes or the key. Sign again with the right key.",
            ),
            UnknownKey => (
                "签名所用的公钥未在账本登记。请先由登记机构为本单位登记该公钥。",
                "The signing key is not registered at the ledger. Have the registry operator add it first.",
            ),
            RevokedKey => (
                "签名所用的公钥已被吊销，不能再签署任何内容。请改用有效的密钥。",
                "The signing key has been revoked and signs nothing any more. Use a live key.",
            ),
            NotAProvider => (
                "签名单位不是登记的算力供给方，不能提交用量记录。",
                "The signing entity is not registered as a compute provider and cannot submit usage records.",
            ),
            ProviderMismatch => (
                "记录中的供给方代码与签名密钥所属单位不一致。",
                "The record's provider code is not the owner of the signing key.",
            ),
            UnknownRenter => ("记录中的租用方未在账本登记。", "The record's renter is not a registered entity."),
            Malformed => (
                "记录格式有误（见详细说明中的字段）。改正后可重新提交。",
                "The record breaks a field rule (the detail names the field). Correct it and submit again.",
            ),
            AmountMismatch => (
                "金额不等于 GPU 时数 × 单价（四舍五入到分）。",
                "The amount is not GPU-hours × unit price rounded to the fen.",
            ),
            ImpossibleUsage => (
                "GPU 时数超过了 GPU 数量 × 时段长度，不可能发生。",
                "The GPU-hours exceed GPU count × the span: impossible usage.",
            ),
            FutureUsage => (
                "记录的结束时间晚于账本当前时间 5 分钟以上。",
                "The record ends more than 5 minutes after the ledger's clock.",
            ),
            Conflict => (
                "同一记录编号已以不同内容被接受。更正请先冲销原记录，再用新编号提交。",
                "The same record id was already accepted with other contents. To correct it, reverse the original and submit under a new id.",
            ),
            VoucherInvalid => (
                "算力券不可用：不存在、不属于租用方、已作废、不在有效期内、未授权该供给方，或双方为关联方。",
                "The voucher cannot be used: unknown, not the renter's, revoked, outside its validity, not authorized for this provider, or a related party.",
            ),
            YearClosed => (
                "该补贴年度已结账，不再接受该年度的记录。",
                "The cap year of this record is closed; no more records of that year are accepted.",
            ),
            NotADataSupplier => (
                "签名单位不是登记的数据供给方，不能提交语料采购记录。",
                "The signing entity is not a registered data supplier and cannot submit corpus records.",
            ),
            UnknownRecord => {
                ("要冲销的记录不存在或未被接受。", "The record to reverse is unknown or was never accepted.")
            }
            Unauthorized => (
                "该密钥无权执行此操作（需要相应角色的密钥）。",
                "This key may not do that: the action needs the key of another role.",
            ),
            SignerMismatch => (
                "请求中的单位与签名密钥所属单位不一致。",
                "The request names another entity than the owner of the signing key.",
            ),
            UnknownEntity => ("单位未在账本登记。", "The entity is not registered."),
            EntityExists => ("该统一社会信用代码已经登记。", "An entity with this credit code is already registered."),
            WeakKey => (
                "公钥不安全（小阶点），拒绝登记。请重新生成密钥。",
                "The public key is weak (a small-order point) and is refused. Generate a new key.",
            ),
            KeyExists => ("该公钥已经登记。", "This public key is already registered."),
            AlreadyRevoked => ("该公钥已经吊销。", "This key is already revoked."),
            NothingToChange => ("请求没有改变任何内容。", "The request changes nothing."),
            NotOpc => (
                "持有人不是一人公司（OPC），不能持有算力券。",
                "The holder is not a one-person company (OPC) and cannot hold vouchers.",
            ),
            VoucherExists => ("该券编号已经存在。", "A voucher with this id already exists."),
            UnknownVoucher => ("没有这张券。", "There is no such voucher."),
            HolderLimit => (
                "持有人该类券的面值合计将超过政策上限。",
                "The holder's total face value of this kind would exceed the program's maximum.",
            ),
            BudgetExceeded => ("将超过券的总预算。", "The voucher budget would be exceeded."),
            NotHolder => ("只有券的持有人才能授权或撤回授权。", "Only the voucher's holder can authorize or withdraw."),
            RelatedParty => (
                "双方为关联方，不能授权使用算力券。",
                "The two are related parties: the voucher cannot be authorized for them.",
            ),
            NoAuthorization => {
                ("该供给方没有此券的有效授权。", "This provider holds no live authorization on the voucher.")
            }
            PeriodExists => ("同名结算期已经存在。", "A settlement period with this name already exists."),
            UnknownPeriod => ("没有这个结算期。", "There is no such settlement period."),
            UnknownLine => (
                "该结算期中没有对应的结算行（收款方、类别、年度）。",
                "The period has no statement line for this payee, kind and year.",
            ),
            Overpaid => ("支付金额将超过应付金额。", "The payout would exceed what is payable on the line."),
            YearAlreadyClosed => ("该年度已经结账。", "This year is already closed."),
        };
        pick(lang, zh, en)
    }
}

impl LineReason {
    /// Why a money line has its amount, for a person (see [`RejectCode::explain`]).
    pub fn explain(self, lang: Lang) -> &'static str {
        use LineReason::*;
        let (zh, en) = match self {
            OutsideWindow => (
                "用量结束时间不在政策有效期内：计量但不补贴。",
                "The usage ended outside the program's window: metered, no subsidy.",
            ),
            RelatedParty => {
                ("租用方与供给方为关联方：不享受补贴。", "Renter and provider are related parties: no subsidy.")
            }
            Voucher => ("已从算力券中抵扣。", "Paid from the voucher."),
            VoucherExhausted => (
                "算力券余额或授权额度已用完，未抵扣。",
                "Nothing left on the voucher or its authorization: nothing drawn.",
            ),
            NoVoucher => ("未使用算力券。", "No voucher named."),
            NotEligible => ("该单位不符合此项补贴条件。", "The entity is not eligible for this subsidy."),
            CoveredByVoucher => (
                "费用已全部由算力券支付，不再重复补贴（就高、不重复）。",
                "The voucher paid it all: no subsidy on top (the higher, not both).",
            ),
            Granted => ("按比例全额补贴。", "Granted in full at the program's rate."),
            CapExhausted => ("本年度补贴已达年度上限。", "This year's subsidy has reached its yearly cap."),
            BudgetExhausted => ("本年度补贴预算已用完。", "This year's subsidy budget is used up."),
            Capped => (
                "补贴达到年度上限或预算，只补贴了剩余额度。",
                "Reached the yearly cap or budget: only what was left was granted.",
            ),
            NotApplicable => {
                ("语料采购记录不享受租用或供给补贴。", "Corpus purchases earn no renter or supplier subsidy.")
            }
        };
        pick(lang, zh, en)
    }
}

fn pick(lang: Lang, zh: &'static str, en: &'static str) -> &'static str {
    match lang {
        Lang::Zh => zh,
        Lang::En => en,
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

    #[test]
    fn every_code_is_explained_in_both_languages() {
        for c in RejectCode::ALL {
            let (zh, en) = (c.explain(Lang::Zh), c.explain(Lang::En));
            assert!(zh.chars().any(|ch| ch > '\u{2e80}') && !en.is_empty() && zh != en, "{c}");
        }
        for c in LineReason::ALL {
            let (zh, en) = (c.explain(Lang::Zh), c.explain(Lang::En));
            assert!(zh.chars().any(|ch| ch > '\u{2e80}') && !en.is_empty() && zh != en, "{c}");
        }
    }
}
