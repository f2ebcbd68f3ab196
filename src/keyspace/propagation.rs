//! The entry to the ordered propagation stream (DESIGN.md): every write that changes the
//! dataset is stamped, while it still holds its shard locks, with the next number of one
//! counter; what it propagates (its own command in deterministic form, the deletions of
//! keys it found expired) is handed over afterwards as a [`Batch`] with that stamp.
//!
//! Why stamps: two writes on the same shard take their stamps in the order they hold its
//! lock, and a write that depends on another's result (it read a key the other wrote) can
//! only take its lock, and so its stamp, after the other released it. Ordering batches by
//! stamp is therefore an order every replica and AOF reader can replay to the same dataset,
//! without holding a global lock while the bytes are built. Consumers (the AOF writer, later
//! the replication backlog) put batches back in stamp order; every stamp taken is submitted
//! exactly once (an empty batch when nothing was propagated), so there are no gaps.
//!
//! With no consumer connected nothing is stamped: the cost on the write path is one relaxed
//! atomic load.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::Sender;

use parking_lot::Mutex;

use super::bytes::SmallBytes;

/// One command as propagated, in the database it ran in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PropOp {
    pub db: usize,
    pub argv: Vec<SmallBytes>,
}

impl PropOp {
    pub fn new(db: usize, argv: &[&[u8]]) -> Self {
        PropOp {
            db,
            argv: argv.iter().map(|a| SmallBytes::from_slice(a)).collect(),
        }
    }
}

/// What one stamped write propagates.
#[derive(Debug, Default)]
pub struct Batch {
    pub stamp: u64,
    pub ops: Vec<PropOp>,
    /// Several ops go out as separate commands, not wrapped in MULTI/EXEC (the expiry
    /// cycle's deletions, as Redis's `propagate_no_multi`).
    pub no_multi: bool,
}

/// A consumer's end of the stream: batches in submission order (not yet stamp order; see
/// [`Sequencer`]).
pub type BatchSender = Sender<Arc<Batch>>;

/// The stamp counter and the consumers.
#[derive(Default, Debug)]
pub struct Propagation {
    enabled: AtomicBool,
    /// The last stamp handed out.
    last: AtomicU64,
    sinks: Mutex<Vec<(u64, BatchSender)>>,
    next_sink: AtomicU64,
}

impl Propagation {
    /// Whether writes are stamped and propagated now.
    #[inline]
    pub fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    /// The next stamp; call with the write's shard locks held.
    pub fn take_stamp(&self) -> u64 {
        self.last.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// The last stamp handed out. Read under the gate (every shard locked), no write can be
    /// taking one, so every later write gets a higher stamp.
    pub fn last_stamp(&self) -> u64 {
        self.last.load(Ordering::SeqCst)
    }

    /// Hands a stamped batch to every consumer (those that went away are dropped).
    pub fn submit(&self, batch: Batch) {
        let batch = Arc::new(batch);
        let mut sinks = self.sinks.lock();
        sinks.retain(|(_, sink)| sink.send(batch.clone()).is_ok());
    }

    /// Connects a consumer; writes are stamped from now on. Call under the gate (every
    /// shard locked), so no write is between taking a stamp and checking whether to, or
    /// before any write runs. Returns the consumer's id and the first stamp it will
    /// receive (lower ones belong to the state the consumer starts from).
    pub fn connect(&self, sink: BatchSender) -> (u64, u64) {
        let id = self.next_sink.fetch_add(1, Ordering::Relaxed);
        self.sinks.lock().push((id, sink));
        self.enabled.store(true, Ordering::SeqCst);
        (id, self.last_stamp() + 1)
    }

    /// Disconnects a consumer; with none left, writes stop being stamped.
    pub fn disconnect(&self, id: u64) {
        let mut sinks = self.sinks.lock();
        sinks.retain(|(i, _)| *i != id);
        if sinks.is_empty() {
            self.enabled.store(false, Ordering::SeqCst);
        }
    }
}

/// Puts a consumer's batches back in stamp order.
pub struct Sequencer {
    next: u64,
    pending: BTreeMap<u64, Arc<Batch>>,
}

impl Sequencer {
    /// Starts at stamp `first`; lower stamps are ignored.
    pub fn new(first: u64) -> Self {
        Sequencer {
            next: first,
            pending: BTreeMap::new(),
        }
    }

    pub fn accept(&mut self, batch: Arc<Batch>) {
        if batch.stamp >= self.next {
            self.pending.insert(batch.stamp, batch);
        }
    }

    /// The next batch in stamp order, if it has arrived.
    pub fn pop_ready(&mut self) -> Option<Arc<Batch>> {
        let batch = self.pending.remove(&self.next)?;
        self.next += 1;
        Some(batch)
    }

    /// The stamp the next batch will carry.
    pub fn next_stamp(&self) -> u64 {
        self.next
    }
}
