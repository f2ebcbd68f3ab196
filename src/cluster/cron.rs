//! The cluster's periodic work, ten times a second (behaves like Redis 7.0's
//! `clusterCron()` and `clusterUpdateState()`): connect to nodes without a link, ping a
//! random node each second and any node not pinged for half the node timeout, drop links
//! that went silent, mark unresponsive nodes PFAIL, start replication toward our primary,
//! and decide whether the cluster is ok.

use rand::seq::IteratorRandom;

use super::bus::wire::{NodeId, msg_type, node_flags as nf};
use super::state::{ClusterState, Effect, Host, todo};

/// A primary waits this long after start before it declares the cluster ok, giving the
/// cluster a chance to reconfigure it first (`CLUSTER_WRITABLE_DELAY`).
const WRITABLE_DELAY_MS: i64 = 2000;
/// Bounds on how long a primary back from a minority partition stays down
/// (`CLUSTER_MIN_REJOIN_DELAY`, `CLUSTER_MAX_REJOIN_DELAY`).
const MIN_REJOIN_DELAY_MS: i64 = 500;
const MAX_REJOIN_DELAY_MS: i64 = 5000;

impl ClusterState {
    /// One tick of the cron; `now_ms` is wall-clock Unix ms.
    pub fn cron(&mut self, host: &dyn Host, now_ms: i64) {
        self.cron_iteration += 1;
        let timeout = self.settings.node_timeout_ms;
        let handshake_timeout = timeout.max(1000);
        let mut update_state = false;

        // 1. Links: drop over-full ones, forget stale handshakes, connect the unlinked.
        self.pfail_nodes = 0;
        let names: Vec<NodeId> = self.nodes.keys().copied().collect();
        for name in &names {
            let Some(node) = self.nodes.get(name) else {
                continue;
            };
            if node.has(nf::MYSELF | nf::NOADDR) {
                continue;
            }
            if node.timed_out() {
                self.pfail_nodes += 1;
            }
            if node.in_handshake() && now_ms - node.ctime_ms > handshake_timeout {
                self.del_node(name);
                continue;
            }
            self.free_links_over_limit(name);
            let Some(node) = self.nodes.get(name) else {
                continue;
            };
            if node.link.is_none() {
                let (ip, cport) = (node.ip.clone(), node.cport);
                let io = self.new_link(Some(*name), now_ms);
                self.effects.push(Effect::Connect { io, ip, cport });
            }
        }

        // 2. Once a second, ping the node with the oldest PONG among five random ones.
        if self.cron_iteration.is_multiple_of(10) {
            let mut rng = rand::rng();
            let mut oldest: Option<(i64, NodeId)> = None;
            for _ in 0..5 {
                let Some(n) = self.nodes.values().choose(&mut rng) else {
                    break;
                };
                if n.link.is_none() || n.ping_sent_ms != 0 || n.has(nf::MYSELF | nf::HANDSHAKE) {
                    continue;
                }
                if oldest.is_none_or(|(pong, _)| pong > n.pong_received_ms) {
                    oldest = Some((n.pong_received_ms, n.name));
                }
            }
            if let Some(link) = oldest.and_then(|(_, name)| self.nodes.get(&name)?.link) {
                self.send_ping(link, msg_type::PING, host, now_ms);
            }
        }

        // 3. Per node: count orphaned primaries (for replica migration), reconnect silent
        //    links, keep pings flowing, detect PFAIL.
        let i_am_replica = self.me().is_replica();
        let my_primary = self.me().primary;
        let (mut orphaned, mut max_replicas, mut my_replicas) = (0, 0, 0);
        for name in &names {
            let Some(node) = self.nodes.get(name) else {
                continue;
            };
            if node.has(nf::MYSELF | nf::NOADDR | nf::HANDSHAKE) {
                continue;
            }
            if i_am_replica && node.is_primary() && !node.failed() {
                let ok = self.non_failing_replicas(node);
                if ok == 0 && node.numslots > 0 && node.has(nf::MIGRATE_TO) {
                    orphaned += 1;
                }
                max_replicas = max_replicas.max(ok);
                if my_primary == Some(*name) {
                    my_replicas = ok;
                }
            }
            let ping_delay = now_ms - node.ping_sent_ms;
            let data_delay = now_ms - node.data_received_ms;
            if let Some(link) = node.link
                && self
                    .links
                    .get(&link)
                    .is_some_and(|l| now_ms - l.ctime_ms > timeout)
                && node.ping_sent_ms != 0
                && ping_delay > timeout / 2
                && data_delay > timeout / 2
            {
                self.drop_link(link);
            }
            let Some(node) = self.nodes.get(name) else {
                continue;
            };
            if let Some(link) = node.link
                && node.ping_sent_ms == 0
                && now_ms - node.pong_received_ms > timeout / 2
            {
                self.send_ping(link, msg_type::PING, host, now_ms);
                continue;
            }
            // A replica running a manual failover with us hears from us continuously.
            if let Some(link) = node.link
                && self.failover.mf_end_ms != 0
                && self.failover.mf_replica == Some(*name)
                && !i_am_replica
            {
                self.send_ping(link, msg_type::PING, host, now_ms);
                continue;
            }
            if node.ping_sent_ms == 0 {
                continue;
            }
            // Any traffic counts as liveness: a busy link may delay PONGs.
            let delay = ping_delay.min(data_delay);
            if delay > timeout && !node.has(nf::PFAIL | nf::FAIL) {
                tracing::debug!("*** NODE {name} possibly failing");
                if let Some(n) = self.nodes.get_mut(name) {
                    n.flags |= nf::PFAIL;
                }
                update_state = true;
            }
        }

        // 4. A replica that knows its primary's address replicates it.
        let me = self.me();
        if me.is_replica()
            && !host.replicating()
            && let Some(p) = me.primary.and_then(|p| self.nodes.get(&p))
            && p.has_addr()
            && !p.ip.is_empty()
        {
            let target = (p.ip.clone(), p.port);
            self.effects.push(Effect::Replicate(Some(target)));
        }

        // 5. Failover: manual failover progress and timeout, elections, replica migration.
        self.handle_manual_failover(host, now_ms);
        if self.me().is_replica() {
            self.handle_replica_failover(host, now_ms);
            if orphaned > 0
                && max_replicas >= 2
                && my_replicas == max_replicas
                && self.settings.allow_replica_migration
            {
                self.handle_replica_migration(max_replicas, now_ms);
            }
        }

        if update_state || !self.ok {
            self.update_state(now_ms);
        }
    }

    /// Drops a node's links whose unsent bytes passed `cluster-link-sendbuf-limit`.
    fn free_links_over_limit(&mut self, name: &NodeId) {
        let limit = self.settings.sendbuf_limit;
        if limit == 0 {
            return;
        }
        let Some(node) = self.nodes.get(name) else {
            return;
        };
        for link in [node.link, node.inbound_link].into_iter().flatten() {
            let over = self
                .links
                .get(&link)
                .is_some_and(|l| l.queued.load(std::sync::atomic::Ordering::Relaxed) > limit);
            if over {
                tracing::warn!(
                    "Freeing cluster link({}node {name}), used memory exceeds cluster-link-sendbuf-limit",
                    if self.links.get(&link).is_some_and(|l| l.inbound) {
                        "from "
                    } else {
                        "to "
                    }
                );
                self.links_buffer_limit_exceeded += 1;
                self.drop_link(link);
            }
        }
    }

    /// Whether the cluster is ok: every slot served by a non-failing node (when full
    /// coverage is required) and a majority of slot-serving primaries reachable
    /// (`clusterUpdateState()`).
    pub fn update_state(&mut self, now_ms: i64) {
        self.todo &= !todo::UPDATE_STATE;
        if self.first_update_ms == 0 {
            self.first_update_ms = now_ms;
        }
        let i_am_primary = self.me().is_primary();
        if i_am_primary && !self.ok && now_ms - self.first_update_ms < WRITABLE_DELAY_MS {
            return;
        }
        let mut ok = true;
        if self.settings.require_full_coverage {
            let runs = self.slot_runs();
            let covered: usize = runs.iter().map(|r| usize::from(r.end - r.start) + 1).sum();
            ok = covered == crate::keyspace::slot::SLOTS
                && runs
                    .iter()
                    .all(|r| self.nodes.get(&r.owner).is_some_and(|n| !n.failed()));
        }
        let serving = self
            .nodes
            .values()
            .filter(|n| n.is_primary() && n.numslots > 0);
        let (mut size, mut reachable) = (0, 0);
        for n in serving {
            size += 1;
            if !n.has(nf::FAIL | nf::PFAIL) {
                reachable += 1;
            }
        }
        self.size = size;
        if reachable < size / 2 + 1 {
            ok = false;
            self.among_minority_ms = now_ms;
        }
        if ok != self.ok {
            let rejoin = self
                .settings
                .node_timeout_ms
                .clamp(MIN_REJOIN_DELAY_MS, MAX_REJOIN_DELAY_MS);
            if ok && i_am_primary && now_ms - self.among_minority_ms < rejoin {
                return;
            }
            tracing::warn!("Cluster state changed: {}", if ok { "ok" } else { "fail" });
            self.ok = ok;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::node::{Node, random_name};
    use super::super::state::ClusterSettings;
    use super::super::testing::NoHost;
    use super::*;

    fn settings() -> ClusterSettings {
        ClusterSettings {
            node_timeout_ms: 1000,
            ..ClusterSettings::default()
        }
    }

    #[test]
    fn ok_needs_full_coverage_and_the_writable_delay() {
        let mut st = ClusterState::new(settings(), 0);
        let me = st.myself;
        for s in 0..16384 {
            st.add_slot(me, s);
        }
        st.update_state(10_000);
        assert!(
            !st.ok,
            "a primary waits the writable delay after its first check"
        );
        st.update_state(10_000 + WRITABLE_DELAY_MS);
        assert!(st.ok);
        st.del_slot(100);
        st.update_state(20_000);
        assert!(!st.ok);
    }

    #[test]
    fn unanswered_ping_marks_pfail_after_the_timeout() {
        let mut st = ClusterState::new(settings(), 0);
        let other = random_name();
        let mut n = Node::new(other, nf::PRIMARY, 0);
        n.ip = "127.0.0.1".into();
        n.port = 7001;
        n.cport = 17001;
        st.add_node(n);
        st.cron(&NoHost, 1000);
        let link = st.node(&other).and_then(|n| n.link);
        assert!(link.is_some(), "the cron opens a link to an unlinked node");
        assert!(
            st.take_effects()
                .iter()
                .any(|e| matches!(e, Effect::Connect { cport: 17001, .. }))
        );
        // The same tick pinged it (its pong is older than timeout/2); no PONG comes.
        assert_eq!(st.node(&other).map(|n| n.ping_sent_ms), Some(1000));
        st.cron(&NoHost, 1900);
        assert!(!st.node(&other).is_some_and(|n| n.timed_out()));
        st.cron(&NoHost, 2100);
        assert!(st.node(&other).is_some_and(|n| n.timed_out()));
        assert_eq!(st.pfail_nodes, 0, "counted at the start of the next tick");
    }

    #[test]
    fn stale_handshakes_are_forgotten() {
        let mut st = ClusterState::new(settings(), 0);
        st.start_handshake("127.0.0.1", 7001, 17001, 0).unwrap();
        st.cron(&NoHost, 500);
        assert_eq!(st.nodes.len(), 2);
        st.cron(&NoHost, 1500);
        assert_eq!(st.nodes.len(), 1);
    }
}
