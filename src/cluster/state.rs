//! The cluster state one node keeps (behaves like Redis 7.0's `clusterState`): the known
//! nodes, the slot owners, the epochs, open slots, the bus links, and the primitive changes
//! on them that Redis's cluster.c makes (`clusterAddSlot()`, `clusterDelNode()`,
//! `clusterSetMaster()`, ...).
//!
//! Invariants kept by every method here:
//! - `slots[s] == Some(n)` exactly when node `n`'s bitmap holds `s`;
//! - a replica's `primary`, a primary's `replicas`, links' nodes and nodes' links name each
//!   other both ways; removing a node or a link clears both sides.
//!
//! The state never blocks and never calls into the rest of the server: what must happen
//! outside (start replicating, drop a slot's keys, deliver a PUBLISH, open a connection)
//! is queued as an [`Effect`] for the caller to carry out after releasing the lock.
//! Packet handling lives in `gossip.rs`, the periodic work in `cron.rs`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

use super::bus::wire::{self, Message, NodeId, SlotBitmap, node_flags as nf};
use super::node::{LinkId, Node, random_name};
use crate::keyspace::slot::{SLOTS, Slot};

/// `CLUSTER_BLACKLIST_TTL`: how long a FORGET keeps a node from being re-added by gossip.
const BLACKLIST_TTL_SECS: i64 = 60;

/// What the state needs to know about the rest of the server.
pub trait Host {
    /// Keys this node holds in `slot` (db 0).
    fn keys_in_slot(&self, slot: u16) -> usize;
    /// Keys in all of db 0.
    fn db_size(&self) -> usize;
    /// `master_repl_offset` on a primary, the applied offset on a replica.
    fn repl_offset(&self) -> u64;
    /// Whether replication from a primary is configured (`server.masterhost`).
    fn replicating(&self) -> bool;
    /// How long since the primary was last heard from (the replica's data age, before the
    /// node timeout is taken off).
    fn repl_data_age_ms(&self, now_ms: i64) -> i64;
}

/// The settings the cluster reads, refreshed from the config by the cron.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterSettings {
    pub node_timeout_ms: i64,
    /// `cluster-announce-ip` (None: peers take it from the socket).
    pub announce_ip: Option<String>,
    pub announce_hostname: String,
    /// The client port announced (`cluster-announce-port` or `port`).
    pub port: u16,
    pub pport: u16,
    /// The bus port announced (`cluster-announce-bus-port`, `cluster-port` or port + 10000).
    pub cport: u16,
    pub require_full_coverage: bool,
    pub allow_replica_migration: bool,
    pub replica_no_failover: bool,
    /// `cluster-link-sendbuf-limit` in bytes (0: none).
    pub sendbuf_limit: usize,
    /// `cluster-replica-validity-factor` (0: any data age may fail over).
    pub validity_factor: i64,
    /// `repl-ping-replica-period` in ms.
    pub repl_ping_period_ms: i64,
    /// `cluster-migration-barrier`.
    pub migration_barrier: i64,
}

impl Default for ClusterSettings {
    fn default() -> Self {
        ClusterSettings {
            node_timeout_ms: 15000,
            announce_ip: None,
            announce_hostname: String::new(),
            port: 6379,
            pport: 0,
            cport: 16379,
            require_full_coverage: true,
            allow_replica_migration: true,
            replica_no_failover: false,
            sendbuf_limit: 0,
            validity_factor: 10,
            repl_ping_period_ms: 10_000,
            migration_barrier: 1,
        }
    }
}

/// Work for the caller once the state's lock is released.
#[derive(Debug)]
pub enum Effect {
    /// Replicate from this address; None: stop replicating.
    Replicate(Option<(String, u16)>),
    /// Drop the keys of a slot this node no longer serves.
    DeleteKeysInSlot(u16),
    /// Drop the whole dataset (CLUSTER RESET of a replica).
    FlushAll,
    /// Deliver a message published elsewhere in the cluster.
    Publish {
        shard: bool,
        channel: Vec<u8>,
        message: Vec<u8>,
    },
    /// Open the outbound link `io` to this bus address.
    Connect { io: LinkIo, ip: String, cport: u16 },
    /// Manual failover on the primary: hold writes until then (CLIENT PAUSE WRITE).
    PauseWrites { until_ms: i64 },
    /// The manual failover ended: let writes through again.
    Unpause,
}

/// Things to do before the lock is released (`clusterDoBeforeSleep()` flags).
pub mod todo {
    pub const SAVE_CONFIG: u8 = 1;
    pub const FSYNC_CONFIG: u8 = 2;
    pub const UPDATE_STATE: u8 = 4;
}

/// One bus connection.
#[derive(Debug)]
pub struct Link {
    /// The node it belongs to; an inbound link learns it from the first known sender.
    pub node: Option<NodeId>,
    pub inbound: bool,
    pub ctime_ms: i64,
    tx: UnboundedSender<Vec<u8>>,
    /// Bytes queued and not yet written (`cluster-link-sendbuf-limit`, CLUSTER LINKS).
    pub queued: Arc<AtomicUsize>,
    /// The peer's IP (`connPeerToString()`), known once connected.
    pub peer_ip: String,
    /// Our end's IP (`connSockName()`): how a MEET tells us our own address.
    pub local_ip: String,
}

/// What a new link's I/O task is handed.
#[derive(Debug)]
pub struct LinkIo {
    pub id: LinkId,
    pub rx: UnboundedReceiver<Vec<u8>>,
    pub queued: Arc<AtomicUsize>,
}

/// A run of consecutive slots served by one node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlotRun {
    pub start: u16,
    pub end: u16,
    pub owner: NodeId,
}

pub struct ClusterState {
    pub myself: NodeId,
    pub current_epoch: u64,
    pub last_vote_epoch: u64,
    /// `cluster_state:ok`.
    pub ok: bool,
    /// Primaries serving at least one slot.
    pub size: usize,
    pub nodes: BTreeMap<NodeId, Node>,
    /// The owner of every slot (changed only by `add_slot` and `del_slot`).
    slots: Vec<Option<NodeId>>,
    /// `slots` as runs of one owner, computed at first use after a change: CLUSTER NODES,
    /// nodes.conf, the routing view and the coverage check all read the runs, so a change
    /// walks the 16384 slots once, and a change of anything else not at all.
    runs: std::cell::OnceCell<Vec<SlotRun>>,
    pub migrating: BTreeMap<u16, NodeId>,
    pub importing: BTreeMap<u16, NodeId>,
    /// Slots whose owner stopped claiming them: kept bound, but not advertised in UPDATEs.
    pub owner_not_claiming: Box<SlotBitmap>,
    /// FORGET: node name → Unix second until which gossip cannot re-add it.
    pub blacklist: HashMap<NodeId, i64>,
    pub stats_sent: [u64; wire::msg_type::COUNT as usize],
    pub stats_received: [u64; wire::msg_type::COUNT as usize],
    pub links_buffer_limit_exceeded: u64,
    pub links: HashMap<LinkId, Link>,
    next_link: LinkId,
    pub todo: u8,
    pub effects: Vec<Effect>,
    pub settings: ClusterSettings,
    /// Nodes in PFAIL, counted by the cron (they all go in every ping's gossip).
    pub pfail_nodes: usize,
    pub(super) cron_iteration: u64,
    pub(super) first_update_ms: i64,
    pub(super) among_minority_ms: i64,
    /// Elections and manual failover.
    pub failover: super::failover::FailoverState,
}

impl ClusterState {
    /// A fresh state: only ourselves, a primary with a new random name.
    pub fn new(settings: ClusterSettings, now_ms: i64) -> ClusterState {
        let me = random_name();
        let mut state = ClusterState::empty(settings, me);
        let mut node = Node::new(me, nf::MYSELF | nf::PRIMARY, now_ms);
        state.apply_my_ports(&mut node);
        state.nodes.insert(me, node);
        state
    }

    /// No nodes at all; the loader fills it and names `myself`.
    pub fn empty(settings: ClusterSettings, myself: NodeId) -> ClusterState {
        ClusterState {
            myself,
            current_epoch: 0,
            last_vote_epoch: 0,
            ok: false,
            size: 1,
            nodes: BTreeMap::new(),
            slots: vec![None; SLOTS],
            runs: std::cell::OnceCell::new(),
            migrating: BTreeMap::new(),
            importing: BTreeMap::new(),
            owner_not_claiming: Box::new(SlotBitmap::EMPTY),
            blacklist: HashMap::new(),
            stats_sent: [0; wire::msg_type::COUNT as usize],
            stats_received: [0; wire::msg_type::COUNT as usize],
            links_buffer_limit_exceeded: 0,
            links: HashMap::new(),
            next_link: 1,
            todo: 0,
            effects: Vec::new(),
            settings,
            pfail_nodes: 0,
            cron_iteration: 0,
            first_update_ms: 0,
            among_minority_ms: 0,
            failover: Default::default(),
        }
    }

    fn apply_my_ports(&self, node: &mut Node) {
        node.port = self.settings.port;
        node.pport = self.settings.pport;
        node.cport = self.settings.cport;
        node.hostname = self.settings.announce_hostname.clone();
        if let Some(ip) = &self.settings.announce_ip {
            node.ip = ip.clone();
        }
    }

    /// Takes new settings and applies them to ourselves.
    pub fn set_settings(&mut self, settings: ClusterSettings) {
        if settings != self.settings {
            self.settings = settings;
            self.refresh_myself();
        }
    }

    /// Our announced ports, address, hostname and nofailover flag as the settings say
    /// (`clusterUpdateMyselfAnnouncedPorts()`, `clusterUpdateMyselfFlags()`, ...).
    pub fn refresh_myself(&mut self) {
        let myself = self.myself;
        let Some(mut me) = self.nodes.remove(&myself) else {
            return;
        };
        let before = (me.port, me.pport, me.cport, me.ip.clone(), me.flags);
        self.apply_my_ports(&mut me);
        me.flags &= !nf::NOFAILOVER;
        if self.settings.replica_no_failover {
            me.flags |= nf::NOFAILOVER;
        }
        if before != (me.port, me.pport, me.cport, me.ip.clone(), me.flags) {
            self.todo |= todo::SAVE_CONFIG;
        }
        self.nodes.insert(myself, me);
    }

    pub fn me(&self) -> &Node {
        self.nodes
            .get(&self.myself)
            .expect("invariant: myself is always in the node table")
    }

    pub fn me_mut(&mut self) -> &mut Node {
        self.nodes
            .get_mut(&self.myself)
            .expect("invariant: myself is always in the node table")
    }

    pub fn node(&self, name: &NodeId) -> Option<&Node> {
        self.nodes.get(name)
    }

    pub fn node_mut(&mut self, name: &NodeId) -> Option<&mut Node> {
        self.nodes.get_mut(name)
    }

    /// The node that owns the slots we advertise: our primary when we are a replica.
    pub fn my_primary_or_me(&self) -> &Node {
        let me = self.me();
        match me.primary.and_then(|p| self.nodes.get(&p)) {
            Some(p) if me.is_replica() => p,
            _ => me,
        }
    }

    /// Our config epoch as CLUSTER INFO shows it (the primary's when we are a replica).
    pub fn my_epoch(&self) -> u64 {
        self.my_primary_or_me().config_epoch
    }

    pub fn is_unclaimed(&self, slot: u16) -> bool {
        self.slots[usize::from(slot)].is_none() || self.owner_not_claiming.contains(Slot(slot))
    }

    // ----- slots (`clusterAddSlot()`, `clusterDelSlot()`, ...) -----

    /// The owner of every slot, by slot.
    #[inline]
    pub fn slots(&self) -> &[Option<NodeId>] {
        &self.slots
    }

    /// The slot table as runs of consecutive slots with one owner, in slot order
    /// (unassigned slots left out).
    pub fn slot_runs(&self) -> &[SlotRun] {
        self.runs.get_or_init(|| {
            let mut runs: Vec<SlotRun> = Vec::new();
            for (slot, owner) in self.slots.iter().enumerate() {
                let slot = slot as u16;
                match (owner, runs.last_mut()) {
                    (Some(o), Some(run)) if run.owner == *o && run.end + 1 == slot => {
                        run.end = slot;
                    }
                    (Some(o), _) => runs.push(SlotRun {
                        start: slot,
                        end: slot,
                        owner: *o,
                    }),
                    (None, _) => {}
                }
            }
            runs
        })
    }

    /// Binds a free slot to `name`; false when it is taken.
    pub fn add_slot(&mut self, name: NodeId, slot: u16) -> bool {
        if self.slots[usize::from(slot)].is_some() {
            return false;
        }
        let Some(node) = self.nodes.get_mut(&name) else {
            return false;
        };
        if !node.slots.contains(Slot(slot)) {
            node.slots.insert(Slot(slot));
            node.numslots += 1;
        }
        self.slots[usize::from(slot)] = Some(name);
        self.runs.take();
        true
    }

    /// Unbinds a slot; false when it was free.
    pub fn del_slot(&mut self, slot: u16) -> bool {
        let Some(owner) = self.slots[usize::from(slot)].take() else {
            return false;
        };
        self.runs.take();
        if let Some(node) = self.nodes.get_mut(&owner)
            && node.slots.contains(Slot(slot))
        {
            node.slots.remove(Slot(slot));
            node.numslots -= 1;
        }
        self.owner_not_claiming.remove(Slot(slot));
        true
    }

    /// Unbinds every slot of `name`; returns how many.
    pub fn del_node_slots(&mut self, name: &NodeId) -> usize {
        let mut deleted = 0;
        for slot in 0..SLOTS as u16 {
            if self.slots[usize::from(slot)] == Some(*name) {
                self.del_slot(slot);
                deleted += 1;
            }
        }
        deleted
    }

    /// Clears every migrating and importing mark (`clusterCloseAllSlots()`).
    pub fn close_all_slots(&mut self) {
        self.migrating.clear();
        self.importing.clear();
    }

    // ----- nodes -----

    pub fn add_node(&mut self, node: Node) {
        self.nodes.insert(node.name, node);
    }

    /// Forgets a node and every mention of it (`clusterDelNode()`).
    pub fn del_node(&mut self, name: &NodeId) {
        if *name == self.myself {
            return;
        }
        self.importing.retain(|_, n| n != name);
        self.migrating.retain(|_, n| n != name);
        self.del_node_slots(name);
        for node in self.nodes.values_mut() {
            node.del_failure_report(name);
        }
        let Some(node) = self.nodes.remove(name) else {
            return;
        };
        for replica in &node.replicas {
            if let Some(r) = self.nodes.get_mut(replica) {
                r.primary = None;
            }
        }
        if let Some(primary) = node.primary {
            self.remove_replica(&primary, name);
        }
        for link in [node.link, node.inbound_link].into_iter().flatten() {
            self.drop_link(link);
        }
    }

    /// Gives a handshake node its real name (`clusterRenameNode()`).
    pub fn rename_node(&mut self, old: &NodeId, new: NodeId) {
        let Some(mut node) = self.nodes.remove(old) else {
            return;
        };
        node.name = new;
        for link in [node.link, node.inbound_link].into_iter().flatten() {
            if let Some(l) = self.links.get_mut(&link) {
                l.node = Some(new);
            }
        }
        self.nodes.insert(new, node);
    }

    pub fn add_replica(&mut self, primary: &NodeId, replica: NodeId) {
        if let Some(p) = self.nodes.get_mut(primary)
            && !p.replicas.contains(&replica)
        {
            p.replicas.push(replica);
            p.flags |= nf::MIGRATE_TO;
        }
    }

    pub fn remove_replica(&mut self, primary: &NodeId, replica: &NodeId) {
        if let Some(p) = self.nodes.get_mut(primary) {
            p.replicas.retain(|r| r != replica);
            if p.replicas.is_empty() {
                p.flags &= !nf::MIGRATE_TO;
            }
        }
    }

    /// Marks a node we thought a replica as a primary (`clusterSetNodeAsMaster()`).
    pub fn set_node_as_primary(&mut self, name: &NodeId) {
        let Some(node) = self.nodes.get(name) else {
            return;
        };
        if node.is_primary() {
            return;
        }
        let old_primary = node.primary;
        if let Some(p) = old_primary {
            self.remove_replica(&p, name);
        }
        let myself = self.myself;
        if let Some(node) = self.nodes.get_mut(name) {
            if old_primary.is_some() && *name != myself {
                node.flags |= nf::MIGRATE_TO;
            }
            node.flags &= !nf::REPLICA;
            node.flags |= nf::PRIMARY;
            node.primary = None;
        }
        self.todo |= todo::SAVE_CONFIG | todo::UPDATE_STATE;
    }

    /// Makes us a replica of `primary` (`clusterSetMaster()`); the caller has checked that
    /// we serve no slots.
    pub fn set_my_primary(&mut self, primary: NodeId) {
        let myself = self.myself;
        if primary == myself {
            return;
        }
        let me = self.me();
        if me.is_primary() {
            let me = self.me_mut();
            me.flags &= !(nf::PRIMARY | nf::MIGRATE_TO);
            me.flags |= nf::REPLICA;
            self.close_all_slots();
        } else if let Some(old) = me.primary {
            self.remove_replica(&old, &myself);
        }
        self.me_mut().primary = Some(primary);
        self.add_replica(&primary, myself);
        if let Some(p) = self.nodes.get(&primary) {
            let target = (p.ip.clone(), p.port);
            self.effects.push(Effect::Replicate(Some(target)));
        }
        self.reset_manual_failover();
    }

    /// Replicas of `node` not marked FAIL (`clusterCountNonFailingSlaves()`).
    pub fn non_failing_replicas(&self, node: &Node) -> usize {
        node.replicas
            .iter()
            .filter_map(|r| self.nodes.get(r))
            .filter(|r| !r.failed())
            .count()
    }

    /// The highest epoch known (`clusterGetMaxEpoch()`).
    pub fn max_epoch(&self) -> u64 {
        self.nodes
            .values()
            .map(|n| n.config_epoch)
            .max()
            .unwrap_or(0)
            .max(self.current_epoch)
    }

    /// A new config epoch without agreement, unless ours is already the unique maximum
    /// (`clusterBumpConfigEpochWithoutConsensus()`); true when bumped.
    pub fn bump_epoch_without_consensus(&mut self) -> bool {
        let max = self.max_epoch();
        let mine = self.me().config_epoch;
        if mine != 0 && mine == max {
            return false;
        }
        self.current_epoch += 1;
        let epoch = self.current_epoch;
        self.me_mut().config_epoch = epoch;
        self.todo |= todo::SAVE_CONFIG | todo::FSYNC_CONFIG;
        tracing::warn!("New configEpoch set to {epoch}");
        true
    }

    /// Two primaries with one config epoch: the one with the smaller name takes a new
    /// epoch, so every primary's epoch becomes unique (`clusterHandleConfigEpochCollision()`).
    pub fn handle_config_epoch_collision(&mut self, sender: &NodeId) {
        let Some(s) = self.nodes.get(sender) else {
            return;
        };
        let me = self.me();
        if s.config_epoch != me.config_epoch || !s.is_primary() || !me.is_primary() {
            return;
        }
        // Only the node with the lexicographically smaller name moves.
        if sender.0 <= self.myself.0 {
            return;
        }
        self.current_epoch += 1;
        let epoch = self.current_epoch;
        self.me_mut().config_epoch = epoch;
        self.todo |= todo::SAVE_CONFIG | todo::FSYNC_CONFIG;
        tracing::debug!(
            "WARNING: configEpoch collision with node {sender}. configEpoch set to {epoch}"
        );
    }

    // ----- FORGET's blacklist -----

    pub fn blacklist_add(&mut self, name: NodeId, now_secs: i64) {
        self.blacklist.retain(|_, until| *until >= now_secs);
        self.blacklist.insert(name, now_secs + BLACKLIST_TTL_SECS);
    }

    pub fn blacklisted(&mut self, name: &NodeId, now_secs: i64) -> bool {
        self.blacklist.retain(|_, until| *until >= now_secs);
        self.blacklist.contains_key(name)
    }

    // ----- handshakes -----

    /// Adds a node in handshake at this address, to be MEET by the cron
    /// (`clusterStartHandshake()`).
    pub fn start_handshake(
        &mut self,
        ip: &str,
        port: i64,
        cport: i64,
        now_ms: i64,
    ) -> Result<(), HandshakeError> {
        let ip: std::net::IpAddr = ip.parse().map_err(|_| HandshakeError::Invalid)?;
        if !(1..=65535).contains(&port) || !(1..=65535).contains(&cport) {
            return Err(HandshakeError::Invalid);
        }
        let ip = ip.to_string();
        let (port, cport) = (port as u16, cport as u16);
        let in_progress = self.nodes.values().any(|n| {
            n.in_handshake() && n.ip.eq_ignore_ascii_case(&ip) && n.port == port && n.cport == cport
        });
        if in_progress {
            return Err(HandshakeError::InProgress);
        }
        let mut node = Node::new(random_name(), nf::HANDSHAKE | nf::MEET, now_ms);
        node.ip = ip;
        node.port = port;
        node.cport = cport;
        self.add_node(node);
        Ok(())
    }

    // ----- links -----

    /// Registers a link; an outbound one becomes `node`'s link (`createClusterLink()`).
    pub fn new_link(&mut self, node: Option<NodeId>, now_ms: i64) -> LinkIo {
        let id = self.next_link;
        self.next_link += 1;
        let (tx, rx) = unbounded_channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let inbound = node.is_none();
        self.links.insert(
            id,
            Link {
                node,
                inbound,
                ctime_ms: now_ms,
                tx,
                queued: queued.clone(),
                peer_ip: String::new(),
                local_ip: String::new(),
            },
        );
        if let Some(n) = node.and_then(|n| self.nodes.get_mut(&n)) {
            n.link = Some(id);
        }
        LinkIo { id, rx, queued }
    }

    /// Closes a link: its I/O task ends when its queue's sender goes (`freeClusterLink()`).
    pub fn drop_link(&mut self, id: LinkId) {
        let Some(link) = self.links.remove(&id) else {
            return;
        };
        if let Some(node) = link.node.and_then(|n| self.nodes.get_mut(&n)) {
            if node.link == Some(id) {
                node.link = None;
            }
            if node.inbound_link == Some(id) {
                node.inbound_link = None;
            }
        }
    }

    /// Binds an inbound link to the node that sent on it, replacing an older one
    /// (`setClusterNodeToInboundClusterLink()`).
    pub fn set_inbound_link(&mut self, name: &NodeId, id: LinkId) {
        let Some(old) = self.nodes.get(name).map(|n| n.inbound_link) else {
            return;
        };
        if old == Some(id) {
            return;
        }
        if let Some(old) = old {
            self.drop_link(old);
        }
        if let Some(n) = self.nodes.get_mut(name) {
            n.inbound_link = Some(id);
        }
        if let Some(l) = self.links.get_mut(&id) {
            l.node = Some(*name);
        }
    }

    /// Queues a message on a link; false when the link is gone or cannot take it.
    pub fn send(&mut self, id: LinkId, msg: &Message) -> bool {
        let Some(link) = self.links.get(&id) else {
            return false;
        };
        let bytes = match msg.encode() {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!("Cannot send a cluster bus message: {e}");
                return false;
            }
        };
        let kind = usize::from(msg.body.kind());
        link.queued.fetch_add(bytes.len(), Relaxed);
        if link.tx.send(bytes).is_err() {
            return false;
        }
        if let Some(count) = self.stats_sent.get_mut(kind) {
            *count += 1;
        }
        true
    }

    /// Takes the queued effects.
    pub fn take_effects(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.effects)
    }
}

/// Why CLUSTER MEET could not start a handshake.
#[derive(Debug, PartialEq, Eq)]
pub enum HandshakeError {
    /// Not an IP address, or a port out of range (Redis's EINVAL).
    Invalid,
    /// Already shaking hands with that address (EAGAIN; MEET still replies OK).
    InProgress,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> ClusterState {
        ClusterState::new(ClusterSettings::default(), 1000)
    }

    #[test]
    fn slots_and_bitmaps_stay_in_step() {
        let mut st = state();
        let me = st.myself;
        assert!(st.add_slot(me, 5));
        assert!(!st.add_slot(me, 5));
        assert_eq!(st.me().numslots, 1);
        assert!(st.me().slots.contains(Slot(5)));
        assert!(st.del_slot(5));
        assert!(!st.del_slot(5));
        assert_eq!(st.me().numslots, 0);
    }

    #[test]
    fn deleting_a_node_clears_every_mention() {
        let mut st = state();
        let other = random_name();
        st.add_node(Node::new(other, nf::PRIMARY, 0));
        st.add_slot(other, 7);
        st.migrating.insert(1, other);
        st.set_my_primary(other);
        assert_eq!(st.me().primary, Some(other));
        let link = st.new_link(Some(other), 0);
        st.del_node(&other);
        assert_eq!(st.slots()[7], None);
        assert!(st.migrating.is_empty());
        assert_eq!(st.me().primary, None);
        assert!(!st.links.contains_key(&link.id));
    }

    #[test]
    fn handshake_checks_address_and_dedups() {
        let mut st = state();
        assert_eq!(
            st.start_handshake("nonsense", 7000, 17000, 0),
            Err(HandshakeError::Invalid)
        );
        assert_eq!(
            st.start_handshake("127.0.0.1", 0, 17000, 0),
            Err(HandshakeError::Invalid)
        );
        assert_eq!(st.start_handshake("127.0.0.1", 7000, 17000, 0), Ok(()));
        assert_eq!(
            st.start_handshake("127.0.0.1", 7000, 17000, 0),
            Err(HandshakeError::InProgress)
        );
        assert_eq!(st.nodes.len(), 2);
    }

    #[test]
    fn epoch_bump_only_when_not_unique_maximum() {
        let mut st = state();
        assert!(st.bump_epoch_without_consensus());
        assert_eq!(st.me().config_epoch, 1);
        assert!(!st.bump_epoch_without_consensus());
        let other = random_name();
        let mut n = Node::new(other, nf::PRIMARY, 0);
        n.config_epoch = 5;
        st.add_node(n);
        assert!(st.bump_epoch_without_consensus());
        assert_eq!(st.me().config_epoch, 2);
    }
}
