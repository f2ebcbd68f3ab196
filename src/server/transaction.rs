//! EXEC: running a queued transaction atomically (behaves like `execCommand()`).
//!
//! Atomicity comes from the shard locks (DESIGN.md): before the first queued command runs,
//! EXEC takes the shards of every key the queue names and of every watched key, in
//! ascending slot order, and holds them until the last command is done. A held shard is
//! re-entered by the handlers without locking again, so they run unchanged. A queued
//! command that reaches keys it does not name (FLUSHALL, KEYS, INFO's keyspace section,
//! SORT's BY and GET patterns) makes EXEC hold every shard: the exclusive gate.
//!
//! The WATCH check happens under those locks, so no write can land between the check and
//! the commands it guards.

use super::client::{QueuedCommand, flags};
use super::dispatch::Exec;
use crate::commands::meta::AclCategories;
use crate::commands::{CmdError, CmdResult, Command, keyspec};
use crate::keyspace::key_slot;

impl Exec<'_> {
    /// Runs the client's queued transaction; called by the dispatcher for EXEC inside MULTI.
    pub(super) fn exec_transaction(&mut self, now_ms: i64) -> CmdResult {
        let Some(multi) = self.client.multi.take() else {
            return Err(CmdError::err("EXEC without MULTI"));
        };
        self.client.shared.set_flag(flags::MULTI, false);
        let server = self.server;
        if multi.failed {
            self.client.watching.unwatch_all(&server.signals);
            self.client.watching.flag.clear();
            return Err(CmdError::Raw(
                "EXECABORT Transaction discarded because of previous errors.".into(),
            ));
        }
        let holding = server.keyspace.hold(self.transaction_slots(&multi.queued));
        let aborted = self.client.watching.flag.is_dirty() || self.watched_key_expired(now_ms);
        self.client.watching.unwatch_all(&server.signals);
        self.client.watching.flag.clear();
        if aborted {
            drop(holding);
            self.reply.null_array();
            return Ok(());
        }
        self.reply.array(multi.queued.len());
        // Blocking commands inside EXEC answer as if they timed out at once.
        self.client.in_exec = true;
        for queued in &multi.queued {
            let cmd = server.commands.get(queued.cmd_id);
            // One clock for the whole transaction, as Redis freezes it during EXEC.
            self.call(cmd, &queued.argv(), now_ms);
        }
        self.client.in_exec = false;
        drop(holding);
        Ok(())
    }

    /// The slots to hold: those of every named and watched key, or `None` for all.
    fn transaction_slots(&self, queued: &[QueuedCommand]) -> Option<Vec<u16>> {
        let mut slots = Vec::new();
        for q in queued {
            let cmd = self.server.commands.get(q.cmd_id);
            let argv = q.argv();
            let keys = keyspec::find_keys(cmd.meta, &argv)?;
            if keys.is_empty() && reaches_keyspace_without_keys(cmd) || reaches_unnamed_keys(cmd) {
                return None;
            }
            slots.extend(keys.iter().map(|k| key_slot(argv.get(k.pos)).0));
        }
        slots.extend(
            self.client
                .watching
                .keys
                .iter()
                .map(|(_, key)| key_slot(key).0),
        );
        Some(slots)
    }

    /// A watched key that was live at WATCH time and is logically expired now makes EXEC
    /// fail (behaves like `isWatchedKeyExpired()`). Runs with the watched shards held.
    fn watched_key_expired(&self, now_ms: i64) -> bool {
        let server = self.server;
        let watching = &self.client.watching;
        watching.keys.iter().any(|(db, key)| {
            if server.signals.watched_as_expired(&watching.flag, *db, key) {
                return false;
            }
            let shard = server.keyspace.lock_key(key);
            shard
                .db_ref(*db)
                .and_then(|d| d.peek(key))
                .is_some_and(|e| e.is_expired(now_ms))
        })
    }
}

/// Whether a command that names no keys may still read or write the keyspace.
fn reaches_keyspace_without_keys(cmd: &Command) -> bool {
    !cmd.meta
        .acl
        .intersects(AclCategories::CONNECTION | AclCategories::PUBSUB)
}

/// Commands that read keys they do not name (SORT's BY and GET patterns).
fn reaches_unnamed_keys(cmd: &Command) -> bool {
    matches!(cmd.name(), "sort" | "sort_ro")
}
