//! Restoring a ledger from a backup (`suanli backup`: a log export and its signed
//! checkpoint) into a new data directory (`suanlid restore`), without ever forking its log.
//!
//! The log is the ledger: everything else in the store (record index, Merkle nodes,
//! snapshot) is rebuilt here by replaying the entries through the same policy code the
//! sequencer runs, writing them in batches shaped exactly like the sequencer's commits.
//! Nothing in the backup file is trusted on its own: every checkpoint must carry a valid
//! signature by the ledger key given to the restore, the genesis entry must name that
//! key, and the Merkle root recomputed from the entries must equal each checkpoint's root
//! at its size. Anything else is refused, and the half-written store is removed.
//!
//! **Never a second history.** A backup is older than the ledger it came from. Had the
//! restored ledger simply continued from the backup, it would append new entries where
//! the original already had others, and sign checkpoints that disagree with ones it
//! signed before — under the same origin and key, proof that it signed two histories. So
//! the restore first learns the newest checkpoint the ledger ever signed (the source data
//! directory's `checkpoint.latest`, a mirror's, a witness's, an auditor's: `latest`),
//! then catches up the entries written after the backup from later exports (`catch_up`),
//! verifying every entry by replay and every root against the checkpoints, until it
//! reaches that checkpoint. Only then may the restored ledger append. If those entries
//! are truly gone, the restore refuses, unless the operator asks for a new log
//! (`new_origin`): the same entries up to the last verified checkpoint, under a new
//! origin that names that checkpoint, so every auditor sees the break (docs/OPERATIONS.md).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail, ensure};
use suanli_core::checkpoint::{Checkpoint, open_checkpoint, sign_checkpoint};
use suanli_core::entry::{Body, Entry};
use suanli_core::export::ExportReader;
use suanli_core::ledger::Ledger;
use suanli_core::merkle::{Frontier, Hash, leaf_hash};
use suanli_core::note::Signer;
use suanli_store::ledger_index::LedgerIndex;
use suanli_store::sled_store::SledStore;
use suanli_store::{CommitBatch, Store};

use crate::recovery::{LEDGER_KEY_FILE, STORE_DIR, read_key_file, write_checkpoint_witness, write_key_file};
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
    /// Later exports of the same log (a later backup, `suanli log export` of the source or
    /// of a mirror), each checked against its `FILE.checkpoint` when there is one: the
    /// entries written after the backup are caught up from them.
    pub catch_up: &'a [PathBuf],
    /// Signed checkpoints of the log the restore must reach: the newest the ledger is
    /// known to have signed (the source's `checkpoint.latest`, one a witness or auditor holds).
    pub latest: &'a [PathBuf],
    /// The operator's word that the ledger signed no checkpoint after the backup's (it
    /// never ran after the backup). Needed when no `latest` or `catch_up` is given.
    pub backup_is_latest: bool,
    /// When entries covered by a known checkpoint are lost: restore up to the last
    /// verified checkpoint as a new log, whose origin names that checkpoint.
    pub new_origin: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    pub origin: String,
    pub entries: u64,
    pub root: Hash,
    /// Entries in the exports beyond the newest checkpoint: no signature vouches for
    /// them, so they are left out.
    pub ignored: u64,
    /// Entries caught up from the `catch_up` exports, after the backup's.
    pub caught_up: u64,
    /// With `new_origin`: the old log's origin and its last verified checkpoint
    /// (size, root), which the new origin names.
    pub continues: Option<(String, u64, Hash)>,
}

/// The origin of the new log that continues `origin` after entries past its checkpoint
/// of `size` entries and root `root` were lost: `<origin>/continued/<size>/<hex root>`.
/// It names the old log's last verified checkpoint, is a different key name (so no
/// signature of one log can be taken for the other), and keeps the ledger's origin as its
/// prefix (so `suanli log vkey` still checks it against the program and the key).
pub fn continued_origin(origin: &str, size: u64, root: &Hash) -> String {
    format!("{origin}/continued/{size}/{}", hex::encode(root))
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
        let plan = plan(opts)?;
        let store =
            SledStore::open(&store_dir).with_context(|| format!("creating the store {}", store_dir.display()))?;
        let restored = replay_into(&store, opts, &plan)?;
        store.close().context("closing the restored store")?;
        Ok(restored)
    })();
    match result {
        Ok((r, note)) => {
            let key = read_key_file(opts.ledger_key)?;
            write_key_file(&key_path, &key)?;
            write_checkpoint_witness(opts.data_dir, &note)
                .with_context(|| format!("writing the checkpoint witness in {}", opts.data_dir.display()))?;
            Ok(r)
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&store_dir);
            Err(e)
        }
    }
}

/// A verified signed checkpoint and the file it came from.
#[derive(Debug, Clone)]
struct Known {
    checkpoint: Checkpoint,
    note: String,
    from: PathBuf,
}

/// What the restore will do, decided before anything is written.
struct Plan {
    signer: Signer,
    /// Every known checkpoint by size (two of one size with different roots are refused).
    known: BTreeMap<u64, Known>,
    /// The sources, in order: the backup, then the catch-up exports.
    sources: Vec<(PathBuf, u64)>,
}

fn open_export(path: &Path) -> anyhow::Result<ExportReader<BufReader<File>>> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    ExportReader::new(BufReader::with_capacity(1 << 20, file)).with_context(|| format!("reading {}", path.display()))
}

fn plan(opts: &RestoreOptions<'_>) -> anyhow::Result<Plan> {
    let ledger_sk = read_key_file(opts.ledger_key)?;
    let header = open_export(opts.export)?.header().clone();
    ensure!(header.first == 0, "the export starts at entry {}; a backup must start at entry 0", header.first);
    let signer = Signer::new(&header.origin, ledger_sk)
        .map_err(|e| anyhow::anyhow!("the export's origin {:?} is not a key name: {e}", header.origin))?;
    let mut known: BTreeMap<u64, Known> = BTreeMap::new();
    let mut add = |path: &Path, required: bool| -> anyhow::Result<u64> {
        let note = match std::fs::read_to_string(path) {
            Ok(n) => n,
            Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e).with_context(|| format!("reading the checkpoint {}", path.display())),
        };
        let cp = open_checkpoint(&note, &signer.verifier()).with_context(|| {
            format!(
                "the checkpoint {} is not signed by the given ledger key for the log {}",
                path.display(),
                header.origin
            )
        })?;
        ensure!(
            cp.origin == header.origin,
            "the checkpoint {} is of log {:?}, the backup of {:?}",
            path.display(),
            cp.origin,
            header.origin
        );
        if let Some(k) = known.get(&cp.size) {
            ensure!(
                k.checkpoint.root == cp.root,
                "{} and {} are both signed by the ledger key for {} entries, with different roots: the ledger has \
                 already signed two histories. Keep both files; restore from the one your auditors hold",
                k.from.display(),
                path.display(),
                cp.size
            );
            return Ok(cp.size);
        }
        let size = cp.size;
        known.insert(size, Known { checkpoint: cp, note, from: path.to_path_buf() });
        Ok(size)
    };
    let backup_size = add(opts.checkpoint, true)?;
    ensure!(backup_size > 0, "the checkpoint covers no entries");
    ensure!(
        header.entries >= backup_size,
        "the export holds {} entries, fewer than the {} its checkpoint covers",
        header.entries,
        backup_size
    );
    let mut sources = vec![(opts.export.to_path_buf(), 0)];
    for c in opts.catch_up {
        let h = open_export(c)?.header().clone();
        ensure!(
            h.origin == header.origin,
            "{} is an export of the log {:?}, the backup of {:?}",
            c.display(),
            h.origin,
            header.origin
        );
        add(&checkpoint_beside(c), false)?;
        sources.push((c.clone(), h.first));
    }
    // Each source continues where the earlier ones end, so read them by their first entry.
    sources[1..].sort_by_key(|(_, first)| *first);
    for l in opts.latest {
        add(l, true)?;
    }
    if opts.catch_up.is_empty() && opts.latest.is_empty() && !opts.backup_is_latest {
        bail!(
            "a restore must not continue from a backup the ledger has moved past, or it would sign a second history \
             under {}: give the newest checkpoint the ledger signed (--latest-checkpoint FILE: the source data \
             directory's checkpoint.latest, or one from a mirror, witness or auditor) and the entries after the backup \
             (--catch-up EXPORT), or state that the ledger never ran after the backup (--backup-is-latest)",
            header.origin
        );
    }
    Ok(Plan { signer, known, sources })
}

/// Replays the sources into the store and returns what was restored and the signed
/// checkpoint note the restored ledger ends at.
fn replay_into(store: &dyn Store, opts: &RestoreOptions<'_>, plan: &Plan) -> anyhow::Result<(Restored, String)> {
    let origin = plan.signer.name().to_string();
    let target = *plan.known.keys().next_back().expect("the backup's checkpoint is known");
    // First pass: how far the sources reach, every root checked on the way. Nothing is
    // written, so a lost stretch is found before the store holds anything.
    let reached = walk(plan, target, None, |_, _| Ok(()))?;
    let (stop, continues) = if reached.entries < target {
        let (v, last) = plan.known.range(..=reached.entries).next_back().expect("the backup's checkpoint is verified");
        let newest = &plan.known[&target];
        if !opts.new_origin {
            bail!(
                "the ledger signed a checkpoint of {target} entries ({}), but the backup and the catch-up exports end at \
                 entry {}: restoring now would append new entries where the ledger already has others, a second history \
                 under {origin}. Find the missing entries (a later export or backup of the source, a mirror) and pass \
                 them with --catch-up; only if they are truly lost, start a new log that names this one's last verified \
                 checkpoint ({v} entries) with --new-origin",
                newest.from.display(),
                reached.entries
            );
        }
        let new = continued_origin(&origin, *v, &last.checkpoint.root);
        (*v, Some((origin.clone(), *v, last.checkpoint.root, new)))
    } else {
        (target, None)
    };
    let new_signer = match &continues {
        Some((_, _, _, new)) => Some(
            Signer::new(new, read_key_file(opts.ledger_key)?)
                .map_err(|e| anyhow::anyhow!("the new origin {new:?} is not a key name: {e}"))?,
        ),
        None => None,
    };

    // Second pass: write.
    let mut ledger: Option<Ledger> = None;
    let mut frontier = Frontier::new();
    let mut batch = CommitBatch::default();
    let mut index = LedgerIndex::new(store);
    let rename = continues.as_ref().map(|(_, _, _, new)| new.clone());
    let done = walk(plan, stop, rename.as_deref(), |seq, bytes| {
        let entry = Entry::decode(&bytes).map_err(|e| anyhow::anyhow!("entry {seq}: {e}"))?;
        match &mut ledger {
            None => ledger = Some(Ledger::from_genesis(&entry).map_err(|e| anyhow::anyhow!("{e}"))?),
            Some(l) => l.apply(&mut index, &entry).map_err(|e| anyhow::anyhow!("replaying entry {seq}: {e}"))?,
        }
        push_entry(&mut frontier, &mut batch, seq, bytes);
        if batch.entries.len() >= RESTORE_BATCH_ENTRIES {
            let (records, requests) = index.take_writes();
            batch.records = records;
            batch.requests = requests;
            batch.frontier = frontier.encode();
            store.commit(&std::mem::take(&mut batch))?;
        }
        Ok(())
    })?;
    ensure!(done.entries == stop, "the sources changed while they were read");
    let ledger = ledger.expect("entry 0 was replayed");
    let (records, requests) = index.take_writes();
    drop(index);
    batch.records = records;
    batch.requests = requests;
    batch.frontier = frontier.encode();
    let final_note = match (&new_signer, &continues) {
        (Some(signer), Some((_, _, _, new))) => {
            let note = sign_checkpoint(&Checkpoint::new(new.clone(), stop, frontier.root()), signer)?;
            batch.checkpoints.push((stop, note.clone()));
            note
        }
        _ => {
            // The old log's checkpoints up to here stay served: they are this log's too.
            for (size, k) in plan.known.range(..=stop) {
                batch.checkpoints.push((*size, k.note.clone()));
            }
            plan.known[&stop].note.clone()
        }
    };
    batch.snapshot = Some((stop, encode_snapshot(&frontier, &ledger)));
    store.commit(&batch)?;
    let restored = Restored {
        origin: rename.unwrap_or(origin),
        entries: stop,
        root: frontier.root(),
        ignored: done.ignored,
        caught_up: stop.saturating_sub(done.from_backup),
        continues: continues.map(|(o, v, r, _)| (o, v, r)),
    };
    Ok((restored, final_note))
}

/// How far a walk over the sources got.
struct Walked {
    entries: u64,
    from_backup: u64,
    ignored: u64,
}

/// Reads entries `0..stop` from the sources in order (each source from wherever the
/// previous ones ended; overlapping entries are skipped), checks each entry's position
/// and, at every known checkpoint's size, the root. `rename` replaces the genesis entry's
/// origin (for a new log). Each entry goes to `each`.
fn walk(
    plan: &Plan,
    stop: u64,
    rename: Option<&str>,
    mut each: impl FnMut(u64, Vec<u8>) -> anyhow::Result<()>,
) -> anyhow::Result<Walked> {
    let ledger_key = plan.signer.verifier().verifying_key().to_bytes();
    let mut frontier = Frontier::new();
    let mut from_backup = 0;
    let mut ignored = 0;
    for (i, (path, first)) in plan.sources.iter().enumerate() {
        let next = frontier.size();
        if *first > next {
            // A gap: this export cannot continue what the sources so far hold.
            continue;
        }
        let mut reader = open_export(path)?;
        while let Some((seq, bytes)) = reader.next_entry().with_context(|| format!("reading {}", path.display()))? {
            if seq < frontier.size() {
                continue;
            }
            if frontier.size() >= stop {
                ignored += 1;
                continue;
            }
            ensure!(
                seq == frontier.size(),
                "{} holds entry {seq} where entry {} belongs",
                path.display(),
                frontier.size()
            );
            let entry = Entry::decode(&bytes).map_err(|e| anyhow::anyhow!("{}: entry {seq}: {e}", path.display()))?;
            ensure!(entry.seq == seq, "{}: entry {seq} says it is entry {}", path.display(), entry.seq);
            // The roots are those of the old log: the genesis is renamed after hashing.
            let old_leaf = leaf_hash(&bytes);
            let bytes = if seq == 0 {
                let Body::Genesis(genesis) = &entry.body else { bail!("entry 0 is not a genesis entry") };
                ensure!(
                    genesis.ledger_key == ledger_key,
                    "the given ledger key is not the one this ledger was created with"
                );
                ensure!(genesis.origin == plan.signer.name(), "the genesis entry names the log {:?}", genesis.origin);
                match rename {
                    Some(new) => {
                        let mut g = genesis.clone();
                        g.origin = new.to_string();
                        Entry { body: Body::Genesis(g), ..entry }.encode()
                    }
                    None => bytes,
                }
            } else {
                bytes
            };
            frontier.append(old_leaf, |_, _| {});
            if let Some(k) = plan.known.get(&frontier.size())
                && frontier.root() != k.checkpoint.root
            {
                bail!(
                    "the root recomputed from the first {} entries differs from the checkpoint's ({}): {} is damaged \
                     or not of this ledger; nothing was restored",
                    k.checkpoint.size,
                    k.from.display(),
                    path.display()
                );
            }
            each(seq, bytes)?;
            if i == 0 {
                from_backup = frontier.size();
            }
        }
    }
    Ok(Walked { entries: frontier.size(), from_backup, ignored })
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
