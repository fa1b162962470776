//! The export file: a run of log entries, exactly as they are hashed into the Merkle tree,
//! in a file an auditor can keep and check offline (`suanli log export`, `suanli log
//! verify`; the format is also described in `docs/EXPORT.md`).
//!
//! ```text
//! suanli-log-export v1\n          magic and format version
//! origin <checkpoint origin>\n    the log's name, as in its checkpoints
//! first <seq>\n                   sequence number of the first entry (0 for a full export)
//! entries <n>\n                   number of entries that follow
//! \n                              end of the header
//! n × ( length:u32 big-endian ‖ entry bytes )
//! ```
//!
//! Why this shape: a text header so that `head -4` tells a person what the file is; then
//! length-prefixed records so that a reader streams the file with one entry in memory at
//! a time, whatever its size (an export of millions of entries is gigabytes). The entry
//! bytes are the leaf data: hashing them reproduces the tree, so nothing in the file needs
//! to be trusted — the checkpoint's signature vouches for the root. The header is not
//! covered by any signature either; it only helps to read the file and to say early that
//! it ends too soon.
//!
//! Pure: readers and writers work over any `std::io::Read` / `Write`; the command line
//! opens the files.

use std::io::{self, BufRead, Read, Write};

/// First line of every export file.
pub const MAGIC: &str = "suanli-log-export v1";

/// Largest entry a reader accepts: the entry codec's own bound on a byte string, plus
/// room for the rest of an entry. Only stops a corrupt length from allocating gigabytes.
pub const ENTRY_BYTES_MAX: u32 = 17 * 1024 * 1024;

/// Longest header line accepted (an origin is one short line).
const HEADER_LINE_MAX: usize = 4096;

/// What the header says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub origin: String,
    pub first: u64,
    pub entries: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("reading the export: {0}")]
    Io(#[from] io::Error),
    #[error("not a suanli log export: the first line should be {MAGIC:?}")]
    Magic,
    #[error("export header: {0}")]
    Header(String),
    #[error("the export ends inside entry {seq} (its length says {want} bytes, {got} are left)")]
    Truncated { seq: u64, want: u32, got: usize },
    #[error("the export ends after {got} entries; its header declares {declared}")]
    Short { got: u64, declared: u64 },
    #[error("entry {seq} claims {len} bytes, more than any entry may hold ({ENTRY_BYTES_MAX})")]
    TooLong { seq: u64, len: u32 },
    #[error("bytes follow the {declared} entries the header declares")]
    Trailing { declared: u64 },
}

impl Header {
    /// The header text, ending with the blank line.
    pub fn encode(&self) -> String {
        format!("{MAGIC}\norigin {}\nfirst {}\nentries {}\n\n", self.origin, self.first, self.entries)
    }
}

/// Writes an export: the header, then each entry as it comes.
#[derive(Debug)]
pub struct ExportWriter<W: Write> {
    out: W,
    declared: u64,
    written: u64,
}

impl<W: Write> ExportWriter<W> {
    pub fn new(mut out: W, header: &Header) -> io::Result<Self> {
        if header.origin.is_empty() || header.origin.chars().any(char::is_control) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "the origin must be one non-empty line"));
        }
        out.write_all(header.encode().as_bytes())?;
        Ok(ExportWriter { out, declared: header.entries, written: 0 })
    }

    pub fn write_entry(&mut self, entry: &[u8]) -> io::Result<()> {
        let len = u32::try_from(entry.len())
            .ok()
            .filter(|l| *l <= ENTRY_BYTES_MAX)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "entry too long for an export"))?;
        if self.written >= self.declared {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "more entries than the header declares"));
        }
        self.out.write_all(&len.to_be_bytes())?;
        self.out.write_all(entry)?;
        self.written += 1;
        Ok(())
    }

    /// Checks that every declared entry was written and hands back the writer (flushed).
    pub fn finish(mut self) -> io::Result<W> {
        if self.written != self.declared {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("{} entries written, the header declares {}", self.written, self.declared),
            ));
        }
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Reads an export one entry at a time.
#[derive(Debug)]
pub struct ExportReader<R: BufRead> {
    input: R,
    header: Header,
    read: u64,
}

fn header_line<R: BufRead>(input: &mut R, what: &str) -> Result<String, ExportError> {
    let mut line = Vec::new();
    input.by_ref().take(HEADER_LINE_MAX as u64 + 1).read_until(b'\n', &mut line)?;
    if line.pop() != Some(b'\n') {
        return Err(ExportError::Header(format!("the {what} line is missing, unterminated or too long")));
    }
    String::from_utf8(line).map_err(|_| ExportError::Header(format!("the {what} line is not UTF-8")))
}

fn field(line: &str, name: &str) -> Result<String, ExportError> {
    line.strip_prefix(name)
        .and_then(|rest| rest.strip_prefix(' '))
        .filter(|v| !v.is_empty())
        .map(str::to_string)
        .ok_or_else(|| ExportError::Header(format!("expected \"{name} <value>\", found {line:?}")))
}

fn number(line: &str, name: &str) -> Result<u64, ExportError> {
    let v = field(line, name)?;
    let canonical = v.bytes().all(|b| b.is_ascii_digit()) && (v == "0" || !v.starts_with('0'));
    canonical
        .then(|| v.parse().ok())
        .flatten()
        .ok_or_else(|| ExportError::Header(format!("{name} {v:?} is not a number")))
}

impl<R: BufRead> ExportReader<R> {
    /// Reads and checks the header.
    pub fn new(mut input: R) -> Result<Self, ExportError> {
        if header_line(&mut input, "first").map_err(|_| ExportError::Magic)? != MAGIC {
            return Err(ExportError::Magic);
        }
        let origin = field(&header_line(&mut input, "origin")?, "origin")?;
        let first = number(&header_line(&mut input, "first")?, "first")?;
        let entries = number(&header_line(&mut input, "entries")?, "entries")?;
        if !header_line(&mut input, "blank")?.is_empty() {
            return Err(ExportError::Header("the header must end with a blank line".into()));
        }
        if first.checked_add(entries).is_none() {
            return Err(ExportError::Header("first + entries overflows".into()));
        }
        Ok(ExportReader { input, header: Header { origin, first, entries }, read: 0 })
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The next entry with its sequence number as the file places it, or `None` after
    /// the last declared entry (checking that nothing follows it).
    pub fn next_entry(&mut self) -> Result<Option<(u64, Vec<u8>)>, ExportError> {
        let seq = self.header.first + self.read;
        if self.read == self.header.entries {
            let mut probe = [0u8; 1];
            return match self.input.read(&mut probe)? {
                0 => Ok(None),
                _ => Err(ExportError::Trailing { declared: self.header.entries }),
            };
        }
        let mut len = [0u8; 4];
        let got = read_full(&mut self.input, &mut len)?;
        if got == 0 {
            return Err(ExportError::Short { got: self.read, declared: self.header.entries });
        }
        if got < 4 {
            return Err(ExportError::Truncated { seq, want: 4, got });
        }
        let len = u32::from_be_bytes(len);
        if len > ENTRY_BYTES_MAX {
            return Err(ExportError::TooLong { seq, len });
        }
        let mut entry = vec![0u8; len as usize];
        let got = read_full(&mut self.input, &mut entry)?;
        if got < entry.len() {
            return Err(ExportError::Truncated { seq, want: len, got });
        }
        self.read += 1;
        Ok(Some((seq, entry)))
    }
}

/// Reads until `buf` is full or the input ends; returns how much was read.
fn read_full<R: Read>(input: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

impl<R: BufRead> Iterator for ExportReader<R> {
    type Item = Result<(u64, Vec<u8>), ExportError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_entry().transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn export(entries: &[&[u8]]) -> Vec<u8> {
        let header = Header { origin: "suanli/test/00".into(), first: 0, entries: entries.len() as u64 };
        let mut w = ExportWriter::new(Vec::new(), &header).unwrap();
        for e in entries {
            w.write_entry(e).unwrap();
        }
        w.finish().unwrap()
    }

    fn read_all(bytes: &[u8]) -> Result<Vec<(u64, Vec<u8>)>, ExportError> {
        ExportReader::new(bytes)?.collect()
    }

    #[test]
    fn round_trip() {
        let bytes = export(&[b"a", b"", b"third entry"]);
        assert!(bytes.starts_with(b"suanli-log-export v1\norigin suanli/test/00\nfirst 0\nentries 3\n\n"));
        let r = ExportReader::new(bytes.as_slice()).unwrap();
        assert_eq!(r.header(), &Header { origin: "suanli/test/00".into(), first: 0, entries: 3 });
        let got = read_all(&bytes).unwrap();
        assert_eq!(got, vec![(0, b"a".to_vec()), (1, vec![]), (2, b"third entry".to_vec())]);
        assert_eq!(read_all(&export(&[])).unwrap(), vec![]);
    }

    #[test]
    fn damage_is_refused_with_a_reason() {
        let good = export(&[b"one", b"two"]);
        assert!(matches!(read_all(&good[..good.len() - 1]), Err(ExportError::Truncated { seq: 1, .. })));
        let header_len = good.len() - 14;
        assert!(matches!(read_all(&good[..header_len]), Err(ExportError::Short { got: 0, declared: 2 })));
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(matches!(read_all(&trailing), Err(ExportError::Trailing { declared: 2 })));
        assert!(matches!(read_all(b"hello\n"), Err(ExportError::Magic)));
        assert!(matches!(read_all(b""), Err(ExportError::Magic)));
        let bad = b"suanli-log-export v1\norigin x\nfirst 01\nentries 0\n\n";
        assert!(matches!(read_all(bad), Err(ExportError::Header(_))));
        let bad = b"suanli-log-export v1\norigin x\nfirst 0\nentries 0\nmore\n";
        assert!(matches!(read_all(bad), Err(ExportError::Header(_))));
        let mut huge = b"suanli-log-export v1\norigin x\nfirst 0\nentries 1\n\n".to_vec();
        huge.extend_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(read_all(&huge), Err(ExportError::TooLong { seq: 0, .. })));
        // Writers refuse to write a file that would not read back.
        let h = Header { origin: "a\nb".into(), first: 0, entries: 0 };
        assert!(ExportWriter::new(Vec::new(), &h).is_err());
        let h = Header { origin: "x".into(), first: 0, entries: 1 };
        assert!(ExportWriter::new(Vec::new(), &h).unwrap().finish().is_err());
    }
}
