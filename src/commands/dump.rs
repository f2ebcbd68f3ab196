//! DUMP and RESTORE (behaves like `dumpCommand()` / `restoreCommand()` of Redis 7.0's
//! cluster.c): values serialized in RDB form with the version and a CRC64, so payloads move
//! between Tessera and Redis 7.0 in both directions.

use super::args::{self, is};
use super::{CmdError, CmdResult, Ctx, Handler};
use crate::keyspace::EventClass;
use crate::persistence::rdb::dump;
use crate::protocol::Argv;

/// RESTORE-ASKING is RESTORE flagged `asking` (MIGRATE sends it to importing nodes).
pub(super) const HANDLERS: &[(&str, Handler)] = &[
    ("dump", dump_cmd),
    ("restore", restore),
    ("restore-asking", restore),
];

/// The 24-bit LRU clock wraps at this value (Redis's `LRU_CLOCK_MAX`).
const LRU_CLOCK_MAX: u32 = (1 << 24) - 1;

/// DUMP key: the payload, or a null reply for a missing key.
fn dump_cmd(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let key = argv.get(1);
    let compress = ctx.settings.rdb_compression;
    let mut shard = ctx.keyspace().lock_key(key);
    let d = shard.db(ctx.client.db);
    let Some(pos) = d.find_read(key, ctx.fx) else {
        ctx.reply.null();
        return Ok(());
    };
    let payload = dump::payload(&d.at(pos).value, compress);
    drop(shard);
    ctx.reply.bulk(&payload);
    Ok(())
}

/// What RESTORE's options ask for.
#[derive(Default)]
struct RestoreOptions {
    replace: bool,
    absttl: bool,
    /// Seconds idle to set (IDLETIME).
    idle: Option<u64>,
    /// The LFU counter to set (FREQ).
    freq: Option<u8>,
}

fn parse_options(argv: &Argv<'_>) -> Result<RestoreOptions, CmdError> {
    let mut opts = RestoreOptions::default();
    let mut j = 4;
    while j < argv.len() {
        let opt = argv.get(j);
        let value = argv.try_get(j + 1);
        if is(opt, "replace") {
            opts.replace = true;
        } else if is(opt, "absttl") {
            opts.absttl = true;
        } else if let Some(v) = value.filter(|_| is(opt, "idletime") && opts.freq.is_none()) {
            let idle = args::int(v)?;
            if idle < 0 {
                return Err(CmdError::err("Invalid IDLETIME value, must be >= 0"));
            }
            opts.idle = Some(idle as u64);
            j += 1;
        } else if let Some(v) = value.filter(|_| is(opt, "freq") && opts.idle.is_none()) {
            let freq = args::int(v)?;
            if !(0..=255).contains(&freq) {
                return Err(CmdError::err("Invalid FREQ value, must be >= 0 and <= 255"));
            }
            opts.freq = Some(freq as u8);
            j += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    Ok(opts)
}

/// RESTORE key ttl payload [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency].
fn restore(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let opts = parse_options(argv)?;
    let key = argv.get(1);
    let db = ctx.client.db;
    let limits = ctx.settings.encoding_limits();
    let lfu = ctx.settings.lfu.is_some();
    let mut shard = ctx.keyspace().lock_key(key);
    let d = shard.db(db);
    if !opts.replace && d.find(key, ctx.fx).is_some() {
        return Err(CmdError::Raw(
            "BUSYKEY Target key name already exists.".to_string(),
        ));
    }
    let mut ttl = args::int(argv.get(2))?;
    if ttl < 0 {
        return Err(CmdError::err("Invalid TTL value, must be >= 0"));
    }
    let body = dump::verify(argv.get(3))
        .ok_or_else(|| CmdError::err("DUMP payload version or checksum are wrong"))?;
    let value = dump::read_value(body, &limits).map_err(|_| CmdError::err("Bad data format"))?;
    let deleted = opts.replace && d.remove(key).is_some();
    if ttl != 0 && !opts.absttl {
        // Wrapping, as Redis's signed addition does on x86-64: a TTL near the 64-bit limit
        // becomes a time in the past and the key is not created.
        ttl = ttl.wrapping_add(ctx.fx.now_ms);
    }
    if ttl != 0 && ttl <= ctx.fx.now_ms {
        if deleted {
            ctx.fx.notify(EventClass::GENERIC, "del", key);
            ctx.fx.rewrite_as(&[b"DEL", key]);
            ctx.fx.dirty += 1;
        }
        ctx.reply.ok();
        return Ok(());
    }
    let pos = d.add(key, value, ctx.fx);
    if ttl != 0 {
        d.set_expire(pos, ttl);
    }
    if let Some(idle) = opts.idle.filter(|_| !lfu) {
        d.at_mut(pos).lru = idle_clock(ctx.fx.lru_clock, idle);
    }
    if let Some(freq) = opts.freq.filter(|_| lfu) {
        d.at_mut(pos).lru = crate::keyspace::lfu::with_counter(ctx.fx.now_ms, freq);
    }
    ctx.fx.notify(EventClass::GENERIC, "restore", key);
    if ttl != 0 && !opts.absttl && ctx.fx.propagating() {
        // The absolute time, ABSTTL appended last (as `restoreCommand()` rewrites it).
        let mut at_buf = itoa::Buffer::new();
        let at = at_buf.format(ttl);
        let mut args: Vec<&[u8]> = vec![b"RESTORE", key, at.as_bytes()];
        args.extend(argv.iter().skip(3));
        args.push(b"ABSTTL");
        ctx.fx.rewrite_as(&args);
    }
    ctx.fx.dirty += 1;
    drop(shard);
    ctx.reply.ok();
    Ok(())
}

/// The LRU clock value of a key idle for `idle` seconds (behaves like
/// `objectSetLRUOrLFU()`: an idle time beyond the clock wraps around).
fn idle_clock(clock: u32, idle: u64) -> u32 {
    let clock = u64::from(clock);
    let max = u64::from(LRU_CLOCK_MAX);
    let at = if idle <= clock {
        clock - idle
    } else {
        (clock + max / 2).wrapping_sub(idle) & max
    };
    at as u32
}
