//! Serving one replica after its PSYNC (behaves like `syncCommand()` and the replica
//! output path of Redis 7.0): `+CONTINUE` and the stream from the replica's offset when the
//! backlog holds it; else `+FULLRESYNC replid offset`, a snapshot sent as an RDB payload
//! (`$<len>\r\n` and the bytes), and the stream from the snapshot's offset. Then, until the
//! link drops: new stream bytes as they come, and the replica's `REPLCONF ACK`s read.

use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;

use super::primary::ReplicaInfo;
use crate::persistence::save;
use crate::protocol::parse::{Limits, Parsed, RequestParser};
use crate::server::Server;
use crate::server::conn::write_all;
use crate::util::clock::now_ms;

/// What the replica asked for.
#[derive(Clone, Debug)]
pub struct PsyncRequest {
    pub replid: Vec<u8>,
    /// -1: no offset (`PSYNC ? -1`).
    pub offset: i64,
    /// Old `SYNC`: a payload without the `+FULLRESYNC` line, and no CONTINUE.
    pub legacy: bool,
}

/// Who the replica is.
pub struct ReplicaPeer {
    pub id: u64,
    pub ip: String,
    pub port: u16,
    /// `REPLCONF capa eof`: it can take a payload of unknown length (a diskless sync).
    pub eof: bool,
}

/// Stream bytes written per step.
const CHUNK: usize = 64 * 1024;

pub async fn serve_replica(
    server: Arc<Server>,
    stream: &mut TcpStream,
    peer: ReplicaPeer,
    req: PsyncRequest,
) {
    let primary = server.primary.clone();
    let replid = primary.ids(&server.process.replid).replid;
    // PSYNC names the next byte it wants, counting from 1 (`reploff + 1`); the backlog
    // counts bytes sent.
    let from = req.offset - 1;
    let continuing = !req.legacy
        && from >= 0
        && primary.can_continue(&server.process.replid, &req.replid, from as u64);
    primary.count_sync(continuing, !req.legacy && req.replid != b"?");
    let info = |state, cursor| ReplicaInfo {
        ip: peer.ip.clone(),
        port: peer.port,
        cursor,
        ack: 0,
        ack_ms: now_ms(),
        state,
    };
    let cursor = if continuing {
        let offset = from as u64;
        primary.add_replica(peer.id, info("online", Some(offset)));
        tracing::info!(
            "Partial resynchronization request from {}:{} accepted. Sending {} bytes of backlog starting from offset {}.",
            peer.ip,
            peer.port,
            primary.offset() - offset,
            offset
        );
        let line = format!("+CONTINUE {replid}\r\n");
        if write_all(stream, line.as_bytes()).await.is_err() {
            primary.remove_replica(peer.id);
            return;
        }
        offset
    } else {
        primary.add_replica(peer.id, info("wait_bgsave", None));
        match full_sync(&server, stream, &peer, &req, &replid).await {
            Some(offset) => offset,
            None => {
                primary.remove_replica(peer.id);
                return;
            }
        }
    };
    primary.update_replica(peer.id, |r| r.state = "online");
    stream_to_replica(&server, stream, peer.id, cursor).await;
    primary.remove_replica(peer.id);
    tracing::info!("Connection with replica {}:{} lost.", peer.ip, peer.port);
}

/// Takes a snapshot, tells the replica its offset, sends the payload. Returns the offset
/// the stream continues from.
async fn full_sync(
    server: &Arc<Server>,
    stream: &mut TcpStream,
    peer: &ReplicaPeer,
    req: &PsyncRequest,
    replid: &str,
) -> Option<u64> {
    tracing::info!("Full resync requested by replica {}:{}", peer.ip, peer.port);
    if peer.eof && server.config.get("repl-diskless-sync") == "yes" {
        return diskless_sync(server, stream, peer, req, replid).await;
    }
    let (offset_tx, offset_rx) = tokio::sync::oneshot::channel();
    let (file_tx, file_rx) = tokio::sync::oneshot::channel();
    let path =
        std::path::PathBuf::from(format!("temp-sync-{}-{}.rdb", std::process::id(), peer.id));
    let srv = server.clone();
    let replica = peer.id;
    let target = path.clone();
    std::thread::spawn(move || {
        let (opts, at_instant) = sync_snapshot(&srv, replica, offset_tx);
        let result = save::save_rdb_if(&srv.keyspace, &target, &opts, at_instant, || true)
            .map_err(|e| e.to_string());
        let _ = file_tx.send(result);
    });
    let offset = offset_rx.await.ok()?;
    if !req.legacy {
        let line = format!("+FULLRESYNC {replid} {offset}\r\n");
        write_all(stream, line.as_bytes()).await.ok()?;
    }
    let saved = file_rx.await.ok()?;
    if let Err(e) = saved {
        tracing::warn!(
            "Can't produce the RDB for replica {}:{}: {e}",
            peer.ip,
            peer.port
        );
        return None;
    }
    server
        .primary
        .update_replica(peer.id, |r| r.state = "send_bulk");
    let sent = send_payload(stream, &path).await;
    let _ = std::fs::remove_file(&path);
    sent.ok()?;
    tracing::info!(
        "Synchronization with replica {}:{} succeeded",
        peer.ip,
        peer.port
    );
    Some(offset)
}

/// A diskless sync (`repl-diskless-sync yes` for a replica with `capa eof`): after
/// `repl-diskless-sync-delay` seconds, the snapshot goes straight to the socket as
/// `$EOF:<40-byte mark>\r\n`, the RDB, the mark again (behaves like
/// `rdbSaveToSlavesSockets()`). The snapshot thread hands chunks over a bounded channel,
/// so a slow replica slows the snapshot, not memory.
async fn diskless_sync(
    server: &Arc<Server>,
    stream: &mut TcpStream,
    peer: &ReplicaPeer,
    req: &PsyncRequest,
    replid: &str,
) -> Option<u64> {
    let delay: u64 = server
        .config
        .get("repl-diskless-sync-delay")
        .parse()
        .unwrap_or(5);
    tokio::time::sleep(Duration::from_secs(delay)).await;
    tracing::info!("Starting BGSAVE for SYNC with target: replicas sockets");
    let (offset_tx, offset_rx) = tokio::sync::oneshot::channel();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let (chunk_tx, mut chunks) = tokio::sync::mpsc::channel::<Vec<u8>>(16);
    let srv = server.clone();
    let replica = peer.id;
    std::thread::spawn(move || {
        let (opts, at_instant) = sync_snapshot(&srv, replica, offset_tx);
        let sink = ChannelWriter {
            tx: chunk_tx,
            buf: Vec::with_capacity(CHUNK),
        };
        let result = save::write_to(&srv.keyspace, sink, &opts, at_instant)
            .map(|_| ())
            .map_err(|e| e.to_string());
        let _ = done_tx.send(result);
    });
    let offset = offset_rx.await.ok()?;
    let mark = crate::server::random_hex(40);
    let mut head = String::new();
    if !req.legacy {
        head.push_str(&format!("+FULLRESYNC {replid} {offset}\r\n"));
    }
    head.push_str(&format!("$EOF:{mark}\r\n"));
    write_all(stream, head.as_bytes()).await.ok()?;
    server
        .primary
        .update_replica(peer.id, |r| r.state = "send_bulk");
    while let Some(chunk) = chunks.recv().await {
        write_all(stream, &chunk).await.ok()?;
    }
    if let Err(e) = done_rx.await.ok()? {
        tracing::warn!("Diskless sync to {}:{} failed: {e}", peer.ip, peer.port);
        return None;
    }
    write_all(stream, mark.as_bytes()).await.ok()?;
    tracing::info!(
        "Synchronization with replica {}:{} succeeded",
        peer.ip,
        peer.port
    );
    Some(offset)
}

/// The snapshot thread's end of a diskless transfer: chunks of [`CHUNK`] bytes, waiting
/// while the replica's side is full.
struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<Vec<u8>>,
    buf: Vec<u8>,
}

impl std::io::Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        self.tx
            .blocking_send(chunk)
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::BrokenPipe))
    }
}

/// A full sync's snapshot: the save options (with the replication id), and what runs at
/// its instant under the gate: the feeder started, a sync point at the next stamp whose
/// stream offset `offset` receives.
fn sync_snapshot(
    srv: &Server,
    replica: u64,
    offset: tokio::sync::oneshot::Sender<u64>,
) -> (save::SaveOptions, impl FnOnce() + '_) {
    let mut opts = srv.save_options();
    opts.preamble.repl_id = srv.primary.ids(&srv.process.replid).replid;
    let at_instant = move || {
        let backlog = srv
            .config
            .get("repl-backlog-size")
            .parse()
            .unwrap_or(1 << 20);
        srv.primary.start(&srv.propagation, 0, backlog);
        let stamp = srv.propagation.last_stamp() + 1;
        srv.primary.add_sync_point(stamp, replica, offset);
    };
    (opts, at_instant)
}

/// The snapshot as a disk-based bulk payload: `$<len>\r\n` and the file, nothing after.
async fn send_payload(stream: &mut TcpStream, path: &std::path::Path) -> std::io::Result<()> {
    let mut file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    write_all(stream, format!("${len}\r\n").as_bytes()).await?;
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        write_all(stream, &buf[..n]).await?;
    }
}

/// Writes stream bytes from `cursor` as they come, reading the replica's ACKs, until the
/// link drops or the replica falls out of the backlog.
async fn stream_to_replica(server: &Arc<Server>, stream: &mut TcpStream, id: u64, mut cursor: u64) {
    let primary = &server.primary;
    let mut input = Vec::new();
    let mut parser = RequestParser::default();
    let timeout_ms = server
        .config
        .get("repl-timeout")
        .parse::<i64>()
        .unwrap_or(60)
        * 1000;
    loop {
        let last_ack = primary.replicas_by_id(id).map_or(now_ms(), |r| r.ack_ms);
        if now_ms() - last_ack > timeout_ms {
            tracing::warn!("Disconnecting timedout replica (streaming sync)");
            return;
        }
        let ready = primary.data_ready.notified();
        tokio::pin!(ready);
        ready.as_mut().enable();
        // Everything written so far goes out first.
        loop {
            let Some(bytes) = primary.read(cursor, CHUNK) else {
                tracing::warn!("Replica fell out of the replication backlog: disconnecting it");
                return;
            };
            if bytes.is_empty() {
                break;
            }
            if write_all(stream, &bytes).await.is_err() {
                return;
            }
            cursor += bytes.len() as u64;
            primary.update_replica(id, |r| r.cursor = Some(cursor));
        }
        tokio::select! {
            _ = &mut ready => {}
            readable = stream.readable() => {
                if readable.is_err() || !read_acks(server, stream, id, &mut input, &mut parser) {
                    return;
                }
            }
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

/// Reads what the replica sent and applies its `REPLCONF ACK`s; false when it is gone.
fn read_acks(
    server: &Server,
    stream: &TcpStream,
    id: u64,
    input: &mut Vec<u8>,
    parser: &mut RequestParser,
) -> bool {
    let mut chunk = [0u8; 4096];
    match stream.try_read(&mut chunk) {
        Ok(0) => return false,
        Ok(n) => input.extend_from_slice(&chunk[..n]),
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return true,
        Err(_) => return false,
    }
    let limits = Limits {
        max_bulk_len: 1 << 20,
        auth_required: false,
    };
    let mut pos = 0;
    while let Ok(Parsed::Command(n)) = parser.parse(&input[pos..], &limits) {
        let argv = parser.argv(&input[pos..pos + n]);
        if argv.len() >= 3
            && argv.get(0).eq_ignore_ascii_case(b"replconf")
            && argv.get(1).eq_ignore_ascii_case(b"ack")
            && let Some(offset) = std::str::from_utf8(argv.get(2))
                .ok()
                .and_then(|s| s.parse().ok())
        {
            server.primary.ack(id, offset, now_ms());
        }
        pos += n;
        parser.reset();
    }
    input.drain(..pos);
    input.len() < 1 << 20
}
