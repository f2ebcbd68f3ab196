//! Expiry: lazy (on access) and active (the cron), `expired_keys` counted, and every key
//! expiring exactly once, whoever notices first.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::common::{RawClient, Resp, TestServer};

fn info_field(c: &mut RawClient, section: &str, field: &str) -> i64 {
    let text = c.cmd(&["INFO", section]).text();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in INFO {section}"))
}

/// Polls `f` every 20 ms until it is true or `timeout` passes.
fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    f()
}

#[test]
fn lazy_expiry_on_access() {
    let s = TestServer::tessera(&["--enable-debug-command", "yes"]);
    let mut c = s.client();
    assert_eq!(
        c.cmd(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]),
        Resp::Simple("OK".into())
    );
    assert_eq!(
        c.cmd(&["SET", "short", "v", "PX", "50"]),
        Resp::Simple("OK".into())
    );
    assert_eq!(
        c.cmd(&["SET", "long", "v", "EX", "1000"]),
        Resp::Simple("OK".into())
    );
    std::thread::sleep(Duration::from_millis(150));
    // Not yet removed: nobody looked at it and the active cycle is off.
    assert_eq!(c.cmd(&["DBSIZE"]), Resp::Int(2));
    assert_eq!(info_field(&mut c, "stats", "expired_keys"), 0);
    assert_eq!(c.cmd(&["GET", "short"]), Resp::Null);
    assert_eq!(c.cmd(&["DBSIZE"]), Resp::Int(1));
    assert_eq!(info_field(&mut c, "stats", "expired_keys"), 1);
    assert_eq!(c.cmd(&["TTL", "short"]), Resp::Int(-2));
    assert_eq!(c.cmd(&["GET", "long"]), Resp::Bulk(b"v".to_vec()));
}

#[test]
fn active_expiry_removes_untouched_keys() {
    let s = TestServer::tessera(&["--hz", "50"]);
    let mut c = s.client();
    for i in 0..500 {
        c.send(&["SET", &format!("k{i}"), "v", "PX", "100"]);
    }
    for _ in 0..500 {
        assert_eq!(c.read_reply(), Resp::Simple("OK".into()));
    }
    c.cmd(&["SET", "keep", "v"]);
    assert!(
        wait_until(Duration::from_secs(5), || c.cmd(&["DBSIZE"])
            == Resp::Int(1)),
        "the active cycle did not remove expired keys"
    );
    assert_eq!(info_field(&mut c, "stats", "expired_keys"), 500);
    assert_eq!(c.cmd(&["GET", "keep"]), Resp::Bulk(b"v".to_vec()));
}

#[test]
fn keys_expire_exactly_once() {
    let s = TestServer::tessera(&["--hz", "100", "--notify-keyspace-events", "Ex"]);
    let mut sub = s.client();
    sub.cmd(&["SUBSCRIBE", "__keyevent@0__:expired"]);
    let mut c = s.client();
    let n = 300;
    for i in 0..n {
        c.send(&["SET", &format!("e{i}"), "v", "PX", "60"]);
    }
    for _ in 0..n {
        c.read_reply();
    }
    // Race lookups against the active cycle while the keys expire.
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline && c.cmd(&["DBSIZE"]) != Resp::Int(0) {
        for i in (0..n).step_by(7) {
            c.send(&["GET", &format!("e{i}")]);
        }
        for _ in (0..n).step_by(7) {
            c.read_reply();
        }
    }
    assert_eq!(c.cmd(&["DBSIZE"]), Resp::Int(0));
    let mut seen: HashMap<Vec<u8>, usize> = HashMap::new();
    let _ = sub
        .stream
        .set_read_timeout(Some(Duration::from_millis(500)));
    while let Ok((msg, _)) = sub.read_reply_raw() {
        if let Resp::Array(items) = msg
            && let Some(Resp::Bulk(key)) = items.get(2)
        {
            *seen.entry(key.clone()).or_insert(0) += 1;
        }
        if seen.len() == n && seen.values().all(|&v| v == 1) {
            // Drain a little longer to catch duplicates.
            let _ = sub
                .stream
                .set_read_timeout(Some(Duration::from_millis(200)));
        }
    }
    assert_eq!(seen.len(), n, "every key produces an expired event");
    assert!(seen.values().all(|&v| v == 1), "a key expired twice");
    assert_eq!(info_field(&mut c, "stats", "expired_keys"), n as i64);
}

#[test]
fn expire_commands_and_ttl() {
    let s = TestServer::tessera(&[]);
    let mut c = s.client();
    c.cmd(&["SET", "k", "v"]);
    assert_eq!(c.cmd(&["TTL", "k"]), Resp::Int(-1));
    assert_eq!(c.cmd(&["EXPIRE", "k", "100"]), Resp::Int(1));
    assert_eq!(c.cmd(&["TTL", "k"]), Resp::Int(100));
    assert_eq!(c.cmd(&["PERSIST", "k"]), Resp::Int(1));
    assert_eq!(c.cmd(&["TTL", "k"]), Resp::Int(-1));
    // An expiry in the past deletes at once.
    assert_eq!(c.cmd(&["EXPIREAT", "k", "1"]), Resp::Int(1));
    assert_eq!(c.cmd(&["EXISTS", "k"]), Resp::Int(0));
}

#[test]
fn the_clock_advances_within_a_pipeline() {
    // Each command reads the clock, as Redis's call() does: a key set to expire in 100 ms is
    // gone for a GET that follows a 300 ms command in the same pipeline.
    let s = TestServer::tessera(&["--enable-debug-command", "yes"]);
    let mut c = s.client();
    c.cmd(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    let mut wire = Vec::new();
    for cmd in [
        &["SET", "k", "v", "PX", "100"][..],
        &["DEBUG", "SLEEP", "0.3"],
        &["GET", "k"],
        &["PTTL", "k"],
    ] {
        let args: Vec<&[u8]> = cmd.iter().map(|a| a.as_bytes()).collect();
        wire.extend_from_slice(&crate::common::encode(&args));
    }
    c.send_raw(&wire);
    assert_eq!(c.read_reply(), Resp::Simple("OK".into()));
    assert_eq!(c.read_reply(), Resp::Simple("OK".into()));
    assert_eq!(c.read_reply(), Resp::Null);
    assert_eq!(c.read_reply(), Resp::Int(-2));
}

#[test]
fn nothing_expires_while_clients_are_paused() {
    let s = TestServer::tessera(&["--hz", "50"]);
    let mut c = s.client();
    c.cmd(&["SET", "k", "v", "PX", "100"]);
    assert_eq!(
        c.cmd(&["CLIENT", "PAUSE", "1000", "WRITE"]),
        Resp::Simple("OK".into())
    );
    std::thread::sleep(Duration::from_millis(400));
    // Reads see the key as gone, but the dataset is left as it is (as in Redis).
    assert_eq!(c.cmd(&["GET", "k"]), Resp::Null);
    assert_eq!(c.cmd(&["DBSIZE"]), Resp::Int(1));
    assert_eq!(info_field(&mut c, "stats", "expired_keys"), 0);
    c.cmd(&["CLIENT", "UNPAUSE"]);
    assert!(
        wait_until(Duration::from_secs(5), || c.cmd(&["DBSIZE"])
            == Resp::Int(0)),
        "expired after the pause"
    );
    assert_eq!(info_field(&mut c, "stats", "expired_keys"), 1);
}

#[test]
fn overwriting_an_expired_key_counts_and_notifies_it() {
    let s = TestServer::tessera(&[
        "--enable-debug-command",
        "yes",
        "--notify-keyspace-events",
        "KEAn",
    ]);
    let mut c = s.client();
    c.cmd(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    c.cmd(&["SET", "k", "v", "PX", "10"]);
    std::thread::sleep(Duration::from_millis(50));
    let mut sub = s.client();
    sub.send(&["PSUBSCRIBE", "__keyevent@0__:*"]);
    sub.read_reply();
    c.cmd(&["MSET", "k", "v2"]);
    let mut events = Vec::new();
    for _ in 0..3 {
        events.push(sub.read_reply().items()[2].text());
    }
    assert_eq!(
        events,
        vec![
            "__keyevent@0__:expired",
            "__keyevent@0__:new",
            "__keyevent@0__:set"
        ]
    );
    assert_eq!(info_field(&mut c, "stats", "expired_keys"), 1);
}
