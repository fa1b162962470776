//! The things the ledger keeps track of: entities and their keys, vouchers and their
//! authorizations, and the small enums that classify records and payables.

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use crate::ids::Uscc;

/// An ed25519 public key; it is also the key's id on the wire.
pub type PublicKey = [u8; 32];

/// What an entity may do and earn (SPEC §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Flags {
    pub provider: bool,
    pub renter_eligible: bool,
    pub supplier_eligible: bool,
    pub opc: bool,
    pub data_supplier: bool,
}

/// A registered company.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entity {
    pub id: Uscc,
    pub name: String,
    pub flags: Flags,
    pub related_group: Option<String>,
    /// Every key ever added, in the order added; revocation is in [`KeyState`].
    pub keys: Vec<PublicKey>,
}

/// Who owns a key, and whether it still signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyState {
    pub owner: Uscc,
    pub revoked: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum VoucherKind {
    Compute,
    Corpus,
}

impl VoucherKind {
    pub fn as_str(self) -> &'static str {
        match self {
            VoucherKind::Compute => "compute",
            VoucherKind::Corpus => "corpus",
        }
    }
    pub fn to_byte(self) -> u8 {
        match self {
            VoucherKind::Compute => 1,
            VoucherKind::Corpus => 2,
        }
    }
    pub fn from_byte(b: u8) -> Option<Self> {
        match b {
            1 => Some(VoucherKind::Compute),
            2 => Some(VoucherKind::Corpus),
            _ => None,
        }
    }
}

/// A provider's (or data supplier's) permission to draw on a voucher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    /// `None`: no limit beyond the voucher's balance.
    pub limit: Option<Decimal>,
    /// Everything this provider has drawn on the voucher, net of returned reversals.
    pub drawn: Decimal,
    pub withdrawn: bool,
}

impl Authorization {
    /// What this provider may still draw, ignoring the voucher's balance.
    pub fn left(&self) -> Option<Decimal> {
        self.limit.map(|l| (l - self.drawn).max(Decimal::ZERO))
    }
}

/// A compute or corpus voucher (算力券 / 语料券, SPEC §7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Voucher {
    pub id: String,
    pub holder: Uscc,
    pub kind: VoucherKind,
    pub face_value: Decimal,
    pub valid_from: i64,
    pub valid_until: i64,
    pub revoked: bool,
    /// Net of reversals: what the voucher has paid out and still stands.
    pub drawn: Decimal,
    /// Draws reversed after the voucher closed (revoked or past `valid_until`): they do
    /// not come back to the balance; they lapse (SPEC §8).
    pub lapsed_returns: Decimal,
    pub authorizations: BTreeMap<Uscc, Authorization>,
}

impl Voucher {
    /// Whether the voucher can still pay (and take back reversed draws) at `unix` seconds.
    pub fn open_at(&self, unix: i64) -> bool {
        !self.revoked && unix < self.valid_until
    }
    /// What the voucher can still pay to a valid record.
    pub fn available(&self) -> Decimal {
        self.face_value - self.drawn - self.lapsed_returns
    }
    /// What is left to draw at `unix`: nothing once revoked or past `valid_until`.
    pub fn balance_at(&self, unix: i64) -> Decimal {
        if self.open_at(unix) { self.available() } else { Decimal::ZERO }
    }
    /// What lapsed: everything not drawn, once the voucher is revoked or expired.
    pub fn lapsed_at(&self, unix: i64) -> Decimal {
        if self.open_at(unix) { self.lapsed_returns } else { self.face_value - self.drawn }
    }
}

/// Whose money a payable is (SPEC §6, the three payables of a record).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PayableKind {
    /// Renter subsidy, paid to the renter.
    Renter,
    /// Supplier subsidy, paid to the provider.
    Supplier,
    /// Voucher reimbursement, paid to the provider or data supplier.
    Voucher,
}

impl PayableKind {
    pub const ALL: [PayableKind; 3] = [PayableKind::Renter, PayableKind::Supplier, PayableKind::Voucher];
    pub fn as_str(self) -> &'static str {
        match self {
            PayableKind::Renter => "renter",
            PayableKind::Supplier => "supplier",
            PayableKind::Voucher => "voucher",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        PayableKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
    pub fn to_byte(self) -> u8 {
        match self {
            PayableKind::Renter => 1,
            PayableKind::Supplier => 2,
            PayableKind::Voucher => 3,
        }
    }
    pub fn from_byte(b: u8) -> Option<Self> {
        PayableKind::ALL.into_iter().find(|k| k.to_byte() == b)
    }
}

/// Usage records and corpus-purchase records are deduplicated in separate namespaces:
/// a company that both rents out GPUs and sells data may reuse its own ids across the two.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RecordKind {
    Usage,
    Corpus,
}

impl RecordKind {
    pub fn to_byte(self) -> u8 {
        match self {
            RecordKind::Usage => 1,
            RecordKind::Corpus => 2,
        }
    }
    pub fn from_byte(b: u8) -> Option<Self> {
        match b {
            1 => Some(RecordKind::Usage),
            2 => Some(RecordKind::Corpus),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Usage => "usage",
            RecordKind::Corpus => "corpus",
        }
    }
}
