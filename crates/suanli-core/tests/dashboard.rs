//! The dashboard's running totals against a from-scratch recomputation, on random ledgers.
//!
//! Each case builds a ledger through [`Ledger::decide`] (entities, vouchers and
//! authorizations, usage and corpus records across the cap years and outside the window,
//! reversals, periods, payouts, a year close), counting every accepted entry into
//! [`Aggregates`] as the server does. At the end the aggregates must equal:
//! - a recomputation written here from the list of entries alone (records that stand,
//!   grouped by cap year and month, GPU model, entity, and the R + S logged per day);
//! - the annual report ([`AnnualReport`]), row by row, for every cap year;
//! - the ledger's own totals (budget used, caps, vouchers) where the view shows them;
//! - aggregates rebuilt after a "restart" from entries counted in a different split (the
//!   first part from the log, the rest queued as facts), as the server rebuilds them.
//!
//! `SUANLI_DASHBOARD_CASES` sets the number of cases (default 24).

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;

use suanli_core::dashboard::{Aggregates, Fact, GPU_CLASSES_MAX, MonthIndex, OTHER_CLASS};
use suanli_core::entry::{Body, Entry, Genesis};
use suanli_core::ids::Uscc;
use suanli_core::index::MemIndex;
use suanli_core::ledger::{Decision, Input, Ledger, record_facts};
use suanli_core::model::RecordKind;
use suanli_core::program::{GpuRate, Program};
use suanli_core::report::{AnnualReport, Row};
use suanli_core::testkit::{self as tk, public, uscc};
use suanli_core::time::parse_rfc3339;
use suanli_core::{money, validate, wire};
use wire::admin_request::Op as AOp;
use wire::finance_request::Op as FOp;
use wire::holder_request::Op as HOp;

const CST: i32 = 8 * 3600;
const DAY_MS: i64 = 86_400_000;

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn at(s: &str) -> i64 {
    parse_rfc3339(s).unwrap()
}

struct Case {
    rng: StdRng,
    ledger: Ledger,
    index: MemIndex,
    entries: Vec<Entry>,
    aggs: Aggregates,
    now_ms: i64,
    admin: ed25519_dalek::SigningKey,
    finance: ed25519_dalek::SigningKey,
    providers: Vec<(Uscc, ed25519_dalek::SigningKey)>,
    renters: Vec<Uscc>,
    holders: Vec<(Uscc, ed25519_dalek::SigningKey, String)>,
    data_supplier: (Uscc, ed25519_dalek::SigningKey),
    corpus_voucher: String,
    accepted_records: Vec<(Uscc, String, RecordKind)>,
    counter: u64,
    gpu_models: Vec<String>,
}

impl Case {
    fn new(seed: u64) -> Case {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut p = Program::suzhou_2026();
        p.id = "dashboard-test".into();
        p.renter_cap = dec(["5000.00", "1500.00"].choose(&mut rng).unwrap());
        p.supplier_cap = dec(["3000.00", "900.00"].choose(&mut rng).unwrap());
        p.subsidy_budget = rng.gen_bool(0.5).then(|| dec("9000.00"));
        p.compute_voucher_holder_max = dec("4000.00");
        p.rates = vec![GpuRate {
            gpu_models: vec!["Ascend-910B".into()],
            renter_rate: Some(dec("0.50")),
            supplier_rate: None,
        }];
        p.validate().unwrap();
        let admin = tk::key(1);
        let finance = tk::key(2);
        let genesis = Genesis {
            program_toml: p.to_toml(),
            admin_key: public(&admin),
            finance_key: public(&finance),
            ledger_key: public(&tk::key(3)),
            origin: "suanli.test/dashboard".into(),
        };
        let t0 = at("2026-01-20T00:00:00+08:00") * 1000;
        let (ledger, g) = Ledger::create(genesis, t0).unwrap();
        let mut aggs = Aggregates::new(ledger.program().utc_offset_seconds);
        aggs.apply(&g).unwrap();
        // A few cases name more GPU models than the dashboard names, to reach "other".
        let many = rng.gen_bool(0.2);
        let gpu_models: Vec<String> = if many {
            (0..GPU_CLASSES_MAX + 6).map(|i| format!("X{i}")).collect()
        } else {
            ["H100", "A800", "Ascend-910B", "H20"].iter().map(|s| s.to_string()).collect()
        };
        Case {
            rng,
            ledger,
            index: MemIndex::default(),
            entries: vec![g],
            aggs,
            now_ms: t0,
            admin,
            finance,
            providers: vec![],
            renters: vec![],
            holders: vec![],
            data_supplier: (uscc(1), tk::key(4)),
            corpus_voucher: String::new(),
            accepted_records: vec![],
            counter: 0,
            gpu_models,
        }
    }

    fn submit(&mut self, input: Input) -> bool {
        self.now_ms += self.rng.gen_range(1..3 * 3_600_000);
        match self.ledger.decide(&mut self.index, self.now_ms, &input, true) {
            Decision::Accepted(e) => {
                self.aggs.apply(&e).expect("a decided entry counts");
                self.entries.push(e);
                true
            }
            _ => false,
        }
    }

    fn admin(&mut self, op: AOp) -> bool {
        self.counter += 1;
        let input = tk::admin(&self.admin, &format!("a{}", self.counter), op);
        self.submit(input)
    }

    fn finance(&mut self, op: FOp) -> bool {
        self.counter += 1;
        let input = tk::finance(&self.finance, &format!("f{}", self.counter), op);
        self.submit(input)
    }

    fn setup(&mut self) {
        let mut n = 100;
        let mut entity = |case: &mut Case, flags: wire::Flags, group: Option<&str>| {
            n += 1;
            let id = uscc(n);
            assert!(case.admin(tk::register(&id, &format!("公司{n}"), flags, group)));
            let k = tk::key(1000 + n);
            assert!(case.admin(tk::add_key(&id, &public(&k))));
            (id, k)
        };
        for i in 0..4 {
            let group = (i == 3).then_some("g1");
            let p = entity(self, tk::flags(true, false, i != 2, false, false), group);
            self.providers.push(p);
        }
        for i in 0..6 {
            let group = (i == 5).then_some("g1");
            let (id, _) = entity(self, tk::flags(false, i != 4, false, false, false), group);
            self.renters.push(id);
        }
        self.data_supplier = entity(self, tk::flags(false, false, false, false, true), None);
        for i in 0..2 {
            let (id, k) = entity(self, tk::flags(false, true, false, true, false), None);
            let vid = format!("V{i}");
            let (from, until) = if i == 0 {
                (at("2026-01-01T00:00:00+08:00"), at("2027-01-01T00:00:00+08:00"))
            } else {
                (at("2026-01-01T00:00:00+08:00"), at("2026-06-01T00:00:00+08:00"))
            };
            assert!(self.admin(AOp::IssueVoucher(wire::IssueVoucher {
                voucher_id: vid.clone(),
                holder_id: id.to_string(),
                kind: wire::VoucherKind::Compute as i32,
                face_value: "3000.00".into(),
                valid_from: from,
                valid_until: until,
            })));
            for (pi, limit) in [(0, ""), (1, "800.00")] {
                let provider = self.providers[pi].0;
                self.counter += 1;
                let input = tk::holder(
                    &k,
                    &id,
                    &format!("h{}", self.counter),
                    HOp::Authorize(wire::Authorize {
                        voucher_id: vid.clone(),
                        provider_id: provider.to_string(),
                        limit: limit.into(),
                    }),
                );
                assert!(self.submit(input));
            }
            self.holders.push((id, k, vid));
        }
        // A corpus voucher for the first holder, drawable by the data supplier.
        let holder = self.holders[0].0;
        self.corpus_voucher = "C0".into();
        assert!(self.admin(AOp::IssueVoucher(wire::IssueVoucher {
            voucher_id: "C0".into(),
            holder_id: holder.to_string(),
            kind: wire::VoucherKind::Corpus as i32,
            face_value: "2000.00".into(),
            valid_from: at("2026-01-01T00:00:00+08:00"),
            valid_until: at("2027-06-01T00:00:00+08:00"),
        })));
        let (hk, ds) = (self.holders[0].1.clone(), self.data_supplier.0);
        self.counter += 1;
        let input = tk::holder(
            &hk,
            &holder,
            &format!("h{}", self.counter),
            HOp::Authorize(wire::Authorize {
                voucher_id: "C0".into(),
                provider_id: ds.to_string(),
                limit: String::new(),
            }),
        );
        assert!(self.submit(input));
    }

    fn usage(&mut self) {
        let pi = self.rng.gen_range(0..self.providers.len());
        let (provider, key) = self.providers[pi].clone();
        let holder = self.rng.gen_bool(0.25).then(|| self.rng.gen_range(0..self.holders.len()));
        let renter = match holder {
            Some(h) => self.holders[h].0,
            None => *self.renters.choose(&mut self.rng).unwrap(),
        };
        let voucher = holder.filter(|_| self.rng.gen_bool(0.8)).map(|h| self.holders[h].2.clone());
        let hours = Decimal::new(self.rng.gen_range(1..2_000_000), 3);
        let price = Decimal::new(self.rng.gen_range(500..3000), 2);
        let amount = money::round_fen(hours * price);
        // Ends up to 40 days back: some in January 2026, before the window opens.
        let end = (self.now_ms - self.rng.gen_range(0..40 * DAY_MS)) / 1000;
        self.counter += 1;
        let rid = format!("r{}", self.counter);
        let mut r = tk::usage_record(
            &rid,
            &provider,
            &renter,
            &hours.to_string(),
            &price.to_string(),
            &money::fmt_money(amount),
            end,
            voucher.as_deref(),
        );
        r.gpu_model = self.gpu_models.choose(&mut self.rng).unwrap().clone();
        let input = tk::sign(suanli_core::ledger::InputKind::Usage, &key, &r);
        if self.submit(input) {
            self.accepted_records.push((provider, rid, RecordKind::Usage));
        }
    }

    fn corpus(&mut self) {
        let (supplier, key) = self.data_supplier.clone();
        self.counter += 1;
        let rid = format!("c{}", self.counter);
        let r = wire::CorpusRecord {
            record_id: rid.clone(),
            supplier_id: supplier.to_string(),
            buyer_id: self.holders[0].0.to_string(),
            voucher_id: self.corpus_voucher.clone(),
            amount: money::fmt_money(Decimal::new(self.rng.gen_range(100..50_000), 2)),
            purchased_at: (self.now_ms - self.rng.gen_range(0..10 * DAY_MS)) / 1000,
            description: "语料".into(),
            invoice_no: String::new(),
        };
        let input = tk::sign(suanli_core::ledger::InputKind::Corpus, &key, &r);
        if self.submit(input) {
            self.accepted_records.push((supplier, rid, RecordKind::Corpus));
        }
    }

    fn reversal(&mut self) {
        let Some((provider, rid, kind)) = self.accepted_records.choose(&mut self.rng).cloned() else {
            return;
        };
        let key = if provider == self.data_supplier.0 {
            self.data_supplier.1.clone()
        } else {
            self.providers.iter().find(|p| p.0 == provider).unwrap().1.clone()
        };
        let mut r = tk::reversal(&provider, &rid, "wrong meter");
        if kind == RecordKind::Corpus {
            r.kind = wire::RecordKind::Corpus as i32;
        }
        let input = tk::sign(suanli_core::ledger::InputKind::Reversal, &key, &r);
        self.submit(input);
    }

    fn close_period(&mut self) {
        self.counter += 1;
        let name = format!("P{}", self.counter);
        self.finance(FOp::ClosePeriod(wire::ClosePeriod { name }));
    }

    fn payout(&mut self) {
        let Some(period) = self.ledger.periods().choose(&mut self.rng).cloned() else {
            return;
        };
        let Some((_, line)) = period.lines.iter().find(|(_, l)| l.paid != l.line.amount) else {
            return;
        };
        let left = line.line.amount - line.paid;
        let amount = if self.rng.gen_bool(0.5) { left } else { money::round_fen(left / Decimal::from(2)) };
        if amount.is_zero() {
            return;
        }
        self.counter += 1;
        let op = FOp::Payout(wire::Payout {
            period: period.name.clone(),
            payee_id: line.line.payee.to_string(),
            kind: match line.line.kind {
                suanli_core::model::PayableKind::Renter => wire::PayableKind::Renter,
                suanli_core::model::PayableKind::Supplier => wire::PayableKind::Supplier,
                suanli_core::model::PayableKind::Voucher => wire::PayableKind::Voucher,
            } as i32,
            year: line.line.year,
            amount: money::fmt_money(amount),
            bank_ref: format!("B{}", self.counter),
        });
        assert!(self.finance(op), "a payout within the line is accepted");
    }

    fn run(&mut self, steps: usize) {
        self.setup();
        let end_ms = at("2027-03-01T00:00:00+08:00") * 1000;
        let per_step = (end_ms - self.now_ms) / steps as i64;
        let mut year_closed = false;
        for _ in 0..steps {
            self.now_ms += per_step;
            match self.rng.gen_range(0..100) {
                0..=69 => self.usage(),
                70..=77 => self.corpus(),
                78..=89 => self.reversal(),
                90..=93 => self.close_period(),
                _ => self.payout(),
            }
            if !year_closed && self.now_ms > at("2027-01-20T00:00:00+08:00") * 1000 {
                year_closed = self.finance(FOp::CloseYear(wire::CloseYear { year: 2026 }));
            }
        }
    }
}

// ----- the recomputation: from the list of entries alone -----

#[derive(Default, Debug, PartialEq, Eq)]
struct Scratch {
    months: BTreeMap<(i32, MonthIndex), [Decimal; 5]>,
    month_records: BTreeMap<(i32, MonthIndex), i64>,
    classes: BTreeMap<(i32, String), (i64, Decimal, Decimal)>,
    booked: BTreeMap<(i32, i64), Decimal>,
}

fn scratch(entries: &[Entry]) -> Scratch {
    let mut reversed = BTreeMap::new();
    for e in entries {
        if let Body::Reversal { reversed: f, .. } = &e.body {
            reversed.insert(f.seq, e.time_ms);
        }
    }
    let mut s = Scratch::default();
    let day = |ms: i64| (ms / 1000 + i64::from(CST)).div_euclid(86_400);
    for e in entries {
        let Some(f) = record_facts(e) else { continue };
        let (end, model) = match &e.body {
            Body::Usage { input, .. } => {
                let r: wire::UsageRecord = validate::decode(&input.payload).unwrap();
                (r.end, Some(r.gpu_model))
            }
            Body::Corpus { input, .. } => {
                let r: wire::CorpusRecord = validate::decode(&input.payload).unwrap();
                (r.purchased_at, None)
            }
            _ => unreachable!(),
        };
        let y = f.lines.cap_year;
        let l = &f.lines;
        *s.booked.entry((y, day(e.time_ms))).or_default() += l.renter + l.supplier;
        if let Some(t) = reversed.get(&e.seq) {
            *s.booked.entry((y, day(*t))).or_default() -= l.renter + l.supplier;
            continue;
        }
        // The month of `end` in Shanghai, counted by hand: shift by 8 hours, read the date.
        let date = suanli_core::time::format_rfc3339(end, CST);
        let (yy, mm) = (date[0..4].parse::<i32>().unwrap(), date[5..7].parse::<i32>().unwrap());
        let m = yy * 12 + mm - 1;
        let t = s.months.entry((y, m)).or_default();
        for (i, v) in [f.amount, f.gpu_hours, l.voucher, l.renter, l.supplier].into_iter().enumerate() {
            t[i] += v;
        }
        *s.month_records.entry((y, m)).or_default() += 1;
        if let Some(model) = model {
            let c = s.classes.entry((y, model)).or_default();
            c.0 += 1;
            c.1 += f.gpu_hours;
            c.2 += f.amount;
        }
    }
    s.booked.retain(|_, v| !v.is_zero());
    s
}

/// The aggregates in the recomputation's shape (entries that net to nothing dropped).
fn shape(a: &Aggregates) -> Scratch {
    let mut s = Scratch::default();
    for y in a.years() {
        let t = a.year(y).unwrap();
        for (m, v) in &t.months {
            if v.records != 0 {
                s.months.insert((y, *m), [v.amount, v.gpu_hours, v.voucher, v.renter, v.supplier]);
                s.month_records.insert((y, *m), v.records);
            } else {
                assert!(
                    v.amount.is_zero() && v.voucher.is_zero() && v.renter.is_zero() && v.supplier.is_zero(),
                    "a month whose records were all reversed sums to zero"
                );
            }
        }
        for (c, v) in &t.classes {
            if v.records == 0 {
                continue;
            }
            // Classes beyond the named ones count together; the recomputation names them.
            let name = a.class_name(*c).map(str::to_string).unwrap_or_else(|| "<other>".into());
            s.classes.insert((y, name), (v.records, v.gpu_hours, v.amount));
        }
        for (d, v) in &t.booked {
            if !v.is_zero() {
                s.booked.insert((y, *d), *v);
            }
        }
    }
    s
}

/// Folds models past the named ones into "<other>", in order of first appearance.
fn fold_other(s: &mut Scratch, entries: &[Entry]) {
    let mut order: Vec<String> = vec![];
    for e in entries {
        if let Body::Usage { input, .. } = &e.body {
            let r: wire::UsageRecord = validate::decode(&input.payload).unwrap();
            if !order.contains(&r.gpu_model) {
                order.push(r.gpu_model);
            }
        }
    }
    let named: BTreeSet<String> = order.into_iter().take(GPU_CLASSES_MAX).collect();
    let mut folded = BTreeMap::new();
    for ((y, m), v) in std::mem::take(&mut s.classes) {
        let key = if named.contains(&m) { m } else { "<other>".into() };
        let c: &mut (i64, Decimal, Decimal) = folded.entry((y, key)).or_default();
        c.0 += v.0;
        c.1 += v.1;
        c.2 += v.2;
    }
    s.classes = folded;
}

fn rows_of(report: &AnnualReport) -> BTreeMap<Uscc, Row> {
    report.rows().map(|(id, _, r)| (*id, r.clone())).collect()
}

fn check(case: &Case) {
    let a = &case.aggs;
    assert_eq!(a.next_seq(), case.entries.len() as u64);

    // 1. Against the recomputation from the entries.
    let mut want = scratch(&case.entries);
    fold_other(&mut want, &case.entries);
    let got = shape(a);
    assert_eq!(got.months, want.months, "money by month");
    assert_eq!(got.month_records, want.month_records, "records by month");
    assert_eq!(got.classes, want.classes, "GPU classes");
    assert_eq!(got.booked, want.booked, "R + S logged per day");

    // 2. Against the annual report, every cap year, and the ledger's own totals.
    let years: BTreeSet<i32> = a.years().collect();
    for &y in &years {
        let mut report = AnnualReport::new(y);
        for e in &case.entries {
            report.add(e).unwrap();
        }
        let rows = &a.year(y).unwrap().rows;
        assert_eq!(rows, &rows_of(&report), "rows of {y} equal the annual report's");
        let v = a.view(&case.ledger, y, 3);
        assert_eq!(v.total, report.total(), "TOTAL of {y}");
        assert_eq!(v.as_of_size, report.size);
        let committed = v.committed.last().map(|c| c.1).unwrap_or_default();
        assert_eq!(committed, case.ledger.budget_used(y), "the committed line ends at the budget used in {y}");
        let months_r: Decimal = v.months.iter().map(|m| m.1.renter).sum();
        assert_eq!(months_r, v.total.renter_subsidy, "months sum to the year's renter subsidy");
        let class_hours: Decimal = v.classes.iter().map(|c| c.totals.gpu_hours).sum();
        assert_eq!(class_hours, v.total.rent_gpu_hours, "classes sum to the year's GPU-hours");
        // Top lists: sorted, and the first is the largest row.
        let best = rows.values().map(|r| r.rent_amount).max().unwrap_or_default();
        if let Some(first) = v.top_renters.first() {
            assert_eq!(first.amount, best);
        }
        assert!(v.top_renters.windows(2).all(|w| w[0].amount >= w[1].amount));
        assert!(v.top_suppliers.len() <= 3);
        // Caps: "reached" counts exactly the entities at their cap.
        let at_cap = case
            .ledger
            .entities()
            .filter(|e| case.ledger.renter_used(&e.id, y) == case.ledger.program().renter_cap)
            .count() as u64;
        assert_eq!(v.renters.reached, at_cap);
        let b = &v.renters;
        assert_eq!(b.none + b.under_half + b.half_to_80 + b.near + b.reached, b.entities);
        // Settlement figures add up with what the ledger still holds unsettled.
        let payable = v.total.total_payable();
        assert_eq!(v.settled + v.unsettled, payable, "settled + unsettled = payable in {y}");
        assert_eq!(v.paid, v.total.paid, "paid in periods = paid in the report for {y}");
    }
    // A year nobody used shows empty, not an error.
    let v = a.view(&case.ledger, 1999, 5);
    assert!(v.months.is_empty() && v.top_renters.is_empty() && v.committed.is_empty());

    // 3. A restart: entries 0..k from the log, k.. queued as facts and applied after.
    let k = case.entries.len() / 3;
    let mut rebuilt = Aggregates::new(CST);
    let queued: Vec<Fact> = case.entries[k..].iter().map(|e| Fact::of(e, CST).unwrap()).collect();
    for e in &case.entries[..k] {
        rebuilt.apply(e).unwrap();
    }
    for f in &queued {
        rebuilt.apply_fact(f).unwrap();
    }
    assert_eq!(&rebuilt, a, "rebuilt aggregates equal the ones kept live");

    // 4. The fact of a usage entry whose record the sequencer had decoded already (on the
    //    verification threads) is the fact the dashboard reads from the entry itself.
    let mut usage_entries = 0;
    for e in &case.entries {
        if let Body::Usage { input, .. } = &e.body {
            let known = suanli_core::validate::parse_usage(&input.payload).unwrap().usage.unwrap();
            assert_eq!(Fact::of_known(e, Some(known), CST).unwrap(), Fact::of(e, CST).unwrap());
            usage_entries += 1;
        }
    }
    assert!(usage_entries > 0, "the case has usage entries");
}

fn cases() -> u64 {
    std::env::var("SUANLI_DASHBOARD_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(24)
}

#[test]
fn aggregates_equal_a_recomputation_from_scratch() {
    let mut reached = BTreeSet::new();
    for seed in 0..cases() {
        let mut case = Case::new(seed);
        case.run(400);
        let reversals = case.entries.iter().filter(|e| matches!(e.body, Body::Reversal { .. })).count();
        assert!(reversals > 0, "seed {seed}: the case reverses records");
        for y in case.aggs.years() {
            let t = case.aggs.year(y).unwrap();
            if t.classes.contains_key(&OTHER_CLASS) {
                reached.insert("other class");
            }
            if t.rows.values().any(|r| !r.paid.is_zero()) {
                reached.insert("payouts");
            }
        }
        if case.entries.iter().any(|e| matches!(e.body, Body::Corpus { .. })) {
            reached.insert("corpus");
        }
        if case.ledger.closed_years().contains(&2026) {
            reached.insert("year closed");
        }
        let v = case.aggs.view(&case.ledger, 2026, 5);
        if v.renters.reached > 0 {
            reached.insert("renter cap reached");
        }
        check(&case);
    }
    for want in ["other class", "payouts", "corpus", "year closed", "renter cap reached"] {
        assert!(reached.contains(want), "no case reached: {want}");
    }
}

#[test]
fn a_reversal_of_an_uncounted_record_is_refused_and_changes_nothing() {
    let mut case = Case::new(7);
    case.run(60);
    let before = case.aggs.clone();
    let bogus = Fact {
        seq: case.aggs.next_seq(),
        what: suanli_core::dashboard::FactKind::Reversal {
            of: 1,
            kind: RecordKind::Usage,
            provider: uscc(1),
            renter: uscc(2),
            gpu_hours: Decimal::ONE,
            amount: Decimal::ONE,
            day: 0,
            lines: suanli_core::entry::Lines::zero(
                2026,
                suanli_core::codes::LineReason::NoVoucher,
                suanli_core::codes::LineReason::Granted,
                suanli_core::codes::LineReason::Granted,
            ),
        },
    };
    let err = case.aggs.apply_fact(&bogus).unwrap_err();
    assert!(err.what.contains("not a counted record"), "{err}");
    assert_eq!(case.aggs, before);
}
