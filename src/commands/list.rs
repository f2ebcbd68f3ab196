//! List commands (behaves like Redis's t_list.c): LPUSH RPUSH LPUSHX RPUSHX LINSERT LLEN
//! LINDEX LSET LPOP RPOP LMPOP LRANGE LTRIM LPOS LREM LMOVE RPOPLPUSH.
//!
//! The blocking forms (BLPOP BRPOP BLMOVE BRPOPLPUSH BLMPOP) live with the blocking
//! framework and reuse the cores exposed here with shards they already locked:
//! [`pop_with_key`], [`move_one`] and [`parse_mpop`].
//!
//! A list never stays empty: whatever removes its last element deletes the key and stages
//! `del` after the command's own event, as Redis does.

use std::ops::Range;

use super::access::read_value;
use super::args::{self, is};
use super::{CmdError, CmdResult, Ctx, Handler};
use crate::keyspace::{Db, Effects, Entry, EventClass, ListValue, MultiGuard, SmallBytes, Value};
use crate::protocol::reply::Aggregate;
use crate::protocol::{Argv, Reply};

pub(super) const HANDLERS: &[(&str, Handler)] = &[
    ("lpush", lpush),
    ("rpush", rpush),
    ("lpushx", lpushx),
    ("rpushx", rpushx),
    ("linsert", linsert),
    ("llen", llen),
    ("lindex", lindex),
    ("lset", lset),
    ("lpop", lpop),
    ("rpop", rpop),
    ("lmpop", lmpop),
    ("lrange", lrange),
    ("ltrim", ltrim),
    ("lpos", lpos),
    ("lrem", lrem),
    ("lmove", lmove),
    ("rpoplpush", rpoplpush),
];

/// Which end of a list.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum End {
    Head,
    Tail,
}

impl End {
    /// `LEFT` or `RIGHT`, else a syntax error (behaves like
    /// `getListPositionFromObjectOrReply()`).
    pub(crate) fn parse(arg: &[u8]) -> Result<End, CmdError> {
        if is(arg, "left") {
            Ok(End::Head)
        } else if is(arg, "right") {
            Ok(End::Tail)
        } else {
            Err(CmdError::Syntax)
        }
    }

    fn push(self, list: &mut ListValue, item: &[u8]) {
        match self {
            End::Head => list.push_head(item),
            End::Tail => list.push_tail(item),
        }
    }

    fn pop(self, list: &mut ListValue) -> Option<SmallBytes> {
        match self {
            End::Head => list.pop_head(),
            End::Tail => list.pop_tail(),
        }
    }

    fn push_event(self) -> &'static str {
        match self {
            End::Head => "lpush",
            End::Tail => "rpush",
        }
    }

    fn pop_event(self) -> &'static str {
        match self {
            End::Head => "lpop",
            End::Tail => "rpop",
        }
    }
}

/// How a pop that names its key replies.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum PopReply {
    /// BLPOP / BRPOP: a two-element array [key, element].
    // Built only by the blocking commands, which are not wired in yet.
    KeyAndElement,
    /// LMPOP / BLMPOP: [key, [element, ...]].
    KeyAndElements,
}

/// The list held by an entry, or WRONGTYPE.
fn as_list(e: &Entry) -> Result<&ListValue, CmdError> {
    match &e.value {
        Value::List(l) => Ok(l),
        _ => Err(CmdError::WrongType),
    }
}

/// Mutable access to an entry's list, or WRONGTYPE.
fn as_list_mut(e: &mut Entry) -> Result<&mut ListValue, CmdError> {
    match &mut e.value {
        Value::List(l) => Ok(l),
        _ => Err(CmdError::WrongType),
    }
}

/// The position and list under `key` for a write command; `None` after replying with
/// `missing` when the key does not exist (behaves like `lookupKeyWriteOrReply()` +
/// `checkType()`).
fn write_list<'d>(
    d: &'d mut Db,
    key: &[u8],
    fx: &mut Effects,
    reply: &mut Reply,
    missing: impl FnOnce(&mut Reply),
) -> Result<Option<(usize, &'d mut ListValue)>, CmdError> {
    let Some(pos) = d.find(key, fx) else {
        missing(reply);
        return Ok(None);
    };
    Ok(Some((pos, as_list_mut(d.at_mut(pos))?)))
}

/// Deletes the list at `pos` if it became empty, staging `del`.
fn delete_if_empty(d: &mut Db, pos: usize, key: &[u8], fx: &mut Effects) {
    if matches!(&d.at(pos).value, Value::List(l) if l.is_empty()) {
        d.remove_at(pos);
        fx.notify(EventClass::GENERIC, "del", key);
    }
}

/// The bookkeeping after `n` elements were popped from `end` of the list at `pos`
/// (behaves like `listElementsRemoved()`): the pop event, `del` if it emptied, dirty.
fn popped(d: &mut Db, pos: usize, key: &[u8], end: End, n: usize, fx: &mut Effects) {
    fx.notify(EventClass::LIST, end.pop_event(), key);
    delete_if_empty(d, pos, key, fx);
    fx.dirty += n as u64;
}

/// LPUSH, RPUSH, LPUSHX, RPUSHX (behaves like `pushGenericCommand()`); `existing_only`
/// is the X forms, which do nothing to a missing key.
fn push_generic(ctx: &mut Ctx<'_>, argv: &Argv<'_>, end: End, existing_only: bool) -> CmdResult {
    let key = argv.get(1);
    let mut shard = ctx.keyspace().lock_key(key);
    let d = shard.db(ctx.client.db);
    let pos = match d.find(key, ctx.fx) {
        Some(pos) => pos,
        None if existing_only => {
            ctx.reply.int(0);
            return Ok(());
        }
        None => d.add(key, Value::List(Box::default()), ctx.fx),
    };
    let list = as_list_mut(d.at_mut(pos))?;
    argv.iter().skip(2).for_each(|item| end.push(list, item));
    ctx.reply.int(list.len() as i64);
    ctx.fx.notify(EventClass::LIST, end.push_event(), key);
    ctx.fx.dirty += argv.len() as u64 - 2;
    Ok(())
}

fn lpush(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    push_generic(ctx, argv, End::Head, false)
}

fn rpush(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    push_generic(ctx, argv, End::Tail, false)
}

fn lpushx(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    push_generic(ctx, argv, End::Head, true)
}

fn rpushx(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    push_generic(ctx, argv, End::Tail, true)
}

/// LINSERT key BEFORE|AFTER pivot element: -1 when the pivot is missing.
fn linsert(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let before = match argv.get(2) {
        w if is(w, "after") => false,
        w if is(w, "before") => true,
        _ => return Err(CmdError::Syntax),
    };
    let key = argv.get(1);
    let mut shard = ctx.keyspace().lock_key(key);
    let d = shard.db(ctx.client.db);
    let Some((_, list)) = write_list(d, key, ctx.fx, ctx.reply, |r| r.int(0))? else {
        return Ok(());
    };
    let Some(pivot) = list.find(argv.get(3)) else {
        ctx.reply.int(-1);
        return Ok(());
    };
    list.insert(if before { pivot } else { pivot + 1 }, argv.get(4));
    ctx.reply.int(list.len() as i64);
    ctx.fx.notify(EventClass::LIST, "linsert", key);
    ctx.fx.dirty += 1;
    Ok(())
}

fn llen(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    read_value(
        ctx,
        argv.get(1),
        as_list,
        |r| r.int(0),
        |l, r| r.int(l.len() as i64),
    )
}

/// LINDEX: the key is looked up before the index is parsed, so a missing key replies
/// null whatever the index says.
fn lindex(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let key = argv.get(1);
    let mut shard = ctx.keyspace().lock_key(key);
    let Some(e) = shard.db(ctx.client.db).lookup_read(key, ctx.fx) else {
        ctx.reply.null();
        return Ok(());
    };
    let list = as_list(e)?;
    match list.get(args::int(argv.get(2))?) {
        Some(item) => ctx.reply.bulk(item),
        None => ctx.reply.null(),
    }
    Ok(())
}

fn lset(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let key = argv.get(1);
    let mut shard = ctx.keyspace().lock_key(key);
    let d = shard.db(ctx.client.db);
    let pos = d.find(key, ctx.fx).ok_or(CmdError::NoSuchKey)?;
    let list = as_list_mut(d.at_mut(pos))?;
    if !list.replace(args::int(argv.get(2))?, argv.get(3)) {
        return Err(CmdError::OutOfRange);
    }
    ctx.reply.ok();
    ctx.fx.notify(EventClass::LIST, "lset", key);
    ctx.fx.dirty += 1;
    Ok(())
}

/// LPOP and RPOP (behaves like `popGenericCommand()`): one element as a bulk string, or
/// with a count an array of up to that many.
fn pop_generic(ctx: &mut Ctx<'_>, argv: &Argv<'_>, end: End) -> CmdResult {
    let count = match argv.len() {
        2 => None,
        3 => Some(args::non_negative(argv.get(2))? as usize),
        _ => return Err(CmdError::Arity(ctx.cmd.name().to_string())),
    };
    let key = argv.get(1);
    let mut shard = ctx.keyspace().lock_key(key);
    let d = shard.db(ctx.client.db);
    let missing = |r: &mut Reply| match count {
        Some(_) => r.null_array(),
        None => r.null(),
    };
    let Some((pos, list)) = write_list(d, key, ctx.fx, ctx.reply, missing)? else {
        return Ok(());
    };
    let n = match count {
        None => match end.pop(list) {
            Some(item) => {
                ctx.reply.bulk(&item);
                1
            }
            None => {
                ctx.reply.null();
                return Ok(());
            }
        },
        Some(0) => {
            ctx.reply.array(0);
            return Ok(());
        }
        Some(count) => {
            let n = count.min(list.len());
            ctx.reply.array(n);
            list.pop_many(end == End::Head, n, |item| ctx.reply.bulk(item))
        }
    };
    popped(d, pos, key, end, n, ctx.fx);
    Ok(())
}

fn lpop(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    pop_generic(ctx, argv, End::Head)
}

fn rpop(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    pop_generic(ctx, argv, End::Tail)
}

/// Pops up to `count` (>= 1) elements from `end` of the list at `key` in `d`, writes the
/// reply in `shape`, stages the lpop/rpop event (and `del` when the list empties, deleting
/// the key), counts dirty. Returns Ok(false) and writes nothing when the key does not
/// exist; Err(WrongType) when it is not a list.
///
/// `KeyAndElement` pops exactly one element whatever `count` says. The key is looked up
/// for writing (expired if due, no hit/miss counting) and events are staged for `fx.db`.
/// Behaves like `listPopRangeAndReplyWithKey()` and the single-pop branch of
/// `blockingPopGenericCommand()`.
pub(crate) fn pop_with_key(
    d: &mut Db,
    key: &[u8],
    end: End,
    count: usize,
    shape: PopReply,
    fx: &mut Effects,
    reply: &mut Reply,
) -> Result<bool, CmdError> {
    let Some(pos) = d.find(key, fx) else {
        return Ok(false);
    };
    let list = as_list_mut(d.at_mut(pos))?;
    if list.is_empty() {
        return Ok(false);
    }
    reply.array(2);
    reply.bulk(key);
    let n = match shape {
        PopReply::KeyAndElement => 1,
        PopReply::KeyAndElements => {
            let n = count.min(list.len());
            reply.array(n);
            n
        }
    };
    list.pop_many(end == End::Head, n, |item| reply.bulk(item));
    popped(d, pos, key, end, n, fx);
    Ok(true)
}

/// The parsed arguments of LMPOP / BLMPOP: `numkeys key [key ...] LEFT|RIGHT [COUNT count]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct MpopArgs {
    /// Positions of the keys in argv.
    pub keys: Range<usize>,
    /// The end popped from.
    pub end: End,
    /// Most elements popped (1 without COUNT).
    pub count: usize,
}

/// Parses LMPOP's arguments from `argv[first]` (the numkeys) on: `first` is 1 for LMPOP
/// and 2 for BLMPOP, whose timeout comes before. Errors as Redis words them, in its order
/// (behaves like the parsing of `lmpopGenericCommand()`).
pub(crate) fn parse_mpop(argv: &Argv<'_>, first: usize) -> Result<MpopArgs, CmdError> {
    let numkeys = match argv.try_get(first).map(args::int) {
        Some(Ok(n)) if n >= 1 => n as usize,
        _ => return Err(CmdError::err("numkeys should be greater than 0")),
    };
    let where_at = (first + 1).checked_add(numkeys).ok_or(CmdError::Syntax)?;
    let end = End::parse(argv.try_get(where_at).ok_or(CmdError::Syntax)?)?;
    let mut count = None;
    let mut j = where_at + 1;
    while j < argv.len() {
        match argv.try_get(j + 1) {
            Some(value) if count.is_none() && is(argv.get(j), "count") => {
                count = match args::int(value) {
                    Ok(n) if n >= 1 => Some(n as usize),
                    _ => return Err(CmdError::err("count should be greater than 0")),
                };
                j += 2;
            }
            _ => return Err(CmdError::Syntax),
        }
    }
    Ok(MpopArgs {
        keys: first + 1..where_at,
        end,
        count: count.unwrap_or(1),
    })
}

/// LMPOP (behaves like `mpopGenericCommand()`): pops from the first non-empty list.
fn lmpop(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let mpop = parse_mpop(argv, 1)?;
    let keys = mpop.keys.clone().map(|i| argv.get(i));
    let db = ctx.client.db;
    let mut locked = ctx.keyspace().lock_keys(keys.clone());
    for key in keys {
        let d = locked.db(key, db);
        let shape = PopReply::KeyAndElements;
        if pop_with_key(d, key, mpop.end, mpop.count, shape, ctx.fx, ctx.reply)? {
            return Ok(());
        }
    }
    ctx.reply.null_array();
    Ok(())
}

fn lrange(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let start = args::int(argv.get(2))?;
    let end = args::int(argv.get(3))?;
    read_value(
        ctx,
        argv.get(1),
        as_list,
        |r| r.array(0),
        |l, r| {
            let range = l.range(start, end);
            r.array(range.len());
            l.items().range(range).for_each(|item| r.bulk(item));
        },
    )
}

/// LTRIM: the `ltrim` event is staged even when nothing was removed.
fn ltrim(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let start = args::int(argv.get(2))?;
    let end = args::int(argv.get(3))?;
    let key = argv.get(1);
    let mut shard = ctx.keyspace().lock_key(key);
    let d = shard.db(ctx.client.db);
    let Some((pos, list)) = write_list(d, key, ctx.fx, ctx.reply, Reply::ok)? else {
        return Ok(());
    };
    let removed = list.retain_range(list.range(start, end));
    ctx.fx.notify(EventClass::LIST, "ltrim", key);
    delete_if_empty(d, pos, key, ctx.fx);
    ctx.fx.dirty += removed as u64;
    ctx.reply.ok();
    Ok(())
}

/// An LPOS option that must be a non-negative integer, with its own error text for both
/// a negative number and a non-number (`getPositiveLongFromObjectOrReply()` with a message).
fn lpos_limit(arg: &[u8], msg: &str) -> Result<i64, CmdError> {
    match args::int(arg) {
        Ok(n) if n >= 0 => Ok(n),
        _ => Err(CmdError::err(msg)),
    }
}

/// LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len] (behaves like
/// `lposCommand()`): positions are always counted from the head, whichever way the search
/// runs.
fn lpos(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let mut rank = 1i64;
    let mut count = None;
    let mut maxlen = 0i64;
    let mut j = 3;
    while j < argv.len() {
        let (opt, Some(value)) = (argv.get(j), argv.try_get(j + 1)) else {
            return Err(CmdError::Syntax);
        };
        if is(opt, "rank") {
            rank = args::int(value)?;
            if rank == 0 {
                return Err(CmdError::err(
                    "RANK can't be zero: use 1 to start from the first match, 2 from the \
                     second ... or use negative to start from the end of the list",
                ));
            }
        } else if is(opt, "count") {
            count = Some(lpos_limit(value, "COUNT can't be negative")?);
        } else if is(opt, "maxlen") {
            maxlen = lpos_limit(value, "MAXLEN can't be negative")?;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 2;
    }
    // COMPAT(redis 7.0): negating RANK i64::MIN overflows in C and leaves it negative, so
    // every match qualifies; wrapping arithmetic below reproduces what Redis then replies.
    let from_tail = rank < 0;
    let rank = if from_tail { rank.wrapping_neg() } else { rank };
    let key = argv.get(1);
    let mut shard = ctx.keyspace().lock_key(key);
    let Some(e) = shard.db(ctx.client.db).lookup_read(key, ctx.fx) else {
        match count {
            Some(_) => ctx.reply.array(0),
            None => ctx.reply.null(),
        }
        return Ok(());
    };
    let list = as_list(e)?;
    let scan_limit = if maxlen == 0 {
        usize::MAX
    } else {
        maxlen as usize
    };
    let items = list.items().iter().enumerate();
    let search = Search {
        element: argv.get(2),
        rank,
        count,
    };
    if from_tail {
        search.reply(items.rev().take(scan_limit), ctx.reply);
    } else {
        search.reply(items.take(scan_limit), ctx.reply);
    }
    Ok(())
}

/// What LPOS looks for, once its options are parsed.
struct Search<'a> {
    element: &'a [u8],
    /// Matches before this one (1-based) are skipped.
    rank: i64,
    /// COUNT: reply an array of at most this many positions (0 = all).
    count: Option<i64>,
}

impl Search<'_> {
    /// Replies with the positions of matches among `items` (position, element), which
    /// come in search order.
    fn reply<'i>(&self, items: impl Iterator<Item = (usize, &'i SmallBytes)>, r: &mut Reply) {
        let mut matches = items
            .filter(|(_, item)| item.as_slice() == self.element)
            .zip(1i64..)
            .filter(|&(_, n)| n >= self.rank)
            .map(|((i, _), n)| (i as i64, n));
        let Some(wanted) = self.count else {
            match matches.next() {
                Some((i, _)) => r.int(i),
                None => r.null(),
            }
            return;
        };
        let deferred = r.begin_deferred();
        let mut found = 0;
        for (i, n) in matches {
            r.int(i);
            found += 1;
            if wanted != 0 && n.wrapping_sub(self.rank).wrapping_add(1) >= wanted {
                break;
            }
        }
        r.end_deferred(deferred, Aggregate::Array, found);
    }
}

/// LREM key count element: a negative count removes from the tail, 0 removes all.
fn lrem(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let count = args::int(argv.get(2))?;
    let key = argv.get(1);
    let mut shard = ctx.keyspace().lock_key(key);
    let d = shard.db(ctx.client.db);
    let Some((pos, list)) = write_list(d, key, ctx.fx, ctx.reply, |r| r.int(0))? else {
        return Ok(());
    };
    // `unsigned_abs` also covers i64::MIN, which Redis cannot negate and treats as "all".
    let limit = usize::try_from(count.unsigned_abs()).unwrap_or(usize::MAX);
    let removed = list.remove_matching(argv.get(3), count >= 0, limit);
    if removed > 0 {
        ctx.fx.notify(EventClass::LIST, "lrem", key);
    }
    delete_if_empty(d, pos, key, ctx.fx);
    ctx.fx.dirty += removed as u64;
    ctx.reply.int(removed as i64);
    Ok(())
}

/// LMOVE's core, in database `db` of the locked shards: moves one element from `from` of
/// `src` to `to` of `dst`, replies with it as a bulk string, stages events as Redis does.
/// Returns Ok(false) and writes nothing when `src` does not exist; Err(WrongType) when
/// src or dst has another type (nothing changed).
///
/// Both keys are looked up for writing, `src` first (behaves like
/// `lmoveGenericCommand()`). Events, staged for `fx.db` (callers pass `db == fx.db`):
/// `new` if `dst` is created, `lpush`/`rpush` on `dst`, `lpop`/`rpop` on `src`, then
/// `del` on `src` if it emptied. `src == dst` rotates the list.
#[allow(clippy::too_many_arguments)]
pub(crate) fn move_one(
    shards: &mut MultiGuard<'_>,
    db: usize,
    src: &[u8],
    dst: &[u8],
    from: End,
    to: End,
    fx: &mut Effects,
    reply: &mut Reply,
) -> Result<bool, CmdError> {
    // 1. Both lookups and type checks before anything changes.
    let d = shards.db(src, db);
    let Some(pos) = d.find(src, fx) else {
        return Ok(false);
    };
    if as_list(d.at(pos))?.is_empty() {
        return Ok(false);
    }
    let d = shards.db(dst, db);
    if let Some(pos) = d.find(dst, fx) {
        as_list(d.at(pos))?;
    }
    // 2. Pop. Positions are found again: expiring `dst` may have moved `src` in its table.
    let d = shards.db(src, db);
    let Some(item) = d
        .find(src, fx)
        .and_then(|pos| from.pop(as_list_mut(d.at_mut(pos)).ok()?))
    else {
        return Ok(false);
    };
    // 3. Push, creating `dst` if needed; the source is deleted only after, so a rotation
    //    of a one-element list never deletes it.
    let d = shards.db(dst, db);
    let pos = match d.find(dst, fx) {
        Some(pos) => pos,
        None => d.add(dst, Value::List(Box::default()), fx),
    };
    to.push(as_list_mut(d.at_mut(pos))?, &item);
    fx.notify(EventClass::LIST, to.push_event(), dst);
    reply.bulk(&item);
    fx.notify(EventClass::LIST, from.pop_event(), src);
    let d = shards.db(src, db);
    if let Some(pos) = d.find(src, fx) {
        delete_if_empty(d, pos, src, fx);
    }
    fx.dirty += 1;
    Ok(true)
}

/// LMOVE and RPOPLPUSH: null when the source does not exist.
fn move_generic(ctx: &mut Ctx<'_>, src: &[u8], dst: &[u8], from: End, to: End) -> CmdResult {
    let db = ctx.client.db;
    let mut locked = ctx.keyspace().lock_keys([src, dst]);
    if !move_one(&mut locked, db, src, dst, from, to, ctx.fx, ctx.reply)? {
        ctx.reply.null();
    }
    Ok(())
}

fn lmove(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let from = End::parse(argv.get(3))?;
    let to = End::parse(argv.get(4))?;
    move_generic(ctx, argv.get(1), argv.get(2), from, to)
}

fn rpoplpush(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    move_generic(ctx, argv.get(1), argv.get(2), End::Tail, End::Head)
}

#[cfg(test)]
mod tests {
    use std::ops::Range;

    use super::*;
    use crate::keyspace::Keyspace;

    fn argv_parts(args: &[&str]) -> (Vec<u8>, Vec<Range<usize>>) {
        let mut data = Vec::new();
        let mut ranges = Vec::new();
        for a in args {
            ranges.push(data.len()..data.len() + a.len());
            data.extend_from_slice(a.as_bytes());
        }
        (data, ranges)
    }

    fn mpop(args: &[&str], first: usize) -> Result<MpopArgs, CmdError> {
        let (data, ranges) = argv_parts(args);
        parse_mpop(&Argv::new(&data, &ranges), first)
    }

    fn fx() -> Effects {
        Effects::new(1_000, 0, EventClass::all())
    }

    fn events(fx: &Effects) -> Vec<(&'static str, Vec<u8>)> {
        fx.events.iter().map(|e| (e.name, e.key.to_vec())).collect()
    }

    fn list_of(d: &mut Db, key: &[u8], items: &[&str]) {
        let mut l = ListValue::new();
        items.iter().for_each(|i| l.push_tail(i.as_bytes()));
        d.add(key, Value::List(Box::new(l)), &mut fx());
    }

    fn contents(d: &Db, key: &[u8]) -> Option<Vec<Vec<u8>>> {
        match &d.peek(key)?.value {
            Value::List(l) => Some(l.items().iter().map(|e| e.to_vec()).collect()),
            _ => None,
        }
    }

    #[test]
    fn mpop_arguments_for_both_commands() {
        let lmpop = mpop(&["lmpop", "2", "a", "b", "RIGHT", "count", "3"], 1);
        assert_eq!(
            lmpop,
            Ok(MpopArgs {
                keys: 2..4,
                end: End::Tail,
                count: 3
            })
        );
        let blmpop = mpop(&["blmpop", "0", "1", "a", "left"], 2);
        assert_eq!(
            blmpop,
            Ok(MpopArgs {
                keys: 3..4,
                end: End::Head,
                count: 1
            })
        );
        let numkeys = CmdError::err("numkeys should be greater than 0");
        assert_eq!(mpop(&["lmpop", "0", "a", "LEFT"], 1), Err(numkeys.clone()));
        assert_eq!(mpop(&["blmpop", "0"], 2), Err(numkeys));
        assert_eq!(
            mpop(&["lmpop", "1", "a", "LEFT", "COUNT", "0"], 1),
            Err(CmdError::err("count should be greater than 0"))
        );
        for bad in [
            &["lmpop", "2", "a", "LEFT"][..],
            &["lmpop", "9223372036854775807", "a", "LEFT"],
            &["lmpop", "1", "a", "UP"],
            &["lmpop", "1", "a", "LEFT", "COUNT"],
            &["lmpop", "1", "a", "LEFT", "COUNT", "1", "COUNT", "1"],
        ] {
            assert_eq!(mpop(bad, 1), Err(CmdError::Syntax), "{bad:?}");
        }
    }

    #[test]
    fn pop_with_key_shapes_and_events() {
        let mut d = Db::default();
        list_of(&mut d, b"k", &["a", "b", "c"]);
        let (mut fx, mut reply) = (fx(), Reply::new(2));
        let shape = PopReply::KeyAndElement;
        assert_eq!(
            pop_with_key(&mut d, b"k", End::Tail, 5, shape, &mut fx, &mut reply),
            Ok(true)
        );
        assert_eq!(reply.buf, b"*2\r\n$1\r\nk\r\n$1\r\nc\r\n");
        reply.buf.clear();
        let shape = PopReply::KeyAndElements;
        assert_eq!(
            pop_with_key(&mut d, b"k", End::Head, 5, shape, &mut fx, &mut reply),
            Ok(true)
        );
        assert_eq!(reply.buf, b"*2\r\n$1\r\nk\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n");
        assert_eq!(
            events(&fx),
            [
                ("rpop", b"k".to_vec()),
                ("lpop", b"k".to_vec()),
                ("del", b"k".to_vec())
            ]
        );
        assert_eq!(fx.dirty, 3);
        assert!(d.peek(b"k").is_none());
        reply.buf.clear();
        assert_eq!(
            pop_with_key(&mut d, b"k", End::Head, 1, shape, &mut fx, &mut reply),
            Ok(false)
        );
        d.add(b"s", Value::Str(SmallBytes::from_slice(b"v")), &mut fx);
        assert_eq!(
            pop_with_key(&mut d, b"s", End::Head, 1, shape, &mut fx, &mut reply),
            Err(CmdError::WrongType)
        );
        assert!(reply.buf.is_empty());
    }

    /// What `move_one` writes to, in database 0.
    struct Mover {
        fx: Effects,
        reply: Reply,
    }

    impl Mover {
        fn mv(
            &mut self,
            locked: &mut MultiGuard<'_>,
            keys: [&[u8]; 2],
            ends: [End; 2],
        ) -> Result<bool, CmdError> {
            let [src, dst] = keys;
            let [from, to] = ends;
            move_one(locked, 0, src, dst, from, to, &mut self.fx, &mut self.reply)
        }
    }

    #[test]
    fn move_one_events_and_rotation() {
        let ks = Keyspace::new(16);
        let mut locked = ks.lock_keys([&b"src"[..], b"dst", b"str"]);
        list_of(locked.db(b"src", 0), b"src", &["a", "b"]);
        let mut m = Mover {
            fx: fx(),
            reply: Reply::new(3),
        };
        let moved = m.mv(&mut locked, [b"src", b"dst"], [End::Head, End::Tail]);
        assert_eq!(moved, Ok(true));
        assert_eq!(m.reply.buf, b"$1\r\na\r\n");
        assert_eq!(
            events(&m.fx),
            [
                ("new", b"dst".to_vec()),
                ("rpush", b"dst".to_vec()),
                ("lpop", b"src".to_vec())
            ]
        );
        // A one-element list rotated onto itself stays.
        m.fx.events.clear();
        let rotated = m.mv(&mut locked, [b"dst", b"dst"], [End::Tail, End::Head]);
        assert_eq!(rotated, Ok(true));
        assert_eq!(
            contents(locked.db(b"dst", 0), b"dst"),
            Some(vec![b"a".to_vec()])
        );
        assert_eq!(
            events(&m.fx),
            [("lpush", b"dst".to_vec()), ("rpop", b"dst".to_vec())]
        );
        // A destination of another type changes nothing.
        locked
            .db(b"str", 0)
            .add(b"str", Value::Str(SmallBytes::from_slice(b"v")), &mut m.fx);
        let blocked = m.mv(&mut locked, [b"src", b"str"], [End::Head, End::Head]);
        assert_eq!(blocked, Err(CmdError::WrongType));
        assert_eq!(
            contents(locked.db(b"src", 0), b"src"),
            Some(vec![b"b".to_vec()])
        );
        // Emptying the source deletes it after the pop event.
        m.fx.events.clear();
        let last = m.mv(&mut locked, [b"src", b"dst"], [End::Head, End::Head]);
        assert_eq!(last, Ok(true));
        assert_eq!(
            events(&m.fx),
            [
                ("lpush", b"dst".to_vec()),
                ("lpop", b"src".to_vec()),
                ("del", b"src".to_vec())
            ]
        );
        assert_eq!(m.fx.dirty, 3);
        let missing = m.mv(&mut locked, [b"src", b"dst"], [End::Head, End::Head]);
        assert_eq!(missing, Ok(false));
    }
}
