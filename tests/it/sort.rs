//! SORT beyond what the differential script sees: keyspace events, dirty counts and
//! keyspace hits/misses against redis-server 7.0.15; the options refused in cluster mode;
//! and BY/GET patterns reading one consistent snapshot while other clients write the keys
//! they reach (and nobody deadlocks).

use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use crate::common::{Resp, TestServer, assert_same_effects_as_redis, skip_without_redis};

#[test]
fn events_dirty_and_stats_match_redis() {
    if skip_without_redis() {
        return;
    }
    let commands: &[&[&str]] = &[
        &["RPUSH", "ids", "1", "2", "3"],
        &["MSET", "w_1", "3", "w_2", "1", "v_1", "a"],
        &["SORT", "ids"],
        &["SORT", "ids", "BY", "w_*", "GET", "v_*", "GET", "#"],
        &["SORT", "ids", "BY", "nosort", "GET", "#", "GET", "nostar"],
        &["SORT_RO", "ids", "BY", "w_*", "LIMIT", "0", "1"],
        &["SORT", "ids", "STORE", "out"],
        &["SORT", "ids", "DESC", "STORE", "out"],
        &["SORT", "ids", "GET", "v_*", "STORE", "out"],
        &["SORT", "nokey", "STORE", "out"],
        &["SORT", "nokey", "STORE", "out"],
        &["SORT", "ids", "LIMIT", "0", "0", "STORE", "out2"],
        &["SET", "w_3", "abc"],
        &["SORT", "ids", "BY", "w_*", "GET", "v_*", "STORE", "out"],
        &["SORT", "ids", "ALPHA", "BY", "w_*", "GET", "v_*"],
        &["SET", "exp", "x", "PX", "1"],
        &["SET", "exp2", "x", "PX", "1"],
        &["SET", "w_2", "7", "PX", "1"],
        &["DEBUG", "SLEEP", "0.01"],
        &["SORT", "ids", "STORE", "exp"],
        &["SORT", "nokey", "STORE", "exp2"],
        &["SORT", "ids", "ALPHA", "BY", "w_*"],
        &["ZADD", "z", "1", "a", "2", "b"],
        &["SORT", "z", "ALPHA", "STORE", "z"],
        &["SET", "str", "x"],
        &["SORT", "str"],
        &["SORT", "str", "BY", "w_*"],
        &["SORT", "ids", "FOO"],
        &["SADD", "s", "b", "a"],
        &["SORT", "s", "BY", "nosort", "STORE", "s"],
    ];
    assert_same_effects_as_redis(commands);
}

#[test]
fn cluster_mode_refuses_patterns_that_reach_other_keys() {
    let server = TestServer::tessera(&["--cluster-enabled", "yes"]);
    let mut c = server.client();
    // A one-node cluster serving every slot: ok once the start-up writable delay passes.
    c.cmd(&["CLUSTER", "ADDSLOTSRANGE", "0", "16383"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !c
        .cmd(&["CLUSTER", "INFO"])
        .text()
        .starts_with("cluster_state:ok")
    {
        assert!(std::time::Instant::now() < deadline, "cluster never ok");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    c.cmd(&["RPUSH", "k", "2", "1", "3"]);
    let by = Resp::Error("ERR BY option of SORT denied in Cluster mode.".into());
    let get = Resp::Error("ERR GET option of SORT denied in Cluster mode.".into());
    assert_eq!(c.cmd(&["SORT", "k", "BY", "w_*"]), by);
    assert_eq!(c.cmd(&["SORT_RO", "k", "BY", "w_*->f"]), by);
    assert_eq!(c.cmd(&["SORT", "k", "GET", "#"]), get);
    assert_eq!(c.cmd(&["SORT", "k", "GET", "nostar"]), get);
    assert_eq!(c.cmd(&["SORT", "k", "BY", "nosort", "GET", "v_*"]), get);
    // Options are read in order: an earlier error answers first.
    assert_eq!(
        c.cmd(&["SORT", "k", "LIMIT", "x", "1", "GET", "#"]),
        Resp::Error("ERR value is not an integer or out of range".into())
    );
    assert_eq!(
        c.cmd(&["SORT", "k", "FOO", "BY", "w_*"]),
        Resp::Error("ERR syntax error".into())
    );
    assert_eq!(c.cmd(&["SORT", "k", "GET", "#", "FOO"]), get);
    // A constant BY reaches no key: allowed.
    let bulks = |items: &[&str]| Resp::Array(items.iter().map(|s| bulk(s)).collect());
    assert_eq!(
        c.cmd(&["SORT", "k", "BY", "nosort", "DESC"]),
        bulks(&["3", "1", "2"])
    );
    assert_eq!(c.cmd(&["SORT", "k"]), bulks(&["1", "2", "3"]));
    assert_eq!(c.cmd(&["SORT", "k", "STORE", "k"]), Resp::Int(3));
}

fn bulk(s: &str) -> Resp {
    Resp::Bulk(s.as_bytes().to_vec())
}

/// Writers keep `w_<i>` and `v_<i>` (different slots) equal with MSET, and another pushes
/// and pops an element of the sorted list (so the keys its patterns reach change between
/// SORT's peek and its locking), while a reader sorts BY `w_*` and GETs both: every reply
/// must pair equal values and list them in BY order, which holds only if all the keys were
/// read under the same locks.
#[test]
fn patterns_read_one_snapshot_under_concurrent_writes() {
    const ELEMENTS: usize = 30;
    const SORTS: usize = 150;
    let server = TestServer::tessera(&[]);
    let mut setup = server.client();
    let ids: Vec<String> = (0..=ELEMENTS).map(|i| i.to_string()).collect();
    let mut rpush = vec!["RPUSH", "ids"];
    rpush.extend(ids[..ELEMENTS].iter().map(String::as_str));
    setup.cmd(&rpush);
    for id in &ids {
        setup.cmd(&["MSET", &format!("w_{id}"), id, &format!("v_{id}"), id]);
    }
    let started = Instant::now();
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        for writer in 0..2u64 {
            let (server, done) = (&server, &done);
            s.spawn(move || {
                let mut c = server.client();
                let mut n = writer;
                while !done.load(Relaxed) {
                    n = n
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    let id = (n >> 33) % (ELEMENTS as u64 + 1);
                    let value = ((n >> 40) % 1000).to_string();
                    c.cmd(&[
                        "MSET",
                        &format!("v_{id}"),
                        &value,
                        &format!("w_{id}"),
                        &value,
                    ]);
                    // A writer that itself sorts with patterns, into a key of its own.
                    if n % 7 == 0 {
                        let dst = format!("out{writer}");
                        c.cmd(&["SORT", "ids", "BY", "w_*", "GET", "v_*", "STORE", &dst]);
                    }
                }
            });
        }
        s.spawn(|| {
            let mut c = server.client();
            let extra = ELEMENTS.to_string();
            while !done.load(Relaxed) {
                c.cmd(&["RPUSH", "ids", &extra]);
                c.cmd(&["RPOP", "ids"]);
            }
        });
        let mut c = server.client();
        for _ in 0..SORTS {
            assert!(started.elapsed() < Duration::from_secs(60), "took too long");
            let reply = c.cmd(&["SORT", "ids", "BY", "w_*", "GET", "w_*", "GET", "v_*"]);
            let items = reply.items();
            assert!(
                [2 * ELEMENTS, 2 * (ELEMENTS + 1)].contains(&items.len()),
                "{reply:?}"
            );
            let mut previous = i64::MIN;
            for pair in items.chunks(2) {
                assert_eq!(pair[0], pair[1], "w_ and v_ read at different times");
                let w = pair[0].text().parse::<i64>().expect("a number");
                assert!(w >= previous, "BY order and GET values disagree");
                previous = w;
            }
        }
        done.store(true, Relaxed);
    });
}
