//! `suanli usage …` and `suanli corpus …`: providers and data suppliers submit signed
//! records from a CSV file and reverse records they submitted.
//!
//! A submission reads and checks the whole file first, so a row that cannot be encoded
//! stops it before anything is sent. Rows are then signed on a separate thread and streamed
//! over one call while the answers are read; stdout gets exactly the header and one result
//! line per record, in input order, and stderr a line for each refusal.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use ed25519_dalek::SigningKey;
use futures::{FutureExt, StreamExt};
use indicatif::{HumanCount, ProgressBar, ProgressState, ProgressStyle};
use prost::Message;
use suanli_cli::i18n::{self, Msg};
use suanli_cli::input::{self, Notice};
use suanli_cli::output::{ResultWriter, result_cells};
use suanli_cli::records::{CORPUS_COLUMNS, Row, USAGE_COLUMNS, build_corpus, build_usage};
use suanli_cli::signing::{sign_batches_in_order, sign_in_order};
use suanli_cli::v1::{self, Ack};
use suanli_cli::{Client, ClientError};
use suanli_core::codes::{LineReason, RejectCode};
use suanli_core::ledger::InputKind;

use crate::common::{Ctx, load_key};

/// Show a progress bar from this many records on (and only on a terminal).
const PROGRESS_RECORDS_MIN: usize = 1000;

#[derive(Debug, Subcommand)]
pub enum UsageCommand {
    /// Sign and submit the usage records of a CSV file; print one result line per record.
    ///
    /// FILE is RFC 4180 CSV (LF or CRLF) whose header row names these columns, in any
    /// order (invoice_no may be left out):
    ///
    ///   record_id,provider_id,renter_id,contract_id,gpu_model,gpu_count,start,end,gpu_hours,unit_price,amount,voucher_id,invoice_no
    ///
    /// start and end are RFC 3339 times with an offset (2026-03-01T08:00:00+08:00); empty
    /// contract_id, voucher_id and invoice_no mean none. A row that cannot be encoded
    /// (wrong number of fields, gpu_count not an integer, a bad time) stops the command
    /// before anything is sent. Otherwise stdout gets the header
    ///
    ///   record_id,status,seq,voucher_drawn,renter_subsidy,supplier_subsidy,reason
    ///
    /// and one line per record in input order: ACCEPTED or DUPLICATE with the ledger
    /// sequence number, the three money lines and V_REASON|R_REASON|S_REASON, or REJECTED
    /// with the reason code (details on stderr). Rejections are results: the exit status
    /// is 0 once every record is answered. Submitting the same file again is safe: records
    /// already accepted are answered DUPLICATE.
    #[command(verbatim_doc_comment)]
    Submit(SubmitArgs),
    /// Reverse one accepted usage record whole (a correction is a reversal plus a new record).
    ///
    /// Prints the header line and the reversal's result line (its money lines are negative).
    /// Exits 0 when the record is reversed, now (ACCEPTED) or before (DUPLICATE).
    Reverse(ReverseArgs),
}

#[derive(Debug, Subcommand)]
pub enum CorpusCommand {
    /// Sign and submit the corpus-purchase records of a CSV file; print one result line per record.
    ///
    /// FILE is RFC 4180 CSV (LF or CRLF) whose header row names these columns, in any
    /// order (invoice_no may be left out):
    ///
    ///   record_id,supplier_id,buyer_id,voucher_id,amount,purchased_at,description,invoice_no
    ///
    /// purchased_at is an RFC 3339 time with an offset. Output and exit status as for
    /// `suanli usage submit`.
    #[command(verbatim_doc_comment)]
    Submit(SubmitArgs),
    /// Reverse one accepted corpus-purchase record whole.
    Reverse(CorpusReverseArgs),
}

#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// A registered key file of the submitting company (provider_id / supplier_id of every row).
    #[arg(long, value_name = "FILE", required_unless_present = "dry_run")]
    key: Option<PathBuf>,
    /// The file of records: CSV (UTF-8, or GBK/GB18030, converted with a notice) or an
    /// .xlsx workbook (its first sheet, or --sheet).
    #[arg(long, value_name = "FILE")]
    csv: PathBuf,
    /// With an .xlsx file: the sheet to read (default: the first).
    #[arg(long, value_name = "NAME")]
    sheet: Option<String>,
    /// Check the whole file locally and list every problem with its line and column
    /// (columns, field rules, USCC check characters, amount = gpu_hours × unit_price, times,
    /// window, record ids repeated in the file); sign and send nothing. Exit status 3 when
    /// there are problems, 0 when there are none.
    #[arg(long)]
    dry_run: bool,
    /// Also write each row's outcome to FILE (CSV: line, record_id, the result columns, the
    /// ledger's detail and an explanation of the reason), as answers arrive.
    #[arg(long, value_name = "FILE")]
    details: Option<PathBuf>,
    /// Exit with status 3 when any record is REJECTED (for cron jobs); stdout is the same.
    #[arg(long)]
    fail_on_rejected: bool,
    /// The UTC offset of times written without one (2026/3/1 0:00, 2026-03-01 00:00:00).
    #[arg(long, value_name = "+HH:MM", default_value = "+08:00", allow_hyphen_values = true)]
    utc_offset: String,
    /// Sign every usage record on its own instead of in batches of 64 (one signature per
    /// batch, bound to this ledger). Corpus records are always signed one by one.
    #[arg(long)]
    single_signatures: bool,
}

#[derive(Debug, Args)]
pub struct ReverseArgs {
    /// A registered key file of the provider that submitted the record.
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// USCC of the provider that submitted the record.
    #[arg(long, value_name = "USCC")]
    provider: String,
    /// The record_id of the record to reverse.
    #[arg(long, value_name = "RID")]
    record_id: String,
    /// Why it is reversed, 1-200 characters (kept in the log).
    #[arg(long, value_name = "TEXT")]
    reason: String,
}

#[derive(Debug, Args)]
pub struct CorpusReverseArgs {
    /// A registered key file of the data supplier that submitted the record.
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// USCC of the data supplier that submitted the record.
    #[arg(long, value_name = "USCC")]
    supplier: String,
    /// The record_id of the record to reverse.
    #[arg(long, value_name = "RID")]
    record_id: String,
    /// Why it is reversed, 1-200 characters (kept in the log).
    #[arg(long, value_name = "TEXT")]
    reason: String,
}

pub async fn run_usage(ctx: &Ctx, command: UsageCommand) -> anyhow::Result<()> {
    match command {
        UsageCommand::Submit(a) => submit_file(ctx, InputKind::Usage, a).await,
        UsageCommand::Reverse(a) => {
            reverse(ctx, &a.key, a.provider, a.record_id, a.reason, v1::RecordKind::Usage).await
        }
    }
}

pub async fn run_corpus(ctx: &Ctx, command: CorpusCommand) -> anyhow::Result<()> {
    match command {
        CorpusCommand::Submit(a) => submit_file(ctx, InputKind::Corpus, a).await,
        CorpusCommand::Reverse(a) => {
            reverse(ctx, &a.key, a.supplier, a.record_id, a.reason, v1::RecordKind::Corpus).await
        }
    }
}

/// Normalisation changes shown one by one; beyond this, only their number.
const CHANGES_SHOWN_MAX: usize = 20;

fn say(line: &str) {
    eprintln!("suanli: {line}");
}

/// Reads, normalises and (with --dry-run) checks a record file; otherwise signs and submits it.
async fn submit_file(ctx: &Ctx, kind: InputKind, a: SubmitArgs) -> anyhow::Result<()> {
    let offset = input::parse_utc_offset(&a.utc_offset).map_err(|e| anyhow::anyhow!("--utc-offset: {e}"))?;
    let names: &[&'static str] = if kind == InputKind::Corpus { &CORPUS_COLUMNS } else { &USAGE_COLUMNS };
    let file = a.csv.display().to_string();
    let bytes = std::fs::read(&a.csv).with_context(|| format!("{file}: cannot open the CSV file"))?;
    let (mut table, notices) = input::read_bytes(&a.csv, bytes, a.sheet.as_deref()).with_context(|| file.clone())?;
    for n in notices {
        match n {
            Notice::ConvertedFromGb18030 => say(&format!("{file}: {}", i18n::t(Msg::ConvertedFromGb18030))),
            Notice::ReadSheet(name) => say(&format!("{file}: {}", i18n::read_sheet(&name))),
        }
    }
    let changes = input::normalize(&mut table, names, offset);
    for c in changes.iter().take(CHANGES_SHOWN_MAX) {
        say(&i18n::normalized(c.line, c.column, &c.before, &c.after));
    }
    if changes.len() > CHANGES_SHOWN_MAX {
        say(&match i18n::lang() {
            i18n::Lang::Zh => format!("…… 另有 {} 处规范化", changes.len() - CHANGES_SHOWN_MAX),
            i18n::Lang::En => format!("… and {} more cells normalised", changes.len() - CHANGES_SHOWN_MAX),
        });
    }
    if a.dry_run {
        let program = suanli_core::program::Program::suzhou_2026();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
        let cx = input::CheckContext { program: &program, now_unix: now };
        let problems =
            if kind == InputKind::Corpus { input::check_corpus(&table, &cx) } else { input::check_usage(&table, &cx) };
        for p in &problems {
            say(&i18n::problem(p.line, &p.column, &p.message, p.warning));
        }
        let warnings = problems.iter().filter(|p| p.warning).count();
        let errors = problems.len() - warnings;
        say(i18n::t(Msg::DryRunNothingSent));
        let result = i18n::dry_run_result(table.rows.len(), errors, warnings);
        if errors > 0 {
            return Err(Exit { code: 3, message: result }.into());
        }
        say(&result);
        return Ok(());
    }
    let key_path = a.key.as_deref().ok_or_else(|| anyhow::anyhow!("--key is required"))?;
    let key = load_key(key_path)?;
    let options = SubmitOptions {
        details: a.details,
        fail_on_rejected: a.fail_on_rejected,
        single_signatures: a.single_signatures,
    };
    if kind == InputKind::Corpus {
        let rows = build_corpus(&table).with_context(|| file.clone())?;
        let ids = rows.iter().map(|r| (r.line, r.record.record_id.clone())).collect();
        submit(ctx, key, kind, ids, rows, options).await
    } else {
        let rows = build_usage(&table).with_context(|| file.clone())?;
        let ids = rows.iter().map(|r| (r.line, r.record.record_id.clone())).collect();
        submit(ctx, key, kind, ids, rows, options).await
    }
}

fn progress_bar(records: usize) -> Option<ProgressBar> {
    if records < PROGRESS_RECORDS_MIN || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::new(records as u64);
    let (answered, eta) = match i18n::lang() {
        i18n::Lang::Zh => ("已答复", "预计剩余"),
        i18n::Lang::En => ("answered", "eta"),
    };
    let template =
        format!("{{elapsed_precise}} [{{wide_bar}}] {{human_pos}}/{{human_len}} {answered} ({{rate}}, {eta} {{left}})");
    let style = ProgressStyle::with_template(&template).map(|s| {
        s.progress_chars("=> ")
            // Whole records per second: "1,234/s", not "1234.5678/s".
            .with_key("rate", |st: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{}/s", HumanCount(st.per_sec().round() as u64));
            })
            // Minutes and seconds left, shown once the rate has settled.
            .with_key("left", |st: &ProgressState, w: &mut dyn std::fmt::Write| {
                let secs = st.eta().as_secs();
                if st.pos() < 100 || st.per_sec() <= 0.0 {
                    let _ = w.write_str("--:--");
                } else {
                    let _ = write!(w, "{}:{:02}", secs / 60, secs % 60);
                }
            })
    });
    if let Ok(style) = style {
        bar.set_style(style);
    }
    Some(bar)
}

/// Counts of the answers, for the summary.
#[derive(Default)]
struct Tally {
    answered: usize,
    accepted: usize,
    duplicate: usize,
    rejected: usize,
}

/// A command's end with a chosen exit status and message (see main.rs).
#[derive(Debug)]
pub struct Exit {
    pub code: u8,
    pub message: String,
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Exit {}

struct SubmitOptions {
    details: Option<PathBuf>,
    fail_on_rejected: bool,
    /// Sign each usage record on its own instead of in batches (corpus records always are).
    single_signatures: bool,
}

/// The `--details` file: one line per record, written in input order as answers arrive.
struct Details {
    out: csv::Writer<std::fs::File>,
}

impl Details {
    const HEADER: [&str; 10] = [
        "line",
        "record_id",
        "status",
        "seq",
        "voucher_drawn",
        "renter_subsidy",
        "supplier_subsidy",
        "reason",
        "detail",
        "explanation",
    ];

    fn create(path: &Path) -> anyhow::Result<Details> {
        let f = std::fs::File::create(path)
            .with_context(|| format!("{}: cannot create the details file", path.display()))?;
        let mut out = csv::WriterBuilder::new().terminator(csv::Terminator::Any(b'\n')).from_writer(f);
        out.write_record(Self::HEADER)?;
        Ok(Details { out })
    }

    fn write(&mut self, line: u64, record_id: &str, ack: &Ack) -> anyhow::Result<()> {
        let lang = i18n::lang();
        let [_, status, seq, v, r, s, reason] = result_cells(record_id, ack);
        let explanation = match ack.status() {
            v1::Status::Accepted | v1::Status::Duplicate => {
                reason.split('|').filter_map(LineReason::parse).map(|c| c.explain(lang)).collect::<Vec<_>>().join(" | ")
            }
            _ => RejectCode::parse(&reason).map(|c| c.explain(lang).to_string()).unwrap_or_default(),
        };
        self.out.write_record([
            line.to_string(),
            record_id.to_string(),
            status,
            seq,
            v,
            r,
            s,
            reason,
            ack.detail.clone(),
            explanation,
        ])?;
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// Resolves on Ctrl-C (SIGINT) or SIGTERM.
async fn interrupt() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn submit<T: Message + Send + Sync + 'static>(
    ctx: &Ctx,
    key: SigningKey,
    kind: InputKind,
    ids: Vec<(u64, String)>,
    rows: Vec<Row<T>>,
    options: SubmitOptions,
) -> anyhow::Result<()> {
    let client: Client = ctx.client().await?;
    let total = ids.len();
    let mut details = options.details.as_deref().map(Details::create).transpose()?;
    // Each answer reaches stdout as soon as it and all before it are in: interrupting the
    // run (or the ledger stopping) leaves every answer received in the output file.
    let mut out = ResultWriter::new(std::io::BufWriter::new(std::io::stdout()))?;
    out.flush()?;
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let records = rows.into_iter().map(|r| r.record).collect();
    let opened = match kind {
        InputKind::Corpus => client.submit_corpus_stream(sign_in_order(kind, &key, records, threads)).await,
        _ if options.single_signatures => client.submit_usage_stream(sign_in_order(kind, &key, records, threads)).await,
        // Batches are signed for this ledger's origin, so they verify nowhere else.
        _ => match client.info().await {
            Ok(info) => client.submit_usage_batches(sign_batches_in_order(&key, &info.origin, records, threads)).await,
            Err(e) => Err(e),
        },
    };
    let bar = progress_bar(total);
    let mut tally = Tally::default();
    let mut seen = vec![false; total];
    // Acks come in order; any that came early wait here for their turn.
    let mut pending: BTreeMap<usize, Ack> = BTreeMap::new();
    let mut next = 0usize;
    let mut failure: Option<anyhow::Error> = None;
    let mut interrupted = false;
    let stop = interrupt();
    tokio::pin!(stop);
    match opened {
        Err(e) => failure = Some(e.into()),
        Ok(mut acks) => loop {
            if (&mut stop).now_or_never().is_some() {
                interrupted = true;
                break;
            }
            let item = match acks.next().now_or_never() {
                Some(item) => item,
                None => {
                    // Nothing more is in yet: what was answered goes out now.
                    out.flush()?;
                    if let Some(d) = &mut details {
                        d.flush()?;
                    }
                    tokio::select! {
                        biased;
                        _ = &mut stop => {
                            interrupted = true;
                            break;
                        }
                        item = acks.next() => item,
                    }
                }
            };
            let ack = match item {
                None => break,
                Some(Err(e)) => {
                    failure = Some(e.into());
                    break;
                }
                Some(Ok(ack)) => ack,
            };
            let Some(i) = usize::try_from(ack.index).ok().filter(|&i| i < total && !seen[i]) else {
                failure =
                    Some(ClientError::Protocol(format!("an ack for record index {} (sent {total})", ack.index)).into());
                break;
            };
            seen[i] = true;
            tally.answered += 1;
            match ack.status() {
                v1::Status::Accepted => tally.accepted += 1,
                v1::Status::Duplicate => tally.duplicate += 1,
                _ => {
                    tally.rejected += 1;
                    let (line, id) = &ids[i];
                    let message = format!("suanli: {}", i18n::rejected_row(*line, id, &ack.reason, &ack.detail));
                    match &bar {
                        Some(b) => b.suspend(|| eprintln!("{message}")),
                        None => eprintln!("{message}"),
                    }
                }
            }
            pending.insert(i, ack);
            while let Some(a) = pending.remove(&next) {
                out.write(&ids[next].1, &a)?;
                if let Some(d) = &mut details {
                    d.write(ids[next].0, &ids[next].1, &a)?;
                }
                next += 1;
            }
            if let Some(b) = &bar {
                b.inc(1);
            }
        },
    }
    // After a break, print what was answered beyond the first gap too, still in order.
    for (i, a) in pending {
        out.write(&ids[i].1, &a)?;
        if let Some(d) = &mut details {
            d.write(ids[i].0, &ids[i].1, &a)?;
        }
    }
    out.flush()?;
    if let Some(d) = &mut details {
        d.flush()?;
    }
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    if tally.answered > 0 || total == 0 {
        say(&i18n::summary(total, tally.accepted, tally.duplicate, tally.rejected));
    }
    if interrupted {
        return Err(Exit { code: 130, message: i18n::interrupted(tally.answered, total) }.into());
    }
    let unanswered = total - tally.answered;
    if unanswered > 0 {
        let cause = failure.map_or_else(|| "the ledger ended the stream early".to_string(), |e| format!("{e:#}"));
        bail!("{}", i18n::unanswered(unanswered, total, &cause));
    }
    if let Some(e) = failure {
        return Err(e);
    }
    if options.fail_on_rejected && tally.rejected > 0 {
        return Err(Exit { code: 3, message: i18n::some_rejected(tally.rejected) }.into());
    }
    Ok(())
}

async fn reverse(
    ctx: &Ctx,
    key: &Path,
    provider_id: String,
    record_id: String,
    reason: String,
    kind: v1::RecordKind,
) -> anyhow::Result<()> {
    let key = load_key(key)?;
    let client = ctx.client().await?;
    let reversal = v1::Reversal { provider_id, record_id: record_id.clone(), reason, kind: kind as i32 };
    let ack = client.reverse(&key, &reversal).await?;
    let mut out = ResultWriter::new(std::io::stdout().lock())?;
    out.write(&record_id, &ack)?;
    out.flush()?;
    match ack.status() {
        v1::Status::Accepted | v1::Status::Duplicate => Ok(()),
        _ => bail!("rejected: {}: {}", ack.reason, ack.detail),
    }
}
