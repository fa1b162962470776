//! The gRPC services. Each submission goes the same way: envelope shape check, batched
//! signature verification on the pool, then the sequencer, in submission order; the
//! answers come back only after the commit that holds them.
//!
//! A stream is pumped in two stages so that one stream keeps both cores busy: chunk k+1
//! is verified while chunk k waits for its commit. Chunks enter the sequencer in stream
//! order (they leave the verifying stage in order), so a stream's records are applied in
//! the order they were sent, and its acks come back in that order.

use std::collections::{HashMap, VecDeque};
use std::pin::Pin;
use std::sync::{Arc, Mutex, RwLock};

use futures::stream::FuturesOrdered;
use futures::{FutureExt, Stream, StreamExt};
use prost::Message;
use sha2::{Digest, Sha256};
use suanli_core::codes::RejectCode;
use suanli_core::ids::Uscc;
use suanli_core::ledger::{Answer, Input, InputKind, Ledger, Rejection};
use suanli_core::model::{PayableKind, VoucherKind};
use suanli_core::money::fmt_money;
use suanli_core::sig::{self, Domain};
use suanli_proto::convert;
use suanli_proto::v1::{self, Envelope};
use suanli_store::Store;
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use crate::config::Limits;
use crate::sequencer::{Clock, Command};
use crate::verify::Verifier;

/// State shared by every service and every stream.
pub struct Shared {
    pub ledger: Arc<RwLock<Ledger>>,
    pub store: Arc<dyn Store>,
    pub verifier: Arc<Verifier>,
    pub sequencer: mpsc::Sender<Command>,
    pub limits: Limits,
    pub clock: Clock,
    pub read_skew_ms: i64,
    pub reads_seen: Mutex<ReadReplayCache>,
    /// The ledger key, for signing reports (checkpoints are signed by the sequencer).
    /// `None` on a mirror, which holds no ledger key and signs nothing.
    pub signer: Option<suanli_core::note::Signer>,
    /// `Some(primary URL)` on a read-only mirror ([`crate::mirror`]): every write is refused.
    pub read_only: Option<String>,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Chunks of all streams together being verified or sequenced
    /// (`limits.chunks_in_flight_max`): what many streams can make the server hold at once
    /// is bounded, not only what one stream can. A permit travels with its chunk into the
    /// sequencer's command and is released when the committer hands the chunk's answers
    /// back, whether or not the stream has sent the acks of earlier chunks: clients that
    /// never read their acks cannot keep permits from others. The bound also adapts to how long chunks take
    /// (see [`crate::admission`]): latency stays bounded at full speed.
    pub chunk_permits: Arc<crate::admission::Admission>,
    /// The finance dashboard's running totals (kept by the sequencer).
    pub dashboard: Arc<crate::dashboard::LiveDashboard>,
    /// Witness cosignatures of recent checkpoints, served with them (`crate::witness`).
    pub cosignatures: Arc<crate::witness::Cosignatures>,
}

/// One slot of a chunk: an input to decide, or an answer already known (bad envelope).
enum Slot {
    /// An input to verify and sequence, with the root of its batch when
    /// [`Shared::prepare_batch`] built the batch's tree (and so its proof) here.
    Input(Input, Option<suanli_core::merkle::Hash>),
    Answered(Answer),
}

/// A chunk handed to the sequencer: where it starts in its stream, the answers already
/// known, and the receiver of the sequencer's answers for the rest.
type Sequenced = (u64, Vec<Option<Answer>>, oneshot::Receiver<Vec<Answer>>);

/// A chunk after verification, ready for the sequencer.
struct Verified {
    start: u64,
    /// When the chunk was taken in, for the ack latency metric.
    received: std::time::Instant,
    /// When its signature checks were done, for the stage metric.
    verified: std::time::Instant,
    slots: Vec<Option<Answer>>,
    inputs: Vec<Input>,
    signature_ok: Vec<bool>,
    parsed: Vec<crate::verify::Parsed>,
}

fn unavailable() -> Status {
    Status::unavailable("the ledger is shutting down or stopped; nothing unacknowledged was applied, resubmit later")
}

impl Shared {
    /// Refuses a write on a read-only mirror (FAILED_PRECONDITION, naming the primary).
    pub fn writable(&self) -> Result<(), Status> {
        match &self.read_only {
            None => Ok(()),
            Some(primary) => Err(Status::failed_precondition(format!(
                "this is a read-only mirror of {primary}: it accepts no writes; submit to the primary ledger"
            ))),
        }
    }

    /// The records of a batch-signed message ([`suanli_core::batch`]), each with its batch
    /// proof computed here from the records as received: any change to the batch makes
    /// the signature fail for all of them. Shape errors answer every record alike.
    fn prepare_batch(&self, b: v1::BatchEnvelope) -> Result<Vec<Slot>, Status> {
        let n = b.records.len();
        if n == 0 {
            return Err(Status::invalid_argument("a signed batch holds no records"));
        }
        let refuse_all = |code, detail: String| -> Vec<Slot> {
            (0..n).map(|_| Slot::Answered(Answer::Rejected(Rejection { code, detail: detail.clone() }))).collect()
        };
        let slots = match (
            <[u8; 32]>::try_from(b.public_key.as_slice()),
            <[u8; 64]>::try_from(b.signature.as_slice()),
            suanli_core::batch::tree(&b.records),
        ) {
            (Err(_), _, _) => refuse_all(
                RejectCode::BadSignature,
                format!("batch: public_key must be 32 bytes, got {}", b.public_key.len()),
            ),
            (_, Err(_), _) => refuse_all(
                RejectCode::BadSignature,
                format!("batch: signature must be 64 bytes, got {}", b.signature.len()),
            ),
            (_, _, Err(e)) => refuse_all(RejectCode::Malformed, format!("batch: {e}")),
            (Ok(public_key), Ok(signature), Ok((root, proofs))) => b
                .records
                .into_iter()
                .zip(proofs)
                .map(|(payload, proof)| {
                    if payload.len() > self.limits.payload_bytes_max {
                        let detail = format!(
                            "batch: record is {} bytes; at most {} are accepted",
                            payload.len(),
                            self.limits.payload_bytes_max
                        );
                        return Slot::Answered(Answer::Rejected(Rejection { code: RejectCode::Malformed, detail }));
                    }
                    let signed = suanli_core::entry::Signed { payload, public_key, signature, batch: Some(proof) };
                    Slot::Input(Input { kind: InputKind::Usage, signed }, Some(root))
                })
                .collect(),
        };
        self.count_answered(InputKind::Usage, &slots);
        Ok(slots)
    }

    fn count_answered(&self, kind: InputKind, slots: &[Slot]) {
        self.metrics.count_answers(slots.iter().filter_map(|s| match s {
            Slot::Answered(a) => Some((kind, a)),
            Slot::Input(..) => None,
        }));
    }

    fn prepare(&self, kind: InputKind, envs: Vec<Envelope>) -> Vec<Slot> {
        envs.into_iter().map(|env| self.prepare_one(kind, env)).collect()
    }

    fn prepare_one(&self, kind: InputKind, env: Envelope) -> Slot {
        let slot = match convert::input(kind, env, self.limits.payload_bytes_max) {
            Ok(input) => Slot::Input(input, None),
            Err(e) => {
                let code = match e {
                    convert::EnvelopeError::TooLarge(..) => RejectCode::Malformed,
                    _ => RejectCode::BadSignature,
                };
                Slot::Answered(Answer::Rejected(Rejection { code, detail: format!("envelope: {e}") }))
            }
        };
        self.count_answered(kind, std::slice::from_ref(&slot));
        slot
    }

    async fn verify(self: &Arc<Self>, start: u64, slots: Vec<Slot>) -> Verified {
        let received = std::time::Instant::now();
        let mut answers = Vec::with_capacity(slots.len());
        let mut inputs = Vec::with_capacity(slots.len());
        let mut roots = Vec::with_capacity(slots.len());
        for s in slots {
            match s {
                Slot::Input(i, root) => {
                    answers.push(None);
                    inputs.push(i);
                    roots.push(root);
                }
                Slot::Answered(a) => answers.push(Some(a)),
            }
        }
        let inputs = Arc::new(inputs);
        let crate::verify::Checked { signature_ok, parsed } = if inputs.is_empty() {
            crate::verify::Checked { signature_ok: Vec::new(), parsed: Vec::new() }
        } else {
            self.verifier.verify(inputs.clone(), roots).await
        };
        let inputs = Arc::try_unwrap(inputs).unwrap_or_else(|a| (*a).clone());
        Verified { start, received, verified: std::time::Instant::now(), slots: answers, inputs, signature_ok, parsed }
    }

    /// Hands a verified chunk to the sequencer (waiting for queue room: backpressure), with
    /// its admission permit, which the committer drops once the chunk is answered.
    async fn sequence(
        &self,
        v: Verified,
        permit: Option<crate::admission::Permit>,
    ) -> Result<(u64, Vec<Option<Answer>>, oneshot::Receiver<Vec<Answer>>), Status> {
        let (tx, rx) = oneshot::channel();
        if v.inputs.is_empty() {
            drop(permit);
            let _ = tx.send(Vec::new());
        } else {
            self.sequencer
                .send(Command::Submit {
                    inputs: v.inputs,
                    signature_ok: v.signature_ok,
                    parsed: v.parsed,
                    permit,
                    reply: tx,
                    received: v.received,
                    verified: v.verified,
                })
                .await
                .map_err(|_| unavailable())?;
        }
        Ok((v.start, v.slots, rx))
    }

    /// Submits envelopes and waits for their answers, in order.
    pub async fn submit(self: &Arc<Self>, kind: InputKind, envs: Vec<Envelope>) -> Result<Vec<Answer>, Status> {
        self.writable()?;
        let received = std::time::Instant::now();
        let slots = self.prepare(kind, envs);
        let mut chunks = Vec::new();
        let mut rest = slots;
        while rest.len() > self.limits.chunk_records_max {
            let tail = rest.split_off(self.limits.chunk_records_max);
            chunks.push(rest);
            rest = tail;
        }
        chunks.push(rest);
        // Verify all chunks at once (all cores), then sequence them as one ordered unit.
        let checked = futures::future::join_all(chunks.into_iter().map(|c| self.verify(0, c))).await;
        let verified = std::time::Instant::now();
        let mut slots = Vec::new();
        let mut inputs = Vec::new();
        let mut signature_ok = Vec::new();
        let mut parsed = Vec::new();
        for v in checked {
            slots.extend(v.slots);
            inputs.extend(v.inputs);
            signature_ok.extend(v.signature_ok);
            parsed.extend(v.parsed);
        }
        let (_, slots, rx) =
            self.sequence(Verified { start: 0, received, verified, slots, inputs, signature_ok, parsed }, None).await?;
        let answers = rx.await.map_err(|_| unavailable())?;
        Ok(merge(slots, answers))
    }
}

fn merge(slots: Vec<Option<Answer>>, answers: Vec<Answer>) -> Vec<Answer> {
    let mut answers = answers.into_iter();
    slots.into_iter().map(|s| s.unwrap_or_else(|| answers.next().expect("one answer per sequenced input"))).collect()
}

/// Reads up to `max` items for a chunk: waits for the first (kept in `first`), then for
/// a shared chunk permit, then takes what is already there. An idle stream therefore holds
/// no permit: it waits for its first message before asking for one (64 streams that send
/// nothing must not stop everyone else's submissions).
/// Cancel-safe: the first item waits in `first` and a cancelled permit wait gives nothing
/// away.
async fn read_chunk<T>(
    stream: &mut (impl Stream<Item = Result<T, Status>> + Unpin),
    first: &mut Option<T>,
    permits: &Arc<crate::admission::Admission>,
    max: usize,
) -> (Option<crate::admission::Permit>, Result<Vec<T>, Status>) {
    if first.is_none() {
        match stream.next().await {
            None => return (None, Ok(Vec::new())),
            Some(Err(status)) => return (None, Err(status)),
            Some(Ok(item)) => *first = Some(item),
        }
    }
    let permit = permits.clone().acquire_owned().await.expect("never closed");
    let mut out = vec![first.take().expect("read above")];
    while out.len() < max {
        match stream.next().now_or_never() {
            Some(Some(Ok(item))) => out.push(item),
            Some(Some(Err(status))) => return (Some(permit), Err(status)),
            _ => break,
        }
    }
    (Some(permit), Ok(out))
}

type AckStream = Pin<Box<dyn Stream<Item = Result<v1::Ack, Status>> + Send>>;

/// Pumps one client stream (its messages already turned into slots: one per record)
/// through verification and the sequencer and back as acks.
///
/// Sending acks is one branch of the loop, never a wait inside another: a client that
/// stops reading its acks stops its own stream (its answered chunks count against
/// `stream_chunks_in_flight_max` until their acks are sent, so it reads nothing more),
/// but the chunks it already sent still go on to the sequencer and are answered, and give
/// their admission permits back. Waiting to send inside the answers branch used to leave
/// verified chunks of such a stream unsequenced, holding permits nobody would release.
///
/// Acks go out a chunk at a time (one channel message per chunk, not per ack: at full
/// speed the per-ack sends, wake-ups and loop turns were ~5 % of the server's CPU).
async fn pump(
    shared: Arc<Shared>,
    mut stream: impl Stream<Item = Result<Slot, Status>> + Unpin,
    out: mpsc::Sender<Result<Vec<v1::Ack>, Status>>,
) {
    let max = shared.limits.chunk_records_max;
    let in_flight_max = shared.limits.stream_chunks_in_flight_max;
    let mut verifying = FuturesOrdered::new();
    let mut sequencing: VecDeque<Sequenced> = VecDeque::new();
    // Acks of answered chunks not yet sent, chunk by chunk, in order.
    let mut unsent: VecDeque<Vec<v1::Ack>> = VecDeque::new();
    let mut next_index = 0u64;
    let mut first: Option<Slot> = None;
    let mut input_done = false;
    let mut failure: Option<Status> = None;
    loop {
        let room = verifying.len() + sequencing.len() + unsent.len() < in_flight_max;
        tokio::select! {
            biased;
            slot = out.reserve(), if !unsent.is_empty() => {
                let Ok(slot) = slot else { return }; // the client went away
                slot.send(Ok(unsent.pop_front().expect("guarded")));
            }
            answers = async { (&mut sequencing.front_mut().expect("guarded").2).await }, if !sequencing.is_empty() => {
                let (start, slots, _) = sequencing.pop_front().expect("guarded");
                let answers = match answers {
                    Ok(a) => a,
                    Err(_) => { let _ = out.send(Err(unavailable())).await; return; }
                };
                let acks: Vec<v1::Ack> =
                    merge(slots, answers).iter().enumerate().map(|(i, a)| convert::ack(start + i as u64, a)).collect();
                if !acks.is_empty() {
                    unsent.push_back(acks);
                }
            }
            v = verifying.next(), if !verifying.is_empty() => {
                let (v, permit): (Verified, _) = v.expect("guarded");
                match shared.sequence(v, Some(permit)).await {
                    Ok(s) => sequencing.push_back(s),
                    Err(status) => { let _ = out.send(Err(status)).await; return; }
                }
            }
            (permit, chunk) = read_chunk(&mut stream, &mut first, &shared.chunk_permits, max), if !input_done && room => {
                match chunk {
                    Ok(envs) if envs.is_empty() => input_done = true,
                    Ok(envs) => {
                        let permit = permit.expect("a chunk holds a permit");
                        let start = next_index;
                        next_index += envs.len() as u64;
                        let (slots, s) = (envs, shared.clone());
                        verifying.push_back(async move { (s.verify(start, slots).await, permit) });
                    }
                    Err(status) => {
                        input_done = true;
                        failure = Some(status);
                    }
                }
            }
            else => break,
        }
    }
    if let Some(status) = failure {
        let _ = out.send(Err(status)).await;
    }
}

fn stream_acks(shared: &Arc<Shared>, kind: InputKind, stream: Streaming<Envelope>) -> AckStream {
    let prep = shared.clone();
    let slots = stream.map(move |env| env.map(|env| prep.prepare_one(kind, env)));
    ack_stream(shared, slots)
}

/// The acks of a stream of batch-signed usage records: one per record, in order.
fn batch_acks(shared: &Arc<Shared>, stream: Streaming<v1::BatchEnvelope>) -> AckStream {
    let prep = shared.clone();
    let slots = stream
        .map(move |b| match b.and_then(|b| prep.prepare_batch(b)) {
            Ok(slots) => futures::stream::iter(slots.into_iter().map(Ok).collect::<Vec<_>>()),
            Err(status) => futures::stream::iter(vec![Err(status)]),
        })
        .flatten();
    ack_stream(shared, Box::pin(slots))
}

fn ack_stream(
    shared: &Arc<Shared>,
    slots: impl Stream<Item = Result<Slot, Status>> + Unpin + Send + 'static,
) -> AckStream {
    // `ack_queue_depth` acks, in whole chunks (rounded up, at least one).
    let chunks = shared.limits.ack_queue_depth.div_ceil(shared.limits.chunk_records_max).max(1);
    let (tx, rx) = mpsc::channel(chunks);
    tokio::spawn(pump(shared.clone(), slots, tx));
    Box::pin(ReceiverStream::new(rx).flat_map(|chunk| {
        let acks: Box<dyn Iterator<Item = Result<v1::Ack, Status>> + Send> = match chunk {
            Ok(acks) => Box::new(acks.into_iter().map(Ok)),
            Err(status) => Box::new(std::iter::once(Err(status))),
        };
        futures::stream::iter(acks)
    }))
}

async fn one(shared: &Arc<Shared>, kind: InputKind, env: Envelope) -> Result<Response<v1::Ack>, Status> {
    let answers = shared.submit(kind, vec![env]).await?;
    Ok(Response::new(convert::ack(0, &answers[0])))
}

#[derive(Clone)]
pub struct Services(pub Arc<Shared>);

#[tonic::async_trait]
impl v1::ingest_server::Ingest for Services {
    type SubmitUsageStream = AckStream;
    type SubmitUsageBatchSignedStream = AckStream;
    type SubmitCorpusStream = AckStream;

    async fn submit_usage(&self, req: Request<Streaming<Envelope>>) -> Result<Response<AckStream>, Status> {
        self.0.writable()?;
        Ok(Response::new(stream_acks(&self.0, InputKind::Usage, req.into_inner())))
    }

    async fn submit_usage_batch(&self, req: Request<v1::EnvelopeBatch>) -> Result<Response<v1::AckBatch>, Status> {
        self.0.writable()?;
        let envs = req.into_inner().envelopes;
        if envs.len() > self.0.limits.batch_records_max {
            return Err(Status::invalid_argument(format!(
                "a batch holds at most {} records, this has {}; split it or use the SubmitUsage stream",
                self.0.limits.batch_records_max,
                envs.len()
            )));
        }
        // A batch counts against the same bound as stream chunks in flight, as the chunks it
        // would be on a stream (at most the whole bound), so many concurrent large batches
        // wait their turn instead of all being verified and sequenced at once.
        let limits = &self.0.limits;
        let chunks = envs.len().div_ceil(limits.chunk_records_max).clamp(1, limits.chunks_in_flight_max);
        let _permits = self.0.chunk_permits.clone().acquire_many_owned(chunks as u32).await.expect("never closed");
        let answers = self.0.submit(InputKind::Usage, envs).await?;
        let acks = answers.iter().enumerate().map(|(i, a)| convert::ack(i as u64, a)).collect();
        Ok(Response::new(v1::AckBatch { acks }))
    }

    async fn submit_usage_batch_signed(
        &self,
        req: Request<Streaming<v1::BatchEnvelope>>,
    ) -> Result<Response<AckStream>, Status> {
        self.0.writable()?;
        Ok(Response::new(batch_acks(&self.0, req.into_inner())))
    }

    async fn submit_corpus(&self, req: Request<Streaming<Envelope>>) -> Result<Response<AckStream>, Status> {
        self.0.writable()?;
        Ok(Response::new(stream_acks(&self.0, InputKind::Corpus, req.into_inner())))
    }

    async fn reverse(&self, req: Request<Envelope>) -> Result<Response<v1::Ack>, Status> {
        one(&self.0, InputKind::Reversal, req.into_inner()).await
    }
}

/// Remembers signed reads inside the skew window so none is answered twice.
#[derive(Default)]
pub struct ReadReplayCache {
    seen: HashMap<[u8; 32], i64>,
    order: VecDeque<([u8; 32], i64)>,
}

impl ReadReplayCache {
    /// Records a read; false if it was already seen. Forgets reads older than `oldest_ms`.
    fn admit(&mut self, id: [u8; 32], issued_ms: i64, oldest_ms: i64, max: usize) -> Result<bool, Status> {
        while let Some((old, t)) = self.order.front().copied() {
            if t >= oldest_ms {
                break;
            }
            self.order.pop_front();
            if self.seen.get(&old) == Some(&t) {
                self.seen.remove(&old);
            }
        }
        if self.seen.contains_key(&id) {
            return Ok(false);
        }
        if self.seen.len() >= max {
            return Err(Status::resource_exhausted("too many signed reads in the replay window; retry shortly"));
        }
        self.seen.insert(id, issued_ms);
        self.order.push_back((id, issued_ms));
        Ok(true)
    }
}

/// Who signed a read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reader {
    Admin,
    Finance,
    Entity(Uscc),
}

/// The gRPC metadata key that names why a signed read was refused, for clients that explain
/// it to people (the web console): `signature`, `skew`, `replayed`, `revoked-key`,
/// `unknown-key`, `permission` or `role`. The status message says the same in English.
pub const REFUSAL_METADATA: &str = "suanli-refusal";

fn refused(kind: &'static str, mut status: Status) -> Status {
    status.metadata_mut().insert(REFUSAL_METADATA, tonic::metadata::MetadataValue::from_static(kind));
    status
}

/// Why a signed read was refused (the value of [`REFUSAL_METADATA`]), if it says.
pub fn refusal(status: &Status) -> Option<&str> {
    status.metadata().get(REFUSAL_METADATA).and_then(|v| v.to_str().ok())
}

impl Shared {
    /// Checks a signed read, cheapest refusals first: the key must be a role key or a
    /// live registered key (a map lookup, before any signature work), the signature must
    /// verify, the time must be within the skew window; only then does the read take a
    /// place in the replay cache, so reads that do not authenticate cannot fill it.
    pub(crate) fn authorize_read(&self, env: Envelope) -> Result<(v1::ReadRequest, Reader), Status> {
        let input = convert::input(InputKind::Admin, env, self.limits.payload_bytes_max)
            .map_err(|e| refused("signature", Status::invalid_argument(format!("envelope: {e}"))))?;
        let s = &input.signed;
        let reader = {
            let ledger = self.ledger.read().expect("ledger lock");
            let g = ledger.genesis();
            if s.public_key == g.admin_key {
                Reader::Admin
            } else if s.public_key == g.finance_key {
                Reader::Finance
            } else {
                match ledger.key(&s.public_key) {
                    Some(k) if !k.revoked => Reader::Entity(k.owner),
                    Some(_) => {
                        return Err(refused(
                            "revoked-key",
                            Status::unauthenticated("the read is signed with a revoked key"),
                        ));
                    }
                    None => {
                        return Err(refused(
                            "unknown-key",
                            Status::unauthenticated("the read is signed with an unknown key"),
                        ));
                    }
                }
            }
        };
        sig::verify(&s.public_key, Domain::Read, &s.payload, &s.signature).map_err(|_| {
            refused(
                "signature",
                Status::unauthenticated("the read's signature does not verify (domain suanli/v1/read)"),
            )
        })?;
        let req = v1::ReadRequest::decode(s.payload.as_slice())
            .map_err(|e| Status::invalid_argument(format!("not a ReadRequest: {e}")))?;
        let now = (self.clock)();
        // abs_diff: any i64 the client sends, even -2^63, is a clear refusal, not an overflow.
        if now.abs_diff(req.issued_at_ms) > self.read_skew_ms.unsigned_abs() {
            return Err(refused(
                "skew",
                Status::unauthenticated(format!(
                    "the read was signed at {} ms but the ledger's clock is {now} ms; sign a fresh read",
                    req.issued_at_ms
                )),
            ));
        }
        let id: [u8; 32] = Sha256::digest(&s.payload).into();
        let fresh = self.reads_seen.lock().expect("replay cache lock").admit(
            id,
            req.issued_at_ms,
            now - self.read_skew_ms,
            self.limits.read_replay_cache_max,
        )?;
        if !fresh {
            return Err(refused(
                "replayed",
                Status::unauthenticated("this signed read was already answered; sign a fresh one"),
            ));
        }
        Ok((req, reader))
    }
}

fn permission(reader: Reader, allowed_entity: Option<&Uscc>) -> Result<(), Status> {
    match reader {
        Reader::Admin | Reader::Finance => Ok(()),
        Reader::Entity(e) if Some(&e) == allowed_entity => Ok(()),
        Reader::Entity(e) => Err(refused("permission", Status::permission_denied(format!("{e} may not read this")))),
    }
}

/// The entity a query names: the given USCC, or with an empty id the entity whose key
/// signed the read (the admin and finance keys belong to no entity, so they must name one).
fn subject(reader: Reader, id: &str) -> Result<Uscc, Status> {
    if !id.is_empty() {
        return parse_uscc(id);
    }
    match reader {
        Reader::Entity(e) => Ok(e),
        Reader::Admin | Reader::Finance => Err(refused(
            "role",
            Status::invalid_argument("the admin and finance keys belong to no entity: name the entity to read"),
        )),
    }
}

impl Shared {
    /// Checks a signed read of one entity's statement (`EntityStatement`, and the web
    /// console's statement views): a `StatementQuery` signed by the entity itself (an empty
    /// id), finance or the admin, about a registered entity. Returns the query and the entity.
    pub(crate) fn authorize_statement(&self, env: Envelope) -> Result<(v1::StatementQuery, Uscc), Status> {
        let (read, reader) = self.authorize_read(env)?;
        let Some(v1::read_request::Query::Statement(q)) = read.query else {
            return Err(Status::invalid_argument("EntityStatement takes a StatementQuery"));
        };
        let id = subject(reader, &q.id)?;
        permission(reader, Some(&id))?;
        if self.ledger.read().expect("ledger lock").entity(&id).is_none() {
            return Err(Status::not_found(format!("{id} is not registered")));
        }
        Ok((q, id))
    }
}

fn parse_uscc(s: &str) -> Result<Uscc, Status> {
    Uscc::parse(s).map_err(|e| Status::invalid_argument(format!("{s:?}: {e}")))
}

#[tonic::async_trait]
impl v1::registry_server::Registry for Services {
    async fn apply(&self, req: Request<Envelope>) -> Result<Response<v1::Ack>, Status> {
        one(&self.0, InputKind::Admin, req.into_inner()).await
    }

    async fn get_entity(&self, req: Request<Envelope>) -> Result<Response<v1::EntityInfo>, Status> {
        let (read, reader) = self.0.authorize_read(req.into_inner())?;
        let Some(v1::read_request::Query::Entity(q)) = read.query else {
            return Err(Status::invalid_argument("GetEntity takes an EntityQuery"));
        };
        let id = subject(reader, &q.id)?;
        permission(reader, Some(&id))?;
        let ledger = self.0.ledger.read().expect("ledger lock");
        entity_info(&ledger, &id).map(Response::new)
    }

    async fn list_entities(&self, req: Request<Envelope>) -> Result<Response<v1::EntityList>, Status> {
        let (read, reader) = self.0.authorize_read(req.into_inner())?;
        if !matches!(read.query, Some(v1::read_request::Query::Entities(_))) {
            return Err(Status::invalid_argument("ListEntities takes an EntitiesQuery"));
        }
        permission(reader, None)?;
        let ledger = self.0.ledger.read().expect("ledger lock");
        let mut entities = ledger.entities().map(|e| entity_info(&ledger, &e.id)).collect::<Result<Vec<_>, _>>()?;
        entities.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(Response::new(v1::EntityList { entities }))
    }
}

/// One entity as `GetEntity` answers it: flags, keys, cap use, and its settlement lines.
pub(crate) fn entity_info(ledger: &Ledger, id: &Uscc) -> Result<v1::EntityInfo, Status> {
    let e = ledger.entity(id).ok_or_else(|| Status::not_found(format!("{id} is not registered")))?;
    let line = |l: &suanli_core::entry::StatementLine, paid| v1::StatementLineInfo {
        payee_id: l.payee.to_string(),
        kind: payable_kind(l.kind),
        year: l.year,
        amount: fmt_money(l.amount),
        paid: fmt_money(paid),
    };
    Ok(v1::EntityInfo {
        id: id.to_string(),
        name: e.name.clone(),
        flags: Some(v1::Flags {
            provider: e.flags.provider,
            renter_eligible: e.flags.renter_eligible,
            supplier_eligible: e.flags.supplier_eligible,
            opc: e.flags.opc,
            data_supplier: e.flags.data_supplier,
        }),
        related_group: e.related_group.clone().unwrap_or_default(),
        keys: e
            .keys
            .iter()
            .map(|k| v1::KeyInfo { public_key: k.to_vec(), revoked: ledger.key(k).is_some_and(|s| s.revoked) })
            .collect(),
        cap_use: ledger
            .cap_use(id)
            .into_iter()
            .map(|(year, (r, s))| v1::CapUse { year, renter_subsidy: fmt_money(r), supplier_subsidy: fmt_money(s) })
            .collect(),
        settlement: ledger
            .periods()
            .iter()
            .flat_map(|p| {
                p.lines
                    .range((*id, PayableKind::Renter, i32::MIN)..=(*id, PayableKind::Voucher, i32::MAX))
                    .map(|(_, l)| v1::EntityPeriodLine { period: p.name.clone(), line: Some(line(&l.line, l.paid)) })
            })
            .collect(),
        unsettled: ledger
            .unsettled()
            .range((*id, PayableKind::Renter, i32::MIN)..=(*id, PayableKind::Voucher, i32::MAX))
            .map(|((payee, kind, year), amount)| v1::StatementLineInfo {
                payee_id: payee.to_string(),
                kind: payable_kind(*kind),
                year: *year,
                amount: fmt_money(*amount),
                paid: fmt_money(rust_decimal::Decimal::ZERO),
            })
            .collect(),
    })
}

#[tonic::async_trait]
impl v1::vouchers_server::Vouchers for Services {
    async fn apply(&self, req: Request<Envelope>) -> Result<Response<v1::Ack>, Status> {
        one(&self.0, InputKind::Holder, req.into_inner()).await
    }

    async fn get_voucher(&self, req: Request<Envelope>) -> Result<Response<v1::VoucherStatement>, Status> {
        let (read, reader) = self.0.authorize_read(req.into_inner())?;
        let Some(v1::read_request::Query::Voucher(q)) = read.query else {
            return Err(Status::invalid_argument("GetVoucher takes a VoucherQuery"));
        };
        let ledger = self.0.ledger.read().expect("ledger lock");
        let v =
            ledger.voucher(&q.voucher_id).ok_or_else(|| Status::not_found(format!("no voucher {}", q.voucher_id)))?;
        permission(reader, Some(&v.holder))?;
        // Lapse is judged at the ledger's clock now: what is left at valid_until lapses.
        let now = (self.0.clock)().div_euclid(1000);
        Ok(Response::new(voucher_statement(v, now)))
    }

    async fn list_vouchers(&self, req: Request<Envelope>) -> Result<Response<v1::VoucherList>, Status> {
        let (read, reader) = self.0.authorize_read(req.into_inner())?;
        let Some(v1::read_request::Query::Holder(q)) = read.query else {
            return Err(Status::invalid_argument("ListVouchers takes a HolderQuery"));
        };
        let holder = subject(reader, &q.holder_id)?;
        permission(reader, Some(&holder))?;
        let ledger = self.0.ledger.read().expect("ledger lock");
        let e = ledger.entity(&holder).ok_or_else(|| Status::not_found(format!("{holder} is not registered")))?;
        let now = (self.0.clock)().div_euclid(1000);
        Ok(Response::new(v1::VoucherList {
            holder_id: holder.to_string(),
            holder_name: e.name.clone(),
            vouchers: ledger.vouchers().filter(|v| v.holder == holder).map(|v| voucher_statement(v, now)).collect(),
        }))
    }
    async fn list_all_vouchers(&self, req: Request<Envelope>) -> Result<Response<v1::VoucherPage>, Status> {
        let (read, reader) = self.0.authorize_read(req.into_inner())?;
        let Some(v1::read_request::Query::Vouchers(q)) = read.query else {
            return Err(Status::invalid_argument("ListAllVouchers takes a VouchersQuery"));
        };
        if let Reader::Entity(e) = reader {
            return Err(refused(
                "permission",
                Status::permission_denied(format!(
                    "the list of every voucher is for the registry operator (admin key) and the finance \
                     bureau (finance key); the read is signed by a key of {e}, which may list only its own \
                     vouchers (Vouchers.ListVouchers)"
                )),
            ));
        }
        let holder = if q.holder_id.is_empty() { None } else { Some(parse_uscc(&q.holder_id)?) };
        let kind = match q.kind() {
            v1::VoucherKind::Unspecified => None,
            v1::VoucherKind::Compute => Some(VoucherKind::Compute),
            v1::VoucherKind::Corpus => Some(VoucherKind::Corpus),
        };
        let state = q.state();
        let limit = match q.limit as usize {
            0 => VOUCHER_PAGE_MAX,
            n => n.min(VOUCHER_PAGE_MAX),
        };
        let now = (self.0.clock)().div_euclid(1000);
        let ledger = self.0.ledger.read().expect("ledger lock");
        if let Some(h) = &holder
            && ledger.entity(h).is_none()
        {
            return Err(Status::not_found(format!("{h} is not registered")));
        }
        // Keyset paging over the ledger's vouchers in id order (its in-memory state, never
        // the log): each call looks at a bounded number of vouchers, so a filter that
        // matches few of them gives short pages rather than long calls under the lock.
        let after = (!q.after.is_empty()).then_some(q.after.as_str());
        let mut page = v1::VoucherPage { vouchers: Vec::new(), next_after: String::new(), as_of: now };
        let mut last_looked: Option<&str> = None;
        for (looked, v) in ledger.vouchers_after(after).enumerate() {
            if page.vouchers.len() == limit || looked == VOUCHER_SCAN_MAX {
                page.next_after = last_looked.unwrap_or_default().to_string();
                break;
            }
            last_looked = Some(&v.id);
            let v_state = convert::voucher_state(v.revoked, v.valid_from, v.valid_until, now);
            if holder.is_some_and(|h| h != v.holder)
                || kind.is_some_and(|k| k != v.kind)
                || (state != v1::VoucherState::Unspecified && state != v_state)
            {
                continue;
            }
            page.vouchers.push(v1::VoucherListing {
                voucher: Some(voucher_statement(v, now)),
                holder_name: ledger.entity(&v.holder).map(|e| e.name.clone()).unwrap_or_default(),
                state: v_state as i32,
            });
        }
        Ok(Response::new(page))
    }
}

/// Most vouchers in one page of `ListAllVouchers`.
pub const VOUCHER_PAGE_MAX: usize = 1000;
/// Most vouchers `ListAllVouchers` looks at in one call (matching the filters or not).
pub const VOUCHER_SCAN_MAX: usize = 20_000;

/// A voucher as the holder sees it at `now` (Unix seconds): lapse is judged then.
fn voucher_statement(v: &suanli_core::model::Voucher, now: i64) -> v1::VoucherStatement {
    v1::VoucherStatement {
        voucher_id: v.id.clone(),
        holder_id: v.holder.to_string(),
        kind: match v.kind {
            VoucherKind::Compute => v1::VoucherKind::Compute as i32,
            VoucherKind::Corpus => v1::VoucherKind::Corpus as i32,
        },
        face_value: fmt_money(v.face_value),
        drawn: fmt_money(v.drawn),
        lapsed: fmt_money(v.lapsed_at(now)),
        balance: fmt_money(v.balance_at(now)),
        valid_from: v.valid_from,
        valid_until: v.valid_until,
        revoked: v.revoked,
        authorizations: v
            .authorizations
            .iter()
            .map(|(p, a)| v1::Authorization {
                provider_id: p.to_string(),
                limit: a.limit.map(fmt_money).unwrap_or_default(),
                drawn: fmt_money(a.drawn),
                withdrawn: a.withdrawn,
            })
            .collect(),
    }
}

pub fn payable_kind(k: PayableKind) -> i32 {
    match k {
        PayableKind::Renter => v1::PayableKind::Renter as i32,
        PayableKind::Supplier => v1::PayableKind::Supplier as i32,
        PayableKind::Voucher => v1::PayableKind::Voucher as i32,
    }
}

#[tonic::async_trait]
impl v1::settlement_server::Settlement for Services {
    async fn apply(&self, req: Request<Envelope>) -> Result<Response<v1::Ack>, Status> {
        one(&self.0, InputKind::Finance, req.into_inner()).await
    }

    async fn list_periods(&self, req: Request<Envelope>) -> Result<Response<v1::PeriodList>, Status> {
        let (read, reader) = self.0.authorize_read(req.into_inner())?;
        if !matches!(read.query, Some(v1::read_request::Query::Periods(_))) {
            return Err(Status::invalid_argument("ListPeriods takes a PeriodsQuery"));
        }
        permission(reader, None)?;
        let ledger = self.0.ledger.read().expect("ledger lock");
        let line = |payee: &Uscc, kind: PayableKind, year: i32, amount, paid| v1::StatementLineInfo {
            payee_id: payee.to_string(),
            kind: payable_kind(kind),
            year,
            amount: fmt_money(amount),
            paid: fmt_money(paid),
        };
        Ok(Response::new(v1::PeriodList {
            periods: ledger
                .periods()
                .iter()
                .map(|p| v1::PeriodInfo {
                    name: p.name.clone(),
                    closed_at_seq: p.closed_at,
                    lines: p
                        .lines
                        .values()
                        .map(|l| line(&l.line.payee, l.line.kind, l.line.year, l.line.amount, l.paid))
                        .collect(),
                })
                .collect(),
            unsettled: ledger
                .unsettled()
                .iter()
                .map(|((payee, kind, year), amount)| line(payee, *kind, *year, *amount, rust_decimal::Decimal::ZERO))
                .collect(),
            closed_years: ledger.closed_years().iter().copied().collect(),
        }))
    }
}

#[tonic::async_trait]
impl v1::ledger_server::Ledger for Services {
    async fn get_info(&self, _req: Request<v1::InfoRequest>) -> Result<Response<v1::LedgerInfo>, Status> {
        let ledger = self.0.ledger.read().expect("ledger lock");
        let g = ledger.genesis();
        Ok(Response::new(v1::LedgerInfo {
            program_id: ledger.program().id.clone(),
            program_toml: g.program_toml.clone(),
            admin_public_key: g.admin_key.to_vec(),
            finance_public_key: g.finance_key.to_vec(),
            ledger_public_key: g.ledger_key.to_vec(),
            origin: g.origin.clone(),
            entry_count: ledger.next_seq(),
            server_time_ms: (self.0.clock)(),
        }))
    }

    async fn get_checkpoint(
        &self,
        req: Request<v1::CheckpointRequest>,
    ) -> Result<Response<v1::SignedCheckpoint>, Status> {
        let latest = if req.into_inner().fresh {
            let (tx, rx) = oneshot::channel();
            self.0.sequencer.send(Command::Checkpoint { reply: tx }).await.map_err(|_| unavailable())?;
            rx.await.map_err(|_| unavailable())?
        } else {
            self.0.store.latest_checkpoint().map_err(|e| Status::internal(e.to_string()))?
        };
        let (size, note) = latest.ok_or_else(|| Status::not_found("no checkpoint has been signed yet"))?;
        let note = self.0.cosignatures.attach(size, note);
        Ok(Response::new(v1::SignedCheckpoint { size, note }))
    }
}

type FileStream = Pin<Box<dyn Stream<Item = Result<v1::FileChunk, Status>> + Send>>;

/// Bytes of a file sent per message.
const FILE_CHUNK_BYTES: usize = 1 << 20;

fn file_stream(bytes: Vec<u8>, signature: String) -> FileStream {
    let mut chunks: Vec<v1::FileChunk> =
        bytes.chunks(FILE_CHUNK_BYTES).map(|c| v1::FileChunk { data: c.to_vec(), signature: String::new() }).collect();
    if chunks.is_empty() {
        chunks.push(v1::FileChunk::default());
    }
    chunks.last_mut().expect("at least one").signature = signature;
    Box::pin(tokio_stream::iter(chunks.into_iter().map(Ok)))
}

fn report_status(e: crate::reports::ReportError) -> Status {
    match e {
        crate::reports::ReportError::Beyond { .. } => Status::out_of_range(e.to_string()),
        other => Status::internal(other.to_string()),
    }
}

#[tonic::async_trait]
impl v1::reports_server::Reports for Services {
    type AnnualReportStream = FileStream;
    type EntityStatementStream = FileStream;

    async fn annual_report(&self, req: Request<Envelope>) -> Result<Response<FileStream>, Status> {
        let (read, reader) = self.0.authorize_read(req.into_inner())?;
        let Some(v1::read_request::Query::Report(q)) = read.query else {
            return Err(Status::invalid_argument("AnnualReport takes a ReportQuery"));
        };
        permission(reader, None)?;
        if !(2000..2200).contains(&q.year) {
            return Err(Status::invalid_argument(format!("{} is not a year between 2000 and 2199", q.year)));
        }
        let format = match v1::ReportFormat::try_from(q.format) {
            Ok(v1::ReportFormat::Csv) => crate::reports::Format::Csv,
            Ok(v1::ReportFormat::Json) => crate::reports::Format::Json,
            Ok(v1::ReportFormat::Xlsx) => crate::reports::Format::Xlsx,
            Ok(v1::ReportFormat::CsvExcel) => crate::reports::Format::CsvExcel,
            Err(_) => return Err(Status::invalid_argument("format must be csv, json, xlsx or csv-excel")),
        };
        let Some(signer) = self.0.signer.clone() else {
            return Err(Status::failed_precondition(format!(
                "this is a read-only mirror of {}: it holds no ledger key to sign reports; ask the primary",
                self.0.read_only.as_deref().unwrap_or("another ledger")
            )));
        };
        let shared = self.0.clone();
        let report = tokio::task::spawn_blocking(move || {
            crate::reports::annual(&*shared.store, &signer, q.year, q.as_of_seq, format)
        })
        .await
        .map_err(|e| Status::internal(e.to_string()))?
        .map_err(report_status)?;
        Ok(Response::new(file_stream(report.bytes, report.signature)))
    }

    async fn entity_statement(&self, req: Request<Envelope>) -> Result<Response<FileStream>, Status> {
        let (q, id) = self.0.authorize_statement(req.into_inner())?;
        let year = (q.year != 0).then_some(q.year);
        let format = match v1::ReportFormat::try_from(q.format) {
            Ok(v1::ReportFormat::Csv) => crate::reports::StatementFormat::Csv,
            Ok(v1::ReportFormat::CsvExcel) => crate::reports::StatementFormat::CsvExcel,
            Ok(v1::ReportFormat::Xlsx) => crate::reports::StatementFormat::Xlsx,
            _ => return Err(Status::invalid_argument("a statement's format must be csv, xlsx or csv-excel")),
        };
        let shared = self.0.clone();
        let bytes = tokio::task::spawn_blocking(move || {
            // The entity's own entries from the company index when it has counted the
            // whole log (it may be ahead of the store: entries are counted when decided),
            // otherwise a pass over the whole log; the bytes are the same.
            let count = shared.store.entry_count().map_err(crate::reports::ReportError::from)?;
            // The index's scratch file unreadable: the pass over the whole log instead.
            let seqs = shared.dashboard.entities(|ix, p| {
                (!p.failed && p.counted >= count).then(|| ix.seqs(&id, year, count)).and_then(|r| {
                    r.inspect_err(|e| tracing::warn!(error = %e, "statement index unreadable; reading the whole log"))
                        .ok()
                })
            });
            crate::reports::statement_file(&*shared.store, &id, year, seqs.as_deref(), format)
        })
        .await
        .map_err(|e| Status::internal(e.to_string()))?
        .map_err(report_status)?;
        Ok(Response::new(file_stream(bytes, String::new())))
    }
}
