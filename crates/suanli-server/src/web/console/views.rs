//! What the private views show — a holder's vouchers, a company's statement — built from
//! the answers of the same service calls the gRPC clients make, and rendered as HTML
//! fragments (auto-escaped templates) that the page's script puts in place.

use std::collections::BTreeMap;

use askama::Template;
use rust_decimal::Decimal;
use suanli_core::codes::LineReason;
use suanli_core::lang::Lang;
use suanli_proto::v1;

use super::fmt;
use super::i18n::{self, Catalog};

/// One row of an entity statement (`reports::statement`, the CSV `suanli statement` prints),
/// read back by its column names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatementRow {
    pub seq: u64,
    pub time: String,
    pub kind: String,
    pub record_id: String,
    pub role: String,
    pub counterparty: String,
    pub cap_year: String,
    pub gpu_hours: String,
    pub amount: String,
    pub voucher_id: String,
    pub voucher_drawn: String,
    pub renter_subsidy: String,
    pub supplier_subsidy: String,
    pub reasons: String,
}

/// The totals table at the end of a statement, per cap year.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatementTotal {
    pub cap_year: String,
    pub renter_subsidy: String,
    pub supplier_subsidy: String,
    pub voucher_reimbursement: String,
    pub total_accrued: String,
    pub paid: String,
    pub owed: String,
}

fn table(text: &str) -> Result<Vec<BTreeMap<String, String>>, String> {
    let mut r = csv::ReaderBuilder::new().has_headers(true).from_reader(text.as_bytes());
    let headers = r.headers().map_err(|e| e.to_string())?.clone();
    let mut out = Vec::new();
    for rec in r.records() {
        let rec = rec.map_err(|e| e.to_string())?;
        out.push(headers.iter().zip(rec.iter()).map(|(h, v)| (h.to_string(), v.to_string())).collect());
    }
    Ok(out)
}

/// Reads a statement CSV by its column names: the record rows, and the totals per cap
/// year — either a second table after a blank line, or rows of kind `total` in the same
/// table (the one-table layout), whose columns have the same names.
pub fn parse_statement(text: &str) -> Result<(Vec<StatementRow>, Vec<StatementTotal>), String> {
    let (records, totals_table) = text.split_once("\n\n").unwrap_or((text, ""));
    let get = |m: &BTreeMap<String, String>, k: &str| m.get(k).cloned().unwrap_or_default();
    let total = |m: &BTreeMap<String, String>| StatementTotal {
        cap_year: get(m, "cap_year"),
        renter_subsidy: get(m, "renter_subsidy"),
        supplier_subsidy: get(m, "supplier_subsidy"),
        voucher_reimbursement: get(m, "voucher_reimbursement"),
        total_accrued: get(m, "total_accrued"),
        paid: get(m, "paid"),
        owed: get(m, "owed"),
    };
    let mut rows = Vec::new();
    let mut totals = Vec::new();
    for m in table(records)? {
        if get(&m, "kind") == "total" {
            totals.push(total(&m));
            continue;
        }
        rows.push(StatementRow {
            seq: get(&m, "seq").parse().unwrap_or(0),
            time: get(&m, "time"),
            kind: get(&m, "kind"),
            record_id: get(&m, "record_id"),
            role: get(&m, "role"),
            counterparty: get(&m, "counterparty"),
            cap_year: get(&m, "cap_year"),
            gpu_hours: get(&m, "gpu_hours"),
            amount: get(&m, "amount"),
            voucher_id: get(&m, "voucher_id"),
            voucher_drawn: get(&m, "voucher_drawn"),
            renter_subsidy: get(&m, "renter_subsidy"),
            supplier_subsidy: get(&m, "supplier_subsidy"),
            reasons: get(&m, "reasons"),
        });
    }
    if !totals_table.trim().is_empty() {
        totals.extend(table(totals_table)?.iter().map(total));
    }
    Ok((rows, totals))
}

/// What a query value keeps as it is: RFC 3986's unreserved characters.
const QUERY_VALUE: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// The link to a record's inclusion proof on the auditor page.
pub fn proof_href(provider: &str, record_id: &str, corpus: bool) -> String {
    let enc = |s: &str| percent_encoding::utf8_percent_encode(s, QUERY_VALUE).to_string();
    format!(
        "/auditor?provider={}&record={}&kind={}",
        enc(provider),
        enc(record_id),
        if corpus { "corpus" } else { "usage" }
    )
}

/// A voucher line of the holder's view.
#[derive(Debug)]
pub struct VoucherView {
    pub n: usize,
    pub id: String,
    pub kind_key: &'static str,
    pub face: String,
    pub drawn: String,
    pub balance: String,
    pub lapsed: String,
    pub valid: String,
    pub state_key: &'static str,
    pub open: bool,
    /// For the `<meter>`: plain decimals.
    pub meter_value: String,
    pub meter_max: String,
    pub gauge: String,
    pub auths: Vec<AuthView>,
    pub draws: Vec<DrawView>,
}

#[derive(Debug)]
pub struct AuthView {
    pub n: usize,
    pub provider: String,
    /// Formatted, or empty for no limit.
    pub limit: String,
    /// As the ledger wrote it, to prefill the change form.
    pub limit_plain: String,
    pub drawn: String,
    pub withdrawn: bool,
}

#[derive(Debug)]
pub struct DrawView {
    pub seq: u64,
    pub record_id: String,
    pub provider: String,
    pub time: String,
    pub amount: String,
    pub drawn: String,
    pub reversal: bool,
    pub proof_href: String,
}

#[derive(Template)]
#[template(path = "founder_view.html")]
pub struct FounderView {
    pub t: &'static Catalog,
    pub holder_id: String,
    pub holder_name: String,
    pub opc: bool,
    pub vouchers: Vec<VoucherView>,
}

impl FounderView {
    pub fn build(
        lang: Lang,
        list: &v1::VoucherList,
        opc: bool,
        statement: &[StatementRow],
        now: i64,
        offset: i32,
    ) -> Self {
        let t = i18n::catalog(lang);
        let vouchers = list
            .vouchers
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let corpus = v.kind == v1::VoucherKind::Corpus as i32;
                let state_key = if v.revoked {
                    "voucher.state_revoked"
                } else if now >= v.valid_until {
                    "voucher.state_expired"
                } else if now < v.valid_from {
                    "voucher.state_not_yet"
                } else {
                    "voucher.state_open"
                };
                let draws = statement
                    .iter()
                    .filter(|r| r.voucher_id == v.voucher_id && fmt::decimal(&r.voucher_drawn) != Decimal::ZERO)
                    .map(|r| DrawView {
                        seq: r.seq,
                        record_id: r.record_id.clone(),
                        provider: r.counterparty.clone(),
                        time: fmt::rfc3339_short(&r.time),
                        amount: fmt::money_str(&r.amount),
                        drawn: fmt::money_str(&r.voucher_drawn),
                        reversal: r.kind == "reversal",
                        proof_href: proof_href(&r.counterparty, &r.record_id, corpus),
                    })
                    .collect();
                VoucherView {
                    n: i + 1,
                    id: v.voucher_id.clone(),
                    kind_key: if corpus { "voucher.kind_corpus" } else { "voucher.kind_compute" },
                    face: fmt::money_str(&v.face_value),
                    drawn: fmt::money_str(&v.drawn),
                    balance: fmt::money_str(&v.balance),
                    lapsed: fmt::money_str(&v.lapsed),
                    valid: t.f(
                        "voucher.valid_range",
                        &[("from", &fmt::time(v.valid_from, offset)), ("until", &fmt::time(v.valid_until, offset))],
                    ),
                    state_key,
                    open: state_key == "voucher.state_open",
                    meter_value: v.drawn.clone(),
                    meter_max: v.face_value.clone(),
                    gauge: t.f(
                        "voucher.used_gauge",
                        &[("drawn", &fmt::money_str(&v.drawn)), ("face", &fmt::money_str(&v.face_value))],
                    ),
                    auths: v
                        .authorizations
                        .iter()
                        .enumerate()
                        .map(|(j, a)| AuthView {
                            n: j + 1,
                            provider: a.provider_id.clone(),
                            limit: if a.limit.is_empty() { String::new() } else { fmt::money_str(&a.limit) },
                            limit_plain: a.limit.clone(),
                            drawn: fmt::money_str(&a.drawn),
                            withdrawn: a.withdrawn,
                        })
                        .collect(),
                    draws,
                }
            })
            .collect();
        FounderView { t, holder_id: list.holder_id.clone(), holder_name: list.holder_name.clone(), opc, vouchers }
    }
}

/// A cap gauge of the statement view.
#[derive(Debug)]
pub struct CapView {
    pub label_key: &'static str,
    pub text: String,
    pub value: String,
    pub max: String,
    /// From here the gauge shows "getting close" (80 % of the cap), and from `high` "at
    /// the cap" (95 %), as `<meter>` colours them.
    pub low: String,
    pub high: String,
}

#[derive(Debug)]
pub struct SettleView {
    pub period: String,
    pub unsettled: bool,
    pub kind_key: &'static str,
    pub year: i32,
    pub amount: String,
    pub paid: String,
    pub outstanding: String,
}

#[derive(Debug)]
pub struct RecordView {
    pub seq: u64,
    pub time: String,
    pub kind_key: &'static str,
    pub record_id: String,
    pub role_key: &'static str,
    pub counterparty: String,
    pub amount: String,
    pub voucher: String,
    pub renter: String,
    pub supplier: String,
    /// (prefix key, explanation) per money line.
    pub reasons: Vec<(&'static str, String)>,
    pub note: String,
    pub proof_href: String,
}

#[derive(Debug)]
pub struct TotalView {
    pub year: String,
    pub renter: String,
    pub supplier: String,
    pub voucher: String,
    pub accrued: String,
    pub paid: String,
    pub owed: String,
}

#[derive(Template)]
#[template(path = "entity_view.html")]
pub struct EntityView {
    pub t: &'static Catalog,
    pub id: String,
    pub name: String,
    pub flags: Vec<&'static str>,
    pub cap_title: String,
    pub caps: Vec<CapView>,
    pub settlement: Vec<SettleView>,
    pub records: Vec<RecordView>,
    pub totals: Vec<TotalView>,
}

fn kind_key(k: i32) -> &'static str {
    match v1::PayableKind::try_from(k) {
        Ok(v1::PayableKind::Renter) => "entity.kind_renter",
        Ok(v1::PayableKind::Supplier) => "entity.kind_supplier",
        _ => "entity.kind_voucher",
    }
}

fn payout_kind_key(s: &str) -> &'static str {
    match s {
        "renter" => "entity.kind_renter",
        "supplier" => "entity.kind_supplier",
        _ => "entity.kind_voucher",
    }
}

/// Caps and the year they are shown for.
#[derive(Debug, Clone, Copy)]
pub struct Caps {
    pub year: i32,
    pub renter: Decimal,
    pub supplier: Decimal,
}

impl EntityView {
    pub fn build(
        lang: Lang,
        info: &v1::EntityInfo,
        rows: &[StatementRow],
        totals: &[StatementTotal],
        caps: Caps,
    ) -> Self {
        let t = i18n::catalog(lang);
        let f = info.flags.unwrap_or_default();
        let flags = [
            (f.provider, "entity.flag_provider"),
            (f.renter_eligible, "entity.flag_renter"),
            (f.supplier_eligible, "entity.flag_supplier"),
            (f.opc, "entity.flag_opc"),
            (f.data_supplier, "entity.flag_data"),
        ]
        .into_iter()
        .filter_map(|(on, k)| on.then_some(k))
        .collect();
        let used = info.cap_use.iter().find(|c| c.year == caps.year);
        let gauge = |label_key, used: &str, cap: Decimal| {
            let used_d = fmt::decimal(used);
            CapView {
                label_key,
                text: t.f(
                    "entity.cap_used",
                    &[("used", &fmt::money(used_d)), ("cap", &fmt::money(cap)), ("pct", &fmt::percent(used_d, cap))],
                ),
                value: used_d.to_string(),
                max: cap.to_string(),
                low: (cap * Decimal::new(80, 2)).to_string(),
                high: (cap * Decimal::new(95, 2)).to_string(),
            }
        };
        let mut cap_views = Vec::new();
        if f.renter_eligible {
            cap_views.push(gauge("entity.cap_renter", used.map_or("0", |u| u.renter_subsidy.as_str()), caps.renter));
        }
        if f.supplier_eligible {
            cap_views.push(gauge(
                "entity.cap_supplier",
                used.map_or("0", |u| u.supplier_subsidy.as_str()),
                caps.supplier,
            ));
        }
        let line = |period: &str, unsettled: bool, l: &v1::StatementLineInfo| {
            let (amount, paid) = (fmt::decimal(&l.amount), fmt::decimal(&l.paid));
            SettleView {
                period: period.to_string(),
                unsettled,
                kind_key: kind_key(l.kind),
                year: l.year,
                amount: fmt::money(amount),
                paid: fmt::money(paid),
                outstanding: fmt::money(amount - paid),
            }
        };
        let mut settlement: Vec<SettleView> =
            info.settlement.iter().filter_map(|p| p.line.as_ref().map(|l| line(&p.period, false, l))).collect();
        settlement.extend(info.unsettled.iter().map(|l| line("", true, l)));
        let records = rows
            .iter()
            .map(|r| {
                let payout = r.kind == "payout";
                let mut reasons = Vec::new();
                let mut note = String::new();
                if payout {
                    // For a payout the statement's `reasons` is "PERIOD KIND".
                    let (period, kind) = r.reasons.split_once(' ').unwrap_or((&r.reasons, ""));
                    note = format!("{} · {}", period, t.s(payout_kind_key(kind)));
                } else {
                    let keys = ["entity.reason_voucher", "entity.reason_renter", "entity.reason_supplier"];
                    for (k, code) in keys.iter().zip(r.reasons.split('|')) {
                        if let Some(reason) = LineReason::parse(code) {
                            reasons.push((*k, reason.explain(lang).to_string()));
                        }
                    }
                }
                RecordView {
                    seq: r.seq,
                    time: fmt::rfc3339_short(&r.time),
                    kind_key: match r.kind.as_str() {
                        "usage" => "entity.kind_usage",
                        "corpus" => "entity.kind_corpus",
                        "reversal" => "entity.kind_reversal",
                        _ => "entity.kind_payout",
                    },
                    record_id: r.record_id.clone(),
                    role_key: match r.role.as_str() {
                        "renter" => "entity.role_renter",
                        "provider" => "entity.role_provider",
                        "buyer" => "entity.role_buyer",
                        "renter+provider" => "entity.role_both",
                        _ => "entity.role_payee",
                    },
                    counterparty: r.counterparty.clone(),
                    amount: fmt::money_str(&r.amount),
                    voucher: if payout { String::new() } else { fmt::money_str(&r.voucher_drawn) },
                    renter: if payout { String::new() } else { fmt::money_str(&r.renter_subsidy) },
                    supplier: if payout { String::new() } else { fmt::money_str(&r.supplier_subsidy) },
                    reasons,
                    note,
                    proof_href: match r.kind.as_str() {
                        "usage" | "corpus" => {
                            let provider = if r.role == "provider" || r.role == "renter+provider" {
                                info.id.as_str()
                            } else {
                                r.counterparty.as_str()
                            };
                            proof_href(provider, &r.record_id, r.kind == "corpus")
                        }
                        _ => String::new(),
                    },
                }
            })
            .collect();
        let totals = totals
            .iter()
            .map(|x| TotalView {
                year: x.cap_year.clone(),
                renter: fmt::money_str(&x.renter_subsidy),
                supplier: fmt::money_str(&x.supplier_subsidy),
                voucher: fmt::money_str(&x.voucher_reimbursement),
                accrued: fmt::money_str(&x.total_accrued),
                paid: fmt::money_str(&x.paid),
                owed: fmt::money_str(&x.owed),
            })
            .collect();
        EntityView {
            t,
            id: info.id.clone(),
            name: info.name.clone(),
            flags,
            cap_title: t.f("entity.caps", &[("year", &caps.year.to_string())]),
            caps: cap_views,
            settlement,
            records,
            totals,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_read_back_by_column_name() {
        let text = "seq,time,kind,record_id,role,counterparty,cap_year,gpu_hours,amount,voucher_id,voucher_drawn,renter_subsidy,supplier_subsidy,reasons\n\
                    5,2026-06-30T12:00:00+08:00,usage,\"u,1\",renter,91350100M000100Y43,2026,8,100.00,V1,100.00,0.00,10.00,VOUCHER|COVERED_BY_VOUCHER|GRANTED\n\
                    \ncap_year,renter_subsidy,supplier_subsidy,voucher_reimbursement,total_accrued,paid,owed\n\
                    2026,0.00,0.00,0.00,0.00,0.00,0.00\n";
        let (rows, totals) = parse_statement(text).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!((rows[0].seq, rows[0].record_id.as_str(), rows[0].voucher_id.as_str()), (5, "u,1", "V1"));
        assert_eq!(totals.len(), 1);
        assert_eq!(totals[0].cap_year, "2026");
        // The one-table layout: totals are rows of kind `total`.
        let one = "seq,time,kind,record_id,role,counterparty,cap_year,gpu_hours,amount,voucher_id,voucher_drawn,renter_subsidy,supplier_subsidy,voucher_reimbursement,total_accrued,paid,owed,reasons\n\
                   5,2026-06-30T12:00:00+08:00,usage,u1,renter,91350100M000100Y43,2026,8,100.00,,0.00,30.00,0.00,,,,,NO_VOUCHER|GRANTED|NOT_ELIGIBLE\n\
                   ,,total,,,,2026,,,,,30.00,0.00,0.00,30.00,0.00,30.00,\n";
        let (rows, totals) = parse_statement(one).unwrap();
        assert_eq!((rows.len(), totals.len()), (1, 1));
        assert_eq!((totals[0].cap_year.as_str(), totals[0].owed.as_str()), ("2026", "30.00"));
        assert_eq!(
            proof_href("91350100M000100Y43", "a-b c&d:e", false),
            "/auditor?provider=91350100M000100Y43&record=a-b%20c%26d%3Ae&kind=usage"
        );
    }
}
