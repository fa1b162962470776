//! The finance dashboard's running totals in the server ([`suanli_core::dashboard`]).
//!
//! The sequencer hands every entry it decides to the dashboard ([`LiveDashboard::hand_over`],
//! a few lines in `sequencer.rs`), so a page view reads totals instead of scanning the log.
//!
//! **Counting happens on a thread of its own** (`suanli-dash-count`). Turning an entry into a
//! [`Fact`] decodes its signed record again and counting it touches the totals and the
//! company index: a profile at 87,000 records/s put that at 28 % of the sequencer's time
//! (12 % of all the server's samples), on the one thread that limits throughput. The
//! sequencer now only moves the round's entries into an inbox (no copy) while it still
//! holds the ledger's write lock. Readers wait until everything handed over so far is
//! counted ([`LiveDashboard::read`] and [`LiveDashboard::entities`] do that), so a page read
//! after an acknowledgement still includes the acknowledged record, and a page read under
//! the ledger's read lock still sees totals at exactly the ledger's position: no entry can
//! be handed over while that lock is held.
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
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use suanli_core::dashboard::{Aggregates, DashboardError, Fact};
use suanli_core::entity_index::{EntityIndex, Spill};
use suanli_core::entry::Entry;
use suanli_core::validate::Usage;
use suanli_store::Store;
use tracing::{error, info, warn};

/// Entries read from the store per step of the rebuild (one lock per step).
const REBUILD_CHUNK: u64 = 4096;

/// How long a reader waits, at most, for the counting thread to count what was handed
/// over before the read. It counts several hundred thousand entries a second, so this is
/// only reached if it has stopped; the read then shows what is counted, marked as still
/// counting.
const CATCH_UP_WAIT: Duration = Duration::from_secs(10);

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
    /// One past the last entry the counting thread has taken from the inbox.
    seen: u64,
    failed: bool,
}

impl State {
    /// Counts the next entry in both the totals and the company index.
    fn apply(&mut self, fact: &Fact) -> Result<(), DashboardError> {
        self.aggs.apply_fact(fact)?;
        self.entities
            .apply(fact)
            .map_err(|e| DashboardError { seq: fact.seq, what: format!("the statement index's scratch file: {e}") })
    }

    /// Counts the fact of the entry `seq` at once when the totals are caught up, queues it
    /// otherwise.
    fn take(&mut self, seq: u64, fact: Result<Fact, DashboardError>) {
        self.seen = self.seen.max(seq + 1);
        if self.failed {
            return;
        }
        let fact = match fact {
            Ok(f) => f,
            Err(e) => {
                error!(error = %e, "dashboard: an entry cannot be counted; the dashboard stops here");
                self.failed = true;
                return;
            }
        };
        if fact.seq == self.aggs.next_seq() {
            if let Err(e) = self.apply(&fact) {
                error!(error = %e, "dashboard: counting failed; the dashboard stops here");
                self.failed = true;
            }
        } else if fact.seq > self.aggs.next_seq() {
            self.queued.push_back(fact);
        }
    }

    fn progress(&self) -> Progress {
        let counted = self.aggs.next_seq();
        Progress { counted, total: self.seen, ready: counted >= self.seen && !self.failed, failed: self.failed }
    }
}

/// Entries handed over and not yet taken by the counting thread.
#[derive(Default)]
struct Inbox {
    /// Each usage entry with its record, when the sequencer had it decoded already.
    entries: Vec<(Entry, Option<Usage>)>,
    /// One past the last entry handed over.
    handed: u64,
    closed: bool,
}

/// What the counting thread shares with [`LiveDashboard`] (not the dashboard itself, so
/// that dropping the dashboard closes the inbox and ends the thread).
struct Shared {
    offset: i32,
    state: Mutex<State>,
    /// Notified when the counting thread has taken a batch.
    counted: Condvar,
    inbox: Mutex<Inbox>,
    /// Notified when entries are handed over or the inbox is closed.
    arrived: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn inbox(&self) -> MutexGuard<'_, Inbox> {
        self.inbox.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The counting thread: takes what was handed over, makes facts of it without holding
    /// the totals' lock, then counts them under it.
    fn count(&self) {
        let mut spare = Vec::new();
        loop {
            let mut batch = {
                let mut inbox = self.inbox();
                while inbox.entries.is_empty() && !inbox.closed {
                    inbox = self.arrived.wait(inbox).unwrap_or_else(|p| p.into_inner());
                }
                if inbox.entries.is_empty() {
                    return;
                }
                std::mem::swap(&mut inbox.entries, &mut spare);
                std::mem::take(&mut spare)
            };
            let facts: Vec<_> =
                batch.drain(..).map(|(e, usage)| (e.seq, Fact::of_known(&e, usage, self.offset))).collect();
            {
                let mut s = self.lock();
                for (seq, fact) in facts {
                    s.take(seq, fact);
                }
            }
            self.counted.notify_all();
            spare = batch;
            spare.clear();
        }
    }

    /// The totals' lock, once everything handed over before this call is counted (or
    /// queued behind the rebuild), waiting at most [`CATCH_UP_WAIT`].
    fn caught_up(&self) -> MutexGuard<'_, State> {
        let handed = self.inbox().handed;
        let deadline = Instant::now() + CATCH_UP_WAIT;
        let mut s = self.lock();
        while s.seen < handed {
            let now = Instant::now();
            if now >= deadline {
                warn!(seen = s.seen, handed, "dashboard: the counting thread is behind; showing what is counted");
                break;
            }
            s = self.counted.wait_timeout(s, deadline - now).unwrap_or_else(|p| p.into_inner()).0;
        }
        s
    }
}

/// The aggregates, shared by the sequencer (writer) and the pages (readers).
pub struct LiveDashboard {
    shared: Arc<Shared>,
    stop: AtomicBool,
}

impl Drop for LiveDashboard {
    fn drop(&mut self) {
        self.shared.inbox().closed = true;
        self.shared.arrived.notify_all();
    }
}

impl LiveDashboard {
    /// Totals for a log that already holds `start_count` entries (to be rebuilt), for a
    /// program at `utc_offset_seconds`, the statement index's sealed blocks in `spill`.
    /// Starts the counting thread.
    pub fn new(utc_offset_seconds: i32, start_count: u64, spill: Spill) -> Arc<LiveDashboard> {
        let shared = Arc::new(Shared {
            offset: utc_offset_seconds,
            state: Mutex::new(State {
                aggs: Aggregates::new(utc_offset_seconds),
                entities: EntityIndex::with_spill(spill),
                queued: VecDeque::new(),
                start_count,
                seen: start_count,
                failed: false,
            }),
            counted: Condvar::new(),
            inbox: Mutex::new(Inbox { handed: start_count, ..Inbox::default() }),
            arrived: Condvar::new(),
        });
        let counter = shared.clone();
        std::thread::Builder::new()
            .name("suanli-dash-count".into())
            .spawn(move || counter.count())
            .expect("the dashboard's counting thread starts");
        Arc::new(LiveDashboard { shared, stop: AtomicBool::new(false) })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.shared.lock()
    }

    /// The sequencer's hook: `entries` were just decided (or taken from a shared store),
    /// in log order. They are counted on the counting thread; readers wait for them.
    pub fn hand_over(&self, entries: &mut Vec<(Entry, Option<Usage>)>) {
        let Some((last, _)) = entries.last() else { return };
        let last = last.seq;
        let mut inbox = self.shared.inbox();
        inbox.handed = inbox.handed.max(last + 1);
        if inbox.entries.is_empty() {
            std::mem::swap(&mut inbox.entries, entries);
        } else {
            inbox.entries.append(entries);
        }
        drop(inbox);
        self.shared.arrived.notify_one();
    }

    /// [`LiveDashboard::hand_over`] of one entry (a mirror storing what its primary sent).
    pub fn decided(&self, entry: &Entry) {
        self.hand_over(&mut vec![(entry.clone(), None)]);
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
                            .and_then(|e| Fact::of(&e, me.shared.offset).map_err(|e| e.to_string()));
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
                    statement_index_scratch_bytes = s.entities.spilled_bytes(),
                    "dashboard totals rebuilt"
                );
            })
            .expect("the dashboard thread starts")
    }

    /// Asks a running rebuild to stop (the server is shutting down).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// How far the totals are, counting everything handed over before this call.
    pub fn progress(&self) -> Progress {
        self.shared.caught_up().progress()
    }

    /// Reads the company index, with how far it has counted (everything handed over before
    /// this call included).
    pub fn entities<R>(&self, f: impl FnOnce(&EntityIndex, Progress) -> R) -> R {
        let s = self.shared.caught_up();
        f(&s.entities, s.progress())
    }

    /// Waits (at most [`CATCH_UP_WAIT`]) until everything handed over before this call is
    /// counted. A reader that needs the ledger's read lock around [`LiveDashboard::read`]
    /// calls this first, without the lock: otherwise the sequencer, which needs the write
    /// lock to decide anything, would wait for as long as the counting thread is behind.
    /// Blocks: call it off the async workers.
    pub fn catch_up(&self) {
        drop(self.shared.caught_up());
    }

    /// Reads the totals (hold the ledger's read lock around this call so both are at the
    /// same log position; call [`LiveDashboard::catch_up`] before taking it), once
    /// everything handed over before this call is counted.
    pub fn read<R>(&self, f: impl FnOnce(&Aggregates, Progress) -> R) -> R {
        let s = self.shared.caught_up();
        f(&s.aggs, s.progress())
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
    fn a_read_right_after_a_hand_over_counts_everything_handed_over() {
        // Counting runs on its own thread; a read must still include what was handed over
        // before it (an acknowledged record is on the page that is opened next).
        let live = LiveDashboard::new(0, 0, Spill::in_memory());
        let all = entries(50_000);
        let (first, rest) = all.split_at(20_000);
        let mut first: Vec<_> = first.iter().map(|e| (e.clone(), None)).collect();
        let mut rest: Vec<_> = rest.iter().map(|e| (e.clone(), None)).collect();
        live.hand_over(&mut first);
        assert!(first.is_empty(), "the entries were moved, not copied");
        live.hand_over(&mut rest);
        let ready = Progress { counted: 50_000, total: 50_000, ready: true, failed: false };
        assert_eq!(live.read(|aggs, p| (aggs.next_seq(), p)), (50_000, ready));
        live.decided(&entries(50_001)[50_000]);
        assert_eq!(live.entities(|_, p| p.counted), 50_001);
        assert_eq!(live.progress().total, 50_001);
    }

    #[test]
    fn catching_up_returns_once_everything_handed_over_is_counted() {
        // What the finance dashboard waits for before it takes the ledger's lock.
        let live = LiveDashboard::new(0, 0, Spill::in_memory());
        let mut all: Vec<_> = entries(30_000).into_iter().map(|e| (e, None)).collect();
        live.hand_over(&mut all);
        live.catch_up();
        // Read without waiting (`progress` and `read` would catch up themselves).
        assert_eq!(live.shared.lock().aggs.next_seq(), 30_000);
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
        let live = LiveDashboard::new(0, 9_000, Spill::in_memory());
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
