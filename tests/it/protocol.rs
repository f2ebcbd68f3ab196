//! Protocol and client interop: RESP3 reply types, inline commands, deep pipelining, the
//! `redis` crate (RESP2 and RESP3), redis-cli (scripted and interactive), redis-benchmark.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::common::{Resp, TestServer, skip_without_redis};

#[test]
fn resp3_reply_types() {
    let s = TestServer::tessera(&[]);
    let mut c = s.client();
    let hello = c.cmd(&["HELLO", "3"]);
    let Resp::Map(fields) = hello else {
        panic!("HELLO 3 must reply a map, got {hello:?}");
    };
    assert!(fields.contains(&(Resp::Bulk(b"proto".to_vec()), Resp::Int(3))));
    assert_eq!(c.cmd(&["GET", "missing"]), Resp::Null);
    assert!(matches!(c.cmd(&["CONFIG", "GET", "port"]), Resp::Map(_)));
    assert!(matches!(c.cmd(&["INFO", "server"]), Resp::Verbatim(ref f, _) if f == "txt"));
    let info = c.cmd(&["COMMAND", "INFO", "get"]);
    assert!(
        matches!(&info.items()[0].items()[2], Resp::Set(_)),
        "{info:?}"
    );
    assert_eq!(c.cmd(&["SET", "k", "v"]), Resp::Simple("OK".into()));
    assert_eq!(c.cmd(&["GET", "k"]), Resp::Bulk(b"v".to_vec()));
    assert!(c.cmd(&["INCR", "k"]).is_error());
    let sub = c.cmd(&["SUBSCRIBE", "ch"]);
    assert!(matches!(sub, Resp::Push(ref v) if v.len() == 3), "{sub:?}");
    // RESP3 clients may run any command while subscribed.
    assert_eq!(c.cmd(&["GET", "k"]), Resp::Bulk(b"v".to_vec()));
}

#[test]
fn resp2_nulls_and_arrays() {
    let s = TestServer::tessera(&[]);
    let mut c = s.client();
    assert_eq!(c.cmd_raw(&[b"GET", b"missing"]), b"$-1\r\n");
    assert_eq!(
        c.cmd_raw(&[b"CONFIG", b"GET", b"hz"]),
        b"*2\r\n$2\r\nhz\r\n$2\r\n10\r\n"
    );
}

#[test]
fn inline_commands() {
    let s = TestServer::tessera(&[]);
    let mut c = s.client();
    c.send_raw(b"SET greeting \"hello world\"\r\nGET greeting\r\nPING\n\r\n");
    assert_eq!(c.read_reply(), Resp::Simple("OK".into()));
    assert_eq!(c.read_reply(), Resp::Bulk(b"hello world".to_vec()));
    assert_eq!(c.read_reply(), Resp::Simple("PONG".into()));
    // The empty line is skipped without a reply.
    assert_eq!(c.cmd(&["ECHO", "x"]), Resp::Bulk(b"x".to_vec()));
}

#[test]
fn pipeline_of_ten_thousand_commands() {
    let s = TestServer::tessera(&[]);
    let mut c = s.client();
    let mut wire = Vec::new();
    for i in 0..10_000 {
        let key = format!("key:{i}");
        let val = format!("value:{i}");
        wire.extend_from_slice(&crate::common::encode(&[
            b"SET",
            key.as_bytes(),
            val.as_bytes(),
        ]));
        wire.extend_from_slice(&crate::common::encode(&[b"GET", key.as_bytes()]));
    }
    c.send_raw(&wire);
    for i in 0..10_000 {
        assert_eq!(c.read_reply(), Resp::Simple("OK".into()), "SET #{i}");
        assert_eq!(
            c.read_reply(),
            Resp::Bulk(format!("value:{i}").into_bytes()),
            "GET #{i}"
        );
    }
    assert_eq!(c.cmd(&["DBSIZE"]), Resp::Int(10_000));
}

#[tokio::test]
async fn redis_crate_resp2_and_resp3() {
    use redis::AsyncCommands;
    let s = TestServer::tessera(&[]);
    for url in [s.url(), format!("{}?protocol=resp3", s.url())] {
        let client = redis::Client::open(url.as_str()).expect("client");
        let mut con = client
            .get_multiplexed_async_connection()
            .await
            .expect("connect");
        let _: () = con.set("crate:k", "v").await.expect("set");
        let v: String = con.get("crate:k").await.expect("get");
        assert_eq!(v, "v");
        let n: i64 = con.incr("crate:n", 5).await.expect("incr");
        assert!(n % 5 == 0);
        let _: () = con.hset("crate:h", "f", "1").await.expect("hset");
        let h: std::collections::HashMap<String, String> =
            con.hgetall("crate:h").await.expect("hgetall");
        assert_eq!(h.get("f").map(String::as_str), Some("1"));
        let _: () = con.sadd("crate:s", &["a", "b"]).await.expect("sadd");
        let mut m: Vec<String> = con.smembers("crate:s").await.expect("smembers");
        m.sort();
        assert_eq!(m, vec!["a", "b"]);
        let missing: Option<String> = con.get("crate:none").await.expect("get nil");
        assert_eq!(missing, None);
        let err: redis::RedisResult<i64> = con.incr("crate:k", 1).await;
        assert!(err.is_err());
        let _: () = redis::cmd("DEL")
            .arg(&["crate:k", "crate:n", "crate:h", "crate:s"])
            .query_async(&mut con)
            .await
            .expect("del");
    }
}

#[test]
fn redis_cli_scripted() {
    if skip_without_redis() {
        return;
    }
    let s = TestServer::tessera(&[]);
    let port = s.port.to_string();
    let run = |args: &[&str]| {
        let out = Command::new("redis-cli")
            .args(["-p", &port])
            .args(args)
            .output()
            .expect("redis-cli");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    assert_eq!(run(&["SET", "cli", "hello"]), "OK");
    assert_eq!(run(&["GET", "cli"]), "hello");
    assert_eq!(run(&["--no-raw", "GET", "cli"]), "\"hello\"");
    assert_eq!(
        run(&["INCR", "cli"]),
        "ERR value is not an integer or out of range"
    );
    // Commands from stdin, one per line.
    let mut child = Command::new("redis-cli")
        .args(["-p", &port])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("redis-cli");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"SET piped 1\nINCRBY piped 41\nGET piped\n")
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().collect::<Vec<_>>(), vec!["OK", "42", "42"]);
}

#[test]
fn redis_cli_interactive() {
    if skip_without_redis() {
        return;
    }
    // `script` gives redis-cli a pseudo-terminal, so it runs its interactive prompt; a
    // dumb terminal keeps its line editor from waiting for cursor-position answers.
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("script(1) not available: skipping");
        return;
    }
    let s = TestServer::tessera(&[]);
    let mut child = Command::new("timeout")
        .args([
            "30",
            "script",
            "-qfec",
            &format!("redis-cli -p {}", s.port),
            "/dev/null",
        ])
        .env("TERM", "dumb")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(b"SET tty value\nGET tty\nquit\n")
        .expect("write");
    drop(stdin);
    let out = child.wait_with_output().expect("wait");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("127.0.0.1:{}>", s.port)), "{text}");
    assert!(text.contains("OK"), "{text}");
    assert!(text.contains("\"value\""), "{text}");
}

#[test]
fn redis_benchmark_runs() {
    if skip_without_redis() {
        return;
    }
    let s = TestServer::tessera(&[]);
    let out = Command::new("redis-benchmark")
        .args([
            "-p",
            &s.port.to_string(),
            "-t",
            "set,get,incr,hset,sadd",
            "-n",
            "2000",
            "-q",
        ])
        .output()
        .expect("redis-benchmark");
    let text = String::from_utf8_lossy(&out.stdout).replace('\r', "\n");
    for test in ["SET", "GET", "INCR", "HSET", "SADD"] {
        assert!(
            text.lines()
                .any(|l| l.starts_with(&format!("{test}: ")) && l.contains("requests per second")),
            "{test} missing in: {text}"
        );
    }
    let mut c = s.client();
    let info = c.cmd(&["INFO", "stats"]).text();
    let processed: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("total_commands_processed:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("total_commands_processed");
    assert!(processed >= 10_000, "{processed}");
}

#[test]
fn replies_survive_a_client_that_reads_late() {
    // Many small replies (each queued for the end of the event-loop turn) that overflow the
    // socket buffers while the client is not reading: the writes must be resumed later,
    // complete and in order.
    let s = TestServer::tessera(&[]);
    let mut c = s.client();
    let value = "v".repeat(1024);
    assert_eq!(c.cmd(&["SET", "big", &value]), Resp::Simple("OK".into()));
    let n = 20_000;
    let writer = {
        let mut stream = c.stream.try_clone().expect("clone");
        std::thread::spawn(move || {
            let mut wire = Vec::new();
            for i in 0..n {
                if i % 1000 == 999 {
                    wire.extend_from_slice(&crate::common::encode(&[
                        b"ECHO",
                        format!("m{i}").as_bytes(),
                    ]));
                } else {
                    wire.extend_from_slice(&crate::common::encode(&[b"GET", b"big"]));
                }
            }
            stream.write_all(&wire).expect("write");
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(300));
    for i in 0..n {
        let reply = c.read_reply();
        if i % 1000 == 999 {
            assert_eq!(
                reply,
                Resp::Bulk(format!("m{i}").into_bytes()),
                "reply #{i}"
            );
        } else {
            assert_eq!(reply, Resp::Bulk(value.clone().into_bytes()), "reply #{i}");
        }
    }
    writer.join().expect("writer");
    assert_eq!(c.cmd(&["PING"]), Resp::Simple("PONG".into()));
}

#[test]
fn a_streaming_client_does_not_starve_others() {
    // One connection pipelines SETs non-stop (reading its replies on another thread); a
    // second connection's PING must still be answered promptly, and memory must not grow
    // with unsent replies.
    let s = TestServer::tessera(&["--server-threads", "1"]);
    let streamer = s.client();
    let reader = {
        let mut stream = streamer.stream.try_clone().expect("clone");
        std::thread::spawn(move || {
            use std::io::Read;
            let mut buf = vec![0u8; 1 << 16];
            let mut total = 0usize;
            // Reads until the server has been quiet for a second (all replies delivered).
            let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(1)));
            while let Ok(n) = stream.read(&mut buf) {
                if n == 0 {
                    break;
                }
                total += n;
            }
            total
        })
    };
    let chunk = crate::common::encode(&[b"SET", b"key", b"val"]).repeat(2000);
    let writer = {
        let mut stream = streamer.stream.try_clone().expect("clone");
        std::thread::spawn(move || {
            let mut sent = 0usize;
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
            while std::time::Instant::now() < deadline {
                if stream.write_all(&chunk).is_err() {
                    break;
                }
                sent += 2000;
            }
            sent
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(500));
    let mut c = s.client();
    let mut worst = std::time::Duration::ZERO;
    for _ in 0..10 {
        let t0 = std::time::Instant::now();
        assert_eq!(c.cmd(&["PING"]), Resp::Simple("PONG".into()));
        worst = worst.max(t0.elapsed());
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let sent = writer.join().expect("writer");
    let received = reader.join().expect("reader");
    assert!(
        worst < std::time::Duration::from_secs(1),
        "PING waited {worst:?} behind the stream"
    );
    // "+OK\r\n" per SET: every SET sent was answered.
    assert_eq!(received, sent * 5, "{received} reply bytes for {sent} SETs");
    drop(streamer);
}
