//! Blocking pops: FIFO wake-up, one element per client, timeouts, wake-ups from MULTI/EXEC
//! and from LMOVE, BLMOVE chains, CLIENT UNBLOCK, disconnects while blocked, and what INFO
//! and CLIENT LIST show. Every wait is bounded.

use std::time::{Duration, Instant};

use crate::common::{RawClient, Resp, TestServer};

/// Several worker threads, so waiters and writers run on different threads.
const THREADS: &[&str] = &["--server-threads", "3"];

fn bulk(s: &str) -> Resp {
    Resp::Bulk(s.as_bytes().to_vec())
}

fn pair(k: &str, v: &str) -> Resp {
    Resp::Array(vec![bulk(k), bulk(v)])
}

fn blocked_clients(c: &mut RawClient) -> i64 {
    let info = c.cmd(&["INFO", "clients"]).text();
    info.lines()
        .find_map(|l| l.strip_prefix("blocked_clients:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("blocked_clients in INFO")
}

/// Waits (bounded) until exactly `n` clients are blocked.
fn wait_blocked(c: &mut RawClient, n: i64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while blocked_clients(c) != n {
        assert!(
            Instant::now() < deadline,
            "expected {n} blocked clients, have {}",
            blocked_clients(c)
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Sends a blocking command and waits until the server has blocked it.
fn block_on(admin: &mut RawClient, c: &mut RawClient, args: &[&str]) {
    let before = blocked_clients(admin);
    c.send(args);
    wait_blocked(admin, before + 1);
}

#[test]
fn first_blocked_client_is_served_first_one_element_each() {
    let s = TestServer::tessera(THREADS);
    let mut admin = s.client();
    let mut waiters: Vec<RawClient> = (0..3).map(|_| s.client()).collect();
    for w in waiters.iter_mut() {
        block_on(&mut admin, w, &["BLPOP", "queue", "0"]);
    }
    // Two elements for three waiters: the first two, in blocking order, get one each.
    assert_eq!(admin.cmd(&["RPUSH", "queue", "a", "b"]), Resp::Int(2));
    assert_eq!(waiters[0].read_reply(), pair("queue", "a"));
    assert_eq!(waiters[1].read_reply(), pair("queue", "b"));
    wait_blocked(&mut admin, 1);
    assert_eq!(admin.cmd(&["LLEN", "queue"]), Resp::Int(0));
    assert_eq!(admin.cmd(&["RPUSH", "queue", "c"]), Resp::Int(1));
    assert_eq!(waiters[2].read_reply(), pair("queue", "c"));
    wait_blocked(&mut admin, 0);
    assert_eq!(admin.cmd(&["EXISTS", "queue"]), Resp::Int(0));
}

#[test]
fn timeouts_have_sub_second_precision() {
    let s = TestServer::tessera(&[]);
    let mut c = s.client();
    let started = Instant::now();
    assert_eq!(c.cmd(&["BLPOP", "none", "0.2"]), Resp::Null);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(190) && waited < Duration::from_secs(5),
        "waited {waited:?}"
    );
    let started = Instant::now();
    assert_eq!(c.cmd(&["BZPOPMIN", "none", "0.05"]), Resp::Null);
    assert!(started.elapsed() >= Duration::from_millis(45));
    // The connection works normally afterwards.
    assert_eq!(c.cmd(&["PING"]), Resp::Simple("PONG".into()));
    assert_eq!(
        c.cmd(&["BLPOP", "none", "-1"]).text(),
        "ERR timeout is negative"
    );
    assert_eq!(
        c.cmd(&["BLPOP", "none", "soon"]).text(),
        "ERR timeout is not a float or out of range"
    );
}

#[test]
fn a_transaction_wakes_the_waiter_once_with_its_final_state() {
    let s = TestServer::tessera(THREADS);
    let mut admin = s.client();
    let mut waiter = s.client();
    block_on(&mut admin, &mut waiter, &["BLPOP", "jobs", "0"]);
    admin.cmd(&["MULTI"]);
    admin.cmd(&["LPUSH", "jobs", "a"]);
    admin.cmd(&["LPUSH", "jobs", "b"]);
    admin.cmd(&["LPUSH", "jobs", "c"]);
    assert_eq!(
        admin.cmd(&["EXEC"]),
        Resp::Array(vec![Resp::Int(1), Resp::Int(2), Resp::Int(3)])
    );
    assert_eq!(waiter.read_reply(), pair("jobs", "c"));
    assert_eq!(
        admin.cmd(&["LRANGE", "jobs", "0", "-1"]),
        Resp::Array(vec![bulk("b"), bulk("a")])
    );
    // A push that is popped again inside the same transaction wakes nobody.
    block_on(&mut admin, &mut waiter, &["BLPOP", "empty", "0"]);
    admin.cmd(&["MULTI"]);
    admin.cmd(&["LPUSH", "empty", "x"]);
    admin.cmd(&["LPOP", "empty"]);
    admin.cmd(&["EXEC"]);
    assert_eq!(blocked_clients(&mut admin), 1);
    admin.cmd(&["RPUSH", "empty", "y"]);
    assert_eq!(waiter.read_reply(), pair("empty", "y"));
}

#[test]
fn keys_become_ready_in_the_order_they_were_pushed() {
    let s = TestServer::tessera(THREADS);
    let mut admin = s.client();
    let mut waiter = s.client();
    block_on(&mut admin, &mut waiter, &["BLPOP", "k1", "k2", "0"]);
    admin.cmd(&["MULTI"]);
    admin.cmd(&["LPUSH", "k2", "from-k2"]);
    admin.cmd(&["LPUSH", "k1", "from-k1"]);
    admin.cmd(&["EXEC"]);
    assert_eq!(waiter.read_reply(), pair("k2", "from-k2"));
    assert_eq!(admin.cmd(&["LLEN", "k1"]), Resp::Int(1));
}

#[test]
fn lmove_into_a_waited_key_wakes_the_waiter_and_blmove_chains() {
    let s = TestServer::tessera(THREADS);
    let mut admin = s.client();
    let mut waiter = s.client();
    block_on(&mut admin, &mut waiter, &["BRPOP", "dst", "0"]);
    admin.cmd(&["RPUSH", "src", "moved"]);
    assert_eq!(
        admin.cmd(&["LMOVE", "src", "dst", "LEFT", "RIGHT"]),
        bulk("moved")
    );
    assert_eq!(waiter.read_reply(), pair("dst", "moved"));
    // A chain: a -> b -> c through two blocked BLMOVEs.
    let mut first = s.client();
    let mut second = s.client();
    block_on(
        &mut admin,
        &mut first,
        &["BLMOVE", "a", "b", "LEFT", "RIGHT", "0"],
    );
    block_on(&mut admin, &mut second, &["BRPOPLPUSH", "b", "c", "0"]);
    admin.cmd(&["RPUSH", "a", "item"]);
    assert_eq!(first.read_reply(), bulk("item"));
    assert_eq!(second.read_reply(), bulk("item"));
    assert_eq!(
        admin.cmd(&["LRANGE", "c", "0", "-1"]),
        Resp::Array(vec![bulk("item")])
    );
    assert_eq!(admin.cmd(&["EXISTS", "a", "b"]), Resp::Int(0));
    // A destination of the wrong type is an error for the waiter, and nothing moves.
    admin.cmd(&["SET", "str", "x"]);
    block_on(
        &mut admin,
        &mut first,
        &["BLMOVE", "src2", "str", "LEFT", "LEFT", "0"],
    );
    admin.cmd(&["RPUSH", "src2", "v"]);
    assert!(first.read_reply().text().starts_with("WRONGTYPE"));
    assert_eq!(admin.cmd(&["LLEN", "src2"]), Resp::Int(1));
}

#[test]
fn a_client_that_disconnects_while_blocked_takes_nothing() {
    let s = TestServer::tessera(THREADS);
    let mut admin = s.client();
    {
        let mut gone = s.client();
        block_on(&mut admin, &mut gone, &["BLPOP", "q", "0"]);
        let _ = gone.stream.shutdown(std::net::Shutdown::Both);
    }
    wait_blocked(&mut admin, 0);
    admin.cmd(&["RPUSH", "q", "kept"]);
    assert_eq!(admin.cmd(&["LLEN", "q"]), Resp::Int(1));
    // Input sent while blocked is run after the wake-up, in order.
    let mut w = s.client();
    block_on(&mut admin, &mut w, &["BLPOP", "q2", "0"]);
    w.send(&["ECHO", "after"]);
    admin.cmd(&["RPUSH", "q2", "v"]);
    assert_eq!(w.read_reply(), pair("q2", "v"));
    assert_eq!(w.read_reply(), bulk("after"));
}

#[test]
fn client_unblock_and_what_introspection_shows() {
    let s = TestServer::tessera(THREADS);
    let mut admin = s.client();
    let mut w = s.client();
    let id = w.cmd(&["CLIENT", "ID"]).int().to_string();
    block_on(&mut admin, &mut w, &["BLPOP", "nothing", "0"]);
    let list = admin.cmd(&["CLIENT", "LIST"]).text();
    let line = list
        .lines()
        .find(|l| l.contains(&format!("id={id} ")))
        .expect("waiter listed");
    assert!(
        line.contains("flags=b") && line.contains("cmd=blpop"),
        "{line}"
    );
    let info = admin.cmd(&["INFO", "clients"]).text();
    assert!(info.contains("clients_in_timeout_table:0"), "{info}");
    assert_eq!(
        admin.cmd(&["CLIENT", "UNBLOCK", &id, "TIMEOUT"]),
        Resp::Int(1)
    );
    assert_eq!(w.read_reply(), Resp::Null);
    assert_eq!(admin.cmd(&["CLIENT", "UNBLOCK", &id]), Resp::Int(0));
    block_on(&mut admin, &mut w, &["BZPOPMAX", "nothing", "100"]);
    assert_eq!(
        admin.cmd(&["CLIENT", "UNBLOCK", &id, "ERROR"]),
        Resp::Int(1)
    );
    assert_eq!(
        w.read_reply().text(),
        "UNBLOCKED client unblocked via CLIENT UNBLOCK"
    );
    assert_eq!(
        admin.cmd(&["CLIENT", "UNBLOCK", &id, "LATER"]).text(),
        "ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR"
    );
    wait_blocked(&mut admin, 0);
}

#[test]
fn sorted_set_and_multi_pops_are_served_too() {
    let s = TestServer::tessera(THREADS);
    let mut admin = s.client();
    let mut w = s.client();
    let id = w.cmd(&["CLIENT", "ID"]).int().to_string();
    block_on(&mut admin, &mut w, &["BZPOPMIN", "z", "0"]);
    admin.cmd(&["ZADD", "z", "2", "two", "1", "one"]);
    assert_eq!(
        w.read_reply(),
        Resp::Array(vec![bulk("z"), bulk("one"), bulk("1")])
    );
    block_on(
        &mut admin,
        &mut w,
        &["BZMPOP", "0", "1", "zz", "MAX", "COUNT", "5"],
    );
    admin.cmd(&["ZADD", "zz", "1", "a", "2", "b"]);
    assert_eq!(
        w.read_reply(),
        Resp::Array(vec![
            bulk("zz"),
            Resp::Array(vec![
                Resp::Array(vec![bulk("b"), bulk("2")]),
                Resp::Array(vec![bulk("a"), bulk("1")]),
            ]),
        ])
    );
    block_on(
        &mut admin,
        &mut w,
        &["BLMPOP", "0", "2", "l1", "l2", "RIGHT", "COUNT", "2"],
    );
    admin.cmd(&["RPUSH", "l2", "x", "y", "z"]);
    assert_eq!(
        w.read_reply(),
        Resp::Array(vec![bulk("l2"), Resp::Array(vec![bulk("z"), bulk("y")])])
    );
    // A list waiter is not served by a sorted set, and the other way round.
    block_on(&mut admin, &mut w, &["BLPOP", "mixed", "0"]);
    admin.cmd(&["ZADD", "mixed", "1", "m"]);
    assert_eq!(blocked_clients(&mut admin), 1);
    assert_eq!(
        admin.cmd(&["CLIENT", "UNBLOCK", &id, "TIMEOUT"]),
        Resp::Int(1)
    );
    assert_eq!(w.read_reply(), Resp::Null);
}

#[test]
fn blocking_commands_inside_exec_do_not_block() {
    let s = TestServer::tessera(&[]);
    let mut c = s.client();
    c.cmd(&["MULTI"]);
    c.cmd(&["BLPOP", "none", "0"]);
    c.cmd(&["BLMOVE", "none", "dst", "LEFT", "LEFT", "0"]);
    c.cmd(&["BZPOPMIN", "none", "0"]);
    assert_eq!(
        c.cmd(&["EXEC"]),
        Resp::Array(vec![Resp::Null, Resp::Null, Resp::Null])
    );
}
