//! The store contract, run against every implementation: what one store does, the other
//! must do too, so simulations on the in-memory twin say something about the sled store.

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};

use common::*;
use suanli_core::merkle::leaf_hash;
use suanli_store::{CommitBatch, Store, StoreError};

for_each_store!(
    empty_store,
    empty_batch_changes_nothing,
    commit_and_read_back_everything,
    later_record_write_replaces_earlier,
    later_request_write_replaces_earlier,
    out_of_order_commit_is_refused_and_changes_nothing,
    entry_ranges,
    checkpoint_boundaries,
    checkpoint_at_tree_size_zero,
    frontier_and_snapshot_keep_the_latest,
    large_batch,
    many_small_batches,
    batch_past_the_log_panics_before_writing,
    readers_see_whole_batches_only,
    record_keys_list_every_record_once,
    find_leaf_finds_every_entry_below_the_bound,
    find_leaf_hashes_entries_committed_without_leaf_hashes,
);

/// `entries_batch` with the leaf hash of each entry, as the sequencer commits it.
fn hashed_batch(from: u64, n: u64) -> CommitBatch {
    let mut b = entries_batch(from, n);
    b.leaf_hashes = b.entries.iter().map(|(_, bytes)| leaf_hash(bytes)).collect();
    b
}

fn find_leaf_finds_every_entry_below_the_bound(s: &dyn Store) {
    assert_eq!(s.find_leaf(&leaf_hash(&entry_bytes(0)), u64::MAX).unwrap(), None);
    // Commits of different sizes, so lookups cross chunk boundaries.
    let mut next = 0;
    for n in [1, 3, 1, 16, 7, 100, 2] {
        s.commit(&hashed_batch(next, n)).unwrap();
        next += n;
    }
    for seq in 0..next {
        let h = leaf_hash(&entry_bytes(seq));
        assert_eq!(s.find_leaf(&h, u64::MAX).unwrap(), Some(seq), "entry {seq}");
        assert_eq!(s.find_leaf(&h, seq + 1).unwrap(), Some(seq));
        // Only entries below the bound count: a proof for a smaller tree cannot use it.
        assert_eq!(s.find_leaf(&h, seq).unwrap(), None);
    }
    assert_eq!(s.find_leaf(&leaf_hash(&entry_bytes(next)), u64::MAX).unwrap(), None);
    assert_eq!(s.find_leaf(&[7; 32], u64::MAX).unwrap(), None);
    // Bytes are not their own leaf hash: the 0x00 prefix is part of it.
    let raw: [u8; 32] = entry_bytes(3)[..32].try_into().unwrap_or([0; 32]);
    assert_eq!(s.find_leaf(&raw, u64::MAX).unwrap(), None);
}

fn find_leaf_hashes_entries_committed_without_leaf_hashes(s: &dyn Store) {
    // A store written before leaf hashes were kept, then appended to with them.
    s.commit(&entries_batch(0, 5)).unwrap();
    s.commit(&hashed_batch(5, 5)).unwrap();
    s.commit(&entries_batch(10, 3)).unwrap();
    s.commit(&hashed_batch(13, 2)).unwrap();
    for seq in 0..15 {
        assert_eq!(s.find_leaf(&leaf_hash(&entry_bytes(seq)), 15).unwrap(), Some(seq), "entry {seq}");
        assert_eq!(s.find_leaf(&leaf_hash(&entry_bytes(seq)), seq).unwrap(), None);
    }
    assert_eq!(s.find_leaf(&[0; 32], u64::MAX).unwrap(), None);
}

fn record_keys_list_every_record_once(s: &dyn Store) {
    assert_eq!(s.record_keys().count(), 0);
    let mut b = entries_batch(0, 3);
    b.records = vec![
        (record_key(1, "a"), record_summary(0, 1)),
        (record_key(2, "a"), record_summary(1, 2)),
        (record_key(1, "a"), record_summary(2, 3)),
    ]
    .into();
    s.commit(&b).unwrap();
    let mut keys: Vec<Vec<u8>> = s.record_keys().map(|k| k.unwrap()).collect();
    keys.sort();
    let mut want = vec![record_key(1, "a").encode(), record_key(2, "a").encode()];
    want.sort();
    assert_eq!(keys, want);
}

fn empty_store(s: &dyn Store) {
    assert_eq!(s.entry_count().unwrap(), 0);
    assert_eq!(s.entry(0).unwrap(), None);
    assert_eq!(s.entry(u64::MAX).unwrap(), None);
    assert!(all_entries(s).is_empty());
    assert_eq!(s.record(&record_key(1, "r-1")).unwrap(), None);
    assert_eq!(s.request(&request_key(None, "q-1")).unwrap(), None);
    assert_eq!(s.node((0, 0)).unwrap(), None);
    assert_eq!(s.frontier().unwrap(), None);
    assert_eq!(s.snapshot().unwrap(), None);
    assert_eq!(s.latest_checkpoint().unwrap(), None);
    assert_eq!(s.checkpoint_at_or_before(0).unwrap(), None);
    assert_eq!(s.checkpoint_at_or_before(u64::MAX).unwrap(), None);
    s.close().unwrap();
}

fn empty_batch_changes_nothing(s: &dyn Store) {
    s.commit(&entries_batch(0, 2)).unwrap();
    assert!(CommitBatch::default().is_empty());
    s.commit(&CommitBatch::default()).unwrap();
    assert_eq!(s.entry_count().unwrap(), 2);
    assert_eq!(all_entries(s).len(), 2);
    assert_eq!(s.frontier().unwrap(), None);
}

fn commit_and_read_back_everything(s: &dyn Store) {
    let mut b = entries_batch(0, 16);
    b.records = vec![(record_key(1, "r-1"), record_summary(3, 1)), (record_key(2, "r-2"), record_summary(7, 2))].into();
    b.requests = vec![
        (request_key(None, "admin-1"), request_summary(0, 9)),
        (request_key(Some(4), "h-1"), request_summary(15, 8)),
    ]
    .into();
    b.nodes = vec![((0, 5), [5; 32]), ((3, 1), [31; 32]), ((4, 0), [40; 32])];
    b.frontier = vec![1, 2, 3];
    b.snapshot = Some((16, b"state".to_vec()));
    b.checkpoints = vec![(16, "note 16\n".into()), (8, "note 8\n".into())];
    s.commit(&b).unwrap();

    assert_eq!(s.entry_count().unwrap(), 16);
    assert_eq!(all_entries(s), b.entries);
    for (seq, bytes) in &b.entries {
        assert_eq!(s.entry(*seq).unwrap().as_ref(), Some(bytes));
    }
    assert_eq!(s.entry(16).unwrap(), None);
    for (k, v) in &b.records {
        assert_eq!(s.record(k).unwrap().as_ref(), Some(v));
    }
    assert_eq!(s.record(&record_key(1, "r-2")).unwrap(), None);
    for (k, v) in &b.requests {
        assert_eq!(s.request(k).unwrap().as_ref(), Some(v));
    }
    // The same request id in another namespace is another request.
    assert_eq!(s.request(&request_key(Some(4), "admin-1")).unwrap(), None);
    for (k, h) in &b.nodes {
        assert_eq!(s.node(*k).unwrap(), Some(*h));
    }
    assert_eq!(s.node((0, 6)).unwrap(), None);
    assert_eq!(s.node((1, 5)).unwrap(), None);
    assert_eq!(s.frontier().unwrap(), Some(vec![1, 2, 3]));
    assert_eq!(s.snapshot().unwrap(), Some((16, b"state".to_vec())));
    assert_eq!(s.latest_checkpoint().unwrap(), Some((16, "note 16\n".into())));
    assert_eq!(s.checkpoint_at_or_before(15).unwrap(), Some((8, "note 8\n".into())));
}

fn later_record_write_replaces_earlier(s: &dyn Store) {
    let key = record_key(1, "r-1");
    let mut b = entries_batch(0, 3);
    b.records = vec![(key.clone(), record_summary(1, 1)), (key.clone(), record_summary(2, 2))].into();
    s.commit(&b).unwrap();
    assert_eq!(s.record(&key).unwrap(), Some(record_summary(2, 2)));

    // The reversal arrives in a later batch and marks the summary.
    let mut reversed = record_summary(2, 2);
    reversed.reversed_by = Some(3);
    let mut b = entries_batch(3, 1);
    b.records = vec![(key.clone(), reversed.clone())].into();
    s.commit(&b).unwrap();
    assert_eq!(s.record(&key).unwrap(), Some(reversed));
}

fn later_request_write_replaces_earlier(s: &dyn Store) {
    let key = request_key(Some(9), "q");
    let mut b = entries_batch(0, 2);
    b.requests = vec![(key.clone(), request_summary(0, 1)), (key.clone(), request_summary(1, 2))].into();
    s.commit(&b).unwrap();
    assert_eq!(s.request(&key).unwrap(), Some(request_summary(1, 2)));
}

fn out_of_order_commit_is_refused_and_changes_nothing(s: &dyn Store) {
    s.commit(&entries_batch(0, 3)).unwrap();
    let with_extras = |mut b: CommitBatch| {
        b.records = vec![(record_key(1, "x"), record_summary(0, 1))].into();
        b.requests = vec![(request_key(None, "x"), request_summary(0, 1))].into();
        b.nodes = vec![((0, 0), [1; 32])];
        b.frontier = vec![9];
        b.snapshot = Some((1, vec![1]));
        b.checkpoints = vec![(1, "x".into())];
        b
    };
    let mut gap = entries_batch(3, 3);
    gap.entries[1].0 = 5;
    let mut repeat = entries_batch(3, 3);
    repeat.entries[2].0 = 4;
    let cases = [
        (entries_batch(4, 2), 3, 4),
        (entries_batch(2, 2), 3, 2),
        (entries_batch(0, 1), 3, 0),
        (gap, 4, 5),
        (repeat, 5, 4),
    ];
    for (bad, have, first) in cases {
        match s.commit(&with_extras(bad)) {
            Err(StoreError::OutOfOrder { have: h, first: f }) => assert_eq!((h, f), (have, first)),
            other => panic!("expected OutOfOrder, got {other:?}"),
        }
        assert_eq!(s.entry_count().unwrap(), 3);
        assert_eq!(all_entries(s), entries_batch(0, 3).entries);
        assert_eq!(s.entry(3).unwrap(), None);
        assert_eq!(s.record(&record_key(1, "x")).unwrap(), None);
        assert_eq!(s.request(&request_key(None, "x")).unwrap(), None);
        assert_eq!(s.node((0, 0)).unwrap(), None);
        assert_eq!(s.frontier().unwrap(), None);
        assert_eq!(s.snapshot().unwrap(), None);
        assert_eq!(s.latest_checkpoint().unwrap(), None);
    }
    // The right next batch still goes in.
    s.commit(&with_extras(entries_batch(3, 1))).unwrap();
    assert_eq!(s.entry_count().unwrap(), 4);
    assert_eq!(s.frontier().unwrap(), Some(vec![9]));
}

fn entry_ranges(s: &dyn Store) {
    s.commit(&entries_batch(0, 10)).unwrap();
    let range = |from, to| -> Vec<u64> { s.entries(from, to).map(|e| e.unwrap().0).collect() };
    assert_eq!(range(0, 0), Vec::<u64>::new());
    assert_eq!(range(3, 3), Vec::<u64>::new());
    assert_eq!(range(5, 2), Vec::<u64>::new());
    assert_eq!(range(2, 5), vec![2, 3, 4]);
    assert_eq!(range(0, 1), vec![0]);
    assert_eq!(range(9, 10), vec![9]);
    assert_eq!(range(8, 100), vec![8, 9]);
    assert_eq!(range(10, 20), Vec::<u64>::new());
    assert_eq!(range(50, 60), Vec::<u64>::new());
    assert_eq!(range(u64::MAX, u64::MAX), Vec::<u64>::new());
    assert_eq!(range(0, u64::MAX), (0..10).collect::<Vec<_>>());
    for e in s.entries(4, 7) {
        let (seq, bytes) = e.unwrap();
        assert_eq!(bytes, entry_bytes(seq));
    }
    assert_eq!(s.entry(9).unwrap(), Some(entry_bytes(9)));
    assert_eq!(s.entry(10).unwrap(), None);
    // The iterator is lazy: taking a few of a long range is fine.
    assert_eq!(s.entries(0, u64::MAX).take(2).count(), 2);
}

fn checkpoint_boundaries(s: &dyn Store) {
    let mut b = entries_batch(0, 10);
    b.checkpoints = vec![(1, "c1".into()), (5, "c5".into()), (10, "c10".into())];
    s.commit(&b).unwrap();
    let at = |size| s.checkpoint_at_or_before(size).unwrap().map(|(n, _)| n);
    assert_eq!(at(0), None);
    assert_eq!(at(1), Some(1));
    assert_eq!(at(4), Some(1));
    assert_eq!(at(5), Some(5));
    assert_eq!(at(9), Some(5));
    assert_eq!(at(10), Some(10));
    assert_eq!(at(11), Some(10));
    assert_eq!(at(u64::MAX), Some(10));
    assert_eq!(s.checkpoint_at_or_before(5).unwrap(), Some((5, "c5".into())));
    assert_eq!(s.latest_checkpoint().unwrap(), Some((10, "c10".into())));

    // A later checkpoint in its own batch becomes the latest; rewriting a size replaces.
    let mut b = entries_batch(10, 2);
    b.checkpoints = vec![(12, "c12".into()), (5, "c5 again".into())];
    s.commit(&b).unwrap();
    assert_eq!(s.latest_checkpoint().unwrap(), Some((12, "c12".into())));
    assert_eq!(at(11), Some(10));
    assert_eq!(s.checkpoint_at_or_before(7).unwrap(), Some((5, "c5 again".into())));
}

fn checkpoint_at_tree_size_zero(s: &dyn Store) {
    let b = CommitBatch { checkpoints: vec![(0, "empty tree".into())], ..CommitBatch::default() };
    s.commit(&b).unwrap();
    assert_eq!(s.checkpoint_at_or_before(0).unwrap(), Some((0, "empty tree".into())));
    assert_eq!(s.latest_checkpoint().unwrap(), Some((0, "empty tree".into())));
}

fn frontier_and_snapshot_keep_the_latest(s: &dyn Store) {
    let mut b = entries_batch(0, 4);
    b.frontier = vec![4];
    b.snapshot = Some((4, b"four".to_vec()));
    s.commit(&b).unwrap();

    // An empty frontier means "unchanged", and no snapshot keeps the old one.
    s.commit(&entries_batch(4, 1)).unwrap();
    assert_eq!(s.frontier().unwrap(), Some(vec![4]));
    assert_eq!(s.snapshot().unwrap(), Some((4, b"four".to_vec())));

    let mut b = entries_batch(5, 3);
    b.frontier = vec![8, 8];
    b.snapshot = Some((8, Vec::new()));
    s.commit(&b).unwrap();
    assert_eq!(s.frontier().unwrap(), Some(vec![8, 8]));
    assert_eq!(s.snapshot().unwrap(), Some((8, Vec::new())));
}

fn large_batch(s: &dyn Store) {
    const N: u64 = 10_000;
    let mut b = entries_batch(0, N);
    b.records = (0..N).map(|i| (record_key(i % 17, &format!("rec-{i}")), record_summary(i, (i % 250) as u8))).collect();
    b.requests = (0..N).map(|i| (request_key(Some(i % 5), &format!("req-{i}")), request_summary(i, 3))).collect();
    b.nodes = (0..N).map(|i| ((0, i), [(i % 256) as u8; 32])).collect();
    b.checkpoints = vec![(N, "all".into())];
    s.commit(&b).unwrap();

    assert_eq!(s.entry_count().unwrap(), N);
    assert_eq!(all_entries(s), b.entries);
    for i in (0..N).step_by(997) {
        let (k, v) = &b.records[i as usize];
        assert_eq!(s.record(k).unwrap().as_ref(), Some(v));
        let (k, v) = &b.requests[i as usize];
        assert_eq!(s.request(k).unwrap().as_ref(), Some(v));
        assert_eq!(s.node((0, i)).unwrap(), Some([(i % 256) as u8; 32]));
    }
    assert_eq!(s.entries(N - 3, N + 3).count(), 3);
}

fn many_small_batches(s: &dyn Store) {
    const BATCHES: u64 = 200;
    for seq in 0..BATCHES {
        let mut b = entries_batch(seq, 1);
        b.records = vec![(record_key(seq % 3, &format!("r{seq}")), record_summary(seq, 1))].into();
        b.frontier = seq.to_be_bytes().to_vec();
        if seq % 50 == 49 {
            b.checkpoints = vec![(seq + 1, format!("c{}", seq + 1))];
        }
        s.commit(&b).unwrap();
        assert_eq!(s.entry_count().unwrap(), seq + 1);
    }
    let all = all_entries(s);
    assert_eq!(all, entries_batch(0, BATCHES).entries);
    assert_eq!(s.frontier().unwrap(), Some((BATCHES - 1).to_be_bytes().to_vec()));
    assert_eq!(s.record(&record_key(1, "r100")).unwrap(), Some(record_summary(100, 1)));
    assert_eq!(s.latest_checkpoint().unwrap().map(|c| c.0), Some(200));
    assert_eq!(s.checkpoint_at_or_before(149).unwrap().map(|c| c.0), Some(100));
}

/// A batch that refers past the log it leaves is a caller bug: it panics, writes nothing,
/// and leaves the store usable.
fn batch_past_the_log_panics_before_writing(s: &dyn Store) {
    s.commit(&entries_batch(0, 2)).unwrap();
    let bad_batches = [
        CommitBatch { snapshot: Some((5, vec![])), ..entries_batch(2, 1) },
        CommitBatch { checkpoints: vec![(4, "too far".into())], ..entries_batch(2, 1) },
        CommitBatch {
            nodes: vec![((1, 1), [0; 32])], // leaves 2..4
            ..entries_batch(2, 1)
        },
        CommitBatch { records: vec![(record_key(1, "r"), record_summary(3, 1))].into(), ..entries_batch(2, 1) },
        CommitBatch { requests: vec![(request_key(None, "q"), request_summary(3, 1))].into(), ..entries_batch(2, 1) },
        CommitBatch { leaf_hashes: vec![[0; 32]], ..entries_batch(2, 2) }, // one hash for two entries
    ];
    for bad in &bad_batches {
        let outcome = catch_unwind(AssertUnwindSafe(|| s.commit(bad)));
        assert!(outcome.is_err(), "expected a panic for {bad:?}");
        assert_eq!(s.entry_count().unwrap(), 2);
        assert_eq!(s.entry(2).unwrap(), None);
    }
    let ok =
        CommitBatch { nodes: vec![((1, 1), [0; 32])], checkpoints: vec![(4, "fine".into())], ..entries_batch(2, 2) };
    s.commit(&ok).unwrap();
    assert_eq!(s.entry_count().unwrap(), 4);
    assert_eq!(s.node((1, 1)).unwrap(), Some([0; 32]));
}

/// Readers running alongside the writer only ever see whole, committed batches: every
/// entry below the count they read is there, and a checkpoint never names a tree size
/// beyond the count.
fn readers_see_whole_batches_only(s: &dyn Store) {
    const BATCHES: u64 = 60;
    const PER_BATCH: u64 = 25;
    std::thread::scope(|scope| {
        let readers: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| {
                    let mut last = 0;
                    loop {
                        let cp = s.latest_checkpoint().unwrap().map_or(0, |c| c.0);
                        let count = s.entry_count().unwrap();
                        assert!(count >= last, "the count went back from {last} to {count}");
                        assert!(cp <= count, "checkpoint {cp} seen before its entries ({count})");
                        assert_eq!(count % PER_BATCH, 0, "half a batch is visible");
                        let seen: Vec<u64> = s.entries(0, count).map(|e| e.unwrap().0).collect();
                        assert_eq!(seen, (0..count).collect::<Vec<_>>());
                        last = count;
                        if count == BATCHES * PER_BATCH {
                            break;
                        }
                    }
                })
            })
            .collect();
        for i in 0..BATCHES {
            let mut b = entries_batch(i * PER_BATCH, PER_BATCH);
            b.checkpoints = vec![((i + 1) * PER_BATCH, format!("c{i}"))];
            s.commit(&b).unwrap();
        }
        for r in readers {
            r.join().unwrap();
        }
    });
}
