//! Server-side bookkeeping: INFO sections and fields, SLOWLOG, the latency monitor, idle
//! client timeouts.

use std::time::{Duration, Instant};

use crate::common::{RawClient, Resp, TestServer};

fn info(c: &mut RawClient, section: &str) -> String {
    c.cmd(&["INFO", section]).text()
}

fn field(text: &str, name: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .map(|v| v.trim().to_string())
}

#[test]
fn info_sections_and_fields() {
    let s = TestServer::tessera(&[]);
    let mut c = s.client();
    c.cmd(&["SET", "a", "1"]);
    c.cmd(&["SET", "b", "2", "EX", "100"]);
    c.cmd(&["SELECT", "2"]);
    c.cmd(&["SET", "c", "3"]);
    c.cmd(&["INCR", "nosuchcommandhere", "x"]);
    c.cmd(&["HGET", "c", "f"]);
    c.cmd(&["GET", "missing"]);
    let all = info(&mut c, "everything");
    for section in [
        "# Server",
        "# Clients",
        "# Memory",
        "# Persistence",
        "# Stats",
        "# Replication",
        "# CPU",
        "# Modules",
        "# Commandstats",
        "# Errorstats",
        "# Cluster",
        "# Keyspace",
    ] {
        assert!(all.contains(section), "{section} missing");
    }
    for name in [
        "redis_version",
        "redis_mode",
        "process_id",
        "run_id",
        "tcp_port",
        "uptime_in_seconds",
        "hz",
        "connected_clients",
        "maxclients",
        "used_memory",
        "used_memory_human",
        "used_memory_rss",
        "used_memory_peak",
        "mem_allocator",
        "rdb_changes_since_last_save",
        "rdb_last_save_time",
        "aof_enabled",
        "total_connections_received",
        "total_commands_processed",
        "instantaneous_ops_per_sec",
        "expired_keys",
        "keyspace_hits",
        "keyspace_misses",
        "total_error_replies",
        "role",
        "master_replid",
        "master_repl_offset",
        "used_cpu_sys",
        "cluster_enabled",
    ] {
        assert!(field(&all, name).is_some(), "INFO field {name} missing");
    }
    assert_eq!(field(&all, "redis_version").as_deref(), Some("7.0.15"));
    assert_eq!(field(&all, "role").as_deref(), Some("master"));
    assert!(
        field(&all, "db0")
            .expect("db0")
            .starts_with("keys=2,expires=1,")
    );
    assert!(
        field(&all, "db2")
            .expect("db2")
            .starts_with("keys=1,expires=0,")
    );
    let set = field(&all, "cmdstat_set").expect("cmdstat_set");
    assert!(set.starts_with("calls=3,usec="), "{set}");
    assert!(set.ends_with(",rejected_calls=0,failed_calls=0"), "{set}");
    let incr = field(&all, "cmdstat_incr").expect("cmdstat_incr");
    assert!(incr.ends_with("rejected_calls=1,failed_calls=0"), "{incr}");
    let hget = field(&all, "cmdstat_hget").expect("cmdstat_hget");
    assert!(hget.ends_with("rejected_calls=0,failed_calls=1"), "{hget}");
    assert_eq!(field(&all, "errorstat_ERR").as_deref(), Some("count=1"));
    assert_eq!(
        field(&all, "errorstat_WRONGTYPE").as_deref(),
        Some("count=1")
    );
    assert_eq!(field(&all, "total_error_replies").as_deref(), Some("2"));
    assert_eq!(field(&all, "keyspace_misses").as_deref(), Some("1"));
    // Default sections leave commandstats out; unknown sections give an empty reply.
    assert!(!info(&mut c, "default").contains("# Commandstats"));
    assert_eq!(info(&mut c, "nosuchsection"), "");
    assert_eq!(c.cmd(&["CONFIG", "RESETSTAT"]), Resp::Simple("OK".into()));
    let after = info(&mut c, "all");
    assert!(field(&after, "cmdstat_set").is_none());
    assert_eq!(field(&after, "total_error_replies").as_deref(), Some("0"));
}

#[test]
fn slowlog_records_slow_commands() {
    let s = TestServer::tessera(&["--slowlog-log-slower-than", "0", "--slowlog-max-len", "3"]);
    let mut c = s.client();
    c.cmd(&["SLOWLOG", "RESET"]);
    c.cmd(&["CLIENT", "SETNAME", "slowpoke"]);
    c.cmd(&["SET", "k", &"x".repeat(200)]);
    c.cmd(&["GET", "k"]);
    // Newest first: GET, SET, CLIENT SETNAME (SLOWLOG commands are logged too, as in Redis).
    let entries = c.cmd(&["SLOWLOG", "GET", "3"]);
    let get = entries.items()[0].items();
    assert_eq!(get.len(), 6);
    assert_eq!(
        get[3],
        Resp::Array(vec![Resp::Bulk(b"GET".to_vec()), Resp::Bulk(b"k".to_vec())])
    );
    assert!(get[4].text().starts_with("127.0.0.1:"));
    assert_eq!(get[5].text(), "slowpoke");
    let set = &entries.items()[1].items()[3];
    assert!(
        set.items()[2].text().ends_with("... (72 more bytes)"),
        "{set:?}"
    );
    assert_eq!(c.cmd(&["SLOWLOG", "LEN"]), Resp::Int(3));
    // Trimmed to slowlog-max-len.
    for _ in 0..5 {
        c.cmd(&["PING"]);
    }
    assert_eq!(c.cmd(&["SLOWLOG", "LEN"]), Resp::Int(3));
}

#[test]
fn latency_monitor_records_slow_commands() {
    let s = TestServer::tessera(&[
        "--enable-debug-command",
        "yes",
        "--latency-monitor-threshold",
        "50",
    ]);
    let mut c = s.client();
    assert_eq!(c.cmd(&["LATENCY", "LATEST"]), Resp::Array(vec![]));
    let started = Instant::now();
    assert_eq!(c.cmd(&["DEBUG", "SLEEP", "0.1"]), Resp::Simple("OK".into()));
    assert!(started.elapsed() >= Duration::from_millis(100));
    let latest = c.cmd(&["LATENCY", "LATEST"]);
    let event = &latest.items()[0].items();
    assert_eq!(event[0].text(), "command");
    assert!(event[2].int() >= 100 && event[3].int() >= 100, "{latest:?}");
    let history = c.cmd(&["LATENCY", "HISTORY", "command"]);
    assert_eq!(history.items().len(), 1);
    assert_eq!(c.cmd(&["LATENCY", "RESET"]), Resp::Int(1));
    assert_eq!(c.cmd(&["LATENCY", "LATEST"]), Resp::Array(vec![]));
}

#[test]
fn idle_clients_time_out_but_subscribers_do_not() {
    let s = TestServer::tessera(&["--timeout", "1", "--hz", "50"]);
    let mut idle = s.client();
    let mut sub = s.client();
    assert_eq!(idle.cmd(&["PING"]), Resp::Simple("PONG".into()));
    sub.cmd(&["SUBSCRIBE", "ch"]);
    assert!(
        idle.is_closed(Duration::from_secs(5)),
        "idle client must be closed"
    );
    let mut c = s.client();
    assert_eq!(c.cmd(&["PUBLISH", "ch", "still there"]), Resp::Int(1));
    let msg = sub.read_reply();
    assert_eq!(msg.items()[2], Resp::Bulk(b"still there".to_vec()));
}
