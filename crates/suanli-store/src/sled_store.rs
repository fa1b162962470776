//! The durable store: everything in one sled tree, so that one group commit is one
//! `sled::Batch` (atomic) followed by one `flush` (fsync) before `commit` returns.
//!
//! # Key layout (schema version [`SCHEMA_VERSION`])
//!
//! Beside sled's files the store directory holds `entries` (the entry chunks, see
//! [`crate::entry_file`]) and `runs/` (index runs written by merges, see [`crate::runs`]).
//!
//! Every key starts with a one-byte prefix naming its family; integers are big-endian so
//! that byte order is numeric order and range scans work.
//!
//! | key | value |
//! | --- | --- |
//! | `e` ‖ first seq (u64) | where a chunk of consecutive entries of one commit is in the entry file (see below); in stores made before it, the chunk itself |
//! | `x` ‖ family ‖ run id (u64) ‖ block (u32) | a block of a commit's index run: sorted keys and values (see [`crate::runs`]); schema 2 only, read, never written |
//! | `f` ‖ family ‖ run id (u64) | an index run's item count and the last key of each block (its blocks are `x` values) |
//! | `E` ‖ family ‖ run id (u64) | the same for a commit's run (schema 3), with the length and CRC of each block and where the first is in the entry file |
//! | `F` ‖ family ‖ run id (u64) | the same for a run written by a merge, with the length and CRC of each block of its file in `runs/`; before schema 3 only, read, never written |
//! | `T` ‖ family ‖ run id (u64) | where that description is in the run's file, after its blocks (schema 3): offset, length, CRC |
//! | `g` ‖ family ‖ run id (u64) | (empty) a merge is writing this run; deleted at open if found |
//! | `d` ‖ family ‖ run id (u64) | (empty) a merge replaced this run; its blocks are deleted at open if found |
//! | `r` ‖ [`RecordKey::encode`] | [`RecordSummary::encode`]: schema 1 only, read, never written |
//! | `q` ‖ [`RequestKey::encode`] | [`RequestSummary::encode`]: schema 1 only, read, never written |
//! | `n` ‖ level (u8) ‖ index (u64) | 32-byte Merkle subtree hash |
//! | `h` ‖ first seq (u64) | the leaf hashes of one entry chunk's entries, their first 8 bytes each, in order |
//! | `c` ‖ tree size (u64) | signed checkpoint note text (UTF-8) |
//! | `m` ‖ `schema` | [`SCHEMA_VERSION`] as u32 |
//! | `m` ‖ `count` | entry count as u64, rewritten by every batch that adds entries |
//! | `m` ‖ `fileend` | where the bytes of the entry file the tree points to end (u64), rewritten by every batch that appends to it (schema 3) |
//! | `m` ‖ `frontier` | encoded Merkle frontier (last non-empty one committed) |
//! | `m` ‖ `snapshot` | before this layout: covered entry count (u64) ‖ snapshot bytes; read, deleted by the next snapshot |
//! | `m` ‖ `snapshot-head` | the latest snapshot: covered entry count (u64) ‖ pieces (u32) ‖ total bytes (u64) |
//! | `p` ‖ piece (u32) | a piece of the latest snapshot, [`SNAPSHOT_PIECE_BYTES`] at most |
//! | `m` ‖ `runs` | the index runs, oldest first: count (u32) ‖ count × (family ‖ run id) |
//! | `m` ‖ `nextrun` | the next index run id (u64) |
//!
//! In index keys the family byte is `r` (record index: [`RecordKey::encode`] → a pointer
//! to the record's facts, see "Record facts" below; [`RecordSummary::encode`] in runs
//! written before schema 3) or `q` (request index: [`RequestKey::encode`] →
//! [`RequestSummary::encode`]).
//!
//! # The record and request indexes: sorted runs, no insert per record
//!
//! Schema 1 kept one sled key per record and per request, and a call-graph profile of the
//! commit thread showed its time inside those inserts (node splits and copies, page-cache
//! links, allocation), one per record. Since schema 2 each commit writes its index writes
//! as one *run*, sorted by key and cut into blocks of about 32 KiB: a few blocks per
//! commit, appended to the entry file next to its entry chunks since schema 3 (sled values
//! before), instead of thousands of inserts. Background threads merge runs
//! of one size tier eight at a time (an LSM tree built of sled values), so a store of
//! n records holds O(log n) runs. A lookup goes to the newest run first and reads one block
//! per run (the block is found by binary search in the run's fences, kept in memory: about
//! 40 bytes per 32 KiB block); the sequencer's key filter ([`crate::filter`]) keeps nearly
//! every lookup of a new record from reaching the store at all. See [`crate::runs`] for
//! the merge and its crash safety. Alternatives measured against: the per-record keys of
//! schema 1 (kept readable, so schema-1 stores open and are upgraded in place: their `r`
//! and `q` keys are read after the runs and never rewritten).
//!
//! `count` is written in the same atomic batch as the entries it counts, and checked
//! against the last chunk at open, so a store whose log and count disagree is refused
//! instead of being appended to at the wrong sequence number.
//!
//! # Record facts (schema 3)
//!
//! What the record index keeps of a record ([`RecordSummary`]: its facts — parties, amounts,
//! money lines — and payload hash) is about 170 bytes, and is needed only when a lookup
//! finds the record: a `DUPLICATE` answer, a conflict, a reversal. Kept in the index runs,
//! those bytes were written into sled with the commit's run, read and written again by
//! every merge of every size tier, and deleted from sled after the first: a profile at
//! 290,000 batch-signed records/s put the mergers, the commit's run building and sled's IO
//! at a quarter of the server's samples. So each commit appends, after its entry chunks in
//! the entry file (same write, same `fdatasync`), the *facts* of each record index write:
//! `payload hash (32 bytes) ‖ facts` ([`suanli_core::entry::put_facts`]). The run value is
//! then a pointer to them, [`FACTS_POINTER`] ‖ offset (u64) ‖ length (u32) ‖ CRC-32 (u32)
//! ‖ reversed (u8, and the reversal's sequence number as u64 when 1): 18 or 26 bytes
//! instead of about 180, so runs and their merges shrink about fourfold. A reversal writes
//! the record's facts again in its own commit (rare; the older copy is left where it is).
//! Every older value starts with the facts' sequence number (u64, big-endian), whose first
//! byte is 0 below 2^56 entries, so runs written before schema 3 are read as they are.
//! Measured with fresh servers alternating, 1M batch-signed records, three pairs: 6.23 →
//! 5.83 µs of server CPU per record, 291,500 → 321,900 records/s (`bench/ab.sh`).
//!
//! # Entry chunks
//!
//! Every sled insert costs several microseconds (node copies, page-cache links, epoch
//! garbage), so the entries of one commit are written as a few chunks of about
//! [`ENTRY_CHUNK_BYTES`] each: `count (u32) ‖ count × end offset (u32) ‖ entry bytes…`, all
//! big-endian. The chunks go to the append-only entry file ([`crate::entry_file`]), synced
//! before the commit's sled batch, and the batch holds a pointer to each under its first
//! entry's sequence number. An entry is found by the last chunk key at or below its
//! sequence number, then sliced out of the chunk by its offsets. Stores made before the
//! entry file hold their older chunks as the values themselves, and are read as such.
//!
//! # No value reaches sled's blob files
//!
//! sled 0.34 writes a log message larger than a quarter of a log segment (a large value,
//! or a tree node consolidated with its values) to a file of its own under `blobs/`, and
//! never fsyncs those files: only the log is synced by `flush` (sled issue #1077 shows it
//! with the ALICE crash-state checker). A commit acknowledged after `flush` could then lose
//! its entries on power loss, and a log pointing at a lost blob makes the store unreadable,
//! which no kill -9 test can show (the page cache survives the process). Until this layout
//! one commit's entries were one value of up to several MiB, and every tree node holding
//! index blocks was rewritten as a blob once it passed 128 KiB: measured after 2,000,000
//! records, 1,473 blob files held 1.3 GB of the 1.9 GB store.
//!
//! So every message stays in the synced log: new stores use log segments of
//! [`SEGMENT_BYTES`] (8 MiB, blob threshold 2 MiB), entry chunks go to the entry file and
//! merged index runs to files of their own (both synced by us before sled's log names
//! them), and the largest values left in sled are snapshot pieces of
//! [`SNAPSHOT_PIECE_BYTES`] (and, in stores before schema 3, index blocks of 32 KiB). A leaf node splits past 16 items, so it
//! stays near 1.1 MiB at most. A store created with sled's default 512 KiB segments keeps them (sled refuses to
//! reopen with another size): [`SledStore::segment_bytes`] tells, and suanlid warns.
//!
//! # Leaf hashes
//!
//! Finding an entry by its leaf hash (for an inclusion proof) needs a hash → sequence
//! number map, and a key per entry would cost an insert per record on the hot path. So
//! each commit writes its leaf hashes as one more value beside its entry chunk, and a
//! lookup scans those values, hashing an entry only when its prefix matches. Only the
//! first [`crate::LEAF_PREFIX_LEN`] bytes of each hash are kept: 8 bytes per entry next to
//! its few hundred, so the commit path barely notices. The family was added without a
//! schema change: entries committed before it have no `h` value, and a lookup that
//! reaches them hashes the entries instead.
//!
//! # Visibility
//!
//! Readers never see a batch before it is durable: entry reads are capped at the count
//! published after the flush, and point reads wait (briefly, on a read lock) while a batch
//! is being applied and flushed. Otherwise a query could show a record, or a checkpoint
//! could be served, that a crash one millisecond later would erase.
//!
//! # Failure
//!
//! If sled fails while applying or flushing a batch, `commit` returns [`StoreError::Io`]
//! and the store refuses further commits: whether that batch reached the disk is unknown
//! until the store is reopened (the reopen checks then find a consistent state either
//! way, because the batch was atomic).

use std::ops::Bound;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use suanli_core::index::{RecordKey, RecordSummary, RequestKey, RequestSummary};

use crate::entry_file::{EntryFile, Pointer};
use crate::runs::{Family, NewRun, Runs};
use crate::{CommitBatch, Hash, NodeKey, Result, SCHEMA_VERSION, Store, StoreError, StoredBytes};

/// Schema versions this build opens: 1 (per-record index keys) and 2 (record facts inside
/// the index runs) are upgraded in place, by marking them; their values stay readable.
const READABLE_SCHEMAS: [u32; 3] = [1, 2, SCHEMA_VERSION];

/// First byte of a record index value that points to the record's facts in the entry file
/// (see "Record facts" in the module documentation).
pub const FACTS_POINTER: u8 = 0xFF;

/// Bytes of sled's page cache: bounded, so memory does not grow with the index.
pub const CACHE_CAPACITY_BYTES: u64 = 32 * 1024 * 1024;
/// Period of sled's background flusher, which is also what evicts cached pages.
pub const BACKGROUND_FLUSH_MS: u64 = 200;
/// How long an open waits, at most, for sled's file lock to be released (see
/// [`SledStore::open`]): the open polls for the lock and goes on as soon as it is free, so
/// this only bounds the wait. It was 2 s until a clean-clone CI run on a loaded 2-core
/// machine saw sled's threads of a just-dropped store hold the lock longer than that
/// (`many_commits_survive_reopen`). Another suanlid on the same directory is refused
/// before this, by suanlid's own lock file.
pub const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

const ENTRY: u8 = b'e';
const RECORD: u8 = b'r';
const REQUEST: u8 = b'q';
const NODE: u8 = b'n';
const LEAVES: u8 = b'h';
const CHECKPOINT: u8 = b'c';
const META: u8 = b'm';

const META_SCHEMA: &[u8] = b"mschema";
const META_COUNT: &[u8] = b"mcount";
const META_FILE_END: &[u8] = b"mfileend";
const META_FRONTIER: &[u8] = b"mfrontier";
const META_SNAPSHOT: &[u8] = b"msnapshot";
const META_SNAPSHOT_HEAD: &[u8] = b"msnapshot-head";
const SNAPSHOT_PIECE: u8 = b'p';

/// Log segment size of new stores: sled writes a message larger than a quarter of it to an
/// unsynced blob file (see the module documentation).
pub const SEGMENT_BYTES: usize = 8 << 20;
/// sled's default segment size, which stores created before [`SEGMENT_BYTES`] keep.
pub const SLED_DEFAULT_SEGMENT_BYTES: usize = 512 << 10;
/// An entry chunk is cut once it holds this many bytes of entries.
pub const ENTRY_CHUNK_BYTES: usize = 64 << 10;
/// The snapshot is stored in pieces of at most this many bytes.
pub const SNAPSHOT_PIECE_BYTES: usize = 64 << 10;

fn snapshot_piece_key(i: u32) -> [u8; 5] {
    let mut k = [0u8; 5];
    k[0] = SNAPSHOT_PIECE;
    k[1..].copy_from_slice(&i.to_be_bytes());
    k
}

/// The sled configuration of the store in `dir`, with the segment size it was created with
/// ([`SEGMENT_BYTES`] for a new one): sled refuses to open a store with another. For tools
/// and tests that open the raw tree.
pub fn sled_config(dir: &Path) -> sled::Config {
    sized_config(dir).0
}

/// [`sled_config`] with the segment size it chose.
fn sized_config(dir: &Path) -> (sled::Config, usize) {
    // See "No value reaches sled's blob files" above.
    let segment_bytes = persisted_segment_size(dir).unwrap_or(SEGMENT_BYTES);
    (sled::Config::new().path(dir).segment_size(segment_bytes), segment_bytes)
}

/// Opens sled's tree in `dir` with `config` (from [`sled_config`]). Every open of a store's
/// tree goes through here, for two things sled 0.34 gets wrong:
///
/// - **A snapshot left half-written.** sled writes its snapshot to `snap.<lsn>.generating`
///   and renames it to `snap.<lsn>` once it is complete and synced. But when it opens, it
///   reads the last of all `snap.*` names in sorted order, the `.generating` ones included
///   (`Config::get_snapshot_files` leaves out only `.in___motion`). A process killed while
///   writing a snapshot, which sled does at every open and now and then while running,
///   leaves a file that sorts after the good snapshot it was to replace, and the next open
///   fails with `Corruption { at: None }` (sled issues #1527 and #1533). A clean-clone CI
///   run of the crash test met exactly this. A `.generating` file was never renamed, so
///   it never became the snapshot: sled kept the one before it (it removes older snapshots
///   only after the rename) and replays its log from there. So when sled reports
///   corruption, the leftovers are removed and the open is tried once more. This happens
///   only after sled held the lock (it locks before it reads a snapshot), so no other
///   `Db` can still be writing one of them.
/// - **Its file lock outliving the `Db`.** sled's background threads let go of the file a
///   moment after the last `Db` is dropped, so an open in the same process can find the lock
///   still held. sled reports that as `ErrorKind::Other` ("could not acquire lock on …"),
///   not `WouldBlock`. This waits for the lock, at most `lock_wait`; another suanlid on
///   the same directory is refused before it gets here, by suanlid's own lock file.
pub fn open_db(
    config: &sled::Config,
    dir: &Path,
    lock_wait: std::time::Duration,
) -> std::result::Result<sled::Db, sled::Error> {
    let deadline = std::time::Instant::now() + lock_wait;
    let mut cleaned = false;
    loop {
        match config.open() {
            Err(sled::Error::Io(e)) if is_lock_held(&e) && std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e @ sled::Error::Corruption { .. }) if !cleaned => {
                cleaned = true;
                if remove_unfinished_snapshots(dir)? == 0 {
                    return Err(e);
                }
            }
            opened => return opened,
        }
    }
}

/// Opens the raw tree of the store in `dir`, for tools and tests: [`open_db`] with
/// [`sled_config`], waiting at most [`LOCK_WAIT`] for the lock.
pub fn open_raw(dir: &Path) -> std::result::Result<sled::Db, sled::Error> {
    open_db(&sled_config(dir), dir, LOCK_WAIT)
}

/// Whether sled's open failed because its file lock is held (see [`open_db`]).
fn is_lock_held(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::WouldBlock || e.to_string().starts_with("could not acquire lock on ")
}

/// Removes the `snap.*.generating` files in `dir`: snapshots sled began to write and never
/// renamed into place (see [`open_db`]). Returns how many it removed.
fn remove_unfinished_snapshots(dir: &Path) -> std::io::Result<usize> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut removed = 0;
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("snap.") && name.ends_with(".generating") {
            std::fs::remove_file(entry.path())?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// The segment size a store in `dir` was created with (sled keeps it in `conf`), or `None`
/// for a new store.
fn persisted_segment_size(dir: &Path) -> Option<usize> {
    let conf = std::fs::read(dir.join("conf")).ok()?;
    let text = String::from_utf8_lossy(&conf);
    let line = text.lines().find_map(|l| l.strip_prefix("segment_size: "))?;
    line.trim().parse().ok()
}

fn entry_key(seq: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = ENTRY;
    k[1..].copy_from_slice(&seq.to_be_bytes());
    k
}

fn leaves_key(first: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = LEAVES;
    k[1..].copy_from_slice(&first.to_be_bytes());
    k
}

fn node_key((level, index): NodeKey) -> [u8; 10] {
    let mut k = [0u8; 10];
    k[0] = NODE;
    k[1] = level;
    k[2..].copy_from_slice(&index.to_be_bytes());
    k
}

fn checkpoint_key(size: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = CHECKPOINT;
    k[1..].copy_from_slice(&size.to_be_bytes());
    k
}

fn prefixed(prefix: u8, rest: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + rest.len());
    k.push(prefix);
    k.extend_from_slice(rest);
    k
}

/// A key as an error message can show it: the family letter, then the rest in hex.
fn describe_key(key: &[u8]) -> String {
    if let Some(d) = crate::runs::describe(key) {
        return d;
    }
    match key.split_first() {
        Some((&ENTRY, rest)) if rest.len() == 8 => {
            format!("entry {}", u64::from_be_bytes(rest.try_into().expect("8 bytes")))
        }
        Some((&META, rest)) => format!("metadata {:?}", String::from_utf8_lossy(rest)),
        Some((&p, rest)) => {
            let mut s = format!("{}/", p as char);
            for b in rest {
                s.push_str(&format!("{b:02x}"));
            }
            s
        }
        None => "the empty key".to_string(),
    }
}

fn io(e: sled::Error) -> StoreError {
    match e {
        sled::Error::Corruption { at, bt: _ } => StoreError::Corrupt(format!("sled found corruption at {at:?}")),
        other => StoreError::Io(other.to_string()),
    }
}

fn corrupt(key: &[u8], what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{}: {what}", describe_key(key)))
}

fn be_u64(key: &[u8], bytes: &[u8]) -> Result<u64> {
    let b: [u8; 8] =
        bytes.try_into().map_err(|_| corrupt(key, format_args!("expected 8 bytes, found {}", bytes.len())))?;
    Ok(u64::from_be_bytes(b))
}

/// Encodes the entries of one commit as a chunk.
/// How a commit's entries are cut into chunks: consecutive runs of entries, each cut once it
/// holds [`ENTRY_CHUNK_BYTES`] (so a chunk passes it by one entry at most).
fn chunk_lengths(entries: &[(u64, Vec<u8>)]) -> Vec<usize> {
    let mut lengths = Vec::new();
    let (mut len, mut bytes) = (0usize, 0usize);
    for (_, e) in entries {
        len += 1;
        bytes += e.len();
        if bytes >= ENTRY_CHUNK_BYTES {
            lengths.push(len);
            (len, bytes) = (0, 0);
        }
    }
    if len > 0 {
        lengths.push(len);
    }
    lengths
}

/// Appends the chunk of `entries` to `v`.
fn encode_chunk(entries: &[(u64, Vec<u8>)], v: &mut Vec<u8>) {
    let data: usize = entries.iter().map(|(_, b)| b.len()).sum();
    v.reserve(4 + 4 * entries.len() + data);
    v.extend_from_slice(&(entries.len() as u32).to_be_bytes());
    let mut end = 0u32;
    for (_, b) in entries {
        end += u32::try_from(b.len()).expect("an entry is far below 4 GiB");
        v.extend_from_slice(&end.to_be_bytes());
    }
    for (_, b) in entries {
        v.extend_from_slice(b);
    }
}

/// The entries of a chunk, checked for shape: (count, offsets table, data).
struct Chunk<'a> {
    ends: &'a [u8],
    data: &'a [u8],
    count: usize,
}

impl<'a> Chunk<'a> {
    fn parse(key: &[u8], v: &'a [u8]) -> Result<Chunk<'a>> {
        let bad = |what: &str| corrupt(key, format_args!("entry chunk: {what}"));
        if v.len() < 4 {
            return Err(bad("too short"));
        }
        let count = u32::from_be_bytes(v[..4].try_into().expect("4 bytes")) as usize;
        let table = 4 + count * 4;
        if count == 0 || v.len() < table {
            return Err(bad("bad entry count"));
        }
        let chunk = Chunk { ends: &v[4..table], data: &v[table..], count };
        if chunk.end(count - 1) != chunk.data.len() {
            return Err(bad("offsets do not match the data"));
        }
        Ok(chunk)
    }

    fn end(&self, i: usize) -> usize {
        u32::from_be_bytes(self.ends[i * 4..i * 4 + 4].try_into().expect("4 bytes")) as usize
    }

    fn get(&self, key: &[u8], i: usize) -> Result<&'a [u8]> {
        let start = if i == 0 { 0 } else { self.end(i - 1) };
        let end = self.end(i);
        if start > end || end > self.data.len() {
            return Err(corrupt(key, "entry chunk: offsets out of order"));
        }
        Ok(&self.data[start..end])
    }
}

/// The sequence number of an `e` key.
fn entry_seq(key: &[u8]) -> Result<u64> {
    match key.split_first() {
        Some((&ENTRY, rest)) => be_u64(key, rest),
        _ => Err(corrupt(key, "not an entry key")),
    }
}

fn decode_checkpoint(key: &[u8], value: &[u8]) -> Result<(u64, String)> {
    let size = be_u64(key, &key[1..])?;
    let text = std::str::from_utf8(value).map_err(|e| corrupt(key, format_args!("checkpoint is not UTF-8: {e}")))?;
    Ok((size, text.to_string()))
}

pub struct SledStore {
    db: sled::Db,
    /// Entries durably committed; published only after the flush.
    count: AtomicU64,
    /// The record and request indexes, with the commit lock (commits and merge installs
    /// must not interleave) and the failed flag (set when a commit or merge failed after
    /// sled accepted part of it: the state on disk is then unknown, and the only safe move
    /// is to stop and reopen).
    runs: Arc<Runs>,
    mergers: Vec<std::thread::JoinHandle<()>>,
    /// Held for writing while a batch is applied and flushed, for reading by point reads,
    /// so that nobody reads what is not yet durable.
    visible: RwLock<()>,
    /// The log segment size the store was created with.
    segment_bytes: usize,
    /// The entry chunks ([`crate::entry_file`]); sled holds pointers to them.
    file: EntryFile,
    /// The buffer a commit encodes its chunks into, kept between commits (used under the
    /// commit lock): a fresh megabyte per commit was zeroed by the kernel each time, a
    /// tenth of the committer's time at full speed.
    chunk_buf: std::sync::Mutex<Vec<u8>>,
}

/// A chunk buffer larger than this is not kept after its commit (one large restore).
const CHUNK_BUF_KEEP: usize = 16 << 20;

impl std::fmt::Debug for SledStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledStore")
            .field("count", &self.count.load(Ordering::Acquire))
            .field("failed", &self.runs.failed.load(Ordering::Acquire))
            .finish_non_exhaustive()
    }
}

impl SledStore {
    /// Opens (or creates) the store in `dir`, checking its schema version and that its
    /// entry count agrees with its log.
    pub fn open(dir: &Path) -> Result<SledStore> {
        SledStore::open_with(dir, CACHE_CAPACITY_BYTES, LOCK_WAIT)
    }

    /// Like [`SledStore::open`] with a page cache of `cache_bytes`, waiting at most
    /// `lock_wait` for a lock that this process's dropped stores may still hold.
    pub fn open_with(dir: &Path, cache_bytes: u64, lock_wait: std::time::Duration) -> Result<SledStore> {
        let (config, segment_bytes) = sized_config(dir);
        let config = config
            .cache_capacity(cache_bytes)
            .mode(sled::Mode::HighThroughput)
            // Every commit flushes for durability; the background flusher is kept anyway
            // because sled 0.34 pages out cached nodes only from it. Without it memory grew
            // by about 2.3 KB per record written regardless of the cache size (measured:
            // 300k records, 8 MiB cache, 702 MB resident; with a 200 ms flusher, 147 MB).
            .flush_every_ms(Some(BACKGROUND_FLUSH_MS));
        let db = open_db(&config, dir, lock_wait).map_err(io)?;
        let file = EntryFile::open(dir, Self::durable_end(&db)?.as_ref().map(|(k, end)| (k.as_str(), *end)))?;
        let count = match db.get(META_SCHEMA).map_err(io)? {
            None => Self::init(&db)?,
            Some(v) => {
                let b: [u8; 4] = v
                    .as_ref()
                    .try_into()
                    .map_err(|_| corrupt(META_SCHEMA, format_args!("expected 4 bytes, found {}", v.len())))?;
                let found = u32::from_be_bytes(b);
                if !READABLE_SCHEMAS.contains(&found) {
                    return Err(StoreError::Schema { found, expected: SCHEMA_VERSION });
                }
                let count = Self::check_count(&db, &file)?;
                if found != SCHEMA_VERSION {
                    // From here on index runs (schema 2) and facts pointers (schema 3) are
                    // written, which an older build would not see or would misread: mark
                    // the store so such a build refuses it.
                    db.insert(META_SCHEMA, &SCHEMA_VERSION.to_be_bytes()[..]).map_err(io)?;
                    db.flush().map_err(io)?;
                }
                count
            }
        };
        let runs = Arc::new(Runs::open(db.clone(), dir, file.handle())?);
        let mergers = runs.start_mergers();
        Ok(SledStore {
            db,
            count: AtomicU64::new(count),
            runs,
            mergers,
            visible: RwLock::new(()),
            segment_bytes,
            file,
            chunk_buf: Default::default(),
        })
    }

    /// The log segment size of this store: [`SEGMENT_BYTES`], or sled's default 512 KiB for
    /// a store created before it, whose large tree nodes still go to sled's unsynced blob
    /// files (see the module documentation).
    pub fn segment_bytes(&self) -> usize {
        self.segment_bytes
    }

    /// Where the bytes of the entry file that the durable tree points to end, with the key
    /// that says so described: the recorded end of the last commit, or (stores made before
    /// it) the end of the last entry-chunk pointer; none when the tree points to nothing.
    fn durable_end(db: &sled::Db) -> Result<Option<(String, u64)>> {
        let last = db.range([ENTRY]..[ENTRY + 1]).next_back().transpose().map_err(io)?;
        let pointed = last.and_then(|(k, v)| Pointer::decode(&v).map(|p| (describe_key(&k), p.end())));
        let recorded = match db.get(META_FILE_END).map_err(io)? {
            Some(v) => Some((describe_key(META_FILE_END), be_u64(META_FILE_END, &v)?)),
            None => None,
        };
        Ok(match (pointed, recorded) {
            // At the same end the chunk's key says more than the metadata's.
            (Some(p), Some(r)) => Some(if p.1 >= r.1 { p } else { r }),
            (p, r) => p.or(r),
        })
    }

    /// The bytes of the chunk under `key`: from the entry file when `value` points there,
    /// else `value` itself (a chunk of a store made before the entry file).
    fn chunk_bytes(file: &EntryFile, key: &[u8], value: sled::IVec) -> Result<StoredBytes> {
        match Pointer::decode(&value) {
            Some(p) => file.read(|| describe_key(key), p).map(StoredBytes::File),
            None => Ok(StoredBytes::Tree(value)),
        }
    }

    /// The latest snapshot's head: (covered count, pieces, total bytes).
    fn snapshot_head(db: &sled::Db) -> Result<Option<(u64, u32, u64)>> {
        let Some(v) = db.get(META_SNAPSHOT_HEAD).map_err(io)? else {
            return Ok(None);
        };
        if v.len() != 20 {
            return Err(corrupt(META_SNAPSHOT_HEAD, format_args!("expected 20 bytes, found {}", v.len())));
        }
        let covered = be_u64(META_SNAPSHOT_HEAD, &v[..8])?;
        let pieces = u32::from_be_bytes(v[8..12].try_into().expect("4 bytes"));
        let total = be_u64(META_SNAPSHOT_HEAD, &v[12..])?;
        Ok(Some((covered, pieces, total)))
    }

    /// Marks a new store with the schema version; refuses a directory that holds data
    /// but no version (not ours, or damaged).
    fn init(db: &sled::Db) -> Result<u64> {
        if let Some((k, _)) = db.first().map_err(io)? {
            return Err(StoreError::Corrupt(format!(
                "the store has data ({}) but no schema version",
                describe_key(&k)
            )));
        }
        let mut b = sled::Batch::default();
        b.insert(META_SCHEMA, &SCHEMA_VERSION.to_be_bytes()[..]);
        b.insert(META_COUNT, &0u64.to_be_bytes()[..]);
        db.apply_batch(b).map_err(io)?;
        db.flush().map_err(io)?;
        Ok(0)
    }

    /// The stored count must name exactly the entries present: the last `e` key is
    /// `count - 1` (none when 0) and the first is 0. Gaps in between are caught when
    /// entries are read.
    fn check_count(db: &sled::Db, file: &EntryFile) -> Result<u64> {
        let count = match db.get(META_COUNT).map_err(io)? {
            Some(v) => be_u64(META_COUNT, &v)?,
            None => return Err(StoreError::Corrupt("the entry count is missing".into())),
        };
        let mut log = db.range([ENTRY]..[ENTRY + 1]);
        let Some((first_key, _)) = log.next().transpose().map_err(io)? else {
            return match count {
                0 => Ok(0),
                _ => Err(StoreError::Corrupt(format!("the entry count says {count} entries, the log is empty"))),
            };
        };
        let first = entry_seq(&first_key)?;
        let (last_key, last_value) = match log.next_back().transpose().map_err(io)? {
            Some(kv) => kv,
            None => (first_key.clone(), db.get(&first_key).map_err(io)?.expect("just listed")),
        };
        let last_first = entry_seq(&last_key)?;
        let last_chunk = Self::chunk_bytes(file, &last_key, last_value)?;
        let last = last_first + Chunk::parse(&last_key, &last_chunk)?.count as u64 - 1;
        if count == 0 || last != count - 1 {
            return Err(StoreError::Corrupt(format!("the entry count says {count} entries, the last entry is {last}")));
        }
        if first != 0 {
            return Err(StoreError::Corrupt(format!("the log starts at entry {first}, not 0")));
        }
        Ok(count)
    }

    /// Checks the batch against the current count and turns it into one sled batch, with
    /// the index runs it adds (published by [`Runs::committed`] once durable).
    /// Also returns the bytes to append to the entry file first: the batch's entry chunks,
    /// which its pointers (written at the file's current end) lead to.
    /// The sled batch of a commit and its new runs; its entry chunks go to `chunks`.
    fn build(&self, have: u64, batch: &CommitBatch, chunks: &mut Vec<u8>) -> Result<(sled::Batch, Vec<NewRun>)> {
        let new_count = crate::check_batch(batch, have)?;

        let mut b = sled::Batch::default();
        if !batch.entries.is_empty() {
            let mut at = 0;
            for len in chunk_lengths(&batch.entries) {
                let first = batch.entries[at].0;
                let start = chunks.len();
                encode_chunk(&batch.entries[at..at + len], chunks);
                let pointer = Pointer {
                    offset: self.file.end() + start as u64,
                    len: u32::try_from(chunks.len() - start).expect("a chunk is far below 4 GiB"),
                    crc: crc32fast::hash(&chunks[start..]),
                };
                b.insert(&entry_key(first)[..], &pointer.encode()[..]);
                // A commit carries the leaf hash of every entry, or none (older callers).
                if let Some(hashes) = batch.leaf_hashes.get(at..at + len) {
                    b.insert(&leaves_key(first)[..], crate::leaf_prefixes(hashes));
                }
                at += len;
            }
            b.insert(META_COUNT, &new_count.to_be_bytes()[..]);
        }
        let records = self.append_facts(batch, chunks);
        let runs = self.runs.add_to_batch(
            &mut b,
            chunks,
            self.file.end(),
            records.into_iter(),
            batch.requests.iter().map(|(k, v)| (k.encode(), v.encode())),
        );
        if !chunks.is_empty() {
            b.insert(META_FILE_END, &(self.file.end() + chunks.len() as u64).to_be_bytes()[..]);
        }
        for (k, h) in &batch.nodes {
            b.insert(&node_key(*k)[..], &h[..]);
        }
        if !batch.frontier.is_empty() {
            b.insert(META_FRONTIER, batch.frontier.as_slice());
        }
        if let Some((covered, bytes)) = &batch.snapshot {
            let pieces = bytes.chunks(SNAPSHOT_PIECE_BYTES).len() as u32;
            for (i, piece) in bytes.chunks(SNAPSHOT_PIECE_BYTES).enumerate() {
                b.insert(&snapshot_piece_key(i as u32)[..], piece);
            }
            // Pieces of the previous snapshot beyond the new one's (rare: one scan per snapshot).
            for k in self.db.scan_prefix([SNAPSHOT_PIECE]).keys() {
                let k = k.map_err(io)?;
                if k.len() != 5 || u32::from_be_bytes(k[1..].try_into().expect("4 bytes")) >= pieces {
                    b.remove(k);
                }
            }
            let mut head = Vec::with_capacity(20);
            head.extend_from_slice(&covered.to_be_bytes());
            head.extend_from_slice(&pieces.to_be_bytes());
            head.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
            b.insert(META_SNAPSHOT_HEAD, head);
            b.remove(META_SNAPSHOT);
        }
        for (size, text) in &batch.checkpoints {
            b.insert(&checkpoint_key(*size)[..], text.as_bytes());
        }
        Ok((b, runs))
    }

    /// Appends the facts of the batch's record index writes to `chunks` (the bytes this
    /// commit writes to the entry file) and returns the index items pointing to them.
    fn append_facts(&self, batch: &CommitBatch, chunks: &mut Vec<u8>) -> Vec<(Vec<u8>, Vec<u8>)> {
        let base = self.file.end();
        let mut w = suanli_core::codec::Writer { buf: std::mem::take(chunks) };
        let items = batch
            .records
            .iter()
            .map(|(k, s)| {
                let start = w.buf.len();
                w.fixed(&s.payload_hash);
                suanli_core::entry::put_facts(&mut w, &s.facts);
                let at = Pointer {
                    offset: base + start as u64,
                    len: u32::try_from(w.buf.len() - start).expect("facts are far below 4 GiB"),
                    crc: crc32fast::hash(&w.buf[start..]),
                };
                let mut v = Vec::with_capacity(26);
                v.push(FACTS_POINTER);
                v.extend_from_slice(&at.body());
                match s.reversed_by {
                    None => v.push(0),
                    Some(r) => {
                        v.push(1);
                        v.extend_from_slice(&r.to_be_bytes());
                    }
                }
                (k.encode(), v)
            })
            .collect();
        *chunks = w.finish();
        items
    }

    /// The summary a record index value holds: read from the entry file when it points
    /// there, else decoded from the value itself (runs written before schema 3).
    fn summary_of(&self, v: &[u8], at: &dyn Fn() -> String) -> Result<RecordSummary> {
        let bad = |what: String| StoreError::Corrupt(format!("{}: {what}", at()));
        if v.first() != Some(&FACTS_POINTER) {
            return RecordSummary::decode(v).map_err(|e| bad(e.to_string()));
        }
        let reversed_by = match (v.len(), v.get(17)) {
            (18, Some(0)) => None,
            (26, Some(1)) => Some(u64::from_be_bytes(v[18..26].try_into().expect("8 bytes"))),
            _ => return Err(bad(format!("a malformed facts pointer of {} bytes", v.len()))),
        };
        let p = Pointer::from_body(v[1..17].try_into().expect("16 bytes"));
        let bytes = self.file.read(|| format!("{} (its facts)", at()), p)?;
        let mut r = suanli_core::codec::Reader::new(&bytes);
        let decoded = (|| {
            let payload_hash = r.fixed("payload_hash")?;
            let facts = suanli_core::entry::get_facts(&mut r)?;
            r.finish()?;
            Ok::<_, suanli_core::codec::DecodeError>(RecordSummary { facts, payload_hash, reversed_by })
        })();
        decoded.map_err(|e| bad(format!("its facts in the entry file: {e}")))
    }

    fn get(&self, key: &[u8]) -> Result<Option<sled::IVec>> {
        let _visible = self.visible.read().unwrap_or_else(|p| p.into_inner());
        self.db.get(key).map_err(io)
    }

    /// The last key of `range` and its value, read under the visibility lock.
    fn last_in(&self, lo: Bound<&[u8]>, hi: Bound<&[u8]>) -> Result<Option<(sled::IVec, sled::IVec)>> {
        let _visible = self.visible.read().unwrap_or_else(|p| p.into_inner());
        self.db.range::<&[u8], _>((lo, hi)).next_back().transpose().map_err(io)
    }
}

impl Store for SledStore {
    fn commit(&self, batch: &CommitBatch) -> Result<()> {
        let _writer = self.runs.commit_lock.lock().unwrap_or_else(|p| p.into_inner());
        if self.runs.failed.load(Ordering::Acquire) {
            return Err(StoreError::Io(
                "an earlier commit or index merge failed; reopen the store before writing again".into(),
            ));
        }
        let have = self.count.load(Ordering::Acquire);
        let mut chunks = self.chunk_buf.lock().unwrap_or_else(|p| p.into_inner());
        chunks.clear();
        let (sled_batch, runs) = self.build(have, batch, &mut chunks)?;
        // The chunks are durable before any pointer to them can be (entry_file.rs).
        if let Err(e) = self.file.append(&chunks) {
            self.runs.failed.store(true, Ordering::Release);
            return Err(e);
        }
        let _visible = self.visible.write().unwrap_or_else(|p| p.into_inner());
        let written = self.db.apply_batch(sled_batch).and_then(|()| self.db.flush());
        if let Err(e) = written {
            self.runs.failed.store(true, Ordering::Release);
            return Err(io(e));
        }
        self.file.advance(chunks.len() as u64);
        if chunks.capacity() > CHUNK_BUF_KEEP {
            // Not held until the next commit: after a restore that may be a long wait.
            *chunks = Vec::new();
        }
        self.runs.committed(runs);
        self.count.store(have + batch.entries.len() as u64, Ordering::Release);
        Ok(())
    }

    fn entry_count(&self) -> Result<u64> {
        Ok(self.count.load(Ordering::Acquire))
    }

    fn entry(&self, seq: u64) -> Result<Option<Vec<u8>>> {
        if seq >= self.count.load(Ordering::Acquire) {
            return Ok(None);
        }
        let missing = || StoreError::Corrupt(format!("entry {seq} is missing below the entry count"));
        let (k, v) =
            self.db.range(entry_key(0)..=entry_key(seq)).next_back().transpose().map_err(io)?.ok_or_else(missing)?;
        let first = entry_seq(&k)?;
        let bytes = Self::chunk_bytes(&self.file, &k, v)?;
        let chunk = Chunk::parse(&k, &bytes)?;
        let i = (seq - first) as usize;
        if i >= chunk.count {
            return Err(missing());
        }
        Ok(Some(chunk.get(&k, i)?.to_vec()))
    }

    fn entries(&self, from: u64, to: u64) -> Box<dyn Iterator<Item = Result<(u64, Vec<u8>)>> + Send + '_> {
        // Entries below the published count are immutable, so no lock is needed: the
        // range simply never reaches past what is durable.
        let end = to.min(self.count.load(Ordering::Acquire));
        if from >= end {
            return Box::new(std::iter::empty());
        }
        // Start at the chunk holding `from`.
        let start = match self.db.range(entry_key(0)..=entry_key(from)).next_back() {
            Some(Ok((k, _))) => k.to_vec(),
            Some(Err(e)) => return Box::new(std::iter::once(Err(io(e)))),
            None => entry_key(from).to_vec(),
        };
        Box::new(EntryIter {
            file: &self.file,
            inner: self.db.range(start..entry_key(end).to_vec()),
            chunk: None,
            next: from,
            end,
            done: false,
        })
    }

    fn record(&self, key: &RecordKey) -> Result<Option<RecordSummary>> {
        let k = key.encode();
        if let Some(v) = self.runs.get(Family::Records, &k)? {
            return self
                .summary_of(&v, &|| format!("the record index entry for {}", describe_key(&prefixed(RECORD, &k))))
                .map(Some);
        }
        let legacy = prefixed(RECORD, &k);
        self.get(&legacy)?
            .map(|v| {
                RecordSummary::decode(&v).map_err(|e| StoreError::Corrupt(format!("{}: {e}", describe_key(&legacy))))
            })
            .transpose()
    }

    fn record_keys(&self) -> Box<dyn Iterator<Item = Result<Vec<u8>>> + Send + '_> {
        // A schema-1 record reversed after the upgrade is in both; listing it twice only
        // inserts it twice into the key filter.
        let legacy = self.db.range([RECORD]..[RECORD + 1]).keys().map(|k| k.map(|k| k[1..].to_vec()).map_err(io));
        Box::new(self.runs.keys(Family::Records).chain(legacy))
    }

    fn request(&self, key: &RequestKey) -> Result<Option<RequestSummary>> {
        let k = key.encode();
        let decode = |v: &[u8], at: &dyn Fn() -> String| {
            RequestSummary::decode(v).map_err(|e| StoreError::Corrupt(format!("{}: {e}", at())))
        };
        if let Some(v) = self.runs.get(Family::Requests, &k)? {
            return decode(&v, &|| format!("the request index entry for {}", describe_key(&prefixed(REQUEST, &k))))
                .map(Some);
        }
        let legacy = prefixed(REQUEST, &k);
        self.get(&legacy)?.map(|v| decode(&v, &|| describe_key(&legacy))).transpose()
    }

    fn node(&self, key: NodeKey) -> Result<Option<Hash>> {
        let k = node_key(key);
        self.get(&k)?
            .map(|v| {
                Hash::try_from(v.as_ref())
                    .map_err(|_| corrupt(&k, format_args!("expected 32 bytes, found {}", v.len())))
            })
            .transpose()
    }

    fn frontier(&self) -> Result<Option<Vec<u8>>> {
        Ok(self.get(META_FRONTIER)?.map(|v| v.to_vec()))
    }

    fn snapshot(&self) -> Result<Option<(u64, Vec<u8>)>> {
        let _visible = self.visible.read().unwrap_or_else(|p| p.into_inner());
        if let Some((covered, pieces, total)) = Self::snapshot_head(&self.db)? {
            let mut bytes = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
            for i in 0..pieces {
                let k = snapshot_piece_key(i);
                let piece = self.db.get(k).map_err(io)?.ok_or_else(|| corrupt(&k, "snapshot piece missing"))?;
                bytes.extend_from_slice(&piece);
            }
            if bytes.len() as u64 != total {
                return Err(corrupt(
                    META_SNAPSHOT_HEAD,
                    format_args!("the snapshot's pieces hold {} bytes, not {total}", bytes.len()),
                ));
            }
            return Ok(Some((covered, bytes)));
        }
        self.db
            .get(META_SNAPSHOT)
            .map_err(io)?
            .map(|v| {
                if v.len() < 8 {
                    return Err(corrupt(META_SNAPSHOT, format_args!("only {} bytes", v.len())));
                }
                let covered = be_u64(META_SNAPSHOT, &v[..8])?;
                Ok((covered, v[8..].to_vec()))
            })
            .transpose()
    }

    fn latest_checkpoint(&self) -> Result<Option<(u64, String)>> {
        self.last_in(Bound::Included(&[CHECKPOINT]), Bound::Excluded(&[CHECKPOINT + 1]))?
            .map(|(k, v)| decode_checkpoint(&k, &v))
            .transpose()
    }

    fn checkpoint_at_or_before(&self, size: u64) -> Result<Option<(u64, String)>> {
        let hi = checkpoint_key(size);
        self.last_in(Bound::Included(&[CHECKPOINT]), Bound::Included(&hi))?
            .map(|(k, v)| decode_checkpoint(&k, &v))
            .transpose()
    }

    fn find_leaf(&self, leaf: &Hash, to: u64) -> Result<Option<u64>> {
        // Values below the published count are immutable, so no lock is needed; a chunk
        // being written starts at or beyond the count and ends the scan.
        let to = to.min(self.count.load(Ordering::Acquire));
        let chunks = self.db.range([LEAVES]..[LEAVES + 1]).map(|kv| {
            let (k, v) = kv.map_err(io)?;
            let first = match k.split_first() {
                Some((&LEAVES, rest)) => be_u64(&k, rest)?,
                _ => return Err(corrupt(&k, "not a leaf-hash key")),
            };
            Ok((first, v))
        });
        crate::scan_leaf_chunks(
            chunks,
            leaf,
            to,
            |seq| self.entry(seq),
            |from, to| crate::find_leaf_in_entries(self, leaf, from, to),
        )
    }

    fn size_on_disk(&self) -> Result<u64> {
        Ok(self.db.size_on_disk().map_err(io)? + self.file.len()? + self.runs.files_len()?)
    }

    /// A lookup that passes the key filter reads one block of each run of its family.
    fn index_runs(&self) -> Option<crate::IndexRuns> {
        Some(self.runs.status())
    }

    fn close(&self) -> Result<()> {
        let _writer = self.runs.commit_lock.lock().unwrap_or_else(|p| p.into_inner());
        self.db.flush().map(|_| ()).map_err(io)
    }
}

impl Drop for SledStore {
    fn drop(&mut self) {
        // The mergers hold the database too: stop them first, so that it is closed (and
        // its file lock released) when the store is dropped.
        self.runs.stop();
        for m in self.mergers.drain(..) {
            let _ = m.join();
        }
        // Every commit already flushed; this only covers writes sled made on its own.
        let _ = self.db.flush();
    }
}

/// Entries `next..end` from the chunks of a sled range, checking that none is missing:
/// every sequence number below the count must be there.
struct EntryIter<'a> {
    file: &'a EntryFile,
    inner: sled::Iter,
    /// The current chunk: its key, its bytes, and the sequence number of its first entry.
    chunk: Option<(sled::IVec, StoredBytes, u64)>,
    next: u64,
    end: u64,
    done: bool,
}

impl EntryIter<'_> {
    fn step(&mut self) -> Result<(u64, Vec<u8>)> {
        loop {
            if let Some((k, v, first)) = &self.chunk {
                let chunk = Chunk::parse(k, v)?;
                let i = self.next - first;
                if (i as usize) < chunk.count {
                    return Ok((self.next, chunk.get(k, i as usize)?.to_vec()));
                }
            }
            match self.inner.next() {
                None => {
                    return Err(StoreError::Corrupt(format!(
                        "entries {}..{} are missing below the entry count",
                        self.next, self.end
                    )));
                }
                Some(Err(e)) => return Err(io(e)),
                Some(Ok((k, v))) => {
                    let first = entry_seq(&k)?;
                    if first > self.next {
                        return Err(StoreError::Corrupt(format!(
                            "entry {} is missing (the next stored entry is {first})",
                            self.next
                        )));
                    }
                    let bytes = SledStore::chunk_bytes(self.file, &k, v)?;
                    self.chunk = Some((k, bytes, first));
                }
            }
        }
    }
}

impl Iterator for EntryIter<'_> {
    type Item = Result<(u64, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.next >= self.end {
            return None;
        }
        let item = self.step();
        match &item {
            Ok(_) => self.next += 1,
            Err(_) => self.done = true,
        }
        Some(item)
    }
}

#[cfg(test)]
mod tests {
    use suanli_core::model::RecordKind;
    use suanli_core::testkit::{record_summary as summary, uscc};

    use super::*;

    /// Runs written before schema 3 hold each summary itself; they stay readable beside
    /// runs of facts pointers, and the store is marked with the new schema when opened.
    #[test]
    fn record_values_written_before_schema_3_are_read_as_they_are() {
        let dir = tempfile::tempdir().unwrap();
        let key = |id: &str| RecordKey { kind: RecordKind::Usage, provider: uscc(1), record_id: id.into() };
        {
            let s = SledStore::open(dir.path()).unwrap();
            s.commit(&CommitBatch { entries: vec![(0, b"e0".to_vec()), (1, b"e1".to_vec())], ..Default::default() })
                .unwrap();
            // A commit's run as schema 2 wrote it: the whole summary as the value.
            let mut b = sled::Batch::default();
            let mut bytes = Vec::new();
            let runs = s.runs.add_to_batch(
                &mut b,
                &mut bytes,
                s.file.end(),
                std::iter::once((key("old").encode(), summary(0, 1).encode())),
                std::iter::empty(),
            );
            s.file.append(&bytes).unwrap();
            s.file.advance(bytes.len() as u64);
            b.insert(META_FILE_END, &s.file.end().to_be_bytes()[..]);
            b.insert(META_SCHEMA, &2u32.to_be_bytes()[..]);
            s.db.apply_batch(b).unwrap();
            s.db.flush().unwrap();
            s.runs.committed(runs);
        }
        let s = SledStore::open(dir.path()).unwrap();
        assert_eq!(s.db.get(META_SCHEMA).unwrap().unwrap().as_ref(), SCHEMA_VERSION.to_be_bytes());
        assert_eq!(s.record(&key("old")).unwrap(), Some(summary(0, 1)));
        let mut reversed = summary(0, 1);
        reversed.reversed_by = Some(2);
        let mut b = CommitBatch { entries: vec![(2, b"e2".to_vec())], ..Default::default() };
        b.records = vec![(key("old"), reversed.clone()), (key("new"), summary(1, 2))].into();
        s.commit(&b).unwrap();
        assert_eq!(s.record(&key("old")).unwrap(), Some(reversed.clone()));
        assert_eq!(s.record(&key("new")).unwrap(), Some(summary(1, 2)));
        let mut listed: Vec<Vec<u8>> = s.record_keys().collect::<Result<_>>().unwrap();
        listed.sort();
        listed.dedup();
        assert_eq!(listed, vec![key("new").encode(), key("old").encode()]);
    }
}
