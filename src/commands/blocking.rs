//! Blocking pops (behaves like the blocking halves of Redis's t_list.c and t_zset.c): BLPOP
//! BRPOP BLMOVE BRPOPLPUSH BLMPOP BZPOPMIN BZPOPMAX BZMPOP.
//!
//! Each first tries its non-blocking form under the keys' shard locks. When every key is
//! missing it registers a waiter (`server::blocking`) before releasing those locks and
//! replies nothing: the connection sleeps until a writer serves it through
//! [`BlockOp::serve`], it times out, or CLIENT UNBLOCK ends the wait. Inside EXEC there is
//! no waiting: the reply is the timeout's.

use super::list::{self, End, PopReply};
use super::zset::{self, ZPopReply};
use super::{CmdError, CmdResult, Ctx, Handler};
use crate::keyspace::{Db, Effects, Keyspace, LookupFlags, PropOp, SmallBytes, Value, ValueType};
use crate::protocol::float::LongDouble;
use crate::protocol::{Argv, Reply};
use crate::server::blocking::Waiter;

pub(super) const HANDLERS: &[(&str, Handler)] = &[
    ("blpop", blpop),
    ("brpop", brpop),
    ("blmove", blmove),
    ("brpoplpush", brpoplpush),
    ("blmpop", blmpop),
    ("bzpopmin", bzpopmin),
    ("bzpopmax", bzpopmax),
    ("bzmpop", bzmpop),
];

/// What a blocked client waits to do.
#[derive(Clone, Debug)]
pub(crate) enum BlockOp {
    Pop(Pop),
    /// BLMOVE / BRPOPLPUSH (`rpoplpush`: propagated under that name).
    ListMove {
        from: End,
        to: End,
        dst: SmallBytes,
        rpoplpush: bool,
    },
}

/// A pop that replies with the key it popped from.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Pop {
    /// BLPOP / BRPOP (`count` None: [key, element]) and BLMPOP ([key, [elements]]).
    List { end: End, count: Option<usize> },
    /// BZPOPMIN / BZPOPMAX (`count` None: [key, member, score]) and BZMPOP.
    ZSet { max: bool, count: Option<usize> },
}

impl Pop {
    /// What replicas and the AOF get for a pop from `key`, which held `len` elements:
    /// the non-blocking pop, with the count that was popped when there was a count
    /// (behaves like the propagation in `blockingPopGenericCommand()` and
    /// `blockingGenericZpopCommand()`).
    fn propagated(self, key: &[u8], len: usize) -> Vec<Vec<u8>> {
        let (name, count): (&[u8], _) = match self {
            Pop::List {
                end: End::Head,
                count,
            } => (b"LPOP", count),
            Pop::List {
                end: End::Tail,
                count,
            } => (b"RPOP", count),
            Pop::ZSet { max: false, count } => (b"ZPOPMIN", count),
            Pop::ZSet { max: true, count } => (b"ZPOPMAX", count),
        };
        let mut args = vec![name.to_vec(), key.to_vec()];
        if let Some(c) = count {
            args.push(c.min(len).to_string().into_bytes());
        }
        args
    }

    /// Pops from `key` in `d` and replies; Ok(false) (nothing written) when it is missing.
    fn run(
        self,
        d: &mut Db,
        key: &[u8],
        fx: &mut Effects,
        reply: &mut Reply,
    ) -> Result<bool, CmdError> {
        match self {
            Pop::List { end, count } => {
                let shape = match count {
                    None => PopReply::KeyAndElement,
                    Some(_) => PopReply::KeyAndElements,
                };
                list::pop_with_key(d, key, end, count.unwrap_or(1), shape, fx, reply)
            }
            Pop::ZSet { max, count } => {
                let shape = match count {
                    None => ZPopReply::KeyMemberScore,
                    Some(_) => ZPopReply::KeyAndPairs,
                };
                zset::zpop_with_key(d, key, max, count.unwrap_or(1), shape, fx, reply)
            }
        }
    }
}

/// What became of one waiter when its key was ready.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Served {
    /// Served (with data, or with an error such as BLMOVE's wrong-type destination).
    Yes,
    /// Not for this waiter: it waits for another type, or its wait already ended.
    Skipped,
    /// The key has nothing left: stop serving it.
    Exhausted,
}

impl BlockOp {
    fn value_type(&self) -> ValueType {
        match self {
            BlockOp::Pop(Pop::List { .. }) | BlockOp::ListMove { .. } => ValueType::List,
            BlockOp::Pop(Pop::ZSet { .. }) => ValueType::ZSet,
        }
    }

    /// Runs this operation for `waiter` on the ready `key`, under the key's (and the
    /// destination's) shard lock (behaves like `serveClientsBlockedOnListKey()` and
    /// `serveClientsBlockedOnSortedSetKey()`). Events go to `fx`, staged for `waiter.db`.
    pub(crate) fn serve(
        &self,
        keyspace: &Keyspace,
        waiter: &Waiter,
        key: &[u8],
        fx: &mut Effects,
    ) -> Served {
        let db = waiter.db;
        let dst: &[u8] = match self {
            BlockOp::ListMove { dst, .. } => dst,
            _ => key,
        };
        let mut locked = keyspace.lock_keys([key, dst]);
        let quiet = LookupFlags::NOSTATS | LookupFlags::NONOTIFY;
        let d = locked.db(key, db);
        let Some(pos) = d.find_with(key, fx, quiet) else {
            return Served::Exhausted;
        };
        if d.at(pos).value.value_type() != self.value_type() {
            return Served::Skipped;
        }
        let len = value_len(d, key);
        let mut propagated = None;
        let served = waiter.try_serve(|reply| {
            let done = match self {
                BlockOp::Pop(pop) => pop.run(locked.db(key, db), key, fx, reply),
                BlockOp::ListMove { from, to, dst, .. } => {
                    list::move_one(&mut locked, db, key, dst, *from, *to, fx, reply)
                }
            };
            match done {
                Ok(true) => {
                    propagated = Some(self.propagated(key, len));
                    Served::Yes
                }
                Ok(false) => Served::Exhausted,
                Err(e) => {
                    reply.error(&e.to_string());
                    Served::Yes
                }
            }
        });
        // Each served client is its own entry in the stream (behaves like the
        // `afterCommand()` per served client in `handleClientsBlockedOnKeys()`).
        if let Some(args) = propagated {
            let args: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
            fx.propagate(PropOp::new(db, &args));
        }
        fx.submit_batch();
        served
    }

    /// What a waiter served later propagates (a BLMOVE's directions in lower case, as
    /// `serveClientBlockedOnList()` writes them).
    fn propagated(&self, key: &[u8], len: usize) -> Vec<Vec<u8>> {
        match self {
            BlockOp::Pop(pop) => pop.propagated(key, len),
            BlockOp::ListMove {
                dst,
                rpoplpush: true,
                ..
            } => vec![b"RPOPLPUSH".to_vec(), key.to_vec(), dst.to_vec()],
            BlockOp::ListMove { from, to, dst, .. } => vec![
                b"LMOVE".to_vec(),
                key.to_vec(),
                dst.to_vec(),
                end_word(*from).to_vec(),
                end_word(*to).to_vec(),
            ],
        }
    }
}

fn end_word(end: End) -> &'static [u8] {
    match end {
        End::Head => b"left",
        End::Tail => b"right",
    }
}

/// Elements in the list or sorted set at `key` (0 if none).
fn value_len(d: &Db, key: &[u8]) -> usize {
    match d.peek(key).map(|e| &e.value) {
        Some(Value::List(l)) => l.len(),
        Some(Value::ZSet(z)) => z.len(),
        _ => 0,
    }
}

/// A blocking timeout in seconds, as the absolute Unix ms deadline (0 = wait forever)
/// (behaves like `getTimeoutFromObjectOrReply()` with seconds on x86-64, where a product
/// beyond the 64-bit range converts to the most negative integer: "negative").
fn parse_timeout(arg: &[u8], now_ms: i64) -> Result<i64, CmdError> {
    let secs = LongDouble::parse(arg)
        .ok_or_else(|| CmdError::err("timeout is not a float or out of range"))?
        .to_f64();
    let ms = (secs * 1000.0).ceil();
    // 2^63: the first value a C cast to long long cannot hold.
    if !(0.0..9_223_372_036_854_775_808.0).contains(&ms) {
        return Err(CmdError::err("timeout is negative"));
    }
    let ms = ms as i64;
    Ok(if ms == 0 {
        0
    } else {
        now_ms.saturating_add(ms)
    })
}

/// Registers the client as waiting on `keys` (their shards still locked by the caller), or,
/// inside EXEC, replies as a timeout would.
fn block(ctx: &mut Ctx<'_>, keys: &[&[u8]], op: BlockOp, deadline_ms: i64) {
    if ctx.client.in_exec {
        ctx.reply.null_array();
        return;
    }
    let waiter = Waiter::new(
        ctx.client.id,
        ctx.db(),
        keys.iter().map(|k| SmallBytes::from_slice(k)).collect(),
        op,
        ctx.client.resp,
        deadline_ms,
    );
    ctx.server.blocking.block(waiter.clone());
    ctx.client.blocked = Some(waiter);
}

/// The blocking pops once the arguments are parsed (behaves like
/// `blockingPopGenericCommand()` and `blockingGenericZpopCommand()`): the first key that
/// exists is popped from at once, else the client waits on all of them.
fn block_pop(ctx: &mut Ctx<'_>, keys: &[&[u8]], pop: Pop, deadline_ms: i64) -> CmdResult {
    let db = ctx.db();
    let mut locked = ctx.keyspace().lock_keys(keys.iter().copied());
    for key in keys {
        let d = locked.db(key, db);
        let len = value_len(d, key);
        if pop.run(d, key, ctx.fx, ctx.reply)? {
            let args = pop.propagated(key, len);
            let args: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
            ctx.fx.rewrite_as(&args);
            return Ok(());
        }
    }
    block(ctx, keys, BlockOp::Pop(pop), deadline_ms);
    drop(locked);
    Ok(())
}

/// The keys and the timeout of BLPOP key [key ...] timeout.
fn keys_then_timeout<'a>(ctx: &Ctx<'_>, argv: &Argv<'a>) -> Result<(Vec<&'a [u8]>, i64), CmdError> {
    let last = argv.len() - 1;
    let deadline = parse_timeout(argv.get(last), ctx.fx.now_ms)?;
    Ok(((1..last).map(|i| argv.get(i)).collect(), deadline))
}

fn blpop(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let (keys, deadline) = keys_then_timeout(ctx, argv)?;
    block_pop(
        ctx,
        &keys,
        Pop::List {
            end: End::Head,
            count: None,
        },
        deadline,
    )
}

fn brpop(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let (keys, deadline) = keys_then_timeout(ctx, argv)?;
    block_pop(
        ctx,
        &keys,
        Pop::List {
            end: End::Tail,
            count: None,
        },
        deadline,
    )
}

/// BLMPOP timeout numkeys key [key ...] LEFT|RIGHT [COUNT count]: the arguments are checked
/// before the timeout, as Redis does.
fn blmpop(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let args = list::parse_mpop(argv, 2)?;
    let deadline = parse_timeout(argv.get(1), ctx.fx.now_ms)?;
    let keys: Vec<&[u8]> = args.keys.map(|i| argv.get(i)).collect();
    let pop = Pop::List {
        end: args.end,
        count: Some(args.count),
    };
    block_pop(ctx, &keys, pop, deadline)
}

/// BLMOVE / BRPOPLPUSH (behaves like `blmoveGenericCommand()`): only the source is waited
/// on; inside EXEC an empty source replies a null bulk string, not an array.
fn block_move(
    ctx: &mut Ctx<'_>,
    argv: &Argv<'_>,
    from: End,
    to: End,
    deadline_ms: i64,
) -> CmdResult {
    let (src, dst) = (argv.get(1), argv.get(2));
    let rpoplpush = argv.len() == 4;
    let db = ctx.db();
    let mut locked = ctx.keyspace().lock_keys([src, dst]);
    if list::move_one(&mut locked, db, src, dst, from, to, ctx.fx, ctx.reply)? {
        if rpoplpush {
            ctx.fx.rewrite_as(&[b"RPOPLPUSH", src, dst]);
        } else {
            ctx.fx
                .rewrite_as(&[b"LMOVE", src, dst, argv.get(3), argv.get(4)]);
        }
        return Ok(());
    }
    if ctx.client.in_exec {
        ctx.reply.null();
        return Ok(());
    }
    let op = BlockOp::ListMove {
        from,
        to,
        dst: SmallBytes::from_slice(dst),
        rpoplpush,
    };
    block(ctx, &[src], op, deadline_ms);
    drop(locked);
    Ok(())
}

fn blmove(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let from = End::parse(argv.get(3))?;
    let to = End::parse(argv.get(4))?;
    let deadline = parse_timeout(argv.get(5), ctx.fx.now_ms)?;
    block_move(ctx, argv, from, to, deadline)
}

fn brpoplpush(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let deadline = parse_timeout(argv.get(3), ctx.fx.now_ms)?;
    block_move(ctx, argv, End::Tail, End::Head, deadline)
}

fn bzpopmin(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let (keys, deadline) = keys_then_timeout(ctx, argv)?;
    block_pop(
        ctx,
        &keys,
        Pop::ZSet {
            max: false,
            count: None,
        },
        deadline,
    )
}

fn bzpopmax(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let (keys, deadline) = keys_then_timeout(ctx, argv)?;
    block_pop(
        ctx,
        &keys,
        Pop::ZSet {
            max: true,
            count: None,
        },
        deadline,
    )
}

/// BZMPOP timeout numkeys key [key ...] MIN|MAX [COUNT count]: the arguments are checked
/// before the timeout, as Redis does.
fn bzmpop(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let args = zset::parse_multi_pop(argv, 2)?;
    let deadline = parse_timeout(argv.get(1), ctx.fx.now_ms)?;
    let pop = Pop::ZSet {
        max: args.max,
        count: Some(args.count),
    };
    block_pop(ctx, &args.keys, pop, deadline)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_parse_like_redis() {
        assert_eq!(parse_timeout(b"0", 1000), Ok(0));
        assert_eq!(parse_timeout(b"1.5", 1000), Ok(2500));
        assert_eq!(parse_timeout(b"0.0001", 1000), Ok(1001), "rounded up");
        assert!(parse_timeout(b"-1", 1000).is_err());
        assert_eq!(
            parse_timeout(b"-0.0001", 1000),
            Ok(0),
            "ceil(-0.1) is 0: forever"
        );
        assert_eq!(parse_timeout(b"0x10", 1000), Ok(17_000));
        let negative = Err(CmdError::err("timeout is negative"));
        for huge in [&b"1e400"[..], b"inf", b"-inf", b"1e16"] {
            assert_eq!(parse_timeout(huge, 1000), negative);
        }
        let not_float = Err(CmdError::err("timeout is not a float or out of range"));
        assert_eq!(parse_timeout(b"nan", 1000), not_float);
        assert_eq!(parse_timeout(b" 1", 1000), not_float);
    }
}
