//! `tessera-server [configfile] [--name value ...]`: start-up like redis-server.

use std::sync::Arc;

use tessera::config::{Config, ConfigError};
use tessera::server::{self, REDIS_VERSION, Server, TESSERA_VERSION};

#[global_allocator]
static ALLOC: tessera::util::alloc::CountingAlloc = tessera::util::alloc::CountingAlloc;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(first) = args.first() {
        match first.as_str() {
            "-v" | "--version" => {
                println!(
                    "Tessera server v={TESSERA_VERSION} redis_version={REDIS_VERSION} bits=64"
                );
                return;
            }
            "-h" | "--help" => {
                println!("Usage: tessera-server [/path/to/redis.conf] [options] [-]");
                println!("       tessera-server -v or --version");
                println!("       tessera-server -h or --help");
                println!();
                println!("Examples:");
                println!("       tessera-server (run the server with default conf)");
                println!("       tessera-server /etc/redis/6379.conf");
                println!("       tessera-server --port 7777");
                println!("       tessera-server /etc/myredis.conf --loglevel verbose");
                return;
            }
            _ => {}
        }
    }
    let config = match Config::from_args(&args) {
        Ok(c) => c,
        Err(ConfigError::Line { line, text, msg }) => {
            eprintln!("\n*** FATAL CONFIG FILE ERROR (Redis {REDIS_VERSION}) ***");
            eprintln!("Reading the configuration file, at line {line}");
            eprintln!(">>> '{text}'");
            eprintln!("{msg}");
            std::process::exit(1);
        }
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let settings = config.settings_arc();
    if config.get("tls-port") != "0" {
        eprintln!("TLS is not supported by Tessera: tls-port must be 0");
        std::process::exit(1);
    }
    if settings.daemonize {
        daemonize();
    }
    if let Err(e) = server::log::init(&settings.logfile, settings.loglevel) {
        eprintln!(
            "Can't open the log file: {}",
            tessera::config::io_reason(&e)
        );
        std::process::exit(1);
    }
    tracing::warn!("oO0OoO0OoO0Oo Tessera is starting oO0OoO0OoO0Oo");
    tracing::warn!(
        "Tessera version={TESSERA_VERSION} (redis_version={REDIS_VERSION}), bits=64, pid={}, just started",
        std::process::id()
    );
    if config.config_file.is_none() {
        tracing::warn!(
            "Warning: no config file specified, using the default config. In order to specify a config file use tessera-server /path/to/redis.conf"
        );
    } else {
        tracing::warn!("Configuration loaded");
    }
    let pidfile = if settings.pidfile.is_empty() && settings.daemonize {
        "/var/run/redis.pid".to_string()
    } else {
        settings.pidfile.clone()
    };
    if !pidfile.is_empty()
        && let Err(e) = std::fs::write(&pidfile, format!("{}\n", std::process::id()))
    {
        tracing::warn!(
            "Failed to write PID file: {}",
            tessera::config::io_reason(&e)
        );
    }
    warn_dangerous_settings(&settings);
    let listeners =
        match server::listener::bind_all(&settings.bind, settings.port, settings.tcp_backlog) {
            Ok(l) => l,
            Err(msg) => {
                tracing::warn!("{msg}");
                std::process::exit(1);
            }
        };
    tessera::util::clock::calibrate();
    let workers = server::worker_count(settings.server_threads);
    let (cluster, bus_listeners) = if settings.cluster_enabled {
        match start_cluster(&config, &settings) {
            Ok((c, l)) => (Some(Arc::new(c)), l),
            Err(msg) => {
                tracing::warn!("{msg}");
                std::process::exit(1);
            }
        }
    } else {
        (None, Vec::new())
    };
    let mut srv = Server::new(config, settings.port, workers);
    srv.cluster = cluster;
    let srv = Arc::new(srv);
    tracing::info!(
        "Running mode={}, port={}, threads={}.",
        if settings.cluster_enabled {
            "cluster"
        } else {
            "standalone"
        },
        settings.port,
        workers
    );
    tracing::info!("Server initialized");
    if settings.appendonly {
        if let Err(e) = srv.aof_start_at_startup() {
            tracing::warn!("{e}");
            std::process::exit(1);
        }
    } else if let Err(e) = srv.load_at_startup() {
        tracing::warn!("Fatal error loading the DB: {e}. Exiting.");
        std::process::exit(1);
    }
    if let Some(cluster) = &srv.cluster
        && let Err(msg) = cluster.verify_with_data(&srv)
    {
        tracing::warn!("{msg}");
        std::process::exit(1);
    }
    if srv.cluster.is_some() {
        srv.set_handle();
        tessera::cluster::bus::link::start(srv.clone(), bus_listeners);
    }
    tracing::info!("Ready to accept connections tcp");
    server::run(srv.clone(), listeners);
    // As prepareForShutdown() does, for SHUTDOWN and for signals alike.
    tracing::warn!("User requested shutdown...");
    if srv.aof_writer().is_some() {
        tracing::info!("Calling fsync() on the AOF file.");
        srv.stop_aof();
    }
    if let Err(e) = srv.shutdown_save(false, false) {
        tracing::warn!("Error trying to save the DB, can't exit: {e}");
    }
    if !pidfile.is_empty() {
        tracing::info!("Removing the pid file.");
        let _ = std::fs::remove_file(&pidfile);
    }
    tracing::warn!("Tessera is now ready to exit, bye bye...");
    std::process::exit(0);
}

/// Cluster mode's start-up (behaves like `clusterInit()`): nodes.conf locked and loaded
/// (or a new node created), and the bus port bound.
fn start_cluster(
    config: &Config,
    settings: &tessera::config::Settings,
) -> Result<(tessera::cluster::Cluster, Vec<std::net::TcpListener>), String> {
    let cluster_port: u16 = config.get("cluster-port").parse().unwrap_or(0);
    if cluster_port == 0 && settings.port > 65535 - 10000 {
        return Err("Redis port number too high. Cluster communication port is 10,000 port numbers higher than your Redis port. Your Redis port number must be 55535 or less.".into());
    }
    let cluster = tessera::cluster::Cluster::init(config)?;
    let cport = tessera::cluster::bus_port(settings.port, cluster_port);
    let listeners = server::listener::bind_all(&settings.bind, cport, settings.tcp_backlog)
        .map_err(|_| format!("Failed listening on port {cport} (cluster), aborting."))?;
    Ok((cluster, listeners))
}

/// Warnings Redis also prints for settings that put data or the service at risk.
fn warn_dangerous_settings(settings: &tessera::config::Settings) {
    if !settings.protected_mode && settings.requirepass.is_none() {
        let public = settings
            .bind
            .iter()
            .any(|b| !(b.starts_with("127.") || b == "::1" || b == "-::1"));
        if public {
            tracing::warn!(
                "WARNING: protected mode is off and no password is set: any client that can reach this port can read and write all data."
            );
        }
    }
    if let Ok(s) = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        && let Ok(max) = s.trim().parse::<u32>()
        && max < settings.tcp_backlog
    {
        tracing::warn!(
            "WARNING: The TCP backlog setting of {} cannot be enforced because /proc/sys/net/core/somaxconn is set to the lower value of {}.",
            settings.tcp_backlog,
            max
        );
    }
}

/// Detaches from the terminal like redis-server's `daemonize()`: fork, new session, stdio
/// to /dev/null. Runs before any thread is started.
fn daemonize() {
    // SAFETY: called before any other thread exists; the parent exits immediately.
    unsafe {
        match libc::fork() {
            -1 => {
                eprintln!("fork failed: {}", std::io::Error::last_os_error());
                std::process::exit(1);
            }
            0 => {}
            _ => libc::_exit(0),
        }
        libc::setsid();
        let fd = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        if fd != -1 {
            libc::dup2(fd, 0);
            libc::dup2(fd, 1);
            libc::dup2(fd, 2);
            if fd > 2 {
                libc::close(fd);
            }
        }
    }
}
