//! Index writes of one commit, shared rather than copied.
//!
//! A round's record and request writes are read three times: by later lookups of the same
//! round (the sequencer's overlay), by lookups of the next rounds while this one is being
//! written ([`crate::ledger_index::Pending`]), and by the store that commits them. They used
//! to be copied for each: key by key into the pending map, and removed key by key once the
//! round was durable: at full speed (`perf`, 1M batch-signed records) that was 11 % of the
//! sequencer thread (`Pending::add`, `take_writes`) and 19 % of the committer
//! (`Pending::committed`). Now one map is built by the sequencer, frozen at the end of the
//! round, and handed by reference count to both; interleaved runs of the two binaries
//! used 9 % less server CPU per record with it (16.8 → 15.2 ms per 1,000).

use std::hash::{BuildHasher, Hash};
use std::ops::Deref;
use std::sync::Arc;

use hashbrown::HashTable;

/// The hasher of the write maps: seeded per process (keys come from providers, so a fixed
/// hash would let one craft colliding record ids), and several times cheaper than SipHash
/// on these short keys.
type Hasher = foldhash::fast::RandomState;

/// Index writes as the sequencer builds them: each key once, in the order it was first
/// written, with the value of its last write, and a hash table of positions for reads.
pub struct WriteMap<K, V> {
    items: Vec<(K, V)>,
    at: HashTable<usize>,
    hasher: Hasher,
}

impl<K, V> Default for WriteMap<K, V> {
    fn default() -> Self {
        WriteMap { items: Vec::new(), at: HashTable::new(), hasher: Hasher::default() }
    }
}

impl<K: Hash + Eq, V> WriteMap<K, V> {
    /// Writes `value` for `key`: a key written before keeps its place and takes the value.
    pub fn insert(&mut self, key: K, value: V) {
        let h = self.hasher.hash_one(&key);
        let items = &self.items;
        match self.at.find(h, |&i| items[i].0 == key) {
            Some(&i) => self.items[i].1 = value,
            None => {
                let (items, hasher) = (&self.items, &self.hasher);
                self.at.insert_unique(h, items.len(), |&i| hasher.hash_one(&items[i].0));
                self.items.push((key, value));
            }
        }
    }

    pub fn get(&self, key: &K) -> Option<&V> {
        let h = self.hasher.hash_one(key);
        self.at.find(h, |&i| self.items[i].0 == *key).map(|&i| &self.items[i].1)
    }

    pub fn clear(&mut self) {
        self.items.clear();
        self.at.clear();
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// Frozen index writes: each key once, in the order first written, with its last value.
/// They read as a slice of `(key, value)`; cloning shares them.
pub struct Writes<K, V>(Arc<WriteMap<K, V>>);

impl<K, V> Clone for Writes<K, V> {
    fn clone(&self) -> Self {
        Writes(self.0.clone())
    }
}

impl<K, V> Default for Writes<K, V> {
    fn default() -> Self {
        Writes(Arc::new(WriteMap::default()))
    }
}

impl<K: std::fmt::Debug, V: std::fmt::Debug> std::fmt::Debug for Writes<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.items.iter()).finish()
    }
}

impl<K, V> Deref for Writes<K, V> {
    type Target = [(K, V)];

    fn deref(&self) -> &[(K, V)] {
        &self.0.items
    }
}

impl<K: Hash + Eq, V> Writes<K, V> {
    /// The value written for `key`, if any.
    pub fn get(&self, key: &K) -> Option<&V> {
        self.0.get(key)
    }
}

impl<K, V> From<WriteMap<K, V>> for Writes<K, V> {
    fn from(map: WriteMap<K, V>) -> Self {
        Writes(Arc::new(map))
    }
}

/// Writes in order; a later write of a key replaces the value of the earlier one and keeps
/// its place.
impl<K: Hash + Eq, V> FromIterator<(K, V)> for Writes<K, V> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(items: I) -> Self {
        let mut map = WriteMap::default();
        for (k, v) in items {
            map.insert(k, v);
        }
        map.into()
    }
}

impl<K: Hash + Eq, V> From<Vec<(K, V)>> for Writes<K, V> {
    fn from(items: Vec<(K, V)>) -> Self {
        items.into_iter().collect()
    }
}

impl<'a, K, V> IntoIterator for &'a Writes<K, V> {
    type Item = &'a (K, V);
    type IntoIter = std::slice::Iter<'a, (K, V)>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.items.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::{WriteMap, Writes};

    #[test]
    fn later_writes_replace_values_and_keep_the_first_place() {
        let w: Writes<&str, u32> = vec![("b", 1), ("a", 2), ("b", 3)].into();
        assert_eq!(&w[..], [("b", 3), ("a", 2)]);
        assert_eq!(w.get(&"b"), Some(&3));
        assert_eq!(w.get(&"c"), None);
        let shared = w.clone();
        assert_eq!(shared.len(), 2);
        assert!(Writes::<&str, u32>::default().is_empty());
    }

    #[test]
    fn a_map_finds_every_key_as_it_grows_and_after_clearing() {
        let mut m = WriteMap::default();
        for i in 0..10_000u32 {
            m.insert(i.to_string(), i);
            m.insert((i / 2).to_string(), i);
        }
        for i in 0..10_000u32 {
            let last = if i < 5_000 { 2 * i + 1 } else { i };
            assert_eq!(m.get(&i.to_string()), Some(&last), "{i}");
        }
        assert_eq!(m.get(&"10000".to_string()), None);
        let w: Writes<String, u32> = m.into();
        assert_eq!(w.len(), 10_000);
        assert_eq!(w[1], ("1".to_string(), 3), "key 1 was written first at i = 1, last at i = 3");
        let mut m = WriteMap::default();
        m.insert("x", 1);
        m.clear();
        assert!(m.is_empty() && m.get(&"x").is_none());
    }
}
