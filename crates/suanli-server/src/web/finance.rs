//! The finance bureau's page (`/finance`): the program dashboard, settlement periods, the
//! annual report and the year close.
//!
//! - `GET /finance`: the page; everything on it that is not public comes from signed reads.
//! - `POST /api/finance/dashboard`: a `ReadRequest` with a `ReportQuery` (the dashboard is a
//!   view of the annual report's year; finance or admin key), answered with the dashboard
//!   as an HTML fragment. It reads the running totals kept by the sequencer
//!   ([`crate::dashboard`]) and the ledger state under one lock: no log scan per view.
//!   Charts are SVG drawn here ([`super::charts`]).
//! - `POST /api/finance/periods`: a `ReadRequest` with a `PeriodsQuery`, through the same
//!   `Settlement.ListPeriods` code as gRPC, rendered as a fragment.
//! - `POST /api/finance/report`: a `ReadRequest` with a `ReportQuery`, through the same
//!   `Reports.AnnualReport` code as `suanli report annual`: the file's bytes (base64) and
//!   its `.sig` note, byte for byte what the CLI writes.
//! - Actions (close a period, record a payout, close a year) are `FinanceRequest`
//!   envelopes signed in the browser and posted to `/api/submit/finance`.

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use base64::Engine;
use futures::StreamExt;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde_json::json;
use suanli_core::dashboard::{DashboardView, day_parts, month_parts};
use suanli_core::lang::Lang;
use suanli_core::time::days_from_civil;
use suanli_proto::v1;
use suanli_proto::v1::reports_server::Reports;
use suanli_proto::v1::settlement_server::Settlement;
use tonic::{Request, Status};

use super::WebState;
use super::charts::{self, Units};
use super::console::api::{call_service, envelope, html_json, json_response, refused};
use super::console::i18n::{self, Catalog};
use super::console::{Chrome, LangQuery, fmt, lang_of, page};
use crate::dashboard::Progress;
use crate::service::{Reader, Services};

/// Entities in each top list.
pub const TOP: usize = 10;

pub fn router() -> Router<Arc<WebState>> {
    Router::new()
        .route("/finance", get(finance_page))
        .route("/api/finance/dashboard", post(dashboard))
        .route("/api/finance/periods", post(periods))
        .route("/api/finance/report", post(report))
}

#[derive(Template)]
#[template(path = "finance.html")]
struct FinancePage {
    c: Chrome,
    years: Vec<i32>,
    this_year: i32,
}

fn this_year(state: &WebState) -> (i32, Vec<i32>) {
    let ledger = state.shared.ledger.read().expect("ledger lock");
    let p = ledger.program();
    let now = ledger.last_time_ms().div_euclid(1000);
    let first = p.cap_year(p.window_start);
    let last = p.cap_year(p.window_end - 1).min(first + 20);
    let year = p.cap_year(now).clamp(first, last);
    (year, (first..=last).rev().collect())
}

async fn finance_page(State(state): State<Arc<WebState>>, Query(q): Query<LangQuery>, headers: HeaderMap) -> Response {
    let lang = lang_of(q.lang.as_deref(), &headers);
    let set = q.lang.as_deref().and_then(Lang::parse);
    let (this_year, years) = this_year(&state);
    let c = Chrome::new(&state, lang, "/finance", "finance", "finance.js");
    page(&FinancePage { c, years, this_year }, set)
}

/// Authorizes a signed read for the finance pages: the finance or the admin key.
fn finance_read(state: &WebState, body: &[u8]) -> Result<v1::ReadRequest, Status> {
    let (read, reader) = state.shared.authorize_read(envelope(body)?)?;
    match reader {
        Reader::Finance | Reader::Admin => Ok(read),
        Reader::Entity(e) => {
            let mut s = Status::permission_denied(format!("{e} may not read the program dashboard"));
            s.metadata_mut()
                .insert(crate::service::REFUSAL_METADATA, tonic::metadata::MetadataValue::from_static("permission"));
            Err(s)
        }
    }
}

async fn dashboard(
    State(state): State<Arc<WebState>>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let lang = lang_of(q.lang.as_deref(), &headers);
    let read = match finance_read(&state, &body) {
        Ok(r) => r,
        Err(s) => return refused(lang, &s),
    };
    let Some(v1::read_request::Query::Report(rq)) = read.query else {
        return refused(lang, &Status::invalid_argument("the dashboard takes a ReportQuery (the cap year)"));
    };
    if !(2000..2200).contains(&rq.year) {
        return refused(lang, &Status::invalid_argument(format!("{} is not a year between 2000 and 2199", rq.year)));
    }
    let shared = state.shared.clone();
    let read = tokio::task::spawn_blocking(move || {
        // Catch up first without the ledger's lock (the sequencer needs it to decide
        // anything); under the lock only what was decided in between is waited for.
        shared.dashboard.catch_up();
        let ledger = shared.ledger.read().expect("ledger lock");
        let (view, progress) = shared.dashboard.read(|aggs, p| (aggs.view(&ledger, rq.year, TOP), p));
        (view, progress, ledger.program().utc_offset_seconds)
    })
    .await;
    match read {
        Ok((view, progress, offset)) => {
            html_json(DashboardPage::build(lang, &view, progress, offset).and_then(|v| v.render()))
        }
        Err(e) => refused(lang, &Status::internal(format!("reading the dashboard failed: {e}"))),
    }
}

/// A legend entry: its colour and label.
#[derive(Debug)]
pub struct Legend {
    pub color: String,
    pub label: String,
}

/// One chart with its caption, legend and the exact figures beside it.
#[derive(Debug)]
pub struct ChartView {
    pub id: &'static str,
    pub title: String,
    pub legend: Vec<Legend>,
    pub svg: String,
    pub head: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// A headline figure.
#[derive(Debug)]
pub struct Kpi {
    pub label: String,
    pub value: String,
    pub note: String,
}

#[derive(Template)]
#[template(path = "finance_dashboard.html")]
pub struct DashboardPage {
    pub t: &'static Catalog,
    pub status: String,
    pub ready: bool,
    pub as_of: String,
    pub kpis: Vec<Kpi>,
    pub charts: Vec<ChartView>,
}

fn f(d: Decimal) -> f64 {
    d.to_f64().unwrap_or(0.0)
}

fn legend(c: charts::RGBColor, label: &str) -> Legend {
    Legend { color: charts::css(c), label: label.to_string() }
}

fn month_label(t: &Catalog, m: u32) -> String {
    t.s(&format!("finance.m{m}")).to_string()
}

impl DashboardPage {
    pub fn build(lang: Lang, v: &DashboardView, p: Progress, offset: i32) -> Result<DashboardPage, askama::Error> {
        let t = i18n::catalog(lang);
        let units = match lang {
            Lang::Zh => Units::Zh,
            Lang::En => Units::En,
        };
        let chart_err = |e: String| askama::Error::Custom(e.into());
        let status = if p.failed {
            t.s("finance.failed").to_string()
        } else if !p.ready {
            t.f("finance.counting", &[("counted", &p.counted.to_string()), ("total", &p.total.to_string())])
        } else {
            String::new()
        };
        let as_of = t.f("finance.as_of", &[("size", &v.as_of_size.to_string()), ("year", &v.year.to_string())]);
        let total = &v.total;
        let mut kpis = vec![
            Kpi {
                label: t.s("finance.kpi_committed").into(),
                value: fmt::money(v.budget_used),
                note: match v.budget {
                    Some(b) => t.f(
                        "finance.kpi_of_budget",
                        &[("budget", &fmt::money(b)), ("percent", &fmt::percent(v.budget_used, b))],
                    ),
                    None => t.s("finance.no_budget").into(),
                },
            },
            Kpi {
                label: t.s("finance.kpi_rent").into(),
                value: fmt::money(total.rent_amount),
                note: t.f(
                    "finance.kpi_records",
                    &[
                        ("records", &total.rent_records.to_string()),
                        ("hours", &suanli_core::money::fmt_plain(total.rent_gpu_hours)),
                    ],
                ),
            },
            Kpi {
                label: t.s("finance.kpi_payable").into(),
                value: fmt::money(total.total_payable()),
                note: t.f(
                    "finance.kpi_paid",
                    &[("paid", &fmt::money(total.paid)), ("outstanding", &fmt::money(total.outstanding()))],
                ),
            },
        ];
        if v.year_closed {
            kpis.push(Kpi {
                label: t.s("finance.kpi_year").into(),
                value: t.s("finance.year_closed").into(),
                note: String::new(),
            });
        }

        let mut charts_out = Vec::new();

        // 1. Subsidy committed over the year, against the budget.
        let first = days_from_civil(i64::from(v.year), 1, 1);
        let last_of_year = days_from_civil(i64::from(v.year) + 1, 1, 1) - 1;
        let span_end = v.committed.last().map_or(last_of_year, |c| c.0.max(last_of_year));
        let span_start = v.committed.first().map_or(first, |c| c.0.min(first));
        let mut ticks = Vec::new();
        let (mut y, mut m) = (day_parts(span_start).0, day_parts(span_start).1);
        loop {
            let d = days_from_civil(y, m, 1);
            if d > span_end {
                break;
            }
            if d >= span_start && (m % 2 == 1 || y != i64::from(v.year)) {
                ticks.push((d, if m == 1 { format!("{y}") } else { month_label(t, m) }));
            }
            (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
        }
        let days: Vec<(i64, f64)> = v.committed.iter().map(|(d, x)| (*d, f(*x))).collect();
        let budget = v.budget.map(|b| (f(b), t.f("finance.budget_line", &[("amount", &fmt::money(b))])));
        let title = t.s("finance.chart_committed").to_string();
        let svg =
            charts::running_total(&days, (span_start, span_end), &ticks, budget, units, &title).map_err(chart_err)?;
        let mut legend_items = vec![legend(charts::RENTER, t.s("finance.committed"))];
        if v.budget.is_some() {
            legend_items.push(legend(charts::BUDGET, t.s("finance.budget")));
        }
        charts_out.push(ChartView {
            id: "committed",
            title,
            legend: legend_items,
            svg,
            head: vec![t.s("finance.date").into(), t.s("finance.committed").into()],
            rows: v
                .committed
                .iter()
                .map(|(d, x)| {
                    let (yy, mm, dd) = day_parts(*d);
                    vec![format!("{yy}-{mm:02}-{dd:02}"), fmt::money(*x)]
                })
                .collect(),
        });

        // 2. Subsidy and voucher draws by month of use.
        let months: Vec<u32> = (1..=12).collect();
        let mut values = Vec::new();
        let mut rows = Vec::new();
        let mut cats = Vec::new();
        let mut extra: Vec<(i32, u32)> = Vec::new();
        for (mi, _) in &v.months {
            let (yy, mm) = month_parts(*mi);
            if yy != v.year {
                extra.push((yy, mm));
            }
        }
        let mut all: Vec<(i32, u32)> = months.iter().map(|m| (v.year, *m)).collect();
        all.extend(extra);
        all.sort();
        all.dedup();
        for (yy, mm) in &all {
            let mt =
                v.months.iter().find(|(mi, _)| month_parts(*mi) == (*yy, *mm)).map(|x| x.1.clone()).unwrap_or_default();
            cats.push(if *yy == v.year { month_label(t, *mm) } else { format!("{yy}-{mm:02}") });
            values.push(vec![f(mt.renter), f(mt.supplier), f(mt.voucher)]);
            if mt.records != 0 {
                rows.push(vec![
                    format!("{yy}-{mm:02}"),
                    mt.records.to_string(),
                    fmt::money(mt.amount),
                    fmt::money(mt.renter),
                    fmt::money(mt.supplier),
                    fmt::money(mt.voucher),
                ]);
            }
        }
        let title = t.s("finance.chart_months").to_string();
        let svg = charts::stacked_columns(
            &cats,
            &values,
            &[charts::RENTER, charts::SUPPLIER, charts::VOUCHER],
            units,
            &title,
        )
        .map_err(chart_err)?;
        charts_out.push(ChartView {
            id: "months",
            title,
            legend: vec![
                legend(charts::RENTER, t.s("finance.renter_subsidy")),
                legend(charts::SUPPLIER, t.s("finance.supplier_subsidy")),
                legend(charts::VOUCHER, t.s("finance.voucher_drawn")),
            ],
            svg,
            head: [
                "finance.month",
                "finance.records",
                "finance.amount",
                "finance.renter_subsidy",
                "finance.supplier_subsidy",
                "finance.voucher_drawn",
            ]
            .iter()
            .map(|k| t.s(k).to_string())
            .collect(),
            rows,
        });

        // 3. Caps: how many reached theirs, how close the rest are.
        let bands = [
            "finance.band_none",
            "finance.band_under_half",
            "finance.band_half",
            "finance.band_near",
            "finance.band_reached",
        ];
        let counts = |b: &suanli_core::dashboard::CapBands| [b.none, b.under_half, b.half_to_80, b.near, b.reached];
        let (rc, sc) = (counts(&v.renters), counts(&v.suppliers));
        let cats: Vec<String> = bands.iter().map(|k| t.s(k).to_string()).collect();
        let values: Vec<Vec<f64>> = (0..5).map(|i| vec![rc[i] as f64, sc[i] as f64]).collect();
        let title = t.f(
            "finance.chart_caps",
            &[("renter_cap", &fmt::money(v.renter_cap)), ("supplier_cap", &fmt::money(v.supplier_cap))],
        );
        let svg = charts::grouped_columns(&cats, &values, &[charts::RENTER, charts::SUPPLIER], units, &title)
            .map_err(chart_err)?;
        charts_out.push(ChartView {
            id: "caps",
            title,
            legend: vec![
                legend(charts::RENTER, t.s("finance.renters")),
                legend(charts::SUPPLIER, t.s("finance.suppliers")),
            ],
            svg,
            head: vec![t.s("finance.band").into(), t.s("finance.renters").into(), t.s("finance.suppliers").into()],
            rows: (0..5).map(|i| vec![cats[i].clone(), rc[i].to_string(), sc[i].to_string()]).collect(),
        });

        // 4. Vouchers: drawn, lapsed and still open, per kind.
        let kinds = [("finance.compute", &v.compute_vouchers), ("finance.corpus", &v.corpus_vouchers)];
        let bar_rows: Vec<(String, Vec<f64>, String)> = kinds
            .iter()
            .map(|(k, x)| {
                (
                    t.f("finance.voucher_row", &[("kind", t.s(k)), ("count", &x.issued.to_string())]),
                    vec![f(x.drawn), f(x.lapsed), f(x.balance)],
                    fmt::money(x.face_value),
                )
            })
            .collect();
        let title = t.s("finance.chart_vouchers").to_string();
        let svg = charts::bars(&bar_rows, &[charts::VOUCHER, charts::LAPSED, charts::BALANCE], units, &title)
            .map_err(chart_err)?;
        charts_out.push(ChartView {
            id: "vouchers",
            title,
            legend: vec![
                legend(charts::VOUCHER, t.s("finance.drawn")),
                legend(charts::LAPSED, t.s("finance.lapsed")),
                legend(charts::BALANCE, t.s("finance.balance")),
            ],
            svg,
            head: [
                "finance.kind",
                "finance.issued",
                "finance.face_value",
                "finance.drawn",
                "finance.lapsed",
                "finance.balance",
            ]
            .iter()
            .map(|k| t.s(k).to_string())
            .collect(),
            rows: kinds
                .iter()
                .map(|(k, x)| {
                    vec![
                        t.s(k).to_string(),
                        x.issued.to_string(),
                        fmt::money(x.face_value),
                        fmt::money(x.drawn),
                        fmt::money(x.lapsed),
                        fmt::money(x.balance),
                    ]
                })
                .collect(),
        });

        // 5. GPU-hours by GPU class.
        let class_name = |n: &Option<String>| n.clone().unwrap_or_else(|| t.s("finance.other_class").to_string());
        let bar_rows: Vec<(String, Vec<f64>, String)> = v
            .classes
            .iter()
            .take(12)
            .map(|c| {
                (class_name(&c.name), vec![f(c.totals.gpu_hours)], suanli_core::money::fmt_plain(c.totals.gpu_hours))
            })
            .collect();
        let title = t.s("finance.chart_classes").to_string();
        let svg = charts::bars(&bar_rows, &[charts::RENTER], units, &title).map_err(chart_err)?;
        charts_out.push(ChartView {
            id: "classes",
            title,
            legend: vec![],
            svg,
            head: ["finance.gpu_class", "finance.records", "finance.gpu_hours", "finance.amount"]
                .iter()
                .map(|k| t.s(k).to_string())
                .collect(),
            rows: v
                .classes
                .iter()
                .map(|c| {
                    vec![
                        class_name(&c.name),
                        c.totals.records.to_string(),
                        suanli_core::money::fmt_plain(c.totals.gpu_hours),
                        fmt::money(c.totals.amount),
                    ]
                })
                .collect(),
        });

        // 6 and 7. Top renters and suppliers by amount, with the subsidy they earned.
        for (id, key, list, color, sub_key) in [
            ("top-renters", "finance.chart_top_renters", &v.top_renters, charts::RENTER, "finance.renter_subsidy"),
            (
                "top-suppliers",
                "finance.chart_top_suppliers",
                &v.top_suppliers,
                charts::SUPPLIER,
                "finance.supplier_subsidy",
            ),
        ] {
            let bar_rows: Vec<(String, Vec<f64>, String)> = list
                .iter()
                .map(|r| {
                    let name = if r.name.is_empty() { r.id.to_string() } else { short(&r.name, 24) };
                    (name, vec![f(r.amount)], fmt::money(r.amount))
                })
                .collect();
            let title = t.s(key).to_string();
            let svg = charts::bars(&bar_rows, &[color], units, &title).map_err(chart_err)?;
            charts_out.push(ChartView {
                id,
                title,
                legend: vec![],
                svg,
                head: ["finance.entity", "finance.uscc", "finance.amount", "finance.gpu_hours", sub_key]
                    .iter()
                    .map(|k| t.s(k).to_string())
                    .collect(),
                rows: list
                    .iter()
                    .map(|r| {
                        vec![
                            r.name.clone(),
                            r.id.to_string(),
                            fmt::money(r.amount),
                            suanli_core::money::fmt_plain(r.gpu_hours),
                            fmt::money(r.subsidy),
                        ]
                    })
                    .collect(),
            });
        }
        let _ = offset;
        Ok(DashboardPage { t, status, ready: p.ready, as_of, kpis, charts: charts_out })
    }
}

/// A name cut to `max` characters for a chart label (the table beside it has it whole).
fn short(s: &str, max: usize) -> String {
    if s.chars().count() <= max { s.to_string() } else { format!("{}…", s.chars().take(max - 1).collect::<String>()) }
}

// ----- periods -----

#[derive(Debug)]
pub struct LineView {
    pub period: String,
    pub payee: String,
    pub payee_name: String,
    pub kind: &'static str,
    pub kind_key: &'static str,
    pub year: i32,
    pub amount: String,
    pub paid: String,
    pub outstanding: String,
    /// What is left to pay, as the payout form takes it (plain decimal).
    pub left: String,
    pub settled: bool,
    pub pay_label: String,
}

#[derive(Debug)]
pub struct PeriodView {
    pub name: String,
    pub caption: String,
    pub lines: Vec<LineView>,
}

#[derive(Template)]
#[template(path = "finance_periods.html")]
pub struct PeriodsPage {
    pub t: &'static Catalog,
    pub periods: Vec<PeriodView>,
    pub unsettled: Vec<LineView>,
    pub unsettled_total: String,
    pub closed_years: String,
}

fn kind_of(k: i32) -> (&'static str, &'static str) {
    match v1::PayableKind::try_from(k) {
        Ok(v1::PayableKind::Renter) => ("renter", "finance.kind_renter"),
        Ok(v1::PayableKind::Supplier) => ("supplier", "finance.kind_supplier"),
        _ => ("voucher", "finance.kind_voucher"),
    }
}

impl PeriodsPage {
    pub fn build(lang: Lang, list: &v1::PeriodList, names: &dyn Fn(&str) -> String) -> PeriodsPage {
        let t = i18n::catalog(lang);
        let line = |period: &str, l: &v1::StatementLineInfo, settled: bool| {
            let amount = fmt::decimal(&l.amount);
            let paid = fmt::decimal(&l.paid);
            let (kind, kind_key) = kind_of(l.kind);
            LineView {
                period: period.to_string(),
                payee: l.payee_id.clone(),
                payee_name: names(&l.payee_id),
                kind,
                kind_key,
                year: l.year,
                amount: fmt::money(amount),
                paid: fmt::money(paid),
                outstanding: fmt::money(amount - paid),
                left: suanli_core::money::fmt_money(amount - paid),
                settled,
                pay_label: t.f("finance.pay_line_label", &[("payee", &l.payee_id)]),
            }
        };
        let periods = list
            .periods
            .iter()
            .rev()
            .map(|p| PeriodView {
                name: p.name.clone(),
                caption: t.f(
                    "finance.closed_at",
                    &[
                        ("seq", &p.closed_at_seq.to_string()),
                        ("total", &fmt::money(p.lines.iter().map(|l| fmt::decimal(&l.amount)).sum())),
                    ],
                ),
                lines: p.lines.iter().map(|l| line(&p.name, l, true)).collect(),
            })
            .collect();
        let unsettled_total = t.f(
            "finance.unsettled_total",
            &[("amount", &fmt::money(list.unsettled.iter().map(|l| fmt::decimal(&l.amount)).sum()))],
        );
        PeriodsPage {
            t,
            periods,
            unsettled: list.unsettled.iter().map(|l| line("", l, false)).collect(),
            unsettled_total,
            closed_years: if list.closed_years.is_empty() {
                String::new()
            } else {
                let years: Vec<String> = list.closed_years.iter().map(i32::to_string).collect();
                t.f("finance.closed_years", &[("years", &years.join(", "))])
            },
        }
    }
}

async fn periods(
    State(state): State<Arc<WebState>>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let lang = lang_of(q.lang.as_deref(), &headers);
    let list =
        call_service(&state, lang, &body, |svc, req| async move { Settlement::list_periods(&svc, req).await }).await;
    match list {
        Ok(list) => {
            let ledger = state.shared.ledger.read().expect("ledger lock");
            let names = |id: &str| {
                suanli_core::ids::Uscc::parse(id)
                    .ok()
                    .and_then(|u| ledger.entity(&u).map(|e| e.name.clone()))
                    .unwrap_or_default()
            };
            let page = PeriodsPage::build(lang, &list, &names);
            drop(ledger);
            html_json(page.render())
        }
        Err(page) => page,
    }
}

// ----- the annual report -----

async fn report(
    State(state): State<Arc<WebState>>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let lang = lang_of(q.lang.as_deref(), &headers);
    let env = match envelope(&body) {
        Ok(e) => e,
        Err(s) => return refused(lang, &s),
    };
    // Which file it is, from the signed query itself (the service reads the same bytes).
    let query = prost::Message::decode(env.payload.as_slice()).ok().and_then(|r: v1::ReadRequest| r.query);
    let Some(v1::read_request::Query::Report(rq)) = query else {
        return refused(lang, &Status::invalid_argument("the annual report takes a ReportQuery"));
    };
    let services = Services(state.shared.clone());
    let stream = match Reports::annual_report(&services, Request::new(env)).await {
        Ok(s) => s.into_inner(),
        Err(s) => return refused(lang, &s),
    };
    let mut bytes = Vec::new();
    let mut sig = String::new();
    let mut stream = std::pin::pin!(stream);
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(c) => {
                bytes.extend_from_slice(&c.data);
                if !c.signature.is_empty() {
                    sig = c.signature;
                }
            }
            Err(s) => return refused(lang, &s),
        }
    }
    let (ext, mime) = match v1::ReportFormat::try_from(rq.format) {
        Ok(v1::ReportFormat::Json) => ("json", "application/json"),
        Ok(v1::ReportFormat::Xlsx) => ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        _ => ("csv", "text/csv"),
    };
    let size: u64 = sig.lines().nth(4).and_then(|l| l.parse().ok()).unwrap_or(0);
    json_response(
        StatusCode::OK,
        json!({
            "name": format!("annual-{}.{ext}", rq.year),
            "mime": mime,
            "file": base64::engine::general_purpose::STANDARD.encode(&bytes),
            "sig": sig,
            "as_of_size": size,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use suanli_core::dashboard::Aggregates;

    #[test]
    fn an_empty_dashboard_renders_in_both_languages() {
        let program = suanli_core::program::Program::suzhou_2026();
        let genesis = suanli_core::entry::Genesis {
            program_toml: program.to_toml(),
            admin_key: suanli_core::testkit::public(&suanli_core::testkit::key(1)),
            finance_key: suanli_core::testkit::public(&suanli_core::testkit::key(2)),
            ledger_key: suanli_core::testkit::public(&suanli_core::testkit::key(3)),
            origin: "t".into(),
        };
        let (ledger, g) = suanli_core::ledger::Ledger::create(genesis, 1_780_000_000_000).unwrap();
        let mut a = Aggregates::new(program.utc_offset_seconds);
        a.apply(&g).unwrap();
        let v = a.view(&ledger, 2026, TOP);
        for lang in [Lang::Zh, Lang::En] {
            let p = Progress { counted: 1, total: 5, ready: false, failed: false };
            let html = DashboardPage::build(lang, &v, p, 28800).unwrap().render().unwrap();
            assert!(html.contains("<svg role=\"img\""), "charts are inline SVG");
            assert!(html.contains(&p.total.to_string()), "a dashboard still counting says so");
            assert!(!html.contains("finance."), "every message key has a text: {html}");
        }
    }
}
