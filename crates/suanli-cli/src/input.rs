//! Record files as billing teams have them: CSV in UTF-8 or GBK/GB18030, or an `.xlsx`
//! workbook, with thousands separators and the date-time forms Excel writes.
//!
//! - [`read_file`] reads either kind into a [`RawTable`]. A CSV that is not UTF-8 but is
//!   valid GB18030 (which includes GBK and GB2312) is converted, with a [`Notice`] saying so;
//!   a workbook's first sheet (or a named one) is read, numbers as Excel stored them and date
//!   cells as wall-clock times.
//! - [`normalize`] rewrites cells to the canonical form *before* anything is signed, and
//!   returns each change (row, column, before, after) so the user sees exactly what will be
//!   signed: `1,000.00` → `1000.00`; `2026/3/1 0:00`, `2026-03-01 00:00:00+08:00` and
//!   similar → RFC 3339 with an offset (times without an offset are read at the given UTC
//!   offset, the program's time zone, +08:00 for suzhou-2026).
//! - [`check_usage`] / [`check_corpus`] find every problem of a file locally (`--dry-run`):
//!   columns, field rules (the ledger's own MALFORMED checks, field by field), USCC check
//!   characters, amount = round(gpu_hours × unit_price), GPU-hours possible for the span,
//!   end in the program's window and not in the future, record ids repeated in the file.

use std::collections::HashMap;
use std::path::Path;

use rust_decimal::Decimal;
use suanli_core::money::{
    AMOUNT_MAX, GPU_HOURS_PLACES, MONEY_PLACES, PRICE_PLACES, fmt_money, parse_decimal, round_fen,
};
use suanli_core::program::Program;
use suanli_core::time::{days_from_civil, format_rfc3339, parse_rfc3339};
use suanli_core::validate;

use crate::records::{CORPUS_COLUMNS, CsvError, Fields, RawRow, RawTable, USAGE_COLUMNS, positions_of, read_csv_table};

/// Something the user should know about how the file was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// The CSV was GBK/GB18030 and was converted to UTF-8.
    ConvertedFromGb18030,
    /// The workbook sheet that was read.
    ReadSheet(String),
}

/// What a file holds, by its first bytes (an XLSX is a ZIP archive).
fn is_xlsx(path: &Path, bytes: &[u8]) -> bool {
    bytes.starts_with(b"PK\x03\x04") || path.extension().is_some_and(|e| e.eq_ignore_ascii_case("xlsx"))
}

/// Reads a CSV or XLSX record file into its cells.
pub fn read_file(path: &Path, sheet: Option<&str>) -> Result<(RawTable, Vec<Notice>), CsvError> {
    let bytes = std::fs::read(path).map_err(|e| CsvError { line: 1, message: format!("cannot read the file: {e}") })?;
    read_bytes(path, bytes, sheet)
}

/// Reads a record file's bytes (`path` only tells an `.xlsx` by its name).
pub fn read_bytes(path: &Path, bytes: Vec<u8>, sheet: Option<&str>) -> Result<(RawTable, Vec<Notice>), CsvError> {
    if is_xlsx(path, &bytes) {
        return read_xlsx(bytes, sheet);
    }
    if sheet.is_some() {
        return Err(CsvError { line: 1, message: "--sheet applies to .xlsx files only".into() });
    }
    read_csv_bytes(&bytes)
}

/// Reads CSV bytes: UTF-8 as they are, GB18030 (GBK) converted with a notice.
pub fn read_csv_bytes(bytes: &[u8]) -> Result<(RawTable, Vec<Notice>), CsvError> {
    if std::str::from_utf8(bytes).is_ok() {
        return Ok((read_csv_table(bytes)?, Vec::new()));
    }
    let (text, had_errors) = encoding_rs::GB18030.decode_without_bom_handling(bytes);
    if had_errors {
        // Neither UTF-8 nor GB18030: let the CSV reader name the line that is not UTF-8.
        return Ok((read_csv_table(bytes)?, Vec::new()));
    }
    Ok((read_csv_table(text.as_bytes())?, vec![Notice::ConvertedFromGb18030]))
}

fn read_xlsx(bytes: Vec<u8>, sheet: Option<&str>) -> Result<(RawTable, Vec<Notice>), CsvError> {
    use calamine::{Data, Reader, Xlsx};
    let err = |message: String| CsvError { line: 1, message };
    let mut wb: Xlsx<_> = Xlsx::new(std::io::Cursor::new(bytes))
        .map_err(|e| err(format!("cannot read the workbook (is it an .xlsx file?): {e}")))?;
    let names = wb.sheet_names();
    let name = match sheet {
        Some(s) if names.iter().any(|n| n == s) => s.to_string(),
        Some(s) => return Err(err(format!("the workbook has no sheet {s:?}; its sheets are {}", names.join(", ")))),
        None => names.first().cloned().ok_or_else(|| err("the workbook has no sheets".into()))?,
    };
    let range = wb.worksheet_range(&name).map_err(|e| err(format!("sheet {name:?}: {e}")))?;
    // Row numbers as Excel shows them (1-based, counting rows above the used range).
    let first_row = range.start().map_or(0, |(r, _)| r);
    let first_col = range.start().map_or(0, |(_, c)| c);
    let mut table = RawTable::default();
    let mut header_seen = false;
    for (i, row) in range.rows().enumerate() {
        let line = u64::from(first_row) + i as u64 + 1;
        let mut cells: Vec<String> = (0..first_col).map(|_| String::new()).collect();
        cells.extend(row.iter().map(|c| match c {
            Data::Empty => String::new(),
            Data::String(s) => s.clone(),
            Data::Int(n) => n.to_string(),
            Data::Float(f) => float_text(*f),
            Data::Bool(b) => b.to_string(),
            Data::DateTime(d) => serial_to_wall_clock(d.as_f64()),
            Data::DateTimeIso(s) => s.replace('T', " "),
            Data::DurationIso(s) => s.clone(),
            Data::Error(e) => format!("#{e:?}"),
        }));
        while cells.last().is_some_and(String::is_empty) {
            cells.pop();
        }
        if cells.is_empty() {
            continue;
        }
        if !header_seen {
            header_seen = true;
            table.header_line = line;
            table.header = cells;
            continue;
        }
        // Short rows (trailing empty cells) are padded to the header's width.
        if cells.len() < table.header.len() {
            cells.resize(table.header.len(), String::new());
        }
        table.rows.push(RawRow { line, cells });
    }
    Ok((table, vec![Notice::ReadSheet(name)]))
}

/// A number cell as the shortest decimal that reads back as the same double (what Excel
/// shows for a cell typed as `12.5` or `1000`).
fn float_text(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 { format!("{}", f as i64) } else { format!("{f}") }
}

/// An Excel date serial (days since 1899-12-30, the fraction the time of day) as
/// `YYYY-MM-DD HH:MM:SS`, to be read at the file's UTC offset by [`normalize`].
fn serial_to_wall_clock(serial: f64) -> String {
    let seconds = (serial * 86_400.0).round() as i64;
    let base = days_from_civil(1899, 12, 30) * 86_400;
    let t = format_rfc3339(base + seconds, 0);
    format!("{} {}", &t[..10], &t[11..19])
}

/// One cell rewritten before signing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub line: u64,
    pub column: &'static str,
    pub before: String,
    pub after: String,
}

/// How each column of a record file is normalised.
#[derive(Clone, Copy)]
enum Norm {
    Number,
    Time,
    Trim,
}

fn norm_of(column: &str) -> Norm {
    match column {
        "gpu_count" | "gpu_hours" | "unit_price" | "amount" => Norm::Number,
        "start" | "end" | "purchased_at" => Norm::Time,
        _ => Norm::Trim,
    }
}

/// A number with thousands separators (`1,000.00`, `12,500`) or a currency sign written
/// plainly; `None` when it is already plain or is not such a number.
fn plain_number(s: &str) -> Option<String> {
    let t = s.trim().trim_start_matches(['¥', '￥']).trim();
    let (int, frac) = t.split_once('.').map_or((t, None), |(i, f)| (i, Some(f)));
    let digits = int.strip_prefix('-').unwrap_or(int);
    let groups: Vec<&str> = digits.split(',').collect();
    let grouped = groups.len() > 1
        && (1..=3).contains(&groups[0].len())
        && groups[1..].iter().all(|g| g.len() == 3)
        && groups.iter().all(|g| g.bytes().all(|b| b.is_ascii_digit()));
    if !grouped && groups.len() > 1 {
        return None;
    }
    if !digits.bytes().all(|b| b.is_ascii_digit() || b == b',') || digits.is_empty() {
        return None;
    }
    if frac.is_some_and(|f| f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit())) {
        return None;
    }
    let mut out = int.replace(',', "");
    if let Some(f) = frac {
        out.push('.');
        out.push_str(f);
    }
    (out != s).then_some(out)
}

/// An offset written `+08:00`, `+0800`, `+08` or `Z`, in seconds.
fn parse_offset(s: &str) -> Option<i32> {
    if s == "Z" || s == "z" {
        return Some(0);
    }
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    if !digits.bytes().all(|b| b.is_ascii_digit()) || !matches!(digits.len(), 2 | 4) {
        return None;
    }
    let h: i32 = digits[..2].parse().ok()?;
    let m: i32 = if digits.len() == 4 { digits[2..].parse().ok()? } else { 0 };
    (h <= 23 && m <= 59).then_some(sign * (h * 3600 + m * 60))
}

/// Parses `+08:00`-style offsets for `--utc-offset`.
pub fn parse_utc_offset(s: &str) -> Result<i32, String> {
    parse_offset(s).ok_or_else(|| format!("{s:?} is not a UTC offset such as +08:00"))
}

/// A date-time as Excel and people write it (`2026/3/1 0:00`, `2026-03-01 00:00:00`,
/// `2026-03-01 00:00:00+08:00`, `2026-3-1T8:00`), as RFC 3339; `None` when it is already
/// RFC 3339 or is not such a time.
fn rfc3339_of(s: &str, default_offset: i32) -> Option<String> {
    let t = s.trim();
    if parse_rfc3339(t).is_ok() {
        return (t != s).then(|| t.to_string());
    }
    // Split off an offset after the time: Z, or + / - followed by digits.
    let (body, offset) = match t.rfind(['+', 'Z', 'z']).or_else(|| t.rfind('-').filter(|&i| i > 10)) {
        Some(i) if i > 8 => (t[..i].trim_end(), parse_offset(t[i..].trim())?),
        _ => (t, default_offset),
    };
    let (date, time) = body.split_once([' ', 'T', 't']).map_or((body, "0:00"), |(d, t)| (d, t.trim()));
    let mut d = date.split(['-', '/', '.']);
    let (y, mo, da) = (d.next()?, d.next()?, d.next()?);
    if d.next().is_some() || y.len() != 4 {
        return None;
    }
    let mut tm = time.split(':');
    let (h, mi, se) = (tm.next()?, tm.next()?, tm.next().unwrap_or("0"));
    if tm.next().is_some() {
        return None;
    }
    let n = |v: &str, max_len: usize| -> Option<u32> {
        (!v.is_empty() && v.len() <= max_len && v.bytes().all(|b| b.is_ascii_digit())).then(|| v.parse().ok())?
    };
    // Seconds may carry a zero fraction (Excel's 00:00:00.000).
    let se = se.split_once('.').map_or(Some(se), |(w, f)| f.bytes().all(|b| b == b'0').then_some(w))?;
    let (yv, mov, dav, hv, miv, sev) = (n(y, 4)?, n(mo, 2)?, n(da, 2)?, n(h, 2)?, n(mi, 2)?, n(se, 2)?);
    let off = format_rfc3339(0, offset);
    let off = &off[19..];
    let text = format!("{yv:04}-{mov:02}-{dav:02}T{hv:02}:{miv:02}:{sev:02}{off}");
    parse_rfc3339(&text).ok()?;
    Some(text)
}

/// Rewrites the cells of a record file to the canonical form, returning each change.
/// Cells that cannot be normalised are left as written, for the checks to name.
pub fn normalize(table: &mut RawTable, names: &[&'static str], default_offset: i32) -> Vec<Change> {
    let mut changes = Vec::new();
    let columns: Vec<Option<&'static str>> = table
        .header
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let h = if i == 0 { h.trim_start_matches('\u{feff}') } else { h };
            names.iter().copied().find(|n| *n == h.trim())
        })
        .collect();
    for row in &mut table.rows {
        for (cell, column) in row.cells.iter_mut().zip(&columns) {
            let Some(column) = *column else { continue };
            let after = match norm_of(column) {
                Norm::Number => plain_number(cell).or_else(|| (cell.trim() != cell).then(|| cell.trim().to_string())),
                Norm::Time if cell.trim().is_empty() => None,
                Norm::Time => rfc3339_of(cell, default_offset),
                Norm::Trim => (cell.trim() != cell && !cell.trim().is_empty()).then(|| cell.trim().to_string()),
            };
            if let Some(after) = after {
                changes.push(Change { line: row.line, column, before: std::mem::replace(cell, after.clone()), after });
            }
        }
    }
    changes
}

/// One problem found by a dry run: the row, the column (empty for the row as a whole), what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: u64,
    pub column: String,
    pub message: String,
    /// A warning does not stop the record from being accepted (e.g. outside the window:
    /// accepted, but it earns nothing).
    pub warning: bool,
}

/// What a dry run needs besides the file: the program (window) and the time now.
pub struct CheckContext<'a> {
    pub program: &'a Program,
    pub now_unix: i64,
}

fn problem(line: u64, column: &str, message: impl Into<String>) -> Problem {
    Problem { line, column: column.to_string(), message: message.into(), warning: false }
}

fn header_problem(e: CsvError) -> Vec<Problem> {
    vec![problem(e.line, "", e.message)]
}

/// The frame both file checks share: the header's columns, each row's field count, and
/// record ids repeated in the file; `row` checks one row's fields and adds its problems.
fn check_rows(
    table: &RawTable,
    names: &[&str],
    mut row: impl FnMut(&Fields<'_>, u64, &mut Vec<Problem>),
) -> Vec<Problem> {
    let positions = match positions_of(table, names) {
        Ok(p) => p,
        Err(e) => return header_problem(e),
    };
    let mut out = Vec::new();
    let mut seen: HashMap<String, u64> = HashMap::new();
    for raw in &table.rows {
        let line = raw.line;
        if raw.cells.len() != table.header.len() {
            out.push(problem(
                line,
                "",
                format!("{} fields, but the header names {} columns", raw.cells.len(), table.header.len()),
            ));
            continue;
        }
        let f = Fields { record: &raw.cells, positions: &positions, names };
        row(&f, line, &mut out);
        let record_id = f.raw(0);
        if !record_id.is_empty() {
            if let Some(first) = seen.get(record_id) {
                out.push(problem(line, "record_id", format!("{record_id:?} is already used on line {first}")));
            } else {
                seen.insert(record_id.to_string(), line);
            }
        }
    }
    out
}

/// Every problem of a usage file (after [`normalize`]), in row order.
pub fn check_usage(table: &RawTable, cx: &CheckContext<'_>) -> Vec<Problem> {
    check_rows(table, &USAGE_COLUMNS, |f, line, out| {
        let mut p = |column: &str, r: Result<(), String>| {
            if let Err(m) = r {
                out.push(problem(line, column, m));
            }
        };
        let m = |e: validate::Malformed| e.detail;
        let record_id = f.raw(0).to_string();
        p("record_id", validate::id("record_id", &record_id).map(drop).map_err(m));
        p("provider_id", validate::uscc("provider_id", f.raw(1)).map(drop).map_err(m));
        p("renter_id", validate::uscc("renter_id", f.raw(2)).map(drop).map_err(m));
        p(
            "contract_id",
            validate::opt_text("contract_id", f.raw(3), validate::CONTRACT_CHARS_MAX).map(drop).map_err(m),
        );
        p("gpu_model", validate::text("gpu_model", f.raw(4), validate::GPU_MODEL_CHARS_MAX).map(drop).map_err(m));
        let count = f.integer(5).and_then(|c| {
            if (validate::GPU_COUNT_MIN..=validate::GPU_COUNT_MAX).contains(&c) {
                Ok(c)
            } else {
                Err(format!("gpu_count {c} is not between 1 and 100000"))
            }
        });
        p("gpu_count", count.as_ref().map(drop).map_err(Clone::clone));
        let start = f.time(6);
        p("start", start.as_ref().map(drop).map_err(Clone::clone));
        let end = f.time(7);
        p("end", end.as_ref().map(drop).map_err(Clone::clone));
        let decimal = |column: usize, places: u32| -> Result<Decimal, String> {
            let v = f.raw(column);
            let d = parse_decimal(v, places).map_err(|e| format!("{v:?}: {e}"))?;
            if d <= Decimal::ZERO {
                return Err(format!("{v:?} must be greater than zero"));
            }
            if d > AMOUNT_MAX && column != 8 {
                return Err(format!("{v:?} is above the 100,000,000.00 limit of one amount"));
            }
            Ok(d)
        };
        let hours = decimal(8, GPU_HOURS_PLACES);
        p("gpu_hours", hours.as_ref().map(drop).map_err(Clone::clone));
        let price = decimal(9, PRICE_PLACES);
        p("unit_price", price.as_ref().map(drop).map_err(Clone::clone));
        let amount = validate::amount("amount", f.raw(10)).map_err(|e| format!("{:?}: {}", f.raw(10), e.detail));
        p("amount", amount.as_ref().map(drop).map_err(Clone::clone));
        p("voucher_id", validate::opt_id("voucher_id", f.raw(11)).map(drop).map_err(m));
        p("invoice_no", validate::opt_text("invoice_no", f.raw(12), validate::INVOICE_CHARS_MAX).map(drop).map_err(m));
        if let (Ok(s), Ok(e)) = (&start, &end) {
            if s >= e {
                p("end", Err("must be after start".into()));
            } else if e - s > validate::SPAN_SECONDS_MAX {
                p("end", Err("a record spans at most 31 days".into()));
            }
            if let (Ok(h), Ok(c)) = (&hours, &count)
                && s < e
                && *h * Decimal::from(3600) > Decimal::from(*c) * Decimal::from(e - s)
            {
                p("gpu_hours", Err(format!("IMPOSSIBLE_USAGE: {h} GPU-hours exceed {c} GPUs over {} seconds", e - s)));
            }
        }
        if let Ok(e) = &end {
            if *e > cx.now_unix + 300 {
                p("end", Err("FUTURE_USAGE: ends more than 5 minutes from now".into()));
            }
            if !cx.program.in_window(*e) {
                out.push(Problem {
                    line,
                    column: "end".into(),
                    message: "OUTSIDE_WINDOW: outside the program's effective window; accepted but earns nothing"
                        .into(),
                    warning: true,
                });
            }
        }
        if let (Ok(h), Ok(pr), Ok(a)) = (&hours, &price, &amount) {
            let expected = round_fen(*h * *pr);
            if *a != expected {
                out.push(problem(
                    line,
                    "amount",
                    format!("AMOUNT_MISMATCH: {} is not gpu_hours × unit_price = {}", f.raw(10), fmt_money(expected)),
                ));
            }
        }
    })
}

/// Every problem of a corpus-purchase file (after [`normalize`]), in row order.
pub fn check_corpus(table: &RawTable, cx: &CheckContext<'_>) -> Vec<Problem> {
    check_rows(table, &CORPUS_COLUMNS, |f, line, out| {
        let mut p = |column: &str, r: Result<(), String>| {
            if let Err(m) = r {
                out.push(problem(line, column, m));
            }
        };
        let m = |e: validate::Malformed| e.detail;
        let record_id = f.raw(0).to_string();
        p("record_id", validate::id("record_id", &record_id).map(drop).map_err(m));
        p("supplier_id", validate::uscc("supplier_id", f.raw(1)).map(drop).map_err(m));
        p("buyer_id", validate::uscc("buyer_id", f.raw(2)).map(drop).map_err(m));
        p("voucher_id", validate::id("voucher_id", f.raw(3)).map(drop).map_err(m));
        let amount = parse_decimal(f.raw(4), MONEY_PLACES).map_err(|e| format!("{:?}: {e}", f.raw(4))).and_then(|d| {
            if d <= Decimal::ZERO {
                Err("must be greater than zero".into())
            } else if d > AMOUNT_MAX {
                Err("is above the 100,000,000.00 limit of one amount".into())
            } else {
                Ok(d)
            }
        });
        p("amount", amount.map(drop));
        let at = f.time(5);
        p("purchased_at", at.as_ref().map(drop).map_err(Clone::clone));
        if let Ok(t) = at
            && t > cx.now_unix + 300
        {
            p("purchased_at", Err("FUTURE_USAGE: more than 5 minutes from now".into()));
        }
        p("description", validate::text("description", f.raw(6), validate::DESCRIPTION_CHARS_MAX).map(drop).map_err(m));
        p("invoice_no", validate::opt_text("invoice_no", f.raw(7), validate::INVOICE_CHARS_MAX).map(drop).map_err(m));
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_lose_their_separators() {
        assert_eq!(plain_number("1,000.00").as_deref(), Some("1000.00"));
        assert_eq!(plain_number("12,500").as_deref(), Some("12500"));
        assert_eq!(plain_number("1,234,567.5").as_deref(), Some("1234567.5"));
        assert_eq!(plain_number(" 12.50 ").as_deref(), Some("12.50"));
        assert_eq!(plain_number("¥1,000.00").as_deref(), Some("1000.00"));
        assert_eq!(plain_number("1000.00"), None);
        // Not a grouping: left for the checks to name.
        assert_eq!(plain_number("1,00.00"), None);
        assert_eq!(plain_number("1.000,00"), None);
        assert_eq!(plain_number("abc"), None);
    }

    #[test]
    fn excel_times_become_rfc3339() {
        let cst = 8 * 3600;
        assert_eq!(rfc3339_of("2026/3/1 0:00", cst).as_deref(), Some("2026-03-01T00:00:00+08:00"));
        assert_eq!(rfc3339_of("2026-03-01 00:00:00+08:00", cst).as_deref(), Some("2026-03-01T00:00:00+08:00"));
        assert_eq!(rfc3339_of("2026-03-01 10:30:00", cst).as_deref(), Some("2026-03-01T10:30:00+08:00"));
        assert_eq!(rfc3339_of("2026-03-01 10:30:00.000", cst).as_deref(), Some("2026-03-01T10:30:00+08:00"));
        assert_eq!(rfc3339_of("2026-3-1T8:00Z", cst).as_deref(), Some("2026-03-01T08:00:00Z"));
        assert_eq!(rfc3339_of("2026-03-01 02:00:00 +0000", cst).as_deref(), Some("2026-03-01T02:00:00Z"));
        assert_eq!(rfc3339_of("2026/03/01", 0).as_deref(), Some("2026-03-01T00:00:00Z"));
        assert_eq!(rfc3339_of("2026-03-01T00:00:00+08:00", cst), None, "already canonical");
        assert_eq!(rfc3339_of("2026/2/30 0:00", cst), None, "no such day");
        assert_eq!(rfc3339_of("3/1/2026 0:00", cst), None, "month-first is ambiguous");
        assert_eq!(rfc3339_of("yesterday", cst), None);
    }

    #[test]
    fn excel_serials_are_wall_clock() {
        // 46082 is 2026-03-01; .5 is noon.
        assert_eq!(serial_to_wall_clock(46082.0), "2026-03-01 00:00:00");
        assert_eq!(serial_to_wall_clock(46082.5), "2026-03-01 12:00:00");
    }

    #[test]
    fn gb18030_files_are_converted() {
        let utf8 = "record_id,name\nu1,苏州智算中心\n";
        let (gbk, _, _) = encoding_rs::GB18030.encode(utf8);
        let (t, notices) = read_csv_bytes(&gbk).unwrap();
        assert_eq!(notices, vec![Notice::ConvertedFromGb18030]);
        assert_eq!(t.rows[0].cells[1], "苏州智算中心");
        let (t, notices) = read_csv_bytes(utf8.as_bytes()).unwrap();
        assert!(notices.is_empty());
        assert_eq!(t.rows[0].cells[1], "苏州智算中心");
    }
}
