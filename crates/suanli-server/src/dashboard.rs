//! The finance dashboard's running totals in the server ([`suanli_core::dashboard`]).
//!
//! The sequencer counts every entry it decides ([`LiveDashboard::decided`], a few lines in
//! `sequencer.rs`), so a page view reads totals instead of scanning the log.
//!
//! After a restart the totals are rebuilt from the store in the background
//! ([`LiveDashboard::rebuild`]) rather than kept in snapshots: the snapshot format and the
//! sequencer stay as they are, and the cost is paid off the request path (see
//! `bench/results/CONSOLE.md` for the time with 1,000,000 records). Until the rebuild has
//! caught up the page says it is still counting and how far it got. Entries decided while
//! it runs are queued as small [`Fact`]s and counted, in log order, as soon as the
//! rebuild reaches them.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use suanli_core::dashboard::{Aggregates, DashboardError, Fact};
use suanli_core::entity_index::EntityIndex;
use suanli_core::entry::Entry;
use suanli_store::Store;
use tracing::{error, info};

/// Entries read from the store per step of the rebuild (one lock per step).
const REBUILD_CHUNK: u64 = 4096;

/// Where the totals stand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Entries counted.
    pub counted: u64,
    /// Entries in the log as far as the dashboard has heard.
    pub total: u64,
    /// Every entry heard of is counted: the figures are complete.
    pub ready: bool,
    /// The rebuild or a count failed (logged); the figures stop there.
    pub failed: bool,
}

struct State {
    aggs: Aggregates,
    /// Each company's entries and statement totals (the console's statement views).
    entities: EntityIndex,
    /// Entries decided while the rebuild is behind, in log order.
    queued: VecDeque<Fact>,
    /// Entries the log held when the server started: those are read back from the store.
    start_count: u64,
    /// One past the last entry the sequencer reported.
    seen: u64,
    failed: bool,
}

impl State {
    /// Counts the next entry in both the totals and the company index.
    fn apply(&mut self, fact: &Fact) -> Result<(), DashboardError> {
        self.aggs.apply_fact(fact)?;
        self.entities.apply(fact);
        Ok(())
    }
}

/// The aggregates, shared by the sequencer (writer) and the pages (readers).
pub struct LiveDashboard {
    offset: i32,
    state: Mutex<State>,
    stop: AtomicBool,
}

impl LiveDashboard {
    /// Totals for a log that already holds `start_count` entries (to be rebuilt), for a
    /// program at `utc_offset_seconds`.
    pub fn new(utc_offset_seconds: i32, start_count: u64) -> Arc<LiveDashboard> {
        Arc::new(LiveDashboard {
            offset: utc_offset_seconds,
            state: Mutex::new(State {
                aggs: Aggregates::new(utc_offset_seconds),
                entities: EntityIndex::default(),
                queued: VecDeque::new(),
                start_count,
                seen: start_count,
                failed: false,
            }),
            stop: AtomicBool::new(false),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The sequencer's hook: `entry` was just decided (or taken from a shared store), in
    /// log order. Counted at once when the totals are caught up, queued otherwise.
    pub fn decided(&self, entry: &Entry) {
        let fact = Fact::of(entry, self.offset);
        let mut s = self.lock();
        s.seen = s.seen.max(entry.seq + 1);
        if s.failed {
            return;
        }
        let fact = match fact {
            Ok(f) => f,
            Err(e) => {
                error!(error = %e, "dashboard: an entry cannot be counted; the dashboard stops here");
                s.failed = true;
                return;
            }
        };
        if fact.seq == s.aggs.next_seq() {
            if let Err(e) = s.apply(&fact) {
                error!(error = %e, "dashboard: counting failed; the dashboard stops here");
                s.failed = true;
            }
        } else if fact.seq > s.aggs.next_seq() {
            s.queued.push_back(fact);
        }
    }

    /// Counts queued facts that are next in line; drops those already counted.
    fn drain(s: &mut State) {
        while let Some(f) = s.queued.front() {
            if f.seq < s.aggs.next_seq() {
                s.queued.pop_front();
            } else if f.seq == s.aggs.next_seq() {
                let f = s.queued.pop_front().expect("front exists");
                if let Err(e) = s.apply(&f) {
                    error!(error = %e, "dashboard: counting failed; the dashboard stops here");
                    s.failed = true;
                    s.queued.clear();
                    return;
                }
            } else {
                return;
            }
        }
    }

    /// Reads entries `0..start_count` back from the store on a thread of its own and counts
    /// them, then the queued ones. Stops early (leaving the page "still counting") when
    /// [`LiveDashboard::stop`] is called.
    pub fn rebuild(self: &Arc<Self>, store: Arc<dyn Store>) -> std::thread::JoinHandle<()> {
        let me = self.clone();
        std::thread::Builder::new()
            .name("suanli-dashboard".into())
            .spawn(move || {
                let started = Instant::now();
                let target = me.lock().start_count;
                let mut from = me.lock().aggs.next_seq();
                while from < target && !me.stop.load(Ordering::Relaxed) {
                    let to = (from + REBUILD_CHUNK).min(target);
                    let mut facts = Vec::with_capacity((to - from) as usize);
                    for item in store.entries(from, to) {
                        let fact = item
                            .map_err(|e| e.to_string())
                            .and_then(|(seq, bytes)| Entry::decode(&bytes).map_err(|e| format!("entry {seq}: {e}")))
                            .and_then(|e| Fact::of(&e, me.offset).map_err(|e| e.to_string()));
                        match fact {
                            Ok(f) => facts.push(f),
                            Err(e) => {
                                error!(error = %e, "dashboard: rebuilding from the store failed");
                                me.lock().failed = true;
                                return;
                            }
                        }
                    }
                    let mut s = me.lock();
                    for f in &facts {
                        if f.seq == s.aggs.next_seq()
                            && let Err(e) = s.apply(f)
                        {
                            error!(error = %e, "dashboard: rebuilding failed");
                            s.failed = true;
                            return;
                        }
                    }
                    Self::drain(&mut s);
                    if s.aggs.next_seq() < to {
                        error!(at = s.aggs.next_seq(), "dashboard: the store returned fewer entries than it holds");
                        s.failed = true;
                        return;
                    }
                    from = s.aggs.next_seq();
                }
                let mut s = me.lock();
                Self::drain(&mut s);
                info!(
                    entries = s.aggs.next_seq(),
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "dashboard totals rebuilt"
                );
            })
            .expect("the dashboard thread starts")
    }

    /// Asks a running rebuild to stop (the server is shutting down).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    pub fn progress(&self) -> Progress {
        let s = self.lock();
        let counted = s.aggs.next_seq();
        Progress { counted, total: s.seen, ready: counted >= s.seen && !s.failed, failed: s.failed }
    }

    /// Reads the company index, with how far it has counted.
    pub fn entities<R>(&self, f: impl FnOnce(&EntityIndex, Progress) -> R) -> R {
        let s = self.lock();
        let counted = s.aggs.next_seq();
        let p = Progress { counted, total: s.seen, ready: counted >= s.seen && !s.failed, failed: s.failed };
        f(&s.entities, p)
    }

    /// Reads the totals (hold the ledger's read lock around this call so both are at the
    /// same log position).
    pub fn read<R>(&self, f: impl FnOnce(&Aggregates, Progress) -> R) -> R {
        let s = self.lock();
        let counted = s.aggs.next_seq();
        let p = Progress { counted, total: s.seen, ready: counted >= s.seen && !s.failed, failed: s.failed };
        f(&s.aggs, p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use suanli_core::entry::{Body, Genesis, Signed};

    fn entries(n: u64) -> Vec<Entry> {
        let mut v = vec![Entry {
            seq: 0,
            time_ms: 0,
            body: Body::Genesis(Genesis {
                program_toml: String::new(),
                admin_key: [0; 32],
                finance_key: [0; 32],
                ledger_key: [0; 32],
                origin: "o".into(),
            }),
        }];
        for seq in 1..n {
            v.push(Entry {
                seq,
                time_ms: 0,
                body: Body::Holder {
                    input: Signed { payload: vec![], public_key: [0; 32], signature: [0; 64], batch: None },
                },
            });
        }
        v
    }

    #[test]
    fn entries_decided_during_the_rebuild_are_counted_once_in_order() {
        let store = Arc::new(suanli_store::mem::MemStore::default());
        let all = entries(10_000);
        let mut batch = suanli_store::CommitBatch::default();
        for e in &all[..9_000] {
            batch.entries.push((e.seq, e.encode()));
        }
        store.commit(&batch).unwrap();
        let live = LiveDashboard::new(0, 9_000);
        // Decided before the rebuild even starts: queued.
        for e in &all[9_000..9_500] {
            live.decided(e);
        }
        assert!(!live.progress().ready, "still counting");
        live.rebuild(store).join().unwrap();
        for e in &all[9_500..] {
            live.decided(e);
        }
        let p = live.progress();
        assert_eq!(p, Progress { counted: 10_000, total: 10_000, ready: true, failed: false });
    }
}
