//! Generic keyspace commands, whatever the type of the value (behaves like Redis's `db.c`,
//! `expire.c` and the OBJECT part of `object.c`):
//! - keys: DEL UNLINK EXISTS TYPE TOUCH RENAME RENAMENX MOVE COPY (`delGenericCommand()`,
//!   `renameGenericCommand()`, `moveCommand()`, `copyCommand()`, ...);
//! - expiry: EXPIRE PEXPIRE EXPIREAT PEXPIREAT TTL PTTL EXPIRETIME PEXPIRETIME PERSIST
//!   (`expireGenericCommand()`, `ttlGenericCommand()`, `persistCommand()`);
//! - iteration: KEYS SCAN RANDOMKEY DBSIZE (`keysCommand()`, `scanGenericCommand()`,
//!   `dbRandomKey()`);
//! - whole databases: FLUSHDB FLUSHALL SWAPDB (`emptyData()`, `dbSwapDatabases()`);
//! - OBJECT ENCODING / FREQ / IDLETIME / REFCOUNT / HELP (`objectCommand()`).
//!
//! Locking: key commands lock the shards of their keys (ascending slot order when there
//! are several); FLUSHDB, FLUSHALL and SWAPDB lock every shard, so they are atomic with
//! respect to every other command; KEYS, SCAN, RANDOMKEY and DBSIZE visit the shards one at a
//! time, each under its own lock, so they never stall the server for longer than one shard.
//!
//! A SCAN cursor names a position in the walk over the slot shards in slot order: the low
//! [`SLOT_BITS`] bits are the slot, the bits above are the reverse-binary cursor inside that
//! slot's table (see [`ScanCursor`]).

use std::sync::OnceLock;
use std::sync::mpsc;

use rand::Rng;

use super::args::{self, is};
use super::scan::{ScanOptions, parse_cursor};
use super::{CmdError, CmdResult, Ctx, Handler};
use crate::keyspace::slot::SLOTS;
use crate::keyspace::{
    Db, Effects, Entry, EventClass, Keyspace, LookupFlags, ShardData, ShardGuard, Slot, SmallBytes,
    Value, key_slot,
};
use crate::protocol::parse::parse_i64;
use crate::protocol::{Aggregate, Argv};
use crate::util::glob::glob_match;

pub(super) const HANDLERS: &[(&str, Handler)] = &[
    ("del", del),
    ("unlink", unlink),
    ("exists", exists),
    ("type", r#type),
    ("touch", touch),
    ("expire", expire),
    ("pexpire", pexpire),
    ("expireat", expireat),
    ("pexpireat", pexpireat),
    ("ttl", ttl),
    ("pttl", pttl),
    ("expiretime", expiretime),
    ("pexpiretime", pexpiretime),
    ("persist", persist),
    ("rename", rename),
    ("renamenx", renamenx),
    ("move", r#move),
    ("copy", copy),
    ("keys", keys),
    ("scan", scan),
    ("randomkey", randomkey),
    ("dbsize", dbsize),
    ("flushdb", flushdb),
    ("flushall", flushall),
    ("swapdb", swapdb),
    ("object|help", object_help),
    ("object|encoding", object_encoding),
    ("object|freq", object_freq),
    ("object|idletime", object_idletime),
    ("object|refcount", object_refcount),
];

/// Redis's `shared.sameobjecterr`.
const SAME_OBJECT: &str = "source and destination objects are the same";

/// Lookup flags that only expire: nothing counted, staged or touched.
const SILENT_LOOKUP: LookupFlags = LookupFlags::NOTOUCH
    .union(LookupFlags::NONOTIFY)
    .union(LookupFlags::NOSTATS);

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// A 32-bit integer argument (behaves like `getIntFromObjectOrReply()`): `msg`, when
/// given, replaces both the not-an-integer and the out-of-range error.
fn int32(arg: &[u8], msg: Option<&str>) -> Result<i32, CmdError> {
    let fail = |default: CmdError| msg.map_or(default, CmdError::err);
    let n = parse_i64(arg).ok_or_else(|| fail(CmdError::NotInteger))?;
    i32::try_from(n).map_err(|_| {
        fail(CmdError::err(
            "value is out of range, value must between -2147483648 and 2147483647",
        ))
    })
}

/// A database index that exists (`selectDb()`'s check), or "DB index is out of range".
fn existing_db(ctx: &Ctx<'_>, id: i32) -> Result<usize, CmdError> {
    usize::try_from(id)
        .ok()
        .filter(|&db| db < ctx.keyspace().databases())
        .ok_or(CmdError::DbIndexOutOfRange)
}

/// Runs `f` with keyspace events staged for database `db`: a lookup in another database
/// (MOVE, COPY) reports an expired key in the database it lived in.
fn in_db<R>(fx: &mut Effects, db: usize, f: impl FnOnce(&mut Effects) -> R) -> R {
    let saved = std::mem::replace(&mut fx.db, db);
    let out = f(fx);
    fx.db = saved;
    out
}

/// Objects with more elements than this are freed in the background by lazy deletions
/// (Redis's `LAZYFREE_THRESHOLD`).
const LAZYFREE_THRESHOLD: usize = 64;

/// Work needed to free a value, in elements (behaves like `lazyfreeGetFreeEffort()`).
fn free_effort(value: &Value) -> usize {
    match value {
        Value::Hash(h) => h.len(),
        Value::Set(s) => s.len(),
        Value::List(l) => l.len(),
        Value::ZSet(z) => z.len(),
        _ => 1,
    }
}

/// Something removed from the keyspace, waiting to be freed.
type Garbage = Box<dyn Send>;

/// The background thread that frees large removed values (Redis's lazyfree bio thread);
/// `None` if it could not be started, and then everything is freed inline.
fn lazyfree_queue() -> Option<&'static mpsc::Sender<Garbage>> {
    static QUEUE: OnceLock<Option<mpsc::Sender<Garbage>>> = OnceLock::new();
    QUEUE
        .get_or_init(|| {
            let (tx, rx) = mpsc::channel::<Garbage>();
            std::thread::Builder::new()
                .name("lazyfree".into())
                .spawn(move || rx.into_iter().for_each(drop))
                .ok()
                .map(|_| tx)
        })
        .as_ref()
}

/// Frees what a command removed. Callers release their shard locks first, so nobody waits
/// on the free; with more than [`LAZYFREE_THRESHOLD`] elements of work and `lazy()` (asked
/// only then: it may read the config), the free happens on the lazyfree thread and the
/// command does not wait either.
fn release<T: Send + 'static>(garbage: T, effort: usize, lazy: impl FnOnce() -> bool) {
    if effort > LAZYFREE_THRESHOLD
        && lazy()
        && let Some(queue) = lazyfree_queue()
    {
        // If the thread is gone the send fails and hands the garbage back: drop it here.
        let _ = queue.send(Box::new(garbage));
    }
}

/// Whether a boolean config option is `yes`.
fn config_yes(ctx: &Ctx<'_>, name: &str) -> bool {
    ctx.server.config.get(name) == "yes"
}

// ---------------------------------------------------------------------------------------
// DEL UNLINK EXISTS TYPE TOUCH
// ---------------------------------------------------------------------------------------

/// DEL and UNLINK (behaves like `delGenericCommand()`): an expired key counts as missing.
/// Large values are freed in the background when `lazy_option` is `None` (UNLINK) or names
/// a config option set to yes.
fn del_generic(ctx: &mut Ctx<'_>, argv: &Argv<'_>, lazy_option: Option<&str>) -> CmdResult {
    let db = ctx.client.db;
    let mut locked = ctx.keyspace().lock_keys(argv.iter().skip(1));
    let mut removed = Vec::new();
    for key in argv.iter().skip(1) {
        let Some(d) = locked.shard(key).db_mut(db) else {
            continue;
        };
        if let Some(pos) = d.find(key, ctx.fx) {
            removed.push(d.remove_at(pos));
            ctx.fx.notify(EventClass::GENERIC, "del", key);
            ctx.fx.dirty += 1;
        }
    }
    drop(locked);
    ctx.reply.int(removed.len() as i64);
    let effort = removed.iter().map(|e| free_effort(&e.value)).sum();
    release(removed, effort, || {
        lazy_option.is_none_or(|name| config_yes(ctx, name))
    });
    Ok(())
}

fn del(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    del_generic(ctx, argv, Some("lazyfree-lazy-user-del"))
}

fn unlink(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    del_generic(ctx, argv, None)
}

/// Counts the keys (repeats included) found live by a read lookup with `flags`.
fn count_live(ctx: &mut Ctx<'_>, argv: &Argv<'_>, flags: LookupFlags) -> CmdResult {
    let db = ctx.client.db;
    let mut locked = ctx.keyspace().lock_keys(argv.iter().skip(1));
    let mut n = 0;
    for key in argv.iter().skip(1) {
        if locked.db(key, db).find_with(key, ctx.fx, flags).is_some() {
            n += 1;
        }
    }
    ctx.reply.int(n);
    Ok(())
}

/// EXISTS: does not touch the keys (`LOOKUP_NOTOUCH`).
fn exists(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    count_live(ctx, argv, LookupFlags::NOTOUCH)
}

/// TOUCH: a plain read lookup, which updates the access time.
fn touch(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    count_live(ctx, argv, LookupFlags::empty())
}

/// The type name TYPE and SCAN TYPE use (behaves like `getObjectTypeName()`).
fn type_name(entry: Option<&Entry>) -> &'static str {
    entry.map_or("none", |e| e.value.value_type().name())
}

fn r#type(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let key = argv.get(1);
    let mut shard = ctx.keyspace().lock_key(key);
    let d = shard.db(ctx.client.db);
    let found = d.find_with(key, ctx.fx, LookupFlags::NOTOUCH);
    ctx.reply.simple(type_name(found.map(|pos| d.at(pos))));
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Expiry
// ---------------------------------------------------------------------------------------

/// EXPIRE's NX / XX / GT / LT conditions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct ExpireCond {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
}

impl ExpireCond {
    /// Parses the options after the time (behaves like
    /// `parseExtendedExpireArgumentsOrReply()`).
    fn parse(argv: &Argv<'_>) -> Result<ExpireCond, CmdError> {
        let mut c = ExpireCond::default();
        for opt in argv.iter().skip(3) {
            if is(opt, "nx") {
                c.nx = true;
            } else if is(opt, "xx") {
                c.xx = true;
            } else if is(opt, "gt") {
                c.gt = true;
            } else if is(opt, "lt") {
                c.lt = true;
            } else {
                return Err(CmdError::err(format!(
                    "Unsupported option {}",
                    args::text(opt)
                )));
            }
        }
        if c.nx && (c.xx || c.gt || c.lt) {
            return Err(CmdError::err(
                "NX and XX, GT or LT options at the same time are not compatible",
            ));
        }
        if c.gt && c.lt {
            return Err(CmdError::err(
                "GT and LT options at the same time are not compatible",
            ));
        }
        Ok(c)
    }

    /// Whether a key whose expiry is `current` (ms, `None` = persistent) may get `when`.
    /// A persistent key counts as an infinite TTL: GT never passes, LT always does.
    fn allows(self, current: Option<i64>, when: i64) -> bool {
        !(self.nx && current.is_some()
            || self.xx && current.is_none()
            || self.gt && current.is_none_or(|cur| when <= cur)
            || self.lt && current.is_some_and(|cur| when >= cur))
    }
}

/// EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT (behaves like `expireGenericCommand()`): the time
/// is `base_ms + arg × unit_ms`; a time not in the future deletes the key, as DEL would.
fn expire_generic(ctx: &mut Ctx<'_>, argv: &Argv<'_>, base_ms: i64, unit_ms: i64) -> CmdResult {
    let cond = ExpireCond::parse(argv)?;
    let invalid = || CmdError::InvalidExpire(ctx.cmd.name().to_string());
    let when = args::int(argv.get(2))?
        .checked_mul(unit_ms)
        .and_then(|t| t.checked_add(base_ms))
        .ok_or_else(invalid)?;
    let key = argv.get(1);
    let mut shard = ctx.keyspace().lock_key(key);
    let d = shard.db(ctx.client.db);
    let Some(pos) = d.find(key, ctx.fx) else {
        ctx.reply.int(0);
        return Ok(());
    };
    let current = Some(d.at(pos).expire_at).filter(|&at| at != 0);
    if !cond.allows(current, when) {
        ctx.reply.int(0);
        return Ok(());
    }
    // Redis's checkAlreadyExpired(): on a primary a time in the past is a deletion.
    let removed = if when <= ctx.fx.now_ms {
        let entry = d.remove_at(pos);
        ctx.fx.notify(EventClass::GENERIC, "del", key);
        ctx.fx.rewrite_as(&[b"DEL", key]);
        Some(entry)
    } else {
        d.set_expire(pos, when);
        ctx.fx.notify(EventClass::GENERIC, "expire", key);
        // Replayed later, a relative time would mean a later expiry: propagate the
        // absolute one, with the condition flags as typed.
        if ctx.fx.propagating() {
            let mut at_buf = itoa::Buffer::new();
            let at = at_buf.format(when);
            let mut args: Vec<&[u8]> = vec![b"PEXPIREAT", key, at.as_bytes()];
            args.extend(argv.iter().skip(3));
            ctx.fx.rewrite_as(&args);
        }
        None
    };
    drop(shard);
    ctx.fx.dirty += 1;
    ctx.reply.int(1);
    if let Some(entry) = removed {
        let effort = free_effort(&entry.value);
        release(entry, effort, || config_yes(ctx, "lazyfree-lazy-expire"));
    }
    Ok(())
}

fn expire(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    expire_generic(ctx, argv, ctx.fx.now_ms, 1000)
}

fn pexpire(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    expire_generic(ctx, argv, ctx.fx.now_ms, 1)
}

fn expireat(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    expire_generic(ctx, argv, 0, 1000)
}

fn pexpireat(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    expire_generic(ctx, argv, 0, 1)
}

/// TTL, PTTL, EXPIRETIME, PEXPIRETIME (behaves like `ttlGenericCommand()`): -2 for a missing
/// key, -1 for a persistent one; seconds are rounded to nearest as `(ms + 500) / 1000`.
fn ttl_generic(ctx: &mut Ctx<'_>, argv: &Argv<'_>, in_ms: bool, absolute: bool) -> CmdResult {
    let key = argv.get(1);
    let mut shard = ctx.keyspace().lock_key(key);
    let d = shard.db(ctx.client.db);
    let Some(pos) = d.find_with(key, ctx.fx, LookupFlags::NOTOUCH) else {
        ctx.reply.int(-2);
        return Ok(());
    };
    let at = d.at(pos).expire_at;
    if at == 0 {
        ctx.reply.int(-1);
        return Ok(());
    }
    let ms = (if absolute { at } else { at - ctx.fx.now_ms }).max(0);
    // `ms` is not negative, so the rounding cannot overflow in unsigned arithmetic, which
    // is also what Redis's build returns for expiry times near i64::MAX.
    let secs = (ms as u64 + 500) / 1000;
    ctx.reply.int(if in_ms { ms } else { secs as i64 });
    Ok(())
}

fn ttl(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    ttl_generic(ctx, argv, false, false)
}

fn pttl(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    ttl_generic(ctx, argv, true, false)
}

fn expiretime(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    ttl_generic(ctx, argv, false, true)
}

fn pexpiretime(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    ttl_generic(ctx, argv, true, true)
}

fn persist(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let key = argv.get(1);
    let mut shard = ctx.keyspace().lock_key(key);
    let d = shard.db(ctx.client.db);
    let persisted = match d.find(key, ctx.fx) {
        Some(pos) if d.at(pos).expire_at != 0 => {
            d.set_expire(pos, 0);
            true
        }
        _ => false,
    };
    if persisted {
        ctx.fx.notify(EventClass::GENERIC, "persist", key);
        ctx.fx.dirty += 1;
    }
    ctx.reply.int(persisted as i64);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// RENAME RENAMENX MOVE COPY
// ---------------------------------------------------------------------------------------

/// RENAME and RENAMENX (behaves like `renameGenericCommand()`): the entry moves whole, TTL
/// and access time included; an overwritten destination is deleted without a `del` event.
fn rename_generic(ctx: &mut Ctx<'_>, argv: &Argv<'_>, nx: bool) -> CmdResult {
    let (src, dst) = (argv.get(1), argv.get(2));
    let db = ctx.client.db;
    let mut locked = ctx.keyspace().lock_keys([src, dst]);
    if locked.db(src, db).find(src, ctx.fx).is_none() {
        return Err(CmdError::NoSuchKey);
    }
    if src == dst {
        if nx {
            ctx.reply.int(0);
        } else {
            ctx.reply.ok();
        }
        return Ok(());
    }
    let dst_exists = locked.db(dst, db).find(dst, ctx.fx).is_some();
    if nx && dst_exists {
        ctx.reply.int(0);
        return Ok(());
    }
    // By key, not by the position found above: the destination lookup may have expired a
    // key of the same table and moved entries around.
    let mut entry = locked
        .db(src, db)
        .remove(src)
        .expect("invariant: the source was found live under this lock");
    let dst_db = locked.db(dst, db);
    let replaced = dst_db.remove(dst);
    entry.key = SmallBytes::from_slice(dst);
    ctx.fx.notify(EventClass::NEW, "new", dst);
    dst_db.put(entry);
    // Staged under the locks: they also tell WATCHers of both keys (see keyspace::signals).
    ctx.fx.notify(EventClass::GENERIC, "rename_from", src);
    ctx.fx.notify(EventClass::GENERIC, "rename_to", dst);
    drop(locked);
    ctx.fx.dirty += 1;
    if nx {
        ctx.reply.int(1);
    } else {
        ctx.reply.ok();
    }
    if let Some(old) = replaced {
        let effort = free_effort(&old.value);
        release(old, effort, || config_yes(ctx, "lazyfree-lazy-server-del"));
    }
    Ok(())
}

fn rename(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    rename_generic(ctx, argv, false)
}

fn renamenx(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    rename_generic(ctx, argv, true)
}

/// MOVE key db (behaves like `moveCommand()`): 0 when the key is missing here or present
/// there; the entry moves whole, TTL included.
fn r#move(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    if ctx.settings.cluster_enabled {
        return Err(CmdError::err("MOVE is not allowed in cluster mode"));
    }
    let dst_db = existing_db(ctx, int32(argv.get(2), None)?)?;
    let src_db = ctx.client.db;
    if dst_db == src_db {
        return Err(CmdError::err(SAME_OBJECT));
    }
    let key = argv.get(1);
    let mut shard = ctx.keyspace().lock_key(key);
    let Some(pos) = shard.db(src_db).find(key, ctx.fx) else {
        ctx.reply.int(0);
        return Ok(());
    };
    let taken = in_db(ctx.fx, dst_db, |fx| {
        shard
            .db_mut(dst_db)
            .is_some_and(|d| d.find(key, fx).is_some())
    });
    if taken {
        ctx.reply.int(0);
        return Ok(());
    }
    // `pos` is still valid: the lookup above ran on another database's table.
    let entry = shard.db(src_db).remove_at(pos);
    ctx.fx.notify_db(EventClass::NEW, "new", key, dst_db);
    shard.db(dst_db).put(entry);
    ctx.fx.notify(EventClass::GENERIC, "move_from", key);
    ctx.fx
        .notify_db(EventClass::GENERIC, "move_to", key, dst_db);
    drop(shard);
    ctx.fx.dirty += 1;
    ctx.reply.int(1);
    Ok(())
}

/// COPY source destination [DB n] [REPLACE] (behaves like `copyCommand()`): a deep copy
/// with the source's TTL and a fresh access time.
fn copy(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let (src, dst) = (argv.get(1), argv.get(2));
    let src_db = ctx.client.db;
    let mut dst_db = src_db;
    let mut replace = false;
    let mut j = 3;
    while j < argv.len() {
        let opt = argv.get(j);
        if is(opt, "replace") {
            replace = true;
        } else if is(opt, "db") && j + 1 < argv.len() {
            dst_db = existing_db(ctx, int32(argv.get(j + 1), None)?)?;
            j += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    if ctx.settings.cluster_enabled && (src_db != 0 || dst_db != 0) {
        return Err(CmdError::err(
            "Copying to another database is not allowed in cluster mode",
        ));
    }
    if src_db == dst_db && src == dst {
        return Err(CmdError::err(SAME_OBJECT));
    }
    let mut locked = ctx.keyspace().lock_keys([src, dst]);
    if locked.db(src, src_db).find_read(src, ctx.fx).is_none() {
        ctx.reply.int(0);
        return Ok(());
    }
    let dst_exists = in_db(ctx.fx, dst_db, |fx| {
        locked.db(dst, dst_db).find(dst, fx).is_some()
    });
    if dst_exists && !replace {
        ctx.reply.int(0);
        return Ok(());
    }
    // Looked up again by key: the destination lookup may have moved entries of this table.
    let source = locked
        .db(src, src_db)
        .peek(src)
        .expect("invariant: the source was found live under this lock");
    let duplicate = Entry {
        key: SmallBytes::from_slice(dst),
        value: source.value.clone(),
        expire_at: source.expire_at,
        lru: ctx.fx.new_lru_field(),
        str_encoding: source.str_encoding,
    };
    let target = locked.db(dst, dst_db);
    let replaced = target.remove(dst);
    ctx.fx.notify_db(EventClass::NEW, "new", dst, dst_db);
    target.put(duplicate);
    ctx.fx
        .notify_db(EventClass::GENERIC, "copy_to", dst, dst_db);
    drop(locked);
    ctx.fx.dirty += 1;
    ctx.reply.int(1);
    if let Some(old) = replaced {
        let effort = free_effort(&old.value);
        release(old, effort, || config_yes(ctx, "lazyfree-lazy-server-del"));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// KEYS SCAN RANDOMKEY DBSIZE
// ---------------------------------------------------------------------------------------

/// KEYS pattern (behaves like `keysCommand()`): every live key of the database that matches.
/// Expired keys are skipped, not deleted. Each shard is read under its own lock, so a key
/// present for the whole command is listed exactly once, but the listing is not one
/// point-in-time snapshot of the database as in single-threaded Redis.
fn keys(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let pattern = argv.get(1);
    let all = pattern == b"*";
    let db = ctx.client.db;
    let now = ctx.fx.now_ms;
    let keyspace = ctx.keyspace();
    let reply = &mut *ctx.reply;
    let header = reply.begin_deferred();
    let mut n = 0;
    keyspace.for_each_shard(|_, shard| {
        let Some(d) = shard.db_ref(db) else {
            return;
        };
        for e in d.entries() {
            if !e.is_expired(now) && (all || glob_match(pattern, &e.key, false)) {
                reply.bulk(&e.key);
                n += 1;
            }
        }
    });
    reply.end_deferred(header, Aggregate::Array, n);
    Ok(())
}

/// Bits of a SCAN cursor that hold the slot.
const SLOT_BITS: u32 = 14;
const _: () = assert!(1 << SLOT_BITS == SLOTS);

/// A position in a SCAN of one database: the slot shard being walked and the cursor inside
/// that shard's table ([`Db::scan`], Redis's reverse-binary cursor).
///
/// Encoded as `table << 14 | slot`, so 0 is the start (slot 0, table cursor 0) and a small
/// database gets small cursors; table cursors stay below the table's index size, so encoded
/// cursors fit comfortably in the signed 64-bit integers some clients parse them into.
/// Any 64-bit value decodes to a valid position (a client may send garbage).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ScanCursor {
    slot: usize,
    table: u64,
}

impl ScanCursor {
    fn decode(raw: u64) -> ScanCursor {
        ScanCursor {
            slot: (raw & (SLOTS as u64 - 1)) as usize,
            table: raw >> SLOT_BITS,
        }
    }

    fn encode(self) -> u64 {
        (self.table << SLOT_BITS) | self.slot as u64
    }
}

/// Walks the shards of database `db` from `cursor` (encoded), calling `step` on each
/// non-empty one with (its database, the table cursor to start from, how many more entries
/// to visit). `step` returns the next table cursor (0 when the table is done) and how many
/// entries it visited. Returns the cursor to resume from, 0 when the walk is complete.
///
/// Why the guarantee holds: a key lives in the shard of its slot for as long as it exists,
/// and every shard's table is walked from cursor 0 until its own scan returns 0 (across
/// calls, with the table free to grow or shrink in between), so a key present for the
/// whole iteration is visited at least once. A call stops after `count` visits or when one
/// table stops early (its own work bound), so its work is bounded by `count`, the shard
/// locks it takes one at a time, and one table scan.
fn scan_shards(
    keyspace: &Keyspace,
    db: usize,
    cursor: u64,
    count: usize,
    mut step: impl FnMut(&mut Db, u64, usize) -> (u64, usize),
) -> u64 {
    let ScanCursor {
        mut slot,
        mut table,
    } = ScanCursor::decode(cursor);
    let mut visited = 0;
    while slot < SLOTS && visited < count {
        let mut shard = keyspace.lock(Slot(slot as u16));
        if let Some(d) = shard.db_mut(db).filter(|d| !d.is_empty()) {
            let (next, seen) = step(d, table, count - visited);
            visited += seen;
            if next != 0 {
                return ScanCursor { slot, table: next }.encode();
            }
        }
        slot += 1;
        table = 0;
    }
    if slot >= SLOTS {
        0
    } else {
        ScanCursor { slot, table }.encode()
    }
}

/// Whether a key visited by SCAN is returned (step 3 of `scanGenericCommand()`): it must
/// have the wanted type, looked up as TYPE does (counted, not touched), and be live; an
/// expired key is deleted here as any lookup would.
fn scan_keeps(d: &mut Db, key: &[u8], type_name: Option<&[u8]>, fx: &mut Effects) -> bool {
    if let Some(want) = type_name {
        let found = d.find_with(key, fx, LookupFlags::NOTOUCH);
        let have = type_name_of(d, found);
        if !want.eq_ignore_ascii_case(have.as_bytes()) {
            return false;
        }
    }
    d.find_with(key, fx, SILENT_LOOKUP).is_some()
}

fn type_name_of(d: &Db, pos: Option<usize>) -> &'static str {
    type_name(pos.map(|p| d.at(p)))
}

/// One shard's part of a SCAN call: visits up to `budget` entries of `d` from table cursor
/// `table` and appends to `out` those that pass MATCH, TYPE and the expiry check. Returns
/// the next table cursor and how many entries were visited (filtered ones count, as in
/// Redis, so COUNT bounds work rather than results).
fn scan_shard(
    d: &mut Db,
    table: u64,
    budget: usize,
    opts: &ScanOptions<'_>,
    fx: &mut Effects,
    out: &mut Vec<SmallBytes>,
) -> (u64, usize) {
    let mut matched = Vec::new();
    let mut visited = 0;
    let next = d.scan(table, budget, |e| {
        visited += 1;
        if opts.matches(&e.key) {
            matched.push(e.key.clone());
        }
    });
    out.extend(
        matched
            .into_iter()
            .filter(|key| scan_keeps(d, key, opts.type_name, fx)),
    );
    (next, visited)
}

fn scan(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let cursor = parse_cursor(argv.get(1))?;
    let opts = ScanOptions::parse(argv, 2, true)?;
    let keyspace = ctx.keyspace();
    let fx = &mut *ctx.fx;
    let mut found = Vec::new();
    let next = scan_shards(
        keyspace,
        ctx.client.db,
        cursor,
        opts.count,
        |d, table, budget| scan_shard(d, table, budget, &opts, fx, &mut found),
    );
    ctx.reply.array(2);
    ctx.reply.bulk(itoa::Buffer::new().format(next).as_bytes());
    ctx.reply.array(found.len());
    for key in &found {
        ctx.reply.bulk(key);
    }
    Ok(())
}

/// Random shards RANDOMKEY tries before sweeping: enough that a database with keys in a
/// good share of the slots almost never needs the sweep.
const RANDOMKEY_PROBES: usize = 32;

/// A random live key of database `db` (behaves like `dbRandomKey()`): expired keys drawn
/// are deleted and another is drawn. First a few random shards are probed, which finds a
/// key at once in any sizeable database; a sparse database is then swept from a random
/// slot, so an empty one costs one pass over the shard locks, never a loop.
///
/// Keys are drawn uniformly within a shard, so a key alone in its slot is likelier than
/// one in a crowded slot; Redis's `dictGetFairRandomKey()` is not uniform either.
fn random_key(keyspace: &Keyspace, db: usize, fx: &mut Effects) -> Option<SmallBytes> {
    let mut rng = rand::rng();
    let mut pick = |slot: usize, rng: &mut rand::rngs::ThreadRng| {
        random_key_in(&mut keyspace.lock(Slot(slot as u16)), db, fx, rng)
    };
    for _ in 0..RANDOMKEY_PROBES {
        let slot = rng.random_range(0..SLOTS);
        if let Some(key) = pick(slot, &mut rng) {
            return Some(key);
        }
    }
    let start = rng.random_range(0..SLOTS);
    (0..SLOTS).find_map(|i| pick((start + i) % SLOTS, &mut rng))
}

/// A random live key of one shard's database `db`, deleting expired keys drawn.
fn random_key_in(
    shard: &mut ShardData,
    db: usize,
    fx: &mut Effects,
    rng: &mut impl Rng,
) -> Option<SmallBytes> {
    let d = shard.db_mut(db)?;
    while !d.is_empty() {
        let pos = rng.random_range(0..d.len());
        if !d.expire_if_due(pos, fx) {
            return Some(d.at(pos).key.clone());
        }
    }
    None
}

fn randomkey(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    match random_key(ctx.keyspace(), ctx.client.db, ctx.fx) {
        Some(key) => ctx.reply.bulk(&key),
        None => ctx.reply.null(),
    }
    Ok(())
}

/// DBSIZE: keys in the database, expired ones not yet removed included (as Redis).
fn dbsize(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    let (keys, _) = ctx.keyspace().db_size(ctx.client.db);
    ctx.reply.int(keys as i64);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// FLUSHDB FLUSHALL SWAPDB
// ---------------------------------------------------------------------------------------

/// Whether a flush frees in the background (behaves like `getFlushCommandFlags()`): ASYNC,
/// SYNC, or `lazyfree-lazy-user-flush` without an option.
fn flush_is_lazy(ctx: &Ctx<'_>, argv: &Argv<'_>) -> Result<bool, CmdError> {
    match argv.len() {
        1 => Ok(config_yes(ctx, "lazyfree-lazy-user-flush")),
        2 if is(argv.get(1), "sync") => Ok(false),
        2 if is(argv.get(1), "async") => Ok(true),
        _ => Err(CmdError::Syntax),
    }
}

/// FLUSHDB [ASYNC|SYNC]: empties the selected database under every shard lock; the keys
/// are freed after the locks are released. Every removed key counts as a change.
fn flushdb(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let lazy = flush_is_lazy(ctx, argv)?;
    let db = ctx.client.db;
    let mut taken = Vec::new();
    let mut removed = 0;
    // Every lock is taken before any is released (two-phase locking), so the flush is one
    // atomic step for every other command; each shard is released once it is emptied.
    let shards = ctx.keyspace().lock_all();
    stamp_forced(ctx, argv);
    touch_watched_in_db(ctx, &shards, db, None);
    for mut shard in shards {
        if let Some(d) = shard.take_db(db).filter(|d| !d.is_empty()) {
            removed += d.len();
            taken.push(d);
        }
    }
    ctx.fx.dirty += removed as u64;
    ctx.reply.ok();
    release(taken, removed, || lazy);
    Ok(())
}

/// FLUSHALL [ASYNC|SYNC]: empties every database, as FLUSHDB does one.
fn flushall(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let lazy = flush_is_lazy(ctx, argv)?;
    let mut taken = Vec::new();
    let mut removed = 0;
    let shards = ctx.keyspace().lock_all();
    stamp_forced(ctx, argv);
    for db in 0..ctx.keyspace().databases() {
        touch_watched_in_db(ctx, &shards, db, None);
    }
    for mut shard in shards {
        let keys = shard.key_count();
        if keys > 0 {
            removed += keys;
            taken.push(shard.take_contents());
        }
    }
    ctx.fx.dirty += removed as u64;
    ctx.server.after_flushall();
    ctx.reply.ok();
    release(taken, removed, || lazy);
    Ok(())
}

/// Under every shard lock: FLUSHDB / FLUSHALL / SWAPDB change the dataset without a
/// keyspace event, and are propagated even when there was nothing to remove (as Redis
/// forces them).
fn stamp_forced(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    ctx.fx.stamp();
    if ctx.fx.propagating() {
        let args: Vec<&[u8]> = argv.iter().collect();
        ctx.fx.rewrite_as(&args);
    }
}

/// Before database `db` is emptied, or swapped with `replaced_with`, marks the clients
/// watching its keys as Redis's `touchAllWatchedKeysInDb()` does. `shards` is every shard,
/// locked, in slot order.
fn touch_watched_in_db(
    ctx: &Ctx<'_>,
    shards: &[ShardGuard<'_>],
    db: usize,
    replaced_with: Option<usize>,
) {
    let now_ms = ctx.fx.now_ms;
    let entry = |key: &[u8], db: usize| {
        shards[key_slot(key).0 as usize]
            .db_ref(db)
            .and_then(|d| d.peek(key))
    };
    ctx.server.signals.touch_db(
        db,
        |key| entry(key, db).is_some(),
        |key| {
            replaced_with
                .and_then(|other| entry(key, other))
                .map(|e| e.is_expired(now_ms))
        },
    );
}

/// SWAPDB index1 index2 (behaves like `swapdbCommand()`): swaps the two databases in every
/// shard under all shard locks, so no command sees a half-swapped keyspace.
fn swapdb(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    if ctx.settings.cluster_enabled {
        return Err(CmdError::err("SWAPDB is not allowed in cluster mode"));
    }
    let a = int32(argv.get(1), Some("invalid first DB index"))?;
    let b = int32(argv.get(2), Some("invalid second DB index"))?;
    let (a, b) = (existing_db(ctx, a)?, existing_db(ctx, b)?);
    if a != b {
        let mut shards = ctx.keyspace().lock_all();
        stamp_forced(ctx, argv);
        touch_watched_in_db(ctx, &shards, a, Some(b));
        touch_watched_in_db(ctx, &shards, b, Some(a));
        for shard in shards.iter_mut() {
            shard.swap_dbs(a, b);
        }
        // Clients blocked on a key that now exists may be served (behaves like
        // `scanDatabaseForReadyKeys()`).
        for db in [a, b] {
            for key in ctx.server.blocking.keys_in(db) {
                let slot = key_slot(&key).0 as usize;
                if shards[slot].db_ref(db).and_then(|d| d.peek(&key)).is_some() {
                    ctx.fx.ready.push((db, key));
                }
            }
        }
    }
    if a == b {
        // Nothing moves, so no lock orders it; Redis still counts and propagates it.
        stamp_forced(ctx, argv);
    }
    ctx.fx.dirty += 1;
    ctx.reply.ok();
    Ok(())
}

// ---------------------------------------------------------------------------------------
// OBJECT
// ---------------------------------------------------------------------------------------

/// OBJECT HELP's lines after the header (from `objectCommand()`).
const OBJECT_HELP: &[&str] = &[
    "ENCODING <key>",
    "    Return the kind of internal representation used in order to store the value",
    "    associated with a <key>.",
    "FREQ <key>",
    "    Return the access frequency index of the <key>. The returned integer is",
    "    proportional to the logarithm of the recent access frequency of the key.",
    "IDLETIME <key>",
    "    Return the idle time of the <key>, that is the approximated number of",
    "    seconds elapsed since the last access to the key.",
    "REFCOUNT <key>",
    "    Return the number of references of the value associated with the specified",
    "    <key>.",
];

fn object_help(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    let r = &mut *ctx.reply;
    r.array(OBJECT_HELP.len() + 3);
    r.simple("OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:");
    for line in OBJECT_HELP {
        r.simple(line);
    }
    r.simple("HELP");
    r.simple("    Prints this help.");
    Ok(())
}

/// Runs `f` on the live entry of OBJECT's key, looked up without touching it or staging a
/// `keymiss` (behaves like `objectCommandLookup()`); replies null for a missing key.
fn object_lookup(
    ctx: &mut Ctx<'_>,
    argv: &Argv<'_>,
    f: impl FnOnce(&mut Ctx<'_>, &Entry) -> CmdResult,
) -> CmdResult {
    let key = argv.get(2);
    let mut shard = ctx.keyspace().lock_key(key);
    let d = shard.db(ctx.client.db);
    let flags = LookupFlags::NOTOUCH | LookupFlags::NONOTIFY;
    match d.find_with(key, ctx.fx, flags) {
        Some(pos) => f(ctx, d.at(pos)),
        None => {
            ctx.reply.null();
            Ok(())
        }
    }
}

/// Whether `maxmemory-policy` is an LFU policy (Redis's `MAXMEMORY_FLAG_LFU`).
fn lfu_policy(ctx: &Ctx<'_>) -> bool {
    ctx.settings.lfu.is_some()
}

fn object_encoding(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    object_lookup(ctx, argv, |ctx, e| {
        ctx.reply.bulk(e.encoding().as_bytes());
        Ok(())
    })
}

/// Values 0..this are Redis's shared integer objects (`OBJ_SHARED_INTEGERS`).
const SHARED_INTEGERS: i64 = 10_000;

/// The refcount Redis reports for a shared object (`OBJ_SHARED_REFCOUNT`, INT_MAX).
const SHARED_REFCOUNT: i64 = i32::MAX as i64;

/// OBJECT REFCOUNT: Redis stores small integer strings as references to shared objects
/// (`tryObjectEncoding()`), unless maxmemory is set with an LRU or LFU policy, which needs
/// a private access time per key; everything else has one reference.
fn object_refcount(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let policy = &ctx.settings.maxmemory_policy;
    let sharing = ctx.settings.maxmemory == 0 || !(policy.ends_with("-lru") || lfu_policy(ctx));
    object_lookup(ctx, argv, |ctx, e| {
        let shared = sharing
            && matches!(&e.value, Value::Str(s) if e.encoding() == "int"
                && parse_i64(s).is_some_and(|n| (0..SHARED_INTEGERS).contains(&n)));
        ctx.reply.int(if shared { SHARED_REFCOUNT } else { 1 });
        Ok(())
    })
}

/// Largest value of the 24-bit LRU clock (Redis's `LRU_CLOCK_MAX`).
const LRU_CLOCK_MAX: u32 = (1 << 24) - 1;

/// Seconds since the entry was last accessed (behaves like `estimateObjectIdleTime()`,
/// including its handling of a clock that wrapped).
fn idle_seconds(lru_clock: u32, entry_lru: u32) -> u64 {
    if lru_clock >= entry_lru {
        u64::from(lru_clock - entry_lru)
    } else {
        u64::from(lru_clock) + u64::from(LRU_CLOCK_MAX - entry_lru)
    }
}

fn object_idletime(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    object_lookup(ctx, argv, |ctx, e| {
        if lfu_policy(ctx) {
            return Err(CmdError::err(
                "An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.",
            ));
        }
        let idle = idle_seconds(ctx.fx.lru_clock, e.lru);
        ctx.reply.int(idle as i64);
        Ok(())
    })
}

/// OBJECT FREQ: the key's LFU counter after its idle decay, not counting this lookup.
fn object_freq(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    object_lookup(ctx, argv, |ctx, e| {
        let Some(lfu) = ctx.settings.lfu else {
            return Err(CmdError::err(
                "An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.",
            ));
        };
        let freq = crate::keyspace::lfu::counter(e.lru, ctx.fx.now_ms, lfu.decay_minutes);
        ctx.reply.int(i64::from(freq));
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    #[test]
    fn cursor_encoding_round_trips() {
        assert_eq!(ScanCursor::decode(0), ScanCursor { slot: 0, table: 0 });
        for c in [
            ScanCursor { slot: 0, table: 5 },
            ScanCursor {
                slot: 16383,
                table: 0,
            },
            ScanCursor {
                slot: 77,
                table: (1 << 40) + 3,
            },
        ] {
            assert_eq!(ScanCursor::decode(c.encode()), c);
        }
        // Any value a client sends decodes to a position in range.
        let c = ScanCursor::decode(u64::MAX);
        assert_eq!(c.slot, SLOTS - 1);
        assert_eq!(c.table, u64::MAX >> SLOT_BITS);
    }

    #[test]
    fn idle_time_handles_a_wrapped_clock() {
        assert_eq!(idle_seconds(100, 40), 60);
        assert_eq!(idle_seconds(10, LRU_CLOCK_MAX - 5), 15);
    }

    /// Stores a string under `key` in database 0, expiring at `expire_at` (0 = never).
    fn put_expiring(ks: &Keyspace, key: &str, expire_at: i64) {
        let k = key.as_bytes();
        let mut e = Entry::new(k, Value::Str(SmallBytes::from_slice(b"v")), 0);
        e.expire_at = expire_at;
        ks.lock_key(k).db(0).put(e);
    }

    fn put(ks: &Keyspace, key: &str) {
        put_expiring(ks, key, 0);
    }

    /// A whole SCAN of database 0 with these options, as the command runs it.
    fn scan_with(ks: &Keyspace, opts: &ScanOptions<'_>, fx: &mut Effects) -> Vec<String> {
        let mut out = Vec::new();
        let mut cursor = 0;
        loop {
            cursor = scan_shards(ks, 0, cursor, opts.count, |d, table, budget| {
                scan_shard(d, table, budget, opts, fx, &mut out)
            });
            if cursor == 0 {
                break;
            }
        }
        let mut keys: Vec<String> = out
            .iter()
            .map(|k| String::from_utf8_lossy(k).into_owned())
            .collect();
        keys.sort();
        keys
    }

    #[test]
    fn scan_filters_by_match_and_type_and_drops_expired_keys() {
        let ks = Keyspace::new(1);
        put(&ks, "live");
        put(&ks, "other");
        put_expiring(&ks, "late", 5_000);
        put_expiring(&ks, "dead", 500);
        let mut fx = Effects::new(1_000, 0, EventClass::KEYEVENT | EventClass::EXPIRED);
        let mut opts = ScanOptions {
            count: 2,
            pattern: None,
            type_name: None,
        };
        assert_eq!(scan_with(&ks, &opts, &mut fx), ["late", "live", "other"]);
        // The expired key was deleted and reported, as a lookup would.
        assert_eq!(fx.expired_keys, 1);
        assert_eq!(fx.events.len(), 1);
        assert_eq!(ks.db_size(0), (3, 1));

        opts.pattern = Some(b"l*");
        assert_eq!(scan_with(&ks, &opts, &mut fx), ["late", "live"]);
        opts.pattern = None;
        opts.type_name = Some(b"STRING");
        assert_eq!(scan_with(&ks, &opts, &mut fx), ["late", "live", "other"]);
        assert_eq!(fx.keyspace_hits, 3);
        opts.type_name = Some(b"hash");
        assert!(scan_with(&ks, &opts, &mut fx).is_empty());
    }

    #[test]
    fn random_key_skips_and_deletes_expired_keys() {
        let ks = Keyspace::new(2);
        let mut fx = Effects::new(1_000, 0, EventClass::empty());
        assert_eq!(random_key(&ks, 0, &mut fx), None);
        put_expiring(&ks, "dead", 500);
        assert_eq!(random_key(&ks, 0, &mut fx), None);
        assert_eq!(fx.expired_keys, 1);
        assert_eq!(ks.db_size(0), (0, 0));
        put(&ks, "k");
        put_expiring(&ks, "dead", 500);
        for _ in 0..10 {
            assert_eq!(random_key(&ks, 0, &mut fx).as_deref(), Some(&b"k"[..]));
        }
        assert_eq!(random_key(&ks, 1, &mut fx), None);
    }

    fn remove(ks: &Keyspace, key: &str) {
        ks.lock_key(key.as_bytes()).db(0).remove(key.as_bytes());
    }

    /// One full SCAN with `count`, running `between` after every call.
    fn full_scan(ks: &Keyspace, count: usize, mut between: impl FnMut()) -> Vec<String> {
        let mut seen = Vec::new();
        let mut cursor = 0;
        for _ in 0..1_000_000 {
            cursor = scan_shards(ks, 0, cursor, count, |d, table, budget| {
                let mut n = 0;
                let next = d.scan(table, budget, |e| {
                    n += 1;
                    seen.push(String::from_utf8_lossy(&e.key).into_owned());
                });
                (next, n)
            });
            if cursor == 0 {
                return seen;
            }
            between();
        }
        panic!("SCAN did not terminate");
    }

    #[test]
    fn empty_and_small_databases_finish_in_one_call() {
        let ks = Keyspace::new(2);
        let mut calls = 0;
        assert!(full_scan(&ks, 10, || calls += 1).is_empty());
        for k in ["a", "b", "c"] {
            put(&ks, k);
        }
        let mut seen = full_scan(&ks, 10, || calls += 1);
        seen.sort();
        assert_eq!(seen, ["a", "b", "c"]);
        assert_eq!(calls, 0);
    }

    #[test]
    fn scan_returns_each_key_once_without_churn() {
        let ks = Keyspace::new(1);
        let keys: Vec<String> = (0..3000).map(|i| format!("{{t{}}}k{i}", i % 7)).collect();
        for k in &keys {
            put(&ks, k);
        }
        let mut seen = full_scan(&ks, 13, || {});
        seen.sort();
        let mut want = keys.clone();
        want.sort();
        assert_eq!(seen, want);
    }

    /// Keys that share a hash tag share a slot, so tables grow and shrink under churn.
    fn key_name(tag: u8, n: u32) -> String {
        format!("{{tag{tag}}}{n}")
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Every key present for the whole SCAN is returned, while other keys are added and
        /// removed between calls (resizing the tables) and the COUNT hint varies.
        #[test]
        fn scan_returns_keys_present_throughout(
            stable in prop::collection::btree_set((0u8..6, 0u32..400), 1..150),
            churn in prop::collection::vec((any::<bool>(), 0u8..6, 1000u32..3000), 0..600),
            count in 1usize..40,
        ) {
            let ks = Keyspace::new(1);
            let stable: BTreeSet<String> =
                stable.iter().map(|&(t, n)| key_name(t, n)).collect();
            for k in &stable {
                put(&ks, k);
            }
            let mut ops = churn.iter();
            let seen: BTreeSet<String> = full_scan(&ks, count, || {
                for (add, tag, n) in ops.by_ref().take(7) {
                    let k = key_name(*tag, *n);
                    if *add { put(&ks, &k) } else { remove(&ks, &k) }
                }
            })
            .into_iter()
            .collect();
            for k in &stable {
                prop_assert!(seen.contains(k), "missing {}", k);
            }
        }
    }
}
