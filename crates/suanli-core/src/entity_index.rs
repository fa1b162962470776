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
//! entries lie close together, a small renter's far apart), plus one line per company and
//! cap year.

use std::collections::{BTreeMap, HashMap};

use rust_decimal::Decimal;

use crate::dashboard::{Fact, FactKind};
use crate::ids::Uscc;

pub use crate::packed::SeqList;

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
}

impl EntityIndex {
    /// Counts one entry (in log order; the caller keeps the order, as the dashboard does).
    pub fn apply(&mut self, fact: &Fact) {
        let seq = fact.seq;
        match &fact.what {
            FactKind::Nothing => {}
            FactKind::Record { renter, provider, lines, .. } => {
                self.line(seq, *renter, *provider, lines, Decimal::ONE);
            }
            FactKind::Reversal { renter, provider, lines, .. } => {
                self.line(seq, *renter, *provider, lines, Decimal::NEGATIVE_ONE);
            }
            FactKind::Payout { payee, year, amount } => {
                let y = self.companies.entry(*payee).or_default().years.entry(*year).or_default();
                y.seqs.push(seq);
                y.totals.paid += *amount;
            }
        }
    }

    fn line(&mut self, seq: u64, renter: Uscc, provider: Uscc, lines: &crate::entry::Lines, sign: Decimal) {
        let r = self.companies.entry(renter).or_default();
        if !lines.voucher.is_zero() {
            r.draws.push(seq);
        }
        let y = r.years.entry(lines.cap_year).or_default();
        y.seqs.push(seq);
        y.totals.renter_subsidy += crate::money::times_sign(lines.renter, sign);
        let y = self.companies.entry(provider).or_default().years.entry(lines.cap_year).or_default();
        y.seqs.push(seq);
        y.totals.supplier_subsidy += crate::money::times_sign(lines.supplier, sign);
        y.totals.voucher_reimbursement += crate::money::times_sign(lines.voucher, sign);
    }

    /// The company's totals per cap year (`year`: only that one), oldest first.
    pub fn totals(&self, id: &Uscc, year: Option<i32>) -> Vec<(i32, Totals)> {
        let Some(c) = self.companies.get(id) else { return Vec::new() };
        c.years.iter().filter(|(y, _)| year.is_none_or(|want| want == **y)).map(|(y, v)| (*y, v.totals)).collect()
    }

    /// How many statement rows the company has (`year`: in that cap year), below `below`.
    pub fn count(&self, id: &Uscc, year: Option<i32>, below: u64) -> usize {
        let Some(c) = self.companies.get(id) else { return 0 };
        c.years
            .iter()
            .filter(|(y, _)| year.is_none_or(|want| want == **y))
            .map(|(_, v)| v.seqs.count_below(below))
            .sum()
    }

    /// The company's entries (`year`: of that cap year) below `below`, in log order.
    pub fn seqs(&self, id: &Uscc, year: Option<i32>, below: u64) -> Vec<u64> {
        self.newest(id, year, below, 0, usize::MAX).into_iter().rev().collect()
    }

    /// One page of the company's entries below `below`, newest first: `skip` newest ones
    /// left out, then at most `take`.
    pub fn newest(&self, id: &Uscc, year: Option<i32>, below: u64, skip: usize, take: usize) -> Vec<u64> {
        let Some(c) = self.companies.get(id) else { return Vec::new() };
        // A merge, from the end, of the cap years' lists (a handful of years).
        let lists: Vec<&SeqList> =
            c.years.iter().filter(|(y, _)| year.is_none_or(|want| want == **y)).map(|(_, v)| &v.seqs).collect();
        let mut at: Vec<usize> = lists.iter().map(|l| l.count_below(below)).collect();
        let mut out = Vec::new();
        let mut skipped = 0;
        while out.len() < take {
            let next =
                (0..lists.len()).filter(|&i| at[i] > 0).max_by_key(|&i| lists[i].get(at[i] - 1).expect("in range"));
            let Some(i) = next else { break };
            at[i] -= 1;
            let seq = lists[i].get(at[i]).expect("in range");
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
        out
    }

    /// The company's latest voucher draws below `below`, newest first (at most `take`), and
    /// how many there are in all.
    pub fn draws(&self, id: &Uscc, below: u64, take: usize) -> (Vec<u64>, usize) {
        let Some(c) = self.companies.get(id) else { return (Vec::new(), 0) };
        let n = c.draws.count_below(below);
        ((n.saturating_sub(take)..n).rev().filter_map(|i| c.draws.get(i)).collect(), n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let (a, b, c) = (uscc(1), uscc(2), uscc(3));
        let mut ix = EntityIndex::default();
        ix.apply(&record(1, a, b, 2026, 3000, 0));
        ix.apply(&record(2, c, b, 2027, 0, 500));
        ix.apply(&record(3, a, b, 2026, 1000, 200));
        ix.apply(&Fact { seq: 4, what: FactKind::Payout { payee: a, year: 2026, amount: Decimal::new(2500, 2) } });
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
        });
        ix.apply(&record(6, c, b, 2026, 0, 0));
        assert_eq!(ix.seqs(&b, None, u64::MAX), vec![1, 2, 3, 5, 6]);
        assert_eq!(ix.newest(&b, None, u64::MAX, 1, 2), vec![5, 3]);
        assert_eq!(ix.newest(&b, Some(2027), u64::MAX, 0, 10), vec![2]);
        assert_eq!(ix.seqs(&b, None, 5), vec![1, 2, 3]);
        assert_eq!(ix.count(&b, None, u64::MAX), 5);
        assert_eq!(ix.count(&b, Some(2026), 4), 2);
        assert_eq!(ix.seqs(&a, None, u64::MAX), vec![1, 3, 4, 5]);
        let t = ix.totals(&a, None);
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].1.renter_subsidy, Decimal::new(3000, 2));
        assert_eq!(t[0].1.paid, Decimal::new(2500, 2));
        assert_eq!(t[0].1.owed(), Decimal::new(500, 2));
        let t = ix.totals(&b, Some(2026));
        // Supplier 1.00 on each of three records, one reversed; voucher 2.00 drawn, reversed.
        assert_eq!((t[0].1.supplier_subsidy, t[0].1.voucher_reimbursement), (Decimal::new(200, 2), Decimal::ZERO));
        assert_eq!(ix.draws(&a, u64::MAX, 10), (vec![5, 3], 2));
        assert_eq!(ix.draws(&c, u64::MAX, 10), (vec![2], 1));
        assert!(ix.seqs(&uscc(9), None, u64::MAX).is_empty());
    }
}
