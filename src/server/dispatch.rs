//! Running one command: lookup, the checks Redis makes before calling (behaves like
//! `processCommand()`: existence, arity, protected commands, authentication, the RESP2
//! pub/sub context), the call itself, and what follows it (statistics, keyspace events,
//! slow log, latency monitor, MONITOR feed, CLIENT REPLY modes).

use super::Server;
use super::client::{Client, QueuedCommand, ReplyMode};
use super::stats::WorkerStats;
use crate::commands::meta::CmdFlags;
use crate::commands::table::{Lookup, TxRole};
use crate::commands::{CmdError, Command, Ctx};
use crate::config::Settings;
use crate::keyspace::{Effects, EventClass, PropOp, SmallBytes};
use crate::protocol::{Argv, Reply};
use crate::util::clock;

/// The error while a failed background save stops writes (`shared.bgsaveerr`).
const MISCONF: &str = "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error.";

/// Whether an `enable-*-command` / `enable-protected-configs` setting lets a client at
/// `addr` in: "yes", or "local" from the loopback interface.
pub fn protected_action_allowed(setting: &str, addr: &str) -> bool {
    match setting {
        "yes" => true,
        "local" => addr.starts_with("127.") || addr.starts_with("[::1]"),
        _ => false,
    }
}

/// What the connection must do after `execute`.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Done,
    /// CLIENT PAUSE holds this command: wait, then call `execute` again with it.
    Paused,
}

/// The per-connection pieces a command runs with.
pub struct Exec<'a> {
    pub server: &'a Server,
    pub client: &'a mut Client,
    pub reply: &'a mut Reply,
    pub fx: &'a mut Effects,
    pub settings: &'a Settings,
    pub stats: &'a WorkerStats,
    pub clock: &'a mut clock::CommandClock,
}

/// Commands allowed in RESP2 while subscribed.
fn allowed_in_subscribe_context(name: &str) -> bool {
    matches!(
        name,
        "ping"
            | "subscribe"
            | "ssubscribe"
            | "unsubscribe"
            | "sunsubscribe"
            | "psubscribe"
            | "punsubscribe"
            | "quit"
            | "reset"
    )
}

/// Commands that CLIENT PAUSE WRITE holds besides those flagged `write` (Redis's
/// may-replicate commands).
fn may_replicate(name: &str) -> bool {
    matches!(
        name,
        "publish" | "spublish" | "pfcount" | "eval" | "evalsha" | "fcall" | "script|load"
    )
}

impl Exec<'_> {
    /// Replies with a rejection (an error before the command ran) and counts it.
    fn reject(&mut self, cmd: Option<&Command>, err: &str) {
        self.flag_transaction();
        if let Some(c) = cmd.filter(|c| c.tx_role == TxRole::Exec) {
            // A rejected EXEC ends the transaction (behaves like `execCommandAbort()`).
            self.client.discard_transaction(&self.server.signals);
            let reason = err.strip_prefix("ERR ").unwrap_or(err);
            let text = format!("EXECABORT Transaction discarded because of: {reason}");
            self.reply.error(&text);
            self.stats.count_error("EXECABORT");
            self.stats.commands[c.id].rejected.add(1);
            return;
        }
        self.reply.error(err);
        self.stats.count_error(CmdError::code(err));
        if let Some(c) = cmd {
            self.stats.commands[c.id].rejected.add(1);
        }
    }

    /// Runs one command.
    pub fn execute(&mut self, argv: &Argv<'_>) -> Outcome {
        let outcome = self.execute_one(argv);
        // ASKING lasts for one command, or for a whole MULTI block (`resetClient()`).
        if outcome == Outcome::Done
            && self.client.asking
            && self.client.multi.is_none()
            && !argv.get(0).eq_ignore_ascii_case(b"asking")
        {
            self.client.asking = false;
        }
        outcome
    }

    /// Where a command (or, at EXEC, the whole transaction) must go in cluster mode; the
    /// error to reply with when not here (`getNodeByQuery()`).
    fn cluster_redirect(
        &self,
        cluster: &crate::cluster::Cluster,
        cmd: &Command,
        argv: &Argv<'_>,
    ) -> Option<String> {
        use crate::commands::keyspec::find_keys_with;
        // Of the pub/sub commands only the shard ones (SPUBLISH, SSUBSCRIBE, SUNSUBSCRIBE)
        // have key specs: their channels.
        let shard_channels =
            cmd.flags().contains(CmdFlags::PUBSUB) && !cmd.meta.key_specs.is_empty();
        let mut keys: Vec<&[u8]> = Vec::new();
        let mut is_write = cmd.is_write();
        if cmd.tx_role == TxRole::Exec {
            let multi = self.client.multi.as_ref()?;
            for q in &multi.queued {
                let qcmd = self.server.commands.get(q.cmd_id);
                if qcmd.meta.key_specs.is_empty() {
                    continue;
                }
                is_write |= qcmd.is_write();
                let qargv = q.argv();
                let found = find_keys_with(qcmd.meta, &qargv, false).unwrap_or_default();
                keys.extend(found.iter().map(|k| qargv.get(k.pos)));
            }
        } else {
            if cmd.meta.key_specs.is_empty() {
                return None;
            }
            let found = find_keys_with(cmd.meta, argv, shard_channels).unwrap_or_default();
            keys.extend(found.iter().map(|k| argv.get(k.pos)));
        }
        if keys.is_empty() {
            return None;
        }
        let view = cluster.view();
        let query = crate::cluster::view::Query {
            keys: &keys,
            is_write,
            is_pubsubshard: shard_channels,
            is_migrate: cmd.name() == "migrate",
            asking: self.client.asking || cmd.flags().contains(CmdFlags::ASKING),
            readonly: self.client.cluster_readonly,
        };
        let keyspace = &self.server.keyspace;
        let exists = |key: &[u8]| {
            let shard = keyspace.lock_key(key);
            shard.db_ref(0).and_then(|d| d.peek(key)).is_some()
        };
        view.route(&query, &exists)
            .err()
            .map(|redirect| view.error_text(&redirect))
    }

    fn execute_one(&mut self, argv: &Argv<'_>) -> Outcome {
        let server = self.server;
        let name = argv.get(0);
        if name.eq_ignore_ascii_case(b"host:") || name.eq_ignore_ascii_case(b"post") {
            tracing::warn!(
                "Possible SECURITY ATTACK detected. It looks like somebody is sending POST or Host: commands to Redis. This is likely due to an attacker attempting to use Cross Protocol Scripting to compromise your Redis instance. Connection aborted."
            );
            self.client.close_after_reply = true;
            return Outcome::Done;
        }
        let cmd = match server.commands.lookup(name, argv.try_get(1)) {
            Lookup::Found(c) => c,
            Lookup::Unknown => {
                self.flag_transaction();
                self.reply.error_bytes(&unknown_command_error(argv));
                self.stats.count_error("ERR");
                return Outcome::Done;
            }
            Lookup::UnknownSubcommand(container) => {
                let mut err = b"ERR unknown subcommand '".to_vec();
                err.extend_from_slice(c_string(argv.get(1), 128));
                err.extend_from_slice(
                    format!("'. Try {} HELP.", container.name().to_ascii_uppercase()).as_bytes(),
                );
                self.flag_transaction();
                self.reply.error_bytes(&err);
                self.stats.count_error("ERR");
                return Outcome::Done;
            }
        };
        if !cmd.meta.arity_ok(argv.len()) {
            self.reject(
                Some(cmd),
                &CmdError::Arity(cmd.name().to_string()).to_string(),
            );
            return Outcome::Done;
        }
        if cmd.name() == "debug" && !self.debug_allowed() {
            self.reject(
                Some(cmd),
                "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.",
            );
            return Outcome::Done;
        }
        if !self.client.authenticated
            && self.settings.requirepass.is_some()
            && !cmd.flags().contains(CmdFlags::NO_AUTH)
        {
            self.reject(Some(cmd), &CmdError::NoAuth.to_string());
            return Outcome::Done;
        }
        // The primary's stream on a replica is obeyed whatever the local state (behaves like
        // `obey_client` in `processCommand()`).
        let obey = self.client.is_master;
        if !obey
            && let Some(cluster) = server.cluster.as_deref()
            && let Some(err) = self.cluster_redirect(cluster, cmd, argv)
        {
            // Behaves like the redirection in `processCommand()`: EXEC drops the
            // transaction, anything else inside MULTI makes EXEC fail.
            if cmd.tx_role == TxRole::Exec {
                self.client.discard_transaction(&server.signals);
            } else {
                self.flag_transaction();
            }
            self.reply.error(&err);
            self.stats.count_error(CmdError::code(&err));
            self.stats.commands[cmd.id].rejected.add(1);
            return Outcome::Done;
        }
        if !obey && server.writes_refused_by_save_error() && self.writes_or_pings(cmd) {
            self.reject(Some(cmd), MISCONF);
            return Outcome::Done;
        }
        if !obey
            && let Some(err) = server.aof_write_error()
            && self.writes_or_pings(cmd)
        {
            self.reject(Some(cmd), &err);
            return Outcome::Done;
        }
        if !obey && server.replica.is_replica() {
            if !self.settings.replica_serve_stale_data
                && !cmd.flags().contains(CmdFlags::STALE)
                && !server
                    .replica
                    .link_up
                    .load(std::sync::atomic::Ordering::Relaxed)
            {
                self.reject(
                    Some(cmd),
                    "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
                );
                return Outcome::Done;
            }
            if cmd.is_write() && self.settings.replica_read_only {
                self.reject(
                    Some(cmd),
                    "READONLY You can't write against a read only replica.",
                );
                return Outcome::Done;
            }
        }
        let min_replicas = self.settings.min_replicas_to_write;
        if !obey
            && min_replicas > 0
            && self.writes_or_pings(cmd)
            && cmd.name() != "ping"
            && server
                .primary
                .good_replicas(clock::now_ms(), self.settings.min_replicas_max_lag)
                < min_replicas
        {
            self.reject(Some(cmd), "NOREPLICAS Not enough good replicas to write.");
            return Outcome::Done;
        }
        if self.client.resp == 2
            && self.client.in_subscribe_mode()
            && !allowed_in_subscribe_context(cmd.name())
        {
            let err = format!(
                "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
                cmd.name()
            );
            self.reject(Some(cmd), &err);
            return Outcome::Done;
        }
        let in_multi = self.client.multi.is_some();
        if in_multi && cmd.flags().contains(CmdFlags::NO_MULTI) {
            self.reject(Some(cmd), "ERR Command not allowed inside a transaction");
            return Outcome::Done;
        }
        // The command's clock (see CommandClock): fresh after any slow command, so expiry and
        // EX/PX times stay right within a pipeline, as with Redis's per-command clock.
        let now_ms = self.clock.now_ms();
        if !obey && server.pause.active(now_ms) {
            if server.pause.blocks(self.may_replicate(cmd)) {
                return Outcome::Paused;
            }
            self.fx.paused = true;
        } else {
            // A replica deletes no expired key itself: the primary's DEL does (behaves like
            // `expireIfNeeded()` on a replica).
            self.fx.paused = server.replica.is_replica();
        }
        if in_multi && cmd.tx_role == TxRole::Queued {
            if let Some(multi) = self.client.multi.as_mut()
                && !multi.failed
            {
                multi.queued.push(QueuedCommand::new(cmd.id, argv));
            }
            self.reply.simple("QUEUED");
            return Outcome::Done;
        }
        self.call(cmd, argv, now_ms);
        if !self.fx.ready.is_empty() {
            // After the command (or transaction) released its locks, before this client
            // runs anything else (behaves like `handleClientsBlockedOnKeys()`).
            server.blocking.serve_ready(&server.keyspace, self.fx);
            // A ready key found expired stamps a batch with its DEL and serves nobody.
            self.fx.submit_batch();
            self.flush_effects();
        }
        Outcome::Done
    }

    /// What a failed background save stops (`writeCommandsDeniedByDiskError()`'s callers):
    /// write commands, EXEC of a transaction that queued one, and PING.
    fn writes_or_pings(&self, cmd: &Command) -> bool {
        if cmd.is_write() || cmd.name() == "ping" {
            return true;
        }
        match (&self.client.multi, cmd.tx_role) {
            (Some(multi), TxRole::Exec) => multi
                .queued
                .iter()
                .any(|q| self.server.commands.get(q.cmd_id).is_write()),
            _ => false,
        }
    }

    /// A command rejected inside MULTI makes EXEC fail (behaves like `flagTransaction()`).
    fn flag_transaction(&mut self) {
        if let Some(multi) = self.client.multi.as_mut() {
            multi.failed = true;
        }
    }

    /// Whether CLIENT PAUSE WRITE holds this command: writes and may-replicate commands, and
    /// EXEC of a transaction that queued one.
    fn may_replicate(&self, cmd: &Command) -> bool {
        let one = |c: &Command| c.is_write() || may_replicate(c.name());
        if one(cmd) {
            return true;
        }
        match (&self.client.multi, cmd.tx_role) {
            (Some(multi), TxRole::Exec) => multi
                .queued
                .iter()
                .any(|q| one(self.server.commands.get(q.cmd_id))),
            _ => false,
        }
    }

    fn debug_allowed(&self) -> bool {
        protected_action_allowed(
            &self.server.config.get("enable-debug-command"),
            &self.client.shared.addr,
        )
    }

    /// Calls the handler and does the bookkeeping around it (behaves like `call()`).
    pub(super) fn call(&mut self, cmd: &Command, argv: &Argv<'_>, now_ms: i64) {
        let Some(handler) = cmd.handler else {
            // A container reached with its own arity satisfied but no subcommand: Redis
            // cannot get here either (containers have arity -2).
            self.reply
                .error(&CmdError::Arity(cmd.name().to_string()).to_string());
            return;
        };
        if self.client.reply_mode == ReplyMode::Skip {
            self.client.reply_mode = ReplyMode::SkipThis;
        }
        self.fx
            .reset(now_ms, self.client.db, self.settings.notify_keyspace_events);
        self.fx.lfu = self.settings.lfu;
        let nested = self.client.in_exec;
        if !nested {
            // Every stamp taken is submitted before another command can take one here.
            self.fx.submit_batch();
        }
        let db = self.client.db;
        self.fx.rewrite = None;
        let reply_start = self.reply.len();
        let started = clock::Stopwatch::start();
        let result = if cmd.tx_role == TxRole::Exec && self.client.multi.is_some() {
            self.exec_transaction(now_ms)
        } else {
            let mut ctx = Ctx {
                server: self.server,
                client: self.client,
                reply: self.reply,
                fx: self.fx,
                settings: self.settings,
                cmd,
            };
            // A handler bug must cost one error reply, not the connection (and never the
            // process): shard guards release their locks while unwinding.
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handler(&mut ctx, argv)))
                .unwrap_or_else(|_| {
                    tracing::warn!("Command '{}' panicked; replying with an error", cmd.name());
                    Err(CmdError::err("internal error while executing the command"))
                })
        };
        let usec = started.elapsed_us();
        self.clock.ran(usec);
        let counters = &self.stats.commands[cmd.id];
        counters.calls.add(1);
        counters.usec.add(usec);
        self.stats.total_commands.add(1);
        if let Err(e) = result {
            let text = e.to_string();
            self.reply.error(&text);
            self.stats.count_error(CmdError::code(&text));
            counters.failed.add(1);
        }
        self.queue_propagation(cmd, argv, db);
        if !nested {
            self.fx.submit_batch();
        }
        self.flush_effects();
        match self.client.reply_mode {
            ReplyMode::Off => self.reply.buf.truncate(reply_start),
            ReplyMode::SkipThis => {
                self.reply.buf.truncate(reply_start);
                self.client.reply_mode = ReplyMode::On;
            }
            _ => {}
        }
        self.after_call(cmd, argv, usec, now_ms);
    }

    /// Adds the command's own op to the batch: its handler's rewrite, or, when it changed
    /// the dataset, its arguments as sent (behaves like the propagation in `call()`). EXEC
    /// itself is not propagated; its commands are.
    fn queue_propagation(&mut self, cmd: &Command, argv: &Argv<'_>, db: usize) {
        let fx = &mut *self.fx;
        debug_assert!(
            !(fx.dirty > 0
                && fx.batch.stamp == 0
                && fx.propagation.as_ref().is_some_and(|p| p.enabled())
                && cmd.tx_role != TxRole::Exec),
            "invariant: '{}' changed the dataset without a stamp",
            cmd.name()
        );
        if fx.batch.stamp == 0 || cmd.tx_role == TxRole::Exec {
            return;
        }
        let args: Vec<SmallBytes> = match fx.rewrite.take() {
            Some(rewritten) => rewritten,
            None if fx.dirty > 0 => argv.iter().map(SmallBytes::from_slice).collect(),
            None => return,
        };
        if !args.is_empty() {
            fx.propagate(PropOp { db, argv: args });
        }
    }

    /// Counts what the command did and publishes its keyspace events.
    fn flush_effects(&mut self) {
        let fx = &mut *self.fx;
        let stats = self.stats;
        // Taken, not read: EXEC flushes after each queued command and again for itself.
        for (count, counter) in [
            (&mut fx.expired_keys, &stats.expired_keys),
            (&mut fx.keyspace_hits, &stats.keyspace_hits),
            (&mut fx.keyspace_misses, &stats.keyspace_misses),
            (&mut fx.dirty, &stats.dirty),
        ] {
            let n = std::mem::take(count);
            if n > 0 {
                counter.add(n);
            }
        }
        if !fx.events.is_empty() {
            publish_events(self.server, fx);
        }
    }

    fn after_call(&mut self, cmd: &Command, argv: &Argv<'_>, usec: u64, now_ms: i64) {
        let server = self.server;
        let settings = self.settings;
        let flags = cmd.flags();
        let threshold = settings.slowlog_log_slower_than;
        if threshold >= 0 && usec as i64 >= threshold && !flags.contains(CmdFlags::SKIP_SLOWLOG) {
            let name = self.client.shared.name.lock().clone().unwrap_or_default();
            server.slowlog.record(
                argv,
                usec,
                now_ms / 1000,
                &self.client.shared.addr,
                &name,
                settings.slowlog_max_len,
            );
        }
        let lat = settings.latency_monitor_threshold;
        if lat > 0 && (usec / 1000) as i64 >= lat {
            let event = if flags.contains(CmdFlags::FAST) {
                "fast-command"
            } else {
                "command"
            };
            server.latency.add(event, now_ms / 1000, usec / 1000);
        }
        if server.monitors.active() && !flags.intersects(CmdFlags::ADMIN | CmdFlags::SKIP_MONITOR) {
            let redact = redacted_args(cmd, argv);
            server.monitors.feed(
                clock::now_us(),
                self.client.db,
                &self.client.shared.addr,
                argv,
                &redact,
            );
        }
        self.client
            .shared
            .last_cmd
            .store(cmd.id + 1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// What C's `%.Ns` prints of an argument: up to `max` bytes, stopping at a NUL byte.
fn c_string(arg: &[u8], max: usize) -> &[u8] {
    let arg = &arg[..memchr::memchr(0, arg).unwrap_or(arg.len())];
    &arg[..arg.len().min(max)]
}

/// `ERR unknown command '<name>', with args beginning with: '<a>' '<b>' ` with the client's
/// bytes as sent, at most 128 bytes of arguments (behaves like `commandCheckExistence()`).
fn unknown_command_error(argv: &Argv<'_>) -> Vec<u8> {
    let mut args: Vec<u8> = Vec::new();
    for a in argv.iter().skip(1) {
        if args.len() >= 128 {
            break;
        }
        let room = 128 - args.len();
        args.push(b'\'');
        args.extend_from_slice(c_string(a, room));
        args.extend_from_slice(b"' ");
    }
    let mut err = b"ERR unknown command '".to_vec();
    err.extend_from_slice(c_string(argv.get(0), 128));
    err.extend_from_slice(b"', with args beginning with: ");
    err.extend_from_slice(&args);
    err
}

/// Arguments MONITOR must not show (passwords).
fn redacted_args(cmd: &Command, argv: &Argv<'_>) -> Vec<usize> {
    match cmd.name() {
        "auth" => (1..argv.len()).collect(),
        "hello" => {
            let mut out = Vec::new();
            let mut i = 2;
            while i < argv.len() {
                if argv.get(i).eq_ignore_ascii_case(b"auth") {
                    out.extend([i + 1, i + 2]);
                    i += 3;
                } else {
                    i += 1;
                }
            }
            out
        }
        "config|set" => {
            let mut out = Vec::new();
            let mut i = 2;
            while i + 1 < argv.len() {
                let name = argv.get(i);
                if ["requirepass", "masterauth", "masteruser"]
                    .iter()
                    .any(|n| name.eq_ignore_ascii_case(n.as_bytes()))
                {
                    out.push(i + 1);
                }
                i += 2;
            }
            out
        }
        _ => Vec::new(),
    }
}

/// Publishes staged keyspace events (behaves like `notifyKeyspaceEvent()`).
pub fn publish_events(server: &Server, fx: &mut Effects) {
    if !server.pubsub.has_subscribers() {
        fx.events.clear();
        return;
    }
    let flags = fx.notify_flags;
    for ev in fx.events.drain(..) {
        let mut db_buf = itoa::Buffer::new();
        let db = db_buf.format(ev.db);
        if flags.contains(EventClass::KEYSPACE) {
            let mut chan = format!("__keyspace@{db}__:").into_bytes();
            chan.extend_from_slice(&ev.key);
            server.pubsub.publish(&chan, ev.name.as_bytes());
        }
        if flags.contains(EventClass::KEYEVENT) {
            let chan = format!("__keyevent@{db}__:{}", ev.name);
            server.pubsub.publish(chan.as_bytes(), &ev.key);
        }
    }
}
