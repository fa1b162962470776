//! The finance bureau's annual settlement report (SPEC §10), computed by folding over the
//! log, one entry at a time: memory grows with the number of entities, never with the
//! number of records, so a year of millions of records streams through.
//!
//! The fold reads only what entries carry: record facts and money lines (usage and corpus
//! entries, reversals), payouts (finance entries), and entity names (registry entries, as
//! of the report's position). Renderings (CSV, JSON) are deterministic: the same log
//! position gives the same bytes.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use prost::Message;
use rust_decimal::Decimal;

use crate::entry::{Body, Entry};
use crate::ids::Uscc;
use crate::ledger::record_facts;
use crate::model::RecordKind;
use crate::money::{fmt_money, fmt_plain};
use crate::wire;

/// The CSV header of SPEC §10, in order. A public interface: add, never rename.
pub const CSV_COLUMNS: [&str; 18] = [
    "year",
    "entity_id",
    "name",
    "rent_records",
    "rent_gpu_hours",
    "rent_amount",
    "renter_subsidy_uncapped",
    "renter_subsidy",
    "voucher_drawn",
    "supply_records",
    "supply_gpu_hours",
    "supply_amount",
    "supplier_subsidy_uncapped",
    "supplier_subsidy",
    "voucher_reimbursement",
    "total_payable",
    "paid",
    "outstanding",
];

/// One entity's row for one year. Counts and sums are net of reversals.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Row {
    pub rent_records: i64,
    pub rent_gpu_hours: Decimal,
    pub rent_amount: Decimal,
    pub renter_subsidy_uncapped: Decimal,
    pub renter_subsidy: Decimal,
    pub voucher_drawn: Decimal,
    pub supply_records: i64,
    pub supply_gpu_hours: Decimal,
    pub supply_amount: Decimal,
    pub supplier_subsidy_uncapped: Decimal,
    pub supplier_subsidy: Decimal,
    pub voucher_reimbursement: Decimal,
    pub paid: Decimal,
}

impl Row {
    pub fn total_payable(&self) -> Decimal {
        self.renter_subsidy + self.supplier_subsidy + self.voucher_reimbursement
    }

    pub fn outstanding(&self) -> Decimal {
        self.total_payable() - self.paid
    }

    fn add(&mut self, o: &Row) {
        self.rent_records += o.rent_records;
        self.rent_gpu_hours += o.rent_gpu_hours;
        self.rent_amount += o.rent_amount;
        self.renter_subsidy_uncapped += o.renter_subsidy_uncapped;
        self.renter_subsidy += o.renter_subsidy;
        self.voucher_drawn += o.voucher_drawn;
        self.supply_records += o.supply_records;
        self.supply_gpu_hours += o.supply_gpu_hours;
        self.supply_amount += o.supply_amount;
        self.supplier_subsidy_uncapped += o.supplier_subsidy_uncapped;
        self.supplier_subsidy += o.supplier_subsidy;
        self.voucher_reimbursement += o.voucher_reimbursement;
        self.paid += o.paid;
    }

    /// The cells after `year,entity_id,name`, formatted as the report writes them.
    pub fn cells(&self) -> [String; 15] {
        [
            self.rent_records.to_string(),
            fmt_plain(self.rent_gpu_hours),
            fmt_money(self.rent_amount),
            fmt_money(self.renter_subsidy_uncapped),
            fmt_money(self.renter_subsidy),
            fmt_money(self.voucher_drawn),
            self.supply_records.to_string(),
            fmt_plain(self.supply_gpu_hours),
            fmt_money(self.supply_amount),
            fmt_money(self.supplier_subsidy_uncapped),
            fmt_money(self.supplier_subsidy),
            fmt_money(self.voucher_reimbursement),
            fmt_money(self.total_payable()),
            fmt_money(self.paid),
            fmt_money(self.outstanding()),
        ]
    }
}

/// Why an entry could not be folded: the log is not what the ledger writes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("entry {seq}: {what}")]
pub struct ReportError {
    pub seq: u64,
    pub what: String,
}

/// The annual report of cap year `year`, built entry by entry.
#[derive(Debug, Clone)]
pub struct AnnualReport {
    pub year: i32,
    /// Entries folded so far: the report is "as of" this tree size.
    pub size: u64,
    rows: BTreeMap<Uscc, Row>,
    names: BTreeMap<Uscc, String>,
}

impl AnnualReport {
    pub fn new(year: i32) -> AnnualReport {
        AnnualReport { year, size: 0, rows: BTreeMap::new(), names: BTreeMap::new() }
    }

    /// Folds the next entry (entries must come in order from entry 0).
    pub fn add(&mut self, entry: &Entry) -> Result<(), ReportError> {
        let err = |what: String| ReportError { seq: entry.seq, what };
        if entry.seq != self.size {
            return Err(err(format!("expected entry {} next", self.size)));
        }
        self.size += 1;
        match &entry.body {
            Body::Usage { .. } | Body::Corpus { .. } => {
                let f =
                    record_facts(entry).ok_or_else(|| err("a record entry whose payload does not decode".into()))?;
                if f.lines.cap_year == self.year {
                    self.count(f.kind, &f.provider, &f.renter, f.gpu_hours, f.amount, &f.lines, Decimal::ONE);
                }
            }
            Body::Reversal { reversed: f, .. } => {
                if f.lines.cap_year == self.year {
                    self.count(f.kind, &f.provider, &f.renter, f.gpu_hours, f.amount, &f.lines, Decimal::NEGATIVE_ONE);
                }
            }
            Body::Admin { input } => {
                let req = wire::AdminRequest::decode(input.payload.as_slice())
                    .map_err(|e| err(format!("admin payload: {e}")))?;
                match req.op {
                    Some(wire::admin_request::Op::RegisterEntity(r)) => {
                        let id = Uscc::parse(&r.id).map_err(|e| err(e.to_string()))?;
                        self.names.insert(id, r.name);
                    }
                    Some(wire::admin_request::Op::UpdateEntity(u)) => {
                        if let Some(name) = u.name {
                            let id = Uscc::parse(&u.id).map_err(|e| err(e.to_string()))?;
                            self.names.insert(id, name);
                        }
                    }
                    _ => {}
                }
            }
            Body::Finance { input, .. } => {
                let req = wire::FinanceRequest::decode(input.payload.as_slice())
                    .map_err(|e| err(format!("finance payload: {e}")))?;
                if let Some(wire::finance_request::Op::Payout(p)) = req.op
                    && p.year == self.year
                {
                    let payee = Uscc::parse(&p.payee_id).map_err(|e| err(e.to_string()))?;
                    let amount = crate::money::parse_decimal(&p.amount, crate::money::MONEY_PLACES)
                        .map_err(|e| err(e.to_string()))?;
                    self.rows.entry(payee).or_default().paid += amount;
                }
            }
            Body::Genesis(_) | Body::Holder { .. } => {}
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn count(
        &mut self,
        kind: RecordKind,
        provider: &Uscc,
        renter: &Uscc,
        gpu_hours: Decimal,
        amount: Decimal,
        l: &crate::entry::Lines,
        sign: Decimal,
    ) {
        let n = if sign.is_sign_negative() { -1 } else { 1 };
        let r = self.rows.entry(*renter).or_default();
        if kind == RecordKind::Usage {
            r.rent_records += n;
            r.rent_gpu_hours += gpu_hours * sign;
            r.rent_amount += amount * sign;
            r.renter_subsidy_uncapped += l.renter_uncapped * sign;
            r.renter_subsidy += l.renter * sign;
        }
        r.voucher_drawn += l.voucher * sign;
        let p = self.rows.entry(*provider).or_default();
        if kind == RecordKind::Usage {
            p.supply_records += n;
            p.supply_gpu_hours += gpu_hours * sign;
            p.supply_amount += amount * sign;
            p.supplier_subsidy_uncapped += l.supplier_uncapped * sign;
            p.supplier_subsidy += l.supplier * sign;
        }
        p.voucher_reimbursement += l.voucher * sign;
    }

    /// The rows, ordered by entity id, with each entity's name as of the report's position.
    pub fn rows(&self) -> impl Iterator<Item = (&Uscc, &str, &Row)> {
        self.rows.iter().map(|(id, row)| (id, self.names.get(id).map_or("", String::as_str), row))
    }

    pub fn total(&self) -> Row {
        let mut t = Row::default();
        for r in self.rows.values() {
            t.add(r);
        }
        t
    }

    /// SPEC §10: UTF-8, no BOM, LF line endings, RFC 4180 quoting, a header, the rows by
    /// entity id, then the `TOTAL` row.
    pub fn to_csv(&self) -> String {
        let mut out = CSV_COLUMNS.join(",");
        out.push('\n');
        let mut line = |year: i32, id: &str, name: &str, row: &Row| {
            let _ = write!(out, "{year},{},{}", csv_cell(id), csv_cell(name));
            for c in row.cells() {
                out.push(',');
                out.push_str(&c);
            }
            out.push('\n');
        };
        for (id, name, row) in self.rows() {
            line(self.year, id.as_str(), name, row);
        }
        line(self.year, "TOTAL", "", &self.total());
        out
    }

    /// The same data as JSON: `{"year":…, "as_of_size":…, "columns":[…], "rows":[{…}], "total":{…}}`,
    /// money and GPU-hours as strings (exact decimals), keys in column order.
    pub fn to_json(&self) -> String {
        let mut out = String::new();
        let _ = write!(out, "{{\n  \"year\": {},\n  \"as_of_size\": {},\n  \"rows\": [", self.year, self.size);
        let obj = |id: &str, name: &str, row: &Row| {
            let mut o =
                format!("{{\"year\": {}, \"entity_id\": {}, \"name\": {}", self.year, json_str(id), json_str(name));
            for (col, cell) in CSV_COLUMNS[3..].iter().zip(row.cells()) {
                let value = if col.ends_with("_records") { cell } else { json_str(&cell) };
                let _ = write!(o, ", \"{col}\": {value}");
            }
            o.push('}');
            o
        };
        let rows: Vec<String> = self.rows().map(|(id, name, row)| obj(id.as_str(), name, row)).collect();
        for (i, r) in rows.iter().enumerate() {
            out.push_str(if i == 0 { "\n    " } else { ",\n    " });
            out.push_str(r);
        }
        if !rows.is_empty() {
            out.push_str("\n  ");
        }
        let _ = write!(out, "],\n  \"total\": {}\n}}\n", obj("TOTAL", "", &self.total()));
        out
    }
}

/// RFC 4180: a cell with a comma, quote or line break is quoted, quotes doubled.
pub fn csv_cell(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
}

/// A JSON string literal.
pub fn json_str(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_quoted_only_when_needed() {
        assert_eq!(csv_cell("苏州智算中心"), "苏州智算中心");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(json_str("a\"b\\c\u{1}"), "\"a\\\"b\\\\c\\u0001\"");
    }

    #[test]
    fn an_empty_year_has_only_the_header_and_total() {
        let r = AnnualReport::new(2026);
        let csv = r.to_csv();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0], CSV_COLUMNS.join(","));
        assert_eq!(lines[1], "2026,TOTAL,,0,0,0.00,0.00,0.00,0.00,0,0,0.00,0.00,0.00,0.00,0.00,0.00,0.00");
    }
}
