//! Building signed inputs for tests, simulations and benchmarks: deterministic keys from
//! seeds, valid USCCs from numbers, one function per message kind, and an index summary for
//! store tests. Not used by the ledger itself; kept in the crate so every test suite builds
//! inputs the same way.

use ed25519_dalek::SigningKey;
use prost::Message;

use crate::codes::LineReason;
use crate::entry::{Lines, RecordFacts, Signed};
use crate::ids::Uscc;
use crate::index::RecordSummary;
use crate::ledger::{Input, InputKind};
use crate::model::{PublicKey, RecordKind};
use crate::money::parse_decimal;
use crate::sig;
use crate::wire;

/// A deterministic signing key: tests must be reproducible.
pub fn key(seed: u64) -> SigningKey {
    let mut b = [0u8; 32];
    b[..8].copy_from_slice(&seed.to_le_bytes());
    b[8] = 0x5a;
    SigningKey::from_bytes(&b)
}

pub fn public(k: &SigningKey) -> PublicKey {
    k.verifying_key().to_bytes()
}

/// A valid USCC numbered `n` (distinct for distinct `n`).
pub fn uscc(n: u64) -> Uscc {
    Uscc::with_check(&format!("91320500{:09}", n % 1_000_000_000)).expect("digits are in the alphabet")
}

/// Signs a message of `kind` with the domain tag of its kind.
pub fn sign(kind: InputKind, key: &SigningKey, msg: &impl Message) -> Input {
    let payload = msg.encode_to_vec();
    let signature = sig::sign(key, kind.domain(), &payload);
    Input { kind, signed: Signed::single(payload, public(key), signature) }
}

pub fn admin(key: &SigningKey, request_id: &str, op: wire::admin_request::Op) -> Input {
    sign(InputKind::Admin, key, &wire::AdminRequest { request_id: request_id.into(), op: Some(op) })
}

pub fn holder(key: &SigningKey, holder: &Uscc, request_id: &str, op: wire::holder_request::Op) -> Input {
    sign(
        InputKind::Holder,
        key,
        &wire::HolderRequest { request_id: request_id.into(), holder_id: holder.to_string(), op: Some(op) },
    )
}

pub fn finance(key: &SigningKey, request_id: &str, op: wire::finance_request::Op) -> Input {
    sign(InputKind::Finance, key, &wire::FinanceRequest { request_id: request_id.into(), op: Some(op) })
}

/// Flags in the order of `suanli entity register`.
pub fn flags(provider: bool, renter: bool, supplier: bool, opc: bool, data: bool) -> wire::Flags {
    wire::Flags { provider, renter_eligible: renter, supplier_eligible: supplier, opc, data_supplier: data }
}

pub fn register(id: &Uscc, name: &str, flags: wire::Flags, group: Option<&str>) -> wire::admin_request::Op {
    wire::admin_request::Op::RegisterEntity(wire::RegisterEntity {
        id: id.to_string(),
        name: name.into(),
        flags: Some(flags),
        related_group: group.unwrap_or_default().into(),
    })
}

pub fn add_key(id: &Uscc, key: &PublicKey) -> wire::admin_request::Op {
    wire::admin_request::Op::AddKey(wire::AddKey { id: id.to_string(), public_key: key.to_vec() })
}

#[allow(clippy::too_many_arguments)]
/// A usage record whose GPU count and span make its GPU-hours possible: 1000 GPUs (or
/// fewer for small records) over just enough whole hours, ending at `end`.
pub fn usage_record(
    record_id: &str,
    provider: &Uscc,
    renter: &Uscc,
    gpu_hours: &str,
    unit_price: &str,
    amount: &str,
    end: i64,
    voucher: Option<&str>,
) -> wire::UsageRecord {
    let hours: u64 = gpu_hours.split('.').next().and_then(|h| h.parse().ok()).unwrap_or(0) + 1;
    let gpu_count = hours.clamp(1, 1000);
    let span_hours = hours.div_ceil(gpu_count).max(1);
    wire::UsageRecord {
        record_id: record_id.into(),
        provider_id: provider.to_string(),
        renter_id: renter.to_string(),
        contract_id: String::new(),
        gpu_model: "H100".into(),
        gpu_count,
        start: end - (span_hours as i64) * 3600,
        end,
        gpu_hours: gpu_hours.into(),
        unit_price: unit_price.into(),
        amount: amount.into(),
        voucher_id: voucher.unwrap_or_default().into(),
        invoice_no: String::new(),
    }
}

pub fn reversal(provider: &Uscc, record_id: &str, reason: &str) -> wire::Reversal {
    wire::Reversal {
        provider_id: provider.to_string(),
        record_id: record_id.into(),
        reason: reason.into(),
        kind: wire::RecordKind::Usage as i32,
    }
}

/// A summary of a usage record accepted as entry `seq`; `tag` varies the money so that
/// different summaries differ.
pub fn record_summary(seq: u64, tag: u8) -> RecordSummary {
    let money = |s: &str| parse_decimal(s, 2).expect("test amount");
    RecordSummary {
        facts: RecordFacts {
            seq,
            kind: RecordKind::Usage,
            provider: uscc(1),
            renter: uscc(2),
            voucher_id: tag.is_multiple_of(2).then(|| format!("V-{tag}")),
            gpu_hours: parse_decimal("12.345678", 6).expect("test hours"),
            amount: money(&format!("{tag}.25")),
            lines: Lines {
                cap_year: 2026,
                voucher: money("10.00"),
                voucher_reason: LineReason::Voucher,
                renter: money("1.50"),
                renter_uncapped: money("1.50"),
                renter_reason: LineReason::Granted,
                supplier: money("0.75"),
                supplier_uncapped: money("2.00"),
                supplier_reason: LineReason::Capped,
            },
        },
        payload_hash: [tag; 32],
        reversed_by: None,
    }
}
