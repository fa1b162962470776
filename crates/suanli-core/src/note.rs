//! C2SP signed notes (<https://c2sp.org/signed-note>) with Ed25519 keys.
//!
//! Checkpoints (SPEC §9) and report sidecar files (SPEC §10) travel as signed notes, so
//! that standard transparency-log tooling (witnesses, monitors, `sumdb/note`-compatible
//! verifiers) can check the ledger's signature without knowing anything about suanli.
//! This module is the one place that writes and reads that format:
//!
//! ```text
//! <text, one or more lines, each ending in \n>
//! <blank line>
//! — <key name> <base64(4-byte key id ‖ 64-byte Ed25519 signature)>
//! ```
//!
//! Verification is strict on structure (a malformed note is refused, not skipped
//! around) and follows the spec's trust rules: signatures from unknown keys are ignored
//! but reported, a known key's signature must verify, and at least one must.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

/// Standard base64 (RFC 4648 §4) with padding, and only the canonical form accepted on
/// decode (padding required, no stray trailing bits), so every value has one spelling.
pub(crate) const STRICT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_encode_padding(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical)
        .with_decode_allow_trailing_bits(false),
);

/// Most signature lines a note may carry. The spec asks verifiers to accept at least 16
/// and to cap the count so a hostile note cannot make us do unbounded work.
pub const SIGNATURES_MAX: usize = 100;

/// Signature type byte for Ed25519 in key ids and key encodings (signed-note §Signature types).
const ALG_ED25519: u8 = 0x01;

/// Every signature line starts with U+2014 EM DASH and a space.
pub(crate) const SIG_LINE_PREFIX: &str = "\u{2014} ";

const PRIVATE_KEY_PREFIX: &str = "PRIVATE+KEY+";

/// Why a key, a note or a signature is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("key name {0:?} is empty or contains a space, '+' or a control character")]
    KeyName(String),
    #[error("malformed verifier key: {0}")]
    VerifierKey(&'static str),
    #[error("malformed signer key: {0}")]
    SignerKey(&'static str),
    #[error("unsupported signature type 0x{0:02x} (only Ed25519, 0x01)")]
    Algorithm(u8),
    #[error("key id {written:08x} does not match the key (expected {computed:08x})")]
    KeyIdMismatch { written: u32, computed: u32 },
    #[error("not a valid Ed25519 public key")]
    PublicKey,
    #[error("Ed25519 public key of small order is refused")]
    WeakPublicKey,
    #[error("note text is empty or does not end in a newline")]
    TextEnd,
    #[error("note text to sign contains an empty line")]
    TextBlankLine,
    #[error("note contains a control character other than newline")]
    ControlCharacter,
    #[error("a note needs at least one signer")]
    NoSigners,
    #[error("note has {count} signatures, at most {max} are accepted", max = SIGNATURES_MAX)]
    TooManySignatures { count: usize },
    #[error("signed note does not end in a newline")]
    Unterminated,
    #[error("signed note has no blank line before its signatures")]
    NoSeparator,
    #[error("signed note has no signature lines")]
    NoSignatures,
    #[error("signature line {line}: {reason}")]
    SignatureLine { line: usize, reason: &'static str },
    #[error("two signatures from key {name} ({key_id:08x})")]
    DuplicateSignature { name: String, key_id: u32 },
    #[error("signature from known key {name} ({key_id:08x}) does not verify")]
    BadSignature { name: String, key_id: u32 },
    #[error("no signature from a known key")]
    NoKnownSignature,
}

/// Key names are the first field of signature lines and key strings, so they must not
/// contain the separators of either (space, '+'), nor anything the note forbids.
pub(crate) fn check_key_name(name: &str) -> Result<(), NoteError> {
    let bad = |c: char| c.is_whitespace() || c == '+' || c.is_control();
    if name.is_empty() || name.chars().any(bad) {
        return Err(NoteError::KeyName(name.to_string()));
    }
    Ok(())
}

/// `SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)[..4]`, big-endian: ties a signature line to
/// one (name, algorithm, key) triple.
fn ed25519_key_id(name: &str, public_key: &[u8; 32]) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', ALG_ED25519]);
    h.update(public_key);
    let digest = h.finalize();
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

fn has_forbidden_control(s: &str) -> bool {
    s.bytes().any(|b| b < 0x20 && b != b'\n')
}

/// Splits `<name>+<8 hex digits>+<base64>` (the tail of both key string forms). The
/// name cannot contain '+', but base64 can, so only the first two '+' separate fields.
pub(crate) fn split_key_string(s: &str) -> Option<(&str, u32, Vec<u8>)> {
    let (name, rest) = s.split_once('+')?;
    let (id_hex, key_b64) = rest.split_once('+')?;
    if id_hex.len() != 8 || !id_hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let key_id = u32::from_str_radix(id_hex, 16).ok()?;
    let key = STRICT_BASE64.decode(key_b64).ok()?;
    Some((name, key_id, key))
}

/// Takes `0x01 ‖ 32 bytes` apart.
fn ed25519_key_bytes(encoded: &[u8]) -> Result<[u8; 32], NoteError> {
    match encoded.split_first() {
        Some((&ALG_ED25519, key)) => key.try_into().map_err(|_| NoteError::PublicKey),
        Some((&alg, _)) => Err(NoteError::Algorithm(alg)),
        None => Err(NoteError::PublicKey),
    }
}

/// A trusted public key under a name: what a client configures to check notes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verifier {
    name: String,
    key_id: u32,
    key: VerifyingKey,
}

impl Verifier {
    /// Builds a verifier from a name and a raw Ed25519 public key. Small-order keys are
    /// refused: a signature under one proves nothing about who made it.
    pub fn from_public_key(name: &str, public_key: [u8; 32]) -> Result<Verifier, NoteError> {
        check_key_name(name)?;
        let key = VerifyingKey::from_bytes(&public_key).map_err(|_| NoteError::PublicKey)?;
        if key.is_weak() {
            return Err(NoteError::WeakPublicKey);
        }
        Ok(Verifier { name: name.to_string(), key_id: ed25519_key_id(name, &public_key), key })
    }

    /// Parses a verifier key string `<name>+<hex key id>+<base64(0x01 ‖ public key)>`,
    /// checking that the key id matches the name and key.
    pub fn parse(vkey: &str) -> Result<Verifier, NoteError> {
        let (name, written, encoded) =
            split_key_string(vkey).ok_or(NoteError::VerifierKey("expected <name>+<8 hex digits>+<base64 key>"))?;
        let verifier = Verifier::from_public_key(name, ed25519_key_bytes(&encoded)?)?;
        if verifier.key_id != written {
            return Err(NoteError::KeyIdMismatch { written, computed: verifier.key_id });
        }
        Ok(verifier)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.key
    }

    /// Ed25519 with `verify_strict`: it refuses small-order keys and R points and
    /// non-canonical encodings that plain `verify` lets through. DESIGN.md asks for one
    /// accepted set of signatures, and the disagreement it warns about is between batch
    /// and single verification; notes are only ever checked one at a time, so the
    /// strictest single rule can be used without any batch path to disagree with. No
    /// honest signer produces a signature this refuses.
    fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match Signature::from_slice(signature) {
            Ok(sig) => self.key.verify_strict(message, &sig).is_ok(),
            Err(_) => false,
        }
    }
}

/// The verifier key string, `<name>+<hex key id>+<base64(0x01 ‖ public key)>`.
impl fmt::Display for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut encoded = vec![ALG_ED25519];
        encoded.extend_from_slice(self.key.as_bytes());
        write!(f, "{}+{:08x}+{}", self.name, self.key_id, STRICT_BASE64.encode(encoded))
    }
}

impl FromStr for Verifier {
    type Err = NoteError;
    fn from_str(s: &str) -> Result<Verifier, NoteError> {
        Verifier::parse(s)
    }
}

/// A named Ed25519 signing key. Its `Debug` shows the name and key id, never the secret.
#[derive(Clone)]
pub struct Signer {
    name: String,
    key_id: u32,
    key: SigningKey,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("name", &self.name)
            .field("key_id", &format_args!("{:08x}", self.key_id))
            .finish_non_exhaustive()
    }
}

impl Signer {
    pub fn new(name: &str, key: SigningKey) -> Result<Signer, NoteError> {
        check_key_name(name)?;
        let key_id = ed25519_key_id(name, key.verifying_key().as_bytes());
        Ok(Signer { name: name.to_string(), key_id, key })
    }

    /// Parses `PRIVATE+KEY+<name>+<hex key id>+<base64(0x01 ‖ 32-byte seed)>`.
    pub fn parse(skey: &str) -> Result<Signer, NoteError> {
        let rest =
            skey.strip_prefix(PRIVATE_KEY_PREFIX).ok_or(NoteError::SignerKey("does not start with PRIVATE+KEY+"))?;
        let (name, written, encoded) =
            split_key_string(rest).ok_or(NoteError::SignerKey("expected <name>+<8 hex digits>+<base64 seed>"))?;
        let seed = ed25519_key_bytes(&encoded).map_err(|e| match e {
            NoteError::PublicKey => NoteError::SignerKey("seed is not 32 bytes"),
            other => other,
        })?;
        let signer = Signer::new(name, SigningKey::from_bytes(&seed))?;
        if signer.key_id != written {
            return Err(NoteError::KeyIdMismatch { written, computed: signer.key_id });
        }
        Ok(signer)
    }

    /// The signer key string (see [`Signer::parse`]). It holds the secret seed: write it
    /// only to a protected key file.
    pub fn to_private_key_string(&self) -> String {
        let mut encoded = vec![ALG_ED25519];
        encoded.extend_from_slice(self.key.as_bytes());
        format!("{PRIVATE_KEY_PREFIX}{}+{:08x}+{}", self.name, self.key_id, STRICT_BASE64.encode(encoded))
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The matching verifier, to hand to whoever checks this signer's notes.
    pub fn verifier(&self) -> Verifier {
        Verifier { name: self.name.clone(), key_id: self.key_id, key: self.key.verifying_key() }
    }

    fn signature_line(&self, text: &str) -> String {
        let mut payload = self.key_id.to_be_bytes().to_vec();
        payload.extend_from_slice(&self.key.sign(text.as_bytes()).to_bytes());
        format!("{SIG_LINE_PREFIX}{} {}\n", self.name, STRICT_BASE64.encode(payload))
    }
}

/// Signs `text` with every signer and returns the signed note.
///
/// The text must end in a newline and, although the current spec lets a note's text
/// contain empty lines (the last blank line separates the signatures), we refuse them:
/// older verifiers split at the first blank line, and no suanli note needs one.
pub fn sign_note(text: &str, signers: &[&Signer]) -> Result<String, NoteError> {
    if text.is_empty() || !text.ends_with('\n') {
        return Err(NoteError::TextEnd);
    }
    if text.starts_with('\n') || text.contains("\n\n") {
        return Err(NoteError::TextBlankLine);
    }
    if has_forbidden_control(text) {
        return Err(NoteError::ControlCharacter);
    }
    if signers.is_empty() {
        return Err(NoteError::NoSigners);
    }
    if signers.len() > SIGNATURES_MAX {
        return Err(NoteError::TooManySignatures { count: signers.len() });
    }
    for (i, a) in signers.iter().enumerate() {
        if signers[..i].iter().any(|b| b.name == a.name && b.key_id == a.key_id) {
            return Err(NoteError::DuplicateSignature { name: a.name.clone(), key_id: a.key_id });
        }
    }
    let mut out = String::with_capacity(text.len() + 1 + signers.len() * 128);
    out.push_str(text);
    out.push('\n');
    for s in signers {
        out.push_str(&s.signature_line(text));
    }
    Ok(out)
}

/// A signature on a note from a key the caller did not pass in. Reported, not trusted:
/// it may be a witness cosignature or a rotated key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnverifiedSignature {
    pub name: String,
    pub key_id: u32,
    pub signature: Vec<u8>,
}

/// A note whose signatures have been checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedNote {
    /// The signed text, including its final newline.
    pub text: String,
    /// Names of the known keys whose signatures verified, in note order.
    pub verified_by: Vec<String>,
    /// Signatures from keys not among the verifiers, in note order.
    pub unverified: Vec<UnverifiedSignature>,
}

struct SignatureLine<'a> {
    name: &'a str,
    key_id: u32,
    signature: Vec<u8>,
}

fn parse_signature_line(line: &str, number: usize) -> Result<SignatureLine<'_>, NoteError> {
    let err = |reason| NoteError::SignatureLine { line: number, reason };
    let rest = line.strip_prefix(SIG_LINE_PREFIX).ok_or(err("does not start with an em dash and a space"))?;
    let (name, b64) = rest.split_once(' ').ok_or(err("expected a key name, a space and a signature"))?;
    check_key_name(name).map_err(|_| err("bad key name"))?;
    let bytes = STRICT_BASE64.decode(b64).map_err(|_| err("signature is not canonical base64"))?;
    if bytes.len() < 5 {
        return Err(err("signature is shorter than a key id and one byte"));
    }
    let key_id = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    Ok(SignatureLine { name, key_id, signature: bytes[4..].to_vec() })
}

/// Takes a signed note apart into its text and its parsed signature lines, checking only
/// structure (see [`open_note`] for what is refused): no signature is verified.
fn split_signed(signed: &str) -> Result<(&str, Vec<SignatureLine<'_>>), NoteError> {
    if has_forbidden_control(signed) {
        return Err(NoteError::ControlCharacter);
    }
    if !signed.ends_with('\n') {
        return Err(NoteError::Unterminated);
    }
    // The text may itself contain blank lines (spec), so the signatures start after the
    // last one; signature lines are never empty.
    let split = signed.rfind("\n\n").ok_or(NoteError::NoSeparator)?;
    let (text, sig_block) = (&signed[..=split], &signed[split + 2..]);
    if sig_block.is_empty() {
        return Err(NoteError::NoSignatures);
    }
    let lines: Vec<&str> = sig_block[..sig_block.len() - 1].split('\n').collect();
    if lines.len() > SIGNATURES_MAX {
        return Err(NoteError::TooManySignatures { count: lines.len() });
    }
    // Parse everything before any cryptography, so a malformed note is always refused
    // as malformed, whatever its signatures.
    let parsed =
        lines.iter().enumerate().map(|(i, l)| parse_signature_line(l, i + 1)).collect::<Result<Vec<_>, _>>()?;
    Ok((text, parsed))
}

/// A signed note's text and every signature line on it, none verified: for signatures of
/// another kind than a note signature (witness cosignatures, `crate::witness`), which the
/// caller checks itself. Structure is checked as [`open_note`] checks it, including that
/// no key (name and key id) signs twice.
pub fn split_note(signed: &str) -> Result<(String, Vec<UnverifiedSignature>), NoteError> {
    let (text, parsed) = split_signed(signed)?;
    let mut out: Vec<UnverifiedSignature> = Vec::with_capacity(parsed.len());
    for line in parsed {
        if out.iter().any(|s| s.name == line.name && s.key_id == line.key_id) {
            return Err(NoteError::DuplicateSignature { name: line.name.to_string(), key_id: line.key_id });
        }
        out.push(UnverifiedSignature { name: line.name.to_string(), key_id: line.key_id, signature: line.signature });
    }
    Ok((text.to_string(), out))
}

/// Checks a signed note against the trusted `verifiers` and returns its text.
///
/// Refused: malformed structure (control characters, no blank line before the
/// signatures, a line that is not `— name base64`, non-canonical base64, more than
/// [`SIGNATURES_MAX`] lines, two signatures from one key), a signature from a known key
/// (same name *and* key id) that does not verify, and a note that no known key signed.
/// Signatures from other keys are ignored and listed in [`OpenedNote::unverified`].
pub fn open_note(signed: &str, verifiers: &[Verifier]) -> Result<OpenedNote, NoteError> {
    let (text, parsed) = split_signed(signed)?;
    let mut seen: Vec<(&str, u32)> = Vec::with_capacity(parsed.len());
    let mut verified_by = Vec::new();
    let mut unverified = Vec::new();
    for line in parsed {
        if seen.contains(&(line.name, line.key_id)) {
            return Err(NoteError::DuplicateSignature { name: line.name.to_string(), key_id: line.key_id });
        }
        seen.push((line.name, line.key_id));
        match verifiers.iter().find(|v| v.name == line.name && v.key_id == line.key_id) {
            Some(v) if v.verify(text.as_bytes(), &line.signature) => verified_by.push(v.name.clone()),
            Some(v) => {
                return Err(NoteError::BadSignature { name: v.name.clone(), key_id: v.key_id });
            }
            None => unverified.push(UnverifiedSignature {
                name: line.name.to_string(),
                key_id: line.key_id,
                signature: line.signature,
            }),
        }
    }
    if verified_by.is_empty() {
        return Err(NoteError::NoKnownSignature);
    }
    Ok(OpenedNote { text: text.to_string(), verified_by, unverified })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use std::path::Path;

    fn signer(name: &str, seed: u8) -> Signer {
        Signer::new(name, SigningKey::from_bytes(&[seed; 32])).unwrap()
    }

    #[test]
    fn c2sp_example_verifies() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/signed-note/c2sp-example.json");
        let case: Value = serde_json::from_str(
            &std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display())),
        )
        .unwrap();
        let vkey = case["vkey"].as_str().unwrap();
        let signed = case["signed_note"].as_str().unwrap();
        let v = Verifier::parse(vkey).unwrap();
        assert_eq!(v.to_string(), vkey, "verifier key string round trips");
        assert_eq!(v.name(), "example.com/foo");
        assert_eq!(v.key_id(), 0x530d903a);
        let opened = open_note(signed, std::slice::from_ref(&v)).unwrap();
        assert_eq!(opened.text, "This is an example message.\n");
        assert_eq!(opened.verified_by, vec!["example.com/foo".to_string()]);
        assert!(opened.unverified.is_empty());
        // And the same note with a changed text fails under the same key.
        let tampered = signed.replacen("example message", "example messagE", 1);
        assert!(matches!(open_note(&tampered, &[v]), Err(NoteError::BadSignature { .. })));
    }

    #[test]
    fn sign_and_open_round_trip() {
        let a = signer("ledger.example/suanli", 1);
        let b = signer("witness.example/w1", 2);
        let text = "ledger.example/suanli\n42\nsome text\n";
        let signed = sign_note(text, &[&a, &b]).unwrap();
        assert!(signed.starts_with(text));
        assert_eq!(signed.lines().filter(|l| l.starts_with('\u{2014}')).count(), 2);

        let opened = open_note(&signed, &[a.verifier(), b.verifier()]).unwrap();
        assert_eq!(opened.text, text);
        assert_eq!(opened.verified_by, vec![a.name().to_string(), b.name().to_string()]);

        // Only one key known: the other signature is reported, not trusted.
        let opened = open_note(&signed, &[b.verifier()]).unwrap();
        assert_eq!(opened.verified_by, vec![b.name().to_string()]);
        assert_eq!(opened.unverified.len(), 1);
        assert_eq!(opened.unverified[0].name, a.name());
        assert_eq!(opened.unverified[0].key_id, a.key_id());
        assert_eq!(opened.unverified[0].signature.len(), 64);

        // Signing is deterministic (Ed25519), so the note is too.
        assert_eq!(sign_note(text, &[&a, &b]).unwrap(), signed);
    }

    #[test]
    fn key_strings_round_trip() {
        let s = signer("example.com/k", 7);
        let v = s.verifier();
        assert_eq!(Verifier::parse(&v.to_string()).unwrap(), v);
        assert_eq!(v.to_string().parse::<Verifier>().unwrap(), v);
        let skey = s.to_private_key_string();
        assert!(skey.starts_with("PRIVATE+KEY+example.com/k+"));
        let back = Signer::parse(&skey).unwrap();
        assert_eq!(back.verifier(), v);
        assert!(!format!("{s:?}").contains(&skey[skey.rfind('+').unwrap() + 1..]));
        // The key id is SHA-256(name ‖ \n ‖ 0x01 ‖ key)[..4], computed independently here.
        let mut msg = b"example.com/k\n\x01".to_vec();
        msg.extend_from_slice(v.verifying_key().as_bytes());
        assert_eq!(v.key_id().to_be_bytes(), Sha256::digest(&msg)[..4]);
    }

    #[test]
    fn bad_key_strings_are_refused() {
        let v = signer("example.com/k", 7).verifier();
        let good = v.to_string();
        let (name_id, b64) = good.rsplit_once('+').unwrap();
        let id_hex = &name_id["example.com/k+".len()..];
        let wrong_id = format!("example.com/k+{:08x}+{b64}", v.key_id() ^ 1);
        assert!(matches!(Verifier::parse(&wrong_id), Err(NoteError::KeyIdMismatch { .. })));
        let renamed = format!("example.com/other+{id_hex}+{b64}");
        assert!(matches!(Verifier::parse(&renamed), Err(NoteError::KeyIdMismatch { .. })));
        assert!(matches!(
            Verifier::parse(&format!("example.com/k+{}+{b64}", &id_hex[1..])),
            Err(NoteError::VerifierKey(_))
        ));
        assert!(matches!(Verifier::parse("example.com/k"), Err(NoteError::VerifierKey(_))));
        let mut raw = STRICT_BASE64.decode(b64).unwrap();
        raw[0] = 0x02;
        let other_alg = format!("example.com/k+{id_hex}+{}", STRICT_BASE64.encode(&raw));
        assert_eq!(Verifier::parse(&other_alg), Err(NoteError::Algorithm(2)));
        let short = format!("example.com/k+{id_hex}+{}", STRICT_BASE64.encode(&raw[..32]));
        assert!(Verifier::parse(&short).is_err());
        // 33 bytes encode without padding; stray padding or trailing text is refused.
        for bad in [format!("{good}="), format!("{good}AA"), format!("{good} ")] {
            assert!(matches!(Verifier::parse(&bad), Err(NoteError::VerifierKey(_))), "{bad}");
        }
        assert!(matches!(Verifier::from_public_key("bad name", [9; 32]), Err(NoteError::KeyName(_))));
        assert!(matches!(Verifier::from_public_key("", [9; 32]), Err(NoteError::KeyName(_))));
        assert!(matches!(Signer::new("a+b", SigningKey::from_bytes(&[1; 32])), Err(NoteError::KeyName(_))));
        // The identity point has small order: refused.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert_eq!(Verifier::from_public_key("k", identity), Err(NoteError::WeakPublicKey));
        assert!(Signer::parse(&good).is_err());
    }

    #[test]
    fn any_changed_character_is_refused() {
        let a = signer("ledger.example/suanli", 3);
        let text = "origin\n5\nroot\n";
        let signed = sign_note(text, &[&a]).unwrap();
        let v = [a.verifier()];
        let chars: Vec<char> = signed.chars().collect();
        for i in 0..chars.len() {
            let mut changed = chars.clone();
            changed[i] = match chars[i] {
                'A' => 'B',
                '\n' => 'x',
                '\u{2014}' => '-',
                _ => 'A',
            };
            let changed: String = changed.into_iter().collect();
            assert!(open_note(&changed, &v).is_err(), "change at {i} accepted: {changed:?}");
        }
    }

    #[test]
    fn malformed_notes_are_refused() {
        let a = signer("k.example", 4);
        let v = [a.verifier()];
        let signed = sign_note("hello\n", &[&a]).unwrap();
        let sig_line = signed.strip_prefix("hello\n\n").unwrap();

        assert_eq!(open_note("hello\n", &v), Err(NoteError::NoSeparator));
        assert_eq!(open_note("hello\n\n", &v), Err(NoteError::NoSignatures));
        assert_eq!(open_note(signed.trim_end_matches('\n'), &v), Err(NoteError::Unterminated));
        assert_eq!(open_note(&signed.replace("hello", "he\tllo"), &v), Err(NoteError::ControlCharacter));
        let dash = signed.replacen('\u{2014}', "-", 1);
        assert!(matches!(open_note(&dash, &v), Err(NoteError::SignatureLine { line: 1, .. })));
        let bad_b64 = "hello\n\n\u{2014} k.example !!!!\n";
        assert!(matches!(open_note(bad_b64, &v), Err(NoteError::SignatureLine { .. })));
        let no_sig = "hello\n\n\u{2014} k.example\n";
        assert!(matches!(open_note(no_sig, &v), Err(NoteError::SignatureLine { .. })));
        let tiny = format!("hello\n\n\u{2014} k.example {}\n", STRICT_BASE64.encode([1, 2, 3, 4]));
        assert!(matches!(open_note(&tiny, &v), Err(NoteError::SignatureLine { .. })));
        let blank_in_sigs = format!("hello\n\n{sig_line}\n{sig_line}");
        assert!(open_note(&blank_in_sigs, &v).is_err());
        let twice = format!("{signed}{sig_line}");
        assert!(matches!(open_note(&twice, &v), Err(NoteError::DuplicateSignature { .. })));

        // The cap: 100 lines pass the count check, 101 do not.
        let unknown = |i: usize| {
            let mut p = (i as u32).to_be_bytes().to_vec();
            p.extend_from_slice(&[0; 64]);
            format!("\u{2014} other{i}.example {}\n", STRICT_BASE64.encode(p))
        };
        let mut many = signed.clone();
        for i in 0..SIGNATURES_MAX - 1 {
            many.push_str(&unknown(i));
        }
        assert_eq!(open_note(&many, &v).unwrap().unverified.len(), SIGNATURES_MAX - 1);
        many.push_str(&unknown(1000));
        assert_eq!(open_note(&many, &v), Err(NoteError::TooManySignatures { count: SIGNATURES_MAX + 1 }));
    }

    #[test]
    fn trust_rules() {
        let a = signer("k.example", 5);
        let impostor = signer("k.example", 6); // same name, another key: another key id
        let signed = sign_note("hello\n", &[&impostor]).unwrap();
        assert_eq!(open_note(&signed, &[a.verifier()]), Err(NoteError::NoKnownSignature));
        assert_eq!(open_note(&signed, &[]), Err(NoteError::NoKnownSignature));

        // Same name and key id as a known key but a wrong signature: the whole note fails,
        // even when another known key signed it correctly.
        let b = signer("w.example", 8);
        let good = sign_note("hello\n", &[&a, &b]).unwrap();
        let forged_sig = {
            let mut p = a.key_id().to_be_bytes().to_vec();
            p.extend_from_slice(&[7; 64]);
            STRICT_BASE64.encode(p)
        };
        let a_line_start = good.find("\u{2014} k.example ").unwrap();
        let a_line_end = a_line_start + good[a_line_start..].find('\n').unwrap();
        let forged = format!("{}\u{2014} k.example {forged_sig}{}", &good[..a_line_start], &good[a_line_end..]);
        assert!(matches!(open_note(&forged, &[a.verifier(), b.verifier()]), Err(NoteError::BadSignature { .. })));
        // A known key with a signature of the wrong length also fails, not skipped.
        let short = format!("hello\n\n\u{2014} k.example {}\n", {
            let mut p = a.key_id().to_be_bytes().to_vec();
            p.extend_from_slice(&[7; 10]);
            STRICT_BASE64.encode(p)
        });
        assert!(matches!(open_note(&short, &[a.verifier()]), Err(NoteError::BadSignature { .. })));
    }

    #[test]
    fn sign_refuses_bad_text() {
        let a = signer("k.example", 9);
        assert_eq!(sign_note("no newline", &[&a]), Err(NoteError::TextEnd));
        assert_eq!(sign_note("", &[&a]), Err(NoteError::TextEnd));
        assert_eq!(sign_note("a\n\nb\n", &[&a]), Err(NoteError::TextBlankLine));
        assert_eq!(sign_note("\na\n", &[&a]), Err(NoteError::TextBlankLine));
        assert_eq!(sign_note("a\r\n", &[&a]), Err(NoteError::ControlCharacter));
        assert_eq!(sign_note("a\n", &[]), Err(NoteError::NoSigners));
        assert!(matches!(sign_note("a\n", &[&a, &a]), Err(NoteError::DuplicateSignature { .. })));
    }

    #[test]
    fn text_with_blank_lines_from_others_is_opened_at_the_last_one() {
        // The spec lets other signers' texts contain blank lines; build one by hand.
        let a = signer("k.example", 10);
        let text = "first\n\nsecond\n";
        let sig = {
            let mut p = a.key_id().to_be_bytes().to_vec();
            p.extend_from_slice(&a.key.sign(text.as_bytes()).to_bytes());
            STRICT_BASE64.encode(p)
        };
        let signed = format!("{text}\n\u{2014} k.example {sig}\n");
        assert_eq!(open_note(&signed, &[a.verifier()]).unwrap().text, text);
    }
}
