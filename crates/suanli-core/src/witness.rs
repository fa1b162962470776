//! Witness cosignatures: C2SP `tlog-cosignature` (<https://c2sp.org/tlog-cosignature>, the
//! Ed25519 `cosignature/v1` type) and the `add-checkpoint` request of C2SP `tlog-witness`
//! (<https://c2sp.org/tlog-witness>).
//!
//! A witness keeps, per log origin, the latest checkpoint it cosigned. It cosigns a newer
//! one only when the log's signature verifies and a consistency proof shows that its
//! stored tree is a prefix of the new one; so a log that shows two histories cannot get
//! the same witness to cosign both. Clients (`suanli log verify --witness-key`) then ask
//! for a threshold of cosignatures from witnesses they trust.
//!
//! This module is the format and the decision, without I/O: [`Cosigner`] and
//! [`CosignerKey`] (keys and key strings), [`verify_cosignatures`] (what a client counts),
//! [`AddCheckpoint`] (the request, strictly parsed and bounded) and [`decide`] (what the
//! witness answers). The HTTP server is `suanli witness`, the client is in `suanlid`.

use std::fmt;

use base64::Engine as _;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::checkpoint::{Checkpoint, CheckpointError};
use crate::merkle::{self, Hash};
use crate::note::{
    NoteError, SIG_LINE_PREFIX, STRICT_BASE64, Verifier, check_key_name, open_note, split_key_string, split_note,
};

/// Signature type byte of Ed25519 `cosignature/v1` in key ids and verifier keys.
pub const ALG_COSIGNATURE_V1: u8 = 0x04;
/// Most consistency proof lines in an `add-checkpoint` request (the spec's bound; a proof
/// between two trees of at most 2^64 leaves never needs more).
pub const PROOF_LINES_MAX: usize = 63;
/// Largest `add-checkpoint` body read: an old size line, 63 proof lines and a checkpoint
/// with up to 100 signature lines fit easily.
pub const REQUEST_BYTES_MAX: usize = 64 * 1024;
/// Largest `add-checkpoint` answer a client reads (cosignature lines).
pub const RESPONSE_BYTES_MAX: usize = 16 * 1024;
/// Content type of a 409 answer carrying the witness's tree size (tlog-witness).
pub const SIZE_CONTENT_TYPE: &str = "text/x.tlog.size";
/// Length of a `timestamped_signature` with Ed25519: 8-byte timestamp, 64-byte signature.
const TIMESTAMPED_SIGNATURE_BYTES: usize = 8 + 64;
const PRIVATE_KEY_PREFIX: &str = "PRIVATE+KEY+";

/// Why a cosigner key, a cosignature or a request is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WitnessError {
    #[error("malformed witness key: {0}")]
    Key(&'static str),
    #[error("witness key id {written:08x} does not match the key (expected {computed:08x})")]
    KeyIdMismatch { written: u32, computed: u32 },
    #[error("cosignature from witness {name} does not verify")]
    BadCosignature { name: String },
    #[error(transparent)]
    Note(#[from] NoteError),
    #[error("malformed add-checkpoint request: {0}")]
    Request(String),
}

/// `SHA-256(name ‖ 0x0A ‖ 0x04 ‖ public key)[..4]`, big-endian.
fn cosigner_key_id(name: &str, public_key: &[u8; 32]) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', ALG_COSIGNATURE_V1]);
    h.update(public_key);
    let d = h.finalize();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

/// The message an Ed25519 cosignature signs: `cosignature/v1\ntime <t>\n` and the
/// checkpoint's note text (with its final newline, without signature lines).
pub fn cosigned_message(text: &str, timestamp: u64) -> String {
    format!("cosignature/v1\ntime {timestamp}\n{text}")
}

/// A witness's public key under its name: what a client or a log trusts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CosignerKey {
    name: String,
    key_id: u32,
    key: VerifyingKey,
}

impl CosignerKey {
    pub fn from_public_key(name: &str, public_key: [u8; 32]) -> Result<CosignerKey, WitnessError> {
        check_key_name(name)?;
        let key = VerifyingKey::from_bytes(&public_key).map_err(|_| NoteError::PublicKey)?;
        if key.is_weak() {
            return Err(NoteError::WeakPublicKey.into());
        }
        Ok(CosignerKey { name: name.to_string(), key_id: cosigner_key_id(name, &public_key), key })
    }

    /// Parses a verifier key string `<name>+<hex key id>+<base64(0x04 ‖ public key)>`.
    pub fn parse(vkey: &str) -> Result<CosignerKey, WitnessError> {
        let (name, written, encoded) =
            split_key_string(vkey).ok_or(WitnessError::Key("expected <name>+<8 hex digits>+<base64 key>"))?;
        let key: [u8; 32] = match encoded.split_first() {
            Some((&ALG_COSIGNATURE_V1, k)) => k.try_into().map_err(|_| WitnessError::Key("the key is not 32 bytes"))?,
            Some((&0x01, _)) => {
                return Err(WitnessError::Key(
                    "this is a note signature key (type 0x01), not a cosignature/v1 witness key (type 0x04)",
                ));
            }
            _ => return Err(WitnessError::Key("unsupported key type (only Ed25519 cosignature/v1, 0x04)")),
        };
        let k = CosignerKey::from_public_key(name, key)?;
        if k.key_id != written {
            return Err(WitnessError::KeyIdMismatch { written, computed: k.key_id });
        }
        Ok(k)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// Checks one `timestamped_signature` over `text`; returns its timestamp.
    fn verify(&self, text: &str, signature: &[u8]) -> Option<u64> {
        if signature.len() != TIMESTAMPED_SIGNATURE_BYTES {
            return None;
        }
        let timestamp = u64::from_be_bytes(signature[..8].try_into().ok()?);
        if timestamp > i64::MAX as u64 {
            return None;
        }
        let sig = Signature::from_slice(&signature[8..]).ok()?;
        self.key.verify_strict(cosigned_message(text, timestamp).as_bytes(), &sig).ok()?;
        Some(timestamp)
    }
}

impl fmt::Display for CosignerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut encoded = vec![ALG_COSIGNATURE_V1];
        encoded.extend_from_slice(self.key.as_bytes());
        write!(f, "{}+{:08x}+{}", self.name, self.key_id, STRICT_BASE64.encode(encoded))
    }
}

/// A witness's signing key under its name. `Debug` never shows the secret.
#[derive(Clone)]
pub struct Cosigner {
    name: String,
    key_id: u32,
    key: SigningKey,
}

impl fmt::Debug for Cosigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cosigner")
            .field("name", &self.name)
            .field("key_id", &format_args!("{:08x}", self.key_id))
            .finish_non_exhaustive()
    }
}

impl Cosigner {
    pub fn new(name: &str, key: SigningKey) -> Result<Cosigner, WitnessError> {
        check_key_name(name)?;
        let key_id = cosigner_key_id(name, key.verifying_key().as_bytes());
        Ok(Cosigner { name: name.to_string(), key_id, key })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key string to give to logs and clients.
    pub fn verifier(&self) -> CosignerKey {
        CosignerKey { name: self.name.clone(), key_id: self.key_id, key: self.key.verifying_key() }
    }

    /// `PRIVATE+KEY+<name>+<key id>+<base64(0x04 ‖ seed)>`: holds the secret.
    pub fn to_private_key_string(&self) -> String {
        let mut encoded = vec![ALG_COSIGNATURE_V1];
        encoded.extend_from_slice(self.key.as_bytes());
        format!("{PRIVATE_KEY_PREFIX}{}+{:08x}+{}", self.name, self.key_id, STRICT_BASE64.encode(encoded))
    }

    /// The cosignature line (ending in a newline) on a checkpoint's note `text` at
    /// `timestamp` (POSIX seconds).
    pub fn cosign(&self, text: &str, timestamp: u64) -> String {
        let timestamp = timestamp.min(i64::MAX as u64);
        let mut payload = self.key_id.to_be_bytes().to_vec();
        payload.extend_from_slice(&timestamp.to_be_bytes());
        payload.extend_from_slice(&self.key.sign(cosigned_message(text, timestamp).as_bytes()).to_bytes());
        format!("{SIG_LINE_PREFIX}{} {}\n", self.name, STRICT_BASE64.encode(payload))
    }
}

/// A cosignature that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cosignature {
    /// The witness's key name.
    pub name: String,
    /// When the witness cosigned, POSIX seconds.
    pub timestamp: u64,
}

/// The valid cosignatures on a signed checkpoint from the witnesses in `keys`, in note
/// order. Signature lines from other keys are ignored (the log's own signature among
/// them); a line under a trusted witness's name and key id that does not verify is an
/// error, not skipped: someone forged or damaged it.
pub fn verify_cosignatures(signed: &str, keys: &[CosignerKey]) -> Result<Vec<Cosignature>, WitnessError> {
    let (text, lines) = split_note(signed)?;
    let mut out = Vec::new();
    for line in lines {
        if let Some(k) = keys.iter().find(|k| k.name == line.name && k.key_id == line.key_id) {
            match k.verify(&text, &line.signature) {
                Some(timestamp) => out.push(Cosignature { name: k.name.clone(), timestamp }),
                None => return Err(WitnessError::BadCosignature { name: k.name.clone() }),
            }
        }
    }
    Ok(out)
}

/// An `add-checkpoint` request body: `old <size>\n`, up to 63 base64 proof lines, an empty
/// line, then the signed checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddCheckpoint {
    pub old_size: u64,
    pub proof: Vec<Hash>,
    /// The signed checkpoint note, signatures included.
    pub checkpoint: String,
}

fn request_error(msg: impl Into<String>) -> WitnessError {
    WitnessError::Request(msg.into())
}

impl AddCheckpoint {
    /// Parses a request body strictly: one spelling per request, sizes without leading
    /// zeros, canonical base64 hashes, at most [`PROOF_LINES_MAX`] proof lines and
    /// [`REQUEST_BYTES_MAX`] bytes. The checkpoint itself is checked by [`decide`].
    pub fn parse(body: &[u8]) -> Result<AddCheckpoint, WitnessError> {
        if body.len() > REQUEST_BYTES_MAX {
            return Err(request_error(format!("the body is larger than {REQUEST_BYTES_MAX} bytes")));
        }
        let body = std::str::from_utf8(body).map_err(|_| request_error("the body is not UTF-8"))?;
        let (old_line, mut rest) = body.split_once('\n').ok_or_else(|| request_error("no old size line"))?;
        let old = old_line.strip_prefix("old ").ok_or_else(|| request_error("the first line is not `old <size>`"))?;
        let canonical =
            !old.is_empty() && old.bytes().all(|b| b.is_ascii_digit()) && (old == "0" || !old.starts_with('0'));
        let old_size = canonical
            .then(|| old.parse::<u64>().ok())
            .flatten()
            .ok_or_else(|| request_error(format!("old size {old:?} is not a decimal u64 without leading zeros")))?;
        let mut proof = Vec::new();
        loop {
            let (line, after) =
                rest.split_once('\n').ok_or_else(|| request_error("no empty line before the checkpoint"))?;
            rest = after;
            if line.is_empty() {
                break;
            }
            if proof.len() == PROOF_LINES_MAX {
                return Err(request_error(format!("more than {PROOF_LINES_MAX} consistency proof lines")));
            }
            let hash =
                STRICT_BASE64.decode(line).ok().and_then(|b| Hash::try_from(b.as_slice()).ok()).ok_or_else(|| {
                    request_error(format!("proof line {} is not a base64 32-byte hash", proof.len() + 1))
                })?;
            proof.push(hash);
        }
        if rest.is_empty() {
            return Err(request_error("no checkpoint after the empty line"));
        }
        Ok(AddCheckpoint { old_size, proof, checkpoint: rest.to_string() })
    }

    /// The request body.
    pub fn encode(&self) -> String {
        let mut out = format!("old {}\n", self.old_size);
        for h in &self.proof {
            out.push_str(&STRICT_BASE64.encode(h));
            out.push('\n');
        }
        out.push('\n');
        out.push_str(&self.checkpoint);
        out
    }
}

/// Why a witness refuses a checkpoint, with the HTTP status tlog-witness gives it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// 400: the request or the checkpoint is malformed, or the old size is beyond it.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// 403: no signature from a key the witness trusts for this origin verifies.
    #[error("the checkpoint of {origin} carries no valid signature from a trusted log key: {reason}")]
    Forbidden { origin: String, reason: String },
    /// 404: the witness does not follow this log.
    #[error("unknown log {0:?}: this witness has no verifier key for it")]
    UnknownLog(String),
    /// 409: the old size is not the size the witness last cosigned (its size in the body).
    #[error("old size {old} does not match the size {witness} this witness last cosigned for {origin}")]
    WrongOldSize { origin: String, old: u64, witness: u64 },
    /// 409: same size as the witness's checkpoint but another root: two histories.
    #[error("{origin} signed two different roots for the tree of size {size}: this witness holds another root")]
    RootMismatch { origin: String, size: u64 },
    /// 422: the consistency proof does not show the witness's tree to be a prefix.
    #[error("the consistency proof from size {old} to {new} of {origin} does not verify: {reason}")]
    BadProof { origin: String, old: u64, new: u64, reason: String },
}

impl Refusal {
    pub fn status(&self) -> u16 {
        match self {
            Refusal::BadRequest(_) => 400,
            Refusal::Forbidden { .. } => 403,
            Refusal::UnknownLog(_) => 404,
            Refusal::WrongOldSize { .. } | Refusal::RootMismatch { .. } => 409,
            Refusal::BadProof { .. } => 422,
        }
    }
}

/// What the witness has cosigned for one log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cosigned {
    pub size: u64,
    pub root: Hash,
}

/// Decides an `add-checkpoint` request against the log keys the witness trusts
/// (`log_keys`: signed-note verifier keys, whose names are log origins) and what it last
/// cosigned for the checkpoint's origin (`latest`). On success the caller must store the
/// returned checkpoint as the new latest *before* answering, atomically with the check.
pub fn decide(
    req: &AddCheckpoint,
    log_keys: &[Verifier],
    latest: impl FnOnce(&str) -> Option<Cosigned>,
) -> Result<Checkpoint, Refusal> {
    let bad = |e: &dyn fmt::Display| Refusal::BadRequest(e.to_string());
    let (text, _) = split_note(&req.checkpoint).map_err(|e| bad(&e))?;
    let cp = Checkpoint::parse(&text).map_err(|e| bad(&e))?;
    let trusted: Vec<Verifier> = log_keys.iter().filter(|k| k.name() == cp.origin).cloned().collect();
    if trusted.is_empty() {
        return Err(Refusal::UnknownLog(cp.origin));
    }
    if let Err(e) = open_note(&req.checkpoint, &trusted) {
        return Err(Refusal::Forbidden { origin: cp.origin, reason: e.to_string() });
    }
    if req.old_size > cp.size {
        return Err(Refusal::BadRequest(format!(
            "old size {} is larger than the checkpoint's {}",
            req.old_size, cp.size
        )));
    }
    let held = latest(&cp.origin);
    let witness_size = held.map_or(0, |c| c.size);
    if req.old_size != witness_size {
        return Err(Refusal::WrongOldSize { origin: cp.origin, old: req.old_size, witness: witness_size });
    }
    let proof_error =
        |reason: String| Refusal::BadProof { origin: cp.origin.clone(), old: req.old_size, new: cp.size, reason };
    match held {
        None => {
            if !req.proof.is_empty() {
                return Err(proof_error("the proof must be empty when the old size is 0".into()));
            }
        }
        Some(held) if held.size == cp.size => {
            if held.root != cp.root {
                return Err(Refusal::RootMismatch { origin: cp.origin, size: cp.size });
            }
            if !req.proof.is_empty() {
                return Err(proof_error("the proof must be empty between equal sizes".into()));
            }
        }
        Some(held) => {
            merkle::verify_consistency(held.size, cp.size, &held.root, &cp.root, &req.proof)
                .map_err(|e| proof_error(e.to_string()))?;
        }
    }
    Ok(cp)
}

impl From<CheckpointError> for WitnessError {
    fn from(e: CheckpointError) -> WitnessError {
        WitnessError::Request(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::sign_checkpoint;
    use crate::merkle::MemNodes;
    use crate::note::Signer;

    fn cosigner(name: &str, seed: u8) -> Cosigner {
        Cosigner::new(name, SigningKey::from_bytes(&[seed; 32])).unwrap()
    }

    /// The cosigned checkpoint printed in tlog-cosignature (v1.0.0): its witness line is
    /// `— witness.example.com/w1 base64(key id ‖ timestamp ‖ signature)`, the timestamp being
    /// the `time 1679315147` of the spec's signed-message example.
    const SPEC_EXAMPLE: &str = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n\u{2014} example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n\u{2014} witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n";

    #[test]
    fn the_spec_example_has_the_cosignature_layout() {
        let (text, lines) = split_note(SPEC_EXAMPLE).unwrap();
        let cp = Checkpoint::parse(&text).unwrap();
        assert_eq!((cp.origin.as_str(), cp.size), ("example.com/behind-the-sofa", 20852163));
        let w = &lines[1];
        assert_eq!(w.name, "witness.example.com/w1");
        assert_eq!(w.signature.len(), TIMESTAMPED_SIGNATURE_BYTES);
        assert_eq!(u64::from_be_bytes(w.signature[..8].try_into().unwrap()), 1679315147);
        assert_eq!(
            cosigned_message(&text, 1679315147),
            "cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
        );
        // A key under that name that did not make the signature: the line is refused, loudly.
        let other = cosigner("witness.example.com/w1", 1).verifier();
        assert_eq!(verify_cosignatures(SPEC_EXAMPLE, &[other]).unwrap(), vec![], "another key id: ignored");
    }

    #[test]
    fn the_spec_request_example_parses() {
        let body = "old 20852014\nPlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\njrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=\n5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=\n/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=\n\nexample.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n\u{2014} example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n\u{2014} example.com/behind-the-sofa opLqBQsREYCgu6xQkYQwJr9fo45a62DN9EdmHXnZdXNqlcVGlCum2Wks+49/V6267UEjw6QUXTS5Rovnzv++qbSzm9Q=\n";
        let req = AddCheckpoint::parse(body.as_bytes()).unwrap();
        assert_eq!(req.old_size, 20852014);
        assert_eq!(req.proof.len(), 4);
        assert!(req.checkpoint.starts_with("example.com/behind-the-sofa\n20852163\n"));
        assert_eq!(req.encode(), body, "one spelling: encode gives the body back");
    }

    #[test]
    fn cosign_and_verify_round_trip() {
        let w = cosigner("witness.example/w1", 7);
        let k = w.verifier();
        assert_eq!(CosignerKey::parse(&k.to_string()).unwrap(), k);
        // The key id is SHA-256(name ‖ \n ‖ 0x04 ‖ key)[..4], computed independently.
        let mut msg = b"witness.example/w1\n\x04".to_vec();
        msg.extend_from_slice(k.key.as_bytes());
        assert_eq!(k.key_id().to_be_bytes(), Sha256::digest(&msg)[..4]);
        // A note signature key of the same bytes is not a witness key, and vice versa.
        let note_key = Verifier::from_public_key("witness.example/w1", *k.key.as_bytes()).unwrap();
        assert!(CosignerKey::parse(&note_key.to_string()).is_err());
        assert!(Verifier::parse(&k.to_string()).is_err());
        assert!(w.to_private_key_string().starts_with("PRIVATE+KEY+witness.example/w1+"));
        assert!(!format!("{w:?}").contains(&w.to_private_key_string()[40..]));

        let log = Signer::new("log.example", SigningKey::from_bytes(&[3; 32])).unwrap();
        let note = sign_checkpoint(&Checkpoint::new("log.example", 5, [9; 32]), &log).unwrap();
        let text = note.split("\n\n").next().unwrap().to_string() + "\n";
        let line = w.cosign(&text, 1_700_000_000);
        let cosigned = format!("{note}{line}");
        let got = verify_cosignatures(&cosigned, std::slice::from_ref(&k)).unwrap();
        assert_eq!(got, vec![Cosignature { name: "witness.example/w1".into(), timestamp: 1_700_000_000 }]);
        // The log's own signature still verifies with the cosignature on the note.
        assert!(open_note(&cosigned, &[log.verifier()]).is_ok());
        // Without the witness key nothing counts; an unsigned note has none.
        assert!(verify_cosignatures(&cosigned, &[]).unwrap().is_empty());
        assert!(verify_cosignatures(&note, std::slice::from_ref(&k)).unwrap().is_empty());
        // The cosignature is over this checkpoint only: moved to another one it fails.
        let other = sign_checkpoint(&Checkpoint::new("log.example", 6, [9; 32]), &log).unwrap();
        assert_eq!(
            verify_cosignatures(&format!("{other}{line}"), std::slice::from_ref(&k)),
            Err(WitnessError::BadCosignature { name: "witness.example/w1".into() })
        );
        // A changed timestamp breaks it too.
        let b64 = line.trim_end().rsplit_once(' ').unwrap().1;
        let mut raw = STRICT_BASE64.decode(b64).unwrap();
        raw[11] ^= 1;
        let moved = format!("{note}\u{2014} witness.example/w1 {}\n", STRICT_BASE64.encode(raw));
        assert!(matches!(verify_cosignatures(&moved, &[k]), Err(WitnessError::BadCosignature { .. })));
    }

    #[test]
    fn bad_requests_are_refused() {
        let ok = "old 0\n\norigin\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n\u{2014} k AAAAAAA=\n";
        assert!(AddCheckpoint::parse(ok.as_bytes()).is_ok());
        for bad in [
            "",
            "old 0",
            "old 01\n\ncp\n",
            "old -1\n\ncp\n",
            "old  1\n\ncp\n",
            "new 1\n\ncp\n",
            "old 0\n\n",
            "old 0\ncp\n",
            "old 1\nAAAA\n\ncp\n",
            "old 99999999999999999999\n\ncp\n",
        ] {
            assert!(AddCheckpoint::parse(bad.as_bytes()).is_err(), "{bad:?}");
        }
        let h = format!("{}\n", STRICT_BASE64.encode([1u8; 32]));
        let lines = |n: usize| format!("old 5\n{}\ncp\n", h.repeat(n));
        assert_eq!(AddCheckpoint::parse(lines(63).as_bytes()).unwrap().proof.len(), 63);
        assert!(AddCheckpoint::parse(lines(64).as_bytes()).is_err());
        assert!(AddCheckpoint::parse(&vec![b'a'; REQUEST_BYTES_MAX + 1]).is_err());
        assert!(AddCheckpoint::parse(b"old 0\n\n\xff\n").is_err());
    }

    /// A log of `n` leaves and its signed checkpoint.
    fn tree(log: &Signer, leaves: &[u8]) -> (MemNodes, String) {
        let mut nodes = MemNodes::new();
        for b in leaves {
            nodes.append(merkle::leaf_hash(&[*b]));
        }
        let note = sign_checkpoint(&Checkpoint::new(log.name(), nodes.size(), nodes.root()), log).unwrap();
        (nodes, note)
    }

    #[test]
    fn the_witness_decides_as_the_spec_says() {
        let log = Signer::new("log.example", SigningKey::from_bytes(&[3; 32])).unwrap();
        let keys = [log.verifier()];
        let (_, note5) = tree(&log, &[1, 2, 3, 4, 5]);
        let (nodes9, note9) = tree(&log, &[1, 2, 3, 4, 5, 6, 7, 8, 9]);
        let (_, fork9) = tree(&log, &[1, 2, 3, 4, 6, 6, 7, 8, 9]);
        let req = |old, proof: Vec<Hash>, cp: &str| AddCheckpoint { old_size: old, proof, checkpoint: cp.to_string() };
        let none = |_: &str| None;

        // First contact: old 0, no proof.
        let cp5 = decide(&req(0, vec![], &note5), &keys, none).unwrap();
        let held = Some(Cosigned { size: cp5.size, root: cp5.root });
        // A wrong old size: 409 with the witness's size.
        let e = decide(&req(0, vec![], &note9), &keys, |_| held).unwrap_err();
        assert_eq!(
            (e.status(), &e),
            (409, &Refusal::WrongOldSize { origin: "log.example".into(), old: 0, witness: 5 })
        );
        // The right proof: cosigned.
        let proof = merkle::consistency_proof(&nodes9, 5, 9).unwrap();
        assert_eq!(decide(&req(5, proof.clone(), &note9), &keys, |_| held).unwrap().size, 9);
        // The fork: same old tree claimed, another history. Its own proof cannot reach the
        // witness's root.
        let e = decide(&req(5, proof.clone(), &fork9), &keys, |_| held).unwrap_err();
        assert_eq!(e.status(), 422, "{e}");
        // Same size, other root: 409. Same size, same root: cosigned again.
        let (_, fork5) = tree(&log, &[1, 2, 3, 4, 6]);
        assert_eq!(decide(&req(5, vec![], &fork5), &keys, |_| held).unwrap_err().status(), 409);
        assert!(decide(&req(5, vec![], &note5), &keys, |_| held).is_ok());
        // Old size beyond the checkpoint: 400. Unknown origin: 404. Unsigned by the log: 403.
        assert_eq!(decide(&req(6, vec![], &note5), &keys, |_| held).unwrap_err().status(), 400);
        let stranger = Signer::new("other.example", SigningKey::from_bytes(&[4; 32])).unwrap();
        let (_, other) = tree(&stranger, &[1]);
        assert_eq!(decide(&req(0, vec![], &other), &keys, none).unwrap_err().status(), 404);
        let impostor = Signer::new("log.example", SigningKey::from_bytes(&[5; 32])).unwrap();
        let (_, forged) = tree(&impostor, &[1]);
        assert_eq!(decide(&req(0, vec![], &forged), &keys, none).unwrap_err().status(), 403);
        assert_eq!(decide(&req(0, vec![], "not a note"), &keys, none).unwrap_err().status(), 400);
        // A proof where none is due.
        assert_eq!(decide(&req(0, proof, &note5), &keys, none).unwrap_err().status(), 422);
    }
}
