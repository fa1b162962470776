//! A filter of the record keys the store holds, so that the sequencer can tell most new
//! records are new without a store lookup (a lookup of a missing key walks the whole tree;
//! nearly every record is new).
//!
//! It is a scalable Bloom filter: a chain of filters, each twice the size of the one
//! before. Each filter is *split-block*: a key hashes (once, SipHash with a per-process key)
//! to one 64-byte block and sets one bit in each of its eight words, so a lookup touches one
//! cache line and needs no division. At 16 bits per key the chain answers "maybe" for about
//! 0.1 % of absent keys (0.09 % with two parts, measured by the test below). A false
//! "maybe" costs a store lookup: at 10 bits per key and seven probes per part (0.8 % a
//! part) those lookups were 3.4 % of the server's CPU in a batch-signed run on a ledger of
//! 1.6 million records. It never forgets a key, so "absent" is always right. It costs about 2 bytes
//! per record ever stored — the one piece of memory that grows with the log (2 MB per
//! million records) — and is rebuilt from the store's keys at start.

use std::hash::{BuildHasher, Hasher};

use suanli_core::index::RecordKey;

/// Keys the first filter holds before the next one is added (a power of two).
pub const FIRST_CAPACITY: u64 = 1 << 20;
/// Bits per key (a power of two, so that every part has a power-of-two number of blocks).
const BITS_PER_KEY: u64 = 16;
/// Words of one block: one bit is set in each.
const WORDS: usize = 8;
/// Odd multipliers that turn a key's 32-bit in-block hash into one bit position per word.
const SALT: [u32; WORDS] =
    [0x47b6_137b, 0x4497_4d91, 0x8824_ad5b, 0xa2b7_289d, 0x7054_95c7, 0x2df1_424b, 0x9efc_4947, 0x5c6b_fb31];

struct Part {
    blocks: Vec<[u64; WORDS]>,
    capacity: u64,
    len: u64,
}

impl Part {
    fn new(capacity: u64) -> Part {
        let blocks = (capacity * BITS_PER_KEY / (64 * WORDS as u64)).max(1) as usize;
        debug_assert!(blocks.is_power_of_two());
        Part { blocks: vec![[0; WORDS]; blocks], capacity, len: 0 }
    }

    /// The block of a hash (its high bits) and the mask of each word (its low 32 bits).
    fn place(&self, h: u64) -> (usize, [u64; WORDS]) {
        let block = (h >> 32) as usize & (self.blocks.len() - 1);
        let low = h as u32;
        (block, SALT.map(|s| 1u64 << (low.wrapping_mul(s) >> 26)))
    }

    fn contains(&self, h: u64) -> bool {
        let (b, masks) = self.place(h);
        let block = &self.blocks[b];
        (0..WORDS).all(|i| block[i] & masks[i] != 0)
    }

    fn insert(&mut self, h: u64) {
        let (b, masks) = self.place(h);
        let block = &mut self.blocks[b];
        for i in 0..WORDS {
            block[i] |= masks[i];
        }
        self.len += 1;
    }
}

pub struct KeyFilter {
    parts: Vec<Part>,
    hasher: std::collections::hash_map::RandomState,
}

impl Default for KeyFilter {
    fn default() -> Self {
        KeyFilter::new()
    }
}

impl KeyFilter {
    pub fn new() -> KeyFilter {
        KeyFilter::with_capacity(0)
    }

    /// A filter whose first part holds `keys` keys (rounded up to a power of two, at least
    /// [`FIRST_CAPACITY`]): what the sequencer builds at start from the store's keys, so
    /// that a restarted ledger's filter is one part — one cache line probed for each new
    /// record — instead of the chain of doubling parts it grew while running (four parts
    /// at ten million records). The same memory within one [`FIRST_CAPACITY`] part: a chain
    /// holding `keys` keys is at least as large.
    pub fn with_capacity(keys: u64) -> KeyFilter {
        let first = keys.max(FIRST_CAPACITY).next_power_of_two();
        KeyFilter { parts: vec![Part::new(first)], hasher: Default::default() }
    }

    /// Parts in the chain (each is probed for every key looked up).
    pub fn parts(&self) -> usize {
        self.parts.len()
    }

    fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The hash of `key.encode()`, without building it: the same bytes fed to the same
    /// hasher in three pieces (SipHash reads its input as one stream; a test holds the two
    /// equal). The sequencer asks once and inserts once per record, so the allocation it
    /// saves is two per record.
    fn hash_record(&self, key: &RecordKey) -> u64 {
        let id = key.record_id.as_bytes();
        let mut h = self.hasher.build_hasher();
        // What `Hash for [u8]` writes first: the length.
        h.write_usize(1 + key.provider.as_bytes().len() + id.len());
        h.write(&[key.kind.to_byte()]);
        h.write(key.provider.as_bytes());
        h.write(id);
        h.finish()
    }

    /// False means the key was never inserted.
    pub fn may_contain(&self, key: &[u8]) -> bool {
        self.contains_hash(self.hash(key))
    }

    /// [`KeyFilter::may_contain`] of the record key's encoding.
    pub fn may_contain_record(&self, key: &RecordKey) -> bool {
        self.contains_hash(self.hash_record(key))
    }

    fn contains_hash(&self, h: u64) -> bool {
        self.parts.iter().any(|p| p.contains(h))
    }

    pub fn insert(&mut self, key: &[u8]) {
        self.insert_hash(self.hash(key));
    }

    /// [`KeyFilter::insert`] of the record key's encoding.
    pub fn insert_record(&mut self, key: &RecordKey) {
        self.insert_hash(self.hash_record(key));
    }

    fn insert_hash(&mut self, h: u64) {
        let last = self.parts.last().expect("never empty");
        if last.len >= last.capacity {
            let next = last.capacity * 2;
            self.parts.push(Part::new(next));
        }
        self.parts.last_mut().expect("never empty").insert(h);
    }

    /// Keys inserted.
    pub fn len(&self) -> u64 {
        self.parts.iter().map(|p| p.len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Memory held, bytes.
    pub fn bytes(&self) -> usize {
        self.parts.iter().map(|p| p.blocks.len() * WORDS * 8).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_forgets_and_rarely_lies() {
        let mut f = KeyFilter::new();
        let n = 3 * FIRST_CAPACITY / 2; // forces a second part
        for i in 0..n {
            f.insert(&i.to_be_bytes());
        }
        assert_eq!(f.len(), n);
        assert_eq!(f.parts.len(), 2);
        assert_eq!(f.bytes() as u64, 3 * FIRST_CAPACITY * BITS_PER_KEY / 8);
        for i in 0..n {
            assert!(f.may_contain(&i.to_be_bytes()), "key {i} forgotten");
        }
        let tries = 1_000_000u64;
        let false_positives = (n..n + tries).filter(|i| f.may_contain(&i.to_be_bytes())).count();
        eprintln!("{false_positives} false positives in {tries} absent keys, two parts");
        // Two parts (one full, one half full) at 16 bits per key: 0.09 % measured.
        assert!(false_positives < 2_000, "{false_positives} false positives in {tries}");
    }

    #[test]
    fn a_filter_sized_for_the_keys_it_is_built_from_is_one_part() {
        // A restart's filter: sized for the store's keys, it holds them in one part, and
        // grows by doubling from there.
        let n = 3 * FIRST_CAPACITY / 2;
        let mut f = KeyFilter::with_capacity(n);
        for i in 0..n {
            f.insert(&i.to_be_bytes());
        }
        assert_eq!((f.parts(), f.len()), (1, n));
        assert_eq!(f.bytes() as u64, 2 * FIRST_CAPACITY * BITS_PER_KEY / 8, "rounded up to a power of two");
        assert!((0..n).all(|i| f.may_contain(&i.to_be_bytes())));
        let false_positives = (n..n + 1_000_000).filter(|i| f.may_contain(&i.to_be_bytes())).count();
        assert!(false_positives < 1_000, "{false_positives} false positives in a million");
        for i in n..2 * FIRST_CAPACITY + 1 {
            f.insert(&i.to_be_bytes());
        }
        assert_eq!(f.parts(), 2, "past its capacity the next part doubles it");
        assert!((0..2 * FIRST_CAPACITY + 1).all(|i| f.may_contain(&i.to_be_bytes())));
        assert_eq!(KeyFilter::with_capacity(0).bytes(), KeyFilter::new().bytes());
    }

    #[test]
    fn a_record_key_hashes_as_its_encoding() {
        use suanli_core::model::RecordKind;
        let mut f = KeyFilter::new();
        for i in 0..2_000u32 {
            let key = RecordKey {
                kind: if i % 2 == 0 { RecordKind::Usage } else { RecordKind::Corpus },
                provider: suanli_core::testkit::uscc(u64::from(i % 7)),
                record_id: "r".repeat((i % 70) as usize) + &i.to_string(),
            };
            assert_eq!(f.hash_record(&key), f.hash(&key.encode()), "{key:?}");
            if i % 2 == 0 {
                f.insert_record(&key);
            } else {
                f.insert(&key.encode());
            }
            assert!(f.may_contain(&key.encode()) && f.may_contain_record(&key), "{key:?}");
        }
    }

    #[test]
    fn keys_of_records_that_differ_only_slightly_are_told_apart() {
        let mut f = KeyFilter::new();
        f.insert(b"\x01provider-1\x00record-000001");
        assert!(f.may_contain(b"\x01provider-1\x00record-000001"));
        let lies = (2..10_000).filter(|i| f.may_contain(format!("\x01provider-1\x00record-{i:06}").as_bytes())).count();
        assert_eq!(lies, 0, "an almost empty filter answers maybe only for what it holds");
    }
}
