//! The two sorts a GEO search orders its results with, reproduced step for step because
//! members at equal distances come out in whatever order the algorithm leaves them:
//!
//! - all results: C's `qsort()`, which in glibc is a merge sort (stable, left half wins
//!   ties);
//! - only the first `count` of more results: Redis's `pqsort()` (pqsort.c), Bentley and
//!   McIlroy's quicksort that skips the partitions outside the wanted ranks.
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

/// Puts into ranks `lo..=hi` of `v` what a full sort would put there, in order (Redis's
/// `pqsort(a, n, es, cmp, lo, hi)`).
pub fn partial_sort<T>(v: &mut [T], cmp: &impl Fn(&T, &T) -> Ordering, lo: usize, hi: usize) {
    partial_sort_from(v, cmp, 0, v.len(), (lo, hi));
}

/// The median of three positions (`med3()`).
fn med3<T>(v: &[T], cmp: &impl Fn(&T, &T) -> Ordering, a: usize, b: usize, c: usize) -> usize {
    use Ordering::{Greater, Less};
    if cmp(&v[a], &v[b]) == Less {
        if cmp(&v[b], &v[c]) == Less {
            b
        } else if cmp(&v[a], &v[c]) == Less {
            c
        } else {
            a
        }
    } else if cmp(&v[b], &v[c]) == Greater {
        b
    } else if cmp(&v[a], &v[c]) == Less {
        a
    } else {
        c
    }
}

/// Swaps the `n` elements from `a` with the `n` from `b`, pairwise (`vecswap()`).
fn swap_blocks<T>(v: &mut [T], a: usize, b: usize, n: usize) {
    for i in 0..n {
        v.swap(a + i, b + i);
    }
}

/// `_pqsort()` on the `n` elements from `start`; `wanted` are the ranks asked for.
fn partial_sort_from<T>(
    v: &mut [T],
    cmp: &impl Fn(&T, &T) -> Ordering,
    mut start: usize,
    mut n: usize,
    wanted: (usize, usize),
) {
    use Ordering::{Equal, Greater, Less};
    // A partition matters unless the wanted ranks lie wholly before or after it.
    let matters = |s: usize, len: usize| {
        let (lo, hi) = wanted;
        !((lo < s && hi < s) || (lo >= s + len && hi >= s + len))
    };
    loop {
        let a = start;
        if n < 7 {
            for m in a + 1..a + n {
                let mut l = m;
                while l > a && cmp(&v[l - 1], &v[l]) == Greater {
                    v.swap(l, l - 1);
                    l -= 1;
                }
            }
            return;
        }
        // 1. The pivot: the middle element, or a median of three (of nine past 40).
        let mut pm = a + n / 2;
        if n > 7 {
            let (mut pl, mut pn) = (a, a + n - 1);
            if n > 40 {
                let d = n / 8;
                pl = med3(v, cmp, pl, pl + d, pl + 2 * d);
                pm = med3(v, cmp, pm - d, pm, pm + d);
                pn = med3(v, cmp, pn - 2 * d, pn - d, pn);
            }
            pm = med3(v, cmp, pl, pm, pn);
        }
        v.swap(a, pm);
        // 2. Partition with the elements equal to the pivot gathered at both ends:
        //    [= | < | > | =], pa/pd bounding the equal runs, pb/pc scanning.
        let (mut pa, mut pb) = (a + 1, a + 1);
        let (mut pc, mut pd) = (a + n - 1, a + n - 1);
        loop {
            while pb <= pc {
                match cmp(&v[pb], &v[a]) {
                    Greater => break,
                    Equal => {
                        v.swap(pa, pb);
                        pa += 1;
                    }
                    Less => {}
                }
                pb += 1;
            }
            while pb <= pc {
                match cmp(&v[pc], &v[a]) {
                    Less => break,
                    Equal => {
                        v.swap(pc, pd);
                        pd -= 1;
                    }
                    Greater => {}
                }
                pc -= 1;
            }
            if pb > pc {
                break;
            }
            v.swap(pb, pc);
            pb += 1;
            pc -= 1;
        }
        // 3. Move the equal runs to the middle.
        let end = a + n;
        let r = (pa - a).min(pb - pa);
        swap_blocks(v, a, pb - r, r);
        let r = (pd - pc).min(end - pd - 1);
        swap_blocks(v, pb, end - r, r);
        // 4. Sort the smaller-than part, then loop on the greater-than part, each only
        //    when it holds wanted ranks.
        let less = pb - pa;
        if less > 1 && matters(a, less) {
            partial_sort_from(v, cmp, a, less, wanted);
        }
        let greater = pd - pc;
        if greater > 1 && matters(end - greater, greater) {
            start = end - greater;
            n = greater;
            continue;
        }
        return;
    }
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

    #[test]
    fn partial_sort_places_the_wanted_ranks() {
        let mut rng = StdRng::seed_from_u64(11);
        for _ in 0..500 {
            let len = rng.random_range(1..300);
            let mut v: Vec<(u8, usize)> = (0..len).map(|i| (rng.random_range(0..40), i)).collect();
            let mut model: Vec<u8> = v.iter().map(|e| e.0).collect();
            model.sort_unstable();
            let hi = rng.random_range(0..len);
            partial_sort(&mut v, &by_key, 0, hi);
            let keys: Vec<u8> = v[..=hi].iter().map(|e| e.0).collect();
            assert_eq!(keys, model[..=hi]);
            let mut all: Vec<usize> = v.iter().map(|e| e.1).collect();
            all.sort_unstable();
            assert!(all.iter().copied().eq(0..len), "a permutation");
        }
    }

    /// The order of ties as Redis's pqsort leaves them, for a case small enough to check by
    /// hand: fewer than 7 elements are insertion-sorted, which is stable.
    #[test]
    fn small_partial_sorts_are_insertion_sorts() {
        let mut v = vec![(2, 0), (1, 1), (2, 2), (1, 3), (0, 4)];
        partial_sort(&mut v, &by_key, 0, 1);
        assert_eq!(v, vec![(0, 4), (1, 1), (1, 3), (2, 0), (2, 2)]);
    }
}
