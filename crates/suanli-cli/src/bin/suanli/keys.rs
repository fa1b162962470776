//! `suanli keygen` and `suanli pubkey`: key files, no server needed.

use std::path::PathBuf;

use suanli_cli::signing::{generate_key, public_key_b64};

use crate::common::load_key;

#[derive(Debug, clap::Args)]
pub struct KeygenArgs {
    /// Where to write the new key file. It is created with mode 0600 (owner only) and an
    /// existing file is never overwritten. Keep it secret: whoever holds it signs as you.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Protect the key file with a passphrase (scrypt + ChaCha20-Poly1305), asked for twice on
    /// the terminal or read from SUANLI_PASSPHRASE_FILE / SUANLI_PASSPHRASE. Commands that
    /// use the key then ask for it the same way.
    #[arg(long)]
    passphrase: bool,
}

#[derive(Debug, clap::Args)]
pub struct PubkeyArgs {
    /// A key file made by `suanli keygen` (or admin.key / finance.key of suanlid).
    #[arg(value_name = "FILE")]
    file: PathBuf,
}

pub fn keygen(args: &KeygenArgs) -> anyhow::Result<()> {
    let key = generate_key();
    if args.passphrase {
        let p = suanli_cli::keys::passphrase(&format!("new passphrase for {}: ", args.out.display()), true)
            .map_err(|e| anyhow::anyhow!("{}: {e}", args.out.display()))?;
        suanli_cli::keys::write_key_encrypted(&args.out, &key, &p)?;
    } else {
        suanli_cli::keys::write_key(&args.out, &key)?;
    }
    println!("{}", public_key_b64(&key));
    Ok(())
}

pub fn pubkey(args: &PubkeyArgs) -> anyhow::Result<()> {
    println!("{}", public_key_b64(&load_key(&args.file)?));
    Ok(())
}
