//! Start-up and configuration: config file plus `--name value` overrides, Redis's error
//! messages for bad options, CONFIG GET/SET/REWRITE, daemonize with a pidfile, log format.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::{RawClient, Resp, TestServer, free_port, tessera_bin};

fn bulk(s: &str) -> Resp {
    Resp::Bulk(s.as_bytes().to_vec())
}

/// Runs the binary with `args` expecting it to exit at once; returns (code, stderr).
fn run_expecting_exit(args: &[&str]) -> (i32, String) {
    let out = Command::new(tessera_bin())
        .args(args)
        .output()
        .expect("spawn");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_options_fail_like_redis() {
    let (code, err) = run_expecting_exit(&["--port", "abc"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***"),
        "{err}"
    );
    assert!(
        err.contains("Reading the configuration file, at line 2"),
        "{err}"
    );
    assert!(err.contains(">>> 'port \"abc\"'"), "{err}");
    assert!(
        err.contains("argument couldn't be parsed into an integer"),
        "{err}"
    );

    let (code, err) = run_expecting_exit(&["--no-such-option", "1"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("Bad directive or wrong number of arguments"),
        "{err}"
    );

    let (code, err) = run_expecting_exit(&["--maxmemory-policy", "sometimes"]);
    assert_eq!(code, 1);
    assert!(err.contains("argument(s) must be one of the following: volatile-lru, volatile-lfu, volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction"), "{err}");

    let (code, err) = run_expecting_exit(&["/no/such/file.conf"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("Fatal error, can't open config file '/no/such/file.conf'"),
        "{err}"
    );
}

#[test]
fn config_file_then_arguments() {
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = dir.path().join("redis.conf");
    std::fs::write(
        &conf,
        "# a comment\nhz 25\nmaxmemory 10mb\nsave 900 1\nsave 300 10\nnotify-keyspace-events Ex\n",
    )
    .expect("write conf");
    // The config file must come first, so this server is started by hand.
    let port = free_port();
    let mut child = Command::new(tessera_bin())
        .arg(&conf)
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--maxmemory",
            "20mb",
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let mut c = connect_within(port, Duration::from_secs(10)).expect("server up");
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "hz"]),
        Resp::Array(vec![bulk("hz"), bulk("25")])
    );
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "maxmemory"]),
        Resp::Array(vec![bulk("maxmemory"), bulk("20971520")])
    );
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "save"]),
        Resp::Array(vec![bulk("save"), bulk("900 1 300 10")])
    );
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "notify-keyspace-events"]),
        Resp::Array(vec![bulk("notify-keyspace-events"), bulk("xE")])
    );
    // CONFIG REWRITE keeps the comment, rewrites changed options, appends new ones.
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "hz", "40", "maxclients", "500"]),
        Resp::Simple("OK".into())
    );
    assert_eq!(c.cmd(&["CONFIG", "REWRITE"]), Resp::Simple("OK".into()));
    let text = std::fs::read_to_string(&conf).expect("read conf");
    assert!(text.starts_with("# a comment\nhz 40\n"), "{text}");
    assert!(text.contains("maxclients 500"), "{text}");
    assert!(
        text.contains("maxmemory 20971520") || text.contains("maxmemory 20mb"),
        "{text}"
    );
    let _ = child.kill();
    let _ = child.wait();
}

fn connect_within(port: u16, timeout: Duration) -> Option<RawClient> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Ok(mut c) = RawClient::try_connect(port)
            && c.try_cmd(&["PING"]).is_ok()
        {
            return Some(c);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

#[test]
fn config_set_and_get() {
    let s = TestServer::tessera(&[]);
    let mut c = s.client();
    assert_eq!(
        c.cmd(&[
            "CONFIG",
            "SET",
            "maxmemory-policy",
            "allkeys-lru",
            "hz",
            "20"
        ]),
        Resp::Simple("OK".into())
    );
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "hz", "30", "maxmemory-policy", "bogus"]),
        Resp::Error("ERR CONFIG SET failed (possibly related to argument 'maxmemory-policy') - argument(s) must be one of the following: volatile-lru, volatile-lfu, volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction".into())
    );
    // All or nothing: hz kept its earlier value.
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "hz"]),
        Resp::Array(vec![bulk("hz"), bulk("20")])
    );
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "daemonize", "yes"]),
        Resp::Error("ERR CONFIG SET failed (possibly related to argument 'daemonize') - can't set immutable config".into())
    );
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "nosuch", "1"]),
        Resp::Error("ERR Unknown option or number of arguments for CONFIG SET - 'nosuch'".into())
    );
    assert_eq!(
        c.cmd(&["CONFIG", "REWRITE"]),
        Resp::Error("ERR The server is running without a config file".into())
    );
    // Aliases answer under the name asked for.
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "slave-read-only"]),
        Resp::Array(vec![bulk("slave-read-only"), bulk("yes")])
    );
    // Reserved cluster and persistence options report Redis's defaults.
    for (name, value) in [
        ("cluster-enabled", "no"),
        ("cluster-node-timeout", "15000"),
        ("cluster-replica-validity-factor", "10"),
        ("appendonly", "no"),
        ("appendfsync", "everysec"),
        ("auto-aof-rewrite-percentage", "100"),
        ("repl-backlog-size", "1048576"),
        ("dbfilename", "dump.rdb"),
    ] {
        assert_eq!(
            c.cmd(&["CONFIG", "GET", name]),
            Resp::Array(vec![bulk(name), bulk(value)]),
            "{name}"
        );
    }
}

#[test]
fn config_get_star_lists_every_redis_option() {
    if crate::common::skip_without_redis() {
        return;
    }
    let ours = TestServer::tessera(&[]);
    let theirs = TestServer::redis(&[]);
    let names = |c: &mut RawClient| -> Vec<String> {
        let mut v: Vec<String> = c
            .cmd(&["CONFIG", "GET", "*"])
            .items()
            .chunks(2)
            .map(|p| p[0].text())
            .collect();
        v.sort();
        v
    };
    let mine = names(&mut ours.client());
    let reference = names(&mut theirs.client());
    let missing: Vec<&String> = reference.iter().filter(|n| !mine.contains(n)).collect();
    assert!(
        missing.is_empty(),
        "options redis has and we do not: {missing:?}"
    );
}

#[test]
fn daemonize_with_pidfile() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pidfile = dir.path().join("tessera.pid");
    let logfile = dir.path().join("tessera.log");
    let port = free_port();
    let status = Command::new(tessera_bin())
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--daemonize",
            "yes",
            "--pidfile",
            pidfile.to_str().expect("path"),
            "--logfile",
            logfile.to_str().expect("path"),
        ])
        .status()
        .expect("spawn");
    assert!(status.success(), "the launching process exits 0");
    let mut c = connect_within(port, Duration::from_secs(10)).expect("daemon answers");
    let pid: u32 = std::fs::read_to_string(&pidfile)
        .expect("pidfile")
        .trim()
        .parse()
        .expect("pid");
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    let log = std::fs::read_to_string(&logfile).expect("log");
    let line = log
        .lines()
        .find(|l| l.contains("Ready to accept connections"))
        .expect("ready line");
    // `pid:M 21 Nov 2026 09:54:28.597 * Ready to accept connections tcp`
    assert!(line.starts_with(&format!("{pid}:M ")), "{line}");
    assert!(line.contains(" * Ready to accept connections"), "{line}");
    c.send(&["SHUTDOWN", "NOSAVE"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::path::Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "daemon exits on SHUTDOWN"
    );
    assert!(!pidfile.exists(), "pidfile removed on shutdown");
}

#[test]
fn rename_command_to_a_long_secret_name() {
    let secret = "b840fc02d524045429941cc15f59e41cb7be6c52";
    let s = TestServer::tessera(&[
        "--rename-command",
        "config",
        secret,
        "--rename-command",
        "flushall",
        "",
    ]);
    let mut c = s.client();
    assert!(
        c.cmd(&["CONFIG", "GET", "hz"]).is_error(),
        "the old name is gone"
    );
    assert_eq!(
        c.cmd(&[&secret.to_ascii_uppercase(), "GET", "hz"]),
        Resp::Array(vec![bulk("hz"), bulk("10")])
    );
    assert!(
        c.cmd(&["FLUSHALL"]).is_error(),
        "renamed to nothing: removed"
    );
}
