//! Point-in-time snapshots without fork: copy-on-first-write per slot shard (DESIGN.md).
//!
//! A snapshot starts under the gate (every shard locked), which fixes its instant. From then
//! until it ends, every shard is handed to the snapshot's visitor exactly once, with its
//! contents as of that instant: either by the walk that visits the shards in slot order, or,
//! first, by whichever thread locks a shard the walk has not reached yet — before that
//! thread can change anything in it. The visitor serializes into memory (never to disk), so
//! a writer pays the serialization of one shard at most, once per snapshot, and never waits
//! for I/O.
//!
//! Each shard remembers the epoch it was last visited for; a snapshot has a fresh epoch, so
//! "not visited yet" is one comparison under the shard's lock. With no snapshot running the
//! cost on every lock is one relaxed atomic load.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::{Mutex, RwLock};

use super::{ShardData, Slot};

/// Called once per shard with its contents as of the snapshot's instant.
pub type ShardVisitor = Arc<dyn Fn(Slot, &ShardData) + Send + Sync>;

/// The snapshot state every shard lock consults.
#[derive(Default)]
pub struct SnapshotHook {
    /// The running snapshot's epoch; 0 when none runs.
    active: AtomicU64,
    /// The last epoch handed out.
    last_epoch: AtomicU64,
    visitor: RwLock<Option<ShardVisitor>>,
    /// One snapshot at a time.
    running: Mutex<()>,
}

/// A snapshot could not start: another one is running.
#[derive(Debug, PartialEq, Eq)]
pub struct SnapshotBusy;

impl SnapshotHook {
    /// Runs on every shard lock, before the locker sees the data.
    #[inline]
    pub(super) fn before_use(&self, slot: u16, data: &mut ShardData) {
        let epoch = self.active.load(Ordering::Acquire);
        if epoch != 0 && data.snapshot_epoch != epoch {
            self.capture(slot, data, epoch);
        }
    }

    #[cold]
    fn capture(&self, slot: u16, data: &mut ShardData, epoch: u64) {
        if let Some(visit) = self.visitor.read().as_ref() {
            visit(Slot(slot), data);
        }
        data.snapshot_epoch = epoch;
    }

    pub(super) fn try_begin(&self) -> Result<parking_lot::MutexGuard<'_, ()>, SnapshotBusy> {
        self.running.try_lock().ok_or(SnapshotBusy)
    }

    /// Activates a snapshot; call with every shard locked.
    pub(super) fn activate(&self, visit: ShardVisitor) {
        *self.visitor.write() = Some(visit);
        let epoch = self.last_epoch.fetch_add(1, Ordering::Relaxed) + 1;
        self.active.store(epoch, Ordering::Release);
    }

    /// Ends the snapshot once every shard has been visited.
    pub(super) fn deactivate(&self) {
        self.active.store(0, Ordering::Release);
        *self.visitor.write() = None;
    }

    /// Whether a snapshot is running.
    pub fn is_running(&self) -> bool {
        self.active.load(Ordering::Acquire) != 0
    }
}
