//! The log's Merkle tree (SPEC §9): RFC 6962 / RFC 9162 §2.1 hashing, the compact
//! frontier the sequencer appends to, proof generation from stored subtree nodes, and
//! proof verification.
//!
//! Why it is shaped this way:
//!
//! - The ledger appends one leaf per entry on the single-writer hot path, so appending is
//!   O(log n) and never looks at old leaves: [`Frontier`] keeps only the peaks of the
//!   perfect subtrees of the current tree, and reports each perfect subtree it completes
//!   so a store can keep it.
//! - A perfect subtree never changes once complete, so the stored nodes answer questions
//!   about *every* earlier tree size too. [`root_at`], [`inclusion_proof`] and
//!   [`consistency_proof`] read only such nodes through [`NodeReader`]: O(log n) reads,
//!   no rehashing of the past except the ragged right edge of the requested size.
//! - Verification is a literal transcription of RFC 9162 §2.1.3.2 and §2.1.4.2, because
//!   the offline verifier and outside auditors must accept exactly what the RFC accepts.
//!   The public test vectors in `../shared/testdata/merkle/` pin that down.

use sha2::{Digest, Sha256};

/// A SHA-256 output: leaf hashes, interior node hashes and roots.
pub type Hash = [u8; 32];

/// Hash of a leaf: `SHA-256(0x00 ‖ data)`. The prefix byte keeps a leaf from ever being
/// mistaken for an interior node (second-preimage resistance, RFC 6962 §2.1).
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(data);
    h.finalize().into()
}

/// Hash of an interior node: `SHA-256(0x01 ‖ left ‖ right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0x01]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// Root of the empty tree: `SHA-256("")` (RFC 6962 §2.1, MTH({})).
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The perfect subtree of `2^level` leaves that starts at leaf `index · 2^level`.
/// Level 0 nodes are leaf hashes. These are the only nodes a store ever keeps, because
/// they are the only nodes that never change as the log grows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId {
    pub level: u8,
    pub index: u64,
}

impl NodeId {
    /// The node of the leaf at `index`.
    pub const fn leaf(index: u64) -> NodeId {
        NodeId { level: 0, index }
    }
}

/// Reads perfect-subtree hashes that are complete in the log.
///
/// Contract: `node(id)` returns the hash of the perfect subtree `id` if all of its leaves
/// are in the log, and an error otherwise (never a made-up value). Asking about a tree
/// size the log has not reached therefore surfaces as the reader's error, since the
/// node holding the last requested leaf does not exist yet.
pub trait NodeReader {
    type Error;
    fn node(&self, id: NodeId) -> Result<Hash, Self::Error>;
}

impl<R: NodeReader + ?Sized> NodeReader for &R {
    type Error = R::Error;
    fn node(&self, id: NodeId) -> Result<Hash, Self::Error> {
        (**self).node(id)
    }
}

/// Why a [`Frontier`] encoding is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrontierDecodeError {
    #[error("frontier encoding is {0} bytes, shorter than its header")]
    TooShort(usize),
    #[error("unknown frontier encoding version {0}")]
    Version(u8),
    #[error("frontier of size {size} needs {expected} peaks, the encoding has {got} bytes of peaks")]
    PeakCount { size: u64, expected: u32, got: usize },
}

/// The compact range `[0, size)`: the roots ("peaks") of the perfect subtrees that the
/// binary representation of `size` splits the tree into, largest (leftmost) first.
/// Enough to append and to compute the current root, in O(log n) space.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    /// One peak per set bit of `size`, from the highest bit down.
    peaks: Vec<Hash>,
}

/// First byte of [`Frontier::encode`], so the stored format can change without guessing.
const FRONTIER_ENCODING_V1: u8 = 1;
const FRONTIER_HEADER_LEN: usize = 1 + 8;

impl Frontier {
    /// The frontier of the empty tree.
    pub fn new() -> Frontier {
        Frontier::default()
    }

    /// Number of leaves appended so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The peaks, largest subtree first (one per set bit of `size`).
    pub fn peaks(&self) -> &[Hash] {
        &self.peaks
    }

    /// Appends a leaf hash. `on_node` sees every perfect subtree this append completes,
    /// bottom up, starting with the leaf itself at level 0: exactly the nodes a store
    /// needs so that [`NodeReader`] can answer for every size from now on.
    pub fn append(&mut self, leaf: Hash, mut on_node: impl FnMut(NodeId, Hash)) {
        let index = self.size;
        // A log of 2^64 entries is not a situation to recover from.
        let new_size = index.checked_add(1).expect("merkle log size overflows u64");
        on_node(NodeId::leaf(index), leaf);
        let mut hash = leaf;
        let mut level: u8 = 0;
        // Each set low bit of the old size is a peak of the same height as the subtree
        // being carried: they merge, like a carry in binary addition.
        while (index >> level) & 1 == 1 {
            let left = self.peaks.pop().expect("a set bit of size always has a peak");
            hash = node_hash(&left, &hash);
            level += 1;
            on_node(NodeId { level, index: index >> level }, hash);
        }
        self.peaks.push(hash);
        self.size = new_size;
        debug_assert_eq!(self.peaks.len(), self.size.count_ones() as usize);
    }

    /// The RFC 6962 root of the current tree (`empty_root()` for size 0).
    pub fn root(&self) -> Hash {
        fold_peaks(&self.peaks).unwrap_or_else(empty_root)
    }

    /// Rebuilds the frontier of the tree of `size` from stored nodes (after a restart),
    /// with one read per peak.
    pub fn from_reader<R: NodeReader>(reader: &R, size: u64) -> Result<Frontier, R::Error> {
        let peaks = peak_ids(0, size).map(|id| reader.node(id)).collect::<Result<Vec<_>, _>>()?;
        Ok(Frontier { size, peaks })
    }

    /// Deterministic encoding: version byte `1`, the size as u64 big-endian, then the
    /// peaks in order. Same frontier, same bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(FRONTIER_HEADER_LEN + 32 * self.peaks.len());
        out.push(FRONTIER_ENCODING_V1);
        out.extend_from_slice(&self.size.to_be_bytes());
        for p in &self.peaks {
            out.extend_from_slice(p);
        }
        out
    }

    /// Strict inverse of [`Frontier::encode`]: refuses other versions, trailing or
    /// missing bytes, and a peak count that does not match the size.
    pub fn decode(bytes: &[u8]) -> Result<Frontier, FrontierDecodeError> {
        if bytes.len() < FRONTIER_HEADER_LEN {
            return Err(FrontierDecodeError::TooShort(bytes.len()));
        }
        if bytes[0] != FRONTIER_ENCODING_V1 {
            return Err(FrontierDecodeError::Version(bytes[0]));
        }
        let size = u64::from_be_bytes(bytes[1..FRONTIER_HEADER_LEN].try_into().expect("8 bytes"));
        let rest = &bytes[FRONTIER_HEADER_LEN..];
        let expected = size.count_ones();
        if rest.len() != 32 * expected as usize {
            return Err(FrontierDecodeError::PeakCount { size, expected, got: rest.len() });
        }
        let peaks = rest.chunks_exact(32).map(|c| c.try_into().expect("32-byte chunk")).collect();
        Ok(Frontier { size, peaks })
    }
}

/// Right fold of peaks, largest first: `H(p0, H(p1, H(p2, …)))`. This is MTH of the
/// tree because RFC 6962 always splits at the largest power of two below the size,
/// which is exactly the leftmost peak. `None` for no peaks.
fn fold_peaks(peaks: &[Hash]) -> Option<Hash> {
    let (last, rest) = peaks.split_last()?;
    Some(rest.iter().rev().fold(*last, |acc, p| node_hash(p, &acc)))
}

/// The perfect subtrees that make up the leaf range `[start, start + len)`, largest
/// first. Callers only pass ranges that arise in the RFC recursion, where `start` is a
/// multiple of the smallest power of two ≥ `len`; then the pieces are aligned nodes.
fn peak_ids(start: u64, len: u64) -> impl Iterator<Item = NodeId> {
    debug_assert!(len.checked_next_power_of_two().map_or(start == 0, |p| start.is_multiple_of(p)));
    let mut offset = start;
    (0..64u8).rev().filter(move |l| (len >> l) & 1 == 1).map(move |level| {
        let id = NodeId { level, index: offset >> level };
        offset += 1u64 << level;
        id
    })
}

/// MTH of the leaf range `[start, end)` (non-empty, aligned as in [`peak_ids`]).
fn range_hash<R: NodeReader>(reader: &R, start: u64, end: u64) -> Result<Hash, R::Error> {
    debug_assert!(start < end);
    let peaks = peak_ids(start, end - start).map(|id| reader.node(id)).collect::<Result<Vec<_>, _>>()?;
    Ok(fold_peaks(&peaks).expect("non-empty range has a peak"))
}

/// The largest power of two strictly below `n` (n ≥ 2): the RFC's split point `k`.
fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

/// Why a root or proof cannot be produced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError<E> {
    #[error("leaf index {index} is not in a tree of size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    /// RFC 9162 defines consistency only from a non-empty tree: every tree is trivially
    /// an extension of the empty one, and the public vectors treat size 0 as an error.
    #[error("no consistency proof from an empty tree")]
    EmptyOldTree,
    #[error("tree of size {m} cannot be a prefix of the tree of size {n}")]
    SizeOrder { m: u64, n: u64 },
    /// The reader could not supply a node; this is how a size beyond the log shows up.
    #[error("node store: {0}")]
    Reader(E),
}

/// The RFC 6962 root of the tree of `size` leaves, from at most 64 stored nodes.
pub fn root_at<R: NodeReader>(reader: &R, size: u64) -> Result<Hash, ProofError<R::Error>> {
    if size == 0 {
        return Ok(empty_root());
    }
    range_hash(reader, 0, size).map_err(ProofError::Reader)
}

/// The audit path PATH(index, D[size]) of RFC 9162 §2.1.3.1, leaf side first.
pub fn inclusion_proof<R: NodeReader>(reader: &R, index: u64, size: u64) -> Result<Vec<Hash>, ProofError<R::Error>> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    // Walk the RFC recursion top down over the range [lo, hi) that holds the leaf; each
    // step contributes the sibling subtree. The RFC appends siblings after recursing, so
    // the proof is this list reversed.
    let (mut lo, mut hi) = (0u64, size);
    let mut path = Vec::new();
    while hi - lo > 1 {
        let mid = lo + split_point(hi - lo);
        if index < mid {
            path.push(range_hash(reader, mid, hi).map_err(ProofError::Reader)?);
            hi = mid;
        } else {
            path.push(range_hash(reader, lo, mid).map_err(ProofError::Reader)?);
            lo = mid;
        }
    }
    path.reverse();
    Ok(path)
}

/// The consistency proof PROOF(m, D[n]) of RFC 9162 §2.1.4.1, smallest subtree first.
/// `m == n` gives the empty proof; `m == 0` and `m > n` are errors.
pub fn consistency_proof<R: NodeReader>(reader: &R, m: u64, n: u64) -> Result<Vec<Hash>, ProofError<R::Error>> {
    if m == 0 {
        return Err(ProofError::EmptyOldTree);
    }
    if m > n {
        return Err(ProofError::SizeOrder { m, n });
    }
    // SUBPROOF(m, D[lo:hi], b) unrolled: `m` counts the old tree's leaves inside
    // [lo, hi), `whole_old_root_known` is the RFC's flag b (true while the old tree is
    // a prefix starting at 0, so the verifier already holds its root).
    let (mut lo, mut hi, mut m) = (0u64, n, m);
    let mut whole_old_root_known = true;
    let mut proof = Vec::new();
    loop {
        if m == hi - lo {
            if !whole_old_root_known {
                proof.push(range_hash(reader, lo, hi).map_err(ProofError::Reader)?);
            }
            break;
        }
        let k = split_point(hi - lo);
        if m <= k {
            proof.push(range_hash(reader, lo + k, hi).map_err(ProofError::Reader)?);
            hi = lo + k;
        } else {
            proof.push(range_hash(reader, lo, lo + k).map_err(ProofError::Reader)?);
            lo += k;
            m -= k;
            whole_old_root_known = false;
        }
    }
    proof.reverse();
    Ok(proof)
}

/// Why a proof does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("leaf index {index} is not in a tree of size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("no consistency proof from an empty tree")]
    EmptyOldTree,
    #[error("tree of size {m} cannot be a prefix of the tree of size {n}")]
    SizeOrder { m: u64, n: u64 },
    #[error("proof has the wrong number of hashes for these sizes")]
    ProofLength,
    #[error("computed root does not match the expected root")]
    RootMismatch,
    #[error("computed old root does not match the old tree's root")]
    OldRootMismatch,
}

/// Shifts `fn_` and `sn` right together until the lowest bit of `fn_` is set or `fn_` is 0.
fn shift_while_even(fn_: &mut u64, sn: &mut u64) {
    while *fn_ != 0 && *fn_ & 1 == 0 {
        *fn_ >>= 1;
        *sn >>= 1;
    }
}

/// Checks that `leaf_hash` is leaf `index` of the tree of `size` with root `root`,
/// following RFC 9162 §2.1.3.2 step by step.
pub fn verify_inclusion(
    leaf_hash: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), VerifyError> {
    if index >= size {
        return Err(VerifyError::IndexOutOfRange { index, size });
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf_hash;
    for p in proof {
        if sn == 0 {
            return Err(VerifyError::ProofLength);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            if fn_ & 1 == 0 {
                shift_while_even(&mut fn_, &mut sn);
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(VerifyError::ProofLength);
    }
    if &r != root {
        return Err(VerifyError::RootMismatch);
    }
    Ok(())
}

/// Checks that the tree of size `m` with root `root_m` is a prefix of the tree of size
/// `n` with root `root_n`, following RFC 9162 §2.1.4.2 step by step.
///
/// Two cases the RFC's algorithm leaves open are decided as the public vectors decide
/// them: `m == 0` is always an error (there is nothing to prove, and accepting it would
/// let any root pass), and `m == n` is accepted with an empty proof when the roots are
/// equal.
pub fn verify_consistency(m: u64, n: u64, root_m: &Hash, root_n: &Hash, proof: &[Hash]) -> Result<(), VerifyError> {
    if m == 0 {
        return Err(VerifyError::EmptyOldTree);
    }
    if m > n {
        return Err(VerifyError::SizeOrder { m, n });
    }
    if m == n {
        if !proof.is_empty() {
            return Err(VerifyError::ProofLength);
        }
        if root_m != root_n {
            return Err(VerifyError::RootMismatch);
        }
        return Ok(());
    }
    // Step 1: a proof between different sizes is never empty.
    let Some((&first, rest)) = proof.split_first() else {
        return Err(VerifyError::ProofLength);
    };
    // Step 2: when m is a power of two the old root is itself a node of the new tree and
    // the proof leaves it out; put it back in front.
    let (start, rest): (Hash, &[Hash]) = if m.is_power_of_two() { (*root_m, proof) } else { (first, rest) };
    // Steps 3 and 4.
    let (mut fn_, mut sn) = (m - 1, n - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    // Step 5.
    let (mut fr, mut sr) = (start, start);
    // Step 6.
    for c in rest {
        if sn == 0 {
            return Err(VerifyError::ProofLength);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fn_ & 1 == 0 {
                shift_while_even(&mut fn_, &mut sn);
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    // Step 7.
    if sn != 0 {
        return Err(VerifyError::ProofLength);
    }
    if &fr != root_m {
        return Err(VerifyError::OldRootMismatch);
    }
    if &sr != root_n {
        return Err(VerifyError::RootMismatch);
    }
    Ok(())
}

/// Why [`MemNodes`] cannot answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MemNodesError {
    #[error("node at level {} index {} is not complete in a log of {size} leaves", .id.level, .id.index)]
    Missing { id: NodeId, size: u64 },
}

/// All perfect-subtree nodes in memory, one vector per level, kept up to date by a
/// [`Frontier`]. The in-memory store and the tests use it; about 2 hashes per leaf.
#[derive(Debug, Clone, Default)]
pub struct MemNodes {
    levels: Vec<Vec<Hash>>,
    frontier: Frontier,
}

impl MemNodes {
    pub fn new() -> MemNodes {
        MemNodes::default()
    }

    /// Appends a leaf hash and keeps every subtree it completes.
    pub fn append(&mut self, leaf: Hash) {
        let levels = &mut self.levels;
        self.frontier.append(leaf, |id, hash| {
            let level = usize::from(id.level);
            if levels.len() == level {
                levels.push(Vec::new());
            }
            // Nodes of a level complete strictly left to right, so the next one is
            // always the next index; anything else is a bug in the frontier.
            assert_eq!(levels[level].len() as u64, id.index, "merkle node out of order");
            levels[level].push(hash);
        });
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.frontier.size()
    }

    /// Root of the current tree.
    pub fn root(&self) -> Hash {
        self.frontier.root()
    }

    /// The frontier of the current tree.
    pub fn frontier(&self) -> &Frontier {
        &self.frontier
    }
}

impl NodeReader for MemNodes {
    type Error = MemNodesError;
    fn node(&self, id: NodeId) -> Result<Hash, MemNodesError> {
        self.levels
            .get(usize::from(id.level))
            .and_then(|l| usize::try_from(id.index).ok().and_then(|i| l.get(i)))
            .copied()
            .ok_or(MemNodesError::Missing { id, size: self.size() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use proptest::prelude::*;
    use serde_json::Value;
    use std::path::{Path, PathBuf};

    // ---- a naive reference, written straight from the RFC's recursive definitions ----

    fn mth(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let k = split_point(n as u64) as usize;
                node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
            }
        }
    }

    fn path(m: usize, leaves: &[Hash]) -> Vec<Hash> {
        let n = leaves.len();
        if n == 1 {
            return vec![];
        }
        let k = split_point(n as u64) as usize;
        let mut p;
        if m < k {
            p = path(m, &leaves[..k]);
            p.push(mth(&leaves[k..]));
        } else {
            p = path(m - k, &leaves[k..]);
            p.push(mth(&leaves[..k]));
        }
        p
    }

    fn subproof(m: usize, leaves: &[Hash], b: bool) -> Vec<Hash> {
        let n = leaves.len();
        if m == n {
            return if b { vec![] } else { vec![mth(leaves)] };
        }
        let k = split_point(n as u64) as usize;
        let mut p;
        if m <= k {
            p = subproof(m, &leaves[..k], b);
            p.push(mth(&leaves[k..]));
        } else {
            p = subproof(m - k, &leaves[k..], false);
            p.push(mth(&leaves[..k]));
        }
        p
    }

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(format!("entry {i}").as_bytes())).collect()
    }

    fn tree(leaves: &[Hash]) -> MemNodes {
        let mut t = MemNodes::new();
        for l in leaves {
            t.append(*l);
        }
        t
    }

    #[test]
    fn hashes_match_rfc_definitions() {
        assert_eq!(hex::encode(empty_root()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(leaf_hash(b""), <Hash>::from(Sha256::digest([0u8])));
        let (a, b) = ([1u8; 32], [2u8; 32]);
        let mut buf = vec![1u8];
        buf.extend_from_slice(&a);
        buf.extend_from_slice(&b);
        assert_eq!(node_hash(&a, &b), <Hash>::from(Sha256::digest(&buf)));
    }

    #[test]
    fn split_point_is_largest_power_of_two_below() {
        for n in 2u64..2000 {
            let k = split_point(n);
            assert!(k.is_power_of_two() && k < n && 2 * k >= n, "n={n} k={k}");
        }
        assert_eq!(split_point(u64::MAX), 1 << 63);
    }

    #[test]
    fn append_reports_each_node_once_in_order() {
        let mut f = Frontier::new();
        let mut seen = Vec::new();
        for l in leaves(37) {
            f.append(l, |id, _| seen.push(id));
        }
        // Every perfect subtree of a 37-leaf tree, no more, no less.
        let mut want = Vec::new();
        for level in 0..6u8 {
            for index in 0..(37u64 >> level) {
                want.push(NodeId { level, index });
            }
        }
        seen.sort();
        want.sort();
        assert_eq!(seen, want);
    }

    #[test]
    fn roots_match_reference_for_every_size() {
        // The naive reference is O(n) per size and this crate's tests run unoptimized, so
        // it checks every size up to 600 and a spread of larger ones (every power of two
        // and its neighbours included); the frontier's incremental root is checked against
        // `root_at` at every size.
        let ls = leaves(2100);
        let mut t = MemNodes::new();
        let mut frontier_roots = vec![t.root()];
        for l in &ls {
            t.append(*l);
            frontier_roots.push(t.root());
        }
        let special = (1..12).flat_map(|b| [(1usize << b) - 1, 1 << b, (1 << b) + 1]);
        let mut sizes: Vec<usize> = (0..=600).chain((601..=2100).step_by(13)).chain(special).collect();
        sizes.push(2100);
        for size in sizes {
            assert_eq!(frontier_roots[size], mth(&ls[..size]), "frontier root at size {size}");
        }
        for (size, want) in frontier_roots.iter().enumerate() {
            assert_eq!(&root_at(&t, size as u64).unwrap(), want, "root_at {size}");
            let f = Frontier::from_reader(&t, size as u64).unwrap();
            assert_eq!((f.size(), &f.root()), (size as u64, want));
        }
    }

    #[test]
    fn proofs_in_a_larger_tree_verify() {
        let ls = leaves(2100);
        let mut t = MemNodes::new();
        let mut roots = vec![t.root()];
        for l in &ls {
            t.append(*l);
            roots.push(t.root());
        }
        let sizes: Vec<u64> = (1..=2100).step_by(97).chain([1023, 1024, 1025, 2047, 2048, 2049, 2100]).collect();
        for &n in &sizes {
            for index in (0..n).step_by(7).chain([n - 1]) {
                let p = inclusion_proof(&t, index, n).unwrap();
                verify_inclusion(&ls[index as usize], index, n, &p, &roots[n as usize]).unwrap();
            }
            for &m in sizes.iter().filter(|&&m| m <= n) {
                let p = consistency_proof(&t, m, n).unwrap();
                verify_consistency(m, n, &roots[m as usize], &roots[n as usize], &p).unwrap();
            }
        }
    }

    #[test]
    fn inclusion_proofs_match_reference_and_verify() {
        let ls = leaves(300);
        let t = tree(&ls);
        let sizes = (1..=40).chain([63, 64, 65, 127, 128, 129, 200, 255, 256, 257, 299, 300]);
        let mut checked = 0;
        for size in sizes {
            let root = mth(&ls[..size]);
            for index in 0..size {
                let p = inclusion_proof(&t, index as u64, size as u64).unwrap();
                assert_eq!(p, path(index, &ls[..size]), "index {index} size {size}");
                verify_inclusion(&ls[index], index as u64, size as u64, &p, &root).unwrap();
                checked += 1;
            }
        }
        assert!(checked > 2000);
    }

    #[test]
    fn consistency_proofs_match_reference_and_verify() {
        let ls = leaves(300);
        let t = tree(&ls);
        let sizes: Vec<usize> = (1..=70).chain([127, 128, 129, 255, 256, 257, 300]).collect();
        for &n in &sizes {
            let root_n = mth(&ls[..n]);
            for m in 1..=n {
                let p = consistency_proof(&t, m as u64, n as u64).unwrap();
                assert_eq!(p, subproof(m, &ls[..n], true), "m {m} n {n}");
                let root_m = mth(&ls[..m]);
                verify_consistency(m as u64, n as u64, &root_m, &root_n, &p).unwrap();
            }
        }
    }

    #[test]
    fn generation_errors() {
        let t = tree(&leaves(10));
        assert!(matches!(inclusion_proof(&t, 10, 10), Err(ProofError::IndexOutOfRange { index: 10, size: 10 })));
        assert!(matches!(inclusion_proof(&t, 0, 0), Err(ProofError::IndexOutOfRange { .. })));
        assert!(matches!(consistency_proof(&t, 0, 5), Err(ProofError::EmptyOldTree)));
        assert!(matches!(consistency_proof(&t, 6, 5), Err(ProofError::SizeOrder { m: 6, n: 5 })));
        assert_eq!(consistency_proof(&t, 7, 7).unwrap(), Vec::<Hash>::new());
        // Beyond what the store holds: the reader refuses, nothing is invented.
        assert!(matches!(root_at(&t, 11), Err(ProofError::Reader(_))));
        assert!(matches!(inclusion_proof(&t, 3, 11), Err(ProofError::Reader(_))));
        assert!(matches!(consistency_proof(&t, 3, 11), Err(ProofError::Reader(_))));
        assert!(matches!(Frontier::from_reader(&t, 12), Err(MemNodesError::Missing { .. })));
    }

    #[test]
    fn verification_survives_extreme_sizes() {
        let h = leaf_hash(b"x");
        let proof = vec![h; 64];
        for size in [u64::MAX, u64::MAX - 1, 1 << 63, (1 << 63) + 1] {
            for index in [0, size / 2, size - 1] {
                assert!(verify_inclusion(&h, index, size, &proof, &h).is_err());
                assert!(verify_inclusion(&h, index, size, &[], &h).is_err());
            }
            assert!(verify_consistency(1, size, &h, &h, &proof).is_err());
            assert!(verify_consistency(size - 1, size, &h, &h, &proof).is_err());
            assert!(verify_consistency(size, size, &h, &h, &[]).is_ok());
        }
        // A proof far longer than any tree allows fails after at most 64 steps.
        assert_eq!(verify_inclusion(&h, 0, 2, &vec![h; 10_000], &h), Err(VerifyError::ProofLength));
    }

    #[test]
    fn frontier_encoding_round_trips_and_is_strict() {
        let mut f = Frontier::new();
        for (i, l) in leaves(70).into_iter().enumerate() {
            let enc = f.encode();
            assert_eq!(enc.len(), 9 + 32 * (i as u64).count_ones() as usize);
            assert_eq!(Frontier::decode(&enc).unwrap(), f);
            f.append(l, |_, _| {});
        }
        let enc = f.encode();
        let mut trailing = enc.clone();
        trailing.push(0);
        assert!(matches!(Frontier::decode(&trailing), Err(FrontierDecodeError::PeakCount { .. })));
        assert!(matches!(Frontier::decode(&enc[..enc.len() - 1]), Err(FrontierDecodeError::PeakCount { .. })));
        let mut wrong_size = enc.clone();
        wrong_size[8] ^= 1; // 70 -> 71: one more peak than present
        assert!(matches!(Frontier::decode(&wrong_size), Err(FrontierDecodeError::PeakCount { .. })));
        let mut version = enc.clone();
        version[0] = 2;
        assert_eq!(Frontier::decode(&version), Err(FrontierDecodeError::Version(2)));
        assert_eq!(Frontier::decode(&enc[..5]), Err(FrontierDecodeError::TooShort(5)));
        // A decoded frontier keeps appending exactly like the original.
        let mut g = Frontier::decode(&enc).unwrap();
        let extra = leaf_hash(b"more");
        f.append(extra, |_, _| {});
        g.append(extra, |_, _| {});
        assert_eq!(f, g);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn tampered_inclusion_fails(size in 1u64..200, idx_seed: u64, pos_seed: usize, bit in 0u8..8, byte in 0usize..32) {
            let index = idx_seed % size;
            let ls = leaves(size as usize);
            let t = tree(&ls);
            let root = t.root();
            let proof = inclusion_proof(&t, index, size).unwrap();
            let leaf = ls[index as usize];
            prop_assert!(verify_inclusion(&leaf, index, size, &proof, &root).is_ok());
            let mut bad_root = root;
            bad_root[byte] ^= 1 << bit;
            prop_assert!(verify_inclusion(&leaf, index, size, &proof, &bad_root).is_err());
            let mut bad_leaf = leaf;
            bad_leaf[byte] ^= 1 << bit;
            prop_assert!(verify_inclusion(&bad_leaf, index, size, &proof, &root).is_err());
            if !proof.is_empty() {
                let mut bad = proof.clone();
                bad[pos_seed % proof.len()][byte] ^= 1 << bit;
                prop_assert!(verify_inclusion(&leaf, index, size, &bad, &root).is_err());
                prop_assert!(verify_inclusion(&leaf, index, size, &proof[1..], &root).is_err());
            }
            let mut longer = proof.clone();
            longer.push(root);
            prop_assert!(verify_inclusion(&leaf, index, size, &longer, &root).is_err());
            if size > 1 {
                let other = (index + 1) % size;
                prop_assert!(verify_inclusion(&leaf, other, size, &proof, &root).is_err());
            }
        }

        #[test]
        fn tampered_consistency_fails(n in 2u64..200, m_seed: u64, pos_seed: usize, bit in 0u8..8, byte in 0usize..32) {
            let m = 1 + m_seed % (n - 1);
            let ls = leaves(n as usize);
            let t = tree(&ls);
            let root_m = root_at(&t, m).unwrap();
            let root_n = t.root();
            let proof = consistency_proof(&t, m, n).unwrap();
            prop_assert!(verify_consistency(m, n, &root_m, &root_n, &proof).is_ok());
            let mut bad = root_m;
            bad[byte] ^= 1 << bit;
            prop_assert!(verify_consistency(m, n, &bad, &root_n, &proof).is_err());
            let mut bad = root_n;
            bad[byte] ^= 1 << bit;
            prop_assert!(verify_consistency(m, n, &root_m, &bad, &proof).is_err());
            let mut bad = proof.clone();
            bad[pos_seed % proof.len()][byte] ^= 1 << bit;
            prop_assert!(verify_consistency(m, n, &root_m, &root_n, &bad).is_err());
            prop_assert!(verify_consistency(m, n, &root_m, &root_n, &proof[1..]).is_err());
            prop_assert!(verify_consistency(m, n, &root_m, &root_n, &proof[..proof.len() - 1]).is_err());
            let mut longer = proof.clone();
            longer.push(root_n);
            prop_assert!(verify_consistency(m, n, &root_m, &root_n, &longer).is_err());
            prop_assert!(verify_consistency(n, m, &root_n, &root_m, &proof).is_err());
        }
    }

    // ---- public vectors from ../shared/testdata/merkle (read at run time, never copied) ----

    fn vectors_dir() -> PathBuf {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/merkle");
        assert!(dir.is_dir(), "test vectors not found at {}", dir.display());
        dir
    }

    fn json_files(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                json_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "json") {
                out.push(path);
            }
        }
        out.sort();
    }

    fn b64(v: &Value) -> Vec<u8> {
        STANDARD.decode(v.as_str().expect("hash is a string")).expect("base64")
    }

    /// A leaf or proof hash: our API takes `[u8; 32]`, so a value of another length (the
    /// vectors have empty and truncated ones) is refused as a real decoder would refuse it,
    /// which makes the whole case an error.
    fn hashed_input(v: &Value) -> Option<Hash> {
        <Hash>::try_from(b64(v).as_slice()).ok()
    }

    /// A root: roots are only ever compared, never hashed, and the vectors use short "don't
    /// care" roots in cases that must pass (equal sizes, equal roots). A value of another
    /// length maps to a tagged SHA-256 of its bytes, so equal values stay equal and differ
    /// from every real root, which is all a comparison can observe.
    fn root_of(v: &Value) -> Hash {
        let bytes = b64(v);
        <Hash>::try_from(bytes.as_slice()).unwrap_or_else(|_| {
            let mut h = Sha256::new();
            h.update(b"suanli test: not a 32-byte root\n");
            h.update(&bytes);
            h.finalize().into()
        })
    }

    fn proof_of(v: &Value) -> Option<Vec<Hash>> {
        match v {
            Value::Null => Some(vec![]),
            Value::Array(a) => a.iter().map(hashed_input).collect(),
            other => panic!("proof is {other}"),
        }
    }

    fn read_case(path: &Path) -> Value {
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn public_inclusion_vectors() {
        let mut files = Vec::new();
        json_files(&vectors_dir().join("inclusion"), &mut files);
        let (mut ok, mut err) = (0, 0);
        for f in &files {
            let c = read_case(f);
            let got = match (hashed_input(&c["leafHash"]), proof_of(&c["proof"])) {
                (Some(leaf), Some(proof)) => verify_inclusion(
                    &leaf,
                    c["leafIdx"].as_u64().unwrap(),
                    c["treeSize"].as_u64().unwrap(),
                    &proof,
                    &root_of(&c["root"]),
                )
                .map_err(|e| e.to_string()),
                _ => Err("a hash is not 32 bytes".to_string()),
            };
            let want_err = c["wantErr"].as_bool().unwrap();
            assert_eq!(got.is_err(), want_err, "{}: {} gave {got:?}", f.display(), c["desc"]);
            if want_err { err += 1 } else { ok += 1 }
        }
        eprintln!("inclusion vectors: {} files ({ok} valid, {err} invalid)", files.len());
        assert!(ok > 0 && err > 0);
    }

    #[test]
    fn public_consistency_vectors() {
        let mut files = Vec::new();
        json_files(&vectors_dir().join("consistency"), &mut files);
        let (mut ok, mut err) = (0, 0);
        for f in &files {
            let c = read_case(f);
            let got = match proof_of(&c["proof"]) {
                Some(proof) => verify_consistency(
                    c["size1"].as_u64().unwrap(),
                    c["size2"].as_u64().unwrap(),
                    &root_of(&c["root1"]),
                    &root_of(&c["root2"]),
                    &proof,
                )
                .map_err(|e| e.to_string()),
                None => Err("a proof hash is not 32 bytes".to_string()),
            };
            let want_err = c["wantErr"].as_bool().unwrap();
            assert_eq!(got.is_err(), want_err, "{}: {} gave {got:?}", f.display(), c["desc"]);
            if want_err { err += 1 } else { ok += 1 }
        }
        eprintln!("consistency vectors: {} files ({ok} valid, {err} invalid)", files.len());
        assert!(ok > 0 && err > 0);
    }

    #[test]
    fn public_roots_vector() {
        let c = read_case(&vectors_dir().join("roots.json"));
        let inputs: Vec<Vec<u8>> =
            c["leaves_hex"].as_array().unwrap().iter().map(|v| hex::decode(v.as_str().unwrap()).unwrap()).collect();
        let roots = c["roots_hex"].as_array().unwrap();
        assert_eq!(roots.len(), inputs.len() + 1);
        let mut t = MemNodes::new();
        for (size, want) in roots.iter().enumerate() {
            if size > 0 {
                t.append(leaf_hash(&inputs[size - 1]));
            }
            let want = want.as_str().unwrap();
            assert_eq!(hex::encode(t.root()), want, "frontier root at size {size}");
            assert_eq!(hex::encode(root_at(&t, size as u64).unwrap()), want, "root_at {size}");
        }
        // And the generated proofs of these trees verify against these roots.
        for n in 1..=inputs.len() as u64 {
            let root_n = root_at(&t, n).unwrap();
            for i in 0..n {
                let p = inclusion_proof(&t, i, n).unwrap();
                verify_inclusion(&t.node(NodeId::leaf(i)).unwrap(), i, n, &p, &root_n).unwrap();
            }
        }
    }
}
