//! SORT and SORT_RO (behaves like Redis 7.0's sort.c: `sortCommandGeneric()`,
//! `lookupKeyByPattern()`, `sortCompare()` and the partial quicksort of pqsort.c).
//!
//! The source is a list, a set or a sorted set (a missing key is an empty list). Its
//! elements are sorted as numbers (or byte strings with ALPHA), by themselves or by the
//! values a BY pattern reaches; LIMIT picks a window of the result; GET patterns replace
//! each element by values looked up through it; STORE writes the result as a list.
//!
//! Orders Redis leaves to its C library are reproduced, because clients see them:
//! - a full sort is glibc's `qsort()`, a merge sort, so elements that compare equal keep
//!   the source's order (our stable sort gives the same result);
//! - a BY sort with a LIMIT window runs Redis's own `pqsort()`, which is not stable: we run
//!   the same algorithm step for step ([`partial_sort`], `util::pqsort`);
//! - ALPHA compares with `strcoll()` unless the result is stored (then byte-wise, length
//!   last). redis-server sets `LC_COLLATE` from the environment, where it is "C" or
//!   "C.UTF-8", both plain `strcmp()`: bytes up to the first NUL.
//!
//! Locking: a BY or GET pattern reaches keys named by the source's contents, anywhere in
//! the keyspace. The command must see one snapshot of the source and of every key its
//! patterns reach, and must lock shards in ascending slot order like every other command,
//! so it cannot lock the source first and the reached keys as it finds them. Instead
//! ([`lock_for_sort`]): it peeks at the source under the source's lock and computes the
//! slots every pattern would reach for every element; unlocks; locks those slots, the
//! source's and the destination's in ascending order; and checks, under those locks, that
//! the source still reaches no other slot (a writer may have changed it in between). If it
//! does, it starts over; after a few such races it locks every shard, the gate FLUSHALL
//! takes (and EXEC takes for a transaction holding SORT, see server/transaction.rs).
//! Locking every shard each time would be simpler but costs 16384 lock operations and
//! stalls every other client while the sort runs; the peek costs one slot hash per
//! element and pattern, which the lookups themselves pay again. Without patterns only the
//! source's and the destination's shards are locked.

use std::cmp::Ordering;

use super::args::{self, is};
use super::{CmdError, CmdResult, Ctx, Handler};
use crate::keyspace::slot::SLOTS;
use crate::keyspace::value::Member;
use crate::keyspace::{
    Effects, Entry, EventClass, Keyspace, ListValue, MultiGuard, ShardData, SmallBytes, Value,
    key_slot,
};
use crate::protocol::Argv;
use crate::protocol::float::c_strtod;
use crate::util::pqsort::partial_sort;

pub(super) const HANDLERS: &[(&str, Handler)] = &[("sort", sort), ("sort_ro", sort_ro)];

fn sort(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    sort_generic(ctx, argv, true)
}

/// SORT_RO: SORT without STORE (which is then a syntax error).
fn sort_ro(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    sort_generic(ctx, argv, false)
}

/// The text a C string function sees: the bytes before the first NUL.
fn c_str(b: &[u8]) -> &[u8] {
    &b[..memchr::memchr(0, b).unwrap_or(b.len())]
}

/// A BY or GET pattern, split the way `lookupKeyByPattern()` reads it.
#[derive(Clone, Copy)]
enum Pattern<'a> {
    /// `#`: the element itself.
    Element,
    /// No `*`: nothing to look up (GET gives nil, BY means "do not sort").
    Constant,
    /// The key `prefix` + element + `suffix`, a string; or, with `field`, that field of
    /// the hash under that key.
    Lookup {
        prefix: &'a [u8],
        suffix: &'a [u8],
        field: Option<&'a [u8]>,
    },
}

impl<'a> Pattern<'a> {
    /// `#` and the first `*` and `->` after it are searched as C does, before any NUL;
    /// the suffix and field run to the argument's end.
    fn parse(p: &'a [u8]) -> Pattern<'a> {
        let text = c_str(p);
        if text == b"#" {
            return Pattern::Element;
        }
        let Some(star) = memchr::memchr(b'*', text) else {
            return Pattern::Constant;
        };
        let rest = &text[star + 1..];
        // A trailing `->` names no field: it is part of the key.
        let arrow = memchr::memmem::find(rest, b"->")
            .map(|i| star + 1 + i)
            .filter(|&at| p.get(at + 2).is_some_and(|&c| c != 0));
        let (suffix, field) = match arrow {
            Some(at) => (&p[star + 1..at], Some(&p[at + 2..])),
            None => (&p[star + 1..], None),
        };
        Pattern::Lookup {
            prefix: &p[..star],
            suffix,
            field,
        }
    }

    fn is_lookup(&self) -> bool {
        matches!(self, Pattern::Lookup { .. })
    }

    /// Writes into `key` the key this pattern reaches for `elem`; false when it reaches
    /// none (`#`, or no `*`).
    fn key_into(&self, elem: &[u8], key: &mut Vec<u8>) -> bool {
        let Pattern::Lookup { prefix, suffix, .. } = *self else {
            return false;
        };
        key.clear();
        key.extend_from_slice(prefix);
        key.extend_from_slice(elem);
        key.extend_from_slice(suffix);
        true
    }

    /// The value this pattern gives for `elem` (behaves like `lookupKeyByPattern()`): the
    /// key is looked up for reading, so it may expire and counts as a hit or miss; a key of
    /// another type gives nothing.
    fn value<'r>(
        &self,
        locked: &'r mut MultiGuard<'_>,
        db: usize,
        fx: &mut Effects,
        elem: &'r [u8],
    ) -> Option<&'r [u8]> {
        let field = match *self {
            Pattern::Element => return Some(elem),
            Pattern::Constant => return None,
            Pattern::Lookup { field, .. } => field,
        };
        let mut key = Vec::new();
        self.key_into(elem, &mut key);
        let entry = locked.db(&key, db).lookup_read(&key, fx)?;
        match (&entry.value, field) {
            (Value::Str(s), None) => Some(s),
            (Value::Hash(h), Some(field)) => h.get(field).map(|v| v.as_slice()),
            _ => None,
        }
    }
}

/// SORT's options, as `sortCommandGeneric()` parses them.
struct Options<'a> {
    desc: bool,
    alpha: bool,
    offset: i64,
    /// Negative: to the end.
    count: i64,
    store: Option<&'a [u8]>,
    /// The last BY pattern.
    by: Option<Pattern<'a>>,
    /// Some BY pattern had no `*`: keep the source's order.
    dont_sort: bool,
    gets: Vec<Pattern<'a>>,
}

impl<'a> Options<'a> {
    /// Options left to right; the first bad one is the error. In cluster mode patterns
    /// that reach other keys are refused (a BY with `*`, any GET), as they may name keys
    /// of other slots.
    fn parse(argv: &Argv<'a>, store_allowed: bool, cluster: bool) -> Result<Self, CmdError> {
        let mut o = Options {
            desc: false,
            alpha: false,
            offset: 0,
            count: -1,
            store: None,
            by: None,
            dont_sort: false,
            gets: Vec::new(),
        };
        let mut j = 2;
        while j < argv.len() {
            let (arg, left) = (argv.get(j), argv.len() - j - 1);
            if is(arg, "asc") {
                o.desc = false;
            } else if is(arg, "desc") {
                o.desc = true;
            } else if is(arg, "alpha") {
                o.alpha = true;
            } else if is(arg, "limit") && left >= 2 {
                o.offset = args::int(argv.get(j + 1))?;
                o.count = args::int(argv.get(j + 2))?;
                j += 2;
            } else if store_allowed && is(arg, "store") && left >= 1 {
                o.store = Some(argv.get(j + 1));
                j += 1;
            } else if is(arg, "by") && left >= 1 {
                let by = Pattern::parse(argv.get(j + 1));
                if !by.is_lookup() {
                    o.dont_sort = true;
                } else if cluster {
                    return Err(CmdError::err("BY option of SORT denied in Cluster mode."));
                }
                o.by = Some(by);
                j += 1;
            } else if is(arg, "get") && left >= 1 {
                if cluster {
                    return Err(CmdError::err("GET option of SORT denied in Cluster mode."));
                }
                o.gets.push(Pattern::parse(argv.get(j + 1)));
                j += 1;
            } else {
                return Err(CmdError::Syntax);
            }
            j += 1;
        }
        Ok(o)
    }

    /// The patterns that look keys up: the BY pattern when it sorts, and the GETs.
    fn lookups(&self) -> Vec<Pattern<'a>> {
        let by = self.by.filter(|_| !self.dont_sort);
        by.into_iter()
            .chain(self.gets.iter().copied())
            .filter(Pattern::is_lookup)
            .collect()
    }
}

/// Races with writers after which [`lock_for_sort`] stops retrying and locks everything.
const LOCK_ATTEMPTS: usize = 3;

/// Locks the shards of the source, of the destination and of every key the patterns can
/// reach from the source's elements (see the module docs).
fn lock_for_sort<'k>(
    keyspace: &'k Keyspace,
    db: usize,
    src: &[u8],
    o: &Options<'_>,
) -> MultiGuard<'k> {
    let named = [src].into_iter().chain(o.store);
    let lookups = o.lookups();
    if lookups.is_empty() {
        return keyspace.lock_keys(named);
    }
    let peek =
        |shard: &ShardData| reached_slots(shard.db_ref(db).and_then(|d| d.peek(src)), &lookups);
    for _ in 0..LOCK_ATTEMPTS {
        let reached = peek(&keyspace.lock_key(src));
        let mut slots: Vec<u16> = named.clone().map(|k| key_slot(k).0).collect();
        slots.extend(&reached);
        let mut locked = keyspace.lock_slots(&mut slots);
        // `slots` is now sorted and deduplicated.
        let now = peek(locked.shard(src));
        if now.iter().all(|s| slots.binary_search(s).is_ok()) {
            return locked;
        }
    }
    keyspace.lock_slots(&mut (0..SLOTS as u16).collect())
}

/// The slots of the keys `lookups` reach from each element of `entry`'s value, sorted and
/// deduplicated (nothing for a missing key or another type).
fn reached_slots(entry: Option<&Entry>, lookups: &[Pattern<'_>]) -> Vec<u16> {
    let mut slots = Vec::new();
    let mut key = Vec::new();
    let mut reach = |elem: &[u8]| {
        for p in lookups {
            if p.key_into(elem, &mut key) {
                slots.push(key_slot(&key).0);
            }
        }
    };
    match entry.map(|e| &e.value) {
        Some(Value::List(l)) => l.items().iter().for_each(|e| reach(e)),
        Some(Value::ZSet(z)) => z.iter().for_each(|(m, _)| reach(m)),
        Some(Value::Set(s)) => s.iter().for_each(|m| match m {
            Member::Int(n) => reach(itoa::Buffer::new().format(n).as_bytes()),
            Member::Bytes(b) => reach(b),
        }),
        _ => {}
    }
    slots.sort_unstable();
    slots.dedup();
    slots
}

/// The first and last positions of the LIMIT window over `len` elements, clamped as
/// Redis clamps them; `last < first` when the window is empty.
fn limit_window(offset: i64, count: i64, len: i64) -> (i64, i64) {
    let first = offset.max(0).min(len);
    let count = count.max(-1).min(len);
    let mut last = if count < 0 {
        len - 1
    } else {
        first + count - 1
    };
    if first >= len {
        return (len - 1, len - 2);
    }
    if last >= len {
        last = len - 1;
    }
    (first, last)
}

/// An element with what it sorts by.
struct Item {
    elem: SmallBytes,
    /// Numeric sorts: the element's (or its BY value's) number; 0 when BY finds nothing.
    score: f64,
    /// ALPHA sorts by pattern: the BY value, `None` when nothing was found.
    weight: Option<SmallBytes>,
}

/// How two items compare (behaves like `sortCompare()`).
#[derive(Clone, Copy)]
struct Order {
    alpha: bool,
    by_pattern: bool,
    /// STORE compares byte-wise; a reply compares with `strcoll()` (see the module docs).
    binary: bool,
    desc: bool,
}

impl Order {
    fn cmp(&self, a: &Item, b: &Item) -> Ordering {
        let ord = if !self.alpha {
            // Equal scores fall back to the elements, so the result is deterministic.
            if a.score > b.score {
                Ordering::Greater
            } else if a.score < b.score {
                Ordering::Less
            } else {
                a.elem.cmp(&b.elem)
            }
        } else if self.by_pattern {
            // A missing BY value sorts first.
            match (&a.weight, &b.weight) {
                (Some(x), Some(y)) => self.text_cmp(x, y),
                (x, y) => x.is_some().cmp(&y.is_some()),
            }
        } else {
            self.text_cmp(&a.elem, &b.elem)
        };
        if self.desc { ord.reverse() } else { ord }
    }

    fn text_cmp(&self, a: &[u8], b: &[u8]) -> Ordering {
        if self.binary {
            a.cmp(b)
        } else {
            c_str(a).cmp(c_str(b))
        }
    }
}

/// The number SORT reads from a string: C's `strtod()`, which must use the text up and
/// neither overflow nor underflow (ERANGE) nor give NaN.
fn score_of(text: &[u8]) -> Option<f64> {
    match c_strtod(text) {
        Some((v, false)) => Some(v),
        _ => None,
    }
}

/// SORT and SORT_RO (behaves like `sortCommandGeneric()`).
fn sort_generic(ctx: &mut Ctx<'_>, argv: &Argv<'_>, store_allowed: bool) -> CmdResult {
    let mut o = Options::parse(argv, store_allowed, ctx.settings.cluster_enabled)?;
    let (db, src) = (ctx.client.db, argv.get(1));
    let mut locked = lock_for_sort(ctx.keyspace(), db, src, &o);
    let (elems, first, last) = load(&mut locked, db, ctx.fx, src, &mut o)?;
    let mut items: Vec<Item> = elems
        .into_iter()
        .map(|elem| Item {
            elem,
            score: 0.0,
            weight: None,
        })
        .collect();
    if !o.dont_sort {
        // Sorting means any BY pattern is a lookup.
        let by = o.by;
        if !weigh(&mut items, by, o.alpha, &mut locked, db, ctx.fx) {
            return Err(CmdError::err(
                "One or more scores can't be converted into double",
            ));
        }
        let order = Order {
            alpha: o.alpha,
            by_pattern: by.is_some(),
            binary: o.store.is_some(),
            desc: o.desc,
        };
        let full = first == 0 && last == items.len() as i64 - 1;
        if by.is_some() && !full {
            partial_sort(&mut items, first, last, &|a, b| order.cmp(a, b));
        } else {
            items.sort_by(|a, b| order.cmp(a, b));
        }
    }
    let window = if last >= first {
        &items[first as usize..=last as usize]
    } else {
        &[]
    };
    match o.store {
        None => reply_result(ctx, &mut locked, db, window, &o.gets),
        Some(dst) => store_result(ctx, &mut locked, db, window, &o.gets, dst),
    }
    Ok(())
}

/// Looks the source up and reads its elements, clamping the LIMIT window. Returns the
/// elements in the order they are to be sorted (or output) and the window over them.
///
/// Without sorting, a list or sorted set is read only inside the window, in ascending or
/// (DESC) descending order; a set in its own order, DESC ignored. A set that is stored
/// without sorting is sorted ALPHA instead, so the stored list is deterministic.
fn load(
    locked: &mut MultiGuard<'_>,
    db: usize,
    fx: &mut Effects,
    src: &[u8],
    o: &mut Options<'_>,
) -> Result<(Vec<SmallBytes>, i64, i64), CmdError> {
    let mut missing = Value::List(Box::default());
    let value = match locked.db(src, db).lookup_read(src, fx) {
        Some(e) => &mut e.value,
        None => &mut missing,
    };
    if o.dont_sort && o.store.is_some() && matches!(value, Value::Set(_)) {
        o.dont_sort = false;
        o.alpha = true;
        o.by = None;
    }
    let len = match value {
        Value::List(l) => l.len(),
        Value::Set(s) => s.len(),
        Value::ZSet(z) => {
            // COMPAT(redis 7.0): SORT converts a listpack sorted set to a skiplist for
            // good, even SORT_RO; OBJECT ENCODING shows it.
            z.convert_to_skiplist();
            z.len()
        }
        _ => return Err(CmdError::WrongType),
    };
    let (first, last) = limit_window(o.offset, o.count, len as i64);
    // The window's ranks; counted from the end for DESC.
    let ranks = || {
        if last < first {
            return 0..0;
        }
        let n = (last - first + 1) as usize;
        let lo = if o.desc {
            len - first as usize - n
        } else {
            first as usize
        };
        lo..lo + n
    };
    let elems: Vec<SmallBytes> = match value {
        Value::List(l) if o.dont_sort => {
            let it = l.items().range(ranks()).cloned();
            if o.desc {
                it.rev().collect()
            } else {
                it.collect()
            }
        }
        Value::ZSet(z) if o.dont_sort => {
            let it = z.range(ranks()).map(|(m, _)| SmallBytes::from_slice(m));
            if o.desc {
                it.rev().collect()
            } else {
                it.collect()
            }
        }
        Value::List(l) => l.items().iter().cloned().collect(),
        Value::Set(s) => s.members(),
        Value::ZSet(z) => z.iter().map(|(m, _)| SmallBytes::from_slice(m)).collect(),
        _ => Vec::new(),
    };
    if o.dont_sort && !matches!(value, Value::Set(_)) {
        // Only the window was read.
        let n = elems.len() as i64;
        return Ok((elems, 0, n - 1));
    }
    Ok((elems, first, last))
}

/// Fills in what each item sorts by: its BY value, or itself. Returns false when a number
/// cannot be read (after every BY key was looked up, as Redis does).
fn weigh(
    items: &mut [Item],
    by: Option<Pattern<'_>>,
    alpha: bool,
    locked: &mut MultiGuard<'_>,
    db: usize,
    fx: &mut Effects,
) -> bool {
    let mut numbers_ok = true;
    for item in items.iter_mut() {
        let found = match by {
            Some(p) => match p.value(locked, db, fx, &item.elem) {
                Some(v) => Some(SmallBytes::from_slice(v)),
                None => continue,
            },
            None => None,
        };
        if alpha {
            item.weight = found;
            continue;
        }
        match score_of(found.as_deref().unwrap_or(&item.elem)) {
            Some(score) => item.score = score,
            None => numbers_ok = false,
        }
    }
    numbers_ok
}

/// Shows `out` what the window produces, in order: each element, or with GET patterns
/// the value of each pattern for each element (`None` where nothing is found).
fn each_output(
    window: &[Item],
    gets: &[Pattern<'_>],
    locked: &mut MultiGuard<'_>,
    db: usize,
    fx: &mut Effects,
    mut out: impl FnMut(Option<&[u8]>),
) {
    for item in window {
        if gets.is_empty() {
            out(Some(&item.elem));
        }
        for p in gets {
            out(p.value(locked, db, fx, &item.elem));
        }
    }
}

/// Replies with the window's outputs, nil where a GET finds nothing.
fn reply_result(
    ctx: &mut Ctx<'_>,
    locked: &mut MultiGuard<'_>,
    db: usize,
    window: &[Item],
    gets: &[Pattern<'_>],
) {
    let reply = &mut *ctx.reply;
    reply.array(window.len() * gets.len().max(1));
    each_output(window, gets, locked, db, ctx.fx, |v| match v {
        Some(v) => reply.bulk(v),
        None => reply.null(),
    });
}

/// STORE: writes the window's outputs (an empty string where a GET finds nothing) as a
/// list under `dst`, or deletes `dst` when there is nothing to write; replies with the
/// list's length.
fn store_result(
    ctx: &mut Ctx<'_>,
    locked: &mut MultiGuard<'_>,
    db: usize,
    window: &[Item],
    gets: &[Pattern<'_>],
    dst: &[u8],
) {
    let mut list = ListValue::new();
    each_output(window, gets, locked, db, ctx.fx, |v| {
        list.push_tail(v.unwrap_or_default())
    });
    let len = list.len();
    let d = locked.db(dst, db);
    if len > 0 {
        // Like `setKey()`: a write lookup (which expires the key), then the overwrite.
        d.find(dst, ctx.fx);
        d.set(dst, Value::List(Box::new(list)), false, ctx.fx);
        ctx.fx.notify(EventClass::LIST, "sortstore", dst);
        ctx.fx.dirty += len as u64;
    } else if d.remove(dst).is_some() {
        // `dbDelete()` removes the key even when it is logically expired.
        ctx.fx.notify(EventClass::GENERIC, "del", dst);
        ctx.fx.dirty += 1;
    }
    ctx.reply.int(len as i64);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_split_like_lookup_key_by_pattern() {
        let lookup = |p: &'static [u8]| match Pattern::parse(p) {
            Pattern::Lookup {
                prefix,
                suffix,
                field,
            } => (prefix, suffix, field),
            _ => panic!("not a lookup: {p:?}"),
        };
        assert!(matches!(Pattern::parse(b"#"), Pattern::Element));
        assert!(matches!(Pattern::parse(b"#\0x*"), Pattern::Element));
        assert!(matches!(Pattern::parse(b"nosort"), Pattern::Constant));
        assert!(matches!(Pattern::parse(b"a\0*"), Pattern::Constant));
        assert_eq!(lookup(b"w_*"), (&b"w_"[..], &b""[..], None));
        assert_eq!(lookup(b"*"), (&b""[..], &b""[..], None));
        assert_eq!(
            lookup(b"h_*_x->f"),
            (&b"h_"[..], &b"_x"[..], Some(&b"f"[..]))
        );
        // A trailing arrow names no field; an arrow before the star is part of the key.
        assert_eq!(lookup(b"h_*->"), (&b"h_"[..], &b"->"[..], None));
        assert_eq!(lookup(b"a->b*"), (&b"a->b"[..], &b""[..], None));
        // The field runs to the end, NULs included; the first arrow splits.
        assert_eq!(
            lookup(b"h*->f\0g"),
            (&b"h"[..], &b""[..], Some(&b"f\0g"[..]))
        );
        assert_eq!(
            lookup(b"h*->a->b"),
            (&b"h"[..], &b""[..], Some(&b"a->b"[..]))
        );
        assert_eq!(lookup(b"h*->\0f"), (&b"h"[..], &b"->\0f"[..], None));
    }

    fn options(args: &[&str], f: impl FnOnce(&Options<'_>)) {
        let argv = crate::protocol::OwnedArgv::from_slices(args.iter().map(|a| a.as_bytes()));
        f(&Options::parse(&argv.argv(), true, false).expect("options"));
    }

    #[test]
    fn reached_slots_cover_every_element_and_lookup() {
        use crate::keyspace::SetValue;
        let slots = |keys: &[&str]| {
            let mut v: Vec<u16> = keys.iter().map(|k| key_slot(k.as_bytes()).0).collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        let lookups = [
            Pattern::parse(b"w_*"),
            Pattern::parse(b"#"),
            Pattern::parse(b"h_*->f"),
            Pattern::parse(b"nostar"),
        ];
        let set = Entry::new(b"s", Value::Set(Box::new(SetValue::Ints(vec![1, 20]))), 0);
        assert_eq!(
            reached_slots(Some(&set), &lookups),
            slots(&["w_1", "w_20", "h_1", "h_20"])
        );
        let mut list = ListValue::new();
        list.push_tail(b"a");
        list.push_tail(b"{t}b");
        let list = Entry::new(b"l", Value::List(Box::new(list)), 0);
        assert_eq!(
            reached_slots(Some(&list), &lookups),
            slots(&["w_a", "h_a", "{t}"])
        );
        let string = Entry::new(b"x", Value::Str(SmallBytes::from_slice(b"1")), 0);
        assert!(reached_slots(Some(&string), &lookups).is_empty());
        assert!(reached_slots(None, &lookups).is_empty());
    }

    #[test]
    fn sort_locks_the_keys_its_patterns_reach() {
        let ks = Keyspace::new(1);
        let mut fx = Effects::new(0, 0, EventClass::empty());
        let mut list = ListValue::new();
        list.push_tail(b"1");
        list.push_tail(b"2");
        ks.lock_key(b"ids")
            .db(0)
            .add(b"ids", Value::List(Box::new(list)), &mut fx);
        options(
            &["sort", "ids", "by", "w_*", "get", "v_*", "store", "d"],
            |o| {
                let mut locked = lock_for_sort(&ks, 0, b"ids", o);
                // `shard` panics for a slot that is not locked.
                for key in ["ids", "d", "w_1", "w_2", "v_1", "v_2"] {
                    locked.shard(key.as_bytes());
                }
            },
        );
        // Without sorting the BY pattern reaches nothing, but the GETs do.
        options(&["sort", "ids", "by", "nosort", "get", "v_*"], |o| {
            assert_eq!(o.lookups().len(), 1);
            let mut locked = lock_for_sort(&ks, 0, b"ids", o);
            locked.shard(b"v_2");
        });
    }

    #[test]
    fn limit_clamps_like_redis() {
        assert_eq!(limit_window(0, -1, 5), (0, 4));
        assert_eq!(limit_window(1, 2, 5), (1, 2));
        assert_eq!(limit_window(-3, 2, 5), (0, 1));
        assert_eq!(limit_window(3, 100, 5), (3, 4));
        assert_eq!(limit_window(2, -7, 5), (2, 4));
        assert_eq!(limit_window(5, 1, 5), (4, 3));
        assert_eq!(limit_window(i64::MAX, i64::MAX, 5), (4, 3));
        assert_eq!(limit_window(i64::MIN, i64::MIN, 5), (0, 4));
        assert_eq!(limit_window(2, 0, 5), (2, 1));
        assert_eq!(limit_window(0, 5, 0), (-1, -2));
    }

    #[test]
    fn cluster_mode_refuses_patterns_that_reach_other_keys() {
        let parse = |args: &[&str], cluster: bool| {
            let argv = crate::protocol::OwnedArgv::from_slices(args.iter().map(|a| a.as_bytes()));
            Options::parse(&argv.argv(), true, cluster)
                .map(|o| !o.lookups().is_empty())
                .map_err(|e| e.to_string())
        };
        let by_denied = Err("ERR BY option of SORT denied in Cluster mode.".to_string());
        let get_denied = Err("ERR GET option of SORT denied in Cluster mode.".to_string());
        assert_eq!(parse(&["sort", "k", "by", "w_*"], true), by_denied);
        assert_eq!(parse(&["sort", "k", "by", "w_*"], false), Ok(true));
        assert_eq!(parse(&["sort", "k", "by", "nosort"], true), Ok(false));
        assert_eq!(parse(&["sort", "k", "get", "#"], true), get_denied);
        assert_eq!(parse(&["sort", "k", "get", "#"], false), Ok(false));
        assert_eq!(parse(&["sort", "k", "get", "g_*"], false), Ok(true));
        // Options are read in order: the first bad one answers.
        let syntax = Err("ERR syntax error".to_string());
        assert_eq!(parse(&["sort", "k", "bad", "get", "#"], true), syntax);
        assert_eq!(parse(&["sort", "k", "get", "#", "bad"], true), get_denied);
        // A constant BY anywhere means no sorting, so a BY pattern reaches nothing.
        assert_eq!(
            parse(&["sort", "k", "by", "nosort", "by", "w_*"], false),
            Ok(false)
        );
    }

    #[test]
    fn ties_compare_like_sort_compare() {
        let item = |e: &str, score: f64, w: Option<&str>| Item {
            elem: SmallBytes::from_slice(e.as_bytes()),
            score,
            weight: w.map(|w| SmallBytes::from_slice(w.as_bytes())),
        };
        let numeric = Order {
            alpha: false,
            by_pattern: false,
            binary: false,
            desc: false,
        };
        assert_eq!(
            numeric.cmp(&item("b", 1.0, None), &item("a", 1.0, None)),
            Ordering::Greater
        );
        assert_eq!(
            numeric.cmp(&item("b", -0.0, None), &item("a", 0.0, None)),
            Ordering::Greater
        );
        let alpha_by = Order {
            alpha: true,
            by_pattern: true,
            ..numeric
        };
        assert_eq!(
            alpha_by.cmp(&item("a", 0.0, None), &item("b", 0.0, Some(""))),
            Ordering::Less
        );
        assert_eq!(
            alpha_by.cmp(&item("a", 0.0, Some("x\0a")), &item("b", 0.0, Some("x\0b"))),
            Ordering::Equal
        );
        let stored = Order {
            binary: true,
            desc: true,
            ..alpha_by
        };
        assert_eq!(
            stored.cmp(&item("a", 0.0, Some("x\0a")), &item("b", 0.0, Some("x\0b"))),
            Ordering::Greater
        );
    }
}
