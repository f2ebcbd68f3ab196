//! Server commands: INFO CONFIG TIME DEBUG MEMORY SLOWLOG LATENCY MONITOR SHUTDOWN LASTSAVE
//! (behaves like Redis's `infoCommand()`, config.c, debug.c, slowlog.c, latency.c,
//! `shutdownCommand()`).

use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use super::args::{self, is};
use super::connection::reply_help;
use super::{CmdError, CmdResult, Ctx, Handler};
use crate::keyspace::{Entry, Value};
use crate::protocol::Argv;
use crate::server::client::{ConnAction, flags};
use crate::server::info;
use crate::util::clock;

pub(super) const HANDLERS: &[(&str, Handler)] = &[
    ("info", info_cmd),
    ("config|help", config_help),
    ("config|get", config_get),
    ("config|set", config_set),
    ("config|resetstat", config_resetstat),
    ("config|rewrite", config_rewrite),
    ("time", time),
    ("lastsave", lastsave),
    ("debug", debug),
    ("memory|help", memory_help),
    ("memory|usage", memory_usage),
    ("slowlog|help", slowlog_help),
    ("slowlog|get", slowlog_get),
    ("slowlog|len", slowlog_len),
    ("slowlog|reset", slowlog_reset),
    ("latency|help", latency_help),
    ("latency|latest", latency_latest),
    ("latency|history", latency_history),
    ("latency|reset", latency_reset),
    ("monitor", monitor),
    ("shutdown", shutdown),
];

/// `unknown subcommand or wrong number of arguments for 'x'. Try CMD HELP.`
pub(super) fn subcommand_syntax_error(argv: &Argv<'_>) -> CmdError {
    let cmd = String::from_utf8_lossy(argv.get(0)).to_ascii_uppercase();
    let sub = argv.try_get(1).unwrap_or(b"");
    CmdError::err(format!(
        "unknown subcommand or wrong number of arguments for '{}'. Try {cmd} HELP.",
        String::from_utf8_lossy(&sub[..sub.len().min(128)])
    ))
}

fn info_cmd(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let sections: Vec<&[u8]> = argv.iter().skip(1).collect();
    let text = info::generate(ctx.server, &info::select_sections(&sections));
    ctx.reply.verbatim(text.as_bytes(), "txt");
    Ok(())
}

const CONFIG_HELP: &[&str] = &[
    "GET <pattern>",
    "    Return parameters matching the glob-like <pattern> and their values.",
    "SET <directive> <value>",
    "    Set the configuration <directive> to <value>.",
    "RESETSTAT",
    "    Reset statistics reported by the INFO command.",
    "REWRITE",
    "    Rewrite the configuration file.",
];

fn config_help(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    reply_help(ctx, argv, CONFIG_HELP);
    Ok(())
}

fn config_get(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let patterns: Vec<&[u8]> = argv.iter().skip(2).collect();
    let pairs = ctx.server.config.get_matching(&patterns);
    ctx.reply.map(pairs.len());
    for (k, v) in pairs {
        ctx.reply.bulk(k.as_bytes());
        ctx.reply.bulk(v.as_bytes());
    }
    Ok(())
}

fn config_set(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    if argv.len() % 2 == 1 {
        return Err(CmdError::Syntax);
    }
    let pairs: Vec<(&[u8], &[u8])> = (2..argv.len())
        .step_by(2)
        .map(|i| (argv.get(i), argv.get(i + 1)))
        .collect();
    let allow_protected = crate::server::dispatch::protected_action_allowed(
        &ctx.server.config.get("enable-protected-configs"),
        &ctx.client.shared.addr,
    );
    ctx.server
        .config
        .set_many(&pairs, allow_protected)
        .map_err(CmdError::Raw)?;
    apply_config_changes(ctx);
    ctx.reply.ok();
    Ok(())
}

/// Effects of a CONFIG SET that live outside the settings snapshot.
fn apply_config_changes(ctx: &Ctx<'_>) {
    let settings = ctx.server.config.settings();
    crate::server::log::set_level(settings.loglevel);
    ctx.server.slowlog.trim(settings.slowlog_max_len);
    if let Some(server) = ctx.server.handle() {
        server.apply_aof_settings();
    }
}

fn config_resetstat(ctx: &mut Ctx<'_>, _: &Argv<'_>) -> CmdResult {
    ctx.server.stats.reset();
    ctx.server.clients.total_connections.store(0, Relaxed);
    ctx.server.clients.rejected_connections.store(0, Relaxed);
    ctx.server.expire_cycle_ms.store(0, Relaxed);
    ctx.reply.ok();
    Ok(())
}

fn config_rewrite(ctx: &mut Ctx<'_>, _: &Argv<'_>) -> CmdResult {
    ctx.server.config.rewrite().map_err(CmdError::Raw)?;
    tracing::info!("CONFIG REWRITE executed with success.");
    ctx.reply.ok();
    Ok(())
}

fn time(ctx: &mut Ctx<'_>, _: &Argv<'_>) -> CmdResult {
    let us = clock::now_us();
    ctx.reply.array(2);
    ctx.reply.bulk_int(us / 1_000_000);
    ctx.reply.bulk_int(us % 1_000_000);
    Ok(())
}

fn lastsave(ctx: &mut Ctx<'_>, _: &Argv<'_>) -> CmdResult {
    ctx.reply.int(ctx.server.lastsave_secs.load(Relaxed));
    Ok(())
}

const DEBUG_HELP: &[&str] = &[
    "LOG <message>",
    "    Write <message> to the server log.",
    "OBJECT <key>",
    "    Show low level info about the `key` and associated value.",
    "RELOAD [option ...]",
    "    Save the RDB on disk and reload it back to memory. Valid <option> values:",
    "    * MERGE: conflicting keys will be loaded from RDB.",
    "    * NOFLUSH: the existing database will not be removed before load, but",
    "      conflicting keys will generate an exception and kill the server.",
    "    * NOSAVE: the database will be loaded from an existing RDB file.",
    "    Examples:",
    "    * DEBUG RELOAD: verify that the server is able to persist, flush and reload",
    "      the database.",
    "    * DEBUG RELOAD NOSAVE: replace the current database with the contents of an",
    "      existing RDB file.",
    "    * DEBUG RELOAD NOSAVE NOFLUSH MERGE: add the contents of an existing RDB",
    "      file to the database.",
    "SET-ACTIVE-EXPIRE <0|1>",
    "    Setting it to 0 disables expiring keys in background when they are not",
    "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
    "    default.",
    "SLEEP <seconds>",
    "    Stop the server for <seconds>. Decimals allowed.",
];

fn debug(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let sub = argv.get(1);
    if argv.len() == 2 && is(sub, "help") {
        reply_help(ctx, argv, DEBUG_HELP);
    } else if argv.len() == 3 && is(sub, "sleep") {
        let secs = crate::protocol::float::LongDouble::parse(argv.get(2))
            .map(|d| d.to_f64())
            .filter(|d| d.is_finite())
            .ok_or(CmdError::NotFloat)?;
        // Redis stops the whole server; this stops the worker thread running the command
        // (all its connections), and the time counts as the command's own, so the slow
        // log and the latency monitor see it as in Redis.
        let us = (secs * 1e6).clamp(0.0, 1e12) as u64;
        std::thread::sleep(Duration::from_micros(us));
        ctx.reply.ok();
    } else if argv.len() == 3 && is(sub, "set-active-expire") {
        let on = args::int(argv.get(2))? != 0;
        ctx.server.active_expire_enabled.store(on, Relaxed);
        ctx.reply.ok();
    } else if argv.len() == 3 && is(sub, "object") {
        let key = argv.get(2);
        let db = ctx.client.db;
        let shard = ctx.keyspace().lock_key(key);
        let Some(e) = shard.db_ref(db).and_then(|d| d.peek(key)) else {
            return Err(CmdError::NoSuchKey);
        };
        let idle = clock::now_ms() / 1000 % (1 << 24) - e.lru as i64;
        let line = format!(
            "Value at:{:p} refcount:1 encoding:{} serializedlength:{} lru:{} lru_seconds_idle:{}",
            e as *const Entry,
            e.encoding(),
            serialized_length(&e.value),
            e.lru,
            idle.max(0)
        );
        ctx.reply.simple(&line);
    } else if is(sub, "reload") {
        let (mut save, mut flush, mut merge) = (true, true, false);
        for opt in argv.iter().skip(2) {
            if is(opt, "merge") {
                merge = true;
            } else if is(opt, "noflush") {
                flush = false;
            } else if is(opt, "nosave") {
                save = false;
            } else {
                return Err(CmdError::err(
                    "DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.",
                ));
            }
        }
        ctx.server
            .debug_reload(save, flush, merge)
            .map_err(|e| CmdError::Raw(e.to_string()))?;
        ctx.reply.ok();
    } else if argv.len() >= 3 && is(sub, "log") {
        tracing::warn!("DEBUG LOG: {}", args::text(argv.get(2)));
        ctx.reply.ok();
    } else {
        return Err(subcommand_syntax_error(argv));
    }
    Ok(())
}

/// An estimate of the value's RDB encoding length (DEBUG OBJECT `serializedlength`).
fn serialized_length(v: &Value) -> usize {
    let len_prefix = |n: usize| match n {
        0..64 => 1,
        64..16384 => 2,
        _ => 5,
    };
    match v {
        Value::Str(s) => {
            if s.len() <= 11 && crate::protocol::parse::parse_i64(s).is_some() {
                let n = crate::protocol::parse::parse_i64(s).unwrap_or(0);
                if (-128..128).contains(&n) {
                    2
                } else if (-32768..32768).contains(&n) {
                    3
                } else {
                    5
                }
            } else {
                len_prefix(s.len()) + s.len()
            }
        }
        Value::Hash(h) => {
            h.pairs()
                .iter()
                .map(|(f, v)| len_prefix(f.len()) + f.len() + len_prefix(v.len()) + v.len())
                .sum::<usize>()
                + len_prefix(h.len())
        }
        Value::Set(s) => {
            s.members()
                .iter()
                .map(|m| len_prefix(m.len()) + m.len())
                .sum::<usize>()
                + len_prefix(s.len())
        }
        Value::List(l) => {
            l.items()
                .iter()
                .map(|m| len_prefix(m.len()) + m.len())
                .sum::<usize>()
                + len_prefix(l.len())
        }
        Value::ZSet(z) => {
            z.iter()
                .map(|(m, _)| len_prefix(m.len()) + m.len() + 9)
                .sum::<usize>()
                + len_prefix(z.len())
        }
    }
}

const MEMORY_HELP: &[&str] = &[
    "USAGE <key> [SAMPLES <count>]",
    "    Return memory in bytes used by <key> and its value. Nested values are",
    "    sampled up to <count> times (default: 5, 0 means sample all).",
];

fn memory_help(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    reply_help(ctx, argv, MEMORY_HELP);
    Ok(())
}

fn memory_usage(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let mut j = 3;
    while j < argv.len() {
        if is(argv.get(j), "samples") && j + 1 < argv.len() {
            if args::int(argv.get(j + 1))? < 0 {
                return Err(CmdError::Syntax);
            }
            j += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let key = argv.get(2);
    let db = ctx.client.db;
    let shard = ctx.keyspace().lock_key(key);
    match shard.db_ref(db).and_then(|d| d.peek(key)) {
        Some(e) => {
            // The entry itself, its share of the table index, and what it owns.
            let bytes = std::mem::size_of::<Entry>() + 16 + e.key.heap_size() + e.value.heap_size();
            ctx.reply.int(bytes as i64);
        }
        None => ctx.reply.null(),
    }
    Ok(())
}

const SLOWLOG_HELP: &[&str] = &[
    "GET [<count>]",
    "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
    "    Entries are made of:",
    "    id, timestamp, time in microseconds, arguments array, client IP and port,",
    "    client name",
    "LEN",
    "    Return the length of the slowlog.",
    "RESET",
    "    Reset the slowlog.",
];

fn slowlog_help(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    reply_help(ctx, argv, SLOWLOG_HELP);
    Ok(())
}

fn slowlog_get(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let count = match argv.try_get(2) {
        None => Some(10),
        Some(a) => match crate::protocol::parse::parse_i64(a) {
            Some(-1) => None,
            Some(n) if n >= 0 => Some(n as usize),
            _ => {
                return Err(CmdError::err("count should be greater than or equal to -1"));
            }
        },
    };
    let entries = ctx.server.slowlog.get(count);
    let r = &mut *ctx.reply;
    r.array(entries.len());
    for e in entries {
        r.array(6);
        r.int(e.id as i64);
        r.int(e.time_secs);
        r.int(e.duration_us as i64);
        r.array(e.args.len());
        for a in &e.args {
            r.bulk(a);
        }
        r.bulk(e.client_addr.as_bytes());
        r.bulk(&e.client_name);
    }
    Ok(())
}

fn slowlog_len(ctx: &mut Ctx<'_>, _: &Argv<'_>) -> CmdResult {
    ctx.reply.int(ctx.server.slowlog.len() as i64);
    Ok(())
}

fn slowlog_reset(ctx: &mut Ctx<'_>, _: &Argv<'_>) -> CmdResult {
    ctx.server.slowlog.reset();
    ctx.reply.ok();
    Ok(())
}

const LATENCY_HELP: &[&str] = &[
    "HISTORY <event>",
    "    Return time-latency samples for the <event> class.",
    "LATEST",
    "    Return the latest latency samples for all events.",
    "RESET [<event> ...]",
    "    Reset latency data of one or more <event> classes.",
    "    (default: reset all data for all event classes)",
];

fn latency_help(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    reply_help(ctx, argv, LATENCY_HELP);
    Ok(())
}

fn latency_latest(ctx: &mut Ctx<'_>, _: &Argv<'_>) -> CmdResult {
    let all = ctx.server.latency.all();
    ctx.reply.array(all.len());
    for (event, series) in all {
        let (t, last) = series.samples.back().copied().unwrap_or((0, 0));
        ctx.reply.array(4);
        ctx.reply.bulk(event.as_bytes());
        ctx.reply.int(t);
        ctx.reply.int(last as i64);
        ctx.reply.int(series.max_ms as i64);
    }
    Ok(())
}

fn latency_history(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    match ctx.server.latency.history(argv.get(2)) {
        None => ctx.reply.array(0),
        Some(series) => {
            ctx.reply.array(series.samples.len());
            for (t, ms) in series.samples {
                ctx.reply.array(2);
                ctx.reply.int(t);
                ctx.reply.int(ms as i64);
            }
        }
    }
    Ok(())
}

fn latency_reset(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let names: Vec<&[u8]> = argv.iter().skip(2).collect();
    let n = ctx.server.latency.reset(&names);
    ctx.reply.int(n as i64);
    Ok(())
}

fn monitor(ctx: &mut Ctx<'_>, _: &Argv<'_>) -> CmdResult {
    // COMPAT(redis 7.0): a client already monitoring gets no reply at all.
    if ctx.client.monitor {
        return Ok(());
    }
    ctx.client.monitor = true;
    ctx.client.shared.set_flag(flags::MONITOR, true);
    ctx.server.monitors.add(ctx.client.shared.clone());
    ctx.reply.ok();
    Ok(())
}

fn shutdown(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    let (mut nosave, mut save, mut abort, mut other) = (false, false, false, false);
    let mut force = false;
    for a in argv.iter().skip(1) {
        if is(a, "nosave") {
            nosave = true;
        } else if is(a, "save") {
            save = true;
        } else if is(a, "now") {
            other = true;
        } else if is(a, "force") {
            other = true;
            force = true;
        } else if is(a, "abort") {
            abort = true;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    if (abort && (nosave || save || other)) || (nosave && save) {
        return Err(CmdError::Syntax);
    }
    if abort {
        return Err(CmdError::err("No shutdown in progress."));
    }
    if let Err(e) = ctx.server.shutdown_save(save, nosave) {
        tracing::warn!("Error trying to save the DB: {e}");
        if !force {
            return Err(CmdError::err("Errors trying to SHUTDOWN. Check logs."));
        }
    }
    ctx.client.action = Some(ConnAction::Shutdown);
    Ok(())
}
