//! `suanli voucher …`: the admin issues and revokes vouchers; the holder authorizes
//! providers to draw on them (核销) and withdraws authorizations; anyone entitled reads a
//! voucher's statement.

use std::path::PathBuf;

use anyhow::Context;
use clap::{ArgGroup, Args, Subcommand, ValueEnum};
use ed25519_dalek::SigningKey;
use suanli_cli::Client;
use suanli_cli::i18n::{self, Lang};
use suanli_cli::v1::{self, admin_request, holder_request};
use suanli_core::sheet::{self, Column, Table, col};
use suanli_core::time::format_rfc3339;

use crate::common::{Ctx, RequestId, load_key, parse_time, program_offset_seconds, report_ack, yes_no};

#[derive(Debug, Subcommand)]
pub enum VoucherCommand {
    /// Issue a voucher to a one-person company (admin).
    Issue(IssueArgs),
    /// Let a provider (or data supplier) draw on your voucher, optionally up to a limit (holder).
    Authorize(AuthorizeArgs),
    /// Withdraw a provider's authorization: it draws no more (holder).
    Withdraw(WithdrawArgs),
    /// Revoke a voucher: no further draws; draws already made stand (admin).
    Revoke(RevokeArgs),
    /// Show a voucher: face value, drawn, lapsed, balance, validity, authorizations.
    Statement(StatementArgs),
    /// List vouchers: every holder's with the admin or finance key, or your own with a
    /// holder's key; as a table, CSV, JSON or XLSX.
    ///
    /// Columns: holder_id,holder_name,voucher_id,kind,face_value,drawn,balance,lapsed,
    /// valid_from,valid_until,state, in voucher id order. kind is compute or corpus; state is
    /// active, pending (not yet valid), lapsed (past valid_until) or revoked, judged at the
    /// ledger's clock. The table on standard output, the --excel CSV and the XLSX are for
    /// people (Chinese titles and words under a Chinese locale or in Excel forms); CSV and
    /// JSON keep the identifiers.
    List(ListArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Kind {
    /// A compute voucher (算力券), drawn by usage records.
    Compute,
    /// A corpus voucher (语料券), drawn by corpus-purchase records.
    Corpus,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("state").multiple(false)))]
pub struct ListArgs {
    /// The admin or finance key file (every holder's vouchers), or a holder's key file
    /// (its own vouchers).
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// Only the vouchers of this holder (USCC).
    #[arg(long, value_name = "USCC")]
    holder: Option<String>,
    /// Only vouchers of this kind.
    #[arg(long, value_enum)]
    kind: Option<Kind>,
    /// Only vouchers that can be drawn now (not revoked, within their validity).
    #[arg(long, group = "state")]
    active: bool,
    /// Only vouchers not yet valid (before valid_from).
    #[arg(long, group = "state")]
    pending: bool,
    /// Only vouchers past their validity (what was left has lapsed).
    #[arg(long, group = "state")]
    lapsed: bool,
    /// Only revoked vouchers.
    #[arg(long, group = "state")]
    revoked: bool,
    /// table (default, for reading on a terminal), csv, json or xlsx (needs --out or a pipe).
    #[arg(long, value_enum, default_value = "table")]
    format: ListFormat,
    /// The CSV for double-clicking in Excel/WPS (byte-order mark, CRLF, Chinese column
    /// titles and words, ids kept as text); implies --format csv.
    #[arg(long)]
    excel: bool,
    /// Write to FILE instead of standard output (required for xlsx on a terminal).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

/// Forms of `voucher list`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    Table,
    Csv,
    Json,
    Xlsx,
}

#[derive(Debug, Args)]
pub struct IssueArgs {
    /// The admin key file.
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// The new voucher's id, e.g. V-2026-0001.
    #[arg(long, value_name = "VID")]
    id: String,
    /// USCC of the holder, a company registered with --opc.
    #[arg(long, value_name = "USCC")]
    holder: String,
    /// What the voucher pays for.
    #[arg(long, value_enum)]
    kind: Kind,
    /// Face value in yuan, at most two decimals, e.g. 200000.00.
    #[arg(long, value_name = "YUAN", allow_hyphen_values = true)]
    amount: String,
    /// First moment it can be drawn (inclusive), RFC 3339, e.g. 2026-01-31T00:00:00+08:00.
    #[arg(long, value_name = "RFC3339")]
    valid_from: String,
    /// End of validity (exclusive): what is left then lapses. RFC 3339.
    #[arg(long, value_name = "RFC3339")]
    valid_until: String,
    #[command(flatten)]
    request: RequestId,
}

#[derive(Debug, Args)]
pub struct AuthorizeArgs {
    /// A key file of the voucher's holder.
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// The voucher's id.
    #[arg(long, value_name = "VID")]
    voucher: String,
    /// USCC of the provider (or data supplier) allowed to draw.
    #[arg(long, value_name = "USCC")]
    provider: String,
    /// The most this provider may draw in total, in yuan; no limit when left out.
    /// Authorizing again replaces the limit (what was drawn stays counted).
    #[arg(long, value_name = "YUAN", allow_hyphen_values = true)]
    limit: Option<String>,
    /// USCC of the holder. When left out it is looked up from the voucher (a signed read).
    #[arg(long, value_name = "USCC")]
    holder: Option<String>,
    #[command(flatten)]
    request: RequestId,
}

#[derive(Debug, Args)]
pub struct WithdrawArgs {
    /// A key file of the voucher's holder.
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// The voucher's id.
    #[arg(long, value_name = "VID")]
    voucher: String,
    /// USCC of the provider whose authorization ends.
    #[arg(long, value_name = "USCC")]
    provider: String,
    /// USCC of the holder. When left out it is looked up from the voucher (a signed read).
    #[arg(long, value_name = "USCC")]
    holder: Option<String>,
    #[command(flatten)]
    request: RequestId,
}

#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// The admin key file.
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// The voucher's id.
    #[arg(long, value_name = "VID")]
    voucher: String,
    #[command(flatten)]
    request: RequestId,
}

#[derive(Debug, Args)]
pub struct StatementArgs {
    /// A key file of the holder, or the admin or finance key.
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// The voucher's id.
    #[arg(long, value_name = "VID")]
    voucher: String,
}

pub async fn run(ctx: &Ctx, command: VoucherCommand) -> anyhow::Result<()> {
    match command {
        VoucherCommand::Issue(a) => {
            let op = admin_request::Op::IssueVoucher(v1::IssueVoucher {
                voucher_id: a.id,
                holder_id: a.holder,
                kind: match a.kind {
                    Kind::Compute => v1::VoucherKind::Compute as i32,
                    Kind::Corpus => v1::VoucherKind::Corpus as i32,
                },
                face_value: a.amount,
                valid_from: parse_time("--valid-from", &a.valid_from)?,
                valid_until: parse_time("--valid-until", &a.valid_until)?,
            });
            let key = load_key(&a.key)?;
            report_ack(&ctx.client().await?.admin(&key, a.request.request_id.as_deref(), op).await?)
        }
        VoucherCommand::Revoke(a) => {
            let op = admin_request::Op::RevokeVoucher(v1::RevokeVoucher { voucher_id: a.voucher });
            let key = load_key(&a.key)?;
            report_ack(&ctx.client().await?.admin(&key, a.request.request_id.as_deref(), op).await?)
        }
        VoucherCommand::Authorize(a) => {
            let key = load_key(&a.key)?;
            let client = ctx.client().await?;
            let holder = holder_of(&client, &key, &a.voucher, a.holder).await?;
            let op = holder_request::Op::Authorize(v1::Authorize {
                voucher_id: a.voucher,
                provider_id: a.provider,
                limit: a.limit.unwrap_or_default(),
            });
            report_ack(&client.holder(&key, &holder, a.request.request_id.as_deref(), op).await?)
        }
        VoucherCommand::Withdraw(a) => {
            let key = load_key(&a.key)?;
            let client = ctx.client().await?;
            let holder = holder_of(&client, &key, &a.voucher, a.holder).await?;
            let op = holder_request::Op::Withdraw(v1::Withdraw { voucher_id: a.voucher, provider_id: a.provider });
            report_ack(&client.holder(&key, &holder, a.request.request_id.as_deref(), op).await?)
        }
        VoucherCommand::Statement(a) => statement(ctx, &a).await,
        VoucherCommand::List(a) => list(ctx, &a).await,
    }
}

/// The holder named with --holder, or else the voucher's holder as the ledger tells the key.
async fn holder_of(client: &Client, key: &SigningKey, voucher: &str, given: Option<String>) -> anyhow::Result<String> {
    if let Some(h) = given {
        return Ok(h);
    }
    let v = client
        .get_voucher(key, voucher)
        .await
        .with_context(|| format!("looking up the holder of voucher {voucher:?} (or give --holder USCC)"))?;
    Ok(v.holder_id)
}

async fn statement(ctx: &Ctx, a: &StatementArgs) -> anyhow::Result<()> {
    let key = load_key(&a.key)?;
    let client = ctx.client().await?;
    let v = client.get_voucher(&key, &a.voucher).await?;
    let offset = program_offset_seconds(&client).await;
    let kind = match v.kind() {
        v1::VoucherKind::Compute => "compute",
        v1::VoucherKind::Corpus => "corpus",
        v1::VoucherKind::Unspecified => "unspecified",
    };
    println!("voucher_id: {}", v.voucher_id);
    println!("holder_id: {}", v.holder_id);
    println!("kind: {kind}");
    println!("face_value: {}", v.face_value);
    println!("drawn: {}", v.drawn);
    println!("lapsed: {}", v.lapsed);
    println!("balance: {}", v.balance);
    println!("valid_from: {}", format_rfc3339(v.valid_from, offset));
    println!("valid_until: {}", format_rfc3339(v.valid_until, offset));
    println!("revoked: {}", yes_no(v.revoked));
    for au in &v.authorizations {
        let limit = if au.limit.is_empty() { "none" } else { &au.limit };
        let state = if au.withdrawn { "withdrawn" } else { "active" };
        println!("authorization: {} limit={limit} drawn={} {state}", au.provider_id, au.drawn);
    }
    Ok(())
}

const LIST_COLUMNS: [Column; 11] = [
    col("holder_id", "持券企业统一社会信用代码", sheet::Kind::Id),
    col("holder_name", "持券企业名称", sheet::Kind::Text),
    col("voucher_id", "券号", sheet::Kind::Id),
    col("kind", "券种", sheet::Kind::Text),
    col("face_value", "面值 (元)", sheet::Kind::Money),
    col("drawn", "已核销 (元)", sheet::Kind::Money),
    col("balance", "余额 (元)", sheet::Kind::Money),
    col("lapsed", "已失效 (元)", sheet::Kind::Money),
    col("valid_from", "有效期起", sheet::Kind::Time),
    col("valid_until", "有效期止", sheet::Kind::Time),
    col("state", "状态", sheet::Kind::Text),
];

fn kind_word(k: v1::VoucherKind, lang: Option<Lang>) -> &'static str {
    match (k, lang) {
        (v1::VoucherKind::Compute, Some(Lang::Zh)) => "算力券",
        (v1::VoucherKind::Corpus, Some(Lang::Zh)) => "语料券",
        (v1::VoucherKind::Compute, _) => "compute",
        (v1::VoucherKind::Corpus, _) => "corpus",
        (v1::VoucherKind::Unspecified, _) => "unspecified",
    }
}

fn state_word(s: v1::VoucherState, lang: Option<Lang>) -> &'static str {
    match (s, lang) {
        (v1::VoucherState::Active, Some(Lang::Zh)) => "有效",
        (v1::VoucherState::Pending, Some(Lang::Zh)) => "未生效",
        (v1::VoucherState::Lapsed, Some(Lang::Zh)) => "已过期",
        (v1::VoucherState::Revoked, Some(Lang::Zh)) => "已作废",
        (v1::VoucherState::Active, _) => "active",
        (v1::VoucherState::Pending, _) => "pending",
        (v1::VoucherState::Lapsed, _) => "lapsed",
        (v1::VoucherState::Revoked, _) => "revoked",
        (v1::VoucherState::Unspecified, _) => "unspecified",
    }
}

async fn list(ctx: &Ctx, a: &ListArgs) -> anyhow::Result<()> {
    // --excel is a form of CSV: alone it asks for it; with json or xlsx it is a mistake.
    let format = match (a.format, a.excel) {
        (ListFormat::Table, true) => ListFormat::Csv,
        (ListFormat::Json | ListFormat::Xlsx, true) => anyhow::bail!("{}", i18n::t(i18n::Msg::ExcelNeedsCsv)),
        (f, _) => f,
    };
    let key = load_key(&a.key)?;
    let client = ctx.client().await?;
    let info = client.info().await?;
    let public = key.verifying_key().to_bytes();
    let kind = a.kind.map(|k| match k {
        Kind::Compute => v1::VoucherKind::Compute,
        Kind::Corpus => v1::VoucherKind::Corpus,
    });
    let state = if a.active {
        v1::VoucherState::Active
    } else if a.pending {
        v1::VoucherState::Pending
    } else if a.lapsed {
        v1::VoucherState::Lapsed
    } else if a.revoked {
        v1::VoucherState::Revoked
    } else {
        v1::VoucherState::Unspecified
    };
    let listings: Vec<v1::VoucherListing> =
        if public[..] == info.admin_public_key[..] || public[..] == info.finance_public_key[..] {
            let query = v1::VouchersQuery {
                holder_id: a.holder.clone().unwrap_or_default(),
                kind: kind.unwrap_or(v1::VoucherKind::Unspecified) as i32,
                state: state as i32,
                after: String::new(),
                limit: 0,
            };
            client.list_all_vouchers(&key, query).await?.0
        } else {
            // A holder's key: its own vouchers (Vouchers.ListVouchers), filtered here.
            let list = client.list_vouchers(&key, a.holder.as_deref().unwrap_or_default()).await?;
            let now = info.server_time_ms.div_euclid(1000);
            list.vouchers
                .into_iter()
                .map(|v| v1::VoucherListing {
                    state: suanli_proto::convert::voucher_state(v.revoked, v.valid_from, v.valid_until, now) as i32,
                    voucher: Some(v),
                    holder_name: list.holder_name.clone(),
                })
                .filter(|l| {
                    let v = l.voucher.as_ref().expect("set above");
                    kind.is_none_or(|k| v.kind() == k) && (state == v1::VoucherState::Unspecified || l.state() == state)
                })
                .collect()
        };
    let offset = suanli_core::program::Program::from_toml(&info.program_toml).map_or(0, |p| p.utc_offset_seconds);
    let words = match (format, a.excel) {
        (ListFormat::Table, _) => Some(i18n::lang()),
        (ListFormat::Xlsx, _) | (ListFormat::Csv, true) => Some(Lang::Zh),
        _ => None,
    };
    let table = Table {
        sheet: "算力券 Vouchers".into(),
        columns: LIST_COLUMNS.to_vec(),
        rows: listings
            .iter()
            .filter_map(|l| {
                let v = l.voucher.as_ref()?;
                Some(vec![
                    v.holder_id.clone(),
                    l.holder_name.clone(),
                    v.voucher_id.clone(),
                    kind_word(v.kind(), words).to_string(),
                    v.face_value.clone(),
                    v.drawn.clone(),
                    v.balance.clone(),
                    v.lapsed.clone(),
                    format_rfc3339(v.valid_from, offset),
                    format_rfc3339(v.valid_until, offset),
                    state_word(l.state(), words).to_string(),
                ])
            })
            .collect(),
        bold_rows: Vec::new(),
        frozen_columns: 3,
    };
    let bytes = match (format, a.excel) {
        (ListFormat::Table, _) => text_table(&table, i18n::lang()).into_bytes(),
        (ListFormat::Csv, false) => sheet::to_csv(&table).into_bytes(),
        (ListFormat::Csv, true) => sheet::to_excel_csv(&table),
        (ListFormat::Json, _) => {
            let rows: Vec<serde_json::Value> = table
                .rows
                .iter()
                .map(|r| {
                    let fields = table.columns.iter().zip(r).map(|(c, v)| (c.id.to_string(), v.clone().into()));
                    serde_json::Value::Object(fields.collect())
                })
                .collect();
            let mut s = serde_json::to_string_pretty(&rows)?;
            s.push('\n');
            s.into_bytes()
        }
        (ListFormat::Xlsx, _) => {
            let now =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
            let x = |e: rust_xlsxwriter::XlsxError| anyhow::anyhow!("cannot write the workbook: {e}");
            let mut wb = sheet::new_workbook("算力券清单 vouchers", now).map_err(x)?;
            sheet::add_table(&mut wb, &table).map_err(x)?;
            sheet::add_columns_sheet(&mut wb, &table).map_err(x)?;
            wb.save_to_buffer().map_err(x)?
        }
    };
    crate::report::write_output(a.out.as_deref(), &bytes, format == ListFormat::Xlsx)
}

/// A table for reading on a terminal: titles in the reader's language, columns aligned by
/// display width (a Chinese character takes two cells), amounts aligned right.
fn text_table(t: &Table, lang: Lang) -> String {
    use unicode_width::UnicodeWidthStr;
    let titles: Vec<&str> = t.columns.iter().map(|c| if lang == Lang::Zh { c.zh } else { c.id }).collect();
    let mut widths: Vec<usize> = titles.iter().map(|h| h.width()).collect();
    for row in &t.rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.width());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut out = String::new();
        for (i, cell) in cells.enumerate() {
            let pad = " ".repeat(widths[i].saturating_sub(cell.width()));
            if i > 0 {
                out.push_str("  ");
            }
            if t.columns[i].kind == sheet::Kind::Money {
                out.push_str(&pad);
                out.push_str(cell);
            } else {
                out.push_str(cell);
                out.push_str(&pad);
            }
        }
        out.truncate(out.trim_end().len());
        out.push('\n');
        out
    };
    let mut out = line(&mut titles.iter().copied());
    for row in &t.rows {
        out.push_str(&line(&mut row.iter().map(String::as_str)));
    }
    out.push_str(&match lang {
        Lang::Zh => format!("共 {} 张券\n", t.rows.len()),
        Lang::En => format!("{} vouchers\n", t.rows.len()),
    });
    out
}
