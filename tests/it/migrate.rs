//! MIGRATE (issue 8): keys move between Tessera and redis-server 7.0.15 in both directions,
//! with their TTLs, one key or KEYS at a time, COPY, REPLACE, AUTH / AUTH2 and a destination
//! db; Redis's replies and errors for each case, checked side by side; the source drops a
//! moved key on its replicas too.

use std::time::Duration;

use crate::common::{RawClient, Resp, TestServer, free_port, skip_without_redis};

fn ok() -> Resp {
    Resp::Simple("OK".into())
}

/// MIGRATE from `from` to `to` (127.0.0.1), with `rest` after the port.
fn migrate(from: &mut RawClient, to: u16, rest: &[&str]) -> Resp {
    let port = to.to_string();
    let mut args = vec!["MIGRATE", "127.0.0.1", &port];
    args.extend(rest);
    from.cmd(&args)
}

#[test]
fn keys_move_both_ways_with_their_ttls() {
    if skip_without_redis() {
        return;
    }
    let tessera = TestServer::tessera(&[]);
    let redis = TestServer::redis(&[]);
    for (from, to) in [(&tessera, &redis), (&redis, &tessera)] {
        let mut src = from.client();
        let mut dst = to.client();
        src.cmd(&["FLUSHALL"]);
        dst.cmd(&["FLUSHALL"]);
        src.cmd(&["SET", "s", "v", "PX", "100000"]);
        src.cmd(&["RPUSH", "l", "a", "b", "c"]);
        src.cmd(&["HSET", "h", "f", "1"]);
        src.cmd(&["SADD", "z", "m"]);
        assert_eq!(migrate(&mut src, to.port, &["s", "0", "5000"]), ok());
        assert_eq!(src.cmd(&["EXISTS", "s"]), Resp::Int(0));
        assert_eq!(dst.cmd(&["GET", "s"]), Resp::Bulk(b"v".to_vec()));
        let pttl = dst.cmd(&["PTTL", "s"]).int();
        assert!((90_000..=100_000).contains(&pttl), "TTL kept: {pttl}");
        // KEYS: the missing key is skipped; the others move.
        let keys = ["", "0", "5000", "KEYS", "l", "missing", "h"];
        assert_eq!(migrate(&mut src, to.port, &keys), ok());
        assert_eq!(dst.cmd(&["LRANGE", "l", "0", "-1"]).items().len(), 3);
        assert_eq!(dst.cmd(&["HGET", "h", "f"]), Resp::Bulk(b"1".to_vec()));
        assert_eq!(src.cmd(&["EXISTS", "l", "h"]), Resp::Int(0));
        // Nothing to move: NOKEY, not an error.
        assert_eq!(
            migrate(&mut src, to.port, &["missing", "0", "5000"]),
            Resp::Simple("NOKEY".into())
        );
        // COPY keeps the source; a key the target has is BUSYKEY unless REPLACE.
        assert_eq!(
            migrate(&mut src, to.port, &["z", "0", "5000", "COPY"]),
            ok()
        );
        assert_eq!(src.cmd(&["EXISTS", "z"]), Resp::Int(1));
        assert_eq!(
            migrate(&mut src, to.port, &["z", "0", "5000"]),
            Resp::Error(
                "ERR Target instance replied with error: BUSYKEY Target key name already exists."
                    .into()
            )
        );
        assert_eq!(
            src.cmd(&["EXISTS", "z"]),
            Resp::Int(1),
            "kept after an error"
        );
        assert_eq!(
            migrate(&mut src, to.port, &["z", "0", "5000", "REPLACE"]),
            ok()
        );
        assert_eq!(src.cmd(&["EXISTS", "z"]), Resp::Int(0));
        // Another database on the target: its SELECT is sent, then remembered.
        src.cmd(&["SET", "in3", "x"]);
        src.cmd(&["SET", "in3b", "y"]);
        assert_eq!(migrate(&mut src, to.port, &["in3", "3", "5000"]), ok());
        assert_eq!(migrate(&mut src, to.port, &["in3b", "3", "5000"]), ok());
        dst.cmd(&["SELECT", "3"]);
        assert_eq!(dst.cmd(&["EXISTS", "in3", "in3b"]), Resp::Int(2));
    }
}

#[test]
fn errors_are_redis_errors() {
    if skip_without_redis() {
        return;
    }
    let tessera = TestServer::tessera(&[]);
    let redis = TestServer::redis(&[]);
    let target = TestServer::redis(&["--requirepass", "secret"]);
    let closed = free_port().to_string();
    let t = target.port.to_string();
    let cases: Vec<Vec<&str>> = vec![
        vec!["MIGRATE", "127.0.0.1", &closed, "k", "0", "1000"],
        vec!["MIGRATE", "127.0.0.1", &t, "k", "0", "1000"],
        vec![
            "MIGRATE",
            "127.0.0.1",
            &t,
            "k",
            "0",
            "1000",
            "AUTH",
            "wrong",
        ],
        vec![
            "MIGRATE",
            "127.0.0.1",
            &t,
            "k",
            "0",
            "1000",
            "AUTH2",
            "default",
            "nope",
        ],
        vec![
            "MIGRATE",
            "127.0.0.1",
            &t,
            "k",
            "0",
            "1000",
            "AUTH",
            "secret",
        ],
        vec![
            "MIGRATE",
            "127.0.0.1",
            &t,
            "k2",
            "0",
            "1000",
            "AUTH2",
            "default",
            "secret",
        ],
        vec!["MIGRATE", "127.0.0.1", &t, "k", "0", "1000", "AUTH"],
        vec!["MIGRATE", "127.0.0.1", &t, "k", "0", "1000", "AUTH2", "u"],
        vec!["MIGRATE", "127.0.0.1", &t, "k", "0", "1000", "SOON"],
        vec!["MIGRATE", "127.0.0.1", &t, "k", "0", "1000", "KEYS", "a"],
        vec!["MIGRATE", "127.0.0.1", &t, "k", "x", "1000"],
        vec!["MIGRATE", "127.0.0.1", &t, "k", "0", "soon"],
        vec!["MIGRATE", "127.0.0.1", &t, "k", "0"],
        vec!["MIGRATE", "127.0.0.1", "notaport", "k", "0", "1000"],
    ];
    let mut replies = Vec::new();
    for server in [&tessera, &redis] {
        let mut c = server.client();
        let mut mine = Vec::new();
        for case in &cases {
            c.cmd(&["SET", "k", "v"]);
            c.cmd(&["SET", "k2", "v"]);
            mine.push(c.cmd(case));
            // Leave the target empty for the other server's turn.
            let mut admin = target.client();
            admin.cmd(&["AUTH", "secret"]);
            admin.cmd(&["FLUSHALL"]);
        }
        replies.push(mine);
    }
    for (i, case) in cases.iter().enumerate() {
        assert_eq!(replies[0][i], replies[1][i], "{case:?}");
    }
    // The cases did what they say: a wrong password is the target's error, a right one moves.
    assert!(
        replies[0][2].text().contains("WRONGPASS"),
        "{:?}",
        replies[0][2]
    );
    assert_eq!(replies[0][4], ok());
    // Redis connects without blocking: a refused connection shows up as the write failing.
    assert_eq!(
        replies[0][0],
        Resp::Error("IOERR error or timeout writing to target instance".into())
    );
    assert!(
        replies[0][1]
            .text()
            .starts_with("ERR Target instance replied with error: NOAUTH")
    );
}

#[test]
fn a_migrated_key_leaves_the_replicas_too() {
    // No 5 s wait before the diskless snapshot (the replica says `capa eof`).
    let primary = TestServer::tessera(&["--repl-diskless-sync-delay", "0"]);
    let replica = TestServer::tessera(&["--replicaof", "127.0.0.1", &primary.port.to_string()]);
    let target = TestServer::tessera(&[]);
    super::failover::wait_link_up(replica.port, Duration::from_secs(20)).expect("replica synced");
    let mut p = primary.client();
    p.cmd(&["SET", "gone", "1"]);
    p.cmd(&["SET", "copied", "2"]);
    assert_eq!(p.cmd(&["WAIT", "1", "10000"]), Resp::Int(1));
    let mut r = replica.client();
    assert_eq!(r.cmd(&["EXISTS", "gone", "copied"]), Resp::Int(2));
    assert_eq!(migrate(&mut p, target.port, &["gone", "0", "5000"]), ok());
    assert_eq!(
        migrate(&mut p, target.port, &["copied", "0", "5000", "COPY"]),
        ok()
    );
    assert_eq!(p.cmd(&["WAIT", "1", "10000"]), Resp::Int(1));
    assert_eq!(r.cmd(&["EXISTS", "gone"]), Resp::Int(0), "DEL replicated");
    assert_eq!(
        r.cmd(&["EXISTS", "copied"]),
        Resp::Int(1),
        "COPY deletes nothing"
    );
    assert_eq!(
        target.client().cmd(&["EXISTS", "gone", "copied"]),
        Resp::Int(2)
    );
}
