//! The record and request indexes of the sled store as sorted runs: no sled insert per
//! record on the commit path.
//!
//! # Why
//!
//! A sled insert costs several microseconds (node splits and copies, page-cache links,
//! epoch garbage), and the dedupe index took one per record, in key order that is random
//! with respect to time: the commit thread spent most of its time there. So each commit
//! writes its index writes as one *run*: sorted by key, cut into blocks of about
//! [`BLOCK_BYTES`], a handful of blocks per commit instead of thousands of inserts. Background
//! merger threads fold runs together (see [`pick`]) so that a lookup visits few runs.
//!
//! # Layout (see the table in [`crate::sled_store`])
//!
//! - `x` ‖ family ‖ run id (u64) ‖ block number (u32) → a block: `count (u32) ‖ count ×
//!   end offset (u32) ‖ items`, each item `key length (u16) ‖ key ‖ value`, sorted by key,
//!   one item per key. Commits of stores before schema 3 wrote their runs' blocks here.
//! - `f` ‖ family ‖ run id (u64) → the run's description: `items (u64) ‖ blocks (u32) ‖
//!   blocks × (key length (u16) ‖ last key of the block)` (the *fences*).
//! - `F` ‖ family ‖ run id (u64) → the description of a run written by a merge, whose
//!   blocks are in the file [`RUN_DIR`]`/‹family›‹run id, 16 hex digits›.run`, back to back:
//!   the `f` description followed by `blocks × (length (u32) ‖ CRC-32 (u32))`. Written
//!   before schema 3; read, never written.
//! - `T` ‖ family ‖ run id (u64) → where the description of a run written by a merge is
//!   (schema 3): `offset (u64) ‖ length (u32) ‖ CRC-32 (u32)` in the run's file, right
//!   after its blocks. The description (as under `F`) grows with the run, about 40 bytes a
//!   32 KiB block; in sled, a large run's would pass a quarter of a log segment and go to
//!   sled's unsynced blob files (see [`crate::sled_store`]).
//! - `E` ‖ family ‖ run id (u64) → the description of a commit's run (schema 3), whose
//!   blocks the commit appended to the entry file ([`crate::entry_file`]), back to back:
//!   the `f` description, `blocks × (length (u32) ‖ CRC-32 (u32))`, then the entry-file
//!   offset of the first block (u64).
//! - `m` ‖ `runs` → the catalog: `count (u32) ‖ count × (family ‖ run id)`, oldest first.
//!   A key's current value is the one in the newest run holding it.
//! - `m` ‖ `nextrun` → the next run id (u64). Ids are never reused.
//! - `g` ‖ family ‖ run id → (empty) a merge is writing this run: its blocks are not in the
//!   catalog yet; a store opened with such a marker deletes them.
//! - `d` ‖ family ‖ run id → (empty) a merge replaced this run and its blocks are still to
//!   be deleted; a store opened with such a marker deletes them.
//!
//! The family byte is `r` (records) or `q` (requests).
//!
//! # Commit runs are in the entry file, merged runs are files
//!
//! A commit's run goes, block by block, into the commit's one append to the entry file
//! (synced before the commit's sled batch, which holds only its `E` description). Until
//! schema 3 the blocks were sled values: each 32 KiB block was copied into sled's log, again
//! whenever sled rewrote the tree node holding it, and deleted from sled once merged. In
//! the entry file they are written once and never deleted: a merged-away commit run leaves
//! its ~60 bytes per record there as dead bytes (the file is append-only), as sled's log
//! kept them until it cleaned the segment. Measured with fresh servers alternating, 1M
//! batch-signed records, six pairs: 6.09 → 5.61 µs of server CPU per record, 301,500 →
//! 328,400 records/s (`bench/ab.sh`, README).
//!
//! A merge writes its output once, in order, to a file of its own, syncs it and its
//! directory, and only then names it in the catalog; the files of the runs it replaced
//! are removed after the catalog is durable. Until this layout merge output went to sled
//! too: each block was written as a log message, again whenever its tree node was
//! consolidated, and the bytes of deleted runs stayed on disk until sled cleaned their
//! segment. At 2,000,000 single-signed records sled's file held 2.0 GB for 0.38 GB of
//! live values; with merged runs in files it holds 0.34 GB beside 0.36 GB of run files,
//! and the whole store went from 1,301 to 648 bytes per record (`bench/`).
//!
//! # Consistency
//!
//! The blocks of a commit's run are in the commit's append to the entry file, synced
//! before its sled batch; the catalog and the run's description are in that one sled batch
//! (which also records the entry file's new end), and the run is made visible in memory
//! only after the flush, so a reader never finds a run that a crash could erase. A merge writes its output under a fresh id (invisible: a run
//! file no catalog names is removed at open), then replaces the merged runs in the catalog in one batch, under the commit lock and the
//! catalog's write lock (so no reader is inside a run it removes), flushes, and only then
//! deletes the old blocks or files. A crash at any point leaves either the old runs or the new one
//! in the catalog, both holding the same keys and newest values.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock, RwLockReadGuard};

use crate::entry_file::Pointer;
use crate::{Result, StoreError, StoredBytes};

/// Target size of one block of a run (a block holds at least one item).
pub const BLOCK_BYTES: usize = 32 * 1024;
/// Runs of one size tier merged at once; also the size ratio between tiers.
pub const MERGE_FANIN: usize = 8;
/// Merger threads: merges of different tiers proceed side by side, so that a long merge of
/// large runs does not let small ones pile up. They run at [`MERGER_NICE`].
pub const MERGERS: usize = 3;
/// Nice value of the merger threads (Linux, where it is per thread; every other thread
/// stays at 0).
///
/// Nothing waits for a merge, and a large one keeps a core busy for seconds. At nice 0 the
/// mergers took the cores from the verification, sequencer and commit threads in bursts,
/// which showed as the ack latency tail at half speed; at nice 10 a merger gets about a
/// tenth of a contended core (CFS weight 110 against 1,024) and all of an idle one.
/// Measured on this 2-core machine, alternating fresh servers (1,000,000 records at full
/// speed, then 250,000 at half that rate twice; README, "Index merges at low priority").
/// A merger holds the commit lock only around two short sled batches, so a preempted
/// merger delays a commit by at most its wait for a time slice.
pub const MERGER_NICE: i32 = 10;
/// Runs of one family beyond which the backlog merger, at normal priority, merges too.
///
/// On cores busy for long (ingest at full speed for minutes) the low-priority mergers fall
/// behind; without a bound every lookup the filter lets through would read one block per
/// run of an ever longer list. Caught up, a family holds at most `MERGE_FANIN - 1` runs of
/// each size tier (about 7 tiers up to 10^8 records), plus the spans being merged.
pub const BACKLOG_RUNS: usize = 96;
/// Bytes of output blocks a merge writes between checks for a stop (and its file buffer).
const MERGE_BATCH_BYTES: usize = 1 << 20;
/// Bytes of a merge's output file written between syncs.
const MERGE_SYNC_BYTES: usize = 4 << 20;

pub(crate) const BLOCK: u8 = b'x';
pub(crate) const FENCES: u8 = b'f';
pub(crate) const FILE_FENCES: u8 = b'F';
pub(crate) const ENTRY_FENCES: u8 = b'E';
pub(crate) const TABLE_FENCES: u8 = b'T';
/// The directory (in the store directory) of the runs written by merges.
pub const RUN_DIR: &str = "runs";
pub(crate) const MERGING: u8 = b'g';
pub(crate) const DEAD: u8 = b'd';
pub(crate) const META_RUNS: &[u8] = b"mruns";
pub(crate) const META_NEXT_RUN: &[u8] = b"mnextrun";

/// Which index a run belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Family {
    Records,
    Requests,
}

impl Family {
    pub(crate) const ALL: [Family; 2] = [Family::Records, Family::Requests];

    pub(crate) fn byte(self) -> u8 {
        match self {
            Family::Records => b'r',
            Family::Requests => b'q',
        }
    }

    fn from_byte(b: u8) -> Option<Family> {
        match b {
            b'r' => Some(Family::Records),
            b'q' => Some(Family::Requests),
            _ => None,
        }
    }

    fn slot(self) -> usize {
        self as usize
    }
}

pub(crate) fn block_key(family: Family, id: u64, block: u32) -> [u8; 14] {
    let mut k = [0u8; 14];
    k[0] = BLOCK;
    k[1] = family.byte();
    k[2..10].copy_from_slice(&id.to_be_bytes());
    k[10..].copy_from_slice(&block.to_be_bytes());
    k
}

fn run_key(prefix: u8, family: Family, id: u64) -> [u8; 10] {
    let mut k = [0u8; 10];
    k[0] = prefix;
    k[1] = family.byte();
    k[2..].copy_from_slice(&id.to_be_bytes());
    k
}

/// A human-readable name for the run-family keys, for error messages.
pub(crate) fn describe(key: &[u8]) -> Option<String> {
    let family = |b: u8| match Family::from_byte(b) {
        Some(Family::Records) => "record",
        Some(Family::Requests) => "request",
        None => "unknown",
    };
    let id = |b: &[u8]| u64::from_be_bytes(b.try_into().expect("8 bytes"));
    match key {
        [BLOCK, f, rest @ ..] if rest.len() == 12 => Some(format!(
            "{} index run {} block {} (x/{})",
            family(*f),
            id(&rest[..8]),
            u32::from_be_bytes(rest[8..].try_into().expect("4 bytes")),
            hex(&key[1..])
        )),
        [FENCES, f, rest @ ..] if rest.len() == 8 => {
            Some(format!("{} index run {} description (f/{})", family(*f), id(rest), hex(&key[1..])))
        }
        [FILE_FENCES, f, rest @ ..] if rest.len() == 8 => {
            Some(format!("{} index run {} description (F/{})", family(*f), id(rest), hex(&key[1..])))
        }
        [ENTRY_FENCES, f, rest @ ..] if rest.len() == 8 => {
            Some(format!("{} index run {} description (E/{})", family(*f), id(rest), hex(&key[1..])))
        }
        [TABLE_FENCES, f, rest @ ..] if rest.len() == 8 => {
            Some(format!("{} index run {} description (T/{})", family(*f), id(rest), hex(&key[1..])))
        }
        _ => None,
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02x}")).collect()
}

fn corrupt(key: &[u8], what: impl std::fmt::Display) -> StoreError {
    let name = describe(key).unwrap_or_else(|| String::from_utf8_lossy(key).into_owned());
    StoreError::Corrupt(format!("{name}: {what}"))
}

fn io(e: sled::Error) -> StoreError {
    match e {
        sled::Error::Corruption { at, bt: _ } => StoreError::Corrupt(format!("sled found corruption at {at:?}")),
        other => StoreError::Io(other.to_string()),
    }
}

/// One run: its id, how many items it holds, the last key of each block, and where its
/// blocks are.
#[derive(Debug)]
pub(crate) struct Run {
    pub id: u64,
    pub items: u64,
    pub fences: Vec<Box<[u8]>>,
    /// `None`: the blocks are sled values (`x` keys), as commits before schema 3 wrote them.
    pub file: Option<RunFile>,
}

/// The file holding a run's blocks, back to back, each with its length and CRC-32 (kept in
/// the run's description): a file of its own for a run written by a merge (`F`), the entry
/// file for a commit's run (`E`).
#[derive(Debug)]
pub(crate) struct RunFile {
    file: Arc<std::fs::File>,
    /// Where each block is.
    blocks: Vec<Placed>,
    /// The file is the entry file, shared with the store (not the run's own).
    in_entries: bool,
    /// Where the run's description is in its own file, when it is there rather than in
    /// sled (`T`).
    table: Option<Placed>,
}

/// Where some bytes are in a file: (offset, length, CRC-32).
type Placed = (u64, u32, u32);

impl RunFile {
    /// Reads block `b` (named `key` in errors) into the start of `buf`, checked against its
    /// CRC; returns its length.
    fn read_into(&self, key: &[u8; 14], b: u32, buf: &mut Vec<u8>) -> Result<usize> {
        let &(offset, len, crc) = self.blocks.get(b as usize).ok_or_else(|| corrupt(key, "index block missing"))?;
        let file = if self.in_entries { "the entry file's" } else { "the run file's" };
        crate::read_checked_into(&self.file, offset, len, crc, buf)
            .map_err(|what| corrupt(key, format_args!("{file} {what}")))?;
        Ok(len as usize)
    }
}

/// The file name of run `id` of `family` in [`RUN_DIR`].
fn run_file_name(family: Family, id: u64) -> String {
    format!("{}{id:016x}.run", family.byte() as char)
}

/// Makes the directory entries of `dir` durable (a new or removed file).
fn sync_dir(dir: &std::path::Path) -> Result<()> {
    crate::sync_dir(dir).map_err(file_io)
}

fn file_io(e: std::io::Error) -> StoreError {
    StoreError::Io(format!("an index run file: {e}"))
}

impl Run {
    fn encode(&self) -> Vec<u8> {
        let len: usize = self.fences.iter().map(|f| 2 + f.len()).sum();
        let mut v = Vec::with_capacity(12 + len);
        v.extend_from_slice(&self.items.to_be_bytes());
        v.extend_from_slice(&(self.fences.len() as u32).to_be_bytes());
        for f in &self.fences {
            v.extend_from_slice(&(f.len() as u16).to_be_bytes());
            v.extend_from_slice(f);
        }
        if let Some(file) = &self.file {
            for (_, len, crc) in &file.blocks {
                v.extend_from_slice(&len.to_be_bytes());
                v.extend_from_slice(&crc.to_be_bytes());
            }
            if file.in_entries {
                v.extend_from_slice(&file.blocks[0].0.to_be_bytes());
            }
        }
        v
    }

    /// The key of this run's description.
    fn description_key(&self, family: Family) -> [u8; 10] {
        let prefix = match &self.file {
            None => FENCES,
            Some(f) if f.in_entries => ENTRY_FENCES,
            Some(f) if f.table.is_some() => TABLE_FENCES,
            Some(_) => FILE_FENCES,
        };
        run_key(prefix, family, self.id)
    }

    /// The value under [`Run::description_key`]: the description itself, or for a run
    /// whose description is at the end of its file, where it is there.
    fn description(&self) -> Vec<u8> {
        match self.file.as_ref().and_then(|f| f.table) {
            None => self.encode(),
            Some((offset, len, crc)) => Pointer { offset, len, crc }.body().to_vec(),
        }
    }

    /// A run whose description `v` is under `key`: blocks in sled for an `f` key, in the
    /// run's file in `dir` for an `F` key (opened here) and for a `T` key (whose value says
    /// where in that file the description is), in the entry file `entries` for an `E` key.
    fn decode_at(
        key: &[u8],
        family: Family,
        id: u64,
        v: &[u8],
        dir: &std::path::Path,
        entries: &Arc<std::fs::File>,
    ) -> Result<Run> {
        if key[0] == FENCES {
            return Run::decode(key, id, v);
        }
        let bad = || corrupt(key, "malformed run description");
        if key[0] == ENTRY_FENCES {
            let (v, base) = v.split_at_checked(v.len().checked_sub(8).ok_or_else(bad)?).ok_or_else(bad)?;
            let (mut run, blocks) =
                Run::decode_placed(key, id, v, u64::from_be_bytes(base.try_into().expect("8 bytes")))?;
            // The entry file was checked at open to reach the end the tree records, which
            // covers every commit's blocks; a short file shows as damage when read.
            run.file = Some(RunFile { file: entries.clone(), blocks, in_entries: true, table: None });
            return Ok(run);
        }
        let path = dir.join(RUN_DIR).join(run_file_name(family, id));
        let file = std::fs::File::open(&path)
            .map_err(|e| corrupt(key, format_args!("the run's file {}: {e}", path.display())))?;
        let len = file.metadata().map_err(file_io)?.len();
        // A `T` value says where the description is in the run's file, after the blocks.
        let (description, table) = if key[0] == TABLE_FENCES {
            let at = Pointer::from_body(v.try_into().map_err(|_| bad())?);
            let t = (at.offset, at.len, at.crc);
            let read = crate::read_checked(&file, t.0, t.1, t.2)
                .map_err(|what| corrupt(key, format_args!("the run file's description: {what}")))?;
            (std::borrow::Cow::Owned(read), Some(t))
        } else {
            (std::borrow::Cow::Borrowed(v), None)
        };
        let (mut run, blocks) = Run::decode_placed(key, id, &description, 0)?;
        let end = blocks.last().map_or(0, |&(o, l, _)| o + u64::from(l));
        let expected = table.map_or(end, |(o, l, _)| o + u64::from(l));
        if len != expected || table.is_some_and(|(o, _, _)| o != end) {
            return Err(corrupt(
                key,
                format_args!("the run's file {} holds {len} bytes, not {expected}", path.display()),
            ));
        }
        run.file = Some(RunFile { file: Arc::new(file), blocks, in_entries: false, table });
        Ok(run)
    }

    /// A description of fences followed by `blocks × (length ‖ CRC-32)`, the blocks back to
    /// back from `offset`: the run and where each block is.
    fn decode_placed(key: &[u8], id: u64, v: &[u8], mut offset: u64) -> Result<(Run, Vec<Placed>)> {
        let bad = || corrupt(key, "malformed run description");
        let blocks = u32::from_be_bytes(v.get(8..12).ok_or_else(bad)?.try_into().expect("4 bytes")) as usize;
        let table = v.len().checked_sub(blocks.checked_mul(8).ok_or_else(bad)?).ok_or_else(bad)?;
        let run = Run::decode(key, id, v.get(..table).ok_or_else(bad)?)?;
        let mut placed = Vec::with_capacity(blocks);
        for e in v[table..].chunks_exact(8) {
            let len = u32::from_be_bytes(e[..4].try_into().expect("4 bytes"));
            placed.push((offset, len, u32::from_be_bytes(e[4..].try_into().expect("4 bytes"))));
            offset += u64::from(len);
        }
        Ok((run, placed))
    }

    /// Block `b` of this run; `key` (its `x` key) names it in errors.
    fn block(&self, db: &sled::Db, key: &[u8; 14], b: u32) -> Result<StoredBytes> {
        let Some(f) = &self.file else {
            return db.get(key).map_err(io)?.map(StoredBytes::Tree).ok_or_else(|| corrupt(key, "index block missing"));
        };
        let mut v = Vec::new();
        let len = f.read_into(key, b, &mut v)?;
        v.truncate(len);
        Ok(StoredBytes::File(v))
    }

    /// The value of `want` in block `b` (`key` names it), if there. A block in a file is
    /// read into a buffer kept by the thread: a lookup reads one block of every run newer
    /// than the one holding its key, and replaying the log after a crash looks up every
    /// record it replays.
    fn find(&self, db: &sled::Db, key: &[u8; 14], b: u32, want: &[u8]) -> Result<Option<Vec<u8>>> {
        thread_local! {
            static BLOCK_BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        let Some(f) = &self.file else {
            let v = self.block(db, key, b)?;
            return Ok(Block::parse(key, &v)?.find(key, want)?.map(<[u8]>::to_vec));
        };
        BLOCK_BUF.with(|buf| {
            let mut buf = buf.borrow_mut();
            let len = f.read_into(key, b, &mut buf)?;
            Ok(Block::parse(key, &buf[..len])?.find(key, want)?.map(<[u8]>::to_vec))
        })
    }

    fn decode(key: &[u8], id: u64, v: &[u8]) -> Result<Run> {
        let bad = || corrupt(key, "malformed run description");
        if v.len() < 12 {
            return Err(bad());
        }
        let items = u64::from_be_bytes(v[..8].try_into().expect("8 bytes"));
        let blocks = u32::from_be_bytes(v[8..12].try_into().expect("4 bytes")) as usize;
        let mut fences = Vec::with_capacity(blocks.min(v.len()));
        let mut at = 12;
        for _ in 0..blocks {
            let len = u16::from_be_bytes(v.get(at..at + 2).ok_or_else(bad)?.try_into().expect("2 bytes")) as usize;
            fences.push(v.get(at + 2..at + 2 + len).ok_or_else(bad)?.into());
            at += 2 + len;
        }
        if at != v.len() || blocks == 0 || fences.windows(2).any(|w| w[0] >= w[1]) {
            return Err(bad());
        }
        Ok(Run { id, items, fences, file: None })
    }

    /// The size tier: runs of a tier hold `MERGE_FANIN^tier` to `MERGE_FANIN^(tier+1)` items.
    fn tier(&self) -> u32 {
        self.items.max(1).ilog(MERGE_FANIN as u64)
    }
}

/// A parsed block: item `i`'s key and value are sliced out of the value sled returned.
struct Block<'a> {
    ends: &'a [u8],
    data: &'a [u8],
    count: usize,
}

impl<'a> Block<'a> {
    fn parse(key: &[u8], v: &'a [u8]) -> Result<Block<'a>> {
        let bad = |what: &str| corrupt(key, format_args!("index block: {what}"));
        if v.len() < 4 {
            return Err(bad("too short"));
        }
        let count = u32::from_be_bytes(v[..4].try_into().expect("4 bytes")) as usize;
        let table = 4usize.saturating_add(count.saturating_mul(4));
        if count == 0 || v.len() < table {
            return Err(bad("bad item count"));
        }
        let block = Block { ends: &v[4..table], data: &v[table..], count };
        if block.end(count - 1) != block.data.len() {
            return Err(bad("offsets do not match the data"));
        }
        Ok(block)
    }

    fn end(&self, i: usize) -> usize {
        u32::from_be_bytes(self.ends[i * 4..i * 4 + 4].try_into().expect("4 bytes")) as usize
    }

    fn item(&self, key: &[u8], i: usize) -> Result<(&'a [u8], &'a [u8])> {
        let start = if i == 0 { 0 } else { self.end(i - 1) };
        let end = self.end(i);
        let bad = || corrupt(key, "index block: item out of bounds");
        let item = self.data.get(start..end).ok_or_else(bad)?;
        let klen = u16::from_be_bytes(item.get(..2).ok_or_else(bad)?.try_into().expect("2 bytes")) as usize;
        let k = item.get(2..2 + klen).ok_or_else(bad)?;
        Ok((k, &item[2 + klen..]))
    }

    /// Binary search for `want`.
    fn find(&self, key: &[u8], want: &[u8]) -> Result<Option<&'a [u8]>> {
        let (mut lo, mut hi) = (0, self.count);
        while lo < hi {
            let mid = (lo + hi) / 2;
            let (k, v) = self.item(key, mid)?;
            match k.cmp(want) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Ok(Some(v)),
            }
        }
        Ok(None)
    }
}

/// A finished block: its key and value.
type BlockKv = ([u8; 14], Vec<u8>);

/// Cuts sorted, unique items into blocks, keeping the fences.
struct RunWriter {
    family: Family,
    id: u64,
    items: u64,
    fences: Vec<Box<[u8]>>,
    ends: Vec<u32>,
    data: Vec<u8>,
    last: Vec<u8>,
}

impl RunWriter {
    fn new(family: Family, id: u64) -> RunWriter {
        RunWriter {
            family,
            id,
            items: 0,
            fences: Vec::new(),
            ends: Vec::new(),
            data: Vec::with_capacity(BLOCK_BYTES + 512),
            last: Vec::new(),
        }
    }

    /// Adds the next item (keys strictly increasing); returns a finished block when the
    /// current one is full.
    fn push(&mut self, key: &[u8], value: &[u8]) -> Option<BlockKv> {
        debug_assert!(self.items == 0 || key > self.last.as_slice(), "run items out of order");
        let klen = u16::try_from(key.len()).expect("an index key is far below 64 KiB");
        self.data.extend_from_slice(&klen.to_be_bytes());
        self.data.extend_from_slice(key);
        self.data.extend_from_slice(value);
        self.ends.push(u32::try_from(self.data.len()).expect("a block is far below 4 GiB"));
        self.last.clear();
        self.last.extend_from_slice(key);
        self.items += 1;
        (self.data.len() >= BLOCK_BYTES).then(|| self.cut())
    }

    fn cut(&mut self) -> BlockKv {
        let mut v = Vec::with_capacity(4 + 4 * self.ends.len() + self.data.len());
        v.extend_from_slice(&(self.ends.len() as u32).to_be_bytes());
        for e in &self.ends {
            v.extend_from_slice(&e.to_be_bytes());
        }
        v.extend_from_slice(&self.data);
        self.ends.clear();
        self.data.clear();
        let n = u32::try_from(self.fences.len()).expect("fewer than 4 billion blocks");
        self.fences.push(self.last.as_slice().into());
        (block_key(self.family, self.id, n), v)
    }

    /// The last block (if any items are left) and the run.
    fn finish(mut self) -> (Option<BlockKv>, Option<Run>) {
        let tail = (!self.ends.is_empty()).then(|| self.cut());
        let run = (self.items > 0).then_some(Run { id: self.id, items: self.items, fences: self.fences, file: None });
        (tail, run)
    }
}

/// The runs of both families, oldest first.
#[derive(Debug, Default)]
pub(crate) struct Catalog {
    runs: [Vec<Arc<Run>>; 2],
    next_id: u64,
}

impl Catalog {
    /// The catalog as stored, with `extra` runs appended (newest).
    fn encode(&self, extra: &[(Family, u64)]) -> Vec<u8> {
        let n: usize = self.runs.iter().map(Vec::len).sum::<usize>() + extra.len();
        let mut v = Vec::with_capacity(4 + 9 * n);
        v.extend_from_slice(&(n as u32).to_be_bytes());
        for f in Family::ALL {
            let extra = extra.iter().filter(|(ef, _)| *ef == f).map(|(_, id)| *id);
            for id in self.runs[f.slot()].iter().map(|r| r.id).chain(extra) {
                v.push(f.byte());
                v.extend_from_slice(&id.to_be_bytes());
            }
        }
        v
    }

    /// How many runs a lookup of `family` may visit (for tests and metrics).
    pub(crate) fn len(&self, family: Family) -> usize {
        self.runs[family.slot()].len()
    }
}

/// A commit's index writes as a run, its description in the commit's sled batch.
pub(crate) struct NewRun {
    family: Family,
    run: Run,
}

/// Where a commit puts its runs' blocks: appended to `bytes`, which the commit writes to
/// the entry file at offset `base`.
struct EntryAppend<'a> {
    bytes: &'a mut Vec<u8>,
    base: u64,
    file: &'a Arc<std::fs::File>,
}

/// Sorts one commit's writes (encoded key, encoded value; a later write of a key replaces
/// an earlier one) into a run with id `id`: its blocks appended to `out`, its description
/// added to `batch`.
fn build_run(
    batch: &mut sled::Batch,
    out: &mut EntryAppend<'_>,
    family: Family,
    id: u64,
    writes: impl Iterator<Item = (Vec<u8>, Vec<u8>)>,
) -> Option<NewRun> {
    // One arena for all keys and values, sorted through an index: two allocations per
    // commit instead of two per record.
    let mut arena = Vec::new();
    let mut items: Vec<(usize, usize, usize)> = Vec::new(); // (key start, value start, end)
    for (k, v) in writes {
        let start = arena.len();
        arena.extend_from_slice(&k);
        arena.extend_from_slice(&v);
        items.push((start, start + k.len(), arena.len()));
    }
    if items.is_empty() {
        return None;
    }
    // Stable: equal keys keep their write order, and the last of each is kept.
    items.sort_by(|a, b| arena[a.0..a.1].cmp(&arena[b.0..b.1]));
    let mut w = RunWriter::new(family, id);
    let mut blocks = Vec::new();
    let mut put = |v: &[u8]| {
        let offset = out.base + out.bytes.len() as u64;
        out.bytes.extend_from_slice(v);
        blocks.push((offset, u32::try_from(v.len()).expect("a block is far below 4 GiB"), crc32fast::hash(v)));
    };
    for (i, &(ks, vs, end)) in items.iter().enumerate() {
        let key = &arena[ks..vs];
        if items.get(i + 1).is_some_and(|&(ns, nv, _)| &arena[ns..nv] == key) {
            continue;
        }
        if let Some((_, v)) = w.push(key, &arena[vs..end]) {
            put(&v);
        }
    }
    let (tail, run) = w.finish();
    if let Some((_, v)) = tail {
        put(&v);
    }
    let mut run = run.expect("at least one item");
    run.file = Some(RunFile { file: out.file.clone(), blocks, in_entries: true, table: None });
    batch.insert(&run.description_key(family)[..], run.encode());
    Some(NewRun { family, run })
}

/// The sorted items of one run, block by block. A block is parsed once when it is read,
/// and each item once when the cursor reaches it: a merge compares the current keys of
/// its cursors several times per item (re-parsing them was half the mergers' time).
struct Cursor {
    family: Family,
    run: Arc<Run>,
    block: u32,
    value: Option<StoredBytes>,
    index: usize,
    count: usize,
    /// The current item's key and value, as ranges of `value`.
    key: std::ops::Range<usize>,
    val: std::ops::Range<usize>,
}

impl Cursor {
    fn new(family: Family, run: Arc<Run>) -> Cursor {
        Cursor { family, run, block: 0, value: None, index: 0, count: 0, key: 0..0, val: 0..0 }
    }

    /// Makes the current item available; false at the end of the run.
    fn fill(&mut self, db: &sled::Db) -> Result<bool> {
        while self.value.is_none() || self.index >= self.count {
            if self.value.is_some() {
                self.block += 1;
                self.value = None;
            }
            if self.block as usize >= self.run.fences.len() {
                return Ok(false);
            }
            let key = block_key(self.family, self.run.id, self.block);
            let v = self.run.block(db, &key, self.block)?;
            let block = Block::parse(&key, &v)?;
            let (last, _) = block.item(&key, block.count - 1)?;
            if last != &*self.run.fences[self.block as usize] {
                return Err(corrupt(&key, "index block does not end at its fence"));
            }
            self.count = block.count;
            self.index = 0;
            self.value = Some(v);
        }
        let key = block_key(self.family, self.run.id, self.block);
        let v = self.value.as_ref().expect("filled");
        let (k, val) = Block::parse(&key, v)?.item(&key, self.index)?;
        let at = |part: &[u8]| {
            let start = part.as_ptr() as usize - v.as_ptr() as usize;
            start..start + part.len()
        };
        (self.key, self.val) = (at(k), at(val));
        Ok(true)
    }

    /// The current item (after a `fill` that returned true).
    fn item(&self) -> (&[u8], &[u8]) {
        let v = self.value.as_ref().expect("filled");
        (&v[self.key.clone()], &v[self.val.clone()])
    }
}

/// Merges runs (given oldest first) into one sorted stream of unique keys, the newest
/// value of each.
struct Merge {
    cursors: Vec<Cursor>,
    live: Vec<bool>,
    /// The cursors at the current smallest key (reused from item to item).
    at_best: Vec<usize>,
}

impl Merge {
    fn new(db: &sled::Db, family: Family, runs: &[Arc<Run>]) -> Result<Merge> {
        let mut cursors: Vec<Cursor> = runs.iter().map(|r| Cursor::new(family, r.clone())).collect();
        let mut live = Vec::with_capacity(cursors.len());
        for c in &mut cursors {
            live.push(c.fill(db)?);
        }
        Ok(Merge { cursors, live, at_best: Vec::new() })
    }

    /// The next key (newest value) as `f(key, value)`, or `None` at the end.
    fn next<T>(&mut self, db: &sled::Db, f: impl FnOnce(&[u8], &[u8]) -> T) -> Result<Option<T>> {
        // Linear scan: a merge has few runs. One three-way comparison per run finds the
        // smallest key and every run holding it (keys share long prefixes, so comparisons
        // are most of a merge's time: a second pass testing each run for equality doubled
        // them). Ties go to the newest (the highest index).
        use std::cmp::Ordering;
        let mut best: Option<usize> = None;
        self.at_best.clear();
        for i in 0..self.cursors.len() {
            if !self.live[i] {
                continue;
            }
            let order = match best {
                None => Ordering::Less,
                Some(b) => self.cursors[i].item().0.cmp(self.cursors[b].item().0),
            };
            match order {
                Ordering::Less => {
                    best = Some(i);
                    self.at_best.clear();
                    self.at_best.push(i);
                }
                Ordering::Equal => {
                    best = Some(i);
                    self.at_best.push(i);
                }
                Ordering::Greater => {}
            }
        }
        let Some(b) = best else { return Ok(None) };
        let (key, value) = self.cursors[b].item();
        let out = f(key, value);
        for &i in &self.at_best {
            self.cursors[i].index += 1;
            self.live[i] = self.cursors[i].fill(db)?;
        }
        Ok(Some(out))
    }
}

/// Chooses a merge in `runs` (oldest first): `MERGE_FANIN` adjacent runs, none `busy`,
/// of the lowest tier that has that many. A run's tier here is the largest tier of it and
/// every newer run, so tiers never increase towards the newest run and a merge's output
/// (one tier up at most) keeps that order.
fn pick(runs: &[Arc<Run>], busy: &HashSet<u64>) -> Option<Vec<Arc<Run>>> {
    let mut eff = vec![0u32; runs.len()];
    let mut max = 0;
    for i in (0..runs.len()).rev() {
        max = max.max(runs[i].tier());
        eff[i] = max;
    }
    let mut best: Option<(u32, usize)> = None; // (tier, start of its oldest window)
    let mut i = 0;
    while i < runs.len() {
        // A maximal stretch of free runs of one effective tier.
        let mut j = i;
        while j < runs.len() && eff[j] == eff[i] && !busy.contains(&runs[j].id) {
            j += 1;
        }
        if j - i >= MERGE_FANIN && best.is_none_or(|(t, _)| eff[i] < t) {
            best = Some((eff[i], i));
        }
        i = j.max(i + 1);
    }
    best.map(|(_, start)| runs[start..start + MERGE_FANIN].to_vec())
}

/// The index runs of one sled store, shared with its merger threads.
pub(crate) struct Runs {
    db: sled::Db,
    /// The store's entry file, where commits append their runs' blocks.
    entries: Arc<std::fs::File>,
    /// The store directory: merges write their runs to files in its [`RUN_DIR`].
    dir: std::path::PathBuf,
    catalog: RwLock<Catalog>,
    /// Serialises catalog writes: commits and merge installs.
    pub(crate) commit_lock: Mutex<()>,
    /// A commit or a merge failed after sled accepted part of it: stop writing.
    pub(crate) failed: AtomicBool,
    /// Run ids being merged, so that two mergers never take the same run.
    busy: Mutex<HashSet<u64>>,
    /// Merges running now (for [`Runs::status`]).
    merging: AtomicUsize,
    wake: Condvar,
    stop: AtomicBool,
    /// Set by a commit that added a run; cleared by a merger that found nothing to do.
    work: Mutex<bool>,
    /// Set by a commit that left a family with more than [`BACKLOG_RUNS`] runs; cleared
    /// by the backlog merger when it finds no family over the bound.
    backlog: Mutex<bool>,
    backlog_wake: Condvar,
    /// Key listings running ([`Runs::keys`]), and their end.
    key_readers: Mutex<usize>,
    readers_done: Condvar,
}

impl Runs {
    /// Loads the catalog and finishes what an interrupted merge left behind.
    pub(crate) fn open(db: sled::Db, dir: &std::path::Path, entries: Arc<std::fs::File>) -> Result<Runs> {
        if !dir.join(RUN_DIR).exists() {
            std::fs::create_dir_all(dir.join(RUN_DIR)).map_err(file_io)?;
            // The directory's name must be durable before a file in it is named anywhere.
            sync_dir(dir)?;
        }
        let mut catalog = Catalog::default();
        if let Some(v) = db.get(META_NEXT_RUN).map_err(io)? {
            let b: [u8; 8] = v.as_ref().try_into().map_err(|_| corrupt(META_NEXT_RUN, "expected 8 bytes"))?;
            catalog.next_id = u64::from_be_bytes(b);
        }
        if let Some(v) = db.get(META_RUNS).map_err(io)? {
            let bad = || corrupt(META_RUNS, "malformed run catalog");
            let n = u32::from_be_bytes(v.get(..4).ok_or_else(bad)?.try_into().expect("4 bytes")) as usize;
            if v.len() != 4 + 9 * n {
                return Err(bad());
            }
            for e in v[4..].chunks_exact(9) {
                let family = Family::from_byte(e[0]).ok_or_else(bad)?;
                let id = u64::from_be_bytes(e[1..].try_into().expect("8 bytes"));
                if id >= catalog.next_id {
                    return Err(corrupt(META_RUNS, format_args!("run {id} is not below the next run id")));
                }
                let mut found = None;
                for prefix in [ENTRY_FENCES, TABLE_FENCES, FILE_FENCES, FENCES] {
                    let fk = run_key(prefix, family, id);
                    if let Some(fv) = db.get(fk).map_err(io)? {
                        found = Some((fk, fv));
                        break;
                    }
                }
                let (fk, fv) = found.ok_or_else(|| corrupt(&run_key(FENCES, family, id), "missing"))?;
                catalog.runs[family.slot()].push(Arc::new(Run::decode_at(&fk, family, id, &fv, dir, &entries)?));
            }
        }
        let runs = Runs {
            db,
            entries,
            dir: dir.to_path_buf(),
            catalog: RwLock::new(catalog),
            commit_lock: Mutex::new(()),
            failed: AtomicBool::new(false),
            busy: Mutex::new(HashSet::new()),
            merging: AtomicUsize::new(0),
            wake: Condvar::new(),
            stop: AtomicBool::new(false),
            work: Mutex::new(true),
            backlog: Mutex::new(true),
            backlog_wake: Condvar::new(),
            key_readers: Mutex::new(0),
            readers_done: Condvar::new(),
        };
        runs.clean_up()?;
        runs.remove_stray_files()?;
        Ok(runs)
    }

    /// Bytes held by run files.
    pub(crate) fn files_len(&self) -> Result<u64> {
        let mut total = 0;
        for f in std::fs::read_dir(self.dir.join(RUN_DIR)).map_err(file_io)? {
            total += f.and_then(|f| f.metadata()).map_err(file_io)?.len();
        }
        Ok(total)
    }

    /// Removes run files no catalog entry names: a merge that crashed before its install
    /// (its `g` marker may not have reached the disk), or one whose replaced runs were
    /// being deleted.
    fn remove_stray_files(&self) -> Result<()> {
        let cat = self.catalog();
        let named: HashSet<String> = Family::ALL
            .iter()
            .flat_map(|&f| {
                cat.runs[f.slot()]
                    .iter()
                    .filter(|r| r.file.as_ref().is_some_and(|f| !f.in_entries))
                    .map(move |r| run_file_name(f, r.id))
            })
            .collect();
        let dir = self.dir.join(RUN_DIR);
        let mut removed = false;
        for f in std::fs::read_dir(&dir).map_err(file_io)? {
            let f = f.map_err(file_io)?;
            if !named.contains(&*f.file_name().to_string_lossy()) {
                std::fs::remove_file(f.path()).map_err(file_io)?;
                removed = true;
            }
        }
        if removed {
            sync_dir(&dir)?;
        }
        Ok(())
    }

    /// Deletes the blocks of interrupted merges and of runs replaced by finished ones.
    fn clean_up(&self) -> Result<()> {
        let mut doomed: Vec<([u8; 10], Family, u64)> = Vec::new();
        for prefix in [MERGING, DEAD] {
            for kv in self.db.range([prefix]..[prefix + 1]) {
                let (k, _) = kv.map_err(io)?;
                let family = k.get(1).copied().and_then(Family::from_byte);
                match (family, k.get(2..10)) {
                    (Some(f), Some(id)) if k.len() == 10 => {
                        let id = u64::from_be_bytes(id.try_into().expect("8 bytes"));
                        doomed.push((run_key(prefix, f, id), f, id));
                    }
                    _ => return Err(corrupt(&k, "malformed merge marker")),
                }
            }
        }
        if doomed.is_empty() {
            return Ok(());
        }
        let cat = self.catalog();
        for (marker, f, id) in doomed {
            if cat.runs[f.slot()].iter().any(|r| r.id == id) {
                return Err(corrupt(&marker, format_args!("run {id} is marked for deletion but in the catalog")));
            }
            self.delete_run_blocks(f, id)?;
            self.db.remove(marker).map_err(io)?;
        }
        self.db.flush().map_err(io)?;
        Ok(())
    }

    /// Deletes every block of run `id`, in batches, or its file (the run is in no catalog).
    fn delete_run_blocks(&self, family: Family, id: u64) -> Result<()> {
        match std::fs::remove_file(self.dir.join(RUN_DIR).join(run_file_name(family, id))) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(file_io(e)),
        }
        let lo = run_key(BLOCK, family, id);
        let hi = run_key(BLOCK, family, id + 1);
        loop {
            let keys: Vec<sled::IVec> =
                self.db.range(lo..hi).keys().take(1024).collect::<std::result::Result<_, _>>().map_err(io)?;
            if keys.is_empty() {
                return Ok(());
            }
            let mut b = sled::Batch::default();
            for k in keys {
                b.remove(k);
            }
            self.db.apply_batch(b).map_err(io)?;
        }
    }

    pub(crate) fn catalog(&self) -> RwLockReadGuard<'_, Catalog> {
        self.catalog.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a commit's runs: their blocks to `bytes` (which the commit appends to the entry
    /// file at offset `base`), their descriptions and the catalog that names them to
    /// `batch`; call under the commit lock, then [`Runs::committed`] once the batch is
    /// durable.
    pub(crate) fn add_to_batch(
        &self,
        batch: &mut sled::Batch,
        bytes: &mut Vec<u8>,
        base: u64,
        records: impl Iterator<Item = (Vec<u8>, Vec<u8>)>,
        requests: impl Iterator<Item = (Vec<u8>, Vec<u8>)>,
    ) -> Vec<NewRun> {
        let cat = self.catalog();
        let mut next = cat.next_id;
        let mut new = Vec::new();
        let mut out = EntryAppend { bytes, base, file: &self.entries };
        if let Some(r) = build_run(batch, &mut out, Family::Records, next, records) {
            next += 1;
            new.push(r);
        }
        if let Some(r) = build_run(batch, &mut out, Family::Requests, next, requests) {
            next += 1;
            new.push(r);
        }
        if !new.is_empty() {
            let extra: Vec<(Family, u64)> = new.iter().map(|n| (n.family, n.run.id)).collect();
            batch.insert(META_RUNS, cat.encode(&extra));
            batch.insert(META_NEXT_RUN, &next.to_be_bytes()[..]);
        }
        new
    }

    /// The batch holding `new` is durable: lookups may now find its runs.
    pub(crate) fn committed(&self, new: Vec<NewRun>) {
        if new.is_empty() {
            return;
        }
        let backlog = {
            let mut cat = self.catalog.write().unwrap_or_else(|p| p.into_inner());
            for n in new {
                cat.next_id = cat.next_id.max(n.run.id + 1);
                cat.runs[n.family.slot()].push(Arc::new(n.run));
            }
            cat.runs.iter().any(|r| r.len() > BACKLOG_RUNS)
        };
        *self.work.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.wake.notify_one();
        if backlog {
            *self.backlog.lock().unwrap_or_else(|p| p.into_inner()) = true;
            self.backlog_wake.notify_one();
        }
    }

    /// The newest value of `key` in the runs of `family`.
    pub(crate) fn get(&self, family: Family, key: &[u8]) -> Result<Option<Vec<u8>>> {
        // The read lock is held through the block reads: a merge removes runs only under
        // the write lock, so no run disappears under a lookup.
        let cat = self.catalog();
        for run in cat.runs[family.slot()].iter().rev() {
            let b = run.fences.partition_point(|f| &**f < key);
            if b == run.fences.len() {
                continue;
            }
            let bk = block_key(family, run.id, b as u32);
            if let Some(found) = run.find(&self.db, &bk, b as u32, key)? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// Every key of `family`, run after run, block after block: in no particular order,
    /// and a key changed in several commits not yet merged together is listed once per
    /// run that holds it. This is what rebuilding the key filter needs (inserting a key
    /// twice changes nothing), at O(1) per key: merging the runs into one sorted, unique
    /// stream costs a comparison with every run's cursor per key, and made the filter
    /// rebuild take 6.7 s at 3,000,000 records (80 % of it in the merge).
    pub(crate) fn keys(&self, family: Family) -> Box<dyn Iterator<Item = Result<Vec<u8>>> + Send + '_> {
        // Registered as a reader before the catalog is read: a merge deletes replaced
        // blocks only when no key listing is running (see `Runs::merge`).
        let reading = KeyReader::new(self);
        let runs: Vec<Arc<Run>> = self.catalog().runs[family.slot()].clone();
        let (mut run, mut block) = (0usize, 0u32);
        // The keys of the block read last, in reverse (popped from the end).
        let mut keys: Vec<Vec<u8>> = Vec::new();
        Box::new(std::iter::from_fn(move || {
            let _reading = &reading;
            loop {
                if let Some(k) = keys.pop() {
                    return Some(Ok(k));
                }
                let r = runs.get(run)?;
                if block as usize >= r.fences.len() {
                    (run, block) = (run + 1, 0);
                    continue;
                }
                let listed = self.block_keys(family, r, block, &mut keys);
                block += 1;
                if let Err(e) = listed {
                    run = runs.len(); // nothing more after an error
                    return Some(Err(e));
                }
            }
        }))
    }

    /// Pushes the keys of block `block` of `run`, last first, onto `out`; checks, as a
    /// merge does, that the block ends at its fence.
    fn block_keys(&self, family: Family, run: &Run, block: u32, out: &mut Vec<Vec<u8>>) -> Result<()> {
        let key = block_key(family, run.id, block);
        let v = run.block(&self.db, &key, block)?;
        let b = Block::parse(&key, &v)?;
        let (last, _) = b.item(&key, b.count - 1)?;
        if last != &*run.fences[block as usize] {
            return Err(corrupt(&key, "index block does not end at its fence"));
        }
        for i in (0..b.count).rev() {
            out.push(b.item(&key, i)?.0.to_vec());
        }
        Ok(())
    }

    /// The runs in the catalog and the merges running now.
    pub(crate) fn status(&self) -> crate::IndexRuns {
        let cat = self.catalog();
        crate::IndexRuns {
            records: cat.len(Family::Records),
            requests: cat.len(Family::Requests),
            merging: self.merging.load(Ordering::Relaxed),
        }
    }

    /// Starts the merger threads: [`MERGERS`] at low priority and the backlog merger.
    pub(crate) fn start_mergers(self: &Arc<Runs>) -> Vec<std::thread::JoinHandle<()>> {
        let mut threads: Vec<_> = (0..MERGERS)
            .map(|i| {
                let runs = self.clone();
                std::thread::Builder::new()
                    .name(format!("sled-index-merge-{i}"))
                    .spawn(move || {
                        lower_priority();
                        runs.merger(Kind::Any)
                    })
                    .expect("spawn an index merger thread")
            })
            .collect();
        threads.push(self.start_backlog_merger());
        threads
    }

    /// Starts the merger that stays at normal priority and merges only while a family
    /// holds more than [`BACKLOG_RUNS`] runs.
    pub(crate) fn start_backlog_merger(self: &Arc<Runs>) -> std::thread::JoinHandle<()> {
        let runs = self.clone();
        std::thread::Builder::new()
            .name("sled-index-backlog".into())
            .spawn(move || runs.merger(Kind::Backlog))
            .expect("spawn the backlog index merger thread")
    }

    /// Stops the merger threads (an unfinished merge is abandoned and cleaned at next open).
    pub(crate) fn stop(&self) {
        self.stop.store(true, Ordering::Release);
        {
            let _w = self.work.lock().unwrap_or_else(|p| p.into_inner());
            self.wake.notify_all();
        }
        let _b = self.backlog.lock().unwrap_or_else(|p| p.into_inner());
        self.backlog_wake.notify_all();
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Acquire) || self.failed.load(Ordering::Acquire)
    }

    fn merger(&self, kind: Kind) {
        let (flag, wake) = match kind {
            Kind::Any => (&self.work, &self.wake),
            Kind::Backlog => (&self.backlog, &self.backlog_wake),
        };
        loop {
            {
                let mut work = flag.lock().unwrap_or_else(|p| p.into_inner());
                while !*work && !self.stopping() {
                    work = wake.wait(work).unwrap_or_else(|p| p.into_inner());
                }
                if self.stopping() {
                    return;
                }
                *work = false;
            }
            // Merge while there is something to merge; another merger may take a second
            // merge of another tier meanwhile.
            while let Some((family, span)) = self.claim(kind) {
                if kind == Kind::Any {
                    // Wake another merger: there may be a second merge to do side by side.
                    *self.work.lock().unwrap_or_else(|p| p.into_inner()) = true;
                    self.wake.notify_one();
                }
                self.merging.fetch_add(1, Ordering::Relaxed);
                let outcome = self.merge(family, &span);
                self.merging.fetch_sub(1, Ordering::Relaxed);
                let mut busy = self.busy.lock().unwrap_or_else(|p| p.into_inner());
                for r in &span {
                    busy.remove(&r.id);
                }
                drop(busy);
                match outcome {
                    Ok(()) => {}
                    Err(StoreError::Io(m)) if m == STOPPED => return,
                    Err(e) => {
                        // The store stops taking commits; reopening cleans up.
                        eprintln!("suanli-store: merging index runs failed, the store stops writing: {e}");
                        self.failed.store(true, Ordering::Release);
                        self.wake.notify_all();
                        self.backlog_wake.notify_all();
                        return;
                    }
                }
                if self.stopping() {
                    return;
                }
            }
        }
    }

    /// A merge for a merger of `kind` to do, its runs marked busy.
    fn claim(&self, kind: Kind) -> Option<(Family, Vec<Arc<Run>>)> {
        let cat = self.catalog();
        let mut busy = self.busy.lock().unwrap_or_else(|p| p.into_inner());
        for family in Family::ALL {
            let runs = &cat.runs[family.slot()];
            if kind == Kind::Backlog && runs.len() <= BACKLOG_RUNS {
                continue;
            }
            if let Some(span) = pick(runs, &busy) {
                busy.extend(span.iter().map(|r| r.id));
                return Some((family, span));
            }
        }
        None
    }

    /// Merges `span` (adjacent runs of `family`, oldest first) into one new run and puts it
    /// in their place.
    fn merge(&self, family: Family, span: &[Arc<Run>]) -> Result<()> {
        // A fresh id, and the marker that says its blocks are not in the catalog yet.
        let id = {
            let _w = self.commit_lock.lock().unwrap_or_else(|p| p.into_inner());
            let mut cat = self.catalog.write().unwrap_or_else(|p| p.into_inner());
            let id = cat.next_id;
            let mut b = sled::Batch::default();
            b.insert(META_NEXT_RUN, &(id + 1).to_be_bytes()[..]);
            b.insert(&run_key(MERGING, family, id)[..], &[][..]);
            self.db.apply_batch(b).map_err(io)?;
            cat.next_id = id + 1;
            id
        };
        // The output goes to a file of its own, written once, in order: no sled insert,
        // and the disk space of the runs it replaces comes back as soon as their files
        // are removed (sled keeps a deleted value's bytes until it cleans the segment).
        let mut merge = Merge::new(&self.db, family, span)?;
        let mut w = RunWriter::new(family, id);
        let dir = self.dir.join(RUN_DIR);
        let path = dir.join(run_file_name(family, id));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .map_err(file_io)?;
        let mut out = std::io::BufWriter::with_capacity(MERGE_BATCH_BYTES, file);
        let mut blocks: Vec<Placed> = Vec::new();
        let mut put = |out: &mut std::io::BufWriter<std::fs::File>, v: &[u8]| -> Result<()> {
            use std::io::Write;
            out.write_all(v).map_err(file_io)?;
            let offset = blocks.last().map_or(0, |&(o, l, _)| o + u64::from(l));
            blocks.push((offset, u32::try_from(v.len()).expect("a block is far below 4 GiB"), crc32fast::hash(v)));
            Ok(())
        };
        let (mut pending, mut unsynced) = (0usize, 0usize);
        loop {
            let block = merge.next(&self.db, |k, v| w.push(k, v))?;
            let block = match block {
                None => break,
                Some(None) => continue,
                Some(Some(b)) => b,
            };
            pending += block.1.len();
            put(&mut out, &block.1)?;
            if pending >= MERGE_BATCH_BYTES {
                if self.stopping() {
                    return Err(StoreError::Io(STOPPED.into()));
                }
                pending = 0;
                unsynced += MERGE_BATCH_BYTES;
                if unsynced >= MERGE_SYNC_BYTES {
                    // Written back as it goes: one sync of a whole large run at its end
                    // is a burst of writes that the commits' own syncs queue behind.
                    use std::io::Write;
                    out.flush().map_err(file_io)?;
                    out.get_ref().sync_data().map_err(file_io)?;
                    unsynced = 0;
                }
            }
        }
        let (tail, run) = w.finish();
        if let Some((_, v)) = tail {
            put(&mut out, &v)?;
        }
        let file = out.into_inner().map_err(|e| file_io(e.into_error()))?;
        // The description (fences, block lengths and CRCs) goes after the blocks, and sled
        // holds only where it is: it grows with the run (about 40 bytes a block, over half
        // a megabyte at 10 M records), and a sled value past a quarter of a log segment would go to
        // sled's blob files, which it never syncs (see `sled_store`).
        let end = blocks.last().map_or(0, |&(o, l, _)| o + u64::from(l));
        let mut run = run.expect("merged runs hold items");
        run.file = Some(RunFile { file: Arc::new(file), blocks, in_entries: false, table: None });
        let description = run.encode();
        let f = run.file.as_mut().expect("just set");
        {
            use std::os::unix::fs::FileExt;
            f.file.write_all_at(&description, end).map_err(file_io)?;
        }
        f.table =
            Some((end, u32::try_from(description.len()).expect("far below 4 GiB"), crc32fast::hash(&description)));
        // Durable, and named in its directory, before the catalog can name it.
        f.file.sync_all().map_err(file_io)?;
        sync_dir(&dir)?;

        // Install: replace the span in the catalog, in one batch, with no reader inside.
        {
            let _w = self.commit_lock.lock().unwrap_or_else(|p| p.into_inner());
            if self.failed.load(Ordering::Acquire) {
                return Err(StoreError::Io("the store failed during a merge".into()));
            }
            let mut cat = self.catalog.write().unwrap_or_else(|p| p.into_inner());
            let list = &cat.runs[family.slot()];
            let at = list.iter().position(|r| r.id == span[0].id).expect("merged runs stay in the catalog");
            assert!(
                list[at..].iter().take(span.len()).map(|r| r.id).eq(span.iter().map(|r| r.id)),
                "merged runs stay adjacent"
            );
            let mut after: Vec<Arc<Run>> = list[..at].to_vec();
            after.push(Arc::new(run));
            after.extend(list[at + span.len()..].iter().cloned());
            let new_catalog = Catalog {
                runs: match family {
                    Family::Records => [after.clone(), cat.runs[1].clone()],
                    Family::Requests => [cat.runs[0].clone(), after.clone()],
                },
                next_id: cat.next_id,
            };
            let mut b = sled::Batch::default();
            let new_run = &after[at];
            b.insert(&new_run.description_key(family)[..], new_run.description());
            b.remove(&run_key(MERGING, family, id)[..]);
            for r in span {
                b.remove(&r.description_key(family)[..]);
                b.insert(&run_key(DEAD, family, r.id)[..], &[][..]);
            }
            b.insert(META_RUNS, new_catalog.encode(&[]));
            self.db.apply_batch(b).map_err(io)?;
            *cat = new_catalog;
        }
        // The old runs are unreachable once this is durable; delete their blocks after,
        // once no key listing still reads them.
        self.db.flush().map_err(io)?;
        {
            let mut readers = self.key_readers.lock().unwrap_or_else(|p| p.into_inner());
            while *readers > 0 {
                readers = self.readers_done.wait(readers).unwrap_or_else(|p| p.into_inner());
            }
        }
        for r in span {
            self.delete_run_blocks(family, r.id)?;
            self.db.remove(run_key(DEAD, family, r.id)).map_err(io)?;
        }
        Ok(())
    }
}

/// Which merges a merger thread takes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    /// Any merge there is ([`MERGERS`] threads, at [`MERGER_NICE`]).
    Any,
    /// Only merges of a family over [`BACKLOG_RUNS`] runs (one thread, normal priority).
    Backlog,
}

/// Gives the calling thread [`MERGER_NICE`]; where that fails (or off Linux) the merges
/// run at normal priority, which is correct, only slower for everything else.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    if let Err(e) = rustix::process::setpriority_process(Some(rustix::thread::gettid()), MERGER_NICE) {
        eprintln!("suanli-store: the index merger runs at normal priority (setpriority: {e})");
    }
}

/// A running key listing, counted so that merges keep the blocks it may read.
struct KeyReader<'a>(&'a Runs);

impl<'a> KeyReader<'a> {
    fn new(runs: &'a Runs) -> KeyReader<'a> {
        *runs.key_readers.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        KeyReader(runs)
    }
}

impl Drop for KeyReader<'_> {
    fn drop(&mut self) {
        *self.0.key_readers.lock().unwrap_or_else(|p| p.into_inner()) -= 1;
        self.0.readers_done.notify_all();
    }
}

const STOPPED: &str = "the store is closing";

#[cfg(test)]
mod tests {
    use super::*;

    fn run(id: u64, items: u64) -> Arc<Run> {
        Arc::new(Run { id, items, fences: vec![Box::from(&b"k"[..])], file: None })
    }

    #[test]
    fn pick_merges_the_lowest_tier_first_and_keeps_tiers_ordered() {
        let none = HashSet::new();
        // Seven small runs: nothing to merge yet.
        let mut runs: Vec<Arc<Run>> = (0..7).map(|i| run(i, 100)).collect();
        assert!(pick(&runs, &none).is_none());
        runs.push(run(7, 100));
        let span = pick(&runs, &none).unwrap();
        assert_eq!(span.iter().map(|r| r.id).collect::<Vec<_>>(), (0..8).collect::<Vec<_>>());
        // A big old run and eight small new ones: the small ones are merged, not the big one.
        let mut runs = vec![run(100, 1_000_000)];
        runs.extend((0..8).map(|i| run(i, 100)));
        let span = pick(&runs, &none).unwrap();
        assert_eq!(span[0].id, 0);
        // A run being merged is not taken twice.
        let busy: HashSet<u64> = [3].into_iter().collect();
        assert!(pick(&runs, &busy).is_none());
    }

    /// Commits one run of record index `writes`, as a commit does: blocks appended to the
    /// entry file, description in sled.
    fn commit_run(runs: &Runs, db: &sled::Db, writes: impl Iterator<Item = (Vec<u8>, Vec<u8>)>) {
        use std::os::unix::fs::FileExt;
        let _w = runs.commit_lock.lock().unwrap();
        let mut b = sled::Batch::default();
        let base = runs.entries.metadata().unwrap().len();
        let mut bytes = Vec::new();
        let new = runs.add_to_batch(&mut b, &mut bytes, base, writes, std::iter::empty());
        runs.entries.write_all_at(&bytes, base).unwrap();
        db.apply_batch(b).unwrap();
        runs.committed(new);
    }

    /// The store's entry file in `dir` (the runs' tests have no store around them).
    fn entries(dir: &std::path::Path) -> Arc<std::fs::File> {
        let path = dir.join(crate::entry_file::FILE_NAME);
        Arc::new(std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path).unwrap())
    }

    /// Ten fresh keys tagged `tag`.
    fn ten_keys(tag: u32) -> impl Iterator<Item = (Vec<u8>, Vec<u8>)> {
        (0..10).map(move |i| (format!("key-{tag:06}-{i:04}").into_bytes(), vec![1u8; 8]))
    }

    /// Commits one run as stores before schema 3 did: its blocks sled values (`x`), its
    /// description under `f`.
    fn commit_tree_run(runs: &Runs, db: &sled::Db, mut writes: Vec<(Vec<u8>, Vec<u8>)>) {
        writes.sort();
        let _w = runs.commit_lock.lock().unwrap();
        let id = runs.catalog().next_id;
        let mut w = RunWriter::new(Family::Records, id);
        let mut b = sled::Batch::default();
        for (k, v) in &writes {
            if let Some((bk, bv)) = w.push(k, v) {
                b.insert(&bk[..], bv);
            }
        }
        let (tail, run) = w.finish();
        if let Some((bk, bv)) = tail {
            b.insert(&bk[..], bv);
        }
        let run = run.unwrap();
        b.insert(&run_key(FENCES, Family::Records, id)[..], run.encode());
        b.insert(META_RUNS, runs.catalog().encode(&[(Family::Records, id)]));
        b.insert(META_NEXT_RUN, &(id + 1).to_be_bytes()[..]);
        db.apply_batch(b).unwrap();
        runs.committed(vec![NewRun { family: Family::Records, run }]);
    }

    #[test]
    fn runs_whose_blocks_are_sled_values_are_read_and_merged_with_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().path(dir.path()).open().unwrap();
        let runs = Runs::open(db.clone(), dir.path(), entries(dir.path())).unwrap();
        // Old runs first (as a store upgraded to schema 3 holds them), then new ones; each
        // round rewrites one shared key.
        let round = |r: u8| {
            (0..2000u32)
                .map(move |i| (format!("key-{r}-{i:05}").into_bytes(), vec![r; 30]))
                .chain(std::iter::once((b"key-shared".to_vec(), vec![100 + r])))
        };
        for r in 0..4 {
            commit_tree_run(&runs, &db, round(r).collect());
        }
        for r in 4..MERGE_FANIN as u8 {
            commit_run(&runs, &db, round(r));
        }
        assert!(db.range([BLOCK]..[BLOCK + 1]).count() > 4, "the old runs' blocks are in sled");
        drop(runs);
        let runs = Runs::open(db.clone(), dir.path(), entries(dir.path())).unwrap();
        let check = |runs: &Runs| {
            assert_eq!(runs.get(Family::Records, b"key-shared").unwrap(), Some(vec![100 + MERGE_FANIN as u8 - 1]));
            for r in 0..MERGE_FANIN as u8 {
                let v = runs.get(Family::Records, format!("key-{r}-01234").as_bytes()).unwrap();
                assert_eq!(v, Some(vec![r; 30]), "round {r}");
            }
        };
        check(&runs);
        let (family, span) = runs.claim(Kind::Any).unwrap();
        assert_eq!(span.len(), MERGE_FANIN);
        runs.merge(family, &span).unwrap();
        assert_eq!(runs.catalog().len(Family::Records), 1);
        check(&runs);
        assert_eq!(runs.keys(Family::Records).count(), 2000 * MERGE_FANIN + 1);
        assert_eq!(db.range([BLOCK]..[BLOCK + 1]).count(), 0, "the old runs' blocks are deleted");
        assert_eq!(db.range([FENCES]..[FENCES + 1]).count(), 0);
        assert_eq!(db.range([ENTRY_FENCES]..[ENTRY_FENCES + 1]).count(), 0);
    }

    #[test]
    fn the_backlog_merger_takes_over_only_beyond_the_bound() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().path(dir.path()).open().unwrap();
        let runs = Arc::new(Runs::open(db.clone(), dir.path(), entries(dir.path())).unwrap());
        for tag in 0..BACKLOG_RUNS as u32 {
            commit_run(&runs, &db, ten_keys(tag));
        }
        // At the bound the low-priority mergers have work, the backlog merger none.
        assert!(runs.claim(Kind::Backlog).is_none());
        let (_, span) = runs.claim(Kind::Any).expect("eight small runs to merge");
        runs.busy.lock().unwrap().retain(|id| !span.iter().any(|r| r.id == *id));
        for tag in BACKLOG_RUNS as u32..BACKLOG_RUNS as u32 + 20 {
            commit_run(&runs, &db, ten_keys(tag));
        }
        // Beyond it (and with no other merger running) the backlog merger brings the
        // family back within the bound, and every key is still found.
        let merger = runs.start_backlog_merger();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        while runs.catalog().len(Family::Records) > BACKLOG_RUNS {
            assert!(std::time::Instant::now() < deadline, "{} runs left", runs.catalog().len(Family::Records));
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        runs.stop();
        merger.join().unwrap();
        for tag in (0..BACKLOG_RUNS as u32 + 20).step_by(7) {
            let key = format!("key-{tag:06}-0003");
            assert_eq!(runs.get(Family::Records, key.as_bytes()).unwrap(), Some(vec![1u8; 8]), "{key}");
        }
    }

    #[test]
    fn blocks_round_trip_and_merges_keep_the_newest_value() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().path(dir.path()).open().unwrap();
        let runs = Arc::new(Runs::open(db.clone(), dir.path(), entries(dir.path())).unwrap());
        let n = 3000u32;
        for round in 0..MERGE_FANIN as u32 {
            // Every round rewrites key 7 and adds its own keys; values carry the round.
            let writes = (0..n)
                .map(move |i| {
                    (format!("key-{:06}", i * MERGE_FANIN as u32 + round).into_bytes(), vec![round as u8; 40])
                })
                .chain(std::iter::once((b"key-000007".to_vec(), vec![200 + round as u8])));
            commit_run(&runs, &db, writes);
        }
        assert_eq!(runs.catalog().len(Family::Records), MERGE_FANIN);
        assert_eq!(runs.get(Family::Records, b"key-000007").unwrap(), Some(vec![200 + MERGE_FANIN as u8 - 1]));
        let (family, span) = runs.claim(Kind::Any).unwrap();
        runs.merge(family, &span).unwrap();
        assert_eq!(runs.catalog().len(Family::Records), 1);
        assert_eq!(runs.get(Family::Records, b"key-000007").unwrap(), Some(vec![200 + MERGE_FANIN as u8 - 1]));
        for i in (0..n * MERGE_FANIN as u32).step_by(101) {
            if i == 7 {
                continue;
            }
            let v = runs.get(Family::Records, format!("key-{i:06}").as_bytes()).unwrap();
            assert_eq!(v, Some(vec![(i % MERGE_FANIN as u32) as u8; 40]), "key {i}");
        }
        assert_eq!(runs.get(Family::Records, b"key-999999").unwrap(), None);
        assert_eq!(runs.get(Family::Records, b"a").unwrap(), None);
        let keys: Vec<Vec<u8>> = runs.keys(Family::Records).map(|k| k.unwrap()).collect();
        assert_eq!(keys.len(), (n * MERGE_FANIN as u32) as usize);
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
        // The replaced runs' blocks are gone.
        assert_eq!(db.range(block_key(Family::Records, 0, 0)..block_key(Family::Records, 8, 0)).count(), 0);
        assert_eq!(db.range([DEAD]..[DEAD + 1]).count(), 0);
        assert_eq!(db.range([MERGING]..[MERGING + 1]).count(), 0);

        // The merged run is a file, its description at the file's end and only where that
        // is in sled (a `T` key, 16 bytes however large the run); nothing else is in the
        // run directory.
        let merged = runs.catalog().runs[Family::Records.slot()][0].clone();
        let name = run_file_name(Family::Records, merged.id);
        let files: Vec<String> = std::fs::read_dir(dir.path().join(RUN_DIR))
            .unwrap()
            .map(|f| f.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(files, vec![name.clone()]);
        let at = db.get(run_key(TABLE_FENCES, Family::Records, merged.id)).unwrap().expect("a T description");
        assert_eq!(at.len(), 16);
        assert!(db.get(run_key(FILE_FENCES, Family::Records, merged.id)).unwrap().is_none());
        let merged_id = merged.id;
        drop((runs, merged));

        // Reopened: the file run is found again, and a stray file (a merge that crashed
        // before its install) is removed.
        std::fs::write(dir.path().join(RUN_DIR).join(run_file_name(Family::Records, 999)), b"half a run").unwrap();
        let runs = Runs::open(db.clone(), dir.path(), entries(dir.path())).unwrap();
        assert_eq!(runs.get(Family::Records, b"key-000007").unwrap(), Some(vec![200 + MERGE_FANIN as u8 - 1]));
        assert_eq!(runs.get(Family::Records, b"key-000100").unwrap(), Some(vec![4; 40]));
        assert_eq!(std::fs::read_dir(dir.path().join(RUN_DIR)).unwrap().count(), 1);
        drop(runs);

        // A flipped byte in the file is reported when its block is read, naming the run.
        let path = dir.path().join(RUN_DIR).join(&name);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[100] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        let runs = Runs::open(db.clone(), dir.path(), entries(dir.path())).unwrap();
        match runs.get(Family::Records, b"key-000000") {
            Err(StoreError::Corrupt(m)) => assert!(m.contains("record index run") && m.contains("checksum"), "{m}"),
            other => panic!("expected the damaged block to be reported, got {other:?}"),
        }
        drop(runs);
        // A file cut short is refused at open.
        std::fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
        match Runs::open(db.clone(), dir.path(), entries(dir.path())) {
            Err(StoreError::Corrupt(m)) => assert!(m.contains("description (T/") && m.contains("description"), "{m}"),
            other => panic!("expected a short run file to be refused, got {:?}", other.map(|_| ())),
        }
        bytes[100] ^= 1;

        // As a merge wrote runs before descriptions moved into their files: the whole
        // description under `F` in sled, the file only blocks. Still read, and a file cut
        // short is still refused.
        let table = u64::from_be_bytes(at[..8].try_into().unwrap()) as usize;
        db.insert(run_key(FILE_FENCES, Family::Records, merged_id), &bytes[table..]).unwrap();
        assert!(db.remove(run_key(TABLE_FENCES, Family::Records, merged_id)).unwrap().is_some());
        std::fs::write(&path, &bytes[..table]).unwrap();
        let runs = Runs::open(db.clone(), dir.path(), entries(dir.path())).unwrap();
        assert_eq!(runs.get(Family::Records, b"key-000100").unwrap(), Some(vec![4; 40]));
        assert_eq!(runs.keys(Family::Records).count(), (n * MERGE_FANIN as u32) as usize);
        drop(runs);
        std::fs::write(&path, &bytes[..table - 1]).unwrap();
        match Runs::open(db.clone(), dir.path(), entries(dir.path())) {
            Err(StoreError::Corrupt(m)) => assert!(m.contains("description (F/") && m.contains("holds"), "{m}"),
            other => panic!("expected a short run file to be refused, got {:?}", other.map(|_| ())),
        }
    }
}
