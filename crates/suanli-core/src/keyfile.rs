//! The text form of keys: secret key files (`suanli keygen`, the keys `suanlid` generates)
//! and public keys in base64, as the command line prints and takes them. Pure functions;
//! the binaries do the file I/O (and set mode 0600).
//!
//! A secret key file is two lines: `suanli-ed25519-secret-key-v1` and the base64 of the
//! 32-byte ed25519 seed.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::SigningKey;

use crate::model::PublicKey;

const HEADER: &str = "suanli-ed25519-secret-key-v1";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyFileError {
    #[error("not a suanli key file (the first line should be {HEADER:?})")]
    Header,
    #[error("the key is not valid base64 of 32 bytes")]
    Body,
    #[error("a public key is the base64 of 32 bytes (44 characters); this is not")]
    Public,
}

/// The contents of a secret key file.
pub fn encode_secret(key: &SigningKey) -> String {
    format!("{HEADER}\n{}\n", STANDARD.encode(key.to_bytes()))
}

/// Reads a secret key file's contents.
pub fn parse_secret(text: &str) -> Result<SigningKey, KeyFileError> {
    let mut lines = text.lines();
    if lines.next().map(str::trim) != Some(HEADER) {
        return Err(KeyFileError::Header);
    }
    let body = lines.next().map(str::trim).ok_or(KeyFileError::Body)?;
    if lines.any(|l| !l.trim().is_empty()) {
        return Err(KeyFileError::Body);
    }
    let bytes = STANDARD.decode(body).map_err(|_| KeyFileError::Body)?;
    let seed: [u8; 32] = bytes.try_into().map_err(|_| KeyFileError::Body)?;
    Ok(SigningKey::from_bytes(&seed))
}

pub fn encode_public(key: &PublicKey) -> String {
    STANDARD.encode(key)
}

pub fn parse_public(text: &str) -> Result<PublicKey, KeyFileError> {
    let bytes = STANDARD.decode(text.trim()).map_err(|_| KeyFileError::Public)?;
    bytes.try_into().map_err(|_| KeyFileError::Public)
}

/// Whether a secret key file is private to its owner, as ssh requires: `Err` says who else
/// may read (or write) it and how to fix that. Only Unix has modes; elsewhere always `Ok`.
/// `suanlid` refuses such a key file and `suanli` warns, so a key copied with loose
/// permissions never goes unnoticed.
pub fn check_private(path: &std::path::Path) -> Result<(), String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path) {
            let mode = meta.permissions().mode() & 0o7777;
            if mode & 0o077 != 0 {
                let who = if mode & 0o007 != 0 { "everyone on this machine" } else { "its group" };
                return Err(format!(
                    "the secret key file {} has mode {mode:04o}: {who} can read or change it; \
                     make it private with `chmod 600 {}`",
                    path.display(),
                    path.display()
                ));
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let k = SigningKey::from_bytes(&[7u8; 32]);
        let text = encode_secret(&k);
        assert_eq!(parse_secret(&text).unwrap().to_bytes(), k.to_bytes());
        let p = k.verifying_key().to_bytes();
        assert_eq!(parse_public(&encode_public(&p)).unwrap(), p);
    }

    #[cfg(unix)]
    #[test]
    fn key_files_others_can_read_are_named() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.key");
        std::fs::write(&path, "x").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(check_private(&path), Ok(()));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = check_private(&path).unwrap_err();
        assert!(e.contains("0644") && e.contains("everyone") && e.contains("chmod 600"), "{e}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert!(check_private(&path).unwrap_err().contains("group"));
    }

    #[test]
    fn refuses_other_files() {
        assert_eq!(parse_secret("hello\n"), Err(KeyFileError::Header));
        assert_eq!(parse_secret(&format!("{HEADER}\nAAAA\n")), Err(KeyFileError::Body));
        assert_eq!(parse_secret(&format!("{HEADER}\n")), Err(KeyFileError::Body));
        assert_eq!(parse_public("AAAA"), Err(KeyFileError::Public));
        assert_eq!(parse_public("not base64!"), Err(KeyFileError::Public));
    }
}
