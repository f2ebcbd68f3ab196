//! Pub/sub in RESP2 and RESP3, pattern and shard channels, introspection, and keyspace
//! notifications (Spring Session listens to `__keyevent@*__:expired`).

use std::time::Duration;

use crate::common::{RawClient, Resp, TestServer};

fn bulk(s: &str) -> Resp {
    Resp::Bulk(s.as_bytes().to_vec())
}

fn next(c: &mut RawClient) -> Resp {
    c.read_reply_raw().expect("a pushed message").0
}

#[test]
fn subscribe_publish_resp2_exact_bytes() {
    let s = TestServer::tessera(&[]);
    let mut sub = s.client();
    sub.send(&["SUBSCRIBE", "news", "sports"]);
    assert_eq!(
        sub.read_reply_raw().expect("reply").1,
        b"*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n"
    );
    assert_eq!(
        sub.read_reply_raw().expect("reply").1,
        b"*3\r\n$9\r\nsubscribe\r\n$6\r\nsports\r\n:2\r\n"
    );
    let mut publisher = s.client();
    assert_eq!(publisher.cmd(&["PUBLISH", "news", "hello"]), Resp::Int(1));
    assert_eq!(publisher.cmd(&["PUBLISH", "nobody", "x"]), Resp::Int(0));
    assert_eq!(
        sub.read_reply_raw().expect("message").1,
        b"*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$5\r\nhello\r\n"
    );
    // RESP2 subscribed clients may only run pub/sub commands, PING, QUIT and RESET.
    assert_eq!(
        sub.cmd(&["GET", "x"]),
        Resp::Error("ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context".into())
    );
    assert_eq!(
        sub.cmd(&["PING"]),
        Resp::Array(vec![bulk("pong"), bulk("")])
    );
    sub.send(&["UNSUBSCRIBE", "news"]);
    assert_eq!(
        next(&mut sub),
        Resp::Array(vec![bulk("unsubscribe"), bulk("news"), Resp::Int(1)])
    );
    sub.send(&["UNSUBSCRIBE"]);
    assert_eq!(
        next(&mut sub),
        Resp::Array(vec![bulk("unsubscribe"), bulk("sports"), Resp::Int(0)])
    );
    sub.send(&["UNSUBSCRIBE"]);
    assert_eq!(
        next(&mut sub),
        Resp::Array(vec![bulk("unsubscribe"), Resp::Null, Resp::Int(0)])
    );
    // Out of subscribe mode, normal commands work again.
    assert_eq!(sub.cmd(&["GET", "x"]), Resp::Null);
}

#[test]
fn patterns_resp3_and_introspection() {
    let s = TestServer::tessera(&[]);
    let mut sub = s.client();
    sub.cmd(&["HELLO", "3"]);
    sub.send(&["PSUBSCRIBE", "user:*"]);
    assert_eq!(
        sub.read_reply_raw().expect("reply").1,
        b">3\r\n$10\r\npsubscribe\r\n$6\r\nuser:*\r\n:1\r\n"
    );
    sub.send(&["SUBSCRIBE", "user:1"]);
    next(&mut sub);
    let mut p = s.client();
    assert_eq!(p.cmd(&["PUBLISH", "user:1", "hi"]), Resp::Int(2));
    let got = [next(&mut sub), next(&mut sub)];
    assert!(got.contains(&Resp::Push(vec![
        bulk("message"),
        bulk("user:1"),
        bulk("hi")
    ])));
    assert!(got.contains(&Resp::Push(vec![
        bulk("pmessage"),
        bulk("user:*"),
        bulk("user:1"),
        bulk("hi")
    ])));
    assert_eq!(p.cmd(&["PUBSUB", "NUMPAT"]), Resp::Int(1));
    assert_eq!(
        p.cmd(&["PUBSUB", "NUMSUB", "user:1", "other"]),
        Resp::Array(vec![
            bulk("user:1"),
            Resp::Int(1),
            bulk("other"),
            Resp::Int(0)
        ])
    );
    assert_eq!(
        p.cmd(&["PUBSUB", "CHANNELS", "user:*"]),
        Resp::Array(vec![bulk("user:1")])
    );
    // RESP3 clients keep normal command access while subscribed.
    assert_eq!(sub.cmd(&["ECHO", "still here"]), bulk("still here"));
}

#[test]
fn shard_channels() {
    let s = TestServer::tessera(&[]);
    let mut sub = s.client();
    sub.send(&["SSUBSCRIBE", "orders"]);
    assert_eq!(
        next(&mut sub),
        Resp::Array(vec![bulk("ssubscribe"), bulk("orders"), Resp::Int(1)])
    );
    let mut p = s.client();
    assert_eq!(p.cmd(&["SPUBLISH", "orders", "o1"]), Resp::Int(1));
    assert_eq!(p.cmd(&["PUBLISH", "orders", "o1"]), Resp::Int(0));
    assert_eq!(
        next(&mut sub),
        Resp::Array(vec![bulk("smessage"), bulk("orders"), bulk("o1")])
    );
    assert_eq!(
        p.cmd(&["PUBSUB", "SHARDNUMSUB", "orders"]),
        Resp::Array(vec![bulk("orders"), Resp::Int(1)])
    );
}

#[test]
fn keyspace_notifications_for_commands() {
    let s = TestServer::tessera(&[]);
    let mut c = s.client();
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "notify-keyspace-events", "KEA"]),
        Resp::Simple("OK".into())
    );
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "notify-keyspace-events"]),
        Resp::Array(vec![bulk("notify-keyspace-events"), bulk("AKE")])
    );
    let mut sub = s.client();
    sub.send(&["PSUBSCRIBE", "__key*@0__:*"]);
    next(&mut sub);
    c.cmd(&["SET", "k", "v"]);
    c.cmd(&["EXPIRE", "k", "100"]);
    c.cmd(&["DEL", "k"]);
    let expected = [
        ("__keyspace@0__:k", "set"),
        ("__keyevent@0__:set", "k"),
        ("__keyspace@0__:k", "expire"),
        ("__keyevent@0__:expire", "k"),
        ("__keyspace@0__:k", "del"),
        ("__keyevent@0__:del", "k"),
    ];
    for (chan, msg) in expected {
        assert_eq!(
            next(&mut sub),
            Resp::Array(vec![
                bulk("pmessage"),
                bulk("__key*@0__:*"),
                bulk(chan),
                bulk(msg)
            ])
        );
    }
}

#[test]
fn spring_session_expired_events() {
    let s = TestServer::tessera(&["--hz", "50"]);
    let mut c = s.client();
    c.cmd(&["CONFIG", "SET", "notify-keyspace-events", "Egx"]);
    let mut sub = s.client();
    sub.send(&["PSUBSCRIBE", "__keyevent@*__:expired"]);
    next(&mut sub);
    c.cmd(&["SELECT", "3"]);
    c.cmd(&[
        "SET",
        "spring:session:sessions:expires:abc",
        "",
        "PX",
        "100",
    ]);
    // Nobody touches the key: the active cycle must expire it and notify.
    let _ = sub.stream.set_read_timeout(Some(Duration::from_secs(5)));
    assert_eq!(
        next(&mut sub),
        Resp::Array(vec![
            bulk("pmessage"),
            bulk("__keyevent@*__:expired"),
            bulk("__keyevent@3__:expired"),
            bulk("spring:session:sessions:expires:abc"),
        ])
    );
}
