//! Shard locks, with hold-for-a-transaction.
//!
//! Each shard has its own mutex. Commands lock the shards of their keys (several in
//! ascending slot order). EXEC must run all its queued commands atomically: it first takes
//! every shard the transaction touches (in slot order, or all of them) and marks them *held*
//! by its thread; a handler that then locks one of those shards gets it without locking
//! again. So handlers are written once, for both cases.
//!
//! Soundness: a held shard is only reachable from the holding thread (others block on its
//! mutex), and on that thread at most one guard per shard may exist at a time (checked at
//! run time: a second guard on a shard is a bug and panics instead of aliasing).

use std::cell::{Cell, RefCell, UnsafeCell};
use std::ops::{Deref, DerefMut};

use parking_lot::lock_api::RawMutex as _;

use super::ShardData;
use super::slot::SLOTS;

/// One slot shard: its lock and its data. Aligned to a cache line so neighbouring shards
/// locked from different threads do not share one; `repr(C)` keeps the mutex and, right
/// after it, database 0's table pointers in that first line, so a lookup misses the cache
/// once for both.
#[repr(C, align(64))]
pub struct Shard {
    raw: parking_lot::RawMutex,
    data: UnsafeCell<ShardData>,
}

// SAFETY: the data is only reached through a ShardGuard, which exists only while `raw` is
// locked by the current thread (owned guard) or held by it for a transaction (see the module
// docs), one guard per shard at a time.
unsafe impl Sync for Shard {}
// SAFETY: ShardData is Send; the mutex is free when a Shard moves.
unsafe impl Send for Shard {}

impl Default for Shard {
    fn default() -> Self {
        Shard {
            raw: parking_lot::RawMutex::INIT,
            data: UnsafeCell::new(ShardData::default()),
        }
    }
}

/// What the current thread holds for a transaction.
#[derive(Default)]
struct Held {
    /// Every shard is held.
    all: bool,
    /// The held slots, sorted (when not `all`).
    slots: Vec<u16>,
    /// Held slots that a guard is using right now, one bit per slot (a transaction holding
    /// everything may run FLUSHALL, which takes a guard on every shard).
    in_use: Vec<u64>,
}

impl Held {
    fn holds(&self, slot: u16) -> bool {
        self.all || self.slots.binary_search(&slot).is_ok()
    }
}

thread_local! {
    /// Whether this thread holds shards (a one-byte check on every lock).
    static HOLDING: Cell<bool> = const { Cell::new(false) };
    static HELD: RefCell<Held> = RefCell::new(Held::default());
}

/// Claims a held shard for a guard; `false` if this thread holds no shards.
fn claim_held(slot: u16) -> bool {
    if !HOLDING.with(Cell::get) {
        return false;
    }
    HELD.with(|h| {
        let mut h = h.borrow_mut();
        // Locking a shard outside the held set could deadlock against another thread's
        // ascending-order locking; transactions compute their shards up front, so reaching
        // here is a bug, reported as a panic (an error reply) rather than a hang.
        assert!(
            h.holds(slot),
            "invariant: a transaction locks only the shards it holds"
        );
        let (word, bit) = (slot as usize / 64, 1u64 << (slot % 64));
        assert!(
            h.in_use[word] & bit == 0,
            "invariant: one guard per shard at a time"
        );
        h.in_use[word] |= bit;
        true
    })
}

fn release_held(slot: u16) {
    HELD.with(|h| {
        let (word, bit) = (slot as usize / 64, 1u64 << (slot % 64));
        h.borrow_mut().in_use[word] &= !bit;
    });
}

/// Debug builds track which shards the current thread has guards on, so code that must run
/// under a key's lock (staging keyspace events, which also invalidate WATCHes) can assert
/// it does.
#[cfg(debug_assertions)]
mod tracking {
    use std::cell::RefCell;

    use super::SLOTS;

    thread_local! {
        static GUARDED: RefCell<Vec<u64>> = RefCell::new(vec![0; SLOTS / 64]);
    }

    pub fn set(slot: u16, on: bool) {
        GUARDED.with(|g| {
            let mut g = g.borrow_mut();
            let (word, bit) = (slot as usize / 64, 1u64 << (slot % 64));
            if on {
                g[word] |= bit;
            } else {
                g[word] &= !bit;
            }
        });
    }

    pub fn is_set(slot: u16) -> bool {
        GUARDED.with(|g| g.borrow()[slot as usize / 64] & (1u64 << (slot % 64)) != 0)
    }
}

/// Whether the current thread has a guard on `slot` or holds it for a transaction (debug
/// builds only).
#[cfg(debug_assertions)]
pub fn guarded_by_current_thread(slot: u16) -> bool {
    tracking::is_set(slot) || (HOLDING.with(Cell::get) && HELD.with(|h| h.borrow().holds(slot)))
}

impl Shard {
    /// Locks the shard (or reuses it when this thread holds it for a transaction).
    #[inline]
    pub(super) fn lock(&self, slot: u16) -> ShardGuard<'_> {
        let owned = !claim_held(slot);
        if owned {
            self.raw.lock();
        }
        #[cfg(debug_assertions)]
        tracking::set(slot, true);
        ShardGuard {
            shard: self,
            slot,
            owned,
        }
    }
}

/// A locked shard.
pub struct ShardGuard<'a> {
    shard: &'a Shard,
    slot: u16,
    /// Unlock on drop (false for a shard held by a transaction).
    owned: bool,
}

impl Deref for ShardGuard<'_> {
    type Target = ShardData;
    #[inline]
    fn deref(&self) -> &ShardData {
        // SAFETY: this guard is the only one on the shard, and the shard is locked or held
        // by this thread (module docs).
        unsafe { &*self.shard.data.get() }
    }
}

impl DerefMut for ShardGuard<'_> {
    #[inline]
    fn deref_mut(&mut self) -> &mut ShardData {
        // SAFETY: as for Deref; `&mut self` makes this access unique.
        unsafe { &mut *self.shard.data.get() }
    }
}

impl Drop for ShardGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        #[cfg(debug_assertions)]
        tracking::set(self.slot, false);
        if self.owned {
            // SAFETY: an owned guard is created right after locking `raw` on this thread.
            unsafe { self.shard.raw.unlock() };
        } else {
            release_held(self.slot);
        }
    }
}

/// Shards held by the current thread for a transaction; released on drop.
pub struct Holding<'a> {
    shards: &'a [Shard],
    slots: Vec<u16>,
}

/// Takes `slots` (sorted, deduplicated), or every shard when `None`, in ascending order, and
/// marks them held by this thread until the returned value is dropped.
pub(super) fn hold(shards: &[Shard], slots: Option<Vec<u16>>) -> Holding<'_> {
    assert!(
        !HOLDING.with(Cell::get),
        "invariant: transactions do not nest"
    );
    let all = slots.is_none();
    let slots = slots.unwrap_or_else(|| (0..SLOTS as u16).collect());
    for &s in &slots {
        shards[s as usize].raw.lock();
    }
    HELD.with(|h| {
        let mut h = h.borrow_mut();
        h.all = all;
        h.slots = if all { Vec::new() } else { slots.clone() };
        h.in_use = vec![0; SLOTS / 64];
    });
    HOLDING.with(|c| c.set(true));
    Holding { shards, slots }
}

impl Drop for Holding<'_> {
    fn drop(&mut self) {
        HOLDING.with(|c| c.set(false));
        HELD.with(|h| *h.borrow_mut() = Held::default());
        for &s in &self.slots {
            // SAFETY: `hold` locked every one of these slots on this thread.
            unsafe { self.shards[s as usize].raw.unlock() };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Keyspace;

    #[test]
    fn lock_and_table_share_the_first_cache_line() {
        let shard = super::Shard::default();
        let base = &shard as *const _ as usize;
        let data = shard.data.get() as usize;
        let db0 = unsafe { &(*shard.data.get()).db0 } as *const _ as usize;
        assert!(data - base < 64 && db0 - base < 64);
        assert!(
            db0 - base + 40 <= 64,
            "entries and index pointers fit the first line"
        );
    }

    #[test]
    fn held_shards_are_reused_not_relocked() {
        let ks = Keyspace::new(1);
        let slot = super::super::key_slot(b"k").0;
        let holding = ks.hold(Some(vec![slot]));
        {
            // Would deadlock without the hold.
            let mut g = ks.lock_key(b"k");
            g.db(0);
        }
        let _again = ks.lock_key(b"k");
        drop(_again);
        drop(holding);
        // Released: another thread can lock it.
        std::thread::scope(|s| {
            s.spawn(|| drop(ks.lock_key(b"k")));
        });
    }

    #[test]
    #[should_panic(expected = "locks only the shards it holds")]
    fn locking_outside_the_held_set_panics_instead_of_risking_deadlock() {
        let ks = Keyspace::new(1);
        let held = super::super::key_slot(b"a").0;
        assert_ne!(held, super::super::key_slot(b"b").0);
        let _holding = ks.hold(Some(vec![held]));
        let _b = ks.lock_key(b"b");
    }

    #[test]
    #[should_panic(expected = "one guard per shard")]
    fn two_guards_on_a_held_shard_panic() {
        let ks = Keyspace::new(1);
        let _holding = ks.hold(None);
        let _a = ks.lock_key(b"k");
        let _b = ks.lock_key(b"k");
    }
}
