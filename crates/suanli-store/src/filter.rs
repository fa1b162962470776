//! A filter of the record keys the store holds, so that the sequencer can tell most new
//! records are new without a store lookup (a lookup of a missing key walks the whole tree;
//! nearly every record is new).
//!
//! It is a scalable Bloom filter: a chain of filters, each twice the size of the one
//! before, at about 10 bits per key (under 1 % false positives, which only cost a lookup).
//! It never forgets a key, so "absent" is always right. It costs about 1.2 bytes per record
//! ever stored — the one piece of memory that grows with the log (1.2 MB per million
//! records) — and is rebuilt from the store's keys at start.

use std::hash::{BuildHasher, Hasher};

/// Keys the first filter holds before the next one is added.
pub const FIRST_CAPACITY: u64 = 1 << 20;
/// Bits per key and hash functions: 10 and 7 give about 0.8 % false positives.
const BITS_PER_KEY: u64 = 10;
const HASHES: u64 = 7;

struct Part {
    bits: Vec<u64>,
    capacity: u64,
    len: u64,
}

impl Part {
    fn new(capacity: u64) -> Part {
        let words = (capacity * BITS_PER_KEY).div_ceil(64) as usize;
        Part { bits: vec![0; words], capacity, len: 0 }
    }

    fn bit_count(&self) -> u64 {
        self.bits.len() as u64 * 64
    }

    fn positions(&self, (h1, h2): (u64, u64)) -> impl Iterator<Item = u64> + '_ {
        let m = self.bit_count();
        (0..HASHES).map(move |i| h1.wrapping_add(i.wrapping_mul(h2)) % m)
    }

    fn contains(&self, h: (u64, u64)) -> bool {
        self.positions(h).all(|b| self.bits[(b / 64) as usize] & (1 << (b % 64)) != 0)
    }

    fn insert(&mut self, h: (u64, u64)) {
        let m = self.bit_count();
        for i in 0..HASHES {
            let b = h.0.wrapping_add(i.wrapping_mul(h.1)) % m;
            self.bits[(b / 64) as usize] |= 1 << (b % 64);
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
        KeyFilter { parts: vec![Part::new(FIRST_CAPACITY)], hasher: Default::default() }
    }

    fn hash(&self, key: &[u8]) -> (u64, u64) {
        let mut a = self.hasher.build_hasher();
        a.write(key);
        let h1 = a.finish();
        let mut b = self.hasher.build_hasher();
        b.write_u8(0x5a);
        b.write(key);
        // An odd step visits distinct positions for every hash function.
        (h1, b.finish() | 1)
    }

    /// False means the key was never inserted.
    pub fn may_contain(&self, key: &[u8]) -> bool {
        let h = self.hash(key);
        self.parts.iter().any(|p| p.contains(h))
    }

    pub fn insert(&mut self, key: &[u8]) {
        let h = self.hash(key);
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
        self.parts.iter().map(|p| p.bits.len() * 8).sum()
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
        assert!(f.parts.len() >= 2);
        for i in 0..n {
            assert!(f.may_contain(&i.to_be_bytes()), "key {i} forgotten");
        }
        let false_positives = (n..n + 100_000).filter(|i| f.may_contain(&i.to_be_bytes())).count();
        assert!(false_positives < 3_000, "{false_positives} false positives in 100000");
    }
}
