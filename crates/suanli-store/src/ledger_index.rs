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
use std::collections::HashMap;
use std::sync::RwLock;

use suanli_core::index::{Index, RecordKey, RecordSummary, RequestKey, RequestSummary};

use crate::Store;
use crate::filter::KeyFilter;

/// Record and request index writes, each in the order first written: the `records` and
/// `requests` of a [`crate::CommitBatch`].
pub type IndexWrites = (Vec<(RecordKey, RecordSummary)>, Vec<(RequestKey, RequestSummary)>);

/// Index writes of rounds handed to the committer and not yet durable, each tagged with its
/// round so that committing round k never removes a newer write of round k+1.
#[derive(Default)]
pub struct Pending {
    records: RwLock<HashMap<RecordKey, (u64, RecordSummary)>>,
    requests: RwLock<HashMap<RequestKey, (u64, RequestSummary)>>,
}

impl Pending {
    /// Makes round `round`'s writes visible to later rounds until it is committed.
    pub fn add(&self, round: u64, records: &[(RecordKey, RecordSummary)], requests: &[(RequestKey, RequestSummary)]) {
        if !records.is_empty() {
            let mut m = self.records.write().expect("pending lock");
            for (k, v) in records {
                m.insert(k.clone(), (round, v.clone()));
            }
        }
        if !requests.is_empty() {
            let mut m = self.requests.write().expect("pending lock");
            for (k, v) in requests {
                m.insert(k.clone(), (round, *v));
            }
        }
    }

    /// Round `round` is durable: its writes are now read from the store.
    pub fn committed(
        &self,
        round: u64,
        records: &[(RecordKey, RecordSummary)],
        requests: &[(RequestKey, RequestSummary)],
    ) {
        if !records.is_empty() {
            let mut m = self.records.write().expect("pending lock");
            for (k, _) in records {
                if m.get(k).is_some_and(|(r, _)| *r == round) {
                    m.remove(k);
                }
            }
        }
        if !requests.is_empty() {
            let mut m = self.requests.write().expect("pending lock");
            for (k, _) in requests {
                if m.get(k).is_some_and(|(r, _)| *r == round) {
                    m.remove(k);
                }
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.records.read().expect("pending lock").is_empty() && self.requests.read().expect("pending lock").is_empty()
    }
}

pub struct LedgerIndex<'s> {
    store: &'s dyn Store,
    pending: Option<&'s Pending>,
    filter: Option<&'s RefCell<KeyFilter>>,
    records: HashMap<RecordKey, RecordSummary>,
    requests: HashMap<RequestKey, RequestSummary>,
    record_order: Vec<RecordKey>,
    request_order: Vec<RequestKey>,
    as_of: Option<u64>,
}

impl<'s> LedgerIndex<'s> {
    pub fn new(store: &'s dyn Store) -> Self {
        LedgerIndex {
            store,
            pending: None,
            filter: None,
            records: HashMap::new(),
            requests: HashMap::new(),
            record_order: Vec::new(),
            request_order: Vec::new(),
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
        let mut records = Vec::with_capacity(self.record_order.len());
        for k in self.record_order.drain(..) {
            if let Some(v) = self.records.remove(&k) {
                records.push((k, v));
            }
        }
        let mut requests = Vec::with_capacity(self.request_order.len());
        for k in self.request_order.drain(..) {
            if let Some(v) = self.requests.remove(&k) {
                requests.push((k, v));
            }
        }
        (records, requests)
    }

    /// Forgets uncommitted writes (the batch was abandoned).
    pub fn discard_writes(&mut self) {
        self.records.clear();
        self.requests.clear();
        self.record_order.clear();
        self.request_order.clear();
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
        let pending =
            self.pending.and_then(|p| p.records.read().expect("pending lock").get(key).map(|(_, s)| s.clone()));
        if let Some(s) = pending {
            return self.visible_record(s);
        }
        if self.filter.is_some_and(|f| !f.borrow().may_contain(&key.encode())) {
            return None;
        }
        let stored = self.store.record(key).unwrap_or_else(|e| {
            panic!("cannot read the record index ({e}); stopping rather than risk counting a record twice")
        });
        stored.and_then(|s| self.visible_record(s))
    }

    fn put_record(&mut self, key: &RecordKey, summary: &RecordSummary) {
        if let Some(f) = self.filter {
            f.borrow_mut().insert(&key.encode());
        }
        if self.records.insert(key.clone(), summary.clone()).is_none() {
            self.record_order.push(key.clone());
        }
    }

    fn request(&self, key: &RequestKey) -> Option<RequestSummary> {
        let pending = || self.pending.and_then(|p| p.requests.read().expect("pending lock").get(key).map(|(_, s)| *s));
        let s = match self.requests.get(key).copied().or_else(pending) {
            Some(s) => Some(s),
            None => self.store.request(key).unwrap_or_else(|e| {
                panic!("cannot read the request index ({e}); stopping rather than risk applying a request twice")
            }),
        };
        s.filter(|s| self.as_of.is_none_or(|n| s.seq < n))
    }

    fn put_request(&mut self, key: &RequestKey, summary: &RequestSummary) {
        if self.requests.insert(key.clone(), *summary).is_none() {
            self.request_order.push(key.clone());
        }
    }
}
