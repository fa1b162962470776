//! Signature checks off the async runtime and off the sequencer: chunks of inputs are
//! verified in batches on a pool with one thread per core, before they reach the one
//! writer. Verdicts are exactly those of the one-signature rule (`suanli_core::sig`),
//! whatever else is in the batch.
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

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

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
/// Items verified together by one pool task, at least: enough to amortize the
/// multi-scalar multiplication, small enough to spread a small chunk over all cores.
pub const VERIFY_SLICE_ITEMS: usize = 64;
/// Items verified together by one pool task, at most. A chunk is cut into one slice per
/// verification thread between the two bounds: the multi-scalar multiplication costs less
/// per signature the more it combines (criterion `signatures/batches of N` in
/// `bench/benches/stages.rs`: 99 k/s per core in batches of 64, 106 k in 256, 118 k in
/// 1,024), and a full 512-record chunk keeps both cores busy as two slices of 256.
pub const VERIFY_SLICE_MAX: usize = 256;

/// The slice size for `n` items on `threads` verification threads.
pub fn slice_items(n: usize, threads: usize) -> usize {
    n.div_ceil(threads.max(1)).clamp(VERIFY_SLICE_ITEMS, VERIFY_SLICE_MAX)
}

pub struct Verifier {
    pool: rayon::ThreadPool,
    cache: RwLock<HashMap<[u8; 32], Arc<PublicKey>>>,
    /// This ledger's checkpoint origin, which batch heads must name.
    origin: String,
}

impl Verifier {
    /// A verifier for the ledger whose checkpoint origin is `origin`.
    pub fn new(threads: usize, origin: impl Into<String>) -> Verifier {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads.max(1))
            .thread_name(|i| format!("suanli-verify-{i}"))
            .build()
            .expect("verification thread pool starts");
        Verifier { pool, cache: RwLock::new(HashMap::new()), origin: origin.into() }
    }

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

    /// Verifies every input under its kind's domain tag, in parallel slices; blocking.
    /// `roots` (empty, or one per input) gives the batch root of each batch-signed input
    /// whose proof the caller computed from the batch itself.
    pub fn verify_blocking(&self, inputs: &[Input], roots: &[Option<Hash>]) -> Vec<bool> {
        use rayon::prelude::*;
        let units = self.units(inputs, roots);
        let keys: Vec<Option<Arc<PublicKey>>> =
            units.iter().map(|u| self.key(&inputs[u.owners[0]].signed.public_key)).collect();
        let slice = slice_items(units.len(), self.pool.current_num_threads());
        let unit_verdicts: Vec<bool> = self.pool.install(|| {
            units
                .par_chunks(slice)
                .zip(keys.par_chunks(slice))
                .flat_map_iter(|(us, ks)| verify_slice(inputs, us, ks))
                .collect()
        });
        let mut verdicts = vec![false; inputs.len()];
        for (u, ok) in units.iter().zip(unit_verdicts) {
            for &i in &u.owners {
                verdicts[i] = ok;
            }
        }
        verdicts
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

    /// Verifies on the pool, and decodes the usage records whose signature holds, without
    /// blocking the async runtime.
    pub async fn verify(self: &Arc<Self>, inputs: Arc<Vec<Input>>, roots: Vec<Option<Hash>>) -> Checked {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let me = self.clone();
        self.pool.spawn(move || {
            let _ = tx.send(me.check_blocking(&inputs, &roots));
        });
        rx.await.expect("verification task finished")
    }

    /// [`Verifier::verify_blocking`], then the usage records decoded (in parallel too).
    pub fn check_blocking(&self, inputs: &[Input], roots: &[Option<Hash>]) -> Checked {
        use rayon::prelude::*;
        let signature_ok = self.verify_blocking(inputs, roots);
        let parsed = self.pool.install(|| {
            inputs
                .par_iter()
                .zip(&signature_ok)
                .with_min_len(VERIFY_SLICE_ITEMS)
                .map(|(input, ok)| {
                    (*ok && input.kind == InputKind::Usage).then(|| validate::parse_usage(&input.signed.payload))
                })
                .collect()
        });
        Checked { signature_ok, parsed }
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

fn verify_slice(inputs: &[Input], units: &[Unit], keys: &[Option<Arc<PublicKey>>]) -> Vec<bool> {
    let mut verdicts = vec![false; units.len()];
    let mut items = Vec::with_capacity(units.len());
    let mut positions = Vec::with_capacity(units.len());
    for (i, (unit, key)) in units.iter().zip(keys).enumerate() {
        let input = &inputs[unit.owners[0]];
        // A key that is not a valid strong point can sign nothing.
        if let (Some(k), true) = (key, unit.valid) {
            items.push(match &unit.head {
                None => {
                    Item::new(KeyRef::Checked(k), input.kind.domain(), &input.signed.payload, &input.signed.signature)
                }
                Some(head) => Item::new(KeyRef::Checked(k), Domain::UsageBatch, head, &input.signed.signature),
            });
            positions.push(i);
        }
    }
    for (pos, verdict) in positions.into_iter().zip(sig::verify_batch(&items)) {
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
    fn chunks_are_cut_into_one_slice_per_thread_within_bounds() {
        assert_eq!(slice_items(512, 2), 256);
        assert_eq!(slice_items(300, 2), 150);
        assert_eq!(slice_items(100, 2), VERIFY_SLICE_ITEMS);
        assert_eq!(slice_items(5_000, 2), VERIFY_SLICE_MAX);
        assert_eq!(slice_items(1, 0), VERIFY_SLICE_ITEMS);
    }

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
