//! Prometheus metrics, kept and encoded by the `prometheus-client` library (the
//! Prometheus project's Rust client, OpenMetrics text), served at `/metrics` by the web
//! listener and by `metrics_listen` when set (see [`crate::web::metrics`]).
//!
//! - Counters and histograms live for the whole process; the input counters exist from
//!   the start (at zero) for every kind and outcome, so rates and alerts work before the
//!   first submission.
//! - Gauges of money and caps are computed from the ledger state at each scrape, so they
//!   are right after a restart too. Money is summed as `Decimal`; only the exposition,
//!   whose values are floats by definition, sees it as `f64` (every amount here has far
//!   fewer than the 15 significant digits an `f64` keeps, so the number written is the
//!   amount).
//! - `process_*` (CPU, memory, file descriptors, threads, start time) are read from
//!   `/proc/self` at each scrape, and `suanli_build_info` says which build runs.
//!
//! A scraper asking for OpenMetrics (`Accept: application/openmetrics-text`) gets it as
//! the library writes it; any other gets the classic text format 0.0.4 ([`to_text_004`]).

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use suanli_core::ledger::{Answer, InputKind, Ledger};
use suanli_core::model::VoucherKind;
use suanli_store::IndexRuns;

/// Label sets: `(name, value)` pairs.
type Labels = Vec<(&'static str, String)>;
type FloatGauge = Gauge<f64, AtomicU64>;

/// Seconds bounds for latencies: 100 µs to 10 s.
const LATENCY_BOUNDS_S: &[f64] =
    &[0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];
fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BOUNDS_S.iter().copied())
}

/// The time one chunk of submissions spent in each stage between being taken in and its
/// commit being written (`suanli_stage_seconds`): what is left of `suanli_ack_seconds` is
/// sending the answers. A tail in the acknowledgement latency shows here as the stage it
/// comes from.
#[derive(Debug, Clone, Copy)]
pub struct Stages {
    pub verify: Duration,
    pub sequencer_queue: Duration,
    pub decide: Duration,
    pub commit_queue: Duration,
    pub commit: Duration,
}

/// The `stage` labels of `suanli_stage_seconds`, in the order of [`Stages`]' fields.
const STAGES: [&str; 5] = ["verify", "sequencer_queue", "decide", "commit_queue", "commit"];

/// Bounds for entries per group commit.
const BATCH_BOUNDS: &[f64] =
    &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0, 4096.0, 8192.0, 16_384.0];

const KINDS: [InputKind; 6] =
    [InputKind::Usage, InputKind::Corpus, InputKind::Reversal, InputKind::Admin, InputKind::Holder, InputKind::Finance];

/// The exposition format a scrape gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `application/openmetrics-text; version=1.0.0`
    OpenMetrics,
    /// `text/plain; version=0.0.4`, the classic Prometheus text format.
    Text004,
}

impl Format {
    /// The format an `Accept` header asks for: OpenMetrics when it is named, else text.
    pub fn from_accept(accept: Option<&str>) -> Format {
        match accept {
            Some(a) if a.contains("application/openmetrics-text") => Format::OpenMetrics,
            _ => Format::Text004,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Format::Text004 => "text/plain; version=0.0.4; charset=utf-8",
        }
    }
}

/// Everything counted while the server runs; shared by the services, the sequencer and
/// the committer.
pub struct Metrics {
    inputs: Family<Labels, Counter>,
    rejected: Family<Labels, Counter>,
    commits: Counter,
    commit_entries: Histogram,
    commit_seconds: Histogram,
    ack_seconds: Histogram,
    /// [`Stages`], by stage.
    stage_seconds: Family<Labels, Histogram, fn() -> Histogram>,
    /// The family's histogram of each of [`STAGES`], looked up once: the committer observes
    /// all five per chunk, and a lookup builds a label and takes the family's lock.
    stages: [Histogram; 5],
    /// Set on a mirror ([`crate::mirror`]): its lag behind the primary and its health.
    pub mirror: std::sync::OnceLock<MirrorMetrics>,
    /// Calls to witnesses ([`crate::witness`]), by witness and outcome.
    witness_calls: Family<Labels, Counter>,
    /// The largest checkpoint size each witness has cosigned for this ledger.
    witness_cosigned_size: Family<Labels, Gauge<i64>>,
    /// The admission gate ([`crate::admission`]) at the last scrape: chunks admitted at
    /// once now, and chunks in the pipeline.
    admission_limit: Gauge<i64>,
    admission_in_flight: Gauge<i64>,
}

/// What a mirror exposes about how far it follows its primary.
#[derive(Debug, Default, Clone)]
pub struct MirrorMetrics {
    /// Entries the newest verified checkpoint of the primary covers that the mirror does not hold yet.
    pub lag_entries: Gauge<i64>,
    /// Seconds since the mirror first saw a verified checkpoint it has not caught up with
    /// (0 when it holds everything the newest checkpoint it saw covers).
    pub lag_seconds: FloatGauge,
    /// Size of the newest checkpoint of the primary whose signature verified.
    pub primary_size: Gauge<i64>,
    /// Entries the mirror holds, every one verified against a signed checkpoint.
    pub entries: Gauge<i64>,
    /// Unix time of the last round that reached the primary and verified what it served.
    pub last_success: FloatGauge,
    /// Rounds that failed (primary unreachable, bad or unverifiable answers): nothing was stored.
    pub errors: Counter,
    /// 1 once the mirror refused the primary (a checkpoint inconsistent with one it verified,
    /// or signed entries its policy replay refuses) and stopped following it.
    pub refused: Gauge<i64>,
}

impl Default for Metrics {
    fn default() -> Self {
        let stage_seconds: Family<Labels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(latency_histogram);
        let stages = STAGES.map(|stage| stage_seconds.get_or_create(&vec![("stage", stage.to_string())]).clone());
        let m = Metrics {
            inputs: Family::default(),
            rejected: Family::default(),
            commits: Counter::default(),
            commit_entries: Histogram::new(BATCH_BOUNDS.iter().copied()),
            commit_seconds: Histogram::new(LATENCY_BOUNDS_S.iter().copied()),
            ack_seconds: Histogram::new(LATENCY_BOUNDS_S.iter().copied()),
            stage_seconds,
            stages,
            mirror: std::sync::OnceLock::new(),
            witness_calls: Family::default(),
            witness_cosigned_size: Family::default(),
            admission_limit: Gauge::default(),
            admission_in_flight: Gauge::default(),
        };
        // Every kind and outcome from the start, at zero.
        for kind in KINDS {
            for outcome in ["accepted", "duplicate", "rejected"] {
                let _ = m.inputs.get_or_create(&outcome_labels(kind_label(kind), outcome));
            }
        }
        m
    }
}

fn outcome_labels(kind: &'static str, outcome: &'static str) -> Labels {
    vec![("kind", kind.to_string()), ("outcome", outcome.to_string())]
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
    /// Counts answers, each with its kind of input.
    pub fn count_answers<'a>(&self, answers: impl IntoIterator<Item = (InputKind, &'a Answer)>) {
        // Tallied first: one labelled counter update per kind and outcome of a chunk,
        // not one (with its label strings) per answer.
        let mut tally: Vec<(&'static str, &'static str, u64)> = Vec::with_capacity(2);
        for (kind, a) in answers {
            let kind = kind_label(kind);
            let outcome = match a {
                Answer::Accepted { .. } => "accepted",
                Answer::Duplicate { .. } => "duplicate",
                Answer::Rejected(r) => {
                    let labels = vec![("kind", kind.to_string()), ("reason", r.code.as_str().to_string())];
                    self.rejected.get_or_create(&labels).inc();
                    "rejected"
                }
            };
            match tally.iter_mut().find(|(k, o, _)| *k == kind && *o == outcome) {
                Some(t) => t.2 += 1,
                None => tally.push((kind, outcome, 1)),
            }
        }
        for (kind, outcome, n) in tally {
            self.inputs.get_or_create(&outcome_labels(kind, outcome)).inc_by(n);
        }
    }

    /// One call to witness `name` ended with `outcome`: `cosigned`, `refused` (the witness
    /// said no, or its cosignature did not verify) or `unreachable`; `cosigned` also sets
    /// the witness's cosigned size.
    pub fn witness_call(&self, name: &str, outcome: &'static str, size: u64) {
        let labels = vec![("witness", name.to_string()), ("outcome", outcome.to_string())];
        self.witness_calls.get_or_create(&labels).inc();
        if outcome == "cosigned" {
            let g = self.witness_cosigned_size.get_or_create(&vec![("witness", name.to_string())]);
            g.set(g.get().max(i64::try_from(size).unwrap_or(i64::MAX)));
        }
    }

    pub fn observe_ack(&self, elapsed: Duration) {
        self.ack_seconds.observe(elapsed.as_secs_f64());
    }

    /// Where one chunk of submissions spent its time before its commit was written.
    pub fn observe_stages(&self, s: &Stages) {
        let durations = [s.verify, s.sequencer_queue, s.decide, s.commit_queue, s.commit];
        for (h, d) in self.stages.iter().zip(durations) {
            h.observe(d.as_secs_f64());
        }
    }

    pub fn observe_commit(&self, entries: usize, elapsed: Duration) {
        self.commits.inc();
        self.commit_entries.observe(entries as f64);
        self.commit_seconds.observe(elapsed.as_secs_f64());
    }

    /// The whole exposition in the classic text format.
    /// Records where the admission gate stands, for the next render.
    pub fn set_admission(&self, limit: usize, in_flight: usize) {
        self.admission_limit.set(i64::try_from(limit).unwrap_or(i64::MAX));
        self.admission_in_flight.set(i64::try_from(in_flight).unwrap_or(i64::MAX));
    }

    pub fn render(&self, ledger: &Ledger, runs: Option<IndexRuns>) -> String {
        self.render_as(ledger, runs, Format::Text004)
    }

    /// The whole exposition: counters, histograms, gauges read from `ledger` and from the
    /// store's index `runs` (stores that merge runs), the process and the build.
    pub fn render_as(&self, ledger: &Ledger, runs: Option<IndexRuns>, format: Format) -> String {
        let mut r = Registry::default();
        r.register(
            "suanli_inputs",
            "Signed submissions answered, by kind and outcome (accepted, duplicate, rejected)",
            self.inputs.clone(),
        );
        r.register("suanli_inputs_rejected", "Rejected submissions, by kind and reason code", self.rejected.clone());
        r.register("suanli_commits", "Group commits written to the store", self.commits.clone());
        r.register("suanli_commit_entries", "Log entries per group commit (batch size)", self.commit_entries.clone());
        r.register("suanli_commit_seconds", "Time to write and flush one group commit", self.commit_seconds.clone());
        r.register(
            "suanli_ack_seconds",
            "From a chunk of submissions being taken in (before its signature checks) to its answers (after the commit)",
            self.ack_seconds.clone(),
        );
        r.register(
            "suanli_stage_seconds",
            "Where each chunk of submissions spent the time suanli_ack_seconds counts, by stage: verify (its signature checks, waiting for a verification thread included), sequencer_queue (verified, until its round began), decide (its round being decided), commit_queue (decided, until the committer took its round), commit (its round written and flushed)",
            self.stage_seconds.clone(),
        );
        r.register(
            "suanli_admission_limit",
            "Chunks of submissions admitted into the pipeline at once now (shrinks while a chunk takes over 40 ms from admission to decision)",
            self.admission_limit.clone(),
        );
        r.register(
            "suanli_admission_in_flight",
            "Chunks of submissions in the pipeline now (verifying or waiting for the sequencer)",
            self.admission_in_flight.clone(),
        );
        r.register(
            "suanli_witness_calls",
            "Requests to witnesses to cosign a checkpoint, by witness and outcome (cosigned, refused, unreachable)",
            self.witness_calls.clone(),
        );
        r.register(
            "suanli_witness_cosigned_size",
            "The largest checkpoint size each witness has cosigned for this ledger",
            self.witness_cosigned_size.clone(),
        );
        if let Some(m) = self.mirror.get() {
            r.register(
                "suanli_mirror_lag_entries",
                "Entries covered by the primary's newest verified checkpoint that this mirror does not hold yet",
                m.lag_entries.clone(),
            );
            r.register(
                "suanli_mirror_lag_seconds",
                "Seconds since this mirror first saw a checkpoint it has not caught up with (0: caught up)",
                m.lag_seconds.clone(),
            );
            r.register(
                "suanli_mirror_primary_checkpoint_size",
                "Size of the newest checkpoint of the primary whose signature verified",
                m.primary_size.clone(),
            );
            r.register("suanli_mirror_entries", "Entries this mirror holds, each verified", m.entries.clone());
            r.register(
                "suanli_mirror_last_success_timestamp_seconds",
                "Unix time of the last round that reached the primary and verified its answers",
                m.last_success.clone(),
            );
            r.register(
                "suanli_mirror_errors",
                "Mirror rounds that failed (unreachable primary, bad answers); nothing was stored",
                m.errors.clone(),
            );
            r.register(
                "suanli_mirror_refused",
                "1: this mirror refused its primary (inconsistent checkpoint or entries) and stopped following it",
                m.refused.clone(),
            );
        }
        register_state(&mut r, ledger);
        if let Some(runs) = runs {
            register_runs(&mut r, runs);
        }
        register_process(&mut r);
        r.register(
            "suanli_build",
            "The suanlid build that runs",
            Info::new(vec![("version", env!("CARGO_PKG_VERSION").to_string())]),
        );
        let mut out = String::with_capacity(16 * 1024);
        encode(&mut out, &r).expect("writing to a String cannot fail");
        match format {
            Format::OpenMetrics => out,
            Format::Text004 => to_text_004(&out),
        }
    }
}

fn yuan(d: Decimal) -> f64 {
    d.to_f64().unwrap_or(f64::NAN)
}

fn gauge_family(r: &mut Registry, name: &str, help: &str) -> Family<Labels, FloatGauge> {
    let f = Family::<Labels, FloatGauge>::default();
    r.register(name, help, f.clone());
    f
}

fn line_year(line: &str, year: i32) -> Labels {
    vec![("line", line.to_string()), ("year", year.to_string())]
}

/// The store's index runs: each commit adds one, and background merges fold them together
/// (`suanli_store::runs`). Runs that keep growing, or merges that never stop, mean the
/// merges fall behind the load; every lookup that passes the key filter reads one block
/// per run.
fn register_runs(r: &mut Registry, runs: IndexRuns) {
    let count = Family::<Labels, Gauge<i64>>::default();
    for (index, n) in [("record", runs.records), ("request", runs.requests)] {
        count.get_or_create(&vec![("index", index.to_string())]).set(i64::try_from(n).unwrap_or(i64::MAX));
    }
    r.register("suanli_index_runs", "Sorted runs of the store's record and request index", count);
    let merging = Gauge::<i64>::default();
    merging.set(i64::try_from(runs.merging).unwrap_or(i64::MAX));
    r.register("suanli_index_merges_running", "Merges of index runs running now", merging);
}

/// Gauges computed from the ledger state: log size, subsidy and voucher totals, caps.
fn register_state(r: &mut Registry, ledger: &Ledger) {
    let entries = Gauge::<i64>::default();
    entries.set(i64::try_from(ledger.next_seq()).unwrap_or(i64::MAX));
    r.register("suanli_log_entries", "Entries in the log (the next sequence number)", entries);
    let program = ledger.program();
    // (line, year) → (granted total, largest share of the cap one entity used, entities at the cap)
    let mut lines: std::collections::BTreeMap<(&str, i32), (Decimal, Decimal, u64)> = Default::default();
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
    let granted =
        gauge_family(r, "suanli_subsidy_granted_yuan", "Subsidy granted, net of reversals, by line and cap year");
    let utilisation = gauge_family(
        r,
        "suanli_cap_utilisation_max_ratio",
        "Largest share of its cap (0 to 1) any one entity has used, by line and cap year",
    );
    let exhausted = gauge_family(
        r,
        "suanli_cap_exhausted_entities",
        "Entities that have used their whole cap, by line and cap year",
    );
    for ((line, year), (total, share, n)) in &lines {
        granted.get_or_create(&line_year(line, *year)).set(yuan(*total));
        let share = share.round_dp_with_strategy(4, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
        utilisation.get_or_create(&line_year(line, *year)).set(yuan(share));
        exhausted.get_or_create(&line_year(line, *year)).set(*n as f64);
    }
    let budget =
        gauge_family(r, "suanli_subsidy_budget_used_yuan", "Subsidy counted against the program's budget, by cap year");
    let years: std::collections::BTreeSet<i32> = lines.keys().map(|(_, y)| *y).collect();
    for year in years {
        budget.get_or_create(&vec![("year", year.to_string())]).set(yuan(ledger.budget_used(year)));
    }
    let mut vouchers: std::collections::BTreeMap<&str, (u64, Decimal, Decimal)> = Default::default();
    for v in ledger.vouchers() {
        let kind = match v.kind {
            VoucherKind::Compute => "compute",
            VoucherKind::Corpus => "corpus",
        };
        let slot = vouchers.entry(kind).or_default();
        slot.0 += 1;
        slot.1 += v.face_value;
        slot.2 += v.drawn;
    }
    let count = gauge_family(r, "suanli_vouchers", "Vouchers issued, by kind");
    let face = gauge_family(r, "suanli_voucher_face_value_yuan", "Face value of the vouchers issued, by kind");
    let drawn = gauge_family(r, "suanli_voucher_drawn_yuan", "Drawn from vouchers, net of reversals, by kind");
    for (kind, (n, f, d)) in &vouchers {
        let labels = vec![("kind", (*kind).to_string())];
        count.get_or_create(&labels).set(*n as f64);
        face.get_or_create(&labels).set(yuan(*f));
        drawn.get_or_create(&labels).set(yuan(*d));
    }
    let entities = Gauge::<i64>::default();
    entities.set(ledger.entities().count() as i64);
    r.register("suanli_entities", "Registered entities", entities);
}

/// What `/proc/self` says about this process (Linux); nothing elsewhere.
#[derive(Debug, Default, PartialEq)]
struct ProcessStats {
    cpu_seconds: f64,
    start_time_seconds: f64,
    threads: i64,
    virtual_bytes: i64,
    resident_bytes: i64,
    open_fds: i64,
    max_fds: i64,
}

/// Clock ticks per second of `/proc`'s CPU times (`USER_HZ`, 100 on every Linux ABI).
const USER_HZ: f64 = 100.0;

fn process_stats() -> Option<ProcessStats> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // Field numbers of proc(5), minus 3 (pid and comm are gone, and it counts from 1).
    let num = |i: usize| f.get(i - 3).and_then(|v| v.parse::<f64>().ok());
    let btime = std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime ").and_then(|v| v.trim().parse::<f64>().ok()))?;
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib = |key: &str| {
        status.lines().find_map(|l| l.strip_prefix(key)).and_then(|v| v.split_whitespace().next()?.parse::<i64>().ok())
    };
    let max_fds = std::fs::read_to_string("/proc/self/limits").ok().and_then(|l| {
        l.lines()
            .find(|l| l.starts_with("Max open files"))
            .and_then(|l| l.split_whitespace().nth(3).and_then(|v| v.parse::<i64>().ok()))
    });
    Some(ProcessStats {
        cpu_seconds: (num(14)? + num(15)?) / USER_HZ,
        start_time_seconds: btime + num(22)? / USER_HZ,
        threads: num(20)? as i64,
        virtual_bytes: kib("VmSize:").unwrap_or(0) * 1024,
        resident_bytes: kib("VmRSS:").unwrap_or(0) * 1024,
        open_fds: std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as i64),
        max_fds: max_fds.unwrap_or(0),
    })
}

/// The standard `process_*` metrics.
fn register_process(r: &mut Registry) {
    let Some(p) = process_stats() else { return };
    let cpu = Counter::<f64, AtomicU64>::default();
    cpu.inc_by(p.cpu_seconds);
    r.register("process_cpu_seconds", "Total user and system CPU time spent in seconds", cpu);
    let gauge = |v: i64| {
        let g = Gauge::<i64>::default();
        g.set(v);
        g
    };
    let start = FloatGauge::default();
    start.set(p.start_time_seconds);
    r.register("process_start_time_seconds", "Start time of the process since unix epoch in seconds", start);
    r.register("process_threads", "Number of OS threads in the process", gauge(p.threads));
    r.register("process_virtual_memory_bytes", "Virtual memory size in bytes", gauge(p.virtual_bytes));
    r.register("process_resident_memory_bytes", "Resident memory size in bytes", gauge(p.resident_bytes));
    r.register("process_open_fds", "Number of open file descriptors", gauge(p.open_fds));
    r.register("process_max_fds", "Maximum number of open file descriptors", gauge(p.max_fds));
}

/// OpenMetrics text as the classic text format 0.0.4, for scrapers that do not ask for
/// OpenMetrics: the samples are the same; a counter's `# TYPE`/`# HELP` name its `_total`
/// series, an info metric becomes a gauge of its `_info` series, and `# UNIT` and `# EOF`
/// (which 0.0.4 does not have) are left out.
pub fn to_text_004(openmetrics: &str) -> String {
    let mut renamed: std::collections::HashMap<&str, (String, &str)> = std::collections::HashMap::new();
    for line in openmetrics.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ")
            && let Some((name, kind)) = rest.split_once(' ')
        {
            match kind {
                "counter" => renamed.insert(name, (format!("{name}_total"), "counter")),
                "info" => renamed.insert(name, (format!("{name}_info"), "gauge")),
                _ => None,
            };
        }
    }
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let meta = ["# TYPE ", "# HELP "].into_iter().find_map(|p| line.strip_prefix(p).map(|rest| (p, rest)));
        if let Some((prefix, rest)) = meta {
            let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
            if let Some((new_name, new_kind)) = renamed.get(name) {
                let tail = if prefix == "# TYPE " { *new_kind } else { tail };
                out.push_str(&format!("{prefix}{new_name} {tail}\n"));
                continue;
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_004_names_counters_by_their_series_and_has_no_eof() {
        let om = "# HELP a Things.\n# TYPE a counter\na_total 3\n# HELP b_seconds B.\n# TYPE b_seconds histogram\n\
                  # UNIT b_seconds seconds\nb_seconds_count 1\n# HELP v Build.\n# TYPE v info\nv_info{version=\"1\"} 1\n# EOF\n";
        let t = to_text_004(om);
        assert!(t.contains("# HELP a_total Things.\n# TYPE a_total counter\na_total 3\n"), "{t}");
        assert!(t.contains("# TYPE b_seconds histogram\nb_seconds_count 1\n"), "{t}");
        assert!(t.contains("# TYPE v_info gauge\nv_info{version=\"1\"} 1\n"), "{t}");
        assert!(!t.contains("# EOF") && !t.contains("# UNIT"), "{t}");
    }

    #[test]
    fn the_process_is_described() {
        let p = process_stats().expect("/proc/self on Linux");
        assert!(p.resident_bytes > 0 && p.threads >= 1 && p.open_fds > 0 && p.max_fds > 0, "{p:?}");
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
        assert!(p.start_time_seconds > now - 86_400.0 * 365.0 && p.start_time_seconds <= now + 1.0, "{p:?}");
    }
}
