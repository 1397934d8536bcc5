//! The mirror's storage: entries in one dense vector, found through a hash table of their
//! positions. At a million entries it costs the entries themselves plus about 10 bytes each
//! (a `u32` position and a control byte per bucket, at most 7/8 full), where a map from
//! key to entry would cost the key again and a half-empty bucket array of whole entries.

use conntrack_wire::Conn;
use conntrack_wire::ct::Tuple;
use hashbrown::HashTable;
use std::hash::{BuildHasher, RandomState};

/// The key of an entry: its original tuple and its zone (0 when absent).
pub(crate) type Key = (Tuple, u16);

/// The key of a kept entry (each has an original tuple).
fn key_of(c: &Conn) -> Key {
    (c.tuple_orig.unwrap_or_default(), c.zone.unwrap_or(0))
}

/// Entries by key, densely.
#[derive(Debug, Default, Clone)]
pub(crate) struct Table {
    /// The entries; every one has an original tuple.
    entries: Vec<Conn>,
    /// Positions in `entries`, by the hash of the entry's key.
    index: HashTable<u32>,
    hasher: RandomState,
}

impl Table {
    /// An empty table with room for `n` entries.
    pub(crate) fn with_capacity(n: usize) -> Self {
        Table {
            entries: Vec::with_capacity(n),
            index: HashTable::with_capacity(n),
            hasher: RandomState::new(),
        }
    }

    fn hash(&self, k: &Key) -> u64 {
        self.hasher.hash_one(k)
    }

    /// The position of the entry with key `k`.
    fn position(&self, k: &Key) -> Option<usize> {
        let entries = &self.entries;
        self.index
            .find(self.hash(k), |&i| key_of(&entries[i as usize]) == *k)
            .map(|&i| i as usize)
    }

    /// The entry with key `k`.
    pub(crate) fn get(&self, k: &Key) -> Option<&Conn> {
        self.position(k).map(|i| &self.entries[i])
    }

    /// Inserts `c` (which has an original tuple), or hands it to `update` with the entry of the
    /// same key.
    pub(crate) fn upsert(&mut self, c: Conn, update: impl FnOnce(&mut Conn, Conn)) {
        let k = key_of(&c);
        if let Some(i) = self.position(&k) {
            update(&mut self.entries[i], c);
            return;
        }
        let (hash, pos) = (self.hash(&k), self.entries.len());
        self.entries.push(c);
        let (entries, hasher) = (&self.entries, &self.hasher);
        self.index.insert_unique(hash, pos as u32, |&i| {
            hasher.hash_one(key_of(&entries[i as usize]))
        });
    }

    /// Removes the entry with key `k`; the last entry takes its place.
    pub(crate) fn remove(&mut self, k: &Key) -> Option<Conn> {
        let entries = &self.entries;
        let found = self
            .index
            .find_entry(self.hash(k), |&i| key_of(&entries[i as usize]) == *k)
            .ok()?;
        let pos = *found.get() as usize;
        found.remove();
        let gone = self.entries.swap_remove(pos);
        if let Some(moved) = self.entries.get(pos) {
            // The former last entry now sits at `pos`: point its index slot there.
            let last = self.entries.len() as u32;
            let slot = self
                .index
                .find_mut(self.hasher.hash_one(key_of(moved)), |&i| i == last);
            if let Some(slot) = slot {
                *slot = pos as u32;
            }
        }
        Some(gone)
    }

    /// The number of entries.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The entries, in no particular order.
    pub(crate) fn iter(&self) -> std::slice::Iter<'_, Conn> {
        self.entries.iter()
    }

    /// The bytes that the table holds on the heap for its entries and its index (not counting
    /// the entries' own extensions).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.entries.capacity() * std::mem::size_of::<Conn>()
            + self.index.capacity() * (std::mem::size_of::<u32>() + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(port: u16, zone: Option<u16>) -> Conn {
        let mut c = Conn::udp(
            format!("10.0.0.1:{port}").parse().unwrap(),
            "10.0.0.2:53".parse().unwrap(),
        );
        c.zone = zone;
        c
    }

    /// Inserts, updates and removes in every position keep every key findable, against a
    /// plain map of the same operations.
    #[test]
    fn removal_moves_the_last_entry_and_keeps_every_key_findable() {
        let mut t = Table::with_capacity(4);
        let mut model = std::collections::HashMap::new();
        for i in 0..200u16 {
            let c = conn(i % 50, (i % 3 == 0).then_some(i % 2));
            t.upsert(c.clone().with_mark(u32::from(i)), |old, new| *old = new);
            model.insert(key_of(&c), u32::from(i));
            if i % 7 == 0 {
                let k = key_of(&conn((i * 13) % 50, None));
                assert_eq!(t.remove(&k).is_some(), model.remove(&k).is_some());
            }
        }
        assert_eq!(t.len(), model.len());
        for (k, mark) in &model {
            assert_eq!(t.get(k).and_then(|c| c.mark), Some(*mark), "{k:?}");
        }
        while let Some(k) = model.keys().next().copied() {
            model.remove(&k);
            assert!(t.remove(&k).is_some());
            assert!(t.get(&k).is_none());
            assert!(model.keys().all(|k| t.get(k).is_some()));
        }
        assert_eq!(t.len(), 0);
    }
}
