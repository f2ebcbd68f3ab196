//! Failover (issue 7, in progress): a killed or frozen primary is replaced by its replica
//! and rejoins as a replica; CLUSTER FAILOVER (default, FORCE, TAKEOVER) swaps roles, the
//! default one without losing a write.

use std::time::{Duration, Instant};

use super::cluster::{c_cmd, check, create, slot_ranges, start_tessera, wait_agree, wait_ok};
use super::common::{RawClient, Resp, TestServer, skip_without_redis};
use tessera::keyspace::slot::key_slot;

/// One line of CLUSTER NODES: (id, port, flags, primary id, slot ranges).
struct NodeLine {
    id: String,
    port: u16,
    flags: String,
    primary: String,
    slots: Vec<(u16, u16)>,
}

fn nodes(port: u16) -> Vec<NodeLine> {
    c_cmd(port, &["CLUSTER", "NODES"])
        .text()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            let port = f[1]
                .split('@')
                .next()
                .and_then(|a| a.rsplit(':').next())
                .and_then(|p| p.parse().ok())
                .unwrap_or(0);
            let slots = slot_ranges(&f[8..]);
            NodeLine {
                id: f[0].into(),
                port,
                flags: f[2].into(),
                primary: f[3].into(),
                slots,
            }
        })
        .collect()
}

/// (primary port, its replica's port, a slot the primary serves), once `port` sees a
/// primary with slots and a replica (bounded wait: roles spread by gossip).
fn a_shard(port: u16) -> (u16, u16, u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let all = nodes(port);
        let shard = all
            .iter()
            .filter(|n| n.flags.contains("master") && !n.slots.is_empty())
            .find_map(|p| {
                let r = all.iter().find(|n| n.primary == p.id)?;
                Some((p.port, r.port, p.slots[0].0))
            });
        match shard {
            Some(s) => return s,
            None if Instant::now() > deadline => panic!("no primary with a replica"),
            None => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

fn keys_in_slot(slot: u16, n: usize) -> Vec<String> {
    (0..)
        .map(|i| format!("k{i}"))
        .filter(|k| key_slot(k.as_bytes()).0 == slot)
        .take(n)
        .collect()
}

fn role(port: u16) -> String {
    match RawClient::try_connect(port).map(|mut c| c.try_cmd(&["ROLE"])) {
        Ok(Ok(Resp::Array(items))) => items.first().map(Resp::text).unwrap_or_default(),
        _ => String::new(),
    }
}

/// Waits (bounded) until `port` reports `want` as its role.
fn wait_role(port: u16, want: &str, timeout: Duration) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if role(port) == want {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!("{port} is {:?}, not {want}", role(port)))
}

/// Writes `keys` to `primary`, each acknowledged by one replica (WAIT 1).
fn write_acked(primary: u16, keys: &[String]) {
    let mut c = RawClient::connect(primary);
    for k in keys {
        assert_eq!(c.cmd(&["SET", k, k]), Resp::Simple("OK".into()));
        assert_eq!(
            c.cmd(&["WAIT", "1", "2000"]),
            Resp::Int(1),
            "WAIT 1 for {k}"
        );
    }
}

fn assert_all_present(port: u16, keys: &[String]) {
    let mut c = RawClient::connect(port);
    for k in keys {
        assert_eq!(
            c.cmd(&["GET", k]),
            Resp::Bulk(k.clone().into_bytes()),
            "{k} lost"
        );
    }
}

fn six_nodes() -> (Vec<TestServer>, Vec<u16>) {
    let nodes: Vec<TestServer> = (0..6).map(|_| start_tessera()).collect();
    create(&nodes.iter().collect::<Vec<_>>(), 1);
    let ports: Vec<u16> = nodes.iter().map(|n| n.port).collect();
    wait_ok(&ports, 6, Duration::from_secs(30)).expect("cluster ok");
    let topology = wait_agree(&ports);
    assert_eq!(
        topology.values().filter(|v| v.contains(" slave ")).count(),
        3
    );
    (nodes, ports)
}

#[test]
fn killed_or_frozen_primary_is_replaced_by_its_replica() {
    if skip_without_redis() {
        return;
    }
    let (mut servers, ports) = six_nodes();
    let by_port = |servers: &mut Vec<TestServer>, port: u16| {
        servers.iter().position(|s| s.port == port).expect("server")
    };

    // kill -9: the replica takes over with every acknowledged write.
    let (primary, replica, slot) = a_shard(ports[0]);
    let keys = keys_in_slot(slot, 50);
    write_acked(primary, &keys);
    let i = by_port(&mut servers, primary);
    let killed = servers.remove(i);
    let dir = killed.stop_keeping_dir();
    wait_role(replica, "master", Duration::from_secs(30)).expect("replica promoted");
    let alive: Vec<u16> = ports.iter().copied().filter(|p| *p != primary).collect();
    wait_ok(&alive, 6, Duration::from_secs(30)).expect("cluster ok without the dead primary");
    assert_all_present(replica, &keys);
    // A client that follows MOVED reaches the new primary through any node.
    let moved = c_cmd(alive[0], &["GET", &keys[0]]);
    if alive[0] != replica {
        assert_eq!(
            moved,
            Resp::Error(format!("MOVED {slot} 127.0.0.1:{replica}"))
        );
    }
    // The dead primary comes back as a replica of its successor.
    let back = TestServer::tessera_at(primary, dir, &super::cluster::cluster_args())
        .unwrap_or_else(|log| panic!("restart failed:\n{log}"));
    servers.push(back);
    wait_role(primary, "slave", Duration::from_secs(30)).expect("old primary demoted");
    wait_ok(&ports, 6, Duration::from_secs(30)).expect("cluster ok with all six");

    // SIGSTOP past the node timeout, then SIGCONT: demoted, rejoins as a replica.
    let (primary, replica, _) = a_shard(ports[0]);
    let i = by_port(&mut servers, primary);
    let pid = servers[i].pid() as i32;
    // SAFETY: signals a child process this test started and still owns.
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    let promoted = wait_role(replica, "master", Duration::from_secs(30));
    // SAFETY: as above; resumes it whatever happened.
    unsafe { libc::kill(pid, libc::SIGCONT) };
    promoted.expect("replica promoted while its primary was frozen");
    wait_role(primary, "slave", Duration::from_secs(30)).expect("frozen primary demoted");
    wait_ok(&ports, 6, Duration::from_secs(30)).expect("cluster ok after SIGCONT");
    check(ports[0]).expect("redis-cli --cluster check passes");
}

#[test]
fn manual_failover_swaps_roles() {
    if skip_without_redis() {
        return;
    }
    let (_servers, ports) = six_nodes();
    for mode in [None, Some("FORCE"), Some("TAKEOVER")] {
        let (primary, replica, slot) = a_shard(ports[0]);
        // Writes without WAIT right before the switch: the default mode waits for the
        // replica to reach the paused primary's offset, so none is lost.
        let keys = keys_in_slot(slot, 100);
        let mut c = RawClient::connect(primary);
        for k in &keys {
            assert_eq!(c.cmd(&["SET", k, k]), Resp::Simple("OK".into()));
        }
        let mut args = vec!["CLUSTER", "FAILOVER"];
        args.extend(mode);
        if mode.is_some() {
            // FORCE and TAKEOVER do not wait for the offset: let the stream arrive first.
            assert_eq!(c.cmd(&["WAIT", "1", "2000"]), Resp::Int(1));
        }
        assert_eq!(c_cmd(replica, &args), Resp::Simple("OK".into()), "{mode:?}");
        wait_role(replica, "master", Duration::from_secs(20)).expect("replica promoted");
        wait_role(primary, "slave", Duration::from_secs(20)).expect("primary demoted");
        wait_ok(&ports, 6, Duration::from_secs(30)).expect("cluster ok after failover");
        assert_all_present(replica, &keys);
        assert_eq!(
            c_cmd(replica, &["SET", &keys[0], "after"]),
            Resp::Simple("OK".into()),
            "the new primary takes writes ({mode:?})"
        );
    }
    // Sent to a primary, or with a bad option: Redis's errors.
    let (primary, replica, _) = a_shard(ports[0]);
    assert_eq!(
        c_cmd(primary, &["CLUSTER", "FAILOVER"]),
        Resp::Error("ERR You should send CLUSTER FAILOVER to a replica".into())
    );
    assert_eq!(
        c_cmd(replica, &["CLUSTER", "FAILOVER", "SOON"]),
        Resp::Error("ERR syntax error".into())
    );
    assert_eq!(
        c_cmd(replica, &["CLUSTER", "FAILOVER", "FORCE", "NOW"]),
        Resp::Error(
            "ERR unknown subcommand or wrong number of arguments for 'FAILOVER'. Try CLUSTER HELP."
                .into()
        )
    );
}
