//! A minimal Rust client for a compute center: sign one GPU usage record and submit it.
//!
//! ```sh
//! cargo run -p suanli-tests --example submit_usage -- http://127.0.0.1:7420 provider.key \
//!     91350100M000100Y43 91110108551385082Q rec-0001
//! ```
//!
//! Only the generated gRPC types (`suanli-proto`), `prost`, `tonic` and `ed25519-dalek`
//! are used, so the same steps carry over to any client: encode the record once, sign
//! `b"suanli/v1/usage\n"` followed by those bytes, send the bytes, the public key and the
//! signature in an `Envelope`, and read the `Ack`.

use base64::Engine as _;
use ed25519_dalek::{Signer, SigningKey};
use prost::Message;
use suanli_proto::v1;

/// The domain tag of usage records; every kind of signed message has its own.
const USAGE_DOMAIN: &[u8] = b"suanli/v1/usage\n";

/// Reads a key file written by `suanli keygen`: a header line, then the base64 seed.
fn read_key(path: &str) -> anyhow::Result<SigningKey> {
    let text = std::fs::read_to_string(path)?;
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    anyhow::ensure!(lines.next() == Some("suanli-ed25519-secret-key-v1"), "{path} is not a suanli key file");
    let seed = base64::engine::general_purpose::STANDARD.decode(lines.next().unwrap_or_default())?;
    let seed: [u8; 32] = seed.try_into().map_err(|_| anyhow::anyhow!("{path}: the key is not 32 bytes"))?;
    Ok(SigningKey::from_bytes(&seed))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [server, key_file, provider, renter, record_id] = args.as_slice() else {
        anyhow::bail!("usage: submit_usage SERVER_URL KEY_FILE PROVIDER_USCC RENTER_USCC RECORD_ID");
    };
    let key = read_key(key_file)?;
    // 8 GPUs for one hour ending 2026-06-30 12:00 (+08:00): 8 GPU-hours at 12.50 = 100.00.
    let end = 1_782_792_000;
    let record = v1::UsageRecord {
        record_id: record_id.clone(),
        provider_id: provider.clone(),
        renter_id: renter.clone(),
        contract_id: "HT-2026-001".into(),
        gpu_model: "H100".into(),
        gpu_count: 8,
        start: end - 3600,
        end,
        gpu_hours: "8".into(),
        unit_price: "12.50".into(),
        amount: "100.00".into(),
        voucher_id: String::new(),
        invoice_no: String::new(),
    };
    // Encode once; these exact bytes are signed, sent and stored.
    let payload = record.encode_to_vec();
    let mut signed = USAGE_DOMAIN.to_vec();
    signed.extend_from_slice(&payload);
    let envelope = v1::Envelope {
        payload,
        public_key: key.verifying_key().to_bytes().to_vec(),
        signature: key.sign(&signed).to_bytes().to_vec(),
    };

    let mut ingest = v1::ingest_client::IngestClient::connect(server.clone()).await?;
    let acks = ingest.submit_usage_batch(v1::EnvelopeBatch { envelopes: vec![envelope] }).await?.into_inner();
    let ack = acks.acks.first().ok_or_else(|| anyhow::anyhow!("no ack"))?;
    match ack.status() {
        v1::Status::Accepted | v1::Status::Duplicate => {
            let lines = ack.lines.clone().unwrap_or_default();
            println!(
                "{record_id} {} seq={} voucher={} renter={} supplier={}",
                ack.status().as_str_name(),
                ack.seq,
                lines.voucher_drawn,
                lines.renter_subsidy,
                lines.supplier_subsidy
            );
            Ok(())
        }
        _ => anyhow::bail!("{record_id} rejected: {} ({})", ack.reason, ack.detail),
    }
}
