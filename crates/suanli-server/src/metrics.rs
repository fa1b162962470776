//! Prometheus metrics, in the text exposition format, served at `/metrics` by the web
//! listener and by `metrics_listen` when set (see [`crate::web`]).
//!
//! Counters count since this process started; gauges of money and caps are computed from
//! the ledger state, so they are right after a restart too. Money is formatted from
//! `Decimal` (two places), never through a float.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rust_decimal::Decimal;
use suanli_core::ledger::{Answer, InputKind, Ledger};
use suanli_core::model::VoucherKind;
use suanli_core::money::fmt_money;

/// A histogram with fixed upper bounds, in integer units (microseconds or records).
pub struct Histogram {
    bounds: Vec<u64>,
    counts: Vec<AtomicU64>,
    sum: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    pub fn new(bounds: &[u64]) -> Histogram {
        Histogram {
            bounds: bounds.to_vec(),
            counts: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, value: u64) {
        if let Some(i) = self.bounds.iter().position(|&b| value <= b) {
            self.counts[i].fetch_add(1, Ordering::Relaxed);
        }
        self.sum.fetch_add(value, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// Writes the `_bucket`, `_sum` and `_count` series; `scale` renders a value in
    /// the metric's unit (e.g. microseconds as seconds).
    fn render(&self, out: &mut String, name: &str, help: &str, scale: fn(u64) -> String) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (b, c) in self.bounds.iter().zip(&self.counts) {
            cumulative += c.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{}\"}} {cumulative}", scale(*b));
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(out, "{name}_sum {}", scale(self.sum.load(Ordering::Relaxed)));
        let _ = writeln!(out, "{name}_count {count}");
    }
}

fn micros_as_seconds(us: u64) -> String {
    let s = format!("{}.{:06}", us / 1_000_000, us % 1_000_000);
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn plain(v: u64) -> String {
    v.to_string()
}

/// Microsecond bounds for latencies: 100 µs to 10 s.
const LATENCY_BOUNDS_US: &[u64] = &[
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000,
    10_000_000,
];
/// Bounds for entries per group commit.
const BATCH_BOUNDS: &[u64] = &[1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16_384];

/// Everything counted while the server runs; shared by the services, the sequencer and
/// the committer.
pub struct Metrics {
    /// (input kind, outcome, reject reason or "") → count.
    outcomes: Mutex<BTreeMap<(&'static str, &'static str, &'static str), u64>>,
    pub commit_entries: Histogram,
    pub commit_seconds: Histogram,
    pub ack_seconds: Histogram,
    pub commits: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            outcomes: Mutex::new(BTreeMap::new()),
            commit_entries: Histogram::new(BATCH_BOUNDS),
            commit_seconds: Histogram::new(LATENCY_BOUNDS_US),
            ack_seconds: Histogram::new(LATENCY_BOUNDS_US),
            commits: AtomicU64::new(0),
        }
    }
}

pub fn kind_label(kind: InputKind) -> &'static str {
    match kind {
        InputKind::Usage => "usage",
        InputKind::Corpus => "corpus",
        InputKind::Reversal => "reversal",
        InputKind::Admin => "admin",
        InputKind::Holder => "holder",
        InputKind::Finance => "finance",
    }
}

impl Metrics {
    /// Counts answers, each with its kind of input (one lock per call, not per answer).
    pub fn count_answers<'a>(&self, answers: impl IntoIterator<Item = (InputKind, &'a Answer)>) {
        let mut m = self.outcomes.lock().expect("metrics lock");
        for (kind, a) in answers {
            let kind = kind_label(kind);
            let key = match a {
                Answer::Accepted { .. } => (kind, "accepted", ""),
                Answer::Duplicate { .. } => (kind, "duplicate", ""),
                Answer::Rejected(r) => (kind, "rejected", r.code.as_str()),
            };
            *m.entry(key).or_default() += 1;
        }
    }

    pub fn observe_ack(&self, elapsed: Duration) {
        self.ack_seconds.observe(u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX));
    }

    pub fn observe_commit(&self, entries: usize, elapsed: Duration) {
        self.commits.fetch_add(1, Ordering::Relaxed);
        self.commit_entries.observe(entries as u64);
        self.commit_seconds.observe(u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX));
    }

    /// The whole exposition: counters, histograms, and gauges read from `ledger`.
    pub fn render(&self, ledger: &Ledger) -> String {
        let mut out = String::with_capacity(8 * 1024);
        self.render_counters(&mut out);
        render_state(&mut out, ledger);
        out
    }

    fn render_counters(&self, out: &mut String) {
        let outcomes = self.outcomes.lock().expect("metrics lock").clone();
        out.push_str(
            "# HELP suanli_inputs_total Signed submissions answered, by kind and outcome (accepted, duplicate, rejected).\n\
             # TYPE suanli_inputs_total counter\n",
        );
        let mut by_outcome: BTreeMap<(&str, &str), u64> = BTreeMap::new();
        for ((kind, outcome, _), n) in &outcomes {
            *by_outcome.entry((kind, outcome)).or_default() += n;
        }
        for ((kind, outcome), n) in &by_outcome {
            let _ = writeln!(out, "suanli_inputs_total{{kind=\"{kind}\",outcome=\"{outcome}\"}} {n}");
        }
        out.push_str(
            "# HELP suanli_inputs_rejected_total Rejected submissions, by kind and reason code.\n\
             # TYPE suanli_inputs_rejected_total counter\n",
        );
        for ((kind, outcome, reason), n) in &outcomes {
            if *outcome == "rejected" {
                let _ = writeln!(out, "suanli_inputs_rejected_total{{kind=\"{kind}\",reason=\"{reason}\"}} {n}");
            }
        }
        let _ = writeln!(
            out,
            "# HELP suanli_commits_total Group commits written to the store.\n# TYPE suanli_commits_total counter\n\
             suanli_commits_total {}",
            self.commits.load(Ordering::Relaxed)
        );
        self.commit_entries.render(out, "suanli_commit_entries", "Log entries per group commit (batch size).", plain);
        self.commit_seconds.render(
            out,
            "suanli_commit_seconds",
            "Time to write and flush one group commit.",
            micros_as_seconds,
        );
        self.ack_seconds.render(
            out,
            "suanli_ack_seconds",
            "From a chunk of submissions being taken in (before its signature checks) to its answers (after the commit).",
            micros_as_seconds,
        );
    }
}

/// Gauges computed from the ledger state: log size, subsidy and voucher totals, caps.
fn render_state(out: &mut String, ledger: &Ledger) {
    let _ = writeln!(
        out,
        "# HELP suanli_log_entries Entries in the log (the next sequence number).\n# TYPE suanli_log_entries gauge\n\
         suanli_log_entries {}",
        ledger.next_seq()
    );
    let program = ledger.program();
    // (line, year) → (granted total, largest share of the cap one entity used, entities at the cap)
    let mut lines: BTreeMap<(&str, i32), (Decimal, Decimal, u64)> = BTreeMap::new();
    for e in ledger.entities() {
        for (year, (renter, supplier)) in ledger.cap_use(&e.id) {
            for (line, used, cap) in
                [("renter", renter, program.renter_cap), ("supplier", supplier, program.supplier_cap)]
            {
                if used.is_zero() {
                    continue;
                }
                let slot = lines.entry((line, year)).or_default();
                slot.0 += used;
                if !cap.is_zero() {
                    slot.1 = slot.1.max(used / cap);
                }
                if used >= cap {
                    slot.2 += 1;
                }
            }
        }
    }
    out.push_str(
        "# HELP suanli_subsidy_granted_yuan Subsidy granted, net of reversals, by line and cap year.\n\
         # TYPE suanli_subsidy_granted_yuan gauge\n",
    );
    for ((line, year), (total, _, _)) in &lines {
        let _ = writeln!(out, "suanli_subsidy_granted_yuan{{line=\"{line}\",year=\"{year}\"}} {}", fmt_money(*total));
    }
    out.push_str(
        "# HELP suanli_cap_utilisation_max Largest share of its cap (0 to 1) any one entity has used, by line and cap year.\n\
         # TYPE suanli_cap_utilisation_max gauge\n",
    );
    for ((line, year), (_, share, _)) in &lines {
        let share = share.round_dp_with_strategy(4, rust_decimal::RoundingStrategy::MidpointAwayFromZero).normalize();
        let _ = writeln!(out, "suanli_cap_utilisation_max{{line=\"{line}\",year=\"{year}\"}} {share}");
    }
    out.push_str(
        "# HELP suanli_cap_exhausted_entities Entities that have used their whole cap, by line and cap year.\n\
         # TYPE suanli_cap_exhausted_entities gauge\n",
    );
    for ((line, year), (_, _, n)) in &lines {
        let _ = writeln!(out, "suanli_cap_exhausted_entities{{line=\"{line}\",year=\"{year}\"}} {n}");
    }
    out.push_str(
        "# HELP suanli_subsidy_budget_used_yuan Subsidy counted against the program's budget, by cap year.\n\
         # TYPE suanli_subsidy_budget_used_yuan gauge\n",
    );
    let years: std::collections::BTreeSet<i32> = lines.keys().map(|(_, y)| *y).collect();
    for year in years {
        let _ =
            writeln!(out, "suanli_subsidy_budget_used_yuan{{year=\"{year}\"}} {}", fmt_money(ledger.budget_used(year)));
    }
    let mut vouchers: BTreeMap<&str, (u64, Decimal, Decimal, Decimal)> = BTreeMap::new();
    for v in ledger.vouchers() {
        let kind = match v.kind {
            VoucherKind::Compute => "compute",
            VoucherKind::Corpus => "corpus",
        };
        let slot = vouchers.entry(kind).or_default();
        slot.0 += 1;
        slot.1 += v.face_value;
        slot.2 += v.drawn;
        slot.3 += v.lapsed_returns;
    }
    out.push_str(
        "# HELP suanli_vouchers Vouchers issued, by kind.\n# TYPE suanli_vouchers gauge\n\
         # HELP suanli_voucher_face_value_yuan Face value of the vouchers issued, by kind.\n\
         # TYPE suanli_voucher_face_value_yuan gauge\n\
         # HELP suanli_voucher_drawn_yuan Drawn from vouchers, net of reversals, by kind.\n\
         # TYPE suanli_voucher_drawn_yuan gauge\n",
    );
    for (kind, (n, face, drawn, _)) in &vouchers {
        let _ = writeln!(out, "suanli_vouchers{{kind=\"{kind}\"}} {n}");
        let _ = writeln!(out, "suanli_voucher_face_value_yuan{{kind=\"{kind}\"}} {}", fmt_money(*face));
        let _ = writeln!(out, "suanli_voucher_drawn_yuan{{kind=\"{kind}\"}} {}", fmt_money(*drawn));
    }
    let _ = writeln!(
        out,
        "# HELP suanli_entities Registered entities.\n# TYPE suanli_entities gauge\nsuanli_entities {}",
        ledger.entities().count()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let h = Histogram::new(&[10, 100]);
        for v in [5, 50, 500] {
            h.observe(v);
        }
        let mut out = String::new();
        h.render(&mut out, "x", "help", plain);
        assert!(out.contains("x_bucket{le=\"10\"} 1\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"100\"} 2\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"+Inf\"} 3\n"), "{out}");
        assert!(out.contains("x_sum 555\n"), "{out}");
        assert_eq!(micros_as_seconds(2_500), "0.0025");
        assert_eq!(micros_as_seconds(1_000_000), "1");
    }
}
