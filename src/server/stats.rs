//! Server statistics for INFO: per-thread counters summed on read.
//!
//! Each worker thread writes only its own [`WorkerStats`], so counters are bumped with a
//! plain load + store (no locked instruction, no cache line shared between cores on the
//! per-command path); INFO sums all slots. Threads that are not workers share one slot
//! and use atomic adds.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use parking_lot::Mutex;

/// A counter with a single writer thread (or atomic adds via [`Counter::add_shared`]).
#[derive(Default, Debug)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds `n`; only the owning thread may call this.
    #[inline]
    pub fn add(&self, n: u64) {
        self.0.store(self.0.load(Relaxed).wrapping_add(n), Relaxed);
    }

    /// Adds `n` from any thread.
    #[inline]
    pub fn add_shared(&self, n: u64) {
        self.0.fetch_add(n, Relaxed);
    }

    #[inline]
    pub fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }

    pub fn reset(&self) {
        self.0.store(0, Relaxed);
    }
}

/// Per-command counters (INFO commandstats).
#[derive(Default, Debug)]
pub struct CommandCounters {
    pub calls: Counter,
    pub usec: Counter,
    pub rejected: Counter,
    pub failed: Counter,
}

/// Counters written by one thread.
#[repr(align(128))]
#[derive(Default)]
pub struct WorkerStats {
    pub commands: Box<[CommandCounters]>,
    pub total_commands: Counter,
    pub expired_keys: Counter,
    pub keyspace_hits: Counter,
    pub keyspace_misses: Counter,
    pub dirty: Counter,
    pub net_input_bytes: Counter,
    pub net_output_bytes: Counter,
    pub total_error_replies: Counter,
    pub reads_processed: Counter,
    pub writes_processed: Counter,
    /// Error replies by code (rarely written, so a mutex is fine).
    pub errors: Mutex<HashMap<String, u64>>,
}

impl WorkerStats {
    fn new(commands: usize) -> Self {
        WorkerStats {
            commands: (0..commands).map(|_| CommandCounters::default()).collect(),
            ..Default::default()
        }
    }

    pub fn count_error(&self, code: &str) {
        self.total_error_replies.add_shared(1);
        *self.errors.lock().entry(code.to_string()).or_insert(0) += 1;
    }
}

/// Sum of a counter over all slots.
macro_rules! sum {
    ($self:ident, $field:ident) => {
        $self.slots.iter().map(|s| s.$field.get()).sum::<u64>()
    };
}

/// All statistics of the server.
pub struct Stats {
    /// One slot per worker thread, then one shared by every other thread.
    slots: Box<[WorkerStats]>,
    /// Counters reset by CONFIG RESETSTAT live in the slots; these do not reset.
    pub start_ms: i64,
}

impl Stats {
    pub fn new(workers: usize, commands: usize, start_ms: i64) -> Self {
        Stats {
            slots: (0..=workers).map(|_| WorkerStats::new(commands)).collect(),
            start_ms,
        }
    }

    /// The slot of worker `i`.
    pub fn worker(&self, i: usize) -> &WorkerStats {
        &self.slots[i.min(self.slots.len() - 1)]
    }

    /// The slot shared by non-worker threads (use `add_shared` on it).
    pub fn shared(&self) -> &WorkerStats {
        &self.slots[self.slots.len() - 1]
    }

    pub fn total_commands(&self) -> u64 {
        sum!(self, total_commands)
    }
    pub fn expired_keys(&self) -> u64 {
        sum!(self, expired_keys)
    }
    pub fn keyspace_hits(&self) -> u64 {
        sum!(self, keyspace_hits)
    }
    pub fn keyspace_misses(&self) -> u64 {
        sum!(self, keyspace_misses)
    }
    pub fn dirty(&self) -> u64 {
        sum!(self, dirty)
    }
    pub fn net_input_bytes(&self) -> u64 {
        sum!(self, net_input_bytes)
    }
    pub fn net_output_bytes(&self) -> u64 {
        sum!(self, net_output_bytes)
    }
    pub fn total_error_replies(&self) -> u64 {
        sum!(self, total_error_replies)
    }
    pub fn reads_processed(&self) -> u64 {
        sum!(self, reads_processed)
    }
    pub fn writes_processed(&self) -> u64 {
        sum!(self, writes_processed)
    }

    /// (calls, usec, rejected, failed) of command `id`, summed.
    pub fn command(&self, id: usize) -> (u64, u64, u64, u64) {
        self.slots.iter().fold((0, 0, 0, 0), |acc, s| {
            let c = &s.commands[id];
            (
                acc.0 + c.calls.get(),
                acc.1 + c.usec.get(),
                acc.2 + c.rejected.get(),
                acc.3 + c.failed.get(),
            )
        })
    }

    /// Error counts by code, summed and sorted by code.
    pub fn errors(&self) -> Vec<(String, u64)> {
        let mut all: HashMap<String, u64> = HashMap::new();
        for s in self.slots.iter() {
            for (k, v) in s.errors.lock().iter() {
                *all.entry(k.clone()).or_insert(0) += v;
            }
        }
        let mut v: Vec<_> = all.into_iter().collect();
        v.sort();
        v
    }

    /// CONFIG RESETSTAT. Racy against writers by design, as in Redis it is approximate
    /// under load; `dirty` is not a statistic and is kept.
    pub fn reset(&self) {
        for s in self.slots.iter() {
            for c in s.commands.iter() {
                c.calls.reset();
                c.usec.reset();
                c.rejected.reset();
                c.failed.reset();
            }
            s.total_commands.reset();
            s.expired_keys.reset();
            s.keyspace_hits.reset();
            s.keyspace_misses.reset();
            s.net_input_bytes.reset();
            s.net_output_bytes.reset();
            s.total_error_replies.reset();
            s.reads_processed.reset();
            s.writes_processed.reset();
            s.errors.lock().clear();
        }
    }
}
