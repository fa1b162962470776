//! The one writer. A dedicated thread takes verified submissions from a bounded queue,
//! decides them in order against the ledger state, appends accepted entries to the Merkle
//! tree, and writes everything of one round — entries, index updates, Merkle nodes, and
//! now and then a snapshot and a signed checkpoint — as one atomic, flushed store commit.
//! Only then are the answers of that round sent back (group commit): an acknowledgement
//! always means "on disk".
//!
//! Rounds grow under load (everything queued during a commit joins the next round) and
//! shrink to one record when idle, so latency stays low and throughput high.
//!
//! If a commit fails, the in-memory state is ahead of the disk; the only safe move is to
//! stop the process without answering. A restart recovers the last durable state, and
//! clients resubmit what was never acknowledged (deduplication makes that harmless).

use std::cell::RefCell;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use suanli_core::checkpoint::{Checkpoint, sign_checkpoint};
use suanli_core::codec::{Reader, Writer};
use suanli_core::entry::Entry;
use suanli_core::ledger::{Answer, Decision, Input, Ledger};
use suanli_core::merkle::{Frontier, leaf_hash};
use suanli_core::note::Signer;
use suanli_core::validate::Usage;
use suanli_store::filter::KeyFilter;
use suanli_store::ledger_index::{LedgerIndex, Pending};
use suanli_store::{CommitBatch, Store};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, error, info};

use crate::metrics::Metrics;

/// Merkle subtrees of at least 2^NODE_LEVEL_MIN leaves are stored; smaller ones are
/// recomputed from entries when a proof needs them (at most 2^NODE_LEVEL_MIN entries).
///
/// 256 leaves, the width of one log tile: the commit writes one node per 128 entries
/// (1/256 + 1/512 + …). At 16 leaves (the first choice) it wrote one per 8, and those
/// sled inserts (node splits, page-cache links) were most of the commit thread's sled
/// work: a sled commit of 2,048 records went from 374,000–425,000 to 560,000–596,000
/// records/s (criterion stage `store commit`, `BENCH_NODE_LEVEL_MIN=4` for the old
/// choice). A proof then
/// hashes at most two or three blocks of 256 entries read in order from the entry file
/// (well under a millisecond); stores written with the smaller blocks keep working, their
/// extra nodes are simply not read.
pub const NODE_LEVEL_MIN: u8 = 8;

/// A clock in Unix milliseconds; injectable so tests can control time.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

pub fn system_clock() -> Clock {
    Arc::new(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    })
}

pub enum Command {
    /// Verified inputs (verdict per input), answered in order after the commit.
    /// `parsed`: usage payloads decoded by the verification threads, by input (may be
    /// shorter, or empty: the rest is decoded here). `received`: when the chunk was taken
    /// in (for the ack latency metric).
    Submit {
        inputs: Vec<Input>,
        signature_ok: Vec<bool>,
        parsed: Vec<crate::verify::Parsed>,
        reply: oneshot::Sender<Vec<Answer>>,
        received: Instant,
        /// When its signature checks were done (for the stage metric).
        verified: Instant,
        /// The chunk's admission permit (`crate::admission`), released when its answers
        /// are sent back; `None` when the caller holds it.
        permit: Option<crate::admission::Permit>,
    },
    /// Sign a checkpoint now (if the log grew since the last one) and return the latest.
    Checkpoint { reply: oneshot::Sender<Option<(u64, String)>> },
    /// Periodic wake-up: sign a checkpoint if the log grew and the interval passed.
    Tick,
}

/// The snapshot value: the Merkle frontier and the ledger state at the same entry count.
pub fn encode_snapshot(frontier: &Frontier, ledger: &Ledger) -> Vec<u8> {
    let mut w = Writer::new();
    w.bytes(&frontier.encode()).bytes(&ledger.encode_snapshot());
    w.finish()
}

pub fn decode_snapshot(bytes: &[u8]) -> Result<(Frontier, Ledger), String> {
    let mut r = Reader::new(bytes);
    let f = r.bytes("frontier").map_err(|e| e.to_string())?;
    let l = r.bytes("ledger").map_err(|e| e.to_string())?;
    r.finish().map_err(|e| e.to_string())?;
    let frontier = Frontier::decode(f).map_err(|e| format!("frontier: {e}"))?;
    let ledger = Ledger::decode_snapshot(l).map_err(|e| format!("ledger state: {e}"))?;
    Ok((frontier, ledger))
}

pub struct SequencerConfig {
    pub commit_records_max: usize,
    pub checkpoint_interval: Duration,
    pub snapshot_interval_entries: u64,
}

/// The sequencer's own state, moved into its thread.
pub struct Sequencer {
    pub ledger: Arc<RwLock<Ledger>>,
    pub store: Arc<dyn Store>,
    pub frontier: Frontier,
    pub signer: Signer,
    pub origin: String,
    pub clock: Clock,
    pub config: SequencerConfig,
    pub last_checkpoint_size: u64,
    pub last_checkpoint_at: Instant,
    pub last_snapshot_count: u64,
    /// The latest checkpoint signed (it may still be on its way to the disk).
    pub last_checkpoint: Option<(u64, String)>,
    pub metrics: Arc<Metrics>,
    /// The data directory whose checkpoint witness (`recovery::CHECKPOINT_WITNESS_FILE`)
    /// is rewritten after each commit that stores a checkpoint; `None` keeps no witness.
    pub witness_dir: Option<std::path::PathBuf>,
    /// Counts every entry for the finance dashboard (`dashboard.rs`); `None` keeps no totals.
    pub dashboard: Option<Arc<crate::dashboard::LiveDashboard>>,
}

enum Reply {
    Submit(oneshot::Sender<Vec<Answer>>, Vec<Answer>, Timing, Option<crate::admission::Permit>),
    Checkpoint(oneshot::Sender<Option<(u64, String)>>, Option<(u64, String)>),
}

/// When a chunk of submissions passed each stage before its round was decided.
#[derive(Clone, Copy)]
struct Timing {
    received: Instant,
    verified: Instant,
    /// Its round began.
    round: Instant,
}

/// A decided round on its way to the disk.
struct Decided {
    round: u64,
    /// When it was handed to the committer.
    handed: Instant,
    batch: CommitBatch,
    replies: Vec<Reply>,
    /// Tells the sequencer the round is durable (for stores that cannot pipeline).
    done: Option<std::sync::mpsc::SyncSender<()>>,
}

/// Decided rounds queued for the committer, at most: bounds memory and the distance between
/// what the ledger state says and what is on disk. Two let the sequencer run ahead of a
/// slow commit, which full-speed batch-signed loads need. Tried on 2026-12-07 (fresh
/// server each, 1M records, then 250,000 at half that rate; binaries interleaved):
/// - zero (a rendezvous: the sequencer decides the next round while the committer
///   writes one, then waits for the committer to take it): batch-signed full speed 102.5
///   and 104.9 k records/s against 124.3 and 118.0 k with two;
/// - single-signed half-speed p99, first set: zero 21.4, 30.3, 36.3 ms against two 54.6,
///   66.5, 63.7, 39.1 ms; second set, 40 minutes later: zero 43.6 and 33.7, one 53.9 and
///   38.1, two 39.2 and 33.2 ms. The first set's gain did not come back, so the depth is
///   not what sets the half-speed tail, and two stays.
pub const PIPELINE_ROUNDS_MAX: usize = 2;

/// Writes decided rounds in order, then answers their submitters.
fn commit_loop(
    store: Arc<dyn Store>,
    pending: Arc<Pending>,
    metrics: Arc<Metrics>,
    witness_dir: Option<std::path::PathBuf>,
    rx: std::sync::mpsc::Receiver<Decided>,
) {
    for d in rx {
        let started = Instant::now();
        let committed = if d.batch.is_empty() {
            store.abort_round();
            Ok(())
        } else {
            let r = store.commit(&d.batch);
            metrics.observe_commit(d.batch.entries.len(), started.elapsed());
            r
        };
        let written = Instant::now();
        if let Err(e) = committed {
            // The in-memory state is now ahead of the disk. Answering anything would
            // risk acknowledging what is not stored; stop and let recovery take over.
            error!(error = %e, "commit failed; stopping without acknowledging the round");
            error!(error = %e, "commit failed; stopping (restart recovers the last durable state)");
            std::process::exit(74);
        }
        // Only now is the checkpoint durable: from here on the store must never hold less.
        if let (Some(dir), Some((_, note))) = (&witness_dir, d.batch.checkpoints.last())
            && let Err(e) = crate::recovery::write_checkpoint_witness(dir, note)
        {
            // The witness only detects a store that lost entries; a stale one detects less.
            error!(error = %e, "writing the checkpoint witness failed");
        }
        pending.committed(d.round);
        for r in d.replies {
            match r {
                Reply::Submit(tx, answers, t, permit) => {
                    metrics.observe_ack(t.received.elapsed());
                    metrics.observe_stages(&crate::metrics::Stages {
                        verify: t.verified.saturating_duration_since(t.received),
                        sequencer_queue: t.round.saturating_duration_since(t.verified),
                        decide: d.handed.saturating_duration_since(t.round),
                        commit_queue: started.saturating_duration_since(d.handed),
                        commit: written.saturating_duration_since(started),
                    });
                    // The chunk leaves the pipeline before its answers go out, so that a
                    // client holding its acks never finds it still counted in flight
                    // (`suanli_admission_in_flight`; the operations test reads it right
                    // after its last ack, and once caught it at 1 on a busy CI machine).
                    drop(permit);
                    let _ = tx.send(answers);
                }
                Reply::Checkpoint(tx, cp) => {
                    let _ = tx.send(cp);
                }
            }
        }
        if let Some(done) = d.done {
            let _ = done.send(());
        }
    }
}

/// What the sequencer's rounds pass on: to the committer, and to the dashboard.
struct Pipe {
    /// Index writes decided but not yet durable (read by the next rounds' lookups).
    pending: Arc<Pending>,
    /// Every record key in the store or pending, in front of the index.
    filter: RefCell<KeyFilter>,
    to_committer: std::sync::mpsc::SyncSender<Decided>,
    /// The entries of the round being decided, for the dashboard (empty between rounds),
    /// each usage entry with its record when the verification threads decoded it.
    decided: Vec<(Entry, Option<Usage>)>,
}

impl Sequencer {
    /// Runs until every sender is gone, then writes a final snapshot and checkpoint.
    pub fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        info!(entries = self.frontier.size(), "sequencer started");
        let pending = Arc::new(Pending::default());
        let (to_committer, committer_rx) = std::sync::mpsc::sync_channel::<Decided>(PIPELINE_ROUNDS_MAX);
        let committer = {
            let (store, pending, metrics, witness_dir) =
                (self.store.clone(), pending.clone(), self.metrics.clone(), self.witness_dir.clone());
            std::thread::Builder::new()
                .name("suanli-commit".into())
                .spawn(move || {
                    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        commit_loop(store, pending, metrics, witness_dir, committer_rx)
                    }))
                    .is_err()
                    {
                        error!("the committer stopped on a failed invariant; exiting");
                        std::process::exit(70);
                    }
                })
                .expect("committer thread starts")
        };
        // Sized for the log's entries (an upper bound of its records), so that the filter is
        // one part after a restart.
        let entries = match self.store.entry_count() {
            Ok(n) => n,
            Err(e) => {
                error!(error = %e, "cannot read the store's entry count; stopping");
                std::process::exit(74);
            }
        };
        let filter = RefCell::new(KeyFilter::with_capacity(entries));
        let started = Instant::now();
        for key in self.store.record_keys() {
            match key {
                Ok(k) => filter.borrow_mut().insert(&k),
                Err(e) => {
                    error!(error = %e, "cannot read the record index; stopping");
                    std::process::exit(74);
                }
            }
        }
        info!(
            records = filter.borrow().len(),
            bytes = filter.borrow().bytes(),
            parts = filter.borrow().parts(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "record key filter built"
        );
        let mut round_no = 0u64;
        let mut pipe = Pipe { pending, filter, to_committer, decided: Vec::new() };
        while let Some(first) = rx.blocking_recv() {
            let mut round = vec![first];
            let mut records = round_records(&round[0]);
            while records < self.config.commit_records_max {
                match rx.try_recv() {
                    Ok(cmd) => {
                        records += round_records(&cmd);
                        round.push(cmd);
                    }
                    Err(_) => break,
                }
            }
            round_no += 1;
            self.round(round_no, round, false, &mut pipe);
        }
        round_no += 1;
        self.round(round_no, Vec::new(), true, &mut pipe);
        drop(pipe);
        let _ = committer.join();
        if let Err(e) = self.store.close() {
            error!(error = %e, "closing the store failed");
        }
        info!(entries = self.frontier.size(), "sequencer stopped");
    }

    fn round(&mut self, round_no: u64, commands: Vec<Command>, final_round: bool, pipe: &mut Pipe) {
        let Pipe { pending, filter, to_committer, decided } = pipe;
        let started = Instant::now();
        let ledger_lock = self.ledger.clone();
        let mut ledger = ledger_lock.write().expect("ledger lock");
        let store = self.store.clone();
        let mut index = LedgerIndex::with_pending(&*store, pending).with_filter(filter);
        // Entries appended by other nodes sharing the store come first, exactly as they are.
        let others = match store.begin_round(ledger.next_seq()) {
            Ok(others) => others,
            Err(e) => {
                error!(error = %e, "cannot start a write round; stopping");
                error!(error = %e, "cannot start a write round; stopping");
                std::process::exit(74);
            }
        };
        for (seq, bytes) in others {
            let entry = Entry::decode(&bytes).unwrap_or_else(|e| panic!("entry {seq} from the shared store: {e}"));
            index.set_as_of(Some(seq));
            ledger.apply(&mut index, &entry).unwrap_or_else(|e| panic!("entry {seq} from the shared store: {e}"));
            index.discard_writes();
            self.frontier.append(leaf_hash(&bytes), |_, _| {});
            decided.push((entry, None));
        }
        index.set_as_of(None);
        let mut batch = CommitBatch::default();
        let mut replies = Vec::with_capacity(commands.len());
        let mut checkpoint_waiters = Vec::new();
        let mut want_checkpoint = final_round;
        for cmd in commands {
            match cmd {
                Command::Submit { mut inputs, signature_ok, mut parsed, reply, received, verified, permit } => {
                    let mut answers = Vec::with_capacity(inputs.len());
                    parsed.resize_with(inputs.len(), || None);
                    // One reading of the clock per chunk, not per record (a chunk is decided
                    // well within a millisecond; the clock was ~0.7 % of the server's CPU).
                    let now = (self.clock)();
                    for ((input, ok), parsed) in inputs.iter_mut().zip(signature_ok).zip(parsed) {
                        let decision = ledger.decide_taking(&mut index, now, input, ok, parsed.as_ref());
                        answers.push(decision.answer());
                        if let Decision::Accepted(entry) = decision {
                            self.append(&entry, &mut batch);
                            decided.push((entry, parsed.and_then(|p| p.ok()).and_then(|p| p.usage.ok())));
                        }
                    }
                    self.metrics.count_answers(inputs.iter().map(|i| i.kind).zip(&answers));
                    replies.push(Reply::Submit(reply, answers, Timing { received, verified, round: started }, permit));
                }
                Command::Checkpoint { reply } => {
                    want_checkpoint = true;
                    checkpoint_waiters.push(reply);
                }
                Command::Tick => {}
            }
        }
        let (records, requests) = index.take_writes();
        drop(index);
        batch.records = records;
        batch.requests = requests;
        let count = ledger.next_seq();
        assert_eq!(count, self.frontier.size(), "every entry is in the Merkle tree");
        if !batch.entries.is_empty() {
            batch.frontier = self.frontier.encode();
        }
        let grew = count > self.last_checkpoint_size;
        if grew && (want_checkpoint || self.last_checkpoint_at.elapsed() >= self.config.checkpoint_interval) {
            let cp = Checkpoint::new(self.origin.clone(), count, self.frontier.root());
            let note = sign_checkpoint(&cp, &self.signer).expect("the ledger's own checkpoint is well formed");
            batch.checkpoints.push((count, note.clone()));
            self.last_checkpoint = Some((count, note));
            self.last_checkpoint_size = count;
            self.last_checkpoint_at = Instant::now();
        }
        if count > self.last_snapshot_count
            && (final_round || count - self.last_snapshot_count >= self.config.snapshot_interval_entries)
        {
            batch.snapshot = Some((count, encode_snapshot(&self.frontier, &ledger)));
            self.last_snapshot_count = count;
        }
        // Handed over under the write lock: a reader holding the read lock sees totals at
        // the ledger's position (see `dashboard.rs`).
        match &self.dashboard {
            Some(d) => d.hand_over(decided),
            None => decided.clear(),
        }
        drop(ledger);
        for w in checkpoint_waiters {
            replies.push(Reply::Checkpoint(w, self.last_checkpoint.clone()));
        }
        pending.add(round_no, &batch.records, &batch.requests);
        debug!(entries = batch.entries.len(), elapsed_us = started.elapsed().as_micros() as u64, "round decided");
        let (done, wait) = if self.store.pipelined() {
            (None, None)
        } else {
            let (tx, rx) = std::sync::mpsc::sync_channel(1);
            (Some(tx), Some(rx))
        };
        to_committer
            .send(Decided { round: round_no, handed: Instant::now(), batch, replies, done })
            .expect("the committer runs until the sequencer stops");
        if let Some(rx) = wait {
            let _ = rx.recv();
        }
    }

    fn append(&mut self, entry: &Entry, batch: &mut CommitBatch) {
        let bytes = entry.encode();
        let leaf = leaf_hash(&bytes);
        let nodes = &mut batch.nodes;
        self.frontier.append(leaf, |id, hash| {
            if id.level >= NODE_LEVEL_MIN {
                nodes.push(((id.level, id.index), hash));
            }
        });
        batch.entries.push((entry.seq, bytes));
        // Kept per commit for lookups by leaf hash (audit.rs): one store value per round.
        batch.leaf_hashes.push(leaf);
    }
}

fn round_records(cmd: &Command) -> usize {
    match cmd {
        Command::Submit { inputs, .. } => inputs.len(),
        _ => 1,
    }
}

/// A freshly generated secret key (from the OS's randomness).
pub fn generate_key() -> SigningKey {
    SigningKey::generate(&mut rand_core::OsRng)
}
