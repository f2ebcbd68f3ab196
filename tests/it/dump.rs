//! DUMP / RESTORE between Tessera and redis-server 7.0.15, both ways, for every type in
//! its small and its large encoding: the restored key must read back the same (contents,
//! type, OBJECT ENCODING) as the original on the same server. Redis checks our payloads
//! deeply (`sanitize-dump-payload yes`). Also RESTORE's IDLETIME and a stream payload,
//! which Tessera refuses rather than drops.

use crate::common::{RawClient, Resp, TestServer, parse_resp, skip_without_redis};

/// The commands that build the test keys, identical on both servers.
pub(crate) fn build_commands() -> Vec<Vec<String>> {
    let strs = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let mut cmds = vec![
        strs(&["SET", "str:int", "-123456"]),
        strs(&["SET", "str:text", "hello"]),
        vec!["SET".into(), "str:long".into(), "abc".repeat(3000)],
        strs(&["SET", "str:empty", ""]),
        strs(&["RPUSH", "list:small", "a", "1", "-300", "hello world"]),
        vec![
            "RPUSH".into(),
            "list:huge-item".into(),
            "x".repeat(20_000),
            "tail".into(),
        ],
        strs(&["SADD", "set:ints", "5", "-70000", "9223372036854775807"]),
        strs(&["SADD", "set:strs", "alpha", "beta"]),
        strs(&["HSET", "hash:small", "f", "v", "n", "42"]),
        vec![
            "HSET".into(),
            "hash:long-value".into(),
            "f".into(),
            "v".repeat(100),
        ],
        strs(&["ZADD", "zset:small", "1", "a", "-2.5", "b", "inf", "c"]),
        vec![
            "ZADD".into(),
            "zset:long-member".into(),
            "1".into(),
            "m".repeat(100),
        ],
    ];
    let mut list = strs(&["RPUSH", "list:big"]);
    let mut ints = strs(&["SADD", "set:many-ints"]);
    let mut members = strs(&["SADD", "set:big"]);
    let mut hash = strs(&["HSET", "hash:big"]);
    let mut zset = strs(&["ZADD", "zset:big"]);
    for i in 0..3000 {
        list.push(format!("element-{i}-{}", "p".repeat(i % 40)));
        ints.push((i as i64 * 7919 - 5000).to_string());
        members.push(format!("member-{i}"));
        hash.extend([format!("field-{i}"), format!("value-{}", i * 3)]);
        zset.extend([format!("{}", i as f64 / 7.0 - 100.0), format!("z-{i}")]);
    }
    cmds.extend([list, ints, members, hash, zset]);
    cmds
}

/// Runs every command of [`build_commands`] on `c`.
pub(crate) fn populate(c: &mut RawClient) {
    for cmd in build_commands() {
        let args: Vec<&[u8]> = cmd.iter().map(|a| a.as_bytes()).collect();
        assert!(!run(c, &args).is_error(), "{}", cmd[0]);
    }
}

pub(crate) const KEYS: &[&str] = &[
    "str:int",
    "str:text",
    "str:long",
    "str:empty",
    "list:small",
    "list:huge-item",
    "list:big",
    "set:ints",
    "set:strs",
    "set:many-ints",
    "set:big",
    "hash:small",
    "hash:long-value",
    "hash:big",
    "zset:small",
    "zset:long-member",
    "zset:big",
];

pub(crate) fn run(c: &mut RawClient, args: &[&[u8]]) -> Resp {
    let raw = c.cmd_raw(args);
    parse_resp(&raw).expect("a whole reply").0
}

fn text<'a>(args: &[&'a str]) -> Vec<&'a [u8]> {
    args.iter().map(|a| a.as_bytes()).collect()
}

/// Type, encoding and every element (sorted where the type has no order).
pub(crate) fn snapshot(c: &mut RawClient, key: &str) -> (String, String, Vec<String>) {
    let kind = c.cmd(&["TYPE", key]).text();
    let encoding = c.cmd(&["OBJECT", "ENCODING", key]).text();
    let items = |r: Resp| -> Vec<String> { r.items().iter().map(Resp::text).collect() };
    let contents = match kind.as_str() {
        "string" => vec![c.cmd(&["GET", key]).text()],
        "list" => items(c.cmd(&["LRANGE", key, "0", "-1"])),
        "set" => {
            let mut v = items(c.cmd(&["SMEMBERS", key]));
            v.sort();
            v
        }
        "hash" => {
            let flat = items(c.cmd(&["HGETALL", key]));
            let mut pairs: Vec<String> = flat.chunks(2).map(|p| p.join("=")).collect();
            pairs.sort();
            pairs
        }
        "zset" => items(c.cmd(&["ZRANGE", key, "0", "-1", "WITHSCORES"])),
        other => panic!("{key}: unexpected type {other}"),
    };
    (kind, encoding, contents)
}

/// Moves every key from `from` to `to` under `<key>:moved` through DUMP / RESTORE.
fn move_all(from: &mut RawClient, to: &mut RawClient) {
    for key in KEYS {
        let Resp::Bulk(payload) = run(from, &text(&["DUMP", key])) else {
            panic!("{key}: DUMP gave no payload");
        };
        let target = format!("{key}:moved");
        let reply = run(to, &[b"RESTORE", target.as_bytes(), b"0", &payload]);
        assert_eq!(reply, Resp::Simple("OK".into()), "RESTORE {key}");
    }
}

#[test]
fn payloads_restore_across_tessera_and_redis_both_ways() {
    if skip_without_redis() {
        return;
    }
    let tessera = TestServer::tessera(&[]);
    let redis = TestServer::redis(&["--sanitize-dump-payload", "yes"]);
    let mut ours = tessera.client();
    let mut theirs = redis.client();
    for cmd in build_commands() {
        let args: Vec<&[u8]> = cmd.iter().map(|a| a.as_bytes()).collect();
        assert_eq!(run(&mut ours, &args), run(&mut theirs, &args), "{}", cmd[0]);
    }
    move_all(&mut ours, &mut theirs);
    move_all(&mut theirs, &mut ours);
    let mut encodings = Vec::new();
    for key in KEYS {
        let moved = format!("{key}:moved");
        for (name, c) in [("redis", &mut theirs), ("tessera", &mut ours)] {
            let original = snapshot(c, key);
            assert_eq!(snapshot(c, &moved), original, "{key} restored into {name}");
            encodings.push(original.1);
        }
        assert_eq!(
            snapshot(&mut ours, key),
            snapshot(&mut theirs, key),
            "{key}"
        );
    }
    for e in [
        "int",
        "embstr",
        "raw",
        "quicklist",
        "intset",
        "hashtable",
        "listpack",
        "skiplist",
    ] {
        assert!(encodings.iter().any(|x| x == e), "no {e} value covered");
    }
}

#[test]
fn idletime_is_restored_and_streams_are_refused() {
    if skip_without_redis() {
        return;
    }
    let tessera = TestServer::tessera(&[]);
    let redis = TestServer::redis(&[]);
    let mut ours = tessera.client();
    let mut theirs = redis.client();
    ours.cmd(&["SET", "k", "v"]);
    let Resp::Bulk(payload) = run(&mut ours, &text(&["DUMP", "k"])) else {
        panic!("no payload");
    };
    let reply = run(
        &mut ours,
        &[b"RESTORE", b"idle", b"0", &payload, b"IDLETIME", b"1000"],
    );
    assert_eq!(reply, Resp::Simple("OK".into()));
    let idle = ours.cmd(&["OBJECT", "IDLETIME", "idle"]).int();
    assert!((1000..1003).contains(&idle), "idle {idle}");
    theirs.cmd(&["XADD", "stream", "1-1", "f", "v"]);
    let Resp::Bulk(stream) = run(&mut theirs, &text(&["DUMP", "stream"])) else {
        panic!("no stream payload");
    };
    let reply = run(&mut ours, &[b"RESTORE", b"stream", b"0", &stream]);
    assert_eq!(reply, Resp::Error("ERR Bad data format".into()));
    assert_eq!(ours.cmd(&["EXISTS", "stream"]), Resp::Int(0));
}

/// RESTORE ... FREQ sets the LFU counter under an LFU policy, as on redis-server.
#[test]
fn restore_freq_sets_the_lfu_counter() {
    if skip_without_redis() {
        return;
    }
    let mut seen = Vec::new();
    for server in [TestServer::tessera(&[]), TestServer::redis(&[])] {
        let mut c = server.client();
        c.cmd(&["CONFIG", "SET", "maxmemory-policy", "allkeys-lfu"]);
        c.cmd(&["SET", "k", "v"]);
        let payload = match c.cmd(&["DUMP", "k"]) {
            Resp::Bulk(b) => b,
            other => panic!("DUMP: {other:?}"),
        };
        let mut restore: Vec<&[u8]> = vec![b"RESTORE", b"k2", b"0", &payload, b"FREQ", b"100"];
        assert_eq!(
            parse_resp(&c.cmd_raw(&restore)).map(|r| r.0),
            Some(Resp::Simple("OK".into()))
        );
        restore[1] = b"k3";
        restore[5] = b"255";
        c.cmd_raw(&restore);
        seen.push((
            c.cmd(&["OBJECT", "FREQ", "k2"]),
            c.cmd(&["OBJECT", "FREQ", "k3"]),
            c.cmd(&["OBJECT", "FREQ", "k"]),
        ));
    }
    assert_eq!(seen[0], seen[1], "Tessera, then redis-server");
    assert_eq!(seen[0].0, Resp::Int(100));
    assert_eq!(seen[0].1, Resp::Int(255));
}
