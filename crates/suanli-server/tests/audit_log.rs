//! The verifiable log through the real ingest path: thousands of records go through the
//! gRPC services, the verifier pool, the sequencer and group commit of an in-process
//! server (on the in-memory store and on sled), checkpoints are signed along the way, and
//! every proof the `Audit` service gives is checked against those signed checkpoints and
//! against a tree rebuilt from the exported entries.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use suanli_core::checkpoint::{Checkpoint, open_checkpoint};
use suanli_core::entry::{Body, Entry};
use suanli_core::ledger::{Input, InputKind};
use suanli_core::merkle::{MemNodes, leaf_hash, root_at, verify_consistency, verify_inclusion};
use suanli_core::note::Verifier;
use suanli_core::testkit::{self as tk, public, uscc};
use suanli_proto::v1;
use suanli_server::config::Config;
use suanli_server::recovery::{StartOptions, open_or_init};
use suanli_server::sequencer::system_clock;
use suanli_store::Store;
use suanli_store::mem::MemStore;
use suanli_store::sled_store::SledStore;
use tokio_stream::StreamExt;
use tonic::Code;
use tonic::transport::Channel;

fn envelope(input: &Input) -> v1::Envelope {
    v1::Envelope {
        payload: input.signed.payload.clone(),
        public_key: input.signed.public_key.to_vec(),
        signature: input.signed.signature.to_vec(),
    }
}

struct Running {
    url: String,
    stop: tokio::sync::oneshot::Sender<()>,
    done: tokio::task::JoinHandle<anyhow::Result<()>>,
    dir: tempfile::TempDir,
}

async fn start(store: Arc<dyn Store>, dir: tempfile::TempDir) -> Running {
    let config = Config { data_dir: dir.path().join("data"), checkpoint_interval_ms: 25, ..Config::default() };
    let opts = StartOptions {
        data_dir: &config.data_dir,
        program: None,
        admin_pubkey: None,
        finance_pubkey: None,
        clock: system_clock(),
    };
    let opened = open_or_init(&*store, &opts).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let done = tokio::spawn(async move {
        suanli_server::serve(&config, opened, store, listener, system_clock(), async {
            let _ = stopped.await;
        })
        .await
    });
    Running { url, stop, done, dir }
}

struct Clients {
    registry: v1::registry_client::RegistryClient<Channel>,
    ingest: v1::ingest_client::IngestClient<Channel>,
    ledger: v1::ledger_client::LedgerClient<Channel>,
    audit: v1::audit_client::AuditClient<Channel>,
}

async fn connect(url: &str) -> Clients {
    let channel = Channel::from_shared(url.to_string()).unwrap().connect().await.unwrap();
    Clients {
        registry: v1::registry_client::RegistryClient::new(channel.clone()),
        ingest: v1::ingest_client::IngestClient::new(channel.clone()).max_encoding_message_size(64 << 20),
        ledger: v1::ledger_client::LedgerClient::new(channel.clone()),
        audit: v1::audit_client::AuditClient::new(channel),
    }
}

/// The code of a refused call.
fn err<T>(r: Result<tonic::Response<T>, tonic::Status>) -> Code {
    match r {
        Ok(_) => panic!("expected a refusal"),
        Err(status) => status.code(),
    }
}

fn hash(bytes: &[u8]) -> [u8; 32] {
    bytes.try_into().expect("a 32-byte hash")
}

fn hashes(v: &[Vec<u8>]) -> Vec<[u8; 32]> {
    v.iter().map(|h| hash(h)).collect()
}

/// Registers a provider and a renter, then submits usage records in batches of awkward
/// sizes (around powers of two), asking for a fresh checkpoint after each: returns every
/// checkpoint seen, verified and parsed, with its note.
async fn fill(c: &mut Clients, admin: &ed25519_dalek::SigningKey, verifier: &Verifier) -> Vec<(Checkpoint, String)> {
    let ops = [
        tk::register(&uscc(1), "P", tk::flags(true, false, true, false, false), None),
        tk::register(&uscc(3), "R", tk::flags(false, true, false, false, false), None),
        tk::add_key(&uscc(1), &public(&tk::key(11))),
    ];
    for (i, op) in ops.into_iter().enumerate() {
        let ack = c.registry.apply(envelope(&tk::admin(admin, &format!("s{i}"), op))).await.unwrap().into_inner();
        assert_eq!(ack.status, v1::Status::Accepted as i32, "{ack:?}");
    }
    let end = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64 - 7200;
    let mut checkpoints = Vec::new();
    let mut next = 0u64;
    for n in [1u64, 1, 2, 3, 5, 8, 11, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 127, 128, 129, 250, 500, 1000, 2400] {
        let envs = (next..next + n)
            .map(|i| {
                let r = tk::usage_record(&format!("u{i}"), &uscc(1), &uscc(3), "8", "12.50", "100.00", end, None);
                envelope(&tk::sign(InputKind::Usage, &tk::key(11), &r))
            })
            .collect();
        next += n;
        let acks = c.ingest.submit_usage_batch(v1::EnvelopeBatch { envelopes: envs }).await.unwrap().into_inner();
        assert!(acks.acks.iter().all(|a| a.status == v1::Status::Accepted as i32));
        let cp = c.ledger.get_checkpoint(v1::CheckpointRequest { fresh: true }).await.unwrap().into_inner();
        let parsed = open_checkpoint(&cp.note, verifier).unwrap();
        assert_eq!(parsed.size, cp.size);
        checkpoints.push((parsed, cp.note));
    }
    checkpoints
}

async fn export_all(c: &mut Clients, to: u64) -> Vec<Vec<u8>> {
    let mut stream = c.audit.export_entries(v1::ExportRequest { from: 0, to }).await.unwrap().into_inner();
    let mut entries = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        assert_eq!(chunk.first, entries.len() as u64, "chunks arrive in order without gaps");
        assert_eq!(chunk.to, to);
        entries.extend(chunk.entries);
    }
    entries
}

async fn check_the_log(store: Arc<dyn Store>, dir: tempfile::TempDir) {
    let running = start(store, dir).await;
    let mut c = connect(&running.url).await;
    let info = c.ledger.get_info(v1::InfoRequest {}).await.unwrap().into_inner();
    let verifier = Verifier::from_public_key(&info.origin, hash(&info.ledger_public_key)).unwrap();
    let admin = suanli_core::keyfile::parse_secret(
        &std::fs::read_to_string(running.dir.path().join("data/admin.key")).unwrap(),
    )
    .unwrap();
    let checkpoints = fill(&mut c, &admin, &verifier).await;
    let last = checkpoints.last().unwrap().0.clone();
    assert!(last.size > 5000, "{}", last.size);

    // The export rebuilds the tree; its root matches every signed checkpoint.
    let entries = export_all(&mut c, last.size).await;
    assert_eq!(entries.len() as u64, last.size);
    let mut tree = MemNodes::new();
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(Entry::decode(e).unwrap().seq, i as u64);
        tree.append(leaf_hash(e));
    }
    for (cp, note) in &checkpoints {
        assert_eq!(root_at(&tree, cp.size).unwrap(), cp.root, "root of checkpoint {}", cp.size);
        let stored = c
            .audit
            .get_checkpoint(v1::AuditCheckpointRequest { at_or_before: Some(cp.size) })
            .await
            .unwrap()
            .into_inner();
        assert_eq!((stored.size, &stored.note), (cp.size, note), "the checkpoint of size {} is stored", cp.size);
    }

    // Every entry's inclusion proof in the latest tree, from the server, verifies
    // against the signed root and is the entry's exported bytes.
    for index in 0..last.size {
        let p = c
            .audit
            .get_inclusion_proof(v1::InclusionProofRequest {
                leaf: Some(v1::inclusion_proof_request::Leaf::Index(index)),
                tree_size: last.size,
            })
            .await
            .unwrap()
            .into_inner();
        let leaf = leaf_hash(&entries[index as usize]);
        assert_eq!(p.leaf_hash, leaf.to_vec());
        verify_inclusion(&leaf, index, last.size, &hashes(&p.hashes), &last.root)
            .unwrap_or_else(|e| panic!("entry {index}: {e}"));
    }
    // In every earlier checkpoint too, for a spread of entries.
    for (cp, note) in &checkpoints {
        for index in (0..cp.size).step_by(1 + cp.size as usize / 40).chain([cp.size - 1]) {
            let p = c
                .audit
                .get_inclusion_proof(v1::InclusionProofRequest {
                    leaf: Some(v1::inclusion_proof_request::Leaf::Index(index)),
                    tree_size: cp.size,
                })
                .await
                .unwrap()
                .into_inner();
            assert_eq!(p.checkpoint.as_ref().map(|c| &c.note), Some(note));
            verify_inclusion(&leaf_hash(&entries[index as usize]), index, cp.size, &hashes(&p.hashes), &cp.root)
                .unwrap_or_else(|e| panic!("entry {index} in {}: {e}", cp.size));
        }
    }
    // Consistency between every pair of checkpoints, and between sizes no checkpoint has.
    for (old, _) in &checkpoints {
        for (new, _) in checkpoints.iter().filter(|(n, _)| n.size >= old.size) {
            let p = c
                .audit
                .get_consistency_proof(v1::ConsistencyProofRequest { old_size: old.size, new_size: new.size })
                .await
                .unwrap()
                .into_inner();
            verify_consistency(old.size, new.size, &old.root, &new.root, &hashes(&p.hashes))
                .unwrap_or_else(|e| panic!("{} -> {}: {e}", old.size, new.size));
        }
    }
    for (m, n) in [(1, 2), (7, 4001), (16, 17), (1000, 1024), (1025, 4095), (3, last.size), (4000, last.size)] {
        let p = c
            .audit
            .get_consistency_proof(v1::ConsistencyProofRequest { old_size: m, new_size: n })
            .await
            .unwrap()
            .into_inner();
        let (rm, rn) = (root_at(&tree, m).unwrap(), root_at(&tree, n).unwrap());
        verify_consistency(m, n, &rm, &rn, &hashes(&p.hashes)).unwrap_or_else(|e| panic!("{m} -> {n}: {e}"));
    }

    // Lookups by leaf hash and by record id find the same entries.
    for index in (0..last.size).step_by(397).chain([0, last.size - 1]) {
        let leaf = leaf_hash(&entries[index as usize]);
        let p = c
            .audit
            .get_inclusion_proof(v1::InclusionProofRequest {
                leaf: Some(v1::inclusion_proof_request::Leaf::LeafHash(leaf.to_vec())),
                tree_size: 0,
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(p.index, index);
        let cp = open_checkpoint(&p.checkpoint.unwrap().note, &verifier).unwrap();
        verify_inclusion(&leaf, index, cp.size, &hashes(&p.hashes), &cp.root).unwrap();
        let e = c.audit.get_entry(v1::EntryRequest { index }).await.unwrap().into_inner();
        assert_eq!(e.entry, entries[index as usize]);
    }
    for i in [0u64, 1, 2, 100, 1234, 3000] {
        let r = c
            .audit
            .find_record(v1::FindRecordRequest {
                provider_id: uscc(1).to_string(),
                record_id: format!("u{i}"),
                kind: v1::RecordKind::Usage as i32,
                tree_size: 0,
            })
            .await
            .unwrap()
            .into_inner();
        let Body::Usage { input, .. } = Entry::decode(&r.entry).unwrap().body else { panic!("not a usage entry") };
        let rec = <suanli_core::wire::UsageRecord as prost::Message>::decode(input.payload.as_slice()).unwrap();
        assert_eq!(rec.record_id, format!("u{i}"));
        let proof = r.proof.unwrap();
        let cp = open_checkpoint(&proof.checkpoint.unwrap().note, &verifier).unwrap();
        verify_inclusion(&leaf_hash(&r.entry), r.seq, cp.size, &hashes(&proof.hashes), &cp.root).unwrap();
        assert_eq!(r.reversed_by, None);
    }

    // Refusals: beyond the durable log, outside the tree, nothing to find.
    let count = info.entry_count.max(last.size);
    let idx = |index, tree_size| v1::InclusionProofRequest {
        leaf: Some(v1::inclusion_proof_request::Leaf::Index(index)),
        tree_size,
    };
    assert_eq!(err(c.audit.get_inclusion_proof(idx(0, count + 1000)).await), Code::OutOfRange);
    assert_eq!(err(c.audit.get_inclusion_proof(idx(10, 10)).await), Code::OutOfRange);
    assert_eq!(err(c.audit.get_inclusion_proof(idx(count + 1000, 0)).await), Code::OutOfRange);
    let none = v1::InclusionProofRequest { leaf: None, tree_size: 0 };
    assert_eq!(err(c.audit.get_inclusion_proof(none).await), Code::InvalidArgument);
    let short = v1::InclusionProofRequest {
        leaf: Some(v1::inclusion_proof_request::Leaf::LeafHash(vec![1; 31])),
        tree_size: 0,
    };
    assert_eq!(err(c.audit.get_inclusion_proof(short).await), Code::InvalidArgument);
    let unknown = v1::InclusionProofRequest {
        leaf: Some(v1::inclusion_proof_request::Leaf::LeafHash(vec![1; 32])),
        tree_size: 0,
    };
    assert_eq!(err(c.audit.get_inclusion_proof(unknown).await), Code::NotFound);
    let cons = |old_size, new_size| v1::ConsistencyProofRequest { old_size, new_size };
    assert_eq!(err(c.audit.get_consistency_proof(cons(0, 10)).await), Code::InvalidArgument);
    assert_eq!(err(c.audit.get_consistency_proof(cons(11, 10)).await), Code::InvalidArgument);
    assert_eq!(err(c.audit.get_consistency_proof(cons(1, count + 1000)).await), Code::OutOfRange);
    assert_eq!(err(c.audit.get_entry(v1::EntryRequest { index: count + 1000 }).await), Code::NotFound);
    let at = |size| v1::AuditCheckpointRequest { at_or_before: Some(size) };
    assert_eq!(err(c.audit.get_checkpoint(at(0)).await), Code::NotFound);
    let missing = v1::FindRecordRequest {
        provider_id: uscc(1).to_string(),
        record_id: "never".into(),
        kind: v1::RecordKind::Usage as i32,
        tree_size: 0,
    };
    assert_eq!(err(c.audit.find_record(missing).await), Code::NotFound);
    let bad_provider = v1::FindRecordRequest {
        provider_id: "nope".into(),
        record_id: "u1".into(),
        kind: v1::RecordKind::Usage as i32,
        tree_size: 0,
    };
    assert_eq!(err(c.audit.find_record(bad_provider).await), Code::InvalidArgument);
    let early = v1::FindRecordRequest {
        provider_id: uscc(1).to_string(),
        record_id: "u3000".into(),
        kind: v1::RecordKind::Usage as i32,
        tree_size: 100,
    };
    assert_eq!(err(c.audit.find_record(early).await), Code::OutOfRange);

    // Partial exports start and end where asked, and never run past the log.
    let part = c.audit.export_entries(v1::ExportRequest { from: 10, to: 20 }).await.unwrap().into_inner();
    let chunks: Vec<v1::EntryChunk> = part.map(|c| c.unwrap()).collect().await;
    let got: Vec<Vec<u8>> = chunks.into_iter().flat_map(|c| c.entries).collect();
    assert_eq!(got, entries[10..20].to_vec());
    let beyond = c.audit.export_entries(v1::ExportRequest { from: 0, to: u64::MAX }).await.unwrap().into_inner();
    let n: usize = beyond.map(|c| c.unwrap().entries.len()).fold(0, |a, b| a + b).await;
    assert!(n as u64 >= last.size);
    let backwards = c.audit.export_entries(v1::ExportRequest { from: count + 5, to: 3 }).await;
    assert_eq!(err(backwards), Code::OutOfRange);

    let _ = running.stop.send(());
    running.done.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_proof_checks_against_the_signed_checkpoints_mem_store() {
    check_the_log(Arc::new(MemStore::new()), tempfile::tempdir().unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_proof_checks_against_the_signed_checkpoints_sled_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(&dir.path().join("store")).unwrap();
    check_the_log(Arc::new(store), dir).await;
}
