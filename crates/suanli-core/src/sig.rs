//! Ed25519 signatures as the ledger accepts them: one rule, the same for a lone signature
//! and for a batch, so that a record's fate never depends on what arrived with it (SPEC §5).
//!
//! ed25519-dalek cannot give us that. Its `verify` checks the cofactorless equation
//! `[s]B = R + [k]A`, and its `verify_batch` (2.2) checks a random linear combination of the
//! same equations without ever multiplying by the cofactor. The small-order parts of `R` and
//! `A` then come out multiplied by numbers that depend on the random weights (and on
//! reducing `z·k` mod ℓ), so a signature can pass or fail with its companions in the batch,
//! and a batch of one can refuse what `verify` accepts (dalek issue #115). So this module
//! checks the equation itself, with curve25519-dalek, under one rule:
//!
//! 1. the public key `A` is a canonical encoding (`y < p`, no `x = -0`), is on the curve and
//!    is not of small order (a small-order key "signs" almost any message);
//! 2. `R` is a canonical encoding of a point on the curve;
//! 3. `s` is canonical (`s < ℓ`), so `(R, s + ℓ)` is not a second signature (dalek's
//!    `Signature::from_bytes` checks nothing; its verify functions check `s < ℓ` only
//!    without the `legacy_compatibility` feature, so we check it here ourselves);
//! 4. the cofactored equation `[8][s]B = [8]R + [8][k]A` holds, `k = SHA-512(R ‖ A ‖ M) mod ℓ`
//!    over the bytes exactly as received.
//!
//! Multiplying by the cofactor removes every small-order part, and what is left lives in a
//! group of prime order ℓ. There a random-weight batch of valid items always holds, and a
//! batch with one invalid item never does (its weight is a non-zero number below ℓ); only two
//! or more invalid items could cancel, with probability below 2⁻¹²⁷. A failing batch is split
//! in halves until the bad items are found, so honest traffic pays one batch check, and every
//! item gets exactly the verdict the single check gives it.
//!
//! Every message the ledger signs is `domain tag ‖ bytes` ([`Domain`]). Each tag ends in the
//! only `\n` it contains, so no tag is a prefix of another, and a signature made for one kind
//! of message can never be read as another kind.
//!
//! What the rule does with the CCTV edge-case vectors (`shared/testdata/ed25519`, 914 vectors;
//! counts from `tests/sig.rs`, which checks each one alone, as a batch of one and inside mixed
//! batches). Rows are tried in order; a vector counts in the first row that matches it.
//!
//! | vectors with | count | verdict | why |
//! | --- | ---: | --- | --- |
//! | `non_canonical_A` | 226 | refused | rule 1: the key has another, canonical encoding |
//! | `low_order_A` (canonical) | 300 | refused | rule 1: weak key, also refused at registration |
//! | `non_canonical_R` | 176 | refused | rule 2: `R` has another, canonical encoding |
//! | `low_order_residue` | 126 | accepted | the cofactored equation holds; only cofactorless `verify` refuses these |
//! | `low_order_R` (canonical) | 43 | accepted | `[8]R = 0`, so `[8][s]B = [8][k]A`: only the key's owner can make these |
//! | `low_order_component_A` / `_R` only | 42 | accepted | mixed-order points; the cofactored equation holds |
//! | no flag | 1 | accepted | an ordinary signature |
//!
//! Every `reencoded_k` vector also has a non-canonical `A` or `R` and is refused for that. In
//! all, 702 are refused and 212 accepted. On the same vectors dalek's `verify` accepts 208
//! (weak keys among them, but not the residues), `verify_strict` 43, and `verify_batch` of
//! one 184, disagreeing with `verify` on 294. `verify_strict` also refuses the 43 small-order
//! `R`; we accept them because the rule does not need `R` to be large, and blocking the eight
//! small-order `R` would not block an `R` with a small-order component anyway.
//!
//! Signatures are not unique, and nothing may be keyed or deduplicated on their bytes: a
//! signer can sign the same bytes with any nonce, or with a small-order point added to `R`
//! (the `low_order_residue` row). Others cannot: `s < ℓ` and `k` covers `R`'s bytes, so a
//! third party cannot turn one valid signature into another. The ledger deduplicates on the
//! signed bytes (SPEC §5).

use std::collections::BTreeMap;

use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha512};

/// Length of an encoded public key.
pub const PUBLIC_KEY_LEN: usize = 32;
/// Length of an encoded signature, `R ‖ s`.
pub const SIGNATURE_LEN: usize = 64;

/// The kind of a signed message. Its tag is prefixed to the bytes before signing, so a
/// signature is only ever valid for the kind it was made for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Domain {
    /// A provider's usage record (SPEC §5).
    Usage,
    /// A corpus-purchase record.
    Corpus,
    /// A reversal of an accepted record.
    Reversal,
    /// A request of the registry operator.
    Admin,
    /// A request of a voucher holder.
    Holder,
    /// A request of the finance bureau.
    Finance,
    /// A signed read request.
    Read,
    /// A batch of usage records signed at once ([`crate::batch`]): the message is the
    /// batch head, which names the ledger and the Merkle root of the records.
    UsageBatch,
}

impl Domain {
    /// Every domain, for code that must treat them all (and for tests that must cover them).
    pub const ALL: [Domain; 8] = [
        Domain::Usage,
        Domain::Corpus,
        Domain::Reversal,
        Domain::Admin,
        Domain::Holder,
        Domain::Finance,
        Domain::Read,
        Domain::UsageBatch,
    ];

    /// The bytes signed before the message. They name the protocol version too, so a v2
    /// message can never be replayed as v1.
    pub fn tag(self) -> &'static [u8] {
        match self {
            Domain::Usage => b"suanli/v1/usage\n",
            Domain::Corpus => b"suanli/v1/corpus\n",
            Domain::Reversal => b"suanli/v1/reversal\n",
            Domain::Admin => b"suanli/v1/admin\n",
            Domain::Holder => b"suanli/v1/holder\n",
            Domain::Finance => b"suanli/v1/finance\n",
            Domain::Read => b"suanli/v1/read\n",
            Domain::UsageBatch => b"suanli/v1/usage-batch\n",
        }
    }
}

/// Why a public key is refused, at registration and in every verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("public key is not the canonical encoding of its point")]
    NonCanonical,
    #[error("public key is not a point on the curve")]
    NotOnCurve,
    #[error("public key has small order, so it would verify signatures on almost anything")]
    Weak,
}

/// Why a signature is refused. The server answers `BAD_SIGNATURE` for all of them; the
/// variants say which part of the rule failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SigError {
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("signature R is not the canonical encoding of its point")]
    NonCanonicalR,
    #[error("signature R is not a point on the curve")]
    RNotOnCurve,
    #[error("signature s is not reduced modulo the group order")]
    NonCanonicalS,
    #[error("the record's batch proof does not fit its batch")]
    BatchProof,
    #[error("signature does not verify")]
    Equation,
}

/// A public key that satisfies rule 1, decompressed. Only [`check_public_key`] and
/// [`PublicKey::from_verifying_key`] make one, so holding one proves the check: verification
/// with it neither decompresses nor re-checks the key (re-checking the order alone costs
/// about 2 µs, a tenth of a batched verification). The server keeps one per registered key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    /// Applies rule 1 to a key that is already decompressed, such as one derived from a
    /// `SigningKey`; `VerifyingKey::from_bytes` accepts non-canonical and weak keys.
    pub fn from_verifying_key(key: VerifyingKey) -> Result<Self, KeyError> {
        if !is_canonical_encoding(key.as_bytes()) {
            return Err(KeyError::NonCanonical);
        }
        if key.is_weak() {
            return Err(KeyError::Weak);
        }
        Ok(PublicKey(key))
    }

    /// The canonical encoding, exactly as registered.
    pub fn as_bytes(&self) -> &[u8; PUBLIC_KEY_LEN] {
        self.0.as_bytes()
    }

    /// The dalek key, for code that needs dalek's own API.
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.0
    }
}

/// Checks a public key against rule 1 and decompresses it. Registration must use this, and
/// callers should keep the result: verifying with it skips the decompression.
pub fn check_public_key(bytes: &[u8; PUBLIC_KEY_LEN]) -> Result<PublicKey, KeyError> {
    checked_point(bytes).map(|point| PublicKey(VerifyingKey::from(point)))
}

/// Signs `domain tag ‖ msg`. Signing is deterministic (RFC 8032), so the same key and bytes
/// always give the same signature.
pub fn sign(key: &SigningKey, domain: Domain, msg: &[u8]) -> [u8; SIGNATURE_LEN] {
    // dalek signs one contiguous message; signing is off the ledger's hot path, so the copy
    // is cheaper than a hazmat dependency.
    let mut tagged = Vec::with_capacity(domain.tag().len() + msg.len());
    tagged.extend_from_slice(domain.tag());
    tagged.extend_from_slice(msg);
    key.sign(&tagged).to_bytes()
}

/// A public key as the caller has it: raw bytes, checked at every use, or already checked.
#[derive(Debug, Clone, Copy)]
pub enum KeyRef<'a> {
    Bytes(&'a [u8; PUBLIC_KEY_LEN]),
    Checked(&'a PublicKey),
}

impl<'a> From<&'a [u8; PUBLIC_KEY_LEN]> for KeyRef<'a> {
    fn from(bytes: &'a [u8; PUBLIC_KEY_LEN]) -> Self {
        KeyRef::Bytes(bytes)
    }
}

impl<'a> From<&'a PublicKey> for KeyRef<'a> {
    fn from(key: &'a PublicKey) -> Self {
        KeyRef::Checked(key)
    }
}

/// One signature to check: key, message and signature, all borrowed.
#[derive(Debug, Clone, Copy)]
pub struct Item<'a> {
    key: KeyRef<'a>,
    tag: &'static [u8],
    msg: &'a [u8],
    sig: &'a [u8; SIGNATURE_LEN],
}

impl<'a> Item<'a> {
    /// A signature over `domain tag ‖ msg`: what every ledger message carries.
    pub fn new(key: impl Into<KeyRef<'a>>, domain: Domain, msg: &'a [u8], sig: &'a [u8; SIGNATURE_LEN]) -> Self {
        Item { key: key.into(), tag: domain.tag(), msg, sig }
    }

    /// A signature over `msg` with no domain tag. Only for test vectors and interoperability
    /// checks: no ledger message is signed without a tag.
    pub fn raw(key: impl Into<KeyRef<'a>>, msg: &'a [u8], sig: &'a [u8; SIGNATURE_LEN]) -> Self {
        Item { key: key.into(), tag: b"", msg, sig }
    }

    /// The verdict of the ledger's rule on this one signature.
    pub fn verify(&self) -> Result<(), SigError> {
        let prepared = prepare(self)?;
        if single_equation_holds(&prepared) { Ok(()) } else { Err(SigError::Equation) }
    }
}

/// Verifies a signature over `domain tag ‖ msg`.
pub fn verify<'a>(
    key: impl Into<KeyRef<'a>>,
    domain: Domain,
    msg: &'a [u8],
    sig: &'a [u8; SIGNATURE_LEN],
) -> Result<(), SigError> {
    Item::new(key, domain, msg, sig).verify()
}

/// Verifies a signature over `msg` alone, with the same rule; see [`Item::raw`].
pub fn verify_raw<'a>(key: impl Into<KeyRef<'a>>, msg: &'a [u8], sig: &'a [u8; SIGNATURE_LEN]) -> Result<(), SigError> {
    Item::raw(key, msg, sig).verify()
}

/// Verifies many signatures at once and returns, for each item in order, exactly the verdict
/// [`Item::verify`] gives it. Valid items cost one multi-scalar multiplication together; a
/// failing batch is halved until the failing items are isolated, which costs about
/// `log2(n)` extra sub-batch checks per bad item, and when nearly every item is bad, about
/// twice what checking them one by one would. Items signed by the same key share one point
/// of the multiplication, so pass [`PublicKey`]s for keys the caller has already checked.
pub fn verify_batch(items: &[Item<'_>]) -> Vec<Result<(), SigError>> {
    verify_batch_grouped(items, &[items.len()])
}

/// [`verify_batch`] over items that come in groups (`group_lens`: the sizes of consecutive
/// groups, adding up to `items.len()`), such as the submissions of several clients checked
/// together. The verdicts are the same; what changes is the cost of a failing batch: each
/// group is then checked on its own and only failing groups are halved, so a group full of
/// bad signatures costs the others one extra check, not a share of its bisection.
pub fn verify_batch_grouped(items: &[Item<'_>], group_lens: &[usize]) -> Vec<Result<(), SigError>> {
    assert_eq!(group_lens.iter().sum::<usize>(), items.len(), "groups cover the items");
    let mut verdicts = Vec::with_capacity(items.len());
    let mut prepared = Vec::with_capacity(items.len());
    let mut origin = Vec::with_capacity(items.len());
    // The prepared items of each group, as a range of `prepared`.
    let mut groups = Vec::with_capacity(group_lens.len());
    let mut next = 0;
    for &len in group_lens {
        let first = prepared.len();
        for (i, item) in items.iter().enumerate().skip(next).take(len) {
            match prepare(item) {
                Ok(p) => {
                    prepared.push(p);
                    origin.push(i);
                    verdicts.push(Ok(()));
                }
                Err(e) => verdicts.push(Err(e)),
            }
        }
        next += len;
        groups.push(first..prepared.len());
    }
    let batch = Batch::new(&prepared);
    let all: Vec<usize> = (0..prepared.len()).collect();
    if !batch.holds(&all) {
        let mut bad = Vec::new();
        let failing: Vec<&std::ops::Range<usize>> = groups.iter().filter(|g| !g.is_empty()).collect();
        if let [only] = failing[..] {
            batch.bisect(&all[only.clone()], &mut bad);
        } else {
            for g in failing {
                if !batch.holds(&all[g.clone()]) {
                    batch.bisect(&all[g.clone()], &mut bad);
                }
            }
        }
        for b in bad {
            verdicts[origin[b]] = Err(SigError::Equation);
        }
    }
    verdicts
}

/// Rule 1 on the key's bytes.
fn checked_point(bytes: &[u8; PUBLIC_KEY_LEN]) -> Result<EdwardsPoint, KeyError> {
    if !is_canonical_encoding(bytes) {
        return Err(KeyError::NonCanonical);
    }
    let point = CompressedEdwardsY(*bytes).decompress().ok_or(KeyError::NotOnCurve)?;
    if point.is_small_order() {
        return Err(KeyError::Weak);
    }
    Ok(point)
}

/// Whether a point encoding is the one its point compresses to. curve25519-dalek's
/// `decompress` also accepts `y ≥ p` (reduced mod p) and a sign bit on `x = 0`; checking the
/// bytes avoids decompressing and compressing again just to compare.
fn is_canonical_encoding(bytes: &[u8; 32]) -> bool {
    let middle = &bytes[1..31];
    let top = bytes[31] & 0x7f;
    let sign_bit = bytes[31] & 0x80 != 0;
    // p = 2^255 - 19 is ed ff … ff 7f little-endian, so y ≥ p only when every byte above the
    // lowest is all ones.
    let y_high_all_ones = middle.iter().all(|&b| b == 0xff) && top == 0x7f;
    let y_at_least_p = y_high_all_ones && bytes[0] >= 0xed;
    // x = 0 only when y² = 1, that is y = 1 or y = p - 1; there the sign bit must be clear.
    let y_is_one = bytes[0] == 0x01 && middle.iter().all(|&b| b == 0) && top == 0;
    let y_is_minus_one = y_high_all_ones && bytes[0] == 0xec;
    !y_at_least_p && !(sign_bit && (y_is_one || y_is_minus_one))
}

/// A signature that passed every check except the equation, with what the equation needs.
struct Prepared {
    key_bytes: [u8; PUBLIC_KEY_LEN],
    a: EdwardsPoint,
    r: EdwardsPoint,
    s: Scalar,
    k: Scalar,
    /// `SHA-512(R ‖ A ‖ M)` before reduction: binds R, A and M into the batch weights.
    hram: [u8; 64],
}

/// Rules 1–3, cheapest checks first, and the challenge `k`.
fn prepare(item: &Item<'_>) -> Result<Prepared, SigError> {
    let (key_bytes, a) = match item.key {
        KeyRef::Bytes(bytes) => (*bytes, checked_point(bytes)?),
        KeyRef::Checked(key) => (key.0.to_bytes(), key.0.to_edwards()),
    };
    let mut r_bytes = [0u8; 32];
    r_bytes.copy_from_slice(&item.sig[..32]);
    let mut s_bytes = [0u8; 32];
    s_bytes.copy_from_slice(&item.sig[32..]);
    if !is_canonical_encoding(&r_bytes) {
        return Err(SigError::NonCanonicalR);
    }
    let s: Scalar = Option::from(Scalar::from_canonical_bytes(s_bytes)).ok_or(SigError::NonCanonicalS)?;
    let r = CompressedEdwardsY(r_bytes).decompress().ok_or(SigError::RNotOnCurve)?;
    let hram: [u8; 64] = Sha512::new()
        .chain_update(r_bytes)
        .chain_update(key_bytes)
        .chain_update(item.tag)
        .chain_update(item.msg)
        .finalize()
        .into();
    let k = Scalar::from_bytes_mod_order_wide(&hram);
    Ok(Prepared { key_bytes, a, r, s, k, hram })
}

/// Rule 4 for one signature: `[8]([s]B - [k]A - R) = 0`.
fn single_equation_holds(p: &Prepared) -> bool {
    let sb_minus_ka = EdwardsPoint::vartime_double_scalar_mul_basepoint(&p.k, &-p.a, &p.s);
    (sb_minus_ka - p.r).mul_by_cofactor().is_identity()
}

/// Prepared signatures with their batch weights, and their keys merged: the server's batches
/// hold many records signed by the same provider key, and each distinct key then costs one
/// point in the multi-scalar multiplication instead of one per signature.
struct Batch<'p> {
    items: &'p [Prepared],
    weights: Vec<Scalar>,
    /// For each item, the index of its key in `keys`.
    key_index: Vec<usize>,
    keys: Vec<EdwardsPoint>,
}

impl<'p> Batch<'p> {
    fn new(items: &'p [Prepared]) -> Self {
        let mut by_bytes: BTreeMap<[u8; 32], usize> = BTreeMap::new();
        let mut keys = Vec::new();
        let key_index = items
            .iter()
            .map(|p| {
                // Canonical encodings are unique, so equal points have equal bytes.
                *by_bytes.entry(p.key_bytes).or_insert_with(|| {
                    keys.push(p.a);
                    keys.len() - 1
                })
            })
            .collect();
        Batch { items, weights: weights(items), key_index, keys }
    }

    /// Whether the weighted sum of the subset's equations, times the cofactor, is zero.
    fn holds(&self, subset: &[usize]) -> bool {
        match subset {
            [] => true,
            // The weight of a lone item is a unit mod ℓ, so this is the same test, done
            // faster with dalek's precomputed basepoint table.
            [only] => single_equation_holds(&self.items[*only]),
            _ => self.combined_equation(subset).mul_by_cofactor().is_identity(),
        }
    }

    /// `Σ z_i ([k_i]A_i + R_i - [s_i]B)`, with the `A` terms of equal keys added first.
    fn combined_equation(&self, subset: &[usize]) -> EdwardsPoint {
        let mut scalars = Vec::with_capacity(2 * subset.len() + 1);
        let mut points = Vec::with_capacity(2 * subset.len() + 1);
        let mut b_coefficient = Scalar::ZERO;
        let mut key_slot: Vec<Option<usize>> = vec![None; self.keys.len()];
        for &i in subset {
            let (p, z) = (&self.items[i], self.weights[i]);
            b_coefficient -= z * p.s;
            scalars.push(z);
            points.push(p.r);
            let zk = z * p.k;
            let key = self.key_index[i];
            match key_slot[key] {
                Some(slot) => scalars[slot] += zk,
                None => {
                    key_slot[key] = Some(scalars.len());
                    scalars.push(zk);
                    points.push(self.keys[key]);
                }
            }
        }
        scalars.push(b_coefficient);
        points.push(ED25519_BASEPOINT_POINT);
        EdwardsPoint::vartime_multiscalar_mul(&scalars, &points)
    }

    /// Collects into `bad` the items of `subset` that fail, given that `subset` fails.
    fn bisect(&self, subset: &[usize], bad: &mut Vec<usize>) {
        if let [only] = subset {
            bad.push(*only);
            return;
        }
        let (left, right) = subset.split_at(subset.len() / 2);
        if self.holds(left) {
            // The two halves' sums add up to the failing whole, so the right half fails.
            self.bisect(right, bad);
        } else {
            self.bisect(left, bad);
            if !self.holds(right) {
                self.bisect(right, bad);
            }
        }
    }
}

/// Batch weights `z_i`: non-zero 128-bit numbers drawn from a hash of every item, since the
/// core has no randomness. Whoever would make two bad items cancel must fix the items before
/// learning their weights, so each try succeeds with probability about 2⁻¹²⁷. `s` goes in
/// too, or a forger could pick `s` after seeing the weights.
fn weights(items: &[Prepared]) -> Vec<Scalar> {
    let mut transcript = Sha512::new();
    transcript.update(b"suanli/v1/batch-weights\n");
    transcript.update((items.len() as u64).to_le_bytes());
    for p in items {
        transcript.update(p.hram);
        transcript.update(p.s.as_bytes());
    }
    let seed = transcript.finalize();
    let mut weights = Vec::with_capacity(items.len());
    let mut block: u64 = 0;
    while weights.len() < items.len() {
        let stream = Sha512::new().chain_update(seed).chain_update(block.to_le_bytes()).finalize();
        for chunk in stream.chunks_exact(16) {
            if weights.len() == items.len() {
                break;
            }
            let mut z = [0u8; 16];
            z.copy_from_slice(chunk);
            // Zero would drop an item from the sum; any other value below ℓ is a unit.
            weights.push(Scalar::from(u128::from_le_bytes(z).max(1)));
        }
        block += 1;
    }
    weights
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The byte check must agree with "decompress, compress, compare" on every encoding
    /// near the edges (y near 0, 1, p - 1, p and 2^255) with both sign bits.
    #[test]
    fn canonical_check_matches_round_trip() {
        let mut checked = 0;
        let mut edges: Vec<[u8; 32]> = Vec::new();
        for low in 0u8..=255 {
            let mut small = [0u8; 32];
            small[0] = low;
            edges.push(small);
            let mut high = [0xffu8; 32];
            high[0] = low;
            high[31] = 0x7f;
            edges.push(high);
            let mut near = high;
            near[1] = 0xfe;
            edges.push(near);
        }
        for base in edges {
            for sign in [0u8, 0x80] {
                let mut bytes = base;
                bytes[31] |= sign;
                if let Some(point) = CompressedEdwardsY(bytes).decompress() {
                    let round_trip = point.compress().to_bytes() == bytes;
                    assert_eq!(is_canonical_encoding(&bytes), round_trip, "{bytes:02x?}");
                    checked += 1;
                }
            }
        }
        assert!(checked > 100, "only {checked} edge encodings were on the curve");
    }

    #[test]
    fn known_non_canonical_encodings_are_refused() {
        // From the CCTV README: y > p, and x = -0.
        for hex in [
            "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
            "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
            "0100000000000000000000000000000000000000000000000000000000000080",
            "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
            "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
            "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        ] {
            let mut bytes = [0u8; 32];
            for (i, b) in bytes.iter_mut().enumerate() {
                *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
            }
            assert!(!is_canonical_encoding(&bytes), "{hex}");
            assert_eq!(check_public_key(&bytes), Err(KeyError::NonCanonical));
        }
    }

    #[test]
    fn weights_are_deterministic_and_distinct() {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let sigs: Vec<[u8; 64]> = (0u8..9).map(|i| sign(&key, Domain::Usage, &[i])).collect();
        let msgs: Vec<[u8; 1]> = (0u8..9).map(|i| [i]).collect();
        let vk = PublicKey::from_verifying_key(key.verifying_key()).unwrap();
        let prepared: Vec<Prepared> =
            (0..9).map(|i| prepare(&Item::new(&vk, Domain::Usage, &msgs[i], &sigs[i])).unwrap()).collect();
        let a = weights(&prepared);
        assert_eq!(a, weights(&prepared));
        assert_eq!(a.len(), 9);
        for (i, x) in a.iter().enumerate() {
            assert_ne!(*x, Scalar::ZERO);
            assert!(a[i + 1..].iter().all(|y| y != x));
        }
        // One key, nine signatures: the batch merges them into one key point.
        assert_eq!(Batch::new(&prepared).keys.len(), 1);
    }
}
