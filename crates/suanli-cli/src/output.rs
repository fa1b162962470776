//! What the command line prints for results, as CSV (RFC 4180 quoting, LF line ends):
//!
//! - one line per submitted record or reversal (`usage submit`, `corpus submit`,
//!   `usage reverse`): `record_id,status,seq,voucher_drawn,renter_subsidy,supplier_subsidy,reason`.
//!   ACCEPTED/DUPLICATE carry the seq, the three money lines as the ledger sent them (two
//!   decimals) and `V_REASON|R_REASON|S_REASON`; REJECTED leaves seq and money empty and
//!   gives the code as the reason.
//! - one line per statement line of `settle list`:
//!   `period,closed_at_seq,payee_id,kind,year,amount,paid,outstanding`.

use std::io::Write;

use suanli_core::money::{fmt_money, parse_decimal};
use suanli_core::sheet::{self, Column, Kind, Table, col};
use suanli_proto::v1::{self, Ack, PeriodList, StatementLineInfo};

/// Header of the result lines.
pub const RESULT_HEADER: [&str; 7] =
    ["record_id", "status", "seq", "voucher_drawn", "renter_subsidy", "supplier_subsidy", "reason"];

/// Header of `settle list`.
pub const SETTLE_HEADER: [&str; 8] =
    ["period", "closed_at_seq", "payee_id", "kind", "year", "amount", "paid", "outstanding"];

/// The period column of payables not yet gathered into a closed period.
pub const OPEN_PERIOD: &str = "OPEN";

/// `ACCEPTED`, `DUPLICATE`, `REJECTED` (or `UNSPECIFIED` for an ack no server should send).
pub fn status_name(ack: &Ack) -> &'static str {
    match ack.status() {
        v1::Status::Accepted => "ACCEPTED",
        v1::Status::Duplicate => "DUPLICATE",
        v1::Status::Rejected => "REJECTED",
        v1::Status::Unspecified => "UNSPECIFIED",
    }
}

/// The cells of one result line.
pub fn result_cells(record_id: &str, ack: &Ack) -> [String; 7] {
    let status = status_name(ack).to_string();
    match (ack.status(), &ack.lines) {
        (v1::Status::Accepted | v1::Status::Duplicate, Some(l)) => [
            record_id.to_string(),
            status,
            ack.seq.to_string(),
            l.voucher_drawn.clone(),
            l.renter_subsidy.clone(),
            l.supplier_subsidy.clone(),
            format!("{}|{}|{}", l.voucher_reason, l.renter_reason, l.supplier_reason),
        ],
        (v1::Status::Accepted | v1::Status::Duplicate, None) => [
            record_id.to_string(),
            status,
            ack.seq.to_string(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
        ],
        _ => [
            record_id.to_string(),
            status,
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            ack.reason.clone(),
        ],
    }
}

fn csv_writer<W: Write>(out: W) -> csv::Writer<W> {
    csv::WriterBuilder::new().terminator(csv::Terminator::Any(b'\n')).from_writer(out)
}

fn io_error(e: csv::Error) -> std::io::Error {
    match e.into_kind() {
        csv::ErrorKind::Io(e) => e,
        other => std::io::Error::other(format!("{other:?}")),
    }
}

/// Writes result lines: the header first, then one line per record.
pub struct ResultWriter<W: Write> {
    inner: csv::Writer<W>,
}

impl<W: Write> ResultWriter<W> {
    /// Starts the output with the header line.
    pub fn new(out: W) -> std::io::Result<Self> {
        let mut inner = csv_writer(out);
        inner.write_record(RESULT_HEADER).map_err(io_error)?;
        Ok(ResultWriter { inner })
    }

    pub fn write(&mut self, record_id: &str, ack: &Ack) -> std::io::Result<()> {
        self.inner.write_record(result_cells(record_id, ack)).map_err(io_error)
    }

    pub fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// One result line with its line feed, for tests and messages.
pub fn result_line(record_id: &str, ack: &Ack) -> String {
    let mut w = csv_writer(Vec::new());
    w.write_record(result_cells(record_id, ack)).expect("writing to memory");
    String::from_utf8(w.into_inner().expect("writing to memory")).expect("cells are UTF-8")
}

/// The `--kind` spelling of a payable kind.
pub fn payable_kind_name(kind: v1::PayableKind) -> &'static str {
    match kind {
        v1::PayableKind::Renter => "renter",
        v1::PayableKind::Supplier => "supplier",
        v1::PayableKind::Voucher => "voucher",
        v1::PayableKind::Unspecified => "unspecified",
    }
}

fn settle_cells(period: &str, closed_at_seq: Option<u64>, l: &StatementLineInfo) -> Result<[String; 8], String> {
    let amount = parse_decimal(&l.amount, 2).map_err(|e| format!("amount {:?}: {e}", l.amount))?;
    let paid = parse_decimal(&l.paid, 2).map_err(|e| format!("paid {:?}: {e}", l.paid))?;
    let outstanding = amount.checked_sub(paid).ok_or("outstanding amount overflows")?;
    Ok([
        period.to_string(),
        closed_at_seq.map(|s| s.to_string()).unwrap_or_default(),
        l.payee_id.clone(),
        payable_kind_name(l.kind()).to_string(),
        l.year.to_string(),
        l.amount.clone(),
        l.paid.clone(),
        fmt_money(outstanding),
    ])
}

/// The columns of `settle list`, with the titles a clerk reads.
pub const SETTLE_COLUMNS: [Column; 8] = [
    col("period", "结算期", Kind::Text),
    col("closed_at_seq", "结算期关闭日志序号", Kind::Plain),
    col("payee_id", "收款方统一社会信用代码", Kind::Id),
    col("kind", "类别", Kind::Text),
    col("year", "年度", Kind::Plain),
    col("amount", "金额(元)", Kind::Money),
    col("paid", "已付(元)", Kind::Money),
    col("outstanding", "未付(元)", Kind::Money),
];

/// `settle list` as a table (the same cells as its CSV), for the XLSX and Excel CSV forms.
pub fn periods_table(list: &PeriodList) -> std::io::Result<Table> {
    let bad = |e: String| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("the ledger sent {e}"));
    let mut rows = Vec::new();
    for p in &list.periods {
        for l in &p.lines {
            rows.push(settle_cells(&p.name, Some(p.closed_at_seq), l).map_err(bad)?.to_vec());
        }
    }
    for l in &list.unsettled {
        rows.push(settle_cells(OPEN_PERIOD, None, l).map_err(bad)?.to_vec());
    }
    Ok(Table {
        sheet: "结算 Settlement".into(),
        columns: SETTLE_COLUMNS.to_vec(),
        rows,
        bold_rows: Vec::new(),
        frozen_columns: 0,
    })
}

/// `settle list` as an XLSX workbook: the table and its column mapping (docs/REPORTS.md).
pub fn periods_xlsx(list: &PeriodList, now_unix: i64) -> std::io::Result<Vec<u8>> {
    let table = periods_table(list)?;
    let x = |e: rust_xlsxwriter::XlsxError| std::io::Error::other(e.to_string());
    let mut wb = sheet::new_workbook("结算期与结算单 settlement periods", now_unix).map_err(x)?;
    sheet::add_table(&mut wb, &table).map_err(x)?;
    sheet::add_columns_sheet(&mut wb, &table).map_err(x)?;
    wb.save_to_buffer().map_err(x)
}

/// Writes `settle list`: the header, each closed period's statement lines in order, then the
/// payables not yet settled with period `OPEN` and an empty `closed_at_seq`.
pub fn write_periods<W: Write>(out: W, list: &PeriodList) -> std::io::Result<()> {
    let bad = |e: String| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("the ledger sent {e}"));
    let mut w = csv_writer(out);
    w.write_record(SETTLE_HEADER).map_err(io_error)?;
    for p in &list.periods {
        for l in &p.lines {
            w.write_record(settle_cells(&p.name, Some(p.closed_at_seq), l).map_err(bad)?).map_err(io_error)?;
        }
    }
    for l in &list.unsettled {
        w.write_record(settle_cells(OPEN_PERIOD, None, l).map_err(bad)?).map_err(io_error)?;
    }
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(v: &str, r: &str, s: &str, reasons: [&str; 3]) -> v1::MoneyLines {
        v1::MoneyLines {
            voucher_drawn: v.into(),
            voucher_reason: reasons[0].into(),
            renter_subsidy: r.into(),
            renter_subsidy_uncapped: r.into(),
            renter_reason: reasons[1].into(),
            supplier_subsidy: s.into(),
            supplier_subsidy_uncapped: s.into(),
            supplier_reason: reasons[2].into(),
            cap_year: 2026,
        }
    }

    #[test]
    fn formats_each_status() {
        let accepted = Ack {
            status: v1::Status::Accepted as i32,
            seq: 12,
            lines: Some(lines("0.00", "196250.00", "100000.00", ["NO_VOUCHER", "CAPPED", "GRANTED"])),
            ..Default::default()
        };
        assert_eq!(result_line("u3", &accepted), "u3,ACCEPTED,12,0.00,196250.00,100000.00,NO_VOUCHER|CAPPED|GRANTED\n");
        let dup = Ack { status: v1::Status::Duplicate as i32, ..accepted.clone() };
        assert_eq!(result_line("u3", &dup), "u3,DUPLICATE,12,0.00,196250.00,100000.00,NO_VOUCHER|CAPPED|GRANTED\n");
        let rejected = Ack {
            status: v1::Status::Rejected as i32,
            reason: "AMOUNT_MISMATCH".into(),
            detail: "amount 1.00 is not 2.00".into(),
            ..Default::default()
        };
        assert_eq!(result_line("u9", &rejected), "u9,REJECTED,,,,,AMOUNT_MISMATCH\n");
        let reversal = Ack {
            status: v1::Status::Accepted as i32,
            seq: 20,
            lines: Some(lines("0.00", "-196250.00", "-100000.00", ["NO_VOUCHER", "CAPPED", "GRANTED"])),
            ..Default::default()
        };
        assert_eq!(
            result_line("u3", &reversal),
            "u3,ACCEPTED,20,0.00,-196250.00,-100000.00,NO_VOUCHER|CAPPED|GRANTED\n"
        );
    }

    #[test]
    fn quotes_cells_that_need_it() {
        let rejected = Ack { status: v1::Status::Rejected as i32, reason: "MALFORMED".into(), ..Default::default() };
        assert_eq!(result_line("a,\"b\"", &rejected), "\"a,\"\"b\"\"\",REJECTED,,,,,MALFORMED\n");
    }

    #[test]
    fn writer_starts_with_the_header() {
        let mut out = Vec::new();
        let mut w = ResultWriter::new(&mut out).unwrap();
        let rejected = Ack { status: v1::Status::Rejected as i32, reason: "CONFLICT".into(), ..Default::default() };
        w.write("u1", &rejected).unwrap();
        w.flush().unwrap();
        drop(w);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "record_id,status,seq,voucher_drawn,renter_subsidy,supplier_subsidy,reason\nu1,REJECTED,,,,,CONFLICT\n"
        );
    }

    #[test]
    fn lists_periods_then_open_payables() {
        let line = |payee: &str, kind: v1::PayableKind, amount: &str, paid: &str| StatementLineInfo {
            payee_id: payee.into(),
            kind: kind as i32,
            year: 2026,
            amount: amount.into(),
            paid: paid.into(),
        };
        let list = PeriodList {
            periods: vec![v1::PeriodInfo {
                name: "2026-Q1".into(),
                closed_at_seq: 40,
                lines: vec![
                    line("P", v1::PayableKind::Supplier, "1250.00", "1000.00"),
                    line("R1", v1::PayableKind::Renter, "-196250.00", "0.00"),
                ],
            }],
            unsettled: vec![line("P", v1::PayableKind::Voucher, "50000.00", "0.00")],
            closed_years: vec![],
        };
        let mut out = Vec::new();
        write_periods(&mut out, &list).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "period,closed_at_seq,payee_id,kind,year,amount,paid,outstanding\n\
             2026-Q1,40,P,supplier,2026,1250.00,1000.00,250.00\n\
             2026-Q1,40,R1,renter,2026,-196250.00,0.00,-196250.00\n\
             OPEN,,P,voucher,2026,50000.00,0.00,50000.00\n"
        );
    }
}
