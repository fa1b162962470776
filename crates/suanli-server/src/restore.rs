//! Restoring a ledger from a backup (`suanli backup`: a log export and its signed
//! checkpoint) into a new data directory (`suanlid restore`).
//!
//! The log is the ledger: everything else in the store (record index, Merkle nodes,
//! snapshot) is rebuilt here by replaying the entries through the same policy code the
//! sequencer runs, writing them in batches shaped exactly like the sequencer's commits.
//! Nothing in the backup file is trusted on its own: the checkpoint must carry a valid
//! signature by the ledger key given to the restore, the genesis entry must name that
//! key, and the Merkle root recomputed from the entries must equal the checkpoint's root.
//! Anything else is refused, and the half-written store is removed.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail, ensure};
use suanli_core::checkpoint::open_checkpoint;
use suanli_core::entry::{Body, Entry};
use suanli_core::export::ExportReader;
use suanli_core::ledger::Ledger;
use suanli_core::merkle::{Frontier, Hash, leaf_hash};
use suanli_core::note::Signer;
use suanli_store::ledger_index::LedgerIndex;
use suanli_store::sled_store::SledStore;
use suanli_store::{CommitBatch, Store};

use crate::recovery::{LEDGER_KEY_FILE, STORE_DIR, read_key_file, write_key_file};
use crate::sequencer::{NODE_LEVEL_MIN, encode_snapshot};

/// Entries written per store commit while restoring.
pub const RESTORE_BATCH_ENTRIES: usize = 4096;

#[derive(Debug)]
pub struct RestoreOptions<'a> {
    /// The log export of the backup.
    pub export: &'a Path,
    /// The signed checkpoint the export is checked against (`EXPORT.checkpoint`).
    pub checkpoint: &'a Path,
    /// The ledger signing key (`ledger.key` of the source); copied into `data_dir`.
    pub ledger_key: &'a Path,
    /// The new data directory: must not hold a ledger yet.
    pub data_dir: &'a Path,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    pub origin: String,
    pub entries: u64,
    pub root: Hash,
    /// Entries in the export beyond the checkpoint: no signature vouches for them, so
    /// they are left out.
    pub ignored: u64,
}

/// Restores the backup into `opts.data_dir`. On any failure the store it began to write
/// is removed, so the directory can be used again.
pub fn restore(opts: &RestoreOptions<'_>) -> anyhow::Result<Restored> {
    let store_dir = opts.data_dir.join(STORE_DIR);
    let key_path = opts.data_dir.join(LEDGER_KEY_FILE);
    if store_dir.exists() {
        bail!("{} already exists: restore only into a new data directory", store_dir.display());
    }
    if key_path.exists() {
        bail!("{} already exists: restore only into a new data directory", key_path.display());
    }
    std::fs::create_dir_all(opts.data_dir)
        .with_context(|| format!("creating the data directory {}", opts.data_dir.display()))?;
    let result = (|| {
        let store =
            SledStore::open(&store_dir).with_context(|| format!("creating the store {}", store_dir.display()))?;
        let restored = replay_into(&store, opts)?;
        store.close().context("closing the restored store")?;
        Ok(restored)
    })();
    match result {
        Ok(r) => {
            let key = read_key_file(opts.ledger_key)?;
            write_key_file(&key_path, &key)?;
            Ok(r)
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&store_dir);
            Err(e)
        }
    }
}

fn replay_into(store: &dyn Store, opts: &RestoreOptions<'_>) -> anyhow::Result<Restored> {
    let ledger_sk = read_key_file(opts.ledger_key)?;
    let ledger_key = ledger_sk.verifying_key().to_bytes();
    let file = File::open(opts.export).with_context(|| format!("opening {}", opts.export.display()))?;
    let mut reader = ExportReader::new(BufReader::with_capacity(1 << 20, file))
        .with_context(|| format!("reading {}", opts.export.display()))?;
    let header = reader.header().clone();
    ensure!(header.first == 0, "the export starts at entry {}; a backup must start at entry 0", header.first);
    let signer = Signer::new(&header.origin, ledger_sk)
        .map_err(|e| anyhow::anyhow!("the export's origin {:?} is not a key name: {e}", header.origin))?;
    let note = std::fs::read_to_string(opts.checkpoint)
        .with_context(|| format!("reading the checkpoint {}", opts.checkpoint.display()))?;
    let cp = open_checkpoint(&note, &signer.verifier()).with_context(|| {
        format!(
            "the checkpoint {} is not signed by the given ledger key for the log {}",
            opts.checkpoint.display(),
            header.origin
        )
    })?;
    ensure!(cp.origin == header.origin, "the checkpoint is of log {:?}, the export of {:?}", cp.origin, header.origin);
    ensure!(
        header.entries >= cp.size,
        "the export holds {} entries, fewer than the {} its checkpoint covers",
        header.entries,
        cp.size
    );
    ensure!(cp.size > 0, "the checkpoint covers no entries");

    let (seq0, first) = reader.next_entry()?.context("the export holds no entries")?;
    ensure!(seq0 == 0, "the export's first entry is {seq0}, not 0");
    let genesis_entry = Entry::decode(&first).map_err(|e| anyhow::anyhow!("entry 0: {e}"))?;
    let Body::Genesis(genesis) = &genesis_entry.body else { bail!("entry 0 is not a genesis entry") };
    ensure!(genesis.ledger_key == ledger_key, "the given ledger key is not the one this ledger was created with");
    ensure!(genesis.origin == header.origin, "the genesis entry names the log {:?}", genesis.origin);
    let mut ledger = Ledger::from_genesis(&genesis_entry).map_err(|e| anyhow::anyhow!("{e}"))?;

    let mut frontier = Frontier::new();
    let mut batch = CommitBatch::default();
    push_entry(&mut frontier, &mut batch, 0, first);
    let mut index = LedgerIndex::new(store);
    let mut next = 1u64;
    while next < cp.size {
        let (seq, bytes) = reader.next_entry()?.with_context(|| format!("the export ends before entry {next}"))?;
        ensure!(seq == next, "the export holds entry {seq} where entry {next} belongs");
        let entry = Entry::decode(&bytes).map_err(|e| anyhow::anyhow!("entry {seq}: {e}"))?;
        ensure!(entry.seq == seq, "entry {seq} says it is entry {}", entry.seq);
        ledger.apply(&mut index, &entry).map_err(|e| anyhow::anyhow!("replaying the backup: {e}"))?;
        push_entry(&mut frontier, &mut batch, seq, bytes);
        next += 1;
        if batch.entries.len() >= RESTORE_BATCH_ENTRIES {
            let (records, requests) = index.take_writes();
            batch.records = records;
            batch.requests = requests;
            batch.frontier = frontier.encode();
            store.commit(&std::mem::take(&mut batch))?;
        }
    }
    if frontier.root() != cp.root {
        bail!(
            "the root recomputed from the {} entries differs from the checkpoint's: the backup is damaged or not of this \
             ledger; nothing was restored",
            cp.size
        );
    }
    let (records, requests) = index.take_writes();
    drop(index);
    batch.records = records;
    batch.requests = requests;
    batch.frontier = frontier.encode();
    batch.checkpoints.push((cp.size, note));
    batch.snapshot = Some((cp.size, encode_snapshot(&frontier, &ledger)));
    store.commit(&batch)?;
    let mut ignored = 0;
    while reader.next_entry()?.is_some() {
        ignored += 1;
    }
    Ok(Restored { origin: header.origin, entries: cp.size, root: cp.root, ignored })
}

fn push_entry(frontier: &mut Frontier, batch: &mut CommitBatch, seq: u64, bytes: Vec<u8>) {
    let leaf = leaf_hash(&bytes);
    let nodes = &mut batch.nodes;
    frontier.append(leaf, |id, h| {
        if id.level >= NODE_LEVEL_MIN {
            nodes.push(((id.level, id.index), h));
        }
    });
    batch.leaf_hashes.push(leaf);
    batch.entries.push((seq, bytes));
}

/// The default checkpoint file of an export: `FILE.checkpoint`.
pub fn checkpoint_beside(export: &Path) -> PathBuf {
    let mut p = export.as_os_str().to_owned();
    p.push(".checkpoint");
    PathBuf::from(p)
}
