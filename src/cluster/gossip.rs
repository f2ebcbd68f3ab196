//! Bus messages in and out (behaves like Redis 7.0's `clusterProcessPacket()`,
//! `clusterProcessGossipSection()`, `clusterUpdateSlotsConfigWith()` and the
//! `clusterSend*()` family).
//!
//! A message updates what we know about its sender (epochs, offset, role, slots, address),
//! gossip updates what we know about others (liveness, failure reports, new nodes), and
//! PING / MEET get a PONG carrying our own view back.

use rand::seq::SliceRandom;

use super::bus::wire::{
    Body, Gossip, Message, MessageHeader, NetIp, NodeId, PingBody, PingExt, Publish, SlotBitmap,
    Update, msg_flags0, msg_type, node_flags as nf,
};
use super::node::{LinkId, Node, random_name};
use super::state::{ClusterState, Effect, Host, todo};
use crate::keyspace::slot::{SLOTS, Slot};

/// How long a FAIL stays before a reachable primary still serving slots may clear it
/// (`CLUSTER_FAIL_UNDO_TIME_MULT` × node timeout).
const FAIL_UNDO_TIME_MULT: i64 = 2;

impl ClusterState {
    /// The header of every message we send (`clusterBuildMessageHdr()`): our primary's
    /// slots and config epoch when we are a replica, so receivers learn the shard's view.
    pub fn header(&self, host: &dyn Host) -> MessageHeader {
        let me = self.me();
        let owner = self.my_primary_or_me();
        let ip = self
            .settings
            .announce_ip
            .as_deref()
            .and_then(|ip| NetIp::new(ip.as_bytes()))
            .unwrap_or(NetIp::EMPTY);
        MessageHeader {
            port: self.settings.port,
            current_epoch: self.current_epoch,
            config_epoch: owner.config_epoch,
            offset: host.repl_offset(),
            sender: self.myself,
            slots: (*owner.slots).clone(),
            primary: me.primary,
            ip,
            pport: self.settings.pport,
            cport: self.settings.cport,
            flags: me.flags,
            state: if self.ok {
                super::bus::wire::STATE_OK
            } else {
                super::bus::wire::STATE_FAIL
            },
            // A primary in a manual failover tells its replica it has paused writes.
            mflags: if me.is_primary() && self.failover.mf_end_ms != 0 {
                [msg_flags0::PAUSED, 0, 0]
            } else {
                [0; 3]
            },
        }
    }

    fn gossip_entry(node: &Node) -> Gossip {
        Gossip {
            node: node.name,
            ping_sent_secs: (node.ping_sent_ms / 1000) as u32,
            pong_received_secs: (node.pong_received_ms / 1000) as u32,
            ip: NetIp::new(node.ip.as_bytes()).unwrap_or(NetIp::EMPTY),
            port: node.port,
            cport: node.cport,
            flags: node.flags,
            pport: node.pport,
        }
    }

    /// Sends a PING, PONG or MEET with gossip about a share of the other nodes
    /// (`clusterSendPing()`; why a tenth: see [`PingBody`]).
    pub fn send_ping(&mut self, link: LinkId, kind: u16, host: &dyn Host, now_ms: i64) {
        let Some(l) = self.links.get(&link) else {
            return;
        };
        if !l.inbound
            && kind == msg_type::PING
            && let Some(n) = l.node.and_then(|n| self.nodes.get_mut(&n))
        {
            n.ping_sent_ms = now_ms;
        }
        let total = self.nodes.len();
        let fresh = total.saturating_sub(2);
        let wanted = (total / 10).max(3).min(fresh);
        let mut candidates: Vec<NodeId> = self
            .nodes
            .values()
            .filter(|n| {
                // Not ourselves, PFAIL nodes (added below), handshakes, nodes without an
                // address, or unconnected nodes without slots.
                let skip = n.is_myself()
                    || n.timed_out()
                    || n.has(nf::HANDSHAKE | nf::NOADDR)
                    || (n.link.is_none() && n.numslots == 0);
                !skip
            })
            .map(|n| n.name)
            .collect();
        candidates.shuffle(&mut rand::rng());
        candidates.truncate(wanted);
        let mut gossip = Vec::with_capacity(candidates.len() + self.pfail_nodes);
        for name in candidates {
            if let Some(n) = self.nodes.get_mut(&name) {
                gossip.push(Self::gossip_entry(n));
            }
        }
        // Every PFAIL node, so failure reports reach a majority fast.
        gossip.extend(
            self.nodes
                .values()
                .filter(|n| n.timed_out() && !n.has(nf::HANDSHAKE | nf::NOADDR))
                .map(Self::gossip_entry),
        );
        let mut extensions = Vec::new();
        if !self.settings.announce_hostname.is_empty() {
            extensions.push(PingExt::Hostname(
                self.settings.announce_hostname.as_bytes().to_vec(),
            ));
        }
        let body = PingBody { gossip, extensions };
        let body = match kind {
            msg_type::PONG => Body::Pong(body),
            msg_type::MEET => Body::Meet(body),
            _ => Body::Ping(body),
        };
        let msg = Message {
            header: self.header(host),
            body,
        };
        self.send(link, &msg);
    }

    /// Sends `body` to every node we have a link to, not in handshake
    /// (`clusterBroadcastMessage()`).
    pub fn broadcast(&mut self, body: Body, host: &dyn Host) {
        let msg = Message {
            header: self.header(host),
            body,
        };
        self.broadcast_message(&msg);
    }

    /// A PONG to every connected node, so a configuration change spreads at once
    /// (`clusterBroadcastPong()`); `local_replicas` limits it to our shard's replicas.
    pub fn broadcast_pong(&mut self, local_replicas: bool, host: &dyn Host, now_ms: i64) {
        let my_primary = self.me().primary;
        let myself = self.myself;
        let targets: Vec<LinkId> = self
            .nodes
            .values()
            .filter(|n| !n.is_myself() && !n.in_handshake())
            .filter(|n| {
                !local_replicas
                    || (n.is_replica()
                        && n.primary.is_some()
                        && (n.primary == Some(myself) || n.primary == my_primary))
            })
            .filter_map(|n| n.link)
            .collect();
        for link in targets {
            self.send_ping(link, msg_type::PONG, host, now_ms);
        }
    }

    /// PUBLISH goes to every node; SPUBLISH to the nodes of our shard
    /// (`clusterPropagatePublish()`).
    pub fn propagate_publish(
        &mut self,
        channel: &[u8],
        message: &[u8],
        shard: bool,
        host: &dyn Host,
    ) {
        let publish = Publish {
            channel: channel.to_vec(),
            message: message.to_vec(),
        };
        if !shard {
            self.broadcast(Body::Publish(publish), host);
            return;
        }
        let owner = self.my_primary_or_me();
        let mut shard_nodes = vec![owner.name];
        shard_nodes.extend(owner.replicas.iter().copied());
        let msg = Message {
            header: self.header(host),
            body: Body::PublishShard(publish),
        };
        for name in shard_nodes {
            let link = match self.nodes.get(&name) {
                Some(n) if !n.has(nf::MYSELF | nf::HANDSHAKE) => n.link,
                _ => None,
            };
            if let Some(link) = link {
                self.send(link, &msg);
            }
        }
    }

    fn send_update(&mut self, link: Option<LinkId>, about: &NodeId, host: &dyn Host) {
        let Some(link) = link else {
            return;
        };
        let Some(node) = self.nodes.get(about) else {
            return;
        };
        let mut slots = (*node.slots).clone();
        // Slots their owner stopped claiming are not advertised.
        for (byte, hidden) in slots.0.iter_mut().zip(self.owner_not_claiming.0.iter()) {
            *byte &= !hidden;
        }
        let body = Body::Update(Box::new(Update {
            config_epoch: node.config_epoch,
            node: node.name,
            slots,
        }));
        let msg = Message {
            header: self.header(host),
            body,
        };
        self.send(link, &msg);
    }

    /// An outbound link connected: say PING, or MEET to a node met by CLUSTER MEET
    /// (`clusterLinkConnectHandler()`). A ping pending from before the reconnect keeps its
    /// time, or failure detection would restart.
    pub fn link_connected(
        &mut self,
        link: LinkId,
        local_ip: String,
        peer_ip: String,
        host: &dyn Host,
        now_ms: i64,
    ) {
        let Some(l) = self.links.get_mut(&link) else {
            return;
        };
        l.local_ip = local_ip;
        l.peer_ip = peer_ip;
        let Some(name) = l.node else {
            return;
        };
        let Some(node) = self.nodes.get(&name) else {
            return;
        };
        let old_ping_sent = node.ping_sent_ms;
        let kind = if node.has(nf::MEET) {
            msg_type::MEET
        } else {
            msg_type::PING
        };
        self.send_ping(link, kind, host, now_ms);
        if let Some(node) = self.nodes.get_mut(&name) {
            if old_ping_sent != 0 {
                node.ping_sent_ms = old_ping_sent;
            }
            node.flags &= !nf::MEET;
        }
    }

    /// Handles one message from `link`; false when the link was closed by it
    /// (`clusterProcessPacket()`).
    pub fn process_packet(
        &mut self,
        link: LinkId,
        msg: &Message,
        host: &dyn Host,
        now_ms: i64,
    ) -> bool {
        let kind = msg.body.kind();
        if let Some(count) = self.stats_received.get_mut(usize::from(kind)) {
            *count += 1;
        }
        let Some(l) = self.links.get(&link) else {
            return false;
        };
        let (inbound, link_node) = (l.inbound, l.node);
        let hdr = &msg.header;
        let sender = self.sender_of(link, link_node, &hdr.sender);
        if let Some(s) = sender.and_then(|s| self.nodes.get_mut(&s)) {
            s.data_received_ms = now_ms;
        }
        let mut sender_config_epoch = 0;
        if let Some(s) = sender
            && !self.nodes.get(&s).is_some_and(Node::in_handshake)
        {
            self.current_epoch = self.current_epoch.max(hdr.current_epoch);
            sender_config_epoch = hdr.config_epoch;
            if let Some(n) = self.nodes.get_mut(&s) {
                if sender_config_epoch > n.config_epoch {
                    n.config_epoch = sender_config_epoch;
                    self.todo |= todo::SAVE_CONFIG | todo::FSYNC_CONFIG;
                }
                n.repl_offset = hdr.offset;
            }
            // Manual failover: our primary paused and says where its stream ends.
            let me = self.me();
            if self.failover.mf_end_ms != 0
                && me.is_replica()
                && me.primary == Some(s)
                && hdr.mflags[0] & msg_flags0::PAUSED != 0
                && self.failover.mf_primary_offset.is_none()
            {
                self.failover.mf_primary_offset = Some(hdr.offset);
                tracing::warn!(
                    "Received replication offset for paused master manual failover: {}",
                    hdr.offset
                );
                self.handle_manual_failover(host, now_ms);
            }
        }

        let is_ping_like = matches!(msg.body, Body::Ping(_) | Body::Pong(_) | Body::Meet(_));
        if let Body::Ping(_) | Body::Meet(_) = msg.body {
            self.learn_my_ip(link, matches!(msg.body, Body::Meet(_)));
            if sender.is_none() && matches!(msg.body, Body::Meet(_)) {
                // A node we do not know MEETs us: add it in handshake under a random
                // name; our own PING to it will tell us its real one.
                let mut node = Node::new(random_name(), nf::HANDSHAKE, now_ms);
                node.ip = self.ip_of(link, &hdr.ip);
                node.port = hdr.port;
                node.pport = hdr.pport;
                node.cport = hdr.cport;
                self.add_node(node);
                self.todo |= todo::SAVE_CONFIG;
                if let Body::Meet(p) = &msg.body {
                    self.process_gossip(link, hdr, &p.gossip, host, now_ms);
                }
            }
            self.send_ping(link, msg_type::PONG, host, now_ms);
        }

        if is_ping_like {
            if !inbound && let Some(ln) = link_node {
                let handshake = self.nodes.get(&ln).is_some_and(Node::in_handshake);
                if handshake {
                    if let Some(s) = sender {
                        // We met a node we already know: keep the known one, at the
                        // address this link reached.
                        if self.update_address_if_needed(&s, link, hdr) {
                            self.todo |= todo::SAVE_CONFIG | todo::UPDATE_STATE;
                        }
                        self.del_node(&ln);
                        return false;
                    }
                    self.rename_node(&ln, hdr.sender);
                    tracing::debug!("Handshake with node {} completed.", hdr.sender);
                    if let Some(n) = self.nodes.get_mut(&hdr.sender) {
                        n.flags &= !nf::HANDSHAKE;
                        n.flags |= hdr.flags & (nf::PRIMARY | nf::REPLICA);
                    }
                    self.todo |= todo::SAVE_CONFIG;
                } else if ln != hdr.sender {
                    // The node at this address has another ID now: forget the address.
                    tracing::debug!("PONG contains mismatching sender ID. About node {ln}");
                    if let Some(n) = self.nodes.get_mut(&ln) {
                        n.flags |= nf::NOADDR;
                        n.ip.clear();
                        n.port = 0;
                        n.pport = 0;
                        n.cport = 0;
                    }
                    self.drop_link(link);
                    self.todo |= todo::SAVE_CONFIG;
                    return false;
                }
            }

            if let Some(n) = sender.and_then(|s| self.nodes.get_mut(&s)) {
                n.flags = (n.flags & !nf::NOFAILOVER) | (hdr.flags & nf::NOFAILOVER);
            }

            if let Some(s) = sender
                && matches!(msg.body, Body::Ping(_))
                && !self.nodes.get(&s).is_some_and(Node::in_handshake)
                && self.update_address_if_needed(&s, link, hdr)
            {
                self.todo |= todo::SAVE_CONFIG | todo::UPDATE_STATE;
            }

            if !inbound
                && matches!(msg.body, Body::Pong(_))
                && let Some(name) = self.links.get(&link).and_then(|l| l.node)
            {
                let mut clear_fail = false;
                if let Some(n) = self.nodes.get_mut(&name) {
                    n.pong_received_ms = now_ms;
                    n.ping_sent_ms = 0;
                    if n.timed_out() {
                        n.flags &= !nf::PFAIL;
                        self.todo |= todo::SAVE_CONFIG | todo::UPDATE_STATE;
                    } else if n.failed() {
                        clear_fail = true;
                    }
                }
                if clear_fail {
                    self.clear_failure_if_needed(&name, now_ms);
                }
            }

            if let Some(s) = sender {
                self.update_role(&s, hdr);
                self.update_slots_from(&s, hdr, sender_config_epoch, host);
                let (me, other) = (self.me(), self.nodes.get(&s));
                if me.is_primary()
                    && other.is_some_and(Node::is_primary)
                    && sender_config_epoch == me.config_epoch
                {
                    self.handle_config_epoch_collision(&s);
                }
                if let Body::Ping(p) | Body::Pong(p) | Body::Meet(p) = &msg.body {
                    self.process_gossip(link, hdr, &p.gossip, host, now_ms);
                    self.process_ping_extensions(&s, &p.extensions);
                }
            }
            return true;
        }

        match &msg.body {
            Body::Fail(about) => {
                let Some(s) = sender else {
                    tracing::info!(
                        "Ignoring FAIL message from unknown node {} about {about}",
                        hdr.sender
                    );
                    return true;
                };
                if let Some(f) = self.nodes.get_mut(about)
                    && !f.has(nf::FAIL | nf::MYSELF)
                {
                    tracing::info!("FAIL message received from {s} about {about}");
                    f.flags |= nf::FAIL;
                    f.fail_time_ms = now_ms;
                    f.flags &= !nf::PFAIL;
                    self.todo |= todo::SAVE_CONFIG | todo::UPDATE_STATE;
                }
            }
            Body::Publish(p) | Body::PublishShard(p) => {
                if sender.is_some() {
                    self.effects.push(Effect::Publish {
                        shard: matches!(msg.body, Body::PublishShard(_)),
                        channel: p.channel.clone(),
                        message: p.message.clone(),
                    });
                }
            }
            Body::Update(u) => {
                if sender.is_none() {
                    return true;
                }
                let Some(n) = self.nodes.get(&u.node) else {
                    return true;
                };
                if n.config_epoch >= u.config_epoch {
                    return true;
                }
                if n.is_replica() {
                    self.set_node_as_primary(&u.node);
                }
                if let Some(n) = self.nodes.get_mut(&u.node) {
                    n.config_epoch = u.config_epoch;
                }
                self.todo |= todo::SAVE_CONFIG | todo::FSYNC_CONFIG;
                self.update_slots_config_with(&u.node, u.config_epoch, &u.slots, host);
            }
            Body::FailoverAuthRequest => {
                if let Some(s) = sender {
                    self.vote_if_needed(&s, hdr, host, now_ms);
                }
            }
            Body::FailoverAuthAck => {
                if let Some(s) = sender {
                    self.count_vote(&s, hdr.current_epoch, host, now_ms);
                }
            }
            Body::MfStart => {
                if let Some(s) = sender {
                    self.start_manual_failover_as_primary(&s, link, host, now_ms);
                }
            }
            Body::Module(_) => {}
            Body::Unknown { kind, .. } => {
                tracing::warn!("Received unknown packet type: {kind}");
            }
            Body::Ping(_) | Body::Pong(_) | Body::Meet(_) => {}
        }
        true
    }

    /// The known node a message comes from (`getNodeFromLinkAndMsg()`); an inbound link
    /// is bound to it on the way.
    fn sender_of(
        &mut self,
        link: LinkId,
        link_node: Option<NodeId>,
        named: &NodeId,
    ) -> Option<NodeId> {
        if let Some(n) = link_node
            && self.nodes.get(&n).is_some_and(|n| !n.in_handshake())
        {
            return Some(n);
        }
        if !self.nodes.contains_key(named) {
            return None;
        }
        if link_node.is_none() {
            self.set_inbound_link(named, link);
        }
        Some(*named)
    }

    /// A MEET (or any PING while we know no address of ours) tells us the address peers
    /// reach us at, unless `cluster-announce-ip` fixes it.
    fn learn_my_ip(&mut self, link: LinkId, meet: bool) {
        if self.settings.announce_ip.is_some() {
            return;
        }
        let Some(local) = self.links.get(&link).map(|l| l.local_ip.clone()) else {
            return;
        };
        let me = self.me();
        if (meet || me.ip.is_empty()) && !local.is_empty() && local != me.ip {
            tracing::warn!("IP address for this node updated to {local}");
            self.me_mut().ip = local;
            self.todo |= todo::SAVE_CONFIG;
        }
    }

    /// The address a header announces, or else the link's peer (`nodeIp2String()`).
    fn ip_of(&self, link: LinkId, announced: &NetIp) -> String {
        if !announced.is_empty() {
            return String::from_utf8_lossy(announced.as_bytes()).into_owned();
        }
        self.links
            .get(&link)
            .map(|l| l.peer_ip.clone())
            .unwrap_or_default()
    }

    /// Moves a node to the address its message shows, dropping the old link
    /// (`nodeUpdateAddressIfNeeded()`); true when it changed.
    fn update_address_if_needed(
        &mut self,
        name: &NodeId,
        link: LinkId,
        hdr: &MessageHeader,
    ) -> bool {
        let ip = self.ip_of(link, &hdr.ip);
        let Some(n) = self.nodes.get(name) else {
            return false;
        };
        if n.link == Some(link) || ip.is_empty() {
            return false;
        }
        if n.port == hdr.port && n.cport == hdr.cport && n.pport == hdr.pport && n.ip == ip {
            return false;
        }
        let old_link = n.link;
        if let Some(n) = self.nodes.get_mut(name) {
            n.ip = ip;
            n.port = hdr.port;
            n.pport = hdr.pport;
            n.cport = hdr.cport;
            n.flags &= !nf::NOADDR;
            tracing::warn!("Address updated for node {name}, now {}:{}", n.ip, n.port);
        }
        if let Some(old) = old_link {
            self.drop_link(old);
        }
        let me = self.me();
        if me.is_replica()
            && me.primary == Some(*name)
            && let Some(n) = self.nodes.get(name)
        {
            self.effects
                .push(Effect::Replicate(Some((n.ip.clone(), n.port))));
        }
        true
    }

    /// The sender's role as its header states it: a primary, or a replica of a named
    /// primary.
    fn update_role(&mut self, sender: &NodeId, hdr: &MessageHeader) {
        let Some(primary) = hdr.primary else {
            self.set_node_as_primary(sender);
            return;
        };
        let Some(s) = self.nodes.get(sender) else {
            return;
        };
        if s.is_primary() {
            // A primary turned into a replica.
            self.del_node_slots(sender);
            if let Some(s) = self.nodes.get_mut(sender) {
                s.flags &= !(nf::PRIMARY | nf::MIGRATE_TO);
                s.flags |= nf::REPLICA;
            }
            self.todo |= todo::SAVE_CONFIG | todo::UPDATE_STATE;
        }
        let current = self.nodes.get(sender).and_then(|s| s.primary);
        if self.nodes.contains_key(&primary) && current != Some(primary) {
            if let Some(old) = current {
                self.remove_replica(&old, sender);
            }
            self.add_replica(&primary, *sender);
            if let Some(s) = self.nodes.get_mut(sender) {
                s.primary = Some(primary);
            }
            self.todo |= todo::SAVE_CONFIG;
        }
    }

    /// Slots the sender claims: adopt a newer claim, or tell the sender with an UPDATE
    /// that a slot it claims has an owner with a newer config epoch.
    fn update_slots_from(
        &mut self,
        sender: &NodeId,
        hdr: &MessageHeader,
        epoch: u64,
        host: &dyn Host,
    ) {
        let Some(s) = self.nodes.get(sender) else {
            return;
        };
        let sender_is_primary = s.is_primary();
        let owner = if sender_is_primary {
            Some(*sender)
        } else {
            s.primary
        };
        let dirty = owner
            .and_then(|o| self.nodes.get(&o))
            .is_some_and(|o| *o.slots != hdr.slots);
        if !dirty {
            return;
        }
        if sender_is_primary {
            self.update_slots_config_with(sender, epoch, &hdr.slots, host);
        }
        for slot in 0..SLOTS as u16 {
            if !hdr.slots.contains(Slot(slot)) {
                continue;
            }
            let Some(current) = self.slots()[usize::from(slot)] else {
                continue;
            };
            if current == *sender || self.is_unclaimed(slot) {
                continue;
            }
            if self
                .nodes
                .get(&current)
                .is_some_and(|c| c.config_epoch > epoch)
            {
                tracing::debug!(
                    "Node {sender} has old slots configuration, sending an UPDATE message about {current}"
                );
                let link = self.nodes.get(sender).and_then(|s| s.link);
                self.send_update(link, &current, host);
                break;
            }
        }
    }

    /// Rebinds the slots `sender` claims with `epoch` wherever that wins over our view, and
    /// follows the consequences: we (or our primary) lost every slot to it → we replicate
    /// it; we lost a few slots holding keys → those keys go
    /// (`clusterUpdateSlotsConfigWith()`).
    pub fn update_slots_config_with(
        &mut self,
        sender: &NodeId,
        epoch: u64,
        slots: &SlotBitmap,
        host: &dyn Host,
    ) {
        if *sender == self.myself {
            tracing::warn!("Discarding UPDATE message about myself.");
            return;
        }
        let myself = self.myself;
        let me = self.me();
        let curmaster = if me.is_primary() {
            Some(myself)
        } else {
            me.primary
        };
        let mut new_primary = None;
        let mut dirty_slots = Vec::new();
        let (mut sender_slots, mut migrated_our_slots) = (0, 0);
        for slot in 0..SLOTS as u16 {
            let owner = self.slots()[usize::from(slot)];
            if slots.contains(Slot(slot)) {
                sender_slots += 1;
                if owner == Some(*sender) {
                    self.owner_not_claiming.remove(Slot(slot));
                    continue;
                }
                // An importing slot changes only by hand (redis-cli closes it).
                if self.importing.contains_key(&slot) {
                    continue;
                }
                let older = owner
                    .and_then(|o| self.nodes.get(&o))
                    .is_some_and(|o| o.config_epoch < epoch);
                if self.is_unclaimed(slot) || older {
                    if owner == Some(myself) && host.keys_in_slot(slot) > 0 {
                        dirty_slots.push(slot);
                    }
                    if owner.is_some() && owner == curmaster {
                        new_primary = Some(*sender);
                        migrated_our_slots += 1;
                    }
                    self.del_slot(slot);
                    self.add_slot(*sender, slot);
                    self.todo |= todo::SAVE_CONFIG | todo::UPDATE_STATE | todo::FSYNC_CONFIG;
                }
            } else if owner == Some(*sender) {
                // Kept bound so clients see no errors, but not passed on in UPDATEs.
                self.owner_not_claiming.insert(Slot(slot));
            }
        }
        let curmaster_slots = curmaster
            .and_then(|c| self.nodes.get(&c))
            .map_or(0, |c| c.numslots);
        let grand_primary = self
            .me()
            .primary
            .and_then(|p| self.nodes.get(&p))
            .and_then(|p| p.primary);
        if let Some(new_primary) = new_primary
            && curmaster_slots == 0
            && (self.settings.allow_replica_migration || sender_slots == migrated_our_slots)
        {
            tracing::warn!(
                "Configuration change detected. Reconfiguring myself as a replica of {new_primary}"
            );
            self.set_my_primary(new_primary);
            self.todo |= todo::SAVE_CONFIG | todo::UPDATE_STATE | todo::FSYNC_CONFIG;
        } else if let Some(grand) = grand_primary
            && grand != myself
        {
            tracing::warn!(
                "I'm a sub-replica! Reconfiguring myself as a replica of grandmaster {grand}"
            );
            self.set_my_primary(grand);
            self.todo |= todo::SAVE_CONFIG | todo::UPDATE_STATE | todo::FSYNC_CONFIG;
        } else {
            for slot in dirty_slots {
                self.effects.push(Effect::DeleteKeysInSlot(slot));
            }
        }
    }

    /// What the sender says about other nodes (`clusterProcessGossipSection()`).
    fn process_gossip(
        &mut self,
        link: LinkId,
        hdr: &MessageHeader,
        entries: &[Gossip],
        host: &dyn Host,
        now_ms: i64,
    ) {
        let sender = self
            .links
            .get(&link)
            .and_then(|l| l.node)
            .or_else(|| self.nodes.contains_key(&hdr.sender).then_some(hdr.sender));
        let sender_is_primary = sender
            .and_then(|s| self.nodes.get(&s))
            .is_some_and(Node::is_primary);
        let now_secs = now_ms / 1000;
        for g in entries {
            let failing = g.flags & (nf::FAIL | nf::PFAIL) != 0;
            let gip = String::from_utf8_lossy(g.ip.as_bytes()).into_owned();
            if self.nodes.contains_key(&g.node) {
                if let Some(s) = sender
                    && sender_is_primary
                    && g.node != self.myself
                {
                    if failing {
                        if let Some(n) = self.nodes.get_mut(&g.node)
                            && n.add_failure_report(s, now_ms)
                        {
                            tracing::debug!("Node {s} reported node {} as not reachable.", g.node);
                        }
                        self.mark_failing_if_needed(&g.node, host, now_ms);
                    } else if let Some(n) = self.nodes.get_mut(&g.node)
                        && n.del_failure_report(&s)
                    {
                        tracing::debug!("Node {s} reported node {} is back online.", g.node);
                    }
                }
                let Some(n) = self.nodes.get_mut(&g.node) else {
                    continue;
                };
                if !failing && n.ping_sent_ms == 0 && n.fail_reports.is_empty() {
                    let pong_ms = i64::from(g.pong_received_secs) * 1000;
                    if pong_ms <= now_ms + 500 && pong_ms > n.pong_received_ms {
                        n.pong_received_ms = pong_ms;
                    }
                }
                if n.has(nf::FAIL | nf::PFAIL)
                    && g.flags & nf::NOADDR == 0
                    && !failing
                    && (!n.ip.eq_ignore_ascii_case(&gip) || n.port != g.port || n.cport != g.cport)
                {
                    let old_link = n.link;
                    n.ip = gip;
                    n.port = g.port;
                    n.pport = g.pport;
                    n.cport = g.cport;
                    n.flags &= !nf::NOADDR;
                    if let Some(old) = old_link {
                        self.drop_link(old);
                    }
                }
            } else if sender.is_some()
                && g.flags & nf::NOADDR == 0
                && !self.blacklisted(&g.node, now_secs)
            {
                // Known through a known node: add it under its real name; the cron will
                // connect and PING it.
                let mut node = Node::new(g.node, g.flags, now_ms);
                node.ip = gip;
                node.port = g.port;
                node.pport = g.pport;
                node.cport = g.cport;
                self.add_node(node);
            }
        }
    }

    /// Ping extensions: the sender's hostname, cleared when it sends none
    /// (`clusterProcessPingExtensions()`).
    fn process_ping_extensions(&mut self, sender: &NodeId, extensions: &[PingExt]) {
        let mut hostname = String::new();
        for ext in extensions {
            match ext {
                PingExt::Hostname(h) => hostname = String::from_utf8_lossy(h).into_owned(),
                PingExt::Unknown { kind, .. } => {
                    tracing::warn!("Received unknown extension type {kind}");
                }
            }
        }
        if let Some(n) = self.nodes.get_mut(sender)
            && n.hostname != hostname
        {
            n.hostname = hostname;
            self.todo |= todo::SAVE_CONFIG;
        }
    }

    /// PFAIL → FAIL once a majority of primaries report it within the validity window
    /// (`markNodeAsFailingIfNeeded()`).
    pub fn mark_failing_if_needed(&mut self, name: &NodeId, host: &dyn Host, now_ms: i64) {
        let needed = self.size / 2 + 1;
        let validity = self.settings.node_timeout_ms * 2;
        let i_am_primary = self.me().is_primary();
        let Some(n) = self.nodes.get_mut(name) else {
            return;
        };
        if !n.timed_out() || n.failed() {
            return;
        }
        n.cleanup_failure_reports(now_ms, validity);
        let failures = n.fail_reports.len() + usize::from(i_am_primary);
        if failures < needed {
            return;
        }
        tracing::info!("Marking node {name} as failing (quorum reached).");
        n.flags &= !nf::PFAIL;
        n.flags |= nf::FAIL;
        n.fail_time_ms = now_ms;
        self.broadcast(Body::Fail(*name), host);
        self.todo |= todo::UPDATE_STATE | todo::SAVE_CONFIG;
    }

    /// A FAIL node answered again: clear FAIL at once for replicas and slot-less primaries,
    /// after a while for primaries nobody took over (`clearNodeFailureIfNeeded()`).
    pub fn clear_failure_if_needed(&mut self, name: &NodeId, now_ms: i64) {
        let undo_ms = self.settings.node_timeout_ms * FAIL_UNDO_TIME_MULT;
        let Some(n) = self.nodes.get_mut(name) else {
            return;
        };
        if n.is_replica() || n.numslots == 0 {
            let what = if n.is_replica() {
                "replica"
            } else {
                "master without slots"
            };
            tracing::info!("Clear FAIL state for node {name}: {what} is reachable again.");
            n.flags &= !nf::FAIL;
            self.todo |= todo::UPDATE_STATE | todo::SAVE_CONFIG;
        } else if n.is_primary() && now_ms - n.fail_time_ms > undo_ms {
            tracing::info!(
                "Clear FAIL state for node {name}: is reachable again and nobody is serving its slots after some time."
            );
            n.flags &= !nf::FAIL;
            self.todo |= todo::UPDATE_STATE | todo::SAVE_CONFIG;
        }
    }
}
