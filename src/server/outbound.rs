//! Replies written at the end of the event-loop turn (behaves like Redis's
//! `handleClientsWithPendingWrites()` in `beforeSleep()`).
//!
//! A connection that has served its input queues its replies here instead of writing them at
//! once; just before the worker's event loop sleeps in `epoll_wait`, the runtime's park hook
//! writes every queued reply in one burst. The client machine is then woken once per burst,
//! and no task is polled a second time just to write. A write that would block is left to
//! the connection's task, which is woken to wait for writability.

use std::cell::{Cell, RefCell};
use std::os::fd::RawFd;
use std::sync::Arc;
use std::task::Waker;

use parking_lot::Mutex;

/// A write to the connection's socket failed (the peer is gone).
#[derive(Debug)]
pub struct SocketFailed;

/// Bytes queued for one connection.
pub struct Outbound {
    fd: RawFd,
    state: Mutex<OutState>,
}

#[derive(Default)]
struct OutState {
    buf: Vec<u8>,
    /// In this thread's pending list.
    queued: bool,
    /// A write hit EAGAIN (or failed): the task must finish the job.
    blocked: bool,
    failed: bool,
    /// The connection is gone: never write to the fd again (it may be reused).
    closed: bool,
    /// The connection task, woken when the park hook could not write everything.
    waker: Option<Waker>,
}

/// Commands run after which queued replies are written even though the worker has not
/// parked: under continuous load the park hook may not run, and no reply may wait behind a
/// busy neighbour for long (~1 ms of work). A turn of 50 clients pipelining 16 commands each
/// (800) still goes out as one burst.
const MAX_COMMANDS_WITHOUT_FLUSH: u32 = 1024;

thread_local! {
    static PENDING: RefCell<Vec<Arc<Outbound>>> = const { RefCell::new(Vec::new()) };
    static COMMANDS: Cell<u32> = const { Cell::new(0) };
}

/// Writes everything queued on this thread. Installed as the worker runtime's park hook.
pub fn flush_pending() {
    COMMANDS.with(|c| c.set(0));
    let pending = PENDING.with(|p| std::mem::take(&mut *p.borrow_mut()));
    for out in pending {
        out.flush_now();
    }
}

/// Counts commands run on this thread; flushes when the worker has gone too long without
/// parking (see [`MAX_COMMANDS_WITHOUT_FLUSH`]).
pub fn note_commands(n: u32) {
    let total = COMMANDS.with(|c| {
        let t = c.get().saturating_add(n);
        c.set(t);
        t
    });
    if total >= MAX_COMMANDS_WITHOUT_FLUSH {
        flush_pending();
    }
}

/// Outcome of a direct write attempt.
enum Wrote {
    All,
    WouldBlock,
    Failed,
}

fn write_some(fd: RawFd, buf: &mut Vec<u8>) -> Wrote {
    let mut off = 0;
    let result = loop {
        if off == buf.len() {
            break Wrote::All;
        }
        // SAFETY: writes from our own initialised buffer to the connection's socket, which
        // stays open while its `Outbound` exists (the connection drops it before closing).
        let n = unsafe { libc::write(fd, buf[off..].as_ptr().cast(), buf.len() - off) };
        if n >= 0 {
            off += n as usize;
            continue;
        }
        match std::io::Error::last_os_error().kind() {
            std::io::ErrorKind::Interrupted => continue,
            std::io::ErrorKind::WouldBlock => break Wrote::WouldBlock,
            _ => break Wrote::Failed,
        }
    };
    buf.drain(..off);
    result
}

impl Outbound {
    pub fn new(fd: RawFd) -> Arc<Outbound> {
        Arc::new(Outbound {
            fd,
            state: Mutex::new(OutState::default()),
        })
    }

    /// Moves `bytes` into the queue (leaving `bytes` empty) and makes sure the park hook will
    /// write them. `waker` is the connection task's, to wake if the write would block.
    pub fn queue(self: &Arc<Self>, bytes: &mut Vec<u8>, waker: &Waker) {
        let mut st = self.state.lock();
        if st.buf.is_empty() {
            std::mem::swap(&mut st.buf, bytes);
        } else {
            st.buf.append(bytes);
        }
        if !st.waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
            st.waker = Some(waker.clone());
        }
        if !st.queued && !st.blocked {
            st.queued = true;
            PENDING.with(|p| p.borrow_mut().push(self.clone()));
        }
    }

    fn flush_now(&self) {
        let mut st = self.state.lock();
        st.queued = false;
        if st.closed || st.blocked || st.buf.is_empty() {
            return;
        }
        match write_some(self.fd, &mut st.buf) {
            Wrote::All => {}
            Wrote::WouldBlock => {
                st.blocked = true;
                if let Some(w) = &st.waker {
                    w.wake_by_ref();
                }
            }
            Wrote::Failed => {
                st.blocked = true;
                st.failed = true;
                st.buf.clear();
                if let Some(w) = &st.waker {
                    w.wake_by_ref();
                }
            }
        }
    }

    /// Bytes the park hook could not write, taken back by the task (which then writes them
    /// itself, waiting for writability). `Err` when the socket failed.
    pub fn take_blocked(&self) -> Result<Option<Vec<u8>>, SocketFailed> {
        let mut st = self.state.lock();
        if st.failed {
            return Err(SocketFailed);
        }
        if !st.blocked {
            return Ok(None);
        }
        st.blocked = false;
        Ok(Some(std::mem::take(&mut st.buf)))
    }

    /// Takes everything still queued (the connection is closing and writes it itself).
    pub fn take_all(&self) -> Vec<u8> {
        let mut st = self.state.lock();
        st.blocked = false;
        std::mem::take(&mut st.buf)
    }

    /// Whether replies queued earlier are still unsent: the connection then writes new ones
    /// itself, so one busy connection cannot pile up replies while the worker never parks.
    pub fn has_unsent(&self) -> bool {
        !self.state.lock().buf.is_empty()
    }

    /// Whether the task must take queued bytes back (see [`take_blocked`](Self::take_blocked)).
    pub fn is_blocked(&self) -> bool {
        self.state.lock().blocked
    }

    /// Marks the connection closed before its socket is; the park hook then skips it.
    pub fn close(&self) {
        let mut st = self.state.lock();
        st.closed = true;
        st.buf = Vec::new();
        st.waker = None;
    }
}
