//! The index bridge over each store: reads see uncommitted writes first and the store
//! after, writes come out in order for the commit batch, and replay mode hides the future.

mod common;

use common::*;
use suanli_core::index::Index;
use suanli_store::ledger_index::{LedgerIndex, Pending};
use suanli_store::{CommitBatch, Store};

for_each_store!(
    reads_fall_through_the_overlay_to_the_store,
    take_writes_returns_writes_in_order,
    discard_writes_forgets_the_overlay,
    as_of_hides_records_and_requests_from_the_future,
    as_of_applies_to_the_overlay_too,
    pending_rounds_are_read_newest_first_until_committed,
);

fn reads_fall_through_the_overlay_to_the_store(s: &dyn Store) {
    let (a, b) = (record_key(1, "a"), record_key(1, "b"));
    let q = request_key(None, "q");
    s.commit(&CommitBatch {
        records: vec![(a.clone(), record_summary(0, 1))].into(),
        requests: vec![(q.clone(), request_summary(1, 1))].into(),
        ..entries_batch(0, 2)
    })
    .unwrap();

    let mut idx = LedgerIndex::new(s);
    assert_eq!(idx.record(&a), Some(record_summary(0, 1)));
    assert_eq!(idx.request(&q), Some(request_summary(1, 1)));
    assert_eq!(idx.record(&b), None);

    idx.put_record(&b, &record_summary(2, 2));
    assert_eq!(idx.record(&b), Some(record_summary(2, 2)));
    assert_eq!(s.record(&b).unwrap(), None, "not in the store before commit");

    // The overlay shadows the store.
    let mut reversed = record_summary(0, 1);
    reversed.reversed_by = Some(2);
    idx.put_record(&a, &reversed);
    assert_eq!(idx.record(&a), Some(reversed.clone()));
    idx.put_request(&q, &request_summary(1, 7));
    assert_eq!(idx.request(&q), Some(request_summary(1, 7)));

    let (records, requests) = idx.take_writes();
    s.commit(&CommitBatch { records, requests, ..entries_batch(2, 1) }).unwrap();
    assert_eq!(idx.record(&a), Some(reversed));
    assert_eq!(idx.record(&b), Some(record_summary(2, 2)));
    assert_eq!(idx.request(&q), Some(request_summary(1, 7)));
}

fn take_writes_returns_writes_in_order(s: &dyn Store) {
    let mut idx = LedgerIndex::new(s);
    let keys = [record_key(3, "c"), record_key(1, "a"), record_key(2, "b")];
    for (i, k) in keys.iter().enumerate() {
        idx.put_record(k, &record_summary(i as u64, 1));
    }
    // Rewriting a key keeps its place and takes the new value.
    idx.put_record(&keys[1], &record_summary(1, 9));
    let qs = [request_key(Some(5), "z"), request_key(None, "y")];
    for (i, k) in qs.iter().enumerate() {
        idx.put_request(k, &request_summary(i as u64, 1));
    }

    let (records, requests) = idx.take_writes();
    assert_eq!(
        records.to_vec(),
        vec![
            (keys[0].clone(), record_summary(0, 1)),
            (keys[1].clone(), record_summary(1, 9)),
            (keys[2].clone(), record_summary(2, 1)),
        ]
    );
    assert_eq!(requests.to_vec(), vec![(qs[0].clone(), request_summary(0, 1)), (qs[1].clone(), request_summary(1, 1))]);
    let (records, requests) = idx.take_writes();
    assert!(records.is_empty() && requests.is_empty(), "a take empties the overlay");
}

fn discard_writes_forgets_the_overlay(s: &dyn Store) {
    let mut idx = LedgerIndex::new(s);
    let k = record_key(1, "a");
    idx.put_record(&k, &record_summary(0, 1));
    idx.put_request(&request_key(None, "q"), &request_summary(0, 1));
    idx.discard_writes();
    assert_eq!(idx.record(&k), None);
    assert_eq!(idx.request(&request_key(None, "q")), None);
    let (records, requests) = idx.take_writes();
    assert!(records.is_empty() && requests.is_empty());
}

fn as_of_hides_records_and_requests_from_the_future(s: &dyn Store) {
    let (early, reversed, late) = (record_key(1, "early"), record_key(1, "rev"), record_key(1, "late"));
    let mut rev = record_summary(5, 2);
    rev.reversed_by = Some(7);
    let (q3, q6) = (request_key(None, "q3"), request_key(Some(1), "q6"));
    s.commit(&CommitBatch {
        records: vec![
            (early.clone(), record_summary(2, 1)),
            (reversed.clone(), rev.clone()),
            (late.clone(), record_summary(8, 3)),
        ]
        .into(),
        requests: vec![(q3.clone(), request_summary(3, 1)), (q6.clone(), request_summary(6, 1))].into(),
        ..entries_batch(0, 10)
    })
    .unwrap();

    let mut idx = LedgerIndex::new(s);
    let rev_unreversed = || {
        let mut r = rev.clone();
        r.reversed_by = None;
        r
    };
    let cases = [
        (0, [None, None, None], [None, None]),
        (3, [Some(record_summary(2, 1)), None, None], [None, None]),
        (4, [Some(record_summary(2, 1)), None, None], [Some(3), None]),
        (5, [Some(record_summary(2, 1)), None, None], [Some(3), None]),
        (6, [Some(record_summary(2, 1)), Some(rev_unreversed()), None], [Some(3), None]),
        (7, [Some(record_summary(2, 1)), Some(rev_unreversed()), None], [Some(3), Some(6)]),
        (8, [Some(record_summary(2, 1)), Some(rev.clone()), None], [Some(3), Some(6)]),
        (9, [Some(record_summary(2, 1)), Some(rev.clone()), Some(record_summary(8, 3))], [Some(3), Some(6)]),
    ];
    for (n, records, requests) in cases {
        idx.set_as_of(Some(n));
        assert_eq!(idx.record(&early), records[0], "as of {n}");
        assert_eq!(idx.record(&reversed), records[1], "as of {n}");
        assert_eq!(idx.record(&late), records[2], "as of {n}");
        assert_eq!(idx.request(&q3).map(|r| r.seq), requests[0], "as of {n}");
        assert_eq!(idx.request(&q6).map(|r| r.seq), requests[1], "as of {n}");
    }
    idx.set_as_of(None);
    assert_eq!(idx.record(&reversed), Some(rev));
    assert_eq!(idx.record(&late), Some(record_summary(8, 3)));
    assert_eq!(idx.request(&q6), Some(request_summary(6, 1)));
}

fn as_of_applies_to_the_overlay_too(s: &dyn Store) {
    let mut idx = LedgerIndex::new(s);
    let k = record_key(1, "a");
    let mut summary = record_summary(4, 1);
    summary.reversed_by = Some(6);
    idx.put_record(&k, &summary);
    idx.put_request(&request_key(None, "q"), &request_summary(4, 1));
    idx.set_as_of(Some(4));
    assert_eq!(idx.record(&k), None);
    assert_eq!(idx.request(&request_key(None, "q")), None);
    idx.set_as_of(Some(5));
    assert_eq!(idx.record(&k).and_then(|r| r.reversed_by), None);
    assert!(idx.request(&request_key(None, "q")).is_some());
}

/// The sequencer decides the next rounds while earlier ones are being written: their
/// writes are read from `Pending`, the newest round first, until each is committed.
fn pending_rounds_are_read_newest_first_until_committed(s: &dyn Store) {
    let pending = Pending::default();
    let (k, q) = (record_key(1, "a"), request_key(None, "q"));
    let mut idx = LedgerIndex::with_pending(s, &pending);
    idx.put_record(&k, &record_summary(0, 1));
    idx.put_request(&q, &request_summary(0, 1));
    let (r1, q1) = idx.take_writes();
    pending.add(1, &r1, &q1);
    assert_eq!(idx.record(&k), Some(record_summary(0, 1)), "round 1 is read while it is pending");
    assert_eq!(idx.request(&q), Some(request_summary(0, 1)));
    assert_eq!(s.record(&k).unwrap(), None);

    let mut reversed = record_summary(0, 1);
    reversed.reversed_by = Some(1);
    idx.put_record(&k, &reversed);
    let (r2, q2) = idx.take_writes();
    pending.add(2, &r2, &q2);
    assert_eq!(idx.record(&k), Some(reversed.clone()), "the newer round's write wins");

    s.commit(&CommitBatch { records: r1, requests: q1, ..entries_batch(0, 1) }).unwrap();
    pending.committed(1);
    assert!(!pending.is_empty());
    assert_eq!(idx.record(&k), Some(reversed.clone()), "committing round 1 keeps round 2's write");
    assert_eq!(idx.request(&q), Some(request_summary(0, 1)), "now read from the store");

    s.commit(&CommitBatch { records: r2, requests: q2, ..entries_batch(1, 1) }).unwrap();
    pending.committed(2);
    assert!(pending.is_empty());
    assert_eq!(idx.record(&k), Some(reversed), "read from the store");
}
