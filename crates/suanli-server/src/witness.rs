//! Asking witnesses to cosign the ledger's checkpoints (C2SP tlog-witness), and keeping
//! their cosignatures with the checkpoint they cover.
//!
//! A task apart from the sequencer: every `checkpoint_interval_ms` it reads the latest
//! stored checkpoint and, for each configured witness that has not cosigned it, sends
//! `add-checkpoint` with a consistency proof from the size that witness last cosigned. A
//! witness that answers 409 with another size gets one retry with a proof from that size.
//! A witness that is down, slow or refuses is logged and asked again later (the next
//! checkpoint, or after [`RETRY_AFTER`]); nothing here ever waits on sequencing or holds
//! up a commit. Each call is bounded in time (`witness_timeout_ms`) and its answer in size
//! (`suanli_core::witness::RESPONSE_BYTES_MAX`), and every cosignature is checked with the
//! witness's configured key before it is kept.
//!
//! Cosignatures are kept in memory, for the last [`SIZES_KEPT`] checkpoint sizes, and
//! served on those checkpoints (`/log/checkpoint`, the gRPC checkpoint calls). After a
//! restart the latest checkpoint is sent again: a witness cosigns a checkpoint it already
//! holds (same size, same root) afresh.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{Request, StatusCode, header};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use suanli_core::witness::{AddCheckpoint, CosignerKey, RESPONSE_BYTES_MAX, SIZE_CONTENT_TYPE, verify_cosignatures};
use tracing::{info, warn};

use crate::service::Shared;

/// Checkpoint sizes whose cosignatures are kept.
pub const SIZES_KEPT: usize = 64;
/// A witness that failed is asked again for the same checkpoint after this long.
pub const RETRY_AFTER: Duration = Duration::from_secs(30);

/// Cosignature lines by checkpoint size, then by witness name.
#[derive(Debug, Default)]
pub struct Cosignatures {
    by_size: Mutex<BTreeMap<u64, BTreeMap<String, String>>>,
}

impl Cosignatures {
    /// `note` (the signed checkpoint of tree size `size`) with the cosignatures kept for
    /// that size appended as further signature lines.
    pub fn attach(&self, size: u64, note: String) -> String {
        let by_size = self.by_size.lock().unwrap_or_else(|e| e.into_inner());
        match by_size.get(&size) {
            Some(lines) if !lines.is_empty() => {
                let mut out = note;
                for l in lines.values() {
                    out.push_str(l);
                }
                out
            }
            _ => note,
        }
    }

    fn keep(&self, size: u64, witness: &str, lines: String) {
        let mut by_size = self.by_size.lock().unwrap_or_else(|e| e.into_inner());
        by_size.entry(size).or_default().insert(witness.to_string(), lines);
        while by_size.len() > SIZES_KEPT {
            by_size.pop_first();
        }
    }
}

/// One configured witness and what this ledger knows of it.
struct Peer {
    url: String,
    key: CosignerKey,
    /// The size it last cosigned for us (or told us in a 409), if known.
    known: Option<u64>,
    /// The checkpoint size last asked for, and when.
    tried: Option<(u64, Instant)>,
    /// The checkpoint size it cosigned last.
    done: Option<u64>,
}

type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// Starts the task asking `witnesses` (`(url, key)`) to cosign; it runs until aborted.
pub fn spawn(
    shared: Arc<Shared>,
    witnesses: Vec<(String, CosignerKey)>,
    every: Duration,
    timeout: Duration,
) -> tokio::task::JoinHandle<()> {
    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(Some(timeout));
    let client: HttpClient = Client::builder(TokioExecutor::new()).pool_max_idle_per_host(1).build(connector);
    let mut peers: Vec<Peer> =
        witnesses.into_iter().map(|(url, key)| Peer { url, key, known: None, tried: None, done: None }).collect();
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            let store = shared.store.clone();
            let Ok(Ok(Some((size, note)))) = tokio::task::spawn_blocking(move || store.latest_checkpoint()).await
            else {
                continue;
            };
            let due = peers.iter_mut().filter(|p| {
                p.done != Some(size) && p.tried.is_none_or(|(s, at)| s != size || at.elapsed() >= RETRY_AFTER)
            });
            let asks = due.map(|p| ask(&client, &shared, p, size, &note, timeout));
            futures::future::join_all(asks).await;
        }
    })
}

enum Answer {
    Cosigned(String),
    /// 409 with the witness's size.
    Size(u64),
    Refused(StatusCode, String),
}

async fn ask(client: &HttpClient, shared: &Arc<Shared>, peer: &mut Peer, size: u64, note: &str, timeout: Duration) {
    peer.tried = Some((size, Instant::now()));
    let name = peer.key.name().to_string();
    let mut old = peer.known.unwrap_or(0);
    for attempt in 0..2 {
        if old > size {
            warn!(
                witness = %name, witness_size = old, size,
                "the witness has cosigned a larger tree of this log than our latest checkpoint: it saw a checkpoint \
                 this ledger does not hold (another history, or a rolled-back restore)"
            );
            return;
        }
        let proof = if old == 0 || old == size {
            Vec::new()
        } else {
            let store = shared.store.clone();
            match tokio::task::spawn_blocking(move || crate::audit::consistency(&*store, old, size)).await {
                Ok(Ok(p)) => p,
                Ok(Err(e)) => {
                    warn!(witness = %name, old, size, error = %e.message(), "no consistency proof for the witness");
                    return;
                }
                Err(e) => {
                    warn!(witness = %name, error = %e, "the consistency proof task failed");
                    return;
                }
            }
        };
        let body = AddCheckpoint { old_size: old, proof, checkpoint: note.to_string() }.encode();
        match post(client, &peer.url, body, timeout).await {
            Ok(Answer::Cosigned(lines)) => {
                // Keep only this witness's lines, and only if they verify on this checkpoint.
                let mine: String = lines
                    .lines()
                    .filter(|l| {
                        l.strip_prefix("\u{2014} ").and_then(|r| r.split_once(' ')).is_some_and(|(n, _)| n == name)
                    })
                    .map(|l| format!("{l}\n"))
                    .collect();
                match verify_cosignatures(&format!("{note}{mine}"), std::slice::from_ref(&peer.key)) {
                    Ok(valid) if !valid.is_empty() => {
                        shared.cosignatures.keep(size, &name, mine);
                        peer.known = Some(size);
                        peer.done = Some(size);
                        info!(witness = %name, size, "the witness cosigned the checkpoint");
                        shared.metrics.witness_call(&name, "cosigned", size);
                    }
                    Ok(_) => {
                        warn!(witness = %name, size, "the witness answered without a cosignature under its key");
                        shared.metrics.witness_call(&name, "refused", size);
                    }
                    Err(e) => {
                        warn!(witness = %name, size, error = %e, "the witness's cosignature does not verify");
                        shared.metrics.witness_call(&name, "refused", size);
                    }
                }
                return;
            }
            Ok(Answer::Size(n)) if attempt == 0 => {
                info!(witness = %name, witness_size = n, size, "the witness holds another size; retrying with a proof from it");
                peer.known = Some(n);
                old = n;
            }
            Ok(Answer::Size(n)) => {
                peer.known = Some(n);
                warn!(witness = %name, witness_size = n, size, "the witness refused the checkpoint again (409)");
                shared.metrics.witness_call(&name, "refused", size);
                return;
            }
            Ok(Answer::Refused(status, text)) => {
                warn!(witness = %name, size, old, status = status.as_u16(), answer = %text, "the witness refused the checkpoint");
                shared.metrics.witness_call(&name, "refused", size);
                return;
            }
            Err(e) => {
                warn!(witness = %name, url = %peer.url, size, error = %e, "the witness could not be asked; retrying later");
                shared.metrics.witness_call(&name, "unreachable", size);
                return;
            }
        }
    }
}

async fn post(client: &HttpClient, url: &str, body: String, timeout: Duration) -> Result<Answer, String> {
    let uri = format!("{}/add-checkpoint", url.trim_end_matches('/'));
    let req = Request::post(&uri)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| format!("bad witness URL {uri:?}: {e}"))?;
    let call = async {
        let resp = client.request(req).await.map_err(|e| e.to_string())?;
        let status = resp.status();
        let content_type =
            resp.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let bytes = Limited::new(resp.into_body(), RESPONSE_BYTES_MAX)
            .collect()
            .await
            .map_err(|e| format!("reading the answer (at most {RESPONSE_BYTES_MAX} bytes): {e}"))?
            .to_bytes();
        Ok::<_, String>((status, content_type, bytes))
    };
    let (status, content_type, bytes) = tokio::time::timeout(timeout, call)
        .await
        .map_err(|_| format!("no answer within {} ms", timeout.as_millis()))??;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    if status == StatusCode::OK {
        return Ok(Answer::Cosigned(text));
    }
    if status == StatusCode::CONFLICT && content_type.starts_with(SIZE_CONTENT_TYPE) {
        let n = text.strip_suffix('\n').unwrap_or(&text);
        if let Ok(n) = n.parse::<u64>()
            && (n == 0 || !n.to_string().starts_with('0'))
        {
            return Ok(Answer::Size(n));
        }
    }
    let mut shown: String = text.chars().take(300).collect();
    shown = shown.trim_end().to_string();
    Ok(Answer::Refused(status, shown))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosignatures_are_attached_to_their_size_only() {
        let c = Cosignatures::default();
        c.keep(5, "w1", "\u{2014} w1 AAAA\n".into());
        c.keep(5, "w2", "\u{2014} w2 BBBB\n".into());
        assert_eq!(
            c.attach(5, "note\n\n\u{2014} log X\n".into()),
            "note\n\n\u{2014} log X\n\u{2014} w1 AAAA\n\u{2014} w2 BBBB\n"
        );
        assert_eq!(c.attach(6, "n\n".into()), "n\n");
        for s in 0..(SIZES_KEPT as u64 + 10) {
            c.keep(100 + s, "w1", "x\n".into());
        }
        assert_eq!(c.attach(5, "n\n".into()), "n\n", "old sizes are forgotten");
        assert_eq!(c.by_size.lock().unwrap().len(), SIZES_KEPT);
    }
}
