//! `RankTree`: the order of a large sorted set, an order-statistic B+tree of
//! (score, member) entries.
//!
//! Entries live only in the leaves, sorted by score, then member bytes (Redis's order). Every
//! inner node keeps, for each child, the number of entries below it, so a rank is found by
//! summing the counts to the left on the way down, and an entry is found by rank by
//! subtracting them: both O(log n). Separators (`seps[i]`, copied from an entry when a node
//! splits) bound the children: every entry under `children[i]` is below `seps[i]`, every
//! entry under `children[i + 1]` is at or above it. A separator may outlive the entry it
//! was copied from; it stays a valid bound.
//!
//! Invariants: all leaves are at the same depth; a node other than the root is never empty;
//! nodes hold at most `LEAF_CAP` entries / `INNER_CAP` children, and one that falls under a
//! quarter of that is merged with (or evened out against) a sibling.

use std::cmp::Ordering;

use super::super::bytes::SmallBytes;

/// One entry of the order: (score, member). Scores are never NaN.
pub(super) type Item = (f64, SmallBytes);

/// Redis's order of sorted-set entries: by score, then by member bytes (`memcmp`, shorter
/// first on a common prefix). `-0.0` and `0.0` are the same score.
#[inline]
pub(super) fn cmp_entry(
    score: f64,
    member: &[u8],
    other_score: f64,
    other_member: &[u8],
) -> Ordering {
    match score.partial_cmp(&other_score) {
        Some(Ordering::Equal) | None => member.cmp(other_member),
        Some(o) => o,
    }
}

#[inline]
fn cmp_item(item: &Item, score: f64, member: &[u8]) -> Ordering {
    cmp_entry(item.0, &item.1, score, member)
}

/// Most entries in a leaf: 64 × 32 bytes keeps an insertion's shift within 2 KiB.
const LEAF_CAP: usize = 64;
/// Most children of an inner node.
const INNER_CAP: usize = 64;
/// Under this many entries a leaf is merged or evened out with a sibling.
const LEAF_MIN: usize = LEAF_CAP / 4;
/// Under this many children an inner node is merged or evened out with a sibling.
const INNER_MIN: usize = INNER_CAP / 4;
/// How full bulk loading makes nodes, leaving room for later insertions.
const BULK_FILL: usize = LEAF_CAP * 3 / 4;

/// An order-statistic B+tree of (score, member) entries with distinct members.
#[derive(Clone)]
pub(super) struct RankTree {
    root: Node,
    len: usize,
}

#[derive(Clone)]
enum Node {
    Leaf(Vec<Item>),
    Inner(Box<Inner>),
}

#[derive(Clone)]
struct Inner {
    /// `children.len() - 1` bounds; see the module doc.
    seps: Vec<Item>,
    /// Entries under each child.
    counts: Vec<usize>,
    children: Vec<Node>,
}

/// The upper half of a node that split: its lowest bound, the node, its entry count.
type Split = (Item, Node, usize);

impl Node {
    fn is_underfull(&self) -> bool {
        match self {
            Node::Leaf(items) => items.len() < LEAF_MIN,
            Node::Inner(inner) => inner.children.len() < INNER_MIN,
        }
    }

    fn is_overfull(&self) -> bool {
        match self {
            Node::Leaf(items) => items.len() > LEAF_CAP,
            Node::Inner(inner) => inner.children.len() > INNER_CAP,
        }
    }

    /// Moves the upper half of this node into a new sibling.
    fn split(&mut self) -> Split {
        match self {
            Node::Leaf(items) => {
                let right = items.split_off(items.len() / 2);
                let n = right.len();
                (right[0].clone(), Node::Leaf(right), n)
            }
            Node::Inner(inner) => {
                let mid = inner.children.len() / 2;
                let children = inner.children.split_off(mid);
                let counts = inner.counts.split_off(mid);
                // The bound between the halves moves up to the parent.
                let mut seps = inner.seps.split_off(mid - 1);
                let sep = seps.remove(0);
                let n = counts.iter().sum();
                let right = Inner {
                    seps,
                    counts,
                    children,
                };
                (sep, Node::Inner(Box::new(right)), n)
            }
        }
    }

    /// Appends the right sibling `right`, whose bound is `sep`.
    fn absorb(&mut self, sep: Item, right: Node) {
        match (self, right) {
            (Node::Leaf(items), Node::Leaf(more)) => items.extend(more),
            (Node::Inner(inner), Node::Inner(more)) => {
                let more = *more;
                inner.seps.push(sep);
                inner.seps.extend(more.seps);
                inner.counts.extend(more.counts);
                inner.children.extend(more.children);
            }
            _ => unreachable!("invariant: siblings are at the same depth"),
        }
    }

    fn heap_size(&self) -> usize {
        match self {
            Node::Leaf(items) => {
                items.capacity() * std::mem::size_of::<Item>()
                    + items.iter().map(|(_, m)| m.heap_size()).sum::<usize>()
            }
            Node::Inner(inner) => {
                std::mem::size_of::<Inner>()
                    + inner.seps.capacity() * std::mem::size_of::<Item>()
                    + inner.seps.iter().map(|(_, m)| m.heap_size()).sum::<usize>()
                    + inner.counts.capacity() * std::mem::size_of::<usize>()
                    + inner.children.capacity() * std::mem::size_of::<Node>()
                    + inner.children.iter().map(Node::heap_size).sum::<usize>()
            }
        }
    }
}

impl Inner {
    /// The child whose range holds (score, member).
    #[inline]
    fn child_for(&self, score: f64, member: &[u8]) -> usize {
        self.seps
            .partition_point(|s| cmp_item(s, score, member) != Ordering::Greater)
    }

    /// The child holding rank `rank` of this subtree, and the rank within that child.
    #[inline]
    fn locate(&self, mut rank: usize) -> (usize, usize) {
        for (i, &n) in self.counts.iter().enumerate() {
            if rank < n {
                return (i, rank);
            }
            rank -= n;
        }
        unreachable!("invariant: rank < subtree size")
    }

    /// Entries under the children before `i`.
    #[inline]
    fn count_before(&self, i: usize) -> usize {
        self.counts[..i].iter().sum()
    }

    /// Child `i` shrank under its minimum: merges it with a neighbour, or evens the two
    /// out when together they would overflow.
    fn rebalance(&mut self, i: usize) {
        if self.children.len() < 2 {
            return;
        }
        let l = if i + 1 < self.children.len() {
            i
        } else {
            i - 1
        };
        let right = self.children.remove(l + 1);
        let right_n = self.counts.remove(l + 1);
        let sep = self.seps.remove(l);
        self.counts[l] += right_n;
        let left = &mut self.children[l];
        left.absorb(sep, right);
        if left.is_overfull() {
            let (sep, right, n) = left.split();
            self.counts[l] -= n;
            self.seps.insert(l, sep);
            self.children.insert(l + 1, right);
            self.counts.insert(l + 1, n);
        }
    }

    /// Links in the upper half of child `i` after it split.
    fn link_split(&mut self, i: usize, (sep, right, n): Split) {
        self.counts[i] -= n;
        self.seps.insert(i, sep);
        self.children.insert(i + 1, right);
        self.counts.insert(i + 1, n);
    }
}

fn insert_into(node: &mut Node, score: f64, member: SmallBytes) -> Option<Split> {
    match node {
        Node::Leaf(items) => {
            let pos = items.partition_point(|e| cmp_item(e, score, &member) == Ordering::Less);
            items.insert(pos, (score, member));
        }
        Node::Inner(inner) => {
            let i = inner.child_for(score, &member);
            inner.counts[i] += 1;
            if let Some(split) = insert_into(&mut inner.children[i], score, member) {
                inner.link_split(i, split);
            }
        }
    }
    node.is_overfull().then(|| node.split())
}

fn remove_from(node: &mut Node, score: f64, member: &[u8]) -> Option<Item> {
    match node {
        Node::Leaf(items) => {
            let pos = items
                .binary_search_by(|e| cmp_item(e, score, member))
                .ok()?;
            Some(items.remove(pos))
        }
        Node::Inner(inner) => {
            let i = inner.child_for(score, member);
            let item = remove_from(&mut inner.children[i], score, member)?;
            inner.counts[i] -= 1;
            if inner.children[i].is_underfull() {
                inner.rebalance(i);
            }
            Some(item)
        }
    }
}

fn remove_rank_from(node: &mut Node, rank: usize) -> Item {
    match node {
        Node::Leaf(items) => items.remove(rank),
        Node::Inner(inner) => {
            let (i, r) = inner.locate(rank);
            let item = remove_rank_from(&mut inner.children[i], r);
            inner.counts[i] -= 1;
            if inner.children[i].is_underfull() {
                inner.rebalance(i);
            }
            item
        }
    }
}

/// Sizes of `ceil(n / target)` chunks that share `n` as evenly as possible.
fn even_chunks(n: usize, target: usize) -> impl Iterator<Item = usize> {
    let k = n.div_ceil(target).max(1);
    (0..k).map(move |i| n / k + usize::from(i < n % k))
}

impl Default for RankTree {
    fn default() -> Self {
        RankTree {
            root: Node::Leaf(Vec::new()),
            len: 0,
        }
    }
}

impl RankTree {
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// A tree of entries already in order with distinct members, built bottom-up in O(n).
    pub(super) fn from_sorted(items: Vec<Item>) -> Self {
        let len = items.len();
        if len <= LEAF_CAP {
            return RankTree {
                root: Node::Leaf(items),
                len,
            };
        }
        // Each level: (lowest entry, node, entries below).
        let mut level: Vec<(Item, Node, usize)> = Vec::new();
        let mut rest = items.into_iter();
        for size in even_chunks(len, BULK_FILL) {
            let leaf: Vec<Item> = rest.by_ref().take(size).collect();
            level.push((leaf[0].clone(), Node::Leaf(leaf), size));
        }
        while level.len() > 1 {
            let mut upper = Vec::new();
            let mut nodes = level.into_iter();
            for size in even_chunks(nodes.len(), BULK_FILL) {
                let mut group = nodes.by_ref().take(size);
                let (low, first, first_n) = group.next().expect("invariant: chunks are non-empty");
                let mut inner = Inner {
                    seps: Vec::with_capacity(size - 1),
                    counts: vec![first_n],
                    children: vec![first],
                };
                for (sep, node, n) in group {
                    inner.seps.push(sep);
                    inner.counts.push(n);
                    inner.children.push(node);
                }
                let total = inner.counts.iter().sum();
                upper.push((low, Node::Inner(Box::new(inner)), total));
            }
            level = upper;
        }
        let (_, root, _) = level.pop().expect("invariant: one root");
        RankTree { root, len }
    }

    /// Inserts an entry whose member is not in the tree.
    pub(super) fn insert(&mut self, score: f64, member: SmallBytes) {
        if let Some((sep, right, n)) = insert_into(&mut self.root, score, member) {
            let left = std::mem::replace(&mut self.root, Node::Leaf(Vec::new()));
            self.root = Node::Inner(Box::new(Inner {
                seps: vec![sep],
                counts: vec![self.len + 1 - n, n],
                children: vec![left, right],
            }));
        }
        self.len += 1;
    }

    /// Removes and returns the entry (score, member), if present.
    pub(super) fn remove(&mut self, score: f64, member: &[u8]) -> Option<Item> {
        let item = remove_from(&mut self.root, score, member)?;
        self.len -= 1;
        self.shrink_root();
        Some(item)
    }

    /// Takes every entry out, in order.
    pub(super) fn into_sorted(self) -> Vec<Item> {
        fn drain(node: Node, out: &mut Vec<Item>) {
            match node {
                Node::Leaf(items) => out.extend(items),
                Node::Inner(inner) => inner.children.into_iter().for_each(|c| drain(c, out)),
            }
        }
        let mut out = Vec::with_capacity(self.len);
        drain(self.root, &mut out);
        out
    }

    /// Removes and returns the entry at `rank` (< len).
    pub(super) fn remove_rank(&mut self, rank: usize) -> Item {
        let item = remove_rank_from(&mut self.root, rank);
        self.len -= 1;
        self.shrink_root();
        item
    }

    /// A root left with one child gives way to it.
    fn shrink_root(&mut self) {
        loop {
            let Node::Inner(inner) = &mut self.root else {
                return;
            };
            if inner.children.len() != 1 {
                return;
            }
            let only = inner.children.pop().expect("invariant: one child");
            self.root = only;
        }
    }

    /// The 0-based rank of (score, member), if present.
    pub(super) fn rank(&self, score: f64, member: &[u8]) -> Option<usize> {
        let mut node = &self.root;
        let mut base = 0;
        loop {
            match node {
                Node::Leaf(items) => {
                    return items
                        .binary_search_by(|e| cmp_item(e, score, member))
                        .ok()
                        .map(|p| base + p);
                }
                Node::Inner(inner) => {
                    let i = inner.child_for(score, member);
                    base += inner.count_before(i);
                    node = &inner.children[i];
                }
            }
        }
    }

    /// How many leading entries satisfy `pred`, which must hold for a prefix of the whole
    /// key space in order (true, then false): a binary search through the bounds.
    pub(super) fn partition_point(&self, pred: impl Fn(f64, &[u8]) -> bool) -> usize {
        let mut node = &self.root;
        let mut base = 0;
        loop {
            match node {
                Node::Leaf(items) => return base + items.partition_point(|(s, m)| pred(*s, m)),
                Node::Inner(inner) => {
                    let i = inner.seps.partition_point(|(s, m)| pred(*s, m));
                    base += inner.count_before(i);
                    node = &inner.children[i];
                }
            }
        }
    }

    /// The leaf holding rank `rank` (< len) and the position of that rank in it.
    fn leaf_at(&self, mut rank: usize) -> (&[Item], usize) {
        let mut node = &self.root;
        loop {
            match node {
                Node::Leaf(items) => return (items, rank),
                Node::Inner(inner) => {
                    let (i, r) = inner.locate(rank);
                    rank = r;
                    node = &inner.children[i];
                }
            }
        }
    }

    /// The entry at `rank` (< len).
    pub(super) fn get(&self, rank: usize) -> &Item {
        let (leaf, at) = self.leaf_at(rank);
        &leaf[at]
    }

    /// The entries of ranks `lo..hi` (within 0..=len), in order; double-ended.
    pub(super) fn range(&self, lo: usize, hi: usize) -> Iter<'_> {
        Iter {
            tree: self,
            lo,
            hi,
            front: &[],
            back: &[],
        }
    }

    pub(super) fn heap_size(&self) -> usize {
        self.root.heap_size()
    }
}

/// Entries of a rank range. Each end keeps the rest of its current leaf and finds the next
/// leaf by rank (O(log n) per leaf, so O(1) amortized per entry).
pub(super) struct Iter<'a> {
    tree: &'a RankTree,
    lo: usize,
    hi: usize,
    front: &'a [Item],
    back: &'a [Item],
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a Item;

    fn next(&mut self) -> Option<&'a Item> {
        if self.lo >= self.hi {
            return None;
        }
        if self.front.is_empty() {
            let (leaf, at) = self.tree.leaf_at(self.lo);
            self.front = &leaf[at..];
        }
        let (item, rest) = self.front.split_first()?;
        self.front = rest;
        self.lo += 1;
        Some(item)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.hi.saturating_sub(self.lo);
        (n, Some(n))
    }
}

impl<'a> DoubleEndedIterator for Iter<'a> {
    fn next_back(&mut self) -> Option<&'a Item> {
        if self.lo >= self.hi {
            return None;
        }
        if self.back.is_empty() {
            let (leaf, at) = self.tree.leaf_at(self.hi - 1);
            self.back = &leaf[..=at];
        }
        let (item, rest) = self.back.split_last()?;
        self.back = rest;
        self.hi -= 1;
        Some(item)
    }
}

impl ExactSizeIterator for Iter<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    /// The model: (score as ordered bits, member), in the tree's order for the scores used.
    type Model = BTreeSet<(i64, Vec<u8>)>;

    fn item(score: i64, member: &[u8]) -> (f64, SmallBytes) {
        (score as f64, SmallBytes::from_slice(member))
    }

    /// Checks every structural invariant and returns (entries, depth).
    fn check_node(
        node: &Node,
        is_root: bool,
        low: Option<&Item>,
        high: Option<&Item>,
    ) -> (usize, usize) {
        let in_bounds = |e: &Item| {
            low.is_none_or(|l| cmp_item(l, e.0, &e.1) != Ordering::Greater)
                && high.is_none_or(|h| cmp_item(h, e.0, &e.1) == Ordering::Greater)
        };
        match node {
            Node::Leaf(items) => {
                assert!(items.len() <= LEAF_CAP);
                assert!(is_root || !items.is_empty());
                assert!(
                    items
                        .windows(2)
                        .all(|w| cmp_item(&w[0], w[1].0, &w[1].1) == Ordering::Less)
                );
                assert!(items.iter().all(in_bounds));
                (items.len(), 1)
            }
            Node::Inner(inner) => {
                assert!(inner.children.len() <= INNER_CAP);
                assert!(inner.children.len() >= 2);
                assert_eq!(inner.seps.len() + 1, inner.children.len());
                assert_eq!(inner.counts.len(), inner.children.len());
                let mut total = 0;
                let mut depth = None;
                for (i, child) in inner.children.iter().enumerate() {
                    let lo = if i == 0 {
                        low
                    } else {
                        Some(&inner.seps[i - 1])
                    };
                    let hi = inner.seps.get(i).or(high);
                    let (n, d) = check_node(child, false, lo, hi);
                    assert_eq!(n, inner.counts[i]);
                    assert!(n > 0);
                    assert!(depth.is_none_or(|x| x == d), "uneven depth");
                    depth = Some(d);
                    total += n;
                }
                (total, depth.unwrap_or(0) + 1)
            }
        }
    }

    fn check(tree: &RankTree, model: &Model) {
        let (n, _) = check_node(&tree.root, true, None, None);
        assert_eq!(n, tree.len());
        assert_eq!(tree.len(), model.len());
        let got: Vec<(i64, Vec<u8>)> = tree
            .range(0, tree.len())
            .map(|(s, m)| (*s as i64, m.to_vec()))
            .collect();
        let want: Vec<(i64, Vec<u8>)> = model.iter().cloned().collect();
        assert_eq!(got, want);
        let back: Vec<(i64, Vec<u8>)> = tree
            .range(0, tree.len())
            .rev()
            .map(|(s, m)| (*s as i64, m.to_vec()))
            .collect();
        assert_eq!(back.into_iter().rev().collect::<Vec<_>>(), want);
    }

    #[test]
    fn grows_and_shrinks_through_many_levels() {
        let mut tree = RankTree::default();
        let mut model = Model::new();
        for i in 0..20_000i64 {
            let s = (i * 7919) % 1000;
            let m = format!("m{i}").into_bytes();
            tree.insert(s as f64, SmallBytes::from_slice(&m));
            model.insert((s, m));
        }
        check(&tree, &model);
        for (r, (s, m)) in model.iter().enumerate().step_by(97) {
            assert_eq!(tree.rank(*s as f64, m), Some(r));
            assert_eq!(tree.get(r).1.as_slice(), &m[..]);
        }
        for i in (0..20_000i64).filter(|i| i % 3 != 0) {
            let s = (i * 7919) % 1000;
            let m = format!("m{i}").into_bytes();
            assert!(tree.remove(s as f64, &m).is_some());
            model.remove(&(s, m));
        }
        check(&tree, &model);
        while tree.len() > 0 {
            let (s, m) = tree.remove_rank(tree.len() / 2);
            assert!(model.remove(&(s as i64, m.to_vec())));
        }
        check(&tree, &model);
    }

    #[test]
    fn bulk_load_matches_insertion() {
        for n in [0usize, 1, 63, 64, 65, 200, 3000, 70_000] {
            let items: Vec<Item> = (0..n)
                .map(|i| item(i as i64 / 3, format!("{i:08}").as_bytes()))
                .collect();
            let model: Model = items.iter().map(|(s, m)| (*s as i64, m.to_vec())).collect();
            let tree = RankTree::from_sorted(items);
            check(&tree, &model);
        }
    }

    proptest! {
        /// Random inserts, removals (by key and by rank), rank queries, range walks and
        /// partition points agree with a BTreeSet.
        #[test]
        fn matches_a_btreeset(ops in prop::collection::vec((0u8..5, -30i64..30, 0u16..400), 0..3000)) {
            let mut tree = RankTree::default();
            let mut model = Model::new();
            // member -> score, so members stay distinct as in a sorted set
            let mut scores = std::collections::HashMap::new();
            for (op, s, m) in ops {
                let member = format!("k{m}").into_bytes();
                match op {
                    0 | 1 => {
                        if let Some(old) = scores.insert(member.clone(), s) {
                            prop_assert!(tree.remove(old as f64, &member).is_some());
                            model.remove(&(old, member.clone()));
                        }
                        tree.insert(s as f64, SmallBytes::from_slice(&member));
                        model.insert((s, member));
                    }
                    2 => match scores.remove(&member) {
                        Some(old) => {
                            prop_assert!(tree.remove(old as f64, &member).is_some());
                            model.remove(&(old, member));
                        }
                        None => prop_assert!(tree.remove(s as f64, &member).is_none()),
                    },
                    3 if !model.is_empty() => {
                        let r = (m as usize) % model.len();
                        let (ts, tm) = tree.remove_rank(r);
                        let want = model.iter().nth(r).cloned().expect("rank in range");
                        prop_assert_eq!((ts as i64, tm.to_vec()), want.clone());
                        model.remove(&want);
                        scores.remove(&want.1);
                    }
                    _ => {
                        let below = model.iter().filter(|(x, _)| *x < s).count();
                        prop_assert_eq!(tree.partition_point(|sc, _| sc < s as f64), below);
                        if let Some(r) = model.iter().position(|(_, x)| *x == member) {
                            let (sc, _) = model.iter().nth(r).cloned().expect("present");
                            prop_assert_eq!(tree.rank(sc as f64, &member), Some(r));
                        }
                        let lo = below.min(model.len());
                        let hi = (lo + m as usize % 50).min(model.len());
                        let got: Vec<_> = tree.range(lo, hi).map(|(s, m)| (*s as i64, m.to_vec())).collect();
                        let want: Vec<_> = model.iter().skip(lo).take(hi - lo).cloned().collect();
                        prop_assert_eq!(got, want);
                    }
                }
            }
            check(&tree, &model);
        }
    }
}
