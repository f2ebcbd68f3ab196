//! Side effects of running one command (or one active-expiry step) on the keyspace.
//!
//! While shard locks are held, commands only *stage* what must happen elsewhere: keyspace
//! events, counters for INFO. The server publishes and counts them after the locks are
//! released, in the order they were staged (behaves like the `notifyKeyspaceEvent()` calls
//! and `server.stat_*` updates Redis makes inline).

use bitflags::bitflags;

use std::sync::Arc;

use super::bytes::SmallBytes;
use super::propagation::{Batch, PropOp, Propagation};
use super::signals::{KeySignals, Touch};

bitflags! {
    /// `notify-keyspace-events` classes (Redis's NOTIFY_* bits).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
    pub struct EventClass: u32 {
        const KEYSPACE = 1 << 0;
        const KEYEVENT = 1 << 1;
        const GENERIC = 1 << 2;
        const STRING = 1 << 3;
        const LIST = 1 << 4;
        const SET = 1 << 5;
        const HASH = 1 << 6;
        const ZSET = 1 << 7;
        const EXPIRED = 1 << 8;
        const EVICTED = 1 << 9;
        const STREAM = 1 << 10;
        const KEY_MISS = 1 << 11;
        const MODULE = 1 << 13;
        const NEW = 1 << 14;
        /// `A`: every class but key-miss and new.
        const ALL = Self::GENERIC.bits() | Self::STRING.bits() | Self::LIST.bits()
            | Self::SET.bits() | Self::HASH.bits() | Self::ZSET.bits() | Self::EXPIRED.bits()
            | Self::EVICTED.bits() | Self::STREAM.bits() | Self::MODULE.bits();
    }
}

/// Class letters, in the order Redis prints them.
const CLASS_LETTERS: [(EventClass, char); 11] = [
    (EventClass::GENERIC, 'g'),
    (EventClass::STRING, '$'),
    (EventClass::LIST, 'l'),
    (EventClass::SET, 's'),
    (EventClass::HASH, 'h'),
    (EventClass::ZSET, 'z'),
    (EventClass::EXPIRED, 'x'),
    (EventClass::EVICTED, 'e'),
    (EventClass::STREAM, 't'),
    (EventClass::MODULE, 'd'),
    (EventClass::NEW, 'n'),
];

/// Letters choosing the channels (and key misses), printed after the classes.
const CHANNEL_LETTERS: [(EventClass, char); 3] = [
    (EventClass::KEYSPACE, 'K'),
    (EventClass::KEYEVENT, 'E'),
    (EventClass::KEY_MISS, 'm'),
];

impl EventClass {
    /// Parses a `notify-keyspace-events` value (behaves like
    /// `keyspaceEventsStringToFlags()`); `None` on an unknown letter.
    pub fn parse(s: &[u8]) -> Option<EventClass> {
        let mut flags = EventClass::empty();
        for &c in s {
            flags |= if c == b'A' {
                EventClass::ALL
            } else {
                CLASS_LETTERS
                    .iter()
                    .chain(&CHANNEL_LETTERS)
                    .find(|(_, l)| *l as u8 == c)?
                    .0
            };
        }
        Some(flags)
    }

    fn letters<'a>(self, table: impl IntoIterator<Item = &'a (EventClass, char)>) -> String {
        table
            .into_iter()
            .filter(|(f, _)| self.contains(*f))
            .map(|(_, c)| *c)
            .collect()
    }

    /// Every class letter spelled out (no `A` shorthand), so no flag is lost when stored.
    pub fn to_lossless_string(self) -> String {
        self.letters(CLASS_LETTERS.iter().chain(&CHANNEL_LETTERS))
    }

    /// The canonical string CONFIG GET prints (behaves like
    /// `keyspaceEventsFlagsToString()`; COMPAT(redis 7.0): with `A`, the `n` class is
    /// enabled but not printed).
    pub fn to_config_string(self) -> String {
        let classes = if self.contains(EventClass::ALL) {
            "A".to_string()
        } else {
            self.letters(&CLASS_LETTERS)
        };
        classes + &self.letters(&CHANNEL_LETTERS)
    }
}

/// A staged keyspace event.
#[derive(Debug, Clone)]
pub struct Event {
    pub class: EventClass,
    pub name: &'static str,
    pub key: SmallBytes,
    pub db: usize,
}

/// What a command did besides its reply.
#[derive(Debug, Default)]
pub struct Effects {
    /// The command's clock: Unix milliseconds, fixed for the whole command.
    pub now_ms: i64,
    /// LRU clock (seconds) stamped on accessed keys.
    pub lru_clock: u32,
    /// Under an LFU maxmemory policy, keys carry access counters instead (see [`super::lfu`]).
    pub lfu: Option<super::lfu::Lfu>,
    /// The client's selected database.
    pub db: usize,
    /// Enabled notification classes (a snapshot of `notify-keyspace-events`).
    pub notify_flags: EventClass,
    pub events: Vec<Event>,
    pub expired_keys: u64,
    pub keyspace_hits: u64,
    pub keyspace_misses: u64,
    /// Changes to the dataset (Redis's `server.dirty`).
    pub dirty: u64,
    /// Clients are paused (CLIENT PAUSE): the dataset stays constant, so an expired key reads
    /// as missing but is not deleted (behaves like `expireIfNeeded()` while paused).
    pub paused: bool,
    /// Where watched-key touches and ready keys go; `None` where nobody can watch or block
    /// (unit tests).
    pub signals: Option<Arc<KeySignals>>,
    /// Keys created while clients were blocked: (db, key), served after the command (or the
    /// whole transaction) released its locks. Not cleared by [`reset`](Self::reset).
    pub ready: Vec<(usize, SmallBytes)>,
    /// The propagation stream; `None` where nothing propagates (unit tests).
    pub propagation: Option<Arc<Propagation>>,
    /// The batch being built: stamped at the first change, its ops in execution order. Kept
    /// across the commands of a transaction; see [`take_batch`](Self::take_batch).
    pub batch: Batch,
    /// The stamp of the last batch submitted (replies wait for it under `appendfsync
    /// always`).
    pub last_stamp: u64,
    /// What the running command propagates instead of its own arguments (EXPIRE as
    /// PEXPIREAT, SPOP as SREM, ...), set by its handler; `Some(vec![])` propagates nothing.
    pub rewrite: Option<Vec<SmallBytes>>,
}

impl Effects {
    pub fn new(now_ms: i64, db: usize, notify_flags: EventClass) -> Self {
        Effects {
            now_ms,
            lru_clock: lru_clock(now_ms),
            db,
            notify_flags,
            ..Default::default()
        }
    }

    /// Stages an event for `key` in the current database.
    #[inline]
    pub fn notify(&mut self, class: EventClass, name: &'static str, key: &[u8]) {
        self.notify_db(class, name, key, self.db);
    }

    /// Stages an event for `key` in database `db`.
    #[inline]
    pub fn notify_db(&mut self, class: EventClass, name: &'static str, key: &[u8], db: usize) {
        #[cfg(debug_assertions)]
        if self.signals.is_some() {
            let slot = super::key_slot(key).0;
            assert!(
                super::lock::guarded_by_current_thread(slot),
                "invariant: event '{name}' staged under the key's shard lock"
            );
        }
        if let Some(signals) = &self.signals
            && signals.active()
        {
            self.signal(class, name, key, db);
        }
        if class != EventClass::KEY_MISS {
            self.stamp();
        }
        if self.notify_flags.intersects(class)
            && self
                .notify_flags
                .intersects(EventClass::KEYSPACE | EventClass::KEYEVENT)
        {
            self.events.push(Event {
                class,
                name,
                key: SmallBytes::from_slice(key),
                db,
            });
        }
    }

    /// Tells watchers and blocked clients about a write (see [`KeySignals`]).
    #[cold]
    fn signal(&mut self, class: EventClass, name: &'static str, key: &[u8], db: usize) {
        let Some(signals) = &self.signals else {
            return;
        };
        if class == EventClass::KEY_MISS {
            return;
        }
        let how = if class == EventClass::EXPIRED
            || class == EventClass::EVICTED
            || matches!(name, "del" | "rename_from" | "move_from")
        {
            Touch::Deleted
        } else {
            Touch::Written
        };
        signals.touch(db, key, how);
        // A created key is what a blocked client can be waiting for (behaves like the
        // `signalKeyAsReady()` in `dbAdd()`); the serving side checks the type.
        if class == EventClass::NEW
            && signals.any_blocked()
            && !self
                .ready
                .iter()
                .any(|(d, k)| *d == db && k.as_slice() == key)
        {
            self.ready.push((db, SmallBytes::from_slice(key)));
        }
    }

    /// A key was found expired and removed: replicas and the AOF are told with a DEL,
    /// ahead of whatever the command itself propagates (behaves like
    /// `deleteExpiredKeyAndPropagate()`).
    pub fn expired(&mut self, key: &[u8]) {
        self.expired_keys += 1;
        self.notify(EventClass::EXPIRED, "expired", key);
        if self.batch.stamp != 0 {
            self.batch.ops.push(PropOp::new(self.db, &[b"DEL", key]));
        }
    }

    /// Stamps the batch at the first change, while the change's shard lock is held (see
    /// [`Propagation`]).
    #[inline]
    pub fn stamp(&mut self) {
        if self.batch.stamp == 0
            && let Some(p) = &self.propagation
            && p.enabled()
        {
            self.batch.stamp = p.take_stamp();
        }
    }

    /// Whether this command's effects go to the AOF or replicas (a rewrite is worth
    /// building).
    #[inline]
    pub fn propagating(&self) -> bool {
        self.batch.stamp != 0
    }

    /// Propagates `args` instead of the running command's own arguments (nothing at all
    /// when empty). Does nothing while nothing is being propagated.
    pub fn rewrite_as(&mut self, args: &[&[u8]]) {
        if self.batch.stamp != 0 {
            self.rewrite = Some(args.iter().map(|a| SmallBytes::from_slice(a)).collect());
        }
    }

    /// Queues an op of the running command or transaction (after any staged earlier).
    pub fn propagate(&mut self, op: PropOp) {
        if self.batch.stamp != 0 {
            self.batch.ops.push(op);
        }
    }

    /// Hands the finished batch, if stamped, to the stream, and starts a new one.
    pub fn submit_batch(&mut self) {
        if self.batch.stamp == 0 {
            return;
        }
        let batch = std::mem::take(&mut self.batch);
        self.last_stamp = batch.stamp;
        if let Some(p) = &self.propagation {
            p.submit(batch);
        }
    }

    /// An accessed entry's new `lru` field: the LRU clock, or its LFU counter bumped.
    #[inline]
    pub fn touched(&self, field: u32) -> u32 {
        match self.lfu {
            Some(lfu) => super::lfu::touched(field, self.now_ms, lfu),
            None => self.lru_clock,
        }
    }

    /// A new entry's `lru` field.
    #[inline]
    pub fn new_lru_field(&self) -> u32 {
        match self.lfu {
            Some(_) => super::lfu::new_field(self.now_ms),
            None => self.lru_clock,
        }
    }

    /// Resets for the next command, keeping the allocation of the event list.
    pub fn reset(&mut self, now_ms: i64, db: usize, notify_flags: EventClass) {
        self.now_ms = now_ms;
        self.lru_clock = lru_clock(now_ms);
        self.db = db;
        self.notify_flags = notify_flags;
        self.events.clear();
        self.expired_keys = 0;
        self.keyspace_hits = 0;
        self.keyspace_misses = 0;
        self.dirty = 0;
    }
}

/// Redis's LRU clock: seconds, in 24 bits.
pub fn lru_clock(now_ms: i64) -> u32 {
    ((now_ms / 1000) as u32) & ((1 << 24) - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_strings_round_trip_like_redis() {
        let f = EventClass::parse(b"KEA").unwrap();
        assert_eq!(f.to_config_string(), "AKE");
        let f = EventClass::parse(b"Ex$g").unwrap();
        assert_eq!(f.to_config_string(), "g$xE");
        let with_new = EventClass::parse(b"KEAn").unwrap();
        assert_eq!(with_new.to_config_string(), "AKE");
        let stored = with_new.to_lossless_string();
        assert_eq!(EventClass::parse(stored.as_bytes()), Some(with_new));
        assert!(EventClass::parse(b"Q").is_none());
    }
}
