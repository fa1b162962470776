//! Signature checks off the async runtime and off the sequencer: chunks of inputs are
//! verified in batches on a pool with one thread per core, before they reach the one
//! writer. Verdicts are exactly those of the one-signature rule (`suanli_core::sig`),
//! whatever else is in the batch.
//!
//! Decompressing and order-checking a public key costs several microseconds, so checked
//! keys are cached. The cache is bounded: once full, unknown keys are checked each time
//! (they are almost always unregistered keys, refused later anyway).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use suanli_core::ledger::Input;
use suanli_core::sig::{self, Item, KeyRef, PublicKey};

/// Most public keys kept checked in memory.
pub const KEY_CACHE_MAX: usize = 100_000;
/// Items verified together by one pool task: large enough to amortize the
/// multi-scalar multiplication, small enough to spread a chunk over all cores.
pub const VERIFY_SLICE_ITEMS: usize = 64;

pub struct Verifier {
    pool: rayon::ThreadPool,
    cache: RwLock<HashMap<[u8; 32], Arc<PublicKey>>>,
}

impl Verifier {
    pub fn new(threads: usize) -> Verifier {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads.max(1))
            .thread_name(|i| format!("suanli-verify-{i}"))
            .build()
            .expect("verification thread pool starts");
        Verifier { pool, cache: RwLock::new(HashMap::new()) }
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
    pub fn verify_blocking(&self, inputs: &[Input]) -> Vec<bool> {
        use rayon::prelude::*;
        let keys: Vec<Option<Arc<PublicKey>>> = inputs.iter().map(|i| self.key(&i.signed.public_key)).collect();
        self.pool.install(|| {
            inputs
                .par_chunks(VERIFY_SLICE_ITEMS)
                .zip(keys.par_chunks(VERIFY_SLICE_ITEMS))
                .flat_map_iter(|(ins, ks)| verify_slice(ins, ks))
                .collect()
        })
    }

    /// Verifies on the pool without blocking the async runtime.
    pub async fn verify(self: &Arc<Self>, inputs: Arc<Vec<Input>>) -> Vec<bool> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let me = self.clone();
        self.pool.spawn(move || {
            let _ = tx.send(me.verify_blocking(&inputs));
        });
        rx.await.expect("verification task finished")
    }
}

fn verify_slice(inputs: &[Input], keys: &[Option<Arc<PublicKey>>]) -> Vec<bool> {
    let mut verdicts = vec![false; inputs.len()];
    let mut items = Vec::with_capacity(inputs.len());
    let mut positions = Vec::with_capacity(inputs.len());
    for (i, (input, key)) in inputs.iter().zip(keys).enumerate() {
        // A key that is not a valid strong point can sign nothing.
        if let Some(k) = key {
            items.push(Item::new(
                KeyRef::Checked(k),
                input.kind.domain(),
                &input.signed.payload,
                &input.signed.signature,
            ));
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
    fn verdicts_match_single_checks() {
        let v = Verifier::new(2);
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
        let verdicts = v.verify_blocking(&inputs);
        for (i, ok) in verdicts.iter().enumerate() {
            assert_eq!(*ok, ![7, 150, 199].contains(&i), "item {i}");
        }
    }
}
