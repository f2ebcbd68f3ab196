//! HyperLogLog commands (behaves like Redis's hyperloglog.c): PFADD PFCOUNT PFMERGE.
//!
//! An HLL is a plain string value holding Redis's exact bytes ([`value`]: header, then
//! sparse or dense registers), so GET, SETRANGE, DUMP and RDB files see what Redis would.
//! Each command first checks the strings it reads: another type is the usual WRONGTYPE,
//! a string that is not an HLL is WRONGTYPE with its own text, and sparse opcodes that do
//! not cover the registers are INVALIDOBJ when read.
//!
//! - PFADD creates the key (an empty sparse HLL) and counts the creation as a change.
//! - PFCOUNT of one key answers from the cached cardinality, or computes it and writes it
//!   back into the value: a change (dirty, so it propagates; WATCH sees it) without a
//!   keyspace event.
//!   PFCOUNT of several keys merges them into a scratch register array and caches nothing.
//! - PFMERGE merges the destination and the sources; the destination turns dense if any
//!   input is dense, and gets a `pfadd` event.
//!
//! Every HLL a command writes to becomes a "raw" string, as `dbUnshareStringValue()` and
//! `createHLLObject()` leave it in Redis.

mod dense;
mod estimate;
mod murmur;
mod sparse;
mod value;

use super::string::{as_str, as_str_mut};
use super::{CmdError, CmdResult, Ctx, Handler};
use crate::keyspace::{Effects, Entry, EventClass, SmallBytes, StrEncoding, Touch, Value};
use crate::protocol::Argv;
use value::{Corrupt, REGISTERS};

pub(super) const HANDLERS: &[(&str, Handler)] =
    &[("pfadd", pfadd), ("pfcount", pfcount), ("pfmerge", pfmerge)];

impl From<Corrupt> for CmdError {
    fn from(_: Corrupt) -> Self {
        CmdError::Raw("INVALIDOBJ Corrupted HLL object detected".into())
    }
}

/// The HLL held by an entry: WRONGTYPE for another type, and a WRONGTYPE of its own for
/// a string that is not an HLL (behaves like `isHLLObjectOrReply()`).
fn as_hll(e: &Entry) -> Result<&[u8], CmdError> {
    let s = as_str(e)?;
    if !value::is_hll(s) {
        return Err(CmdError::Raw(
            "WRONGTYPE Key is not a valid HyperLogLog string value.".into(),
        ));
    }
    Ok(s)
}

/// A new entry value: an empty sparse HLL.
fn new_hll() -> Value {
    Value::Str(SmallBytes::from_vec(value::new_sparse()))
}

/// Runs `edit` on the bytes of an entry that holds an HLL (already checked), which
/// becomes a raw string; the bytes go back even when `edit` fails half-way, as Redis
/// keeps the registers it already changed.
fn edit_hll<R>(e: &mut Entry, edit: impl FnOnce(&mut Vec<u8>) -> R) -> Result<R, CmdError> {
    e.str_encoding = StrEncoding::Raw;
    let s = as_str_mut(e)?;
    let mut bytes = std::mem::take(s).into_vec();
    let out = edit(&mut bytes);
    *s = SmallBytes::from_vec(bytes);
    Ok(out)
}

/// PFADD key [element ...]: 1 if the key was created or a register changed, else 0
/// (behaves like `pfaddCommand()`).
fn pfadd(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let key = argv.get(1);
    let sparse_max = ctx.settings.hll_sparse_max_bytes;
    let mut shard = ctx.keyspace().lock_key(key);
    let d = shard.db(ctx.client.db);
    let (pos, created) = match d.find(key, ctx.fx) {
        Some(pos) => {
            as_hll(d.at(pos))?;
            (pos, 0)
        }
        None => (d.add(key, new_hll(), ctx.fx), 1),
    };
    let changed = edit_hll(d.at_mut(pos), |hll| {
        let mut changed = created;
        for element in argv.iter().skip(2) {
            changed += u64::from(value::add(hll, element, sparse_max)?);
        }
        if changed > 0 {
            value::invalidate_cache(hll);
        }
        Ok::<_, Corrupt>(changed)
    })??;
    if changed > 0 {
        ctx.fx.notify(EventClass::STRING, "pfadd", key);
        ctx.fx.dirty += changed;
    }
    ctx.reply.int(i64::from(changed > 0));
    Ok(())
}

/// PFCOUNT key [key ...] (behaves like `pfcountCommand()`).
fn pfcount(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    if argv.len() > 2 {
        return pfcount_union(ctx, argv);
    }
    let key = argv.get(1);
    let mut shard = ctx.keyspace().lock_key(key);
    let d = shard.db(ctx.client.db);
    let Some(pos) = d.find_read(key, ctx.fx) else {
        ctx.reply.int(0);
        return Ok(());
    };
    let e = d.at_mut(pos);
    as_hll(e)?;
    e.str_encoding = StrEncoding::Raw;
    let hll = as_str_mut(e)?;
    let card = match value::cached_cardinality(hll) {
        Some(card) => card,
        None => {
            let card = value::cardinality(hll)?;
            value::set_cached_cardinality(hll, card);
            touch_without_event(ctx.fx, key);
            // The cached count is part of the value: propagated like a write (still
            // under the key's lock).
            ctx.fx.stamp();
            ctx.fx.dirty += 1;
            card
        }
    };
    // COMPAT(redis 7.0): the count is unsigned but replied as a signed integer.
    ctx.reply.int(card as i64);
    Ok(())
}

/// A write that has no keyspace event (PFCOUNT caching its count) still aborts the
/// transactions that WATCH the key (behaves like a bare `signalModifiedKey()`).
fn touch_without_event(fx: &Effects, key: &[u8]) {
    if let Some(signals) = &fx.signals {
        signals.touch(fx.db, key, Touch::Written);
    }
}

/// PFCOUNT of several keys: the cardinality of their union, from a scratch register
/// array; missing keys count as empty HLLs, and the first bad key is the error.
fn pfcount_union(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let db = ctx.client.db;
    let mut locked = ctx.keyspace().lock_keys(argv.iter().skip(1));
    let mut max = vec![0u8; REGISTERS];
    for key in argv.iter().skip(1) {
        let d = locked.db(key, db);
        if let Some(pos) = d.find_read(key, ctx.fx) {
            value::merge_into(&mut max, as_hll(d.at(pos))?)?;
        }
    }
    ctx.reply.int(value::cardinality_of_registers(&max) as i64);
    Ok(())
}

/// PFMERGE destkey [sourcekey ...]: the destination (created if missing) takes the
/// register-wise maximum of itself and the sources (behaves like `pfmergeCommand()`).
fn pfmerge(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let dest = argv.get(1);
    let db = ctx.client.db;
    let sparse_max = ctx.settings.hll_sparse_max_bytes;
    let mut locked = ctx.keyspace().lock_keys(argv.iter().skip(1));
    // 1. Every key, the destination first, is read, checked and merged.
    let mut max = vec![0u8; REGISTERS];
    let mut any_dense = false;
    for key in argv.iter().skip(1) {
        let d = locked.db(key, db);
        if let Some(pos) = d.find_read(key, ctx.fx) {
            let hll = as_hll(d.at(pos))?;
            any_dense |= value::is_dense(hll);
            value::merge_into(&mut max, hll)?;
        }
    }
    // 2. The destination is dense if any input was; its registers are raised one by one.
    let d = locked.db(dest, db);
    let pos = match d.find(dest, ctx.fx) {
        Some(pos) => pos,
        None => d.add(dest, new_hll(), ctx.fx),
    };
    edit_hll(d.at_mut(pos), |hll| {
        if any_dense {
            value::to_dense(hll)?;
        }
        value::raise_all(hll, &max, sparse_max)?;
        value::invalidate_cache(hll);
        Ok::<_, Corrupt>(())
    })??;
    // Redis reports the merge as a mass add.
    ctx.fx.notify(EventClass::STRING, "pfadd", dest);
    ctx.fx.dirty += 1;
    ctx.reply.ok();
    Ok(())
}
