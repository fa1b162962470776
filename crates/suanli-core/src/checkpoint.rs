//! Checkpoints: the ledger's signed statement "my log has `size` entries and this root"
//! (SPEC §9), in the C2SP `tlog-checkpoint` format (<https://c2sp.org/tlog-checkpoint>).
//!
//! Using the standard format means witnesses and monitors built for other transparency
//! logs can follow this one, and the offline verifier needs nothing but the ledger's
//! verifier key. The text is three lines (origin, decimal size, base64 root) plus
//! optional extension lines, signed as a [`crate::note`]. Parsing is strict: each
//! checkpoint has exactly one spelling, so two parties can never disagree about what a
//! signed checkpoint says.

use base64::Engine as _;

use crate::merkle::Hash;
use crate::note::{NoteError, STRICT_BASE64, Signer, Verifier, open_note, sign_note};

/// The origin of a suanli ledger's log, which is also the key name of its checkpoint
/// signatures: `suanli/<program id>/<hex of the first 8 bytes of SHA-256(ledger public key)>`,
/// e.g. `suanli/suzhou-2026/1f2e3d4c5b6a7988`. It names the program and the ledger key, so two
/// ledgers never share an origin; it is fixed at genesis (the genesis entry records it) and
/// never changes for the life of the log. With the ledger's public key it gives the C2SP
/// signed-note verifier key (`Verifier::from_public_key(&origin, key).to_string()`).
pub fn ledger_origin(program_id: &str, ledger_key: &[u8; 32]) -> String {
    use sha2::Digest as _;
    let h = sha2::Sha256::digest(ledger_key);
    let tag: String = h[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("suanli/{program_id}/{tag}")
}

/// A tree head of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's identity, e.g. `suanli.example/ledger`; by convention also the key name.
    pub origin: String,
    /// Number of entries (leaves) in the tree.
    pub size: u64,
    /// RFC 6962 root of the tree of `size` leaves.
    pub root: Hash,
    /// Opaque extra lines; the format discourages them, the ledger writes none.
    pub extensions: Vec<String>,
}

/// Why a checkpoint is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    #[error("checkpoint text is empty or does not end in a newline")]
    TextEnd,
    #[error("checkpoint has {0} lines, it needs origin, size and root")]
    TooFewLines(usize),
    #[error("checkpoint line {0} is empty")]
    EmptyLine(usize),
    #[error("origin is empty or contains a control character")]
    Origin,
    #[error("tree size {0:?} is not a decimal u64 without leading zeros")]
    Size(String),
    #[error("root hash {0:?} is not 32 bytes of canonical standard base64")]
    Root(String),
    #[error("extension line {0} is empty or contains a control character")]
    Extension(usize),
    #[error(transparent)]
    Note(#[from] NoteError),
}

/// A line of checkpoint text must be non-empty and free of control characters, or the
/// line structure itself could be forged.
fn is_clean_line(s: &str) -> bool {
    !s.is_empty() && !s.chars().any(char::is_control)
}

fn parse_size(s: &str) -> Result<u64, CheckpointError> {
    let canonical = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    match canonical.then(|| s.parse::<u64>()) {
        Some(Ok(size)) => Ok(size),
        _ => Err(CheckpointError::Size(s.to_string())),
    }
}

fn parse_root(s: &str) -> Result<Hash, CheckpointError> {
    STRICT_BASE64
        .decode(s)
        .ok()
        .and_then(|b| <Hash>::try_from(b.as_slice()).ok())
        .ok_or_else(|| CheckpointError::Root(s.to_string()))
}

impl Checkpoint {
    /// A checkpoint without extension lines, the only kind the ledger signs.
    pub fn new(origin: impl Into<String>, size: u64, root: Hash) -> Checkpoint {
        Checkpoint { origin: origin.into(), size, root, extensions: Vec::new() }
    }

    /// Checks the fields that the type alone cannot: the origin and every extension line
    /// must be non-empty single lines without control characters.
    pub fn validate(&self) -> Result<(), CheckpointError> {
        if !is_clean_line(&self.origin) {
            return Err(CheckpointError::Origin);
        }
        if let Some(i) = self.extensions.iter().position(|e| !is_clean_line(e)) {
            return Err(CheckpointError::Extension(i + 4));
        }
        Ok(())
    }

    /// The note text: origin, decimal size, base64 root, then extension lines, each
    /// ending in a newline. Only meaningful for a checkpoint that passes
    /// [`Checkpoint::validate`]; [`sign_checkpoint`] checks that first.
    pub fn to_note_text(&self) -> String {
        let mut text = format!("{}\n{}\n{}\n", self.origin, self.size, STRICT_BASE64.encode(self.root));
        for e in &self.extensions {
            text.push_str(e);
            text.push('\n');
        }
        text
    }

    /// Parses checkpoint note text (the text of a signed note, without signatures).
    pub fn parse(text: &str) -> Result<Checkpoint, CheckpointError> {
        let body = text.strip_suffix('\n').ok_or(CheckpointError::TextEnd)?;
        let lines: Vec<&str> = body.split('\n').collect();
        if lines.len() < 3 {
            return Err(CheckpointError::TooFewLines(lines.len()));
        }
        if let Some(i) = lines.iter().position(|l| l.is_empty()) {
            return Err(CheckpointError::EmptyLine(i + 1));
        }
        let checkpoint = Checkpoint {
            origin: lines[0].to_string(),
            size: parse_size(lines[1])?,
            root: parse_root(lines[2])?,
            extensions: lines[3..].iter().map(|l| l.to_string()).collect(),
        };
        checkpoint.validate()?;
        Ok(checkpoint)
    }
}

/// Signs a checkpoint as a note. Refuses a checkpoint that fails
/// [`Checkpoint::validate`], since its text would not parse back to the same value.
pub fn sign_checkpoint(checkpoint: &Checkpoint, signer: &Signer) -> Result<String, CheckpointError> {
    checkpoint.validate()?;
    Ok(sign_note(&checkpoint.to_note_text(), &[signer])?)
}

/// Verifies a signed checkpoint against the log's key and parses it. Other signatures
/// (witness cosignatures) are allowed and ignored. The caller still compares `origin`
/// with the log it expects.
pub fn open_checkpoint(signed: &str, verifier: &Verifier) -> Result<Checkpoint, CheckpointError> {
    let opened = open_note(signed, std::slice::from_ref(verifier))?;
    Checkpoint::parse(&opened.text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{MemNodes, leaf_hash};
    use ed25519_dalek::SigningKey;

    const ORIGIN: &str = "suanli.example/ledger";

    fn log_signer() -> Signer {
        Signer::new(ORIGIN, SigningKey::from_bytes(&[21; 32])).unwrap()
    }

    fn sample() -> Checkpoint {
        let mut t = MemNodes::new();
        for i in 0..11u32 {
            t.append(leaf_hash(&i.to_be_bytes()));
        }
        Checkpoint::new(ORIGIN, t.size(), t.root())
    }

    #[test]
    fn origin_rule_and_verifier_key() {
        use sha2::Digest as _;
        let key = SigningKey::from_bytes(&[9; 32]).verifying_key().to_bytes();
        let origin = ledger_origin("suzhou-2026", &key);
        let digest = sha2::Sha256::digest(key);
        assert_eq!(origin, format!("suanli/suzhou-2026/{}", hex::encode(&digest[..8])));
        // The verifier key an auditor pastes into any signed-note library: origin, key id, key.
        let vkey = Verifier::from_public_key(&origin, key).unwrap().to_string();
        let mut id_input = origin.as_bytes().to_vec();
        id_input.extend_from_slice(&[b'\n', 0x01]);
        id_input.extend_from_slice(&key);
        let key_id = hex::encode(&sha2::Sha256::digest(&id_input)[..4]);
        let mut encoded = vec![0x01];
        encoded.extend_from_slice(&key);
        assert_eq!(vkey, format!("{origin}+{key_id}+{}", STRICT_BASE64.encode(&encoded)));
        assert_eq!(Verifier::parse(&vkey).unwrap().name(), origin);
    }

    #[test]
    fn text_round_trip() {
        let cp = sample();
        let text = cp.to_note_text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines, [ORIGIN, "11", &STRICT_BASE64.encode(cp.root)]);
        assert_eq!(Checkpoint::parse(&text).unwrap(), cp);

        let mut ext = cp.clone();
        ext.extensions = vec!["note one".into(), "— two".into()];
        assert!(ext.to_note_text().ends_with("\nnote one\n— two\n"));
        assert_eq!(Checkpoint::parse(&ext.to_note_text()).unwrap(), ext);

        let empty = Checkpoint::new(ORIGIN, 0, crate::merkle::empty_root());
        assert!(empty.to_note_text().contains("\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"));
        assert_eq!(Checkpoint::parse(&empty.to_note_text()).unwrap(), empty);
        let max = Checkpoint::new(ORIGIN, u64::MAX, [0xff; 32]);
        assert_eq!(Checkpoint::parse(&max.to_note_text()).unwrap(), max);
    }

    #[test]
    fn signed_round_trip() {
        let s = log_signer();
        let cp = sample();
        let signed = sign_checkpoint(&cp, &s).unwrap();
        assert!(signed.starts_with(&cp.to_note_text()));
        assert_eq!(open_checkpoint(&signed, &s.verifier()).unwrap(), cp);

        // A witness cosignature alongside does not get in the way.
        let witness = Signer::new("witness.example/w", SigningKey::from_bytes(&[22; 32])).unwrap();
        let cosigned = sign_note(&cp.to_note_text(), &[&s, &witness]).unwrap();
        assert_eq!(open_checkpoint(&cosigned, &s.verifier()).unwrap(), cp);
        // But the witness alone is not the log.
        assert!(matches!(
            open_checkpoint(&sign_note(&cp.to_note_text(), &[&witness]).unwrap(), &s.verifier()),
            Err(CheckpointError::Note(NoteError::NoKnownSignature))
        ));
    }

    #[test]
    fn tampering_is_refused() {
        let s = log_signer();
        let v = s.verifier();
        let cp = sample();
        let signed = sign_checkpoint(&cp, &s).unwrap();
        let root_b64 = STRICT_BASE64.encode(cp.root);

        let bigger = signed.replacen("\n11\n", "\n12\n", 1);
        assert!(matches!(open_checkpoint(&bigger, &v), Err(CheckpointError::Note(NoteError::BadSignature { .. }))));
        let mut other_root = cp.root;
        other_root[0] ^= 1;
        let rerooted = signed.replacen(&root_b64, &STRICT_BASE64.encode(other_root), 1);
        assert!(matches!(open_checkpoint(&rerooted, &v), Err(CheckpointError::Note(NoteError::BadSignature { .. }))));
        let sig_b64 = signed.rsplit_once(' ').unwrap().1.trim_end();
        let mut sig = STRICT_BASE64.decode(sig_b64).unwrap();
        sig[10] ^= 0x40;
        let resigned = signed.replacen(sig_b64, &STRICT_BASE64.encode(sig), 1);
        assert!(matches!(open_checkpoint(&resigned, &v), Err(CheckpointError::Note(NoteError::BadSignature { .. }))));
        let other_key = Signer::new(ORIGIN, SigningKey::from_bytes(&[23; 32])).unwrap();
        assert!(matches!(
            open_checkpoint(&signed, &other_key.verifier()),
            Err(CheckpointError::Note(NoteError::NoKnownSignature))
        ));
        // A validly signed note that is not a checkpoint is still refused.
        let not_cp = sign_note("hello\nworld\n", &[&s]).unwrap();
        assert!(matches!(open_checkpoint(&not_cp, &v), Err(CheckpointError::TooFewLines(2))));
    }

    #[test]
    fn parse_errors() {
        let root = STRICT_BASE64.encode([7u8; 32]);
        let ok = |size: &str| format!("{ORIGIN}\n{size}\n{root}\n");
        assert!(Checkpoint::parse(&ok("0")).is_ok());
        assert!(Checkpoint::parse(&ok("18446744073709551615")).is_ok());
        for bad in ["00", "01", "+1", "-1", " 1", "1 ", "1e3", "0x10", "18446744073709551616", "١"] {
            assert_eq!(Checkpoint::parse(&ok(bad)), Err(CheckpointError::Size(bad.to_string())), "size {bad:?}");
        }
        let with_root = |r: &str| format!("{ORIGIN}\n5\n{r}\n");
        let short = STRICT_BASE64.encode([7u8; 31]);
        let long = STRICT_BASE64.encode([7u8; 33]);
        let unpadded = root.trim_end_matches('=').to_string();
        let urlsafe = STRICT_BASE64.encode([0xfb; 32]).replace('+', "-").replace('/', "_");
        // Last character with non-zero trailing bits: decodes loosely, refused strictly.
        let mut trailing = root.clone();
        assert_eq!(&root[42..], "c=");
        trailing.replace_range(42..43, "d");
        assert_ne!(trailing, root);
        for bad in [short, long, unpadded, urlsafe, trailing, format!("{root} ")] {
            assert!(matches!(Checkpoint::parse(&with_root(&bad)), Err(CheckpointError::Root(_))), "root {bad:?}");
        }
        assert_eq!(Checkpoint::parse(&format!("{ORIGIN}\n5\n{root}")), Err(CheckpointError::TextEnd));
        assert_eq!(Checkpoint::parse(""), Err(CheckpointError::TextEnd));
        assert_eq!(Checkpoint::parse(&format!("{ORIGIN}\n5\n")), Err(CheckpointError::TooFewLines(2)));
        assert_eq!(Checkpoint::parse(&format!("\n5\n{root}\n")), Err(CheckpointError::EmptyLine(1)));
        assert_eq!(Checkpoint::parse(&format!("{ORIGIN}\n5\n\n")), Err(CheckpointError::EmptyLine(3)));
        assert_eq!(Checkpoint::parse(&format!("{ORIGIN}\n5\n{root}\n\n")), Err(CheckpointError::EmptyLine(4)));
        assert_eq!(Checkpoint::parse(&format!("{ORIGIN}\r\n5\n{root}\n")), Err(CheckpointError::Origin));
        assert_eq!(Checkpoint::parse(&format!("{ORIGIN}\n5\n{root}\next\tline\n")), Err(CheckpointError::Extension(4)));
    }

    #[test]
    fn invalid_checkpoints_are_not_signed() {
        let s = log_signer();
        let mut cp = sample();
        cp.origin = "two\nlines".into();
        assert_eq!(sign_checkpoint(&cp, &s), Err(CheckpointError::Origin));
        cp.origin = String::new();
        assert_eq!(sign_checkpoint(&cp, &s), Err(CheckpointError::Origin));
        let mut cp = sample();
        cp.extensions = vec!["fine".into(), String::new()];
        assert_eq!(sign_checkpoint(&cp, &s), Err(CheckpointError::Extension(5)));
    }
}
