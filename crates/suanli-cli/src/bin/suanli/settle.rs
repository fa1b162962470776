//! `suanli settle …`: the finance bureau closes settlement periods and cap years, records
//! payouts against statement lines, and lists the statements.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};
use suanli_cli::output::{periods_table, periods_xlsx, write_periods};
use suanli_core::sheet;
use suanli_cli::v1::{self, finance_request::Op};

use crate::common::{Ctx, RequestId, load_key, report_ack};
use crate::report::{FileFormat, write_output};

#[derive(Debug, Subcommand)]
pub enum SettleCommand {
    /// Close a settlement period: every payable not yet settled becomes a statement line.
    Close(CloseArgs),
    /// Record a payout (or, with a negative amount, money received back on a claw-back line).
    Pay(PayArgs),
    /// Close a cap year: records ending in it are refused from then on (YEAR_CLOSED).
    CloseYear(CloseYearArgs),
    /// List closed periods with their statement lines, then open payables, as CSV.
    ///
    /// Columns: period,closed_at_seq,payee_id,kind,year,amount,paid,outstanding. One row per
    /// statement line of each closed period, in order; then the payables not yet gathered
    /// into a period, with period OPEN and an empty closed_at_seq.
    List(ListArgs),
}

#[derive(Debug, Args)]
pub struct CloseArgs {
    /// The finance key file (finance.key in suanlid's data directory unless given at its first start).
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// Name of the period, e.g. 2026-Q1 (letters, digits, - _ . :).
    #[arg(long, value_name = "NAME")]
    period: String,
    #[command(flatten)]
    request: RequestId,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PayableKind {
    /// Renter subsidy, paid to the renter.
    Renter,
    /// Supplier subsidy, paid to the provider.
    Supplier,
    /// Voucher reimbursement, paid to the provider or data supplier.
    Voucher,
}

#[derive(Debug, Args)]
pub struct PayArgs {
    /// The finance key file.
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// The closed period whose statement line is paid.
    #[arg(long, value_name = "NAME")]
    period: String,
    /// USCC of the payee of the line.
    #[arg(long, value_name = "USCC")]
    payee: String,
    /// Which line of the payee.
    #[arg(long, value_enum)]
    kind: PayableKind,
    /// The cap year of the line.
    #[arg(long, value_name = "YYYY")]
    year: i32,
    /// Yuan paid, at most two decimals; negative for money received back (e.g. -196250.00).
    #[arg(long, value_name = "YUAN", allow_hyphen_values = true)]
    amount: String,
    /// The bank's reference of the transfer; the same reference twice is answered DUPLICATE.
    #[arg(long, value_name = "REF")]
    bank_ref: String,
    #[command(flatten)]
    request: RequestId,
}

#[derive(Debug, Args)]
pub struct CloseYearArgs {
    /// The finance key file.
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// The cap year to close.
    #[arg(long, value_name = "YYYY")]
    year: i32,
    #[command(flatten)]
    request: RequestId,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// The finance (or admin) key file.
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// csv (default) or xlsx (Chinese column titles, frozen header, filters; needs --out).
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

pub async fn run(ctx: &Ctx, command: SettleCommand) -> anyhow::Result<()> {
    let (key, request, op) = match command {
        SettleCommand::Close(a) => (a.key, a.request, Op::ClosePeriod(v1::ClosePeriod { name: a.period })),
        SettleCommand::Pay(a) => {
            let kind = match a.kind {
                PayableKind::Renter => v1::PayableKind::Renter,
                PayableKind::Supplier => v1::PayableKind::Supplier,
                PayableKind::Voucher => v1::PayableKind::Voucher,
            };
            let op = Op::Payout(v1::Payout {
                period: a.period,
                payee_id: a.payee,
                kind: kind as i32,
                year: a.year,
                amount: a.amount,
                bank_ref: a.bank_ref,
            });
            (a.key, a.request, op)
        }
        SettleCommand::CloseYear(a) => (a.key, a.request, Op::CloseYear(v1::CloseYear { year: a.year })),
        SettleCommand::List(a) => {
            let key = load_key(&a.key)?;
            let list = ctx.client().await?.list_periods(&key).await?;
            let bytes = match (a.format, a.excel) {
                (FileFormat::Csv, false) => {
                    let mut out = Vec::new();
                    write_periods(&mut out, &list)?;
                    out
                }
                (FileFormat::Csv, true) => sheet::to_excel_csv(&periods_table(&list)?),
                (FileFormat::Xlsx, false) => {
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_secs() as i64);
                    periods_xlsx(&list, now)?
                }
                (FileFormat::Xlsx, true) => anyhow::bail!("{}", suanli_cli::i18n::t(suanli_cli::i18n::Msg::ExcelNeedsCsv)),
            };
            return write_output(a.out.as_deref(), &bytes, a.format == FileFormat::Xlsx);
        }
    };
    let key = load_key(&key)?;
    report_ack(&ctx.client().await?.finance(&key, request.request_id.as_deref(), op).await?)
}
