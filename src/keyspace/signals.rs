//! What a write must tell other clients while it still holds the key's shard lock: that a
//! WATCHed key changed (their EXEC must fail), and that a key was created that clients
//! blocked in BLPOP & co. may be waiting for.
//!
//! Both are checked from [`Effects::notify_db`](super::Effects::notify_db), which every
//! write already calls for its keyspace event (behaves like `signalModifiedKey()` and the
//! `signalKeyAsReady()` in `dbAdd()`). When nobody watches and nobody is blocked, the cost
//! is two atomic loads. Watch registration and the touching write both happen under the
//! key's shard lock, so a write can never slip between a WATCH and its registration.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use hashbrown::HashMap;
use parking_lot::Mutex;

use super::bytes::SmallBytes;

/// One client's WATCH state as writers see it: set when a watched key is touched.
#[derive(Debug, Default)]
pub struct WatchFlag {
    dirty: AtomicBool,
}

impl WatchFlag {
    pub fn is_dirty(&self) -> bool {
        self.dirty.load(Ordering::Acquire)
    }

    pub fn set_dirty(&self) {
        self.dirty.store(true, Ordering::Release);
    }

    pub fn clear(&self) {
        self.dirty.store(false, Ordering::Release);
    }
}

/// A client watching one key.
struct Watcher {
    flag: Arc<WatchFlag>,
    /// The key was already logically expired when WATCH ran: its deletion by expiry is no
    /// change for this client (behaves like `watchedKey.expired`).
    expired_at_watch: bool,
}

type WatchedKey = (usize, SmallBytes);

/// The keys clients watch, and how many clients are blocked on keys.
#[derive(Default)]
pub struct KeySignals {
    /// Number of (client, key) watches; 0 lets writers skip the registry.
    watch_count: AtomicUsize,
    watches: Mutex<HashMap<WatchedKey, Vec<Watcher>>>,
    /// Number of clients blocked on keys; 0 lets writers skip staging ready keys.
    blocked: AtomicUsize,
}

/// How a touch changed the key.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Touch {
    /// The key still exists (it was written).
    Written,
    /// The key is gone (deleted, expired, renamed away).
    Deleted,
}

impl KeySignals {
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether any client watches a key or is blocked on one.
    #[inline]
    pub fn active(&self) -> bool {
        self.watch_count.load(Ordering::Acquire) != 0 || self.blocked.load(Ordering::Acquire) != 0
    }

    /// Whether clients are blocked on keys.
    #[inline]
    pub fn any_blocked(&self) -> bool {
        self.blocked.load(Ordering::Acquire) != 0
    }

    /// Counts a client that blocks on keys (its registration happens under the keys' shard
    /// locks, before they are released).
    pub fn add_blocked(&self) {
        self.blocked.fetch_add(1, Ordering::AcqRel);
    }

    pub fn remove_blocked(&self) {
        self.blocked.fetch_sub(1, Ordering::AcqRel);
    }

    /// Number of clients blocked on keys (INFO `blocked_clients`).
    pub fn blocked_clients(&self) -> usize {
        self.blocked.load(Ordering::Acquire)
    }

    /// Registers `flag`'s client as watching `key` in `db`. Call with the key's shard
    /// locked; `expired` says whether the key is logically expired right now.
    pub fn watch(&self, flag: &Arc<WatchFlag>, db: usize, key: &[u8], expired: bool) {
        let mut watches = self.watches.lock();
        watches
            .entry((db, SmallBytes::from_slice(key)))
            .or_default()
            .push(Watcher {
                flag: flag.clone(),
                expired_at_watch: expired,
            });
        self.watch_count.fetch_add(1, Ordering::AcqRel);
    }

    /// Whether `flag`'s client was watching `key` only as an already expired key.
    pub fn watched_as_expired(&self, flag: &Arc<WatchFlag>, db: usize, key: &[u8]) -> bool {
        let watches = self.watches.lock();
        watches
            .get(&(db, SmallBytes::from_slice(key)))
            .and_then(|ws| ws.iter().find(|w| Arc::ptr_eq(&w.flag, flag)))
            .is_some_and(|w| w.expired_at_watch)
    }

    /// Removes `flag`'s client from the watchers of `keys`.
    pub fn unwatch(&self, flag: &Arc<WatchFlag>, keys: &[WatchedKey]) {
        if keys.is_empty() {
            return;
        }
        let mut watches = self.watches.lock();
        for key in keys {
            let Some(ws) = watches.get_mut(key) else {
                continue;
            };
            let before = ws.len();
            ws.retain(|w| !Arc::ptr_eq(&w.flag, flag));
            self.watch_count
                .fetch_sub(before - ws.len(), Ordering::AcqRel);
            if ws.is_empty() {
                watches.remove(key);
            }
        }
    }

    /// A write touched `key` in `db` (behaves like `touchWatchedKey()`).
    pub fn touch(&self, db: usize, key: &[u8], how: Touch) {
        if self.watch_count.load(Ordering::Acquire) == 0 {
            return;
        }
        let mut watches = self.watches.lock();
        let Some(ws) = watches.get_mut(&(db, SmallBytes::from_slice(key))) else {
            return;
        };
        for w in ws.iter_mut() {
            if w.expired_at_watch {
                // Deleting a key that was already expired is no logical change; after that
                // the key counts as plainly missing.
                if how == Touch::Deleted {
                    w.expired_at_watch = false;
                }
                continue;
            }
            w.flag.set_dirty();
        }
    }

    /// A whole database was emptied or replaced (FLUSHDB, FLUSHALL, SWAPDB): every watched
    /// key that existed there, or exists in what replaced it, is touched (behaves like
    /// `touchAllWatchedKeysInDb()`). `existed(key)` tells whether the key was in the
    /// emptied database; `replaced(key)` is `Some(expired)` when it exists in the database
    /// now in its place.
    pub fn touch_db(
        &self,
        db: usize,
        existed: impl Fn(&[u8]) -> bool,
        replaced: impl Fn(&[u8]) -> Option<bool>,
    ) {
        if self.watch_count.load(Ordering::Acquire) == 0 {
            return;
        }
        let mut watches = self.watches.lock();
        for ((wdb, key), ws) in watches.iter_mut() {
            if *wdb != db {
                continue;
            }
            let in_emptied = existed(key);
            let now = replaced(key);
            if !in_emptied && now.is_none() {
                continue;
            }
            for w in ws.iter_mut() {
                if w.expired_at_watch {
                    match now {
                        None => {
                            w.expired_at_watch = false;
                            continue;
                        }
                        Some(true) => continue,
                        Some(false) => {}
                    }
                } else if !in_emptied && now == Some(true) {
                    // A missing key replaced by an expired one.
                    w.expired_at_watch = true;
                    continue;
                }
                w.flag.set_dirty();
            }
        }
    }
}

impl std::fmt::Debug for KeySignals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySignals")
            .field("watch_count", &self.watch_count)
            .field("blocked", &self.blocked)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn touch_marks_only_watchers_of_that_key() {
        let s = KeySignals::new();
        let a = Arc::new(WatchFlag::default());
        let b = Arc::new(WatchFlag::default());
        s.watch(&a, 0, b"x", false);
        s.watch(&b, 0, b"y", false);
        assert!(s.active());
        s.touch(0, b"x", Touch::Written);
        s.touch(1, b"y", Touch::Written);
        assert!(a.is_dirty());
        assert!(!b.is_dirty());
        s.unwatch(&a, &[(0, SmallBytes::from_slice(b"x"))]);
        s.unwatch(&b, &[(0, SmallBytes::from_slice(b"y"))]);
        assert!(!s.active());
    }

    #[test]
    fn deleting_a_key_expired_at_watch_time_is_no_change() {
        let s = KeySignals::new();
        let a = Arc::new(WatchFlag::default());
        s.watch(&a, 0, b"x", true);
        s.touch(0, b"x", Touch::Deleted);
        assert!(!a.is_dirty());
        assert!(!s.watched_as_expired(&a, 0, b"x"));
        s.touch(0, b"x", Touch::Written);
        assert!(a.is_dirty());
    }

    #[test]
    fn flush_touches_existing_keys_only() {
        let s = KeySignals::new();
        let a = Arc::new(WatchFlag::default());
        let b = Arc::new(WatchFlag::default());
        s.watch(&a, 0, b"here", false);
        s.watch(&b, 0, b"absent", false);
        s.touch_db(0, |k| k == b"here", |_| None);
        assert!(a.is_dirty());
        assert!(!b.is_dirty());
    }
}
