//! The in-memory twin of the sled store, for simulation and tests: the same checks and
//! the same visibility, in ordered maps behind one lock.
//!
//! A crash is simulated with [`MemStore::clone_committed`] (an independent copy of
//! exactly what was committed: what a restarted process would find on disk), and a
//! failing disk with [`MemStore::fail_commits`].

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use suanli_core::index::{RecordKey, RecordSummary, RequestKey, RequestSummary};
use suanli_core::merkle::leaf_hash;

use crate::{CommitBatch, Hash, NodeKey, Result, Store, StoreError};

/// Entries copied out per lock taken while iterating, so that a long export neither
/// holds the lock nor copies the whole log at once.
const ENTRIES_CHUNK_MAX: usize = 256;

#[derive(Debug, Default, Clone)]
struct Data {
    entries: Vec<Vec<u8>>,
    /// Leaf-hash prefixes per commit, by first sequence number, as the sled store keeps them.
    leaf_chunks: BTreeMap<u64, Vec<u8>>,
    records: BTreeMap<RecordKey, RecordSummary>,
    requests: BTreeMap<RequestKey, RequestSummary>,
    nodes: BTreeMap<NodeKey, Hash>,
    frontier: Option<Vec<u8>>,
    snapshot: Option<(u64, Vec<u8>)>,
    checkpoints: BTreeMap<u64, String>,
}

#[derive(Debug, Default)]
pub struct MemStore {
    data: RwLock<Data>,
    fail_commits: AtomicBool,
}

impl MemStore {
    pub fn new() -> MemStore {
        MemStore::default()
    }

    /// What a process restarted after a crash right now would find: an independent copy
    /// of every committed batch (and, since commits are atomic, nothing else).
    pub fn clone_committed(&self) -> MemStore {
        MemStore { data: RwLock::new(self.read().clone()), fail_commits: AtomicBool::new(false) }
    }

    /// While `fail` is set, every commit returns [`StoreError::Io`] and writes nothing,
    /// as a full or failing disk would.
    pub fn fail_commits(&self, fail: bool) {
        self.fail_commits.store(fail, Ordering::Release);
    }

    // A panic while the lock is held happens only before anything is changed (the batch
    // checks come first), so the data behind a poisoned lock is still consistent.
    fn read(&self) -> RwLockReadGuard<'_, Data> {
        self.data.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Data> {
        self.data.write().unwrap_or_else(|p| p.into_inner())
    }
}

impl Store for MemStore {
    fn commit(&self, batch: &CommitBatch) -> Result<()> {
        let mut d = self.write();
        if self.fail_commits.load(Ordering::Acquire) {
            return Err(StoreError::Io("commit failed (simulated)".into()));
        }
        let have = d.entries.len() as u64;
        crate::check_batch(batch, have)?;

        if let (Some((first, _)), false) = (batch.entries.first(), batch.leaf_hashes.is_empty()) {
            d.leaf_chunks.insert(*first, crate::leaf_prefixes(&batch.leaf_hashes));
        }
        d.entries.extend(batch.entries.iter().map(|(_, bytes)| bytes.clone()));
        for (k, v) in &batch.records {
            d.records.insert(k.clone(), v.clone());
        }
        for (k, v) in &batch.requests {
            d.requests.insert(k.clone(), *v);
        }
        for (k, h) in &batch.nodes {
            d.nodes.insert(*k, *h);
        }
        if !batch.frontier.is_empty() {
            d.frontier = Some(batch.frontier.clone());
        }
        if let Some(s) = &batch.snapshot {
            d.snapshot = Some(s.clone());
        }
        for (size, text) in &batch.checkpoints {
            d.checkpoints.insert(*size, text.clone());
        }
        Ok(())
    }

    fn entry_count(&self) -> Result<u64> {
        Ok(self.read().entries.len() as u64)
    }

    fn entry(&self, seq: u64) -> Result<Option<Vec<u8>>> {
        let d = self.read();
        Ok(usize::try_from(seq).ok().and_then(|i| d.entries.get(i)).cloned())
    }

    fn entries(&self, from: u64, to: u64) -> Box<dyn Iterator<Item = Result<(u64, Vec<u8>)>> + Send + '_> {
        let end = to.min(self.read().entries.len() as u64);
        Box::new(MemEntries { store: self, next: from, end, buf: VecDeque::new() })
    }

    fn record_keys(&self) -> Box<dyn Iterator<Item = Result<Vec<u8>>> + Send + '_> {
        let keys: Vec<Vec<u8>> = self.read().records.keys().map(RecordKey::encode).collect();
        Box::new(keys.into_iter().map(Ok))
    }

    fn record(&self, key: &RecordKey) -> Result<Option<RecordSummary>> {
        Ok(self.read().records.get(key).cloned())
    }

    fn request(&self, key: &RequestKey) -> Result<Option<RequestSummary>> {
        Ok(self.read().requests.get(key).copied())
    }

    fn node(&self, key: NodeKey) -> Result<Option<Hash>> {
        Ok(self.read().nodes.get(&key).copied())
    }

    fn frontier(&self) -> Result<Option<Vec<u8>>> {
        Ok(self.read().frontier.clone())
    }

    fn snapshot(&self) -> Result<Option<(u64, Vec<u8>)>> {
        Ok(self.read().snapshot.clone())
    }

    fn latest_checkpoint(&self) -> Result<Option<(u64, String)>> {
        Ok(self.read().checkpoints.last_key_value().map(|(s, t)| (*s, t.clone())))
    }

    fn checkpoint_at_or_before(&self, size: u64) -> Result<Option<(u64, String)>> {
        Ok(self.read().checkpoints.range(..=size).next_back().map(|(s, t)| (*s, t.clone())))
    }

    fn find_leaf(&self, leaf: &Hash, to: u64) -> Result<Option<u64>> {
        // One read lock for the whole scan: in memory it is short, and taking the lock
        // again inside it could wait behind a queued writer forever.
        let d = self.read();
        let to = to.min(d.entries.len() as u64);
        let chunks = d.leaf_chunks.iter().map(|(first, hashes)| Ok((*first, hashes)));
        crate::scan_leaf_chunks(
            chunks,
            leaf,
            to,
            |seq| Ok(d.entries.get(seq as usize).cloned()),
            |from, to| Ok((from..to).find(|&seq| &leaf_hash(&d.entries[seq as usize]) == leaf)),
        )
    }

    fn size_on_disk(&self) -> Result<u64> {
        Ok(0)
    }

    fn close(&self) -> Result<()> {
        Ok(())
    }
}

/// Entries `next..end`, copied out a chunk at a time. The log only grows, so a chunk
/// read later still holds the same entries.
struct MemEntries<'s> {
    store: &'s MemStore,
    next: u64,
    end: u64,
    buf: VecDeque<(u64, Vec<u8>)>,
}

impl Iterator for MemEntries<'_> {
    type Item = Result<(u64, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.buf.is_empty() && self.next < self.end {
            let d = self.store.read();
            // `end` is at most the length when the iterator was made, so these fit.
            let from = self.next as usize;
            let to = (self.end as usize).min(from + ENTRIES_CHUNK_MAX);
            self.buf.extend((from..to).map(|i| (i as u64, d.entries[i].clone())));
            self.next = to as u64;
        }
        self.buf.pop_front().map(Ok)
    }
}
