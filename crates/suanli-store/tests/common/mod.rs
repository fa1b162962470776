//! Builders and fixtures shared by the store test suites: every suite runs against each
//! store implementation through [`for_each_store!`].

#![allow(dead_code)] // each test binary uses its own subset

use suanli_core::index::{RecordKey, RequestKey, RequestNamespace, RequestSummary};
use suanli_core::model::RecordKind;
pub use suanli_core::testkit::record_summary;
use suanli_core::testkit::uscc;
use suanli_store::mem::MemStore;
use suanli_store::sled_store::SledStore;
use suanli_store::{CommitBatch, Store};
use tempfile::TempDir;

/// A store under test, with the directory it lives in (if any) kept alive alongside.
pub struct Fixture {
    pub store: Box<dyn Store>,
    pub dir: Option<TempDir>,
}

impl std::ops::Deref for Fixture {
    type Target = dyn Store;
    fn deref(&self) -> &dyn Store {
        &*self.store
    }
}

pub fn mem() -> Fixture {
    Fixture { store: Box::new(MemStore::new()), dir: None }
}

pub fn sled() -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SledStore::open(dir.path()).expect("open a new sled store");
    Fixture { store: Box::new(store), dir: Some(dir) }
}

/// A new, empty PostgreSQL database in the test process's throwaway cluster.
pub fn pg() -> Fixture {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicUsize, Ordering};
    static CLUSTER: OnceLock<Result<suanli_store::pg_cluster::Cluster, String>> = OnceLock::new();
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let cluster = CLUSTER
        .get_or_init(|| suanli_store::pg_cluster::Cluster::start(false))
        .as_ref()
        .unwrap_or_else(|e| panic!("cannot start a throwaway PostgreSQL cluster: {e}"));
    let url = cluster.create_database(&format!("t{}", NEXT.fetch_add(1, Ordering::Relaxed))).expect("create database");
    let store = suanli_store::pg::PgStore::open(&url).expect("open a new PostgreSQL store");
    Fixture { store: Box::new(store), dir: None }
}

/// Instantiates each named `fn(&dyn Store)` as a test for every store implementation.
#[macro_export]
macro_rules! for_each_store {
    ($($name:ident),* $(,)?) => {
        mod mem_store {
            $(#[test] fn $name() { super::$name(&*super::common::mem()) })*
        }
        mod sled_store {
            $(#[test] fn $name() { super::$name(&*super::common::sled()) })*
        }
        mod pg_store {
            $(#[test] fn $name() { super::$name(&*super::common::pg()) })*
        }
    };
}

/// Entry bytes that say which entry they are, so a misplaced entry is caught.
pub fn entry_bytes(seq: u64) -> Vec<u8> {
    let mut b = format!("entry-{seq}:").into_bytes();
    b.resize(b.len() + (seq % 7) as usize * 13, (seq % 251) as u8);
    b
}

/// A batch of the entries `from..from + n`, nothing else.
pub fn entries_batch(from: u64, n: u64) -> CommitBatch {
    CommitBatch { entries: (from..from + n).map(|s| (s, entry_bytes(s))).collect(), ..CommitBatch::default() }
}

pub fn record_key(provider: u64, record_id: &str) -> RecordKey {
    RecordKey { kind: RecordKind::Usage, provider: uscc(provider), record_id: record_id.to_string() }
}

pub fn request_key(holder: Option<u64>, request_id: &str) -> RequestKey {
    RequestKey {
        namespace: match holder {
            None => RequestNamespace::Admin,
            Some(n) => RequestNamespace::Holder(uscc(n)),
        },
        request_id: request_id.to_string(),
    }
}

pub fn request_summary(seq: u64, tag: u8) -> RequestSummary {
    RequestSummary { seq, payload_hash: [tag; 32] }
}

/// Every entry of the store, in order, failing the test on any read error.
pub fn all_entries(store: &dyn Store) -> Vec<(u64, Vec<u8>)> {
    store.entries(0, u64::MAX).collect::<Result<Vec<_>, _>>().expect("read entries")
}
