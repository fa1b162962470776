//! Batch-signed usage records: one ed25519 signature over many records, bound to one ledger.
//!
//! A provider signs, with one registered key,
//!
//! ```text
//! "suanli/v1/usage-batch\n" ‖ UsageBatchHead { origin, count, root }
//! ```
//!
//! where the head is a protobuf message (`proto/suanli/v1/signed.proto`, serialized as
//! every signed message is), `origin` is the checkpoint origin line of the ledger the batch
//! is meant for (so a batch signed for one ledger never verifies at another), `count` the
//! number of records and `root` the RFC 6962 Merkle tree hash of the records' bytes in
//! order (leaf `SHA-256(0x00 ‖ record)`, node `SHA-256(0x01 ‖ left ‖ right)`), the same
//! tree as the log's own.
//!
//! Each record is stored in the log with the batch signature and its *batch proof* (count,
//! its index and its audit path in that tree: at most [`BATCH_PATH_MAX`] hashes), so that
//! it stays provable on its own: from the record's bytes and its proof an auditor
//! recomputes the root, rebuilds the head with the ledger's origin and checks the one
//! signature — nothing else of the batch is needed. The whole specification, for
//! implementers in other languages, is in `docs/INTEGRATION.md`.

use prost::Message;

use crate::merkle::{Hash, leaf_hash, node_hash};
use crate::sig::{self, Domain, SIGNATURE_LEN};

/// Most records signed together. 64 keeps a record's audit path at six hashes (192 bytes
/// stored with it) while the signature check is shared 64 ways.
pub const BATCH_RECORDS_MAX: usize = 64;
/// Hashes in the longest audit path of a batch of [`BATCH_RECORDS_MAX`] records.
pub const BATCH_PATH_MAX: usize = 6;

/// Where a record sits in the batch its signature covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchProof {
    /// Records in the batch, 1..=[`BATCH_RECORDS_MAX`].
    pub count: u32,
    /// This record's position, from 0.
    pub index: u32,
    /// The RFC 9162 audit path of leaf `index` in the tree of `count` leaves, leaf side first.
    pub path: Vec<Hash>,
}

/// Why a batch or a batch proof is refused before any signature is checked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    #[error("a batch must hold 1 to {BATCH_RECORDS_MAX} records, this one holds {0}")]
    Count(usize),
    #[error("record {index} of a batch of {count}: the audit path does not fit the batch")]
    Path { index: u32, count: u32 },
}

/// The bytes signed after the domain tag: the serialized `UsageBatchHead`.
pub fn head_bytes(origin: &str, count: u32, root: &Hash) -> Vec<u8> {
    crate::wire::UsageBatchHead { origin: origin.to_string(), count, root: root.to_vec() }.encode_to_vec()
}

/// The Merkle tree hash of `records` and the proof of each, in order.
///
/// Every subtree is hashed once (2n − 1 hashes for n records): each subtree's root is
/// pushed onto the paths of the leaves of its sibling as the recursion comes back up, so
/// the paths come out leaf side first. Recomputing each path on its own would cost about
/// n² node hashes, which the server pays for every batch it receives.
pub fn tree<R: AsRef<[u8]>>(records: &[R]) -> Result<(Hash, Vec<BatchProof>), BatchError> {
    let n = records.len();
    if n == 0 || n > BATCH_RECORDS_MAX {
        return Err(BatchError::Count(n));
    }
    let leaves: Vec<Hash> = records.iter().map(|r| leaf_hash(r.as_ref())).collect();
    let mut paths: Vec<Vec<Hash>> = (0..n).map(|_| Vec::with_capacity(BATCH_PATH_MAX)).collect();
    let root = subtree(&leaves, &mut paths);
    let proofs =
        paths.into_iter().enumerate().map(|(i, path)| BatchProof { count: n as u32, index: i as u32, path }).collect();
    Ok((root, proofs))
}

/// MTH over `leaves` (RFC 6962 §2.1: split at the largest power of two below the size),
/// appending to each leaf's path the root of the sibling subtree at every level.
fn subtree(leaves: &[Hash], paths: &mut [Vec<Hash>]) -> Hash {
    if leaves.len() == 1 {
        return leaves[0];
    }
    let k = split(leaves.len());
    let (left_paths, right_paths) = paths.split_at_mut(k);
    let left = subtree(&leaves[..k], left_paths);
    let right = subtree(&leaves[k..], right_paths);
    left_paths.iter_mut().for_each(|p| p.push(right));
    right_paths.iter_mut().for_each(|p| p.push(left));
    node_hash(&left, &right)
}

fn split(n: usize) -> usize {
    debug_assert!(n > 1);
    1 << (usize::BITS - 1 - (n - 1).leading_zeros())
}

/// The root a record's proof leads to (RFC 9162 §2.1.3.2, returning the root it computes
/// instead of comparing it), or an error if the proof cannot belong to the batch it names.
pub fn root_from_proof(record: &[u8], proof: &BatchProof) -> Result<Hash, BatchError> {
    let bad = || BatchError::Path { index: proof.index, count: proof.count };
    let count = proof.count as usize;
    if count == 0 || count > BATCH_RECORDS_MAX {
        return Err(BatchError::Count(count));
    }
    if proof.index >= proof.count || proof.path.len() > BATCH_PATH_MAX {
        return Err(bad());
    }
    let (mut f, mut s) = (u64::from(proof.index), u64::from(proof.count) - 1);
    let mut r = leaf_hash(record);
    for p in &proof.path {
        if s == 0 {
            return Err(bad());
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            if f & 1 == 0 {
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(bad());
    }
    Ok(r)
}

/// The message a batch-signed record's signature covers (after the domain tag): the head
/// its proof leads to, for the ledger named `origin`.
pub fn signed_head(origin: &str, record: &[u8], proof: &BatchProof) -> Result<Vec<u8>, BatchError> {
    Ok(head_bytes(origin, proof.count, &root_from_proof(record, proof)?))
}

/// Signs `records` as one batch for the ledger named `origin`: the signature and each
/// record's proof.
pub fn sign(
    key: &ed25519_dalek::SigningKey,
    origin: &str,
    records: &[impl AsRef<[u8]>],
) -> Result<([u8; SIGNATURE_LEN], Vec<BatchProof>), BatchError> {
    let (root, proofs) = tree(records)?;
    let signature = sig::sign(key, Domain::UsageBatch, &head_bytes(origin, records.len() as u32, &root));
    Ok((signature, proofs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{MemNodes, inclusion_proof};

    #[test]
    fn proofs_match_the_log_tree_and_lead_back_to_the_root() {
        for n in 1..=BATCH_RECORDS_MAX {
            let records: Vec<Vec<u8>> = (0..n).map(|i| format!("record {i}").into_bytes()).collect();
            let (root, proofs) = tree(&records).unwrap();
            let mut log = MemNodes::new();
            for r in &records {
                log.append(leaf_hash(r));
            }
            assert_eq!(root, log.root(), "n = {n}");
            for (i, p) in proofs.iter().enumerate() {
                assert_eq!(p.path, inclusion_proof(&log, i as u64, n as u64).unwrap(), "n = {n}, i = {i}");
                assert!(p.path.len() <= BATCH_PATH_MAX);
                assert_eq!(root_from_proof(&records[i], p).unwrap(), root);
                // Another record, or the right record at another index, leads elsewhere.
                assert_ne!(root_from_proof(b"another record", p).ok(), Some(root));
                if n > 1 {
                    let moved = BatchProof { index: (p.index + 1) % n as u32, ..p.clone() };
                    assert_ne!(root_from_proof(&records[i], &moved).ok(), Some(root));
                }
            }
        }
        assert_eq!(tree::<Vec<u8>>(&[]).unwrap_err(), BatchError::Count(0));
        assert_eq!(tree(&vec![vec![0u8]; BATCH_RECORDS_MAX + 1]).unwrap_err(), BatchError::Count(65));
    }

    #[test]
    fn malformed_proofs_are_refused() {
        let p = |count, index, len| BatchProof { count, index, path: vec![[0; 32]; len] };
        assert!(root_from_proof(b"r", &p(4, 4, 2)).is_err()); // index past the count
        assert!(root_from_proof(b"r", &p(4, 1, 3)).is_err()); // too long a path
        assert!(root_from_proof(b"r", &p(4, 1, 1)).is_err()); // too short
        assert!(root_from_proof(b"r", &p(0, 0, 0)).is_err());
        assert!(root_from_proof(b"r", &p(65, 0, 7)).is_err());
        assert!(root_from_proof(b"r", &p(4, 1, 2)).is_ok());
    }

    /// The worked example of docs/INTEGRATION.md ("Signing many records at once"): if this
    /// changes, the document is wrong.
    #[test]
    fn the_documented_example_holds() {
        let key = ed25519_dalek::SigningKey::from_bytes(&[1; 32]);
        let records = [b"r-0".to_vec(), b"r-1".to_vec()];
        let (root, proofs) = tree(&records).unwrap();
        let head = head_bytes("example.org/suanli", 2, &root);
        let (signature, _) = sign(&key, "example.org/suanli", &records).unwrap();
        let hex = |b: &[u8]| b.iter().map(|b| format!("{b:02x}")).collect::<String>();
        let text = format!(
            "public key = {}\nleaf(0)    = {}\nleaf(1)    = {}\nroot       = {}\nhead       = {}\nsignature  = {}\n",
            hex(key.verifying_key().as_bytes()),
            hex(&leaf_hash(&records[0])),
            hex(&leaf_hash(&records[1])),
            hex(&root),
            hex(&head),
            hex(&signature),
        );
        eprintln!("{text}");
        assert_eq!(proofs[0].path, vec![leaf_hash(&records[1])]);
        let doc = include_str!("../../../docs/INTEGRATION.md");
        assert!(doc.contains(&text), "docs/INTEGRATION.md must show:\n{text}");
    }
}
