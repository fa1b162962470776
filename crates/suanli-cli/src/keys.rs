//! Key files on disk. The text format lives in `suanli_core::keyfile`; this module does the
//! I/O: a key file is created readable by its owner only (mode 0600) and never overwritten,
//! since overwriting a key file loses the identity it holds.

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
    keyfile::parse_secret(&text).map_err(|e| key_error(path, e.to_string()))
}

/// Writes a new secret key file with mode 0600. Refuses to replace an existing file.
pub fn write_key(path: &Path, key: &SigningKey) -> Result<(), ClientError> {
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
    f.write_all(keyfile::encode_secret(key).as_bytes())
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
