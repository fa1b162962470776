//! Several `suanlid` nodes on one PostgreSQL database (a throwaway cluster started by the
//! harness): records sent to any node are deduplicated and capped exactly as on one node,
//! the log they build together replays to the same root, and losing one node mid-stream
//! loses nothing it acknowledged.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rust_decimal::Decimal;
use suanli_core::ledger::InputKind;
use suanli_core::testkit::{self as tk, public, uscc};
use suanli_tests::{Grpc, Server, code, envelope, now, pg_database, runtime, v1};

const PROVIDERS: [u64; 2] = [1, 2];
const RENTER: u64 = 3;

/// A second node on the same database: the first node's keys, its own data directory.
fn second_node(first: &Server, dir: &Path, url: &str) -> Server {
    std::fs::create_dir_all(dir).unwrap();
    for f in ["admin.key", "finance.key", "ledger.key"] {
        std::fs::copy(first.data_dir.join(f), dir.join(f)).unwrap();
    }
    Server::start_in(dir, &["--store", url])
}

async fn setup(g: &mut Grpc, admin_key: &Path) {
    let admin = Server::read_key(admin_key);
    let ops = vec![
        tk::register(&uscc(1), "P1", tk::flags(true, false, true, false, false), None),
        tk::register(&uscc(2), "P2", tk::flags(true, false, true, false, false), None),
        tk::register(&uscc(RENTER), "R", tk::flags(false, true, false, false, false), None),
        tk::add_key(&uscc(1), &public(&tk::key(11))),
        tk::add_key(&uscc(2), &public(&tk::key(12))),
    ];
    g.admin_accepted(&admin, ops).await;
}

/// Record `i` of provider `p`: 100,000.00 yuan, so 30,000.00 of renter subsidy before the
/// 2,000,000.00 cap.
fn record(p: u64, i: u64, end: i64) -> v1::Envelope {
    let r = tk::usage_record(&format!("p{p}-{i}"), &uscc(p), &uscc(RENTER), "8000", "12.50", "100000.00", end, None);
    envelope(&tk::sign(InputKind::Usage, &tk::key(10 + p), &r))
}

/// Sends records `from..to` of provider `p` in batches of `chunk`, returning
/// `(record index, ack)` for every ack received before an error (if any).
async fn send(url: String, p: u64, from: u64, to: u64, chunk: u64, end: i64) -> Vec<(u64, v1::Ack)> {
    send_in_order(url, p, (from..to).collect(), chunk, end, None).await
}

/// Sends the given records of provider `p` in this order, in batches of `chunk`.
async fn send_in_order(
    url: String,
    p: u64,
    order: Vec<u64>,
    chunk: u64,
    end: i64,
    progress: Option<Arc<AtomicUsize>>,
) -> Vec<(u64, v1::Ack)> {
    let mut g = match tonic::transport::Endpoint::from_shared(url).unwrap().connect().await {
        Ok(c) => v1::ingest_client::IngestClient::new(c),
        Err(_) => return Vec::new(),
    };
    let mut out = Vec::new();
    for ids in order.chunks(chunk as usize) {
        let envelopes = ids.iter().map(|k| record(p, *k, end)).collect();
        match g.submit_usage_batch(v1::EnvelopeBatch { envelopes }).await {
            Ok(acks) => {
                out.extend(ids.iter().copied().zip(acks.into_inner().acks));
                if let Some(p) = &progress {
                    p.store(out.len(), Ordering::Release);
                }
            }
            Err(_) => break,
        }
    }
    out
}

fn money(s: &str) -> Decimal {
    s.parse().unwrap()
}

/// Waits until both nodes report the same fresh checkpoint; returns its size and note.
async fn converge(a: &str, b: &str) -> (u64, String) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (sa, na) = Grpc::connect(a).await.log_state().await;
        let (sb, nb) = Grpc::connect(b).await.log_state().await;
        let root = |n: &str| n.lines().nth(2).unwrap_or_default().to_string();
        if sa == sb && root(&na) == root(&nb) {
            return (sa, na);
        }
        assert!(Instant::now() < deadline, "nodes did not converge: {sa} vs {sb}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[test]
fn two_nodes_share_one_log_with_exact_dedupe_and_caps() {
    let url = pg_database();
    let a = Server::start_with(&["--store", &url]);
    let tmp = tempfile::tempdir().unwrap();
    let b = second_node(&a, &tmp.path().join("b"), &url);
    let rt = runtime();
    let end = now() - 7200;
    const N: u64 = 60;
    let acks = rt.block_on(async {
        setup(&mut Grpc::connect(&a.url()).await, &a.admin_key()).await;
        // Every record of both providers goes to both nodes at once, in different chunkings.
        let mut tasks = Vec::new();
        for p in PROVIDERS {
            tasks.push(tokio::spawn(send(a.url(), p, 0, N, 7, end)));
            // B from the other end, so that each node is first for some records.
            tasks.push(tokio::spawn(send_in_order(b.url(), p, (0..N).rev().collect(), 5, end, None)));
        }
        let mut all = Vec::new();
        for (t, (p, node)) in tasks.into_iter().zip([(1, 'a'), (1, 'b'), (2, 'a'), (2, 'b')]) {
            let acks = t.await.unwrap();
            assert_eq!(acks.len() as u64, N, "every record answered");
            all.extend(acks.into_iter().map(|(i, a)| ((p, i, node), a)));
        }
        all
    });
    // Each record: accepted exactly once, and the other node's answer is DUPLICATE of it.
    let mut accepted = std::collections::HashMap::new();
    let mut renter_total = Decimal::ZERO;
    let mut seqs = std::collections::HashSet::new();
    for ((p, i, _), ack) in &acks {
        let key = (*p, *i);
        if code(ack) == "ACCEPTED" {
            assert!(accepted.insert(key, ack.clone()).is_none(), "record {key:?} accepted twice");
            assert!(seqs.insert(ack.seq), "seq {} used twice", ack.seq);
            renter_total += money(&ack.lines.as_ref().unwrap().renter_subsidy);
        } else {
            assert_eq!(code(ack), "DUPLICATE", "{ack:?}");
        }
    }
    assert_eq!(accepted.len() as u64, 2 * N);
    for ((p, i, _), ack) in &acks {
        let key = (*p, *i);
        let first = &accepted[&key];
        assert_eq!((ack.seq, &ack.lines), (first.seq, &first.lines), "record {key:?}");
    }
    // 120 records × 30,000.00 = 3,600,000.00 asked, capped at exactly 2,000,000.00.
    assert_eq!(renter_total, money("2000000.00"));
    // Both nodes did part of the writing.
    for node in ['a', 'b'] {
        let n = acks.iter().filter(|((_, _, by), a)| *by == node && code(a) == "ACCEPTED").count();
        assert!(n > 0, "node {node} accepted none of the records");
    }
    let mut db = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let row = db
        .query_one(
            "SELECT count(*), sum(renter_subsidy)::text FROM ledger_records WHERE renter_id = $1 AND reversed_by IS NULL",
            &[&uscc(RENTER).to_string()],
        )
        .unwrap();
    assert_eq!((row.get::<_, i64>(0), row.get::<_, String>(1)), (2 * N as i64, "2000000.00".to_string()));

    rt.block_on(async {
        let (size, _) = converge(&a.url(), &b.url()).await;
        assert!(size >= 2 * N + 6);
    });
    // Both nodes answer the same balances.
    let show = |s: &Server| {
        s.cli_ok(&["entity", "show", "--key", a.admin_key().to_str().unwrap(), "--id", &uscc(RENTER).to_string()])
    };
    let (sa, sb) = (show(&a), show(&b));
    assert!(sa.contains("renter_subsidy=2000000.00"), "{sa}");
    assert_eq!(sa, sb);

    // The shared log replays, offline, to the signed root and to the same money lines.
    let ledger_pub = a.cli_ok(&["pubkey", a.data_dir.join("ledger.key").to_str().unwrap()]).trim().to_string();
    let cp = tmp.path().join("cp.txt");
    let export = tmp.path().join("log.export");
    std::fs::write(&cp, b.cli_ok(&["log", "checkpoint", "--ledger-pubkey", &ledger_pub])).unwrap();
    a.cli_ok(&["log", "export", "--out", export.to_str().unwrap()]);
    let verified = a.cli_ok(&[
        "log",
        "verify",
        "--export",
        export.to_str().unwrap(),
        "--checkpoint",
        cp.to_str().unwrap(),
        "--ledger-pubkey",
        &ledger_pub,
    ]);
    assert!(verified.contains("OK") || verified.contains("ok") || verified.contains("verified"), "{verified}");
}

#[test]
fn losing_a_node_mid_stream_loses_nothing_it_acknowledged() {
    let url = pg_database();
    let a = Server::start_with(&["--store", &url]);
    let tmp = tempfile::tempdir().unwrap();
    let mut b = second_node(&a, &tmp.path().join("b"), &url);
    let rt = runtime();
    let end = now() - 7200;
    const N: u64 = 400;
    let (from_a, from_b) = rt.block_on(async {
        setup(&mut Grpc::connect(&a.url()).await, &a.admin_key()).await;
        let ta = tokio::spawn(send(a.url(), 1, 0, N, 4, end));
        let b_acked = Arc::new(AtomicUsize::new(0));
        let tb = tokio::spawn(send_in_order(b.url(), 2, (0..N).collect(), 2, end, Some(b_acked.clone())));
        // Crash B once it has acknowledged some records, while its stream is still going.
        let deadline = Instant::now() + Duration::from_secs(60);
        while b_acked.load(Ordering::Acquire) < 40 {
            assert!(Instant::now() < deadline, "B acknowledged nothing");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        b.kill();
        (ta.await.unwrap(), tb.await.unwrap())
    });
    assert_eq!(from_a.len() as u64, N, "the surviving node answered every record");
    assert!(from_a.iter().all(|(_, a)| code(a) == "ACCEPTED"));
    assert!((from_b.len() as u64) < N, "B was killed mid-stream (it answered {} of {N})", from_b.len());
    rt.block_on(async {
        // Every record B acknowledged is in the shared log: A answers DUPLICATE with B's seq.
        let again = send(a.url(), 2, 0, N, 50, end).await;
        assert_eq!(again.len() as u64, N);
        let acked: std::collections::HashMap<u64, &v1::Ack> = from_b.iter().map(|(i, a)| (*i, a)).collect();
        for (i, ack) in &again {
            if let Some(first) = acked.get(i) {
                assert_eq!(code(first), "ACCEPTED");
                assert_eq!(code(ack), "DUPLICATE", "record {i} acknowledged by B");
                assert_eq!((ack.seq, &ack.lines), (first.seq, &first.lines));
            }
        }
    });
    // B comes back on the same database and agrees with A.
    let b = Server::start_in(&b.data_dir.clone(), &["--store", &url]);
    rt.block_on(async {
        converge(&a.url(), &b.url()).await;
    });
}
