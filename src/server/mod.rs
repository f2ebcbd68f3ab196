//! The server: shared state, worker threads, listeners and the cron.
//!
//! Threading: N worker threads, each running its own single-threaded tokio runtime (its own
//! epoll loop). The acceptor hands each new connection to the next worker in turn; a
//! connection then lives on that thread, so its commands run there, under the locks of the
//! slot shards they touch, and its statistics go to that thread's counters. No worker ever
//! busy-polls: an idle worker sleeps in epoll.

pub mod aof;
pub mod blocking;
pub mod client;
pub mod conn;
pub mod cron;
pub mod dispatch;
pub mod info;
pub mod listener;
pub mod log;
pub mod monitor;
pub mod outbound;
pub mod persist;
pub mod pubsub;
pub mod replay;
pub mod slowlog;
pub mod stats;
mod transaction;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed};

use tokio::sync::Notify;

use crate::commands::CommandTable;
use crate::config::Config;
use crate::keyspace::{KeySignals, Keyspace};
use client::ClientRegistry;
use monitor::Monitors;
use pubsub::PubSub;
use slowlog::{LatencyMonitor, SlowLog};
use stats::Stats;

/// The version Tessera reports as `redis_version`: the Redis release whose behaviour it
/// implements, so clients enable the right features.
pub const REDIS_VERSION: &str = "7.0.15";
/// Tessera's own version.
pub const TESSERA_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Why clients are paused (Redis's `pause_purpose`): each purpose pauses and lifts on its
/// own, so the end of a manual failover does not lift a CLIENT PAUSE, and the other way
/// round.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PausePurpose {
    /// CLIENT PAUSE / CLIENT UNPAUSE.
    Client = 0,
    /// Shutdown, DEBUG RELOAD: writes wait while the data is saved or reloaded.
    Save = 1,
    /// A primary in a cluster manual failover, until its replica has caught up.
    Failover = 2,
}

/// Client pauses: the effective end (read on every command, lock-free) is the latest of
/// the purposes' own.
#[derive(Default)]
pub struct Pause {
    /// Unix ms until which clients are paused (0 = not paused).
    pub until_ms: AtomicI64,
    /// Each purpose's (end, mode: 1 = WRITE, 2 = ALL); (0, 0) when it does not pause.
    purposes: parking_lot::Mutex<[(i64, u8); 3]>,
    pub unpaused: Notify,
}

impl Pause {
    /// Whether clients are paused at `now_ms` (any mode). One atomic load when not.
    #[inline]
    pub fn active(&self, now_ms: i64) -> bool {
        let until = self.until_ms.load(Relaxed);
        until != 0 && until > now_ms
    }

    /// Whether, during an active pause, a command with these properties must wait: the
    /// strongest mode among the purposes still pausing (a CLIENT PAUSE ALL that ended
    /// leaves a failover's WRITE pause a WRITE pause).
    pub fn blocks(&self, is_write: bool) -> bool {
        let now = crate::util::clock::now_ms();
        let mode = self
            .purposes
            .lock()
            .iter()
            .filter(|(end, _)| *end > now)
            .map(|(_, mode)| *mode)
            .max()
            .unwrap_or(0);
        match mode {
            2 => true,
            1 => is_write,
            _ => false,
        }
    }

    /// Whether `purpose` pauses clients now.
    pub fn pausing(&self, purpose: PausePurpose) -> bool {
        self.purposes.lock()[purpose as usize].0 != 0
    }

    pub fn pause(&self, purpose: PausePurpose, until_ms: i64, all: bool) {
        let mut purposes = self.purposes.lock();
        // A new pause never shortens or weakens a running one of the same purpose (as
        // Redis).
        let (end, mode) = &mut purposes[purpose as usize];
        *end = (*end).max(until_ms);
        *mode = (*mode).max(if all { 2 } else { 1 });
        self.publish(&purposes);
    }

    pub fn unpause(&self, purpose: PausePurpose) {
        let mut purposes = self.purposes.lock();
        purposes[purpose as usize] = (0, 0);
        self.publish(&purposes);
        drop(purposes);
        self.unpaused.notify_waiters();
    }

    fn publish(&self, purposes: &[(i64, u8); 3]) {
        let until = purposes.iter().map(|p| p.0).max().unwrap_or(0);
        self.until_ms.store(until, Relaxed);
    }
}

/// Facts about this process fixed at start.
pub struct ProcessInfo {
    pub run_id: String,
    /// The replication id (a master's `master_replid`).
    pub replid: String,
    pub start_ms: i64,
    pub pid: u32,
    pub executable: String,
    pub tcp_port: u16,
    pub workers: usize,
}

/// Everything shared by all connections.
pub struct Server {
    pub config: Config,
    pub keyspace: Keyspace,
    /// Watched keys and the count of blocked clients, as writers see them.
    pub signals: Arc<KeySignals>,
    /// Clients blocked on keys (BLPOP & co.).
    pub blocking: blocking::Blocking,
    /// The ordered propagation stream's entry (stamps; the AOF writer and the replication
    /// feeder consume it).
    pub propagation: Arc<crate::keyspace::Propagation>,
    /// The primary side of replication.
    pub primary: Arc<crate::replication::primary::Primary>,
    /// The replica side: where this server replicates from.
    pub replica: crate::replication::replica::ReplicaState,
    pub commands: CommandTable,
    pub clients: ClientRegistry,
    pub pubsub: PubSub,
    pub stats: Stats,
    pub slowlog: SlowLog,
    pub latency: LatencyMonitor,
    pub monitors: Monitors,
    pub pause: Pause,
    pub process: ProcessInfo,
    /// Unix seconds of the last successful save (start time until one happens).
    pub lastsave_secs: AtomicI64,
    pub rdb: persist::RdbState,
    pub aof: aof::AofState,
    /// This server, for work that outlives a command (BGSAVE); set when it starts running.
    this: std::sync::OnceLock<std::sync::Weak<Server>>,
    /// DEBUG SET-ACTIVE-EXPIRE.
    pub active_expire_enabled: AtomicBool,
    pub shutting_down: AtomicBool,
    pub shutdown_requested: Notify,
    pub samples: cron::Samples,
    /// Bytes allocated when the server finished starting (INFO used_memory_startup).
    pub memory_startup: u64,
    /// Highest used_memory seen (INFO used_memory_peak).
    pub memory_peak: AtomicU64,
    /// CPU time spent in the active expiry cycle (INFO expire_cycle_cpu_milliseconds).
    pub expire_cycle_ms: AtomicU64,
    /// Cluster mode's state and routing view (None: standalone).
    pub cluster: Option<Arc<crate::cluster::Cluster>>,
    /// MIGRATE's cached connections to its targets.
    pub migrate_links: crate::commands::migrate::MigrateLinks,
}

impl Server {
    pub fn new(config: Config, tcp_port: u16, workers: usize) -> Server {
        let settings = config.settings_arc();
        let commands = CommandTable::new(&config.directives.renames);
        let now = crate::util::clock::now_ms();
        let run_id = random_hex(40);
        let signals = Arc::new(KeySignals::new());
        let executable = std::env::current_exe()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        Server {
            keyspace: Keyspace::new(settings.databases),
            signals: signals.clone(),
            blocking: blocking::Blocking::new(signals),
            propagation: Arc::default(),
            primary: Arc::default(),
            replica: Default::default(),
            stats: Stats::new(workers, commands.len(), now),
            commands,
            config,
            clients: ClientRegistry::new(),
            pubsub: PubSub::default(),
            slowlog: SlowLog::default(),
            latency: LatencyMonitor::default(),
            monitors: Monitors::default(),
            pause: Pause::default(),
            process: ProcessInfo {
                run_id,
                replid: random_hex(40),
                start_ms: now,
                pid: std::process::id(),
                executable,
                tcp_port,
                workers,
            },
            lastsave_secs: AtomicI64::new(now / 1000),
            rdb: persist::RdbState::default(),
            aof: aof::AofState::default(),
            this: std::sync::OnceLock::new(),
            active_expire_enabled: AtomicBool::new(true),
            shutting_down: AtomicBool::new(false),
            shutdown_requested: Notify::new(),
            samples: cron::Samples::default(),
            memory_startup: crate::util::alloc::used_memory(),
            memory_peak: AtomicU64::new(0),
            expire_cycle_ms: AtomicU64::new(0),
            cluster: None,
            migrate_links: Default::default(),
        }
    }

    /// Effects for running commands here: writers signal watchers and blocked clients and
    /// feed the propagation stream.
    pub fn effects(&self) -> crate::keyspace::Effects {
        crate::keyspace::Effects {
            signals: Some(self.signals.clone()),
            propagation: Some(self.propagation.clone()),
            ..Default::default()
        }
    }

    /// Records the `Arc` this server lives in (see [`Server::handle`]).
    pub fn set_handle(self: &Arc<Self>) {
        let _ = self.this.set(Arc::downgrade(self));
    }

    /// This server as an `Arc`, once it runs.
    pub fn handle(&self) -> Option<Arc<Server>> {
        self.this.get().and_then(std::sync::Weak::upgrade)
    }

    /// Asks the main thread to shut the server down.
    pub fn request_shutdown(&self) {
        self.shutting_down.store(true, Relaxed);
        self.shutdown_requested.notify_one();
    }
}

/// `n` random lower-case hex characters (run ids, node ids).
pub fn random_hex(n: usize) -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..n)
        .map(|_| char::from_digit(rng.random_range(0..16), 16).unwrap_or('0'))
        .collect()
}

/// Number of worker threads: `server-threads`, or one per CPU.
pub fn worker_count(configured: usize) -> usize {
    if configured > 0 {
        return configured;
    }
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

pub use listener::run;

/// Shared handle passed to tasks.
pub type ServerRef = Arc<Server>;

#[cfg(test)]
mod tests {
    use super::{Pause, PausePurpose};

    #[test]
    fn each_pause_purpose_lifts_only_its_own() {
        let pause = Pause::default();
        let far = crate::util::clock::now_ms() + 60_000;
        pause.pause(PausePurpose::Client, far, true);
        pause.pause(PausePurpose::Failover, far, false);
        pause.unpause(PausePurpose::Failover);
        assert!(pause.active(crate::util::clock::now_ms()));
        assert!(
            pause.blocks(false),
            "the CLIENT PAUSE ALL still holds reads"
        );
        assert!(pause.pausing(PausePurpose::Client));

        pause.pause(PausePurpose::Failover, far, false);
        pause.unpause(PausePurpose::Client);
        assert!(pause.active(crate::util::clock::now_ms()));
        assert!(!pause.blocks(false), "the failover pauses writes only");
        assert!(pause.blocks(true));
        pause.unpause(PausePurpose::Failover);
        assert!(!pause.active(crate::util::clock::now_ms()));
    }

    #[test]
    fn an_ended_pause_does_not_strengthen_another() {
        let pause = Pause::default();
        let now = crate::util::clock::now_ms();
        pause.pause(PausePurpose::Client, now - 1, true);
        pause.pause(PausePurpose::Failover, now + 60_000, false);
        assert!(!pause.blocks(false));
        assert!(pause.blocks(true));
    }
}
