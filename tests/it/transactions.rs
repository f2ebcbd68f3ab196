//! Transactions under concurrency: WATCH retry loops from many clients on several worker
//! threads end with exact totals, EXEC is atomic for readers on other threads, and WATCH
//! sees other clients' writes and key expiry. (Reply shapes and errors are compared with
//! redis-server in tests/diff/transactions.redis.)

use std::time::{Duration, Instant};

use crate::common::{RawClient, Resp, TestServer};

/// Several worker threads, so clients really run in parallel.
const THREADS: &[&str] = &["--server-threads", "4"];

fn ok() -> Resp {
    Resp::Simple("OK".into())
}

fn bulk(s: &str) -> Resp {
    Resp::Bulk(s.as_bytes().to_vec())
}

fn int_of(r: &Resp) -> i64 {
    match r {
        Resp::Bulk(b) => std::str::from_utf8(b)
            .ok()
            .and_then(|s| s.parse().ok())
            .expect("a number"),
        Resp::Null => 0,
        other => panic!("expected a bulk number, got {other:?}"),
    }
}

/// One optimistic increment of both counters: WATCH, read, MULTI/SET/EXEC, retried until
/// EXEC succeeds. Returns how many attempts it took.
fn increment_both(c: &mut RawClient, deadline: Instant) -> usize {
    for attempt in 1..=100_000 {
        assert!(
            Instant::now() < deadline,
            "WATCH loop did not converge in time"
        );
        assert_eq!(c.cmd(&["WATCH", "{a}counter", "{b}counter"]), ok());
        let a = int_of(&c.cmd(&["GET", "{a}counter"]));
        let b = int_of(&c.cmd(&["GET", "{b}counter"]));
        assert_eq!(c.cmd(&["MULTI"]), ok());
        c.cmd(&["SET", "{a}counter", &(a + 1).to_string()]);
        c.cmd(&["SET", "{b}counter", &(b + 1).to_string()]);
        match c.cmd(&["EXEC"]) {
            Resp::Array(replies) => {
                assert_eq!(replies, vec![ok(), ok()]);
                return attempt;
            }
            Resp::Null => continue,
            other => panic!("unexpected EXEC reply {other:?}"),
        }
    }
    panic!("no EXEC succeeded");
}

#[test]
fn watch_retry_loops_from_many_clients_count_exactly() {
    const CLIENTS: usize = 8;
    const EACH: usize = 40;
    let s = TestServer::tessera(THREADS);
    let deadline = Instant::now() + Duration::from_secs(60);
    let retries: usize = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..CLIENTS)
            .map(|_| {
                let mut c = s.client();
                scope.spawn(move || {
                    (0..EACH)
                        .map(|_| increment_both(&mut c, deadline) - 1)
                        .sum::<usize>()
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().expect("worker")).sum()
    });
    let mut c = s.client();
    let total = (CLIENTS * EACH).to_string();
    assert_eq!(c.cmd(&["GET", "{a}counter"]), bulk(&total));
    assert_eq!(c.cmd(&["GET", "{b}counter"]), bulk(&total));
    // Contention must actually have happened for the test to mean anything; with eight
    // clients on four threads it always does, but say so if it ever did not.
    eprintln!("{retries} EXECs were aborted by WATCH and retried");
}

#[test]
fn exec_is_atomic_for_readers_on_other_threads() {
    const WRITERS: usize = 3;
    const ROUNDS: usize = 300;
    const BATCH: usize = 10;
    // Work between the two increments widens the window a non-atomic EXEC would expose.
    const FILLER: usize = 20;
    let s = TestServer::tessera(THREADS);
    let mut setup = s.client();
    setup.cmd(&["MSET", "left", "0", "right", "0"]);
    let (reads, mismatches) = std::thread::scope(|scope| {
        let mut writers = Vec::new();
        for _ in 0..WRITERS {
            let mut c = s.client();
            writers.push(scope.spawn(move || {
                for _ in 0..ROUNDS / BATCH {
                    for _ in 0..BATCH {
                        c.send(&["MULTI"]);
                        c.send(&["INCR", "left"]);
                        for _ in 0..FILLER {
                            c.send(&["INCR", "filler"]);
                        }
                        c.send(&["INCR", "right"]);
                        c.send(&["EXEC"]);
                    }
                    for _ in 0..BATCH {
                        for _ in 0..FILLER + 3 {
                            c.read_reply();
                        }
                        assert!(matches!(c.read_reply(), Resp::Array(_)));
                    }
                }
            }));
        }
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let mut reader = s.client();
                scope.spawn(move || {
                    let (mut reads, mut bad) = (0u64, 0u64);
                    // Until the writers are done (the final total is seen), bounded.
                    while reads < 200_000 {
                        let pair = reader.cmd(&["MGET", "left", "right"]);
                        let items = pair.items();
                        if int_of(&items[0]) != int_of(&items[1]) {
                            bad += 1;
                        }
                        reads += 1;
                        if int_of(&items[0]) == (WRITERS * ROUNDS) as i64 {
                            break;
                        }
                    }
                    (reads, bad)
                })
            })
            .collect();
        for w in writers {
            w.join().expect("writer");
        }
        readers
            .into_iter()
            .map(|r| r.join().expect("reader"))
            .fold((0, 0), |(a, b), (c, d)| (a + c, b + d))
    });
    assert!(reads > 0);
    assert_eq!(mismatches, 0, "a reader saw half a transaction");
    let total = (WRITERS * ROUNDS).to_string();
    assert_eq!(
        setup.cmd(&["MGET", "left", "right"]),
        Resp::Array(vec![bulk(&total), bulk(&total)])
    );
}

#[test]
fn watch_sees_other_clients_writes() {
    let s = TestServer::tessera(THREADS);
    let mut a = s.client();
    let mut b = s.client();
    a.cmd(&["SET", "k", "1"]);
    assert_eq!(a.cmd(&["WATCH", "k"]), ok());
    assert_eq!(b.cmd(&["SET", "k", "2"]), ok());
    a.cmd(&["MULTI"]);
    a.cmd(&["SET", "k", "from-a"]);
    assert_eq!(a.cmd(&["EXEC"]), Resp::Null);
    assert_eq!(a.cmd(&["GET", "k"]), bulk("2"));
    // A write to another key leaves the watch intact.
    assert_eq!(a.cmd(&["WATCH", "k"]), ok());
    b.cmd(&["SET", "unrelated", "x"]);
    a.cmd(&["MULTI"]);
    a.cmd(&["SET", "k", "from-a"]);
    assert_eq!(a.cmd(&["EXEC"]), Resp::Array(vec![ok()]));
    // FLUSHALL from another client touches a watched key that existed.
    assert_eq!(a.cmd(&["WATCH", "k"]), ok());
    b.cmd(&["FLUSHALL"]);
    a.cmd(&["MULTI"]);
    a.cmd(&["PING"]);
    assert_eq!(a.cmd(&["EXEC"]), Resp::Null);
}

#[test]
fn watched_key_expiring_before_exec_aborts_it() {
    let s = TestServer::tessera(&["--enable-debug-command", "yes"]);
    let mut a = s.client();
    a.cmd(&["SET", "ttl", "v", "PX", "150"]);
    assert_eq!(a.cmd(&["WATCH", "ttl"]), ok());
    std::thread::sleep(Duration::from_millis(300));
    a.cmd(&["MULTI"]);
    a.cmd(&["PING"]);
    assert_eq!(a.cmd(&["EXEC"]), Resp::Null, "expired after WATCH");
    // A key already expired (and still stored) at WATCH time does not abort when it is
    // finally removed.
    a.cmd(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    a.cmd(&["SET", "gone", "v", "PX", "50"]);
    std::thread::sleep(Duration::from_millis(120));
    assert_eq!(a.cmd(&["WATCH", "gone"]), ok());
    a.cmd(&["MULTI"]);
    a.cmd(&["GET", "gone"]);
    assert_eq!(
        a.cmd(&["EXEC"]),
        Resp::Array(vec![Resp::Null]),
        "expired before WATCH"
    );
}
