//! Tessera as the primary of a real redis-server 7.0.15 replica: full sync, then every
//! streamed write of every type (expiries, SPOP, INCRBYFLOAT, several databases, served
//! blocking pops, transactions) leaves identical contents; a dropped link continues with a
//! partial resync; WAIT counts acknowledgements and min-replicas-to-write refuses writes
//! with NOREPLICAS when the replica is gone.

use std::time::{Duration, Instant};

use crate::common::{RawClient, Resp, TestServer, info_text, skip_without_redis};
use crate::dump::{KEYS, populate, run, snapshot};

/// A Tessera primary that sends its snapshot straight to the socket, without the default
/// 5 s wait for more replicas (replicas here say `capa eof`).
const DISKLESS: &[&str] = &["--repl-diskless-sync-delay", "0"];

fn replica_of(primary: &TestServer) -> TestServer {
    let port = primary.port.to_string();
    TestServer::redis(&["--replicaof", "127.0.0.1", &port])
}

/// Waits (at most 20 s) until the replica's link is up and it has what the primary wrote
/// (WAIT 1 on the primary).
fn wait_synced(primary: &mut RawClient, replica: &mut RawClient) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while info_text(replica, "replication", "master_link_status") != "up" {
        assert!(Instant::now() < deadline, "the replica never synced");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        primary.cmd(&["WAIT", "1", "10000"]).int() >= 1,
        "no replica acknowledged"
    );
}

/// Writes of every kind whose stream form matters: relative expiries, random pops, float
/// increments, several databases, a flush, a transaction.
const STREAMED_WRITES: &[&[&str]] = &[
    &["SET", "ttl", "v", "EX", "1000"],
    &["SET", "ttl-px", "v"],
    &["PEXPIRE", "ttl-px", "500000"],
    &["SPOP", "set:big", "5"],
    &["SADD", "popped", "a", "b", "c", "d"],
    &["SPOP", "popped"],
    &["INCRBYFLOAT", "float", "1.1"],
    &["INCRBYFLOAT", "float", "2.2"],
    &["INCR", "counter"],
    &["RPUSH", "queue", "one"],
    &["SELECT", "5"],
    &["SET", "in-five", "5"],
    &["SELECT", "7"],
    &["SET", "gone", "x"],
    &["FLUSHDB"],
    &["SELECT", "0"],
    &["MULTI"],
    &["INCR", "counter"],
    &["ZADD", "zset:big", "INCR", "5", "z-7"],
    &["EXEC"],
];

fn run_all(c: &mut RawClient, cmds: &[&[&str]]) {
    for cmd in cmds {
        let args: Vec<&[u8]> = cmd.iter().map(|a| a.as_bytes()).collect();
        let reply = run(c, &args);
        assert!(!reply.is_error(), "{cmd:?}: {reply:?}");
    }
}

/// Keys, values, encodings and absolute expiry times the test compares.
fn contents(c: &mut RawClient) -> Vec<String> {
    let mut out: Vec<String> = KEYS
        .iter()
        .map(|k| format!("{:?}", snapshot(c, k)))
        .collect();
    for k in ["ttl", "ttl-px", "float", "counter", "popped", "queue"] {
        out.push(format!(
            "{k}: {:?} expires {:?}",
            snapshot(c, k),
            c.cmd(&["PEXPIRETIME", k])
        ));
    }
    for db in ["0", "5", "7"] {
        c.cmd(&["SELECT", db]);
        out.push(format!("db {db}: {:?}", c.cmd(&["DBSIZE"])));
    }
    c.cmd(&["SELECT", "5"]);
    out.push(format!("{:?}", snapshot(c, "in-five")));
    c.cmd(&["SELECT", "0"]);
    out
}

#[test]
fn a_redis_replica_gets_the_full_sync_and_every_streamed_write() {
    if skip_without_redis() {
        return;
    }
    let primary = TestServer::tessera(DISKLESS);
    let mut p = primary.client();
    populate(&mut p);
    let replica = replica_of(&primary);
    let mut r = replica.client();
    wait_synced(&mut p, &mut r);
    // A client blocked before the writes that serve it.
    let mut waiter = primary.client();
    waiter.send(&["BLPOP", "queue", "0"]);
    let deadline = Instant::now() + Duration::from_secs(5);
    while info_text(&mut p, "clients", "blocked_clients") == "0" {
        assert!(Instant::now() < deadline, "the client never blocked");
        std::thread::sleep(Duration::from_millis(5));
    }
    run_all(&mut p, STREAMED_WRITES);
    run_all(
        &mut p,
        &[
            &["EXPIRE", "str:text", "300"],
            &["HINCRBYFLOAT", "hash:small", "n", "0.5"],
            &["RPUSH", "queue", "two"],
            &["LPOP", "list:big"],
            &["ZPOPMIN", "zset:small"],
            &["SET", "temp", "x"],
            &["DEL", "temp"],
            &["MULTI"],
            &["INCR", "counter"],
            &["RPUSH", "list:small", "from-multi"],
            &["EXEC"],
        ],
    );
    assert_eq!(
        waiter.read_reply(),
        Resp::Array(vec![
            Resp::Bulk(b"queue".to_vec()),
            Resp::Bulk(b"one".to_vec())
        ])
    );
    wait_synced(&mut p, &mut r);
    assert_eq!(contents(&mut r), contents(&mut p));
    assert_eq!(info_text(&mut p, "replication", "connected_slaves"), "1");
    assert!(
        primary
            .log()
            .contains("Starting BGSAVE for SYNC with target: replicas sockets")
    );
    let role = p.cmd(&["ROLE"]);
    assert_eq!(role.items()[0], Resp::Bulk(b"master".to_vec()));
}

#[test]
fn a_dropped_link_continues_with_a_partial_resync() {
    if skip_without_redis() {
        return;
    }
    let primary = TestServer::tessera(DISKLESS);
    let mut p = primary.client();
    p.cmd(&["SET", "before", "1"]);
    let replica = replica_of(&primary);
    let mut r = replica.client();
    wait_synced(&mut p, &mut r);
    p.cmd(&["SET", "during", "2"]);
    r.cmd(&["CLIENT", "KILL", "TYPE", "master"]);
    p.cmd(&["SET", "after", "3"]);
    wait_synced(&mut p, &mut r);
    assert_eq!(
        r.cmd(&["MGET", "before", "during", "after"]),
        Resp::Array(vec![
            Resp::Bulk(b"1".to_vec()),
            Resp::Bulk(b"2".to_vec()),
            Resp::Bulk(b"3".to_vec())
        ])
    );
    let replica_log = replica.log();
    assert!(
        replica_log.contains("Successful partial resynchronization with master"),
        "{replica_log}"
    );
    assert!(
        primary
            .log()
            .contains("Partial resynchronization request from")
    );
    assert_eq!(primary.log().matches("Full resync requested").count(), 1);
    assert_eq!(info_text(&mut p, "stats", "sync_full"), "1");
    assert_eq!(info_text(&mut p, "stats", "sync_partial_ok"), "1");
}

#[test]
fn wait_counts_acks_and_min_replicas_refuses_writes_without_them() {
    if skip_without_redis() {
        return;
    }
    let primary = TestServer::tessera(DISKLESS);
    let mut p = primary.client();
    assert_eq!(p.cmd(&["WAIT", "0", "0"]), Resp::Int(0));
    assert_eq!(p.cmd(&["WAIT", "1", "50"]), Resp::Int(0), "no replica yet");
    let replica = replica_of(&primary);
    let mut r = replica.client();
    wait_synced(&mut p, &mut r);
    // Every write WAIT 1 acknowledged is on the replica.
    for i in 0..200 {
        p.cmd(&["SET", &format!("k{i}"), &i.to_string()]);
        if i % 20 == 19 {
            assert_eq!(p.cmd(&["WAIT", "1", "5000"]), Resp::Int(1));
            assert_eq!(
                r.cmd(&["GET", &format!("k{i}")]),
                Resp::Bulk(i.to_string().into_bytes())
            );
        }
    }
    assert_eq!(
        p.cmd(&["WAIT", "2", "100"]),
        Resp::Int(1),
        "only one replica"
    );
    p.cmd(&["CONFIG", "SET", "min-replicas-to-write", "1"]);
    p.cmd(&["CONFIG", "SET", "min-replicas-max-lag", "2"]);
    assert_eq!(p.cmd(&["SET", "ok", "1"]), Resp::Simple("OK".into()));
    drop(r);
    drop(replica);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match p.cmd(&["SET", "refused", "1"]) {
            Resp::Error(e) if e == "NOREPLICAS Not enough good replicas to write." => break,
            other => {
                assert!(
                    Instant::now() < deadline,
                    "writes still accepted: {other:?}"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
    assert_eq!(
        p.cmd(&["GET", "ok"]),
        Resp::Bulk(b"1".to_vec()),
        "reads still work"
    );
}

#[test]
fn tessera_replicates_a_redis_primary_and_resumes_partially() {
    if skip_without_redis() {
        return;
    }
    let primary = TestServer::redis(DISKLESS);
    let mut p = primary.client();
    populate(&mut p);
    let port = primary.port.to_string();
    let replica = TestServer::tessera(&["--replicaof", "127.0.0.1", &port]);
    let mut r = replica.client();
    wait_synced(&mut p, &mut r);
    // The replica says `capa eof`, so redis-server streams the snapshot diskless, with an
    // EOF mark instead of a length.
    let primary_log = primary.log();
    assert!(
        primary_log.contains("Starting BGSAVE for SYNC with target: replicas sockets"),
        "{primary_log}"
    );
    assert!(
        replica
            .log()
            .contains("receiving streamed RDB from master with EOF"),
        "{}",
        replica.log()
    );
    run_all(&mut p, STREAMED_WRITES);
    wait_synced(&mut p, &mut r);
    assert_eq!(contents(&mut r), contents(&mut p));
    assert_eq!(
        r.cmd(&["SET", "local", "1"]),
        Resp::Error("READONLY You can't write against a read only replica.".into())
    );
    assert_eq!(info_text(&mut r, "replication", "role"), "slave");
    assert_eq!(r.cmd(&["ROLE"]).items()[0], Resp::Bulk(b"slave".to_vec()));
    // Clients paused on the replica do not pause the primary's stream.
    r.cmd(&["CLIENT", "PAUSE", "5000", "WRITE"]);
    p.cmd(&["SET", "during-pause", "1"]);
    wait_synced(&mut p, &mut r);
    assert_eq!(r.cmd(&["GET", "during-pause"]), Resp::Bulk(b"1".to_vec()));
    r.cmd(&["CLIENT", "UNPAUSE"]);
    // The primary drops the link; the replica continues where it stopped.
    p.cmd(&["CLIENT", "KILL", "TYPE", "replica"]);
    p.cmd(&["SET", "after-drop", "1"]);
    wait_synced(&mut p, &mut r);
    assert_eq!(r.cmd(&["GET", "after-drop"]), Resp::Bulk(b"1".to_vec()));
    assert!(
        replica
            .log()
            .contains("Successful partial resynchronization with master.")
    );
    // As Redis, a replica's log lines carry the role letter S.
    let pid = replica.pid();
    assert!(
        replica.log().contains(&format!("{pid}:S ")),
        "{}",
        replica.log()
    );
    let primary_log = primary.log();
    assert!(
        primary_log.contains("Partial resynchronization request from"),
        "{primary_log}"
    );
    assert_eq!(
        info_text(&mut p, "stats", "sync_partial_ok"),
        "1",
        "seen by the primary"
    );
    // REPLICAOF NO ONE makes it a writable primary again.
    assert_eq!(
        r.cmd(&["REPLICAOF", "NO", "ONE"]),
        Resp::Simple("OK".into())
    );
    assert_eq!(r.cmd(&["SET", "local", "1"]), Resp::Simple("OK".into()));
    assert_eq!(info_text(&mut r, "replication", "role"), "master");
}

#[test]
fn a_replica_paused_for_ten_seconds_catches_up_without_a_full_resync() {
    if skip_without_redis() {
        return;
    }
    // The snapshot through a file this time (repl-diskless-sync no).
    let primary = TestServer::tessera(&["--repl-diskless-sync", "no"]);
    let mut p = primary.client();
    let mut replica = replica_of(&primary);
    let mut r = replica.client();
    wait_synced(&mut p, &mut r);
    // SAFETY: signalling a child process this test started, by its PID.
    unsafe { libc::kill(replica.pid() as i32, libc::SIGSTOP) };
    // A steady load while the replica sleeps: 10 s at about 200 writes a second.
    let started = Instant::now();
    let mut written = 0;
    while started.elapsed() < Duration::from_secs(10) {
        p.cmd(&["SET", &format!("k{}", written % 1000), &written.to_string()]);
        p.cmd(&["INCR", "writes"]);
        written += 1;
        std::thread::sleep(Duration::from_millis(5));
    }
    // SAFETY: as above.
    unsafe { libc::kill(replica.pid() as i32, libc::SIGCONT) };
    assert!(replica.alive());
    wait_synced(&mut p, &mut r);
    assert_eq!(
        r.cmd(&["GET", "writes"]),
        Resp::Bulk(written.to_string().into_bytes())
    );
    assert_eq!(r.cmd(&["DBSIZE"]), p.cmd(&["DBSIZE"]));
    assert_eq!(
        primary.log().matches("Full resync requested").count(),
        1,
        "no second full sync"
    );
    let offset: u64 = info_text(&mut r, "replication", "slave_repl_offset")
        .parse()
        .expect("offset");
    let primary_offset: u64 = info_text(&mut p, "replication", "master_repl_offset")
        .parse()
        .expect("offset");
    assert!(
        primary_offset - offset < 1 << 20,
        "within the backlog: {offset} of {primary_offset}"
    );
}

#[test]
fn a_sibling_repointed_at_a_promoted_tessera_replica_continues_with_replid2() {
    if skip_without_redis() {
        return;
    }
    let primary = TestServer::redis(DISKLESS);
    let mut m = primary.client();
    populate(&mut m);
    let port = primary.port.to_string();
    let promoted = TestServer::tessera(&["--replicaof", "127.0.0.1", &port]);
    let sibling = TestServer::redis(&["--replicaof", "127.0.0.1", &port]);
    let (mut a, mut b) = (promoted.client(), sibling.client());
    wait_synced(&mut m, &mut a);
    m.cmd(&["SET", "before-promotion", "1"]);
    assert_eq!(m.cmd(&["WAIT", "2", "10000"]), Resp::Int(2));
    let old_id = info_text(&mut m, "replication", "master_replid");
    assert_eq!(
        a.cmd(&["REPLICAOF", "NO", "ONE"]),
        Resp::Simple("OK".into())
    );
    assert_eq!(info_text(&mut a, "replication", "master_replid2"), old_id);
    assert_ne!(info_text(&mut a, "replication", "master_replid"), old_id);
    let promoted_port = promoted.port.to_string();
    assert_eq!(
        b.cmd(&["REPLICAOF", "127.0.0.1", &promoted_port]),
        Resp::Simple("OK".into())
    );
    a.cmd(&["SET", "after-promotion", "2"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while b.cmd(&["GET", "after-promotion"]) != Resp::Bulk(b"2".to_vec()) {
        assert!(
            Instant::now() < deadline,
            "the sibling never followed the promoted replica"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        b.cmd(&["GET", "before-promotion"]),
        Resp::Bulk(b"1".to_vec())
    );
    let sibling_log = sibling.log();
    assert!(
        sibling_log.contains("Successful partial resynchronization with master"),
        "{sibling_log}"
    );
    assert_eq!(
        promoted.log().matches("Full resync requested").count(),
        0,
        "no full sync"
    );
    let shared = |c: &mut RawClient| KEYS.iter().map(|k| snapshot(c, k)).collect::<Vec<_>>();
    assert_eq!(shared(&mut b), shared(&mut a));
}

#[test]
fn a_replica_without_its_primary_serves_stale_data_only_if_allowed() {
    // A primary that is not there: the link never comes up.
    let absent = crate::common::free_port().to_string();
    let replica = TestServer::tessera(&["--replicaof", "127.0.0.1", &absent]);
    let mut r = replica.client();
    assert_eq!(
        info_text(&mut r, "replication", "master_link_status"),
        "down"
    );
    assert_eq!(
        r.cmd(&["GET", "k"]),
        Resp::Null,
        "stale data served by default"
    );
    r.cmd(&["CONFIG", "SET", "replica-serve-stale-data", "no"]);
    assert_eq!(
        r.cmd(&["GET", "k"]),
        Resp::Error(
            "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'."
                .into()
        )
    );
    assert_eq!(
        info_text(&mut r, "replication", "role"),
        "slave",
        "INFO still answers"
    );
}

#[test]
fn the_backlog_is_freed_after_repl_backlog_ttl_without_replicas() {
    if skip_without_redis() {
        return;
    }
    let primary =
        TestServer::tessera(&["--repl-diskless-sync-delay", "0", "--repl-backlog-ttl", "1"]);
    let mut p = primary.client();
    let replica = replica_of(&primary);
    let mut r = replica.client();
    wait_synced(&mut p, &mut r);
    assert_eq!(info_text(&mut p, "replication", "repl_backlog_active"), "1");
    let id = info_text(&mut p, "replication", "master_replid");
    drop(r);
    drop(replica);
    let deadline = Instant::now() + Duration::from_secs(10);
    while info_text(&mut p, "replication", "repl_backlog_active") != "0" {
        assert!(Instant::now() < deadline, "the backlog was never freed");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_ne!(
        info_text(&mut p, "replication", "master_replid"),
        id,
        "a new replication id"
    );
    assert!(
        primary
            .log()
            .contains("Replication backlog freed after 1 seconds without connected replicas.")
    );
}

/// The field names of INFO replication, in order.
fn replication_fields(c: &mut RawClient) -> Vec<String> {
    c.cmd(&["INFO", "replication"])
        .text()
        .lines()
        .filter_map(|l| l.split_once(':').map(|(name, _)| name.to_string()))
        .collect()
}

/// While a snapshot streams in, INFO replication shows its progress with Redis's fields,
/// in Redis's order: a Tessera replica and a redis-server replica of the same slowed
/// primary, side by side.
#[test]
fn a_replica_in_a_full_sync_reports_its_progress_as_redis_does() {
    if skip_without_redis() {
        return;
    }
    // 1 ms per key: a 3000-key snapshot streams for about 3 s.
    let primary = TestServer::redis(&[
        "--repl-diskless-sync-delay",
        "0",
        "--rdb-key-save-delay",
        "1000",
    ]);
    let mut p = primary.client();
    for batch in 0..3 {
        let pairs: Vec<String> = (0..1000)
            .flat_map(|i| [format!("key:{batch}:{i}"), "v".to_string()])
            .collect();
        let mut args = vec!["MSET"];
        args.extend(pairs.iter().map(String::as_str));
        assert_eq!(p.cmd(&args), Resp::Simple("OK".into()));
    }
    let port = primary.port.to_string();
    let mut seen = Vec::new();
    for tessera in [true, false] {
        let args = ["--replicaof", "127.0.0.1", &port];
        let replica = if tessera {
            TestServer::tessera(&args)
        } else {
            TestServer::redis(&args)
        };
        let mut r = replica.client();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            assert!(Instant::now() < deadline, "never caught the transfer");
            let info = r.cmd(&["INFO", "replication"]).text();
            let read: i64 = info
                .lines()
                .find_map(|l| l.strip_prefix("master_sync_read_bytes:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if info.contains("master_sync_in_progress:1") && read > 0 {
                // Diskless: the length is unknown, shown as 0 (and a negative "left").
                assert!(info.contains("master_sync_total_bytes:0"), "{info}");
                seen.push(replication_fields(&mut r));
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        wait_synced(&mut p, &mut r);
    }
    assert_eq!(seen[0], seen[1], "Tessera's fields, then redis-server's");
}
