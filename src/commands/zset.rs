//! Sorted-set commands (behaves like Redis's t_zset.c): ZADD ZINCRBY ZREM ZCARD ZCOUNT
//! ZLEXCOUNT ZSCORE ZMSCORE ZRANK ZREVRANK ZRANGE ZRANGESTORE ZREVRANGE ZRANGEBYSCORE
//! ZREVRANGEBYSCORE ZRANGEBYLEX ZREVRANGEBYLEX ZREMRANGEBYRANK ZREMRANGEBYSCORE
//! ZREMRANGEBYLEX ZPOPMIN ZPOPMAX ZMPOP ZRANDMEMBER ZUNION ZINTER ZDIFF ZINTERCARD
//! ZUNIONSTORE ZINTERSTORE ZDIFFSTORE ZSCAN.
//!
//! The value and its two encodings live in [`ZSetValue`]. Each handler checks its
//! arguments, looks its keys up and reports errors in the order Redis does, since that order
//! is visible (a bad score is reported before WRONGTYPE in ZADD, after it in ZUNION).
//!
//! The set-algebra commands read their inputs one at a time (their shards are locked
//! together): an intersection or difference copies the smallest (or first) input and
//! filters it through the others, a union accumulates into a table. Inputs are visited in
//! Redis's order (by size, stably), because the order in which scores are added shows in
//! the last bits of a sum.
//!
//! BZPOPMIN / BZPOPMAX / BZMPOP are built on [`zpop_with_key`] and [`parse_multi_pop`].

use hashbrown::HashMap;
use hashbrown::hash_map::Entry as MapEntry;

use super::access::{Removal, read_value, remove_members};
use super::args::{self, is};
use super::random::{RandomSource, random_count_with, reply_random_count};
use super::scan::{self, ScanOptions, reply_scan};
use super::{CmdError, CmdResult, Ctx, Handler};
use crate::keyspace::value::EncodingLimits;
use crate::keyspace::zset::{
    AddFlags, AddOutcome, LexBound, LexRange, LexValue, ScoreRange, listpack_score_text,
    sort_entries,
};
use crate::keyspace::{
    Db, Effects, Entry, EventClass, MultiGuard, SetValue, SmallBytes, Value, ZSetValue,
};
use crate::protocol::float::{c_strtod, format_double};
use crate::protocol::{Argv, Reply};

pub(super) const HANDLERS: &[(&str, Handler)] = &[
    ("zadd", zadd),
    ("zincrby", zincrby),
    ("zrem", zrem),
    ("zcard", zcard),
    ("zcount", zcount),
    ("zlexcount", zlexcount),
    ("zscore", zscore),
    ("zmscore", zmscore),
    ("zrank", zrank),
    ("zrevrank", zrevrank),
    ("zrange", zrange),
    ("zrangestore", zrangestore),
    ("zrevrange", zrevrange),
    ("zrangebyscore", zrangebyscore),
    ("zrevrangebyscore", zrevrangebyscore),
    ("zrangebylex", zrangebylex),
    ("zrevrangebylex", zrevrangebylex),
    ("zremrangebyrank", zremrangebyrank),
    ("zremrangebyscore", zremrangebyscore),
    ("zremrangebylex", zremrangebylex),
    ("zpopmin", zpopmin),
    ("zpopmax", zpopmax),
    ("zmpop", zmpop),
    ("zrandmember", zrandmember),
    ("zunion", zunion),
    ("zinter", zinter),
    ("zdiff", zdiff),
    ("zintercard", zintercard),
    ("zunionstore", zunionstore),
    ("zinterstore", zinterstore),
    ("zdiffstore", zdiffstore),
    ("zscan", zscan),
];

/// The sorted set held by an entry, or WRONGTYPE.
pub(super) fn as_zset(e: &Entry) -> Result<&ZSetValue, CmdError> {
    match &e.value {
        Value::ZSet(z) => Ok(z),
        _ => Err(CmdError::WrongType),
    }
}

/// Mutable access to an entry's sorted set, or WRONGTYPE.
fn as_zset_mut(e: &mut Entry) -> Result<&mut ZSetValue, CmdError> {
    match &mut e.value {
        Value::ZSet(z) => Ok(z),
        _ => Err(CmdError::WrongType),
    }
}

/// Runs `f` on the sorted set under `key` for a read command (see [`read_value`]).
pub(super) fn read_zset(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    missing: impl FnOnce(&mut Reply),
    f: impl FnOnce(&ZSetValue, &mut Reply),
) -> CmdResult {
    read_value(ctx, key, as_zset, missing, f)
}

/// One element of a [`Reply::pair_list`]: the member, or member and score.
fn reply_entry(r: &mut Reply, member: &[u8], score: f64, withscores: bool) {
    if withscores && r.is_resp3() {
        r.array(2);
    }
    r.bulk(member);
    if withscores {
        r.double(score);
    }
}

// ---------------------------------------------------------------------------------------
// ZADD, ZINCRBY, ZREM

fn zadd(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    zadd_generic(ctx, argv, false)
}

/// ZINCRBY is ZADD with INCR: its increment goes through ZADD's option parsing too, so
/// `ZINCRBY key nx member` is a syntax error, as in Redis.
fn zincrby(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    zadd_generic(ctx, argv, true)
}

/// ZADD and ZINCRBY (behaves like `zaddGenericCommand()`).
fn zadd_generic(ctx: &mut Ctx<'_>, argv: &Argv<'_>, incr: bool) -> CmdResult {
    let key = argv.get(1);
    let mut flags = AddFlags {
        incr,
        ..AddFlags::default()
    };
    let mut ch = false;
    let mut first = 2;
    while let Some(opt) = argv.try_get(first) {
        let flag = if is(opt, "nx") {
            &mut flags.nx
        } else if is(opt, "xx") {
            &mut flags.xx
        } else if is(opt, "ch") {
            &mut ch
        } else if is(opt, "incr") {
            &mut flags.incr
        } else if is(opt, "gt") {
            &mut flags.gt
        } else if is(opt, "lt") {
            &mut flags.lt
        } else {
            break;
        };
        *flag = true;
        first += 1;
    }
    let args_left = argv.len() - first;
    if args_left == 0 || !args_left.is_multiple_of(2) {
        return Err(CmdError::Syntax);
    }
    if flags.nx && flags.xx {
        return Err(CmdError::err(
            "XX and NX options at the same time are not compatible",
        ));
    }
    if ((flags.gt || flags.lt) && flags.nx) || (flags.gt && flags.lt) {
        return Err(CmdError::err(
            "GT, LT, and/or NX options at the same time are not compatible",
        ));
    }
    if flags.incr && args_left > 2 {
        return Err(CmdError::err(
            "INCR option supports a single increment-element pair",
        ));
    }
    // Every score is checked before anything changes: all or nothing.
    let pairs: Vec<(f64, &[u8])> = (first..argv.len())
        .step_by(2)
        .map(|i| Ok((args::float(argv.get(i))?, argv.get(i + 1))))
        .collect::<Result<_, CmdError>>()?;
    zadd_pairs(ctx, key, flags, ch, &pairs)
}

/// Adds checked, non-empty (score, member) pairs to the sorted set at `key` and replies
/// as ZADD does (the rest of `zaddGenericCommand()`); GEOADD comes here with the scores
/// of its positions.
pub(super) fn zadd_pairs(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    flags: AddFlags,
    ch: bool,
    pairs: &[(f64, &[u8])],
) -> CmdResult {
    let limits = ctx.settings.encoding_limits();
    let mut shard = ctx.keyspace().lock_key(key);
    let d = shard.db(ctx.client.db);
    let pos = match d.find(key, ctx.fx) {
        Some(pos) => as_zset(d.at(pos)).map(|_| pos)?,
        None if flags.xx => {
            if flags.incr {
                ctx.reply.null();
            } else {
                ctx.reply.int(0);
            }
            return Ok(());
        }
        None => {
            let empty = ZSetValue::for_first_member(pairs[0].1, &limits);
            d.add(key, Value::ZSet(Box::new(empty)), ctx.fx)
        }
    };
    let z = as_zset_mut(d.at_mut(pos))?;
    let (mut added, mut updated, mut last) = (0u64, 0u64, None);
    for &(score, member) in pairs {
        match z.add(member, score, flags, &limits) {
            AddOutcome::Added(s) => {
                added += 1;
                last = Some(s);
            }
            AddOutcome::Updated(s) => {
                updated += 1;
                last = Some(s);
            }
            AddOutcome::Unchanged(s) => last = Some(s),
            AddOutcome::Skipped => {}
            AddOutcome::NotANumber => {
                return Err(CmdError::err("resulting score is not a number (NaN)"));
            }
        }
    }
    ctx.fx.dirty += added + updated;
    match (flags.incr, last) {
        (true, Some(score)) => ctx.reply.double(score),
        (true, None) => ctx.reply.null(),
        (false, _) => ctx
            .reply
            .int((if ch { added + updated } else { added }) as i64),
    }
    if added + updated > 0 {
        let event = if flags.incr { "zincr" } else { "zadd" };
        ctx.fx.notify(EventClass::ZSET, event, key);
    }
    Ok(())
}

fn zrem(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let how = Removal {
        cast: as_zset_mut,
        remove: ZSetValue::remove,
        is_empty: ZSetValue::is_empty,
        class: EventClass::ZSET,
        event: "zrem",
    };
    remove_members(ctx, argv.get(1), argv.iter().skip(2), &how)
}

// ---------------------------------------------------------------------------------------
// Reads of one key

fn zcard(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    read_zset(ctx, argv.get(1), |r| r.int(0), |z, r| r.int(z.len() as i64))
}

fn zscore(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let member = argv.get(2);
    read_zset(
        ctx,
        argv.get(1),
        |r| r.null(),
        |z, r| match z.score(member) {
            Some(s) => r.double(s),
            None => r.null(),
        },
    )
}

fn zmscore(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    reply_per_member(ctx, argv, |r, score| match score {
        Some(s) => r.double(s),
        None => r.null(),
    })
}

/// Replies with an array of one element per member named from `argv[2]` on, written by
/// `each` from the member's score (`None` when it or the key is missing: a missing key is
/// an empty set). ZMSCORE, GEOPOS and GEOHASH.
pub(super) fn reply_per_member(
    ctx: &mut Ctx<'_>,
    argv: &Argv<'_>,
    each: impl Fn(&mut Reply, Option<f64>),
) -> CmdResult {
    let key = argv.get(1);
    let mut shard = ctx.keyspace().lock_key(key);
    let z = match shard.db(ctx.client.db).lookup_read(key, ctx.fx) {
        Some(e) => Some(as_zset(e)?),
        None => None,
    };
    ctx.reply.array(argv.len() - 2);
    for member in argv.iter().skip(2) {
        each(ctx.reply, z.and_then(|z| z.score(member)));
    }
    Ok(())
}

fn zrank(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    zrank_generic(ctx, argv, false)
}

fn zrevrank(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    zrank_generic(ctx, argv, true)
}

/// ZRANK and ZREVRANK (behaves like `zrankGenericCommand()`).
fn zrank_generic(ctx: &mut Ctx<'_>, argv: &Argv<'_>, reverse: bool) -> CmdResult {
    let member = argv.get(2);
    read_zset(
        ctx,
        argv.get(1),
        |r| r.null(),
        |z, r| match z.rank(member) {
            Some(rank) if reverse => r.int((z.len() - 1 - rank) as i64),
            Some(rank) => r.int(rank as i64),
            None => r.null(),
        },
    )
}

/// Parses a score range like `zslParseRange()`: `(` makes an end open; the rest is read by
/// C's `strtod()` up to the first NUL byte and must be used up.
/// COMPAT(redis 7.0): `strtod()` is more lenient than score parsing elsewhere: it skips
/// leading spaces, takes an empty string as 0 and an overflow as ±inf.
fn parse_score_range(min: &[u8], max: &[u8]) -> Result<ScoreRange, CmdError> {
    fn end(arg: &[u8]) -> Option<(f64, bool)> {
        match arg.split_first() {
            Some((b'(', rest)) => Some((c_strtod(rest)?.0, true)),
            _ => Some((c_strtod(arg)?.0, false)),
        }
    }
    match (end(min), end(max)) {
        (Some((min, min_exclusive)), Some((max, max_exclusive))) => Ok(ScoreRange {
            min,
            max,
            min_exclusive,
            max_exclusive,
        }),
        _ => Err(CmdError::err("min or max is not a float")),
    }
}

/// Parses a lexicographic range like `zslParseLexRange()`: `(` open, `[` closed, `-` and
/// `+` alone for the extremes (compared up to a NUL byte, as C does).
fn parse_lex_range<'a>(min: &'a [u8], max: &'a [u8]) -> Result<LexRange<'a>, CmdError> {
    fn end(arg: &[u8]) -> Option<LexBound<'_>> {
        let alone = arg.get(1).is_none_or(|&c| c == 0);
        let (value, exclusive) = match arg.split_first()? {
            (b'+', _) if alone => (LexValue::Max, true),
            (b'-', _) if alone => (LexValue::Min, true),
            (b'(', rest) => (LexValue::Bytes(rest), true),
            (b'[', rest) => (LexValue::Bytes(rest), false),
            _ => return None,
        };
        Some(LexBound { value, exclusive })
    }
    match (end(min), end(max)) {
        (Some(min), Some(max)) => Ok(LexRange { min, max }),
        _ => Err(CmdError::err("min or max not valid string range item")),
    }
}

fn zcount(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let range = parse_score_range(argv.get(2), argv.get(3))?;
    read_zset(
        ctx,
        argv.get(1),
        |r| r.int(0),
        |z, r| r.int(z.count_in_score_range(&range) as i64),
    )
}

fn zlexcount(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let range = parse_lex_range(argv.get(2), argv.get(3))?;
    read_zset(
        ctx,
        argv.get(1),
        |r| r.int(0),
        |z, r| r.int(z.count_in_lex_range(&range) as i64),
    )
}

// ---------------------------------------------------------------------------------------
// ZRANGE and its variants

/// What a range reads: ranks, scores or members.
#[derive(Clone, Copy, PartialEq, Eq)]
enum RangeKind {
    Rank,
    Score,
    Lex,
}

/// The parsed bounds of a range.
enum Bounds<'a> {
    Rank(i64, i64),
    Score(ScoreRange),
    Lex(LexRange<'a>),
}

/// A parsed ZRANGE-family request (behaves like steps 1 and 2 of `zrangeGenericCommand()`).
struct RangeRequest<'a> {
    bounds: Bounds<'a>,
    reverse: bool,
    withscores: bool,
    offset: i64,
    /// Negative: no limit.
    limit: i64,
}

impl<'a> RangeRequest<'a> {
    /// Parses `<src> <min> <max> [options]` with the source key at `key_idx`. `kind` and
    /// `reverse` are fixed by the legacy commands and chosen by options in ZRANGE /
    /// ZRANGESTORE; `store` forbids WITHSCORES.
    fn parse(
        argv: &Argv<'a>,
        key_idx: usize,
        store: bool,
        kind: Option<RangeKind>,
        reverse: Option<bool>,
    ) -> Result<Self, CmdError> {
        let (mut kind_opt, mut reverse_opt) = (kind, reverse);
        let (mut withscores, mut offset, mut limit) = (false, 0i64, -1i64);
        let mut j = key_idx + 3;
        while j < argv.len() {
            let opt = argv.get(j);
            let left = argv.len() - j - 1;
            if !store && is(opt, "withscores") {
                withscores = true;
            } else if is(opt, "limit") && left >= 2 {
                offset = args::int(argv.get(j + 1))?;
                limit = args::int(argv.get(j + 2))?;
                j += 2;
            } else if reverse_opt.is_none() && is(opt, "rev") {
                reverse_opt = Some(true);
            } else if kind_opt.is_none() && is(opt, "bylex") {
                kind_opt = Some(RangeKind::Lex);
            } else if kind_opt.is_none() && is(opt, "byscore") {
                kind_opt = Some(RangeKind::Score);
            } else {
                return Err(CmdError::Syntax);
            }
            j += 1;
        }
        let kind = kind_opt.unwrap_or(RangeKind::Rank);
        let reverse = reverse_opt.unwrap_or(false);
        // COMPAT(redis 7.0): only a limit other than -1 counts as given.
        if limit != -1 && kind == RangeKind::Rank {
            return Err(CmdError::err(
                "syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
            ));
        }
        if withscores && kind == RangeKind::Lex {
            return Err(CmdError::err(
                "syntax error, WITHSCORES not supported in combination with BYLEX",
            ));
        }
        let (mut lo, mut hi) = (argv.get(key_idx + 1), argv.get(key_idx + 2));
        // Reversed score and lex ranges are written max first.
        if reverse && kind != RangeKind::Rank {
            std::mem::swap(&mut lo, &mut hi);
        }
        let bounds = match kind {
            RangeKind::Rank => Bounds::Rank(args::int(lo)?, args::int(hi)?),
            RangeKind::Score => Bounds::Score(parse_score_range(lo, hi)?),
            RangeKind::Lex => Bounds::Lex(parse_lex_range(lo, hi)?),
        };
        Ok(RangeRequest {
            bounds,
            reverse,
            withscores,
            offset,
            limit,
        })
    }

    /// The ranks the request selects in `z`, and whether they are emitted highest first.
    fn select(&self, z: &ZSetValue) -> (std::ops::Range<usize>, bool) {
        let len = z.len();
        let empty = (0..0, self.reverse);
        match &self.bounds {
            Bounds::Rank(start, end) => match rank_window(*start, *end, len) {
                Some((lo, hi)) if self.reverse => ((len - 1 - hi)..(len - lo), true),
                Some((lo, hi)) => (lo..hi + 1, false),
                None => empty,
            },
            Bounds::Score(r) => {
                let start = if self.reverse {
                    z.last_in_score_range(r)
                } else {
                    z.first_in_score_range(r)
                };
                self.walk(z, start, |_, s| {
                    if self.reverse {
                        r.above_min(s)
                    } else {
                        r.below_max(s)
                    }
                })
                .unwrap_or(empty)
            }
            Bounds::Lex(r) => {
                let start = if self.reverse {
                    z.last_in_lex_range(r)
                } else {
                    z.first_in_lex_range(r)
                };
                self.walk(z, start, |m, _| {
                    if self.reverse {
                        r.above_min(m)
                    } else {
                        r.below_max(m)
                    }
                })
                .unwrap_or(empty)
            }
        }
    }

    /// From rank `start` in the request's direction: skips OFFSET entries unchecked, then
    /// takes up to LIMIT while `inside` holds (the loops of `genericZrangebyscoreCommand()`).
    fn walk(
        &self,
        z: &ZSetValue,
        start: Option<usize>,
        inside: impl Fn(&[u8], f64) -> bool,
    ) -> Option<(std::ops::Range<usize>, bool)> {
        // COMPAT(redis 7.0): a negative offset walks off the end: nothing is returned.
        let offset = usize::try_from(self.offset).ok()?;
        let limit = usize::try_from(self.limit).unwrap_or(usize::MAX);
        let start = start?;
        if self.reverse {
            let first = start.checked_sub(offset)?;
            let n = z
                .range(0..first + 1)
                .rev()
                .take_while(|(m, s)| inside(m, *s))
                .take(limit)
                .count();
            Some((first + 1 - n..first + 1, true))
        } else {
            let first = start.checked_add(offset)?.min(z.len());
            let n = z
                .range(first..z.len())
                .take_while(|(m, s)| inside(m, *s))
                .take(limit)
                .count();
            Some((first..first + n, false))
        }
    }
}

/// Normalizes a rank interval with negative indexes counting from the end; `None` when it
/// selects nothing. The result is inclusive and within `0..len`.
fn rank_window(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let start = if start < 0 { len + start } else { start }.max(0);
    let end = if end < 0 { len + end } else { end };
    if start > end || start >= len {
        return None;
    }
    Some((start as usize, end.min(len - 1) as usize))
}

/// ZRANGE-family reads that reply (behaves like `zrangeGenericCommand()` with the client
/// result handler).
fn zrange_reply(
    ctx: &mut Ctx<'_>,
    argv: &Argv<'_>,
    kind: Option<RangeKind>,
    reverse: Option<bool>,
) -> CmdResult {
    let req = RangeRequest::parse(argv, 1, false, kind, reverse)?;
    let key = argv.get(1);
    let mut shard = ctx.keyspace().lock_key(key);
    let Some(e) = shard.db(ctx.client.db).lookup_read(key, ctx.fx) else {
        ctx.reply.array(0);
        return Ok(());
    };
    let z = as_zset(e)?;
    let (ranks, rev) = req.select(z);
    ctx.reply.pair_list(ranks.len(), req.withscores);
    let entries = z.range(ranks);
    let mut emit = |(m, s): (&[u8], f64)| reply_entry(ctx.reply, m, s, req.withscores);
    if rev {
        entries.rev().for_each(&mut emit);
    } else {
        entries.for_each(&mut emit);
    }
    Ok(())
}

fn zrange(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    zrange_reply(ctx, argv, None, None)
}

fn zrevrange(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    zrange_reply(ctx, argv, Some(RangeKind::Rank), Some(true))
}

fn zrangebyscore(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    zrange_reply(ctx, argv, Some(RangeKind::Score), Some(false))
}

fn zrevrangebyscore(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    zrange_reply(ctx, argv, Some(RangeKind::Score), Some(true))
}

fn zrangebylex(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    zrange_reply(ctx, argv, Some(RangeKind::Lex), Some(false))
}

fn zrevrangebylex(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    zrange_reply(ctx, argv, Some(RangeKind::Lex), Some(true))
}

/// ZRANGESTORE dst src min max [BYSCORE|BYLEX] [REV] [LIMIT offset count] (behaves like
/// `zrangeGenericCommand()` with the store result handler).
fn zrangestore(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let req = RangeRequest::parse(argv, 2, true, None, None)?;
    let (dst, src) = (argv.get(1), argv.get(2));
    let db = ctx.client.db;
    let limits = ctx.settings.encoding_limits();
    let mut locked = ctx.keyspace().lock_keys([dst, src]);
    let (selected, hint) = match locked.db(src, db).lookup_read(src, ctx.fx) {
        None => (Vec::new(), 0),
        Some(e) => {
            let z = as_zset(e)?;
            let (ranks, rev) = req.select(z);
            // A rank range announces its length, which picks the encoding up front
            // (`zrangeResultBeginStore()`); the others start as a listpack.
            let hint = match req.bounds {
                Bounds::Rank(..) => ranks.len(),
                _ => 0,
            };
            let owned = |(m, s): (&[u8], f64)| (SmallBytes::from_slice(m), s);
            let entries = z.range(ranks);
            let selected: Vec<(SmallBytes, f64)> = if rev {
                entries.rev().map(owned).collect()
            } else {
                entries.map(owned).collect()
            };
            (selected, hint)
        }
    };
    // Built as Redis builds it, member by member in reply order, so conversions happen
    // at the same points.
    let mut result = ZSetValue::for_expected_len(hint, &limits);
    for (m, s) in &selected {
        result.insert(m, *s, &limits);
    }
    store_result(ctx, locked.db(dst, db), dst, result, "zrangestore");
    Ok(())
}

/// Stores a computed sorted set under `dst` and replies with its size; an empty result
/// deletes `dst` instead (the STORE tails of `zrangeResultFinalizeStore()` and
/// `zunionInterDiffGenericCommand()`).
pub(super) fn store_result(
    ctx: &mut Ctx<'_>,
    d: &mut Db,
    dst: &[u8],
    result: ZSetValue,
    event: &'static str,
) {
    let len = result.len();
    if len == 0 {
        ctx.reply.int(0);
        // `dbDelete()` removes the key even when it is logically expired.
        if d.remove(dst).is_some() {
            ctx.fx.notify(EventClass::GENERIC, "del", dst);
            ctx.fx.dirty += 1;
        }
        return;
    }
    // `setKey()` looks the key up for writing first, which expires it.
    d.find(dst, ctx.fx);
    d.set(dst, Value::ZSet(Box::new(result)), false, ctx.fx);
    ctx.reply.int(len as i64);
    ctx.fx.notify(EventClass::ZSET, event, dst);
    ctx.fx.dirty += 1;
}

// ---------------------------------------------------------------------------------------
// ZREMRANGEBYRANK / BYSCORE / BYLEX

/// Which removal range.
enum RemoveBy<'a> {
    Rank(i64, i64),
    Score(ScoreRange),
    Lex(LexRange<'a>),
}

fn zremrangebyrank(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let by = RemoveBy::Rank(args::int(argv.get(2))?, args::int(argv.get(3))?);
    zremrange_generic(ctx, argv.get(1), by, "zremrangebyrank")
}

fn zremrangebyscore(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let by = RemoveBy::Score(parse_score_range(argv.get(2), argv.get(3))?);
    zremrange_generic(ctx, argv.get(1), by, "zremrangebyscore")
}

fn zremrangebylex(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let by = RemoveBy::Lex(parse_lex_range(argv.get(2), argv.get(3))?);
    zremrange_generic(ctx, argv.get(1), by, "zremrangebylex")
}

/// Behaves like `zremrangeGenericCommand()`.
fn zremrange_generic(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    by: RemoveBy<'_>,
    event: &'static str,
) -> CmdResult {
    let mut shard = ctx.keyspace().lock_key(key);
    let d = shard.db(ctx.client.db);
    let Some(pos) = d.find(key, ctx.fx) else {
        ctx.reply.int(0);
        return Ok(());
    };
    let z = as_zset_mut(d.at_mut(pos))?;
    let removed = match by {
        RemoveBy::Rank(start, end) => match rank_window(start, end, z.len()) {
            Some((lo, hi)) => z.remove_ranks(lo..hi + 1),
            None => 0,
        },
        RemoveBy::Score(r) => z.remove_score_range(&r),
        RemoveBy::Lex(r) => z.remove_lex_range(&r),
    };
    let emptied = z.is_empty();
    if emptied {
        d.remove_at(pos);
    }
    if removed > 0 {
        ctx.fx.notify(EventClass::ZSET, event, key);
        if emptied {
            ctx.fx.notify(EventClass::GENERIC, "del", key);
        }
    }
    ctx.fx.dirty += removed as u64;
    ctx.reply.int(removed as i64);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// ZPOPMIN, ZPOPMAX, ZMPOP (and the blocking forms' core)

/// How a pop that names its key replies.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum ZPopReply {
    /// BZPOPMIN / BZPOPMAX: [key, member, score].
    KeyMemberScore,
    /// ZMPOP / BZMPOP: [key, [[member, score], ...]].
    KeyAndPairs,
}

/// Every reply shape of the pop commands (`genericZpopCommand()`'s `emitkey` and
/// `use_nested_array`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum PopShape {
    /// ZPOPMIN / ZPOPMAX in RESP2, or without a count: [member, score, ...].
    Flat,
    /// ZPOPMIN / ZPOPMAX with a count in RESP3: [[member, score], ...].
    Nested,
    Keyed(ZPopReply),
}

/// Pops up to `count` (>= 1) members from the low (`max == false`) or high end of the
/// sorted set at `key` in `d`, writes the reply in `shape`, stages zpopmin/zpopmax (and
/// `del` when it empties, deleting the key), counts dirty. Returns Ok(false) and writes
/// nothing when the key does not exist; Err(WrongType) when it is not a sorted set.
pub(crate) fn zpop_with_key(
    d: &mut Db,
    key: &[u8],
    max: bool,
    count: usize,
    shape: ZPopReply,
    fx: &mut Effects,
    reply: &mut Reply,
) -> Result<bool, CmdError> {
    let Some(pos) = d.find(key, fx) else {
        return Ok(false);
    };
    as_zset(d.at(pos))?;
    pop_at(d, pos, key, max, count, PopShape::Keyed(shape), fx, reply);
    Ok(true)
}

/// Pops from the sorted set at `pos` (checked to be one) and replies (behaves like the
/// body of `genericZpopCommand()`).
#[allow(clippy::too_many_arguments)]
fn pop_at(
    d: &mut Db,
    pos: usize,
    key: &[u8],
    max: bool,
    count: usize,
    shape: PopShape,
    fx: &mut Effects,
    reply: &mut Reply,
) {
    let Value::ZSet(z) = &mut d.at_mut(pos).value else {
        return;
    };
    let n = count.min(z.len());
    match shape {
        PopShape::Flat => reply.array(n * 2),
        PopShape::Nested => reply.array(n),
        PopShape::Keyed(ZPopReply::KeyMemberScore) => {
            reply.array(n * 2 + 1);
            reply.bulk(key);
        }
        PopShape::Keyed(ZPopReply::KeyAndPairs) => {
            reply.array(2);
            reply.bulk(key);
            reply.array(n);
        }
    }
    let nested = matches!(
        shape,
        PopShape::Nested | PopShape::Keyed(ZPopReply::KeyAndPairs)
    );
    for _ in 0..n {
        let Some((member, score)) = z.pop(max) else {
            break;
        };
        if nested {
            reply.array(2);
        }
        reply.bulk(&member);
        reply.double(score);
    }
    let emptied = z.is_empty();
    fx.dirty += n as u64;
    if n > 0 {
        fx.notify(
            EventClass::ZSET,
            if max { "zpopmax" } else { "zpopmin" },
            key,
        );
    }
    if emptied {
        d.remove_at(pos);
        fx.notify(EventClass::GENERIC, "del", key);
    }
}

fn zpopmin(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    zpop_min_max(ctx, argv, false)
}

fn zpopmax(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    zpop_min_max(ctx, argv, true)
}

/// ZPOPMIN / ZPOPMAX key [count] (behaves like `zpopMinMaxCommand()`).
fn zpop_min_max(ctx: &mut Ctx<'_>, argv: &Argv<'_>, max: bool) -> CmdResult {
    if argv.len() > 3 {
        return Err(CmdError::Syntax);
    }
    let count = match argv.try_get(2) {
        Some(arg) => Some(args::non_negative(arg)?),
        None => None,
    };
    let shape = match count {
        Some(_) if ctx.reply.is_resp3() => PopShape::Nested,
        _ => PopShape::Flat,
    };
    let key = argv.get(1);
    let mut shard = ctx.keyspace().lock_key(key);
    let d = shard.db(ctx.client.db);
    let Some(pos) = d.find(key, ctx.fx) else {
        ctx.reply.array(0);
        return Ok(());
    };
    as_zset(d.at(pos))?;
    match count {
        Some(0) => ctx.reply.array(0),
        // A count beyond any set's size pops them all.
        _ => {
            let n = count.map_or(1, |c| usize::try_from(c).unwrap_or(usize::MAX));
            pop_at(d, pos, key, max, n, shape, ctx.fx, ctx.reply);
        }
    }
    Ok(())
}

/// What ZMPOP and BZMPOP ask for after their timeout: keys, end and count.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct MultiPop<'a> {
    pub keys: Vec<&'a [u8]>,
    /// Pop the highest scores (MAX) rather than the lowest (MIN).
    pub max: bool,
    /// At least 1.
    pub count: usize,
}

/// Parses `numkeys key [key ...] MIN|MAX [COUNT count]`, numkeys at `numkeys_idx`
/// (behaves like the parsing in `zmpopGenericCommand()`).
pub(crate) fn parse_multi_pop<'a>(
    argv: &Argv<'a>,
    numkeys_idx: usize,
) -> Result<MultiPop<'a>, CmdError> {
    let numkeys = match args::int(argv.get(numkeys_idx)) {
        Ok(n) if n >= 1 => n as u64,
        _ => return Err(CmdError::err("numkeys should be greater than 0")),
    };
    let where_idx = (numkeys_idx as u64)
        .checked_add(numkeys)
        .and_then(|i| i.checked_add(1))
        .filter(|&i| i < argv.len() as u64)
        .ok_or(CmdError::Syntax)? as usize;
    let where_arg = argv.get(where_idx);
    let max = if is(where_arg, "min") {
        false
    } else if is(where_arg, "max") {
        true
    } else {
        return Err(CmdError::Syntax);
    };
    let mut count = None;
    let mut j = where_idx + 1;
    while j < argv.len() {
        match argv.try_get(j + 1) {
            Some(value) if count.is_none() && is(argv.get(j), "count") => {
                count = match args::int(value) {
                    Ok(n) if n >= 1 => Some(usize::try_from(n).unwrap_or(usize::MAX)),
                    _ => return Err(CmdError::err("count should be greater than 0")),
                };
                j += 2;
            }
            _ => return Err(CmdError::Syntax),
        }
    }
    Ok(MultiPop {
        keys: argv
            .iter()
            .skip(numkeys_idx + 1)
            .take(numkeys as usize)
            .collect(),
        max,
        count: count.unwrap_or(1),
    })
}

/// ZMPOP numkeys key [key ...] MIN|MAX [COUNT count]: pops from the first key that exists.
fn zmpop(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let req = parse_multi_pop(argv, 1)?;
    let db = ctx.client.db;
    let mut locked = ctx.keyspace().lock_keys(req.keys.iter().copied());
    for key in &req.keys {
        let d = locked.db(key, db);
        if zpop_with_key(
            d,
            key,
            req.max,
            req.count,
            ZPopReply::KeyAndPairs,
            ctx.fx,
            ctx.reply,
        )? {
            return Ok(());
        }
    }
    ctx.reply.null_array();
    Ok(())
}

// ---------------------------------------------------------------------------------------
// ZRANDMEMBER

fn zrandmember(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let key = argv.get(1);
    if argv.len() >= 3 {
        let (count, withscores) = random_count_with(argv, "withscores")?;
        return zrandmember_count(ctx, key, count, withscores);
    }
    let mut rng = rand::rng();
    read_zset(
        ctx,
        key,
        |r| r.null(),
        |z, r| match z.random_entry(&mut rng) {
            Some((m, _)) => r.bulk(m),
            None => r.null(),
        },
    )
}

/// ZRANDMEMBER with a count (behaves like `zrandmemberWithCountCommand()`); the whole set
/// is returned highest first, as Redis walks it from its tail.
fn zrandmember_count(ctx: &mut Ctx<'_>, key: &[u8], count: i64, withscores: bool) -> CmdResult {
    let mut shard = ctx.keyspace().lock_key(key);
    let Some(e) = shard.db(ctx.client.db).lookup_read(key, ctx.fx) else {
        ctx.reply.array(0);
        return Ok(());
    };
    let z = as_zset(e)?;
    let source = RandomSource {
        len: z.len(),
        pairs: withscores,
        pick: |r: &mut Reply, rng: &mut _| {
            if let Some((m, s)) = z.random_entry(rng) {
                reply_entry(r, m, s, withscores);
            }
        },
        whole: |r: &mut Reply| {
            z.iter()
                .rev()
                .for_each(|(m, s)| reply_entry(r, m, s, withscores))
        },
        at: |r: &mut Reply, i| {
            if let Some((m, s)) = z.get(i) {
                reply_entry(r, m, s, withscores);
            }
        },
    };
    reply_random_count(ctx, count, source);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// ZUNION, ZINTER, ZDIFF, ZINTERCARD and the STORE forms

/// The operation of `zunionInterDiffGenericCommand()`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum SetOp {
    Union,
    Inter,
    Diff,
}

/// How scores of one member from several inputs combine.
#[derive(Clone, Copy)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

impl Aggregate {
    /// Folds `value` into `target` (behaves like `zunionInterAggregate()`).
    fn fold(self, target: &mut f64, value: f64) {
        match self {
            Aggregate::Sum => {
                *target += value;
                // inf + -inf: Redis's convention is 0.
                if target.is_nan() {
                    *target = 0.0;
                }
            }
            Aggregate::Min if value < *target => *target = value,
            Aggregate::Max if value > *target => *target = value,
            _ => {}
        }
    }
}

/// Where the result goes.
#[derive(Clone, Copy)]
enum OpOutput<'a> {
    /// ZUNION / ZINTER / ZDIFF.
    Reply,
    /// ZINTERCARD.
    Cardinality,
    /// The STORE forms, under this key.
    Store(&'a [u8]),
}

/// A looked-up input: a sorted set, or a plain set whose members score 1.
enum Input<'a> {
    ZSet(&'a ZSetValue),
    Set(&'a SetValue),
}

impl Input<'_> {
    fn score(&self, member: &[u8]) -> Option<f64> {
        match self {
            Input::ZSet(z) => z.score(member),
            Input::Set(s) => s.contains(member).then_some(1.0),
        }
    }

    fn for_each(&self, mut f: impl FnMut(SmallBytes, f64)) {
        match self {
            Input::ZSet(z) => z.iter().for_each(|(m, s)| f(SmallBytes::from_slice(m), s)),
            Input::Set(s) => s.iter().for_each(|m| f(m.to_bytes(), 1.0)),
        }
    }
}

/// The input under `key` once it was looked up; `None` when missing.
fn peek_input<'g>(locked: &'g mut MultiGuard<'_>, key: &[u8], db: usize) -> Option<Input<'g>> {
    match &locked.db(key, db).peek(key)?.value {
        Value::ZSet(z) => Some(Input::ZSet(z)),
        Value::Set(s) => Some(Input::Set(s)),
        _ => None,
    }
}

/// One input key with its weight and size (0 when missing).
struct Source<'a> {
    key: &'a [u8],
    weight: f64,
    len: usize,
}

/// Options after the keys: WEIGHTS, AGGREGATE, WITHSCORES, LIMIT, as each command allows.
struct OpOptions {
    aggregate: Aggregate,
    withscores: bool,
    /// ZINTERCARD's LIMIT; 0 = none.
    limit: u64,
}

/// Parses the options from `j` on (behaves like the option loop of
/// `zunionInterDiffGenericCommand()`), setting the sources' weights.
fn parse_op_options(
    argv: &Argv<'_>,
    mut j: usize,
    op: SetOp,
    out: OpOutput<'_>,
    sources: &mut [Source<'_>],
) -> Result<OpOptions, CmdError> {
    let cardinality = matches!(out, OpOutput::Cardinality);
    let store = matches!(out, OpOutput::Store(_));
    let weighted = op != SetOp::Diff && !cardinality;
    let mut o = OpOptions {
        aggregate: Aggregate::Sum,
        withscores: false,
        limit: 0,
    };
    while j < argv.len() {
        let opt = argv.get(j);
        let left = argv.len() - j;
        if weighted && left > sources.len() && is(opt, "weights") {
            for (i, src) in sources.iter_mut().enumerate() {
                src.weight = args::float(argv.get(j + 1 + i))
                    .map_err(|_| CmdError::err("weight value is not a float"))?;
            }
            j += 1 + sources.len();
        } else if weighted && left >= 2 && is(opt, "aggregate") {
            let how = argv.get(j + 1);
            o.aggregate = if is(how, "sum") {
                Aggregate::Sum
            } else if is(how, "min") {
                Aggregate::Min
            } else if is(how, "max") {
                Aggregate::Max
            } else {
                return Err(CmdError::Syntax);
            };
            j += 2;
        } else if !store && !cardinality && is(opt, "withscores") {
            o.withscores = true;
            j += 1;
        } else if cardinality && left >= 2 && is(opt, "limit") {
            o.limit = match args::int(argv.get(j + 1)) {
                Ok(n) if n >= 0 => n as u64,
                _ => return Err(CmdError::err("LIMIT can't be negative")),
            };
            j += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    Ok(o)
}

/// ZUNION, ZINTER, ZDIFF, ZINTERCARD and the STORE forms (behaves like
/// `zunionInterDiffGenericCommand()`), with numkeys at `numkeys_idx`.
fn zset_op(
    ctx: &mut Ctx<'_>,
    argv: &Argv<'_>,
    numkeys_idx: usize,
    op: SetOp,
    out: OpOutput<'_>,
) -> CmdResult {
    let numkeys = args::int(argv.get(numkeys_idx))?;
    if numkeys < 1 {
        return Err(CmdError::err(format_args!(
            "at least 1 input key is needed for '{}' command",
            ctx.cmd.name()
        )));
    }
    let first = numkeys_idx + 1;
    if numkeys as u64 > (argv.len() - first) as u64 {
        return Err(CmdError::Syntax);
    }
    let keys: Vec<&[u8]> = argv.iter().skip(first).take(numkeys as usize).collect();
    let dst = match out {
        OpOutput::Store(dst) => Some(dst),
        _ => None,
    };
    let db = ctx.client.db;
    let mut locked = ctx.keyspace().lock_keys(keys.iter().copied().chain(dst));
    // Every input is looked up (and type-checked) before the options are parsed.
    let mut sources = Vec::with_capacity(keys.len());
    for &key in &keys {
        let len = match locked.db(key, db).lookup_read(key, ctx.fx) {
            None => 0,
            Some(e) => match &e.value {
                Value::ZSet(z) => z.len(),
                Value::Set(s) => s.len(),
                _ => return Err(CmdError::WrongType),
            },
        };
        sources.push(Source {
            key,
            weight: 1.0,
            len,
        });
    }
    let opts = parse_op_options(argv, first + keys.len(), op, out, &mut sources)?;
    if op != SetOp::Diff {
        // Smallest first, stably (glibc's merge-sort `qsort()`).
        sources.sort_by_key(|s| s.len);
    }
    let result = match op {
        SetOp::Union => union_of(&mut locked, &sources, db, opts.aggregate),
        SetOp::Inter => inter_of(&mut locked, &sources, db, opts.aggregate),
        SetOp::Diff => diff_of(&mut locked, &sources, db),
    };
    match out {
        OpOutput::Reply => reply_sorted(ctx.reply, result, opts.withscores),
        OpOutput::Cardinality => {
            let n = result.len() as u64;
            let n = if opts.limit > 0 { n.min(opts.limit) } else { n };
            ctx.reply.int(n as i64);
        }
        OpOutput::Store(dst) => {
            let limits: EncodingLimits = ctx.settings.encoding_limits();
            let value = ZSetValue::from_entries(result, &limits);
            let event = match op {
                SetOp::Union => "zunionstore",
                SetOp::Inter => "zinterstore",
                SetOp::Diff => "zdiffstore",
            };
            store_result(ctx, locked.db(dst, db), dst, value, event);
        }
    }
    Ok(())
}

/// Replies with computed entries in sorted-set order.
fn reply_sorted(r: &mut Reply, mut entries: Vec<(SmallBytes, f64)>, withscores: bool) {
    sort_entries(&mut entries);
    r.pair_list(entries.len(), withscores);
    for (m, s) in &entries {
        reply_entry(r, m, *s, withscores);
    }
}

/// The weighted score of an input's member: a NaN product (0 × inf) counts as 0.
fn weighted(weight: f64, score: f64) -> f64 {
    let v = weight * score;
    if v.is_nan() { 0.0 } else { v }
}

/// Every member of every input, scores weighted and folded in input order.
fn union_of(
    locked: &mut MultiGuard<'_>,
    sources: &[Source<'_>],
    db: usize,
    how: Aggregate,
) -> Vec<(SmallBytes, f64)> {
    let mut acc: HashMap<SmallBytes, f64> = HashMap::new();
    for src in sources {
        let Some(input) = peek_input(locked, src.key, db) else {
            continue;
        };
        input.for_each(|m, s| {
            let value = weighted(src.weight, s);
            match acc.entry(m) {
                MapEntry::Occupied(mut e) => how.fold(e.get_mut(), value),
                MapEntry::Vacant(e) => {
                    e.insert(value);
                }
            }
        });
    }
    acc.into_iter().collect()
}

/// The members of the smallest input found in all others, scores weighted and folded in
/// input order.
fn inter_of(
    locked: &mut MultiGuard<'_>,
    sources: &[Source<'_>],
    db: usize,
    how: Aggregate,
) -> Vec<(SmallBytes, f64)> {
    let mut survivors = Vec::new();
    let Some((first, others)) = sources.split_first() else {
        return survivors;
    };
    // A missing input sorts first and empties the result.
    match peek_input(locked, first.key, db) {
        Some(input) if first.len > 0 => {
            input.for_each(|m, s| survivors.push((m, weighted(first.weight, s))));
        }
        _ => return survivors,
    }
    for src in others {
        let Some(input) = peek_input(locked, src.key, db) else {
            return Vec::new();
        };
        survivors.retain_mut(|(m, score)| match input.score(m) {
            Some(s) => {
                how.fold(score, s * src.weight);
                true
            }
            None => false,
        });
        if survivors.is_empty() {
            break;
        }
    }
    survivors
}

/// The members of the first input found in none of the others, with their scores.
fn diff_of(
    locked: &mut MultiGuard<'_>,
    sources: &[Source<'_>],
    db: usize,
) -> Vec<(SmallBytes, f64)> {
    let mut survivors = Vec::new();
    let Some((first, others)) = sources.split_first() else {
        return survivors;
    };
    // The first key repeated subtracts everything.
    if first.len == 0 || others.iter().any(|s| s.key == first.key) {
        return survivors;
    }
    if let Some(input) = peek_input(locked, first.key, db) {
        input.for_each(|m, s| survivors.push((m, s)));
    }
    for src in others {
        if survivors.is_empty() {
            break;
        }
        if let Some(input) = peek_input(locked, src.key, db) {
            survivors.retain(|(m, _)| input.score(m).is_none());
        }
    }
    survivors
}

fn zunion(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    zset_op(ctx, argv, 1, SetOp::Union, OpOutput::Reply)
}

fn zinter(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    zset_op(ctx, argv, 1, SetOp::Inter, OpOutput::Reply)
}

fn zdiff(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    zset_op(ctx, argv, 1, SetOp::Diff, OpOutput::Reply)
}

fn zintercard(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    zset_op(ctx, argv, 1, SetOp::Inter, OpOutput::Cardinality)
}

fn zunionstore(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    zset_op(ctx, argv, 2, SetOp::Union, OpOutput::Store(argv.get(1)))
}

fn zinterstore(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    zset_op(ctx, argv, 2, SetOp::Inter, OpOutput::Store(argv.get(1)))
}

fn zdiffstore(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    zset_op(ctx, argv, 2, SetOp::Diff, OpOutput::Store(argv.get(1)))
}

// ---------------------------------------------------------------------------------------
// ZSCAN

fn zscan(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let cursor = scan::parse_cursor(argv.get(2))?;
    let key = argv.get(1);
    let mut shard = ctx.keyspace().lock_key(key);
    let Some(e) = shard.db(ctx.client.db).lookup_read(key, ctx.fx) else {
        reply_scan(ctx.reply, 0, &[]);
        return Ok(());
    };
    let z = as_zset(e)?;
    let opts = ScanOptions::parse(argv, 3, false)?;
    // A listpack shows scores as it stores them; a skiplist prints them with `%.17Lg`,
    // which is `%.17g` for a double.
    let listpack = z.is_listpack();
    let mut found: Vec<SmallBytes> = Vec::new();
    let next = z.scan(cursor, opts.count, |m, s| {
        if opts.matches(m) {
            let mut buf = [0u8; 40];
            let text = if listpack {
                listpack_score_text(s, &mut buf)
            } else {
                format_double(s, &mut buf)
            };
            found.push(SmallBytes::from_slice(m));
            found.push(SmallBytes::from_slice(text));
        }
    });
    let refs: Vec<&[u8]> = found.iter().map(|m| m.as_slice()).collect();
    reply_scan(ctx.reply, next, &refs);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(args: &[&str]) -> crate::protocol::parse::OwnedArgv {
        crate::protocol::parse::OwnedArgv::from_slices(args.iter().map(|a| a.as_bytes()))
    }

    #[test]
    fn score_ranges_parse_like_strtod() {
        let r = parse_score_range(b"(1.5", b"+inf").unwrap();
        assert_eq!(
            (r.min, r.min_exclusive, r.max, r.max_exclusive),
            (1.5, true, f64::INFINITY, false)
        );
        assert_eq!(parse_score_range(b" 2", b"").unwrap().min, 2.0);
        assert_eq!(parse_score_range(b"1e999", b"0x10").unwrap().max, 16.0);
        assert_eq!(parse_score_range(b"3\0junk", b"(").unwrap().min, 3.0);
        for bad in [&b"nan"[..], b"1 ", b"abc", b"((1"] {
            assert!(parse_score_range(bad, b"1").is_err(), "{bad:?}");
        }
    }

    #[test]
    fn lex_ranges_parse_like_redis() {
        let r = parse_lex_range(b"[a", b"+").unwrap();
        assert_eq!(r.min.value, LexValue::Bytes(b"a"));
        assert_eq!(r.max.value, LexValue::Max);
        assert!(parse_lex_range(b"+\0x", b"-").is_ok());
        for bad in [&b""[..], b"a", b"+a", b"--"] {
            assert!(parse_lex_range(bad, b"+").is_err(), "{bad:?}");
        }
    }

    #[test]
    fn multi_pop_arguments() {
        let a = argv(&["zmpop", "2", "a", "b", "MAX", "count", "5"]);
        let p = parse_multi_pop(&a.argv(), 1).unwrap();
        assert_eq!(
            p,
            MultiPop {
                keys: vec![&b"a"[..], b"b"],
                max: true,
                count: 5
            }
        );
        let a = argv(&["bzmpop", "0", "1", "k", "min"]);
        let p = parse_multi_pop(&a.argv(), 2).unwrap();
        assert_eq!((p.keys.len(), p.max, p.count), (1, false, 1));
        let err = |args: &[&str]| {
            parse_multi_pop(&argv(args).argv(), 1)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            err(&["zmpop", "0", "k", "min"]),
            "ERR numkeys should be greater than 0"
        );
        assert_eq!(
            err(&["zmpop", "x", "k", "min"]),
            "ERR numkeys should be greater than 0"
        );
        assert_eq!(err(&["zmpop", "2", "k", "min"]), "ERR syntax error");
        assert_eq!(
            err(&["zmpop", "9223372036854775807", "k", "min"]),
            "ERR syntax error"
        );
        assert_eq!(err(&["zmpop", "1", "k", "mid"]), "ERR syntax error");
        assert_eq!(
            err(&["zmpop", "1", "k", "min", "count", "0"]),
            "ERR count should be greater than 0"
        );
        assert_eq!(
            err(&["zmpop", "1", "k", "min", "count", "1", "count", "2"]),
            "ERR syntax error"
        );
        assert_eq!(
            err(&["zmpop", "1", "k", "min", "count"]),
            "ERR syntax error"
        );
    }

    #[test]
    fn rank_windows_clamp_like_redis() {
        assert_eq!(rank_window(0, -1, 5), Some((0, 4)));
        assert_eq!(rank_window(-100, 100, 5), Some((0, 4)));
        assert_eq!(rank_window(3, 1, 5), None);
        assert_eq!(rank_window(5, 10, 5), None);
        assert_eq!(rank_window(0, -6, 5), None);
        assert_eq!(rank_window(i64::MIN, i64::MAX, 5), Some((0, 4)));
    }
}
