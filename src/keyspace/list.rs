//! List values.
//!
//! Redis 7.0 stores every list as a quicklist (OBJECT ENCODING always says "quicklist");
//! we keep the elements in a ring buffer, so pushes and pops at both ends are O(1) and
//! LINDEX / LSET are O(1) too. Indexes follow Redis: a negative index counts from the
//! tail (-1 is the last element).
//!
//! Invariant: the buffer's capacity stays within a constant factor of the length (or of a
//! small floor), so a list that grew large and was popped down gives its memory back.

use std::collections::VecDeque;
use std::ops::Range;

use super::bytes::SmallBytes;

/// Below this capacity a list never shrinks: small lists are not worth reallocating.
const MIN_SHRINK_CAPACITY: usize = 64;

/// A list value.
#[derive(Clone, Default)]
pub struct ListValue {
    items: VecDeque<SmallBytes>,
}

impl ListValue {
    pub fn new() -> Self {
        ListValue::default()
    }

    /// OBJECT ENCODING's answer (Redis 7.0 has no other list encoding).
    pub fn encoding(&self) -> &'static str {
        "quicklist"
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.items.len()
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The elements, head first.
    pub fn items(&self) -> &VecDeque<SmallBytes> {
        &self.items
    }

    #[inline]
    pub fn push_head(&mut self, item: &[u8]) {
        self.items.push_front(SmallBytes::from_slice(item));
    }

    #[inline]
    pub fn push_tail(&mut self, item: &[u8]) {
        self.items.push_back(SmallBytes::from_slice(item));
    }

    #[inline]
    pub fn pop_head(&mut self) -> Option<SmallBytes> {
        let item = self.items.pop_front();
        self.shrink_if_sparse();
        item
    }

    #[inline]
    pub fn pop_tail(&mut self) -> Option<SmallBytes> {
        let item = self.items.pop_back();
        self.shrink_if_sparse();
        item
    }

    /// Removes up to `n` elements from the head (`from_head`) or the tail, showing each to
    /// `each` in the order it was popped (the tail's last element first). Returns how many.
    pub fn pop_many(
        &mut self,
        from_head: bool,
        n: usize,
        mut each: impl FnMut(&SmallBytes),
    ) -> usize {
        let n = n.min(self.items.len());
        if from_head {
            self.items.drain(..n).for_each(|e| each(&e));
        } else {
            let start = self.items.len() - n;
            self.items.drain(start..).rev().for_each(|e| each(&e));
        }
        self.shrink_if_sparse();
        n
    }

    /// Position of a Redis index (negative counts from the tail), if inside the list.
    pub fn position(&self, index: i64) -> Option<usize> {
        let len = self.items.len() as i64;
        let i = if index < 0 { index + len } else { index };
        (0..len).contains(&i).then_some(i as usize)
    }

    /// The element at a Redis index.
    pub fn get(&self, index: i64) -> Option<&SmallBytes> {
        self.items.get(self.position(index)?)
    }

    /// Replaces the element at a Redis index; false when the index is out of range.
    pub fn replace(&mut self, index: i64, item: &[u8]) -> bool {
        match self.position(index) {
            Some(pos) => {
                self.items[pos] = SmallBytes::from_slice(item);
                true
            }
            None => false,
        }
    }

    /// The positions an inclusive Redis range `start..=end` covers, clamped to the list;
    /// empty when `start` is past `end` or the list (behaves like the index arithmetic of
    /// `addListRangeReply()` and `ltrimCommand()`).
    pub fn range(&self, start: i64, end: i64) -> Range<usize> {
        let len = self.items.len() as i64;
        let start = if start < 0 {
            (start + len).max(0)
        } else {
            start
        };
        let end = if end < 0 { end + len } else { end };
        if start > end || start >= len {
            return 0..0;
        }
        start as usize..(end.min(len - 1) + 1) as usize
    }

    /// Keeps only the positions in `keep`; returns how many elements were removed.
    pub fn retain_range(&mut self, keep: Range<usize>) -> usize {
        let before = self.items.len();
        if keep.is_empty() {
            self.items.clear();
        } else {
            self.items.truncate(keep.end);
            self.items.drain(..keep.start);
        }
        self.shrink_if_sparse();
        before - self.items.len()
    }

    /// Position of the first element equal to `item`, head first.
    pub fn find(&self, item: &[u8]) -> Option<usize> {
        self.items.iter().position(|e| e.as_slice() == item)
    }

    /// Inserts `item` so that it lands at position `pos` (0..=len).
    pub fn insert(&mut self, pos: usize, item: &[u8]) {
        self.items.insert(pos, SmallBytes::from_slice(item));
    }

    /// Removes elements equal to `item` (behaves like `lremCommand()`): the first `limit`
    /// from the head when `from_head`, else the last `limit`; every one when `limit` is 0.
    /// Returns how many were removed.
    pub fn remove_matching(&mut self, item: &[u8], from_head: bool, limit: usize) -> usize {
        let matches = self.items.iter().filter(|e| e.as_slice() == item).count();
        let removed = if limit == 0 {
            matches
        } else {
            matches.min(limit)
        };
        if removed == 0 {
            return 0;
        }
        // One pass: skip the matches that stay (those before the removed ones, counted
        // from the head), drop the rest up to `removed`.
        let mut skip = if from_head { 0 } else { matches - removed };
        let mut left = removed;
        self.items.retain(|e| {
            if left == 0 || e.as_slice() != item {
                return true;
            }
            if skip > 0 {
                skip -= 1;
                return true;
            }
            left -= 1;
            false
        });
        self.shrink_if_sparse();
        removed
    }

    /// Heap bytes owned by the list (MEMORY USAGE).
    pub fn heap_size(&self) -> usize {
        self.items.capacity() * std::mem::size_of::<SmallBytes>()
            + self.items.iter().map(SmallBytes::heap_size).sum::<usize>()
    }

    /// Gives memory back once at most a quarter of the buffer is used. Shrinking to twice
    /// the length means another shrink needs half the elements removed first, so the cost
    /// stays O(1) per removal.
    #[inline]
    fn shrink_if_sparse(&mut self) {
        let cap = self.items.capacity();
        if cap > MIN_SHRINK_CAPACITY && self.items.len() < cap / 4 {
            self.items
                .shrink_to((self.items.len() * 2).max(MIN_SHRINK_CAPACITY));
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    use super::*;

    fn contents(l: &ListValue) -> Vec<Vec<u8>> {
        l.items().iter().map(|e| e.to_vec()).collect()
    }

    /// Redis's range arithmetic on a plain Vec.
    fn model_range(len: usize, start: i64, end: i64) -> Range<usize> {
        let len = len as i64;
        let mut s = if start < 0 { start + len } else { start };
        let mut e = if end < 0 { end + len } else { end };
        if s < 0 {
            s = 0;
        }
        if s > e || s >= len {
            return 0..0;
        }
        if e >= len {
            e = len - 1;
        }
        s as usize..e as usize + 1
    }

    #[test]
    fn ranges_match_redis_arithmetic() {
        for len in 0..6usize {
            let mut l = ListValue::new();
            (0..len).for_each(|i| l.push_tail(i.to_string().as_bytes()));
            for start in -8..8 {
                for end in -8..8 {
                    assert_eq!(l.range(start, end), model_range(len, start, end));
                }
            }
            assert_eq!(l.range(i64::MIN, i64::MAX), model_range(len, 0, i64::MAX));
            assert_eq!(l.range(i64::MAX, i64::MIN), 0..0);
            assert_eq!(l.get(i64::MIN), None);
            assert_eq!(l.get(i64::MAX), None);
        }
    }

    #[test]
    fn randomized_against_a_vec() {
        let mut rng = StdRng::seed_from_u64(7);
        let mut l = ListValue::new();
        let mut model: Vec<Vec<u8>> = Vec::new();
        for step in 0..20_000 {
            let item = vec![b'a' + rng.random_range(0..4u8)];
            match rng.random_range(0..10) {
                0 => {
                    l.push_head(&item);
                    model.insert(0, item);
                }
                1 | 2 => {
                    l.push_tail(&item);
                    model.push(item);
                }
                3 => assert_eq!(
                    l.pop_head().map(|e| e.to_vec()),
                    (!model.is_empty()).then(|| model.remove(0))
                ),
                4 => assert_eq!(l.pop_tail().map(|e| e.to_vec()), model.pop()),
                5 => {
                    let from_head = rng.random_bool(0.5);
                    let n = rng.random_range(0..5);
                    let mut seen = Vec::new();
                    let popped = l.pop_many(from_head, n, |e| seen.push(e.to_vec()));
                    let k = n.min(model.len());
                    let expected: Vec<Vec<u8>> = if from_head {
                        model.drain(..k).collect()
                    } else {
                        model.drain(model.len() - k..).rev().collect()
                    };
                    assert_eq!((popped, seen), (k, expected));
                }
                6 => {
                    let limit = rng.random_range(0..3);
                    let from_head = rng.random_bool(0.5);
                    let removed = l.remove_matching(&item, from_head, limit);
                    let mut hits: Vec<usize> =
                        (0..model.len()).filter(|&i| model[i] == item).collect();
                    if !from_head {
                        hits.reverse();
                    }
                    if limit > 0 {
                        hits.truncate(limit);
                    }
                    hits.sort_unstable();
                    for &i in hits.iter().rev() {
                        model.remove(i);
                    }
                    assert_eq!(removed, hits.len());
                }
                7 => {
                    if let Some(pos) = l.find(&item) {
                        l.insert(pos + 1, b"z");
                        model.insert(pos + 1, b"z".to_vec());
                    } else {
                        assert!(!model.contains(&item));
                    }
                }
                8 => {
                    let (s, e) = (rng.random_range(-6..6), rng.random_range(-6..6));
                    let keep = l.range(s, e);
                    assert_eq!(keep, model_range(model.len(), s, e));
                    let removed = l.retain_range(keep.clone());
                    assert_eq!(removed, model.len() - keep.len());
                    model = model[keep].to_vec();
                }
                _ => {
                    let i = rng.random_range(-6..6);
                    let ok = l.replace(i, b"y");
                    let pos = model_range(model.len(), i, i);
                    assert_eq!(ok, !pos.is_empty());
                    if ok {
                        model[pos.start] = b"y".to_vec();
                    }
                    assert_eq!(l.get(i).map(|e| e.to_vec()), ok.then(|| b"y".to_vec()));
                }
            }
            assert_eq!(contents(&l), model, "step {step}");
        }
    }

    #[test]
    fn memory_comes_back_after_pops() {
        let mut l = ListValue::new();
        for i in 0..10_000 {
            l.push_tail(i.to_string().as_bytes());
        }
        l.pop_many(true, 9_990, |_| {});
        assert!(l.items().capacity() <= 4 * MIN_SHRINK_CAPACITY);
        assert_eq!(l.get(0).map(|e| e.to_vec()), Some(b"9990".to_vec()));
    }
}
