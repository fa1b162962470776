//! Criterion benchmarks of each stage of the hot path, on realistic records (the load
//! generator's workload): decode, signature checks (one at a time and in batches of
//! several sizes), policy decision, the dashboard's count, Merkle append, and store
//! commits at several batch sizes. Run with `cargo bench -p suanli-bench --bench stages`.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use prost::Message;
use suanli_bench::Workload;
use suanli_core::entry::{Entry, Genesis};
use suanli_core::index::{Index, MemIndex};
use suanli_core::ledger::{Decision, Input, Ledger};
use suanli_core::merkle::{Frontier, leaf_hash};
use suanli_core::program::Program;
use suanli_core::sig::{self, Item};
use suanli_core::testkit as tk;
use suanli_core::wire;
use suanli_store::ledger_index::LedgerIndex;
use suanli_store::sled_store::SledStore;
use suanli_store::{CommitBatch, Store};

const NOW_S: i64 = 1_795_000_000; // 2026-11-17, inside the suzhou-2026 window

fn workload(records: u64) -> Workload {
    Workload { records, providers: 8, renters: 1000, voucher_every: 10, end_base: NOW_S - 3600, run: 0 }
}

fn inputs(n: u64) -> Vec<Input> {
    workload(n).signed_by_provider().into_iter().flatten().collect()
}

/// The workload's ledger after its genesis and setup (entities, vouchers, authorizations),
/// decided through `idx`, with those entries, genesis first.
fn set_up(w: &Workload, idx: &mut dyn Index) -> (Ledger, Vec<Entry>) {
    let admin = tk::key(1);
    let genesis = Genesis {
        program_toml: Program::suzhou_2026().to_toml(),
        admin_key: tk::public(&admin),
        finance_key: tk::public(&tk::key(2)),
        ledger_key: tk::public(&tk::key(3)),
        origin: "bench".into(),
    };
    let (mut l, first) = Ledger::create(genesis, NOW_S * 1000).expect("genesis");
    let mut entries = vec![first];
    let (a, h) = w.setup(&admin);
    for i in a.iter().chain(&h) {
        match l.decide(idx, NOW_S * 1000, i, true) {
            Decision::Accepted(e) => entries.push(e),
            other => panic!("setup: {other:?}"),
        }
    }
    (l, entries)
}

/// A ledger with the workload's entities, vouchers and authorizations in place.
fn ledger(w: &Workload) -> (Ledger, MemIndex) {
    let mut idx = MemIndex::default();
    let (l, _) = set_up(w, &mut idx);
    (l, idx)
}

fn decode(c: &mut Criterion) {
    let ins = inputs(1024);
    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Elements(ins.len() as u64));
    g.bench_function("usage record (prost + field rules)", |b| {
        b.iter(|| {
            for i in &ins {
                let r = wire::UsageRecord::decode(i.signed.payload.as_slice()).expect("decodes");
                black_box(suanli_core::validate::usage(&r).expect("valid"));
            }
        })
    });
    g.finish();
}

fn signatures(c: &mut Criterion) {
    let ins = inputs(4096);
    let keys: Vec<sig::PublicKey> =
        (0..8).map(|p| sig::check_public_key(&tk::public(&suanli_bench::provider_key(p))).expect("key")).collect();
    let key_of = |pk: &[u8; 32]| keys.iter().find(|k| k.as_bytes() == pk).expect("known");
    let items: Vec<Item<'_>> = ins
        .iter()
        .map(|i| Item::new(key_of(&i.signed.public_key), i.kind.domain(), &i.signed.payload, &i.signed.signature))
        .collect();
    let mut g = c.benchmark_group("signatures");
    g.throughput(Throughput::Elements(256));
    g.bench_function("one at a time", |b| {
        b.iter(|| {
            for it in &items[..256] {
                it.verify().expect("valid");
            }
        })
    });
    // Batch-signed records (`suanli/v1/usage-batch`): per batch of 64, the Merkle tree of
    // the records, each record's audit path, and one signature check, as the ledger does.
    let key = suanli_bench::provider_key(0);
    let payloads: Vec<Vec<u8>> = ins.iter().map(|i| i.signed.payload.clone()).collect();
    let signed: Vec<[u8; 64]> = payloads
        .chunks(suanli_core::batch::BATCH_RECORDS_MAX)
        .map(|c| suanli_core::batch::sign(&key, "bench", c).expect("batch").0)
        .collect();
    let batch_key = sig::check_public_key(&tk::public(&key)).expect("key");
    g.throughput(Throughput::Elements(4096));
    g.bench_function("batch-signed, 64 records a signature (tree + one check)", |b| {
        b.iter(|| {
            for (c, s) in payloads.chunks(suanli_core::batch::BATCH_RECORDS_MAX).zip(&signed) {
                let (_, proofs) = suanli_core::batch::tree(c).expect("batch");
                let head = suanli_core::batch::signed_head("bench", &c[0], &proofs[0]).expect("head");
                Item::new(&batch_key, sig::Domain::UsageBatch, &head, s).verify().expect("valid");
            }
        })
    });
    for size in [16usize, 64, 256, 1024] {
        g.throughput(Throughput::Elements(4096));
        g.bench_function(format!("batches of {size}"), |b| {
            b.iter(|| {
                for chunk in items.chunks(size) {
                    black_box(sig::verify_batch(chunk));
                }
            })
        });
    }
    g.finish();
}

fn policy(c: &mut Criterion) {
    let w = workload(20_000);
    let ins: Vec<Input> = w.signed_by_provider().into_iter().flatten().collect();
    let mut g = c.benchmark_group("policy");
    g.throughput(Throughput::Elements(ins.len() as u64));
    g.sample_size(10);
    g.bench_function("decide (memory index)", |b| {
        b.iter_batched(
            || ledger(&w),
            |(mut l, mut idx)| {
                for i in &ins {
                    black_box(l.decide(&mut idx, NOW_S * 1000, i, true));
                }
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

/// The dashboard's work per entry, which runs on its own thread in the server
/// (`suanli-dash-count`): the fact of an entry (its record decoded and checked again) and
/// its count in the totals and the per-company statement index.
fn dashboard(c: &mut Criterion) {
    use suanli_core::dashboard::{Aggregates, Fact};
    use suanli_core::entity_index::{EntityIndex, Spill};
    let w = workload(20_000);
    let mut idx = MemIndex::default();
    let (mut l, mut entries) = set_up(&w, &mut idx);
    let offset = l.program().utc_offset_seconds;
    let counted_before = entries.len();
    for i in &inputs(20_000) {
        if let Decision::Accepted(e) = l.decide(&mut idx, NOW_S * 1000, i, true) {
            entries.push(e);
        }
    }
    let (before, timed) = entries.split_at(counted_before);
    let mut g = c.benchmark_group("dashboard");
    g.throughput(Throughput::Elements(timed.len() as u64));
    g.sample_size(10);
    g.bench_function("fact of a usage entry + count (totals, company index)", |b| {
        b.iter_batched(
            || {
                // The sealed blocks in a scratch file, as the server keeps them.
                let spill = Spill::in_file(tempfile::tempfile().expect("scratch file"));
                let (mut aggs, mut ix) = (Aggregates::new(offset), EntityIndex::with_spill(spill));
                for e in before {
                    let f = Fact::of(e, offset).expect("fact");
                    aggs.apply_fact(&f).expect("counts");
                    ix.apply(&f).expect("indexed");
                }
                (aggs, ix)
            },
            |(mut aggs, mut ix)| {
                for e in timed {
                    let f = Fact::of(e, offset).expect("fact");
                    aggs.apply_fact(&f).expect("counts");
                    ix.apply(&f).expect("indexed");
                }
                (aggs, ix)
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

fn merkle(c: &mut Criterion) {
    let leaves: Vec<[u8; 32]> = (0..4096u32).map(|i| leaf_hash(&i.to_be_bytes())).collect();
    let mut g = c.benchmark_group("merkle");
    g.throughput(Throughput::Elements(leaves.len() as u64));
    g.bench_function("append", |b| {
        b.iter(|| {
            let mut f = Frontier::new();
            for l in &leaves {
                f.append(*l, |_, h| {
                    black_box(h);
                });
            }
            black_box(f.root())
        })
    });
    g.throughput(Throughput::Elements(1));
    g.bench_function("leaf hash of a 400-byte entry", |b| {
        let entry = vec![7u8; 400];
        b.iter(|| black_box(leaf_hash(&entry)))
    });
    g.finish();
}

/// A sled store holding the genesis entry and the workload's setup, and its ledger.
fn ledger_on_sled(w: &Workload) -> (tempfile::TempDir, SledStore, Ledger, Frontier) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SledStore::open(dir.path()).expect("open");
    let mut batch = CommitBatch::default();
    let mut frontier = Frontier::new();
    let l = {
        let mut idx = LedgerIndex::new(&store);
        let (l, entries) = set_up(w, &mut idx);
        for e in entries {
            let bytes = e.encode();
            frontier.append(leaf_hash(&bytes), |_, _| {});
            batch.entries.push((e.seq, bytes));
        }
        let (records, requests) = idx.take_writes();
        batch.records = records;
        batch.requests = requests;
        l
    };
    batch.frontier = frontier.encode();
    store.commit(&batch).expect("setup commit");
    (dir, store, l, frontier)
}

/// One sled commit of `n` sequenced records: entries, index writes, Merkle nodes, flush.
fn store(c: &mut Criterion) {
    let w = workload(8192);
    let ins: Vec<Input> = w.signed_by_provider().into_iter().flatten().collect();
    // The server's `sequencer::NODE_LEVEL_MIN` (this crate does not link the server);
    // BENCH_NODE_LEVEL_MIN=4 measures the 16-leaf choice it replaced.
    let node_level_min: u8 = std::env::var("BENCH_NODE_LEVEL_MIN").ok().and_then(|v| v.parse().ok()).unwrap_or(8);
    let mut g = c.benchmark_group("store commit");
    g.sample_size(10);
    for n in [512usize, 2048, 8192] {
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(format!("sled, {n} records"), |b| {
            b.iter_batched(
                || {
                    // Decide outside the timing; only the commit is measured.
                    let (dir, store, mut l, mut frontier) = ledger_on_sled(&w);
                    let mut batch = CommitBatch::default();
                    {
                        let mut idx = LedgerIndex::new(&store);
                        for i in &ins[..n] {
                            if let Decision::Accepted(e) = l.decide(&mut idx, NOW_S * 1000, i, true) {
                                let bytes = e.encode();
                                let leaf = leaf_hash(&bytes);
                                frontier.append(leaf, |id, h| {
                                    if id.level >= node_level_min {
                                        batch.nodes.push(((id.level, id.index), h));
                                    }
                                });
                                batch.entries.push((e.seq, bytes));
                                // As the sequencer does: the commit keeps its leaf hashes
                                // (BENCH_NO_LEAF_HASHES=1 measures what keeping them costs).
                                if std::env::var_os("BENCH_NO_LEAF_HASHES").is_none() {
                                    batch.leaf_hashes.push(leaf);
                                }
                            }
                        }
                        let (records, requests) = idx.take_writes();
                        batch.records = records;
                        batch.requests = requests;
                    }
                    batch.frontier = frontier.encode();
                    (dir, store, batch)
                },
                // The store and its directory are returned so they are dropped untimed.
                |(dir, store, batch)| {
                    store.commit(&batch).expect("commit");
                    (dir, store)
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

criterion_group!(stages, decode, signatures, policy, dashboard, merkle, store);
criterion_main!(stages);
