//! The bridge between the policy core's [`Index`] and a [`Store`]: reads fall through a
//! write overlay (the batch being built, not yet committed) to the store, and writes are
//! collected into the next [`CommitBatch`].
//!
//! Between the two sits an optional [`Pending`] layer: index writes of earlier rounds that
//! were handed to the committer but are not yet durable. The sequencer decides round k+1
//! while round k is being written, and round k+1 must see round k's records.
//!
//! For restart recovery it can also hide the future: a snapshot covers entries `0..s`,
//! but the store's index already holds records of later entries. Replaying entry `n`
//! must see the index as it was before `n`, so with [`LedgerIndex::set_as_of`] every
//! record or request accepted at or after `n` reads as absent, and a reversal made at or
//! after `n` reads as not yet made.

use std::cell::RefCell;
use std::sync::RwLock;

use suanli_core::index::{Index, RecordKey, RecordSummary, RequestKey, RequestSummary};

use crate::Store;
use crate::filter::KeyFilter;
use crate::writes::{WriteMap, Writes};

/// A commit's record index writes.
pub type RecordWrites = Writes<RecordKey, RecordSummary>;
/// A commit's request index writes.
pub type RequestWrites = Writes<RequestKey, RequestSummary>;
/// Record and request index writes, each in the order first written: the `records` and
/// `requests` of a [`crate::CommitBatch`].
pub type IndexWrites = (RecordWrites, RequestWrites);

/// Index writes of rounds handed to the committer and not yet durable, newest last. A
/// round's writes are the very maps its commit batch holds (shared, not copied), so adding
/// and retiring a round costs nothing per key; a lookup asks each pending round, newest
/// first (the pipeline keeps only a few rounds in flight).
#[derive(Default)]
pub struct Pending {
    rounds: RwLock<Vec<(u64, IndexWrites)>>,
}

impl Pending {
    /// Makes round `round`'s writes visible to later rounds until it is committed.
    pub fn add(&self, round: u64, records: &RecordWrites, requests: &RequestWrites) {
        if records.is_empty() && requests.is_empty() {
            return;
        }
        self.rounds.write().expect("pending lock").push((round, (records.clone(), requests.clone())));
    }

    /// Round `round` is durable: its writes are now read from the store.
    pub fn committed(&self, round: u64) {
        self.rounds.write().expect("pending lock").retain(|(r, _)| *r != round);
    }

    pub fn is_empty(&self) -> bool {
        self.rounds.read().expect("pending lock").is_empty()
    }

    fn record(&self, key: &RecordKey) -> Option<RecordSummary> {
        let rounds = self.rounds.read().expect("pending lock");
        rounds.iter().rev().find_map(|(_, (records, _))| records.get(key).cloned())
    }

    fn request(&self, key: &RequestKey) -> Option<RequestSummary> {
        let rounds = self.rounds.read().expect("pending lock");
        rounds.iter().rev().find_map(|(_, (_, requests))| requests.get(key).copied())
    }
}

pub struct LedgerIndex<'s> {
    store: &'s dyn Store,
    pending: Option<&'s Pending>,
    filter: Option<&'s RefCell<KeyFilter>>,
    records: WriteMap<RecordKey, RecordSummary>,
    requests: WriteMap<RequestKey, RequestSummary>,
    as_of: Option<u64>,
}

impl<'s> LedgerIndex<'s> {
    pub fn new(store: &'s dyn Store) -> Self {
        LedgerIndex {
            store,
            pending: None,
            filter: None,
            records: WriteMap::default(),
            requests: WriteMap::default(),
            as_of: None,
        }
    }

    /// Reads also see `pending`: writes of earlier rounds not yet committed.
    pub fn with_pending(store: &'s dyn Store, pending: &'s Pending) -> Self {
        LedgerIndex { pending: Some(pending), ..LedgerIndex::new(store) }
    }

    /// Consults `filter` before the store: a key the filter has never seen is not there.
    /// Every key put through this index is added to it.
    pub fn with_filter(mut self, filter: &'s RefCell<KeyFilter>) -> Self {
        self.filter = Some(filter);
        self
    }

    /// Replay mode: read the index as it was before entry `seq`. `None` turns it off.
    pub fn set_as_of(&mut self, seq: Option<u64>) {
        self.as_of = seq;
    }

    /// The writes collected since the last take, in order, for the commit batch.
    pub fn take_writes(&mut self) -> IndexWrites {
        (std::mem::take(&mut self.records).into(), std::mem::take(&mut self.requests).into())
    }

    /// Forgets uncommitted writes (the batch was abandoned).
    pub fn discard_writes(&mut self) {
        self.records.clear();
        self.requests.clear();
    }

    fn visible_record(&self, mut s: RecordSummary) -> Option<RecordSummary> {
        if let Some(n) = self.as_of {
            if s.facts.seq >= n {
                return None;
            }
            if s.reversed_by.is_some_and(|r| r >= n) {
                s.reversed_by = None;
            }
        }
        Some(s)
    }
}

impl Index for LedgerIndex<'_> {
    fn record(&self, key: &RecordKey) -> Option<RecordSummary> {
        if let Some(s) = self.records.get(key) {
            return self.visible_record(s.clone());
        }
        if let Some(s) = self.pending.and_then(|p| p.record(key)) {
            return self.visible_record(s);
        }
        if self.filter.is_some_and(|f| !f.borrow().may_contain_record(key)) {
            return None;
        }
        let stored = self.store.record(key).unwrap_or_else(|e| {
            panic!("cannot read the record index ({e}); stopping rather than risk counting a record twice")
        });
        stored.and_then(|s| self.visible_record(s))
    }

    fn put_record(&mut self, key: &RecordKey, summary: &RecordSummary) {
        if let Some(f) = self.filter {
            f.borrow_mut().insert_record(key);
        }
        // A key written again keeps its first place and takes the new value.
        self.records.insert(key.clone(), summary.clone());
    }

    fn request(&self, key: &RequestKey) -> Option<RequestSummary> {
        let pending = || self.pending.and_then(|p| p.request(key));
        let s = match self.requests.get(key).copied().or_else(pending) {
            Some(s) => Some(s),
            None => self.store.request(key).unwrap_or_else(|e| {
                panic!("cannot read the request index ({e}); stopping rather than risk applying a request twice")
            }),
        };
        s.filter(|s| self.as_of.is_none_or(|n| s.seq < n))
    }

    fn put_request(&mut self, key: &RequestKey, summary: &RequestSummary) {
        self.requests.insert(key.clone(), *summary);
    }
}
