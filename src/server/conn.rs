//! One client connection: read → parse → execute → write, until the peer leaves, a
//! protocol error, QUIT, CLIENT KILL or a limit ends it.
//!
//! Syscalls per request batch: one `read`, one `write`. A read that returns less than the
//! buffer's free space means the socket is drained, so the readiness flag is cleared right
//! there instead of paying a second `read` just to see EAGAIN. This is safe with
//! edge-triggered epoll: bytes that arrive afterwards raise a new edge, and tokio only clears
//! readiness it has not seen change since (its readiness tick).

use std::io;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::task::Poll;

use tokio::io::Interest;
use tokio::net::TcpStream;

use super::Server;
use super::blocking::{WaitState, Waiter};
use super::client::{Client, ClientShared, ConnAction, flags};
use super::dispatch::{Exec, Outcome};
use super::outbound::{self, Outbound};
use super::stats::WorkerStats;
use crate::keyspace::Effects;
use crate::protocol::{Limits, Parsed, Reply, RequestParser};
use crate::util::clock;

/// Bytes requested per read when no big argument is pending.
const READ_CHUNK: usize = 16 * 1024;
/// Largest step by which the read buffer grows for a big argument.
const MAX_READ_STEP: usize = 1 << 20;

/// Replies larger than this are written at once rather than queued for the end of the
/// event-loop turn.
const DIRECT_WRITE: usize = 64 * 1024;

/// What ended a wait for input.
enum Wait {
    Readable,
    /// Pushes arrived, or queued replies need writing: run the loop again.
    Wake,
    Error,
}

/// Why a connection ends.
enum Close {
    /// Peer closed, error, QUIT, protocol error after its reply, kill.
    Done,
    /// SHUTDOWN ran on this connection.
    Shutdown,
    /// PSYNC / SYNC ran: the connection serves a replica from now on.
    Replicate(crate::replication::serve::PsyncRequest),
}

/// Reads what is available without a second syscall to observe EAGAIN (see module docs).
/// Returns 0 on EOF, WouldBlock when nothing was there.
fn read_available(stream: &TcpStream, buf: &mut Vec<u8>, want: usize) -> io::Result<usize> {
    buf.reserve(want);
    let spare = buf.spare_capacity_mut();
    let cap = spare.len();
    let fd = stream.as_raw_fd();
    let mut got = 0usize;
    let result = stream.try_io(Interest::READABLE, || {
        loop {
            // SAFETY: `spare` is writable, uninitialised capacity of `cap` bytes that read(2)
            // fills; we only mark as initialised what it reports.
            let n = unsafe { libc::read(fd, spare.as_mut_ptr().cast(), cap) };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            got = n as usize;
            if got > 0 && got < cap {
                // Drained: clear readiness now.
                return Err(io::ErrorKind::WouldBlock.into());
            }
            return Ok(got);
        }
    });
    match result {
        Ok(n) => {
            // SAFETY: read(2) initialised `n` bytes of the spare capacity.
            unsafe { buf.set_len(buf.len() + n) };
            Ok(n)
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock && got > 0 => {
            // SAFETY: as above, `got` bytes were written by read(2).
            unsafe { buf.set_len(buf.len() + got) };
            Ok(got)
        }
        Err(e) => Err(e),
    }
}

/// Writes all of `data`, waiting for writability as needed.
pub(crate) async fn write_all(stream: &TcpStream, data: &[u8]) -> io::Result<()> {
    let mut off = 0;
    while off < data.len() {
        match stream.try_write(&data[off..]) {
            Ok(n) => off += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => stream.writable().await?,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// State of one connection.
struct Connection {
    server: Arc<Server>,
    stream: TcpStream,
    /// Replies waiting for the end of this event-loop turn.
    out: Arc<Outbound>,
    worker: usize,
    rbuf: Vec<u8>,
    parser: RequestParser,
    reply: Reply,
    client: Client,
    fx: Effects,
    clock: clock::CommandClock,
}

/// Serves one accepted connection until it closes.
pub async fn serve(server: Arc<Server>, stream: TcpStream, worker: usize) {
    let now = clock::now_ms();
    let addr = stream
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| "?:0".into());
    let laddr = stream
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| "?:0".into());
    let id = server.clients.next_id();
    let shared = Arc::new(ClientShared::new(id, addr, laddr, stream.as_raw_fd(), now));
    let no_password = server.config.settings().requirepass.is_none();
    server.clients.add(shared.clone());
    let mut conn = Connection {
        client: Client::new(shared.clone(), no_password),
        server: server.clone(),
        out: Outbound::new(stream.as_raw_fd()),
        stream,
        worker,
        rbuf: Vec::with_capacity(READ_CHUNK),
        parser: RequestParser::default(),
        reply: Reply::new(2),
        fx: server.effects(),
        clock: clock::CommandClock::new(),
    };
    let end = conn.run().await;
    if !conn.client.shared.is_killed() {
        // Replies queued for the end of the turn still go out (e.g. the peer sent its last
        // commands and then closed its side).
        let rest = conn.out.take_all();
        let _ = write_all(&conn.stream, &rest).await;
    }
    match end {
        Close::Shutdown => {
            drop(conn);
            server.request_shutdown();
        }
        Close::Replicate(req) => {
            let client = &conn.client;
            client.shared.set_flag(super::client::flags::REPLICA, true);
            let ip = client.replica_ip.clone().unwrap_or_else(|| {
                client
                    .shared
                    .addr
                    .rsplit_once(':')
                    .map_or(String::new(), |(ip, _)| ip.to_string())
            });
            let peer = crate::replication::serve::ReplicaPeer {
                id: client.id,
                ip,
                port: client.replica_port,
                eof: client.replica_capa_eof,
            };
            crate::replication::serve::serve_replica(server.clone(), &mut conn.stream, peer, req)
                .await;
            drop(conn);
        }
        Close::Done => drop(conn),
    }
}

impl Connection {
    fn stats(&self) -> &WorkerStats {
        self.server.stats.worker(self.worker)
    }

    async fn run(&mut self) -> Close {
        loop {
            if let Err(end) = self.flush().await {
                return end;
            }
            if self.client.close_after_reply || self.client.shared.is_killed() {
                return Close::Done;
            }
            match self.wait_input().await {
                Wait::Readable => {}
                Wait::Wake => continue,
                Wait::Error => return Close::Done,
            }
            let want = match self.parser.pending_bulk() {
                Some(len) => (len + 2).clamp(READ_CHUNK, MAX_READ_STEP),
                None => READ_CHUNK,
            };
            match read_available(&self.stream, &mut self.rbuf, want) {
                Ok(0) => return Close::Done,
                Ok(n) => {
                    let stats = self.stats();
                    stats.net_input_bytes.add(n as u64);
                    stats.reads_processed.add(1);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(_) => return Close::Done,
            }
            let limit = self.server.config.settings().client_query_buffer_limit;
            if self.rbuf.len() as u64 > limit {
                tracing::warn!(
                    "Closing client that reached max query buffer length: id={} addr={} (qbuf initial bytes: {:?})",
                    self.client.id,
                    self.client.shared.addr,
                    String::from_utf8_lossy(&self.rbuf[..self.rbuf.len().min(64)])
                );
                return Close::Done;
            }
            if let Some(end) = self.process_input().await {
                let _ = self.flush().await;
                return end;
            }
        }
    }

    /// Waits for input, for a push from another client (subscribers and monitors only), or
    /// for the park hook to hand back a write that would block.
    async fn wait_input(&self) -> Wait {
        let out = &self.out;
        let stream = &self.stream;
        let input = std::future::poll_fn(|cx| {
            if out.is_blocked() {
                return Poll::Ready(Wait::Wake);
            }
            match stream.poll_read_ready(cx) {
                Poll::Ready(Ok(())) => Poll::Ready(Wait::Readable),
                Poll::Ready(Err(_)) => Poll::Ready(Wait::Error),
                Poll::Pending => Poll::Pending,
            }
        });
        // Only subscribers and monitors receive pushes; everyone else just waits for input
        // (a kill shuts the socket down, which also wakes them).
        if self.client.in_subscribe_mode() || self.client.monitor {
            let shared = self.client.shared.clone();
            tokio::select! {
                biased;
                _ = shared.wake.notified() => Wait::Wake,
                w = input => w,
            }
        } else {
            input.await
        }
    }

    /// Moves pending replies and pushes to the end-of-turn queue, or writes them now when the
    /// connection is closing, the park hook handed them back, or they are large.
    async fn flush(&mut self) -> Result<(), Close> {
        self.await_durable().await;
        {
            let mut outbox = self.client.shared.outbox.lock();
            if !outbox.is_empty() {
                self.reply.buf.extend_from_slice(&outbox);
                outbox.clear();
            }
        }
        let handed_back = self.out.take_blocked().map_err(|_| Close::Done)?;
        let closing = self.client.close_after_reply;
        let direct = handed_back.is_some()
            || closing
            || self.reply.buf.len() > DIRECT_WRITE
            || (!self.reply.buf.is_empty() && self.out.has_unsent());
        if direct {
            let mut bytes = match handed_back {
                Some(b) => b,
                None => self.out.take_all(),
            };
            bytes.append(&mut self.reply.buf);
            if write_all(&self.stream, &bytes).await.is_err() {
                return Err(Close::Done);
            }
            self.count_written(bytes.len());
        } else if !self.reply.buf.is_empty() {
            let n = self.reply.buf.len();
            let waker = std::future::poll_fn(|cx| Poll::Ready(cx.waker().clone())).await;
            self.out.queue(&mut self.reply.buf, &waker);
            self.count_written(n);
        }
        if self.reply.buf.capacity() > 1 << 20 {
            self.reply.buf = Vec::with_capacity(READ_CHUNK);
        }
        Ok(())
    }

    /// WAIT (behaves like `waitCommand()` and `processClientsWaitingReplicas()`): the
    /// stream offset of this client's last write is where the feeder stood once it had
    /// that write; then replicas are asked for ACKs, counted until enough of them reached
    /// the offset or the deadline passes.
    async fn wait_acks(&self, request: super::client::WaitRequest) -> usize {
        let primary = &self.server.primary;
        let stamp = self.fx.last_stamp;
        let deadline = (request.deadline_ms != 0).then(|| {
            let ms = (request.deadline_ms - clock::now_ms()).max(0) as u64;
            tokio::time::Instant::now() + std::time::Duration::from_millis(ms)
        });
        let sleep_until = |at: Option<tokio::time::Instant>| async move {
            match at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        // Bounded by the deadline (or the feeder, which reaches every stamp).
        while primary.is_started() && primary.processed_stamp() < stamp {
            let ready = primary.data_ready.notified();
            tokio::pin!(ready);
            ready.as_mut().enable();
            if primary.processed_stamp() >= stamp {
                break;
            }
            tokio::select! {
                _ = &mut ready => {}
                _ = tokio::time::sleep(std::time::Duration::from_millis(10)) => {}
                _ = sleep_until(deadline) => return primary.acked(primary.offset()),
            }
        }
        let target = primary.offset();
        if primary.acked(target) >= request.replicas || request.replicas == 0 {
            return primary.acked(target);
        }
        primary.append_command(&[b"REPLCONF", b"GETACK", b"*"]);
        loop {
            let changed = primary.acks_changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let acked = primary.acked(target);
            if acked >= request.replicas {
                return acked;
            }
            tokio::select! {
                _ = &mut changed => {}
                _ = sleep_until(deadline) => return primary.acked(target),
            }
        }
    }

    /// Under `appendfsync always`, waits until the AOF has synced this connection's last
    /// write, so no reply acknowledges a write a crash could lose.
    async fn await_durable(&self) {
        let stamp = self.fx.last_stamp;
        if stamp == 0 {
            return;
        }
        let Some(w) = self.server.aof_always() else {
            return;
        };
        // Bounded by the writer: it syncs as soon as it writes, or stops.
        loop {
            let changed = w.durable_changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if w.durable() >= stamp || w.stopped.load(Relaxed) {
                return;
            }
            changed.await;
        }
    }

    fn count_written(&self, n: usize) {
        let stats = self.stats();
        stats.net_output_bytes.add(n as u64);
        stats.writes_processed.add(1);
    }

    /// Runs every complete command in the read buffer. Returns `Some` when the connection
    /// must end once the replies so far are sent.
    async fn process_input(&mut self) -> Option<Close> {
        let server = self.server.clone();
        let settings = server.config.settings_arc();
        let stats = server.stats.worker(self.worker);
        self.clock.refresh();
        let mut pos = 0;
        let mut ran: u32 = 0;
        let mut end = None;
        loop {
            let limits = Limits {
                max_bulk_len: settings.proto_max_bulk_len,
                auth_required: !self.client.authenticated && settings.requirepass.is_some(),
            };
            let n = match self.parser.parse(&self.rbuf[pos..], &limits) {
                Ok(Parsed::Incomplete) => break,
                Ok(Parsed::Command(n)) => n,
                Err(e) => {
                    tracing::debug!(
                        "Protocol error ({}) from client: id={} addr={}",
                        e.reply(),
                        self.client.id,
                        self.client.shared.addr
                    );
                    self.reply.error(&e.reply());
                    self.client.close_after_reply = true;
                    end = Some(Close::Done);
                    break;
                }
            };
            let argv = self.parser.argv(&self.rbuf[pos..pos + n]);
            if !argv.is_empty() {
                loop {
                    let outcome = Exec {
                        server: &server,
                        client: &mut self.client,
                        reply: &mut self.reply,
                        fx: &mut self.fx,
                        settings: &settings,
                        stats,
                        clock: &mut self.clock,
                    }
                    .execute(&argv);
                    if outcome == Outcome::Done {
                        break;
                    }
                    // CLIENT PAUSE: send what we have (queued replies first), wait for the
                    // pause to end, retry.
                    self.await_durable().await;
                    let mut bytes = self.out.take_all();
                    bytes.append(&mut self.reply.buf);
                    if write_all(&self.stream, &bytes).await.is_err() {
                        return Some(Close::Done);
                    }
                    let until = server.pause.until_ms.load(Relaxed);
                    let wait = (until - clock::now_ms()).clamp(1, 100) as u64;
                    let _ = tokio::time::timeout(
                        std::time::Duration::from_millis(wait),
                        server.pause.unpaused.notified(),
                    )
                    .await;
                    self.clock.refresh();
                }
            }
            pos += n;
            ran += 1;
            self.parser.reset();
            if let Some(waiter) = self.client.blocked.take()
                && let Err(close) = self.wait_blocked(&waiter).await
            {
                return Some(close);
            }
            if let Some(request) = self.client.wait.take() {
                let acked = self.wait_acks(request).await;
                self.reply.int(acked as i64);
            }
            if let Some(action) = self.client.action.take() {
                match action {
                    ConnAction::Shutdown => {
                        end = Some(Close::Shutdown);
                        break;
                    }
                    ConnAction::Replicate(req) => {
                        end = Some(Close::Replicate(req));
                        break;
                    }
                }
            }
            if self.client.close_after_reply || self.client.shared.is_killed() {
                end = Some(Close::Done);
                break;
            }
        }
        outbound::note_commands(ran);
        self.rbuf.drain(..pos);
        if self.rbuf.is_empty() && self.rbuf.capacity() > MAX_READ_STEP {
            self.rbuf = Vec::with_capacity(READ_CHUNK);
        }
        let shared = &self.client.shared;
        shared.last_interaction_ms.store(clock::now_ms(), Relaxed);
        shared.query_buf.store(self.rbuf.len(), Relaxed);
        shared
            .query_buf_free
            .store(self.rbuf.capacity() - self.rbuf.len(), Relaxed);
        end
    }

    /// Sleeps while the last command is blocked on keys: until a writer serves it, its
    /// timeout passes, CLIENT UNBLOCK ends it, or the client goes away (input that arrives
    /// meanwhile is buffered, not run, as Redis does). Then its reply joins the others.
    async fn wait_blocked(&mut self, waiter: &Arc<Waiter>) -> Result<(), Close> {
        let server = self.server.clone();
        self.client.shared.set_flag(flags::BLOCKED, true);
        let outcome = self.wait_for_waiter(waiter).await;
        server.blocking.unregister(waiter);
        self.client.shared.set_flag(flags::BLOCKED, false);
        match outcome? {
            WaitState::Served(bytes) => self.reply.buf.extend_from_slice(&bytes),
            WaitState::Unblocked { error: true } => self
                .reply
                .error("UNBLOCKED client unblocked via CLIENT UNBLOCK"),
            WaitState::Redirected(error) => self.reply.error(&error),
            WaitState::Waiting | WaitState::Unblocked { error: false } | WaitState::Ended => {
                self.reply.null_array()
            }
        }
        self.clock.refresh();
        Ok(())
    }

    async fn wait_for_waiter(&mut self, waiter: &Waiter) -> Result<WaitState, Close> {
        // Replies to the commands before this one go out first.
        let mut bytes = self.out.take_all();
        bytes.append(&mut self.reply.buf);
        if write_all(&self.stream, &bytes).await.is_err() {
            waiter.finish();
            return Err(Close::Done);
        }
        let deadline = (waiter.deadline_ms != 0).then(|| {
            let ms = (waiter.deadline_ms - clock::now_ms()).max(0) as u64;
            tokio::time::Instant::now() + std::time::Duration::from_millis(ms)
        });
        loop {
            let timeout = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                _ = waiter.woken.notified() => {
                    if waiter.is_decided() {
                        return Ok(waiter.finish());
                    }
                }
                _ = timeout => return Ok(waiter.finish()),
                ready = self.stream.readable() => {
                    if ready.is_err() {
                        waiter.finish();
                        return Err(Close::Done);
                    }
                    match read_available(&self.stream, &mut self.rbuf, READ_CHUNK) {
                        Ok(0) => {
                            waiter.finish();
                            return Err(Close::Done);
                        }
                        Ok(n) => self.stats().net_input_bytes.add(n as u64),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Err(_) => {
                            waiter.finish();
                            return Err(Close::Done);
                        }
                    }
                    let limit = self.server.config.settings().client_query_buffer_limit;
                    if self.rbuf.len() as u64 > limit {
                        waiter.finish();
                        return Err(Close::Done);
                    }
                }
            }
        }
    }
}

/// Unregistering happens in `Drop`, so it also runs if the task unwinds: no ghost client, no
/// stale subscription, no queued write aimed at a recycled fd.
impl Drop for Connection {
    fn drop(&mut self) {
        self.cleanup();
    }
}

impl Connection {
    /// Unregisters the client everywhere.
    fn cleanup(&mut self) {
        self.out.close();
        self.client.shared.release_socket();
        let server = &self.server;
        let id = self.client.id;
        for ch in self.client.channels.drain() {
            server
                .pubsub
                .unsubscribe(super::pubsub::Kind::Channel, &ch, id);
        }
        for p in self.client.patterns.drain(..) {
            server
                .pubsub
                .unsubscribe(super::pubsub::Kind::Pattern, &p, id);
        }
        for ch in self.client.shard_channels.drain() {
            server
                .pubsub
                .unsubscribe(super::pubsub::Kind::Shard, &ch, id);
        }
        if self.client.monitor {
            server.monitors.remove(id);
        }
        self.client.watching.unwatch_all(&server.signals);
        if let Some(waiter) = self.client.blocked.take() {
            waiter.finish();
            server.blocking.unregister(&waiter);
        }
        server.clients.remove(id);
    }
}
