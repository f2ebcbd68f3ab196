//! String commands (behaves like Redis's t_string.c): GET SET SETNX SETEX PSETEX GETSET
//! GETDEL GETEX MGET MSET MSETNX APPEND STRLEN INCR DECR INCRBY DECRBY INCRBYFLOAT
//! SETRANGE GETRANGE SUBSTR LCS.

use super::args::{self, is};
use super::{CmdError, CmdResult, Ctx, Handler};
use crate::keyspace::{Entry, EventClass, SmallBytes, StrEncoding, Value};
use crate::protocol::Argv;
use crate::protocol::float::LongDouble;

pub(super) const HANDLERS: &[(&str, Handler)] = &[
    ("get", get),
    ("set", set),
    ("setnx", setnx),
    ("setex", setex),
    ("psetex", psetex),
    ("getset", getset),
    ("getdel", getdel),
    ("getex", getex),
    ("mget", mget),
    ("mset", mset),
    ("msetnx", msetnx),
    ("append", append),
    ("strlen", strlen),
    ("incr", incr),
    ("decr", decr),
    ("incrby", incrby),
    ("decrby", decrby),
    ("incrbyfloat", incrbyfloat),
    ("setrange", setrange),
    ("getrange", getrange),
    ("substr", getrange),
    ("lcs", lcs),
];

/// The string held by an entry, or WRONGTYPE.
#[inline]
pub(super) fn as_str(e: &Entry) -> Result<&SmallBytes, CmdError> {
    match &e.value {
        Value::Str(s) => Ok(s),
        _ => Err(CmdError::WrongType),
    }
}

/// Mutable access to an entry's string, or WRONGTYPE.
#[inline]
pub(super) fn as_str_mut(e: &mut Entry) -> Result<&mut SmallBytes, CmdError> {
    match &mut e.value {
        Value::Str(s) => Ok(s),
        _ => Err(CmdError::WrongType),
    }
}

/// Refuses strings longer than `proto-max-bulk-len` (Redis's `checkStringLength()`).
pub(super) fn check_length(ctx: &Ctx<'_>, len: u64) -> CmdResult {
    if len > ctx.settings.proto_max_bulk_len as u64 {
        return Err(CmdError::StringTooLong);
    }
    Ok(())
}

fn get(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let key = argv.get(1);
    let mut shard = ctx.keyspace().lock_key(key);
    match shard.db(ctx.client.db).lookup_read(key, ctx.fx) {
        Some(e) => ctx.reply.bulk(as_str(e)?),
        None => ctx.reply.null(),
    }
    Ok(())
}

/// Expiry options shared by SET and GETEX.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum ExpireOpt {
    None,
    Ex,
    Px,
    ExAt,
    PxAt,
    KeepTtl,
    Persist,
}

/// Parsed SET / GETEX options (behaves like `parseExtendedStringArgumentsOrReply()`).
struct SetOptions<'a> {
    nx: bool,
    xx: bool,
    get: bool,
    expire: ExpireOpt,
    expire_arg: Option<&'a [u8]>,
}

fn parse_set_options<'a>(
    argv: &Argv<'a>,
    start: usize,
    is_set: bool,
) -> Result<SetOptions<'a>, CmdError> {
    let mut o = SetOptions {
        nx: false,
        xx: false,
        get: false,
        expire: ExpireOpt::None,
        expire_arg: None,
    };
    let mut j = start;
    while j < argv.len() {
        let opt = argv.get(j);
        let next = argv.try_get(j + 1).filter(|_| j + 1 < argv.len());
        let no_expire = o.expire == ExpireOpt::None;
        if is_set && is(opt, "nx") && !o.xx {
            o.nx = true;
        } else if is_set && is(opt, "xx") && !o.nx {
            o.xx = true;
        } else if is_set && is(opt, "get") {
            o.get = true;
        } else if is_set && is(opt, "keepttl") && (no_expire || o.expire == ExpireOpt::KeepTtl) {
            o.expire = ExpireOpt::KeepTtl;
        } else if !is_set && is(opt, "persist") && (no_expire || o.expire == ExpireOpt::Persist) {
            o.expire = ExpireOpt::Persist;
        } else if let Some(kind) = [
            ("ex", ExpireOpt::Ex),
            ("px", ExpireOpt::Px),
            ("exat", ExpireOpt::ExAt),
            ("pxat", ExpireOpt::PxAt),
        ]
        .iter()
        .find(|(name, k)| is(opt, name) && (no_expire || o.expire == *k))
        .map(|(_, k)| *k)
            && next.is_some()
        {
            o.expire = kind;
            o.expire_arg = next;
            j += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    Ok(o)
}

/// Absolute expiry in ms for EX/PX/EXAT/PXAT (behaves like `getExpireMillisecondsOrReply()`).
fn expire_at_ms(ctx: &Ctx<'_>, opt: ExpireOpt, arg: &[u8]) -> Result<i64, CmdError> {
    let v = args::int(arg)?;
    let name = ctx.cmd.name().to_string();
    let seconds = matches!(opt, ExpireOpt::Ex | ExpireOpt::ExAt);
    if v <= 0 || (seconds && v > i64::MAX / 1000) {
        return Err(CmdError::InvalidExpire(name));
    }
    let mut ms = if seconds { v * 1000 } else { v };
    if matches!(opt, ExpireOpt::Ex | ExpireOpt::Px) {
        ms = ms.wrapping_add(ctx.fx.now_ms);
    }
    if ms <= 0 {
        return Err(CmdError::InvalidExpire(name));
    }
    Ok(ms)
}

/// The common SET path (behaves like `setGenericCommand()`). Returns whether it set.
#[allow(clippy::too_many_arguments)]
fn set_generic(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    value: &[u8],
    nx: bool,
    xx: bool,
    get: bool,
    keep_ttl: bool,
    expire: Option<i64>,
) -> Result<bool, CmdError> {
    let db = ctx.client.db;
    let mut shard = ctx.keyspace().lock_key(key);
    let d = shard.db(db);
    // With GET the old value is read as GET reads it (hit/miss counted, keymiss event).
    let found = if get {
        d.find_read(key, ctx.fx)
    } else {
        d.find(key, ctx.fx)
    };
    if get {
        match found {
            Some(pos) => ctx.reply.bulk(as_str(d.at(pos))?),
            None => ctx.reply.null(),
        }
    }
    if (nx && found.is_some()) || (xx && found.is_none()) {
        if !get {
            ctx.reply.null();
        }
        return Ok(false);
    }
    let pos = d.set(
        key,
        Value::Str(SmallBytes::from_slice(value)),
        keep_ttl,
        ctx.fx,
    );
    ctx.fx.dirty += 1;
    ctx.fx.notify(EventClass::STRING, "set", key);
    if let Some(at) = expire {
        d.set_expire(pos, at);
        ctx.fx.notify(EventClass::GENERIC, "expire", key);
        // An absolute expiry, and nothing else, as `setGenericCommand()` propagates it.
        let mut at_buf = itoa::Buffer::new();
        let at = at_buf.format(at);
        ctx.fx
            .rewrite_as(&[b"SET", key, value, b"PXAT", at.as_bytes()]);
    }
    if !get {
        ctx.reply.ok();
    }
    Ok(true)
}

fn set(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let o = parse_set_options(argv, 3, true)?;
    let expire = match o.expire_arg {
        Some(arg) => Some(expire_at_ms(ctx, o.expire, arg)?),
        None => None,
    };
    let set = set_generic(
        ctx,
        argv.get(1),
        argv.get(2),
        o.nx,
        o.xx,
        o.get,
        o.expire == ExpireOpt::KeepTtl,
        expire,
    )?;
    if set && o.get && expire.is_none() {
        // GET changes nothing on a replica: the other options stay.
        let kept: Vec<&[u8]> = argv
            .iter()
            .enumerate()
            .filter(|&(i, a)| i < 3 || !a.eq_ignore_ascii_case(b"get"))
            .map(|(_, a)| a)
            .collect();
        ctx.fx.rewrite_as(&kept);
    }
    Ok(())
}

fn setnx(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let key = argv.get(1);
    let db = ctx.client.db;
    let mut shard = ctx.keyspace().lock_key(key);
    let d = shard.db(db);
    if d.find(key, ctx.fx).is_some() {
        ctx.reply.int(0);
        return Ok(());
    }
    d.add(key, Value::Str(SmallBytes::from_slice(argv.get(2))), ctx.fx);
    ctx.fx.dirty += 1;
    ctx.fx.notify(EventClass::STRING, "set", key);
    ctx.reply.int(1);
    Ok(())
}

fn setex_generic(ctx: &mut Ctx<'_>, argv: &Argv<'_>, opt: ExpireOpt) -> CmdResult {
    let at = expire_at_ms(ctx, opt, argv.get(2))?;
    set_generic(
        ctx,
        argv.get(1),
        argv.get(3),
        false,
        false,
        false,
        false,
        Some(at),
    )?;
    Ok(())
}

fn setex(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    setex_generic(ctx, argv, ExpireOpt::Ex)
}

fn psetex(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    setex_generic(ctx, argv, ExpireOpt::Px)
}

fn getset(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let key = argv.get(1);
    let db = ctx.client.db;
    let mut shard = ctx.keyspace().lock_key(key);
    let d = shard.db(db);
    match d.find_read(key, ctx.fx) {
        Some(pos) => ctx.reply.bulk(as_str(d.at(pos))?),
        None => ctx.reply.null(),
    }
    d.set(
        key,
        Value::Str(SmallBytes::from_slice(argv.get(2))),
        false,
        ctx.fx,
    );
    ctx.fx.dirty += 1;
    ctx.fx.notify(EventClass::STRING, "set", key);
    ctx.fx.rewrite_as(&[b"SET", key, argv.get(2)]);
    Ok(())
}

fn getdel(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let key = argv.get(1);
    let db = ctx.client.db;
    let mut shard = ctx.keyspace().lock_key(key);
    let d = shard.db(db);
    let Some(pos) = d.find_read(key, ctx.fx) else {
        ctx.reply.null();
        return Ok(());
    };
    ctx.reply.bulk(as_str(d.at(pos))?);
    d.remove_at(pos);
    ctx.fx.dirty += 1;
    ctx.fx.notify(EventClass::GENERIC, "del", key);
    ctx.fx.rewrite_as(&[b"DEL", key]);
    Ok(())
}

fn getex(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let o = parse_set_options(argv, 2, false)?;
    let expire = match o.expire_arg {
        Some(arg) => Some(expire_at_ms(ctx, o.expire, arg)?),
        None => None,
    };
    let key = argv.get(1);
    let db = ctx.client.db;
    let mut shard = ctx.keyspace().lock_key(key);
    let d = shard.db(db);
    let Some(pos) = d.find_read(key, ctx.fx) else {
        ctx.reply.null();
        return Ok(());
    };
    ctx.reply.bulk(as_str(d.at(pos))?);
    let absolute = matches!(o.expire, ExpireOpt::ExAt | ExpireOpt::PxAt);
    match expire {
        Some(at) if absolute && at <= ctx.fx.now_ms => {
            d.remove_at(pos);
            ctx.fx.dirty += 1;
            ctx.fx.notify(EventClass::GENERIC, "del", key);
            ctx.fx.rewrite_as(&[b"DEL", key]);
        }
        Some(at) => {
            d.set_expire(pos, at);
            ctx.fx.dirty += 1;
            ctx.fx.notify(EventClass::GENERIC, "expire", key);
            let mut at_buf = itoa::Buffer::new();
            let at = at_buf.format(at);
            ctx.fx.rewrite_as(&[b"PEXPIREAT", key, at.as_bytes()]);
        }
        None if o.expire == ExpireOpt::Persist && d.at(pos).expire_at != 0 => {
            d.set_expire(pos, 0);
            ctx.fx.dirty += 1;
            ctx.fx.notify(EventClass::GENERIC, "persist", key);
            ctx.fx.rewrite_as(&[b"PERSIST", key]);
        }
        None => {}
    }
    Ok(())
}

fn mget(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let keys: Vec<&[u8]> = argv.iter().skip(1).collect();
    let db = ctx.client.db;
    let mut locked = ctx.keyspace().lock_keys(keys.iter().copied());
    ctx.reply.array(keys.len());
    for key in keys {
        match locked.db(key, db).lookup_read(key, ctx.fx) {
            Some(Entry {
                value: Value::Str(s),
                ..
            }) => ctx.reply.bulk(s),
            _ => ctx.reply.null(),
        }
    }
    Ok(())
}

fn mset_generic(ctx: &mut Ctx<'_>, argv: &Argv<'_>, nx: bool) -> CmdResult {
    if argv.len().is_multiple_of(2) {
        return Err(CmdError::Arity(ctx.cmd.name().to_string()));
    }
    let db = ctx.client.db;
    let mut locked = ctx.keyspace().lock_keys(argv.iter().skip(1).step_by(2));
    if nx {
        for key in argv.iter().skip(1).step_by(2) {
            if locked.db(key, db).find(key, ctx.fx).is_some() {
                ctx.reply.int(0);
                return Ok(());
            }
        }
    }
    let mut i = 1;
    while i + 1 < argv.len() {
        let key = argv.get(i);
        locked.db(key, db).set(
            key,
            Value::Str(SmallBytes::from_slice(argv.get(i + 1))),
            false,
            ctx.fx,
        );
        ctx.fx.notify(EventClass::STRING, "set", key);
        i += 2;
    }
    ctx.fx.dirty += (argv.len() as u64 - 1) / 2;
    if nx {
        ctx.reply.int(1);
    } else {
        ctx.reply.ok();
    }
    Ok(())
}

fn mset(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    mset_generic(ctx, argv, false)
}

fn msetnx(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    mset_generic(ctx, argv, true)
}

fn append(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let key = argv.get(1);
    let extra = argv.get(2);
    let db = ctx.client.db;
    let mut shard = ctx.keyspace().lock_key(key);
    let d = shard.db(db);
    let total = match d.find(key, ctx.fx) {
        None => {
            d.add(key, Value::Str(SmallBytes::from_slice(extra)), ctx.fx);
            extra.len()
        }
        Some(pos) => {
            let cur = as_str(d.at(pos))?.len();
            check_length(ctx, (cur + extra.len()) as u64)?;
            let e = d.at_mut(pos);
            e.str_encoding = StrEncoding::Raw;
            let s = as_str_mut(e)?;
            s.extend_from_slice(extra);
            s.len()
        }
    };
    ctx.fx.dirty += 1;
    ctx.fx.notify(EventClass::STRING, "append", key);
    ctx.reply.int(total as i64);
    Ok(())
}

fn strlen(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let key = argv.get(1);
    let mut shard = ctx.keyspace().lock_key(key);
    let len = match shard.db(ctx.client.db).lookup_read(key, ctx.fx) {
        Some(e) => as_str(e)?.len(),
        None => 0,
    };
    ctx.reply.int(len as i64);
    Ok(())
}

/// INCR / DECR / INCRBY / DECRBY (behaves like `incrDecrCommand()`): the TTL is kept.
fn incr_by(ctx: &mut Ctx<'_>, key: &[u8], by: i64) -> CmdResult {
    let db = ctx.client.db;
    let mut shard = ctx.keyspace().lock_key(key);
    let d = shard.db(db);
    let pos = d.find(key, ctx.fx);
    let old = match pos {
        Some(p) => args::int(as_str(d.at(p))?)?,
        None => 0,
    };
    let new = old.checked_add(by).ok_or(CmdError::Overflow)?;
    let text = SmallBytes::from_slice(itoa::Buffer::new().format(new).as_bytes());
    match pos {
        Some(p) => {
            let e = d.at_mut(p);
            e.value = Value::Str(text);
            e.str_encoding = StrEncoding::Auto;
        }
        None => {
            d.add(key, Value::Str(text), ctx.fx);
        }
    }
    ctx.fx.dirty += 1;
    ctx.fx.notify(EventClass::STRING, "incrby", key);
    ctx.reply.int(new);
    Ok(())
}

fn incr(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    incr_by(ctx, argv.get(1), 1)
}

fn decr(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    incr_by(ctx, argv.get(1), -1)
}

fn incrby(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let by = args::int(argv.get(2))?;
    incr_by(ctx, argv.get(1), by)
}

fn decrby(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let by = args::int(argv.get(2))?;
    if by == i64::MIN {
        return Err(CmdError::err("decrement would overflow"));
    }
    incr_by(ctx, argv.get(1), -by)
}

fn incrbyfloat(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let key = argv.get(1);
    let db = ctx.client.db;
    let mut shard = ctx.keyspace().lock_key(key);
    let d = shard.db(db);
    let pos = d.find(key, ctx.fx);
    let old = match pos {
        Some(p) => LongDouble::parse(as_str(d.at(p))?).ok_or(CmdError::NotFloat)?,
        None => LongDouble::from_i64(0),
    };
    let by = LongDouble::parse(argv.get(2)).ok_or(CmdError::NotFloat)?;
    let sum = old
        .checked_add(by)
        .ok_or_else(|| CmdError::err("increment would produce NaN or Infinity"))?;
    let text = sum.to_human();
    match pos {
        Some(p) => {
            let e = d.at_mut(p);
            e.value = Value::Str(SmallBytes::from_slice(&text));
            e.str_encoding = StrEncoding::NoInt;
        }
        None => {
            let p = d.add(key, Value::Str(SmallBytes::from_slice(&text)), ctx.fx);
            d.at_mut(p).str_encoding = StrEncoding::NoInt;
        }
    }
    ctx.fx.dirty += 1;
    ctx.fx.notify(EventClass::STRING, "incrbyfloat", key);
    // The result, not the increment: float arithmetic must not run twice.
    ctx.fx.rewrite_as(&[b"SET", key, &text, b"KEEPTTL"]);
    ctx.reply.bulk(&text);
    Ok(())
}

fn setrange(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let key = argv.get(1);
    let offset = args::int(argv.get(2))?;
    let value = argv.get(3);
    if offset < 0 {
        return Err(CmdError::err("offset is out of range"));
    }
    let offset = offset as u64;
    let db = ctx.client.db;
    let mut shard = ctx.keyspace().lock_key(key);
    let d = shard.db(db);
    let pos = match d.find(key, ctx.fx) {
        None => {
            if value.is_empty() {
                ctx.reply.int(0);
                return Ok(());
            }
            check_length(ctx, offset + value.len() as u64)?;
            let p = d.add(key, Value::Str(SmallBytes::new()), ctx.fx);
            d.at_mut(p).str_encoding = StrEncoding::Raw;
            p
        }
        Some(p) => {
            let len = as_str(d.at(p))?.len();
            if value.is_empty() {
                ctx.reply.int(len as i64);
                return Ok(());
            }
            check_length(ctx, offset + value.len() as u64)?;
            p
        }
    };
    let e = d.at_mut(pos);
    e.str_encoding = StrEncoding::Raw;
    let s = as_str_mut(e)?;
    let end = offset as usize + value.len();
    if s.len() < end {
        s.resize(end);
    }
    s[offset as usize..end].copy_from_slice(value);
    let len = s.len();
    ctx.fx.dirty += 1;
    ctx.fx.notify(EventClass::STRING, "setrange", key);
    ctx.reply.int(len as i64);
    Ok(())
}

fn getrange(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let mut start = args::int(argv.get(2))?;
    let mut end = args::int(argv.get(3))?;
    let key = argv.get(1);
    let mut shard = ctx.keyspace().lock_key(key);
    let Some(e) = shard.db(ctx.client.db).lookup_read(key, ctx.fx) else {
        ctx.reply.bulk(b"");
        return Ok(());
    };
    let s = as_str(e)?;
    let len = s.len() as i64;
    if start < 0 && end < 0 && start > end {
        ctx.reply.bulk(b"");
        return Ok(());
    }
    if start < 0 {
        start += len;
    }
    if end < 0 {
        end += len;
    }
    start = start.max(0);
    end = end.max(0);
    if end >= len {
        end = len - 1;
    }
    if start > end || len == 0 {
        ctx.reply.bulk(b"");
    } else {
        ctx.reply.bulk(&s[start as usize..=end as usize]);
    }
    Ok(())
}

fn lcs(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let (ka, kb) = (argv.get(1), argv.get(2));
    let db = ctx.client.db;
    let (a, b) = {
        let mut locked = ctx.keyspace().lock_keys([ka, kb]);
        let a = locked
            .db(ka, db)
            .lookup_read(ka, ctx.fx)
            .map(|e| e.value.clone());
        let b = locked
            .db(kb, db)
            .lookup_read(kb, ctx.fx)
            .map(|e| e.value.clone());
        let text = |v: Option<Value>| match v {
            None => Ok(Vec::new()),
            Some(Value::Str(s)) => Ok(s.into_vec()),
            Some(_) => Err(CmdError::err(
                "The specified keys must contain string values",
            )),
        };
        (text(a)?, text(b)?)
    };
    let (mut getlen, mut getidx, mut withmatchlen) = (false, false, false);
    let mut minmatchlen: i64 = 0;
    let mut j = 3;
    while j < argv.len() {
        let opt = argv.get(j);
        let more = argv.len() - 1 - j;
        if is(opt, "idx") {
            getidx = true;
        } else if is(opt, "len") {
            getlen = true;
        } else if is(opt, "withmatchlen") {
            withmatchlen = true;
        } else if is(opt, "minmatchlen") && more > 0 {
            minmatchlen = args::int(argv.get(j + 1))?.max(0);
            j += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    if getlen && getidx {
        return Err(CmdError::err(
            "If you want both the length and indexes, please just use IDX.",
        ));
    }
    let (alen, blen) = (a.len(), b.len());
    let cells = (alen as u64 + 1) * (blen as u64 + 1);
    if cells * 4 > ctx.settings.proto_max_bulk_len as u64 {
        return Err(CmdError::err(
            "Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len",
        ));
    }
    let w = blen + 1;
    let mut t = vec![0u32; cells as usize];
    for i in 1..=alen {
        for jj in 1..=blen {
            t[i * w + jj] = if a[i - 1] == b[jj - 1] {
                t[(i - 1) * w + jj - 1] + 1
            } else {
                t[(i - 1) * w + jj].max(t[i * w + jj - 1])
            };
        }
    }
    let total = t[alen * w + blen];
    // Walk back from the end, emitting matched ranges as `lcsCommand()` does.
    let mut result = vec![0u8; total as usize];
    let mut idx = total as usize;
    // (range in a, range in b, match length)
    type Match = ((usize, usize), (usize, usize), usize);
    let mut matches: Vec<Match> = Vec::new();
    let (mut ar_start, mut ar_end, mut br_start, mut br_end) = (alen, 0usize, 0usize, 0usize);
    let (mut i, mut jj) = (alen, blen);
    let compute = getidx || !getlen;
    while compute && i > 0 && jj > 0 {
        let mut emit = false;
        if a[i - 1] == b[jj - 1] {
            result[idx - 1] = a[i - 1];
            if ar_start == alen {
                ar_start = i - 1;
                ar_end = i - 1;
                br_start = jj - 1;
                br_end = jj - 1;
            } else if ar_start == i && br_start == jj {
                ar_start -= 1;
                br_start -= 1;
            } else {
                emit = true;
            }
            if ar_start == 0 || br_start == 0 {
                emit = true;
            }
            idx -= 1;
            i -= 1;
            jj -= 1;
        } else {
            if t[(i - 1) * w + jj] > t[i * w + jj - 1] {
                i -= 1;
            } else {
                jj -= 1;
            }
            if ar_start != alen {
                emit = true;
            }
        }
        let match_len = ar_end.wrapping_sub(ar_start).wrapping_add(1);
        if emit {
            if minmatchlen == 0 || match_len as i64 >= minmatchlen {
                matches.push(((ar_start, ar_end), (br_start, br_end), match_len));
            }
            ar_start = alen;
        }
    }
    if getidx {
        let r = &mut *ctx.reply;
        r.map(2);
        r.bulk(b"matches");
        r.array(matches.len());
        for ((a0, a1), (b0, b1), len) in matches {
            r.array(2 + withmatchlen as usize);
            r.array(2);
            r.int(a0 as i64);
            r.int(a1 as i64);
            r.array(2);
            r.int(b0 as i64);
            r.int(b1 as i64);
            if withmatchlen {
                r.int(len as i64);
            }
        }
        r.bulk(b"len");
        r.int(total as i64);
    } else if getlen {
        ctx.reply.int(total as i64);
    } else {
        ctx.reply.bulk(&result);
    }
    Ok(())
}
