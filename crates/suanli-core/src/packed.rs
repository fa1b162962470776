//! Append-only lists of numbers in a fraction of their plain size: the two in-memory
//! structures of the dashboard that grow with the log, one element per entry or per record
//! and company, so that a ledger of tens of millions of records does not carry hundreds
//! of megabytes of them.
//!
//! Both cut the list into blocks of a fixed number of elements. The last block is open and
//! held as it is; a block that fills is packed, once, into a bit string of fixed-width
//! fields, so that any element is read in constant time (no decoding from the start of
//! the block, as a varint delta encoding would need):
//! - [`SeqList`] (increasing sequence numbers: a company's entries) stores each element as
//!   its difference from the block's first, in as many bits as the block's largest
//!   difference needs. A provider among eight in a busy ledger has entries about eight
//!   apart, so 512 of them span about 4,000 and take 12 bits each. Its sealed blocks do
//!   not stay in memory: they go to a [`Spill`] (the server's is a scratch file), and
//!   only a 16-byte header per block does.
//! - [`TagList`] (the dashboard's per-entry tag: GPU class and month) stores each element as
//!   its position in the block's sorted list of distinct values. Entries of one stretch of
//!   the log share a few months and GPU classes, so a field is 0–3 bits wide.
//!
//! Measured with `bench/run-10m.sh` (the README's performance section): as plain `u32`s
//! these lists held 12–16 bytes a record, most of the server's memory growth over a long
//! run (RSS 223 → 441 MiB over ten million records); packed, 200 → 309 MiB; with the
//! sequence numbers' blocks in a scratch file, see the README.

/// Reads the `width`-bit field (0–64 bits) that starts at bit `at` of `words`.
fn read_bits(words: &[u64], at: usize, width: u32) -> u64 {
    if width == 0 {
        return 0;
    }
    let (w, b) = (at / 64, (at % 64) as u32);
    let mut v = words[w] >> b;
    if b + width > 64 {
        v |= words[w + 1] << (64 - b);
    }
    if width == 64 { v } else { v & ((1u64 << width) - 1) }
}

/// `values` (each below 2^`width`) as consecutive `width`-bit fields.
fn pack(values: impl ExactSizeIterator<Item = u64>, width: u32) -> Box<[u64]> {
    let mut words = vec![0u64; (values.len() * width as usize).div_ceil(64)];
    if width == 0 {
        return words.into_boxed_slice();
    }
    for (i, v) in values.enumerate() {
        let at = i * width as usize;
        let (w, b) = (at / 64, (at % 64) as u32);
        words[w] |= v << b;
        if b + width > 64 {
            words[w + 1] |= v >> (64 - b);
        }
    }
    words.into_boxed_slice()
}

/// Bits needed to write every number up to `max`.
fn width_of(max: u64) -> u32 {
    64 - max.leading_zeros()
}

/// Elements of a packed [`SeqList`] block. Large, because a sealed block leaves memory
/// (see [`Spill`]) and only its 16-byte header stays: 512 elements make that 0.03 bytes an
/// element, while the open block of each list holds at most 4 KiB.
const SEQ_BLOCK: usize = 512;

/// Where the packed blocks of [`SeqList`]s go once sealed: a scratch file (the server: the
/// statement index is rebuilt from the log at every start, so the file holds nothing of
/// its own and is created anew, unlinked, each time), or memory (tests, tools).
///
/// The lists are the one part of the statement index that grows with the log; kept in the
/// heap they were 4.5 bytes a record (heaptrack, 3 M records) and most of the server's
/// memory growth over a long run. In the file they cost page cache, which the kernel can
/// take back, and a read of one block (at most 4 KiB) when a page of a statement is shown.
pub struct Spill {
    place: SpillPlace,
    /// Words written so far.
    words: u64,
}

enum SpillPlace {
    Memory(Vec<u64>),
    /// Unix only (positioned reads and writes); the server is built for Linux, and the
    /// CLI, which shares this crate, never spills to a file.
    #[cfg(unix)]
    File(std::fs::File),
}

impl Default for Spill {
    fn default() -> Self {
        Spill::in_memory()
    }
}

impl std::fmt::Debug for Spill {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let place = match self.place {
            SpillPlace::Memory(_) => "memory",
            #[cfg(unix)]
            SpillPlace::File(_) => "file",
        };
        write!(f, "Spill({place}, {} words)", self.words)
    }
}

impl Spill {
    pub fn in_memory() -> Spill {
        Spill { place: SpillPlace::Memory(Vec::new()), words: 0 }
    }

    /// Blocks go to `file` (empty, read and written by this spill alone).
    #[cfg(unix)]
    pub fn in_file(file: std::fs::File) -> Spill {
        Spill { place: SpillPlace::File(file), words: 0 }
    }

    /// Bytes written to the spill.
    pub fn bytes(&self) -> u64 {
        self.words * 8
    }

    /// Appends `words`; returns the word position they start at.
    fn put(&mut self, words: &[u64]) -> std::io::Result<u64> {
        let at = self.words;
        match &mut self.place {
            SpillPlace::Memory(v) => v.extend_from_slice(words),
            #[cfg(unix)]
            SpillPlace::File(f) => {
                use std::os::unix::fs::FileExt;
                let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
                f.write_all_at(&bytes, at * 8)?;
            }
        }
        self.words += words.len() as u64;
        Ok(at)
    }

    /// Fills `out` with the words from position `at`.
    fn read(&self, at: u64, out: &mut [u64]) -> std::io::Result<()> {
        match &self.place {
            SpillPlace::Memory(v) => out.copy_from_slice(&v[at as usize..at as usize + out.len()]),
            #[cfg(unix)]
            SpillPlace::File(f) => {
                use std::os::unix::fs::FileExt;
                let mut bytes = vec![0u8; out.len() * 8];
                f.read_exact_at(&mut bytes, at * 8)?;
                for (w, b) in out.iter_mut().zip(bytes.chunks_exact(8)) {
                    *w = u64::from_le_bytes(b.try_into().expect("8 bytes"));
                }
            }
        }
        Ok(())
    }
}

/// Both places a list's blocks can go, for tests: memory, and (on Unix) a scratch file as
/// the server has.
#[cfg(test)]
pub(crate) fn test_spills() -> Vec<Spill> {
    #[cfg(unix)]
    return vec![Spill::in_memory(), Spill::in_file(tempfile::tempfile().expect("scratch file"))];
    #[cfg(not(unix))]
    return vec![Spill::in_memory()];
}

/// Increasing sequence numbers (see the module's documentation). The sealed blocks live
/// in a [`Spill`] the caller keeps and passes to every call that needs them.
#[derive(Debug, Default, Clone)]
pub struct SeqList {
    blocks: Vec<SeqBlock>,
    /// The last, unpacked, block: fewer than [`SEQ_BLOCK`] numbers.
    open: Vec<u64>,
    last: Option<u64>,
}

#[derive(Debug, Clone, Copy)]
struct SeqBlock {
    first: u64,
    /// Where the block's words start in the spill (high 56 bits) and the width of its
    /// fields, each element minus `first` (low 8 bits).
    place: u64,
}

impl SeqBlock {
    fn width(&self) -> u32 {
        (self.place & 0xFF) as u32
    }

    fn at(&self) -> u64 {
        self.place >> 8
    }

    /// The block's elements, read from `spill` into `out`.
    fn read(&self, spill: &Spill, out: &mut Vec<u64>) -> std::io::Result<()> {
        let width = self.width();
        let mut words = vec![0u64; (SEQ_BLOCK * width as usize).div_ceil(64)];
        spill.read(self.at(), &mut words)?;
        out.clear();
        out.extend((0..SEQ_BLOCK).map(|j| self.first + read_bits(&words, j * width as usize, width)));
        Ok(())
    }
}

impl SeqList {
    pub fn len(&self) -> usize {
        self.blocks.len() * SEQ_BLOCK + self.open.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn last(&self) -> Option<u64> {
        self.last
    }

    /// Appends `seq` (larger than every one held; a repeat of the last is ignored). A block
    /// that fills is packed into `spill`; if that write fails, `seq` is not added.
    pub fn push(&mut self, seq: u64, spill: &mut Spill) -> std::io::Result<()> {
        if self.last.is_some_and(|l| l >= seq) {
            return Ok(());
        }
        self.open.push(seq);
        if self.open.len() == SEQ_BLOCK {
            let first = self.open[0];
            let width = width_of(self.open[SEQ_BLOCK - 1] - first);
            let words = pack(self.open.iter().map(|s| s - first), width);
            match spill.put(&words) {
                Ok(at) => self.blocks.push(SeqBlock { first, place: at << 8 | width as u64 }),
                Err(e) => {
                    self.open.pop();
                    return Err(e);
                }
            }
            self.open.clear();
        }
        self.last = Some(seq);
        Ok(())
    }

    /// A reader of the list's elements by position, which keeps the last block it read.
    pub fn reader<'a>(&'a self, spill: &'a Spill) -> SeqReader<'a> {
        SeqReader { list: self, spill, block: usize::MAX, values: Vec::new() }
    }

    /// How many are below `seq` (reads at most one block).
    pub fn count_below(&self, seq: u64, spill: &Spill) -> std::io::Result<usize> {
        self.reader(spill).count_below(seq)
    }

    /// Bytes of memory held (allocations, not counting the allocator's own overhead).
    pub fn heap_bytes(&self) -> usize {
        self.blocks.capacity() * size_of::<SeqBlock>() + self.open.capacity() * 8
    }
}

/// See [`SeqList::reader`].
pub struct SeqReader<'a> {
    list: &'a SeqList,
    spill: &'a Spill,
    /// The block `values` holds (`usize::MAX`: none).
    block: usize,
    values: Vec<u64>,
}

impl SeqReader<'_> {
    /// Holds sealed block `b` in `values`, reading it unless it is there already.
    fn load(&mut self, b: usize) -> std::io::Result<()> {
        if self.block != b {
            self.block = usize::MAX;
            self.list.blocks[b].read(self.spill, &mut self.values)?;
            self.block = b;
        }
        Ok(())
    }

    /// The list's element `i`.
    pub fn get(&mut self, i: usize) -> std::io::Result<Option<u64>> {
        let b = i / SEQ_BLOCK;
        if b >= self.list.blocks.len() {
            return Ok(self.list.open.get(i - self.list.blocks.len() * SEQ_BLOCK).copied());
        }
        self.load(b)?;
        Ok(Some(self.values[i % SEQ_BLOCK]))
    }

    /// How many are below `seq`. Reads at most one block and keeps it, so that reading the
    /// elements just below `seq` next (a statement page) reads nothing more.
    pub fn count_below(&mut self, seq: u64) -> std::io::Result<usize> {
        let list = self.list;
        let open_below = || list.open.partition_point(|s| *s < seq);
        // Blocks that start below `seq`: all but the last of them lie below it entirely.
        let k = list.blocks.partition_point(|b| b.first < seq);
        if k == 0 {
            return Ok(if list.blocks.is_empty() { open_below() } else { 0 });
        }
        self.load(k - 1)?;
        let c = self.values.partition_point(|s| *s < seq);
        Ok(if c == SEQ_BLOCK && k == list.blocks.len() {
            k * SEQ_BLOCK + open_below()
        } else {
            (k - 1) * SEQ_BLOCK + c
        })
    }
}

/// Elements of a packed [`TagList`] block.
const TAG_BLOCK: usize = 512;

/// One `u32` per log entry, from a small set of values at a time (see the module's
/// documentation).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TagList {
    blocks: Vec<TagBlock>,
    /// The last, unpacked, block: fewer than [`TAG_BLOCK`] tags.
    open: Vec<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct TagBlock {
    /// The block's distinct tags, sorted.
    values: Box<[u32]>,
    width: u32,
    /// Each element's position in `values`, `width` bits each (none if there is one value).
    words: Box<[u64]>,
}

impl TagList {
    pub fn len(&self) -> usize {
        self.blocks.len() * TAG_BLOCK + self.open.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn push(&mut self, tag: u32) {
        self.open.push(tag);
        if self.open.len() == TAG_BLOCK {
            let mut values = self.open.clone();
            values.sort_unstable();
            values.dedup();
            let width = width_of(values.len() as u64 - 1);
            let at = |t: &u32| values.binary_search(t).expect("a value of the block") as u64;
            let words = pack(self.open.iter().map(at), width);
            self.blocks.push(TagBlock { values: values.into_boxed_slice(), width, words });
            self.open.clear();
        }
    }

    pub fn get(&self, i: usize) -> Option<u32> {
        match self.blocks.get(i / TAG_BLOCK) {
            Some(b) => Some(b.values[read_bits(&b.words, (i % TAG_BLOCK) * b.width as usize, b.width) as usize]),
            None => self.open.get(i - self.blocks.len() * TAG_BLOCK).copied(),
        }
    }

    /// Bytes of memory held (allocations, not counting the allocator's own overhead).
    pub fn heap_bytes(&self) -> usize {
        self.blocks.capacity() * size_of::<TagBlock>()
            + self.blocks.iter().map(|b| b.values.len() * 4 + b.words.len() * 8).sum::<usize>()
            + self.open.capacity() * 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator (xorshift), so that failures repeat.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    #[test]
    fn bit_fields_of_every_width_read_back_across_word_edges() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for width in 0..=64u32 {
            let mask = if width == 64 { u64::MAX } else { (1u64 << width) - 1 };
            let values: Vec<u64> = (0..200).map(|_| rng.next() & mask).collect();
            let words = pack(values.iter().copied(), width);
            assert_eq!(words.len(), (200 * width as usize).div_ceil(64));
            for (i, v) in values.iter().enumerate() {
                assert_eq!(read_bits(&words, i * width as usize, width), *v, "width {width}, field {i}");
            }
        }
    }

    use super::test_spills as spills;

    /// Every element of `l`, read through one reader.
    fn all(l: &SeqList, spill: &Spill) -> Vec<u64> {
        let mut r = l.reader(spill);
        (0..l.len()).map(|i| r.get(i).unwrap().unwrap()).collect()
    }

    #[test]
    fn seq_lists_keep_large_numbers() {
        for mut spill in spills() {
            let mut l = SeqList::default();
            let seqs = [1u64, 7, (1 << 32) - 1, 1 << 32, (1 << 32) + 5, 3 << 32, (3 << 32) + 1];
            for s in seqs {
                l.push(s, &mut spill).unwrap();
            }
            l.push(3, &mut spill).unwrap(); // not increasing: ignored
            assert_eq!(l.len(), seqs.len());
            assert_eq!(all(&l, &spill), seqs);
            assert_eq!(l.count_below(0, &spill).unwrap(), 0);
            assert_eq!(l.count_below(8, &spill).unwrap(), 2);
            assert_eq!(l.count_below(1 << 32, &spill).unwrap(), 3);
            assert_eq!(l.count_below(u64::MAX, &spill).unwrap(), seqs.len());
            assert_eq!(l.last(), Some((3 << 32) + 1));
        }
    }

    #[test]
    fn seq_lists_sharing_a_spill_answer_as_the_plain_lists_across_many_blocks() {
        for mut spill in spills() {
            let mut rng = Rng(7);
            // Two lists whose blocks interleave in the one spill, as companies' lists do.
            let (mut l, mut other) = (SeqList::default(), SeqList::default());
            let (mut plain, mut other_plain) = (Vec::new(), Vec::new());
            let mut seq = 0u64;
            for n in 0..5 * SEQ_BLOCK + 17 {
                // Gaps from 1 to huge, a stretch of each, and repeats that must be ignored.
                let gap = match (n / 200) % 4 {
                    0 => 1,
                    1 => 1 + rng.next() % 16,
                    2 => 1 + rng.next() % 100_000,
                    _ => 1 + rng.next() % (1 << 40),
                };
                seq += gap;
                l.push(seq, &mut spill).unwrap();
                l.push(seq, &mut spill).unwrap();
                plain.push(seq);
                assert_eq!(l.last(), Some(seq));
                if n % 3 == 0 {
                    other.push(seq * 2, &mut spill).unwrap();
                    other_plain.push(seq * 2);
                }
            }
            assert_eq!(l.len(), plain.len());
            assert_eq!(l.blocks.len(), 5);
            assert_eq!(all(&l, &spill), plain);
            assert_eq!(all(&other, &spill), other_plain);
            // Read out of order: the reader moves between blocks.
            let mut r = l.reader(&spill);
            for i in [plain.len() - 1, 0, 3 * SEQ_BLOCK + 5, SEQ_BLOCK - 1, SEQ_BLOCK, 2] {
                assert_eq!(r.get(i).unwrap(), Some(plain[i]), "element {i}");
            }
            assert_eq!(r.get(plain.len()).unwrap(), None);
            assert_eq!(r.get(plain.len() + SEQ_BLOCK).unwrap(), None);
            let probes = [0, 1, u64::MAX].into_iter().chain(plain.iter().step_by(7).flat_map(|s| [s - 1, *s, s + 1]));
            for probe in probes {
                let want = plain.partition_point(|s| *s < probe);
                assert_eq!(l.count_below(probe, &spill).unwrap(), want, "below {probe}");
            }
            // Block edges, where a count ends exactly at a sealed block's end.
            for b in 0..l.blocks.len() {
                let last = plain[(b + 1) * SEQ_BLOCK - 1];
                assert_eq!(l.count_below(last + 1, &spill).unwrap(), (b + 1) * SEQ_BLOCK);
            }
        }
    }

    #[test]
    #[cfg(unix)]
    fn a_providers_entries_leave_memory_in_blocks_of_a_few_bits_each() {
        // One provider of eight, round robin: its entries are eight apart.
        let mut spill = Spill::in_file(tempfile::tempfile().unwrap());
        let mut l = SeqList::default();
        let n = 100 * SEQ_BLOCK;
        for i in 0..n as u64 {
            l.push(10_000_000 + 8 * i + i % 3, &mut spill).unwrap();
        }
        let per = l.heap_bytes() as f64 / n as f64;
        assert!(per < 0.2, "{per:.2} bytes of memory a number (4 as plain u32s)");
        let spilled = spill.bytes() as f64 / n as f64;
        assert!(spilled < 1.6, "{spilled:.2} bytes of the scratch file a number");
        assert_eq!(l.count_below(u64::MAX, &spill).unwrap(), n);
    }

    #[test]
    #[cfg(unix)]
    fn a_block_that_cannot_be_written_leaves_the_list_as_it_was() {
        // A spill file opened read-only: sealing the first block fails.
        let path = tempfile::NamedTempFile::new().unwrap();
        let mut spill = Spill::in_file(std::fs::File::open(path.path()).unwrap());
        let mut l = SeqList::default();
        for s in 1..SEQ_BLOCK as u64 {
            l.push(s, &mut spill).unwrap();
        }
        assert!(l.push(SEQ_BLOCK as u64, &mut spill).is_err());
        assert_eq!((l.len(), l.last()), (SEQ_BLOCK - 1, Some(SEQ_BLOCK as u64 - 1)));
        assert_eq!(spill.bytes(), 0);
        assert_eq!(all(&l, &spill), (1..SEQ_BLOCK as u64).collect::<Vec<_>>());
    }

    #[test]
    fn a_tag_list_answers_as_the_plain_list() {
        let mut rng = Rng(11);
        let mut l = TagList::default();
        let mut plain = Vec::new();
        for n in 0..7 * TAG_BLOCK + 3 {
            // Stretches of one value, of a few, and of many distinct ones.
            let t = match (n / 700) % 3 {
                0 => 42,
                1 => (rng.next() % 5) as u32 * 1000 + 7,
                _ => rng.next() as u32,
            };
            l.push(t);
            plain.push(t);
        }
        assert_eq!(l.len(), plain.len());
        for (i, t) in plain.iter().enumerate() {
            assert_eq!(l.get(i), Some(*t), "element {i}");
        }
        assert_eq!(l.get(plain.len()), None);
        assert_eq!(l.blocks.iter().filter(|b| b.width == 0).count(), 1, "one block of a single value");
        // Equal lists compare equal (the dashboard's aggregates are compared in tests).
        let mut again = TagList::default();
        plain.iter().for_each(|t| again.push(*t));
        assert_eq!(again, l);
    }

    #[test]
    fn tags_of_a_few_classes_take_under_a_byte_each() {
        let mut rng = Rng(3);
        let mut l = TagList::default();
        let n = 50 * TAG_BLOCK;
        for _ in 0..n {
            // Five GPU classes in one month, and the tag of entries that are not records: three
            // bits a tag, and the blocks' headers and value lists (0.60 bytes measured).
            let class = rng.next() % 6;
            l.push(if class == 5 { u32::MAX } else { (class as u32) << 24 | 1512 });
        }
        let per = l.heap_bytes() as f64 / n as f64;
        assert!(per < 1.0, "{per:.2} bytes a tag (4 as plain u32s)");
    }
}
