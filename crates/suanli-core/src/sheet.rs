//! Tables for people who open files in Excel or WPS: the same rows a program reads from the
//! canonical CSV (SPEC §10), rendered as
//!
//! - an **Excel CSV** (`--excel`): UTF-8 with a byte-order mark (so zh-CN Excel does not show
//!   mojibake), CRLF line ends, Chinese column titles, identifiers written as `="…"` so an
//!   all-digit USCC or id stays text instead of becoming `9.13209E+17`, and text that a
//!   spreadsheet would read as a formula (leading `=`, `+`, `-`, `@`, tab, CR) prefixed with
//!   `'`;
//! - an **XLSX sheet** (feature `xlsx`): Chinese column titles in a frozen, filterable header
//!   row, ids as text cells, numbers as numbers with formats a clerk expects (`#,##0.00` for
//!   yuan, GPU-hours with at least two and at most six decimals, counts and years without
//!   decimals), times as date cells, sensible widths.
//!
//! How a program finds a SPEC column in a workbook (the choice, written down in
//! docs/REPORTS.md): every table sheet is followed in the workbook by a mapping sheet
//! `列名 Columns` listing, row by row, the column letter, the SPEC identifier and the Chinese
//! title, and each column's data range is a workbook-level defined name `suanli.<identifier>`
//! (for example `suanli.rent_amount`). The cell values are exactly those of the CSV: the
//! table is built from the CSV's cell strings, so the two cannot disagree.

/// What a column holds, which decides how its cells are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Free text (names, codes): a string cell; guarded against formulas in the Excel CSV.
    Text,
    /// An identifier (USCC, record id, voucher id): always text, never a number.
    Id,
    /// A count: a whole number with thousands separators.
    Count,
    /// A log position or a year: a whole number without separators.
    Plain,
    /// GPU-hours: up to six decimals.
    Hours,
    /// Yuan: exactly two decimals.
    Money,
    /// An RFC 3339 time with offset: a date-time cell in that offset's wall-clock time.
    Time,
}

/// One column: its SPEC identifier, its Chinese title, and its kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub id: &'static str,
    pub zh: &'static str,
    pub kind: Kind,
}

pub const fn col(id: &'static str, zh: &'static str, kind: Kind) -> Column {
    Column { id, zh, kind }
}

/// A table: the cells exactly as the canonical CSV writes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// Name of the sheet in a workbook (at most 31 characters, no `[]:*?/\`).
    pub sheet: String,
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<String>>,
    /// Rows shown in bold (totals), by index into `rows`.
    pub bold_rows: Vec<usize>,
    /// Columns kept in view when scrolling right (besides the header row kept in view).
    pub frozen_columns: u16,
}

/// Name of the sheet that maps column letters to identifiers and titles.
pub const COLUMNS_SHEET: &str = "列名 Columns";
/// Prefix of the defined names of column ranges.
pub const NAME_PREFIX: &str = "suanli.";

/// Would a spreadsheet read this text as a formula (CSV injection)?
pub fn looks_like_formula(s: &str) -> bool {
    s.starts_with(['=', '+', '-', '@', '\t', '\r'])
}

/// A cell of the canonical CSV (RFC 4180 quoting).
fn quote(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
}

/// The canonical CSV of a table: identifier header, LF, no BOM.
pub fn to_csv(t: &Table) -> String {
    let mut out = String::new();
    let header: Vec<&str> = t.columns.iter().map(|c| c.id).collect();
    out.push_str(&header.join(","));
    out.push('\n');
    for row in &t.rows {
        let cells: Vec<String> = row.iter().map(|c| quote(c)).collect();
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out
}

/// The Excel CSV of a table (see the module documentation).
pub fn to_excel_csv(t: &Table) -> Vec<u8> {
    let mut out = String::from("\u{feff}");
    let header: Vec<String> = t.columns.iter().map(|c| quote(c.zh)).collect();
    out.push_str(&header.join(","));
    out.push_str("\r\n");
    for row in &t.rows {
        let cells: Vec<String> = t
            .columns
            .iter()
            .zip(row)
            .map(|(c, v)| match c.kind {
                _ if v.is_empty() => String::new(),
                Kind::Id => quote(&format!("=\"{}\"", v.replace('"', "\"\""))),
                Kind::Text if looks_like_formula(v) => quote(&format!("'{v}")),
                _ => quote(v),
            })
            .collect();
        out.push_str(&cells.join(","));
        out.push_str("\r\n");
    }
    out.into_bytes()
}

/// The Excel column letters of a 0-based column index (0 → A, 26 → AA).
pub fn column_letters(mut c: u16) -> String {
    let mut s = Vec::new();
    loop {
        s.push(b'A' + (c % 26) as u8);
        if c < 26 {
            break;
        }
        c = c / 26 - 1;
    }
    s.reverse();
    String::from_utf8(s).expect("ASCII")
}

/// Display width of text: CJK and other wide characters count two (for column widths in
/// a workbook, so only built with the `xlsx` feature).
#[cfg(feature = "xlsx")]
fn width(s: &str) -> usize {
    s.chars().map(|c| if (c as u32) >= 0x1100 { 2 } else { 1 }).sum()
}

#[cfg(feature = "xlsx")]
pub use workbook::{add_columns_sheet, add_table, new_workbook};

#[cfg(feature = "xlsx")]
mod workbook {
    use rust_decimal::Decimal;
    use rust_decimal::prelude::ToPrimitive;
    use rust_xlsxwriter::{
        DocProperties, ExcelDateTime, Format, FormatAlign, FormatBorder, Workbook, Worksheet, XlsxError,
    };

    use super::{COLUMNS_SHEET, Kind, NAME_PREFIX, Table, column_letters, width};

    /// A workbook whose document times (created, modified) are `unix_seconds`, in UTC as the
    /// XLSX format requires, so the file is the same bytes for the same content.
    pub fn new_workbook(title: &str, unix_seconds: i64) -> Result<Workbook, XlsxError> {
        let mut wb = Workbook::new();
        let when = ExcelDateTime::from_timestamp(unix_seconds)?;
        wb.set_properties(&DocProperties::new().set_title(title).set_creation_datetime(&when));
        Ok(wb)
    }

    fn number(s: &str) -> Option<f64> {
        s.parse::<Decimal>().ok().and_then(|d| d.to_f64())
    }

    /// The wall-clock time of an RFC 3339 text, as an Excel date-time.
    fn local_time(s: &str) -> Option<ExcelDateTime> {
        crate::time::parse_rfc3339(s).ok()?;
        ExcelDateTime::parse_from_str(s.get(..19)?).ok()
    }

    fn format_of(kind: Kind, bold: bool) -> Format {
        let f = match kind {
            Kind::Text | Kind::Id => Format::new().set_num_format("@"),
            Kind::Count => Format::new().set_num_format("#,##0"),
            Kind::Plain => Format::new().set_num_format("0"),
            Kind::Hours => Format::new().set_num_format("#,##0.00####"),
            Kind::Money => Format::new().set_num_format("#,##0.00"),
            Kind::Time => Format::new().set_num_format("yyyy-mm-dd hh:mm:ss"),
        };
        if bold { f.set_bold() } else { f }
    }

    fn shown_width(kind: Kind, v: &str) -> usize {
        match kind {
            // Thousands separators add a third.
            Kind::Count | Kind::Money | Kind::Hours => v.len() + v.len() / 3 + 1,
            Kind::Time => 19,
            _ => width(v),
        }
    }

    /// Adds a sheet with the table, then defines `suanli.<id>` names over its columns.
    pub fn add_table(wb: &mut Workbook, t: &Table) -> Result<(), XlsxError> {
        let header = Format::new()
            .set_bold()
            .set_text_wrap()
            .set_align(FormatAlign::Center)
            .set_align(FormatAlign::VerticalCenter)
            .set_background_color(0xDDEBF7)
            .set_border_bottom(FormatBorder::Thin);
        let sheet: &mut Worksheet = wb.add_worksheet();
        sheet.set_name(&t.sheet)?;
        let mut widths: Vec<usize> = t.columns.iter().map(|c| width(c.zh).min(24)).collect();
        for (c, column) in t.columns.iter().enumerate() {
            sheet.write_string_with_format(0, c as u16, column.zh, &header)?;
        }
        for (r, row) in t.rows.iter().enumerate() {
            let bold = t.bold_rows.contains(&r);
            let xr = r as u32 + 1;
            for (c, (column, v)) in t.columns.iter().zip(row).enumerate() {
                let xc = c as u16;
                let f = format_of(column.kind, bold);
                widths[c] = widths[c].max(shown_width(column.kind, v));
                if v.is_empty() {
                    continue;
                }
                match column.kind {
                    Kind::Count | Kind::Plain | Kind::Hours | Kind::Money => match number(v) {
                        Some(n) => sheet.write_number_with_format(xr, xc, n, &f)?,
                        None => sheet.write_string_with_format(xr, xc, v, &f)?,
                    },
                    Kind::Time => match local_time(v) {
                        Some(d) => sheet.write_datetime_with_format(xr, xc, &d, &f)?,
                        None => sheet.write_string_with_format(xr, xc, v, &f)?,
                    },
                    Kind::Text | Kind::Id => sheet.write_string_with_format(xr, xc, v, &f)?,
                };
            }
        }
        for (c, w) in widths.iter().enumerate() {
            sheet.set_column_width(c as u16, (*w + 2).min(60) as f64)?;
        }
        let last_col = t.columns.len().saturating_sub(1) as u16;
        sheet.set_row_height(0, 32)?;
        sheet.set_freeze_panes(1, t.frozen_columns)?;
        sheet.autofilter(0, 0, t.rows.len() as u32, last_col)?;
        let last_row = t.rows.len().max(1) + 1;
        let quoted = format!("'{}'", t.sheet.replace('\'', "''"));
        for (c, column) in t.columns.iter().enumerate() {
            let l = column_letters(c as u16);
            wb.define_name(format!("{NAME_PREFIX}{}", column.id), &format!("={quoted}!${l}$2:${l}${last_row}"))?;
        }
        Ok(())
    }

    /// Adds the mapping sheet: column letter, SPEC identifier, Chinese title.
    pub fn add_columns_sheet(wb: &mut Workbook, t: &Table) -> Result<(), XlsxError> {
        let bold = Format::new().set_bold();
        let text = Format::new().set_num_format("@");
        let sheet = wb.add_worksheet();
        sheet.set_name(COLUMNS_SHEET)?;
        for (c, title) in ["列 column", "标识符 identifier", "中文列名 title"].iter().enumerate() {
            sheet.write_string_with_format(0, c as u16, *title, &bold)?;
        }
        for (i, column) in t.columns.iter().enumerate() {
            let r = i as u32 + 1;
            sheet.write_string_with_format(r, 0, column_letters(i as u16), &text)?;
            sheet.write_string_with_format(r, 1, column.id, &text)?;
            sheet.write_string_with_format(r, 2, column.zh, &text)?;
        }
        sheet.set_column_width(0, 10)?;
        sheet.set_column_width(1, 28)?;
        sheet.set_column_width(2, 28)?;
        sheet.set_freeze_panes(1, 0)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Table {
        Table {
            sheet: "t".into(),
            columns: vec![
                col("id", "代码", Kind::Id),
                col("name", "名称", Kind::Text),
                col("amount", "金额", Kind::Money),
            ],
            rows: vec![
                vec!["913205000000000012".into(), "=HYPERLINK(\"x\")".into(), "-1.50".into()],
                vec!["".into(), "a, \"b\"".into(), "2.00".into()],
            ],
            bold_rows: vec![],
            frozen_columns: 0,
        }
    }

    #[test]
    fn canonical_csv_is_plain() {
        assert_eq!(
            to_csv(&table()),
            "id,name,amount\n913205000000000012,\"=HYPERLINK(\"\"x\"\")\",-1.50\n,\"a, \"\"b\"\"\",2.00\n"
        );
    }

    #[test]
    fn excel_csv_keeps_ids_text_and_defuses_formulas() {
        let text = String::from_utf8(to_excel_csv(&table())).unwrap();
        assert_eq!(
            text,
            "\u{feff}代码,名称,金额\r\n\"=\"\"913205000000000012\"\"\",\"'=HYPERLINK(\"\"x\"\")\",-1.50\r\n,\"a, \"\"b\"\"\",2.00\r\n"
        );
    }

    #[test]
    fn letters() {
        assert_eq!(column_letters(0), "A");
        assert_eq!(column_letters(17), "R");
        assert_eq!(column_letters(26), "AA");
        assert_eq!(column_letters(27), "AB");
    }

    #[test]
    fn formula_starts() {
        for s in ["=1", "+1", "-1", "@x", "\tx", "\rx"] {
            assert!(looks_like_formula(s), "{s:?}");
        }
        assert!(!looks_like_formula("苏州 = 1"));
    }
}
