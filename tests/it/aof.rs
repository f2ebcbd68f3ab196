//! The append-only file: acknowledged writes survive kill -9 under `appendfsync always`,
//! `everysec` loses at most about a second, every type and TTL comes back from the AOF,
//! non-deterministic commands replay to the same data, the automatic rewrite fires and its
//! files pass `redis-check-aof` and load into redis-server 7.0.15, a truncated tail is
//! handled as `aof-load-truncated` says, and `CONFIG SET appendonly yes` starts it live.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::common::{RawClient, Resp, TestServer, info_text, skip_without_redis};
use crate::dump::{KEYS, populate, snapshot};

fn aof_args(fsync: &str) -> Vec<&str> {
    vec!["--appendonly", "yes", "--appendfsync", fsync]
}

fn info_field(c: &mut RawClient, field: &str) -> String {
    info_text(c, "persistence", field)
}

/// BGREWRITEAOF, waited for (at most 10 s).
fn rewrite_now(c: &mut RawClient) {
    assert_eq!(
        c.cmd(&["BGREWRITEAOF"]),
        Resp::Simple("Background append only file rewriting started".into())
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while info_field(c, "aof_rewrite_in_progress") != "0" {
        assert!(Instant::now() < deadline, "rewrite did not finish");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn assert_redis_check_aof_passes(dir: &std::path::Path) {
    let check = std::process::Command::new("redis-check-aof")
        .arg(dir.join("appendonly.aof.manifest"))
        .output()
        .expect("redis-check-aof runs");
    let report = String::from_utf8_lossy(&check.stdout);
    assert!(
        report.contains("All AOF files and manifest are valid"),
        "{report}"
    );
}

/// Kills the server with SIGKILL and starts it again on its directory.
fn crash_and_restart(server: TestServer, args: &[&str]) -> TestServer {
    let dir = server.stop_keeping_dir();
    TestServer::tessera_in(dir, args).unwrap_or_else(|log| panic!("restart failed:\n{log}"))
}

#[test]
fn acknowledged_writes_survive_kill_9_under_appendfsync_always() {
    let server = TestServer::tessera(&aof_args("always"));
    let port = server.port;
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut c = RawClient::connect(port);
                let counter = format!("counter:{w}");
                let mut acked = 0i64;
                // Bounded: stops when told, or after 20 000 writes.
                while !stop.load(Ordering::Relaxed) && acked < 20_000 {
                    match c.try_cmd(&["INCR", &counter]) {
                        Ok(Resp::Int(n)) => acked = n,
                        _ => break,
                    }
                    if c.try_cmd(&["RPUSH", "log", &counter]).is_err() {
                        break;
                    }
                }
                acked
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    // The kill lands while the writers are still writing.
    let dir = server.stop_keeping_dir();
    stop.store(true, Ordering::Relaxed);
    let acked: Vec<i64> = writers
        .into_iter()
        .map(|w| w.join().expect("writer"))
        .collect();
    let server = TestServer::tessera_in(dir, &aof_args("always")).expect("restarts");
    let mut c = server.client();
    for (w, &n) in acked.iter().enumerate() {
        assert!(n > 0, "writer {w} wrote nothing");
        let stored: i64 = c
            .cmd(&["GET", &format!("counter:{w}")])
            .text()
            .parse()
            .expect("a number");
        // The last INCR may have been written but not yet acknowledged when the kill came.
        assert!(
            stored == n || stored == n + 1,
            "writer {w}: acknowledged {n}, stored {stored}"
        );
    }
    let pushed = c.cmd(&["LLEN", "log"]).int();
    let acked_total: i64 = acked.iter().sum();
    assert!(
        pushed >= acked_total - 4,
        "{pushed} pushes for {acked_total} increments"
    );
}

#[test]
fn everysec_keeps_what_was_written_a_second_before_the_crash() {
    let server = TestServer::tessera(&aof_args("everysec"));
    let mut c = server.client();
    for i in 0..1000 {
        c.cmd(&["SET", &format!("k{i}"), &i.to_string()]);
    }
    std::thread::sleep(Duration::from_millis(1500));
    let server = crash_and_restart(server, &aof_args("everysec"));
    let mut c = server.client();
    assert_eq!(c.cmd(&["DBSIZE"]).int(), 1000);
    assert_eq!(c.cmd(&["GET", "k999"]), Resp::Bulk(b"999".to_vec()));
}

#[test]
fn every_type_ttl_and_random_pick_replays_to_the_same_data() {
    let server = TestServer::tessera(&aof_args("always"));
    let mut c = server.client();
    populate(&mut c);
    // Relative expiries and random picks must replay as they happened.
    c.cmd(&["SET", "ttl:rel", "v", "EX", "1000"]);
    c.cmd(&["SETEX", "ttl:setex", "500", "v"]);
    c.cmd(&["SET", "ttl:later", "v"]);
    c.cmd(&["EXPIRE", "ttl:later", "2000"]);
    c.cmd(&["SPOP", "set:big", "10"]);
    c.cmd(&["SPOP", "set:strs"]);
    c.cmd(&["INCRBYFLOAT", "float", "0.1"]);
    c.cmd(&["INCRBYFLOAT", "float", "0.2"]);
    c.cmd(&["HINCRBYFLOAT", "hash:small", "f2", "1.5"]);
    c.cmd(&["SELECT", "3"]);
    c.cmd(&["SET", "db3", "x"]);
    c.cmd(&["SELECT", "0"]);
    c.cmd(&["MULTI"]);
    c.cmd(&["INCR", "in-multi"]);
    c.cmd(&["RPUSH", "list:small", "from-multi"]);
    c.cmd(&["EXEC"]);
    let expiries: Vec<i64> = ["ttl:rel", "ttl:setex", "ttl:later"]
        .iter()
        .map(|k| c.cmd(&["PEXPIRETIME", k]).int())
        .collect();
    let before: Vec<_> = KEYS.iter().map(|k| snapshot(&mut c, k)).collect();
    let float = c.cmd(&["GET", "float"]);
    std::thread::sleep(Duration::from_millis(1100));
    let server = crash_and_restart(server, &aof_args("always"));
    let mut c = server.client();
    let after: Vec<_> = KEYS.iter().map(|k| snapshot(&mut c, k)).collect();
    assert_eq!(after, before);
    let replayed: Vec<i64> = ["ttl:rel", "ttl:setex", "ttl:later"]
        .iter()
        .map(|k| c.cmd(&["PEXPIRETIME", k]).int())
        .collect();
    assert_eq!(
        replayed, expiries,
        "absolute expiry times, not reset by the replay"
    );
    assert_eq!(c.cmd(&["GET", "float"]), float);
    assert_eq!(c.cmd(&["GET", "in-multi"]), Resp::Bulk(b"1".to_vec()));
    c.cmd(&["SELECT", "3"]);
    assert_eq!(c.cmd(&["GET", "db3"]), Resp::Bulk(b"x".to_vec()));
}

#[test]
fn a_served_blocked_pop_replays_as_the_pop() {
    let server = TestServer::tessera(&aof_args("always"));
    let mut admin = server.client();
    let mut waiter = server.client();
    waiter.send(&["BLPOP", "queue", "0"]);
    let deadline = Instant::now() + Duration::from_secs(5);
    while admin
        .cmd(&["INFO", "clients"])
        .text()
        .contains("blocked_clients:0")
    {
        assert!(Instant::now() < deadline, "the client never blocked");
        std::thread::sleep(Duration::from_millis(5));
    }
    admin.cmd(&["RPUSH", "queue", "first", "second"]);
    assert_eq!(
        waiter.read_reply(),
        Resp::Array(vec![
            Resp::Bulk(b"queue".to_vec()),
            Resp::Bulk(b"first".to_vec())
        ])
    );
    let server = crash_and_restart(server, &aof_args("always"));
    let mut c = server.client();
    assert_eq!(
        c.cmd(&["LRANGE", "queue", "0", "-1"]),
        Resp::Array(vec![Resp::Bulk(b"second".to_vec())])
    );
}

#[test]
fn auto_rewrite_files_pass_redis_check_aof_and_load_into_redis() {
    if skip_without_redis() {
        return;
    }
    let mut args = aof_args("everysec");
    args.extend([
        "--auto-aof-rewrite-min-size",
        "64kb",
        "--auto-aof-rewrite-percentage",
        "100",
    ]);
    let server = TestServer::tessera(&args);
    let mut c = server.client();
    let value = "v".repeat(100);
    for i in 0..3000 {
        c.cmd(&["SET", &format!("key:{}", i % 500), &value]);
        c.cmd(&["RPUSH", "list", &i.to_string()]);
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while info_field(&mut c, "aof_rewrites") == "0"
        || info_field(&mut c, "aof_rewrite_in_progress") != "0"
    {
        assert!(Instant::now() < deadline, "no automatic rewrite");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(info_field(&mut c, "aof_last_bgrewrite_status"), "ok");
    c.cmd(&["SET", "after-rewrite", "yes"]);
    std::thread::sleep(Duration::from_millis(1100));
    let dir = server.dir.path().join("appendonlydir");
    let manifest = std::fs::read_to_string(dir.join("appendonly.aof.manifest")).expect("manifest");
    assert!(
        manifest.contains("type b") && !manifest.contains("seq 1 type b"),
        "{manifest}"
    );
    assert_redis_check_aof_passes(&dir);
    let ours = probe(&mut c);
    let files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .map(|p| {
            let name = p.file_name().expect("name").to_string_lossy().into_owned();
            (
                format!("appendonlydir/{name}"),
                std::fs::read(&p).expect("file"),
            )
        })
        .collect();
    let files: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .collect();
    let redis = TestServer::redis_with_files(&files, &["--appendonly", "yes"]);
    let mut theirs = redis.client();
    let replies = probe(&mut theirs);
    assert_eq!(replies, ours);
    // And Tessera itself restarts from the rewritten files.
    let server = crash_and_restart(server, &args);
    assert_eq!(probe(&mut server.client()), ours);
}

/// What the rewrite test compares between the two servers.
fn probe(c: &mut RawClient) -> Vec<String> {
    let mut out: Vec<String> = ["key:7", "after-rewrite"]
        .iter()
        .map(|k| c.cmd(&["GET", k]).text())
        .collect();
    out.push(c.cmd(&["LLEN", "list"]).text());
    out.push(c.cmd(&["DBSIZE"]).text());
    out
}

#[test]
fn a_truncated_tail_loads_or_stops_the_server_as_configured() {
    let server = TestServer::tessera(&aof_args("always"));
    let mut c = server.client();
    c.cmd(&["SET", "kept", "1"]);
    let dir = server.stop_keeping_dir();
    let incr = dir
        .path()
        .join("appendonlydir")
        .join("appendonly.aof.1.incr.aof");
    let whole = std::fs::read(&incr).expect("incr file");
    let mut cut = whole.clone();
    cut.extend_from_slice(b"*3\r\n$3\r\nSET\r\n$4\r\nlost");
    std::fs::write(&incr, &cut).expect("write");
    match TestServer::tessera_in(dir, &["--appendonly", "yes", "--aof-load-truncated", "no"]) {
        Ok(_) => panic!("started on a truncated AOF with aof-load-truncated no"),
        Err(log) => assert!(
            log.contains("Unexpected end of file reading the append only file"),
            "{log}"
        ),
    }
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("appendonlydir")).expect("mkdir");
    let src = cut;
    std::fs::write(
        dir.path()
            .join("appendonlydir")
            .join("appendonly.aof.1.incr.aof"),
        &src,
    )
    .expect("write");
    std::fs::write(
        dir.path()
            .join("appendonlydir")
            .join("appendonly.aof.manifest"),
        "file appendonly.aof.1.incr.aof seq 1 type i\n",
    )
    .expect("manifest");
    let server = TestServer::tessera_in(dir, &["--appendonly", "yes"]).expect("loads anyway");
    assert!(
        server
            .log()
            .contains("!!! Warning: short read while loading the AOF file")
    );
    let mut c = server.client();
    assert_eq!(c.cmd(&["GET", "kept"]), Resp::Bulk(b"1".to_vec()));
    assert_eq!(c.cmd(&["EXISTS", "lost"]), Resp::Int(0));
    let truncated = std::fs::read(
        server
            .dir
            .path()
            .join("appendonlydir")
            .join("appendonly.aof.1.incr.aof"),
    )
    .expect("file");
    assert!(truncated.starts_with(&whole) && !truncated.ends_with(b"lost"));
}

#[test]
fn config_set_appendonly_yes_starts_the_aof_live() {
    let server = TestServer::tessera(&[]);
    let mut c = server.client();
    c.cmd(&["SET", "before", "1"]);
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "appendonly", "yes"]),
        Resp::Simple("OK".into())
    );
    let manifest = server
        .dir
        .path()
        .join("appendonlydir")
        .join("appendonly.aof.manifest");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !manifest.exists() {
        assert!(
            Instant::now() < deadline,
            "no AOF after CONFIG SET appendonly yes"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    c.cmd(&["SET", "after", "2"]);
    assert_eq!(info_field(&mut c, "aof_enabled"), "1");
    rewrite_now(&mut c);
    c.cmd(&["SET", "after-rewrite", "3"]);
    std::thread::sleep(Duration::from_millis(1100));
    let server = crash_and_restart(server, &["--appendonly", "yes"]);
    let mut c = server.client();
    for (k, v) in [("before", "1"), ("after", "2"), ("after-rewrite", "3")] {
        assert_eq!(c.cmd(&["GET", k]), Resp::Bulk(v.as_bytes().to_vec()), "{k}");
    }
}

#[test]
fn a_base_of_commands_with_timestamps_passes_redis_check_aof_and_reloads() {
    if skip_without_redis() {
        return;
    }
    let args = [
        "--appendonly",
        "yes",
        "--aof-use-rdb-preamble",
        "no",
        "--aof-timestamp-enabled",
        "yes",
    ];
    let server = TestServer::tessera(&args);
    let mut c = server.client();
    populate(&mut c);
    c.cmd(&["SET", "ttl", "v", "EX", "1000"]);
    rewrite_now(&mut c);
    c.cmd(&["SET", "after", "rewrite"]);
    let before: Vec<_> = KEYS.iter().map(|k| snapshot(&mut c, k)).collect();
    let expiry = c.cmd(&["PEXPIRETIME", "ttl"]).int();
    std::thread::sleep(Duration::from_millis(1100));
    let dir = server.dir.path().join("appendonlydir");
    let manifest = std::fs::read_to_string(dir.join("appendonly.aof.manifest")).expect("manifest");
    assert!(
        manifest.contains("appendonly.aof.2.base.aof seq 2 type b"),
        "{manifest}"
    );
    let incr = std::fs::read(dir.join("appendonly.aof.2.incr.aof")).expect("incr");
    assert!(incr.starts_with(b"#TS:"), "a timestamp annotation first");
    assert_redis_check_aof_passes(&dir);
    let server = crash_and_restart(server, &args);
    let mut c = server.client();
    let after: Vec<_> = KEYS.iter().map(|k| snapshot(&mut c, k)).collect();
    assert_eq!(after, before);
    assert_eq!(c.cmd(&["PEXPIRETIME", "ttl"]).int(), expiry);
    assert_eq!(c.cmd(&["GET", "after"]), Resp::Bulk(b"rewrite".to_vec()));
}

#[test]
fn an_old_single_file_aof_is_moved_into_the_directory_and_loaded() {
    // An RDB preamble followed by commands, as Redis 6 wrote appendonly.aof.
    let source = TestServer::tessera(&[]);
    let mut c = source.client();
    c.cmd(&["RPUSH", "list", "a", "b"]);
    c.cmd(&["SET", "in-rdb", "1"]);
    c.cmd(&["SAVE"]);
    let mut old = std::fs::read(source.dir.path().join("dump.rdb")).expect("dump.rdb");
    for cmd in [
        &["SELECT", "0"][..],
        &["RPUSH", "list", "c"],
        &["SET", "in-tail", "2"],
    ] {
        let args: Vec<&[u8]> = cmd.iter().map(|a| a.as_bytes()).collect();
        old.extend_from_slice(&crate::common::encode(&args));
    }
    let args = aof_args("always");
    let server = TestServer::tessera_with_files(&[("appendonly.aof", &old)], &args);
    let mut c = server.client();
    assert_eq!(c.cmd(&["GET", "in-rdb"]), Resp::Bulk(b"1".to_vec()));
    assert_eq!(c.cmd(&["GET", "in-tail"]), Resp::Bulk(b"2".to_vec()));
    assert_eq!(c.cmd(&["LLEN", "list"]), Resp::Int(3));
    assert!(
        server
            .log()
            .contains("Successfully migrated an old-style AOF file")
    );
    let dir = server.dir.path().join("appendonlydir");
    assert!(
        dir.join("appendonly.aof").exists() && !server.dir.path().join("appendonly.aof").exists()
    );
    let manifest = std::fs::read_to_string(dir.join("appendonly.aof.manifest")).expect("manifest");
    assert_eq!(
        manifest,
        "file appendonly.aof seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n"
    );
    c.cmd(&["SET", "new", "3"]);
    let server = crash_and_restart(server, &args);
    let mut c = server.client();
    assert_eq!(c.cmd(&["GET", "new"]), Resp::Bulk(b"3".to_vec()));
    assert_eq!(c.cmd(&["LLEN", "list"]), Resp::Int(3));
}
