//! RDB persistence against redis-server 7.0.15 and across restarts: files Tessera writes
//! pass `redis-check-rdb` and load into Redis with the same contents; files Redis writes
//! load into Tessera; data and TTLs survive SHUTDOWN, SIGTERM and DEBUG RELOAD; BGSAVE,
//! save points, INFO persistence and the MISCONF stop after a failed save; bad files stop
//! the server with a clear message.

use std::time::{Duration, Instant};

use crate::common::{RawClient, Resp, TestServer, info_text, skip_without_redis};
use crate::dump::{KEYS, build_commands, run, snapshot};

/// Keys beyond the shared set: expiries and other databases.
fn extra_commands() -> Vec<Vec<String>> {
    let strs = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    vec![
        strs(&["SET", "ttl:far", "v", "EX", "100000"]),
        strs(&["SET", "ttl:abs", "v", "PXAT", "99999999999999"]),
        strs(&["SELECT", "5"]),
        strs(&["SET", "db5:key", "in five"]),
        strs(&["RPUSH", "db5:list", "x", "y"]),
        strs(&["SELECT", "0"]),
    ]
}

fn populate(c: &mut RawClient) {
    for cmd in build_commands().into_iter().chain(extra_commands()) {
        let args: Vec<&[u8]> = cmd.iter().map(|a| a.as_bytes()).collect();
        let reply = run(c, &args);
        assert!(!reply.is_error(), "{}: {reply:?}", cmd[0]);
    }
}

/// Everything the tests compare: every shared key, the extra keys, TTLs, other databases.
fn contents(c: &mut RawClient) -> Vec<String> {
    let mut out: Vec<String> = KEYS
        .iter()
        .map(|k| format!("{:?}", snapshot(c, k)))
        .collect();
    let ttl = c.cmd(&["TTL", "ttl:far"]).int();
    out.push(format!("ttl:far {}", (99_990..=100_000).contains(&ttl)));
    out.push(format!(
        "ttl:abs {}",
        c.cmd(&["PEXPIRETIME", "ttl:abs"]).int()
    ));
    c.cmd(&["SELECT", "5"]);
    out.push(format!("{:?}", snapshot(c, "db5:key")));
    out.push(format!("{:?}", snapshot(c, "db5:list")));
    out.push(format!("db5 size {}", c.cmd(&["DBSIZE"]).int()));
    c.cmd(&["SELECT", "0"]);
    out.push(format!("db0 size {}", c.cmd(&["DBSIZE"]).int()));
    out
}

fn info_field(c: &mut RawClient, field: &str) -> String {
    info_text(c, "persistence", field)
}

/// Waits (at most 20 s) for a background save to end.
fn wait_bgsave_done(c: &mut RawClient) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while info_field(c, "rdb_bgsave_in_progress") != "0" {
        assert!(Instant::now() < deadline, "BGSAVE did not finish");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn redis_check_rdb(path: &std::path::Path) -> (bool, String) {
    let out = std::process::Command::new("redis-check-rdb")
        .arg(path)
        .output()
        .expect("redis-check-rdb runs");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn tessera_dumps_pass_redis_check_rdb_and_load_into_redis() {
    if skip_without_redis() {
        return;
    }
    let tessera = TestServer::tessera(&[]);
    let mut ours = tessera.client();
    populate(&mut ours);
    assert_eq!(ours.cmd(&["SAVE"]), Resp::Simple("OK".into()));
    let path = tessera.dir.path().join("dump.rdb");
    let (ok, report) = redis_check_rdb(&path);
    assert!(
        ok && report.contains("RDB looks OK"),
        "redis-check-rdb:\n{report}"
    );
    let bytes = std::fs::read(&path).expect("dump.rdb");
    let redis =
        TestServer::redis_with_files(&[("dump.rdb", &bytes)], &["--dbfilename", "dump.rdb"]);
    let mut theirs = redis.client();
    assert_eq!(contents(&mut theirs), contents(&mut ours));
}

#[test]
fn redis_dumps_load_into_tessera() {
    if skip_without_redis() {
        return;
    }
    let redis = TestServer::redis(&[]);
    let mut theirs = redis.client();
    populate(&mut theirs);
    assert_eq!(theirs.cmd(&["SAVE"]), Resp::Simple("OK".into()));
    let bytes = std::fs::read(redis.dir.path().join("dump.rdb")).expect("dump.rdb");
    let tessera = TestServer::tessera_with_files(&[("dump.rdb", &bytes)], &[]);
    let mut ours = tessera.client();
    assert_eq!(contents(&mut ours), contents(&mut theirs));
    assert_eq!(
        info_field(&mut ours, "rdb_last_load_keys_loaded"),
        (KEYS.len() + 4).to_string()
    );
}

#[test]
fn data_survives_shutdown_sigterm_and_debug_reload() {
    let server = TestServer::tessera(&["--save", "3600 1", "--enable-debug-command", "yes"]);
    let mut c = server.client();
    populate(&mut c);
    let before = contents(&mut c);
    assert_eq!(c.cmd(&["DEBUG", "RELOAD"]), Resp::Simple("OK".into()));
    assert_eq!(contents(&mut c), before, "after DEBUG RELOAD");
    // SHUTDOWN with save points saves first.
    c.send(&["SHUTDOWN"]);
    let mut server = server;
    assert_eq!(server.wait_exit(Duration::from_secs(20)), Some(0));
    let dir = server.stop_keeping_dir();
    let server = TestServer::tessera_in(dir, &["--save", "3600 1"]).expect("restarts");
    let mut c = server.client();
    assert_eq!(contents(&mut c), before, "after SHUTDOWN and restart");
    c.cmd(&["SET", "added", "after restart"]);
    // SIGTERM saves too.
    // SAFETY: signalling a child process this test started, by its PID.
    unsafe { libc::kill(server.pid() as i32, libc::SIGTERM) };
    let mut server = server;
    assert_eq!(server.wait_exit(Duration::from_secs(20)), Some(0));
    let dir = server.stop_keeping_dir();
    let server = TestServer::tessera_in(dir, &[]).expect("restarts");
    let mut c = server.client();
    assert_eq!(
        c.cmd(&["GET", "added"]),
        Resp::Bulk(b"after restart".to_vec())
    );
    // SHUTDOWN NOSAVE does not.
    c.cmd(&["SET", "lost", "v"]);
    c.send(&["SHUTDOWN", "NOSAVE"]);
    let mut server = server;
    assert_eq!(server.wait_exit(Duration::from_secs(20)), Some(0));
    let dir = server.stop_keeping_dir();
    let server = TestServer::tessera_in(dir, &[]).expect("restarts");
    assert_eq!(server.client().cmd(&["EXISTS", "lost"]), Resp::Int(0));
}

#[test]
fn bgsave_save_points_and_info() {
    let server = TestServer::tessera(&["--save", "1 1"]);
    let mut c = server.client();
    assert_eq!(info_field(&mut c, "rdb_saves"), "0");
    for i in 0..100 {
        c.cmd(&["SET", &format!("k{i}"), "v"]);
    }
    assert_eq!(info_field(&mut c, "rdb_changes_since_last_save"), "100");
    // The save point (1 change in 1 second) saves within a few seconds.
    let deadline = Instant::now() + Duration::from_secs(10);
    while info_field(&mut c, "rdb_saves") == "0" {
        assert!(Instant::now() < deadline, "the save point never saved");
        std::thread::sleep(Duration::from_millis(50));
    }
    wait_bgsave_done(&mut c);
    assert_eq!(info_field(&mut c, "rdb_changes_since_last_save"), "0");
    assert_eq!(info_field(&mut c, "rdb_last_bgsave_status"), "ok");
    assert!(server.dir.path().join("dump.rdb").exists());
    c.cmd(&["CONFIG", "SET", "save", ""]);
    c.cmd(&["SET", "one-more", "v"]);
    let lastsave = c.cmd(&["LASTSAVE"]).int();
    assert_eq!(
        c.cmd(&["BGSAVE"]),
        Resp::Simple("Background saving started".into())
    );
    wait_bgsave_done(&mut c);
    assert!(c.cmd(&["LASTSAVE"]).int() >= lastsave);
    assert_eq!(info_field(&mut c, "rdb_saves"), "2");
    assert_eq!(info_field(&mut c, "rdb_bgsave_in_progress"), "0");
    assert_ne!(info_field(&mut c, "rdb_last_bgsave_time_sec"), "-1");
}

#[test]
fn a_failed_bgsave_stops_writes_until_a_save_succeeds() {
    let server = TestServer::tessera(&["--save", "3600 1", "--enable-protected-configs", "yes"]);
    let mut c = server.client();
    let gone = server.dir.path().join("gone");
    std::fs::create_dir(&gone).expect("mkdir");
    c.cmd(&["CONFIG", "SET", "dir", gone.to_str().expect("utf-8 path")]);
    std::fs::remove_dir(&gone).expect("rmdir");
    assert_eq!(
        c.cmd(&["BGSAVE"]),
        Resp::Simple("Background saving started".into())
    );
    wait_bgsave_done(&mut c);
    assert_eq!(info_field(&mut c, "rdb_last_bgsave_status"), "err");
    let refused = c.cmd(&["SET", "k", "v"]);
    assert!(refused.text().starts_with("MISCONF "), "{refused:?}");
    assert!(c.cmd(&["PING"]).text().starts_with("MISCONF "));
    assert_eq!(c.cmd(&["GET", "k"]), Resp::Null, "reads still work");
    // A new directory (the old one is gone for good, even under its name).
    std::fs::create_dir(&gone).expect("mkdir");
    c.cmd(&["CONFIG", "SET", "dir", gone.to_str().expect("utf-8 path")]);
    assert_eq!(
        c.cmd(&["BGSAVE"]),
        Resp::Simple("Background saving started".into())
    );
    wait_bgsave_done(&mut c);
    assert_eq!(c.cmd(&["SET", "k", "v"]), Resp::Simple("OK".into()));
}

#[test]
fn bad_files_stop_the_server_with_a_reason() {
    if skip_without_redis() {
        return;
    }
    let server = TestServer::tessera(&[]);
    let mut c = server.client();
    c.cmd(&["SET", "k", "v"]);
    c.cmd(&["SAVE"]);
    let mut corrupt = std::fs::read(server.dir.path().join("dump.rdb")).expect("dump.rdb");
    let at = corrupt.len() - 12;
    corrupt[at] ^= 0xff;
    let redis = TestServer::redis(&[]);
    let mut theirs = redis.client();
    theirs.cmd(&["XADD", "stream", "1-1", "f", "v"]);
    theirs.cmd(&["SAVE"]);
    let with_stream = std::fs::read(redis.dir.path().join("dump.rdb")).expect("dump.rdb");
    for (bytes, reason) in [(&corrupt, "checksum"), (&with_stream, "stream")] {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("dump.rdb"), bytes).expect("write");
        let log = TestServer::tessera_in(dir, &[])
            .err()
            .expect("refuses to start");
        assert!(
            log.contains("Fatal error loading the DB") && log.contains(reason),
            "log:\n{log}"
        );
    }
}

/// SIGTERM whose shutdown save fails leaves the server running, as redis-server's does;
/// the next SIGTERM, once the save can succeed, stops it with the data on disk.
#[test]
fn sigterm_with_a_failing_save_keeps_serving() {
    if skip_without_redis() {
        return;
    }
    for redis in [false, true] {
        let args = ["--save", "3600 1"];
        let mut server = if redis {
            TestServer::redis(&args)
        } else {
            TestServer::tessera(&args)
        };
        let kind = if redis { "redis-server" } else { "tessera" };
        let mut c = server.client();
        assert_eq!(c.cmd(&["SET", "k", "v"]), Resp::Simple("OK".into()));
        // The snapshot cannot be renamed into place over a directory.
        let blocker = server.dir.path().join("dump.rdb");
        std::fs::create_dir(&blocker).expect("mkdir");
        // SAFETY: signals a child process this test started and still owns.
        unsafe { libc::kill(server.pid() as i32, libc::SIGTERM) };
        std::thread::sleep(Duration::from_secs(2));
        assert!(server.alive(), "{kind} exited after a failed shutdown save");
        assert_eq!(
            RawClient::connect(server.port).cmd(&["GET", "k"]),
            Resp::Bulk(b"v".to_vec()),
            "{kind} still serves"
        );
        std::fs::remove_dir(&blocker).expect("rmdir");
        // SAFETY: as above.
        unsafe { libc::kill(server.pid() as i32, libc::SIGTERM) };
        assert_eq!(server.wait_exit(Duration::from_secs(10)), Some(0), "{kind}");
        assert!(blocker.is_file(), "{kind} saved on the second SIGTERM");
    }
}

/// Under an LFU policy the RDB carries each key's access counter (RDB_OPCODE_FREQ), read
/// back by the other server in both directions.
#[test]
fn lfu_counters_travel_in_the_rdb_both_ways() {
    if skip_without_redis() {
        return;
    }
    // Every access counts, and idle keys never decay: the counts are exact.
    let args = [
        "--maxmemory-policy",
        "allkeys-lfu",
        "--lfu-log-factor",
        "0",
        "--lfu-decay-time",
        "0",
    ];
    for tessera_writes in [true, false] {
        let writer = if tessera_writes {
            TestServer::tessera(&args)
        } else {
            TestServer::redis(&args)
        };
        let mut w = writer.client();
        w.cmd(&["SET", "k", "v"]);
        for _ in 0..4 {
            w.cmd(&["GET", "k"]);
        }
        assert_eq!(w.cmd(&["OBJECT", "FREQ", "k"]), Resp::Int(9));
        assert_eq!(w.cmd(&["SAVE"]), Resp::Simple("OK".into()));
        let rdb = std::fs::read(writer.dir.path().join("dump.rdb")).expect("dump.rdb");
        let files: [(&str, &[u8]); 1] = [("dump.rdb", &rdb)];
        let reader = if tessera_writes {
            TestServer::redis_with_files(&files, &args)
        } else {
            TestServer::tessera_with_files(&files, &args)
        };
        assert_eq!(
            reader.client().cmd(&["OBJECT", "FREQ", "k"]),
            Resp::Int(9),
            "written by {}",
            if tessera_writes {
                "Tessera"
            } else {
                "redis-server"
            }
        );
    }
}
