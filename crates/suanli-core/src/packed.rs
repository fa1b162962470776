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
//!   apart, so 128 of them span about 1,000 and take 10 bits each.
//! - [`TagList`] (the dashboard's per-entry tag: GPU class and month) stores each element as
//!   its position in the block's sorted list of distinct values. Entries of one stretch of
//!   the log share a few months and GPU classes, so a field is 0–3 bits wide.
//!
//! Measured with `bench/run-10m.sh` (the README's performance section): as plain `u32`s
//! these lists held 12–16 bytes a record, most of the server's memory growth over a long
//! run (RSS 223 → 441 MiB over ten million records); packed, 200 → 309 MiB.

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

/// Elements of a packed [`SeqList`] block.
const SEQ_BLOCK: usize = 128;

/// Increasing sequence numbers (see the module's documentation).
#[derive(Debug, Default, Clone)]
pub struct SeqList {
    blocks: Vec<SeqBlock>,
    /// The last, unpacked, block: fewer than [`SEQ_BLOCK`] numbers.
    open: Vec<u64>,
}

#[derive(Debug, Clone)]
struct SeqBlock {
    first: u64,
    width: u32,
    /// Each element minus `first`, `width` bits each.
    words: Box<[u64]>,
}

impl SeqList {
    pub fn len(&self) -> usize {
        self.blocks.len() * SEQ_BLOCK + self.open.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn last(&self) -> Option<u64> {
        self.open.last().copied().or_else(|| self.get(self.len().checked_sub(1)?))
    }

    /// Appends `seq` (larger than every one held; a repeat of the last is ignored).
    pub fn push(&mut self, seq: u64) {
        if self.last().is_some_and(|l| l >= seq) {
            return;
        }
        self.open.push(seq);
        if self.open.len() == SEQ_BLOCK {
            let first = self.open[0];
            let width = width_of(self.open[SEQ_BLOCK - 1] - first);
            let words = pack(self.open.iter().map(|s| s - first), width);
            self.blocks.push(SeqBlock { first, width, words });
            self.open.clear();
        }
    }

    pub fn get(&self, i: usize) -> Option<u64> {
        match self.blocks.get(i / SEQ_BLOCK) {
            Some(b) => Some(b.first + read_bits(&b.words, (i % SEQ_BLOCK) * b.width as usize, b.width)),
            None => self.open.get(i - self.blocks.len() * SEQ_BLOCK).copied(),
        }
    }

    /// How many are below `seq`.
    pub fn count_below(&self, seq: u64) -> usize {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            if self.get(mid).is_some_and(|s| s < seq) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// Bytes of memory held (allocations, not counting the allocator's own overhead).
    pub fn heap_bytes(&self) -> usize {
        self.blocks.capacity() * size_of::<SeqBlock>()
            + self.blocks.iter().map(|b| b.words.len() * 8).sum::<usize>()
            + self.open.capacity() * 8
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

    #[test]
    fn seq_lists_keep_large_numbers() {
        let mut l = SeqList::default();
        let seqs = [1u64, 7, (1 << 32) - 1, 1 << 32, (1 << 32) + 5, 3 << 32, (3 << 32) + 1];
        for s in seqs {
            l.push(s);
        }
        l.push(3); // not increasing: ignored
        assert_eq!(l.len(), seqs.len());
        for (i, s) in seqs.iter().enumerate() {
            assert_eq!(l.get(i), Some(*s));
        }
        assert_eq!(l.count_below(0), 0);
        assert_eq!(l.count_below(8), 2);
        assert_eq!(l.count_below(1 << 32), 3);
        assert_eq!(l.count_below(u64::MAX), seqs.len());
        assert_eq!(l.last(), Some((3 << 32) + 1));
    }

    #[test]
    fn a_seq_list_answers_as_the_plain_list_across_many_blocks() {
        let mut rng = Rng(7);
        let mut l = SeqList::default();
        let mut plain = Vec::new();
        let mut seq = 0u64;
        for n in 0..5 * SEQ_BLOCK + 17 {
            // Gaps from 1 to huge, a stretch of each, and repeats that must be ignored.
            let gap = match (n / 50) % 4 {
                0 => 1,
                1 => 1 + rng.next() % 16,
                2 => 1 + rng.next() % 100_000,
                _ => 1 + rng.next() % (1 << 40),
            };
            seq += gap;
            l.push(seq);
            l.push(seq);
            plain.push(seq);
            assert_eq!(l.last(), Some(seq));
        }
        assert_eq!(l.len(), plain.len());
        assert_eq!(l.blocks.len(), 5);
        for (i, s) in plain.iter().enumerate() {
            assert_eq!(l.get(i), Some(*s), "element {i}");
        }
        assert_eq!(l.get(plain.len()), None);
        assert_eq!(l.get(plain.len() + SEQ_BLOCK), None);
        for probe in plain.iter().flat_map(|s| [s - 1, *s, s + 1]) {
            assert_eq!(l.count_below(probe), plain.partition_point(|s| *s < probe), "below {probe}");
        }
    }

    #[test]
    fn a_providers_entries_take_under_two_bytes_each() {
        // One provider of eight, round robin: its entries are eight apart.
        let mut l = SeqList::default();
        let n = 100 * SEQ_BLOCK;
        for i in 0..n as u64 {
            l.push(10_000_000 + 8 * i + i % 3);
        }
        let per = l.heap_bytes() as f64 / n as f64;
        assert!(per < 2.0, "{per:.2} bytes a number (4 as plain u32s)");
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
