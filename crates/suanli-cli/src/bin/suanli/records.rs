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
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use prost::Message;
use suanli_cli::output::{ResultWriter, status_name};
use suanli_cli::records::{Row, parse_corpus_csv, parse_usage_csv};
use suanli_cli::signing::{sign_batches_in_order, sign_in_order};
use suanli_cli::v1::{self, Ack};
use suanli_cli::{Client, ClientError};
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
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// The CSV file of records.
    #[arg(long, value_name = "FILE")]
    csv: PathBuf,
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
        UsageCommand::Submit(a) => {
            let key = load_key(&a.key)?;
            let rows = parse_usage_csv(open_csv(&a.csv)?).with_context(|| a.csv.display().to_string())?;
            let ids = rows.iter().map(|r| (r.line, r.record.record_id.clone())).collect();
            submit(ctx, key, InputKind::Usage, ids, rows, a.single_signatures).await
        }
        UsageCommand::Reverse(a) => {
            reverse(ctx, &a.key, a.provider, a.record_id, a.reason, v1::RecordKind::Usage).await
        }
    }
}

pub async fn run_corpus(ctx: &Ctx, command: CorpusCommand) -> anyhow::Result<()> {
    match command {
        CorpusCommand::Submit(a) => {
            let key = load_key(&a.key)?;
            let rows = parse_corpus_csv(open_csv(&a.csv)?).with_context(|| a.csv.display().to_string())?;
            let ids = rows.iter().map(|r| (r.line, r.record.record_id.clone())).collect();
            submit(ctx, key, InputKind::Corpus, ids, rows, true).await
        }
        CorpusCommand::Reverse(a) => {
            reverse(ctx, &a.key, a.supplier, a.record_id, a.reason, v1::RecordKind::Corpus).await
        }
    }
}

fn open_csv(path: &Path) -> anyhow::Result<std::io::BufReader<std::fs::File>> {
    let f = std::fs::File::open(path).with_context(|| format!("{}: cannot open the CSV file", path.display()))?;
    Ok(std::io::BufReader::new(f))
}

fn progress_bar(records: usize) -> Option<ProgressBar> {
    if records < PROGRESS_RECORDS_MIN || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::new(records as u64);
    let style =
        ProgressStyle::with_template("{elapsed_precise} [{wide_bar}] {pos}/{len} answered ({per_sec}, eta {eta})")
            .map(|s| s.progress_chars("=> "));
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

async fn submit<T: Message + Send + Sync + 'static>(
    ctx: &Ctx,
    key: SigningKey,
    kind: InputKind,
    ids: Vec<(u64, String)>,
    rows: Vec<Row<T>>,
    single_signatures: bool,
) -> anyhow::Result<()> {
    let client: Client = ctx.client().await?;
    let total = ids.len();
    let mut out = ResultWriter::new(std::io::BufWriter::new(std::io::stdout().lock()))?;
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let records = rows.into_iter().map(|r| r.record).collect();
    let opened = match kind {
        InputKind::Corpus => client.submit_corpus_stream(sign_in_order(kind, &key, records, threads)).await,
        _ if single_signatures => client.submit_usage_stream(sign_in_order(kind, &key, records, threads)).await,
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
    match opened {
        Err(e) => failure = Some(e.into()),
        Ok(mut acks) => loop {
            let ack = match acks.next().await {
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
                    let message = format!(
                        "suanli: line {line} record {id}: {} {}: {}",
                        status_name(&ack),
                        ack.reason,
                        ack.detail
                    );
                    match &bar {
                        Some(b) => b.suspend(|| eprintln!("{message}")),
                        None => eprintln!("{message}"),
                    }
                }
            }
            pending.insert(i, ack);
            while let Some(a) = pending.remove(&next) {
                out.write(&ids[next].1, &a)?;
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
    }
    out.flush()?;
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let unanswered = total - tally.answered;
    if unanswered > 0 {
        let cause = failure.map_or_else(|| "the ledger ended the stream early".to_string(), |e| format!("{e:#}"));
        bail!(
            "{unanswered} of {total} records got no answer ({cause}); submit the same file again: \
             records already accepted are answered DUPLICATE, never counted twice"
        );
    }
    if let Some(e) = failure {
        return Err(e);
    }
    if std::io::stderr().is_terminal() {
        eprintln!(
            "suanli: {total} records: {} accepted, {} duplicate, {} rejected",
            tally.accepted, tally.duplicate, tally.rejected
        );
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
