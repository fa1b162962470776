//! Signed envelopes as the ledger takes them: the payload is the message's proto3 encoding,
//! exactly as signed, the key is the signer's 32-byte public key, and the signature covers
//! `domain tag ‖ payload`. Also signed reads, request ids and fresh keys.

use ed25519_dalek::SigningKey;
use prost::Message;
use rand_core::{OsRng, RngCore};
use suanli_core::ledger::InputKind;
use suanli_core::sig::{self, Domain};
use suanli_core::{batch, keyfile};
use suanli_proto::v1::{self, Envelope};

/// Signs a message of `kind` under its domain tag (`suanli/v1/usage\n`, ...).
pub fn sign(kind: InputKind, key: &SigningKey, msg: &impl Message) -> Envelope {
    sign_under(kind.domain(), key, msg)
}

/// Records signed together by one signing thread.
const SIGN_CHUNK_RECORDS: usize = 256;
/// Signed chunks a signing thread may hold ahead of the sender.
const SIGN_CHUNKS_AHEAD: usize = 4;

/// Signs `records` on `threads` threads (at least one) and yields their envelopes in the
/// records' order, as fast as the consumer takes them. Signing costs tens of microseconds a
/// record, more than sending it, so one thread would hold a large submission back.
pub fn sign_in_order<T>(
    kind: InputKind,
    key: &SigningKey,
    records: Vec<T>,
    threads: usize,
) -> tokio_stream::wrappers::ReceiverStream<Envelope>
where
    T: Message + Send + Sync + 'static,
{
    let key = key.clone();
    in_order(records, SIGN_CHUNK_RECORDS, threads, move |chunk: &[T]| {
        chunk.iter().map(|r| sign(kind, &key, r)).collect()
    })
}

/// Signs usage records in batches of [`batch::BATCH_RECORDS_MAX`] for the ledger named
/// `origin` (its `LedgerInfo.origin`): one signature per batch under
/// `suanli/v1/usage-batch\n` (docs/INTEGRATION.md), yielded in the records' order.
pub fn sign_batches_in_order<T>(
    key: &SigningKey,
    origin: &str,
    records: Vec<T>,
    threads: usize,
) -> tokio_stream::wrappers::ReceiverStream<v1::BatchEnvelope>
where
    T: Message + Send + Sync + 'static,
{
    let (key, origin) = (key.clone(), origin.to_string());
    in_order(records, SIGN_CHUNK_RECORDS, threads, move |chunk: &[T]| {
        chunk.chunks(batch::BATCH_RECORDS_MAX).map(|records| sign_batch(&key, &origin, records)).collect()
    })
}

/// One signed batch of usage records (at most [`batch::BATCH_RECORDS_MAX`]).
pub fn sign_batch(key: &SigningKey, origin: &str, records: &[impl Message]) -> v1::BatchEnvelope {
    let records: Vec<Vec<u8>> = records.iter().map(Message::encode_to_vec).collect();
    let (signature, _) = batch::sign(key, origin, &records).expect("1 to 64 records");
    v1::BatchEnvelope { records, public_key: key.verifying_key().to_bytes().to_vec(), signature: signature.to_vec() }
}

/// Runs `f` over chunks of `items` on `threads` threads and yields what it returns, in
/// order, as fast as the consumer takes it. Each thread takes every `threads`-th chunk; a
/// collector takes the chunks round-robin, which keeps the order, and the bounded queues
/// make slow sending slow down the work.
fn in_order<I, O>(
    items: Vec<I>,
    chunk: usize,
    threads: usize,
    f: impl Fn(&[I]) -> Vec<O> + Send + Sync + 'static,
) -> tokio_stream::wrappers::ReceiverStream<O>
where
    I: Send + Sync + 'static,
    O: Send + 'static,
{
    let threads = threads.max(1);
    let items = std::sync::Arc::new(items);
    let f = std::sync::Arc::new(f);
    let chunks = items.len().div_ceil(chunk);
    let mut queues = Vec::with_capacity(threads);
    for w in 0..threads {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<O>>(SIGN_CHUNKS_AHEAD);
        queues.push(rx);
        let (items, f) = (items.clone(), f.clone());
        std::thread::spawn(move || {
            for c in (w..chunks).step_by(threads) {
                let end = ((c + 1) * chunk).min(items.len());
                if tx.send(f(&items[c * chunk..end])).is_err() {
                    break; // the collector stopped: nobody wants more
                }
            }
        });
    }
    let (tx, rx) = tokio::sync::mpsc::channel(chunk * 2);
    std::thread::spawn(move || {
        for c in 0..chunks {
            let Ok(out) = queues[c % threads].recv() else { return };
            for o in out {
                if tx.blocking_send(o).is_err() {
                    return; // the call ended
                }
            }
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(rx)
}

/// Signs a message under any domain tag, signed reads included.
pub fn sign_under(domain: Domain, key: &SigningKey, msg: &impl Message) -> Envelope {
    let payload = msg.encode_to_vec();
    let signature = sig::sign(key, domain, &payload);
    Envelope { payload, public_key: key.verifying_key().to_bytes().to_vec(), signature: signature.to_vec() }
}

/// A signed read: `ReadRequest { issued_at_ms, 16 random nonce bytes, query }` under
/// `suanli/v1/read\n`. The ledger answers it once, and only near `issued_at_ms`.
pub fn signed_read(key: &SigningKey, issued_at_ms: i64, query: v1::read_request::Query) -> Envelope {
    let mut nonce = vec![0u8; 16];
    OsRng.fill_bytes(&mut nonce);
    sign_under(Domain::Read, key, &v1::ReadRequest { issued_at_ms, nonce, query: Some(query) })
}

/// A fresh request id, `cli-` and 16 hex digits. Giving the same id again (with the same
/// request) makes a retry harmless: the ledger answers DUPLICATE.
pub fn request_id() -> String {
    let mut b = [0u8; 8];
    OsRng.fill_bytes(&mut b);
    format!("cli-{}", hex::encode(b))
}

/// A new random ed25519 key from the operating system's generator.
pub fn generate_key() -> SigningKey {
    SigningKey::generate(&mut OsRng)
}

/// The base64 form of a key's public half, as `suanli keygen` prints it.
pub fn public_key_b64(key: &SigningKey) -> String {
    keyfile::encode_public(&key.verifying_key().to_bytes())
}

/// The local clock, Unix milliseconds.
pub fn now_ms() -> i64 {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_verify_under_their_domain_only() {
        let key = SigningKey::from_bytes(&[9u8; 32]);
        let msg = v1::CloseYear { year: 2026 };
        let env = sign(InputKind::Finance, &key, &msg);
        assert_eq!(env.payload, msg.encode_to_vec());
        let pk: [u8; 32] = env.public_key.as_slice().try_into().unwrap();
        let s: [u8; 64] = env.signature.as_slice().try_into().unwrap();
        assert!(sig::verify(&pk, Domain::Finance, &env.payload, &s).is_ok());
        assert!(sig::verify(&pk, Domain::Admin, &env.payload, &s).is_err());
    }

    #[tokio::test]
    async fn signs_in_order_on_many_threads() {
        use futures::StreamExt;
        let key = SigningKey::from_bytes(&[4u8; 32]);
        let records: Vec<v1::CloseYear> = (0..1000).map(|year| v1::CloseYear { year }).collect();
        for threads in [0, 1, 3] {
            let envs: Vec<Envelope> = sign_in_order(InputKind::Finance, &key, records.clone(), threads).collect().await;
            assert_eq!(envs.len(), records.len());
            for (env, r) in envs.iter().zip(&records) {
                assert_eq!(env, &sign(InputKind::Finance, &key, r));
            }
        }
        let none: Vec<Envelope> =
            sign_in_order(InputKind::Finance, &key, Vec::<v1::CloseYear>::new(), 2).collect().await;
        assert!(none.is_empty());
    }

    #[test]
    fn reads_differ_and_ids_look_right() {
        let key = SigningKey::from_bytes(&[3u8; 32]);
        let q = || v1::read_request::Query::Periods(v1::PeriodsQuery {});
        let a = signed_read(&key, 1, q());
        let b = signed_read(&key, 1, q());
        assert_ne!(a.payload, b.payload);
        let r = v1::ReadRequest::decode(a.payload.as_slice()).unwrap();
        assert_eq!((r.issued_at_ms, r.nonce.len()), (1, 16));
        let id = request_id();
        assert!(id.starts_with("cli-") && id.len() == 20 && id[4..].bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(request_id(), id);
    }
}
