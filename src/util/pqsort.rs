//! Redis's partial quicksort (`pqsort()`), for SORT ... LIMIT and geo searches with COUNT:
//! where Redis's order of equal items shows, only the same algorithm reproduces it.

use std::cmp::Ordering;

/// Sorts just enough of `v` that positions `lo..=hi` hold what a full sort would put
/// there, step for step as Redis's `pqsort()`: Bentley & McIlroy's three-way quicksort
/// ("Engineering a Sort Function") that skips partitions outside the range. Equal items
/// end up where Redis puts them, which a different algorithm would not reproduce.
///
/// Partitions are kept on an explicit stack instead of recursion, so a hostile input
/// cannot overflow the thread's stack; they are disjoint, so the order they are
/// processed in does not change the result.
pub fn partial_sort<T>(v: &mut [T], lo: i64, hi: i64, cmp: &impl Fn(&T, &T) -> Ordering) {
    // Whether the partition of `n` items at `from` overlaps the range.
    let overlaps = |from: usize, n: usize| {
        let (first, last) = (from as i64, (from + n) as i64 - 1);
        !((lo < first && hi < first) || (lo > last && hi > last))
    };
    let mut pending = vec![(0, v.len())];
    while let Some((mut a, mut n)) = pending.pop() {
        loop {
            if n < 7 {
                insertion_sort(&mut v[a..a + n], cmp);
                break;
            }
            let pivot = choose_pivot(v, a, n, cmp);
            v.swap(a, pivot);
            // Partition v[a+1..a+n] around v[a]: items equal to the pivot gather at both
            // ends (before `pa`, after `pd`), smaller ones before `pb`, larger after `pc`.
            let (mut pa, mut pb) = (a + 1, a + 1);
            let (mut pc, mut pd) = (a + n - 1, a + n - 1);
            loop {
                while pb <= pc {
                    match cmp(&v[pb], &v[a]) {
                        Ordering::Greater => break,
                        Ordering::Equal => {
                            v.swap(pa, pb);
                            pa += 1;
                        }
                        Ordering::Less => {}
                    }
                    pb += 1;
                }
                while pb <= pc {
                    match cmp(&v[pc], &v[a]) {
                        Ordering::Less => break,
                        Ordering::Equal => {
                            v.swap(pc, pd);
                            pd -= 1;
                        }
                        Ordering::Greater => {}
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
            // Move the equal items from the ends to the middle.
            let end = a + n;
            let r = (pa - a).min(pb - pa);
            swap_blocks(v, a, pb - r, r);
            let r = (pd - pc).min(end - pd - 1);
            swap_blocks(v, pb, end - r, r);
            let smaller = pb - pa;
            if smaller > 1 && overlaps(a, smaller) {
                pending.push((a, smaller));
            }
            let larger = pd - pc;
            if larger > 1 && overlaps(end - larger, larger) {
                (a, n) = (end - larger, larger);
                continue;
            }
            break;
        }
    }
}

/// `pqsort()`'s pivot: the middle item; the median of first, middle and last above 7
/// items; above 40, the median of three such medians (Tukey's ninther).
fn choose_pivot<T>(v: &[T], a: usize, n: usize, cmp: &impl Fn(&T, &T) -> Ordering) -> usize {
    let mut mid = a + n / 2;
    if n > 7 {
        let (mut first, mut last) = (a, a + n - 1);
        if n > 40 {
            let d = n / 8;
            first = median_of_three(v, first, first + d, first + 2 * d, cmp);
            mid = median_of_three(v, mid - d, mid, mid + d, cmp);
            last = median_of_three(v, last - 2 * d, last - d, last, cmp);
        }
        mid = median_of_three(v, first, mid, last, cmp);
    }
    mid
}

/// The position of the median of three items, with `med3()`'s comparisons (which decide
/// the pick among equal items).
fn median_of_three<T>(
    v: &[T],
    a: usize,
    b: usize,
    c: usize,
    cmp: &impl Fn(&T, &T) -> Ordering,
) -> usize {
    let lt = |x: usize, y: usize| cmp(&v[x], &v[y]) == Ordering::Less;
    let gt = |x: usize, y: usize| cmp(&v[x], &v[y]) == Ordering::Greater;
    if lt(a, b) {
        if lt(b, c) {
            b
        } else if lt(a, c) {
            c
        } else {
            a
        }
    } else if gt(b, c) {
        b
    } else if lt(a, c) {
        a
    } else {
        c
    }
}

fn insertion_sort<T>(v: &mut [T], cmp: &impl Fn(&T, &T) -> Ordering) {
    for i in 1..v.len() {
        let mut j = i;
        while j > 0 && cmp(&v[j - 1], &v[j]) == Ordering::Greater {
            v.swap(j, j - 1);
            j -= 1;
        }
    }
}

/// Swaps `v[a..a+n]` with `v[b..b+n]` item by item (the ranges may overlap, as in C).
fn swap_blocks<T>(v: &mut [T], a: usize, b: usize, n: usize) {
    for i in 0..n {
        v.swap(a + i, b + i);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::{Rng, SeedableRng, rngs::StdRng};

    fn by_key(a: &(u8, usize), b: &(u8, usize)) -> Ordering {
        a.0.cmp(&b.0)
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
            partial_sort(&mut v, 0, hi as i64, &by_key);
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
        partial_sort(&mut v, 0, 1, &by_key);
        assert_eq!(v, vec![(0, 4), (1, 1), (1, 3), (2, 0), (2, 2)]);
    }

    proptest! {
        /// With distinct items the window holds exactly what a full sort puts there, and
        /// nothing is lost or duplicated.
        #[test]
        fn partial_sort_window_matches_full_sort(
            mut v in proptest::collection::vec(0u16..400, 0..200),
            lo in -3i64..210,
            len in -2i64..210,
        ) {
            v.sort_unstable();
            v.dedup();
            let mut sorted = v.clone();
            // Shuffle deterministically from the values themselves.
            v.sort_by_key(|x| x.wrapping_mul(7919) % 401);
            let hi = lo + len;
            let mut got = v.clone();
            partial_sort(&mut got, lo, hi, &|a: &u16, b: &u16| a.cmp(b));
            let mut all = got.clone();
            all.sort_unstable();
            sorted.sort_unstable();
            prop_assert_eq!(&all, &sorted);
            let n = sorted.len() as i64;
            for i in lo.max(0)..=hi.min(n - 1) {
                prop_assert_eq!(got[i as usize], sorted[i as usize]);
            }
        }

        /// With many equal keys (the case where the algorithm shows) the window is still
        /// sorted by key and the items are a permutation.
        #[test]
        fn partial_sort_with_ties_sorts_the_window(
            v in proptest::collection::vec((0u8..4, any::<u16>()), 0..300),
            lo in 0i64..300,
            len in 0i64..300,
        ) {
            let hi = lo + len;
            let mut got = v.clone();
            partial_sort(&mut got, lo, hi, &|a: &(u8, u16), b: &(u8, u16)| a.0.cmp(&b.0));
            let mut keys: Vec<u8> = v.iter().map(|x| x.0).collect();
            keys.sort_unstable();
            let n = v.len() as i64;
            for i in lo.max(0)..=hi.min(n - 1) {
                prop_assert_eq!(got[i as usize].0, keys[i as usize]);
            }
            let mut a = got.clone();
            let mut b = v.clone();
            a.sort_unstable();
            b.sort_unstable();
            prop_assert_eq!(a, b);
        }
    }
}
