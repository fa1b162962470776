//! What every command shares: the connection, key files, flag parsing, and how an ack of a
//! signed request is reported.

use std::path::Path;

use anyhow::{Context, bail};
use ed25519_dalek::SigningKey;
use suanli_cli::Client;
use suanli_cli::output::status_name;
use suanli_cli::v1::{self, Ack};
use suanli_core::keyfile;
use suanli_core::model::PublicKey;

/// What the global options give every command.
pub struct Ctx {
    pub server: String,
    pub tls: suanli_cli::TlsOptions,
}

impl Ctx {
    pub async fn client(&self) -> anyhow::Result<Client> {
        Ok(Client::connect_with(&self.server, &self.tls).await?)
    }
}

/// `--request-id`, on every command that sends a signed request.
#[derive(Debug, clap::Args)]
pub struct RequestId {
    /// Id of this request; a fresh random one when left out. Run a command again with the
    /// same id (and the same arguments) to retry it safely: the ledger answers DUPLICATE
    /// instead of doing it twice.
    #[arg(long, value_name = "ID")]
    pub request_id: Option<String>,
}

pub fn load_key(path: &Path) -> anyhow::Result<SigningKey> {
    Ok(suanli_cli::keys::read_key(path)?)
}

/// Reports the answer to a signed request: `ACCEPTED seq=N` / `DUPLICATE seq=N` on stdout,
/// or an error `rejected: CODE: detail`.
pub fn report_ack(ack: &Ack) -> anyhow::Result<()> {
    match ack.status() {
        v1::Status::Accepted | v1::Status::Duplicate => {
            println!("{} seq={}", status_name(ack), ack.seq);
            Ok(())
        }
        v1::Status::Rejected => bail!("rejected: {}: {}", ack.reason, ack.detail),
        v1::Status::Unspecified => bail!("the ledger sent an answer without a status: {ack:?}"),
    }
}

/// An RFC 3339 time flag, as Unix seconds.
pub fn parse_time(flag: &str, value: &str) -> anyhow::Result<i64> {
    suanli_core::time::parse_rfc3339(value).with_context(|| flag.to_string())
}

/// A `--pubkey` flag: the base64 of 32 bytes.
pub fn parse_pubkey(value: &str) -> anyhow::Result<PublicKey> {
    keyfile::parse_public(value).with_context(|| format!("--pubkey {value:?}"))
}

/// The UTC offset of the ledger's program, for showing times as its users read them.
pub async fn program_offset_seconds(client: &Client) -> i32 {
    match client.info().await {
        Ok(info) => suanli_core::program::Program::from_toml(&info.program_toml).map_or(0, |p| p.utc_offset_seconds),
        Err(_) => 0,
    }
}

pub fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}
