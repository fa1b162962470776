//! Offline checks of what the ledger signed: a report file against its `FILE.sig` note.
//!
//! The note (see `suanli-server`'s reports module) is a C2SP signed note by the ledger key
//! whose text names the file's SHA-256, the report, and the checkpoint (origin, tree
//! size, root) it was computed at. Only the ledger's public key is needed: no server.

use sha2::{Digest, Sha256};
use suanli_core::model::PublicKey;
use suanli_core::note::{Verifier, open_note};

/// The first line of a report signature note.
pub const REPORT_NOTE_TAG: &str = "suanli/v1/report";

/// What a verified report signature says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedReport {
    pub sha256: String,
    pub report: String,
    pub origin: String,
    pub size: u64,
    pub root: String,
}

/// Checks `signature` (the text of FILE.sig) over `file` with the ledger's public key.
pub fn verify_report(file: &[u8], signature: &str, ledger_key: &PublicKey) -> Result<VerifiedReport, String> {
    // The origin names the signing key; it is read from the note, then proven by the
    // signature (a changed origin changes the signed text).
    let text_part = signature.split("\n\n").next().unwrap_or_default();
    let lines: Vec<&str> = text_part.lines().collect();
    if lines.len() != 6 || lines[0] != REPORT_NOTE_TAG {
        return Err(format!(
            "the signature file is not a suanli report signature (its first line is not {REPORT_NOTE_TAG})"
        ));
    }
    let origin = lines[3];
    let verifier = Verifier::from_public_key(origin, *ledger_key).map_err(|e| format!("ledger key: {e}"))?;
    let opened = open_note(signature, &[verifier])
        .map_err(|e| format!("the signature does not verify with this ledger key: {e}"))?;
    let lines: Vec<&str> = opened.text.lines().collect();
    let sha256 = lines[1].strip_prefix("sha256 ").ok_or("the signature names no sha256")?.to_string();
    let actual = hex::encode(Sha256::digest(file));
    if actual != sha256 {
        return Err(format!("the file's SHA-256 is {actual}, the signature covers {sha256}: the file was changed"));
    }
    let size = lines[4].parse().map_err(|_| "the signature's tree size is not a number".to_string())?;
    Ok(VerifiedReport {
        sha256,
        report: lines[2].to_string(),
        origin: origin.to_string(),
        size,
        root: lines[5].to_string(),
    })
}
