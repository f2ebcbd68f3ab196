//! The keyspace: 16384 slot shards, each behind its own lock, each holding the keys of that
//! slot for every database.
//!
//! Invariants:
//! - a key lives in the shard of `key_slot(key)`, in the table of its database;
//! - a command locks the shards of its keys in ascending slot order ([`Keyspace::lock_slots`]),
//!   so two multi-key commands never deadlock;
//! - whole-keyspace operations (FLUSHALL, SWAPDB, snapshot start) lock every shard in the
//!   same order ([`Keyspace::lock_all`]): the per-command path pays nothing for them;
//! - an expired key is removed exactly once, under its shard lock, by whoever sees it first
//!   (a lookup or the active cycle), which also counts it and stages its `expired` event.

pub mod bytes;
pub mod dense;
pub mod effects;
pub mod lfu;
pub mod list;
pub mod lock;
pub mod propagation;
pub mod signals;
pub mod slot;
pub mod snapshot;
pub mod value;
pub mod zset;

use bitflags::bitflags;

pub use bytes::SmallBytes;
pub use dense::DenseTable;
pub use effects::{Effects, EventClass};
pub use lock::{Holding, Shard, ShardGuard};
pub use propagation::{Batch, BatchSender, PropOp, Propagation, Sequencer};
pub use signals::{KeySignals, Touch, WatchFlag};
pub use slot::{Slot, key_slot};
pub use snapshot::{ShardVisitor, SnapshotBusy};
pub use value::{Entry, HashValue, ListValue, SetValue, StrEncoding, Value, ValueType, ZSetValue};

bitflags! {
    /// How a lookup treats the key it finds (Redis's `LOOKUP_*` flags). The empty set is a
    /// plain read lookup: it touches the key, counts a hit or miss and stages `keymiss`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
    pub struct LookupFlags: u8 {
        /// Leave the access time alone (`LOOKUP_NOTOUCH`: OBJECT, TYPE, TTL, EXISTS).
        const NOTOUCH = 1 << 0;
        /// No `keymiss` event on a miss (`LOOKUP_NONOTIFY`).
        const NONOTIFY = 1 << 1;
        /// No keyspace hit/miss counting (`LOOKUP_NOSTATS`).
        const NOSTATS = 1 << 2;
    }
}

/// What a database knows about its keys' expiry times, kept up to date on every change.
struct ExpiryBook {
    /// Keys with an expiry.
    count: usize,
    /// Sum of their expiry times (ms): the average TTL in O(1) for INFO keyspace.
    sum_ms: i128,
    /// No key expires before this (a lower bound, exact after each sweep): the active cycle
    /// skips the table until then instead of walking it.
    next_due_ms: i64,
}

impl Default for ExpiryBook {
    fn default() -> Self {
        ExpiryBook {
            count: 0,
            sum_ms: 0,
            next_due_ms: i64::MAX,
        }
    }
}

impl ExpiryBook {
    /// A key's expiry changes from `old` to `new` (0 = none).
    fn track(&mut self, old: i64, new: i64) {
        if old != 0 {
            self.count -= 1;
            self.sum_ms -= old as i128;
        }
        if new != 0 {
            self.count += 1;
            self.sum_ms += new as i128;
            self.next_due_ms = self.next_due_ms.min(new);
        }
    }
}

/// One database inside one shard. `repr(C)`: the table (touched on every lookup) first.
#[derive(Default)]
#[repr(C)]
pub struct Db {
    table: DenseTable<Entry>,
    expiry: ExpiryBook,
}

impl Db {
    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Keys with an expiry.
    pub fn expires(&self) -> usize {
        self.expiry.count
    }

    /// Sum of the expiry times (ms) of the keys that have one.
    pub fn expiry_sum_ms(&self) -> i128 {
        self.expiry.sum_ms
    }

    /// The entry for `key`, expired or not, without touching anything.
    pub fn peek(&self, key: &[u8]) -> Option<&Entry> {
        self.table.get(key)
    }

    /// Position of a live `key` for a write: an expired key is deleted here and reported
    /// through `fx` (behaves like `expireIfNeeded()` + `lookupKeyWrite()`). Updates the
    /// access time; no hit/miss counting, no `keymiss` event.
    #[inline]
    pub fn find(&mut self, key: &[u8], fx: &mut Effects) -> Option<usize> {
        self.find_with(key, fx, LookupFlags::NOSTATS | LookupFlags::NONOTIFY)
    }

    /// Like [`find`](Self::find) for a read: counts a keyspace hit or miss and stages
    /// `keymiss` on a miss (behaves like `lookupKeyRead()`).
    #[inline]
    pub fn find_read(&mut self, key: &[u8], fx: &mut Effects) -> Option<usize> {
        self.find_with(key, fx, LookupFlags::empty())
    }

    /// Position of a live `key`, with Redis's lookup flags (behaves like `lookupKey()` for
    /// reads): an expired key is deleted and reported as in [`find`](Self::find).
    #[inline]
    pub fn find_with(&mut self, key: &[u8], fx: &mut Effects, flags: LookupFlags) -> Option<usize> {
        let found = match self.table.position(key) {
            Some(pos) if self.expire_if_due(pos, fx) => None,
            found => found,
        };
        match found {
            Some(pos) => {
                if !flags.contains(LookupFlags::NOTOUCH) {
                    let e = self.table.at_mut(pos);
                    e.lru = fx.touched(e.lru);
                }
                if !flags.contains(LookupFlags::NOSTATS) {
                    fx.keyspace_hits += 1;
                }
            }
            None => {
                if !flags.contains(LookupFlags::NONOTIFY) {
                    fx.notify(EventClass::KEY_MISS, "keymiss", key);
                }
                if !flags.contains(LookupFlags::NOSTATS) {
                    fx.keyspace_misses += 1;
                }
            }
        }
        found
    }

    /// Deletes the entry at `pos` if its time has come, reporting it through `fx` like a
    /// lookup would; returns whether it did (the position then holds another entry or none).
    pub fn expire_if_due(&mut self, pos: usize, fx: &mut Effects) -> bool {
        if !self.table.at(pos).is_expired(fx.now_ms) {
            return false;
        }
        if !fx.paused {
            self.expire_at_pos(pos, fx);
        }
        true
    }

    /// The live entry for `key` (see [`find`](Self::find)).
    #[inline]
    pub fn lookup(&mut self, key: &[u8], fx: &mut Effects) -> Option<&mut Entry> {
        let pos = self.find(key, fx)?;
        Some(self.table.at_mut(pos))
    }

    /// The live entry for `key`, counting a hit or miss.
    #[inline]
    pub fn lookup_read(&mut self, key: &[u8], fx: &mut Effects) -> Option<&mut Entry> {
        let pos = self.find_read(key, fx)?;
        Some(self.table.at_mut(pos))
    }

    #[inline]
    pub fn at(&self, pos: usize) -> &Entry {
        self.table.at(pos)
    }

    #[inline]
    pub fn at_mut(&mut self, pos: usize) -> &mut Entry {
        self.table.at_mut(pos)
    }

    fn expire_at_pos(&mut self, pos: usize, fx: &mut Effects) {
        let entry = self.remove_at(pos);
        fx.expired(&entry.key);
    }

    /// Adds a key that is not present (a live lookup just missed) and stages the `new`
    /// event (behaves like `dbAdd()`). Returns its position.
    pub fn add(&mut self, key: &[u8], value: Value, fx: &mut Effects) -> usize {
        fx.notify(EventClass::NEW, "new", key);
        self.table
            .insert_new(Entry::new(key, value, fx.new_lru_field()))
    }

    /// Stores `value` under `key`, replacing any value; the expiry is cleared unless
    /// `keep_ttl` (behaves like `setKey()`). Returns the position.
    pub fn set(&mut self, key: &[u8], value: Value, keep_ttl: bool, fx: &mut Effects) -> usize {
        let found = self.table.position(key);
        // An expired entry is gone for the client: it expires (event, count) and the key is
        // created anew (`new` event), as a lookup followed by an add would do in Redis.
        let found = match found {
            Some(pos) if self.table.at(pos).is_expired(fx.now_ms) && !fx.paused => {
                self.expire_at_pos(pos, fx);
                None
            }
            other => other,
        };
        match found {
            Some(pos) => {
                let e = self.table.at_mut(pos);
                e.value = value;
                e.str_encoding = StrEncoding::Auto;
                // The new value is a new object for LRU; LFU keeps the old one's counter,
                // which the command's own lookup already bumped (`dbOverwrite()`).
                if fx.lfu.is_none() {
                    e.lru = fx.lru_clock;
                }
                if !keep_ttl && e.expire_at != 0 {
                    let old = std::mem::replace(&mut e.expire_at, 0);
                    self.expiry.track(old, 0);
                }
                pos
            }
            None => self.add(key, value, fx),
        }
    }

    /// Removes `key`; returns the entry (expired or not).
    pub fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        let pos = self.table.position(key)?;
        Some(self.remove_at(pos))
    }

    pub fn remove_at(&mut self, pos: usize) -> Entry {
        let entry = self.table.remove_at(pos);
        self.expiry.track(entry.expire_at, 0);
        entry
    }

    /// Puts back a whole entry (RENAME, MOVE, SWAPDB); replaces any entry with its key.
    pub fn put(&mut self, entry: Entry) {
        let new = entry.expire_at;
        let old = self.table.insert(entry).map_or(0, |old| old.expire_at);
        self.expiry.track(old, new);
    }

    /// Sets or clears (0) the expiry of the entry at `pos`.
    pub fn set_expire(&mut self, pos: usize, at_ms: i64) {
        let old = std::mem::replace(&mut self.table.at_mut(pos).expire_at, at_ms);
        self.expiry.track(old, at_ms);
    }

    pub fn entries(&self) -> &[Entry] {
        self.table.entries()
    }

    /// One SCAN step over this table (see [`DenseTable::scan`]).
    pub fn scan(&self, cursor: u64, count: usize, visit: impl FnMut(&Entry)) -> u64 {
        self.table.scan(cursor, count, visit)
    }

    /// Removes every expired key; returns how many. Walks the table only when something may
    /// be due, and leaves the exact next due time behind.
    pub fn expire_all_due(&mut self, fx: &mut Effects) -> usize {
        if self.expiry.count == 0 || fx.now_ms < self.expiry.next_due_ms {
            return 0;
        }
        let mut removed = 0;
        let mut next_due = i64::MAX;
        let mut pos = 0;
        while pos < self.table.len() {
            let at = self.table.at(pos).expire_at;
            if at != 0 && at <= fx.now_ms {
                self.expire_at_pos(pos, fx);
                removed += 1;
            } else {
                if at != 0 {
                    next_due = next_due.min(at);
                }
                pos += 1;
            }
        }
        self.expiry.next_due_ms = next_due;
        removed
    }

    pub fn allocated_bytes(&self) -> usize {
        self.table.allocated_bytes()
    }
}

/// The databases of one slot. Database 0 is inline, so the common lookup touches the
/// shard's own cache line first and no separate allocation; others are created on first
/// write.
#[derive(Default)]
#[repr(C)]
pub struct ShardData {
    db0: Db,
    /// Databases 1.., grown on demand.
    others: Vec<Db>,
    /// The epoch of the last snapshot that captured this shard (see [`snapshot`]).
    snapshot_epoch: u64,
}

impl ShardData {
    /// Database `db` for reading; `None` if nothing was ever written to it here.
    #[inline]
    pub fn db_ref(&self, db: usize) -> Option<&Db> {
        if db == 0 {
            Some(&self.db0)
        } else {
            self.others.get(db - 1)
        }
    }

    /// Database `db` for writing, without creating it; `None` if it does not exist here.
    #[inline]
    pub fn db_mut(&mut self, db: usize) -> Option<&mut Db> {
        if db == 0 {
            Some(&mut self.db0)
        } else {
            self.others.get_mut(db - 1)
        }
    }

    /// Database `db`, created if needed.
    #[inline]
    pub fn db(&mut self, db: usize) -> &mut Db {
        if db == 0 {
            return &mut self.db0;
        }
        if db > self.others.len() {
            self.others.resize_with(db, Db::default);
        }
        &mut self.others[db - 1]
    }

    /// Takes every database out of this shard, leaving it empty (FLUSHALL, DEBUG RELOAD).
    /// The shard keeps its snapshot mark: a running snapshot has already captured it.
    pub fn take_contents(&mut self) -> ShardData {
        ShardData {
            db0: std::mem::take(&mut self.db0),
            others: std::mem::take(&mut self.others),
            snapshot_epoch: self.snapshot_epoch,
        }
    }

    /// Number of databases that exist in this shard (db 0 always does).
    pub fn db_count(&self) -> usize {
        1 + self.others.len()
    }

    /// Takes database `db` out of this shard, leaving it empty (FLUSHDB frees it after the
    /// locks are released); `None` if it does not exist here.
    pub fn take_db(&mut self, db: usize) -> Option<Db> {
        self.db_mut(db).map(std::mem::take)
    }

    /// Keys in all databases of this shard.
    pub fn key_count(&self) -> usize {
        (0..self.db_count())
            .filter_map(|db| self.db_ref(db))
            .map(Db::len)
            .sum()
    }

    /// Swaps two databases (SWAPDB).
    pub fn swap_dbs(&mut self, a: usize, b: usize) {
        if a == b {
            return;
        }
        let (lo, hi) = (a.min(b), a.max(b));
        if hi >= self.db_count() && self.db_ref(lo).is_none_or(|d| d.is_empty()) {
            return;
        }
        let taken_hi = std::mem::take(self.db(hi));
        let taken_lo = std::mem::replace(self.db(lo), taken_hi);
        *self.db(hi) = taken_lo;
    }
}

/// Several locked shards, taken in ascending slot order.
pub struct MultiGuard<'a> {
    /// (slot, guard), sorted by slot, without duplicates.
    guards: Vec<(u16, ShardGuard<'a>)>,
}

impl MultiGuard<'_> {
    /// The locked shard of `key`. Panics if the key's slot was not locked: callers lock
    /// exactly the keys they touch.
    pub fn shard(&mut self, key: &[u8]) -> &mut ShardData {
        let slot = key_slot(key).0;
        let i = self
            .guards
            .binary_search_by_key(&slot, |(s, _)| *s)
            .expect("invariant: the key's slot is locked");
        &mut self.guards[i].1
    }

    /// Database `db` of `key`'s shard.
    pub fn db(&mut self, key: &[u8], db: usize) -> &mut Db {
        self.shard(key).db(db)
    }
}

/// The whole keyspace.
pub struct Keyspace {
    shards: Box<[Shard]>,
    databases: usize,
    snapshot: snapshot::SnapshotHook,
}

impl Keyspace {
    pub fn new(databases: usize) -> Self {
        let shards = (0..slot::SLOTS).map(|_| Shard::default()).collect();
        Keyspace {
            shards,
            databases,
            snapshot: snapshot::SnapshotHook::default(),
        }
    }

    /// Number of databases (`databases` option).
    pub fn databases(&self) -> usize {
        self.databases
    }

    #[inline]
    pub fn lock(&self, slot: Slot) -> ShardGuard<'_> {
        self.guard(slot.0)
    }

    /// Every shard lock goes through here: a running snapshot captures the shard first.
    #[inline]
    fn guard(&self, slot: u16) -> ShardGuard<'_> {
        let mut guard = self.shards[slot as usize].lock(slot);
        self.snapshot.before_use(slot, &mut guard);
        guard
    }

    #[inline]
    pub fn lock_key(&self, key: &[u8]) -> ShardGuard<'_> {
        self.lock(key_slot(key))
    }

    /// Locks the shards of all `keys`, in ascending slot order.
    pub fn lock_keys<'k>(&self, keys: impl IntoIterator<Item = &'k [u8]>) -> MultiGuard<'_> {
        let mut slots: Vec<u16> = keys.into_iter().map(|k| key_slot(k).0).collect();
        self.lock_slots(&mut slots)
    }

    /// Locks these slots in ascending order (sorting and deduplicating `slots`).
    pub fn lock_slots(&self, slots: &mut Vec<u16>) -> MultiGuard<'_> {
        slots.sort_unstable();
        slots.dedup();
        let guards = slots.iter().map(|&s| (s, self.guard(s))).collect();
        MultiGuard { guards }
    }

    /// Locks every shard, in slot order: the exclusive gate for whole-keyspace operations.
    pub fn lock_all(&self) -> Vec<ShardGuard<'_>> {
        (0..self.shards.len() as u16)
            .map(|i| self.guard(i))
            .collect()
    }

    /// Runs `f` on each shard in turn, each locked only while `f` runs on it.
    pub fn for_each_shard(&self, mut f: impl FnMut(Slot, &mut ShardData)) {
        for i in 0..self.shards.len() as u16 {
            let mut guard = self.guard(i);
            f(Slot(i), &mut guard);
        }
    }

    /// Takes the shards of `slots` (all shards when `None`) for a transaction: until the
    /// result is dropped, this thread's `lock*` calls on them succeed without locking.
    pub fn hold(&self, slots: Option<Vec<u16>>) -> Holding<'_> {
        let slots = slots.map(|mut s| {
            s.sort_unstable();
            s.dedup();
            s
        });
        lock::hold(&self.shards, slots)
    }

    /// Takes a point-in-time snapshot (see [`snapshot`]): `start` runs under the gate, with
    /// every shard locked, so what it reads is the snapshot's instant; then `visit` is called
    /// exactly once per shard with its contents as of that instant, by this thread's walk
    /// over the slots or by the first thread to lock the shard before the walk gets there.
    /// `after_each` runs after each step of the walk with no lock held (to write out what
    /// `visit` produced). Returns when every shard has been visited.
    pub fn snapshot(
        &self,
        start: impl FnOnce(&[ShardGuard<'_>]),
        visit: ShardVisitor,
        mut after_each: impl FnMut(),
    ) -> Result<(), SnapshotBusy> {
        let _one_at_a_time = self.snapshot.try_begin()?;
        {
            let all = self.lock_all();
            start(&all);
            self.snapshot.activate(visit);
        }
        for i in 0..self.shards.len() as u16 {
            drop(self.guard(i));
            after_each();
        }
        self.snapshot.deactivate();
        Ok(())
    }

    /// Whether a snapshot is being taken.
    pub fn snapshot_running(&self) -> bool {
        self.snapshot.is_running()
    }

    /// Keys of database `db` in one slot (CLUSTER COUNTKEYSINSLOT: one shard, O(1)).
    pub fn keys_in_slot(&self, slot: Slot, db: usize) -> usize {
        self.guard(slot.0).db_ref(db).map_or(0, Db::len)
    }

    /// Keys and keys-with-expiry in database `db`.
    pub fn db_size(&self, db: usize) -> (usize, usize) {
        let mut keys = 0;
        let mut expires = 0;
        for i in 0..self.shards.len() as u16 {
            let guard = self.guard(i);
            if let Some(d) = guard.db_ref(db) {
                keys += d.len();
                expires += d.expires();
            }
        }
        (keys, expires)
    }
}
