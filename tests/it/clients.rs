//! Client management and security: CLIENT LIST/KILL/PAUSE/REPLY/SETNAME, MONITOR,
//! requirepass with AUTH and HELLO AUTH, RESET, maxclients, protected mode.

use std::time::{Duration, Instant};

use crate::common::{RawClient, Resp, TestServer};

fn bulk(s: &str) -> Resp {
    Resp::Bulk(s.as_bytes().to_vec())
}

#[test]
fn client_list_setname_and_kill() {
    let s = TestServer::tessera(&[]);
    let mut a = s.client();
    let mut b = s.client();
    assert_eq!(
        a.cmd(&["CLIENT", "SETNAME", "alpha"]),
        Resp::Simple("OK".into())
    );
    assert_eq!(a.cmd(&["CLIENT", "GETNAME"]), bulk("alpha"));
    let b_id = b.cmd(&["CLIENT", "ID"]).int();
    let list = a.cmd(&["CLIENT", "LIST"]).text();
    let mine = list
        .lines()
        .find(|l| l.contains("name=alpha"))
        .expect("own line");
    for field in [
        "id=",
        "addr=127.0.0.1:",
        "laddr=",
        "fd=",
        "age=",
        "idle=",
        "flags=N",
        "db=0",
        "cmd=client|list",
        "resp=2",
    ] {
        assert!(mine.contains(field), "{field} missing in {mine}");
    }
    assert_eq!(list.lines().count(), 2);
    assert_eq!(
        a.cmd(&["CLIENT", "KILL", "ID", &b_id.to_string()]),
        Resp::Int(1)
    );
    assert!(
        b.is_closed(Duration::from_secs(5)),
        "killed client is disconnected"
    );
    assert_eq!(
        a.cmd(&["CLIENT", "KILL", "ID", &b_id.to_string()]),
        Resp::Int(0)
    );
    let info = a.cmd(&["CLIENT", "INFO"]).text();
    assert!(
        info.contains("name=alpha") && info.ends_with('\n'),
        "{info}"
    );
}

#[test]
fn client_reply_off_and_skip() {
    let s = TestServer::tessera(&[]);
    let mut c = s.client();
    c.send(&["CLIENT", "REPLY", "OFF"]);
    c.send(&["SET", "quiet", "1"]);
    c.send(&["CLIENT", "REPLY", "ON"]);
    assert_eq!(c.read_reply(), Resp::Simple("OK".into()), "only ON replies");
    c.send(&["CLIENT", "REPLY", "SKIP"]);
    c.send(&["INCR", "quiet"]);
    c.send(&["GET", "quiet"]);
    assert_eq!(c.read_reply(), bulk("2"));
}

#[test]
fn client_pause_write_holds_writes_only() {
    let s = TestServer::tessera(&[]);
    let mut admin = s.client();
    let mut writer = s.client();
    let mut reader = s.client();
    writer.cmd(&["SET", "k", "before"]);
    assert_eq!(
        admin.cmd(&["CLIENT", "PAUSE", "500", "WRITE"]),
        Resp::Simple("OK".into())
    );
    let started = Instant::now();
    assert_eq!(reader.cmd(&["GET", "k"]), bulk("before"));
    assert!(
        started.elapsed() < Duration::from_millis(400),
        "reads are not paused"
    );
    assert_eq!(
        writer.cmd(&["SET", "k", "after"]),
        Resp::Simple("OK".into())
    );
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "the write waited for the pause"
    );
    assert_eq!(reader.cmd(&["GET", "k"]), bulk("after"));
    // UNPAUSE releases at once.
    admin.cmd(&["CLIENT", "PAUSE", "100000", "WRITE"]);
    writer.send(&["SET", "k", "third"]);
    std::thread::sleep(Duration::from_millis(100));
    admin.cmd(&["CLIENT", "UNPAUSE"]);
    assert_eq!(writer.read_reply(), Resp::Simple("OK".into()));
}

#[test]
fn monitor_streams_commands() {
    let s = TestServer::tessera(&[]);
    let mut mon = s.client();
    assert_eq!(mon.cmd(&["MONITOR"]), Resp::Simple("OK".into()));
    let mut c = s.client();
    c.cmd(&["SET", "watched", "a b\n"]);
    c.cmd(&["AUTH", "default", "secret"]);
    let first = mon.read_reply();
    let line = first.text();
    assert!(line.contains("[0 127.0.0.1:"), "{line}");
    assert!(line.ends_with("\"SET\" \"watched\" \"a b\\n\""), "{line}");
    let second = mon.read_reply().text();
    assert!(
        second.ends_with("\"AUTH\" \"(redacted)\" \"(redacted)\""),
        "{second}"
    );
}

#[test]
fn requirepass_auth_and_hello() {
    let s = TestServer::tessera(&["--requirepass", "s3cret"]);
    let mut c = s.client();
    assert_eq!(
        c.cmd(&["GET", "k"]),
        Resp::Error("NOAUTH Authentication required.".into())
    );
    assert_eq!(
        c.cmd(&["PING"]),
        Resp::Error("NOAUTH Authentication required.".into())
    );
    assert_eq!(
        c.cmd(&["AUTH", "wrong"]),
        Resp::Error("WRONGPASS invalid username-password pair or user is disabled.".into())
    );
    assert_eq!(
        c.cmd(&["HELLO", "3"]),
        Resp::Error("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time".into())
    );
    assert_eq!(c.cmd(&["AUTH", "s3cret"]), Resp::Simple("OK".into()));
    assert_eq!(c.cmd(&["SET", "k", "v"]), Resp::Simple("OK".into()));
    // RESET drops the authentication.
    assert_eq!(c.cmd(&["RESET"]), Resp::Simple("RESET".into()));
    assert_eq!(
        c.cmd(&["GET", "k"]),
        Resp::Error("NOAUTH Authentication required.".into())
    );
    let mut h = s.client();
    let hello = h.cmd(&["HELLO", "3", "AUTH", "default", "s3cret", "SETNAME", "app"]);
    assert!(matches!(hello, Resp::Map(_)), "{hello:?}");
    assert_eq!(h.cmd(&["GET", "k"]), bulk("v"));
    assert_eq!(h.cmd(&["CLIENT", "GETNAME"]), bulk("app"));
    // Unauthenticated clients may not declare big requests.
    let mut u = s.client();
    u.send_raw(b"*20\r\n");
    assert_eq!(
        u.read_reply(),
        Resp::Error("ERR Protocol error: unauthenticated multibulk length".into())
    );
}

#[test]
fn maxclients_rejects_extra_connections() {
    let s = TestServer::tessera(&["--maxclients", "3"]);
    let mut held: Vec<RawClient> = (0..3).map(|_| s.client()).collect();
    for c in held.iter_mut() {
        assert_eq!(c.cmd(&["PING"]), Resp::Simple("PONG".into()));
    }
    let mut extra = s.client();
    assert_eq!(
        extra.read_reply(),
        Resp::Error("ERR max number of clients reached".into())
    );
    drop(held);
}

/// A local address that is not loopback, if the machine has one.
fn non_loopback_ipv4() -> Option<std::net::Ipv4Addr> {
    let out = std::process::Command::new("hostname")
        .arg("-I")
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|a| a.parse::<std::net::Ipv4Addr>().ok())
        .find(|a| !a.is_loopback())
}

#[test]
fn protected_mode_refuses_remote_clients_without_password() {
    let Some(ip) = non_loopback_ipv4() else {
        eprintln!("no non-loopback address: skipping");
        return;
    };
    let s = TestServer::tessera(&["--bind", "0.0.0.0"]);
    let stream = std::net::TcpStream::connect((ip, s.port)).expect("connect");
    let mut c = RawClient::from_stream(stream);
    let reply = c.read_reply();
    assert!(
        matches!(&reply, Resp::Error(t) if t.starts_with("DENIED Redis is running in protected mode")),
        "{reply:?}"
    );
    // Loopback clients are served.
    let mut local = s.client();
    assert_eq!(local.cmd(&["PING"]), Resp::Simple("PONG".into()));
}

#[test]
fn monitors_are_normal_clients_and_monitor_twice_is_silent() {
    let s = TestServer::tessera(&[]);
    let mut mon = s.client();
    assert_eq!(mon.cmd(&["MONITOR"]), Resp::Simple("OK".into()));
    mon.send(&["MONITOR"]);
    let mut c = s.client();
    assert_eq!(c.cmd(&["CLIENT", "KILL", "TYPE", "replica"]), Resp::Int(0));
    let normal = c.cmd(&["CLIENT", "LIST", "TYPE", "normal"]).text();
    assert_eq!(normal.lines().count(), 2, "{normal}");
    let line = normal
        .lines()
        .find(|l| l.contains("flags=O"))
        .expect("the monitor");
    assert!(
        line.ends_with(" resp=2"),
        "CLIENT LIST lines end as in 7.0.15: {line}"
    );
    // The second MONITOR got no reply: the next thing the monitor reads is a fed command.
    c.cmd(&["SET", "x", "1"]);
    assert!(mon.read_reply().text().contains("\"SET\" \"x\" \"1\""));
}

#[test]
fn new_connections_are_served_while_a_worker_is_busy() {
    let s = TestServer::tessera(&["--server-threads", "2", "--enable-debug-command", "yes"]);
    let mut busy = s.client();
    busy.send(&["DEBUG", "SLEEP", "2"]);
    std::thread::sleep(Duration::from_millis(100));
    // Connections go to the workers in turn: of two new ones, one lands on the idle worker.
    let started = Instant::now();
    let mut answered = false;
    let mut waiting = Vec::new();
    for _ in 0..2 {
        let mut c = s.client();
        c.send(&["PING"]);
        waiting.push(c);
    }
    for c in waiting.iter_mut() {
        let _ = c.stream.set_read_timeout(Some(Duration::from_millis(900)));
        if matches!(c.read_reply_raw(), Ok((Resp::Simple(ref p), _)) if p == "PONG") {
            answered = true;
        }
    }
    assert!(
        answered,
        "no new connection was served within {:?}",
        started.elapsed()
    );
    assert_eq!(busy.read_reply(), Resp::Simple("OK".into()));
}
