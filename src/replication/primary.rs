//! The primary side of replication (behaves like the master half of Redis 7.0's
//! replication.c): the replication stream fed from the propagation stream into the
//! backlog, full resynchronization from a fork-free snapshot, partial resynchronization
//! from the backlog, the replicas' acknowledgements (INFO, WAIT, min-replicas-to-write).
//!
//! The feeder thread takes stamped batches, puts them in order and encodes them as the
//! replication stream (RESP with SELECTs, MULTI/EXEC as for the AOF) into the backlog; the
//! stream's byte count is `master_repl_offset`. A replica's connection task writes from the
//! backlog at its own cursor. A full sync takes a snapshot; at its instant (under the gate)
//! it leaves a sync point at the next stamp, and the feeder turns that into the stream
//! offset the replica continues from, forcing a SELECT there.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

use parking_lot::Mutex;

use super::backlog::Backlog;
use crate::keyspace::{Batch, Propagation, Sequencer};
use crate::persistence::aof::encode::{Encoder, command};

/// A connected replica, as INFO and WAIT see it.
#[derive(Clone, Debug)]
pub struct ReplicaInfo {
    pub ip: String,
    /// `REPLCONF listening-port`.
    pub port: u16,
    /// The next stream offset to send; `None` while its snapshot's offset is not known.
    pub cursor: Option<u64>,
    /// The last offset it acknowledged (`REPLCONF ACK`).
    pub ack: u64,
    /// When it last acknowledged (Unix ms).
    pub ack_ms: i64,
    /// Streaming (`online`) or still receiving its snapshot (`wait_bgsave`, `send_bulk`).
    pub state: &'static str,
}

/// A full sync waiting for the stream offset of its snapshot's instant.
struct SyncPoint {
    stamp: u64,
    replica: u64,
    offset: tokio::sync::oneshot::Sender<u64>,
}

/// The replication ids (behaves like `server.replid`, `replid2` and `second_replid_offset`).
#[derive(Clone, Debug)]
pub struct ReplIds {
    pub replid: String,
    /// The previous id, after this server was promoted; PSYNC with it is accepted up to
    /// `second_offset`.
    pub replid2: String,
    /// -1 when there is no previous id.
    pub second_offset: i64,
}

const NO_REPLID: &str = "0000000000000000000000000000000000000000";

#[derive(Default)]
struct Inner {
    ids: Option<ReplIds>,
    backlog: Option<Backlog>,
    replicas: HashMap<u64, ReplicaInfo>,
    sync_points: Vec<SyncPoint>,
    /// The feeder's encoder must start a SELECT afresh (a sync point was reached).
    reselect: bool,
}

/// The primary's replication state.
#[derive(Default)]
pub struct Primary {
    inner: Mutex<Inner>,
    /// Woken when bytes are appended to the stream.
    pub data_ready: tokio::sync::Notify,
    /// Woken when a replica acknowledges an offset.
    pub acks_changed: tokio::sync::Notify,
    started: AtomicBool,
    /// The last stamp the stream holds (WAIT waits for its client's last write).
    processed_stamp: AtomicU64,
    /// This server is a replica: the backlog takes its primary's stream as received, not
    /// what the feeder encodes.
    following: AtomicBool,
    /// Unix ms since when no replica is connected (0: one is, or none ever was).
    alone_since_ms: std::sync::atomic::AtomicI64,
    /// The backlog was freed by `repl-backlog-ttl` (INFO shows it inactive).
    freed: AtomicBool,
    /// INFO stats' sync_full, sync_partial_ok, sync_partial_err.
    syncs_full: AtomicU64,
    syncs_partial_ok: AtomicU64,
    syncs_partial_err: AtomicU64,
}

/// The most a slow replica may fall behind the backlog size before it is given up.
const HARD_LIMIT: usize = 256 << 20;

impl Primary {
    /// Starts the backlog and the feeder at the first replica (Redis creates the backlog
    /// then, too). Call with every shard locked (see [`Propagation::connect`]), so the
    /// stream starts exactly where the data stands.
    pub fn start(self: &Arc<Self>, propagation: &Propagation, offset: u64, backlog_size: usize) {
        if self.started.swap(true, Ordering::SeqCst) {
            return;
        }
        let (tx, rx) = std::sync::mpsc::channel();
        let (_, first) = propagation.connect(tx);
        // A promoted replica keeps the backlog of its old primary's stream.
        self.inner
            .lock()
            .backlog
            .get_or_insert_with(|| Backlog::new(offset, backlog_size));
        self.processed_stamp.store(first - 1, Ordering::Release);
        let me = self.clone();
        let _ = std::thread::Builder::new()
            .name("tessera-repl".into())
            .spawn(move || me.feed(rx, first));
    }

    pub fn is_started(&self) -> bool {
        self.started.load(Ordering::Acquire)
    }

    fn feed(&self, batches: Receiver<Arc<Batch>>, first: u64) {
        let mut order = Sequencer::new(first);
        let mut encoder = Encoder::default();
        let mut buf = Vec::new();
        loop {
            match batches.recv_timeout(Duration::from_millis(100)) {
                Ok(b) => order.accept(b),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            while let Ok(b) = batches.try_recv() {
                order.accept(b);
            }
            loop {
                self.reach_sync_points(order.next_stamp(), &mut encoder);
                let Some(batch) = order.pop_ready() else {
                    break;
                };
                if !self.following.load(Ordering::Acquire) {
                    buf.clear();
                    encoder.batch(&batch, &mut buf);
                    self.append(&buf);
                }
                self.processed_stamp.store(batch.stamp, Ordering::Release);
            }
        }
    }

    /// Sync points whose stamp the stream has reached get the current offset; the next
    /// command is led by a SELECT, as a replica that just loaded a snapshot needs.
    fn reach_sync_points(&self, next_stamp: u64, encoder: &mut Encoder) {
        let mut inner = self.inner.lock();
        let end = inner.backlog.as_ref().map_or(0, Backlog::end);
        let due: Vec<SyncPoint> = {
            let (due, rest) = std::mem::take(&mut inner.sync_points)
                .into_iter()
                .partition(|p| p.stamp <= next_stamp);
            inner.sync_points = rest;
            due
        };
        for point in due {
            if let Some(r) = inner.replicas.get_mut(&point.replica) {
                r.cursor = Some(end);
            }
            let _ = point.offset.send(end);
            inner.reselect = true;
        }
        if std::mem::take(&mut inner.reselect) {
            encoder.new_file();
        }
    }

    /// Appends bytes to the stream (the feeder's commands, the cron's PINGs).
    pub fn append(&self, bytes: &[u8]) {
        {
            let mut inner = self.inner.lock();
            let keep = inner.replicas.values().filter_map(|r| r.cursor).min();
            let Some(backlog) = inner.backlog.as_mut() else {
                return;
            };
            let keep = keep.filter(|&k| backlog.end() - k < HARD_LIMIT as u64);
            backlog.append(bytes, keep);
        }
        self.data_ready.notify_waiters();
    }

    /// Appends one command outside the ordered stream (PING, REPLCONF GETACK): neither
    /// touches data, so where it falls does not matter.
    pub fn append_command(&self, args: &[&[u8]]) {
        if !self.is_started() {
            return;
        }
        let mut bytes = Vec::new();
        command(&mut bytes, args);
        self.append(&bytes);
    }

    /// The current ids; `initial` is this server's own id until it replicates or promotes.
    pub fn ids(&self, initial: &str) -> ReplIds {
        self.inner.lock().ids.clone().unwrap_or_else(|| ReplIds {
            replid: initial.to_string(),
            replid2: NO_REPLID.to_string(),
            second_offset: -1,
        })
    }

    /// Whether PSYNC `replid` from the next byte `from` (0-based) can continue here
    /// (behaves like `masterTryPartialResynchronization()`'s checks).
    pub fn can_continue(&self, initial: &str, replid: &[u8], from: u64) -> bool {
        let ids = self.ids(initial);
        let known = replid == ids.replid.as_bytes()
            || (replid == ids.replid2.as_bytes() && (from as i64) < ids.second_offset);
        known && self.holds(from)
    }

    /// This server now replicates a primary whose id is `replid`, at stream offset
    /// `offset`; with `reset`, after a full sync, the backlog starts over there.
    pub fn follow(&self, replid: &str, offset: u64, reset: bool, backlog_size: usize) {
        let mut inner = self.inner.lock();
        inner.ids = Some(ReplIds {
            replid: replid.to_string(),
            replid2: NO_REPLID.to_string(),
            second_offset: -1,
        });
        // Kept only when it ends exactly where the primary's stream continues.
        if reset || inner.backlog.as_ref().is_none_or(|b| b.end() != offset) {
            inner.backlog = Some(Backlog::new(offset, backlog_size));
        }
        self.following.store(true, Ordering::Release);
    }

    /// REPLICAOF NO ONE: a new id; the old one stays acceptable up to the current offset
    /// (behaves like `shiftReplicationId()`). Call with every shard locked, then start the
    /// feeder.
    pub fn promote(&self, new_replid: String) {
        let mut inner = self.inner.lock();
        let end = inner.backlog.as_ref().map_or(0, Backlog::end);
        if let Some(old) = inner.ids.take() {
            inner.ids = Some(ReplIds {
                replid: new_replid,
                replid2: old.replid,
                second_offset: end as i64 + 1,
            });
        }
        self.following.store(false, Ordering::Release);
    }

    /// `master_repl_offset`.
    pub fn offset(&self) -> u64 {
        self.inner.lock().backlog.as_ref().map_or(0, Backlog::end)
    }

    /// (first byte offset, bytes held) of the backlog, if there is one.
    pub fn backlog_span(&self) -> Option<(u64, u64)> {
        let inner = self.inner.lock();
        inner
            .backlog
            .as_ref()
            .map(|b| (b.first() + 1, b.len() as u64))
    }

    pub fn set_backlog_size(&self, size: usize) {
        if let Some(b) = self.inner.lock().backlog.as_mut() {
            b.set_size(size);
        }
    }

    /// Whether a partial resync from `offset` is possible.
    pub fn holds(&self, offset: u64) -> bool {
        self.inner
            .lock()
            .backlog
            .as_ref()
            .is_some_and(|b| b.holds(offset))
    }

    /// Up to `max` stream bytes from `offset`; None if they are gone.
    pub fn read(&self, offset: u64, max: usize) -> Option<Vec<u8>> {
        self.inner.lock().backlog.as_ref()?.read(offset, max)
    }

    pub fn processed_stamp(&self) -> u64 {
        self.processed_stamp.load(Ordering::Acquire)
    }

    pub fn add_replica(&self, id: u64, info: ReplicaInfo) {
        self.inner.lock().replicas.insert(id, info);
        self.alone_since_ms.store(0, Ordering::Release);
        self.freed.store(false, Ordering::Release);
    }

    pub fn remove_replica(&self, id: u64) {
        let mut inner = self.inner.lock();
        inner.replicas.remove(&id);
        if inner.replicas.is_empty() {
            self.alone_since_ms
                .store(crate::util::clock::now_ms(), Ordering::Release);
        }
        drop(inner);
        self.acks_changed.notify_waiters();
    }

    /// `repl-backlog-ttl`: after `ttl_secs` without replicas the backlog is emptied and the
    /// replication id changed, so no old replica can continue partially (behaves like the
    /// check in `replicationCron()`). Returns whether it freed it now.
    pub fn free_backlog_if_idle(
        &self,
        ttl_secs: i64,
        now_ms: i64,
        new_replid: impl FnOnce() -> String,
    ) -> bool {
        let since = self.alone_since_ms.load(Ordering::Acquire);
        if ttl_secs <= 0
            || since == 0
            || now_ms - since <= ttl_secs * 1000
            || self.freed.load(Ordering::Acquire)
        {
            return false;
        }
        let mut inner = self.inner.lock();
        if !inner.replicas.is_empty() || self.following.load(Ordering::Acquire) {
            return false;
        }
        if let Some(b) = inner.backlog.as_mut() {
            let (end, size) = (b.end(), b.len().max(1));
            *b = Backlog::new(end, size);
        }
        inner.ids = Some(ReplIds {
            replid: new_replid(),
            replid2: NO_REPLID.to_string(),
            second_offset: -1,
        });
        self.freed.store(true, Ordering::Release);
        true
    }

    /// Whether a backlog exists and was not freed (`repl_backlog_active`).
    pub fn backlog_active(&self) -> bool {
        self.is_started() && !self.freed.load(Ordering::Acquire)
    }

    pub fn update_replica(&self, id: u64, f: impl FnOnce(&mut ReplicaInfo)) {
        if let Some(r) = self.inner.lock().replicas.get_mut(&id) {
            f(r);
        }
    }

    /// Records `REPLCONF ACK offset` from a replica.
    pub fn ack(&self, id: u64, offset: u64, now_ms: i64) {
        self.update_replica(id, |r| {
            r.ack = r.ack.max(offset);
            r.ack_ms = now_ms;
        });
        self.acks_changed.notify_waiters();
    }

    /// A full sync's sync point, left at the snapshot's instant (under the gate): `offset`
    /// gets the stream offset of the instant.
    pub fn add_sync_point(
        &self,
        stamp: u64,
        replica: u64,
        offset: tokio::sync::oneshot::Sender<u64>,
    ) {
        self.inner.lock().sync_points.push(SyncPoint {
            stamp,
            replica,
            offset,
        });
    }

    /// Counts a replica's sync: partial (continued), or full after a refused partial
    /// request (`tried_partial`) or a plain one.
    pub fn count_sync(&self, continued: bool, tried_partial: bool) {
        if continued {
            self.syncs_partial_ok.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.syncs_full.fetch_add(1, Ordering::Relaxed);
        if tried_partial {
            self.syncs_partial_err.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// (sync_full, sync_partial_ok, sync_partial_err).
    pub fn sync_counts(&self) -> (u64, u64, u64) {
        (
            self.syncs_full.load(Ordering::Relaxed),
            self.syncs_partial_ok.load(Ordering::Relaxed),
            self.syncs_partial_err.load(Ordering::Relaxed),
        )
    }

    pub fn replicas_by_id(&self, id: u64) -> Option<ReplicaInfo> {
        self.inner.lock().replicas.get(&id).cloned()
    }

    pub fn replicas(&self) -> Vec<ReplicaInfo> {
        let inner = self.inner.lock();
        let mut all: Vec<(u64, ReplicaInfo)> = inner
            .replicas
            .iter()
            .map(|(id, r)| (*id, r.clone()))
            .collect();
        all.sort_by_key(|(id, _)| *id);
        all.into_iter().map(|(_, r)| r).collect()
    }

    /// Replicas that acknowledged at least `offset`.
    pub fn acked(&self, offset: u64) -> usize {
        self.inner
            .lock()
            .replicas
            .values()
            .filter(|r| r.state == "online" && r.ack >= offset)
            .count()
    }

    /// Replicas online with an acknowledgement at most `max_lag_secs` old
    /// (min-replicas-to-write's "good" replicas).
    pub fn good_replicas(&self, now_ms: i64, max_lag_secs: i64) -> usize {
        self.inner
            .lock()
            .replicas
            .values()
            .filter(|r| r.state == "online" && (now_ms - r.ack_ms) / 1000 <= max_lag_secs)
            .count()
    }
}
