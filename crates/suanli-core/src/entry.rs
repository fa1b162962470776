//! Log entries and their versioned binary encoding (SPEC §9).
//!
//! An entry holds what came in, exactly as it was signed (payload bytes, public key,
//! signature — never re-serialized), the ledger's time when it was appended, and the
//! outcome the policy computed (every money line with its reason). Replaying the inputs
//! through the policy must reproduce the stored outcomes; the verifier checks that.
//!
//! Encoding, version 1 (all integers big-endian):
//! ```text
//! entry   = version:u8(=1) seq:u64 time_ms:i64 body
//! body    = tag:u8 ...    1 genesis | 2 usage | 3 corpus | 4 reversal | 5 admin | 6 holder | 7 finance
//!                         | 8 usage, batch-signed: signed proof lines
//! signed  = payload:bytes public_key:[32] signature:[64]
//! proof   = count:u32 index:u32 n:u8 n × hash:[32]   (the record's place in its signed batch)
//! lines   = cap_year:i32 v:fen v_reason:u8 r:fen r_uncapped:fen r_reason:u8 s:fen s_uncapped:fen s_reason:u8
//! bytes   = len:u32 data ;  fen = i64 count of 0.01 yuan
//! ```

use rust_decimal::Decimal;

use crate::codec::{DecodeError, Reader, Writer};
use crate::codes::LineReason;
use crate::ids::Uscc;
use crate::model::{PayableKind, PublicKey, RecordKind};
use crate::program::Program;

/// Encoding version written by this code.
pub const ENTRY_VERSION: u8 = 1;

/// A message as its signer sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    pub payload: Vec<u8>,
    pub public_key: PublicKey,
    pub signature: [u8; 64],
    /// For a usage record signed in a batch: its place in the batch, from which the signed
    /// batch head is rebuilt ([`crate::batch`]); `signature` is then the batch signature.
    pub batch: Option<crate::batch::BatchProof>,
}

impl Signed {
    /// A message signed on its own.
    pub fn single(payload: Vec<u8>, public_key: PublicKey, signature: [u8; 64]) -> Signed {
        Signed { payload, public_key, signature, batch: None }
    }
}

/// The first entry: the program and the keys of the roles, fixed for the ledger's life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Genesis {
    /// The program file in canonical form (`Program::to_toml`).
    pub program_toml: String,
    pub admin_key: PublicKey,
    pub finance_key: PublicKey,
    /// The key that signs checkpoints and reports.
    pub ledger_key: PublicKey,
    /// The checkpoint origin line, naming this log.
    pub origin: String,
}

impl Genesis {
    pub fn program(&self) -> Program {
        Program::from_toml(&self.program_toml).expect("genesis program was validated when the ledger was created")
    }
}

/// The three money lines of an accepted record, with the reason of each (SPEC §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lines {
    pub cap_year: i32,
    pub voucher: Decimal,
    pub voucher_reason: LineReason,
    pub renter: Decimal,
    pub renter_uncapped: Decimal,
    pub renter_reason: LineReason,
    pub supplier: Decimal,
    pub supplier_uncapped: Decimal,
    pub supplier_reason: LineReason,
}

impl Lines {
    /// `V_REASON|R_REASON|S_REASON`, as the CLI prints it.
    pub fn reasons(&self) -> String {
        format!("{}|{}|{}", self.voucher_reason, self.renter_reason, self.supplier_reason)
    }
}

/// What the ledger knows of an accepted record after the fact: enough to reverse it, to
/// answer a retry, and to subtract it from a report without reading the record again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordFacts {
    pub seq: u64,
    pub kind: RecordKind,
    pub provider: Uscc,
    /// The renter of a usage record, the buyer of a corpus purchase.
    pub renter: Uscc,
    pub voucher_id: Option<String>,
    pub gpu_hours: Decimal,
    pub amount: Decimal,
    pub lines: Lines,
}

/// One line of a closed settlement period: what is owed to one payee, of one kind, for
/// one cap year. A negative amount is a claw-back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementLine {
    pub payee: Uscc,
    pub kind: PayableKind,
    pub year: i32,
    pub amount: Decimal,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    Genesis(Genesis),
    Usage {
        input: Signed,
        lines: Lines,
    },
    Corpus {
        input: Signed,
        lines: Lines,
    },
    /// The reversed record's facts, as they were when it was accepted.
    Reversal {
        input: Signed,
        reversed: RecordFacts,
        returned_to_voucher: bool,
    },
    Admin {
        input: Signed,
    },
    Holder {
        input: Signed,
    },
    /// For a period close, the statement lines it gathered; empty otherwise.
    Finance {
        input: Signed,
        statement: Vec<StatementLine>,
    },
}

impl Body {
    fn tag(&self) -> u8 {
        match self {
            Body::Genesis(_) => 1,
            Body::Usage { input, .. } if input.batch.is_some() => 8,
            Body::Usage { .. } => 2,
            Body::Corpus { .. } => 3,
            Body::Reversal { .. } => 4,
            Body::Admin { .. } => 5,
            Body::Holder { .. } => 6,
            Body::Finance { .. } => 7,
        }
    }

    pub fn kind_name(&self) -> &'static str {
        match self {
            Body::Genesis(_) => "genesis",
            Body::Usage { .. } => "usage",
            Body::Corpus { .. } => "corpus",
            Body::Reversal { .. } => "reversal",
            Body::Admin { .. } => "admin",
            Body::Holder { .. } => "holder",
            Body::Finance { .. } => "finance",
        }
    }

    pub fn signed(&self) -> Option<&Signed> {
        match self {
            Body::Genesis(_) => None,
            Body::Usage { input, .. }
            | Body::Corpus { input, .. }
            | Body::Reversal { input, .. }
            | Body::Admin { input }
            | Body::Holder { input }
            | Body::Finance { input, .. } => Some(input),
        }
    }
}

/// One entry of the append-only log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub seq: u64,
    /// The ledger's clock when the entry was appended, Unix milliseconds. Never decreases.
    pub time_ms: i64,
    pub body: Body,
}

/// Writes a signed input; only a usage record (tag 8) may carry a batch proof.
fn put_signed(w: &mut Writer, s: &Signed) {
    w.bytes(&s.payload).fixed(&s.public_key).fixed(&s.signature);
}

fn put_single(w: &mut Writer, s: &Signed) {
    assert!(s.batch.is_none(), "only usage records are signed in batches");
    put_signed(w, s);
}

fn put_proof(w: &mut Writer, p: &crate::batch::BatchProof) {
    w.u32(p.count).u32(p.index).u8(u8::try_from(p.path.len()).expect("a batch path is at most 6 hashes"));
    for h in &p.path {
        w.fixed(h);
    }
}

fn get_proof(r: &mut Reader<'_>) -> Result<crate::batch::BatchProof, DecodeError> {
    let count = r.u32("batch count")?;
    let index = r.u32("batch index")?;
    let n = r.u8("batch path length")? as usize;
    if n > crate::batch::BATCH_PATH_MAX {
        return Err(DecodeError::Invalid("batch path length"));
    }
    let mut path = Vec::with_capacity(n);
    for _ in 0..n {
        path.push(r.fixed("batch path")?);
    }
    Ok(crate::batch::BatchProof { count, index, path })
}

fn get_signed(r: &mut Reader<'_>) -> Result<Signed, DecodeError> {
    Ok(Signed {
        payload: r.bytes("payload")?.to_vec(),
        public_key: r.fixed("public_key")?,
        signature: r.fixed("signature")?,
        batch: None,
    })
}

fn reason(r: &mut Reader<'_>, what: &'static str) -> Result<LineReason, DecodeError> {
    LineReason::from_byte(r.u8(what)?).ok_or(DecodeError::Invalid(what))
}

pub fn put_lines(w: &mut Writer, l: &Lines) {
    w.i32(l.cap_year)
        .money(l.voucher)
        .u8(l.voucher_reason.to_byte())
        .money(l.renter)
        .money(l.renter_uncapped)
        .u8(l.renter_reason.to_byte())
        .money(l.supplier)
        .money(l.supplier_uncapped)
        .u8(l.supplier_reason.to_byte());
}

pub fn get_lines(r: &mut Reader<'_>) -> Result<Lines, DecodeError> {
    Ok(Lines {
        cap_year: r.i32("cap_year")?,
        voucher: r.money("voucher")?,
        voucher_reason: reason(r, "voucher_reason")?,
        renter: r.money("renter")?,
        renter_uncapped: r.money("renter_uncapped")?,
        renter_reason: reason(r, "renter_reason")?,
        supplier: r.money("supplier")?,
        supplier_uncapped: r.money("supplier_uncapped")?,
        supplier_reason: reason(r, "supplier_reason")?,
    })
}

pub fn put_facts(w: &mut Writer, f: &RecordFacts) {
    w.u64(f.seq)
        .u8(f.kind.to_byte())
        .uscc(&f.provider)
        .uscc(&f.renter)
        .opt_str(f.voucher_id.as_deref())
        .micros(f.gpu_hours)
        .money(f.amount);
    put_lines(w, &f.lines);
}

pub fn get_facts(r: &mut Reader<'_>) -> Result<RecordFacts, DecodeError> {
    Ok(RecordFacts {
        seq: r.u64("facts.seq")?,
        kind: RecordKind::from_byte(r.u8("facts.kind")?).ok_or(DecodeError::Invalid("facts.kind"))?,
        provider: r.uscc("facts.provider")?,
        renter: r.uscc("facts.renter")?,
        voucher_id: r.opt_string("facts.voucher_id")?,
        gpu_hours: r.micros("facts.gpu_hours")?,
        amount: r.money("facts.amount")?,
        lines: get_lines(r)?,
    })
}

pub fn put_statement_line(w: &mut Writer, l: &StatementLine) {
    w.uscc(&l.payee).u8(l.kind.to_byte()).i32(l.year).money(l.amount);
}

pub fn get_statement_line(r: &mut Reader<'_>) -> Result<StatementLine, DecodeError> {
    Ok(StatementLine {
        payee: r.uscc("line.payee")?,
        kind: PayableKind::from_byte(r.u8("line.kind")?).ok_or(DecodeError::Invalid("line.kind"))?,
        year: r.i32("line.year")?,
        amount: r.money("line.amount")?,
    })
}

impl Entry {
    /// The entry's bytes: what the Merkle leaf hashes and what the store keeps.
    pub fn encode(&self) -> Vec<u8> {
        // Room for a usage record's entry in one allocation (it outgrew the default twice):
        // header, payload with its length, key, signature, batch proof, money lines.
        let mut w = match &self.body {
            Body::Usage { input, .. } => Writer::with_capacity(
                32 + (4 + input.payload.len() + 32 + 64)
                    + input.batch.as_ref().map_or(0, |p| 9 + 32 * p.path.len())
                    + 64,
            ),
            _ => Writer::new(),
        };
        w.u8(ENTRY_VERSION).u64(self.seq).i64(self.time_ms).u8(self.body.tag());
        match &self.body {
            Body::Genesis(g) => {
                w.str(&g.program_toml).fixed(&g.admin_key).fixed(&g.finance_key).fixed(&g.ledger_key).str(&g.origin);
            }
            Body::Usage { input, lines } => {
                put_signed(&mut w, input);
                if let Some(p) = &input.batch {
                    put_proof(&mut w, p);
                }
                put_lines(&mut w, lines);
            }
            Body::Corpus { input, lines } => {
                put_single(&mut w, input);
                put_lines(&mut w, lines);
            }
            Body::Reversal { input, reversed, returned_to_voucher } => {
                put_single(&mut w, input);
                put_facts(&mut w, reversed);
                w.bool(*returned_to_voucher);
            }
            Body::Admin { input } | Body::Holder { input } => put_single(&mut w, input),
            Body::Finance { input, statement } => {
                put_single(&mut w, input);
                w.u32(statement.len() as u32);
                for l in statement {
                    put_statement_line(&mut w, l);
                }
            }
        }
        w.finish()
    }

    /// Decodes an entry strictly: one encoding per entry, nothing left over.
    pub fn decode(bytes: &[u8]) -> Result<Entry, DecodeError> {
        let mut r = Reader::new(bytes);
        let version = r.u8("version")?;
        if version != ENTRY_VERSION {
            return Err(DecodeError::Version(version));
        }
        let seq = r.u64("seq")?;
        let time_ms = r.i64("time_ms")?;
        let body = match r.u8("body tag")? {
            1 => Body::Genesis(Genesis {
                program_toml: r.string("program")?,
                admin_key: r.fixed("admin_key")?,
                finance_key: r.fixed("finance_key")?,
                ledger_key: r.fixed("ledger_key")?,
                origin: r.string("origin")?,
            }),
            2 => Body::Usage { input: get_signed(&mut r)?, lines: get_lines(&mut r)? },
            8 => {
                let mut input = get_signed(&mut r)?;
                input.batch = Some(get_proof(&mut r)?);
                Body::Usage { input, lines: get_lines(&mut r)? }
            }
            3 => Body::Corpus { input: get_signed(&mut r)?, lines: get_lines(&mut r)? },
            4 => Body::Reversal {
                input: get_signed(&mut r)?,
                reversed: get_facts(&mut r)?,
                returned_to_voucher: r.bool("returned_to_voucher")?,
            },
            5 => Body::Admin { input: get_signed(&mut r)? },
            6 => Body::Holder { input: get_signed(&mut r)? },
            7 => {
                let input = get_signed(&mut r)?;
                let n = r.u32("statement length")? as usize;
                // Each line takes 31 bytes; a count beyond what is left is corrupt.
                if n > r.remaining() / 31 {
                    return Err(DecodeError::Invalid("statement length"));
                }
                let mut statement = Vec::with_capacity(n);
                for _ in 0..n {
                    statement.push(get_statement_line(&mut r)?);
                }
                Body::Finance { input, statement }
            }
            _ => return Err(DecodeError::Invalid("body tag")),
        };
        r.finish()?;
        Ok(Entry { seq, time_ms, body })
    }
}
