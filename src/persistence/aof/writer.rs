//! The AOF writer: a thread that takes stamped batches from the propagation stream, puts
//! them back in stamp order, appends them to the current incr file and syncs it as
//! `appendfsync` says (behaves like Redis 7.0's `flushAppendOnlyFile()` with its fsync
//! policies, minus the event loop: writes happen as soon as batches arrive).
//!
//! - `always`: every write is followed by an fsync; `durable` then covers it, and
//!   connections hold the replies of their writes until it does.
//! - `everysec`: an fsync at most once a second; `durable` follows what was written.
//! - `no`: the kernel decides.
//!
//! A rewrite switches to a new incr file at a stamp read under the gate of its snapshot:
//! batches below it are in the snapshot's past and go to the old file, the rest to the new.

use std::fs::File;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::encode::Encoder;
use crate::keyspace::{Batch, Sequencer};

/// `appendfsync`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FsyncPolicy {
    Always,
    EverySec,
    No,
}

impl FsyncPolicy {
    pub fn parse(s: &str) -> FsyncPolicy {
        match s {
            "always" => FsyncPolicy::Always,
            "no" => FsyncPolicy::No,
            _ => FsyncPolicy::EverySec,
        }
    }
}

/// A switch to a new incr file, effective from `at` (a stamp).
struct Switch {
    at: u64,
    file: File,
    /// Signalled once the old file is synced and closed and the new one is current.
    done: Arc<(Mutex<bool>, Condvar)>,
}

/// Signalled when a requested file switch has happened.
pub struct SwitchDone(Arc<(Mutex<bool>, Condvar)>);

/// What the server sees of the writer.
pub struct WriterState {
    /// Batches up to this stamp are as durable as the policy makes them.
    durable: AtomicU64,
    /// Wakes connections waiting for `durable` (appendfsync always).
    pub durable_changed: tokio::sync::Notify,
    /// Bytes in the current incr file.
    pub incr_size: AtomicU64,
    /// The last write (or fsync) worked (`aof_last_write_status`).
    pub write_ok: AtomicBool,
    /// The error of the last failed write, for MISCONF.
    pub last_error: Mutex<String>,
    /// `appendfsync`, changeable while running.
    pub policy: Mutex<FsyncPolicy>,
    /// `aof-timestamp-enabled`, changeable while running.
    pub timestamps: AtomicBool,
    switches: Mutex<Vec<Switch>>,
    /// The writer has stopped (its channel closed).
    pub stopped: AtomicBool,
}

impl WriterState {
    pub fn durable(&self) -> u64 {
        self.durable.load(Ordering::Acquire)
    }

    /// Asks the writer to use `file` for batches from stamp `at` on; wait for it with
    /// [`WriterState::wait_switched`].
    pub fn request_switch(&self, at: u64, file: File) -> SwitchDone {
        let done = Arc::new((Mutex::new(false), Condvar::new()));
        self.switches.lock().push(Switch {
            at,
            file,
            done: done.clone(),
        });
        SwitchDone(done)
    }

    /// Waits (at most a minute) until the writer has switched files.
    pub fn wait_switched(&self, done: &SwitchDone) {
        let (lock, cvar) = &*done.0;
        let mut finished = lock.lock();
        // Bounded: the writer wakes every 100 ms; a stopped writer never switches.
        for _ in 0..600 {
            if *finished || self.stopped.load(Ordering::Acquire) {
                return;
            }
            cvar.wait_for(&mut finished, Duration::from_millis(100));
        }
    }
}

/// Starts the writer on `file` (the current incr file), taking batches from stamp `first`.
pub fn start(
    file: File,
    incr_size: u64,
    first: u64,
    policy: FsyncPolicy,
    batches: Receiver<Arc<Batch>>,
) -> Arc<WriterState> {
    let state = Arc::new(WriterState {
        durable: AtomicU64::new(first - 1),
        durable_changed: tokio::sync::Notify::new(),
        incr_size: AtomicU64::new(incr_size),
        write_ok: AtomicBool::new(true),
        last_error: Mutex::new(String::new()),
        policy: Mutex::new(policy),
        timestamps: AtomicBool::new(false),
        switches: Mutex::new(Vec::new()),
        stopped: AtomicBool::new(false),
    });
    let shared = state.clone();
    let spawned = std::thread::Builder::new()
        .name("tessera-aof".into())
        .spawn(move || Writer::new(file, first, shared).run(batches));
    if spawned.is_err() {
        state.stopped.store(true, Ordering::Release);
    }
    state
}

struct Writer {
    file: File,
    order: Sequencer,
    encoder: Encoder,
    buf: Vec<u8>,
    /// Highest stamp in `buf` or already written.
    written: u64,
    unsynced: bool,
    last_fsync: Instant,
    state: Arc<WriterState>,
}

impl Writer {
    fn new(file: File, first: u64, state: Arc<WriterState>) -> Self {
        Writer {
            file,
            order: Sequencer::new(first),
            encoder: Encoder::default(),
            buf: Vec::new(),
            written: first - 1,
            unsynced: false,
            last_fsync: Instant::now(),
            state,
        }
    }

    fn run(mut self, batches: Receiver<Arc<Batch>>) {
        loop {
            let open = match batches.recv_timeout(Duration::from_millis(100)) {
                Ok(b) => {
                    self.order.accept(b);
                    true
                }
                Err(RecvTimeoutError::Timeout) => true,
                Err(RecvTimeoutError::Disconnected) => false,
            };
            while let Ok(b) = batches.try_recv() {
                self.order.accept(b);
            }
            self.encode_ready();
            self.flush();
            if !open {
                break;
            }
        }
        self.sync();
        self.state.stopped.store(true, Ordering::Release);
        self.state.durable_changed.notify_waiters();
    }

    /// Encodes every batch whose predecessors are all here, switching files on the way.
    fn encode_ready(&mut self) {
        loop {
            self.switch_if_due();
            let Some(batch) = self.order.pop_ready() else {
                return;
            };
            if self.state.timestamps.load(Ordering::Relaxed) {
                let now = crate::util::clock::now_ms() / 1000;
                self.encoder.timestamp(now, &mut self.buf);
            }
            self.encoder.batch(&batch, &mut self.buf);
            self.written = batch.stamp;
        }
    }

    fn switch_if_due(&mut self) {
        let due = {
            let mut switches = self.state.switches.lock();
            let next = self.order.next_stamp();
            let i = switches.iter().position(|s| s.at <= next);
            i.map(|i| switches.remove(i))
        };
        let Some(switch) = due else {
            return;
        };
        self.flush();
        self.sync();
        self.file = switch.file;
        self.encoder.new_file();
        self.state.incr_size.store(0, Ordering::Release);
        let (lock, cvar) = &*switch.done;
        *lock.lock() = true;
        cvar.notify_all();
    }

    /// Writes what is encoded, then syncs as the policy says.
    fn flush(&mut self) {
        if !self.buf.is_empty() {
            match self.file.write_all(&self.buf) {
                Ok(()) => {
                    self.state
                        .incr_size
                        .fetch_add(self.buf.len() as u64, Ordering::AcqRel);
                    self.buf.clear();
                    self.unsynced = true;
                    self.state.write_ok.store(true, Ordering::Release);
                }
                Err(e) => {
                    // Kept in the buffer and retried on the next turn.
                    tracing::warn!("Error writing to the AOF file: {e}");
                    *self.state.last_error.lock() = e.to_string();
                    self.state.write_ok.store(false, Ordering::Release);
                    return;
                }
            }
        }
        let policy = *self.state.policy.lock();
        let sync_now = match policy {
            FsyncPolicy::Always => self.unsynced,
            FsyncPolicy::EverySec => {
                self.unsynced && self.last_fsync.elapsed() >= Duration::from_secs(1)
            }
            FsyncPolicy::No => false,
        };
        if sync_now {
            self.sync();
        }
        let durable = match policy {
            FsyncPolicy::Always if self.unsynced => self.state.durable(),
            _ => self.written,
        };
        if durable > self.state.durable() {
            self.state.durable.store(durable, Ordering::Release);
            self.state.durable_changed.notify_waiters();
        }
    }

    fn sync(&mut self) {
        if !self.unsynced {
            return;
        }
        match self.file.sync_data() {
            Ok(()) => {
                self.unsynced = false;
                self.last_fsync = Instant::now();
            }
            Err(e) => {
                tracing::warn!("Fail to fsync the AOF file: {e}");
                *self.state.last_error.lock() = e.to_string();
                self.state.write_ok.store(false, Ordering::Release);
            }
        }
    }
}
