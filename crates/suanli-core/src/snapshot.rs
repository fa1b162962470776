//! State snapshots: the whole in-memory [`Ledger`] as bytes, so a restart replays only
//! the entries after the snapshot instead of the whole log. A snapshot is a cache of the
//! log, never a source of truth: the server replays the entries after it, checks the
//! Merkle root, and can always rebuild from entry 0.
//!
//! Derived totals (face value issued per holder and kind) are not stored but recomputed,
//! so they cannot disagree with the vouchers they sum.

use std::collections::{BTreeMap, BTreeSet};

use crate::codec::{DecodeError, Reader, Writer};
use crate::entry::{Body, Entry, get_statement_line, put_statement_line};
use crate::ledger::{Ledger, PayoutRecord, Period, PeriodLine};
use crate::model::{Authorization, Entity, Flags, KeyState, PayableKind, Voucher, VoucherKind};

/// Encoding version of snapshots written by this code.
pub const SNAPSHOT_VERSION: u8 = 1;

fn put_len(w: &mut Writer, n: usize) {
    w.u32(u32::try_from(n).expect("collections in a snapshot fit in u32"));
}

fn get_len(r: &mut Reader<'_>, what: &'static str, min_item_bytes: usize) -> Result<usize, DecodeError> {
    let n = r.u32(what)? as usize;
    if n.saturating_mul(min_item_bytes) > r.remaining() {
        return Err(DecodeError::Invalid(what));
    }
    Ok(n)
}

fn put_flags(w: &mut Writer, f: &Flags) {
    let bits = u8::from(f.provider)
        | u8::from(f.renter_eligible) << 1
        | u8::from(f.supplier_eligible) << 2
        | u8::from(f.opc) << 3
        | u8::from(f.data_supplier) << 4;
    w.u8(bits);
}

fn get_flags(r: &mut Reader<'_>) -> Result<Flags, DecodeError> {
    let b = r.u8("flags")?;
    if b >> 5 != 0 {
        return Err(DecodeError::Invalid("flags"));
    }
    Ok(Flags {
        provider: b & 1 != 0,
        renter_eligible: b & 2 != 0,
        supplier_eligible: b & 4 != 0,
        opc: b & 8 != 0,
        data_supplier: b & 16 != 0,
    })
}

fn payable_kind(r: &mut Reader<'_>) -> Result<PayableKind, DecodeError> {
    PayableKind::from_byte(r.u8("payable kind")?).ok_or(DecodeError::Invalid("payable kind"))
}

impl Ledger {
    /// The ledger's state as bytes. The genesis entry travels inside, so a snapshot alone
    /// is enough to resume.
    pub fn encode_snapshot(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.u8(SNAPSHOT_VERSION);
        let genesis = Entry { seq: 0, time_ms: 0, body: Body::Genesis(self.genesis.clone()) };
        w.bytes(&genesis.encode());
        w.u64(self.next_seq).i64(self.last_time_ms);

        put_len(&mut w, self.entities.len());
        for e in self.entities.values() {
            w.uscc(&e.id).str(&e.name);
            put_flags(&mut w, &e.flags);
            w.opt_str(e.related_group.as_deref());
            put_len(&mut w, e.keys.len());
            for k in &e.keys {
                w.fixed(k).bool(self.keys[k].revoked);
            }
        }

        put_len(&mut w, self.vouchers.len());
        for v in self.vouchers.values() {
            w.str(&v.id).uscc(&v.holder).u8(v.kind.to_byte()).money(v.face_value);
            w.i64(v.valid_from).i64(v.valid_until).bool(v.revoked).money(v.drawn).money(v.lapsed_returns);
            put_len(&mut w, v.authorizations.len());
            for (p, a) in &v.authorizations {
                w.uscc(p).opt_money(a.limit).money(a.drawn).bool(a.withdrawn);
            }
        }

        for map in [&self.renter_used, &self.supplier_used] {
            put_len(&mut w, map.len());
            for ((u, y), amount) in map {
                w.uscc(u).i32(*y).money(*amount);
            }
        }
        put_len(&mut w, self.budget_used.len());
        for (y, amount) in &self.budget_used {
            w.i32(*y).money(*amount);
        }
        put_len(&mut w, self.unsettled.len());
        for ((u, k, y), amount) in &self.unsettled {
            w.uscc(u).u8(k.to_byte()).i32(*y).money(*amount);
        }

        put_len(&mut w, self.periods.len());
        for p in &self.periods {
            w.str(&p.name).u64(p.closed_at);
            put_len(&mut w, p.lines.len());
            for l in p.lines.values() {
                put_statement_line(&mut w, &l.line);
                w.money(l.paid);
            }
        }
        put_len(&mut w, self.payouts.len());
        for (bank_ref, p) in &self.payouts {
            w.str(bank_ref).u64(p.seq).str(&p.period).uscc(&p.payee).u8(p.kind.to_byte()).i32(p.year).money(p.amount);
        }
        put_len(&mut w, self.closed_years.len());
        for y in &self.closed_years {
            w.i32(*y);
        }
        w.finish()
    }

    /// Rebuilds a ledger from [`Ledger::encode_snapshot`] bytes.
    pub fn decode_snapshot(bytes: &[u8]) -> Result<Ledger, DecodeError> {
        let mut r = Reader::new(bytes);
        let version = r.u8("snapshot version")?;
        if version != SNAPSHOT_VERSION {
            return Err(DecodeError::Version(version));
        }
        let genesis = Entry::decode(r.bytes("genesis")?)?;
        let mut ledger = Ledger::from_genesis(&genesis).map_err(|_| DecodeError::Invalid("genesis"))?;
        ledger.next_seq = r.u64("next_seq")?;
        ledger.last_time_ms = r.i64("last_time_ms")?;

        let n = get_len(&mut r, "entities", 20)?;
        for _ in 0..n {
            let id = r.uscc("entity id")?;
            let name = r.string("entity name")?;
            let flags = get_flags(&mut r)?;
            let related_group = r.opt_string("related group")?;
            let nk = get_len(&mut r, "keys", 33)?;
            let mut keys = Vec::with_capacity(nk);
            for _ in 0..nk {
                let k: [u8; 32] = r.fixed("key")?;
                let revoked = r.bool("key revoked")?;
                if ledger.keys.insert(k, KeyState { owner: id, revoked }).is_some() {
                    return Err(DecodeError::Invalid("key listed twice"));
                }
                keys.push(k);
            }
            if ledger.entities.insert(id, Entity { id, name, flags, related_group, keys }).is_some() {
                return Err(DecodeError::Invalid("entity listed twice"));
            }
        }

        let n = get_len(&mut r, "vouchers", 40)?;
        for _ in 0..n {
            let id = r.string("voucher id")?;
            let holder = r.uscc("holder")?;
            let kind = VoucherKind::from_byte(r.u8("voucher kind")?).ok_or(DecodeError::Invalid("voucher kind"))?;
            let face_value = r.money("face value")?;
            let valid_from = r.i64("valid_from")?;
            let valid_until = r.i64("valid_until")?;
            let revoked = r.bool("revoked")?;
            let drawn = r.money("drawn")?;
            let lapsed_returns = r.money("lapsed returns")?;
            let na = get_len(&mut r, "authorizations", 28)?;
            let mut authorizations = BTreeMap::new();
            for _ in 0..na {
                let p = r.uscc("authorized provider")?;
                let a = Authorization {
                    limit: r.opt_money("limit")?,
                    drawn: r.money("authorization drawn")?,
                    withdrawn: r.bool("withdrawn")?,
                };
                authorizations.insert(p, a);
            }
            *ledger.holder_issued.entry((holder, kind)).or_default() += face_value;
            *ledger.kind_issued.entry(kind).or_default() += face_value;
            let v = Voucher {
                id: id.clone(),
                holder,
                kind,
                face_value,
                valid_from,
                valid_until,
                revoked,
                drawn,
                lapsed_returns,
                authorizations,
            };
            if ledger.vouchers.insert(id, v).is_some() {
                return Err(DecodeError::Invalid("voucher listed twice"));
            }
        }

        for which in 0..2 {
            let n = get_len(&mut r, "cap use", 30)?;
            let mut map = BTreeMap::new();
            for _ in 0..n {
                let u = r.uscc("cap use entity")?;
                let y = r.i32("cap use year")?;
                map.insert((u, y), r.money("cap use amount")?);
            }
            if which == 0 {
                ledger.renter_used = map;
            } else {
                ledger.supplier_used = map;
            }
        }
        let n = get_len(&mut r, "budget use", 12)?;
        for _ in 0..n {
            let y = r.i32("budget year")?;
            ledger.budget_used.insert(y, r.money("budget used")?);
        }
        let n = get_len(&mut r, "unsettled", 31)?;
        for _ in 0..n {
            let u = r.uscc("payee")?;
            let k = payable_kind(&mut r)?;
            let y = r.i32("year")?;
            ledger.unsettled.insert((u, k, y), r.money("unsettled")?);
        }

        let n = get_len(&mut r, "periods", 16)?;
        for _ in 0..n {
            let name = r.string("period name")?;
            let closed_at = r.u64("closed_at")?;
            let nl = get_len(&mut r, "period lines", 39)?;
            let mut lines = BTreeMap::new();
            for _ in 0..nl {
                let line = get_statement_line(&mut r)?;
                let paid = r.money("paid")?;
                lines.insert((line.payee, line.kind, line.year), PeriodLine { line, paid });
            }
            ledger.periods.push(Period { name, closed_at, lines });
        }
        let n = get_len(&mut r, "payouts", 40)?;
        for _ in 0..n {
            let bank_ref = r.string("bank ref")?;
            let p = PayoutRecord {
                seq: r.u64("payout seq")?,
                period: r.string("payout period")?,
                payee: r.uscc("payout payee")?,
                kind: payable_kind(&mut r)?,
                year: r.i32("payout year")?,
                amount: r.money("payout amount")?,
            };
            ledger.payouts.insert(bank_ref, p);
        }
        let n = get_len(&mut r, "closed years", 4)?;
        let mut closed = BTreeSet::new();
        for _ in 0..n {
            closed.insert(r.i32("closed year")?);
        }
        ledger.closed_years = closed;
        r.finish()?;
        Ok(ledger)
    }
}
