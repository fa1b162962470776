//! Reports for the finance bureau and statements for entities, computed from the durable
//! log by streaming it once: memory grows with the number of entities, not of records.
//!
//! An annual report is computed "as of" a tree size N (the latest durable entry, or a
//! chosen one). The same pass recomputes the Merkle root of the first N entries, so the
//! report's signature names the checkpoint it was computed at without trusting any stored
//! hash. The signature is a C2SP signed note by the ledger key:
//!
//! ```text
//! suanli/v1/report
//! sha256 <hex of the file's bytes>
//! annual <year> <csv|json|xlsx>
//! <checkpoint origin>
//! <tree size>
//! <base64 root>
//! ```
//!
//! Its first line can never be a checkpoint's origin line, so a report signature cannot
//! be passed off as a checkpoint or the other way round.

use std::collections::BTreeMap;

use base64::Engine;
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};
use suanli_core::entry::{Body, Entry};
use suanli_core::ids::Uscc;
use suanli_core::ledger::record_facts;
use suanli_core::merkle::{Frontier, leaf_hash};
use suanli_core::money::{fmt_money, fmt_plain};
use suanli_core::note::{Signer, sign_note};
use suanli_core::report::{AnnualReport, CSV_COLUMNS, Row};
use suanli_core::sheet::{self, Column, Kind, Table, col};
use suanli_core::time::format_rfc3339;
use suanli_core::wire;
use suanli_store::Store;

/// The first line of a report signature note.
pub const REPORT_NOTE_TAG: &str = "suanli/v1/report";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Json,
    Xlsx,
    /// The CSV for Excel/WPS users (docs/REPORTS.md); signed like the others.
    CsvExcel,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::CsvExcel => "csv-excel",
            Format::Json => "json",
            Format::Xlsx => "xlsx",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{0}")]
    Store(#[from] suanli_store::StoreError),
    #[error("the log cannot be read back: {0}")]
    Log(String),
    #[error("as of entry {seq}: the ledger has only {count} durable entries")]
    Beyond { seq: u64, count: u64 },
    #[error("cannot write the workbook: {0}")]
    Xlsx(String),
}

/// A finished report: the file's bytes and its signature note.
pub struct SignedReport {
    pub bytes: Vec<u8>,
    pub signature: String,
    pub size: u64,
}

/// The annual report of `year` as of entry `as_of` (inclusive; `None`: the latest).
pub fn annual(
    store: &dyn Store,
    signer: &Signer,
    year: i32,
    as_of: Option<u64>,
    format: Format,
) -> Result<SignedReport, ReportError> {
    let count = store.entry_count()?;
    let size = match as_of {
        Some(seq) if seq >= count => return Err(ReportError::Beyond { seq, count }),
        Some(seq) => seq + 1,
        None => count,
    };
    let mut report = AnnualReport::new(year);
    let mut frontier = Frontier::new();
    let mut last_time_ms = 0;
    let mut offset_seconds = 8 * 3600;
    for item in store.entries(0, size) {
        let (seq, bytes) = item?;
        let entry = Entry::decode(&bytes).map_err(|e| ReportError::Log(format!("entry {seq}: {e}")))?;
        if let Body::Genesis(g) = &entry.body {
            offset_seconds = g.program().utc_offset_seconds;
        }
        report.add(&entry).map_err(|e| ReportError::Log(e.to_string()))?;
        frontier.append(leaf_hash(&bytes), |_, _| {});
        last_time_ms = entry.time_ms;
    }
    if frontier.size() != size {
        return Err(ReportError::Log(format!("read {} entries, expected {size}", frontier.size())));
    }
    let root = base64::engine::general_purpose::STANDARD.encode(frontier.root());
    let bytes = match format {
        Format::Csv => report.to_csv().into_bytes(),
        Format::Json => report.to_json().into_bytes(),
        Format::CsvExcel => sheet::to_excel_csv(&annual_table(&report)),
        Format::Xlsx => xlsx(&report, signer.name(), size, &root, last_time_ms, offset_seconds)?,
    };
    let hash = hex::encode(Sha256::digest(&bytes));
    let text = format!(
        "{REPORT_NOTE_TAG}\nsha256 {hash}\nannual {year} {}\n{}\n{size}\n{root}\n",
        format.as_str(),
        signer.name()
    );
    let signature = sign_note(&text, &[signer]).map_err(|e| ReportError::Log(e.to_string()))?;
    Ok(SignedReport { bytes, signature, size })
}

/// The columns of the annual report (SPEC §10), with the titles a clerk reads.
pub const ANNUAL_COLUMNS: [Column; 18] = [
    col("year", "年度", Kind::Plain),
    col("entity_id", "统一社会信用代码", Kind::Id),
    col("name", "企业名称", Kind::Text),
    col("rent_records", "租用记录数", Kind::Count),
    col("rent_gpu_hours", "租用GPU卡时", Kind::Hours),
    col("rent_amount", "租用金额(元)", Kind::Money),
    col("renter_subsidy_uncapped", "租用补贴未封顶额(元)", Kind::Money),
    col("renter_subsidy", "租用补贴(元)", Kind::Money),
    col("voucher_drawn", "算力券抵扣(元)", Kind::Money),
    col("supply_records", "供给记录数", Kind::Count),
    col("supply_gpu_hours", "供给GPU卡时", Kind::Hours),
    col("supply_amount", "供给金额(元)", Kind::Money),
    col("supplier_subsidy_uncapped", "供给补贴未封顶额(元)", Kind::Money),
    col("supplier_subsidy", "供给补贴(元)", Kind::Money),
    col("voucher_reimbursement", "算力券兑付(元)", Kind::Money),
    col("total_payable", "应付合计(元)", Kind::Money),
    col("paid", "已付(元)", Kind::Money),
    col("outstanding", "未付(元)", Kind::Money),
];

/// The annual report as a table: its cells are the CSV's, row for row.
pub fn annual_table(report: &AnnualReport) -> Table {
    debug_assert!(ANNUAL_COLUMNS.iter().map(|c| c.id).eq(CSV_COLUMNS.iter().copied()));
    let line = |id: &str, name: &str, row: &Row| {
        let mut cells = vec![report.year.to_string(), id.to_string(), name.to_string()];
        cells.extend(row.cells());
        cells
    };
    let mut rows: Vec<Vec<String>> = report.rows().map(|(id, name, row)| line(id.as_str(), name, row)).collect();
    rows.push(line("TOTAL", "", &report.total()));
    Table {
        sheet: format!("年度报告 {}", report.year),
        columns: ANNUAL_COLUMNS.to_vec(),
        bold_rows: vec![rows.len() - 1],
        rows,
        frozen_columns: 3,
    }
}

/// The workbook: the report sheet, a sheet stating the checkpoint, and the column mapping
/// (docs/REPORTS.md). Its document time is the time of the report's last entry, in UTC, so
/// two exports at one position are the same bytes.
fn xlsx(
    report: &AnnualReport,
    origin: &str,
    size: u64,
    root: &str,
    last_time_ms: i64,
    offset_seconds: i32,
) -> Result<Vec<u8>, ReportError> {
    use rust_xlsxwriter::{ExcelDateTime, Format as XFormat};
    let x = |e: rust_xlsxwriter::XlsxError| ReportError::Xlsx(e.to_string());
    let last_seconds = last_time_ms.div_euclid(1000);
    let mut wb = sheet::new_workbook("算力券年度结算报告 suanli annual settlement report", last_seconds).map_err(x)?;
    let table = annual_table(report);
    sheet::add_table(&mut wb, &table).map_err(x)?;
    {
        let when = format_rfc3339(last_seconds, offset_seconds);
        let bold = XFormat::new().set_bold();
        let text = XFormat::new().set_num_format("@");
        let plain = XFormat::new().set_num_format("0");
        let time = XFormat::new().set_num_format("yyyy-mm-dd hh:mm:ss");
        let sheet = wb.add_worksheet();
        sheet.set_name("检查点 Checkpoint").map_err(x)?;
        sheet
            .write_string_with_format(
                0,
                0,
                "本报告按下列检查点时的账本日志计算 (computed from the ledger's log as of this checkpoint)",
                &bold,
            )
            .map_err(x)?;
        let labels = [
            "来源 origin",
            "日志条目数 tree size (entries)",
            "根哈希 root hash (base64)",
            "年度 year",
            "最后条目时间 time of the last entry (RFC 3339)",
            "最后条目时间 time of the last entry (账本时区 ledger time zone)",
        ];
        for (i, l) in labels.iter().enumerate() {
            sheet.write_string_with_format(i as u32 + 1, 0, *l, &bold).map_err(x)?;
        }
        sheet.write_string_with_format(1, 1, origin, &text).map_err(x)?;
        sheet.write_number_with_format(2, 1, size as f64, &plain).map_err(x)?;
        sheet.write_string_with_format(3, 1, root, &text).map_err(x)?;
        sheet.write_number_with_format(4, 1, f64::from(report.year), &plain).map_err(x)?;
        sheet.write_string_with_format(5, 1, &when, &text).map_err(x)?;
        let local = ExcelDateTime::parse_from_str(&when[..19]).map_err(x)?;
        sheet.write_datetime_with_format(6, 1, &local, &time).map_err(x)?;
        sheet.set_column_width(0, 58).map_err(x)?;
        sheet.set_column_width(1, 60).map_err(x)?;
    }
    sheet::add_columns_sheet(&mut wb, &table).map_err(x)?;
    wb.save_to_buffer().map_err(x)
}

/// The columns of an entity statement: one table of records, reversals, payouts and, per
/// cap year, a `total` row.
pub const STATEMENT_COLUMNS: [Column; 18] = [
    col("seq", "日志序号", Kind::Plain),
    col("time", "时间", Kind::Time),
    col("kind", "类型", Kind::Text),
    col("record_id", "记录编号/银行流水号", Kind::Id),
    col("role", "角色", Kind::Text),
    col("counterparty", "对方统一社会信用代码", Kind::Id),
    col("cap_year", "封顶年度", Kind::Plain),
    col("gpu_hours", "GPU卡时", Kind::Hours),
    col("amount", "金额(元)", Kind::Money),
    col("voucher_id", "算力券编号", Kind::Id),
    col("voucher_drawn", "算力券抵扣(元)", Kind::Money),
    col("renter_subsidy", "租用补贴(元)", Kind::Money),
    col("supplier_subsidy", "供给补贴(元)", Kind::Money),
    col("voucher_reimbursement", "算力券兑付(元)", Kind::Money),
    col("total_accrued", "应付合计(元)", Kind::Money),
    col("paid", "已付(元)", Kind::Money),
    col("owed", "未付(元)", Kind::Money),
    col("reasons", "原因代码", Kind::Text),
];

/// What a statement is written as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatementFormat {
    Csv,
    CsvExcel,
    Xlsx,
}

/// One entity's statement as CSV: one table (see [`statement_table`]).
pub fn statement(store: &dyn Store, id: &Uscc, year: Option<i32>) -> Result<String, ReportError> {
    Ok(sheet::to_csv(&statement_table(store, id, year, None)?))
}

/// One entity's statement in `format`. `seqs`: the entity's entries, when an index of them
/// is at hand ([`suanli_core::entity_index`]); `None` reads the whole log. Both give the
/// same bytes.
pub fn statement_file(
    store: &dyn Store,
    id: &Uscc,
    year: Option<i32>,
    seqs: Option<&[u64]>,
    format: StatementFormat,
) -> Result<Vec<u8>, ReportError> {
    let table = statement_table(store, id, year, seqs)?;
    Ok(match format {
        StatementFormat::Csv => sheet::to_csv(&table).into_bytes(),
        StatementFormat::CsvExcel => sheet::to_excel_csv(&table),
        StatementFormat::Xlsx => {
            let x = |e: rust_xlsxwriter::XlsxError| ReportError::Xlsx(e.to_string());
            let last = store.entry_count()?.checked_sub(1);
            let last_ms = match last {
                Some(seq) => store
                    .entries(seq, seq + 1)
                    .next()
                    .transpose()?
                    .map(|(_, b)| Entry::decode(&b).map(|e| e.time_ms))
                    .transpose()
                    .map_err(|e| ReportError::Log(e.to_string()))?
                    .unwrap_or(0),
                None => 0,
            };
            let mut wb = sheet::new_workbook(&format!("对账单 statement {id}"), last_ms.div_euclid(1000)).map_err(x)?;
            sheet::add_table(&mut wb, &table).map_err(x)?;
            sheet::add_columns_sheet(&mut wb, &table).map_err(x)?;
            wb.save_to_buffer().map_err(x)?
        }
    })
}

/// One row of an entity statement, column for column as [`STATEMENT_COLUMNS`] (the
/// columns of the `total` rows, which are not entries, stay out).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatementRow {
    pub seq: u64,
    pub time: String,
    /// `usage`, `corpus`, `reversal` or `payout`.
    pub kind: String,
    /// The record id; for a payout, the bank reference.
    pub record_id: String,
    /// `renter`, `buyer`, `provider`, `renter+provider` or `payee`.
    pub role: String,
    pub counterparty: String,
    pub cap_year: String,
    pub gpu_hours: String,
    pub amount: String,
    pub voucher_id: String,
    pub voucher_drawn: String,
    pub renter_subsidy: String,
    pub supplier_subsidy: String,
    /// A payout's amount.
    pub paid: String,
    /// `V|R|S` reason codes; for a payout, `PERIOD KIND`.
    pub reasons: String,
}

impl StatementRow {
    fn cells(self) -> Vec<String> {
        let e = String::new;
        vec![
            self.seq.to_string(),
            self.time,
            self.kind,
            self.record_id,
            self.role,
            self.counterparty,
            self.cap_year,
            self.gpu_hours,
            self.amount,
            self.voucher_id,
            self.voucher_drawn,
            self.renter_subsidy,
            self.supplier_subsidy,
            e(),
            e(),
            self.paid,
            e(),
            self.reasons,
        ]
    }
}

/// Per cap year: renter subsidy, supplier subsidy, voucher reimbursement, paid.
pub type StatementTotals = BTreeMap<i32, [Decimal; 4]>;

/// The statement row `entry` makes for entity `id` (`year`: only rows of that cap year),
/// adding its amounts to `totals`; `None` when the entry is not on the statement. Times
/// are written at `offset_seconds` from UTC (the program's zone). The one place a
/// statement row is made: the `EntityStatement` file and the console's views both use it.
pub fn statement_row(
    entry: &Entry,
    id: &Uscc,
    year: Option<i32>,
    offset_seconds: i32,
    totals: &mut StatementTotals,
) -> Result<Option<StatementRow>, ReportError> {
    let seq = entry.seq;
    let time = || format_rfc3339(entry.time_ms.div_euclid(1000), offset_seconds);
    let (facts, sign, kind) = match &entry.body {
        Body::Usage { .. } | Body::Corpus { .. } => {
            let f = record_facts(entry).ok_or_else(|| ReportError::Log(format!("entry {seq}: record payload")))?;
            let kind = if matches!(entry.body, Body::Usage { .. }) { "usage" } else { "corpus" };
            (f, Decimal::ONE, kind)
        }
        Body::Reversal { reversed, .. } => (reversed.clone(), Decimal::NEGATIVE_ONE, "reversal"),
        Body::Finance { input, .. } => {
            use prost::Message;
            let req = wire::FinanceRequest::decode(input.payload.as_slice())
                .map_err(|e| ReportError::Log(format!("entry {seq}: {e}")))?;
            let Some(wire::finance_request::Op::Payout(p)) = req.op else { return Ok(None) };
            if p.payee_id != id.as_str() || year.is_some_and(|y| y != p.year) {
                return Ok(None);
            }
            let amount = suanli_core::money::parse_decimal(&p.amount, 2)
                .map_err(|e| ReportError::Log(format!("entry {seq}: {e}")))?;
            totals.entry(p.year).or_default()[3] += amount;
            return Ok(Some(StatementRow {
                seq,
                time: time(),
                kind: "payout".into(),
                record_id: p.bank_ref.clone(),
                role: "payee".into(),
                cap_year: p.year.to_string(),
                amount: fmt_money(amount),
                paid: fmt_money(amount),
                reasons: format!("{} {}", p.period, kind_name(p.kind)),
                ..StatementRow::default()
            }));
        }
        Body::Genesis(_) | Body::Admin { .. } | Body::Holder { .. } => return Ok(None),
    };
    let l = facts.lines;
    if year.is_some_and(|y| y != l.cap_year) {
        return Ok(None);
    }
    let role = if facts.renter == *id && facts.provider == *id {
        "renter+provider"
    } else if facts.renter == *id {
        if facts.kind == suanli_core::model::RecordKind::Corpus { "buyer" } else { "renter" }
    } else if facts.provider == *id {
        "provider"
    } else {
        return Ok(None);
    };
    let counterparty = if facts.renter == *id { facts.provider } else { facts.renter };
    let t = totals.entry(l.cap_year).or_default();
    if facts.renter == *id {
        t[0] += l.renter * sign;
    }
    if facts.provider == *id {
        t[1] += l.supplier * sign;
        t[2] += l.voucher * sign;
    }
    Ok(Some(StatementRow {
        seq,
        time: time(),
        kind: kind.into(),
        record_id: record_id_of(entry).unwrap_or_default(),
        role: role.into(),
        counterparty: counterparty.to_string(),
        cap_year: l.cap_year.to_string(),
        gpu_hours: fmt_plain(facts.gpu_hours * sign),
        amount: fmt_money(facts.amount * sign),
        voucher_id: facts.voucher_id.clone().unwrap_or_default(),
        voucher_drawn: fmt_money(l.voucher * sign),
        renter_subsidy: fmt_money(l.renter * sign),
        supplier_subsidy: fmt_money(l.supplier * sign),
        paid: String::new(),
        reasons: l.reasons(),
    }))
}

/// The program's UTC offset, from the genesis entry.
pub fn utc_offset(store: &dyn Store) -> Result<i32, ReportError> {
    let Some(bytes) = store.entry(0)? else { return Ok(8 * 3600) };
    match Entry::decode(&bytes).map_err(|e| ReportError::Log(format!("entry 0: {e}")))?.body {
        Body::Genesis(g) => Ok(g.program().utc_offset_seconds),
        _ => Err(ReportError::Log("entry 0 is not the genesis entry".into())),
    }
}

/// One entity's statement: every record it took part in (as renter, provider or buyer),
/// every reversal of those, every payout to it (kind `payout`, the bank reference in
/// `record_id`, the amount in `amount` and `paid`), and per cap year a row of kind `total`
/// with the subsidies and reimbursement accrued, what was paid, and what is owed.
/// `seqs`: the entity's entries in log order, if known; otherwise every entry is read.
pub fn statement_table(
    store: &dyn Store,
    id: &Uscc,
    year: Option<i32>,
    seqs: Option<&[u64]>,
) -> Result<Table, ReportError> {
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut totals = StatementTotals::new();
    let offset = utc_offset(store)?;
    let mut add = |seq: u64, bytes: &[u8]| -> Result<(), ReportError> {
        let entry = Entry::decode(bytes).map_err(|e| ReportError::Log(format!("entry {seq}: {e}")))?;
        if let Some(row) = statement_row(&entry, id, year, offset, &mut totals)? {
            rows.push(row.cells());
        }
        Ok(())
    };
    match seqs {
        Some(seqs) => {
            for &seq in seqs {
                let bytes = store.entry(seq)?.ok_or_else(|| ReportError::Log(format!("entry {seq} is missing")))?;
                add(seq, &bytes)?;
            }
        }
        None => {
            for item in store.entries(0, store.entry_count()?) {
                let (seq, bytes) = item?;
                add(seq, &bytes)?;
            }
        }
    }
    let e = String::new;
    let mut bold_rows = Vec::new();
    for (y, [r, s, v, paid]) in totals {
        let total = r + s + v;
        bold_rows.push(rows.len());
        rows.push(vec![
            e(),
            e(),
            "total".into(),
            e(),
            e(),
            e(),
            y.to_string(),
            e(),
            e(),
            e(),
            e(),
            fmt_money(r),
            fmt_money(s),
            fmt_money(v),
            fmt_money(total),
            fmt_money(paid),
            fmt_money(total - paid),
            e(),
        ]);
    }
    Ok(Table {
        sheet: "对账单 Statement".into(),
        columns: STATEMENT_COLUMNS.to_vec(),
        rows,
        bold_rows,
        frozen_columns: 0,
    })
}

fn kind_name(k: i32) -> &'static str {
    match wire::PayableKind::try_from(k) {
        Ok(wire::PayableKind::Renter) => "renter",
        Ok(wire::PayableKind::Supplier) => "supplier",
        Ok(wire::PayableKind::Voucher) => "voucher",
        _ => "?",
    }
}

/// The provider's record id of a record or reversal entry.
fn record_id_of(entry: &Entry) -> Option<String> {
    use prost::Message;
    match &entry.body {
        Body::Usage { input, .. } => wire::UsageRecord::decode(input.payload.as_slice()).ok().map(|r| r.record_id),
        Body::Corpus { input, .. } => wire::CorpusRecord::decode(input.payload.as_slice()).ok().map(|r| r.record_id),
        Body::Reversal { input, .. } => wire::Reversal::decode(input.payload.as_slice()).ok().map(|r| r.record_id),
        _ => None,
    }
}
