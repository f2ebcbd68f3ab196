//! Replica failover (behaves like Redis 7.0's `clusterHandleSlaveFailover()`,
//! `clusterSendFailoverAuthIfNeeded()`, `clusterFailoverReplaceYourMaster()`, the manual
//! failover functions and `clusterHandleSlaveMigration()`).
//!
//! An election, step by step, on a replica whose primary is FAIL (or asked by CLUSTER
//! FAILOVER):
//! 1. data age = time since the primary was last heard − node timeout; when
//!    `cluster-replica-validity-factor` > 0 and data age > node_timeout × factor +
//!    repl_ping_period, the replica is too stale to stand (a manual failover stands anyway);
//! 2. it waits 500 ms + random(0..500) ms + rank × 1000 ms, rank being how many sibling
//!    replicas have a larger replication offset (so the most up-to-date goes first);
//! 3. it bumps currentEpoch and asks every node for a vote (FAILOVER_AUTH_REQUEST);
//! 4. primaries serving slots vote at most once per epoch, and not twice for replicas of
//!    the same primary within 2 × node timeout;
//! 5. with votes from a majority of slot-serving primaries before 2 × node timeout
//!    (at least 2 s) passes, it takes its primary's slots under the election's epoch and
//!    tells everyone with a PONG; otherwise it retries after twice that.

use rand::Rng;

use super::bus::wire::{
    Body, Message, MessageHeader, NodeId, msg_flags0, msg_type, node_flags as nf,
};
use super::node::LinkId;
use super::state::{ClusterState, Effect, Host, todo};
use crate::keyspace::slot::{SLOTS, Slot};

/// How long a manual failover may take (`CLUSTER_MF_TIMEOUT`).
pub const MF_TIMEOUT_MS: i64 = 5000;
/// The primary pauses writes for this many manual failover timeouts (`CLUSTER_MF_PAUSE_MULT`).
const MF_PAUSE_MULT: i64 = 2;
/// An orphaned primary waits this long before a replica migrates to it.
const MIGRATION_DELAY_MS: i64 = 5000;
/// The same "can't failover" reason is logged at most this often.
const CANT_FAILOVER_RELOG_SECS: i64 = 60 * 5;

/// Why a replica is not failing over (`CLUSTER_CANT_FAILOVER_*`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CantFailover {
    #[default]
    None,
    DataAge,
    WaitingDelay,
    Expired,
    WaitingVotes,
}

/// Election and manual failover state.
#[derive(Debug, Default)]
pub struct FailoverState {
    /// When the election may start (or started).
    pub auth_time_ms: i64,
    pub auth_count: usize,
    pub auth_sent: bool,
    pub auth_rank: usize,
    pub auth_epoch: u64,
    pub cant_reason: CantFailover,
    cant_logged_secs: i64,
    /// Manual failover: when it gives up (0: none running).
    pub mf_end_ms: i64,
    /// Manual failover on the replica: the primary's offset is reached.
    pub mf_can_start: bool,
    /// Manual failover on the primary: the replica that asked.
    pub mf_replica: Option<NodeId>,
    /// Manual failover on the replica: the paused primary's offset.
    pub mf_primary_offset: Option<u64>,
}

impl ClusterState {
    /// A replica's rank: siblings able to fail over with a larger offset
    /// (`clusterGetSlaveRank()`).
    fn replica_rank(&self, my_offset: u64) -> usize {
        let Some(primary) = self.me().primary.and_then(|p| self.node(&p)) else {
            return 0;
        };
        primary
            .replicas
            .iter()
            .filter(|r| **r != self.myself)
            .filter_map(|r| self.node(r))
            .filter(|r| !r.has(nf::NOFAILOVER) && r.repl_offset > my_offset)
            .count()
    }

    fn log_cant_failover(&mut self, reason: CantFailover, now_ms: i64) {
        let now_secs = now_ms / 1000;
        let fo = &mut self.failover;
        if reason == fo.cant_reason && now_secs - fo.cant_logged_secs < CANT_FAILOVER_RELOG_SECS {
            return;
        }
        fo.cant_reason = reason;
        // Right after the primary failed, waiting is expected: say nothing yet.
        let quiet = self
            .me()
            .primary
            .and_then(|p| self.node(&p))
            .is_some_and(|p| {
                p.failed() && now_ms - p.fail_time_ms < self.settings.node_timeout_ms + 5000
            });
        if quiet {
            return;
        }
        let msg = match reason {
            CantFailover::DataAge => {
                "Disconnected from master for longer than allowed. Please check the 'cluster-replica-validity-factor' configuration option."
            }
            CantFailover::WaitingDelay => "Waiting the delay before I can start a new failover.",
            CantFailover::Expired => "Failover attempt expired.",
            CantFailover::WaitingVotes => "Waiting for votes, but majority still not reached.",
            CantFailover::None => "Unknown reason code.",
        };
        self.failover.cant_logged_secs = now_secs;
        tracing::warn!("Currently unable to failover: {msg}");
    }

    /// The replica's election step, run by the cron and whenever a vote arrives.
    pub fn handle_replica_failover(&mut self, host: &dyn Host, now_ms: i64) {
        let timeout = self.settings.node_timeout_ms;
        let auth_timeout = (timeout * 2).max(2000);
        let auth_retry = auth_timeout * 2;
        let auth_age = now_ms - self.failover.auth_time_ms;
        let needed = self.size / 2 + 1;
        let manual = self.failover.mf_end_ms != 0 && self.failover.mf_can_start;
        let me = self.me();
        let primary = me.primary.and_then(|p| self.node(&p));
        let eligible = me.is_replica()
            && primary.is_some_and(|p| (p.failed() || manual) && p.numslots > 0)
            && (!self.settings.replica_no_failover || manual);
        if !eligible {
            self.failover.cant_reason = CantFailover::None;
            return;
        }
        // 1. Data age.
        let mut data_age = host.repl_data_age_ms(now_ms);
        if data_age > timeout {
            data_age -= timeout;
        }
        let factor = self.settings.validity_factor;
        if factor > 0 && data_age > self.settings.repl_ping_period_ms + timeout * factor && !manual
        {
            self.log_cant_failover(CantFailover::DataAge, now_ms);
            return;
        }
        // 2. A new attempt: schedule it by rank.
        let my_offset = host.repl_offset();
        if auth_age > auth_retry {
            let fo = &mut self.failover;
            fo.auth_time_ms = now_ms + 500 + rand::rng().random_range(0..500);
            fo.auth_count = 0;
            fo.auth_sent = false;
            let rank = self.replica_rank(my_offset);
            let fo = &mut self.failover;
            fo.auth_rank = rank;
            fo.auth_time_ms += rank as i64 * 1000;
            if fo.mf_end_ms != 0 {
                fo.auth_time_ms = now_ms;
                fo.auth_rank = 0;
            }
            tracing::warn!(
                "Start of election delayed for {} milliseconds (rank #{}, offset {my_offset}).",
                fo.auth_time_ms - now_ms,
                fo.auth_rank
            );
            self.broadcast_pong(true, host, now_ms);
            if self.failover.mf_end_ms != 0 {
                // A manual failover starts at once.
                self.handle_replica_failover(host, now_ms);
            }
            return;
        }
        if !self.failover.auth_sent && self.failover.mf_end_ms == 0 {
            let rank = self.replica_rank(my_offset);
            if rank > self.failover.auth_rank {
                let added = (rank - self.failover.auth_rank) as i64 * 1000;
                self.failover.auth_time_ms += added;
                self.failover.auth_rank = rank;
                tracing::warn!(
                    "Replica rank updated to #{rank}, added {added} milliseconds of delay."
                );
            }
        }
        if now_ms < self.failover.auth_time_ms {
            self.log_cant_failover(CantFailover::WaitingDelay, now_ms);
            return;
        }
        if auth_age > auth_timeout {
            self.log_cant_failover(CantFailover::Expired, now_ms);
            return;
        }
        // 3. Ask for votes.
        if !self.failover.auth_sent {
            self.current_epoch += 1;
            self.failover.auth_epoch = self.current_epoch;
            tracing::warn!(
                "Starting a failover election for epoch {}.",
                self.current_epoch
            );
            let mut header = self.header(host);
            if self.failover.mf_end_ms != 0 {
                header.mflags[0] |= msg_flags0::FORCEACK;
            }
            self.broadcast_message(&Message {
                header,
                body: Body::FailoverAuthRequest,
            });
            self.failover.auth_sent = true;
            self.todo |= todo::SAVE_CONFIG | todo::UPDATE_STATE | todo::FSYNC_CONFIG;
            return;
        }
        // 5. Count them.
        if self.failover.auth_count >= needed {
            tracing::warn!("Failover election won: I'm the new master.");
            let epoch = self.failover.auth_epoch;
            if self.me().config_epoch < epoch {
                self.me_mut().config_epoch = epoch;
                tracing::warn!("configEpoch set to {epoch} after successful failover");
            }
            self.replace_my_primary(host, now_ms);
        } else {
            self.log_cant_failover(CantFailover::WaitingVotes, now_ms);
        }
    }

    /// The winner takes its primary's slots and says so (`clusterFailoverReplaceYourMaster()`).
    pub fn replace_my_primary(&mut self, host: &dyn Host, now_ms: i64) {
        let myself = self.myself;
        let me = self.me();
        let Some(old) = me.primary.filter(|_| me.is_replica()) else {
            return;
        };
        self.set_node_as_primary(&myself);
        self.effects.push(Effect::Replicate(None));
        for slot in 0..SLOTS as u16 {
            if self
                .node(&old)
                .is_some_and(|o| o.slots.contains(Slot(slot)))
            {
                self.del_slot(slot);
                self.add_slot(myself, slot);
            }
        }
        self.update_state(now_ms);
        self.todo |= todo::SAVE_CONFIG | todo::FSYNC_CONFIG;
        self.broadcast_pong(false, host, now_ms);
        self.reset_manual_failover();
        self.forget_election();
    }

    /// Drops the votes of the last election, so the next one (after this node is a replica
    /// again) asks anew. Redis 7.0 keeps them: a replica that won less than 2 × node
    /// timeout ago and is then asked for CLUSTER FAILOVER FORCE "wins" on the old votes
    /// with its old configEpoch, and the primary's UPDATE undoes it.
    fn forget_election(&mut self) {
        self.failover.auth_time_ms = 0;
        self.failover.auth_count = 0;
        self.failover.auth_sent = false;
    }

    /// A primary's vote (`clusterSendFailoverAuthIfNeeded()`).
    pub fn vote_if_needed(
        &mut self,
        requester: &NodeId,
        hdr: &MessageHeader,
        host: &dyn Host,
        now_ms: i64,
    ) {
        let me = self.me();
        if me.is_replica() || me.numslots == 0 {
            return;
        }
        let Some(node) = self.node(requester) else {
            return;
        };
        let force_ack = hdr.mflags[0] & msg_flags0::FORCEACK != 0;
        if hdr.current_epoch < self.current_epoch {
            tracing::warn!(
                "Failover auth denied to {requester}: reqEpoch ({}) < curEpoch({})",
                hdr.current_epoch,
                self.current_epoch
            );
            return;
        }
        if self.last_vote_epoch == self.current_epoch {
            tracing::warn!(
                "Failover auth denied to {requester}: already voted for epoch {}",
                self.current_epoch
            );
            return;
        }
        let primary = node.primary.and_then(|p| self.node(&p));
        let refusal = if node.is_primary() {
            Some("it is a master node")
        } else if primary.is_none() {
            Some("I don't know its master")
        } else if primary.is_some_and(|p| !p.failed()) && !force_ack {
            Some("its master is up")
        } else {
            None
        };
        if let Some(why) = refusal {
            tracing::warn!("Failover auth denied to {requester}: {why}");
            return;
        }
        let Some(primary) = primary else {
            return;
        };
        let since_vote = now_ms - primary.voted_time_ms;
        let window = self.settings.node_timeout_ms * 2;
        if since_vote < window {
            tracing::warn!(
                "Failover auth denied to {requester}: can't vote about this master before {} milliseconds",
                window - since_vote
            );
            return;
        }
        // No slot it claims may have an owner with a newer configuration.
        for slot in 0..SLOTS as u16 {
            if !hdr.slots.contains(Slot(slot)) || self.is_unclaimed(slot) {
                continue;
            }
            let owner_epoch = self.slots()[usize::from(slot)]
                .and_then(|o| self.node(&o))
                .map_or(0, |o| o.config_epoch);
            if owner_epoch > hdr.config_epoch {
                tracing::warn!(
                    "Failover auth denied to {requester}: slot {slot} epoch ({owner_epoch}) > reqEpoch ({})",
                    hdr.config_epoch
                );
                return;
            }
        }
        let primary_name = primary.name;
        self.last_vote_epoch = self.current_epoch;
        if let Some(p) = self.node_mut(&primary_name) {
            p.voted_time_ms = now_ms;
        }
        self.todo |= todo::SAVE_CONFIG | todo::FSYNC_CONFIG;
        if let Some(link) = self.node(requester).and_then(|n| n.link) {
            let msg = Message {
                header: self.header(host),
                body: Body::FailoverAuthAck,
            };
            self.send(link, &msg);
        }
        tracing::warn!(
            "Failover auth granted to {requester} for epoch {}",
            self.current_epoch
        );
    }

    /// A vote arrived: it counts when a slot-serving primary sends it for this election.
    pub fn count_vote(&mut self, voter: &NodeId, sender_epoch: u64, host: &dyn Host, now_ms: i64) {
        let counts = self
            .node(voter)
            .is_some_and(|v| v.is_primary() && v.numslots > 0)
            && sender_epoch >= self.failover.auth_epoch;
        if counts {
            self.failover.auth_count += 1;
            self.handle_replica_failover(host, now_ms);
        }
    }

    /// MFSTART from one of our replicas: pause writes and let it catch up.
    pub fn start_manual_failover_as_primary(
        &mut self,
        replica: &NodeId,
        link: LinkId,
        host: &dyn Host,
        now_ms: i64,
    ) {
        if self.node(replica).and_then(|r| r.primary) != Some(self.myself) {
            return;
        }
        self.reset_manual_failover();
        self.failover.mf_end_ms = now_ms + MF_TIMEOUT_MS;
        self.failover.mf_replica = Some(*replica);
        self.effects.push(Effect::PauseWrites {
            until_ms: now_ms + MF_TIMEOUT_MS * MF_PAUSE_MULT,
        });
        tracing::warn!("Manual failover requested by replica {replica}.");
        // The PING carries our paused offset, so the replica can start at once.
        self.send_ping(link, msg_type::PING, host, now_ms);
    }

    /// CLUSTER FAILOVER on a replica (the checks are the caller's).
    pub fn start_manual_failover(
        &mut self,
        force: bool,
        takeover: bool,
        host: &dyn Host,
        now_ms: i64,
    ) {
        self.reset_manual_failover();
        self.forget_election();
        self.failover.mf_end_ms = now_ms + MF_TIMEOUT_MS;
        if takeover {
            tracing::warn!("Taking over the master (user request).");
            self.bump_epoch_without_consensus();
            self.replace_my_primary(host, now_ms);
        } else if force {
            tracing::warn!("Forced failover user request accepted.");
            self.failover.mf_can_start = true;
        } else {
            tracing::warn!("Manual failover user request accepted.");
            let link = self
                .me()
                .primary
                .and_then(|p| self.node(&p))
                .and_then(|p| p.link);
            if let Some(link) = link {
                let msg = Message {
                    header: self.header(host),
                    body: Body::MfStart,
                };
                self.send(link, &msg);
            }
        }
    }

    /// `resetManualFailover()`.
    pub fn reset_manual_failover(&mut self) {
        if self.failover.mf_replica.is_some() {
            self.effects.push(Effect::Unpause);
        }
        self.failover.mf_end_ms = 0;
        self.failover.mf_can_start = false;
        self.failover.mf_replica = None;
        self.failover.mf_primary_offset = None;
    }

    /// Cron: a manual failover past its time gives up; a replica whose offset reached the
    /// paused primary's may start (`manualFailoverCheckTimeout()`, `clusterHandleManualFailover()`).
    pub fn handle_manual_failover(&mut self, host: &dyn Host, now_ms: i64) {
        let fo = &self.failover;
        if fo.mf_end_ms != 0 && fo.mf_end_ms < now_ms {
            tracing::warn!("Manual failover timed out.");
            self.reset_manual_failover();
            return;
        }
        if !self.me().is_replica() || fo.mf_end_ms == 0 || fo.mf_can_start {
            return;
        }
        if fo.mf_primary_offset == Some(host.repl_offset()) {
            self.failover.mf_can_start = true;
            tracing::warn!("All master replication stream processed, manual failover can start.");
            self.handle_replica_failover(host, now_ms);
        }
    }

    /// A replica of the best-covered primary moves to a primary left without working
    /// replicas (`clusterHandleSlaveMigration()`).
    pub fn handle_replica_migration(&mut self, max_replicas: usize, now_ms: i64) {
        if !self.ok {
            return;
        }
        let Some(my_primary) = self.me().primary else {
            return;
        };
        // Our own shard counts only replicas that are neither FAIL nor PFAIL.
        let mine = self.node(&my_primary).map_or(0, |p| {
            p.replicas
                .iter()
                .filter_map(|r| self.node(r))
                .filter(|r| !r.failed() && !r.timed_out())
                .count()
        });
        if (mine as i64) <= self.settings.migration_barrier {
            return;
        }
        let mut candidate = self.myself;
        let mut target: Option<NodeId> = None;
        let names: Vec<NodeId> = self.nodes.keys().copied().collect();
        for name in names {
            let Some(node) = self.node(&name) else {
                continue;
            };
            let good = if node.is_primary() {
                self.non_failing_replicas(node)
            } else {
                0
            };
            let orphaned =
                node.is_primary() && !node.failed() && node.has(nf::MIGRATE_TO) && good == 0;
            if good == max_replicas {
                for r in &node.replicas {
                    if r.0 < candidate.0 {
                        candidate = *r;
                    }
                }
            }
            let serving = node.numslots > 0;
            let Some(node) = self.node_mut(&name) else {
                continue;
            };
            if orphaned {
                if target.is_none() && serving {
                    target = Some(name);
                }
                if node.orphaned_time_ms == 0 {
                    node.orphaned_time_ms = now_ms;
                }
            } else {
                node.orphaned_time_ms = 0;
            }
        }
        if let Some(target) = target
            && candidate == self.myself
            && self
                .node(&target)
                .is_some_and(|t| now_ms - t.orphaned_time_ms > MIGRATION_DELAY_MS)
        {
            tracing::warn!("Migrating to orphaned master {target}");
            self.set_my_primary(target);
            self.todo |= todo::SAVE_CONFIG | todo::UPDATE_STATE;
        }
    }

    /// Queues `msg` on every link to a node not in handshake.
    pub fn broadcast_message(&mut self, msg: &Message) {
        let targets: Vec<LinkId> = self
            .nodes
            .values()
            .filter(|n| !n.is_myself() && !n.in_handshake())
            .filter_map(|n| n.link)
            .collect();
        for link in targets {
            self.send(link, msg);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::node::{Node, random_name};
    use super::super::state::ClusterSettings;
    use super::super::testing::NoHost;
    use super::*;

    /// Us, replica of the primary of slots 0..5000, beside two other slot-serving
    /// primaries: (state, our primary, the voters).
    fn replica_in_three_shards() -> (ClusterState, NodeId, [NodeId; 2]) {
        let settings = ClusterSettings {
            node_timeout_ms: 2000,
            ..ClusterSettings::default()
        };
        let mut st = ClusterState::new(settings, 0);
        let names = [random_name(), random_name(), random_name()];
        for (i, name) in names.iter().enumerate() {
            st.add_node(Node::new(*name, nf::PRIMARY, 0));
            for slot in (i as u16 * 5000)..((i as u16 + 1) * 5000).min(SLOTS as u16) {
                st.add_slot(*name, slot);
            }
        }
        for slot in 15000..SLOTS as u16 {
            st.add_slot(names[2], slot);
        }
        st.set_my_primary(names[0]);
        st.update_state(0);
        assert_eq!(st.size, 3);
        (st, names[0], [names[1], names[2]])
    }

    /// Runs a CLUSTER FAILOVER FORCE at `now`, with `voters` answering: whether we won.
    fn forced_failover(st: &mut ClusterState, voters: &[NodeId], now: i64) -> bool {
        st.start_manual_failover(true, false, &NoHost, now);
        st.handle_replica_failover(&NoHost, now);
        assert!(st.failover.auth_sent, "the election asked for votes");
        let epoch = st.failover.auth_epoch;
        for v in voters {
            st.count_vote(v, epoch, &NoHost, now + 5);
        }
        st.handle_replica_failover(&NoHost, now + 10);
        st.me().is_primary()
    }

    #[test]
    fn a_majority_of_votes_wins_the_slots() {
        let (mut st, _, voters) = replica_in_three_shards();
        assert!(
            !forced_failover(&mut st, &voters[..1], 10_000),
            "one vote of three"
        );
        let (mut st, _, voters) = replica_in_three_shards();
        assert!(forced_failover(&mut st, &voters, 10_000));
        assert_eq!(st.me().numslots, 5000);
    }

    #[test]
    fn the_next_election_does_not_count_the_last_ones_votes() {
        let (mut st, primary, voters) = replica_in_three_shards();
        assert!(forced_failover(&mut st, &voters, 10_000));
        let won_epoch = st.failover.auth_epoch;
        // The old primary takes the slots back and we follow it again.
        st.set_node_as_primary(&primary);
        for slot in 0..5000 {
            st.del_slot(slot);
            st.add_slot(primary, slot);
        }
        st.set_my_primary(primary);
        // Within 2 × node timeout of the win, with nobody voting this time.
        assert!(!forced_failover(&mut st, &[], 11_000));
        assert!(st.me().is_replica());
        assert_eq!(st.failover.auth_count, 0);
        assert!(
            st.failover.auth_epoch > won_epoch,
            "a new epoch was asked for"
        );
    }
}
