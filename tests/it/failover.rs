//! Failover (issue 7): a killed or frozen primary is replaced by its replica and rejoins as
//! a replica; CLUSTER FAILOVER (default, FORCE, TAKEOVER) swaps roles, the default one
//! without losing a write. The same scenarios run on a shard of one redis-server 7.0.15 and
//! one Tessera node, so each kind takes over from the other. The network partition is in
//! partition.rs.

use std::time::{Duration, Instant};

use super::cluster::{
    NODE_TIMEOUT, c_cmd, check, create, slot_ranges, start_tessera, wait_agree, wait_ok,
};
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

/// `n` keys named `<prefix><i>` that hash to `slot`.
fn keys_in_slot(slot: u16, n: usize, prefix: &str) -> Vec<String> {
    (0..)
        .map(|i| format!("{prefix}{i}"))
        .filter(|k| key_slot(k.as_bytes()).0 == slot)
        .take(n)
        .collect()
}

pub(super) fn role(port: u16) -> String {
    match RawClient::try_connect(port).map(|mut c| c.try_cmd(&["ROLE"])) {
        Ok(Ok(Resp::Array(items))) => items.first().map(Resp::text).unwrap_or_default(),
        _ => String::new(),
    }
}

/// Waits (bounded) until `port` reports `want` as its role.
pub(super) fn wait_role(port: u16, want: &str, timeout: Duration) -> Result<(), String> {
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
    let keys = keys_in_slot(slot, 50, "k");
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
    wait_link_up(primary, Duration::from_secs(30)).expect("old primary synced");
    wait_ok(&ports, 6, Duration::from_secs(30)).expect("cluster ok with all six");

    // SIGSTOP past the node timeout, then SIGCONT: demoted, rejoins as a replica.
    let (primary, replica, _) = a_shard(ports[0]);
    // A replica that never synced is too stale to be elected (its data age is unbounded).
    wait_link_up(replica, Duration::from_secs(30)).expect("replica synced");
    let i = by_port(&mut servers, primary);
    send_signal(&servers[i], libc::SIGSTOP);
    let promoted = wait_role(replica, "master", Duration::from_secs(30));
    // Resumed whatever happened.
    send_signal(&servers[i], libc::SIGCONT);
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
    let (servers, ports) = six_nodes();
    let mut replaced = Replacements::default();
    for mode in [None, Some("FORCE"), Some("TAKEOVER")] {
        let (primary, replica, slot) = a_shard(ports[0]);
        replaced.wait_until_votable(primary);
        // Writes without WAIT right before the switch: the default mode waits for the
        // replica to reach the paused primary's offset, so none is lost.
        let keys = keys_in_slot(slot, 100, "k");
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
        replaced.record(primary);
        wait_role(primary, "slave", Duration::from_secs(20)).expect("primary demoted");
        wait_ok(&ports, 6, Duration::from_secs(30)).expect("cluster ok after failover");
        // The next round's primary must know its replica (see MixedCluster::settle).
        wait_agree(&ports);
        assert_all_present(replica, &keys);
        if mode.is_none() {
            // The old primary continues from its own id and offset, which the new one
            // kept as replid2: a partial resync, no snapshot.
            let old = servers.iter().find(|s| s.port == primary).expect("server");
            wait_link_up(primary, Duration::from_secs(20)).expect("old primary synced");
            assert!(
                old.log()
                    .contains("Successful partial resynchronization with master."),
                "{}",
                old.log()
            );
        }
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

/// When each primary was last replaced. Primaries vote for replicas of the same primary at
/// most once per 2 × node timeout (both kinds, as Redis 7.0 does), so a primary replaced
/// a moment ago cannot be replaced again at once.
#[derive(Default)]
struct Replacements(Vec<(u16, Instant)>);

impl Replacements {
    fn wait_until_votable(&self, primary: u16) {
        let node_timeout: u64 = NODE_TIMEOUT.parse().unwrap_or(2000);
        let gap = Duration::from_millis(2 * node_timeout + 500);
        if let Some((_, at)) = self.0.iter().find(|(p, _)| *p == primary) {
            std::thread::sleep(gap.saturating_sub(at.elapsed()));
        }
    }

    fn record(&mut self, primary: u16) {
        self.0.retain(|(p, _)| *p != primary);
        self.0.push((primary, Instant::now()));
    }
}

/// Waits (bounded) until the replica on `port` has a live link to its primary.
pub(super) fn wait_link_up(port: u16, timeout: Duration) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    let up = || {
        RawClient::try_connect(port).is_ok_and(|mut c| {
            c.try_cmd(&["INFO", "replication"])
                .is_ok_and(|r| r.text().contains("master_link_status:up"))
        })
    };
    while Instant::now() < deadline {
        if up() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!("{port}: replication link not up"))
}

fn send_signal(server: &TestServer, signal: i32) {
    // SAFETY: signals a child process this test started and still owns.
    unsafe { libc::kill(server.pid() as i32, signal) };
}

/// Three primaries (redis-server, Tessera, redis-server) and a Tessera replica of the
/// second redis-server: the one shard with a replica is mixed, so every failover in it
/// hands the slots from one kind of server to the other.
struct MixedCluster {
    servers: Vec<TestServer>,
    ports: Vec<u16>,
    redis_in_shard: u16,
}

impl MixedCluster {
    fn start() -> MixedCluster {
        let primaries = [
            super::cluster::start_redis(),
            start_tessera(),
            super::cluster::start_redis(),
        ];
        create(&primaries.iter().collect::<Vec<_>>(), 0);
        let replica = start_tessera();
        let redis_in_shard = primaries[2].port;
        let primary_id = c_cmd(redis_in_shard, &["CLUSTER", "MYID"]).text();
        let meet = c_cmd(
            replica.port,
            &[
                "CLUSTER",
                "MEET",
                "127.0.0.1",
                &primaries[0].port.to_string(),
            ],
        );
        assert_eq!(meet, Resp::Simple("OK".into()));
        // REPLICATE needs the primary known: gossip brings it within a few pings.
        let deadline = Instant::now() + Duration::from_secs(20);
        while !nodes(replica.port).iter().any(|n| n.id == primary_id) {
            assert!(
                Instant::now() < deadline,
                "the replica never learned the primary"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(
            c_cmd(replica.port, &["CLUSTER", "REPLICATE", &primary_id]),
            Resp::Simple("OK".into())
        );
        let mut servers: Vec<TestServer> = primaries.into_iter().collect();
        servers.push(replica);
        let ports: Vec<u16> = servers.iter().map(|s| s.port).collect();
        wait_role(ports[3], "slave", Duration::from_secs(20)).expect("replica attached");
        wait_link_up(ports[3], Duration::from_secs(30)).expect("replica synced");
        wait_ok(&ports, 4, Duration::from_secs(30)).expect("mixed cluster ok");
        wait_agree(&ports);
        MixedCluster {
            servers,
            ports,
            redis_in_shard,
        }
    }

    fn server(&self, port: u16) -> &TestServer {
        self.servers
            .iter()
            .find(|s| s.port == port)
            .expect("a server on that port")
    }

    fn kind(&self, port: u16) -> &'static str {
        if port == self.redis_in_shard {
            "redis-server"
        } else {
            "tessera"
        }
    }

    /// The last lines of every node's log, for a failure message.
    fn logs(&self) -> String {
        self.servers
            .iter()
            .map(|s| {
                let log = s.log();
                let lines: Vec<&str> = log.lines().collect();
                let tail = lines[lines.len().saturating_sub(30)..].join("\n");
                format!("--- {} ({}):\n{tail}\n", s.port, self.kind(s.port))
            })
            .collect()
    }

    /// SIGKILLs the node on `port`, keeping its directory (nodes.conf) for a restart.
    fn kill(&mut self, port: u16) -> tempfile::TempDir {
        let i = self
            .servers
            .iter()
            .position(|s| s.port == port)
            .expect("a server on that port");
        self.servers.remove(i).stop_keeping_dir()
    }

    /// Starts the killed node again on its port, from its directory.
    fn restart(&mut self, port: u16, dir: tempfile::TempDir) {
        let server = if port == self.redis_in_shard {
            TestServer::redis_at(port, dir, &super::cluster::cluster_args())
        } else {
            TestServer::tessera_at(port, dir, &super::cluster::cluster_args())
        };
        self.servers
            .push(server.unwrap_or_else(|log| panic!("restart of {port} failed:\n{log}")));
    }

    /// After a failover: `old` rejoined as a replica, synced, and the cluster is ok.
    fn settle(&self, old: u16) {
        let settled = wait_role(old, "slave", Duration::from_secs(30))
            .and_then(|_| wait_link_up(old, Duration::from_secs(30)))
            .and_then(|_| wait_ok(&self.ports, 4, Duration::from_secs(30)));
        if let Err(e) = settled {
            panic!(
                "{} did not rejoin as a replica: {e}\n{}",
                self.kind(old),
                self.logs()
            );
        }
        // Every node, the new primary included, knows the old one as its replica: a
        // primary ignores a manual failover request from a node it does not yet know as
        // one of its replicas (Redis 7.0's MFSTART handling, both kinds).
        wait_agree(&self.ports);
    }
}

#[test]
fn mixed_shard_fails_over_after_kill_and_freeze() {
    if skip_without_redis() {
        return;
    }
    let mut cluster = MixedCluster::start();
    // kill -9, once with each kind as the primary: the other kind takes over with every
    // acknowledged write, and the dead node rejoins as its replica.
    for round in 0..2 {
        let (primary, replica, slot) = a_shard(cluster.ports[0]);
        let kinds = ["redis-server", "tessera"];
        assert_eq!(cluster.kind(primary), kinds[round % 2], "round {round}");
        let keys = keys_in_slot(slot, 50, &format!("kill{round}-"));
        write_acked(primary, &keys);
        let dir = cluster.kill(primary);
        let what = format!(
            "{} replica replaces the killed {}",
            cluster.kind(replica),
            cluster.kind(primary)
        );
        wait_role(replica, "master", Duration::from_secs(30)).expect(&what);
        let alive: Vec<u16> = cluster
            .ports
            .iter()
            .copied()
            .filter(|p| *p != primary)
            .collect();
        wait_ok(&alive, 4, Duration::from_secs(30)).expect(&what);
        assert_all_present(replica, &keys);
        // A cluster client follows MOVED to the new primary, entering at either kind.
        super::cluster::redis_cli_roundtrip(alive[0], alive[1], 20);
        cluster.restart(primary, dir);
        cluster.settle(primary);
        assert_all_present(replica, &keys);
    }
    // SIGSTOP past the node timeout, then SIGCONT, once with each kind as the primary.
    for round in 0..2 {
        let (primary, replica, slot) = a_shard(cluster.ports[0]);
        let keys = keys_in_slot(slot, 20, &format!("stop{round}-"));
        write_acked(primary, &keys);
        send_signal(cluster.server(primary), libc::SIGSTOP);
        let promoted = wait_role(replica, "master", Duration::from_secs(30));
        send_signal(cluster.server(primary), libc::SIGCONT);
        promoted.unwrap_or_else(|e| {
            panic!(
                "{} replica of a frozen {}: {e}",
                cluster.kind(replica),
                cluster.kind(primary)
            )
        });
        cluster.settle(primary);
        assert_all_present(replica, &keys);
    }
    check(cluster.ports[0]).expect("check from redis-server");
    check(cluster.ports[1]).expect("check from Tessera");
}

#[test]
fn mixed_shard_manual_failover_both_ways() {
    if skip_without_redis() {
        return;
    }
    let cluster = MixedCluster::start();
    let mut replaced = Replacements::default();
    // Each mode twice, so that each kind of replica takes over from the other kind.
    for (round, mode) in [
        None,
        None,
        Some("FORCE"),
        Some("FORCE"),
        Some("TAKEOVER"),
        Some("TAKEOVER"),
    ]
    .into_iter()
    .enumerate()
    {
        let (primary, replica, slot) = a_shard(cluster.ports[0]);
        let what = format!(
            "{mode:?}: {} replica of a {} primary",
            cluster.kind(replica),
            cluster.kind(primary)
        );
        let keys = keys_in_slot(slot, 100, &format!("manual{round}-"));
        let mut c = RawClient::connect(primary);
        for k in &keys {
            assert_eq!(c.cmd(&["SET", k, k]), Resp::Simple("OK".into()));
        }
        if mode.is_some() {
            // FORCE and TAKEOVER do not wait for the offset: let the stream arrive first.
            assert_eq!(c.cmd(&["WAIT", "1", "2000"]), Resp::Int(1), "{what}");
        }
        replaced.wait_until_votable(primary);
        let mut args = vec!["CLUSTER", "FAILOVER"];
        args.extend(mode);
        assert_eq!(c_cmd(replica, &args), Resp::Simple("OK".into()), "{what}");
        if let Err(e) = wait_role(replica, "master", Duration::from_secs(20)) {
            panic!("{what}: {e}\n{}", cluster.logs());
        }
        replaced.record(primary);
        cluster.settle(primary);
        assert_all_present(replica, &keys);
    }
    check(cluster.ports[1]).expect("check from Tessera");
}
