//! The per-record memory of the ledger: which records and requests were accepted, so that
//! a retry is answered `DUPLICATE` forever and a reversal finds what it reverses.
//!
//! It grows with every record, so it is not part of the in-memory [`crate::ledger::Ledger`]
//! state: it lives behind the [`Index`] trait, which the store implements on disk (written
//! in the same atomic batch as the log entries) and [`MemIndex`] implements in memory.

use std::collections::HashMap;

use crate::codec::{DecodeError, Reader, Writer};
use crate::entry::{RecordFacts, get_facts, put_facts};
use crate::ids::Uscc;
use crate::model::RecordKind;

/// A SHA-256 of a signed payload: equal hashes mean the same bytes were resubmitted.
pub type PayloadHash = [u8; 32];

/// Identifies a record: unique per provider and record kind.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordKey {
    pub kind: RecordKind,
    pub provider: Uscc,
    pub record_id: String,
}

impl RecordKey {
    /// `kind ‖ provider ‖ record_id`: sorts by provider, so one provider's records are
    /// contiguous in an ordered store.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(1 + 18 + self.record_id.len());
        v.push(self.kind.to_byte());
        v.extend_from_slice(self.provider.as_bytes());
        v.extend_from_slice(self.record_id.as_bytes());
        v
    }
}

/// What the index keeps of an accepted record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordSummary {
    pub facts: RecordFacts,
    pub payload_hash: PayloadHash,
    /// The sequence number of the reversal, once reversed.
    pub reversed_by: Option<u64>,
}

impl RecordSummary {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        put_facts(&mut w, &self.facts);
        w.fixed(&self.payload_hash);
        match self.reversed_by {
            None => w.u8(0),
            Some(s) => w.u8(1).u64(s),
        };
        w.finish()
    }

    pub fn decode(b: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(b);
        let facts = get_facts(&mut r)?;
        let payload_hash = r.fixed("payload_hash")?;
        let reversed_by = if r.bool("reversed")? { Some(r.u64("reversed_by")?) } else { None };
        r.finish()?;
        Ok(RecordSummary { facts, payload_hash, reversed_by })
    }
}

/// Whose request ids a request id is unique among.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RequestNamespace {
    Admin,
    Finance,
    Holder(Uscc),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestKey {
    pub namespace: RequestNamespace,
    pub request_id: String,
}

impl RequestKey {
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(20 + self.request_id.len());
        match &self.namespace {
            RequestNamespace::Admin => v.push(1),
            RequestNamespace::Finance => v.push(2),
            RequestNamespace::Holder(u) => {
                v.push(3);
                v.extend_from_slice(u.as_bytes());
            }
        }
        v.extend_from_slice(self.request_id.as_bytes());
        v
    }
}

/// What the index keeps of an accepted request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestSummary {
    pub seq: u64,
    pub payload_hash: PayloadHash,
}

impl RequestSummary {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.u64(self.seq).fixed(&self.payload_hash);
        w.finish()
    }

    pub fn decode(b: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(b);
        let seq = r.u64("seq")?;
        let payload_hash = r.fixed("payload_hash")?;
        r.finish()?;
        Ok(RequestSummary { seq, payload_hash })
    }
}

/// Lookups and writes of the per-record memory. Implementations must return what was
/// put, including puts not yet durable (the current commit batch). A store that cannot
/// read its own data must panic: answering "not found" would count a record twice.
pub trait Index {
    fn record(&self, key: &RecordKey) -> Option<RecordSummary>;
    fn put_record(&mut self, key: &RecordKey, summary: &RecordSummary);
    fn request(&self, key: &RequestKey) -> Option<RequestSummary>;
    fn put_request(&mut self, key: &RequestKey, summary: &RequestSummary);
}

/// The index in memory: for tests, simulation and the offline verifier.
#[derive(Debug, Default, Clone)]
pub struct MemIndex {
    pub records: HashMap<RecordKey, RecordSummary>,
    pub requests: HashMap<RequestKey, RequestSummary>,
}

impl Index for MemIndex {
    fn record(&self, key: &RecordKey) -> Option<RecordSummary> {
        self.records.get(key).cloned()
    }
    fn put_record(&mut self, key: &RecordKey, summary: &RecordSummary) {
        self.records.insert(key.clone(), summary.clone());
    }
    fn request(&self, key: &RequestKey) -> Option<RequestSummary> {
        self.requests.get(key).copied()
    }
    fn put_request(&mut self, key: &RequestKey, summary: &RequestSummary) {
        self.requests.insert(key.clone(), *summary);
    }
}
