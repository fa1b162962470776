//! What the private views show — a holder's vouchers, a company's statement — built from
//! the answers of the same service calls the gRPC clients make, and rendered as HTML
//! fragments (auto-escaped templates) that the page's script puts in place.

use askama::Template;
use rust_decimal::Decimal;
use suanli_core::codes::LineReason;
use suanli_core::lang::Lang;
use suanli_proto::v1;

use super::fmt;
use super::i18n::{self, Catalog};
use super::index::Page;
use crate::reports::StatementRow;

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
    /// Set when only the latest draws are shown: "the latest N of M".
    pub draws_note: String,
}

impl FounderView {
    pub fn build(
        lang: Lang,
        list: &v1::VoucherList,
        opc: bool,
        draws: &[StatementRow],
        draws_total: usize,
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
                let draws = draws
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
        let draws_note = if draws_total > draws.len() {
            t.f("draws.latest", &[("shown", &draws.len().to_string()), ("total", &draws_total.to_string())])
        } else {
            String::new()
        };
        FounderView {
            t,
            holder_id: list.holder_id.clone(),
            holder_name: list.holder_name.clone(),
            opc,
            vouchers,
            draws_note,
        }
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
    /// "Rows a–b of n, newest first" when the statement has more than one page.
    pub range: String,
    pub page: usize,
    pub pages: usize,
    pub per_page: usize,
    pub page_of: String,
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
    pub fn build(lang: Lang, info: &v1::EntityInfo, statement: &Page, caps: Caps) -> Self {
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
        let rows = &statement.rows;
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
        let totals = statement
            .totals
            .iter()
            .map(|(year, x)| TotalView {
                year: year.to_string(),
                renter: fmt::money(x.renter_subsidy),
                supplier: fmt::money(x.supplier_subsidy),
                voucher: fmt::money(x.voucher_reimbursement),
                accrued: fmt::money(x.accrued()),
                paid: fmt::money(x.paid),
                owed: fmt::money(x.owed()),
            })
            .collect();
        let first = (statement.page - 1) * statement.per_page;
        let range = if statement.pages > 1 {
            t.f(
                "entity.range",
                &[
                    ("from", &(first + 1).to_string()),
                    ("to", &(first + statement.rows.len()).to_string()),
                    ("total", &statement.count.to_string()),
                ],
            )
        } else {
            String::new()
        };
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
            range,
            page: statement.page,
            pages: statement.pages,
            per_page: statement.per_page,
            page_of: t
                .f("entity.page_of", &[("page", &statement.page.to_string()), ("pages", &statement.pages.to_string())]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proof_links_escape_the_record_id() {
        assert_eq!(
            proof_href("91350100M000100Y43", "a-b c&d:e", false),
            "/auditor?provider=91350100M000100Y43&record=a-b%20c%26d%3Ae&kind=usage"
        );
    }
}
