//! The in-memory twin's simulation hooks: a crash copy holds exactly what was committed,
//! and a failing disk writes nothing.

mod common;

use common::*;
use suanli_store::mem::MemStore;
use suanli_store::{CommitBatch, Store, StoreError};

#[test]
fn clone_committed_is_an_independent_copy_of_the_commits() {
    let s = MemStore::new();
    let mut b = entries_batch(0, 3);
    b.records = vec![(record_key(1, "a"), record_summary(1, 1))].into();
    b.checkpoints = vec![(3, "c3".into())];
    s.commit(&b).unwrap();

    let crashed = s.clone_committed();
    s.commit(&entries_batch(3, 2)).unwrap();
    assert_eq!(crashed.entry_count().unwrap(), 3);
    assert_eq!(all_entries(&crashed), b.entries);
    assert_eq!(crashed.record(&record_key(1, "a")).unwrap(), Some(record_summary(1, 1)));
    assert_eq!(crashed.latest_checkpoint().unwrap(), Some((3, "c3".into())));

    // The copy lives on by itself, from where the original was at the crash.
    crashed.commit(&entries_batch(3, 1)).unwrap();
    assert_eq!(crashed.entry_count().unwrap(), 4);
    assert_eq!(s.entry_count().unwrap(), 5);
}

#[test]
fn failing_commits_write_nothing_until_healed() {
    let s = MemStore::new();
    s.commit(&entries_batch(0, 1)).unwrap();
    s.fail_commits(true);
    let b = CommitBatch { records: vec![(record_key(1, "a"), record_summary(1, 1))].into(), ..entries_batch(1, 1) };
    assert!(matches!(s.commit(&b), Err(StoreError::Io(_))));
    assert_eq!(s.entry_count().unwrap(), 1);
    assert_eq!(s.record(&record_key(1, "a")).unwrap(), None);
    assert_eq!(s.clone_committed().entry_count().unwrap(), 1);
    s.fail_commits(false);
    s.commit(&b).unwrap();
    assert_eq!(s.entry_count().unwrap(), 2);
}
