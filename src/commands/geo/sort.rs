//! The two sorts a GEO search orders its results with, reproduced step for step because
//! members at equal distances come out in whatever order the algorithm leaves them:
//!
//! - all results: C's `qsort()`, which in glibc is a merge sort (stable, left half wins
//!   ties);
//! - only the first `count` of more results: Redis's `pqsort()` (pqsort.c), Bentley and
//!   McIlroy's quicksort that skips the partitions outside the wanted ranks, shared with
//!   SORT in [`crate::util::pqsort`].
//!
//! Both take a three-way comparison that need not be a total order (a NaN distance
//! compares as smaller than anything, both ways, as in Redis's comparator).

use std::cmp::Ordering;

/// Sorts `v` like glibc's `msort_with_tmp()`: halves of `n / 2` and `n - n / 2`, merged
/// taking from the left half unless it compares greater.
pub fn merge_sort<T: Copy>(v: &mut [T], cmp: &impl Fn(&T, &T) -> Ordering) {
    let mut tmp = Vec::with_capacity(v.len());
    merge_sort_with(v, cmp, &mut tmp);
}

fn merge_sort_with<T: Copy>(v: &mut [T], cmp: &impl Fn(&T, &T) -> Ordering, tmp: &mut Vec<T>) {
    if v.len() <= 1 {
        return;
    }
    let mid = v.len() / 2;
    merge_sort_with(&mut v[..mid], cmp, tmp);
    merge_sort_with(&mut v[mid..], cmp, tmp);
    tmp.clear();
    let (mut i, mut j) = (0, mid);
    while i < mid && j < v.len() {
        if cmp(&v[i], &v[j]) != Ordering::Greater {
            tmp.push(v[i]);
            i += 1;
        } else {
            tmp.push(v[j]);
            j += 1;
        }
    }
    // What is left of the right half is already in place.
    tmp.extend_from_slice(&v[i..mid]);
    v[..tmp.len()].copy_from_slice(tmp);
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng, rngs::StdRng};

    fn by_key(a: &(u8, usize), b: &(u8, usize)) -> Ordering {
        a.0.cmp(&b.0)
    }

    #[test]
    fn merge_sort_is_stable() {
        let mut rng = StdRng::seed_from_u64(7);
        for len in 0..200 {
            let mut v: Vec<(u8, usize)> = (0..len).map(|i| (rng.random_range(0..5), i)).collect();
            let mut model = v.clone();
            model.sort_by_key(|e| e.0);
            merge_sort(&mut v, &by_key);
            assert_eq!(v, model);
        }
    }
}
