//! suanli-store: the storage boundary of the ledger.
//!
//! Everything the ledger knows can be rebuilt from the log alone; the store keeps the log
//! plus what makes the ledger fast to run and restart: the record/request index (dedupe
//! forever without holding every record in memory), Merkle subtree hashes (proofs without
//! rehashing the past), periodic state snapshots (restart without replaying from entry 0)
//! and signed checkpoints, and the leaf hash of every entry (finding an entry by its leaf
//! hash for an inclusion proof, without an index insert per record).
//!
//! One trait, [`Store`], with two implementations that pass one conformance suite:
//! [`sled_store::SledStore`] (the embedded default, durable) and [`mem::MemStore`] (the
//! in-memory twin for simulation). A commit is atomic and, for durable stores, on disk
//! when `commit` returns: acknowledgements are sent only after that.

pub mod entry_file;
pub mod filter;
pub mod ledger_index;
pub mod mem;
pub mod pg;
pub mod pg_cluster;
pub mod runs;
pub mod sled_store;
pub mod writes;

use suanli_core::index::{RecordKey, RecordSummary, RequestKey, RequestSummary};
use suanli_core::merkle::leaf_hash;

/// A Merkle tree node id: the perfect subtree of 2^level leaves starting at leaf
/// `index << level`.
pub type NodeKey = (u8, u64);
pub type Hash = [u8; 32];

/// Version of the key layout and value encodings; a store written by another version is
/// refused at open, never misread. Version 2 keeps the record and request indexes as
/// sorted runs ([`runs`]); version 3 keeps each record's facts in the sled store's entry
/// file, the runs pointing to them. The sled store still opens versions 1 and 2 and upgrades
/// them in place (their values stay readable as they are).
pub const SCHEMA_VERSION: u32 = 3;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage I/O failed: {0}")]
    Io(String),
    #[error("the store is damaged: {0}")]
    Corrupt(String),
    #[error("the store was written with schema version {found}, this build reads version {expected}")]
    Schema { found: u32, expected: u32 },
    #[error("commit out of order: the store holds {have} entries, the batch starts at entry {first}")]
    OutOfOrder { have: u64, first: u64 },
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// The sorted index runs a store holds and the merges running on them
/// ([`Store::index_runs`]): each commit adds a run, and merges in the background keep the
/// number small. Many runs, or merges that never stop, mean the merges fall behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexRuns {
    /// Runs of the record index.
    pub records: usize,
    /// Runs of the request index.
    pub requests: usize,
    /// Merges running now.
    pub merging: usize,
}

/// Everything one group commit writes, applied atomically.
///
/// Nothing in it may refer past the log it leaves behind (an index summary naming a later
/// entry, a node, snapshot or checkpoint beyond the new entry count): that is a caller
/// bug, and `commit` panics before writing anything.
#[derive(Debug, Default, Clone)]
pub struct CommitBatch {
    /// New log entries: consecutive sequence numbers starting at the store's `entry_count`.
    pub entries: Vec<(u64, Vec<u8>)>,
    /// The RFC 6962 leaf hash of each of `entries`, in the same order (the sequencer has
    /// just computed them for the Merkle tree), or empty. Stores keep their prefixes as one
    /// value per commit, so that [`Store::find_leaf`] can answer without an insert per
    /// record on the hot path; entries committed without them are hashed when a lookup
    /// reaches them.
    pub leaf_hashes: Vec<Hash>,
    /// Index writes, each key once, in the order first written (`Vec::into` makes them
    /// from a list in which a later write of a key replaces an earlier one); shared with
    /// the sequencer's reads of rounds not yet durable.
    pub records: ledger_index::RecordWrites,
    pub requests: ledger_index::RequestWrites,
    /// Newly completed perfect Merkle subtrees worth keeping.
    pub nodes: Vec<(NodeKey, Hash)>,
    /// The Merkle frontier (compact range) after these entries, encoded; empty leaves the
    /// stored frontier as it was.
    pub frontier: Vec<u8>,
    /// A state snapshot taken right after the last entry of this batch, with the entry
    /// count it covers.
    pub snapshot: Option<(u64, Vec<u8>)>,
    /// Signed checkpoints (tree size, signed note text).
    pub checkpoints: Vec<(u64, String)>,
}

impl CommitBatch {
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
            && self.records.is_empty()
            && self.requests.is_empty()
            && self.nodes.is_empty()
            && self.snapshot.is_none()
            && self.checkpoints.is_empty()
    }
}

/// The storage of one ledger. Reads see every committed batch. Implementations are shared
/// between the one writer (the sequencer) and many readers (queries, proofs, exports).
pub trait Store: Send + Sync + 'static {
    /// Starts a write round of the sequencer. A store shared by several ledger nodes takes
    /// its write lock here (held until the round's `commit` or [`Store::abort_round`]) and
    /// returns the entries other nodes appended after the first `known_count`, which the
    /// caller applies before deciding anything. A single-writer store has none.
    fn begin_round(&self, known_count: u64) -> Result<Vec<(u64, Vec<u8>)>> {
        let _ = known_count;
        Ok(Vec::new())
    }
    /// Ends a round without writing (releases a shared store's lock).
    fn abort_round(&self) {}
    /// Whether the sequencer may decide the next round while this one is being committed.
    /// A store whose write lock spans a round (shared by several nodes) says no.
    fn pipelined(&self) -> bool {
        true
    }
    /// Writes the batch atomically; for a durable store, returns only once it is on disk.
    fn commit(&self, batch: &CommitBatch) -> Result<()>;
    /// Number of entries in the log (the next sequence number).
    fn entry_count(&self) -> Result<u64>;
    fn entry(&self, seq: u64) -> Result<Option<Vec<u8>>>;
    /// Entries `from..to` in order (ending early if the log is shorter).
    fn entries(&self, from: u64, to: u64) -> Box<dyn Iterator<Item = Result<(u64, Vec<u8>)>> + Send + '_>;
    fn record(&self, key: &RecordKey) -> Result<Option<RecordSummary>>;
    /// Every record key held ([`RecordKey::encode`] bytes), to rebuild the key filter: each
    /// at least once, in no particular order (a store may list a key once per change of
    /// its summary that it keeps apart, such as the sled store's unmerged index runs).
    fn record_keys(&self) -> Box<dyn Iterator<Item = Result<Vec<u8>>> + Send + '_>;
    fn request(&self, key: &RequestKey) -> Result<Option<RequestSummary>>;
    fn node(&self, key: NodeKey) -> Result<Option<Hash>>;
    fn frontier(&self) -> Result<Option<Vec<u8>>>;
    /// The latest snapshot: (entry count it covers, bytes).
    fn snapshot(&self) -> Result<Option<(u64, Vec<u8>)>>;
    /// The checkpoint with the largest tree size.
    fn latest_checkpoint(&self) -> Result<Option<(u64, String)>>;
    /// The latest checkpoint whose tree size is at most `size`.
    fn checkpoint_at_or_before(&self, size: u64) -> Result<Option<(u64, String)>>;
    /// The sequence number of the entry below `to` whose RFC 6962 leaf hash is `leaf`
    /// (entries are unique, since each holds its own sequence number), or `None`.
    ///
    /// This scans: an audit lookup, not a hot-path read. Stores override it to read the
    /// leaf-hash prefixes kept per commit ([`CommitBatch::leaf_hashes`], [`LEAF_PREFIX_LEN`]
    /// bytes per entry); this default, and the stores for entries committed without leaf
    /// hashes, hash the entries themselves.
    fn find_leaf(&self, leaf: &Hash, to: u64) -> Result<Option<u64>> {
        find_leaf_in_entries(self, leaf, 0, to)
    }
    /// Bytes the store occupies on disk (0 for memory).
    fn size_on_disk(&self) -> Result<u64>;
    /// How the background merging of index runs stands, for stores that merge (sled);
    /// `None` for the others.
    fn index_runs(&self) -> Option<IndexRuns> {
        None
    }
    /// Flushes and closes cleanly (also done on drop, best effort).
    fn close(&self) -> Result<()>;
}

/// What every store checks before writing a batch onto a log of `have` entries: its
/// entries continue the log exactly (else [`StoreError::OutOfOrder`], nothing written), and
/// nothing in it refers past the log it leaves behind ([`assert_batch_within`]). Returns
/// the entry count after the batch.
pub(crate) fn check_batch(batch: &CommitBatch, have: u64) -> Result<u64> {
    for (i, (seq, _)) in batch.entries.iter().enumerate() {
        let expected = have + i as u64;
        if *seq != expected {
            return Err(StoreError::OutOfOrder { have: expected, first: *seq });
        }
    }
    let new_count = have + batch.entries.len() as u64;
    assert_batch_within(batch, new_count);
    Ok(new_count)
}

/// Checks that nothing in the batch refers past the log it leaves behind: the index,
/// Merkle nodes, snapshot and checkpoints all describe entries that exist once the batch
/// is applied. A violation is a bug in the caller, so it panics before anything is
/// written (every store calls this, so they all fail the same way).
pub(crate) fn assert_batch_within(batch: &CommitBatch, new_count: u64) {
    assert!(
        batch.leaf_hashes.is_empty() || batch.leaf_hashes.len() == batch.entries.len(),
        "{} leaf hashes for {} entries",
        batch.leaf_hashes.len(),
        batch.entries.len()
    );
    // Checking every hash costs a SHA-256 per entry on the commit path; tests do it.
    #[cfg(debug_assertions)]
    for ((seq, bytes), h) in batch.entries.iter().zip(&batch.leaf_hashes) {
        assert_eq!(&leaf_hash(bytes), h, "the leaf hash given for entry {seq} is not its hash");
    }
    for (k, s) in &batch.records {
        assert!(
            s.facts.seq < new_count && s.reversed_by.is_none_or(|r| r < new_count),
            "record {k:?} refers to entry {} (reversed by {:?}) beyond the log of {new_count} entries",
            s.facts.seq,
            s.reversed_by
        );
    }
    for (k, s) in &batch.requests {
        assert!(s.seq < new_count, "request {k:?} refers to entry {} beyond the log of {new_count} entries", s.seq);
    }
    for &((level, index), _) in &batch.nodes {
        assert!(
            level < 64 && (u128::from(index) + 1) << level <= u128::from(new_count),
            "Merkle node (level {level}, index {index}) ends past the log of {new_count} entries"
        );
    }
    if let Some((covered, _)) = &batch.snapshot {
        assert!(*covered <= new_count, "snapshot covers {covered} entries, the log has {new_count}");
    }
    for (size, _) in &batch.checkpoints {
        assert!(*size <= new_count, "checkpoint of tree size {size} beyond the log of {new_count} entries");
    }
}

/// Hashes the entries `from..to` until one has the leaf hash `leaf`: the lookup of last
/// resort, for stores and entries without kept leaf hashes.
pub(crate) fn find_leaf_in_entries<S: Store + ?Sized>(
    store: &S,
    leaf: &Hash,
    from: u64,
    to: u64,
) -> Result<Option<u64>> {
    for item in store.entries(from, to) {
        let (seq, bytes) = item?;
        if &leaf_hash(&bytes) == leaf {
            return Ok(Some(seq));
        }
    }
    Ok(None)
}

/// Bytes of each leaf hash a store keeps: a prefix, confirmed by hashing the entry when it
/// matches. Eight bytes make a false match about one in 2^64 per entry scanned (and one
/// costs only a hash), while keeping a quarter of the bytes a full hash would take on the
/// commit path: 8 bytes per entry next to the entry's few hundred.
pub const LEAF_PREFIX_LEN: usize = 8;

/// The kept form of a commit's leaf hashes: their prefixes, concatenated.
pub(crate) fn leaf_prefixes(hashes: &[Hash]) -> Vec<u8> {
    let mut v = Vec::with_capacity(hashes.len() * LEAF_PREFIX_LEN);
    for h in hashes {
        v.extend_from_slice(&h[..LEAF_PREFIX_LEN]);
    }
    v
}

/// Finds `leaf` below `to` in per-commit chunks of leaf-hash prefixes, given in order as
/// (first seq, concatenated prefixes). A prefix match is confirmed with `entry(seq)`,
/// which reads the entry to hash it. Entries no chunk covers (committed without leaf
/// hashes) go to `hash_range(from, to)`, which hashes the entries themselves. `to` must
/// not exceed the entry count.
pub(crate) fn scan_leaf_chunks<C: AsRef<[u8]>>(
    chunks: impl Iterator<Item = Result<(u64, C)>>,
    leaf: &Hash,
    to: u64,
    mut entry: impl FnMut(u64) -> Result<Option<Vec<u8>>>,
    mut hash_range: impl FnMut(u64, u64) -> Result<Option<u64>>,
) -> Result<Option<u64>> {
    let prefix = &leaf[..LEAF_PREFIX_LEN];
    let mut next = 0u64;
    for chunk in chunks {
        let (first, bytes) = chunk?;
        if first >= to {
            break;
        }
        if first > next
            && let Some(seq) = hash_range(next, first)?
        {
            return Ok(Some(seq));
        }
        let bytes = bytes.as_ref();
        if bytes.is_empty() || bytes.len() % LEAF_PREFIX_LEN != 0 {
            return Err(StoreError::Corrupt(format!(
                "the leaf hashes of the commit starting at entry {first} are {} bytes, not a multiple of {LEAF_PREFIX_LEN}",
                bytes.len()
            )));
        }
        let held = (bytes.len() / LEAF_PREFIX_LEN) as u64;
        let usable = held.min(to - first) as usize;
        for (i, p) in bytes[..usable * LEAF_PREFIX_LEN].chunks_exact(LEAF_PREFIX_LEN).enumerate() {
            let seq = first + i as u64;
            if p == prefix {
                let bytes = entry(seq)?
                    .ok_or_else(|| StoreError::Corrupt(format!("entry {seq} is missing below the entry count")))?;
                if &leaf_hash(&bytes) == leaf {
                    return Ok(Some(seq));
                }
            }
        }
        next = next.max(first + held);
    }
    if next < to { hash_range(next, to) } else { Ok(None) }
}

/// Bytes the sled store read: a value of sled's tree, or read from one of the store's own
/// files (the entry file, an index run file).
pub(crate) enum StoredBytes {
    Tree(sled::IVec),
    File(Vec<u8>),
}

impl std::ops::Deref for StoredBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            StoredBytes::Tree(v) => v,
            StoredBytes::File(v) => v,
        }
    }
}

/// Makes the names in directory `dir` durable (a file created or removed in it).
pub(crate) fn sync_dir(dir: &std::path::Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// The `len` bytes at `offset` of `file`, which must have the CRC-32 `crc`; the error says
/// which bytes could not be read or did not match.
pub(crate) fn read_checked(
    file: &std::fs::File,
    offset: u64,
    len: u32,
    crc: u32,
) -> std::result::Result<Vec<u8>, String> {
    let mut buf = Vec::new();
    read_checked_into(file, offset, len, crc, &mut buf)?;
    Ok(buf)
}

/// [`read_checked`] into `buf`, whose first `len` bytes it then holds (it may be longer):
/// a buffer reused from read to read is not zeroed and allocated again each time (a
/// fifth of a lookup's time in a 32 KiB index block).
pub(crate) fn read_checked_into(
    file: &std::fs::File,
    offset: u64,
    len: u32,
    crc: u32,
    buf: &mut Vec<u8>,
) -> std::result::Result<(), String> {
    use std::os::unix::fs::FileExt;
    let end = offset + u64::from(len);
    if buf.len() < len as usize {
        buf.resize(len as usize, 0);
    }
    let bytes = &mut buf[..len as usize];
    file.read_exact_at(bytes, offset).map_err(|e| format!("bytes {offset}..{end}: {e}"))?;
    if crc32fast::hash(bytes) != crc {
        return Err(format!("bytes {offset}..{end} do not match their checksum"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_match_is_confirmed_by_hashing_the_entry() {
        let entries: Vec<Vec<u8>> = (0..6u8).map(|i| vec![i; 10]).collect();
        let target = leaf_hash(&entries[4]);
        // Entry 1's kept prefix is forged to equal the target's: it must not be taken.
        let mut prefixes = leaf_prefixes(&entries.iter().map(|e| leaf_hash(e)).collect::<Vec<_>>());
        prefixes[LEAF_PREFIX_LEN..2 * LEAF_PREFIX_LEN].copy_from_slice(&target[..LEAF_PREFIX_LEN]);
        let mut confirmed = Vec::new();
        let found = scan_leaf_chunks(
            [Ok((0u64, &prefixes[..3 * LEAF_PREFIX_LEN])), Ok((3, &prefixes[3 * LEAF_PREFIX_LEN..]))].into_iter(),
            &target,
            6,
            |seq| {
                confirmed.push(seq);
                Ok(entries.get(seq as usize).cloned())
            },
            |_, _| panic!("every entry is covered"),
        );
        assert_eq!(found.unwrap(), Some(4));
        assert_eq!(confirmed, vec![1, 4]);
        // Damaged prefix values are reported, not misread.
        let bad = scan_leaf_chunks([Ok((0u64, &prefixes[..5]))].into_iter(), &target, 6, |_| Ok(None), |_, _| Ok(None));
        assert!(matches!(bad, Err(StoreError::Corrupt(_))));
    }
}
