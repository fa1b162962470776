//! What only the durable store promises: data survives reopening, and a store it cannot
//! trust (another schema, a count that disagrees with the log, damaged values) is refused
//! with an error that says what is wrong, never misread.

mod common;

use std::path::Path;

use common::*;
use suanli_core::index::Index;
use suanli_store::ledger_index::LedgerIndex;
use suanli_store::sled_store::SledStore;
use suanli_store::{CommitBatch, SCHEMA_VERSION, Store, StoreError};

/// Edits the raw sled tree under a closed store, as damage or another version would.
fn tamper(dir: &Path, edit: impl FnOnce(&sled::Db)) {
    // `open_raw` waits for the lock a just-dropped store's threads may still hold.
    let db = suanli_store::sled_store::open_raw(dir).expect("open raw sled");
    edit(&db);
    db.flush().expect("flush raw sled");
}

fn entry_key(seq: u64) -> Vec<u8> {
    let mut k = vec![b'e'];
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// Flips a byte in the first block of index run `id` of `family` (`b'r'` or `b'q'`), which
/// its commit appended to the entry file (the run's `E` description says where).
fn damage_run_block(dir: &Path, family: u8, id: u64) {
    let mut base = 0;
    tamper(dir, |db| {
        let mut k = vec![b'E', family];
        k.extend_from_slice(&id.to_be_bytes());
        let v = db.get(k).unwrap().expect("the run's description");
        base = u64::from_be_bytes(v[v.len() - 8..].try_into().unwrap());
    });
    let path = dir.join(suanli_store::entry_file::FILE_NAME);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[base as usize + 10] ^= 0x01;
    std::fs::write(&path, bytes).unwrap();
}

fn open_err(dir: &Path) -> StoreError {
    match SledStore::open(dir) {
        Ok(s) => panic!("expected the store to be refused, it opened: {s:?}"),
        Err(e) => e,
    }
}

/// A store with three entries, committed one at a time (so one chunk each), closed again.
fn three_entries(dir: &Path) {
    let s = SledStore::open(dir).unwrap();
    for seq in 0..3 {
        s.commit(&entries_batch(seq, 1)).unwrap();
    }
}

/// A one-entry chunk in the store's layout.
fn chunk_of(entry: &[u8]) -> Vec<u8> {
    let mut v = 1u32.to_be_bytes().to_vec();
    v.extend_from_slice(&(entry.len() as u32).to_be_bytes());
    v.extend_from_slice(entry);
    v
}

fn full_batch() -> CommitBatch {
    let mut b = entries_batch(0, 8);
    b.records = vec![(record_key(1, "r-1"), record_summary(3, 1))].into();
    b.requests = vec![(request_key(Some(2), "q-1"), request_summary(4, 2))].into();
    b.nodes = vec![((3, 0), [7; 32])];
    b.frontier = vec![1, 0, 0, 0, 0, 0, 0, 0, 8];
    b.snapshot = Some((8, b"snap".to_vec()));
    b.checkpoints = vec![(8, "cp".into())];
    b
}

#[test]
fn reopen_after_drop_gives_the_same_data() {
    let dir = tempfile::tempdir().unwrap();
    let b = full_batch();
    {
        let s = SledStore::open(dir.path()).unwrap();
        s.commit(&b).unwrap();
        assert!(s.size_on_disk().unwrap() > 0);
    }
    let s = SledStore::open(dir.path()).unwrap();
    assert_eq!(s.entry_count().unwrap(), 8);
    assert_eq!(all_entries(&s), b.entries);
    assert_eq!(s.record(&b.records[0].0).unwrap(), Some(b.records[0].1.clone()));
    assert_eq!(s.request(&b.requests[0].0).unwrap(), Some(b.requests[0].1));
    assert_eq!(s.node((3, 0)).unwrap(), Some([7; 32]));
    assert_eq!(s.frontier().unwrap(), Some(b.frontier.clone()));
    assert_eq!(s.snapshot().unwrap(), b.snapshot);
    assert_eq!(s.latest_checkpoint().unwrap(), Some((8, "cp".into())));

    // And it carries on where it stopped.
    assert!(matches!(s.commit(&entries_batch(0, 1)), Err(StoreError::OutOfOrder { have: 8, first: 0 })));
    s.commit(&entries_batch(8, 2)).unwrap();
    s.close().unwrap();
    drop(s);
    let s = SledStore::open(dir.path()).unwrap();
    assert_eq!(all_entries(&s), entries_batch(0, 10).entries);
}

#[test]
fn many_commits_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = SledStore::open(dir.path()).unwrap();
        for seq in 0..50 {
            s.commit(&entries_batch(seq, 1)).unwrap();
        }
    }
    let s = SledStore::open(dir.path()).unwrap();
    assert_eq!(s.entry_count().unwrap(), 50);
    assert_eq!(all_entries(&s), entries_batch(0, 50).entries);
}

#[test]
fn schema_is_written_and_another_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(SledStore::open(dir.path()).unwrap());
    tamper(dir.path(), |db| {
        let v = db.get("mschema").unwrap().expect("schema written on create");
        assert_eq!(v.as_ref(), SCHEMA_VERSION.to_be_bytes());
        db.insert("mschema", &(SCHEMA_VERSION + 1).to_be_bytes()[..]).unwrap();
    });
    match open_err(dir.path()) {
        StoreError::Schema { found, expected } => {
            assert_eq!((found, expected), (SCHEMA_VERSION + 1, SCHEMA_VERSION));
        }
        e => panic!("expected a schema error, got {e}"),
    }
}

#[test]
fn data_without_a_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    tamper(dir.path(), |db| {
        db.insert("something else", "x").unwrap();
    });
    assert!(matches!(open_err(dir.path()), StoreError::Corrupt(_)));
}

#[test]
fn count_beyond_the_log_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    three_entries(dir.path());
    tamper(dir.path(), |db| {
        db.insert("mcount", &5u64.to_be_bytes()[..]).unwrap();
    });
    let e = open_err(dir.path());
    assert!(matches!(&e, StoreError::Corrupt(m) if m.contains("5 entries") && m.contains("last entry is 2")), "{e}");
}

#[test]
fn entries_at_or_beyond_the_count_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    three_entries(dir.path());
    tamper(dir.path(), |db| {
        db.insert(entry_key(3), chunk_of(b"stray")).unwrap();
    });
    let e = open_err(dir.path());
    assert!(matches!(&e, StoreError::Corrupt(m) if m.contains("last entry is 3")), "{e}");
}

#[test]
fn entries_with_a_zero_count_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    three_entries(dir.path());
    tamper(dir.path(), |db| {
        db.insert("mcount", &0u64.to_be_bytes()[..]).unwrap();
    });
    assert!(matches!(open_err(dir.path()), StoreError::Corrupt(_)));
}

#[test]
fn an_empty_log_with_a_count_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    three_entries(dir.path());
    tamper(dir.path(), |db| {
        for seq in 0..3 {
            db.remove(entry_key(seq)).unwrap();
        }
    });
    let e = open_err(dir.path());
    assert!(matches!(&e, StoreError::Corrupt(m) if m.contains("log is empty")), "{e}");
}

#[test]
fn a_log_not_starting_at_zero_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    three_entries(dir.path());
    tamper(dir.path(), |db| {
        db.remove(entry_key(0)).unwrap();
    });
    let e = open_err(dir.path());
    assert!(matches!(&e, StoreError::Corrupt(m) if m.contains("starts at entry 1")), "{e}");
}

#[test]
fn a_missing_count_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    three_entries(dir.path());
    tamper(dir.path(), |db| {
        db.remove("mcount").unwrap();
    });
    assert!(matches!(open_err(dir.path()), StoreError::Corrupt(_)));
}

#[test]
fn a_gap_in_the_log_is_reported_when_read() {
    let dir = tempfile::tempdir().unwrap();
    three_entries(dir.path());
    tamper(dir.path(), |db| {
        db.remove(entry_key(1)).unwrap();
    });
    let s = SledStore::open(dir.path()).unwrap();
    let read: Vec<_> = s.entries(0, 3).collect();
    assert_eq!(read.len(), 2, "one good entry, then the error, then nothing");
    assert_eq!(read[0].as_ref().unwrap().0, 0);
    assert!(matches!(&read[1], Err(StoreError::Corrupt(m)) if m.contains("entry 1 is missing")));
    assert!(matches!(s.entry(1), Err(StoreError::Corrupt(_))));
    // A gap at the end of a range is reported too, not read as a short log.
    let read: Vec<_> = s.entries(1, 2).collect();
    assert!(matches!(read.as_slice(), [Err(StoreError::Corrupt(_))]));
}

#[test]
fn damaged_values_are_reported_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let b = full_batch();
    {
        let s = SledStore::open(dir.path()).unwrap();
        s.commit(&b).unwrap();
    }
    tamper(dir.path(), |db| {
        for (k, _) in db.iter().map(Result::unwrap) {
            // `x`: the blocks of index runs of stores before schema 3 (there are none here).
            if matches!(k[0], b'r' | b'q' | b'n' | b'x') {
                db.insert(&k, &b"junk"[..]).unwrap();
            }
            if k[0] == b'c' {
                db.insert(&k, &[0xff, 0xfe][..]).unwrap();
            }
        }
        // The snapshot's head (its pieces' count and length; before, the whole snapshot was
        // one `msnapshot` value).
        db.insert("msnapshot-head", &[1u8, 2][..]).unwrap();
    });
    // The blocks of the record and request index runs, in the entry file.
    damage_run_block(dir.path(), b'r', 0);
    damage_run_block(dir.path(), b'q', 1);
    let s = SledStore::open(dir.path()).unwrap();
    let corrupt = |r: Result<(), StoreError>, names: &str| match r {
        Err(StoreError::Corrupt(m)) => assert!(m.contains(names), "{m:?} should name {names:?}"),
        other => panic!("expected Corrupt naming {names:?}, got {other:?}"),
    };
    corrupt(s.record(&b.records[0].0).map(drop), "record index run 0 block 0 (x/72");
    corrupt(s.request(&b.requests[0].0).map(drop), "request index run 1 block 0 (x/71");
    corrupt(s.node((3, 0)).map(drop), "n/03");
    corrupt(s.snapshot().map(drop), "snapshot");
    corrupt(s.latest_checkpoint().map(drop), "c/0000000000000008");
    corrupt(s.checkpoint_at_or_before(9).map(drop), "c/0000000000000008");
}

/// The index bridge must stop rather than answer "not found" when the store cannot be
/// read: a wrong "not found" would count a record twice.
#[test]
#[should_panic(expected = "cannot read the record index")]
fn ledger_index_panics_on_an_unreadable_record() {
    let dir = tempfile::tempdir().unwrap();
    let b = full_batch();
    {
        let s = SledStore::open(dir.path()).unwrap();
        s.commit(&b).unwrap();
    }
    // The one block of the record index run (run 0).
    damage_run_block(dir.path(), b'r', 0);
    let s = SledStore::open(dir.path()).unwrap();
    let idx = LedgerIndex::new(&s);
    let _ = idx.record(&b.records[0].0);
}

#[test]
fn a_second_open_of_the_same_directory_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let _first = SledStore::open(dir.path()).unwrap();
    let lock_wait = std::time::Duration::from_millis(200);
    match SledStore::open_with(dir.path(), suanli_store::sled_store::CACHE_CAPACITY_BYTES, lock_wait) {
        Err(StoreError::Io(e)) => assert!(e.contains("could not acquire lock"), "{e}"),
        other => panic!("a second open while the first is held: {other:?}"),
    }
}

#[test]
fn an_open_waits_for_a_lock_that_is_let_go() {
    // The open starts while another handle holds sled's lock, the way a store dropped a
    // moment ago still does; it goes on once the lock is let go, instead of failing.
    let dir = tempfile::tempdir().unwrap();
    three_entries(dir.path());
    let held = suanli_store::sled_store::open_raw(dir.path()).unwrap();
    let (started, waiting) = std::sync::mpsc::channel();
    let path = dir.path().to_path_buf();
    let opener = std::thread::spawn(move || {
        started.send(()).unwrap();
        SledStore::open(&path)
    });
    waiting.recv().unwrap();
    // However long the opener takes to get going, it meets the lock held or let go; either
    // way it must open.
    std::thread::sleep(std::time::Duration::from_millis(100));
    drop(held);
    let s = opener.join().unwrap().expect("the open waits for the lock");
    assert_eq!(s.entry_count().unwrap(), 3);
}

/// Writes a file named as sled names a snapshot it has begun and not yet renamed into
/// place, holding `bytes`.
fn unfinished_snapshot(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::write(dir.join(name), bytes).unwrap();
}

#[test]
fn a_snapshot_left_half_written_by_a_kill_does_not_stop_the_open() {
    // sled reads the last `snap.*` file in sorted order, unfinished ones included; a kill
    // while it wrote one left the store unopenable ("sled found corruption at None").
    let dir = tempfile::tempdir().unwrap();
    three_entries(dir.path());
    // Names that sort after any real snapshot: one too short to hold a checksum, one long
    // enough that sled checks its checksum, and fails it.
    unfinished_snapshot(dir.path(), "snap.FFFFFFFFFFFFFFFE.generating", b"half");
    unfinished_snapshot(dir.path(), "snap.FFFFFFFFFFFFFFFF.generating", &[7u8; 4096]);
    let s = SledStore::open(dir.path()).expect("the open removes the unfinished snapshots");
    assert_eq!(all_entries(&s), entries_batch(0, 3).entries);
    s.commit(&entries_batch(3, 2)).unwrap();
    drop(s);
    let left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".generating"))
        .collect();
    assert!(left.is_empty(), "unfinished snapshots left behind: {left:?}");
    let s = SledStore::open(dir.path()).unwrap();
    assert_eq!(all_entries(&s), entries_batch(0, 5).entries);

    // A store damaged otherwise is still refused, with nothing of it removed.
    drop(s);
    let snapshots: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("snap."))
        .collect();
    assert!(!snapshots.is_empty(), "sled wrote a snapshot");
    for p in &snapshots {
        std::fs::write(p, b"damaged").unwrap();
    }
    assert!(matches!(open_err(dir.path()), StoreError::Corrupt(_)));
    for p in &snapshots {
        assert!(p.exists(), "{} was removed", p.display());
    }
}

/// Waits (by polling the store, not for a set time) until `done`, for at most a minute.
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// Many commits make many index runs; background merges fold them together, and every
/// record (including rewrites, the newest value) is still found, also after reopening.
#[test]
fn index_runs_are_merged_and_nothing_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    const COMMITS: u64 = 70;
    const PER: u64 = 40;
    let key = |i: u64| record_key(i % 7, &format!("rec-{i}"));
    {
        let s = SledStore::open(dir.path()).unwrap();
        for c in 0..COMMITS {
            let mut b = entries_batch(c * PER, PER);
            // Every commit also rewrites record 0, as a reversal would.
            b.records = (c * PER..(c + 1) * PER)
                .map(|i| (key(i), record_summary(i, 1)))
                .chain([(key(0), record_summary(0, (c % 200) as u8 + 2))])
                .collect();
            b.requests = vec![(request_key(Some(c % 3), &format!("q{c}")), request_summary(c * PER, 4))].into();
            s.commit(&b).unwrap();
        }
        wait_until("the runs are merged", || {
            let runs = s.index_runs().expect("sled reports its runs");
            runs.records < 8 && runs.requests < 8
        });
        assert_eq!(s.record(&key(0)).unwrap(), Some(record_summary(0, ((COMMITS - 1) % 200) as u8 + 2)));
        for i in 1..COMMITS * PER {
            assert_eq!(s.record(&key(i)).unwrap(), Some(record_summary(i, 1)), "record {i}");
        }
        // Every key is listed; record 0, rewritten by every commit, may be listed once per
        // run not yet merged (the listing rebuilds a filter, where that changes nothing).
        let listed: Vec<Vec<u8>> = s.record_keys().map(|k| k.unwrap()).collect();
        let distinct: std::collections::HashSet<&Vec<u8>> = listed.iter().collect();
        assert_eq!(distinct.len() as u64, COMMITS * PER);
        assert!(listed.len() as u64 <= COMMITS * PER + COMMITS);
        assert!((0..COMMITS * PER).all(|i| distinct.contains(&key(i).encode())));
    }
    let s = SledStore::open(dir.path()).unwrap();
    for i in (1..COMMITS * PER).step_by(13) {
        assert_eq!(s.record(&key(i)).unwrap(), Some(record_summary(i, 1)), "record {i} after reopening");
    }
    for c in 0..COMMITS {
        assert_eq!(s.request(&request_key(Some(c % 3), &format!("q{c}"))).unwrap(), Some(request_summary(c * PER, 4)));
    }
    assert_eq!(s.record(&record_key(0, "rec-1")).unwrap(), None);
}

/// A store written by schema 1 (one sled key per record and request) opens, is marked
/// schema 2, and its index is still read, under what is written since.
#[test]
fn a_schema_1_store_is_read_and_upgraded() {
    let dir = tempfile::tempdir().unwrap();
    three_entries(dir.path());
    let old = record_key(1, "old");
    let old_request = request_key(None, "old-q");
    tamper(dir.path(), |db| {
        db.insert("mschema", &1u32.to_be_bytes()[..]).unwrap();
        for k in ["mruns", "mnextrun"] {
            db.remove(k).unwrap();
        }
        let mut k = vec![b'r'];
        k.extend_from_slice(&old.encode());
        db.insert(k, record_summary(1, 5).encode()).unwrap();
        let mut k = vec![b'q'];
        k.extend_from_slice(&old_request.encode());
        db.insert(k, request_summary(2, 6).encode()).unwrap();
    });
    {
        let s = SledStore::open(dir.path()).unwrap();
        assert_eq!(s.record(&old).unwrap(), Some(record_summary(1, 5)));
        assert_eq!(s.request(&old_request).unwrap(), Some(request_summary(2, 6)));
        // A reversal written now is found in place of the old summary.
        let mut reversed = record_summary(1, 5);
        reversed.reversed_by = Some(3);
        let mut b = entries_batch(3, 1);
        b.records = vec![(old.clone(), reversed.clone()), (record_key(2, "new"), record_summary(3, 1))].into();
        s.commit(&b).unwrap();
        assert_eq!(s.record(&old).unwrap(), Some(reversed));
        let mut keys: Vec<Vec<u8>> = s.record_keys().map(Result::unwrap).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), 2);
    }
    tamper(dir.path(), |db| {
        assert_eq!(db.get("mschema").unwrap().unwrap().as_ref(), SCHEMA_VERSION.to_be_bytes());
    });
}

/// What an interrupted merge leaves (blocks under a marked run id that no catalog names)
/// is deleted when the store opens, and a catalog naming a run without its description
/// is refused.
#[test]
fn leftovers_of_an_interrupted_merge_are_deleted_and_a_broken_catalog_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = SledStore::open(dir.path()).unwrap();
        let mut b = entries_batch(0, 1);
        b.records = vec![(record_key(1, "a"), record_summary(0, 1))].into();
        s.commit(&b).unwrap();
    }
    let stray = |db: &sled::Db| {
        let mut k = vec![b'x', b'r'];
        k.extend_from_slice(&77u64.to_be_bytes());
        k.extend_from_slice(&0u32.to_be_bytes());
        db.get(k).unwrap()
    };
    tamper(dir.path(), |db| {
        let mut k = vec![b'x', b'r'];
        k.extend_from_slice(&77u64.to_be_bytes());
        k.extend_from_slice(&0u32.to_be_bytes());
        db.insert(k, &b"half-written"[..]).unwrap();
        let mut g = vec![b'g', b'r'];
        g.extend_from_slice(&77u64.to_be_bytes());
        db.insert(g, &[][..]).unwrap();
    });
    {
        let s = SledStore::open(dir.path()).unwrap();
        assert_eq!(s.record(&record_key(1, "a")).unwrap(), Some(record_summary(0, 1)));
    }
    tamper(dir.path(), |db| {
        assert!(stray(db).is_none(), "the interrupted merge's block was deleted");
        assert_eq!(db.scan_prefix("g").count(), 0);
        let mut f = vec![b'E', b'r'];
        f.extend_from_slice(&0u64.to_be_bytes());
        assert!(db.remove(f).unwrap().is_some(), "the run's description was there");
    });
    let e = open_err(dir.path());
    assert!(matches!(&e, StoreError::Corrupt(m) if m.contains("record index run 0 description")), "{e}");
}

/// Files in sled's blob directory: sled writes large log messages there and never fsyncs
/// them (sled issue #1077), so a durable store must leave it empty.
fn blob_files(dir: &Path) -> Vec<String> {
    match std::fs::read_dir(dir.join("blobs")) {
        Ok(files) => files.map(|f| f.unwrap().file_name().to_string_lossy().into_owned()).collect(),
        Err(_) => Vec::new(),
    }
}

#[test]
fn large_commits_and_snapshots_stay_in_the_synced_log() {
    use suanli_store::sled_store::{ENTRY_CHUNK_BYTES, SEGMENT_BYTES, SNAPSHOT_PIECE_BYTES};
    let dir = tempfile::tempdir().unwrap();
    // Entries of about 600 bytes, as single-signed usage entries are, in commits of 8,192
    // (the sequencer's largest round): about 5 MiB each, and a leaf node's worth of chunks.
    let entry = |seq: u64| {
        let mut b = entry_bytes(seq);
        b.resize(600, b'.');
        b
    };
    let commit = |s: &SledStore, from: u64, n: u64, snapshot: Option<Vec<u8>>| {
        let entries: Vec<(u64, Vec<u8>)> = (from..from + n).map(|q| (q, entry(q))).collect();
        let leaf_hashes = entries.iter().map(|(_, e)| suanli_core::merkle::leaf_hash(e)).collect();
        let snapshot = snapshot.map(|b| (from + n, b));
        s.commit(&CommitBatch { entries, leaf_hashes, snapshot, ..CommitBatch::default() }).unwrap();
    };
    let big_snapshot: Vec<u8> = (0..5 * SNAPSHOT_PIECE_BYTES as u32 + 123).map(|i| (i % 253) as u8).collect();
    let small_snapshot = b"a snapshot of one piece".to_vec();
    {
        let s = SledStore::open(dir.path()).unwrap();
        assert_eq!(s.segment_bytes(), SEGMENT_BYTES);
        for c in 0..6u64 {
            let snapshot = match c {
                2 => Some(big_snapshot.clone()),
                _ => None,
            };
            commit(&s, c * 8192, 8192, snapshot);
        }
        assert_eq!(s.snapshot().unwrap(), Some((3 * 8192, big_snapshot.clone())));
        commit(&s, 6 * 8192, 10, Some(small_snapshot.clone()));
        assert!(s.entry(3 * 8192 + 5).unwrap().unwrap() == entry(3 * 8192 + 5));
        assert_eq!(blob_files(dir.path()), Vec::<String>::new(), "values went to unsynced blob files");
    }
    let s = SledStore::open(dir.path()).unwrap();
    let n = 6 * 8192 + 10;
    assert_eq!(s.entry_count().unwrap(), n);
    let all = all_entries(&s);
    assert_eq!(all.len() as u64, n);
    assert!(all.iter().all(|(q, e)| *e == entry(*q)), "every entry reads back as written");
    assert_eq!(s.snapshot().unwrap(), Some((n, small_snapshot)));
    // Every entry is found by its leaf hash, whichever chunk of its commit holds it.
    for q in [0, 8191, 8192, 3 * 8192 + 4000, n - 1] {
        assert_eq!(s.find_leaf(&suanli_core::merkle::leaf_hash(&entry(q)), n).unwrap(), Some(q));
    }
    drop(s);
    // The chunks are cut near ENTRY_CHUNK_BYTES, and the smaller snapshot left no stale piece.
    tamper(dir.path(), |db| {
        let chunks: Vec<u32> =
            db.scan_prefix(b"e").map(|kv| u32::from_be_bytes(kv.unwrap().1[12..16].try_into().unwrap())).collect();
        assert!(chunks.len() > 6 * 8192 * 600 / ENTRY_CHUNK_BYTES, "{} chunks", chunks.len());
        assert!(chunks.iter().all(|len| (*len as usize) < ENTRY_CHUNK_BYTES + 4096), "{chunks:?}");
        assert_eq!(db.scan_prefix(b"p").count(), 1, "one snapshot piece");
        assert!(db.get(b"msnapshot").unwrap().is_none());
    });
    assert_eq!(blob_files(dir.path()), Vec::<String>::new());
}

fn entry_file(dir: &Path) -> std::path::PathBuf {
    dir.join(suanli_store::entry_file::FILE_NAME)
}

#[test]
fn entries_live_in_the_entry_file_and_a_torn_tail_is_cut_at_reopen() {
    let dir = tempfile::tempdir().unwrap();
    three_entries(dir.path());
    let len = std::fs::metadata(entry_file(dir.path())).unwrap().len();
    assert_eq!(len, (0..3).map(|q| 4 + 4 + entry_bytes(q).len() as u64).sum::<u64>(), "three one-entry chunks");
    // A commit that wrote its chunks and crashed before its sled batch was durable.
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().append(true).open(entry_file(dir.path())).unwrap();
        f.write_all(b"the chunks of a commit that never finished").unwrap();
    }
    let s = SledStore::open(dir.path()).unwrap();
    assert_eq!(std::fs::metadata(entry_file(dir.path())).unwrap().len(), len, "the torn tail is cut");
    assert_eq!(all_entries(&s), entries_batch(0, 3).entries);
    s.commit(&entries_batch(3, 4)).unwrap();
    drop(s);
    let s = SledStore::open(dir.path()).unwrap();
    assert_eq!(all_entries(&s), entries_batch(0, 7).entries);
}

#[test]
fn a_damaged_or_short_entry_file_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    three_entries(dir.path());
    // One byte of the second chunk flipped: its checksum names it when read.
    let mut bytes = std::fs::read(entry_file(dir.path())).unwrap();
    let second = 4 + 4 + entry_bytes(0).len() + 9;
    bytes[second] ^= 0x20;
    std::fs::write(entry_file(dir.path()), &bytes).unwrap();
    let s = SledStore::open(dir.path()).unwrap();
    assert_eq!(s.entry(0).unwrap(), Some(entry_bytes(0)));
    match s.entry(1) {
        Err(StoreError::Corrupt(m)) => assert!(m.contains("entry 1") && m.contains("checksum"), "{m}"),
        other => panic!("expected the damaged chunk to be reported, got {other:?}"),
    }
    drop(s);
    // A file shorter than the chunks the tree points to: refused at open, not truncated further.
    std::fs::write(entry_file(dir.path()), &bytes[..bytes.len() - 1]).unwrap();
    match open_err(dir.path()) {
        StoreError::Corrupt(m) => assert!(m.contains("entry 2") && m.contains("entry file ends"), "{m}"),
        other => panic!("expected Corrupt, got {other:?}"),
    }
    assert_eq!(std::fs::metadata(entry_file(dir.path())).unwrap().len() as usize, bytes.len() - 1);
}

#[test]
fn chunks_stored_in_the_tree_by_older_stores_are_read_and_followed() {
    let dir = tempfile::tempdir().unwrap();
    three_entries(dir.path());
    // As a store made before the entry file: each chunk is the value itself, and no end of
    // the entry file is recorded.
    tamper(dir.path(), |db| {
        for q in 0..3 {
            db.insert(entry_key(q), chunk_of(&entry_bytes(q))).unwrap();
        }
        db.remove("mfileend").unwrap();
    });
    std::fs::remove_file(entry_file(dir.path())).unwrap();
    let s = SledStore::open(dir.path()).unwrap();
    assert_eq!(all_entries(&s), entries_batch(0, 3).entries);
    s.commit(&entries_batch(3, 2)).unwrap();
    drop(s);
    let s = SledStore::open(dir.path()).unwrap();
    assert_eq!(all_entries(&s), entries_batch(0, 5).entries);
    assert_eq!(s.entry(4).unwrap(), Some(entry_bytes(4)));
}

/// The index mergers run below normal priority, so that a merge never takes a core from
/// the threads an acknowledgement waits for (`runs::MERGER_NICE`).
#[cfg(target_os = "linux")]
#[test]
fn index_mergers_run_at_lower_priority() {
    // A thread's (name, nice) from its `stat` line: the fields after the ")" that ends
    // the name start with field 3 (state), and the nice value is field 19.
    fn name_and_nice(stat: &str) -> Option<(String, i32)> {
        let (open, close) = (stat.find('(')?, stat.rfind(')')?);
        let nice = stat[close + 1..].split_whitespace().nth(19 - 3)?.parse().ok()?;
        Some((stat[open + 1..close].to_string(), nice))
    }
    fn threads() -> Vec<(String, i32)> {
        std::fs::read_dir("/proc/self/task")
            .unwrap()
            .flatten()
            .filter_map(|task| name_and_nice(&std::fs::read_to_string(task.path().join("stat")).ok()?))
            .collect()
    }
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    // A merger sets its priority as it starts: wait for that (other tests' stores may have
    // mergers of their own here, at the same priority).
    wait_until("every index merger runs at MERGER_NICE", || {
        let mergers: Vec<i32> =
            threads().into_iter().filter(|(name, _)| name.starts_with("sled-index-merg")).map(|(_, n)| n).collect();
        mergers.len() >= suanli_store::runs::MERGERS && mergers.iter().all(|&n| n == suanli_store::runs::MERGER_NICE)
    });
    // Everything else keeps normal priority: the backlog merger, and this test's thread.
    assert!(threads().iter().any(|(name, nice)| name.starts_with("sled-index-back") && *nice == 0));
    let me = name_and_nice(&std::fs::read_to_string("/proc/thread-self/stat").unwrap()).unwrap();
    assert_eq!(me.1, 0, "{me:?}");
    drop(store);
}

#[test]
fn record_facts_live_in_the_entry_file_and_are_checked_when_read() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = (record_key(1, "r-1"), record_key(1, "r-2"));
    let facts_at: usize;
    let mut reversed = record_summary(1, 4);
    reversed.reversed_by = Some(2);
    {
        let s = SledStore::open(dir.path()).unwrap();
        let mut b = entries_batch(0, 2);
        b.records = vec![(first.clone(), record_summary(1, 4))].into();
        s.commit(&b).unwrap();
        let mut b = entries_batch(2, 1);
        b.records = vec![(first.clone(), reversed.clone())].into();
        s.commit(&b).unwrap();
        // A commit of index writes alone appends only facts (and its run): its end is
        // recorded too.
        let before = std::fs::metadata(entry_file(dir.path())).unwrap().len();
        facts_at = before as usize;
        s.commit(&CommitBatch { records: vec![(second.clone(), record_summary(0, 6))].into(), ..Default::default() })
            .unwrap();
        assert!(std::fs::metadata(entry_file(dir.path())).unwrap().len() > before, "the facts went to the file");
        assert_eq!(s.record(&first).unwrap(), Some(reversed.clone()));
        assert_eq!(s.record(&second).unwrap(), Some(record_summary(0, 6)));
    }
    let len = std::fs::metadata(entry_file(dir.path())).unwrap().len();
    // A crash after the file write of a commit whose sled batch never became durable.
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().append(true).open(entry_file(dir.path())).unwrap();
        f.write_all(b"facts of a commit that never finished").unwrap();
    }
    {
        let s = SledStore::open(dir.path()).unwrap();
        assert_eq!(std::fs::metadata(entry_file(dir.path())).unwrap().len(), len, "the torn tail is cut, no further");
        assert_eq!(s.record(&first).unwrap(), Some(reversed.clone()));
        assert_eq!(s.record(&second).unwrap(), Some(record_summary(0, 6)));
        assert_eq!(all_entries(&s), entries_batch(0, 3).entries);
    }
    // A flipped byte in the last commit's facts (they come first in its bytes): that record
    // is reported as damaged, not misread.
    let mut bytes = std::fs::read(entry_file(dir.path())).unwrap();
    bytes[facts_at + 40] ^= 0x10;
    std::fs::write(entry_file(dir.path()), &bytes).unwrap();
    {
        let s = SledStore::open(dir.path()).unwrap();
        match s.record(&second) {
            Err(StoreError::Corrupt(m)) => assert!(m.contains("record index") && m.contains("checksum"), "{m}"),
            other => panic!("expected the damaged facts to be reported, got {other:?}"),
        }
        assert_eq!(s.record(&first).unwrap(), Some(reversed));
    }
    // A file cut short of the recorded end: refused at open.
    std::fs::write(entry_file(dir.path()), &bytes[..bytes.len() - 1]).unwrap();
    match open_err(dir.path()) {
        StoreError::Corrupt(m) => assert!(m.contains("fileend") && m.contains("entry file ends"), "{m}"),
        other => panic!("expected Corrupt, got {other:?}"),
    }
}
