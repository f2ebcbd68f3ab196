//! A true network partition (issue 7): every node is reached through fault-injecting
//! proxies, one in front of its client port and one in front of its bus port, which the
//! node announces (cluster-announce-port, cluster-announce-bus-port). A bus connection
//! opens with a message header naming its sender, so a bus proxy knows who calls and can
//! refuse or cut the connections that cross the partition; the client proxy of the isolated
//! node cuts the replication links of its replicas. The test's own clients talk to the
//! nodes' real ports, on either side.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::cluster::{c_cmd, check, cluster_args, cluster_info, wait_agree, wait_ok};
use super::common::{RawClient, Resp, TestServer, free_port, skip_without_redis};
use super::failover::{role, wait_role};
use tessera::cluster::bus::wire::NAME_LEN;
use tessera::keyspace::slot::key_slot;

/// Where a bus message header holds the sender's name (see cluster/bus/wire.rs).
const SENDER_AT: usize = 40;
/// Enough of a header to hold the sender's name.
const NAMED_PREFIX: usize = SENDER_AT + NAME_LEN;

/// An open proxied connection.
struct Piped {
    /// The calling node's name, when known (bus connections).
    caller: Option<String>,
    callee: usize,
    sockets: [TcpStream; 2],
}

impl Piped {
    fn cut(&self) {
        for s in &self.sockets {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

/// The nodes' names, and which node is cut off from all the others, if any.
#[derive(Default)]
struct Partition {
    names: Mutex<Vec<String>>,
    isolated: Mutex<Option<usize>>,
    open: Mutex<Vec<Piped>>,
    stopping: AtomicBool,
}

impl Partition {
    /// Whether traffic from `caller` (unknown: another node, the client proxies' callers)
    /// to node `callee` crosses the partition.
    fn cuts(&self, caller: Option<&str>, callee: usize) -> bool {
        let Some(alone) = *self.isolated.lock() else {
            return false;
        };
        match caller {
            Some(caller) => {
                let caller_alone = self.names.lock().get(alone).is_some_and(|n| n == caller);
                caller_alone != (callee == alone)
            }
            // A client port's callers are other nodes (replicas): cut when the callee is
            // the isolated node. (The isolated node is a primary: it calls no client port.)
            None => callee == alone,
        }
    }

    /// Cuts node `alone` off from every other node, closing the connections that cross.
    fn isolate(&self, alone: usize) {
        *self.isolated.lock() = Some(alone);
        let mut open = self.open.lock();
        open.retain(|p| {
            let crosses = self.cuts(p.caller.as_deref(), p.callee);
            if crosses {
                p.cut();
            }
            !crosses
        });
    }

    fn heal(&self) {
        *self.isolated.lock() = None;
    }

    fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        for p in self.open.lock().drain(..) {
            p.cut();
        }
    }
}

/// A proxy listening on a free port, forwarding to `target` on 127.0.0.1.
struct Proxy {
    port: u16,
}

impl Proxy {
    /// `bus`: connections open with a bus header naming the caller.
    fn start(partition: Arc<Partition>, callee: usize, target: u16, bus: bool) -> Proxy {
        let (listener, port) = loop {
            let port = free_port();
            if let Ok(l) = TcpListener::bind(("127.0.0.1", port)) {
                break (l, port);
            }
        };
        let _ = std::thread::Builder::new()
            .name(format!("proxy-{port}"))
            .spawn(move || {
                for conn in listener.incoming() {
                    if partition.stopping.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(conn) = conn else { continue };
                    let partition = partition.clone();
                    let _ = std::thread::Builder::new()
                        .name(format!("proxy-{port}-conn"))
                        .spawn(move || forward(&partition, conn, callee, target, bus));
                }
            });
        Proxy { port }
    }

    /// Wakes the accept loop so it sees `stopping`.
    fn wake(&self) {
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// One proxied connection: refused if it crosses the partition, else piped both ways
/// until either side closes (or the partition cuts it).
fn forward(partition: &Partition, mut conn: TcpStream, callee: usize, target: u16, bus: bool) {
    let mut head = Vec::new();
    let mut caller = None;
    if bus {
        head = vec![0u8; NAMED_PREFIX];
        let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
        if conn.read_exact(&mut head).is_err() {
            return;
        }
        let _ = conn.set_read_timeout(None);
        caller = Some(String::from_utf8_lossy(&head[SENDER_AT..]).into_owned());
    }
    if partition.cuts(caller.as_deref(), callee) {
        return;
    }
    let Ok(mut upstream) = TcpStream::connect(("127.0.0.1", target)) else {
        return;
    };
    if upstream.write_all(&head).is_err() {
        return;
    }
    let (Ok(conn2), Ok(up2)) = (conn.try_clone(), upstream.try_clone()) else {
        return;
    };
    {
        // Registered under the lock that `isolate` cuts under, after checking again: a
        // partition that began meanwhile cannot miss this connection.
        let mut open = partition.open.lock();
        if partition.cuts(caller.as_deref(), callee) {
            return;
        }
        let (Ok(a), Ok(b)) = (conn.try_clone(), upstream.try_clone()) else {
            return;
        };
        open.push(Piped {
            caller,
            callee,
            sockets: [a, b],
        });
    }
    let pump = |mut from: TcpStream, mut to: TcpStream| {
        move || {
            let _ = std::io::copy(&mut from, &mut to);
            let _ = to.shutdown(Shutdown::Both);
            let _ = from.shutdown(Shutdown::Both);
        }
    };
    let back = std::thread::spawn(pump(up2, conn2));
    pump(conn, upstream)();
    let _ = back.join();
}

/// A Tessera node behind its two proxies.
struct ProxiedNode {
    server: TestServer,
    name: String,
    client_proxy: Proxy,
    bus_proxy: Proxy,
}

/// Six nodes (three primaries, one replica each) that reach each other only through the
/// proxies.
struct ProxiedCluster {
    partition: Arc<Partition>,
    nodes: Vec<ProxiedNode>,
}

impl ProxiedCluster {
    fn start() -> ProxiedCluster {
        let partition = Arc::new(Partition::default());
        let mut nodes = Vec::new();
        for i in 0..6 {
            let port = free_port();
            let client_proxy = Proxy::start(partition.clone(), i, port, false);
            let bus_proxy = Proxy::start(partition.clone(), i, port + 10000, true);
            let mut args = cluster_args();
            let announce = [client_proxy.port.to_string(), bus_proxy.port.to_string()];
            args.extend(["--cluster-announce-port", &announce[0]]);
            args.extend(["--cluster-announce-bus-port", &announce[1]]);
            let dir = tempfile::tempdir().expect("tempdir");
            let server = TestServer::tessera_at(port, dir, &args)
                .unwrap_or_else(|log| panic!("node did not start:\n{log}"));
            let name = RawClient::connect(port).cmd(&["CLUSTER", "MYID"]).text();
            partition.names.lock().push(name.clone());
            nodes.push(ProxiedNode {
                server,
                name,
                client_proxy,
                bus_proxy,
            });
        }
        let cluster = ProxiedCluster { partition, nodes };
        cluster.form();
        cluster
    }

    fn ports(&self) -> Vec<u16> {
        self.nodes.iter().map(|n| n.server.port).collect()
    }

    /// MEET through the proxies, three primaries with a third of the slots each, a replica
    /// for each; until every node reports ok and every replica is in sync.
    fn form(&self) {
        let first = &self.nodes[0];
        let (cport, bport) = (
            first.client_proxy.port.to_string(),
            first.bus_proxy.port.to_string(),
        );
        for n in &self.nodes[1..] {
            let meet = c_cmd(
                n.server.port,
                &["CLUSTER", "MEET", "127.0.0.1", &cport, &bport],
            );
            assert_eq!(meet, Resp::Simple("OK".into()));
        }
        let ports = self.ports();
        let deadline = Instant::now() + Duration::from_secs(30);
        while ports
            .iter()
            .any(|p| cluster_info(*p, "cluster_known_nodes") != "6")
        {
            assert!(Instant::now() < deadline, "the nodes never all met");
            std::thread::sleep(Duration::from_millis(100));
        }
        for (i, range) in [("0", "5460"), ("5461", "10922"), ("10923", "16383")]
            .iter()
            .enumerate()
        {
            let reply = c_cmd(ports[i], &["CLUSTER", "ADDSLOTSRANGE", range.0, range.1]);
            assert_eq!(reply, Resp::Simple("OK".into()));
        }
        for i in 0..3 {
            let primary = &self.nodes[i].name;
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                let reply = c_cmd(ports[i + 3], &["CLUSTER", "REPLICATE", primary]);
                if reply == Resp::Simple("OK".into()) {
                    break;
                }
                // The replica may not yet know the primary as one (its slots spread by gossip).
                assert!(Instant::now() < deadline, "CLUSTER REPLICATE: {reply:?}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        wait_ok(&ports, 6, Duration::from_secs(30)).expect("the proxied cluster is ok");
        for p in &ports[3..] {
            wait_link_up(*p);
        }
        wait_agree(&ports);
    }
}

impl Drop for ProxiedCluster {
    fn drop(&mut self) {
        self.partition.stop();
        for n in &self.nodes {
            n.client_proxy.wake();
            n.bus_proxy.wake();
        }
    }
}

fn wait_link_up(port: u16) {
    super::failover::wait_link_up(port, Duration::from_secs(30)).expect("replica in sync");
}

fn key_in(slot_range: (u16, u16), prefix: &str) -> impl Iterator<Item = String> {
    (0..)
        .map(move |i| format!("{prefix}{i}"))
        .filter(move |k| (slot_range.0..=slot_range.1).contains(&key_slot(k.as_bytes()).0))
}

#[test]
fn partitioned_primary_stops_writes_and_majority_fails_over() {
    if skip_without_redis() {
        return;
    }
    let cluster = ProxiedCluster::start();
    let ports = cluster.ports();
    let (primary, replica) = (ports[0], ports[3]);
    let ours = (0, 5460);
    // Acknowledged by the replica before the partition.
    let before: Vec<String> = key_in(ours, "before-").take(50).collect();
    let mut c = RawClient::connect(primary);
    for k in &before {
        assert_eq!(c.cmd(&["SET", k, "1"]), Resp::Simple("OK".into()));
    }
    assert_eq!(c.cmd(&["WAIT", "1", "2000"]), Resp::Int(1));

    cluster.partition.isolate(0);
    let cut_at = Instant::now();
    // The minority side: the primary sees no majority after the node timeout and refuses
    // writes; it stays a primary (nobody can tell it otherwise).
    let probe: Vec<String> = key_in(ours, "probe-").take(200).collect();
    let mut refused_after = None;
    for k in &probe {
        let reply = c_cmd(primary, &["SET", k, "x"]);
        if let Resp::Error(e) = &reply {
            assert!(e.starts_with("CLUSTERDOWN"), "{e}");
            refused_after = Some(cut_at.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let refused_after = refused_after.expect("the isolated primary kept taking writes for 20 s");
    assert!(
        refused_after >= Duration::from_millis(1500),
        "refused after {refused_after:?}: before the node timeout, the partition was not what stopped it"
    );
    eprintln!("isolated primary refused writes after {refused_after:?}");
    assert_eq!(cluster_info(primary, "cluster_state"), "fail");
    assert_eq!(role(primary), "master");
    // The majority side: the replica takes over and the five see the cluster ok.
    let majority: Vec<u16> = ports[1..].to_vec();
    wait_role(replica, "master", Duration::from_secs(30)).expect("the replica promoted");
    wait_ok(&majority, 6, Duration::from_secs(30)).expect("the majority side is ok");
    let during: Vec<String> = key_in(ours, "during-").take(50).collect();
    for k in &during {
        assert_eq!(c_cmd(replica, &["SET", k, "2"]), Resp::Simple("OK".into()));
    }
    // Still cut off, the old primary keeps refusing.
    assert!(c_cmd(primary, &["SET", &probe[0], "x"]).is_error());

    cluster.partition.heal();
    // One primary per slot range: the old one rejoins as a replica of the new.
    wait_role(primary, "slave", Duration::from_secs(30)).expect("the old primary demoted");
    wait_link_up(primary);
    wait_ok(&ports, 6, Duration::from_secs(30)).expect("ok after healing");
    let topology = wait_agree(&ports);
    let primaries = topology.values().filter(|v| v.contains("master")).count();
    assert_eq!(primaries, 3, "{topology:#?}");
    check(ports[1]).expect("redis-cli --cluster check passes after healing");
    for k in before.iter().chain(&during) {
        let want = if k.starts_with("before-") { "1" } else { "2" };
        assert_eq!(c_cmd(replica, &["GET", k]), Resp::Bulk(want.into()), "{k}");
        assert_eq!(
            c_cmd(primary, &["GET", k]),
            Resp::Error(format!(
                "MOVED {} 127.0.0.1:{}",
                key_slot(k.as_bytes()).0,
                cluster.nodes[3].client_proxy.port
            )),
            "the old primary redirects to the new one"
        );
    }
}
