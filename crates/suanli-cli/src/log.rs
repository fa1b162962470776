//! The log side of the client (SPEC §9): signed checkpoints, record proofs, exports, and
//! the offline verification of an export. Every check lives here as a plain function
//! over what the ledger sent (or what a file holds), so `suanli log …` and the tests run
//! the same code, and the verifier needs no server at all.
//!
//! What a check trusts: only the ledger's public key. A checkpoint is a C2SP signed note
//! whose key name is its origin line; a proof is recomputed from the entry bytes up to the
//! checkpoint's root; an export is replayed by `suanli_core::audit::Auditor` (the policy
//! the server runs) with every input signature checked in batches on every core.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};

use futures::StreamExt;
use prost::Message;
use suanli_core::audit::{Auditor, Finding, Summary, signature_items};
use suanli_core::checkpoint::{Checkpoint, open_checkpoint};
use suanli_core::entry::{Body, Entry, Lines};
use suanli_core::export::{ExportError, ExportReader, ExportWriter, Header};
use suanli_core::merkle::{Hash, leaf_hash, verify_consistency, verify_inclusion};
use suanli_core::model::{PublicKey, RecordKind};
use suanli_core::note::Verifier;
use suanli_core::sig::{self, Domain};
use suanli_core::wire;
use suanli_proto::v1;

use crate::client::Client;
use crate::error::ClientError;

/// Entries read, decoded and signature-checked together by the verifier: large enough
/// that a batch check pays off, small enough to keep memory flat.
pub const VERIFY_CHUNK_ENTRIES: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// A checkpoint that cannot be trusted: bad text, bad signature, another log.
    #[error("{what}: {detail}")]
    Checkpoint { what: String, detail: String },
    /// A proof or entry from the ledger that does not check out.
    #[error("the proof does not check out: {0}")]
    Proof(String),
    /// The export disagrees with the checkpoint or the rules; names the first entry.
    #[error("verification failed: {0}")]
    Verify(Finding),
    #[error("{}: {detail}", path.display())]
    File { path: PathBuf, detail: String },
    #[error(transparent)]
    Client(#[from] ClientError),
}

fn b64(key: &PublicKey) -> String {
    suanli_core::keyfile::encode_public(key)
}

/// Opens a signed checkpoint note with the ledger's key: the key name must be the note's
/// origin line (C2SP tlog-checkpoint), the signature must verify. `what` names the
/// checkpoint in errors ("the checkpoint", "the old checkpoint").
pub fn open_signed_checkpoint(note: &str, ledger_key: &PublicKey, what: &str) -> Result<Checkpoint, LogError> {
    let err = |detail: String| LogError::Checkpoint { what: what.to_string(), detail };
    let origin = note.split('\n').next().unwrap_or_default();
    if origin.is_empty() {
        return Err(err("it is empty or does not start with an origin line".into()));
    }
    let verifier = Verifier::from_public_key(origin, *ledger_key)
        .map_err(|e| err(format!("cannot check it with the ledger key {}: {e}", b64(ledger_key))))?;
    open_checkpoint(note, &verifier).map_err(|e| {
        err(format!(
            "its signature does not verify with the ledger key {} ({e}); it was altered, or another key signed it",
            b64(ledger_key)
        ))
    })
}

/// What `log prove` proved about one record.
#[derive(Debug, Clone)]
pub struct ProvedRecord {
    pub kind: RecordKind,
    pub provider: String,
    pub record_id: String,
    pub seq: u64,
    pub leaf: Hash,
    pub checkpoint: Checkpoint,
    /// The key that signed the record (a registered key of the provider at the time).
    pub signer: PublicKey,
    pub lines: Lines,
    pub reversed_by: Option<u64>,
}

/// Checks a `FindRecord` answer against a verified checkpoint: the entry is the record
/// asked for, signed by its submitter, and its inclusion proof leads to the checkpoint's
/// root. Anything else is an error naming what does not match.
pub fn check_record_proof(
    answer: &v1::RecordProof,
    checkpoint: &Checkpoint,
    kind: RecordKind,
    provider: &str,
    record_id: &str,
) -> Result<ProvedRecord, LogError> {
    let bad = |s: String| LogError::Proof(s);
    let proof = answer.proof.as_ref().ok_or_else(|| bad("the ledger sent no inclusion proof".into()))?;
    if proof.tree_size != checkpoint.size {
        return Err(bad(format!(
            "it is for a tree of size {}, the checkpoint covers {}",
            proof.tree_size, checkpoint.size
        )));
    }
    if proof.index != answer.seq {
        return Err(bad(format!("it proves entry {}, the record is entry {}", proof.index, answer.seq)));
    }
    let entry = Entry::decode(&answer.entry).map_err(|e| bad(format!("entry {} does not decode: {e}", answer.seq)))?;
    if entry.seq != answer.seq {
        return Err(bad(format!("the entry sent says it is entry {}, not {}", entry.seq, answer.seq)));
    }
    let (input, lines, domain) = match (&entry.body, kind) {
        (Body::Usage { input, lines }, RecordKind::Usage) => (input, *lines, Domain::Usage),
        (Body::Corpus { input, lines }, RecordKind::Corpus) => (input, *lines, Domain::Corpus),
        (other, _) => {
            return Err(bad(format!(
                "entry {} is a {} entry, not a {} record",
                entry.seq,
                other.kind_name(),
                kind.as_str()
            )));
        }
    };
    let (got_provider, got_id) = match kind {
        RecordKind::Usage => {
            let r = wire::UsageRecord::decode(input.payload.as_slice()).map_err(|e| bad(format!("record: {e}")))?;
            (r.provider_id, r.record_id)
        }
        RecordKind::Corpus => {
            let r = wire::CorpusRecord::decode(input.payload.as_slice()).map_err(|e| bad(format!("record: {e}")))?;
            (r.supplier_id, r.record_id)
        }
    };
    if got_provider != provider || got_id != record_id {
        return Err(bad(format!(
            "the ledger answered with record {got_id:?} of {got_provider}, not {record_id:?} of {provider}"
        )));
    }
    match &input.batch {
        // Signed in a batch: the signature covers the batch head this record's proof leads
        // to, for the ledger the checkpoint names.
        Some(proof) => {
            let head = suanli_core::batch::signed_head(&checkpoint.origin, &input.payload, proof)
                .map_err(|e| bad(format!("the record's batch proof: {e}")))?;
            sig::verify(&input.public_key, Domain::UsageBatch, &head, &input.signature)
                .map_err(|e| bad(format!("the record's batch signature does not verify: {e}")))?;
        }
        None => sig::verify(&input.public_key, domain, &input.payload, &input.signature)
            .map_err(|e| bad(format!("the record's signature does not verify: {e}")))?,
    }
    let leaf = leaf_hash(&answer.entry);
    let path = proof
        .hashes
        .iter()
        .map(|h| Hash::try_from(h.as_slice()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| bad("a proof hash is not 32 bytes".into()))?;
    verify_inclusion(&leaf, answer.seq, checkpoint.size, &path, &checkpoint.root)
        .map_err(|e| bad(format!("the entry is not in the tree the checkpoint signs ({e})")))?;
    Ok(ProvedRecord {
        kind,
        provider: provider.to_string(),
        record_id: record_id.to_string(),
        seq: answer.seq,
        leaf,
        checkpoint: checkpoint.clone(),
        signer: input.public_key,
        lines,
        reversed_by: answer.reversed_by,
    })
}

/// Checks a `GetConsistencyProof` answer: the tree of `old` (a verified checkpoint) is a
/// prefix of the tree of `new` (another verified checkpoint of the same log). Returns the
/// proof's hashes, smallest subtree first (RFC 9162 §2.1.4.1).
pub fn check_consistency_proof(
    answer: &v1::ConsistencyProof,
    old: &Checkpoint,
    new: &Checkpoint,
) -> Result<Vec<Hash>, LogError> {
    let bad = |s: String| LogError::Proof(s);
    if old.origin != new.origin {
        return Err(bad(format!("the old checkpoint is of the log {:?}, the new one of {:?}", old.origin, new.origin)));
    }
    if answer.old_size != old.size || answer.new_size != new.size {
        return Err(bad(format!(
            "it is for the sizes {} to {}, the checkpoints are of {} and {}",
            answer.old_size, answer.new_size, old.size, new.size
        )));
    }
    let proof = answer
        .hashes
        .iter()
        .map(|h| Hash::try_from(h.as_slice()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| bad("a proof hash is not 32 bytes".into()))?;
    verify_consistency(old.size, new.size, &old.root, &new.root, &proof).map_err(|e| {
        bad(format!(
            "the tree of size {} is not shown to be a prefix of the tree of size {} ({e}): if both checkpoints verify, \
             the ledger signed two histories",
            old.size, new.size
        ))
    })?;
    Ok(proof)
}

/// Where an export was written, and what it holds.
#[derive(Debug, Clone)]
pub struct Exported {
    pub origin: String,
    pub from: u64,
    pub to: u64,
    pub bytes: u64,
    /// `FILE.checkpoint`, when a stored checkpoint of exactly `to` entries exists.
    pub checkpoint: Option<PathBuf>,
}

/// The checkpoint sidecar of an export file: `FILE.checkpoint`.
pub fn checkpoint_path(out: &Path) -> PathBuf {
    let mut name = out.as_os_str().to_owned();
    name.push(".checkpoint");
    PathBuf::from(name)
}

/// Streams entries `from..to` into an export file (docs/EXPORT.md). Without `to`, the
/// ledger first signs a checkpoint covering every durable entry and the export runs to
/// it. The file is written beside `out` and renamed into place once complete; the
/// checkpoint of its last entry, checked against the ledger's key, goes to
/// `FILE.checkpoint` when the ledger stores one of exactly that size.
pub async fn export(client: &Client, from: u64, to: Option<u64>, out: &Path) -> Result<Exported, LogError> {
    let info = client.info().await?;
    let key: PublicKey = info
        .ledger_public_key
        .as_slice()
        .try_into()
        .map_err(|_| LogError::Proof("the ledger reports a public key that is not 32 bytes".into()))?;
    let fresh = match to {
        None => Some(client.checkpoint(true).await?),
        Some(_) => None,
    };
    let want_to = to.or(fresh.as_ref().map(|c| c.size)).unwrap_or(0);
    let file_err = |path: &Path, e: std::io::Error| LogError::File { path: path.to_path_buf(), detail: e.to_string() };
    let mut part = out.as_os_str().to_owned();
    part.push(".part");
    let part = PathBuf::from(part);

    let mut stream = client.export_entries(from, want_to).await?;
    let first = stream.next().await.transpose()?;
    // The ledger says where the export ends (never past its durable entries).
    let end = first.as_ref().map_or(from, |c| c.to);
    let header = Header { origin: info.origin.clone(), first: from, entries: end.saturating_sub(from) };
    let file = File::create(&part).map_err(|e| file_err(&part, e))?;
    let mut writer =
        ExportWriter::new(BufWriter::with_capacity(1 << 20, file), &header).map_err(|e| file_err(&part, e))?;
    let mut bytes = header.encode().len() as u64;
    let mut next = from;
    let mut chunk = first;
    while let Some(c) = chunk {
        if c.first != next || c.to != end {
            let _ = std::fs::remove_file(&part);
            return Err(LogError::Proof(format!(
                "the ledger sent entries from {} (to {}) where {next} (to {end}) was expected",
                c.first, c.to
            )));
        }
        for e in &c.entries {
            writer.write_entry(e).map_err(|e| file_err(&part, e))?;
            bytes += 4 + e.len() as u64;
        }
        next += c.entries.len() as u64;
        chunk = stream.next().await.transpose()?;
    }
    let file = writer.finish().map_err(|e| file_err(&part, e))?;
    file.into_inner().map_err(|e| file_err(&part, e.into_error()))?.sync_all().map_err(|e| file_err(&part, e))?;
    std::fs::rename(&part, out).map_err(|e| file_err(out, e))?;

    let note = match fresh {
        Some(cp) if cp.size == end => Some(cp.note),
        _ => client.checkpoint_at_or_before(end).await?.filter(|c| c.size == end).map(|c| c.note),
    };
    let sidecar = checkpoint_path(out);
    let checkpoint = match note {
        Some(note) => {
            let cp = open_signed_checkpoint(&note, &key, "the export's checkpoint")?;
            if cp.origin != info.origin {
                return Err(LogError::Checkpoint {
                    what: "the export's checkpoint".into(),
                    detail: format!("it names the log {:?}, the ledger is {:?}", cp.origin, info.origin),
                });
            }
            std::fs::write(&sidecar, note).map_err(|e| file_err(&sidecar, e))?;
            Some(sidecar)
        }
        None => {
            // A sidecar from an earlier export would now describe another file.
            let _ = std::fs::remove_file(&sidecar);
            None
        }
    };
    Ok(Exported { origin: info.origin, from, to: end, bytes, checkpoint })
}

/// What `log verify` established.
#[derive(Debug, Clone)]
pub struct Verified {
    pub checkpoint: Checkpoint,
    pub old_checkpoint: Option<Checkpoint>,
    pub summary: Summary,
    /// Entries in the export beyond the checkpoint's size: read, but not checked.
    pub beyond: u64,
}

/// Verifies an export offline (see docs/EXPORT.md): the checkpoints' signatures, then
/// every entry in order — decoding, position, genesis, signature, replay — and the roots
/// at the old checkpoint's and the checkpoint's sizes. Streams the file: memory holds one
/// chunk of entries and the replay's record index. Signatures are checked on `threads`
/// threads.
pub fn verify_export(
    export: &Path,
    checkpoint_note: &str,
    old_checkpoint_note: Option<&str>,
    ledger_key: &PublicKey,
    threads: usize,
) -> Result<Verified, LogError> {
    let cp = open_signed_checkpoint(checkpoint_note, ledger_key, "the checkpoint")?;
    let old = old_checkpoint_note.map(|n| open_signed_checkpoint(n, ledger_key, "the old checkpoint")).transpose()?;
    if let Some(old) = &old {
        let err = |detail: String| LogError::Checkpoint { what: "the old checkpoint".into(), detail };
        if old.origin != cp.origin {
            return Err(err(format!("it names the log {:?}, the checkpoint {:?}", old.origin, cp.origin)));
        }
        if old.size > cp.size {
            return Err(err(format!("it covers {} entries, more than the checkpoint's {}", old.size, cp.size)));
        }
    }
    let file_err = |detail: String| LogError::File { path: export.to_path_buf(), detail };
    let file = File::open(export).map_err(|e| file_err(e.to_string()))?;
    let mut reader = ExportReader::new(BufReader::with_capacity(1 << 20, file)).map_err(|e| file_err(e.to_string()))?;
    let header = reader.header().clone();
    if header.origin != cp.origin {
        return Err(file_err(format!(
            "it is an export of the log {:?}, the checkpoint signs {:?}",
            header.origin, cp.origin
        )));
    }
    if header.first != 0 {
        return Err(file_err(format!(
            "it starts at entry {}; only a full export (from entry 0) can be replayed and hashed",
            header.first
        )));
    }

    let mut auditor = Auditor::new(*ledger_key, cp.origin.clone());
    auditor.expect_root(cp.size, cp.root, "the checkpoint");
    if let Some(old) = &old {
        auditor.expect_root(old.size, old.root, "the old checkpoint");
    }
    let threads = threads.max(1);
    let mut position = 0u64;
    while position < cp.size {
        let want = VERIFY_CHUNK_ENTRIES.min((cp.size - position) as usize);
        let mut raw = Vec::with_capacity(want);
        let mut ended = false;
        while raw.len() < want {
            match reader.next_entry() {
                Ok(Some((_, bytes))) => raw.push(bytes),
                Ok(None) => {
                    ended = true;
                    break;
                }
                // A cut-off or damaged record: the entry there is what is wrong.
                Err(ExportError::Truncated { seq, .. } | ExportError::TooLong { seq, .. }) => {
                    return Err(LogError::Verify(Finding::Entry {
                        seq,
                        what: "is damaged in the export file (its length or bytes are cut off)".into(),
                    }));
                }
                Err(ExportError::Short { .. }) => {
                    ended = true;
                    break;
                }
                Err(e) => return Err(file_err(e.to_string())),
            }
        }
        let decoded: Vec<_> = raw.iter().map(|b| Entry::decode(b)).collect();
        let verdicts = check_signatures(&cp.origin, &decoded, threads);
        for ((bytes, entry), verdict) in raw.iter().zip(&decoded).zip(verdicts) {
            auditor.push(position, bytes, entry, verdict).map_err(LogError::Verify)?;
            position += 1;
        }
        if ended {
            break;
        }
    }
    let summary = auditor.finish().map_err(LogError::Verify)?;
    let mut beyond = 0u64;
    for item in reader.by_ref() {
        item.map_err(|e| file_err(format!("after the checkpoint's {} entries: {e}", cp.size)))?;
        beyond += 1;
    }
    Ok(Verified { checkpoint: cp, old_checkpoint: old, summary, beyond })
}

/// Signature verdicts for decoded entries, the batch split over `threads` threads.
fn check_signatures(
    origin: &str,
    decoded: &[Result<Entry, suanli_core::codec::DecodeError>],
    threads: usize,
) -> Vec<Option<Result<(), sig::SigError>>> {
    if threads == 1 || decoded.len() < 64 {
        return signature_items(origin, decoded);
    }
    let per = decoded.len().div_ceil(threads);
    std::thread::scope(|s| {
        let parts: Vec<_> = decoded.chunks(per).map(|part| s.spawn(move || signature_items(origin, part))).collect();
        parts.into_iter().flat_map(|h| h.join().expect("signature thread")).collect()
    })
}
