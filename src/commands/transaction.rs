//! Transactions (behaves like Redis's multi.c): MULTI DISCARD WATCH UNWATCH, and EXEC when
//! no transaction is open. Queueing and running EXEC belong to the dispatcher
//! (`server::dispatch`), which sees every command before it runs.

use super::{CmdError, CmdResult, Ctx, Handler};
use crate::protocol::Argv;
use crate::server::client::{MultiState, flags};

pub(super) const HANDLERS: &[(&str, Handler)] = &[
    ("multi", multi),
    ("exec", exec),
    ("discard", discard),
    ("watch", watch),
    ("unwatch", unwatch),
];

fn multi(ctx: &mut Ctx<'_>, _: &Argv<'_>) -> CmdResult {
    if ctx.client.multi.is_some() {
        return Err(CmdError::err("MULTI calls can not be nested"));
    }
    ctx.client.multi = Some(MultiState::default());
    ctx.client.shared.set_flag(flags::MULTI, true);
    ctx.reply.ok();
    Ok(())
}

/// Reached only outside a transaction: inside one, the dispatcher runs EXEC itself.
fn exec(_: &mut Ctx<'_>, _: &Argv<'_>) -> CmdResult {
    Err(CmdError::err("EXEC without MULTI"))
}

fn discard(ctx: &mut Ctx<'_>, _: &Argv<'_>) -> CmdResult {
    if ctx.client.multi.is_none() {
        return Err(CmdError::err("DISCARD without MULTI"));
    }
    ctx.client.discard_transaction(&ctx.server.signals);
    ctx.reply.ok();
    Ok(())
}

/// WATCH key [key ...] (behaves like `watchCommand()`): each key is registered under its
/// shard lock, remembering whether it was already logically expired.
fn watch(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> CmdResult {
    if ctx.client.multi.is_some() {
        return Err(CmdError::err("WATCH inside MULTI is not allowed"));
    }
    // No point in watching more once a watched key was touched.
    if !ctx.client.watching.flag.is_dirty() {
        let db = ctx.db();
        for key in argv.iter().skip(1) {
            if ctx.client.watching.is_watching(db, key) {
                continue;
            }
            let shard = ctx.keyspace().lock_key(key);
            let expired = shard
                .db_ref(db)
                .and_then(|d| d.peek(key))
                .is_some_and(|e| e.is_expired(ctx.fx.now_ms));
            ctx.server
                .signals
                .watch(&ctx.client.watching.flag, db, key, expired);
            drop(shard);
            ctx.client
                .watching
                .keys
                .push((db, crate::keyspace::SmallBytes::from_slice(key)));
        }
    }
    ctx.reply.ok();
    Ok(())
}

fn unwatch(ctx: &mut Ctx<'_>, _: &Argv<'_>) -> CmdResult {
    ctx.client.watching.unwatch_all(&ctx.server.signals);
    ctx.client.watching.flag.clear();
    ctx.reply.ok();
    Ok(())
}
