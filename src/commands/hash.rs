//! Hash commands (behaves like Redis's t_hash.c): HSET HSETNX HMSET HGET HMGET HDEL HLEN
//! HSTRLEN HEXISTS HKEYS HVALS HGETALL HINCRBY HINCRBYFLOAT HRANDFIELD HSCAN.
//!
//! Also the pieces HSCAN and SSCAN share with each other (cursor and option parsing, like
//! `parseScanCursorOrReply()` and step 1 of `scanGenericCommand()`) and the random-count
//! parsing HRANDFIELD shares with SRANDMEMBER.
//!
//! The value's encoding (listpack or hashtable) and its conversions live in
//! [`HashValue`]; this file decides when each command looks up, creates, deletes and
//! notifies, in Redis's order.

use super::access::{Removal, read_value, remove_members};
use super::args;
use super::random::{RandomSource, random_count_with, reply_random_count};
use super::scan::{self, ScanOptions, reply_scan};
use super::{CmdError, CmdResult, Ctx, Handler};
use crate::keyspace::value::Pair;
use crate::keyspace::{Db, Effects, Entry, EventClass, HashValue, Value};
use crate::protocol::Argv;
use crate::protocol::Reply;
use crate::protocol::float::LongDouble;

pub(super) const HANDLERS: &[(&str, Handler)] = &[
    ("hset", hset),
    ("hsetnx", hsetnx),
    ("hmset", hmset),
    ("hget", hget),
    ("hmget", hmget),
    ("hdel", hdel),
    ("hlen", hlen),
    ("hstrlen", hstrlen),
    ("hexists", hexists),
    ("hkeys", hkeys),
    ("hvals", hvals),
    ("hgetall", hgetall),
    ("hincrby", hincrby),
    ("hincrbyfloat", hincrbyfloat),
    ("hrandfield", hrandfield),
    ("hscan", hscan),
];

/// The hash held by an entry, or WRONGTYPE.
fn as_hash(e: &Entry) -> Result<&HashValue, CmdError> {
    match &e.value {
        Value::Hash(h) => Ok(h),
        _ => Err(CmdError::WrongType),
    }
}

/// Mutable access to an entry's hash, or WRONGTYPE.
fn as_hash_mut(e: &mut Entry) -> Result<&mut HashValue, CmdError> {
    match &mut e.value {
        Value::Hash(h) => Ok(h),
        _ => Err(CmdError::WrongType),
    }
}

/// Position of the hash under `key`, created empty (staging `new`) when missing; WRONGTYPE
/// for another type (behaves like `hashTypeLookupWriteOrCreate()`).
fn find_or_create(d: &mut Db, key: &[u8], fx: &mut Effects) -> Result<usize, CmdError> {
    match d.find(key, fx) {
        Some(pos) => as_hash(d.at(pos)).map(|_| pos),
        None => Ok(d.add(key, Value::Hash(Box::default()), fx)),
    }
}

/// HSET and HMSET (behaves like `hsetCommand()`): same work, different replies.
fn hset_generic(ctx: &mut Ctx<'_>, argv: &Argv<'_>, reply_count: bool) -> CmdResult {
    if !argv.len().is_multiple_of(2) {
        return Err(CmdError::Arity(ctx.cmd.name().to_string()));
    }
    let key = argv.get(1);
    let limits = ctx.settings.encoding_limits();
    let mut shard = ctx.keyspace().lock_key(key);
    let d = shard.db(ctx.client.db);
    let pos = find_or_create(d, key, ctx.fx)?;
    let h = as_hash_mut(d.at_mut(pos))?;
    // Convert up front when any argument is too long for a listpack, as
    // `hashTypeTryConversion()` does before the first field is written.
    h.prepare_for(argv.iter().skip(2).map(<[u8]>::len), &limits);
    let mut created = 0;
    for i in (2..argv.len()).step_by(2) {
        created += h.set(argv.get(i), argv.get(i + 1), &limits) as i64;
    }
    if reply_count {
        ctx.reply.int(created);
    } else {
        ctx.reply.ok();
    }
    ctx.fx.notify(EventClass::HASH, "hset", key);
    ctx.fx.dirty += (argv.len() as u64 - 2) / 2;
    Ok(())
}

fn hset(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    hset_generic(ctx, argv, true)
}

fn hmset(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    hset_generic(ctx, argv, false)
}

fn hsetnx(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let (key, field, value) = (argv.get(1), argv.get(2), argv.get(3));
    let limits = ctx.settings.encoding_limits();
    let mut shard = ctx.keyspace().lock_key(key);
    let d = shard.db(ctx.client.db);
    let pos = find_or_create(d, key, ctx.fx)?;
    let h = as_hash_mut(d.at_mut(pos))?;
    if h.contains(field) {
        ctx.reply.int(0);
        return Ok(());
    }
    h.set(field, value, &limits);
    ctx.reply.int(1);
    ctx.fx.notify(EventClass::HASH, "hset", key);
    ctx.fx.dirty += 1;
    Ok(())
}

fn hget(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let key = argv.get(1);
    let mut shard = ctx.keyspace().lock_key(key);
    let value = match shard.db(ctx.client.db).lookup_read(key, ctx.fx) {
        Some(e) => as_hash(e)?.get(argv.get(2)),
        None => None,
    };
    match value {
        Some(v) => ctx.reply.bulk(v),
        None => ctx.reply.null(),
    }
    Ok(())
}

fn hmget(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let key = argv.get(1);
    let mut shard = ctx.keyspace().lock_key(key);
    // A missing key is an empty hash: one null per field.
    let h = match shard.db(ctx.client.db).lookup_read(key, ctx.fx) {
        Some(e) => Some(as_hash(e)?),
        None => None,
    };
    ctx.reply.array(argv.len() - 2);
    for field in argv.iter().skip(2) {
        match h.and_then(|h| h.get(field)) {
            Some(v) => ctx.reply.bulk(v),
            None => ctx.reply.null(),
        }
    }
    Ok(())
}

fn hdel(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let how = Removal {
        cast: as_hash_mut,
        remove: HashValue::remove,
        is_empty: HashValue::is_empty,
        class: EventClass::HASH,
        event: "hdel",
    };
    remove_members(ctx, argv.get(1), argv.iter().skip(2), &how)
}

/// Runs `f` on the hash under `key` for a read command (see [`read_value`]).
fn read_hash(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    missing: impl FnOnce(&mut Reply),
    f: impl FnOnce(&HashValue, &mut Reply),
) -> CmdResult {
    read_value(ctx, key, as_hash, missing, f)
}

fn hlen(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    read_hash(ctx, argv.get(1), |r| r.int(0), |h, r| r.int(h.len() as i64))
}

fn hstrlen(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let field = argv.get(2);
    read_hash(
        ctx,
        argv.get(1),
        |r| r.int(0),
        |h, r| r.int(h.get(field).map_or(0, |v| v.len()) as i64),
    )
}

fn hexists(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let field = argv.get(2);
    read_hash(
        ctx,
        argv.get(1),
        |r| r.int(0),
        |h, r| r.int(h.contains(field) as i64),
    )
}

fn hkeys(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    read_hash(
        ctx,
        argv.get(1),
        |r| r.array(0),
        |h, r| {
            r.array(h.len());
            h.pairs().iter().for_each(|(f, _)| r.bulk(f));
        },
    )
}

fn hvals(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    read_hash(
        ctx,
        argv.get(1),
        |r| r.array(0),
        |h, r| {
            r.array(h.len());
            h.pairs().iter().for_each(|(_, v)| r.bulk(v));
        },
    )
}

fn hgetall(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    read_hash(
        ctx,
        argv.get(1),
        |r| r.map(0),
        |h, r| {
            r.map(h.len());
            for (f, v) in h.pairs() {
                r.bulk(f);
                r.bulk(v);
            }
        },
    )
}

/// Stores `new` as the value of `field` in the hash under `key`, creating the key when
/// needed: the tail of HINCRBY and HINCRBYFLOAT once the new value is known.
fn store_field(ctx: &mut Ctx<'_>, d: &mut Db, key: &[u8], field: &[u8], new: &[u8]) -> CmdResult {
    let limits = ctx.settings.encoding_limits();
    let pos = find_or_create(d, key, ctx.fx)?;
    as_hash_mut(d.at_mut(pos))?.set(field, new, &limits);
    Ok(())
}

fn hincrby(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let (key, field) = (argv.get(1), argv.get(2));
    let by = args::int(argv.get(3))?;
    let mut shard = ctx.keyspace().lock_key(key);
    let d = shard.db(ctx.client.db);
    let old = match d.find(key, ctx.fx) {
        Some(pos) => match as_hash(d.at(pos))?.get(field) {
            Some(v) => args::int(v).map_err(|_| CmdError::err("hash value is not an integer"))?,
            None => 0,
        },
        None => 0,
    };
    let new = old.checked_add(by).ok_or(CmdError::Overflow)?;
    let mut buf = itoa::Buffer::new();
    store_field(ctx, d, key, field, buf.format(new).as_bytes())?;
    ctx.reply.int(new);
    ctx.fx.notify(EventClass::HASH, "hincrby", key);
    ctx.fx.dirty += 1;
    Ok(())
}

fn hincrbyfloat(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let (key, field) = (argv.get(1), argv.get(2));
    let by = LongDouble::parse(argv.get(3)).ok_or(CmdError::NotFloat)?;
    // `string2ld()` accepts "inf"; adding it to zero is the one check that sees a long
    // double infinity without narrowing it to f64 (where 1e400 would look infinite too).
    if LongDouble::from_i64(0).checked_add(by).is_none() {
        return Err(CmdError::err("value is NaN or Infinity"));
    }
    let mut shard = ctx.keyspace().lock_key(key);
    let d = shard.db(ctx.client.db);
    let old = match d.find(key, ctx.fx) {
        Some(pos) => match as_hash(d.at(pos))?.get(field) {
            Some(v) => {
                LongDouble::parse(v).ok_or_else(|| CmdError::err("hash value is not a float"))?
            }
            None => LongDouble::from_i64(0),
        },
        None => LongDouble::from_i64(0),
    };
    let sum = old
        .checked_add(by)
        .ok_or_else(|| CmdError::err("increment would produce NaN or Infinity"))?;
    let text = sum.to_human();
    store_field(ctx, d, key, field, &text)?;
    ctx.reply.bulk(&text);
    ctx.fx.notify(EventClass::HASH, "hincrbyfloat", key);
    ctx.fx.rewrite_as(&[b"HSET", key, field, &text]);
    ctx.fx.dirty += 1;
    Ok(())
}

/// Writes one HRANDFIELD element: the field, or field and value (a 2-element array in
/// RESP3, flat in RESP2).
fn reply_pair(r: &mut Reply, (field, value): &Pair, with_values: bool) {
    if with_values && r.is_resp3() {
        r.array(2);
    }
    r.bulk(field);
    if with_values {
        r.bulk(value);
    }
}

fn hrandfield(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let key = argv.get(1);
    if argv.len() >= 3 {
        let (count, with_values) = random_count_with(argv, "withvalues")?;
        return hrandfield_count(ctx, key, count, with_values);
    }
    let mut rng = rand::rng();
    read_hash(
        ctx,
        key,
        |r| r.null(),
        |h, r| match h.random_pair(&mut rng) {
            Some((f, _)) => r.bulk(f),
            None => r.null(),
        },
    )
}

/// HRANDFIELD with a count (behaves like `hrandfieldWithCountCommand()`); the whole hash
/// is returned in hash order.
fn hrandfield_count(ctx: &mut Ctx<'_>, key: &[u8], count: i64, with_values: bool) -> CmdResult {
    let mut shard = ctx.keyspace().lock_key(key);
    let Some(e) = shard.db(ctx.client.db).lookup_read(key, ctx.fx) else {
        ctx.reply.array(0);
        return Ok(());
    };
    let h = as_hash(e)?;
    let source = RandomSource {
        len: h.len(),
        pairs: with_values,
        pick: |r: &mut Reply, rng: &mut _| {
            if let Some(pair) = h.random_pair(rng) {
                reply_pair(r, pair, with_values);
            }
        },
        whole: |r: &mut Reply| h.pairs().iter().for_each(|p| reply_pair(r, p, with_values)),
        at: |r: &mut Reply, i| reply_pair(r, h.pair_at(i), with_values),
    };
    reply_random_count(ctx, count, source);
    Ok(())
}

fn hscan(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let cursor = scan::parse_cursor(argv.get(2))?;
    let key = argv.get(1);
    let mut shard = ctx.keyspace().lock_key(key);
    let Some(e) = shard.db(ctx.client.db).lookup_read(key, ctx.fx) else {
        reply_scan(ctx.reply, 0, &[]);
        return Ok(());
    };
    let h = as_hash(e)?;
    let opts = ScanOptions::parse(argv, 3, false)?;
    let mut found: Vec<&[u8]> = Vec::new();
    let next = h.scan(cursor, opts.count, |(f, v)| {
        if opts.matches(f) {
            found.push(f);
            found.push(v);
        }
    });
    reply_scan(ctx.reply, next, &found);
    Ok(())
}
