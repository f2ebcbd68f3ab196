//! Bad input: malformed and oversized frames, unknown commands, wrong arity, clients that
//! vanish mid-frame, random garbage. After each, the server must still answer and no earlier
//! data may be lost; memory must stay bounded whatever lengths a client declares.

use std::time::{Duration, Instant};

use crate::common::{RawClient, Resp, TestServer};

/// A server with a known key, to check nothing is lost.
fn server_with_data() -> TestServer {
    let s = TestServer::tessera(&[]);
    let mut c = s.client();
    assert_eq!(
        c.cmd(&["SET", "precious", "data"]),
        Resp::Simple("OK".into())
    );
    s
}

fn still_healthy(s: &mut TestServer) {
    assert!(s.alive(), "server died");
    let mut c = s.client();
    assert_eq!(c.cmd(&["PING"]), Resp::Simple("PONG".into()));
    assert_eq!(c.cmd(&["GET", "precious"]), Resp::Bulk(b"data".to_vec()));
}

/// Sends `bytes`; expects exactly the `expected` error line and then a closed connection.
fn expect_protocol_error(s: &TestServer, bytes: &[u8], expected: &str) {
    let mut c = s.client();
    c.send_raw(bytes);
    let (reply, _) = c.read_reply_raw().expect("an error reply before the close");
    assert_eq!(
        reply,
        Resp::Error(expected.into()),
        "for {:?}",
        String::from_utf8_lossy(&bytes[..bytes.len().min(40)])
    );
    assert!(
        c.is_closed(Duration::from_secs(5)),
        "connection must be closed"
    );
}

#[test]
fn malformed_frames_get_redis_errors_and_close() {
    let mut s = server_with_data();
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            b"*x\r\n".to_vec(),
            "ERR Protocol error: invalid multibulk length",
        ),
        (
            b"*1048577\r\n".to_vec(),
            "ERR Protocol error: invalid multibulk length",
        ),
        (
            b"*99999999999999999999999\r\n".to_vec(),
            "ERR Protocol error: invalid multibulk length",
        ),
        (
            b"*1\r\n$x\r\n".to_vec(),
            "ERR Protocol error: invalid bulk length",
        ),
        (
            b"*1\r\n$-1\r\n".to_vec(),
            "ERR Protocol error: invalid bulk length",
        ),
        (
            b"*1\r\n$536870913\r\n".to_vec(),
            "ERR Protocol error: invalid bulk length",
        ),
        (
            b"*1\r\n$4294967296\r\n".to_vec(),
            "ERR Protocol error: invalid bulk length",
        ),
        (
            b"*2\r\n$3\r\nGET\r\n:1\r\n".to_vec(),
            "ERR Protocol error: expected '$', got ':'",
        ),
        (
            b"SET a \"unbalanced\r\n".to_vec(),
            "ERR Protocol error: unbalanced quotes in request",
        ),
        (
            b"SET a 'x'y\r\n".to_vec(),
            "ERR Protocol error: unbalanced quotes in request",
        ),
        (
            vec![b'a'; 64 * 1024 + 10],
            "ERR Protocol error: too big inline request",
        ),
        (
            [b"*1\r\n".as_slice(), &vec![b'$'; 64 * 1024 + 10]].concat(),
            "ERR Protocol error: too big bulk count string",
        ),
        (
            [b"*".as_slice(), &vec![b'1'; 64 * 1024 + 10]].concat(),
            "ERR Protocol error: too big mbulk count string",
        ),
    ];
    for (bytes, expected) in cases {
        expect_protocol_error(&s, &bytes, expected);
    }
    still_healthy(&mut s);
}

#[test]
fn commands_before_a_protocol_error_still_run() {
    let mut s = server_with_data();
    let mut c = s.client();
    c.send_raw(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n*x\r\n");
    assert_eq!(c.read_reply(), Resp::Simple("OK".into()));
    assert_eq!(
        c.read_reply(),
        Resp::Error("ERR Protocol error: invalid multibulk length".into())
    );
    assert!(c.is_closed(Duration::from_secs(5)));
    let mut c = s.client();
    assert_eq!(c.cmd(&["GET", "k"]), Resp::Bulk(b"v".to_vec()));
    still_healthy(&mut s);
}

#[test]
fn unknown_commands_and_wrong_arity() {
    let mut s = server_with_data();
    let mut c = s.client();
    assert_eq!(
        c.cmd(&["FOO", "a", "b"]),
        Resp::Error("ERR unknown command 'FOO', with args beginning with: 'a' 'b' ".into())
    );
    assert_eq!(
        c.cmd(&["GET"]),
        Resp::Error("ERR wrong number of arguments for 'get' command".into())
    );
    assert_eq!(
        c.cmd(&["GET", "a", "b"]),
        Resp::Error("ERR wrong number of arguments for 'get' command".into())
    );
    assert_eq!(
        c.cmd(&["CLIENT", "NOPE"]),
        Resp::Error("ERR unknown subcommand 'NOPE'. Try CLIENT HELP.".into())
    );
    assert_eq!(
        c.cmd(&["CONFIG", "GET"]),
        Resp::Error("ERR wrong number of arguments for 'config|get' command".into())
    );
    // A long argument list is cut at 128 bytes in the error, and newlines never leak.
    let long = "x".repeat(300);
    let e = c.cmd(&["NOPE", &long, "a\r\nb"]);
    assert!(
        matches!(&e, Resp::Error(t) if t.len() < 300 && !t.contains('\n')),
        "{e:?}"
    );
    // The connection is still usable after errors.
    assert_eq!(c.cmd(&["GET", "precious"]), Resp::Bulk(b"data".to_vec()));
    still_healthy(&mut s);
}

#[test]
fn client_disconnecting_mid_frame() {
    let mut s = server_with_data();
    for cut in [1usize, 5, 12, 20, 27] {
        let frame = b"*3\r\n$3\r\nSET\r\n$7\r\nhalfway\r\n$5\r\nvalue\r\n";
        let mut c = s.client();
        c.send_raw(&frame[..cut]);
        drop(c);
    }
    // A declared big bulk, partly sent, then gone.
    let mut c = s.client();
    c.send_raw(b"*3\r\n$3\r\nSET\r\n$7\r\nhalfway\r\n$100000\r\n");
    c.send_raw(&vec![b'x'; 50_000]);
    drop(c);
    let mut c = s.client();
    assert_eq!(c.cmd(&["EXISTS", "halfway"]), Resp::Int(0));
    still_healthy(&mut s);
}

fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[test]
fn declared_four_gigabyte_bulk_costs_nothing() {
    // Allow huge bulks so the declaration is accepted, then send nothing.
    let mut s = TestServer::tessera(&[
        "--proto-max-bulk-len",
        "8gb",
        "--client-query-buffer-limit",
        "8gb",
    ]);
    let before = rss_kb(s.pid());
    let mut idle: Vec<RawClient> = Vec::new();
    for _ in 0..20 {
        let mut c = s.client();
        c.send_raw(b"*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$4294967296\r\n");
        idle.push(c);
    }
    std::thread::sleep(Duration::from_millis(500));
    let after = rss_kb(s.pid());
    assert!(
        after < before + 32 * 1024,
        "RSS grew from {before} kB to {after} kB for 20 declared 4 GB bulks"
    );
    // The server keeps serving everyone else.
    let mut c = s.client();
    assert_eq!(
        c.cmd(&["SET", "precious", "data"]),
        Resp::Simple("OK".into())
    );
    still_healthy(&mut s);
    drop(idle);
}

#[test]
fn query_buffer_limit_closes_the_client() {
    let mut s = TestServer::tessera(&["--client-query-buffer-limit", "1mb"]);
    let mut c = s.client();
    c.send_raw(b"*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$3000000\r\n");
    let chunk = vec![b'x'; 64 * 1024];
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut sent = 0;
    while sent < 3_000_000 && Instant::now() < deadline {
        use std::io::Write;
        if c.stream.write_all(&chunk).is_err() {
            break;
        }
        sent += chunk.len();
    }
    assert!(
        c.is_closed(Duration::from_secs(5)),
        "client over the query buffer limit must be closed"
    );
    let mut c = s.client();
    assert_eq!(c.cmd(&["EXISTS", "big"]), Resp::Int(0));
    assert!(s.alive());
}

#[test]
fn random_garbage_never_kills_the_server() {
    let mut s = server_with_data();
    let mut seed: u64 = 0x9e3779b97f4a7c15;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let alphabet = b"*$:+-\r\n0123456789abc\"' \\x";
    for _ in 0..300 {
        let len = (next() % 200) as usize;
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                let r = next();
                if r % 3 == 0 {
                    (r >> 8) as u8
                } else {
                    alphabet[(r >> 8) as usize % alphabet.len()]
                }
            })
            .collect();
        let mut c = s.client();
        c.send_raw(&bytes);
        let _ = c.stream.shutdown(std::net::Shutdown::Write);
        let _ = c.is_closed(Duration::from_millis(200));
    }
    still_healthy(&mut s);
}

#[test]
fn non_ascii_unknown_commands_are_errors_not_ghosts() {
    let mut s = server_with_data();
    let mut c = s.client();
    let reply = c.cmd_raw(&["привет".as_bytes(), "a\u{e9}".as_bytes()]);
    assert_eq!(
        reply,
        "-ERR unknown command 'привет', with args beginning with: 'a\u{e9}' \r\n".as_bytes()
    );
    // Bytes are echoed as sent, up to a NUL as Redis's %s does.
    let reply = c.cmd_raw(&[b"\xff\xfe", b"x\x00y"]);
    assert_eq!(
        reply,
        b"-ERR unknown command '\xff\xfe', with args beginning with: 'x' \r\n"
    );
    assert_eq!(c.cmd(&["PING"]), Resp::Simple("PONG".into()));
    // Exactly the two live connections are listed: no leftovers from failed ones.
    let mut other = s.client();
    let list = other.cmd(&["CLIENT", "LIST"]).text();
    assert_eq!(list.lines().count(), 2, "{list}");
    still_healthy(&mut s);
}

#[test]
fn huge_glob_patterns_do_not_crash() {
    let mut s = server_with_data();
    let mut c = s.client();
    let key = "a".repeat(100_000);
    c.cmd(&["SET", &key, "v"]);
    let pattern = format!("{}b", "*?".repeat(100_000));
    assert_eq!(c.cmd(&["KEYS", &pattern]), Resp::Array(vec![]));
    c.send(&["PSUBSCRIBE", &pattern]);
    c.read_reply();
    let mut p = s.client();
    assert_eq!(p.cmd(&["PUBLISH", &key, "x"]), Resp::Int(0));
    still_healthy(&mut s);
}
