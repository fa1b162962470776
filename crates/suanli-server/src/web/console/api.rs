//! `/api/…`: what the console's scripts call.
//!
//! Signed calls take the body as a protobuf `Envelope` — exactly what a gRPC client sends —
//! and hand it to the same service methods ([`Services`]), so a browser and the CLI are held
//! to the same signatures, domain tags, read freshness, replay rule and permissions:
//! - `POST /api/submit/holder` (`Vouchers.Apply`), `POST /api/submit/finance`
//!   (`Settlement.Apply`): the answer as JSON (`status`, `seq`, `reason`, and a `message`
//!   for people);
//! - `POST /api/view/founder` (`Vouchers.ListVouchers`), `POST /api/view/entity`
//!   (`Reports.EntityStatement`): the view as an HTML fragment inside JSON (`html`);
//! - `POST /api/statement.csv`, `/api/statement.xlsx` (`Reports.EntityStatement`): the file
//!   itself, in the format the signed `StatementQuery` names.
//!
//! Public calls need no signature and show only what SPEC §9 makes public:
//! `GET /api/info` (ledger key, origin, clock), `GET /api/audit/checkpoint`,
//! `GET /api/audit/record?provider=&record=&kind=` (an entry and its inclusion proof).
//!
//! A refusal is JSON `{"error": CODE, "message": …, "detail": …}` with an HTTP status:
//! `message` says in the reader's language what to do (`errors.js.*`), `detail` is the
//! ledger's own sentence.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use futures::StreamExt;
use prost::Message;
use serde::Deserialize;
use serde_json::{Value, json};
use suanli_core::codes::RejectCode;
use suanli_core::entry::{Body, Entry};
use suanli_core::lang::Lang;
use suanli_proto::v1;
use suanli_proto::v1::audit_server::Audit;
use suanli_proto::v1::reports_server::Reports;
use suanli_proto::v1::settlement_server::Settlement;
use suanli_proto::v1::vouchers_server::Vouchers;
use tonic::{Code, Request, Status};

use super::index::Answer;
use super::views::{Caps, EntityView, FounderView};
use super::{LangQuery, i18n, lang_of, secure};
use crate::service::{Services, refusal};
use crate::web::WebState;

/// A refusal as the console's scripts get it.
pub fn refused(lang: Lang, status: &Status) -> Response {
    let t = i18n::catalog(lang);
    let (code, key, http) = match (refusal(status), status.code()) {
        (Some("skew"), _) => ("skew", "errors.js.skew", StatusCode::UNAUTHORIZED),
        (Some("replayed"), _) => ("replayed", "errors.js.replayed", StatusCode::UNAUTHORIZED),
        (Some("signature"), _) => ("signature", "errors.js.signature", StatusCode::UNAUTHORIZED),
        (Some("unknown-key"), _) => ("unknown_key", "errors.js.unknown_key", StatusCode::UNAUTHORIZED),
        (Some("revoked-key"), _) => ("revoked_key", "errors.js.revoked_key", StatusCode::UNAUTHORIZED),
        (Some("permission"), _) => ("permission", "errors.js.permission", StatusCode::FORBIDDEN),
        (Some("role"), _) => ("role", "errors.js.role", StatusCode::FORBIDDEN),
        (_, Code::NotFound) => ("not_found", "errors.js.not_found", StatusCode::NOT_FOUND),
        (_, Code::ResourceExhausted | Code::Unavailable) => ("busy", "errors.js.busy", StatusCode::SERVICE_UNAVAILABLE),
        _ => ("other", "errors.js.other", StatusCode::BAD_REQUEST),
    };
    let message = t.f(key, &[("detail", status.message())]);
    json_response(http, json!({ "error": code, "message": message, "detail": status.message() }))
}

pub fn json_response(status: StatusCode, v: Value) -> Response {
    secure((status, axum::Json(v)).into_response(), None)
}

/// The body of a signed call: a protobuf `Envelope`.
pub fn envelope(body: &[u8]) -> Result<v1::Envelope, Status> {
    v1::Envelope::decode(body).map_err(|e| {
        let mut s = Status::invalid_argument(format!("the body is not a protobuf Envelope: {e}"));
        s.metadata_mut()
            .insert(crate::service::REFUSAL_METADATA, tonic::metadata::MetadataValue::from_static("signature"));
        s
    })
}

/// An `Ack` as JSON, with a sentence for people.
pub fn ack_json(lang: Lang, ack: &v1::Ack) -> Value {
    let t = i18n::catalog(lang);
    let seq = ack.seq.to_string();
    let (status, message) = match v1::Status::try_from(ack.status) {
        Ok(v1::Status::Accepted) => ("ACCEPTED", t.f("errors.js.accepted", &[("seq", &seq)])),
        Ok(v1::Status::Duplicate) => ("DUPLICATE", t.f("errors.js.duplicate", &[("seq", &seq)])),
        _ => {
            let why =
                RejectCode::parse(&ack.reason).map_or_else(|| ack.detail.clone(), |c| c.explain(lang).to_string());
            ("REJECTED", t.f("errors.js.rejected", &[("reason", &why)]))
        }
    };
    json!({ "status": status, "seq": ack.seq, "reason": ack.reason, "detail": ack.detail, "message": message })
}

/// Runs one service call on the signed envelope in `body`, as a gRPC client's call would
/// run: the same `Services` code, so the same checks and rules. A body that is not an
/// envelope, and every refusal, becomes the answer for the page (in `lang`).
pub async fn call_service<T, F, Fut>(state: &WebState, lang: Lang, body: &[u8], call: F) -> Result<T, Response>
where
    F: FnOnce(Services, Request<v1::Envelope>) -> Fut,
    Fut: std::future::Future<Output = Result<tonic::Response<T>, Status>>,
{
    let env = envelope(body).map_err(|s| refused(lang, &s))?;
    call(Services(state.shared.clone()), Request::new(env))
        .await
        .map(tonic::Response::into_inner)
        .map_err(|s| refused(lang, &s))
}

async fn submit_holder(
    State(state): State<Arc<WebState>>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let lang = lang_of(q.lang.as_deref(), &headers);
    match call_service(&state, lang, &body, |svc, req| async move { Vouchers::apply(&svc, req).await }).await {
        Ok(ack) => json_response(StatusCode::OK, ack_json(lang, &ack)),
        Err(page) => page,
    }
}

async fn submit_finance(
    State(state): State<Arc<WebState>>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let lang = lang_of(q.lang.as_deref(), &headers);
    match call_service(&state, lang, &body, |svc, req| async move { Settlement::apply(&svc, req).await }).await {
        Ok(ack) => json_response(StatusCode::OK, ack_json(lang, &ack)),
        Err(page) => page,
    }
}

/// A rendered view as the scripts get it.
pub fn html_json(html: Result<String, askama::Error>) -> Response {
    match html {
        Ok(html) => json_response(StatusCode::OK, json!({ "html": html })),
        Err(e) => {
            json_response(StatusCode::INTERNAL_SERVER_ERROR, json!({ "error": "other", "message": e.to_string() }))
        }
    }
}

/// The whole `EntityStatement` answer (a CSV file) for a signed read.
async fn statement_bytes(services: &Services, env: v1::Envelope) -> Result<Vec<u8>, Status> {
    let mut stream = Reports::entity_statement(services, Request::new(env)).await?.into_inner();
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk?.data);
    }
    Ok(out)
}

async fn view_founder(
    State(state): State<Arc<WebState>>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let lang = lang_of(q.lang.as_deref(), &headers);
    let list =
        match call_service(&state, lang, &body, |svc, req| async move { Vouchers::list_vouchers(&svc, req).await })
            .await
        {
            Ok(l) => l,
            Err(page) => return page,
        };
    let Ok(holder) = suanli_core::ids::Uscc::parse(&list.holder_id) else {
        return refused(lang, &Status::internal("the holder id does not parse"));
    };
    // The draws, record by record: the latest of the holder's draws, from the index of
    // each company's entries (the read above was signed by the holder, or by the admin or
    // finance, who may read it too).
    let (draws, draws_total) = match super::index::draws(&state.shared, holder).await {
        Ok(Answer::Ready(x)) => x,
        Ok(Answer::Counting { counted, total }) => return counting(lang, counted, total),
        Err(e) => return refused(lang, &Status::internal(e)),
    };
    let (opc, offset) = {
        let ledger = state.shared.ledger.read().expect("ledger lock");
        (ledger.entity(&holder).is_some_and(|e| e.flags.opc), ledger.program().utc_offset_seconds)
    };
    let now = (state.shared.clock)().div_euclid(1000);
    use askama::Template;
    html_json(FounderView::build(lang, &list, opc, &draws, draws_total, now, offset).render())
}

/// `?page=` and `?per_page=` of the statement view (outside the signed read: they choose
/// what part of an answer the signer may see anyway).
#[derive(Debug, serde::Deserialize)]
struct PageQuery {
    lang: Option<String>,
    page: Option<usize>,
    per_page: Option<usize>,
}

/// The index of companies' entries is still being read after a restart.
fn counting(lang: Lang, counted: u64, total: u64) -> Response {
    let t = i18n::catalog(lang);
    let message = t.f("view.counting", &[("counted", &counted.to_string()), ("total", &total.to_string())]);
    json_response(StatusCode::SERVICE_UNAVAILABLE, json!({ "error": "counting", "message": message }))
}

async fn view_entity(
    State(state): State<Arc<WebState>>,
    Query(q): Query<PageQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let lang = lang_of(q.lang.as_deref(), &headers);
    let env = match envelope(&body) {
        Ok(e) => e,
        Err(s) => return refused(lang, &s),
    };
    // The same checks as the EntityStatement RPC; the rows come from the index of the
    // entity's own entries instead of a pass over the whole log.
    let (query, id) = match state.shared.authorize_statement(env) {
        Ok(x) => x,
        Err(s) => return refused(lang, &s),
    };
    let year = query.year;
    let page = q.page.unwrap_or(1);
    let per_page = q.per_page.unwrap_or(super::index::PER_PAGE);
    let statement = match super::index::statement(&state.shared, id, (year != 0).then_some(year), page, per_page).await
    {
        Ok(Answer::Ready(p)) => p,
        Ok(Answer::Counting { counted, total }) => return counting(lang, counted, total),
        Err(e) => return refused(lang, &Status::internal(e)),
    };
    let (info, caps) = {
        let ledger = state.shared.ledger.read().expect("ledger lock");
        let p = ledger.program();
        let this_year = suanli_core::time::year_at((state.shared.clock)().div_euclid(1000), p.utc_offset_seconds);
        let caps =
            Caps { year: if year != 0 { year } else { this_year }, renter: p.renter_cap, supplier: p.supplier_cap };
        (crate::service::entity_info(&ledger, &id), caps)
    };
    let info = match info {
        Ok(i) => i,
        Err(s) => return refused(lang, &s),
    };
    use askama::Template;
    html_json(EntityView::build(lang, &info, &statement, caps).render())
}

async fn statement_csv(
    State(state): State<Arc<WebState>>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let lang = lang_of(q.lang.as_deref(), &headers);
    let services = Services(state.shared.clone());
    let bytes = match envelope(&body) {
        Ok(env) => statement_bytes(&services, env).await,
        Err(e) => Err(e),
    };
    match bytes {
        Ok(b) => {
            // The signed query chose the format; an XLSX file is a zip.
            let xlsx = b.starts_with(b"PK\x03\x04");
            let (kind, name) = if xlsx {
                (
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    "attachment; filename=\"statement.xlsx\"",
                )
            } else {
                ("text/csv; charset=utf-8", "attachment; filename=\"statement.csv\"")
            };
            let mut resp = b.into_response();
            let h = resp.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
            h.insert(header::CONTENT_DISPOSITION, HeaderValue::from_static(name));
            secure(resp, None)
        }
        Err(s) => refused(lang, &s),
    }
}

async fn info(State(state): State<Arc<WebState>>) -> Response {
    let ledger = state.shared.ledger.read().expect("ledger lock");
    let g = ledger.genesis();
    json_response(
        StatusCode::OK,
        json!({
            "server_time_ms": (state.shared.clock)(),
            "ledger_public_key": suanli_core::keyfile::encode_public(&g.ledger_key),
            "origin": g.origin,
            "program_id": ledger.program().id,
            "utc_offset_seconds": ledger.program().utc_offset_seconds,
        }),
    )
}

async fn checkpoint(State(state): State<Arc<WebState>>, Query(q): Query<LangQuery>, headers: HeaderMap) -> Response {
    let lang = lang_of(q.lang.as_deref(), &headers);
    let audit = crate::audit::AuditService::new(state.shared.clone());
    match Audit::get_checkpoint(&audit, Request::new(v1::AuditCheckpointRequest { at_or_before: None })).await {
        Ok(cp) => {
            let cp = cp.into_inner();
            json_response(StatusCode::OK, json!({ "size": cp.size, "note": cp.note }))
        }
        Err(s) => refused(lang, &s),
    }
}

#[derive(Debug, Deserialize)]
struct RecordQuery {
    lang: Option<String>,
    provider: String,
    record: String,
    kind: Option<String>,
}

/// A record's entry, its signed payload, its inclusion proof and the checkpoint, for the
/// browser to check. The money lines come as the ledger computed them (they are in the
/// entry, whose hash the browser checks; it decodes the signed payload itself).
async fn record(State(state): State<Arc<WebState>>, Query(q): Query<RecordQuery>, headers: HeaderMap) -> Response {
    let lang = lang_of(q.lang.as_deref(), &headers);
    let audit = crate::audit::AuditService::new(state.shared.clone());
    let corpus = q.kind.as_deref() == Some("corpus");
    let req = v1::FindRecordRequest {
        provider_id: q.provider.trim().to_string(),
        record_id: q.record.trim().to_string(),
        kind: if corpus { v1::RecordKind::Corpus as i32 } else { v1::RecordKind::Usage as i32 },
        tree_size: 0,
    };
    let found = match Audit::find_record(&audit, Request::new(req)).await {
        Ok(r) => r.into_inner(),
        Err(s) => return refused(lang, &s),
    };
    let Some(proof) = found.proof else {
        return refused(lang, &Status::internal("no proof"));
    };
    let (payload, lines) = match Entry::decode(&found.entry) {
        Ok(e) => match &e.body {
            Body::Usage { input, lines } | Body::Corpus { input, lines } => (input.payload.clone(), Some(*lines)),
            _ => (Vec::new(), None),
        },
        Err(_) => (Vec::new(), None),
    };
    let lines = lines.map(|l| {
        json!({
            "cap_year": l.cap_year,
            "voucher": suanli_core::money::fmt_money(l.voucher),
            "renter": suanli_core::money::fmt_money(l.renter),
            "supplier": suanli_core::money::fmt_money(l.supplier),
            "reasons": l.reasons(),
        })
    });
    json_response(
        StatusCode::OK,
        json!({
            "seq": found.seq,
            "kind": if corpus { "corpus" } else { "usage" },
            "entry": B64.encode(&found.entry),
            "payload": B64.encode(&payload),
            "lines": lines,
            "reversed_by": found.reversed_by,
            "proof": {
                "index": proof.index,
                "tree_size": proof.tree_size,
                "leaf_hash": B64.encode(&proof.leaf_hash),
                "hashes": proof.hashes.iter().map(|h| B64.encode(h)).collect::<Vec<_>>(),
            },
            "checkpoint": proof.checkpoint.map(|c| json!({ "size": c.size, "note": c.note })),
        }),
    )
}

pub fn router() -> Router<Arc<WebState>> {
    Router::new()
        .route("/api/submit/holder", post(submit_holder))
        .route("/api/submit/finance", post(submit_finance))
        .route("/api/view/founder", post(view_founder))
        .route("/api/view/entity", post(view_entity))
        .route("/api/statement.csv", post(statement_csv))
        .route("/api/statement.xlsx", post(statement_csv))
        .route("/api/info", get(info))
        .route("/api/audit/checkpoint", get(checkpoint))
        .route("/api/audit/record", get(record))
}
