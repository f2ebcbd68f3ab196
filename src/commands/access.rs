//! Shapes that many handlers share, written once: read a value of one type, and remove
//! members from an aggregate value (HDEL, SREM, and the list and sorted-set removals to
//! come), deleting the key when it empties.

use super::{CmdError, CmdResult, Ctx};
use crate::keyspace::{Entry, EventClass};
use crate::protocol::Reply;

/// Runs `f` on the value under `key` for a read command, after `cast` checked its type;
/// replies `missing` when the key does not exist (behaves like `lookupKeyReadOrReply()` +
/// `checkType()`).
pub(super) fn read_value<T: ?Sized>(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    cast: fn(&Entry) -> Result<&T, CmdError>,
    missing: impl FnOnce(&mut Reply),
    f: impl FnOnce(&T, &mut Reply),
) -> CmdResult {
    let mut shard = ctx.keyspace().lock_key(key);
    match shard.db(ctx.client.db).lookup_read(key, ctx.fx) {
        Some(e) => f(cast(e)?, ctx.reply),
        None => missing(ctx.reply),
    }
    Ok(())
}

/// How [`remove_members`] reaches into one aggregate type.
pub(super) struct Removal<T: ?Sized> {
    pub cast: fn(&mut Entry) -> Result<&mut T, CmdError>,
    pub remove: fn(&mut T, &[u8]) -> bool,
    pub is_empty: fn(&T) -> bool,
    pub class: EventClass,
    /// The event staged when anything was removed (`hdel`, `srem`, ...).
    pub event: &'static str,
}

/// Removes `members` from the aggregate under `key` and replies with how many were removed;
/// the key is deleted (with a `del` event) when it empties.
pub(super) fn remove_members<'m, T: ?Sized>(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    members: impl Iterator<Item = &'m [u8]>,
    how: &Removal<T>,
) -> CmdResult {
    let mut shard = ctx.keyspace().lock_key(key);
    let d = shard.db(ctx.client.db);
    let Some(pos) = d.find(key, ctx.fx) else {
        ctx.reply.int(0);
        return Ok(());
    };
    let value = (how.cast)(d.at_mut(pos))?;
    let mut removed = 0u64;
    for m in members {
        if (how.remove)(value, m) {
            removed += 1;
            if (how.is_empty)(value) {
                break;
            }
        }
    }
    let emptied = (how.is_empty)(value);
    if emptied {
        d.remove_at(pos);
    }
    if removed > 0 {
        ctx.fx.notify(how.class, how.event, key);
        if emptied {
            ctx.fx.notify(EventClass::GENERIC, "del", key);
        }
        ctx.fx.dirty += removed;
    }
    ctx.reply.int(removed as i64);
    Ok(())
}
