//! Signature checks off the async runtime and off the sequencer: chunks of inputs are
//! verified in batches on one thread per core, before they reach the one writer; chunks
//! that wait for a thread are checked together. Verdicts are exactly those of the
//! one-signature rule (`suanli_core::sig`), whatever else is in the batch.
//!
//! A usage record signed in a batch ([`suanli_core::batch`]) verifies against the batch head
//! its proof leads to, for this ledger's origin. Records of one batch lead to the same head
//! under the same key and signature, so their check is done once and its verdict given to
//! each: exactly the verdict each would get alone.
//!
//! When the service built a batch's tree itself (`service::prepare_batch`: the proofs of
//! its records come from that tree), it hands the root along and the head is made from it
//! once per batch; recomputing each record's path to the root would give the same root by
//! construction, at seven SHA-256 per record, on one thread per chunk (a third of the
//! verification threads' time at full speed). Inputs without a known root, such as proofs
//! read back from elsewhere, are checked path by path as before.
//!
//! Decompressing and order-checking a public key costs several microseconds, so checked
//! keys are cached. The cache is bounded: once full, unknown keys are checked each time
//! (they are almost always unregistered keys, refused later anyway).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, RwLock};

use suanli_core::batch;
use suanli_core::ledger::{Input, InputKind};
use suanli_core::merkle::Hash;
use suanli_core::sig::{self, Domain, Item, KeyRef, PublicKey};
use suanli_core::validate::{self, Malformed, ParsedUsage};

/// A usage record's payload decoded and field checked (`validate::parse_usage`).
pub type Parsed = Option<Result<ParsedUsage, Malformed>>;

/// What the verification threads learn about a chunk of inputs, in input order.
pub struct Checked {
    pub signature_ok: Vec<bool>,
    /// For each usage record whose signature holds, its payload decoded and checked,
    /// so that the sequencer and the dashboard do not decode it again; `None` otherwise.
    pub parsed: Vec<Parsed>,
}

/// Most public keys kept checked in memory.
pub const KEY_CACHE_MAX: usize = 100_000;
/// Inputs a verification thread takes from the queue at once, at most (whole chunks; a
/// larger chunk is taken alone). Chunks that wait while every thread is busy are checked
/// together: at half speed each stream's chunk holds a dozen records, and a batch of a
/// dozen signatures costs more per signature than one of a hundred (the doublings of the
/// multi-scalar multiplication are shared by all its points).
pub const COALESCE_MAX: usize = 512;

/// The verification threads and what they share. Each thread takes the chunks waiting in
/// the queue as one group and checks it on its own core, so that two busy threads check
/// two groups side by side and a chunk never waits behind another thread's unrelated work
/// (a work-stealing pool, which the verifier used before, may run a second task inside
/// the first one's wait and hold the first one's answers until the second is done).
pub struct Verifier {
    shared: Arc<Shared>,
}

struct Shared {
    cache: RwLock<HashMap<[u8; 32], Arc<PublicKey>>>,
    /// This ledger's checkpoint origin, which batch heads must name.
    origin: String,
    inbox: Mutex<Inbox>,
    wake: Condvar,
}

/// Chunks waiting for a verification thread.
#[derive(Default)]
struct Inbox {
    jobs: VecDeque<Job>,
    /// Set when the verifier is dropped: the threads finish what waits, then stop.
    stop: bool,
    /// Groups of chunks checked so far (for tests: that waiting chunks go together).
    groups: u64,
}

/// A chunk of inputs waiting to be checked, and where its verdicts go.
struct Job {
    inputs: Arc<Vec<Input>>,
    roots: Vec<Option<Hash>>,
    tx: tokio::sync::oneshot::Sender<Checked>,
}

/// One chunk of a group: its inputs and the batch roots the service knows for them.
type Part<'a> = (&'a [Input], &'a [Option<Hash>]);

impl Verifier {
    /// A verifier with `threads` verification threads for the ledger whose checkpoint
    /// origin is `origin`.
    pub fn new(threads: usize, origin: impl Into<String>) -> Verifier {
        let v = Verifier::unstarted(origin);
        v.start(threads.max(1));
        v
    }

    fn unstarted(origin: impl Into<String>) -> Verifier {
        Verifier {
            shared: Arc::new(Shared {
                cache: RwLock::new(HashMap::new()),
                origin: origin.into(),
                inbox: Mutex::new(Inbox::default()),
                wake: Condvar::new(),
            }),
        }
    }

    fn start(&self, threads: usize) {
        for i in 0..threads {
            let shared = self.shared.clone();
            std::thread::Builder::new()
                .name(format!("suanli-verify-{i}"))
                .spawn(move || {
                    // A failed invariant here would leave every later chunk waiting for a
                    // verdict that never comes: stop the process instead, as the
                    // committer does.
                    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| shared.drain())).is_err() {
                        tracing::error!("a verification thread stopped on a failed invariant; exiting");
                        std::process::exit(70);
                    }
                })
                .expect("a verification thread starts");
        }
    }

    /// Verifies every input under its kind's domain tag; blocking, on the caller's thread.
    /// `roots` (empty, or one per input) gives the batch root of each batch-signed input
    /// whose proof the caller computed from the batch itself.
    pub fn verify_blocking(&self, inputs: &[Input], roots: &[Option<Hash>]) -> Vec<bool> {
        self.shared.verify_group(&[(inputs, roots)]).pop().expect("one part, one answer")
    }

    /// Verifies on a verification thread, and decodes the usage records whose signature
    /// holds, without blocking the async runtime. The chunk joins a queue; an idle thread
    /// takes it at once, and chunks that arrive while every thread is busy are taken
    /// together (up to [`COALESCE_MAX`] inputs) by the next thread to finish.
    pub async fn verify(&self, inputs: Arc<Vec<Input>>, roots: Vec<Option<Hash>>) -> Checked {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.shared.inbox.lock().unwrap_or_else(|p| p.into_inner()).jobs.push_back(Job { inputs, roots, tx });
        self.shared.wake.notify_one();
        rx.await.expect("verification task finished")
    }

    #[cfg(test)]
    fn units(&self, inputs: &[Input], roots: &[Option<Hash>]) -> Vec<Unit> {
        self.shared.units(inputs, roots)
    }

    #[cfg(test)]
    fn queued(&self) -> (usize, u64) {
        let inbox = self.shared.inbox.lock().unwrap();
        (inbox.jobs.len(), inbox.groups)
    }
}

impl Drop for Verifier {
    fn drop(&mut self) {
        self.shared.inbox.lock().unwrap_or_else(|p| p.into_inner()).stop = true;
        self.shared.wake.notify_all();
    }
}

impl Shared {
    fn key(&self, bytes: &[u8; 32]) -> Option<Arc<PublicKey>> {
        if let Some(k) = self.cache.read().expect("key cache lock").get(bytes) {
            return Some(k.clone());
        }
        let k = Arc::new(sig::check_public_key(bytes).ok()?);
        let mut cache = self.cache.write().expect("key cache lock");
        if cache.len() < KEY_CACHE_MAX {
            cache.insert(*bytes, k.clone());
        }
        Some(k)
    }

    /// A verification thread: takes the waiting chunks a group at a time until the
    /// verifier is dropped and nothing waits.
    fn drain(&self) {
        loop {
            let jobs = {
                let mut inbox = self.inbox.lock().unwrap_or_else(|p| p.into_inner());
                while inbox.jobs.is_empty() && !inbox.stop {
                    inbox = self.wake.wait(inbox).unwrap_or_else(|p| p.into_inner());
                }
                let mut taken: Vec<Job> = Vec::new();
                let mut n = 0;
                while let Some(job) = inbox.jobs.front() {
                    if !taken.is_empty() && n + job.inputs.len() > COALESCE_MAX {
                        break;
                    }
                    n += job.inputs.len();
                    taken.extend(inbox.jobs.pop_front());
                }
                if taken.is_empty() {
                    return; // stopping, and nothing waits
                }
                inbox.groups += 1;
                taken
            };
            let parts: Vec<Part<'_>> = jobs.iter().map(|j| (&j.inputs[..], &j.roots[..])).collect();
            let checked = self.check_group(&parts);
            for (job, c) in jobs.into_iter().zip(checked) {
                let _ = job.tx.send(c);
            }
        }
    }

    /// The verdicts of several chunks at once: their checks go into one batch, and each
    /// chunk gets its own verdicts, exactly those it would get alone. A chunk with bad
    /// signatures costs the others one extra check (`sig::verify_batch_grouped`).
    fn verify_group(&self, parts: &[Part<'_>]) -> Vec<Vec<bool>> {
        let units: Vec<Vec<Unit>> = parts.iter().map(|(inputs, roots)| self.units(inputs, roots)).collect();
        let flat: Vec<(usize, &Unit)> =
            units.iter().enumerate().flat_map(|(p, us)| us.iter().map(move |u| (p, u))).collect();
        let keys: Vec<Option<Arc<PublicKey>>> =
            flat.iter().map(|(p, u)| self.key(&parts[*p].0[u.owners[0]].signed.public_key)).collect();
        let unit_verdicts = verify_units(parts, &flat, &keys);
        let mut verdicts: Vec<Vec<bool>> = parts.iter().map(|(inputs, _)| vec![false; inputs.len()]).collect();
        for ((p, u), ok) in flat.iter().zip(unit_verdicts) {
            for &i in &u.owners {
                verdicts[*p][i] = ok;
            }
        }
        verdicts
    }

    /// [`Shared::verify_group`], then each usage record whose signature holds decoded, so
    /// that the sequencer and the dashboard do not decode it again.
    fn check_group(&self, parts: &[Part<'_>]) -> Vec<Checked> {
        let verdicts = self.verify_group(parts);
        parts
            .iter()
            .zip(verdicts)
            .map(|((inputs, _), signature_ok)| {
                let parsed = inputs
                    .iter()
                    .zip(&signature_ok)
                    .map(|(input, ok)| {
                        (*ok && input.kind == InputKind::Usage)
                            .then(|| validate::parse_usage(&input.signed.payload).map(validate::ParsedUsage::trimmed))
                    })
                    .collect();
                Checked { signature_ok, parsed }
            })
            .collect()
    }

    /// The distinct signature checks of `inputs`: one per input signed alone, one per
    /// batch (same key, signature and head) for batch-signed records. A batch proof that
    /// does not fit its batch, or a batch proof on anything but a usage record, can only
    /// fail: such inputs get a unit with no message.
    fn units(&self, inputs: &[Input], roots: &[Option<Hash>]) -> Vec<Unit> {
        let mut units: Vec<Unit> = Vec::with_capacity(inputs.len());
        let mut batches: HashMap<BatchKey, usize> = HashMap::new();
        // The unit of the last input with a known root, and that root: the records of a
        // batch arrive one after another.
        let mut last: Option<(Hash, usize)> = None;
        for (i, input) in inputs.iter().enumerate() {
            let Some(proof) = &input.signed.batch else {
                units.push(Unit { owners: vec![i], head: None, valid: true });
                continue;
            };
            let s = &input.signed;
            let known = roots.get(i).copied().flatten().filter(|_| input.kind == InputKind::Usage);
            if let (Some(root), Some((last_root, u))) = (known, last) {
                let first = &inputs[units[u].owners[0]].signed;
                let same = root == last_root
                    && first.public_key == s.public_key
                    && first.signature == s.signature
                    && first.batch.as_ref().is_some_and(|p| p.count == proof.count);
                if same {
                    units[u].owners.push(i);
                    continue;
                }
            }
            let head = match (input.kind, known) {
                (InputKind::Usage, Some(root)) => Some(batch::head_bytes(&self.origin, proof.count, &root)),
                (InputKind::Usage, None) => batch::signed_head(&self.origin, &s.payload, proof).ok(),
                _ => None,
            };
            let Some(head) = head else {
                units.push(Unit { owners: vec![i], head: None, valid: false });
                continue;
            };
            let u = match batches.entry((s.public_key, s.signature, head)) {
                std::collections::hash_map::Entry::Occupied(e) => {
                    units[*e.get()].owners.push(i);
                    *e.get()
                }
                std::collections::hash_map::Entry::Vacant(e) => {
                    let head = e.key().2.clone();
                    e.insert(units.len());
                    units.push(Unit { owners: vec![i], head: Some(head), valid: true });
                    units.len() - 1
                }
            };
            last = known.map(|root| (root, u));
        }
        units
    }
}

/// A batch signature check: (public key, signature, batch head).
type BatchKey = ([u8; 32], [u8; 64], Vec<u8>);

/// One signature check: the inputs it decides, and the batch head it covers (`None` for
/// an input signed alone, whose payload is the message).
struct Unit {
    owners: Vec<usize>,
    head: Option<Vec<u8>>,
    /// False when the check cannot pass whatever the signature (a malformed batch proof).
    valid: bool,
}

/// Checks units (each with the part it belongs to) as one batch, the units of each part a
/// group of their own.
fn verify_units(parts: &[Part<'_>], units: &[(usize, &Unit)], keys: &[Option<Arc<PublicKey>>]) -> Vec<bool> {
    let mut verdicts = vec![false; units.len()];
    let mut items = Vec::with_capacity(units.len());
    let mut positions = Vec::with_capacity(units.len());
    let mut group_lens: Vec<usize> = Vec::new();
    let mut last_part = None;
    for (i, ((part, unit), key)) in units.iter().zip(keys).enumerate() {
        let input = &parts[*part].0[unit.owners[0]];
        // A key that is not a valid strong point can sign nothing.
        if let (Some(k), true) = (key, unit.valid) {
            items.push(match &unit.head {
                None => {
                    Item::new(KeyRef::Checked(k), input.kind.domain(), &input.signed.payload, &input.signed.signature)
                }
                Some(head) => Item::new(KeyRef::Checked(k), Domain::UsageBatch, head, &input.signed.signature),
            });
            positions.push(i);
            match group_lens.last_mut() {
                Some(n) if last_part == Some(*part) => *n += 1,
                _ => group_lens.push(1),
            }
            last_part = Some(*part);
        }
    }
    for (pos, verdict) in positions.into_iter().zip(sig::verify_batch_grouped(&items, &group_lens)) {
        verdicts[pos] = verdict.is_ok();
    }
    verdicts
}

#[cfg(test)]
mod tests {
    use super::*;
    use suanli_core::ledger::InputKind;
    use suanli_core::testkit;

    #[test]
    fn verdicts_match_single_checks() {
        let v = Verifier::new(2, "test.example/ledger");
        let k = testkit::key(9);
        let mut inputs: Vec<Input> = (0..200)
            .map(|i| {
                let rec = testkit::reversal(&testkit::uscc(1), &format!("r{i}"), "x");
                testkit::sign(InputKind::Reversal, &k, &rec)
            })
            .collect();
        inputs[7].signed.signature[3] ^= 1;
        inputs[150].kind = InputKind::Usage; // signed as a reversal, presented as usage
        inputs[199].signed.public_key = [0u8; 32]; // not a point of large order
        let verdicts = v.verify_blocking(&inputs, &[]);
        for (i, ok) in verdicts.iter().enumerate() {
            assert_eq!(*ok, ![7, 150, 199].contains(&i), "item {i}");
        }
    }

    #[test]
    fn batch_signed_records_verify_together_and_fail_together() {
        let v = Verifier::new(2, "test.example/ledger");
        let k = testkit::key(3);
        let payloads: Vec<Vec<u8>> = (0..10).map(|i| format!("record {i}").into_bytes()).collect();
        let batch_inputs = |origin: &str, key: &ed25519_dalek::SigningKey| -> Vec<Input> {
            let (signature, proofs) = batch::sign(key, origin, &payloads).unwrap();
            payloads
                .iter()
                .zip(proofs)
                .map(|(p, proof)| Input {
                    kind: InputKind::Usage,
                    signed: suanli_core::entry::Signed {
                        payload: p.clone(),
                        public_key: testkit::public(key),
                        signature,
                        batch: Some(proof),
                    },
                })
                .collect()
        };
        let good = batch_inputs("test.example/ledger", &k);
        assert!(v.verify_blocking(&good, &[]).iter().all(|ok| *ok));
        assert_eq!(v.units(&good, &[]).len(), 1, "one check for the whole batch");
        // Signed for another ledger: every record fails.
        let other = batch_inputs("other.example/ledger", &k);
        assert!(v.verify_blocking(&other, &[]).iter().all(|ok| !*ok));
        // One record changed: its path leads to another root, and it alone fails here
        // (the service rebuilds the tree from what it received, so there all would).
        let mut changed = good.clone();
        changed[4].signed.payload = b"record X".to_vec();
        let verdicts = v.verify_blocking(&changed, &[]);
        assert_eq!(verdicts.iter().filter(|ok| !**ok).count(), 1);
        assert!(!verdicts[4]);
        // A batch proof on a reversal is refused.
        let mut reversal = good[0].clone();
        reversal.kind = InputKind::Reversal;
        assert_eq!(v.verify_blocking(&[reversal], &[]), vec![false]);
    }

    /// Chunks that wait while every verification thread is busy are checked as one group,
    /// and each gets the verdicts it would get alone: a forged signature in one chunk
    /// fails that record only.
    #[tokio::test]
    async fn waiting_chunks_are_checked_together_with_their_own_verdicts() {
        let v = Verifier::new(1, "test.example/ledger");
        let chunk = |key: u64, tag: &str| -> Vec<Input> {
            let k = testkit::key(key);
            (0..12)
                .map(|i| {
                    let rec = testkit::reversal(&testkit::uscc(1), &format!("{tag}{i}"), "x");
                    testkit::sign(InputKind::Reversal, &k, &rec)
                })
                .collect()
        };
        let mut chunks = [chunk(1, "a"), chunk(2, "b"), chunk(3, "c")];
        chunks[1][5].signed.signature[9] ^= 1;
        chunks[2][0].signed.public_key = [0u8; 32];
        let alone: Vec<Vec<bool>> = chunks.iter().map(|c| v.verify_blocking(c, &[])).collect();
        assert_eq!(alone[0], vec![true; 12]);
        assert_eq!(alone[1].iter().filter(|ok| !**ok).count(), 1);
        assert!(!alone[1][5] && !alone[2][0]);
        // No thread takes them until all three chunks wait.
        let v = Arc::new(Verifier::unstarted("test.example/ledger"));
        let tasks: Vec<_> = chunks
            .iter()
            .map(|c| {
                let (v, c) = (v.clone(), Arc::new(c.clone()));
                tokio::spawn(async move { v.verify(c, Vec::new()).await })
            })
            .collect();
        while v.queued().0 < 3 {
            tokio::task::yield_now().await;
        }
        v.start(1);
        for (task, want) in tasks.into_iter().zip(&alone) {
            let got = task.await.unwrap();
            assert_eq!(&got.signature_ok, want);
            assert!(got.parsed.iter().all(Option::is_none), "reversals are not decoded as usage");
        }
        assert_eq!(v.queued(), (0, 1), "the three chunks went as one group");
    }

    /// With the roots the service computed from the batches it received, the verdicts are
    /// those of checking each record's path: two batches side by side, each one check.
    #[test]
    fn known_roots_give_the_verdicts_of_the_paths() {
        let v = Verifier::new(2, "test.example/ledger");
        let (k, k2) = (testkit::key(3), testkit::key(4));
        let batch_of = |origin: &str, key: &ed25519_dalek::SigningKey, tag: &str| -> (Vec<Input>, Vec<Option<Hash>>) {
            let payloads: Vec<Vec<u8>> = (0..10).map(|i| format!("{tag} {i}").into_bytes()).collect();
            let (signature, proofs) = batch::sign(key, origin, &payloads).unwrap();
            let (root, _) = batch::tree(&payloads).unwrap();
            let inputs = payloads
                .into_iter()
                .zip(proofs)
                .map(|(payload, proof)| Input {
                    kind: InputKind::Usage,
                    signed: suanli_core::entry::Signed {
                        payload,
                        public_key: testkit::public(key),
                        signature,
                        batch: Some(proof),
                    },
                })
                .collect();
            (inputs, vec![Some(root); 10])
        };
        let here = "test.example/ledger";
        let cases = [
            [batch_of(here, &k, "a"), batch_of(here, &k2, "b")],
            [batch_of(here, &k, "a"), batch_of("other.example/ledger", &k2, "b")],
            [batch_of(here, &k, "a"), batch_of(here, &k, "a")],
        ];
        for (n, [(a, ra), (b, rb)]) in cases.into_iter().enumerate() {
            let inputs: Vec<Input> = a.into_iter().chain(b).collect();
            let roots: Vec<Option<Hash>> = ra.into_iter().chain(rb).collect();
            let mut forged = inputs.clone();
            forged[15].signed.signature[0] ^= 1; // one record of the second batch, signature changed
            for inputs in [inputs, forged] {
                let by_path = v.verify_blocking(&inputs, &[]);
                assert_eq!(v.verify_blocking(&inputs, &roots), by_path, "case {n}");
                assert_eq!(v.units(&inputs, &roots).len(), v.units(&inputs, &[]).len(), "case {n}");
            }
        }
        let (inputs, roots) = batch_of(here, &k, "a");
        assert!(v.verify_blocking(&inputs, &roots).iter().all(|ok| *ok));
        assert_eq!(v.units(&inputs, &roots).len(), 1);
    }
}
