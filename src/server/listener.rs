//! Listening sockets, worker threads and the accept loop (behaves like Redis's
//! `listenToPort()` and `acceptTcpHandler()` / `clientAcceptHandler()`).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use socket2::{Domain, Protocol, Socket, TcpKeepalive, Type};
use tokio::sync::mpsc;

use super::{Server, conn, cron};

const PROTECTED_MODE_DENIED: &[u8] = b"-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Setup a an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";

/// Binds every `bind` address on `port`. An address prefixed with `-` is optional: failing
/// to bind it is not an error (Redis's `* -::*` default).
pub fn bind_all(
    bind: &[String],
    port: u16,
    backlog: u32,
) -> Result<Vec<std::net::TcpListener>, String> {
    let mut out = Vec::new();
    let addrs: Vec<String> = if bind.is_empty() {
        vec!["*".into(), "-::*".into()]
    } else {
        bind.to_vec()
    };
    for raw in &addrs {
        let (optional, addr) = match raw.strip_prefix('-') {
            Some(a) => (true, a),
            None => (false, raw.as_str()),
        };
        let ip: IpAddr = match addr {
            "*" => IpAddr::from([0u8, 0, 0, 0]),
            "::*" => IpAddr::from([0u16; 8]),
            other => match other.parse() {
                Ok(ip) => ip,
                Err(_) => {
                    if optional {
                        continue;
                    }
                    return Err(format!(
                        "Could not create server TCP listening socket {other}:{port}: Name or service not known"
                    ));
                }
            },
        };
        match listen(SocketAddr::new(ip, port), backlog) {
            Ok(l) => out.push(l),
            Err(e) if optional => {
                tracing::debug!("Skipping optional bind address {addr}:{port}: {e}");
            }
            Err(e) => {
                return Err(format!(
                    "Could not create server TCP listening socket {addr}:{port}: bind: {}",
                    crate::config::io_reason(&e)
                ));
            }
        }
    }
    if out.is_empty() {
        return Err(format!("Failed listening on port {port} (TCP), aborting."));
    }
    Ok(out)
}

fn listen(addr: SocketAddr, backlog: u32) -> std::io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(backlog.min(i32::MAX as u32) as i32)?;
    Ok(socket.into())
}

fn is_loopback(addr: &SocketAddr) -> bool {
    match addr.ip() {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v| v.is_loopback()),
    }
}

/// Starts worker threads, the acceptors and the cron; blocks until shutdown is requested.
pub fn run(server: Arc<Server>, listeners: Vec<std::net::TcpListener>) {
    server.set_handle();
    let replicaof = server.config.get("replicaof");
    if let Some((host, port)) = replicaof.split_once(' ')
        && let Ok(port) = port.trim().parse::<u16>()
    {
        crate::replication::replica::set_primary(&server, Some((host.to_string(), port)));
    }
    let mut senders = Vec::with_capacity(server.process.workers);
    for w in 0..server.process.workers {
        let (tx, rx) = mpsc::unbounded_channel::<std::net::TcpStream>();
        senders.push(tx);
        let srv = server.clone();
        std::thread::Builder::new()
            .name(format!("tessera-worker-{w}"))
            .spawn(move || worker_main(srv, w, rx))
            .expect("invariant: worker thread can be spawned");
    }
    // Accepting runs on threads of its own, so a worker busy with a slow command never
    // delays new connections bound for the other workers.
    let senders = Arc::new(senders);
    for (i, listener) in listeners.into_iter().enumerate() {
        let srv = server.clone();
        let senders = senders.clone();
        std::thread::Builder::new()
            .name(format!("tessera-accept-{i}"))
            .spawn(move || accept_loop(srv, listener, senders))
            .expect("invariant: acceptor thread can be spawned");
    }
    let cron_server = server.clone();
    std::thread::Builder::new()
        .name("tessera-cron".into())
        .spawn(move || cron::run(cron_server))
        .expect("invariant: cron thread can be spawned");
    wait_for_shutdown(&server);
}

/// Blocks until SHUTDOWN, or until SIGTERM or SIGINT finds the shutdown save done. A
/// signal whose save fails leaves the server running, as Redis's does (`serverCron()`'s
/// `shutdown_asap`): acknowledged writes are not dropped for want of disk.
fn wait_for_shutdown(server: &Arc<Server>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("invariant: the signal runtime can be built");
    rt.block_on(async {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).ok();
        let mut int = signal(SignalKind::interrupt()).ok();
        loop {
            let name = tokio::select! {
                _ = server.shutdown_requested.notified() => return,
                _ = async { match term.as_mut() { Some(s) => { s.recv().await; } None => std::future::pending::<()>().await } } => "SIGTERM",
                _ = async { match int.as_mut() { Some(s) => { s.recv().await; } None => std::future::pending::<()>().await } } => "SIGINT",
            };
            tracing::warn!("Received {name} scheduling shutdown...");
            match server.shutdown_save(false, false) {
                Ok(()) => return,
                Err(e) => {
                    tracing::warn!("Error trying to save the DB, can't exit: {e}");
                    tracing::warn!(
                        "{name} received but errors trying to shut down the server, check the logs for more information"
                    );
                }
            }
        }
    });
}

fn worker_main(
    server: Arc<Server>,
    index: usize,
    mut rx: mpsc::UnboundedReceiver<std::net::TcpStream>,
) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .on_thread_park(super::outbound::flush_pending)
        .build()
        .expect("invariant: a worker runtime can be built");
    rt.block_on(async move {
        while let Some(std_stream) = rx.recv().await {
            let Ok(stream) = tokio::net::TcpStream::from_std(std_stream) else {
                continue;
            };
            let srv = server.clone();
            tokio::spawn(conn::serve(srv, stream, index));
        }
    });
}

/// Accepts connections (blocking, on its own thread), refuses those Redis would refuse, and
/// hands the rest to the workers in turn.
fn accept_loop(
    server: Arc<Server>,
    listener: std::net::TcpListener,
    senders: Arc<Vec<mpsc::UnboundedSender<std::net::TcpStream>>>,
) {
    use std::io::Write;
    if listener.set_nonblocking(false).is_err() {
        tracing::warn!("Could not use a listening socket");
        return;
    }
    let mut next = 0usize;
    loop {
        let (mut stream, peer) = match listener.accept() {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!("Accepting client connection: {e}");
                std::thread::sleep(std::time::Duration::from_millis(10));
                continue;
            }
        };
        let settings = server.config.settings_arc();
        let refusal: Option<&[u8]> = if server.clients.len() as u64 >= settings.maxclients {
            Some(b"-ERR max number of clients reached\r\n")
        } else if settings.protected_mode && settings.requirepass.is_none() && !is_loopback(&peer) {
            Some(PROTECTED_MODE_DENIED)
        } else {
            None
        };
        if let Some(message) = refusal {
            let _ = stream.set_write_timeout(Some(std::time::Duration::from_millis(100)));
            let _ = stream.write_all(message);
            server.clients.rejected_connections.fetch_add(1, Relaxed);
            continue;
        }
        let _ = stream.set_nodelay(true);
        if settings.tcp_keepalive_secs > 0 {
            let ka = TcpKeepalive::new()
                .with_time(std::time::Duration::from_secs(settings.tcp_keepalive_secs));
            let _ = socket2::SockRef::from(&stream).set_tcp_keepalive(&ka);
        }
        if stream.set_nonblocking(true).is_err() {
            continue;
        }
        let target = next % senders.len();
        next = next.wrapping_add(1);
        let _ = senders[target].send(stream);
    }
}
