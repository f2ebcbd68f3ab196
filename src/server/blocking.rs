//! Clients blocked on keys (BLPOP & co.): who waits for which key, in arrival order, and the
//! hand-over of what they were served.
//!
//! A blocking command that finds nothing registers a [`Waiter`] under every key it names,
//! while it still holds those keys' shard locks, and its connection then sleeps on the
//! waiter. A write that creates one of those keys stages it as ready (see
//! `keyspace::signals`); once that command (or its whole transaction) has released its
//! locks, [`Blocking::serve_ready`] walks each ready key's waiters first-come first-served
//! and runs their operation for them, on the writer's thread, before the writer's
//! connection runs anything else (behaves like `handleClientsBlockedOnKeys()`). The
//! waiter's reply is built in its own protocol and handed over through its state, which
//! also settles the race between being served and timing out or being unblocked: whoever
//! moves the state out of `Waiting` first wins.

use std::collections::VecDeque;
use std::sync::Arc;

use hashbrown::HashMap;
use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::commands::blocking::{BlockOp, Served};
use crate::keyspace::{Effects, KeySignals, Keyspace, SmallBytes};
use crate::protocol::Reply;

/// How a wait ended.
#[derive(Debug)]
pub enum WaitState {
    Waiting,
    /// The operation ran for this client; its reply.
    Served(Vec<u8>),
    /// CLIENT UNBLOCK: with an error (`true`) or as a timeout.
    Unblocked {
        error: bool,
    },
    /// Its keys' slot moved away or the cluster went down: this error instead.
    Redirected(String),
    /// Timed out, or the client went away.
    Ended,
}

/// A client blocked on keys.
pub struct Waiter {
    pub client_id: u64,
    pub db: usize,
    /// The keys, without repeats, in the order given.
    pub keys: Vec<SmallBytes>,
    pub(crate) op: BlockOp,
    /// The client's protocol, for the reply built by whoever serves it.
    pub resp: u8,
    /// Unix ms after which the wait times out; 0 = never.
    pub deadline_ms: i64,
    state: Mutex<WaitState>,
    pub woken: Notify,
}

impl Waiter {
    pub(crate) fn new(
        client_id: u64,
        db: usize,
        keys: Vec<SmallBytes>,
        op: BlockOp,
        resp: u8,
        deadline_ms: i64,
    ) -> Arc<Waiter> {
        let mut unique: Vec<SmallBytes> = Vec::with_capacity(keys.len());
        for k in keys {
            if !unique.contains(&k) {
                unique.push(k);
            }
        }
        Arc::new(Waiter {
            client_id,
            db,
            keys: unique,
            op,
            resp,
            deadline_ms,
            state: Mutex::new(WaitState::Waiting),
            woken: Notify::new(),
        })
    }

    /// Runs `serve` for this waiter if it is still waiting; on success the reply is handed
    /// over and the waiter woken.
    pub(crate) fn try_serve(&self, serve: impl FnOnce(&mut Reply) -> Served) -> Served {
        let mut state = self.state.lock();
        if !matches!(*state, WaitState::Waiting) {
            return Served::Skipped;
        }
        let mut reply = Reply::new(self.resp);
        let outcome = serve(&mut reply);
        if outcome == Served::Yes {
            *state = WaitState::Served(reply.buf);
            drop(state);
            self.woken.notify_one();
        }
        outcome
    }

    /// Ends the wait from the waiting side (timeout, disconnect) unless it was already
    /// decided; returns the final state.
    pub fn finish(&self) -> WaitState {
        let mut state = self.state.lock();
        match std::mem::replace(&mut *state, WaitState::Ended) {
            WaitState::Waiting => WaitState::Ended,
            decided => decided,
        }
    }

    /// Whether the wait was decided by someone else (served or unblocked).
    pub fn is_decided(&self) -> bool {
        !matches!(*self.state.lock(), WaitState::Waiting)
    }

    fn unblock(&self, error: bool) -> bool {
        self.end_with(WaitState::Unblocked { error })
    }

    /// Ends a wait still running with `end`, and wakes the client.
    fn end_with(&self, end: WaitState) -> bool {
        let mut state = self.state.lock();
        if !matches!(*state, WaitState::Waiting) {
            return false;
        }
        *state = end;
        drop(state);
        self.woken.notify_one();
        true
    }
}

/// The waiters of each (db, key), in the order they blocked.
type Queues = HashMap<(usize, SmallBytes), VecDeque<Arc<Waiter>>>;

/// Every blocked client, by key and by client id.
pub struct Blocking {
    signals: Arc<KeySignals>,
    queues: Mutex<Queues>,
    by_client: Mutex<HashMap<u64, Arc<Waiter>>>,
}

/// Bound on serving rounds after one command: BLMOVE chains can feed each other, and a
/// cycle of them must not spin forever (each round serves at least one client, so real
/// chains are far shorter).
const MAX_SERVE_ROUNDS: usize = 1 << 16;

impl Blocking {
    pub(crate) fn new(signals: Arc<KeySignals>) -> Self {
        Blocking {
            signals,
            queues: Mutex::new(HashMap::new()),
            by_client: Mutex::new(HashMap::new()),
        }
    }

    /// Registers a waiter under its keys. Call while holding the shard locks of those keys,
    /// so a write creating one of them either came before (and the command saw it) or
    /// comes after and sees the waiter.
    pub fn block(&self, waiter: Arc<Waiter>) {
        {
            let mut queues = self.queues.lock();
            for key in &waiter.keys {
                queues
                    .entry((waiter.db, key.clone()))
                    .or_default()
                    .push_back(waiter.clone());
            }
        }
        self.by_client
            .lock()
            .insert(waiter.client_id, waiter.clone());
        self.signals.add_blocked();
    }

    /// Removes a waiter whose wait is over.
    pub fn unregister(&self, waiter: &Arc<Waiter>) {
        {
            let mut queues = self.queues.lock();
            for key in &waiter.keys {
                let k = (waiter.db, key.clone());
                if let Some(q) = queues.get_mut(&k) {
                    q.retain(|w| !Arc::ptr_eq(w, waiter));
                    if q.is_empty() {
                        queues.remove(&k);
                    }
                }
            }
        }
        let mut by_client = self.by_client.lock();
        if by_client
            .get(&waiter.client_id)
            .is_some_and(|w| Arc::ptr_eq(w, waiter))
        {
            by_client.remove(&waiter.client_id);
            self.signals.remove_blocked();
        }
    }

    /// CLIENT UNBLOCK: ends a client's wait as a timeout or with an error; `false` if the
    /// client is not blocked.
    pub fn unblock(&self, client_id: u64, error: bool) -> bool {
        let waiter = self.by_client.lock().get(&client_id).cloned();
        waiter.is_some_and(|w| w.unblock(error))
    }

    /// Cluster mode: ends the wait of every client blocked on a key for which `error_for`
    /// (given the key) has an error, with that error (its keys share one slot, so the
    /// first decides).
    pub fn redirect(&self, error_for: impl Fn(&[u8]) -> Option<String>) {
        let waiters: Vec<Arc<Waiter>> = self.by_client.lock().values().cloned().collect();
        for w in waiters {
            if let Some(error) = w.keys.first().and_then(|k| error_for(k)) {
                w.end_with(WaitState::Redirected(error));
            }
        }
    }

    /// Blocked clients with a timeout (INFO `clients_in_timeout_table`).
    pub fn with_timeout(&self) -> usize {
        self.by_client
            .lock()
            .values()
            .filter(|w| w.deadline_ms != 0)
            .count()
    }

    /// The keys that clients are blocked on in `db` (SWAPDB makes them all ready).
    pub fn keys_in(&self, db: usize) -> Vec<SmallBytes> {
        self.queues
            .lock()
            .keys()
            .filter(|(d, _)| *d == db)
            .map(|(_, k)| k.clone())
            .collect()
    }

    /// Serves the clients blocked on the keys staged as ready in `fx`, in the order the
    /// keys became ready and, per key, the order the clients blocked; serving can make
    /// more keys ready (BLMOVE's push), which are served in turn.
    pub fn serve_ready(&self, keyspace: &Keyspace, fx: &mut Effects) {
        let saved_db = fx.db;
        for _ in 0..MAX_SERVE_ROUNDS {
            if fx.ready.is_empty() {
                break;
            }
            let ready = std::mem::take(&mut fx.ready);
            for (db, key) in ready {
                let waiters: Vec<Arc<Waiter>> = match self.queues.lock().get(&(db, key.clone())) {
                    Some(q) => q.iter().cloned().collect(),
                    None => continue,
                };
                fx.db = db;
                for w in waiters {
                    match w.op.serve(keyspace, &w, &key, fx) {
                        Served::Yes | Served::Skipped => {}
                        Served::Exhausted => break,
                    }
                }
            }
        }
        fx.db = saved_db;
    }
}
