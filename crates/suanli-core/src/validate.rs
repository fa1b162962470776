//! Field rules of the signed messages (SPEC §4, §5, §7): turning a decoded wire message
//! into checked domain values, or naming the first field that breaks its rule. These are
//! the `MALFORMED` checks; the ones that need ledger state live in [`crate::ledger`].

use rust_decimal::Decimal;

use crate::ids::{Uscc, check_id, check_text};
use crate::model::PublicKey;
use crate::money::{AMOUNT_MAX, GPU_HOURS_PLACES, MONEY_PLACES, PRICE_PLACES, parse_decimal};
use crate::time::{UNIX_SECONDS_MAX, UNIX_SECONDS_MIN};
use crate::wire;

/// GPU count limits (SPEC §4).
pub const GPU_COUNT_MIN: u64 = 1;
pub const GPU_COUNT_MAX: u64 = 100_000;
/// One record spans at most 31 days.
pub const SPAN_SECONDS_MAX: i64 = 31 * 86_400;
/// Length limits of free-text fields, in characters.
pub const NAME_CHARS_MAX: usize = 100;
pub const CONTRACT_CHARS_MAX: usize = 64;
pub const INVOICE_CHARS_MAX: usize = 64;
pub const GPU_MODEL_CHARS_MAX: usize = 32;
pub const DESCRIPTION_CHARS_MAX: usize = 200;
pub const REASON_CHARS_MAX: usize = 200;
pub const BANK_REF_CHARS_MAX: usize = 64;

/// The field that broke its rule, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed {
    pub field: &'static str,
    pub detail: String,
}

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.detail)
    }
}

fn bad(field: &'static str, detail: impl std::fmt::Display) -> Malformed {
    Malformed { field, detail: detail.to_string() }
}

pub fn id(field: &'static str, s: &str) -> Result<String, Malformed> {
    check_id(s).map_err(|e| bad(field, e))?;
    Ok(s.to_string())
}

pub fn opt_id(field: &'static str, s: &str) -> Result<Option<String>, Malformed> {
    if s.is_empty() { Ok(None) } else { id(field, s).map(Some) }
}

pub fn text(field: &'static str, s: &str, max: usize) -> Result<String, Malformed> {
    check_text(s, max).map_err(|e| bad(field, e))?;
    Ok(s.to_string())
}

/// An entity's name (SPEC §2): 1–100 characters, and not starting with a character that
/// Excel or WPS would read as the start of a formula (`=`, `+`, `-`, `@`, tab, carriage
/// return), so that a report or statement opened by a clerk cannot run one (CSV injection).
pub fn entity_name(field: &'static str, s: &str) -> Result<String, Malformed> {
    let name = text(field, s, NAME_CHARS_MAX)?;
    if crate::sheet::looks_like_formula(&name) {
        return Err(bad(
            field,
            format!(
                "{name:?} starts with {:?}, which spreadsheets (Excel, WPS) read as a formula; \
                 start the name with a letter, digit or Chinese character",
                name.chars().next().unwrap_or_default()
            ),
        ));
    }
    Ok(name)
}

pub fn opt_text(field: &'static str, s: &str, max: usize) -> Result<Option<String>, Malformed> {
    if s.is_empty() { Ok(None) } else { text(field, s, max).map(Some) }
}

pub fn uscc(field: &'static str, s: &str) -> Result<Uscc, Malformed> {
    Uscc::parse(s).map_err(|e| bad(field, e))
}

pub fn instant(field: &'static str, t: i64) -> Result<i64, Malformed> {
    if (UNIX_SECONDS_MIN..UNIX_SECONDS_MAX).contains(&t) {
        Ok(t)
    } else {
        Err(bad(field, format!("{t} is not a Unix time between 2000 and 2199")))
    }
}

/// A money amount: at most two places, 0 ≤ amount ≤ 100,000,000.00.
pub fn amount(field: &'static str, s: &str) -> Result<Decimal, Malformed> {
    let d = parse_decimal(s, MONEY_PLACES).map_err(|e| bad(field, e))?;
    // The text, not the value: "-0.00" parses to zero but is written with a sign, and a
    // sign is never part of an amount.
    if s.starts_with('-') {
        return Err(bad(field, "must not be negative (no sign is written, not even on zero)"));
    }
    if d > AMOUNT_MAX {
        return Err(bad(field, "is above the 100,000,000.00 limit of one amount"));
    }
    Ok(d)
}

/// A money amount that may be negative (a payout on a claw-back line), never zero.
pub fn signed_amount(field: &'static str, s: &str) -> Result<Decimal, Malformed> {
    let d = parse_decimal(s, MONEY_PLACES).map_err(|e| bad(field, e))?;
    if d.is_zero() {
        return Err(bad(field, "must not be zero"));
    }
    if d.abs() > AMOUNT_MAX {
        return Err(bad(field, "is above the 100,000,000.00 limit of one amount"));
    }
    Ok(d)
}

fn positive(field: &'static str, s: &str, places: u32) -> Result<Decimal, Malformed> {
    let d = parse_decimal(s, places).map_err(|e| bad(field, e))?;
    if d <= Decimal::ZERO {
        return Err(bad(field, "must be greater than zero"));
    }
    Ok(d)
}

pub fn public_key(field: &'static str, b: &[u8]) -> Result<PublicKey, Malformed> {
    b.try_into().map_err(|_| bad(field, format!("an ed25519 public key has 32 bytes, this has {}", b.len())))
}

/// A usage record whose every field follows its rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usage {
    pub record_id: String,
    pub provider: Uscc,
    pub renter: Uscc,
    pub contract_id: Option<String>,
    pub gpu_model: String,
    pub gpu_count: u64,
    pub start: i64,
    pub end: i64,
    pub gpu_hours: Decimal,
    pub unit_price: Decimal,
    pub amount: Decimal,
    pub voucher_id: Option<String>,
    pub invoice_no: Option<String>,
}

/// A usage record's payload decoded, and its field checks, done once ahead of the
/// sequencer (on the verification threads) so that the one writer and the dashboard do not
/// decode it again. The ledger raises each error at the same step as if it decoded the
/// payload itself (`Ledger::decide_parsed`).
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedUsage {
    pub record: wire::UsageRecord,
    /// SHA-256 of the payload: what a resubmission is compared by.
    pub payload_hash: crate::index::PayloadHash,
    pub usage: Result<Usage, Malformed>,
}

impl ParsedUsage {
    /// Keeps of the decoded record only what the ledger reads from it again
    /// (`provider_id` and `record_id`; every other field is in `usage`). The verification
    /// threads trim what they hand on, so that the other nine strings are freed by the
    /// thread that allocated them rather than one by one on the sequencer (a free from
    /// another thread costs mimalloc more: 1.4 % of the server's samples there).
    pub fn trimmed(mut self) -> ParsedUsage {
        let r = &mut self.record;
        self.record = wire::UsageRecord {
            record_id: std::mem::take(&mut r.record_id),
            provider_id: std::mem::take(&mut r.provider_id),
            ..Default::default()
        };
        self
    }
}

/// [`decode`] then [`usage`] of a usage record's payload, and the payload's hash.
pub fn parse_usage(payload: &[u8]) -> Result<ParsedUsage, Malformed> {
    let record: wire::UsageRecord = decode(payload)?;
    let usage = usage(&record);
    Ok(ParsedUsage { record, payload_hash: crate::ledger::payload_hash(payload), usage })
}

/// The `MALFORMED` checks of a usage record, in field order.
pub fn usage(r: &wire::UsageRecord) -> Result<Usage, Malformed> {
    let record_id = id("record_id", &r.record_id)?;
    let provider = uscc("provider_id", &r.provider_id)?;
    let renter = uscc("renter_id", &r.renter_id)?;
    let contract_id = opt_text("contract_id", &r.contract_id, CONTRACT_CHARS_MAX)?;
    let gpu_model = text("gpu_model", &r.gpu_model, GPU_MODEL_CHARS_MAX)?;
    if !(GPU_COUNT_MIN..=GPU_COUNT_MAX).contains(&r.gpu_count) {
        return Err(bad("gpu_count", format!("{} is not between 1 and 100000", r.gpu_count)));
    }
    let start = instant("start", r.start)?;
    let end = instant("end", r.end)?;
    if start >= end {
        return Err(bad("end", "must be after start"));
    }
    if end - start > SPAN_SECONDS_MAX {
        return Err(bad("end", "a record spans at most 31 days"));
    }
    let gpu_hours = positive("gpu_hours", &r.gpu_hours, GPU_HOURS_PLACES)?;
    let unit_price = positive("unit_price", &r.unit_price, PRICE_PLACES)?;
    if unit_price > AMOUNT_MAX {
        return Err(bad("unit_price", "is above the 100,000,000.00 limit of one amount"));
    }
    let amount = amount("amount", &r.amount)?;
    let voucher_id = opt_id("voucher_id", &r.voucher_id)?;
    let invoice_no = opt_text("invoice_no", &r.invoice_no, INVOICE_CHARS_MAX)?;
    Ok(Usage {
        record_id,
        provider,
        renter,
        contract_id,
        gpu_model,
        gpu_count: r.gpu_count,
        start,
        end,
        gpu_hours,
        unit_price,
        amount,
        voucher_id,
        invoice_no,
    })
}

/// A corpus-purchase record whose every field follows its rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Corpus {
    pub record_id: String,
    pub supplier: Uscc,
    pub buyer: Uscc,
    pub voucher_id: String,
    pub amount: Decimal,
    pub purchased_at: i64,
    pub description: String,
    pub invoice_no: Option<String>,
}

pub fn corpus(r: &wire::CorpusRecord) -> Result<Corpus, Malformed> {
    let record_id = id("record_id", &r.record_id)?;
    let supplier = uscc("supplier_id", &r.supplier_id)?;
    let buyer = uscc("buyer_id", &r.buyer_id)?;
    let voucher_id = id("voucher_id", &r.voucher_id)?;
    let amount = positive("amount", &r.amount, MONEY_PLACES)?;
    if amount > AMOUNT_MAX {
        return Err(bad("amount", "is above the 100,000,000.00 limit of one amount"));
    }
    let purchased_at = instant("purchased_at", r.purchased_at)?;
    let description = text("description", &r.description, DESCRIPTION_CHARS_MAX)?;
    let invoice_no = opt_text("invoice_no", &r.invoice_no, INVOICE_CHARS_MAX)?;
    Ok(Corpus { record_id, supplier, buyer, voucher_id, amount, purchased_at, description, invoice_no })
}

/// Decodes protobuf bytes, naming the payload as the malformed field when they are not
/// a valid message of the expected type.
pub fn decode<M: prost::Message + Default>(payload: &[u8]) -> Result<M, Malformed> {
    M::decode(payload).map_err(|e| bad("payload", format!("not a valid {}: {e}", std::any::type_name::<M>())))
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn good_usage() -> wire::UsageRecord {
        wire::UsageRecord {
            record_id: "u1".into(),
            provider_id: "91350100M000100Y43".into(),
            renter_id: "91110108551385082Q".into(),
            contract_id: "HT-2026-001".into(),
            gpu_model: "H100".into(),
            gpu_count: 8,
            start: 1_772_323_200,
            end: 1_772_323_200 + 3600 * 125,
            gpu_hours: "1000".into(),
            unit_price: "12.50".into(),
            amount: "12500.00".into(),
            voucher_id: String::new(),
            invoice_no: String::new(),
        }
    }

    fn field_of(r: wire::UsageRecord) -> &'static str {
        usage(&r).unwrap_err().field
    }

    #[test]
    fn entity_names_that_spreadsheets_would_run_are_refused() {
        for bad_name in ["=HYPERLINK(\"http://x\")", "+1", "-1", "@SUM(A1)"] {
            let e = entity_name("name", bad_name).unwrap_err();
            assert_eq!(e.field, "name");
            assert!(e.detail.contains("formula"), "{e}");
        }
        // Tab and carriage return are control characters, refused as such.
        assert!(entity_name("name", "\tx").is_err() && entity_name("name", "\rx").is_err());
        assert_eq!(entity_name("name", "苏州智算中心 = A+B").unwrap(), "苏州智算中心 = A+B");
        assert_eq!(entity_name("name", "3D 科技").unwrap(), "3D 科技");
    }

    #[test]
    fn a_good_record_passes() {
        let u = usage(&good_usage()).unwrap();
        assert_eq!(u.gpu_count, 8);
        assert_eq!(u.contract_id.as_deref(), Some("HT-2026-001"));
        assert_eq!(u.voucher_id, None);
    }

    #[test]
    fn every_field_rule_names_its_field() {
        type Mutation = Box<dyn Fn(&mut wire::UsageRecord)>;
        let cases: Vec<(&str, Mutation)> = vec![
            ("record_id", Box::new(|r| r.record_id = "has space".into())),
            ("record_id", Box::new(|r| r.record_id = String::new())),
            ("record_id", Box::new(|r| r.record_id = "x".repeat(65))),
            ("provider_id", Box::new(|r| r.provider_id = "91350100M000100Y44".into())),
            ("renter_id", Box::new(|r| r.renter_id = "nope".into())),
            ("contract_id", Box::new(|r| r.contract_id = "c".repeat(65))),
            ("gpu_model", Box::new(|r| r.gpu_model = String::new())),
            ("gpu_model", Box::new(|r| r.gpu_model = "g".repeat(33))),
            ("gpu_count", Box::new(|r| r.gpu_count = 0)),
            ("gpu_count", Box::new(|r| r.gpu_count = 100_001)),
            ("start", Box::new(|r| r.start = 0)),
            ("end", Box::new(|r| r.end = r.start)),
            ("end", Box::new(|r| r.end = r.start + 31 * 86_400 + 1)),
            ("gpu_hours", Box::new(|r| r.gpu_hours = "0".into())),
            ("gpu_hours", Box::new(|r| r.gpu_hours = "1.0000001".into())),
            ("gpu_hours", Box::new(|r| r.gpu_hours = "1e3".into())),
            ("unit_price", Box::new(|r| r.unit_price = "12.50001".into())),
            ("unit_price", Box::new(|r| r.unit_price = "-1".into())),
            ("unit_price", Box::new(|r| r.unit_price = "100000000.01".into())),
            ("amount", Box::new(|r| r.amount = "12500.001".into())),
            ("amount", Box::new(|r| r.amount = "-1.00".into())),
            ("amount", Box::new(|r| r.amount = "-0.00".into())),
            ("amount", Box::new(|r| r.amount = "-0".into())),
            ("amount", Box::new(|r| r.amount = "100000000.01".into())),
            ("amount", Box::new(|r| r.amount = "+1".into())),
            ("voucher_id", Box::new(|r| r.voucher_id = "v 1".into())),
            ("invoice_no", Box::new(|r| r.invoice_no = "i\n".into())),
        ];
        for (field, mutate) in cases {
            let mut r = good_usage();
            mutate(&mut r);
            assert_eq!(field_of(r), field);
        }
        let mut r = good_usage();
        r.end = r.start + 31 * 86_400;
        assert!(usage(&r).is_ok(), "exactly 31 days is allowed");
    }

    #[test]
    fn corpus_rules() {
        let good = wire::CorpusRecord {
            record_id: "c1".into(),
            supplier_id: "91350100M000100Y43".into(),
            buyer_id: "91110108551385082Q".into(),
            voucher_id: "CV1".into(),
            amount: "5000.00".into(),
            purchased_at: 1_772_323_200,
            description: "医疗语料 10万条".into(),
            invoice_no: String::new(),
        };
        assert!(corpus(&good).is_ok());
        let mut r = good.clone();
        r.voucher_id = String::new();
        assert_eq!(corpus(&r).unwrap_err().field, "voucher_id");
        let mut r = good.clone();
        r.amount = "0".into();
        assert_eq!(corpus(&r).unwrap_err().field, "amount");
        let mut r = good.clone();
        r.description = "d".repeat(201);
        assert_eq!(corpus(&r).unwrap_err().field, "description");
    }

    #[test]
    fn garbage_payload_is_malformed() {
        let e = decode::<wire::UsageRecord>(&[0xff, 0xff, 0xff]).unwrap_err();
        assert_eq!(e.field, "payload");
    }
}
