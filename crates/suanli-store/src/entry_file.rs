//! The entry chunks of the sled store, in one append-only file beside sled's tree.
//!
//! # Why
//!
//! Entries are most of the bytes a ledger writes (about 600 of every 900 per single-signed
//! record), are never changed, and are read back by sequence number. In sled's tree they
//! cost twice: every value is written once as a log message, then again each time sled
//! rewrites the tree node holding it (a leaf is consolidated every ten changes), and the
//! dead copies stay on disk until sled cleans the segment. Measured at 2,000,000
//! single-signed records with every value in sled's log: 1,409 bytes/record on disk.
//! (Before that, large values went to sled's blob files, which it never fsyncs; see
//! [`crate::sled_store`].)
//!
//! So each commit appends its entry chunks to this file, in one write, and `fdatasync`s it
//! *before* its sled batch is applied. Since store schema 3 the same write carries, after
//! the chunks, the *facts* of the commit's record index writes (see
//! [`crate::sled_store`], "Record facts") and the blocks of the commit's index runs (see
//! [`crate::runs`]), and the batch records where the commit's bytes
//! end (`m` ‖ `fileend`). The sled batch then holds, under each chunk's `e`
//! key, a [`POINTER_LEN`]-byte pointer: `0 (u32) ‖ offset (u64) ‖ length (u32) ‖ CRC-32 of
//! the chunk (u32)`. A chunk's first four bytes are its entry count, never 0, so a pointer
//! is told from a chunk stored in sled by stores made before this file (still read).
//!
//! # Crash safety
//!
//! The chunk is durable before the pointer to it can be, so a durable pointer always leads
//! to its bytes. A crash after the file write but before the sled flush leaves bytes past
//! the durable end (the recorded end of the last commit, or in stores made before it the
//! end of the last pointer): `EntryFile::open` cuts the file back to that end, so the next
//! commit writes over them. A file shorter than that end, or a chunk whose CRC does not
//! match, is reported as damage naming the key that recorded the end, or the chunk's key.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::{Result, StoreError};

/// The file's name in the store directory.
pub const FILE_NAME: &str = "entries";
/// Bytes of a pointer value.
pub const POINTER_LEN: usize = 20;
/// Bytes of a pointer's body, `offset (u64) ‖ length (u32) ‖ CRC-32 (u32)`: also how record
/// facts and merged runs' descriptions are pointed to ([`crate::sled_store`], [`crate::runs`]).
pub const BODY_LEN: usize = 16;

pub(crate) struct EntryFile {
    /// Shared with the index runs whose blocks a commit wrote here ([`crate::runs`]).
    file: Arc<File>,
    /// Where the next commit writes: the end of the last durable chunk.
    end: AtomicU64,
}

/// Where some bytes are in a file: a chunk here, record facts, a run's description.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pointer {
    pub offset: u64,
    pub len: u32,
    pub crc: u32,
}

impl Pointer {
    /// A chunk pointer: `0 (u32) ‖` the body.
    pub fn encode(&self) -> [u8; POINTER_LEN] {
        let mut v = [0u8; POINTER_LEN];
        v[4..].copy_from_slice(&self.body());
        v
    }

    /// The pointer a value holds, or `None` for a chunk stored in sled itself.
    pub fn decode(v: &[u8]) -> Option<Pointer> {
        if v.len() != POINTER_LEN || v[..4] != [0; 4] {
            return None;
        }
        Some(Pointer::from_body(v[4..].try_into().expect("16 bytes")))
    }

    /// `offset (u64) ‖ length (u32) ‖ CRC-32 (u32)`, big-endian.
    pub fn body(&self) -> [u8; BODY_LEN] {
        let mut v = [0u8; BODY_LEN];
        v[..8].copy_from_slice(&self.offset.to_be_bytes());
        v[8..12].copy_from_slice(&self.len.to_be_bytes());
        v[12..].copy_from_slice(&self.crc.to_be_bytes());
        v
    }

    pub fn from_body(v: &[u8; BODY_LEN]) -> Pointer {
        Pointer {
            offset: u64::from_be_bytes(v[..8].try_into().expect("8 bytes")),
            len: u32::from_be_bytes(v[8..12].try_into().expect("4 bytes")),
            crc: u32::from_be_bytes(v[12..].try_into().expect("4 bytes")),
        }
    }

    pub fn end(&self) -> u64 {
        self.offset + u64::from(self.len)
    }
}

fn io(e: std::io::Error) -> StoreError {
    StoreError::Io(format!("the entry file: {e}"))
}

impl EntryFile {
    /// Opens (or creates) the file in `dir`, cut back to `durable`: where the bytes the
    /// durable tree points to end, with the key that says so (`None` when it points to none).
    pub fn open(dir: &Path, durable: Option<(&str, u64)>) -> Result<EntryFile> {
        let path = dir.join(FILE_NAME);
        let new = !path.exists();
        let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(io)?;
        if new {
            // Its name must be durable before the first pointer to it can be.
            file.sync_all().map_err(io)?;
            crate::sync_dir(dir).map_err(io)?;
        }
        let len = file.metadata().map_err(io)?.len();
        let end = durable.map_or(0, |(_, end)| end);
        if len < end {
            let (key, _) = durable.expect("end > 0");
            return Err(StoreError::Corrupt(format!(
                "{key}: the entry file ends at byte {len}, before the durable end at {end}"
            )));
        }
        if len > end {
            // A commit that wrote its chunks but never made its pointers durable.
            file.set_len(end).map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        Ok(EntryFile { file: Arc::new(file), end: AtomicU64::new(end) })
    }

    /// Where the next chunks go. Only the committer (under the commit lock) appends.
    pub fn end(&self) -> u64 {
        self.end.load(Ordering::Acquire)
    }

    /// Writes `bytes` (the chunks of one commit, back to back) at the end and makes them
    /// durable; the end moves only when [`EntryFile::advance`] says the pointers are too.
    pub fn append(&self, bytes: &[u8]) -> Result<()> {
        self.file.write_all_at(bytes, self.end()).map_err(io)?;
        self.file.sync_data().map_err(io)
    }

    /// The commit's pointers are durable: the next commit writes after its chunks.
    pub fn advance(&self, by: u64) {
        self.end.fetch_add(by, Ordering::AcqRel);
    }

    /// The chunk `p` points to, checked against its CRC; `key` names it in errors.
    pub fn read(&self, key: impl Fn() -> String, p: Pointer) -> Result<Vec<u8>> {
        crate::read_checked(&self.file, p.offset, p.len, p.crc)
            .map_err(|what| StoreError::Corrupt(format!("{}: the entry file's {what}", key())))
    }

    /// The open file, for readers of other things a commit appends here (index runs).
    pub fn handle(&self) -> Arc<File> {
        self.file.clone()
    }

    pub fn len(&self) -> Result<u64> {
        Ok(self.file.metadata().map_err(io)?.len())
    }
}
