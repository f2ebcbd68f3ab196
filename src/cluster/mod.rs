//! Redis Cluster mode, wire-compatible with Redis 7.0 so that `redis-server` nodes and
//! Tessera nodes can share one cluster.
//!
//! - [`state`]: the nodes, epochs, slot owners and links one node knows, with the primitive
//!   changes on them; [`gossip`] handles bus messages, [`cron`] the periodic work.
//! - [`view`]: the immutable routing snapshot commands read without a lock (MOVED, ASK,
//!   CROSSSLOT, CLUSTERDOWN).
//! - [`nodes_conf`]: nodes.conf and CLUSTER NODES lines.
//! - [`bus`]: the binary messages and the links that carry them.
//!
//! [`Cluster`] ties them together: the state lives behind one mutex, taken by the bus
//! thread (packets, the cron) and by CLUSTER commands, never across an `.await`. After each
//! use it does what Redis's `clusterBeforeSleep()` does (update the state, save
//! nodes.conf), publishes a new view if anything changed, and then, with the lock
//! released, carries out the state's [`state::Effect`]s. Lock order: the cluster state
//! before any slot shard.

pub mod bus;
pub mod cron;
pub mod failover;
pub mod gossip;
pub mod node;
pub mod nodes_conf;
pub mod state;
#[cfg(test)]
mod testing;
pub mod view;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use arc_swap::ArcSwap;
use parking_lot::Mutex;

use crate::config::Config;
use crate::keyspace::slot::Slot;
use crate::server::{PausePurpose, Server};
use crate::util::clock::now_ms;
use state::{ClusterSettings, ClusterState, Effect, Host, todo};
use view::{ClusterView, EndpointType, ViewKnobs};

/// Cluster mode's shared handle (`Server::cluster`).
pub struct Cluster {
    state: Mutex<ClusterState>,
    view: ArcSwap<ClusterView>,
    config_path: PathBuf,
    /// Held for the process's life: the lock on nodes.conf.
    _lock: std::fs::File,
    /// The bus thread's runtime, where link tasks run.
    runtime: OnceLock<tokio::runtime::Handle>,
}

/// The settings the cluster reads from the config.
pub fn settings_from(config: &Config) -> ClusterSettings {
    let num = |name: &str| config.get(name).parse::<i64>().unwrap_or(0);
    let yes = |name: &str| config.get(name) == "yes";
    let port = num("port") as u16;
    let announce_port = num("cluster-announce-port") as u16;
    let announce_bus_port = num("cluster-announce-bus-port") as u16;
    let cluster_port = num("cluster-port") as u16;
    let announce_ip = config.get("cluster-announce-ip");
    ClusterSettings {
        node_timeout_ms: num("cluster-node-timeout").max(1),
        announce_ip: (!announce_ip.is_empty()).then_some(announce_ip),
        announce_hostname: config.get("cluster-announce-hostname"),
        port: if announce_port != 0 {
            announce_port
        } else {
            port
        },
        pport: 0,
        cport: if announce_bus_port != 0 {
            announce_bus_port
        } else {
            bus_port(port, cluster_port)
        },
        require_full_coverage: yes("cluster-require-full-coverage"),
        allow_replica_migration: yes("cluster-allow-replica-migration"),
        replica_no_failover: yes("cluster-replica-no-failover"),
        sendbuf_limit: num("cluster-link-sendbuf-limit").max(0) as usize,
        validity_factor: num("cluster-replica-validity-factor"),
        repl_ping_period_ms: num("repl-ping-replica-period") * 1000,
        migration_barrier: num("cluster-migration-barrier"),
    }
}

/// The port the bus listens on: `cluster-port`, or the client port + 10000.
pub fn bus_port(port: u16, cluster_port: u16) -> u16 {
    if cluster_port != 0 {
        cluster_port
    } else {
        port.wrapping_add(10000)
    }
}

fn view_knobs(config: &Config) -> ViewKnobs {
    ViewKnobs {
        endpoint_type: EndpointType::parse(&config.get("cluster-preferred-endpoint-type")),
        allow_reads_when_down: config.get("cluster-allow-reads-when-down") == "yes",
        allow_pubsubshard_when_down: config.get("cluster-allow-pubsubshard-when-down") == "yes",
    }
}

/// The server as the cluster state sees it.
struct ServerHost<'a>(&'a Server);

impl Host for ServerHost<'_> {
    fn keys_in_slot(&self, slot: u16) -> usize {
        self.0.keyspace.keys_in_slot(Slot(slot), 0)
    }

    fn db_size(&self) -> usize {
        self.0.keyspace.db_size(0).0
    }

    fn repl_offset(&self) -> u64 {
        if self.0.replica.is_replica() {
            self.0
                .replica
                .offset
                .load(std::sync::atomic::Ordering::Relaxed)
        } else {
            self.0.primary.offset()
        }
    }

    fn replicating(&self) -> bool {
        self.0.replica.is_replica()
    }

    fn repl_data_age_ms(&self, now_ms: i64) -> i64 {
        use std::sync::atomic::Ordering::Relaxed;
        let replica = &self.0.replica;
        let since = if replica.link_up.load(Relaxed) {
            replica.last_io_ms.load(Relaxed)
        } else {
            replica.down_since_ms.load(Relaxed)
        };
        now_ms - since
    }
}

impl Cluster {
    /// Start-up (behaves like `clusterInit()`): locks nodes.conf, loads it or starts as a
    /// new node, and writes it. Errors are fatal, worded as Redis logs them.
    pub fn init(config: &Config) -> Result<Cluster, String> {
        let settings = settings_from(config);
        let dir = PathBuf::from(config.get("dir"));
        let file = PathBuf::from(config.get("cluster-config-file"));
        let config_path = if file.is_absolute() {
            file
        } else {
            dir.join(file)
        };
        let lock = nodes_conf::lock(&config_path)?;
        let now = now_ms();
        let state = match nodes_conf::load(&config_path, settings.clone(), now) {
            Ok(mut st) => {
                st.refresh_myself();
                st
            }
            Err(nodes_conf::NodesConfError::Missing) => {
                let st = ClusterState::new(settings, now);
                tracing::info!("No cluster configuration found, I'm {}", st.myself);
                st
            }
            Err(e) => return Err(e.to_string()),
        };
        nodes_conf::save(&config_path, &nodes_conf::render(&state), true)
            .map_err(|e| format!("Fatal: can't update cluster config file: {e}"))?;
        let view = ClusterView::build(&state, view_knobs(config));
        Ok(Cluster {
            state: Mutex::new(state),
            view: ArcSwap::from_pointee(view),
            config_path,
            _lock: lock,
            runtime: OnceLock::new(),
        })
    }

    /// The routing view.
    #[inline]
    pub fn view(&self) -> arc_swap::Guard<Arc<ClusterView>> {
        self.view.load()
    }

    /// Our node id.
    pub fn myself(&self) -> bus::wire::NodeId {
        self.state.lock().myself
    }

    /// Runs `f` on the state, then finishes as `clusterBeforeSleep()` does and carries out
    /// the effects once the lock is released.
    pub fn with<R>(&self, server: &Server, f: impl FnOnce(&mut ClusterState, &dyn Host) -> R) -> R {
        let host = ServerHost(server);
        let (result, effects) = {
            let mut st = self.state.lock();
            let was_ok = st.ok;
            let result = f(&mut st, &host);
            let changed = st.todo != 0;
            if st.todo & todo::UPDATE_STATE != 0 {
                st.update_state(now_ms());
            }
            if st.todo & todo::SAVE_CONFIG != 0 {
                self.save(&mut st);
            }
            if changed || st.ok != was_ok {
                self.publish_view(&st, server);
            }
            (result, st.take_effects())
        };
        self.apply(server, effects);
        result
    }

    /// Writes nodes.conf now; a failure is fatal, as in Redis (a node that cannot record
    /// its vote or epoch must not go on).
    fn save(&self, st: &mut ClusterState) {
        let durable = st.todo & todo::FSYNC_CONFIG != 0;
        st.todo &= !(todo::SAVE_CONFIG | todo::FSYNC_CONFIG);
        if let Err(e) = nodes_conf::save(&self.config_path, &nodes_conf::render(st), durable) {
            tracing::warn!("Fatal: can't update cluster config file: {e}");
            std::process::exit(1);
        }
    }

    /// Checks the data loaded at start-up against the slot table
    /// (`verifyClusterConfigWithData()`): a primary holding keys of a slot nobody serves
    /// takes the slot; of a slot another node serves, marks it importing from that node,
    /// for `redis-cli --cluster fix` to settle. Keys outside db 0 are an error.
    pub fn verify_with_data(&self, server: &Server) -> Result<(), String> {
        if self.state.lock().me().is_replica() {
            return Ok(());
        }
        let keyspace = &server.keyspace;
        if (1..keyspace.databases()).any(|db| keyspace.db_size(db).0 > 0) {
            return Err(
                "You can't have keys in a DB different than DB 0 when in Cluster mode. Exiting."
                    .into(),
            );
        }
        self.with(server, |st, host| {
            let myself = st.myself;
            for slot in 0..crate::keyspace::slot::SLOTS as u16 {
                if host.keys_in_slot(slot) == 0 {
                    continue;
                }
                let owner = st.slots()[usize::from(slot)];
                if owner == Some(myself) || st.importing.contains_key(&slot) {
                    continue;
                }
                match owner {
                    None => {
                        tracing::warn!(
                            "I have keys for unassigned slot {slot}. Taking responsibility for it."
                        );
                        st.add_slot(myself, slot);
                    }
                    Some(other) => {
                        tracing::warn!(
                            "I have keys for slot {slot}, but the slot is assigned to another node. Setting it to importing state."
                        );
                        st.importing.insert(slot, other);
                    }
                }
                st.todo |= todo::SAVE_CONFIG | todo::FSYNC_CONFIG | todo::UPDATE_STATE;
            }
        });
        Ok(())
    }

    /// CLUSTER SAVECONFIG: saves now and reports an error instead of exiting.
    pub fn save_now(&self) -> std::io::Result<()> {
        let st = self.state.lock();
        nodes_conf::save(&self.config_path, &nodes_conf::render(&st), true)
    }

    fn publish_view(&self, st: &ClusterState, server: &Server) {
        let knobs = view_knobs(&server.config);
        self.view.store(Arc::new(ClusterView::build(st, knobs)));
    }

    /// The cron's tick: settings refreshed, then `clusterCron()`.
    pub fn tick(&self, server: &Server) {
        let settings = settings_from(&server.config);
        let knobs = view_knobs(&server.config);
        let view = self.view.load();
        let knobs_changed = view.knobs != knobs;
        drop(view);
        self.with(server, |st, host| {
            st.set_settings(settings);
            st.cron(host, now_ms());
        });
        if knobs_changed {
            self.publish_view(&self.state.lock(), server);
        }
        // Clients blocked on keys whose slot moved away (or with the cluster down) get
        // the redirection instead of waiting for a write that cannot come here.
        let view = self.view();
        server.blocking.redirect(|key| {
            let slot = crate::keyspace::slot::key_slot(key).0;
            view.blocked_client_redirect(slot)
                .map(|r| view.error_text(&r))
        });
    }

    /// Carries out what the state asked for.
    fn apply(&self, server: &Server, effects: Vec<Effect>) {
        for effect in effects {
            match effect {
                Effect::Replicate(target) => {
                    let Some(server) = server.handle() else {
                        continue;
                    };
                    if *server.replica.primary.lock() != target {
                        crate::replication::replica::set_primary(&server, target);
                    }
                }
                Effect::DeleteKeysInSlot(slot) => delete_keys_in_slot(server, slot),
                Effect::FlushAll => {
                    let shards = server.keyspace.lock_all();
                    for mut shard in shards {
                        let _ = shard.take_contents();
                    }
                }
                Effect::Publish {
                    shard,
                    channel,
                    message,
                } => {
                    if shard {
                        server.pubsub.spublish(&channel, &message);
                    } else {
                        server.pubsub.publish(&channel, &message);
                    }
                }
                Effect::PauseWrites { until_ms } => {
                    server.pause.pause(PausePurpose::Failover, until_ms, false);
                }
                Effect::Unpause => server.pause.unpause(PausePurpose::Failover),
                Effect::Connect { io, ip, cport } => {
                    let (Some(rt), Some(server)) = (self.runtime.get(), server.handle()) else {
                        continue;
                    };
                    rt.spawn(bus::link::connect(server, io, ip, cport));
                }
            }
        }
    }

    /// Records the bus runtime (once, when the bus thread starts).
    pub fn set_runtime(&self, handle: tokio::runtime::Handle) {
        let _ = self.runtime.set(handle);
    }
}

/// Drops the keys of a slot this node no longer serves (`delKeysInSlot()`). Each goes to
/// the AOF and the replicas as a DEL and touches its watchers, as Redis does from 7.2 on:
/// 7.0 deleted them here only, so its replicas kept keys of a slot their primary had lost.
/// No keyspace event is published (none is in 7.0 or 7.2).
fn delete_keys_in_slot(server: &Server, slot: u16) {
    use crate::keyspace::{Effects, EventClass, PropOp, Touch};
    let mut fx = Effects::new(now_ms(), 0, EventClass::empty());
    fx.propagation = Some(server.propagation.clone());
    let mut shard = server.keyspace.lock(Slot(slot));
    if shard.db_ref(0).is_none_or(|d| d.is_empty()) {
        return;
    }
    let Some(db) = shard.take_db(0) else {
        return;
    };
    fx.stamp();
    for e in db.entries() {
        server.signals.touch(0, &e.key, Touch::Deleted);
        fx.propagate(PropOp::new(0, &[b"DEL", &e.key]));
    }
    drop(shard);
    // Separate DELs, not a transaction (Redis propagates each deletion alone).
    fx.batch.no_multi = true;
    fx.submit_batch();
    tracing::info!(
        "Deleted {} keys of hash slot {slot} no longer served",
        db.len()
    );
}
