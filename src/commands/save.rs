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

/// BGSAVE [SCHEDULE]. With no other background work to wait for, SCHEDULE starts at once.
fn bgsave(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    if argv.len() > 2 || (argv.len() == 2 && !is(argv.get(1), "schedule")) {
        return Err(CmdError::Syntax);
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
