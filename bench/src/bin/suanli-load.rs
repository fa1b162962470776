//! `suanli-load`: the end-to-end load generator. Pre-signs N records from M providers for
//! K renters (some holding vouchers, one renting enough to hit its cap), streams them over
//! real gRPC connections (one per provider) to a running `suanlid`, and reports records/s
//! acknowledged, ack latency percentiles, the server's peak RSS and disk bytes per record.
//! In the same run it measures the pure batch-verification rate of the same records on
//! all cores, and prints the ratio of the two.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use futures::StreamExt;
use rayon::prelude::*;
use suanli_bench::{Workload, percentile};
use suanli_core::keyfile;
use suanli_core::ledger::Input;
use suanli_core::sig::{self, Item};
use suanli_proto::v1;

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// What the load generator reads of each `Ack`: the same bytes as `v1::Ack`, but its
/// `lines` (field 4: five amounts and three reasons, eight strings) are skipped while
/// decoding instead of allocated and checked. The load shares the two cores with the
/// server; decoding money lines it never looks at cost about a third of its CPU.
#[derive(Clone, PartialEq, prost::Message)]
struct AckHead {
    #[prost(uint64, tag = "1")]
    index: u64,
    #[prost(enumeration = "v1::Status", tag = "2")]
    status: i32,
    #[prost(string, tag = "5")]
    reason: String,
    #[prost(string, tag = "6")]
    detail: String,
}

/// Calls `Ingest/<method>` (a stream of `M`, answered by a stream of acks) with acks read
/// as [`AckHead`].
async fn call_streaming<M>(
    channel: tonic::transport::Channel,
    method: &'static str,
    outbound: impl futures::Stream<Item = M> + Send + 'static,
) -> Result<tonic::codec::Streaming<AckHead>, tonic::Status>
where
    M: prost::Message + Default + Send + 'static,
{
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.map_err(|e| tonic::Status::unknown(format!("service was not ready: {e}")))?;
    let path = tonic::codegen::http::uri::PathAndQuery::from_static(method);
    let codec = tonic_prost::ProstCodec::<M, AckHead>::default();
    Ok(grpc.streaming(tonic::Request::new(outbound), path, codec).await?.into_inner())
}

#[derive(Debug, Parser)]
#[command(name = "suanli-load", about = "Stream pre-signed usage records to a running suanlid and measure it")]
struct Args {
    /// The ledger to load; several nodes of one shared-store ledger as a comma-separated
    /// list (provider streams are spread over them, the workload is registered on the first).
    #[arg(long, default_value = "http://127.0.0.1:7420")]
    server: String,
    /// The admin key, to register the workload's entities (skip with --no-setup).
    #[arg(long)]
    admin_key: Option<PathBuf>,
    /// Do not register entities (they exist from an earlier run).
    #[arg(long)]
    no_setup: bool,
    #[arg(long, default_value_t = 1_000_000)]
    records: u64,
    #[arg(long, default_value_t = 8)]
    providers: u64,
    #[arg(long, default_value_t = 1000)]
    renters: u64,
    /// Every N-th renter holds a voucher (0: none).
    #[arg(long, default_value_t = 10)]
    voucher_every: u64,
    /// Target records/s over all streams (0: as fast as the ledger acknowledges).
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Distinguishes record ids between runs on one ledger.
    #[arg(long, default_value_t = 0)]
    run: u64,
    /// The server's pid, to read its peak RSS from /proc.
    #[arg(long)]
    server_pid: Option<u32>,
    /// The server's data directory, to measure its size on disk.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Write the results as JSON here.
    #[arg(long)]
    json_out: Option<PathBuf>,
    /// Sign each provider's records in batches of 64 (`SubmitUsageBatchSigned`, one
    /// signature per batch, bound to the ledger's origin) instead of one by one.
    #[arg(long)]
    batch_signed: bool,
    /// After the run, look up this many of its records one at a time (`Audit.FindRecord`:
    /// the entry and its inclusion proof, as an auditor asks for it) and report the
    /// lookup latency. With --records 0 nothing is sent; the lookups then pick among the
    /// --lookup-records records of run --run, which an earlier run sent.
    #[arg(long, default_value_t = 0)]
    proof_lookups: u64,
    /// With --records 0: how many records run --run sent.
    #[arg(long, default_value_t = 0)]
    lookup_records: u64,
}

/// What a stream sends: single envelopes (`SubmitUsage`) or signed batches.
enum Messages {
    Single(Vec<v1::Envelope>),
    Batches(Vec<v1::BatchEnvelope>),
}

impl Messages {
    fn records(&self) -> usize {
        match self {
            Messages::Single(e) => e.len(),
            Messages::Batches(b) => b.iter().map(|b| b.records.len()).sum(),
        }
    }
}

/// A provider's records signed in batches for the ledger named `origin`.
fn batches(inputs: &[Input], origin: &str, key: &ed25519_dalek::SigningKey) -> Vec<v1::BatchEnvelope> {
    inputs
        .chunks(suanli_core::batch::BATCH_RECORDS_MAX)
        .map(|chunk| {
            let records: Vec<Vec<u8>> = chunk.iter().map(|i| i.signed.payload.clone()).collect();
            let (signature, _) = suanli_core::batch::sign(key, origin, &records).expect("1 to 64 records");
            v1::BatchEnvelope {
                records,
                public_key: key.verifying_key().to_bytes().to_vec(),
                signature: signature.to_vec(),
            }
        })
        .collect()
}

fn envelope(i: &Input) -> v1::Envelope {
    v1::Envelope {
        payload: i.signed.payload.clone(),
        public_key: i.signed.public_key.to_vec(),
        signature: i.signed.signature.to_vec(),
    }
}

/// Batch-verification rate of these inputs on all cores, records/s.
fn verification_rate(inputs: &[&Input]) -> f64 {
    let keys: Vec<sig::PublicKey> = inputs
        .iter()
        .map(|i| i.signed.public_key)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .map(|k| sig::check_public_key(&k).expect("workload keys are valid"))
        .collect();
    let key_of = |pk: &[u8; 32]| keys.iter().find(|k| k.as_bytes() == pk).expect("known key");
    let started = Instant::now();
    // Batches as large as the ledger's verification threads check at full speed (a whole
    // chunk of 512 records; `suanli_server::verify::COALESCE_MAX`), so that the ratio
    // compares like with like.
    let ok: usize = inputs
        .par_chunks(512)
        .map(|chunk| {
            let items: Vec<Item<'_>> = chunk
                .iter()
                .map(|i| {
                    Item::new(key_of(&i.signed.public_key), i.kind.domain(), &i.signed.payload, &i.signed.signature)
                })
                .collect();
            sig::verify_batch(&items).iter().filter(|r| r.is_ok()).count()
        })
        .sum();
    assert_eq!(ok, inputs.len(), "every workload signature verifies");
    inputs.len() as f64 / started.elapsed().as_secs_f64()
}

fn peak_rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn dir_bytes(path: &std::path::Path) -> u64 {
    let mut total = 0;
    if let Ok(rd) = std::fs::read_dir(path) {
        for e in rd.flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => total += dir_bytes(&e.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}

async fn setup(server: &str, w: &Workload, admin: &ed25519_dalek::SigningKey) -> anyhow::Result<()> {
    let channel = tonic::transport::Endpoint::from_shared(server.to_string())?.connect().await?;
    let mut registry = v1::registry_client::RegistryClient::new(channel.clone());
    let mut vouchers = v1::vouchers_client::VouchersClient::new(channel);
    let (admin_ops, holder_ops) = w.setup(admin);
    for op in &admin_ops {
        let ack = registry.apply(envelope(op)).await?.into_inner();
        if ack.status == v1::Status::Rejected as i32 && ack.reason != "ENTITY_EXISTS" && ack.reason != "KEY_EXISTS" {
            bail!("setup refused: {} {}", ack.reason, ack.detail);
        }
    }
    for op in &holder_ops {
        let ack = vouchers.apply(envelope(op)).await?.into_inner();
        if ack.status == v1::Status::Rejected as i32 {
            bail!("setup refused: {} {}", ack.reason, ack.detail);
        }
    }
    Ok(())
}

struct StreamResult {
    latencies_us: Vec<u64>,
    accepted: u64,
    duplicate: u64,
    rejected: u64,
    first_reject: Option<String>,
}

async fn run_stream(
    server: String,
    msgs: Messages,
    rate_per_stream: u64,
    origin: Instant,
) -> anyhow::Result<StreamResult> {
    let channel = tonic::transport::Endpoint::from_shared(server)?
        .initial_stream_window_size(Some(4 << 20))
        .initial_connection_window_size(Some(8 << 20))
        .connect()
        .await
        .context("connecting to suanlid")?;
    let n = msgs.records();
    let sent: Arc<Vec<AtomicU64>> = Arc::new((0..n).map(|_| AtomicU64::new(0)).collect());
    let paced = rate_per_stream > 0;
    let interval = if paced { Duration::from_nanos(1_000_000_000 / rate_per_stream) } else { Duration::ZERO };
    let start = Instant::now();
    // Each message is stamped (all its records) when the call takes it; a paced stream
    // releases a message when its first record is due.
    let stamped = move |first: usize, count: usize, stamps: Arc<Vec<AtomicU64>>| async move {
        if paced {
            tokio::time::sleep_until((start + interval * first as u32).into()).await;
        }
        let now = origin.elapsed().as_nanos() as u64;
        for s in &stamps[first..first + count] {
            s.store(now, Ordering::Relaxed);
        }
    };
    let stamps = sent.clone();
    let mut acks = match msgs {
        Messages::Single(envs) => {
            let outbound = futures::stream::iter(envs.into_iter().enumerate()).then(move |(i, env)| {
                let f = stamped(i, 1, stamps.clone());
                async move {
                    f.await;
                    env
                }
            });
            call_streaming(channel, "/suanli.v1.Ingest/SubmitUsage", outbound).await?
        }
        Messages::Batches(batches) => {
            let mut first = 0;
            let starts: Vec<usize> = batches
                .iter()
                .map(|b| {
                    first += b.records.len();
                    first - b.records.len()
                })
                .collect();
            let outbound = futures::stream::iter(batches.into_iter().zip(starts)).then(move |(b, first)| {
                let f = stamped(first, b.records.len(), stamps.clone());
                async move {
                    f.await;
                    b
                }
            });
            call_streaming(channel, "/suanli.v1.Ingest/SubmitUsageBatchSigned", outbound).await?
        }
    };
    let mut r = StreamResult {
        latencies_us: Vec::with_capacity(n),
        accepted: 0,
        duplicate: 0,
        rejected: 0,
        first_reject: None,
    };
    while let Some(ack) = acks.next().await {
        let ack = ack?;
        let now = origin.elapsed().as_nanos() as u64;
        let sent_at = sent[ack.index as usize].load(Ordering::Relaxed);
        r.latencies_us.push(now.saturating_sub(sent_at) / 1000);
        match v1::Status::try_from(ack.status) {
            Ok(v1::Status::Accepted) => r.accepted += 1,
            Ok(v1::Status::Duplicate) => r.duplicate += 1,
            _ => {
                r.rejected += 1;
                if r.first_reject.is_none() {
                    r.first_reject = Some(format!("{} {}", ack.reason, ack.detail));
                }
            }
        }
    }
    if r.latencies_us.len() != n {
        bail!("the stream ended after {} of {n} acks", r.latencies_us.len());
    }
    Ok(r)
}

/// Looks up `count` of the `sent` records of this run, spread evenly over them, one at a
/// time, prints the latency percentiles and returns them (µs) for the JSON results. Each
/// answer must carry the record's entry (an empty answer fails the run).
async fn proof_lookups(server: &str, w: &Workload, sent: u64, count: u64) -> anyhow::Result<serde_json::Value> {
    if sent == 0 {
        bail!("no records to look up (--lookup-records)");
    }
    let channel = tonic::transport::Endpoint::from_shared(server.to_string())?.connect().await?;
    let mut audit = v1::audit_client::AuditClient::new(channel);
    let mut lat = Vec::with_capacity(count as usize);
    for j in 0..count {
        // A stride coprime with nothing in particular: spread over the whole run.
        let i = (j * 7_919 * 1_009 + j) % sent;
        let (_, rec) = w.record(i);
        let t = Instant::now();
        let found = audit
            .find_record(v1::FindRecordRequest {
                provider_id: rec.provider_id.clone(),
                record_id: rec.record_id.clone(),
                kind: v1::RecordKind::Usage as i32,
                tree_size: 0,
            })
            .await
            .with_context(|| format!("looking up record {}", rec.record_id))?
            .into_inner();
        lat.push(t.elapsed().as_micros() as u64);
        if found.entry.is_empty() {
            bail!("record {} came back without its entry", rec.record_id);
        }
    }
    lat.sort_unstable();
    let (p50, p99, max) = (percentile(&lat, 500), percentile(&lat, 990), lat.last().copied().unwrap_or(0));
    println!(
        "proof lookups          {} (FindRecord), p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        lat.len(),
        p50 as f64 / 1e3,
        p99 as f64 / 1e3,
        max as f64 / 1e3
    );
    Ok(serde_json::json!({"count": lat.len(), "p50": p50, "p99": p99}))
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let end_base = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() as i64 - 3600;
    let w = Workload {
        records: args.records,
        providers: args.providers,
        renters: args.renters,
        voucher_every: args.voucher_every,
        end_base,
        run: args.run,
    };
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let servers: Vec<String> = args.server.split(',').map(|s| s.trim().to_string()).collect();
    if !args.no_setup {
        let path = args.admin_key.as_ref().context("--admin-key is needed to register the workload (or --no-setup)")?;
        let admin = keyfile::parse_secret(&std::fs::read_to_string(path)?)?;
        rt.block_on(setup(&servers[0], &w, &admin))?;
    }

    if args.records == 0 {
        // Only the lookups, of records an earlier run sent.
        let w = Workload { records: args.lookup_records, ..w };
        let lookups = rt.block_on(proof_lookups(&servers[0], &w, args.lookup_records, args.proof_lookups))?;
        if let Some(path) = &args.json_out {
            let json = serde_json::json!({ "proof_lookup_us": lookups });
            std::fs::write(path, serde_json::to_string_pretty(&json)?)?;
        }
        return Ok(());
    }
    eprintln!("signing {} records from {} providers for {} renters…", w.records, w.providers, w.renters);
    let t = Instant::now();
    let by_provider = w.signed_by_provider();
    eprintln!("signed in {:.1} s", t.elapsed().as_secs_f64());
    let all: Vec<&Input> = by_provider.iter().flatten().collect();
    let verify_rate = verification_rate(&all);
    eprintln!("pure batch verification on all cores: {verify_rate:.0} records/s");

    let streams: Vec<Messages> = if args.batch_signed {
        let ledger_origin = rt.block_on(async {
            let channel = tonic::transport::Endpoint::from_shared(servers[0].clone())?.connect().await?;
            let info = v1::ledger_client::LedgerClient::new(channel).get_info(v1::InfoRequest {}).await?;
            anyhow::Ok(info.into_inner().origin)
        })?;
        let t = Instant::now();
        let s: Vec<Messages> = by_provider
            .iter()
            .enumerate()
            .map(|(p, v)| Messages::Batches(batches(v, &ledger_origin, &suanli_bench::provider_key(p as u64))))
            .collect();
        eprintln!("signed again in batches of 64 in {:.1} s", t.elapsed().as_secs_f64());
        s
    } else {
        by_provider.iter().map(|v| Messages::Single(v.iter().map(envelope).collect())).collect()
    };
    drop(all);
    drop(by_provider);
    let rate_per_stream = args.rate / args.providers.max(1);
    let origin = Instant::now();
    let results = rt.block_on(async {
        let tasks: Vec<_> = streams
            .into_iter()
            .enumerate()
            .map(|(i, envs)| {
                tokio::spawn(run_stream(servers[i % servers.len()].clone(), envs, rate_per_stream, origin))
            })
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await??);
        }
        anyhow::Ok(out)
    })?;
    let elapsed = origin.elapsed().as_secs_f64();
    let mut lat: Vec<u64> = results.iter().flat_map(|r| r.latencies_us.iter().copied()).collect();
    lat.sort_unstable();
    let acked = lat.len() as f64;
    let rate = acked / elapsed;
    let accepted: u64 = results.iter().map(|r| r.accepted).sum();
    let duplicate: u64 = results.iter().map(|r| r.duplicate).sum();
    let rejected: u64 = results.iter().map(|r| r.rejected).sum();
    if let Some(reason) = results.iter().find_map(|r| r.first_reject.clone()) {
        eprintln!("note: {rejected} records were rejected, first: {reason}");
    }
    let lookups = if args.proof_lookups > 0 {
        Some(rt.block_on(proof_lookups(&servers[0], &w, args.records, args.proof_lookups))?)
    } else {
        None
    };
    let rss = args.server_pid.and_then(peak_rss_bytes);
    let disk = args.data_dir.as_deref().map(dir_bytes);
    let (p50, p99, p999) = (percentile(&lat, 500), percentile(&lat, 990), percentile(&lat, 999));
    println!("records acknowledged   {acked:.0} ({accepted} accepted, {duplicate} duplicate, {rejected} rejected)");
    println!("wall time              {elapsed:.2} s");
    println!("throughput             {rate:.0} records/s");
    println!(
        "ack latency            p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms",
        p50 as f64 / 1e3,
        p99 as f64 / 1e3,
        p999 as f64 / 1e3
    );
    println!("batch verification     {verify_rate:.0} records/s on all cores (same records)");
    println!("ratio                  {:.2}", rate / verify_rate);
    if let Some(b) = rss {
        println!("server peak RSS        {:.1} MiB", b as f64 / (1 << 20) as f64);
    }
    if let Some(d) = disk {
        println!("disk                   {:.1} MiB, {:.0} bytes/record", d as f64 / (1 << 20) as f64, d as f64 / acked);
    }
    if let Some(path) = &args.json_out {
        let json = serde_json::json!({
            "records": acked, "accepted": accepted, "duplicate": duplicate, "rejected": rejected,
            "seconds": elapsed, "records_per_s": rate,
            "latency_us": {"p50": p50, "p99": p99, "p999": p999},
            "verify_records_per_s": verify_rate, "ratio": rate / verify_rate,
            "target_rate": args.rate, "providers": args.providers, "renters": args.renters,
            "server_peak_rss_bytes": rss, "disk_bytes": disk, "batch_signed": args.batch_signed,
            "proof_lookup_us": lookups,
        });
        std::fs::write(path, serde_json::to_string_pretty(&json)?)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    /// An `Ack` with its money lines reads as the same index, status, reason and detail.
    #[test]
    fn an_ack_reads_as_its_head() {
        let ack = v1::Ack {
            index: 1_234_567,
            status: v1::Status::Duplicate as i32,
            seq: 99,
            lines: Some(v1::MoneyLines {
                voucher_drawn: "12.50".into(),
                renter_subsidy: "3.75".into(),
                renter_reason: "CAPPED".into(),
                cap_year: 2026,
                ..Default::default()
            }),
            reason: "SOME_REASON".into(),
            detail: "already accepted as entry 99; nothing changed".into(),
        };
        let head = AckHead::decode(ack.encode_to_vec().as_slice()).expect("an Ack decodes as its head");
        assert_eq!(
            head,
            AckHead { index: ack.index, status: ack.status, reason: ack.reason.clone(), detail: ack.detail.clone() }
        );
    }
}
