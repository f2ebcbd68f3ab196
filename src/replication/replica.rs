//! The replica side (behaves like the replica half of Redis 7.0's replication.c): after
//! REPLICAOF (or `replicaof` at start) a thread connects to the primary, does the handshake
//! (PING, AUTH, REPLCONF listening-port and capa psync2, PSYNC), loads the snapshot of a full
//! resync or continues a partial one, then applies the stream as the primary's client,
//! acknowledging the offset every second and when asked (GETACK). A dropped link is
//! retried every second with PSYNC from the offset reached, so it continues when the
//! primary's backlog still holds it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::persistence::aof::encode::command;
use crate::protocol::parse::{Limits, Parsed, RequestParser};
use crate::server::Server;
use crate::server::replay::Replay;
use crate::util::clock::now_ms;

/// Where this server replicates from, and how the link is doing.
#[derive(Default)]
pub struct ReplicaState {
    /// The primary (REPLICAOF host port); None: this server is a primary.
    pub primary: Mutex<Option<(String, u16)>>,
    /// Whether `primary` is set (read on every command: no lock).
    replica: AtomicBool,
    /// Bumped at every REPLICAOF: a link thread of an older generation ends.
    generation: AtomicU64,
    pub link_up: AtomicBool,
    pub sync_in_progress: AtomicBool,
    /// The primary's replication id and the stream offset applied (`slave_repl_offset`);
    /// kept across reconnects for PSYNC.
    pub master_replid: Mutex<Option<String>>,
    pub offset: AtomicU64,
    /// Unix ms of the last byte from the primary.
    pub last_io_ms: AtomicI64,
    /// Unix ms since when the link is down after having been up (0: never up).
    pub down_since_ms: AtomicI64,
    /// The last write's stamp when a former primary took its own id and offset as those
    /// of the primary it continues from: a later write means they no longer describe the
    /// data, and the sync must be full.
    cached_at_stamp: Mutex<Option<u64>>,
    /// The snapshot being received: its length (0 while a diskless one streams, as Redis
    /// shows it) and the bytes read so far (INFO master_sync_*).
    pub sync_total_bytes: AtomicI64,
    pub sync_read_bytes: AtomicU64,
}

impl ReplicaState {
    #[inline]
    pub fn is_replica(&self) -> bool {
        self.replica.load(Relaxed)
    }
}

/// REPLICAOF host port: starts (or re-points) the link. REPLICAOF NO ONE: `None`.
pub fn set_primary(server: &Arc<Server>, target: Option<(String, u16)>) {
    let state = &server.replica;
    *state.primary.lock() = target.clone();
    let was_replica = state.replica.swap(target.is_some(), Relaxed);
    if target.is_some() && !was_replica {
        continue_from_myself(server);
    }
    crate::server::log::set_replica_role(target.is_some());
    let generation = state.generation.fetch_add(1, Relaxed) + 1;
    state.link_up.store(false, Relaxed);
    let Some((host, port)) = target else {
        promote(server);
        return;
    };
    tracing::info!("Connecting to MASTER {host}:{port}");
    let server = server.clone();
    let _ = std::thread::Builder::new()
        .name("tessera-replica".into())
        .spawn(move || {
            // Bounded by REPLICAOF: a newer generation ends this loop.
            while server.replica.generation.load(Relaxed) == generation {
                if let Err(e) = link(&server, &host, port, generation) {
                    tracing::warn!("Error condition on socket for SYNC: {e}");
                }
                if server.replica.link_up.swap(false, Relaxed) {
                    server.replica.down_since_ms.store(now_ms(), Relaxed);
                }
                server.replica.sync_in_progress.store(false, Relaxed);
                std::thread::sleep(Duration::from_secs(1));
            }
        });
}

/// Becoming a replica after being a primary (behaves like
/// `replicationCacheMasterUsingMyself()`): our own replication id and offset stand for
/// the primary we continue from, so a former replica promoted in our place (which keeps
/// our id as its replid2) can take us back with a partial resync. Taken with every shard
/// locked, once the stream holds every write.
fn continue_from_myself(server: &Arc<Server>) {
    if !server.primary.is_started() || server.replica.master_replid.lock().is_some() {
        return;
    }
    let gate = server.keyspace.lock_all();
    let stamp = server.propagation.last_stamp();
    let deadline = Instant::now() + Duration::from_millis(500);
    while server.primary.processed_stamp() < stamp {
        if Instant::now() > deadline {
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let replid = server.primary.ids(&server.process.replid).replid;
    let offset = server.primary.offset();
    drop(gate);
    *server.replica.master_replid.lock() = Some(replid);
    server.replica.offset.store(offset, Relaxed);
    *server.replica.cached_at_stamp.lock() = Some(stamp);
    tracing::info!(
        "Before turning into a replica, using my own master parameters to synthesize a cached master: I may be able to synchronize with the new master with just a partial transfer."
    );
}

/// Becoming a primary (REPLICAOF NO ONE): a new replication id, the old one kept as
/// replid2 so former siblings can continue partially, and the feeder started at the offset
/// reached (under the gate, so it continues exactly there).
fn promote(server: &Arc<Server>) {
    if server.replica.master_replid.lock().take().is_none() {
        return;
    }
    let backlog = server
        .config
        .get("repl-backlog-size")
        .parse()
        .unwrap_or(1 << 20);
    let gate = server.keyspace.lock_all();
    server.primary.promote(crate::server::random_hex(40));
    let offset = server.replica.offset.load(Relaxed);
    server.primary.start(&server.propagation, offset, backlog);
    drop(gate);
}

/// A line reply (`+OK`, `-ERR ...`), skipping the primary's keep-alive newlines.
fn read_line(input: &mut BufReader<TcpStream>) -> Result<String, String> {
    loop {
        let mut line = String::new();
        let n = input.read_line(&mut line).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed by the primary".into());
        }
        let line = line.trim_end_matches(['\r', '\n']).to_string();
        if !line.is_empty() {
            return Ok(line);
        }
    }
}

fn send(stream: &mut TcpStream, args: &[&[u8]]) -> Result<(), String> {
    let mut out = Vec::new();
    command(&mut out, args);
    stream.write_all(&out).map_err(|e| e.to_string())
}

/// Sends a handshake command and checks its reply.
fn exchange(
    stream: &mut TcpStream,
    input: &mut BufReader<TcpStream>,
    args: &[&[u8]],
) -> Result<String, String> {
    send(stream, args)?;
    let reply = read_line(input)?;
    if reply.starts_with('-') && !reply.starts_with("-NOAUTH") {
        return Err(format!(
            "the primary replied {reply} to {}",
            String::from_utf8_lossy(args[0])
        ));
    }
    Ok(reply)
}

/// One connection to the primary, until it drops or REPLICAOF changes.
fn link(server: &Arc<Server>, host: &str, port: u16, generation: u64) -> Result<(), String> {
    let state = &server.replica;
    let stream = TcpStream::connect((host, port)).map_err(|e| e.to_string())?;
    let _ = stream.set_nodelay(true);
    let timeout: u64 = server.config.get("repl-timeout").parse().unwrap_or(60);
    stream
        .set_read_timeout(Some(Duration::from_secs(timeout.max(1))))
        .map_err(|e| e.to_string())?;
    let mut out = stream.try_clone().map_err(|e| e.to_string())?;
    let mut input = BufReader::with_capacity(1 << 16, stream);
    tracing::info!("MASTER <-> REPLICA sync started");
    exchange(&mut out, &mut input, &[b"PING"])?;
    let auth = server.config.get("masterauth");
    if !auth.is_empty() {
        let user = server.config.get("masteruser");
        if user.is_empty() {
            exchange(&mut out, &mut input, &[b"AUTH", auth.as_bytes()])?;
        } else {
            exchange(
                &mut out,
                &mut input,
                &[b"AUTH", user.as_bytes(), auth.as_bytes()],
            )?;
        }
    }
    // What the primary lists for this replica: replica-announce-port / -ip, if set.
    let announced: u16 = server
        .config
        .get("replica-announce-port")
        .parse()
        .unwrap_or(0);
    let my_port = if announced != 0 {
        announced
    } else {
        server.process.tcp_port
    }
    .to_string();
    exchange(
        &mut out,
        &mut input,
        &[b"REPLCONF", b"listening-port", my_port.as_bytes()],
    )?;
    let announced_ip = server.config.get("replica-announce-ip");
    if !announced_ip.is_empty() {
        exchange(
            &mut out,
            &mut input,
            &[b"REPLCONF", b"ip-address", announced_ip.as_bytes()],
        )?;
    }
    // `eof`: a diskless primary may stream the snapshot without knowing its length.
    exchange(
        &mut out,
        &mut input,
        &[b"REPLCONF", b"capa", b"eof", b"capa", b"psync2"],
    )?;
    // A write since this former primary took its own id and offset: they no longer
    // describe the data.
    if let Some(stamp) = state.cached_at_stamp.lock().take()
        && server.propagation.last_stamp() != stamp
    {
        tracing::info!("Discarding previously cached master state.");
        *state.master_replid.lock() = None;
    }
    let cached = state.master_replid.lock().clone();
    let (replid, from) = match &cached {
        Some(id) => (id.clone(), (state.offset.load(Relaxed) + 1).to_string()),
        None => ("?".to_string(), "-1".to_string()),
    };
    if cached.is_some() {
        tracing::info!("Trying a partial resynchronization (request {replid}:{from}).");
    }
    send(&mut out, &[b"PSYNC", replid.as_bytes(), from.as_bytes()])?;
    let reply = read_line(&mut input)?;
    if let Some(rest) = reply.strip_prefix("+FULLRESYNC ") {
        let (id, offset) = rest.split_once(' ').ok_or("a malformed FULLRESYNC")?;
        let offset: u64 = offset
            .parse()
            .map_err(|_| "a malformed FULLRESYNC offset")?;
        tracing::info!("Full resync from master: {id}:{offset}");
        state.sync_in_progress.store(true, Relaxed);
        let streamed = load_payload(server, &mut input)?;
        *state.master_replid.lock() = Some(id.to_string());
        state.offset.store(offset, Relaxed);
        server
            .primary
            .follow(id, offset, true, backlog_size(server));
        state.sync_in_progress.store(false, Relaxed);
        tracing::info!("MASTER <-> REPLICA sync: Finished with success");
        if streamed {
            // A diskless primary puts us online at our first acknowledgement.
            let offset = offset.to_string();
            send(&mut out, &[b"REPLCONF", b"ACK", offset.as_bytes()])?;
        }
    } else if let Some(rest) = reply.strip_prefix("+CONTINUE") {
        if let Some(id) = rest.split_whitespace().next() {
            *state.master_replid.lock() = Some(id.to_string());
        }
        let id = state.master_replid.lock().clone().unwrap_or_default();
        server
            .primary
            .follow(&id, state.offset.load(Relaxed), false, backlog_size(server));
        tracing::info!("Successful partial resynchronization with master.");
    } else {
        return Err(format!("unexpected reply to PSYNC: {reply}"));
    }
    state.link_up.store(true, Relaxed);
    state.last_io_ms.store(now_ms(), Relaxed);
    apply_stream(server, &mut input, &mut out, generation)
}

fn backlog_size(server: &Server) -> usize {
    server
        .config
        .get("repl-backlog-size")
        .parse()
        .unwrap_or(1 << 20)
}

/// Reads the snapshot into a file, empties the dataset and loads it. The snapshot comes as
/// `$<len>` and that many bytes, or, from a diskless primary, as `$EOF:<40-byte mark>`
/// and the bytes up to the mark (then nothing more until we acknowledge); true for the
/// latter.
fn load_payload(server: &Server, input: &mut BufReader<TcpStream>) -> Result<bool, String> {
    let header = read_line(input)?;
    let path = std::path::PathBuf::from(format!("temp-{}-replica.rdb", std::process::id()));
    let mut file = std::fs::File::create(&path).map_err(|e| e.to_string())?;
    let state = &server.replica;
    state.sync_read_bytes.store(0, Relaxed);
    let received = match header.strip_prefix("$EOF:") {
        Some(mark) => {
            tracing::info!(
                "MASTER <-> REPLICA sync: receiving streamed RDB from master with EOF to disk"
            );
            state.sync_total_bytes.store(0, Relaxed);
            copy_until_mark(state, input, &mut file, mark.as_bytes())
        }
        None => {
            let len: u64 = header
                .strip_prefix('$')
                .and_then(|l| l.parse().ok())
                .ok_or_else(|| format!("a bad payload header from the primary: {header}"))?;
            tracing::info!("MASTER <-> REPLICA sync: receiving {len} bytes from master to disk");
            state
                .sync_total_bytes
                .store(i64::try_from(len).unwrap_or(i64::MAX), Relaxed);
            copy_counted(state, &mut input.by_ref().take(len), &mut file).and_then(|n| {
                if n == len {
                    Ok(())
                } else {
                    Err("the primary closed the link during the payload".into())
                }
            })
        }
    };
    if let Err(e) = received {
        let _ = std::fs::remove_file(&path);
        return Err(e);
    }
    tracing::info!("MASTER <-> REPLICA sync: Flushing old data");
    let shards = server.keyspace.lock_all();
    let old: Vec<_> = shards.into_iter().map(|mut s| s.take_contents()).collect();
    drop(old);
    tracing::info!("MASTER <-> REPLICA sync: Loading DB in memory");
    let loaded = server
        .load_rdb_file(&path, false)
        .map_err(|e| e.to_string());
    let _ = std::fs::remove_file(&path);
    loaded.map(|_| header.starts_with("$EOF:"))
}

/// Copies `input` to `out` to its end, counting the bytes for INFO as they arrive.
fn copy_counted(
    state: &ReplicaState,
    input: &mut impl Read,
    out: &mut std::fs::File,
) -> Result<u64, String> {
    let mut chunk = vec![0u8; 1 << 16];
    let mut total = 0u64;
    loop {
        let n = match input.read(&mut chunk) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.to_string()),
        };
        out.write_all(&chunk[..n]).map_err(|e| e.to_string())?;
        total += n as u64;
        state.sync_read_bytes.fetch_add(n as u64, Relaxed);
        state.last_io_ms.store(now_ms(), Relaxed);
    }
}

/// Copies `input` to `out` until the stream ends with `mark` (which is not copied).
fn copy_until_mark(
    state: &ReplicaState,
    input: &mut BufReader<TcpStream>,
    out: &mut std::fs::File,
    mark: &[u8],
) -> Result<(), String> {
    if mark.len() != 40 {
        return Err("a bad EOF mark from the primary".into());
    }
    // The last bytes read, held back until we know they are not (part of) the mark.
    let mut tail: Vec<u8> = Vec::with_capacity(1 << 16);
    let mut chunk = vec![0u8; 1 << 16];
    loop {
        let n = match input.read(&mut chunk) {
            Ok(0) => return Err("the primary closed the link during the payload".into()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.to_string()),
        };
        tail.extend_from_slice(&chunk[..n]);
        state.sync_read_bytes.fetch_add(n as u64, Relaxed);
        state.last_io_ms.store(now_ms(), Relaxed);
        if tail.ends_with(mark) {
            let body = tail.len() - mark.len();
            return out.write_all(&tail[..body]).map_err(|e| e.to_string());
        }
        if tail.len() > mark.len() {
            let flush = tail.len() - mark.len();
            out.write_all(&tail[..flush]).map_err(|e| e.to_string())?;
            tail.drain(..flush);
        }
    }
}

/// Applies the stream as the primary's client; acknowledges every second and on GETACK.
fn apply_stream(
    server: &Server,
    input: &mut BufReader<TcpStream>,
    out: &mut TcpStream,
    generation: u64,
) -> Result<(), String> {
    let state = &server.replica;
    let _ = input
        .get_ref()
        .set_read_timeout(Some(Duration::from_millis(100)));
    let mut replay = Replay::new(server, "master");
    let mut parser = RequestParser::default();
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 1 << 16];
    let mut last_ack = Instant::now();
    let limits = Limits {
        max_bulk_len: 512 << 20,
        auth_required: false,
    };
    loop {
        if state.generation.load(Relaxed) != generation {
            return Ok(());
        }
        match input.read(&mut chunk) {
            Ok(0) => return Err("connection with master lost".into()),
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                state.last_io_ms.store(now_ms(), Relaxed);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(e.to_string()),
        }
        let mut pos = 0;
        let mut getack = false;
        while let Ok(Parsed::Command(n)) = parser.parse(&buf[pos..], &limits) {
            let command = &buf[pos..pos + n];
            // Kept as received, for replicas of this replica and siblings after a promotion.
            server.primary.append(command);
            pos += n;
            state.offset.fetch_add(n as u64, Relaxed);
            let argv = parser.argv(command);
            if argv.is_empty() || argv.get(0).eq_ignore_ascii_case(b"ping") {
                // Nothing to apply.
            } else if argv.get(0).eq_ignore_ascii_case(b"replconf") {
                getack |= argv
                    .try_get(1)
                    .is_some_and(|a| a.eq_ignore_ascii_case(b"getack"));
            } else if let Err(name) = replay.run(&argv) {
                tracing::warn!("The primary sent an unknown command '{name}'");
            }
            parser.reset();
        }
        buf.drain(..pos);
        if getack || last_ack.elapsed() >= Duration::from_secs(1) {
            last_ack = Instant::now();
            let offset = state.offset.load(Relaxed).to_string();
            send(out, &[b"REPLCONF", b"ACK", offset.as_bytes()])?;
        }
        if now_ms() - state.last_io_ms.load(Relaxed) > 60_000 {
            return Err("timeout: no data from the primary".into());
        }
    }
}
