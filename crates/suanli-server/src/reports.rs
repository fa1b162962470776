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
use std::fmt::Write as _;

use base64::Engine;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use sha2::{Digest, Sha256};
use suanli_core::entry::{Body, Entry};
use suanli_core::ids::Uscc;
use suanli_core::ledger::record_facts;
use suanli_core::merkle::{Frontier, leaf_hash};
use suanli_core::money::{fmt_money, fmt_plain};
use suanli_core::note::{Signer, sign_note};
use suanli_core::report::{AnnualReport, CSV_COLUMNS, Row, csv_cell};
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
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Csv => "csv",
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

fn num(d: Decimal) -> f64 {
    d.to_f64().unwrap_or(0.0)
}

/// The workbook: a report sheet (numbers as numbers, a totals row) and a sheet stating
/// the checkpoint. Its document date is the time of the report's last entry, so two
/// exports at one position are the same bytes.
fn xlsx(
    report: &AnnualReport,
    origin: &str,
    size: u64,
    root: &str,
    last_time_ms: i64,
    offset_seconds: i32,
) -> Result<Vec<u8>, ReportError> {
    use rust_xlsxwriter::{DocProperties, ExcelDateTime, Format as XFormat, Workbook};
    let x = |e: rust_xlsxwriter::XlsxError| ReportError::Xlsx(e.to_string());
    let mut wb = Workbook::new();
    let when = format_rfc3339(last_time_ms.div_euclid(1000), offset_seconds);
    let date = ExcelDateTime::parse_from_str(&when[..19]).map_err(x)?;
    wb.set_properties(&DocProperties::new().set_title("suanli annual settlement report").set_creation_datetime(&date));
    let bold = XFormat::new().set_bold();
    let money = XFormat::new().set_num_format("#,##0.00");
    let money_bold = XFormat::new().set_num_format("#,##0.00").set_bold();
    let hours = XFormat::new().set_num_format("#,##0.######");
    let hours_bold = XFormat::new().set_num_format("#,##0.######").set_bold();
    {
        let sheet = wb.add_worksheet();
        sheet.set_name(format!("Report {}", report.year)).map_err(x)?;
        for (c, name) in CSV_COLUMNS.iter().enumerate() {
            sheet.write_string_with_format(0, c as u16, *name, &bold).map_err(x)?;
        }
        let mut write_row = |r: u32, id: &str, name: &str, row: &Row, total: bool| -> Result<(), ReportError> {
            let (m, h) = if total { (&money_bold, &hours_bold) } else { (&money, &hours) };
            sheet.write_number(r, 0, f64::from(report.year)).map_err(x)?;
            if total {
                sheet.write_string_with_format(r, 1, id, &bold).map_err(x)?;
            } else {
                sheet.write_string(r, 1, id).map_err(x)?;
            }
            sheet.write_string(r, 2, name).map_err(x)?;
            let values: [(Decimal, bool); 15] = [
                (Decimal::from(row.rent_records), false),
                (row.rent_gpu_hours, true),
                (row.rent_amount, false),
                (row.renter_subsidy_uncapped, false),
                (row.renter_subsidy, false),
                (row.voucher_drawn, false),
                (Decimal::from(row.supply_records), false),
                (row.supply_gpu_hours, true),
                (row.supply_amount, false),
                (row.supplier_subsidy_uncapped, false),
                (row.supplier_subsidy, false),
                (row.voucher_reimbursement, false),
                (row.total_payable(), false),
                (row.paid, false),
                (row.outstanding(), false),
            ];
            for (i, (v, is_hours)) in values.iter().enumerate() {
                let col = 3 + i as u16;
                if col == 3 || col == 9 {
                    sheet.write_number(r, col, num(*v)).map_err(x)?;
                } else {
                    sheet.write_number_with_format(r, col, num(*v), if *is_hours { h } else { m }).map_err(x)?;
                }
            }
            Ok(())
        };
        let mut r = 1u32;
        for (id, name, row) in report.rows() {
            write_row(r, id.as_str(), name, row, false)?;
            r += 1;
        }
        write_row(r, "TOTAL", "", &report.total(), true)?;
        sheet.set_column_width(2, 30).map_err(x)?;
        sheet.set_column_width(1, 22).map_err(x)?;
    }
    {
        let sheet = wb.add_worksheet();
        sheet.set_name("Checkpoint").map_err(x)?;
        let rows = [
            ("This report was computed from the ledger's log as of the checkpoint below.", String::new()),
            ("origin", origin.to_string()),
            ("tree size (entries)", size.to_string()),
            ("root hash (base64)", root.to_string()),
            ("year", report.year.to_string()),
            ("time of the last entry", when.clone()),
        ];
        for (i, (k, v)) in rows.iter().enumerate() {
            sheet.write_string_with_format(i as u32, 0, *k, &bold).map_err(x)?;
            sheet.write_string(i as u32, 1, v).map_err(x)?;
        }
        sheet.set_column_width(0, 40).map_err(x)?;
        sheet.set_column_width(1, 60).map_err(x)?;
    }
    wb.save_to_buffer().map_err(x)
}

/// One entity's statement: every record it took part in (as renter, provider or buyer),
/// every reversal of those, every payout to it, and totals per kind and cap year.
pub fn statement(store: &dyn Store, id: &Uscc, year: Option<i32>) -> Result<String, ReportError> {
    let mut out = String::from(
        "seq,time,kind,record_id,role,counterparty,cap_year,gpu_hours,amount,voucher_id,voucher_drawn,renter_subsidy,supplier_subsidy,reasons\n",
    );
    // Per cap year: (renter subsidy, supplier subsidy, voucher reimbursement, paid).
    let mut totals: BTreeMap<i32, [Decimal; 4]> = BTreeMap::new();
    let mut offset_seconds = 8 * 3600;
    let count = store.entry_count()?;
    for item in store.entries(0, count) {
        let (seq, bytes) = item?;
        let entry = Entry::decode(&bytes).map_err(|e| ReportError::Log(format!("entry {seq}: {e}")))?;
        let time = format_rfc3339(entry.time_ms.div_euclid(1000), offset_seconds);
        let (facts, sign, kind) = match &entry.body {
            Body::Genesis(g) => {
                offset_seconds = g.program().utc_offset_seconds;
                continue;
            }
            Body::Usage { .. } | Body::Corpus { .. } => {
                let f = record_facts(&entry).ok_or_else(|| ReportError::Log(format!("entry {seq}: record payload")))?;
                let kind = if matches!(entry.body, Body::Usage { .. }) { "usage" } else { "corpus" };
                (f, Decimal::ONE, kind)
            }
            Body::Reversal { reversed, .. } => (reversed.clone(), Decimal::NEGATIVE_ONE, "reversal"),
            Body::Finance { input, .. } => {
                use prost::Message;
                let req = wire::FinanceRequest::decode(input.payload.as_slice())
                    .map_err(|e| ReportError::Log(format!("entry {seq}: {e}")))?;
                if let Some(wire::finance_request::Op::Payout(p)) = req.op
                    && p.payee_id == id.as_str()
                    && year.is_none_or(|y| y == p.year)
                {
                    let amount = suanli_core::money::parse_decimal(&p.amount, 2)
                        .map_err(|e| ReportError::Log(format!("entry {seq}: {e}")))?;
                    totals.entry(p.year).or_default()[3] += amount;
                    let _ = writeln!(
                        out,
                        "{seq},{time},payout,{},payee,,{},,{},,,,,{}",
                        csv_cell(&p.bank_ref),
                        p.year,
                        fmt_money(amount),
                        csv_cell(&format!("{} {}", p.period, kind_name(p.kind)))
                    );
                }
                continue;
            }
            Body::Admin { .. } | Body::Holder { .. } => continue,
        };
        let l = facts.lines;
        if year.is_some_and(|y| y != l.cap_year) {
            continue;
        }
        let role = if facts.renter == *id && facts.provider == *id {
            "renter+provider"
        } else if facts.renter == *id {
            if facts.kind == suanli_core::model::RecordKind::Corpus { "buyer" } else { "renter" }
        } else if facts.provider == *id {
            "provider"
        } else {
            continue;
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
        let record_id = record_id_of(&entry).unwrap_or_default();
        let _ = writeln!(
            out,
            "{seq},{time},{kind},{},{role},{counterparty},{},{},{},{},{},{},{},{}",
            csv_cell(&record_id),
            l.cap_year,
            fmt_plain(facts.gpu_hours * sign),
            fmt_money(facts.amount * sign),
            csv_cell(facts.voucher_id.as_deref().unwrap_or("")),
            fmt_money(l.voucher * sign),
            fmt_money(l.renter * sign),
            fmt_money(l.supplier * sign),
            l.reasons()
        );
    }
    out.push_str("\ncap_year,renter_subsidy,supplier_subsidy,voucher_reimbursement,total_accrued,paid,owed\n");
    for (y, [r, s, v, paid]) in totals {
        let total = r + s + v;
        let _ = writeln!(
            out,
            "{y},{},{},{},{},{},{}",
            fmt_money(r),
            fmt_money(s),
            fmt_money(v),
            fmt_money(total),
            fmt_money(paid),
            fmt_money(total - paid)
        );
    }
    Ok(out)
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
