//! Conversions between the core's values and the wire messages, and the one place where
//! the ledger's answers and errors become gRPC messages and status codes.

use suanli_core::entry::{Lines, Signed};
use suanli_core::ledger::{Answer, Input, InputKind};
use suanli_core::money::fmt_money;

use crate::v1;

/// Where a voucher stands at `now` (Unix seconds): the one rule behind the state the ledger
/// reports in `ListAllVouchers` and the one the CLI shows for a holder's own list.
pub fn voucher_state(revoked: bool, valid_from: i64, valid_until: i64, now: i64) -> v1::VoucherState {
    if revoked {
        v1::VoucherState::Revoked
    } else if now >= valid_until {
        v1::VoucherState::Lapsed
    } else if now < valid_from {
        v1::VoucherState::Pending
    } else {
        v1::VoucherState::Active
    }
}

pub fn money_lines(l: &Lines) -> v1::MoneyLines {
    v1::MoneyLines {
        voucher_drawn: fmt_money(l.voucher),
        voucher_reason: l.voucher_reason.as_str().into(),
        renter_subsidy: fmt_money(l.renter),
        renter_subsidy_uncapped: fmt_money(l.renter_uncapped),
        renter_reason: l.renter_reason.as_str().into(),
        supplier_subsidy: fmt_money(l.supplier),
        supplier_subsidy_uncapped: fmt_money(l.supplier_uncapped),
        supplier_reason: l.supplier_reason.as_str().into(),
        cap_year: l.cap_year,
    }
}

/// The ack of the message at `index` of its stream or batch.
pub fn ack(index: u64, answer: &Answer) -> v1::Ack {
    match answer {
        Answer::Accepted { seq, lines } => v1::Ack {
            index,
            status: v1::Status::Accepted as i32,
            seq: *seq,
            lines: lines.as_ref().map(money_lines),
            ..Default::default()
        },
        Answer::Duplicate { seq, lines } => v1::Ack {
            index,
            status: v1::Status::Duplicate as i32,
            seq: *seq,
            lines: lines.as_ref().map(money_lines),
            detail: format!("already accepted as entry {seq}; nothing changed"),
            ..Default::default()
        },
        Answer::Rejected(r) => v1::Ack {
            index,
            status: v1::Status::Rejected as i32,
            reason: r.code.as_str().into(),
            detail: r.detail.clone(),
            ..Default::default()
        },
    }
}

/// Why an envelope cannot even be checked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("public_key must be 32 bytes, got {0}")]
    PublicKey(usize),
    #[error("signature must be 64 bytes, got {0}")]
    Signature(usize),
    #[error("payload is {0} bytes; at most {1} are accepted")]
    TooLarge(usize, usize),
}

/// Turns an envelope into a core input, checking only its shape.
pub fn input(kind: InputKind, env: v1::Envelope, payload_bytes_max: usize) -> Result<Input, EnvelopeError> {
    let public_key: [u8; 32] =
        env.public_key.as_slice().try_into().map_err(|_| EnvelopeError::PublicKey(env.public_key.len()))?;
    let signature: [u8; 64] =
        env.signature.as_slice().try_into().map_err(|_| EnvelopeError::Signature(env.signature.len()))?;
    if env.payload.len() > payload_bytes_max {
        return Err(EnvelopeError::TooLarge(env.payload.len(), payload_bytes_max));
    }
    Ok(Input { kind, signed: Signed::single(env.payload, public_key, signature) })
}
