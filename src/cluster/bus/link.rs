//! Bus links: the bus thread, its listeners, outbound connects and each link's I/O
//! (behaves like Redis 7.0's `clusterAcceptHandler()`, `clusterLinkConnectHandler()`,
//! `clusterReadHandler()` and `clusterWriteHandler()`).
//!
//! The bus runs on a thread of its own with a single-threaded runtime. Each link is one
//! task reading frames and writing what the state queued for it. The state owns the
//! link's queue sender: when the state drops the link (`freeClusterLink()`), the queue
//! closes, the task ends and the socket closes. When the socket fails or a peer sends a
//! bad frame (signature, length), the task ends and drops the link from the state; a
//! well-framed message that does not decode is ignored, as Redis ignores a packet that
//! fails `clusterIsValidPacket()`.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::wire::{DEFAULT_MAX_FRAME_LEN, Frame, Message, frame};
use crate::cluster::state::LinkIo;
use crate::server::Server;
use crate::util::clock::now_ms;

/// How often the cron runs (Redis runs `clusterCron()` every 100 ms).
const CRON_PERIOD: Duration = Duration::from_millis(100);

/// Starts the bus thread: accepts on `listeners`, runs the cron, carries links.
pub fn start(server: Arc<Server>, listeners: Vec<std::net::TcpListener>) {
    let Some(cluster) = server.cluster.clone() else {
        return;
    };
    std::thread::Builder::new()
        .name("tessera-cluster".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("invariant: the cluster bus runtime can be built");
            cluster.set_runtime(rt.handle().clone());
            rt.block_on(async move {
                for listener in listeners {
                    tokio::spawn(accept_loop(server.clone(), listener));
                }
                let mut tick = tokio::time::interval(CRON_PERIOD);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    if server.shutting_down.load(Relaxed) {
                        break;
                    }
                    cluster.tick(&server);
                }
            });
        })
        .expect("invariant: the cluster bus thread can be spawned");
}

async fn accept_loop(server: Arc<Server>, listener: std::net::TcpListener) {
    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
        tracing::warn!("Could not use the cluster bus listening socket");
        return;
    };
    let Some(cluster) = server.cluster.clone() else {
        return;
    };
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::debug!("Error accepting cluster node: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        tracing::debug!("Accepting cluster node connection from {peer}");
        let local_ip = stream
            .local_addr()
            .map(|a| a.ip().to_string())
            .unwrap_or_default();
        let io = cluster.with(&server, |st, _| {
            let io = st.new_link(None, now_ms());
            if let Some(l) = st.links.get_mut(&io.id) {
                l.peer_ip = peer.ip().to_string();
                l.local_ip = local_ip;
            }
            io
        });
        tokio::spawn(run(server.clone(), stream, io));
    }
}

/// Opens an outbound link; on success greets the node with PING or MEET and runs it.
pub async fn connect(server: Arc<Server>, io: LinkIo, ip: String, cport: u16) {
    let Some(cluster) = server.cluster.clone() else {
        return;
    };
    let timeout = cluster.with(&server, |st, _| st.settings.node_timeout_ms);
    let attempt = tokio::time::timeout(
        Duration::from_millis(timeout.max(100) as u64),
        TcpStream::connect((ip.as_str(), cport)),
    )
    .await;
    let stream = match attempt {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tracing::debug!("Connection with node at {ip}:{cport} failed: {e}");
            cluster.with(&server, |st, _| st.drop_link(io.id));
            return;
        }
        Err(_) => {
            tracing::debug!("Connection with node at {ip}:{cport} timed out");
            cluster.with(&server, |st, _| st.drop_link(io.id));
            return;
        }
    };
    let _ = stream.set_nodelay(true);
    let local = stream
        .local_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_default();
    let peer = stream
        .peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_default();
    let id = io.id;
    cluster.with(&server, |st, host| {
        st.link_connected(id, local, peer, host, now_ms())
    });
    run(server, stream, io).await;
}

/// Carries one link until either side ends it.
async fn run(server: Arc<Server>, stream: TcpStream, io: LinkIo) {
    let Some(cluster) = server.cluster.clone() else {
        return;
    };
    let LinkIo { id, mut rx, queued } = io;
    let (mut rd, mut wr) = stream.into_split();
    let writer = async move {
        while let Some(bytes) = rx.recv().await {
            if wr.write_all(&bytes).await.is_err() {
                break;
            }
            queued.fetch_sub(bytes.len(), Relaxed);
        }
    };
    let reader = async {
        let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            match frame(&buf, DEFAULT_MAX_FRAME_LEN) {
                Err(e) => {
                    tracing::warn!("Closing a cluster bus link: {e}");
                    return;
                }
                Ok(Frame::Complete(n)) => {
                    let decoded = Message::decode(&buf[..n]);
                    buf.drain(..n);
                    match decoded {
                        Ok(msg) => {
                            let alive = cluster.with(&server, |st, host| {
                                st.process_packet(id, &msg, host, now_ms())
                            });
                            if !alive {
                                return;
                            }
                        }
                        Err(e) => {
                            // As Redis's clusterIsValidPacket() failing: the message is
                            // ignored (and not counted), the link kept; only a bad frame
                            // (signature, length) closes it.
                            tracing::debug!("Ignoring an invalid cluster bus message: {e}");
                        }
                    }
                    continue;
                }
                Ok(Frame::Incomplete(_)) => {}
            }
            match rd.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    };
    tokio::select! {
        _ = writer => {}
        _ = reader => {}
    }
    cluster.with(&server, |st, _| st.drop_link(id));
}
