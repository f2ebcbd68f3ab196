//! Client state: what only the connection's task touches ([`Client`]) and what other
//! clients and the cron may read or poke ([`ClientShared`]: CLIENT LIST fields, the kill
//! flag, the push outbox for pub/sub and MONITOR).

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{
    AtomicBool, AtomicI64, AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering::Relaxed,
};

use parking_lot::Mutex;
use tokio::sync::Notify;

use super::blocking::Waiter;
use crate::keyspace::{KeySignals, SmallBytes, WatchFlag};
use crate::protocol::Argv;

/// CLIENT REPLY mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyMode {
    On,
    Off,
    /// Skip the reply of the next command only.
    Skip,
    /// Set while the command after CLIENT REPLY SKIP runs.
    SkipThis,
}

/// Something the connection loop must do after a command, outside the synchronous handler.
#[derive(Debug)]
pub enum ConnAction {
    /// SHUTDOWN accepted: stop the server.
    Shutdown,
    /// PSYNC / SYNC: the connection becomes a replica link.
    Replicate(crate::replication::serve::PsyncRequest),
}

/// Flags shown in CLIENT LIST, and used by the cron.
pub mod flags {
    pub const MONITOR: u32 = 1 << 0;
    pub const PUBSUB: u32 = 1 << 1;
    pub const NO_EVICT: u32 = 1 << 2;
    pub const CLOSE_ASAP: u32 = 1 << 3;
    pub const MULTI: u32 = 1 << 4;
    pub const BLOCKED: u32 = 1 << 5;
    /// A replica's link (CLIENT LIST flag `S`).
    pub const REPLICA: u32 = 1 << 6;
}

/// The part of a client visible to other tasks.
pub struct ClientShared {
    pub id: u64,
    pub addr: String,
    pub laddr: String,
    pub fd: i32,
    pub created_ms: i64,
    pub name: Mutex<Option<Vec<u8>>>,
    pub lib_name: Mutex<Option<Vec<u8>>>,
    pub lib_ver: Mutex<Option<Vec<u8>>>,
    pub db: AtomicUsize,
    pub resp: AtomicU8,
    pub last_interaction_ms: AtomicI64,
    /// Id + 1 of the last command run (0 = none yet).
    pub last_cmd: AtomicUsize,
    pub flags: AtomicU32,
    pub subscriptions: AtomicUsize,
    pub patterns: AtomicUsize,
    pub shard_subscriptions: AtomicUsize,
    pub query_buf: AtomicUsize,
    pub query_buf_free: AtomicUsize,
    pub argv_mem: AtomicUsize,
    pub output_len: AtomicUsize,
    pub total_output_mem: AtomicUsize,
    pub authenticated: AtomicBool,
    /// Set to make the connection close as soon as it wakes.
    pub killed: AtomicBool,
    /// Wakes the connection task: a push arrived or it was killed.
    pub wake: Notify,
    /// Pushes from other clients (pub/sub messages, MONITOR lines), RESP-encoded.
    pub outbox: Mutex<Vec<u8>>,
    /// When the outbox first went over the pubsub soft limit (ms), 0 when under it.
    pub soft_limit_since_ms: AtomicI64,
    pub net_input: AtomicU64,
    pub net_output: AtomicU64,
    /// The socket while the connection owns it; `None` once it is being closed. Killing a
    /// client shuts the socket down under this lock, so a recycled fd number is never hit.
    socket: Mutex<Option<i32>>,
}

impl ClientShared {
    pub fn new(id: u64, addr: String, laddr: String, fd: i32, now_ms: i64) -> Self {
        ClientShared {
            id,
            addr,
            laddr,
            fd,
            created_ms: now_ms,
            name: Mutex::new(None),
            lib_name: Mutex::new(None),
            lib_ver: Mutex::new(None),
            db: AtomicUsize::new(0),
            resp: AtomicU8::new(2),
            last_interaction_ms: AtomicI64::new(now_ms),
            last_cmd: AtomicUsize::new(0),
            flags: AtomicU32::new(0),
            subscriptions: AtomicUsize::new(0),
            patterns: AtomicUsize::new(0),
            shard_subscriptions: AtomicUsize::new(0),
            query_buf: AtomicUsize::new(0),
            query_buf_free: AtomicUsize::new(0),
            argv_mem: AtomicUsize::new(0),
            output_len: AtomicUsize::new(0),
            total_output_mem: AtomicUsize::new(0),
            authenticated: AtomicBool::new(false),
            killed: AtomicBool::new(false),
            wake: Notify::new(),
            outbox: Mutex::new(Vec::new()),
            soft_limit_since_ms: AtomicI64::new(0),
            net_input: AtomicU64::new(0),
            net_output: AtomicU64::new(0),
            socket: Mutex::new(Some(fd)),
        }
    }

    pub fn has_flag(&self, f: u32) -> bool {
        self.flags.load(Relaxed) & f != 0
    }

    pub fn set_flag(&self, f: u32, on: bool) {
        if on {
            self.flags.fetch_or(f, Relaxed);
        } else {
            self.flags.fetch_and(!f, Relaxed);
        }
    }

    /// Asks the connection to close. A connection waiting for input wakes up because its
    /// socket is shut down; one waiting for pushes also wakes on `wake`.
    pub fn kill(&self) {
        self.killed.store(true, Relaxed);
        if let Some(fd) = *self.socket.lock() {
            // SAFETY: the fd is open: the owner clears `socket` before closing it.
            unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
        }
        self.wake.notify_one();
    }

    /// Called by the owning connection before it closes its socket.
    pub fn release_socket(&self) {
        *self.socket.lock() = None;
    }

    pub fn is_killed(&self) -> bool {
        self.killed.load(Relaxed)
    }

    /// Queues pushed bytes and wakes the connection.
    pub fn push(&self, bytes: &[u8]) {
        self.outbox.lock().extend_from_slice(bytes);
        self.wake.notify_one();
    }

    /// Channels + patterns subscribed (what SUBSCRIBE replies count).
    pub fn pubsub_count(&self) -> usize {
        self.subscriptions.load(Relaxed) + self.patterns.load(Relaxed)
    }

    pub fn in_pubsub(&self) -> bool {
        self.pubsub_count() + self.shard_subscriptions.load(Relaxed) > 0
    }
}

/// A command queued by MULTI, with its own copy of the arguments.
pub struct QueuedCommand {
    pub cmd_id: usize,
    data: Vec<u8>,
    ranges: Vec<std::ops::Range<usize>>,
}

impl QueuedCommand {
    pub fn new(cmd_id: usize, argv: &Argv<'_>) -> Self {
        let mut data = Vec::new();
        let mut ranges = Vec::with_capacity(argv.len());
        for a in argv.iter() {
            ranges.push(data.len()..data.len() + a.len());
            data.extend_from_slice(a);
        }
        QueuedCommand {
            cmd_id,
            data,
            ranges,
        }
    }

    pub fn argv(&self) -> Argv<'_> {
        Argv::new(&self.data, &self.ranges)
    }
}

/// A transaction being queued, between MULTI and EXEC.
#[derive(Default)]
pub struct MultiState {
    pub queued: Vec<QueuedCommand>,
    /// A command was rejected while queueing: EXEC must fail (Redis's CLIENT_DIRTY_EXEC).
    pub failed: bool,
}

/// The keys a client WATCHes, and the flag writers set when they touch one.
#[derive(Default)]
pub struct Watching {
    pub flag: Arc<WatchFlag>,
    pub keys: Vec<(usize, SmallBytes)>,
}

impl Watching {
    pub fn is_watching(&self, db: usize, key: &[u8]) -> bool {
        self.keys
            .iter()
            .any(|(d, k)| *d == db && k.as_slice() == key)
    }

    /// Forgets every watched key (behaves like `unwatchAllKeys()`); the dirty flag stays.
    pub fn unwatch_all(&mut self, signals: &KeySignals) {
        signals.unwatch(&self.flag, &self.keys);
        self.keys.clear();
    }
}

/// Connection-local client state.
pub struct Client {
    pub id: u64,
    pub db: usize,
    pub resp: u8,
    pub authenticated: bool,
    pub shared: Arc<ClientShared>,
    pub channels: HashSet<Vec<u8>>,
    pub patterns: Vec<Vec<u8>>,
    pub shard_channels: HashSet<Vec<u8>>,
    pub reply_mode: ReplyMode,
    pub close_after_reply: bool,
    pub action: Option<ConnAction>,
    pub monitor: bool,
    /// Set between MULTI and EXEC/DISCARD.
    pub multi: Option<MultiState>,
    pub watching: Watching,
    /// Running the commands of EXEC: blocking commands must not block.
    pub in_exec: bool,
    /// Set by a blocking command that found nothing to serve: the connection waits on it.
    pub blocked: Option<Arc<Waiter>>,
    /// `REPLCONF listening-port`: the port a replica serves clients on (0: not said).
    pub replica_port: u16,
    /// `REPLCONF ip-address`: the address a replica announces.
    pub replica_ip: Option<String>,
    /// `REPLCONF capa eof`: it can take a diskless payload.
    pub replica_capa_eof: bool,
    /// WAIT: the connection waits for replica acknowledgements, then replies.
    pub wait: Option<WaitRequest>,
    /// This client applies the primary's stream (a replica's link): it may write to a
    /// read-only replica.
    pub is_master: bool,
    /// ASKING: the next command may touch a slot this node is importing.
    pub asking: bool,
    /// READONLY: a replica serves this client's reads of its primary's slots.
    pub cluster_readonly: bool,
}

/// What WAIT waits for.
#[derive(Clone, Copy, Debug)]
pub struct WaitRequest {
    pub replicas: usize,
    /// Unix ms; 0 = no timeout.
    pub deadline_ms: i64,
}

impl Client {
    pub fn new(shared: Arc<ClientShared>, authenticated: bool) -> Self {
        shared.authenticated.store(authenticated, Relaxed);
        Client {
            id: shared.id,
            db: 0,
            resp: 2,
            authenticated,
            shared,
            channels: HashSet::new(),
            patterns: Vec::new(),
            shard_channels: HashSet::new(),
            reply_mode: ReplyMode::On,
            close_after_reply: false,
            action: None,
            monitor: false,
            replica_port: 0,
            replica_ip: None,
            replica_capa_eof: false,
            wait: None,
            is_master: false,
            asking: false,
            cluster_readonly: false,
            multi: None,
            watching: Watching::default(),
            in_exec: false,
            blocked: None,
        }
    }

    /// Subscribed to any channel, pattern or shard channel: RESP2 then allows only the
    /// pub/sub commands (Redis's CLIENT_PUBSUB).
    pub fn in_subscribe_mode(&self) -> bool {
        !self.channels.is_empty() || !self.patterns.is_empty() || !self.shard_channels.is_empty()
    }

    pub fn select(&mut self, db: usize) {
        self.db = db;
        self.shared.db.store(db, Relaxed);
    }

    pub fn set_resp(&mut self, resp: u8) {
        self.resp = resp;
        self.shared.resp.store(resp, Relaxed);
    }

    /// Ends a transaction without running it: the queue is dropped and every key unwatched
    /// (behaves like `discardTransaction()`).
    pub fn discard_transaction(&mut self, signals: &KeySignals) {
        self.multi = None;
        self.shared.set_flag(flags::MULTI, false);
        self.watching.unwatch_all(signals);
        self.watching.flag.clear();
    }

    pub fn set_authenticated(&mut self, yes: bool) {
        self.authenticated = yes;
        self.shared.authenticated.store(yes, Relaxed);
    }
}

/// All connected clients, by id.
#[derive(Default)]
pub struct ClientRegistry {
    clients: Mutex<std::collections::BTreeMap<u64, Arc<ClientShared>>>,
    next_id: AtomicU64,
    pub total_connections: AtomicU64,
    pub rejected_connections: AtomicU64,
}

impl ClientRegistry {
    pub fn new() -> Self {
        ClientRegistry {
            next_id: AtomicU64::new(1),
            ..Default::default()
        }
    }

    /// A fresh client id (ids start at 1 and only grow, as in Redis).
    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Relaxed)
    }

    pub fn add(&self, c: Arc<ClientShared>) {
        self.total_connections.fetch_add(1, Relaxed);
        self.clients.lock().insert(c.id, c);
    }

    pub fn remove(&self, id: u64) {
        self.clients.lock().remove(&id);
    }

    pub fn len(&self) -> usize {
        self.clients.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A snapshot of all connected clients, in id order. A killed client whose task has not
    /// finished closing yet is left out: Redis frees a killed client at once.
    pub fn snapshot(&self) -> Vec<Arc<ClientShared>> {
        self.clients
            .lock()
            .values()
            .filter(|c| !c.is_killed())
            .cloned()
            .collect()
    }

    pub fn get(&self, id: u64) -> Option<Arc<ClientShared>> {
        self.clients
            .lock()
            .get(&id)
            .filter(|c| !c.is_killed())
            .cloned()
    }
}
