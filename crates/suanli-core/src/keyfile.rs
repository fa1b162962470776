//! The text form of keys: secret key files (`suanli keygen`, the keys `suanlid` generates)
//! and public keys in base64, as the command line prints and takes them. Pure functions;
//! the binaries do the file I/O (and set mode 0600).
//!
//! A secret key file is two lines: `suanli-ed25519-secret-key-v1` and the base64 of the
//! 32-byte ed25519 seed.
//!
//! A passphrase-protected key file (`suanli keygen --passphrase`) is three lines:
//!
//! ```text
//! suanli-ed25519-secret-key-encrypted-v1
//! scrypt-chacha20poly1305 <log_n> <r> <p> <base64 16-byte salt> <base64 12-byte nonce>
//! <base64 of ChaCha20-Poly1305(seed), 48 bytes>
//! ```
//!
//! The key is scrypt(passphrase, salt, log_n, r, p) (RustCrypto's `scrypt`), the cipher
//! ChaCha20-Poly1305 (`chacha20poly1305`) with the first two lines as associated data, so
//! the parameters cannot be changed without the passphrase check failing. Salt and nonce
//! come from the caller (this crate has no randomness).

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
    #[error("the passphrase is wrong, or the key file was changed")]
    Passphrase,
    #[error("the key file's encryption parameters are not supported: {0}")]
    Parameters(String),
}

const ENCRYPTED_HEADER: &str = "suanli-ed25519-secret-key-encrypted-v1";
const ENCRYPTED_SCHEME: &str = "scrypt-chacha20poly1305";
/// scrypt cost for new key files: 2^15 × 8 × 128 bytes = 32 MiB of memory.
pub const SCRYPT_LOG_N: u8 = 15;
/// The most a key file may ask for (1 GiB), so a crafted file cannot exhaust memory.
const SCRYPT_LOG_N_MAX: u8 = 20;

/// Whether a key file's contents are passphrase-protected.
pub fn is_encrypted(text: &str) -> bool {
    text.lines().next().map(str::trim) == Some(ENCRYPTED_HEADER)
}

fn cipher_key(passphrase: &[u8], salt: &[u8], log_n: u8, r: u32, p: u32) -> Result<[u8; 32], KeyFileError> {
    if log_n > SCRYPT_LOG_N_MAX || r == 0 || r > 32 || p == 0 || p > 16 {
        return Err(KeyFileError::Parameters(format!("scrypt log_n={log_n} r={r} p={p}")));
    }
    let params = scrypt::Params::new(log_n, r, p, 32).map_err(|e| KeyFileError::Parameters(e.to_string()))?;
    let mut key = [0u8; 32];
    scrypt::scrypt(passphrase, salt, &params, &mut key).map_err(|e| KeyFileError::Parameters(e.to_string()))?;
    Ok(key)
}

/// The contents of a passphrase-protected secret key file.
pub fn encode_secret_encrypted(
    key: &SigningKey,
    passphrase: &[u8],
    salt: [u8; 16],
    nonce: [u8; 12],
    log_n: u8,
) -> Result<String, KeyFileError> {
    use chacha20poly1305::aead::{Aead, KeyInit, Payload};
    let (r, p) = (8, 1);
    let head = format!(
        "{ENCRYPTED_HEADER}\n{ENCRYPTED_SCHEME} {log_n} {r} {p} {} {}\n",
        STANDARD.encode(salt),
        STANDARD.encode(nonce)
    );
    let k = cipher_key(passphrase, &salt, log_n, r, p)?;
    let cipher = chacha20poly1305::ChaCha20Poly1305::new(&k.into());
    let sealed = cipher
        .encrypt(&nonce.into(), Payload { msg: &key.to_bytes(), aad: head.as_bytes() })
        .map_err(|_| KeyFileError::Parameters("encryption failed".into()))?;
    Ok(format!("{head}{}\n", STANDARD.encode(sealed)))
}

/// Reads a passphrase-protected secret key file's contents.
pub fn parse_secret_encrypted(text: &str, passphrase: &[u8]) -> Result<SigningKey, KeyFileError> {
    use chacha20poly1305::aead::{Aead, KeyInit, Payload};
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    if lines.first() != Some(&ENCRYPTED_HEADER) {
        return Err(KeyFileError::Header);
    }
    let [_, params, body] = lines[..] else { return Err(KeyFileError::Body) };
    let f: Vec<&str> = params.split(' ').collect();
    let [scheme, log_n, r, p, salt, nonce] = f[..] else { return Err(KeyFileError::Body) };
    if scheme != ENCRYPTED_SCHEME {
        return Err(KeyFileError::Parameters(scheme.to_string()));
    }
    let num = |v: &str| v.parse::<u32>().map_err(|_| KeyFileError::Body);
    let log_n = u8::try_from(num(log_n)?).map_err(|_| KeyFileError::Parameters(format!("log_n {log_n}")))?;
    let salt = STANDARD.decode(salt).map_err(|_| KeyFileError::Body)?;
    let nonce: [u8; 12] = STANDARD.decode(nonce).ok().and_then(|n| n.try_into().ok()).ok_or(KeyFileError::Body)?;
    let sealed = STANDARD.decode(body).map_err(|_| KeyFileError::Body)?;
    let head = format!("{ENCRYPTED_HEADER}\n{params}\n");
    let k = cipher_key(passphrase, &salt, log_n, num(r)?, num(p)?)?;
    let cipher = chacha20poly1305::ChaCha20Poly1305::new(&k.into());
    let seed = cipher
        .decrypt(&nonce.into(), Payload { msg: &sealed, aad: head.as_bytes() })
        .map_err(|_| KeyFileError::Passphrase)?;
    let seed: [u8; 32] = seed.try_into().map_err(|_| KeyFileError::Body)?;
    Ok(SigningKey::from_bytes(&seed))
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
    fn passphrase_protected_files_round_trip_and_refuse_a_wrong_passphrase() {
        let key = SigningKey::from_bytes(&[9u8; 32]);
        // A small cost keeps the test fast; files written by suanli use SCRYPT_LOG_N.
        let text = encode_secret_encrypted(&key, "芝麻开门 open".as_bytes(), [1; 16], [2; 12], 10).unwrap();
        assert!(is_encrypted(&text) && !is_encrypted(&encode_secret(&key)));
        assert!(!text.contains(&STANDARD.encode(key.to_bytes())));
        let back = parse_secret_encrypted(&text, "芝麻开门 open".as_bytes()).unwrap();
        assert_eq!(back.to_bytes(), key.to_bytes());
        assert_eq!(parse_secret_encrypted(&text, b"wrong").unwrap_err(), KeyFileError::Passphrase);
        // The parameters are bound to the ciphertext.
        let changed = text.replacen(" 10 8 1 ", " 11 8 1 ", 1);
        assert_eq!(parse_secret_encrypted(&changed, "芝麻开门 open".as_bytes()).unwrap_err(), KeyFileError::Passphrase);
        // A crafted file cannot ask for unbounded memory.
        let greedy = text.replacen(" 10 8 1 ", " 30 8 1 ", 1);
        assert!(matches!(parse_secret_encrypted(&greedy, b"x"), Err(KeyFileError::Parameters(_))));
        // The plain parser names the problem instead of misreading it.
        assert_eq!(parse_secret(&text).unwrap_err(), KeyFileError::Header);
    }

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
