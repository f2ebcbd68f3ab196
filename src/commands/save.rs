//! SAVE and BGSAVE (behaves like `saveCommand()` / `bgsaveCommand()`): both write the RDB
//! file from a fork-free snapshot; SAVE waits for it, BGSAVE returns at once. BGREWRITEAOF
//! writes the AOF's new base the same way.

use super::args::is;
use super::{CmdError, CmdResult, Ctx, Handler};
use crate::persistence::save::SaveError;
use crate::protocol::Argv;
use std::sync::atomic::Ordering::Relaxed;

pub(super) const HANDLERS: &[(&str, Handler)] = &[
    ("save", save),
    ("bgsave", bgsave),
    ("bgrewriteaof", bgrewriteaof),
];

fn save(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    match ctx.server.save_now() {
        Ok(()) => ctx.reply.ok(),
        Err(SaveError::Busy) => return Err(CmdError::err("Background save already in progress")),
        // Redis replies a bare "ERR"; the reason is in the log.
        Err(_) => return Err(CmdError::Raw("ERR".to_string())),
    }
    Ok(())
}

/// BGSAVE [SCHEDULE] (behaves like `bgsaveCommand()`): while an AOF rewrite runs, or
/// inside a transaction, SCHEDULE (or the transaction) schedules it for when it can run.
fn bgsave(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    if argv.len() > 2 || (argv.len() == 2 && !is(argv.get(1), "schedule")) {
        return Err(CmdError::Syntax);
    }
    let schedule = argv.len() == 2;
    if ctx.server.rdb.bgsave_in_progress.load(Relaxed) {
        return Err(CmdError::err("Background save already in progress"));
    }
    // One snapshot at a time: an AOF rewrite is Redis's other child process.
    if ctx.server.aof.rewrite_in_progress.load(Relaxed) || ctx.client.in_exec {
        if !(schedule || ctx.client.in_exec) {
            return Err(CmdError::err(
                "Another child process is active (AOF?): can't BGSAVE right now. Use BGSAVE SCHEDULE in order to schedule a BGSAVE whenever possible.",
            ));
        }
        ctx.server.rdb.bgsave_scheduled.store(true, Relaxed);
        ctx.reply.simple("Background saving scheduled");
        return Ok(());
    }
    let Some(server) = ctx.server.handle() else {
        return Err(CmdError::Raw("ERR".to_string()));
    };
    match server.start_bgsave() {
        Ok(()) => ctx.reply.simple("Background saving started"),
        Err(SaveError::Busy) => return Err(CmdError::err("Background save already in progress")),
        Err(_) => return Err(CmdError::Raw("ERR".to_string())),
    }
    Ok(())
}

/// BGREWRITEAOF (behaves like `bgrewriteaofCommand()`): a new base from a snapshot; while a
/// background save runs, or inside a transaction, it is scheduled instead.
fn bgrewriteaof(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) -> CmdResult {
    let aof = &ctx.server.aof;
    if aof.rewrite_in_progress.load(Relaxed) {
        return Err(CmdError::err(
            "Background append only file rewriting already in progress",
        ));
    }
    if ctx.client.in_exec || ctx.server.rdb.bgsave_in_progress.load(Relaxed) {
        aof.rewrite_scheduled.store(true, Relaxed);
        ctx.reply
            .simple("Background append only file rewriting scheduled");
        return Ok(());
    }
    let started = ctx.server.handle().is_some_and(|s| s.start_aof_rewrite());
    if !started {
        return Err(CmdError::err(
            "Can't execute an AOF background rewriting. Please check the server logs for more information.",
        ));
    }
    ctx.reply
        .simple("Background append only file rewriting started");
    Ok(())
}
