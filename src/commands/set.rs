//! Set commands (behaves like Redis's t_set.c): SADD SREM SCARD SISMEMBER SMISMEMBER
//! SMEMBERS SRANDMEMBER SPOP SMOVE SINTER SINTERCARD SINTERSTORE SUNION SUNIONSTORE SDIFF
//! SDIFFSTORE SSCAN.
//!
//! The value's encoding (intset or hashtable) lives in [`SetValue`]. Results of SINTER /
//! SUNION / SDIFF (and their STORE forms) are built the way Redis builds them: a fresh set
//! that starts as an intset and takes members in the same order with the same algorithm,
//! so a stored result has Redis's encoding and an intset result replies in Redis's
//! (ascending) order.
//!
//! Multi-key commands lock their keys' shards together, look every key up once (expiring
//! it and counting the hit or miss like `lookupKeyRead()`), then read the sets one at a
//! time: an intersection or difference first copies the members of one set and filters
//! them through the others.

use super::access::{Removal, read_value, remove_members};
use super::args::{self, is};
use super::random::{RandomSource, random_count, reply_random_count};
use super::scan::{self, ScanOptions, reply_scan};
use super::{CmdError, CmdResult, Ctx, Handler};
use crate::keyspace::value::{EncodingLimits, Member};
use crate::keyspace::{
    Db, Effects, Entry, EventClass, MultiGuard, PropOp, SetValue, SmallBytes, Value,
};
use crate::protocol::{Argv, Reply};

pub(super) const HANDLERS: &[(&str, Handler)] = &[
    ("sadd", sadd),
    ("srem", srem),
    ("scard", scard),
    ("sismember", sismember),
    ("smismember", smismember),
    ("smembers", smembers),
    ("srandmember", srandmember),
    ("spop", spop),
    ("smove", smove),
    ("sinter", sinter),
    ("sintercard", sintercard),
    ("sinterstore", sinterstore),
    ("sunion", sunion),
    ("sunionstore", sunionstore),
    ("sdiff", sdiff),
    ("sdiffstore", sdiffstore),
    ("sscan", sscan),
];

/// The set held by an entry, or WRONGTYPE.
fn as_set(e: &Entry) -> Result<&SetValue, CmdError> {
    match &e.value {
        Value::Set(s) => Ok(s),
        _ => Err(CmdError::WrongType),
    }
}

/// Mutable access to an entry's set, or WRONGTYPE.
fn as_set_mut(e: &mut Entry) -> Result<&mut SetValue, CmdError> {
    match &mut e.value {
        Value::Set(s) => Ok(s),
        _ => Err(CmdError::WrongType),
    }
}

/// Writes one member as a bulk string (integers in decimal).
fn reply_member(r: &mut Reply, m: Member<'_>) {
    match m {
        Member::Int(n) => r.bulk_int(n),
        Member::Bytes(b) => r.bulk(b),
    }
}

/// Writes a whole set as a RESP3 set (an array in RESP2), in storage order.
fn reply_set(r: &mut Reply, s: &SetValue) {
    r.set(s.len());
    s.iter().for_each(|m| reply_member(r, m));
}

fn sadd(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let key = argv.get(1);
    let limits = ctx.settings.encoding_limits();
    let mut shard = ctx.keyspace().lock_key(key);
    let d = shard.db(ctx.client.db);
    let pos = match d.find(key, ctx.fx) {
        Some(pos) => as_set(d.at(pos)).map(|_| pos)?,
        // The new set's encoding suits its first member (`setTypeCreate()`).
        None => {
            let empty = SetValue::for_member(argv.get(2));
            d.add(key, Value::Set(Box::new(empty)), ctx.fx)
        }
    };
    let s = as_set_mut(d.at_mut(pos))?;
    let added = argv.iter().skip(2).filter(|m| s.add(m, &limits)).count() as u64;
    if added > 0 {
        ctx.fx.notify(EventClass::SET, "sadd", key);
    }
    ctx.fx.dirty += added;
    ctx.reply.int(added as i64);
    Ok(())
}

fn srem(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let how = Removal {
        cast: as_set_mut,
        remove: SetValue::remove,
        is_empty: SetValue::is_empty,
        class: EventClass::SET,
        event: "srem",
    };
    remove_members(ctx, argv.get(1), argv.iter().skip(2), &how)
}

/// Runs `f` on the set under `key` for a read command (see [`read_value`]).
fn read_set(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    missing: impl FnOnce(&mut Reply),
    f: impl FnOnce(&SetValue, &mut Reply),
) -> CmdResult {
    read_value(ctx, key, as_set, missing, f)
}

fn scard(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    read_set(ctx, argv.get(1), |r| r.int(0), |s, r| r.int(s.len() as i64))
}

fn sismember(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let member = argv.get(2);
    read_set(
        ctx,
        argv.get(1),
        |r| r.int(0),
        |s, r| r.int(s.contains(member) as i64),
    )
}

fn smismember(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let key = argv.get(1);
    let mut shard = ctx.keyspace().lock_key(key);
    // A missing key is an empty set: one zero per member.
    let s = match shard.db(ctx.client.db).lookup_read(key, ctx.fx) {
        Some(e) => Some(as_set(e)?),
        None => None,
    };
    ctx.reply.array(argv.len() - 2);
    for member in argv.iter().skip(2) {
        ctx.reply.int(s.is_some_and(|s| s.contains(member)) as i64);
    }
    Ok(())
}

/// SMEMBERS is SINTER of one key in Redis 7.0 (same handler, same replies).
fn smembers(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    sinter_generic(ctx, &[argv.get(1)], InterOutput::Members)
}

fn srandmember(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    match argv.len() {
        2 => {
            let mut rng = rand::rng();
            read_set(
                ctx,
                argv.get(1),
                |r| r.null(),
                |s, r| match s.random_member(&mut rng) {
                    Some(m) => reply_member(r, m),
                    None => r.null(),
                },
            )
        }
        3 => srandmember_count(ctx, argv.get(1), random_count(argv.get(2))?),
        _ => Err(CmdError::Syntax),
    }
}

/// SRANDMEMBER with a count (behaves like `srandmemberWithCountCommand()`); the whole set
/// is returned in set order.
fn srandmember_count(ctx: &mut Ctx<'_>, key: &[u8], count: i64) -> CmdResult {
    let mut shard = ctx.keyspace().lock_key(key);
    let Some(e) = shard.db(ctx.client.db).lookup_read(key, ctx.fx) else {
        ctx.reply.array(0);
        return Ok(());
    };
    let s = as_set(e)?;
    let source = RandomSource {
        len: s.len(),
        pairs: false,
        pick: |r: &mut Reply, rng: &mut _| {
            if let Some(m) = s.random_member(rng) {
                reply_member(r, m);
            }
        },
        whole: |r: &mut Reply| s.iter().for_each(|m| reply_member(r, m)),
        at: |r: &mut Reply, i| reply_member(r, s.get(i)),
    };
    reply_random_count(ctx, count, source);
    Ok(())
}

fn spop(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    match argv.len() {
        2 => spop_one(ctx, argv.get(1)),
        3 => spop_count(ctx, argv.get(1), argv.get(2)),
        _ => Err(CmdError::Syntax),
    }
}

/// SPOP without a count (behaves like `spopCommand()`).
fn spop_one(ctx: &mut Ctx<'_>, key: &[u8]) -> CmdResult {
    let mut shard = ctx.keyspace().lock_key(key);
    let d = shard.db(ctx.client.db);
    let Some(pos) = d.find(key, ctx.fx) else {
        ctx.reply.null();
        return Ok(());
    };
    let s = as_set_mut(d.at_mut(pos))?;
    let Some(member) = s.pop_random(&mut rand::rng()) else {
        ctx.reply.null();
        return Ok(());
    };
    let emptied = s.is_empty();
    ctx.fx.notify(EventClass::SET, "spop", key);
    // The member chosen, not a new random draw.
    ctx.fx.rewrite_as(&[b"SREM", key, &member]);
    ctx.reply.bulk(&member);
    if emptied {
        d.remove_at(pos);
        ctx.fx.notify(EventClass::GENERIC, "del", key);
    }
    ctx.fx.dirty += 1;
    Ok(())
}

/// SPOP with a count (behaves like `spopWithCountCommand()`): distinct members, the whole
/// set (and the key) when the count covers it.
fn spop_count(ctx: &mut Ctx<'_>, key: &[u8], count: &[u8]) -> CmdResult {
    let count = args::non_negative(count)? as u64;
    let limits = ctx.settings.encoding_limits();
    let mut shard = ctx.keyspace().lock_key(key);
    let d = shard.db(ctx.client.db);
    let Some(pos) = d.find(key, ctx.fx) else {
        ctx.reply.set(0);
        return Ok(());
    };
    let s = as_set_mut(d.at_mut(pos))?;
    if count == 0 {
        ctx.reply.set(0);
        return Ok(());
    }
    let size = s.len();
    let n = count.min(size as u64) as usize;
    ctx.fx.notify(EventClass::SET, "spop", key);
    ctx.fx.dirty += n as u64;
    if n == size {
        // COMPAT(redis 7.0): the whole set is replied through SUNION's code, whose
        // `lookupKeyRead()` counts one more keyspace hit.
        ctx.fx.keyspace_hits += 1;
    }
    let popped = s.pop_many(n, &limits, &mut rand::rng());
    let emptied = s.is_empty();
    // Behaves like `spopWithCountCommand()`'s propagation: the whole set is a DEL, else
    // one SREM per member (wrapped in MULTI/EXEC when several).
    if n == size {
        ctx.fx.rewrite_as(&[b"DEL", key]);
    } else {
        let db = ctx.client.db;
        for m in &popped {
            ctx.fx.propagate(PropOp::new(db, &[b"SREM", key, m]));
        }
        ctx.fx.rewrite_as(&[]);
    }
    ctx.reply.set(popped.len());
    popped.iter().for_each(|m| ctx.reply.bulk(m));
    if emptied {
        d.remove_at(pos);
        ctx.fx.notify(EventClass::GENERIC, "del", key);
    }
    Ok(())
}

fn smove(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let (src, dst, member) = (argv.get(1), argv.get(2), argv.get(3));
    let db = ctx.client.db;
    let mut locked = ctx.keyspace().lock_keys([src, dst]);
    // Both keys are looked up (and expired) before anything else, as in `smoveCommand()`.
    let src_found = locked.db(src, db).find(src, ctx.fx).is_some();
    locked.db(dst, db).find(dst, ctx.fx);
    if !src_found {
        ctx.reply.int(0);
        return Ok(());
    }
    let is_member = match locked.db(src, db).lookup(src, ctx.fx) {
        Some(e) => as_set(e)?.contains(member),
        None => false,
    };
    if let Some(e) = locked.db(dst, db).lookup(dst, ctx.fx) {
        as_set(e)?;
    }
    if src == dst {
        ctx.reply.int(is_member as i64);
        return Ok(());
    }
    if !is_member {
        ctx.reply.int(0);
        return Ok(());
    }
    remove_member(ctx, &mut locked, src, member);
    let limits = ctx.settings.encoding_limits();
    let d = locked.db(dst, db);
    let pos = match d.find(dst, ctx.fx) {
        Some(pos) => pos,
        None => d.add(
            dst,
            Value::Set(Box::new(SetValue::for_member(member))),
            ctx.fx,
        ),
    };
    ctx.fx.dirty += 1;
    if as_set_mut(d.at_mut(pos))?.add(member, &limits) {
        ctx.fx.dirty += 1;
        ctx.fx.notify(EventClass::SET, "sadd", dst);
    }
    ctx.reply.int(1);
    Ok(())
}

/// SMOVE's removal from the source: `srem`, then `del` when the set became empty.
fn remove_member(ctx: &mut Ctx<'_>, locked: &mut MultiGuard<'_>, key: &[u8], member: &[u8]) {
    let d = locked.db(key, ctx.client.db);
    let Some(pos) = d.find(key, ctx.fx) else {
        return;
    };
    let Value::Set(s) = &mut d.at_mut(pos).value else {
        return;
    };
    s.remove(member);
    let emptied = s.is_empty();
    ctx.fx.notify(EventClass::SET, "srem", key);
    if emptied {
        d.remove_at(pos);
        ctx.fx.notify(EventClass::GENERIC, "del", key);
    }
}

/// Looks up every key for reading (expiring it, counting the hit or miss) and returns
/// each set's size, `None` for a missing key; WRONGTYPE at the first key of another type.
fn set_sizes(
    locked: &mut MultiGuard<'_>,
    keys: &[&[u8]],
    db: usize,
    fx: &mut Effects,
) -> Result<Vec<Option<usize>>, CmdError> {
    keys.iter()
        .map(|&key| match locked.db(key, db).lookup_read(key, fx) {
            Some(e) => as_set(e).map(|s| Some(s.len())),
            None => Ok(None),
        })
        .collect()
}

/// The set under `key` once [`set_sizes`] has looked it up; `None` when missing.
fn peek_set<'g>(locked: &'g mut MultiGuard<'_>, key: &[u8], db: usize) -> Option<&'g SetValue> {
    match &locked.db(key, db).peek(key)?.value {
        Value::Set(s) => Some(s),
        _ => None,
    }
}

/// Stores a computed set under `dst` (behaves like the STORE tail of
/// `sinterGenericCommand()` / `sunionDiffGenericCommand()`): an empty result deletes
/// `dst` instead. Replies with the result's size.
fn store_result(ctx: &mut Ctx<'_>, d: &mut Db, dst: &[u8], result: SetValue, event: &'static str) {
    let len = result.len();
    if len == 0 {
        // `dbDelete()` removes the key even when it is logically expired.
        if d.remove(dst).is_some() {
            ctx.fx.dirty += 1;
            ctx.fx.notify(EventClass::GENERIC, "del", dst);
        }
        ctx.reply.int(0);
        return;
    }
    // `setKey()` looks the key up for writing first, which expires it.
    d.find(dst, ctx.fx);
    d.set(dst, Value::Set(Box::new(result)), false, ctx.fx);
    ctx.reply.int(len as i64);
    ctx.fx.notify(EventClass::SET, event, dst);
    ctx.fx.dirty += 1;
}

/// What an intersection produces.
#[derive(Clone, Copy)]
enum InterOutput<'a> {
    /// SINTER / SMEMBERS: the members, as a set reply.
    Members,
    /// SINTERCARD: the size, counting at most this many (0 = all).
    Cardinality(u64),
    /// SINTERSTORE: stored under this key.
    Store(&'a [u8]),
}

/// SINTER, SMEMBERS, SINTERCARD and SINTERSTORE (behaves like `sinterGenericCommand()`).
fn sinter_generic(ctx: &mut Ctx<'_>, keys: &[&[u8]], out: InterOutput<'_>) -> CmdResult {
    let db = ctx.client.db;
    let dst = match out {
        InterOutput::Store(dst) => Some(dst),
        _ => None,
    };
    let mut locked = ctx.keyspace().lock_keys(keys.iter().copied().chain(dst));
    let sizes = set_sizes(&mut locked, keys, db, ctx.fx)?;
    // Smallest first (a stable sort, like glibc's merge-sort `qsort()`): its order is the
    // result's order, and a missing key (size 0) makes the result empty.
    let mut order: Vec<usize> = (0..keys.len()).collect();
    order.sort_by_key(|&i| sizes[i].unwrap_or(0));
    let first = keys[order[0]];
    let others: Vec<&[u8]> = order[1..]
        .iter()
        .map(|&i| keys[i])
        .filter(|k| *k != first)
        .collect();
    let any_missing = sizes.iter().any(Option::is_none);
    if !any_missing
        && others.is_empty()
        && let InterOutput::Members = out
    {
        // One distinct set: reply straight from it.
        if let Some(s) = peek_set(&mut locked, first, db) {
            reply_set(ctx.reply, s);
        }
        return Ok(());
    }
    let mut survivors: Vec<SmallBytes> = match peek_set(&mut locked, first, db) {
        Some(s) if !any_missing => s.members(),
        _ => Vec::new(),
    };
    for key in others {
        if survivors.is_empty() {
            break;
        }
        if let Some(s) = peek_set(&mut locked, key, db) {
            survivors.retain(|m| s.contains(m));
        }
    }
    match out {
        InterOutput::Members => {
            ctx.reply.set(survivors.len());
            survivors.iter().for_each(|m| ctx.reply.bulk(m));
        }
        InterOutput::Cardinality(limit) => {
            let n = survivors.len() as u64;
            ctx.reply
                .int(if limit > 0 { n.min(limit) } else { n } as i64);
        }
        InterOutput::Store(dst) => {
            let limits = ctx.settings.encoding_limits();
            let mut result = SetValue::Ints(Vec::new());
            for m in &survivors {
                result.add(m, &limits);
            }
            store_result(ctx, locked.db(dst, db), dst, result, "sinterstore");
        }
    }
    Ok(())
}

fn sinter(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let keys: Vec<&[u8]> = argv.iter().skip(1).collect();
    sinter_generic(ctx, &keys, InterOutput::Members)
}

fn sinterstore(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let keys: Vec<&[u8]> = argv.iter().skip(2).collect();
    sinter_generic(ctx, &keys, InterOutput::Store(argv.get(1)))
}

/// SINTERCARD numkeys key [key ...] [LIMIT limit] (behaves like `sinterCardCommand()`).
fn sintercard(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let numkeys = match args::int(argv.get(1)) {
        Ok(n) if n >= 1 => n as u64,
        _ => return Err(CmdError::err("numkeys should be greater than 0")),
    };
    let available = argv.len() as u64 - 2;
    if numkeys > available {
        return Err(CmdError::err(
            "Number of keys can't be greater than number of args",
        ));
    }
    let end = 2 + numkeys as usize;
    let mut limit = 0u64;
    let mut j = end;
    while j < argv.len() {
        match argv.try_get(j + 1) {
            Some(value) if is(argv.get(j), "limit") => {
                limit = match args::int(value) {
                    Ok(n) if n >= 0 => n as u64,
                    _ => return Err(CmdError::err("LIMIT can't be negative")),
                };
                j += 2;
            }
            _ => return Err(CmdError::Syntax),
        }
    }
    let keys: Vec<&[u8]> = argv.iter().take(end).skip(2).collect();
    sinter_generic(ctx, &keys, InterOutput::Cardinality(limit))
}

/// Union or difference.
#[derive(Clone, Copy, PartialEq, Eq)]
enum SetOp {
    Union,
    Diff,
}

/// SUNION, SDIFF and their STORE forms (behaves like `sunionDiffGenericCommand()`).
fn sunion_diff(ctx: &mut Ctx<'_>, keys: &[&[u8]], dst: Option<&[u8]>, op: SetOp) -> CmdResult {
    let db = ctx.client.db;
    let mut locked = ctx.keyspace().lock_keys(keys.iter().copied().chain(dst));
    let sizes = set_sizes(&mut locked, keys, db, ctx.fx)?;
    let limits = ctx.settings.encoding_limits();
    let result = match op {
        SetOp::Union => union_of(&mut locked, keys, db, &limits),
        SetOp::Diff => diff_of(&mut locked, keys, &sizes, db, &limits),
    };
    match dst {
        None => reply_set(ctx.reply, &result),
        Some(dst) => {
            let event = match op {
                SetOp::Union => "sunionstore",
                SetOp::Diff => "sdiffstore",
            };
            store_result(ctx, locked.db(dst, db), dst, result, event);
        }
    }
    Ok(())
}

/// Every member of every existing set, added in key order to a fresh set.
fn union_of(
    locked: &mut MultiGuard<'_>,
    keys: &[&[u8]],
    db: usize,
    limits: &EncodingLimits,
) -> SetValue {
    let mut out = SetValue::Ints(Vec::new());
    for key in keys {
        if let Some(s) = peek_set(locked, key, db) {
            s.iter().for_each(|m| {
                out.add_member(m, limits);
            });
        }
    }
    out
}

/// The members of the first set found in none of the others.
///
/// Redis picks one of two algorithms by estimated work, and the choice is visible: the
/// first adds only the surviving members to the fresh result set, the second adds the
/// whole first set and removes the others' members, so a large first set may leave a
/// small result in "hashtable" encoding. Both are reproduced.
fn diff_of(
    locked: &mut MultiGuard<'_>,
    keys: &[&[u8]],
    sizes: &[Option<usize>],
    db: usize,
    limits: &EncodingLimits,
) -> SetValue {
    let mut out = SetValue::Ints(Vec::new());
    let Some(first_len) = sizes[0] else {
        return out;
    };
    // The first key repeated: everything is subtracted.
    if keys[1..].contains(&keys[0]) {
        return out;
    }
    let existing = sizes.iter().flatten();
    let algo_one_work = (existing.clone().count() as u64).saturating_mul(first_len as u64) / 2;
    let algo_two_work: u64 = existing.map(|&n| n as u64).sum();
    let others = keys.iter().zip(sizes).skip(1).filter(|(_, s)| s.is_some());
    if algo_one_work <= algo_two_work {
        let mut survivors = peek_set(locked, keys[0], db).map_or_else(Vec::new, SetValue::members);
        for (key, _) in others {
            if let Some(s) = peek_set(locked, key, db) {
                survivors.retain(|m| !s.contains(m));
            }
        }
        for m in &survivors {
            out.add(m, limits);
        }
    } else {
        if let Some(s) = peek_set(locked, keys[0], db) {
            s.iter().for_each(|m| {
                out.add_member(m, limits);
            });
        }
        for (key, _) in others {
            if out.is_empty() {
                break;
            }
            if let Some(s) = peek_set(locked, key, db) {
                s.iter().for_each(|m| {
                    out.remove_member(m);
                });
            }
        }
    }
    out
}

fn sunion(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let keys: Vec<&[u8]> = argv.iter().skip(1).collect();
    sunion_diff(ctx, &keys, None, SetOp::Union)
}

fn sunionstore(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let keys: Vec<&[u8]> = argv.iter().skip(2).collect();
    sunion_diff(ctx, &keys, Some(argv.get(1)), SetOp::Union)
}

fn sdiff(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let keys: Vec<&[u8]> = argv.iter().skip(1).collect();
    sunion_diff(ctx, &keys, None, SetOp::Diff)
}

fn sdiffstore(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let keys: Vec<&[u8]> = argv.iter().skip(2).collect();
    sunion_diff(ctx, &keys, Some(argv.get(1)), SetOp::Diff)
}

fn sscan(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let cursor = scan::parse_cursor(argv.get(2))?;
    let key = argv.get(1);
    let mut shard = ctx.keyspace().lock_key(key);
    let Some(e) = shard.db(ctx.client.db).lookup_read(key, ctx.fx) else {
        reply_scan(ctx.reply, 0, &[]);
        return Ok(());
    };
    let s = as_set(e)?;
    let opts = ScanOptions::parse(argv, 3, false)?;
    let mut found: Vec<SmallBytes> = Vec::new();
    let next = s.scan(cursor, opts.count, |m| {
        let bytes = m.to_bytes();
        if opts.matches(&bytes) {
            found.push(bytes);
        }
    });
    let refs: Vec<&[u8]> = found.iter().map(|m| m.as_slice()).collect();
    reply_scan(ctx.reply, next, &refs);
    Ok(())
}
