//! The server cron, `hz` times a second (behaves like `serverCron()` for what Tessera
//! needs): the active expiry cycle, idle-client timeouts, pub/sub output-buffer limits and
//! the instantaneous ops/sec sample.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use super::Server;
use super::dispatch::publish_events;
use crate::keyspace::{Effects, slot::SLOTS};
use crate::util::clock;

/// Share of each cron period the active expiry cycle may use, in percent
/// (Redis's ACTIVE_EXPIRE_CYCLE_SLOW_TIME_PERC, raised by `active-expire-effort`).
const EXPIRE_TIME_PERC: u64 = 25;

/// Instantaneous metrics, sampled by the cron.
#[derive(Default)]
pub struct Samples {
    pub ops_per_sec: std::sync::atomic::AtomicU64,
    pub input_kbps: std::sync::atomic::AtomicU64,
    pub output_kbps: std::sync::atomic::AtomicU64,
}

/// Runs forever on its own thread.
pub fn run(server: Arc<Server>) {
    let mut cursor = 0usize;
    let mut last_sample = Instant::now();
    let mut last_ops = server.stats.total_commands();
    let mut last_in = server.stats.net_input_bytes();
    let mut last_out = server.stats.net_output_bytes();
    let mut last_replica_ping = Instant::now();
    loop {
        let settings = server.config.settings_arc();
        let period = Duration::from_micros(1_000_000 / settings.hz.max(1) as u64);
        std::thread::sleep(period);
        if server.shutting_down.load(Relaxed) {
            return;
        }
        // While clients are paused the dataset stays constant (as in Redis).
        if server.active_expire_enabled.load(Relaxed)
            && !server.pause.active(clock::now_ms())
            && !server.replica.is_replica()
        {
            let effort = settings.active_expire_effort.clamp(1, 10) as u64;
            let budget = period * (EXPIRE_TIME_PERC + 2 * (effort - 1)) as u32 / 100;
            let started = Instant::now();
            cursor = active_expire_cycle(&server, cursor, budget, &settings);
            server
                .expire_cycle_ms
                .fetch_add(started.elapsed().as_millis() as u64, Relaxed);
        }
        check_clients(&server, &settings);
        server.check_save_points();
        server.check_aof_rewrite();
        ping_replicas(&server, &mut last_replica_ping);
        if last_sample.elapsed() >= Duration::from_millis(100) {
            let secs = last_sample.elapsed().as_secs_f64();
            let ops = server.stats.total_commands();
            let inb = server.stats.net_input_bytes();
            let outb = server.stats.net_output_bytes();
            let s = &server.samples;
            s.ops_per_sec
                .store((ops.saturating_sub(last_ops) as f64 / secs) as u64, Relaxed);
            s.input_kbps.store(
                (inb.saturating_sub(last_in) as f64 / secs / 1024.0 * 100.0) as u64,
                Relaxed,
            );
            s.output_kbps.store(
                (outb.saturating_sub(last_out) as f64 / secs / 1024.0 * 100.0) as u64,
                Relaxed,
            );
            last_ops = ops;
            last_in = inb;
            last_out = outb;
            last_sample = Instant::now();
        }
    }
}

/// Every `repl-ping-replica-period` seconds a PING goes down the replication stream, so
/// replicas see the link alive (behaves like the PING in `replicationCron()`).
fn ping_replicas(server: &Server, last: &mut Instant) {
    let period: u64 = server
        .config
        .get("repl-ping-replica-period")
        .parse()
        .unwrap_or(10);
    if last.elapsed() >= Duration::from_secs(period.max(1)) {
        *last = Instant::now();
        // A replica's stream is its primary's: it adds no PINGs of its own.
        if !server.primary.replicas().is_empty() && !server.replica.is_replica() {
            server.primary.append_command(&[b"PING"]);
        }
    }
    let ttl: i64 = server
        .config
        .get("repl-backlog-ttl")
        .parse()
        .unwrap_or(3600);
    if !server.replica.is_replica()
        && server
            .primary
            .free_backlog_if_idle(ttl, clock::now_ms(), || super::random_hex(40))
    {
        tracing::info!("Replication backlog freed after {ttl} seconds without connected replicas.");
    }
}

/// Removes expired keys, shard by shard from `cursor`, until `budget` is spent; returns
/// where to continue next time (behaves like `activeExpireCycle()`, but instead of sampling
/// it sweeps the tables whose next due time has come: a table with nothing due costs one
/// comparison).
pub fn active_expire_cycle(
    server: &Server,
    mut cursor: usize,
    budget: Duration,
    settings: &crate::config::Settings,
) -> usize {
    let started = Instant::now();
    let mut fx = Effects::new(clock::now_ms(), 0, settings.notify_keyspace_events);
    fx.signals = Some(server.signals.clone());
    fx.propagation = Some(server.propagation.clone());
    let stats = server.stats.shared();
    for _ in 0..SLOTS {
        let slot = crate::keyspace::Slot(cursor as u16);
        cursor = (cursor + 1) % SLOTS;
        {
            let mut shard = server.keyspace.lock(slot);
            let dbs = shard.db_count();
            for db in 0..dbs {
                if shard.db_ref(db).is_some_and(|d| d.expires() > 0) {
                    fx.db = db;
                    shard.db(db).expire_all_due(&mut fx);
                }
            }
        }
        // One batch per shard, stamped under its lock; the deletions go out as separate
        // commands (Redis's `propagate_no_multi` for the expiry cycle).
        fx.batch.no_multi = true;
        fx.submit_batch();
        if fx.expired_keys > 0 {
            stats.expired_keys.add_shared(fx.expired_keys);
            fx.expired_keys = 0;
        }
        if !fx.events.is_empty() {
            publish_events(server, &mut fx);
        }
        if cursor.is_multiple_of(64) && started.elapsed() >= budget {
            break;
        }
    }
    cursor
}

/// Idle timeouts and pub/sub output-buffer limits (behaves like
/// `clientsCronHandleTimeout()` and `checkClientOutputBufferLimits()`).
fn check_clients(server: &Server, settings: &crate::config::Settings) {
    let now = clock::now_ms();
    let limit = settings.pubsub_limit;
    server.pubsub.set_hard_limit(limit.hard_bytes);
    for c in server.clients.snapshot() {
        let pubsub = c.in_pubsub();
        if settings.timeout_secs > 0
            && !pubsub
            && !c.has_flag(super::client::flags::MONITOR)
            // A blocked client waits for its own timeout (behaves like Redis).
            && !c.has_flag(super::client::flags::BLOCKED)
            && now - c.last_interaction_ms.load(Relaxed) > settings.timeout_secs as i64 * 1000
        {
            tracing::debug!("Closing idle client id={} addr={}", c.id, c.addr);
            c.kill();
            continue;
        }
        if !pubsub {
            continue;
        }
        let pending = c.outbox.lock().len() as u64;
        if limit.soft_bytes > 0 && pending > limit.soft_bytes {
            let since = c.soft_limit_since_ms.load(Relaxed);
            if since == 0 {
                c.soft_limit_since_ms.store(now, Relaxed);
            } else if now - since >= limit.soft_seconds as i64 * 1000 {
                tracing::warn!(
                    "Client id={} addr={} scheduled to be closed ASAP for overcoming of output buffer limits.",
                    c.id,
                    c.addr
                );
                c.kill();
            }
        } else {
            c.soft_limit_since_ms.store(0, Relaxed);
        }
    }
}
