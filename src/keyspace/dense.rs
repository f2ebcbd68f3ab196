//! `DenseTable`: the hash table behind every key table, hash and set.
//!
//! Entries live packed in a `Vec` (no per-entry allocation, grown by ~25% steps so little
//! capacity is wasted); a separate open-addressing index maps hashes to positions. Each index
//! slot is 8 bytes: the low 32 bits of the key's hash and the entry's position.
//!
//! Why this shape:
//! - memory: a 64-byte entry costs ~64 × 1.12 + ~16 bytes of index, far below Redis's
//!   dictEntry + robj + sds chain;
//! - random picks (RANDOMKEY, SPOP, SRANDMEMBER, HRANDFIELD) are O(1): pick a position;
//! - SCAN keeps Redis's guarantee (every element present for the whole scan is returned at
//!   least once) with Redis's reverse-binary cursor over *home buckets* (`hash & mask`):
//!   with linear probing and backward-shift deletion, all entries whose home is `b` sit in
//!   the unbroken run of occupied slots that starts at `b`, wherever they were displaced to,
//!   so visiting home bucket `b` is well defined across deletions and resizes
//!   (behaves like `dictScan()`).
//!
//! Deletion is `swap_remove` on the entry vector plus backward-shift on the index, so no
//! tombstones accumulate.

use std::hash::BuildHasher;

/// What the table needs from an entry: its key bytes.
pub trait Keyed {
    fn key(&self) -> &[u8];
}

const EMPTY: u64 = u64::MAX;

/// The process-wide hasher seed, fixed at start so hashes are stable for SCAN cursors.
fn hasher() -> &'static foldhash::fast::RandomState {
    static STATE: std::sync::OnceLock<foldhash::fast::RandomState> = std::sync::OnceLock::new();
    STATE.get_or_init(foldhash::fast::RandomState::default)
}

/// Hash of a key as the tables use it.
#[inline]
pub fn hash_key(key: &[u8]) -> u32 {
    hasher().hash_one(key) as u32
}

#[inline]
fn slot_hash(slot: u64) -> u32 {
    (slot >> 32) as u32
}

#[inline]
fn slot_pos(slot: u64) -> usize {
    (slot & 0xFFFF_FFFF) as usize
}

#[inline]
fn make_slot(hash: u32, pos: usize) -> u64 {
    ((hash as u64) << 32) | pos as u64
}

/// A hash table of `E`, keyed by `E::key()`.
#[derive(Clone)]
#[repr(C)]
pub struct DenseTable<E> {
    entries: Vec<E>,
    index: Box<[u64]>,
}

impl<E> Default for DenseTable<E> {
    fn default() -> Self {
        DenseTable {
            entries: Vec::new(),
            index: Box::new([]),
        }
    }
}

impl<E: Keyed> DenseTable<E> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_capacity(n: usize) -> Self {
        let mut t = Self::default();
        t.entries.reserve_exact(n);
        if n > 0 {
            t.rebuild_index(index_size_for(n));
        }
        t
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    #[inline]
    fn mask(&self) -> usize {
        self.index.len().wrapping_sub(1)
    }

    /// Index slot and entry position of `key`, if present.
    #[inline]
    fn find(&self, key: &[u8], hash: u32) -> Option<(usize, usize)> {
        if self.index.is_empty() {
            return None;
        }
        let mask = self.mask();
        let mut i = hash as usize & mask;
        loop {
            let slot = self.index[i];
            if slot == EMPTY {
                return None;
            }
            if slot_hash(slot) == hash {
                let pos = slot_pos(slot);
                if self.entries[pos].key() == key {
                    return Some((i, pos));
                }
            }
            i = (i + 1) & mask;
        }
    }

    /// Position of `key` in [`entries`](Self::entries), if present.
    #[inline]
    pub fn position(&self, key: &[u8]) -> Option<usize> {
        self.find(key, hash_key(key)).map(|(_, pos)| pos)
    }

    #[inline]
    pub fn get(&self, key: &[u8]) -> Option<&E> {
        self.position(key).map(|p| &self.entries[p])
    }

    #[inline]
    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut E> {
        self.position(key).map(move |p| &mut self.entries[p])
    }

    pub fn contains(&self, key: &[u8]) -> bool {
        self.position(key).is_some()
    }

    #[inline]
    pub fn at(&self, pos: usize) -> &E {
        &self.entries[pos]
    }

    #[inline]
    pub fn at_mut(&mut self, pos: usize) -> &mut E {
        &mut self.entries[pos]
    }

    /// All entries, in storage order (not insertion order once anything was removed).
    pub fn entries(&self) -> &[E] {
        &self.entries
    }

    pub fn iter(&self) -> std::slice::Iter<'_, E> {
        self.entries.iter()
    }

    /// Inserts an entry whose key is not present yet; returns its position.
    pub fn insert_new(&mut self, entry: E) -> usize {
        let hash = hash_key(entry.key());
        debug_assert!(self.find(entry.key(), hash).is_none());
        self.reserve_one();
        let pos = self.entries.len();
        self.entries.push(entry);
        self.place(make_slot(hash, pos));
        pos
    }

    /// Inserts or replaces; returns the previous entry with the same key.
    pub fn insert(&mut self, entry: E) -> Option<E> {
        let hash = hash_key(entry.key());
        if let Some((_, pos)) = self.find(entry.key(), hash) {
            return Some(std::mem::replace(&mut self.entries[pos], entry));
        }
        self.reserve_one();
        let pos = self.entries.len();
        self.entries.push(entry);
        self.place(make_slot(hash, pos));
        None
    }

    /// Removes and returns the entry for `key`.
    pub fn remove(&mut self, key: &[u8]) -> Option<E> {
        let (slot_i, pos) = self.find(key, hash_key(key))?;
        Some(self.remove_found(slot_i, pos))
    }

    /// Removes the entry at position `pos`.
    pub fn remove_at(&mut self, pos: usize) -> E {
        let hash = hash_key(self.entries[pos].key());
        let slot_i = self
            .slot_of(hash, pos)
            .expect("invariant: every entry has an index slot");
        self.remove_found(slot_i, pos)
    }

    fn slot_of(&self, hash: u32, pos: usize) -> Option<usize> {
        let mask = self.mask();
        let mut i = hash as usize & mask;
        loop {
            let slot = self.index[i];
            if slot == EMPTY {
                return None;
            }
            if slot_pos(slot) == pos {
                return Some(i);
            }
            i = (i + 1) & mask;
        }
    }

    fn remove_found(&mut self, slot_i: usize, pos: usize) -> E {
        self.delete_slot(slot_i);
        let last = self.entries.len() - 1;
        if pos != last {
            // The last entry moves into `pos`: repoint its index slot.
            let hash = hash_key(self.entries[last].key());
            let moved = self
                .slot_of(hash, last)
                .expect("invariant: every entry has an index slot");
            self.index[moved] = make_slot(hash, pos);
        }
        let entry = self.entries.swap_remove(pos);
        self.maybe_shrink();
        entry
    }

    /// Backward-shift deletion: pull later members of the probe run into the hole so that
    /// no lookup ever stops early at it.
    fn delete_slot(&mut self, mut hole: usize) {
        let mask = self.mask();
        let mut j = hole;
        loop {
            j = (j + 1) & mask;
            let slot = self.index[j];
            if slot == EMPTY {
                break;
            }
            let home = slot_hash(slot) as usize & mask;
            // Move `slot` into the hole if its home is not cyclically in (hole, j].
            let in_range = if hole <= j {
                hole < home && home <= j
            } else {
                hole < home || home <= j
            };
            if !in_range {
                self.index[hole] = slot;
                hole = j;
            }
        }
        self.index[hole] = EMPTY;
    }

    fn place(&mut self, slot: u64) {
        let mask = self.mask();
        let mut i = slot_hash(slot) as usize & mask;
        while self.index[i] != EMPTY {
            i = (i + 1) & mask;
        }
        self.index[i] = slot;
    }

    fn reserve_one(&mut self) {
        let len = self.entries.len();
        if len == self.entries.capacity() {
            // Grow by ~25% (at least 4) rather than doubling: less slack per key.
            let extra = (len / 4).max(4);
            self.entries.reserve_exact(extra);
        }
        if (len + 1) * 4 > self.index.len() * 3 {
            self.rebuild_index(index_size_for(len + 1));
        }
    }

    fn maybe_shrink(&mut self) {
        let len = self.entries.len();
        if len == 0 {
            self.entries = Vec::new();
            self.index = Box::new([]);
            return;
        }
        if self.index.len() > 16 && len * 10 < self.index.len() {
            self.rebuild_index(index_size_for(len));
        }
        if self.entries.capacity() > 16 && len * 2 < self.entries.capacity() {
            self.entries.shrink_to(len + len / 4);
        }
    }

    fn rebuild_index(&mut self, size: usize) {
        let old = std::mem::replace(&mut self.index, vec![EMPTY; size].into_boxed_slice());
        if old.is_empty() {
            let slots: Vec<u64> = self
                .entries
                .iter()
                .enumerate()
                .map(|(pos, e)| make_slot(hash_key(e.key()), pos))
                .collect();
            for slot in slots {
                self.place(slot);
            }
        } else {
            for slot in old.iter().copied().filter(|&s| s != EMPTY) {
                self.place(slot);
            }
        }
    }

    pub fn clear(&mut self) {
        self.entries = Vec::new();
        self.index = Box::new([]);
    }

    /// Keeps only entries for which `keep` returns true.
    pub fn retain(&mut self, mut keep: impl FnMut(&mut E) -> bool) {
        let mut pos = 0;
        while pos < self.entries.len() {
            if keep(&mut self.entries[pos]) {
                pos += 1;
            } else {
                self.remove_at(pos);
            }
        }
    }

    /// Bytes of table overhead: entry vector capacity plus the index.
    pub fn allocated_bytes(&self) -> usize {
        self.entries.capacity() * std::mem::size_of::<E>() + self.index.len() * 8
    }

    /// One step of a SCAN: visits the home buckets from `cursor` on, in reverse-binary
    /// order, calling `visit` for every entry, until `visit` has been called at least
    /// `count` times or `count * 10` buckets were visited. Returns the next cursor, 0 when
    /// the iteration is complete (behaves like `dictScan()` called in a loop). The visited
    /// references live as long as the table borrow, so callers may collect them.
    pub fn scan<'a>(&'a self, mut cursor: u64, count: usize, mut visit: impl FnMut(&'a E)) -> u64 {
        if self.index.is_empty() {
            return 0;
        }
        let mask = self.mask() as u64;
        let mut visited = 0usize;
        let mut buckets = 0usize;
        loop {
            let home = (cursor & mask) as usize;
            let mut i = home;
            loop {
                let slot = self.index[i];
                if slot == EMPTY {
                    break;
                }
                if slot_hash(slot) as usize & mask as usize == home {
                    visit(&self.entries[slot_pos(slot)]);
                    visited += 1;
                }
                i = (i + 1) & mask as usize;
                if i == home {
                    break;
                }
            }
            // Reverse-binary increment of the masked cursor.
            cursor |= !mask;
            cursor = cursor.reverse_bits();
            cursor = cursor.wrapping_add(1);
            cursor = cursor.reverse_bits();
            buckets += 1;
            if cursor == 0 || visited >= count || buckets >= count.saturating_mul(10) {
                return cursor;
            }
        }
    }
}

/// Smallest power of two index that keeps `n` entries at or under 75% load.
fn index_size_for(n: usize) -> usize {
    let want = (n * 4).div_ceil(3).max(4);
    want.next_power_of_two()
}

impl Keyed for super::bytes::SmallBytes {
    fn key(&self) -> &[u8] {
        self.as_slice()
    }
}

impl<V> Keyed for (super::bytes::SmallBytes, V) {
    fn key(&self) -> &[u8] {
        self.0.as_slice()
    }
}

#[cfg(test)]
mod tests {
    use super::super::bytes::SmallBytes;
    use super::*;
    use proptest::prelude::*;
    use std::collections::{BTreeSet, HashSet};

    fn sb(s: &str) -> SmallBytes {
        SmallBytes::from_slice(s.as_bytes())
    }

    #[test]
    fn insert_get_remove() {
        let mut t: DenseTable<SmallBytes> = DenseTable::new();
        for i in 0..1000 {
            assert!(t.insert(sb(&i.to_string())).is_none());
        }
        assert_eq!(t.len(), 1000);
        for i in (0..1000).step_by(2) {
            assert!(t.remove(i.to_string().as_bytes()).is_some());
        }
        for i in 0..1000 {
            assert_eq!(t.contains(i.to_string().as_bytes()), i % 2 == 1, "{i}");
        }
    }

    #[test]
    fn full_scan_sees_everything() {
        let mut t: DenseTable<SmallBytes> = DenseTable::new();
        for i in 0..500 {
            t.insert(sb(&i.to_string()));
        }
        let mut seen = HashSet::new();
        let mut cursor = 0;
        loop {
            cursor = t.scan(cursor, 7, |e| {
                seen.insert(e.to_vec());
            });
            if cursor == 0 {
                break;
            }
        }
        assert_eq!(seen.len(), 500);
    }

    proptest! {
        /// Elements present for the whole scan are returned even while others are added and
        /// removed (and the table resizes) between steps.
        #[test]
        fn scan_guarantee_under_churn(
            stable in prop::collection::btree_set(0u32..5000, 1..200),
            churn in prop::collection::vec((any::<bool>(), 5000u32..9000), 0..400),
        ) {
            let mut t: DenseTable<SmallBytes> = DenseTable::new();
            for k in &stable { t.insert(sb(&k.to_string())); }
            let mut seen = BTreeSet::new();
            let mut cursor = 0;
            let mut ops = churn.iter();
            for _ in 0..100_000 {
                cursor = t.scan(cursor, 3, |e| {
                    seen.insert(String::from_utf8(e.to_vec()).unwrap());
                });
                for _ in 0..4 {
                    if let Some((add, k)) = ops.next() {
                        if *add { t.insert(sb(&k.to_string())); } else { t.remove(k.to_string().as_bytes()); }
                    }
                }
                if cursor == 0 { break; }
            }
            for k in &stable {
                prop_assert!(seen.contains(&k.to_string()), "missing {}", k);
            }
        }

        #[test]
        fn matches_a_hashset(ops in prop::collection::vec((any::<bool>(), 0u16..300), 0..600)) {
            let mut t: DenseTable<SmallBytes> = DenseTable::new();
            let mut model = HashSet::new();
            for (add, k) in ops {
                let key = k.to_string();
                if add {
                    prop_assert_eq!(t.insert(sb(&key)).is_none(), model.insert(key.clone()));
                } else {
                    prop_assert_eq!(t.remove(key.as_bytes()).is_some(), model.remove(&key));
                }
            }
            prop_assert_eq!(t.len(), model.len());
            for k in &model { prop_assert!(t.contains(k.as_bytes())); }
        }
    }
}
