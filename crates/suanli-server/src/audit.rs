//! The verifiable log, served (SPEC §9): checkpoints, inclusion and consistency proofs,
//! entries, records found by their id, and the streamed export — `service Audit` of
//! `proto/suanli/v1/audit.proto`.
//!
//! All of it is public and unsigned. The log is a transparency log: an auditor holds
//! nothing but the ledger's public key and a checkpoint, and must be able to fetch what
//! it takes to check both the Merkle tree and the money (the offline verifier replays
//! the whole export). Keeping entries secret would also defeat the point; the proto
//! comments say what a deployment exposes by running this service.
//!
//! Why it is shaped this way:
//!
//! - **Never rehash the past.** Perfect subtrees of at least 2^[`NODE_LEVEL_MIN`] leaves
//!   are stored by the sequencer in the commit that completes them; smaller ones are
//!   recomputed from at most 2^NODE_LEVEL_MIN entries ([`StoreNodes`]). A proof costs
//!   O(log n) node reads and hashing at most a few blocks of 256 entries.
//! - **Only durable trees.** Every size is bounded by the store's entry count, which
//!   counts only what is on disk, so no proof or export shows what a crash could erase.
//!   "Latest" means the latest *stored* checkpoint; when a record is newer than it, the
//!   sequencer is asked for a fresh one, answered only once it is durable.
//! - **Store reads run off the async runtime** (`spawn_blocking`), and the two scans —
//!   exports and lookups by leaf hash — are limited to a few at a time
//!   ([`crate::config::Limits`]): anyone may call them, so nobody may call them without bound.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use futures::StreamExt;
use suanli_core::ids::Uscc;
use suanli_core::index::RecordKey;
use suanli_core::merkle::{self, Frontier, Hash, NodeId, NodeReader, ProofError};
use suanli_core::model::RecordKind;
use suanli_core::tiles::{self, BundleError, TILE_WIDTH, Tile, TileKind};
use suanli_proto::v1;
use suanli_store::{Store, StoreError};
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::sequencer::{Command, NODE_LEVEL_MIN};
use crate::service::Shared;

/// Most entries in one `EntryChunk` of an export.
pub const EXPORT_CHUNK_ENTRIES_MAX: usize = 4096;
/// Entry bytes after which a chunk is closed (a chunk always holds at least one entry),
/// well below the 4 MiB a gRPC client accepts by default.
pub const EXPORT_CHUNK_BYTES_MAX: usize = 1 << 20;
/// Chunks of one export buffered ahead of a slow reader.
const EXPORT_CHUNKS_BUFFERED: usize = 2;

/// Why a node, proof or entry cannot be produced.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("tree size {size} is beyond the {count} durable entries of the log")]
    BeyondLog { size: u64, count: u64 },
    #[error("the store has no Merkle node at level {} index {} although its leaves are durable", .0.level, .0.index)]
    MissingNode(NodeId),
    #[error("entry {0} is missing below the entry count")]
    MissingEntry(u64),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<AuditError> for Status {
    fn from(e: AuditError) -> Status {
        match e {
            AuditError::BeyondLog { .. } => Status::out_of_range(e.to_string()),
            AuditError::Store(StoreError::Io(_)) => Status::internal(e.to_string()),
            _ => Status::data_loss(e.to_string()),
        }
    }
}

fn proof_status(e: ProofError<AuditError>) -> Status {
    match e {
        ProofError::Reader(e) => e.into(),
        other => Status::invalid_argument(other.to_string()),
    }
}

/// Perfect-subtree hashes of the log as it is in the store, for trees of at most `count`
/// leaves: stored nodes from level [`NODE_LEVEL_MIN`] up, lower ones from the entries of
/// their block of 2^NODE_LEVEL_MIN leaves (each block read and hashed at most once).
pub struct StoreNodes<'a> {
    store: &'a dyn Store,
    count: u64,
    blocks: RefCell<HashMap<u64, Vec<Hash>>>,
}

impl<'a> StoreNodes<'a> {
    /// Reads nodes of the first `count` entries; `count` must not exceed the durable
    /// entry count (nodes beyond it are refused as [`AuditError::BeyondLog`]).
    pub fn new(store: &'a dyn Store, count: u64) -> StoreNodes<'a> {
        StoreNodes { store, count, blocks: RefCell::new(HashMap::new()) }
    }

    /// The leaf hashes of block `block` (leaves `block·256 ..`, up to the count).
    fn block_leaves(&self, block: u64) -> Result<Vec<Hash>, AuditError> {
        if let Some(leaves) = self.blocks.borrow().get(&block) {
            return Ok(leaves.clone());
        }
        let start = block << NODE_LEVEL_MIN;
        let end = (start + (1 << NODE_LEVEL_MIN)).min(self.count);
        let mut leaves = Vec::with_capacity((end - start) as usize);
        for item in self.store.entries(start, end) {
            let (seq, bytes) = item?;
            if seq != start + leaves.len() as u64 {
                return Err(AuditError::MissingEntry(start + leaves.len() as u64));
            }
            leaves.push(merkle::leaf_hash(&bytes));
        }
        if (leaves.len() as u64) < end - start {
            return Err(AuditError::MissingEntry(start + leaves.len() as u64));
        }
        self.blocks.borrow_mut().insert(block, leaves.clone());
        Ok(leaves)
    }
}

impl NodeReader for StoreNodes<'_> {
    type Error = AuditError;

    fn node(&self, id: NodeId) -> Result<Hash, AuditError> {
        let end = (id.level < 64).then(|| (u128::from(id.index) + 1) << id.level);
        if end.is_none_or(|end| end > u128::from(self.count)) {
            let size = end.and_then(|e| u64::try_from(e).ok()).unwrap_or(u64::MAX);
            return Err(AuditError::BeyondLog { size, count: self.count });
        }
        if id.level >= NODE_LEVEL_MIN {
            return self.store.node((id.level, id.index))?.ok_or(AuditError::MissingNode(id));
        }
        let first_leaf = id.index << id.level;
        let block = first_leaf >> NODE_LEVEL_MIN;
        let leaves = self.block_leaves(block)?;
        let offset = (first_leaf - (block << NODE_LEVEL_MIN)) as usize;
        // A perfect subtree's hash is the root of a tree of exactly its leaves.
        let mut f = Frontier::new();
        for leaf in &leaves[offset..offset + (1usize << id.level)] {
            f.append(*leaf, |_, _| {});
        }
        Ok(f.root())
    }
}

/// The audit path of `index` in the tree of `size` (≤ the durable count), with the leaf hash.
pub fn inclusion(store: &dyn Store, index: u64, size: u64) -> Result<(Hash, Vec<Hash>), Status> {
    let nodes = durable_nodes(store, size)?;
    if index >= size {
        return Err(Status::out_of_range(format!("entry {index} is not in the tree of size {size}")));
    }
    let path = merkle::inclusion_proof(&nodes, index, size).map_err(proof_status)?;
    let leaf = nodes.node(NodeId::leaf(index))?;
    Ok((leaf, path))
}

/// The consistency proof from `old` to `new` (≤ the durable count).
pub fn consistency(store: &dyn Store, old: u64, new: u64) -> Result<Vec<Hash>, Status> {
    let nodes = durable_nodes(store, new)?;
    merkle::consistency_proof(&nodes, old, new).map_err(proof_status)
}

fn durable_nodes(store: &dyn Store, size: u64) -> Result<StoreNodes<'_>, Status> {
    let count = store.entry_count().map_err(AuditError::from)?;
    if size > count {
        return Err(AuditError::BeyondLog { size, count }.into());
    }
    Ok(StoreNodes::new(store, size))
}

/// Why a tile of the log (C2SP tlog-tiles, served by `web/tiles.rs`) cannot be given.
#[derive(Debug, thiserror::Error)]
pub enum TileError {
    /// The log does not (yet) hold every entry the tile covers: 404, nothing is made up.
    #[error("{tile} is not in the log: it needs {needed} entries, the log holds {count}")]
    NotInLog { tile: Tile, needed: String, count: u64 },
    /// An entry too long for a bundle's u16 length prefix.
    #[error(transparent)]
    Bundle(#[from] BundleError),
    #[error(transparent)]
    Audit(#[from] AuditError),
}

/// The bytes of a tile of the durable log: `32 × width` node hashes for a hash tile, the
/// u16-length-prefixed entries for an entry bundle. A tile is given only once every entry
/// it covers is durable, so its bytes never change afterwards (partial tiles included).
pub fn tile_bytes(store: &dyn Store, tile: &Tile) -> Result<Vec<u8>, TileError> {
    let count = store.entry_count().map_err(AuditError::from)?;
    let needed = match tile.kind {
        TileKind::Entries => {
            tile.index.checked_mul(u64::from(TILE_WIDTH)).and_then(|f| f.checked_add(u64::from(tile.width)))
        }
        TileKind::Hashes { .. } => tile.leaves_needed(),
    };
    match needed {
        Some(n) if n <= count => {}
        _ => {
            let needed = needed.map_or_else(|| "more than 2^64".to_string(), |n| n.to_string());
            return Err(TileError::NotInLog { tile: *tile, needed, count });
        }
    }
    match tile.kind {
        TileKind::Hashes { .. } => {
            let nodes = StoreNodes::new(store, count);
            let hashes = tiles::tile_hashes(&nodes, tile).expect("a hash tile within the log has nodes")?;
            Ok(hashes.concat())
        }
        TileKind::Entries => {
            let first = tile.index * u64::from(TILE_WIDTH);
            let end = first + u64::from(tile.width);
            let mut entries = Vec::with_capacity(usize::from(tile.width));
            for item in store.entries(first, end) {
                let (seq, bytes) = item.map_err(AuditError::from)?;
                if seq != first + entries.len() as u64 {
                    return Err(AuditError::MissingEntry(first + entries.len() as u64).into());
                }
                entries.push(bytes);
            }
            if entries.len() != usize::from(tile.width) {
                return Err(AuditError::MissingEntry(first + entries.len() as u64).into());
            }
            Ok(tiles::encode_bundle(first, &entries)?)
        }
    }
}

fn signed(cp: Option<(u64, String)>) -> Option<v1::SignedCheckpoint> {
    cp.map(|(size, note)| v1::SignedCheckpoint { size, note })
}

/// The gRPC `Audit` service.
#[derive(Clone)]
pub struct AuditService {
    shared: Arc<Shared>,
    exports: Arc<Semaphore>,
    leaf_lookups: Arc<Semaphore>,
}

impl AuditService {
    pub fn new(shared: Arc<Shared>) -> AuditService {
        let exports = Arc::new(Semaphore::new(shared.limits.exports_concurrent_max));
        let leaf_lookups = Arc::new(Semaphore::new(shared.limits.leaf_lookups_concurrent_max));
        AuditService { shared, exports, leaf_lookups }
    }

    fn store(&self) -> Arc<dyn Store> {
        self.shared.store.clone()
    }

    /// Runs a store-reading closure on the blocking pool.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn Store) -> Result<T, Status> + Send + 'static,
    ) -> Result<T, Status> {
        let store = self.store();
        tokio::task::spawn_blocking(move || f(&*store))
            .await
            .map_err(|e| Status::internal(format!("audit task failed: {e}")))?
    }

    /// The latest durable checkpoint.
    async fn latest(&self) -> Result<(u64, String), Status> {
        self.blocking(|s| s.latest_checkpoint().map_err(|e| AuditError::from(e).into()))
            .await?
            .ok_or_else(|| Status::not_found("no checkpoint has been signed yet"))
    }

    /// The latest durable checkpoint if it covers `min_size` entries, else a fresh one
    /// from the sequencer (sent only after it is on disk).
    async fn covering(&self, min_size: u64) -> Result<(u64, String), Status> {
        let latest = self.latest().await?;
        if latest.0 >= min_size {
            return Ok(latest);
        }
        let unavailable = || Status::unavailable("the ledger is shutting down; ask again later");
        let (tx, rx) = oneshot::channel();
        self.shared.sequencer.send(Command::Checkpoint { reply: tx }).await.map_err(|_| unavailable())?;
        let fresh = rx.await.map_err(|_| unavailable())?.ok_or_else(|| Status::not_found("no checkpoint yet"))?;
        if fresh.0 < min_size {
            return Err(Status::out_of_range(format!(
                "entry {} is not in the log yet: it holds {} entries",
                min_size - 1,
                fresh.0
            )));
        }
        Ok(fresh)
    }

    /// A requested tree size: 0 means the latest checkpoint's (returned with it);
    /// otherwise the size as given, with the stored checkpoint of exactly that size if any.
    async fn tree_size(&self, requested: u64) -> Result<(u64, Option<(u64, String)>), Status> {
        if requested == 0 {
            let cp = self.latest().await?;
            return Ok((cp.0, Some(cp)));
        }
        let cp = self
            .blocking(move |s| {
                let count = s.entry_count().map_err(AuditError::from)?;
                if requested > count {
                    return Err(AuditError::BeyondLog { size: requested, count }.into());
                }
                s.checkpoint_at_or_before(requested).map_err(|e| AuditError::from(e).into())
            })
            .await?;
        Ok((requested, cp.filter(|(size, _)| *size == requested)))
    }

    async fn proof(&self, index: u64, size: u64, cp: Option<(u64, String)>) -> Result<v1::InclusionProof, Status> {
        let (leaf, path) = self.blocking(move |s| inclusion(s, index, size)).await?;
        Ok(v1::InclusionProof {
            index,
            tree_size: size,
            leaf_hash: leaf.to_vec(),
            hashes: path.iter().map(|h| h.to_vec()).collect(),
            checkpoint: signed(cp),
        })
    }
}

fn record_kind(kind: i32) -> Result<RecordKind, Status> {
    match v1::RecordKind::try_from(kind) {
        Ok(v1::RecordKind::Usage) => Ok(RecordKind::Usage),
        Ok(v1::RecordKind::Corpus) => Ok(RecordKind::Corpus),
        Err(_) => Err(Status::invalid_argument(format!("unknown record kind {kind}"))),
    }
}

type ChunkStream = std::pin::Pin<Box<dyn futures::Stream<Item = Result<v1::EntryChunk, Status>> + Send>>;

/// Reads the next export chunk, from `next` up to `to`.
fn read_chunk(store: &dyn Store, next: u64, to: u64) -> Result<Vec<Vec<u8>>, Status> {
    let mut entries = Vec::new();
    let mut bytes = 0usize;
    for item in store.entries(next, to) {
        let (seq, entry) = item.map_err(AuditError::from)?;
        if seq != next + entries.len() as u64 {
            return Err(AuditError::MissingEntry(next + entries.len() as u64).into());
        }
        bytes += entry.len();
        entries.push(entry);
        if entries.len() >= EXPORT_CHUNK_ENTRIES_MAX || bytes >= EXPORT_CHUNK_BYTES_MAX {
            break;
        }
    }
    if entries.is_empty() {
        return Err(AuditError::MissingEntry(next).into());
    }
    Ok(entries)
}

#[tonic::async_trait]
impl v1::audit_server::Audit for AuditService {
    async fn get_checkpoint(
        &self,
        req: Request<v1::AuditCheckpointRequest>,
    ) -> Result<Response<v1::SignedCheckpoint>, Status> {
        let cp = match req.into_inner().at_or_before {
            None => self.latest().await?,
            Some(size) => self
                .blocking(move |s| s.checkpoint_at_or_before(size).map_err(|e| AuditError::from(e).into()))
                .await?
                .ok_or_else(|| Status::not_found(format!("no checkpoint of tree size {size} or less")))?,
        };
        let note = self.shared.cosignatures.attach(cp.0, cp.1);
        Ok(Response::new(v1::SignedCheckpoint { size: cp.0, note }))
    }

    async fn get_inclusion_proof(
        &self,
        req: Request<v1::InclusionProofRequest>,
    ) -> Result<Response<v1::InclusionProof>, Status> {
        use v1::inclusion_proof_request::Leaf;
        let req = req.into_inner();
        // An explicit size is checked first (and bounds a lookup by hash); the default
        // size is chosen once the entry is known, so that it covers the entry.
        let explicit = match req.tree_size {
            0 => None,
            size => Some(self.tree_size(size).await?),
        };
        let index = match req.leaf {
            None => return Err(Status::invalid_argument("give the entry's index or its leaf hash")),
            Some(Leaf::Index(index)) => index,
            Some(Leaf::LeafHash(h)) => {
                let leaf: Hash = h.as_slice().try_into().map_err(|_| {
                    Status::invalid_argument(format!("a leaf hash is 32 bytes, this one is {}", h.len()))
                })?;
                let bound = explicit.as_ref().map_or(u64::MAX, |(size, _)| *size);
                let _permit = self.leaf_lookups.acquire().await.map_err(|_| Status::unavailable("shutting down"))?;
                let found = self.blocking(move |s| s.find_leaf(&leaf, bound).map_err(|e| AuditError::from(e).into()));
                found.await?.ok_or_else(|| {
                    Status::not_found("no durable entry has this leaf hash (SHA-256 of 0x00 and the entry bytes)")
                })?
            }
        };
        let (size, cp) = match explicit {
            Some(explicit) => explicit,
            None => {
                let after = index.checked_add(1).ok_or_else(|| {
                    Status::out_of_range(format!("entry {index} is beyond any log this ledger can hold"))
                })?;
                let cp = self.covering(after).await?;
                (cp.0, Some(cp))
            }
        };
        Ok(Response::new(self.proof(index, size, cp).await?))
    }

    async fn get_consistency_proof(
        &self,
        req: Request<v1::ConsistencyProofRequest>,
    ) -> Result<Response<v1::ConsistencyProof>, Status> {
        let req = req.into_inner();
        let (new, cp) = self.tree_size(req.new_size).await?;
        let old = req.old_size;
        let hashes = self.blocking(move |s| consistency(s, old, new)).await?;
        Ok(Response::new(v1::ConsistencyProof {
            old_size: old,
            new_size: new,
            hashes: hashes.iter().map(|h| h.to_vec()).collect(),
            checkpoint: signed(cp),
        }))
    }

    async fn get_entry(&self, req: Request<v1::EntryRequest>) -> Result<Response<v1::LogEntry>, Status> {
        let index = req.into_inner().index;
        let entry = self.blocking(move |s| s.entry(index).map_err(|e| AuditError::from(e).into())).await?;
        let entry = entry.ok_or_else(|| Status::not_found(format!("entry {index} is not in the log (yet)")))?;
        Ok(Response::new(v1::LogEntry { index, entry }))
    }

    async fn find_record(&self, req: Request<v1::FindRecordRequest>) -> Result<Response<v1::RecordProof>, Status> {
        let req = req.into_inner();
        let provider =
            Uscc::parse(&req.provider_id).map_err(|e| Status::invalid_argument(format!("provider_id: {e}")))?;
        let key = RecordKey { kind: record_kind(req.kind)?, provider, record_id: req.record_id.clone() };
        let summary = self.blocking(move |s| s.record(&key).map_err(|e| AuditError::from(e).into())).await?;
        let summary = summary.ok_or_else(|| {
            Status::not_found(format!(
                "no accepted {} record {:?} of {}",
                record_kind(req.kind).map_or("?", |k| k.as_str()),
                req.record_id,
                req.provider_id
            ))
        })?;
        let seq = summary.facts.seq;
        let (size, cp) = if req.tree_size == 0 {
            let cp = self.covering(seq + 1).await?;
            (cp.0, Some(cp))
        } else {
            self.tree_size(req.tree_size).await?
        };
        if seq >= size {
            return Err(Status::out_of_range(format!("the record is entry {seq}, not in the tree of size {size}")));
        }
        let entry = self.blocking(move |s| s.entry(seq).map_err(|e| AuditError::from(e).into())).await?;
        let entry = entry.ok_or_else(|| Status::from(AuditError::MissingEntry(seq)))?;
        let proof = self.proof(seq, size, cp).await?;
        Ok(Response::new(v1::RecordProof { seq, entry, proof: Some(proof), reversed_by: summary.reversed_by }))
    }

    type ExportEntriesStream = ChunkStream;

    async fn export_entries(&self, req: Request<v1::ExportRequest>) -> Result<Response<ChunkStream>, Status> {
        let req = req.into_inner();
        let permit = self.exports.clone().try_acquire_owned().map_err(|_| {
            Status::resource_exhausted(format!(
                "{} exports are running, the most this ledger serves at once; retry later",
                self.shared.limits.exports_concurrent_max
            ))
        })?;
        let to = if req.to == 0 {
            self.latest().await?.0
        } else {
            let count = self.blocking(|s| s.entry_count().map_err(|e| AuditError::from(e).into())).await?;
            req.to.min(count)
        };
        if req.from > to {
            return Err(Status::out_of_range(format!("the export would start at entry {} but ends at {to}", req.from)));
        }
        let (tx, rx) = mpsc::channel(EXPORT_CHUNKS_BUFFERED);
        let store = self.store();
        let stall = std::time::Duration::from_millis(self.shared.limits.export_stall_timeout_ms);
        let stalled = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stalled_flag = stalled.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let mut next = req.from;
            while next < to {
                let s = store.clone();
                let chunk = tokio::task::spawn_blocking(move || read_chunk(&*s, next, to))
                    .await
                    .unwrap_or_else(|e| Err(Status::internal(format!("export task failed: {e}"))));
                let msg = chunk.map(|entries| {
                    let first = next;
                    next += entries.len() as u64;
                    v1::EntryChunk { first, entries, to }
                });
                let failed = msg.is_err();
                match tokio::time::timeout(stall, tx.send(msg)).await {
                    Ok(Ok(())) if !failed => {}
                    Ok(_) => return, // the client went away, or it has been told what failed
                    Err(_) => {
                        // The client took nothing for the whole stall timeout: give the
                        // slot to another auditor, and end its stream with an error once
                        // it reads what is buffered (never a silently short export).
                        stalled_flag.store(true, std::sync::atomic::Ordering::SeqCst);
                        return;
                    }
                }
            }
        });
        let stall_ms = self.shared.limits.export_stall_timeout_ms;
        let end = futures::stream::once(async move {
            stalled.load(std::sync::atomic::Ordering::SeqCst).then(|| {
                Err(Status::deadline_exceeded(format!(
                    "the export was ended: the client took no data for {stall_ms} ms; resume from the next entry"
                )))
            })
        })
        .filter_map(std::future::ready);
        Ok(Response::new(Box::pin(ReceiverStream::new(rx).chain(end))))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use suanli_core::index::{RecordSummary, RequestKey, RequestSummary};
    use suanli_core::merkle::{MemNodes, root_at, verify_consistency, verify_inclusion};
    use suanli_store::mem::MemStore;
    use suanli_store::{CommitBatch, NodeKey};

    use super::*;

    /// A store that counts the entries read through it, to show what a proof costs.
    #[derive(Default)]
    struct Counting {
        inner: MemStore,
        entries_read: AtomicU64,
    }

    impl Store for Counting {
        fn commit(&self, batch: &CommitBatch) -> suanli_store::Result<()> {
            self.inner.commit(batch)
        }
        fn entry_count(&self) -> suanli_store::Result<u64> {
            self.inner.entry_count()
        }
        fn entry(&self, seq: u64) -> suanli_store::Result<Option<Vec<u8>>> {
            self.entries_read.fetch_add(1, Ordering::Relaxed);
            self.inner.entry(seq)
        }
        fn entries(
            &self,
            from: u64,
            to: u64,
        ) -> Box<dyn Iterator<Item = suanli_store::Result<(u64, Vec<u8>)>> + Send + '_> {
            Box::new(self.inner.entries(from, to).inspect(|_| {
                self.entries_read.fetch_add(1, Ordering::Relaxed);
            }))
        }
        fn record(&self, key: &RecordKey) -> suanli_store::Result<Option<RecordSummary>> {
            self.inner.record(key)
        }
        fn record_keys(&self) -> Box<dyn Iterator<Item = suanli_store::Result<Vec<u8>>> + Send + '_> {
            self.inner.record_keys()
        }
        fn request(&self, key: &RequestKey) -> suanli_store::Result<Option<RequestSummary>> {
            self.inner.request(key)
        }
        fn node(&self, key: NodeKey) -> suanli_store::Result<Option<Hash>> {
            self.inner.node(key)
        }
        fn frontier(&self) -> suanli_store::Result<Option<Vec<u8>>> {
            self.inner.frontier()
        }
        fn snapshot(&self) -> suanli_store::Result<Option<(u64, Vec<u8>)>> {
            self.inner.snapshot()
        }
        fn latest_checkpoint(&self) -> suanli_store::Result<Option<(u64, String)>> {
            self.inner.latest_checkpoint()
        }
        fn checkpoint_at_or_before(&self, size: u64) -> suanli_store::Result<Option<(u64, String)>> {
            self.inner.checkpoint_at_or_before(size)
        }
        fn size_on_disk(&self) -> suanli_store::Result<u64> {
            Ok(0)
        }
        fn close(&self) -> suanli_store::Result<()> {
            Ok(())
        }
    }

    /// A store holding `n` entries committed in rounds of varying size, with the nodes
    /// the sequencer keeps, and the same tree fully in memory for reference.
    fn log(n: u64) -> (Counting, MemNodes, Vec<Vec<u8>>) {
        let store = Counting::default();
        let mut all = MemNodes::new();
        let mut frontier = Frontier::new();
        let entries: Vec<Vec<u8>> = (0..n).map(|i| format!("entry {i}").into_bytes()).collect();
        let mut seq = 0u64;
        let mut round = 1u64;
        while seq < n {
            let end = (seq + round).min(n);
            let mut batch = CommitBatch::default();
            for s in seq..end {
                let bytes = entries[s as usize].clone();
                let leaf = merkle::leaf_hash(&bytes);
                all.append(leaf);
                frontier.append(leaf, |id, h| {
                    if id.level >= NODE_LEVEL_MIN {
                        batch.nodes.push(((id.level, id.index), h));
                    }
                });
                batch.leaf_hashes.push(leaf);
                batch.entries.push((s, bytes));
            }
            store.commit(&batch).unwrap();
            seq = end;
            round = round * 3 % 101 + 1;
        }
        (store, all, entries)
    }

    #[test]
    fn proofs_match_the_in_memory_tree_and_read_few_entries() {
        const N: u64 = 3000;
        let (store, all, entries) = log(N);
        let sizes: Vec<u64> =
            (1..=40).chain([255, 256, 257, 1000, 1023, 1024, 1025, 2047, 2048, 2049, 2999, N]).collect();
        for &n in &sizes {
            let root = root_at(&all, n).unwrap();
            assert_eq!(root_at(&StoreNodes::new(&store, n), n).unwrap(), root, "root at {n}");
            for index in (0..n).step_by(37).chain([0, n / 2, n - 1]) {
                store.entries_read.store(0, Ordering::Relaxed);
                let (leaf, path) = inclusion(&store, index, n).unwrap();
                // Two blocks at most: the leaf's, and the ragged right edge of the tree.
                let read = store.entries_read.load(Ordering::Relaxed);
                assert!(read <= 2 << NODE_LEVEL_MIN, "{read} entries read for entry {index} of {n}");
                assert_eq!(leaf, merkle::leaf_hash(&entries[index as usize]));
                assert_eq!(path, merkle::inclusion_proof(&all, index, n).unwrap());
                verify_inclusion(&leaf, index, n, &path, &root).unwrap();
            }
            for &m in sizes.iter().filter(|&&m| m <= n) {
                store.entries_read.store(0, Ordering::Relaxed);
                let proof = consistency(&store, m, n).unwrap();
                let read = store.entries_read.load(Ordering::Relaxed);
                assert!(read <= 3 << NODE_LEVEL_MIN, "{read} entries read for consistency {m} -> {n}");
                assert_eq!(proof, merkle::consistency_proof(&all, m, n).unwrap());
                verify_consistency(m, n, &root_at(&all, m).unwrap(), &root, &proof).unwrap();
            }
        }
    }

    #[test]
    fn tiles_of_the_store_recombine_into_its_roots() {
        use suanli_core::tiles::{TileNodes, parse_bundle};
        let (store, all, entries) = log(1000);
        let count = 1000u64;
        for size in [1u64, 255, 256, 257, 600, 999, 1000] {
            let tiles = TileNodes::new(size, |t: &Tile| tile_bytes(&store, t).map_err(|e| e.to_string()));
            assert_eq!(root_at(&tiles, size).unwrap(), root_at(&all, size).unwrap(), "root at {size}");
        }
        // Bundles hold the entries, and hash to the level-0 tile.
        let full = Tile::new(TileKind::Entries, 1, 256).unwrap();
        let bundle = tile_bytes(&store, &full).unwrap();
        let got = parse_bundle(&bundle, 256).unwrap();
        assert_eq!(got, entries[256..512].iter().map(Vec::as_slice).collect::<Vec<_>>());
        let level0 = tile_bytes(&store, &Tile::new(TileKind::Hashes { level: 0 }, 1, 256).unwrap()).unwrap();
        let rehashed: Vec<u8> = got.iter().flat_map(|e| merkle::leaf_hash(e)).collect();
        assert_eq!(level0, rehashed);
        // Past the log: refused, for every kind, width and index.
        for t in [
            Tile::new(TileKind::Entries, 3, 256).unwrap(),
            Tile::new(TileKind::Entries, 3, 233).unwrap(),
            Tile::new(TileKind::Hashes { level: 0 }, 3, 233).unwrap(),
            Tile::new(TileKind::Hashes { level: 1 }, 0, 4).unwrap(),
            Tile::new(TileKind::Hashes { level: 7 }, 0, 1).unwrap(),
            Tile::new(TileKind::Hashes { level: 9 }, 0, 1).unwrap(),
            Tile::new(TileKind::Entries, u64::MAX, 256).unwrap(),
        ] {
            assert!(matches!(tile_bytes(&store, &t), Err(TileError::NotInLog { .. })), "{t}");
        }
        assert_eq!(tile_bytes(&store, &Tile::new(TileKind::Entries, 3, 232).unwrap()).unwrap().len(), {
            entries[768..].iter().map(|e| 2 + e.len()).sum::<usize>()
        });
        assert_eq!(count, store.entry_count().unwrap());
    }

    #[test]
    fn sizes_beyond_the_log_and_bad_arguments_are_refused() {
        let (store, _, _) = log(100);
        assert_eq!(inclusion(&store, 3, 101).unwrap_err().code(), tonic::Code::OutOfRange);
        assert_eq!(inclusion(&store, 100, 100).unwrap_err().code(), tonic::Code::OutOfRange);
        assert_eq!(consistency(&store, 5, 101).unwrap_err().code(), tonic::Code::OutOfRange);
        assert_eq!(consistency(&store, 0, 50).unwrap_err().code(), tonic::Code::InvalidArgument);
        assert_eq!(consistency(&store, 51, 50).unwrap_err().code(), tonic::Code::InvalidArgument);
        // A node the store should hold but does not is data loss, not a wrong answer.
        let nodes = StoreNodes::new(&store, 100);
        assert!(matches!(nodes.node(NodeId { level: 7, index: 0 }), Err(AuditError::BeyondLog { .. })));
        assert!(matches!(nodes.node(NodeId { level: 64, index: 0 }), Err(AuditError::BeyondLog { .. })));
        // Two blocks of entries, and none of the nodes above them.
        let n = 2u64 << NODE_LEVEL_MIN;
        let empty = Counting::default();
        empty
            .commit(&CommitBatch { entries: (0..n).map(|i| (i, vec![i as u8])).collect(), ..Default::default() })
            .unwrap();
        let status = inclusion(&empty, 0, n).unwrap_err();
        assert_eq!(status.code(), tonic::Code::DataLoss, "{status:?}");
    }
}
