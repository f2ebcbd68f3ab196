//! MONITOR: every executed command, as `+<time> [<db> <addr>] "arg" ...`, pushed to the
//! clients that asked (behaves like `replicationFeedMonitors()`).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use parking_lot::Mutex;

use super::client::ClientShared;
use crate::protocol::Argv;
use crate::util::repr::repr;

#[derive(Default)]
pub struct Monitors {
    clients: Mutex<Vec<Arc<ClientShared>>>,
    count: AtomicUsize,
}

impl Monitors {
    pub fn add(&self, c: Arc<ClientShared>) {
        let mut clients = self.clients.lock();
        if !clients.iter().any(|x| x.id == c.id) {
            clients.push(c);
            self.count.store(clients.len(), Relaxed);
        }
    }

    pub fn remove(&self, id: u64) {
        let mut clients = self.clients.lock();
        clients.retain(|c| c.id != id);
        self.count.store(clients.len(), Relaxed);
    }

    #[inline]
    pub fn active(&self) -> bool {
        self.count.load(Relaxed) > 0
    }

    /// Sends one command line to every monitor. `redact` lists argument indexes shown as
    /// `(redacted)`.
    pub fn feed(&self, now_us: i64, db: usize, addr: &str, argv: &Argv<'_>, redact: &[usize]) {
        let mut line = format!(
            "+{}.{:06} [{} {}]",
            now_us / 1_000_000,
            now_us % 1_000_000,
            db,
            addr
        )
        .into_bytes();
        for (i, a) in argv.iter().enumerate() {
            line.push(b' ');
            if redact.contains(&i) {
                line.extend_from_slice(b"\"(redacted)\"");
            } else {
                repr(&mut line, a);
            }
        }
        line.extend_from_slice(b"\r\n");
        for c in self.clients.lock().iter() {
            c.push(&line);
        }
    }
}
