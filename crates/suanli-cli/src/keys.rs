//! Key files on disk. The text format lives in `suanli_core::keyfile`; this module does the
//! I/O: a key file is created readable by its owner only (mode 0600) and never overwritten,
//! since overwriting a key file loses the identity it holds.
//!
//! A key file may be protected by a passphrase (`suanli keygen --passphrase`; the format is
//! in `suanli_core::keyfile`). The passphrase is read from the file named by
//! `SUANLI_PASSPHRASE_FILE`, else from `SUANLI_PASSPHRASE`, else asked for on the terminal.

use std::io::Write;
use std::path::Path;

use ed25519_dalek::SigningKey;
use suanli_core::keyfile;

use crate::error::ClientError;

fn key_error(path: &Path, detail: impl Into<String>) -> ClientError {
    ClientError::KeyFile { path: path.to_path_buf(), detail: detail.into() }
}

/// Reads a secret key file (`suanli keygen`, or admin.key/finance.key of `suanlid`).
pub fn read_key(path: &Path) -> Result<SigningKey, ClientError> {
    let text = std::fs::read_to_string(path).map_err(|e| key_error(path, format!("cannot read the key file: {e}")))?;
    if let Err(problem) = keyfile::check_private(path) {
        eprintln!("suanli: WARNING: {problem}");
    }
    parse_key_text(path, &text)
}

/// A key file's contents, plain or passphrase-protected.
fn parse_key_text(path: &Path, text: &str) -> Result<SigningKey, ClientError> {
    if keyfile::is_encrypted(text) {
        let passphrase =
            passphrase(&format!("passphrase for {}: ", path.display()), false).map_err(|e| key_error(path, e))?;
        return keyfile::parse_secret_encrypted(text, passphrase.as_bytes())
            .map_err(|e| key_error(path, e.to_string()));
    }
    keyfile::parse_secret(text).map_err(|e| key_error(path, e.to_string()))
}

/// The passphrase of a key file: `SUANLI_PASSPHRASE_FILE` (its first line), then
/// `SUANLI_PASSPHRASE`, then the terminal (asked twice when `confirm`).
pub fn passphrase(prompt: &str, confirm: bool) -> Result<String, String> {
    if let Some(file) = std::env::var_os("SUANLI_PASSPHRASE_FILE") {
        let text = std::fs::read_to_string(&file)
            .map_err(|e| format!("SUANLI_PASSPHRASE_FILE {}: {e}", Path::new(&file).display()))?;
        return Ok(text.lines().next().unwrap_or_default().to_string());
    }
    if let Ok(p) = std::env::var("SUANLI_PASSPHRASE") {
        return Ok(p);
    }
    let no_tty = |e: std::io::Error| {
        format!(
            "the key is protected by a passphrase and none was given ({e}): set SUANLI_PASSPHRASE_FILE or run on a terminal"
        )
    };
    // Asked only of a person at a terminal: a job with its input redirected gets the message.
    use std::io::IsTerminal;
    if !std::io::stdin().is_terminal() {
        return Err(no_tty(std::io::Error::other("standard input is not a terminal")));
    }
    let first = rpassword::prompt_password(prompt).map_err(no_tty)?;
    if confirm && rpassword::prompt_password("again: ").map_err(no_tty)? != first {
        return Err("the two passphrases differ".into());
    }
    if first.is_empty() {
        return Err("an empty passphrase protects nothing".into());
    }
    Ok(first)
}

/// Writes a new secret key file with mode 0600. Refuses to replace an existing file.
pub fn write_key(path: &Path, key: &SigningKey) -> Result<(), ClientError> {
    write_new(path, &keyfile::encode_secret(key))
}

/// Writes a new passphrase-protected secret key file (mode 0600, never overwriting).
pub fn write_key_encrypted(path: &Path, key: &SigningKey, passphrase: &str) -> Result<(), ClientError> {
    use rand_core::RngCore;
    let (mut salt, mut nonce) = ([0u8; 16], [0u8; 12]);
    rand_core::OsRng.fill_bytes(&mut salt);
    rand_core::OsRng.fill_bytes(&mut nonce);
    let text = keyfile::encode_secret_encrypted(key, passphrase.as_bytes(), salt, nonce, keyfile::SCRYPT_LOG_N)
        .map_err(|e| key_error(path, e.to_string()))?;
    write_new(path, &text)
}

fn write_new(path: &Path, contents: &str) -> Result<(), ClientError> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            key_error(path, "already exists; refusing to overwrite a key file (choose another --out)")
        } else {
            key_error(path, format!("cannot create the key file: {e}"))
        }
    })?;
    f.write_all(contents.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| key_error(path, format!("cannot write the key file: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_0600_and_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.key");
        let key = SigningKey::from_bytes(&[5u8; 32]);
        write_key(&path, &key).unwrap();
        assert_eq!(read_key(&path).unwrap().to_bytes(), key.to_bytes());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let err = write_key(&path, &SigningKey::from_bytes(&[6u8; 32])).unwrap_err().to_string();
        assert!(err.contains("already exists"), "{err}");
        assert_eq!(read_key(&path).unwrap().to_bytes(), key.to_bytes());
        let err = read_key(&dir.path().join("missing.key")).unwrap_err().to_string();
        assert!(err.contains("missing.key") && err.contains("cannot read"), "{err}");
        std::fs::write(dir.path().join("bad.key"), "hello\n").unwrap();
        let err = read_key(&dir.path().join("bad.key")).unwrap_err().to_string();
        assert!(err.contains("bad.key") && err.contains("not a suanli key file"), "{err}");
    }
}
