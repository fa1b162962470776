//! The finance bureau's program dashboard, kept as running totals.
//!
//! A page view must not scan the log, so the figures the dashboard shows are kept up to
//! date one decided entry at a time ([`Aggregates::apply`]), in the order of the log, by
//! the same thread that decides entries. Two sources make up a view ([`Aggregates::view`]):
//!
//! | figure | kept by | key |
//! | --- | --- | --- |
//! | subsidy committed over time (against the budget) | here, `booked` | cap year, ledger day of the entry |
//! | renter / supplier subsidy and voucher draws by month | here, `months` | cap year, month of the record's `end` |
//! | GPU-hours by GPU class | here, `classes` | cap year, `gpu_model` as written |
//! | top renters and suppliers, totals | here, `rows` (the annual report's [`Row`]) | cap year, entity |
//! | caps reached and how close the rest are | the [`Ledger`] (`renter_used`, `supplier_used`) | entity, cap year |
//! | vouchers issued / drawn / lapsed | the [`Ledger`] (its vouchers) | voucher |
//! | budget used | the [`Ledger`] (`budget_used`) | cap year |
//!
//! Choices, written down:
//! - Records count by cap year and by the month of their `end`, like the annual report
//!   (SPEC §10): the month chart of a year sums to the report's totals of that year.
//! - A reversal takes its record's amounts back from that record's month and GPU class
//!   (net figures, as in the report), but the "committed over time" line moves on the day
//!   the reversal was logged: it is the bureau's running commitment, and closed days do not
//!   change afterwards (like closed settlement periods).
//! - To take a reversed record back from the right month and class, the aggregates keep a
//!   tag per log entry (`tags`), bit-packed ([`TagList`]): entries near each other share a
//!   few months and classes, so a tag takes well under a byte, the one part that grows
//!   with the log. Everything else grows with entities, months and GPU classes.
//! - GPU classes are the record's `gpu_model` exactly as signed. A provider may write any
//!   1–32 characters there, so at most [`GPU_CLASSES_MAX`] distinct models are named, in
//!   the order they first appear; later ones are counted together as [`OTHER_CLASS`].
//!
//! Everything here is deterministic: the same entries give the same aggregates, whether
//! applied one by one as they are decided or rebuilt from the store after a restart.

use std::collections::BTreeMap;

use prost::Message;
use rust_decimal::Decimal;

use crate::entry::{Body, Entry, Lines};
use crate::ids::Uscc;
use crate::ledger::Ledger;
use crate::model::{RecordKind, VoucherKind};
use crate::money::times_sign;
use crate::packed::TagList;
use crate::report::Row;
use crate::time::civil_from_days;
use crate::{money, validate, wire};

/// Distinct GPU models named on the dashboard; later models count as [`OTHER_CLASS`].
pub const GPU_CLASSES_MAX: usize = 64;
/// The class id of every GPU model beyond the first [`GPU_CLASSES_MAX`].
pub const OTHER_CLASS: u8 = u8::MAX;
/// The tag of an entry that is not a record.
const NO_TAG: u32 = u32::MAX;

/// Why an entry cannot be counted: it is not the next one, or not what the ledger writes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("dashboard, entry {seq}: {what}")]
pub struct DashboardError {
    pub seq: u64,
    pub what: String,
}

/// A month as one number: `year × 12 + (month − 1)`, in the program's time zone.
pub type MonthIndex = i32;

/// The (year, month 1–12) of a [`MonthIndex`].
pub fn month_parts(m: MonthIndex) -> (i32, u32) {
    (m.div_euclid(12), m.rem_euclid(12) as u32 + 1)
}

fn month_of(unix: i64, offset: i32) -> MonthIndex {
    let (y, m, _) = civil_from_days((unix + i64::from(offset)).div_euclid(86_400));
    y as i32 * 12 + m as i32 - 1
}

/// Days since 1970-01-01 in the program's time zone of a ledger time in milliseconds.
fn day_of(time_ms: i64, offset: i32) -> i64 {
    (time_ms.div_euclid(1000) + i64::from(offset)).div_euclid(86_400)
}

/// The (year, month, day) of a day number from [`DashboardView::committed`].
pub fn day_parts(day: i64) -> (i64, u32, u32) {
    civil_from_days(day)
}

/// One month's records of one cap year, net of reversals.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MonthTotals {
    pub records: i64,
    pub amount: Decimal,
    pub gpu_hours: Decimal,
    pub voucher: Decimal,
    pub renter: Decimal,
    pub supplier: Decimal,
}

/// One GPU class's usage records of one cap year, net of reversals.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClassTotals {
    pub records: i64,
    pub gpu_hours: Decimal,
    pub amount: Decimal,
}

/// Everything kept per cap year.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct YearTotals {
    /// Per entity, exactly the annual report's row (paid included).
    pub rows: BTreeMap<Uscc, Row>,
    pub months: BTreeMap<MonthIndex, MonthTotals>,
    pub classes: BTreeMap<u8, ClassTotals>,
    /// R + S of this cap year logged per day (reversals negative, on their own day).
    pub booked: BTreeMap<i64, Decimal>,
}

/// What one entry contributes, read from the entry alone (no state): computed outside any
/// lock, and small enough to queue while the aggregates are still being rebuilt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fact {
    pub seq: u64,
    pub what: FactKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FactKind {
    /// Not counted here (registry, vouchers, periods, year close, genesis).
    Nothing,
    Record {
        kind: RecordKind,
        provider: Uscc,
        renter: Uscc,
        gpu_model: String,
        gpu_hours: Decimal,
        amount: Decimal,
        month: MonthIndex,
        day: i64,
        lines: Lines,
    },
    Reversal {
        /// The reversed record's entry.
        of: u64,
        kind: RecordKind,
        provider: Uscc,
        renter: Uscc,
        gpu_hours: Decimal,
        amount: Decimal,
        day: i64,
        lines: Lines,
    },
    Payout {
        payee: Uscc,
        year: i32,
        amount: Decimal,
    },
}

impl Fact {
    /// Reads what `entry` contributes. `offset`: the program's UTC offset in seconds.
    pub fn of(entry: &Entry, offset: i32) -> Result<Fact, DashboardError> {
        Fact::of_known(entry, None, offset)
    }

    /// [`Fact::of`], given the usage record of a usage entry already decoded and checked
    /// (`usage` must be what the entry's payload holds; the sequencer has it from the
    /// verification threads). `None`, or an entry of another kind, decodes the payload.
    pub fn of_known(entry: &Entry, usage: Option<validate::Usage>, offset: i32) -> Result<Fact, DashboardError> {
        let err = |what: String| DashboardError { seq: entry.seq, what };
        let day = day_of(entry.time_ms, offset);
        let what = match &entry.body {
            Body::Usage { input, lines } => {
                let u = match usage {
                    Some(u) => u,
                    None => {
                        let r = wire::UsageRecord::decode(input.payload.as_slice()).map_err(|e| err(e.to_string()))?;
                        validate::usage(&r).map_err(|e| err(e.to_string()))?
                    }
                };
                FactKind::Record {
                    kind: RecordKind::Usage,
                    provider: u.provider,
                    renter: u.renter,
                    gpu_model: u.gpu_model,
                    gpu_hours: u.gpu_hours,
                    amount: u.amount,
                    month: month_of(u.end, offset),
                    day,
                    lines: *lines,
                }
            }
            Body::Corpus { input, lines } => {
                let r = wire::CorpusRecord::decode(input.payload.as_slice()).map_err(|e| err(e.to_string()))?;
                let c = validate::corpus(&r).map_err(|e| err(e.to_string()))?;
                FactKind::Record {
                    kind: RecordKind::Corpus,
                    provider: c.supplier,
                    renter: c.buyer,
                    gpu_model: String::new(),
                    gpu_hours: Decimal::ZERO,
                    amount: c.amount,
                    month: month_of(c.purchased_at, offset),
                    day,
                    lines: *lines,
                }
            }
            Body::Reversal { reversed: f, .. } => FactKind::Reversal {
                of: f.seq,
                kind: f.kind,
                provider: f.provider,
                renter: f.renter,
                gpu_hours: f.gpu_hours,
                amount: f.amount,
                day,
                lines: f.lines,
            },
            Body::Finance { input, .. } => {
                let req = wire::FinanceRequest::decode(input.payload.as_slice()).map_err(|e| err(e.to_string()))?;
                match req.op {
                    Some(wire::finance_request::Op::Payout(p)) => FactKind::Payout {
                        payee: Uscc::parse(&p.payee_id).map_err(|e| err(e.to_string()))?,
                        year: p.year,
                        amount: money::parse_decimal(&p.amount, money::MONEY_PLACES).map_err(|e| err(e.to_string()))?,
                    },
                    _ => FactKind::Nothing,
                }
            }
            Body::Genesis(_) | Body::Admin { .. } | Body::Holder { .. } => FactKind::Nothing,
        };
        Ok(Fact { seq: entry.seq, what })
    }
}

/// The dashboard's running totals over entries `0..next_seq()` of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aggregates {
    offset: i32,
    next_seq: u64,
    /// GPU models by class id, in the order they first appeared.
    classes: Vec<String>,
    /// Per entry: `class << 24 | (month − MONTH_BASE)` for records, [`NO_TAG`] otherwise.
    tags: TagList,
    years: BTreeMap<i32, YearTotals>,
}

/// Month indices in tags are stored from year 1900 on (24 bits reach past year 600,000).
const MONTH_BASE: MonthIndex = 1900 * 12;

impl Aggregates {
    /// Empty aggregates for a ledger whose program runs at `utc_offset_seconds`.
    pub fn new(utc_offset_seconds: i32) -> Aggregates {
        Aggregates {
            offset: utc_offset_seconds,
            next_seq: 0,
            classes: Vec::new(),
            tags: TagList::default(),
            years: BTreeMap::new(),
        }
    }

    pub fn utc_offset_seconds(&self) -> i32 {
        self.offset
    }

    /// Entries counted so far: the aggregates are "as of" this tree size.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    pub fn year(&self, year: i32) -> Option<&YearTotals> {
        self.years.get(&year)
    }

    /// Cap years with anything counted, oldest first.
    pub fn years(&self) -> impl Iterator<Item = i32> + '_ {
        self.years.keys().copied()
    }

    /// The name of a GPU class id (`None` for [`OTHER_CLASS`]).
    pub fn class_name(&self, class: u8) -> Option<&str> {
        self.classes.get(usize::from(class)).map(String::as_str)
    }

    /// Counts the next entry of the log.
    pub fn apply(&mut self, entry: &Entry) -> Result<(), DashboardError> {
        if entry.seq != self.next_seq {
            return Err(DashboardError { seq: entry.seq, what: format!("expected entry {} next", self.next_seq) });
        }
        let fact = Fact::of(entry, self.offset)?;
        self.apply_fact(&fact)
    }

    /// Counts the next entry from its [`Fact`] (made with this ledger's offset).
    pub fn apply_fact(&mut self, fact: &Fact) -> Result<(), DashboardError> {
        let err = |what: String| DashboardError { seq: fact.seq, what };
        if fact.seq != self.next_seq {
            return Err(err(format!("expected entry {} next", self.next_seq)));
        }
        let mut tag = NO_TAG;
        match &fact.what {
            FactKind::Nothing => {}
            FactKind::Record { kind, provider, renter, gpu_model, gpu_hours, amount, month, day, lines } => {
                let class = if *kind == RecordKind::Usage { self.class_id(gpu_model) } else { OTHER_CLASS };
                let rel = u32::try_from(month - MONTH_BASE)
                    .ok()
                    .filter(|m| *m < 1 << 24)
                    .ok_or_else(|| err(format!("month {month} is out of range")))?;
                tag = u32::from(class) << 24 | rel;
                let y = self.years.entry(lines.cap_year).or_default();
                let c = Contribution { kind: *kind, provider, renter, gpu_hours: *gpu_hours, amount: *amount, lines };
                y.count(&c, *month, class, *day, Decimal::ONE);
            }
            FactKind::Reversal { of, kind, provider, renter, gpu_hours, amount, day, lines } => {
                let t = usize::try_from(*of)
                    .ok()
                    .and_then(|i| self.tags.get(i))
                    .filter(|t| *t != NO_TAG)
                    .ok_or_else(|| err(format!("reverses entry {of}, which is not a counted record")))?;
                let class = (t >> 24) as u8;
                let month = (t & 0x00ff_ffff) as MonthIndex + MONTH_BASE;
                let y = self.years.entry(lines.cap_year).or_default();
                let c = Contribution { kind: *kind, provider, renter, gpu_hours: *gpu_hours, amount: *amount, lines };
                y.count(&c, month, class, *day, Decimal::NEGATIVE_ONE);
            }
            FactKind::Payout { payee, year, amount } => {
                self.years.entry(*year).or_default().rows.entry(*payee).or_default().paid += amount;
            }
        }
        self.tags.push(tag);
        self.next_seq += 1;
        Ok(())
    }

    fn class_id(&mut self, gpu_model: &str) -> u8 {
        if let Some(i) = self.classes.iter().position(|c| c == gpu_model) {
            return i as u8;
        }
        if self.classes.len() < GPU_CLASSES_MAX {
            self.classes.push(gpu_model.to_string());
            return (self.classes.len() - 1) as u8;
        }
        OTHER_CLASS
    }
}

struct Contribution<'a> {
    kind: RecordKind,
    provider: &'a Uscc,
    renter: &'a Uscc,
    gpu_hours: Decimal,
    amount: Decimal,
    lines: &'a Lines,
}

fn bump(map: &mut BTreeMap<i64, Decimal>, key: i64, v: Decimal) {
    if v.is_zero() {
        return;
    }
    *map.entry(key).or_default() += v;
}

impl YearTotals {
    /// Adds (`sign` 1) or takes back (`sign` −1) one record, as the annual report does.
    fn count(&mut self, c: &Contribution<'_>, month: MonthIndex, class: u8, day: i64, sign: Decimal) {
        let n = if sign.is_sign_negative() { -1 } else { 1 };
        let l = c.lines;
        let usage = c.kind == RecordKind::Usage;
        let r = self.rows.entry(*c.renter).or_default();
        if usage {
            r.rent_records += n;
            r.rent_gpu_hours += times_sign(c.gpu_hours, sign);
            r.rent_amount += times_sign(c.amount, sign);
            r.renter_subsidy_uncapped += times_sign(l.renter_uncapped, sign);
            r.renter_subsidy += times_sign(l.renter, sign);
        }
        r.voucher_drawn += times_sign(l.voucher, sign);
        let p = self.rows.entry(*c.provider).or_default();
        if usage {
            p.supply_records += n;
            p.supply_gpu_hours += times_sign(c.gpu_hours, sign);
            p.supply_amount += times_sign(c.amount, sign);
            p.supplier_subsidy_uncapped += times_sign(l.supplier_uncapped, sign);
            p.supplier_subsidy += times_sign(l.supplier, sign);
        }
        p.voucher_reimbursement += times_sign(l.voucher, sign);

        let m = self.months.entry(month).or_default();
        m.records += n;
        m.amount += times_sign(c.amount, sign);
        m.gpu_hours += times_sign(c.gpu_hours, sign);
        m.voucher += times_sign(l.voucher, sign);
        m.renter += times_sign(l.renter, sign);
        m.supplier += times_sign(l.supplier, sign);
        if usage {
            let k = self.classes.entry(class).or_default();
            k.records += n;
            k.gpu_hours += times_sign(c.gpu_hours, sign);
            k.amount += times_sign(c.amount, sign);
        }
        bump(&mut self.booked, day, times_sign(l.renter + l.supplier, sign));
    }
}

// ----- the view a page shows -----

/// `t += r`, column by column (the report's TOTAL row).
fn add_row(t: &mut Row, r: &Row) {
    t.rent_records += r.rent_records;
    t.rent_gpu_hours += r.rent_gpu_hours;
    t.rent_amount += r.rent_amount;
    t.renter_subsidy_uncapped += r.renter_subsidy_uncapped;
    t.renter_subsidy += r.renter_subsidy;
    t.voucher_drawn += r.voucher_drawn;
    t.supply_records += r.supply_records;
    t.supply_gpu_hours += r.supply_gpu_hours;
    t.supply_amount += r.supply_amount;
    t.supplier_subsidy_uncapped += r.supplier_subsidy_uncapped;
    t.supplier_subsidy += r.supplier_subsidy;
    t.voucher_reimbursement += r.voucher_reimbursement;
    t.paid += r.paid;
}

/// How many entities stand where against their cap in one cap year.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CapBands {
    /// Entities counted: eligible now, or with subsidy this year.
    pub entities: u64,
    /// Nothing granted yet.
    pub none: u64,
    /// Under half of the cap.
    pub under_half: u64,
    /// Half to 80 %.
    pub half_to_80: u64,
    /// 80 % up to (not including) the cap.
    pub near: u64,
    /// The cap is reached: nothing more can be granted this year.
    pub reached: u64,
}

impl CapBands {
    fn add(&mut self, used: Decimal, cap: Decimal) {
        self.entities += 1;
        let hundred = Decimal::ONE_HUNDRED;
        if used.is_zero() {
            self.none += 1;
        } else if used >= cap {
            self.reached += 1;
        } else if used * hundred < cap * Decimal::from(50) {
            self.under_half += 1;
        } else if used * hundred < cap * Decimal::from(80) {
            self.half_to_80 += 1;
        } else {
            self.near += 1;
        }
    }
}

/// Vouchers of one kind, as of the ledger's latest time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VoucherTotals {
    pub issued: u64,
    pub face_value: Decimal,
    pub drawn: Decimal,
    pub lapsed: Decimal,
    pub balance: Decimal,
    pub revoked: u64,
}

/// One entity in a top list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ranked {
    pub id: Uscc,
    pub name: String,
    pub amount: Decimal,
    pub gpu_hours: Decimal,
    pub subsidy: Decimal,
    pub records: i64,
}

/// A GPU class's usage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassLine {
    /// `None`: the models beyond [`GPU_CLASSES_MAX`], counted together.
    pub name: Option<String>,
    pub totals: ClassTotals,
}

/// Everything the dashboard page shows for one cap year.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DashboardView {
    pub year: i32,
    /// The log position the figures are as of (entries counted).
    pub as_of_size: u64,
    pub budget: Option<Decimal>,
    pub budget_used: Decimal,
    pub renter_cap: Decimal,
    pub supplier_cap: Decimal,
    /// (day, R + S committed up to and including that day), days with any change only.
    pub committed: Vec<(i64, Decimal)>,
    pub months: Vec<(MonthIndex, MonthTotals)>,
    pub renters: CapBands,
    pub suppliers: CapBands,
    pub compute_vouchers: VoucherTotals,
    pub corpus_vouchers: VoucherTotals,
    /// By GPU-hours, most first.
    pub classes: Vec<ClassLine>,
    /// By rent amount, most first (ties by id).
    pub top_renters: Vec<Ranked>,
    /// By supply amount, most first (ties by id).
    pub top_suppliers: Vec<Ranked>,
    /// The annual report's TOTAL row of this year.
    pub total: Row,
    /// Settlement: payable gathered in closed periods for this year, paid, not yet gathered.
    pub settled: Decimal,
    pub paid: Decimal,
    pub unsettled: Decimal,
    pub year_closed: bool,
}

impl Aggregates {
    /// The dashboard of cap year `year`, with `top` entities in each top list. `ledger` must
    /// be at the same log position (the server holds its lock while reading both).
    pub fn view(&self, ledger: &Ledger, year: i32, top: usize) -> DashboardView {
        let empty = YearTotals::default();
        let y = self.years.get(&year).unwrap_or(&empty);
        let p = ledger.program();

        let mut committed = Vec::with_capacity(y.booked.len());
        let mut running = Decimal::ZERO;
        for (&day, &v) in &y.booked {
            running += v;
            committed.push((day, running));
        }

        let mut renters = CapBands::default();
        let mut suppliers = CapBands::default();
        for e in ledger.entities() {
            let r = ledger.renter_used(&e.id, year);
            if e.flags.renter_eligible || !r.is_zero() {
                renters.add(r, p.renter_cap);
            }
            let s = ledger.supplier_used(&e.id, year);
            if e.flags.supplier_eligible || !s.is_zero() {
                suppliers.add(s, p.supplier_cap);
            }
        }

        let now = ledger.last_time_ms().div_euclid(1000);
        let mut compute_vouchers = VoucherTotals::default();
        let mut corpus_vouchers = VoucherTotals::default();
        for v in ledger.vouchers() {
            let t = match v.kind {
                VoucherKind::Compute => &mut compute_vouchers,
                VoucherKind::Corpus => &mut corpus_vouchers,
            };
            t.issued += 1;
            t.revoked += u64::from(v.revoked);
            t.face_value += v.face_value;
            t.drawn += v.drawn;
            t.lapsed += v.lapsed_at(now);
            t.balance += v.balance_at(now);
        }

        let mut classes: Vec<ClassLine> = y
            .classes
            .iter()
            .filter(|(_, t)| t.records != 0 || !t.gpu_hours.is_zero())
            .map(|(&c, t)| ClassLine { name: self.class_name(c).map(str::to_string), totals: t.clone() })
            .collect();
        classes.sort_by(|a, b| b.totals.gpu_hours.cmp(&a.totals.gpu_hours).then_with(|| a.name.cmp(&b.name)));

        let name = |id: &Uscc| ledger.entity(id).map(|e| e.name.clone()).unwrap_or_default();
        let rank = |pick: &dyn Fn(&Uscc, &Row) -> Ranked| {
            let mut v: Vec<Ranked> =
                y.rows.iter().map(|(id, r)| pick(id, r)).filter(|r| r.records > 0 || !r.amount.is_zero()).collect();
            v.sort_by(|a, b| b.amount.cmp(&a.amount).then_with(|| a.id.cmp(&b.id)));
            v.truncate(top);
            for r in &mut v {
                r.name = name(&r.id);
            }
            v
        };
        let top_renters = rank(&|id, r| Ranked {
            id: *id,
            name: String::new(),
            amount: r.rent_amount,
            gpu_hours: r.rent_gpu_hours,
            subsidy: r.renter_subsidy,
            records: r.rent_records,
        });
        let top_suppliers = rank(&|id, r| Ranked {
            id: *id,
            name: String::new(),
            amount: r.supply_amount,
            gpu_hours: r.supply_gpu_hours,
            subsidy: r.supplier_subsidy,
            records: r.supply_records,
        });

        let mut total = Row::default();
        for r in y.rows.values() {
            add_row(&mut total, r);
        }

        let mut settled = Decimal::ZERO;
        let mut paid = Decimal::ZERO;
        for period in ledger.periods() {
            for ((_, _, line_year), line) in &period.lines {
                if *line_year == year {
                    settled += line.line.amount;
                    paid += line.paid;
                }
            }
        }
        let unsettled = ledger.unsettled().iter().filter(|((_, _, ly), _)| *ly == year).map(|(_, v)| *v).sum();

        DashboardView {
            year,
            as_of_size: self.next_seq,
            budget: p.subsidy_budget,
            budget_used: ledger.budget_used(year),
            renter_cap: p.renter_cap,
            supplier_cap: p.supplier_cap,
            committed,
            months: y.months.iter().map(|(m, t)| (*m, t.clone())).collect(),
            renters,
            suppliers,
            compute_vouchers,
            corpus_vouchers,
            classes,
            top_renters,
            top_suppliers,
            total,
            settled,
            paid,
            unsettled,
            year_closed: ledger.closed_years().contains(&year),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_and_days_follow_the_program_time_zone() {
        let cst = 8 * 3600;
        // 2026-01-31T23:30:00+08:00 is still January in Shanghai, February nowhere yet.
        let t = crate::time::parse_rfc3339("2026-01-31T23:30:00+08:00").unwrap();
        assert_eq!(month_parts(month_of(t, cst)), (2026, 1));
        // 2026-02-28T16:30:00Z is 2026-03-01 00:30 in Shanghai.
        let t = crate::time::parse_rfc3339("2026-02-28T16:30:00Z").unwrap();
        assert_eq!(month_parts(month_of(t, cst)), (2026, 3));
        assert_eq!(month_parts(month_of(t, 0)), (2026, 2));
        assert_eq!(day_parts(day_of(t * 1000, cst)), (2026, 3, 1));
        assert_eq!(month_parts(2026 * 12), (2026, 1));
        assert_eq!(month_parts(2026 * 12 + 11), (2026, 12));
    }

    #[test]
    fn cap_bands_put_each_entity_in_one_band() {
        let cap = Decimal::from(1000);
        let mut b = CapBands::default();
        for used in [0, 1, 499, 500, 799, 800, 999, 1000] {
            b.add(Decimal::from(used), cap);
        }
        assert_eq!(
            b,
            CapBands { entities: 8, none: 1, under_half: 2, half_to_80: 2, near: 2, reached: 1 },
            "bands: 0 | (0, 50 %) | [50 %, 80 %) | [80 %, cap) | cap"
        );
    }

    #[test]
    fn entries_must_come_in_order() {
        let mut a = Aggregates::new(0);
        let e = Entry {
            seq: 1,
            time_ms: 0,
            body: Body::Holder {
                input: crate::entry::Signed { payload: vec![], public_key: [0; 32], signature: [0; 64], batch: None },
            },
        };
        assert_eq!(a.apply(&e).unwrap_err().what, "expected entry 0 next");
        assert_eq!(a.next_seq(), 0, "a refused entry changes nothing");
    }
}
