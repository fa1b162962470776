//! Which log entries concern each company, and what its statement totals are, kept
//! incrementally from the same [`Fact`]s the finance dashboard counts.
//!
//! A company's statement (`suanli statement`, the console's statement and founder views)
//! lists the records it rented, supplied or bought, the reversals of those and the payouts
//! to it. Reading the whole log for one company costs seconds at a million records; this
//! index keeps, per company and cap year, the sequence numbers of those entries and the
//! running totals of the statement's `total` rows (renter subsidy, supplier subsidy, voucher
//! reimbursement, paid), so that a view reads one page of its own entries and the totals
//! without touching anything else. It holds nothing that is not in the log: it is rebuilt
//! from the log after a restart and compared with the full-log statement in the tests.
//!
//! Memory: sequence numbers are kept bit-packed in blocks ([`SeqList`], see
//! [`crate::packed`]), one to four bytes per record per company it concerns (a provider's
//! entries lie close together, a small renter's far apart). Sealed blocks go to a
//! [`Spill`] — in the server a scratch file, so that what stays in memory is one line per
//! company and cap year, its open block (at most 4 KiB) and 16 bytes per 512 entries.

use std::collections::{BTreeMap, HashMap};

use rust_decimal::Decimal;

use crate::dashboard::{Fact, FactKind};
use crate::ids::Uscc;

pub use crate::packed::{SeqList, Spill};

/// The statement's `total` row of one cap year.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    pub renter_subsidy: Decimal,
    pub supplier_subsidy: Decimal,
    pub voucher_reimbursement: Decimal,
    pub paid: Decimal,
}

impl Totals {
    pub fn accrued(&self) -> Decimal {
        self.renter_subsidy + self.supplier_subsidy + self.voucher_reimbursement
    }

    pub fn owed(&self) -> Decimal {
        self.accrued() - self.paid
    }
}

#[derive(Debug, Default)]
struct Year {
    seqs: SeqList,
    totals: Totals,
}

#[derive(Debug, Default)]
struct Company {
    years: BTreeMap<i32, Year>,
    /// Records and reversals in which the company, as renter or buyer, drew on a voucher.
    draws: SeqList,
}

/// The index: per company, per cap year, its entries and totals.
#[derive(Debug, Default)]
pub struct EntityIndex {
    companies: HashMap<Uscc, Company>,
    /// Where the lists' sealed blocks are (memory unless [`EntityIndex::with_spill`]).
    spill: Spill,
}

impl EntityIndex {
    /// An empty index whose lists keep their sealed blocks in `spill` (the server gives it
    /// a scratch file).
    pub fn with_spill(spill: Spill) -> EntityIndex {
        EntityIndex { companies: HashMap::new(), spill }
    }

    /// Bytes of sequence numbers moved out to the spill.
    pub fn spilled_bytes(&self) -> u64 {
        self.spill.bytes()
    }

    /// Counts one entry (in log order; the caller keeps the order, as the dashboard does).
    /// Fails only if a sealed block cannot be written to the spill; the entry is then not
    /// fully counted and the index should not be used any more.
    pub fn apply(&mut self, fact: &Fact) -> std::io::Result<()> {
        let seq = fact.seq;
        match &fact.what {
            FactKind::Nothing => Ok(()),
            FactKind::Record { renter, provider, lines, .. } => self.line(seq, *renter, *provider, lines, Decimal::ONE),
            FactKind::Reversal { renter, provider, lines, .. } => {
                self.line(seq, *renter, *provider, lines, Decimal::NEGATIVE_ONE)
            }
            FactKind::Payout { payee, year, amount } => {
                let y = self.companies.entry(*payee).or_default().years.entry(*year).or_default();
                y.totals.paid += *amount;
                y.seqs.push(seq, &mut self.spill)
            }
        }
    }

    fn line(
        &mut self,
        seq: u64,
        renter: Uscc,
        provider: Uscc,
        lines: &crate::entry::Lines,
        sign: Decimal,
    ) -> std::io::Result<()> {
        let EntityIndex { companies, spill } = self;
        let r = companies.entry(renter).or_default();
        if !lines.voucher.is_zero() {
            r.draws.push(seq, spill)?;
        }
        let y = r.years.entry(lines.cap_year).or_default();
        y.totals.renter_subsidy += crate::money::times_sign(lines.renter, sign);
        y.seqs.push(seq, spill)?;
        let y = companies.entry(provider).or_default().years.entry(lines.cap_year).or_default();
        y.totals.supplier_subsidy += crate::money::times_sign(lines.supplier, sign);
        y.totals.voucher_reimbursement += crate::money::times_sign(lines.voucher, sign);
        y.seqs.push(seq, spill)
    }

    /// The company's totals per cap year (`year`: only that one), oldest first.
    pub fn totals(&self, id: &Uscc, year: Option<i32>) -> Vec<(i32, Totals)> {
        let Some(c) = self.companies.get(id) else { return Vec::new() };
        c.years.iter().filter(|(y, _)| year.is_none_or(|want| want == **y)).map(|(y, v)| (*y, v.totals)).collect()
    }

    /// How many statement rows the company has (`year`: in that cap year), below `below`.
    pub fn count(&self, id: &Uscc, year: Option<i32>, below: u64) -> std::io::Result<usize> {
        let Some(c) = self.companies.get(id) else { return Ok(0) };
        let mut n = 0;
        for (_, v) in c.years.iter().filter(|(y, _)| year.is_none_or(|want| want == **y)) {
            n += v.seqs.count_below(below, &self.spill)?;
        }
        Ok(n)
    }

    /// The company's entries (`year`: of that cap year) below `below`, in log order.
    pub fn seqs(&self, id: &Uscc, year: Option<i32>, below: u64) -> std::io::Result<Vec<u64>> {
        let mut v = self.newest(id, year, below, 0, usize::MAX)?;
        v.reverse();
        Ok(v)
    }

    /// One page of the company's entries below `below`, newest first: `skip` newest ones
    /// left out, then at most `take`.
    pub fn newest(
        &self,
        id: &Uscc,
        year: Option<i32>,
        below: u64,
        skip: usize,
        take: usize,
    ) -> std::io::Result<Vec<u64>> {
        let Some(c) = self.companies.get(id) else { return Ok(Vec::new()) };
        // A merge, from the end, of the cap years' lists (a handful of years), each read
        // through a reader that keeps the block it is in.
        let lists: Vec<&SeqList> =
            c.years.iter().filter(|(y, _)| year.is_none_or(|want| want == **y)).map(|(_, v)| &v.seqs).collect();
        let mut readers: Vec<_> = lists.iter().map(|l| l.reader(&self.spill)).collect();
        let mut at = Vec::with_capacity(lists.len());
        for r in &mut readers {
            at.push(r.count_below(below)?);
        }
        // Each list's next element from the end (the one at `at[i] - 1`).
        let mut heads = Vec::with_capacity(lists.len());
        for (r, &n) in readers.iter_mut().zip(&at) {
            heads.push(if n > 0 { r.get(n - 1)? } else { None });
        }
        let mut out = Vec::new();
        let mut skipped = 0;
        while out.len() < take {
            let next = (0..lists.len()).filter(|&i| heads[i].is_some()).max_by_key(|&i| heads[i]);
            let Some(i) = next else { break };
            let seq = heads[i].expect("chosen because present");
            at[i] -= 1;
            heads[i] = if at[i] > 0 { readers[i].get(at[i] - 1)? } else { None };
            // A record in two cap years' lists cannot happen (one record, one cap year),
            // but a repeat would only be shown once.
            if out.last() == Some(&seq) {
                continue;
            }
            if skipped < skip {
                skipped += 1;
            } else {
                out.push(seq);
            }
        }
        Ok(out)
    }

    /// The company's latest voucher draws below `below`, newest first (at most `take`), and
    /// how many there are in all.
    pub fn draws(&self, id: &Uscc, below: u64, take: usize) -> std::io::Result<(Vec<u64>, usize)> {
        let Some(c) = self.companies.get(id) else { return Ok((Vec::new(), 0)) };
        let mut r = c.draws.reader(&self.spill);
        let n = r.count_below(below)?;
        let mut out = Vec::with_capacity(take.min(n));
        for i in (n.saturating_sub(take)..n).rev() {
            out.extend(r.get(i)?);
        }
        Ok((out, n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::packed::test_spills as spills;

    fn uscc(n: u64) -> Uscc {
        crate::testkit::uscc(n)
    }

    fn record(seq: u64, renter: Uscc, provider: Uscc, year: i32, renter_sub: i64, voucher: i64) -> Fact {
        use crate::codes::LineReason::NoVoucher;
        let mut lines = crate::entry::Lines::zero(year, NoVoucher, NoVoucher, NoVoucher);
        lines.voucher = Decimal::new(voucher, 2);
        lines.renter = Decimal::new(renter_sub, 2);
        lines.supplier = Decimal::new(100, 2);
        Fact {
            seq,
            what: FactKind::Record {
                kind: crate::model::RecordKind::Usage,
                provider,
                renter,
                gpu_model: String::new(),
                gpu_hours: Decimal::ONE,
                amount: Decimal::TEN,
                month: 0,
                day: 0,
                lines,
            },
        }
    }

    #[test]
    fn pages_merge_cap_years_newest_first_and_totals_follow_signs() {
        for spill in spills() {
            pages_merge_cap_years(EntityIndex::with_spill(spill));
        }
    }

    fn pages_merge_cap_years(mut ix: EntityIndex) {
        let (a, b, c) = (uscc(1), uscc(2), uscc(3));
        ix.apply(&record(1, a, b, 2026, 3000, 0)).unwrap();
        ix.apply(&record(2, c, b, 2027, 0, 500)).unwrap();
        ix.apply(&record(3, a, b, 2026, 1000, 200)).unwrap();
        ix.apply(&Fact { seq: 4, what: FactKind::Payout { payee: a, year: 2026, amount: Decimal::new(2500, 2) } })
            .unwrap();
        let FactKind::Record { lines, .. } = record(0, a, b, 2026, 1000, 200).what else { unreachable!() };
        ix.apply(&Fact {
            seq: 5,
            what: FactKind::Reversal {
                of: 3,
                kind: crate::model::RecordKind::Usage,
                provider: b,
                renter: a,
                gpu_hours: Decimal::ONE,
                amount: Decimal::TEN,
                day: 0,
                lines,
            },
        })
        .unwrap();
        ix.apply(&record(6, c, b, 2026, 0, 0)).unwrap();
        assert_eq!(ix.seqs(&b, None, u64::MAX).unwrap(), vec![1, 2, 3, 5, 6]);
        assert_eq!(ix.newest(&b, None, u64::MAX, 1, 2).unwrap(), vec![5, 3]);
        assert_eq!(ix.newest(&b, Some(2027), u64::MAX, 0, 10).unwrap(), vec![2]);
        assert_eq!(ix.seqs(&b, None, 5).unwrap(), vec![1, 2, 3]);
        assert_eq!(ix.count(&b, None, u64::MAX).unwrap(), 5);
        assert_eq!(ix.count(&b, Some(2026), 4).unwrap(), 2);
        assert_eq!(ix.seqs(&a, None, u64::MAX).unwrap(), vec![1, 3, 4, 5]);
        let t = ix.totals(&a, None);
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].1.renter_subsidy, Decimal::new(3000, 2));
        assert_eq!(t[0].1.paid, Decimal::new(2500, 2));
        assert_eq!(t[0].1.owed(), Decimal::new(500, 2));
        let t = ix.totals(&b, Some(2026));
        // Supplier 1.00 on each of three records, one reversed; voucher 2.00 drawn, reversed.
        assert_eq!((t[0].1.supplier_subsidy, t[0].1.voucher_reimbursement), (Decimal::new(200, 2), Decimal::ZERO));
        assert_eq!(ix.draws(&a, u64::MAX, 10).unwrap(), (vec![5, 3], 2));
        assert_eq!(ix.draws(&c, u64::MAX, 10).unwrap(), (vec![2], 1));
        assert!(ix.seqs(&uscc(9), None, u64::MAX).unwrap().is_empty());
    }

    #[test]
    fn pages_read_across_blocks_in_the_spill_answer_as_plain_lists() {
        // Enough entries that each company's lists seal blocks into the spill: two
        // providers, three renters, cap years alternating in stretches, every fifth record
        // drawing on a voucher.
        for spill in spills() {
            let mut ix = EntityIndex::with_spill(spill);
            let mut plain: HashMap<(Uscc, i32), Vec<u64>> = HashMap::new();
            let mut draws: HashMap<Uscc, Vec<u64>> = HashMap::new();
            for seq in 1..6_000u64 {
                let (renter, provider) = (uscc(10 + seq % 3), uscc(1 + seq % 2));
                let year = if (seq / 700) % 2 == 0 { 2026 } else { 2027 };
                let voucher = if seq % 5 == 0 { 100 } else { 0 };
                ix.apply(&record(seq, renter, provider, year, 10, voucher)).unwrap();
                plain.entry((renter, year)).or_default().push(seq);
                plain.entry((provider, year)).or_default().push(seq);
                if voucher != 0 {
                    draws.entry(renter).or_default().push(seq);
                }
            }
            assert!(ix.spilled_bytes() > 0, "blocks were sealed");
            for n in [1, 2, 10, 11, 12] {
                let id = uscc(n);
                let mut both: Vec<u64> = [2026, 2027].iter().flat_map(|y| plain[&(id, *y)].clone()).collect();
                both.sort_unstable();
                for below in [u64::MAX, 4_321, 1_400, 2] {
                    let want: Vec<u64> = both.iter().copied().filter(|s| *s < below).collect();
                    assert_eq!(ix.seqs(&id, None, below).unwrap(), want, "{n} below {below}");
                    assert_eq!(ix.count(&id, None, below).unwrap(), want.len());
                    let y: Vec<u64> = plain[&(id, 2027)].iter().copied().filter(|s| *s < below).collect();
                    assert_eq!(ix.seqs(&id, Some(2027), below).unwrap(), y);
                    for skip in [0, 1, 511, 512, 1_000] {
                        let page: Vec<u64> = want.iter().rev().skip(skip).take(50).copied().collect();
                        assert_eq!(ix.newest(&id, None, below, skip, 50).unwrap(), page, "{n} skip {skip}");
                    }
                }
                let d = draws.get(&id).cloned().unwrap_or_default();
                let latest: Vec<u64> = d.iter().rev().take(20).copied().collect();
                assert_eq!(ix.draws(&id, u64::MAX, 20).unwrap(), (latest, d.len()));
            }
        }
    }
}
