//! Admission of chunks into the pipeline (verification, the sequencer's queue, the commit):
//! bounded by count (`limits.chunks_in_flight_max`) *and* by time.
//!
//! A count alone lets the queues in front of the sequencer fill at full speed: with 64
//! chunks of 512 records admitted and the ledger deciding 40,000 records a second, every
//! record waits most of a second, and a client pushing as fast as it can sees seconds of
//! backlog. So the number of chunks admitted adapts to how long they take: each permit
//! lives from admission until its chunk is decided, and every [`INTERVAL`] the shortest
//! life of a permit ended in that interval is compared with [`TARGET`] (as CoDel does with
//! a packet queue: the minimum over an interval is the standing queue, not a burst). Above
//! the target, the limit shrinks by a quarter; at or below it, while chunks had to wait
//! for admission, it grows by an eighth. A chunk that is not admitted is not read from its
//! stream, so HTTP/2 flow control slows the client: backpressure, not a backlog.
//!
//! A request larger than the current limit is admitted when nothing else is in flight, so
//! nothing waits forever.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// How long admitted chunks may take, at least, before the limit shrinks.
pub const TARGET: Duration = Duration::from_millis(40);
/// How often the limit is reconsidered.
pub const INTERVAL: Duration = Duration::from_millis(100);
/// The limit never goes below this many chunks.
pub const LIMIT_MIN: usize = 4;

pub struct Admission {
    state: Mutex<State>,
    notify: Notify,
    max: usize,
}

struct State {
    limit: usize,
    in_flight: usize,
    interval_start: Instant,
    /// The shortest permit life ended in this interval.
    shortest: Option<Duration>,
    /// Whether a request waited in this interval.
    waited: bool,
}

/// Never returned: the type mirrors a semaphore's, whose call sites this replaced.
#[derive(Debug)]
pub struct Closed;

impl std::fmt::Display for Closed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("admission closed")
    }
}

/// Chunks admitted; released (and timed) when dropped.
pub struct Permit {
    gate: Arc<Admission>,
    chunks: usize,
    admitted: Instant,
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.gate.release(self.chunks, self.admitted.elapsed());
    }
}

impl Admission {
    /// At most `max` chunks in flight; the time bound adapts below that.
    pub fn new(max: usize) -> Admission {
        let max = max.max(1);
        Admission {
            state: Mutex::new(State {
                limit: max,
                in_flight: 0,
                interval_start: Instant::now(),
                shortest: None,
                waited: false,
            }),
            notify: Notify::new(),
            max,
        }
    }

    /// The number of chunks admitted at once now.
    pub fn limit(&self) -> usize {
        self.state.lock().expect("admission lock").limit
    }

    pub fn in_flight(&self) -> usize {
        self.state.lock().expect("admission lock").in_flight
    }

    /// Admits one chunk, waiting for room.
    pub async fn acquire_owned(self: Arc<Self>) -> Result<Permit, Closed> {
        self.acquire_many_owned(1).await
    }

    /// Admits `n` chunks at once, waiting for room. Cancel-safe: nothing is held until it
    /// returns.
    pub async fn acquire_many_owned(self: Arc<Self>, n: u32) -> Result<Permit, Closed> {
        let n = n as usize;
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            // Registered before the check, so a release between the check and the wait
            // is not missed.
            notified.as_mut().enable();
            {
                let mut s = self.state.lock().expect("admission lock");
                if s.in_flight == 0 || s.in_flight + n <= s.limit {
                    s.in_flight += n;
                    drop(s);
                    return Ok(Permit { gate: self.clone(), chunks: n, admitted: Instant::now() });
                }
                s.waited = true;
            }
            notified.await;
        }
    }

    fn release(&self, n: usize, life: Duration) {
        {
            let mut s = self.state.lock().expect("admission lock");
            s.in_flight -= n;
            s.shortest = Some(s.shortest.map_or(life, |m| m.min(life)));
            let now = Instant::now();
            if now.duration_since(s.interval_start) >= INTERVAL {
                let shortest = s.shortest.take().unwrap_or_default();
                if shortest > TARGET {
                    s.limit = (s.limit * 3 / 4).max(LIMIT_MIN.min(self.max));
                } else if s.waited {
                    s.limit = (s.limit + (s.limit / 8).max(1)).min(self.max);
                }
                s.waited = false;
                s.interval_start = now;
            }
        }
        // Wake every waiter: a larger limit may admit several, and each rechecks.
        self.notify.notify_waiters();
    }

    /// Feeds one permit life through the limit rule (tests).
    #[cfg(test)]
    fn observe(&self, life: Duration, waited: bool) {
        {
            let mut s = self.state.lock().unwrap();
            s.in_flight += 1;
            s.waited |= waited;
            s.interval_start = Instant::now() - INTERVAL;
        }
        self.release(1, life);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_shrinks_while_chunks_take_too_long_and_grows_back_when_they_wait() {
        let a = Admission::new(64);
        assert_eq!(a.limit(), 64);
        for _ in 0..20 {
            a.observe(TARGET * 3, true);
        }
        assert_eq!(a.limit(), LIMIT_MIN);
        // Fast again, with waiters: back up, but never past the count bound.
        for _ in 0..100 {
            a.observe(TARGET / 4, true);
        }
        assert_eq!(a.limit(), 64);
        // Fast without waiters: no reason to grow (already at max), nor to shrink.
        a.observe(TARGET / 4, false);
        assert_eq!(a.limit(), 64);
    }

    #[tokio::test]
    async fn a_full_gate_admits_when_a_permit_is_released_and_large_requests_are_not_starved() {
        let a = Arc::new(Admission::new(2));
        let p1 = a.clone().acquire_owned().await.unwrap();
        let p2 = a.clone().acquire_owned().await.unwrap();
        let waiting = tokio::spawn(a.clone().acquire_owned());
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        drop(p1);
        let p3 = waiting.await.unwrap().unwrap();
        assert_eq!(a.in_flight(), 2);
        drop((p2, p3));
        // Larger than the limit: admitted alone.
        let big = a.clone().acquire_many_owned(5).await.unwrap();
        assert_eq!(a.in_flight(), 5);
        drop(big);
        assert_eq!(a.in_flight(), 0);
    }
}
