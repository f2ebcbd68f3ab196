//! SAVE and BGSAVE (behaves like `saveCommand()` / `bgsaveCommand()`): both write the RDB
//! file from a fork-free snapshot; SAVE waits for it, BGSAVE returns at once.

use super::args::is;
use super::{CmdError, CmdResult, Ctx, Handler};
use crate::persistence::save::SaveError;
use crate::protocol::Argv;

pub(super) const HANDLERS: &[(&str, Handler)] = &[("save", save), ("bgsave", bgsave)];

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
