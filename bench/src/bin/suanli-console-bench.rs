//! `suanli-console-bench`: times every page of the web console against a running `suanlid`
//! (normally one that `suanli-load` filled with 1,000,000 records; see `bench/console.sh`).
//!
//! For each page it sends `--requests` requests one after another over one keep-alive
//! HTTP/1.1 connection on the loopback and records the time from sending the request to
//! having read the whole answer: the server's time plus a loopback round trip. Private
//! views are fetched as the browser fetches them: a `ReadRequest` freshly signed for every
//! request (the server answers each signed read once), with the finance key, a voucher
//! holder's key or a renter's key of the `suanli-load` workload. Prints a table and writes
//! it as Markdown and JSON when asked.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use ed25519_dalek::SigningKey;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use prost::Message;
use suanli_bench::{holder_key, percentile, provider_id, renter_id};
use suanli_core::keyfile;
use suanli_core::sig::{self, Domain};
use suanli_proto::v1;

#[derive(Debug, Parser)]
#[command(name = "suanli-console-bench", about = "Time each web console page of a running suanlid")]
struct Args {
    /// The web listener of the ledger.
    #[arg(long, default_value = "http://127.0.0.1:7421")]
    web: String,
    /// The finance key file (the data directory's finance.key).
    #[arg(long)]
    finance_key: PathBuf,
    /// Requests per page.
    #[arg(long, default_value_t = 200)]
    requests: usize,
    /// The cap year to show (the dashboard, the statement).
    #[arg(long, default_value_t = 2026)]
    year: i32,
    /// A record of the workload to look up on the auditor's API (provider 0's).
    #[arg(long, default_value = "run1-0")]
    record_id: String,
    /// Stop timing a page after this many seconds (once it has at least 5 answers): a view
    /// that scans the log would otherwise take hours at 1,000,000 records.
    #[arg(long, default_value_t = 30)]
    page_seconds: u64,
    /// Records in the ledger, for the table's heading.
    #[arg(long, default_value_t = 0)]
    records: u64,
    /// Append the table as Markdown here.
    #[arg(long)]
    markdown_out: Option<PathBuf>,
    /// A sentence before the table (how the ledger was filled, when).
    #[arg(long, default_value = "")]
    heading: String,
    #[arg(long)]
    json_out: Option<PathBuf>,
}

/// What one page is: its method, path and, for a signed read, who signs which query.
// Built once per page, never moved around: its size does not matter.
#[allow(clippy::large_enum_variant)]
enum Call {
    Get(&'static str, String),
    Read(&'static str, &'static str, SigningKey, v1::read_request::Query),
}

fn signed_read(key: &SigningKey, query: &v1::read_request::Query, n: u64) -> Vec<u8> {
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    let mut nonce = n.to_be_bytes().to_vec();
    nonce.extend_from_slice(&now_ms.to_be_bytes());
    let payload = v1::ReadRequest { issued_at_ms: now_ms, nonce, query: Some(query.clone()) }.encode_to_vec();
    let signature = sig::sign(key, Domain::Read, &payload);
    v1::Envelope { payload, public_key: key.verifying_key().to_bytes().to_vec(), signature: signature.to_vec() }
        .encode_to_vec()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let finance_text = std::fs::read_to_string(&args.finance_key)
        .with_context(|| format!("reading {}", args.finance_key.display()))?;
    let finance = keyfile::parse_secret(&finance_text).context("the finance key file")?;
    // suanli-load registers a key only for the renters holding a voucher (renter 1, 11, …).
    let holder = holder_key(1);
    let renter = holder_key(1);
    let q = v1::read_request::Query::Report(v1::ReportQuery { year: args.year, as_of_seq: None, format: 0 });
    let pages = vec![
        Call::Get("home", "/".into()),
        Call::Get("finance page", "/finance".into()),
        Call::Get("founder page", "/founder".into()),
        Call::Get("entity page", "/entity".into()),
        Call::Get("auditor page", "/auditor".into()),
        Call::Read("finance: dashboard", "/api/finance/dashboard", finance.clone(), q),
        Call::Read(
            "finance: periods",
            "/api/finance/periods",
            finance.clone(),
            v1::read_request::Query::Periods(v1::PeriodsQuery {}),
        ),
        Call::Read(
            "founder: vouchers",
            "/api/view/founder",
            holder,
            v1::read_request::Query::Holder(v1::HolderQuery { holder_id: renter_id(1).to_string() }),
        ),
        Call::Read(
            "entity: statement",
            "/api/view/entity",
            renter,
            v1::read_request::Query::Statement(v1::StatementQuery {
                id: String::new(),
                year: args.year,
                ..Default::default()
            }),
        ),
        // The largest statement in the ledger: provider 0 supplied one record in eight.
        Call::Read(
            "entity: statement of the largest provider (finance)",
            "/api/view/entity",
            finance.clone(),
            v1::read_request::Query::Statement(v1::StatementQuery {
                id: provider_id(0).to_string(),
                year: args.year,
                ..Default::default()
            }),
        ),
        Call::Get("auditor: checkpoint", "/api/audit/checkpoint".into()),
        Call::Get(
            "auditor: record + proof",
            format!("/api/audit/record?provider={}&record={}&kind=usage", provider_id(0), args.record_id),
        ),
    ];
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let base = args.web.trim_end_matches('/').to_string();
    let mut rows = Vec::new();
    let mut n = 0u64;
    for call in &pages {
        let (name, path) = match call {
            Call::Get(name, path) => (*name, path.clone()),
            Call::Read(name, path, _, _) => (*name, path.to_string()),
        };
        let mut times = Vec::with_capacity(args.requests);
        let mut bytes = 0usize;
        let page_started = Instant::now();
        let mut failure: Option<String> = None;
        for _ in 0..args.requests {
            if times.len() >= 5 && page_started.elapsed() > Duration::from_secs(args.page_seconds) {
                break;
            }
            n += 1;
            let req = match call {
                Call::Get(..) => hyper::Request::get(format!("{base}{path}")).body(Full::new(Bytes::new()))?,
                Call::Read(_, _, key, query) => hyper::Request::post(format!("{base}{path}"))
                    .header("content-type", "application/x-protobuf")
                    .body(Full::new(Bytes::from(signed_read(key, query, n))))?,
            };
            let started = Instant::now();
            let resp = client.request(req).await.with_context(|| format!("{name}: {path}"))?;
            let status = resp.status();
            let body = resp.into_body().collect().await?.to_bytes();
            times.push(started.elapsed().as_micros() as u64);
            if !status.is_success() {
                // A view that cannot answer in time (408) is reported, not hidden: note it, and
                // do not hammer it further.
                eprintln!("{name}: {path} answered {status}: {}", String::from_utf8_lossy(&body));
                failure = Some(status.to_string());
                break;
            }
            bytes = body.len();
        }
        times.sort_unstable();
        let ms = |us: u64| us as f64 / 1000.0;
        let row = (
            name,
            ms(percentile(&times, 500)),
            ms(percentile(&times, 950)),
            ms(*times.last().unwrap_or(&0)),
            bytes,
            times.len(),
            failure,
        );
        println!(
            "{:<26} p50 {:>8.1} ms  p95 {:>8.1} ms  max {:>8.1} ms  {:>8} bytes  ({} requests){}",
            row.0,
            row.1,
            row.2,
            row.3,
            row.4,
            row.5,
            row.6.as_deref().map(|f| format!(", answered {f}")).unwrap_or_default()
        );
        rows.push(row);
    }
    if let Some(path) = &args.markdown_out {
        let mut md = String::new();
        if !args.heading.is_empty() {
            md.push_str(&format!("{}\n\n", args.heading));
        }
        md.push_str(
            "| page or call | requests | p50 | p95 | max | answer size | p95 ≤ 200 ms |\n| --- | --- | --- | --- | --- | --- | --- |\n",
        );
        for (name, p50, p95, max, bytes, n, failure) in &rows {
            let ok = match failure {
                Some(f) => format!("**no**: answered {f}"),
                None if *p95 <= 200.0 => "yes".to_string(),
                None => "**no**".to_string(),
            };
            md.push_str(&format!("| {name} | {n} | {p50:.1} ms | {p95:.1} ms | {max:.1} ms | {bytes} B | {ok} |\n"));
        }
        md.push('\n');
        let mut old = std::fs::read_to_string(path).unwrap_or_default();
        old.push_str(&md);
        std::fs::write(path, old)?;
    }
    if let Some(path) = &args.json_out {
        let v: Vec<serde_json::Value> = rows
            .iter()
            .map(|(name, p50, p95, max, bytes, n, failure)| {
                serde_json::json!({"page": name, "requests": n, "p50_ms": p50, "p95_ms": p95, "max_ms": max, "bytes": bytes, "failure": failure})
            })
            .collect();
        std::fs::write(path, serde_json::to_string_pretty(&serde_json::json!({"records": args.records, "pages": v}))?)?;
    }
    Ok(())
}
