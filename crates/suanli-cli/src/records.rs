//! The record files of `suanli usage submit` and `suanli corpus submit` (SPEC §11): RFC 4180
//! CSV, LF or CRLF, a header row naming the columns in any order.
//!
//! Only what cannot be encoded at all is an error here: a row with the wrong number of
//! fields, a `gpu_count` that is not an integer, a time that is not RFC 3339 (times travel
//! as Unix seconds), a header without a required column. Every other field is passed as
//! written, so the ledger judges it and answers `REJECTED MALFORMED` with the field, the
//! same answer any other client would get. Errors name the line (the header is line 1; a
//! record spanning lines is named by its first), and a file with one is refused whole, so
//! nothing is sent.

use std::io::Read;

use suanli_core::time::parse_rfc3339;
use suanli_proto::v1::{CorpusRecord, UsageRecord};

/// Columns of a usage file, in the order SPEC §11 lists them.
pub const USAGE_COLUMNS: [&str; 13] = [
    "record_id",
    "provider_id",
    "renter_id",
    "contract_id",
    "gpu_model",
    "gpu_count",
    "start",
    "end",
    "gpu_hours",
    "unit_price",
    "amount",
    "voucher_id",
    "invoice_no",
];

/// Columns of a corpus file (SPEC §7).
pub const CORPUS_COLUMNS: [&str; 8] =
    ["record_id", "supplier_id", "buyer_id", "voucher_id", "amount", "purchased_at", "description", "invoice_no"];

/// Columns a file may leave out (their value is then empty).
pub const OPTIONAL_COLUMNS: [&str; 1] = ["invoice_no"];

/// A row that cannot be encoded, or a header that does not fit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct CsvError {
    /// 1-based line of the file (the header is line 1).
    pub line: u64,
    pub message: String,
}

/// One record and the line it starts on, for messages about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row<T> {
    pub line: u64,
    pub record: T,
}

/// Parses a usage file. All rows or none: the first row that cannot be encoded is the error.
pub fn parse_usage_csv(input: impl Read) -> Result<Vec<Row<UsageRecord>>, CsvError> {
    parse(input, &USAGE_COLUMNS, usage_record)
}

/// Parses a corpus-purchase file, with the same rules.
pub fn parse_corpus_csv(input: impl Read) -> Result<Vec<Row<CorpusRecord>>, CsvError> {
    parse(input, &CORPUS_COLUMNS, corpus_record)
}

/// One data row, read through the header's column positions.
pub(crate) struct Fields<'a> {
    pub(crate) record: &'a [String],
    /// For each expected column, its position in the file, if the file has it.
    pub(crate) positions: &'a [Option<usize>],
    pub(crate) names: &'a [&'a str],
}

impl Fields<'_> {
    pub(crate) fn raw(&self, column: usize) -> &str {
        self.positions[column].and_then(|p| self.record.get(p)).map_or("", String::as_str)
    }

    pub(crate) fn text(&self, column: usize) -> String {
        self.raw(column).to_string()
    }

    pub(crate) fn integer(&self, column: usize) -> Result<u64, String> {
        let v = self.raw(column);
        let name = self.names[column];
        if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("{name} {v:?} is not an integer"));
        }
        v.parse().map_err(|_| format!("{name} {v:?} is too large"))
    }

    pub(crate) fn time(&self, column: usize) -> Result<i64, String> {
        let v = self.raw(column);
        let name = self.names[column];
        parse_rfc3339(v).map_err(|e| {
            format!("{name} {v:?} is not an RFC 3339 time with an offset, such as 2026-03-01T08:00:00+08:00 ({e})")
        })
    }
}

fn reader_error(e: &csv::Error, line: u64) -> CsvError {
    let message = match e.kind() {
        csv::ErrorKind::Utf8 { .. } => "the file is not UTF-8 text (save it as CSV UTF-8)".to_string(),
        _ => e.to_string(),
    };
    CsvError { line, message }
}

/// Where each expected column sits in the file, from the header row.
pub fn header_positions(header: &[String], line: u64, names: &[&str]) -> Result<Vec<Option<usize>>, CsvError> {
    let err = |message: String| CsvError { line, message };
    let mut positions = vec![None; names.len()];
    for (i, cell) in header.iter().enumerate() {
        // Spreadsheets put a byte-order mark before the first name.
        let cell = if i == 0 { cell.trim_start_matches('\u{feff}') } else { cell };
        let name = cell.trim();
        let Some(c) = names.iter().position(|n| *n == name) else {
            return Err(err(format!("unknown column {name:?} in the header; the columns are {}", names.join(","))));
        };
        if positions[c].replace(i).is_some() {
            return Err(err(format!("the header names column {name:?} twice")));
        }
    }
    let missing: Vec<&str> = names
        .iter()
        .zip(&positions)
        .filter(|(n, p)| p.is_none() && !OPTIONAL_COLUMNS.contains(n))
        .map(|(n, _)| *n)
        .collect();
    if !missing.is_empty() {
        return Err(err(format!(
            "the header has no column {}; it must name {} (invoice_no may be left out)",
            missing.join(", "),
            names.join(",")
        )));
    }
    Ok(positions)
}

/// Line numbers of byte offsets, counted incrementally: records come in order, so each
/// line feed is counted once.
struct LineCounter<'a> {
    text: &'a [u8],
    counted_to: usize,
    line_feeds: u64,
}

impl<'a> LineCounter<'a> {
    fn new(text: &'a [u8]) -> Self {
        LineCounter { text, counted_to: 0, line_feeds: 0 }
    }

    /// The 1-based line on which the record at byte `offset` starts. csv reports a CRLF
    /// file's records as starting at the `\n` of the line before, so line ends are skipped.
    fn line_at(&mut self, offset: u64) -> u64 {
        let text = self.text;
        let mut start = usize::try_from(offset).unwrap_or(text.len()).min(text.len());
        while start < text.len() && matches!(text[start], b'\r' | b'\n') {
            start += 1;
        }
        if start < self.counted_to {
            // Not expected (offsets only grow), but stay correct.
            self.counted_to = 0;
            self.line_feeds = 0;
        }
        self.line_feeds += text[self.counted_to..start].iter().filter(|&&b| b == b'\n').count() as u64;
        self.counted_to = start;
        self.line_feeds + 1
    }
}

/// A file's cells as written, before any record is built: the header row and each data
/// row with the line (CSV) or row number (XLSX) it starts on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawTable {
    pub header_line: u64,
    pub header: Vec<String>,
    pub rows: Vec<RawRow>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRow {
    pub line: u64,
    pub cells: Vec<String>,
}

/// Reads CSV text (UTF-8; a byte-order mark before the first column name is allowed) into
/// its cells. Blank lines are skipped but counted; rows may have any number of fields.
pub fn read_csv_table(text: &[u8]) -> Result<RawTable, CsvError> {
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(text);
    let mut record = csv::StringRecord::new();
    let mut lines = LineCounter::new(text);
    let header_line = match reader.read_record(&mut record) {
        Ok(true) => record.position().map_or(1, |p| lines.line_at(p.byte())),
        Ok(false) => return Ok(RawTable { header_line: 1, ..RawTable::default() }),
        Err(e) => return Err(reader_error(&e, e.position().map_or(1, |p| lines.line_at(p.byte())))),
    };
    let header = record.iter().map(str::to_string).collect();
    let mut rows = Vec::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return Err(reader_error(&e, e.position().map_or(1, |p| lines.line_at(p.byte())))),
        }
        let line = record.position().map_or(1, |p| lines.line_at(p.byte()));
        rows.push(RawRow { line, cells: record.iter().map(str::to_string).collect() });
    }
    Ok(RawTable { header_line, header, rows })
}

/// Builds usage records from a file's cells. All rows or none: the first row that cannot be
/// encoded is the error.
pub fn build_usage(table: &RawTable) -> Result<Vec<Row<UsageRecord>>, CsvError> {
    build(table, &USAGE_COLUMNS, usage_record)
}

/// Builds corpus-purchase records from a file's cells, with the same rules.
pub fn build_corpus(table: &RawTable) -> Result<Vec<Row<CorpusRecord>>, CsvError> {
    build(table, &CORPUS_COLUMNS, corpus_record)
}

pub(crate) fn usage_record(f: &Fields<'_>) -> Result<UsageRecord, String> {
    Ok(UsageRecord {
        record_id: f.text(0),
        provider_id: f.text(1),
        renter_id: f.text(2),
        contract_id: f.text(3),
        gpu_model: f.text(4),
        gpu_count: f.integer(5)?,
        start: f.time(6)?,
        end: f.time(7)?,
        gpu_hours: f.text(8),
        unit_price: f.text(9),
        amount: f.text(10),
        voucher_id: f.text(11),
        invoice_no: f.text(12),
    })
}

pub(crate) fn corpus_record(f: &Fields<'_>) -> Result<CorpusRecord, String> {
    Ok(CorpusRecord {
        record_id: f.text(0),
        supplier_id: f.text(1),
        buyer_id: f.text(2),
        voucher_id: f.text(3),
        amount: f.text(4),
        purchased_at: f.time(5)?,
        description: f.text(6),
        invoice_no: f.text(7),
    })
}

/// The header's column positions, or the error for an empty file or a header that does not fit.
pub fn positions_of(table: &RawTable, names: &[&str]) -> Result<Vec<Option<usize>>, CsvError> {
    if table.header.is_empty() {
        return Err(CsvError {
            line: 1,
            message: format!("the file is empty; the first line must name the columns {}", names.join(",")),
        });
    }
    header_positions(&table.header, table.header_line, names)
}

fn build<T>(
    table: &RawTable,
    names: &[&str],
    make: impl Fn(&Fields<'_>) -> Result<T, String>,
) -> Result<Vec<Row<T>>, CsvError> {
    let positions = positions_of(table, names)?;
    let width = table.header.len();
    let mut rows = Vec::with_capacity(table.rows.len());
    for raw in &table.rows {
        let line = raw.line;
        if raw.cells.len() != width {
            return Err(CsvError {
                line,
                message: format!("{} fields, but the header names {width} columns", raw.cells.len()),
            });
        }
        let fields = Fields { record: &raw.cells, positions: &positions, names };
        let value = make(&fields).map_err(|message| CsvError { line, message })?;
        rows.push(Row { line, record: value });
    }
    Ok(rows)
}

fn parse<T>(
    mut input: impl Read,
    names: &[&str],
    make: impl Fn(&Fields<'_>) -> Result<T, String>,
) -> Result<Vec<Row<T>>, CsvError> {
    // The whole file is read first: every row is checked before anything is sent anyway.
    let mut text = Vec::new();
    input.read_to_end(&mut text).map_err(|e| CsvError { line: 1, message: format!("cannot read the file: {e}") })?;
    build(&read_csv_table(&text)?, names, make)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "record_id,provider_id,renter_id,contract_id,gpu_model,gpu_count,start,end,gpu_hours,unit_price,amount,voucher_id,invoice_no";

    #[test]
    fn reads_crlf_quoted_and_reordered() {
        let text = format!(
            "{HEADER}\r\n\
             u1,91320500000000001X,R1,\"C-1, \"\"main\"\"\",H100,8,2026-03-01T00:00:00+08:00,2026-03-01T10:00:00+08:00,80,12.50,1000.00,,INV-1\r\n\
             \"u2\",P,R,,\"Ascend-910B\",1,2026-03-01T00:00:00Z,2026-03-01T01:00:00Z,1.5,2,3.00,V1,\r\n"
        );
        let rows = parse_usage_csv(text.as_bytes()).unwrap();
        assert_eq!(rows.len(), 2);
        let u1 = &rows[0];
        assert_eq!(u1.line, 2);
        assert_eq!(u1.record.record_id, "u1");
        assert_eq!(u1.record.contract_id, "C-1, \"main\"");
        assert_eq!(u1.record.gpu_count, 8);
        assert_eq!(u1.record.start, 1_772_294_400);
        assert_eq!(u1.record.end - u1.record.start, 36_000);
        assert_eq!((u1.record.gpu_hours.as_str(), u1.record.unit_price.as_str()), ("80", "12.50"));
        assert_eq!((u1.record.amount.as_str(), u1.record.voucher_id.as_str()), ("1000.00", ""));
        assert_eq!(u1.record.invoice_no, "INV-1");
        assert_eq!(rows[1].line, 3);
        assert_eq!(rows[1].record.gpu_model, "Ascend-910B");
        assert_eq!(rows[1].record.voucher_id, "V1");

        // Columns in another order, LF endings, a byte-order mark, no invoice_no column.
        let text = "\u{feff}amount,record_id,provider_id,renter_id,contract_id,gpu_model,gpu_count,start,end,gpu_hours,unit_price,voucher_id\n\
                    1000.00,u1,P,R,,H100,8,2026-03-01T00:00:00+08:00,2026-03-01T10:00:00+08:00,80,12.50,\n";
        let rows = parse_usage_csv(text.as_bytes()).unwrap();
        assert_eq!(rows[0].record.amount, "1000.00");
        assert_eq!(rows[0].record.record_id, "u1");
        assert_eq!(rows[0].record.invoice_no, "");
    }

    #[test]
    fn a_field_with_a_line_break_is_named_by_its_first_line() {
        let text = format!(
            "{HEADER}\n\
             u1,P,R,\"two\nlines\",H100,8,2026-03-01T00:00:00Z,2026-03-01T01:00:00Z,1,1,1.00,,\n\
             u2,P,R,,H100,x,2026-03-01T00:00:00Z,2026-03-01T01:00:00Z,1,1,1.00,,\n"
        );
        let err = parse_usage_csv(text.as_bytes()).unwrap_err();
        assert_eq!(err.line, 4, "{err}");
        assert!(err.to_string().starts_with("line 4: gpu_count \"x\" is not an integer"), "{err}");
    }

    #[test]
    fn refuses_rows_that_cannot_be_encoded() {
        let good = "u1,P,R,,H100,8,2026-03-01T00:00:00+08:00,2026-03-01T10:00:00+08:00,80,12.50,1000.00,,";
        let cases = [
            (
                "u1,P,R,,H100,8,2026-03-01T00:00:00+08:00,2026-03-01T10:00:00+08:00,80,12.50,1000.00,",
                "12 fields, but the header names 13 columns",
            ),
            (
                "u1,P,R,,H100,8.0,2026-03-01T00:00:00+08:00,2026-03-01T10:00:00+08:00,80,12.50,1000.00,,",
                "gpu_count \"8.0\" is not an integer",
            ),
            (
                "u1,P,R,,H100,,2026-03-01T00:00:00+08:00,2026-03-01T10:00:00+08:00,80,12.50,1000.00,,",
                "gpu_count \"\" is not an integer",
            ),
            (
                "u1,P,R,,H100,-1,2026-03-01T00:00:00+08:00,2026-03-01T10:00:00+08:00,80,12.50,1000.00,,",
                "gpu_count \"-1\" is not an integer",
            ),
            (
                "u1,P,R,,H100,8,2026-03-01 00:00:00,2026-03-01T10:00:00+08:00,80,12.50,1000.00,,",
                "start \"2026-03-01 00:00:00\" is not an RFC 3339 time",
            ),
            (
                "u1,P,R,,H100,8,2026-03-01T00:00:00+08:00,2026-03-01T10:00:00,80,12.50,1000.00,,",
                "end \"2026-03-01T10:00:00\" is not an RFC 3339 time",
            ),
        ];
        for (bad, want) in cases {
            for end in ["\n", "\r\n"] {
                let text = format!("{HEADER}{end}{good}{end}{bad}{end}{good}{end}");
                let err = parse_usage_csv(text.as_bytes()).unwrap_err();
                assert_eq!(err.line, 3, "{err}");
                assert!(err.message.starts_with(want), "{err}");
                // Blank lines are skipped but still counted.
                let text = format!("{HEADER}{end}{end}{good}{end}{end}{bad}{end}");
                assert_eq!(parse_usage_csv(text.as_bytes()).unwrap_err().line, 5);
            }
        }
        // A value the ledger judges is passed as written, not refused here.
        let text = format!("{HEADER}\nu1,P,R,,H100,0,2026-03-01T00:00:00Z,2026-03-01T10:00:00Z,x,-1,1.234,,\n");
        let rows = parse_usage_csv(text.as_bytes()).unwrap();
        assert_eq!((rows[0].record.gpu_count, rows[0].record.gpu_hours.as_str()), (0, "x"));
    }

    #[test]
    fn refuses_bad_headers() {
        let err = parse_usage_csv("".as_bytes()).unwrap_err();
        assert_eq!(err.line, 1);
        assert!(err.message.contains("empty"), "{err}");
        let err = parse_usage_csv(HEADER.replace(",gpu_count", "").as_bytes()).unwrap_err();
        assert_eq!(err.to_string().split(';').next().unwrap(), "line 1: the header has no column gpu_count");
        let err = parse_usage_csv(format!("{HEADER},colour").as_bytes()).unwrap_err();
        assert!(err.message.starts_with("unknown column \"colour\""), "{err}");
        let err = parse_usage_csv(format!("{HEADER},amount").as_bytes()).unwrap_err();
        assert!(err.message.contains("twice"), "{err}");
        // Header only: no rows, no error.
        assert!(parse_usage_csv(format!("{HEADER}\r\n").as_bytes()).unwrap().is_empty());
    }

    #[test]
    fn refuses_text_that_is_not_utf8() {
        let mut bytes = format!("{HEADER}\n").into_bytes();
        bytes.extend_from_slice(b"u1,P,R,,H\xff100,8,2026-03-01T00:00:00Z,2026-03-01T10:00:00Z,1,1,1.00,,\n");
        let err = parse_usage_csv(bytes.as_slice()).unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.message.contains("UTF-8"), "{err}");
    }

    #[test]
    fn reads_corpus_files() {
        let text = "record_id,supplier_id,buyer_id,voucher_id,amount,purchased_at,description\r\n\
                    c1,S,B,CV1,5000.00,2026-04-01T09:00:00+08:00,\"Dialect speech corpus, 200 h\"\r\n";
        let rows = parse_corpus_csv(text.as_bytes()).unwrap();
        assert_eq!(rows[0].record.description, "Dialect speech corpus, 200 h");
        assert_eq!(rows[0].record.purchased_at, 1_775_005_200);
        assert_eq!(rows[0].record.invoice_no, "");
        let bad = "record_id,supplier_id,buyer_id,voucher_id,amount,purchased_at,description,invoice_no\n\
                   c1,S,B,CV1,5000.00,yesterday,d,\n";
        let err = parse_corpus_csv(bad.as_bytes()).unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.message.starts_with("purchased_at \"yesterday\""), "{err}");
    }
}
