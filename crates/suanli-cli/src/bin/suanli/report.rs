//! `suanli report …` and `suanli statement`: the finance bureau's annual settlement report
//! (signed by the ledger, verifiable offline) and one entity's statement.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use suanli_cli::v1;
use suanli_cli::verify::verify_report;

use crate::common::{Ctx, load_key};

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Export the annual settlement report of a cap year (SPEC §10), and FILE.sig beside it.
    ///
    /// The report is computed from the ledger's log as of one entry (the latest, or --as-of)
    /// and signed by the ledger key together with the checkpoint of that position; two
    /// exports at the same position are identical byte for byte.
    Annual(AnnualArgs),
    /// Check a report file against its FILE.sig with the ledger's public key (offline).
    Verify(VerifyArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ReportFormat {
    Csv,
    Json,
    Xlsx,
}

#[derive(Debug, Args)]
pub struct AnnualArgs {
    /// The finance (or admin) key file.
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// The cap year, e.g. 2026.
    #[arg(long, value_name = "YYYY")]
    year: i32,
    /// csv (SPEC §10, for programs), json, or xlsx (Chinese column titles, for Excel/WPS).
    #[arg(long, value_enum, default_value = "csv")]
    format: ReportFormat,
    /// With --format csv: write the CSV for double-clicking in Excel/WPS (UTF-8 with a
    /// byte-order mark, CRLF, Chinese column titles, ids kept as text) instead of the SPEC §10
    /// CSV for programs. Signed like the others.
    #[arg(long)]
    excel: bool,
    /// Where to write the report; the signature goes to FILE.sig.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Compute the report as of this entry (inclusive) instead of the latest.
    #[arg(long, value_name = "SEQ")]
    as_of: Option<u64>,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The report file; its signature is read from FILE.sig.
    #[arg(long, value_name = "FILE")]
    file: PathBuf,
    /// The ledger's public key (base64), as the ledger published it (`suanli log checkpoint`
    /// names it; `suanlid` prints it at start).
    #[arg(long, value_name = "B64")]
    ledger_pubkey: String,
}

#[derive(Debug, Args)]
pub struct StatementArgs {
    /// The entity's own key, or the finance or admin key.
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// USCC of the entity.
    #[arg(long, value_name = "USCC")]
    id: String,
    /// Only this cap year.
    #[arg(long, value_name = "YYYY")]
    year: Option<i32>,
    /// csv (one table: records, reversals, payouts, then a `total` row per cap year) or xlsx.
    #[arg(long, value_enum, default_value = "csv")]
    format: FileFormat,
    /// With csv: the form for double-clicking in Excel/WPS (byte-order mark, CRLF, Chinese
    /// column titles, ids kept as text).
    #[arg(long)]
    excel: bool,
    /// Write to FILE instead of standard output (required for xlsx).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

/// Formats of statements and lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FileFormat {
    Csv,
    Xlsx,
}

/// Writes file bytes to `out`, or to standard output (never XLSX to a terminal).
pub fn write_output(out: Option<&std::path::Path>, bytes: &[u8], binary: bool) -> anyhow::Result<()> {
    use std::io::{IsTerminal, Write};
    match out {
        Some(path) => std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display())),
        None if binary && std::io::stdout().is_terminal() => {
            anyhow::bail!("{}", suanli_cli::i18n::t(suanli_cli::i18n::Msg::XlsxNeedsOut))
        }
        None => {
            let mut o = std::io::stdout().lock();
            o.write_all(bytes)?;
            Ok(o.flush()?)
        }
    }
}

fn sig_path(file: &std::path::Path) -> PathBuf {
    let mut s = file.as_os_str().to_owned();
    s.push(".sig");
    PathBuf::from(s)
}

pub async fn run(ctx: &Ctx, cmd: ReportCommand) -> anyhow::Result<()> {
    match cmd {
        ReportCommand::Annual(a) => {
            let key = load_key(&a.key)?;
            let format = match (a.format, a.excel) {
                (ReportFormat::Csv, false) => v1::ReportFormat::Csv,
                (ReportFormat::Csv, true) => v1::ReportFormat::CsvExcel,
                (ReportFormat::Json, false) => v1::ReportFormat::Json,
                (ReportFormat::Xlsx, false) => v1::ReportFormat::Xlsx,
                (_, true) => anyhow::bail!("{}", suanli_cli::i18n::t(suanli_cli::i18n::Msg::ExcelNeedsCsv)),
            };
            let client = ctx.client().await?;
            let (bytes, signature) = client.annual_report(&key, a.year, a.as_of, format).await?;
            std::fs::write(&a.out, &bytes).with_context(|| format!("writing {}", a.out.display()))?;
            let sig = sig_path(&a.out);
            std::fs::write(&sig, &signature).with_context(|| format!("writing {}", sig.display()))?;
            let size = signature.lines().nth(4).unwrap_or("?");
            println!(
                "{}: annual report {} as of tree size {size}; signature in {}",
                a.out.display(),
                a.year,
                sig.display()
            );
            Ok(())
        }
        ReportCommand::Verify(a) => {
            let key = crate::common::parse_pubkey(&a.ledger_pubkey)?;
            let file = std::fs::read(&a.file).with_context(|| format!("reading {}", a.file.display()))?;
            let sig = sig_path(&a.file);
            let signature = std::fs::read_to_string(&sig).with_context(|| format!("reading {}", sig.display()))?;
            let v = verify_report(&file, &signature, &key).map_err(|e| anyhow::anyhow!("{}: {e}", a.file.display()))?;
            println!(
                "OK {}: {} signed by the ledger {} as of tree size {} (root {}), sha256 {}",
                a.file.display(),
                v.report,
                v.origin,
                v.size,
                v.root,
                v.sha256
            );
            Ok(())
        }
    }
}

pub async fn statement(ctx: &Ctx, a: StatementArgs) -> anyhow::Result<()> {
    let key = load_key(&a.key)?;
    let client = ctx.client().await?;
    let format = match (a.format, a.excel) {
        (FileFormat::Csv, false) => v1::ReportFormat::Csv,
        (FileFormat::Csv, true) => v1::ReportFormat::CsvExcel,
        (FileFormat::Xlsx, false) => v1::ReportFormat::Xlsx,
        (FileFormat::Xlsx, true) => anyhow::bail!("{}", suanli_cli::i18n::t(suanli_cli::i18n::Msg::ExcelNeedsCsv)),
    };
    let bytes = client.statement_file(&key, &a.id, a.year, format).await?;
    write_output(a.out.as_deref(), &bytes, a.format == FileFormat::Xlsx)
}
